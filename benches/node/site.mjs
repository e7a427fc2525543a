// Peer: the website's own code (issue 15, item 2). The monitor snapshot and markPaid through printcore's npm
// package (the root package's ESM entry, lib/printcore.mjs, over the release addon) against the same queries
// written with the official `mongodb` driver, returning plain objects: what the site does without printcore.
//
// The driver side mirrors printcore/src/monitor/mod.rs `snapshot()` exactly: the four lists (pending in claim
// order, printing, printed in the last 24 h, failed; at most 500 each, without the audit outbox field) run
// concurrently, then the four counts concurrently, then the printers (sorted by printer_id, at most 1000), then
// the newest metrics sample. markPaid mirrors printcore/src/queue/schedule.rs `mark_paid` on an unpaid order: the
// updateOne with the same filter, $set and $unset, and the print_logs entry printcore writes inline. Two driver
// versions: "site" (updateOne + insertOne into print_logs: 2 round trips, what a site would write) and "same
// writes" (printcore's 2: updateOne that also pushes the entry into the order's outbox, insert into
// print_logs; the claim that takes the order pulls the entry with its own), so the binding's own cost is the
// "same writes" ratio and the outbox push's is the difference between the two.
//
// ratio = driver time / printcore time (>= 0.95: printcore costs nothing a user can see). Also the main
// thread's busy time per call (event-loop utilisation): where the napi conversion of the orders, or the
// driver's BSON parsing, blocks the site's other requests.
//
// `node benches/node/site.mjs` (QUICK=1: 1,000 and 10,000 orders; SIZES=10000,1000000 overrides). MONGODB_URI,
// else the project's harness. The addon: `cargo build --release -p printcore-node` (run here; quick when up to
// date), loaded through NAPI_RS_NATIVE_LIBRARY_PATH; PRINTCORE_ADDON=/path/to/x.node uses another, and
// PRINTCORE_ADDON=root the repository's printcore.linux-x64-gnu.node as it is (`npm run build` makes it
// release, `npm run build:debug` debug: do not compare a debug addon). The last stdout line is one JSON object.
import { MongoClient, ObjectId } from 'mongodb'
import { spawnSync } from 'node:child_process'
import { copyFileSync, linkSync, mkdirSync, existsSync, rmSync, statSync, readdirSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import path from 'node:path'
import { QUICK, envInt, root, targetDir, startDb, redact, commandCounter, median, round, table } from './common.mjs'

const SIZES = (process.env.SIZES ?? (QUICK ? '1000,10000' : '10000,1000000')).split(',').map(Number)
const RUNS = envInt('RUNS', QUICK ? 5 : 15) // snapshots per side, alternating
const MARK_CALLS = envInt('MARK_CALLS', QUICK ? 60 : 300) // sequential markPaid calls per side
const MARK_CONCURRENT = envInt('MARK_CONCURRENT', QUICK ? 100 : 400) // markPaid calls, 16 in flight, per side
const SNAP_CONCURRENT = envInt('SNAP_CONCURRENT', QUICK ? 8 : 40) // snapshots, 4 in flight, per side
const LIMIT = 500
const DAY = 86_400_000

// ---------------------------------------------------------------- the addon and the package
/** The newest modification time among the addon's sources (the two crates and the lock file). */
function newestSource() {
  let newest = 0
  const walk = (p) => {
    const st = statSync(p, { throwIfNoEntry: false })
    if (!st) return
    if (st.isDirectory()) for (const e of readdirSync(p)) walk(path.join(p, e))
    else newest = Math.max(newest, st.mtimeMs)
  }
  for (const p of ['Cargo.lock', 'Cargo.toml', 'printcore/Cargo.toml', 'printcore/src', 'printcore-node/Cargo.toml', 'printcore-node/src', 'printcore-node/build.rs']) walk(path.join(root, p))
  return newest
}

function addonPath() {
  const given = process.env.PRINTCORE_ADDON
  if (given === 'root') return { path: null, how: 'the repository root printcore.*.node as built' }
  if (given) return { path: path.resolve(given), how: given }
  const lib = { linux: 'libprintcore_node.so', darwin: 'libprintcore_node.dylib', win32: 'printcore_node.dll' }[process.platform]
  const built = path.join(targetDir, 'release', lib)
  // No cargo at all when the release library is newer than every source it is built from (`npm run build`
  // made it, or an earlier run): scripts/bench.sh runs this from within `cargo bench`.
  let how = `${built} (newer than its sources: not rebuilt)`
  if (!existsSync(built) || statSync(built).mtimeMs < newestSource()) {
    how = `${built} (cargo build --release -p printcore-node, now)`
    const r = spawnSync('cargo', ['build', '--release', '-q', '-p', 'printcore-node'], {
      cwd: root,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, CARGO_TARGET_DIR: targetDir },
    })
    if (r.status !== 0) throw new Error('cargo build --release -p printcore-node failed')
  }
  if (!existsSync(built)) throw new Error(`${built} not found after the build`)
  // require() loads a native addon by its .node extension
  const dir = path.join(path.dirname(new URL(import.meta.url).pathname), 'node_modules', '.printcore-addon')
  mkdirSync(dir, { recursive: true })
  const dest = path.join(dir, 'printcore.node')
  rmSync(dest, { force: true })
  try {
    linkSync(built, dest) // a hard link: no copy of a 100 MB file
  } catch {
    copyFileSync(built, dest)
  }
  return { path: dest, how }
}

// ---------------------------------------------------------------- seeding
/**
 * A shop's orders: `n` in all. The day's working set fills every list of the snapshot to its limit (600
 * pending, 50 printing, 600 printed in the last 24 h, 600 failed: 1,550 orders cross into JavaScript per
 * snapshot, the binding's worst case); everything else was printed long ago. Plus `unpaid` orders not yet paid
 * (no printStatus), for markPaid.
 */
function order(i, n, now) {
  const recent = n - i
  const f = Math.min(1, n / 4000) // below 4,000 orders (QUICK) the working set shrinks with n
  const [p, pr, fa, pd] = [600 * f, 650 * f, 1250 * f, 1850 * f]
  let status
  let completed = null
  if (recent <= p) status = 'pending'
  else if (recent <= pr) status = 'printing'
  else if (recent <= fa) status = 'failed'
  else if (recent <= pd) (status = 'printed'), (completed = now - (recent - fa) * 30_000)
  else (status = 'printed'), (completed = now - 2 * DAY - recent * 1000)
  const createdAt = new Date(now - recent * 1000 - 3_600_000)
  if (recent > pd) {
    // history: lean (the snapshot never reads it; it only has to be there, in the indexes)
    return {
      orderId: `H-${String(i).padStart(8, '0')}`,
      customer: { name: 'Customer Name' },
      paymentStatus: 'completed',
      printStatus: status,
      printPriority: 0,
      createdAt,
      fileURL: `https://res.cloudinary.com/shop/raw/upload/v1/orders/${i}.pdf`,
      printCompletedAt: new Date(completed),
    }
  }
  const d = {
    orderId: `H-${String(i).padStart(8, '0')}`,
    customer: { name: 'Customer Name', email: `c${i}@example.com`, phone: '+1 555 0100' },
    items: [{ sku: 'PRINT-A4', quantity: 1 + (i % 3), price: 2.5 }],
    totalAmount: 7.5,
    paymentStatus: 'completed',
    printStatus: status,
    printPriority: i % 50 === 0 ? 1 : 0,
    printAttempt: status === 'pending' ? 0 : 1,
    createdAt,
    paidAt: new Date(createdAt.getTime() + 30_000),
    fileURL: `https://res.cloudinary.com/shop/raw/upload/v1/orders/${i}.pdf`,
    printingOptions: { pageSize: 'A4', color: i % 2 === 0, duplex: i % 3 === 0, copies: 1 + (i % 4) },
    fileSha256: 'b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c',
    filePages: 1 + (i % 20),
  }
  if (status !== 'pending') {
    Object.assign(d, {
      printerId: `printer-${i % 4}`,
      printerName: `Office printer ${i % 4}`,
      printJobId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      printingBy: 'worker-1',
      printStartedAt: new Date(createdAt.getTime() + 60_000),
    })
  }
  if (status === 'printing') d.printLeaseUntil = new Date(now + 120_000)
  if (status === 'failed') d.printError = 'the printer refused the job: document format not supported'
  if (completed != null) {
    d.printCompletedAt = new Date(completed)
    d.printSubmittedAt = new Date(completed - 5_000)
    d.printerJobRef = `ipp://printer/jobs/${i}`
  }
  return d
}

async function seed(db, n, unpaid) {
  const orders = db.collection('orders')
  const now = Date.now()
  let batch = []
  const flush = async () => {
    if (batch.length) await orders.insertMany(batch, { ordered: false })
    batch = []
  }
  for (let i = 0; i < n; i++) {
    batch.push(order(i, n, now))
    if (batch.length === 5000) await flush()
  }
  for (const side of ['pc', 'drv', 'drv3']) {
    for (let i = 0; i < unpaid; i++) {
      batch.push({
        orderId: `U-${side}-${i}`,
        customer: { name: 'Customer Name', email: `u${i}@example.com` },
        paymentStatus: 'pending',
        createdAt: new Date(now),
        fileURL: `https://res.cloudinary.com/shop/raw/upload/v1/orders/u${i}.pdf`,
        printingOptions: { pageSize: 'A4', color: false, duplex: false, copies: 1 },
      })
      if (batch.length === 5000) await flush()
    }
  }
  await flush()
  await db.collection('printers').insertMany(
    Array.from({ length: 4 }, (_, p) => ({
      name: `Office printer ${p}`,
      printer_id: `printer-${p}`,
      printer_name: `Office_Printer_${p}`,
      status: 'online',
      last_seen_at: new Date(now),
      last_successful_print_at: new Date(now - 60_000),
      queue_length: 0,
      error_message: null,
      driver_name: 'IPP Everywhere',
      system_name: 'Linux',
      connectionType: 'network',
      isActive: true,
      autoPrintEnabled: true,
      capabilities: { page_sizes: ['A4', 'Letter'], color: true, duplex: true, max_copies: 99 },
      workerId: 'worker-1',
    })),
  )
  await db.collection('metrics').insertMany(
    Array.from({ length: 48 }, (_, k) => ({
      timestamp: new Date(now - k * 1_800_000),
      prints_per_hour: 40 + k,
      failures_per_hour: 1,
      average_print_start_delay: 2.5,
      printer_offline_duration: 0,
      workerId: 'worker-1',
      createdAt: new Date(now - k * 1_800_000),
      updatedAt: new Date(now - k * 1_800_000),
    })),
  )
}

// ---------------------------------------------------------------- the driver side
const OUTBOX = 'printLogOutbox'

/** printcore's snapshot, written with the driver. */
async function driverSnapshot(db) {
  const orders = db.collection('orders')
  const now = new Date()
  const dayAgo = new Date(now.getTime() - DAY)
  const pendingF = { printStatus: 'pending', paymentStatus: 'completed' }
  const printedF = { printStatus: 'printed', printCompletedAt: { $gte: dayAgo } }
  const list = (filter, sort) => orders.find(filter, { projection: { [OUTBOX]: 0 }, sort, limit: LIMIT }).toArray()
  const [pending, printing, printed, failed] = await Promise.all([
    list(pendingF, { printPriority: -1, createdAt: 1 }),
    list({ printStatus: 'printing' }, { printStatus: 1, createdAt: -1 }),
    list(printedF, { printStatus: 1, printCompletedAt: -1 }),
    list({ printStatus: 'failed' }, { printStatus: 1, createdAt: -1 }),
  ])
  const [cPending, cPrinting, cPrinted, cFailed] = await Promise.all([
    orders.countDocuments(pendingF),
    orders.countDocuments({ printStatus: 'printing' }),
    orders.countDocuments(printedF),
    orders.countDocuments({ printStatus: 'failed' }),
  ])
  const printers = await db.collection('printers').find({}, { sort: { printer_id: 1 }, limit: 1000 }).toArray()
  const metrics = await db.collection('metrics').findOne({}, { sort: { timestamp: -1 } })
  return {
    pending,
    printing,
    printed,
    failed,
    printers,
    metrics,
    counts: { pending: cPending, printing: cPrinting, printedLast24H: cPrinted, failed: cFailed },
    takenAt: now,
  }
}

/** The print_logs entry printcore's markPaid writes (printcore/src/audit/mod.rs Entry::build). */
function markPaidEntry(orderId, now) {
  return {
    _id: new ObjectId(),
    action: 'mark_paid',
    orderId,
    newStatus: 'pending',
    reason: 'payment completed',
    timestamp: now,
    metadata: { by: 'website' },
  }
}

function markPaidUpdate(now) {
  return {
    $set: { paymentStatus: 'completed', printStatus: 'pending', paidAt: now, printAttempt: 0, printPriority: 0 },
    $unset: { printNotBefore: '' },
  }
}

/** What a site writes without printcore: the order, then its log entry. */
async function driverMarkPaid(db, orderId) {
  const now = new Date()
  const r = await db.collection('orders').updateOne({ orderId, printStatus: null }, markPaidUpdate(now))
  if (r.matchedCount !== 1) throw new Error(`driver markPaid: ${orderId} not matched`)
  await db.collection('print_logs').insertOne(markPaidEntry(orderId, now))
}

/**
 * printcore's two writes, with the driver: the order with the entry in its outbox, then print_logs. (The pull
 * from the outbox is not the website's: the claim that takes the order makes it, with its own entry's.)
 */
async function driverMarkPaidSameWrites(db, orderId) {
  const now = new Date()
  const entry = markPaidEntry(orderId, now)
  const update = { ...markPaidUpdate(now), $push: { [OUTBOX]: entry } }
  const r = await db.collection('orders').updateOne({ orderId, printStatus: null }, update)
  if (r.matchedCount !== 1) throw new Error(`driver markPaid: ${orderId} not matched`)
  await db.collection('print_logs').insertMany([entry], { ordered: false })
}

// ---------------------------------------------------------------- commands counted by the server
// printcore talks to the server through the Rust driver, which the Node driver's monitoring does not see: its
// commands are counted from serverStatus (metrics.commands.<name>.total) before and after a block of calls.
// Exact on the harness's own server (nothing else uses it); on a shared MONGODB_URI others' commands add in.
const NOT_OURS = new Set(['serverStatus', 'hello', 'isMaster', 'ismaster', 'buildInfo', 'ping', 'endSessions', 'saslStart', 'saslContinue', 'getParameter'])

async function serverCommandTotals(client) {
  try {
    const r = await client.db('admin').command({ serverStatus: 1 })
    const out = {}
    for (const [k, v] of Object.entries(r.metrics?.commands ?? {})) if (v && typeof v.total === 'number') out[k] = v.total
    return out
  } catch {
    return null
  }
}

/** Commands per call of `fn` (run `k` times, sequentially), as the server counted them; null if not available. */
async function serverCommandsPerCall(client, k, fn) {
  const before = await serverCommandTotals(client)
  for (let i = 0; i < k; i++) await fn(i)
  const after = await serverCommandTotals(client)
  if (!before || !after) return null
  const out = {}
  for (const [name, v] of Object.entries(after)) {
    const d = v - (before[name] ?? 0)
    if (d > 0 && !NOT_OURS.has(name)) out[name] = round(d / k, 2)
  }
  return out
}

// ---------------------------------------------------------------- timing
/** ms of one call, and the main thread's busy ms during it (event-loop utilisation). */
async function timed(fn) {
  const elu0 = performance.eventLoopUtilization()
  const t0 = performance.now()
  const v = await fn()
  const ms = performance.now() - t0
  const busy = performance.eventLoopUtilization(elu0).active
  return { ms, busy, v }
}

/** `count` calls with `inFlight` at a time: calls/s. */
async function throughput(count, inFlight, call) {
  let next = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) await call(next++)
    }),
  )
  return count / ((performance.now() - t0) / 1000)
}

function checkSame(a, b) {
  const sizes = (s) => [s.pending.length, s.printing.length, s.printed.length, s.failed.length, s.printers.length, s.metrics ? 1 : 0]
  const counts = (s) => [s.counts.pending, s.counts.printing, s.counts.printedLast24H, s.counts.failed]
  if (JSON.stringify(sizes(a)) !== JSON.stringify(sizes(b)) || JSON.stringify(counts(a)) !== JSON.stringify(counts(b))) {
    throw new Error(`the snapshots differ: printcore ${sizes(a)} / ${counts(a)}, driver ${sizes(b)} / ${counts(b)}`)
  }
  if (a.pending[0].orderId !== b.pending[0].orderId || a.failed[0].orderId !== b.failed[0].orderId) {
    throw new Error('the snapshots list different orders first')
  }
  return sizes(a)
}

async function benchSize(uri, PrintCore, n, counter, client) {
  const dbName = `bench_site_${n}_${process.pid}`
  const db = client.db(dbName)
  await db.dropDatabase()
  const core = await PrintCore.connect(uri, { dbName })
  await core.migrate() // the indexes printcore's queries use, before the data (as a shop has them)
  const unpaid = MARK_CALLS + MARK_CONCURRENT + 40
  const t0 = performance.now()
  await seed(db, n, unpaid)
  const seeded = (performance.now() - t0) / 1000
  console.log(`seeded ${n} orders (+${3 * unpaid} unpaid) in ${seeded.toFixed(1)} s`)

  // --- snapshot: a warm-up each, a check that both return the same, then alternating runs
  const pc0 = await core.snapshot()
  const dr0 = await driverSnapshot(db)
  const lists = checkSame(pc0, dr0)
  const snapCmdsBefore = counter.snapshot()
  await driverSnapshot(db)
  const driverSnapCommands = counter.since(snapCmdsBefore)
  const pcSnapServer = await serverCommandsPerCall(client, 3, () => core.snapshot())
  const drSnapServer = await serverCommandsPerCall(client, 3, () => driverSnapshot(db))
  const pcSnap = []
  const drSnap = []
  for (let r = 0; r < RUNS; r++) {
    const order = r % 2 === 0 ? ['pc', 'dr'] : ['dr', 'pc']
    for (const side of order) {
      if (side === 'pc') pcSnap.push(await timed(() => core.snapshot()))
      else drSnap.push(await timed(() => driverSnapshot(db)))
    }
  }
  const snapPcTput = await throughput(SNAP_CONCURRENT, 4, () => core.snapshot())
  const snapDrTput = await throughput(SNAP_CONCURRENT, 4, () => driverSnapshot(db))

  // --- markPaid: sequential calls (ms per call), then 16 in flight (calls/s); every call on a fresh unpaid order
  const mk = { pc: [], drv: [], drv3: [] }
  const callers = {
    pc: async (i) => {
      const r = await core.markPaid(`U-pc-${i}`)
      if (r.outcome !== 'queued') throw new Error(`printcore markPaid U-pc-${i}: ${r.outcome}`)
    },
    drv: (i) => driverMarkPaid(db, `U-drv-${i}`),
    drv3: (i) => driverMarkPaidSameWrites(db, `U-drv3-${i}`),
  }
  let idx = 0
  // warm-up: 5 each (orders U-*-0..4)
  for (; idx < 5; idx++) for (const s of ['pc', 'drv', 'drv3']) await callers[s](idx)
  const K = 10
  const pcMarkServer = await serverCommandsPerCall(client, K, (i) => callers.pc(idx + i))
  const drvMarkServer = await serverCommandsPerCall(client, K, (i) => callers.drv(idx + i))
  const drv3MarkServer = await serverCommandsPerCall(client, K, (i) => callers.drv3(idx + i))
  idx += K
  const mpCmdsBefore = counter.snapshot()
  await callers.drv(idx)
  const drvMarkCommands = counter.since(mpCmdsBefore)
  const mp3Before = counter.snapshot()
  await callers.drv3(idx)
  const drv3MarkCommands = counter.since(mp3Before)
  await callers.pc(idx)
  idx++
  const rot = [
    ['pc', 'drv', 'drv3'],
    ['drv', 'drv3', 'pc'],
    ['drv3', 'pc', 'drv'],
  ]
  for (let k = 0; k < MARK_CALLS; k++, idx++) {
    for (const s of rot[k % 3]) mk[s].push((await timed(() => callers[s](idx))).ms)
  }
  const base = idx
  const mkTput = {}
  for (const s of ['pc', 'drv', 'drv3']) {
    let j = 0
    // MARK_CONCURRENT calls on orders not yet used: `unpaid` leaves room (warm-up and sequential used `base`)
    mkTput[s] = await throughput(Math.min(MARK_CONCURRENT, unpaid - base), 16, () => callers[s](base + j++))
  }
  const stillUnpaid = await db.collection('orders').countDocuments({ orderId: /^U-/, printStatus: null })
  const logs = await db.collection('print_logs').countDocuments({ action: 'mark_paid' })
  await core.close()
  await db.dropDatabase()

  const snapPc = median(pcSnap.map((x) => x.ms))
  const snapDr = median(drSnap.map((x) => x.ms))
  const busyPc = median(pcSnap.map((x) => x.busy))
  const busyDr = median(drSnap.map((x) => x.busy))
  const mPc = median(mk.pc)
  const mDr = median(mk.drv)
  const mDr3 = median(mk.drv3)
  return {
    orders: n,
    seed_s: round(seeded, 1),
    snapshot_lists: { pending: lists[0], printing: lists[1], printed: lists[2], failed: lists[3], printers: lists[4] },
    snapshot: {
      printcore_ms: round(snapPc),
      driver_ms: round(snapDr),
      ratio: round(snapDr / snapPc),
      printcore_main_thread_ms: round(busyPc),
      driver_main_thread_ms: round(busyDr),
      printcore_per_s: round(snapPcTput, 1),
      driver_per_s: round(snapDrTput, 1),
      throughput_ratio: round(snapPcTput / snapDrTput),
      driver_commands: driverSnapCommands,
      server_counted_per_call: { printcore: pcSnapServer, driver: drSnapServer },
    },
    markPaid: {
      printcore_ms: round(mPc),
      driver_site_ms: round(mDr),
      driver_same_writes_ms: round(mDr3),
      ratio_site: round(mDr / mPc),
      ratio_same_writes: round(mDr3 / mPc),
      printcore_per_s: round(mkTput.pc, 1),
      driver_site_per_s: round(mkTput.drv, 1),
      driver_same_writes_per_s: round(mkTput.drv3, 1),
      throughput_ratio_site: round(mkTput.pc / mkTput.drv),
      throughput_ratio_same_writes: round(mkTput.pc / mkTput.drv3),
      driver_site_commands: drvMarkCommands,
      driver_same_writes_commands: drv3MarkCommands,
      server_counted_per_call: { printcore: pcMarkServer, driver_site: drvMarkServer, driver_same_writes: drv3MarkServer },
      check: { unpaid_left: stillUnpaid, mark_paid_logs: logs },
    },
  }
}

async function main() {
  const addon = addonPath()
  if (addon.path) process.env.NAPI_RS_NATIVE_LIBRARY_PATH = addon.path
  const { PrintCore } = await import(path.join(root, 'lib', 'printcore.mjs'))
  const server = await startDb()
  const client = new MongoClient(server.uri, { monitorCommands: true })
  await client.connect()
  const counter = commandCounter(client)
  const out = {
    bench: 'site',
    settings: {
      sizes: SIZES,
      snapshot_runs: RUNS,
      snapshot_throughput: `${SNAP_CONCURRENT} snapshots, 4 in flight`,
      markPaid_sequential_calls: MARK_CALLS,
      markPaid_throughput: `${MARK_CONCURRENT} calls, 16 in flight`,
      working_set: '600 pending, 50 printing, 600 printed in 24 h, 600 failed (lists of 500, 500, 50, 500 = 1,550 orders per snapshot); the rest printed long ago',
      addon: addon.how,
      driver: 'mongodb 6.22.0, default options',
      printcore: 'PrintCore.connect(uri, { dbName }), default options',
      ratio: 'driver time / printcore time (>= 0.95 met); throughput_ratio: printcore per s / driver per s',
    },
    server: server.server,
    sizes: [],
  }
  try {
    console.log(`Peer: the website's own code (mongodb driver) vs printcore-node, server ${redact(server.uri)}`)
    for (const n of SIZES) out.sizes.push(await benchSize(server.uri, PrintCore, n, counter, client))
  } finally {
    await client.close()
    server.stop()
  }
  const s = out.sizes
  console.log(`\nmonitor snapshot: median of ${RUNS} sequential calls (ms), and calls/s with 4 in flight`)
  console.log(
    table(
      ['orders', 'printcore ms', 'driver ms', 'ratio', 'main thread ms pc/drv', 'printcore /s', 'driver /s', 'ratio /s'],
      s.map((x) => [
        x.orders,
        x.snapshot.printcore_ms,
        x.snapshot.driver_ms,
        x.snapshot.ratio,
        `${x.snapshot.printcore_main_thread_ms} / ${x.snapshot.driver_main_thread_ms}`,
        x.snapshot.printcore_per_s,
        x.snapshot.driver_per_s,
        x.snapshot.throughput_ratio,
      ]),
    ),
  )
  console.log(`\nmarkPaid: median of ${MARK_CALLS} sequential calls (ms), and calls/s with 16 in flight`)
  console.log(
    table(
      ['orders', 'printcore ms', 'driver site ms', 'ratio', 'driver same writes ms', 'ratio', 'printcore /s', 'site /s', 'same /s'],
      s.map((x) => [
        x.orders,
        x.markPaid.printcore_ms,
        x.markPaid.driver_site_ms,
        x.markPaid.ratio_site,
        x.markPaid.driver_same_writes_ms,
        x.markPaid.ratio_same_writes,
        x.markPaid.printcore_per_s,
        x.markPaid.driver_site_per_s,
        x.markPaid.driver_same_writes_per_s,
      ]),
    ),
  )
  const fmt = (o) => (o ? Object.entries(o).map(([k, v]) => `${k} ${v}`).join(', ') : 'n/a')
  for (const x of s) {
    const sc = x.snapshot.server_counted_per_call
    const mc = x.markPaid.server_counted_per_call
    console.log(`${x.orders} orders, commands per call counted by the server: snapshot printcore {${fmt(sc.printcore)}}, driver {${fmt(sc.driver)}}; markPaid printcore {${fmt(mc.printcore)}}, driver site {${fmt(mc.driver_site)}}, same writes {${fmt(mc.driver_same_writes)}}`)
  }
  console.log('driver site = updateOne + insertOne print_logs (2 commands); same writes = printcore\'s 2 (update with outbox push, insert)')
  const worst = (k) => Math.min(...s.map((x) => x[k].ratio ?? x[k].ratio_same_writes))
  out.snapshot_ratio_min = worst('snapshot')
  out.markPaid_ratio_same_writes_min = Math.min(...s.map((x) => x.markPaid.ratio_same_writes))
  out.markPaid_ratio_site_min = Math.min(...s.map((x) => x.markPaid.ratio_site))
  console.log(JSON.stringify(out))
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
