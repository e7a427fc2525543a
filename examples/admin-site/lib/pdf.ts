// The print preview's PDF reading: pdf.js (pdfjs-dist) parses in its web worker, the page draws on a
// canvas. Files come from this site's /api/monitor/file route only (printcore fetches them on the server
// with the worker's host allowlist). Each file is fetched and parsed once per page view and shared by the
// thumbnail and the larger views; at most three are fetched at a time.
import type { PDFDocumentProxy } from 'pdfjs-dist'

type PdfJs = typeof import('pdfjs-dist')
let lib: Promise<PdfJs> | null = null

function pdfjs(): Promise<PdfJs> {
  lib ??= import('pdfjs-dist').then((m) => {
    m.GlobalWorkerOptions.workerPort = new Worker(new URL('pdfjs-dist/build/pdf.worker.min.mjs', import.meta.url), { type: 'module' })
    return m
  })
  return lib
}

export type Loaded = { ok: true; doc: PDFDocumentProxy; count: number; sha256: string } | { ok: false; message: string; code?: string }

const cache = new Map<string, Promise<Loaded>>()
const CACHE_SIZE = 120
let running = 0
const waiting: (() => void)[] = []

async function slot<T>(f: () => Promise<T>): Promise<T> {
  if (running >= 3) await new Promise<void>((r) => waiting.push(r))
  running++
  try {
    return await f()
  } finally {
    running--
    waiting.shift()?.()
  }
}

async function load(orderId: string, index: number): Promise<Loaded> {
  const r = await slot(() => fetch(`/api/monitor/file?orderId=${encodeURIComponent(orderId)}&index=${index}`))
  if (!r.ok) {
    const body = await r.json().catch(() => ({}))
    return { ok: false, code: body.code, message: body.detail || body.message || `HTTP ${r.status}` }
  }
  if (!(r.headers.get('content-type') ?? '').startsWith('application/pdf')) return { ok: false, message: 'The file is not a PDF: no preview.' }
  const data = new Uint8Array(await r.arrayBuffer())
  try {
    const doc = await (await pdfjs()).getDocument({ data, isEvalSupported: false, enableXfa: false }).promise
    return { ok: true, doc, count: Number(r.headers.get('x-file-count')) || 1, sha256: r.headers.get('x-file-sha256') ?? '' }
  } catch (e) {
    return { ok: false, message: `pdf.js cannot read the file: ${(e as Error).message}` }
  }
}

/** The order's file number `index`, parsed; `version` (e.g. the print job id) refetches a changed order. */
export function loadPdf(orderId: string, index = 0, version = ''): Promise<Loaded> {
  const key = `${orderId}\u0000${index}\u0000${version}`
  let p = cache.get(key)
  if (!p) {
    p = load(orderId, index)
    cache.set(key, p)
    if (cache.size > CACHE_SIZE) {
      const [oldest, old] = cache.entries().next().value!
      cache.delete(oldest)
      old
        .then((l) => {
          if (l.ok) void l.doc.destroy()
        })
        .catch(() => {})
    }
  }
  return p
}

/** Draws page `n` (1-based) to fit `cssWidth` pixels wide; returns its size in millimetres. */
export async function drawPage(doc: PDFDocumentProxy, n: number, canvas: HTMLCanvasElement, cssWidth: number): Promise<{ widthMm: number; heightMm: number }> {
  const page = await doc.getPage(n)
  const base = page.getViewport({ scale: 1 })
  const ratio = typeof window === 'undefined' ? 1 : Math.min(2, window.devicePixelRatio || 1)
  const viewport = page.getViewport({ scale: (cssWidth / base.width) * ratio })
  canvas.width = Math.round(viewport.width)
  canvas.height = Math.round(viewport.height)
  canvas.style.width = `${cssWidth}px`
  canvas.style.height = `${Math.round(viewport.height / ratio)}px`
  await page.render({ canvas, viewport }).promise
  return { widthMm: (base.width * 25.4) / 72, heightMm: (base.height * 25.4) / 72 }
}

const SIZES: [string, number, number][] = [
  ['A3', 297, 420],
  ['A4', 210, 297],
  ['A5', 148, 210],
  ['Letter', 215.9, 279.4],
  ['Legal', 215.9, 355.6],
  ['Tabloid', 279.4, 431.8],
]

/** A paper size's name (A4, Letter...) with its orientation, or its size in mm. */
export function paperName(widthMm: number, heightMm: number): string {
  const [w, h] = widthMm <= heightMm ? [widthMm, heightMm] : [heightMm, widthMm]
  const named = SIZES.find(([, sw, sh]) => Math.abs(sw - w) < 3 && Math.abs(sh - h) < 3)
  const orientation = widthMm > heightMm ? ' landscape' : ''
  return named ? `${named[0]}${orientation}` : `${Math.round(widthMm)} × ${Math.round(heightMm)} mm`
}
