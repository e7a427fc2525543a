// The example's login: one admin from the environment (ADMIN_EMAIL, ADMIN_PASSWORD), compared in constant
// time (lib/credentials.mjs), at most 5 failed attempts per 15 minutes per client address and per account
// name before a lockout (lib/login-limit.mjs), and a session the server can end (lib/auth.ts). See
// lib/auth.ts and lib/session.ts for plugging in the site's real authentication.
import { NextResponse, type NextRequest } from 'next/server'
import { endSession, loginLimiter, startSession } from '@/lib/auth'
import { checkAdminLogin } from '@/lib/credentials.mjs'
import { clientIp, loginKeys } from '@/lib/login-limit.mjs'
import { returnPath } from '@/lib/return-path.mjs'
import { COOKIE } from '@/lib/session'

export const runtime = 'nodejs'

// A relative Location: the browser stays on the origin it used (behind a proxy, or started with -H,
// request.url may name another host: the session cookie would then be set for one name and asked for
// under another). `path` is always a path of this site (returnPath).
function redirectTo(path: string) {
  return new NextResponse(null, { status: 303, headers: { Location: path, 'Cache-Control': 'no-store' } })
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/** 429 with Retry-After: a page the login form's post lands on, saying when to try again. */
function lockedOut(retryAfterSeconds: number, next: string) {
  const minutes = Math.ceil(retryAfterSeconds / 60)
  const message = `Too many failed sign-ins for this account or from this address. Sign-in is locked: try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign-in locked</title></head><body><main style="max-width:360px;margin:10vh auto;font-family:system-ui,sans-serif"><h1>Sign-in locked</h1><p role="alert">${escapeHtml(message)}</p><p><a href="/login?next=${escapeHtml(encodeURIComponent(next))}">Back to the sign-in page</a></p></main></body></html>`
  return new NextResponse(html, {
    status: 429,
    headers: { 'Content-Type': 'text/html; charset=utf-8', 'Retry-After': String(retryAfterSeconds), 'Cache-Control': 'no-store' },
  })
}

export async function POST(request: NextRequest) {
  const form = await request.formData()
  const email = String(form.get('email') || '')
  const password = String(form.get('password') || '')
  // Only a path on this site: never an open redirect (lib/return-path.mjs).
  const safeNext = returnPath(form.get('next'))
  const keys = loginKeys(clientIp(request.headers), email)

  // Locked out: refused before the password is looked at, right or wrong.
  const wait = loginLimiter.retryAfter(keys)
  if (wait > 0) return lockedOut(wait, safeNext)

  if (!checkAdminLogin(email, password)) {
    const locked = loginLimiter.fail(keys)
    if (locked > 0) return lockedOut(locked, safeNext)
    return redirectTo(`/login?error=1&next=${encodeURIComponent(safeNext)}`)
  }
  loginLimiter.succeed(keys)
  // A session this browser may still hold ends: one live session per sign-in.
  await endSession(request.cookies.get(COOKIE)?.value)
  const res = redirectTo(safeNext)
  const session = await startSession({ id: email, email })
  res.cookies.set(session.name, session.value, session.options)
  return res
}
