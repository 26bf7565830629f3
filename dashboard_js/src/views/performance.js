// #/performance: did the triggers pay (contract section 12). Per rule: triggers,
// delivered, held out, clicks, orders, revenue, conversion and lift, with lift's 95%
// interval where the sample allows it ("not enough data" where it does not).
import { words } from '../api.js'
import { field, h, notice, num, show, table, when } from '../dom.js'
import { PRESETS, rangeOf } from '../range.js'

const QUERY = `query($shopId: Int!, $from: DateTime!, $to: DateTime!) {
  triggerPerformance(shopId: $shopId, from: $from, to: $to) {
    ruleId type title triggers delivered heldOut clicks orders revenue
    conversionRate holdoutConversionRate lift liftLow liftHigh customers holdoutCustomers } }`

const money = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })
export const rate = (r) => (r === null || r === undefined ? '—' : `${(100 * r).toFixed(1)}%`)
const signed = (x) => `${x >= 0 ? '+' : '−'}${Math.abs(100 * x).toFixed(0)}%`

/** Lift in words: "+50% (95%: +12% to +101%)", or why there is none. */
export function liftText(r) {
  if (r.holdoutConversionRate === null || r.holdoutConversionRate === undefined) return 'no holdout'
  if (r.lift === null || r.lift === undefined || r.liftLow === null || r.liftLow === undefined) return 'not enough data'
  return `${signed(r.lift)} (95%: ${signed(r.liftLow)} to ${signed(r.liftHigh)})`
}

export async function performanceView({ api, main, params }) {
  const range = rangeOf(params)
  const status = h('div', { 'aria-live': 'polite' })
  show(main, h('div.title-row', h('h1', 'Did the triggers pay'), rangeForm(range)), status)
  let data
  try {
    data = await api.request(QUERY, { from: range.from, to: range.to })
  } catch (error) {
    show(status, notice('error', words(error)))
    return
  }
  const rows = data.triggerPerformance.filter((r) => r.triggers > 0 || r.clicks > 0 || r.orders > 0)
  main.append(
    h('p.muted', 'Triggers fired from ', when(range.from), ' to ', when(range.to), ' (UTC hours). Orders are those attributed to the triggers (a click on their link, else the trigger seen) within the attribution window; cancelled and returned orders are left out. Conversion counts customers who ordered within the window after their trigger; lift compares them with the rule\'s holdout.'),
    h(
      'section.card',
      h('h2', 'Per rule'),
      table(
        [
          { label: 'Rule', cell: (r) => r.title ?? r.ruleId },
          { label: 'Type', cell: (r) => r.type },
          { label: 'Triggers', num: true, cell: (r) => num(r.triggers) },
          { label: 'Delivered', num: true, cell: (r) => num(r.delivered) },
          { label: 'Held out', num: true, cell: (r) => num(r.heldOut) },
          { label: 'Clicks', num: true, cell: (r) => num(r.clicks) },
          { label: 'Orders', num: true, cell: (r) => num(r.orders) },
          { label: 'Revenue', num: true, cell: (r) => money.format(r.revenue) },
          { label: 'Conversion', num: true, cell: (r) => rate(r.conversionRate) },
          { label: 'Holdout conversion', num: true, cell: (r) => rate(r.holdoutConversionRate) },
          { label: 'Lift', cell: (r) => liftText(r) },
        ],
        rows,
        { empty: 'No trigger fired in this range.', rowData: (r) => ({ ruleId: r.ruleId }) }
      )
    )
  )
  document.body.dataset.rendered = 'performance'
}

function rangeForm(range) {
  const preset = h('select', { name: 'range' }, PRESETS.filter(([v]) => v !== 'custom').map(([value, text]) => h('option', { value, selected: value === range.preset }, text)))
  const go = () => (location.hash = `#/performance?range=${preset.value}`)
  preset.addEventListener('change', go)
  return h('form.range', { onsubmit: (e) => (e.preventDefault(), go()), 'aria-label': 'Time range' }, field('Range', preset), h('button', { type: 'submit' }, 'Show'))
}
