//! One bad order never stops the shop: website documents with oddly typed fields, unknown status
//! spellings and `printJobId: null`; and an order that crashes its worker on every attempt (a crash loop
//! that must end by itself). Against the real database server, and for the crash loop the real worker
//! binary, ippeveprinter and a local file server.

use bson::{doc, oid::ObjectId, Bson, DateTime, Document};
use mongodb::Database;
use printcore::{AdminIdentity, ClaimTarget, CoreConfig, Error, MigrateOptions, Order, PrintCore, WorkerId};
use printcore_tests::db::{fresh_database, server, Mode};
use printcore_tests::fileserver::{FileServer, Route};
use printcore_tests::fixtures::*;
use printcore_tests::ippeve::{IppEve, IppEveOptions};
use printcore_tests::pdfgen::{pdf, A4};
use printcore_tests::wait_for;
use printcore_tests::worker_proc::{test_config, WorkerProcess};
use std::time::Duration;

fn target() -> ClaimTarget {
    ClaimTarget { printer_id: "front".into(), printer_name: "Front desk".into(), capabilities: None }
}

fn admin() -> AdminIdentity {
    AdminIdentity::new("admin-1", "admin@shop.example").unwrap()
}

/// A paid order a worker (`owner`) claimed and left `printing`, its lease run out at `expired`, nothing sent.
fn left_printing(id: &str, base: DateTime, age_ms: i64, owner: &str, expired: DateTime) -> Document {
    let mut d = paid_order(id, base, age_ms);
    d.insert("printStatus", "printing");
    d.insert("printingBy", owner);
    d.insert("printJobId", uuid::Uuid::new_v4().to_string());
    d.insert("printLeaseUntil", expired);
    d.insert("printAttempt", 1);
    d
}

/// Pads `d` with a `preview` string (a website's large data) to exactly `bytes` bytes as stored; returns them.
fn pad_to(d: &mut Document, bytes: usize) -> usize {
    // The field: its type byte, "preview\0", the string's length and its closing 0.
    let field = 1 + "preview".len() + 1 + 4 + 1;
    let now = bson::to_vec(d).unwrap().len();
    d.insert("preview", "x".repeat(bytes - now - field));
    let size = bson::to_vec(d).unwrap().len();
    assert_eq!(size, bytes, "the generated order has the size it was made for");
    size
}

/// An order as stored, without its `preview` padding.
async fn without_preview(db: &Database, order_id: &str) -> Document {
    let orders = db.collection::<Document>("orders");
    orders
        .find_one(doc! { "orderId": order_id })
        .projection(doc! { "preview": 0 })
        .await
        .unwrap()
        .expect("order exists")
}

/// The website's oddly typed orders from the issue, by what is wrong, each otherwise a paid pending order.
fn odd_orders(base: DateTime) -> Vec<(&'static str, Document)> {
    let mut out = Vec::new();
    let mut with = |id: &'static str, f: &dyn Fn(&mut Document)| {
        let mut d = paid_order(id, base, 1_000_000);
        f(&mut d);
        out.push((id, d));
    };
    with("COPIES-TEXT", &|d| {
        d.insert("printingOptions", doc! { "pageSize": "A4", "copies": "2" });
    });
    with("COLOR-YES", &|d| {
        d.insert("printingOptions", doc! { "pageSize": "A4", "color": "yes" });
    });
    with("CREATED-TEXT", &|d| {
        d.insert("createdAt", "2026-11-01T10:00:00.000Z");
    });
    with("FILE-OBJECT", &|d| {
        d.remove("fileURL");
        d.insert(
            "fileURLs",
            vec![Bson::String("https://res.cloudinary.com/shop/a.pdf".into()), Bson::Document(doc! {})],
        );
    });
    with("OPTIONS-TEXT", &|d| {
        d.insert("printingOptions", "A4 colour");
    });
    with("COPIES-HALF", &|d| {
        d.insert("printingOptions", doc! { "copies": 2.5 });
    });
    with("DUPLEX-NUMBER", &|d| {
        d.insert("printingOptions", doc! { "duplex": 1 });
    });
    // A schedule written as text (JSON's date): the database never finds it due, so it would wait for ever.
    with("SCHEDULE-TEXT", &|d| {
        d.insert("printNotBefore", "2026-11-01T10:00:00.000Z");
    });
    out
}

#[test]
fn a_stored_order_is_read_whatever_its_field_types() {
    let base = DateTime::now();
    for (id, d) in odd_orders(base) {
        let order = Order::from_document(d).unwrap_or_else(|e| panic!("{id}: {e}"));
        let problem = order.blocking_problem();
        match id {
            "COPIES-TEXT" => {
                assert_eq!(order.options().copies, Some(2), "a number written as text is read");
                assert!(problem.is_none(), "{problem:?}");
            }
            "CREATED-TEXT" => {
                assert_eq!(
                    order.created_at.map(|d| d.try_to_rfc3339_string().unwrap()).as_deref(),
                    Some("2026-11-01T10:00:00Z")
                );
                assert!(problem.is_none());
            }
            "COLOR-YES" => {
                let m = problem.unwrap();
                assert!(
                    m.contains("order COLOR-YES") && m.contains(r#"printingOptions.color is the string "yes""#),
                    "{m}"
                );
                assert!(m.contains("true or false") && m.contains("reprint"), "{m}");
            }
            "FILE-OBJECT" => {
                let m = problem.unwrap();
                assert!(m.contains("fileURLs[1] is an object {}"), "{m}");
                assert!(order.files().is_empty(), "no file list is guessed from a broken one");
            }
            "OPTIONS-TEXT" => assert!(problem.unwrap().contains(r#"printingOptions is the string "A4 colour""#)),
            "COPIES-HALF" => assert!(problem.unwrap().contains("printingOptions.copies is the number 2.5")),
            "DUPLEX-NUMBER" => assert!(problem.unwrap().contains("printingOptions.duplex is the number 1")),
            "SCHEDULE-TEXT" => {
                let m = problem.unwrap();
                assert!(m.contains(r#"printNotBefore is the string "2026-11-01T10:00:00.000Z""#), "{m}");
                assert!(m.contains("BSON Date") && m.contains("reprint"), "{m}");
                assert_eq!(order.print_not_before, None, "no schedule is guessed from text");
            }
            other => unreachable!("{other}"),
        }
        assert_eq!(order.extra.get_str("currency").unwrap(), "GBP", "the website's fields are kept");
    }
    // An unknown status spelling is reported, not fatal.
    let mut d = paid_order("STATUS-CASE", base, 0);
    d.insert("printStatus", "Pending");
    let order = Order::from_document(d).unwrap();
    assert_eq!(order.print_status, None);
    assert!(order.status_error().unwrap().to_string().contains(r#"printStatus is the string "Pending""#));
    // Only an _id printcore cannot address fails the read.
    let mut d = paid_order("STRING-ID", base, 0);
    d.insert("_id", "abc");
    assert!(Order::from_document(d).unwrap_err().to_string().contains("_id is the string \"abc\""));
}

/// A value for a print field, of any type an odd website might store (`None`: the field is absent).
fn any_value(r: u64) -> Option<Bson> {
    let pool: [Option<Bson>; 24] = [
        None,
        Some(Bson::Null),
        Some(Bson::String("A4".into())),
        Some(Bson::String(String::new())),
        Some(Bson::String("2".into())),
        Some(Bson::String(" 3 ".into())),
        Some(Bson::String("\t4\n".into())),
        Some(Bson::String("\u{a0}5".into())),
        Some(Bson::String("yes".into())),
        Some(Bson::Int32(1)),
        Some(Bson::Int64(7)),
        Some(Bson::Double(2.5)),
        Some(Bson::Boolean(true)),
        Some(Bson::Boolean(false)),
        Some(Bson::Array(vec![])),
        Some(Bson::Array(vec![Bson::String("https://res.cloudinary.com/x/a.pdf".into())])),
        Some(Bson::Array(vec![Bson::Int32(1)])),
        Some(Bson::Array(vec![Bson::Null])),
        Some(Bson::Array(vec![Bson::String("a".into()), Bson::Document(doc! {})])),
        Some(Bson::Array(vec![Bson::Boolean(true), Bson::String("x".into())])),
        Some(Bson::Document(doc! {})),
        Some(Bson::Document(doc! { "color": "x" })),
        Some(Bson::Array(vec![Bson::Document(doc! { "color": "x" }), Bson::Document(doc! {})])),
        Some(Bson::DateTime(DateTime::from_millis(0))),
    ];
    pool[(r % pool.len() as u64) as usize].clone()
}

#[tokio::test]
async fn a_number_of_copies_written_as_text_is_read_alike_by_the_database_and_the_parser() {
    // The claim's guard (in the database) and `Order::from_document` (in Rust) must agree on which texts
    // are a number of copies: white space around the digits is ASCII white space only, as MongoDB's `\s`
    // is, whatever Rust's `trim` or the test server's regex would take.
    let db = fresh_database(Mode::ReplicaSet, "copiestext").await;
    let orders = db.collection::<Document>("orders");
    let base = DateTime::now();
    let read = [("2", 2), (" 3 ", 3), ("\t4\n", 4), ("\u{0B}5\u{0C}", 5), ("\r6 ", 6), ("123456789", 123456789)];
    let refused = [
        "",
        " ",
        "1234567890",
        "\u{a0}7",
        "7\u{3000}",
        "\u{2003}8",
        "\u{ff11}",
        "+1",
        "-1",
        "1 2",
        "0x1",
        "2.0",
        "\u{663}",
        "9\u{85}",
    ];
    let texts: Vec<&str> = read.iter().map(|(t, _)| *t).chain(refused).collect();
    let docs: Vec<Document> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let mut d = paid_order(&format!("T{i}"), base, i as i64);
            d.insert("printingOptions", doc! { "copies": *text });
            d
        })
        .collect();
    orders.insert_many(docs.clone()).await.unwrap();
    use futures::TryStreamExt;
    let found: Vec<Document> = orders
        .find(doc! { "$and": printcore::model::wellformed_conditions() })
        .projection(doc! { "orderId": 1 })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let wellformed: std::collections::HashSet<&str> = found.iter().map(|d| d.get_str("orderId").unwrap()).collect();
    for (d, text) in docs.into_iter().zip(&texts) {
        let id = d.get_str("orderId").unwrap().to_owned();
        let copies = Order::from_document(d).unwrap().options().copies;
        let expected = read.iter().find(|(t, _)| t == text).map(|(_, n)| *n);
        assert_eq!(copies, expected, "the parser reads {text:?}");
        assert_eq!(wellformed.contains(id.as_str()), expected.is_some(), "the database's guard takes {text:?}");
    }
}

#[tokio::test]
async fn the_claims_guard_is_the_exact_negation_of_the_malformed_conditions() {
    // The claim takes only orders meeting every `wellformed_conditions`; `fail_malformed` fails those
    // matching any `malformed_conditions`. Every generated document must be in exactly one of the two,
    // as the database itself evaluates them (a document in neither would wait forever, in both would be
    // claimed and failed at once).
    let db = fresh_database(Mode::ReplicaSet, "guard").await;
    let orders = db.collection::<Document>("orders");
    let seed = std::env::var("GUARD_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let base = DateTime::now();
    let mut docs = Vec::new();
    for i in 0..3000 {
        let mut d = paid_order(&format!("G{i}"), base, i);
        if next() % 10 == 0 {
            d.insert("_id", format!("string-id-{i}"));
        }
        // Each field mostly as the website should store it (or absent), else any value: so that both
        // well-formed orders and each kind of malformed one are generated.
        let mut set = |d: &mut Document, field: &str, good: Bson| {
            let r = next();
            match r % 10 {
                0..=5 => {
                    d.insert(field, good);
                }
                6 => {
                    d.remove(field);
                }
                _ => match any_value(r / 10) {
                    Some(v) => {
                        d.insert(field, v);
                    }
                    None => {
                        d.remove(field);
                    }
                },
            }
        };
        set(&mut d, "fileURL", Bson::String("https://res.cloudinary.com/x/a.pdf".into()));
        set(&mut d, "fileURLs", Bson::Array(vec![Bson::String("https://res.cloudinary.com/x/b.pdf".into())]));
        let mut options = Document::new();
        set(&mut options, "pageSize", Bson::String("A4".into()));
        set(&mut options, "color", Bson::Boolean(true));
        set(&mut options, "duplex", Bson::Boolean(false));
        set(&mut options, "copies", Bson::Int32(2));
        set(&mut d, "printingOptions", Bson::Document(options));
        set(&mut d, "printNotBefore", Bson::DateTime(base));
        docs.push(d);
    }
    orders.insert_many(docs.clone()).await.unwrap();
    use futures::TryStreamExt;
    let ids = |filter: Document| {
        let orders = orders.clone();
        async move {
            let found: Vec<Document> =
                orders.find(filter).projection(doc! { "orderId": 1 }).await.unwrap().try_collect().await.unwrap();
            found.iter().map(|d| d.get_str("orderId").unwrap().to_owned()).collect::<std::collections::HashSet<_>>()
        }
    };
    let malformed = ids(doc! { "$or": printcore::model::malformed_conditions() }).await;
    let wellformed = ids(doc! { "$and": printcore::model::wellformed_conditions() }).await;
    for d in &docs {
        let id = d.get_str("orderId").unwrap();
        assert!(
            malformed.contains(id) != wellformed.contains(id),
            "seed {seed}: order {id} is {} by the two forms: {d}",
            if malformed.contains(id) { "matched" } else { "missed" }
        );
    }
    assert!(
        malformed.len() > 300 && wellformed.len() > 300,
        "both kinds generated: {} / {}",
        malformed.len(),
        wellformed.len()
    );
}

#[tokio::test]
async fn malformed_orders_are_never_claimed_and_are_failed_naming_the_field_while_the_others_print() {
    let (db, core) = migrated_core("malformed").await;
    let base = DateTime::now();
    let mut docs: Vec<Document> = odd_orders(base).into_iter().map(|(_, d)| d).collect();
    // Good orders, younger than the bad ones (the bad ones would be claimed first if claimable).
    for i in 0..5 {
        docs.push(paid_order(&format!("GOOD-{i}"), base, 10 - i));
    }
    let mut string_id = paid_order("STRING-ID", base, 2_000_000);
    string_id.insert("_id", "website-chose-a-string-id");
    docs.push(string_id);
    insert_orders(&db, docs).await;

    let worker = WorkerId::generate();
    let mut claimed = Vec::new();
    while let Some(job) = core.claim(&worker, &target()).await.expect("a claim never fails on a bad order") {
        claimed.push(job.order.order_id.clone());
        if job.order.blocking_problem().is_none() {
            job.mark_sending().await.unwrap();
            job.mark_submitted("1").await.unwrap();
            job.complete().await.unwrap();
        } else {
            job.fail_permanent(&job.order.blocking_problem().unwrap()).await.unwrap();
        }
    }
    claimed.sort();
    assert_eq!(
        claimed,
        ["COPIES-HALF", "COPIES-TEXT", "CREATED-TEXT", "GOOD-0", "GOOD-1", "GOOD-2", "GOOD-3", "GOOD-4"],
        "the claim takes the well-typed and the readable orders only (copies 2.5 has the right type; the print flow fails it)"
    );
    let orders = db.collection::<Document>("orders");
    assert_eq!(orders.count_documents(doc! { "printStatus": "printing" }).await.unwrap(), 0, "nothing left printing");

    let failed = core.fail_malformed(&worker, 50).await.unwrap();
    let mut names: Vec<&str> = failed.iter().map(|(id, _)| id.as_str()).collect();
    names.sort();
    assert_eq!(names, ["COLOR-YES", "DUPLEX-NUMBER", "FILE-OBJECT", "OPTIONS-TEXT", "SCHEDULE-TEXT", "STRING-ID"]);
    let color = raw_order(&db, "COLOR-YES").await;
    assert_eq!(color.get_str("printStatus").unwrap(), "failed");
    let error = color.get_str("printError").unwrap();
    assert!(error.contains(r#"printingOptions.color is the string "yes""#), "{error}");
    assert_eq!(log_actions(&db, "COLOR-YES").await, ["rejected"]);
    let string_id = orders.find_one(doc! { "_id": "website-chose-a-string-id" }).await.unwrap().unwrap();
    assert!(string_id.get_str("printError").unwrap().contains("ObjectId"), "{string_id}");
    assert!(core.fail_malformed(&worker, 50).await.unwrap().is_empty(), "a second pass finds nothing");

    // The monitor and the admin actions keep working with them in the database.
    let snapshot = core.snapshot().await.unwrap();
    assert_eq!(snapshot.counts.failed, 7);
    let color_row = snapshot.failed.iter().find(|o| o.order_id == "COLOR-YES").expect("listed in the snapshot");
    assert!(color_row.problems.iter().any(|p| p.field == "printingOptions.color"));

    // Fixed by an admin, reprinted: it prints.
    orders
        .update_one(doc! { "orderId": "COLOR-YES" }, doc! { "$set": { "printingOptions.color": true } })
        .await
        .unwrap();
    core.reprint("COLOR-YES", &admin(), "fixed the colour option").await.unwrap();
    let job = core.claim(&worker, &target()).await.unwrap().expect("the fixed order is claimable");
    assert_eq!(job.order.order_id, "COLOR-YES");
    assert_eq!(job.order.options().color, Some(true));
}

#[tokio::test]
async fn recovery_shutdown_release_and_admin_actions_survive_a_malformed_order() {
    let (db, core) = migrated_core("malformed-rec").await;
    let base = DateTime::now();
    let worker = WorkerId::generate();
    // Orders left printing by an older version with an expired lease: one malformed, one fine.
    let expired = DateTime::from_millis(base.timestamp_millis() - 60_000);
    let mut docs = Vec::new();
    for (id, bad) in [("STUCK-BAD", true), ("STUCK-GOOD", false)] {
        let mut d = left_printing(id, base, 0, "gone-worker", expired);
        if bad {
            d.insert("printingOptions", doc! { "copies": { "n": 2 }, "color": "yes" });
            d.insert("createdAt", "yesterday");
        }
        docs.push(d);
    }
    // This worker's own orders (the shutdown release reads them): one malformed.
    for (id, bad) in [("MINE-BAD", true), ("MINE-GOOD", false)] {
        let mut d = paid_order(id, base, 0);
        d.insert("printStatus", "printing");
        d.insert("printingBy", worker.as_str());
        d.insert("printJobId", uuid::Uuid::new_v4().to_string());
        d.insert("printLeaseUntil", DateTime::from_millis(base.timestamp_millis() + 600_000));
        if bad {
            d.insert("fileURLs", "https://res.cloudinary.com/not-a-list.pdf");
        }
        docs.push(d);
    }
    let mut pending_case = paid_order("STATUS-CASE", base, 0);
    pending_case.insert("printStatus", "Pending");
    docs.push(pending_case);
    insert_orders(&db, docs).await;

    let report = core.recover_expired(&worker, 50).await.expect("recovery reads past a malformed order");
    let mut returned = report.returned.clone();
    returned.sort();
    assert_eq!(returned, ["STUCK-BAD", "STUCK-GOOD"]);

    let own = core.own_jobs(&worker).await.expect("the shutdown release reads past a malformed order");
    assert_eq!(own.len(), 2);
    for job in own {
        job.release("server shutdown before printing").await.unwrap();
    }
    assert_eq!(raw_order(&db, "MINE-BAD").await.get_str("printStatus").unwrap(), "pending");

    core.snapshot().await.expect("the snapshot reads past malformed orders");
    core.cancel("STUCK-BAD", &admin(), "customer asked").await.expect("admin actions work on a malformed order");

    // An unknown status spelling: every state change refuses with what to do, nothing is written.
    let before = raw_order(&db, "STATUS-CASE").await;
    let e = core.reprint("STATUS-CASE", &admin(), "try").await.unwrap_err();
    assert!(matches!(e, Error::InvalidDocument { .. }), "{e:?}");
    assert!(
        e.to_string().contains(r#"printStatus is the string "Pending""#) && e.to_string().contains("migrat"),
        "{e}"
    );
    let e = core.mark_paid("STATUS-CASE", &Default::default()).await.unwrap_err();
    assert!(e.to_string().contains("printStatus"), "{e}");
    assert_eq!(without_outbox(raw_order(&db, "STATUS-CASE").await), without_outbox(before));
}

#[tokio::test]
async fn an_order_claimed_max_attempts_times_by_workers_that_died_is_failed_not_requeued() {
    let db = fresh_database(Mode::ReplicaSet, "crashloop").await;
    let config = CoreConfig { max_attempts: 3, ..CoreConfig::default() };
    let core = core_with(&db, config).await;
    core.migrate(&Default::default()).await.unwrap();
    insert_orders(&db, vec![paid_order("POISON", DateTime::now(), 0)]).await;
    let orders = db.collection::<Document>("orders");
    let expire = || async {
        let past = DateTime::from_millis(DateTime::now().timestamp_millis() - 60_000);
        orders.update_one(doc! { "orderId": "POISON" }, doc! { "$set": { "printLeaseUntil": past } }).await.unwrap();
    };
    for attempt in 1..=3 {
        // A worker claims it and dies before sending it; its lease runs out.
        let dead = WorkerId::generate();
        let job = core.claim(&dead, &target()).await.unwrap().expect("claimable again");
        assert_eq!(job.attempt(), attempt);
        expire().await;
        let report = core.recover_expired(&WorkerId::generate(), 50).await.unwrap();
        if attempt < 3 {
            assert_eq!(report.returned, ["POISON"], "attempt {attempt}: back to the queue");
        } else {
            assert!(report.returned.is_empty(), "the last attempt is never returned to the queue");
            assert_eq!(report.failed, ["POISON"]);
        }
    }
    let order = raw_order(&db, "POISON").await;
    assert_eq!(order.get_str("printStatus").unwrap(), "failed");
    let error = order.get_str("printError").unwrap();
    assert!(error.contains("claimed 3 times") && error.contains("may be what stops the worker"), "{error}");
    assert!(core.claim(&WorkerId::generate(), &target()).await.unwrap().is_none());
    assert_eq!(log_actions(&db, "POISON").await.last().map(String::as_str), Some("failed"));
}

#[tokio::test]
async fn the_migration_normalises_spellings_reports_the_rest_and_its_dry_run_writes_nothing() {
    let db = fresh_database(Mode::ReplicaSet, "migrate-norm").await;
    let orders = db.collection::<Document>("orders");
    // An older printcore's index: sparse, which a website writing printJobId: null collides on.
    orders
        .create_index(
            mongodb::IndexModel::builder()
                .keys(doc! { "printJobId": 1 })
                .options(
                    mongodb::options::IndexOptions::builder()
                        .name("printJobId_unique".to_owned())
                        .unique(true)
                        .sparse(true)
                        .build(),
                )
                .build(),
        )
        .await
        .unwrap();
    let base = DateTime::now();
    let plain = |id: &str| doc! { "_id": ObjectId::new(), "orderId": id, "createdAt": base, "fileURL": "https://res.cloudinary.com/x.pdf" };
    let mut docs = Vec::new();
    for (id, print, pay) in [
        ("CASE-PENDING", Bson::String("Pending".into()), "completed"),
        ("SPACED-PRINTED", Bson::String(" PRINTED ".into()), "completed"),
        ("NULL-STATUS", Bson::Null, "completed"),
        ("PAY-CASE", Bson::Null, "Completed"),
        ("UNKNOWN-STATUS", Bson::String("queued".into()), "completed"),
        ("NUMBER-STATUS", Bson::Int32(3), "completed"),
        ("UNKNOWN-PAY", Bson::Null, "paid"),
    ] {
        let mut d = plain(id);
        d.insert("printStatus", print);
        d.insert("paymentStatus", pay);
        docs.push(d);
    }
    // An order of a website that writes printJobId: null (the sparse index takes one such order only).
    let null_job = |id: &str| {
        let mut d = plain(id);
        d.insert("printJobId", Bson::Null);
        d.insert("paymentStatus", "pending");
        d
    };
    docs.push(null_job("NULL-JOB-1"));
    insert_orders(&db, docs).await;
    assert!(orders.insert_one(null_job("NULL-JOB-0")).await.is_err(), "the old sparse index refuses a second null");
    let core = core(&db).await;

    let snapshot_of = || async {
        use futures::TryStreamExt;
        let all: Vec<Document> =
            orders.find(doc! {}).sort(doc! { "orderId": 1 }).await.unwrap().try_collect().await.unwrap();
        all
    };
    let before = snapshot_of().await;
    let dry = core.migrate(&MigrateOptions { dry_run: true, ..Default::default() }).await.unwrap();
    assert_eq!(snapshot_of().await, before, "a dry run writes nothing");
    assert!(dry.dry_run);
    assert_eq!(dry.indexes_replaced, ["orders.printJobId_unique"]);
    assert_eq!(dry.orders_marked_pending, 2, "NULL-STATUS and PAY-CASE (once its spelling is fixed): {dry:?}");
    let lines = dry.lines().join("\n");
    assert!(lines.contains("dry run") && lines.contains("would be replaced"), "{lines}");

    let report = core.migrate(&Default::default()).await.unwrap();
    let normalised: Vec<String> = report.normalised.iter().map(ToString::to_string).collect();
    assert!(
        normalised.contains(&r#"paymentStatus: the string "Completed" set to "completed" on 1 order(s)"#.to_owned()),
        "{normalised:?}"
    );
    assert!(
        normalised.contains(&r#"printStatus: the string "Pending" set to "pending" on 1 order(s)"#.to_owned()),
        "{normalised:?}"
    );
    assert!(
        normalised.contains(&r#"printStatus: the string " PRINTED " set to "printed" on 1 order(s)"#.to_owned()),
        "{normalised:?}"
    );
    let unresolved: Vec<String> = report.unresolved.iter().map(ToString::to_string).collect();
    assert_eq!(unresolved.len(), 3, "{unresolved:?}");
    assert!(
        unresolved.iter().any(|u| u.contains(r#"printStatus is the string "queued" on 1 order(s)"#)),
        "{unresolved:?}"
    );
    assert!(unresolved.iter().any(|u| u.contains("printStatus is the number 3")), "{unresolved:?}");
    assert!(unresolved.iter().any(|u| u.contains(r#"paymentStatus is the string "paid""#)), "{unresolved:?}");
    assert_eq!(report.orders_marked_pending, 2);
    let status = |id: &'static str| {
        let orders = orders.clone();
        async move { orders.find_one(doc! { "orderId": id }).await.unwrap().unwrap().get("printStatus").cloned() }
    };
    assert_eq!(status("CASE-PENDING").await, Some(Bson::String("pending".into())));
    assert_eq!(status("SPACED-PRINTED").await, Some(Bson::String("printed".into())));
    assert_eq!(status("NULL-STATUS").await, Some(Bson::String("pending".into())));
    assert_eq!(status("PAY-CASE").await, Some(Bson::String("pending".into())));
    assert_eq!(status("UNKNOWN-STATUS").await, Some(Bson::String("queued".into())), "left for a person");

    // The unique index now ignores null, and still refuses two orders with one print job id.
    for id in ["NULL-JOB-2", "NULL-JOB-3"] {
        orders.insert_one(null_job(id)).await.expect("printJobId: null is allowed any number of times");
    }
    let job = uuid::Uuid::new_v4().to_string();
    let mut a = plain("JOB-A");
    a.insert("printJobId", &job);
    orders.insert_one(a).await.unwrap();
    let mut b = plain("JOB-B");
    b.insert("printJobId", &job);
    assert!(orders.insert_one(b).await.is_err(), "two orders with one printJobId are refused");

    let again = core.migrate(&Default::default()).await.unwrap();
    assert!(
        again.normalised.is_empty() && again.indexes_replaced.is_empty() && again.indexes_created.is_empty(),
        "{again:?}"
    );
    assert_eq!(again.orders_marked_pending + again.orders_marked_printed, 0);
}

/// The crash loop with the real worker: the worker processing one order dies every time (killed -9 as
/// soon as it claims it, as a crash in its processing would), and is restarted as its supervisor would.
/// After `max_attempts` claims the order is failed with a message that says so; the others print.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_dies_on_one_order_every_time_ends_the_loop_and_prints_the_rest() {
    let db = fresh_database(Mode::ReplicaSet, "crashloop-e2e").await;
    let core: PrintCore = core(&db).await;
    core.migrate(&Default::default()).await.unwrap();
    let files = FileServer::start().await;
    files.route("/doc.pdf", Route::pdf(pdf(1, A4)));
    // The poison order's file never finishes downloading: the worker is busy with it when it "crashes".
    files.route(
        "/poison.pdf",
        Route::Stall { body: std::sync::Arc::new(pdf(1, A4)), sent: 100, stall: Duration::from_secs(120) },
    );
    let base = DateTime::now();
    let mut poison = paid_order("POISON", base, 100_000);
    poison.insert("fileURL", files.url("/poison.pdf"));
    let mut docs = vec![poison];
    let good: Vec<String> = (0..4).map(|i| format!("GOOD-{i}")).collect();
    for (i, id) in good.iter().enumerate() {
        let mut d = paid_order(id, base, 10 - i as i64);
        d.insert("fileURL", files.url("/doc.pdf"));
        docs.push(d);
    }
    insert_orders(&db, docs).await;

    let eve = IppEve::start(IppEveOptions { job_seconds: 0.05, ..IppEveOptions::default() });
    let dir = tempfile::tempdir().unwrap();
    let config =
        test_config(dir.path(), "crashloop", &server(Mode::ReplicaSet).uri, db.name(), &eve.uri(), "max_attempts = 3");
    let orders = db.collection::<Document>("orders");
    let mut kills = 0;
    let mut last_attempt = 0;
    let mut worker = WorkerProcess::start(&config);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let d = orders.find_one(doc! { "orderId": "POISON" }).await.unwrap().unwrap();
        let status = d.get_str("printStatus").unwrap_or("").to_owned();
        let attempt = match d.get("printAttempt") {
            Some(Bson::Int32(i)) => *i as i64,
            Some(Bson::Int64(i)) => *i,
            _ => 0,
        };
        if status == "failed" {
            break;
        }
        if status == "printing" && attempt > last_attempt {
            // Claimed again: the worker "crashes" on it, and its supervisor starts it again.
            last_attempt = attempt;
            worker.kill9();
            kills += 1;
            worker = WorkerProcess::start(&config);
        }
        assert!(std::time::Instant::now() < deadline, "the crash loop did not end: {d}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(kills, 3, "claimed exactly max_attempts times");
    let poison = raw_order(&db, "POISON").await;
    let error = poison.get_str("printError").unwrap();
    assert!(error.contains("claimed 3 times") && error.contains("may be what stops the worker"), "{error}");
    wait_for("the good orders printed", Duration::from_secs(60), || async {
        let n = orders.count_documents(doc! { "orderId": { "$in": &good }, "printStatus": "printed" }).await.unwrap();
        (n == good.len() as u64).then_some(())
    })
    .await;
    for id in &good {
        let job = raw_order(&db, id).await.get_str("printJobId").unwrap().to_owned();
        assert_eq!(eve.copies_of(&job), 1, "{id} printed once");
    }
    drop(worker);
}

/// The website's oddly typed orders with the real worker: the readable ones print, each other one ends
/// failed naming its field, the good orders print, and the worker never stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_worker_prints_readable_orders_and_fails_malformed_and_oversized_ones_naming_why() {
    let db = fresh_database(Mode::ReplicaSet, "malformed-e2e").await;
    let core: PrintCore = core(&db).await;
    core.migrate(&Default::default()).await.unwrap();
    let files = FileServer::start().await;
    files.route("/doc.pdf", Route::pdf(pdf(1, A4)));
    let url = files.url("/doc.pdf");
    let base = DateTime::now();
    let mut docs = Vec::new();
    for (id, mut d) in odd_orders(base) {
        if id == "FILE-OBJECT" {
            d.insert("fileURLs", vec![Bson::String(url.clone()), Bson::Document(doc! {})]);
        } else {
            d.insert("fileURL", url.clone());
        }
        docs.push(d);
    }
    for i in 0..3 {
        let mut d = paid_order(&format!("GOOD-{i}"), base, 10 - i);
        d.insert("fileURL", url.clone());
        docs.push(d);
    }
    // Two orders at MongoDB's size limit, older than the rest: one the claim's own write cannot take, one
    // claimed that leaves less than printcore's 64 KB headroom (failed whole, before any download).
    let limit = printcore::queue::size::MAX_DOCUMENT_BYTES;
    for (id, short) in [("BIG-REFUSED", 200), ("BIG-CLAIMED", 20_000)] {
        let mut d = paid_order(id, base, 2_000_000);
        d.insert("fileURL", url.clone());
        pad_to(&mut d, limit - short);
        docs.push(d);
    }
    let n = docs.len() as u64;
    insert_orders(&db, docs).await;
    let eve = IppEve::start(IppEveOptions { job_seconds: 0.02, ..IppEveOptions::default() });
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path(), "malformed", &server(Mode::ReplicaSet).uri, db.name(), &eve.uri(), "");
    let worker = WorkerProcess::start(&config);
    let pid = worker.pid();
    let orders = db.collection::<Document>("orders");
    wait_for("every order printed or failed", Duration::from_secs(60), || async {
        let done = orders.count_documents(doc! { "printStatus": { "$in": ["printed", "failed"] } }).await.unwrap();
        (done == n).then_some(())
    })
    .await;
    for id in ["COPIES-TEXT", "CREATED-TEXT", "GOOD-0", "GOOD-1", "GOOD-2"] {
        let o = raw_order(&db, id).await;
        assert_eq!(o.get_str("printStatus").unwrap(), "printed", "{id}: {o}");
        assert_eq!(eve.copies_of(o.get_str("printJobId").unwrap()), 1, "{id} on paper once");
    }
    for (id, field) in [
        ("COLOR-YES", r#"printingOptions.color is the string "yes""#),
        ("FILE-OBJECT", "fileURLs[1] is an object {}"),
        ("OPTIONS-TEXT", r#"printingOptions is the string "A4 colour""#),
        ("COPIES-HALF", "printingOptions.copies is the number 2.5"),
        ("DUPLEX-NUMBER", "printingOptions.duplex is the number 1"),
        ("SCHEDULE-TEXT", r#"printNotBefore is the string "2026-11-01T10:00:00.000Z""#),
    ] {
        let o = raw_order(&db, id).await;
        assert_eq!(o.get_str("printStatus").unwrap(), "failed", "{id}");
        let error = o.get_str("printError").unwrap();
        assert!(error.contains(field) && error.contains(&format!("order {id}")), "{id}: {error}");
    }
    for id in ["BIG-REFUSED", "BIG-CLAIMED"] {
        let o = without_preview(&db, id).await;
        assert_eq!(o.get_str("printStatus").unwrap(), "failed", "{id}: {o}");
        assert!(o.get_str("printJobId").map_or(true, |job| eve.copies_of(job) == 0), "{id} never reached the printer");
        // The worker copies its log entries to print_logs in batches, within about a second.
        wait_for(&format!("{id}'s log names the limit"), Duration::from_secs(10), || async {
            let entries = log_entries(&db, doc! { "orderId": id }).await;
            entries.iter().any(|e| e.get_str("reason").is_ok_and(|r| r.contains("16,711,680 bytes"))).then_some(())
        })
        .await;
    }
    assert!(worker.is_running(), "the worker never stopped");
    assert_eq!(worker.pid(), pid);
    assert!(core.snapshot().await.is_ok());
}

/// Issue 25 item 1: the checks of the waiting orders (malformed print fields, no printer can take it) read
/// one window of the index a pass, however many orders wait, and judge every order within a round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checks_of_the_waiting_orders_read_one_window_a_pass_and_judge_every_order_within_a_round() {
    use printcore::queue::{WaitingChecks, WaitingWalk};
    let (db, core) = migrated_core("waiting-walk").await;
    let printer = |id: &str| printcore::PrinterHealth {
        printer_id: id.into(),
        name: format!("Printer {id}"),
        printer_name: id.into(),
        status: printcore::PrinterStatus::Online,
        queue_length: Some(0),
        error_message: None,
        driver_name: None,
        system_name: Some("Linux".into()),
        connection_type: None,
        capabilities: Some(printcore::PrinterCapabilities {
            page_sizes: vec!["A4".into()],
            color: false,
            duplex: false,
            max_copies: 99,
        }),
        worker_id: "pc-1".into(),
        reachable: true,
        last_successful_print_at: None,
        state_reasons: Vec::new(),
    };
    core.record_printer_health(&printer("mono")).await.unwrap();

    // 2,500 waiting orders in `_id` order; among them, at the start, the middle and the end, orders the
    // checks must fail. Orders they must leave alone: unpaid, or printing, with the same faults.
    const N: usize = 2500;
    const WINDOW: i64 = 1000;
    let base = DateTime::now();
    let malformed_at = [0, 1200, N - 1];
    let unprintable_at = [600, 2000];
    let mut docs = Vec::new();
    for i in 0..N {
        let mut d = paid_order(&format!("W{i:04}"), base, 0);
        if malformed_at.contains(&i) {
            d.insert("printingOptions", doc! { "pageSize": "A4", "color": "yes" });
        }
        if unprintable_at.contains(&i) {
            d.insert("printingOptions", doc! { "pageSize": "A3", "color": true });
        }
        docs.push(d);
    }
    let mut string_id = paid_order("STRING-ID", base, 0);
    string_id.insert("_id", "website-chose-a-string-id");
    docs.push(string_id);
    // The last ObjectId there can be: nothing follows it, and the round still ends.
    let mut last_id = paid_order("LAST-ID", base, 0);
    last_id.insert("_id", ObjectId::parse_str("ffffffffffffffffffffffff").unwrap());
    last_id.insert("printingOptions", doc! { "color": "yes" });
    docs.push(last_id);
    let mut unpaid = paid_order("UNPAID-BAD", base, 0);
    unpaid.insert("paymentStatus", "pending");
    unpaid.insert("printingOptions", doc! { "color": "yes" });
    docs.push(unpaid);
    let mut printing = paid_order("PRINTING-BAD", base, 0);
    printing.insert("printStatus", "printing");
    printing.insert("printingOptions", doc! { "pageSize": "A3" });
    docs.push(printing);
    insert_orders(&db, docs).await;

    // The read of a pass examines at most a window's keys and documents, at the start and in the middle
    // of the walk, with 2,500 orders waiting.
    let worker = WorkerId::generate();
    let mut walk = WaitingWalk::new();
    let plan = core.explain_waiting(&walk, WINDOW).await.unwrap();
    let keys = printcore_tests::explain::aggregate_stat(&plan, "totalKeysExamined");
    let docs_read = printcore_tests::explain::aggregate_stat(&plan, "totalDocsExamined");
    assert!((1..=WINDOW + 1).contains(&keys), "keys examined {keys}: {plan}");
    assert!(docs_read <= WINDOW, "documents examined {docs_read}: {plan}");

    // The walk: each pass reads at most a window, the first one a whole window, and the round ends
    // within a few passes (more than 2,500 / 1,000: a range that crosses a second of the ObjectIds'
    // clock holds fewer), having failed exactly the bad ones.
    let ids = |v: &[(String, String)]| v.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>();
    let (mut malformed, mut rejected, mut passes, mut read) = (Vec::new(), Vec::new(), 0, 0);
    loop {
        let pass = core.check_waiting(&worker, &mut walk, WINDOW, WaitingChecks::ALL, 50).await.unwrap();
        passes += 1;
        assert!(pass.read <= WINDOW as u64 && pass.judged_unprintable, "{pass:?}");
        if passes == 1 {
            assert_eq!(pass.read, WINDOW as u64, "the first pass reads a whole window");
            assert!(!pass.round_done && !walk.at_start());
            // In the middle of the walk the read is still bounded by the window.
            let plan = core.explain_waiting(&walk, WINDOW).await.unwrap();
            let keys = printcore_tests::explain::aggregate_stat(&plan, "totalKeysExamined");
            assert!((1..=WINDOW + 1).contains(&keys), "mid-walk keys examined {keys}: {plan}");
        }
        read += pass.read;
        malformed.extend(ids(&pass.malformed));
        rejected.extend(ids(&pass.rejected));
        if pass.round_done {
            assert!(walk.at_start());
            break;
        }
        assert!(passes < 40, "the round never ended: {walk:?}");
    }
    assert!(passes >= 3, "{passes} passes for 2,500 orders");
    assert_eq!(read, N as u64 + 2, "every waiting order read once in the round, the unpaid one among them");
    malformed.sort();
    rejected.sort();
    assert_eq!(malformed, ["LAST-ID", "STRING-ID", "W0000", "W1200", "W2499"]);
    assert_eq!(rejected, ["W0600", "W2000"]);

    // Everything else waits as it did: a new round finds nothing.
    let orders = db.collection::<Document>("orders");
    assert_eq!(orders.count_documents(doc! { "printStatus": "failed" }).await.unwrap(), 7);
    assert_eq!(raw_order(&db, "UNPAID-BAD").await.get_str("printStatus").unwrap(), "pending");
    assert_eq!(raw_order(&db, "PRINTING-BAD").await.get_str("printStatus").unwrap(), "printing");
    let again = core.check_waiting(&worker, &mut walk, 3000, WaitingChecks::ALL, 50).await.unwrap();
    assert!(again.malformed.is_empty() && again.rejected.is_empty() && again.round_done, "{again:?}");
    assert_eq!(again.read, (N - 5) as u64 + 1, "the waiting orders, the unpaid one among them");
    assert!(walk.at_start());
    core.flush_logs().await;
    for id in ["W0000", "W0600", "W2499"] {
        assert_eq!(log_actions(&db, id).await, ["rejected"], "{id}");
    }

    // A pass whose check matched as many orders as its limit resumes right after the last it matched:
    // three malformed orders first in the walk (ObjectIds older than every other order), a window of 5
    // and a limit of 1. Moving on by the window instead would skip two of them.
    let bad: Vec<Document> = (1..=3u8)
        .map(|i| {
            let mut d = paid_order(&format!("EARLY-{i}"), base, 0);
            d.insert("_id", ObjectId::from_bytes([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, i]));
            d.insert("printingOptions", doc! { "duplex": 1 });
            d
        })
        .collect();
    insert_orders(&db, bad).await;
    let mut walk = WaitingWalk::new();
    for i in 1..=3 {
        let pass = core.check_waiting(&worker, &mut walk, 5, WaitingChecks::ALL, 1).await.unwrap();
        assert_eq!(ids(&pass.malformed), [format!("EARLY-{i}")], "{pass:?}");
        assert!(!pass.round_done && !walk.at_start(), "{pass:?}");
    }
    let next = core.check_waiting(&worker, &mut walk, 5, WaitingChecks::ALL, 1).await.unwrap();
    assert!(next.malformed.is_empty() && next.rejected.is_empty(), "{next:?}");
}

/// Orders of generated sizes up to MongoDB's 16 MB limit, the largest at the head of the queue, and good
/// orders behind them: claimed by one printer (`claim`) or by two printers of one kind together (`claim_all`,
/// a round's one write). Returns, per order, its final status, and the claims' errors.
async fn drain_oversized(
    db: &Database,
    core: &PrintCore,
    together: bool,
) -> (Vec<(String, usize, String)>, Vec<String>, u64) {
    let base = DateTime::now();
    let limit = printcore::queue::size::MAX_DOCUMENT_BYTES;
    // Bytes short of the limit: the claim's own write refused (a few hundred), the claim taken but no room
    // for the failure (about a thousand), room for the failure but not for printcore's headroom, and one
    // that fits (70,000 > the 64 KiB headroom). Oldest first, so they are at the head.
    // Each run takes one size from each band (the two runs different ones): every order this near the limit
    // costs the test server tens of megabytes of log.
    let shorts: &[usize] = if together { &[300, 1_100, 6_000, 70_000] } else { &[90, 700, 1_600, 30_000, 70_000] };
    let mut docs = Vec::new();
    let mut sizes = Vec::new();
    for (k, short) in shorts.iter().enumerate() {
        let id = format!("BIG-{short}");
        let mut d = paid_order(&id, base, 1_000_000 - k as i64);
        let size = pad_to(&mut d, limit - short);
        sizes.push((id, size));
        docs.push(d);
    }
    for i in 0..4 {
        let id = format!("GOOD-{i}");
        sizes.push((id.clone(), 0));
        docs.push(paid_order(&id, base, 10 - i));
    }
    let orders = db.collection::<Document>("orders");
    for d in docs {
        orders.insert_one(d).await.expect("MongoDB takes a document up to 16 MB");
    }
    let worker = WorkerId::generate();
    let second = ClaimTarget { printer_id: "back".into(), printer_name: "Back office".into(), capabilities: None };
    let mut errors = Vec::new();
    // Bounded: each pass takes an order or fails one; a claim that errors is tried again, as the worker does.
    for _ in 0..60 {
        let results = if together {
            core.claim_all(&worker, &[target(), second.clone()]).await
        } else {
            vec![core.claim(&worker, &target()).await]
        };
        let mut took = false;
        for r in results {
            match r {
                Ok(Some(job)) => {
                    took = true;
                    match job.order.blocking_problem() {
                        Some(problem) => job.fail_permanent(&problem).await.expect("an oversized order is failed"),
                        None => {
                            job.mark_sending().await.unwrap();
                            job.mark_submitted("1").await.unwrap();
                            job.complete().await.unwrap();
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => errors.push(e.to_string()),
            }
        }
        let waiting = orders.count_documents(doc! { "printStatus": { "$in": ["pending", "printing"] } }).await.unwrap();
        if !took && waiting == 0 {
            break;
        }
    }
    let mut out = Vec::new();
    for (id, size) in sizes {
        let status = orders
            .find_one(doc! { "orderId": &id })
            .projection(doc! { "printStatus": 1 })
            .await
            .unwrap()
            .unwrap()
            .get_str("printStatus")
            .unwrap()
            .to_owned();
        out.push((id, size, status));
    }
    (out, errors, core.claim_stats().refused)
}

#[tokio::test]
async fn an_order_too_large_to_record_its_print_is_failed_as_such_and_the_orders_behind_it_print() {
    for together in [false, true] {
        let (db, core) = migrated_core(if together { "oversized_round" } else { "oversized" }).await;
        let (orders, errors, refused) = drain_oversized(&db, &core, together).await;
        assert!(errors.is_empty(), "no claim fails on an oversized order (together: {together}): {errors:?}");
        let max = printcore::queue::size::MAX_ORDER_BYTES;
        for (id, size, status) in &orders {
            let expected = if *size > max { "failed" } else { "printed" };
            assert_eq!(status, expected, "{id} of {size} bytes (together: {together})");
            if *size > max {
                // The reason is in the audit log whatever room the order had; in printError when it fit.
                let reasons: Vec<String> = log_entries(&db, doc! { "orderId": id })
                    .await
                    .iter()
                    .filter_map(|e| e.get_str("reason").ok().map(str::to_owned))
                    .collect();
                assert!(
                    reasons.iter().any(|r| r.contains(id.as_str()) && r.contains("16,711,680 bytes")),
                    "{id}: the log names the order and the size it may have: {reasons:?}"
                );
                let stored = raw_order(&db, id).await;
                if let Ok(error) = stored.get_str("printError") {
                    assert!(
                        error.contains(&format!("order {id} ")) && error.contains("16,711,680 bytes"),
                        "{id}: {error}"
                    );
                }
            }
        }
        // Each way an oversized order meets the database was met: the claim's write refused (failed by the
        // claim), a failure with no room for its error (the status alone), and one written whole.
        let mut ways = std::collections::BTreeSet::new();
        let mut refused_by_claim = 0;
        for (id, size, _) in orders.iter().filter(|(_, size, _)| *size > max) {
            let refused = log_entries(&db, doc! { "orderId": id, "action": "rejected" }).await;
            let stored = raw_order(&db, id).await;
            let way = match (refused.is_empty(), stored.contains_key("printError")) {
                (false, true) => "refused by the claim, failed whole",
                (false, false) => "refused by the claim, status alone",
                (true, true) => "claimed, failed whole",
                (true, false) => "claimed, status alone",
            };
            println!("{id} ({size} bytes): {way}");
            refused_by_claim += u64::from(way.starts_with("refused"));
            ways.insert(way);
        }
        assert!(ways.contains("refused by the claim, status alone"), "{ways:?}");
        assert_eq!(
            refused, refused_by_claim,
            "the claim counts the orders it failed (the worker's /metrics shows them)"
        );
        assert!(ways.contains("claimed, status alone"), "{ways:?}");
        assert!(ways.contains("claimed, failed whole"), "{ways:?}");
        let failed = orders.iter().filter(|(_, _, s)| s == "failed").count();
        // Every generated order but the one 70,000 bytes short (it fits) is past the headroom.
        let big = orders.iter().filter(|(id, _, _)| id.starts_with("BIG-")).count();
        assert_eq!(failed, big - 1, "every order past the headroom failed, and only those: {orders:?}");
        let _ = db.drop().await;
    }
}

/// An order too large for printcore's record, left `printing` by a worker that died before sending it:
/// recovery hands it back (its status alone: the whole hand-back does not fit) without stopping on it, the
/// expired orders after it are recovered in the same pass, and the next claim fails it as too large.
#[tokio::test]
async fn recovery_hands_back_an_oversized_order_left_by_a_dead_worker_and_goes_on() {
    let (db, core) = migrated_core("oversized_recovery").await;
    let base = DateTime::now();
    let dead = WorkerId::generate();
    let expired = DateTime::from_millis(base.timestamp_millis() - 60_000);
    let left = |id: &str, age: i64| left_printing(id, base, age, dead.as_str(), expired);
    let limit = printcore::queue::size::MAX_DOCUMENT_BYTES;
    let mut big = left("BIG-LEFT", 3_000);
    // So close to the limit that the hand-back's log entry does not fit in the order's outbox.
    pad_to(&mut big, limit - 100);
    let orders = db.collection::<Document>("orders");
    orders.insert_one(big).await.unwrap();
    orders.insert_one(left("SMALL-LEFT", 2_000)).await.unwrap();

    let live = WorkerId::generate();
    let report = core.recover_expired(&live, 100).await.expect("recovery does not stop on an oversized order");
    let mut returned = report.returned.clone();
    returned.sort();
    assert_eq!(returned, ["BIG-LEFT", "SMALL-LEFT"], "{report:?}");
    assert_eq!(raw_order(&db, "SMALL-LEFT").await.get_str("printStatus").unwrap(), "pending");
    let big = without_preview(&db, "BIG-LEFT").await;
    assert_eq!(big.get_str("printStatus").unwrap(), "pending", "{big}");
    assert_eq!(log_actions(&db, "BIG-LEFT").await, ["lease_expired"], "its hand-back is in the log");

    // The next claims: the big one is failed as too large where it waits, the small one is taken.
    let job = core.claim(&live, &target()).await.expect("no claim fails").expect("the small order");
    assert_eq!(job.order.order_id, "SMALL-LEFT");
    let big = without_preview(&db, "BIG-LEFT").await;
    assert_eq!(big.get_str("printStatus").unwrap(), "failed", "{big}");
    assert_eq!(core.claim_stats().refused, 1);
}

/// A website call on an order at MongoDB's size limit (the payment) fails with a message saying what to
/// do, and not as transient: a caller that retries transient errors would try for ever.
#[tokio::test]
async fn a_payment_on_an_order_at_the_size_limit_fails_saying_what_to_do_and_not_as_transient() {
    let (db, core) = migrated_core("oversized_payment").await;
    let mut unpaid = doc! { "orderId": "BIG-UNPAID", "paymentStatus": "pending", "createdAt": DateTime::now() };
    let limit = printcore::queue::size::MAX_DOCUMENT_BYTES;
    pad_to(&mut unpaid, limit - 50);
    db.collection::<Document>("orders").insert_one(unpaid).await.unwrap();
    let e = core.mark_paid("BIG-UNPAID", &printcore::MarkPaid::default()).await.expect_err("no room for the payment");
    assert_eq!(e.code(), "DATABASE");
    assert!(!e.is_transient(), "trying again cannot help: {e}");
    let message = e.to_string();
    assert!(
        message.contains("too large for printcore's fields") && message.contains("make the order smaller"),
        "{message}"
    );
    let stored = without_preview(&db, "BIG-UNPAID").await;
    assert_eq!(stored.get_str("paymentStatus").unwrap(), "pending", "nothing half-written: {stored}");
    assert!(!stored.contains_key("printStatus"), "{stored}");
}
