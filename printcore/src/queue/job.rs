//! [`PrintJob`]: the owner's handle on a claimed order, its fence and its lease.
//!
//! Every write through the handle carries the fence (`_id`, `printStatus: 'printing'`, `printingBy`,
//! `printJobId`, and no admin's cancel request waiting): a write that matches nothing changed nothing and
//! is [`Error::OwnershipLost`](crate::Error::OwnershipLost). The lease is renewed through it and measured
//! on this machine's monotonic clock from the write that set it ([`PrintJob::lease_left`]).

use super::WorkerId;
use crate::audit::{Actor, Entry};
use crate::db::clock;
use crate::db::PrintCore;
use crate::error::{Error, Result};
use crate::model::state::Action;
use crate::model::{Order, PrintStatus};
use bson::{doc, DateTime, Document};
use std::fmt;

impl PrintCore {
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

    pub(super) fn lease_set_at(&self, at: i64) {
        self.lease_from.store(at, std::sync::atomic::Ordering::Relaxed);
    }

    /// The `printJobId` of this attempt: the job name at the printer.
    pub fn print_job_id(&self) -> &str {
        &self.print_job_id
    }

    /// The order's `orderId`.
    pub fn order_id(&self) -> &str {
        &self.order.order_id
    }

    /// Which attempt this is (the order's `printAttempt` after the claim).
    pub fn attempt(&self) -> i64 {
        self.attempt
    }

    /// The worker that owns the order.
    pub fn worker(&self) -> &WorkerId {
        &self.worker
    }

    pub(super) fn fence(&self) -> Document {
        doc! {
            "_id": self.order.id,
            "printStatus": PrintStatus::Printing.as_str(),
            "printingBy": self.worker.as_str(),
            "printJobId": &self.print_job_id,
            // An admin asked to cancel the job at the printer: the worker driving the printer settles it
            // (crate::cancel); the print task holds nothing from then on.
            crate::model::CANCEL_REQUEST_FIELD: { "$exists": false },
        }
    }

    pub(super) fn lost(&self) -> Error {
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
    pub(super) async fn transition(
        &self,
        action: Action,
        new: PrintStatus,
        reason: Option<&str>,
        metadata: Document,
        update: Document,
    ) -> Result<()> {
        let entry = self.entry_with(action, new, reason, metadata);
        self.transitions(update, vec![entry]).await
    }

    /// Fenced transitions in one write, with their log entries in order (built by [`PrintJob::entry`]).
    pub(super) async fn transitions(&self, update: Document, entries: Vec<Document>) -> Result<()> {
        let actions: Vec<String> = entries.iter().filter_map(|e| e.get_str("action").ok().map(str::to_owned)).collect();
        if !self.core.apply_all(self.fence(), update, entries).await? {
            tracing::warn!(order_id = %self.order.order_id, print_job_id = %self.print_job_id, actions = %actions.join(", "), "ownership lost");
            return Err(self.lost());
        }
        Ok(())
    }

    /// The log entry of this worker's transition of the order from `printing` to `new`.
    pub(super) fn entry(&self, action: Action, new: PrintStatus, metadata: Document) -> Document {
        self.entry_with(action, new, None, metadata)
    }

    fn entry_with(&self, action: Action, new: PrintStatus, reason: Option<&str>, metadata: Document) -> Document {
        let actor = Actor::Worker(self.worker.to_string());
        Entry {
            action,
            order_id: &self.order.order_id,
            print_job_id: Some(&self.print_job_id),
            previous: Some(PrintStatus::Printing),
            new,
            actor: &actor,
            reason,
            metadata,
        }
        .build(self.core.now())
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
}
