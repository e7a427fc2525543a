//! The test harness: real services for the tests, the benchmarks, CI and the demo. Never mocks.
//!
//! - [`db`]: a MongoDB-compatible server. `MONGODB_URI` when set; otherwise SecantusDB's Rust server,
//!   installed once by `scripts/install-secantus.sh` (cached under `~/.cache/printcore`) and started on a
//!   free loopback port, once per test process, with `--standalone` available for the polling paths.
//!   Each test takes its own database ([`db::fresh_database`]) so tests run in parallel.
//!
//! A server started here dies with the process that started it (Linux `PR_SET_PDEATHSIG`), so an aborted
//! test run leaves nothing behind.

pub mod cups;
pub mod db;
pub mod explain;
pub mod fileserver;
pub mod fixtures;
pub mod ippeve;
pub mod pdfgen;
pub mod pdfstruct;
pub mod process;
pub mod relay;
pub mod wine;
pub mod wire;
pub mod worker_proc;

/// Waits until `check` returns `Some`, polling every `every` until `deadline` passes. The way tests wait
/// for something to happen: on a condition with a deadline, never a bare sleep.
pub async fn wait_for<T, F, Fut>(what: &str, deadline: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if start.elapsed() > deadline {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
