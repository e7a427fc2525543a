// Where the login may send the admin afterwards: a path on this site, never another origin. A return
// path is taken from the login form (and the ?next= of /login), so anyone can craft one: `//evil.com`,
// `/\evil.com` (browsers read `\` as `/`), `/%5Cevil.com`, `/\t/evil.com` (tabs and newlines are dropped
// by URL parsing), `https://evil.com`, `javascript:...` all fall back to the monitor.
export const DEFAULT_RETURN_PATH = '/admin/printer-monitor'

const BASE = 'http://same-origin.invalid'
// Backslashes, whitespace and control characters have no place in an admin path; the encoded forms of
// `/` and `\` neither (they are how a second decoding would make `//evil.com`).
const SUSPICIOUS = /[\\\s\u0000-\u001f\u007f]|%2f|%5c|%09|%0a|%0d|%00/i

/** `next` when it is a path on this site (normalised), otherwise the monitor's path. */
export function returnPath(next, fallback = DEFAULT_RETURN_PATH) {
  if (typeof next !== 'string' || !next.startsWith('/') || next.startsWith('//') || SUSPICIOUS.test(next)) return fallback
  let url
  try {
    url = new URL(next, BASE)
  } catch {
    return fallback
  }
  if (url.origin !== BASE) return fallback
  const path = `${url.pathname}${url.search}${url.hash}`
  // `/.//evil.com` normalises to `//evil.com`, which a browser would read as another host.
  return path.startsWith('//') ? fallback : path
}
