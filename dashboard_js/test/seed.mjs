// A seeded shop: a few visitors' history, imported with `occurredAt` two days ago
// and yesterday (UTC), worked out by hand in the tests.
import { gql, ADMIN_KEY } from './helpers.mjs'

const DAY = 86400e3
/** Midnight (UTC) two days ago: the seeded history is on that day and the next. */
export const BASE = Math.floor(Date.now() / DAY) * DAY - 2 * DAY
export const day = (offset) => new Date(BASE + offset * DAY).toISOString().slice(0, 10)
const at = (dayOffset, hhmm) => {
  const [h, m] = hhmm.split(':').map(Number)
  return new Date(BASE + dayOffset * DAY + (h * 60 + m) * 60e3).toISOString()
}

export const HISTORY = [
  ['va', 0, '22:10', 'VISIT', {}],
  ['va', 0, '22:15', 'PRODUCT_VIEW', { categoryId: 'c1', productId: 'p1' }],
  ['va', 0, '22:50', 'CATEGORY_VIEW', { categoryId: 'c1' }],
  ['va', 0, '23:05', 'PRODUCT_VIEW', { categoryId: 'c1', productId: 'p2' }],
  ['va', 0, '23:10', 'CART_ADD', { categoryId: 'c1', productId: 'p2' }],
  ['vb', 0, '23:40', 'PRODUCT_VIEW', { categoryId: 'c2', productId: 'p3' }],
  ['vb', 0, '23:55', 'LOGIN', { userId: 'ub' }],
  ['vb', 1, '00:10', 'PRODUCT_VIEW', { categoryId: 'c1', productId: 'p1' }],
  ['vb', 1, '00:20', 'CART_ADD', { categoryId: 'c1', productId: 'p1', quantity: 2, price: 5 }],
  ['vb', 1, '00:25', 'CHECKOUT', { orderId: 'o1' }],
  ['va', 1, '01:30', 'PRODUCT_VIEW', { categoryId: 'c1', productId: 'p1' }],
  ['va', 1, '01:31', 'CUSTOM', { eventName: 'promo' }],
  ['vc', 1, '02:00', 'LOGIN', { userId: 'uc' }],
  ['vc', 1, '02:05', 'PRODUCT_VIEW', { categoryId: 'c3', productId: 'p4' }],
  ['vc', 1, '02:06', 'CART_ADD', { categoryId: 'c3', productId: 'p4', price: 12.5 }],
]

/** Where some sessions came from (by HISTORY index): their channels, on the overview. */
export const LANDINGS = {
  0: { url: 'https://shop.example/', referrer: 'https://www.google.com/search?q=boots' },
  12: { url: 'https://shop.example/?utm_source=news&utm_medium=email' },
}

/** Creates shop `shopId` and imports HISTORY into it; returns its key. */
export async function seedShop(server, shopId = 7) {
  const created = await gql(server, 'mutation($id: Int!) { createShop(name: "Seeded shop", shopId: $id) { apiKey } }', { id: shopId }, ADMIN_KEY)
  const key = created.createShop.apiKey
  const events = HISTORY.map(([visitorId, d, hhmm, type, fields], i) => ({
    type,
    context: { shopId, visitorId, eventId: `s${i + 1}`, occurredAt: at(d, hhmm), ...(LANDINGS[i] || {}) },
    ...fields,
  }))
  const done = await gql(server, 'mutation($id: Int!, $e: [TrackInput!]!) { importEvents(shopId: $id, events: $e) { eventId } }', { id: shopId, e: events }, key)
  if (done.importEvents.some((r) => !r)) throw new Error('an import failed')
  return key
}
