'use client'
// A list of orders: select several (checkboxes, one for the whole list), open one (its id), act on one (the
// row's buttons open the reason dialog). Status is a word and a symbol, never only a colour.
import { Thumbnail } from './Preview'
import type { OrderView } from '@/lib/types'
import { since } from '@/lib/reasons'

export type ActionName = 'reprint' | 'cancel' | 'resetState' | 'forcePrinted'
export const ACTION_LABEL: Record<ActionName, string> = { reprint: 'Reprint', cancel: 'Cancel', resetState: 'Reset stuck', forcePrinted: 'Force printed' }
export const ACTIONS_FOR: Record<string, ActionName[]> = {
  pending: ['cancel'],
  printing: ['resetState', 'forcePrinted'],
  printed: ['reprint'],
  failed: ['reprint', 'cancel', 'forcePrinted'],
  cancelled: ['reprint'],
}

const STATUS_SYMBOL: Record<string, string> = { pending: '◷', printing: '⟳', printed: '✓', failed: '✕', cancelled: '⊘' }

export function OrderStatus({ order }: { order: OrderView }) {
  const s = order.printStatus ?? 'unpaid'
  return (
    <span className={`badge badge-${s}`}>
      <span aria-hidden="true">{STATUS_SYMBOL[s] ?? '·'}</span> {s}
    </span>
  )
}

export function whyLine(order: OrderView): string {
  if (order.printError) return order.printError
  if (order.printWaitReason) return order.printWaitReason
  if (order.problems.length) return order.problems.join('; ')
  return ''
}

export default function OrderTable({
  orders,
  label,
  selected,
  onSelect,
  onOpen,
  onAction,
  showStatus = false,
  openId,
}: {
  orders: OrderView[]
  label: string
  selected: Set<string>
  onSelect: (ids: string[], on: boolean) => void
  onOpen: (orderId: string) => void
  onAction: (action: ActionName, orderIds: string[]) => void
  showStatus?: boolean
  openId?: string
}) {
  const ids = orders.map((o) => o.orderId)
  const all = ids.length > 0 && ids.every((id) => selected.has(id))
  return (
    <div className="table-wrap">
      <table className="orders">
        <caption className="sr-only">{label}</caption>
        <thead>
          <tr>
            <th scope="col" className="col-check">
              <input type="checkbox" aria-label={`Select every order of ${label}`} checked={all} disabled={!ids.length} onChange={(e) => onSelect(ids, e.target.checked)} />
            </th>
            <th scope="col">Preview</th>
            <th scope="col">Order</th>
            {showStatus ? <th scope="col">State</th> : null}
            <th scope="col">Waited</th>
            <th scope="col">Attempts</th>
            <th scope="col">Printer</th>
            <th scope="col">Why</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {orders.map((o) => (
            <tr key={o.orderId} data-testid={`order-${o.orderId}`} aria-current={openId === o.orderId ? 'true' : undefined}>
              <td className="col-check">
                <input type="checkbox" aria-label={`Select order ${o.orderId}`} checked={selected.has(o.orderId)} onChange={(e) => onSelect([o.orderId], e.target.checked)} />
              </td>
              <td>
                <Thumbnail order={o} />
              </td>
              <td>
                <button className="link" onClick={() => onOpen(o.orderId)} aria-label={`Open order ${o.orderId}`}>
                  {o.orderId}
                </button>
                {o.mayHavePrinted && o.printStatus !== 'printed' ? (
                  <span className="warning-chip" title="It was handed to a printer: it may already be on paper">
                    ⚠ may be on paper
                  </span>
                ) : null}
              </td>
              {showStatus ? (
                <td>
                  <OrderStatus order={o} />
                </td>
              ) : null}
              <td>{since(o.printStatus === 'printing' ? (o.printSubmittedAt ?? o.printStartedAt) : (o.paidAt ?? o.createdAt))}</td>
              <td>{o.printAttempt ?? 0}</td>
              <td>{o.printerName || o.printerId || '–'}</td>
              <td className="why">{whyLine(o)}</td>
              <td className="row-actions">
                {(ACTIONS_FOR[o.printStatus ?? ''] ?? []).map((a) => (
                  <button key={a} onClick={() => onAction(a, [o.orderId])} aria-label={`${ACTION_LABEL[a]} order ${o.orderId}`}>
                    {ACTION_LABEL[a]}
                  </button>
                ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
