//! The worker binary as a real process, for end-to-end tests: built once, started with a configuration
//! file, killed (-9) or stopped (SIGTERM) like a real print PC's service.

use crate::process::{spawn_until_ready, Service};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The worker binary, built (once per test process) with the same profile as the tests.
pub fn worker_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("PRINTCORE_WORKER_BIN") {
            return PathBuf::from(bin);
        }
        let exe = std::env::current_exe().expect("the test executable");
        // Tests run from target/<profile>/deps, binaries (the demo) from target/<profile>.
        let mut profile_dir = exe.parent().expect("target/<profile>").to_path_buf();
        if profile_dir.file_name().is_some_and(|n| n == "deps") {
            profile_dir.pop();
        }
        let bin = profile_dir.join(if cfg!(windows) { "worker.exe" } else { "worker" });
        // `cargo test --workspace` builds it (the worker package has integration tests of its own).
        if bin.exists() {
            return bin;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "-p", "worker", "--bin", "worker"]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        if let Some(target) = profile_dir.parent() {
            cmd.env("CARGO_TARGET_DIR", target);
        }
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
        let status = cmd.status().expect("cargo build of the worker");
        assert!(status.success(), "building the worker binary failed");
        assert!(bin.exists(), "no worker binary at {}", bin.display());
        bin
    })
    .clone()
}

/// A running worker process.
pub struct WorkerProcess {
    service: Mutex<Option<Service>>,
    pub config: PathBuf,
}

impl WorkerProcess {
    /// Starts `worker run` with this configuration file.
    pub fn start(config: &Path) -> WorkerProcess {
        let mut cmd = Command::new(worker_binary());
        cmd.arg("--config").arg(config).arg("run");
        cmd.env_remove("MONGODB_URI").env("PRINTCORE_LOG", "info,printworker=debug,mongodb=warn");
        let service = spawn_until_ready(cmd, None, Duration::ZERO).expect("start the worker");
        WorkerProcess { service: Mutex::new(Some(service)), config: config.to_path_buf() }
    }

    pub fn pid(&self) -> Option<u32> {
        self.service.lock().unwrap().as_ref().map(|s| s.child.id())
    }

    /// Whether the process is still running (it has not exited or been killed).
    pub fn is_running(&self) -> bool {
        self.service.lock().unwrap().as_mut().is_some_and(|s| matches!(s.child.try_wait(), Ok(None)))
    }

    /// kill -9: the worker dies mid-whatever, as in a power cut.
    pub fn kill9(&self) {
        if let Some(mut s) = self.service.lock().unwrap().take() {
            let _ = s.child.kill();
            let _ = s.child.wait();
        }
    }

    /// SIGTERM (a service stop), then waits for the process to exit, at most `deadline`.
    pub fn terminate(&self, deadline: Duration) -> ExitStatus {
        let mut guard = self.service.lock().unwrap();
        let s = guard.as_mut().expect("the worker is running");
        unsafe {
            libc::kill(s.child.id() as i32, libc::SIGTERM);
        }
        let start = Instant::now();
        loop {
            if let Some(status) = s.child.try_wait().expect("wait for the worker") {
                guard.take();
                return status;
            }
            assert!(start.elapsed() < deadline, "the worker did not exit within {deadline:?} of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A worker configuration for tests: fast intervals, files from the local file server, one IPP printer.
pub fn test_config(dir: &Path, name: &str, uri: &str, db: &str, printer_uri: &str, extra_worker: &str) -> PathBuf {
    let text = format!(
        r#"
[database]
uri = "{uri}"
name = "{db}"

[worker]
poll_interval_secs = 0.5
health_interval_secs = 0.5
lease_secs = 6.0
recovery_interval_secs = 1.0
stuck_check_interval_secs = 5.0
metrics_interval_secs = 2.0
job_poll_interval_secs = 0.2
shutdown_grace_secs = 20.0
backoff_base_secs = 1.0
backoff_max_secs = 2.0
{extra_worker}

[files]
allowed_hosts = ["127.0.0.1:*"]
allow_loopback = true
allow_http = true
read_timeout_secs = 5.0
retries = 1

[[printers]]
id = "eve"
name = "Test printer"
backend = "ipp"
uri = "{printer_uri}"
timeout_secs = 3.0
"#
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}
