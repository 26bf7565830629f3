// A tiny stand-in for the GraphQL server, for developing the tracker while the
// real one is not running (TRACKER_FAKE=1 npm test). It records what the tracker
// sends and answers the few queries the tests make; the real tests run against
// `python -m app`. Not a GraphQL implementation: it looks at the operation name.
import http from 'node:http'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const TRACKER = fileURLToPath(new URL('../../app/static/tracker.min.js', import.meta.url))
const FIELDS = 'categoryId productId pageName orderId eventName quantity price properties url userId'.split(' ')
const DEMO = fileURLToPath(new URL('../../app/static/demo.html', import.meta.url))
const TYPES = 'VISIT PRODUCT_VIEW CATEGORY_VIEW SECTION_VIEW LOGIN REGISTRATION CART_ADD CART_REMOVE CART_CLEAR CHECKOUT CUSTOM STOCK_NOTIFY'.split(' ')

export function fakeServer({ adminKey = 'test-admin' } = {}) {
  const events = [] // newest last
  const seen = new Set()
  const visitors = new Map() // visitorId -> userId

  function track(list) {
    const data = []
    const errors = []
    list.forEach((ev, i) => {
      const c = ev.context || {}
      if (!TYPES.includes(ev.type) || c.shopId !== 1 || !/^[\w-]{1,64}$/.test(c.visitorId || '')) {
        data.push(null)
        errors.push({ message: 'bad input', path: ['track', i], extensions: { code: 'BAD_INPUT' } })
        return
      }
      if (c.identityToken && c.identityToken.startsWith('tok.')) visitors.set(c.visitorId, c.identityToken.slice(4))
      if (ev.type === 'LOGIN' || ev.type === 'REGISTRATION') visitors.set(c.visitorId, ev.userId)
      const duplicate = seen.has(c.eventId)
      if (!duplicate) {
        seen.add(c.eventId)
        const blank = Object.fromEntries(FIELDS.map((f) => [f, null]))
        events.push({ ...blank, ...ev, ...c, sourceId: c.sourceId || 'site' })
      }
      data.push({ eventId: c.eventId, duplicate, sessionId: 's', newSession: false, userId: visitors.get(c.visitorId) || null })
    })
    return errors.length ? { data: { track: data }, errors } : { data: { track: data } }
  }

  const server = http.createServer((req, res) => {
    const origin = req.headers.origin
    const cors = origin ? { 'access-control-allow-origin': origin, vary: 'Origin' } : {}
    if (req.method === 'GET' && req.url.startsWith('/tracker.js')) {
      res.writeHead(200, { 'content-type': 'application/javascript', 'cache-control': 'no-store' })
      return res.end(readFileSync(TRACKER))
    }
    if (req.method === 'GET' && req.url.startsWith('/demo')) {
      res.writeHead(200, { 'content-type': 'text/html' })
      return res.end(readFileSync(DEMO))
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        ...cors,
        'access-control-allow-headers': 'content-type, authorization',
        'access-control-allow-methods': 'POST, GET, OPTIONS',
      })
      return res.end()
    }
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      let out
      try {
        const { query, variables = {} } = JSON.parse(body)
        const admin = req.headers.authorization === `Bearer ${adminKey}`
        if (query.trim() === '{ __typename }') out = { data: { __typename: 'Query' } }
        else if (/track\(events/.test(query)) out = track(variables.e || variables.events)
        else if (!admin) out = { data: null, errors: [{ message: 'no', extensions: { code: 'UNAUTHENTICATED' } }] }
        else if (/issueIdentityToken/.test(query)) out = { data: { issueIdentityToken: 'tok.' + /userId: "([^"]*)"/.exec(query)[1] } }
        else if (/visitor\(/.test(query))
          out = { data: { visitor: { visitorId: (variables.v || variables.visitorId), userId: visitors.get((variables.v || variables.visitorId)) || null } } }
        else if (/events\(/.test(query))
          out = {
            data: {
              events: { nodes: events
                  .filter((e) => e.visitorId === (variables.v || variables.visitorId))
                  .map((e) => ({ ...e, userId: visitors.get(e.visitorId) || null }))
                  .reverse(), pageInfo: { hasNextPage: false } },
            },
          }
        else out = { data: null, errors: [{ message: 'unknown operation' }] }
      } catch (e) {
        res.writeHead(400, { ...cors, 'content-type': 'application/json' })
        return res.end(JSON.stringify({ errors: [{ message: String(e) }] }))
      }
      res.writeHead(200, { ...cors, 'content-type': 'application/json' })
      res.end(JSON.stringify(out))
    })
  })
  return server
}
