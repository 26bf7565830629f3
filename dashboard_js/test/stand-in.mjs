// A stand-in for the contract's sections 7-9 (trigger rules, webhooks, audiences),
// for the dashboard's tests while the server does not have them yet: an in-memory
// store answering the operations by their root field, as the contract describes them.
let next = 0
const id = (prefix) => `${prefix}${++next}`
const now = () => new Date().toISOString()
const page = (nodes) => ({ nodes, pageInfo: { hasNextPage: false, endCursor: null } })
const without = (list, key, value) => {
  const i = list.findIndex((x) => x[key] === value)
  if (i >= 0) list.splice(i, 1)
  return i >= 0
}
const given = (changes) => Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined && v !== null))

export function standIn() {
  const rules = [{ ruleId: id('r'), type: 'ORDER_COMPLETED', title: null, enabled: true, match: [], delaySeconds: null, capSeconds: 0, createdAt: now() }]
  const endpoints = []
  const deliveries = []
  const audiences = []
  const endpoint = (v) => endpoints.find((e) => e.endpointId === v.endpointId)
  const handlers = {
    triggerRules: () => rules,
    createTriggerRule: ({ rule }) => {
      const made = { ruleId: id('r'), title: null, enabled: true, match: [], delaySeconds: null, capSeconds: 0, ...rule, createdAt: now() }
      rules.push(made)
      return made
    },
    updateTriggerRule: ({ ruleId, rule }) => Object.assign(rules.find((r) => r.ruleId === ruleId), given(rule)),
    deleteTriggerRule: ({ ruleId }) => without(rules, 'ruleId', ruleId),
    webhookEndpoints: () => endpoints,
    addWebhookEndpoint: ({ url, types, names }) => {
      const made = { endpointId: id('e'), url, types: types || [], names: names || [], enabled: true, disabledReason: null, createdAt: now() }
      endpoints.push(made)
      deliveries.push({ deliveryId: id('d'), endpointId: made.endpointId, triggerId: '7:s12:CUSTOM_EVENT', status: 'FAILED', attempts: 8, lastAttemptAt: now(), nextAttemptAt: null, lastStatusCode: 500, lastError: null, deliveredAt: null })
      return { endpoint: made, secret: 'whsec_c3RhbmQtaW4tc2VjcmV0' }
    },
    updateWebhookEndpoint: ({ endpointId, shopId, ...changes }) => Object.assign(endpoint({ endpointId }), given(changes)),
    deleteWebhookEndpoint: ({ endpointId }) => without(endpoints, 'endpointId', endpointId),
    rotateWebhookSecret: (v) => ({ endpoint: endpoint(v), secret: 'whsec_cm90YXRlZA==' }),
    redeliverWebhooks: () => 1,
    webhookDeliveries: (v) => page(deliveries.filter((d) => !v.endpointId || d.endpointId === v.endpointId).filter((d) => !v.status || v.status.includes(d.status))),
    audiences: () => audiences,
    createAudience: ({ audience }) => {
      const made = { audienceId: id('a'), categoryId: null, productId: null, ...audience, size: 1, createdAt: now() }
      audiences.push(made)
      return made
    },
    deleteAudience: ({ audienceId }) => without(audiences, 'audienceId', audienceId),
    audienceMembers: () => page([{ userId: 'ub', lastSeenAt: now() }]),
  }
  const rootField = (query) => /\{\s*(\w+)\s*\(/.exec(query)?.[1]
  return {
    answers: (query) => rootField(query) in handlers,
    handle(query, variables = {}) {
      const field = rootField(query)
      return { [field]: handlers[field](variables) }
    },
    /** Makes `page` get these operations from the stand-in, the rest from the server. */
    async serve(pageObject) {
      await pageObject.route('**/graphql', async (route) => {
        const body = route.request().postDataJSON()
        if (!body || !this.answers(body.query)) return route.continue()
        await route.fulfill({ json: { data: this.handle(body.query, body.variables) } })
      })
    },
  }
}
