// A known PDF for the preview test: A4 pages of filled rectangles only (no fonts, so every renderer draws
// the same pixels). Page 1: a red block top left, a blue block bottom right; page 2: a green block.
export const A4 = [595, 842]
export const PAGES = [
  [
    ['1 0 0', 50, 600, 200, 150],
    ['0 0 1', 345, 92, 200, 150],
  ],
  [['0 0.6 0', 100, 300, 400, 300]],
]

export function knownPdf(pages = PAGES) {
  const objects = []
  const add = (body) => objects.push(body) // object number = index + 1
  add('<< /Type /Catalog /Pages 2 0 R >>')
  add(null) // the page tree, filled in below
  const kids = []
  for (const rects of pages) {
    const content = rects.map(([rgb, x, y, w, h]) => `${rgb} rg ${x} ${y} ${w} ${h} re f`).join('\n')
    add(`<< /Length ${Buffer.byteLength(content)} >>\nstream\n${content}\nendstream`)
    const contentRef = objects.length
    add(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${A4[0]} ${A4[1]}] /Resources << >> /Contents ${contentRef} 0 R >>`)
    kids.push(`${objects.length} 0 R`)
  }
  objects[1] = `<< /Type /Pages /Kids [${kids.join(' ')}] /Count ${pages.length} >>`
  let out = '%PDF-1.4\n%\xe2\xe3\xcf\xd3\n'
  const offsets = []
  objects.forEach((body, i) => {
    offsets.push(Buffer.byteLength(out, 'latin1'))
    out += `${i + 1} 0 obj\n${body}\nendobj\n`
  })
  const xref = Buffer.byteLength(out, 'latin1')
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`
  for (const o of offsets) out += `${String(o).padStart(10, '0')} 00000 n \n`
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`
  return Buffer.from(out, 'latin1')
}
