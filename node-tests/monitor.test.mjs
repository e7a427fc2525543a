// The admin monitor's reads through the npm package: the order search among 10,000 orders with its cursor,
// a printer's own reasons, an order's file for the preview (the worker's file rules), metrics in buckets.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import { MongoClient, ObjectId } from 'mongodb'
import { startDb, dbName } from './harness.mjs'

const require = createRequire(import.meta.url)
const { PrintCore, PrintCoreError } = require('..')

let db, client
before(async () => {
  db = await startDb()
  client = new MongoClient(db.uri)
})
after(async () => {
  await client?.close()
  db?.stop()
})

async function shop(prefix) {
  const name = dbName(prefix)
  const core = await PrintCore.connect(db.uri, { dbName: name })
  await core.migrate()
  return { name, core, db: client.db(name) }
}

async function rejectsWith(promise, code, check = () => {}) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof PrintCoreError, 'a PrintCoreError')
    assert.equal(e.code, code, `code ${e.code} (${e.message})`)
    check(e)
    return true
  })
}

async function allPages(core, query, limit) {
  const ids = []
  let before
  for (let i = 0; i < 20_000; i++) {
    const page = await core.orders({ ...query, before, limit })
    assert.ok(page.items.length <= limit)
    ids.push(...page.items.map((o) => o.orderId))
    if (!page.next) return ids
    before = page.next
  }
  throw new Error('the pages never ended')
}

const STATUSES = ['pending', 'printing', 'printed', 'failed', 'cancelled']

test('the order search finds one order among 10,000 and pages a filtered set without repeats or gaps', async () => {
  const { core, db: shopDb } = await shop('search')
  const base = Date.now()
  const docs = []
  for (let i = 0; i < 10_000; i++) {
    docs.push({
      _id: new ObjectId(),
      orderId: `NS-${String(i).padStart(5, '0')}`,
      paymentStatus: 'completed',
      printStatus: STATUSES[i % 5],
      printerId: `p${i % 3}`,
      fileURL: 'https://res.cloudinary.com/shop/raw/upload/x.pdf',
      // Two orders a minute: pairs share createdAt, so the cursor must break ties.
      createdAt: new Date(base - Math.floor(i / 2) * 60_000),
    })
  }
  await shopDb.collection('orders').insertMany(docs)

  const one = await core.orders({ orderId: 'NS-04321' })
  assert.deepEqual(one.items.map((o) => o.orderId), ['NS-04321'])
  assert.equal(one.next ?? null, null)
  const prefix = await allPages(core, { orderId: 'NS-0432' }, 3)
  assert.equal(prefix.length, 10)
  assert.ok(prefix.every((id) => id.startsWith('NS-0432')))
  assert.equal((await core.orders({ orderId: 'NS' })).items.length, 0, 'under 3 characters: exact only')

  const from = new Date(base - 3000 * 60_000)
  const to = new Date(base - 1000 * 60_000)
  const ids = await allPages(core, { status: 'failed', printerId: 'p1', from, to }, 7)
  const expected = docs
    .filter((d) => d.printStatus === 'failed' && d.printerId === 'p1' && d.createdAt >= from && d.createdAt < to)
    .sort((a, b) => b.createdAt - a.createdAt || (b._id.toHexString() < a._id.toHexString() ? -1 : 1))
    .map((d) => d.orderId)
  assert.ok(expected.length > 100)
  assert.equal(new Set(ids).size, ids.length, 'no order twice')
  assert.deepEqual(ids, expected, 'every match once, newest first')

  const first = await core.orders()
  assert.equal(first.items.length, 100, 'no query: every status, 100 a page')
  assert.equal(first.items[0].orderId, 'NS-00001', 'newest first, ties by _id')
  await rejectsWith(core.orders({ status: 'queued' }), 'INVALID_ARGUMENT')
  await rejectsWith(core.orders({ before: 'nonsense' }), 'INVALID_ARGUMENT')
  await rejectsWith(core.orders({ from: to, to: from }), 'INVALID_ARGUMENT')
})

test("a printer's own reasons are read back through printers in the snapshot", async () => {
  const { core, db: shopDb } = await shop('reasons')
  // As the worker's health reading stores them (printcore's record_printer_health; the Rust tests write
  // them through it).
  await shopDb.collection('printers').insertOne({
    printer_id: 'front',
    name: 'Front desk',
    printer_name: 'ipp://front/ipp/print',
    status: 'error',
    offline_since: new Date(),
    queue_length: 3,
    state_reasons: ['media-empty'],
  })
  const snap = await core.snapshot()
  assert.deepEqual(snap.printers[0].stateReasons, ['media-empty'])
  assert.ok(snap.printers[0].offlineSince instanceof Date)
  assert.equal(snap.printers[0].queueLength, 3)
})

test("orderFile returns an order's file byte-identical and refuses a host not on the allowlist", async () => {
  const { core, db: shopDb } = await shop('orderfile')
  const pdf = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n')
  const hits = []
  const server = createServer((req, res) => {
    hits.push(req.url)
    if (req.url.startsWith('/files/flyer.pdf')) {
      res.writeHead(200, { 'content-type': 'text/html' })
      res.end(pdf)
    } else {
      res.writeHead(404)
      res.end()
    }
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  try {
    const url = `http://127.0.0.1:${server.address().port}/files/flyer.pdf?signature=secret`
    await shopDb.collection('orders').insertOne({ orderId: 'NF-1', paymentStatus: 'completed', printStatus: 'failed', fileURL: url, createdAt: new Date() })
    const options = { allowedHosts: ['127.0.0.1:*'], allowHttp: true, allowLoopback: true }
    const file = await core.orderFile('NF-1', options)
    assert.ok(Buffer.isBuffer(file.bytes))
    assert.ok(file.bytes.equals(pdf), 'byte-identical')
    assert.equal(file.sha256, createHash('sha256').update(pdf).digest('hex'))
    assert.equal(file.contentType, 'application/pdf', "sniffed, not the server's text/html")
    assert.equal(file.fileName, 'flyer.pdf')
    assert.equal(file.index, 0)
    assert.equal(file.count, 1)

    const before = hits.length
    await rejectsWith(core.orderFile('NF-1', { allowedHosts: ['res.cloudinary.com'], allowHttp: true }), 'FILE_REJECTED', (e) => {
      assert.equal(e.transient, false)
      assert.match(e.message, /NF-1/)
      assert.match(e.message, /127\.0\.0\.1/)
      assert.doesNotMatch(e.message, /secret/)
    })
    assert.equal(hits.length, before, 'nothing was fetched from a host not allowed')
    await rejectsWith(core.orderFile('NF-1', { allowedHosts: ['127.0.0.1:*'], allowHttp: true }), 'FILE_REJECTED')
    await rejectsWith(core.orderFile('NF-1', { ...options, index: 1 }), 'INVALID_ARGUMENT')
    await rejectsWith(core.orderFile('NF-1', { allowedHosts: [] }), 'INVALID_ARGUMENT')
    // The site's hosts follow the worker's rule: a stray top-level domain, a wildcard or a URL is refused.
    for (const bad of ['com', '*.cloudinary.com', 'https://res.cloudinary.com']) {
      await rejectsWith(core.orderFile('NF-1', { allowedHosts: [bad] }), 'INVALID_ARGUMENT', (e) => assert.match(e.message, /not a host name/))
    }
    await rejectsWith(core.orderFile('NF-1', { ...options, maxMb: 0.00001 }), 'FILE_INVALID')
    await rejectsWith(core.orderFile('NF-none', options), 'NOT_FOUND')
  } finally {
    server.close()
  }
})

test('metrics over a week come back in at most 500 database-computed buckets', async () => {
  const { core, db: shopDb } = await shop('metrics')
  const now = Date.now()
  const samples = []
  for (let i = 0; i < 7 * 288; i++) {
    const timestamp = new Date(now - i * 300_000)
    for (const [workerId, prints, delay, offline] of [['w1', 12, 30, 60], ['w2', 6, 90, 0]]) {
      samples.push({
        timestamp,
        prints_per_hour: prints,
        failures_per_hour: 1,
        average_print_start_delay: delay,
        printer_offline_duration: offline,
        workerId,
        createdAt: timestamp,
        updatedAt: timestamp,
      })
    }
  }
  await shopDb.collection('metrics').insertMany(samples)
  const day = await core.metrics()
  assert.ok(day.length >= 575 && day.length <= 578, `24 h of raw samples: ${day.length}`)
  assert.ok(['w1', 'w2'].includes(day[0].workerId))
  assert.equal(day[0].samples, undefined)

  const week = await core.metrics({ since: new Date(now - 7 * 86_400_000), bucketMinutes: 30 })
  assert.ok(week.length <= 500 && week.length >= 336, `${week.length} points`)
  assert.ok(week.every((p, i) => i === 0 || p.timestamp < week[i - 1].timestamp), 'newest first')
  const p = week[Math.floor(week.length / 2)]
  assert.ok(p.timestamp instanceof Date)
  assert.equal(p.workerId, '*')
  assert.equal(p.samples, 12)
  assert.equal(p.workers, 2)
  assert.equal(p.printsPerHour, 18)
  assert.equal(p.failuresPerHour, 2)
  assert.equal(p.averagePrintStartDelay, 50)
  assert.equal(p.printerOfflineDuration, 360)
  await rejectsWith(core.metrics({ bucketMinutes: 0 }), 'INVALID_ARGUMENT')
  await rejectsWith(core.metrics({ bucketMinutes: -5 }), 'INVALID_ARGUMENT')
})
