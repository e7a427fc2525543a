// What the monitor sends to the browser (lib/browser-safe.mjs, used by lib/http.ts for every API response
// and by the server actions): no customer file URL with its signed query, no credentials in any URL.
// e2e/security.test.mjs checks every JSON the browser gets from the running site.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { displayUrl, forBrowser, redactText } from '../lib/browser-safe.mjs'

const SIGNED = 'https://bucket.s3.eu-west-1.amazonaws.com/orders/4711/flyer.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20261205&X-Amz-Signature=deadbeefcafe#page=2'

test('a URL keeps its scheme, host and path; loses credentials, query and fragment', () => {
  assert.equal(displayUrl(SIGNED), 'https://bucket.s3.eu-west-1.amazonaws.com/orders/4711/flyer.pdf')
  assert.equal(displayUrl('https://user:pa55@files.shop.example:8443/a/b.pdf?token=x'), 'https://files.shop.example:8443/a/b.pdf')
  assert.equal(displayUrl('http://127.0.0.1:4000/known.pdf?sig=1'), 'http://127.0.0.1:4000/known.pdf')
  // Not parseable as a URL: still nothing after ? or #, no credentials.
  assert.equal(displayUrl('files/x.pdf?token=abc'), 'files/x.pdf')
  assert.equal(displayUrl('//user:pw@host/x.pdf#t=1'), '//host/x.pdf')
})

test('URLs inside text lose their query (error messages, log details)', () => {
  assert.equal(redactText(`could not download ${SIGNED} (403)`), 'could not download https://bucket.s3.eu-west-1.amazonaws.com/orders/4711/flyer.pdf (403)')
  assert.equal(redactText('mongodb://shop:s3cret@db1:27017/shop?authSource=admin is down'), 'mongodb://db1:27017/shop is down')
  assert.equal(redactText('no URL here? none.'), 'no URL here? none.')
})

test('an order, a snapshot, a search page: no signed query anywhere, dates as JSON sends them', () => {
  const order = {
    id: '65f0c0ffee',
    orderId: 'WEB-1',
    fileURL: SIGNED,
    fileURLs: [SIGNED, 'https://cdn.shop.example/b.pdf?token=abc123'],
    printError: `the file server answered 403 for ${SIGNED}`,
    createdAt: new Date('2026-12-05T10:00:00Z'),
    printingOptions: { pageSize: 'A4', copies: 2 },
    problems: [],
    mayHavePrinted: false,
    printAttempt: undefined,
  }
  const snapshot = { pending: [order], printing: [], printed: [order], failed: [], printers: [{ printerId: 'p', uri: 'ipps://admin:pw@printer.local/ipp/print?x=1' }], counts: { pending: 1 }, takenAt: new Date(0) }
  const sent = forBrowser(snapshot)
  const text = JSON.stringify(sent)
  for (const secret of ['X-Amz-Signature', 'deadbeefcafe', 'token=abc123', 'AKIAEXAMPLE', 'admin:pw', '?']) assert.ok(!text.includes(secret), `${secret} in ${text}`)
  assert.equal(sent.pending[0].fileURL, 'https://bucket.s3.eu-west-1.amazonaws.com/orders/4711/flyer.pdf')
  assert.deepEqual(sent.pending[0].fileURLs, ['https://bucket.s3.eu-west-1.amazonaws.com/orders/4711/flyer.pdf', 'https://cdn.shop.example/b.pdf'])
  assert.equal(sent.pending[0].createdAt, '2026-12-05T10:00:00.000Z')
  assert.equal(sent.takenAt, '1970-01-01T00:00:00.000Z')
  assert.deepEqual(sent.pending[0].printingOptions, { pageSize: 'A4', copies: 2 })
  assert.equal('printAttempt' in sent.pending[0], false, 'undefined left out, as JSON does')
  // Everything else as JSON would send it.
  const { fileURL, fileURLs, printError, ...rest } = order
  const { fileURL: f2, fileURLs: f3, printError: p2, ...sentRest } = sent.pending[0]
  assert.deepEqual(sentRest, JSON.parse(JSON.stringify(rest)))
  assert.deepEqual(forBrowser({ items: [order], next: null }).next, null)
})

test('an order file URL that is not a URL is cut before its query too', () => {
  assert.equal(forBrowser({ fileURL: 'orders/4711.pdf?sig=abc' }).fileURL, 'orders/4711.pdf')
})
