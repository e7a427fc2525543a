//! Recovery: orders whose worker died (lease expired) or whose print hangs (the 30-minute ceiling).
//!
//! An order that was never sent to a printer goes straight back to the queue. An order that was sent may
//! be on paper, so it is handed to the caller to ask the printer (reconciliation): the caller adopts it
//! ([`PrintCore::adopt`]) and then, through the fenced [`PrintJob`], completes it, waits for it, returns it
//! to the queue or fails it with "may have printed". Every write here is fenced by the owner and
//! `printJobId` seen when the order was read, so an order that moved on in between is left alone.

use crate::audit::{Actor, Entry};
use crate::db::clock;
use crate::db::PrintCore;
use crate::error::{Error, Result};
use crate::model::state::Action;
use crate::model::{Order, PrintStatus};
use crate::queue::{unset_attempt_fields, PrintJob, WorkerId};
use bson::{doc, Bson, Document};

/// What one recovery pass did.
#[derive(Debug, Default)]
pub struct RecoveryReport {
    /// Orders returned to the queue (nothing had been sent), by `orderId`.
    pub returned: Vec<String>,
    /// Orders failed because they were claimed `max_attempts` times and their worker stopped or hung each
    /// time before sending them (a crash loop ends here), by `orderId`.
    pub failed: Vec<String>,
    /// Orders already sent to a printer: ask the printer, then adopt and settle each one.
    pub to_reconcile: Vec<Order>,
}

impl PrintCore {
    /// One pass over orders whose lease expired, whoever owned them, at most `batch` of them. Also
    /// delivers audit entries a dead writer left in an outbox.
    pub async fn recover_expired(&self, worker: &WorkerId, batch: i64) -> Result<RecoveryReport> {
        let now = self.now();
        // Orders from before leases existed have none: the 30-minute ceiling applies to them.
        let legacy_cutoff = clock::sub(now, self.inner.config.stuck_after);
        let filter = doc! {
            "printStatus": PrintStatus::Printing.as_str(),
            // An admin's cancel request is settled by the printer's worker or the admin, not recovery.
            crate::model::CANCEL_REQUEST_FIELD: { "$exists": false },
            "$or": [
                { "printLeaseUntil": { "$lt": now } },
                { "printLeaseUntil": Bson::Null, "printStartedAt": { "$lt": legacy_cutoff } },
            ],
        };
        let report = self
            .recover_matching(worker, filter, batch, "lease expired with nothing sent to the printer", "stopped")
            .await?;
        // The writer of an entry normally delivers it within milliseconds; a minute means it died.
        self.flush_log_outbox(std::time::Duration::from_secs(60), batch).await?;
        Ok(report)
    }

    /// The backstop for a live owner whose print hangs: this worker's own orders printing for longer than
    /// `stuck_after` (30 minutes by default) are returned to the queue when nothing was sent, or handed back
    /// for reconciliation.
    pub async fn recover_stuck(&self, worker: &WorkerId, batch: i64) -> Result<RecoveryReport> {
        let cutoff = clock::sub(self.now(), self.inner.config.stuck_after);
        let filter = doc! {
            "printStatus": PrintStatus::Printing.as_str(),
            "printingBy": worker.as_str(),
            "printStartedAt": { "$lt": cutoff },
            crate::model::CANCEL_REQUEST_FIELD: { "$exists": false },
        };
        let reason = format!(
            "printing for more than {} minutes with nothing sent",
            self.inner.config.stuck_after.as_secs() / 60
        );
        self.recover_matching(worker, filter, batch, &reason, "hung").await
    }

    /// Returns unsent orders matching `filter` to the queue (`reason`), except those whose attempts are
    /// used up: an order claimed `max_attempts` times whose worker `ended` ("stopped", "hung") each time
    /// may be what crashes the worker, so it is failed for a person instead of claimed again.
    async fn recover_matching(
        &self,
        worker: &WorkerId,
        filter: Document,
        batch: i64,
        reason: &str,
        ended: &str,
    ) -> Result<RecoveryReport> {
        let orders = self.find_orders(filter.clone(), None, batch, "reading orders to recover").await?;
        let mut report = RecoveryReport::default();
        let actor = Actor::Worker(worker.to_string());
        for order in orders {
            if order.was_sent() {
                report.to_reconcile.push(order);
                continue;
            }
            // Fenced by what was read: same owner, same job, still matching, and still unsent.
            let mut fence = filter.clone();
            fence.insert("_id", order.id);
            fence.insert("printingBy", order.printing_by.clone().map(Bson::String).unwrap_or(Bson::Null));
            fence.insert("printJobId", order.print_job_id.clone().map(Bson::String).unwrap_or(Bson::Null));
            fence.insert("printSubmittedAt", Bson::Null);
            fence.insert("printerJobRef", Bson::Null);
            let attempts = order.print_attempt.unwrap_or(1);
            if attempts >= self.inner.config.max_attempts {
                let message = format!(
                    "order {}: claimed {attempts} times (the limit is {}) and the worker processing it {ended} before \
                     it reached the printer (last: worker {}); the order (or its file) may be what stops the \
                     worker: check it before reprinting",
                    order.order_id,
                    self.inner.config.max_attempts,
                    order.printing_by.as_deref().unwrap_or("unknown"),
                );
                let update = doc! {
                    "$set": { "printStatus": PrintStatus::Failed.as_str(), "printError": &message },
                    "$unset": { "printLeaseUntil": "", "printNotBefore": "" },
                };
                let entry = Entry {
                    action: Action::Fail,
                    order_id: &order.order_id,
                    print_job_id: order.print_job_id.as_deref(),
                    previous: Some(PrintStatus::Printing),
                    new: PrintStatus::Failed,
                    actor: &actor,
                    reason: Some(&message),
                    metadata: doc! { "previousOwner": order.printing_by.clone(), "attempt": attempts },
                }
                .build(self.now());
                if self.apply(fence, update, entry).await? {
                    tracing::warn!(order_id = %order.order_id, print_job_id = ?order.print_job_id, "{message}");
                    report.failed.push(order.order_id);
                }
                continue;
            }
            let update = doc! {
                "$set": { "printStatus": PrintStatus::Pending.as_str() },
                "$unset": unset_attempt_fields(),
            };
            let entry = Entry {
                action: Action::LeaseExpired,
                order_id: &order.order_id,
                print_job_id: order.print_job_id.as_deref(),
                previous: Some(PrintStatus::Printing),
                new: PrintStatus::Pending,
                actor: &actor,
                reason: Some(reason),
                metadata: doc! { "previousOwner": order.printing_by.clone() },
            }
            .build(self.now());
            if self.apply(fence, update, entry).await? {
                tracing::info!(order_id = %order.order_id, print_job_id = ?order.print_job_id, previous_owner = ?order.printing_by, "returned to the queue: {reason}");
                report.returned.push(order.order_id);
            }
        }
        Ok(report)
    }

    /// Takes over an order that was sent to a printer and whose owner's lease expired (or which this
    /// worker itself owns), so this worker can settle it with the printer. Fenced on the owner and
    /// `printJobId` read before; `OwnershipLost` when someone else moved first. Logged as `adopt`.
    pub async fn adopt(&self, worker: &WorkerId, order: &Order) -> Result<PrintJob> {
        let sent = clock::monotonic_ms();
        let now = self.now();
        let print_job_id = order.print_job_id.clone().unwrap_or_default();
        let lost = || Error::OwnershipLost {
            order_id: order.order_id.clone(),
            print_job_id: print_job_id.clone(),
            worker_id: worker.to_string(),
        };
        if order.print_status != Some(PrintStatus::Printing) || order.print_job_id.is_none() {
            return Err(lost());
        }
        let previous_owner = order.printing_by.clone();
        let mut fence = doc! {
            "_id": order.id,
            "printStatus": PrintStatus::Printing.as_str(),
            "printJobId": &print_job_id,
            "printingBy": previous_owner.clone().map(Bson::String).unwrap_or(Bson::Null),
            crate::model::CANCEL_REQUEST_FIELD: { "$exists": false },
        };
        if previous_owner.as_deref() != Some(worker.as_str()) {
            // Someone else's order: only once its lease ran out.
            fence.insert(
                "$or",
                vec![doc! { "printLeaseUntil": { "$lt": now } }, doc! { "printLeaseUntil": Bson::Null }],
            );
        }
        let update = doc! { "$set": {
            "printingBy": worker.as_str(),
            "printLeaseUntil": clock::add(now, self.inner.config.lease),
        } };
        let actor = Actor::Worker(worker.to_string());
        let entry = Entry {
            action: Action::Adopt,
            order_id: &order.order_id,
            print_job_id: Some(&print_job_id),
            previous: Some(PrintStatus::Printing),
            new: PrintStatus::Printing,
            actor: &actor,
            reason: Some("lease expired after the job was sent; asking the printer"),
            metadata: doc! { "previousOwner": previous_owner, "printerJobRef": order.printer_job_ref.clone() },
        }
        .build(now);
        if !self.apply(fence, update, entry).await? {
            return Err(lost());
        }
        let mut adopted = order.clone();
        adopted.printing_by = Some(worker.to_string());
        let attempt = adopted.print_attempt.unwrap_or(1);
        Ok(PrintJob::new(self, worker, print_job_id, attempt, adopted, sent))
    }
}

impl PrintCore {
    /// Records a printer's acknowledgement that its worker could not write at the time (the database was
    /// away, then the worker died) and found again in the print PC's journal: `printerJobRef` on the order
    /// whose current attempt is `print_job_id`, if it is still printing without one, whoever owns it now.
    /// Logged as `submitted` (from the journal). Returns whether the order took it.
    pub async fn record_late_acknowledgement(
        &self,
        worker: &WorkerId,
        print_job_id: &str,
        printer_job_ref: &str,
    ) -> Result<bool> {
        let filter = doc! {
            "printJobId": print_job_id,
            "printStatus": PrintStatus::Printing.as_str(),
            "printerJobRef": Bson::Null,
        };
        let Some(order) = self.find_orders(filter.clone(), None, 1, "reading a journalled order").await?.pop() else {
            return Ok(false);
        };
        let mut fence = filter;
        fence.insert("_id", order.id);
        let actor = Actor::Worker(worker.to_string());
        let entry = Entry {
            action: Action::Submitted,
            order_id: &order.order_id,
            print_job_id: Some(print_job_id),
            previous: Some(PrintStatus::Printing),
            new: PrintStatus::Printing,
            actor: &actor,
            reason: Some("the printer's answer, recorded late from the print PC's journal"),
            metadata: doc! { "printerJobRef": printer_job_ref, "printerId": order.printer_id.clone(), "from": "journal" },
        }
        .build(self.now());
        let update = doc! { "$set": { "printerJobRef": printer_job_ref } };
        let applied = self.apply(fence, update, entry).await?;
        if applied {
            tracing::info!(order_id = %order.order_id, print_job_id, printer_job_ref, "recorded the printer's answer from the journal");
        }
        Ok(applied)
    }
}
