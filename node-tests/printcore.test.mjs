// The npm package against a real database server: every API call, error codes, live events.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { MongoClient } from 'mongodb'
import { startDb, dbName, waitFor } from './harness.mjs'

const require = createRequire(import.meta.url)
const { PrintCore, PrintCoreError } = require('..')

let db, standalone, client
before(async () => {
  db = await startDb()
  standalone = await startDb({ standalone: true })
  client = new MongoClient(db.uri)
})
after(async () => {
  await client?.close()
  db?.stop()
  standalone?.stop()
})

const admin = { adminId: 'admin-1', adminEmail: 'manager@shop.example', reason: 'customer asked' }

async function shop(prefix) {
  const name = dbName(prefix)
  const core = await PrintCore.connect(db.uri, { dbName: name })
  await core.migrate()
  const orders = client.db(name).collection('orders')
  return { name, core, orders }
}

function order(orderId, extra = {}) {
  return {
    orderId,
    paymentStatus: 'pending',
    createdAt: new Date(),
    fileURL: `https://res.cloudinary.com/shop/raw/upload/${orderId}.pdf`,
    printingOptions: { pageSize: 'A4', color: false, duplex: false, copies: 1 },
    customer: { name: 'Ada' },
    ...extra,
  }
}

async function rejectsWith(promise, code) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof PrintCoreError, 'a PrintCoreError')
    assert.ok(e instanceof Error, 'a JS Error')
    assert.equal(typeof e.transient, 'boolean')
    assert.equal(e.code, code, `code ${e.code} (${e.message})`)
    return true
  })
}

test('connect shares one client per process and migrate is safe to run twice', async () => {
  const name = dbName('connect')
  const a = await PrintCore.connect(db.uri, { dbName: name, appName: 'shop-site' })
  const results = await Promise.all(Array.from({ length: 20 }, () => PrintCore.connect(db.uri, { dbName: name })))
  assert.equal(results.length, 20)
  const first = await a.migrate()
  assert.ok(first.indexes.includes('orders.claim_order'), first.indexes.join(','))
  const second = await a.migrate()
  assert.deepEqual(second.indexes, first.indexes)
  assert.equal(second.ordersMarkedPending, 0)
  await rejectsWith(PrintCore.connect('mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300', { dbName: 'x' }), 'DATABASE')
})

test('markPaid queues an order once, with priority and schedule, and leaves the website fields alone', async () => {
  const { core, orders } = await shop('paid')
  await orders.insertOne(order('P-1'))
  const notBefore = new Date(Date.now() + 3600_000)
  const r = await core.markPaid('P-1', { priority: 5, notBefore })
  assert.deepEqual(r, { outcome: 'queued', printStatus: 'pending' })
  assert.equal((await core.markPaid('P-1')).outcome, 'already_queued')
  const o = await core.order('P-1')
  assert.equal(o.paymentStatus, 'completed')
  assert.ok(o.paidAt instanceof Date, 'dates are JS Dates')
  assert.equal(o.printPriority, 5, 'a repeated payment webhook changes only what it passes')
  assert.equal(o.printNotBefore.getTime(), notBefore.getTime(), 'the schedule is kept')
  assert.equal(o.fileURL, 'https://res.cloudinary.com/shop/raw/upload/P-1.pdf')
  const raw = await orders.findOne({ orderId: 'P-1' })
  assert.deepEqual(raw.customer, { name: 'Ada' })
  await rejectsWith(core.markPaid('missing'), 'NOT_FOUND')
  await rejectsWith(core.markPaid(''), 'INVALID_ARGUMENT')
  await rejectsWith(core.markPaid('$where'), 'INVALID_ARGUMENT')
})

test('snapshot groups orders and shows printers and the latest metrics', async () => {
  const { name, core, orders } = await shop('snap')
  await orders.insertMany([order('S-1'), order('S-2'), order('S-3', { printStatus: 'failed', paymentStatus: 'completed', printError: 'bad file' })])
  await core.markPaid('S-1')
  await core.markPaid('S-2', { priority: 9 })
  await client.db(name).collection('printers').insertOne({ printer_id: 'front', name: 'Front desk', printer_name: 'HP', status: 'online', queue_length: 0, isActive: true, autoPrintEnabled: true })
  const now = new Date()
  await client.db(name).collection('metrics').insertOne({ timestamp: now, prints_per_hour: 12, failures_per_hour: 1, average_print_start_delay: 4.5, printer_offline_duration: 0, workerId: 'w', createdAt: now, updatedAt: now })
  const s = await core.snapshot()
  assert.deepEqual(s.pending.map((o) => o.orderId), ['S-2', 'S-1'], 'pending in print order')
  assert.deepEqual(s.failed.map((o) => o.orderId), ['S-3'])
  assert.equal(s.failed[0].printError, 'bad file')
  assert.equal(s.printing.length, 0)
  assert.equal(s.printed.length, 0)
  assert.deepEqual(s.counts, { pending: 2, printing: 0, printedLast24H: 0, failed: 1 })
  assert.equal(s.printers[0].status, 'online')
  assert.equal(s.metrics.printsPerHour, 12)
  assert.ok(s.takenAt instanceof Date)
  const m = await core.metrics({ since: new Date(now.getTime() - 1000) })
  assert.equal(m.length, 1)
  assert.equal(m[0].averagePrintStartDelay, 4.5)
})

test('admin actions take one order or a batch, need an identity and a reason, and are logged', async () => {
  const { core, orders } = await shop('admin')
  await orders.insertMany([order('A-1'), order('A-2'), order('A-3')])
  for (const id of ['A-1', 'A-2', 'A-3']) await core.markPaid(id)

  const cancelled = await core.cancel('A-1', admin)
  assert.deepEqual(cancelled, { orderId: 'A-1', action: 'cancel', previousStatus: 'pending', newStatus: 'cancelled', mayHavePrinted: false })
  const reprinted = await core.reprint('A-1', admin)
  assert.equal(reprinted.newStatus, 'pending')
  const forced = await core.forcePrinted('A-1', admin)
  assert.equal(forced.newStatus, 'printed')
  await rejectsWith(core.resetState('A-2', admin), 'INVALID_TRANSITION')

  const batch = await core.cancel(['A-2', 'A-3', 'nope', 'A-1'], admin)
  assert.deepEqual(batch.map((b) => [b.orderId, b.ok, b.error?.code ?? null]), [
    ['A-2', true, null],
    ['A-3', true, null],
    ['nope', false, 'NOT_FOUND'],
    ['A-1', false, 'INVALID_TRANSITION'],
  ])
  assert.equal(batch[0].result.newStatus, 'cancelled')

  // Missing identity or reason: refused before anything is read or written.
  await rejectsWith(core.reprint('A-2', { adminEmail: 'x@y.z', reason: 'r' }), 'INVALID_ARGUMENT')
  await rejectsWith(core.reprint('A-2', { adminId: '1', reason: 'r' }), 'INVALID_ARGUMENT')
  await rejectsWith(core.reprint('A-2', { adminId: '1', adminEmail: 'x@y.z' }), 'INVALID_ARGUMENT')
  await rejectsWith(core.reprint(['A-2'], { adminId: '1', adminEmail: 'x@y.z' }), 'INVALID_ARGUMENT')
  await rejectsWith(core.reprint('', admin), 'INVALID_ARGUMENT')

  const { items: logs } = await core.logs({ orderId: 'A-1' })
  assert.deepEqual(logs.map((l) => l.action), ['force_printed', 'reprint', 'cancel', 'mark_paid'])
  assert.equal(logs[0].adminEmail, 'manager@shop.example')
  assert.equal(logs[0].reason, 'customer asked')
  assert.ok(logs[0].timestamp instanceof Date)
  assert.equal(logs[0].metadata.mayHavePrinted, false)
  const cancels = await core.logs({ action: 'cancel', limit: 2 })
  assert.equal(cancels.items.length, 2)
  assert.equal((await core.logs({ orderId: 'A-2' })).items.length, 2, 'the refused reprints wrote nothing')
})

test('watch delivers an event within 1 s of a change with change streams', async () => {
  const { core, orders } = await shop('watch')
  await orders.insertOne(order('W-1'))
  const events = []
  let open = 0
  const sub = core.watch((e) => events.push({ ...e, at: Date.now() }), { onOpen: () => open++ })
  // The change streams open in the background; onOpen says when (a change before it may not be reported).
  await waitFor('the feed to open', 30_000, () => open === 1)
  const changedAt = Date.now()
  await core.markPaid('W-1')
  const e = await waitFor('an event for W-1', 1000, () => events.find((x) => x.kind === 'order' && x.id === 'W-1'))
  assert.equal(e.source, 'change_stream')
  assert.ok(e.at - changedAt <= 1000, `${e.at - changedAt} ms`)
  sub.close()
  assert.equal(sub.closed, true)
})

test('watch falls back to polling on a standalone server and delivers within 4 s', async () => {
  const name = dbName('poll')
  const core = await PrintCore.connect(standalone.uri, { dbName: name })
  await core.migrate()
  const sa = new MongoClient(standalone.uri)
  try {
    await sa.db(name).collection('orders').insertOne(order('PL-1'))
    const events = []
    let open = 0
    const sub = core.watch((e) => events.push({ ...e, at: Date.now() }), { onOpen: () => open++ })
    // Open once the first poll's snapshot, which later polls are compared with, was read.
    await waitFor('the feed to open', 30_000, () => open === 1)
    const changedAt = Date.now()
    await core.markPaid('PL-1')
    const e = await waitFor('a polled event for PL-1', 4000, () => events.find((x) => x.id === 'PL-1'))
    assert.equal(e.source, 'poll')
    assert.ok(e.at - changedAt <= 4000)
    sub.close()
  } finally {
    await sa.close()
  }
})

test('a closed subscription does not keep the process alive', async () => {
  const script = `
    const { PrintCore } = require(${JSON.stringify(require.resolve('..'))})
    PrintCore.connect(${JSON.stringify(db.uri)}, { dbName: 'alive_check' }).then((core) => {
      const sub = core.watch(() => {})
      setTimeout(() => { sub.close(); console.log('closed') }, 300)
    })`
  const started = Date.now()
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  const code = await new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error('the process was still alive 15 s after closing its subscription'))
    }, 15_000)
    child.on('exit', (c) => {
      clearTimeout(t)
      resolve(c)
    })
  })
  assert.equal(code, 0)
  assert.match(out, /closed/)
  assert.ok(Date.now() - started < 15_000)
})

test('npm run migrate-print-status backfills and reports, twice safely', async () => {
  const name = dbName('migscript')
  await client.db(name).collection('orders').insertMany([
    order('M-1', { paymentStatus: 'completed' }),
    order('M-2', { paymentStatus: 'completed', status: 'delivered' }),
    order('M-3'),
  ])
  const run = (args = []) =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [require.resolve('../scripts/migrate-print-status.js'), ...args], {
        env: { ...process.env, MONGODB_URI: db.uri, PRINTCORE_DB: name },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let out = ''
      child.stdout.on('data', (d) => (out += d))
      child.stderr.on('data', (d) => (out += d))
      child.on('exit', (code) => resolve({ code, out }))
    })
  await client.db(name).collection('orders').insertOne(order('M-4', { paymentStatus: 'Completed', printStatus: 'Pending' }))
  const dry = await run(['--dry-run'])
  assert.equal(dry.code, 0, dry.out)
  assert.match(dry.out, /dry run: nothing was written/)
  assert.match(dry.out, /would change paymentStatus: the string "Completed" set to "completed" on 1 order/)
  assert.match(dry.out, /orders would be set to pending \(paid, not delivered\): 1/)
  assert.equal((await client.db(name).collection('orders').findOne({ orderId: 'M-4' })).printStatus, 'Pending', 'a dry run writes nothing')
  const first = await run()
  assert.equal(first.code, 0, first.out)
  assert.match(first.out, /printStatus: the string "Pending" set to "pending" on 1 order/)
  assert.match(first.out, /orders set to pending \(paid, not delivered\): 1/)
  assert.match(first.out, /orders set to printed \(delivered\): 1/)
  const second = await run()
  assert.match(second.out, /orders set to pending \(paid, not delivered\): 0/)
  const m3 = await client.db(name).collection('orders').findOne({ orderId: 'M-3' })
  assert.equal(m3.printStatus, undefined, 'unpaid orders are left alone')
})

test('an order with oddly typed print fields is listed with its problems, and the snapshot keeps working', async () => {
  const { core, orders } = await shop('oddtypes')
  await orders.insertMany([
    order('ODD-1', { paymentStatus: 'completed', printStatus: 'pending', printingOptions: { color: 'yes', copies: '2' } }),
    order('ODD-2', { paymentStatus: 'completed', printStatus: 'pending', createdAt: '2026-11-01T10:00:00Z' }),
  ])
  const snap = await core.snapshot()
  const odd = snap.pending.find((o) => o.orderId === 'ODD-1')
  assert.deepEqual(odd.problems, ['printingOptions.color is the string "yes" (expected true or false)'])
  assert.equal(odd.printingOptions.copies, 2, 'a number written as text is read')
  const dated = snap.pending.find((o) => o.orderId === 'ODD-2')
  assert.deepEqual(dated.problems, [])
  assert.ok(dated.createdAt instanceof Date)
  const dry = await core.migrate({ dryRun: true })
  assert.equal(dry.dryRun, true)
  assert.ok(Array.isArray(dry.summary) && dry.summary[0].includes('dry run'), dry.summary.join('\n'))
})
