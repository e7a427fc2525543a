//! Shared helpers of the benchmarks.

/// `cargo bench` passes `--bench`; `cargo test --benches` does not: the benchmarks then run small, as a
/// smoke test.
pub fn quick() -> bool {
    !std::env::args().any(|a| a == "--bench")
}

/// A size from the environment (`ORDERS=...`), or `default`.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The `p` quantile (0 to 1) of the samples, nearest rank.
pub fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// The median of the samples (the upper one of the middle two).
pub fn median(v: Vec<f64>) -> f64 {
    percentile(v, 0.5)
}

/// One row of docs/BENCHMARKS.md's summary (scripts/bench.sh collects the `ITEM|` lines): what printcore
/// measured, the peer or baseline, their ratio, the goal and whether it is met (`None`: no goal to meet,
/// a measurement).
pub fn item(what: &str, printcore: &str, baseline: &str, ratio: &str, goal: &str, met: Option<bool>) {
    let met = match met {
        Some(true) => "met",
        Some(false) => "NOT met",
        None => "measured",
    };
    println!("ITEM|{what}|{printcore}|{baseline}|{ratio}|{goal}|{met}");
}

/// Commands a client sent, by command name.
pub type Counts = std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, usize>>>;

/// A printcore (background log delivery, as the worker runs it) on a fresh, migrated database
/// `bench_<name>_<pid>`, whose client counts every command it sends, by name: round trips counted on the
/// wire.
pub async fn counted_core(name: &str) -> (printcore::PrintCore, mongodb::Database, Counts) {
    use mongodb::event::command::CommandEvent;
    use printcore_tests::db::{server, Mode};
    let counts: Counts = Counts::default();
    let seen = counts.clone();
    let mut options = mongodb::options::ClientOptions::parse(&server(Mode::ReplicaSet).uri).await.unwrap();
    options.command_event_handler = Some(mongodb::event::EventHandler::callback(move |e: CommandEvent| {
        if let CommandEvent::Started(s) = e {
            *seen.lock().unwrap().entry(s.command_name.clone()).or_default() += 1;
        }
    }));
    let client = mongodb::Client::with_options(options).unwrap();
    let db = client.database(&format!("bench_{name}_{}", std::process::id()));
    db.drop().await.unwrap();
    let config =
        printcore::CoreConfig { log_delivery: printcore::LogDelivery::Background, ..printcore::CoreConfig::default() };
    let core = printcore::PrintCore::with_database(db.clone(), config).await.unwrap();
    core.migrate(&Default::default()).await.unwrap();
    (core, db, counts)
}

/// A process's resident memory in KB (0 when it cannot be read).
pub fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Runs a Node benchmark in benches/node against the test server; returns its stdout (the last line is
/// JSON), or `None` (said why) when Node's side is not installed or failed.
pub fn node(script: &str, env: &[(&str, String)]) -> Option<String> {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("node");
    if !dir.join("node_modules").exists() {
        println!("(benches/node/node_modules missing: run `npm ci` in benches/node; {script} skipped)");
        return None;
    }
    let mut cmd = std::process::Command::new("node");
    cmd.arg(dir.join(script))
        .env("MONGODB_URI", &printcore_tests::db::server(printcore_tests::db::Mode::ReplicaSet).uri);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("node");
    if !out.status.success() {
        println!("{script} failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Clock ticks a second in /proc (USER_HZ, 100 on Linux).
pub const TICKS: f64 = 100.0;

/// CPU ticks of a process and of its waited-for children (utime, stime, cutime, cstime).
pub fn proc_ticks(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit(')').next()?.split_whitespace().collect::<Vec<_>>();
            (11..15).map(|i| rest.get(i)?.parse::<u64>().ok()).sum()
        })
        .unwrap_or(0)
}

/// The database server this process started (a child named `secantusd-rs`); none for `MONGODB_URI`.
pub fn database_pid() -> Option<u32> {
    if std::env::var("MONGODB_URI").is_ok_and(|u| !u.is_empty()) {
        return None;
    }
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let (head, rest) = stat.rsplit_once(')')?;
        let ppid = rest.split_whitespace().nth(1)?;
        (head.ends_with("(secantusd-rs") && ppid == me).then_some(pid)
    })
}

/// The machine's busy and total ticks over all cores (/proc/stat).
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> =
        stat.lines().next().unwrap_or("").split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

/// A reading of who used the CPU so far.
pub struct CpuMark {
    at: std::time::Instant,
    db: Option<u64>,
    workers: u64,
    bench: u64,
    busy: u64,
    total: u64,
}

pub fn cpu_mark(db: Option<u32>, workers: &[u32]) -> CpuMark {
    let (busy, total) = machine_ticks();
    CpuMark {
        at: std::time::Instant::now(),
        db: db.map(proc_ticks),
        workers: workers.iter().map(|p| proc_ticks(*p)).sum(),
        bench: proc_ticks(std::process::id()),
        busy,
        total,
    }
}

/// Cores used over a window, by whom.
#[derive(Clone, Copy, Default)]
pub struct CpuUse {
    pub secs: f64,
    pub cores: f64,
    pub db: Option<f64>,
    pub workers: f64,
    pub bench: f64,
    /// Everything else on the machine (other processes, the kernel's own work).
    pub other: f64,
}

pub fn cpu_since(start: &CpuMark, db: Option<u32>, workers: &[u32]) -> CpuUse {
    let end = cpu_mark(db, workers);
    let secs = end.at.duration_since(start.at).as_secs_f64().max(1e-3);
    let cores = std::thread::available_parallelism().map(|n| n.get() as f64).unwrap_or(1.0);
    let c = |ticks: u64| ticks as f64 / TICKS / secs;
    let db_use = match (start.db, end.db) {
        (Some(a), Some(b)) => Some(c(b.saturating_sub(a))),
        _ => None,
    };
    let workers_use = c(end.workers.saturating_sub(start.workers));
    let bench = c(end.bench.saturating_sub(start.bench));
    // /proc/stat counts every core: busy share of the window times the cores.
    let busy = end.busy.saturating_sub(start.busy) as f64 / end.total.saturating_sub(start.total).max(1) as f64 * cores;
    let other = (busy - db_use.unwrap_or(0.0) - workers_use - bench).max(0.0);
    CpuUse { secs, cores, db: db_use, workers: workers_use, bench, other }
}

impl CpuUse {
    /// The database server's CPU (ms) per one of `n` orders or jobs over the window; `None` when this
    /// process did not start the server (`MONGODB_URI`).
    pub fn db_ms_per(&self, n: usize) -> Option<f64> {
        self.db.map(|db| db * self.secs * 1000.0 / n.max(1) as f64)
    }

    /// The workers' CPU (ms, with their validation children) per one of `n` orders over the window.
    pub fn workers_ms_per(&self, n: usize) -> f64 {
        self.workers * self.secs * 1000.0 / n.max(1) as f64
    }

    /// Who used the cores, the bench itself described as `bench` (what it does meanwhile).
    pub fn describe(&self, bench: &str) -> String {
        let db = self.db.map(|d| format!("{d:.2}")).unwrap_or_else(|| "n/a (MONGODB_URI)".into());
        let busy = self.db.unwrap_or(0.0) + self.workers + self.bench + self.other;
        format!(
            "cores busy {busy:.2} of {:.0} over {:.1} s: database server {db}, workers (with validation children) {:.2}, \
             this bench ({bench}) {:.2}, rest of the machine {:.2}",
            self.cores, self.secs, self.workers, self.bench, self.other
        )
    }
}
