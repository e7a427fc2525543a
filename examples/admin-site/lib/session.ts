// A signed session cookie for /admin. This is the example's own login; to use your site's real
// authentication, replace `verify` (and so `sessionFrom` / `currentAdmin`) with a lookup of your session
// (NextAuth's auth(), your JWT check...) that returns { id, email } of the signed-in admin. Works in Node
// and in the Edge runtime (Web Crypto).
export const COOKIE = 'pc_session'

/** The signed-in admin: printcore records both on every admin action's log entry. */
export interface Admin {
  id: string
  email: string
}

const enc = new TextEncoder()

async function key(): Promise<CryptoKey> {
  const secret = process.env.SESSION_SECRET
  if (!secret || secret.length < 16) throw new Error('SESSION_SECRET must be set (16+ characters)')
  return crypto.subtle.importKey('raw', enc.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify'])
}

const b64 = (bytes: ArrayBuffer | Uint8Array): string =>
  btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')
const unb64 = (s: string): Uint8Array<ArrayBuffer> => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0))

/** A cookie value for this admin, valid for 8 hours. */
export async function sign(admin: Admin): Promise<string> {
  const body = b64(enc.encode(JSON.stringify({ ...admin, exp: Date.now() + 8 * 3600e3 })))
  const sig = b64(await crypto.subtle.sign('HMAC', await key(), enc.encode(body)))
  return `${body}.${sig}`
}

/** The admin of a cookie value, or null when it is missing, forged or expired. */
export async function verify(value: string | undefined): Promise<Admin | null> {
  if (!value || !value.includes('.')) return null
  const [body, sig] = value.split('.')
  try {
    const ok = await crypto.subtle.verify('HMAC', await key(), unb64(sig), enc.encode(body))
    if (!ok) return null
    const admin = JSON.parse(new TextDecoder().decode(unb64(body))) as Admin & { exp: number }
    return admin.exp > Date.now() ? { id: admin.id, email: admin.email } : null
  } catch {
    return null
  }
}

/** The signed-in admin of a request (route handlers). */
export async function sessionFrom(request: { cookies: { get(name: string): { value: string } | undefined } }): Promise<Admin | null> {
  return verify(request.cookies.get(COOKIE)?.value)
}
