//! Cancel means cancel: an admin `cancel` or `reset_state` of an order whose job is at a printer cancels
//! that job at the printer before the order changes state, and says whether the printer confirmed it.
//!
//! The website cannot reach the printer, so the admin action writes a request on the order
//! (`printCancelRequest`: the action, the admin, the reason, and the `_id` its log entry will have) and
//! waits. From that moment the order's print task holds nothing (every owner write is fenced on there
//! being no request, so it stops at its next write), recovery leaves the order alone, and the worker that
//! drives the order's printer ([`PrintCore::cancel_requests`]) cancels the job there and applies the
//! admin's action with the printer's answer ([`PrintCore::settle_cancel`]), in one write with its log entry.
//! When no worker answers within [`crate::CoreConfig::printer_cancel_wait`] (its PC is off), the admin
//! action applies itself and says the printer was not asked.

use crate::audit::{Actor, AdminIdentity, Entry};
use crate::db::PrintCore;
use crate::error::{Error, Result};
use crate::model::state::Action;
use crate::model::{Order, PrintStatus};
use crate::queue::WorkerId;
use bson::{doc, oid::ObjectId, Bson, DateTime, Document};
use std::fmt;

/// The order field holding an admin's request to cancel its job at the printer
/// ([`crate::model::CANCEL_REQUEST_FIELD`]).
pub const REQUEST_FIELD: &str = crate::model::CANCEL_REQUEST_FIELD;

/// How long past `printer_cancel_wait` a request waits before anyone may settle it as "printer not asked"
/// (the admin's own call does so at `printer_cancel_wait`; this leaves it the first chance).
pub const ABANDONED_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// What became of the job at the printer when an admin cancelled or reset its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrinterCancel {
    /// The printer cancelled the job (it reports it cancelled or aborted).
    Confirmed,
    /// The printer had no such job (it finished and forgot it, or never got it).
    NotAtPrinter,
    /// The printer had already printed the job.
    AlreadyPrinted,
    /// The printer was asked and did not confirm (it refused, or could not be reached): the job may
    /// still print.
    NotConfirmed(String),
    /// No worker driving the printer answered in time (its PC is off?): the printer was not asked and the
    /// job may still print.
    NoWorker,
}

impl PrinterCancel {
    /// The value stored in the log entry's `metadata.printerCancel`.
    pub fn as_str(&self) -> &'static str {
        match self {
            PrinterCancel::Confirmed => "confirmed",
            PrinterCancel::NotAtPrinter => "not_at_printer",
            PrinterCancel::AlreadyPrinted => "already_printed",
            PrinterCancel::NotConfirmed(_) => "not_confirmed",
            PrinterCancel::NoWorker => "no_worker",
        }
    }

    fn parse(s: &str, detail: Option<&str>) -> PrinterCancel {
        match s {
            "confirmed" => PrinterCancel::Confirmed,
            "not_at_printer" => PrinterCancel::NotAtPrinter,
            "already_printed" => PrinterCancel::AlreadyPrinted,
            "no_worker" => PrinterCancel::NoWorker,
            _ => PrinterCancel::NotConfirmed(detail.unwrap_or_default().to_owned()),
        }
    }

    /// Whether the job can no longer print because of this order (cancelled there, or not there).
    pub fn settled(&self) -> bool {
        matches!(self, PrinterCancel::Confirmed | PrinterCancel::NotAtPrinter)
    }
}

impl fmt::Display for PrinterCancel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrinterCancel::Confirmed => f.write_str("the printer confirmed the job is cancelled"),
            PrinterCancel::NotAtPrinter => f.write_str("the printer no longer had the job"),
            PrinterCancel::AlreadyPrinted => f.write_str("the printer had already printed the job"),
            PrinterCancel::NotConfirmed(why) => {
                write!(f, "the printer did not confirm the cancellation ({why}); the job may still print: check the printer")
            }
            PrinterCancel::NoWorker => f.write_str(
                "no worker driving the printer answered, so the printer was not asked; the job may still print: check the printer",
            ),
        }
    }
}

/// What an admin's cancel or reset of an order whose job reached a printer becomes, by what the printer
/// said (the decision table in ARCHITECTURE.md):
///
/// | the printer says | cancel | reset_state |
/// |---|---|---|
/// | cancelled there (`confirmed`), or it never had the job (`not_at_printer`) | cancelled | pending |
/// | it already printed the job (`already_printed`) | printed | printed |
/// | not confirmed, or not asked (`not_confirmed`, `no_worker`), job sent | failed "may have printed" | failed "may have printed" |
/// | not confirmed, or not asked, order already failed | cancelled | (not allowed) |
///
/// An order whose job may still print never goes back to the queue by itself: a person who checked the
/// printer reprints it (`reprint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The admin's action, as asked.
    AsAsked,
    /// The order is printed: the printer printed it before the action reached it.
    Printed,
    /// The order fails "may have printed": the job may still print.
    MayHavePrinted,
}

/// The decision table (see [`Outcome`]).
pub fn outcome(current: Option<PrintStatus>, printer: &PrinterCancel) -> Outcome {
    match printer {
        PrinterCancel::AlreadyPrinted => Outcome::Printed,
        PrinterCancel::Confirmed | PrinterCancel::NotAtPrinter => Outcome::AsAsked,
        PrinterCancel::NotConfirmed(_) | PrinterCancel::NoWorker if current == Some(PrintStatus::Printing) => {
            Outcome::MayHavePrinted
        }
        PrinterCancel::NotConfirmed(_) | PrinterCancel::NoWorker => Outcome::AsAsked,
    }
}

impl Outcome {
    /// The state the order ends in.
    pub fn status(self, action: Action) -> PrintStatus {
        match self {
            Outcome::AsAsked => action.to_state(),
            Outcome::Printed => PrintStatus::Printed,
            Outcome::MayHavePrinted => PrintStatus::Failed,
        }
    }
}

/// An admin's request, as stored on the order.
#[derive(Debug, Clone)]
pub struct CancelRequest {
    /// The action waiting on the printer: [`Action::Cancel`] or [`Action::ResetState`].
    pub action: Action,
    /// The admin who asked.
    pub admin: AdminIdentity,
    /// The admin's reason, written to the log entry when the request is settled.
    pub reason: String,
    /// When it was asked (server time); after `printer_cancel_wait` plus a grace period with no
    /// worker's answer, it is settled as "printer not asked".
    pub requested_at: DateTime,
    /// The `_id` the action's log entry will have, whoever applies it.
    pub log_id: ObjectId,
}

impl CancelRequest {
    fn to_document(&self) -> Document {
        doc! {
            "action": self.action.as_str(),
            "adminId": &self.admin.admin_id,
            "adminEmail": &self.admin.admin_email,
            "reason": &self.reason,
            "requestedAt": self.requested_at,
            "logId": self.log_id,
        }
    }

    /// The request on a stored order, if it has a readable one.
    pub fn of(order: &Order) -> Option<CancelRequest> {
        let d = order.extra.get_document(REQUEST_FIELD).ok()?;
        let action = match d.get_str("action").ok()? {
            "cancel" => Action::Cancel,
            "reset_state" => Action::ResetState,
            _ => return None,
        };
        Some(CancelRequest {
            action,
            admin: AdminIdentity {
                admin_id: d.get_str("adminId").ok()?.to_owned(),
                admin_email: d.get_str("adminEmail").ok()?.to_owned(),
            },
            reason: d.get_str("reason").ok()?.to_owned(),
            requested_at: *d.get_datetime("requestedAt").ok()?,
            log_id: d.get_object_id("logId").ok()?,
        })
    }
}

/// Whether an admin `cancel`/`reset_state` of this order must go through its printer first: its job was
/// sent to a printer (it is printing and marked sent, or it failed with a job reference, so the job may
/// still be queued there).
pub(crate) fn job_at_printer(action: Action, order: &Order) -> bool {
    if !matches!(action, Action::Cancel | Action::ResetState) || order.printer_id.is_none() {
        return false;
    }
    match order.print_status {
        Some(PrintStatus::Printing) => order.was_sent(),
        Some(PrintStatus::Failed) => order.printer_job_ref.is_some(),
        _ => false,
    }
}

impl PrintCore {
    /// Orders with a cancel request whose printer is one of `printer_ids` (the worker driving them settles
    /// each with [`PrintCore::settle_cancel`]).
    pub async fn cancel_requests(&self, printer_ids: &[String]) -> Result<Vec<Order>> {
        let path = format!("{REQUEST_FIELD}.requestedAt");
        let filter = doc! { &path: { "$exists": true }, "printerId": { "$in": printer_ids } };
        self.find_orders(filter, None, 100, "reading cancel requests").await
    }

    /// Applies an admin's cancel request with what the printer said: the admin's action, its log entry
    /// (the admin's identity and reason, `metadata.printerCancel`, the worker that asked the printer), and
    /// the request removed, in one write. `false` when the order moved on meanwhile (the admin's wait ran
    /// out and it applied the action itself).
    pub async fn settle_cancel(
        &self,
        worker: Option<&WorkerId>,
        order: &Order,
        printer: &PrinterCancel,
    ) -> Result<bool> {
        let Some(request) = CancelRequest::of(order) else {
            return Err(Error::InvalidDocument {
                order_id: order.order_id.clone(),
                message: format!("{REQUEST_FIELD} cannot be read; remove it and take the action again"),
            });
        };
        let now = self.now();
        let current = order.print_status;
        let path = format!("{REQUEST_FIELD}.logId");
        if !request.action.allowed_from(current) {
            // The order moved on (another path changed it while the request waited): the request no longer
            // applies. Removed, without a state change.
            let fence = doc! { "_id": order.id, &path: request.log_id };
            self.inner
                .orders
                .update_one(fence, doc! { "$unset": { REQUEST_FIELD: "" } })
                .await
                .map_err(Error::db(format!("removing a stale cancel request from order {}", order.order_id)))?;
            tracing::warn!(order_id = %order.order_id, action = %request.action, current = ?current, "an admin request that no longer applies to the order's state was removed");
            return Ok(false);
        }
        let decided = outcome(current, printer);
        let new = decided.status(request.action);
        let mut metadata = crate::admin::admin_metadata(order, order.was_sent());
        metadata.insert("printerCancel", printer.as_str());
        metadata.insert("outcome", new.as_str());
        metadata.insert("printerCancelMessage", printer.to_string());
        if let PrinterCancel::NotConfirmed(why) = printer {
            metadata.insert("printerCancelReason", why.as_str());
        }
        if let Some(w) = worker {
            metadata.insert("cancelledBy", w.as_str());
        }
        let actor = Actor::Admin(request.admin.clone());
        let mut entry = Entry {
            action: request.action,
            order_id: &order.order_id,
            print_job_id: order.print_job_id.as_deref(),
            previous: current,
            new,
            actor: &actor,
            reason: Some(&request.reason),
            metadata,
        }
        .build(now);
        entry.insert("_id", request.log_id);
        let fence = doc! {
            "_id": order.id,
            "printStatus": current.map(Bson::from).unwrap_or(Bson::Null),
            &path: request.log_id,
        };
        let mut update = match decided {
            Outcome::AsAsked => crate::admin::admin_update(request.action, now),
            Outcome::Printed => crate::admin::admin_update(Action::ForcePrinted, now),
            Outcome::MayHavePrinted => {
                let message = format!(
                    "{} asked by {}: {printer}; the order may have printed: check the printer, then reprint it if \
                     nothing came out",
                    request.action, request.admin.admin_email
                );
                doc! {
                    "$set": { "printStatus": PrintStatus::Failed.as_str(), "printError": message },
                    "$unset": { "printLeaseUntil": "", "printNotBefore": "", "printWaitReason": "" },
                }
            }
        };
        match update.get_document_mut("$unset") {
            Ok(unset) => {
                unset.insert(REQUEST_FIELD, "");
            }
            Err(_) => {
                update.insert("$unset", doc! { REQUEST_FIELD: "" });
            }
        }
        let applied = self.apply(fence, update, entry).await?;
        if applied {
            tracing::info!(order_id = %order.order_id, action = %request.action, printer_cancel = printer.as_str(), "admin action applied after asking the printer");
        }
        Ok(applied)
    }

    /// Settles every admin request no worker answered within `printer_cancel_wait` (and a grace), as
    /// "printer not asked", whatever became of the admin's call (cut off by its timeout, an AbortSignal, or
    /// a serverless time limit): a request never stays on an order. Every worker runs it with its recovery
    /// pass, and an admin action on such an order runs it first. Returns how many it settled.
    pub async fn settle_abandoned_cancels(&self) -> Result<usize> {
        let wait = self.inner.config.printer_cancel_wait + ABANDONED_GRACE;
        let cutoff = crate::db::clock::sub(self.now(), wait);
        let path = format!("{REQUEST_FIELD}.requestedAt");
        let orders =
            self.find_orders(doc! { &path: { "$lt": cutoff } }, None, 100, "reading abandoned cancel requests").await?;
        let mut settled = 0;
        for order in orders {
            if self.settle_cancel(None, &order, &PrinterCancel::NoWorker).await? {
                settled += 1;
            }
        }
        Ok(settled)
    }

    /// The admin side: writes the request (fenced on what was read), waits for the worker to settle it,
    /// and returns what the printer said. Applies the action itself, without the printer, when no worker
    /// answers in time. `None`: the order changed before the request could be written (read it again).
    pub(crate) async fn cancel_through_printer(
        &self,
        action: Action,
        order: &Order,
        admin: &AdminIdentity,
        reason: &str,
    ) -> Result<Option<PrinterCancel>> {
        let request = CancelRequest {
            action,
            admin: admin.clone(),
            reason: reason.to_owned(),
            requested_at: self.now(),
            log_id: ObjectId::new(),
        };
        let fence = doc! {
            "_id": order.id,
            "printStatus": order.print_status.map(Bson::from).unwrap_or(Bson::Null),
            "printJobId": order.print_job_id.clone().map(Bson::String).unwrap_or(Bson::Null),
            REQUEST_FIELD: { "$exists": false },
        };
        let written = self
            .inner
            .orders
            .update_one(fence, doc! { "$set": { REQUEST_FIELD: request.to_document() } })
            .await
            .map_err(Error::db(format!("asking to cancel order {} at its printer", order.order_id)))?;
        if written.matched_count == 0 {
            return Ok(None);
        }
        let deadline = tokio::time::Instant::now() + self.inner.config.printer_cancel_wait;
        loop {
            if let Some(done) = self.cancel_result(order, request.log_id).await? {
                return Ok(Some(done));
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        // No worker answered: apply the action without the printer (unless a worker just did).
        let mut latest = order.clone();
        let mut extra = latest.extra.clone();
        extra.insert(REQUEST_FIELD, request.to_document());
        latest.extra = extra;
        if self.settle_cancel(None, &latest, &PrinterCancel::NoWorker).await? {
            return Ok(Some(PrinterCancel::NoWorker));
        }
        Ok(self.cancel_result(order, request.log_id).await?.or(Some(PrinterCancel::NoWorker)))
    }

    /// What the worker recorded for the request whose log entry is `log_id`, once it has (read from the
    /// order's outbox, or from `print_logs` once delivered).
    async fn cancel_result(&self, order: &Order, log_id: ObjectId) -> Result<Option<PrinterCancel>> {
        let stored = self
            .inner
            .orders
            .find_one(doc! { "_id": order.id })
            .projection(doc! { REQUEST_FIELD: 1, crate::audit::OUTBOX_FIELD: 1 })
            .await
            .map_err(Error::db("reading a cancel request"))?;
        let Some(stored) = stored else { return Err(Error::NotFound { order_id: order.order_id.clone() }) };
        let pending = stored.get_document(REQUEST_FIELD).ok().and_then(|r| r.get_object_id("logId").ok());
        if pending == Some(log_id) {
            return Ok(None);
        }
        let from_outbox = stored.get_array(crate::audit::OUTBOX_FIELD).ok().and_then(|a| {
            a.iter().filter_map(Bson::as_document).find(|e| e.get_object_id("_id").ok() == Some(log_id)).cloned()
        });
        let entry = match from_outbox {
            Some(e) => Some(e),
            None => self.inner.logs.find_one(doc! { "_id": log_id }).await.map_err(Error::db("reading a log entry"))?,
        };
        let Some(entry) = entry else {
            // Settled, but its entry not yet visible: look again.
            return Ok(None);
        };
        let meta = entry.get_document("metadata").ok();
        let kind = meta.and_then(|m| m.get_str("printerCancel").ok()).unwrap_or("not_confirmed");
        let detail = meta.and_then(|m| m.get_str("printerCancelReason").ok());
        Ok(Some(PrinterCancel::parse(kind, detail)))
    }
}
