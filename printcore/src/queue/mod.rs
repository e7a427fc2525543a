//! The queue and a claimed order: every rule between "paid" and "printed".
//!
//! - `schedule`: paying an order into the queue ([`PrintCore::mark_paid`], priority and `printNotBefore`)
//!   and releasing scheduled orders when their time comes ([`PrintCore::release_scheduled`]).
//! - `claim`: the atomic claim ([`PrintCore::claim`]) and its query on the claim's indexes
//!   ([`claim_query`]), one look at the queue for a polling worker ([`PrintCore::poll_queue`]), and
//!   failing orders no printer can take ([`PrintCore::reject_unprintable`]).
//! - `job`: [`PrintJob`], the owner's handle: the fence every owner write carries, the lease and its
//!   renewal.
//! - `send`: the steps of sending: the file recorded, "being sent" (the durable mark recovery relies on),
//!   submitted with the printer's job reference, printed.
//! - `retry`: ending an attempt otherwise: a transient failure with backoff, a permanent failure, the order
//!   handed back on shutdown or to other printers.
//! - [`recovery`]: a dead worker's orders (expired lease) and hung prints (the 30-minute ceiling).
//! - [`malformed`]: orders with print fields printcore cannot use, failed with a message.
//! - [`watch`]: the worker's wake-ups (change streams on `orders` and `printers`).
//! - [`turn`]: whose turn a paid order is among the workers that take the same orders
//!   ([`ClaimTurns`]), so a fleet does not all claim each order.
//!
//! Every state change here goes through [`crate::model::state`] and writes its log entry with
//! [`crate::audit`] in the same write.
//!
//! ```
//! use printcore::queue::WorkerId;
//!
//! // A worker's id names its host and start time, and is unique per process.
//! let id = WorkerId::generate();
//! assert_eq!(id.as_str().split('/').count(), 3);
//! assert_ne!(id, WorkerId::generate());
//! assert!(WorkerId::from_string("").is_err());
//! ```

mod claim;
mod job;
pub mod malformed;
pub mod recovery;
mod retry;
mod schedule;
mod send;
pub mod size;
pub mod turn;
pub mod waiting;
pub mod watch;

pub use claim::*;
pub use job::PrintJob;
pub use recovery::RecoveryReport;
pub use retry::RetryOutcome;
pub use schedule::*;
pub use turn::ClaimTurns;
pub use waiting::{WaitingChecked, WaitingChecks, WaitingWalk, WAITING_INDEX, WAITING_WINDOW};
pub use watch::{change_streams_unsupported, WorkerEvent};

use crate::audit::{push_entries, Tidy};
use crate::db::PrintCore;
use crate::error::{Error, Result};
use crate::model::{Order, PrintStatus};
use bson::{doc, Bson, Document};
use std::fmt;

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

    /// The id as stored in `printingBy`.
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

impl PrintCore {
    /// Orders matching `filter` (without their audit outbox), parsed; `context` names the read in errors.
    pub(crate) async fn find_orders(
        &self,
        filter: Document,
        sort: Option<Document>,
        limit: i64,
        context: &str,
    ) -> Result<Vec<Order>> {
        let docs = self.find_order_docs_on(filter, sort, None, limit, context).await?;
        Ok(parse_orders(docs, context))
    }

    /// Orders matching `filter` as stored (without their audit outbox), at most `limit`, read on the
    /// index `hint` when given (unhinted where it is missing); `context` names the read in errors.
    pub(crate) async fn find_order_docs_on(
        &self,
        filter: Document,
        sort: Option<Document>,
        hint: Option<&str>,
        limit: i64,
        context: &str,
    ) -> Result<Vec<Document>> {
        use futures::TryStreamExt;
        let sort = sort.unwrap_or_default();
        let run = |hint: Option<mongodb::options::Hint>| {
            let action = self
                .inner
                .orders
                .find(filter.clone())
                .projection(doc! { crate::audit::OUTBOX_FIELD: 0 })
                .sort(sort.clone())
                .limit(limit.max(1));
            let action = match hint {
                Some(h) => action.hint(h),
                None => action,
            };
            async move { action.await?.try_collect::<Vec<Document>>().await }
        };
        with_hint(hint, run).await.map_err(Error::db(context))
    }
}

/// Runs a read on the index `hint` when given, and again unhinted when the server refuses the hint (the
/// index is missing: the migration has not run).
pub(crate) async fn with_hint<T, F, Fut>(hint: Option<&str>, run: F) -> mongodb::error::Result<T>
where
    F: Fn(Option<mongodb::options::Hint>) -> Fut,
    Fut: std::future::Future<Output = mongodb::error::Result<T>>,
{
    let Some(name) = hint else { return run(None).await };
    match run(Some(mongodb::options::Hint::Name(name.to_owned()))).await {
        Err(e) if claim::is_missing_hint(&e) => run(None).await,
        other => other,
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
    pub(crate) async fn apply(&self, filter: Document, update: Document, entry: Document) -> Result<bool> {
        self.apply_all(filter, update, vec![entry]).await
    }

    /// [`PrintCore::apply`] with several log entries (in order) for one write. The last entry's new status
    /// decides how the outbox is tidied.
    pub(crate) async fn apply_all(
        &self,
        filter: Document,
        mut update: Document,
        entries: Vec<Document>,
    ) -> Result<bool> {
        // What to write instead if the order is at MongoDB's size limit (`size.rs`): a failure, or a job's
        // order back to the queue, as the status alone, its log entries going to the audit log at once (no
        // room for them in the order's outbox). None for every other transition, at no cost.
        let alone = status_alone(&update, &entries);
        push_entries(&mut update, &entries);
        let result = match self.inner.orders.update_one(filter.clone(), update).await {
            Ok(r) => r,
            Err(e) if crate::error::document_too_large(&e) => match alone {
                Some(alone) => {
                    tracing::warn!(
                        filter = %filter,
                        "the order is too large for the whole transition: writing its status alone, the reason in print_logs"
                    );
                    let r =
                        self.inner.orders.update_one(filter, alone).await.map_err(Error::db("updating an order"))?;
                    if r.matched_count > 0 {
                        self.inner.delivery.deliver_now(entries).await;
                    }
                    return Ok(r.matched_count > 0);
                }
                None => return Err(Error::db("updating an order")(e)),
            },
            Err(e) => return Err(Error::db("updating an order")(e)),
        };
        if result.matched_count == 0 {
            return Ok(false);
        }
        let tidy = entries.last().map(Tidy::of).unwrap_or(Tidy::Pull);
        self.inner.delivery.deliver(entries, tidy).await;
        Ok(true)
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
}

pub(crate) fn unset_attempt_fields() -> Document {
    ATTEMPT_FIELDS.iter().map(|f| (f.to_string(), Bson::String(String::new()))).collect()
}

/// For a transition refused because the order is at MongoDB's size limit: `update` reduced to its new
/// `printStatus` and what it removes (and a `printError` an earlier attempt left, which would otherwise
/// stand for this transition's reason), which never makes a document larger ("failed" and "pending" are
/// shorter than "printing"). Only for a failure, and for an order going back to the queue from a job
/// (`printing` -> `pending`: recovery, a release, a retry): such an order is then claimed and failed as too
/// large. None for anything else: a send mark or a job's reference is written whole or not at all, and a
/// website's or an admin's write (a payment, a reprint) must not be cut short.
fn status_alone(update: &Document, entries: &[Document]) -> Option<Document> {
    let last = entries.last()?;
    let (new, previous) = (last.get_str("newStatus").ok()?, last.get_str("previousStatus").ok());
    let allowed = new == PrintStatus::Failed.as_str()
        || (new == PrintStatus::Pending.as_str() && previous == Some(PrintStatus::Printing.as_str()));
    if !allowed {
        return None;
    }
    let status = update.get_document("$set").ok()?.get_str("printStatus").ok()?;
    if status != new {
        return None;
    }
    let mut unset = update.get_document("$unset").cloned().unwrap_or_default();
    unset.insert("printError", "");
    Some(doc! { "$set": { "printStatus": status }, "$unset": unset })
}

#[cfg(test)]
mod tests {
    fn entry(previous: Option<&str>, new: &str) -> Document {
        let mut e = doc! { "action": "x", "newStatus": new };
        if let Some(p) = previous {
            e.insert("previousStatus", p);
        }
        e
    }

    #[test]
    fn only_a_failure_or_a_jobs_return_to_the_queue_is_cut_to_its_status() {
        let failure = doc! {
            "$set": { "printStatus": "failed", "printError": "order X cannot be printed", "printCompletedAt": 1 },
            "$unset": { "printLeaseUntil": "" },
        };
        assert_eq!(
            status_alone(&failure, &[entry(Some("printing"), "failed")]),
            Some(doc! { "$set": { "printStatus": "failed" }, "$unset": { "printLeaseUntil": "", "printError": "" } })
        );
        assert!(status_alone(&failure, &[entry(Some("pending"), "failed")]).is_some(), "a waiting order failed");
        let back = doc! { "$set": { "printStatus": "pending", "printNotBefore": 5 }, "$inc": { "printAttempt": -1 } };
        assert_eq!(
            status_alone(&back, &[entry(Some("printing"), "pending")]),
            Some(doc! { "$set": { "printStatus": "pending" }, "$unset": { "printError": "" } })
        );
        // A payment (no status before), an admin's reprint of a failed order: never cut short.
        let paid = doc! { "$set": { "printStatus": "pending", "paymentStatus": "completed" } };
        assert_eq!(status_alone(&paid, &[entry(None, "pending")]), None);
        assert_eq!(status_alone(&back, &[entry(Some("failed"), "pending")]), None);
        // The send mark, the job's reference, printed, cancelled: written whole or not at all.
        let mark = doc! { "$set": { "printSendingAt": 1 } };
        assert_eq!(status_alone(&mark, &[entry(Some("printing"), "printing")]), None);
        let printed = doc! { "$set": { "printStatus": "printed", "printCompletedAt": 1 } };
        assert_eq!(status_alone(&printed, &[entry(Some("printing"), "printed")]), None);
        let cancelled = doc! { "$set": { "printStatus": "cancelled" } };
        assert_eq!(status_alone(&cancelled, &[entry(Some("pending"), "cancelled")]), None);
        // The update and its entry disagree: nothing.
        assert_eq!(status_alone(&back, &[entry(Some("printing"), "failed")]), None);
        assert_eq!(status_alone(&failure, &[]), None);
    }

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
}
