//! The Windows worker, run: `worker.exe` (cross-compiled for x86_64-pc-windows-gnu) under wine, against the
//! real database server, ippeveprinter and the local file server. Ignored in the ordinary run; run by
//! `bash scripts/test-wine.sh`, which builds the .exe and prepares wine (see `printcore_tests::wine`).
//!
//! What wine shows and what it cannot is said in the guide's Windows page (docs/guide/src/print-pc/windows.md); in
//! short: console Ctrl-C (SIGINT to the wine process) and the service stop reach the worker's graceful shutdown;
//! SIGTERM ends a wine process at once; wine's spooler answers `GetPrinter` and prints through a port, but its
//! `EnumJobs` is a stub, so following spooler jobs by name is shown by unit tests, not here. Wine keeps a file's access
//! list as its Unix mode (an entry for Everyone is the mode's "other" bits), so `check` refusing a configuration others
//! may read and `service install` locking it are shown here; the service's own account's entries, and what the account
//! may do, are not (wine runs every service as the same user).

use bson::{doc, DateTime, Document};
use printcore_tests::db::{fresh_database, server, Mode};
use printcore_tests::fileserver::{FileServer, Route};
use printcore_tests::fixtures::{insert_orders, log_actions, paid_order};
use printcore_tests::ippeve::{IppEve, IppEveOptions};
use printcore_tests::pdfgen::{pdf, A3, A4};
use printcore_tests::wait_for;
use printcore_tests::wine::{said, text, wait_with_deadline, Wine};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

const SHORT: Duration = Duration::from_secs(90);

/// A worker configuration: `printers` are `[[printers]]` sections.
fn config(db: &mongodb::Database, worker_extra: &str, files_extra: &str, printers: &str) -> String {
    format!(
        r#"
[database]
uri = "{uri}"
name = "{db}"

[worker]
poll_interval_secs = 0.5
health_interval_secs = 0.5
lease_secs = 10.0
recovery_interval_secs = 1.0
job_poll_interval_secs = 0.2
metrics_interval_secs = 5.0
backoff_base_secs = 1.0
backoff_max_secs = 2.0
{worker_extra}

[files]
allowed_hosts = ["127.0.0.1:*"]
allow_loopback = true
allow_http = true
retries = 1
{files_extra}

{printers}
"#,
        uri = server(Mode::ReplicaSet).uri,
        db = db.name(),
    )
}

fn ipp_printer(eve: &IppEve, page_size: &str) -> String {
    format!(
        r#"[[printers]]
id = "eve"
name = "Counter (IPP)"
backend = "ipp"
uri = "{}"
timeout_secs = 5.0
capabilities = {{ page_sizes = ["{page_size}"], color = true, duplex = true, max_copies = 99 }}
"#,
        eve.uri()
    )
}

fn folder_printer(windows_folder: &str, page_size: &str) -> String {
    format!(
        r#"[[printers]]
id = "folder"
name = "Back office (folder)"
backend = "file"
folder = '{windows_folder}'
capabilities = {{ page_sizes = ["{page_size}"], color = true, duplex = true, max_copies = 99 }}
"#
    )
}

/// Paid orders `prefix-0..n` asking for `size`, their file served at `/<prefix>.pdf`.
async fn orders(db: &mongodb::Database, files: &FileServer, prefix: &str, n: usize, size: &str) -> Vec<String> {
    let base = DateTime::now();
    let ids: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
    let docs = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mut d = paid_order(id, base, ((n - i) * 10) as i64);
            d.insert("fileURL", files.url(&format!("/{prefix}.pdf")));
            d.insert("printingOptions", doc! { "pageSize": size, "color": false, "duplex": false, "copies": 1 });
            d
        })
        .collect();
    insert_orders(db, docs).await;
    ids
}

async fn order(db: &mongodb::Database, id: &str) -> Document {
    db.collection::<Document>("orders").find_one(doc! { "orderId": id }).await.unwrap().unwrap()
}

/// Waits until every order of `ids` has `status`. On a timeout it says where each order is and ends with the
/// worker's console log (`log`), so a failure under a slow wine can be told from a worker that stopped.
async fn wait_status(db: &mongodb::Database, ids: &[String], status: &str, deadline: Duration, log: &Path) {
    let orders = db.collection::<Document>("orders");
    let start = std::time::Instant::now();
    loop {
        let n = orders.count_documents(doc! { "orderId": { "$in": ids }, "printStatus": status }).await.unwrap();
        if n == ids.len() as u64 {
            return;
        }
        if start.elapsed() > deadline {
            let mut states = Vec::new();
            for id in ids {
                let o = order(db, id).await;
                states.push(format!(
                    "{id}: {} {} {}",
                    o.get_str("printStatus").unwrap_or("-"),
                    o.get_str("printWaitReason").unwrap_or(""),
                    o.get_str("printError").unwrap_or("")
                ));
            }
            let console = read(log);
            let tail: Vec<&str> = console.lines().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect();
            panic!(
                "timed out after {deadline:?} waiting for {ids:?} {status}\n{}\nthe worker's console, last lines:\n{}",
                states.join("\n"),
                tail.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sigint(child: &std::process::Child) {
    // SAFETY: kill has no memory effects; the pid is our child's.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Wine's access list of a file is its Unix mode: 0644 lets Everyone read it, and setting a list sets the
/// mode it maps to.
fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode()
}

#[test]
#[ignore = "runs worker.exe under wine: bash scripts/test-wine.sh"]
fn help_version_and_the_exit_codes_of_check() {
    let wine = Wine::from_env();
    let help = wine.worker(&["--help"], SHORT);
    assert!(help.status.success(), "{}", said(&help));
    let shown = text(&help);
    for command in ["run", "check", "printers", "migrate", "service"] {
        assert!(shown.contains(command), "--help lists {command}: {shown}");
    }
    let service_help = wine.worker(&["service", "--help"], SHORT);
    assert!(service_help.status.success(), "{}", said(&service_help));
    for action in ["install", "uninstall", "start", "stop", "status"] {
        assert!(text(&service_help).contains(action), "{}", said(&service_help));
    }
    let version = wine.worker(&["--version"], SHORT);
    assert!(version.status.success() && text(&version).contains("worker "), "{}", said(&version));

    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(fresh_database(Mode::ReplicaSet, "wine_check"));
    let eve = IppEve::start(IppEveOptions::default());
    let (dir, windir) = wine.folder("check");
    let good = config(
        &db,
        "",
        "",
        &format!("{}\n{}", ipp_printer(&eve, "A4"), folder_printer(&format!(r"{windir}\out"), "A3")),
    );
    std::fs::write(dir.join("worker.toml"), &good).unwrap();
    let cfg = format!(r"{windir}\worker.toml");

    // A configuration every user may read (wine reads mode 0644 as an entry for Everyone): 1, naming the
    // file and the command that locks it, although the database and printers answer.
    set_mode(&dir.join("worker.toml"), 0o644);
    let out = wine.worker(&["--config", &cfg, "check"], SHORT);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    let shown = text(&out);
    assert!(
        shown.contains(&format!(
            r"access: {cfg} (the configuration, which holds the database password): REFUSED: Everyone can read it"
        )),
        "{shown}"
    );
    assert!(shown.contains(&format!(r#"worker --config "{cfg}" service install"#)), "{shown}");
    assert!(shown.contains("status: online") && !shown.contains("all checks passed"), "{shown}");
    set_mode(&dir.join("worker.toml"), 0o600);

    // A configuration path in Windows' form, checked end to end: 0.
    let out = wine.worker(&["--config", &cfg, "check"], SHORT);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(text(&out).contains("all checks passed"), "{}", said(&out));
    assert!(text(&out).contains("status: online"), "{}", said(&out));

    // A file that is not there, or not valid: 2, naming it.
    let out = wine.worker(&["--config", &format!(r"{windir}\missing.toml"), "check"], SHORT);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(text(&out).contains("missing.toml"), "{}", said(&out));
    std::fs::write(dir.join("typo.toml"), good.replace("poll_interval_secs", "poll_intervall_secs")).unwrap();
    let out = wine.worker(&["--config", &format!(r"{windir}\typo.toml"), "check"], SHORT);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(text(&out).contains("poll_intervall_secs"), "{}", said(&out));

    // A database that does not answer: 1.
    let unreachable = good.replace(
        &server(Mode::ReplicaSet).uri,
        "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=1500&connectTimeoutMS=1000",
    );
    std::fs::write(dir.join("nodb.toml"), unreachable).unwrap();
    let out = wine.worker(&["--config", &format!(r"{windir}\nodb.toml"), "check"], SHORT);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(text(&out).contains("cannot reach the database"), "{}", said(&out));

    // A printer that is off: 1, saying which.
    eve.kill();
    let out = wine.worker(&["--config", &cfg, "check"], SHORT);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(text(&out).contains("a printer is not ready"), "{}", said(&out));

    // The service's entry point, started by hand: 2, pointing at `worker run`.
    let out = wine.worker(&["--config", &cfg, "service", "run"], SHORT);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(text(&out).contains("worker run"), "{}", said(&out));
}

#[test]
#[ignore = "runs worker.exe under wine: bash scripts/test-wine.sh"]
fn prints_to_ippeveprinter_and_to_a_folder_with_json_logs_and_stops_on_ctrl_c() {
    let wine = Wine::from_env();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(fresh_database(Mode::ReplicaSet, "wine_print"));
    let files = rt.block_on(FileServer::start());
    files.route("/a4.pdf", Route::pdf(pdf(2, A4)));
    files.route("/a3.pdf", Route::pdf(pdf(1, A3)));
    let eve = IppEve::start(IppEveOptions { job_seconds: 0.2, ..IppEveOptions::default() });
    let (dir, windir) = wine.folder("print");
    // A4 orders fit only the IPP printer, A3 ones only the folder.
    let printers = format!("{}\n{}", ipp_printer(&eve, "A4"), folder_printer(&format!(r"{windir}\out"), "A3"));
    std::fs::write(dir.join("worker.toml"), config(&db, "", "", &printers)).unwrap();
    let a4 = rt.block_on(orders(&db, &files, "a4", 3, "A4"));
    let a3 = rt.block_on(orders(&db, &files, "a3", 2, "A3"));

    // Registers both printers with their capabilities before anything is claimed (as a shop runs
    // `worker migrate` once).
    let migrated = wine.worker(&["--config", &format!(r"{windir}\worker.toml"), "migrate"], SHORT);
    assert!(migrated.status.success(), "{}", said(&migrated));

    let log = dir.join("console.log");
    let mut worker = wine.spawn_worker(&["--config", &format!(r"{windir}\worker.toml"), "--log-json", "run"], &log);
    rt.block_on(wait_status(&db, &a4, "printed", Duration::from_secs(120), &log));
    rt.block_on(wait_status(&db, &a3, "printed", Duration::from_secs(60), &log));

    for id in &a4 {
        let job = rt.block_on(order(&db, id)).get_str("printJobId").unwrap().to_owned();
        assert_eq!(eve.copies_of(&job), 1, "order {id} reached ippeveprinter once");
    }
    for id in &a3 {
        let o = rt.block_on(order(&db, id));
        let job = o.get_str("printJobId").unwrap();
        let written = dir.join("out").join(job);
        assert!(written.join("job.json").exists(), "order {id} was written to {}", written.display());
    }
    assert_eq!(eve.spooled().len(), 3, "nothing else reached the printer");

    // Ctrl-C (wine turns SIGINT into the console's CTRL_C_EVENT): a graceful stop, exit 0.
    sigint(&worker);
    let status = wait_with_deadline(&mut worker, Duration::from_secs(60)).expect("the worker stops on Ctrl-C");
    assert_eq!(status.code(), Some(0), "{}", read(&log));

    // The console log is JSON, one object per line, and lines about an order name it.
    let lines = read(&log);
    let mut printed = Vec::new();
    for line in lines.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["timestamp"].is_string() && v["level"].is_string(), "{line}");
        if v["fields"]["message"] == "printed" {
            printed.push(v["span"]["order_id"].as_str().unwrap_or_default().to_owned());
        }
    }
    printed.sort();
    let mut all: Vec<String> = a4.iter().chain(&a3).cloned().collect();
    all.sort();
    assert_eq!(printed, all, "one `printed` line per order, naming it:\n{lines}");
    assert!(lines.contains("stop signal received") && lines.contains("worker stopped"), "{lines}");
}

#[test]
#[ignore = "runs worker.exe under wine: bash scripts/test-wine.sh"]
fn ctrl_c_lets_the_job_at_the_printer_finish_and_returns_the_others_to_the_queue() {
    let wine = Wine::from_env();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(fresh_database(Mode::ReplicaSet, "wine_stop"));
    let files = rt.block_on(FileServer::start());
    files.route("/slow.pdf", Route::pdf(pdf(1, A4)));
    // The second order's file never finishes downloading: claimed, never at the printer.
    let body = std::sync::Arc::new(pdf(1, A4));
    files.route("/stall.pdf", Route::Stall { body, sent: 100, stall: Duration::from_secs(120) });
    let eve = IppEve::start(IppEveOptions { job_seconds: 4.0, ..IppEveOptions::default() });
    let (dir, windir) = wine.folder("stop");
    let worker_extra = "jobs_per_printer = 2\nshutdown_grace_secs = 12.0";
    std::fs::write(
        dir.join("worker.toml"),
        config(&db, worker_extra, "read_timeout_secs = 100.0\ntotal_timeout_secs = 200.0", &ipp_printer(&eve, "A4")),
    )
    .unwrap();
    let at_printer = rt.block_on(orders(&db, &files, "slow", 1, "A4"));
    let stalled = rt.block_on(orders(&db, &files, "stall", 1, "A4"));

    let log = dir.join("console.log");
    let mut worker = wine.spawn_worker(&["--config", &format!(r"{windir}\worker.toml"), "run"], &log);
    rt.block_on(wait_for("the first order at the printer", Duration::from_secs(90), || async {
        rt_order_has(&db, &at_printer[0], "printerJobRef").await.then_some(())
    }));
    rt.block_on(wait_status(&db, &stalled, "printing", Duration::from_secs(30), &log));
    sigint(&worker);
    let status = wait_with_deadline(&mut worker, Duration::from_secs(60)).expect("the worker stops");
    assert_eq!(status.code(), Some(0), "{}", read(&log));
    let o = rt.block_on(order(&db, &at_printer[0]));
    assert_eq!(o.get_str("printStatus").unwrap(), "printed", "the job at the printer finished in the grace period");
    assert_eq!(eve.copies_of(o.get_str("printJobId").unwrap()), 1);
    let s = rt.block_on(order(&db, &stalled[0]));
    assert_eq!(s.get_str("printStatus").unwrap(), "pending", "the order not at the printer went back: {s}");
    let actions = rt.block_on(log_actions(&db, &stalled[0]));
    assert!(actions.contains(&"server_shutdown".to_owned()), "{actions:?}");
}

async fn rt_order_has(db: &mongodb::Database, id: &str, field: &str) -> bool {
    order(db, id).await.contains_key(field)
}

#[test]
#[ignore = "runs worker.exe under wine: bash scripts/test-wine.sh"]
fn the_windows_service_installs_starts_at_boot_stops_gracefully_and_uninstalls() {
    // A prefix of its own, new each run: an installed auto-start service would start with every wine
    // program in a shared one.
    let base = Wine::from_env();
    let prefix = base.prefix.with_file_name(format!("service-prefix-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&prefix);
    let wine = base.in_prefix(&prefix);
    wine.boot();
    wine.keep_server();
    let cleanup = Cleanup(wine.clone());

    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(fresh_database(Mode::ReplicaSet, "wine_service"));
    let files = rt.block_on(FileServer::start());
    files.route("/a4.pdf", Route::pdf(pdf(1, A4)));
    files.route("/slow.pdf", Route::pdf(pdf(1, A4)));
    let eve = IppEve::start(IppEveOptions { job_seconds: 4.0, ..IppEveOptions::default() });
    let (dir, windir) = wine.folder("service");
    std::fs::write(dir.join("worker.toml"), config(&db, "shutdown_grace_secs = 30.0", "", &ipp_printer(&eve, "A4")))
        .unwrap();
    let cfg = format!(r"{windir}\worker.toml");
    let log = dir.join("worker.log");
    let sc = |args: &[&str]| wine.run_program(Path::new("sc"), args, SHORT);
    let net = |args: &[&str]| wine.run_program(Path::new("net"), args, SHORT);
    let status = |wine: &Wine| wine.worker(&["service", "status"], SHORT);

    // Not installed: 4.
    assert_eq!(status(&wine).status.code(), Some(4), "{}", text(&status(&wine)));
    // A configuration without its own connection string is refused.
    std::fs::write(
        dir.join("noduri.toml"),
        "[[printers]]\nid = \"a\"\nname = \"A\"\nbackend = \"file\"\nfolder = 'C:\\x'\n",
    )
    .unwrap();
    let out = wine.worker(&["--config", &format!(r"{windir}\noduri.toml"), "service", "install"], SHORT);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(text(&out).contains("[database] uri"), "{}", said(&out));

    // Before install the configuration is every user's to read; install runs the service as its own
    // account and gives the folder and its files lists of their own (under wine: the modes they map to).
    set_mode(&dir.join("worker.toml"), 0o644);
    let out = wine.worker(&["--config", &cfg, "check"], SHORT);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(text(&out).contains("REFUSED: Everyone can read it"), "{}", said(&out));
    let out = wine.worker(&["--config", &cfg, "service", "install"], SHORT);
    assert!(out.status.success(), "{}", said(&out));
    let shown = text(&out);
    assert!(shown.contains("installed service \"printcore-worker\""), "{shown}");
    assert!(shown.contains(r"runs as NT SERVICE\printcore-worker"), "{shown}");
    assert!(
        shown.contains(&format!(
            r"access: {cfg}: Administrators, SYSTEM: full control; NT SERVICE\printcore-worker: read only"
        )),
        "{shown}"
    );
    assert!(
        shown.contains(&format!(r"access: {windir}\worker.journal.jsonl: NT SERVICE\printcore-worker: modify")),
        "{shown}"
    );
    for file in ["worker.toml", "worker.journal.jsonl", ""] {
        let mode = mode(&dir.join(file));
        assert_eq!(mode & 0o007, 0, "{file:?}: nothing for Everyone ({mode:o})");
    }
    let out = wine.worker(&["--config", &cfg, "check"], SHORT);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let shown = text(&out);
    assert!(!shown.contains("REFUSED") && shown.contains("all checks passed"), "{shown}");
    assert!(shown.contains(r#"service: "printcore-worker" runs as NT SERVICE\printcore-worker"#), "{shown}");
    let out = wine.worker(&["--config", &cfg, "service", "install"], SHORT);
    assert!(text(&out).contains("already installed"), "installing twice says so: {}", text(&out));
    let query = sc(&["query", "printcore-worker"]);
    assert!(text(&query).contains("STOPPED"), "{}", said(&query));
    let out = status(&wine);
    assert_eq!(out.status.code(), Some(3), "{}", said(&out));
    assert!(text(&out).contains("automatically at boot"), "{}", said(&out));
    assert!(text(&out).contains(r"as: NT SERVICE\printcore-worker"), "{}", said(&out));

    // `net start` (the service manager starts worker.exe service run): it logs beside the configuration.
    let out = net(&["start", "printcore-worker"]);
    assert!(out.status.success(), "{}", said(&out));
    rt.block_on(wait_for("the service's log", Duration::from_secs(60), || async {
        read(&log).contains("worker started").then_some(())
    }));
    assert!(read(&log).contains("running as a Windows service"), "{}", read(&log));
    assert_eq!(status(&wine).status.code(), Some(0), "{}", text(&status(&wine)));
    let first = rt.block_on(orders(&db, &files, "a4", 1, "A4"));
    rt.block_on(wait_status(&db, &first, "printed", Duration::from_secs(90), &log));

    // `net stop` with a job at the printer: the job finishes, the service reports stopping, then stopped.
    let slow = rt.block_on(orders(&db, &files, "slow", 1, "A4"));
    rt.block_on(wait_for("the order at the printer", Duration::from_secs(60), || async {
        rt_order_has(&db, &slow[0], "printerJobRef").await.then_some(())
    }));
    let out = net(&["stop", "printcore-worker"]);
    assert!(out.status.success(), "{}", said(&out));
    rt.block_on(wait_for("the service stopped", Duration::from_secs(60), || async {
        read(&log).contains("the service has stopped").then_some(())
    }));
    let o = rt.block_on(order(&db, &slow[0]));
    assert_eq!(o.get_str("printStatus").unwrap(), "printed", "{}", read(&log));
    let logged = read(&log);
    for line in ["the service manager asks the worker to stop (Stop)", "stop signal received", "worker stopped"] {
        assert!(logged.contains(line), "the service log says {line:?}:\n{logged}");
    }
    assert_eq!(status(&wine).status.code(), Some(3));

    // Our own start and stop.
    let out = wine.worker(&["--config", &cfg, "service", "start"], SHORT);
    assert!(out.status.success() && text(&out).contains("is running"), "{}", said(&out));
    let out = wine.worker(&["--config", &cfg, "service", "stop"], SHORT);
    assert!(out.status.success() && text(&out).contains("has stopped"), "{}", said(&out));

    // "Boot": a new wine session starts the service manager, which starts auto-start services.
    wine.keep_server();
    // Any program starts the session; `sc` is one.
    sc(&["query", "printcore-worker"]);
    rt.block_on(wait_for("the service started at boot", Duration::from_secs(60), || async {
        (read(&log).matches("running as a Windows service").count() >= 3).then_some(())
    }));
    let query = sc(&["query", "printcore-worker"]);
    assert!(text(&query).contains("RUNNING"), "{}", said(&query));

    let out = wine.worker(&["--config", &cfg, "service", "uninstall"], SHORT);
    assert!(out.status.success(), "{}", said(&out));
    assert!(text(&out).contains("removed"), "{}", said(&out));
    assert!(!sc(&["query", "printcore-worker"]).status.success(), "the service is gone");
    assert_eq!(status(&wine).status.code(), Some(4));
    drop(cleanup);
}

/// Stops the prefix's wine processes and removes the prefix, whatever the test did.
struct Cleanup(Wine);

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.0.kill_all();
        let _ = std::fs::remove_dir_all(&self.0.prefix);
    }
}

#[test]
#[ignore = "runs worker.exe under wine: bash scripts/test-wine.sh"]
fn a_spooler_printer_state_and_printing_through_the_command() {
    let wine = Wine::from_env();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(fresh_database(Mode::ReplicaSet, "wine_spooler"));
    let files = rt.block_on(FileServer::start());
    files.route("/usb.pdf", Route::pdf(pdf(1, A4)));
    let (dir, windir) = wine.folder("spooler");
    let out_dir = dir.join("port");
    std::fs::create_dir_all(&out_dir).unwrap();
    // A printer in wine's spooler whose port is a pipe: each job's bytes land in a file of their own.
    let name = format!("printcore-wine-{}", std::process::id());
    let port = format!("|cat > {}/job-$$.prn", out_dir.display());
    let added = wine.run_helper("spoolsetup.exe", &["add", &name, &port]);
    assert!(added.status.success(), "{}", said(&added));
    let _printer = RemovePrinter(wine.clone(), name.clone());

    let printer = format!(
        r#"[[printers]]
id = "usb"
name = "Counter laser (USB)"
backend = "command"
printer_name = "{name}"
print_command = ['{spoolprint}', "{{printer}}", "{{file}}"]
capabilities = {{ page_sizes = ["A4"], color = false, duplex = false, max_copies = 99 }}
"#,
        spoolprint = Wine::z_path(&wine.helper("spoolprint.exe"))
    );
    std::fs::write(dir.join("worker.toml"), config(&db, "", "", &printer)).unwrap();
    // Not for Everyone to read, or `check` refuses it.
    set_mode(&dir.join("worker.toml"), 0o600);
    let cfg = format!(r"{windir}\worker.toml");

    // The state and queue come from GetPrinter.
    let out = wine.worker(&["--config", &cfg, "printers"], SHORT);
    assert!(text(&out).contains("status: online") && text(&out).contains("queue: 0"), "{}", said(&out));
    assert!(text(&out).contains("Windows spooler"), "{}", said(&out));
    // "Use Printer Offline" set in the spooler: offline, and `check` says no.
    assert!(wine.run_helper("spoolsetup.exe", &["offline", &name, "1"]).status.success());
    let out = wine.worker(&["--config", &cfg, "check"], SHORT);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(text(&out).contains("status: offline") && text(&out).contains("Use Printer Offline"), "{}", said(&out));
    assert!(wine.run_helper("spoolsetup.exe", &["offline", &name, "0"]).status.success());
    assert_eq!(wine.worker(&["--config", &cfg, "check"], SHORT).status.code(), Some(0));

    // A printer name Windows does not have: offline, naming the ones it has.
    std::fs::write(dir.join("typo.toml"), config(&db, "", "", &printer.replace(&name, "No Such Printer"))).unwrap();
    let out = wine.worker(&["--config", &format!(r"{windir}\typo.toml"), "check"], SHORT);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(text(&out).contains("Windows has no printer of that name") && text(&out).contains(&name), "{}", said(&out));

    // Printing: the command hands the file, named after the job, to the spooler, which prints it.
    let ids = rt.block_on(orders(&db, &files, "usb", 2, "A4"));
    let log = dir.join("console.log");
    let mut worker = wine.spawn_worker(&["--config", &cfg, "run"], &log);
    rt.block_on(wait_status(&db, &ids, "printed", Duration::from_secs(120), &log));
    sigint(&worker);
    let status = wait_with_deadline(&mut worker, Duration::from_secs(60)).expect("the worker stops");
    assert_eq!(status.code(), Some(0), "{}", read(&log));
    // The port's `cat` may still be writing when the command that handed over the job has exited.
    let whole = |bytes: &[u8]| bytes.starts_with(b"%PDF") && bytes.trim_ascii_end().ends_with(b"%%EOF");
    let jobs = rt.block_on(wait_for("two whole PDFs out of the spooler's port", Duration::from_secs(60), || async {
        let jobs: Vec<Vec<u8>> =
            std::fs::read_dir(&out_dir).unwrap().flatten().filter_map(|j| std::fs::read(j.path()).ok()).collect();
        (jobs.len() >= 2 && jobs.iter().all(|j| whole(j))).then_some(jobs)
    }));
    assert_eq!(jobs.len(), 2, "two jobs came out of the spooler's port, each the whole PDF");
    // What wine cannot: its EnumJobs is a stub, so the worker says it cannot follow jobs and counts the
    // command's zero exit (as without a spooler).
    assert!(read(&log).contains("the print spooler cannot list jobs"), "{}", read(&log));
}

/// Removes a printer from the shared prefix's spooler at the end of a test.
struct RemovePrinter(Wine, String);

impl Drop for RemovePrinter {
    fn drop(&mut self) {
        let _ = self.0.run_helper("spoolsetup.exe", &["delete", &self.1]);
    }
}

/// `worker printers --discover` and `worker init` read wine's spooler with `EnumPrintersW` level 2 (the
/// decoding of the buffer is unit-tested on recorded structures in `worker/src/discover/windows.rs`).
#[test]
#[ignore = "runs worker.exe under wine: bash scripts/test-wine.sh"]
fn discovery_lists_the_spoolers_printers_and_init_proposes_them() {
    let wine = Wine::from_env();
    let (dir, windir) = wine.folder("discover");
    let name = format!("printcore-discover-{}", std::process::id());
    let port = format!("|cat > {}/job-$$.prn", dir.display());
    let added = wine.run_helper("spoolsetup.exe", &["add", &name, &port]);
    assert!(added.status.success(), "{}", said(&added));
    let _printer = RemovePrinter(wine.clone(), name.clone());

    let out = wine.worker(&["printers", "--discover", "--dnssd-secs", "0", "--no-cups", "--only", &name], SHORT);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(text(&out).contains(&format!("{name} [Windows spooler]")), "{}", said(&out));
    assert!(text(&out).contains(&format!("Windows printer: {name}")), "{}", said(&out));

    let cfg = format!(r"{windir}\init.toml");
    let out = wine.worker(
        &[
            "--config",
            &cfg,
            "--mongodb-uri",
            "mongodb://127.0.0.1:1/",
            "init",
            "--yes",
            "--dnssd-secs",
            "0",
            "--no-cups",
            "--only",
            &name,
        ],
        SHORT,
    );
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let written = std::fs::read_to_string(dir.join("init.toml")).unwrap();
    let c = printworker::config::Config::from_toml(&written).unwrap();
    assert_eq!(c.printers.len(), 1, "{written}");
    let p = &c.printers[0];
    assert_eq!((p.backend.as_str(), p.printer_name.as_deref()), ("command", Some(name.as_str())), "{written}");
    assert!(p.print_command.as_ref().unwrap()[0].ends_with("SumatraPDF.exe"), "{written}");
    assert!(p.capabilities.is_some(), "{written}");
}
