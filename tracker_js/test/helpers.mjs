// Test harness: the GraphQL server (the real `python -m app`, or the fake one
// with TRACKER_FAKE=1), a switchable proxy in front of it that records what the
// browser sends, a page server on another origin, and headless Chromium.
import http from 'node:http'
import net from 'node:net'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { fakeServer } from './fake-server.mjs'

export const REPO = fileURLToPath(new URL('../../', import.meta.url))
export const ADMIN_KEY = 'test-admin'
export const TRACKER_FILE = fileURLToPath(new URL('../../app/static/tracker.min.js', import.meta.url))

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Polls `fn` until it returns a truthy value; throws after `timeout` ms with `what`. */
export async function waitFor(fn, { timeout = 15000, interval = 100, what = 'condition' } = {}) {
  const end = Date.now() + timeout
  let last
  for (;;) {
    try {
      last = await fn()
      if (last) return last
    } catch (e) {
      last = e
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`)
    await sleep(interval)
  }
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

const listen = (server, port, host) =>
  new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve(server.address().port))
  })

const close = (server) =>
  new Promise((resolve) => {
    server.closeAllConnections?.()
    server.close(() => resolve())
  })

/** The GraphQL server under test. Returns {url, log(), stop()}. */
export async function startBackend() {
  if (process.env.TRACKER_FAKE) {
    const server = fakeServer({ adminKey: ADMIN_KEY })
    const port = await listen(server, 0, '127.0.0.1')
    return { url: `http://127.0.0.1:${port}`, fake: true, log: () => '', stop: () => close(server) }
  }
  const python = process.env.TRACKER_PYTHON || `${REPO}.venv/bin/python`
  if (!process.env.TRACKER_PYTHON && !existsSync(python)) throw new Error(`no Python at ${python}: set TRACKER_PYTHON`)
  const port = await freePort()
  let output = ''
  const child = spawn(python, ['-m', 'app', '--host', '127.0.0.1', '--port', String(port)], {
    cwd: REPO,
    env: {
      ...process.env,
      TRACKER_ADMIN_KEY: ADMIN_KEY,
      TRACKER_MONGODB_URL: 'mongomock://',
      TRACKER_REDIS_URL: 'memory://',
      TRACKER_DEMO_SHOP: '1',
      PYTHONUNBUFFERED: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout.on('data', (d) => (output += d))
  child.stderr.on('data', (d) => (output += d))
  let exited = null
  child.on('exit', (code, signal) => (exited = { code, signal }))
  const url = `http://127.0.0.1:${port}`
  const backend = {
    url,
    fake: false,
    log: () => output,
    stop: async () => {
      if (exited) return
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 5000)
      await waitFor(() => exited, { timeout: 10000, what: 'the server to stop' })
      clearTimeout(t)
    },
  }
  try {
    await waitFor(
      async () => {
        if (exited) throw Object.assign(new Error(`server exited ${JSON.stringify(exited)}`), { fatal: true })
        const r = await fetch(`${url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: '{ __typename }' }),
        })
        return r.status === 200
      },
      { timeout: 30000, interval: 200, what: 'the server to answer POST /graphql' }
    )
  } catch (e) {
    await backend.stop().catch(() => {})
    throw new Error(`${e.message}\n--- server output ---\n${output}`)
  }
  return backend
}

/** GraphQL call with the admin key, straight to the server. */
export async function gql(backend, query, variables = {}) {
  const r = await fetch(`${backend.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` },
    body: JSON.stringify({ query, variables }),
  })
  const json = await r.json()
  if (json.errors) throw new Error(`GraphQL errors: ${JSON.stringify(json.errors)}`)
  return json.data
}

const EVENT_FIELDS =
  'eventId type visitorId userId sessionId sourceId occurredAt receivedAt categoryId productId pageName orderId eventName quantity price properties url'

/** The stored events of a visitor, oldest first. */
export async function eventsOf(backend, visitorId) {
  const data = await gql(
    backend,
    `query($v: String) { events(shopId: 1, visitorId: $v, first: 200) { nodes { ${EVENT_FIELDS} } } }`,
    { v: visitorId }
  )
  return data.events.nodes.slice().reverse()
}

/** Waits until the visitor has at least `n` stored events (optionally of `types`). */
export function waitEvents(backend, visitorId, n, what = `${n} events`) {
  return waitFor(
    async () => {
      const list = await eventsOf(backend, visitorId)
      return list.length >= n && list
    },
    { timeout: 20000, what: `${what} of visitor ${visitorId}` }
  )
}

/**
 * A proxy in front of the server, standing for "the tracker server" the page
 * talks to. It records every request; `down = true` makes POST/OPTIONS
 * /graphql fail at the network level (the connection is dropped), the rest
 * (tracker.js) still passes. `/tracker.js?delay=MS` is answered late.
 */
export async function startProxy(target) {
  const proxy = {
    down: false,
    requests: [], // {method, path, headers, body, refused, json}
    url: '',
    /** Every tracker batch that reached the server: [{events, sentAt, headers}] */
    batches() {
      return this.requests
        .filter((r) => !r.refused && r.json && /track\(events/.test(r.json.query || ''))
        .map((r) => ({ events: r.json.variables.e, sentAt: r.json.variables.s, headers: r.headers, status: r.status }))
    },
    refusedCount() {
      return this.requests.filter((r) => r.refused).length
    },
  }
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', async () => {
      const body = Buffer.concat(chunks)
      const rec = { method: req.method, path: req.url, headers: req.headers, body: body.toString(), refused: false }
      try {
        rec.json = JSON.parse(rec.body)
      } catch {}
      proxy.requests.push(rec)
      const path = req.url.split('?')[0]
      if (proxy.down && path === '/graphql' && req.method !== 'GET') {
        rec.refused = true
        req.socket.destroy()
        return
      }
      const delay = /[?&]delay=(\d+)/.exec(req.url)
      if (delay) await sleep(+delay[1])
      const up = http.request(
        `${target}${req.url}`,
        { method: req.method, headers: { ...req.headers, host: new URL(target).host }, agent: false },
        (ur) => {
          rec.status = ur.statusCode
          res.writeHead(ur.statusCode, ur.headers)
          ur.pipe(res)
        }
      )
      up.on('error', () => {
        rec.refused = true
        req.socket.destroy()
      })
      up.end(body)
    })
  })
  const port = await listen(server, 0, '127.0.0.1')
  proxy.url = `http://127.0.0.1:${port}`
  proxy.stop = () => close(server)
  return proxy
}

/** The contract's snippet, loading tracker.js from `src`, then `init` and `calls`. */
export function snippet(src, init = "smc('init', 1, 'site');") {
  return `<script>
  (function (w, d, u) {
    w.smc = w.smc || function () { (w.smc.q = w.smc.q || []).push(arguments) };
    var s = d.createElement('script'); s.async = true; s.src = u; d.head.appendChild(s);
  })(window, document, ${JSON.stringify(src)});
  ${init}
</script>`
}

export function html({ head = '', body = '' } = {}) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>test shop</title>${head}</head><body>${body}</body></html>`
}

/**
 * The shop's site, on another origin (http://localhost:PORT; the server is at
 * 127.0.0.1). `site.page(path, html)` registers a page; /static/tracker.js is a
 * copy of the built tracker served by the shop itself.
 */
export async function startSite() {
  const pages = new Map()
  const server = http.createServer((req, res) => {
    const path = req.url.split('?')[0]
    if (path === '/static/tracker.js') {
      res.writeHead(200, { 'content-type': 'application/javascript', 'cache-control': 'no-store' })
      return res.end(readFileSync(TRACKER_FILE))
    }
    const page = pages.get(path)
    if (!page) {
      res.writeHead(404, { 'content-type': 'text/plain' })
      return res.end('not found')
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
    res.end(page)
  })
  const port = await listen(server, 0, '127.0.0.1')
  return {
    origin: `http://localhost:${port}`,
    url(path) {
      return `http://localhost:${port}${path}`
    },
    page(path, text) {
      pages.set(path, text)
      return `http://localhost:${port}${path}`
    },
    stop: () => close(server),
  }
}

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'

export function launchBrowser() {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`)
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
}

/** Collects errors thrown in the page and console warnings. */
export function watch(page) {
  const seen = { errors: [], warnings: [] }
  page.on('pageerror', (e) => seen.errors.push(String(e)))
  page.on('console', (m) => m.type() === 'warning' && seen.warnings.push(m.text()))
  return seen
}

/** The visitor id the tracker keeps (cookie, else localStorage). */
export function visitorIdOf(page) {
  return page.evaluate(() => {
    const m = document.cookie.match(/(?:^|; )smc_vid=([^;]*)/)
    return (m && m[1]) || localStorage.getItem('smc_vid')
  })
}
