import { printcore } from '@/lib/printcore'
import { errorResponse } from '@/lib/errors'
import { sessionFrom } from '@/lib/auth'
import { json, unauthorized } from '@/lib/http'
import type { NextRequest } from 'next/server'

export const runtime = 'nodejs'
export const dynamic = 'force-dynamic'

export async function GET(request: NextRequest) {
  if (!(await sessionFrom(request))) return unauthorized()
  try {
    return json(await (await printcore()).snapshot({ signal: request.signal }))
  } catch (e) {
    return errorResponse(e)
  }
}
