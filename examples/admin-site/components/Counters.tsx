'use client'
// Live counters computed from the snapshot: useful in the first minute, before any worker has written a
// metrics sample.
import type { SnapshotView } from '@/lib/types'
import { since } from '@/lib/reasons'

export default function Counters({ snap }: { snap: SnapshotView }) {
  const hourAgo = Date.now() - 3600_000
  const printedLastHour = snap.printed.filter((o) => o.printCompletedAt && new Date(o.printCompletedAt).getTime() >= hourAgo).length
  const oldest = snap.pending.reduce<string | undefined>((min, o) => {
    const t = o.paidAt ?? o.createdAt
    return t && (!min || t < min) ? t : min
  }, undefined)
  const online = snap.printers.filter((p) => p.status === 'online' || p.status === 'busy').length
  const unsure = [...snap.printing, ...snap.failed].filter((o) => o.mayHavePrinted).length
  const items: [string, string | number, string][] = [
    ['pending', snap.counts.pending, 'Waiting to print'],
    ['printing', snap.counts.printing, 'Printing'],
    ['printed', snap.counts.printedLast24H, 'Printed, last 24 h'],
    ['printedHour', snap.printed.length < 500 || printedLastHour < snap.printed.length ? printedLastHour : `${printedLastHour}+`, 'Printed, last hour'],
    ['failed', snap.counts.failed, 'Failed'],
    ['oldest', oldest ? since(oldest) : '–', 'Longest wait'],
    ['printers', `${online} / ${snap.printers.length}`, 'Printers up'],
    ['unsure', unsure, 'May be on paper'],
  ]
  return (
    <section aria-label="Live counters" className="counters" data-testid="counters">
      {items.map(([key, value, label]) => (
        <div key={key} className={`counter${key === 'failed' && snap.counts.failed ? ' counter-bad' : ''}`} data-testid={`count-${key}`}>
          <span className="counter-value">{value}</span>
          <span className="counter-label">{label}</span>
        </div>
      ))}
    </section>
  )
}
