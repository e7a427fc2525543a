// The package's contract against its sources: every error code printcore (Rust) can return is in the
// package's ERROR_CODES, its ErrorCode type and the README's table; the missing-addon error names the
// platform and the package to install.
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

test('every code of printcore::Error is in ERROR_CODES, the ErrorCode type and the README', () => {
  const rust = read('printcore/src/error.rs')
  const returned = [...rust.matchAll(/=> "([A-Z_]+)",/g)].map((m) => m[1])
  const listed = [...rust.slice(rust.indexOf('pub const ERROR_CODES')).split('];')[0].matchAll(/"([A-Z_]+)"/g)].map((m) => m[1])
  assert.deepEqual([...new Set(returned)].sort(), [...listed].sort(), 'error.rs: ERROR_CODES lists what code() returns')
  assert.deepEqual([...ERROR_CODES].sort(), [...listed].sort(), 'lib/printcore.js ERROR_CODES')
  const dts = read('lib/printcore.d.ts')
  const union = dts.slice(dts.indexOf('export type ErrorCode =')).split('\n\n')[0]
  assert.deepEqual([...union.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]).sort(), [...listed].sort(), 'the ErrorCode type')
  const readme = read('README.md')
  for (const code of listed) assert.match(readme, new RegExp(`\\| \`${code}\` \\|`), `the README's table lists ${code}`)
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
