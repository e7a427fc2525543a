#!/usr/bin/env node
// `npm run migrate-print-status [-- --dry-run]` in this repository: the same as `npx printcore migrate`
// (bin/printcore.js), which is what a website's project runs.
'use strict'
process.argv.splice(2, 0, 'migrate')
require('../bin/printcore.js')
