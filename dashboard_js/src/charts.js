// Charts: uPlot for time series; plain bars (HTML, with their numbers) for the rest.
import uPlot from 'uplot'
import { h, num } from './dom.js'

const COLORS = ['#2563eb', '#16a34a', '#9333ea', '#ea580c', '#dc2626', '#0891b2']

/**
 * A time-series chart of `series` ([{label, values}]) over `times` (ISO strings).
 * Resizes with its container; `onCleanup` receives the function that removes it.
 */
export function timeSeries({ times, series, hourly, onCleanup }) {
  const box = h('div.chart', { role: 'img', 'aria-label': `Chart of ${series.map((s) => s.label).join(', ')} per ${hourly ? 'hour' : 'day'}` })
  const data = [times.map((t) => Date.parse(t) / 1000), ...series.map((s) => s.values)]
  const opts = {
    width: 600,
    height: 260,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
    cursor: { drag: { x: false, y: false } },
    legend: { live: true },
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
    axes: [{ values: (u, ticks) => ticks.map((t) => tick(t, hourly)) }, { values: (u, ticks) => ticks.map((t) => (Number.isInteger(t) ? num(t) : '')) }],
    series: [
      { label: hourly ? 'Hour (UTC)' : 'Day (UTC)', value: hourly ? '{YYYY}-{MM}-{DD} {HH}:00' : '{YYYY}-{MM}-{DD}' },
      ...series.map((s, i) => ({ label: s.label, stroke: COLORS[i % COLORS.length], width: 2, points: { show: times.length <= 31 } })),
    ],
  }
  let plot = null
  const fit = () => {
    const width = Math.max(280, Math.floor(box.clientWidth))
    if (plot) plot.setSize({ width, height: opts.height })
  }
  // Drawn once the box is in the page, so that it takes the page's width.
  requestAnimationFrame(() => {
    if (!box.isConnected) return
    opts.width = Math.max(280, Math.floor(box.clientWidth))
    plot = new uPlot(opts, data, box)
  })
  const observer = new ResizeObserver(fit)
  observer.observe(box)
  onCleanup?.(() => {
    observer.disconnect()
    plot?.destroy()
  })
  return box
}

/** An x-axis label in UTC: hours as "22:00" (the date at midnight), days as "02-27". */
function tick(seconds, hourly) {
  const iso = new Date(seconds * 1000).toISOString()
  if (!hourly || iso.slice(11, 16) === '00:00') return iso.slice(5, 10)
  return iso.slice(11, 16)
}

/** Horizontal bars: rows [{label, value, note?}], scaled to the largest (or `max`). */
export function bars(rows, { max, format = num, label = 'Chart' } = {}) {
  const top = max ?? Math.max(0, ...rows.map((r) => r.value))
  return h(
    'ul.bars',
    { 'aria-label': label },
    rows.map((r) =>
      h(
        'li',
        { dataset: r.data || {} },
        h('span.bar-label', r.label),
        h('span.bar-track', h('span.bar-fill', { style: `width:${top > 0 ? Math.max(0.5, (100 * r.value) / top).toFixed(1) : 0}%` })),
        h('span.bar-value', format(r.value), r.note ? h('small', ` ${r.note}`) : null)
      )
    )
  )
}
