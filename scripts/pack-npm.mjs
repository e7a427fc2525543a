#!/usr/bin/env node
// Packs the npm package as `npm publish` would publish it, into DEST (default: $HOME/.cache/printcore/dist):
// the main package with the `optionalDependencies` on each platform package that `napi prepublish` writes
// into package.json at release (the repository's package.json leaves them out, so that `npm ci` here
// does not look for packages that are only published at release), and each platform package whose
// addon scripts/build-npm.sh built (npm/<platform>/printcore.<platform>.node).
//
//   node scripts/pack-npm.mjs [DEST] [platform ...]     e.g. node scripts/pack-npm.mjs /tmp/dist linux-x64-gnu
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const [dest = path.join(os.homedir(), '.cache', 'printcore', 'dist'), ...only] = process.argv.slice(2)
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
fs.mkdirSync(dest, { recursive: true })

const platforms = fs.readdirSync(path.join(root, 'npm')).filter((p) => fs.existsSync(path.join(root, 'npm', p, 'package.json')))
const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'printcore-pack-'))
try {
  for (const entry of pkg.files) {
    const from = path.join(root, entry)
    if (fs.existsSync(from)) fs.cpSync(from, path.join(stage, entry), { recursive: true })
  }
  const published = { ...pkg, optionalDependencies: Object.fromEntries(platforms.sort().map((p) => [`${pkg.name}-${p}`, pkg.version])) }
  fs.writeFileSync(path.join(stage, 'package.json'), `${JSON.stringify(published, null, 2)}\n`)
  const out = execFileSync('npm', ['pack', '--silent', '--pack-destination', dest], { cwd: stage, encoding: 'utf8' }).trim()
  console.log(`packed ${out} (optionalDependencies: ${Object.keys(published.optionalDependencies).join(', ')})`)
} finally {
  fs.rmSync(stage, { recursive: true, force: true })
}
for (const platform of platforms) {
  if (only.length && !only.includes(platform)) continue
  if (!fs.existsSync(path.join(root, 'npm', platform, `${pkg.napi.binaryName}.${platform}.node`))) continue
  const out = execFileSync('npm', ['pack', '--silent', '--pack-destination', dest, `./npm/${platform}`], { cwd: root, encoding: 'utf8' }).trim()
  console.log(`packed ${out}`)
}
