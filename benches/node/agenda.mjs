// Peer: Agenda, the MongoDB job queue a Node print server would use (issue 15, item 1).
//
// On the same server as printcore's side (the lead runs claim -> sending -> submitted -> printed in Rust with
// the same N and concurrency), Agenda's lock -> run -> complete:
//   - throughput: N jobs enqueued first, then Agenda started with concurrency C; jobs/s from start until the
//     Nth `complete` event, for (a) no-op work and (b) a ~4 KB file written into a temp folder. Median of RUNS.
//   - database commands per job in that phase, counted on the wire (driver command monitoring: every
//     commandStarted of the client Agenda uses, by name), and the enqueue's own commands separately.
//   - enqueue -> start latency: Agenda running and idle, jobs enqueued at a steady rate one by one; the time
//     from just before `agenda.now()` until the job's function starts, p50/p95. With the in-memory
//     notification channel (Agenda's fastest: the enqueue wakes the processor in the same process), and for
//     comparison the change-stream channel (works across processes, like printcore's worker) and polling alone.
//
// `node benches/node/agenda.mjs` (QUICK=1 for a small run; N, CONCURRENCY, RUNS, PROCESS_EVERY_MS, LAT_JOBS,
// LAT_RATE override). MONGODB_URI, else the project's harness starts the database. The last stdout line is one
// JSON object; a table for people is above it.
import { Agenda, InMemoryNotificationChannel } from 'agenda'
import { MongoBackend, MongoChangeStreamNotificationChannel } from '@agendajs/mongo-backend'
import { MongoClient } from 'mongodb'
import { mkdtemp, mkdir, writeFile, rm, readdir } from 'node:fs/promises'
import { performance } from 'node:perf_hooks'
import os from 'node:os'
import path from 'node:path'
import { QUICK, envInt, startDb, redact, commandCounter, median, percentile, round, table, sleep } from './common.mjs'

const N = envInt('N', QUICK ? 200 : 2000)
const CONCURRENCY = envInt('CONCURRENCY', 4)
const RUNS = envInt('RUNS', QUICK ? 1 : 3)
// Agenda's poll interval: its default is 5000 ms. 100 ms is as low as is sensible (each tick is one
// findAndModify per job name, even when idle); with a notification channel it is only the backstop.
const PROCESS_EVERY_MS = envInt('PROCESS_EVERY_MS', 100)
const LAT_JOBS = envInt('LAT_JOBS', QUICK ? 30 : 200)
const LAT_RATE = envInt('LAT_RATE', 20) // enqueues per second
const FILE_BYTES = 4096
// KINDS=noop: only the no-op throughput (the drain bench's baseline); LATENCY=0: no enqueue -> start runs.
const KINDS = (process.env.KINDS || 'noop,file').split(',').filter((k) => k === 'noop' || k === 'file')
const LATENCY = process.env.LATENCY !== '0'
const JOB = 'print'

const settings = {
  n: N,
  concurrency: CONCURRENCY,
  runs: RUNS,
  agenda: '6.2.6 (@agendajs/mongo-backend 4.0.3, mongodb driver 6.22.0)',
  processEvery_ms: PROCESS_EVERY_MS,
  maxConcurrency: CONCURRENCY,
  defaultConcurrency: CONCURRENCY,
  lockLimit: '0 (Agenda default: no limit; a lower one makes Agenda refill only once per processEvery)',
  notification_channel_throughput: 'InMemoryNotificationChannel',
  notification_channel_latency: 'InMemoryNotificationChannel (also shown: MongoChangeStreamNotificationChannel, polling alone)',
  file_work: `${FILE_BYTES} bytes written with fs.promises.writeFile into a temp folder, one file per job, no fsync (as printcore's folder backend)`,
  latency_jobs: LAT_JOBS,
  latency_rate_per_s: LAT_RATE,
  enqueue: 'agenda.now(name, data): one job per call',
}

const payload = Buffer.alloc(FILE_BYTES, 'x')

// Every run on a collection of its own (dropped after it): no run walks past another's deleted jobs.
let runNo = 0
const freshCollection = () => `agendaJobs_${runNo++}`

function newAgenda(db, collection, channel, work) {
  const agenda = new Agenda({
    backend: new MongoBackend({ mongo: db, collection }),
    notificationChannel: channel ?? undefined,
    processEvery: PROCESS_EVERY_MS,
    maxConcurrency: CONCURRENCY,
    defaultConcurrency: CONCURRENCY,
  })
  agenda.on('error', (e) => {
    if (!String(e && e.message).includes('not connected')) console.error('agenda error:', e && e.message)
  })
  agenda.define(JOB, work, { concurrency: CONCURRENCY })
  return agenda
}

/** N jobs enqueued, then Agenda started: jobs/s until the Nth completes, and the commands of that phase. */
async function throughputRun(db, counter, kind, dir) {
  const collection = freshCollection()
  const work =
    kind === 'file'
      ? async (job) => {
          await writeFile(path.join(dir, `${job.attrs.data.i}.pdf`), payload)
        }
      : async () => {}
  const agenda = newAgenda(db, collection, new InMemoryNotificationChannel(), work)
  await agenda.ready
  // Enqueue (not timed): 16 in flight, as a site marking orders paid would.
  const before = counter.snapshot()
  let next = 0
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < N) {
        const i = next++
        await agenda.now(JOB, { i })
      }
    }),
  )
  const enqueueCommands = counter.since(before)
  let done = 0
  let finished
  const all = new Promise((r) => (finished = r))
  agenda.on('complete', () => {
    if (++done === N) finished()
  })
  let firstStart = null
  agenda.once('start', () => (firstStart = performance.now()))
  const snap = counter.snapshot()
  const t0 = performance.now()
  await agenda.start()
  await all
  const seconds = (performance.now() - t0) / 1000
  const firstStartS = (firstStart - t0) / 1000
  const commands = counter.since(snap)
  await agenda.stop()
  const left = await db.collection(collection).countDocuments({ lastFinishedAt: null })
  if (left !== 0) throw new Error(`${left} jobs not finished`)
  await db.collection(collection).drop()
  if (kind === 'file') {
    const files = await readdir(dir)
    if (files.length !== N) throw new Error(`${files.length} files written, expected ${N}`)
    await rm(dir, { recursive: true, force: true })
    await mkdir(dir, { recursive: true })
  }
  return { jobs_per_s: N / seconds, seconds, firstStartS, commands, enqueueCommands }
}

/**
 * Why Agenda's lock phase grows faster than N: its lock query (MongoJobRepository.getNextJobToRun, Agenda's own
 * index findAndLockNextJobIndex) explained with half of N jobs locked: keys and documents examined per lock.
 */
async function explainLock(db) {
  const col = db.collection('agendaExplain')
  await col.drop().catch(() => {})
  await col.createIndex({ name: 1, nextRunAt: 1, priority: -1, lockedAt: 1, disabled: 1 }, { name: 'findAndLockNextJobIndex' })
  const t = Date.now() - N
  await col.insertMany(Array.from({ length: N }, (_, i) => ({ name: JOB, priority: 0, nextRunAt: new Date(t + i), lockedAt: i < N / 2 ? new Date() : null, disabled: null, data: { i } })))
  const filter = {
    name: JOB,
    disabled: { $ne: true },
    $or: [{ lockedAt: { $eq: null }, nextRunAt: { $lte: new Date(Date.now() + PROCESS_EVERY_MS) } }, { lockedAt: { $lte: new Date(Date.now() - 600_000) } }],
  }
  try {
    const e = await db.command({ explain: { find: col.collectionName, filter, sort: { nextRunAt: 1, priority: -1 }, limit: 1 }, verbosity: 'executionStats' })
    return { locked: N / 2, keys_examined: e.executionStats.totalKeysExamined, docs_examined: e.executionStats.totalDocsExamined }
  } catch (err) {
    return { error: err.message }
  } finally {
    await col.drop().catch(() => {})
  }
}

/** Agenda running and idle; LAT_JOBS enqueued at LAT_RATE/s: enqueue -> start, ms. */
async function latencyRun(db, collection, channel) {
  const enqueuedAt = new Map()
  const lat = []
  let finished
  const all = new Promise((r) => (finished = r))
  const agenda = newAgenda(db, collection, channel, async (job) => {
    const t = performance.now()
    lat.push(t - enqueuedAt.get(job.attrs.data.i))
    if (lat.length === LAT_JOBS) finished()
  })
  await agenda.start()
  await sleep(300) // the first poll, and the change stream, are up
  const start = performance.now()
  const pending = []
  for (let i = 0; i < LAT_JOBS; i++) {
    const due = start + (i * 1000) / LAT_RATE
    const wait = due - performance.now()
    if (wait > 0) await sleep(wait)
    enqueuedAt.set(i, performance.now())
    pending.push(agenda.now(JOB, { i }))
  }
  await Promise.all(pending)
  const timeout = sleep(30_000).then(() => 'timeout')
  if ((await Promise.race([all, timeout])) === 'timeout') throw new Error(`only ${lat.length} of ${LAT_JOBS} jobs started`)
  await agenda.stop()
  await db.collection(collection).drop()
  return { p50_ms: percentile(lat, 0.5), p95_ms: percentile(lat, 0.95), max_ms: Math.max(...lat) }
}

function perJob(commands, n) {
  const by = {}
  let total = 0
  for (const [k, v] of Object.entries(commands).sort()) {
    by[k] = round(v / n, 3)
    total += v
  }
  return { by_name: by, total: round(total / n, 3) }
}

async function main() {
  const server = await startDb()
  const client = new MongoClient(server.uri, { monitorCommands: true })
  await client.connect()
  const counter = commandCounter(client)
  const dbName = `bench_agenda_${process.pid}`
  const db = client.db(dbName)
  const dir = await mkdtemp(path.join(os.tmpdir(), 'agenda-bench-'))
  const out = { bench: 'agenda', settings, server: server.server }
  try {
    console.log(`Peer: Agenda, N=${N}, concurrency ${CONCURRENCY}, median of ${RUNS}, server ${redact(server.uri)}`)
    const throughput = {}
    for (const kind of KINDS) {
      const runs = []
      for (let r = 0; r < RUNS; r++) runs.push(await throughputRun(db, counter, kind, dir))
      const m = runs.find((x) => x.jobs_per_s === median(runs.map((x) => x.jobs_per_s)))
      throughput[kind] = {
        jobs_per_s: round(m.jobs_per_s, 1),
        runs_jobs_per_s: runs.map((x) => round(x.jobs_per_s, 1)),
        seconds: round(m.seconds, 2),
        first_job_started_after_s: round(m.firstStartS, 2),
        commands_per_job: perJob(m.commands, N),
        enqueue_commands_per_job: perJob(m.enqueueCommands, N),
      }
    }
    full: {
      if (!LATENCY || KINDS.length < 2) {
        // The drain bench's baseline: the throughput of the kinds asked for, nothing else.
        console.log(`lock -> run -> complete, ${N} jobs enqueued first, concurrency ${CONCURRENCY}: ${KINDS.map((k) => `${k} ${throughput[k].jobs_per_s} jobs/s (runs: ${throughput[k].runs_jobs_per_s.join(', ')})`).join('; ')}`)
        Object.assign(out, { jobs_per_s: throughput.noop?.jobs_per_s, jobs_per_s_file: throughput.file?.jobs_per_s, throughput })
        break full
      }
      const lockExplain = await explainLock(db)
      const latency = {}
      latency.in_memory_channel = await latencyRun(db, freshCollection(), new InMemoryNotificationChannel())
      let csError = null
      try {
        const collection = freshCollection()
        latency.change_stream_channel = await latencyRun(db, collection, new MongoChangeStreamNotificationChannel({ db, collection }))
      } catch (e) {
        csError = e.message
        latency.change_stream_channel = { error: e.message }
      }
      latency.polling_only = await latencyRun(db, freshCollection(), null)

      const rows = []
      for (const kind of ['noop', 'file']) {
        const t = throughput[kind]
        const by = Object.entries(t.commands_per_job.by_name)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')
        rows.push([kind === 'noop' ? 'no-op work' : '4 KB file written', t.jobs_per_s, t.seconds, t.first_job_started_after_s, t.commands_per_job.total, by])
      }
      console.log(`\nlock -> run -> complete, ${N} jobs enqueued first, concurrency ${CONCURRENCY} (runs: ${throughput.noop.runs_jobs_per_s.join(', ')} / ${throughput.file.runs_jobs_per_s.join(', ')} jobs/s)`)
      console.log(table(['work', 'jobs/s', 'total s', 'first start s', 'commands/job', 'by command (per job)'], rows))
      console.log('(lockLimit 0: Agenda locks the whole backlog, one findAndModify per job, before it runs the first: "first start s")')
      const eq = throughput.noop.enqueue_commands_per_job
      if (!lockExplain.error) console.log(`Agenda's lock query with ${lockExplain.locked} of ${N} jobs locked examines ${lockExplain.keys_examined} index keys and ${lockExplain.docs_examined} documents (explain): every lock walks past the jobs already locked`)
      console.log(`enqueue (agenda.now): ${eq.total} commands/job (${Object.entries(eq.by_name).map(([k, v]) => `${k} ${v}`).join(', ')})`)
      console.log(`\nenqueue -> start, ${LAT_JOBS} jobs at ${LAT_RATE}/s into an idle Agenda, processEvery ${PROCESS_EVERY_MS} ms`)
      const lrow = (name, l) => (l.error ? [name, 'n/a', 'n/a', l.error] : [name, round(l.p50_ms, 1), round(l.p95_ms, 1), round(l.max_ms, 1)])
      console.log(
        table(
          ['notification', 'p50 ms', 'p95 ms', 'max ms'],
          [
            lrow('in-memory channel (one process)', latency.in_memory_channel),
            lrow('change-stream channel', latency.change_stream_channel),
            lrow(`polling only (processEvery ${PROCESS_EVERY_MS} ms)`, latency.polling_only),
          ],
        ),
      )
      if (csError) console.log(`change-stream channel not measured: ${csError}`)
      Object.assign(out, {
        jobs_per_s: throughput.noop.jobs_per_s,
        jobs_per_s_file: throughput.file.jobs_per_s,
        commands_per_job: throughput.noop.commands_per_job,
        commands_per_job_file: throughput.file.commands_per_job,
        enqueue_commands_per_job: throughput.noop.enqueue_commands_per_job,
        p50_ms: round(latency.in_memory_channel.p50_ms, 2),
        p95_ms: round(latency.in_memory_channel.p95_ms, 2),
        throughput,
        lock_query_explain: lockExplain,
        latency: Object.fromEntries(Object.entries(latency).map(([k, v]) => [k, v.error ? v : { p50_ms: round(v.p50_ms, 2), p95_ms: round(v.p95_ms, 2), max_ms: round(v.max_ms, 2) }])),
      })
    }
  } finally {
    await db.dropDatabase().catch(() => {})
    await client.close()
    await rm(dir, { recursive: true, force: true })
    server.stop()
  }
  // Exit now: Agenda leaves a lock-keepalive timer of lockLifetime/2 (5 minutes) per job it ran.
  process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(0))
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
