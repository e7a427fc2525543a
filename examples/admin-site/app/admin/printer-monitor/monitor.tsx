'use client'
// The admin printer monitor: live counters, metrics charts, printers with what they report, the live
// groups (pending, printing, printed in 24 h, failed), a search through every order, batch actions with one
// reason, and one order's panel (why it waits, print preview, history). Live: each event of the one stream
// this browser shares between its tabs (lib/live.ts) re-reads the snapshot, and the open order or search
// page when the event names one of their orders; no reload.
import { useCallback, useEffect, useRef, useState } from 'react'
import { batchAction } from './actions'
import { subscribeLive, type LiveEvent } from '@/lib/live'
import type { LogView, OrderView, SnapshotView } from '@/lib/types'
import Counters from '@/components/Counters'
import Charts from '@/components/Charts'
import Printers from '@/components/Printers'
import OrderTable, { ACTION_LABEL, type ActionName } from '@/components/OrderTable'
import OrderDetail from '@/components/OrderDetail'
import Search, { type SearchHandle } from '@/components/Search'
import ReasonDialog, { type DialogRequest, type DialogResult } from '@/components/ReasonDialog'

const GROUPS = [
  ['pending', 'Pending'],
  ['printing', 'Printing'],
  ['printed', 'Printed (last 24 h)'],
  ['failed', 'Failed'],
] as const
type Group = (typeof GROUPS)[number][0]
const PAGE = 100

/** Timings the browser tests read: first load, and each live update from its event to the new page on screen. */
declare global {
  interface Window {
    __monitorTimings?: { firstLoad?: number; updates: number[] }
  }
}

export default function Monitor() {
  const [snap, setSnap] = useState<SnapshotView | null>(null)
  const [live, setLive] = useState(false)
  const [message, setMessage] = useState('')
  const [selected, setSelected] = useState<Set<string>>(new Set())
  const [shown, setShown] = useState<Record<Group, number>>({ pending: PAGE, printing: PAGE, printed: PAGE, failed: PAGE })
  const [openId, setOpenId] = useState<string | null>(null)
  const [detail, setDetail] = useState<{ order: OrderView | null; logs: LogView[] | null; error?: string }>({ order: null, logs: null })
  const [dialog, setDialog] = useState<DialogRequest | null>(null)
  const [chartsKey, setChartsKey] = useState(0)
  const search = useRef<SearchHandle>(null)
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined)
  const eventAt = useRef<number | null>(null)
  const opener = useRef<HTMLElement | null>(null)
  const openRef = useRef<string | null>(null)
  openRef.current = openId

  // Reads overlap (the first load, the read when the live feed opens, an event's): only the latest shows.
  const reads = useRef(0)
  const refresh = useCallback(async () => {
    const read = ++reads.current
    const r = await fetch('/api/monitor/snapshot', { cache: 'no-store' })
    if (r.status === 401) {
      window.location.href = '/login'
      return
    }
    const body = await r.json()
    if (read !== reads.current) return
    if (r.ok) setSnap(body)
    else setMessage(`The monitor could not be read: ${body.message}`)
  }, [])

  const loadDetail = useCallback(async (orderId: string) => {
    const [o, l] = await Promise.all([fetch(`/api/monitor/order?orderId=${encodeURIComponent(orderId)}`, { cache: 'no-store' }), fetch(`/api/monitor/logs?orderId=${encodeURIComponent(orderId)}`, { cache: 'no-store' })])
    if (openRef.current !== orderId) return
    const order = await o.json()
    const logs = await l.json()
    setDetail({ order: o.ok ? order : null, logs: l.ok ? logs : [], error: o.ok ? undefined : (order.message ?? `HTTP ${o.status}`) })
  }, [])

  // Timings: the first snapshot on screen, and each live update's snapshot on screen.
  useEffect(() => {
    if (!snap) return
    const t = (window.__monitorTimings ??= { updates: [] })
    if (t.firstLoad === undefined) t.firstLoad = Math.round(performance.now())
    else if (eventAt.current !== null) {
      t.updates.push(Math.round(performance.now() - eventAt.current))
      eventAt.current = null
    }
  }, [snap])

  useEffect(() => {
    refresh()
    const charts = setInterval(() => setChartsKey((k) => k + 1), 60_000)
    const stop = subscribeLive((event?: LiveEvent) => {
      eventAt.current ??= performance.now()
      // Coalesce bursts of events into one snapshot.
      clearTimeout(pending.current)
      pending.current = setTimeout(refresh, 100)
      // No event: the feed (re)opened, and anything may have changed before it.
      const open = openRef.current
      if (open && (!event || event.id === open || event.kind === 'printer')) loadDetail(open)
      if (!event || (event.kind === 'order' && search.current?.ids().includes(event.id))) search.current?.reload()
    }, setLive)
    return () => {
      stop()
      clearInterval(charts)
    }
  }, [refresh, loadDetail])

  function open(orderId: string) {
    opener.current = document.activeElement as HTMLElement | null
    setOpenId(orderId)
    setDetail({ order: null, logs: null })
    loadDetail(orderId)
    requestAnimationFrame(() => document.getElementById('detail-title')?.focus())
  }
  function close() {
    setOpenId(null)
    opener.current?.focus()
  }

  const select = useCallback((ids: string[], on: boolean) => {
    setSelected((s) => {
      const n = new Set(s)
      for (const id of ids) (on ? n.add(id) : n.delete(id))
      return n
    })
  }, [])

  function act(action: ActionName, orderIds: string[]) {
    setDialog({ action, label: ACTION_LABEL[action], orderIds })
  }

  async function runBatch(reason: string): Promise<DialogResult> {
    if (!dialog) return { error: 'Nothing to do.' }
    const outcome = await batchAction(dialog.action as ActionName, dialog.orderIds, reason)
    if (!outcome.ok) {
      setMessage(`${outcome.message}${outcome.detail ? ` (${outcome.detail})` : ''}`)
      return { error: `${outcome.message}${outcome.detail ? ` (${outcome.detail})` : ''}` }
    }
    setMessage(
      outcome.items
        .map((i) =>
          i.ok
            ? `${i.orderId}: ${i.result.previousStatus ?? 'none'} -> ${i.result.newStatus}${i.result.mayHavePrinted ? ' (it may already be on paper: check the printer)' : ''}${i.result.printerCancelMessage ? ` ${i.result.printerCancelMessage}` : ''}`
            : `${i.orderId}: refused, ${i.error.message}`,
        )
        .join('; '),
    )
    setSelected((s) => {
      const n = new Set(s)
      for (const i of outcome.items) if (i.ok) n.delete(i.orderId)
      return n
    })
    refresh()
    search.current?.reload()
    if (openId && dialog.orderIds.includes(openId)) loadDetail(openId)
    return { items: JSON.parse(JSON.stringify(outcome.items)) }
  }

  if (!snap)
    return (
      <main className="monitor">
        <p aria-live="polite">Loading…</p>
      </main>
    )
  const printerOf = (id?: string) => snap.printers.find((p) => p.printerId === id)
  const sel = [...selected]
  return (
    <main className={`monitor${openId ? ' with-detail' : ''}`}>
      <header className="top">
        <h1>Printer monitor</h1>
        <span data-testid="live" className={live ? 'live on' : 'live'} role="status">
          {live ? '● live' : '○ reconnecting'}
        </span>
        <form method="post" action="/api/logout">
          <button type="submit">Sign out</button>
        </form>
      </header>
      {message ? (
        <p role="status" data-testid="message" className="message">
          {message}
        </p>
      ) : null}
      <Counters snap={snap} />
      <div className="layout">
        <div className="main-col">
          <Charts refreshKey={chartsKey} />
          <Printers snap={snap} />
          {GROUPS.map(([key, title]) => {
            const list = snap[key]
            const total = snap.counts[key === 'printed' ? 'printedLast24H' : key]
            return (
              <section key={key} aria-labelledby={`group-${key}-title`} data-testid={`group-${key}`} className="card">
                <h2 id={`group-${key}-title`}>
                  {title} ({total})
                </h2>
                {list.length ? (
                  <OrderTable orders={list.slice(0, shown[key])} label={title} selected={selected} onSelect={select} onOpen={open} onAction={act} openId={openId ?? undefined} />
                ) : (
                  <p className="muted">None.</p>
                )}
                {list.length > shown[key] ? (
                  <button onClick={() => setShown({ ...shown, [key]: shown[key] + PAGE })}>
                    Show {Math.min(PAGE, list.length - shown[key])} more of {list.length}
                  </button>
                ) : null}
                {total > list.length ? <p className="muted">The list stops at {list.length}: find the others below.</p> : null}
              </section>
            )
          })}
          <Search ref={search} printers={snap.printers} selected={selected} onSelect={select} onOpen={open} onAction={act} openId={openId ?? undefined} />
        </div>
        {openId ? (
          <div className="side-col">
            <OrderDetail order={detail.order} printer={printerOf(detail.order?.printerId)} logs={detail.logs} error={detail.error} onClose={close} onAction={act} />
          </div>
        ) : null}
      </div>
      {sel.length ? (
        <div className="batch-bar" role="region" aria-label="Selected orders" data-testid="batch-bar">
          <span>
            <strong>{sel.length}</strong> selected
          </span>
          {(['reprint', 'cancel', 'resetState', 'forcePrinted'] as ActionName[]).map((a) => (
            <button key={a} onClick={() => act(a, sel)}>
              {ACTION_LABEL[a]} {sel.length}
            </button>
          ))}
          <button onClick={() => setSelected(new Set())}>Clear selection</button>
        </div>
      ) : null}
      <ReasonDialog request={dialog} onSubmit={runBatch} onClose={() => setDialog(null)} />
    </main>
  )
}
