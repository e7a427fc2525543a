import { redirect } from 'next/navigation'
import { currentAdmin } from '@/lib/auth'
import Monitor from './monitor'

export const dynamic = 'force-dynamic'

export default async function Page() {
  // The session as the server holds it (the middleware only checked the cookie's signature): a cookie of
  // a signed-out session gets the login page, not the monitor.
  if (!(await currentAdmin())) redirect('/login?next=/admin/printer-monitor')
  return <Monitor />
}
