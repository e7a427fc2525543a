//! The queue: paying an order into it, the atomic claim, and the owner's fenced operations on a claimed
//! order ([`PrintJob`]).

use crate::audit::{push_entry, Actor, Entry, Tidy};
use crate::clock;
use crate::core::PrintCore;
use crate::error::{Error, Result};
use crate::model::{Order, PrintStatus, PrinterCapabilities};
use crate::state::Action;
use bson::{doc, Bson, DateTime, Document};
use futures::TryStreamExt;
use mongodb::options::{Acknowledgment, Hint, ReturnDocument, WriteConcern};
use std::fmt;
use std::sync::atomic::Ordering;

/// Print fields cleared whenever an order goes back to the queue, so the next claim starts clean.
pub(crate) const ATTEMPT_FIELDS: [&str; 6] =
    ["printingBy", "printJobId", "printLeaseUntil", "printSubmittedAt", "printerJobRef", "printWaitReason"];

/// A worker's identity: a UUID, the host name and the start time, so two processes on one PC (or a
/// restarted one) never share an id and a person reading `printingBy` knows which PC it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorkerId(String);

impl WorkerId {
    /// A fresh id for this process: `<hostname>/<start time>/<uuid>`.
    pub fn generate() -> WorkerId {
        let host = hostname::get().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "unknown-host".into());
        let started = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
        WorkerId(format!("{host}/{started}/{}", uuid::Uuid::new_v4()))
    }

    /// An id given by the caller (for example read back from `printingBy`). Must be non-empty.
    pub fn from_string(id: impl Into<String>) -> Result<WorkerId> {
        let id = id.into();
        if id.trim().is_empty() || id.len() > 512 {
            return Err(Error::InvalidArgument("a worker id must be 1 to 512 characters".into()));
        }
        Ok(WorkerId(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a website order id before it reaches a filter: non-empty, at most 200 characters, no control
/// characters, and not an operator (`$...`).
pub fn validate_order_id(order_id: &str) -> Result<()> {
    if order_id.trim().is_empty() {
        return Err(Error::InvalidArgument("the order id is empty; pass the order's orderId".into()));
    }
    if order_id.len() > 200 || order_id.chars().any(char::is_control) || order_id.starts_with('$') {
        return Err(Error::InvalidArgument(format!(
            "{:?} is not a valid order id (1-200 printable characters, not starting with '$')",
            order_id.chars().take(60).collect::<String>()
        )));
    }
    Ok(())
}

/// The printer a claim is for, and what it can take.
#[derive(Debug, Clone)]
pub struct ClaimTarget {
    pub printer_id: String,
    pub printer_name: String,
    /// When given, only orders this printer can take are claimed (page size, colour, duplex, copies).
    pub capabilities: Option<PrinterCapabilities>,
}

/// Options of [`PrintCore::mark_paid`].
#[derive(Debug, Clone, Default)]
pub struct MarkPaid {
    /// Higher prints first; default 0.
    pub priority: Option<i64>,
    /// Do not print before this time (scheduled printing). From then it waits in its place by priority
    /// (released at the worker's next claim, within 30 s in a busy queue). A time already past is none.
    pub not_before: Option<DateTime>,
}

/// What [`PrintCore::mark_paid`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkPaidOutcome {
    /// The order entered the print queue.
    Queued,
    /// It was already waiting in the queue; its priority and schedule were updated.
    AlreadyQueued,
    /// It is past the queue (printing, printed, failed or cancelled); nothing changed.
    Unchanged(PrintStatus),
}

/// The index every claim without capabilities reads: equality on status, payment and `printNotBefore`
/// (null: scheduled orders are outside the range until their time comes, see
/// [`PrintCore::release_scheduled`]), then the claim's order. (`claim_order`, the design's index without
/// `printNotBefore`, serves the monitor's list of waiting orders in claim order.)
/// The printers that found, once the order's file was read, that they cannot take it (its page size): they
/// do not claim it again, and the others do. Cleared by an admin's reprint.
pub const SKIP_FIELD: &str = "printSkipPrinters";

/// What one look at the queue found ([`PrintCore::poll_queue`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueuePoll {
    /// An order one of the printers may claim, or a scheduled order whose time has come.
    pub claimable: bool,
    /// An admin's request to cancel a job at one of the printers.
    pub cancel_requests: bool,
}

pub const CLAIM_INDEX: &str = "claim_ready";
/// The index a claim for a printer with known capabilities reads: as [`CLAIM_INDEX`], with colour, duplex
/// and page size before the claim's order, so an order the printer cannot take is outside every range.
pub const CLAIM_FIT_INDEX: &str = "claim_fit";

/// The most index ranges a claim merges: one per combination of the colour, duplex and page-size values
/// the printer takes. MongoDB merges up to 200 sorted ranges (`internalQueryMaxScansToExplode`) and sorts
/// in memory beyond; a printer offering more combinations is claimed for on [`CLAIM_INDEX`], with its
/// capabilities checked on each order read.
pub const MAX_CLAIM_RANGES: usize = 120;

/// The claim's query for a printer with `caps` (or any printer): its filter, sort and index. Every value
/// of the claim's conditions that the index holds is a point, so the read starts at the first order the
/// printer can take: orders scheduled later or needing what the printer lacks are never read, however
/// many wait (issue: bounded keys examined per claim).
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimQuery {
    pub filter: Document,
    pub sort: Document,
    /// The index name, given to the server as a hint.
    pub index: &'static str,
}

/// The claim's query: pending, paid, not scheduled (due scheduled orders have been released), with a
/// file, well-formed print fields and within the printer's capabilities. Public for the benchmarks, which
/// compare the claim with the bare driver and explain its plan.
pub fn claim_query(caps: Option<&PrinterCapabilities>) -> ClaimQuery {
    let mut filter = doc! {
        "printStatus": PrintStatus::Pending.as_str(),
        "paymentStatus": "completed",
        "printNotBefore": Bson::Null,
    };
    let mut and = vec![has_file()];
    // Never an order whose print fields have a type the print flow cannot use: it would be claimed and
    // then fail; `fail_malformed` fails it with a message naming the field instead. Positive conditions
    // rather than a `$nor` of the malformed ones (see `wellformed_conditions`).
    and.extend(crate::model::wellformed_conditions());
    let mut index = CLAIM_INDEX;
    if let Some(caps) = caps {
        match capability_points(caps) {
            Some(points) => {
                for (field, values) in points {
                    filter.insert(field, doc! { "$in": values });
                }
                and.push(copies_within(caps));
                index = CLAIM_FIT_INDEX;
            }
            None => and.extend(capability_filter(caps)),
        }
    }
    filter.insert("$and", and);
    ClaimQuery { filter, sort: claim_sort(), index }
}

/// The values of colour, duplex and page size a printer with `caps` takes, as points of
/// [`CLAIM_FIT_INDEX`]; `None` when their combinations exceed [`MAX_CLAIM_RANGES`]. Null stands for
/// "not asked" (absent or null); a value of another type is a malformed order, never claimed.
fn capability_points(caps: &PrinterCapabilities) -> Option<Vec<(&'static str, Vec<Bson>)>> {
    let flag = |offered: bool| -> Vec<Bson> {
        let mut v = vec![Bson::Boolean(false), Bson::Null];
        if offered {
            v.push(Bson::Boolean(true));
        }
        v
    };
    let sizes = page_size_values(caps);
    let (color, duplex) = (flag(caps.color), flag(caps.duplex));
    (color.len() * duplex.len() * sizes.len() <= MAX_CLAIM_RANGES).then(|| {
        vec![("printingOptions.color", color), ("printingOptions.duplex", duplex), ("printingOptions.pageSize", sizes)]
    })
}

/// The page sizes a printer with `caps` takes as an order may spell them (as offered, upper and lower
/// case), and null for an order that asks for none.
fn page_size_values(caps: &PrinterCapabilities) -> Vec<Bson> {
    let mut sizes: Vec<Bson> = Vec::new();
    for s in &caps.page_sizes {
        for v in [s.clone(), s.to_uppercase(), s.to_lowercase()] {
            if !sizes.contains(&Bson::String(v.clone())) {
                sizes.push(Bson::String(v));
            }
        }
    }
    sizes.push(Bson::Null);
    sizes
}

fn copies_within(caps: &PrinterCapabilities) -> Document {
    doc! { "printingOptions.copies": { "$not": { "$gt": caps.max_copies } } }
}

/// How often claims release due scheduled orders ([`PrintCore::release_scheduled`]) while they keep
/// finding orders to print: a due scheduled order waits at most this long in a busy queue.
pub const RELEASE_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// A claim that finds nothing releases due scheduled orders (and claims again if it released any), at most
/// this often: on an idle printer a scheduled order prints at the first claim after its time (the next
/// change or poll), and a backoff this process wrote is released as soon as it has passed.
pub const IDLE_RELEASE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// When this process last released scheduled orders, and the earliest schedule it wrote since.
#[derive(Debug, Default)]
pub(crate) struct Releases {
    state: std::sync::Mutex<ReleaseState>,
}

#[derive(Debug, Default)]
struct ReleaseState {
    /// Monotonic ms of the last release.
    last: Option<i64>,
    /// The earliest `printNotBefore` this process wrote since (server time, ms).
    earliest: Option<i64>,
}

impl Releases {
    /// Whether a claim at monotonic `mono_ms` and server time `now` releases first: the first claim, every
    /// [`RELEASE_EVERY`], and when a schedule this process wrote has come.
    fn due(&self, mono_ms: i64, now: DateTime) -> bool {
        let s = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let every = RELEASE_EVERY.as_millis() as i64;
        s.last.is_none_or(|last| mono_ms - last >= every) || s.earliest.is_some_and(|t| t <= now.timestamp_millis())
    }

    /// Whether a claim that found nothing at monotonic `mono_ms` releases (and claims again).
    fn idle_due(&self, mono_ms: i64) -> bool {
        let s = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        s.last.is_none_or(|last| mono_ms - last >= IDLE_RELEASE_EVERY.as_millis() as i64)
    }

    fn done(&self, mono_ms: i64, now: DateTime) {
        let mut s = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        s.last = Some(mono_ms);
        s.earliest = s.earliest.filter(|t| *t > now.timestamp_millis());
    }

    /// This process wrote a schedule (`printNotBefore`) at `at`.
    pub(crate) fn note(&self, at: DateTime) {
        let mut s = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let t = at.timestamp_millis();
        s.earliest = Some(s.earliest.map_or(t, |e| e.min(t)));
    }
}

/// The server refused the claim's index hint: the index does not exist (code 2, BadValue, "hint provided
/// does not correspond to an existing index"), or a server older than 4.4 does not know the field.
fn is_missing_hint(e: &mongodb::error::Error) -> bool {
    matches!(&*e.kind, mongodb::error::ErrorKind::Command(c) if c.message.to_lowercase().contains("hint"))
}

fn has_file() -> Document {
    doc! { "$or": [
        { "fileURL": { "$type": "string", "$gt": "" } },
        { "fileURLs.0": { "$type": "string", "$gt": "" } },
    ] }
}

/// The conditions under which a printer with `caps` can take an order: its page size (any case, or none
/// asked), colour, duplex and copies.
pub fn capability_filter(caps: &PrinterCapabilities) -> Vec<Document> {
    let mut and = vec![doc! { "printingOptions.pageSize": { "$in": page_size_values(caps) } }];
    if !caps.color {
        and.push(doc! { "printingOptions.color": { "$ne": true } });
    }
    if !caps.duplex {
        and.push(doc! { "printingOptions.duplex": { "$ne": true } });
    }
    and.push(copies_within(caps));
    and
}

/// The claim's order: highest `printPriority` first, then oldest.
pub fn claim_sort() -> Document {
    doc! { "printPriority": -1, "createdAt": 1 }
}

impl PrintCore {
    /// Orders matching `filter` (without their audit outbox), parsed; `context` names the read in errors.
    pub(crate) async fn find_orders(
        &self,
        filter: Document,
        sort: Option<Document>,
        limit: i64,
        context: &str,
    ) -> Result<Vec<Order>> {
        use futures::TryStreamExt;
        let docs: Vec<Document> = self
            .inner
            .orders
            .find(filter)
            .projection(doc! { crate::audit::OUTBOX_FIELD: 0 })
            .sort(sort.unwrap_or_default())
            .limit(limit.max(1))
            .await
            .map_err(Error::db(context))?
            .try_collect()
            .await
            .map_err(Error::db(context))?;
        Ok(parse_orders(docs, context))
    }
}

/// Reads one stored order (see [`Order::from_document`]: wrongly typed print fields are reported in
/// `problems`, not fatal).
pub(crate) fn parse_order(doc: Document) -> Result<Order> {
    Ok(Order::from_document(doc)?)
}

/// Reads a batch of stored orders. One document that cannot be read at all never fails the batch: it is
/// logged (naming the order and the read) and skipped, and the others are returned.
pub(crate) fn parse_orders(docs: Vec<Document>, context: &str) -> Vec<Order> {
    docs.into_iter()
        .filter_map(|d| match Order::from_document(d) {
            Ok(order) => {
                if !order.problems.is_empty() {
                    let problems: Vec<String> = order.problems.iter().map(ToString::to_string).collect();
                    tracing::debug!(order_id = %order.order_id, "{context}: order has malformed fields: {}", problems.join("; "));
                }
                Some(order)
            }
            Err(e) => {
                tracing::warn!("{context}: skipped an order that cannot be read: {e}");
                None
            }
        })
        .collect()
}

impl PrintCore {
    /// Applies a state change whose filter and update the caller built, with its log entry pushed into the
    /// outbox in the same atomic write. Returns false (and writes nothing) when the filter matched nothing.
    pub(crate) async fn apply(&self, filter: Document, mut update: Document, entry: Document) -> Result<bool> {
        push_entry(&mut update, &entry);
        let result = self.inner.orders.update_one(filter, update).await.map_err(Error::db("updating an order"))?;
        if result.matched_count == 0 {
            return Ok(false);
        }
        let tidy = Tidy::of(&entry);
        self.inner.delivery.deliver(vec![entry], tidy).await;
        Ok(true)
    }

    /// Records the website's payment: `paymentStatus: 'completed'`, `paidAt` and `printStatus: 'pending'`
    /// in one atomic write. On an order already in the queue it only updates priority and schedule; on an
    /// order that is printing, printed, failed or cancelled it changes nothing.
    pub async fn mark_paid(&self, order_id: &str, options: &MarkPaid) -> Result<MarkPaidOutcome> {
        validate_order_id(order_id)?;
        let now = self.now();
        // Paid while queued (the website set pending first, or the payment webhook came twice): no
        // transition, and only what the caller passed changes. A repeated webhook must not reset the
        // schedule, the backoff of a retry (`printNotBefore`) or the priority to defaults.
        let mut passed = doc! { "paymentStatus": "completed" };
        if let Some(p) = options.priority {
            passed.insert("printPriority", p);
        }
        // A schedule that has already come is none: the claim reads only orders without one.
        let not_before = options.not_before.filter(|t| t.timestamp_millis() > now.timestamp_millis());
        if let Some(t) = not_before {
            passed.insert("printNotBefore", t);
            self.inner.releases.note(t);
        }
        let mut refresh = doc! { "$set": passed.clone() };
        if options.not_before.is_some() && not_before.is_none() {
            refresh.insert("$unset", doc! { "printNotBefore": "" });
        }

        // Entering the queue: the defaults for what the caller did not pass.
        let mut fresh_set = passed;
        fresh_set.insert("printStatus", PrintStatus::Pending.as_str());
        fresh_set.insert("paidAt", now);
        fresh_set.insert("printAttempt", 0);
        if !fresh_set.contains_key("printPriority") {
            fresh_set.insert("printPriority", 0);
        }
        let mut update = doc! { "$set": fresh_set };
        if not_before.is_none() {
            update.insert("$unset", doc! { "printNotBefore": "" });
        }
        let entry = Entry {
            action: Action::MarkPaid,
            order_id,
            print_job_id: None,
            previous: None,
            new: PrintStatus::Pending,
            actor: &Actor::System("website"),
            reason: Some("payment completed"),
            metadata: Document::new(),
        }
        .build(now);
        if self.apply(doc! { "orderId": order_id, "printStatus": Bson::Null }, update, entry).await? {
            return Ok(MarkPaidOutcome::Queued);
        }
        let r = self
            .inner
            .orders
            .update_one(doc! { "orderId": order_id, "printStatus": PrintStatus::Pending.as_str() }, refresh)
            .await
            .map_err(Error::db("marking an order paid"))?;
        if r.matched_count > 0 {
            return Ok(MarkPaidOutcome::AlreadyQueued);
        }
        match self.status_of(order_id).await? {
            Some(status) => Ok(MarkPaidOutcome::Unchanged(status)),
            // Not found, or found with a status that is no longer pending: read says which.
            None => Err(Error::NotFound { order_id: order_id.to_owned() }),
        }
    }

    /// An order by its website `orderId`.
    pub async fn order(&self, order_id: &str) -> Result<Order> {
        validate_order_id(order_id)?;
        let doc = self
            .inner
            .orders
            .find_one(doc! { "orderId": order_id })
            .projection(doc! { crate::audit::OUTBOX_FIELD: 0 })
            .await
            .map_err(Error::db("reading an order"))?
            .ok_or_else(|| Error::NotFound { order_id: order_id.to_owned() })?;
        parse_order(doc)
    }

    /// The order's `printStatus` (None when it has none yet); `NotFound` if there is no such order.
    async fn status_of(&self, order_id: &str) -> Result<Option<PrintStatus>> {
        let order = self.order(order_id).await?;
        match order.status_error() {
            Some(e) => Err(e.into()),
            None => Ok(order.print_status),
        }
    }

    /// Claims the next order `target` can print, in one atomic `findOneAndUpdate`: highest `printPriority`
    /// first, then oldest. Returns `None` when there is nothing to print.
    pub async fn claim(&self, worker: &WorkerId, target: &ClaimTarget) -> Result<Option<PrintJob>> {
        let now = self.now();
        let print_job_id = uuid::Uuid::new_v4().to_string();
        let lease_until = clock::add(now, self.inner.config.lease);
        let claim_started = clock::monotonic_ms();
        let actor = Actor::Worker(worker.to_string());
        // Which order is claimed is known only after the update, so the outbox entry goes in without its
        // orderId; delivery (here, or the outbox sweep after a crash) fills it in from the order.
        let mut entry = Entry {
            action: Action::Claim,
            order_id: "",
            print_job_id: Some(&print_job_id),
            previous: Some(PrintStatus::Pending),
            new: PrintStatus::Printing,
            actor: &actor,
            reason: None,
            metadata: doc! { "printerId": &target.printer_id },
        }
        .build(now);
        entry.remove("orderId");
        let update = doc! {
            "$set": {
                "printStatus": PrintStatus::Printing.as_str(),
                "printJobId": &print_job_id,
                "printingBy": worker.as_str(),
                "printStartedAt": now,
                "printLeaseUntil": lease_until,
                "printerId": &target.printer_id,
                "printerName": &target.printer_name,
            },
            "$unset": { "printSubmittedAt": "", "printerJobRef": "", "printCompletedAt": "", "printNotBefore": "" },
            "$inc": { "printAttempt": 1 },
            "$push": { crate::audit::OUTBOX_FIELD: &entry },
        };
        let mut query = claim_query(target.capabilities.as_ref());
        // Not an order this printer already found it cannot take once its file was read (a page size it
        // lacks): the other printers get it ([`PrintJob::give_to_other_printers`]).
        query.filter.insert(SKIP_FIELD, doc! { "$ne": &target.printer_id });
        let released = self.inner.releases.due(claim_started, now);
        if released {
            self.release_scheduled().await?;
        }
        let mut claimed = self.claim_hinted(&query, &update).await?;
        // Nothing else to print: a scheduled order whose time has come goes now rather than at the next
        // periodic release.
        if claimed.is_none()
            && !released
            && self.inner.releases.idle_due(claim_started)
            && self.release_scheduled().await? > 0
        {
            claimed = self.claim_hinted(&query, &update).await?;
        }
        let Some(mut doc) = claimed else { return Ok(None) };
        let outbox = doc.remove(crate::audit::OUTBOX_FIELD);
        let order = parse_order(doc)?;
        // The outbox as the claim left it: its own entry, and those it takes over (what the transitions that
        // queued the order left there, already copied by their writers as a rule: a second copy is refused as
        // a duplicate), all pulled together, in the same write to this order. Only entries printcore wrote
        // (an ObjectId `_id`) are taken.
        let entries: Vec<Document> = crate::audit::outbox_entries(outbox.as_ref(), &order.order_id)
            .into_iter()
            .filter(|e| matches!(e.get("_id"), Some(Bson::ObjectId(_))))
            .collect();
        self.inner.delivery.deliver(entries, Tidy::Pull).await;
        let attempt = order.print_attempt.unwrap_or(1);
        Ok(Some(PrintJob::new(self, worker, print_job_id, attempt, order, claim_started)))
    }

    /// The claim's `findOneAndUpdate` with its index as a hint; without it on a database the migration has
    /// not prepared.
    async fn claim_hinted(&self, query: &ClaimQuery, update: &Document) -> Result<Option<Document>> {
        let hinted = !self.inner.claim_unhinted.load(Ordering::Relaxed);
        match self.claim_with(query, update.clone(), hinted).await {
            // The claim's index is missing: claim without it (correct, but it reads past what it skips) and
            // say once what to run.
            Err(e) if hinted && is_missing_hint(&e) => {
                self.inner.claim_unhinted.store(true, Ordering::Relaxed);
                tracing::warn!(
                    "the orders collection has no index {}: claims read past the orders they skip until the migration has run (`worker migrate`)",
                    query.index
                );
                self.claim_with(query, update.clone(), false).await
            }
            other => other,
        }
        .map_err(Error::db("claiming an order"))
    }

    async fn claim_with(
        &self,
        query: &ClaimQuery,
        update: Document,
        hinted: bool,
    ) -> mongodb::error::Result<Option<Document>> {
        let action = self
            .inner
            .orders
            .find_one_and_update(query.filter.clone(), update)
            .sort(query.sort.clone())
            .return_document(ReturnDocument::After);
        if hinted {
            action.hint(Hint::Name(query.index.to_owned())).await
        } else {
            action.await
        }
    }

    /// The server's plan for the claim `target` would make now, with execution statistics (`explain` of
    /// the claim's own `findAndModify`, which changes nothing): how many index keys and orders it reads.
    pub async fn explain_claim(&self, target: &ClaimTarget) -> Result<Document> {
        let query = claim_query(target.capabilities.as_ref());
        let command = doc! {
            "explain": {
                "findAndModify": self.inner.orders.name(),
                "query": query.filter,
                "sort": query.sort,
                "update": { "$set": { "printStatus": PrintStatus::Printing.as_str() } },
                "hint": query.index,
            },
            "verbosity": "executionStats",
        };
        self.inner.db.run_command(command).await.map_err(Error::db("explaining the claim"))
    }

    /// Makes the paid, pending orders whose `printNotBefore` has come claimable, by removing it: the claim
    /// reads only orders without one, so that orders scheduled later are never read (at any backlog).
    /// Claims call this every [`RELEASE_EVERY`] while they find orders, when one finds nothing (at most
    /// every [`IDLE_RELEASE_EVERY`]) and as soon as a backoff this process wrote has passed. Returns how
    /// many were released.
    pub async fn release_scheduled(&self) -> Result<u64> {
        let now = self.now();
        let filter = doc! {
            "printStatus": PrintStatus::Pending.as_str(),
            "paymentStatus": "completed",
            "printNotBefore": { "$lte": now },
        };
        let r = self
            .inner
            .orders
            .update_many(filter, doc! { "$unset": { "printNotBefore": "" } })
            .await
            .map_err(Error::db("releasing scheduled orders whose time has come"))?;
        self.inner.releases.done(clock::monotonic_ms(), now);
        Ok(r.modified_count)
    }

    /// When the next scheduled order (paid, pending, with `printNotBefore`) comes due, in server time:
    /// the worker sleeps until then instead of asking every few seconds. One read of the claim's index.
    pub async fn next_scheduled(&self) -> Result<Option<DateTime>> {
        let filter = doc! {
            "printStatus": PrintStatus::Pending.as_str(),
            "paymentStatus": "completed",
            "printNotBefore": { "$type": "date" },
        };
        let next = self
            .inner
            .orders
            .find_one(filter)
            .sort(doc! { "printNotBefore": 1 })
            .projection(doc! { "_id": 0, "printNotBefore": 1 })
            .hint(Hint::Name(CLAIM_INDEX.to_owned()))
            .await;
        let next = match next {
            Err(e) if is_missing_hint(&e) => {
                self.inner
                    .orders
                    .find_one(doc! {
                        "printStatus": PrintStatus::Pending.as_str(),
                        "paymentStatus": "completed",
                        "printNotBefore": { "$type": "date" },
                    })
                    .sort(doc! { "printNotBefore": 1 })
                    .projection(doc! { "_id": 0, "printNotBefore": 1 })
                    .await
            }
            other => other,
        }
        .map_err(Error::db("reading the next scheduled order"))?;
        Ok(next.and_then(|d| d.get_datetime("printNotBefore").ok().copied()))
    }

    /// One look at the queue for a worker that cannot watch it (no change streams): whether any of
    /// `targets` has an order to claim (or a scheduled one has come due), and whether an admin asked to
    /// cancel a job at one of them. One `find` for all printers, each branch on its own index, however
    /// many printers the worker drives (ARCHITECTURE.md, "Idle cost").
    pub async fn poll_queue(&self, targets: &[ClaimTarget]) -> Result<QueuePoll> {
        if targets.is_empty() {
            return Ok(QueuePoll::default());
        }
        let request = format!("{}.requestedAt", crate::cancel::REQUEST_FIELD);
        let printer_ids: Vec<&str> = targets.iter().map(|t| t.printer_id.as_str()).collect();
        let mut branches: Vec<Document> = targets
            .iter()
            .map(|t| {
                let mut q = claim_query(t.capabilities.as_ref());
                q.filter.insert(SKIP_FIELD, doc! { "$ne": &t.printer_id });
                q.filter
            })
            .collect();
        branches.push(doc! {
            "printStatus": PrintStatus::Pending.as_str(),
            "paymentStatus": "completed",
            "printNotBefore": { "$lte": self.now() },
        });
        branches.push(doc! { &request: { "$exists": true }, "printerId": { "$in": &printer_ids } });
        let docs: Vec<Document> = self
            .inner
            .orders
            .find(doc! { "$or": branches })
            .projection(doc! { "_id": 0, &request: 1 })
            .limit(16)
            .await
            .map_err(Error::db("looking at the queue"))?
            .try_collect()
            .await
            .map_err(Error::db("looking at the queue"))?;
        let is_request = |d: &Document| d.get_document(crate::cancel::REQUEST_FIELD).is_ok();
        Ok(QueuePoll { claimable: docs.iter().any(|d| !is_request(d)), cancel_requests: docs.iter().any(is_request) })
    }
}

impl PrintCore {
    /// Fails paid, pending orders that no active printer can take, with a message that says what each
    /// printer offers. Printers come from `printers` (all workers'), so an order waits while any active
    /// printer anywhere fits it; a printer whose capabilities are not known yet counts as fitting anything.
    /// Returns (orderId, message) per rejected order, at most `limit`.
    pub async fn reject_unprintable(&self, worker: &WorkerId, limit: i64) -> Result<Vec<(String, String)>> {
        let (printers, unreadable) = self.read_printers().await?;
        let printers: Vec<crate::model::Printer> =
            printers.into_iter().filter(|p| p.is_active != Some(false)).collect();
        // A rejection is permanent: only from a complete view (a printer that cannot be read may fit).
        if printers.is_empty() || !unreadable.is_empty() || printers.iter().any(|p| p.capabilities.is_none()) {
            return Ok(Vec::new());
        }
        // A printer fits an order when its capabilities take the order's options and it has not found that
        // it cannot take the order's file (`printSkipPrinters`).
        let nor: Vec<Document> = printers
            .iter()
            .map(|p| {
                let mut and = capability_filter(p.capabilities.as_ref().expect("checked above"));
                and.push(doc! { SKIP_FIELD: { "$ne": &p.printer_id } });
                doc! { "$and": and }
            })
            .collect();
        let filter = doc! {
            "printStatus": PrintStatus::Pending.as_str(),
            "paymentStatus": "completed",
            "$and": [ has_file(), { "$nor": nor }, { "$nor": crate::model::malformed_conditions() } ],
        };
        let candidates = self.find_orders(filter, None, limit, "looking for orders no printer can take").await?;
        let actor = Actor::Worker(worker.to_string());
        let mut rejected = Vec::new();
        for order in candidates {
            let skipped: Vec<&str> = order
                .extra
                .get_array(SKIP_FIELD)
                .map(|a| a.iter().filter_map(Bson::as_str).collect())
                .unwrap_or_default();
            let reasons: Vec<String> = printers
                .iter()
                .filter_map(|p| {
                    let name = if p.name.is_empty() { p.printer_id.as_str() } else { p.name.as_str() };
                    if skipped.contains(&p.printer_id.as_str()) {
                        return Some(format!(
                            "printer '{name}' cannot take its file ({})",
                            order.print_error.as_deref().unwrap_or("found when it read the file")
                        ));
                    }
                    crate::files::check_capabilities(&order, &[], name, p.capabilities.as_ref()?)
                        .err()
                        .map(|e| e.to_string())
                })
                .collect();
            let message = format!("no active printer can take this order: {}", reasons.join("; "));
            let entry = Entry {
                action: Action::Reject,
                order_id: &order.order_id,
                print_job_id: None,
                previous: Some(PrintStatus::Pending),
                new: PrintStatus::Failed,
                actor: &actor,
                reason: Some(&message),
                metadata: Document::new(),
            }
            .build(self.now());
            let update = doc! { "$set": { "printStatus": PrintStatus::Failed.as_str(), "printError": &message } };
            let fence =
                doc! { "_id": order.id, "printStatus": PrintStatus::Pending.as_str(), "paymentStatus": "completed" };
            if self.apply(fence, update, entry).await? {
                tracing::warn!(order_id = %order.order_id, "{message}");
                rejected.push((order.order_id, message));
            }
        }
        Ok(rejected)
    }

    /// This worker's orders that are printing, as handles (for the shutdown sweep and the stuck check).
    pub async fn own_jobs(&self, worker: &WorkerId) -> Result<Vec<PrintJob>> {
        let filter = doc! { "printingBy": worker.as_str(), "printStatus": PrintStatus::Printing.as_str() };
        let orders = self.find_orders(filter, None, 10_000, "reading this worker's orders").await?;
        orders.into_iter().map(|order| PrintJob::resume(self, worker, order)).collect()
    }
}

/// An order this worker owns while it prints it. Every write through it is fenced: its filter holds the
/// order's `_id`, `printStatus: 'printing'`, `printingBy` and `printJobId`. When the order is no longer this
/// worker's (lease expired and recovered, or reset by an admin), the write matches nothing, changes
/// nothing, and returns [`Error::OwnershipLost`]: stop working on the order.
#[derive(Clone)]
pub struct PrintJob {
    pub(crate) core: PrintCore,
    pub(crate) worker: WorkerId,
    pub(crate) print_job_id: String,
    pub(crate) attempt: i64,
    /// The order as it was when claimed (or adopted).
    pub order: Order,
    /// When (this machine's [`clock::monotonic_ms`], counting suspend) the write that last set the lease
    /// was sent: the lease is held for the lease length from then, whatever the wall clock does.
    lease_from: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl fmt::Debug for PrintJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrintJob")
            .field("order_id", &self.order.order_id)
            .field("print_job_id", &self.print_job_id)
            .field("worker", &self.worker)
            .field("attempt", &self.attempt)
            .finish()
    }
}

/// What [`PrintJob::fail_transient`] did with the order.
#[derive(Debug, Clone, PartialEq)]
pub enum RetryOutcome {
    /// Back to pending, not before the given time.
    Retrying { not_before: DateTime, attempt: i64 },
    /// The attempts are used up: failed.
    Failed,
}

impl PrintJob {
    /// Rebuilds the handle for an order this worker already owns (read back from the database).
    pub fn resume(core: &PrintCore, worker: &WorkerId, order: Order) -> Result<PrintJob> {
        let print_job_id = order.print_job_id.clone().unwrap_or_default();
        if order.print_status != Some(PrintStatus::Printing) || order.printing_by.as_deref() != Some(worker.as_str()) {
            return Err(Error::OwnershipLost {
                order_id: order.order_id.clone(),
                print_job_id,
                worker_id: worker.to_string(),
            });
        }
        let attempt = order.print_attempt.unwrap_or(1);
        // The lease as read may be any age: count it as held only from now on if it is renewed.
        let unknown = clock::monotonic_ms() - core.inner.config.lease.as_millis() as i64;
        Ok(PrintJob::new(core, worker, print_job_id, attempt, order, unknown))
    }

    pub(crate) fn new(
        core: &PrintCore,
        worker: &WorkerId,
        print_job_id: String,
        attempt: i64,
        order: Order,
        lease_from: i64,
    ) -> PrintJob {
        PrintJob {
            core: core.clone(),
            worker: worker.clone(),
            print_job_id,
            attempt,
            order,
            lease_from: std::sync::Arc::new(std::sync::atomic::AtomicI64::new(lease_from)),
        }
    }

    /// How much of the lease is certainly left, measured on this machine's monotonic clock (which counts
    /// time suspended) from the write that last set it. A worker that was paused (a suspended PC, a
    /// stalled process) finds it short or zero and must prove ownership again before sending a job.
    pub fn lease_left(&self) -> std::time::Duration {
        let since = clock::monotonic_ms() - self.lease_from.load(std::sync::atomic::Ordering::Relaxed);
        let lease = self.core.inner.config.lease.as_millis() as i64;
        std::time::Duration::from_millis((lease - since).max(0) as u64)
    }

    fn lease_set_at(&self, at: i64) {
        self.lease_from.store(at, std::sync::atomic::Ordering::Relaxed);
    }

    /// The `printJobId` of this attempt: the job name at the printer.
    pub fn print_job_id(&self) -> &str {
        &self.print_job_id
    }

    pub fn order_id(&self) -> &str {
        &self.order.order_id
    }

    pub fn attempt(&self) -> i64 {
        self.attempt
    }

    pub fn worker(&self) -> &WorkerId {
        &self.worker
    }

    fn fence(&self) -> Document {
        doc! {
            "_id": self.order.id,
            "printStatus": PrintStatus::Printing.as_str(),
            "printingBy": self.worker.as_str(),
            "printJobId": &self.print_job_id,
            // An admin asked to cancel the job at the printer: the worker driving the printer settles it
            // (crate::cancel); the print task holds nothing from then on.
            crate::cancel::REQUEST_FIELD: { "$exists": false },
        }
    }

    fn lost(&self) -> Error {
        Error::OwnershipLost {
            order_id: self.order.order_id.clone(),
            print_job_id: self.print_job_id.clone(),
            worker_id: self.worker.to_string(),
        }
    }

    /// A fenced write with no state change (no log entry).
    pub(crate) async fn fenced_set(&self, set: Document) -> Result<()> {
        let r = self
            .core
            .inner
            .orders
            .update_one(self.fence(), doc! { "$set": set })
            .await
            .map_err(Error::db(format!("updating order {}", self.order.order_id)))?;
        if r.matched_count == 0 {
            tracing::warn!(order_id = %self.order.order_id, print_job_id = %self.print_job_id, "ownership lost");
            return Err(self.lost());
        }
        Ok(())
    }

    /// A fenced transition with its log entry.
    async fn transition(
        &self,
        action: Action,
        new: PrintStatus,
        reason: Option<&str>,
        metadata: Document,
        update: Document,
    ) -> Result<()> {
        let actor = Actor::Worker(self.worker.to_string());
        let entry = Entry {
            action,
            order_id: &self.order.order_id,
            print_job_id: Some(&self.print_job_id),
            previous: Some(PrintStatus::Printing),
            new,
            actor: &actor,
            reason,
            metadata,
        }
        .build(self.core.now());
        if !self.core.apply(self.fence(), update, entry).await? {
            tracing::warn!(order_id = %self.order.order_id, print_job_id = %self.print_job_id, %action, "ownership lost");
            return Err(self.lost());
        }
        Ok(())
    }

    /// Extends the lease by the configured length from now.
    pub async fn renew_lease(&self) -> Result<DateTime> {
        let sent = clock::monotonic_ms();
        let until = clock::add(self.core.now(), self.core.inner.config.lease);
        self.fenced_set(doc! { "printLeaseUntil": until }).await?;
        self.lease_set_at(sent);
        Ok(until)
    }

    /// Shows why the job is still waiting at the printer (`printWaitReason`, e.g. "stopped at the printer:
    /// media-empty"), or clears it (`None`). The monitor shows it on the order.
    pub async fn note_waiting(&self, reason: Option<&str>) -> Result<()> {
        let update = match reason {
            Some(r) => doc! { "$set": { "printWaitReason": r } },
            None => doc! { "$unset": { "printWaitReason": "" } },
        };
        let r = self
            .core
            .inner
            .orders
            .update_one(self.fence(), update)
            .await
            .map_err(Error::db(format!("updating order {}", self.order.order_id)))?;
        if r.matched_count == 0 {
            return Err(self.lost());
        }
        Ok(())
    }

    /// Records the file's checksum and page count (after download and validation).
    pub async fn record_file(&self, sha256: &str, pages: i64) -> Result<()> {
        self.fenced_set(doc! { "fileSha256": sha256, "filePages": pages }).await
    }

    /// Marks that the job is about to be sent to the printer. From here on, recovery asks the printer
    /// before it would print the order again. Call it before sending.
    pub async fn mark_sending(&self) -> Result<()> {
        self.mark_sending_with(Document::new()).await
    }

    /// [`PrintJob::mark_sending`] with more print fields in the same write (the file's checksum and pages).
    ///
    /// The write proves the lease is still held: its filter also requires the stored lease not to have run
    /// out (on the server's clock), so a worker that was paused past its lease cannot mark, and so cannot
    /// send, an order another worker may be recovering. Call [`PrintJob::lease_left`] right before sending
    /// and mark again when it is short.
    ///
    /// It is the one write whose loss would print an order twice (an order marked as sent that forgets the
    /// mark looks unsent to recovery, which gives it back to the queue), so it asks for
    /// [`sending_write_concern`]: acknowledged only once it survives a crash of the database server or a
    /// change of primary, whatever write concern the connection has.
    pub(crate) async fn mark_sending_with(&self, mut fields: Document) -> Result<()> {
        let sent = clock::monotonic_ms();
        let now = self.core.now();
        fields.insert("printSubmittedAt", now);
        fields.insert("printLeaseUntil", clock::add(now, self.core.inner.config.lease));
        let mut fence = self.fence();
        fence.insert("printLeaseUntil", doc! { "$gt": now });
        let r = self
            .core
            .inner
            .orders
            .update_one(fence, doc! { "$set": fields })
            .write_concern(sending_write_concern())
            .await
            .map_err(Error::db(format!("marking order {} as being sent", self.order.order_id)))?;
        if r.matched_count == 0 {
            tracing::warn!(order_id = %self.order.order_id, print_job_id = %self.print_job_id, "lease lost before sending; not sent");
            return Err(self.lost());
        }
        self.lease_set_at(sent);
        Ok(())
    }

    /// Takes back [`PrintJob::mark_sending`] when the printer answered that it did not take the job (busy),
    /// so the order may be released or retried without asking the printer first.
    pub async fn unmark_sending(&self) -> Result<()> {
        let r = self
            .core
            .inner
            .orders
            .update_one(self.fence(), doc! { "$unset": { "printSubmittedAt": "" } })
            .await
            .map_err(Error::db(format!("updating order {}", self.order.order_id)))?;
        if r.matched_count == 0 {
            return Err(self.lost());
        }
        Ok(())
    }

    /// Records that the printer accepted the job, with its reference for the job (logged as `submitted`).
    pub async fn mark_submitted(&self, printer_job_ref: &str) -> Result<()> {
        let now = self.core.now();
        let update = doc! { "$set": {
            "printerJobRef": printer_job_ref,
            "printSubmittedAt": now,
            "printLeaseUntil": clock::add(now, self.core.inner.config.lease),
        } };
        let meta = doc! { "printerJobRef": printer_job_ref, "printerId": self.order.printer_id.clone() };
        self.transition(Action::Submitted, PrintStatus::Printing, None, meta, update).await
    }

    /// The printer reported the job completed: `printed`. Returns the completion time (the worker's next
    /// health reading records it as the printer's `last_successful_print_at`, saving a write per order).
    pub async fn complete(&self) -> Result<DateTime> {
        let now = self.core.now();
        let update = doc! {
            "$set": { "printStatus": PrintStatus::Printed.as_str(), "printCompletedAt": now },
            "$unset": { "printLeaseUntil": "", "printError": "", "printNotBefore": "", "printWaitReason": "" },
        };
        self.transition(Action::Printed, PrintStatus::Printed, None, Document::new(), update).await?;
        Ok(now)
    }

    /// A transient error (printer busy, download timed out...): back to pending with `printError` and a
    /// backoff in `printNotBefore`, or `failed` once the attempts are used up.
    pub async fn fail_transient(&self, error: &str) -> Result<RetryOutcome> {
        let config = &self.core.inner.config;
        if self.attempt >= config.max_attempts {
            let message = format!("gave up after {} attempts; last error: {error}", self.attempt);
            self.fail_permanent(&message).await?;
            return Ok(RetryOutcome::Failed);
        }
        let not_before = clock::add(self.core.now(), config.backoff(self.attempt));
        self.core.inner.releases.note(not_before);
        let update = doc! {
            "$set": { "printStatus": PrintStatus::Pending.as_str(), "printError": error, "printNotBefore": not_before },
            "$unset": unset_attempt_fields(),
        };
        let meta = doc! { "attempt": self.attempt, "retryAt": not_before };
        self.transition(Action::Retry, PrintStatus::Pending, Some(error), meta, update).await?;
        Ok(RetryOutcome::Retrying { not_before, attempt: self.attempt })
    }

    /// A permanent error (bad file, no printer can take it, may have printed...): `failed` with the message.
    /// `printSubmittedAt` and `printerJobRef` are kept, so an admin can see the job was sent.
    pub async fn fail_permanent(&self, error: &str) -> Result<()> {
        let update = doc! {
            "$set": { "printStatus": PrintStatus::Failed.as_str(), "printError": error },
            "$unset": { "printLeaseUntil": "", "printNotBefore": "", "printWaitReason": "" },
        };
        let meta = doc! { "attempt": self.attempt };
        self.transition(Action::Fail, PrintStatus::Failed, Some(error), meta, update).await
    }

    /// Gives the order back to the queue because this worker is shutting down before it was sent (logged
    /// as `server_shutdown`). The attempt is not counted.
    pub async fn release(&self, reason: &str) -> Result<()> {
        self.back_to_queue(Action::ServerShutdown, reason, -1).await
    }

    /// Gives the order back to the queue because the printer aborted or cancelled the job, or never got it
    /// (reconciliation). The attempt counts.
    pub async fn return_to_queue(&self, reason: &str) -> Result<()> {
        self.back_to_queue(Action::ReturnedByPrinter, reason, 0).await
    }

    /// This printer cannot take the order, which only its file showed (a page size the printer lacks,
    /// when the order named none), and another printer can: back to the queue for the others, with this
    /// printer in `printSkipPrinters` so it does not claim the order again. The attempt is not counted:
    /// nothing failed. Logged as `retry` with the reason.
    pub async fn give_to_other_printers(&self, printer_id: &str, reason: &str) -> Result<()> {
        let extra = doc! { "$addToSet": { SKIP_FIELD: printer_id } };
        self.back_to_queue_with(Action::Retry, reason, -1, Some(reason), extra).await
    }

    /// The database could not make the being-sent mark durable (or say whether it did), and nothing was
    /// sent: back to the queue, the mark undone, the attempt not counted. Logged as `retry`.
    pub async fn release_unsent(&self, reason: &str) -> Result<()> {
        self.back_to_queue_with(Action::Retry, reason, -1, Some(reason), Document::new()).await
    }

    async fn back_to_queue(&self, action: Action, reason: &str, attempt_delta: i32) -> Result<()> {
        self.back_to_queue_with(action, reason, attempt_delta, None, Document::new()).await
    }

    /// Back to the queue; `shown`: the reason also kept in `printError` for the monitor; `extra`: more
    /// update operators (not `$set`, `$unset` or `$inc`).
    async fn back_to_queue_with(
        &self,
        action: Action,
        reason: &str,
        attempt_delta: i32,
        shown: Option<&str>,
        extra: Document,
    ) -> Result<()> {
        let mut set = doc! { "printStatus": PrintStatus::Pending.as_str() };
        if let Some(m) = shown {
            set.insert("printError", m);
        }
        let mut update = doc! { "$set": set, "$unset": unset_attempt_fields() };
        update.extend(extra);
        if attempt_delta != 0 {
            update.insert("$inc", doc! { "printAttempt": attempt_delta });
        }
        self.transition(action, PrintStatus::Pending, Some(reason), Document::new(), update).await
    }
}

/// The files' report on the order (the file pipeline lives in [`crate::files`], which knows nothing of
/// print jobs).
impl PrintJob {
    /// Records the files' checksum and page count on the order (fenced). One file: its sha256. Several:
    /// their sha256s joined with commas, in file order. `filePages` is the total.
    pub async fn record_reports(&self, reports: &[crate::files::FileReport]) -> Result<()> {
        let (sha, pages) = file_fields(reports);
        self.record_file(&sha, pages).await
    }

    /// [`PrintJob::record_reports`] and [`PrintJob::mark_sending`] in one write: the print flow's last
    /// write before the printer gets the job.
    pub async fn mark_sending_with_reports(&self, reports: &[crate::files::FileReport]) -> Result<()> {
        self.mark_sending_created(reports, None).await
    }

    /// [`PrintJob::mark_sending_with_reports`] for a job the printer created before its documents (IPP
    /// Create-Job): `created` is the printer's id for it, stored as `printerJobRef` in the same durable write,
    /// before any document goes. From then on the order is followed by that id: recovery asks the printer
    /// about that job, not about a name; and an order marked as being sent without a `printerJobRef` was
    /// sent in one request (Print-Job), whose lost answer only the job name can settle.
    pub async fn mark_sending_created(
        &self,
        reports: &[crate::files::FileReport],
        created: Option<&str>,
    ) -> Result<()> {
        let (sha, pages) = file_fields(reports);
        let mut fields = bson::doc! { "fileSha256": sha, "filePages": pages };
        if let Some(r) = created {
            fields.insert("printerJobRef", r);
        }
        self.mark_sending_with(fields).await
    }
}

/// The write concern of the "being sent" mark: a majority of the replica set has it in its on-disk journal
/// (on a standalone server, its journal), within 10 s. A mark the database could lose in a crash or a
/// failover would let recovery print a sent order again; one that times out on the write concern is an
/// error, so the job is not sent, and recovery asks the printer about it before anything else happens.
fn sending_write_concern() -> WriteConcern {
    WriteConcern::builder()
        .w(Acknowledgment::Majority)
        .journal(true)
        .w_timeout(std::time::Duration::from_secs(10))
        .build()
}

pub(crate) fn file_fields(reports: &[crate::files::FileReport]) -> (String, i64) {
    let sha = reports.iter().map(|r| r.sha256.as_str()).collect::<Vec<_>>().join(",");
    (sha, reports.iter().map(|r| r.pages as i64).sum())
}

pub(crate) fn unset_attempt_fields() -> Document {
    ATTEMPT_FIELDS.iter().map(|f| (f.to_string(), Bson::String(String::new()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids_are_checked_before_any_query() {
        assert!(validate_order_id("ORD-1234").is_ok());
        assert!(validate_order_id("").is_err());
        assert!(validate_order_id("  ").is_err());
        assert!(validate_order_id("$where").is_err());
        assert!(validate_order_id("a\u{0}b").is_err());
        assert!(validate_order_id(&"x".repeat(201)).is_err());
    }

    #[test]
    fn worker_ids_name_host_time_and_are_unique() {
        let a = WorkerId::generate();
        let b = WorkerId::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().split('/').count(), 3);
    }

    #[test]
    fn a_claim_for_a_printer_reads_only_the_index_points_it_can_take() {
        let caps = PrinterCapabilities { page_sizes: vec!["A4".into()], color: false, duplex: true, max_copies: 5 };
        let q = claim_query(Some(&caps));
        assert_eq!(q.index, CLAIM_FIT_INDEX);
        let points = |f: &str| q.filter.get_document(f).unwrap().get_array("$in").unwrap().clone();
        assert_eq!(points("printingOptions.color"), [Bson::Boolean(false), Bson::Null]);
        assert_eq!(points("printingOptions.duplex"), [Bson::Boolean(false), Bson::Null, Bson::Boolean(true)]);
        assert_eq!(points("printingOptions.pageSize"), [Bson::from("A4"), Bson::from("a4"), Bson::Null]);
        assert_eq!(q.filter.get("printNotBefore"), Some(&Bson::Null), "scheduled orders are outside the range");
        assert!(!format!("{:?}", q.filter).contains("$nor"), "the guard is written positively");
        // Any printer: the index without capabilities.
        let any = claim_query(None);
        assert_eq!(any.index, CLAIM_INDEX);
        assert!(!any.filter.contains_key("printingOptions.color"));
    }

    #[test]
    fn a_printer_offering_too_many_combinations_is_claimed_for_with_its_conditions_checked_on_each_order() {
        let sizes = ["A3", "A4", "A5", "B4", "B5", "Letter", "Legal", "Tabloid", "Executive", "Statement", "Folio"];
        let caps = PrinterCapabilities {
            page_sizes: sizes.iter().map(|s| s.to_string()).collect(),
            color: true,
            duplex: true,
            max_copies: 5,
        };
        let q = claim_query(Some(&caps));
        assert_eq!(q.index, CLAIM_INDEX);
        let s = format!("{:?}", q.filter.get_array("$and").unwrap());
        assert!(
            s.contains("printingOptions.pageSize") && s.contains("\"Tabloid\"") && s.contains("printingOptions.copies")
        );
    }

    #[test]
    fn a_schedule_this_process_wrote_is_released_as_soon_as_it_comes() {
        let r = Releases::default();
        let t0 = DateTime::from_millis(1_000_000);
        assert!(r.due(0, t0), "the first claim releases");
        r.done(0, t0);
        assert!(!r.due(1_000, t0), "not again within RELEASE_EVERY");
        r.note(DateTime::from_millis(1_002_000));
        assert!(!r.due(1_000, DateTime::from_millis(1_001_999)));
        assert!(r.due(1_000, DateTime::from_millis(1_002_000)), "at once when a known schedule comes");
        r.done(1_000, DateTime::from_millis(1_002_000));
        assert!(!r.due(1_001, DateTime::from_millis(1_002_001)));
        assert!(!r.idle_due(1_999), "a claim that found nothing releases at most every second");
        assert!(r.idle_due(2_000));
        assert!(!r.due(RELEASE_EVERY.as_millis() as i64 + 999, DateTime::from_millis(1_002_001)));
        assert!(r.due(RELEASE_EVERY.as_millis() as i64 + 1_000, DateTime::from_millis(1_002_001)));
    }
}
