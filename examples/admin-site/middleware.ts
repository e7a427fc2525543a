// /admin needs a signed-in admin: others go to the login page. The middleware runs on the Edge, away
// from the session store of the Node server process, so it only checks the cookie's signature and expiry:
// a first filter. A signed-out cookie still has a valid signature; the page (app/admin/printer-monitor/
// page.tsx), every API route and every server action check the session itself (lib/auth.ts) and refuse it.
import { NextResponse, type NextRequest } from 'next/server'
import { COOKIE, hasSessionCookie } from './lib/session'

export async function middleware(request: NextRequest) {
  if (!(await hasSessionCookie(request.cookies.get(COOKIE)?.value))) {
    const url = new URL('/login', request.url)
    url.searchParams.set('next', request.nextUrl.pathname)
    return NextResponse.redirect(url)
  }
  return NextResponse.next()
}

export const config = { matcher: ['/admin/:path*'] }
