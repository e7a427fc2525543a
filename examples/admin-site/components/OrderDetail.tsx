'use client'
// One order: why it is waiting (what its printer says), the print preview, and its history (print_logs)
// as a timeline with who did what and why, the worker and printer, and the "may have printed" warnings.
import { FilePreview } from './Preview'
import { ACTION_LABEL, ACTIONS_FOR, OrderStatus, type ActionName } from './OrderTable'
import { PrinterStatus, Reasons } from './Printers'
import type { LogView, OrderView, PrinterView } from '@/lib/types'
import { clock, explainReason, messageBeyondReasons, shownReasons, since } from '@/lib/reasons'

const ACTION_TEXT: Record<string, string> = {
  mark_paid: 'paid',
  claim: 'taken by a worker',
  submitted: 'sent to the printer',
  adopt: 'adopted by a worker',
  printed: 'printed',
  rejected: 'rejected',
  retry: 'to be tried again',
  failed: 'failed',
  server_shutdown: 'worker shut down',
  lease_expired: 'worker lease expired',
  returned_by_printer: 'returned by the printer',
  migration: 'migration',
  reprint: 'reprint',
  cancel: 'cancel',
  reset_state: 'reset',
  force_printed: 'forced printed',
}

function text(v: unknown): string | undefined {
  return typeof v === 'string' && v ? v : typeof v === 'number' ? String(v) : undefined
}

/** Why the order is where it is, in the printer's own words. */
export function Waiting({ order, printer }: { order: OrderView; printer?: PrinterView }) {
  const s = order.printStatus
  if (s === 'pending') {
    const scheduled = order.printNotBefore && new Date(order.printNotBefore).getTime() > Date.now()
    return (
      <section className="panel-section" aria-labelledby="waiting-title" data-testid="waiting">
        <h3 id="waiting-title">Why is it waiting?</h3>
        <p>
          {scheduled ? `Scheduled: not printed before ${clock(order.printNotBefore)}.` : 'In the queue, waiting for a worker to take it.'} Paid{' '}
          {since(order.paidAt ?? order.createdAt)} ago{order.printAttempt ? `, attempt ${order.printAttempt + 1} next` : ''}.
        </p>
        {order.printError ? <p className="problem">Last attempt: {order.printError}</p> : null}
      </section>
    )
  }
  if (s !== 'printing') return null
  const at = order.printSubmittedAt ?? order.printStartedAt
  const reasons = shownReasons(printer?.stateReasons)
  return (
    <section className="panel-section" aria-labelledby="waiting-title" data-testid="waiting">
      <h3 id="waiting-title">Why is it waiting?</h3>
      <p data-testid="waited">
        {order.printSubmittedAt ? 'At the printer' : 'Being sent to the printer'} {printer ? <strong>{printer.name}</strong> : (order.printerName ?? order.printerId)} since {clock(at)}: waited{' '}
        <strong>{since(at)}</strong>.
      </p>
      {printer ? (
        <ul className="says" aria-label="What the printer says">
          <li>
            Printer status: <PrinterStatus printer={printer} />
          </li>
          {printer.queueLength !== undefined ? <li data-testid="queue">Queued behind {Math.max(0, printer.queueLength - 1)} other job(s) ({printer.queueLength} at the printer)</li> : null}
          {reasons.map((r) => (
            <li key={r} className="reason" data-testid="wait-reason">
              <span aria-hidden="true">⚠ </span>
              The printer reports <code>{r}</code>: {explainReason(r)}
            </li>
          ))}
          {printer.offlineSince ? (
            <li data-testid="offline-since">
              Offline since {clock(printer.offlineSince)} ({since(printer.offlineSince)})
            </li>
          ) : null}
          {messageBeyondReasons(printer.errorMessage, printer.stateReasons) ? <li className="problem">{printer.errorMessage}</li> : null}
        </ul>
      ) : (
        <p className="muted">No health report from this printer yet.</p>
      )}
      {order.printWaitReason ? <p className="problem">The worker says: {order.printWaitReason}</p> : null}
    </section>
  )
}

export function Timeline({ logs }: { logs: LogView[] | null }) {
  return (
    <section className="panel-section" aria-labelledby="timeline-title" data-testid="history">
      <h3 id="timeline-title">History</h3>
      {logs === null ? <p className="muted">Loading…</p> : null}
      {logs?.length === 0 ? <p className="muted">No entries.</p> : null}
      <ol className="timeline">
        {logs?.map((l) => {
          const m = l.metadata ?? {}
          const worker = text(m.workerId) ?? text(m.worker)
          const printer = text(m.printerName) ?? text(m.printerId)
          const may = m.mayHavePrinted === true
          return (
            <li key={l.id} className={`event event-${l.action}`} data-testid="log-entry">
              <time dateTime={l.timestamp}>{new Date(l.timestamp).toLocaleString()}</time>
              <div>
                <strong>{l.action}</strong> ({l.previousStatus ?? '-'} → {l.newStatus ?? '-'}){l.adminEmail ? ` by ${l.adminEmail}` : ''}
                {l.reason ? `: ${l.reason}` : ''}
                <span className="muted"> · {ACTION_TEXT[l.action] ?? l.action}</span>
              </div>
              <div className="event-meta">
                {l.adminEmail ? <span>👤 admin {l.adminEmail}</span> : worker ? <span>⚙ worker {worker}</span> : <span>⚙ system</span>}
                {printer ? <span>🖨 printer {printer}</span> : null}
                {l.printJobId ? <span>job {l.printJobId.slice(0, 8)}</span> : null}
              </div>
              {may ? (
                <p className="warning" data-testid="may-have-printed">
                  ⚠ It may already have been printed: check the printer before printing it again.
                </p>
              ) : null}
            </li>
          )
        })}
      </ol>
    </section>
  )
}

export default function OrderDetail({
  order,
  printer,
  logs,
  error,
  onClose,
  onAction,
}: {
  order: OrderView | null
  printer?: PrinterView
  logs: LogView[] | null
  error?: string
  onClose: () => void
  onAction: (action: ActionName, orderIds: string[]) => void
}) {
  return (
    <aside className="card detail" aria-labelledby="detail-title" data-testid="detail" onKeyDown={(e) => e.key === 'Escape' && !e.defaultPrevented && onClose()}>
      <div className="card-head">
        <h2 id="detail-title" tabIndex={-1}>
          Order {order?.orderId ?? '…'}
        </h2>
        <button onClick={onClose} aria-label="Close the order">
          ✕ Close
        </button>
      </div>
      {error ? <p role="alert">{error}</p> : null}
      {order ? (
        <>
          <p>
            <OrderStatus order={order} /> · attempt {order.printAttempt ?? 0} · paid {order.paidAt ? clock(order.paidAt) : 'not yet'}
            {order.printerName ? ` · printer ${order.printerName}` : ''}
          </p>
          {order.mayHavePrinted && order.printStatus !== 'printed' ? (
            <p className="warning" role="note" data-testid="order-may-have-printed">
              ⚠ This order was handed to a printer: it may already be on paper. Check the printer before printing it again.
            </p>
          ) : null}
          {order.printError ? <p className="problem">Error: {order.printError}</p> : null}
          {order.problems.length ? (
            <ul className="problem" aria-label="Problems of the stored order">
              {order.problems.map((p) => (
                <li key={p}>{p}</li>
              ))}
            </ul>
          ) : null}
          <div className="row-actions">
            {(ACTIONS_FOR[order.printStatus ?? ''] ?? []).map((a) => (
              <button key={a} onClick={() => onAction(a, [order.orderId])}>
                {ACTION_LABEL[a]}
              </button>
            ))}
          </div>
          <Waiting order={order} printer={printer} />
          {printer && order.printStatus !== 'printing' ? <Reasons printer={printer} /> : null}
          <FilePreview order={order} />
        </>
      ) : null}
      <Timeline logs={logs} />
    </aside>
  )
}
