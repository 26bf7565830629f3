"""The schema's root types, assembled from the resolvers (each declared once, there)."""

from __future__ import annotations

import strawberry

from resolvers import (
    admin,
    analytics,
    attribution,
    reading,
    rules,
    subscriptions,
    tracking,
    webhooks,
)
from resolvers import audiences as audience_resolvers  # `audiences` is a Query field


@strawberry.type
class Query:
    shop = strawberry.field(resolver=reading.shop)
    customer = strawberry.field(resolver=reading.customer)
    customers = strawberry.field(resolver=reading.customers)
    visitor = strawberry.field(resolver=reading.visitor)
    sessions = strawberry.field(resolver=reading.sessions)
    events = strawberry.field(resolver=reading.events)
    interest_map = strawberry.field(resolver=reading.interest_map)
    cart = strawberry.field(resolver=reading.cart)
    triggers = strawberry.field(resolver=reading.triggers)
    trigger_rules = strawberry.field(resolver=rules.trigger_rules)
    stats = strawberry.field(resolver=analytics.stats)
    top_products = strawberry.field(resolver=analytics.top_products)
    top_categories = strawberry.field(resolver=analytics.top_categories)
    funnel = strawberry.field(resolver=analytics.funnel)
    audiences = strawberry.field(resolver=audience_resolvers.audiences_)
    audience_members = strawberry.field(resolver=audience_resolvers.audience_members)
    webhook_endpoints = strawberry.field(resolver=webhooks.webhook_endpoints)
    webhook_deliveries = strawberry.field(resolver=webhooks.webhook_deliveries)
    trigger_performance = strawberry.field(resolver=attribution.trigger_performance)
    channels = strawberry.field(resolver=attribution.channels)


@strawberry.type
class Mutation:
    start_visit = strawberry.mutation(resolver=tracking.start_visit)
    view_product = strawberry.mutation(resolver=tracking.view_product)
    view_category = strawberry.mutation(resolver=tracking.view_category)
    view_section = strawberry.mutation(resolver=tracking.view_section)
    login = strawberry.mutation(resolver=tracking.login)
    register = strawberry.mutation(resolver=tracking.register)
    add_to_cart = strawberry.mutation(resolver=tracking.add_to_cart)
    remove_from_cart = strawberry.mutation(resolver=tracking.remove_from_cart)
    clear_cart = strawberry.mutation(resolver=tracking.clear_cart)
    complete_checkout = strawberry.mutation(resolver=tracking.complete_checkout)
    track_event = strawberry.mutation(resolver=tracking.track_event)
    track = strawberry.mutation(resolver=tracking.track,
                                description="A batch of at most 100 events, applied in order.")
    create_shop = strawberry.mutation(resolver=admin.create_shop)
    update_shop_settings = strawberry.mutation(resolver=admin.update_shop_settings)
    add_event_source = strawberry.mutation(resolver=admin.add_event_source)
    issue_identity_token = strawberry.mutation(resolver=admin.issue_identity_token)
    import_events = strawberry.mutation(resolver=tracking.import_events)
    forget_customer = strawberry.mutation(resolver=admin.forget_customer)
    create_trigger_rule = strawberry.mutation(resolver=rules.create_trigger_rule)
    update_trigger_rule = strawberry.mutation(resolver=rules.update_trigger_rule)
    delete_trigger_rule = strawberry.mutation(resolver=rules.delete_trigger_rule)
    create_audience = strawberry.mutation(resolver=audience_resolvers.create_audience)
    delete_audience = strawberry.mutation(resolver=audience_resolvers.delete_audience)
    add_webhook_endpoint = strawberry.mutation(resolver=webhooks.add_webhook_endpoint)
    update_webhook_endpoint = strawberry.mutation(resolver=webhooks.update_webhook_endpoint)
    delete_webhook_endpoint = strawberry.mutation(resolver=webhooks.delete_webhook_endpoint)
    rotate_webhook_secret = strawberry.mutation(resolver=webhooks.rotate_webhook_secret)
    redeliver_webhooks = strawberry.mutation(resolver=webhooks.redeliver_webhooks)
    upsert_orders = strawberry.mutation(resolver=attribution.upsert_orders)


@strawberry.type
class Subscription:
    triggers = strawberry.subscription(resolver=subscriptions.triggers)
