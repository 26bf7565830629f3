// #/live: triggers as they fire (subscription, resumed with `after` after a
// reconnect) and the latest events (polled: there is no events subscription).
import { ApiError, words } from '../api.js'
import { customerHref, h, link, notice, show, when } from '../dom.js'
import { connect, follow } from '../socket.js'

const TRIGGER = 'triggerId type userId visitorId name firedAt'
const RECENT = `query($shopId: Int!) { triggers(shopId: $shopId, first: 20) { nodes { ${TRIGGER} } } }`
const FOLLOW = `subscription($shopId: Int!, $after: ID) { triggers(shopId: $shopId, after: $after) { ${TRIGGER} } }`
const EVENTS = `query($shopId: Int!) { events(shopId: $shopId, first: 25) {
  nodes { eventId type visitorId userId occurredAt categoryId productId pageName orderId eventName } } }`
const POLL_MS = 1500
const KEEP = 100

export async function live({ api, main, onCleanup }) {
  const state = h('span.badge', { role: 'status' }, 'connecting…')
  const triggerError = h('div')
  const eventError = h('div')
  const triggerList = h('ol.feed', { 'aria-label': 'Triggers, newest first' })
  const eventList = h('ol.feed', { 'aria-label': 'Events, newest first' })
  show(
    main,
    h('div.title-row', h('h1', 'Live'), state),
    h(
      'div.grid.two',
      h('section.card', h('h2', 'Triggers'), triggerError, triggerList),
      h('section.card', h('h2', 'Events'), h('p.muted', `Refreshed every ${POLL_MS / 1000} s.`), eventError, eventList)
    )
  )

  const seenTriggers = new Set()
  const addTrigger = (t, fresh) => {
    if (seenTriggers.has(t.triggerId)) return
    seenTriggers.add(t.triggerId)
    const row = triggerRow(t, fresh)
    if (fresh) triggerList.prepend(row)
    else triggerList.append(row)
    while (triggerList.children.length > KEEP) triggerList.lastChild.remove()
  }
  const recent = await api.request(RECENT)
  recent.triggers.nodes.forEach((t) => addTrigger(t, false))

  const client = connect({ key: api.key, onStatus: (s) => (state.textContent = s === 'live' ? 'live' : `${s}…`) })
  const stop = follow(client, {
    query: FOLLOW,
    variables: { shopId: api.shopId, after: recent.triggers.nodes[0]?.triggerId ?? null },
    cursor: 'after',
    next: (data) => {
      addTrigger(data.triggers, true)
      return data.triggers.triggerId
    },
    error: (e) => show(triggerError, notice('error', describe(e))),
  })
  onCleanup(() => {
    stop()
    client.dispose()
  })

  const seenEvents = new Set()
  let timer = null
  const poll = async () => {
    timer = null
    if (!document.hidden) {
      try {
        const data = await api.request(EVENTS)
        const fresh = data.events.nodes.filter((e) => !seenEvents.has(e.eventId))
        const first = seenEvents.size === 0
        fresh.forEach((e) => seenEvents.add(e.eventId))
        // Newest first: the new ones go on top, in their order.
        eventList.prepend(...fresh.map((e) => eventRow(e, !first)))
        while (eventList.children.length > KEEP) eventList.lastChild.remove()
        eventError.replaceChildren()
      } catch (error) {
        show(eventError, notice('error', words(error)))
      }
    }
    if (!stopped) timer = setTimeout(poll, POLL_MS)
  }
  let stopped = false
  onCleanup(() => {
    stopped = true
    clearTimeout(timer)
  })
  await poll()
}

function describe(error) {
  if (error?.message && error?.extensions) return words(new ApiError(error.message, error.extensions.code, error.extensions.field))
  if (Array.isArray(error) && error[0]?.message) return describe(error[0])
  if (error && 'code' in error && 'reason' in error) return `The live connection closed (${error.code}${error.reason ? `: ${error.reason}` : ''}); reconnecting.`
  return words(error)
}

function who(item) {
  return item.userId ? link(customerHref(item.userId), item.userId) : h('span.muted', `visitor ${item.visitorId}`)
}

function triggerRow(t, fresh) {
  return h(
    'li',
    { class: fresh ? 'fresh' : null, dataset: { triggerId: t.triggerId, type: t.type } },
    h('span.kind', t.type),
    t.name ? h('span.name', t.name) : null,
    h('span.who', who(t)),
    h('span.at', when(t.firedAt, { seconds: true }))
  )
}

function eventRow(e, fresh) {
  const detail = [e.productId && `product ${e.productId}`, e.categoryId && `category ${e.categoryId}`, e.pageName, e.eventName, e.orderId && `order ${e.orderId}`].filter(Boolean).join(' · ')
  return h(
    'li',
    { class: fresh ? 'fresh' : null, dataset: { eventId: e.eventId, type: e.type } },
    h('span.kind', e.type),
    detail ? h('span.name', detail) : null,
    h('span.who', who(e)),
    h('span.at', when(e.occurredAt, { seconds: true }))
  )
}
