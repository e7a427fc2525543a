//! The queue core against a real database server: claim, fencing, leases, recovery, audit.

use bson::{doc, DateTime, Document};
use printcore::{
    ClaimTarget, CoreConfig, Error, LogDelivery, MarkPaid, MarkPaidOutcome, PrintCore, PrintStatus,
    PrinterCapabilities, RetryOutcome, WorkerId,
};
use printcore_tests::db::{counted_database, fresh_database, Mode};
use printcore_tests::fixtures::*;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

fn target() -> ClaimTarget {
    ClaimTarget { printer_id: "front".into(), printer_name: "Front desk".into(), capabilities: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_claimers_take_each_of_2000_orders_exactly_once_in_priority_then_age_order() {
    let db = fresh_database(Mode::ReplicaSet, "claim8").await;
    let config = CoreConfig { log_delivery: LogDelivery::Background, ..CoreConfig::default() };
    let core = core_with(&db, config).await;
    core.migrate(&Default::default()).await.unwrap();
    let base = DateTime::now();
    let mut docs = Vec::new();
    let mut key_of = HashMap::new();
    for i in 0..2000i64 {
        let id = format!("ORD-{i:05}");
        let mut d = paid_order(&id, base, 10_000_000 - i * 1000);
        let priority = (i * 7919) % 4; // a spread of priorities across ages
        d.insert("printPriority", priority);
        key_of.insert(id, (-priority, i));
        docs.push(d);
    }
    insert_orders(&db, docs).await;

    let mut tasks = Vec::new();
    for _ in 0..8 {
        let core = core.clone();
        tasks.push(tokio::spawn(async move {
            let worker = WorkerId::generate();
            let mut taken = Vec::new();
            while let Some(job) = core.claim(&worker, &target()).await.unwrap() {
                assert_eq!(job.order.printing_by.as_deref(), Some(worker.as_str()));
                assert_eq!(job.order.print_status, Some(PrintStatus::Printing));
                taken.push(job.order.order_id.clone());
            }
            taken
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        let taken = t.await.unwrap();
        // Each claimer takes the best order left, so its own sequence never goes back in sort order.
        let keys: Vec<_> = taken.iter().map(|id| key_of[id]).collect();
        assert!(keys.windows(2).all(|w| w[0] <= w[1]), "a claimer took orders out of priority/age order");
        all.extend(taken);
    }
    assert_eq!(all.len(), 2000, "every order claimed");
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(unique.len(), 2000, "no order claimed twice");

    core.flush_logs().await;
    let orders = db.collection::<Document>("orders");
    assert_eq!(orders.count_documents(doc! { "printStatus": "printing" }).await.unwrap(), 2000);
    assert_eq!(orders.count_documents(doc! { "printLogOutbox.0": { "$exists": true } }).await.unwrap(), 0);
    let logs = db.collection::<Document>("print_logs");
    assert_eq!(logs.count_documents(doc! { "action": "claim" }).await.unwrap(), 2000, "one claim log per order");
    let job_ids: Vec<bson::Bson> = logs.distinct("printJobId", doc! { "action": "claim" }).await.unwrap();
    assert_eq!(job_ids.len(), 2000, "every claim has its own printJobId");
    let orders_logged: Vec<bson::Bson> = logs.distinct("orderId", doc! { "action": "claim" }).await.unwrap();
    assert_eq!(orders_logged.len(), 2000, "every claim log names its order");
}

#[tokio::test]
async fn a_single_claimer_follows_priority_then_age_exactly() {
    let (db, core) = migrated_core("claim1").await;
    let base = DateTime::now();
    let mut a = paid_order("old-low", base, 50_000);
    a.insert("printPriority", 0);
    let mut b = paid_order("new-high", base, 1_000);
    b.insert("printPriority", 5);
    let mut c = paid_order("old-high", base, 40_000);
    c.insert("printPriority", 5);
    let d = paid_order("mid-low", base, 30_000);
    insert_orders(&db, vec![a, b, c, d]).await;
    let worker = WorkerId::generate();
    let mut order = Vec::new();
    while let Some(job) = core.claim(&worker, &target()).await.unwrap() {
        order.push(job.order_id().to_owned());
    }
    assert_eq!(order, ["old-high", "new-high", "old-low", "mid-low"]);
}

#[tokio::test]
async fn the_claim_respects_print_not_before_payment_file_and_capabilities() {
    let db = fresh_database(Mode::ReplicaSet, "claimcaps").await;
    let core = core(&db).await;
    let base = DateTime::now();
    let mut later = paid_order("scheduled", base, 90_000);
    later.insert("printNotBefore", DateTime::from_millis(core.now().timestamp_millis() + 3_600_000));
    let mut unpaid = paid_order("unpaid", base, 80_000);
    unpaid.insert("paymentStatus", "pending");
    let mut nofile = paid_order("nofile", base, 70_000);
    nofile.remove("fileURL");
    let mut a3colour = paid_order("a3colour", base, 60_000);
    a3colour.insert("printingOptions", doc! { "pageSize": "A3", "color": true, "duplex": false, "copies": 1 });
    let mut duplex = paid_order("duplex", base, 50_000);
    duplex.insert("printingOptions", doc! { "pageSize": "A4", "duplex": true });
    let mut many = paid_order("manycopies", base, 40_000);
    many.insert("printingOptions", doc! { "pageSize": "a4", "copies": 500 });
    let mut multi = paid_order("multifile", base, 30_000);
    multi.remove("fileURL");
    multi.insert("fileURLs", vec!["https://res.cloudinary.com/x/1.pdf", "https://res.cloudinary.com/x/2.pdf"]);
    let mut past = paid_order("due", base, 20_000);
    past.insert("printNotBefore", DateTime::from_millis(core.now().timestamp_millis() - 1_000));
    insert_orders(&db, vec![later, unpaid, nofile, a3colour, duplex, many, multi, past]).await;

    let worker = WorkerId::generate();
    let mono_a4 = mono_a4();
    let mut mono_took = Vec::new();
    while let Some(job) = core.claim(&worker, &mono_a4).await.unwrap() {
        mono_took.push(job.order_id().to_owned());
    }
    assert_eq!(mono_took, ["multifile", "due"], "the mono A4 printer takes only what it can print, when due");

    let big = ClaimTarget {
        printer_id: "big".into(),
        printer_name: "Colour A3".into(),
        capabilities: Some(PrinterCapabilities {
            page_sizes: vec!["A4".into(), "A3".into()],
            color: true,
            duplex: true,
            max_copies: 999,
        }),
    };
    let mut big_took = Vec::new();
    while let Some(job) = core.claim(&worker, &big).await.unwrap() {
        assert_eq!(job.order.printer_id.as_deref(), Some("big"));
        assert_eq!(job.order.printer_name.as_deref(), Some("Colour A3"));
        big_took.push(job.order_id().to_owned());
    }
    assert_eq!(big_took, ["a3colour", "duplex", "manycopies"]);
    for never in ["scheduled", "unpaid", "nofile"] {
        assert_eq!(raw_order(&db, never).await.get_str("printStatus").unwrap(), "pending", "{never} stays pending");
    }
}

#[tokio::test]
async fn a_stale_owner_cannot_touch_an_order_recovered_and_reclaimed_by_another_worker() {
    let db = fresh_database(Mode::ReplicaSet, "stale").await;
    let config = CoreConfig { lease: Duration::from_secs(60), ..CoreConfig::default() };
    let core_a = core_with(&db, config.clone()).await;
    let core_b = core_with(&db, config).await;
    insert_orders(&db, vec![paid_order("ORD-1", DateTime::now(), 1000)]).await;
    let (a, b) = (WorkerId::generate(), WorkerId::generate());
    let stale = core_a.claim(&a, &target()).await.unwrap().expect("a claims");

    // 61 s pass for worker b (its view of the server clock moves on): a's lease has run out.
    set_clock_ahead(&core_b, 61_000);
    let report = core_b.recover_expired(&b, 100).await.unwrap();
    assert_eq!(report.returned, ["ORD-1"], "one sweep returns the expired, unsent order");
    let fresh = core_b.claim(&b, &target()).await.unwrap().expect("b re-claims");
    assert_ne!(fresh.print_job_id(), stale.print_job_id());

    let before = without_outbox(raw_order(&db, "ORD-1").await);
    let logs_before = log_count(&db, "ORD-1").await;
    let lost = |r: Result<(), Error>, what: &str| match r {
        Err(Error::OwnershipLost { order_id, print_job_id, .. }) => {
            assert_eq!(order_id, "ORD-1");
            assert_eq!(print_job_id, stale.print_job_id());
        }
        other => panic!("{what}: expected OwnershipLost, got {other:?}"),
    };
    lost(stale.renew_lease().await.map(|_| ()), "renew");
    lost(stale.record_file("abc", 1).await, "record_file");
    lost(stale.mark_sending().await, "mark_sending");
    lost(stale.mark_submitted("job-1").await, "mark_submitted");
    lost(stale.complete().await.map(|_| ()), "complete");
    lost(stale.fail_transient("busy").await.map(|_| ()), "fail_transient");
    lost(stale.fail_permanent("bad").await, "fail_permanent");
    lost(stale.release("shutdown").await, "release");
    lost(stale.return_to_queue("aborted").await, "return_to_queue");
    assert_eq!(without_outbox(raw_order(&db, "ORD-1").await), before, "the stale owner changed nothing");
    assert_eq!(log_count(&db, "ORD-1").await, logs_before, "and logged nothing");

    // The new owner's writes still work.
    fresh.complete().await.unwrap();
    assert_eq!(log_actions(&db, "ORD-1").await, ["claim", "lease_expired", "claim", "printed"]);
}

fn set_clock_ahead(core: &PrintCore, ms: i64) {
    core.clock().shift_ms(ms);
}

#[tokio::test]
async fn recovery_returns_unsent_orders_and_hands_sent_ones_back_for_reconciliation() {
    let db = fresh_database(Mode::ReplicaSet, "recover").await;
    let dead = core(&db).await;
    let base = DateTime::now();
    insert_orders(&db, (0..5).map(|i| paid_order(&format!("R{i}"), base, 10_000 - i)).collect()).await;
    let dead_worker = WorkerId::generate();
    let mut jobs = Vec::new();
    for _ in 0..5 {
        jobs.push(dead.claim(&dead_worker, &target()).await.unwrap().unwrap());
    }
    jobs[0].mark_sending().await.unwrap();
    jobs[0].mark_submitted("ipp-17").await.unwrap();
    jobs[1].mark_sending().await.unwrap(); // sent, but the printer never acknowledged

    let live = core(&db).await;
    let live_worker = WorkerId::generate();
    // Before the lease runs out nothing is touched.
    let early = live.recover_expired(&live_worker, 100).await.unwrap();
    assert!(early.returned.is_empty() && early.to_reconcile.is_empty());

    set_clock_ahead(&live, 121_000);
    let report = live.recover_expired(&live_worker, 100).await.unwrap();
    let mut returned = report.returned.clone();
    returned.sort();
    assert_eq!(returned, ["R2", "R3", "R4"]);
    let mut sent: Vec<_> = report.to_reconcile.iter().map(|o| o.order_id.clone()).collect();
    sent.sort();
    assert_eq!(sent, ["R0", "R1"]);
    for id in ["R2", "R3", "R4"] {
        let o = raw_order(&db, id).await;
        assert_eq!(o.get_str("printStatus").unwrap(), "pending");
        assert!(o.get("printingBy").is_none() && o.get("printJobId").is_none());
        assert_eq!(log_actions(&db, id).await, ["claim", "lease_expired"]);
    }

    // Reconciliation: the live worker adopts R0, the dead one can no longer write it.
    let r0 = report.to_reconcile.iter().find(|o| o.order_id == "R0").unwrap();
    let adopted = live.adopt(&live_worker, r0).await.unwrap();
    assert_eq!(adopted.print_job_id(), jobs[0].print_job_id(), "the printer's job keeps its name");
    assert!(matches!(jobs[0].complete().await, Err(Error::OwnershipLost { .. })));
    // A second adopter loses the race.
    let other = core(&db).await;
    set_clock_ahead(&other, 121_000);
    assert!(matches!(other.adopt(&WorkerId::generate(), r0).await, Err(Error::OwnershipLost { .. })));
    adopted.complete().await.unwrap();
    assert_eq!(log_actions(&db, "R0").await, ["claim", "submitted", "adopt", "printed"]);
}

#[tokio::test]
async fn the_30_minute_ceiling_takes_back_a_live_owners_hung_orders() {
    let db = fresh_database(Mode::ReplicaSet, "stuck").await;
    let core = core(&db).await;
    insert_orders(&db, vec![paid_order("S1", DateTime::now(), 10)]).await;
    let w = WorkerId::generate();
    let job = core.claim(&w, &target()).await.unwrap().unwrap();
    job.renew_lease().await.unwrap();
    assert!(core.recover_stuck(&w, 10).await.unwrap().returned.is_empty());
    set_clock_ahead(&core, 31 * 60 * 1000);
    // Another worker's ceiling does not apply to orders it does not own.
    assert!(core.recover_stuck(&WorkerId::generate(), 10).await.unwrap().returned.is_empty());
    assert_eq!(core.recover_stuck(&w, 10).await.unwrap().returned, ["S1"]);
    assert_eq!(raw_order(&db, "S1").await.get_str("printStatus").unwrap(), "pending");
}

#[tokio::test]
async fn transient_failures_back_off_then_fail_when_attempts_are_used_up() {
    let db = fresh_database(Mode::ReplicaSet, "retry").await;
    let config = CoreConfig { max_attempts: 3, backoff_base: Duration::from_secs(10), ..CoreConfig::default() };
    let core = core_with(&db, config).await;
    insert_orders(&db, vec![paid_order("T1", DateTime::now(), 10)]).await;
    let w = WorkerId::generate();
    let mut waits = Vec::new();
    for attempt in 1..=3 {
        let job = core.claim(&w, &target()).await.unwrap().expect("claimable once the backoff passed");
        assert_eq!(job.attempt(), attempt);
        let now = core.now().timestamp_millis();
        match job.fail_transient("printer busy").await.unwrap() {
            RetryOutcome::Retrying { not_before, attempt: a } => {
                assert_eq!(a, attempt);
                waits.push(not_before.timestamp_millis() - now);
                assert!(core.claim(&w, &target()).await.unwrap().is_none(), "not before the backoff");
                let o = raw_order(&db, "T1").await;
                assert_eq!(o.get_str("printError").unwrap(), "printer busy");
                set_clock_ahead(&core, not_before.timestamp_millis() - now + 1000);
            }
            RetryOutcome::Failed => {
                assert_eq!(attempt, 3);
                let o = raw_order(&db, "T1").await;
                assert_eq!(o.get_str("printStatus").unwrap(), "failed");
                assert!(o.get_str("printError").unwrap().contains("gave up after 3 attempts"));
            }
        }
    }
    assert!(waits[0] >= 9_000 && waits[0] <= 11_000, "first backoff ~10 s, was {} ms", waits[0]);
    assert!(waits[1] >= 19_000 && waits[1] <= 21_000, "second backoff doubles, was {} ms", waits[1]);
    assert_eq!(log_actions(&db, "T1").await, ["claim", "retry", "claim", "retry", "claim", "failed"]);
}

#[tokio::test]
async fn every_transition_of_a_print_writes_exactly_one_log_entry() {
    let db = fresh_database(Mode::ReplicaSet, "cycle").await;
    let core = core(&db).await;
    let mut o = paid_order("C1", DateTime::now(), 10);
    o.remove("printStatus");
    o.insert("paymentStatus", "pending");
    insert_orders(&db, vec![o]).await;
    assert_eq!(core.mark_paid("C1", &MarkPaid::default()).await.unwrap(), MarkPaidOutcome::Queued);
    let w = WorkerId::generate();
    let job = core.claim(&w, &target()).await.unwrap().unwrap();
    job.renew_lease().await.unwrap();
    job.record_file(&"a".repeat(64), 3).await.unwrap();
    job.mark_sending().await.unwrap();
    job.mark_submitted("ipp://printer/jobs/5").await.unwrap();
    job.complete().await.unwrap();
    assert_eq!(log_actions(&db, "C1").await, ["mark_paid", "claim", "submitted", "printed"]);
    let logs = core.logs_for_order("C1", 10).await.unwrap();
    let printed = &logs[0];
    assert_eq!(printed.previous_status.as_deref(), Some("printing"));
    assert_eq!(printed.new_status.as_deref(), Some("printed"));
    assert_eq!(printed.print_job_id.as_deref(), Some(job.print_job_id()));
    assert_eq!(printed.metadata.as_ref().unwrap().get_str("workerId").unwrap(), w.as_str());
    let stored = raw_order(&db, "C1").await;
    assert_eq!(stored.get_str("printStatus").unwrap(), "printed");
    assert_eq!(stored.get_str("fileSha256").unwrap(), "a".repeat(64));
    assert_eq!(stored.get_array("printLogOutbox").unwrap().len(), 0, "outbox emptied once delivered");
}

#[tokio::test]
async fn a_job_complete_once_taken_is_recorded_with_its_reference_and_printed_in_one_write() {
    let (db, commands) = counted_database(Mode::ReplicaSet, "taken").await;
    let core = core(&db).await;
    insert_orders(&db, vec![paid_order("F1", DateTime::now(), 10), paid_order("F2", DateTime::now(), 5)]).await;
    let w = WorkerId::generate();
    let job = core.claim(&w, &target()).await.unwrap().unwrap();
    assert_eq!(job.order_id(), "F1");
    job.mark_sending().await.unwrap();
    core.flush_logs().await;
    commands.lock().unwrap().clear();
    job.complete_submitted("folder-job-F1").await.unwrap();
    assert_eq!(
        commands.lock().unwrap().get("update").copied(),
        Some(1),
        "the reference and the print are one write to the order: {:?}",
        commands.lock().unwrap()
    );
    core.flush_logs().await;
    let stored = raw_order(&db, "F1").await;
    assert_eq!(stored.get_str("printStatus").unwrap(), "printed");
    assert_eq!(stored.get_str("printerJobRef").unwrap(), "folder-job-F1");
    assert!(stored.get_datetime("printCompletedAt").is_ok());
    assert!(stored.get("printLeaseUntil").is_none(), "the lease is gone with the job");
    assert_eq!(stored.get_array("printLogOutbox").unwrap().len(), 0, "both entries delivered and pulled");
    // The audit trail reads as for two writes: `submitted` (with the reference), then `printed`.
    assert_eq!(log_actions(&db, "F1").await, ["claim", "submitted", "printed"]);
    let logs = core.logs_for_order("F1", 10).await.unwrap();
    assert_eq!(logs[0].new_status.as_deref(), Some("printed"));
    assert_eq!(logs[1].new_status.as_deref(), Some("printing"));
    assert_eq!(logs[1].metadata.as_ref().unwrap().get_str("printerJobRef").unwrap(), "folder-job-F1");

    // Fenced like every write of the owner: an order an admin reset meanwhile is not touched.
    let job = core.claim(&w, &target()).await.unwrap().unwrap();
    assert_eq!(job.order_id(), "F2");
    job.mark_sending().await.unwrap();
    db.collection::<Document>("orders")
        .update_one(doc! { "orderId": "F2" }, doc! { "$set": { "printStatus": "pending" } })
        .await
        .unwrap();
    let lost = job.complete_submitted("folder-job-F2").await.unwrap_err();
    assert!(matches!(lost, printcore::Error::OwnershipLost { .. }), "{lost}");
    let stored = raw_order(&db, "F2").await;
    assert_eq!(stored.get_str("printStatus").unwrap(), "pending");
    assert!(stored.get("printerJobRef").is_none(), "nothing written by a worker that lost the order");
}

#[tokio::test]
async fn mark_paid_queues_once_and_leaves_orders_past_the_queue_alone() {
    let db = fresh_database(Mode::ReplicaSet, "paid").await;
    let core = core(&db).await;
    let mut fresh = paid_order("P1", DateTime::now(), 10);
    fresh.remove("printStatus");
    fresh.insert("paymentStatus", "pending");
    insert_orders(&db, vec![fresh]).await;
    let opts = MarkPaid { priority: Some(3), not_before: None };
    assert_eq!(core.mark_paid("P1", &opts).await.unwrap(), MarkPaidOutcome::Queued);
    let o = raw_order(&db, "P1").await;
    assert_eq!(o.get_str("paymentStatus").unwrap(), "completed");
    assert_eq!(o.get_str("printStatus").unwrap(), "pending");
    assert!(o.get_datetime("paidAt").is_ok());
    assert_eq!(o.get_i64("printPriority").unwrap(), 3);
    assert_eq!(core.mark_paid("P1", &opts).await.unwrap(), MarkPaidOutcome::AlreadyQueued);
    assert_eq!(log_count(&db, "P1").await, 1, "paying twice logs once");

    let w = WorkerId::generate();
    let job = core.claim(&w, &target()).await.unwrap().unwrap();
    let before = without_outbox(raw_order(&db, "P1").await);
    assert_eq!(core.mark_paid("P1", &opts).await.unwrap(), MarkPaidOutcome::Unchanged(PrintStatus::Printing));
    assert_eq!(without_outbox(raw_order(&db, "P1").await), before, "no change to a claimed order");
    job.complete().await.unwrap();
    assert_eq!(core.mark_paid("P1", &opts).await.unwrap(), MarkPaidOutcome::Unchanged(PrintStatus::Printed));
    assert!(matches!(core.mark_paid("nope", &opts).await, Err(Error::NotFound { .. })));
    assert!(matches!(core.mark_paid("", &opts).await, Err(Error::InvalidArgument(_))));
}

#[tokio::test]
async fn an_entry_left_in_the_outbox_by_a_crash_reaches_print_logs_exactly_once() {
    let db = fresh_database(Mode::Standalone, "outbox").await;
    let core = core(&db).await;
    let mut o = paid_order("X1", DateTime::now(), 10);
    // A transition whose writer died after the atomic update and before copying the entry: the claim entry
    // (without orderId, as the claim writes it) from two minutes ago.
    let old = bson::oid::ObjectId::from_parts((DateTime::now().timestamp_millis() / 1000 - 120) as u32, [1; 5], [2; 3]);
    o.insert("printStatus", "printing");
    o.insert(
        "printLogOutbox",
        vec![doc! { "_id": old, "action": "claim", "printJobId": "j-1", "previousStatus": "pending", "newStatus": "printing", "timestamp": DateTime::now() }],
    );
    insert_orders(&db, vec![o]).await;
    assert_eq!(core.flush_log_outbox(Duration::from_secs(60), 100).await.unwrap(), 1);
    assert_eq!(core.flush_log_outbox(Duration::from_secs(60), 100).await.unwrap(), 0);
    assert_eq!(log_actions(&db, "X1").await, ["claim"]);
    // A copy that got in before the crash is not doubled.
    let mut again = raw_order(&db, "X1").await;
    again.remove("_id");
    db.collection::<Document>("orders")
        .update_one(
            doc! { "orderId": "X1" },
            doc! { "$push": { "printLogOutbox": { "_id": old, "action": "claim", "orderId": "X1", "timestamp": DateTime::now() } } },
        )
        .await
        .unwrap();
    assert_eq!(core.flush_log_outbox(Duration::from_secs(60), 100).await.unwrap(), 1);
    assert_eq!(log_count(&db, "X1").await, 1);
}

#[tokio::test]
async fn the_whole_cycle_works_on_a_standalone_server() {
    let db = fresh_database(Mode::Standalone, "standalone").await;
    let core = core(&db).await;
    core.migrate(&Default::default()).await.unwrap();
    insert_orders(&db, vec![paid_order("SA1", DateTime::now(), 10)]).await;
    let w = WorkerId::generate();
    let job = core.claim(&w, &target()).await.unwrap().unwrap();
    job.mark_sending().await.unwrap();
    job.mark_submitted("7").await.unwrap();
    job.complete().await.unwrap();
    let admin = printcore::AdminIdentity::new("1", "boss@shop.example").unwrap();
    let out = core.reprint("SA1", &admin, "customer wants a second copy").await.unwrap();
    assert!(out.may_have_printed);
    assert_eq!(log_actions(&db, "SA1").await, ["claim", "submitted", "printed", "reprint"]);
}

/// Audit delivery adds almost nothing to the writes that exactly-once needs. The website's payment costs its
/// update and the log insert, like the site's own code: the entry's copy in the outbox is left for the claim,
/// which writes that order anyway and pulls it with its own entry, and copies it first in case the website
/// died before its insert. A worker's entries share one insert per batch and one pull, which also goes out
/// by itself, without a flush, within `PULL_LINGER`.
#[tokio::test]
async fn the_payment_costs_two_writes_and_the_claim_tidies_its_entry_in_the_same_write_as_its_own() {
    let (site_db, site_commands) = counted_database(Mode::ReplicaSet, "tidy").await;
    let website = core(&site_db).await;
    website.migrate(&Default::default()).await.unwrap();
    let base = DateTime::now();
    insert_orders(
        &site_db,
        vec![unpaid_order("T1", base, 30), unpaid_order("T2", base, 20), unpaid_order("T3", base, 10)],
    )
    .await;
    let count = |counts: &printcore_tests::db::CommandCounts, name: &str| counts.lock().unwrap().get(name).copied();
    site_commands.lock().unwrap().clear();
    assert_eq!(website.mark_paid("T1", &MarkPaid::default()).await.unwrap(), MarkPaidOutcome::Queued);
    website.flush_logs().await;
    assert_eq!(
        *site_commands.lock().unwrap(),
        [("insert".to_owned(), 1), ("update".to_owned(), 1)].into(),
        "the payment is one update and one insert, and nothing more however long the website runs"
    );
    assert_eq!(stored_log_actions(&site_db, "T1").await, ["mark_paid"], "readable when the call returns");
    assert_eq!(raw_order(&site_db, "T1").await.get_array("printLogOutbox").unwrap().len(), 1, "left for the claim");
    // T2: a website that died between its update and its insert left the entry only in the outbox.
    let lost = bson::oid::ObjectId::new();
    site_db
        .collection::<Document>("orders")
        .update_one(
            doc! { "orderId": "T2" },
            doc! {
                "$set": { "paymentStatus": "completed", "printStatus": "pending", "printPriority": 0, "printAttempt": 0 },
                "$push": { "printLogOutbox": { "_id": lost, "action": "mark_paid", "orderId": "T2", "newStatus": "pending", "timestamp": DateTime::now() } },
            },
        )
        .await
        .unwrap();
    assert_eq!(website.mark_paid("T3", &MarkPaid::default()).await.unwrap(), MarkPaidOutcome::Queued);

    let (worker_db, worker_commands) = counted_database(Mode::ReplicaSet, "tidy_w").await;
    let worker_db = worker_db.client().database(site_db.name());
    let worker =
        core_with(&worker_db, CoreConfig { log_delivery: LogDelivery::Background, ..CoreConfig::default() }).await;
    worker_commands.lock().unwrap().clear();
    let w = WorkerId::generate();
    let mut jobs = Vec::new();
    for id in ["T1", "T2"] {
        let job = worker.claim(&w, &target()).await.unwrap().unwrap();
        assert_eq!(job.order_id(), id);
        jobs.push(job);
    }
    for job in &jobs {
        job.mark_sending().await.unwrap();
        job.mark_submitted("7").await.unwrap();
        job.complete().await.unwrap();
    }
    worker.flush_logs().await;
    for id in ["T1", "T2"] {
        assert_eq!(stored_log_actions(&site_db, id).await, ["mark_paid", "claim", "submitted", "printed"], "{id}");
        assert_eq!(raw_order(&site_db, id).await.get_array("printLogOutbox").unwrap().len(), 0, "{id} tidied");
    }
    assert_eq!(count(&worker_commands, "findAndModify"), Some(2));
    // Six transitions after the claims, the first claim's release of scheduled orders, and one pull for all
    // eight entries of both orders; the batches' inserts.
    assert_eq!(count(&worker_commands, "update"), Some(6 + 1 + 1), "{:?}", worker_commands.lock().unwrap());
    assert!(count(&worker_commands, "insert").unwrap() <= 2, "{:?}", worker_commands.lock().unwrap());

    // Without a flush, the pull goes out by itself.
    let job = worker.claim(&w, &target()).await.unwrap().unwrap();
    assert_eq!(job.order_id(), "T3");
    job.mark_sending().await.unwrap();
    printcore_tests::wait_for("the pull of T3's entries, without a flush", Duration::from_secs(40), || async {
        raw_order(&site_db, "T3").await.get_array("printLogOutbox").unwrap().is_empty().then_some(())
    })
    .await;
    assert_eq!(stored_log_actions(&site_db, "T3").await, ["mark_paid", "claim"]);
}

/// A worker delivers its log entries in batches up to a second apart; the website's history read is
/// complete all the same: it finishes the delivery of what waits in the order's outbox first.
#[tokio::test]
async fn a_history_read_includes_what_a_worker_has_not_delivered_yet() {
    let db = fresh_database(Mode::ReplicaSet, "fresh_history").await;
    let website = core(&db).await;
    let worker = core_with(&db, CoreConfig { log_delivery: LogDelivery::Background, ..CoreConfig::default() }).await;
    insert_orders(&db, vec![paid_order("H1", DateTime::now(), 10), paid_order("H2", DateTime::now(), 5)]).await;
    let w = WorkerId::generate();
    let job = worker.claim(&w, &target()).await.unwrap().unwrap();
    assert_eq!(job.order_id(), "H1");
    job.mark_sending().await.unwrap();
    job.mark_submitted("7").await.unwrap();
    job.complete().await.unwrap();
    // Read at once, well inside the worker's batching window: nothing missing, nothing doubled.
    let logs = website.logs_for_order("H1", 20).await.unwrap();
    let actions: Vec<&str> = logs.iter().rev().map(|l| l.action.as_str()).collect();
    assert_eq!(actions, ["claim", "submitted", "printed"]);
    assert!(raw_order(&db, "H1").await.get_array("printLogOutbox").map_or(true, |a| a.is_empty()));
    // The whole log (no order named) too, for an order the worker just claimed.
    let second = worker.claim(&w, &target()).await.unwrap().unwrap();
    let page = website.logs_page(None, Some("claim"), None, 10).await.unwrap();
    assert!(page.items.iter().any(|l| l.order_id == second.order_id()), "H2's claim is in the first page");
    // The worker's own delivery arrives later and doubles nothing.
    worker.flush_logs().await;
    assert_eq!(log_count(&db, "H1").await, 3);
    assert_eq!(log_count(&db, "H2").await, 1);
}

/// A mono, one-sided A4 printer.
fn mono_a4() -> ClaimTarget {
    ClaimTarget {
        printer_id: "mono".into(),
        printer_name: "Mono A4".into(),
        capabilities: Some(PrinterCapabilities {
            page_sizes: vec!["A4".into()],
            color: false,
            duplex: false,
            max_copies: 10,
        }),
    }
}

#[tokio::test]
async fn the_claim_reads_no_order_it_must_skip_however_many_wait_ahead() {
    let (db, core) = migrated_core("claimkeys").await;
    let base = DateTime::now();
    let tomorrow = DateTime::from_millis(core.now().timestamp_millis() + 86_400_000);
    // 2,400 orders ahead of the first one a mono A4 printer can take: scheduled for tomorrow, or needing
    // colour, A3 or two sides; then 600 it can take.
    let docs: Vec<Document> = (0..3000i64)
        .map(|i| {
            let mut d = paid_order(&format!("K{i:04}"), base, 10_000_000 - i * 1000);
            if i < 2400 {
                match i % 4 {
                    0 => {
                        d.insert("printNotBefore", tomorrow);
                    }
                    1 => {
                        d.insert("printingOptions", doc! { "pageSize": "A4", "color": true });
                    }
                    2 => {
                        d.insert("printingOptions", doc! { "pageSize": "a3" });
                    }
                    _ => {
                        d.insert("printingOptions", doc! { "duplex": true, "copies": 2 });
                    }
                }
            }
            d
        })
        .collect();
    insert_orders(&db, docs).await;

    let plan = core.explain_claim(&mono_a4()).await.unwrap();
    let keys = printcore_tests::explain::execution_stat(&plan, "totalKeysExamined");
    let stages = printcore_tests::explain::plan_stages(&plan);
    // One range per (colour, sides, page size) value the printer takes: 2 x 2 x 3 ("A4", "a4", none).
    assert!((1..=13).contains(&keys), "keys examined {keys}, plan {stages:?}");
    assert!(stages.iter().all(|s| !s.starts_with("SORT") || s == "SORT_MERGE"), "no in-memory sort: {stages:?}");
    assert!(stages.iter().any(|s| s.contains(printcore::queue::CLAIM_FIT_INDEX)), "{stages:?}");
    let w = WorkerId::generate();
    let job = core.claim(&w, &mono_a4()).await.unwrap().unwrap();
    assert_eq!(job.order_id(), "K2400", "the oldest order it can take");

    // Any printer: only the scheduled orders are skipped, and they are not read either.
    let plan = core.explain_claim(&target()).await.unwrap();
    let keys = printcore_tests::explain::execution_stat(&plan, "totalKeysExamined");
    assert!((1..=2).contains(&keys), "keys examined {keys}, plan {:?}", printcore_tests::explain::plan_stages(&plan));
    assert_eq!(core.claim(&w, &target()).await.unwrap().unwrap().order_id(), "K0001");
}

#[tokio::test]
async fn a_scheduled_order_is_claimed_in_its_place_once_its_time_has_come() {
    let db = fresh_database(Mode::ReplicaSet, "release").await;
    let core = core(&db).await;
    let base = DateTime::now();
    let now = core.now().timestamp_millis();
    let mut soon = paid_order("SOON", base, 90_000);
    soon.insert("printNotBefore", DateTime::from_millis(now + 60_000));
    soon.insert("printPriority", 5);
    let mut later = paid_order("LATER", base, 80_000);
    later.insert("printNotBefore", DateTime::from_millis(now + 3_600_000));
    later.insert("printPriority", 9);
    insert_orders(&db, vec![soon, later, paid_order("U1", base, 70_000), paid_order("U2", base, 60_000)]).await;
    // The website schedules one more through printcore, and pays one with a schedule that has already come.
    insert_orders(&db, vec![unpaid_order("SITE", base, 50_000), unpaid_order("PAST", base, 40_000)]).await;
    let in_a_minute = DateTime::from_millis(now + 60_000);
    core.mark_paid("SITE", &MarkPaid { priority: Some(5), not_before: Some(in_a_minute) }).await.unwrap();
    let an_hour_ago = DateTime::from_millis(now - 3_600_000);
    core.mark_paid("PAST", &MarkPaid { priority: None, not_before: Some(an_hour_ago) }).await.unwrap();
    assert!(raw_order(&db, "PAST").await.get("printNotBefore").is_none(), "a schedule already come is none");

    let w = WorkerId::generate();
    let first = core.claim(&w, &target()).await.unwrap().unwrap();
    assert_eq!(first.order_id(), "U1", "scheduled orders wait");
    // A minute later SOON and SITE are due: the next claim releases them and they go first (priority 5),
    // before the older unscheduled U2; LATER (in an hour) stays scheduled.
    set_clock_ahead(&core, 61_000);
    let mut next = Vec::new();
    for _ in 0..4 {
        next.push(core.claim(&w, &target()).await.unwrap().unwrap().order_id().to_owned());
    }
    assert_eq!(next, ["SOON", "SITE", "U2", "PAST"]);
    assert!(core.claim(&w, &target()).await.unwrap().is_none());
    let o = raw_order(&db, "LATER").await;
    assert_eq!(o.get_str("printStatus").unwrap(), "pending");
    assert_eq!(o.get_datetime("printNotBefore").unwrap().timestamp_millis(), now + 3_600_000, "still scheduled");
    assert_eq!(core.release_scheduled().await.unwrap(), 0, "nothing else is due");
    // An hour later LATER is due; no release is owed by time, but a claim that finds nothing else releases
    // it and takes it (at most once a second).
    set_clock_ahead(&core, 3_600_000);
    let job = printcore_tests::wait_for("LATER claimed once due", Duration::from_secs(10), || async {
        core.claim(&w, &target()).await.unwrap()
    })
    .await;
    assert_eq!(job.order_id(), "LATER");
    assert!(raw_order(&db, "LATER").await.get("printNotBefore").is_none());
}

#[tokio::test]
async fn a_database_the_migration_has_not_prepared_still_claims() {
    let db = fresh_database(Mode::ReplicaSet, "nohint").await;
    let core = core(&db).await;
    insert_orders(&db, vec![paid_order("N1", DateTime::now(), 2_000), paid_order("N2", DateTime::now(), 1_000)]).await;
    let w = WorkerId::generate();
    // No migration: the claim's indexes do not exist, and the hint is refused; the claim goes on without.
    assert_eq!(core.claim(&w, &mono_a4()).await.unwrap().unwrap().order_id(), "N1");
    assert_eq!(core.claim(&w, &target()).await.unwrap().unwrap().order_id(), "N2");
}

/// An order the website has stored but not been paid for (no print fields yet).
fn unpaid_order(order_id: &str, base: DateTime, age_ms: i64) -> Document {
    let mut d = paid_order(order_id, base, age_ms);
    d.insert("paymentStatus", "pending");
    for f in ["printStatus", "printPriority", "printAttempt"] {
        d.remove(f);
    }
    d
}

/// A mono, one-sided A4 printer with its own id: printers of one kind.
fn mono(id: &str) -> ClaimTarget {
    ClaimTarget { printer_id: id.into(), ..mono_a4() }
}

#[tokio::test]
async fn printers_of_one_kind_share_one_read_and_one_write_and_take_the_next_orders_in_claim_order() {
    let (db, commands) = counted_database(Mode::ReplicaSet, "claimall").await;
    let core = core(&db).await;
    core.migrate(&Default::default()).await.unwrap();
    let base = DateTime::now();
    // Claim order: p9 first, then the priority-1 orders oldest first, then the rest oldest first.
    let mut docs = Vec::new();
    for (id, age, priority) in
        [("a", 70, 0), ("b", 60, 1), ("c", 50, 0), ("d", 40, 1), ("e", 30, 0), ("f", 20, 9), ("g", 10, 0)]
    {
        let mut d = paid_order(id, base, age * 1000);
        d.insert("printPriority", priority);
        // An earlier attempt counts on; a count the website wrote as text starts again.
        match id {
            "c" => d.insert("printAttempt", 2),
            "a" => d.insert("printAttempt", "two"),
            _ => None,
        };
        docs.push(d);
    }
    insert_orders(&db, docs).await;
    let w = WorkerId::generate();
    // A printer's name is stored as written, never read as an expression.
    let targets = [mono("m1"), mono("m2"), ClaimTarget { printer_name: "$printerId".into(), ..mono("m3") }];
    let fam = |c: &printcore_tests::db::CommandCounts| c.lock().unwrap().get("findAndModify").copied().unwrap_or(0);
    let finds = |c: &printcore_tests::db::CommandCounts| c.lock().unwrap().get("find").copied().unwrap_or(0);
    let updates = |c: &printcore_tests::db::CommandCounts| c.lock().unwrap().get("update").copied().unwrap_or(0);
    let mut rounds = Vec::new();
    for _ in 0..4 {
        commands.lock().unwrap().clear();
        let results = core.claim_all(&w, &targets).await;
        assert_eq!(results.len(), 3, "one result per target");
        let mut ids = Vec::new();
        for (target, r) in targets.iter().zip(results) {
            if let Some(job) = r.unwrap() {
                assert_eq!(
                    job.order.printer_id.as_deref(),
                    Some(target.printer_id.as_str()),
                    "claimed for its printer"
                );
                ids.push(job.order_id().to_owned());
            }
        }
        ids.sort();
        // Claim log entries are delivered in the background; the outbox pulls they end with are not
        // the claim's.
        core.flush_logs().await;
        rounds.push((ids, finds(&commands), fam(&commands), updates(&commands)));
    }
    let ids: Vec<Vec<String>> = rounds.iter().map(|r| r.0.clone()).collect();
    assert_eq!(ids, [vec!["b", "d", "f"], vec!["a", "c", "e"], vec!["g"], vec![]], "the next orders in claim order");
    // One read per round; the orders of a round with two or more are claimed in one update and read back
    // in one find, a round's single order in one findAndModify; no ranged claim after the read.
    assert_eq!(
        rounds.iter().map(|r| r.1).collect::<Vec<_>>(),
        [2, 2, 1, 1],
        "the shared read, and the read back of a round's claim"
    );
    assert_eq!(rounds.iter().map(|r| r.2).collect::<Vec<_>>(), [0, 0, 1, 0], "a point claim for a round of one");
    // Besides the claim's: the outbox pull after a round's log entries are delivered, and the release of
    // due scheduled orders, which a core's first claim makes.
    let (pull, release) = (1, 1);
    assert_eq!(
        rounds.iter().map(|r| r.3).collect::<Vec<_>>(),
        [release + 1 + pull, 1 + pull, pull, 0],
        "one claim write for a round of several"
    );
    let orders = db.collection::<Document>("orders");
    assert_eq!(orders.count_documents(doc! { "printStatus": "printing" }).await.unwrap(), 7);
    // Each order as its own printer's claim writes it: its printer, a job id of its own, the attempt
    // counted, the lease, and none of a last attempt's fields.
    let claimed: Vec<Document> = {
        use futures::TryStreamExt;
        orders.find(doc! {}).await.unwrap().try_collect().await.unwrap()
    };
    let mut jobs = std::collections::HashSet::new();
    for o in &claimed {
        let printer = o.get_str("printerId").unwrap();
        assert!(["m1", "m2", "m3"].contains(&printer), "{o}");
        let name = &targets.iter().find(|t| t.printer_id == printer).unwrap().printer_name;
        assert_eq!(o.get_str("printerName").unwrap(), name, "{o}");
        assert_eq!(o.get_str("printingBy").unwrap(), w.as_str(), "{o}");
        let attempt = stored_int(o, "printAttempt");
        let expected = if o.get_str("orderId").unwrap() == "c" { 3 } else { 1 };
        assert_eq!(attempt, Some(expected), "{o}");
        assert!(o.get_datetime("printLeaseUntil").is_ok() && o.get_datetime("printStartedAt").is_ok(), "{o}");
        assert!(jobs.insert(o.get_str("printJobId").unwrap().to_owned()), "a job id of its own: {o}");
        assert!(!o.contains_key("printNotBefore") && !o.contains_key("printSubmittedAt"), "{o}");
    }
    core.flush_logs().await;
    let logs = db.collection::<Document>("print_logs");
    assert_eq!(logs.count_documents(doc! { "action": "claim" }).await.unwrap(), 7, "one claim log per order");
    for o in &claimed {
        let entry = logs
            .find_one(doc! { "action": "claim", "printJobId": o.get_str("printJobId").unwrap() })
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("the claim's log entry of {o}"));
        assert_eq!(entry.get_str("orderId").unwrap(), o.get_str("orderId").unwrap());
        assert_eq!(
            entry.get_document("metadata").unwrap().get_str("printerId").unwrap(),
            o.get_str("printerId").unwrap()
        );
    }
    assert_eq!(
        orders.count_documents(doc! { "printLogOutbox.0": { "$exists": true } }).await.unwrap(),
        0,
        "outboxes tidied"
    );
}

#[tokio::test]
async fn a_printer_that_cannot_take_a_candidate_leaves_it_to_the_others_in_the_same_round() {
    let (db, core) = migrated_core("claimallskip").await;
    let base = DateTime::now();
    let mut x = paid_order("x", base, 20_000);
    x.insert(printcore::queue::SKIP_FIELD, vec!["m1"]);
    let y = paid_order("y", base, 10_000);
    // A colour order neither mono printer may take.
    let mut z = paid_order("z", base, 30_000);
    z.insert("printingOptions", doc! { "pageSize": "A4", "color": true });
    insert_orders(&db, vec![x, y, z]).await;
    let w = WorkerId::generate();
    let results = core.claim_all(&w, &[mono("m1"), mono("m2")]).await;
    let took: Vec<Option<String>> = results.into_iter().map(|r| r.unwrap().map(|j| j.order_id().to_owned())).collect();
    assert_eq!(took, [Some("y".to_owned()), Some("x".to_owned())], "m1 skips x, so m2 takes it and m1 the next");
    assert_eq!(raw_order(&db, "z").await.get_str("printStatus").unwrap(), "pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_claiming_side_by_side_take_each_order_exactly_once() {
    let db = fresh_database(Mode::ReplicaSet, "claimallrace").await;
    let config = CoreConfig { log_delivery: LogDelivery::Background, ..CoreConfig::default() };
    let cores = [core_with(&db, config.clone()).await, core_with(&db, config).await];
    cores[0].migrate(&Default::default()).await.unwrap();
    let base = DateTime::now();
    // Generated orders: a spread of priorities, some skipped by one printer, some no mono printer takes.
    let mut docs = Vec::new();
    let mut skipped_by = HashMap::new();
    let mut colour = HashSet::new();
    for i in 0..400i64 {
        let id = format!("R{i:04}");
        let mut d = paid_order(&id, base, 10_000_000 - i * 1000);
        d.insert("printPriority", (i * 7919) % 3);
        if i % 13 == 0 {
            let p = format!("w{}-m{}", i % 2, i % 4);
            d.insert(printcore::queue::SKIP_FIELD, vec![p.clone()]);
            skipped_by.insert(id.clone(), p);
        }
        if i % 17 == 0 {
            d.insert("printingOptions", doc! { "pageSize": "A4", "color": true });
            colour.insert(id.clone());
        }
        docs.push(d);
    }
    insert_orders(&db, docs).await;
    let mut tasks = Vec::new();
    for (n, core) in cores.iter().enumerate() {
        let core = core.clone();
        tasks.push(tokio::spawn(async move {
            let w = WorkerId::generate();
            // Four printers of one kind and one that takes anything: two groups.
            let mut targets: Vec<ClaimTarget> = (0..4).map(|k| mono(&format!("w{n}-m{k}"))).collect();
            targets.push(ClaimTarget { printer_id: format!("w{n}-any"), ..target() });
            let mut taken = Vec::new();
            loop {
                let results = core.claim_all(&w, &targets).await;
                let before = taken.len();
                for (t, r) in targets.iter().zip(results) {
                    if let Some(job) = r.unwrap() {
                        assert_eq!(job.order.printing_by.as_deref(), Some(w.as_str()));
                        taken.push((job.order_id().to_owned(), t.printer_id.clone()));
                    }
                }
                if taken.len() == before {
                    return taken;
                }
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let unique: HashSet<&String> = all.iter().map(|(id, _)| id).collect();
    assert_eq!(unique.len(), all.len(), "no order claimed twice");
    assert_eq!(all.len(), 400, "every order claimed by some printer");
    for (id, printer) in &all {
        assert_ne!(skipped_by.get(id), Some(printer), "{id} went to a printer that had skipped it");
        if colour.contains(id) {
            assert!(printer.ends_with("-any"), "colour order {id} went to mono printer {printer}");
        }
    }
    cores[0].flush_logs().await;
    cores[1].flush_logs().await;
    let logs = db.collection::<Document>("print_logs");
    assert_eq!(logs.count_documents(doc! { "action": "claim" }).await.unwrap(), 400, "one claim log per order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_stream_names_the_order_and_says_what_each_change_asks_without_reading_it() {
    use futures::StreamExt;
    use printcore::WorkerEvent;
    let (db, core) = migrated_core("watchworker").await;
    let mut events = core.watch_worker(Duration::from_secs(1)).await.unwrap();
    let orders = db.collection::<Document>("orders");
    macro_rules! next {
        () => {
            tokio::time::timeout(Duration::from_secs(20), events.next())
                .await
                .expect("an event within 20 s")
                .expect("the stream goes on")
                .unwrap()
        };
    }
    let ev = |printable, cancel_request, schedule, order| WorkerEvent {
        printable,
        cancel_request,
        schedule,
        printer: false,
        order: Some(order),
    };

    // An unpaid order, as the website creates it: no event at all (filtered on the server).
    let mut unpaid = paid_order("W-UNPAID", DateTime::now(), 0);
    unpaid.insert("paymentStatus", "pending");
    let unpaid_id = unpaid.get_object_id("_id").unwrap();
    orders.insert_one(unpaid).await.unwrap();
    // A paid order: printable, from the document in the event (nothing read back).
    let paid = paid_order("W-PAID", DateTime::now(), 0);
    let paid_id = paid.get_object_id("_id").unwrap();
    orders.insert_one(paid).await.unwrap();
    assert_eq!(next!(), ev(true, false, false, paid_id), "the unpaid insert woke nobody; the paid one did");
    // A paid order scheduled for later: the schedule too.
    let mut later = paid_order("W-LATER", DateTime::now(), 0);
    later.insert("printNotBefore", DateTime::from_millis(DateTime::now().timestamp_millis() + 3_600_000));
    let later_id = later.get_object_id("_id").unwrap();
    orders.insert_one(later).await.unwrap();
    assert_eq!(next!(), ev(true, false, true, later_id));
    // The unpaid order paid.
    orders.update_one(doc! { "_id": unpaid_id }, doc! { "$set": { "paymentStatus": "completed" } }).await.unwrap();
    assert_eq!(next!(), ev(true, false, false, unpaid_id));
    // An admin's cancel request on the paid one: the cancel pass only.
    orders
        .update_one(doc! { "_id": paid_id }, doc! { "$set": { "printCancelRequest": { "at": DateTime::now() } } })
        .await
        .unwrap();
    assert_eq!(next!(), ev(false, true, false, paid_id));
}

#[tokio::test]
async fn an_order_whose_attempt_count_is_not_a_number_is_claimed_and_counts_from_one() {
    // `printAttempt` is printcore's field, but a website's schema may default it to null, or a script write
    // it as text. An update's `$inc` refuses such an order, at every claim: it would stay at the head of the
    // queue, and a printer alone (the ranged claim) would find it first and fail, every time.
    let (db, core) = migrated_core("attempttype").await;
    let base = DateTime::now();
    let mut docs = Vec::new();
    for (id, age, attempt) in [
        ("NULL", 40, Some(bson::Bson::Null)),
        ("TEXT", 30, Some(bson::Bson::String("two".into()))),
        ("DOUBLE", 20, Some(bson::Bson::Double(2.0))),
        ("ABSENT", 10, None),
    ] {
        let mut d = paid_order(id, base, age * 1000);
        match attempt {
            Some(a) => d.insert("printAttempt", a),
            None => d.remove("printAttempt"),
        };
        docs.push(d);
    }
    let double_id = docs[2].get_object_id("_id").unwrap();
    insert_orders(&db, docs).await;
    let w = WorkerId::generate();
    let printer = mono_a4();
    // The ranged claim (a printer alone) takes the oldest two; a claim by `_id` (the turns' fallback) the
    // third; the ranged claim again the last.
    let first = core.claim(&w, &printer).await.unwrap().expect("the null count's order is claimed");
    let second = core.claim(&w, &printer).await.unwrap().expect("the text count's order is claimed");
    let third = core.claim_order(&w, &printer, &double_id).await.unwrap().expect("claimed by _id");
    let fourth = core.claim(&w, &printer).await.unwrap().expect("the order without a count is claimed");
    let orders = db.collection::<Document>("orders");
    for (job, id, attempt) in [(&first, "NULL", 1), (&second, "TEXT", 1), (&third, "DOUBLE", 3), (&fourth, "ABSENT", 1)]
    {
        assert_eq!(job.order_id(), id);
        assert_eq!(job.attempt(), attempt, "{id}");
        let stored = orders.find_one(doc! { "orderId": id }).await.unwrap().unwrap();
        assert_eq!(stored_int(&stored, "printAttempt"), Some(attempt), "{id} stored");
        assert_eq!(stored.get_str("printStatus").unwrap(), "printing");
    }
    core.flush_logs().await;
    let logs = db.collection::<Document>("print_logs");
    assert_eq!(logs.count_documents(doc! { "action": "claim" }).await.unwrap(), 4, "one claim log each");
}
