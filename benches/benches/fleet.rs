//! A fleet on one database (issue 25, item 2): N worker processes (the release binary, two folder printers
//! each, the shop's default intervals) on one database server, every command they send counted on the
//! wire by a proxy ([`WireCounter`]) between them and the server. For each N (1, 10, 50 by default):
//!
//! - idle: commands a minute in total and per worker over a fixed window once every printer is online
//!   (goal: linear in N, at most 12 a minute for one printer and 1 more per extra printer: 13 per worker);
//! - a drain of 5,000 paid orders inserted at once: orders per second from the first payment to the last
//!   order printed, and payment -> printer p50/p99 (payment: this process's wall clock when the insert was
//!   sent; printer: the folder printer's job folder written, its modification time; one machine, one
//!   clock); the claim's wasted work: orders the workers' claims tried to take and did not (a claim that
//!   found nothing, an order another claimer took first), per printed order, from each worker's
//!   `printcore_claim_tries_total` (`/metrics`) before and after the drain: a claim's round takes several
//!   orders in one `update`, so the `findAndModify` on the wire no longer count the tries;
//! - orders paid one at a time at 20 a second (`mark_paid`, as the website does): payment -> printer
//!   p50/p99 (goal at N = 50: p99 under 1 s), right after the drain, and again once the database server
//!   has gone quiet after it (under a tenth of a core over a second; how long that took is reported):
//!   the first shows a server still digesting a drain, the second the steady arrival the goal names.
//!
//! Where the time goes, for every phase: the CPU of the database server, of the workers (with their
//! validation children) and of this process (the wire proxy, the file server, the payments), against the
//! machine's cores; and each order's time split into payment -> claim and claim -> printer (the claim's
//! `printStartedAt` is the worker's estimate of the server's clock, within half a round trip: the split is
//! approximate under load, payment -> printer is not).
//!
//! Prints one `ITEM|` line per goal, the table, and draws each figure against N into an SVG (plotters):
//! `docs/fleet.svg` under `cargo bench`, `FLEET_SVG` to put it elsewhere.
//!
//! `cargo build --release -p worker --bin worker && cargo bench -p printcore-benches --bench fleet`
//! (FLEET_N=1,10,50 FLEET_ORDERS=5000 FLEET_IDLE_SECS=120 FLEET_RATE=20 FLEET_ARRIVAL_SECS=30 by
//! default). The whole default run was not timed: on SecantusDB the claim's cost grows with the queue, and a
//! busy 2-core machine drained 5,000 orders at N = 1 at about 3/s (docs/BENCHMARKS.md); FLEET_ORDERS=1000 is
//! much faster. Under `cargo test --benches` it runs small, as a smoke test.

use bson::{doc, DateTime, Document};
use futures::{StreamExt, TryStreamExt};
use mongodb::Database;
use printcore::{CoreConfig, MarkPaid, PrintCore};
use printcore_benches::{
    cpu_mark, cpu_since, database_pid, env_or, item, percentile, proc_ticks, quick, rss_kb, CpuUse, TICKS,
};
use printcore_tests::db::{fresh_database, server, Mode};
use printcore_tests::fileserver::{FileServer, Route};
use printcore_tests::fixtures::paid_order;
use printcore_tests::pdfgen::{pdf, A4};
use printcore_tests::process::{spawn_until_ready, Service};
use printcore_tests::wire::WireCounter;
use printcore_tests::worker_proc::worker_binary;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Printers per worker process.
const PRINTERS: usize = 2;
/// The idle budget of issue 25 item 1 for one worker: 12 commands a minute with one printer, 1 more per
/// extra printer.
const IDLE_BUDGET: f64 = 12.0 + (PRINTERS as f64 - 1.0);

/// The fleet's worker processes. Dropping it kills every one of them (kill -9, then waits), also when the
/// bench panics; they also die with this process (`PR_SET_PDEATHSIG`, tests/src/process.rs).
struct Fleet {
    workers: Vec<Service>,
    /// Each worker's health endpoint port (`/metrics`).
    ports: Vec<u16>,
    /// Each worker's printer folders.
    folders: Vec<PathBuf>,
    _dir: tempfile::TempDir,
}

impl Fleet {
    /// Starts `n` workers on database `db` through `uri`, each with its own folder, configuration and journal.
    fn start(n: usize, uri: &str, db: &str) -> Fleet {
        let dir = tempfile::tempdir().expect("a folder for the fleet");
        let bin = worker_binary();
        let (mut workers, mut folders, mut ports) = (Vec::new(), Vec::new(), Vec::new());
        for w in 0..n {
            let home = dir.path().join(format!("w{w}"));
            std::fs::create_dir_all(&home).expect("the worker's folder");
            // The shop's defaults for every interval: only the database, the file host and the printers.
            let mut text = format!(
                "[database]\nuri = \"{uri}\"\nname = \"{db}\"\n\n[worker]\n\n\
                 [files]\nallowed_hosts = [\"127.0.0.1:*\"]\nallow_loopback = true\nallow_http = true\n"
            );
            // The health endpoint, for the claim's counters; its database check once a day, so that it adds
            // nothing to the idle count.
            let port = printcore_tests::process::free_port();
            text.push_str(&format!("\n[http]\nlisten = \"127.0.0.1:{port}\"\ndatabase_check_secs = 86400\n"));
            ports.push(port);
            for p in 0..PRINTERS {
                let folder = home.join(format!("out{p}"));
                text.push_str(&format!(
                    "\n[[printers]]\nid = \"w{w}p{p}\"\nname = \"Worker {w} folder {p}\"\nbackend = \"file\"\nfolder = \"{}\"\n",
                    folder.display()
                ));
                folders.push(folder);
            }
            let config = home.join("worker.toml");
            std::fs::write(&config, text).expect("write the worker's configuration");
            let mut cmd = Command::new(&bin);
            cmd.arg("--config").arg(&config).arg("run");
            // The shop's default log level, not the tests' debug logging.
            cmd.env_remove("MONGODB_URI").env_remove("PRINTCORE_LOG");
            workers.push(spawn_until_ready(cmd, None, Duration::ZERO).expect("start a worker process"));
        }
        Fleet { workers, ports, folders, _dir: dir }
    }

    /// The orders the fleet's claims tried to take and took so far: each worker's
    /// `printcore_claim_tries_total`, summed.
    async fn claim_tries(&self) -> (u64, u64) {
        let (mut tried, mut taken) = (0, 0);
        for port in &self.ports {
            let body = match printcore_tests::process::http_get(*port, "/metrics").await {
                Some((200, body)) => body,
                other => panic!("worker on port {port}: /metrics answered {other:?}"),
            };
            let read = |outcome: &str| {
                let key = format!("printcore_claim_tries_total{{outcome=\"{outcome}\"}} ");
                body.lines()
                    .find_map(|l| l.strip_prefix(key.as_str()))
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .unwrap_or_else(|| panic!("worker on port {port}: no {key} in /metrics")) as u64
            };
            let (t, m) = (read("taken"), read("missed"));
            tried += t + m;
            taken += t;
        }
        (tried, taken)
    }

    fn pids(&self) -> Vec<u32> {
        self.workers.iter().map(|s| s.child.id()).collect()
    }

    /// Every worker still running (none exited on a configuration or connection error).
    fn check_running(&mut self) {
        for (i, s) in self.workers.iter_mut().enumerate() {
            if let Ok(Some(status)) = s.child.try_wait() {
                panic!("worker {i} of the fleet exited ({status}); run it by hand with its worker.toml to see why");
            }
        }
    }

    /// When each job reached a printer (its folder's modification time: the folder printer writes the job
    /// under a temporary name, then renames it), by order id.
    fn jobs_at_printers(&self) -> HashMap<String, SystemTime> {
        let mut out = HashMap::new();
        for folder in &self.folders {
            let Ok(entries) = std::fs::read_dir(folder) else { continue };
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with('.') {
                    continue;
                }
                let Ok(meta) = std::fs::read(e.path().join("job.json")) else { continue };
                let Ok(meta) = serde_json::from_slice::<serde_json::Value>(&meta) else { continue };
                let (Some(order), Ok(at)) = (meta["orderId"].as_str(), e.metadata().and_then(|m| m.modified())) else {
                    continue;
                };
                out.insert(order.to_owned(), at);
            }
        }
        out
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for s in &mut self.workers {
            let _ = s.child.kill();
        }
        for s in &mut self.workers {
            let _ = s.child.wait();
        }
    }
}

/// What this bench does while it measures, for the CPU lines.
const FLEET_BENCH: &str = "wire proxy, file server, payments";

fn ms_between(from: SystemTime, to: SystemTime) -> f64 {
    match to.duration_since(from) {
        Ok(d) => d.as_secs_f64() * 1000.0,
        Err(e) => -(e.duration().as_secs_f64() * 1000.0),
    }
}

fn system_time(d: DateTime) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(d.timestamp_millis().max(0) as u64)
}

/// p50 and p99 of the samples (0 when there are none).
fn p50_p99(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    (percentile(v.to_vec(), 0.5), percentile(v.to_vec(), 0.99))
}

/// Each printed order's stages, in milliseconds: payment -> printer, payment -> claim, claim -> printer.
#[derive(Default)]
struct Stages {
    paper: Vec<f64>,
    claim: Vec<f64>,
    after_claim: Vec<f64>,
}

/// The stages of the orders whose ids start with `prefix`, from their payment times, the database (the
/// claim's `printStartedAt`) and the printers' folders. Also the last `printCompletedAt` and the sum of
/// `printAttempt` (claims that took an order).
async fn stages(
    db: &Database,
    fleet: &Fleet,
    prefix: &str,
    paid: &HashMap<String, SystemTime>,
) -> (Stages, SystemTime, i64) {
    let at_printer = fleet.jobs_at_printers();
    let mut cursor = db
        .collection::<Document>("orders")
        .find(doc! { "orderId": { "$regex": format!("^{prefix}") } })
        .projection(doc! { "orderId": 1, "printStartedAt": 1, "printCompletedAt": 1, "printAttempt": 1 })
        .await
        .expect("read the run's orders");
    let (mut out, mut last, mut attempts) = (Stages::default(), UNIX_EPOCH, 0i64);
    while let Some(o) = cursor.try_next().await.expect("read the run's orders") {
        let id = o.get_str("orderId").unwrap_or_default().to_owned();
        attempts += o.get_i32("printAttempt").map(i64::from).or_else(|_| o.get_i64("printAttempt")).unwrap_or(0);
        if let Ok(done) = o.get_datetime("printCompletedAt") {
            last = last.max(system_time(*done));
        }
        let Some(&paid_at) = paid.get(&id) else { continue };
        if let Some(&printer) = at_printer.get(&id) {
            out.paper.push(ms_between(paid_at, printer));
            if let Ok(started) = o.get_datetime("printStartedAt") {
                let started = system_time(*started);
                out.claim.push(ms_between(paid_at, started));
                out.after_claim.push(ms_between(started, printer));
            }
        }
    }
    (out, last, attempts)
}

/// Waits until `target` orders are printed, at most `deadline`, polling the database (an index count)
/// twice a second. Panics naming how far it got.
async fn wait_printed(db: &Database, fleet: &mut Fleet, target: u64, deadline: Duration, what: &str) {
    if let Err(e) = try_wait_printed(db, fleet, target, deadline, what).await {
        panic!("{e}");
    }
}

/// Waits until `target` orders are printed; after `deadline`, says how many were.
async fn try_wait_printed(
    db: &Database,
    fleet: &mut Fleet,
    target: u64,
    deadline: Duration,
    what: &str,
) -> Result<(), String> {
    let orders = db.collection::<Document>("orders");
    let start = Instant::now();
    loop {
        let printed = orders.count_documents(doc! { "printStatus": "printed" }).await.expect("count printed orders");
        if printed >= target {
            return Ok(());
        }
        fleet.check_running();
        if start.elapsed() >= deadline {
            return Err(format!("{what}: {printed} of {target} orders printed after {deadline:?}"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Counts the changes to `printers` (the workers' health writes, a `findAndModify` each) until aborted.
fn count_printer_writes(db: &Database) -> (Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let count = Arc::new(AtomicUsize::new(0));
    let (c, printers) = (count.clone(), db.collection::<Document>("printers"));
    let task = tokio::spawn(async move {
        let Ok(mut stream) = printers.watch().await else { return };
        while let Some(Ok(_)) = stream.next().await {
            c.fetch_add(1, Ordering::Relaxed);
        }
    });
    (count, task)
}

/// One N's figures.
#[derive(Default)]
struct Row {
    n: usize,
    idle_secs: f64,
    idle_total: f64,
    idle_per_worker: f64,
    /// Commands a minute per worker, by name.
    idle_by_name: BTreeMap<String, f64>,
    idle_rss_mb: f64,
    idle_cpu: CpuUse,
    orders: usize,
    drain_rate: f64,
    drain: (f64, f64),
    drain_claim: (f64, f64),
    drain_after_claim: (f64, f64),
    drain_cmds_per_order: f64,
    fam: usize,
    health_writes: usize,
    claims: i64,
    /// Orders the claims tried to take in the drain, and took (`printcore_claim_tries_total`).
    tries: u64,
    taken: u64,
    wasted: f64,
    drain_cpu: CpuUse,
    /// Commands per printed order in the drain, by name.
    drain_by_name: BTreeMap<String, f64>,
    arrivals: usize,
    /// The orders arriving right after the drain.
    arrival: Arrival,
    /// The database server's CPU per write (ms) before the fleet started (no change stream open) and
    /// with the fleet idle (its change streams open).
    write_cost: Option<(f64, f64)>,
    /// How long the database server took to go quiet after the first arrival phase (`None`: it did not
    /// within 180 s), and the same arrivals measured then.
    quiet_after: Option<Duration>,
    arrival_quiet: Option<Arrival>,
    /// The database server's CPU per write (ms) once it went quiet after the first arrivals.
    write_cost_quiet: Option<f64>,
}

struct Plan {
    orders: usize,
    idle_secs: u64,
    settle_secs: u64,
    rate: usize,
    arrival_secs: u64,
}

async fn run_fleet(n: usize, plan: &Plan, wire: &WireCounter, url: &str) -> Row {
    let server_uri = server(Mode::ReplicaSet).uri.clone();
    let db = fresh_database(Mode::ReplicaSet, &format!("fleet{n}")).await;
    let core =
        PrintCore::with_database(db.clone(), CoreConfig::default()).await.expect("printcore on the bench database");
    core.migrate(&Default::default()).await.expect("migrate the bench database");
    let db_pid = database_pid();
    let mut row = Row { n, orders: plan.orders, ..Row::default() };

    let quiet_write = write_cost(&db, db_pid).await;
    // Up: every printer of every worker recorded online.
    let started = Instant::now();
    let mut fleet = Fleet::start(n, &wire.uri(&server_uri), db.name());
    let pids = fleet.pids();
    let printers = db.collection::<Document>("printers");
    loop {
        let online = printers.count_documents(doc! { "status": "online" }).await.expect("count printers");
        if online >= (n * PRINTERS) as u64 {
            break;
        }
        fleet.check_running();
        assert!(
            started.elapsed() < Duration::from_secs(60 + 3 * n as u64),
            "{online} of {} printers online {:?} after starting {n} workers",
            n * PRINTERS,
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("N = {n}: {} printers online {:.1} s after the start", n * PRINTERS, started.elapsed().as_secs_f64());
    // The start's own work (first health writes, first sweeps) is not idle cost.
    tokio::time::sleep(Duration::from_secs(plan.settle_secs)).await;

    // Idle.
    wire.clear();
    let (idle_start, cpu) = (Instant::now(), cpu_mark(db_pid, &pids));
    tokio::time::sleep(Duration::from_secs(plan.idle_secs)).await;
    let idle_counts = wire.counts_since(idle_start);
    row.idle_secs = idle_start.elapsed().as_secs_f64();
    row.idle_cpu = cpu_since(&cpu, db_pid, &pids);
    row.idle_rss_mb = pids.iter().map(|p| rss_kb(*p)).sum::<u64>() as f64 / 1024.0;
    fleet.check_running();
    let minutes = row.idle_secs / 60.0;
    let total: usize = idle_counts.values().sum();
    row.idle_total = total as f64 / minutes;
    row.idle_per_worker = row.idle_total / n as f64;
    row.idle_by_name = idle_counts.iter().map(|(k, v)| (k.clone(), *v as f64 / minutes / n as f64)).collect();
    // What each write costs the server with the fleet's change streams open, against before the fleet.
    row.write_cost = quiet_write.zip(write_cost(&db, db_pid).await);

    // The drain: `orders` paid orders inserted at once, as the website leaves them once paid.
    let tries_before = fleet.claim_tries().await;
    wire.clear();
    let (health_writes, watcher) = count_printer_writes(&db);
    let orders = db.collection::<Document>("orders");
    let (drain_start, cpu) = (Instant::now(), cpu_mark(db_pid, &pids));
    let mut paid = HashMap::new();
    let base = DateTime::now();
    let first_payment = SystemTime::now();
    for chunk in (0..plan.orders).collect::<Vec<_>>().chunks(500) {
        let at = SystemTime::now();
        let docs: Vec<Document> = chunk
            .iter()
            .map(|k| {
                let id = format!("F{n}-D{k}");
                let mut d = paid_order(&id, base, (plan.orders - k) as i64);
                d.insert("fileURL", url);
                d.insert("paidAt", DateTime::from_system_time(at));
                paid.insert(id, at);
                d
            })
            .collect();
        orders.insert_many(docs).await.expect("insert paid orders");
    }
    wait_printed(&db, &mut fleet, plan.orders as u64, Duration::from_secs(900), &format!("drain with {n} workers"))
        .await;
    let drain_counts = wire.counts_since(drain_start);
    let tries_after = fleet.claim_tries().await;
    row.drain_cpu = cpu_since(&cpu, db_pid, &pids);
    watcher.abort();
    let (s, last, attempts) = stages(&db, &fleet, &format!("F{n}-D"), &paid).await;
    assert_eq!(s.paper.len(), plan.orders, "every drained order's job is in a printer's folder");
    row.drain_rate = plan.orders as f64 / (ms_between(first_payment, last) / 1000.0).max(1e-3);
    (row.drain, row.drain_claim, row.drain_after_claim) =
        (p50_p99(&s.paper), p50_p99(&s.claim), p50_p99(&s.after_claim));
    row.fam = drain_counts.get("findAndModify").copied().unwrap_or(0);
    row.health_writes = health_writes.load(Ordering::Relaxed);
    row.claims = attempts;
    let (tried, taken) = (tries_after.0 - tries_before.0, tries_after.1 - tries_before.1);
    row.tries = tried;
    row.taken = taken;
    row.wasted = (tried - taken) as f64 / plan.orders as f64;
    row.drain_cmds_per_order = drain_counts.values().sum::<usize>() as f64 / plan.orders as f64;
    row.drain_by_name = per_order(&drain_counts, plan.orders);

    // Orders paid one at a time at `rate` a second (the website's mark_paid), the fleet otherwise idle:
    // first right after the drain, then once the database server has gone quiet after it.
    let m = plan.rate * plan.arrival_secs as usize;
    row.arrivals = m;
    let pids = fleet.pids();
    row.arrival = arrive(&core, &db, &mut fleet, wire, url, n, plan, "A", plan.orders, db_pid, &pids).await;
    let quiet_from = Instant::now();
    row.quiet_after = server_quiet(db_pid, Duration::from_secs(180)).await.then(|| quiet_from.elapsed());
    // What a write costs the server now, the fleet idle again: against `write_cost` before the drain, it
    // says whether the server's state (its oplog, its streams) changed what each write costs.
    row.write_cost_quiet = write_cost(&db, db_pid).await;
    let _ = server_quiet(db_pid, Duration::from_secs(60)).await;
    row.arrival_quiet =
        Some(arrive(&core, &db, &mut fleet, wire, url, n, plan, "Q", plan.orders + m, db_pid, &pids).await);

    drop(fleet);
    let _ = db.drop().await;
    row
}

/// One arrival phase: `rate` orders a second paid one at a time for `arrival_secs` (ids `F{n}-{tag}k`),
/// `before` orders already printed; payment -> printer and its stages, the CPU and the commands per paid
/// order while they arrive.
#[allow(clippy::too_many_arguments)]
async fn arrive(
    core: &PrintCore,
    db: &Database,
    fleet: &mut Fleet,
    wire: &WireCounter,
    url: &str,
    n: usize,
    plan: &Plan,
    tag: &str,
    before: usize,
    db_pid: Option<u32>,
    pids: &[u32],
) -> Arrival {
    let orders = db.collection::<Document>("orders");
    let m = plan.rate * plan.arrival_secs as usize;
    // Created one by one before they are paid, a millisecond apart, as a website creates them.
    let base = DateTime::now();
    let docs: Vec<Document> = (0..m)
        .map(|k| {
            let mut d = paid_order(&format!("F{n}-{tag}{k}"), base, (m - k) as i64);
            for f in ["printStatus", "printAttempt", "printPriority"] {
                d.remove(f);
            }
            d.insert("paymentStatus", "pending");
            d.insert("fileURL", url);
            d
        })
        .collect();
    if !docs.is_empty() {
        orders.insert_many(docs).await.expect("insert unpaid orders");
    }
    let cpu = cpu_mark(db_pid, pids);
    wire.clear();
    let arrival_start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / plan.rate as f64));
    let mut payments = Vec::new();
    for k in 0..m {
        tick.tick().await;
        let core = core.clone();
        let id = format!("F{n}-{tag}{k}");
        payments.push(tokio::spawn(async move {
            let at = SystemTime::now();
            core.mark_paid(&id, &MarkPaid::default()).await.expect("mark an order paid");
            (id, at)
        }));
    }
    let mut paid = HashMap::new();
    for p in payments {
        let (id, at) = p.await.expect("a payment task");
        paid.insert(id, at);
    }
    let arrival_deadline = Duration::from_secs(300);
    let finished =
        try_wait_printed(db, fleet, (before + m) as u64, arrival_deadline, &format!("{n} workers, orders arriving"))
            .await;
    let cpu = cpu_since(&cpu, db_pid, pids);
    let by_name = per_order(&wire.counts_since(arrival_start), m);
    let (mut s, _, _) = stages(db, fleet, &format!("F{n}-{tag}"), &paid).await;
    let mut unprinted = 0;
    match finished {
        Ok(()) => assert_eq!(s.paper.len(), m, "every paid order's job is in a printer's folder"),
        Err(e) => {
            // Not every order printed in time: each one missing counts as printed at the deadline (the
            // figures are then lower bounds), and the run goes on so the other figures and the chart are
            // still drawn.
            println!("N = {n}: {e}");
            unprinted = m - s.paper.len();
            let waited = arrival_deadline.as_secs_f64() * 1000.0;
            s.paper.resize(m, waited);
        }
    }
    Arrival {
        paper: p50_p99(&s.paper),
        claim: p50_p99(&s.claim),
        after_claim: p50_p99(&s.after_claim),
        cpu,
        by_name,
        unprinted,
    }
}

impl Arrival {
    /// Payment -> printer p50 / p99, saying when some orders were not printed (a lower bound then).
    fn p50_p99(&self, arrivals: usize) -> String {
        let (p50, p99) = self.paper;
        if self.unprinted > 0 {
            format!("{p50:.0} / {p99:.0} ms or more ({} of {arrivals} not printed after 300 s)", self.unprinted)
        } else {
            format!("{p50:.0} / {p99:.0} ms")
        }
    }
}

/// How long the server took to go quiet, in words.
fn quiet_words(after: Option<Duration>) -> String {
    match after {
        Some(d) => format!("after {:.0} s", d.as_secs_f64()),
        None => "it was still busy after 180 s".into(),
    }
}

/// What one arrival phase measured.
#[derive(Default)]
struct Arrival {
    paper: (f64, f64),
    claim: (f64, f64),
    after_claim: (f64, f64),
    cpu: CpuUse,
    by_name: BTreeMap<String, f64>,
    unprinted: usize,
}

/// Waits until the database server uses under a tenth of a core over a second (whatever it still does
/// after a drain: its change streams catching up, its own background work), at most `deadline`. Whether
/// it went quiet (`true` without a server process of this bench's own to watch).
async fn server_quiet(db_pid: Option<u32>, deadline: Duration) -> bool {
    let Some(pid) = db_pid else { return true };
    let start = Instant::now();
    while start.elapsed() < deadline {
        let before = proc_ticks(pid);
        tokio::time::sleep(Duration::from_secs(1)).await;
        if (proc_ticks(pid).saturating_sub(before) as f64 / TICKS) < 0.1 {
            return true;
        }
    }
    false
}

/// Writes the probe makes to measure what one write costs the database server.
const PROBE_WRITES: usize = 400;

/// The database server's CPU time per write (ms): [`PROBE_WRITES`] single-document inserts into a scratch
/// collection, 100 a second, as the fleet's own writes arrive one at a time. Every change stream open on
/// the server may be woken by each (`None` where the server is not this bench's own process).
async fn write_cost(db: &Database, db_pid: Option<u32>) -> Option<f64> {
    let pid = db_pid?;
    let probe = db.collection::<Document>("fleet_probe");
    let before = proc_ticks(pid);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    for i in 0..PROBE_WRITES {
        tick.tick().await;
        probe.insert_one(doc! { "i": i as i64 }).await.expect("a probe write");
    }
    let used = proc_ticks(pid).saturating_sub(before) as f64 / TICKS;
    let _ = probe.drop().await;
    Some(used * 1000.0 / PROBE_WRITES as f64)
}

/// Commands by name, per order.
fn per_order(counts: &BTreeMap<String, usize>, orders: usize) -> BTreeMap<String, f64> {
    counts.iter().map(|(k, v)| (k.clone(), *v as f64 / orders.max(1) as f64)).collect()
}

/// The commands of an idle worker a minute, largest first: `name a/min`.
fn idle_breakdown(r: &Row) -> String {
    largest_first(&r.idle_by_name)
}

/// `name figure`, largest first.
fn largest_first(by_name: &BTreeMap<String, f64>) -> String {
    let mut v: Vec<(&String, &f64)> = by_name.iter().collect();
    v.sort_by(|a, b| b.1.partial_cmp(a.1).unwrap_or(std::cmp::Ordering::Equal));
    v.iter().map(|(k, c)| format!("{k} {c:.1}")).collect::<Vec<_>>().join(", ")
}

fn by_n(rows: &[Row], f: impl Fn(&Row) -> String) -> String {
    rows.iter().map(|r| format!("N={}: {}", r.n, f(r))).collect::<Vec<_>>().join(", ")
}

/// Each figure against N, one panel each, into an SVG.
fn draw_chart(path: &Path, rows: &[Row], orders: usize, rate: usize) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    type Series = (&'static str, RGBColor, Vec<(f64, f64)>);
    let pts = |f: &dyn Fn(&Row) -> f64| rows.iter().map(|r| (r.n as f64, f(r))).collect::<Vec<_>>();
    let gray = RGBColor(150, 150, 150);
    let panels: Vec<(String, &str, Vec<Series>)> = vec![
        (
            "Idle: commands a minute, whole fleet".into(),
            "commands/min",
            vec![
                ("measured", BLUE, pts(&|r| r.idle_total)),
                ("budget (13 per worker)", gray, pts(&|r| IDLE_BUDGET * r.n as f64)),
            ],
        ),
        (
            "Idle: commands a minute per worker".into(),
            "commands/min",
            vec![("measured", BLUE, pts(&|r| r.idle_per_worker)), ("budget", gray, pts(&|_| IDLE_BUDGET))],
        ),
        (format!("Drain of {orders} orders: throughput"), "orders/s", vec![("orders/s", BLUE, pts(&|r| r.drain_rate))]),
        (
            format!("Drain of {orders} orders: payment to printer"),
            "ms",
            vec![("p50", BLUE, pts(&|r| r.drain.0)), ("p99", RED, pts(&|r| r.drain.1))],
        ),
        (
            "Claim's wasted tries per printed order".into(),
            "per order",
            vec![("wasted", BLUE, pts(&|r| r.wasted.max(0.0)))],
        ),
        (
            "Database server's CPU per write".into(),
            "ms",
            vec![
                ("the fleet's change streams open", BLUE, pts(&|r| r.write_cost.map_or(0.0, |w| w.1))),
                ("before the fleet started", gray, pts(&|r| r.write_cost.map_or(0.0, |w| w.0))),
            ],
        ),
        (
            format!("{rate} orders/s arriving: payment to printer"),
            "ms",
            vec![
                ("p50", BLUE, pts(&|r| r.arrival.paper.0)),
                ("p99", RED, pts(&|r| r.arrival.paper.1)),
                ("goal p99 at N=50", gray, pts(&|_| 1000.0)),
            ],
        ),
    ];
    let root = SVGBackend::new(path, (1680, 760)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root
        .titled(&format!("A fleet on one database: N workers, {PRINTERS} folder printers each"), ("sans-serif", 22))?;
    let max_n = rows.iter().map(|r| r.n).max().unwrap_or(1) as f64;
    for (area, (title, unit, series)) in root.split_evenly((2, 4)).iter().zip(panels) {
        let top = series.iter().flat_map(|s| s.2.iter().map(|p| p.1)).fold(0.0f64, f64::max);
        // Headroom above the highest point for the legend.
        let top = if top > 0.0 { top * 1.4 } else { 1.0 };
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d((0.8f64..max_n * 1.3).log_scale(), 0f64..top)?;
        chart
            .configure_mesh()
            .x_desc("worker processes (N)")
            .y_desc(unit)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()?;
        for (name, color, points) in series {
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)).point_size(4))?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = quick();
    let sizes: Vec<usize> = std::env::var("FLEET_N")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).filter(|n| *n > 0).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| if quick { vec![1, 2] } else { vec![1, 10, 50] });
    let plan = Plan {
        orders: env_or("FLEET_ORDERS", if quick { 40 } else { 5000 }).max(1),
        idle_secs: env_or("FLEET_IDLE_SECS", if quick { 5 } else { 120 }) as u64,
        settle_secs: env_or("FLEET_SETTLE_SECS", if quick { 2 } else { 10 }) as u64,
        rate: env_or("FLEET_RATE", 20).max(1),
        arrival_secs: env_or("FLEET_ARRIVAL_SECS", if quick { 2 } else { 30 }) as u64,
    };
    let svg = std::env::var_os("FLEET_SVG").map(PathBuf::from).unwrap_or_else(|| {
        if quick {
            std::env::temp_dir().join(format!("fleet-{}.svg", std::process::id()))
        } else {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/fleet.svg")
        }
    });
    let server_uri = server(Mode::ReplicaSet).uri.clone();
    let wire = WireCounter::start(&server_uri).await;
    let files = FileServer::start().await;
    files.route("/doc.pdf", Route::pdf(pdf(1, A4)));
    let url = files.url("/doc.pdf");
    println!(
        "fleet: N worker processes (release binary, shop's default intervals, change streams), {PRINTERS} folder \
         printers each, one database server {}, every command counted on the wire (a proxy in this process)",
        printcore::redact_uri(&server_uri)
    );
    println!(
        "N = {sizes:?}; idle window {} s after {} s settling; drain of {} paid orders inserted at once; {} orders \
         a second paid one at a time for {} s",
        plan.idle_secs, plan.settle_secs, plan.orders, plan.rate, plan.arrival_secs
    );
    let mut rows = Vec::new();
    for &n in &sizes {
        let r = run_fleet(n, &plan, &wire, &url).await;
        // Each N as soon as it is measured: a run stopped later still says what it found.
        println!(
            "N = {n} measured: idle {:.1} commands/min per worker, drain {:.1} orders/s (p50 {:.0} ms, p99 {:.0} ms), \
             wasted {:.2} per order, {}/s p50 {:.0} ms p99 {:.0} ms; once the server was quiet ({}): p50 {:.0} ms p99 {:.0} ms",
            r.idle_per_worker,
            r.drain_rate,
            r.drain.0,
            r.drain.1,
            r.wasted,
            plan.rate,
            r.arrival.paper.0,
            r.arrival.paper.1,
            quiet_words(r.quiet_after),
            r.arrival_quiet.as_ref().map_or(f64::NAN, |q| q.paper.0),
            r.arrival_quiet.as_ref().map_or(f64::NAN, |q| q.paper.1)
        );
        rows.push(r);
    }

    println!();
    println!(
        "{:>3} | {:>9} | {:>10} | {:>8} | {:>9} | {:>9} | {:>13} | {:>10} | {:>10}",
        "N", "idle/min", "per worker", "orders/s", "drain p50", "drain p99", "wasted/order", "20/s p50", "20/s p99"
    );
    for r in &rows {
        println!(
            "{:>3} | {:>9.0} | {:>10.1} | {:>8.1} | {:>7.0}ms | {:>7.0}ms | {:>13.2} | {:>8.0}ms | {:>8.0}ms",
            r.n,
            r.idle_total,
            r.idle_per_worker,
            r.drain_rate,
            r.drain.0,
            r.drain.1,
            r.wasted,
            r.arrival.paper.0,
            r.arrival.paper.1
        );
    }
    println!(
        "(20/s: {} orders paid one at a time at {} a second; p50/p99 payment -> printer)",
        rows[0].arrivals, plan.rate
    );
    println!();
    println!("where the commands and the time go:");
    for r in &rows {
        println!("N = {}:", r.n);
        println!(
            "  idle, per worker a minute ({:.0} s window): {}; workers' memory {:.0} MB in all",
            r.idle_secs,
            idle_breakdown(r),
            r.idle_rss_mb
        );
        println!("  idle CPU: {}", r.idle_cpu.describe(FLEET_BENCH));
        if let Some((quiet, watched)) = r.write_cost {
            println!(
                "  one write costs the database server {watched:.2} ms of CPU with the {} workers' change streams \
                 open, {quiet:.2} ms before they started: {:.3} ms per worker",
                r.n,
                (watched - quiet) / r.n as f64
            );
        }
        println!(
            "  drain: {:.1} commands per printed order; findAndModify {} ({} of them health writes); the claims \
             tried {} orders and took {} (the orders' attempts add up to {}; {:.0} wasted, {:.2} per order)",
            r.drain_cmds_per_order,
            r.fam,
            r.health_writes,
            r.tries,
            r.taken,
            r.claims,
            r.wasted * r.orders as f64,
            r.wasted
        );
        println!(
            "  drain stages p50/p99: payment -> claim {:.0}/{:.0} ms, claim -> printer {:.0}/{:.0} ms",
            r.drain_claim.0, r.drain_claim.1, r.drain_after_claim.0, r.drain_after_claim.1
        );
        println!("  drain CPU: {}", r.drain_cpu.describe(FLEET_BENCH));
        println!("  drain commands per printed order: {}", largest_first(&r.drain_by_name));
        println!(
            "  {}/s stages p50/p99: payment -> claim {:.0}/{:.0} ms, claim -> printer {:.0}/{:.0} ms",
            plan.rate, r.arrival.claim.0, r.arrival.claim.1, r.arrival.after_claim.0, r.arrival.after_claim.1
        );
        println!("  {}/s CPU: {}", plan.rate, r.arrival.cpu.describe(FLEET_BENCH));
        println!("  {}/s commands per paid order: {}", plan.rate, largest_first(&r.arrival.by_name));
        if let Some(q) = &r.arrival_quiet {
            if let Some(w) = r.write_cost_quiet {
                println!("  one write then cost the database server {w:.2} ms of CPU, the fleet idle again");
            }
            println!(
                "  {}/s again, once the server was quiet ({}): payment -> printer p50/p99 {}; \
                 payment -> claim {:.0}/{:.0} ms, claim -> printer {:.0}/{:.0} ms",
                plan.rate,
                quiet_words(r.quiet_after),
                q.p50_p99(r.arrivals),
                q.claim.0,
                q.claim.1,
                q.after_claim.0,
                q.after_claim.1
            );
            println!("  {}/s again, CPU: {}", plan.rate, q.cpu.describe(FLEET_BENCH));
            println!("  {}/s again, commands per paid order: {}", plan.rate, largest_first(&q.by_name));
        }
    }

    // The goals.
    let idle_met = rows.iter().all(|r| r.idle_per_worker <= IDLE_BUDGET);
    let first = &rows[0];
    let last = rows.last().unwrap();
    item(
        &format!("25.2 fleet idle commands a minute per worker ({PRINTERS} folder printers each, shop defaults)"),
        &by_n(&rows, |r| format!("{:.1}", r.idle_per_worker)),
        &format!("budget {IDLE_BUDGET:.0} (12 + 1 per extra printer)"),
        &format!("{:.2}", last.idle_per_worker / IDLE_BUDGET),
        "linear in N at <= 13 per worker",
        Some(idle_met),
    );
    // Throughput must not fall as N grows: each N at least 0.9 of the best at fewer workers.
    let mut best = 0.0f64;
    let mut drain_met = true;
    for r in &rows {
        drain_met &= r.drain_rate >= 0.9 * best;
        best = best.max(r.drain_rate);
    }
    item(
        &format!("25.2 fleet drain of {} orders (orders/s)", plan.orders),
        &by_n(&rows, |r| format!("{:.0}", r.drain_rate)),
        &format!("N={}: {:.0}", first.n, first.drain_rate),
        &format!("{:.2}", last.drain_rate / first.drain_rate.max(1e-9)),
        "does not fall as N grows (each >= 0.9 of the best at fewer N)",
        Some(drain_met),
    );
    item(
        &format!("25.2 fleet drain of {} orders, payment -> printer p50 / p99", plan.orders),
        &by_n(&rows, |r| format!("{:.1} / {:.1} s", r.drain.0 / 1000.0, r.drain.1 / 1000.0)),
        "-",
        "-",
        "report",
        None,
    );
    item(
        "25.2 fleet claim's wasted tries per printed order (drain; orders a claim tried to take and did not)",
        &by_n(&rows, |r| format!("{:.2}", r.wasted)),
        "-",
        "-",
        "report",
        None,
    );
    if rows.iter().any(|r| r.write_cost.is_some()) {
        item(
            "25.2 fleet database server CPU per write, the fleet's change streams open (before the fleet started)",
            &by_n(&rows, |r| r.write_cost.map_or("n/a".into(), |(q, w)| format!("{w:.2} ms ({q:.2})"))),
            "-",
            "-",
            "report: where the server's time goes",
            None,
        );
    }
    let at50 = rows.iter().find(|r| r.n == 50).unwrap_or(last);
    item(
        &format!("25.2 fleet payment -> printer at N={}, {} orders/s arriving, p50 / p99", at50.n, plan.rate),
        &at50.arrival.p50_p99(at50.arrivals),
        "-",
        "-",
        "p99 < 1 s at N=50",
        Some(at50.arrival.paper.1 < 1000.0),
    );

    if let Some(q) = &at50.arrival_quiet {
        item(
            &format!(
                "25.2 fleet payment -> printer at N={}, {} orders/s arriving once the server went quiet after the drain ({}), p50 / p99",
                at50.n,
                plan.rate,
                quiet_words(at50.quiet_after)
            ),
            &q.p50_p99(at50.arrivals),
            "-",
            "-",
            "p99 < 1 s at N=50",
            Some(q.paper.1 < 1000.0),
        );
    }

    // Where a figure falls short, say where the time goes.
    if !idle_met {
        let worst = rows.iter().max_by(|a, b| a.idle_per_worker.total_cmp(&b.idle_per_worker)).unwrap();
        println!(
            "idle NOT met: {:.1} commands a minute per worker at N={} against {IDLE_BUDGET:.0}; an idle worker's \
             commands a minute there: {}",
            worst.idle_per_worker,
            worst.n,
            idle_breakdown(worst)
        );
    }
    if !drain_met {
        println!(
            "drain NOT met: throughput fell as N grew ({}); with {} workers the database server used {} cores \
             ({}) and the claim wasted {:.2} tries per printed order",
            by_n(&rows, |r| format!("{:.0}/s", r.drain_rate)),
            last.n,
            last.drain_cpu.db.map(|d| format!("{d:.2}")).unwrap_or_else(|| "n/a".into()),
            last.drain_cpu.describe(FLEET_BENCH),
            last.wasted
        );
    }
    if at50.arrival.paper.1 >= 1000.0 {
        println!(
            "{}/s NOT met at N={}: p99 {:.0} ms = payment -> claim p99 {:.0} ms and claim -> printer p99 {:.0} ms; {}",
            plan.rate,
            at50.n,
            at50.arrival.paper.1,
            at50.arrival.claim.1,
            at50.arrival.after_claim.1,
            at50.arrival.cpu.describe(FLEET_BENCH)
        );
    }
    match draw_chart(&svg, &rows, plan.orders, plan.rate) {
        Ok(()) => println!("chart: {}", svg.display()),
        Err(e) => println!("chart: could not write {}: {e}", svg.display()),
    }
}
