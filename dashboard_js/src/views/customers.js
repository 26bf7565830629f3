// #/customers: the shop's customers; #/customers/<userId>: one customer's profile,
// cart, orders, interest map (as a chart) and latest events.
import { words } from '../api.js'
import { bars } from '../charts.js'
import { customerHref, field, h, link, notice, num, productCell, show, table, when } from '../dom.js'

const LIST = `query($shopId: Int!, $after: String) { customers(shopId: $shopId, first: 25, after: $after) {
  nodes { userId firstSeenAt lastSeenAt visitorIds } pageInfo { hasNextPage endCursor } } }`
const ITEM = 'productId categoryId quantity price addedAt product { name imageUrl }'
const ONE = `query($shopId: Int!, $userId: String!) {
  customer(shopId: $shopId, userId: $userId) {
    userId firstSeenAt lastSeenAt visitorIds
    cart { status updatedAt items { ${ITEM} } }
    orders { orderId completedAt items { ${ITEM} } }
    interestMap(limit: 10) {
      categories { categoryId score views productViews cartAdds purchases lastInteractionAt }
      products { productId categoryId score views cartAdds purchases lastInteractionAt product { name } } } }
  events(shopId: $shopId, userId: $userId, first: 20) {
    nodes { eventId type occurredAt visitorId categoryId productId pageName orderId eventName quantity price } } }`

export async function customers(ctx) {
  if (ctx.rest.length) return profile(ctx, ctx.rest.join('/'))
  return list(ctx)
}

async function list({ api, main }) {
  const userId = h('input', { name: 'userId', required: true, autocomplete: 'off' })
  const open = h(
    'form.inline',
    { onsubmit: (e) => (e.preventDefault(), (location.hash = customerHref(userId.value.trim()))), 'aria-label': 'Open a customer' },
    field('Customer id', userId),
    h('button', { type: 'submit' }, 'Open')
  )
  const rows = []
  const body = h('div')
  const more = h('button.quiet', { type: 'button', hidden: true }, 'Show more')
  const status = h('div', { 'aria-live': 'polite' })
  let cursor = null
  const load = async () => {
    more.disabled = true
    try {
      const data = await api.request(LIST, { after: cursor })
      rows.push(...data.customers.nodes)
      cursor = data.customers.pageInfo.endCursor
      more.hidden = !data.customers.pageInfo.hasNextPage
      show(body, table(columns, rows, { empty: 'No customers yet: visitors become customers when they log in or register.', rowData: (c) => ({ userId: c.userId }) }))
      status.replaceChildren()
    } catch (error) {
      show(status, notice('error', words(error)))
    } finally {
      more.disabled = false
    }
  }
  more.addEventListener('click', load)
  show(main, h('div.title-row', h('h1', 'Customers'), open), status, h('section.card', body, more))
  await load()
}

const columns = [
  { label: 'Customer', cell: (c) => link(customerHref(c.userId), c.userId) },
  { label: 'First seen', cell: (c) => when(c.firstSeenAt) },
  { label: 'Last seen', cell: (c) => when(c.lastSeenAt) },
  { label: 'Devices', num: true, cell: (c) => num(c.visitorIds.length) },
]

async function profile({ api, main, shopId }, userId) {
  show(main, h('p', h('a', { href: '#/customers' }, '← All customers')), h('h1', userId))
  let data
  try {
    data = await api.request(ONE, { userId })
  } catch (error) {
    main.append(notice('error', words(error)))
    return
  }
  const c = data.customer
  if (!c) {
    main.append(notice('note', `Shop ${shopId} has no customer “${userId}”.`))
    return
  }
  main.append(
    h(
      'section.card.profile',
      h('h2', 'Profile'),
      h(
        'dl.facts',
        fact('Customer id', c.userId, 'userId'),
        fact('First seen', when(c.firstSeenAt, { seconds: true }), 'firstSeenAt'),
        fact('Last seen', when(c.lastSeenAt, { seconds: true }), 'lastSeenAt'),
        fact('Devices (visitor ids)', c.visitorIds.join(', ') || '—', 'visitorIds')
      )
    ),
    h('div.grid', cartCard(c.cart), interestCard('Interest in categories', c.interestMap.categories, 'categoryId'), interestCard('Interest in products', c.interestMap.products, 'productId')),
    ordersCard(c.orders),
    eventsCard(data.events.nodes)
  )
}

const fact = (label, value, key) => h('div', { dataset: { fact: key } }, h('dt', label), h('dd', value))

const itemColumns = [
  { label: 'Product', cell: (i) => productCell(i.productId, i.product) },
  { label: 'Category', cell: (i) => i.categoryId ?? '—' },
  { label: 'Quantity', num: true, cell: (i) => num(i.quantity) },
  { label: 'Price', num: true, cell: (i) => num(i.price) },
]

function cartCard(cart) {
  return h(
    'section.card.cart',
    { dataset: { status: cart?.status ?? 'EMPTY' } },
    h('h2', 'Cart'),
    h('p', 'Status: ', h('strong', cart?.status ?? 'EMPTY'), cart?.updatedAt ? [' · changed ', when(cart.updatedAt)] : null),
    table(itemColumns, cart?.items ?? [], { empty: 'The cart is empty.', rowData: (i) => ({ productId: i.productId }) })
  )
}

function interestCard(title, rows, key) {
  return h(
    'section.card.interest',
    { dataset: { interest: key } },
    h('h2', title),
    rows.length
      ? bars(
          rows.map((r) => ({ label: r.product?.name ? `${r.product.name} (${r[key]})` : r[key], value: r.score, note: `${num(r.views)} views · ${num(r.cartAdds)} cart adds · ${num(r.purchases)} bought`, data: { id: r[key], score: String(r.score) } })),
          { label: title, format: (v) => num(Math.round(v * 100) / 100) }
        )
      : h('p.empty', 'No interest recorded yet.')
  )
}

function ordersCard(orders) {
  return h(
    'section.card.orders',
    h('h2', 'Orders'),
    orders.length
      ? orders.map((o) => h('article.order', { dataset: { orderId: o.orderId } }, h('h3', `Order ${o.orderId} · `, when(o.completedAt)), table(itemColumns, o.items, { empty: 'No items.' })))
      : h('p.empty', 'No orders yet.')
  )
}

function eventsCard(events) {
  const detail = (e) => [e.productId && `product ${e.productId}`, e.categoryId && `category ${e.categoryId}`, e.pageName, e.eventName, e.orderId && `order ${e.orderId}`].filter(Boolean).join(' · ') || '—'
  return h(
    'section.card.events',
    h('h2', 'Latest events'),
    table(
      [
        { label: 'When', cell: (e) => when(e.occurredAt, { seconds: true }) },
        { label: 'Event', cell: (e) => e.type },
        { label: 'Detail', cell: detail },
        { label: 'Device', cell: (e) => e.visitorId },
      ],
      events,
      { empty: 'No events.', rowData: (e) => ({ eventId: e.eventId }) }
    )
  )
}
