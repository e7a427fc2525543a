// The package's contract against its sources: every error code printcore (Rust) can return is in the
// package's ERROR_CODES, its ErrorCode type and the guide's error-code reference (and that page lists no
// other code, with the transient column printcore's); the missing-addon error names the platform and the
// package to install.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const read = (f) => fs.readFileSync(path.join(root, f), 'utf8')
const { ERROR_CODES, PrintCoreError } = require('..')

// printcore's error.rs (a folder module once the library is split into folders).
const errorSource = () =>
  ['printcore/src/error.rs', 'printcore/src/error/mod.rs'].filter((f) => fs.existsSync(path.join(root, f))).map(read).join('\n')

test('every code of printcore::Error is in ERROR_CODES, the ErrorCode type and the guide, and nothing else is', () => {
  const rust = errorSource()
  const returned = [...rust.matchAll(/=> "([A-Z_]+)",/g)].map((m) => m[1])
  const listed = [...rust.slice(rust.indexOf('pub const ERROR_CODES')).split('];')[0].matchAll(/"([A-Z_]+)"/g)].map((m) => m[1])
  assert.ok(listed.length >= 10 && listed.includes('NOT_FOUND') && listed.includes('DATABASE'), `ERROR_CODES read from error.rs: ${listed}`)
  assert.deepEqual([...new Set(returned)].sort(), [...listed].sort(), 'error.rs: ERROR_CODES lists what code() returns')
  assert.deepEqual([...ERROR_CODES].sort(), [...listed].sort(), 'lib/printcore.js ERROR_CODES')
  const dts = read('lib/printcore.d.ts')
  const union = dts.slice(dts.indexOf('export type ErrorCode =')).split('\n\n')[0]
  assert.deepEqual([...union.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]).sort(), [...listed].sort(), 'the ErrorCode type')

  // The guide's table: | `CODE` | yes/no | what it means |
  const page = read('docs/guide/src/reference/errors.md')
  const rows = [...page.matchAll(/^\| `([A-Z_]+)` \| (yes|no) \|/gm)].map((m) => ({ code: m[1], transient: m[2] === 'yes' }))
  const documented = rows.map((r) => r.code)
  assert.equal(new Set(documented).size, documented.length, 'a code is in the guide twice')
  assert.deepEqual([...documented].sort(), [...listed].sort(), 'docs/guide/src/reference/errors.md lists exactly the codes printcore returns')

  // transient: the code() arms whose pattern is one of is_transient's.
  const code = rust.slice(rust.indexOf('pub fn code(&self)')).split('\n    }\n')[0]
  const isTransient = rust.slice(rust.indexOf('pub fn is_transient(&self)')).split('\n    }\n')[0]
  const transient = new Map()
  for (const m of code.matchAll(/^\s*(Error::.+?) => "([A-Z_]+)",$/gm)) {
    const patterns = m[1].split(' | ').map((p) => p.trim())
    const t = patterns.some((p) => isTransient.includes(p))
    transient.set(m[2], (transient.get(m[2]) ?? false) || t)
  }
  assert.deepEqual([...transient.keys()].sort(), [...listed].sort(), 'every arm of code() was read')
  assert.ok([...transient.values()].some(Boolean) && [...transient.values()].some((t) => !t), 'both kinds were found')
  for (const r of rows) assert.equal(r.transient, transient.get(r.code), `the guide's transient column for ${r.code}`)
  assert.ok(Object.isFrozen(ERROR_CODES))
  assert.equal(typeof PrintCoreError, 'function')
})

test('without its platform package, the package says which platform and which package to install', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'printcore-noaddon-'))
  try {
    for (const f of ['package.json', 'index.js', 'lib/platform.js', 'lib/printcore.js']) {
      fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true })
      fs.copyFileSync(path.join(root, f), path.join(dir, f))
    }
    const env = { ...process.env }
    delete env.NAPI_RS_NATIVE_LIBRARY_PATH
    const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(path.join(dir, 'lib', 'printcore.js'))})`], { env, encoding: 'utf8' })
    assert.notEqual(r.status, 0)
    const { currentPlatform } = require('..')
    const platform = currentPlatform()
    const { version } = JSON.parse(read('package.json'))
    assert.match(r.stderr, new RegExp(`\\(${platform}\\)`))
    assert.ok(r.stderr.includes(`npm install printcore-${platform}@${version}`), r.stderr)
    assert.match(r.stderr, /ERR_PRINTCORE_NATIVE_MISSING/)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})
