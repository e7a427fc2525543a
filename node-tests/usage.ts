// Compiled with `tsc --noEmit` (npm run typecheck): every function of the package, as the website calls it.
import { PrintCore, type AdminResult, type BatchItem, type MonitorEvent, type Snapshot, type Subscription } from '..'

export async function usage(uri: string): Promise<void> {
  const core: PrintCore = await PrintCore.connect(uri, { dbName: 'printshop', appName: 'shop-site' })
  const paid = await core.markPaid('ORD-1', { priority: 1, notBefore: new Date() })
  const outcome: string = paid.outcome
  const snap: Snapshot = await core.snapshot()
  const firstPending: string | undefined = snap.pending[0]?.orderId
  const printedAt: Date | null | undefined = snap.printed[0]?.printCompletedAt
  const printerStatus: string | null | undefined = snap.printers[0]?.status
  const order = await core.order('ORD-1')
  const url: string | null | undefined = order.fileURL
  const admin = { adminId: 'u1', adminEmail: 'boss@shop.example', reason: 'customer asked' }
  const one = (await core.reprint('ORD-1', admin)) as AdminResult
  const many = (await core.cancel(['ORD-1', 'ORD-2'], admin)) as BatchItem[]
  await core.resetState('ORD-3', admin)
  await core.forcePrinted(['ORD-4'], admin)
  const logs = await core.logs({ orderId: 'ORD-1', action: 'reprint', limit: 10 })
  const when: Date = logs[0].timestamp
  const metrics = await core.metrics({ since: new Date(Date.now() - 3600_000) })
  const perHour: number = metrics[0].printsPerHour
  const migration = await core.migrate()
  const indexes: string[] = migration.indexes
  const sub: Subscription = core.watch((e: MonitorEvent) => console.log(e.kind, e.id, e.change, e.source), { pollMs: 2500 })
  const closed: boolean = sub.closed
  sub.close()
  core.close()
  console.log(outcome, firstPending, printedAt, printerStatus, url, one.mayHavePrinted, many.length, when, perHour, indexes, closed)
}
