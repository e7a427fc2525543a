'use client'
// The admin printer monitor: orders by group, printer health, latest metrics, admin actions (server
// actions) and each order's history. Live: events from the one stream this browser shares between its
// tabs (lib/live.ts) trigger a fresh snapshot; no reload needed.
import { useCallback, useEffect, useRef, useState } from 'react'
import type { PrintOrder, PrinterStatus, PrintLogEntry, Snapshot } from 'printcore'
import { adminAction, type AdminActionName } from './actions'
import { subscribeLive } from '@/lib/live'

/** A snapshot as it arrives over JSON: dates are strings. */
type Json<T> = T extends Date ? string : T extends (infer U)[] ? Json<U>[] : T extends object ? { [K in keyof T]: Json<T[K]> } : T
type Order = Json<PrintOrder>

const COLORS: Record<PrinterStatus, string> = { online: '#1b873f', busy: '#b08800', offline: '#6a737d', error: '#cf222e' }
const GROUPS = [
  ['pending', 'Pending'],
  ['printing', 'Printing'],
  ['printed', 'Printed (last 24 h)'],
  ['failed', 'Failed'],
] as const
type Group = (typeof GROUPS)[number][0]
const ACTIONS_FOR: Record<Group, [AdminActionName, string][]> = {
  pending: [['cancel', 'Cancel']],
  printing: [['resetState', 'Reset stuck'], ['forcePrinted', 'Force printed']],
  printed: [['reprint', 'Reprint']],
  failed: [['reprint', 'Reprint'], ['cancel', 'Cancel'], ['forcePrinted', 'Force printed']],
}

function age(date: string | undefined): string {
  if (!date) return '-'
  const s = Math.max(0, Math.round((Date.now() - new Date(date).getTime()) / 1000))
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`
}

export default function Monitor() {
  const [snap, setSnap] = useState<Json<Snapshot> | null>(null)
  const [live, setLive] = useState(false)
  const [message, setMessage] = useState('')
  const [history, setHistory] = useState<{ orderId: string; logs: Json<PrintLogEntry>[] } | null>(null)
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined)

  const refresh = useCallback(async () => {
    const r = await fetch('/api/monitor/snapshot', { cache: 'no-store' })
    if (r.status === 401) {
      window.location.href = '/login'
      return
    }
    if (r.ok) setSnap(await r.json())
    else setMessage(`The monitor could not be read: ${(await r.json()).message}`)
  }, [])

  useEffect(() => {
    refresh()
    return subscribeLive(() => {
      // Coalesce bursts of events into one snapshot.
      clearTimeout(pending.current)
      pending.current = setTimeout(refresh, 100)
    }, setLive)
  }, [refresh])

  async function showHistory(orderId: string) {
    const r = await fetch(`/api/monitor/logs?orderId=${encodeURIComponent(orderId)}`)
    setHistory({ orderId, logs: await r.json() })
  }

  async function act(action: AdminActionName, orderId: string) {
    const reason = window.prompt(`Reason to ${action} order ${orderId} (required):`)
    if (!reason || !reason.trim()) return setMessage('An action needs a reason.')
    const outcome = await adminAction(action, orderId, reason)
    if (!outcome.ok) return setMessage(`${orderId}: ${outcome.message}${outcome.detail ? ` (${outcome.detail})` : ''}`)
    const r = outcome.result
    setMessage(
      `${orderId}: ${r.previousStatus ?? 'none'} -> ${r.newStatus}` +
        (r.mayHavePrinted ? ' (it may already be on paper: check the printer)' : '') +
        (r.printerCancelMessage ? ` ${r.printerCancelMessage}` : ''),
    )
    refresh()
    if (history?.orderId === orderId) showHistory(orderId)
  }

  if (!snap) return <main style={{ padding: 24 }}>Loading…</main>
  const m = snap.metrics
  return (
    <main style={{ padding: 24, maxWidth: 1200, margin: '0 auto' }}>
      <header style={{ display: 'flex', justifyContent: 'space-between', alignItems: 'center' }}>
        <h1>Printer monitor</h1>
        <span data-testid="live">{live ? '● live' : '○ reconnecting'}</span>
      </header>
      {message ? <p role="status" data-testid="message">{message}</p> : null}

      <section aria-label="Printers" style={{ display: 'flex', gap: 12, flexWrap: 'wrap' }}>
        {snap.printers.map((p) => (
          <div key={p.printerId} data-testid={`printer-${p.printerId}`} style={{ background: '#fff', padding: 12, borderRadius: 8, borderLeft: `6px solid ${p.status ? COLORS[p.status] : '#999'}`, minWidth: 240 }}>
            <strong>{p.name}</strong> <span style={{ color: p.status ? COLORS[p.status] : undefined }}>{p.status}</span>
            <div>Queue: {p.queueLength ?? '-'}</div>
            <div>Last successful print: {p.lastSuccessfulPrintAt ? new Date(p.lastSuccessfulPrintAt).toLocaleString() : '-'}</div>
            {p.errorMessage ? <div style={{ color: '#cf222e' }}>{p.errorMessage}</div> : null}
          </div>
        ))}
      </section>

      <section aria-label="Metrics" data-testid="metrics" style={{ margin: '12px 0' }}>
        {m ? `Prints/hour ${m.printsPerHour.toFixed(1)} · failures/hour ${m.failuresPerHour.toFixed(1)} · mean start delay ${m.averagePrintStartDelay.toFixed(1)} s` : 'No metrics yet.'}
      </section>

      {GROUPS.map(([key, title]) => (
        <section key={key} aria-label={title} data-testid={`group-${key}`} style={{ background: '#fff', borderRadius: 8, padding: 12, marginBottom: 12 }}>
          <h2 style={{ marginTop: 0 }}>
            {title} ({snap.counts[key === 'printed' ? 'printedLast24H' : key]})
          </h2>
          <table style={{ width: '100%', borderCollapse: 'collapse' }}>
            <thead>
              <tr style={{ textAlign: 'left' }}>
                <th>Order</th><th>Age</th><th>Attempts</th><th>Printer</th><th>Error</th><th></th>
              </tr>
            </thead>
            <tbody>
              {snap[key].map((o: Order) => (
                <tr key={o.orderId} data-testid={`order-${o.orderId}`} style={{ borderTop: '1px solid #eee' }}>
                  <td><button onClick={() => showHistory(o.orderId)} style={{ all: 'unset', cursor: 'pointer', textDecoration: 'underline' }}>{o.orderId}</button></td>
                  <td>{age(o.paidAt || o.createdAt)}</td>
                  <td>{o.printAttempt ?? 0}</td>
                  <td>{o.printerName || '-'}</td>
                  <td style={{ color: '#cf222e' }}>{o.printError || o.printWaitReason || ''}</td>
                  <td>
                    {ACTIONS_FOR[key].map(([action, label]) => (
                      <button key={action} onClick={() => act(action, o.orderId)} style={{ marginRight: 4 }}>{label}</button>
                    ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ))}

      {history ? (
        <section aria-label="History" data-testid="history" style={{ background: '#fff', borderRadius: 8, padding: 12 }}>
          <h2 style={{ marginTop: 0 }}>History of {history.orderId}</h2>
          <ul>
            {history.logs.map((l) => (
              <li key={l.id}>
                {new Date(l.timestamp).toLocaleString()}: {l.action} ({l.previousStatus ?? '-'} → {l.newStatus ?? '-'}){l.adminEmail ? ` by ${l.adminEmail}` : ''}{l.reason ? `: ${l.reason}` : ''}
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      <form method="post" action="/api/logout"><button type="submit">Sign out</button></form>
    </main>
  )
}
