// Browser tests of the tracker: headless Chromium, a shop page on one origin
// (http://localhost:A), the tracker server on another (http://127.0.0.1:B, a
// recording proxy in front of `python -m app`), events read back through the
// authenticated `events` query.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import {
  startBackend, startProxy, startSite, launchBrowser, snippet, html, gql, eventsOf, waitEvents, waitFor,
  watch, visitorIdOf, sleep,
} from './helpers.mjs'

let backend, proxy, site, browser

before(async () => {
  backend = await startBackend()
  proxy = await startProxy(backend.url)
  site = await startSite()
  browser = await launchBrowser()
})

after(async () => {
  const log = backend?.log() || ''
  if (/Traceback/.test(log)) console.error(`--- server output (it printed a traceback) ---\n${log}`)
  await browser?.close()
  await site?.stop()
  await proxy?.stop()
  await backend?.stop()
})

const TRACKER = () => `${proxy.url}/tracker.js`
const started = Date.now()

/** A fresh browser profile (own cookies and storage) and a page in it. */
async function fresh(t) {
  const context = await browser.newContext()
  t.after(() => context.close())
  const page = await context.newPage()
  return { context, page, seen: watch(page) }
}

/** Events of the batches sent since `from` (an index in proxy.batches()). */
const sentSince = (from) => proxy.batches().slice(from).flatMap((b) => b.events)

/**
 * Waits for `n` stored events of the visitor and returns them in the order the
 * tracker sent them (the server lists newest first, and events of the same
 * millisecond may come in any order).
 */
async function stored(vid, n, what) {
  const list = await waitEvents(backend, vid, n, what)
  const index = new Map()
  proxy.batches().flatMap((b) => b.events).forEach((e, i) => index.has(e.context.eventId) || index.set(e.context.eventId, i))
  return list.slice().sort((a, b) => (index.get(a.eventId) ?? -1) - (index.get(b.eventId) ?? -1))
}

test('every call arrives with its fields, as text/plain POSTs without preflight', async (t) => {
  const { page, seen } = await fresh(t)
  const from = proxy.batches().length
  const url = site.page('/calls.html', html({ head: snippet(TRACKER()) }))
  await page.goto(url + '?q=1')
  await page.waitForFunction(() => window.smc && window.smc.v)
  const vid = await visitorIdOf(page)
  assert.match(vid, /^[A-Za-z0-9_-]{16,64}$/)
  await stored(vid, 1, 'the visit')

  await page.evaluate(() => {
    smc('viewSection', 'action_black_friday')
    smc('viewCategory', 'shoes')
    smc('viewProduct', 'shoes', 'sneaker-1')
    smc('addToCart', 'shoes', 'sneaker-1', { quantity: 2, price: 79.5 })
    smc('addToCart', 'hats', 'cap-20')
    smc('removeFromCart', 'cap-20')
    smc('register', 'u-calls')
    smc('login', 'u-calls')
    smc('event', 'newsletter_signup', { from: 'footer', n: 3 })
    smc('checkout', 'order-1')
    smc('clearCart')
  })
  const list = await stored(vid, 12, 'all calls')
  assert.deepEqual(seen.errors, [])
  assert.deepEqual(seen.warnings, [])

  const types = list.map((e) => e.type)
  assert.deepEqual(types, [
    'VISIT', 'SECTION_VIEW', 'CATEGORY_VIEW', 'PRODUCT_VIEW', 'CART_ADD', 'CART_ADD', 'CART_REMOVE',
    'REGISTRATION', 'LOGIN', 'CUSTOM', 'CHECKOUT', 'CART_CLEAR',
  ])
  const [visit, section, category, product, add, add2, remove, reg, login, custom, checkout, clear] = list
  assert.equal(section.pageName, 'action_black_friday')
  assert.equal(category.categoryId, 'shoes')
  assert.equal(product.categoryId, 'shoes')
  assert.equal(product.productId, 'sneaker-1')
  assert.equal(add.categoryId, 'shoes')
  assert.equal(add.productId, 'sneaker-1')
  assert.equal(add.quantity, 2)
  assert.equal(add.price, 79.5)
  assert.equal(add2.productId, 'cap-20')
  assert.equal(add2.quantity, 1)
  assert.equal(add2.price, null)
  assert.equal(remove.productId, 'cap-20')
  assert.equal(custom.eventName, 'newsletter_signup')
  assert.deepEqual(custom.properties, { from: 'footer', n: 3 })
  assert.equal(checkout.orderId, 'order-1')
  for (const e of list) {
    assert.equal(e.visitorId, vid)
    assert.equal(e.sourceId, 'site')
    assert.equal(e.url, url + '?q=1')
    const at = Date.parse(e.occurredAt)
    assert.ok(at >= started - 5000 && at <= Date.now() + 1000, `occurredAt ${e.occurredAt}`)
  }
  // from login on, and the anonymous events before it too, filed under the customer
  for (const e of [reg, login, custom, checkout, clear]) assert.equal(e.userId, 'u-calls', e.type)
  for (const e of [visit, section, category, product, add, add2, remove]) assert.equal(e.userId, 'u-calls', `anonymous ${e.type}`)

  // what went over the wire
  const batches = proxy.batches().slice(from)
  const sent = batches.flatMap((b) => b.events)
  assert.equal(sent.length, 12)
  assert.deepEqual(list.map((e) => e.eventId), sent.map((e) => e.context.eventId))
  for (const b of batches) {
    assert.match(b.headers['content-type'], /^text\/plain/)
    assert.equal(b.headers.origin, site.origin)
    assert.ok(Math.abs(Date.parse(b.sentAt) - Date.now()) < 60000, 'sentAt is the send time')
    assert.equal(b.status, 200)
  }
  for (const e of sent) {
    assert.match(e.context.eventId, /^[A-Za-z0-9_-]{16,}$/)
    assert.equal(e.context.shopId, 1)
    assert.equal(e.context.sourceId, 'site')
  }
  assert.equal(sent[7].userId, 'u-calls')
  assert.equal(proxy.requests.filter((r) => r.method === 'OPTIONS').length, 0, 'no CORS preflight')
})

test('calls made before tracker.js loaded are sent in order, also one made before init', async (t) => {
  const { page, seen } = await fresh(t)
  const from = proxy.batches().length
  const early = `
    smc('viewCategory', 'before-init');
    smc('init', 1, 'site');
    smc('viewSection', 'one');
    smc('viewProduct', 'c2', 'two');
    smc('event', 'three');
    setTimeout(function () { smc('viewSection', 'four') }, 50);`
  const url = site.page('/queued.html', html({ head: snippet(`${TRACKER()}?delay=1500`, early) }))
  await page.goto(url, { waitUntil: 'commit' })
  await page.waitForFunction(() => window.smc && window.smc.q && window.smc.q.length === 6)
  assert.ok(await page.evaluate(() => !window.smc.v), 'still the snippet queue')
  await page.waitForFunction(() => window.smc && window.smc.v, null, { timeout: 10000 })
  const vid = await visitorIdOf(page)
  const list = await stored(vid, 6)
  const names = list.map((e) => e.pageName || e.productId || e.eventName || e.categoryId || e.type)
  // a call made before init waits for it; the visit comes first
  assert.deepEqual(names, ['VISIT', 'before-init', 'one', 'two', 'three', 'four'])
  const sent = sentSince(from).filter((e) => e.context.visitorId === vid)
  assert.deepEqual(sent.map((e) => e.type), ['VISIT', 'CATEGORY_VIEW', 'SECTION_VIEW', 'PRODUCT_VIEW', 'CUSTOM', 'SECTION_VIEW'])
  assert.deepEqual(seen.errors, [])
})

test('batching: 10 queued events go in one request; fewer wait about a second', async (t) => {
  const { page } = await fresh(t)
  const url = site.page('/batch.html', html({ head: snippet(TRACKER()) }))
  await page.goto(url)
  await page.waitForFunction(() => window.smc && window.smc.v)
  const vid = await visitorIdOf(page)
  await stored(vid, 1, 'the visit')
  let from = proxy.batches().length
  await page.evaluate(() => {
    for (let i = 0; i < 10; i++) smc('viewProduct', 'c', 'p' + i)
  })
  await stored(vid, 11)
  let batches = proxy.batches().slice(from).filter((b) => b.events[0].context.visitorId === vid)
  assert.equal(batches.length, 1, 'one request')
  assert.deepEqual(batches[0].events.map((e) => e.productId), ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9'])

  from = proxy.batches().length
  const t0 = Date.now()
  await page.evaluate(() => {
    smc('viewCategory', 'a')
    smc('viewCategory', 'b')
    smc('viewCategory', 'c')
  })
  await stored(vid, 14)
  const waited = Date.now() - t0
  batches = proxy.batches().slice(from)
  assert.equal(batches.length, 1, 'three events, one request')
  assert.equal(batches[0].events.length, 3)
  assert.ok(waited >= 700, `sent after the batching delay (${waited} ms)`)
})

test('a send that fails while the server is down arrives once it is back', async (t) => {
  const { page } = await fresh(t)
  const url = site.page('/down.html', html({ head: snippet(TRACKER()) }))
  await page.goto(url)
  await page.waitForFunction(() => window.smc && window.smc.v)
  const vid = await visitorIdOf(page)
  await stored(vid, 1, 'the visit')
  t.after(() => (proxy.down = false))

  proxy.down = true
  const refused = proxy.refusedCount()
  await page.evaluate(() => {
    smc('viewProduct', 'c', 'while-down-1')
    smc('addToCart', 'c', 'while-down-1', { quantity: 1, price: 10 })
  })
  await waitFor(() => proxy.refusedCount() > refused, { what: 'a failed send' })
  assert.equal(await page.evaluate(() => JSON.parse(localStorage.getItem('smc_q')).length), 2, 'kept in localStorage')
  assert.equal((await eventsOf(backend, vid)).length, 1)
  proxy.down = false
  const list = await stored(vid, 3, 'the retried events')
  assert.deepEqual(list.map((e) => e.type), ['VISIT', 'PRODUCT_VIEW', 'CART_ADD'])
  await waitFor(() => page.evaluate(() => JSON.parse(localStorage.getItem('smc_q') || '[]').length === 0), {
    what: 'the stored queue to empty',
  })
  await sleep(300)
  assert.equal((await eventsOf(backend, vid)).length, 3, 'no duplicates')
})

test('events that failed survive a reload and are sent by the next page', async (t) => {
  const { page } = await fresh(t)
  const url = site.page('/reload.html', html({ head: snippet(TRACKER()) }))
  await page.goto(url)
  await page.waitForFunction(() => window.smc && window.smc.v)
  const vid = await visitorIdOf(page)
  await stored(vid, 1, 'the visit')
  t.after(() => (proxy.down = false))

  proxy.down = true
  const refused = proxy.refusedCount()
  await page.evaluate(() => {
    smc('viewCategory', 'kept-1')
    smc('viewCategory', 'kept-2')
    smc('checkout', 'kept-order')
  })
  await waitFor(() => proxy.refusedCount() > refused, { what: 'a failed send' })
  await page.goto('about:blank') // leave while the server is down
  const from = proxy.batches().length
  proxy.down = false
  assert.equal((await eventsOf(backend, vid)).length, 1, 'nothing arrived from the first page')
  await page.goto(url) // the next page load sends them
  const list = await stored(vid, 4, 'the kept events')
  assert.deepEqual(list.map((e) => e.categoryId || e.orderId || e.type), ['VISIT', 'kept-1', 'kept-2', 'kept-order'])
  assert.equal(await visitorIdOf(page), vid)
  assert.ok(sentSince(from).some((e) => e.categoryId === 'kept-1'), 'sent by the second page')
})

test('pagehide and visibilitychange hand pending events to sendBeacon', async (t) => {
  const { page } = await fresh(t)
  await page.addInitScript(() => {
    const send = navigator.sendBeacon.bind(navigator)
    navigator.sendBeacon = (u, b) => {
      window.__beacons = (window.__beacons || 0) + 1
      return send(u, b)
    }
  })
  const url = site.page('/beacon.html', html({ head: snippet(TRACKER()) }))
  await page.goto(url)
  await page.waitForFunction(() => window.smc && window.smc.v)
  const vid = await visitorIdOf(page)
  await stored(vid, 1, 'the visit')

  // the tab is hidden: the queue goes at once, by beacon (no-cors, text/plain)
  let from = proxy.batches().length
  await page.evaluate(() => {
    smc('viewProduct', 'c', 'hidden-1')
    Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true })
    document.dispatchEvent(new Event('visibilitychange'))
  })
  assert.equal(await page.evaluate(() => window.__beacons), 1)
  await stored(vid, 2)
  let b = proxy.batches().slice(from)
  assert.equal(b.length, 1)
  assert.equal(b[0].headers['sec-fetch-mode'], 'no-cors', 'a beacon')
  assert.match(b[0].headers['content-type'], /^text\/plain/)
  await page.evaluate(() => delete document.visibilityState)

  // leaving the page right after a call
  from = proxy.batches().length
  await page.evaluate(() => {
    smc('viewProduct', 'c', 'leaving-1')
    smc('event', 'leaving-2')
  })
  await page.goto(site.page('/elsewhere.html', html()))
  const list = await stored(vid, 4, 'the events sent on pagehide')
  assert.deepEqual(list.slice(2).map((e) => e.productId || e.eventName), ['leaving-1', 'leaving-2'])
  b = proxy.batches().slice(from)
  assert.equal(b.length, 1)
  assert.equal(b[0].headers['sec-fetch-mode'], 'no-cors', 'a beacon')
})

test('a newsletter link identifies the visitor and the token leaves the address bar', async (t) => {
  const { page, seen } = await fresh(t)
  const { issueIdentityToken: token } = await gql(backend, 'mutation { issueIdentityToken(shopId: 1, userId: "u1") }')
  assert.ok(token)
  const path = site.page('/landing.html', html({ head: snippet(TRACKER()) }))
  await page.goto(`${path}?utm_source=mail&smc_token=${encodeURIComponent(token)}&x=a%20b#offer`)
  await page.waitForFunction(() => window.smc && window.smc.v)
  assert.equal(page.url(), `${path}?utm_source=mail&x=a%20b#offer`)
  await page.evaluate(() => smc('viewProduct', 'shoes', 'from-mail'))
  const vid = await visitorIdOf(page)
  const list = await stored(vid, 2)
  assert.deepEqual(list.map((e) => [e.type, e.userId]), [['VISIT', 'u1'], ['PRODUCT_VIEW', 'u1']])
  for (const e of list) assert.ok(!e.url.includes('smc_token'), e.url)
  const { visitor } = await gql(backend, 'query($v: String!) { visitor(shopId: 1, visitorId: $v) { userId } }', { v: vid })
  assert.equal(visitor.userId, 'u1')
  const sent = proxy.batches().flatMap((b) => b.events).filter((e) => e.context.visitorId === vid)
  assert.equal(sent[0].context.identityToken, token)
  assert.equal(sent.filter((e) => e.context.identityToken).length, 1, 'the token goes once')
  assert.deepEqual(seen.errors, [])
})

test('a trigger link opens a TRIGGER session, is sent with the visit, then leaves the address bar', async (t) => {
  const { page, seen } = await fresh(t)
  await gql(backend, 'mutation($e: [TrackInput!]!) { track(events: $e) { eventId } }', {
    e: [{ type: 'SECTION_VIEW', pageName: 'sale', context: { shopId: 1, visitorId: 'fired-for' } }],
  })
  const fired = await gql(backend, '{ triggers(shopId: 1, types: [SECTION_VISITED], first: 1) { nodes { triggerId link } } }')
  const [{ triggerId, link }] = fired.triggers.nodes
  assert.equal(link, `smc_tid=${triggerId}`)
  const path = site.page('/sale.html', html({ head: snippet(TRACKER()) }))
  await page.goto(`${path}?utm_source=mail&${link}&x=1#offer`)
  await page.waitForFunction(() => window.smc && window.smc.v)
  assert.equal(page.url(), `${path}?utm_source=mail&x=1#offer`)
  await page.evaluate(() => smc('viewProduct', 'shoes', 'from-trigger'))
  const vid = await visitorIdOf(page)
  const list = await stored(vid, 2)
  assert.deepEqual(list.map((e) => e.type), ['VISIT', 'PRODUCT_VIEW'])
  assert.ok(list[0].url.includes(link), list[0].url)
  assert.ok(!list[1].url.includes('smc_tid'), list[1].url)
  const { sessions } = await gql(backend, 'query($v: String!) { sessions(shopId: 1, visitorId: $v) { nodes { channel triggerId utm { source } } } }', { v: vid })
  assert.deepEqual(sessions.nodes, [{ channel: 'TRIGGER', triggerId, utm: { source: 'mail' } }])
  assert.deepEqual(seen.errors, [])
})

test('works with cookies and localStorage blocked (visitor id kept in memory)', async (t) => {
  const { page, seen } = await fresh(t)
  await page.addInitScript(() => {
    const no = () => {
      throw new DOMException('blocked', 'SecurityError')
    }
    Object.defineProperty(Document.prototype, 'cookie', { get: no, set: no, configurable: true })
    Object.defineProperty(window, 'localStorage', { get: no, configurable: true })
  })
  const from = proxy.batches().length
  const url = site.page('/blocked.html', html({ head: snippet(TRACKER()) }))
  await page.goto(url)
  await page.waitForFunction(() => window.smc && window.smc.v)
  await page.evaluate(() => {
    smc('viewCategory', 'blocked-cat')
    smc('addToCart', 'blocked-cat', 'p1')
  })
  const sent = await waitFor(() => {
    const l = sentSince(from).filter((e) => e.categoryId === 'blocked-cat' || e.type === 'VISIT')
    return l.length >= 3 && l
  }, { what: 'the events' })
  const vids = new Set(sent.map((e) => e.context.visitorId))
  assert.equal(vids.size, 1, 'one visitor id for the page')
  const [vid] = vids
  const list = await stored(vid, 3)
  assert.deepEqual(list.map((e) => e.type), ['VISIT', 'CATEGORY_VIEW', 'CART_ADD'])
  assert.deepEqual(seen.errors, [])
})

test('with cookies blocked the visitor id lives in localStorage across pages', async (t) => {
  const { page, context, seen } = await fresh(t)
  await page.addInitScript(() => {
    Object.defineProperty(Document.prototype, 'cookie', { get: () => '', set: () => {}, configurable: true })
  })
  const url = site.page('/nocookie.html', html({ head: snippet(TRACKER()) }))
  await page.goto(url)
  await page.waitForFunction(() => window.smc && window.smc.v)
  const vid = await page.evaluate(() => localStorage.getItem('smc_vid'))
  assert.match(vid, /^[A-Za-z0-9_-]{16,}$/)
  await stored(vid, 1)
  await page.reload()
  await page.waitForFunction(() => window.smc && window.smc.v)
  await page.evaluate(() => smc('viewSection', 'again'))
  const list = await stored(vid, 2)
  assert.deepEqual(list.map((e) => e.type), ['VISIT', 'SECTION_VIEW'], 'same visitor, same session: no second visit')
  assert.deepEqual(await context.cookies(), [])
  assert.deepEqual(seen.errors, [])
})

test('optOut sends and stores nothing, persists across pages; optIn resumes', async (t) => {
  const { page, context } = await fresh(t)
  const url = site.page('/optout.html', html({ head: snippet(TRACKER()) }))
  await page.goto(url)
  await page.waitForFunction(() => window.smc && window.smc.v)
  const vid = await visitorIdOf(page)
  await stored(vid, 1, 'the visit')

  const from = proxy.requests.length
  await page.evaluate(() => {
    smc('viewCategory', 'pending') // queued, then dropped by the opt-out
    smc('optOut')
    for (let i = 0; i < 12; i++) smc('viewProduct', 'c', 'opted-out-' + i)
    smc('login', 'should-not-arrive')
    document.dispatchEvent(new Event('visibilitychange'))
  })
  const kept = await page.evaluate(() => ({ vid: localStorage.getItem('smc_vid'), q: localStorage.getItem('smc_q') }))
  assert.deepEqual(kept, { vid: null, q: null })
  assert.ok(!(await context.cookies()).some((c) => c.name === 'smc_vid'), 'no visitor cookie')

  // still opted out on the next page load: no visit either
  await page.reload()
  await page.waitForFunction(() => window.smc && window.smc.v)
  await page.evaluate(() => smc('viewCategory', 'opted-out-reload'))
  assert.equal(await visitorIdOf(page), null)

  // opting in again: events flow; anything queued while opted out would have gone first
  await page.evaluate(() => {
    smc('optIn')
    smc('event', 'opted-in')
  })
  const vid2 = await waitFor(() => visitorIdOf(page), { what: 'a new visitor id' })
  await stored(vid2, 2, 'the events after optIn')
  const sent = proxy.requests
    .slice(from)
    .filter((r) => r.method === 'POST' && r.path.startsWith('/graphql'))
    .flatMap((r) => r.json.variables.e)
  assert.deepEqual(sent.map((e) => e.type + ':' + (e.eventName || '')), ['VISIT:', 'CUSTOM:opted-in'])
  assert.deepEqual((await eventsOf(backend, vid)).map((e) => e.type), ['VISIT'])
})

test('bad arguments are ignored with one warning per call name, never an exception', async (t) => {
  const { page, seen } = await fresh(t)
  const url = site.page('/bad.html', html({ head: snippet(TRACKER()) }))
  await page.goto(url)
  await page.waitForFunction(() => window.smc && window.smc.v)
  const vid = await visitorIdOf(page)
  const results = await page.evaluate(() => {
    const cyclic = {}
    cyclic.self = cyclic
    const r = []
    const call = (...a) => r.push(typeof smc(...a))
    call('viewProduct')
    call('viewProduct', 'c')
    call('viewProduct', { id: 1 }, 'p')
    call('addToCart', 'c', 'p', { quantity: '2' })
    call('addToCart', 'c', 'p', { quantity: 0 })
    call('event', 'x', cyclic)
    call('nosuchcall', 1)
    call()
    call('login', '')
    smc('viewProduct', 7, 42) // numbers are fine ids
    return r
  })
  assert.deepEqual(results, Array(9).fill('undefined'))
  const list = await stored(vid, 2)
  assert.deepEqual(list.map((e) => [e.type, e.productId]), [['VISIT', null], ['PRODUCT_VIEW', '42']])
  assert.equal(list[1].categoryId, '7')
  assert.deepEqual(seen.errors, [])
  const warned = seen.warnings.map((w) => w.replace(/^smc: ignored a bad call /, ''))
  assert.deepEqual(warned.sort(), ['addToCart', 'event', 'login', 'nosuchcall', 'undefined', 'viewProduct'])
})

test('the client clock is corrected by the server (sentAt); a refused event is dropped, not retried', async (t) => {
  if (backend.fake) return t.skip('needs the real server')
  const { page } = await fresh(t)
  await page.addInitScript(() => {
    const Real = Date
    const skew = 3 * 3600e3 // this computer's clock is three hours fast
    class Skewed extends Real {
      constructor(...a) {
        a.length ? super(...a) : super(Real.now() + skew)
      }
      static now() {
        return Real.now() + skew
      }
    }
    window.Date = Skewed
  })
  const from = proxy.batches().length
  const url = site.page('/skew.html', html({ head: snippet(TRACKER()) }))
  await page.goto(url)
  await page.waitForFunction(() => window.smc && window.smc.v)
  await page.evaluate(() => {
    smc('viewProduct', 'c', 'x'.repeat(300)) // longer than the server takes: BAD_INPUT
    smc('viewProduct', 'c', 'fine')
  })
  const vid = await visitorIdOf(page)
  const list = await stored(vid, 2)
  assert.deepEqual(list.map((e) => e.productId || e.type), ['VISIT', 'fine'])
  const sent = sentSince(from)
  assert.ok(Date.parse(sent[0].context.occurredAt) > Date.now() + 2 * 3600e3, 'sent with the fast clock')
  for (const e of list) assert.ok(Math.abs(Date.parse(e.occurredAt) - Date.now()) < 60e3, `stored ${e.occurredAt}`)
  await waitFor(() => page.evaluate(() => localStorage.getItem('smc_q') === '[]'), { what: 'the queue to empty' })
  await sleep(2500) // a retry would come after ~2 s
  assert.equal(sentSince(from).filter((e) => e.productId && e.productId.length === 300).length, 1, 'sent once')
})

test("a shop's allowedOrigins: events from another origin are refused, and not retried", async (t) => {
  if (backend.fake) return t.skip('needs the real server')
  const { page } = await fresh(t)
  const shopId = 4000 + Math.floor(Math.random() * 1000)
  await gql(backend, `mutation { createShop(name: "origins", shopId: ${shopId}) { apiKey } }`)
  const settings = (origins) =>
    gql(backend, 'mutation($s: Int!, $o: [String!]) { updateShopSettings(shopId: $s, settings: { allowedOrigins: $o }) { shopId } }', {
      s: shopId,
      o: origins,
    })
  await settings(['https://shop.example'])
  const from = proxy.batches().length
  const url = site.page('/origins.html', html({ head: snippet(TRACKER(), `smc('init', ${shopId});`) }))
  await page.goto(url)
  await page.waitForFunction(() => window.smc && window.smc.v)
  await page.evaluate(() => smc('viewCategory', 'refused'))
  await waitFor(() => page.evaluate(() => localStorage.getItem('smc_q') === '[]'), { what: 'the refused events to be dropped' })
  assert.equal(sentSince(from).length, 2)
  const vid = await visitorIdOf(page)
  const read = (v) =>
    gql(backend, 'query($s: Int!, $v: String) { events(shopId: $s, visitorId: $v) { nodes { type categoryId } } }', { s: shopId, v })
  assert.deepEqual((await read(vid)).events.nodes, [])

  await settings(['https://shop.example', site.origin])
  await page.evaluate(() => smc('viewCategory', 'allowed'))
  const nodes = await waitFor(async () => {
    const n = (await read(vid)).events.nodes
    return n.length && n
  }, { what: 'the allowed event' })
  assert.deepEqual(nodes, [{ type: 'CATEGORY_VIEW', categoryId: 'allowed' }])
})

test('options.endpoint: the tracker served by the shop itself, sending to the server', async (t) => {
  const { page } = await fresh(t)
  const from = proxy.batches().length
  const url = site.page(
    '/selfhosted.html',
    html({ head: snippet('/static/tracker.js', `smc('init', '1', '', { endpoint: ${JSON.stringify(proxy.url + '/graphql')} });`) })
  )
  await page.goto(url)
  await page.waitForFunction(() => window.smc && window.smc.v)
  await page.evaluate(() => smc('viewSection', 'self-hosted'))
  const vid = await visitorIdOf(page)
  const list = await stored(vid, 2)
  assert.equal(list[1].pageName, 'self-hosted')
  assert.equal(list[1].sourceId, 'site', 'the default source')
  assert.ok(sentSince(from).length >= 2)
})

test('the demo shop at /demo sends its events', async (t) => {
  const { page, seen } = await fresh(t)
  await page.goto(`${backend.url}/demo`)
  await page.waitForFunction(() => window.smc && window.smc.v)
  await page.click('a[href="#/category/shoes"]')
  await page.click('a[href="#/product/shoes/boot-2"]')
  await page.click('text=Add to cart')
  const vid = await visitorIdOf(page)
  const list = await stored(vid, 4)
  assert.deepEqual(list.map((e) => e.type), ['VISIT', 'CATEGORY_VIEW', 'PRODUCT_VIEW', 'CART_ADD'])
  assert.equal(list[3].price, 129)
  assert.deepEqual(seen.errors, [])
})
