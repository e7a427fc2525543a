// Compiled with `tsc --noEmit` (npm run typecheck), as CommonJS (tsconfig.json) and as ESM with
// moduleResolution bundler (tsconfig.esm.json, usage-esm.mts): every function of the package as the
// website calls it, and what the types must refuse (`@ts-expect-error` fails the build if it compiles).
import {
  PrintCore,
  PrintCoreError,
  ERROR_CODES,
  type AdminResult,
  type BatchItem,
  type ErrorCode,
  type MonitorEvent,
  type PrintStatus,
  type PrinterStatus,
  type MarkPaidOutcome,
  type Snapshot,
  type Subscription,
  type Page,
  type PrintLogEntry,
  type OrderFile,
  type OrderFileOptions,
  type OrdersQuery,
} from 'printcore'

/** Every code has a message: adding a code to the union without one here fails to compile. */
export function message(code: ErrorCode): string {
  switch (code) {
    case 'NOT_FOUND': return 'no such order'
    case 'NOT_PAID': return 'not paid'
    case 'INVALID_TRANSITION': return 'not from this state'
    case 'OWNERSHIP_LOST': return 'lost'
    case 'CONFLICT': return 'changed meanwhile'
    case 'INVALID_ARGUMENT': return 'bad input'
    case 'INVALID_DOCUMENT': return 'bad document'
    case 'FILE_UNAVAILABLE': return 'file unavailable'
    case 'FILE_INVALID': return 'file invalid'
    case 'FILE_REJECTED': return 'file host refused'
    case 'CAPABILITY_MISMATCH': return 'printer cannot'
    case 'UNSUPPORTED': return 'unsupported'
    case 'TIMEOUT': return 'timed out'
    case 'ABORTED': return 'aborted'
    case 'DATABASE': return 'database'
    default: {
      const unreachable: never = code
      return unreachable
    }
  }
}

export function label(status: PrintStatus): string {
  switch (status) {
    case 'pending': return 'Waiting'
    case 'printing': return 'Printing'
    case 'printed': return 'Printed'
    case 'failed': return 'Failed'
    case 'cancelled': return 'Cancelled'
    default: {
      const unreachable: never = status
      return unreachable
    }
  }
}

export function colour(status: PrinterStatus): string {
  switch (status) {
    case 'online': return 'green'
    case 'busy': return 'yellow'
    case 'offline': return 'grey'
    case 'error': return 'red'
    default: {
      const unreachable: never = status
      return unreachable
    }
  }
}

export async function usage(uri: string, signal: AbortSignal): Promise<void> {
  const core: PrintCore = await PrintCore.connect(uri, { dbName: 'printshop', appName: 'shop-site', maxPoolSize: 5, serverSelectionTimeoutMs: 3000, timeoutMs: 5000 })
  const paid = await core.markPaid('ORD-1', { priority: 1, notBefore: new Date(), signal })
  const outcome: MarkPaidOutcome = paid.outcome
  const snap: Snapshot = await core.snapshot({ timeoutMs: 2000 })
  const firstPending: string | undefined = snap.pending[0]?.orderId
  const printedAt: Date | undefined = snap.printed[0]?.printCompletedAt
  const printerStatus: PrinterStatus | undefined = snap.printers[0]?.status
  const order = await core.order('ORD-1')
  const url: string | undefined = order.fileURL
  const admin = { adminId: 'u1', adminEmail: 'boss@shop.example', reason: 'customer asked' }
  const one: AdminResult = await core.reprint('ORD-1', admin)
  const many: BatchItem[] = await core.cancel(['ORD-1', 'ORD-2'], admin)
  for (const item of many) {
    if (item.ok) console.log(item.result.newStatus)
    else console.log(item.error.code, item.error.message)
  }
  await core.resetState('ORD-3', admin, { signal })
  await core.forcePrinted(['ORD-4'], admin)
  // @ts-expect-error a reason is required
  await core.reprint('ORD-1', { adminId: 'u1', adminEmail: 'boss@shop.example' })
  // @ts-expect-error not an action
  await core.logs({ action: 'print_it' })
  const page: Page<PrintLogEntry> = await core.logs({ orderId: 'ORD-1', action: 'reprint', limit: 10 })
  const when: Date = page.items[0].timestamp
  const older = page.next ? await core.logs({ orderId: 'ORD-1', before: page.next }) : null
  const failed = await core.orders({ status: 'failed', limit: 50 })
  const found = await core.orders({ orderId: 'ORD-1', printerId: 'front', from: new Date(0), to: new Date(), signal })
  const everything = await core.orders()
  // @ts-expect-error not a print status
  await core.orders({ status: 'queued' })
  const metrics = await core.metrics({ since: new Date(Date.now() - 3600_000) })
  const perHour: number = metrics[0].printsPerHour
  const week = await core.metrics({ since: new Date(Date.now() - 7 * 86_400_000), bucketMinutes: 30, limit: 500 })
  const combined: number | undefined = week[0].samples
  const file: OrderFile = await core.orderFile('ORD-1', { allowedHosts: ['res.cloudinary.com'], index: 0, maxMb: 20, timeoutMs: 5000 })
  const bytes: Buffer = file.bytes
  const type: string = file.contentType
  // @ts-expect-error the allowlist is required
  await core.orderFile('ORD-1', {})
  const reasons: string[] | undefined = (await core.snapshot()).printers[0].stateReasons
  const query: OrdersQuery = { status: 'printed', before: found.next ?? undefined }
  const options: OrderFileOptions = { allowedHosts: ['res.cloudinary.com'], allowHttp: false }
  const migration = await core.migrate({ dryRun: true })
  const indexes: string[] = migration.indexes
  const sub: Subscription = core.watch((e: MonitorEvent) => console.log(e.kind, e.id, e.change, e.source), {
    pollMs: 2500,
    onOpen: () => console.log('open: read the snapshot now'),
    onError: (e: PrintCoreError) => console.error(e.code, e.transient),
    onEnd: () => console.log('ended'),
    signal,
  })
  const closed: boolean = sub.closed
  sub.close()
  for await (const event of core.events({ signal })) console.log(event.id)
  try {
    await core.order('nope')
  } catch (e) {
    if (e instanceof PrintCoreError) console.log(message(e.code), e.transient)
  }
  const codes: readonly ErrorCode[] = ERROR_CODES
  await core.close()
  console.log(outcome, firstPending, printedAt, printerStatus, url, one.mayHavePrinted, when, older, failed.items, perHour, indexes, closed, codes, everything, combined, bytes, type, reasons, query, options)
}
