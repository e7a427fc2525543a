//! printcore against what a shop would otherwise use, on the same server in the same run:
//! - Agenda 6 (npm `agenda` with `@agendajs/mongo-backend`), the MongoDB job queue a Node print server
//!   would use: the same N jobs with the same concurrency, printcore's claim -> sending -> submitted ->
//!   printed cycle against Agenda's lock -> run -> complete, with no-op work and then with a small file
//!   written to a folder: jobs/s, database commands per job (counted on the wire with command
//!   monitoring), and p50/p95 from enqueue to start with jobs enqueued at a steady rate;
//! - the website's own code: the monitor snapshot and markPaid through printcore-node against the same
//!   queries with the official `mongodb` Node driver, at 10,000 and 1,000,000 orders
//!   (benches/node/site.mjs, reported as it prints).
//!
//! The Node sides live in benches/node (`npm ci` there first; scripts/bench.sh does). Needs the release
//! addon at the repository root (`npm run build`) for the site comparison.
//!
//! `cargo bench -p printcore-benches --bench peers` (JOBS=2000 CONCURRENCY=4 by default).

use bson::{doc, DateTime, Document};
use futures::StreamExt;
use printcore::{ClaimTarget, MarkPaid, WorkerId};
use printcore_benches::{counted_core, env_or, item, median, node, percentile, quick};
use printcore_tests::db::{server, Mode};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An unpaid order created `k` milliseconds after `base`: orders a website creates one by one have
/// distinct `createdAt`s (the test server ranks orders tied on the claim's sort at a cost in proportion to
/// the ties: ARCHITECTURE.md, test server quirks).
fn order(id: &str, base: i64, k: usize) -> Document {
    let created = DateTime::from_millis(base + k as i64);
    doc! { "orderId": id, "paymentStatus": "pending", "createdAt": created, "fileURL": "http://127.0.0.1/doc.pdf" }
}

/// A `base` for `n` orders created a millisecond apart up to now.
fn created_base(n: usize) -> i64 {
    DateTime::now().timestamp_millis() - n as i64
}

/// One job through printcore's cycle; `folder` set: writes a 4 KB file there as the work.
async fn cycle(job: printcore::PrintJob, folder: Option<&std::path::Path>) {
    job.mark_sending().await.unwrap();
    if let Some(dir) = folder {
        tokio::fs::write(dir.join(format!("{}.bin", job.print_job_id())), [7u8; 4096]).await.unwrap();
    }
    job.mark_submitted(job.print_job_id()).await.unwrap();
    job.complete().await.unwrap();
}

struct Throughput {
    jobs_per_s: f64,
    commands_per_job: f64,
    by_name: BTreeMap<String, usize>,
}

/// `n` jobs queued first, then `concurrency` tasks run them until the queue is empty.
async fn throughput(n: usize, concurrency: usize, write_files: bool) -> Throughput {
    let (core, db, counts) = counted_core("peer_tp").await;
    let orders = db.collection::<Document>("orders");
    let base = created_base(n);
    let docs: Vec<Document> = (0..n)
        .map(|i| {
            let mut d = order(&format!("J{i}"), base, i);
            d.insert("paymentStatus", "completed");
            d.insert("printStatus", "pending");
            d
        })
        .collect();
    for chunk in docs.chunks(1000) {
        orders.insert_many(chunk.to_vec()).await.unwrap();
    }
    core.flush_logs().await;
    let folder = tempfile::tempdir().unwrap();
    counts.lock().unwrap().clear();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..concurrency {
        let core = core.clone();
        let dir = write_files.then(|| folder.path().to_path_buf());
        tasks.push(tokio::spawn(async move {
            let worker = WorkerId::generate();
            let target = ClaimTarget { printer_id: format!("p{c}"), printer_name: format!("P{c}"), capabilities: None };
            let mut done = 0;
            while let Some(job) = core.claim(&worker, &target).await.unwrap() {
                cycle(job, dir.as_deref()).await;
                done += 1;
            }
            done
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    core.flush_logs().await;
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(total, n);
    let by_name = counts.lock().unwrap().clone();
    let _ = db.drop().await;
    Throughput {
        jobs_per_s: n as f64 / secs,
        commands_per_job: by_name.values().sum::<usize>() as f64 / n as f64,
        by_name,
    }
}

/// `n` jobs enqueued (paid) at `rate` per second while `concurrency` tasks wait for work, woken by a
/// change stream as the worker is; returns enqueue -> start (claimed) in ms, on this process's clock.
async fn enqueue_to_start(n: usize, concurrency: usize, rate: f64) -> Vec<f64> {
    let (core, db, _) = counted_core("peer_lat").await;
    let orders = db.collection::<Document>("orders");
    let base = created_base(n);
    for i in 0..n {
        orders.insert_one(order(&format!("L{i}"), base, i)).await.unwrap();
    }
    let enqueued: Arc<Mutex<BTreeMap<String, Instant>>> = Arc::default();
    let started: Arc<Mutex<Vec<f64>>> = Arc::default();
    let wake = Arc::new(tokio::sync::Notify::new());
    let mut stream = core.watch_queue().await.expect("change streams");
    let w = wake.clone();
    let watcher = tokio::spawn(async move {
        while let Some(Ok(())) = stream.next().await {
            w.notify_waiters();
            w.notify_one();
        }
    });
    let mut tasks = Vec::new();
    for c in 0..concurrency {
        let (core, wake, enqueued, started) = (core.clone(), wake.clone(), enqueued.clone(), started.clone());
        tasks.push(tokio::spawn(async move {
            let worker = WorkerId::generate();
            let target = ClaimTarget { printer_id: format!("p{c}"), printer_name: format!("P{c}"), capabilities: None };
            loop {
                let notified = wake.notified();
                match core.claim(&worker, &target).await.unwrap() {
                    Some(job) => {
                        let t = enqueued.lock().unwrap()[job.order_id()];
                        started.lock().unwrap().push(t.elapsed().as_secs_f64() * 1000.0);
                        cycle(job, None).await;
                    }
                    None => {
                        if started.lock().unwrap().len() == n {
                            return;
                        }
                        // A missed wake-up costs at most this poll.
                        let _ = tokio::time::timeout(Duration::from_millis(500), notified).await;
                    }
                }
            }
        }));
    }
    let every = Duration::from_secs_f64(1.0 / rate);
    for i in 0..n {
        let id = format!("L{i}");
        enqueued.lock().unwrap().insert(id.clone(), Instant::now());
        core.mark_paid(&id, &MarkPaid::default()).await.unwrap();
        tokio::time::sleep(every).await;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while started.lock().unwrap().len() < n {
        assert!(Instant::now() < deadline, "not every job started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for t in tasks {
        t.abort();
    }
    watcher.abort();
    let _ = db.drop().await;
    let v = started.lock().unwrap().clone();
    v
}

fn json_field(line: &str, path: &[&str]) -> Option<f64> {
    let mut v: serde_json::Value = serde_json::from_str(line).ok()?;
    for p in path {
        v = v.get(*p)?.clone();
    }
    v.as_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = quick();
    let n = env_or("JOBS", if quick { 100 } else { 2000 });
    let concurrency = env_or("CONCURRENCY", 4);
    let runs = if quick { 1 } else { 3 };
    let latency_n = if quick { 20 } else { 100 };
    println!(
        "peers: {n} jobs, concurrency {concurrency}, median of {runs} runs, server {}",
        printcore::redact_uri(&server(Mode::ReplicaSet).uri)
    );
    let mut ours = BTreeMap::new();
    for (label, files) in [("no-op", false), ("4 KB file", true)] {
        let mut rates = Vec::new();
        let mut last = None;
        for _ in 0..runs {
            let t = throughput(n, concurrency, files).await;
            rates.push(t.jobs_per_s);
            last = Some(t);
        }
        let t = last.unwrap();
        ours.insert(label, (median(rates), t.commands_per_job, t.by_name));
    }
    let lat = enqueue_to_start(latency_n, concurrency, 20.0).await;
    let (p50, p95) = (percentile(lat.clone(), 0.5), percentile(lat, 0.95));

    let agenda = node(
        "agenda.mjs",
        &[
            ("N", n.to_string()),
            ("CONCURRENCY", concurrency.to_string()),
            ("RUNS", runs.to_string()),
            ("LAT_JOBS", latency_n.to_string()),
            ("LAT_RATE", "20".to_string()),
            ("QUICK", if quick { "1".into() } else { String::new() }),
        ],
    );
    if let Some(out) = &agenda {
        println!("--- Agenda (benches/node/agenda.mjs) ---");
        for line in out.lines().filter(|l| !l.starts_with('{')) {
            println!("{line}");
        }
    }
    let last = agenda.as_deref().and_then(|o| o.lines().last()).unwrap_or("{}").to_owned();
    println!("--- side by side ---");
    println!("{:<34} | {:>12} | {:>12} | {:>8}", "", "printcore", "Agenda", "ratio");
    for (label, suffix) in [("no-op", ""), ("4 KB file", "_file")] {
        let (rate, cmds, by_name) = &ours[label];
        let a_rate = json_field(&last, &[&format!("jobs_per_s{suffix}")]);
        let a_cmds = json_field(&last, &[&format!("commands_per_job{suffix}"), "total"]);
        let show = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into());
        let ratio = |a: Option<f64>, b: f64, higher_better: bool| {
            a.map(|a| format!("{:.2}", if higher_better { b / a } else { a / b })).unwrap_or_else(|| "-".into())
        };
        println!(
            "{:<34} | {rate:>12.0} | {:>12} | {:>8}",
            format!("jobs/s, {label}"),
            show(a_rate),
            ratio(a_rate, *rate, true)
        );
        println!(
            "{:<34} | {cmds:>12.2} | {:>12} | {:>8}",
            format!("commands/job, {label}"),
            show(a_cmds),
            ratio(a_cmds, *cmds, false)
        );
        println!(
            "  printcore by command, {label}: {}",
            by_name.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ")
        );
        item(
            &format!("1. jobs/s against Agenda 6, {label}, concurrency {concurrency}"),
            &format!("{rate:.0}"),
            &format!("Agenda {}", show(a_rate)),
            &ratio(a_rate, *rate, true),
            "report the ratio",
            None,
        );
        item(
            &format!("1. database commands per job against Agenda 6, {label}"),
            &format!("{cmds:.2}"),
            &format!("Agenda {}", show(a_cmds)),
            &ratio(a_cmds, *cmds, false),
            "report the ratio",
            None,
        );
    }
    // Both woken by a change stream: Agenda's change-stream notification channel, printcore's queue watch.
    let a50 = json_field(&last, &["latency", "change_stream_channel", "p50_ms"]);
    let a95 = json_field(&last, &["latency", "change_stream_channel", "p95_ms"]);
    let show = |v: Option<f64>| v.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into());
    println!(
        "{:<34} | {p50:>12.0} | {:>12} | {:>8}",
        "enqueue -> start p50 (ms)",
        show(a50),
        a50.map(|a| format!("{:.2}", a / p50.max(1.0))).unwrap_or_default()
    );
    println!(
        "{:<34} | {p95:>12.0} | {:>12} | {:>8}",
        "enqueue -> start p95 (ms)",
        show(a95),
        a95.map(|a| format!("{:.2}", a / p95.max(1.0))).unwrap_or_default()
    );
    item(
        "1. enqueue -> start against Agenda 6 (both woken by a change stream), p50 / p95",
        &format!("{p50:.0} / {p95:.0} ms"),
        &format!("Agenda {} / {} ms", show(a50), show(a95)),
        &a50.map(|a| format!("{:.1}", a / p50.max(1.0))).unwrap_or_else(|| "-".into()),
        "report the ratio",
        None,
    );
    println!("(ratios: printcore's advantage, above 1 = printcore better; jobs/s printcore/Agenda, commands and latency Agenda/printcore)");

    if let Some(out) = node("site.mjs", &[("QUICK", if quick { "1".into() } else { String::new() })]) {
        println!("--- the website's own code (benches/node/site.mjs) ---");
        for line in out.lines().filter(|l| !l.starts_with('{')) {
            println!("{line}");
        }
        let last = out.lines().last().unwrap_or("{}");
        for (what, key) in [
            (
                "2. monitor snapshot through printcore-node against the driver (worst size, driver/printcore time)",
                "snapshot_ratio_min",
            ),
            (
                "2. markPaid through printcore-node against the driver doing the same writes (worst size)",
                "markPaid_ratio_same_writes_min",
            ),
            (
                "2. markPaid through printcore-node against the site's own two writes (worst size)",
                "markPaid_ratio_site_min",
            ),
        ] {
            let r = json_field(last, &[key]);
            item(
                what,
                "see table",
                "official mongodb driver",
                &r.map(|r| format!("{r:.2}")).unwrap_or_else(|| "-".into()),
                ">= 0.95",
                r.map(|r| r >= 0.95),
            );
        }
    }
}
