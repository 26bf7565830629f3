// Minifies src/tracker.js into dist/tracker.min.js and copies it to
// app/static/tracker.min.js, the file the server serves at /tracker.js (it is
// committed, so the server never needs Node). Fails above the size budget.
//   node build.mjs           build and write both files
//   import { build } from './build.mjs'   the minified text, in memory
import { readFile, writeFile, mkdir } from 'node:fs/promises'
import { gzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'
import { minify } from 'terser'

const here = (p) => fileURLToPath(new URL(p, import.meta.url))
export const SOURCE = here('./src/tracker.js')
export const DIST = here('./dist/tracker.min.js')
export const STATIC = here('../app/static/tracker.min.js')
export const BUDGET = 3000 // bytes after gzip -9

export async function build() {
  const source = await readFile(SOURCE, 'utf8')
  const out = await minify(source, {
    ecma: 2020,
    compress: { passes: 3, unsafe_arrows: true },
    mangle: true,
    format: { comments: /^!/, ascii_only: true },
  })
  return out.code + '\n'
}

export const gzipSize = (code) => gzipSync(Buffer.from(code), { level: 9 }).length

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const code = await build()
  await mkdir(here('./dist'), { recursive: true })
  await writeFile(DIST, code)
  await writeFile(STATIC, code)
  const gz = gzipSize(code)
  console.log(`tracker.min.js: ${Buffer.byteLength(code)} bytes, ${gz} bytes after gzip -9 (budget ${BUDGET})`)
  if (gz > BUDGET) {
    console.error('over the size budget')
    process.exit(1)
  }
}
