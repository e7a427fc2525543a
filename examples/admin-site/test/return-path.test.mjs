// The login's return path (lib/return-path.mjs): a path on this site, or the monitor. Run by
// scripts/test-site.sh with the browser tests (e2e/monitor.test.mjs posts the same values to the login).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { DEFAULT_RETURN_PATH, returnPath } from '../lib/return-path.mjs'

export const HOSTILE = [
  '/\\evil.com',
  '//evil.com',
  '/\\\\evil',
  '\\\\evil.com',
  '\\/evil.com',
  '///evil.com',
  '/.//evil.com',
  '/\t/evil.com',
  '/\n/evil.com',
  ' //evil.com',
  '/%2F/evil.com',
  '/%2f%2fevil.com',
  '%2F%2Fevil.com',
  '/%5Cevil.com',
  '/%5c%5cevil.com',
  'https://evil.com',
  'https:evil.com',
  'http://evil.com/admin',
  '//evil.com/admin/printer-monitor',
  'javascript:alert(1)',
  'evil.com',
  '',
  null,
  undefined,
  42,
]

test('a return path that could leave the site falls back to the monitor', () => {
  for (const next of HOSTILE) assert.equal(returnPath(next), DEFAULT_RETURN_PATH, JSON.stringify(next))
})

test('paths on this site are kept, normalised', () => {
  assert.equal(returnPath('/admin/printer-monitor'), '/admin/printer-monitor')
  assert.equal(returnPath('/admin/printer-monitor?group=failed#order-7'), '/admin/printer-monitor?group=failed#order-7')
  assert.equal(returnPath('/admin/../admin/printer-monitor'), '/admin/printer-monitor')
  assert.equal(returnPath('/'), '/')
})
