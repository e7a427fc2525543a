/** The signed-in admin: printcore records both on every admin action's log entry. */
export interface Admin {
  id: string
  email: string
}

export declare const SESSION_TTL_MS: number
/** A new session id: 32 random bytes, base64url. */
export declare function newSessionId(): string
/** The cookie value for session `sid` until `exp` (ms since the epoch). */
export declare function signToken(token: { sid: string; exp: number }, secret: string | undefined): Promise<string>
/** `{ sid, exp }` of a validly signed, unexpired cookie value, else null (the session may have ended). */
export declare function readToken(value: string | undefined, secret: string | undefined, now?: number): Promise<{ sid: string; exp: number } | null>

/** Sessions by id, each with its admin and expiry; in memory. */
export declare class SessionStore {
  constructor(options?: { ttlMs?: number; maxSessions?: number })
  readonly ttlMs: number
  create(admin: Admin, now?: number): { sid: string; expiresAt: number }
  get(sid: string, now?: number): Admin | null
  delete(sid: string): void
}

/** The admin of a cookie value: valid signature, not expired, and a session the store still holds. */
export declare function authenticate(value: string | undefined, options: { secret: string | undefined; store: SessionStore; now?: number }): Promise<Admin | null>

export interface SessionCookieOptions {
  httpOnly: true
  sameSite: 'lax'
  secure: boolean
  path: '/'
  maxAge: number
}
/** HttpOnly, SameSite=Lax, Secure in production unless ADMIN_INSECURE_COOKIE=1. */
export declare function sessionCookieOptions(env?: Record<string, string | undefined>, maxAgeSeconds?: number): SessionCookieOptions
