// Responses of the monitor's API. Everything they carry is order data: never stored by the browser or
// any cache between (a shared counter tablet keeps nothing once signed out), and never a customer's
// signed file URL (lib/browser-safe.mjs).
import { forBrowser } from './browser-safe.mjs'

/** The Cache-Control of every response carrying order data: the preview file, the API's JSON, the pages. */
export const NO_STORE = 'no-store, private'

/** `data` as JSON for the browser: URLs reduced (forBrowser), not cached. */
export function json(data: unknown, init: { status?: number; headers?: Record<string, string> } = {}): Response {
  return Response.json(forBrowser(data), { status: init.status ?? 200, headers: { 'Cache-Control': NO_STORE, ...init.headers } })
}

/** The answer to a request without a live session (missing, expired or signed out). */
export function unauthorized(): Response {
  return json({ ok: false, code: 'UNAUTHENTICATED', status: 401, message: 'Sign in first.' }, { status: 401 })
}
