//! `worker init` and `worker printers --discover` against real services: ippeveprinter announcing itself
//! over DNS-SD (through avahi-daemon, as on a shop's network; the worker listens with its own multicast DNS
//! client beside avahi on port 5353), a private CUPS server's queues, and the test database. The
//! configuration `init --yes` writes must pass `worker check` and print an order.
//!
//! The Windows spooler's part is tested on recorded structures in `worker/src/discover/windows.rs`.

use bson::{doc, DateTime, Document};
use printcore_tests::cups::{Cups, CupsOptions};
use printcore_tests::db::{server, Mode};
use printcore_tests::fileserver::{FileServer, Route};
use printcore_tests::fixtures::{insert_orders, migrated_core, paid_order};
use printcore_tests::ippeve::{IppEve, IppEveOptions};
use printcore_tests::pdfgen::{pdf, A4};
use printcore_tests::wait_for;
use printcore_tests::worker_proc::{worker_binary, WorkerProcess};
use printworker::config::Config;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn all(&self) -> String {
        format!("exit {:?}\n--- stdout\n{}\n--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// Runs the worker binary with `args`, killed if it takes longer than `deadline`.
fn worker(args: &[&str], deadline: Duration) -> Run {
    let mut child = Command::new(worker_binary())
        .args(args)
        .env_remove("MONGODB_URI")
        .env_remove("PRINTCORE_DB")
        .env_remove("PRINTCORE_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the worker");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("worker {args:?} did not finish within {deadline:?}: {}", err_reader.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Run { code: status.code(), stdout: reader.join().unwrap(), stderr: err_reader.join().unwrap() }
}

/// `lpadmin` with a description (`printer-info`) of the test's choosing.
fn describe_queue(cups: &Cups, queue: &str, description: &str) {
    let out = Command::new("lpadmin")
        .args(["-h", &format!("127.0.0.1:{}", cups.port), "-p", queue, "-D", description])
        .output()
        .expect("lpadmin");
    assert!(out.status.success(), "lpadmin -D: {}", String::from_utf8_lossy(&out.stderr));
}

/// Lists what `printers --discover` finds until `wanted` appears in it (an announcement takes avahi a
/// moment after the printer starts).
fn discover_until(args: &[&str], wanted: &str) -> String {
    let start = Instant::now();
    loop {
        let mut all = vec!["printers", "--discover"];
        all.extend_from_slice(args);
        let r = worker(&all, Duration::from_secs(60));
        assert_eq!(r.code, Some(0), "{}", r.all());
        if r.stdout.contains(wanted) {
            return r.stdout;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{wanted:?} never discovered:\n{}", r.all());
    }
}

fn config_of(path: &Path) -> Config {
    Config::from_toml(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn discover_lists_a_printer_announced_over_dns_sd_with_what_it_says_it_takes() {
    let eve = IppEve::start(IppEveOptions { duplex: true, color: false, job_seconds: 0.1 });
    let port = format!(":{}/ipp/print", eve.port);
    let out = discover_until(&["--no-cups", "--dnssd-secs", "3", "--only", &eve.name], &port);
    let block: Vec<&str> =
        out.lines().skip_while(|l| !l.starts_with(&eve.name)).take_while(|l| !l.starts_with("note")).collect();
    let block = block.join("\n");
    assert!(block.contains("[DNS-SD]"), "{out}");
    assert!(block.contains("uri: ipp://") && block.contains(&port), "{out}");
    // What ippeveprinter says: monochrome, two-sided (-2), PDF.
    assert!(block.contains("mono only") && block.contains("two-sided;"), "{out}");
    assert!(block.contains("status: online"), "{out}");
    assert!(block.contains("multi-document jobs:") && block.contains("sends jobs by: Create-Job"), "{out}");
    // --only: nobody else's printer.
    assert_eq!(out.lines().filter(|l| l.contains("[DNS-SD]")).count(), 1, "{out}");
}

#[test]
fn discover_lists_the_queues_of_a_cups_server_with_hostile_descriptions_shown_safely() {
    let eve = IppEve::start(IppEveOptions { job_seconds: 0.1, ..IppEveOptions::default() });
    let cups = Cups::start(CupsOptions::default());
    cups.add_queue("initraw", &eve.uri(), false);
    cups.add_queue("initeve", &eve.uri(), true);
    describe_queue(&cups, "initeve", "Front \"desk\" ]\u{1b}[2J [database]");
    let server = format!("127.0.0.1:{}", cups.port);
    let r = worker(&["printers", "--discover", "--dnssd-secs", "0", "--cups", &server], Duration::from_secs(60));
    assert_eq!(r.code, Some(0), "{}", r.all());
    let out = &r.stdout;
    assert!(out.contains(&format!("uri: ipp://{server}/printers/initraw")), "{out}");
    assert!(out.contains(&format!("uri: ipp://{server}/printers/initeve")), "{out}");
    assert!(out.contains("Front \"desk\" ] [2J [database] [CUPS]"), "the escape is gone: {out}");
    assert!(!out.contains('\u{1b}'), "{out}");
    // The raw queue lists no media of its own.
    assert!(out.contains("no paper sizes listed"), "{out}");
    // No CUPS server there: a note, not a failure.
    let r = worker(&["printers", "--discover", "--dnssd-secs", "0", "--cups", "127.0.0.1:1"], Duration::from_secs(60));
    assert_eq!(r.code, Some(0), "{}", r.all());
    assert!(r.stdout.contains("note: CUPS at 127.0.0.1:1:") && r.stdout.contains("no printers found"), "{}", r.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_yes_writes_a_configuration_that_worker_check_passes_and_that_prints_an_order() {
    let (db, _core) = migrated_core("init").await;
    let files = FileServer::start().await;
    files.route("/doc.pdf", Route::pdf(pdf(1, A4)));
    let announced = IppEve::start(IppEveOptions { job_seconds: 0.1, ..IppEveOptions::default() });
    let behind_cups = IppEve::start(IppEveOptions { job_seconds: 0.1, ..IppEveOptions::default() });
    let cups = Cups::start(CupsOptions::default());
    let queue = format!("init{}", std::process::id());
    cups.add_queue(&queue, &behind_cups.uri(), true);
    describe_queue(&cups, &queue, "Back office \"laser\"\n[database]");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("worker.toml");
    let path_s = path.to_str().unwrap().to_owned();
    let server_addr = format!("127.0.0.1:{}", cups.port);
    let uri = server(Mode::ReplicaSet).uri.clone();
    // The announcement is there before init listens for it.
    discover_until(&["--no-cups", "--dnssd-secs", "3", "--only", &announced.name], &format!(":{}/", announced.port));

    let args = |extra: &[&str]| {
        let mut a = vec![
            "--config",
            path_s.as_str(),
            "--mongodb-uri",
            uri.as_str(),
            "--db",
            db.name(),
            "init",
            "--yes",
            "--cups",
            server_addr.as_str(),
            "--dnssd-secs",
            "4",
            "--only",
            announced.name.as_str(),
            "--only",
            queue.as_str(),
            "--allowed-host",
            "127.0.0.1:*",
            "--allow-http",
            "--allow-loopback",
        ];
        a.extend_from_slice(extra);
        a.into_iter().map(str::to_owned).collect::<Vec<String>>()
    };
    let a = args(&[]);
    let r = worker(&a.iter().map(String::as_str).collect::<Vec<_>>(), Duration::from_secs(90));
    assert_eq!(r.code, Some(0), "{}", r.all());
    assert!(r.stdout.contains("wrote") && r.stdout.contains("2 printer(s)"), "{}", r.all());
    let text = std::fs::read_to_string(&path).unwrap();
    let c = config_of(&path);
    assert_eq!(c.printers.len(), 2, "{text}");
    let eve = c.printers.iter().find(|p| p.name == announced.name).unwrap_or_else(|| panic!("{text}"));
    assert_eq!(eve.backend, "ipp");
    assert!(eve.uri.as_deref().unwrap().ends_with(&format!(":{}/ipp/print", announced.port)), "{text}");
    let q = c
        .printers
        .iter()
        .find(|p| p.uri.as_deref() == Some(&cups.queue_uri(&queue)))
        .unwrap_or_else(|| panic!("{text}"));
    // The description as CUPS gave it (lpadmin keeps the quotes), on one line, quoted by the file.
    assert!(q.name.starts_with("Back office \"laser\""), "{text}");
    assert!(q.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'), "{text}");
    assert_eq!(c.database.uri.as_deref(), Some(uri.as_str()));
    assert_eq!(c.database.name, db.name());
    assert!(text.contains("# it says it takes: A4"), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // No password in this connection string: an ordinary file.
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o622, 0o600, "owner reads and writes it, nobody else writes it: {mode:o}");
    }

    // Never over an existing file without --force.
    let before = std::fs::read_to_string(&path).unwrap();
    let r = worker(&a.iter().map(String::as_str).collect::<Vec<_>>(), Duration::from_secs(90));
    assert_eq!(r.code, Some(1), "{}", r.all());
    assert!(r.stderr.contains("--force"), "{}", r.all());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);

    // `worker check` passes on it as written.
    let r = worker(&["--config", &path_s, "check"], Duration::from_secs(90));
    assert_eq!(r.code, Some(0), "{}\n{text}", r.all());
    assert!(r.stdout.contains("all checks passed"), "{}", r.all());

    // And it prints: an order on each printer's capabilities, printed by a worker running this file.
    let base = DateTime::now();
    let mut o = paid_order("INIT-1", base, 1);
    o.insert("fileURL", files.url("/doc.pdf"));
    insert_orders(&db, vec![o]).await;
    let w = WorkerProcess::start(&path);
    let orders = db.collection::<Document>("orders");
    let printed = wait_for("the order settled", Duration::from_secs(120), || async {
        let o = orders.find_one(doc! { "orderId": "INIT-1" }).await.unwrap()?;
        matches!(o.get_str("printStatus").ok()?, "printed" | "failed").then_some(o)
    })
    .await;
    assert_eq!(printed.get_str("printStatus"), Ok("printed"), "{printed:?}\n{text}");
    let job = printed.get_str("printJobId").unwrap();
    assert_eq!(announced.copies_of(job) + behind_cups.copies_of(job), 1, "printed once: {printed:?}");
    w.terminate(Duration::from_secs(60));

    // --force replaces it.
    let forced = args(&["--force"]);
    let r = worker(&forced.iter().map(String::as_str).collect::<Vec<_>>(), Duration::from_secs(90));
    assert_eq!(r.code, Some(0), "{}", r.all());
}

#[test]
fn init_yes_without_a_database_or_a_printer_says_what_to_give() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.toml");
    let p = path.to_str().unwrap();
    // No printer (no CUPS, no listening): nothing written, and it says what to do.
    let r = worker(&["--config", p, "init", "--yes", "--dnssd-secs", "0", "--no-cups"], Duration::from_secs(30));
    assert_eq!(r.code, Some(1), "{}", r.all());
    assert!(r.stderr.contains("no printer to configure") && r.stderr.contains("--cups"), "{}", r.all());
    assert!(!path.exists());
    // A printer, but no database given.
    let eve = IppEve::start(IppEveOptions { job_seconds: 0.1, ..IppEveOptions::default() });
    let cups = Cups::start(CupsOptions::default());
    cups.add_queue("nodb", &eve.uri(), true);
    let server = format!("127.0.0.1:{}", cups.port);
    let r = worker(&["--config", p, "init", "--yes", "--dnssd-secs", "0", "--cups", &server], Duration::from_secs(60));
    assert_eq!(r.code, Some(1), "{}", r.all());
    assert!(r.stderr.contains("--mongodb-uri"), "{}", r.all());
    assert!(!path.exists());
}

/// On a terminal (`script` gives it one), `init` asks: each printer and its name, the connection string,
/// the database and the file hosts; a connection string with a password makes a file only its owner reads.
#[test]
fn init_on_a_terminal_asks_and_keeps_the_password_from_other_users() {
    let eve = IppEve::start(IppEveOptions { job_seconds: 0.1, ..IppEveOptions::default() });
    let cups = Cups::start(CupsOptions::default());
    cups.add_queue("asked", &eve.uri(), true);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("asked.toml");
    let command = format!(
        "'{}' --config '{}' init --dnssd-secs 0 --cups 127.0.0.1:{}",
        worker_binary().display(),
        path.display(),
        cups.port
    );
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env_remove("MONGODB_URI")
        .env_remove("PRINTCORE_DB")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux)");
    let answers = "y\nShop floor\nmongodb://shop:s3cret@127.0.0.1:1/\nshopdb\nfiles.example.com, res.cloudinary.com\n";
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), answers.as_bytes()).unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "init on a terminal did not finish");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    let _ = child.stdout.take().unwrap().read_to_string(&mut out);
    assert!(status.success(), "{out}");
    let c = Config::from_file(&path).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(c.printers.len(), 1, "{out}");
    assert_eq!(c.printers[0].name, "Shop floor");
    assert_eq!(c.printers[0].id, "shop-floor");
    assert_eq!(c.database.name, "shopdb");
    assert_eq!(c.files.allowed_hosts, ["files.example.com", "res.cloudinary.com"]);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600, "{out}");
    assert!(out.contains("readable by you only"), "{out}");
}
