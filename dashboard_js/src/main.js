// The dashboard: sign in, then one view per address (#/overview, #/live,
// #/customers[/<userId>], #/rules, #/webhooks, #/audiences[/<audienceId>], #/performance).
import 'uplot/dist/uPlot.min.css'
import './dashboard.css'
import { createApi, words } from './api.js'
import { h, show, notice } from './dom.js'
import * as session from './session.js'
import { signIn } from './views/signin.js'
import { overview } from './views/overview.js'
import { live } from './views/live.js'
import { customers } from './views/customers.js'
import { rules } from './views/rules.js'
import { webhooks } from './views/webhooks.js'
import { audiences } from './views/audiences.js'
import { performanceView } from './views/performance.js'

const VIEWS = [
  ['overview', 'Overview', overview],
  ['live', 'Live', live],
  ['customers', 'Customers', customers],
  ['rules', 'Rules', rules],
  ['webhooks', 'Webhooks', webhooks],
  ['audiences', 'Audiences', audiences],
  ['performance', 'Performance', performanceView],
]

/** '#/customers/a%2Fb?x=1' -> {name: 'customers', rest: ['a/b'], params} */
export function route(hash) {
  const [path, query = ''] = hash.replace(/^#\/?/, '').split('?')
  const [name, ...rest] = path.split('/').map((part) => {
    try {
      return decodeURIComponent(part)
    } catch {
      return part
    }
  })
  return { name: VIEWS.some((v) => v[0] === name) ? name : 'overview', rest: rest.filter(Boolean), params: new URLSearchParams(query) }
}

const root = document.getElementById('app')
let cleanups = []

function cleanUp() {
  for (const fn of cleanups.splice(0)) {
    try {
      fn()
    } catch {}
  }
}

function signOut() {
  cleanUp()
  session.clear()
  render()
}

async function render() {
  cleanUp()
  const saved = session.load()
  if (!saved) {
    show(root, signIn({ onSignedIn: render }))
    document.title = 'Sign in · smartcom-tracker dashboard'
    return
  }
  const api = createApi(saved)
  const where = route(location.hash)
  const [, label, view] = VIEWS.find((v) => v[0] === where.name)
  const main = h('main#main', { tabindex: '-1', 'aria-busy': 'true', dataset: { view: where.name } })
  const nav = h(
    'nav',
    { 'aria-label': 'Views' },
    h('ul', VIEWS.map(([name, text]) => h('li', h('a', { href: `#/${name}`, 'aria-current': name === where.name ? 'page' : null }, text))))
  )
  show(
    root,
    h('a.skip', { href: '#main', onclick: (e) => (e.preventDefault(), main.focus()) }, 'Skip to content'),
    h(
      'header.top',
      h('div.brand', h('strong', 'smartcom-tracker'), h('span.shop', `Shop ${saved.shopId}`)),
      nav,
      h('button.quiet', { type: 'button', onclick: signOut }, 'Sign out')
    ),
    main
  )
  document.title = `${label} · shop ${saved.shopId} · smartcom-tracker dashboard`
  const ctx = { api, shopId: saved.shopId, main, rest: where.rest, params: where.params, onCleanup: (fn) => cleanups.push(fn), signOut }
  try {
    await view(ctx)
  } catch (error) {
    show(main, h('h1', label), notice('error', words(error)))
  } finally {
    main.setAttribute('aria-busy', 'false')
  }
}

// A key that stops working (revoked, or another server): offer to sign in again, once.
window.addEventListener('smc:unauthenticated', () => {
  const main = document.getElementById('main')
  if (main && !main.querySelector('.reauth')) main.append(h('p.reauth', h('button', { type: 'button', onclick: signOut }, 'Sign in again')))
})
window.addEventListener('hashchange', render)
render()
