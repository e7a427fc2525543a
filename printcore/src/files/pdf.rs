//! PDF validation with lopdf: it parses, has pages, each page has a size, it is not encrypted. The report
//! carries what the capability check and the admin need: bytes, pages, page sizes (mm, nearest named
//! size) and the sha256 of the bytes.

use crate::error::{Error, Result};
use lopdf::{Dictionary, Document, Object};
use serde::Serialize;
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

/// One page's size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PageSize {
    pub width_mm: f64,
    pub height_mm: f64,
    /// The named size within 3 mm, either orientation (`None` for a custom size).
    pub name: Option<&'static str>,
}

impl PageSize {
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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileReport {
    /// The file's URL without its query string.
    pub url: String,
    pub bytes: u64,
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

/// Validates `bytes` as the PDF of order `order_id` (fetched from `url`). Every problem is a permanent
/// `Error::File` with a message an admin can act on; nothing here panics, whatever the bytes.
pub fn validate_pdf(order_id: &str, url: &str, bytes: &[u8]) -> Result<FileReport> {
    let url = crate::files::display_url(url);
    if bytes.is_empty() {
        return Err(invalid(order_id, &url, "the file is empty; ask the customer to upload it again"));
    }
    let head = &bytes[..bytes.len().min(1024)];
    if !head.windows(5).any(|w| w == b"%PDF-") {
        let start = String::from_utf8_lossy(&bytes[..bytes.len().min(40)]).replace(|c: char| c.is_control(), " ");
        return Err(invalid(
            order_id,
            &url,
            format!("the file is not a PDF (it starts with {start:?}); ask the customer to upload a PDF"),
        ));
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
                format!("the PDF is damaged or truncated ({e}); ask the customer to export it again"),
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
    let pages = doc.get_pages();
    if pages.is_empty() {
        return Err(invalid(order_id, &url, "the PDF has no pages; ask the customer to upload the right file"));
    }
    let mut page_sizes = Vec::with_capacity(pages.len());
    for (number, id) in &pages {
        let dict = doc.get_dictionary(*id).map_err(|e| {
            invalid(
                order_id,
                &url,
                format!("page {number} of the PDF cannot be read ({e}); ask the customer to export it again"),
            )
        })?;
        let (w, h) = media_box(&doc, dict).ok_or_else(|| {
            invalid(
                order_id,
                &url,
                format!(
                    "page {number} of the PDF has no valid page size (MediaBox); ask the customer to export it again"
                ),
            )
        })?;
        page_sizes.push(PageSize::from_points(w, h));
    }
    Ok(FileReport { url, bytes: bytes.len() as u64, pages: pages.len() as u32, page_sizes, sha256: sha256_hex(bytes) })
}

fn encrypted(order_id: &str, url: &str) -> Error {
    invalid(order_id, url, "the PDF is encrypted or password-protected; ask the customer for an unprotected file")
}

fn mentions_encrypt(bytes: &[u8]) -> bool {
    bytes.windows(8).any(|w| w == b"/Encrypt")
}

/// The page's MediaBox width and height in points, inherited from its parents when the page has none.
fn media_box(doc: &Document, page: &Dictionary) -> Option<(f64, f64)> {
    let mut dict = page;
    // A page tree deeper than this is a loop or an attack.
    for _ in 0..64 {
        if let Ok(obj) = dict.get(b"MediaBox") {
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
            return Some((w, h));
        }
        let parent = dict.get(b"Parent").ok()?.as_reference().ok()?;
        dict = doc.get_dictionary(parent).ok()?;
    }
    None
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

    #[test]
    fn not_a_pdf_says_what_it_is() {
        let e = validate_pdf("1234", "https://x/y.pdf?sig=secret", b"<!DOCTYPE html><html>").unwrap_err();
        let m = e.to_string();
        assert!(m.contains("order 1234") && m.contains("not a PDF") && m.contains("DOCTYPE"), "{m}");
        assert!(!m.contains("secret"), "query strings stay out of messages: {m}");
        assert!(!e.is_transient());
    }
}
