//! Print PCs whose printers take the same orders share the paid orders by turns ([`printcore::ClaimTurns`])
//! instead of all claiming each one: real workers (`Worker::run`, change streams, folder printers) on one
//! database, every command they send counted by the driver.

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use mongodb::Database;
use printcore::{CoreConfig, PrintCore, PrinterCapabilities, PrinterHealth, PrinterStatus, WorkerId};
use printcore_tests::db::{counted_database_by, server, CommandCounts, Mode};
use printcore_tests::fileserver::{FileServer, Route};
use printcore_tests::fixtures::{core_with, loopback_fetcher, paid_order, printer_identity};
use printcore_tests::pdfgen::{pdf, A4};
use printcore_tests::wait_for;
use printworker::backends::FilePrinter;
use printworker::service::{Intervals, PrinterSlot, Worker};
use printworker::shutdown::ShutdownTrigger;
use printworker::Printer;
use std::sync::Arc;
use std::time::Duration;

fn mono_a4() -> PrinterCapabilities {
    PrinterCapabilities { page_sizes: vec!["A4".into()], color: false, duplex: false, max_copies: 10 }
}

/// Change streams on; every periodic pass far away except the ones an event or a job asks for, so what is
/// counted is what the orders cost.
fn intervals(claim_fallback: Duration) -> Intervals {
    let hour = Duration::from_secs(3600);
    Intervals {
        poll: Duration::from_secs(5),
        health: hour,
        recovery: hour,
        stuck_check: hour,
        metrics: hour,
        job_poll: Duration::from_millis(100),
        shutdown_grace: Duration::from_secs(5),
        change_streams: true,
        sweep: hour,
        change_stream_wait: Duration::from_secs(60),
        health_record: hour,
        claim_fallback,
    }
}

/// A print PC: a running worker with two folder printers of one kind.
struct Pc {
    worker: Arc<Worker>,
    trigger: ShutdownTrigger,
    run: tokio::task::JoinHandle<()>,
    _out: tempfile::TempDir,
}

fn start_pc(core: &PrintCore, name: &str, claim_fallback: Duration) -> Pc {
    let out = tempfile::tempdir().unwrap();
    let slots = (0..2)
        .map(|p| {
            let id = format!("{name}-{p}");
            let printer: Arc<dyn Printer> = Arc::new(FilePrinter::new(out.path().join(&id), mono_a4()));
            Arc::new(PrinterSlot::new(printer_identity(&id), printer, None, 1))
        })
        .collect();
    let (trigger, shutdown) = printworker::shutdown::channel();
    let worker = Worker::new(
        core.clone(),
        WorkerId::from_string(name).unwrap(),
        loopback_fetcher(),
        slots,
        intervals(claim_fallback),
        shutdown,
    );
    let run = tokio::spawn(worker.clone().run());
    Pc { worker, trigger, run, _out: out }
}

impl Pc {
    /// Stops the worker as a shutdown signal would.
    async fn stop(self) {
        self.trigger.trigger();
        tokio::time::timeout(Duration::from_secs(30), self.run).await.expect("the worker stops").unwrap();
    }
}

/// Waits until the print PCs have sent nothing for half a second: their start-up's work (the first
/// health pass, sweep and claim) is over, so what happens next is what the test does.
async fn wait_quiet(counts: &CommandCounts) {
    let total = || counts.lock().unwrap().values().sum::<usize>();
    let mut last = (total(), std::time::Instant::now());
    wait_for("the print PCs to go quiet", Duration::from_secs(30), || {
        let now = total();
        if now != last.0 {
            last = (now, std::time::Instant::now());
        }
        let quiet = last.1.elapsed() >= Duration::from_millis(500);
        async move { quiet.then_some(()) }
    })
    .await;
}

async fn wait_for_peers(pcs: &[Pc], peers: usize) {
    wait_for("every print PC to see its peers", Duration::from_secs(30), || async {
        pcs.iter().all(|pc| pc.worker.claim_turns().peers().len() == peers).then_some(())
    })
    .await;
}

/// Inserts a paid order (with `_id` `id`).
async fn pay(db: &Database, files: &FileServer, order_id: &str, id: ObjectId) {
    let mut order = paid_order(order_id, DateTime::now(), 0);
    order.insert("_id", id);
    order.insert("fileURL", files.url("/a.pdf"));
    db.collection::<Document>("orders").insert_one(order).await.unwrap();
}

/// [`pay`], then waits until the order is printed; returns it.
async fn pay_and_wait(db: &Database, files: &FileServer, order_id: &str, id: ObjectId) -> Document {
    pay(db, files, order_id, id).await;
    printed(db, order_id, id).await
}

async fn printed(db: &Database, order_id: &str, id: ObjectId) -> Document {
    let orders = db.collection::<Document>("orders");
    wait_for(&format!("order {order_id} printed"), Duration::from_secs(20), || async {
        let o = orders.find_one(doc! { "_id": id }).await.ok()??;
        (o.get_str("printStatus").ok()? == "printed").then_some(o)
    })
    .await
}

fn count(c: &CommandCounts, name: &str) -> usize {
    c.lock().unwrap().get(name).copied().unwrap_or(0)
}

/// A database for one test: the print PCs' handle, whose commands are counted, and the test's own.
/// A `find` is counted as `find` when it reads `orders` (a claim's read of the queue) and under
/// `find <collection>` otherwise: the rejection pass reads `printers` at most every `intervals.poll`,
/// whether or not an order came, and falls inside a trickle or not by how long it took.
async fn databases(tag: &str) -> (PrintCore, CommandCounts, Database) {
    let (counted, counts) = counted_database_by(Mode::ReplicaSet, tag, |s| match s.command.get_str("find") {
        Ok(coll) if s.command_name == "find" && coll != "orders" => format!("find {coll}"),
        _ => s.command_name.clone(),
    })
    .await;
    let core = core_with(&counted, CoreConfig::default()).await;
    core.migrate(&Default::default()).await.unwrap();
    let client = mongodb::Client::with_uri_str(&server(Mode::ReplicaSet).uri).await.unwrap();
    (core, counts, client.database(counted.name()))
}

/// `pcs` print PCs print `orders` orders paid one after another; returns (`findAndModify`, `find` of
/// `orders`) per order the print PCs sent and how many PCs printed at least one.
async fn trickle(pcs: usize, orders: usize, tag: &str) -> (f64, f64, usize) {
    let (core, counts, db) = databases(tag).await;
    let files = FileServer::start().await;
    files.route("/a.pdf", Route::pdf(pdf(1, A4)));
    let fleet: Vec<Pc> =
        (0..pcs).map(|i| start_pc(&core, &format!("{tag}-pc{i}"), Duration::from_millis(500))).collect();
    wait_for_peers(&fleet, pcs).await;
    // The first order's claims warm what a start leaves cold; counting starts after it.
    pay_and_wait(&db, &files, &format!("{tag}-warm"), ObjectId::new()).await;
    counts.lock().unwrap().clear();
    let mut printed_by = std::collections::BTreeSet::new();
    for i in 0..orders {
        let o = pay_and_wait(&db, &files, &format!("{tag}-{i}"), ObjectId::new()).await;
        assert_eq!(o.get_i32("printAttempt").ok().map(i64::from).or(o.get_i64("printAttempt").ok()), Some(1));
        let printer = o.get_str("printerId").unwrap();
        printed_by.insert(printer.rsplit_once('-').unwrap().0.to_owned());
    }
    let per = |n: usize| n as f64 / orders as f64;
    let (fam, find) = (per(count(&counts, "findAndModify")), per(count(&counts, "find")));
    eprintln!(
        "{pcs} print PCs: per order {fam:.2} findAndModify, {find:.2} find; printed by {printed_by:?}; all: {:?}",
        counts.lock().unwrap()
    );
    for pc in fleet {
        pc.stop().await;
    }
    (fam, find, printed_by.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_print_pcs_cost_the_database_per_order_what_one_costs_plus_the_fallbacks_claims_by_id() {
    let (fam1, find1, _) = trickle(1, 12, "turns1").await;
    // Alone: one claim round an order (a read of the queue's head, the write taking it). A job's end
    // claims again only when an order may wait (`Owed` in the worker's claim.rs); each order came with
    // a printer free, so nothing did: a claim there would be a second read an order, for nothing.
    assert!(
        fam1 <= 1.05 && find1 <= 1.05,
        "one PC: {fam1:.2} findAndModify and {find1:.2} find an order: its job ends claimed with nothing waiting"
    );
    let (fam4, find4, pcs_used) = trickle(4, 24, "turns4").await;
    // The three other PCs each claim the order by `_id` once after their fallback delay, with a free
    // printer (a `findAndModify` that finds it taken): three commands an order more than one PC sends, and
    // never a read of the queue. Every PC claiming every order would add a claim round per extra PC (a read
    // of the queue's head and a claim per free printer, racing): two or more commands each.
    let (one, four) = (fam1 + find1, fam4 + find4);
    assert!(
        four <= one + 3.25,
        "four PCs: {fam4:.2} findAndModify and {find4:.2} find an order, against {fam1:.2} and {find1:.2} for \
         one: the PCs race for each order"
    );
    assert!(find4 <= find1 + 0.25, "four PCs: {find4:.2} find an order against {find1:.2} for one: a read more");
    assert!(pcs_used >= 3, "the turns spread the orders over the PCs: only {pcs_used} of 4 printed any");
}

/// Records a print PC that stopped a moment ago: its printers' last health write says online, with the
/// same capabilities, so the others still count it as a peer.
async fn record_stopped_pc(core: &PrintCore, name: &str) {
    for p in 0..2 {
        record_stopped_printer(core, name, &format!("{name}-{p}"), mono_a4()).await;
    }
}

/// Records one printer of the stopped print PC `worker`: its last health write says online, taking `caps`.
async fn record_stopped_printer(core: &PrintCore, worker: &str, printer_id: &str, caps: PrinterCapabilities) {
    core.record_printer_health(&PrinterHealth {
        printer_id: printer_id.to_owned(),
        name: format!("Printer {printer_id}"),
        printer_name: printer_id.to_owned(),
        status: PrinterStatus::Online,
        queue_length: Some(0),
        error_message: None,
        driver_name: None,
        system_name: Some("Linux".into()),
        connection_type: None,
        capabilities: Some(caps),
        worker_id: worker.to_owned(),
        reachable: true,
        last_successful_print_at: None,
        state_reasons: Vec::new(),
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_whose_first_turns_are_stopped_print_pcs_is_claimed_by_the_next_after_their_delays() {
    let (core, counts, db) = databases("turnsghost").await;
    let files = FileServer::start().await;
    files.route("/a.pdf", Route::pdf(pdf(1, A4)));
    record_stopped_pc(&core, "ghost-1").await;
    record_stopped_pc(&core, "ghost-2").await;
    let fallback = Duration::from_secs(1);
    let fleet = [start_pc(&core, "pc-a", fallback), start_pc(&core, "pc-b", fallback)];
    wait_for_peers(&fleet, 4).await;
    let view = fleet[0].worker.claim_turns();
    assert_eq!(view.peers(), ["ghost-1", "ghost-2", "pc-a", "pc-b"]);
    let stopped_first = |stopped: usize| loop {
        let id = ObjectId::new();
        let ranking = view.ranking(&id);
        if ranking[..stopped].iter().all(|p| p.starts_with("ghost")) && !ranking[stopped].starts_with("ghost") {
            return (id, ranking[stopped].to_owned());
        }
    };

    // With every PC idle, only a fallback can take it: the first running PC in its turns, after that
    // turn's delays (on this process's clock: the workers' estimate of the server's clock is not precise
    // enough for this).
    for stopped in [1, 2] {
        let (id, next) = stopped_first(stopped);
        let name = format!("STOPPED-FIRST-{stopped}");
        // The claim a PC makes when its job ends is over too.
        wait_quiet(&counts).await;
        let paid = std::time::Instant::now();
        pay(&db, &files, &name, id).await;
        tokio::time::sleep_until((paid + fallback * stopped as u32 - fallback / 2).into()).await;
        let o = db.collection::<Document>("orders").find_one(doc! { "_id": id }).await.unwrap().unwrap();
        // What the read saw is from before the turn when its answer came back before it (a loaded machine
        // may wake this task late: a later read may rightly see the order taken).
        if paid.elapsed() < fallback * stopped as u32 {
            assert_eq!(o.get_str("printStatus"), Ok("pending"), "{name} claimed before its turn: {o}");
        }
        let o = printed(&db, &name, id).await;
        let waited = paid.elapsed();
        let printer = o.get_str("printerId").unwrap();
        assert!(printer.starts_with(&next), "{name} claimed by {printer}, not by {next} whose turn it was");
        assert!(waited < fallback * stopped as u32 + Duration::from_secs(5), "{name} printed {waited:?} after payment");
    }

    // A mix of orders, half of them the stopped PCs' first: none waits for a sweep.
    for i in 0..16 {
        let id = if i % 2 == 0 { stopped_first(1 + i % 4 / 2).0 } else { ObjectId::new() };
        let paid = std::time::Instant::now();
        let o = pay_and_wait(&db, &files, &format!("MIX-{i}"), id).await;
        let waited = paid.elapsed();
        assert!(waited < fallback * 2 + Duration::from_secs(5), "order MIX-{i} was printed {waited:?} after payment");
        assert!(!o.get_str("printerId").unwrap().starts_with("ghost"));
    }
    for pc in fleet {
        pc.stop().await;
    }
}

/// Pays `orders` orders at once (one `insert_many`, as a backlog the print PCs find together) and waits
/// until every one is printed; returns the orders the print PCs' claims tried to take and did not
/// (a ranged claim that found nothing, an order another claimer took first: [`printcore::ClaimStats`]),
/// per order, and how many PCs printed.
async fn backlog(pcs: usize, orders: usize, tag: &str) -> (f64, usize) {
    let (core, counts, db) = databases(tag).await;
    let files = FileServer::start().await;
    files.route("/a.pdf", Route::pdf(pdf(1, A4)));
    let fleet: Vec<Pc> = (0..pcs).map(|i| start_pc(&core, &format!("{tag}-pc{i}"), Duration::from_secs(5))).collect();
    wait_for_peers(&fleet, pcs).await;
    wait_quiet(&counts).await;
    counts.lock().unwrap().clear();
    let before = core.claim_stats();
    let now = DateTime::now();
    let batch: Vec<Document> = (0..orders)
        .map(|i| {
            // Oldest first in the order they are numbered.
            let mut o = paid_order(&format!("{tag}-{i}"), now, (orders - i) as i64);
            o.insert("fileURL", files.url("/a.pdf"));
            o
        })
        .collect();
    let coll = db.collection::<Document>("orders");
    coll.insert_many(batch).await.unwrap();
    wait_for(&format!("{orders} orders printed"), Duration::from_secs(60), || async {
        let n = coll.count_documents(doc! { "printStatus": "printed" }).await.ok()?;
        (n as usize == orders).then_some(())
    })
    .await;
    let tries = core.claim_stats();
    let (tried, taken) = (tries.tried - before.tried, tries.taken - before.taken);
    let mut printed_by = std::collections::BTreeSet::new();
    let mut attempts = 0;
    let mut cursor = coll.find(doc! {}).await.unwrap();
    use futures::TryStreamExt;
    while let Some(o) = cursor.try_next().await.unwrap() {
        attempts += o.get_i32("printAttempt").map(i64::from).or(o.get_i64("printAttempt")).unwrap();
        printed_by.insert(o.get_str("printerId").unwrap().rsplit_once('-').unwrap().0.to_owned());
    }
    assert_eq!(attempts, orders as i64, "each order claimed once");
    assert_eq!(taken, orders as u64, "the claims counted as taken are the orders claimed");
    let wasted = (tried - taken) as f64 / orders as f64;
    eprintln!(
        "{pcs} print PCs, backlog of {orders}: {wasted:.2} claim tries an order took nothing ({tried} tries); {:?}",
        counts.lock().unwrap()
    );
    for pc in fleet {
        pc.stop().await;
    }
    (wasted, printed_by.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_print_pcs_draining_a_backlog_take_their_own_turns_instead_of_racing_for_its_head() {
    let (wasted, pcs_used) = backlog(4, 80, "turnsbacklog").await;
    // Every PC taking the queue's head in claim order: its two printers' claims and the other PCs' race
    // for the same first orders each time jobs end together.
    assert!(wasted <= 0.15, "{wasted:.2} claim tries an order took nothing: the PCs raced for the queue's head");
    assert_eq!(pcs_used, 4, "every PC printed part of the backlog");
}

/// A job's end claims only while an order may wait; a backlog is one: a print PC alone (no fallback
/// turns) with two printers prints 30 orders paid at once with the sweep an hour away, each job's end
/// claiming the next, and takes each order once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_print_pc_alone_drains_a_backlog_by_its_job_ends_without_the_sweep() {
    let (wasted, pcs_used) = backlog(1, 30, "jobendbacklog").await;
    assert_eq!(pcs_used, 1);
    assert!(wasted <= 0.1, "{wasted:.2} claim tries an order took nothing");
}

/// A folder printer whose jobs wait for the test before they are written: the printer is busy for as
/// long as the test likes.
struct HeldFolder {
    inner: FilePrinter,
    gate: tokio::sync::Semaphore,
}

#[async_trait::async_trait]
impl Printer for HeldFolder {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn status(&self) -> Result<printworker::PrinterState, printworker::PrinterError> {
        self.inner.status().await
    }
    async fn capabilities(&self) -> Result<PrinterCapabilities, printworker::PrinterError> {
        self.inner.capabilities().await
    }
    async fn submit(&self, job: &printworker::JobSpec) -> Result<String, printworker::PrinterError> {
        let _go = self.gate.acquire().await.unwrap();
        self.inner.submit(job).await
    }
    async fn job_state(
        &self,
        job_ref: &str,
        job_name: &str,
    ) -> Result<printworker::JobState, printworker::PrinterError> {
        self.inner.job_state(job_ref, job_name).await
    }
    async fn find_job(&self, job_name: &str) -> Result<Option<printworker::FoundJob>, printworker::PrinterError> {
        self.inner.find_job(job_name).await
    }
    async fn cancel(&self, job_ref: &str) -> Result<(), printworker::PrinterError> {
        self.inner.cancel(job_ref).await
    }
    fn can_look_up_jobs(&self) -> bool {
        self.inner.can_look_up_jobs()
    }
    fn complete_when_taken(&self) -> bool {
        self.inner.complete_when_taken()
    }
}

fn colour_a4() -> PrinterCapabilities {
    PrinterCapabilities { page_sizes: vec!["A4".into()], color: true, duplex: false, max_copies: 10 }
}

/// A fallback look that finds the printers for its order busy, while a printer of another kind is free,
/// leaves the order to the busy printer's job's end: a colour order whose turn 0 is a stopped PC waits
/// at the next PC only while that PC's colour printer prints, never for the sweep (an hour away here).
/// Without it, the free mono printer's look (nothing it can take) was taken for the whole PC's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fallback_look_that_finds_its_orders_printer_busy_leaves_the_order_to_that_printers_next_job_end() {
    let (core, _counts, db) = databases("turnsbusykind").await;
    let files = FileServer::start().await;
    files.route("/a.pdf", Route::pdf(pdf(1, A4)));
    // A stopped PC with the same two kinds of printer: a peer, first in the turns of some orders.
    record_stopped_printer(&core, "ghost", "ghost-mono", mono_a4()).await;
    record_stopped_printer(&core, "ghost", "ghost-colour", colour_a4()).await;
    let out = tempfile::tempdir().unwrap();
    let mono: Arc<dyn Printer> = Arc::new(FilePrinter::new(out.path().join("mono"), mono_a4()));
    let held = Arc::new(HeldFolder {
        inner: FilePrinter::new(out.path().join("colour"), colour_a4()),
        gate: tokio::sync::Semaphore::new(0),
    });
    let colour: Arc<dyn Printer> = held.clone();
    let slots = vec![
        Arc::new(PrinterSlot::new(printer_identity("pc-mono"), mono, None, 1)),
        Arc::new(PrinterSlot::new(printer_identity("pc-colour"), colour, None, 1)),
    ];
    let (trigger, shutdown) = printworker::shutdown::channel();
    let fallback = Duration::from_millis(500);
    let worker = Worker::new(
        core.clone(),
        WorkerId::from_string("pc").unwrap(),
        loopback_fetcher(),
        slots,
        intervals(fallback),
        shutdown,
    );
    let run = tokio::spawn(worker.clone().run());
    wait_for("the print PC to see the stopped one", Duration::from_secs(30), || async {
        (worker.claim_turns().peers().len() == 2).then_some(())
    })
    .await;
    let turns = worker.claim_turns();
    let first = |who: &str| loop {
        let id = ObjectId::new();
        if turns.ranking(&id)[0] == who {
            return id;
        }
    };
    let colour_order = |name: &str, id: ObjectId| {
        let mut o = paid_order(name, DateTime::now(), 0);
        o.insert("_id", id);
        o.insert("fileURL", files.url("/a.pdf"));
        o.insert("printingOptions", doc! { "pageSize": "A4", "color": true, "duplex": false, "copies": 1 });
        o
    };
    let orders = db.collection::<Document>("orders");
    // The colour printer busy with an order whose turn 0 is the stopped PC, taken by this PC's fallback
    // look (a claim by `_id`, not a claim pass: nothing is owed after it).
    let busy = first("ghost");
    orders.insert_one(colour_order("BUSY", busy)).await.unwrap();
    wait_for("the colour printer busy", Duration::from_secs(20), || async {
        let o = orders.find_one(doc! { "_id": busy }).await.ok()??;
        (o.get_str("printStatus").ok()? == "printing").then_some(())
    })
    .await;
    // A colour order whose turn 0 is the stopped PC: this PC's fallback look comes due with the colour
    // printer busy and the mono one free (it cannot take the order).
    let waiting = first("ghost");
    orders.insert_one(colour_order("WAITING", waiting)).await.unwrap();
    tokio::time::sleep(fallback * 3).await;
    let o = orders.find_one(doc! { "_id": waiting }).await.unwrap().unwrap();
    assert_eq!(o.get_str("printStatus"), Ok("pending"), "claimed while its printer was busy: {o}");
    // The busy job ends: its end claims the order that waits for it.
    held.gate.add_permits(100);
    printed(&db, "BUSY", busy).await;
    let o = printed(&db, "WAITING", waiting).await;
    assert_eq!(o.get_str("printerId"), Ok("pc-colour"));
    trigger.trigger();
    tokio::time::timeout(Duration::from_secs(30), run).await.expect("the worker stops").unwrap();
}
