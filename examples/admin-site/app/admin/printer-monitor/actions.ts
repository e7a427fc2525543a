'use server'
// The four admin actions as server actions: the page calls them like functions; they run on the server
// with the signed-in admin's identity (from the session cookie, never from the browser) and the reason the
// admin typed. printcore checks identity, reason and state; a refusal comes back as a Failure with the
// code's status and message (lib/errors.ts), never as a thrown error the page cannot read.
//
// Their results go to the browser: through forBrowser (lib/browser-safe.mjs), as every API response.
import type { AdminResult, BatchItem } from 'printcore'
import { printcore } from '@/lib/printcore'
import { failure, type Failure } from '@/lib/errors'
import { currentAdmin } from '@/lib/auth'
import { forBrowser } from '@/lib/browser-safe.mjs'
import type { Json } from '@/lib/types'

export type AdminActionName = 'reprint' | 'cancel' | 'resetState' | 'forcePrinted'
export type ActionOutcome = { ok: true; result: Json<AdminResult> } | Failure
export type BatchOutcome = { ok: true; items: Json<BatchItem>[] } | Failure

export async function adminAction(action: AdminActionName, orderId: string, reason: string): Promise<ActionOutcome> {
  // The session as the server holds it: a signed-out cookie is refused here too.
  const admin = await currentAdmin()
  if (!admin) return { ok: false, code: 'UNAUTHENTICATED', status: 401, message: 'Sign in first.' }
  const identity = { adminId: admin.id, adminEmail: admin.email, reason }
  try {
    const core = await printcore()
    switch (action) {
      case 'reprint':
        return { ok: true, result: forBrowser(await core.reprint(orderId, identity)) }
      case 'cancel':
        return { ok: true, result: forBrowser(await core.cancel(orderId, identity)) }
      case 'resetState':
        return { ok: true, result: forBrowser(await core.resetState(orderId, identity)) }
      case 'forcePrinted':
        return { ok: true, result: forBrowser(await core.forcePrinted(orderId, identity)) }
      default: {
        const unknown: never = action
        return { ok: false, code: 'INVALID_ARGUMENT', status: 400, message: `Unknown action ${String(unknown)}.` }
      }
    }
  } catch (e) {
    return failure(e)
  }
}

/** The most orders one batch takes (one page of the order list). */
const BATCH_LIMIT = 200

/**
 * One action on several orders with one reason: printcore applies it to each order on its own and says,
 * per order, what it did or why it refused (the others are unaffected).
 */
export async function batchAction(action: AdminActionName, orderIds: string[], reason: string): Promise<BatchOutcome> {
  // The session as the server holds it: a signed-out cookie is refused here too.
  const admin = await currentAdmin()
  if (!admin) return { ok: false, code: 'UNAUTHENTICATED', status: 401, message: 'Sign in first.' }
  const ids = [...new Set(orderIds.map(String))]
  if (!ids.length || ids.length > BATCH_LIMIT) return { ok: false, code: 'INVALID_ARGUMENT', status: 400, message: `Select between 1 and ${BATCH_LIMIT} orders.` }
  const identity = { adminId: admin.id, adminEmail: admin.email, reason }
  try {
    const core = await printcore()
    switch (action) {
      case 'reprint':
        return { ok: true, items: forBrowser(await core.reprint(ids, identity)) }
      case 'cancel':
        return { ok: true, items: forBrowser(await core.cancel(ids, identity)) }
      case 'resetState':
        return { ok: true, items: forBrowser(await core.resetState(ids, identity)) }
      case 'forcePrinted':
        return { ok: true, items: forBrowser(await core.forcePrinted(ids, identity)) }
      default: {
        const unknown: never = action
        return { ok: false, code: 'INVALID_ARGUMENT', status: 400, message: `Unknown action ${String(unknown)}.` }
      }
    }
  } catch (e) {
    return failure(e)
  }
}
