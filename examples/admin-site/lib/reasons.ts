// What a printer's state reasons (IPP printer-state-reasons or the Windows spooler's status names, as the
// worker reads them) mean for the person at the counter. An unknown reason is shown as the printer says it.
const REASONS: Record<string, string> = {
  'media-empty': 'out of paper',
  'media-needed': 'needs paper loaded',
  'media-low': 'paper running low',
  'media-jam': 'paper jam',
  'toner-empty': 'out of toner',
  'toner-low': 'toner low',
  'marker-supply-empty': 'out of ink or toner',
  'marker-supply-low': 'ink or toner low',
  'door-open': 'a door or cover is open',
  'cover-open': 'a cover is open',
  'input-tray-missing': 'a paper tray is missing',
  'output-area-full': 'the output tray is full',
  'paused': 'paused at the printer',
  'offline-report': 'reports itself offline',
  'connecting-to-device': 'connecting',
  'shutdown': 'shut down',
  'timed-out': 'did not answer',
  'spool-area-full': 'its spool is full',
  'stopped-partly': 'partly stopped',
  'moving-to-paused': 'pausing',
  // The Windows spooler's status names.
  PaperOut: 'out of paper',
  PaperJam: 'paper jam',
  PaperProblem: 'a paper problem',
  ManualFeed: 'waiting for manual feed',
  TonerLow: 'toner low',
  NoToner: 'out of toner',
  DoorOpen: 'a door or cover is open',
  OutputBinFull: 'the output tray is full',
  UserIntervention: 'needs someone at the printer',
  Offline: 'offline',
  Paused: 'paused',
  Error: 'in error',
  NotAvailable: 'not available',
  OutOfMemory: 'out of memory',
}

/** `media-empty-error` → `media-empty`: IPP adds a severity suffix. */
export function baseReason(reason: string): string {
  return reason.replace(/-(error|warning|report)$/, '')
}

export function explainReason(reason: string): string {
  return REASONS[baseReason(reason)] ?? REASONS[reason] ?? reason
}

/** Reasons worth showing (`none` is IPP's "all is well"). */
export function shownReasons(reasons: string[] | undefined): string[] {
  return (reasons ?? []).filter((r) => r && r !== 'none')
}

/**
 * The printer's error message, unless it only repeats its state reasons (the health check stores
 * `media-empty` as both): shown once, with its explanation, the reason says it all.
 */
export function messageBeyondReasons(message: string | undefined, reasons: string[] | undefined): string | undefined {
  if (!message) return undefined
  const known = new Set(shownReasons(reasons).map(baseReason))
  const words = message.split(/[\s,;]+/).filter(Boolean)
  return words.length > 0 && words.every((w) => known.has(baseReason(w))) ? undefined : message
}

export function since(date: string | undefined): string {
  if (!date) return '–'
  const s = Math.max(0, Math.round((Date.now() - new Date(date).getTime()) / 1000))
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min`
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`
}

export function clock(date: string | undefined): string {
  if (!date) return '–'
  const d = new Date(date)
  const today = new Date().toDateString() === d.toDateString()
  return today ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : d.toLocaleString([], { dateStyle: 'short', timeStyle: 'short' })
}
