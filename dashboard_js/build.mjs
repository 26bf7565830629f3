// Bundles src/ (with graphql-ws and uPlot) into app/static/dashboard.js and
// dashboard.css, and copies src/index.html to app/static/dashboard.html: the
// files the server serves at /dashboard (committed, so the server never needs
// Node). Fails above the size budget.
//   node build.mjs                          build and write the files
//   import { build } from './build.mjs'     the built files, in memory
import { readFile, writeFile } from 'node:fs/promises'
import { gzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'
import * as esbuild from 'esbuild'

const here = (p) => fileURLToPath(new URL(p, import.meta.url))
export const STATIC = here('../app/static/')
export const OUTPUTS = ['dashboard.js', 'dashboard.css', 'dashboard.html']
export const BUDGET = 80 * 1024 // bytes of JS + CSS after gzip -9

/** {'dashboard.js': text, 'dashboard.css': text, 'dashboard.html': text} */
export async function build() {
  const result = await esbuild.build({
    entryPoints: { dashboard: here('./src/main.js') },
    bundle: true,
    minify: true,
    format: 'iife',
    target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
    charset: 'utf8',
    legalComments: 'eof',
    outdir: 'out',
    write: false,
    logLevel: 'silent',
  })
  const files = {}
  for (const file of result.outputFiles) files[file.path.split('/').pop()] = file.text
  files['dashboard.html'] = await readFile(here('./src/index.html'), 'utf8')
  return files
}

export const gzipSize = (text) => gzipSync(Buffer.from(text), { level: 9 }).length
export const bundleSize = (files) => gzipSize(files['dashboard.js']) + gzipSize(files['dashboard.css'])

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const files = await build()
  for (const name of OUTPUTS) await writeFile(STATIC + name, files[name])
  const size = bundleSize(files)
  console.log(`dashboard.js + dashboard.css: ${size} bytes after gzip -9 (budget ${BUDGET})`)
  if (size > BUDGET) {
    console.error('over the size budget')
    process.exit(1)
  }
}
