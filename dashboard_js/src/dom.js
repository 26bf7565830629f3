// Small DOM helpers. Values from the API only ever reach the page as text
// (textContent, attributes), never as HTML.

/** h('a.class#id', {href, onclick, ...}, ...children): an element. */
export function h(tag, props, ...children) {
  const [name, ...rest] = tag.split(/(?=[.#])/)
  const el = document.createElement(name || 'div')
  for (const part of rest) {
    if (part[0] === '.') el.classList.add(part.slice(1))
    else el.id = part.slice(1)
  }
  if (props && (typeof props !== 'object' || props instanceof Node || Array.isArray(props))) {
    children.unshift(props)
    props = null
  }
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value)
    else if (key === 'dataset') Object.assign(el.dataset, value)
    else if (key === 'style') el.style.cssText = value // CSSOM: allowed by the page's CSP
    else if (key in el && typeof value !== 'string') el[key] = value
    else el.setAttribute(key, value === true ? '' : value)
  }
  append(el, children)
  return el
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    if (Array.isArray(child)) append(el, child)
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)))
  }
}

/** Replace what `el` shows. */
export function show(el, ...children) {
  el.replaceChildren()
  append(el, children)
  return el
}

const numbers = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 })
export const num = (n) => (n === null || n === undefined ? '—' : numbers.format(n))
export const pct = (part, whole) => (whole ? `${Math.round((100 * part) / whole)}%` : '—')

/** A time as the API gives it (ISO-8601), shown in UTC: "2026-02-27 22:10 UTC". */
export function when(iso, { seconds = false } = {}) {
  if (!iso) return '—'
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return String(iso)
  const text = d.toISOString().slice(0, seconds ? 19 : 16).replace('T', ' ')
  return h('time', { datetime: iso, title: iso }, `${text} UTC`)
}

/** A table: columns [{label, cell(row) -> node|text, num?}], rows. */
export function table(columns, rows, { caption, empty = 'Nothing yet.', rowData } = {}) {
  if (!rows.length) return h('p.empty', empty)
  return h(
    'div.scroll',
    h(
      'table',
      caption && h('caption', caption),
      h('thead', h('tr', columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : null }, c.label)))),
      h(
        'tbody',
        rows.map((row) =>
          h('tr', rowData ? { dataset: rowData(row) } : null, columns.map((c) => h('td', { class: c.num ? 'num' : null }, c.cell(row))))
        )
      )
    )
  )
}

/** A labelled form field. */
export function field(label, input, hint) {
  return h('label.field', h('span.label', label), input, hint && h('small.hint', hint))
}

/** A message box: kind is 'error', 'ok' or 'note'; errors are announced to screen readers. */
export function notice(kind, text) {
  return h(`div.notice.${kind}`, { role: kind === 'error' ? 'alert' : 'status' }, text)
}

export const link = (href, text) => h('a', { href }, text)

/** '#/customers/' + the id, safe for any id. */
export const customerHref = (userId) => `#/customers/${encodeURIComponent(userId)}`

/** Comma-separated text to a list of trimmed, non-empty strings. */
export const list = (text) =>
  String(text || '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)

/** A delete button that asks once more, in place (no browser dialog). */
export function confirmButton(label, question, onConfirm) {
  const box = h('span.confirm')
  const ask = () =>
    show(
      box,
      h('span', question, ' '),
      h('button.danger', { type: 'button', onclick: async () => (await onConfirm(), box.isConnected && reset()) }, `Yes, ${label.toLowerCase()}`),
      h('button.quiet', { type: 'button', onclick: () => reset(true) }, 'Cancel')
    ).querySelector('button').focus()
  const reset = (focus) => {
    const first = show(box, h('button.danger', { type: 'button', onclick: ask }, label)).firstChild
    if (focus) first.focus()
  }
  reset()
  return box
}

/** Checkboxes for a set of values: returns [element, () => checked values]. */
export function checkboxes(name, legend, values, checked = []) {
  const boxes = values.map((v) => h('input', { type: 'checkbox', name, value: v, checked: checked.includes(v) }))
  const el = h('fieldset.checks', h('legend', legend), boxes.map((b, i) => h('label', b, ` ${values[i]}`)))
  return [el, () => boxes.filter((b) => b.checked).map((b) => b.value)]
}

export const TRIGGER_TYPES = ['ABANDONED_CART', 'ABANDONED_BROWSE', 'ABANDONED_CATEGORY', 'SECTION_VISITED', 'CUSTOM_EVENT', 'ORDER_COMPLETED', 'AUDIENCE_ENTERED', 'AUDIENCE_EXITED']

/** '#/catalog/' + the id, safe for any id. */
export const productHref = (productId) => `#/catalog/${encodeURIComponent(productId)}`

/** A product where an id is shown: its picture and name (linked to its card) when the
 * catalog has it, else the id as it is. */
export function productCell(productId, product) {
  if (!product?.name) return productId
  return h(
    'a.product',
    { href: productHref(productId), dataset: { productId } },
    product.imageUrl ? h('img.thumb', { src: product.imageUrl, alt: '', width: 32, height: 32, loading: 'lazy', referrerpolicy: 'no-referrer' }) : null,
    h('span.product-name', product.name),
    h('small.muted', ` ${productId}`)
  )
}
