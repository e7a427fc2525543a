#!/usr/bin/env node
// `npx printcore <command>`: the operational scripts, run from the website's project.
//
//   npx printcore migrate [--dry-run]   indexes, printStatus backfill, spellings (MONGODB_URI, PRINTCORE_DB)
//   npx printcore create-roles          least-privilege MongoDB roles and users (ADMIN_URI, PRINTCORE_DB,
//                                       WORKER_PASSWORD, SITE_PASSWORD; needs the `mongodb` package)
//
// Settings come from the environment; when MONGODB_URI and ADMIN_URI are both unset, `.env.local` and
// `.env` of the current folder are read (as Next.js does). Exit codes: 0 done, 1 failed, 2 usage.
'use strict'
const fs = require('node:fs')
const path = require('node:path')

const USAGE = `usage: printcore <command> [options]

commands:
  migrate [--dry-run]   create printcore's indexes, set printStatus on existing orders, normalise
                        status spellings; --dry-run prints what it would change and writes nothing.
                        Safe to run again. Needs MONGODB_URI (and PRINTCORE_DB, default "printshop").
  create-roles          create or update the MongoDB roles printcoreWorker, printcoreSite and
                        printcoreMigrate (and users printcore-worker / printcore-site when
                        WORKER_PASSWORD / SITE_PASSWORD are set). Needs ADMIN_URI (a user that may
                        manage roles), PRINTCORE_DB, and the mongodb package (npm install mongodb).

options:
  --env-file <path>     read settings from this file first (default: .env.local and .env, when
                        neither MONGODB_URI nor ADMIN_URI is set)
  -h, --help            this text`

function loadEnv(args) {
  const i = args.indexOf('--env-file')
  if (i !== -1) {
    const file = args[i + 1]
    if (!file) fail('--env-file needs a path', 2)
    args.splice(i, 2)
    readEnvFile(file, true)
    return
  }
  if (process.env.MONGODB_URI || process.env.ADMIN_URI) return
  for (const name of ['.env.local', '.env']) readEnvFile(name, false)
}

function readEnvFile(file, required) {
  const full = path.resolve(file)
  if (!fs.existsSync(full)) {
    if (required) fail(`--env-file: ${full} does not exist`, 2)
    return
  }
  process.loadEnvFile(full) // does not override variables already set
  console.error(`printcore: read settings from ${path.relative(process.cwd(), full) || full}`)
}

function fail(message, code = 1) {
  console.error(`printcore: ${message}`)
  process.exit(code)
}

async function migrate(args) {
  const unknown = args.filter((a) => a !== '--dry-run')
  if (unknown.length) fail(`migrate: unknown option ${unknown[0]}\n\n${USAGE}`, 2)
  const { PrintCore, redactUri } = require('../lib/printcore.js')
  const uri = process.env.MONGODB_URI
  if (!uri) fail('migrate: set MONGODB_URI to the database connection string', 2)
  const dbName = process.env.PRINTCORE_DB || 'printshop'
  const dryRun = args.includes('--dry-run')
  console.log(`connecting to ${redactUri(uri)} (database ${dbName})...`)
  const core = await PrintCore.connect(uri, { dbName, appName: 'printcore-migrate', serverSelectionTimeoutMs: 15000 })
  console.log(dryRun
    ? 'dry run: reading what the migration would change (nothing is written)...'
    : 'creating indexes, normalising printStatus/paymentStatus spellings and adding printStatus to existing orders...')
  try {
    const r = await core.migrate({ dryRun })
    for (const line of r.summary) console.log(line)
    console.log(dryRun ? 'run it without --dry-run to apply these changes' : 'done; running it again changes nothing')
  } finally {
    await core.close()
  }
}

async function createRoles(args) {
  if (args.length) fail(`create-roles: unknown option ${args[0]}\n\n${USAGE}`, 2)
  await import(require('node:url').pathToFileURL(path.join(__dirname, '..', 'scripts', 'create-roles.mjs')).href)
}

async function main() {
  const args = process.argv.slice(2)
  const command = args.shift()
  if (!command || command === '-h' || command === '--help' || command === 'help') {
    console.log(USAGE)
    return
  }
  loadEnv(args)
  if (command === 'migrate') return migrate(args)
  if (command === 'create-roles') return createRoles(args)
  fail(`unknown command ${command}\n\n${USAGE}`, 2)
}

main().catch((e) => {
  console.error(`printcore failed [${e.code || 'ERROR'}]: ${e.message}`)
  process.exit(1)
})
