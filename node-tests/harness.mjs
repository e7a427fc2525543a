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
export async function waitFor(what, ms, check) {
  const start = Date.now()
  for (;;) {
    const v = await check()
    if (v) return v
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}
