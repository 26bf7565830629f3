// #/catalog: the shop's products, found by id or paged; #/catalog/<productId>: one
// product's card: picture, name, link, price, stock, its price history and the
// customers most interested in it (contract section 11).
import { words } from '../api.js'
import { customerHref, field, h, link, notice, num, productCell, productHref, show, table, when } from '../dom.js'

const PRODUCT = 'productId categoryId name url imageUrl price oldPrice currency available updatedAt'
const LIST = `query($shopId: Int!, $after: String) { products(shopId: $shopId, first: 50, after: $after) {
  nodes { ${PRODUCT} } pageInfo { hasNextPage endCursor } } }`
const ONE = `query($shopId: Int!, $productId: String!) {
  product(shopId: $shopId, productId: $productId) { ${PRODUCT} }
  productPriceHistory(shopId: $shopId, productId: $productId) { at price }
  interestedCustomers(shopId: $shopId, productId: $productId, first: 20) {
    userId score views cartAdds purchases lastInteractionAt } }`

export async function catalog(ctx) {
  if (ctx.rest.length) return card(ctx, ctx.rest.join('/'))
  return list(ctx)
}

const price = (p, value) => (value === null || value === undefined ? '—' : `${num(value)}${p.currency ? ` ${p.currency}` : ''}`)

async function list({ api, main }) {
  const productId = h('input', { name: 'productId', required: true, autocomplete: 'off' })
  const search = h(
    'form.inline',
    { onsubmit: (e) => (e.preventDefault(), (location.hash = productHref(productId.value.trim()))), 'aria-label': 'Find a product' },
    field('Product id', productId),
    h('button', { type: 'submit' }, 'Open')
  )
  const rows = []
  const body = h('div')
  const more = h('button.quiet', { type: 'button', hidden: true }, 'Show more')
  let cursor = null
  show(main, h('h1', 'Catalog'), h('p.muted', 'What the shop sells, from upsertProducts or its product feed.'), h('section.card', search), h('section.card', h('h2', 'Products'), body, more))
  const load = async () => {
    try {
      const data = await api.request(LIST, { after: cursor })
      rows.push(...data.products.nodes)
      cursor = data.products.pageInfo.endCursor
      more.hidden = !data.products.pageInfo.hasNextPage
      show(
        body,
        table(
          [
            { label: 'Product', cell: (p) => (p.name ? productCell(p.productId, p) : link(productHref(p.productId), p.productId)) },
            { label: 'Category', cell: (p) => p.categoryId ?? '—' },
            { label: 'Price', num: true, cell: (p) => price(p, p.price) },
            { label: 'In stock', cell: (p) => (p.available ? 'yes' : 'no') },
            { label: 'Updated', cell: (p) => when(p.updatedAt) },
          ],
          rows,
          { empty: 'No products yet: send them with upsertProducts or set a catalog feed.', rowData: (p) => ({ productId: p.productId }) }
        )
      )
    } catch (error) {
      show(body, notice('error', words(error)))
    }
  }
  more.addEventListener('click', load)
  await load()
}

async function card({ api, main }, productId) {
  const back = h('p', h('a', { href: '#/catalog' }, '← All products'))
  const data = await api.request(ONE, { productId })
  const p = data.product
  if (!p) {
    show(main, back, h('h1', productId), notice('note', `The catalog has no product “${productId}”.`))
    return
  }
  show(
    main,
    back,
    h('h1', p.name ?? p.productId),
    h(
      'section.card.product-card',
      { dataset: { productId: p.productId } },
      p.imageUrl ? h('img.picture', { src: p.imageUrl, alt: p.name ?? p.productId, referrerpolicy: 'no-referrer' }) : null,
      h(
        'dl.facts',
        fact('Product id', p.productId, 'productId'),
        fact('Price', price(p, p.price), 'price'),
        fact('Old price', price(p, p.oldPrice), 'oldPrice'),
        fact('In stock', p.available ? 'yes' : 'no', 'available'),
        fact('Category', p.categoryId ?? '—', 'categoryId'),
        fact('Page', p.url ? h('a', { href: p.url, rel: 'noopener noreferrer', target: '_blank' }, p.url) : '—', 'url'),
        fact('Updated', when(p.updatedAt), 'updatedAt')
      )
    ),
    h(
      'div.grid',
      h(
        'section.card.history',
        h('h2', 'Price history'),
        table(
          [
            { label: 'From', cell: (x) => when(x.at) },
            { label: 'Price', num: true, cell: (x) => price(p, x.price) },
          ],
          [...data.productPriceHistory].reverse(),
          { empty: 'No price recorded yet.' }
        )
      ),
      h(
        'section.card.interested',
        h('h2', 'Interested customers'),
        table(
          [
            { label: 'Customer', cell: (c) => link(customerHref(c.userId), c.userId) },
            { label: 'Score', num: true, cell: (c) => num(Math.round(c.score * 100) / 100) },
            { label: 'Views', num: true, cell: (c) => num(c.views) },
            { label: 'Cart adds', num: true, cell: (c) => num(c.cartAdds) },
            { label: 'Bought', num: true, cell: (c) => num(c.purchases) },
            { label: 'Last', cell: (c) => when(c.lastInteractionAt) },
          ],
          data.interestedCustomers,
          { empty: 'Nobody has shown interest yet.', rowData: (c) => ({ userId: c.userId }) }
        )
      )
    )
  )
}

const fact = (label, value, key) => h('div', { dataset: { fact: key } }, h('dt', label), h('dd', value))
