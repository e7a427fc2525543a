// The example's login: one admin from the environment (ADMIN_EMAIL, ADMIN_PASSWORD). See lib/session.ts
// for plugging in the site's real authentication.
import { NextResponse } from 'next/server'
import { COOKIE, sign } from '@/lib/session'
import { returnPath } from '@/lib/return-path.mjs'

export const runtime = 'nodejs'

// A relative Location: the browser stays on the origin it used (behind a proxy, or started with -H,
// request.url may name another host: the session cookie would then be set for one name and asked for
// under another). `path` is always a path of this site (returnPath).
function redirectTo(path: string) {
  return new NextResponse(null, { status: 303, headers: { Location: path } })
}

export async function POST(request: Request) {
  const form = await request.formData()
  const email = String(form.get('email') || '')
  const password = String(form.get('password') || '')
  // Only a path on this site: never an open redirect (lib/return-path.mjs).
  const safeNext = returnPath(form.get('next'))
  if (!process.env.ADMIN_EMAIL || email !== process.env.ADMIN_EMAIL || password !== process.env.ADMIN_PASSWORD) {
    return redirectTo(`/login?error=1&next=${encodeURIComponent(safeNext)}`)
  }
  const res = redirectTo(safeNext)
  res.cookies.set(COOKIE, await sign({ id: email, email }), { httpOnly: true, sameSite: 'lax', path: '/', maxAge: 8 * 3600 })
  return res
}
