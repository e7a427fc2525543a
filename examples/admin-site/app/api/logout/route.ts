import { NextResponse } from 'next/server'
import { COOKIE } from '@/lib/session'

export async function POST() {
  // A relative Location: the browser stays on the origin it used.
  const res = new NextResponse(null, { status: 303, headers: { Location: '/login' } })
  res.cookies.delete(COOKIE)
  return res
}
