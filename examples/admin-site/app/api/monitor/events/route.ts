// Live updates as server-sent events. Every open stream, of every tab and browser, is a subscriber of
// printcore's one shared feed in this server process (one change stream per collection, or one poll).
// When the feed breaks, the stream ends and the browser's EventSource reconnects, which subscribes anew.
// The events name what changed (an order or printer id), nothing more: the page re-reads the data.
// `feed-open` comes first, once the feed is open (also after a reconnection): the page re-reads then.
import { printcore } from '@/lib/printcore'
import { errorResponse } from '@/lib/errors'
import { sessionFrom } from '@/lib/auth'
import { NO_STORE, unauthorized } from '@/lib/http'
import { redactText } from '@/lib/browser-safe.mjs'
import type { NextRequest } from 'next/server'

export const runtime = 'nodejs'
export const dynamic = 'force-dynamic'

export async function GET(request: NextRequest) {
  if (!(await sessionFrom(request))) return unauthorized()
  let core
  try {
    core = await printcore()
  } catch (e) {
    return errorResponse(e)
  }
  const encoder = new TextEncoder()
  let ping: ReturnType<typeof setInterval> | undefined
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      let open = true
      const send = (text: string) => {
        if (!open) return
        try {
          controller.enqueue(encoder.encode(text))
        } catch {
          open = false // the client went away
        }
      }
      const end = () => {
        if (!open) return
        open = false
        clearInterval(ping)
        try {
          controller.close()
        } catch {}
      }
      send(': connected\n\n')
      const subscription = core.watch((event) => send(`data: ${JSON.stringify(event)}\n\n`), {
        signal: request.signal,
        // The feed opened: from now on every change is sent; the page reads its snapshot again and says
        // it is live (a change made between its last read and now was not sent).
        onOpen: () => send('event: feed-open\ndata: {}\n\n'),
        onError: (e) => send(`event: feed-error\ndata: ${JSON.stringify({ code: e.code, message: redactText(e.message) })}\n\n`),
        onEnd: end,
      })
      // A stream opened before sign-out ends with its session (checked at each ping): the browser's
      // reconnection is then refused like any request of that cookie.
      ping = setInterval(async () => {
        if (await sessionFrom(request)) send(': ping\n\n')
        else subscription.close()
      }, 15000)
    },
    cancel() {
      clearInterval(ping)
    },
  })
  return new Response(stream, {
    headers: { 'Content-Type': 'text/event-stream', 'Cache-Control': `${NO_STORE}, no-transform`, Connection: 'keep-alive' },
  })
}
