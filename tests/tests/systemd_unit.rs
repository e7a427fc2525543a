//! `deploy/printcore-worker.service` as shipped, installed by `deploy/install.sh` the way its header says.
//!
//! PID 1 here is not systemd (the tests run in a container), so `systemctl start` cannot run. Instead:
//! - `systemd-analyze verify` checks the unit against the installed files (`--root`: the program its
//!   `Exec*=` lines name must be there and executable, every setting must be one systemd knows);
//! - the unit is emulated, reading the file (not a copy of it): a temporary root gets the layout
//!   `install.sh` makes, then what systemd does at each start as root (the `StateDirectory=` owned by the
//!   service's user, the `LoadCredential=` copy readable by that user alone, a private /tmp), and the
//!   unit's `ExecStartPre=` and `ExecStart=` run as an unprivileged uid from systemd's `DynamicUser=` range
//!   (`setpriv`), with the variables systemd sets, against the test database, a file server and
//!   ippeveprinter. An order must print and the journal of jobs sent must be written in the state folder.
//!
//! What the emulation does not do: mount namespaces (ProtectSystem=strict is emulated by the file
//! permissions alone: the service's uid can write nothing root owns), ACLs on the credential (systemd grants
//! the uid read access by ACL where the file system has them, by ownership otherwise: the same access).

use bson::{doc, DateTime, Document};
use printcore_tests::db::{fresh_database, server, Mode};
use printcore_tests::fileserver::{FileServer, Route};
use printcore_tests::fixtures::{insert_orders, migrated_core, paid_order};
use printcore_tests::ippeve::{IppEve, IppEveOptions};
use printcore_tests::pdfgen::{pdf, A4};
use printcore_tests::process::spawn_until_ready;
use printcore_tests::wait_for;
use printcore_tests::worker_proc::{test_config, worker_binary};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A uid (and gid) in systemd's `DynamicUser=` range (61184-65519), owning nothing on this machine.
const SERVICE_UID: u32 = 61234;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn unit_file() -> PathBuf {
    repo().join("deploy/printcore-worker.service")
}

/// A unit file: its header comment and its settings in order (`section`, `key`, `value`).
struct Unit {
    name: String,
    header: Vec<String>,
    settings: Vec<(String, String, String)>,
}

impl Unit {
    fn read(path: &Path) -> Unit {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut header = Vec::new();
        let mut settings = Vec::new();
        let mut section = String::new();
        let mut pending = String::new();
        for raw in text.lines() {
            let line = raw.trim();
            if section.is_empty() && (line.starts_with('#') || line.is_empty()) {
                header.push(raw.to_owned());
                continue;
            }
            if pending.is_empty() && (line.starts_with('#') || line.starts_with(';') || line.is_empty()) {
                continue;
            }
            if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = s.to_owned();
                continue;
            }
            // A line ending in a backslash continues on the next.
            if let Some(head) = line.strip_suffix('\\') {
                pending.push_str(head);
                pending.push(' ');
                continue;
            }
            pending.push_str(line);
            let whole = std::mem::take(&mut pending);
            let (key, value) = whole.split_once('=').unwrap_or_else(|| panic!("not a setting: {whole}"));
            let value = value.trim().to_owned();
            assert!(!value.is_empty(), "{}: an empty {key}= resets a list; the emulation does not", path.display());
            settings.push((section.clone(), key.trim().to_owned(), value));
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        Unit { name, header, settings }
    }

    fn all(&self, key: &str) -> Vec<&str> {
        self.settings.iter().filter(|(s, k, _)| s == "Service" && k == key).map(|(_, _, v)| v.as_str()).collect()
    }

    fn one(&self, key: &str) -> Option<&str> {
        let all = self.all(key);
        assert!(all.len() <= 1, "{key}= is given {} times", all.len());
        all.first().copied()
    }

    fn yes(&self, key: &str) -> bool {
        self.one(key).is_some_and(|v| matches!(v, "yes" | "true" | "on" | "1"))
    }

    /// The header's file list: `#   /path   what it is (755 root)`.
    fn listed_files(&self) -> Vec<(String, u32, String)> {
        self.header
            .iter()
            .filter_map(|l| {
                let rest = l.strip_prefix("#   /")?;
                let path = format!("/{}", rest.split_whitespace().next()?);
                let (mode, owner) = l.rsplit_once('(')?.1.strip_suffix(')')?.split_once(' ')?;
                Some((path, u32::from_str_radix(mode, 8).ok()?, owner.to_owned()))
            })
            .collect()
    }
}

/// `root` + an absolute path of the unit.
fn under(root: &Path, path: &str) -> PathBuf {
    assert!(path.starts_with('/'), "{path} is not absolute");
    root.join(path.trim_start_matches('/'))
}

/// A temporary root every user may enter, as `/` is.
fn new_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    root
}

/// Runs `deploy/install.sh --root ROOT` with the worker binary and `config`, the connection string on its
/// standard input. Returns its exit status and output.
fn install(root: &Path, config: &Path, uri: &str) -> (ExitStatus, String) {
    let mut child = Command::new(repo().join("deploy/install.sh"))
        .arg("--root")
        .arg(root)
        .arg(worker_binary())
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run deploy/install.sh (is it executable?)");
    child.stdin.take().unwrap().write_all(format!("{uri}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status, format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// The tests' worker configuration ([`test_config`]: fast intervals, files from the local file server,
/// one IPP printer) without a connection string, as `worker.toml`: the unit gives it as a credential.
fn worker_toml(dir: &Path, db: &str, printer_uri: &str) -> PathBuf {
    let path = test_config(dir, "worker", "", db, printer_uri, "");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("uri = \"\"\n", "")).unwrap();
    path
}

/// One line of `ExecStartPre=` / `ExecStart=`: its program and arguments (paths moved under the root), and
/// whether its failure is ignored (`-`).
struct ExecLine {
    argv: Vec<String>,
    ignore_failure: bool,
}

fn exec_line(root: &Path, value: &str) -> ExecLine {
    let mut rest = value;
    let mut ignore_failure = false;
    while let Some(c) = rest.chars().next().filter(|c| "-@:+!".contains(*c)) {
        assert!(c == '-', "{value}: the prefix {c:?} (privileged or special execution) is not emulated");
        ignore_failure = true;
        rest = &rest[1..];
    }
    assert!(
        !rest.contains(['$', '%', '"', '\'', ';']),
        "{value}: the emulation does not expand variables, specifiers or quotes"
    );
    let argv = rest
        .split_whitespace()
        .map(|a| if a.starts_with('/') { under(root, a).to_string_lossy().into_owned() } else { a.to_owned() })
        .collect();
    ExecLine { argv, ignore_failure }
}

/// What systemd would have prepared for one start of the unit: the service's folders and environment.
struct Emulated {
    env: BTreeMap<String, String>,
    no_new_privileges: bool,
}

impl Emulated {
    /// Does, as root, what systemd does before it runs the unit's commands.
    fn prepare(root: &Path, unit: &Unit) -> Emulated {
        assert!(
            unit.yes("DynamicUser") && unit.one("User").is_none(),
            "the emulation runs the service as a DynamicUser= uid"
        );
        let mut env = BTreeMap::new();
        env.insert("PATH".into(), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
        // A dynamic user's record: home "/", no shell.
        env.insert("HOME".into(), "/".into());
        env.insert("USER".into(), unit.name.trim_end_matches(".service").into());
        env.insert("LOGNAME".into(), unit.name.trim_end_matches(".service").into());
        env.insert("PRINTCORE_LOG".into(), "info,printworker=debug,mongodb=warn".into());
        let own = |path: &Path, mode: u32| {
            std::os::unix::fs::chown(path, Some(SERVICE_UID), Some(SERVICE_UID)).unwrap();
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        // ConfigurationDirectory=: created when missing (0755), never given to the service's user.
        if let Some(names) = unit.one("ConfigurationDirectory") {
            let dirs: Vec<String> = names
                .split_whitespace()
                .map(|n| {
                    let dir = under(root, &format!("/etc/{n}"));
                    if !dir.exists() {
                        std::fs::create_dir_all(&dir).unwrap();
                        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
                    }
                    dir.to_string_lossy().into_owned()
                })
                .collect();
            env.insert("CONFIGURATION_DIRECTORY".into(), dirs.join(":"));
        }
        // StateDirectory=: created and owned by the service's user, with StateDirectoryMode= (0755 default).
        if let Some(names) = unit.one("StateDirectory") {
            let mode = unit.one("StateDirectoryMode").map(|m| u32::from_str_radix(m, 8).unwrap()).unwrap_or(0o755);
            let dirs: Vec<String> = names
                .split_whitespace()
                .map(|n| {
                    let dir = under(root, &format!("/var/lib/{n}"));
                    std::fs::create_dir_all(&dir).unwrap();
                    own(&dir, mode);
                    dir.to_string_lossy().into_owned()
                })
                .collect();
            env.insert("STATE_DIRECTORY".into(), dirs.join(":"));
        }
        // LoadCredential=ID:PATH: read by systemd as root, presented to the service's user alone.
        let credentials = unit.all("LoadCredential");
        if !credentials.is_empty() {
            let dir = under(root, &format!("/run/credentials/{}", unit.name));
            std::fs::create_dir_all(&dir).unwrap();
            for c in credentials {
                let (id, source) = c.split_once(':').unwrap_or_else(|| panic!("LoadCredential={c}: no path"));
                let data = std::fs::read(under(root, source))
                    .unwrap_or_else(|e| panic!("systemd could not read the credential {source}: {e}"));
                let file = dir.join(id);
                std::fs::write(&file, data).unwrap();
                own(&file, 0o400);
            }
            own(&dir, 0o500);
            env.insert("CREDENTIALS_DIRECTORY".into(), dir.to_string_lossy().into_owned());
        }
        // EnvironmentFile=: read by systemd as root; `-`: may be missing.
        for f in unit.all("EnvironmentFile") {
            let (optional, path) = match f.strip_prefix('-') {
                Some(p) => (true, p),
                None => (false, f),
            };
            match std::fs::read_to_string(under(root, path)) {
                Ok(text) => {
                    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
                        let (k, v) = line.split_once('=').unwrap();
                        env.insert(k.trim().into(), v.trim().trim_matches('"').into());
                    }
                }
                Err(_) if optional => {}
                Err(e) => panic!("EnvironmentFile={f}: {e}"),
            }
        }
        // PrivateTmp=: a /tmp of its own.
        if unit.yes("PrivateTmp") {
            let tmp = under(root, "/tmp");
            std::fs::create_dir_all(&tmp).unwrap();
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
            env.insert("TMPDIR".into(), tmp.to_string_lossy().into_owned());
        }
        Emulated { env, no_new_privileges: unit.yes("NoNewPrivileges") }
    }

    /// One of the unit's commands as the service's user, with the service's environment only.
    fn command(&self, line: &ExecLine) -> Command {
        let mut cmd = Command::new("setpriv");
        cmd.arg(format!("--reuid={SERVICE_UID}"))
            .arg(format!("--regid={SERVICE_UID}"))
            .arg("--clear-groups")
            // Changing the uid clears the parent-death signal the harness sets: set it again.
            .args(["--pdeathsig", "KILL"]);
        if self.no_new_privileges {
            cmd.arg("--no-new-privs");
        }
        cmd.arg("--").args(&line.argv).env_clear().envs(&self.env).current_dir("/");
        cmd
    }

    /// Runs a command to its end (at most `deadline`): its exit status and output.
    fn run(&self, line: &ExecLine, deadline: Duration) -> (ExitStatus, String) {
        let child = self.command(line).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("setpriv");
        let pid = child.id() as i32;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let out = match rx.recv_timeout(deadline) {
            Ok(out) => out.unwrap(),
            Err(_) => {
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
                panic!("{:?} did not finish within {deadline:?}", line.argv);
            }
        };
        (out.status, format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

/// A process started by the emulation, killed when dropped.
struct Running(Option<std::process::Child>);

impl Running {
    fn signal_and_wait(&mut self, signal: i32, deadline: Duration) -> ExitStatus {
        let child = self.0.as_mut().expect("running");
        unsafe {
            libc::kill(child.id() as i32, signal);
        }
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.0 = None;
                return status;
            }
            assert!(start.elapsed() < deadline, "the service did not stop within {deadline:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn seconds(value: &str) -> Duration {
    if let Some(m) = value.strip_suffix("min") {
        return Duration::from_secs(m.trim().parse::<u64>().unwrap() * 60);
    }
    Duration::from_secs(value.trim_end_matches('s').trim().parse().unwrap())
}

fn signal_number(name: &str) -> i32 {
    match name.trim_start_matches("SIG") {
        "TERM" => libc::SIGTERM,
        "INT" => libc::SIGINT,
        other => panic!("KillSignal={other} is not emulated"),
    }
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o7777
}

/// The files the header lists are where `install.sh` put them, with the modes and owner it says; and the
/// files the unit's settings name are among them.
fn assert_header_is_true(root: &Path, unit: &Unit) {
    let listed = unit.listed_files();
    assert!(
        unit.header.iter().any(|l| l.contains("sudo deploy/install.sh ")),
        "the header tells how to install: deploy/install.sh"
    );
    assert!(listed.len() >= 4, "the header lists the installed files: {listed:?}");
    for (path, mode, owner) in &listed {
        let file = under(root, path);
        assert_eq!(mode_of(&file), *mode, "{path}: mode (the header says {mode:o})");
        assert_eq!(owner, "root", "{path}");
        assert_eq!(std::fs::metadata(&file).unwrap().uid(), 0, "{path}: owner");
    }
    let is_listed = |p: &str| listed.iter().any(|(l, _, _)| l == p);
    assert!(is_listed(&format!("/etc/systemd/system/{}", unit.name)), "the unit itself is listed");
    for c in unit.all("LoadCredential") {
        let source = c.split_once(':').unwrap().1;
        assert!(is_listed(source), "the credential {source} is listed");
    }
    for line in unit.all("ExecStartPre").into_iter().chain(unit.all("ExecStart")) {
        for word in line.trim_start_matches('-').split_whitespace().filter(|w| w.starts_with('/')) {
            assert!(is_listed(word), "{word}, named by the unit, is listed in its header");
        }
    }
}

async fn order_document(db: &mongodb::Database, id: &str) -> Option<Document> {
    db.collection::<Document>("orders").find_one(doc! { "orderId": id }).await.unwrap()
}

async fn order_status(db: &mongodb::Database, id: &str) -> Option<String> {
    order_document(db, id).await?.get_str("printStatus").ok().map(str::to_owned)
}

/// The unit as shipped: install.sh's layout, the header's list of it, then the unit's commands as its
/// dynamic user: `check` passes, `run` prints an order and keeps its journal in the state folder, and the
/// unit's stop signal ends it cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unit_as_shipped_prints_an_order_as_its_dynamic_user() {
    let (db, _core) = migrated_core("systemd_unit").await;
    let files = FileServer::start().await;
    files.route("/doc.pdf", Route::pdf(pdf(1, A4)));
    let eve = IppEve::start(IppEveOptions::default());
    let mut order = paid_order("unit-0001", DateTime::now(), 0);
    order.insert("fileURL", files.url("/doc.pdf"));
    insert_orders(&db, vec![order]).await;

    let work = tempfile::tempdir().unwrap();
    let config = worker_toml(work.path(), db.name(), &eve.uri());
    let root = new_root();
    let (status, out) = install(root.path(), &config, &server(Mode::ReplicaSet).uri);
    assert!(status.success(), "deploy/install.sh failed:\n{out}");
    let unit = Unit::read(&under(root.path(), "/etc/systemd/system/printcore-worker.service"));
    assert_eq!(
        std::fs::read(unit_file()).unwrap(),
        std::fs::read(under(root.path(), "/etc/systemd/system/printcore-worker.service")).unwrap(),
        "install.sh installs deploy/printcore-worker.service"
    );
    assert_header_is_true(root.path(), &unit);

    let service = Emulated::prepare(root.path(), &unit);
    for value in unit.all("ExecStartPre") {
        let line = exec_line(root.path(), value);
        let (status, out) = service.run(&line, seconds(unit.one("TimeoutStartSec").unwrap_or("90")));
        // '-' would let the unit start anyway; here everything is ready, so it must pass.
        assert!(status.success(), "ExecStartPre={value} failed as the service's user ({status}):\n{out}");
        assert!(out.contains("all checks passed"), "{out}");
    }
    let start = unit.one("ExecStart").expect("ExecStart=");
    let line = exec_line(root.path(), start);
    assert!(!line.ignore_failure);
    let state = PathBuf::from(&service.env["STATE_DIRECTORY"]);
    let ready = spawn_until_ready(service.command(&line), Some("journal of jobs sent"), Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("ExecStart={start} as the service's user: {e}"));
    let mut running = Running(Some(ready.child));
    let journal = state.join("worker.journal.jsonl");
    assert!(ready.ready_line.contains(&journal.to_string_lossy().into_owned()), "{}", ready.ready_line);

    wait_for("the order printed by the service", Duration::from_secs(120), || async {
        match order_status(&db, "unit-0001").await.as_deref() {
            Some("printed") => Some(()),
            Some("failed") => panic!("the order failed: {:?}", order_document(&db, "unit-0001").await),
            _ => None,
        }
    })
    .await;
    assert_eq!(eve.spooled().len(), 1, "one job at the printer: {:?}", eve.spooled());

    // The journal is the service user's, private, in the state folder, and names the order.
    let meta = std::fs::metadata(&journal).unwrap();
    assert_eq!((meta.uid(), meta.permissions().mode() & 0o777), (SERVICE_UID, 0o600));
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(text.contains("\"sending\"") && text.contains("unit-0001"), "{text}");
    // Nothing was written beside the configuration.
    let etc: Vec<_> = std::fs::read_dir(under(root.path(), "/etc/printcore"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(etc, ["worker.toml"]);

    let kill = signal_number(unit.one("KillSignal").unwrap_or("SIGTERM"));
    let status = running.signal_and_wait(kill, seconds(unit.one("TimeoutStopSec").unwrap_or("90")));
    assert!(status.success(), "the service's stop: {status}");
}

/// The unit and the install steps as the security review found them (the unit's history before this
/// test): `DynamicUser=yes`, `/etc/printcore` 750 and `worker.toml` 640, both root's. The service's user
/// cannot read its configuration: `check` and `run` exit 2. Made readable, the journal beside it cannot be
/// written (ProtectSystem=strict; here, root's folder): the worker runs without one. Both with today's
/// worker too, which keeps the old behaviour where systemd sets no variables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_units_first_layout_could_not_read_its_configuration_nor_write_its_journal() {
    const OLD: &str = "[Service]\nEnvironmentFile=-/etc/printcore/worker.env\n\
        ExecStartPre=/usr/local/bin/printcore-worker --config /etc/printcore/worker.toml check\n\
        ExecStart=/usr/local/bin/printcore-worker --config /etc/printcore/worker.toml run\n\
        DynamicUser=yes\nNoNewPrivileges=yes\nProtectSystem=strict\nProtectHome=yes\nPrivateTmp=yes\n";
    let db = fresh_database(Mode::ReplicaSet, "systemd_old").await;
    let root = new_root();
    let work = tempfile::tempdir().unwrap();
    let unit_path = work.path().join("printcore-worker.service");
    std::fs::write(&unit_path, OLD).unwrap();
    let unit = Unit::read(&unit_path);
    // sudo install -m 755 target/release/worker /usr/local/bin/printcore-worker
    // sudo install -d -m 750 /etc/printcore && sudo install -m 640 worker.toml /etc/printcore/worker.toml
    let bin = under(root.path(), "/usr/local/bin/printcore-worker");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::copy(worker_binary(), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let etc = under(root.path(), "/etc/printcore");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(0o750)).unwrap();
    let config = etc.join("worker.toml");
    std::fs::copy(worker_toml(work.path(), db.name(), "ipp://127.0.0.1:9/ipp/print"), &config).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o640)).unwrap();
    // Its comment: "MONGODB_URI can live here instead of in worker.toml (keep the file readable by root only)".
    let env_file = etc.join("worker.env");
    std::fs::write(&env_file, format!("MONGODB_URI={}\n", server(Mode::ReplicaSet).uri)).unwrap();
    std::fs::set_permissions(&env_file, std::fs::Permissions::from_mode(0o600)).unwrap();

    let service = Emulated::prepare(root.path(), &unit);
    assert!(!service.env.contains_key("STATE_DIRECTORY") && !service.env.contains_key("CREDENTIALS_DIRECTORY"));
    for key in ["ExecStartPre", "ExecStart"] {
        let (status, out) = service.run(&exec_line(root.path(), unit.one(key).unwrap()), Duration::from_secs(60));
        assert_eq!(status.code(), Some(2), "{key}: {out}");
        assert!(
            out.contains("cannot read the configuration file") && out.contains("Permission denied"),
            "{key}: {out}"
        );
    }

    // The configuration made readable: the journal beside it is not writable.
    std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let line = exec_line(root.path(), unit.one("ExecStart").unwrap());
    let started = spawn_until_ready(service.command(&line), Some("cannot open the journal"), Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("the worker did not report its journal: {e}"));
    let _running = Running(Some(started.child));
    let beside = etc.join("worker.journal.jsonl");
    assert!(
        started.ready_line.contains(&beside.to_string_lossy().into_owned())
            && started.ready_line.contains("Permission denied")
            && started.ready_line.contains("running without one"),
        "{}",
        started.ready_line
    );
}

/// `systemd-analyze verify` on the installed files: every setting known to this systemd, every program the
/// unit runs installed and executable, no warning at all.
#[test]
fn systemd_analyze_verifies_the_installed_unit() {
    let analyze = Path::new("/usr/bin/systemd-analyze");
    assert!(analyze.exists(), "systemd-analyze is missing: apt-get install systemd (the unit is verified with it)");
    let root = new_root();
    let work = tempfile::tempdir().unwrap();
    let config = worker_toml(work.path(), "printshop", "ipp://127.0.0.1:9/ipp/print");
    let (status, out) = install(root.path(), &config, "mongodb://127.0.0.1:27017/");
    assert!(status.success(), "{out}");
    // The units the worker's unit refers to (sysinit.target, multi-user.target, ...), from this system.
    let units = under(root.path(), "/usr/lib/systemd");
    std::fs::create_dir_all(&units).unwrap();
    let copied = Command::new("cp").arg("-a").arg("/usr/lib/systemd/system").arg(&units).status().unwrap();
    assert!(copied.success());
    let verify = |unit: &str| {
        let out = Command::new(analyze)
            .arg("verify")
            .arg(format!("--root={}", root.path().display()))
            .arg(unit)
            .output()
            .unwrap();
        (out.status, format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    let (status, out) = verify("/etc/systemd/system/printcore-worker.service");
    assert!(status.success() && out.trim().is_empty(), "systemd-analyze verify ({status}):\n{out}");

    // It does find mistakes: a misspelt setting (a warning), a program that is not installed (an error).
    let installed = under(root.path(), "/etc/systemd/system/printcore-worker.service");
    let shipped = std::fs::read_to_string(&installed).unwrap();
    std::fs::write(&installed, shipped.replace("StateDirectory=", "StateDirectroy=")).unwrap();
    let (_, out) = verify("/etc/systemd/system/printcore-worker.service");
    assert!(out.contains("StateDirectroy"), "{out}");
    std::fs::write(&installed, &shipped).unwrap();
    std::fs::remove_file(under(root.path(), "/usr/local/bin/printcore-worker")).unwrap();
    let (status, out) = verify("/etc/systemd/system/printcore-worker.service");
    assert!(!status.success() && out.contains("printcore-worker"), "{out}");
}

/// The configuration is readable by every user, so a password in it is refused: by install.sh before it
/// installs anything, and by the worker (the unit's `check` and `run`: exit 2, which the unit does not
/// restart), never printing the password.
#[test]
fn a_password_in_the_world_readable_configuration_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let with_password = work.path().join("secret.toml");
    let secret_uri = "mongodb://shop:Pa55wordXYZ@127.0.0.1:1/printshop";
    let plain = std::fs::read_to_string(worker_toml(work.path(), "printshop", "ipp://127.0.0.1:9/ipp/print")).unwrap();
    std::fs::write(&with_password, plain.replace("[database]\n", &format!("[database]\nuri = \"{secret_uri}\"\n")))
        .unwrap();
    let root = new_root();
    let (status, out) = install(root.path(), &with_password, "mongodb://127.0.0.1:1/");
    assert!(!status.success() && out.contains("password"), "{out}");
    assert!(!under(root.path(), "/usr/local/bin/printcore-worker").exists(), "nothing installed");

    // Installed without it, then the password added to the installed file by hand.
    let (status, out) = install(root.path(), &work.path().join("worker.toml"), "mongodb://127.0.0.1:1/");
    assert!(status.success(), "{out}");
    std::fs::copy(&with_password, under(root.path(), "/etc/printcore/worker.toml")).unwrap();
    let unit = Unit::read(&under(root.path(), "/etc/systemd/system/printcore-worker.service"));
    assert_eq!(unit.one("RestartPreventExitStatus"), Some("2"), "a configuration mistake is not restarted");
    let service = Emulated::prepare(root.path(), &unit);
    for value in unit.all("ExecStartPre").into_iter().chain(unit.all("ExecStart")) {
        let (status, out) = service.run(&exec_line(root.path(), value), Duration::from_secs(60));
        assert_eq!(status.code(), Some(2), "{value}: {out}");
        assert!(out.contains("every user of this computer can read it"), "{out}");
        assert!(!out.contains("Pa55wordXYZ"), "the password was printed:\n{out}");
    }
}
