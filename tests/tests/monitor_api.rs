//! What the admin monitor reads through printcore: the order search (orderId, status, printer, createdAt
//! range) with its cursor and its index plans among 10,000 orders, the printer's own reasons, an order's
//! file for the preview under the worker's file policy, and metrics in database-computed buckets.

use bson::{doc, oid::ObjectId, Bson, DateTime, Document};
use printcore::files::{pdf::sha256_hex, FileFetcher, FilePolicy};
use printcore::{MigrateOptions, OrdersQuery, PrintCore, PrintStatus, PrinterHealth, PrinterStatus};
use printcore_tests::db::{fresh_database, Mode};
use printcore_tests::explain::{execution_stat, plan_stages};
use printcore_tests::fileserver::{FileServer, Route};
use printcore_tests::fixtures::*;
use printcore_tests::pdfgen::pdf;
use std::time::Duration;

const STATUSES: [&str; 5] = ["pending", "printing", "printed", "failed", "cancelled"];

/// The plan stages of a find, and the keys and documents it examined.
async fn explain(core: &PrintCore, filter: &Document, sort: &Document, limit: i64) -> (Vec<String>, i64, i64) {
    let r = core
        .database()
        .run_command(doc! {
            "explain": { "find": "orders", "filter": filter.clone(), "sort": sort.clone(), "limit": limit },
            "verbosity": "executionStats",
        })
        .await
        .unwrap();
    (plan_stages(&r), execution_stat(&r, "totalKeysExamined"), execution_stat(&r, "totalDocsExamined"))
}

/// Reads every page of `query` (page size `limit`) and returns the orderIds in page order.
async fn all_pages(core: &PrintCore, query: &OrdersQuery, limit: i64) -> Vec<String> {
    let mut ids = Vec::new();
    let mut before: Option<String> = None;
    for _ in 0..20_000 {
        let q = OrdersQuery { before: before.clone(), limit: Some(limit), ..query.clone() };
        let page = core.orders_page(&q).await.unwrap();
        assert!(page.items.len() as i64 <= limit);
        ids.extend(page.items.into_iter().map(|o| o.order_id));
        match page.next {
            Some(n) => before = Some(n),
            None => return ids,
        }
    }
    panic!("the pages never ended");
}

#[tokio::test]
async fn the_order_search_finds_one_among_10000_and_pages_a_filtered_set_without_repeats_or_gaps() {
    let db = fresh_database(Mode::ReplicaSet, "search").await;
    let core = core(&db).await;
    core.migrate(&MigrateOptions::default()).await.unwrap();
    let base = DateTime::now().timestamp_millis();
    // 10,000 orders, two per minute (so pairs share createdAt and the cursor must break ties by _id),
    // five statuses, three printers; three more without a usable createdAt.
    let mut docs = Vec::new();
    for i in 0..10_000i64 {
        docs.push(doc! {
            "_id": ObjectId::new(),
            "orderId": format!("MS-{i:05}"),
            "paymentStatus": "completed",
            "printStatus": STATUSES[(i % 5) as usize],
            "printerId": format!("p{}", i % 3),
            "fileURL": "https://res.cloudinary.com/shop/raw/upload/x.pdf",
            "createdAt": DateTime::from_millis(base - (i / 2) * 60_000),
            "customer": { "name": "C" },
        });
    }
    for (i, created) in [Bson::Null, Bson::String("2024-01-01".into())].into_iter().enumerate() {
        docs.push(doc! { "_id": ObjectId::new(), "orderId": format!("MS-U{i}"), "printStatus": "failed", "printerId": "p1", "createdAt": created });
    }
    docs.push(doc! { "_id": ObjectId::new(), "orderId": "MS-U2", "printStatus": "failed", "printerId": "p1" });
    insert_orders(&db, docs.clone()).await;

    // The expected order of a filter: dated newest first (ties: newest _id), then undated by _id.
    let expected = |keep: &dyn Fn(&Document) -> bool, ranged: bool| -> Vec<String> {
        let mut dated: Vec<(i64, ObjectId, String)> = Vec::new();
        let mut undated: Vec<(ObjectId, String)> = Vec::new();
        for d in docs.iter().filter(|d| keep(d)) {
            let id = d.get_object_id("_id").unwrap();
            let order_id = d.get_str("orderId").unwrap().to_owned();
            match d.get_datetime("createdAt") {
                Ok(t) => dated.push((t.timestamp_millis(), id, order_id)),
                Err(_) if !ranged => undated.push((id, order_id)),
                Err(_) => {}
            }
        }
        dated.sort_by_key(|d| std::cmp::Reverse((d.0, d.1)));
        undated.sort_by_key(|u| std::cmp::Reverse(u.0));
        dated.into_iter().map(|d| d.2).chain(undated.into_iter().map(|u| u.1)).collect()
    };

    // One order among 10,000, by its exact id: an index scan of one key.
    let one = OrdersQuery { order_id: Some("MS-04321".into()), ..Default::default() };
    let page = core.orders_page(&one).await.unwrap();
    assert_eq!(page.items.iter().map(|o| o.order_id.as_str()).collect::<Vec<_>>(), ["MS-04321"]);
    assert_eq!(page.next, None);
    let (filter, sort) = one.first_page_query().unwrap();
    let (stages, keys, fetched) = explain(&core, &filter, &sort, 101).await;
    assert!(stages.iter().any(|s| s == "IXSCAN(orderId)"), "{stages:?}");
    assert!(!stages.iter().any(|s| s.starts_with("COLLSCAN")), "{stages:?}");
    assert!(keys <= 2 && fetched <= 2, "examined {keys} keys, {fetched} documents: {stages:?}");

    // A prefix (3 characters or more) is a range on the same index: ten orders, paged by three.
    let prefix = OrdersQuery { order_id: Some("MS-0432".into()), ..Default::default() };
    let ids = all_pages(&core, &prefix, 3).await;
    assert_eq!(ids, expected(&|d| d.get_str("orderId").unwrap().starts_with("MS-0432"), false));
    assert_eq!(ids.len(), 10);
    let (filter, sort) = prefix.first_page_query().unwrap();
    let (stages, keys, _) = explain(&core, &filter, &sort, 4).await;
    assert!(stages.iter().any(|s| s.starts_with("IXSCAN")) && !stages.iter().any(|s| s.starts_with("COLLSCAN")));
    assert!(keys <= 12, "a prefix of ten orders examined {keys} keys: {stages:?}");
    // Under three characters only the exact id matches.
    let short = OrdersQuery { order_id: Some("MS".into()), ..Default::default() };
    assert!(core.orders_page(&short).await.unwrap().items.is_empty());

    // Status, printer and a createdAt range together, paged by 7: every match once, in order.
    let from = DateTime::from_millis(base - 3000 * 60_000);
    let to = DateTime::from_millis(base - 1000 * 60_000);
    let filtered = OrdersQuery {
        status: Some(PrintStatus::Failed),
        printer_id: Some("p1".into()),
        from: Some(from),
        to: Some(to),
        ..Default::default()
    };
    let ids = all_pages(&core, &filtered, 7).await;
    let want = expected(
        &|d| {
            let t = d.get_datetime("createdAt").map(|t| t.timestamp_millis()).unwrap_or(i64::MIN);
            d.get_str("printStatus") == Ok("failed")
                && d.get_str("printerId") == Ok("p1")
                && t >= from.timestamp_millis()
                && t < to.timestamp_millis()
        },
        true,
    );
    assert!(want.len() > 100, "the filter selects a few pages: {}", want.len());
    assert_eq!(ids, want, "every filtered order once, newest first");
    let (filter, sort) = filtered.first_page_query().unwrap();
    let (stages, keys, _) = explain(&core, &filter, &sort, 8).await;
    assert!(!stages.iter().any(|s| s.starts_with("COLLSCAN") || s == "SORT"), "{stages:?}");
    assert!(keys <= 9, "a page of 8 examined {keys} keys: {stages:?}");

    // A status alone, across the undated orders at the end (two of which share nothing but a null).
    let failed = OrdersQuery { status: Some(PrintStatus::Failed), ..Default::default() };
    let ids = all_pages(&core, &failed, 250).await;
    let want = expected(&|d| d.get_str("printStatus") == Ok("failed"), false);
    assert_eq!(ids.len(), 2003);
    assert_eq!(ids, want);
    assert_eq!(&ids[2000..], ["MS-U2", "MS-U1", "MS-U0"]);

    // Every order, 1000 a page: 10,003 once each.
    let every = all_pages(&core, &OrdersQuery::default(), 1000).await;
    assert_eq!(every, expected(&|_| true, false));
    for q in [OrdersQuery::default(), OrdersQuery { printer_id: Some("p2".into()), ..Default::default() }] {
        let (filter, sort) = q.first_page_query().unwrap();
        let (stages, keys, _) = explain(&core, &filter, &sort, 101).await;
        assert!(!stages.iter().any(|s| s.starts_with("COLLSCAN") || s == "SORT"), "{stages:?}");
        assert!(keys <= 102, "{keys} keys: {stages:?}");
    }

    // Mistakes are refused before any read.
    let bad = OrdersQuery { before: Some("12_notacursor".into()), ..Default::default() };
    assert_eq!(core.orders_page(&bad).await.unwrap_err().code(), "INVALID_ARGUMENT");
    let backwards = OrdersQuery { from: Some(to), to: Some(from), ..Default::default() };
    assert_eq!(core.orders_page(&backwards).await.unwrap_err().code(), "INVALID_ARGUMENT");
}

fn health(reasons: &[&str], status: PrinterStatus) -> PrinterHealth {
    PrinterHealth {
        printer_id: "front".into(),
        name: "Front desk".into(),
        printer_name: "ipp://front/ipp/print".into(),
        status,
        queue_length: Some(2),
        error_message: Some("out of paper".into()),
        driver_name: None,
        system_name: Some("Linux".into()),
        connection_type: Some("network".into()),
        capabilities: None,
        worker_id: "w-1".into(),
        reachable: true,
        last_successful_print_at: None,
        state_reasons: reasons.iter().map(|r| r.to_string()).collect(),
    }
}

#[tokio::test]
async fn a_printers_own_reasons_are_stored_and_read_back() {
    let db = fresh_database(Mode::ReplicaSet, "reasons").await;
    let core = core(&db).await;
    core.migrate(&MigrateOptions::default()).await.unwrap();
    let written = core
        .record_printer_health(&health(&["none", "media-empty", " media-empty ", "", "$where"], PrinterStatus::Error))
        .await
        .unwrap();
    assert_eq!(written.state_reasons, ["media-empty", "$where"], "without none, blanks and repeats; $ is text");
    let stored = db.collection::<Document>("printers").find_one(doc! { "printer_id": "front" }).await.unwrap().unwrap();
    assert_eq!(stored.get_array("state_reasons").unwrap(), &vec![Bson::from("media-empty"), Bson::from("$where")]);
    let printers = core.printers().await.unwrap();
    assert_eq!(printers[0].state_reasons, ["media-empty", "$where"]);
    let snap = core.snapshot().await.unwrap();
    assert_eq!(snap.printers[0].state_reasons, ["media-empty", "$where"]);
    assert!(snap.printers[0].offline_since.is_some());

    // The next reading replaces them; a printer that says only "none" has none.
    core.record_printer_health(&health(&["none"], PrinterStatus::Online)).await.unwrap();
    assert!(core.printer("front").await.unwrap().unwrap().state_reasons.is_empty());

    // A document written by someone else with another type still reads (as no reasons).
    db.collection::<Document>("printers")
        .insert_one(doc! { "printer_id": "odd", "name": "Odd", "state_reasons": "media-jam" })
        .await
        .unwrap();
    assert!(core.printer("odd").await.unwrap().unwrap().state_reasons.is_empty());
}

#[tokio::test]
async fn the_workers_health_check_stores_what_the_printer_says() {
    use printworker::backends::CommandPrinter;
    use printworker::health::{PrinterHealthTracker, PrinterIdentity};
    let db = fresh_database(Mode::ReplicaSet, "reasonsworker").await;
    let core = core(&db).await;
    // A Windows printer out of paper, as Get-Printer reports it (PrinterStatus 5).
    let dir = tempfile::tempdir().unwrap();
    let status = dir.path().join("status.sh");
    std::fs::write(&status, "#!/bin/sh\necho '{\"Name\":\"HP\",\"PrinterStatus\":5,\"JobCount\":4}'\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&status, std::fs::Permissions::from_mode(0o755)).unwrap();
    let caps =
        printcore::PrinterCapabilities { page_sizes: vec!["A4".into()], color: false, duplex: false, max_copies: 9 };
    let printer = CommandPrinter::new(
        "HP",
        vec!["true".into(), "{file}".into()],
        Some(vec![status.to_string_lossy().to_string()]),
        Duration::from_secs(5),
        caps,
    )
    .unwrap();
    let mut tracker = PrinterHealthTracker::new(PrinterIdentity {
        printer_id: "counter".into(),
        name: "Counter".into(),
        printer_name: "HP".into(),
        driver_name: None,
        system_name: Some("Windows".into()),
        connection_type: Some("usb".into()),
    });
    tracker.check(&printer, &core, &printcore::WorkerId::generate(), None).await.unwrap();
    let p = core.printer("counter").await.unwrap().unwrap();
    assert_eq!(p.state_reasons, ["PaperOut"]);
    assert_eq!(p.queue_length, Some(4));
    assert!(p.offline_since.is_some(), "{p:?}");
}

fn test_policy(hosts: &[&str]) -> FilePolicy {
    FilePolicy {
        allowed_hosts: hosts.iter().map(|h| h.to_string()).collect(),
        allow_http: true,
        allow_loopback: true,
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(2),
        total_timeout: Duration::from_secs(10),
        retries: 1,
        retry_backoff: Duration::from_millis(20),
        ..FilePolicy::default()
    }
}

#[tokio::test]
async fn an_orders_file_comes_back_byte_identical_and_a_host_not_allowed_is_refused() {
    let db = fresh_database(Mode::ReplicaSet, "orderfile").await;
    let core = core(&db).await;
    core.migrate(&MigrateOptions::default()).await.unwrap();
    let server = FileServer::start().await;
    let first = pdf(2, (595.0, 842.0));
    let second = pdf(1, (842.0, 1191.0));
    server.route("/shop/Order%20One.pdf", Route::pdf(first.clone()));
    server.route("/shop/two.pdf", Route::pdf(second.clone()));
    server.route(
        "/html",
        Route::Ok { body: std::sync::Arc::new(b"<html><script>alert(1)</script>".to_vec()), content_type: "text/html" },
    );
    server.route("/away", Route::Redirect("http://files.evil.example/x.pdf".into()));
    let mut order = paid_order("OF-1", DateTime::now(), 1000);
    order.insert("fileURLs", vec![server.url("/shop/Order%20One.pdf?sig=secret"), server.url("/shop/two.pdf")]);
    let mut html = paid_order("OF-2", DateTime::now(), 1000);
    html.insert("fileURL", server.url("/html"));
    let mut away = paid_order("OF-3", DateTime::now(), 1000);
    away.insert("fileURL", server.url("/away"));
    let mut none = paid_order("OF-4", DateTime::now(), 1000);
    none.insert("fileURL", "");
    insert_orders(&db, vec![order, html, away, none]).await;

    let allowed = FileFetcher::new(test_policy(&["127.0.0.1:*"])).unwrap();
    let f = core.order_file("OF-1", 0, &allowed).await.unwrap();
    assert_eq!(f.bytes, first, "byte-identical");
    assert_eq!(f.sha256, sha256_hex(&first));
    assert_eq!(
        (f.content_type.as_str(), f.file_name.as_deref(), f.index, f.count),
        ("application/pdf", Some("Order One.pdf"), 0, 2)
    );
    let f = core.order_file("OF-1", 1, &allowed).await.unwrap();
    assert_eq!((f.bytes == second, f.index, f.count), (true, 1, 2));
    assert_eq!(core.order_file("OF-1", 2, &allowed).await.unwrap_err().code(), "INVALID_ARGUMENT");
    assert_eq!(core.order_file("OF-none", 0, &allowed).await.unwrap_err().code(), "NOT_FOUND");
    assert_eq!(core.order_file("OF-4", 0, &allowed).await.unwrap_err().code(), "FILE_INVALID");
    // Whatever the server calls it, a page is handed over as opaque bytes.
    let h = core.order_file("OF-2", 0, &allowed).await.unwrap();
    assert_eq!(h.content_type, "application/octet-stream");

    // The shop's allowlist does not hold the host: refused before any connection, naming order and host.
    let hits = server.hits("/shop/Order%20One.pdf");
    let shop = FileFetcher::new(test_policy(&["res.cloudinary.com"])).unwrap();
    let e = core.order_file("OF-1", 0, &shop).await.unwrap_err();
    assert_eq!(e.code(), "FILE_REJECTED");
    assert!(!e.is_transient());
    let m = e.to_string();
    assert!(m.contains("OF-1") && m.contains("127.0.0.1") && !m.contains("secret"), "{m}");
    assert_eq!(server.hits("/shop/Order%20One.pdf"), hits, "nothing was fetched");
    // A redirect to a host not on the list is refused too.
    let e = core.order_file("OF-3", 0, &allowed).await.unwrap_err();
    assert_eq!(e.code(), "FILE_REJECTED", "{e}");
    assert!(e.to_string().contains("files.evil.example"), "{e}");
    // An allowed name on a loopback address, when loopback is not allowed: refused at connection time.
    let no_loopback = FileFetcher::new(FilePolicy { allow_loopback: false, ..test_policy(&["127.0.0.1:*"]) }).unwrap();
    assert_eq!(core.order_file("OF-1", 0, &no_loopback).await.unwrap_err().code(), "FILE_REJECTED");
    // Over the size cap.
    let tiny = FileFetcher::new(test_policy(&["127.0.0.1:*"]).with_max_mb(0.0001).unwrap()).unwrap();
    assert_eq!(core.order_file("OF-1", 0, &tiny).await.unwrap_err().code(), "FILE_INVALID");
    assert_eq!(FilePolicy::default().with_max_mb(0.0).unwrap_err().code(), "INVALID_ARGUMENT");
}

#[tokio::test]
async fn metrics_come_in_database_computed_buckets_for_a_week() {
    let db = fresh_database(Mode::ReplicaSet, "metricsbuckets").await;
    let core = core(&db).await;
    core.migrate(&MigrateOptions::default()).await.unwrap();
    // Two workers, a sample every 5 minutes for 7 days: w1 prints 12/h with a 30 s delay and has a
    // printer offline 60 s per sample; w2 prints 6/h with a 90 s delay.
    let now = DateTime::now().timestamp_millis();
    let mut docs = Vec::new();
    for i in 0..(7 * 288) {
        let t = DateTime::from_millis(now - i * 300_000);
        for (w, prints, delay, offline) in [("w1", 12.0, 30.0, 60.0), ("w2", 6.0, 90.0, 0.0)] {
            docs.push(doc! {
                "timestamp": t, "prints_per_hour": prints, "failures_per_hour": 1.0,
                "average_print_start_delay": delay, "printer_offline_duration": offline,
                "workerId": w, "createdAt": t, "updatedAt": t,
            });
        }
    }
    db.collection::<Document>("metrics").insert_many(docs).await.unwrap();

    let day_ago = DateTime::from_millis(now - 86_400_000);
    let raw = core.metrics_since(day_ago, 1000).await.unwrap();
    assert!(raw.len() >= 575 && raw.len() <= 578, "24 h of two workers' samples: {}", raw.len());

    let week_ago = DateTime::from_millis(now - 7 * 86_400_000);
    let buckets = core.metrics_buckets(week_ago, Duration::from_secs(30 * 60), 1000).await.unwrap();
    assert!(buckets.len() <= 500 && buckets.len() >= 336, "{} points for a week", buckets.len());
    assert!(buckets.windows(2).all(|w| w[0].start > w[1].start), "newest first");
    assert!(buckets.iter().all(|b| b.start.timestamp_millis() % 1_800_000 == 0), "aligned to half hours");
    // A whole bucket (not the first or last): six samples of each worker.
    let b = &buckets[buckets.len() / 2];
    assert_eq!((b.samples, b.workers), (12, 2));
    assert!((b.prints_per_hour - 18.0).abs() < 1e-9, "{b:?}");
    assert!((b.failures_per_hour - 2.0).abs() < 1e-9, "{b:?}");
    // Weighted by prints: (30*12 + 90*6) / 18 = 50.
    assert!((b.average_print_start_delay - 50.0).abs() < 1e-9, "{b:?}");
    assert!((b.printer_offline_duration - 360.0).abs() < 1e-9, "{b:?}");
    let limited = core.metrics_buckets(week_ago, Duration::from_secs(3600), 24).await.unwrap();
    assert_eq!(limited.len(), 24);
    assert_eq!(limited[0].start.timestamp_millis(), now - now % 3_600_000, "the newest hour first");
    assert_eq!(
        core.metrics_buckets(week_ago, Duration::from_secs(1), 10).await.unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
}
