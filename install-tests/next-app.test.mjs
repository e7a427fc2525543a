// The install path as a shop's developer meets it: the packed package and its linux-x64-gnu addon
// package installed into a fresh Next.js app, with no Rust toolchain on PATH; `npx printcore migrate`
// from the app; `next build` (which type-checks the app against the package's types); `next start`; route
// handlers that use the addon against the test database; and the error a missing addon package gives.
//
// PRINTCORE_DIST: a folder holding printcore-<v>.tgz and printcore-linux-x64-gnu-<v>.tgz, packed as they
// are published (scripts/pack-npm.mjs). The Next.js version is the one examples/admin-site uses.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { MongoClient } from 'mongodb'
import { startDb, waitFor } from '../node-tests/harness.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..')
const dist = process.env.PRINTCORE_DIST
const { version } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
const site = JSON.parse(fs.readFileSync(path.join(root, 'examples', 'admin-site', 'package.json'), 'utf8'))
const DB = `next_app_${process.pid}`

// No Rust: only Node's own folder and the system's, and no cargo or rustup home to fall back on.
const PATH = [path.dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':')
const env = {
  PATH,
  HOME: process.env.HOME,
  CARGO_HOME: '/nonexistent',
  RUSTUP_HOME: '/nonexistent',
  NEXT_TELEMETRY_DISABLED: '1',
  npm_config_cache: process.env.npm_config_cache || path.join(os.homedir(), '.npm'),
  npm_config_update_notifier: 'false',
  npm_config_fund: 'false',
  npm_config_audit: 'false',
}

let db, client, app, server, baseUrl
const logs = []

function run(cmd, args, extraEnv = {}, cwd = app) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    child.on('exit', (code) => {
      logs.push(`$ ${cmd} ${args.join(' ')}\n${out}`)
      resolve({ code, out })
    })
  })
}

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })

function write(file, text) {
  fs.mkdirSync(path.dirname(path.join(app, file)), { recursive: true })
  fs.writeFileSync(path.join(app, file), text)
}

before(async () => {
  assert.ok(dist, 'PRINTCORE_DIST must name the folder with the packed tarballs')
  db = await startDb()
  client = new MongoClient(db.uri)
  app = fs.mkdtempSync(path.join(os.tmpdir(), 'printcore-next-app-'))
  write('package.json', JSON.stringify({ name: 'shop', private: true, scripts: { build: 'next build', start: 'next start' } }, null, 2))
  write('next.config.ts', `import type { NextConfig } from 'next'\n// printcore is a native addon: Node loads it, the bundler leaves it alone.\nconst config: NextConfig = { serverExternalPackages: ['printcore'] }\nexport default config\n`)
  write(
    'tsconfig.json',
    JSON.stringify(
      {
        compilerOptions: {
          target: 'ES2022', lib: ['dom', 'dom.iterable', 'esnext'], strict: true, noEmit: true, esModuleInterop: true,
          module: 'esnext', moduleResolution: 'bundler', resolveJsonModule: true, isolatedModules: true, jsx: 'preserve',
          incremental: true, skipLibCheck: true, allowJs: false, plugins: [{ name: 'next' }], paths: { '@/*': ['./*'] },
        },
        include: ['next-env.d.ts', '**/*.ts', '**/*.tsx', '.next/types/**/*.ts'],
        exclude: ['node_modules'],
      },
      null,
      2,
    ),
  )
  write('app/layout.tsx', `export default function RootLayout({ children }: { children: React.ReactNode }) {\n  return <html lang="en"><body>{children}</body></html>\n}\n`)
  write('app/page.tsx', `export default function Home() {\n  return <main>shop</main>\n}\n`)
  write(
    'lib/printcore.ts',
    `import { PrintCore, PrintCoreError, type ErrorCode } from 'printcore'\n\n` +
      `// Shared per process; a failed attempt is never remembered, so calling it per request is right.\n` +
      `export const printcore = () => PrintCore.connect(process.env.MONGODB_URI!, { dbName: process.env.PRINTCORE_DB, serverSelectionTimeoutMs: 5000, timeoutMs: 10000 })\n\n` +
      `const STATUS: Record<ErrorCode, number> = {\n  NOT_FOUND: 404, NOT_PAID: 409, INVALID_TRANSITION: 409, OWNERSHIP_LOST: 409, CONFLICT: 409, INVALID_ARGUMENT: 400,\n  INVALID_DOCUMENT: 422, FILE_UNAVAILABLE: 503, FILE_INVALID: 422, FILE_REJECTED: 403, CAPABILITY_MISMATCH: 422, UNSUPPORTED: 501, TIMEOUT: 504, ABORTED: 499, DATABASE: 503,\n}\n\n` +
      `export function errorResponse(e: unknown): Response {\n  if (e instanceof PrintCoreError) return Response.json({ code: e.code, transient: e.transient, error: e.message }, { status: STATUS[e.code] })\n  throw e\n}\n`,
  )
  write(
    'app/api/orders/[orderId]/paid/route.ts',
    `import { printcore, errorResponse } from '@/lib/printcore'\n\nexport const runtime = 'nodejs'\n\n` +
      `export async function POST(request: Request, { params }: { params: Promise<{ orderId: string }> }) {\n  const { orderId } = await params\n  try {\n    const r = await (await printcore()).markPaid(orderId, { signal: request.signal })\n    return Response.json(r)\n  } catch (e) {\n    return errorResponse(e)\n  }\n}\n`,
  )
  write(
    'app/api/monitor/route.ts',
    `import { printcore, errorResponse } from '@/lib/printcore'\n\nexport const runtime = 'nodejs'\nexport const dynamic = 'force-dynamic'\n\n` +
      `export async function GET() {\n  try {\n    const core = await printcore()\n    const snap = await core.snapshot()\n    return Response.json({ pending: snap.pending.map((o) => o.orderId), takenAtIsDate: snap.takenAt instanceof Date, paidAtIsDate: snap.pending.every((o) => o.paidAt instanceof Date) })\n  } catch (e) {\n    return errorResponse(e)\n  }\n}\n`,
  )
})

after(async () => {
  server?.kill('SIGKILL')
  await client?.close()
  db?.stop()
  if (process.env.KEEP_NEXT_APP) console.log(`the app is kept in ${app}`)
  else if (app) fs.rmSync(app, { recursive: true, force: true })
  if (process.exitCode) console.log(logs.join('\n'))
})

test('no Rust toolchain is on the PATH the app is built with', () => {
  for (const tool of ['cargo', 'rustc', 'rustup']) {
    const r = spawnSync('sh', ['-c', `command -v ${tool}`], { env })
    assert.notEqual(r.status, 0, `${tool} is reachable: ${r.stdout}`)
  }
})

test('npm installs the packed package and its linux-x64-gnu addon package into the app', async () => {
  const main = path.join(dist, `printcore-${version}.tgz`)
  const addon = path.join(dist, `printcore-linux-x64-gnu-${version}.tgz`)
  const deps = ['next', 'react', 'react-dom'].map((d) => `${d}@${site.dependencies[d]}`)
  const r = await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...deps, 'typescript@5', '@types/react@19', '@types/react-dom@19', '@types/node@20', main, addon])
  assert.equal(r.code, 0, r.out)
  const installed = JSON.parse(fs.readFileSync(path.join(app, 'node_modules', 'printcore', 'package.json'), 'utf8'))
  assert.equal(installed.version, version)
  assert.deepEqual(
    Object.keys(installed.optionalDependencies).sort(),
    ['darwin-arm64', 'darwin-x64', 'linux-arm64-gnu', 'linux-arm64-musl', 'linux-x64-gnu', 'linux-x64-musl', 'win32-arm64-msvc', 'win32-x64-msvc'].map((p) => `printcore-${p}`),
    'one optional dependency per platform, as published',
  )
  assert.ok(fs.existsSync(path.join(app, 'node_modules', 'printcore-linux-x64-gnu', 'printcore.linux-x64-gnu.node')))
  assert.ok(!fs.readdirSync(path.join(app, 'node_modules', 'printcore')).some((f) => f.endsWith('.node')), 'the main package holds no addon')
})

test('npx printcore migrate --dry-run, then migrate, work from the app', async () => {
  const dry = await run('npx', ['--no-install', 'printcore', 'migrate', '--dry-run'], { MONGODB_URI: db.uri, PRINTCORE_DB: DB })
  assert.equal(dry.code, 0, dry.out)
  assert.match(dry.out, /dry run/)
  assert.equal((await client.db(DB).collection('orders').listIndexes().toArray().catch(() => [])).length, 0, 'a dry run creates no index')
  fs.writeFileSync(path.join(app, '.env.local'), `MONGODB_URI=${db.uri}\nPRINTCORE_DB=${DB}\n`)
  const real = await run('npx', ['--no-install', 'printcore', 'migrate'])
  assert.equal(real.code, 0, real.out)
  assert.match(real.out, /read settings from \.env\.local/)
  assert.ok((await client.db(DB).collection('orders').listIndexes().toArray()).some((i) => i.name === 'claim_order'))
  const usage = await run('npx', ['--no-install', 'printcore', 'frobnicate'])
  assert.equal(usage.code, 2)
  assert.match(usage.out, /usage: printcore/)
})

test('next build succeeds (and type-checks the app against the package types)', async () => {
  const r = await run(path.join(app, 'node_modules', '.bin', 'next'), ['build'])
  assert.equal(r.code, 0, r.out)
})

test('next start serves route handlers that use the addon against the database', async () => {
  const port = await freePort()
  baseUrl = `http://127.0.0.1:${port}`
  server = spawn(path.join(app, 'node_modules', '.bin', 'next'), ['start', '-p', String(port), '-H', '127.0.0.1'], { cwd: app, env: { ...env, MONGODB_URI: db.uri, PRINTCORE_DB: DB }, stdio: 'ignore' })
  await waitFor('the app to answer', 60_000, async () => {
    try {
      return (await fetch(`${baseUrl}/`)).ok
    } catch {
      return false
    }
  })
  await client.db(DB).collection('orders').insertOne({ orderId: 'NX-1', paymentStatus: 'pending', createdAt: new Date(), fileURL: 'https://res.cloudinary.com/shop/raw/upload/NX-1.pdf' })
  const paid = await fetch(`${baseUrl}/api/orders/NX-1/paid`, { method: 'POST' })
  assert.equal(paid.status, 200)
  assert.deepEqual(await paid.json(), { outcome: 'queued', printStatus: 'pending' })
  const monitor = await (await fetch(`${baseUrl}/api/monitor`)).json()
  assert.deepEqual(monitor, { pending: ['NX-1'], takenAtIsDate: true, paidAtIsDate: true })
  const missing = await fetch(`${baseUrl}/api/orders/NX-404/paid`, { method: 'POST' })
  assert.equal(missing.status, 404, 'a PrintCoreError reached the route as itself (instanceof)')
  assert.equal((await missing.json()).code, 'NOT_FOUND')
})

test('without the platform package, importing printcore says which platform and which package to install', async () => {
  fs.rmSync(path.join(app, 'node_modules', 'printcore-linux-x64-gnu'), { recursive: true, force: true })
  const r = await run(process.execPath, ['-e', "require('printcore')"])
  assert.notEqual(r.code, 0)
  assert.match(r.out, /for this platform \(linux-x64-gnu\) is not installed/)
  assert.match(r.out, new RegExp(`npm install printcore-linux-x64-gnu@${version.replace(/\./g, '\\.')}`))
})
