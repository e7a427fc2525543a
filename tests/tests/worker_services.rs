//! The worker's loops driven one pass at a time (`*_once`), against the real database and real backends:
//! no timers involved.

use bson::{doc, DateTime, Document};
use printcore::files::FileFetcher;
use printcore::{ClaimTarget, CoreConfig, LogDelivery, PrintCore, PrinterCapabilities, WorkerId};
use printcore_tests::db::{fresh_database, Mode};
use printcore_tests::fileserver::{FileServer, Route};
use printcore_tests::fixtures::{
    core_with, insert_orders, log_actions, loopback_fetcher, paid_order, printer_identity, raw_order,
};
use printcore_tests::ippeve::{IppEve, IppEveOptions};
use printcore_tests::pdfgen::{pdf, A3, A4};
use printcore_tests::wait_for;
use printworker::backends::{CommandPrinter, FilePrinter, IppPrinter};
use printworker::health::PrinterIdentity;
use printworker::service::{Intervals, PrinterSlot, Worker};
use printworker::{FoundJob, JobSpec, JobState, Printer, PrinterError, PrinterState};
use std::sync::Arc;
use std::time::Duration;

fn intervals() -> Intervals {
    Intervals {
        poll: Duration::from_millis(200),
        health: Duration::from_millis(200),
        recovery: Duration::from_millis(200),
        stuck_check: Duration::from_secs(60),
        metrics: Duration::from_secs(60),
        job_poll: Duration::from_millis(50),
        shutdown_grace: Duration::from_secs(5),
        change_streams: false,
        sweep: Duration::from_millis(200),
        change_stream_wait: Duration::from_secs(1),
        health_record: Duration::ZERO,
        claim_fallback: Duration::from_millis(500),
    }
}

fn mono_a4() -> PrinterCapabilities {
    PrinterCapabilities { page_sizes: vec!["A4".into()], color: false, duplex: false, max_copies: 10 }
}

fn fetcher() -> FileFetcher {
    loopback_fetcher()
}

async fn worker_with(core: &PrintCore, printers: Vec<(PrinterIdentity, Arc<dyn Printer>)>) -> Arc<Worker> {
    worker_with_history(core, printers, None).await
}

/// [`worker_with`], its printers' job history known (`Some`: kept that long, names visible).
async fn worker_with_history(
    core: &PrintCore,
    printers: Vec<(PrinterIdentity, Arc<dyn Printer>)>,
    history: Option<Duration>,
) -> Arc<Worker> {
    let (_trigger, shutdown) = printworker::shutdown::channel();
    std::mem::forget(_trigger);
    let slots = printers
        .into_iter()
        .map(|(id, p)| {
            let slot = PrinterSlot::new(id, p, None, 1);
            Arc::new(match history {
                Some(h) => slot.with_history(printworker::history::JobHistory::configured(Some(h), Some(true))),
                None => slot,
            })
        })
        .collect();
    Worker::new(core.clone(), WorkerId::generate(), fetcher(), slots, intervals(), shutdown)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pass_of_each_loop_prints_an_order_and_records_metrics() {
    let db = fresh_database(Mode::ReplicaSet, "svc").await;
    let core = core_with(&db, CoreConfig { log_delivery: LogDelivery::Background, ..CoreConfig::default() }).await;
    let files = FileServer::start().await;
    files.route("/a.pdf", Route::pdf(pdf(3, A4)));
    let mut order = paid_order("SVC-1", DateTime::now(), 60_000);
    order.insert("fileURL", files.url("/a.pdf"));
    insert_orders(&db, vec![order]).await;
    let out = tempfile::tempdir().unwrap();
    let printer: Arc<dyn Printer> = Arc::new(FilePrinter::new(out.path(), mono_a4()));
    let worker = worker_with(&core, vec![(printer_identity("folder"), printer)]).await;

    assert_eq!(worker.claim_once().await, 0, "no claims before the printer's health is known");
    assert_eq!(worker.health_once().await, 1);
    assert_eq!(worker.claim_once().await, 1);
    wait_for("the order printed", Duration::from_secs(20), || async {
        (raw_order(&db, "SVC-1").await.get_str("printStatus").ok()? == "printed").then_some(())
    })
    .await;
    let o = raw_order(&db, "SVC-1").await;
    assert_eq!(o.get_i64("filePages").unwrap(), 3);
    let job = o.get_str("printJobId").unwrap();
    assert!(out.path().join(job).join("1.pdf").exists(), "the job folder is named by the printJobId");
    core.flush_logs().await;
    assert_eq!(log_actions(&db, "SVC-1").await, ["claim", "submitted", "printed"]);
    worker.health_once().await;
    let printer_doc = core.printer("folder").await.unwrap().unwrap();
    assert!(printer_doc.last_successful_print_at.is_some(), "the next health reading records the print");

    let m = worker.metrics_once().await.unwrap();
    assert!(m.prints_per_hour > 0.0, "{m:?}");
    assert!(m.average_print_start_delay >= 59.0, "paid a minute before printing: {m:?}");
    assert_eq!(m.failures_per_hour, 0.0);
    let stored =
        db.collection::<Document>("metrics").count_documents(doc! { "workerId": worker.id.as_str() }).await.unwrap();
    assert_eq!(stored, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_no_active_printer_can_take_fails_with_what_each_printer_offers() {
    let db = fresh_database(Mode::ReplicaSet, "reject").await;
    let core = core_with(&db, CoreConfig::default()).await;
    let mut big = paid_order("BIG", DateTime::now(), 10);
    big.insert("printingOptions", doc! { "pageSize": "A3", "color": true });
    let fits = paid_order("FITS", DateTime::now(), 5);
    insert_orders(&db, vec![big, fits]).await;
    let out = tempfile::tempdir().unwrap();
    let printer: Arc<dyn Printer> = Arc::new(FilePrinter::new(out.path(), mono_a4()));
    let worker = worker_with(&core, vec![(printer_identity("mono"), printer)]).await;
    assert_eq!(worker.reject_once().await, 0, "no judgement before any printer's capabilities are known");
    worker.health_once().await;
    assert_eq!(worker.reject_once().await, 1);
    let o = raw_order(&db, "BIG").await;
    assert_eq!(o.get_str("printStatus").unwrap(), "failed");
    let m = o.get_str("printError").unwrap();
    assert!(
        m.contains("no active printer can take this order")
            && m.contains("A3 in colour")
            && m.contains("'Printer mono' supports A4, mono only"),
        "{m}"
    );
    assert_eq!(raw_order(&db, "FITS").await.get_str("printStatus").unwrap(), "pending");
    assert_eq!(log_actions(&db, "BIG").await, ["rejected"]);

    // A colour A3 printer becomes active: such orders wait for it instead.
    let mut again = paid_order("BIG-2", DateTime::now(), 1);
    again.insert("printingOptions", doc! { "pageSize": "A3", "color": true });
    insert_orders(&db, vec![again]).await;
    let big_printer: Arc<dyn Printer> = Arc::new(FilePrinter::new(
        out.path().join("big"),
        PrinterCapabilities { page_sizes: vec!["A3".into()], color: true, duplex: false, max_copies: 5 },
    ));
    let other = worker_with(&core, vec![(printer_identity("colour"), big_printer)]).await;
    other.health_once().await;
    assert_eq!(worker.reject_once().await, 0);
    assert_eq!(raw_order(&db, "BIG-2").await.get_str("printStatus").unwrap(), "pending");
}

/// Issue 23 item 9: an order that names no page size, whose file turns out to be A3, is claimed by the A4
/// printer (the claim cannot see the file). It is not failed for good: another printer can take it, so it
/// goes back to the queue without spending an attempt, the A4 printer does not claim it again, and the A3
/// printer prints it. Once no active printer can take such an order, it fails, naming what each offers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_this_printer_cannot_take_goes_to_a_printer_that_can() {
    let db = fresh_database(Mode::ReplicaSet, "mismatch").await;
    let core = core_with(&db, CoreConfig::default()).await;
    let files = FileServer::start().await;
    files.route("/a3.pdf", Route::pdf(pdf(1, A3)));
    for id in ["POSTER", "POSTER-2"] {
        let mut order = paid_order(id, DateTime::now(), 10);
        order.insert("fileURL", files.url("/a3.pdf"));
        order.insert("printingOptions", doc! { "copies": 1 });
        insert_orders(&db, vec![order]).await;
    }
    let out = tempfile::tempdir().unwrap();
    let small: Arc<dyn Printer> = Arc::new(FilePrinter::new(out.path().join("small"), mono_a4()));
    let a4 = worker_with(&core, vec![(printer_identity("small"), small)]).await;
    let big: Arc<dyn Printer> = Arc::new(FilePrinter::new(
        out.path().join("big"),
        PrinterCapabilities { page_sizes: vec!["A3".into(), "A4".into()], color: false, duplex: false, max_copies: 9 },
    ));
    let a3 = worker_with(&core, vec![(printer_identity("big"), big)]).await;
    a4.health_once().await;
    a3.health_once().await;
    // The A4 printer claims it, reads the file, and gives it back.
    assert_eq!(a4.claim_once().await, 1);
    wait_for("the poster back in the queue", Duration::from_secs(30), || async {
        let o = raw_order(&db, "POSTER").await;
        (o.get_str("printStatus").ok()? == "pending").then_some(())
    })
    .await;
    let o = raw_order(&db, "POSTER").await;
    assert_eq!(o.get_i32("printAttempt").unwrap(), 0, "giving it back spends no attempt: {o}");
    assert!(o.get_str("printError").unwrap().contains("left for another printer"), "{o}");
    // The A4 printer does not take it again; the A3 printer prints it.
    wait_for("the A4 printer idle", Duration::from_secs(20), || async { (a4.active_jobs() == 0).then_some(()) }).await;
    let claimed_again = a4.claim_once().await;
    assert_eq!(raw_order(&db, "POSTER").await.get_str("printStatus").unwrap(), "pending", "{claimed_again}");
    assert_eq!(a3.claim_once().await, 1);
    wait_for("the poster printed", Duration::from_secs(30), || async {
        (raw_order(&db, "POSTER").await.get_str("printStatus").ok()? == "printed").then_some(())
    })
    .await;
    // With the A3 printer gone (inactive), the same kind of order fails, naming each printer's offer.
    db.collection::<Document>("printers")
        .update_one(doc! { "printer_id": "big" }, doc! { "$set": { "isActive": false } })
        .await
        .unwrap();
    wait_for("the A4 printer idle", Duration::from_secs(20), || async { (a4.active_jobs() == 0).then_some(()) }).await;
    // POSTER-2 was given back by the A4 printer too (its second claim above): once the A3 printer is
    // inactive, the rejection pass finds no active printer that has not found it cannot take the file.
    assert_eq!(raw_order(&db, "POSTER-2").await.get_str("printStatus").unwrap(), "pending");
    assert_eq!(a4.reject_once().await, 1);
    let o = raw_order(&db, "POSTER-2").await;
    assert_eq!(o.get_str("printStatus").unwrap(), "failed");
    let m = o.get_str("printError").unwrap();
    assert!(
        m.contains("no active printer can take this order")
            && m.contains("cannot take its file")
            && m.contains("A3 pages"),
        "{m}"
    );
}

/// A dead worker's order that was sent: expired lease, settled by asking the printer.
async fn sent_by_a_dead_worker(
    core: &PrintCore,
    db: &mongodb::Database,
    id: &str,
    printer: &dyn Printer,
    acknowledged: bool,
    at_printer: bool,
) {
    // First in the queue, ahead of anything an earlier recovery returned to it.
    let mut order = paid_order(id, DateTime::now(), 10);
    order.insert("printPriority", 100);
    insert_orders(db, vec![order]).await;
    let dead = WorkerId::generate();
    let target = ClaimTarget { printer_id: "folder".into(), printer_name: "Folder".into(), capabilities: None };
    let job = core.claim(&dead, &target).await.unwrap().unwrap();
    assert_eq!(job.order_id(), id);
    job.mark_sending().await.unwrap();
    if at_printer {
        let spec = JobSpec {
            job_name: job.print_job_id().to_owned(),
            order_id: id.into(),
            documents: vec![printcore_tests::pdfgen::pdf_file(pdf(1, A4))],
            copies: 1,
            duplex: false,
            color: false,
            page_size: None,
        };
        printer.submit(&spec).await.unwrap();
    }
    if acknowledged {
        job.mark_submitted(job.print_job_id()).await.unwrap();
    }
}

/// Runs recovery passes until the unacknowledged `id` goes back to the queue: not before the grace a lost
/// answer gets (10 s of the printer not knowing the job), and not much after.
async fn requeued_after_the_grace(worker: &Arc<Worker>, db: &mongodb::Database, id: &str) {
    let started = std::time::Instant::now();
    wait_for("the unacknowledged order requeued", Duration::from_secs(30), || async {
        worker.recovery_once().await.unwrap();
        let status = raw_order(db, id).await.get_str("printStatus").unwrap().to_owned();
        if status == "pending" {
            return Some(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        None
    })
    .await;
    assert!(started.elapsed() >= Duration::from_secs(9), "requeued after {:?}, before the grace", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_settles_a_dead_workers_sent_orders_with_the_printer() {
    let db = fresh_database(Mode::ReplicaSet, "reconcile").await;
    let core = core_with(&db, CoreConfig::default()).await;
    let out = tempfile::tempdir().unwrap();
    let folder = Arc::new(FilePrinter::new(out.path(), mono_a4()));
    sent_by_a_dead_worker(&core, &db, "DONE", folder.as_ref(), true, true).await; // printed before the crash
    sent_by_a_dead_worker(&core, &db, "NEVER", folder.as_ref(), false, false).await; // crashed while sending
    sent_by_a_dead_worker(&core, &db, "LOST", folder.as_ref(), true, false).await; // acknowledged, now unknown

    let live_core = core_with(&db, CoreConfig::default()).await;
    let printer: Arc<dyn Printer> = folder.clone();
    // The folder keeps every job: its history is known (configured), so not listing a job proves something.
    let worker = worker_with_history(
        &live_core,
        vec![(printer_identity("folder"), printer.clone())],
        Some(Duration::from_secs(3600)),
    )
    .await;
    // The dead worker's leases run out (recovery_once reads the server clock, so move the leases instead).
    db.collection::<Document>("orders")
        .update_many(doc! {}, doc! { "$set": { "printLeaseUntil": DateTime::from_millis(0) } })
        .await
        .unwrap();
    let counts = worker.recovery_once().await.unwrap();
    assert_eq!((counts.printed, counts.requeued, counts.failed_unknown), (1, 0, 1), "{counts:?}");
    assert_eq!(raw_order(&db, "DONE").await.get_str("printStatus").unwrap(), "printed");
    // Marked as being sent, unknown to the printer: like a lost answer, asked again for a grace period
    // (a stalled sender's job may still arrive) before it goes back to the queue.
    assert_eq!(raw_order(&db, "NEVER").await.get_str("printStatus").unwrap(), "printing");
    requeued_after_the_grace(&worker, &db, "NEVER").await;
    let lost = raw_order(&db, "LOST").await;
    assert_eq!(lost.get_str("printStatus").unwrap(), "failed");
    assert!(lost.get_str("printError").unwrap().contains("may have printed; check the printer before reprinting"));
    assert_eq!(log_actions(&db, "DONE").await, ["claim", "submitted", "adopt", "printed"]);
    assert_eq!(log_actions(&db, "NEVER").await, ["claim", "adopt", "returned_by_printer"]);

    // A command printer cannot be asked: an order sent through one is never reprinted on a guess.
    let cmd: Arc<dyn Printer> = Arc::new(
        CommandPrinter::new("lp", vec!["true".into(), "{file}".into()], None, Duration::from_secs(5), mono_a4())
            .unwrap(),
    );
    let admin = printcore::AdminIdentity::new("1", "boss@shop.example").unwrap();
    core.cancel("NEVER", &admin, "test: keep the queue to the next order").await.unwrap();
    sent_by_a_dead_worker(&core, &db, "CMD", folder.as_ref(), true, false).await;
    db.collection::<Document>("orders")
        .update_one(doc! { "orderId": "CMD" }, doc! { "$set": { "printLeaseUntil": DateTime::from_millis(0) } })
        .await
        .unwrap();
    let cmd_worker = worker_with(&live_core, vec![(printer_identity("folder"), cmd)]).await;
    let counts = cmd_worker.recovery_once().await.unwrap();
    assert_eq!(counts.failed_unknown, 1, "{counts:?}");
    assert!(raw_order(&db, "CMD").await.get_str("printError").unwrap().contains("cannot look jobs up"));

    // Issue 23 item 1: where the printer's history is not known, not listing the job proves nothing (it may
    // have printed and been forgotten, or be hidden): the safe answer, never a requeue.
    sent_by_a_dead_worker(&core, &db, "UNKNOWN-HISTORY", folder.as_ref(), false, false).await;
    db.collection::<Document>("orders")
        .update_one(
            doc! { "orderId": "UNKNOWN-HISTORY" },
            doc! { "$set": { "printLeaseUntil": DateTime::from_millis(0) } },
        )
        .await
        .unwrap();
    let unknown = worker_with(&live_core, vec![(printer_identity("folder"), printer)]).await;
    for _ in 0..30 {
        unknown.recovery_once().await.unwrap();
        if raw_order(&db, "UNKNOWN-HISTORY").await.get_str("printStatus").unwrap() != "printing" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let o = raw_order(&db, "UNKNOWN-HISTORY").await;
    assert_eq!(o.get_str("printStatus").unwrap(), "failed", "never requeued on an unknown history");
    let m = o.get_str("printError").unwrap();
    assert!(m.contains("proves nothing here") && m.contains("not known yet") && m.contains("may have printed"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stuck_check_takes_back_the_workers_own_hung_orders_without_reprinting_sent_ones() {
    let db = fresh_database(Mode::ReplicaSet, "stuckonce").await;
    let core = core_with(&db, CoreConfig::default()).await;
    insert_orders(
        &db,
        vec![paid_order("HUNG-SENT", DateTime::now(), 20), paid_order("HUNG-UNSENT", DateTime::now(), 10)],
    )
    .await;
    let out = tempfile::tempdir().unwrap();
    let printer: Arc<dyn Printer> = Arc::new(FilePrinter::new(out.path(), mono_a4()));
    let worker = worker_with(&core, vec![(printer_identity("folder"), printer)]).await;
    let target = ClaimTarget { printer_id: "folder".into(), printer_name: "Folder".into(), capabilities: None };
    let sent = core.claim(&worker.id, &target).await.unwrap().unwrap();
    assert_eq!(sent.order_id(), "HUNG-SENT");
    sent.mark_sending().await.unwrap();
    sent.mark_submitted("42").await.unwrap();
    let unsent = core.claim(&worker.id, &target).await.unwrap().unwrap();
    assert_eq!(unsent.order_id(), "HUNG-UNSENT");
    assert_eq!(worker.stuck_once().await.unwrap(), 0, "nothing is stuck yet");
    core.clock().shift_ms(31 * 60 * 1000);
    assert_eq!(worker.stuck_once().await.unwrap(), 2);
    assert_eq!(raw_order(&db, "HUNG-UNSENT").await.get_str("printStatus").unwrap(), "pending");
    let s = raw_order(&db, "HUNG-SENT").await;
    assert_eq!(s.get_str("printStatus").unwrap(), "failed", "a sent order is never reprinted on a guess");
    assert!(s.get_str("printError").unwrap().contains("may have printed; check the printer before reprinting"));
}

/// A real IPP printer that stops answering (SIGSTOP) just as a job goes out to it, so the job leaves and
/// its answer never comes. Then it comes back: thawed (it reads the job late and prints it), or restarted
/// (whatever it had read is gone).
struct LostAnswer {
    inner: IppPrinter,
    eve: Arc<IppEve>,
    restart: bool,
}

#[async_trait::async_trait]
impl Printer for LostAnswer {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn status(&self) -> Result<PrinterState, PrinterError> {
        self.inner.status().await
    }
    async fn capabilities(&self) -> Result<PrinterCapabilities, PrinterError> {
        self.inner.capabilities().await
    }
    async fn submit(&self, job: &JobSpec) -> Result<String, PrinterError> {
        self.eve.freeze();
        let result = self.inner.submit(job).await;
        if self.restart {
            self.eve.kill();
            self.eve.start_again();
        } else {
            self.eve.thaw();
        }
        result
    }
    async fn job_state(&self, job_ref: &str, job_name: &str) -> Result<JobState, PrinterError> {
        self.inner.job_state(job_ref, job_name).await
    }
    async fn find_job(&self, job_name: &str) -> Result<Option<FoundJob>, PrinterError> {
        self.inner.find_job(job_name).await
    }
    async fn cancel(&self, job_ref: &str) -> Result<(), PrinterError> {
        self.inner.cancel(job_ref).await
    }
    fn can_look_up_jobs(&self) -> bool {
        true
    }
    async fn up_time(&self) -> Result<Option<Duration>, PrinterError> {
        self.inner.up_time().await
    }
}

/// What [`lost_answer_run`] leaves for the test to check.
struct LostRun {
    db: mongodb::Database,
    core: PrintCore,
    eve: Arc<IppEve>,
    worker: Arc<Worker>,
    /// The order once it reached the status waited for.
    order: Document,
}

/// One order on the default page size (so the first request of its job is the Print-Job itself) sent by a
/// worker to a [`LostAnswer`] printer, until the order is `until`.
async fn lost_answer_run(name: &str, id: &str, restart: bool, until: &str) -> LostRun {
    lost_answer_run_with(name, id, restart, until, 1).await
}

/// [`lost_answer_run`] for an order of `documents` files.
async fn lost_answer_run_with(name: &str, id: &str, restart: bool, until: &str, documents: usize) -> LostRun {
    let db = fresh_database(Mode::ReplicaSet, name).await;
    let core = core_with(&db, CoreConfig::default()).await;
    let files = FileServer::start().await;
    files.route("/a.pdf", Route::pdf(pdf(1, A4)));
    let mut order = paid_order(id, DateTime::now(), 10);
    if documents > 1 {
        order.insert("fileURLs", vec![files.url("/a.pdf"); documents]);
    }
    order.insert("fileURL", files.url("/a.pdf"));
    order.insert("printingOptions", doc! { "copies": 1 });
    insert_orders(&db, vec![order]).await;
    let eve = Arc::new(IppEve::start(IppEveOptions { job_seconds: 0.1, ..IppEveOptions::default() }));
    // A printer without Create-Job (Print-Job only): after a lost answer, only the job name can find it.
    let inner = IppPrinter::new(&eve.uri(), Duration::from_millis(800)).unwrap().with_create_job(Some(false));
    let printer: Arc<dyn Printer> = Arc::new(LostAnswer { inner, eve: eve.clone(), restart });
    // ippeveprinter keeps a completed job listed for 60 s, and shows its name.
    let worker =
        worker_with_history(&core, vec![(printer_identity("eve"), printer)], Some(Duration::from_secs(60))).await;
    worker.health_once().await;
    assert_eq!(worker.claim_once().await, 1);
    wait_for(&format!("the order {until}"), Duration::from_secs(60), || async {
        (raw_order(&db, id).await.get_str("printStatus").ok()? == until).then_some(())
    })
    .await;
    let order = raw_order(&db, id).await;
    LostRun { db, core, eve, worker, order }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_answer_was_lost_is_found_by_name_and_printed_once() {
    let LostRun { db, core, eve, order: o, .. } = lost_answer_run("lostlate", "LATE", false, "printed").await;
    assert_eq!(eve.copies_of(o.get_str("printJobId").unwrap()), 1, "printed once, not sent again");
    assert_eq!(eve.spooled().len(), 1, "nothing else reached the printer");
    assert_eq!(o.get_i32("printAttempt").unwrap(), 1);
    core.flush_logs().await;
    assert_eq!(log_actions(&db, "LATE").await, ["claim", "submitted", "printed"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_answer_was_lost_in_a_printer_restart_is_failed_for_a_person_and_never_resent() {
    let LostRun { db, core, eve, worker, order: o } = lost_answer_run("lostrestart", "GONE", true, "failed").await;
    let m = o.get_str("printError").unwrap();
    assert!(
        m.contains("restarted while the job was being sent")
            && m.contains("may have printed; check the printer before reprinting"),
        "{m}"
    );
    assert!(eve.copies_of(o.get_str("printJobId").unwrap()) <= 1);
    worker.health_once().await;
    assert_eq!(worker.claim_once().await, 0, "a failed order is not claimed again");
    core.flush_logs().await;
    assert_eq!(log_actions(&db, "GONE").await, ["claim", "failed"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_never_resends_an_unacknowledged_job_once_the_printer_restarted() {
    let db = fresh_database(Mode::ReplicaSet, "recrestart").await;
    let core = core_with(&db, CoreConfig::default()).await;
    let eve = IppEve::start(IppEveOptions { job_seconds: 0.1, ..IppEveOptions::default() });
    let ipp = Arc::new(IppPrinter::new(&eve.uri(), Duration::from_secs(5)).unwrap());
    // Up for a while before anything is sent.
    wait_for("the printer up for 3 s", Duration::from_secs(20), || async {
        ipp.up_time().await.ok().flatten().filter(|up| *up >= Duration::from_secs(3))
    })
    .await;
    // A dead worker sent this one with the printer up all along: the printer never got it.
    sent_by_a_dead_worker(&core, &db, "NEVER-GOT", ipp.as_ref(), false, false).await;
    let live_core = core_with(&db, CoreConfig::default()).await;
    let printer: Arc<dyn Printer> = ipp.clone();
    // ippeveprinter keeps a completed job listed for 60 s, and shows its name.
    let worker =
        worker_with_history(&live_core, vec![(printer_identity("folder"), printer)], Some(Duration::from_secs(60)))
            .await;
    let orders = db.collection::<Document>("orders");
    let expire = || async {
        orders
            .update_many(
                doc! { "printStatus": "printing" },
                doc! { "$set": { "printLeaseUntil": DateTime::from_millis(0) } },
            )
            .await
            .unwrap();
    };
    expire().await;
    let counts = worker.recovery_once().await.unwrap();
    assert_eq!((counts.requeued, counts.failed_unknown, counts.skipped), (0, 0, 1), "{counts:?}");
    requeued_after_the_grace(&worker, &db, "NEVER-GOT").await;
    let admin = printcore::AdminIdentity::new("1", "boss@shop.example").unwrap();
    core.cancel("NEVER-GOT", &admin, "test: keep the queue to the next order").await.unwrap();

    // This one was sent, then the printer restarted: it may have read the job and lost or printed it.
    sent_by_a_dead_worker(&core, &db, "RESTARTED", ipp.as_ref(), false, false).await;
    eve.kill();
    eve.start_again();
    expire().await;
    let counts = worker.recovery_once().await.unwrap();
    assert_eq!((counts.requeued, counts.failed_unknown), (0, 1), "{counts:?}");
    let o = raw_order(&db, "RESTARTED").await;
    assert_eq!(o.get_str("printStatus").unwrap(), "failed");
    let m = o.get_str("printError").unwrap();
    assert!(m.contains("restarted after the job was sent") && m.contains("may have printed"), "{m}");
}

/// Issue "exactly once, closed" #8: a worker driving a mono A4 printer and a colour duplex printer that is
/// slow to answer (frozen: a printer waking from sleep). While the colour printer has not reported, no
/// colour or duplex order is rejected; once it has, they wait for it and print there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_order_is_rejected_while_a_printer_of_the_worker_has_not_reported() {
    let db = fresh_database(Mode::ReplicaSet, "reject-slow").await;
    let core = core_with(&db, CoreConfig::default()).await;
    let mut colour = paid_order("COLOUR", DateTime::now(), 10);
    colour.insert("printingOptions", doc! { "pageSize": "A4", "color": true, "duplex": true });
    insert_orders(&db, vec![colour]).await;
    let out = tempfile::tempdir().unwrap();
    let mono: Arc<dyn Printer> = Arc::new(FilePrinter::new(out.path(), mono_a4()));
    let eve = IppEve::start(IppEveOptions::default());
    eve.freeze();
    let slow: Arc<dyn Printer> = Arc::new(IppPrinter::new(&eve.uri(), Duration::from_millis(500)).unwrap());
    let worker = worker_with(&core, vec![(printer_identity("mono"), mono), (printer_identity("colour"), slow)]).await;
    // One health pass: the mono printer reports; the colour one does not answer in time.
    worker.health_once().await;
    assert!(worker.slots[0].reading().and_then(|r| r.capabilities).is_some());
    assert!(worker.slots[1].reading().and_then(|r| r.capabilities).is_none());
    // Only the mono printer is in `printers` with capabilities (as right after a first start).
    db.collection::<Document>("printers").delete_one(doc! { "printer_id": "colour" }).await.unwrap();
    assert_eq!(worker.reject_once().await, 0, "no permanent judgement while a printer of this worker is unknown");
    assert_eq!(raw_order(&db, "COLOUR").await.get_str("printStatus").unwrap(), "pending");
    eve.thaw();
    worker.health_once().await;
    assert_eq!(worker.reject_once().await, 0, "the colour printer can take it");
    assert_eq!(raw_order(&db, "COLOUR").await.get_str("printStatus").unwrap(), "pending");
}

/// One source of capabilities per printer: what the configuration says is what the claim uses and what is
/// recorded in `printers` (which the rejection pass reads), not what the printer reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_capabilities_are_the_ones_recorded_for_the_rejection_pass() {
    let db = fresh_database(Mode::ReplicaSet, "caps-source").await;
    let core = core_with(&db, CoreConfig::default()).await;
    let out = tempfile::tempdir().unwrap();
    // The folder backend reports mono A4; the shop configured it as an A3 colour printer.
    let printer: Arc<dyn Printer> = Arc::new(FilePrinter::new(out.path(), mono_a4()));
    let configured = PrinterCapabilities { page_sizes: vec!["A3".into()], color: true, duplex: false, max_copies: 3 };
    let slot = Arc::new(PrinterSlot::new(printer_identity("cfg"), printer, Some(configured.clone()), 1));
    let (_trigger, shutdown) = printworker::shutdown::channel();
    let worker = Worker::new(core.clone(), WorkerId::generate(), fetcher(), vec![slot], intervals(), shutdown);
    let mut a3 = paid_order("A3-COLOUR", DateTime::now(), 10);
    a3.insert("printingOptions", doc! { "pageSize": "A3", "color": true });
    insert_orders(&db, vec![a3]).await;
    worker.health_once().await;
    assert_eq!(core.printer("cfg").await.unwrap().unwrap().capabilities, Some(configured));
    assert_eq!(worker.reject_once().await, 0, "the rejection pass judges by the configured capabilities too");
    assert_eq!(worker.claim_once().await, 1, "and the claim takes it");
}

/// Exactly once, closed #1: an order of two files to a printer without multi-document jobs (one printer job
/// per file). The answer to the first file is lost; the printer reads it late and prints it. It is found by
/// name, but the second file never went out: the order fails for a person, naming what went out; it is
/// neither marked printed nor sent again whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_an_order_whose_first_answer_was_lost_is_failed_never_marked_printed() {
    let LostRun { db, core, eve, order: o, .. } = lost_answer_run_with("losthalf", "HALF", false, "failed", 2).await;
    let m = o.get_str("printError").unwrap();
    assert!(m.contains("only part of the order reached") && m.contains("check the printer"), "{m}");
    let job = o.get_str("printJobId").unwrap();
    wait_for("the late first file on paper", Duration::from_secs(20), || async {
        (eve.copies_of(job) == 1).then_some(())
    })
    .await;
    assert_eq!(eve.spooled().len(), 1, "only the first file reached the printer; nothing sent again");
    core.flush_logs().await;
    assert_eq!(log_actions(&db, "HALF").await, ["claim", "failed"]);
}

/// Exactly once, closed #1: a worker died between the files of an order (the first file's job completed
/// at the printer, the second never sent). Recovery finds only part of it: failed for a person.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_of_an_order_sent_in_part_fails_it_for_a_person() {
    let db = fresh_database(Mode::ReplicaSet, "recpart").await;
    let core = core_with(&db, CoreConfig::default()).await;
    let eve = IppEve::start(IppEveOptions { job_seconds: 0.1, ..IppEveOptions::default() });
    let ipp = Arc::new(IppPrinter::new(&eve.uri(), Duration::from_secs(5)).unwrap());
    let mut order = paid_order("PART", DateTime::now(), 10);
    order.insert("fileURLs", vec!["https://res.cloudinary.com/a.pdf", "https://res.cloudinary.com/b.pdf"]);
    insert_orders(&db, vec![order]).await;
    let dead = WorkerId::generate();
    let target = ClaimTarget { printer_id: "eve".into(), printer_name: "Eve".into(), capabilities: None };
    let job = core.claim(&dead, &target).await.unwrap().unwrap();
    job.mark_sending().await.unwrap();
    // What the worker had sent when it died: the first of the two documents, as its own printer job.
    let first = JobSpec {
        job_name: printworker::backends::ipp::part_name(job.print_job_id(), 1, 2),
        order_id: "PART".into(),
        documents: vec![printcore_tests::pdfgen::pdf_file(pdf(1, A4))],
        copies: 1,
        duplex: false,
        color: false,
        page_size: None,
    };
    ipp.submit(&first).await.unwrap();
    wait_for("the first document printed", Duration::from_secs(20), || async {
        (eve.copies_of(job.print_job_id()) == 1).then_some(())
    })
    .await;
    db.collection::<Document>("orders")
        .update_one(doc! { "orderId": "PART" }, doc! { "$set": { "printLeaseUntil": DateTime::from_millis(0) } })
        .await
        .unwrap();
    let printer: Arc<dyn Printer> = ipp.clone();
    let worker = worker_with(&core, vec![(printer_identity("eve"), printer)]).await;
    let counts = worker.recovery_once().await.unwrap();
    assert_eq!(counts.failed_unknown, 1, "{counts:?}");
    let o = raw_order(&db, "PART").await;
    assert_eq!(o.get_str("printStatus").unwrap(), "failed", "never marked printed with a file missing");
    assert!(o.get_str("printError").unwrap().contains("only part of the order reached"), "{o}");
    assert_eq!(eve.spooled().len(), 1, "never sent again whole");
}

/// Exactly once, closed #3: a job the printer still holds when the 30-minute ceiling passes is waited for
/// (the printer answers about it), not failed "may have printed"; it prints and the order is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_still_at_the_printer_when_the_ceiling_passes_is_waited_for() {
    let db = fresh_database(Mode::ReplicaSet, "ceiling").await;
    let core = core_with(&db, CoreConfig::default()).await;
    let files = FileServer::start().await;
    files.route("/a.pdf", Route::pdf(pdf(1, A4)));
    let mut order = paid_order("SLOW", DateTime::now(), 10);
    order.insert("fileURL", files.url("/a.pdf"));
    insert_orders(&db, vec![order]).await;
    // A long job: the printer holds it well past the moment the ceiling is checked.
    let eve = IppEve::start(IppEveOptions { job_seconds: 6.0, ..IppEveOptions::default() });
    let printer: Arc<dyn Printer> = Arc::new(IppPrinter::new(&eve.uri(), Duration::from_secs(5)).unwrap());
    let worker = worker_with(&core, vec![(printer_identity("eve"), printer)]).await;
    worker.health_once().await;
    assert_eq!(worker.claim_once().await, 1);
    // Submitted, not only created: `printerJobRef` is stored after Create-Job and before the document
    // goes (Send-Document), and a job still waiting for its document is not one the printer holds.
    wait_for("the job at the printer", Duration::from_secs(30), || async {
        raw_order(&db, "SLOW").await.get_datetime("printSubmittedAt").ok().map(|_| ())
    })
    .await;
    core.clock().shift_ms(31 * 60 * 1000);
    assert_eq!(worker.stuck_once().await.unwrap(), 0, "the printer still holds the job: waited for");
    assert_eq!(raw_order(&db, "SLOW").await.get_str("printStatus").unwrap(), "printing");
    wait_for("the order printed", Duration::from_secs(30), || async {
        (raw_order(&db, "SLOW").await.get_str("printStatus").ok()? == "printed").then_some(())
    })
    .await;
    assert_eq!(eve.copies_of(raw_order(&db, "SLOW").await.get_str("printJobId").unwrap()), 1);
}

/// A folder printer that does not say its jobs are complete once taken, as a printer that reports its
/// jobs: the worker asks for the job's state, and records the reference and the print in two writes.
struct ReportsItsJobs(FilePrinter);

#[async_trait::async_trait]
impl Printer for ReportsItsJobs {
    fn describe(&self) -> String {
        self.0.describe()
    }
    async fn status(&self) -> Result<PrinterState, PrinterError> {
        self.0.status().await
    }
    async fn capabilities(&self) -> Result<PrinterCapabilities, PrinterError> {
        self.0.capabilities().await
    }
    async fn submit(&self, job: &JobSpec) -> Result<String, PrinterError> {
        self.0.submit(job).await
    }
    async fn job_state(&self, job_ref: &str, job_name: &str) -> Result<JobState, PrinterError> {
        self.0.job_state(job_ref, job_name).await
    }
    async fn find_job(&self, job_name: &str) -> Result<Option<FoundJob>, PrinterError> {
        self.0.find_job(job_name).await
    }
    async fn cancel(&self, job_ref: &str) -> Result<(), PrinterError> {
        self.0.cancel(job_ref).await
    }
    fn can_look_up_jobs(&self) -> bool {
        true
    }
}

/// A database whose client records each write to one order of `orders` (a `findAndModify`, or an `update`
/// of one document; not the batched `updateMany`s of the log's outbox and the scheduled release), as the
/// command's name and filter.
async fn order_writes_counted(prefix: &str) -> (mongodb::Database, Arc<std::sync::Mutex<Vec<String>>>) {
    let writes: Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let seen = writes.clone();
    let db = printcore_tests::db::watched_database(Mode::ReplicaSet, prefix, move |s| {
        let c = &s.command;
        let one = match s.command_name.as_str() {
            "findAndModify" => c.get_str("findAndModify") == Ok("orders"),
            "update" => {
                c.get_str("update") == Ok("orders")
                    && c.get_array("updates").is_ok_and(|u| {
                        u.iter().all(|u| u.as_document().is_some_and(|u| u.get_bool("multi") != Ok(true)))
                    })
            }
            _ => false,
        };
        if one {
            seen.lock().unwrap().push(format!("{} {:?}", s.command_name, c.get("query").or(c.get("updates"))));
        }
    })
    .await;
    (db, writes)
}

/// What printing one order costs the database, counted on the wire: a folder printer's job is complete
/// once taken, so the claim, the being-sent mark, and the reference with `printed` in one write; a printer
/// that reports its jobs records the reference, then the print. The log trail is the same for both.
#[tokio::test]
async fn a_folder_printers_order_costs_three_writes_and_a_printer_that_reports_jobs_four() {
    for (label, complete_once_taken) in [("folder", true), ("reports", false)] {
        let (db, commands) = order_writes_counted("writes").await;
        let core = core_with(&db, CoreConfig { log_delivery: LogDelivery::Background, ..CoreConfig::default() }).await;
        // The claim's index is there: a claim is one command (without it, a hinted try and an unhinted one).
        core.migrate(&Default::default()).await.unwrap();
        let files = FileServer::start().await;
        files.route("/a.pdf", Route::pdf(pdf(1, A4)));
        let mut order = paid_order("W-1", DateTime::now(), 10);
        order.insert("fileURL", files.url("/a.pdf"));
        insert_orders(&db, vec![order]).await;
        let out = tempfile::tempdir().unwrap();
        let folder = FilePrinter::new(out.path(), mono_a4());
        let printer: Arc<dyn Printer> =
            if complete_once_taken { Arc::new(folder) } else { Arc::new(ReportsItsJobs(folder)) };
        assert_eq!(printer.complete_when_taken(), complete_once_taken);
        let worker = worker_with(&core, vec![(printer_identity(label), printer)]).await;
        assert_eq!(worker.health_once().await, 1);
        core.flush_logs().await;
        commands.lock().unwrap().clear();
        assert_eq!(worker.claim_once().await, 1);
        let start = std::time::Instant::now();
        while worker.active_jobs() > 0 {
            assert!(start.elapsed() < Duration::from_secs(20), "{label}: the print task did not end");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let counted = commands.lock().unwrap().clone();
        let expected = if complete_once_taken { 3 } else { 4 };
        assert_eq!(counted.len(), expected, "{label}: the claim and the state writes, nothing else: {counted:?}");
        core.flush_logs().await;
        let o = raw_order(&db, "W-1").await;
        assert_eq!(o.get_str("printStatus").unwrap(), "printed", "{label}");
        assert_eq!(o.get_str("printerJobRef").unwrap(), o.get_str("printJobId").unwrap(), "{label}");
        assert_eq!(log_actions(&db, "W-1").await, ["claim", "submitted", "printed"], "{label}");
    }
}

/// A real printer whose documents wait for the test before they go (a large file on a slow link): the job
/// sits at the printer created, its document still arriving, for as long as the test likes.
struct HeldUpload {
    inner: IppPrinter,
    gate: tokio::sync::Semaphore,
}

#[async_trait::async_trait]
impl Printer for HeldUpload {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn status(&self) -> Result<PrinterState, PrinterError> {
        self.inner.status().await
    }
    async fn capabilities(&self) -> Result<PrinterCapabilities, PrinterError> {
        self.inner.capabilities().await
    }
    async fn submit(&self, job: &JobSpec) -> Result<String, PrinterError> {
        self.inner.submit(job).await
    }
    async fn create_job(&self, job: &JobSpec) -> Result<Option<String>, PrinterError> {
        self.inner.create_job(job).await
    }
    async fn send_documents(&self, job: &JobSpec, job_ref: &str) -> Result<(), PrinterError> {
        let _go = self.gate.acquire().await.unwrap();
        self.inner.send_documents(job, job_ref).await
    }
    async fn job_state(&self, job_ref: &str, job_name: &str) -> Result<JobState, PrinterError> {
        self.inner.job_state(job_ref, job_name).await
    }
    async fn find_job(&self, job_name: &str) -> Result<Option<FoundJob>, PrinterError> {
        self.inner.find_job(job_name).await
    }
    async fn cancel(&self, job_ref: &str) -> Result<(), PrinterError> {
        self.inner.cancel(job_ref).await
    }
    fn can_look_up_jobs(&self) -> bool {
        true
    }
}

/// The 30-minute ceiling passes while the worker is still sending the job's document (the printer shows
/// the job with its document arriving): the order is waited for, not failed as "may have printed", and
/// prints once when the document has gone.
#[tokio::test]
async fn a_job_whose_document_is_still_being_sent_when_the_ceiling_passes_is_waited_for() {
    let db = fresh_database(Mode::ReplicaSet, "ceilingup").await;
    let core = core_with(&db, CoreConfig::default()).await;
    let files = FileServer::start().await;
    files.route("/a.pdf", Route::pdf(pdf(1, A4)));
    let mut order = paid_order("UPLOAD", DateTime::now(), 10);
    order.insert("fileURL", files.url("/a.pdf"));
    insert_orders(&db, vec![order]).await;
    let eve = IppEve::start(IppEveOptions { job_seconds: 0.5, ..IppEveOptions::default() });
    let printer = Arc::new(HeldUpload {
        inner: IppPrinter::new(&eve.uri(), Duration::from_secs(5)).unwrap(),
        gate: tokio::sync::Semaphore::new(0),
    });
    let worker = worker_with(&core, vec![(printer_identity("eve"), printer.clone() as Arc<dyn Printer>)]).await;
    worker.health_once().await;
    assert_eq!(worker.claim_once().await, 1);
    // Created at the printer and marked as being sent; the document has not gone.
    wait_for("the job created and marked as being sent", Duration::from_secs(30), || async {
        let o = raw_order(&db, "UPLOAD").await;
        (o.get_str("printerJobRef").is_ok() && o.get_datetime("printSubmittedAt").is_ok()).then_some(())
    })
    .await;
    let o = raw_order(&db, "UPLOAD").await;
    let state = printer.job_state(o.get_str("printerJobRef").unwrap(), o.get_str("printJobId").unwrap()).await;
    assert_eq!(state, Ok(JobState::Incoming), "the printer shows the job waiting for its document");
    core.clock().shift_ms(31 * 60 * 1000);
    assert_eq!(worker.stuck_once().await.unwrap(), 0, "the document is still being sent: waited for");
    assert_eq!(raw_order(&db, "UPLOAD").await.get_str("printStatus").unwrap(), "printing");
    printer.gate.add_permits(1);
    wait_for("the order printed", Duration::from_secs(30), || async {
        (raw_order(&db, "UPLOAD").await.get_str("printStatus").ok()? == "printed").then_some(())
    })
    .await;
    assert_eq!(eve.copies_of(raw_order(&db, "UPLOAD").await.get_str("printJobId").unwrap()), 1, "printed once");
}

/// A real printer whose `submit` stops the database server right after the printer took the job: the
/// worker holds the printer's answer while the database is away.
struct DatabaseGoesAway {
    inner: IppPrinter,
    db: Arc<printcore_tests::db::DbServer>,
}

#[async_trait::async_trait]
impl Printer for DatabaseGoesAway {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn status(&self) -> Result<PrinterState, PrinterError> {
        self.inner.status().await
    }
    async fn capabilities(&self) -> Result<PrinterCapabilities, PrinterError> {
        self.inner.capabilities().await
    }
    async fn submit(&self, job: &JobSpec) -> Result<String, PrinterError> {
        let r = self.inner.submit(job).await;
        // Stopped, not killed: killed, the test server would also forget the writes it acknowledged just
        // before (the claim, the being-sent mark), which MongoDB keeps (ARCHITECTURE.md, test server quirks).
        self.db.shutdown();
        r
    }
    async fn job_state(&self, job_ref: &str, job_name: &str) -> Result<JobState, PrinterError> {
        self.inner.job_state(job_ref, job_name).await
    }
    async fn find_job(&self, job_name: &str) -> Result<Option<FoundJob>, PrinterError> {
        self.inner.find_job(job_name).await
    }
    async fn cancel(&self, job_ref: &str) -> Result<(), PrinterError> {
        self.inner.cancel(job_ref).await
    }
    fn can_look_up_jobs(&self) -> bool {
        true
    }
}

/// Exactly once, closed #2: the printer took the job and the database was away when the worker went to
/// record it. The worker keeps the answer and records it once the database is back (renewing its lease
/// meanwhile), then follows the job: printed, once, with the printer's reference stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printers_answer_is_recorded_once_the_database_is_back() {
    let storage = tempfile::tempdir().unwrap();
    let port = printcore_tests::process::free_port();
    let server =
        Arc::new(printcore_tests::db::start_secantus_on(Mode::ReplicaSet, storage.path().to_path_buf(), port).unwrap());
    let client = mongodb::Client::with_uri_str(&server.uri).await.unwrap();
    let db = client.database("dbaway");
    let core = core_with(&db, CoreConfig::default()).await;
    let files = FileServer::start().await;
    files.route("/a.pdf", Route::pdf(pdf(1, A4)));
    let mut order = paid_order("AWAY", DateTime::now(), 10);
    order.insert("fileURL", files.url("/a.pdf"));
    insert_orders(&db, vec![order]).await;
    let eve = IppEve::start(IppEveOptions { job_seconds: 0.1, ..IppEveOptions::default() });
    let inner = IppPrinter::new(&eve.uri(), Duration::from_secs(5)).unwrap();
    let printer: Arc<dyn Printer> = Arc::new(DatabaseGoesAway { inner, db: server.clone() });
    let worker = worker_with(&core, vec![(printer_identity("eve"), printer)]).await;
    worker.health_once().await;
    assert_eq!(worker.claim_once().await, 1);
    wait_for("the job at the printer", Duration::from_secs(30), || async { (eve.spooled().len() == 1).then_some(()) })
        .await;
    // The database stays away for a few seconds, then comes back with its data.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _back = printcore_tests::db::start_secantus_on(Mode::ReplicaSet, storage.path().to_path_buf(), port).unwrap();
    wait_for("the order printed", Duration::from_secs(60), || async {
        let o = db.collection::<Document>("orders").find_one(doc! { "orderId": "AWAY" }).await.ok()??;
        (o.get_str("printStatus").ok()? == "printed").then_some(o)
    })
    .await;
    let o = raw_order(&db, "AWAY").await;
    assert!(o.get_str("printerJobRef").is_ok(), "the printer's reference is stored: {o}");
    assert_eq!(eve.copies_of(o.get_str("printJobId").unwrap()), 1, "printed once");
    assert_eq!(eve.spooled().len(), 1);
}

/// A real printer whose Create-Job stops the database server once, right after the printer created the
/// job: the being-sent mark that follows cannot be made durable.
struct DatabaseAwayBeforeTheMark {
    inner: IppPrinter,
    db: Arc<printcore_tests::db::DbServer>,
    stopped: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl Printer for DatabaseAwayBeforeTheMark {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn status(&self) -> Result<PrinterState, PrinterError> {
        self.inner.status().await
    }
    async fn capabilities(&self) -> Result<PrinterCapabilities, PrinterError> {
        self.inner.capabilities().await
    }
    async fn submit(&self, job: &JobSpec) -> Result<String, PrinterError> {
        self.inner.submit(job).await
    }
    async fn create_job(&self, job: &JobSpec) -> Result<Option<String>, PrinterError> {
        let r = self.inner.create_job(job).await;
        if !self.stopped.swap(true, std::sync::atomic::Ordering::SeqCst) {
            self.db.shutdown();
        }
        r
    }
    async fn send_documents(&self, job: &JobSpec, job_ref: &str) -> Result<(), PrinterError> {
        self.inner.send_documents(job, job_ref).await
    }
    async fn job_state(&self, job_ref: &str, job_name: &str) -> Result<JobState, PrinterError> {
        self.inner.job_state(job_ref, job_name).await
    }
    async fn find_job(&self, job_name: &str) -> Result<Option<FoundJob>, PrinterError> {
        self.inner.find_job(job_name).await
    }
    async fn cancel(&self, job_ref: &str) -> Result<(), PrinterError> {
        self.inner.cancel(job_ref).await
    }
    fn can_look_up_jobs(&self) -> bool {
        true
    }
}

/// Issue 23 item 7: the database cannot make the being-sent mark durable. Nothing was sent, so the order
/// goes back to the queue (the created job cancelled at the printer, the attempt not spent), the worker
/// stops claiming while the database is away, and once it is back the order prints, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_being_sent_mark_the_database_could_not_make_durable_sends_nothing_and_pauses_claims() {
    let storage = tempfile::tempdir().unwrap();
    let port = printcore_tests::process::free_port();
    let server =
        Arc::new(printcore_tests::db::start_secantus_on(Mode::ReplicaSet, storage.path().to_path_buf(), port).unwrap());
    let client = mongodb::Client::with_uri_str(&server.uri).await.unwrap();
    let db = client.database("markaway");
    let core = core_with(&db, CoreConfig::default()).await;
    let files = FileServer::start().await;
    files.route("/a.pdf", Route::pdf(pdf(1, A4)));
    let mut order = paid_order("MARK", DateTime::now(), 10);
    order.insert("fileURL", files.url("/a.pdf"));
    insert_orders(&db, vec![order]).await;
    let eve = IppEve::start(IppEveOptions { job_seconds: 0.1, ..IppEveOptions::default() });
    let inner = IppPrinter::new(&eve.uri(), Duration::from_secs(5)).unwrap();
    let printer = Arc::new(DatabaseAwayBeforeTheMark {
        inner,
        db: server.clone(),
        stopped: std::sync::atomic::AtomicBool::new(false),
    });
    let as_printer: Arc<dyn Printer> = printer.clone();
    let worker = worker_with(&core, vec![(printer_identity("eve"), as_printer)]).await;
    worker.health_once().await;
    assert_eq!(worker.claim_once().await, 1);
    wait_for("claims paused", Duration::from_secs(90), || async { worker.claims_paused().then_some(()) }).await;
    assert!(printer.stopped.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(worker.claim_once().await, 0, "no claims while the database takes no durable writes");
    let _back = printcore_tests::db::start_secantus_on(Mode::ReplicaSet, storage.path().to_path_buf(), port).unwrap();
    let o = wait_for("the order back in the queue, then printed", Duration::from_secs(120), || async {
        worker.health_once().await;
        worker.claim_once().await;
        let o = db.collection::<Document>("orders").find_one(doc! { "orderId": "MARK" }).await.ok()??;
        (o.get_str("printStatus").ok()? == "printed").then_some(o)
    })
    .await;
    assert_eq!(eve.spooled().len(), 1, "printed once: {:?}", eve.spooled());
    assert_eq!(eve.copies_of(o.get_str("printJobId").unwrap()), 1);
    assert_eq!(o.get_i32("printAttempt").unwrap(), 1, "the unsent attempt was not spent: {o}");
    core.flush_logs().await;
    let actions = log_actions(&db, "MARK").await;
    assert_eq!(actions, ["claim", "retry", "claim", "submitted", "printed"], "{actions:?}");
    let retry = printcore_tests::fixtures::log_entries(&db, doc! { "orderId": "MARK", "action": "retry" }).await;
    assert!(retry[0].get_str("reason").unwrap().contains("nothing was sent"), "{:?}", retry[0]);
}

/// Exactly once, closed #4: an admin cancels (or resets) an order whose job is at the printer. The worker
/// driving the printer cancels the job there first; the order changes state after, and the result and
/// the log say the printer confirmed it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_cancel_or_reset_of_an_order_at_the_printer_cancels_the_job_there_first() {
    let db = fresh_database(Mode::ReplicaSet, "cancelprinter").await;
    let core = core_with(&db, CoreConfig::default()).await;
    let files = FileServer::start().await;
    files.route("/a.pdf", Route::pdf(pdf(1, A4)));
    let base = DateTime::now();
    let mut docs = Vec::new();
    for (i, id) in ["CANCEL-ME", "RESET-ME"].into_iter().enumerate() {
        let mut order = paid_order(id, base, 10 - i as i64);
        order.insert("fileURL", files.url("/a.pdf"));
        docs.push(order);
    }
    insert_orders(&db, docs).await;
    // Long jobs: each is still at the printer when the admin acts.
    let eve = IppEve::start(IppEveOptions { job_seconds: 6.0, ..IppEveOptions::default() });
    let ipp = Arc::new(IppPrinter::new(&eve.uri(), Duration::from_secs(5)).unwrap());
    let printer: Arc<dyn Printer> = ipp.clone();
    let worker = worker_with(&core, vec![(printer_identity("eve"), printer)]).await;
    worker.health_once().await;
    // The cancel service, as the worker's run loop drives it.
    let service = {
        let worker = worker.clone();
        tokio::spawn(async move {
            loop {
                let _ = worker.cancel_once().await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let admin = printcore::AdminIdentity::new("7", "boss@shop.example").unwrap();
    // A printing order is reset (back to the queue); a failed one whose job is still queued at the printer
    // (failed by an older worker's ceiling, say) is cancelled.
    for (id, action) in [("CANCEL-ME", "cancel"), ("RESET-ME", "reset_state")] {
        assert_eq!(worker.claim_once().await, 1);
        let at_printer = wait_for("the job at the printer", Duration::from_secs(30), || async {
            raw_order(&db, id).await.get_str("printerJobRef").ok().map(str::to_owned)
        })
        .await;
        let job_name = raw_order(&db, id).await.get_str("printJobId").unwrap().to_owned();
        if action == "cancel" {
            db.collection::<Document>("orders")
                .update_one(
                    doc! { "orderId": id },
                    doc! { "$set": { "printStatus": "failed", "printError": "no answer within 30 minutes" } },
                )
                .await
                .unwrap();
        }
        let outcome = if action == "cancel" {
            core.cancel(id, &admin, "customer cancelled at the counter").await.unwrap()
        } else {
            core.reset_state(id, &admin, "wrong paper loaded").await.unwrap()
        };
        assert_eq!(outcome.printer_cancel, Some(printcore::PrinterCancel::Confirmed), "{outcome:?}");
        assert!(!outcome.may_have_printed, "cancelled at the printer before it printed");
        // A job being printed stops at its next stop point, then reads cancelled.
        wait_for("the job cancelled at the printer", Duration::from_secs(30), || async {
            (ipp.job_state(&at_printer, &job_name).await.ok()? == JobState::Cancelled).then_some(())
        })
        .await;
        let o = raw_order(&db, id).await;
        assert_eq!(o.get_str("printStatus").unwrap(), if action == "cancel" { "cancelled" } else { "pending" });
        assert!(o.get("printCancelRequest").is_none(), "the request is settled: {o}");
        let entries = printcore_tests::fixtures::log_entries(&db, doc! { "orderId": id, "action": action }).await;
        assert_eq!(entries.len(), 1, "one log entry for the admin's action");
        let meta = entries[0].get_document("metadata").unwrap();
        assert_eq!(meta.get_str("printerCancel").unwrap(), "confirmed");
        assert_eq!(entries[0].get_str("adminEmail").unwrap(), "boss@shop.example");
        // The print task that followed the job stops; it never records the order printed.
        wait_for("the print task stopped", Duration::from_secs(20), || async {
            (worker.active_jobs() == 0).then_some(())
        })
        .await;
        let after = raw_order(&db, id).await;
        assert_ne!(after.get_str("printStatus").unwrap(), "printed");
        if action == "reset_state" {
            core.cancel(id, &admin, "test: keep the queue clear").await.unwrap();
        }
    }
    service.abort();
}

/// No worker drives the printer any more (its PC is off): after the wait, the admin's reset says the
/// printer was not asked, and (issue 23 item 5) the order, whose job may still print, fails "may have
/// printed" instead of going back to the queue; the admin reprints it explicitly once the printer is checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_reset_with_no_worker_for_the_printer_says_the_printer_was_not_asked() {
    let db = fresh_database(Mode::ReplicaSet, "cancelnoworker").await;
    let config = CoreConfig { printer_cancel_wait: Duration::from_secs(1), ..CoreConfig::default() };
    let core = core_with(&db, config).await;
    insert_orders(&db, vec![paid_order("ORPHAN", DateTime::now(), 10)]).await;
    let target = ClaimTarget { printer_id: "gone".into(), printer_name: "Gone".into(), capabilities: None };
    let job = core.claim(&WorkerId::generate(), &target).await.unwrap().unwrap();
    job.mark_sending().await.unwrap();
    job.mark_submitted("17").await.unwrap();
    let admin = printcore::AdminIdentity::new("7", "boss@shop.example").unwrap();
    let started = std::time::Instant::now();
    let outcome = core.reset_state("ORPHAN", &admin, "the PC is off; print it elsewhere").await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1), "it waited for a worker first");
    assert_eq!(outcome.printer_cancel, Some(printcore::PrinterCancel::NoWorker));
    assert!(outcome.may_have_printed, "the job may still print");
    assert!(outcome.printer_cancel.unwrap().to_string().contains("check the printer"));
    assert_eq!(outcome.new_status, printcore::PrintStatus::Failed);
    let o = raw_order(&db, "ORPHAN").await;
    assert_eq!(o.get_str("printStatus").unwrap(), "failed", "never back to the queue while the job may print");
    let m = o.get_str("printError").unwrap();
    assert!(m.contains("reset_state asked by boss@shop.example") && m.contains("may have printed"), "{m}");
    assert!(o.get("printCancelRequest").is_none());
    // The dead worker's print task can no longer write to it.
    assert!(job.complete().await.is_err());
    // Printing it again is the admin's explicit decision.
    let again = core.reprint("ORPHAN", &admin, "checked the printer: nothing came out").await.unwrap();
    assert_eq!(again.new_status, printcore::PrintStatus::Pending);
}

/// Exactly once, closed #2 (the journal): the printer took the job, the database was away, the worker
/// died, and the printer has since forgotten the job. The worker that starts again on the same PC finds
/// the printer's answer in its journal and records it first, so recovery fails the order "may have
/// printed" instead of printing it a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_printer_answer_kept_in_the_journal_is_recorded_at_start_and_never_printed_twice() {
    let db = fresh_database(Mode::ReplicaSet, "journal").await;
    let core = core_with(&db, CoreConfig::default()).await;
    let out = tempfile::tempdir().unwrap();
    let folder = Arc::new(FilePrinter::new(out.path(), mono_a4()));
    insert_orders(&db, vec![paid_order("JOURNAL", DateTime::now(), 10)]).await;
    let dead = WorkerId::generate();
    let target = ClaimTarget { printer_id: "folder".into(), printer_name: "Folder".into(), capabilities: None };
    let job = core.claim(&dead, &target).await.unwrap().unwrap();
    job.mark_sending().await.unwrap();
    let journal_path = out.path().join("state").join("printcore-journal.jsonl");
    let journal = printworker::journal::Journal::open(&journal_path).unwrap();
    let name = job.print_job_id().to_owned();
    journal
        .append(&printworker::journal::Entry::Sending {
            job: name.clone(),
            order: "JOURNAL".into(),
            printer: "folder".into(),
            at: 0,
        })
        .unwrap();
    let spec = JobSpec {
        job_name: name.clone(),
        order_id: "JOURNAL".into(),
        documents: vec![printcore_tests::pdfgen::pdf_file(pdf(1, A4))],
        copies: 1,
        duplex: false,
        color: false,
        page_size: None,
    };
    let job_ref = folder.submit(&spec).await.unwrap();
    journal.append(&printworker::journal::Entry::Accepted { job: name.clone(), job_ref: job_ref.clone() }).unwrap();
    drop(journal);
    // The database never heard (it was away; then the worker died), and the printer forgot the job.
    std::fs::remove_dir_all(out.path().join(&name)).unwrap();
    assert!(raw_order(&db, "JOURNAL").await.get("printerJobRef").is_none());

    let printer: Arc<dyn Printer> = folder.clone();
    let worker = worker_with(&core, vec![(printer_identity("folder"), printer)]).await;
    worker.set_journal(printworker::journal::Journal::open(&journal_path).unwrap());
    assert_eq!(worker.replay_journal().await.unwrap(), 1);
    assert_eq!(raw_order(&db, "JOURNAL").await.get_str("printerJobRef").unwrap(), job_ref);
    db.collection::<Document>("orders")
        .update_one(doc! { "orderId": "JOURNAL" }, doc! { "$set": { "printLeaseUntil": DateTime::from_millis(0) } })
        .await
        .unwrap();
    let counts = worker.recovery_once().await.unwrap();
    assert_eq!((counts.requeued, counts.failed_unknown), (0, 1), "{counts:?}");
    let o = raw_order(&db, "JOURNAL").await;
    assert_eq!(o.get_str("printStatus").unwrap(), "failed");
    assert!(o.get_str("printError").unwrap().contains("may have printed"), "{o}");
    core.flush_logs().await;
    assert_eq!(log_actions(&db, "JOURNAL").await, ["claim", "submitted", "adopt", "failed"]);
    assert!(printworker::journal::Journal::open(&journal_path).unwrap().unrecorded().unwrap().is_empty());
}

/// Performance #0, no idle printer while orders wait: a health reading of `busy` taken while the
/// worker's own job printed does not hold the next order until the next health pass (an hour here),
/// and a printer busy with another computer's job is asked again at the job-poll cadence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_paid_after_a_busy_reading_is_claimed_as_soon_as_the_printer_is_free() {
    let db = fresh_database(Mode::ReplicaSet, "idle").await;
    let core = core_with(&db, CoreConfig { log_delivery: LogDelivery::Background, ..CoreConfig::default() }).await;
    let files = FileServer::start().await;
    files.route("/a.pdf", Route::pdf(pdf(1, A4)));
    let eve = IppEve::start(IppEveOptions { job_seconds: 3.0, ..IppEveOptions::default() });
    let printer: Arc<dyn Printer> = Arc::new(IppPrinter::new(&eve.uri(), Duration::from_secs(5)).unwrap());
    let (_trigger, shutdown) = printworker::shutdown::channel();
    let slot = Arc::new(PrinterSlot::new(printer_identity("eve"), printer, None, 1));
    let hour = Duration::from_secs(3600);
    let slow = Intervals {
        poll: hour,
        health: hour,
        sweep: hour,
        job_poll: Duration::from_millis(200),
        change_streams: true,
        ..intervals()
    };
    let worker = Worker::new(core.clone(), WorkerId::generate(), fetcher(), vec![slot.clone()], slow, shutdown);
    let running = tokio::spawn(worker.clone().run());
    let pay = |id: &'static str| {
        let (db, url) = (db.clone(), files.url("/a.pdf"));
        async move {
            let mut order = paid_order(id, DateTime::now(), 0);
            order.insert("fileURL", url);
            insert_orders(&db, vec![order]).await;
        }
    };
    let status = |id: &'static str| {
        let db = db.clone();
        async move { raw_order(&db, id).await.get_str("printStatus").unwrap_or("").to_owned() }
    };
    wait_for("the first health reading", Duration::from_secs(20), || async {
        slot.reading().is_some_and(|r| r.may_claim()).then_some(())
    })
    .await;

    // The worker's own job: a health pass lands while it prints and reads the printer busy.
    pay("OWN-1").await;
    wait_for("OWN-1 at the printer", Duration::from_secs(30), || async {
        raw_order(&db, "OWN-1").await.get_str("printerJobRef").ok().map(|_| ())
    })
    .await;
    worker.health_once().await;
    assert_eq!(slot.reading().unwrap().status, printcore::PrinterStatus::Busy, "read while OWN-1 prints");
    wait_for("OWN-1 printed", Duration::from_secs(30), || async { (status("OWN-1").await == "printed").then_some(()) })
        .await;
    pay("OWN-2").await;
    wait_for("OWN-2 claimed long before the next health pass", Duration::from_secs(20), || async {
        (status("OWN-2").await != "pending").then_some(())
    })
    .await;
    wait_for("OWN-2 printed", Duration::from_secs(30), || async { (status("OWN-2").await == "printed").then_some(()) })
        .await;

    // Another computer's job keeps the printer busy: the order waits for it, then is claimed at once.
    let other = tempfile::tempdir().unwrap();
    let file = other.path().join("other.pdf");
    std::fs::write(&file, pdf(1, A4)).unwrap();
    let foreign = IppPrinter::new(&eve.uri(), Duration::from_secs(5)).unwrap();
    let spec = JobSpec {
        job_name: "someone-elses-job".into(),
        order_id: "-".into(),
        documents: vec![file],
        copies: 1,
        duplex: false,
        color: false,
        page_size: None,
    };
    let foreign_ref = foreign.submit(&spec).await.unwrap();
    worker.health_once().await;
    assert_eq!(slot.reading().unwrap().status, printcore::PrinterStatus::Busy, "read while the other job prints");
    pay("AFTER-OTHER").await;
    wait_for("AFTER-OTHER claimed once the other job is done", Duration::from_secs(30), || async {
        (status("AFTER-OTHER").await != "pending").then_some(())
    })
    .await;
    let state = foreign.job_state(&foreign_ref, "someone-elses-job").await.unwrap();
    assert_eq!(state, JobState::Completed, "claimed only after the other computer's job finished");
    wait_for("AFTER-OTHER printed", Duration::from_secs(30), || async {
        (status("AFTER-OTHER").await == "printed").then_some(())
    })
    .await;
    running.abort();
    for id in ["OWN-1", "OWN-2", "AFTER-OTHER"] {
        assert_eq!(eve.copies_of(raw_order(&db, id).await.get_str("printJobId").unwrap()), 1, "{id} printed once");
    }
}
