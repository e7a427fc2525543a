// printcore's connection for every request. PrintCore.connect shares one client per process (and one
// attempt among concurrent first calls), and never remembers a failed attempt: calling it per request
// is cheap, and a database that was down at the first request is used as soon as it answers.
import { PrintCore } from 'printcore'

export function printcore(): Promise<PrintCore> {
  const uri = process.env.MONGODB_URI
  if (!uri) throw new Error('MONGODB_URI is not set')
  return PrintCore.connect(uri, {
    dbName: process.env.PRINTCORE_DB || 'printshop',
    appName: 'admin-site',
    serverSelectionTimeoutMs: 5000,
    // No request of this site waits more than 10 s for the database.
    timeoutMs: 10_000,
  })
}
