// app/static/dashboard.{js,css,html} (served by the server, committed) must be the
// build of the current source, and within the size budget.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { build, bundleSize, BUDGET, OUTPUTS, STATIC } from '../build.mjs'

test('app/static/dashboard.* are the build of src/ (run `npm run build`)', async () => {
  const files = await build()
  for (const name of OUTPUTS) assert.equal(readFileSync(STATIC + name, 'utf8'), files[name], `${name} is stale`)
})

test(`the dashboard's JS + CSS are at most ${BUDGET} bytes after gzip -9`, async () => {
  const size = bundleSize(await build())
  console.log(`dashboard.js + dashboard.css: ${size} bytes after gzip -9`)
  assert.ok(size <= BUDGET, `${size} > ${BUDGET}`)
})
