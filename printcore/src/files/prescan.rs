//! A bounded pre-scan of a PDF's raw bytes, run before lopdf sees them.
//!
//! lopdf 0.38 parses nested arrays and dictionaries by recursion without a depth limit (a few hundred KB
//! of `[[[[` overflow the stack, which aborts the process), and inflates object streams and
//! cross-reference streams without a size limit. Newer lopdf releases add a nesting guard and an opt-in
//! decompression limit, but an open lopdf issue reports object-stream limit errors swallowed and predictor
//! buffers unbounded, so the bounds live here, in one pass over the bytes that lopdf would read:
//!
//! - nesting of arrays and dictionaries outside strings, comments and stream data (at most
//!   [`ScanLimits::max_depth`]), in the file and in the decoded content of every object stream;
//! - the filter chain of every stream (at most [`ScanLimits::max_filters`]);
//! - every direct `/Length` (not negative, not longer than the file);
//! - the number of objects and cross-reference entries;
//! - object streams (`/Type /ObjStm`) and cross-reference streams (`/Type /XRef`), decoded the way lopdf
//!   decodes them but with an output cap per stream and in total, their decoding parameters, and a
//!   cross-reference stream's field widths and entry counts;
//! - every offset lopdf starts parsing at (cross-reference entries, `startxref`, `/Prev`, object-stream
//!   offsets): one that points somewhere the linear pass did not see an object start (into a string or
//!   into stream data) is scanned again from there, within a budget, so nesting cannot hide there.
//!
//! - names as lopdf reads them: `#xx` escapes decoded (`/Obj#53tm` is `/ObjStm`, `/L#65ngth` is
//!   `/Length`);
//! - the cross-reference position lopdf reads, found as lopdf finds it (the last `startxref` near the
//!   last `%%EOF`, by searching bytes, so one hidden in a comment counts), and every `/Prev` and
//!   `/XRefStm` from there: whatever stream lopdf meets at such a position it decodes as a
//!   cross-reference stream, whatever its `/Type` says, and so does the pre-scan;
//! - indirect `/Length`s: one that points at another stream would make lopdf resolve a chain of
//!   streams by recursion (and each link again for every stream in it), so it is refused;
//! - the bytes lopdf parses: it parses the object at every cross-reference entry, once per entry, so
//!   many entries pointing at one large object (or one object stream it inflates each time) cost that
//!   object's size times the entries; the total is bounded by a multiple of the file's size.
//!
//! Nothing here recurses on the input and every allocation is bounded. A refusal is a sentence for the
//! admin; [`crate::files::validate_pdf`] wraps it into a permanent file error naming the order.

use std::collections::{HashMap, HashSet};
use std::io::Read;

/// What the pre-scan accepts. The defaults are far above what real documents use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanLimits {
    /// Arrays and dictionaries inside each other.
    pub max_depth: usize,
    /// Filters on one stream (`/Filter [/FlateDecode /FlateDecode ...]`).
    pub max_filters: usize,
    /// Objects (`obj` keywords plus objects in object streams), and cross-reference entries.
    pub max_objects: usize,
    /// The decoded size of one object stream or cross-reference stream.
    pub max_stream_bytes: usize,
    /// The decoded size of all object streams and cross-reference streams together.
    pub max_total_stream_bytes: usize,
    /// Pages one file may have (checked after lopdf, on the page tree: the report then lists at most
    /// this many page sizes). The worker's `[files] max_pages`.
    pub max_pages: u32,
}

/// The default of [`ScanLimits::max_pages`]: far above a shop's web orders (a thesis, a catalogue),
/// far below a file made to print a forest.
pub const DEFAULT_MAX_PAGES: u32 = 2000;

impl Default for ScanLimits {
    fn default() -> Self {
        ScanLimits {
            max_depth: 100,
            max_filters: 4,
            max_objects: 500_000,
            max_stream_bytes: 64 * 1024 * 1024,
            max_total_stream_bytes: 256 * 1024 * 1024,
            max_pages: DEFAULT_MAX_PAGES,
        }
    }
}

/// The bytes lopdf may parse at cross-reference entries (an object's size once per entry pointing at it,
/// its inflated object stream included): this many times the file plus what its object streams inflate
/// to, plus [`PARSE_BUDGET_SLACK`].
pub const PARSE_BUDGET_FACTOR: usize = 3;
/// See [`PARSE_BUDGET_FACTOR`].
pub const PARSE_BUDGET_SLACK: usize = 32 * 1024 * 1024;

/// What the pre-scan found in an acceptable file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// Objects seen (indirect objects plus objects in object streams).
    pub objects: usize,
    /// The file has an `/Encrypt` entry (lopdf would try to decrypt it).
    pub encrypted: bool,
    /// Object streams and cross-reference streams decoded and checked.
    pub structural_streams: usize,
}

const AGAIN: &str = "ask the customer to export it again";

/// Scans `bytes` (the whole file) under `limits`. `Err` is the reason to refuse the file, in words for
/// the admin.
pub fn prescan(bytes: &[u8], limits: &ScanLimits) -> Result<Scan, String> {
    // lopdf reads from the `%PDF-` header on: its offsets count from there.
    let head = bytes.windows(5).position(|w| w == b"%PDF-").unwrap_or(0);
    let buf = &bytes[head..];
    let mut s = Scanner {
        limits,
        scan: Scan::default(),
        xref_entries: 0,
        inflated_total: 0,
        object_starts: HashSet::new(),
        xref_keywords: HashSet::new(),
        to_verify: Vec::new(),
        xref_positions: Vec::new(),
        at_xref: false,
        streams_done: HashSet::new(),
        rescanned: 0,
        rescan_budget: buf.len().saturating_mul(2).saturating_add(1 << 20),
        current: None,
        stream_ids: HashSet::new(),
        length_refs: HashSet::new(),
        spans: HashMap::new(),
    };
    if let Some(start) = lopdf_xref_start(buf) {
        s.xref_positions.push(start as i64);
    }
    s.run(buf, 0, Mode::File)?;
    // Where lopdf reads cross-reference data (and each /Prev from there), then the offsets it parses
    // objects at: each must be where the linear pass saw an object (or `xref`) start, or be scanned from
    // there; and each costs what lopdf parses there, once per entry.
    let mut xref_done: HashSet<usize> = HashSet::new();
    let mut costs: HashMap<usize, usize> = HashMap::new();
    let mut parsed = 0usize;
    loop {
        if let Some(position) = s.xref_positions.pop() {
            let Ok(position) = usize::try_from(position) else { continue };
            if position >= buf.len() || !xref_done.insert(position) {
                continue;
            }
            if buf[position..].starts_with(b"xref") && s.xref_keywords.contains(&position) {
                continue;
            }
            s.at_xref = true;
            let result = s.run(buf, position, Mode::OneObject);
            s.at_xref = false;
            result?;
            continue;
        }
        let Some(offset) = s.to_verify.pop() else { break };
        let Ok(offset) = usize::try_from(offset) else { continue };
        if offset >= buf.len() {
            continue;
        }
        let start = skip_space(buf, offset);
        let cost = match costs.get(&start) {
            Some(&cost) => cost,
            None => {
                let cost = match s.spans.get(&start) {
                    Some(&span) => span,
                    None if s.xref_keywords.contains(&start) => 0,
                    None => {
                        let (scanned, inflated) = (s.rescanned, s.inflated_total);
                        s.run(buf, start, Mode::OneObject)?;
                        (s.rescanned - scanned).saturating_add(s.inflated_total - inflated)
                    }
                };
                costs.insert(start, cost);
                cost
            }
        };
        parsed = parsed.saturating_add(cost);
        let budget = buf
            .len()
            .saturating_add(s.inflated_total)
            .saturating_mul(PARSE_BUDGET_FACTOR)
            .saturating_add(PARSE_BUDGET_SLACK);
        if parsed > budget {
            return Err(format!(
                "the PDF's cross-reference lists the same large objects again and again (a reader would parse \
                 more than {} MB to open a {} KB file); the file is damaged or crafted; {AGAIN}",
                budget / (1024 * 1024),
                buf.len() / 1024
            ));
        }
    }
    if let Some(id) = s.length_refs.iter().find(|id| s.stream_ids.contains(id)) {
        return Err(format!(
            "a stream's /Length in the PDF points at another stream (object {} {}) instead of a number; a \
             reader resolves such chains without end; the file is damaged or crafted; {AGAIN}",
            id.0, id.1
        ));
    }
    Ok(s.scan)
}

/// Where lopdf 0.38 reads the cross-reference (`Reader::get_xref_start`): the last `%%EOF` in the last
/// 512 bytes, the last `startxref` from 25 bytes before it, then `startxref`, a line end, spaces, an
/// integer. Found by searching bytes, as lopdf does: a `startxref` inside a comment counts.
fn lopdf_xref_start(buf: &[u8]) -> Option<usize> {
    let last = |pattern: &[u8], from: usize| -> Option<usize> {
        let region = buf.get(from..)?;
        region.windows(pattern.len()).rposition(|w| w == pattern).map(|p| p + from)
    };
    let eof = last(b"%%EOF", buf.len() - buf.len().min(512)).filter(|&e| e > 25)?;
    let at = last(b"startxref", eof - 25)?;
    let mut p = at + b"startxref".len();
    match buf.get(p..p + 2) {
        Some(b"\r\n") => p += 2,
        _ if matches!(buf.get(p), Some(b'\r' | b'\n')) => p += 1,
        _ => return None,
    }
    while buf.get(p) == Some(&b' ') {
        p += 1;
    }
    let sign = matches!(buf.get(p), Some(b'+' | b'-'));
    let digits_from = p + usize::from(sign);
    let len = buf.get(digits_from..)?.iter().take_while(|c| c.is_ascii_digit()).count();
    if len == 0 {
        return None;
    }
    let n: i64 = std::str::from_utf8(&buf[p..digits_from + len]).ok()?.parse().ok()?;
    usize::try_from(n).ok()
}

/// A name's bytes as lopdf reads them: `#` and two hex digits is one byte; a `#` without them ends the
/// name (lopdf then fails on the rest). At most [`NAME_MAX`] bytes are kept.
fn decode_name(raw: &[u8]) -> Vec<u8> {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(raw.len().min(NAME_MAX));
    let mut i = 0;
    while i < raw.len() && out.len() < NAME_MAX {
        if raw[i] == b'#' {
            match (raw.get(i + 1).and_then(|&c| hex(c)), raw.get(i + 2).and_then(|&c| hex(c))) {
                (Some(a), Some(b)) => {
                    out.push(a * 16 + b);
                    i += 3;
                }
                _ => break,
            }
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    out
}

fn skip_space(b: &[u8], mut p: usize) -> usize {
    while p < b.len() && is_ws(b[p]) {
        p += 1;
    }
    p
}

fn is_ws(c: u8) -> bool {
    matches!(c, 0 | 9 | 10 | 12 | 13 | 32)
}

fn is_delim(c: u8) -> bool {
    matches!(c, b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Array,
    Dict,
}

#[derive(Debug)]
enum Tok<'a> {
    Open(Kind),
    Close,
    Name(&'a [u8]),
    Int(i64),
    /// A real number, a string, `true`/`false`/`null`: a value whose content does not matter here.
    Scalar,
    Word(&'a [u8]),
    End,
}

/// Splits PDF syntax into tokens. Strings and comments are skipped whole (iteratively).
struct Lexer<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    /// The next token and where it starts.
    fn next(&mut self) -> (usize, Tok<'a>) {
        let b = self.b;
        loop {
            while self.pos < b.len() && is_ws(b[self.pos]) {
                self.pos += 1;
            }
            let start = self.pos;
            let Some(&c) = b.get(self.pos) else { return (start, Tok::End) };
            self.pos += 1;
            let tok = match c {
                b'%' => {
                    while self.pos < b.len() && b[self.pos] != b'\n' && b[self.pos] != b'\r' {
                        self.pos += 1;
                    }
                    continue;
                }
                b'[' => Tok::Open(Kind::Array),
                b']' => Tok::Close,
                b'<' if b.get(self.pos) == Some(&b'<') => {
                    self.pos += 1;
                    Tok::Open(Kind::Dict)
                }
                b'<' => {
                    while self.pos < b.len() && b[self.pos] != b'>' {
                        self.pos += 1;
                    }
                    self.pos = (self.pos + 1).min(b.len());
                    Tok::Scalar
                }
                b'>' if b.get(self.pos) == Some(&b'>') => {
                    self.pos += 1;
                    Tok::Close
                }
                b'(' => {
                    let mut depth = 1usize;
                    while self.pos < b.len() && depth > 0 {
                        match b[self.pos] {
                            b'\\' => self.pos += 1,
                            b'(' => depth += 1,
                            b')' => depth -= 1,
                            _ => {}
                        }
                        self.pos += 1;
                    }
                    self.pos = self.pos.min(b.len());
                    Tok::Scalar
                }
                b'>' | b')' | b'{' | b'}' => continue,
                b'/' => {
                    let from = self.pos;
                    while self.pos < b.len() && !is_ws(b[self.pos]) && !is_delim(b[self.pos]) {
                        self.pos += 1;
                    }
                    Tok::Name(&b[from..self.pos])
                }
                _ => {
                    while self.pos < b.len() && !is_ws(b[self.pos]) && !is_delim(b[self.pos]) {
                        self.pos += 1;
                    }
                    word(&b[start..self.pos])
                }
            };
            return (start, tok);
        }
    }
}

fn word(w: &[u8]) -> Tok<'_> {
    let digits = w.strip_prefix(b"+").or_else(|| w.strip_prefix(b"-")).unwrap_or(w);
    if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
        return match std::str::from_utf8(w).ok().and_then(|s| s.parse::<i64>().ok()) {
            Some(i) => Tok::Int(i),
            None => Tok::Scalar,
        };
    }
    if digits.iter().any(u8::is_ascii_digit) && digits.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
        return Tok::Scalar;
    }
    match w {
        b"true" | b"false" | b"null" => Tok::Scalar,
        _ => Tok::Word(w),
    }
}

/// The part of a value the checks read. Everything else is `Other`.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Int(i64),
    Name(Vec<u8>),
    Ref(u32, u16),
    Array(Vec<Val>),
    Dict(Vec<(Vec<u8>, Val)>),
    Other,
}

type Dict = Vec<(Vec<u8>, Val)>;

fn get<'d>(d: &'d Dict, key: &[u8]) -> Option<&'d Val> {
    d.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn get_int(d: &Dict, key: &[u8]) -> Option<i64> {
    match get(d, key) {
        Some(Val::Int(i)) => Some(*i),
        _ => None,
    }
}

fn to_dict(items: Vec<Val>) -> Dict {
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or(Val::Other);
        if let Val::Name(k) = k {
            out.push((k, v));
        }
    }
    out
}

/// `N G` as lopdf reads an object id or a reference (`N G R`): a u32 and a u16.
fn id_of(n: &Val, g: &Val) -> Option<Val> {
    match (n, g) {
        (Val::Int(n), Val::Int(g)) => Some(Val::Ref(u32::try_from(*n).ok()?, u16::try_from(*g).ok()?)),
        _ => None,
    }
}

/// Values kept per object; beyond this they are counted for nesting only.
const KEEP: usize = 100_000;
/// The longest name kept.
const NAME_MAX: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The whole file, start to end.
    File,
    /// One indirect object (or `xref` table and trailer) from an offset lopdf will parse at.
    OneObject,
    /// An object stream's decoded content (no streams inside).
    ObjStm,
    /// One object of an object stream, from its offset.
    OneObjStm,
}

struct Scanner<'l> {
    limits: &'l ScanLimits,
    scan: Scan,
    xref_entries: usize,
    inflated_total: usize,
    /// Where `N G obj` starts, for the offsets check.
    object_starts: HashSet<usize>,
    xref_keywords: HashSet<usize>,
    /// Offsets lopdf parses objects at (cross-reference entries), once per entry.
    to_verify: Vec<i64>,
    /// Where lopdf reads cross-reference data (startxref, /Prev, /XRefStm).
    xref_positions: Vec<i64>,
    /// Scanning the object at a cross-reference position: lopdf decodes a stream there as a
    /// cross-reference stream, whatever its /Type.
    at_xref: bool,
    /// Stream data already checked (by where it starts, and whether as a cross-reference stream).
    streams_done: HashSet<(usize, bool)>,
    rescanned: usize,
    rescan_budget: usize,
    /// The object being scanned in the file: its id, where `N G obj` starts, what had been inflated then.
    current: Option<((u32, u16), usize, usize)>,
    /// Objects that are streams.
    stream_ids: HashSet<(u32, u16)>,
    /// Objects an indirect /Length points at.
    length_refs: HashSet<(u32, u16)>,
    /// Where each object of the linear pass starts, and what lopdf parses there (bytes, and bytes its
    /// object stream inflates to).
    spans: HashMap<usize, usize>,
}

impl Scanner<'_> {
    fn too_deep(&self, at: usize, what: &str) -> String {
        format!(
            "the PDF nests arrays or dictionaries more than {} levels deep{what} (at byte {at}); no normal PDF \
             does that and it crashes PDF readers; {AGAIN}",
            self.limits.max_depth
        )
    }

    fn out_of_memory(&self) -> String {
        format!(
            "a compressed object stream in the PDF expands past the memory the validator may use (a \
             decompression bomb, or a file too large to check); {AGAIN}"
        )
    }

    fn count_objects(&mut self, n: usize) -> Result<(), String> {
        self.scan.objects = self.scan.objects.saturating_add(n);
        if self.scan.objects > self.limits.max_objects {
            return Err(format!(
                "the PDF has more than {} objects, far more than a printable document needs; {AGAIN}",
                self.limits.max_objects
            ));
        }
        Ok(())
    }

    fn count_xref_entries(&mut self, n: usize) -> Result<(), String> {
        self.xref_entries = self.xref_entries.saturating_add(n);
        if self.xref_entries > self.limits.max_objects.saturating_mul(2) {
            return Err(format!(
                "the PDF's cross-reference lists more than {} entries, far more than a printable document \
                 needs; {AGAIN}",
                self.limits.max_objects.saturating_mul(2)
            ));
        }
        Ok(())
    }

    /// Scans `buf` from `start` in `mode`. Returns where each top-level value started (object streams).
    fn run(&mut self, buf: &[u8], start: usize, mode: Mode) -> Result<HashSet<usize>, String> {
        let one = matches!(mode, Mode::OneObject | Mode::OneObjStm);
        let in_objstm = matches!(mode, Mode::ObjStm | Mode::OneObjStm);
        let mut lx = Lexer { b: buf, pos: start };
        let mut stack: Vec<(Kind, Vec<Val>)> = Vec::new();
        // The last two top-level values with where they started (`N G obj`, `N G R`).
        let mut window: Vec<(usize, Val)> = Vec::new();
        let mut kept = 0usize;
        let mut value_starts = HashSet::new();
        // Classic xref table: the ints since the last entry; then the trailer.
        let mut in_xref = false;
        let mut xref_ints: Vec<i64> = Vec::new();
        let mut expect_trailer = false;
        let mut expect_startxref = false;
        // OneObject: seen `obj` (or `xref`), and a complete value after it.
        let mut begun = false;
        let mut value_done = false;
        let mut leading = 0usize;
        // OneObject: the id of the object scanned.
        let mut one_id: Option<(u32, u16)> = None;
        loop {
            let (at, tok) = lx.next();
            if one && value_done && !matches!(tok, Tok::Word(b"stream")) {
                break;
            }
            // lopdf expects `N G obj` (or `xref`) at an offset and gives up on anything else.
            if mode == Mode::OneObject && !begun {
                leading += 1;
                let fits = match tok {
                    Tok::Int(_) => leading <= 2,
                    Tok::Word(b"obj") => leading == 3,
                    Tok::Word(b"xref") => leading == 1,
                    _ => false,
                };
                if !fits {
                    break;
                }
            }
            if one {
                let scanned = lx.pos.saturating_sub(start);
                if self.rescanned.saturating_add(scanned) > self.rescan_budget {
                    return Err(format!(
                        "the PDF's cross-reference points into the middle of other data again and again; the \
                         file is damaged or crafted; {AGAIN}"
                    ));
                }
            }
            if stack.is_empty() && in_objstm && !matches!(tok, Tok::Close | Tok::End) {
                value_starts.insert(at);
            }
            // A complete value at this point, to add to its container or to the top level.
            let done: Option<Val> = match tok {
                Tok::End => break,
                Tok::Open(kind) => {
                    if stack.len() >= self.limits.max_depth {
                        let what = if in_objstm { " inside a compressed object stream" } else { "" };
                        return Err(self.too_deep(at, what));
                    }
                    stack.push((kind, Vec::new()));
                    None
                }
                Tok::Close => match stack.pop() {
                    Some((Kind::Array, items)) => Some(Val::Array(items)),
                    Some((Kind::Dict, items)) => Some(Val::Dict(to_dict(items))),
                    None => None,
                },
                Tok::Name(raw) => {
                    let n = decode_name(raw);
                    if n == b"Encrypt" {
                        self.scan.encrypted = true;
                    }
                    Some(Val::Name(n))
                }
                Tok::Int(i) => {
                    if expect_startxref && stack.is_empty() {
                        self.xref_positions.push(i);
                        expect_startxref = false;
                    }
                    if in_xref && stack.is_empty() {
                        xref_ints.push(i);
                        if xref_ints.len() > 2 {
                            xref_ints.remove(0);
                        }
                    }
                    Some(Val::Int(i))
                }
                Tok::Scalar => Some(Val::Other),
                Tok::Word(w) => {
                    match w {
                        b"R" => {
                            let items = match stack.last_mut() {
                                Some((_, items)) => items,
                                None => {
                                    // `N G R` at the top level: a value of its own.
                                    let n = window.len();
                                    if n >= 2 {
                                        if let Some(id) = id_of(&window[n - 2].1, &window[n - 1].1) {
                                            window.truncate(n - 2);
                                            window.push((at, id));
                                        }
                                    }
                                    continue;
                                }
                            };
                            let n = items.len();
                            if n >= 2 {
                                if let Some(id) = id_of(&items[n - 2], &items[n - 1]) {
                                    items.truncate(n - 2);
                                    items.push(id);
                                }
                            }
                            continue;
                        }
                        b"obj" if !in_objstm => {
                            let n = window.len();
                            let mut id = None;
                            if n >= 2 {
                                if let Some(Val::Ref(num, gen)) = id_of(&window[n - 2].1, &window[n - 1].1) {
                                    self.object_starts.insert(window[n - 2].0);
                                    id = Some(((num, gen), window[n - 2].0));
                                }
                            }
                            if one && begun {
                                break;
                            }
                            if mode == Mode::File {
                                self.close_object(at);
                                self.current = id.map(|(id, start)| (id, start, self.inflated_total));
                            } else {
                                one_id = id.map(|(id, _)| id);
                            }
                            begun = true;
                            self.count_objects(1)?;
                            stack.clear();
                            kept = 0;
                            in_xref = false;
                        }
                        b"endobj" if !in_objstm => {
                            stack.clear();
                            if mode == Mode::File {
                                self.close_object(lx.pos);
                            }
                            if one {
                                break;
                            }
                        }
                        b"stream" if !in_objstm => {
                            let dict = match (stack.is_empty(), window.last()) {
                                (true, Some((_, Val::Dict(d)))) => Some(d.clone()),
                                _ => None,
                            };
                            let id = if mode == Mode::File { self.current.map(|(id, _, _)| id) } else { one_id };
                            if let Some(id) = id {
                                self.stream_ids.insert(id);
                            }
                            stack.clear();
                            lx.pos = self.stream(buf, lx.pos, dict.as_ref())?;
                            if one {
                                break;
                            }
                        }
                        b"xref" if !in_objstm && stack.is_empty() => {
                            self.xref_keywords.insert(at);
                            in_xref = true;
                            xref_ints.clear();
                            begun = true;
                        }
                        b"n" | b"f" if in_xref && stack.is_empty() => {
                            self.count_xref_entries(1)?;
                            if w == b"n" && xref_ints.len() == 2 {
                                self.to_verify.push(xref_ints[0]);
                            }
                            xref_ints.clear();
                        }
                        b"trailer" if !in_objstm => {
                            in_xref = false;
                            expect_trailer = true;
                            stack.clear();
                        }
                        b"startxref" if !in_objstm => expect_startxref = true,
                        _ => {}
                    }
                    window.clear();
                    continue;
                }
            };
            let Some(val) = done else { continue };
            match stack.last_mut() {
                Some((_, items)) => {
                    if kept < KEEP {
                        kept += 1;
                        items.push(val);
                    }
                }
                None => {
                    if let Val::Dict(d) = &val {
                        if expect_trailer {
                            expect_trailer = false;
                            self.follow_xref_links(d);
                            if one {
                                value_done = true;
                            }
                        }
                    }
                    if one && begun && !in_xref && !expect_trailer {
                        value_done = true;
                    }
                    if mode == Mode::OneObjStm {
                        break;
                    }
                    window.push((at, val));
                    if window.len() > 2 {
                        window.remove(0);
                    }
                }
            }
        }
        if one {
            self.rescanned = self.rescanned.saturating_add(lx.pos.saturating_sub(start));
        }
        if mode == Mode::File {
            self.close_object(buf.len());
        }
        Ok(value_starts)
    }

    /// A trailer's or cross-reference stream's `/Prev` and `/XRefStm`: more cross-reference positions
    /// lopdf reads.
    fn follow_xref_links(&mut self, dict: &Dict) {
        for key in [&b"Prev"[..], b"XRefStm"] {
            if let Some(off) = get_int(dict, key) {
                self.xref_positions.push(off);
            }
        }
    }

    /// The object of the linear pass ends at `end`: notes what lopdf parses at its start.
    fn close_object(&mut self, end: usize) {
        if let Some((_, start, inflated)) = self.current.take() {
            let span = end.saturating_sub(start).saturating_add(self.inflated_total - inflated);
            self.spans.insert(start, span);
        }
    }

    /// A stream whose `stream` keyword ends at `after`: checks its dictionary and, for object streams and
    /// cross-reference streams, its decoded content. Returns where scanning goes on (after `endstream`).
    fn stream(&mut self, buf: &[u8], after: usize, dict: Option<&Dict>) -> Result<usize, String> {
        let mut data = after;
        if buf.get(data) == Some(&b'\r') {
            data += 1;
        }
        if buf.get(data) == Some(&b'\n') {
            data += 1;
        }
        let data = data.min(buf.len());
        if let Some(Val::Ref(num, gen)) = dict.and_then(|d| get(d, b"Length")) {
            self.length_refs.insert((*num, *gen));
        }
        let declared = dict.and_then(|d| get_int(d, b"Length"));
        if let Some(n) = declared {
            if n < 0 {
                return Err(format!(
                    "a stream in the PDF declares a negative length ({n} bytes); the file is damaged or crafted; \
                     {AGAIN}"
                ));
            }
            if n as u64 > buf.len() as u64 {
                return Err(format!(
                    "a stream in the PDF declares a length of {n} bytes, more than the whole file ({} bytes); the \
                     file is damaged or crafted; {AGAIN}",
                    buf.len()
                ));
            }
        }
        // Where the data ends: at the declared length when `endstream` follows it, else at the next
        // `endstream` (as a repairing reader does), else at the end of the file.
        let end = declared
            .map(|n| data.saturating_add(n as usize))
            .filter(|&e| e <= buf.len() && buf[skip_space(buf, e)..].starts_with(b"endstream"))
            .or_else(|| find(buf, data, b"endstream"))
            .unwrap_or(buf.len());
        let resume = if buf[skip_space(buf, end)..].starts_with(b"endstream") {
            skip_space(buf, end) + b"endstream".len()
        } else {
            buf.len()
        };
        let Some(dict) = dict else { return Ok(resume) };
        let filters: Vec<Vec<u8>> = match get(dict, b"Filter") {
            Some(Val::Name(n)) => vec![n.clone()],
            Some(Val::Array(items)) => {
                items.iter().map(|v| if let Val::Name(n) = v { n.clone() } else { Vec::new() }).collect()
            }
            _ => Vec::new(),
        };
        if filters.len() > self.limits.max_filters {
            return Err(format!(
                "a stream in the PDF stacks {} compression filters (at most {} are accepted), the shape of a \
                 decompression bomb; {AGAIN}",
                filters.len(),
                self.limits.max_filters
            ));
        }
        // lopdf decodes whatever stream it finds at a cross-reference position as a cross-reference
        // stream; elsewhere it inflates object streams only (cross-reference streams are checked too).
        let kind = match get(dict, b"Type") {
            _ if self.at_xref => Some(Kind::Dict),
            Some(Val::Name(n)) if n == b"ObjStm" => Some(Kind::Array),
            Some(Val::Name(n)) if n == b"XRef" => Some(Kind::Dict),
            _ => None,
        };
        let Some(kind) = kind else { return Ok(resume) };
        if !self.streams_done.insert((data, kind == Kind::Dict)) {
            return Ok(resume);
        }
        self.scan.structural_streams += 1;
        let raw = &buf[data..end.max(data)];
        let parms = match get(dict, b"DecodeParms") {
            Some(Val::Dict(d)) => Some(d),
            _ => None,
        };
        let decoded = self.decode_like_lopdf(raw, &filters, parms)?;
        if kind == Kind::Dict {
            // lopdf fails on a cross-reference stream it cannot decode: nothing more to check then.
            if let Some(content) = decoded {
                self.xref_stream(dict, &content)?;
            }
        } else {
            // lopdf parses the raw bytes as objects when it cannot decode them.
            self.object_stream(dict, decoded.as_deref().unwrap_or(raw))?;
        }
        Ok(resume)
    }

    /// Decodes a structural stream as lopdf 0.38's `Stream::decompressed_content` does (filters in order;
    /// Flate and LZW output through the PNG predictor of `/DecodeParms`), with its output capped. `None`
    /// where lopdf fails (a filter it does not know).
    fn decode_like_lopdf(
        &mut self,
        raw: &[u8],
        filters: &[Vec<u8>],
        parms: Option<&Dict>,
    ) -> Result<Option<Vec<u8>>, String> {
        if filters.is_empty() {
            return Ok(Some(raw.to_vec()));
        }
        let cap = self.limits.max_stream_bytes;
        let mut data: Vec<u8> = raw.to_vec();
        for f in filters {
            let out = match f.as_slice() {
                b"FlateDecode" => {
                    check_predictor(parms)?;
                    inflate_capped(&data, cap).ok_or_else(|| self.out_of_memory())?
                }
                b"LZWDecode" => {
                    check_predictor(parms)?;
                    lzw_capped(&data, parms, cap).ok_or_else(|| self.out_of_memory())?
                }
                b"ASCII85Decode" => match ascii85_capped(&data, cap) {
                    Some(out) => out,
                    None => return Ok(None),
                },
                _ => return Ok(None),
            };
            if out.len() > cap {
                return Err(format!(
                    "a compressed object stream in the PDF expands to more than {} MB (a decompression bomb); \
                     {AGAIN}",
                    cap / (1024 * 1024)
                ));
            }
            self.inflated_total = self.inflated_total.saturating_add(out.len());
            if self.inflated_total > self.limits.max_total_stream_bytes {
                return Err(format!(
                    "the PDF's compressed object streams expand to more than {} MB together (a decompression \
                     bomb); {AGAIN}",
                    self.limits.max_total_stream_bytes / (1024 * 1024)
                ));
            }
            data = out;
        }
        Ok(Some(data))
    }

    fn xref_stream(&mut self, dict: &Dict, content: &[u8]) -> Result<(), String> {
        let bad = |why: &str| {
            format!("the PDF's cross-reference stream is invalid ({why}); the file is damaged or crafted; {AGAIN}")
        };
        let widths: Vec<i64> = match get(dict, b"W") {
            Some(Val::Array(items)) => items.iter().map(|v| if let Val::Int(i) = v { *i } else { -1 }).collect(),
            _ => return Ok(()), // lopdf refuses it
        };
        if widths.len() < 3 {
            return Ok(()); // lopdf refuses it
        }
        if widths.iter().any(|w| !(0..=8).contains(w)) {
            return Err(bad("a field width /W outside 0-8 bytes"));
        }
        let w: Vec<usize> = widths[..3].iter().map(|&x| x as usize).collect();
        let row = w.iter().sum::<usize>();
        if row == 0 {
            return Err(bad("all field widths /W are 0"));
        }
        self.follow_xref_links(dict);
        let size = get_int(dict, b"Size").unwrap_or(0);
        if size > self.limits.max_objects as i64 {
            return Err(format!(
                "the PDF declares {size} objects (/Size), more than the {} accepted; {AGAIN}",
                self.limits.max_objects
            ));
        }
        let index: Vec<i64> = match get(dict, b"Index") {
            Some(Val::Array(items)) => items.iter().map(|v| if let Val::Int(i) = v { *i } else { 0 }).collect(),
            _ => vec![0, size],
        };
        let mut total = 0usize;
        for pair in index.chunks(2) {
            if let [_, count] = pair {
                total = total.saturating_add((*count).max(0) as usize);
            }
        }
        self.count_xref_entries(total)?;
        // The offsets of objects stored plainly (type 1), which lopdf parses at.
        let field =
            |bytes: &[u8]| bytes.iter().fold(0i64, |acc, &b| acc.saturating_mul(256).saturating_add(i64::from(b)));
        for entry in content.chunks_exact(row).take(total) {
            let kind = if w[0] == 0 { 1 } else { field(&entry[..w[0]]) };
            if kind == 1 {
                self.to_verify.push(field(&entry[w[0]..w[0] + w[1]]));
            }
        }
        Ok(())
    }

    fn object_stream(&mut self, dict: &Dict, content: &[u8]) -> Result<(), String> {
        if content.is_empty() {
            return Ok(());
        }
        let n = get_int(dict, b"N").unwrap_or(0).max(0);
        self.count_objects(usize::try_from(n).unwrap_or(usize::MAX))?;
        let Some(first) = get_int(dict, b"First").and_then(|f| usize::try_from(f).ok()) else { return Ok(()) };
        let Some(header) = content.get(..first) else { return Ok(()) };
        // The whole content once, then each listed offset that did not start a value in that pass.
        let starts = self.run(content, first, Mode::ObjStm)?;
        let numbers: Vec<usize> =
            std::str::from_utf8(header).unwrap_or("").split_whitespace().map(|t| t.parse().unwrap_or(0)).collect();
        if numbers.len() / 2 > self.limits.max_objects {
            return Err(format!(
                "the PDF has more than {} objects, far more than a printable document needs; {AGAIN}",
                self.limits.max_objects
            ));
        }
        let mut seen = HashSet::new();
        for pair in numbers.chunks_exact(2) {
            let at = first.saturating_add(pair[1]);
            if at >= content.len() || !seen.insert(at) {
                continue;
            }
            let at = skip_space(content, at);
            if !starts.contains(&at) {
                self.run(content, at, Mode::OneObjStm)?;
            }
        }
        Ok(())
    }
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

/// The PNG predictor parameters lopdf multiplies without checks: refused when they make no sense.
fn check_predictor(parms: Option<&Dict>) -> Result<(), String> {
    let Some(p) = parms else { return Ok(()) };
    let predictor = get_int(p, b"Predictor").unwrap_or(1);
    if !(10..=15).contains(&predictor) {
        return Ok(());
    }
    let columns = get_int(p, b"Columns").unwrap_or(1);
    let colors = get_int(p, b"Colors").unwrap_or(1);
    let bits = get_int(p, b"BitsPerComponent").unwrap_or(8);
    if !(i64::MIN..=1 << 20).contains(&columns) || colors > 32 || bits > 32 {
        return Err(format!(
            "a compressed object stream in the PDF has impossible decoding parameters (Columns {columns}, Colors \
             {colors}, BitsPerComponent {bits}); the file is damaged or crafted; {AGAIN}"
        ));
    }
    Ok(())
}

/// zlib-inflates at most `cap + 1` bytes (one more than allowed, so the caller sees it was too much). A
/// damaged stream yields what was inflated before the damage, as lopdf does. `None` when memory for the
/// output cannot be had (under the contained validator's memory limit): never a silently short result.
fn inflate_capped(input: &[u8], cap: usize) -> Option<Vec<u8>> {
    let mut out = Capped { out: Vec::new(), cap, oom: false };
    if input.is_empty() {
        return Some(out.out);
    }
    let mut decoder = flate2::read::ZlibDecoder::new(input);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match decoder.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if std::io::Write::write_all(&mut out, &buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    (!out.oom).then_some(out.out)
}

/// A writer that refuses to grow past `cap + 1` bytes, and notes when memory ran out.
struct Capped {
    out: Vec<u8>,
    cap: usize,
    oom: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = (self.cap + 1).saturating_sub(self.out.len());
        if room == 0 {
            return Err(std::io::Error::other("output cap reached"));
        }
        let n = buf.len().min(room);
        if self.out.try_reserve(n).is_err() {
            self.oom = true;
            return Err(std::io::Error::from(std::io::ErrorKind::OutOfMemory));
        }
        self.out.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// LZW-decodes (as lopdf: MSB, early change unless `/EarlyChange 0`) at most `cap + 1` bytes.
fn lzw_capped(input: &[u8], parms: Option<&Dict>, cap: usize) -> Option<Vec<u8>> {
    use weezl::{decode::Decoder, BitOrder};
    let early = parms.and_then(|p| get_int(p, b"EarlyChange")).map(|v| v != 0).unwrap_or(true);
    let mut decoder =
        if early { Decoder::with_tiff_size_switch(BitOrder::Msb, 8) } else { Decoder::new(BitOrder::Msb, 8) };
    let mut sink = Capped { out: Vec::new(), cap, oom: false };
    let _ = decoder.into_stream(&mut sink).decode_all(input);
    (!sink.oom).then_some(sink.out)
}

/// ASCII85-decodes like lopdf (stopping at the first byte outside the alphabet); `None` where lopdf fails.
fn ascii85_capped(input: &[u8], cap: usize) -> Option<Vec<u8>> {
    let input = input.strip_suffix(b"~>").unwrap_or(input);
    let mut out = Vec::new();
    let (mut buffer, mut count) = (0u32, 0usize);
    for &c in input {
        if out.len() > cap {
            break;
        }
        if c == b'z' {
            if count != 0 {
                return None;
            }
            out.extend_from_slice(&[0; 4]);
            continue;
        }
        if c.is_ascii_whitespace() {
            continue;
        }
        if !(b'!'..=b'u').contains(&c) {
            break;
        }
        buffer = buffer.checked_mul(85)?.checked_add(u32::from(c - b'!'))?;
        count += 1;
        if count == 5 {
            out.extend_from_slice(&buffer.to_be_bytes());
            (buffer, count) = (0, 0);
        }
    }
    if count > 0 {
        for _ in count..5 {
            buffer = buffer.checked_mul(85)?.checked_add(84)?;
        }
        out.extend_from_slice(&buffer.to_be_bytes()[..count - 1]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn limits() -> ScanLimits {
        ScanLimits::default()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn doc(body: &str) -> Vec<u8> {
        format!("%PDF-1.7\n1 0 obj\n{body}\nendobj\ntrailer\n<</Root 1 0 R>>\nstartxref\n0\n%%EOF\n").into_bytes()
    }

    #[test]
    fn ordinary_nesting_passes_and_deep_nesting_is_refused() {
        let ok = doc(&format!("<</A {}1{}>>", "[".repeat(98), "]".repeat(98)));
        assert!(prescan(&ok, &limits()).is_ok());
        let deep = doc(&format!("<</A {}1{}>>", "[".repeat(5000), "]".repeat(5000)));
        let e = prescan(&deep, &limits()).unwrap_err();
        assert!(e.contains("more than 100 levels deep") && e.contains("export it again"), "{e}");
        let dicts = doc(&"<</A ".repeat(200));
        assert!(prescan(&dicts, &limits()).unwrap_err().contains("levels deep"));
    }

    #[test]
    fn brackets_in_strings_comments_and_streams_do_not_count() {
        let s = "[".repeat(500);
        let body = format!("<</Length {}>>\nstream\n{s}\nendstream", s.len() + 1);
        let text = format!(
            "%PDF-1.7\n% {s}\n1 0 obj\n<</T ({s}) /H <5b5b>>>\nendobj\n2 0 obj\n{body}\nendobj\ntrailer <<>>\n%%EOF"
        );
        assert_eq!(prescan(text.as_bytes(), &limits()), Ok(Scan { objects: 2, ..Scan::default() }));
    }

    #[test]
    fn nesting_hidden_in_an_object_stream_is_found() {
        let objects = format!("[{}]", "[".repeat(300));
        let content = format!("5 0 {objects}");
        let first = 4;
        let data = zlib(content.as_bytes());
        let mut pdf = format!(
            "%PDF-1.7\n1 0 obj\n<</Type/ObjStm/N 1/First {first}/Filter/FlateDecode/Length {}>>\nstream\n",
            data.len()
        )
        .into_bytes();
        pdf.extend(&data);
        pdf.extend(b"\nendstream\nendobj\n%%EOF\n");
        let e = prescan(&pdf, &limits()).unwrap_err();
        assert!(e.contains("inside a compressed object stream"), "{e}");
    }

    #[test]
    fn stacked_flate_is_capped_and_long_filter_chains_are_refused() {
        let once = zlib(&vec![0u8; 80 * 1024 * 1024]);
        let twice = zlib(&once);
        assert!(twice.len() < 200 * 1024, "the bomb is small: {}", twice.len());
        let mut pdf = format!(
            "%PDF-1.7\n1 0 obj\n<</Type/ObjStm/N 1/First 4/Filter[/FlateDecode/FlateDecode]/Length {}>>\nstream\n",
            twice.len()
        )
        .into_bytes();
        pdf.extend(&twice);
        pdf.extend(b"\nendstream\nendobj\n%%EOF\n");
        let e = prescan(&pdf, &limits()).unwrap_err();
        assert!(e.contains("decompression bomb") && e.contains("64 MB"), "{e}");

        let chain = doc(
            "<</Filter[/FlateDecode/FlateDecode/FlateDecode/FlateDecode/FlateDecode]/Length 1>>\nstream\nx\nendstream",
        );
        assert!(prescan(&chain, &limits()).unwrap_err().contains("stacks 5 compression filters"));
    }

    #[test]
    fn impossible_lengths_and_xref_widths_are_refused() {
        let long = doc("<</Length 99999999>>\nstream\nx\nendstream");
        assert!(prescan(&long, &limits()).unwrap_err().contains("more than the whole file"));
        let neg = doc("<</Length -5>>\nstream\nx\nendstream");
        assert!(prescan(&neg, &limits()).unwrap_err().contains("negative length"));
        let xref = doc("<</Type/XRef/W[0 0 0]/Size 3/Index[0 4000000000]/Length 1>>\nstream\nx\nendstream");
        assert!(prescan(&xref, &limits()).unwrap_err().contains("cross-reference stream is invalid"));
        let wide = doc("<</Type/XRef/W[1 99999999 1]/Size 3/Length 1>>\nstream\nx\nendstream");
        assert!(prescan(&wide, &limits()).unwrap_err().contains("field width"));
    }

    #[test]
    fn too_many_objects_are_refused() {
        let small = ScanLimits { max_objects: 10, ..ScanLimits::default() };
        let many: String = (1..=11).map(|i| format!("{i} 0 obj\nnull\nendobj\n")).collect();
        let pdf = format!("%PDF-1.7\n{many}%%EOF");
        assert!(prescan(pdf.as_bytes(), &small).unwrap_err().contains("more than 10 objects"));
    }

    #[test]
    fn an_xref_offset_into_a_string_is_scanned_from_there() {
        // The linear pass sees one string; lopdf, sent to offset 30 by the xref table, sees deep arrays.
        let hidden = format!("2 0 obj {}", "[".repeat(400));
        let body = format!("%PDF-1.7\n1 0 obj\n({hidden})\nendobj\n");
        let at = body.find("2 0 obj").unwrap();
        let text = format!("{body}xref\n0 3\n0000000000 65535 f \n0000000009 00000 n \n{at:010} 00000 n \ntrailer\n<</Size 3>>\nstartxref\n{}\n%%EOF\n", body.len());
        let e = prescan(text.as_bytes(), &limits()).unwrap_err();
        assert!(e.contains("levels deep"), "{e}");
    }

    #[test]
    fn encryption_is_noticed() {
        let pdf = b"%PDF-1.7\ntrailer\n<</Encrypt 5 0 R>>\n%%EOF";
        assert!(prescan(pdf, &limits()).unwrap().encrypted);
    }
}
