// app/static/tracker.min.js (served by the server, committed) must be the build
// of the current source, and within the size budget.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { build, gzipSize, STATIC, BUDGET } from '../build.mjs'

test('app/static/tracker.min.js is the build of src/tracker.js (run `npm run build`)', async () => {
  const code = await build()
  assert.equal(readFileSync(STATIC, 'utf8'), code)
})

test(`the built tracker is at most ${BUDGET} bytes after gzip -9`, async () => {
  const size = gzipSize(await build())
  console.log(`tracker.min.js: ${size} bytes after gzip -9`)
  assert.ok(size <= BUDGET, `${size} > ${BUDGET}`)
})
