#!/usr/bin/env node
// npm run migrate-print-status: prepares the website's database for printcore. Creates every index, sets
// printStatus on existing orders (paid and not delivered -> pending, delivered -> printed) and prints what
// it changed. Safe to run again: a second run changes nothing.
//
// MONGODB_URI (required) and PRINTCORE_DB (default "printshop") say where.
'use strict'
// redactUri is printcore's own redaction (the worker's too): no password is printed, whatever it holds.
const { PrintCore, redactUri } = require('..')

async function main() {
  const uri = process.env.MONGODB_URI
  if (!uri) {
    console.error('migrate-print-status: set MONGODB_URI to the database connection string')
    process.exit(2)
  }
  const dbName = process.env.PRINTCORE_DB || 'printshop'
  console.log(`connecting to ${redactUri(uri)} (database ${dbName})...`)
  const core = await PrintCore.connect(uri, { dbName, appName: 'migrate-print-status' })
  console.log('creating indexes and adding printStatus to existing orders...')
  const r = await core.migrate()
  console.log(`indexes in place: ${r.indexes.length}`)
  for (const name of r.indexes) console.log(`  ${name}`)
  console.log(`orders set to pending (paid, not delivered): ${r.ordersMarkedPending}`)
  console.log(`orders set to printed (delivered): ${r.ordersMarkedPrinted}`)
  console.log('done; running it again changes nothing')
  core.close()
}

main().catch((e) => {
  console.error(`migrate-print-status failed [${e.code || 'ERROR'}]: ${e.message}`)
  process.exit(1)
})
