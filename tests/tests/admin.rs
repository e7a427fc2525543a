//! Admin actions from every state, the migration, and the website's fields through every operation.

use bson::{doc, Bson, DateTime, Document};
use printcore::{
    Action, AdminIdentity, ClaimTarget, Error, MarkPaid, MigrateOptions, PrintStatus, PrinterCapabilities,
    PrinterRegistration, WorkerId,
};
use printcore_tests::db::{fresh_database, Mode};
use printcore_tests::fixtures::*;

fn admin() -> AdminIdentity {
    AdminIdentity::new("admin-7", "manager@shop.example").unwrap()
}

fn target() -> ClaimTarget {
    ClaimTarget { printer_id: "front".into(), printer_name: "Front desk".into(), capabilities: None }
}

/// An order in `state` (None: no printStatus yet), as the queue would leave it. A printing order was sent to
/// the printer, so resetting it must warn that it may have printed.
fn order_in(order_id: &str, state: Option<PrintStatus>) -> Document {
    let mut d = paid_order(order_id, DateTime::now(), 1000);
    match state {
        None => {
            d.remove("printStatus");
        }
        Some(s) => {
            d.insert("printStatus", s.as_str());
        }
    }
    if state == Some(PrintStatus::Printing) {
        d.insert("printJobId", uuid::Uuid::new_v4().to_string());
        d.insert("printingBy", "pc-1/2026-11-28T00:00:00Z/x");
        d.insert("printLeaseUntil", DateTime::now());
        d.insert("printSubmittedAt", DateTime::now());
        d.insert("printerJobRef", "ipp-42");
    }
    if state == Some(PrintStatus::Failed) {
        d.insert("printError", "file is not a PDF");
    }
    d
}

#[tokio::test]
async fn every_admin_action_from_every_state_succeeds_with_one_log_or_is_refused_without_a_trace() {
    let db = fresh_database(Mode::ReplicaSet, "adminall").await;
    let core = core(&db).await;
    let actions = [Action::Reprint, Action::Cancel, Action::ResetState, Action::ForcePrinted];
    let mut states: Vec<Option<PrintStatus>> = vec![None];
    states.extend(PrintStatus::ALL.into_iter().map(Some));
    let mut docs = Vec::new();
    for a in actions {
        for s in &states {
            docs.push(order_in(&format!("{a}-{}", s.map(|s| s.as_str()).unwrap_or("none")), *s));
        }
    }
    insert_orders(&db, docs).await;

    let mut allowed_count = 0;
    for a in actions {
        for s in &states {
            let id = format!("{a}-{}", s.map(|s| s.as_str()).unwrap_or("none"));
            let before = without_outbox(raw_order(&db, &id).await);
            let result = core.admin_action(a, &id, &admin(), "checked with the customer").await;
            if a.allowed_from(*s) {
                allowed_count += 1;
                let out = result.unwrap_or_else(|e| panic!("{a} from {s:?} should be allowed: {e}"));
                assert_eq!(out.previous_status, *s);
                assert_eq!(out.new_status, a.to_state());
                let after = raw_order(&db, &id).await;
                assert_eq!(after.get_str("printStatus").unwrap(), a.to_state().as_str());
                let logs = core.logs_for_order(&id, 10).await.unwrap();
                assert_eq!(logs.len(), 1, "{a} from {s:?}: exactly one log entry");
                let log = &logs[0];
                assert_eq!(log.action, a.as_str());
                assert_eq!(log.admin_id.as_deref(), Some("admin-7"));
                assert_eq!(log.admin_email.as_deref(), Some("manager@shop.example"));
                assert_eq!(log.previous_status.as_deref(), s.map(|s| s.as_str()));
                assert_eq!(log.new_status.as_deref(), Some(a.to_state().as_str()));
                assert_eq!(log.reason.as_deref(), Some("checked with the customer"));
                let sent = *s == Some(PrintStatus::Printing) || *s == Some(PrintStatus::Printed);
                assert_eq!(out.may_have_printed, sent, "{a} from {s:?}");
                assert_eq!(log.metadata.as_ref().unwrap().get_bool("mayHavePrinted").unwrap(), sent);
            } else {
                match result {
                    Err(Error::InvalidTransition { order_id, action, current }) => {
                        assert_eq!(order_id, id);
                        assert_eq!(action, a);
                        assert_eq!(current, *s);
                    }
                    other => panic!("{a} from {s:?} should be refused, got {other:?}"),
                }
                assert_eq!(without_outbox(raw_order(&db, &id).await), before, "{a} from {s:?} changed the order");
                assert_eq!(log_count(&db, &id).await, 0, "{a} from {s:?} wrote a log");
            }
        }
    }
    assert_eq!(allowed_count, 3 + 2 + 1 + 5, "the design's table: 11 allowed pairs");
}

#[tokio::test]
async fn admin_actions_need_an_identity_and_a_reason_and_say_what_is_wrong() {
    let db = fresh_database(Mode::ReplicaSet, "adminargs").await;
    let core = core(&db).await;
    insert_orders(&db, vec![order_in("A1", Some(PrintStatus::Failed))]).await;
    let nobody = AdminIdentity { admin_id: String::new(), admin_email: "x@y.z".into() };
    assert!(matches!(core.reprint("A1", &nobody, "why").await, Err(Error::InvalidArgument(_))));
    let no_email = AdminIdentity { admin_id: "1".into(), admin_email: " ".into() };
    assert!(matches!(core.reprint("A1", &no_email, "why").await, Err(Error::InvalidArgument(_))));
    assert!(matches!(core.reprint("A1", &admin(), "  ").await, Err(Error::InvalidArgument(_))));
    assert!(matches!(core.reprint("$gt", &admin(), "why").await, Err(Error::InvalidArgument(_))));
    match core.reprint("missing", &admin(), "why").await {
        Err(e @ Error::NotFound { .. }) => assert!(e.to_string().contains("order missing")),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(log_count(&db, "A1").await, 0);
    let e = core.reset_state("A1", &admin(), "stuck").await.unwrap_err();
    assert_eq!(e.code(), "INVALID_TRANSITION");
    assert!(e.to_string().contains("order A1") && e.to_string().contains("failed"), "{e}");
}

#[tokio::test]
async fn a_reset_order_is_lost_to_its_worker_and_reprint_gives_fresh_attempts() {
    let db = fresh_database(Mode::ReplicaSet, "adminreset").await;
    let core = core(&db).await;
    insert_orders(&db, vec![paid_order("R1", DateTime::now(), 10)]).await;
    let w = WorkerId::generate();
    let job = core.claim(&w, &target()).await.unwrap().unwrap();
    let out = core.reset_state("R1", &admin(), "printer jammed, job cleared").await.unwrap();
    assert!(!out.may_have_printed, "nothing was sent yet");
    assert_eq!(out.print_job_id.as_deref(), Some(job.print_job_id()));
    assert!(matches!(job.complete().await, Err(Error::OwnershipLost { .. })));
    let job2 = core.claim(&w, &target()).await.unwrap().unwrap();
    job2.fail_permanent("file is corrupt").await.unwrap();
    core.reprint("R1", &admin(), "customer re-uploaded the file").await.unwrap();
    let o = raw_order(&db, "R1").await;
    assert_eq!(o.get_str("printStatus").unwrap(), "pending");
    assert_eq!(o.get_i32("printAttempt").map(i64::from).or_else(|_| o.get_i64("printAttempt")).unwrap(), 0);
    assert!(o.get("printError").is_none());
}

#[tokio::test]
async fn the_migration_run_twice_gives_the_same_indexes_and_counts() {
    let db = fresh_database(Mode::ReplicaSet, "migrate").await;
    let core = core(&db).await;
    let mut docs = Vec::new();
    for (i, (payment, delivered)) in [
        ("completed", false),
        ("completed", false),
        ("completed", true),
        ("pending", false),
        ("failed", false),
        ("pending", true),
    ]
    .iter()
    .enumerate()
    {
        let mut d = paid_order(&format!("M{i}"), DateTime::now(), 10);
        d.remove("printStatus");
        d.insert("paymentStatus", *payment);
        if *delivered {
            d.insert("status", "delivered");
        }
        docs.push(d);
    }
    let mut already = paid_order("M-already", DateTime::now(), 10);
    already.insert("printStatus", "failed");
    docs.push(already);
    insert_orders(&db, docs).await;
    let options = MigrateOptions {
        printers: vec![PrinterRegistration {
            printer_id: "front".into(),
            name: "Front desk".into(),
            printer_name: "HP_LaserJet".into(),
            system_name: Some("Windows".into()),
            connection_type: Some("usb".into()),
            driver_name: None,
            capabilities: Some(PrinterCapabilities::default()),
            worker_id: None,
        }],
        ..MigrateOptions::default()
    };
    let first = core.migrate(&options).await.unwrap();
    assert_eq!(first.orders_marked_pending, 2);
    assert_eq!(first.orders_marked_printed, 2);
    assert_eq!(first.printers_registered, 1);
    let status_counts = |db: mongodb::Database| async move {
        let mut counts = Vec::new();
        for s in ["pending", "printed", "failed"] {
            counts.push(db.collection::<Document>("orders").count_documents(doc! { "printStatus": s }).await.unwrap());
        }
        counts.push(
            db.collection::<Document>("orders").count_documents(doc! { "printStatus": Bson::Null }).await.unwrap(),
        );
        counts
    };
    let after_first = status_counts(db.clone()).await;
    assert_eq!(after_first, [2, 2, 1, 2], "unpaid and failed-payment orders stay untouched");
    let indexes_first = all_indexes(&db).await;

    let second = core.migrate(&options).await.unwrap();
    assert_eq!(second.indexes, first.indexes);
    assert_eq!((second.orders_marked_pending, second.orders_marked_printed, second.printers_registered), (0, 0, 0));
    assert_eq!(status_counts(db.clone()).await, after_first);
    assert_eq!(all_indexes(&db).await, indexes_first);
    for name in [
        "orders.claim_order",
        "orders.claim_ready",
        "orders.claim_fit",
        "orders.printJobId_unique",
        "printers.printer_id_unique",
        "print_logs.orderId_timestamp",
        "metrics.workerId_timestamp",
    ] {
        assert!(indexes_first.iter().any(|i| i == name), "missing index {name}: {indexes_first:?}");
    }
    let printer =
        db.collection::<Document>("printers").find_one(doc! { "printer_id": "front" }).await.unwrap().unwrap();
    assert_eq!(
        printer.get_str("status").unwrap(),
        "offline",
        "a registered printer is offline until its health is read"
    );
    assert_eq!(printer.get_str("system_name").unwrap(), "Windows");
    // The website's fields are still there.
    let m0 = raw_order(&db, "M0").await;
    assert_eq!(m0.get_document("customer").unwrap(), website_fields().get_document("customer").unwrap());
}

async fn all_indexes(db: &mongodb::Database) -> Vec<String> {
    let mut names = Vec::new();
    for c in ["orders", "printers", "print_logs", "metrics"] {
        for n in db.collection::<Document>(c).list_index_names().await.unwrap() {
            names.push(format!("{c}.{n}"));
        }
    }
    names.sort();
    names
}

#[tokio::test]
async fn the_websites_fields_survive_every_operation() {
    let db = fresh_database(Mode::ReplicaSet, "fields").await;
    let core = core(&db).await;
    let mut d = paid_order("W1", DateTime::now(), 10);
    d.remove("printStatus");
    d.insert("paymentStatus", "pending");
    let website: Document =
        d.iter().filter(|(k, _)| website_fields().contains_key(*k)).map(|(k, v)| (k.clone(), v.clone())).collect();
    insert_orders(&db, vec![d]).await;
    let check = |stage: &'static str| {
        let db = db.clone();
        let website = website.clone();
        async move {
            let now = raw_order(&db, "W1").await;
            for (k, v) in &website {
                assert_eq!(now.get(k), Some(v), "field {k} changed after {stage}");
            }
            for k in ["orderId", "fileURL", "printingOptions", "createdAt"] {
                assert!(now.contains_key(k), "{k} dropped after {stage}");
            }
        }
    };
    let w = WorkerId::generate();
    let admin = admin();
    core.mark_paid("W1", &MarkPaid::default()).await.unwrap();
    check("mark_paid").await;
    let job = core.claim(&w, &target()).await.unwrap().unwrap();
    check("claim").await;
    job.renew_lease().await.unwrap();
    job.record_file(&"0".repeat(64), 2).await.unwrap();
    job.mark_sending().await.unwrap();
    job.mark_submitted("5").await.unwrap();
    check("submitted").await;
    job.complete().await.unwrap();
    check("complete").await;
    core.reprint("W1", &admin, "again").await.unwrap();
    let job = core.claim(&w, &target()).await.unwrap().unwrap();
    job.fail_transient("busy").await.unwrap();
    check("retry").await;
    core.clock().shift_ms(3_600_000);
    let job = core.claim(&w, &target()).await.unwrap().unwrap();
    job.release("shutting down").await.unwrap();
    let job = core.claim(&w, &target()).await.unwrap().unwrap();
    job.fail_permanent("bad file").await.unwrap();
    check("failed").await;
    core.cancel("W1", &admin, "customer cancelled").await.unwrap();
    core.reprint("W1", &admin, "customer changed their mind").await.unwrap();
    let job = core.claim(&w, &target()).await.unwrap().unwrap();
    core.reset_state("W1", &admin, "stuck").await.unwrap();
    assert!(job.complete().await.is_err());
    core.force_printed("W1", &admin, "printed by hand").await.unwrap();
    check("force_printed").await;
    core.migrate(&Default::default()).await.unwrap();
    check("migrate").await;
    assert_eq!(
        log_actions(&db, "W1").await,
        [
            "mark_paid",
            "claim",
            "submitted",
            "printed",
            "reprint",
            "claim",
            "retry",
            "claim",
            "server_shutdown",
            "claim",
            "failed",
            "cancel",
            "reprint",
            "claim",
            "reset_state",
            "force_printed"
        ]
    );
}

/// An order claimed on printer "front" whose job the printer acknowledged (reference "7").
async fn at_printer(db: &mongodb::Database, core: &printcore::PrintCore, order_id: &str) -> WorkerId {
    insert_orders(db, vec![paid_order(order_id, DateTime::now(), 10)]).await;
    let worker = WorkerId::generate();
    let job = core.claim(&worker, &target()).await.unwrap().unwrap();
    assert_eq!(job.order_id(), order_id);
    job.mark_sending().await.unwrap();
    job.mark_submitted("7").await.unwrap();
    worker
}

/// Issue 23 item 5, the decision table: an admin's cancel or reset of an order whose job reached a printer
/// follows what the printer said. Completed there: the order is printed, never back in the queue. Not
/// confirmed or not asked: it fails "may have printed" (a person reprints it). Cancelled there: as asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_cancel_or_reset_follows_what_the_printer_said() {
    use printcore::PrinterCancel::*;
    let db = fresh_database(Mode::ReplicaSet, "canceltable").await;
    let core = core(&db).await;
    let table = [
        ("T-RESET-PRINTED", Action::ResetState, AlreadyPrinted, PrintStatus::Printed),
        ("T-CANCEL-PRINTED", Action::Cancel, AlreadyPrinted, PrintStatus::Printed),
        ("T-RESET-UNCONFIRMED", Action::ResetState, NotConfirmed("printer offline".into()), PrintStatus::Failed),
        ("T-RESET-CONFIRMED", Action::ResetState, Confirmed, PrintStatus::Pending),
    ];
    for (id, action, said, want) in table {
        let worker = at_printer(&db, &core, id).await;
        if action == Action::Cancel {
            // Cancel applies to a failed order whose job is still queued at the printer.
            db.collection::<Document>("orders")
                .update_one(doc! { "orderId": id }, doc! { "$set": { "printStatus": "failed" } })
                .await
                .unwrap();
        }
        let admin_core = core.clone();
        let asked = tokio::spawn(async move {
            let reason = "test: decision table";
            if action == Action::Cancel {
                admin_core.cancel(id, &admin(), reason).await
            } else {
                admin_core.reset_state(id, &admin(), reason).await
            }
        });
        // The worker driving "front" settles the request with what its printer said.
        let order = printcore_tests::wait_for("the admin's request", std::time::Duration::from_secs(10), || async {
            core.cancel_requests(&["front".to_owned()]).await.unwrap().into_iter().find(|o| o.order_id == id)
        })
        .await;
        assert!(core.settle_cancel(Some(&worker), &order, &said).await.unwrap());
        let outcome = asked.await.unwrap().unwrap();
        assert_eq!(outcome.new_status, want, "{id}: {outcome:?}");
        let stored = raw_order(&db, id).await;
        assert_eq!(stored.get_str("printStatus").unwrap(), want.as_str(), "{id}: {stored}");
        assert!(stored.get("printCancelRequest").is_none());
        if want == PrintStatus::Failed {
            let m = stored.get_str("printError").unwrap();
            assert!(m.contains("may have printed") && m.contains("reprint"), "{m}");
        }
        let entries = log_entries(&db, doc! { "orderId": id, "action": action.as_str() }).await;
        assert_eq!(entries.len(), 1, "{id}");
        assert_eq!(entries[0].get_str("newStatus").unwrap(), want.as_str(), "the log says where it ended");
        if want == PrintStatus::Printed {
            assert_eq!(
                core.claim(&WorkerId::generate(), &target()).await.unwrap().map(|j| j.order_id().to_owned()),
                None
            );
        }
    }
}

/// Issue 23 item 6: a request whose caller gave up (its timeout, an AbortSignal, a serverless limit) and
/// whose printer's worker never answers is settled anyway, by a sweep; meanwhile another action on the
/// order says what is pending, and no other write slips in under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_request_outlives_its_caller_and_is_always_settled() {
    let db = fresh_database(Mode::ReplicaSet, "cancelabandoned").await;
    let config = printcore::CoreConfig {
        printer_cancel_wait: std::time::Duration::from_secs(3),
        ..printcore::CoreConfig::default()
    };
    let core = core_with(&db, config).await;
    at_printer(&db, &core, "ABANDONED").await;
    // The admin's call is cut off while it waits for the printer's worker: once its request is written.
    let call = {
        let core = core.clone();
        tokio::spawn(async move { core.reset_state("ABANDONED", &admin(), "stuck at the counter").await })
    };
    printcore_tests::wait_for("the request written", std::time::Duration::from_secs(10), || async {
        raw_order(&db, "ABANDONED").await.get("printCancelRequest").is_some().then_some(())
    })
    .await;
    assert!(!call.is_finished(), "the call waits for the printer's worker");
    call.abort();
    assert!(call.await.unwrap_err().is_cancelled(), "the call was cut off");
    assert!(raw_order(&db, "ABANDONED").await.get("printCancelRequest").is_some(), "the request stays");
    // Another admin's action says what it waits for instead of a bare conflict, and writes nothing.
    match core.force_printed("ABANDONED", &admin(), "it came out").await {
        Err(Error::ActionPending { pending, admin_email, .. }) => {
            assert_eq!(pending, Action::ResetState);
            assert_eq!(admin_email, "manager@shop.example");
        }
        other => panic!("expected ActionPending, got {other:?}"),
    }
    assert_eq!(raw_order(&db, "ABANDONED").await.get_str("printStatus").unwrap(), "printing");
    // Nobody drives the printer: once the wait and its grace have passed, a sweep settles it as "printer
    // not asked", by the decision table: the job may still print, so the order fails "may have printed".
    assert_eq!(core.settle_abandoned_cancels().await.unwrap(), 0, "not before the wait has passed");
    let settled = printcore_tests::wait_for("the sweep", std::time::Duration::from_secs(20), || async {
        let n = core.settle_abandoned_cancels().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        (n == 1).then_some(n)
    })
    .await;
    assert_eq!(settled, 1);
    let o = raw_order(&db, "ABANDONED").await;
    assert_eq!(o.get_str("printStatus").unwrap(), "failed");
    assert!(o.get("printCancelRequest").is_none());
    assert!(o.get_str("printError").unwrap().contains("may have printed"));
    let entries = log_entries(&db, doc! { "orderId": "ABANDONED", "action": "reset_state" }).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].get_document("metadata").unwrap().get_str("printerCancel").unwrap(), "no_worker");
}
