//! Drain rate and memory under a backlog:
//! - one worker process with 4 folder printers draining 2,000 paid orders (download, contained
//!   validation, the job folder, the four state writes), in orders per second, against the bare loop of
//!   a claim and a completion with the plain driver, 4 at a time, on the same server in the same run;
//! - the worker's resident memory while 1,000,000 orders wait (sampled over a run while it prints from
//!   the front of that queue) against the same worker with an empty queue: flat, not growing with the
//!   backlog.
//!
//! `cargo build --release -p worker && cargo bench -p printcore-benches --bench drain`
//! (ORDERS=2000 BACKLOG=1000000 by default).

use bson::{doc, DateTime, Document};
use mongodb::Database;
use printcore::{CoreConfig, PrintCore};
use printcore_benches::{env_or, item, median, quick, rss_kb};
use printcore_tests::db::{fresh_database, server, Mode};
use printcore_tests::fileserver::{FileServer, Route};
use printcore_tests::pdfgen::{pdf, A4};
use printcore_tests::worker_proc::WorkerProcess;
use std::time::{Duration, Instant};

const PRINTERS: usize = 4;

async fn seed(db: &Database, n: usize, url: &str) {
    let core = PrintCore::with_database(db.clone(), CoreConfig::default()).await.unwrap();
    core.migrate(&Default::default()).await.unwrap();
    let orders = db.collection::<Document>("orders");
    let base = DateTime::now().timestamp_millis() - n as i64;
    let mut i = 0;
    while i < n {
        let end = (i + 10_000).min(n);
        let docs: Vec<Document> = (i..end)
            .map(|k| {
                doc! {
                    "orderId": format!("D{k}"), "paymentStatus": "completed", "printStatus": "pending",
                    "createdAt": DateTime::from_millis(base + k as i64), "fileURL": url,
                    "customerName": "A customer", "totalPrice": 12.5,
                }
            })
            .collect();
        orders.insert_many(docs).ordered(false).await.unwrap();
        i = end;
    }
}

fn config(dir: &std::path::Path, db: &str) -> std::path::PathBuf {
    let mut text = format!(
        "[database]\nuri = \"{}\"\nname = \"{db}\"\n[worker]\n\
         [files]\nallowed_hosts = [\"127.0.0.1:*\"]\nallow_loopback = true\nallow_http = true\n",
        server(Mode::ReplicaSet).uri
    );
    for p in 0..PRINTERS {
        text.push_str(&format!(
            "[[printers]]\nid = \"f{p}\"\nname = \"Folder {p}\"\nbackend = \"file\"\nfolder = \"{}\"\n",
            dir.join(format!("out{p}")).display()
        ));
    }
    let path = dir.join("drain.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The worker process draining `n` orders: orders per second from the moment they are queued (the
/// worker already running, its printers online) to the last one printed.
async fn worker_drain(n: usize, url: &str) -> f64 {
    let db = fresh_database(Mode::ReplicaSet, "drain").await;
    seed(&db, 0, url).await;
    let dir = tempfile::tempdir().unwrap();
    let orders = db.collection::<Document>("orders");
    let worker = WorkerProcess::start(&config(dir.path(), db.name()));
    let printers = db.collection::<Document>("printers");
    let ready = Instant::now();
    while printers.count_documents(doc! { "status": "online" }).await.unwrap() < PRINTERS as u64 {
        assert!(ready.elapsed() < Duration::from_secs(30), "the worker's printers never came online");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let start = Instant::now();
    seed(&db, n, url).await;
    loop {
        let printed = orders.count_documents(doc! { "printStatus": "printed" }).await.unwrap() as usize;
        if printed == n {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(600), "drain stalled at {printed} of {n}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    drop(worker);
    let _ = db.drop().await;
    rate
}

/// The bare loop: 4 tasks each claiming (printcore's filter and sort) and completing with the plain
/// driver, no file, no audit, no printer.
async fn bare_drain(n: usize, url: &str) -> f64 {
    let db = fresh_database(Mode::ReplicaSet, "drainbase").await;
    seed(&db, n, url).await;
    let coll = db.collection::<Document>("orders");
    let start = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..PRINTERS {
        let coll = coll.clone();
        let claim = printcore::queue::claim_query(None);
        tasks.push(tokio::spawn(async move {
            let w = uuid::Uuid::new_v4().to_string();
            let mut done = 0usize;
            loop {
                let job = uuid::Uuid::new_v4().to_string();
                let got = coll
                    .find_one_and_update(
                        claim.filter.clone(),
                        doc! { "$set": { "printStatus": "printing", "printJobId": &job, "printingBy": &w,
                                  "printStartedAt": DateTime::now(), "printerId": format!("f{p}") },
                        "$inc": { "printAttempt": 1 } },
                    )
                    .sort(claim.sort.clone())
                    .hint(mongodb::options::Hint::Name(claim.index.into()))
                    .await
                    .unwrap();
                let Some(order) = got else { break };
                coll.update_one(
                    doc! { "_id": order.get_object_id("_id").unwrap(), "printJobId": &job },
                    doc! { "$set": { "printStatus": "printed", "printCompletedAt": DateTime::now() } },
                )
                .await
                .unwrap();
                done += 1;
            }
            done
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, n);
    let rate = n as f64 / start.elapsed().as_secs_f64();
    let _ = db.drop().await;
    rate
}

/// The worker's resident memory (KB) sampled every second for `seconds` after it settled, with `backlog`
/// orders waiting.
async fn rss_under(backlog: usize, seconds: u64, url: &str) -> Vec<u64> {
    let db = fresh_database(Mode::ReplicaSet, "backlog").await;
    seed(&db, backlog, url).await;
    let dir = tempfile::tempdir().unwrap();
    let worker = WorkerProcess::start(&config(dir.path(), db.name()));
    let pid = worker.pid().unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut samples = Vec::new();
    for _ in 0..seconds {
        samples.push(rss_kb(pid));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    drop(worker);
    let _ = db.drop().await;
    samples
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = quick();
    let n = env_or("ORDERS", if quick { 100 } else { 2000 });
    let backlog = env_or("BACKLOG", if quick { 10_000 } else { 1_000_000 });
    let runs = if quick { 1 } else { 3 };
    let files = FileServer::start().await;
    files.route("/doc.pdf", Route::pdf(pdf(1, A4)));
    let url = files.url("/doc.pdf");
    println!(
        "drain: {n} orders, {PRINTERS} folder printers, median of {runs} runs, server {}",
        printcore::redact_uri(&server(Mode::ReplicaSet).uri)
    );
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        base.push(bare_drain(n, &url).await);
        ours.push(worker_drain(n, &url).await);
    }
    let (o, b) = (median(ours), median(base));
    println!("{:<58} | {:>9}", "", "orders/s");
    println!("{:<58} | {b:>9.0}", "bare claim + complete loop, 4 at a time (plain driver)");
    println!("{:<58} | {o:>9.0}", "the worker process: download, validation, folder, 4 writes");
    println!("ratio worker/bare | {:.2}", o / b);
    item(
        &format!("6. drain {n} orders, one worker, {PRINTERS} folder printers (orders/s)"),
        &format!("{o:.0}"),
        &format!("bare claim + complete {b:.0}"),
        &format!("{:.2}", o / b),
        "ratio to the bare loop",
        None,
    );

    let seconds = if quick { 3 } else { 20 };
    let empty = rss_under(0, seconds, &url).await;
    let full = rss_under(backlog, seconds, &url).await;
    let mb = |kb: u64| kb as f64 / 1024.0;
    let (e_max, f_first, f_max) =
        (empty.iter().copied().max().unwrap_or(0), full[0], full.iter().copied().max().unwrap_or(0));
    println!("worker resident memory over {seconds} s, printing from the front of the queue:");
    println!("  empty queue: max {:.1} MB", mb(e_max));
    println!(
        "  {backlog} orders waiting: first {:.1} MB, max {:.1} MB (growth over the window {:.1} MB)",
        mb(f_first),
        mb(f_max),
        mb(f_max.saturating_sub(f_first))
    );
    let ratio = f_max as f64 / e_max.max(1) as f64;
    println!("ratio backlog/empty (max RSS) | {ratio:.2}");
    item(
        &format!("6. worker RSS while {backlog} orders wait"),
        &format!("{:.1} MB (growth {:.1} MB)", mb(f_max), mb(f_max.saturating_sub(f_first))),
        &format!("empty queue {:.1} MB", mb(e_max)),
        &format!("{ratio:.2}"),
        "flat: ratio <= 1.2, growth < 2 MB",
        Some(ratio <= 1.2 && f_max.saturating_sub(f_first) < 2048),
    );
}
