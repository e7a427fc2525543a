'use client'
// Every order, not only the live groups: search by order id (exact or its beginning), filter by state,
// printer and creation date, and page through the history with a cursor (newest first).
import { useCallback, useEffect, useImperativeHandle, useRef, useState, type Ref } from 'react'
import OrderTable, { type ActionName } from './OrderTable'
import { STATUSES, type OrderPageView, type OrderSearch, type PrinterView } from '@/lib/types'

export interface SearchHandle {
  /** Reads the current page again (after a live event or an action). */
  reload(): void
  /** The order ids on the current page. */
  ids(): string[]
}

export default function Search({
  printers,
  selected,
  onSelect,
  onOpen,
  onAction,
  openId,
  ref,
}: {
  printers: PrinterView[]
  selected: Set<string>
  onSelect: (ids: string[], on: boolean) => void
  onOpen: (orderId: string) => void
  onAction: (action: ActionName, orderIds: string[]) => void
  openId?: string
  ref?: Ref<SearchHandle>
}) {
  const [form, setForm] = useState<OrderSearch>({})
  const [query, setQuery] = useState<OrderSearch | null>(null)
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined])
  const [page, setPage] = useState<OrderPageView | null>(null)
  const [error, setError] = useState('')
  const [busy, setBusy] = useState(false)
  const [shown, setShown] = useState('')
  const seq = useRef(0)

  const load = useCallback(async (q: OrderSearch, before: string | undefined) => {
    const n = ++seq.current
    setBusy(true)
    const params = new URLSearchParams()
    const all: OrderSearch = { ...q, before }
    for (const k of ['q', 'status', 'printerId', 'from', 'to', 'before'] as const) if (all[k]) params.set(k, all[k]!)
    const key = params.toString()
    params.set('limit', '50')
    try {
      const r = await fetch(`/api/monitor/orders?${params}`, { cache: 'no-store' })
      const body = await r.json()
      if (n !== seq.current) return
      if (r.ok) {
        setPage(body)
        setError('')
      } else setError(body.detail ?? body.message ?? `HTTP ${r.status}`)
      setShown(key)
    } catch (e) {
      if (n === seq.current) setError(String(e))
    } finally {
      if (n === seq.current) setBusy(false)
    }
  }, [])

  useImperativeHandle(ref, () => ({
    reload: () => query && load(query, cursors[cursors.length - 1]),
    ids: () => page?.items.map((o) => o.orderId) ?? [],
  }))

  // The newest orders of every state at first, so the list is never empty.
  useEffect(() => {
    setQuery({})
    load({}, undefined)
  }, [load])

  function submit(e: React.FormEvent) {
    e.preventDefault()
    setQuery(form)
    setCursors([undefined])
    load(form, undefined)
  }
  const set = (k: keyof OrderSearch) => (e: React.ChangeEvent<HTMLInputElement | HTMLSelectElement>) => setForm({ ...form, [k]: e.target.value })
  const pageNo = cursors.length

  return (
    <section aria-labelledby="search-title" className="card" data-testid="search">
      <h2 id="search-title">Find orders</h2>
      <form role="search" aria-label="Orders" onSubmit={submit} className="search-form">
        <label>
          Order id
          <input name="q" type="search" value={form.q ?? ''} onChange={set('q')} placeholder="e.g. WEB-1042 or WEB-10" autoComplete="off" />
        </label>
        <label>
          State
          <select name="status" value={form.status ?? ''} onChange={set('status')}>
            <option value="">Any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Printer
          <select name="printerId" value={form.printerId ?? ''} onChange={set('printerId')}>
            <option value="">Any</option>
            {printers.map((p) => (
              <option key={p.printerId} value={p.printerId}>
                {p.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Created from
          <input name="from" type="date" value={form.from ?? ''} onChange={set('from')} />
        </label>
        <label>
          to
          <input name="to" type="date" value={form.to ?? ''} onChange={set('to')} />
        </label>
        <button type="submit" className="primary">
          Search
        </button>
      </form>
      {error ? <p role="alert">The search failed: {error}</p> : null}
      <div aria-busy={busy} data-testid="search-results" data-query={shown}>
        {page ? (
          <>
            <p className="muted" role="status" data-testid="search-summary">
              {page.items.length === 0 ? 'No order matches.' : `Page ${pageNo}: ${page.items.length} order(s), newest first${page.next ? '' : ' (last page)'}.`}
            </p>
            {page.items.length ? <OrderTable orders={page.items} label="the search results" selected={selected} onSelect={onSelect} onOpen={onOpen} onAction={onAction} showStatus openId={openId} /> : null}
          </>
        ) : (
          <p className="muted">Loading…</p>
        )}
      </div>
      <nav aria-label="Pages of the results" className="pager">
        <button
          disabled={pageNo <= 1 || busy}
          onClick={() => {
            const c = cursors.slice(0, -1)
            setCursors(c)
            if (query) load(query, c[c.length - 1])
          }}
        >
          ← Newer
        </button>
        <button
          disabled={!page?.next || busy}
          onClick={() => {
            const c = [...cursors, page!.next!]
            setCursors(c)
            if (query) load(query, page!.next!)
          }}
        >
          Older →
        </button>
      </nav>
    </section>
  )
}
