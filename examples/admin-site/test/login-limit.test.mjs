// The login's rate limit (lib/login-limit.mjs, used by app/api/login/route.ts): 5 failures per 15 minutes
// per client address and per account, then a lockout for the window; a success clears the counters.
// e2e/security.test.mjs checks the same through the running site (429 with Retry-After).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { LoginLimiter, MAX_FAILURES, WINDOW_MS, clientIp, loginKeys } from '../lib/login-limit.mjs'

const T0 = 1_700_000_000_000
const MIN = 60_000

test('the defaults: 5 failures per 15 minutes', () => {
  assert.equal(MAX_FAILURES, 5)
  assert.equal(WINDOW_MS, 15 * MIN)
})

test('the 5th failure locks the key out for the window; even then nothing is allowed until it passes', () => {
  const l = new LoginLimiter()
  const keys = loginKeys('203.0.113.7', 'admin@shop.example')
  for (let i = 1; i <= 4; i++) {
    assert.equal(l.fail(keys, T0 + i * 1000), 0, `failure ${i} does not lock`)
    assert.equal(l.retryAfter(keys, T0 + i * 1000), 0)
  }
  assert.equal(l.fail(keys, T0 + 5000), 15 * 60, 'the 5th failure locks for 15 minutes')
  assert.equal(l.retryAfter(keys, T0 + 5000 + 10 * MIN), 5 * 60, 'still locked 10 minutes later')
  assert.equal(l.retryAfter(keys, T0 + 5000 + 15 * MIN - 1), 1)
  assert.equal(l.retryAfter(keys, T0 + 5000 + 15 * MIN), 0, 'free again when the window has passed')
  // A fresh window: four more failures are allowed before the next lockout.
  for (let i = 1; i <= 4; i++) assert.equal(l.fail(keys, T0 + 16 * MIN + i), 0)
  assert.ok(l.fail(keys, T0 + 16 * MIN + 5) > 0)
})

test('failures spread beyond the window do not add up', () => {
  const l = new LoginLimiter()
  const keys = loginKeys('203.0.113.7', 'admin@shop.example')
  for (let i = 0; i < 4; i++) l.fail(keys, T0 + i)
  // 4 failures, then the window (from the first failure) passes: the next failures count from one again.
  for (let i = 0; i < 4; i++) assert.equal(l.fail(keys, T0 + 15 * MIN + i), 0)
})

test('a successful sign-in clears the counters of its address and account', () => {
  const l = new LoginLimiter()
  const keys = loginKeys('203.0.113.7', 'admin@shop.example')
  for (let i = 0; i < 4; i++) l.fail(keys, T0 + i)
  l.succeed(keys)
  for (let i = 0; i < 4; i++) assert.equal(l.fail(keys, T0 + 10 + i), 0, 'four more failures allowed after a success')
  assert.ok(l.fail(keys, T0 + 20) > 0)
})

test('per account: guesses from many addresses lock the account (its name in any case)', () => {
  const l = new LoginLimiter()
  for (let i = 1; i <= 4; i++) assert.equal(l.fail(loginKeys(`198.51.100.${i}`, 'Admin@Shop.Example '), T0 + i), 0)
  assert.ok(l.fail(loginKeys('198.51.100.5', 'admin@shop.example'), T0 + 5) > 0)
  assert.ok(l.retryAfter(loginKeys('198.51.100.99', 'ADMIN@shop.example'), T0 + 6) > 0, 'a new address, the same account: locked')
  assert.equal(l.retryAfter(loginKeys('198.51.100.99', 'other@shop.example'), T0 + 6), 0, 'another account from a new address: not')
})

test('per address: one address guessing many account names is locked out', () => {
  const l = new LoginLimiter()
  for (let i = 1; i <= 4; i++) assert.equal(l.fail(loginKeys('203.0.113.9', `user${i}@shop.example`), T0 + i), 0)
  assert.ok(l.fail(loginKeys('203.0.113.9', 'user5@shop.example'), T0 + 5) > 0)
  assert.ok(l.retryAfter(loginKeys('203.0.113.9', 'admin@shop.example'), T0 + 6) > 0, 'that address is locked for every account')
  assert.equal(l.retryAfter(loginKeys('203.0.113.10', 'admin@shop.example'), T0 + 6), 0)
})

test('memory stays bounded, and a lockout is never forgotten early to make room', () => {
  const l = new LoginLimiter({ maxKeys: 100 })
  const locked = loginKeys('203.0.113.1', 'victim@shop.example')
  for (let i = 0; i < 5; i++) l.fail(locked, T0)
  for (let i = 0; i < 500; i++) l.fail(loginKeys(`10.0.${i >> 8}.${i & 255}`, `spray${i}@x`), T0 + 1)
  assert.ok(l.entries.size <= 100, `${l.entries.size} keys kept`)
  assert.ok(l.retryAfter([locked[1]], T0 + 2) > 0, 'the locked account is still locked')
})

test('the client address is the last X-Forwarded-For entry (the one the proxy or next start added)', () => {
  const h = (v) => new Headers(v === undefined ? {} : { 'x-forwarded-for': v })
  assert.equal(clientIp(h('198.51.100.1')), '198.51.100.1')
  assert.equal(clientIp(h('6.6.6.6, 198.51.100.1')), '198.51.100.1', 'a made-up first entry is not the address')
  assert.equal(clientIp(h('::ffff:127.0.0.1')), '::ffff:127.0.0.1')
  assert.equal(clientIp(h()), 'unknown')
})
