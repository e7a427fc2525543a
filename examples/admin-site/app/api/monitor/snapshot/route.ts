import { printcore } from '@/lib/printcore'
import { errorResponse } from '@/lib/errors'
import { sessionFrom } from '@/lib/session'
import type { NextRequest } from 'next/server'

export const runtime = 'nodejs'
export const dynamic = 'force-dynamic'

export async function GET(request: NextRequest) {
  if (!(await sessionFrom(request))) return Response.json({ message: 'sign in first' }, { status: 401 })
  try {
    return Response.json(await (await printcore()).snapshot({ signal: request.signal }))
  } catch (e) {
    return errorResponse(e)
  }
}
