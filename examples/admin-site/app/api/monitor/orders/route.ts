// The order search of the monitor: by order id (exact or prefix), state, printer and creation date, newest
// first, a page at a time (`before` is the previous page's `next`). Every order of the database, not only
// the snapshot's 500 per group.
import type { OrdersQuery, PrintStatus } from 'printcore'
import { printcore } from '@/lib/printcore'
import { errorResponse } from '@/lib/errors'
import { sessionFrom } from '@/lib/auth'
import { json, unauthorized } from '@/lib/http'
import { STATUSES } from '@/lib/types'
import type { NextRequest } from 'next/server'

export const runtime = 'nodejs'
export const dynamic = 'force-dynamic'

function date(value: string | null, nextDay = false): Date | undefined {
  if (!value) return undefined
  // A bare date (the form's <input type=date>) is a whole day in the server's time zone; `to` is
  // exclusive, so the day "to" names ends at the next midnight.
  const d = /^\d{4}-\d{2}-\d{2}$/.test(value) ? new Date(`${value}T00:00:00`) : new Date(value)
  if (nextDay && /^\d{4}-\d{2}-\d{2}$/.test(value)) d.setDate(d.getDate() + 1)
  return Number.isNaN(d.getTime()) ? undefined : d
}

export async function GET(request: NextRequest) {
  if (!(await sessionFrom(request))) return unauthorized()
  const p = request.nextUrl.searchParams
  const status = p.get('status') || undefined
  if (status && !(STATUSES as readonly string[]).includes(status)) return json({ message: `unknown state ${status}` }, { status: 400 })
  const query: OrdersQuery = {
    status: status as PrintStatus | undefined,
    orderId: p.get('q')?.trim() || undefined,
    printerId: p.get('printerId') || undefined,
    from: date(p.get('from')),
    to: date(p.get('to'), true),
    before: p.get('before') || undefined,
    limit: Math.min(200, Math.max(1, Number(p.get('limit')) || 50)),
    signal: request.signal,
  }
  try {
    const core = await printcore()
    const page = await core.orders(query)
    return json({ items: page.items, next: page.next ?? null })
  } catch (e) {
    return errorResponse(e)
  }
}
