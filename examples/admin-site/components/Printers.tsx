'use client'
// Printer cards: health as a word and a symbol (not colour alone), what the printer itself says (its state
// reasons: media-empty, media-jam...), queue length, since when it is offline, and what it can print.
import type { PrinterView, SnapshotView } from '@/lib/types'
import { clock, explainReason, messageBeyondReasons, shownReasons, since } from '@/lib/reasons'

export const STATUS_LOOK: Record<string, { color: string; symbol: string }> = {
  online: { color: '#1b7f3b', symbol: '●' },
  busy: { color: '#8a6100', symbol: '◐' },
  offline: { color: '#5f6b7a', symbol: '○' },
  error: { color: '#b3261e', symbol: '✕' },
}

export function PrinterStatus({ printer }: { printer: PrinterView }) {
  const look = STATUS_LOOK[printer.status ?? ''] ?? { color: '#5f6b7a', symbol: '?' }
  return (
    <span className="status" style={{ color: look.color }}>
      <span aria-hidden="true">{look.symbol}</span> {printer.status ?? 'unknown'}
    </span>
  )
}

export function Reasons({ printer }: { printer: PrinterView }) {
  const reasons = shownReasons(printer.stateReasons)
  if (!reasons.length) return null
  return (
    <ul className="reasons" aria-label={`What ${printer.name} reports`}>
      {reasons.map((r) => (
        <li key={r} className="reason" data-testid="reason">
          <span aria-hidden="true">⚠ </span>
          <code>{r}</code> <span>{explainReason(r)}</span>
        </li>
      ))}
    </ul>
  )
}

export default function Printers({ snap }: { snap: SnapshotView }) {
  const waitingAt = (id: string) => snap.printing.filter((o) => o.printerId === id).length
  return (
    <section aria-labelledby="printers-title" className="card">
      <h2 id="printers-title">Printers</h2>
      {snap.printers.length === 0 ? <p className="muted">No printer has been registered by a worker yet.</p> : null}
      <ul className="printers">
        {snap.printers.map((p) => {
          const look = STATUS_LOOK[p.status ?? ''] ?? { color: '#5f6b7a' }
          const caps = p.capabilities
          return (
            <li key={p.printerId} data-testid={`printer-${p.printerId}`} className="printer" style={{ borderLeftColor: look.color }} aria-label={`Printer ${p.name}`}>
              <div className="printer-head">
                <strong>{p.name}</strong> <PrinterStatus printer={p} />
              </div>
              <Reasons printer={p} />
              {messageBeyondReasons(p.errorMessage, p.stateReasons) ? <p className="problem">{p.errorMessage}</p> : null}
              <dl className="facts">
                <dt>Queue at the printer</dt>
                <dd>{p.queueLength ?? '–'} job(s)</dd>
                <dt>Printing now</dt>
                <dd>{waitingAt(p.printerId)} order(s)</dd>
                {p.offlineSince ? (
                  <>
                    <dt>Offline since</dt>
                    <dd>
                      {clock(p.offlineSince)} ({since(p.offlineSince)})
                    </dd>
                  </>
                ) : null}
                <dt>Last print</dt>
                <dd>{p.lastSuccessfulPrintAt ? `${clock(p.lastSuccessfulPrintAt)} (${since(p.lastSuccessfulPrintAt)} ago)` : '–'}</dd>
                <dt>Last checked</dt>
                <dd>{p.lastSeenAt ? `${since(p.lastSeenAt)} ago` : '–'}</dd>
                <dt>Can print</dt>
                <dd data-testid="capabilities">
                  {caps
                    ? `${caps.pageSizes.join(', ') || 'any size'} · ${caps.color ? 'colour' : 'black and white only'} · ${caps.duplex ? 'two-sided' : 'one side only'} · up to ${caps.maxCopies} copies`
                    : 'not reported'}
                </dd>
                {p.workerId ? (
                  <>
                    <dt>Worker</dt>
                    <dd>{p.workerId}</dd>
                  </>
                ) : null}
              </dl>
            </li>
          )
        })}
      </ul>
    </section>
  )
}
