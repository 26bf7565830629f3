// The recommendations widget (app/static/widget.js, served at /widget.js, apart from the
// tracker) in headless Chromium: a shop page on another origin renders the list that
// GET /recommendations answers, declaratively and from a script with the tracker's
// visitor id.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startBackend, startSite, launchBrowser, html, waitFor, watch } from './helpers.mjs'

let backend, site, browser

before(async () => {
  backend = await startBackend()
  site = await startSite()
  browser = await launchBrowser()
})

after(async () => {
  await browser?.close()
  await site?.stop()
  await backend?.stop()
})

let seq = 0
async function views(visitorId, ...products) {
  const events = products.map((productId) => ({
    type: 'PRODUCT_VIEW', productId, categoryId: 'c',
    context: { shopId: 1, visitorId, eventId: `w${++seq}` },
  }))
  const r = await fetch(`${backend.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: 'mutation($e: [TrackInput!]!) { track(events: $e) { eventId } }', variables: { e: events } }),
  })
  assert.equal(r.status, 200)
}

const answer = async (query) => (await fetch(`${backend.url}/recommendations?${query}`)).json()

test('the widget renders what GET /recommendations answers, into the element it is given', async (t) => {
  if (backend.fake) return t.skip('fake server')
  await views('s1', 'wa', 'wb', 'wc')
  await views('s2', 'wa', 'wb')
  await views('s3', 'wa', 'wd')
  await views('me', 'wd')
  // The fold worker runs every second: wait until the pairs are there.
  const expected = await waitFor(async () => {
    const list = await answer('shopId=1&strategy=ALSO_VIEWED&productId=wa&limit=3')
    return list.length === 3 && list[0].productId === 'wb' && list
  }, { what: 'the pairs of wa to be folded' })
  const context = await browser.newContext()
  t.after(() => context.close())
  const page = await context.newPage()
  const seen = watch(page)
  const url = site.page('/product.html', html({
    body: `<h1>wa</h1>
      <div id="also" data-smc-recommendations data-shop-id="1" data-strategy="ALSO_VIEWED"
           data-product-id="wa" data-limit="3"></div>
      <div id="mine"></div>
      <script src="${backend.url}/widget.js" async></script>`,
  }))
  await page.goto(url)
  await page.waitForSelector('#also[data-smc-rendered]')
  const shown = await page.$$eval('#also li.smc-rec', (lis) => lis.map((li) => li.getAttribute('data-product-id')))
  assert.deepEqual(shown, expected.map((r) => r.productId))
  const names = await page.$$eval('#also .smc-rec-name', (spans) => spans.map((s) => s.textContent))
  assert.deepEqual(names, shown) // no catalog data: the product id stands for the name

  // From a script, FOR_YOU with the tracker's visitor id (its cookie on the shop's page).
  await context.addCookies([{ name: 'smc_vid', value: 'me', url: site.origin }])
  const rendered = await page.evaluate(() => window.smcWidget(document.getElementById('mine'), { shopId: 1, strategy: 'FOR_YOU', limit: 2 }))
  const mine = await answer('shopId=1&strategy=FOR_YOU&visitorId=me&limit=2')
  assert.deepEqual(rendered.map((r) => r.productId), mine.map((r) => r.productId))
  assert.equal(mine[0].productId, 'wd') // its own view first, then what was viewed with it
  assert.equal(await page.$eval('#mine', (el) => el.getAttribute('data-smc-rendered')), '2')
  assert.deepEqual(seen.errors, [])
})

test('/widget.js is served apart from the tracker, cacheable, from any origin', async (t) => {
  if (backend.fake) return t.skip('fake server')
  const r = await fetch(`${backend.url}/widget.js`)
  assert.equal(r.status, 200)
  assert.match(r.headers.get('content-type'), /^application\/javascript/)
  assert.equal(r.headers.get('access-control-allow-origin'), '*')
  assert.match(await r.text(), /smcWidget/)
  const tracker = await (await fetch(`${backend.url}/tracker.js`)).text()
  assert.doesNotMatch(tracker, /smcWidget/)
})
