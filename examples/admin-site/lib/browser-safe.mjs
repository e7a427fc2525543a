// What the monitor sends to the browser, without the secrets of the URLs it holds. An order's `fileURL`
// is often a signed link (S3's X-Amz-Signature, a CDN token, Cloudinary's authenticated delivery): anyone
// holding it downloads the customer's file, from anywhere, until it expires. The admin's browser needs
// none of it (the preview comes from /api/monitor/file by order id), so every API response and server
// action result goes through forBrowser(): each URL keeps its scheme, host and path, and loses its
// credentials, query and fragment, as printcore's own error messages show a URL.
//
// If your file URLs carry their signature in the path (Cloudinary's `/s--…--/`), reduce `fileURL` to the
// host in displayFileUrl below.

/** `https://host/path` of a URL: no user:password, no ?query, no #fragment. */
export function displayUrl(url) {
  const text = String(url)
  try {
    const u = new URL(text)
    // Only hierarchical URLs have a host; others (data:, mailto:) are reduced to their scheme.
    return u.host ? `${u.protocol}//${u.host}${u.pathname}` : u.protocol
  } catch {
    // Not a URL this parser reads: keep what comes before any query or fragment, drop credentials.
    return text.split(/[?#]/, 1)[0].replace(/\/\/[^/@]*@/, '//')
  }
}

/** An order's file URL as the browser may see it (see the note above for path-signed URLs). */
export const displayFileUrl = displayUrl

// A URL inside free text (an error message, a log entry's detail): scheme://, then up to a space or quote.
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+/gi

/** `text` with every URL in it shown as displayUrl() shows it. */
export function redactText(text) {
  return String(text).replace(URL_IN_TEXT, (url) => displayUrl(url))
}

const FILE_KEYS = new Set(['fileURL', 'fileURLs', 'fileUrl', 'fileUrls'])

/**
 * A copy of `value` as JSON would send it (dates as ISO strings), with every file URL reduced by
 * displayFileUrl() and every URL inside any other string by redactText().
 */
export function forBrowser(value, key = '') {
  if (value === null || value === undefined) return value
  if (typeof value === 'string') return FILE_KEYS.has(key) ? displayFileUrl(value) : redactText(value)
  if (value instanceof Date) return value.toJSON()
  if (Array.isArray(value)) return value.map((v) => forBrowser(v, key))
  if (typeof value === 'object') {
    if (typeof value.toJSON === 'function') return forBrowser(value.toJSON(), key)
    const out = {}
    for (const [k, v] of Object.entries(value)) if (v !== undefined && typeof v !== 'function') out[k] = forBrowser(v, k)
    return out
  }
  return typeof value === 'bigint' ? value.toString() : value
}
