//! CUPS's `ippeveprinter`: a real IPP Everywhere printer on loopback. It keeps every job's file in its
//! spool folder as `<job-id>-<job-name>.pdf`, so a test counts what reached paper by job name.

use crate::process::{free_port, spawn_until_ready, Service};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How the simulated printer behaves.
#[derive(Debug, Clone)]
pub struct IppEveOptions {
    pub duplex: bool,
    pub color: bool,
    /// Seconds each job spends "printing" (the print command sleeps this long).
    pub job_seconds: f64,
}

impl Default for IppEveOptions {
    fn default() -> Self {
        IppEveOptions { duplex: true, color: true, job_seconds: 1.0 }
    }
}

/// A running (or stopped) ippeveprinter with its spool folder.
pub struct IppEve {
    pub port: u16,
    pub spool: PathBuf,
    pub name: String,
    args: Vec<String>,
    service: Mutex<Option<Service>>,
    _dir: Option<tempfile::TempDir>,
}

/// Starts dbus and avahi if they are not running (ippeveprinter registers itself over DNS-SD).
pub fn ensure_mdns() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| {
        let alive = |pidfile: &str| {
            std::fs::read_to_string(pidfile)
                .ok()
                .and_then(|p| p.trim().parse::<u32>().ok())
                .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
        };
        if !alive("/run/dbus/pid") {
            let _ = std::fs::create_dir_all("/run/dbus");
            let _ = std::fs::remove_file("/run/dbus/pid");
            let _ = Command::new("dbus-daemon").args(["--system", "--fork"]).status();
        }
        if !alive("/run/avahi-daemon/pid") {
            let _ = std::fs::remove_file("/run/avahi-daemon/pid");
            let _ = Command::new("avahi-daemon").args(["-D", "--no-chroot"]).status();
        }
    });
}

fn ippeveprinter() -> String {
    for p in ["/usr/sbin/ippeveprinter", "/usr/bin/ippeveprinter"] {
        if Path::new(p).exists() {
            return p.to_owned();
        }
    }
    panic!("ippeveprinter is not installed; run scripts/setup.sh (it installs cups-ipp-utils)");
}

impl IppEve {
    /// Starts a printer on a free loopback port with a fresh spool folder (removed afterwards).
    pub fn start(options: IppEveOptions) -> IppEve {
        let dir = tempfile::tempdir().expect("a spool folder");
        let mut printer = IppEve::start_in(dir.path(), options);
        printer._dir = Some(dir);
        printer
    }

    /// Starts a printer whose spool folder is `<dir>/spool` and is kept afterwards (the demo shows it).
    pub fn start_in(dir: &Path, options: IppEveOptions) -> IppEve {
        static N: AtomicU64 = AtomicU64::new(0);
        ensure_mdns();
        let spool = dir.join("spool");
        std::fs::create_dir_all(&spool).unwrap();
        // The print command: record the job's IPP attributes next to its file, then "print" for a while.
        let script = dir.join("print.sh");
        std::fs::write(&script, format!("#!/bin/sh\nenv | grep '^IPP_' > \"$1.env\"\nsleep {}\n", options.job_seconds))
            .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let port = free_port();
        let name = format!("printcore-test-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let mut args =
            vec!["-k".into(), "-d".into(), spool.to_string_lossy().to_string(), "-p".into(), port.to_string()];
        args.extend(["-f".into(), "application/pdf".into(), "-c".into(), script.to_string_lossy().to_string()]);
        if options.duplex {
            args.push("-2".into());
        }
        args.extend(["-s".into(), if options.color { "10,5".into() } else { "10,0".into() }]);
        args.push(name.clone());
        let printer = IppEve { port, spool, name, args, service: Mutex::new(None), _dir: None };
        printer.start_again();
        printer
    }

    /// `ipp://127.0.0.1:PORT/ipp/print`.
    pub fn uri(&self) -> String {
        format!("ipp://127.0.0.1:{}/ipp/print", self.port)
    }

    /// Starts the printer again on the same port and spool folder (after [`IppEve::kill`]). Its job
    /// history is gone, as after a real printer's restart.
    pub fn start_again(&self) {
        let mut cmd = Command::new(ippeveprinter());
        cmd.args(&self.args);
        let service =
            spawn_until_ready(cmd, None, Duration::ZERO).unwrap_or_else(|e| panic!("ippeveprinter did not start: {e}"));
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "ippeveprinter did not listen on {} within 20 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        *self.service.lock().unwrap() = Some(service);
    }

    /// Kills the printer (kill -9): it goes away mid-job, like a power cut.
    pub fn kill(&self) {
        if let Some(mut s) = self.service.lock().unwrap().take() {
            let _ = s.child.kill();
            let _ = s.child.wait();
        }
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            && start.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, sig: i32) {
        if let Some(s) = self.service.lock().unwrap().as_ref() {
            unsafe {
                libc::kill(s.child.id() as i32, sig);
            }
        }
    }

    /// Freezes the printer (SIGSTOP): it accepts connections but answers nothing.
    pub fn freeze(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Thaws a frozen printer.
    pub fn thaw(&self) {
        self.signal(libc::SIGCONT);
    }

    /// The PDF files the printer kept, by name.
    pub fn spooled(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.spool)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .filter(|n| n.ends_with(".pdf"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// How many kept files carry this job name (`<id>-<job-name>.pdf`), counting each document of a job
    /// split into one printer job per document (`<job-name>-<k>of<n>`).
    pub fn copies_of(&self, job_name: &str) -> usize {
        self.spooled().iter().filter(|n| is_file_of(n, job_name)).count()
    }

    /// The IPP attributes the printer received for the kept file of `job_name`.
    pub fn job_env(&self, job_name: &str) -> Option<String> {
        let suffix = format!("-{}.pdf", job_name.to_lowercase());
        let file = self.spooled().into_iter().find(|n| n.to_lowercase().ends_with(&suffix))?;
        std::fs::read_to_string(self.spool.join(format!("{file}.env"))).ok()
    }
}

impl Drop for IppEve {
    fn drop(&mut self) {
        self.thaw();
        self.kill();
    }
}

/// Whether a kept file `<id>-<name>.pdf` belongs to print job `job_name` (whole, or one of its documents).
fn is_file_of(file: &str, job_name: &str) -> bool {
    let file = file.to_lowercase();
    let job = job_name.to_lowercase();
    let Some(stem) = file.strip_suffix(".pdf") else { return false };
    if stem.ends_with(&format!("-{job}")) {
        return true;
    }
    // `<id>-<job>-<k>of<n>`
    match stem.rsplit_once('-') {
        Some((head, part)) => {
            head.ends_with(&format!("-{job}"))
                && part.split_once("of").is_some_and(|(k, n)| k.parse::<u32>().is_ok() && n.parse::<u32>().is_ok())
        }
        None => false,
    }
}
