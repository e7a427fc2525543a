// The admin session (lib/session-core.mjs, used by lib/auth.ts and middleware.ts): a cookie is only good
// while the server holds its session, so sign-out ends it for every copy of the cookie; the cookie is
// HttpOnly, SameSite=Lax, and Secure in production. e2e/security.test.mjs checks both on the running site.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { SessionStore, authenticate, readToken, sessionCookieOptions, signToken, newSessionId, SESSION_TTL_MS } from '../lib/session-core.mjs'

const SECRET = 'test-secret-0123456789abcdef'
const ADMIN = { id: 'manager@shop.example', email: 'manager@shop.example' }

async function signIn(store, now = Date.now()) {
  const { sid, expiresAt } = store.create(ADMIN, now)
  return signToken({ sid, exp: expiresAt }, SECRET)
}

test('a cookie copied before sign-out is refused after it, though its signature is still good', async () => {
  const store = new SessionStore()
  const cookie = await signIn(store)
  const copy = `${cookie}`
  assert.deepEqual(await authenticate(copy, { secret: SECRET, store }), ADMIN)
  // Sign-out (app/api/logout): the session ends on the server.
  const token = await readToken(cookie, SECRET)
  store.delete(token.sid)
  assert.notEqual(await readToken(copy, SECRET), null, 'the signature alone would still pass (the Edge middleware check)')
  assert.equal(await authenticate(copy, { secret: SECRET, store }), null, 'the session is gone: refused')
})

test('signing out one session leaves the others signed in', async () => {
  const store = new SessionStore()
  const a = await signIn(store)
  const b = await signIn(store)
  store.delete((await readToken(a, SECRET)).sid)
  assert.equal(await authenticate(a, { secret: SECRET, store }), null)
  assert.deepEqual(await authenticate(b, { secret: SECRET, store }), ADMIN)
})

test('a session ends after 8 hours, in the store and in the cookie', async () => {
  assert.equal(SESSION_TTL_MS, 8 * 3600_000)
  const store = new SessionStore()
  const t0 = Date.now()
  const cookie = await signIn(store, t0)
  assert.deepEqual(await authenticate(cookie, { secret: SECRET, store, now: t0 + SESSION_TTL_MS - 1 }), ADMIN)
  assert.equal(await authenticate(cookie, { secret: SECRET, store, now: t0 + SESSION_TTL_MS }), null)
  assert.equal(await readToken(cookie, SECRET, t0 + SESSION_TTL_MS), null)
})

test('a forged, altered or foreign cookie is refused; so is one for a session id the server never made', async () => {
  const store = new SessionStore()
  const cookie = await signIn(store)
  const [body, sig] = cookie.split('.')
  const otherSig = sig.startsWith('A') ? `B${sig.slice(1)}` : `A${sig.slice(1)}`
  for (const bad of [undefined, '', 'x', `${body}.${otherSig}`, `${body}x.${sig}`, `${cookie}.x`, await signToken({ sid: 'x', exp: Date.now() + 1e6 }, 'another-secret-0123456789')]) {
    assert.equal(await authenticate(bad, { secret: SECRET, store }), null, String(bad))
  }
  // Validly signed (a leaked SESSION_SECRET, or a cookie of before a restart) but no such session here.
  const unknown = await signToken({ sid: newSessionId(), exp: Date.now() + 1e6 }, SECRET)
  assert.equal(await authenticate(unknown, { secret: SECRET, store }), null)
})

test('session ids are random, 32 bytes', () => {
  const ids = new Set(Array.from({ length: 1000 }, newSessionId))
  assert.equal(ids.size, 1000)
  for (const id of ids) assert.match(id, /^[A-Za-z0-9_-]{43}$/)
})

test('the store forgets the oldest sessions past its bound', () => {
  const store = new SessionStore({ maxSessions: 3 })
  const sids = Array.from({ length: 5 }, () => store.create(ADMIN).sid)
  assert.equal(store.get(sids[0]), null)
  assert.equal(store.get(sids[1]), null)
  assert.deepEqual(store.get(sids[4]), ADMIN)
})

test('the cookie: HttpOnly, SameSite=Lax, Secure in production unless ADMIN_INSECURE_COOKIE=1', () => {
  const prod = sessionCookieOptions({ NODE_ENV: 'production' })
  assert.deepEqual(prod, { httpOnly: true, sameSite: 'lax', secure: true, path: '/', maxAge: 8 * 3600 })
  assert.equal(sessionCookieOptions({ NODE_ENV: 'production', ADMIN_INSECURE_COOKIE: '1' }).secure, false)
  assert.equal(sessionCookieOptions({ NODE_ENV: 'production', ADMIN_INSECURE_COOKIE: '0' }).secure, true)
  assert.equal(sessionCookieOptions({ NODE_ENV: 'production', ADMIN_INSECURE_COOKIE: '' }).secure, true)
  assert.equal(sessionCookieOptions({ NODE_ENV: 'development' }).secure, false, 'next dev on http://localhost')
  for (const env of [{ NODE_ENV: 'production' }, { NODE_ENV: 'production', ADMIN_INSECURE_COOKIE: '1' }, {}]) {
    assert.equal(sessionCookieOptions(env).httpOnly, true)
    assert.equal(sessionCookieOptions(env).sameSite, 'lax')
  }
})

test('no SESSION_SECRET (or a short one): no cookie is signed or accepted', async () => {
  await assert.rejects(signToken({ sid: 'x', exp: Date.now() + 1000 }, undefined), /SESSION_SECRET/)
  await assert.rejects(signToken({ sid: 'x', exp: Date.now() + 1000 }, 'short'), /SESSION_SECRET/)
  const store = new SessionStore()
  const cookie = await signIn(store)
  assert.equal(await authenticate(cookie, { secret: undefined, store }), null)
})
