//! The migration (`npm run migrate-print-status`, `worker migrate`): indexes, `printStatus` backfilled on
//! existing orders, printers registered. Safe to run any number of times: a second run changes nothing
//! and reports zeros.

use crate::db::PrintCore;
use crate::error::{Error, Result};
use crate::model::{collections, PrintStatus, PrinterCapabilities};
use bson::{doc, Bson, Document};
use mongodb::options::IndexOptions;
use mongodb::IndexModel;

/// A printer to register (or refresh) in `printers`.
#[derive(Debug, Clone)]
pub struct PrinterRegistration {
    /// The printer's unique id (`printer_id`).
    pub printer_id: String,
    /// The shop's name for it ("Front desk").
    pub name: String,
    /// The printer's name on the print PC (the CUPS queue or Windows printer name).
    pub printer_name: String,
    /// `Windows` or `Linux`.
    pub system_name: Option<String>,
    /// `usb`, `network` or `wireless`.
    pub connection_type: Option<String>,
    /// The driver, when known.
    pub driver_name: Option<String>,
    /// What it can print; `None` keeps what is stored.
    pub capabilities: Option<PrinterCapabilities>,
    /// The worker that drives it.
    pub worker_id: Option<String>,
}

/// Options of [`PrintCore::migrate`].
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// Orders matching this filter are delivered (so printed). The website's field for delivery differs
    /// between shops; the default checks `status`, `orderStatus` and `deliveryStatus` for 'delivered'.
    pub delivered_filter: Document,
    /// Printers to register, or refresh when their `printer_id` is already stored.
    pub printers: Vec<PrinterRegistration>,
    /// Only report what the migration would change; write nothing.
    pub dry_run: bool,
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
            dry_run: false,
        }
    }
}

/// Values of one field rewritten to the spelling printcore uses (`'Pending'` -> `'pending'`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalised {
    /// The field (`printStatus`, `paymentStatus`).
    pub field: &'static str,
    /// The value found, as it looks in a message (`the string "Pending"`).
    pub from: String,
    /// The spelling written.
    pub to: &'static str,
    /// How many orders were rewritten (a dry run: would be).
    pub orders: u64,
}

/// Values of one field the migration found and cannot map (an admin decides what they mean).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    /// The field.
    pub field: &'static str,
    /// The value found, as it looks in a message.
    pub value: String,
    /// How many orders hold it.
    pub orders: u64,
    /// What to do about it.
    pub hint: String,
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
    /// Printers that were not stored before.
    pub printers_registered: u64,
    /// Printers already stored, refreshed.
    pub printers_updated: u64,
    /// Indexes that did not exist before (a dry run: that would be created).
    pub indexes_created: Vec<String>,
    /// Indexes dropped and created again with other options (the sparse unique `printJobId` index becomes a
    /// partial one on string values, so websites that write `printJobId: null` keep working).
    pub indexes_replaced: Vec<String>,
    /// `printStatus` / `paymentStatus` spellings normalised (a dry run: that would be).
    pub normalised: Vec<Normalised>,
    /// Values found that the migration cannot normalise; nothing was written for them.
    pub unresolved: Vec<Unresolved>,
    /// Nothing was written: the counts say what a real run would do.
    pub dry_run: bool,
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
    // Unique among orders that have a print job id. A partial index on strings, not a sparse one: a
    // sparse index still holds `printJobId: null`, which websites whose schema writes null would collide on.
    let unique_job_id = IndexOptions::builder()
        .unique(true)
        .partial_filter_expression(doc! { "printJobId": { "$type": "string" } })
        .build();
    vec![
        (
            collections::ORDERS,
            index(doc! { "printStatus": 1, "paymentStatus": 1, "createdAt": 1 }, "printStatus_paymentStatus_createdAt"),
        ),
        (collections::ORDERS, index(doc! { "printStatus": 1, "createdAt": -1 }, "printStatus_createdAt_desc")),
        (collections::ORDERS, index(doc! { "printerId": 1, "printStatus": 1 }, "printerId_printStatus")),
        (collections::ORDERS, with(doc! { "printJobId": 1 }, PRINT_JOB_ID_INDEX, unique_job_id)),
        (collections::ORDERS, index(doc! { "printingBy": 1, "printStatus": 1 }, "printingBy_printStatus")),
        // The design's claim index: the monitor lists waiting orders in claim order with it.
        (
            collections::ORDERS,
            index(doc! { "printStatus": 1, "paymentStatus": 1, "printPriority": -1, "createdAt": 1 }, "claim_order"),
        ),
        // The claim itself: as `claim_order` with `printNotBefore` (null unless scheduled later) before the
        // order, and for a printer with known capabilities colour, duplex and page size too, so the orders
        // a claim must not take are outside the ranges it reads (`queue::claim_query`).
        (
            collections::ORDERS,
            index(
                doc! { "printStatus": 1, "paymentStatus": 1, "printNotBefore": 1, "printPriority": -1, "createdAt": 1 },
                crate::queue::CLAIM_INDEX,
            ),
        ),
        (
            collections::ORDERS,
            index(
                doc! {
                    "printStatus": 1, "paymentStatus": 1, "printNotBefore": 1, "printingOptions.color": 1,
                    "printingOptions.duplex": 1, "printingOptions.pageSize": 1, "printPriority": -1, "createdAt": 1,
                },
                crate::queue::CLAIM_FIT_INDEX,
            ),
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
        // Admins' requests to cancel a job at its printer (few at a time; the printer's worker polls them).
        (
            collections::ORDERS,
            with(
                doc! { "printCancelRequest.requestedAt": 1 },
                "printCancelRequest",
                IndexOptions::builder().sparse(true).build(),
            ),
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
        // Paged reads of the history (`logs_page`): newest first with `_id` breaking ties, so a page is read
        // in index order (no in-memory sort) and the cursor neither skips nor repeats an entry.
        (collections::PRINT_LOGS, index(doc! { "timestamp": -1, "_id": -1 }, "timestamp_id")),
        (collections::PRINT_LOGS, index(doc! { "orderId": 1, "timestamp": -1, "_id": -1 }, "orderId_timestamp_id")),
        (collections::PRINT_LOGS, index(doc! { "action": 1, "timestamp": -1, "_id": -1 }, "action_timestamp_id")),
        // Paged reads of the orders in one state (`orders_page`, e.g. every failed order), newest first.
        (collections::ORDERS, index(doc! { "printStatus": 1, "_id": -1 }, "printStatus_id")),
        // The admin's order search (`orders_page` with any of status, printer and a createdAt range),
        // newest first with `_id` breaking ties: each combination has an index whose order is the page's,
        // so a page is read in index order with bounds on createdAt. An orderId search uses `orderId`.
        (collections::ORDERS, index(doc! { "createdAt": -1, "_id": -1 }, "createdAt_id")),
        (collections::ORDERS, index(doc! { "printStatus": 1, "createdAt": -1, "_id": -1 }, "printStatus_createdAt_id")),
        (collections::ORDERS, index(doc! { "printerId": 1, "createdAt": -1, "_id": -1 }, "printerId_createdAt_id")),
        (
            collections::ORDERS,
            index(
                doc! { "printerId": 1, "printStatus": 1, "createdAt": -1, "_id": -1 },
                "printerId_printStatus_createdAt_id",
            ),
        ),
        // Alerts (`monitor/alerts.rs`): the pass reads the episodes not closed; closed ones expire after 30 days.
        (crate::monitor::alerts::ALERTS, index(doc! { "phase": 1 }, "phase")),
        (
            crate::monitor::alerts::ALERTS,
            with(
                doc! { "closedAt": 1 },
                "closedAt_ttl",
                IndexOptions::builder().expire_after(std::time::Duration::from_secs(30 * 24 * 3600)).build(),
            ),
        ),
        (collections::METRICS, index(doc! { "timestamp": -1 }, "timestamp_desc")),
        (collections::METRICS, index(doc! { "workerId": 1, "timestamp": -1 }, "workerId_timestamp")),
    ]
}

impl std::fmt::Display for Normalised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} set to \"{}\" on {} order(s)", self.field, self.from, self.to, self.orders)
    }
}

impl std::fmt::Display for Unresolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is {} on {} order(s): {}", self.field, self.value, self.orders, self.hint)
    }
}

impl MigrationReport {
    /// The report as lines for a person (the worker's `migrate` and the npm script print these).
    pub fn lines(&self) -> Vec<String> {
        let would = if self.dry_run { "would be " } else { "" };
        let mut out = Vec::new();
        if self.dry_run {
            out.push("dry run: nothing was written".to_owned());
        }
        out.push(format!("indexes required: {}", self.indexes.len()));
        for i in &self.indexes_created {
            out.push(format!("  index {would}created: {i}"));
        }
        for i in &self.indexes_replaced {
            out.push(format!(
                "  index {would}replaced: {i} (sparse -> partial on string values, so printJobId: null is allowed)"
            ));
        }
        for n in &self.normalised {
            out.push(if self.dry_run { format!("would change {n}") } else { n.to_string() });
        }
        out.push(format!("orders {would}set to pending (paid, not delivered): {}", self.orders_marked_pending));
        out.push(format!("orders {would}set to printed (delivered): {}", self.orders_marked_printed));
        if !self.dry_run {
            out.push(format!("printers registered: {}, updated: {}", self.printers_registered, self.printers_updated));
        }
        for u in &self.unresolved {
            out.push(format!("NOT CHANGED: {u}"));
        }
        out
    }
}

/// The unique index on `printJobId`.
const PRINT_JOB_ID_INDEX: &str = "printJobId_unique";

/// The payment states the website's `paymentStatus` takes, in printcore's spelling.
const PAYMENT_STATES: [&str; 3] = ["pending", "completed", "failed"];

impl PrintCore {
    /// Creates every index, normalises `paymentStatus` and `printStatus` spellings, backfills
    /// `printStatus` on orders that have none (or null), and registers printers. With `dry_run` it writes
    /// nothing and reports what it would do.
    pub async fn migrate(&self, options: &MigrateOptions) -> Result<MigrationReport> {
        let mut report = MigrationReport { dry_run: options.dry_run, ..MigrationReport::default() };
        self.migrate_indexes(options.dry_run, &mut report).await?;

        // Spellings first, so an order paid as 'Completed' without a printStatus is backfilled as paid.
        let payment_states: Vec<&'static str> = PAYMENT_STATES.to_vec();
        let payment_spellings = self
            .normalise("paymentStatus", &payment_states, options.dry_run, &mut report, |v| {
                format!(
                    "printcore does not know the payment state {v:?}; set paymentStatus to one of {} by hand \
                 (orders are printed only when it is completed)",
                    PAYMENT_STATES.join(", ")
                )
            })
            .await?;
        let print_states: Vec<&'static str> = PrintStatus::ALL.iter().map(|s| s.as_str()).collect();
        self.normalise("printStatus", &print_states, options.dry_run, &mut report, |_| {
            "set printStatus on these orders to one of pending, printing, printed, failed, cancelled by hand (or remove \
             it and run the migration again to backfill it)"
                .to_owned()
        })
        .await?;

        let now = self.now();
        // No printStatus, or null (websites whose schema writes null).
        let untouched = doc! { "printStatus": Bson::Null };
        let mut delivered = untouched.clone();
        delivered.insert("$and", vec![options.delivered_filter.clone()]);
        let mut paid = untouched;
        // A dry run wrote no spelling: count the spellings of "completed" it would have fixed too.
        let mut completed = vec![Bson::String("completed".into())];
        completed.extend(payment_spellings.into_iter().filter(|(_, to)| *to == "completed").map(|(from, _)| from));
        paid.insert("paymentStatus", doc! { "$in": completed });
        paid.insert("$nor", vec![options.delivered_filter.clone()]);
        let backfill = |status: PrintStatus| {
            doc! { "$set": { "printStatus": status.as_str(), "printAttempt": 0, "printPriority": 0 } }
        };
        if options.dry_run {
            let count = |f: Document| self.inner.orders.count_documents(f);
            report.orders_marked_printed = count(delivered).await.map_err(Error::db("counting delivered orders"))?;
            report.orders_marked_pending = count(paid).await.map_err(Error::db("counting paid orders"))?;
        } else {
            report.orders_marked_printed = self
                .inner
                .orders
                .update_many(delivered, backfill(PrintStatus::Printed))
                .await
                .map_err(Error::db("backfilling printStatus on delivered orders"))?
                .modified_count;
            report.orders_marked_pending = self
                .inner
                .orders
                .update_many(paid, backfill(PrintStatus::Pending))
                .await
                .map_err(Error::db("backfilling printStatus on paid orders"))?
                .modified_count;
        }

        if !options.dry_run {
            for p in &options.printers {
                let (inserted, modified) = self.register_printer(p).await?;
                report.printers_registered += inserted as u64;
                report.printers_updated += modified as u64;
            }
        }
        if options.dry_run {
            return Ok(report);
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

    /// Creates the required indexes (reporting those that were missing); replaces a `printJobId` index
    /// whose options differ from the required one (the old sparse index).
    async fn migrate_indexes(&self, dry_run: bool, report: &mut MigrationReport) -> Result<()> {
        use futures::TryStreamExt;
        let db = &self.inner.db;
        for (collection, model) in required_indexes() {
            let coll = db.collection::<Document>(collection);
            let name = model.options.as_ref().and_then(|o| o.name.clone()).unwrap_or_default();
            let qualified = format!("{collection}.{name}");
            let existing: Vec<IndexModel> = match coll.list_indexes().await {
                Ok(cursor) => {
                    cursor.try_collect().await.map_err(Error::db(format!("listing indexes of {collection}")))?
                }
                // A collection that does not exist yet has no indexes.
                Err(e) if matches!(*e.kind, mongodb::error::ErrorKind::Command(ref c) if c.code == 26) => Vec::new(),
                Err(e) => {
                    return Err(Error::Database { context: format!("listing indexes of {collection}"), source: e })
                }
            };
            let same_keys = existing.iter().find(|i| i.keys == model.keys);
            if name == PRINT_JOB_ID_INDEX {
                if let Some(old) = same_keys {
                    let partial = old.options.as_ref().and_then(|o| o.partial_filter_expression.clone());
                    let wanted = model.options.as_ref().and_then(|o| o.partial_filter_expression.clone());
                    if partial != wanted {
                        let old_name = old.options.as_ref().and_then(|o| o.name.clone()).unwrap_or_default();
                        report.indexes_replaced.push(qualified.clone());
                        if !dry_run {
                            coll.drop_index(old_name.clone())
                                .await
                                .map_err(Error::db(format!("dropping the old index {old_name} on {collection}")))?;
                        }
                    }
                }
            }
            if same_keys.is_none() {
                report.indexes_created.push(qualified.clone());
            }
            if !dry_run {
                coll.create_index(model).await.map_err(|e| Error::Database {
                    context: format!(
                        "creating index {name} on {collection} (if it is the unique printJobId index, two orders share a printJobId: fix them and run the migration again)"
                    ),
                    source: e,
                })?;
            }
            report.indexes.push(qualified);
        }
        Ok(())
    }

    /// Rewrites values of `field` that differ from one of `known` only in case or surrounding spaces to
    /// that spelling; reports every other value found (with `hint`), leaving it as it is.
    async fn normalise(
        &self,
        field: &'static str,
        known: &[&'static str],
        dry_run: bool,
        report: &mut MigrationReport,
        hint: impl Fn(&str) -> String,
    ) -> Result<Vec<(Bson, &'static str)>> {
        let mut spellings = Vec::new();
        let odd = doc! { field: { "$exists": true, "$nin": known.iter().map(|k| Bson::String((*k).to_owned())).chain([Bson::Null]).collect::<Vec<_>>() } };
        let values = self
            .inner
            .orders
            .distinct(field, odd)
            .await
            .map_err(Error::db(format!("reading the {field} values in use")))?;
        for value in values {
            let filter = doc! { field: value.clone() };
            let to = match &value {
                Bson::String(s) => known.iter().find(|k| k.eq_ignore_ascii_case(s.trim())).copied(),
                _ => None,
            };
            let described = crate::model::describe_value(&value);
            match to {
                Some(to) => {
                    let orders = if dry_run {
                        self.inner.orders.count_documents(filter).await
                    } else {
                        self.inner
                            .orders
                            .update_many(filter, doc! { "$set": { field: to } })
                            .await
                            .map(|r| r.modified_count)
                    }
                    .map_err(Error::db(format!("normalising {field}")))?;
                    report.normalised.push(Normalised { field, from: described, to, orders });
                    spellings.push((value.clone(), to));
                }
                None => {
                    let orders = self
                        .inner
                        .orders
                        .count_documents(filter)
                        .await
                        .map_err(Error::db(format!("counting orders by {field}")))?;
                    let value_text = match &value {
                        Bson::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    report.unresolved.push(Unresolved { field, value: described, orders, hint: hint(&value_text) });
                }
            }
        }
        Ok(spellings)
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
