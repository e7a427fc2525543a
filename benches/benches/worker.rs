//! The worker's costs, each against a baseline in the same run:
//! - payment -> claim latency (p50, p95) with change streams against polling every 5 s;
//! - database round trips per printed order, counted with the driver's command monitoring (goal: at most 4
//!   besides one log write per transition), against the bare minimum of a claim and a completion;
//! - the idle worker process's resident memory (goal under 20 MB) and CPU, against `sleep` as a floor.
//!
//! `cargo build --release -p worker && cargo bench -p printcore-benches --bench worker`
//! (or `bash scripts/bench.sh`, which runs every benchmark and writes docs/BENCHMARKS.md).

use bson::{doc, DateTime, Document};
use mongodb::event::command::CommandEvent;
use mongodb::options::ClientOptions;
use printcore::files::{FileFetcher, FilePolicy};
use printcore::{CoreConfig, LogDelivery, MarkPaid, PrintCore, PrinterCapabilities, WorkerId};
use printcore_benches::{percentile, quick};
use printcore_tests::db::{server, Mode};
use printcore_tests::fileserver::{FileServer, Route};
use printcore_tests::pdfgen::{pdf, A4};
use printcore_tests::worker_proc::WorkerProcess;
use printworker::backends::FilePrinter;
use printworker::health::PrinterIdentity;
use printworker::service::{Intervals, PrinterSlot, Worker};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

async fn wait_printed(core: &PrintCore, id: &str) {
    let start = Instant::now();
    loop {
        if core.order(id).await.ok().and_then(|o| o.print_status) == Some(printcore::PrintStatus::Printed) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "order {id} not printed within 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn worker_config(
    dir: &std::path::Path,
    name: &str,
    db: &str,
    uri: &str,
    files: &FileServer,
    extra: &str,
) -> std::path::PathBuf {
    let text = format!(
        "[database]\nuri = \"{uri}\"\nname = \"{db}\"\n[worker]\nhealth_interval_secs = 1.0\n{extra}\n\
         [files]\nallowed_hosts = [\"127.0.0.1\"]\nallow_loopback = true\nallow_http = true\n\
         [[printers]]\nid = \"folder\"\nname = \"Folder\"\nbackend = \"file\"\nfolder = \"{}\"\n",
        dir.join(format!("{name}-out")).display()
    );
    let _ = files;
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Pays `n` orders one at a time and measures paidAt -> printStartedAt for each.
async fn latency(mode: &str, n: usize, files: &FileServer) -> Vec<f64> {
    let uri = server(Mode::ReplicaSet).uri.clone();
    let db_name = format!("bench_latency_{mode}_{}", std::process::id());
    let core = PrintCore::connect(&uri, &db_name, CoreConfig::default()).await.unwrap();
    core.database().drop().await.unwrap();
    core.migrate(&Default::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let extra =
        if mode == "polling" { "poll_interval_secs = 5.0\nchange_streams = false" } else { "poll_interval_secs = 5.0" };
    let worker = WorkerProcess::start(&worker_config(dir.path(), mode, &db_name, &uri, files, extra));
    // Let the worker find its printer online and settle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let orders = core.database().collection::<Document>("orders");
    let mut out = Vec::new();
    for i in 0..n {
        let id = format!("LAT-{i}");
        orders
            .insert_one(doc! { "orderId": &id, "paymentStatus": "pending", "createdAt": DateTime::now(), "fileURL": files.url("/doc.pdf") })
            .await
            .unwrap();
        // A random phase against the poll timer, as real payments arrive.
        tokio::time::sleep(Duration::from_millis((i as u64 * 1237) % 2000)).await;
        core.mark_paid(&id, &MarkPaid::default()).await.unwrap();
        wait_printed(&core, &id).await;
        let o = core.order(&id).await.unwrap();
        // Both times are estimates of the server clock by two processes (each within a few ms): a
        // negative difference is within that resolution.
        let ms = o.print_started_at.unwrap().timestamp_millis() - o.paid_at.unwrap().timestamp_millis();
        out.push(ms.max(0) as f64);
    }
    drop(worker);
    let _ = core.database().drop().await;
    out
}

/// Prints `n` orders in-process with a counting client; returns commands per printed order, by name.
async fn round_trips(n: usize, files: &FileServer) -> (f64, BTreeMap<String, usize>) {
    let counts: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let seen = counts.clone();
    let mut options = ClientOptions::parse(&server(Mode::ReplicaSet).uri).await.unwrap();
    options.command_event_handler = Some(mongodb::event::EventHandler::callback(move |e: CommandEvent| {
        if let CommandEvent::Started(s) = e {
            *seen.lock().unwrap().entry(s.command_name.clone()).or_default() += 1;
        }
    }));
    let client = mongodb::Client::with_options(options).unwrap();
    let db = client.database(&format!("bench_rt_{}", std::process::id()));
    db.drop().await.unwrap();
    let core = PrintCore::with_database(
        db.clone(),
        CoreConfig { log_delivery: LogDelivery::Background, ..CoreConfig::default() },
    )
    .await
    .unwrap();
    core.migrate(&Default::default()).await.unwrap();
    let out = tempfile::tempdir().unwrap();
    let (_t, shutdown) = printworker::shutdown::channel();
    let slot = Arc::new(PrinterSlot::new(
        PrinterIdentity {
            printer_id: "f".into(),
            name: "F".into(),
            printer_name: "f".into(),
            driver_name: None,
            system_name: None,
            connection_type: None,
        },
        Arc::new(FilePrinter::new(out.path(), PrinterCapabilities::default())),
        None,
        1,
    ));
    let fetcher = FileFetcher::new(FilePolicy {
        allowed_hosts: vec!["127.0.0.1".into()],
        allow_http: true,
        allow_loopback: true,
        ..FilePolicy::default()
    })
    .unwrap();
    let intervals = Intervals {
        poll: Duration::from_secs(5),
        health: Duration::from_secs(30),
        recovery: Duration::from_secs(30),
        stuck_check: Duration::from_secs(300),
        metrics: Duration::from_secs(300),
        job_poll: Duration::from_millis(100),
        shutdown_grace: Duration::from_secs(5),
        change_streams: false,
    };
    let worker = Worker::new(core.clone(), WorkerId::generate(), fetcher, vec![slot], intervals, shutdown);
    worker.health_once().await;
    let orders = db.collection::<Document>("orders");
    for i in 0..n {
        orders
            .insert_one(doc! { "orderId": format!("RT-{i}"), "paymentStatus": "completed", "printStatus": "pending", "createdAt": DateTime::now(), "fileURL": files.url("/doc.pdf") })
            .await
            .unwrap();
    }
    core.flush_logs().await;
    counts.lock().unwrap().clear();
    for _ in 0..n {
        assert_eq!(worker.claim_once().await, 1);
        let start = Instant::now();
        while worker.active_jobs() > 0 {
            assert!(start.elapsed() < Duration::from_secs(30), "a print did not finish");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    core.flush_logs().await;
    let printed = orders.count_documents(doc! { "printStatus": "printed" }).await.unwrap() as usize;
    let by_name = counts.lock().unwrap().clone();
    let total: usize = by_name.values().sum();
    let _ = db.drop().await;
    (total as f64 / printed.max(1) as f64, by_name)
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn cpu_ticks(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit(')').next()?.split_whitespace().collect::<Vec<_>>();
            Some(rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

async fn idle(files: &FileServer, seconds: u64) -> (u64, f64, u64) {
    let uri = server(Mode::ReplicaSet).uri.clone();
    let dir = tempfile::tempdir().unwrap();
    let db_name = format!("bench_idle_{}", std::process::id());
    let worker =
        WorkerProcess::start(&worker_config(dir.path(), "idle", &db_name, &uri, files, "poll_interval_secs = 5.0"));
    let pid = worker.pid().unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let ticks_before = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let cpu_pct = (cpu_ticks(pid) - ticks_before) as f64 / 100.0 / seconds as f64 * 100.0;
    let rss = rss_kb(pid);
    let mut floor = std::process::Command::new("sleep").arg("5").spawn().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let floor_rss = rss_kb(floor.id());
    let _ = floor.kill();
    let _ = floor.wait();
    drop(worker);
    (rss, cpu_pct, floor_rss)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = quick();
    let files = FileServer::start().await;
    files.route("/doc.pdf", Route::pdf(pdf(1, A4)));
    println!("worker benchmarks, server {}", printcore::redact_uri(&server(Mode::ReplicaSet).uri));

    let n = if quick { 2 } else { 20 };
    let streams = latency("change-streams", n, &files).await;
    let polling = latency("polling", if quick { 2 } else { 12 }, &files).await;
    let (s50, s95, p50, p95) = (
        percentile(streams.clone(), 0.5),
        percentile(streams, 0.95),
        percentile(polling.clone(), 0.5),
        percentile(polling, 0.95),
    );
    println!("payment -> claim latency (ms) | p50 | p95");
    println!("change streams | {s50:.0} | {s95:.0}  (clock-sync resolution: a few ms)");
    println!("polling every 5 s | {p50:.0} | {p95:.0}");
    println!("ratio polling/change streams (p50) | {:.1}", p50 / s50.max(1.0));

    let (per_order, by_name) = round_trips(if quick { 3 } else { 50 }, &files).await;
    println!("round trips per printed order | {per_order:.2}");
    println!("by command | {}", by_name.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", "));
    println!("baseline: a bare claim and completion | 2 (ratio {:.2})", per_order / 2.0);

    let (rss, cpu, floor) = idle(&files, if quick { 2 } else { 20 }).await;
    println!(
        "idle worker resident memory | {:.1} MB (goal < 20 MB); `sleep` floor {:.1} MB; ratio {:.1}",
        rss as f64 / 1024.0,
        floor as f64 / 1024.0,
        rss as f64 / floor.max(1) as f64
    );
    println!("idle worker CPU | {cpu:.2} % of one core");
}
