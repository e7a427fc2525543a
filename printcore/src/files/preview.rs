//! One file of an order, downloaded for the admin's preview: the same download code, allowlist and
//! address guard as the worker's ([`FileFetcher`]), so the website hands the admin's browser the bytes,
//! never a customer's URL.

use crate::db::PrintCore;
use crate::error::{Error, Result};
use crate::files::fetch::REFUSED;
use crate::files::{display_url, FileFetcher};

/// One downloaded file of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFile {
    /// The file's bytes, at most the policy's size cap.
    pub bytes: Vec<u8>,
    /// `application/pdf` when the bytes are a PDF (`%PDF-` within the first 1024 bytes), else
    /// `application/octet-stream`. Sniffed, never the file server's own `Content-Type`: a customer's file
    /// must not reach the admin's browser as a page (HTML, SVG) it would run.
    pub content_type: String,
    /// Lowercase hex SHA-256 of `bytes` (compare with the order's `fileSha256` once printed).
    pub sha256: String,
    /// The last segment of the URL's path, percent-decoded, without control characters or slashes.
    pub file_name: Option<String>,
    /// Which of the order's files this is (0-based).
    pub index: usize,
    /// How many files the order has (`fileURLs`, else `fileURL`).
    pub count: usize,
}

/// The content type for `bytes`: PDF or opaque.
pub fn sniff_content_type(bytes: &[u8]) -> &'static str {
    let head = &bytes[..bytes.len().min(1024)];
    if head.windows(5).any(|w| w == b"%PDF-") {
        "application/pdf"
    } else {
        "application/octet-stream"
    }
}

/// The file's name as the URL gives it (its path's last segment, percent-decoded, at most 200
/// characters), or `None`.
pub fn file_name_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let last = parsed.path_segments()?.rfind(|s| !s.is_empty())?;
    let raw = last.as_bytes();
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if raw[i] == b'%' && i + 2 < raw.len() {
            if let (Some(h), Some(l)) = (hex(raw[i + 1]), hex(raw[i + 2])) {
                bytes.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        bytes.push(raw[i]);
        i += 1;
    }
    let name: String = String::from_utf8_lossy(&bytes)
        .chars()
        .filter(|c| !c.is_control() && *c != '/' && *c != '\\')
        .take(200)
        .collect();
    let name = name.trim().to_owned();
    (!name.is_empty()).then_some(name)
}

impl PrintCore {
    /// Downloads file `index` (0-based, of `fileURLs`, else `fileURL`) of order `order_id` under
    /// `fetcher`'s policy: the worker's allowlist rules (each entry allows itself and its subdomains),
    /// https only unless allowed, loopback/private addresses only when allowed and link-local never, the
    /// size cap, every redirect checked, transient failures retried. Nothing is written.
    ///
    /// Errors: `NotFound` (no such order); `InvalidArgument` (no file at `index`); `FileRejected` (the
    /// policy refuses the URL, its address or a redirect: names the order and the host); `File` (the
    /// order has no file, the server answered an error, the file is over the cap; `transient` when
    /// trying again later may work).
    pub async fn order_file(&self, order_id: &str, index: usize, fetcher: &FileFetcher) -> Result<OrderFile> {
        let order = self.order(order_id).await?;
        let urls = order.files();
        if urls.is_empty() {
            return Err(Error::File {
                order_id: order.order_id.clone(),
                url: String::new(),
                message: "the order has no file (fileURL is empty)".into(),
                transient: false,
            });
        }
        let url = *urls.get(index).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "order {}: it has {} file(s); index {index} is not one of them (0 to {})",
                order.order_id,
                urls.len(),
                urls.len() - 1
            ))
        })?;
        let rejected =
            |message: String| Error::FileRejected { order_id: order.order_id.clone(), url: display_url(url), message };
        // The policy's verdict on the URL itself, before any connection.
        if let Ok(parsed) = url::Url::parse(url) {
            fetcher.policy().check_url(&parsed).map_err(rejected)?;
        }
        let bytes = match fetcher.fetch(&order.order_id, url).await {
            Ok(bytes) => bytes,
            // Refused at connection time (the name resolves to a refused address) or by a redirect.
            Err(Error::File { message, transient: false, .. }) if message.starts_with(REFUSED) => {
                return Err(rejected(message))
            }
            Err(e) => return Err(e),
        };
        Ok(OrderFile {
            content_type: sniff_content_type(&bytes).to_owned(),
            sha256: crate::files::pdf::sha256_hex(&bytes),
            file_name: file_name_of(url),
            index,
            count: urls.len(),
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_path_and_types_from_the_bytes() {
        assert_eq!(file_name_of("https://h.example/a/My%20File.pdf?sig=1").as_deref(), Some("My File.pdf"));
        assert_eq!(file_name_of("https://h.example/a/b%2F..%2Fc.pdf").as_deref(), Some("b..c.pdf"));
        assert_eq!(file_name_of("https://h.example/x/%E2%82%AC.pdf/").as_deref(), Some("€.pdf"));
        assert_eq!(file_name_of("https://h.example/bad%4").as_deref(), Some("bad%4"));
        assert_eq!(file_name_of("https://h.example/"), None);
        assert_eq!(sniff_content_type(b"%PDF-1.7\n..."), "application/pdf");
        assert_eq!(sniff_content_type(b"<html><script>"), "application/octet-stream");
        assert_eq!(sniff_content_type(b""), "application/octet-stream");
    }
}
