//! The test database server.

use crate::process::{spawn_until_ready, Service};
use mongodb::{Client, Database};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Which kind of deployment a test needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A (single-node) replica set: change streams and transactions available.
    ReplicaSet,
    /// A standalone server: change streams refused (code 40573), for the polling fallbacks.
    Standalone,
}

/// A running database server (or the one `MONGODB_URI` names).
pub struct DbServer {
    pub uri: String,
    pub mode: Mode,
    service: Mutex<Option<Service>>,
    pub storage: Option<PathBuf>,
}

impl DbServer {
    /// Stops the server gracefully (SIGTERM, then waits up to 30 s), keeping its data.
    pub fn shutdown(&self) {
        if let Some(mut s) = self.service.lock().unwrap().take() {
            unsafe {
                libc::kill(s.child.id() as i32, libc::SIGTERM);
            }
            let start = std::time::Instant::now();
            while s.child.try_wait().ok().flatten().is_none() && start.elapsed() < Duration::from_secs(30) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = s.child.kill();
            let _ = s.child.wait();
        }
    }

    /// The port the server listens on.
    pub fn port(&self) -> Option<u16> {
        self.uri.split("://").nth(1)?.split(['/', '?']).next()?.rsplit(':').next()?.parse().ok()
    }

    /// Stops the server started here (no-op for an external one).
    pub fn stop(&self) {
        if let Some(mut s) = self.service.lock().unwrap().take() {
            let _ = s.child.kill();
            let _ = s.child.wait();
        }
    }
}

/// The path of the SecantusDB server binary, installing it first if needed.
pub fn secantus_binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("SECANTUSD_BIN") {
        return Ok(PathBuf::from(p));
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/install-secantus.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("could not run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!("{} failed; see its output above", script.display()));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Starts a fresh SecantusDB server on a free loopback port with its data in `storage` (created if
/// missing, reopened intact when it exists: the way to restart a server with its data kept).
pub fn start_secantus(mode: Mode, storage: PathBuf) -> Result<DbServer, String> {
    start_secantus_on(mode, storage, 0)
}

/// [`start_secantus`] on a given port (0: a free one). Restarting on the same port and storage is how a
/// test restarts "the" database server with its data kept, under clients that reconnect by themselves.
pub fn start_secantus_on(mode: Mode, storage: PathBuf, port: u16) -> Result<DbServer, String> {
    start_secantus_with(mode, storage, port, &[])
}

/// [`start_secantus_on`] with more server flags (TLS, ...).
pub fn start_secantus_with(mode: Mode, storage: PathBuf, port: u16, extra: &[String]) -> Result<DbServer, String> {
    let bin = secantus_binary()?;
    std::fs::create_dir_all(&storage).map_err(|e| format!("creating {}: {e}", storage.display()))?;
    let mut cmd = Command::new(bin);
    let port = port.to_string();
    cmd.args(["--host", "127.0.0.1", "--port", &port, "--log-level", "WARNING", "--cache-size", "256M"])
        .args(["--log-file-max", "16MB"])
        // A checkpoint is what trims the write-ahead log. At the server's default (60 s) the tests that write
        // orders near MongoDB's 16 MB limit left over a gigabyte of log on disk within seconds; a machine low on
        // disk then fails every later test of the process with a storage-engine panic.
        .args(["--checkpoint-seconds", "5"])
        .arg("--storage-path")
        .arg(&storage);
    if mode == Mode::Standalone {
        cmd.arg("--standalone");
    }
    cmd.args(extra);
    let service = spawn_until_ready(cmd, Some("listening on"), Duration::from_secs(60))?;
    let addr = service
        .ready_line
        .rsplit(' ')
        .next()
        .ok_or_else(|| format!("unexpected start line: {}", service.ready_line))?
        .to_owned();
    Ok(DbServer {
        uri: format!("mongodb://{addr}/?directConnection=true"),
        mode,
        service: Mutex::new(Some(service)),
        storage: Some(storage),
    })
}

fn storage_dir(tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let base = std::env::temp_dir().join("printcore-test-db");
    let _ = std::fs::create_dir_all(&base);
    clean_stale(&base);
    base.join(format!("{}-{tag}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)))
}

/// Removes storage left by test processes that no longer run.
fn clean_stale(base: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if let Some(pid) = name.split('-').next().and_then(|p| p.parse::<u32>().ok()) {
            if !PathBuf::from(format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// The shared server of this process for `mode`: `MONGODB_URI` for the replica set when set (and
/// `MONGODB_STANDALONE_URI` for standalone when set), otherwise a SecantusDB server started once.
pub fn server(mode: Mode) -> &'static DbServer {
    static RS: OnceLock<DbServer> = OnceLock::new();
    static SA: OnceLock<DbServer> = OnceLock::new();
    let (cell, var) = match mode {
        Mode::ReplicaSet => (&RS, "MONGODB_URI"),
        Mode::Standalone => (&SA, "MONGODB_STANDALONE_URI"),
    };
    cell.get_or_init(|| match std::env::var(var) {
        Ok(uri) if !uri.is_empty() => DbServer { uri, mode, service: Mutex::new(None), storage: None },
        _ => start_secantus(mode, storage_dir(if mode == Mode::Standalone { "sa" } else { "rs" }))
            .unwrap_or_else(|e| panic!("could not start the test database server: {e}")),
    })
}

/// Commands a client sent, by name, counted on the wire (the driver's command monitoring).
pub type CommandCounts = std::sync::Arc<Mutex<std::collections::BTreeMap<String, usize>>>;

/// Like [`fresh_database`], through a client of its own that counts every command it sends, by name.
pub async fn counted_database(mode: Mode, prefix: &str) -> (Database, CommandCounts) {
    counted_database_by(mode, prefix, |s| s.command_name.clone()).await
}

/// Like [`counted_database`], counting each command under the key `key` gives it.
pub async fn counted_database_by(
    mode: Mode,
    prefix: &str,
    key: impl Fn(&mongodb::event::command::CommandStartedEvent) -> String + Send + Sync + 'static,
) -> (Database, CommandCounts) {
    let counts = CommandCounts::default();
    let seen = counts.clone();
    let db = watched_database(mode, prefix, move |s| {
        *seen.lock().unwrap().entry(key(s)).or_default() += 1;
    })
    .await;
    counts.lock().unwrap().clear();
    (db, counts)
}

/// Like [`fresh_database`], through a client of its own that hands every command it starts to `started`
/// (the driver's command monitoring).
pub async fn watched_database(
    mode: Mode,
    prefix: &str,
    started: impl Fn(&mongodb::event::command::CommandStartedEvent) + Send + Sync + 'static,
) -> Database {
    use mongodb::event::command::CommandEvent;
    let mut options = mongodb::options::ClientOptions::parse(&server(mode).uri).await.expect("the test server's uri");
    options.command_event_handler = Some(mongodb::event::EventHandler::callback(move |e: CommandEvent| {
        if let CommandEvent::Started(s) = e {
            started(&s);
        }
    }));
    let client = Client::with_options(options).expect("a watched client for the test server");
    let name = fresh_database(mode, prefix).await.name().to_owned();
    client.database(&name)
}

/// A database of its own for one test, on the shared server: `<prefix>_<pid>_<n>`.
pub async fn fresh_database(mode: Mode, prefix: &str) -> Database {
    static N: AtomicU64 = AtomicU64::new(0);
    let server = server(mode);
    let client = Client::with_uri_str(&server.uri).await.expect("a client for the test server");
    let name = format!("{prefix}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    let db = client.database(&name);
    let _ = db.drop().await;
    db
}
