//! Alerts (`[alerts]`, printcore's `alerts` module): real worker processes against the real database, a
//! command printer whose status command reports what the test writes, webhooks received by an HTTP server
//! of the test's own, e-mail by an SMTP listener of the test's own speaking real SMTP to lettre.

use bson::{doc, DateTime, Document};
use printcore_tests::db::{server, Mode};
use printcore_tests::fixtures::{insert_orders, migrated_core, paid_order};
use printcore_tests::wait_for;
use printcore_tests::worker_proc::WorkerProcess;
use printworker::alerts::{AlertsConfig, EmailConfig, Message, Notifier, WebhookConfig};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Every JSON body posted to it, in order of arrival.
#[derive(Clone, Default)]
struct Hooks(Arc<Mutex<Vec<Value>>>);

impl Hooks {
    fn all(&self) -> Vec<Value> {
        self.0.lock().unwrap().clone()
    }

    fn with(&self, key: &str, event: &str) -> Vec<Value> {
        self.all().into_iter().filter(|b| b["key"] == key && b["event"] == event).collect()
    }
}

/// A webhook receiver on a free loopback port: answers 200 to every POST and keeps its JSON body.
async fn webhook_server() -> (String, Hooks) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let hooks = Hooks::default();
    let kept = hooks.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let kept = kept.clone();
            tokio::spawn(async move {
                let mut r = BufReader::new(stream);
                let mut len = 0usize;
                loop {
                    let mut l = String::new();
                    if r.read_line(&mut l).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let l = l.trim_end();
                    if l.is_empty() {
                        break;
                    }
                    if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; len];
                if r.read_exact(&mut body).await.is_err() {
                    return;
                }
                kept.0.lock().unwrap().push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                let _ =
                    r.get_mut().write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await;
            });
        }
    });
    (url, hooks)
}

/// A worker configuration: one command printer `desk` (A4, mono) whose status is the file `status`
/// holds, and `[alerts]` with a JSON webhook.
fn config(dir: &Path, name: &str, db: &str, status: &Path, hook: &str, alerts: &str) -> PathBuf {
    let text = format!(
        r#"
[database]
uri = "{uri}"
name = "{db}"

[worker]
poll_interval_secs = 0.5
health_interval_secs = 0.3
recovery_interval_secs = 1.0
metrics_interval_secs = 60.0

[files]
allowed_hosts = ["127.0.0.1"]
allow_loopback = true
allow_http = true

[validation]
mode = "in-process"

[alerts]
{alerts}
timeout_secs = 3.0
webhooks = [{{ url = "{hook}", format = "json" }}]

[[printers]]
id = "desk"
name = "Front desk"
backend = "command"
print_command = ["true", "{{file}}"]
status_command = ["cat", "{status}"]
capabilities = {{ page_sizes = ["A4"], color = false, duplex = false, max_copies = 9 }}
"#,
        uri = server(Mode::ReplicaSet).uri,
        status = status.display(),
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_printer_out_of_paper_is_told_once_and_resolved_once_with_two_workers() {
    let (db, _core) = migrated_core("alerts_paper").await;
    let dir = tempfile::tempdir().unwrap();
    let status = dir.path().join("status.json");
    std::fs::write(&status, r#"{"status": "error", "reasons": ["media-empty-error"], "message": "Out of paper"}"#)
        .unwrap();
    let (hook, hooks) = webhook_server().await;
    // 0.05 minutes: 3 s of paper out before anyone is told.
    let alerts = "interval_secs = 0.3\nprinter_reason_minutes = 0.05\nprinter_down_minutes = 0.05";
    let started = Instant::now();
    let workers: Vec<WorkerProcess> = (0..2)
        .map(|i| WorkerProcess::start(&config(dir.path(), &format!("w{i}"), db.name(), &status, &hook, alerts)))
        .collect();
    let key = "printer:desk:reason:media-empty";
    let open = wait_for("the paper-out alert", Duration::from_secs(60), || {
        let found = hooks.with(key, "open");
        async move { found.into_iter().next() }
    })
    .await;
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "told after {:?}, before the 3 s configured",
        started.elapsed()
    );
    assert_eq!(open["kind"], "printer_reason");
    assert!(
        open["title"].as_str().unwrap().contains("Front desk")
            && open["title"].as_str().unwrap().contains("out of paper")
    );

    // Paper back in: one "resolved".
    std::fs::write(&status, r#"{"status": "online"}"#).unwrap();
    let resolved = wait_for("the paper-out resolution", Duration::from_secs(60), || {
        let found = hooks.with(key, "resolved");
        async move { found.into_iter().next() }
    })
    .await;
    assert!(resolved["title"].as_str().unwrap().starts_with("Resolved: "), "{resolved}");
    // The episode is closed once its resolution is recorded as sent; by then both workers have made many
    // passes over it, each of which could have sent it again.
    let alerts_coll = db.collection::<Document>("alerts");
    wait_for("the episode closed", Duration::from_secs(30), || {
        let c = alerts_coll.clone();
        async move { c.find_one(doc! { "_id": key, "phase": "closed" }).await.unwrap() }
    })
    .await;
    assert_eq!(hooks.with(key, "open").len(), 1, "{:#?}", hooks.all());
    assert_eq!(hooks.with(key, "resolved").len(), 1, "{:#?}", hooks.all());
    // The printer was in error because of the paper: one alert, not a second "printer down" one.
    assert!(hooks.all().iter().all(|b| b["key"] == key), "{:#?}", hooks.all());
    drop(workers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_orders_are_told_once_each_and_a_storm_in_one_summary() {
    let (db, core) = migrated_core("alerts_failed").await;
    let dir = tempfile::tempdir().unwrap();
    let status = dir.path().join("status.json");
    std::fs::write(&status, r#"{"status": "online"}"#).unwrap();
    let (hook, hooks) = webhook_server().await;
    let alerts = "interval_secs = 1.0\nsummarise_over = 3\norder_waiting_minutes = 60";
    let workers: Vec<WorkerProcess> = (0..2)
        .map(|i| WorkerProcess::start(&config(dir.path(), &format!("w{i}"), db.name(), &status, &hook, alerts)))
        .collect();
    // Both workers have started their failure cursor (failures from before are not news).
    let alerts_coll = db.collection::<Document>("alerts");
    wait_for("the failure cursor", Duration::from_secs(60), || {
        let c = alerts_coll.clone();
        async move { c.find_one(doc! { "_id": "cursor:orders_failed" }).await.unwrap() }
    })
    .await;

    // A3 orders, which the workers' printer (A4) never claims: the test claims each for a printer of its
    // own and fails it, as a worker does with a file that is not a PDF. (The workers' rejection pass may
    // fail one first, as no printer they know takes A3: a failure all the same.)
    let a3 = |id: &str| {
        let mut o = paid_order(id, DateTime::now(), 0);
        o.insert("printingOptions", doc! { "pageSize": "A3", "color": false, "duplex": false, "copies": 1 });
        o
    };
    insert_orders(&db, vec![a3("ORD-A3-1")]).await;
    fail_all(&core, 1).await;
    let one = wait_for("the failed order's alert", Duration::from_secs(60), || {
        let found: Vec<Value> = hooks.all().into_iter().filter(|b| b["subject"] == "ORD-A3-1").collect();
        async move { found.into_iter().next() }
    })
    .await;
    assert_eq!(one["kind"], "order_failed");
    assert_eq!(one["event"], "event");
    assert!(one["text"].as_str().unwrap().contains("not a PDF"), "{one}");
    // Once the window after it was taken twice more (each pass of either worker tries to take it), a
    // second notice would have come.
    let cursor_at = |c: mongodb::Collection<Document>| async move {
        c.find_one(doc! { "_id": "cursor:orders_failed" })
            .await
            .unwrap()
            .and_then(|d| d.get_datetime("through").ok().copied())
    };
    let after = cursor_at(alerts_coll.clone()).await.unwrap();
    wait_for("two more failure windows", Duration::from_secs(60), || {
        let c = alerts_coll.clone();
        async move { cursor_at(c).await.filter(|t| t.timestamp_millis() > after.timestamp_millis() + 1500) }
    })
    .await;
    let mentions = |id: &str| hooks.all().iter().filter(|b| b["text"].as_str().unwrap_or("").contains(id)).count();
    assert_eq!(mentions("ORD-A3-1"), 1, "{:#?}", hooks.all());

    // A storm: 9 orders fail together. Told in a summary, not nine times.
    let before = hooks.all().len();
    let storm: Vec<String> = (1..=9).map(|i| format!("ORD-STORM-{i}")).collect();
    insert_orders(&db, storm.iter().map(|id| a3(id)).collect()).await;
    fail_all(&core, storm.len()).await;
    let told = wait_for("every failed order of the storm told", Duration::from_secs(60), || {
        let new: Vec<Value> = hooks.all().into_iter().skip(before).collect();
        let count: usize = new
            .iter()
            .map(|b| match b["kind"].as_str() {
                Some("orders_failed") => {
                    b["title"].as_str().unwrap().split(' ').next().unwrap().parse::<usize>().unwrap()
                }
                _ => 1,
            })
            .sum();
        async move { (count >= 9).then_some(new) }
    })
    .await;
    // Each pass's window is told in one summary when more than 3 failed in it, else one notice each: a
    // window's edge may still fall among the nine (3 notices and a summary of 6 at most).
    let summaries: Vec<&Value> = told.iter().filter(|b| b["kind"] == "orders_failed").collect();
    assert!(!summaries.is_empty() && told.len() <= 4, "a storm must be summarised: {told:#?}");
    let summary = summaries[0]["text"].as_str().unwrap();
    assert!(summary.contains("Most frequent reasons") && summary.contains("not a PDF"), "{summary}");
    for id in &storm {
        assert_eq!(mentions(id), 1, "{id} in {told:#?}");
    }
    drop(workers);
}

/// Claims `n` orders for a printer of the test's own, then fails them all at once, as a worker does with
/// a bad file: their failures fall within milliseconds of each other (in one pass's window of the alerts,
/// unless its edge falls among them).
async fn fail_all(core: &printcore::PrintCore, n: usize) {
    let me = printcore::WorkerId::from_string("test/bench").unwrap();
    let target =
        printcore::ClaimTarget { printer_id: "bench".into(), printer_name: "Bench".into(), capabilities: None };
    let mut jobs = Vec::new();
    for _ in 0..n {
        match core.claim(&me, &target).await.unwrap() {
            Some(job) => jobs.push(job),
            None => break,
        }
    }
    let fails = jobs.into_iter().map(|job| async move {
        job.fail_permanent("the file is not a PDF (it is a web page); ask the customer for A3 PDF").await
    });
    for failed in futures::future::join_all(fails).await {
        failed.unwrap();
    }
}

/// One message, as the alert loop would send it.
fn message(title: &str) -> Message {
    Message {
        key: "k".into(),
        kind: "order_failed".into(),
        event: printcore::monitor::alerts::NoticeEvent::Event,
        title: title.into(),
        text: format!("{title}: the file is not a PDF"),
        subject: "ORD-1".into(),
        since: None,
        episode: 1,
        worker: "pc/test".into(),
    }
}

fn alerts_config(c: AlertsConfig) -> AlertsConfig {
    c.validate().unwrap();
    c
}

fn hook(url: String) -> WebhookConfig {
    WebhookConfig { url, format: "chat".into() }
}

#[tokio::test]
async fn a_webhook_that_hangs_or_floods_costs_at_most_its_timeout() {
    // One endpoint accepts and never answers; another answers 500 with an endless body.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let flood = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (silent_addr, flood_addr) = (silent.local_addr().unwrap(), flood.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    tokio::spawn(async move {
        while let Ok((mut s, _)) = flood.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(b"HTTP/1.1 500 Internal Server Error\r\ntransfer-encoding: chunked\r\n\r\n").await;
                let chunk = format!("{:x}\r\n{}\r\n", 65536, "x".repeat(65536));
                while s.write_all(chunk.as_bytes()).await.is_ok() {}
            });
        }
    });
    let c = alerts_config(AlertsConfig {
        timeout_secs: 1.0,
        webhooks: vec![hook(format!("http://{silent_addr}/")), hook(format!("http://{flood_addr}/"))],
        ..Default::default()
    });
    let notifier = Notifier::new(&c).unwrap();
    let start = Instant::now();
    let (ok, errors) = notifier.send(&message("Order ORD-1 failed"), &[]).await;
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
    assert!(ok.is_empty(), "{ok:?}");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("500")), "{errors:?}");
    assert!(errors.iter().all(|e| e.len() < 400 && e.contains("127.0.0.1")), "{errors:?}");
}

/// Each message an SMTP server took: its recipients and its data.
type Mails = Arc<Mutex<Vec<(Vec<String>, String)>>>;

/// A minimal SMTP server: speaks real SMTP (EHLO, MAIL, RCPT, DATA, QUIT) and keeps each message.
async fn smtp_server() -> (u16, Mails) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mails: Mails = Default::default();
    let kept = mails.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut r = BufReader::new(r);
                let _ = w.write_all(b"220 test.local ESMTP\r\n").await;
                let mut rcpt = Vec::new();
                loop {
                    let mut l = String::new();
                    if r.read_line(&mut l).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let cmd = l.trim_end().to_ascii_uppercase();
                    let reply: &[u8] = if cmd.starts_with("EHLO") {
                        b"250-test.local\r\n250 8BITMIME\r\n"
                    } else if cmd.starts_with("RCPT TO:") {
                        rcpt.push(l.trim_end()[8..].trim().to_owned());
                        b"250 OK\r\n"
                    } else if cmd == "DATA" {
                        let _ = w.write_all(b"354 go on\r\n").await;
                        let mut data = String::new();
                        loop {
                            let mut d = String::new();
                            if r.read_line(&mut d).await.unwrap_or(0) == 0 || d == ".\r\n" {
                                break;
                            }
                            data.push_str(&d);
                        }
                        kept.lock().unwrap().push((std::mem::take(&mut rcpt), data));
                        b"250 queued\r\n"
                    } else if cmd == "QUIT" {
                        let _ = w.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        b"250 OK\r\n"
                    };
                    if w.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, mails)
}

#[tokio::test]
async fn an_alert_goes_out_by_email_over_smtp() {
    let (port, mails) = smtp_server().await;
    let c = alerts_config(AlertsConfig {
        email: Some(EmailConfig {
            host: "127.0.0.1".into(),
            port: Some(port),
            security: "plain".into(),
            username: None,
            password: None,
            from: "Print shop <printer@shop.example>".into(),
            to: vec!["owner@shop.example".into(), "desk@shop.example".into()],
        }),
        ..Default::default()
    });
    let notifier = Notifier::new(&c).unwrap();
    let (ok, errors) = notifier.send(&message("Order ORD-1 failed"), &[]).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(ok.len(), 1);
    let mails = mails.lock().unwrap().clone();
    assert_eq!(mails.len(), 1);
    let (rcpt, data) = &mails[0];
    assert_eq!(rcpt, &["<owner@shop.example>", "<desk@shop.example>"]);
    assert!(data.contains("Subject: Order ORD-1 failed"), "{data}");
    assert!(data.contains("the file is not a PDF"), "{data}");
    // A channel that already has a notice is skipped on a retry.
    let (ok, _) = notifier.send(&message("again"), &notifier.channel_names()).await;
    assert!(ok.is_empty());
}
