import type { NextConfig } from 'next'

/** The printcore package is a native addon: Next.js must load it with Node's require, not bundle it. */
const config: NextConfig = {
  serverExternalPackages: ['printcore'],
  outputFileTracingRoot: __dirname,
  reactStrictMode: true,
}

export default config
