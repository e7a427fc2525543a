// One live stream for all of a browser's tabs: the tab that holds the Web Lock "printcore-monitor" opens
// the EventSource and relays each event to the other tabs over a BroadcastChannel; when it closes, the
// lock passes to another tab, which opens the stream. On the server, every stream of every browser is one
// subscriber of printcore's shared feed (one change stream per collection per server process).
const CHANNEL = 'printcore-monitor'

/** A live event as the stream sends it (printcore's MonitorEvent). */
export interface LiveEvent {
  kind: 'order' | 'printer' | string
  id: string
  change?: string
}

type Message = { type: 'event'; event?: LiveEvent } | { type: 'status'; live: boolean } | { type: 'ask' }

/** Calls `onEvent` for each live event (what changed: an order or a printer, by id; none: read everything again) and `onStatus` when the server's feed opens or the stream drops; returns a stop function. */
export function subscribeLive(onEvent: (event?: LiveEvent) => void, onStatus: (live: boolean) => void): () => void {
  const channel = new BroadcastChannel(CHANNEL)
  const stop = new AbortController()
  let leaderStatus: boolean | null = null
  let source: EventSource | null = null

  channel.onmessage = ({ data }: MessageEvent<Message>) => {
    if (data.type === 'event') onEvent(data.event)
    else if (data.type === 'status') onStatus(data.live)
    else if (data.type === 'ask' && leaderStatus !== null) channel.postMessage({ type: 'status', live: leaderStatus } satisfies Message)
  }

  const lead = () =>
    new Promise<void>((release) => {
      if (stop.signal.aborted) return release()
      const status = (live: boolean) => {
        leaderStatus = live
        onStatus(live)
        channel.postMessage({ type: 'status', live } satisfies Message)
      }
      source = new EventSource('/api/monitor/events')
      // Live once the server's feed is open (not when the connection is): every change from then on comes
      // as an event, and what changed before it (while connecting, or while the stream was down) is read
      // now, in every tab.
      source.addEventListener('feed-open', () => {
        status(true)
        onEvent(undefined)
        channel.postMessage({ type: 'event' } satisfies Message)
      })
      source.onerror = () => status(false)
      source.onmessage = (m: MessageEvent<string>) => {
        let event: LiveEvent | undefined
        try {
          event = JSON.parse(m.data)
        } catch {}
        onEvent(event)
        channel.postMessage({ type: 'event', event } satisfies Message)
      }
      stop.signal.addEventListener('abort', () => {
        source?.close()
        release()
      })
    })

  if (typeof navigator !== 'undefined' && navigator.locks) {
    navigator.locks.request(CHANNEL, { signal: stop.signal }, lead).catch(() => {})
    channel.postMessage({ type: 'ask' } satisfies Message) // a tab that leads already says how it is
  } else {
    void lead() // no Web Locks: this tab has its own stream
  }
  return () => {
    stop.abort()
    channel.close()
  }
}
