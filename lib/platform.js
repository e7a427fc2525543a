'use strict'
// Which prebuilt addon this machine needs, and a clear error when it is not installed. The addon of each
// platform is its own npm package (printcore-<platform>), an optional dependency of printcore, so npm
// installs only the one this machine uses.
const { readFileSync } = require('node:fs')

/** The platforms printcore publishes a prebuilt addon for. */
const PREBUILT = [
  'linux-x64-gnu',
  'linux-arm64-gnu',
  'linux-x64-musl',
  'linux-arm64-musl',
  'darwin-x64',
  'darwin-arm64',
  'win32-x64-msvc',
  'win32-arm64-msvc',
]

function isMusl() {
  if (process.platform !== 'linux') return false
  try {
    const report = process.report && process.report.getReport()
    if (report && report.header && report.header.glibcVersionRuntime) return false
    if (report && Array.isArray(report.sharedObjects) && report.sharedObjects.some((f) => /libc\.musl-|ld-musl-/.test(f))) return true
  } catch {}
  try {
    return readFileSync('/usr/bin/ldd', 'utf-8').includes('musl')
  } catch {
    return false
  }
}

/** This machine's platform as the addon packages name it, e.g. `linux-x64-gnu` or `win32-x64-msvc`. */
function currentPlatform() {
  const { platform, arch } = process
  if (platform === 'linux') return `linux-${arch}-${isMusl() ? 'musl' : 'gnu'}`
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

/** Loads the addon (the generated loader, index.js), or throws an error that says what to install. */
function loadNative() {
  try {
    return require('../index.js')
  } catch (cause) {
    const platform = currentPlatform()
    const pkg = `printcore-${platform}`
    const { version } = require('../package.json')
    const message = PREBUILT.includes(platform)
      ? `printcore: the native addon for this platform (${platform}) is not installed: it is the package ` +
        `${pkg}, an optional dependency of printcore. Install it with \`npm install ${pkg}@${version}\`. ` +
        `It is left out by an install with --omit=optional (or --no-optional), and by a lockfile or ` +
        `node_modules made on another platform (a Mac's node_modules copied into a Linux image: run ` +
        `\`npm ci\` inside the image instead).`
      : `printcore: there is no prebuilt native addon for this platform (${platform}, Node ${process.version}). ` +
        `Prebuilt: ${PREBUILT.join(', ')}. Build it from the source repository with a Rust toolchain ` +
        `(\`npm run build\`).`
    const error = new Error(message, { cause })
    error.code = 'ERR_PRINTCORE_NATIVE_MISSING'
    error.platform = platform
    error.packageName = pkg
    throw error
  }
}

module.exports = { PREBUILT, currentPlatform, loadNative }
