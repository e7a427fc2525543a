// The order file download of the preview route: printcore's `orderFile` fetches it with the worker's rules
// (the allowed hosts and their subdomains, https only unless allowed, the size cap, every redirect
// checked), so the admin's browser never gets a customer's URL and never fetches anything but this site.
import type { OrderFile, OrderFileOptions, PrintCore } from 'printcore'

/** The hosts order files may come from: PRINTCORE_FILE_HOSTS, comma separated (e.g. `res.cloudinary.com,files.shop.example`). */
export function allowedHosts(): string[] {
  return (process.env.PRINTCORE_FILE_HOSTS ?? '')
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean)
}

/** The largest file the preview downloads, in MB: PRINTCORE_FILE_MAX_MB (default 50). */
export function maxMb(): number {
  const n = Number(process.env.PRINTCORE_FILE_MAX_MB)
  return Number.isFinite(n) && n > 0 ? n : 50
}

const flag = (name: string) => ['1', 'true', 'yes'].includes((process.env[name] ?? '').toLowerCase())

/**
 * The worker's other file rules, off unless set: PRINTCORE_FILE_ALLOW_HTTP (plain http URLs),
 * PRINTCORE_FILE_ALLOW_LOOPBACK (a file server on this machine: tests), PRINTCORE_FILE_ALLOW_PRIVATE (a
 * file server on the shop's network).
 */
export function fileOptions(index: number, signal?: AbortSignal): OrderFileOptions {
  return {
    allowedHosts: allowedHosts(),
    index,
    maxMb: maxMb(),
    allowHttp: flag('PRINTCORE_FILE_ALLOW_HTTP'),
    allowLoopback: flag('PRINTCORE_FILE_ALLOW_LOOPBACK'),
    allowPrivate: flag('PRINTCORE_FILE_ALLOW_PRIVATE'),
    signal,
  }
}

export function orderFile(core: PrintCore, orderId: string, index: number, signal?: AbortSignal): Promise<OrderFile> {
  return core.orderFile(orderId, fileOptions(index, signal))
}
