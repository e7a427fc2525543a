// The test database for the Node tests: MONGODB_URI (MONGODB_STANDALONE_URI) when set, otherwise the
// project's harness (pc-harness, the same one the Rust tests use) starts SecantusDB on a free port.
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import os from 'node:os'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const targetDir = process.env.CARGO_TARGET_DIR || path.join(os.homedir(), '.cache', 'printcore', 'target')

export async function startDb({ standalone = false, auth = false } = {}) {
  const given = auth ? undefined : standalone ? process.env.MONGODB_STANDALONE_URI : process.env.MONGODB_URI
  if (given) return { uri: given, stop() {} }
  const bin = path.join(targetDir, 'debug', 'pc-harness')
  const args = ['db', ...(standalone ? ['--standalone'] : []), ...(auth ? ['--auth'] : [])]
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'inherit'], cwd: root })
  const lines = createInterface({ input: child.stdout })
  const uri = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the database harness did not start within 120 s')), 120_000)
    child.on('exit', (code) => reject(new Error(`pc-harness exited with ${code}`)))
    lines.on('line', (line) => {
      if (line.startsWith('MONGODB_URI=')) {
        clearTimeout(timer)
        resolve(line.slice('MONGODB_URI='.length))
      }
    })
  })
  return {
    uri,
    stop() {
      child.kill('SIGKILL')
    },
  }
}

let n = 0
export function dbName(prefix) {
  return `${prefix}_${process.pid}_${n++}`
}

/** Waits until `check()` returns a truthy value, polling every 25 ms, at most `ms`. */
/**
 * Waits until a live feed is open: a feed opens in the background and never reports a change made before
 * it opened, so `insert(i)` (an order written with a name of its own, i = 0, 1, ...) is called again every
 * `everyMs` until `seen()` says the feed reported one of them; at most 30 s.
 */
export async function feedOpen(insert, seen, everyMs = 500) {
  const start = Date.now()
  for (let i = 0; ; i++) {
    await insert(i)
    const until = Date.now() + everyMs
    while (Date.now() < until) {
      if (seen()) return
      await new Promise((r) => setTimeout(r, 25))
    }
    if (Date.now() - start > 30_000) throw new Error(`the feed reported none of ${i + 1} orders written in 30 s`)
  }
}

export async function waitFor(what, ms, check) {
  const start = Date.now()
  for (;;) {
    const v = await check()
    if (v) return v
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}
