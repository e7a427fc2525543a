// The example's login: one admin from the environment (ADMIN_EMAIL, ADMIN_PASSWORD). See lib/session.js
// for plugging in the site's real authentication.
import { NextResponse } from 'next/server'
import { COOKIE, sign } from '../../../lib/session'

export const runtime = 'nodejs'

export async function POST(request) {
  const form = await request.formData()
  const email = String(form.get('email') || '')
  const password = String(form.get('password') || '')
  const next = String(form.get('next') || '/admin/printer-monitor')
  const safeNext = next.startsWith('/') && !next.startsWith('//') ? next : '/admin/printer-monitor'
  if (!process.env.ADMIN_EMAIL || email !== process.env.ADMIN_EMAIL || password !== process.env.ADMIN_PASSWORD) {
    return NextResponse.redirect(new URL(`/login?error=1&next=${encodeURIComponent(safeNext)}`, request.url), 303)
  }
  const res = NextResponse.redirect(new URL(safeNext, request.url), 303)
  res.cookies.set(COOKIE, await sign({ id: email, email }), { httpOnly: true, sameSite: 'lax', path: '/', maxAge: 8 * 3600 })
  return res
}
