#!/usr/bin/env node
// Checks the links of the built guide and of README.md, without dependencies and without the network.
//
//   node scripts/linkcheck.mjs [book-dir]      (default docs/guide/book, built by `mdbook build docs/guide`)
//
// In every HTML page of the book, each relative href/src must name a file that exists in the book, and a
// `#fragment` must be an id (or a name) in the target page. In README.md (and the guide's Markdown sources,
// which are read on GitHub as they are), each relative link must name a file or folder of the repository,
// and a `#fragment` on a Markdown file a heading there. External http(s) and mailto links are not fetched
// (no network in CI): they are counted. Every page of docs/guide/src must be in its SUMMARY.md. Exit 1
// when a link is broken or a page is left out.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const book = path.resolve(process.argv[2] ?? path.join(root, 'docs/guide/book'))
const broken = []
let checked = 0
let external = 0

const walk = (dir) =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name)
    return e.isDirectory() ? walk(p) : [p]
  })

const decode = (s) => {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}
const unescapeHtml = (s) =>
  s.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>')

const isExternal = (url) => /^[a-z][a-z0-9+.-]*:/i.test(url) || url.startsWith('//')

// ---- The built book ----
const idsCache = new Map()
const idsOf = (file) => {
  if (!idsCache.has(file)) {
    const html = fs.readFileSync(file, 'utf8')
    const ids = new Set()
    for (const m of html.matchAll(/\s(?:id|name)\s*=\s*"([^"]*)"/g)) ids.add(unescapeHtml(m[1]))
    idsCache.set(file, ids)
  }
  return idsCache.get(file)
}

if (!fs.existsSync(path.join(book, 'index.html'))) {
  console.error(`linkcheck: no built book at ${path.relative(root, book)}: run mdbook build docs/guide first`)
  process.exit(1)
}
const pages = walk(book).filter((f) => f.endsWith('.html'))
for (const page of pages) {
  const html = fs.readFileSync(page, 'utf8')
  // <base href> changes what relative links resolve against (mdBook's 404 page sets one).
  const base = html.match(/<base\s+href="([^"]*)"/)
  if (base && path.basename(page) === '404.html') continue
  for (const m of html.matchAll(/\s(href|src)\s*=\s*"([^"]*)"/g)) {
    const url = unescapeHtml(m[2]).trim()
    if (url === '' || url.startsWith('javascript:') || url.startsWith('data:')) continue
    if (isExternal(url)) {
      external++
      continue
    }
    checked++
    const [pathPart, fragment] = url.split('#', 2)
    const clean = decode(pathPart.split('?')[0])
    let target = clean === '' ? page : path.resolve(path.dirname(page), clean)
    if (clean.endsWith('/') || (fs.existsSync(target) && fs.statSync(target).isDirectory())) target = path.join(target, 'index.html')
    const where = `${path.relative(book, page)}: ${m[1]}="${url}"`
    if (!target.startsWith(book + path.sep) && target !== book) {
      broken.push(`${where}: points outside the book`)
      continue
    }
    if (!fs.existsSync(target)) {
      broken.push(`${where}: no such file`)
      continue
    }
    if (fragment && target.endsWith('.html') && !idsOf(target).has(decode(fragment))) {
      broken.push(`${where}: no id "${fragment}" in ${path.relative(book, target)}`)
    }
  }
}

// ---- Markdown read on GitHub: README.md and the guide's sources ----
// GitHub's heading anchors: lower case, spaces to '-', punctuation other than '-' and '_' dropped.
const slug = (heading) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/<[^>]*>/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-')
const anchorsOf = (file) => {
  const text = fs.readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '')
  const seen = new Map()
  const anchors = new Set()
  for (const m of text.matchAll(/^#{1,6}\s+(.*)$/gm)) {
    const s = slug(m[1])
    const n = seen.get(s) ?? 0
    seen.set(s, n + 1)
    anchors.add(n ? `${s}-${n}` : s)
  }
  return anchors
}
const markdown = [path.join(root, 'README.md'), ...walk(path.join(root, 'docs/guide/src')).filter((f) => f.endsWith('.md'))]
let markdownLinks = 0
for (const file of markdown) {
  const text = fs
    .readFileSync(file, 'utf8')
    .replace(/```[\s\S]*?```/g, '')
    .replace(/`[^`\n]*`/g, '')
  for (const m of text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const url = m[1].replace(/^<|>$/g, '')
    if (isExternal(url)) {
      external++
      continue
    }
    markdownLinks++
    checked++
    const [pathPart, fragment] = url.split('#', 2)
    const target = pathPart === '' ? file : path.resolve(path.dirname(file), decode(pathPart))
    const where = `${path.relative(root, file)}: (${url})`
    if (!fs.existsSync(target)) {
      broken.push(`${where}: no such file`)
      continue
    }
    if (fragment && target.endsWith('.md') && !anchorsOf(target).has(decode(fragment).toLowerCase())) {
      broken.push(`${where}: no heading "#${fragment}" in ${path.relative(root, target)}`)
    }
  }
}

// ---- Every page of the guide is in its table of contents, so the front page reaches it ----
const src = path.join(root, 'docs/guide/src')
const summary = fs.readFileSync(path.join(src, 'SUMMARY.md'), 'utf8')
const listed = new Set([...summary.matchAll(/\]\(([^)]+\.md)\)/g)].map((m) => path.normalize(m[1])))
for (const f of walk(src).filter((f) => f.endsWith('.md'))) {
  const rel = path.relative(src, f)
  if (rel !== 'SUMMARY.md' && !listed.has(rel)) broken.push(`docs/guide/src/${rel}: not in SUMMARY.md, so no page links to it`)
}

for (const b of broken) console.log(`broken link: ${b}`)
console.log(
  `linkcheck: ${pages.length} pages of the book and ${markdown.length} Markdown files, ${checked} relative links ` +
    `(${markdownLinks} in Markdown) checked, ${broken.length} broken; ${external} external links not fetched`,
)
if (pages.length < 10 || markdownLinks < 10) {
  console.log('linkcheck: too few pages or links found: is the book built?')
  process.exit(1)
}
process.exit(broken.length ? 1 : 0)
