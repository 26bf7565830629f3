// #/rules: the shop's trigger rules (contract section 7): list, create, edit, delete.
import { words } from '../api.js'
import { TRIGGER_TYPES, confirmButton, field, h, list, notice, num, show, table, when } from '../dom.js'

const RULE = 'ruleId type title enabled match delaySeconds capSeconds createdAt'
const LIST = `query($shopId: Int!) { triggerRules(shopId: $shopId) { ${RULE} } }`
const CREATE = `mutation($shopId: Int!, $rule: TriggerRuleInput!) { createTriggerRule(shopId: $shopId, rule: $rule) { ${RULE} } }`
const UPDATE = `mutation($shopId: Int!, $ruleId: ID!, $rule: TriggerRuleInput!) { updateTriggerRule(shopId: $shopId, ruleId: $ruleId, rule: $rule) { ${RULE} } }`
const DELETE = 'mutation($shopId: Int!, $ruleId: ID!) { deleteTriggerRule(shopId: $shopId, ruleId: $ruleId) }'

const RULE_TYPES = TRIGGER_TYPES.filter((t) => !t.startsWith('AUDIENCE_'))
const ABANDONMENT = new Set(['ABANDONED_CART', 'ABANDONED_BROWSE', 'ABANDONED_CATEGORY'])
const MATCHES = {
  SECTION_VISITED: 'Page names',
  CUSTOM_EVENT: 'Event names',
  ABANDONED_BROWSE: 'Category ids',
  ABANDONED_CATEGORY: 'Category ids',
}

export async function rules({ api, main }) {
  const status = h('div', { 'aria-live': 'polite' })
  const listBox = h('div')
  const formBox = h('section.card')
  show(main, h('h1', 'Trigger rules'), h('p.muted', 'A trigger fires only through an enabled rule. Several rules of one type may fire for the same event.'), status, h('section.card', h('h2', 'Rules'), listBox), formBox)

  const reload = async () => {
    const data = await api.request(LIST)
    show(
      listBox,
      table(
        [
          { label: 'Type', cell: (r) => r.type },
          { label: 'Title', cell: (r) => r.title ?? '—' },
          { label: 'Enabled', cell: (r) => (r.enabled ? 'yes' : 'no') },
          { label: 'Matches', cell: (r) => (r.match.length ? r.match.join(', ') : 'any') },
          { label: 'Delay (s)', num: true, cell: (r) => num(r.delaySeconds) },
          { label: 'Cap (s)', num: true, cell: (r) => (r.capSeconds ? num(r.capSeconds) : 'none') },
          { label: 'Created', cell: (r) => when(r.createdAt) },
          {
            label: 'Actions',
            cell: (r) => [
              h('button.quiet', { type: 'button', onclick: () => edit(r) }, 'Edit'),
              confirmButton('Delete', 'Delete this rule?', () => act(() => api.request(DELETE, { ruleId: r.ruleId }), 'Rule deleted.')),
            ],
          },
        ],
        data.triggerRules,
        { empty: 'No rules: no trigger fires.', rowData: (r) => ({ ruleId: r.ruleId, type: r.type }) }
      )
    )
  }
  const act = async (call, done) => {
    try {
      await call()
      show(status, notice('ok', done))
      await reload()
      edit(null)
      return true
    } catch (error) {
      show(status, notice('error', words(error)))
      return false
    }
  }
  const edit = (rule) => {
    show(formBox, ruleForm(rule, (input) => (rule ? act(() => api.request(UPDATE, { ruleId: rule.ruleId, rule: input }), 'Rule saved.') : act(() => api.request(CREATE, { rule: input }), 'Rule created.')), () => edit(null)))
    if (rule) formBox.querySelector('input[name="title"]').focus()
  }
  await reload()
  edit(null)
}

function ruleForm(rule, onSave, onCancel) {
  const type = h('select', { name: 'type', disabled: Boolean(rule) }, RULE_TYPES.map((t) => h('option', { value: t, selected: rule?.type === t }, t)))
  const title = h('input', { name: 'title', value: rule?.title ?? '', maxlength: '200' })
  const enabled = h('input', { type: 'checkbox', name: 'enabled', checked: rule ? rule.enabled : true })
  const match = h('input', { name: 'match', value: (rule?.match ?? []).join(', ') })
  const delay = h('input', { name: 'delaySeconds', type: 'number', min: '1', step: '1', value: rule?.delaySeconds ?? '' })
  const cap = h('input', { name: 'capSeconds', type: 'number', min: '0', step: '1', value: rule?.capSeconds ?? 0 })
  const matchField = field('Matches', match)
  const delayField = field('Delay (seconds of quiet before firing)', delay)
  const adapt = () => {
    matchField.hidden = !MATCHES[type.value]
    matchField.querySelector('.label').textContent = `${MATCHES[type.value] || 'Matches'} (comma-separated; empty = any)`
    delayField.hidden = !ABANDONMENT.has(type.value)
  }
  type.addEventListener('change', adapt)
  adapt()
  const submit = (e) => {
    e.preventDefault()
    const input = { type: type.value, title: title.value.trim() || null, enabled: enabled.checked, capSeconds: Number(cap.value || 0) }
    if (MATCHES[type.value]) input.match = list(match.value)
    if (ABANDONMENT.has(type.value) && delay.value) input.delaySeconds = Number(delay.value)
    onSave(input)
  }
  return h(
    'form.editor',
    { onsubmit: submit, dataset: { editing: rule?.ruleId ?? '' } },
    h('h2', rule ? `Edit rule ${rule.title || rule.type}` : 'New rule'),
    field('Type', type),
    field('Title', title),
    h('label.check', enabled, ' Enabled'),
    matchField,
    delayField,
    field('Cap (seconds: at most one trigger per customer in this window; 0 = none)', cap),
    h('div.actions', h('button', { type: 'submit' }, rule ? 'Save rule' : 'Create rule'), rule && h('button.quiet', { type: 'button', onclick: onCancel }, 'Cancel'))
  )
}
