// Metrics into chart series on a regular time axis, an empty bucket as a gap. It takes the database's
// buckets (`metrics({ bucketMinutes })`: one entry per bucket, workerId '*') as they are, and also raw
// samples of several workers, combined the same way: in a bucket, each worker's samples averaged and the
// workers added up (prints and failures per hour, offline time), the start delay the workers' mean.
import type { Metrics } from 'printcore'
import type { MetricsSeries } from './types'

export function series(samples: Metrics[], since: Date, until: Date, bucketMinutes: number): MetricsSeries {
  const width = bucketMinutes * 60_000
  const first = Math.floor(since.getTime() / width) * width
  const n = Math.max(1, Math.ceil((until.getTime() - first) / width))
  const buckets = Array.from({ length: n }, () => new Map<string, Metrics[]>())
  for (const s of samples) {
    const i = Math.floor((new Date(s.timestamp).getTime() - first) / width)
    if (i < 0 || i >= n) continue
    const byWorker = buckets[i]
    byWorker.set(s.workerId, [...(byWorker.get(s.workerId) ?? []), s])
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
  const out: MetricsSeries = { bucketMinutes, t: [], printsPerHour: [], failuresPerHour: [], averagePrintStartDelay: [], offlineMinutes: [], samples: samples.reduce((a, m) => a + (m.samples ?? 1), 0) }
  buckets.forEach((byWorker, i) => {
    out.t.push((first + i * width) / 1000)
    const workers = [...byWorker.values()]
    if (!workers.length) {
      out.printsPerHour.push(null)
      out.failuresPerHour.push(null)
      out.averagePrintStartDelay.push(null)
      out.offlineMinutes.push(null)
      return
    }
    const sum = (f: (m: Metrics) => number) => workers.reduce((a, ms) => a + mean(ms.map(f)), 0)
    out.printsPerHour.push(sum((m) => m.printsPerHour))
    out.failuresPerHour.push(sum((m) => m.failuresPerHour))
    out.averagePrintStartDelay.push(mean(workers.map((ms) => mean(ms.map((m) => m.averagePrintStartDelay)))))
    out.offlineMinutes.push(workers.reduce((a, ms) => a + ms.reduce((b, m) => b + m.printerOfflineDuration, 0), 0) / 60)
  })
  return out
}

