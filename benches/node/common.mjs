// Shared helpers of the Node peer benchmarks: the database (MONGODB_URI, else the project's harness), command
// counting on the wire, medians and percentiles, a plain table.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import os from 'node:os'
import { startDb as startTestDb } from '../../node-tests/harness.mjs'

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const targetDir = process.env.CARGO_TARGET_DIR || path.join(os.homedir(), '.cache', 'printcore', 'target')
export const QUICK = process.env.QUICK === '1' || process.env.QUICK === 'true'

/** A number from the environment, or `dflt`. */
export function envInt(name, dflt) {
  const v = process.env[name]
  if (v == null || v === '') return dflt
  const n = Number(v)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, not ${v}`)
  return Math.floor(n)
}

/**
 * The database: MONGODB_URI when set, else the project's harness (node-tests/harness.mjs: pc-harness starts
 * SecantusDB as a single-node replica set on a free loopback port), the harness built on first use.
 * `stop()` ends the harness (if we started it); `server` names what runs.
 */
export async function startDb() {
  const bin = path.join(targetDir, 'debug', 'pc-harness')
  if (!process.env.MONGODB_URI && !existsSync(bin)) {
    console.error(`building the database harness (${bin})...`)
    const r = spawnSync('cargo', ['build', '-q', '-p', 'printcore-tests', '--bin', 'pc-harness'], {
      cwd: root,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, CARGO_TARGET_DIR: targetDir },
    })
    if (r.status !== 0) throw new Error('cargo build -p printcore-tests --bin pc-harness failed')
  }
  const db = await startTestDb()
  const server = process.env.MONGODB_URI ? 'MONGODB_URI' : 'the project harness (SecantusDB, single-node replica set)'
  return { ...db, server }
}

/** The URI with any password hidden. */
export function redact(uri) {
  return uri.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:****@')
}

/**
 * Counts the commands a MongoClient (created with `monitorCommands: true`) sends, by name. `snapshot()`
 * returns a copy; `since(snap)` the difference. Handshakes and heartbeats are not commands here (the driver
 * does not report them as commandStarted), so what is counted is what the code under test asked for.
 */
export function commandCounter(client) {
  const counts = new Map()
  client.on('commandStarted', (e) => counts.set(e.commandName, (counts.get(e.commandName) ?? 0) + 1))
  return {
    snapshot: () => new Map(counts),
    since(snap) {
      const out = {}
      for (const [k, v] of counts) {
        const d = v - (snap.get(k) ?? 0)
        if (d > 0) out[k] = d
      }
      return out
    },
  }
}

/** The `p` quantile (0 to 1), nearest rank (as benches/src/lib.rs). */
export function percentile(values, p) {
  const v = [...values].sort((a, b) => a - b)
  return v[Math.round((v.length - 1) * p)]
}

/** The median (the upper of the middle two, as benches/src/lib.rs). */
export function median(values) {
  return percentile(values, 0.5)
}

export const round = (x, d = 2) => (x == null || !Number.isFinite(x) ? x : Math.round(x * 10 ** d) / 10 ** d)

/** A plain text table: `rows` are arrays; numbers right-aligned. */
export function table(header, rows) {
  const all = [header, ...rows].map((r) => r.map((c) => (c == null ? '-' : String(c))))
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)))
  const fmt = (r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')
  return [fmt(all[0]), widths.map((w) => '-'.repeat(w)).join('-+-'), ...all.slice(1).map(fmt)].join('\n')
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
