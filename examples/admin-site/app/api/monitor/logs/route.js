import { printcore } from '../../../../lib/printcore'
import { sessionFrom } from '../../../../lib/session'

export const runtime = 'nodejs'
export const dynamic = 'force-dynamic'

export async function GET(request) {
  if (!(await sessionFrom(request))) return Response.json({ error: 'sign in first' }, { status: 401 })
  const orderId = new URL(request.url).searchParams.get('orderId')
  try {
    return Response.json((await (await printcore()).logs({ orderId, limit: 100, signal: request.signal })).items)
  } catch (e) {
    return Response.json({ code: e.code, error: e.message }, { status: e.code === 'INVALID_ARGUMENT' ? 400 : 500 })
  }
}
