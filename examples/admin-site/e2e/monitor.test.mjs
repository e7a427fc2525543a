// The admin monitor in a real browser (Debian's chromium through playwright-core), against a production
// build of the site, the database server and a real worker with the file backend.
// Run after `npm run build` (scripts/test-site.sh does everything).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startSite, launchBrowser } from './site.mjs'
import { MongoClient } from 'mongodb'
import { startDb, waitFor } from '../../../node-tests/harness.mjs'
import { returnPath } from '../lib/return-path.mjs'

const require = createRequire(import.meta.url)
const { PrintCore } = require('printcore')
const here = path.dirname(fileURLToPath(import.meta.url))
const site = path.resolve(here, '..')
const root = path.resolve(site, '../..')
const artifacts = path.join(root, 'artifacts', 'admin-site')
const targetDir = process.env.CARGO_TARGET_DIR || path.join(os.homedir(), '.cache', 'printcore', 'target')
const ADMIN = { email: 'manager@shop.example', password: 'correct horse battery staple' }
const DB = `admin_site_${process.pid}`

let db, client, core, siteProc, workerProc, fileServer, browser, page, baseUrl, tmp
const children = []

function startWorker() {
  workerProc = spawn(path.join(targetDir, 'debug', 'worker'), ['--config', path.join(tmp, 'worker.toml'), 'run'], { stdio: ['ignore', 'inherit', 'inherit'] })
  children.push(workerProc)
}

before(async () => {
  fs.mkdirSync(artifacts, { recursive: true })
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'admin-site-'))
  db = await startDb()
  client = new MongoClient(db.uri)
  core = await PrintCore.connect(db.uri, { dbName: DB })
  await core.migrate()

  const pdf = fs.readFileSync(path.join(root, 'tests', 'corpus', 'pdf', 'ok-a4-1page.pdf'))
  fileServer = http.createServer((req, res) => res.writeHead(200, { 'Content-Type': 'application/pdf' }).end(pdf))
  await new Promise((r) => fileServer.listen(0, '127.0.0.1', r))
  fs.writeFileSync(
    path.join(tmp, 'worker.toml'),
    `[database]\nuri = "${db.uri}"\nname = "${DB}"\n[worker]\npoll_interval_secs = 0.5\nhealth_interval_secs = 0.5\n` +
      `[files]\nallowed_hosts = ["127.0.0.1:*"]\nallow_loopback = true\nallow_http = true\n` +
      `[[printers]]\nid = "folder"\nname = "Front desk (folder)"\nbackend = "file"\nfolder = "${path.join(tmp, 'out')}"\n`,
  )

  ;({ proc: siteProc, baseUrl } = await startSite({ MONGODB_URI: db.uri, PRINTCORE_DB: DB, ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password, SESSION_SECRET: 'test-secret-0123456789abcdef', PRINTCORE_FILE_HOSTS: '127.0.0.1:*', PRINTCORE_FILE_ALLOW_HTTP: '1', PRINTCORE_FILE_ALLOW_LOOPBACK: '1' }))
  children.push(siteProc)
  browser = await launchBrowser()
  page = await (await browser.newContext()).newPage()
})

after(async () => {
  await browser?.close()
  for (const c of children) c.kill('SIGKILL')
  fileServer?.close()
  await client?.close()
  db?.stop()
})

test('/admin without a login redirects to the login page', async () => {
  await page.goto(`${baseUrl}/admin/printer-monitor`)
  assert.match(new URL(page.url()).pathname, /^\/login$/)
  const api = await fetch(`${baseUrl}/api/monitor/snapshot`)
  assert.equal(api.status, 401, 'the API refuses without a session too')
  await page.screenshot({ path: path.join(artifacts, '1-login.png') })
})

test('orders appear under pending and move to printed without a reload; a reprint is logged with the admin email', async () => {
  await page.fill('input[name=email]', ADMIN.email)
  await page.fill('input[name=password]', ADMIN.password)
  await Promise.all([page.waitForURL('**/admin/printer-monitor'), page.click('button[type=submit]')])
  await page.getByTestId('live').filter({ hasText: 'live' }).waitFor({ timeout: 10_000 })

  // The website takes three orders and their payments; no worker runs yet.
  const orders = client.db(DB).collection('orders')
  const ids = ['WEB-1', 'WEB-2', 'WEB-3']
  for (const id of ids) {
    await orders.insertOne({ orderId: id, paymentStatus: 'pending', createdAt: new Date(), fileURL: `http://127.0.0.1:${fileServer.address().port}/${id}.pdf`, printingOptions: { pageSize: 'A4', copies: 1 } })
    await core.markPaid(id)
  }
  const navigations = []
  page.on('framenavigated', (f) => f === page.mainFrame() && navigations.push(f.url()))
  for (const id of ids) await page.getByTestId('group-pending').getByTestId(`order-${id}`).waitFor({ timeout: 10_000 })
  await page.screenshot({ path: path.join(artifacts, '2-pending.png'), fullPage: true })

  startWorker()
  for (const id of ids) await page.getByTestId('group-printed').getByTestId(`order-${id}`).waitFor({ timeout: 30_000 })
  await page.getByTestId('printer-folder').filter({ hasText: 'online' }).waitFor({ timeout: 10_000 })
  assert.deepEqual(navigations, [], 'the page never reloaded')
  await page.screenshot({ path: path.join(artifacts, '3-printed.png'), fullPage: true })

  // The reason goes into the page's dialog (no window.prompt).
  await page.getByTestId('group-printed').getByTestId('order-WEB-1').getByRole('button', { name: 'Reprint' }).click()
  const dialog = page.getByRole('dialog', { name: 'Reprint order WEB-1' })
  await dialog.getByLabel(/^Reason/).fill('customer wants a second copy')
  await dialog.getByRole('button', { name: 'Reprint order' }).click()
  await dialog.getByTestId('result-WEB-1').filter({ hasText: 'printed → pending' }).waitFor({ timeout: 10_000 })
  await dialog.getByRole('button', { name: 'Close' }).click()
  await page.getByTestId('message').filter({ hasText: 'WEB-1: printed -> pending' }).waitFor({ timeout: 10_000 })
  await page.getByRole('button', { name: 'Open order WEB-1', exact: true }).first().click()
  await page.getByTestId('history').filter({ hasText: `reprint (printed → pending) by ${ADMIN.email}: customer wants a second copy` }).waitFor({ timeout: 10_000 })
  await page.screenshot({ path: path.join(artifacts, '4-reprint.png'), fullPage: true })

  const log = await client.db(DB).collection('print_logs').findOne({ orderId: 'WEB-1', action: 'reprint' })
  assert.equal(log.adminEmail, ADMIN.email)
  assert.equal(log.reason, 'customer wants a second copy')
  assert.equal(log.metadata.mayHavePrinted, true)
  // The worker prints it again, live.
  await waitFor('WEB-1 printed again', 30_000, async () => (await orders.findOne({ orderId: 'WEB-1' })).printStatus === 'printed')
})

test('the login sends the admin back only to a page of this site (no open redirect)', async () => {
  const hostile = ['/\\evil.com', '//evil.com', '/\\\\evil', '/%5Cevil.com', '/%2F%2Fevil.com', '/\t/evil.com', '/.//evil.com', 'https://evil.com']
  for (const next of hostile) {
    for (const password of [ADMIN.password, 'wrong password']) {
      const body = new URLSearchParams({ email: ADMIN.email, password, next })
      const res = await fetch(`${baseUrl}/api/login`, { method: 'POST', body, redirect: 'manual' })
      assert.equal(res.status, 303, JSON.stringify(next))
      const location = res.headers.get('location')
      const target = new URL(location, baseUrl)
      assert.equal(target.origin, baseUrl, `${JSON.stringify(next)} redirected to ${location}`)
      if (password === ADMIN.password) assert.equal(target.pathname, '/admin/printer-monitor', location)
      else assert.equal(returnPath(target.searchParams.get('next')), '/admin/printer-monitor', location)
    }
  }
  // In the browser, as a phishing link would be followed: signed in, still on this site.
  const context = await browser.newContext()
  try {
    const p = await context.newPage()
    await p.goto(`${baseUrl}/login?next=${encodeURIComponent('/\\evil.com')}`)
    assert.equal(await p.inputValue('input[name=next]'), '/admin/printer-monitor')
    await p.fill('input[name=email]', ADMIN.email)
    await p.fill('input[name=password]', ADMIN.password)
    await Promise.all([p.waitForURL('**/admin/printer-monitor'), p.click('button[type=submit]')])
    assert.equal(new URL(p.url()).origin, baseUrl)
  } finally {
    await context.close()
  }
})

test('two tabs of one browser share one live stream; when its tab closes, another tab takes it over', async () => {
  const context = page.context()
  const orders = client.db(DB).collection('orders')
  const streams = new Map()
  const tab = async () => {
    const p = await context.newPage()
    streams.set(p, 0)
    p.on('request', (r) => r.url().endsWith('/api/monitor/events') && streams.set(p, streams.get(p) + 1))
    // The origin the first tab signed in on (Next's redirects may name localhost for 127.0.0.1): tabs
    // share a stream only within one origin, as they share the session cookie.
    await p.goto(new URL('/admin/printer-monitor', page.url()).href)
    assert.equal(new URL(p.url()).pathname, '/admin/printer-monitor', 'signed in with the session of the first tab')
    await p.getByTestId('live').filter({ hasText: 'live' }).waitFor({ timeout: 10_000 })
    return p
  }
  const first = await tab()
  const second = await tab()
  const opened = () => [...streams.values()].reduce((a, b) => a + b, 0)
  const base = opened()
  // The page of the earlier tests may lead; whichever tab leads, the two new tabs opened at most one stream.
  assert.ok(base <= 1, `the new tabs opened ${base} streams`)
  await orders.insertOne({ orderId: 'TAB-1', paymentStatus: 'pending', createdAt: new Date(), fileURL: 'https://res.cloudinary.com/x/TAB-1.pdf' })
  await orders.updateOne({ orderId: 'TAB-1' }, { $set: { printStatus: 'failed', paymentStatus: 'completed', printError: 'test' } })
  for (const p of [first, second]) await p.getByTestId('group-failed').getByTestId('order-TAB-1').waitFor({ timeout: 10_000 })
  // The leading tabs go away: the remaining one opens the stream and stays live.
  await page.close()
  await first.close()
  await waitFor('the remaining tab to open the stream', 10_000, () => streams.get(second) >= 1)
  await orders.insertOne({ orderId: 'TAB-2', paymentStatus: 'completed', printStatus: 'failed', printError: 'test', createdAt: new Date(), fileURL: 'https://res.cloudinary.com/x/TAB-2.pdf' })
  await second.getByTestId('group-failed').getByTestId('order-TAB-2').waitFor({ timeout: 10_000 })
  await second.screenshot({ path: path.join(artifacts, '5-shared-stream.png'), fullPage: true })
})
