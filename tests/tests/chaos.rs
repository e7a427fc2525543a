//! The chaos run: three worker processes print a batch of orders while a random worker is killed (-9) and
//! restarted every few seconds, the printer goes away and comes back, and the database server restarts
//! twice with its data kept, once staying away longer than the printer keeps its job history. At the end
//! every order is printed exactly once (counted in the printer's spool by job name) or failed with a
//! reason; none is left pending or printing; each order's print_logs is a consistent history; and no
//! worker wrote to an order it did not own.
//!
//! The database server is stopped, never killed: the test server forgets the last acknowledged writes
//! when it is killed (-9), whatever the write concern asks (ARCHITECTURE.md, test server quirks), and no
//! protocol can print exactly once on a database that forgets that an order was sent. On MongoDB the
//! "being sent" mark is journalled on a majority before the job goes out (`exactly_once.rs` checks that
//! it asks for that).
//!
//! CI runs a small size. The full run: `CHAOS_ORDERS=2000 cargo test -p printcore-tests --test chaos --
//! --nocapture` (about 10 minutes on 2 cores).

use bson::{doc, DateTime, Document};
use futures::TryStreamExt;
use printcore::PrintCore;
use printcore_tests::db::{start_secantus_on, Mode};
use printcore_tests::fileserver::{FileServer, Route};
use printcore_tests::fixtures::{insert_orders, log_entries, paid_order};
use printcore_tests::ippeve::{IppEve, IppEveOptions};
use printcore_tests::pdfgen::{pdf, A4};
use printcore_tests::worker_proc::{test_config, WorkerProcess};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A small deterministic random source (the seed is printed, so a failing run can be replayed).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_every_order_printed_exactly_once_or_failed_with_a_reason() {
    let n = env_or("CHAOS_ORDERS", 150) as usize;
    let seed = env_or("CHAOS_SEED", DateTime::now().timestamp_millis() as u64 | 1);
    println!("chaos: {n} orders, seed {seed}");
    let mut rng = Rng(seed);

    // A database server of its own, so it can be restarted on the same port with the same data.
    let storage = tempfile::tempdir().unwrap();
    let port = printcore_tests::process::free_port();
    let mut db_server = start_secantus_on(Mode::ReplicaSet, storage.path().to_path_buf(), port).unwrap();
    let uri = db_server.uri.clone();
    let core = PrintCore::connect(&uri, "chaos", printcore::CoreConfig::default()).await.unwrap();
    core.migrate(&Default::default()).await.unwrap();
    let db = core.database().clone();

    let files = FileServer::start().await;
    files.route("/doc.pdf", Route::pdf(pdf(1, A4)));
    let eve = IppEve::start(IppEveOptions { job_seconds: 0.01, ..IppEveOptions::default() });
    let base = DateTime::now();
    let ids: Vec<String> = (0..n).map(|i| format!("CH-{i:05}")).collect();
    let docs = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mut d = paid_order(id, base, (n - i) as i64);
            d.insert("fileURL", files.url("/doc.pdf"));
            d
        })
        .collect::<Vec<_>>();
    for chunk in docs.chunks(1000) {
        insert_orders(&db, chunk.to_vec()).await;
    }

    let dir = tempfile::tempdir().unwrap();
    let extra = "max_attempts = 8";
    let configs: Vec<_> =
        (0..3).map(|i| test_config(dir.path(), &format!("w{i}"), &uri, "chaos", &eve.uri(), extra)).collect();
    let mut workers: Vec<WorkerProcess> = configs.iter().map(|c| WorkerProcess::start(c)).collect();

    let orders = db.collection::<Document>("orders");
    let settled = || async {
        orders.count_documents(doc! { "printStatus": { "$in": ["printed", "failed"] } }).await.unwrap_or(0) as usize
    };
    // The run takes about 250 s on 2 cores (a 65 s database outage among it); a deadline of 300 s was missed
    // once by a run that stalled longer: settling is a condition, the deadline only ends a hung run.
    let deadline = Instant::now() + Duration::from_secs(env_or("CHAOS_SECONDS", 420));
    let (mut printer_done, mut db_restarts, mut kills) = (false, 0, 0);
    loop {
        let done = settled().await;
        if done == n {
            break;
        }
        assert!(Instant::now() < deadline, "only {done}/{n} orders settled before the deadline (seed {seed})");
        tokio::time::sleep(Duration::from_millis(1500 + rng.next() % 1500)).await;
        let done = settled().await;
        if done == n {
            break;
        }
        // A worker dies and comes back.
        let victim = (rng.next() % 3) as usize;
        workers[victim].kill9();
        workers[victim] = WorkerProcess::start(&configs[victim]);
        kills += 1;
        if !printer_done && done >= n / 3 {
            printer_done = true;
            println!("chaos: printer off at {done}/{n}");
            eve.kill();
            tokio::time::sleep(Duration::from_secs(2)).await;
            eve.start_again();
        }
        // The database goes away twice while orders are being sent (a worker that holds a printer's answer
        // keeps it until the database is back, in memory and in its journal): once briefly, and once for
        // longer than the printer keeps its job history (ippeveprinter forgets a completed job a minute
        // after it completed), with workers killed and restarted meanwhile.
        if (db_restarts == 0 && done >= n / 2) || (db_restarts == 1 && done >= 5 * n / 6) {
            db_restarts += 1;
            db_server.shutdown();
            let away = if db_restarts == 1 {
                Duration::from_secs(1 + rng.next() % 3)
            } else {
                Duration::from_secs(env_or("CHAOS_LONG_OUTAGE_SECONDS", 65))
            };
            println!("chaos: database away for {away:?} at {done}/{n}");
            let back = Instant::now() + away;
            while Instant::now() < back {
                tokio::time::sleep(Duration::from_millis(2000 + rng.next() % 3000)).await;
                let victim = (rng.next() % 3) as usize;
                workers[victim].kill9();
                workers[victim] = WorkerProcess::start(&configs[victim]);
                kills += 1;
            }
            db_server = start_secantus_on(Mode::ReplicaSet, storage.path().to_path_buf(), port).unwrap();
            // Workers started while it was away gave up connecting: start them again.
            for (i, w) in workers.iter_mut().enumerate() {
                if !w.is_running() {
                    *w = WorkerProcess::start(&configs[i]);
                }
            }
        }
    }
    println!(
        "chaos: settled after {kills} worker kills (printer off: {printer_done}, database restarts: {db_restarts})"
    );
    for w in &workers {
        w.kill9();
    }
    // Deliver any log entry a killed worker left in an order's outbox.
    core.flush_log_outbox(Duration::ZERO, 100_000).await.unwrap();

    // None left pending or printing; each failure says why.
    assert_eq!(orders.count_documents(doc! { "printStatus": { "$nin": ["printed", "failed"] } }).await.unwrap(), 0);
    let failed: Vec<Document> =
        orders.find(doc! { "printStatus": "failed" }).await.unwrap().try_collect().await.unwrap();
    for f in &failed {
        assert!(!f.get_str("printError").unwrap_or("").is_empty(), "a failed order without a reason: {f}");
        println!("chaos: {} failed: {}", f.get_str("orderId").unwrap_or("?"), f.get_str("printError").unwrap_or(""));
    }

    // Logs: every order's history, oldest first.
    let logs = log_entries(&db, doc! { "orderId": { "$ne": "*" } }).await;
    let mut by_order: HashMap<String, Vec<Document>> = HashMap::new();
    for l in logs {
        by_order.entry(l.get_str("orderId").unwrap().to_owned()).or_default().push(l);
    }
    let mut printed = 0;
    for id in &ids {
        let history = by_order.get(id).unwrap_or_else(|| panic!("order {id} has no history"));
        let order = orders.find_one(doc! { "orderId": id }).await.unwrap().unwrap();
        let status = order.get_str("printStatus").unwrap();
        // A consistent history. A print job's own entries are causally ordered (each fenced write follows
        // the previous one), so their timestamps order them: each starts where the previous one ended. Across
        // print jobs the timestamps may not: a claim the server applied late carries the time it was sent,
        // possibly before the previous job's last entry. So the jobs are chained by state instead: each
        // starts from pending, and every one but the last ends back in pending.
        let mut jobs: Vec<(String, Vec<&Document>)> = Vec::new();
        for l in history {
            let job = l.get_str("printJobId").unwrap_or("").to_owned();
            match jobs.iter_mut().find(|(j, _)| *j == job) {
                Some((_, entries)) => entries.push(l),
                None => jobs.push((job, vec![l])),
            }
        }
        let dump = || history.iter().map(|l| format!("{l}")).collect::<Vec<_>>().join("\n");
        let mut ends_elsewhere = Vec::new();
        for (job, entries) in &jobs {
            let mut state = "pending".to_owned();
            let mut owner: Option<String> = None;
            for l in entries {
                let action = l.get_str("action").unwrap();
                // A printer's answer recorded late from a killed owner's journal changes no state (printing
                // to printing) and is written by another process, whose clock estimate orders it only
                // roughly among the owner's entries: not part of the chain.
                let from_journal =
                    l.get_document("metadata").ok().and_then(|m| m.get_str("from").ok()) == Some("journal");
                if from_journal {
                    assert_eq!(
                        (l.get_str("previousStatus").unwrap_or(""), l.get_str("newStatus").unwrap_or("")),
                        ("printing", "printing"),
                        "order {id}: a journal entry changed a state"
                    );
                    continue;
                }
                assert_eq!(
                    l.get_str("previousStatus").unwrap_or(""),
                    state,
                    "order {id}: {action} does not follow {state} in print job {job}; history:\n{}",
                    dump()
                );
                state = l.get_str("newStatus").unwrap().to_owned();
                let by =
                    l.get_document("metadata").ok().and_then(|m| m.get_str("workerId").ok()).unwrap_or("").to_owned();
                match action {
                    "claim" | "adopt" => owner = Some(by),
                    "submitted" | "printed" | "retry" | "failed" | "server_shutdown" | "returned_by_printer" => {
                        assert_eq!(
                            owner.as_ref(),
                            Some(&by),
                            "order {id}: {action} by a worker that did not own print job {job}; history:\n{}",
                            dump()
                        );
                    }
                    _ => {}
                }
            }
            if state != "pending" {
                ends_elsewhere.push(state);
            }
        }
        assert!(ends_elsewhere.len() <= 1, "order {id}: more than one print job did not end in pending:\n{}", dump());
        let state = ends_elsewhere.pop().unwrap_or_else(|| "pending".to_owned());
        assert_eq!(state, status, "order {id}: its history ends in {state} but it is {status}");
        // Exactly once on paper.
        let copies: usize = history
            .iter()
            .filter(|l| l.get_str("action") == Ok("claim"))
            .map(|l| eve.copies_of(l.get_str("printJobId").unwrap()))
            .sum();
        if status == "printed" {
            printed += 1;
            assert_eq!(copies, 1, "order {id} printed {copies} times (seed {seed}); history:\n{}", dump());
        } else {
            assert!(copies <= 1, "failed order {id} reached paper {copies} times (seed {seed}); history:\n{}", dump());
        }
    }
    println!("chaos: {printed} printed, {} failed (each with a reason)", failed.len());
    assert!(printed >= n * 9 / 10, "most orders print despite the chaos ({printed}/{n})");
    db_server.stop();
}
