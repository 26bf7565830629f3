// The server's dashboard routes: the committed files, strong ETags, 304s, and the page's CSP.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { startServer, REPO } from './helpers.mjs'

let server
before(async () => (server = await startServer()))
after(() => server?.stop())

for (const [path, file, type] of [
  ['/dashboard', 'dashboard.html', /^text\/html/],
  ['/dashboard.js', 'dashboard.js', /^application\/javascript/],
  ['/dashboard.css', 'dashboard.css', /^text\/css/],
]) {
  test(`GET ${path}: the built file with a strong ETag, revalidated, 304 on If-None-Match`, async () => {
    const r = await fetch(`${server.url}${path}`)
    assert.equal(r.status, 200)
    assert.match(r.headers.get('content-type'), type)
    assert.equal(r.headers.get('cache-control'), 'no-cache')
    const body = Buffer.from(await r.arrayBuffer())
    assert.ok(body.equals(readFileSync(`${REPO}app/static/${file}`)))
    const etag = r.headers.get('etag')
    assert.equal(etag, `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`)
    const again = await fetch(`${server.url}${path}`, { headers: { 'if-none-match': etag } })
    assert.equal(again.status, 304)
    assert.equal(again.headers.get('etag'), etag)
  })
}

test('the dashboard page may run only its own script and talk only to its own origin', async () => {
  const r = await fetch(`${server.url}/dashboard`)
  const csp = r.headers.get('content-security-policy')
  assert.match(csp, /script-src 'self'/)
  assert.match(csp, /connect-src 'self'/)
  assert.match(csp, /frame-ancestors 'none'/)
  assert.equal(r.headers.get('referrer-policy'), 'no-referrer')
  const html = await r.text()
  assert.match(html, /<script src="\/dashboard\.js" defer><\/script>/)
  assert.match(html, /<link rel="stylesheet" href="\/dashboard\.css">/)
})
