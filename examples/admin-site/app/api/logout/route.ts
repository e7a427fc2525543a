// Sign-out ends the session on the server (lib/auth.ts): the cookie is refused from now on, also a copy
// of it taken before (another tab, a shared tablet's saved state, a captured request), not only removed
// from this browser.
import { NextResponse, type NextRequest } from 'next/server'
import { clearedCookieOptions, endSession } from '@/lib/auth'
import { COOKIE } from '@/lib/session'

export const runtime = 'nodejs'

export async function POST(request: NextRequest) {
  await endSession(request.cookies.get(COOKIE)?.value)
  // A relative Location: the browser stays on the origin it used.
  const res = new NextResponse(null, { status: 303, headers: { Location: '/login', 'Cache-Control': 'no-store' } })
  res.cookies.set(COOKIE, '', clearedCookieOptions())
  return res
}
