//! End to end with real processes (the worker binary, the database, ippeveprinter, a local file server):
//! orders carrying a hostile file of each class fail with a reason an admin can act on, while the same
//! worker process, never restarted, prints every good order around them exactly once.

use bson::{doc, DateTime, Document};
use printcore_tests::db::{server, Mode};
use printcore_tests::fileserver::{FileServer, Route};
use printcore_tests::fixtures::{insert_orders, migrated_core, paid_order};
use printcore_tests::ippeve::{IppEve, IppEveOptions};
use printcore_tests::pdfgen::*;
use printcore_tests::wait_for;
use printcore_tests::worker_proc::{test_config, WorkerProcess};
use std::time::Duration;

/// Each hostile order: its file (one URL, or several), and words its `printError` must hold.
fn hostile() -> Vec<(&'static str, Vec<u8>, &'static [&'static str])> {
    let classic: Vec<(&'static str, Vec<u8>, &'static [&'static str])> = vec![
        ("DEEP-ARRAYS", deep_arrays(200_000), &["more than 100 levels deep"]),
        ("DEEP-DICTS", deep_dicts(100_000), &["more than 100 levels deep"]),
        ("DEEP-OBJSTM", deep_in_object_stream(100_000, 2, true), &["inside a compressed object stream"]),
        ("FILTERS", filter_chain(30), &["stacks 30 compression filters"]),
        ("LENGTH", huge_declared_length(1 << 45), &["more than the whole file"]),
        ("PAGE-LOOP", page_tree_loop(3, false), &["page tree loops back on itself"]),
        ("OBJECTS", many_objects(600_000), &["more than 500000 objects"]),
        ("BOMB", decompression_bomb(100, 2), &["decompression bomb"]),
        ("XREF", xref_stream_zero_widths(), &["cross-reference stream is invalid"]),
        // Past the pre-scan, contained by the child's limits (configured below).
        ("MEMORY", large_pdf(90), &["the PDF made the validator run out of memory"]),
        // lopdf needs minutes of CPU for this many objects in a test (debug) build; the pre-scan of the
        // 600,000 objects above takes about 5 s there, so the child gets 20 s.
        ("CPU", many_objects(450_000), &["the PDF made the validator use up its CPU time"]),
    ];
    classic.into_iter().chain(structural()).collect()
}

/// The classes that walked around the pre-scan before it read the file as lopdf does
/// (tests/src/pdfstruct.rs): refused by the pre-scan in either validation mode.
fn structural() -> Vec<(&'static str, Vec<u8>, &'static [&'static str])> {
    use printcore_tests::pdfstruct::{document, Inner, Piece, Xref};
    let one = |piece: Piece| document(&[piece], Xref::Table);
    vec![
        (
            "ESCAPED-OBJSTM",
            one(Piece::ObjStm { escaped: true, layers: 2, inner: Inner::Bomb(80) }),
            &["decompression bomb"],
        ),
        ("STARTXREF-IN-COMMENT", one(Piece::StartxrefInComment { depth: 20_000 }), &["more than 100 levels deep"]),
        ("UNTYPED-XREF", document(&[], Xref::Stream { typed: false, layers: 2, bomb_mb: 80 }), &["decompression bomb"]),
        ("LENGTH-CHAIN", one(Piece::LengthChain { links: 3000 }), &["points at another stream"]),
        ("SHARED-ENTRIES", one(Piece::SharedEntries { entries: 20_000, kb: 1024 }), &["again and again"]),
        ("ESCAPED-LENGTH", one(Piece::EscapedLength { declared: 1 << 40 }), &["more than the whole file"]),
    ]
}

/// Waits until `total` orders are printed or failed, the worker running throughout.
async fn settle(worker: &WorkerProcess, orders: &mongodb::Collection<Document>, total: usize) {
    wait_for("every order printed or failed", Duration::from_secs(600), || async {
        let done = orders.count_documents(doc! { "printStatus": { "$in": ["printed", "failed"] } }).await.unwrap();
        assert!(worker.is_running(), "the worker process died");
        (done == total as u64).then_some(())
    })
    .await;
}

/// Order `id` failed, its printError naming it and holding each of `words`. Returns the order.
async fn failed_with(orders: &mongodb::Collection<Document>, id: &str, words: &[&str]) -> Document {
    let o = orders.find_one(doc! { "orderId": id }).await.unwrap().unwrap();
    assert_eq!(o.get_str("printStatus").unwrap(), "failed", "{id}: {o}");
    let error = o.get_str("printError").unwrap();
    for w in words.iter().copied().chain([format!("order {id}").as_str()]) {
        assert!(error.contains(w), "{id}: {w:?} missing from {error:?}");
    }
    o
}

/// Order `id` printed, and its job reached paper once.
async fn printed_once(orders: &mongodb::Collection<Document>, eve: &IppEve, id: &str) {
    let o = orders.find_one(doc! { "orderId": id }).await.unwrap().unwrap();
    assert_eq!(o.get_str("printStatus").unwrap(), "printed", "{id}: {o}");
    assert_eq!(eve.copies_of(o.get_str("printJobId").unwrap()), 1, "{id} reached paper once");
}

/// The most memory the worker process used (its peak resident set), in MB.
fn peak_mb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kb / 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_files_fail_their_orders_while_the_same_worker_prints_the_rest() {
    let (db, _core) = migrated_core("hostile").await;
    let files = FileServer::start().await;
    files.route("/good.pdf", Route::pdf(pdf(1, A4)));
    files.route("/self.pdf", Route::pdf(object_stream_pointing_at_itself()));
    let eve = IppEve::start(IppEveOptions { job_seconds: 0.05, ..IppEveOptions::default() });

    // Good and hostile orders alternate in the queue, so the worker meets a good one after each bad one.
    let base = DateTime::now();
    let mut orders = Vec::new();
    let mut expected = Vec::new();
    let mut good = Vec::new();
    let mut age = 1_000_000i64;
    let mut add = |id: String, urls: Vec<String>, orders: &mut Vec<Document>| {
        let mut d = paid_order(&id, base, age);
        age -= 1000;
        d.remove("fileURL");
        d.insert("fileURLs", urls);
        orders.push(d);
    };
    for (name, bytes, words) in hostile() {
        let path = format!("/{}.pdf", name.to_lowercase());
        files.route(&path, Route::pdf(bytes));
        add(format!("BAD-{name}"), vec![files.url(&path)], &mut orders);
        expected.push((format!("BAD-{name}"), words));
        let id = format!("GOOD-AFTER-{name}");
        add(id.clone(), vec![files.url("/good.pdf")], &mut orders);
        good.push(id);
    }
    add("BAD-TOO-MANY-FILES".into(), vec![files.url("/good.pdf"); 21], &mut orders);
    expected.push(("BAD-TOO-MANY-FILES".into(), &["21 files", "more than the 20 allowed per order"]));
    // An object stream that points at itself is harmless once bounded: it prints.
    add("OK-SELF-OBJSTM".into(), vec![files.url("/self.pdf")], &mut orders);
    good.push("OK-SELF-OBJSTM".into());
    insert_orders(&db, orders).await;

    let dir = tempfile::tempdir().unwrap();
    // 160 MB: the debug worker binary maps about 50 MB of code before the child reads a byte.
    let validation = "\n[validation]\nmode = \"contained\"\nmemory_mb = 160\ncpu_secs = 20\ntimeout_secs = 120.0\n";
    let config = test_config(dir.path(), "w", &server(Mode::ReplicaSet).uri, db.name(), &eve.uri(), validation);
    // The job folders go into a folder of the test's, to see that none stays behind.
    let work = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("[files]\n", &format!("[files]\nwork_dir = {:?}\n", work.path()))).unwrap();
    let worker = WorkerProcess::start(&config);
    let pid = worker.pid().expect("the worker runs");

    let orders_coll = db.collection::<Document>("orders");
    settle(&worker, &orders_coll, expected.len() + good.len()).await;

    assert!(worker.is_running(), "the worker is still running");
    assert_eq!(worker.pid(), Some(pid), "and it is the same process");
    for (id, words) in &expected {
        let o = failed_with(&orders_coll, id, words).await;
        let error = o.get_str("printError").unwrap();
        if *id != "BAD-TOO-MANY-FILES" {
            assert!(error.contains("ask the customer to export it again"), "{id}: {error}");
        }
        let attempt = o.get_i32("printAttempt").map(i64::from).or_else(|_| o.get_i64("printAttempt")).unwrap();
        assert_eq!(attempt, 1, "{id} failed at its first attempt, for good");
    }
    for id in &good {
        printed_once(&orders_coll, &eve, id).await;
    }
    // No order's files stay behind.
    wait_for("every job folder removed", Duration::from_secs(10), || async {
        (std::fs::read_dir(work.path()).unwrap().count() == 0).then_some(())
    })
    .await;
    let peak = peak_mb(pid);
    assert!(peak < 1024, "the worker process stayed under 1 GB (its children are limited to 160 MB): {peak} MB");
    drop(worker);
}

/// The same structural classes with validation in the worker's own process (`mode = "in-process"`), and
/// the per-order checks made before printing: pages per file, pages times copies, and the website's
/// `expectedPages` and `fileSha256`. Each bad order fails for good with its reason; the worker process,
/// never restarted and never above 1 GB, prints the good orders around them once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_validation_and_the_order_checks_fail_only_their_orders() {
    let (db, _core) = migrated_core("hostile_inproc").await;
    let files = FileServer::start().await;
    let good_pdf = pdf(1, A4);
    files.route("/good.pdf", Route::pdf(good_pdf.clone()));
    files.route("/pages25.pdf", Route::pdf(pdf(25, A4)));
    files.route("/pages10.pdf", Route::pdf(pdf(10, A4)));
    let eve = IppEve::start(IppEveOptions { job_seconds: 0.05, ..IppEveOptions::default() });

    let base = DateTime::now();
    let mut orders = Vec::new();
    let mut expected: Vec<(String, Vec<&str>)> = Vec::new();
    let mut good = Vec::new();
    let mut age = 1_000_000i64;
    let mut add = |id: &str, url: String, extra: Document, orders: &mut Vec<Document>| {
        let mut d = paid_order(id, base, age);
        age -= 1000;
        d.insert("fileURL", url);
        d.extend(extra);
        orders.push(d);
    };
    for (name, bytes, words) in structural() {
        let path = format!("/{}.pdf", name.to_lowercase());
        files.route(&path, Route::pdf(bytes));
        let id = format!("BAD-{name}");
        add(&id, files.url(&path), doc! {}, &mut orders);
        expected.push((id, words.iter().copied().chain(["export it again"]).collect()));
        let id = format!("GOOD-AFTER-{name}");
        add(&id, files.url("/good.pdf"), doc! {}, &mut orders);
        good.push(id);
    }
    let other_sha = printcore::files::sha256_hex(b"the file the customer paid for");
    for (id, path, extra, words) in [
        ("BAD-PAGES", "/pages25.pdf", doc! {}, vec!["25 pages", "max_pages"]),
        (
            "BAD-VOLUME",
            "/pages10.pdf",
            doc! { "printingOptions": { "copies": 5 } },
            vec!["10 pages x 5 copies = 50 pages", "max_order_pages"],
        ),
        ("BAD-EXPECTED-PAGES", "/good.pdf", doc! { "expectedPages": 2 }, vec!["have 1 page but", "priced for 2"]),
        ("BAD-CHANGED-FILE", "/good.pdf", doc! { "fileSha256": &other_sha }, vec!["fileSha256", &other_sha[..12]]),
    ] {
        add(id, files.url(path), extra, &mut orders);
        expected.push((id.to_owned(), words));
    }
    // What the website stored matches: it prints.
    let sha = printcore::files::sha256_hex(&good_pdf);
    add("OK-PRICED", files.url("/good.pdf"), doc! { "expectedPages": 1, "fileSha256": &sha }, &mut orders);
    good.push("OK-PRICED".into());
    add("OK-VOLUME", files.url("/pages10.pdf"), doc! { "printingOptions": { "copies": 4 } }, &mut orders);
    good.push("OK-VOLUME".into());
    insert_orders(&db, orders).await;

    let dir = tempfile::tempdir().unwrap();
    let config = test_config(
        dir.path(),
        "w",
        &server(Mode::ReplicaSet).uri,
        db.name(),
        &eve.uri(),
        "\n[validation]\nmode = \"in-process\"\n",
    );
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("[files]\n", "[files]\nmax_pages = 20\nmax_order_pages = 40\n")).unwrap();
    let worker = WorkerProcess::start(&config);
    let pid = worker.pid().expect("the worker runs");

    let orders_coll = db.collection::<Document>("orders");
    settle(&worker, &orders_coll, expected.len() + good.len()).await;
    assert_eq!(worker.pid(), Some(pid), "the same worker process throughout");
    for (id, words) in &expected {
        let o = failed_with(&orders_coll, id, words).await;
        assert!(o.get_str("printJobId").map_or(true, |job| eve.copies_of(job) == 0), "{id} never reached paper");
    }
    for id in &good {
        printed_once(&orders_coll, &eve, id).await;
    }
    let peak = peak_mb(pid);
    assert!(peak < 1024, "validating in process, the worker stayed under 1 GB: {peak} MB");
    drop(worker);
}
