//! Drain rate and memory under a backlog:
//! - one worker process with 8 folder printers draining 500 paid orders (download, contained
//!   validation, the job folder, the being-sent mark, the journal's flushes, the three state writes of a
//!   job complete once taken: claim, being sent, submitted and printed in one), in
//!   orders per second, against Agenda 6's 500 no-op jobs at concurrency 8 (benches/node/agenda.mjs) and
//!   the bare loop of a claim and a completion with the plain driver, 8 at a time, all on the same server
//!   in the same run; and where the worker's time went, stage by stage (the worker logs its stage times
//!   when it stops: `worker/src/stages.rs`), as each stage's share of the printer slots' time, and who
//!   used the machine's cores: the database server's CPU per order (the worker, the bare loop, Agenda)
//!   and the worker's, and so the fastest drain the machine's cores allow at that cost;
//! - the worker's resident memory while 1,000,000 orders wait (sampled over a run while it prints from
//!   the front of that queue) against the same worker with an empty queue: flat, not growing with the
//!   backlog.
//!
//! `cargo build --release -p worker && cargo bench -p printcore-benches --bench drain`
//! (ORDERS=500 BACKLOG=1000000 by default; FILES_PER_CHILD=1 for a validation child per file; Agenda
//! needs `npm ci` in benches/node).

use bson::{doc, DateTime, Document};
use mongodb::Database;
use printcore::{CoreConfig, PrintCore};
use printcore_benches::{cpu_mark, cpu_since, database_pid, env_or, item, median, node, quick, rss_kb, CpuUse};
use printcore_tests::db::{fresh_database, server, Mode};
use printcore_tests::fileserver::{FileServer, Route};
use printcore_tests::pdfgen::{pdf, A4};
use printcore_tests::worker_proc::{worker_binary, WorkerProcess};
use std::time::{Duration, Instant};

const PRINTERS: usize = 8;

/// The collections and indexes, as `worker migrate` makes them (before anything is timed).
async fn prepare(db: &Database) {
    let core = PrintCore::with_database(db.clone(), CoreConfig::default()).await.unwrap();
    core.migrate(&Default::default()).await.unwrap();
}

async fn seed(db: &Database, n: usize, url: &str) {
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
    // FILES_PER_CHILD=1: a validation child per file, to see what the warm child saves.
    if let Ok(n) = std::env::var("FILES_PER_CHILD") {
        text.push_str(&format!("[validation]\nfiles_per_child = {n}\n"));
    }
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

/// What one worker run gave: its rate and its stage times (`worker/src/stages.rs`'s JSON).
struct WorkerRun {
    rate: f64,
    seconds: f64,
    stages: serde_json::Value,
    /// Who used the machine's cores while it drained (until the bench saw the last order printed).
    cpu: CpuUse,
}

/// The worker process draining `n` orders: orders per second from the moment they are queued (the
/// worker already running, its printers online) to the last one printed. The worker is then stopped
/// (SIGTERM) and its log's `time per stage:` line read.
async fn worker_drain(n: usize, url: &str) -> WorkerRun {
    let db = fresh_database(Mode::ReplicaSet, "drain").await;
    prepare(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let orders = db.collection::<Document>("orders");
    let log_path = dir.path().join("worker.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut worker = KillOnDrop(
        std::process::Command::new(worker_binary())
            .arg("--config")
            .arg(config(dir.path(), db.name()))
            .arg("run")
            .env_remove("MONGODB_URI")
            .env("PRINTCORE_LOG", "info,mongodb=warn")
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start the worker"),
    );
    let printers = db.collection::<Document>("printers");
    let ready = Instant::now();
    while printers.count_documents(doc! { "status": "online" }).await.unwrap() < PRINTERS as u64 {
        assert!(ready.elapsed() < Duration::from_secs(30), "the worker's printers never came online");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pids = [worker.0.id()];
    let db_pid = database_pid();
    let cpu = cpu_mark(db_pid, &pids);
    // From the moment the orders are queued (the worker's clock and this one are the machine's) to the
    // last one's `printCompletedAt`, as Agenda's rate runs to its last job's `complete` event. The bench
    // looks for the end only every 200 ms, so that its own reads weigh little on the server it measures.
    let start = Instant::now();
    let queued = std::time::SystemTime::now();
    seed(&db, n, url).await;
    loop {
        let printed = orders.count_documents(doc! { "printStatus": "printed" }).await.unwrap() as usize;
        if printed == n {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(600), "drain stalled at {printed} of {n}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let cpu = cpu_since(&cpu, db_pid, &pids);
    let last = orders
        .find_one(doc! { "printStatus": "printed" })
        .sort(doc! { "printCompletedAt": -1 })
        .await
        .unwrap()
        .and_then(|o| o.get_datetime("printCompletedAt").ok().copied())
        .expect("a printed order has its printCompletedAt");
    let end = std::time::UNIX_EPOCH + Duration::from_millis(last.timestamp_millis().max(0) as u64);
    let seconds = end.duration_since(queued).unwrap_or_default().as_secs_f64().max(1e-3);
    let stopped = std::process::Command::new("kill").arg("-TERM").arg(worker.0.id().to_string()).status();
    assert!(stopped.is_ok_and(|s| s.success()), "could not stop the worker");
    let deadline = Instant::now() + Duration::from_secs(30);
    while worker.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the worker did not stop within 30 s of SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let text = std::fs::read_to_string(&log_path).unwrap();
    let stages = text
        .lines()
        .find_map(|l| l.split_once("time per stage: ").map(|(_, json)| json.trim().to_owned()))
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_else(|| panic!("the worker logged no stage times; its log ends:\n{}", tail(&text)));
    let _ = db.drop().await;
    WorkerRun { rate: n as f64 / seconds, seconds, stages, cpu }
}

/// The last lines of a log, for an error message.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A child process killed when the bench lets go of it (also when an assertion fails).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Each stage's share of the printer slots' time (slots x the drain's seconds): the stages the worker
/// measured, the rest of the print task, and a slot with no order (waiting for the claim loop). The
/// claim runs in the claim loop, for one slot at a time: its row is its own time against the same base.
fn stage_table(run: &WorkerRun, n: usize) -> Vec<(&'static str, f64, f64)> {
    let ms = |k: &str| run.stages[k]["ms"].as_f64().unwrap_or(0.0);
    let slot_ms = PRINTERS as f64 * run.seconds * 1000.0;
    let inside = ["download", "validation", "being_sent_mark", "journal", "submit", "submitted_write", "complete"];
    let task = ms("task");
    let mut rows: Vec<(&'static str, f64)> = vec![
        ("claim (a round: read, write, read back)", ms("claim")),
        ("download", ms("download")),
        ("validation (contained child)", ms("validation")),
        ("being-sent mark (durable write)", ms("being_sent_mark")),
        ("journal (3 lines flushed to disk)", ms("journal")),
        ("submit (the job's folder written)", ms("submit")),
        ("submitted write (a printer that reports jobs)", ms("submitted_write")),
        ("completion (the reference and printed, one write)", ms("complete")),
    ];
    rows.push(("rest of the print task", (task - inside.iter().map(|k| ms(k)).sum::<f64>()).max(0.0)));
    rows.push(("slot without an order (claim loop, wake-ups)", (slot_ms - task).max(0.0)));
    rows.into_iter().map(|(name, t)| (name, t / n as f64, 100.0 * t / slot_ms)).collect()
}

/// The bare loop: 8 tasks each claiming (printcore's filter and sort) and completing with the plain
/// driver, no file, no audit, no printer.
async fn bare_drain(n: usize, url: &str) -> (f64, CpuUse) {
    let db = fresh_database(Mode::ReplicaSet, "drainbase").await;
    prepare(&db).await;
    seed(&db, n, url).await;
    let coll = db.collection::<Document>("orders");
    let db_pid = database_pid();
    let cpu = cpu_mark(db_pid, &[]);
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
    let cpu = cpu_since(&cpu, db_pid, &[]);
    let _ = db.drop().await;
    (rate, cpu)
}

/// The worker's resident memory (KB) sampled every second for `seconds` after it settled, with `backlog`
/// orders waiting.
async fn rss_under(backlog: usize, seconds: u64, url: &str) -> Vec<u64> {
    let db = fresh_database(Mode::ReplicaSet, "backlog").await;
    prepare(&db).await;
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
    let n = env_or("ORDERS", if quick { 100 } else { 500 });
    let backlog = env_or("BACKLOG", if quick { 10_000 } else { 1_000_000 });
    let runs = if quick { 1 } else { 3 };
    let files = FileServer::start().await;
    files.route("/doc.pdf", Route::pdf(pdf(1, A4)));
    let url = files.url("/doc.pdf");
    println!(
        "drain: {n} orders, {PRINTERS} folder printers, median of {runs} runs, server {}",
        printcore::redact_uri(&server(Mode::ReplicaSet).uri)
    );
    // Agenda 6 on the same server: the same number of no-op jobs at the same concurrency.
    let db_pid = database_pid();
    let agenda_cpu = cpu_mark(db_pid, &[]);
    let agenda = node(
        "agenda.mjs",
        &[
            ("N", n.to_string()),
            ("CONCURRENCY", PRINTERS.to_string()),
            ("RUNS", runs.to_string()),
            ("KINDS", "noop".into()),
            ("LATENCY", "0".into()),
        ],
    );
    // Its whole run: the script's start, each run's collection, its N enqueues one by one, and its
    // RUNS drains (an upper bound on what its drain alone costs the server).
    let agenda_cpu = cpu_since(&agenda_cpu, db_pid, &[]);
    let agenda_rate = agenda.as_deref().and_then(|out| {
        let last = out.lines().last()?;
        serde_json::from_str::<serde_json::Value>(last).ok()?["jobs_per_s"].as_f64()
    });
    let (mut ours, mut base, mut base_cpu) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let (rate, cpu) = bare_drain(n, &url).await;
        base.push(rate);
        base_cpu.push(cpu);
        ours.push(worker_drain(n, &url).await);
    }
    let rates: Vec<f64> = ours.iter().map(|r| r.rate).collect();
    let o = median(rates.clone());
    let b = median(base);
    let mid = ours.iter().find(|r| r.rate == o).expect("the median run");
    let show = |v: Option<f64>| v.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into());
    println!("{:<62} | {:>9}", "", "orders/s");
    println!("{:<62} | {:>9}", format!("Agenda 6, {n} no-op jobs, concurrency {PRINTERS}"), show(agenda_rate));
    println!("{:<62} | {b:>9.0}", format!("bare claim + complete loop, {PRINTERS} at a time (plain driver)"));
    println!("{:<62} | {o:>9.0}", "the worker process: download, validation, mark, journal, file, 3 writes");
    println!("  worker runs: {}", rates.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(", "));
    let ratio = agenda_rate.map(|a| o / a);
    println!(
        "ratio worker/Agenda no-op | {}",
        ratio.map(|r| format!("{r:.2}")).unwrap_or_else(|| "- (Agenda not measured)".into())
    );
    println!("ratio worker/bare | {:.2}", o / b);
    println!(
        "where the worker's time went (the median run, {:.2} s; share of {PRINTERS} slots x {:.2} s):",
        mid.seconds, mid.seconds
    );
    println!("  {:<48} | {:>9} | {:>6}", "stage", "ms/order", "share");
    for (name, per_order, share) in stage_table(mid, n) {
        println!("  {name:<48} | {per_order:>9.2} | {share:>5.1}%");
    }
    println!("  CPU: {}", mid.cpu.describe("file server, a count every 200 ms"));
    println!("  CPU per order: worker (with its validation children) {:.2} ms", mid.cpu.workers_ms_per(n));
    // What each order or job costs the database server: the rate it can keep up with on its cores.
    let shown = |v: Option<f64>| v.map(|v| format!("{v:.2} ms")).unwrap_or_else(|| "n/a (MONGODB_URI)".into());
    let base_ms: Vec<f64> = base_cpu.iter().filter_map(|c| c.db_ms_per(n)).collect();
    println!("the database server's CPU per order or job:");
    println!("  the worker (median run, orders queued to the last printed): {}", shown(mid.cpu.db_ms_per(n)));
    println!(
        "  the bare claim + complete loop (median of its runs): {}",
        shown((!base_ms.is_empty()).then(|| median(base_ms)))
    );
    println!(
        "  Agenda 6 (its whole script: {runs} x {n} jobs, enqueued one by one, then drained): {}",
        shown(agenda.as_ref().and(agenda_cpu.db_ms_per(n * runs)))
    );
    // The ceiling the cores set: however the waits are arranged, the machine cannot drain faster than its
    // cores divided by the CPU an order costs (server and worker; the bench's own share is ~0).
    if let Some(server) = mid.cpu.db_ms_per(n) {
        let per_order = server + mid.cpu.workers_ms_per(n);
        println!(
            "  at {per_order:.2} ms of CPU an order (server and worker) on {:.0} cores: at most {:.0} orders/s on this machine{}",
            mid.cpu.cores,
            mid.cpu.cores * 1000.0 / per_order,
            agenda_rate
                .map(|a| format!(
                    "; 1.5 x Agenda ({:.0}/s) needs at most {:.2} ms an order",
                    1.5 * a,
                    mid.cpu.cores * 1000.0 / (1.5 * a)
                ))
                .unwrap_or_default()
        );
    }
    item(
        &format!(
            "6. drain {n} orders, one worker, {PRINTERS} folder printers, against Agenda 6's no-op jobs (orders/s)"
        ),
        &format!("{o:.0}"),
        &format!("Agenda no-op {}", show(agenda_rate)),
        &ratio.map(|r| format!("{r:.2}")).unwrap_or_else(|| "-".into()),
        ">= 1.5",
        ratio.map(|r| r >= 1.5),
    );
    item(
        &format!("6. drain {n} orders against the bare claim + complete loop (orders/s)"),
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
    // The shape, a sample a second: a climb that levels off is the print tasks' buffers reaching their
    // high-water mark; one that keeps climbing would be the backlog.
    let shape = |v: &[u64]| v.iter().map(|kb| format!("{:.1}", mb(*kb))).collect::<Vec<_>>().join(" ");
    println!("  samples (MB), empty queue: {}", shape(&empty));
    println!("  samples (MB), {backlog} waiting: {}", shape(&full));
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
