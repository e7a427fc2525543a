// The admin session: a random session id, kept on the server with the admin and an expiry (SessionStore),
// and handed to the browser in an HMAC-signed cookie. Signing alone would make a stateless cookie that
// stays valid, copied or not, until it expires: the server-side entry is what sign-out deletes, so a
// cookie captured before sign-out is refused by every route after it (authenticate).
//
// Web Crypto only (no `node:` import): the Edge middleware can check a cookie's signature and expiry
// (readToken) without the store, which lives in the Node server process.
//
// The store is in memory: right for one `next start`. Several instances (or a serverless host) need it
// shared, e.g. Redis (`SET session:<id> <admin> PX <ttl>`, `DEL` at sign-out) or a database collection
// with a TTL index on `expiresAt`; keep the cookie as it is.

export const SESSION_TTL_MS = 8 * 3600_000

const enc = new TextEncoder()
const b64 = (bytes) =>
  btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/=+$/, '')
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
const unb64 = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0))

/** A new session id: 32 random bytes, base64url. */
export function newSessionId() {
  return b64(crypto.getRandomValues(new Uint8Array(32)))
}

async function hmacKey(secret) {
  if (typeof secret !== 'string' || secret.length < 16) throw new Error('SESSION_SECRET must be set (16+ characters)')
  return crypto.subtle.importKey('raw', enc.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify'])
}

/** The cookie value for session `sid` until `exp` (ms since the epoch): `body.signature`. */
export async function signToken({ sid, exp }, secret) {
  const body = b64(enc.encode(JSON.stringify({ sid, exp })))
  const sig = b64(await crypto.subtle.sign('HMAC', await hmacKey(secret), enc.encode(body)))
  return `${body}.${sig}`
}

/**
 * `{ sid, exp }` of a cookie value signed with `secret` and not expired, else null. Says nothing about
 * whether the session still exists: only authenticate() does (the middleware's first, cheap filter).
 */
export async function readToken(value, secret, now = Date.now()) {
  if (typeof value !== 'string' || value.split('.').length !== 2) return null
  const [body, sig] = value.split('.')
  try {
    const ok = await crypto.subtle.verify('HMAC', await hmacKey(secret), unb64(sig), enc.encode(body))
    if (!ok) return null
    const { sid, exp } = JSON.parse(new TextDecoder().decode(unb64(body)))
    return typeof sid === 'string' && typeof exp === 'number' && exp > now ? { sid, exp } : null
  } catch {
    return null
  }
}

/** Sessions by id, each with its admin and expiry. */
export class SessionStore {
  constructor({ ttlMs = SESSION_TTL_MS, maxSessions = 10_000 } = {}) {
    this.ttlMs = ttlMs
    this.maxSessions = maxSessions
    /** @type {Map<string, { admin: { id: string, email: string }, expiresAt: number }>} */
    this.sessions = new Map()
  }

  /** A new session for `admin`: `{ sid, expiresAt }`. */
  create(admin, now = Date.now()) {
    if (this.sessions.size >= this.maxSessions) this.#trim(now)
    const sid = newSessionId()
    const expiresAt = now + this.ttlMs
    this.sessions.set(sid, { admin: { id: admin.id, email: admin.email }, expiresAt })
    return { sid, expiresAt }
  }

  /** The admin of session `sid` while it exists and has not expired, else null. */
  get(sid, now = Date.now()) {
    const s = this.sessions.get(sid)
    if (!s) return null
    if (s.expiresAt <= now) {
      this.sessions.delete(sid)
      return null
    }
    return { ...s.admin }
  }

  /** Ends session `sid` (sign-out): its cookie is refused from now on. */
  delete(sid) {
    this.sessions.delete(sid)
  }

  #trim(now) {
    for (const [sid, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(sid)
    // Still full (sign-ins need the password, so this is a lot of them): the oldest sessions end first.
    for (const sid of this.sessions.keys()) {
      if (this.sessions.size < this.maxSessions) break
      this.sessions.delete(sid)
    }
  }
}

/** The signed-in admin of a cookie value: a valid signature, not expired, and a session the store holds. */
export async function authenticate(value, { secret, store, now = Date.now() }) {
  const token = await readToken(value, secret, now)
  return token ? store.get(token.sid, now) : null
}

/**
 * The session cookie's attributes. HttpOnly (no script reads it), SameSite=Lax (not sent with another
 * site's form posts or fetches), and Secure in production (NODE_ENV=production, as `next start` runs):
 * only ever sent over https. ADMIN_INSECURE_COOKIE=1 drops Secure for a production build served over
 * plain http (the browser tests on http://127.0.0.1); never set it on a deployed site.
 */
export function sessionCookieOptions(env = process.env, maxAgeSeconds = SESSION_TTL_MS / 1000) {
  const insecure = ['1', 'true', 'yes'].includes(String(env.ADMIN_INSECURE_COOKIE ?? '').toLowerCase())
  return { httpOnly: true, sameSite: 'lax', secure: env.NODE_ENV === 'production' && !insecure, path: '/', maxAge: maxAgeSeconds }
}
