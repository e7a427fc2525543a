//! PDF validation with lopdf: it parses, has pages, each page has a size, it is not encrypted. The report
//! carries what the capability check and the admin need: bytes, pages, page sizes (mm, nearest named
//! size) and the sha256 of the bytes.

use crate::error::{Error, Result};
use crate::files::prescan::{prescan, ScanLimits};
use lopdf::{Dictionary, Document, Object};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Named paper sizes in millimetres (portrait), for naming a page's size.
pub const NAMED_SIZES: [(&str, f64, f64); 14] = [
    ("A0", 841.0, 1189.0),
    ("A1", 594.0, 841.0),
    ("A2", 420.0, 594.0),
    ("A3", 297.0, 420.0),
    ("A4", 210.0, 297.0),
    ("A5", 148.0, 210.0),
    ("A6", 105.0, 148.0),
    ("B4", 250.0, 353.0),
    ("B5", 176.0, 250.0),
    ("Letter", 215.9, 279.4),
    ("Legal", 215.9, 355.6),
    ("Tabloid", 279.4, 431.8),
    ("Executive", 184.2, 266.7),
    ("Statement", 139.7, 215.9),
];

/// How far (mm, per side) a page may be from a named size and still carry its name.
const NAME_TOLERANCE_MM: f64 = 3.0;

/// One page's size. Read back (from the contained validator's JSON) by its millimetres; the name is
/// derived again.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PageSize {
    /// Width in millimetres, to a tenth.
    pub width_mm: f64,
    /// Height in millimetres, to a tenth.
    pub height_mm: f64,
    /// The named size within 3 mm, either orientation (`None` for a custom size).
    pub name: Option<&'static str>,
}

impl PageSize {
    /// A page of `width_pt` by `height_pt` PDF points (1/72 inch), with its nearest named size.
    ///
    /// ```
    /// use printcore::files::PageSize;
    /// let a4 = PageSize::from_points(595.0, 842.0);
    /// assert_eq!((a4.width_mm, a4.height_mm, a4.name), (209.9, 297.0, Some("A4")));
    /// ```
    pub fn from_points(width_pt: f64, height_pt: f64) -> PageSize {
        let mm = |pt: f64| (pt.abs() * 25.4 / 72.0 * 10.0).round() / 10.0;
        let (w, h) = (mm(width_pt), mm(height_pt));
        PageSize { width_mm: w, height_mm: h, name: nearest_named(w, h) }
    }

    /// The name, or `W×H mm` for a custom size.
    pub fn label(&self) -> String {
        match self.name {
            Some(n) => n.to_owned(),
            None => format!("{}×{} mm", self.width_mm, self.height_mm),
        }
    }
}

#[derive(Deserialize)]
struct PageSizeWire {
    width_mm: f64,
    height_mm: f64,
}

impl<'de> Deserialize<'de> for PageSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<PageSize, D::Error> {
        let w = PageSizeWire::deserialize(d)?;
        Ok(PageSize { width_mm: w.width_mm, height_mm: w.height_mm, name: nearest_named(w.width_mm, w.height_mm) })
    }
}

/// The named size within the tolerance of `w`×`h` mm, in either orientation.
pub fn nearest_named(w: f64, h: f64) -> Option<&'static str> {
    let (short, long) = if w <= h { (w, h) } else { (h, w) };
    NAMED_SIZES
        .iter()
        .filter(|(_, sw, sh)| (short - sw).abs() <= NAME_TOLERANCE_MM && (long - sh).abs() <= NAME_TOLERANCE_MM)
        .min_by(|a, b| {
            let da = (short - a.1).abs() + (long - a.2).abs();
            let db = (short - b.1).abs() + (long - b.2).abs();
            da.total_cmp(&db)
        })
        .map(|(n, _, _)| *n)
}

/// What validation found in one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileReport {
    /// The file's URL without its query string.
    pub url: String,
    /// The file's size in bytes.
    pub bytes: u64,
    /// Its page count.
    pub pages: u32,
    /// Each page's size, in page order.
    pub page_sizes: Vec<PageSize>,
    /// Lower-case hex sha256 of the bytes.
    pub sha256: String,
}

impl FileReport {
    /// The distinct page sizes, by label, in first-seen order.
    pub fn distinct_sizes(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for p in &self.page_sizes {
            let l = p.label();
            if !out.contains(&l) {
                out.push(l);
            }
        }
        out
    }
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn invalid(order_id: &str, url: &str, message: impl Into<String>) -> Error {
    Error::File { order_id: order_id.to_owned(), url: url.to_owned(), message: message.into(), transient: false }
}

/// Validates `bytes` as the PDF of order `order_id` (fetched from `url`) under the default
/// [`ScanLimits`]. Every problem is a permanent `Error::File` with a message an admin can act on; nothing
/// here panics, overflows the stack or allocates without bound, whatever the bytes.
///
/// ```
/// use lopdf::{dictionary, Document, Object};
/// use printcore::files::{check_capabilities, validate_pdf};
/// use printcore::{Order, PrinterCapabilities};
///
/// // A one-page A4 PDF.
/// let mut doc = Document::with_version("1.5");
/// let pages = doc.new_object_id();
/// let page = doc.add_object(dictionary! { "Type" => "Page", "Parent" => pages });
/// doc.objects.insert(pages, Object::Dictionary(dictionary! {
///     "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1,
///     "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
/// }));
/// let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages });
/// doc.trailer.set("Root", catalog);
/// let mut bytes = Vec::new();
/// doc.save_to(&mut bytes).unwrap();
///
/// let report = validate_pdf("ORD-1", "https://res.cloudinary.com/shop/a.pdf", &bytes).unwrap();
/// assert_eq!(report.pages, 1);
/// assert_eq!(report.page_sizes[0].name, Some("A4"));
///
/// // The order asks for A3: a printer with only A4 cannot take it, and the message says why.
/// let order = Order::from_document(bson::doc! {
///     "_id": bson::oid::ObjectId::new(), "orderId": "ORD-1", "printingOptions": { "pageSize": "A3" },
/// }).unwrap();
/// let a4_only = PrinterCapabilities::default();
/// let refused = check_capabilities(&order, &[report], "Front desk", &a4_only).unwrap_err();
/// assert!(refused.to_string().contains("A3"), "{refused}");
///
/// // Bytes that are not a PDF are refused with a message, never a panic.
/// assert!(validate_pdf("ORD-1", "https://res.cloudinary.com/shop/a.pdf", b"<html>").is_err());
/// ```
pub fn validate_pdf(order_id: &str, url: &str, bytes: &[u8]) -> Result<FileReport> {
    validate_pdf_with(order_id, url, bytes, &ScanLimits::default())
}

/// The stack validation runs on. lopdf parses nesting by recursion: at the pre-scan's 100 levels a debug
/// build needs about 3 MB (more than a tokio blocking thread's 2 MB), a release build well under 1 MB.
pub const VALIDATION_STACK_BYTES: usize = 16 * 1024 * 1024;

/// [`validate_pdf`] under the given limits: the bounded pre-scan ([`prescan`]) first, then lopdf, then a
/// page-tree walk that detects loops. Runs on a thread of its own with [`VALIDATION_STACK_BYTES`] of
/// stack, so the caller's stack size does not matter.
pub fn validate_pdf_with(order_id: &str, url: &str, bytes: &[u8], limits: &ScanLimits) -> Result<FileReport> {
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("pdf-validation".into())
            .stack_size(VALIDATION_STACK_BYTES)
            .spawn_scoped(scope, || validate_here(order_id, url, bytes, limits));
        match spawned.map(|t| t.join()) {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(invalid(
                order_id,
                &crate::files::display_url(url),
                "the PDF could not be read (the parser failed on it); ask the customer to export it again",
            )),
            Err(e) => Err(Error::File {
                order_id: order_id.to_owned(),
                url: crate::files::display_url(url),
                message: format!("validation could not start ({e}); will retry"),
                transient: true,
            }),
        }
    })
}

fn validate_here(order_id: &str, url: &str, bytes: &[u8], limits: &ScanLimits) -> Result<FileReport> {
    let url = crate::files::display_url(url);
    if bytes.is_empty() {
        return Err(invalid(order_id, &url, "the file is empty; ask the customer to upload it again"));
    }
    let head = &bytes[..bytes.len().min(1024)];
    if !head.windows(5).any(|w| w == b"%PDF-") {
        // What it looks like, never its bytes: the customer controls them, and printError is shown to
        // admins.
        return Err(invalid(
            order_id,
            &url,
            format!("the file is not a PDF ({}); ask the customer to upload a PDF", looks_like(head)),
        ));
    }
    // lopdf recurses on nesting and inflates without bound: nothing reaches it that the pre-scan refused.
    let scan = prescan(bytes, limits).map_err(|m| invalid(order_id, &url, m))?;
    if scan.encrypted {
        return Err(encrypted(order_id, &url));
    }
    // lopdf is not written to be fed hostile bytes; a panic in it must not take the worker down.
    let parsed = std::panic::catch_unwind(|| Document::load_mem(bytes));
    let doc = match parsed {
        Ok(Ok(doc)) => doc,
        Ok(Err(e)) => {
            if mentions_encrypt(bytes) {
                return Err(encrypted(order_id, &url));
            }
            return Err(invalid(
                order_id,
                &url,
                format!("the PDF is damaged or truncated ({}); ask the customer to export it again", parser_says(&e)),
            ));
        }
        Err(_) => {
            return Err(invalid(
                order_id,
                &url,
                "the PDF could not be read (the parser failed on it); ask the customer to export it again",
            ))
        }
    };
    if doc.trailer.has(b"Encrypt") {
        return Err(encrypted(order_id, &url));
    }
    let pages = walk_pages(&doc).map_err(|m| invalid(order_id, &url, m))?;
    if pages.is_empty() {
        return Err(invalid(order_id, &url, "the PDF has no pages; ask the customer to upload the right file"));
    }
    if pages.len() > limits.max_pages as usize {
        return Err(invalid(
            order_id,
            &url,
            format!(
                "the PDF has {} pages, more than the {} one file may have ([files] max_pages); check the order \
                 with the customer, then split the file or raise the limit and reprint",
                pages.len(),
                limits.max_pages
            ),
        ));
    }
    let mut page_sizes = Vec::with_capacity(pages.len());
    for (i, size) in pages.iter().enumerate() {
        let (w, h) = size.ok_or_else(|| {
            invalid(
                order_id,
                &url,
                format!(
                    "page {} of the PDF has no valid page size (MediaBox); ask the customer to export it again",
                    i + 1
                ),
            )
        })?;
        page_sizes.push(PageSize::from_points(w, h));
    }
    Ok(FileReport { url, bytes: bytes.len() as u64, pages: pages.len() as u32, page_sizes, sha256: sha256_hex(bytes) })
}

/// What a file that is not a PDF looks like, in words (from its first bytes; none of them quoted).
pub fn looks_like(head: &[u8]) -> &'static str {
    let text = String::from_utf8_lossy(&head[..head.len().min(512)]).trim_start().to_ascii_lowercase();
    let starts = |magic: &[u8]| head.starts_with(magic);
    if starts(b"\x89PNG") {
        "it is a PNG image"
    } else if starts(b"\xff\xd8\xff") {
        "it is a JPEG image"
    } else if starts(b"GIF8") {
        "it is a GIF image"
    } else if starts(b"PK\x03\x04") {
        "it is a ZIP archive, or a Word, Excel or PowerPoint document"
    } else if starts(b"\xd0\xcf\x11\xe0") {
        "it is an old Word, Excel or PowerPoint document"
    } else if starts(b"%!PS") {
        "it is a PostScript file"
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        "it is a TIFF image"
    } else if text.starts_with("<!doctype html") || text.starts_with("<html") || text.contains("<body") {
        "it is a web page: the link may point at a download page or an error page instead of the file"
    } else if text.starts_with("<?xml") || text.starts_with("<svg") {
        "it is an XML or SVG file"
    } else if text.starts_with('{') || text.starts_with('[') {
        "it is JSON: the link may point at an API answer instead of the file"
    } else if head.iter().all(|&b| b == b'\t' || b == b'\n' || b == b'\r' || (0x20..0x7f).contains(&b)) {
        "it is plain text"
    } else {
        "it has no PDF header in its first kilobyte"
    }
}

fn encrypted(order_id: &str, url: &str) -> Error {
    invalid(order_id, url, "the PDF is encrypted or password-protected; ask the customer for an unprotected file")
}

/// lopdf's error in words safe to store: printable ASCII only, at most 120 characters (a parser error
/// must never carry the customer's bytes into printError).
fn parser_says(e: &lopdf::Error) -> String {
    let s: String = e.to_string().chars().filter(|c| c.is_ascii_graphic() || *c == ' ').take(120).collect();
    if s.is_empty() {
        "the parser could not read it".into()
    } else {
        s
    }
}

fn mentions_encrypt(bytes: &[u8]) -> bool {
    bytes.windows(8).any(|w| w == b"/Encrypt")
}

/// How deep a page tree may go. Real ones are a few levels; lopdf's own walk recurses.
pub const MAX_PAGE_TREE_DEPTH: usize = 64;

/// A MediaBox as found on a node: absent, or present and valid (`Some(Some)`) or not (`Some(None)`).
type Media = Option<Option<(f64, f64)>>;

/// The pages of `doc` in order, each with its MediaBox (its own or inherited; `None` when not valid).
/// Walks the page tree iteratively from the catalog's `/Pages`, refusing a tree that loops back on itself,
/// lists a node twice or is deeper than [`MAX_PAGE_TREE_DEPTH`], instead of reporting "no pages".
pub fn walk_pages(doc: &Document) -> std::result::Result<Vec<Option<(f64, f64)>>, String> {
    const AGAIN: &str = "the file is damaged or crafted; ask the customer to export it again";
    let root = doc
        .trailer
        .get(b"Root")
        .and_then(|r| doc.dereference(r))
        .and_then(|(_, o)| o.as_dict())
        .map_err(|_| format!("the PDF has no document catalog (Root); {AGAIN}"))?;
    let Ok(pages_ref) = root.get(b"Pages").and_then(Object::as_reference) else {
        return Ok(Vec::new());
    };
    let Ok(top) = doc.get_dictionary(pages_ref) else { return Ok(Vec::new()) };
    struct Frame {
        id: lopdf::ObjectId,
        kids: Vec<lopdf::ObjectId>,
        next: usize,
        media: Media,
    }
    let kids_of = |d: &Dictionary| -> Vec<lopdf::ObjectId> {
        d.get(b"Kids")
            .and_then(|k| doc.dereference(k))
            .and_then(|(_, k)| k.as_array())
            .map(|a| a.iter().filter_map(|o| o.as_reference().ok()).collect())
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::from([pages_ref]);
    let mut stack = vec![Frame { id: pages_ref, kids: kids_of(top), next: 0, media: media_box(doc, top) }];
    while let Some(frame) = stack.last_mut() {
        let Some(&kid) = frame.kids.get(frame.next) else {
            stack.pop();
            continue;
        };
        frame.next += 1;
        let inherited = frame.media;
        if stack.iter().any(|f| f.id == kid) {
            return Err(format!(
                "the PDF's page tree loops back on itself (object {} {} is listed below itself); {AGAIN}",
                kid.0, kid.1
            ));
        }
        if !seen.insert(kid) {
            return Err(format!("the PDF's page tree lists object {} {} more than once; {AGAIN}", kid.0, kid.1));
        }
        let Ok(dict) = doc.get_dictionary(kid) else {
            return Err(format!("the PDF's page tree refers to object {} {}, which is missing; {AGAIN}", kid.0, kid.1));
        };
        let own = media_box(doc, dict);
        let media = if own.is_some() { own } else { inherited };
        let kind = dict.get(b"Type").and_then(Object::as_name).ok();
        if kind == Some(b"Pages".as_slice()) || (kind != Some(b"Page".as_slice()) && dict.has(b"Kids")) {
            if stack.len() >= MAX_PAGE_TREE_DEPTH {
                return Err(format!("the PDF's page tree is more than {MAX_PAGE_TREE_DEPTH} levels deep; {AGAIN}"));
            }
            stack.push(Frame { id: kid, kids: kids_of(dict), next: 0, media });
        } else {
            out.push(media.flatten());
        }
    }
    Ok(out)
}

/// A node's own MediaBox width and height in points.
fn media_box(doc: &Document, node: &Dictionary) -> Media {
    let obj = node.get(b"MediaBox").ok()?;
    Some((|| {
        let (_, obj) = doc.dereference(obj).ok()?;
        let arr = obj.as_array().ok()?;
        if arr.len() != 4 {
            return None;
        }
        let mut n = [0f64; 4];
        for (i, o) in arr.iter().enumerate() {
            let (_, o) = doc.dereference(o).ok()?;
            n[i] = number(o)?;
        }
        let (w, h) = ((n[2] - n[0]).abs(), (n[3] - n[1]).abs());
        if !(w.is_finite() && h.is_finite()) || w < 1.0 || h < 1.0 || w > 14_400.0 * 10.0 || h > 14_400.0 * 10.0 {
            return None;
        }
        Some((w, h))
    })())
}

fn number(o: &Object) -> Option<f64> {
    match o {
        Object::Integer(i) => Some(*i as f64),
        Object::Real(r) => Some(*r as f64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sizes_in_either_orientation() {
        assert_eq!(PageSize::from_points(595.0, 842.0).name, Some("A4"));
        assert_eq!(PageSize::from_points(842.0, 595.0).name, Some("A4"));
        assert_eq!(PageSize::from_points(612.0, 792.0).name, Some("Letter"));
        assert_eq!(PageSize::from_points(842.0, 1191.0).name, Some("A3"));
        assert_eq!(PageSize::from_points(612.0, 1008.0).name, Some("Legal"));
        assert_eq!(PageSize::from_points(300.0, 300.0).name, None);
    }

    /// A PDF of these objects (numbered from 1, the first is the catalog) with a correct xref table.
    fn raw_pdf(objects: &[String]) -> Vec<u8> {
        let mut out = b"%PDF-1.7\n".to_vec();
        let mut offsets = Vec::new();
        for (i, body) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend(format!("{} 0 obj\n{body}\nendobj\n", i + 1).bytes());
        }
        let xref = out.len();
        out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).bytes());
        for o in offsets {
            out.extend(format!("{o:010} 00000 n \n").bytes());
        }
        out.extend(format!("trailer\n<</Size {}/Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).bytes());
        out
    }

    fn one_page(extra: impl FnOnce(&mut Document, lopdf::ObjectId, lopdf::ObjectId)) -> Vec<u8> {
        use lopdf::dictionary;
        let mut doc = Document::with_version("1.5");
        let pages = doc.new_object_id();
        let page = doc.add_object(dictionary! { "Type" => "Page", "Parent" => pages });
        doc.objects.insert(
            pages,
            Object::Dictionary(dictionary! {
                "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1,
                "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
            }),
        );
        let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages });
        doc.trailer.set("Root", catalog);
        extra(&mut doc, pages, page);
        let mut out = Vec::new();
        doc.save_to(&mut out).unwrap();
        out
    }

    #[test]
    fn a_page_tree_that_loops_back_says_so_instead_of_no_pages() {
        let bytes = one_page(|doc, pages, page| {
            // The page tree's only kid is an inner node whose kid is the root again.
            let inner = doc.add_object(
                lopdf::dictionary! { "Type" => "Pages", "Kids" => vec![pages.into(), page.into()], "Count" => 1 },
            );
            doc.get_dictionary_mut(pages).unwrap().set("Kids", vec![Object::Reference(inner)]);
        });
        let m = validate_pdf("1234", "https://x/y.pdf", &bytes).unwrap_err().to_string();
        assert!(m.contains("page tree loops back on itself") && m.contains("export it again"), "{m}");
    }

    #[test]
    fn nesting_up_to_the_limit_parses_whatever_the_callers_stack() {
        let deep = format!("{}1{}", "[".repeat(98), "]".repeat(98));
        let bytes = raw_pdf(&[
            "<</Type/Catalog/Pages 2 0 R>>".into(),
            "<</Type/Pages/Kids[3 0 R]/Count 1/MediaBox[0 0 595 842]>>".into(),
            format!("<</Type/Page/Parent 2 0 R/Deep {deep}>>"),
        ]);
        // Test threads have 2 MB stacks, like tokio's blocking threads: too small for lopdf at this depth
        // in a debug build, so validation runs on a thread of its own.
        let r = validate_pdf("1234", "https://x/y.pdf", &bytes).unwrap();
        assert_eq!(r.pages, 1);
        let back: FileReport = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r, "the report survives the contained validator's JSON");
    }

    #[test]
    fn not_a_pdf_says_what_it_is() {
        let e = validate_pdf("1234", "https://x/y.pdf?sig=secret", b"<!DOCTYPE html><html>").unwrap_err();
        let m = e.to_string();
        assert!(m.contains("order 1234") && m.contains("not a PDF") && m.contains("web page"), "{m}");
        assert!(!m.contains("secret"), "query strings stay out of messages: {m}");
        assert!(!e.is_transient());
    }

    /// printError is shown to admins and stored: none of the customer's bytes may reach it, whatever the
    /// file holds (markup, control characters, a crafted "PDF" lopdf chokes on).
    #[test]
    fn no_byte_of_the_customers_file_reaches_the_message() {
        let marker = "CUSTOMER-BYTES-7f3a";
        let files: Vec<Vec<u8>> = vec![
            format!("<html><script>alert('{marker}')</script>").into_bytes(),
            format!("{marker}\u{1b}[31m\r\n plain text").into_bytes(),
            format!("%PDF-1.7\n1 0 obj ({marker}) endobj\ntrailer <</Root 1 0 R>>\nstartxref\n9\n%%EOF").into_bytes(),
            format!("%PDF-1.7\n%{marker}\nxref\n0 1\n{marker}\n%%EOF").into_bytes(),
        ];
        for bytes in files {
            let m = validate_pdf("1234", "u", &bytes).unwrap_err().to_string();
            assert!(!m.contains(marker) && !m.contains('\u{1b}') && !m.contains("script"), "{m}");
        }
        assert_eq!(looks_like(b"\x89PNG\r\n"), "it is a PNG image");
        assert_eq!(looks_like(b"PK\x03\x04word"), "it is a ZIP archive, or a Word, Excel or PowerPoint document");
    }

    #[test]
    fn a_job_id_from_the_database_becomes_a_safe_name() {
        use crate::files::safe_name;
        let uuid = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
        assert_eq!(safe_name(uuid), uuid);
        assert_eq!(safe_name("../../etc/passwd"), "etcpasswd");
        assert_eq!(safe_name("a b\"c';rm -rf /\n\u{202e}x"), "abcrm-rfx");
        assert_eq!(safe_name("C:\\Windows\\x.pdf"), "CWindowsxpdf");
        assert_eq!(safe_name(&"x".repeat(500)).len(), 64);
    }
}
