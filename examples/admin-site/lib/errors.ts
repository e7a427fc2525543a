// Every printcore error code as an HTTP status and a sentence for the admin. `Record<ErrorCode, ...>`
// makes this exhaustive: a code added to the package fails the site's type check until it is mapped.
import { PrintCoreError, type ErrorCode } from 'printcore'
import { redactText } from './browser-safe.mjs'
import { json } from './http'

export const ERRORS: Record<ErrorCode, { status: number; message: string }> = {
  NOT_FOUND: { status: 404, message: 'There is no such order.' },
  NOT_PAID: { status: 409, message: 'The order is not paid: record the payment before printing it.' },
  INVALID_TRANSITION: { status: 409, message: 'This action is not allowed in the order’s current state.' },
  OWNERSHIP_LOST: { status: 409, message: 'The order was taken over by another worker.' },
  CONFLICT: { status: 409, message: 'The order changed meanwhile: reload and try again.' },
  INVALID_ARGUMENT: { status: 400, message: 'The request is incomplete (an action needs a reason).' },
  INVALID_DOCUMENT: { status: 422, message: 'The stored order cannot be read: run `npx printcore migrate` or fix it.' },
  FILE_UNAVAILABLE: { status: 503, message: 'The order’s file could not be fetched; it will be tried again.' },
  FILE_INVALID: { status: 422, message: 'The order’s file is not printable: ask the customer for a new one.' },
  FILE_REJECTED: { status: 422, message: 'The order’s file is on a host the shop does not allow (PRINTCORE_FILE_HOSTS, as the worker’s allowed_hosts).' },
  CAPABILITY_MISMATCH: { status: 422, message: 'No printer can print what the order asks for.' },
  UNSUPPORTED: { status: 501, message: 'The database cannot do this.' },
  TIMEOUT: { status: 504, message: 'The database did not answer in time; the action may or may not have been applied: reload.' },
  ABORTED: { status: 499, message: 'The request was cancelled.' },
  DATABASE: { status: 503, message: 'The database is not reachable right now; try again shortly.' },
}

/** What the admin sees for a failure: the code, its status, the sentence above and printcore's detail. */
export interface Failure {
  ok: false
  code: ErrorCode | 'UNAUTHENTICATED'
  status: number
  message: string
  detail?: string
}

export function failure(e: unknown): Failure {
  if (e instanceof PrintCoreError) {
    const { status, message } = ERRORS[e.code]
    // printcore's messages show URLs without their query already; redactText makes sure of it.
    return { ok: false, code: e.code, status, message, detail: redactText(e.message) }
  }
  throw e
}

/** A route handler's response for a failure. */
export function errorResponse(e: unknown): Response {
  const f = failure(e)
  return json(f, { status: f.status })
}
