// Time to first render of the dashboard's overview, in Debian's headless Chromium:
// from navigation start to the moment the overview has drawn its figures (the
// 'overview-rendered' mark). Used by bench/dashboard.py.
//   node bench/first-render.mjs '{"base": URL, "hash": "#/overview?range=7d", "runs": 3,
//                                 "shops": [{"label": "big", "shopId": 2, "key": "..."}]}'
// prints {"big": [ms, ...], ...}; the shops take turns, after one warm-up load each.
import { chromium } from 'playwright-core'

const spec = JSON.parse(process.argv[2])
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
})

async function load(shop) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  await context.addInitScript((saved) => sessionStorage.setItem('smc-dashboard', saved), JSON.stringify({ key: shop.key, shopId: shop.shopId }))
  const page = await context.newPage()
  await page.goto(`${spec.base}/dashboard${spec.hash}`)
  await page.waitForSelector('body[data-rendered="overview"]', { timeout: 120000 })
  const ms = await page.evaluate(() => performance.getEntriesByName('overview-rendered')[0].startTime)
  await context.close()
  return ms
}

const times = Object.fromEntries(spec.shops.map((s) => [s.label, []]))
try {
  for (const shop of spec.shops) await load(shop) // warm-up: the browser's first start, caches
  for (let run = 0; run < spec.runs; run++) {
    for (const shop of spec.shops) times[shop.label].push(await load(shop))
  }
} finally {
  await browser.close()
}
console.log(JSON.stringify(times))
