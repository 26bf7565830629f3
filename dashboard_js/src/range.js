// The overview's time range, read from and written to its address:
// #/overview?range=7d, or ?from=2026-02-01&to=2026-02-07&interval=HOUR (days, UTC, inclusive).
const HOUR = 3600e3
const DAY = 24 * HOUR

export const PRESETS = [
  ['24h', 'Last 24 hours (hourly)'],
  ['7d', 'Last 7 days'],
  ['30d', 'Last 30 days'],
  ['90d', 'Last 90 days'],
  ['custom', 'Custom dates'],
]

const day = (ms) => new Date(ms).toISOString().slice(0, 10)
const isDay = (text) => /^\d{4}-\d{2}-\d{2}$/.test(text || '') && !Number.isNaN(Date.parse(`${text}T00:00:00Z`))

/** {preset, from, to (ISO), interval, fromDay, toDay} for the address's params, at time `now`. */
export function rangeOf(params, now = Date.now()) {
  const preset = params.get('range') || (params.get('from') ? 'custom' : '7d')
  if (preset === 'custom' && isDay(params.get('from'))) {
    const fromDay = params.get('from')
    const toDay = isDay(params.get('to')) ? params.get('to') : fromDay
    const from = Date.parse(`${fromDay}T00:00:00Z`)
    const to = Date.parse(`${toDay}T00:00:00Z`) + DAY
    const interval = params.get('interval') === 'HOUR' ? 'HOUR' : 'DAY'
    return { preset, from: new Date(from).toISOString(), to: new Date(to).toISOString(), interval, fromDay, toDay }
  }
  if (preset === '24h') {
    const to = Math.floor(now / HOUR) * HOUR + HOUR
    return finish('24h', to - 24 * HOUR, to, 'HOUR')
  }
  const days = { '30d': 30, '90d': 90 }[preset] || 7
  const to = Math.floor(now / DAY) * DAY + DAY
  return finish(days === 7 ? '7d' : preset, to - days * DAY, to, 'DAY')
}

function finish(preset, from, to, interval) {
  return { preset, from: new Date(from).toISOString(), to: new Date(to).toISOString(), interval, fromDay: day(from), toDay: day(to - 1) }
}

/** The address of a range. */
export function hrefOf({ preset, fromDay, toDay, interval }) {
  if (preset !== 'custom') return `#/overview?range=${preset}`
  return `#/overview?from=${fromDay}&to=${toDay}&interval=${interval}`
}
