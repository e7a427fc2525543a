'use client'
// The print preview: a first-page thumbnail per order (drawn when its row scrolls into view) and, in the
// order's panel, the first page larger with every page on demand. Page count and paper size come from the
// file itself; a file that failed validation says why. The order's fileURL here is only scheme, host and
// path (lib/browser-safe.mjs): the file comes from /api/monitor/file by order id, never from its URL.
import { useEffect, useRef, useState } from 'react'
import { drawPage, loadPdf, paperName, type Loaded } from '@/lib/pdf'
import type { OrderView } from '@/lib/types'

function useLoaded(orderId: string, index: number, version: string, enabled: boolean): Loaded | null {
  const [loaded, setLoaded] = useState<Loaded | null>(null)
  useEffect(() => {
    if (!enabled) return
    let live = true
    setLoaded(null)
    loadPdf(orderId, index, version).then((l) => live && setLoaded(l))
    return () => {
      live = false
    }
  }, [orderId, index, version, enabled])
  return loaded
}

function useVisible<T extends Element>(): [React.RefObject<T | null>, boolean] {
  const ref = useRef<T>(null)
  const [visible, setVisible] = useState(false)
  useEffect(() => {
    const el = ref.current
    if (!el || visible) return
    if (typeof IntersectionObserver === 'undefined') return setVisible(true)
    const io = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && setVisible(true), { rootMargin: '200px' })
    io.observe(el)
    return () => io.disconnect()
  }, [visible])
  return [ref, visible]
}

/** The order's own reason its file cannot be printed, if any (the worker's validation or a bad field). */
export function fileProblem(order: OrderView): string | undefined {
  const fileProblems = order.problems.filter((p) => /^file/i.test(p))
  if (fileProblems.length) return fileProblems.join('; ')
  if (order.printStatus === 'failed' && order.printError && /file|pdf|page|download|host|size/i.test(order.printError)) return order.printError
  return undefined
}

function Page({ loaded, n, width, label, testId, onSize }: { loaded: Loaded & { ok: true }; n: number; width: number; label: string; testId?: string; onSize?: (s: string) => void }) {
  const canvas = useRef<HTMLCanvasElement>(null)
  const [done, setDone] = useState(false)
  useEffect(() => {
    let live = true
    if (!canvas.current) return
    setDone(false)
    drawPage(loaded.doc, n, canvas.current, width)
      .then((s) => {
        if (!live) return
        setDone(true)
        onSize?.(paperName(s.widthMm, s.heightMm))
      })
      .catch(() => {})
    return () => {
      live = false
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [loaded, n, width])
  return <canvas ref={canvas} role="img" aria-label={label} data-testid={testId} data-rendered={done ? 'true' : 'false'} className="page-canvas" style={{ width }} />
}

/** The first page, small, for a row of the order lists. */
export function Thumbnail({ order }: { order: OrderView }) {
  const [ref, visible] = useVisible<HTMLDivElement>()
  const hasFile = Boolean(order.fileURL || order.fileURLs?.length)
  const loaded = useLoaded(order.orderId, 0, order.fileSha256 ?? '', visible && hasFile)
  const [size, setSize] = useState('')
  if (!hasFile) return <div className="thumb thumb-empty">no file</div>
  return (
    <div ref={ref} className="thumb" data-testid={`thumb-${order.orderId}`}>
      {loaded === null ? <span className="muted">…</span> : null}
      {loaded && !loaded.ok ? (
        <span className="thumb-error" title={loaded.message}>
          ⚠ no preview
        </span>
      ) : null}
      {loaded?.ok ? (
        <>
          <Page loaded={loaded} n={1} width={56} label={`First page of order ${order.orderId}`} onSize={setSize} />
          <span className="thumb-meta">
            {loaded.doc.numPages} p.{size ? ` · ${size}` : ''}
          </span>
        </>
      ) : null}
    </div>
  )
}

/** The order's files: the first page large, page count, paper size, printing options; every page on demand. */
export function FilePreview({ order }: { order: OrderView }) {
  const count = Math.max(1, order.fileURLs?.length ?? 0)
  const [index, setIndex] = useState(0)
  const [all, setAll] = useState(false)
  const [size, setSize] = useState('')
  const hasFile = Boolean(order.fileURL || order.fileURLs?.length)
  const loaded = useLoaded(order.orderId, index, order.fileSha256 ?? '', hasFile)
  const problem = fileProblem(order)
  const o = order.printingOptions ?? {}
  useEffect(() => setAll(false), [order.orderId, index])
  return (
    <section aria-labelledby="preview-title" className="panel-section" data-testid="preview">
      <h3 id="preview-title">Print preview</h3>
      <dl className="facts">
        <dt>Paper asked</dt>
        <dd>{o.pageSize ?? 'printer default'}</dd>
        <dt>Colour</dt>
        <dd>{o.color === undefined ? 'default' : o.color ? 'colour' : 'black and white'}</dd>
        <dt>Sides</dt>
        <dd>{o.duplex ? 'both sides' : 'one side'}</dd>
        <dt>Copies</dt>
        <dd>{o.copies ?? 1}</dd>
        <dt>Pages</dt>
        <dd data-testid="page-count">{loaded?.ok ? loaded.doc.numPages : (order.filePages ?? '–')}</dd>
        <dt>Paper of the file</dt>
        <dd data-testid="paper-size">{size || '–'}</dd>
      </dl>
      {problem ? (
        <p className="problem" role="alert" data-testid="file-problem">
          ⚠ The file failed validation: {problem}
        </p>
      ) : null}
      {count > 1 ? (
        <div role="group" aria-label="Files of this order" className="file-tabs">
          {Array.from({ length: count }, (_, i) => (
            <button key={i} aria-pressed={i === index} onClick={() => setIndex(i)}>
              File {i + 1}
            </button>
          ))}
        </div>
      ) : null}
      {!hasFile ? <p>This order has no file.</p> : null}
      {hasFile && loaded === null ? <p aria-live="polite">Loading the file…</p> : null}
      {loaded && !loaded.ok ? (
        <p className="problem" role="alert" data-testid="preview-error">
          ⚠ No preview: {loaded.message}
        </p>
      ) : null}
      {loaded?.ok ? (
        <>
          {size && o.pageSize && !size.toLowerCase().startsWith(o.pageSize.toLowerCase()) ? (
            <p className="warning">⚠ The file is {size}; the customer asked for {o.pageSize}.</p>
          ) : null}
          <div className="pages">
            <figure>
              <Page loaded={loaded} n={1} width={280} label={`Page 1 of order ${order.orderId}`} testId="preview-canvas" onSize={setSize} />
              <figcaption>Page 1 of {loaded.doc.numPages}</figcaption>
            </figure>
            {all
              ? Array.from({ length: loaded.doc.numPages - 1 }, (_, i) => (
                  <figure key={i + 2}>
                    <Page loaded={loaded} n={i + 2} width={280} label={`Page ${i + 2} of order ${order.orderId}`} />
                    <figcaption>
                      Page {i + 2} of {loaded.doc.numPages}
                    </figcaption>
                  </figure>
                ))
              : null}
          </div>
          {loaded.doc.numPages > 1 && !all ? <button onClick={() => setAll(true)}>Show all {loaded.doc.numPages} pages</button> : null}
        </>
      ) : null}
    </section>
  )
}
