// The package as a Next.js site or a serverless function uses it: typed errors, a failed connect that is
// not remembered, close() that shuts the pool, per-call timeouts and AbortSignal, one shared live feed
// per process (counted on the server), errors and the end of the feed, paged reads, dates everywhere.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import net from 'node:net'
import { MongoClient } from 'mongodb'
import { startDb, dbName, waitFor } from './harness.mjs'

const require = createRequire(import.meta.url)
const { PrintCore, PrintCoreError, ERROR_CODES } = require('..')

let db, client
before(async () => {
  db = await startDb()
  client = new MongoClient(db.uri)
})
after(async () => {
  await client?.close()
  db?.stop()
})

const admin = { adminId: 'admin-1', adminEmail: 'manager@shop.example', reason: 'customer asked' }
const hostPort = () => db.uri.split('://')[1].split('/')[0].split('?')[0]
const order = (orderId, extra = {}) => ({
  orderId,
  paymentStatus: 'pending',
  createdAt: new Date(),
  fileURL: `https://res.cloudinary.com/shop/raw/upload/${orderId}.pdf`,
  printingOptions: { pageSize: 'A4', copies: 1 },
  ...extra,
})

/** A TCP proxy in front of the database that can refuse, hold (a database that stopped answering) or cut connections. */
async function proxy(port = 0) {
  const [host, targetPort] = hostPort().split(':')
  const sockets = new Set()
  let mode = 'pass'
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    if (mode === 'refuse') return socket.destroy()
    const upstream = net.connect(Number(targetPort), host)
    sockets.add(upstream)
    upstream.on('close', () => sockets.delete(upstream))
    socket.on('data', (d) => mode !== 'hold' && upstream.write(d))
    upstream.on('data', (d) => mode !== 'hold' && socket.write(d))
    socket.on('error', () => upstream.destroy())
    upstream.on('error', () => socket.destroy())
    socket.on('close', () => upstream.destroy())
    upstream.on('close', () => socket.destroy())
  })
  await new Promise((r) => server.listen(port, '127.0.0.1', r))
  return {
    port: server.address().port,
    set(m) {
      mode = m
    },
    cut() {
      for (const s of sockets) s.destroy()
    },
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise((r) => server.close(r))
    },
  }
}

async function serverStatus() {
  return client.db('admin').command({ serverStatus: 1 })
}

async function rejectsWith(promise, code) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof PrintCoreError, `a PrintCoreError, got ${e}`)
    assert.equal(e.code, code, `code ${e.code} (${e.message})`)
    assert.ok(ERROR_CODES.includes(e.code))
    return true
  })
}

test('a failed connect is not remembered: the same uri connects once the database answers', async () => {
  const free = await proxy()
  const port = free.port
  await free.close() // nothing listens on the port now
  const uri = `mongodb://127.0.0.1:${port}/?directConnection=true`
  const options = { dbName: dbName('reconnect'), serverSelectionTimeoutMs: 300 }
  await rejectsWith(PrintCore.connect(uri, options), 'DATABASE')
  const up = await proxy(port) // the database is back, on the same address
  try {
    const core = await PrintCore.connect(uri, options)
    await core.migrate()
    assert.ok((await core.snapshot()).takenAt instanceof Date)
    await core.close()
  } finally {
    await up.close()
  }
})

test('close() shuts the pool: the server sees the connections go, and the next connect opens new ones', async () => {
  const uri = `${db.uri}${db.uri.includes('?') ? '&' : '?'}appName=close-test`
  const name = dbName('close')
  const before = (await serverStatus()).connections.current
  const core = await PrintCore.connect(uri, { dbName: name, maxPoolSize: 4 })
  await Promise.all(Array.from({ length: 8 }, () => core.snapshot()))
  const open = (await serverStatus()).connections.current
  assert.ok(open > before, `connections while open: ${open}, before: ${before}`)
  await core.close()
  await waitFor('the pool to close on the server', 5000, async () => (await serverStatus()).connections.current <= before)
  await rejectsWith(core.snapshot(), 'DATABASE')
  const again = await PrintCore.connect(uri, { dbName: name })
  assert.ok((await again.snapshot()).takenAt instanceof Date)
  await again[Symbol.asyncDispose]() // what `await using` calls
})

test('a call gives up at its timeoutMs or when its AbortSignal fires, instead of hanging', async () => {
  const p = await proxy()
  try {
    const core = await PrintCore.connect(`mongodb://127.0.0.1:${p.port}/?directConnection=true`, { dbName: dbName('timeout'), timeoutMs: 5000 })
    await core.migrate()
    p.set('hold') // the database stops answering
    let started = Date.now()
    await rejectsWith(core.snapshot({ timeoutMs: 300 }), 'TIMEOUT')
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`)
    started = Date.now()
    await rejectsWith(core.order('X-1', { signal: AbortSignal.timeout(300) }), 'ABORTED')
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`)
    const ac = new AbortController()
    ac.abort(new Error('the visitor left'))
    await assert.rejects(core.markPaid('X-1', { signal: ac.signal }), (e) => e.code === 'ABORTED' && e.cause.message === 'the visitor left')
    started = Date.now()
    await rejectsWith(core.snapshot(), 'TIMEOUT') // the connection's default (5 s)
    assert.ok(Date.now() - started < 8000)
    p.set('pass')
  } finally {
    await p.close()
  }
})

test('ten watch subscribers share one feed: two change streams on the server (orders, printers), not twenty', async () => {
  const name = dbName('hub')
  const core = await PrintCore.connect(`${db.uri}${db.uri.includes('?') ? '&' : '?'}appName=hub-test`, { dbName: name })
  await core.migrate()
  const cursors = async () => (await serverStatus()).metrics.cursor.open.total
  const idle = await cursors()
  const seen = Array.from({ length: 10 }, () => [])
  let open = 0
  const subs = seen.map((list) => core.watch((e) => list.push(e), { onOpen: () => open++ }))
  // Every subscriber heard that the feed is open (once each): whatever the feed opens is open.
  await waitFor('the feed to open for every subscriber', 30_000, () => open === 10)
  assert.equal((await cursors()) - idle, 2, 'one change stream on orders and one on printers')
  await client.db(name).collection('orders').insertOne(order('H-1'))
  await core.markPaid('H-1')
  await waitFor('every subscriber to see H-1', 3000, () => seen.every((l) => l.some((e) => e.id === 'H-1')))
  for (const s of subs) s.close()
  await waitFor('the feed to stop with its last subscriber', 3000, async () => (await cursors()) === idle)
  await core.close()
})

test('watch says when the feed breaks (onError, then onEnd), and events() ends with that error', async () => {
  const p = await proxy()
  try {
    const core = await PrintCore.connect(`mongodb://127.0.0.1:${p.port}/?directConnection=true`, { dbName: dbName('broken'), serverSelectionTimeoutMs: 500 })
    await core.migrate()
    const errors = []
    let ended = 0
    const sub = core.watch(() => {}, { onError: (e) => errors.push(e), onEnd: () => ended++ })
    const iterator = core.events()
    await new Promise((r) => setTimeout(r, 500))
    p.set('refuse')
    p.cut() // the database goes away for good
    await waitFor('onEnd', 15_000, () => ended === 1)
    assert.ok(errors.length >= 1 && errors[0] instanceof PrintCoreError, String(errors[0]))
    assert.equal(typeof errors[0].transient, 'boolean')
    assert.equal(sub.closed, false, 'the feed ended by itself')
    await assert.rejects(iterator.next(), (e) => e instanceof PrintCoreError)
  } finally {
    await p.close()
  }
})

test('events() is an async iterator of the live feed; leaving the loop unsubscribes', async () => {
  const name = dbName('iter')
  const core = await PrintCore.connect(db.uri, { dbName: name })
  await core.migrate()
  await client.db(name).collection('orders').insertOne(order('I-1'))
  // The loop ends at the first event for I-1: I-1 is paid, then written again every 500 ms, until the
  // feed, which opens in the background and misses what came before, reports one.
  const ac = new AbortController()
  const giveUp = setTimeout(() => ac.abort(new Error('no event for I-1 in 30 s')), 30_000)
  let round = 0
  const pay = setInterval(() => {
    round++
    const write =
      round === 1
        ? core.markPaid('I-1')
        : client.db(name).collection('orders').updateOne({ orderId: 'I-1' }, { $set: { printError: `round ${round}` } })
    write.catch(() => {}) // one still on its way when the test ends
  }, 500)
  const got = []
  try {
    for await (const event of core.events({ signal: ac.signal })) {
      got.push(event)
      if (event.id === 'I-1') break
    }
  } finally {
    clearInterval(pay)
    clearTimeout(giveUp)
  }
  assert.equal(got.at(-1)?.id, 'I-1', ac.signal.reason?.message ?? 'the feed ended with no event for I-1')
  assert.equal(got.at(-1).kind, 'order')
  assert.ok(['update', 'change'].includes(got.at(-1).change))
})

test('logs and orders page with a cursor: every entry once, newest first, past any cap', async () => {
  const name = dbName('pages')
  const core = await PrintCore.connect(db.uri, { dbName: name })
  await core.migrate()
  const orders = client.db(name).collection('orders')
  const ids = Array.from({ length: 7 }, (_, i) => `PG-${i}`)
  await orders.insertMany(ids.map((id) => order(id)))
  for (const id of ids) await core.markPaid(id)
  await core.cancel(ids, admin)
  await orders.updateMany({ orderId: { $in: ids } }, { $set: { printStatus: 'failed' } })
  const logIds = []
  let before
  do {
    const page = await core.logs({ action: 'cancel', limit: 3, before })
    assert.ok(page.items.length <= 3)
    logIds.push(...page.items.map((l) => l.orderId))
    before = page.next ?? undefined
  } while (before)
  assert.deepEqual([...logIds].sort(), [...ids].sort(), 'each cancel entry once')
  const failed = []
  before = undefined
  do {
    const page = await core.orders({ status: 'failed', limit: 2, before })
    failed.push(...page.items.map((o) => o.orderId))
    before = page.next ?? undefined
  } while (before)
  assert.deepEqual(failed, [...ids].reverse(), 'newest first, each once')
  await rejectsWith(core.logs({ before: 'not-a-cursor' }), 'INVALID_ARGUMENT')
  await rejectsWith(core.orders({ status: 'queued' }), 'INVALID_ARGUMENT')
})

test('log metadata dates are Dates, and batch items narrow on ok', async () => {
  const name = dbName('dates')
  const core = await PrintCore.connect(db.uri, { dbName: name })
  await core.migrate()
  const at = new Date('2026-01-02T03:04:05.678Z')
  await client.db(name).collection('print_logs').insertOne({ action: 'retry', orderId: 'D-1', timestamp: new Date(), metadata: { nextAttemptAt: at, nested: { when: [at] }, attempts: 2 } })
  const [entry] = (await core.logs({ orderId: 'D-1' })).items
  assert.ok(entry.metadata.nextAttemptAt instanceof Date)
  assert.equal(entry.metadata.nextAttemptAt.getTime(), at.getTime())
  assert.ok(entry.metadata.nested.when[0] instanceof Date)
  assert.equal(entry.metadata.attempts, 2)
  const batch = await core.cancel(['nope'], admin)
  assert.deepEqual(batch[0], { orderId: 'nope', ok: false, error: { code: 'NOT_FOUND', message: batch[0].error.message, transient: false } })
  await rejectsWith(core.reprint('nope', { adminId: 'a', adminEmail: 'a@b.c' }), 'INVALID_ARGUMENT')
})
