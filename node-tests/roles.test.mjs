// Least-privilege roles (scripts/create-roles.mjs) on a server that requires authentication: the site's
// user can do everything the website needs and nothing more; the worker's user runs the real worker.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import http from 'node:http'
import { MongoClient } from 'mongodb'
import { startDb, waitFor } from './harness.mjs'

const require = createRequire(import.meta.url)
const { PrintCore } = require('..')
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const targetDir = process.env.CARGO_TARGET_DIR || path.join(os.homedir(), '.cache', 'printcore', 'target')
const DB = 'roles_shop'

let server, hostPort
const withUser = (user, pwd) => `mongodb://${user}:${encodeURIComponent(pwd)}@${hostPort}/?directConnection=true&authSource=admin`

before(async () => {
  server = await startDb({ auth: true })
  hostPort = server.uri.split('://')[1].split('/')[0]
  // The first user, through the localhost exception; then the shop's data as the website creates it.
  const bootstrap = new MongoClient(server.uri)
  await bootstrap.db('admin').command({ createUser: 'admin', pwd: 'admin-pw', roles: ['root'] })
  await bootstrap.close()
  const admin = new MongoClient(withUser('admin', 'admin-pw'))
  await admin.db(DB).collection('orders').insertMany([
    { orderId: 'R-1', paymentStatus: 'pending', createdAt: new Date(), fileURL: 'http://127.0.0.1/x.pdf' },
    { orderId: 'R-2', paymentStatus: 'pending', createdAt: new Date(), fileURL: 'http://127.0.0.1/x.pdf' },
  ])
  // The website's own collections beside the print ones: none of printcore's business.
  await admin.db(DB).collection('users').insertOne({ email: 'customer@example.com', passwordHash: 'x' })
  await admin.close()
})
after(() => server?.stop())

async function refused(what, promise) {
  await assert.rejects(promise, /not authorized|Unauthorized/i, `${what} should be refused`)
}

function run(cmd, args, env) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    child.on('exit', (code) => resolve({ code, out }))
  })
}

test('create-roles makes the roles and users, twice safely', async () => {
  const env = { ADMIN_URI: withUser('admin', 'admin-pw'), PRINTCORE_DB: DB, WORKER_PASSWORD: 'worker-pw', SITE_PASSWORD: 'site-pw' }
  const first = await run(process.execPath, [path.join(root, 'scripts', 'create-roles.mjs')], env)
  assert.equal(first.code, 0, first.out)
  assert.match(first.out, /created role printcoreWorker/)
  assert.match(first.out, /created user printcore-site/)
  const second = await run(process.execPath, [path.join(root, 'scripts', 'create-roles.mjs')], env)
  assert.equal(second.code, 0, second.out)
  assert.match(second.out, /updated role printcoreSite/)
  assert.ok(!second.out.includes('admin-pw'), 'no password in the output')

  // The migration, as an admin (it creates indexes).
  const adminCore = await PrintCore.connect(withUser('admin', 'admin-pw'), { dbName: DB })
  await adminCore.migrate()
})

test("the site's user does what the website needs and nothing more", async () => {
  const core = await PrintCore.connect(withUser('printcore-site', 'site-pw'), { dbName: DB })
  assert.equal((await core.markPaid('R-1')).outcome, 'queued')
  const snap = await core.snapshot()
  assert.deepEqual(snap.pending.map((o) => o.orderId), ['R-1'])
  const admin = { adminId: '1', adminEmail: 'boss@shop.example', reason: 'test' }
  assert.equal((await core.cancel('R-1', admin)).newStatus, 'cancelled')
  assert.equal((await core.logs({ orderId: 'R-1' })).items.length, 2)
  // The monitor's reads: the order search and the metrics buckets (an aggregation) need only find.
  assert.deepEqual((await core.orders({ orderId: 'R-1' })).items.map((o) => o.orderId), ['R-1'])
  assert.deepEqual(await core.metrics({ bucketMinutes: 30 }), [])
  const events = []
  const sub = core.watch((e) => events.push(e))
  await new Promise((r) => setTimeout(r, 300))
  await core.markPaid('R-2')
  const event = await waitFor('a change event for the site user', 2000, () => events.find((e) => e.id === 'R-2'))
  // From the change streams on orders and printers, not the polling fallback (which would hide a
  // privilege the role lacks).
  assert.equal(event.source, 'change_stream')
  const printers = new MongoClient(withUser('admin', 'admin-pw'))
  await printers.db(DB).collection('printers').insertOne({ printer_id: 'watched', name: 'Watched', status: 'online' })
  await printers.close()
  const printerEvent = await waitFor('a printer event for the site user', 2000, () => events.find((e) => e.kind === 'printer'))
  assert.equal(printerEvent.id, 'watched')
  assert.equal(printerEvent.source, 'change_stream')
  sub.close()

  const raw = new MongoClient(withUser('printcore-site', 'site-pw'))
  try {
    await refused('site: delete orders', raw.db(DB).collection('orders').deleteMany({ orderId: 'none' }))
    await refused('site: insert printers', raw.db(DB).collection('printers').insertOne({ printer_id: 'x' }))
    await refused('site: read another database', raw.db('other').collection('x').find({}).toArray())
    await refused("site: read the shop's users", raw.db(DB).collection('users').find({}).toArray())
    await refused("site: watch the shop's whole database", raw.db(DB).watch().tryNext())
  } finally {
    await raw.close()
  }
})

test("the worker's user runs the real worker and may not delete or forge orders", async () => {
  const pdf = fs.readFileSync(path.join(root, 'tests', 'corpus', 'pdf', 'ok-a4-1page.pdf'))
  const files = http.createServer((req, res) => res.writeHead(200).end(pdf))
  await new Promise((r) => files.listen(0, '127.0.0.1', r))
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'roles-'))
  const admin = new MongoClient(withUser('admin', 'admin-pw'))
  await admin.db(DB).collection('orders').updateOne({ orderId: 'R-2' }, { $set: { fileURL: `http://127.0.0.1:${files.address().port}/a.pdf` } })
  const config = path.join(tmp, 'worker.toml')
  fs.writeFileSync(
    config,
    `[database]\nuri = "${withUser('printcore-worker', 'worker-pw')}"\nname = "${DB}"\n[worker]\npoll_interval_secs = 0.5\nhealth_interval_secs = 0.5\n` +
      `[files]\nallowed_hosts = ["127.0.0.1:*"]\nallow_loopback = true\nallow_http = true\n` +
      `[[printers]]\nid = "f"\nname = "Folder"\nbackend = "file"\nfolder = "${path.join(tmp, 'out')}"\n`,
  )
  const worker = spawn(path.join(targetDir, 'debug', 'worker'), ['--config', config, 'run'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  worker.stderr.on('data', (d) => (log += d))
  try {
    await waitFor('R-2 printed by the worker user', 30_000, async () => (await admin.db(DB).collection('orders').findOne({ orderId: 'R-2' })).printStatus === 'printed')
    assert.ok(!/not authorized/i.test(log), `the worker hit a privilege it lacks:\n${log}`)
    assert.ok(!log.includes('worker-pw'), 'the password is not logged')
  } finally {
    worker.kill('SIGKILL')
    files.close()
    await admin.close()
  }
  const raw = new MongoClient(withUser('printcore-worker', 'worker-pw'))
  try {
    await refused('worker: delete orders', raw.db(DB).collection('orders').deleteMany({ orderId: 'none' }))
    await refused('worker: insert orders', raw.db(DB).collection('orders').insertOne({ orderId: 'forged' }))
    await refused('worker: drop print_logs', raw.db(DB).collection('print_logs').drop())
  } finally {
    await raw.close()
  }
})
