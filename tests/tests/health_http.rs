//! The print PC's health endpoint (`[http]`: `/healthz`, `/metrics`) and `worker status`, against real
//! processes: the worker binary, the database server, ippeveprinter and a local file server. The metrics
//! are read with a Prometheus text-format parser, as Prometheus would.

use bson::{doc, DateTime, Document};
use printcore_tests::db::{server, start_secantus_on, Mode};
use printcore_tests::fileserver::{FileServer, Route};
use printcore_tests::fixtures::{insert_orders, migrated_core, paid_order};
use printcore_tests::ippeve::{IppEve, IppEveOptions};
use printcore_tests::pdfgen::{pdf, A4};
use printcore_tests::process::free_port;
use printcore_tests::wait_for;
use printcore_tests::worker_proc::{test_config, worker_binary, WorkerProcess};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use printcore_tests::process::http_get as get;

/// Waits until `path` answers `code` with a body containing every one of `needles`; returns the body.
async fn wait_answer(port: u16, path: &str, code: u16, needles: &[&str], deadline: Duration) -> String {
    let what = format!("GET {path} answering {code} with {needles:?}");
    let mut last = None;
    let found = tokio::time::timeout(deadline, async {
        loop {
            let got = get(port, path).await;
            if let Some((c, body)) = &got {
                if *c == code && needles.iter().all(|n| body.contains(n)) {
                    return body.clone();
                }
            }
            last = got;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("timed out after {deadline:?} waiting for {what}; last answer: {last:?}"))
}

/// `/metrics` parsed: (name, labels, value) per sample.
async fn metrics(port: u16) -> Vec<(String, std::collections::HashMap<String, String>, f64)> {
    let (code, body) = get(port, "/metrics").await.expect("/metrics answers");
    assert_eq!(code, 200, "{body}");
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).expect("valid text format");
    assert!(!scrape.samples.is_empty(), "{body}");
    scrape
        .samples
        .into_iter()
        .map(|s| {
            let v = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                other => panic!("{} is not a plain value: {other:?}", s.metric),
            };
            (s.metric, s.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(), v)
        })
        .collect()
}

fn value(
    samples: &[(String, std::collections::HashMap<String, String>, f64)],
    name: &str,
    labels: &[(&str, &str)],
) -> f64 {
    samples
        .iter()
        .find(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v)))
        .unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
        .2
}

fn http_section(port: u16) -> String {
    format!("\n[http]\nlisten = \"127.0.0.1:{port}\"\ndatabase_check_secs = 1.0\nqueue_count_secs = 1.0\n")
}

/// `worker status` with this configuration: its standard output (the command must succeed).
fn status(config: &Path, json: bool) -> String {
    let mut cmd = std::process::Command::new(worker_binary());
    cmd.arg("--config").arg(config).arg("status").env_remove("MONGODB_URI");
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().expect("run worker status");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "worker status failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

async fn order_field(db: &mongodb::Database, id: &str) -> Document {
    db.collection::<Document>("orders").find_one(doc! { "orderId": id }).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_metrics_and_status_follow_the_orders_and_the_printer() {
    let (db, _core) = migrated_core("health").await;
    let files = FileServer::start().await;
    files.route("/doc.pdf", Route::pdf(pdf(1, A4)));
    // Each job "prints" for 8 s, so one order is at the printer while the next waits for it, for as long
    // as `worker status` (a process of its own, on a loaded machine) takes to read them.
    let eve = IppEve::start(IppEveOptions { job_seconds: 8.0, ..IppEveOptions::default() });
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config =
        test_config(dir.path(), "health", &server(Mode::ReplicaSet).uri, db.name(), &eve.uri(), &http_section(port));

    // Before any worker: the orders wait, the printer was never read.
    let base = DateTime::now();
    let mut docs = Vec::new();
    for (i, id) in ["HZ-1", "HZ-2"].iter().enumerate() {
        let mut d = paid_order(id, base, 10 - i as i64);
        d.insert("fileURL", files.url("/doc.pdf"));
        docs.push(d);
    }
    insert_orders(&db, docs).await;
    let before = status(&config, false);
    println!("worker status (before):\n{before}");
    assert!(before.contains("eve (Test printer)"), "{before}");
    assert!(before.contains("state: never recorded"), "{before}");
    assert!(before.contains("waiting for it: 2 orders (next: HZ-1, HZ-2)"), "{before}");

    let _worker = WorkerProcess::start(&config);
    let healthy =
        wait_answer(port, "/healthz", 200, &["ok\n", "printer eve:", "database: ok"], Duration::from_secs(30)).await;
    assert!(healthy.starts_with("ok\n"), "{healthy}");

    // HZ-1 at the printer, HZ-2 waiting for it.
    wait_for("HZ-1 at the printer", Duration::from_secs(30), || async {
        let o = order_field(&db, "HZ-1").await;
        (o.get_str("printerJobRef").is_ok() && o.get_datetime("printSubmittedAt").is_ok()).then_some(())
    })
    .await;
    let during = status(&config, false);
    println!("worker status (during):\n{during}");
    assert!(during.contains("printing: HZ-1 (A4, mono, 1 copy): at the printer as job"), "{during}");
    assert!(during.contains("waiting for it: 1 order (next: HZ-2)"), "{during}");
    assert!(during.contains("state: "), "{during}");

    // A hostile client that opens a connection and sends half a request holds nothing up.
    let mut slow = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    assert_eq!(get(port, "/healthz").await.map(|(c, _)| c), Some(200));

    // Both print; then a third order whose file is gone fails.
    wait_for("HZ-1 and HZ-2 printed", Duration::from_secs(60), || async {
        let n = db.collection::<Document>("orders").count_documents(doc! { "printStatus": "printed" }).await.unwrap();
        (n == 2).then_some(())
    })
    .await;
    let mut gone = paid_order("HZ-3", DateTime::now(), 0);
    gone.insert("fileURL", files.url("/missing.pdf"));
    insert_orders(&db, vec![gone]).await;
    wait_for("HZ-3 failed", Duration::from_secs(30), || async {
        (order_field(&db, "HZ-3").await.get_str("printStatus").ok() == Some("failed")).then_some(())
    })
    .await;

    // The half-sent request was closed by the server within its header timeout.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the server kept a half-sent request open for 10 s");

    // An order stored with a wrong field and one no printer can take are failed by the checks of the
    // waiting orders, never claimed, and counted by their reasons.
    let mut malformed = paid_order("HZ-MALFORMED", DateTime::now(), 0);
    malformed.insert("printingOptions", doc! { "pageSize": "A4", "color": "yes" });
    let mut huge = paid_order("HZ-A0", DateTime::now(), 0);
    huge.insert("printingOptions", doc! { "pageSize": "A0" });
    insert_orders(&db, vec![malformed, huge]).await;
    for id in ["HZ-MALFORMED", "HZ-A0"] {
        wait_for(&format!("{id} failed by the checks"), Duration::from_secs(30), || async {
            (order_field(&db, id).await.get_str("printStatus").ok() == Some("failed")).then_some(())
        })
        .await;
    }

    let m = metrics(port).await;
    assert_eq!(value(&m, "printcore_order_failures_total", &[("reason", "malformed"), ("outcome", "failed")]), 1.0);
    assert_eq!(value(&m, "printcore_order_failures_total", &[("reason", "capability"), ("outcome", "failed")]), 1.0);
    assert_eq!(value(&m, "printcore_orders_claimed_total", &[("printer", "eve")]), 3.0);
    // The claim's tries: the three orders taken, and a series for the misses (claims that found nothing:
    // at the start and at wake-ups with nothing new; how many depends on the wake-ups).
    assert_eq!(value(&m, "printcore_claim_tries_total", &[("outcome", "taken")]), 3.0);
    let _misses_reported = value(&m, "printcore_claim_tries_total", &[("outcome", "missed")]);
    assert_eq!(value(&m, "printcore_orders_printed_total", &[("printer", "eve")]), 2.0);
    assert_eq!(value(&m, "printcore_order_failures_total", &[("reason", "file"), ("outcome", "failed")]), 1.0);
    let other_failures: f64 = m
        .iter()
        .filter(|(n, l, _)| {
            n == "printcore_order_failures_total"
                && !(["file", "malformed", "capability"].contains(&l.get("reason").map(String::as_str).unwrap_or(""))
                    && l.get("outcome").map(String::as_str) == Some("failed"))
        })
        .map(|(_, _, v)| v)
        .sum();
    assert_eq!(other_failures, 0.0);
    assert_eq!(value(&m, "printcore_printer_up", &[("printer", "eve")]), 1.0);
    let states: f64 = ["online", "busy", "offline", "error", "unknown"]
        .iter()
        .map(|s| value(&m, "printcore_printer_status", &[("printer", "eve"), ("status", s)]))
        .sum();
    assert_eq!(states, 1.0, "exactly one state per printer");
    assert_eq!(value(&m, "printcore_database_up", &[]), 1.0);
    assert!(value(&m, "printcore_database_roundtrip_seconds", &[]) > 0.0);
    assert_eq!(value(&m, "printcore_queue_pending_orders", &[]), 0.0);
    // Every metric the Grafana dashboard in deploy/ queries is one the worker serves.
    let dashboard = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/grafana-printcore.json"))
        .expect("deploy/grafana-printcore.json");
    let _: serde_json::Value = serde_json::from_str(&dashboard).expect("the dashboard is JSON");
    let served: std::collections::HashSet<&str> = m.iter().map(|(n, _, _)| n.as_str()).collect();
    let mut queried = 0;
    for word in dashboard.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if word.starts_with("printcore_") {
            queried += 1;
            assert!(served.contains(word), "the dashboard queries {word}, which /metrics does not serve");
        }
    }
    assert!(queried >= 10, "the dashboard queries only {queried} printcore metrics");
    // No order id, file or message in any label.
    for (_, labels, _) in &m {
        for v in labels.values() {
            assert!(!v.contains("HZ-") && !v.contains("http"), "a label carries order data: {v}");
        }
    }

    let after = status(&config, false);
    println!("worker status (after):\n{after}");
    assert!(after.contains("last print: HZ-2 at "), "{after}");
    assert!(after.contains("waiting for it: none"), "{after}");
    assert!(after.contains("printing: nothing"), "{after}");
    assert!(after.contains("last error: HZ-3 failed"), "{after}");
    let json: serde_json::Value = serde_json::from_str(&status(&config, true)).expect("status --json is JSON");
    let p = &json["printers"][0];
    assert_eq!(p["printerId"], "eve");
    assert_eq!(p["waiting"], 0);
    assert_eq!(p["lastPrinted"]["orderId"], "HZ-2");
    assert_eq!(p["lastFailed"]["orderId"], "HZ-3");
    assert!(p["lastFailed"]["printError"].as_str().unwrap().contains("missing.pdf"), "{p}");
    assert!(p["status"].is_string(), "{p}");

    // An order a stopped print PC claimed and never sent, its lease expired: recovery hands it back
    // (counted as `other`, `retry`) and it prints here.
    let mut orphan = paid_order("HZ-ORPHAN", DateTime::now(), 0);
    orphan.insert("fileURL", files.url("/doc.pdf"));
    orphan.insert("printStatus", "printing");
    orphan.insert("printingBy", "stopped-pc");
    orphan.insert("printJobId", uuid::Uuid::new_v4().to_string());
    orphan.insert("printerId", "elsewhere");
    orphan.insert("printStartedAt", DateTime::from_millis(DateTime::now().timestamp_millis() - 120_000));
    orphan.insert("printLeaseUntil", DateTime::from_millis(DateTime::now().timestamp_millis() - 60_000));
    orphan.insert("printAttempt", 1);
    insert_orders(&db, vec![orphan]).await;
    wait_for("HZ-ORPHAN handed back and printed", Duration::from_secs(60), || async {
        (order_field(&db, "HZ-ORPHAN").await.get_str("printStatus").ok() == Some("printed")).then_some(())
    })
    .await;
    let m = metrics(port).await;
    assert_eq!(value(&m, "printcore_order_failures_total", &[("reason", "other"), ("outcome", "retry")]), 1.0);
    assert_eq!(value(&m, "printcore_order_failures_total", &[("reason", "other"), ("outcome", "failed")]), 0.0);

    // The printer goes away: 503, naming it.
    eve.kill();
    let down = wait_answer(port, "/healthz", 503, &["unhealthy: printer eve is"], Duration::from_secs(30)).await;
    println!("/healthz with the printer away:\n{down}");
    assert!(down.contains("database: ok"), "{down}");
    let m = metrics(port).await;
    assert_eq!(value(&m, "printcore_printer_up", &[("printer", "eve")]), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_says_when_the_database_is_unreachable() {
    // A database server of its own, to stop and start again on the same port.
    let storage = tempfile::tempdir().unwrap();
    let db_port = free_port();
    let db_server = start_secantus_on(Mode::ReplicaSet, storage.path().to_path_buf(), db_port).unwrap();
    let files = FileServer::start().await;
    files.route("/doc.pdf", Route::pdf(pdf(1, A4)));
    let eve = IppEve::start(IppEveOptions { job_seconds: 0.1, ..IppEveOptions::default() });
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = test_config(dir.path(), "dbdown", &db_server.uri, "dbdown", &eve.uri(), &http_section(port));
    let _worker = WorkerProcess::start(&config);
    wait_answer(port, "/healthz", 200, &["ok\n", "database: ok"], Duration::from_secs(30)).await;

    db_server.stop();
    let down =
        wait_answer(port, "/healthz", 503, &["unhealthy: the database is unreachable"], Duration::from_secs(30)).await;
    println!("/healthz with the database away:\n{down}");
    assert!(down.contains("database: unreachable"), "{down}");
    let m = metrics(port).await;
    assert_eq!(value(&m, "printcore_database_up", &[]), 0.0);
    assert!(value(&m, "printcore_database_ping_failures_total", &[]) >= 1.0);

    // Back: healthy again, without a restart of the worker.
    let _again = start_secantus_on(Mode::ReplicaSet, storage.path().to_path_buf(), db_port).unwrap();
    wait_answer(port, "/healthz", 200, &["ok\n", "database: ok"], Duration::from_secs(60)).await;
}

#[test]
fn an_address_other_machines_reach_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "\n[http]\nlisten = \"0.0.0.0:9464\"\n";
    let config = test_config(dir.path(), "remote", "mongodb://127.0.0.1:1", "x", "ipp://127.0.0.1:1/ipp/print", extra);
    let out = std::process::Command::new(worker_binary())
        .arg("--config")
        .arg(&config)
        .arg("run")
        .env_remove("MONGODB_URI")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("[http] listen") && stderr.contains("allow_remote"), "{stderr}");
}
