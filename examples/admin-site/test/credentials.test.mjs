// The login's password check (lib/credentials.mjs, used by app/api/login/route.ts): crypto.timingSafeEqual
// over SHA-256 digests, so neither the first differing character nor the secret's length shows in the time
// taken; both fields are compared every time.
import { test, mock } from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { checkAdminLogin, safeEqual } from '../lib/credentials.mjs'

const ENV = { ADMIN_EMAIL: 'manager@shop.example', ADMIN_PASSWORD: 'correct horse battery staple' }

test('safeEqual: same text or not, whatever the lengths (no throw on unequal lengths)', () => {
  assert.equal(safeEqual('secret', 'secret'), true)
  assert.equal(safeEqual('secret', 'secreT'), false)
  assert.equal(safeEqual('secret', 'secret-and-more'), false)
  assert.equal(safeEqual('', 'x'), false)
  assert.equal(safeEqual('pässwörd', 'pässwörd'), true)
})

test('the comparison is crypto.timingSafeEqual over two 32-byte digests, whatever the lengths', (t) => {
  const calls = []
  const original = crypto.timingSafeEqual
  const spy = mock.method(crypto, 'timingSafeEqual', (a, b) => {
    calls.push([a.length, b.length])
    return original(a, b)
  })
  t.after(() => spy.mock.restore())
  safeEqual('a', 'a much longer guess than the secret')
  assert.deepEqual(calls, [[32, 32]])
  calls.length = 0
  assert.equal(checkAdminLogin('x', 'y', ENV), false)
  assert.deepEqual(calls, [[32, 32], [32, 32]], 'the email and the password, both compared even though the email is wrong')
})

test('the admin signs in with both right; anything else is refused', () => {
  assert.equal(checkAdminLogin(ENV.ADMIN_EMAIL, ENV.ADMIN_PASSWORD, ENV), true)
  assert.equal(checkAdminLogin(ENV.ADMIN_EMAIL, 'wrong', ENV), false)
  assert.equal(checkAdminLogin(ENV.ADMIN_EMAIL, `${ENV.ADMIN_PASSWORD} `, ENV), false)
  assert.equal(checkAdminLogin('other@shop.example', ENV.ADMIN_PASSWORD, ENV), false)
})

test('an unset ADMIN_EMAIL or ADMIN_PASSWORD lets nobody in (an empty password neither)', () => {
  assert.equal(checkAdminLogin('', '', {}), false)
  assert.equal(checkAdminLogin(ENV.ADMIN_EMAIL, '', { ADMIN_EMAIL: ENV.ADMIN_EMAIL }), false)
  assert.equal(checkAdminLogin('', ENV.ADMIN_PASSWORD, { ADMIN_PASSWORD: ENV.ADMIN_PASSWORD }), false)
})
