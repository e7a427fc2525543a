//! A private CUPS server (Debian's `cupsd`) on a free loopback port, with its own configuration, spool,
//! state and logs in a temporary folder: the print server most Linux shops (and many Windows shops, through
//! a Linux box) put in front of their printers. Queues are added with `lpadmin` in front of an
//! `ippeveprinter`, raw (the PDF goes through untouched) or IPP Everywhere (`-m everywhere`: CUPS's own
//! filters convert it on the way).

use crate::process::{free_port, spawn_until_ready, Service};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How the CUPS server is set up.
#[derive(Debug, Clone)]
pub struct CupsOptions {
    /// `PreserveJobHistory`: whether completed jobs stay listed (CUPS's default) or are forgotten at once.
    pub preserve_history: bool,
}

impl Default for CupsOptions {
    fn default() -> Self {
        CupsOptions { preserve_history: true }
    }
}

/// A running private CUPS server.
pub struct Cups {
    pub port: u16,
    dir: tempfile::TempDir,
    service: Mutex<Option<Service>>,
}

fn cupsd() -> &'static str {
    assert!(Path::new("/usr/sbin/cupsd").exists(), "cupsd is not installed; run scripts/setup.sh (cups-daemon)");
    "/usr/sbin/cupsd"
}

impl Cups {
    /// Starts a CUPS server on a free loopback port (dbus and avahi first, as for ippeveprinter).
    pub fn start(options: CupsOptions) -> Cups {
        crate::ippeve::ensure_mdns();
        let dir = tempfile::Builder::new().prefix("printcore-cups").tempdir().expect("a folder for CUPS");
        let root = dir.path();
        // Filters run as `lp`: every folder they read must be open to it.
        for sub in ["conf", "spool", "state", "cache", "log", "tmp", "conf/ppd"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        chmod(root, 0o755);
        for sub in ["conf", "spool", "state", "cache", "log", "conf/ppd"] {
            chmod(&root.join(sub), 0o755);
        }
        chmod(&root.join("tmp"), 0o1777);
        let port = free_port();
        let history = if options.preserve_history { "Yes" } else { "No" };
        std::fs::write(
            root.join("conf/cupsd.conf"),
            format!(
                "Listen 127.0.0.1:{port}\nLogLevel info\nPreserveJobHistory {history}\nPreserveJobFiles No\n\
                 WebInterface No\nBrowsing No\nBrowseLocalProtocols none\nDefaultAuthType None\n\
                 <Location />\n  Order allow,deny\n  Allow all\n</Location>\n\
                 <Location /admin>\n  Order allow,deny\n  Allow all\n</Location>\n\
                 <Policy default>\n  JobPrivateAccess default\n  JobPrivateValues default\n  <Limit All>\n    Order deny,allow\n  </Limit>\n</Policy>\n"
            ),
        )
        .unwrap();
        let r = root.display();
        std::fs::write(
            root.join("conf/cups-files.conf"),
            format!(
                "ServerRoot {r}/conf\nRequestRoot {r}/spool\nStateDir {r}/state\nCacheDir {r}/cache\n\
                 TempDir {r}/tmp\nErrorLog {r}/log/error_log\nAccessLog {r}/log/access_log\nPageLog {r}/log/page_log\n\
                 User lp\nGroup lp\nSystemGroup root\nSandboxing Relaxed\nFileDevice No\n"
            ),
        )
        .unwrap();
        let cups = Cups { port, dir, service: Mutex::new(None) };
        cups.start_again();
        cups
    }

    /// Starts the server again on the same port and folders (after [`Cups::kill`]): CUPS reloads its jobs
    /// and their history from its spool.
    pub fn start_again(&self) {
        let root = self.dir.path();
        let mut cmd = Command::new(cupsd());
        cmd.arg("-f").arg("-c").arg(root.join("conf/cupsd.conf")).arg("-s").arg(root.join("conf/cups-files.conf"));
        let service =
            spawn_until_ready(cmd, None, Duration::ZERO).unwrap_or_else(|e| panic!("cupsd did not start: {e}"));
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(20), "cupsd did not listen within 20 s:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        *self.service.lock().unwrap() = Some(service);
    }

    /// Stops the server (kill -9).
    pub fn kill(&self) {
        if let Some(mut s) = self.service.lock().unwrap().take() {
            let _ = s.child.kill();
            let _ = s.child.wait();
        }
    }

    /// Adds queue `name` forwarding to `device` (an `ipp://` URI): raw, or IPP Everywhere with CUPS's
    /// filters in between.
    pub fn add_queue(&self, name: &str, device: &str, everywhere: bool) {
        let host = format!("127.0.0.1:{}", self.port);
        let mut cmd = Command::new("lpadmin");
        cmd.args(["-h", &host, "-p", name, "-E", "-v", device]);
        if everywhere {
            cmd.args(["-m", "everywhere"]);
        }
        let out = cmd.output().expect("lpadmin (cups-client) is installed");
        assert!(
            out.status.success(),
            "lpadmin could not add {name}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }

    /// The queue's URI for the worker: `ipp://127.0.0.1:PORT/printers/NAME`.
    pub fn queue_uri(&self, name: &str) -> String {
        format!("ipp://127.0.0.1:{}/printers/{name}", self.port)
    }

    /// The end of the server's error log, for a failing test's message.
    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("log/error_log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// The server's folder.
    pub fn folder(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for Cups {
    fn drop(&mut self) {
        self.kill();
    }
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}
