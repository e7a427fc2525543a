//! Validation contained in a child of the real worker binary (`worker validate-pdf`), and the caps on
//! what one order may ask for. A child that runs out of memory or CPU time, or takes too long, fails that
//! file for good with a reason; the caller carries on.

use bson::doc;
use printcore::files::{fetch_and_validate, validate_pdf, ContainedValidator, FileFetcher, FilePolicy, Validator};
use printcore::{Error, Order};
use printcore_tests::fileserver::{FileServer, Route};
use printcore_tests::pdfgen::*;
use printcore_tests::worker_proc::worker_binary;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn contained(memory_mb: u64, cpu_secs: u64, timeout: Duration) -> Validator {
    Validator::Contained(ContainedValidator {
        program: worker_binary(),
        args: vec![
            "validate-pdf".into(),
            "--memory-mb".into(),
            memory_mb.to_string(),
            "--cpu-secs".into(),
            cpu_secs.to_string(),
        ],
        timeout,
    })
}

fn file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

async fn refused(v: &Validator, path: &Path, words: &[&str]) -> String {
    let e = v.validate("1234", "https://res.cloudinary.com/a/f.pdf?sig=s", path, 2000).await.unwrap_err();
    let m = e.to_string();
    assert!(matches!(e, Error::File { transient: false, .. }), "permanent: {m}");
    for w in words.iter().chain(&["order 1234", "export it again"]) {
        assert!(m.contains(w), "{w:?} missing from: {m}");
    }
    m
}

#[tokio::test]
async fn the_worker_binary_validates_in_a_limited_child_like_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = pdf_with_pages(&[A4, A3, LETTER]);
    let path = file(dir.path(), "ok.pdf", &bytes);
    let url = "https://res.cloudinary.com/a/f.pdf";
    let child = contained(1024, 30, Duration::from_secs(60)).validate("1234", url, &path, 2000).await.unwrap();
    assert_eq!(child, validate_pdf("1234", url, &bytes).unwrap(), "the same report either way");
    // Refusals keep their words through the child.
    let deep = file(dir.path(), "deep.pdf", &deep_arrays(100_000));
    refused(&contained(1024, 30, Duration::from_secs(60)), &deep, &["more than 100 levels deep"]).await;
}

#[tokio::test]
async fn a_child_out_of_memory_out_of_cpu_or_out_of_time_fails_the_file_not_the_caller() {
    let dir = tempfile::tempdir().unwrap();
    let big = file(dir.path(), "big.pdf", &large_pdf(60));
    refused(&contained(128, 30, Duration::from_secs(60)), &big, &["run out of memory"]).await;
    // lopdf needs many seconds of CPU for this many objects in a test build.
    let many = file(dir.path(), "many.pdf", &many_objects(450_000));
    refused(&contained(1024, 1, Duration::from_secs(60)), &many, &["CPU time"]).await;
    let start = Instant::now();
    refused(&contained(1024, 30, Duration::from_millis(300)), &many, &["took longer than"]).await;
    assert!(start.elapsed() < Duration::from_secs(5), "the child is killed at the timeout: {:?}", start.elapsed());
}

fn order(urls: Vec<String>) -> Order {
    bson::from_document(doc! { "_id": bson::oid::ObjectId::new(), "orderId": "CAPS-1", "fileURLs": urls }).unwrap()
}

fn policy(work_dir: &Path) -> FilePolicy {
    FilePolicy {
        allowed_hosts: vec!["127.0.0.1:*".into()],
        allow_http: true,
        allow_loopback: true,
        max_bytes: 2 * 1024 * 1024,
        max_files_per_order: 3,
        max_order_bytes: 3 * 1024 * 1024,
        work_dir: Some(work_dir.to_path_buf()),
        retries: 0,
        ..FilePolicy::default()
    }
}

#[tokio::test]
async fn an_order_is_capped_in_files_and_bytes_and_leaves_nothing_on_disk() {
    let server = FileServer::start().await;
    server.route("/small.pdf", Route::pdf(pdf(1, A4)));
    server.route("/big.pdf", Route::pdf(large_pdf(1)));
    let work = tempfile::tempdir().unwrap();
    let fetcher = FileFetcher::new(policy(work.path())).unwrap();
    let empty = || std::fs::read_dir(work.path()).unwrap().count() == 0;

    let files = fetch_and_validate(&fetcher, &order(vec![server.url("/small.pdf"); 3])).await.unwrap();
    assert_eq!(files.files.len(), 3);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(files.folder()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "the job's folder is private");
    }
    assert!(files.files.iter().all(|f| f.path.starts_with(files.folder()) && f.path.exists()));
    drop(files);
    assert!(empty(), "the job's folder is removed with its files");

    let e = fetch_and_validate(&fetcher, &order(vec![server.url("/small.pdf"); 4])).await.unwrap_err();
    let m = e.to_string();
    assert!(!e.is_transient() && m.contains("order CAPS-1") && m.contains("4 files") && m.contains("3 allowed"), "{m}");

    // 1 MB files: the first two fit in the order's 3 MB, the third goes over it.
    let e = fetch_and_validate(&fetcher, &order(vec![server.url("/big.pdf"); 3])).await.unwrap_err();
    let m = e.to_string();
    assert!(!e.is_transient() && m.contains("order CAPS-1") && m.contains("over the 3.0 MB limit per order"), "{m}");
    assert!(empty(), "a refused order's files are removed too");
}

/// A file of more pages than `[files] max_pages` is refused by either validator, naming the count and
/// the limit; the child refuses it itself, so its answer stays short.
#[tokio::test]
async fn a_file_past_max_pages_is_refused_in_both_modes() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(dir.path(), "many-pages.pdf", &pdf(60, A4));
    for v in [Validator::InProcess, contained(1024, 30, Duration::from_secs(60))] {
        let e = v.validate("1234", "https://res.cloudinary.com/a/f.pdf", &path, 50).await.unwrap_err();
        let m = e.to_string();
        assert!(!e.is_transient() && m.contains("60 pages") && m.contains("max_pages") && m.contains("50"), "{m}");
        assert_eq!(v.validate("1234", "https://res.cloudinary.com/a/f.pdf", &path, 60).await.unwrap().pages, 60);
    }
}

/// The parent reads at most a bounded answer from the child (a report lists each page): a child that
/// answers more is stopped and the file refused, at once, not at the timeout.
#[cfg(unix)]
#[tokio::test]
async fn the_childs_answer_is_read_up_to_a_bound() {
    let babbler = |script: &str| {
        Validator::Contained(ContainedValidator {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into(), "validator".into()],
            timeout: Duration::from_secs(60),
        })
    };
    let limit = printcore::files::validator::answer_limit(10);
    let start = Instant::now();
    let e = babbler("exec head -c 50000000 /dev/zero").validate("1234", "u", Path::new("/x"), 10).await.unwrap_err();
    let m = e.to_string();
    assert!(!e.is_transient() && m.contains(&format!("longer than {} KB", limit / 1024)), "{m}");
    assert!(start.elapsed() < Duration::from_secs(30), "stopped at the bound: {:?}", start.elapsed());
    // An endless error output is drained, not kept, and does not block the child.
    let e =
        babbler("head -c 20000000 /dev/zero >&2; exit 3").validate("1234", "u", Path::new("/x"), 10).await.unwrap_err();
    assert!(e.to_string().contains("exit code 3"), "{e}");
}

/// The order-level checks the worker makes before printing: pages times copies within
/// `max_order_pages`, and the website's `expectedPages` and `fileSha256` when it stored them.
#[test]
fn an_order_is_checked_against_its_pages_copies_and_the_file_it_was_priced_with() {
    use printcore::files::{check_order_files, sha256_hex};
    let bytes = pdf(3, A4);
    let report = validate_pdf("1234", "https://res.cloudinary.com/a/f.pdf", &bytes).unwrap();
    let policy = FilePolicy { max_order_pages: 30, ..FilePolicy::default() };
    let with = |extra: bson::Document| {
        let mut d = doc! { "_id": bson::oid::ObjectId::new(), "orderId": "1234", "fileURL": "https://res.cloudinary.com/a/f.pdf" };
        d.extend(extra);
        Order::from_document(d).unwrap()
    };
    let check = |o: &Order| check_order_files(o, std::slice::from_ref(&report), &policy);
    check(&with(doc! {})).unwrap();
    check(&with(doc! { "printingOptions": { "copies": 10 } })).unwrap();
    let m = check(&with(doc! { "printingOptions": { "copies": 11 } })).unwrap_err().to_string();
    assert!(
        m.contains("3 pages x 11 copies = 33 pages") && m.contains("max_order_pages") && m.contains("order 1234"),
        "{m}"
    );
    check(&with(doc! { "expectedPages": 3 })).unwrap();
    let m = check(&with(doc! { "expectedPages": 2 })).unwrap_err().to_string();
    assert!(m.contains("have 3 pages") && m.contains("priced for 2") && m.contains("expectedPages"), "{m}");
    check(&with(doc! { "fileSha256": sha256_hex(&bytes).to_uppercase() })).unwrap();
    let other = sha256_hex(b"the file the customer paid for");
    let e = check(&with(doc! { "fileSha256": &other })).unwrap_err();
    let m = e.to_string();
    assert!(
        !e.is_transient()
            && m.contains("fileSha256")
            && m.contains(&other[..12])
            && m.contains(&sha256_hex(&bytes)[..12]),
        "{m}"
    );
    // A value of the wrong type cannot be checked: the order does not print unchecked.
    let bad = with(doc! { "expectedPages": "three" });
    assert!(bad.problems.iter().any(|p| p.to_string().contains("expectedPages")), "{:?}", bad.problems);
}

fn warm(memory_mb: u64, cpu_secs: u64, timeout: Duration) -> printcore::files::WarmValidator {
    let Validator::Contained(c) = contained(memory_mb, cpu_secs, timeout) else { unreachable!() };
    printcore::files::WarmValidator::new(c, 4, 200)
}

/// The warm child (`worker validate-pdf --serve`): one child validates file after file with the same
/// answers as a child per file; a file that runs it out of memory or CPU time, or past the timeout,
/// fails only its own order (with the same words), that child is never used again, and the next file
/// gets a fresh child.
#[cfg(unix)]
#[tokio::test]
async fn a_warm_child_is_reused_until_a_file_breaks_it_and_then_never_again() {
    let dir = tempfile::tempdir().unwrap();
    let url = "https://res.cloudinary.com/a/f.pdf";
    let bytes = pdf_with_pages(&[A4, A3, LETTER]);
    let ok = file(dir.path(), "ok.pdf", &bytes);
    let w = warm(1024, 30, Duration::from_secs(60));
    let v = Validator::Warm(w.clone());
    for _ in 0..3 {
        assert_eq!(v.validate("1234", url, &ok, 2000).await.unwrap(), validate_pdf("1234", url, &bytes).unwrap());
    }
    let deep = file(dir.path(), "deep.pdf", &deep_arrays(100_000));
    refused(&v, &deep, &["more than 100 levels deep"]).await;
    assert_eq!(w.children_started(), 1, "one child for every file so far");

    // Out of memory in a child that validated a file before: the file is checked again in a fresh child,
    // which runs out of memory too: refused for good. The next file gets a fresh child.
    let big = file(dir.path(), "big.pdf", &large_pdf(60));
    let small = warm(128, 30, Duration::from_secs(60));
    let v = Validator::Warm(small.clone());
    v.validate("1234", url, &ok, 2000).await.unwrap();
    refused(&v, &big, &["run out of memory"]).await;
    let before = small.children_started();
    assert_eq!(v.validate("1234", url, &ok, 2000).await.unwrap().pages, 3);
    assert_eq!(small.children_started(), before + 1, "a fresh child after the one that ran out of memory");

    // Out of CPU time: each file has the whole budget, and the one that uses it up is refused.
    let many = file(dir.path(), "many.pdf", &many_objects(450_000));
    let cpu = warm(1024, 1, Duration::from_secs(60));
    let v = Validator::Warm(cpu.clone());
    v.validate("1234", url, &ok, 2000).await.unwrap();
    refused(&v, &many, &["CPU time"]).await;
    v.validate("1234", url, &ok, 2000).await.unwrap();

    // Out of time: refused at the timeout, not tried again.
    let slow = warm(1024, 30, Duration::from_millis(300));
    let v = Validator::Warm(slow.clone());
    let start = Instant::now();
    refused(&v, &many, &["took longer than"]).await;
    assert!(start.elapsed() < Duration::from_secs(5), "killed at the timeout: {:?}", start.elapsed());
    assert_eq!(slow.children_started(), 1);
}
