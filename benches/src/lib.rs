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
