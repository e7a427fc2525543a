// The charts' data: the metrics of the last 24 h or 7 days in time buckets (15 min for a day, 2 h for a
// week), combined by the database (`bucketMinutes`: each worker's mean over its samples, the workers added
// up). lib/metrics.ts lays them out on the chart's time axis, an empty bucket as a gap.
import type { MetricsQuery } from 'printcore'
import { printcore } from '@/lib/printcore'
import { errorResponse } from '@/lib/errors'
import { sessionFrom } from '@/lib/auth'
import { json, unauthorized } from '@/lib/http'
import { series } from '@/lib/metrics'
import type { NextRequest } from 'next/server'

export const runtime = 'nodejs'
export const dynamic = 'force-dynamic'

const RANGES = { '24h': { hours: 24, bucketMinutes: 15 }, '7d': { hours: 24 * 7, bucketMinutes: 120 } } as const

export async function GET(request: NextRequest) {
  if (!(await sessionFrom(request))) return unauthorized()
  const range = RANGES[request.nextUrl.searchParams.get('range') === '7d' ? '7d' : '24h']
  const until = new Date()
  const since = new Date(until.getTime() - range.hours * 3600_000)
  try {
    const query: MetricsQuery = { since, bucketMinutes: range.bucketMinutes, limit: 10_000, signal: request.signal }
    const samples = await (await printcore()).metrics(query)
    return json(series(samples, since, until, range.bucketMinutes))
  } catch (e) {
    return errorResponse(e)
  }
}
