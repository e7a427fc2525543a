// The example's one admin, from the environment (ADMIN_EMAIL, ADMIN_PASSWORD), checked in constant time.
// A site with real accounts stores a slow password hash instead (argon2id, scrypt or bcrypt) and compares
// with that library's verify function; keep the same two rules: compare both fields every time (no early
// return on a wrong email), and never with `===` on the secret.
import crypto from 'node:crypto'

const sha256 = (text) => crypto.createHash('sha256').update(String(text ?? ''), 'utf8').digest()

/**
 * Whether `a` and `b` are the same text, in a time that depends on neither. `crypto.timingSafeEqual` needs
 * buffers of one length, so it compares the SHA-256 digests (always 32 bytes): neither where the texts
 * differ nor how long the secret is shows in the time taken.
 */
export function safeEqual(a, b) {
  return crypto.timingSafeEqual(sha256(a), sha256(b))
}

/** Whether `email` and `password` are the admin's; false when ADMIN_EMAIL or ADMIN_PASSWORD is unset. */
export function checkAdminLogin(email, password, env = process.env) {
  const expectedEmail = env.ADMIN_EMAIL ?? ''
  const expectedPassword = env.ADMIN_PASSWORD ?? ''
  // Both comparisons run every time, before either result is looked at.
  const emailOk = safeEqual(email, expectedEmail)
  const passwordOk = safeEqual(password, expectedPassword)
  return expectedEmail !== '' && expectedPassword !== '' && emailOk && passwordOk
}
