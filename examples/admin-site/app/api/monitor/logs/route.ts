import { printcore } from '@/lib/printcore'
import { errorResponse } from '@/lib/errors'
import { sessionFrom } from '@/lib/auth'
import { json, unauthorized } from '@/lib/http'
import type { NextRequest } from 'next/server'

export const runtime = 'nodejs'
export const dynamic = 'force-dynamic'

/** One order's history, newest first (the first 100 entries; `before` pages further). */
export async function GET(request: NextRequest) {
  if (!(await sessionFrom(request))) return unauthorized()
  const orderId = request.nextUrl.searchParams.get('orderId') ?? undefined
  try {
    const page = await (await printcore()).logs({ orderId, limit: 100, signal: request.signal })
    return json(page.items)
  } catch (e) {
    return errorResponse(e)
  }
}
