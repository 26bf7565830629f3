// #/webhooks: endpoints (contract section 8) with add, edit, enable/disable, rotate
// secret, delete, redeliver; and their delivery log, filtered by endpoint and status.
import { words } from '../api.js'
import { TRIGGER_TYPES, checkboxes, confirmButton, field, h, list, notice, num, show, table, when } from '../dom.js'

const ENDPOINT = 'endpointId url types names enabled disabledReason createdAt'
const ENDPOINTS = `query($shopId: Int!) { webhookEndpoints(shopId: $shopId) { ${ENDPOINT} } }`
const ADD = `mutation($shopId: Int!, $url: String!, $types: [TriggerType!], $names: [String!]) {
  addWebhookEndpoint(shopId: $shopId, url: $url, types: $types, names: $names) { secret endpoint { ${ENDPOINT} } } }`
const UPDATE = `mutation($shopId: Int!, $endpointId: ID!, $url: String, $types: [TriggerType!], $names: [String!], $enabled: Boolean) {
  updateWebhookEndpoint(shopId: $shopId, endpointId: $endpointId, url: $url, types: $types, names: $names, enabled: $enabled) { ${ENDPOINT} } }`
const DELETE = 'mutation($shopId: Int!, $endpointId: ID!) { deleteWebhookEndpoint(shopId: $shopId, endpointId: $endpointId) }'
const ROTATE = 'mutation($shopId: Int!, $endpointId: ID!) { rotateWebhookSecret(shopId: $shopId, endpointId: $endpointId) { secret } }'
const REDELIVER = 'mutation($shopId: Int!, $endpointId: ID!, $after: ID) { redeliverWebhooks(shopId: $shopId, endpointId: $endpointId, after: $after) }'
const DELIVERIES = `query($shopId: Int!, $endpointId: ID, $status: [DeliveryStatus!], $after: String) {
  webhookDeliveries(shopId: $shopId, endpointId: $endpointId, status: $status, first: 50, after: $after) {
    nodes { deliveryId endpointId triggerId status attempts lastAttemptAt nextAttemptAt lastStatusCode lastError deliveredAt }
    pageInfo { hasNextPage endCursor } } }`
const STATUSES = ['PENDING', 'DELIVERED', 'FAILED']

export async function webhooks({ api, main, params }) {
  const status = h('div', { 'aria-live': 'polite' })
  const endpointsBox = h('div')
  const formBox = h('section.card')
  const logBox = h('section.card')
  show(main, h('h1', 'Webhooks'), h('p.muted', 'Triggers are POSTed to each enabled endpoint, signed the Standard Webhooks way.'), status, h('section.card', h('h2', 'Endpoints'), endpointsBox), formBox, logBox)

  const say = (kind, ...text) => show(status, notice(kind, text.join('')))
  const act = async (call, done) => {
    try {
      const out = await call()
      if (done) show(status, typeof done === 'function' ? done(out) : notice('ok', done))
      await reload()
      return true
    } catch (error) {
      say('error', words(error))
      return false
    }
  }
  const secretShown = (secret) => h('div.notice.ok.secret', { role: 'status' }, h('p', 'The signing secret, shown this once: keep it now.'), h('code', secret))

  let endpoints = []
  const reload = async () => {
    endpoints = (await api.request(ENDPOINTS)).webhookEndpoints
    show(
      endpointsBox,
      table(
        [
          { label: 'URL', cell: (e) => h('code', e.url) },
          { label: 'Types', cell: (e) => (e.types.length ? e.types.join(', ') : 'all') },
          { label: 'Names', cell: (e) => (e.names.length ? e.names.join(', ') : 'all') },
          { label: 'State', cell: (e) => (e.enabled ? 'enabled' : ['disabled', e.disabledReason ? `: ${e.disabledReason}` : ''].join('')) },
          { label: 'Created', cell: (e) => when(e.createdAt) },
          {
            label: 'Actions',
            cell: (e) => [
              h('button.quiet', { type: 'button', onclick: () => act(() => api.request(UPDATE, { endpointId: e.endpointId, enabled: !e.enabled }), e.enabled ? 'Endpoint disabled.' : 'Endpoint enabled.') }, e.enabled ? 'Disable' : 'Enable'),
              h('button.quiet', { type: 'button', onclick: () => edit(e) }, 'Edit'),
              h('a.button.quiet', { href: `#/webhooks?endpoint=${encodeURIComponent(e.endpointId)}` }, 'Deliveries'),
              h('button.quiet', { type: 'button', onclick: () => act(() => api.request(ROTATE, { endpointId: e.endpointId }), (out) => secretShown(out.rotateWebhookSecret.secret)) }, 'Rotate secret'),
              confirmButton('Delete', 'Delete this endpoint?', () => act(() => api.request(DELETE, { endpointId: e.endpointId }), 'Endpoint deleted.')),
            ],
          },
        ],
        endpoints,
        { empty: 'No endpoints yet.', rowData: (e) => ({ endpointId: e.endpointId }) }
      )
    )
  }
  const edit = (endpoint) => {
    show(
      formBox,
      endpointForm(endpoint, (input) =>
        endpoint
          ? act(() => api.request(UPDATE, { endpointId: endpoint.endpointId, ...input }), 'Endpoint saved.').then((ok) => ok && edit(null))
          : act(() => api.request(ADD, input), (out) => secretShown(out.addWebhookEndpoint.secret)).then((ok) => ok && edit(null)),
        () => edit(null)
      )
    )
  }
  await reload()
  edit(null)
  await deliveryLog({ api, box: logBox, params, endpoints, act })
}

function endpointForm(endpoint, onSave, onCancel) {
  const url = h('input', { name: 'url', type: 'url', required: true, value: endpoint?.url ?? '', placeholder: 'https://example.com/hooks' })
  const [types, checkedTypes] = checkboxes('types', 'Trigger types', TRIGGER_TYPES, endpoint?.types ?? [])
  const names = h('input', { name: 'names', value: (endpoint?.names ?? []).join(', ') })
  const submit = (e) => {
    e.preventDefault()
    onSave({ url: url.value.trim(), types: checkedTypes(), names: list(names.value) })
  }
  return h(
    'form.editor',
    { onsubmit: submit },
    h('h2', endpoint ? 'Edit endpoint' : 'New endpoint'),
    field('URL (http or https)', url),
    types,
    h('small.hint', 'No type checked = every type.'),
    field('Names (comma-separated; empty = all)', names),
    h('div.actions', h('button', { type: 'submit' }, endpoint ? 'Save endpoint' : 'Add endpoint'), endpoint && h('button.quiet', { type: 'button', onclick: onCancel }, 'Cancel'))
  )
}

async function deliveryLog({ api, box, params, endpoints, act }) {
  const endpointId = params.get('endpoint') || ''
  const wanted = params.get('status') || ''
  const pick = h('select', { name: 'endpoint' }, h('option', { value: '' }, 'All endpoints'), endpoints.map((e) => h('option', { value: e.endpointId, selected: e.endpointId === endpointId }, e.url)))
  const state = h('select', { name: 'status' }, h('option', { value: '' }, 'Any status'), STATUSES.map((s) => h('option', { value: s, selected: s === wanted }, s)))
  const filter = h(
    'form.inline',
    { onsubmit: (e) => (e.preventDefault(), (location.hash = `#/webhooks?endpoint=${encodeURIComponent(pick.value)}&status=${state.value}`)), 'aria-label': 'Filter deliveries' },
    field('Endpoint', pick),
    field('Status', state),
    h('button', { type: 'submit' }, 'Filter')
  )
  const from = h('input', { name: 'after', placeholder: 'trigger id (empty = all)' })
  const redeliver = endpointId
    ? h(
        'form.inline',
        {
          onsubmit: (e) => {
            e.preventDefault()
            act(() => api.request(REDELIVER, { endpointId, after: from.value.trim() || null }), (out) => notice('ok', `${out.redeliverWebhooks} deliveries queued again.`))
          },
          'aria-label': 'Redeliver',
        },
        field('Redeliver every trigger after', from),
        h('button', { type: 'submit' }, 'Redeliver')
      )
    : null
  const rows = []
  const body = h('div')
  const more = h('button.quiet', { type: 'button', hidden: true }, 'Show more')
  let cursor = null
  const urlOf = (id) => endpoints.find((e) => e.endpointId === id)?.url ?? id
  const load = async () => {
    try {
      const data = await api.request(DELIVERIES, { endpointId: endpointId || null, status: wanted ? [wanted] : null, after: cursor })
      rows.push(...data.webhookDeliveries.nodes)
      cursor = data.webhookDeliveries.pageInfo.endCursor
      more.hidden = !data.webhookDeliveries.pageInfo.hasNextPage
      show(
        body,
        table(
          [
            { label: 'Trigger', cell: (d) => h('code', d.triggerId) },
            { label: 'Endpoint', cell: (d) => urlOf(d.endpointId) },
            { label: 'Status', cell: (d) => d.status },
            { label: 'Attempts', num: true, cell: (d) => num(d.attempts) },
            { label: 'Last attempt', cell: (d) => when(d.lastAttemptAt, { seconds: true }) },
            { label: 'Answer', cell: (d) => (d.lastStatusCode ? `HTTP ${d.lastStatusCode}` : d.lastError ?? '—') },
            { label: 'Next attempt', cell: (d) => when(d.nextAttemptAt, { seconds: true }) },
            { label: 'Delivered', cell: (d) => when(d.deliveredAt, { seconds: true }) },
          ],
          rows,
          { empty: 'No deliveries.', rowData: (d) => ({ deliveryId: d.deliveryId, status: d.status }) }
        )
      )
    } catch (error) {
      show(body, notice('error', words(error)))
    }
  }
  more.addEventListener('click', load)
  show(box, h('h2', 'Delivery log'), filter, redeliver, body, more)
  await load()
}
