// The admin site's safe defaults, against a production build (`next start`, NODE_ENV=production) in a real
// browser (Debian's chromium through playwright-core): the session cookie's attributes, sign-out that
// ends the session for every copy of its cookie, no signed file URL in anything the browser receives,
// nothing of an order cached, and the login's lockout after 5 failures. The unit tests in test/ check the
// same pieces one by one (rate limit windows, constant-time compare, session store, URL redaction).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import http from 'node:http'
import { startSite, launchBrowser } from './site.mjs'
import { MongoClient } from 'mongodb'
import { startDb } from '../../../node-tests/harness.mjs'
import { knownPdf } from './known-pdf.mjs'

const require = createRequire(import.meta.url)
const { PrintCore } = require('printcore')
const ADMIN = { email: 'security@shop.example', password: 'a long and boring passphrase' }
const DB = `admin_security_${process.pid}`
// The order files are signed links, as S3 presigns them: without the signature the file server refuses.
const SIGNATURE = 'c0ffee5ignature0000deadbeef'
const CREDENTIAL = 'AKIASECURITYTEST'
const signedPath = (name) => `/${name}?X-Amz-Credential=${CREDENTIAL}&X-Amz-Signature=${SIGNATURE}`
const SECRETS = [SIGNATURE, CREDENTIAL, 'X-Amz-']

let db, client, core, siteProc, fileServer, browser, baseUrl, files
const fileRequests = []

/** The session cookie a sign-in answers with: { value, header } (header: the whole Set-Cookie line). */
async function signIn({ email = ADMIN.email, password = ADMIN.password, headers = {} } = {}) {
  const res = await fetch(`${baseUrl}/api/login`, { method: 'POST', body: new URLSearchParams({ email, password, next: '/admin/printer-monitor' }), redirect: 'manual', headers })
  const header = res.headers.getSetCookie().find((c) => c.startsWith('pc_session=')) ?? null
  return { res, header, cookie: header ? header.split(';')[0] : null }
}

const get = (path, cookie) => fetch(`${baseUrl}${path}`, { headers: cookie ? { cookie } : {}, redirect: 'manual' })

/** Every route that reads order data, with what answers when signed in. */
const DATA_ROUTES = [
  '/api/monitor/snapshot',
  '/api/monitor/orders?q=SIGNED',
  '/api/monitor/order?orderId=SIGNED-1',
  '/api/monitor/logs?orderId=SIGNED-1',
  '/api/monitor/metrics?range=24h',
  '/api/monitor/file?orderId=SIGNED-1',
  '/api/monitor/events',
]

before(async () => {
  db = await startDb()
  client = new MongoClient(db.uri)
  core = await PrintCore.connect(db.uri, { dbName: DB })
  await core.migrate()

  const pdf = knownPdf()
  fileServer = http.createServer((req, res) => {
    fileRequests.push(req.url)
    const url = new URL(req.url, 'http://x')
    if (url.searchParams.get('X-Amz-Signature') !== SIGNATURE) return res.writeHead(403).end('signature required')
    res.writeHead(200, { 'Content-Type': 'application/pdf', 'Content-Length': pdf.length }).end(pdf)
  })
  await new Promise((r) => fileServer.listen(0, '127.0.0.1', r))
  files = `http://127.0.0.1:${fileServer.address().port}`

  const now = Date.now()
  const order = (orderId, fields) => ({
    orderId,
    paymentStatus: 'completed',
    createdAt: new Date(now - 60_000),
    paidAt: new Date(now - 60_000),
    fileURL: `${files}${signedPath(`${orderId}.pdf`)}`,
    printingOptions: { pageSize: 'A4', copies: 1 },
    ...fields,
  })
  await client.db(DB).collection('orders').insertMany([
    order('SIGNED-1', { printStatus: 'pending' }),
    order('SIGNED-2', { printStatus: 'failed', printAttempt: 1, fileURLs: [`${files}${signedPath('a.pdf')}`, `${files}${signedPath('b.pdf')}`], printError: `the file server answered 403 for ${files}${signedPath('a.pdf')}` }),
    order('SIGNED-3', { printStatus: 'printed', printAttempt: 1, printStartedAt: new Date(now - 50_000), printCompletedAt: new Date(now - 40_000) }),
  ])
  // History entries whose details name the signed link (as a worker's error could).
  await client.db(DB).collection('print_logs').insertMany(
    ['SIGNED-1', 'SIGNED-2'].map((orderId) => ({
      action: 'retry',
      orderId,
      previousStatus: 'printing',
      newStatus: 'pending',
      timestamp: new Date(now - 30_000),
      metadata: { error: `the download of ${files}${signedPath(`${orderId}.pdf`)} failed`, fileURL: `${files}${signedPath(`${orderId}.pdf`)}` },
    })),
  )

  ;({ proc: siteProc, baseUrl } = await startSite({
    MONGODB_URI: db.uri,
    PRINTCORE_DB: DB,
    PRINTCORE_FILE_HOSTS: '127.0.0.1:*',
    PRINTCORE_FILE_ALLOW_HTTP: '1',
    PRINTCORE_FILE_ALLOW_LOOPBACK: '1',
    ADMIN_EMAIL: ADMIN.email,
    ADMIN_PASSWORD: ADMIN.password,
    SESSION_SECRET: 'test-secret-security-0123456789',
    // This site runs as deployed: the session cookie is Secure (chromium accepts it on http://127.0.0.1,
    // a loopback address being a secure context).
    ADMIN_INSECURE_COOKIE: '',
  }))
  browser = await launchBrowser()
})

after(async () => {
  await browser?.close()
  siteProc?.kill('SIGKILL')
  fileServer?.close()
  await client?.close()
  await core?.close()
  db?.stop()
})

/** A browser context that may only talk to the site. */
async function newContext() {
  const context = await browser.newContext()
  await context.route('**/*', (route) => (route.request().url().startsWith(baseUrl) ? route.continue() : route.abort()))
  return context
}

async function browserSignIn(page) {
  await page.goto(`${baseUrl}/login?next=/admin/printer-monitor`)
  await page.fill('input[name=email]', ADMIN.email)
  await page.fill('input[name=password]', ADMIN.password)
  await Promise.all([page.waitForURL('**/admin/printer-monitor'), page.click('button[type=submit]')])
  await page.getByTestId('live').filter({ hasText: 'live' }).waitFor({ timeout: 15_000 })
  // The page reads its snapshot again when the feed opens: done before a test ends the session under it
  // (a read after that goes to the login page).
  await page.waitForFunction(() => (window.__monitorTimings?.updates.length ?? 0) >= 1, null, { timeout: 15_000 })
}

test('the session cookie is HttpOnly, SameSite=Lax and Secure in production', async () => {
  const { res, header } = await signIn()
  assert.equal(res.status, 303)
  assert.ok(header, 'a session cookie is set')
  const attrs = header.split(';').slice(1).map((a) => a.trim().toLowerCase())
  assert.ok(attrs.includes('httponly'), header)
  assert.ok(attrs.includes('samesite=lax') || attrs.includes('samesite=strict'), header)
  assert.ok(attrs.includes('secure'), header)
  assert.ok(attrs.includes('path=/'), header)
  // In the browser: signed in over the Secure cookie, and no script can read it.
  const context = await newContext()
  try {
    const page = await context.newPage()
    await browserSignIn(page)
    const [cookie] = (await context.cookies()).filter((c) => c.name === 'pc_session')
    assert.equal(cookie.secure, true)
    assert.equal(cookie.httpOnly, true)
    assert.equal(cookie.sameSite, 'Lax')
    assert.equal(await page.evaluate(() => document.cookie.includes('pc_session')), false)
  } finally {
    await context.close()
  }
})

test('sign-out ends the session: its cookie, copied before, is refused by every data route after', async () => {
  const { cookie } = await signIn()
  const other = (await signIn()).cookie // another sign-in (another tablet): stays signed in
  for (const path of DATA_ROUTES) {
    const res = await get(path, cookie)
    assert.equal(res.status, 200, `${path} before sign-out: ${res.status === 200 ? '' : await res.text()}`)
    await res.body?.cancel()
  }
  const page = await get('/admin/printer-monitor', cookie)
  assert.equal(page.status, 200, 'the monitor page before sign-out')

  const out = await fetch(`${baseUrl}/api/logout`, { method: 'POST', headers: { cookie }, redirect: 'manual' })
  assert.equal(out.status, 303)
  assert.match(out.headers.getSetCookie().join('\n'), /pc_session=;.*(Max-Age=0|Expires=Thu, 01 Jan 1970)/i, 'the browser is told to drop it')

  // The same cookie, replayed as a copy would be: refused everywhere.
  for (const path of DATA_ROUTES) {
    const res = await get(path, cookie)
    assert.equal(res.status, 401, `${path} after sign-out`)
    await res.body?.cancel()
  }
  const after = await get('/admin/printer-monitor', cookie)
  assert.ok([303, 307, 308].includes(after.status), `the monitor page after sign-out answers ${after.status}`)
  assert.equal(new URL(after.headers.get('location'), baseUrl).pathname, '/login')
  // The other session was not touched.
  const snap = await get('/api/monitor/snapshot', other)
  assert.equal(snap.status, 200)
  await snap.body?.cancel()
})

test('in the browser: after "Sign out", the cookie it had, put back into a browser, gets the login page', async () => {
  const context = await newContext()
  try {
    const page = await context.newPage()
    await browserSignIn(page)
    const captured = (await context.cookies()).filter((c) => c.name === 'pc_session')
    assert.equal(captured.length, 1)
    await Promise.all([page.waitForURL('**/login'), page.getByRole('button', { name: 'Sign out' }).click()])
    assert.equal((await context.cookies()).filter((c) => c.name === 'pc_session').length, 0, 'the browser dropped it')

    // Someone who copied the cookie before (another tab, the tablet's saved state) puts it back.
    const thief = await newContext()
    try {
      await thief.addCookies(captured)
      const p = await thief.newPage()
      await p.goto(`${baseUrl}/admin/printer-monitor`)
      assert.equal(new URL(p.url()).pathname, '/login')
      assert.equal(await p.evaluate(async () => (await fetch('/api/monitor/snapshot')).status), 401)
      assert.equal(await p.evaluate(async () => (await fetch('/api/monitor/file?orderId=SIGNED-1')).status), 401)
    } finally {
      await thief.close()
    }
  } finally {
    await context.close()
  }
})

test('a server action sent with the cookie of an ended session is refused, and changes nothing', async () => {
  const context = await newContext()
  try {
    const page = await context.newPage()
    await browserSignIn(page)
    // The session ends on the server (signed out elsewhere, with a copy of the cookie); this page still holds it.
    const [held] = (await context.cookies()).filter((c) => c.name === 'pc_session')
    const out = await fetch(`${baseUrl}/api/logout`, { method: 'POST', headers: { cookie: `pc_session=${held.value}` }, redirect: 'manual' })
    assert.equal(out.status, 303)
    assert.equal((await context.cookies()).find((c) => c.name === 'pc_session')?.value, held.value, 'the browser still sends it')
    await page.getByTestId('group-printed').getByRole('button', { name: 'Reprint order SIGNED-3', exact: true }).click()
    const dialog = page.getByRole('dialog', { name: 'Reprint order SIGNED-3' })
    await dialog.getByLabel(/^Reason/).fill('replayed after sign-out')
    await dialog.getByRole('button', { name: 'Reprint order' }).click()
    await dialog.getByRole('alert').filter({ hasText: 'Sign in first.' }).waitFor({ timeout: 10_000 })
  } finally {
    await context.close()
  }
  assert.equal((await client.db(DB).collection('orders').findOne({ orderId: 'SIGNED-3' })).printStatus, 'printed')
  assert.equal(await client.db(DB).collection('print_logs').countDocuments({ orderId: 'SIGNED-3' }), 0)
})

test('no signed query of a file URL in anything the browser receives; the preview still draws the file', async () => {
  const context = await newContext()
  const reads = [] // every response of the site the browser got (the PDF's bytes and the event stream aside)
  let bodies
  try {
    const page = await context.newPage()
    page.on('response', (r) => {
      const type = r.headers()['content-type'] ?? ''
      const skip = type.startsWith('application/pdf') || type.startsWith('text/event-stream')
      reads.push(skip ? { url: r.url(), text: '' } : r.text().then((text) => ({ url: r.url(), text }), () => ({ url: r.url(), text: '' })))
    })
    await browserSignIn(page)
    for (const id of ['SIGNED-1', 'SIGNED-2', 'SIGNED-3']) await page.getByTestId(`order-${id}`).first().waitFor({ timeout: 15_000 })
    // The order's panel (order + logs) and its preview: fetched by order id, the server uses the signed link.
    await page.getByTestId('group-pending').getByRole('button', { name: 'Open order SIGNED-1', exact: true }).click()
    const detail = page.getByTestId('detail')
    await detail.getByTestId('preview-canvas').and(page.locator('[data-rendered=true]')).waitFor({ timeout: 30_000 })
    await detail.getByTestId('log-entry').first().waitFor({ timeout: 10_000 })
    await page.getByRole('button', { name: 'Close the order' }).click()
    await page.getByTestId('group-failed').getByRole('button', { name: 'Open order SIGNED-2', exact: true }).click()
    await detail.getByRole('heading', { name: 'Order SIGNED-2' }).waitFor()
    await detail.getByRole('button', { name: 'File 2' }).waitFor() // the number of its files still reaches the page
    // The search (every order of the database).
    const form = page.getByRole('search', { name: 'Orders' })
    await form.getByLabel('Order id').fill('SIGNED')
    await form.getByRole('button', { name: 'Search' }).click()
    await page.locator('[data-testid=search-results][aria-busy=false]').getByTestId('order-SIGNED-3').waitFor({ timeout: 15_000 })
    bodies = await Promise.all(reads)
    bodies.push({ url: `${page.url()} (the page as rendered)`, text: await page.content() })
  } finally {
    await context.close()
  }
  const seen = bodies.map((b) => b.url)
  for (const route of ['snapshot', 'order?', 'logs?', 'orders?', 'file?']) assert.ok(seen.some((u) => u.includes(`/api/monitor/${route}`)), `the browser read /api/monitor/${route}`)
  // The server fetched the file with its signature (the file server refuses without it)...
  assert.ok(fileRequests.some((u) => u.includes(SIGNATURE)), 'the server downloaded the signed link')
  // ...and none of the signature, nor any URL with a query pointing at the file server, reached the browser.
  for (const { url, text } of bodies) {
    for (const secret of SECRETS) assert.ok(!text.includes(secret), `${secret} in the response of ${url}`)
    assert.ok(!text.includes(`${files}/SIGNED-1.pdf?`), `a file URL with its query in ${url}`)
  }
  // The JSON routes, read directly: every fileURL is scheme, host and path.
  const { cookie } = await signIn()
  const urls = []
  const collect = (v) => {
    if (Array.isArray(v)) v.forEach(collect)
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) (k === 'fileURL' ? urls.push(x) : k === 'fileURLs' ? urls.push(...x) : collect(x))
  }
  for (const path of ['/api/monitor/snapshot', '/api/monitor/orders?q=SIGNED', '/api/monitor/order?orderId=SIGNED-2', '/api/monitor/logs?orderId=SIGNED-2']) {
    const res = await get(path, cookie)
    const text = await res.text()
    for (const secret of SECRETS) assert.ok(!text.includes(secret), `${secret} in ${path}`)
    collect(JSON.parse(text))
  }
  assert.ok(urls.length >= 6, `${urls.length} file URLs seen`)
  for (const u of urls) assert.match(u, /^http:\/\/127\.0\.0\.1:\d+\/[\w.-]+\.pdf$/, u)
})

test('the preview and every response carrying order data say Cache-Control: no-store, private', async () => {
  const { cookie } = await signIn()
  const noStore = (res, what) => {
    const cc = (res.headers.get('cache-control') ?? '').toLowerCase()
    assert.ok(cc.includes('no-store'), `${what}: Cache-Control "${cc}"`)
    assert.ok(cc.includes('private'), `${what}: Cache-Control "${cc}"`)
  }
  const file = await get('/api/monitor/file?orderId=SIGNED-1', cookie)
  assert.equal(file.status, 200, file.status === 200 ? '' : await file.clone().text())
  assert.equal(file.headers.get('content-type'), 'application/pdf')
  noStore(file, 'the preview file')
  await file.arrayBuffer()
  for (const path of DATA_ROUTES) {
    const res = await get(path, cookie)
    noStore(res, path)
    await res.body?.cancel()
  }
  // Refusals and failures too (a 401 after sign-out, a 404 order).
  noStore(await get('/api/monitor/snapshot'), 'a 401')
  noStore(await get('/api/monitor/order?orderId=NO-SUCH-ORDER', cookie), 'a 404')
  noStore(await get('/admin/printer-monitor', cookie), 'the monitor page')
  // And what the browser does with it: the preview is fetched from the network each time, never from its cache.
  const context = await newContext()
  try {
    const page = await context.newPage()
    await browserSignIn(page)
    const fromCache = await page.evaluate(async () => {
      const url = '/api/monitor/file?orderId=SIGNED-1'
      await (await fetch(url)).arrayBuffer()
      await (await fetch(url)).arrayBuffer()
      return performance.getEntriesByName(new URL(url, location.href).href).map((e) => e.transferSize)
    })
    assert.equal(fromCache.length, 2)
    assert.ok(fromCache.every((size) => size > 0), `transfer sizes ${fromCache}: 0 means served from the browser's cache`)
  } finally {
    await context.close()
  }
})

// Last: it locks the admin's account (and test addresses) out for 15 minutes.
test('the login locks out after 5 failures (429 with Retry-After), per address and per account; a success clears the count', async () => {
  const from = (ip) => ({ 'x-forwarded-for': ip }) // as a reverse proxy tells the site the client's address
  const attempt = (email, password, ip) => signIn({ email, password, headers: ip ? from(ip) : {} }).then((r) => r.res)

  // Per address: one address guessing five account names is locked, for every account (the admin's too).
  for (let i = 1; i <= 4; i++) assert.equal((await attempt(`guess${i}@shop.example`, 'x', '198.51.100.7')).status, 303)
  const spray = await attempt('guess5@shop.example', 'x', '198.51.100.7')
  assert.equal(spray.status, 429)
  assert.equal((await attempt(ADMIN.email, ADMIN.password, '198.51.100.7')).status, 429, 'the right password from a locked address')
  assert.equal((await attempt(ADMIN.email, ADMIN.password, '198.51.100.8')).status, 303, 'another address signs in')

  // A success clears the account's count: 4 failures, a success, 4 failures again are all answered normally.
  for (let i = 0; i < 4; i++) assert.equal((await attempt(ADMIN.email, 'wrong', '192.0.2.10')).status, 303)
  assert.equal((await attempt(ADMIN.email, ADMIN.password, '192.0.2.10')).headers.get('location'), '/admin/printer-monitor')
  for (let i = 0; i < 4; i++) {
    const res = await attempt(ADMIN.email, 'wrong', `192.0.2.${20 + i}`)
    assert.equal(res.status, 303, `failure ${i + 1} after the success`)
    assert.match(res.headers.get('location'), /^\/login\?error=1/)
  }
  // Per account: the 5th failure (from yet another address) locks the account.
  const locked = await attempt(ADMIN.email, 'wrong', '192.0.2.30')
  assert.equal(locked.status, 429)
  const retryAfter = Number(locked.headers.get('retry-after'))
  assert.ok(retryAfter > 14 * 60 && retryAfter <= 15 * 60, `Retry-After: ${retryAfter}`)
  assert.match(await locked.text(), /Too many failed sign-ins[^<]*try again in 15 minutes/)
  assert.equal(locked.headers.get('set-cookie'), null)
  // Locked: the right password from a new address is refused too, and no session is made.
  const right = await attempt(ADMIN.email, ADMIN.password, '192.0.2.31')
  assert.equal(right.status, 429)
  assert.equal(right.headers.get('set-cookie'), null)

  // In the browser: the sign-in form lands on the lockout page, which says why and when.
  const context = await newContext()
  try {
    const page = await context.newPage()
    await page.goto(`${baseUrl}/login?next=/admin/printer-monitor`)
    await page.fill('input[name=email]', ADMIN.email)
    await page.fill('input[name=password]', ADMIN.password)
    const [response] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/api/login')), page.click('button[type=submit]')])
    assert.equal(response.status(), 429)
    await page.getByRole('alert').filter({ hasText: /Sign-in is locked: try again in 1[45] minutes/ }).waitFor({ timeout: 10_000 })
    assert.equal((await context.cookies()).filter((c) => c.name === 'pc_session').length, 0)
  } finally {
    await context.close()
  }
})
