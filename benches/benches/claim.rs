//! Claims per second with 1, 4 and 8 concurrent claimers: printcore's claim (with its audit entry and log
//! delivery in background mode) against a plain mongodb-driver `findOneAndUpdate` loop doing the seed's
//! claim, on the same server in the same run. Prints the ratio (goal: at least 0.9).
//!
//! `cargo bench -p printcore-benches --bench claim` (ORDERS=1000 RUNS=3 by default).

use bson::{doc, DateTime, Document};
use mongodb::Database;
use printcore::{ClaimTarget, CoreConfig, LogDelivery, PrintCore, WorkerId};
use printcore_benches::{env_or, item, median, quick};
use printcore_tests::db::{fresh_database, server, Mode};
use printcore_tests::explain::{aggregate_stat, execution_stat, plan_stages, plan_summary};
use printcore_tests::fixtures::{insert_orders, paid_order};
use std::time::Instant;

async fn seeded(orders: usize) -> Database {
    let db = fresh_database(Mode::ReplicaSet, "bench").await;
    let core = PrintCore::with_database(db.clone(), CoreConfig::default()).await.unwrap();
    core.migrate(&Default::default()).await.unwrap();
    let base = DateTime::now();
    let docs: Vec<Document> = (0..orders).map(|i| paid_order(&format!("B{i}"), base, (orders - i) as i64)).collect();
    for chunk in docs.chunks(1000) {
        insert_orders(&db, chunk.to_vec()).await;
    }
    db
}

/// Claims until the queue is empty with `claimers` tasks; returns claims per second.
async fn printcore_run(orders: usize, claimers: usize) -> f64 {
    let db = seeded(orders).await;
    let config = CoreConfig { log_delivery: LogDelivery::Background, ..CoreConfig::default() };
    let core = PrintCore::with_database(db.clone(), config).await.unwrap();
    let target = ClaimTarget { printer_id: "p".into(), printer_name: "P".into(), capabilities: None };
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..claimers {
        let (core, target) = (core.clone(), target.clone());
        tasks.push(tokio::spawn(async move {
            let w = WorkerId::generate();
            let mut n = 0usize;
            while core.claim(&w, &target).await.unwrap().is_some() {
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    core.flush_logs().await;
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(total, orders);
    let _ = db.drop().await;
    total as f64 / secs
}

/// The same claim with the plain driver: one findOneAndUpdate per order with printcore's filter, sort and
/// fields, but no audit entry, no log delivery, no parsing into an `Order`.
async fn baseline_run(orders: usize, claimers: usize) -> f64 {
    let db = seeded(orders).await;
    let coll = db.collection::<Document>("orders");
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..claimers {
        let coll = coll.clone();
        let claim = printcore::queue::claim_query(None);
        tasks.push(tokio::spawn(async move {
            let w = uuid::Uuid::new_v4().to_string();
            let mut n = 0usize;
            loop {
                let got = coll
                    .find_one_and_update(
                        claim.filter.clone(),
                        doc! { "$set": {
                            "printStatus": "printing",
                            "printStartedAt": DateTime::now(),
                            "printJobId": uuid::Uuid::new_v4().to_string(),
                            "printingBy": &w,
                            "printLeaseUntil": DateTime::now(),
                            "printerId": "p",
                            "printerName": "P",
                        }, "$inc": { "printAttempt": 1 } },
                    )
                    .sort(claim.sort.clone())
                    .hint(mongodb::options::Hint::Name(claim.index.into()))
                    .return_document(mongodb::options::ReturnDocument::After)
                    .await
                    .unwrap();
                if got.is_none() {
                    break;
                }
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(total, orders);
    let _ = db.drop().await;
    total as f64 / secs
}

/// The claim's plan with execution statistics at `n` pending orders, where the oldest half (first in claim
/// order) is `scheduled` in the future, `needs_colour` or `needs_a3` for a mono A4 printer, or `mixed`
/// (those three in turn): (keys examined, documents examined, plan stages, ms per real claim).
async fn claim_plan(n: usize, oldest_half: &str) -> (i64, i64, String, f64) {
    let db = fresh_database(Mode::ReplicaSet, "plan").await;
    let core = PrintCore::with_database(db.clone(), CoreConfig::default()).await.unwrap();
    core.migrate(&Default::default()).await.unwrap();
    let base = DateTime::now();
    let future = DateTime::from_millis(base.timestamp_millis() + 86_400_000);
    let docs: Vec<Document> = (0..n)
        .map(|i| {
            let mut d = paid_order(&format!("P{i}"), base, (n - i) as i64);
            if i < n / 2 {
                match oldest_half {
                    "scheduled" => {
                        d.insert("printNotBefore", future);
                    }
                    "needs_colour" => {
                        d.insert("printingOptions", doc! { "color": true });
                    }
                    "needs_a3" => {
                        d.insert("printingOptions", doc! { "pageSize": "A3" });
                    }
                    "mixed" => match i % 3 {
                        0 => {
                            d.insert("printNotBefore", future);
                        }
                        1 => {
                            d.insert("printingOptions", doc! { "color": true, "pageSize": "A4" });
                        }
                        _ => {
                            d.insert("printingOptions", doc! { "pageSize": "a3", "duplex": true });
                        }
                    },
                    _ => {}
                }
            }
            d
        })
        .collect();
    for chunk in docs.chunks(10_000) {
        db.collection::<Document>("orders").insert_many(chunk.to_vec()).await.unwrap();
    }
    let caps =
        printcore::PrinterCapabilities { page_sizes: vec!["A4".into()], color: false, duplex: true, max_copies: 99 };
    let target = ClaimTarget { printer_id: "p".into(), printer_name: "P".into(), capabilities: Some(caps) };
    // The claim's own command (findAndModify), explained: it changes nothing.
    let r = core.explain_claim(&target).await.unwrap();
    // What it costs: the median of 20 real claims for that printer.
    let worker = WorkerId::generate();
    let mut times = Vec::new();
    for _ in 0..20 {
        let start = Instant::now();
        assert!(core.claim(&worker, &target).await.unwrap().is_some());
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let _ = db.drop().await;
    let (keys, docs) = (execution_stat(&r, "totalKeysExamined"), execution_stat(&r, "totalDocsExamined"));
    (keys, docs, plan_summary(&plan_stages(&r)), median(times))
}

/// The checks of the waiting orders (malformed print fields, no printer can take the order) at `n`
/// pending orders: one worker's walk over a whole round (`PrintCore::check_waiting`, a window of 1,000 a
/// run) against the reads the checks made before, each over the whole queue (the malformed-order `find`
/// and the rejection `find`, as they were), on the same orders in the same run. Returns (runs in the
/// round, median ms a run, max ms a run, the two whole-queue reads' ms, keys and documents examined by a
/// run in the middle of the walk).
async fn waiting_checks(n: usize) -> (usize, f64, f64, f64, i64, i64) {
    use printcore::queue::{WaitingChecks, WaitingWalk, WAITING_WINDOW};
    let db = seeded(n).await;
    let core = PrintCore::with_database(db.clone(), CoreConfig::default()).await.unwrap();
    let caps =
        printcore::PrinterCapabilities { page_sizes: vec!["A4".into()], color: false, duplex: true, max_copies: 99 };
    core.record_printer_health(&printcore::PrinterHealth {
        printer_id: "p".into(),
        name: "P".into(),
        printer_name: "P".into(),
        status: printcore::PrinterStatus::Online,
        queue_length: Some(0),
        error_message: None,
        driver_name: None,
        system_name: None,
        connection_type: None,
        capabilities: Some(caps.clone()),
        worker_id: "bench".into(),
        reachable: true,
        last_successful_print_at: None,
        state_reasons: Vec::new(),
    })
    .await
    .unwrap();
    // Before: each check read every waiting order with its conditions (limit 50), one `find` each.
    let orders = db.collection::<Document>("orders");
    let malformed = doc! {
        "printStatus": "pending", "paymentStatus": "completed", "$or": printcore::model::malformed_conditions(),
    };
    let mut fits = printcore::queue::capability_filter(&caps);
    fits.push(doc! { "printSkipPrinters": { "$ne": "p" } });
    let unprintable = doc! {
        "printStatus": "pending", "paymentStatus": "completed",
        "$and": [
            { "$or": [ { "fileURL": { "$type": "string", "$gt": "" } }, { "fileURLs.0": { "$type": "string", "$gt": "" } } ] },
            { "$nor": [ { "$and": fits } ] },
            { "$nor": printcore::model::malformed_conditions() },
        ],
    };
    let mut before = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        for filter in [&malformed, &unprintable] {
            let mut cursor = orders.find(filter.clone()).limit(50).await.unwrap();
            while cursor.advance().await.unwrap() {}
        }
        before.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let worker = WorkerId::generate();
    let mut walk = WaitingWalk::new();
    let (mut times, mut mid) = (Vec::new(), None);
    loop {
        let start = Instant::now();
        let pass = core.check_waiting(&worker, &mut walk, WAITING_WINDOW, WaitingChecks::ALL, 50).await.unwrap();
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        assert!(pass.malformed.is_empty() && pass.rejected.is_empty() && pass.judged_unprintable);
        if mid.is_none() && !walk.at_start() {
            mid = Some(core.explain_waiting(&walk, WAITING_WINDOW).await.unwrap());
        }
        if pass.round_done {
            break;
        }
    }
    let stat = |key: &str| mid.as_ref().map_or(-1, |plan| aggregate_stat(plan, key));
    let (keys, docs) = (stat("totalKeysExamined"), stat("totalDocsExamined"));
    let _ = db.drop().await;
    let runs = times.len();
    let max = times.iter().cloned().fold(0.0, f64::max);
    (runs, median(times), max, median(before), keys, docs)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = quick();
    let orders = env_or("ORDERS", if quick { 200 } else { 1000 });
    let runs = env_or("RUNS", if quick { 1 } else { 3 });
    println!(
        "claim throughput: {orders} orders, median of {runs} runs, server {}",
        printcore::redact_uri(&server(Mode::ReplicaSet).uri)
    );
    println!("{:>9} | {:>14} | {:>14} | {:>6}", "claimers", "printcore/s", "plain driver/s", "ratio");
    for claimers in [1, 4, 8] {
        let mut ours = Vec::new();
        let mut base = Vec::new();
        for _ in 0..runs {
            // Alternate so drift in the server (cache, compaction) hits both sides alike.
            base.push(baseline_run(orders, claimers).await);
            ours.push(printcore_run(orders, claimers).await);
        }
        let (o, b) = (median(ours), median(base));
        println!("{claimers:>9} | {o:>14.0} | {b:>14.0} | {:>6.2}", o / b);
        if claimers == 1 {
            item(
                "4. claims/s, one claimer",
                &format!("{o:.0}"),
                &format!("bare driver {b:.0}"),
                &format!("{:.2}", o / b),
                ">= 0.9",
                Some(o / b >= 0.9),
            );
        }
    }
    let pending = env_or("PLAN_ORDERS", if quick { 2000 } else { 100_000 });
    println!();
    println!("the claim's plan at {pending} pending orders (printer: A4, no colour, duplex), one claim (limit 1):");
    println!(
        "{:<44} | {:>13} | {:>13} | {:>8} | plan",
        "oldest half of the queue", "keys examined", "docs examined", "ms/claim"
    );
    let mut plain_keys = 0;
    for (label, kind) in [
        ("like the rest (all claimable)", "none"),
        ("scheduled for tomorrow (printNotBefore)", "scheduled"),
        ("needing colour the printer lacks", "needs_colour"),
        ("needing A3 the printer lacks", "needs_a3"),
        ("scheduled, colour or A3 in turn", "mixed"),
    ] {
        let (keys, docs, plan, ms) = claim_plan(pending, kind).await;
        println!("{label:<44} | {keys:>13} | {docs:>13} | {ms:>8.1} | {plan}");
        if kind == "none" {
            plain_keys = keys;
        } else {
            item(
                &format!("4. keys examined per claim at {pending} pending, oldest half {label}"),
                &keys.to_string(),
                &format!("all claimable {plain_keys}"),
                &format!("{:.1}", keys as f64 / plain_keys.max(1) as f64),
                "bounded: at most 100 keys, whatever the queue",
                Some((0..=100).contains(&keys)),
            );
        }
    }
    println!();
    let (runs, run_ms, max_ms, before_ms, keys, docs) = waiting_checks(pending).await;
    println!("the checks of the waiting orders at {pending} pending (malformed, no printer can take them):");
    println!("  before: the two whole-queue reads, {before_ms:.1} ms (median of 3)");
    println!("  a window of 1,000 a run: median {run_ms:.1} ms, max {max_ms:.1} ms, {runs} runs for the round");
    println!("  a run after the first (explain) examines {keys} keys and {docs} documents");
    item(
        &format!("25.1 the checks of the waiting orders at {pending} pending, one run (ms; keys examined)"),
        &format!("{run_ms:.0} ms; {keys} keys, {docs} documents"),
        &format!("two whole-queue reads {before_ms:.0} ms"),
        &format!("{:.2}", run_ms / before_ms.max(0.001)),
        "bounded by an index: at most 1,000 keys and documents a run",
        Some((1..=1001).contains(&keys) && (0..=1000).contains(&docs)),
    );
}
