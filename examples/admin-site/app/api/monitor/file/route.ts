// An order's file for the print preview, fetched on the server through printcore with the worker's host
// allowlist (PRINTCORE_FILE_HOSTS): the browser only ever sees this route, never the customer's URL. A
// file that fails validation answers 422 with why (the preview shows it). Only a PDF is sent as a PDF;
// anything else is an attachment the browser will not render on this origin. By order id only: the
// browser never gets the file's URL (lib/browser-safe.mjs), and nothing of it is cached (Cache-Control).
import { printcore } from '@/lib/printcore'
import { errorResponse } from '@/lib/errors'
import { allowedHosts, orderFile } from '@/lib/files'
import { sessionFrom } from '@/lib/auth'
import { json, NO_STORE, unauthorized } from '@/lib/http'
import type { NextRequest } from 'next/server'

export const runtime = 'nodejs'
export const dynamic = 'force-dynamic'

export async function GET(request: NextRequest) {
  if (!(await sessionFrom(request))) return unauthorized()
  const p = request.nextUrl.searchParams
  const orderId = p.get('orderId') ?? ''
  const index = Math.max(0, Math.floor(Number(p.get('index')) || 0))
  if (!allowedHosts().length) {
    return json({ ok: false, code: 'FILE_REJECTED', status: 503, message: 'No preview: set PRINTCORE_FILE_HOSTS to the hosts order files come from (the worker’s allowed_hosts).' }, { status: 503 })
  }
  try {
    const file = await orderFile(await printcore(), orderId, index, request.signal)
    // printcore sniffs the bytes: application/pdf only for a PDF (the file server's own type is never used).
    const pdf = file.contentType === 'application/pdf'
    return new Response(new Uint8Array(file.bytes), {
      headers: {
        'Content-Type': pdf ? 'application/pdf' : 'application/octet-stream',
        'Content-Disposition': `${pdf ? 'inline' : 'attachment'}; filename="${orderId.replace(/[^\w.-]/g, '_')}-${file.index + 1}.${pdf ? 'pdf' : 'bin'}"`,
        'X-Content-Type-Options': 'nosniff',
        'Content-Security-Policy': 'sandbox',
        // Never kept: not in the tablet's browser cache once the admin signs out, not in a proxy.
        'Cache-Control': NO_STORE,
        'X-File-Index': String(file.index),
        'X-File-Count': String(file.count),
        'X-File-Sha256': file.sha256,
      },
    })
  } catch (e) {
    return errorResponse(e)
  }
}
