// No password in any output: redactUri (printcore's one redaction, exported by the package) and the
// scripts that print a connection string, with passwords holding the characters that used to leak.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const { PrintCore, connectionStringProblem, redactUri } = require('..')
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

const awkward = ['Tr0ub@dor&3', 'se/cret-pw', 'se?cret-pw', 'se#cret-pw', 'p@ss:w/rd?#x', 'p@ss@other-host']

test('redactUri hides any password, whatever it holds', () => {
  for (const pw of awkward) {
    const out = redactUri(`mongodb://shop:${pw}@db1:27017,db2:27017/printshop?authSource=admin`)
    assert.equal(out, 'mongodb://shop:****@db1:27017,db2:27017/printshop?authSource=admin', pw)
  }
  assert.equal(redactUri('mongodb+srv://shop:p%40ss@cluster0.x.mongodb.net/'), 'mongodb+srv://shop:****@cluster0.x.mongodb.net/')
  assert.equal(redactUri('mongodb://127.0.0.1:27017/'), 'mongodb://127.0.0.1:27017/')
  // Random passwords over the awkward characters (the Rust side runs a proptest of the same rule).
  const chars = 'abcXYZ019@/?#:%&=+ !é'
  for (let i = 0; i < 2000; i++) {
    const len = 8 + Math.floor(Math.random() * 24)
    let pw = ''
    for (let j = 0; j < len; j++) pw += chars[Math.floor(Math.random() * chars.length)]
    const uri = `mongodb://shop:${pw}@db.example:27017/printshop?retryWrites=true`
    const out = redactUri(uri)
    assert.ok(!out.includes(pw), `${uri} -> ${out}`)
    assert.ok(out.startsWith('mongodb://shop:****@'), out)
  }
})

test('a password a driver would misread is refused before connecting, without naming it', async () => {
  for (const pw of awkward) {
    const uri = `mongodb://shop:${pw}@127.0.0.1:1/?serverSelectionTimeoutMS=300`
    const problem = connectionStringProblem(uri)
    assert.ok(problem && problem.includes('percent-encode'), `${pw}: ${problem}`)
    assert.ok(!problem.includes(pw), problem)
    await assert.rejects(PrintCore.connect(uri), (e) => e.code === 'INVALID_ARGUMENT' && !e.message.includes(pw))
  }
  assert.equal(connectionStringProblem(`mongodb://shop:${encodeURIComponent('p@ss/w?#')}@db:27017/`), null)
  assert.equal(connectionStringProblem('mongodb://127.0.0.1:27017/?directConnection=true'), null)
})

function run(script, env) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(root, 'scripts', script)], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    child.on('exit', (code) => resolve({ code, out }))
  })
}

// Nothing listens on port 1: each script prints the connection string it tried, then fails.
const unreachable = (pw) => `mongodb://shop:${pw}@127.0.0.1:1/?serverSelectionTimeoutMS=300&connectTimeoutMS=300`

test('migrate-print-status never prints the password', async () => {
  for (const pw of ['Tr0ub@dor&3', 'p@ss:w@rd-9']) {
    const { code, out } = await run('migrate-print-status.js', { MONGODB_URI: unreachable(pw), PRINTCORE_DB: 'redact_test' })
    assert.notEqual(code, 0, out)
    assert.match(out, /connecting to mongodb:\/\/shop:\*\*\*\*@127\.0\.0\.1:1/)
    for (const part of [pw, ...pw.split('@').filter((p) => p.length > 3)]) assert.ok(!out.includes(part), `"${part}" leaked:\n${out}`)
  }
})

test('create-roles never prints the password', async () => {
  for (const pw of ['Tr0ub@dor&3', 'p@ss:w@rd-9', 'se/cret-pw']) {
    const { code, out } = await run('create-roles.mjs', { ADMIN_URI: unreachable(pw), PRINTCORE_DB: 'redact_test' })
    assert.equal(code, 2, out)
    assert.match(out, /ADMIN_URI: .*percent-encode/)
    for (const part of [pw, ...pw.split(/[@/]/).filter((p) => p.length > 3)]) assert.ok(!out.includes(part), `"${part}" leaked:\n${out}`)
  }
  // Encoded as it should be: the connection fails and the string is shown redacted.
  const pw = 'Tr0ub@dor&3'
  const { code, out } = await run('create-roles.mjs', { ADMIN_URI: unreachable(encodeURIComponent(pw)), PRINTCORE_DB: 'redact_test' })
  assert.equal(code, 1, out)
  assert.match(out, /create-roles failed on mongodb:\/\/shop:\*\*\*\*@127\.0\.0\.1:1/)
  assert.ok(!out.includes(encodeURIComponent(pw)) && !out.includes('dor&3'), out)
})
