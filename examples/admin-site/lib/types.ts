// Types shared by the monitor's routes and components. A value that crossed JSON has its dates as strings:
// `Json<T>` says so.
import type { Metrics, Printer, PrintOrder, PrintLogEntry, Snapshot, BatchItem } from 'printcore'

export type Json<T> = T extends Date ? string : T extends (infer U)[] ? Json<U>[] : T extends object ? { [K in keyof T]: Json<T[K]> } : T

/** A printer as the monitor reads it: `stateReasons` is what the printer itself says (IPP printer-state-reasons). */
export type PrinterView = Json<Printer>
/**
 * An order as the browser gets it: `fileURL` / `fileURLs` are scheme, host and path only (the API sends
 * everything through lib/browser-safe.mjs), enough to tell there is a file and how many; the preview
 * fetches the file by order id from /api/monitor/file.
 */
export type OrderView = Json<PrintOrder>
export type LogView = Json<PrintLogEntry>
export type SnapshotView = Json<Snapshot>
export type MetricsView = Json<Metrics>
export type BatchView = Json<BatchItem>

/** The order search of the history view (GET /api/monitor/orders). */
export interface OrderSearch {
  q?: string
  status?: string
  printerId?: string
  from?: string
  to?: string
  before?: string
}

export interface OrderPageView {
  items: OrderView[]
  next?: string | null
}

/** One point of a chart series: all workers' samples in one bucket. */
export interface MetricsSeries {
  bucketMinutes: number
  /** Unix seconds of each bucket's start. */
  t: number[]
  printsPerHour: (number | null)[]
  failuresPerHour: (number | null)[]
  averagePrintStartDelay: (number | null)[]
  /** Minutes offline in the bucket's period. */
  offlineMinutes: (number | null)[]
  samples: number
}

export const STATUSES = ['pending', 'printing', 'printed', 'failed', 'cancelled'] as const
export type Status = (typeof STATUSES)[number]
