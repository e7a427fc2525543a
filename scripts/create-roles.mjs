#!/usr/bin/env node
// Creates least-privilege MongoDB roles (and, optionally, users) for printcore. Run it once per database
// as a user that may manage roles (e.g. the cluster's admin):
//
//   ADMIN_URI="mongodb+srv://admin:...@cluster/?authSource=admin" PRINTCORE_DB=printshop \
//   WORKER_PASSWORD=... SITE_PASSWORD=... npx printcore create-roles
//
// Roles (in the admin database, privileges on PRINTCORE_DB only):
//   printcoreWorker  the print PC: orders find/update (claim, fenced writes) and change streams;
//                    printers find/insert/update (health); print_logs find/insert (audit, metrics);
//                    metrics insert/find. No delete, no drop, no writes to other collections.
//   printcoreSite    the website: orders find/update (markPaid, admin actions) and change streams;
//                    printers find and change streams (the monitor watches orders and printers, one
//                    change stream each); print_logs find/insert; metrics find. Nothing else of the
//                    shop's database, not even reading its other collections (users, payments...).
//                    Creating orders stays with the site's own user/role.
//   printcoreMigrate npm run migrate-print-status / worker migrate: the above plus createIndex.
// With WORKER_PASSWORD / SITE_PASSWORD set, users printcore-worker / printcore-site get the roles.
// Safe to run again: existing roles and users are updated.
import { createRequire } from 'node:module'
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
const on = (collection, actions) => ({ resource: { db, collection }, actions })
export const roles = {
  printcoreWorker: [
    on('orders', ['find', 'update', 'changeStream']),
    on('printers', ['find', 'insert', 'update']),
    on('print_logs', ['find', 'insert']),
    on('metrics', ['find', 'insert']),
  ],
  printcoreSite: [
    on('orders', ['find', 'update', 'changeStream']),
    on('printers', ['find', 'changeStream']),
    on('print_logs', ['find', 'insert']),
    on('metrics', ['find']),
  ],
  printcoreMigrate: [
    on('orders', ['find', 'update', 'createIndex']),
    on('printers', ['find', 'insert', 'update', 'createIndex']),
    on('print_logs', ['find', 'insert', 'createIndex']),
    on('metrics', ['find', 'insert', 'createIndex']),
  ],
}

let client
try {
  client = new MongoClient(uri)
  const admin = client.db('admin')
  for (const [role, privileges] of Object.entries(roles)) {
    const exists = (await admin.command({ rolesInfo: role })).roles?.length > 0
    await admin.command(exists ? { updateRole: role, privileges, roles: [] } : { createRole: role, privileges, roles: [] })
    console.log(`${exists ? 'updated' : 'created'} role ${role} on database ${db}`)
  }
  for (const [user, role, pwd] of [
    ['printcore-worker', 'printcoreWorker', process.env.WORKER_PASSWORD],
    ['printcore-site', 'printcoreSite', process.env.SITE_PASSWORD],
  ]) {
    if (!pwd) continue
    const exists = (await admin.command({ usersInfo: user })).users?.length > 0
    const roles = [{ role, db: 'admin' }]
    await admin.command(exists ? { updateUser: user, pwd, roles } : { createUser: user, pwd, roles })
    console.log(`${exists ? 'updated' : 'created'} user ${user} with role ${role}`)
  }
} catch (e) {
  console.error(`create-roles failed on ${redactUri(uri)}: ${String(e.message).split(uri).join(redactUri(uri))}`)
  process.exitCode = 1
} finally {
  await client?.close()
}
