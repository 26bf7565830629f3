/*! smc tracker | MIT */
// The browser side of the tracker. The snippet of the contract (section 6)
// creates `window.smc` with a queue `smc.q`; this file replays the queue in
// order and then replaces `smc` with the real function.
//
// Every event goes through the GraphQL batch mutation `track`, as a
// `text/plain` POST (fetch with keepalive, or navigator.sendBeacon when the
// page is hidden), so no CORS preflight is ever needed. Pending events live in
// localStorage until the server has them, so they survive failures and reloads;
// each carries its own eventId, so sending one twice is harmless.
(function (w, d) {
  'use strict'
  if (!w || (w.smc && w.smc.v)) return // no window, or loaded twice

  const QUERY =
    'mutation($e:[TrackInput!]!,$s:DateTime){track(events:$e,sentAt:$s){eventId}}'
  const KEY = 'smc_q' //     pending events (localStorage)
  const VID = 'smc_vid' //   visitor id (cookie + localStorage)
  const LAST = 'smc_last' // last activity, ms (cookie + localStorage)
  const OFF = 'smc_off' //   opted out (cookie + localStorage)
  const MAX = 500 //         pending events kept at most, oldest dropped first
  const BATCH = 10 //        flush at once when this many are queued
  const CHUNK = 50 //        events per request at most
  const RETRY = ['RATE_LIMITED', 'INTERNAL'] // error codes worth a retry

  const script =
    d.currentScript ||
    [].slice.call(d.getElementsByTagName('script')).filter((s) => /tracker(\.min)?\.js([?#]|$)/.test(s.src)).pop()
  const ls = () => w.localStorage
  const now = () => Date.now()

  let shop // {shopId, sourceId}; set by init
  let endpoint
  let timeout = 1800e3 // client-side session timeout, ms
  let token // identity token from a newsletter link, sent once
  let landing // the landing url with a trigger link (smc_tid), sent with the visit
  let vid // visitor id, in memory when nothing can be stored
  let last // last activity, in memory too
  let timer
  let busy // the batch in flight
  let fails = 0 // consecutive failed sends (backoff)
  const early = [] // calls made before init
  const warned = {}
  let queue = read() // this page's pending events, plus those left by earlier pages

  // ---- storage: a cookie with a localStorage copy; each may be blocked ----

  function get(k) {
    try {
      const m = d.cookie.match(new RegExp('(?:^|; )' + k + '=([^;]*)'))
      if (m) return m[1]
    } catch (e) {}
    try {
      return ls().getItem(k)
    } catch (e) {}
  }

  function set(k, v) {
    try {
      d.cookie =
        k + '=' + (v || '') + ';path=/;SameSite=Lax;max-age=' + (v ? 31536e3 : 0) +
        (location.protocol == 'https:' ? ';Secure' : '')
    } catch (e) {}
    try {
      v ? ls().setItem(k, v) : ls().removeItem(k)
    } catch (e) {}
  }

  function read() {
    try {
      return JSON.parse(ls().getItem(KEY)) || []
    } catch (e) {
      return []
    }
  }

  // Apply a change to the stored list (read-modify-write: other tabs share it).
  function store(add, drop) {
    try {
      const l = read().filter((e) => !drop || drop.indexOf(e.context.eventId) < 0)
      if (add) l.push(add)
      ls().setItem(KEY, JSON.stringify(l.slice(-MAX)))
    } catch (e) {}
  }

  const off = () => get(OFF) == '1'

  function rid(n) {
    const a = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-'
    let s = ''
    crypto.getRandomValues(new Uint8Array(n)).forEach((b) => (s += a[b & 63]))
    return s
  }

  function visitor() {
    if (!vid) {
      vid = get(VID)
      if (!vid || !/^[\w-]{1,64}$/.test(vid)) vid = rid(22)
      set(VID, vid) // refresh the year
    }
    return vid
  }

  // ---- transport ----

  function body(events) {
    return JSON.stringify({ query: QUERY, variables: { e: events, s: new Date().toISOString() } })
  }

  function done(events) {
    const ids = events.map((e) => e.context.eventId)
    queue = queue.filter((e) => events.indexOf(e) < 0)
    store(0, ids)
  }

  function later(ms) {
    if (!timer) timer = setTimeout(safe(flush), ms)
  }

  function flush() {
    clearTimeout(timer)
    timer = 0
    if (busy || !queue.length || !endpoint) return
    const batch = queue.slice(0, CHUNK)
    const text = body(batch)
    fetch(endpoint, {
      method: 'POST',
      body: text,
      headers: { 'Content-Type': 'text/plain' },
      credentials: 'omit',
      keepalive: text.length < 6e4,
    })
      .then((r) => {
        // network errors, 5xx and 429 are retried; another 4xx never will pass
        if (r.status > 499 || r.status == 429) throw 0
        return r.ok ? r.json() : { errors: [0] }
      })
      .then((res) => {
        const data = res.data && res.data.track
        const errs = res.errors || []
        const code = (e) => e && e.extensions && e.extensions.code
        const keep = batch.filter((e, i) =>
          data
            ? !data[i] && RETRY.indexOf(code(errs.filter((x) => x.path && x.path[1] == i)[0])) >= 0
            : !errs.length || RETRY.indexOf(code(errs[0])) >= 0
        )
        done(batch.filter((e) => keep.indexOf(e) < 0))
        if (keep.length) throw 0
        fails = busy = 0
        if (queue.length) later(queue.length < BATCH ? 1e3 : 0)
      })
      .catch(
        safe(() => {
          busy = 0
          // 2 s, 4 s, 8 s ... at most a minute, with some jitter
          later(Math.min(6e4, 1e3 * 2 ** ++fails) * (0.8 + Math.random() * 0.4))
        })
      )
    busy = batch // after fetch(): if it threw, nothing is stuck in flight
  }

  // The page is going away (or hidden): hand what is left to sendBeacon. While
  // the server is failing, keep the events instead: the next page sends them.
  function leave() {
    if (fails) return
    clearTimeout(timer)
    timer = 0
    const rest = queue.filter((e) => !busy || busy.indexOf(e) < 0)
    for (let i = 0; i < rest.length && endpoint && navigator.sendBeacon; i += CHUNK) {
      const part = rest.slice(i, i + CHUNK)
      if (navigator.sendBeacon(endpoint, body(part))) done(part)
    }
  }

  // ---- events ----

  function track(type, fields, visit) {
    if (!shop || off()) return
    const t = now()
    if (!visit && t - Math.max(last || 0, +get(LAST) || 0) > timeout) track('VISIT', {}, 1)
    set(LAST, String((last = t)))
    const ev = Object.assign({ type: type }, fields)
    ev.context = {
      shopId: shop.shopId,
      sourceId: shop.sourceId,
      visitorId: visitor(),
      eventId: rid(20),
      occurredAt: new Date(t).toISOString(),
      url: (landing || location.href).slice(0, 2048), // the server keeps 2,048 characters at most
      referrer: d.referrer.slice(0, 2048) || null,
    }
    if (token) ev.context.identityToken = token
    token = landing = 0
    queue.push(ev)
    if (queue.length > MAX) queue.shift()
    store(ev)
    queue.length >= BATCH && !fails ? flush() : later(1e3)
  }

  const str = (v) => (typeof v == 'number' && isFinite(v) ? String(v) : typeof v == 'string' && v ? v : null)
  const opt = (v) => v == null || v === '' || !!str(v)
  const obj = (v) => v && typeof v == 'object' && !Array.isArray(v)
  const int = (v) => typeof v == 'number' && v > 0 && v % 1 == 0 && v < 2 ** 31

  // Each call: a check of the arguments, and what it sends.
  const calls = {
    init(id, src, o) {
      if (shop) return
      if (!int(+id) || !opt(src) || (o != null && !obj(o))) throw 0
      o = o || {}
      endpoint = o.endpoint || (script && script.src && new URL(script.src).origin + '/graphql')
      if (!endpoint) throw 0
      if (o.sessionTimeout > 0) timeout = o.sessionTimeout * 1e3
      shop = { shopId: +id, sourceId: src ? str(src) : null }
      // newsletter link: ?smc_token=... identifies the visitor; trigger link: ?smc_tid=...
      // goes with the visit's url (a TRIGGER session); both then leave the address bar
      const params = location.search.slice(1).split('&')
      const key = (p) => p.split('=')[0]
      const keep = params.filter((p) => key(p) != 'smc_token')
      const rest = keep.filter((p) => key(p) != 'smc_tid')
      if (rest.length < keep.length) landing = location.origin + location.pathname + '?' + keep.join('&') + location.hash
      if (rest.length < params.length) {
        try {
          if (keep.length < params.length) token = decodeURIComponent(params.filter((p) => keep.indexOf(p) < 0)[0].slice(10).replace(/\+/g, ' '))
        } catch (e) {}
        try {
          history.replaceState(
            history.state,
            '',
            location.pathname + (rest.join('&') ? '?' + rest.join('&') : '') + location.hash
          )
        } catch (e) {}
      }
      // a visit when the last activity is older than the timeout (or a newsletter click)
      if (token || landing || now() - (+get(LAST) || 0) > timeout) track('VISIT', {}, 1)
      w.addEventListener('pagehide', safe(leave))
      d.addEventListener('visibilitychange', safe(() => d.visibilityState == 'hidden' && leave()))
      w.addEventListener('online', safe(flush))
      early.splice(0).forEach(call)
      if (queue.length) later(0)
    },
    login: (u, h) => user('LOGIN', u, h),
    register: (u, h) => user('REGISTRATION', u, h),
    viewSection: (p) => need({ pageName: str(p) }, 'SECTION_VIEW'),
    viewCategory: (c) => need({ categoryId: str(c) }, 'CATEGORY_VIEW'),
    viewProduct: (c, p) => need({ categoryId: str(c), productId: str(p) }, 'PRODUCT_VIEW'),
    addToCart(c, p, o) {
      o = o || {}
      const q = o.quantity == null ? 1 : o.quantity
      const price = o.price == null ? undefined : o.price
      if (!obj(o) || !int(q) || (price !== undefined && !(typeof price == 'number' && isFinite(price)))) throw 0
      need({ categoryId: str(c), productId: str(p), quantity: q, price: price }, 'CART_ADD')
    },
    removeFromCart: (p) => need({ productId: str(p) }, 'CART_REMOVE'),
    clearCart: () => track('CART_CLEAR', {}),
    checkout: (o) => need({ orderId: str(o) }, 'CHECKOUT'),
    event(n, p) {
      if (p != null && (!obj(p) || !JSON.stringify(p))) throw 0
      need({ eventName: str(n), properties: p || undefined }, 'CUSTOM')
    },
    optOut() {
      set(OFF, '1')
      set(VID)
      set(LAST)
      vid = last = 0
      queue = []
      try {
        ls().removeItem(KEY)
      } catch (e) {}
    },
    optIn: () => set(OFF),
  }

  function user(type, u, h) {
    if (!opt(h)) throw 0
    need({ userId: str(u), userHash: h ? str(h) : undefined }, type)
  }

  // All the named fields must be there (null means missing or bad).
  function need(fields, type) {
    for (const k in fields) if (fields[k] === null) throw 0
    track(type, fields)
  }

  function call(args) {
    const name = args[0]
    try {
      if (!calls.hasOwnProperty(name)) throw 0
      if (!shop && name != 'init' && name.slice(0, 3) != 'opt') return early.push(args)
      calls[name].apply(0, [].slice.call(args, 1))
    } catch (e) {
      if (!warned[name]) {
        warned[name] = 1
        try {
          console.warn('smc: ignored a bad call', name)
        } catch (x) {}
      }
    }
  }

  function safe(f) {
    return function () {
      try {
        return f.apply(this, arguments)
      } catch (e) {}
    }
  }

  const q = (w.smc && w.smc.q) || []
  w.smc = function () {
    call(arguments)
  }
  w.smc.v = 1
  ;[].slice.call(q).forEach(call)
})(typeof window != 'undefined' ? window : 0, typeof document != 'undefined' ? document : 0)
