// #/overview: totals, traffic over time, the funnel, top products and categories.
import { words } from '../api.js'
import { bars, timeSeries } from '../charts.js'
import { h, field, notice, num, pct, show, table, when } from '../dom.js'
import { PRESETS, hrefOf, rangeOf } from '../range.js'

const FIGURES = 'start visitors sessions identifiedVisitors productViews categoryViews cartAdds checkouts triggers'
const QUERY = `query($shopId: Int!, $from: DateTime!, $to: DateTime!, $interval: StatsInterval) {
  stats(shopId: $shopId, from: $from, to: $to, interval: $interval) { buckets { ${FIGURES} } totals { ${FIGURES} } }
  funnel(shopId: $shopId, from: $from, to: $to) { sessions withProductView withCartAdd withCheckout }
  topProducts(shopId: $shopId, from: $from, to: $to, limit: 10) { productId views cartAdds purchases }
  topCategories(shopId: $shopId, from: $from, to: $to, limit: 10) { categoryId views productViews cartAdds purchases }
  channels(shopId: $shopId, from: $from, to: $to) { channel sessions visitors orders revenue }
}`

const TILES = [
  ['visitors', 'Visitors'],
  ['sessions', 'Sessions'],
  ['identifiedVisitors', 'Identified visitors'],
  ['productViews', 'Product views'],
  ['categoryViews', 'Category views'],
  ['cartAdds', 'Cart adds'],
  ['checkouts', 'Checkouts'],
  ['triggers', 'Triggers'],
]
const CHARTED = ['visitors', 'sessions', 'productViews', 'cartAdds', 'checkouts']

export async function overview({ api, main, params, onCleanup }) {
  const range = rangeOf(params)
  const status = h('div', { 'aria-live': 'polite' })
  show(main, h('div.title-row', h('h1', 'Overview'), rangeForm(range)), status)
  let data
  try {
    data = await api.request(QUERY, { from: range.from, to: range.to, interval: range.interval })
  } catch (error) {
    show(status, notice('error', words(error)))
    return
  }
  const { stats, funnel, topProducts, topCategories, channels } = data
  const label = (key) => TILES.find((t) => t[0] === key)[1]
  main.append(
    h('p.muted', 'From ', when(range.from), ' to ', when(range.to), ` (${range.interval === 'HOUR' ? 'hourly' : 'daily'}, UTC)`),
    h(
      'section.tiles',
      { 'aria-label': 'Totals' },
      TILES.map(([key, text]) => h('div.tile', { dataset: { figure: key } }, h('span.tile-label', text), h('span.tile-value', num(stats.totals[key]))))
    ),
    h(
      'section.card',
      h('h2', 'Traffic'),
      timeSeries({
        times: stats.buckets.map((b) => b.start),
        series: CHARTED.map((key) => ({ label: label(key), values: stats.buckets.map((b) => b[key]) })),
        hourly: range.interval === 'HOUR',
        onCleanup,
      }),
      h(
        'details',
        h('summary', 'The figures as a table'),
        table(
          [{ label: range.interval === 'HOUR' ? 'Hour' : 'Day', cell: (b) => when(b.start) }, ...TILES.map(([key, text]) => ({ label: text, num: true, cell: (b) => num(b[key]) }))],
          stats.buckets,
          { rowData: (b) => ({ start: b.start }) }
        )
      )
    ),
    h('div.grid.bottom', funnelCard(funnel), topCard('Top products', topProducts, productColumns), topCard('Top categories', topCategories, categoryColumns)),
    h('section.card.channels', h('h2', 'Channels'), h('p.muted', 'Sessions that started in the range by where they came from; orders under the channel of their session.'), table(channelColumns, channels, { empty: 'No sessions in this range.', rowData: (r) => ({ channel: r.channel }) }))
  )
  document.body.dataset.rendered = 'overview'
  performance.mark('overview-rendered')
}

function rangeForm(range) {
  const preset = h('select', { name: 'range' }, PRESETS.map(([value, text]) => h('option', { value, selected: value === range.preset }, text)))
  const from = h('input', { type: 'date', name: 'from', value: range.fromDay, required: true })
  const to = h('input', { type: 'date', name: 'to', value: range.toDay, required: true })
  const interval = h('select', { name: 'interval' }, ['DAY', 'HOUR'].map((v) => h('option', { value: v, selected: v === range.interval }, v === 'DAY' ? 'Daily' : 'Hourly')))
  const custom = h('div.custom', { hidden: range.preset !== 'custom' }, field('From', from), field('To', to), field('Buckets', interval))
  const go = () => {
    location.hash = preset.value === 'custom' ? hrefOf({ preset: 'custom', fromDay: from.value, toDay: to.value, interval: interval.value }) : hrefOf({ preset: preset.value })
  }
  preset.addEventListener('change', () => {
    custom.hidden = preset.value !== 'custom'
    if (preset.value !== 'custom') go()
  })
  return h('form.range', { onsubmit: (e) => (e.preventDefault(), go()), 'aria-label': 'Time range' }, field('Range', preset), custom, h('button', { type: 'submit' }, 'Show'))
}

function funnelCard(f) {
  const steps = [
    ['sessions', 'Sessions', f.sessions],
    ['withProductView', 'Viewed a product', f.withProductView],
    ['withCartAdd', 'Added to cart', f.withCartAdd],
    ['withCheckout', 'Checked out', f.withCheckout],
  ]
  return h(
    'section.card.funnel',
    h('h2', 'Funnel'),
    h('p.muted', 'Sessions that started in the range, and how many of them reached each step.'),
    bars(
      steps.map(([key, text, value]) => ({ label: text, value, note: key === 'sessions' ? '' : pct(value, f.sessions), data: { step: key, value: String(value) } })),
      { max: f.sessions, label: 'Funnel' }
    )
  )
}

const productColumns = [
  { label: 'Product', cell: (r) => r.productId },
  { label: 'Views', num: true, cell: (r) => num(r.views) },
  { label: 'Cart adds', num: true, cell: (r) => num(r.cartAdds) },
  { label: 'Purchases', num: true, cell: (r) => num(r.purchases) },
]
const categoryColumns = [
  { label: 'Category', cell: (r) => r.categoryId },
  { label: 'Views', num: true, cell: (r) => num(r.views) },
  { label: 'Product views', num: true, cell: (r) => num(r.productViews) },
  { label: 'Cart adds', num: true, cell: (r) => num(r.cartAdds) },
  { label: 'Purchases', num: true, cell: (r) => num(r.purchases) },
]

const money = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })
const CHANNEL_NAMES = { DIRECT: 'Direct', ORGANIC_SEARCH: 'Organic search', PAID_SEARCH: 'Paid search', SOCIAL: 'Social', EMAIL: 'E-mail', TRIGGER: 'Trigger links', REFERRAL: 'Referral' }
const channelColumns = [
  { label: 'Channel', cell: (r) => CHANNEL_NAMES[r.channel] ?? r.channel },
  { label: 'Sessions', num: true, cell: (r) => num(r.sessions) },
  { label: 'Visitors', num: true, cell: (r) => num(r.visitors) },
  { label: 'Orders', num: true, cell: (r) => num(r.orders) },
  { label: 'Revenue', num: true, cell: (r) => money.format(r.revenue) },
]

function topCard(title, rows, columns) {
  return h('section.card', h('h2', title), table(columns, rows, { empty: 'Nothing viewed in this range.' }))
}
