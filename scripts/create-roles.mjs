#!/usr/bin/env node
// Creates least-privilege MongoDB roles (and, optionally, users) for printcore. Run it once per database
// as a user that may manage roles (e.g. the cluster's admin):
//
//   ADMIN_URI="mongodb://admin:...@db.shop.example/?authSource=admin" PRINTCORE_DB=printshop \
//   WORKER_PASSWORD=... SITE_PASSWORD=... WORKER_CLIENT_SOURCE=203.0.113.7/32 npx printcore create-roles
//
// Roles (in the admin database, privileges on PRINTCORE_DB only), each action one the code issues
// (docs/security-credentials.md lists which call needs which, and what a stolen password can still do):
//   printcoreWorker  the print PC: orders find/update (claims, fenced writes, recovery, outbox pulls) and
//                    change streams (wake-ups); printers find/insert/update (the health pass's upsert)
//                    and change streams (an admin's isActive/autoPrintEnabled reaches the claim at once);
//                    print_logs find (the metrics count prints and failures) and insert (audit entries);
//                    metrics insert only (it never reads a sample); alerts find/insert/update (the
//                    [alerts] episodes, used only when [alerts] is on). No delete, no drop, no index, no
//                    other collection.
//   printcoreSite    the website: orders find/update (markPaid, admin actions) and change streams;
//                    printers find and change streams (the monitor watches orders and printers, one
//                    change stream each); print_logs find/insert; metrics find. Nothing else of the
//                    shop's database, not even reading its other collections (users, payments...).
//                    Creating orders stays with the site's own user/role.
//   printcoreMigrate npm run migrate-print-status / worker migrate: reads and updates the four collections,
//                    registers printers, lists and creates indexes (alerts' too), drops the old printJobId
//                    index.
// Users (in the admin database), each only when its password or an address restriction is given:
//   printcore-worker (printcoreWorker) WORKER_PASSWORD, WORKER_CLIENT_SOURCE, WORKER_SERVER_ADDRESS
//   printcore-site   (printcoreSite)   SITE_PASSWORD,   SITE_CLIENT_SOURCE,   SITE_SERVER_ADDRESS
//   printcore-migrate (printcoreMigrate) MIGRATE_PASSWORD, MIGRATE_CLIENT_SOURCE, MIGRATE_SERVER_ADDRESS
// *_CLIENT_SOURCE: the addresses (IP or CIDR, comma-separated) the user may log in from, as the database
// server sees them (the print PC's public address behind NAT); *_SERVER_ADDRESS: the server addresses it
// must connect to. Sent as the user's authenticationRestrictions: a stolen password then works only from
// there. A run that sets either variable of a user replaces its restriction with what the two say now;
// `any` lifts that part. Unset: the restriction stays as it is. MongoDB Atlas refuses createRole and
// createUser (create the same roles and users in Atlas) and has no per-user address restriction: use the
// project's IP access list (docs/security-credentials.md).
// Safe to run again: existing roles and users are updated. Exit codes: 0 done, 1 failed (or an address
// restriction the server did not keep), 2 usage.
import { createRequire } from 'node:module'
import net from 'node:net'
const require = createRequire(import.meta.url)
// The MongoDB driver is an optional peer dependency of printcore: only this script needs it.
let MongoClient
try {
  ;({ MongoClient } = require('mongodb'))
} catch {
  console.error('create-roles: needs the mongodb package in your project: npm install mongodb')
  process.exit(2)
}
// printcore's own redaction (the worker's too): no password is printed, whatever characters it holds.
const { connectionStringProblem, redactUri } = require('../lib/printcore.js')

const uri = process.env.ADMIN_URI
const db = process.env.PRINTCORE_DB || 'printshop'
if (!uri) {
  console.error('create-roles: set ADMIN_URI to a connection string of a user that may manage roles')
  process.exit(2)
}
// A password with an unencoded '@', '/', '?' or '#' would be misread by the driver, which then sends part
// of it to DNS and prints it in its error: refuse it before connecting.
const problem = connectionStringProblem(uri)
if (problem) {
  console.error(`create-roles: ADMIN_URI: ${problem}`)
  process.exit(2)
}

/** Why `entry` is not an IP address or CIDR range MongoDB takes, or null. */
function addressProblem(entry) {
  const [ip, prefix, ...rest] = entry.split('/')
  const version = net.isIP(ip)
  if (!version || rest.length) return 'not an IP address or CIDR range (203.0.113.7, 10.0.0.0/24, 2001:db8::/32)'
  if (prefix === undefined) return null
  const max = version === 4 ? 32 : 128
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= max ? null : `a CIDR range whose prefix length is not 0 to ${max}`
}

/** The address list in `name`: undefined when unset, [] for `any`, else the checked entries. */
function addresses(name) {
  const value = process.env[name]
  if (value === undefined || value.trim() === '') return undefined
  if (value.trim().toLowerCase() === 'any') return []
  const entries = value.split(',').map((s) => s.trim()).filter(Boolean)
  for (const entry of entries) {
    const why = addressProblem(entry)
    if (why) {
      console.error(`create-roles: ${name}: ${JSON.stringify(entry)} is ${why}`)
      process.exit(2)
    }
  }
  return entries
}

/** The user's authenticationRestrictions from PREFIX_CLIENT_SOURCE / PREFIX_SERVER_ADDRESS, or undefined
 * when neither is set (leave the stored one alone). */
function restrictionsOf(prefix) {
  const clientSource = addresses(`${prefix}_CLIENT_SOURCE`)
  const serverAddress = addresses(`${prefix}_SERVER_ADDRESS`)
  if (clientSource === undefined && serverAddress === undefined) return undefined
  const r = {}
  if (clientSource?.length) r.clientSource = clientSource
  if (serverAddress?.length) r.serverAddress = serverAddress
  return Object.keys(r).length ? [r] : []
}

/** What a user's restriction allows, for the output. */
function describe(r) {
  if (r.length === 0) return 'may log in from any address'
  const parts = []
  if (r[0].clientSource) parts.push(`from ${r[0].clientSource.join(', ')}`)
  if (r[0].serverAddress) parts.push(`through the server address ${r[0].serverAddress.join(', ')}`)
  return `may log in only ${parts.join(' and ')}`
}

const on = (collection, actions) => ({ resource: { db, collection }, actions })
export const roles = {
  printcoreWorker: [
    on('orders', ['find', 'update', 'changeStream']),
    on('printers', ['find', 'insert', 'update', 'changeStream']),
    on('print_logs', ['find', 'insert']),
    on('metrics', ['insert']),
    on('alerts', ['find', 'insert', 'update']),
  ],
  printcoreSite: [
    on('orders', ['find', 'update', 'changeStream']),
    on('printers', ['find', 'changeStream']),
    on('print_logs', ['find', 'insert']),
    on('metrics', ['find']),
  ],
  printcoreMigrate: [
    on('orders', ['find', 'update', 'listIndexes', 'createIndex', 'dropIndex']),
    on('printers', ['find', 'insert', 'update', 'listIndexes', 'createIndex']),
    on('print_logs', ['find', 'insert', 'listIndexes', 'createIndex']),
    on('metrics', ['find', 'insert', 'listIndexes', 'createIndex']),
    on('alerts', ['listIndexes', 'createIndex']),
  ],
}

const users = [
  ['printcore-worker', 'printcoreWorker', process.env.WORKER_PASSWORD, restrictionsOf('WORKER')],
  ['printcore-site', 'printcoreSite', process.env.SITE_PASSWORD, restrictionsOf('SITE')],
  ['printcore-migrate', 'printcoreMigrate', process.env.MIGRATE_PASSWORD, restrictionsOf('MIGRATE')],
]

let client
try {
  client = new MongoClient(uri)
  const admin = client.db('admin')
  for (const [role, privileges] of Object.entries(roles)) {
    const exists = (await admin.command({ rolesInfo: role })).roles?.length > 0
    await admin.command(exists ? { updateRole: role, privileges, roles: [] } : { createRole: role, privileges, roles: [] })
    console.log(`${exists ? 'updated' : 'created'} role ${role} on database ${db}`)
  }
  for (const [user, role, pwd, restrictions] of users) {
    if (!pwd && restrictions === undefined) continue
    const exists = (await admin.command({ usersInfo: user })).users?.length > 0
    if (!exists && !pwd) {
      const prefix = user.split('-')[1].toUpperCase()
      console.error(`create-roles: user ${user} does not exist: set ${prefix}_PASSWORD to create it`)
      process.exitCode = 1
      continue
    }
    const command = { [exists ? 'updateUser' : 'createUser']: user, roles: [{ role, db: 'admin' }] }
    if (pwd) command.pwd = pwd
    if (restrictions !== undefined) command.authenticationRestrictions = restrictions
    await admin.command(command)
    console.log(`${exists ? 'updated' : 'created'} user ${user} with role ${role}`)
    if (restrictions === undefined) continue
    // Read it back: a server without authenticationRestrictions (or one that drops them) must not leave
    // the shop believing the password works only from the print PC.
    const stored = (await admin.command({ usersInfo: user, showAuthenticationRestrictions: true })).users?.[0]
    const kept = (stored?.authenticationRestrictions ?? []).flat()
    if (kept.length === restrictions.length) {
      console.log(`user ${user} ${describe(restrictions)}`)
    } else {
      console.error(
        `create-roles: the server did not keep the address restriction of ${user} (it does not support ` +
          `authenticationRestrictions): the user may log in from any address that reaches the server; restrict ` +
          `by network instead (a firewall, or Atlas's IP access list)`,
      )
      process.exitCode = 1
    }
  }
} catch (e) {
  // Some servers quote the command in their error, password included: none of them is printed.
  let message = String(e.message).split(uri).join(redactUri(uri))
  for (const [, , pwd] of users) if (pwd) message = message.split(pwd).join('****')
  console.error(`create-roles failed on ${redactUri(uri)}: ${message}`)
  process.exitCode = 1
} finally {
  await client?.close()
}
