// Live updates as server-sent events: printcore's watch (change streams, or polling every 2.5 s).
import { printcore } from '../../../../lib/printcore'
import { sessionFrom } from '../../../../lib/session'

export const runtime = 'nodejs'
export const dynamic = 'force-dynamic'

export async function GET(request) {
  if (!(await sessionFrom(request))) return new Response('sign in first', { status: 401 })
  const core = await printcore()
  const encoder = new TextEncoder()
  let sub
  let ping
  const stream = new ReadableStream({
    start(controller) {
      const send = (text) => {
        try {
          controller.enqueue(encoder.encode(text))
        } catch {
          /* the client went away */
        }
      }
      send(': connected\n\n')
      sub = core.watch((event) => send(`data: ${JSON.stringify(event)}\n\n`))
      ping = setInterval(() => send(': ping\n\n'), 15000)
      request.signal.addEventListener('abort', () => {
        sub.close()
        clearInterval(ping)
        try {
          controller.close()
        } catch {}
      })
    },
    cancel() {
      sub?.close()
      clearInterval(ping)
    },
  })
  return new Response(stream, {
    headers: { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive' },
  })
}
