// Least-privilege roles (scripts/create-roles.mjs) on a server that requires authentication: the site's
// user can do everything the website needs and nothing more; the worker's user runs the real worker and
// nothing more; the migration's user migrates. The last test pins what a stolen worker password can still
// do, as docs/security-credentials.md tells the shop.
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
const createRoles = path.join(root, 'scripts', 'create-roles.mjs')

let server, hostPort
const withUser = (user, pwd) => `mongodb://${user}:${encodeURIComponent(pwd)}@${hostPort}/?directConnection=true&authSource=admin`
const adminEnv = () => ({ ADMIN_URI: withUser('admin', 'admin-pw'), PRINTCORE_DB: DB })

before(async () => {
  server = await startDb({ auth: true })
  hostPort = server.uri.split('://')[1].split('/')[0]
  // The first user, through the localhost exception; then the shop's data as the website creates it.
  const bootstrap = new MongoClient(server.uri)
  await bootstrap.db('admin').command({ createUser: 'admin', pwd: 'admin-pw', roles: ['root'] })
  await bootstrap.close()
  const admin = new MongoClient(withUser('admin', 'admin-pw'))
  // What a website may keep on its orders beside printcore's fields: the customer.
  const customer = { name: 'Ada Customer', email: 'ada@example.com', address: '1 Example Street' }
  await admin.db(DB).collection('orders').insertMany([
    { orderId: 'R-1', paymentStatus: 'pending', createdAt: new Date(), fileURL: 'http://127.0.0.1/x.pdf', customer },
    { orderId: 'R-2', paymentStatus: 'pending', createdAt: new Date(), fileURL: 'http://127.0.0.1/x.pdf', customer },
  ])
  // The website's own collections beside the print ones: none of printcore's business.
  await admin.db(DB).collection('users').insertOne({ email: 'customer@example.com', passwordHash: 'x' })
  await admin.close()
})
after(() => server?.stop())

const NOT_AUTHORIZED = /not authorized|Unauthorized/i
async function refused(what, promise) {
  await assert.rejects(promise, NOT_AUTHORIZED, `${what} should be refused`)
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

/** Runs create-roles with every database command it sends written to a file (passwords left out): what
 * the script asks of the server, whether or not the server keeps it. */
async function runLogged(env) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'create-roles-'))
  const hook = path.join(dir, 'log-commands.cjs')
  const log = path.join(dir, 'commands.jsonl')
  fs.writeFileSync(
    hook,
    `const fs = require('node:fs')\nconst { Db } = require(${JSON.stringify(require.resolve('mongodb'))})\n` +
      `const command = Db.prototype.command\n` +
      `Db.prototype.command = function (cmd, ...rest) {\n` +
      `  const { pwd, ...shown } = cmd\n` +
      `  fs.appendFileSync(${JSON.stringify(log)}, JSON.stringify({ ...shown, pwdGiven: pwd !== undefined }) + '\\n')\n` +
      `  return command.call(this, cmd, ...rest)\n}\n`,
  )
  const result = await run(process.execPath, ['--require', hook, createRoles], env)
  const commands = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l)) : []
  fs.rmSync(dir, { recursive: true, force: true })
  return { ...result, commands }
}

async function privilegesOf(role) {
  const admin = new MongoClient(withUser('admin', 'admin-pw'))
  try {
    const info = await admin.db('admin').command({ rolesInfo: role, showPrivileges: true })
    return Object.fromEntries(info.roles[0].privileges.map((p) => [p.resource.collection, [...p.actions].sort()]))
  } finally {
    await admin.close()
  }
}

test('create-roles makes the roles and users, twice safely; the migration runs under its own user', async () => {
  const env = { ...adminEnv(), WORKER_PASSWORD: 'worker-pw', SITE_PASSWORD: 'site-pw', MIGRATE_PASSWORD: 'migrate-pw' }
  const first = await run(process.execPath, [createRoles], env)
  assert.equal(first.code, 0, first.out)
  assert.match(first.out, /created role printcoreWorker/)
  assert.match(first.out, /created user printcore-site/)
  assert.match(first.out, /created user printcore-migrate/)
  const second = await run(process.execPath, [createRoles], env)
  assert.equal(second.code, 0, second.out)
  assert.match(second.out, /updated role printcoreSite/)
  for (const pw of ['admin-pw', 'worker-pw', 'site-pw', 'migrate-pw']) assert.ok(!second.out.includes(pw), 'no password in the output')

  // Exactly what the worker issues (docs/security-credentials.md says which call needs which action).
  assert.deepEqual(await privilegesOf('printcoreWorker'), {
    orders: ['changeStream', 'find', 'update'],
    printers: ['changeStream', 'find', 'insert', 'update'],
    print_logs: ['find', 'insert'],
    metrics: ['insert'],
    alerts: ['find', 'insert', 'update'],
  })

  // The migration as its own user: it lists indexes, creates them, and replaces the old printJobId index.
  const migrator = await PrintCore.connect(withUser('printcore-migrate', 'migrate-pw'), { dbName: DB })
  const report = await migrator.migrate()
  assert.ok(report.indexes.length > 0, JSON.stringify(report))
  await migrator.migrate()
})

test('create-roles refuses an address list that is not one, before connecting', async () => {
  for (const bad of ['203.0.113.7/33', '203.0.113.7,print-pc.local', '2001:db8::/129']) {
    const r = await run(process.execPath, [createRoles], { ADMIN_URI: 'mongodb://127.0.0.1:1/', WORKER_CLIENT_SOURCE: bad })
    assert.equal(r.code, 2, r.out)
    assert.match(r.out, /WORKER_CLIENT_SOURCE: ".*" is /)
    assert.doesNotMatch(r.out, /failed on/, 'no connection was tried')
  }
})

test('create-roles restricts where the worker may log in from (authenticationRestrictions)', async (t) => {
  // Restricting needs no new password: the stored one stays.
  const restricted = await runLogged({ ...adminEnv(), WORKER_CLIENT_SOURCE: '203.0.113.7/32, 10.0.0.0/24' })
  assert.equal(restricted.code, 0, restricted.out)
  assert.match(restricted.out, /printcore-worker may log in only from 203\.0\.113\.7\/32, 10\.0\.0\.0\/24/)
  const sent = restricted.commands.find((c) => c.updateUser === 'printcore-worker')
  assert.ok(sent, `no updateUser for printcore-worker among ${JSON.stringify(restricted.commands)}`)
  assert.deepEqual(sent.authenticationRestrictions, [{ clientSource: ['203.0.113.7/32', '10.0.0.0/24'] }])
  assert.equal(sent.pwdGiven, false, 'the password is not changed')
  assert.ok(!restricted.commands.some((c) => c.updateUser === 'printcore-site'), 'the site user is left alone')

  const admin = new MongoClient(withUser('admin', 'admin-pw'))
  try {
    const info = await admin.db('admin').command({ usersInfo: 'printcore-worker', showAuthenticationRestrictions: true })
    assert.deepEqual(info.users[0].authenticationRestrictions.flat(), [{ clientSource: ['203.0.113.7/32', '10.0.0.0/24'] }])
  } finally {
    await admin.close()
  }
  // Enforcing it is the server's part: MongoDB refuses the login from this machine's 127.0.0.1. SecantusDB
  // (the test server) stores the restriction but does not enforce it; the test says which it met.
  const thief = new MongoClient(withUser('printcore-worker', 'worker-pw'), { serverSelectionTimeoutMS: 3000 })
  try {
    const enforced = await thief.db(DB).collection('orders').findOne({}).then(() => false, (e) => /auth/i.test(e.message))
    t.diagnostic(`the test server ${enforced ? 'enforces' : 'stores but does not enforce'} authenticationRestrictions`)
  } finally {
    await thief.close()
  }

  // `any` lifts it; then the print PC's address (this machine), under which the worker test below runs.
  const lifted = await runLogged({ ...adminEnv(), WORKER_CLIENT_SOURCE: 'any' })
  assert.deepEqual(lifted.commands.find((c) => c.updateUser === 'printcore-worker').authenticationRestrictions, [])
  assert.equal(lifted.code, 0, lifted.out)
  assert.match(lifted.out, /printcore-worker may log in from any address/)
  const local = await runLogged({ ...adminEnv(), WORKER_CLIENT_SOURCE: '127.0.0.1/32', WORKER_SERVER_ADDRESS: '127.0.0.1' })
  assert.deepEqual(local.commands.find((c) => c.updateUser === 'printcore-worker').authenticationRestrictions, [
    { clientSource: ['127.0.0.1/32'], serverAddress: ['127.0.0.1'] },
  ])
  // Without its password a user that does not exist is not created (the restriction alone is no user).
  const admin2 = new MongoClient(withUser('admin', 'admin-pw'))
  await admin2.db('admin').command({ dropUser: 'printcore-migrate' })
  await admin2.close()
  const missing = await run(process.execPath, [createRoles], { ...adminEnv(), MIGRATE_CLIENT_SOURCE: '127.0.0.1' })
  assert.equal(missing.code, 1, missing.out)
  assert.match(missing.out, /user printcore-migrate does not exist: set MIGRATE_PASSWORD to create it/)
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
  const shop = raw.db(DB)
  try {
    await refused('site: delete orders', shop.collection('orders').deleteMany({ orderId: 'none' }))
    await refused('site: insert orders', shop.collection('orders').insertOne({ orderId: 'forged' }))
    await refused('site: insert printers', shop.collection('printers').insertOne({ printer_id: 'x' }))
    await refused('site: update printers', shop.collection('printers').updateOne({ printer_id: 'watched' }, { $set: { isActive: false } }))
    await refused('site: rewrite the audit log', shop.collection('print_logs').updateMany({}, { $set: { reason: 'x' } }))
    await refused('site: delete from the audit log', shop.collection('print_logs').deleteMany({}))
    await refused('site: write metrics', shop.collection('metrics').insertOne({ x: 1 }))
    await refused('site: read another database', raw.db('other').collection('x').find({}).toArray())
    await refused("site: read the shop's users", shop.collection('users').find({}).toArray())
    await refused("site: watch the shop's whole database", shop.watch().tryNext())
  } finally {
    await raw.close()
  }
})

test("the worker's user runs the real worker, every loop of it, and may do nothing it does not need", async () => {
  const pdf = fs.readFileSync(path.join(root, 'tests', 'corpus', 'pdf', 'ok-a4-1page.pdf'))
  const files = http.createServer((req, res) => res.writeHead(200).end(pdf))
  await new Promise((r) => files.listen(0, '127.0.0.1', r))
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'roles-'))
  const admin = new MongoClient(withUser('admin', 'admin-pw'))
  const shopAsAdmin = admin.db(DB)
  await shopAsAdmin.collection('orders').updateOne({ orderId: 'R-2' }, { $set: { fileURL: `http://127.0.0.1:${files.address().port}/a.pdf` } })
  const config = path.join(tmp, 'worker.toml')
  // Every loop at half a second: claims, health, recovery, the stuck check, cancel requests and metrics
  // all run under the worker's user while the test watches.
  fs.writeFileSync(
    config,
    `[database]\nuri = "${withUser('printcore-worker', 'worker-pw')}"\nname = "${DB}"\n` +
      `[worker]\npoll_interval_secs = 0.5\nhealth_interval_secs = 0.5\nrecovery_interval_secs = 0.5\n` +
      `stuck_check_interval_secs = 0.5\nmetrics_interval_secs = 0.5\njob_poll_interval_secs = 0.5\n` +
      `[files]\nallowed_hosts = ["127.0.0.1:*"]\nallow_loopback = true\nallow_http = true\n` +
      `[[printers]]\nid = "f"\nname = "Folder"\nbackend = "file"\nfolder = "${path.join(tmp, 'out')}"\n`,
    { mode: 0o600 }, // it holds the password
  )
  const worker = spawn(path.join(targetDir, 'debug', 'worker'), ['--config', config, 'run'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  worker.stderr.on('data', (d) => (log += d))
  const withLog = (e) => {
    throw new Error(`${e.message}; the worker's log:\n${log}`)
  }
  try {
    await waitFor('R-2 printed by the worker user', 30_000, async () => (await shopAsAdmin.collection('orders').findOne({ orderId: 'R-2' })).printStatus === 'printed').catch(withLog)
    // Its audit entries (insert on print_logs), its printer's health (the upsert: find, insert, update on
    // printers) and a metrics sample (counting print_logs, reading orders, inserting into metrics).
    await waitFor('the printed entry in print_logs', 10_000, () => shopAsAdmin.collection('print_logs').findOne({ orderId: 'R-2', action: 'printed' })).catch(withLog)
    await waitFor("printer f's health", 10_000, () => shopAsAdmin.collection('printers').findOne({ printer_id: 'f', health_checked_at: { $exists: true } })).catch(withLog)
    await waitFor('a metrics sample', 10_000, () => shopAsAdmin.collection('metrics').findOne({})).catch(withLog)
    // A few more rounds of every loop, then not one refusal in the log.
    await new Promise((r) => setTimeout(r, 2000))
    assert.ok(!NOT_AUTHORIZED.test(log), `the worker hit a privilege it lacks:\n${log}`)
    assert.ok(!log.includes('worker-pw'), 'the password is not logged')
  } finally {
    worker.kill('SIGKILL')
    files.close()
    await admin.close()
  }
  const raw = new MongoClient(withUser('printcore-worker', 'worker-pw'))
  const shop = raw.db(DB)
  try {
    // Removed from the role: the worker writes metrics but never reads them.
    await refused('worker: read metrics', shop.collection('metrics').find({}).toArray())
    await refused('worker: aggregate metrics', shop.collection('metrics').aggregate([{ $group: { _id: null, n: { $sum: 1 } } }]).toArray())
    await refused('worker: count metrics', shop.collection('metrics').countDocuments({}))
    // Never granted.
    await refused('worker: delete orders', shop.collection('orders').deleteMany({ orderId: 'none' }))
    await refused('worker: delete an order through findAndModify', shop.collection('orders').findOneAndDelete({ orderId: 'none' }))
    await refused('worker: insert orders', shop.collection('orders').insertOne({ orderId: 'forged' }))
    await refused('worker: create an order by upsert', shop.collection('orders').updateOne({ orderId: 'forged' }, { $set: { x: 1 } }, { upsert: true }))
    await refused('worker: drop orders', shop.collection('orders').drop())
    await refused('worker: index orders', shop.collection('orders').createIndex({ customer: 1 }))
    await refused('worker: drop print_logs', shop.collection('print_logs').drop())
    await refused('worker: rewrite the audit log', shop.collection('print_logs').updateMany({}, { $set: { reason: 'x' } }))
    await refused('worker: delete from the audit log', shop.collection('print_logs').deleteMany({}))
    await refused('worker: delete printers', shop.collection('printers').deleteMany({}))
    await refused('worker: rewrite metrics', shop.collection('metrics').updateMany({}, { $set: { x: 1 } }))
    await refused('worker: delete metrics', shop.collection('metrics').deleteMany({}))
    await refused("worker: read the shop's users", shop.collection('users').find({}).toArray())
    await refused("worker: join the shop's users into orders", shop.collection('orders').aggregate([{ $lookup: { from: 'users', pipeline: [], as: 'u' } }]).toArray())
    await refused('worker: copy orders out ($out)', shop.collection('orders').aggregate([{ $out: 'copied' }]).toArray())
    await refused('worker: list the collections', shop.listCollections().toArray())
    await refused("worker: watch the shop's whole database", shop.watch().tryNext())
    await refused('worker: read another database', raw.db('other').collection('x').find({}).toArray())
    await refused('worker: create a user', raw.db('admin').command({ createUser: 'backdoor', pwd: 'x', roles: [] }))
    await refused('worker: change its own password (and lock the print PC out)', raw.db('admin').command({ updateUser: 'printcore-worker', pwd: 'mine-now' }))
    await refused('worker: grant itself a role', raw.db('admin').command({ grantRolesToUser: 'printcore-worker', roles: ['root'] }))
  } finally {
    await raw.close()
  }
})

// What stays possible with the worker's password, as docs/security-credentials.md says: if one of these
// is refused one day, the role was narrowed further and the document must say so.
test('what a stolen worker password can still do (docs/security-credentials.md)', async () => {
  const raw = new MongoClient(withUser('printcore-worker', 'worker-pw'))
  const shop = raw.db(DB)
  try {
    const order = await shop.collection('orders').findOne({ orderId: 'R-1' })
    assert.equal(order.customer.name, 'Ada Customer', 'every field of an order is readable')
    // Any field: another file, fifty copies, an unpaid order paid and queued, a queued order "printed".
    const rewrite = { fileURL: 'https://elsewhere.example/x.pdf', 'printingOptions.copies': 50, paymentStatus: 'completed', printStatus: 'pending' }
    assert.equal((await shop.collection('orders').updateOne({ orderId: 'R-1' }, { $set: rewrite })).modifiedCount, 1)
    assert.equal((await shop.collection('orders').updateOne({ orderId: 'R-1' }, { $set: { printStatus: 'printed' } })).modifiedCount, 1)
    assert.ok(await shop.collection('print_logs').findOne({ adminEmail: 'boss@shop.example' }), 'the audit log is readable, admin emails too')
    await shop.collection('print_logs').insertOne({ orderId: 'R-1', action: 'printed', timestamp: new Date() })
    assert.ok(await shop.collection('printers').findOne({ printer_id: 'f' }))
    await shop.collection('printers').updateOne({ printer_id: 'f' }, { $set: { autoPrintEnabled: false } })
    await shop.collection('printers').updateOne({ printer_id: 'fake' }, { $set: { status: 'online' } }, { upsert: true })
    await shop.collection('metrics').insertOne({ timestamp: new Date(), prints_per_hour: 1e6 })
    const stream = shop.collection('orders').watch([], { fullDocument: 'updateLookup' })
    await stream.tryNext()
    await stream.close()
    // No delete, yet an order overwritten with nothing but its orderId is as lost as a deleted one.
    assert.equal((await shop.collection('orders').replaceOne({ orderId: 'R-1' }, { orderId: 'R-1' })).modifiedCount, 1)
  } finally {
    await raw.close()
  }
})
