// The admin session as the middleware sees it (Edge runtime: Web Crypto, no server-side store). To use
// your site's real authentication, replace lib/auth.ts's `adminOf` with your session lookup (NextAuth's
// auth(), your JWT check and revocation list...) returning { id, email } of the signed-in admin, and this
// file's `hasSessionCookie` with the cheapest check of your cookie that runs on the Edge (or none).
import { readToken } from './session-core.mjs'

export const COOKIE = 'pc_session'

/**
 * Whether a cookie value is signed with SESSION_SECRET and not expired. A first filter only (the
 * middleware sends requests without one to /login): it cannot tell a signed-out session, which lives in
 * the server process's store. Every route handler, server component and server action that reads or
 * changes data calls lib/auth.ts, which does.
 */
export async function hasSessionCookie(value: string | undefined): Promise<boolean> {
  return (await readToken(value, process.env.SESSION_SECRET)) !== null
}
