// The login's brake on password guessing: at most MAX_FAILURES failed sign-ins per WINDOW_MS for each
// key (the client's address and the account name, see loginKeys), then that key is locked out for a whole
// window; while any key of an attempt is locked, the attempt is refused before its password is even
// checked (so a locked account tells nothing about the password). A successful sign-in clears its keys.
//
// In memory, in this server process: right for one `next start`. Several instances (or a serverless
// host) each count on their own, so an attacker gets MAX_FAILURES per instance: put the counters in a
// store they share, e.g. Redis (`INCR login:<key>` + `PEXPIRE` on the first failure, `SET lock:<key> 1 PX
// <window>` at the limit) or a database collection with a TTL index on the window's end.
//
// Note that a lockout per account also lets anyone lock the admin out for a window by failing on purpose:
// the price of stopping a password guesser. Keep the window short, and let a second admin account (or a
// shell on the server: restarting the process clears memory) get you in.

export const MAX_FAILURES = 5
export const WINDOW_MS = 15 * 60_000

export class LoginLimiter {
  /**
   * @param {{ maxFailures?: number, windowMs?: number, maxKeys?: number }} [options] `maxKeys` bounds the
   * memory: past it, keys whose window is over are forgotten (then the oldest unlocked ones).
   */
  constructor({ maxFailures = MAX_FAILURES, windowMs = WINDOW_MS, maxKeys = 100_000 } = {}) {
    this.maxFailures = maxFailures
    this.windowMs = windowMs
    this.maxKeys = maxKeys
    /** @type {Map<string, { failures: number, windowStart: number, lockedUntil: number }>} */
    this.entries = new Map()
  }

  /** Seconds until every key of `keys` may try again, or 0 when none is locked. */
  retryAfter(keys, now = Date.now()) {
    let until = 0
    for (const key of keys) {
      const e = this.#live(key, now)
      if (e && e.lockedUntil > now) until = Math.max(until, e.lockedUntil)
    }
    return until ? Math.ceil((until - now) / 1000) : 0
  }

  /** Counts a failed sign-in on each key; returns retryAfter() after it (non-zero: now locked out). */
  fail(keys, now = Date.now()) {
    for (const key of keys) {
      const e = this.#live(key, now) ?? { failures: 0, windowStart: now, lockedUntil: 0 }
      e.failures++
      if (e.failures >= this.maxFailures) e.lockedUntil = Math.max(e.lockedUntil, now + this.windowMs)
      this.entries.delete(key) // re-inserted: the Map's order is the order of last activity
      this.entries.set(key, e)
    }
    if (this.entries.size > this.maxKeys) this.#trim(now)
    return this.retryAfter(keys, now)
  }

  /** A successful sign-in: its keys start again from zero. */
  succeed(keys) {
    for (const key of keys) this.entries.delete(key)
  }

  /** The key's entry while its window or its lockout lasts; a finished one is forgotten. */
  #live(key, now) {
    const e = this.entries.get(key)
    if (!e) return undefined
    if (e.lockedUntil <= now && e.windowStart + this.windowMs <= now) {
      this.entries.delete(key)
      return undefined
    }
    return e
  }

  #trim(now) {
    for (const key of [...this.entries.keys()]) this.#live(key, now)
    for (const [key, e] of this.entries) {
      if (this.entries.size <= this.maxKeys) break
      if (e.lockedUntil <= now) this.entries.delete(key) // a lockout is never forgotten early
    }
  }
}

/** The counters a sign-in attempt counts against: its client address and its account name (case-blind). */
export function loginKeys(ip, email) {
  return [`ip:${ip || 'unknown'}`, `account:${String(email ?? '').trim().toLowerCase()}`]
}

/**
 * The client's address: the last entry of X-Forwarded-For, the one your reverse proxy appends (nginx
 * `$proxy_add_x_forwarded_for`, a load balancer), or that `next start` sets from the socket when the request
 * has none. Anything before it came from the client and can be made up. Without a proxy in front, a client
 * can send its own X-Forwarded-For and pick its "address" for the per-address counter: the per-account
 * counter still holds. Behind several proxies, take the entry your outermost trusted proxy wrote.
 */
export function clientIp(headers) {
  const forwarded = headers.get('x-forwarded-for') ?? ''
  const last = forwarded.split(',').map((s) => s.trim()).filter(Boolean).pop()
  return last || headers.get('x-real-ip') || 'unknown'
}
