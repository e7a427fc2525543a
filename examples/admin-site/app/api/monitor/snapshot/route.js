import { printcore } from '../../../../lib/printcore'
import { sessionFrom } from '../../../../lib/session'

export const runtime = 'nodejs'
export const dynamic = 'force-dynamic'

export async function GET(request) {
  if (!(await sessionFrom(request))) return Response.json({ error: 'sign in first' }, { status: 401 })
  return Response.json(await (await printcore()).snapshot())
}
