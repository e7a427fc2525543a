#!/usr/bin/env node
// npm run migrate-print-status: prepares the website's database for printcore. Creates every index, sets
// printStatus on existing orders (paid and not delivered -> pending, delivered -> printed) and prints what
// it changed. Safe to run again: a second run changes nothing. `--dry-run` prints what it would change and
// writes nothing.
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
  const dryRun = process.argv.includes('--dry-run')
  console.log(dryRun
    ? 'dry run: reading what the migration would change (nothing is written)...'
    : 'creating indexes, normalising printStatus/paymentStatus spellings and adding printStatus to existing orders...')
  const r = await core.migrate({ dryRun })
  for (const line of r.summary) console.log(line)
  console.log(dryRun ? 'run it without --dry-run to apply these changes' : 'done; running it again changes nothing')
  core.close()
}

main().catch((e) => {
  console.error(`migrate-print-status failed [${e.code || 'ERROR'}]: ${e.message}`)
  process.exit(1)
})
