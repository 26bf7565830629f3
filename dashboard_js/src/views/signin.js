// Sign in with a shop key (its shop is in the key), or the admin key and a shop id.
import { createApi, shopOfKey, words } from '../api.js'
import { h, field, notice, show } from '../dom.js'
import * as session from '../session.js'

const SHOP = 'query($shopId: Int!) { shop(shopId: $shopId) { shopId name } }'
const PRINTABLE_ASCII = /^[\x21-\x7e]+$/

/** Resolves if the API accepts the key (any answer but UNAUTHENTICATED), else throws. */
async function check(api) {
  try {
    await api.request(SHOP)
  } catch (error) {
    if (error.code === 'UNAUTHENTICATED') throw error
  }
}

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
    // No HTTP header carries such a key: the API could never accept it.
    if (!PRINTABLE_ASCII.test(apiKey)) return refused('an API key is printable ASCII, without spaces')
    button.disabled = true
    show(message, notice('note', 'Checking the key…'))
    try {
      if (!Number.isInteger(shopId) || shopId < 1) {
        // Only the admin key names no shop: the API says whether this is it.
        await check(createApi({ key: apiKey, shopId: 1 }))
        return show(message, notice('error', 'Enter the shop id: with the admin key the dashboard cannot tell which shop to show.'))
      }
      const data = await createApi({ key: apiKey, shopId }).request(SHOP)
      if (!data.shop) throw new Error(`there is no shop ${shopId}`)
      session.save({ key: apiKey, shopId })
      if (location.hash.length > 2) onSignedIn()
      else location.hash = '#/overview' // hashchange renders the view
    } catch (error) {
      if (error.code === 'UNAUTHENTICATED') refused(words(error))
      else show(message, notice('error', error.code ? words(error) : `Cannot sign in: ${error.message}.`))
      key.select()
    } finally {
      button.disabled = false
    }
  }

  function refused(why) {
    show(message, notice('error', `This key is not valid. ${why.replace(/^./, (c) => c.toUpperCase())}`))
    key.select()
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
