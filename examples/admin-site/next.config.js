/** The printcore package is a native addon: Next.js must load it with Node's require, not bundle it. */
module.exports = {
  serverExternalPackages: ['printcore'],
  outputFileTracingRoot: __dirname,
  reactStrictMode: true,
}
