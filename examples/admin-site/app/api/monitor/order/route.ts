// One order, fresh from the database (the detail panel: preview, waiting reason, timeline).
import { printcore } from '@/lib/printcore'
import { errorResponse } from '@/lib/errors'
import { sessionFrom } from '@/lib/auth'
import { json, unauthorized } from '@/lib/http'
import type { NextRequest } from 'next/server'

export const runtime = 'nodejs'
export const dynamic = 'force-dynamic'

export async function GET(request: NextRequest) {
  if (!(await sessionFrom(request))) return unauthorized()
  const orderId = request.nextUrl.searchParams.get('orderId') ?? ''
  try {
    return json(await (await printcore()).order(orderId, { signal: request.signal }))
  } catch (e) {
    return errorResponse(e)
  }
}
