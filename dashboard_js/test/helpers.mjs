// Test harness: the real server (`python -m app`, embedded store), a TCP proxy in
// front of it that can cut every connection (to test reconnects), GraphQL calls,
// and Debian's headless Chromium.
import net from 'node:net'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

export const REPO = fileURLToPath(new URL('../../', import.meta.url))
export const SCREENSHOTS = fileURLToPath(new URL('../screenshots/', import.meta.url))
export const ADMIN_KEY = 'test-admin'
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Polls `fn` until it returns a truthy value; throws after `timeout` ms naming `what`. */
export async function waitFor(fn, { timeout = 15000, interval = 50, what = 'condition' } = {}) {
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

/** `python -m app` on a free port; {url, stop(), log()}. */
export async function startServer(env = {}) {
  const python = process.env.TRACKER_PYTHON || `${REPO}.venv/bin/python`
  if (!process.env.TRACKER_PYTHON && !existsSync(python)) throw new Error(`no Python at ${python}: set TRACKER_PYTHON`)
  const port = await freePort()
  let output = ''
  const child = spawn(python, ['-m', 'app', '--host', '127.0.0.1', '--port', String(port), '--log-level', 'warning'], {
    cwd: REPO,
    env: { ...process.env, TRACKER_ADMIN_KEY: ADMIN_KEY, TRACKER_MONGODB_URL: 'mongomock://', TRACKER_REDIS_URL: 'memory://', TRACKER_DEMO_SHOP: '0', PYTHONUNBUFFERED: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout.on('data', (d) => (output += d))
  child.stderr.on('data', (d) => (output += d))
  let exited = null
  child.on('exit', (code, signal) => (exited = { code, signal }))
  const url = `http://127.0.0.1:${port}`
  const server = {
    url,
    log: () => output,
    async stop() {
      if (exited) return
      child.kill('SIGTERM')
      await waitFor(() => exited, { timeout: 10000, what: 'the server to stop' })
    },
  }
  try {
    await waitFor(
      async () => {
        if (exited) throw new Error(`server exited ${JSON.stringify(exited)}`)
        return (await fetch(`${url}/healthz`)).status === 200
      },
      { timeout: 30000, interval: 200, what: 'the server to answer /healthz' }
    )
  } catch (e) {
    await server.stop().catch(() => {})
    throw new Error(`${e.message}\n--- server output ---\n${output}`)
  }
  return server
}

/** A TCP proxy to `target`: `cut()` drops every connection and refuses new ones until `restore()`. */
export async function startProxy(target) {
  const { hostname, port } = new URL(target)
  const sockets = new Set()
  let down = false
  const server = net.createServer((client) => {
    if (down) return client.destroy()
    const upstream = net.connect(Number(port), hostname)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => {})
    }
    client.pipe(upstream).pipe(client)
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    cut() {
      down = true
      for (const s of sockets) s.destroy()
    },
    restore() {
      down = false
    },
    stop: () => new Promise((r) => (sockets.forEach((s) => s.destroy()), server.close(() => r()))),
  }
}

/** A GraphQL call that must succeed (admin key unless `key` is given). */
export async function gql(server, query, variables = {}, key = ADMIN_KEY) {
  const r = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify({ query, variables }),
  })
  const json = await r.json()
  if (json.errors) throw new Error(`GraphQL errors: ${JSON.stringify(json.errors)}`)
  return json.data
}

/** The names of the root Query's fields (the server has introspection on in embedded mode). */
export async function queryFields(server) {
  const data = await gql(server, '{ __schema { queryType { fields { name } } } }')
  return new Set(data.__schema.queryType.fields.map((f) => f.name))
}

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'

export function launchBrowser() {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`)
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
}

/** Errors thrown in the page and console errors (CSP violations among them). */
export function watch(page) {
  const seen = { errors: [] }
  page.on('pageerror', (e) => seen.errors.push(String(e)))
  page.on('console', (m) => m.type() === 'error' && !/Failed to load resource|WebSocket connection/.test(m.text()) && seen.errors.push(m.text()))
  return seen
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true })
  await page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true })
}

/** Digits of a shown number ("1,234" -> 1234). */
export const number = (text) => Number(String(text).replace(/[^\d.-]/g, ''))
