// Shared by the browser tests: the production build of this site started on a free loopback port, and
// Debian's chromium launched headless.
import { spawn } from 'node:child_process'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { waitFor } from '../../../node-tests/harness.mjs'

const site = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })

/** `next start` with `env` added to this process's, once its login page answers: { proc, baseUrl }. */
export async function startSite(env) {
  const port = await freePort()
  const baseUrl = `http://127.0.0.1:${port}`
  const proc = spawn(path.join(site, 'node_modules', '.bin', 'next'), ['start', '-p', String(port), '-H', '127.0.0.1'], {
    cwd: site,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  await waitFor('the site to answer', 60_000, async () => {
    try {
      return (await fetch(`${baseUrl}/login`)).ok
    } catch {
      return false
    }
  })
  return { proc, baseUrl }
}

/** Chromium (CHROMIUM, else /usr/bin/chromium), headless, without background traffic. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
  })
}
