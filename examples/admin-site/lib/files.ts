// The order file download of the preview route: printcore's `orderFile` fetches it with the worker's rules
// (https only to the allowed hosts, size limit, PDF validation), so the admin's browser never gets a
// customer's URL and never fetches anything but this site.
import type { PrintCore } from 'printcore'

export interface OrderFile {
  bytes: Buffer
  contentType: string
  sha256: string
  fileName?: string
  index: number
  count: number
}

export interface OrderFileOptions {
  allowedHosts: string[]
  index?: number
  maxMb?: number
  allowHttp?: boolean
  allowLoopback?: boolean
  allowPrivate?: boolean
}

type WithOrderFile = { orderFile(orderId: string, options: OrderFileOptions): Promise<OrderFile> }

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
export function fileOptions(index: number): OrderFileOptions {
  return {
    allowedHosts: allowedHosts(),
    index,
    maxMb: maxMb(),
    allowHttp: flag('PRINTCORE_FILE_ALLOW_HTTP'),
    allowLoopback: flag('PRINTCORE_FILE_ALLOW_LOOPBACK'),
    allowPrivate: flag('PRINTCORE_FILE_ALLOW_PRIVATE'),
  }
}

export function orderFile(core: PrintCore, orderId: string, index: number): Promise<OrderFile> {
  return (core as unknown as WithOrderFile).orderFile(orderId, fileOptions(index))
}
