//! The migration (`npm run migrate-print-status`, `worker migrate`): indexes, `printStatus` backfilled on
//! existing orders, printers registered. Safe to run any number of times: a second run changes nothing
//! and reports zeros.

use crate::core::PrintCore;
use crate::error::{Error, Result};
use crate::model::{collections, PrintStatus, PrinterCapabilities};
use bson::{doc, Bson, Document};
use mongodb::options::IndexOptions;
use mongodb::IndexModel;

/// A printer to register (or refresh) in `printers`.
#[derive(Debug, Clone)]
pub struct PrinterRegistration {
    pub printer_id: String,
    pub name: String,
    /// The printer's name on the print PC (the CUPS queue or Windows printer name).
    pub printer_name: String,
    pub system_name: Option<String>,
    pub connection_type: Option<String>,
    pub driver_name: Option<String>,
    pub capabilities: Option<PrinterCapabilities>,
    pub worker_id: Option<String>,
}

/// Options of [`PrintCore::migrate`].
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// Orders matching this filter are delivered (so printed). The website's field for delivery differs
    /// between shops; the default checks `status`, `orderStatus` and `deliveryStatus` for 'delivered'.
    pub delivered_filter: Document,
    pub printers: Vec<PrinterRegistration>,
}

impl Default for MigrateOptions {
    fn default() -> Self {
        MigrateOptions {
            delivered_filter: doc! { "$or": [
                { "status": "delivered" },
                { "orderStatus": "delivered" },
                { "deliveryStatus": "delivered" },
            ] },
            printers: Vec::new(),
        }
    }
}

/// What the migration changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Every index the design needs, by collection and name (created or already there).
    pub indexes: Vec<String>,
    /// Orders without `printStatus` that were delivered: now `printed`.
    pub orders_marked_printed: u64,
    /// Orders without `printStatus` with a completed payment, not delivered: now `pending`.
    pub orders_marked_pending: u64,
    pub printers_registered: u64,
    pub printers_updated: u64,
}

fn index(keys: Document, name: &str) -> IndexModel {
    IndexModel::builder().keys(keys).options(IndexOptions::builder().name(name.to_owned()).build()).build()
}

fn with(keys: Document, name: &str, options: IndexOptions) -> IndexModel {
    let mut options = options;
    options.name = Some(name.to_owned());
    IndexModel::builder().keys(keys).options(options).build()
}

/// Every index printcore's queries need, per collection. Each hot query names the index it uses in
/// ARCHITECTURE.md.
pub fn required_indexes() -> Vec<(&'static str, IndexModel)> {
    let unique_sparse = IndexOptions::builder().unique(true).sparse(true).build();
    vec![
        (
            collections::ORDERS,
            index(doc! { "printStatus": 1, "paymentStatus": 1, "createdAt": 1 }, "printStatus_paymentStatus_createdAt"),
        ),
        (collections::ORDERS, index(doc! { "printStatus": 1, "createdAt": -1 }, "printStatus_createdAt_desc")),
        (collections::ORDERS, index(doc! { "printerId": 1, "printStatus": 1 }, "printerId_printStatus")),
        (collections::ORDERS, with(doc! { "printJobId": 1 }, "printJobId_unique", unique_sparse)),
        (collections::ORDERS, index(doc! { "printingBy": 1, "printStatus": 1 }, "printingBy_printStatus")),
        // The claim: equality on status and payment, sorted by priority then age.
        (
            collections::ORDERS,
            index(doc! { "printStatus": 1, "paymentStatus": 1, "printPriority": -1, "createdAt": 1 }, "claim_order"),
        ),
        // Recovery: printing orders by lease end.
        (collections::ORDERS, index(doc! { "printStatus": 1, "printLeaseUntil": 1 }, "printStatus_printLeaseUntil")),
        // The monitor: printed in the last 24 hours.
        (collections::ORDERS, index(doc! { "printStatus": 1, "printCompletedAt": -1 }, "printStatus_printCompletedAt")),
        // Admin actions and mark_paid address orders by the website's orderId.
        (collections::ORDERS, index(doc! { "orderId": 1 }, "orderId")),
        // Audit entries not yet copied to print_logs.
        (
            collections::ORDERS,
            with(doc! { "printLogOutbox._id": 1 }, "printLogOutbox_id", IndexOptions::builder().sparse(true).build()),
        ),
        (collections::PRINTERS, index(doc! { "status": 1, "isActive": 1 }, "status_isActive")),
        (
            collections::PRINTERS,
            with(doc! { "printer_id": 1 }, "printer_id_unique", IndexOptions::builder().unique(true).build()),
        ),
        (collections::PRINTERS, index(doc! { "last_seen_at": -1 }, "last_seen_at_desc")),
        (collections::PRINT_LOGS, index(doc! { "orderId": 1, "timestamp": -1 }, "orderId_timestamp")),
        (collections::PRINT_LOGS, index(doc! { "timestamp": -1 }, "timestamp_desc")),
        (collections::PRINT_LOGS, index(doc! { "action": 1, "timestamp": -1 }, "action_timestamp")),
        (collections::METRICS, index(doc! { "timestamp": -1 }, "timestamp_desc")),
        (collections::METRICS, index(doc! { "workerId": 1, "timestamp": -1 }, "workerId_timestamp")),
    ]
}

impl PrintCore {
    /// Creates every index, backfills `printStatus` on orders that have none, and registers printers.
    pub async fn migrate(&self, options: &MigrateOptions) -> Result<MigrationReport> {
        let mut report = MigrationReport::default();
        let db = &self.inner.db;
        for (collection, model) in required_indexes() {
            let name = model.options.as_ref().and_then(|o| o.name.clone()).unwrap_or_default();
            db.collection::<Document>(collection).create_index(model).await.map_err(|e| Error::Database {
                context: format!(
                    "creating index {name} on {collection} (if it is the unique printJobId index, two orders share a printJobId: fix them and run the migration again)"
                ),
                source: e,
            })?;
            report.indexes.push(format!("{collection}.{name}"));
        }

        let now = self.now();
        let untouched = doc! { "printStatus": { "$exists": false } };
        let mut delivered = untouched.clone();
        delivered.insert("$and", vec![options.delivered_filter.clone()]);
        report.orders_marked_printed = self
            .inner
            .orders
            .update_many(delivered, doc! { "$set": { "printStatus": PrintStatus::Printed.as_str(), "printAttempt": 0, "printPriority": 0 } })
            .await
            .map_err(Error::db("backfilling printStatus on delivered orders"))?
            .modified_count;
        let mut paid = untouched;
        paid.insert("paymentStatus", "completed");
        report.orders_marked_pending = self
            .inner
            .orders
            .update_many(paid, doc! { "$set": { "printStatus": PrintStatus::Pending.as_str(), "printAttempt": 0, "printPriority": 0 } })
            .await
            .map_err(Error::db("backfilling printStatus on paid orders"))?
            .modified_count;

        for p in &options.printers {
            let (inserted, modified) = self.register_printer(p).await?;
            report.printers_registered += inserted as u64;
            report.printers_updated += modified as u64;
        }

        if report.orders_marked_pending + report.orders_marked_printed > 0 {
            // One summary entry: the backfill initialises the state machine rather than moving orders in it.
            let entry = doc! {
                "_id": bson::oid::ObjectId::new(),
                "action": "migration",
                "orderId": "*",
                "reason": "migration backfilled printStatus on existing orders",
                "timestamp": now,
                "metadata": {
                    "by": "migration",
                    "ordersMarkedPending": report.orders_marked_pending as i64,
                    "ordersMarkedPrinted": report.orders_marked_printed as i64,
                },
            };
            self.inner.logs.insert_one(entry).await.map_err(Error::db("logging the migration"))?;
        }
        Ok(report)
    }

    /// Inserts or refreshes one printer's registration; returns (inserted, modified). Health fields are
    /// left to the health loop; an existing printer keeps its status and history.
    pub async fn register_printer(&self, p: &PrinterRegistration) -> Result<(bool, bool)> {
        if p.printer_id.trim().is_empty() {
            return Err(Error::InvalidArgument("a printer needs a printer_id".into()));
        }
        let mut set = doc! { "name": &p.name, "printer_name": &p.printer_name };
        let optional = [
            ("system_name", p.system_name.clone()),
            ("connectionType", p.connection_type.clone()),
            ("driver_name", p.driver_name.clone()),
            ("workerId", p.worker_id.clone()),
        ];
        for (k, v) in optional {
            if let Some(v) = v {
                set.insert(k, v);
            }
        }
        if let Some(c) = &p.capabilities {
            set.insert("capabilities", bson::to_bson(c).expect("capabilities serialise"));
        }
        let r = self
            .inner
            .printers
            .update_one(
                doc! { "printer_id": &p.printer_id },
                doc! {
                    "$set": set,
                    "$setOnInsert": {
                        "status": "offline",
                        "queue_length": 0,
                        "isActive": true,
                        "autoPrintEnabled": true,
                        "last_seen_at": Bson::Null,
                    },
                },
            )
            .upsert(true)
            .await
            .map_err(Error::db(format!("registering printer {}", p.printer_id)))?;
        Ok((r.upserted_id.is_some(), r.upserted_id.is_none() && r.modified_count > 0))
    }
}
