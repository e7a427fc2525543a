// The four admin actions, with the signed-in admin's identity and a required reason. printcore checks
// the identity, the reason and the state; its error codes map onto HTTP statuses here.
import { printcore } from '../../../../lib/printcore'
import { sessionFrom } from '../../../../lib/session'

export const runtime = 'nodejs'

const STATUS = { INVALID_ARGUMENT: 400, NOT_FOUND: 404, INVALID_TRANSITION: 409, CONFLICT: 409 }
const ACTIONS = { reprint: 'reprint', cancel: 'cancel', reset: 'resetState', forcePrinted: 'forcePrinted' }

export async function POST(request) {
  const admin = await sessionFrom(request)
  if (!admin) return Response.json({ error: 'sign in first' }, { status: 401 })
  const { action, orderId, reason } = await request.json()
  const method = ACTIONS[action]
  if (!method) return Response.json({ error: `unknown action ${action}` }, { status: 400 })
  try {
    const core = await printcore()
    const result = await core[method](orderId, { adminId: admin.id, adminEmail: admin.email, reason })
    return Response.json(result)
  } catch (e) {
    return Response.json({ code: e.code, error: e.message }, { status: STATUS[e.code] || 500 })
  }
}
