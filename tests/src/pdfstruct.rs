//! PDFs built from structural pieces (not byte flips): a valid one-page document plus pieces that
//! each carry one construct a hostile file uses against a PDF reader. The tests (tests/pdf_hostile.rs,
//! the end-to-end hostile orders) and the `structural_pdf` fuzz target share this file, so the fuzzer
//! combines exactly the classes the tests name. Depends on std and flate2 only.
//!
//! [`from_choices`] reads pieces and their sizes from arbitrary bytes (the fuzzer's input, or a
//! property test's); [`document`] builds one from pieces chosen by name.

use std::io::Write;

/// One construct added to the base document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece {
    /// Arrays (or dictionaries) nested `depth` deep in an ordinary object.
    Nest { depth: usize, dicts: bool },
    /// An object stream, its `/Type` written plainly or as `/Obj#53tm`, its filters (`layers` Flate
    /// filters, written plainly or escaped as `/Fl#61teDecode`), holding `inner`.
    ObjStm { escaped: bool, layers: usize, inner: Inner },
    /// A `startxref` inside a comment after the real one: lopdf reads the last one, which points into
    /// a string holding an object nested `depth` deep.
    StartxrefInComment { depth: usize },
    /// `links` streams, each with `/Length` pointing at the next stream.
    LengthChain { links: usize },
    /// `entries` cross-reference entries pointing at one stream object of `kb` KB.
    SharedEntries { entries: usize, kb: usize },
    /// A stream whose `/L#65ngth` (escaped `/Length`) is `declared`.
    EscapedLength { declared: i64 },
}

/// What an object stream holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inner {
    /// One object nested this deep.
    Nest(usize),
    /// This many MB of spaces after one small object: a bomb once compressed.
    Bomb(usize),
    /// This many small objects.
    Objects(usize),
}

/// How the document's cross-reference is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Xref {
    /// A classic `xref` table and trailer.
    Table,
    /// A cross-reference stream, with or without `/Type /XRef`, Flate-compressed `layers` times, its
    /// data followed by `bomb_mb` MB of zeros (past the entries, which lopdf still inflates).
    Stream { typed: bool, layers: usize, bomb_mb: usize },
}

/// zlib-compresses `data` `times` times over (fast: the inputs are mostly zeros or spaces).
pub fn flate(data: &[u8], times: usize) -> Vec<u8> {
    let mut out = data.to_vec();
    for _ in 0..times {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&out).expect("writing to memory");
        out = e.finish().expect("writing to memory");
    }
    out
}

/// `mb` MB of `byte`, zlib-compressed `layers` (at least 1) times, without holding the plain bytes.
fn bomb(byte: u8, prefix: &[u8], mb: usize, layers: usize) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(prefix).expect("writing to memory");
    let chunk = vec![byte; 1 << 20];
    for _ in 0..mb {
        e.write_all(&chunk).expect("writing to memory");
    }
    let once = e.finish().expect("writing to memory");
    flate(&once, layers.saturating_sub(1))
}

fn nested(depth: usize, dicts: bool) -> String {
    if dicts {
        format!("{}1{}", "<</K ".repeat(depth), ">>".repeat(depth))
    } else {
        format!("{}0{}", "[".repeat(depth), "]".repeat(depth))
    }
}

fn filters(layers: usize, escaped: bool) -> String {
    if layers == 0 {
        return String::new();
    }
    let one = if escaped { "/Fl#61teDecode" } else { "/FlateDecode" };
    format!("/Filter[{}]", one.repeat(layers))
}

struct Doc {
    out: Vec<u8>,
    /// (object number, offset) of each entry the cross-reference lists.
    entries: Vec<(u32, usize)>,
    next_id: u32,
    /// Bytes appended after the last `%%EOF`.
    tail: Vec<u8>,
}

impl Doc {
    fn object(&mut self, body: &[u8]) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        self.object_as(id, body);
        id
    }

    fn object_as(&mut self, id: u32, body: &[u8]) {
        self.entries.push((id, self.out.len()));
        self.out.extend(format!("{id} 0 obj\n").bytes());
        self.out.extend(body);
        self.out.extend(b"\nendobj\n");
    }

    fn stream(dict: &str, data: &[u8]) -> Vec<u8> {
        let mut body = format!("<<{dict}/Length {}>>\nstream\n", data.len()).into_bytes();
        body.extend(data);
        body.extend(b"\nendstream");
        body
    }

    fn add(&mut self, piece: Piece) {
        match piece {
            Piece::Nest { depth, dicts } => {
                self.object(format!("<</Deep {}>>", nested(depth, dicts)).as_bytes());
            }
            Piece::ObjStm { escaped, layers, inner } => {
                let first_id = self.next_id + 1;
                let (header, objects) = match inner {
                    Inner::Nest(depth) => (format!("{first_id} 0 "), nested(depth, false).into_bytes()),
                    Inner::Bomb(_) => (format!("{first_id} 0 "), b"<</Small 1>>".to_vec()),
                    Inner::Objects(n) => {
                        let mut header = String::new();
                        let mut objects = Vec::new();
                        for i in 0..n {
                            header.push_str(&format!("{} {} ", first_id + i as u32, objects.len()));
                            objects.extend(format!("<</N {i}>> ").bytes());
                        }
                        (header, objects)
                    }
                };
                let count = match inner {
                    Inner::Objects(n) => n,
                    _ => 1,
                };
                let mut content = header.into_bytes();
                let first = content.len();
                content.extend(&objects);
                // A bomb is compressed at least once.
                let layers = if matches!(inner, Inner::Bomb(_)) { layers.max(1) } else { layers };
                let data = match inner {
                    Inner::Bomb(mb) => bomb(b' ', &content, mb, layers),
                    _ => flate(&content, layers),
                };
                let kind = if escaped { "/Obj#53tm" } else { "/ObjStm" };
                let dict = format!("/Type{kind}/N {count}/First {first}{}", filters(layers, escaped));
                self.object(&Doc::stream(&dict, &data));
                self.next_id += count as u32;
            }
            Piece::StartxrefInComment { depth } => {
                // The nested object sits inside a string, where a linear reading never parses it.
                let id = self.next_id;
                self.next_id += 2;
                let mut body = b"(".to_vec();
                let hidden = self.out.len() + format!("{id} 0 obj\n(").len();
                body.extend(format!("{} 0 obj {} endobj", id + 1, nested(depth, false)).bytes());
                body.extend(b")");
                self.object_as(id, &body);
                self.tail.extend(format!("% startxref\n{hidden}\n%%EOF\n").bytes());
            }
            Piece::LengthChain { links } => {
                let first = self.next_id;
                self.next_id += links as u32 + 1;
                for i in 0..links as u32 {
                    let mut body = format!("<</Length {} 0 R>>\nstream\n", first + i + 1).into_bytes();
                    body.extend(b"x\nendstream");
                    self.object_as(first + i, &body);
                }
                self.object_as(first + links as u32, b"1");
            }
            Piece::SharedEntries { entries, kb } => {
                self.object(&Doc::stream("", &vec![b'x'; kb * 1024]));
                let offset = self.entries.last().map(|e| e.1).unwrap_or(0);
                for i in 0..entries as u32 {
                    self.entries.push((self.next_id + i, offset));
                }
                self.next_id += entries as u32;
            }
            Piece::EscapedLength { declared } => {
                let mut body = format!("<</L#65ngth {declared}>>\nstream\n").into_bytes();
                body.extend(b"abc\nendstream");
                self.object(&body);
            }
        }
    }

    fn finish(mut self, xref: Xref) -> Vec<u8> {
        let size = self.next_id;
        self.entries.sort_by_key(|e| e.0);
        match xref {
            Xref::Table => {
                let at = self.out.len();
                // One subsection per entry: entries may repeat an object number's offset, not its number.
                self.out.extend(b"xref\n0 1\n0000000000 65535 f \n");
                for (id, offset) in &self.entries {
                    self.out.extend(format!("{id} 1\n{offset:010} 00000 n \n").bytes());
                }
                self.out.extend(format!("trailer\n<</Size {size}/Root 1 0 R>>\nstartxref\n{at}\n%%EOF\n").bytes());
            }
            Xref::Stream { typed, layers, bomb_mb } => {
                let at = self.out.len();
                let id = self.next_id;
                let mut rows = vec![0u8, 0, 0, 0, 0, 255, 255];
                let mut index = String::from("0 1");
                for (eid, offset) in &self.entries {
                    rows.push(1);
                    rows.extend((*offset as u32).to_be_bytes());
                    rows.extend([0, 0]);
                    index.push_str(&format!(" {eid} 1"));
                }
                rows.push(1);
                rows.extend((at as u32).to_be_bytes());
                rows.extend([0, 0]);
                index.push_str(&format!(" {id} 1"));
                let layers = if bomb_mb > 0 { layers.max(1) } else { layers };
                let data = if bomb_mb > 0 { bomb(0, &rows, bomb_mb, layers) } else { flate(&rows, layers) };
                let kind = if typed { "/Type/XRef" } else { "" };
                let dict =
                    format!("{kind}/Size {}/Index[{index}]/W[1 4 2]/Root 1 0 R{}", id + 1, filters(layers, false));
                self.object_as(id, &Doc::stream(&dict, &data));
                self.out.extend(format!("startxref\n{at}\n%%EOF\n").bytes());
            }
        }
        self.out.extend(&self.tail);
        self.out
    }
}

/// A one-page A4 document with `pieces` added and its cross-reference written as `xref` says.
pub fn document(pieces: &[Piece], xref: Xref) -> Vec<u8> {
    let mut doc =
        Doc { out: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec(), entries: Vec::new(), next_id: 1, tail: Vec::new() };
    doc.object(b"<</Type/Catalog/Pages 2 0 R>>");
    doc.object(b"<</Type/Pages/Kids[3 0 R]/Count 1>>");
    doc.object(b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents 4 0 R>>");
    doc.object(&Doc::stream("", b"0 0 m 10 10 l S"));
    for piece in pieces {
        doc.add(*piece);
    }
    doc.finish(xref)
}

/// Reads choices from bytes; past the end every choice is 0.
struct Choices<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Choices<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    /// 0 to `max`, spread over two bytes.
    fn upto(&mut self, max: usize) -> usize {
        let v = usize::from(self.byte()) << 8 | usize::from(self.byte());
        v % (max + 1)
    }
}

/// The largest sizes [`from_choices`] picks: past every default limit of the pre-scan (100 levels, 64
/// MB per stream, the parse budget), yet quick to build.
pub const MAX_DEPTH: usize = 3000;
pub const MAX_BOMB_MB: usize = 96;
pub const MAX_LINKS: usize = 3000;
pub const MAX_ENTRIES: usize = 40_000;
pub const MAX_KB: usize = 2048;

/// The pieces and cross-reference form `bytes` choose (up to four pieces).
pub fn pieces_from_choices(bytes: &[u8]) -> (Vec<Piece>, Xref) {
    let mut c = Choices { bytes, at: 0 };
    let xref = match c.byte() % 3 {
        0 => Xref::Table,
        kind => Xref::Stream { typed: kind == 1, layers: c.upto(3), bomb_mb: c.upto(MAX_BOMB_MB) },
    };
    let count = 1 + usize::from(c.byte() % 4);
    let mut pieces = Vec::with_capacity(count);
    for _ in 0..count {
        let piece = match c.byte() % 6 {
            0 => Piece::Nest { depth: c.upto(MAX_DEPTH), dicts: c.byte() % 2 == 1 },
            1 => {
                let escaped = c.byte() % 2 == 1;
                let layers = c.upto(6);
                let inner = match c.byte() % 3 {
                    0 => Inner::Nest(c.upto(MAX_DEPTH)),
                    1 => Inner::Bomb(c.upto(MAX_BOMB_MB)),
                    _ => Inner::Objects(c.upto(2000)),
                };
                Piece::ObjStm { escaped, layers, inner }
            }
            2 => Piece::StartxrefInComment { depth: c.upto(MAX_DEPTH) },
            3 => Piece::LengthChain { links: c.upto(MAX_LINKS) },
            4 => Piece::SharedEntries { entries: c.upto(MAX_ENTRIES), kb: c.upto(MAX_KB) },
            _ => Piece::EscapedLength { declared: (c.upto(u16::MAX as usize) as i64) << c.upto(40) },
        };
        pieces.push(piece);
    }
    (pieces, xref)
}

/// The document `bytes` choose: see [`pieces_from_choices`].
pub fn from_choices(bytes: &[u8]) -> Vec<u8> {
    let (pieces, xref) = pieces_from_choices(bytes);
    document(&pieces, xref)
}
