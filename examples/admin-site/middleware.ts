// /admin needs a signed-in admin: others go to the login page.
import { NextResponse, type NextRequest } from 'next/server'
import { COOKIE, verify } from './lib/session'

export async function middleware(request: NextRequest) {
  const admin = await verify(request.cookies.get(COOKIE)?.value)
  if (!admin) {
    const url = new URL('/login', request.url)
    url.searchParams.set('next', request.nextUrl.pathname)
    return NextResponse.redirect(url)
  }
  return NextResponse.next()
}

export const config = { matcher: ['/admin/:path*'] }
