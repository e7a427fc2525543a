// printcore's connection for every request. PrintCore.connect shares one client per process (and one
// attempt among concurrent first calls), and never remembers a failed attempt: calling it per request
// is cheap, and a database that was down at the first request is used as soon as it answers.
import { PrintCore } from 'printcore'

export function printcore() {
  return PrintCore.connect(process.env.MONGODB_URI, {
    dbName: process.env.PRINTCORE_DB || 'printshop',
    appName: 'admin-site',
    serverSelectionTimeoutMs: 5000,
    timeoutMs: 10000,
  })
}
