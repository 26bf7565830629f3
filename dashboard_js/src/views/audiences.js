// #/audiences: live interest audiences (contract section 9): list, create, delete;
// #/audiences/<audienceId>: its members.
import { words } from '../api.js'
import { customerHref, confirmButton, field, h, link, notice, num, show, table, when } from '../dom.js'

const AUDIENCE = 'audienceId title categoryId productId minScore size createdAt'
const LIST = `query($shopId: Int!) { audiences(shopId: $shopId) { ${AUDIENCE} } }`
const CREATE = `mutation($shopId: Int!, $audience: AudienceInput!) { createAudience(shopId: $shopId, audience: $audience) { ${AUDIENCE} } }`
const DELETE = 'mutation($shopId: Int!, $audienceId: ID!) { deleteAudience(shopId: $shopId, audienceId: $audienceId) }'
const MEMBERS = `query($shopId: Int!, $audienceId: ID!, $after: String) {
  audienceMembers(shopId: $shopId, audienceId: $audienceId, first: 50, after: $after) {
    nodes { userId lastSeenAt } pageInfo { hasNextPage endCursor } } }`

export async function audiences(ctx) {
  if (ctx.rest.length) return members(ctx, ctx.rest[0])
  const { api, main } = ctx
  const status = h('div', { 'aria-live': 'polite' })
  const listBox = h('div')
  show(main, h('h1', 'Audiences'), h('p.muted', 'Customers whose current interest score in a category or product is at least the minimum; they enter and leave as scores rise and decay.'), status, h('section.card', h('h2', 'Audiences'), listBox))
  const act = async (call, done) => {
    try {
      await call()
      show(status, notice('ok', done))
      await reload()
      return true
    } catch (error) {
      show(status, notice('error', words(error)))
      return false
    }
  }
  const reload = async () => {
    const data = await api.request(LIST)
    show(
      listBox,
      table(
        [
          { label: 'Title', cell: (a) => link(`#/audiences/${encodeURIComponent(a.audienceId)}`, a.title) },
          { label: 'Interest in', cell: (a) => (a.categoryId ? `category ${a.categoryId}` : `product ${a.productId}`) },
          { label: 'Minimum score', num: true, cell: (a) => num(a.minScore) },
          { label: 'Members', num: true, cell: (a) => num(a.size) },
          { label: 'Created', cell: (a) => when(a.createdAt) },
          { label: 'Actions', cell: (a) => confirmButton('Delete', 'Delete this audience?', () => act(() => api.request(DELETE, { audienceId: a.audienceId }), 'Audience deleted.')) },
        ],
        data.audiences,
        { empty: 'No audiences yet.', rowData: (a) => ({ audienceId: a.audienceId }) }
      )
    )
  }
  await reload()
  main.append(h('section.card', audienceForm((input) => act(() => api.request(CREATE, { audience: input }), 'Audience created.'))))
}

function audienceForm(onSave) {
  const title = h('input', { name: 'title', required: true })
  const kind = h('select', { name: 'kind' }, h('option', { value: 'categoryId' }, 'Category'), h('option', { value: 'productId' }, 'Product'))
  const item = h('input', { name: 'itemId', required: true })
  const minScore = h('input', { name: 'minScore', type: 'number', step: 'any', min: '0', required: true })
  const form = h(
    'form.editor',
    {
      onsubmit: async (e) => {
        e.preventDefault()
        if (await onSave({ title: title.value.trim(), [kind.value]: item.value.trim(), minScore: Number(minScore.value) })) form.reset()
      },
    },
    h('h2', 'New audience'),
    field('Title', title),
    field('Interest in', kind),
    field('Category or product id', item),
    field('Minimum score', minScore),
    h('div.actions', h('button', { type: 'submit' }, 'Create audience'))
  )
  return form
}

async function members({ api, main }, audienceId) {
  const rows = []
  const body = h('div')
  const more = h('button.quiet', { type: 'button', hidden: true }, 'Show more')
  let cursor = null
  show(main, h('p', h('a', { href: '#/audiences' }, '← All audiences')), h('h1', 'Audience members'), h('section.card', body, more))
  const load = async () => {
    try {
      const data = await api.request(MEMBERS, { audienceId, after: cursor })
      rows.push(...data.audienceMembers.nodes)
      cursor = data.audienceMembers.pageInfo.endCursor
      more.hidden = !data.audienceMembers.pageInfo.hasNextPage
      show(
        body,
        table(
          [
            { label: 'Customer', cell: (c) => link(customerHref(c.userId), c.userId) },
            { label: 'Last seen', cell: (c) => when(c.lastSeenAt) },
          ],
          rows,
          { empty: 'Nobody is in this audience now.', rowData: (c) => ({ userId: c.userId }) }
        )
      )
    } catch (error) {
      show(body, notice('error', words(error)))
    }
  }
  more.addEventListener('click', load)
  await load()
}
