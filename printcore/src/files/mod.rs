//! The file pipeline before printing: download ([`fetch`]), validate ([`pdf`]), and check against the
//! printer's capabilities ([`check_capabilities`]). Every failure is an [`Error::File`] or
//! [`Error::Capability`] that says whether to retry later (transient) or fail the order (permanent).

pub mod fetch;
pub mod pdf;
pub mod prescan;
pub mod preview;
pub mod validator;
pub mod warm;

use crate::error::{Error, Result};
use crate::model::{Order, PrinterCapabilities};
pub use fetch::{allowed_host_problem, FileFetcher, FilePolicy};
pub use pdf::{sha256_hex, validate_pdf, FileReport, PageSize};
pub use preview::OrderFile;
use std::path::{Path, PathBuf};
pub use validator::{ContainedValidator, Validator};
pub use warm::WarmValidator;

/// A URL as it may appear in messages and logs: no query string or fragment (signed URLs carry tokens
/// there), no user info.
pub fn display_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.set_query(None);
            u.set_fragment(None);
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => url.split(['?', '#']).next().unwrap_or_default().chars().take(200).collect(),
    }
}

/// A print job's id (`printJobId`, read from the database, where anyone who can write an order can put
/// anything) made safe to become a file or folder name, a printer's job name or a command argument:
/// letters, digits, `-` and `_` only, at most 64 of them. A UUID, which is what printcore writes, is
/// unchanged; anything else loses its path separators, dots, spaces, controls and quotes.
pub fn safe_name(print_job_id: &str) -> String {
    print_job_id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').take(64).collect()
}

/// One downloaded and validated file of an order, on disk in its job's [`JobFolder`].
#[derive(Debug, Clone)]
pub struct ValidatedFile {
    /// What validation found.
    pub report: FileReport,
    /// Where the file is on disk (in the job's folder).
    pub path: PathBuf,
}

/// A private folder for one print job's files (0700 on Unix), removed with everything in it when
/// dropped: whatever way the print flow ends, the customer's files do not stay behind.
#[derive(Debug)]
pub struct JobFolder {
    path: PathBuf,
}

impl JobFolder {
    /// Creates `printcore-<name>-<random>` inside `parent`. It must not exist yet (so nobody can have
    /// prepared it).
    pub fn create(parent: &Path, name: &str) -> std::io::Result<JobFolder> {
        let name = safe_name(name);
        let path = parent.join(format!("printcore-{name}-{}", uuid::Uuid::new_v4().simple()));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        #[cfg(not(unix))]
        let _ = &mut builder;
        builder.create(&path)?;
        Ok(JobFolder { path })
    }

    /// The folder's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes job folders in `parent` untouched for longer than `older_than`: those of a worker that was
    /// killed (kill -9, a power cut) before it could remove them. Any `printcore-<name>-<32 hex>` folder
    /// counts (the command backend's too). Returns how many were removed. The worker calls it at start.
    pub fn sweep(parent: &Path, older_than: std::time::Duration) -> usize {
        let Ok(entries) = std::fs::read_dir(parent) else { return 0 };
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let ours = name.starts_with("printcore-")
                && name.rsplit('-').next().is_some_and(|h| h.len() == 32 && h.chars().all(|c| c.is_ascii_hexdigit()));
            let stale = entry
                .metadata()
                .ok()
                .filter(|m| m.is_dir())
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > older_than);
            if ours && stale && std::fs::remove_dir_all(entry.path()).is_ok() {
                removed += 1;
            }
        }
        removed
    }
}

impl Drop for JobFolder {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(folder = %self.path.display(), "could not remove an order's files: {e}");
            }
        }
    }
}

/// An order's downloaded and validated files, in order, in their job's folder. Dropping it removes
/// them.
#[derive(Debug)]
pub struct OrderFiles {
    /// The files, in print order.
    pub files: Vec<ValidatedFile>,
    folder: JobFolder,
    /// How long the downloads took, all files together (the worker reports where its time goes).
    pub download_time: std::time::Duration,
    /// How long the validations took, all files together.
    pub validation_time: std::time::Duration,
}

impl OrderFiles {
    /// Each file's report, in print order (for [`PrintJob::mark_sending_with_reports`](crate::PrintJob::mark_sending_with_reports)).
    pub fn reports(&self) -> Vec<FileReport> {
        self.files.iter().map(|f| f.report.clone()).collect()
    }

    /// Each file's path on disk, in print order (what the backend sends).
    pub fn paths(&self) -> Vec<PathBuf> {
        self.files.iter().map(|f| f.path.clone()).collect()
    }

    /// The job's folder, removed when this is dropped.
    pub fn folder(&self) -> &Path {
        self.folder.path()
    }
}

/// Downloads and validates every file of `order`, in order, one at a time, each streamed to disk in a
/// private folder for the job, under the fetcher's policy: at most `max_files_per_order` files and
/// `max_order_bytes` together, each validated by the policy's [`Validator`]. Stops at the first problem
/// (and removes what was downloaded).
pub async fn fetch_and_validate(fetcher: &FileFetcher, order: &Order) -> Result<OrderFiles> {
    let urls = order.files();
    let policy = fetcher.policy();
    let permanent = |url: &str, message: String| Error::File {
        order_id: order.order_id.clone(),
        url: display_url(url),
        message,
        transient: false,
    };
    if urls.is_empty() {
        return Err(permanent("", "the order has no file (fileURL is empty); attach the file and reprint".into()));
    }
    if urls.len() > policy.max_files_per_order {
        return Err(permanent(
            "",
            format!(
                "the order has {} files (fileURLs), more than the {} allowed per order; split the order or raise \
                 [files] max_files_per_order",
                urls.len(),
                policy.max_files_per_order
            ),
        ));
    }
    let parent = policy.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    // The print job's id names the files (a print command may show it as the document's name); an order
    // id is only a fallback, and neither may leave the folder.
    let name = safe_name(order.print_job_id.as_deref().unwrap_or(&order.order_id));
    let folder = JobFolder::create(&parent, &name).map_err(|e| Error::File {
        order_id: order.order_id.clone(),
        url: String::new(),
        message: format!("cannot create a folder for the order's files in {} ({e}); will retry", parent.display()),
        transient: true,
    })?;
    let mut files = Vec::with_capacity(urls.len());
    let mut total = 0u64;
    let (mut download_time, mut validation_time) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    for (i, url) in urls.iter().enumerate() {
        let path = folder.path().join(format!("{name}-{}.pdf", i + 1));
        let left = policy.max_order_bytes.saturating_sub(total);
        let started = std::time::Instant::now();
        total += fetcher.fetch_to_file(&order.order_id, url, &path, left).await?;
        let fetched = std::time::Instant::now();
        download_time += fetched - started;
        let report = policy.validator.validate(&order.order_id, url, &path, policy.max_pages).await?;
        validation_time += fetched.elapsed();
        files.push(ValidatedFile { report, path });
    }
    let files = OrderFiles { files, folder, download_time, validation_time };
    check_order_files(order, &files.reports(), policy)?;
    Ok(files)
}

/// `1 page`, `3 pages`.
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Checks an order's validated files against what the order says of them and the policy's volume cap:
/// the pages times the copies within [`FilePolicy::max_order_pages`]; and, where the website stored them
/// when it priced the order, `expectedPages` (the pages of all files together) and `fileSha256` (the
/// lower-case hex sha256 of the file; of several files, theirs joined with commas in file order). A file
/// behind a URL can change after the customer paid: a mismatch fails the order, naming both values.
pub fn check_order_files(order: &Order, reports: &[FileReport], policy: &FilePolicy) -> Result<()> {
    let fail = |message: String| Error::File {
        order_id: order.order_id.clone(),
        url: String::new(),
        message,
        transient: false,
    };
    let pages: u64 = reports.iter().map(|r| u64::from(r.pages)).sum();
    if let Some(expected) = order.expected_pages {
        if u64::try_from(expected).ok() != Some(pages) {
            return Err(fail(format!(
                "the order's files have {} but the order was priced for {expected} (expectedPages); the \
                 file may have changed after payment: check it with the customer, correct the file or \
                 expectedPages, and reprint",
                count(pages, "page", "pages")
            )));
        }
    }
    if let Some(expected) = order.file_sha256.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let (actual, _) = file_fields(reports);
        if !expected.eq_ignore_ascii_case(&actual) {
            let short =
                |s: &str| s.split(',').map(|h| h.chars().take(12).collect::<String>()).collect::<Vec<_>>().join(",");
            return Err(fail(format!(
                "the file behind the order's URL is not the one the order was priced with: its sha256 starts \
                 {}, the order's fileSha256 {}; check the file with the customer; to print the new file, clear \
                 fileSha256 (and expectedPages) and reprint",
                short(&actual),
                short(expected)
            )));
        }
    }
    let copies = u64::try_from(order.options().copies.unwrap_or(1).max(1)).unwrap_or(1);
    let total = pages.saturating_mul(copies);
    if total > policy.max_order_pages {
        return Err(fail(format!(
            "the order would print {} x {} = {total} pages, more than the {} one order may print ([files] \
             max_order_pages); check the order with the customer, then split it or raise the limit and reprint",
            count(pages, "page", "pages"),
            count(copies, "copy", "copies"),
            policy.max_order_pages
        )));
    }
    Ok(())
}

fn same_size(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Checks an order's `printingOptions` and its files against a printer's capabilities. The message of a
/// mismatch says exactly what the order asks and what the printer offers, e.g. "order 1234 asks for A3 in
/// colour; printer 'Front desk' supports A4, Letter, mono only".
pub fn check_capabilities(
    order: &Order,
    reports: &[FileReport],
    printer_name: &str,
    caps: &PrinterCapabilities,
) -> Result<()> {
    let options = order.options();
    let mut asks = Vec::new();
    let mut offers = Vec::new();
    let size_ok = |s: &str| caps.page_sizes.iter().any(|c| same_size(c, s));
    match &options.page_size {
        Some(size) if !size_ok(size) => asks.push(size.clone()),
        Some(_) => {}
        None => {
            // No size asked: the file's own page sizes must fit (custom sizes are scaled by the printer).
            let mut unfit: Vec<String> = Vec::new();
            for r in reports {
                for p in &r.page_sizes {
                    if let Some(n) = p.name {
                        if !size_ok(n) && !unfit.iter().any(|u| u == n) {
                            unfit.push(n.to_owned());
                        }
                    }
                }
            }
            if !unfit.is_empty() {
                asks.push(format!("{} pages", unfit.join(", ")));
            }
        }
    }
    if !asks.is_empty() {
        offers.push(caps.page_sizes.join(", "));
    }
    if options.color == Some(true) && !caps.color {
        asks.push("in colour".into());
        offers.push("mono only".into());
    }
    if options.duplex == Some(true) && !caps.duplex {
        asks.push("two-sided".into());
        offers.push("one-sided only".into());
    }
    if let Some(copies) = options.copies {
        if copies < 1 {
            return Err(Error::Capability {
                order_id: order.order_id.clone(),
                message: format!(
                    "order {} asks for {copies} copies; fix printingOptions.copies (at least 1)",
                    order.order_id
                ),
            });
        }
        if copies > caps.max_copies {
            asks.push(format!("{copies} copies"));
            offers.push(format!("at most {} copies", caps.max_copies));
        }
    }
    if asks.is_empty() {
        return Ok(());
    }
    Err(Error::Capability {
        order_id: order.order_id.clone(),
        message: format!(
            "order {} asks for {}; printer '{printer_name}' supports {}",
            order.order_id,
            asks.join(" "),
            offers.join(", ")
        ),
    })
}

/// The files' fields on the order: one file's sha256 (several: their sha256s joined with commas, in file
/// order) and the total page count.
pub(crate) fn file_fields(reports: &[FileReport]) -> (String, i64) {
    let sha = reports.iter().map(|r| r.sha256.as_str()).collect::<Vec<_>>().join(",");
    (sha, reports.iter().map(|r| r.pages as i64).sum())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PrintingOptions;

    fn order(opts: PrintingOptions) -> Order {
        bson::from_document(bson::doc! {
            "_id": bson::oid::ObjectId::new(), "orderId": "1234",
            "printingOptions": bson::to_bson(&opts).unwrap(),
        })
        .unwrap()
    }

    fn front_desk() -> PrinterCapabilities {
        PrinterCapabilities {
            page_sizes: vec!["A4".into(), "Letter".into()],
            color: false,
            duplex: false,
            max_copies: 10,
        }
    }

    #[test]
    fn a_mismatch_says_what_the_order_asks_and_what_the_printer_offers() {
        let o = order(PrintingOptions { page_size: Some("A3".into()), color: Some(true), ..Default::default() });
        let e = check_capabilities(&o, &[], "Front desk", &front_desk()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "order 1234 asks for A3 in colour; printer 'Front desk' supports A4, Letter, mono only"
        );
        assert!(!e.is_transient());
    }

    #[test]
    fn duplex_and_copies_are_checked() {
        let o = order(PrintingOptions { duplex: Some(true), copies: Some(50), ..Default::default() });
        let m = check_capabilities(&o, &[], "Front desk", &front_desk()).unwrap_err().to_string();
        assert!(m.contains("two-sided") && m.contains("50 copies") && m.contains("at most 10 copies"), "{m}");
        let ok = order(PrintingOptions { page_size: Some("a4".into()), copies: Some(2), ..Default::default() });
        assert!(check_capabilities(&ok, &[], "Front desk", &front_desk()).is_ok());
    }

    #[test]
    fn without_a_requested_size_the_files_pages_must_fit() {
        let o = order(PrintingOptions::default());
        let report = FileReport {
            url: "u".into(),
            bytes: 1,
            pages: 2,
            page_sizes: vec![PageSize::from_points(595.0, 842.0), PageSize::from_points(842.0, 1191.0)],
            sha256: String::new(),
        };
        let m = check_capabilities(&o, &[report], "Front desk", &front_desk()).unwrap_err().to_string();
        assert!(m.contains("A3 pages"), "{m}");
    }

    #[test]
    fn job_folders_are_private_removed_on_drop_and_stale_ones_swept() {
        let parent = std::env::temp_dir().join(format!("pc-sweep-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&parent).unwrap();
        let folder = JobFolder::create(&parent, "job/../1").unwrap();
        assert!(folder.path().starts_with(&parent), "the name cannot leave the parent");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(folder.path()).unwrap().permissions().mode() & 0o777, 0o700);
        }
        std::fs::write(folder.path().join("a.pdf"), b"x").unwrap();
        let kept = folder.path().to_path_buf();
        // A crashed worker's folder: same shape, not removed (forgotten), old.
        let left = JobFolder::create(&parent, "crashed").unwrap();
        let left_path = left.path().to_path_buf();
        std::mem::forget(left);
        std::fs::create_dir(parent.join("printcore-other")).unwrap();
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        std::fs::File::open(&left_path).unwrap().set_modified(hour_ago).unwrap();
        assert_eq!(JobFolder::sweep(&parent, std::time::Duration::from_secs(3600)), 1);
        assert!(!left_path.exists() && kept.exists() && parent.join("printcore-other").exists());
        drop(folder);
        assert!(!kept.exists());
        std::fs::remove_dir_all(parent).unwrap();
    }

    #[test]
    fn display_url_hides_tokens_and_credentials() {
        assert_eq!(display_url("https://u:p@res.cloudinary.com/a/b.pdf?sig=1#x"), "https://res.cloudinary.com/a/b.pdf");
    }
}
