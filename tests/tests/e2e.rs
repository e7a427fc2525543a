//! End to end, with real processes: the database server, ippeveprinter, a local file server, and worker
//! processes that are killed, stopped and restarted. "Printed exactly once" is counted in the printer's
//! spool: one kept file per print job name, and every print job name an order ever had is in its logs.

use bson::{doc, DateTime, Document};
use printcore::PrintCore;
use printcore_tests::db::{fresh_database, server, Mode};
use printcore_tests::fileserver::{FileServer, Route};
use printcore_tests::fixtures::{core, insert_orders, paid_order};
use printcore_tests::ippeve::{IppEve, IppEveOptions};
use printcore_tests::pdfgen::{pdf, A4};
use printcore_tests::wait_for;
use printcore_tests::worker_proc::{test_config, WorkerProcess};
use std::collections::HashMap;
use std::time::Duration;

struct Shop {
    db: mongodb::Database,
    core: PrintCore,
    files: FileServer,
    dir: tempfile::TempDir,
}

async fn shop(prefix: &str) -> Shop {
    let db = fresh_database(Mode::ReplicaSet, prefix).await;
    let core = core(&db).await;
    core.migrate(&Default::default()).await.unwrap();
    let files = FileServer::start().await;
    files.route("/doc.pdf", Route::pdf(pdf(1, A4)));
    Shop { db, core, files, dir: tempfile::tempdir().unwrap() }
}

impl Shop {
    async fn add_orders(&self, prefix: &str, n: usize) -> Vec<String> {
        let base = DateTime::now();
        let ids: Vec<String> = (0..n).map(|i| format!("{prefix}-{i:04}")).collect();
        let docs = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let mut d = paid_order(id, base, (n - i) as i64);
                d.insert("fileURL", self.files.url("/doc.pdf"));
                d
            })
            .collect();
        insert_orders(&self.db, docs).await;
        ids
    }

    fn config(&self, name: &str, eve: &IppEve, extra: &str) -> std::path::PathBuf {
        test_config(self.dir.path(), name, &server(Mode::ReplicaSet).uri, self.db.name(), &eve.uri(), extra)
    }

    async fn count(&self, filter: Document) -> u64 {
        self.db.collection::<Document>("orders").count_documents(filter).await.unwrap()
    }

    async fn wait_until_settled(&self, n: u64, deadline: Duration) {
        wait_for(&format!("all {n} orders printed or failed"), deadline, || async {
            let done = self.count(doc! { "printStatus": { "$in": ["printed", "failed"] } }).await;
            (done == n).then_some(())
        })
        .await;
    }

    /// For each order: how many files reached the printer's spool under any of its print job ids.
    async fn copies_on_paper(&self, eve: &IppEve) -> HashMap<String, usize> {
        use futures::TryStreamExt;
        // Every worker's entries, those still in an outbox included (delivered in batches, or left by a
        // killed worker for the recovery sweep).
        self.core.flush_log_outbox(Duration::ZERO, 1_000_000).await.unwrap();
        let claims: Vec<Document> = self
            .db
            .collection::<Document>("print_logs")
            .find(doc! { "action": "claim" })
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let mut copies: HashMap<String, usize> = HashMap::new();
        for c in claims {
            let order = c.get_str("orderId").unwrap().to_owned();
            let job = c.get_str("printJobId").unwrap();
            *copies.entry(order).or_default() += eve.copies_of(job);
        }
        copies
    }

    /// Waits until an order is at the printer (acknowledged, not completed) and returns its orderId.
    async fn order_at_printer(&self) -> String {
        wait_for("an order at the printer", Duration::from_secs(60), || async {
            let o = self
                .db
                .collection::<Document>("orders")
                .find_one(doc! { "printStatus": "printing", "printerJobRef": { "$exists": true } })
                .await
                .unwrap()?;
            Some(o.get_str("orderId").unwrap().to_owned())
        })
        .await
    }

    /// The workers that printed orders (their ids, from `printingBy` of printed orders).
    async fn printed_by(&self) -> Vec<bson::Bson> {
        self.db
            .collection::<Document>("orders")
            .distinct("printingBy", doc! { "printStatus": "printed" })
            .await
            .unwrap()
    }

    async fn order(&self, id: &str) -> Document {
        self.db.collection::<Document>("orders").find_one(doc! { "orderId": id }).await.unwrap().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_print_200_orders_each_exactly_once() {
    let shop = shop("e2e200").await;
    let eve = IppEve::start(IppEveOptions { job_seconds: 0.02, ..IppEveOptions::default() });
    let ids = shop.add_orders("BULK", 200).await;
    let workers: Vec<WorkerProcess> =
        (0..3).map(|i| WorkerProcess::start(&shop.config(&format!("w{i}"), &eve, ""))).collect();
    shop.wait_until_settled(200, Duration::from_secs(400)).await;
    assert_eq!(shop.count(doc! { "printStatus": "printed" }).await, 200, "every order printed, none failed");
    let copies = shop.copies_on_paper(&eve).await;
    for id in &ids {
        assert_eq!(copies.get(id).copied().unwrap_or(0), 1, "order {id} reached paper exactly once");
    }
    assert_eq!(eve.spooled().len(), 200, "no stray jobs at the printer");
    // Every worker took part (the claim is shared, not serial).
    let by = shop.printed_by().await;
    assert!(by.len() >= 2, "orders were printed by {} worker(s)", by.len());
    drop(workers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_with_a_job_at_the_printer_loses_nothing_and_prints_nothing_twice() {
    let shop = shop("e2ekill").await;
    let eve = IppEve::start(IppEveOptions { job_seconds: 2.0, ..IppEveOptions::default() });
    let ids = shop.add_orders("KILL", 4).await;
    let first = WorkerProcess::start(&shop.config("first", &eve, ""));
    // Wait until an order is at the printer (acknowledged) and not completed, then pull the plug.
    let at_printer = shop.order_at_printer().await;
    first.kill9();
    assert_eq!(shop.order(&at_printer).await.get_str("printStatus").unwrap(), "printing");

    let second = WorkerProcess::start(&shop.config("second", &eve, ""));
    shop.wait_until_settled(4, Duration::from_secs(120)).await;
    assert_eq!(shop.count(doc! { "printStatus": "printed" }).await, 4);
    let copies = shop.copies_on_paper(&eve).await;
    for id in &ids {
        assert_eq!(copies.get(id).copied().unwrap_or(0), 1, "order {id} reached paper exactly once");
    }
    shop.core.flush_logs().await;
    let logs = shop.core.logs_for_order(&at_printer, 20).await.unwrap();
    assert!(logs.iter().any(|l| l.action == "adopt"), "the second worker adopted the order at the printer");
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_wait_while_the_printer_is_offline_and_print_when_it_returns() {
    let shop = shop("e2eoffline").await;
    let eve = IppEve::start(IppEveOptions { job_seconds: 0.1, ..IppEveOptions::default() });
    eve.kill();
    // Every health reading written, even unchanged ones (the shop's default writes an unchanged one every
    // 2 minutes), so the test can count health checks in the database.
    let worker = WorkerProcess::start(&shop.config("w", &eve, "health_record_secs = 0.1"));
    let printers = shop.db.collection::<Document>("printers");
    wait_for("the printer reported offline", Duration::from_secs(30), || async {
        let p = printers.find_one(doc! { "printer_id": "eve", "status": "offline" }).await.unwrap()?;
        Some(p)
    })
    .await;
    shop.add_orders("OFF", 3).await;
    // Several health checks pass with the orders waiting.
    let checked = |p: Document| p.get_datetime("health_checked_at").unwrap().timestamp_millis();
    let before = checked(printers.find_one(doc! { "printer_id": "eve" }).await.unwrap().unwrap());
    wait_for("two more health checks", Duration::from_secs(30), || async {
        let p = printers.find_one(doc! { "printer_id": "eve" }).await.unwrap()?;
        (checked(p) > before + 900).then_some(())
    })
    .await;
    assert_eq!(
        shop.count(doc! { "printStatus": "pending" }).await,
        3,
        "nothing is claimed while the printer is offline"
    );
    let p = printers.find_one(doc! { "printer_id": "eve" }).await.unwrap().unwrap();
    assert_eq!(p.get_str("status").unwrap(), "offline");
    assert!(p.get_str("error_message").unwrap().contains("could not be reached"), "{p}");

    eve.start_again();
    shop.wait_until_settled(3, Duration::from_secs(60)).await;
    assert_eq!(shop.count(doc! { "printStatus": "printed" }).await, 3, "printing resumed by itself");
    // A health reading taken while the last job was at the printer says `busy`; the reading after it
    // (the worker checks again as its job ends) says `online`.
    wait_for("the printer reported online again", Duration::from_secs(30), || async {
        printers.find_one(doc! { "printer_id": "eve", "status": "online" }).await.unwrap()
    })
    .await;
    drop(worker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_printer_restarted_with_a_job_at_it_never_prints_an_order_twice() {
    let shop = shop("e2erestart").await;
    let eve = IppEve::start(IppEveOptions { job_seconds: 4.0, ..IppEveOptions::default() });
    let ids = shop.add_orders("RST", 3).await;
    let worker = WorkerProcess::start(&shop.config("w", &eve, ""));
    let at_printer = shop.order_at_printer().await;
    // The printer restarts mid-job: its job history is gone.
    eve.kill();
    eve.start_again();
    shop.wait_until_settled(3, Duration::from_secs(120)).await;
    let unknown = shop.order(&at_printer).await;
    assert_eq!(unknown.get_str("printStatus").unwrap(), "failed", "{unknown}");
    assert!(unknown.get_str("printError").unwrap().contains("may have printed; check the printer before reprinting"));
    let copies = shop.copies_on_paper(&eve).await;
    for id in &ids {
        assert!(copies.get(id).copied().unwrap_or(0) <= 1, "order {id} printed twice");
        if id != &at_printer {
            assert_eq!(shop.order(id).await.get_str("printStatus").unwrap(), "printed");
            assert_eq!(copies.get(id).copied().unwrap_or(0), 1);
        }
    }
    drop(worker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_releases_the_workers_orders_and_another_worker_finishes_them() {
    let shop = shop("e2eterm").await;
    let eve = IppEve::start(IppEveOptions { job_seconds: 2.0, ..IppEveOptions::default() });
    let ids = shop.add_orders("TERM", 6).await;
    // Three jobs at once on one printer: one prints, two wait for the busy printer.
    let first = WorkerProcess::start(&shop.config("first", &eve, "jobs_per_printer = 3"));
    wait_for("one order at the printer and two more claimed", Duration::from_secs(60), || async {
        let sent = shop.count(doc! { "printStatus": "printing", "printerJobRef": { "$exists": true } }).await;
        let printing = shop.count(doc! { "printStatus": "printing" }).await;
        (sent >= 1 && printing >= 3).then_some(())
    })
    .await;
    let status = first.terminate(Duration::from_secs(40));
    assert!(status.success(), "the worker exits 0 on SIGTERM ({status})");
    shop.core.flush_log_outbox(Duration::ZERO, 1_000_000).await.unwrap();
    let logs = shop.db.collection::<Document>("print_logs");
    let released = logs.count_documents(doc! { "action": "server_shutdown" }).await.unwrap();
    assert!(released >= 1, "the worker released the orders it had not sent");
    assert_eq!(shop.count(doc! { "printStatus": "printing" }).await, 0, "nothing left printing after the shutdown");
    let first_id = shop.order(&ids[0]).await.get_str("printingBy").ok().map(str::to_owned);

    let second = WorkerProcess::start(&shop.config("second", &eve, ""));
    shop.wait_until_settled(6, Duration::from_secs(120)).await;
    assert_eq!(shop.count(doc! { "printStatus": "printed" }).await, 6);
    let copies = shop.copies_on_paper(&eve).await;
    for id in &ids {
        assert_eq!(copies.get(id).copied().unwrap_or(0), 1, "order {id} reached paper exactly once");
    }
    let by = shop.printed_by().await;
    assert!(by.len() == 2, "both workers printed ({by:?}, first {first_id:?})");
    drop(second);
}
