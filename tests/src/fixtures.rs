//! Orders and cores for tests: documents shaped like the website's, with fields printcore does not know.

use bson::{doc, oid::ObjectId, DateTime, Document};
use mongodb::Database;
use printcore::{CoreConfig, PrintCore};

/// A core on `db` with the default rules and inline log delivery (entries readable when a call returns).
pub async fn core(db: &Database) -> PrintCore {
    core_with(db, CoreConfig::default()).await
}

/// A fresh database of the replica-set test server (named after `tag`), migrated, with a [`core`] on it:
/// where most tests start.
pub async fn migrated_core(tag: &str) -> (Database, PrintCore) {
    let db = crate::db::fresh_database(crate::db::Mode::ReplicaSet, tag).await;
    let core = core(&db).await;
    core.migrate(&Default::default()).await.expect("the migration on a fresh test database");
    (db, core)
}

pub async fn core_with(db: &Database, config: CoreConfig) -> PrintCore {
    PrintCore::with_database(db.clone(), config).await.expect("printcore on the test database")
}

/// The website's own fields on an order, which printcore must keep as they are.
pub fn website_fields() -> Document {
    doc! {
        "customer": { "name": "Ada Lovelace", "email": "ada@example.com", "phone": "+44 20 0000 0000" },
        "items": [ { "sku": "FLYER-A4", "qty": 2, "price": 4.5 }, { "sku": "POSTER-A3", "qty": 1, "price": 12.0 } ],
        "total": 21.0,
        "currency": "GBP",
        "status": "processing",
        "notes": "leave at the front desk",
    }
}

/// A paid, pending order with a file, created `age_ms` milliseconds before `base`.
pub fn paid_order(order_id: &str, base: DateTime, age_ms: i64) -> Document {
    let mut d = doc! {
        "_id": ObjectId::new(),
        "orderId": order_id,
        "paymentStatus": "completed",
        "printStatus": "pending",
        "fileURL": format!("https://res.cloudinary.com/shop/raw/upload/{order_id}.pdf"),
        "printingOptions": { "pageSize": "A4", "color": false, "duplex": false, "copies": 1 },
        "createdAt": DateTime::from_millis(base.timestamp_millis() - age_ms),
        "printPriority": 0,
        "printAttempt": 0,
    };
    d.extend(website_fields());
    d
}

/// A whole number stored as an int32, int64 or double (as `$inc` and `$add` leave it), as i64.
pub fn stored_int(doc: &Document, field: &str) -> Option<i64> {
    match doc.get(field)? {
        bson::Bson::Int32(n) => Some(i64::from(*n)),
        bson::Bson::Int64(n) => Some(*n),
        bson::Bson::Double(n) if n.fract() == 0.0 => Some(*n as i64),
        _ => None,
    }
}

/// Inserts documents into `orders`.
pub async fn insert_orders(db: &Database, docs: Vec<Document>) {
    if !docs.is_empty() {
        db.collection::<Document>("orders").insert_many(docs).await.expect("insert test orders");
    }
}

/// The stored order by `orderId`, as a raw document.
pub async fn raw_order(db: &Database, order_id: &str) -> Document {
    db.collection::<Document>("orders").find_one(doc! { "orderId": order_id }).await.unwrap().expect("order exists")
}

/// How many print_logs entries an order has.
pub async fn log_count(db: &Database, order_id: &str) -> u64 {
    db.collection::<Document>("print_logs").count_documents(doc! { "orderId": order_id }).await.unwrap()
}

/// The print_logs entries matching `filter`, oldest first: the complete history, including entries still
/// waiting in an order's outbox (a worker delivers its entries in batches up to a second apart, and a
/// killed worker leaves its last ones for the recovery sweep), which are delivered first.
pub async fn log_entries(db: &Database, filter: Document) -> Vec<Document> {
    let delivery = PrintCore::with_database(db.clone(), CoreConfig::default()).await.unwrap();
    delivery.flush_log_outbox(std::time::Duration::ZERO, 1_000_000).await.unwrap();
    stored_log_entries(db, filter).await
}

/// The print_logs entries matching `filter` as stored, oldest first: unlike [`log_entries`], nothing waiting
/// in an outbox is delivered first (for tests of the delivery itself).
pub async fn stored_log_entries(db: &Database, filter: Document) -> Vec<Document> {
    use futures::TryStreamExt;
    db.collection::<Document>("print_logs")
        .find(filter)
        .sort(doc! { "timestamp": 1, "_id": 1 })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

/// The order's log actions in print_logs as stored, oldest first (nothing delivered first).
pub async fn stored_log_actions(db: &Database, order_id: &str) -> Vec<String> {
    let docs = stored_log_entries(db, doc! { "orderId": order_id }).await;
    docs.iter().map(|d| d.get_str("action").unwrap().to_owned()).collect()
}

/// The order's log actions, oldest first.
pub async fn log_actions(db: &Database, order_id: &str) -> Vec<String> {
    let docs = log_entries(db, doc! { "orderId": order_id }).await;
    docs.iter().map(|d| d.get_str("action").unwrap().to_owned()).collect()
}

/// An order document without its audit outbox (which delivery empties at its own pace), for comparing
/// an order before and after an operation that must not change it.
pub fn without_outbox(mut d: Document) -> Document {
    d.remove("printLogOutbox");
    d
}

/// A file fetcher for files served by a test's own server on loopback (plain HTTP, any port of
/// 127.0.0.1), otherwise the default policy.
pub fn loopback_fetcher() -> printcore::files::FileFetcher {
    printcore::files::FileFetcher::new(printcore::files::FilePolicy {
        allowed_hosts: vec!["127.0.0.1:*".into()],
        allow_http: true,
        allow_loopback: true,
        ..printcore::files::FilePolicy::default()
    })
    .expect("the loopback file policy")
}

/// A printer of a print PC in the worker tests, named after its id (a Linux printer, nothing else known).
pub fn printer_identity(id: &str) -> printworker::health::PrinterIdentity {
    printworker::health::PrinterIdentity {
        printer_id: id.into(),
        name: format!("Printer {id}"),
        printer_name: id.into(),
        driver_name: None,
        system_name: Some("Linux".into()),
        connection_type: None,
    }
}
