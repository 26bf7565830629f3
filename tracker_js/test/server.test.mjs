// The server's browser-facing routes: /tracker.js (ETag, caching), /demo, CORS on /graphql.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { startBackend, TRACKER_FILE } from './helpers.mjs'

let backend
before(async () => (backend = await startBackend()))
after(() => backend?.stop())

test('GET /tracker.js: the built file, a strong ETag, a day of caching, 304 on If-None-Match', async (t) => {
  if (backend.fake) return t.skip('fake server')
  const r = await fetch(`${backend.url}/tracker.js`)
  assert.equal(r.status, 200)
  assert.match(r.headers.get('content-type'), /^application\/javascript/)
  assert.equal(r.headers.get('cache-control'), 'public, max-age=86400')
  const etag = r.headers.get('etag')
  assert.match(etag, /^"[^"]+"$/, 'a strong ETag')
  const body = Buffer.from(await r.arrayBuffer())
  assert.ok(body.equals(readFileSync(TRACKER_FILE)))
  assert.ok(etag.includes(createHash('sha256').update(body).digest('hex').slice(0, 32)))
  const again = await fetch(`${backend.url}/tracker.js`, { headers: { 'if-none-match': etag } })
  assert.equal(again.status, 304)
  assert.equal(again.headers.get('etag'), etag)
  const other = await fetch(`${backend.url}/tracker.js`, { headers: { 'if-none-match': '"other"' } })
  assert.equal(other.status, 200)
})

test('GET /demo is the demo shop', async (t) => {
  if (backend.fake) return t.skip('fake server')
  const r = await fetch(`${backend.url}/demo`)
  assert.equal(r.status, 200)
  assert.match(r.headers.get('content-type'), /^text\/html/)
  const text = await r.text()
  assert.match(text, /smc\('init', 1, 'site'\)/)
  assert.match(text, /'\/tracker\.js'/)
})

test('CORS on /graphql: preflight answered, Origin echoed, Vary: Origin', async () => {
  const origin = 'http://shop.example'
  const pre = await fetch(`${backend.url}/graphql`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
  })
  assert.ok(pre.status === 200 || pre.status === 204, `preflight status ${pre.status}`)
  assert.equal(pre.headers.get('access-control-allow-origin'), origin)
  assert.match(pre.headers.get('access-control-allow-headers'), /authorization/i)
  assert.match(pre.headers.get('access-control-allow-headers'), /content-type/i)
  assert.match(pre.headers.get('access-control-allow-methods'), /POST/)
  const r = await fetch(`${backend.url}/graphql`, {
    method: 'POST',
    headers: { origin, 'content-type': 'text/plain' },
    body: JSON.stringify({ query: '{ __typename }' }),
  })
  assert.equal(r.status, 200)
  assert.equal(r.headers.get('access-control-allow-origin'), origin)
  assert.match(r.headers.get('vary') || '', /origin/i)
  assert.deepEqual(await r.json(), { data: { __typename: 'Query' } })
})
