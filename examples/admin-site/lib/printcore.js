// One printcore connection per server process, shared by every request.
import { PrintCore } from 'printcore'

export function printcore() {
  globalThis.__printcore ??= PrintCore.connect(process.env.MONGODB_URI, {
    dbName: process.env.PRINTCORE_DB || 'printshop',
    appName: 'admin-site',
  })
  return globalThis.__printcore
}
