//! End to end with real processes (the worker binary, the database, ippeveprinter, a local file server):
//! orders carrying a hostile file of each class fail with a reason an admin can act on, while the same
//! worker process, never restarted, prints every good order around them exactly once.

use bson::{doc, DateTime, Document};
use printcore_tests::db::{fresh_database, server, Mode};
use printcore_tests::fileserver::{FileServer, Route};
use printcore_tests::fixtures::{core, insert_orders, paid_order};
use printcore_tests::ippeve::{IppEve, IppEveOptions};
use printcore_tests::pdfgen::*;
use printcore_tests::wait_for;
use printcore_tests::worker_proc::{test_config, WorkerProcess};
use std::time::Duration;

/// Each hostile order: its file (one URL, or several), and words its `printError` must hold.
fn hostile() -> Vec<(&'static str, Vec<u8>, &'static [&'static str])> {
    vec![
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
        ("MEMORY", large_pdf(60), &["the PDF made the validator run out of memory"]),
        // lopdf needs far more than 5 s of CPU for this many objects in a test (debug) build.
        ("CPU", many_objects(450_000), &["the PDF made the validator use up its CPU time"]),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_files_fail_their_orders_while_the_same_worker_prints_the_rest() {
    let db = fresh_database(Mode::ReplicaSet, "hostile").await;
    let core = core(&db).await;
    core.migrate(&Default::default()).await.unwrap();
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
    let validation = "\n[validation]\nmode = \"contained\"\nmemory_mb = 128\ncpu_secs = 5\ntimeout_secs = 60.0\n";
    let config = test_config(dir.path(), "w", &server(Mode::ReplicaSet).uri, db.name(), &eve.uri(), validation);
    // The job folders go into a folder of the test's, to see that none stays behind.
    let work = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("[files]\n", &format!("[files]\nwork_dir = {:?}\n", work.path()))).unwrap();
    let worker = WorkerProcess::start(&config);
    let pid = worker.pid().expect("the worker runs");

    let total = (expected.len() + good.len()) as u64;
    let orders_coll = db.collection::<Document>("orders");
    wait_for("every order printed or failed", Duration::from_secs(600), || async {
        let done = orders_coll.count_documents(doc! { "printStatus": { "$in": ["printed", "failed"] } }).await.unwrap();
        assert!(worker.is_running(), "the worker process died");
        (done == total).then_some(())
    })
    .await;

    assert!(worker.is_running(), "the worker is still running");
    assert_eq!(worker.pid(), Some(pid), "and it is the same process");
    for (id, words) in &expected {
        let o = orders_coll.find_one(doc! { "orderId": id }).await.unwrap().unwrap();
        assert_eq!(o.get_str("printStatus").unwrap(), "failed", "{id}: {o}");
        let error = o.get_str("printError").unwrap();
        for w in words.iter().chain(&[&format!("order {id}")[..]]) {
            assert!(error.contains(w), "{id}: {w:?} missing from {error:?}");
        }
        if *id != "BAD-TOO-MANY-FILES" {
            assert!(error.contains("ask the customer to export it again"), "{id}: {error}");
        }
        let attempt = o.get_i32("printAttempt").map(i64::from).or_else(|_| o.get_i64("printAttempt")).unwrap();
        assert_eq!(attempt, 1, "{id} failed at its first attempt, for good");
    }
    for id in &good {
        let o = orders_coll.find_one(doc! { "orderId": id }).await.unwrap().unwrap();
        assert_eq!(o.get_str("printStatus").unwrap(), "printed", "{id}: {o}");
        let job = o.get_str("printJobId").unwrap();
        assert_eq!(eve.copies_of(job), 1, "{id} reached paper once");
    }
    // No order's files stay behind.
    wait_for("every job folder removed", Duration::from_secs(10), || async {
        (std::fs::read_dir(work.path()).unwrap().count() == 0).then_some(())
    })
    .await;
    drop(worker);
}
