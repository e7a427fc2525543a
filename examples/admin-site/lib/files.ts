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

export function orderFile(core: PrintCore, orderId: string, index: number): Promise<OrderFile> {
  return (core as unknown as WithOrderFile).orderFile(orderId, { allowedHosts: allowedHosts(), index, maxMb: maxMb() })
}
