'use client'
// The reason for an admin action, in a modal dialog (the native <dialog>: focus moves into it and stays,
// Escape closes it, focus returns to the button that opened it). One reason for every selected order; the
// result of each order is shown in the dialog once printcore answered.
import { useEffect, useRef, useState } from 'react'
import type { BatchView } from '@/lib/types'

export interface DialogRequest {
  action: string
  label: string
  orderIds: string[]
}

export type DialogResult = { items: BatchView[] } | { error: string }

export default function ReasonDialog({ request, onSubmit, onClose }: { request: DialogRequest | null; onSubmit: (reason: string) => Promise<DialogResult>; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null)
  const [reason, setReason] = useState('')
  const [busy, setBusy] = useState(false)
  const [result, setResult] = useState<DialogResult | null>(null)
  const [touched, setTouched] = useState(false)
  useEffect(() => {
    const d = ref.current
    if (!d) return
    if (request && !d.open) {
      setReason('')
      setResult(null)
      setTouched(false)
      d.showModal()
    } else if (!request && d.open) d.close()
  }, [request])

  async function submit(e: React.FormEvent) {
    e.preventDefault()
    setTouched(true)
    if (!reason.trim() || busy) return
    setBusy(true)
    try {
      setResult(await onSubmit(reason.trim()))
    } finally {
      setBusy(false)
    }
  }

  const n = request?.orderIds.length ?? 0
  const missing = touched && !reason.trim()
  return (
    <dialog ref={ref} aria-labelledby="reason-title" className="dialog" onClose={onClose} data-testid="reason-dialog">
      {request ? (
        <form onSubmit={submit} method="dialog">
          <h2 id="reason-title">
            {request.label} {n === 1 ? `order ${request.orderIds[0]}` : `${n} orders`}
          </h2>
          {n > 1 ? (
            <p className="dialog-orders" aria-label="Orders">
              {request.orderIds.join(', ')}
            </p>
          ) : null}
          {result ? null : (
            <>
              <label htmlFor="reason">Reason (required; logged with your email on each order)</label>
              <textarea
                id="reason"
                name="reason"
                rows={3}
                autoFocus
                required
                value={reason}
                aria-invalid={missing}
                aria-describedby={missing ? 'reason-missing' : undefined}
                onChange={(e) => setReason(e.target.value)}
              />
              {missing ? (
                <p id="reason-missing" role="alert" className="problem">
                  Write why: it goes into each order’s history.
                </p>
              ) : null}
            </>
          )}
          {result ? (
            'error' in result ? (
              <p role="alert" className="problem">
                {result.error}
              </p>
            ) : (
              <div role="status" data-testid="batch-results">
                <p>
                  {result.items.filter((i) => i.ok).length} of {result.items.length} done.
                </p>
                <ul className="results">
                  {result.items.map((i) => (
                    <li key={i.orderId} data-testid={`result-${i.orderId}`} className={i.ok ? 'ok' : 'refused'}>
                      <span aria-hidden="true">{i.ok ? '✓ ' : '✕ '}</span>
                      <strong>{i.orderId}</strong>:{' '}
                      {i.ok
                        ? `${i.result.previousStatus ?? 'none'} → ${i.result.newStatus}${i.result.mayHavePrinted ? ' (may already be on paper: check the printer)' : ''}${i.result.printerCancelMessage ? ` ${i.result.printerCancelMessage}` : ''}`
                        : `refused: ${i.error.message}`}
                    </li>
                  ))}
                </ul>
              </div>
            )
          ) : null}
          <div className="dialog-buttons">
            {result ? (
              <button type="button" onClick={onClose} autoFocus>
                Close
              </button>
            ) : (
              <>
                <button type="button" onClick={onClose}>
                  Back
                </button>
                <button type="submit" className="primary" disabled={busy} aria-disabled={busy}>
                  {busy ? 'Working…' : `${request.label} ${n === 1 ? 'order' : `${n} orders`}`}
                </button>
              </>
            )}
          </div>
        </form>
      ) : null}
    </dialog>
  )
}
