"""The catalog: a shop's products, from the API or a feed, in triggers, and the triggers
a catalog makes possible (CONTRACT.md section 11).

- products.py   checks on a product, what an upsert changes, the change records
- store.py      `Catalog`: read, upsert (2 round trips for 1,000), delete, page
- feeds.py      YML and Google Merchant (RSS / Atom) feeds, parsed as a hostile stream
- imports.py    fetching a feed under the webhooks' address rule, applying it in batches
- stock.py      notifyInStock requests
- recipients.py who a price drop or restock concerns, and their triggers
- fanout.py     the worker that walks them, as a job with a lease
- walks.py      the walks' cursors, kept by a process between its runs
- polling.py    fetching each shop's catalogFeedUrl every catalogFeedPollSeconds

Invariants: a change that fires triggers is recorded in the same single-document
write as the product it changes; each trigger's id is `<change>:<rule>:<customer>`,
so a retried or doubled walk stores nothing twice; a feed that is not a safe feed
changes nothing.
"""

from app.catalog.fanout import tick
from app.catalog.feeds import FeedError
from app.catalog.imports import MAX_BYTES, import_feed
from app.catalog.polling import poll
from app.catalog.products import MAX_PRODUCTS, product_key, public
from app.catalog.recipients import BACK_IN_STOCK, PRICE_DROPPED, interested_customers
from app.catalog.stock import ask
from app.catalog.store import Catalog, Result

__all__ = ["BACK_IN_STOCK", "MAX_BYTES", "MAX_PRODUCTS", "PRICE_DROPPED", "Catalog",
           "FeedError", "Result", "ask", "import_feed", "interested_customers", "poll",
           "product_key", "public", "tick"]
