'use client'
// Metrics as small time series (uPlot): prints and failures per hour, the mean start delay and the printers'
// offline time, over the last 24 h or 7 days. Each chart has a caption with its latest and highest value,
// so it reads without seeing the plot.
import { useEffect, useRef, useState } from 'react'
import type uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import type { MetricsSeries } from '@/lib/types'

type Key = 'printsPerHour' | 'failuresPerHour' | 'averagePrintStartDelay' | 'offlineMinutes'
const CHARTS: { key: Key; title: string; unit: string; color: string }[] = [
  { key: 'printsPerHour', title: 'Prints per hour', unit: '/h', color: '#1b6ac9' },
  { key: 'failuresPerHour', title: 'Failures per hour', unit: '/h', color: '#b3261e' },
  { key: 'averagePrintStartDelay', title: 'Average start delay', unit: ' s', color: '#7a4fb0' },
  { key: 'offlineMinutes', title: 'Printer offline time', unit: ' min', color: '#5f6b7a' },
]

const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1))

function Chart({ data, k, title, unit, color }: { data: MetricsSeries; k: Key; title: string; unit: string; color: string }) {
  const box = useRef<HTMLDivElement>(null)
  const plot = useRef<uPlot | null>(null)
  const values = data[k]
  const present = values.filter((v): v is number => v !== null)
  const latest = [...values].reverse().find((v) => v !== null)
  const peak = present.length ? Math.max(...present) : undefined

  useEffect(() => {
    let gone = false
    let resize: ResizeObserver | undefined
    import('uplot').then(({ default: UPlot }) => {
      if (gone || !box.current) return
      plot.current?.destroy()
      const width = Math.max(200, box.current.clientWidth)
      plot.current = new UPlot(
        {
          width,
          height: 140,
          legend: { show: false },
          cursor: { drag: { x: false, y: false } },
          scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
          axes: [{ size: 30, font: '11px system-ui' }, { size: 40, font: '11px system-ui' }],
          series: [{}, { label: title, stroke: color, width: 2, fill: `${color}22`, spanGaps: false, points: { show: present.length < 3 } }],
        },
        [data.t, values as number[]],
        box.current,
      )
      resize = new ResizeObserver(() => box.current && plot.current?.setSize({ width: Math.max(200, box.current.clientWidth), height: 140 }))
      resize.observe(box.current)
    })
    return () => {
      gone = true
      resize?.disconnect()
      plot.current?.destroy()
      plot.current = null
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [data, k])

  return (
    <figure className="chart" data-testid={`chart-${k}`} data-points={present.length}>
      <figcaption>
        <strong>{title}</strong>{' '}
        <span data-testid={`chart-${k}-summary`}>
          {latest === undefined ? 'no samples yet' : `latest ${fmt(latest)}${unit} · peak ${fmt(peak!)}${unit} · ${present.length} points`}
        </span>
      </figcaption>
      <div ref={box} className="chart-plot" role="img" aria-label={`${title} over time${latest === undefined ? ': no samples yet' : `, latest ${fmt(latest)}${unit}`}`} />
    </figure>
  )
}

export default function Charts({ refreshKey }: { refreshKey: number }) {
  const [range, setRange] = useState<'24h' | '7d'>('24h')
  const [data, setData] = useState<MetricsSeries | null>(null)
  const [error, setError] = useState('')
  useEffect(() => {
    let live = true
    fetch(`/api/monitor/metrics?range=${range}`, { cache: 'no-store' })
      .then(async (r) => {
        const body = await r.json()
        if (!live) return
        if (r.ok) {
          setData(body)
          setError('')
        } else setError(body.message ?? `HTTP ${r.status}`)
      })
      .catch((e) => live && setError(String(e)))
    return () => {
      live = false
    }
  }, [range, refreshKey])
  return (
    <section aria-labelledby="charts-title" className="card" data-testid="charts">
      <div className="card-head">
        <h2 id="charts-title">Metrics</h2>
        <div role="group" aria-label="Time range" className="segmented">
          {(['24h', '7d'] as const).map((r) => (
            <button key={r} aria-pressed={range === r} onClick={() => setRange(r)}>
              {r === '24h' ? 'Last 24 h' : 'Last 7 days'}
            </button>
          ))}
        </div>
      </div>
      {error ? <p role="alert">The metrics could not be read: {error}</p> : null}
      {data ? (
        <>
          {data.samples === 0 ? <p className="muted">No worker has recorded metrics in this period yet: the counters above are live from the queue.</p> : null}
          <div className="charts">
            {CHARTS.map((c) => (
              <Chart key={c.key} data={data} k={c.key} title={c.title} unit={c.unit} color={c.color} />
            ))}
          </div>
        </>
      ) : (
        <p className="muted">Loading metrics…</p>
      )}
    </section>
  )
}
