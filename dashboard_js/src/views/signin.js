// Sign in with a shop key (its shop is in the key), or the admin key and a shop id.
import { createApi, shopOfKey, words } from '../api.js'
import { h, field, notice, show } from '../dom.js'
import * as session from '../session.js'

export function signIn({ onSignedIn }) {
  const key = h('input', { name: 'apiKey', type: 'password', required: true, autocomplete: 'off', spellcheck: 'false', autofocus: true })
  const shop = h('input', { name: 'shopId', type: 'number', min: '1', step: '1', inputmode: 'numeric' })
  const message = h('div', { 'aria-live': 'polite' })
  const button = h('button', { type: 'submit' }, 'Sign in')

  async function submit(event) {
    event.preventDefault()
    const apiKey = key.value.trim()
    const shopId = shop.value ? Number(shop.value) : shopOfKey(apiKey)
    if (!apiKey) return show(message, notice('error', 'Enter the API key.'))
    if (!Number.isInteger(shopId) || shopId < 1) {
      return show(message, notice('error', 'Enter the shop id: with the admin key the dashboard cannot tell which shop to show.'))
    }
    button.disabled = true
    show(message, notice('note', 'Checking the key…'))
    try {
      const data = await createApi({ key: apiKey, shopId }).request('query($shopId: Int!) { shop(shopId: $shopId) { shopId name } }')
      if (!data.shop) throw new Error(`there is no shop ${shopId}`)
      session.save({ key: apiKey, shopId })
      if (location.hash.length > 2) onSignedIn()
      else location.hash = '#/overview' // hashchange renders the view
    } catch (error) {
      show(message, notice('error', error.code ? words(error) : `Cannot sign in: ${error.message}.`))
      key.select()
    } finally {
      button.disabled = false
    }
  }

  return h(
    'main.signin',
    h(
      'form',
      { onsubmit: submit, 'aria-labelledby': 'signin-title' },
      h('h1#signin-title', 'Shop dashboard'),
      h('p', 'Sign in with your shop’s API key. It is kept in this tab only and forgotten when the tab closes.'),
      field('API key', key),
      field('Shop id', shop, 'Only with the admin key; a shop key names its shop.'),
      button,
      message
    )
  )
}
