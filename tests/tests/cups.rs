//! Exactly once through a real CUPS server (Debian's `cupsd`, a private instance), with worker processes in
//! front and ippeveprinter behind, through a raw queue and an IPP Everywhere queue (CUPS's filters in
//! between). Paper is counted by the document's content: each order's PDF carries its order id, which
//! survives CUPS's filters, so a requeue (which gives the order a new printJobId) cannot hide a second copy.

use bson::{doc, DateTime, Document};
use printcore_tests::cups::{Cups, CupsOptions};
use printcore_tests::db::{fresh_database, server, Mode};
use printcore_tests::fileserver::{FileServer, Route};
use printcore_tests::fixtures::{core, insert_orders, paid_order};
use printcore_tests::ippeve::{IppEve, IppEveOptions};
use printcore_tests::pdfgen::{marks_in, pdf_marked};
use printcore_tests::relay::Relay;
use printcore_tests::wait_for;
use printcore_tests::worker_proc::{test_config, WorkerProcess};
use std::collections::HashMap;
use std::time::Duration;

/// The configured capabilities of a raw queue, which lists no media of its own (issue 23 item 11).
const RAW_CAPABILITIES: &str =
    "capabilities = { page_sizes = [\"A4\", \"Letter\"], color = false, duplex = false, max_copies = 99 }\n";

struct Setup {
    db: mongodb::Database,
    core: printcore::PrintCore,
    files: FileServer,
    eve: IppEve,
    cups: Cups,
    dir: tempfile::TempDir,
}

async fn setup(prefix: &str, history: bool, job_seconds: f64) -> Setup {
    let db = fresh_database(Mode::ReplicaSet, prefix).await;
    let core = core(&db).await;
    core.migrate(&Default::default()).await.unwrap();
    let files = FileServer::start().await;
    let eve = IppEve::start(IppEveOptions { job_seconds, ..IppEveOptions::default() });
    let cups = Cups::start(CupsOptions { preserve_history: history });
    cups.add_queue("raw", &eve.uri(), false);
    cups.add_queue("everywhere", &eve.uri(), true);
    Setup { db, core, files, eve, cups, dir: tempfile::tempdir().unwrap() }
}

impl Setup {
    /// `n` paid A4 orders, each with its own marked PDF.
    async fn add_orders(&self, prefix: &str, n: usize) -> Vec<String> {
        let base = DateTime::now();
        let ids: Vec<String> = (0..n).map(|i| format!("{prefix}-{i:03}")).collect();
        let mut docs = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            self.files.route(&format!("/{id}.pdf"), Route::pdf(pdf_marked(id)));
            let mut d = paid_order(id, base, (n - i) as i64);
            d.insert("fileURL", self.files.url(&format!("/{id}.pdf")));
            docs.push(d);
        }
        insert_orders(&self.db, docs).await;
        ids
    }

    /// A worker configuration for the queue at `uri` (a raw queue gets its capabilities configured).
    fn config(&self, name: &str, uri: &str, raw: bool) -> std::path::PathBuf {
        self.config_with(name, uri, raw, "")
    }

    /// [`Setup::config`] with more `[worker]` settings.
    fn config_with(&self, name: &str, uri: &str, raw: bool, worker: &str) -> std::path::PathBuf {
        let path = test_config(self.dir.path(), name, &server(Mode::ReplicaSet).uri, self.db.name(), uri, worker);
        if raw {
            let mut text = std::fs::read_to_string(&path).unwrap();
            text.push_str(RAW_CAPABILITIES);
            std::fs::write(&path, text).unwrap();
        }
        path
    }

    async fn orders(&self) -> Vec<Document> {
        use futures::TryStreamExt;
        self.db.collection::<Document>("orders").find(doc! {}).await.unwrap().try_collect().await.unwrap()
    }

    async fn wait_until_settled(&self, n: usize, deadline: Duration) {
        let what = format!("all {n} orders printed or failed");
        let settled = async {
            wait_for(&what, deadline, || async {
                let done = self
                    .orders()
                    .await
                    .iter()
                    .filter(|o| matches!(o.get_str("printStatus"), Ok("printed" | "failed")))
                    .count();
                (done == n).then_some(())
            })
            .await
        };
        if tokio::time::timeout(deadline + Duration::from_secs(1), settled).await.is_err() {
            panic!("{what}: not within {deadline:?}");
        }
    }

    /// How many copies of each order reached paper, by the marks in the printer's kept files.
    fn paper(&self) -> HashMap<String, usize> {
        let mut copies: HashMap<String, usize> = HashMap::new();
        for name in self.eve.spooled() {
            let bytes = std::fs::read(self.eve.spool.join(&name)).unwrap_or_default();
            for mark in marks_in(&bytes) {
                *copies.entry(mark).or_default() += 1;
            }
        }
        copies
    }

    /// Every order printed or failed with a reason; none on paper twice; a printed one on paper once.
    /// Returns the orders' final states by id.
    async fn check_exactly_once(&self, ids: &[String]) -> HashMap<String, Document> {
        let paper = self.paper();
        let orders: HashMap<String, Document> =
            self.orders().await.into_iter().map(|o| (o.get_str("orderId").unwrap().to_owned(), o)).collect();
        let mut report = String::new();
        for id in ids {
            let o = &orders[id];
            let copies = paper.get(id).copied().unwrap_or(0);
            report.push_str(&format!(
                "{id}: {} on paper {copies}x {:?}\n",
                o.get_str("printStatus").unwrap_or("?"),
                o.get_str("printError").ok()
            ));
        }
        for id in ids {
            let o = &orders[id];
            let copies = paper.get(id).copied().unwrap_or(0);
            assert!(copies <= 1, "order {id} reached paper {copies} times\n{report}");
            match o.get_str("printStatus").unwrap() {
                "printed" => assert_eq!(copies, 1, "order {id} is printed but not on paper\n{report}"),
                "failed" => assert!(!o.get_str("printError").unwrap_or("").is_empty(), "{id} failed without a reason"),
                other => panic!("order {id} ended {other}\n{report}"),
            }
        }
        orders
    }
}

/// Twelve orders through `queue`, with the answer to every third document-carrying request lost on the
/// network. Returns the orders' final states.
async fn lost_answers_through(prefix: &str, queue: &str, history: bool) -> (Setup, HashMap<String, Document>, Relay) {
    let s = setup(prefix, history, 0.3).await;
    let relay = Relay::start(s.cups.port).await;
    relay.drop_answers_every(3);
    let ids = s.add_orders(prefix, 12).await;
    let uri = relay.uri(&s.cups.queue_uri(queue));
    let worker = WorkerProcess::start(&s.config("w", &uri, queue == "raw"));
    s.wait_until_settled(12, Duration::from_secs(240)).await;
    drop(worker);
    assert!(relay.dropped() >= 3, "answers lost: {} of {}", relay.dropped(), relay.documents_seen());
    let orders = s.check_exactly_once(&ids).await;
    (s, orders, relay)
}

/// What `worker printers` says of the queue at `uri`.
fn worker_printers(s: &Setup, uri: &str, raw: bool) -> String {
    let config = s.config("show", uri, raw);
    let out = std::process::Command::new(printcore_tests::worker_proc::worker_binary())
        .args(["printers", "--config"])
        .arg(&config)
        .output()
        .expect("the worker binary runs");
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_cups_queue_with_lost_answers_prints_every_order_exactly_once() {
    let (s, orders, _relay) = lost_answers_through("cupsraw", "raw", true).await;
    let printed = orders.values().filter(|o| o.get_str("printStatus") == Ok("printed")).count();
    assert_eq!(printed, 12, "with the job history kept, every order prints:\n{}", s.cups.log());
    // Issue 23 items 1 and 2: `worker printers` says which path the queue takes and what its history is,
    // read from CUPS's own list of completed jobs.
    let shown = worker_printers(&s, &s.cups.queue_uri("raw"), true);
    assert!(shown.contains("sends jobs by: Create-Job, then Send-Document"), "{shown}");
    assert!(shown.contains("keeps completed jobs at least") && shown.contains("(measured)"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipp_everywhere_cups_queue_with_lost_answers_prints_every_order_exactly_once() {
    let (s, orders, _relay) = lost_answers_through("cupsevery", "everywhere", true).await;
    let printed = orders.values().filter(|o| o.get_str("printStatus") == Ok("printed")).count();
    assert_eq!(printed, 12, "with the job history kept, every order prints:\n{}", s.cups.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cups_without_job_history_and_with_lost_answers_never_prints_an_order_twice() {
    for queue in ["raw", "everywhere"] {
        let (s, orders, _relay) = lost_answers_through(&format!("cupsnohist{queue}"), queue, false).await;
        // Nothing completed is listed: the history is not known, and `worker printers` says so.
        let shown = worker_printers(&s, &s.cups.queue_uri(queue), queue == "raw");
        assert!(shown.contains("is not known yet"), "{shown}");
        for (id, o) in &orders {
            if o.get_str("printStatus") == Ok("failed") {
                let m = o.get_str("printError").unwrap();
                assert!(m.contains("may have printed"), "{id} failed for another reason: {m}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_worker_killed_while_jobs_are_at_cups_leaves_each_order_printed_exactly_once() {
    for queue in ["raw", "everywhere"] {
        let s = setup(&format!("cupskill{queue}"), true, 1.0).await;
        let ids = s.add_orders(&format!("KILL{queue}"), 10).await;
        let uri = s.cups.queue_uri(queue);
        let raw = queue == "raw";
        let workers: Vec<WorkerProcess> =
            (0..3).map(|i| WorkerProcess::start(&s.config(&format!("a{i}"), &uri, raw))).collect();
        // Several jobs at CUPS (their ids stored), none of them settled yet: pull every plug.
        wait_for("jobs at CUPS", Duration::from_secs(90), || async {
            let at_cups = s
                .orders()
                .await
                .iter()
                .filter(|o| o.get_str("printStatus") == Ok("printing") && o.get_str("printerJobRef").is_ok())
                .count();
            (at_cups >= 2).then_some(())
        })
        .await;
        for w in &workers {
            w.kill9();
        }
        drop(workers);
        let after: Vec<WorkerProcess> =
            (0..2).map(|i| WorkerProcess::start(&s.config(&format!("b{i}"), &uri, raw))).collect();
        s.wait_until_settled(10, Duration::from_secs(180)).await;
        drop(after);
        let orders = s.check_exactly_once(&ids).await;
        let failed: Vec<String> = orders
            .iter()
            .filter(|(_, o)| o.get_str("printStatus") == Ok("failed"))
            .map(|(id, o)| format!("{id}: {}", o.get_str("printError").unwrap_or("")))
            .collect();
        assert!(failed.is_empty(), "CUPS kept every job: every order prints\n{}", failed.join("\n"));
        s.core.flush_logs().await;
    }
}

/// Issue 23 item 10: a CUPS queue stopped with a job of the worker's waiting in it (as CUPS stops a queue
/// whose filter failed, with its message): the waiting order shows the queue's message, and prints once the
/// queue is enabled again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_cups_queue_says_why_on_the_waiting_order() {
    let s = setup("cupsstopped", true, 1.0).await;
    let host = format!("127.0.0.1:{}", s.cups.port);
    let cups = |program: &str, args: &[&str]| {
        let out = std::process::Command::new(program)
            .args(["-h", &host])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{program} (cups-client): {e}"));
        assert!(out.status.success(), "{program}: {}", String::from_utf8_lossy(&out.stderr));
    };
    // Every job arrives held, so that stopping the queue stops no job midway (CUPS sends a stopped job
    // again whole when the queue restarts, and the device would get it twice).
    cups("lpadmin", &["-p", "raw", "-o", "job-hold-until-default=indefinite"]);
    let ids = s.add_orders("STOP", 2).await;
    let uri = s.cups.queue_uri("raw");
    let worker = WorkerProcess::start(&s.config_with("w", &uri, true, "jobs_per_printer = 2"));
    wait_for("both jobs at CUPS", Duration::from_secs(60), || async {
        let at = s.orders().await.iter().filter(|o| o.get_str("printerJobRef").is_ok()).count();
        (at == 2).then_some(())
    })
    .await;
    // The first is released (whatever job it has now: CUPS may abort a held job, and the order is then
    // claimed again) and prints; the second stays held.
    let release = |job: &str| {
        let _ = std::process::Command::new("lp").args(["-h", &host, "-i", job, "-H", "resume"]).output();
    };
    wait_for("the first order printed", Duration::from_secs(90), || async {
        let orders = s.orders().await;
        let first = orders.iter().find(|o| o.get_str("orderId") == Ok(ids[0].as_str()))?;
        if first.get_str("printStatus") == Ok("printed") {
            return Some(());
        }
        if let Ok(job) = first.get_str("printerJobRef") {
            release(job);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        None
    })
    .await;
    let second_job = s
        .orders()
        .await
        .iter()
        .find(|o| o.get_str("orderId") == Ok(ids[1].as_str()))
        .and_then(|o| o.get_str("printerJobRef").ok().map(str::to_owned))
        .expect("the second order's job is at CUPS");
    // The queue stops as after a filter failure, with its message; the second job waits in it.
    cups("cupsdisable", &["-r", "Filter failed", "raw"]);
    let reason = wait_for("the waiting order to say why", Duration::from_secs(60), || async {
        s.orders().await.iter().find_map(|o| {
            let r = o.get_str("printWaitReason").ok()?;
            r.contains("Filter failed").then(|| r.to_owned())
        })
    })
    .await;
    // What CUPS says of the job itself (held) and of the queue (stopped, and why), both on the order.
    assert!(
        reason.contains("held at the printer")
            && reason.contains("job-hold-until-specified")
            && reason.contains("paused"),
        "{reason}"
    );
    cups("cupsenable", &["raw"]);
    // Released (whatever job it has by then), it prints.
    wait_for("the second order printed", Duration::from_secs(90), || async {
        let orders = s.orders().await;
        let second = orders.iter().find(|o| o.get_str("orderId") == Ok(ids[1].as_str()))?;
        if second.get_str("printStatus") == Ok("printed") {
            return Some(());
        }
        release(second.get_str("printerJobRef").unwrap_or(&second_job));
        tokio::time::sleep(Duration::from_millis(500)).await;
        None
    })
    .await;
    s.wait_until_settled(2, Duration::from_secs(90)).await;
    drop(worker);
    let orders = s.check_exactly_once(&ids).await;
    assert!(orders.values().all(|o| o.get_str("printStatus") == Ok("printed")));
    assert!(orders.values().all(|o| o.get("printWaitReason").is_none()), "the reason is cleared once printed");
}
