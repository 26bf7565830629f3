/*! smc recommendations widget | MIT
 * Renders recommendations into an element. Not part of the tracker (its 3 KB stay its own).
 *   <div data-smc-recommendations data-shop-id="1" data-strategy="ALSO_VIEWED"
 *        data-product-id="p1" data-limit="6"></div>
 *   <script src="https://TRACKER/widget.js" async></script>
 * or, from a script: smcWidget(element, {shopId: 1, strategy: 'FOR_YOU', limit: 6})
 * which returns a promise of the list it rendered. The visitor id is the tracker's
 * (cookie or localStorage `smc_vid`) unless given. Products come from the server's
 * public GET /recommendations; links and pictures are only http(s), and text is set
 * as text, so catalog data cannot inject markup.
 */
(function (w, d) {
  'use strict'
  if (!w || w.smcWidget) return
  var me = d.currentScript && d.currentScript.src
  var base = me ? new URL(me).origin : ''

  function visitor() {
    var m = d.cookie.match(/(?:^|; )smc_vid=([^;]*)/)
    if (m) return decodeURIComponent(m[1])
    try { return w.localStorage.getItem('smc_vid') || '' } catch (e) { return '' }
  }

  function safe(url) {
    try {
      var u = new URL(url, d.baseURI)
      return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : ''
    } catch (e) { return '' }
  }

  function el(tag, cls, text) {
    var e = d.createElement(tag)
    if (cls) e.className = cls
    if (text != null) e.textContent = String(text)
    return e
  }

  function item(rec) {
    var p = rec.product || {}
    var li = el('li', 'smc-rec')
    li.setAttribute('data-product-id', rec.productId)
    var href = p.url ? safe(p.url) : ''
    var box = el(href ? 'a' : 'span', 'smc-rec-link')
    if (href) box.href = href
    var img = p.imageUrl ? safe(p.imageUrl) : ''
    if (img) {
      var i = el('img', 'smc-rec-image')
      i.src = img
      i.alt = p.name || ''
      i.loading = 'lazy'
      box.appendChild(i)
    }
    box.appendChild(el('span', 'smc-rec-name', p.name || rec.productId))
    if (p.price != null) {
      box.appendChild(el('span', 'smc-rec-price', p.price + (p.currency ? ' ' + p.currency : '')))
    }
    li.appendChild(box)
    return li
  }

  function render(target, opts) {
    opts = opts || {}
    var q = new URLSearchParams()
    q.set('shopId', String(opts.shopId))
    q.set('strategy', opts.strategy || 'POPULAR')
    q.set('limit', String(opts.limit || 6))
    if (opts.productId) q.set('productId', opts.productId)
    if (opts.categoryId) q.set('categoryId', opts.categoryId)
    var vid = opts.visitorId || visitor()
    if (vid) q.set('visitorId', vid)
    return fetch((opts.server || base) + '/recommendations?' + q, { credentials: 'omit' })
      .then(function (r) { return r.ok ? r.json() : [] })
      .catch(function () { return [] })
      .then(function (list) {
        var ul = el('ul', 'smc-recs')
        list.forEach(function (rec) { ul.appendChild(item(rec)) })
        target.textContent = ''
        if (list.length) target.appendChild(ul)
        target.setAttribute('data-smc-rendered', String(list.length))
        return list
      })
  }

  function auto() {
    var all = d.querySelectorAll('[data-smc-recommendations]')
    for (var k = 0; k < all.length; k++) {
      var n = all[k]
      if (n.hasAttribute('data-smc-rendered')) continue
      render(n, {
        shopId: n.getAttribute('data-shop-id'), strategy: n.getAttribute('data-strategy'),
        productId: n.getAttribute('data-product-id'), categoryId: n.getAttribute('data-category-id'),
        limit: n.getAttribute('data-limit'), server: n.getAttribute('data-server') || undefined,
      })
    }
  }

  w.smcWidget = render
  if (d.readyState === 'loading') d.addEventListener('DOMContentLoaded', auto)
  else auto()
})(typeof window !== 'undefined' ? window : null, typeof document !== 'undefined' ? document : null)
