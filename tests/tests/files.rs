//! The file pipeline against a local HTTP server: every kind of good and bad file gets the right
//! classification (transient or permanent) and a message that names the order and says what to do.

use bson::DateTime;
use printcore::files::{fetch_and_validate, pdf::sha256_hex, validate_pdf, FileFetcher, FilePolicy};
use printcore::{ClaimTarget, Error, WorkerId};
use printcore_tests::db::{fresh_database, Mode};
use printcore_tests::fileserver::{FileServer, Route};
use printcore_tests::fixtures::*;
use printcore_tests::pdfgen::*;
use std::sync::Arc;
use std::time::Duration;

fn test_policy() -> FilePolicy {
    FilePolicy {
        allowed_hosts: vec!["127.0.0.1:*".into(), "localhost:*".into()],
        allow_http: true,
        allow_loopback: true,
        max_bytes: 2 * 1024 * 1024,
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_millis(400),
        total_timeout: Duration::from_secs(10),
        retries: 2,
        retry_backoff: Duration::from_millis(20),
        ..FilePolicy::default()
    }
}

/// Fetches and validates `path` as order 1234's file.
async fn run(server: &FileServer, fetcher: &FileFetcher, path: &str) -> Result<printcore::files::FileReport, Error> {
    let url = server.url(path);
    let bytes = fetcher.fetch("1234", &url).await?;
    validate_pdf("1234", &url, &bytes)
}

fn permanent(r: Result<impl std::fmt::Debug, Error>, words: &[&str]) -> String {
    match r {
        Err(e @ Error::File { transient: false, .. }) => {
            let m = e.to_string();
            assert!(m.contains("order 1234"), "message names the order: {m}");
            for w in words {
                assert!(m.contains(w), "message {m:?} should mention {w:?}");
            }
            assert_eq!(e.code(), "FILE_INVALID");
            eprintln!("permanent: {m}");
            m
        }
        other => panic!("expected a permanent file error mentioning {words:?}, got {other:?}"),
    }
}

fn transient(r: Result<impl std::fmt::Debug, Error>, words: &[&str]) -> String {
    match r {
        Err(e @ Error::File { transient: true, .. }) => {
            let m = e.to_string();
            assert!(m.contains("order 1234"), "{m}");
            for w in words {
                assert!(m.contains(w), "message {m:?} should mention {w:?}");
            }
            assert!(e.is_transient());
            eprintln!("transient: {m}");
            m
        }
        other => panic!("expected a transient file error mentioning {words:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn valid_pdfs_are_reported_with_pages_sizes_and_checksum() {
    let server = FileServer::start().await;
    let fetcher = FileFetcher::new(test_policy()).unwrap();
    let one = pdf(1, A4);
    let fifty = pdf(50, A4);
    server.route("/one.pdf", Route::pdf(one.clone()));
    server.route("/fifty.pdf", Route::pdf(fifty.clone()));
    server.route("/mixed.pdf", Route::pdf(pdf_with_pages(&[A4, A3, LETTER])));

    let r = run(&server, &fetcher, "/one.pdf").await.unwrap();
    assert_eq!((r.pages, r.bytes), (1, one.len() as u64));
    assert_eq!(r.sha256, sha256_hex(&one));
    assert_eq!(r.page_sizes[0].name, Some("A4"));
    assert!((r.page_sizes[0].width_mm - 209.9).abs() < 0.5 && (r.page_sizes[0].height_mm - 297.0).abs() < 0.5);

    let r = run(&server, &fetcher, "/fifty.pdf").await.unwrap();
    assert_eq!(r.pages, 50);
    assert!(r.page_sizes.iter().all(|p| p.name == Some("A4")), "every page inherits the tree's MediaBox");

    let r = run(&server, &fetcher, "/mixed.pdf").await.unwrap();
    let names: Vec<_> = r.page_sizes.iter().map(|p| p.name).collect();
    assert_eq!(names, [Some("A4"), Some("A3"), Some("Letter")]);
    assert_eq!(r.distinct_sizes(), ["A4", "A3", "Letter"]);
}

#[tokio::test]
async fn broken_files_fail_permanently_with_a_message_an_admin_can_act_on() {
    let server = FileServer::start().await;
    let fetcher = FileFetcher::new(test_policy()).unwrap();
    server.route("/corrupt.pdf", Route::pdf(corrupt_pdf()));
    server.route("/truncated.pdf", Route::pdf(truncated_pdf()));
    server.route("/encrypted.pdf", Route::pdf(encrypted_pdf()));
    server.route("/zero.pdf", Route::pdf(zero_page_pdf()));
    server.route(
        "/page.html",
        Route::Ok {
            body: Arc::new(b"<!DOCTYPE html><html><body>Sign in</body></html>".to_vec()),
            content_type: "text/html",
        },
    );
    server.route("/empty.pdf", Route::pdf(Vec::new()));

    permanent(run(&server, &fetcher, "/corrupt.pdf").await, &["damaged", "export it again"]);
    permanent(run(&server, &fetcher, "/truncated.pdf").await, &["damaged or truncated"]);
    permanent(run(&server, &fetcher, "/encrypted.pdf").await, &["encrypted", "unprotected"]);
    permanent(run(&server, &fetcher, "/zero.pdf").await, &["no pages"]);
    permanent(run(&server, &fetcher, "/page.html").await, &["not a PDF", "web page"]);
    permanent(run(&server, &fetcher, "/empty.pdf").await, &["empty"]);
}

#[tokio::test]
async fn size_cap_stall_and_server_errors_are_classified_and_retried_only_when_worth_it() {
    let server = FileServer::start().await;
    let fetcher = FileFetcher::new(test_policy()).unwrap();
    let big = pdf(1, A4);
    // Over the 2 MB cap: announced by Content-Length, and streamed without one.
    let mut padded = big.clone();
    padded.resize(3 * 1024 * 1024, b' ');
    server.route("/announced.pdf", Route::pdf(padded));
    server.route("/streamed.pdf", Route::Huge { len: 3 * 1024 * 1024 });
    server.route("/stall.pdf", Route::Stall { body: Arc::new(pdf(5, A4)), sent: 200, stall: Duration::from_secs(5) });
    server.route("/flaky.pdf", Route::FailThenOk { status: 500, times: 2, body: Arc::new(big.clone()) });
    server.route("/down.pdf", Route::Status(503));

    permanent(run(&server, &fetcher, "/announced.pdf").await, &["limit"]);
    permanent(run(&server, &fetcher, "/streamed.pdf").await, &["over the 2.0 MB limit"]);
    assert_eq!(server.hits("/streamed.pdf"), 1, "a size problem is not retried");

    transient(run(&server, &fetcher, "/stall.pdf").await, &["timed out", "will retry later"]);
    assert_eq!(server.hits("/stall.pdf"), 3, "a stall is retried (2 retries)");

    let r = run(&server, &fetcher, "/flaky.pdf").await.expect("500 twice, then the file");
    assert_eq!(r.sha256, sha256_hex(&big));
    assert_eq!(server.hits("/flaky.pdf"), 3);

    transient(run(&server, &fetcher, "/down.pdf").await, &["503"]);
    assert_eq!(server.hits("/down.pdf"), 3);

    server.route("/gone.pdf", Route::Status(404));
    permanent(run(&server, &fetcher, "/gone.pdf").await, &["404", "still exists"]);
    assert_eq!(server.hits("/gone.pdf"), 1, "a 404 is not retried");
}

#[tokio::test]
async fn hosts_outside_the_allowlist_and_private_addresses_are_refused_before_any_connection() {
    let server = FileServer::start().await;
    let fetcher = FileFetcher::new(test_policy()).unwrap();
    server.route("/one.pdf", Route::pdf(pdf(1, A4)));
    server.route("/to-evil", Route::Redirect("http://files.evil.example/x.pdf".into()));
    server.route("/to-local", Route::Redirect("/one.pdf".into()));

    let m = permanent(run(&server, &fetcher, "/to-evil").await, &["files.evil.example", "not on the allowed list"]);
    assert!(!m.contains("?"), "{m}");
    run(&server, &fetcher, "/to-local").await.expect("a redirect within the allowlist is followed");

    // A private address, even when its host is on the list, is refused unless allowed.
    let private = FilePolicy { allowed_hosts: vec!["10.0.0.1".into()], allow_http: true, ..FilePolicy::default() };
    let e = FileFetcher::new(private).unwrap().fetch("1234", "http://10.0.0.1/file.pdf").await;
    permanent(e, &["private"]);
    // A name that resolves to loopback is refused when loopback is not allowed.
    let no_loopback = FilePolicy { allow_loopback: false, ..test_policy() };
    let url = format!("http://localhost:{}/one.pdf", server.port);
    permanent(FileFetcher::new(no_loopback).unwrap().fetch("1234", &url).await, &["refused"]);
    assert_eq!(server.hits("/one.pdf"), 1, "only the allowed redirect reached the server");
    // The production defaults: https only, Cloudinary only.
    let prod = FileFetcher::new(FilePolicy::default()).unwrap();
    permanent(prod.fetch("1234", &server.url("/one.pdf")).await, &["only https"]);
    permanent(prod.fetch("1234", "https://example.com/a.pdf").await, &["example.com", "res.cloudinary.com"]);
    permanent(prod.fetch("1234", "not a url").await, &["not valid"]);
}

#[tokio::test]
async fn a_multi_file_order_is_validated_file_by_file_and_recorded_on_the_order() {
    let db = fresh_database(Mode::ReplicaSet, "files").await;
    let core = core(&db).await;
    let server = FileServer::start().await;
    let fetcher = FileFetcher::new(test_policy()).unwrap();
    let (a, b) = (pdf(2, A4), pdf(3, A4));
    server.route("/a.pdf", Route::pdf(a.clone()));
    server.route("/b.pdf", Route::pdf(b.clone()));
    server.route("/bad.pdf", Route::pdf(corrupt_pdf()));
    let mut order = paid_order("MULTI", DateTime::now(), 10);
    order.remove("fileURL");
    order.insert("fileURLs", vec![server.url("/a.pdf"), server.url("/b.pdf")]);
    let mut bad = paid_order("MULTI-BAD", DateTime::now(), 5);
    bad.remove("fileURL");
    bad.insert("fileURLs", vec![server.url("/a.pdf"), server.url("/bad.pdf")]);
    insert_orders(&db, vec![order, bad]).await;

    let w = WorkerId::generate();
    let target = ClaimTarget { printer_id: "p".into(), printer_name: "P".into(), capabilities: None };
    let job = core.claim(&w, &target).await.unwrap().unwrap();
    assert_eq!(job.order_id(), "MULTI");
    let files = fetch_and_validate(&fetcher, &job.order).await.unwrap();
    let pages: Vec<u32> = files.files.iter().map(|f| f.report.pages).collect();
    assert_eq!(pages, [2, 3]);
    assert_eq!(std::fs::read(&files.files[1].path).unwrap(), b, "the files are on disk, in order");
    let reports = files.reports();
    let folder = files.folder().to_path_buf();
    drop(files);
    assert!(!folder.exists(), "the job's folder goes with its files");
    job.record_reports(&reports).await.unwrap();
    let stored = raw_order(&db, "MULTI").await;
    assert_eq!(stored.get_str("fileSha256").unwrap(), format!("{},{}", sha256_hex(&a), sha256_hex(&b)));
    assert_eq!(stored.get_i64("filePages").unwrap(), 5);

    let job = core.claim(&w, &target).await.unwrap().unwrap();
    let e = fetch_and_validate(&fetcher, &job.order).await.unwrap_err();
    let m = e.to_string();
    assert!(m.contains("order MULTI-BAD") && m.contains("bad.pdf") && m.contains("damaged"), "{m}");
    job.fail_permanent(&m).await.unwrap();
    assert_eq!(raw_order(&db, "MULTI-BAD").await.get_str("printError").unwrap(), m);
}
