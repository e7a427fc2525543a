// The admin's session on the server (Node runtime): the session store and the login's rate limiter, one
// of each per server process, and the checks every route handler, server component and server action
// makes. See lib/session-core.mjs and lib/login-limit.mjs for what a deployment with several instances
// puts in their place (Redis, a database collection with a TTL index).
import { cookies } from 'next/headers'
import { authenticate, readToken, sessionCookieOptions, signToken, SessionStore, type Admin } from './session-core.mjs'
import { LoginLimiter } from './login-limit.mjs'
import { COOKIE } from './session'

export type { Admin }

// On globalThis: Next.js may load this module more than once in one process (one copy per route bundle),
// and every copy must see the same sessions and counters.
const shared = globalThis as typeof globalThis & { __adminSessions?: SessionStore; __adminLoginLimiter?: LoginLimiter }
export const sessions: SessionStore = (shared.__adminSessions ??= new SessionStore())
export const loginLimiter: LoginLimiter = (shared.__adminLoginLimiter ??= new LoginLimiter())

/** The signed-in admin of a cookie value, or null: missing, forged, expired or signed out. */
export function adminOf(value: string | undefined): Promise<Admin | null> {
  return authenticate(value, { secret: process.env.SESSION_SECRET, store: sessions })
}

/** The signed-in admin of a request (route handlers). */
export function sessionFrom(request: { cookies: { get(name: string): { value: string } | undefined } }): Promise<Admin | null> {
  return adminOf(request.cookies.get(COOKIE)?.value)
}

/** The signed-in admin of the current request (server components, server actions). */
export async function currentAdmin(): Promise<Admin | null> {
  return adminOf((await cookies()).get(COOKIE)?.value)
}

/** A new session for `admin`: the cookie's name, value and attributes to set. */
export async function startSession(admin: Admin) {
  const { sid, expiresAt } = sessions.create(admin)
  const value = await signToken({ sid, exp: expiresAt }, process.env.SESSION_SECRET)
  return { name: COOKIE, value, options: sessionCookieOptions(process.env, Math.floor(sessions.ttlMs / 1000)) }
}

/** Signs out: the session of this cookie value ends on the server, whoever holds a copy of the cookie. */
export async function endSession(value: string | undefined): Promise<void> {
  const token = await readToken(value, process.env.SESSION_SECRET)
  if (token) sessions.delete(token.sid)
}

/** The attributes that remove the session cookie (the same as it was set with, expired). */
export function clearedCookieOptions() {
  return { ...sessionCookieOptions(process.env), maxAge: 0 }
}
