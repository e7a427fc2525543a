//! Admin actions: the four actions of the monitor page, reprint, cancel, reset_state and force_printed.
//! Each needs an [`AdminIdentity`] and a reason, is checked against the state table
//! ([`crate::model::state`]), and writes exactly one log entry atomically with its change. A refused
//! action writes nothing.
//!
//! [`cancel`] owns what happens when the order's job is already at a printer: a `cancel` or `reset_state`
//! asks the worker driving that printer to cancel the job there first, and the outcome says whether the
//! printer confirmed it.
//!
//! ```no_run
//! use printcore::{AdminIdentity, PrintCore, PrinterCancel};
//! # async fn demo(core: PrintCore) -> printcore::Result<()> {
//! let admin = AdminIdentity::new("u-17", "ana@shop.example")?;
//! let outcome = core.cancel("ORD-1001", &admin, "the customer asked").await?;
//! if outcome.may_have_printed {
//!     // The job had reached the printer: tell the person what the printer said.
//!     let confirmed = matches!(outcome.printer_cancel, Some(PrinterCancel::Confirmed));
//!     println!("{}: now {}, cancel confirmed by the printer: {confirmed}", outcome.order_id, outcome.new_status);
//! }
//! # Ok(()) }
//! ```

pub mod cancel;

pub use cancel::PrinterCancel;

use crate::audit::{Actor, AdminIdentity, Entry};
use crate::db::PrintCore;
use crate::error::{Error, Result};
use crate::model::state::Action;
use crate::model::{Order, PrintStatus};
use crate::queue::{unset_attempt_fields, validate_order_id};
use bson::{doc, Bson, Document};

/// How many times an admin action re-reads an order that changed under it before giving up with
/// `Conflict`.
const ADMIN_RETRIES: usize = 3;

/// What an admin action did.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminOutcome {
    /// The order's `orderId`.
    pub order_id: String,
    /// The action applied.
    pub action: Action,
    /// `printStatus` before the action (`None`: the order was not in the queue).
    pub previous_status: Option<PrintStatus>,
    /// `printStatus` after it; for a cancel that found the job completed at the printer, `printed`.
    pub new_status: PrintStatus,
    /// The order had been sent to a printer (or printed): it may already be on paper. The person deciding
    /// should check the printer's output before printing it again.
    pub may_have_printed: bool,
    /// The `printJobId` the order had when the action was taken.
    pub print_job_id: Option<String>,
    /// For a `cancel`/`reset_state` of an order whose job was at a printer: what the printer said when the
    /// job was cancelled there (before the order changed state). `None` when no job was at a printer.
    pub printer_cancel: Option<crate::admin::cancel::PrinterCancel>,
}

/// Checks a reason: required, at most 1000 characters.
fn validate_reason(reason: &str) -> Result<&str> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::InvalidArgument("an admin action needs a reason; none was given".into()));
    }
    if reason.chars().count() > 1000 {
        return Err(Error::InvalidArgument("the reason is longer than 1000 characters; shorten it".into()));
    }
    Ok(reason)
}

/// The update an admin action makes (besides its log entry).
pub(crate) fn admin_update(action: Action, now: bson::DateTime) -> Document {
    match action {
        Action::Reprint => {
            let mut unset = unset_attempt_fields();
            for f in ["printError", "printNotBefore", "printCompletedAt", "printStartedAt", crate::queue::SKIP_FIELD] {
                unset.insert(f, "");
            }
            doc! { "$set": { "printStatus": PrintStatus::Pending.as_str(), "printAttempt": 0 }, "$unset": unset }
        }
        Action::Cancel => doc! {
            "$set": { "printStatus": PrintStatus::Cancelled.as_str() },
            "$unset": { "printNotBefore": "", "printLeaseUntil": "" },
        },
        Action::ResetState => doc! {
            "$set": { "printStatus": PrintStatus::Pending.as_str() },
            "$unset": unset_attempt_fields(),
        },
        Action::ForcePrinted => doc! {
            "$set": { "printStatus": PrintStatus::Printed.as_str(), "printCompletedAt": now },
            "$unset": { "printLeaseUntil": "", "printNotBefore": "", "printError": "" },
        },
        other => unreachable!("{other} is not an admin action"),
    }
}

impl PrintCore {
    /// Print a printed, failed or cancelled order again (fresh attempts).
    pub async fn reprint(&self, order_id: &str, admin: &AdminIdentity, reason: &str) -> Result<AdminOutcome> {
        self.admin_action(Action::Reprint, order_id, admin, reason).await
    }

    /// Never print a pending or failed order.
    pub async fn cancel(&self, order_id: &str, admin: &AdminIdentity, reason: &str) -> Result<AdminOutcome> {
        self.admin_action(Action::Cancel, order_id, admin, reason).await
    }

    /// Take a printing order back from its worker (stuck). The worker's next write finds it lost.
    pub async fn reset_state(&self, order_id: &str, admin: &AdminIdentity, reason: &str) -> Result<AdminOutcome> {
        self.admin_action(Action::ResetState, order_id, admin, reason).await
    }

    /// Record that an order is on paper (printed by hand, or confirmed at the printer).
    pub async fn force_printed(&self, order_id: &str, admin: &AdminIdentity, reason: &str) -> Result<AdminOutcome> {
        self.admin_action(Action::ForcePrinted, order_id, admin, reason).await
    }

    /// Applies one of the four admin actions. `InvalidArgument` before any read when the action, order id
    /// or reason is malformed; `NotFound`; `InvalidTransition` naming the current state, with no write and
    /// no log; `Conflict` when the order kept changing under it.
    pub async fn admin_action(
        &self,
        action: Action,
        order_id: &str,
        admin: &AdminIdentity,
        reason: &str,
    ) -> Result<AdminOutcome> {
        if !action.is_admin() {
            return Err(Error::InvalidArgument(format!("{action} is not an admin action")));
        }
        validate_order_id(order_id)?;
        // Re-validate: the identity may have been built without `AdminIdentity::new`.
        let admin = AdminIdentity::new(admin.admin_id.clone(), admin.admin_email.clone())?;
        let reason = validate_reason(reason)?;
        let actor = Actor::Admin(admin);
        let mut last = None;
        for _ in 0..ADMIN_RETRIES {
            let order = self.order(order_id).await?;
            if let Some(e) = order.status_error() {
                return Err(e.into());
            }
            let current = order.print_status;
            if !action.allowed_from(current) {
                return Err(Error::InvalidTransition { order_id: order_id.to_owned(), action, current });
            }
            if action == Action::Reprint && order.payment_status.as_deref() != Some("completed") {
                return Err(Error::NotPaid {
                    order_id: order_id.to_owned(),
                    payment_status: order.payment_status.clone().map(|p| format!("{p:?}")).unwrap_or("not set".into()),
                });
            }
            // Another admin's cancel or reset is waiting for the printer's worker: say so, unless nobody
            // answered it in time (its caller gave up): then it is settled as "printer not asked" first.
            if let Some(pending) = crate::admin::cancel::CancelRequest::of(&order) {
                let age = self.now().timestamp_millis().saturating_sub(pending.requested_at.timestamp_millis());
                let wait = self.inner.config.printer_cancel_wait + crate::admin::cancel::ABANDONED_GRACE;
                if age > wait.as_millis() as i64 {
                    self.settle_cancel(None, &order, &crate::admin::cancel::PrinterCancel::NoWorker).await?;
                    last = current;
                    continue;
                }
                return Err(Error::ActionPending {
                    order_id: order_id.to_owned(),
                    action,
                    pending: pending.action,
                    admin_email: pending.admin.admin_email,
                    requested_at: pending.requested_at.try_to_rfc3339_string().unwrap_or_default(),
                });
            }
            let may_have_printed = current == Some(PrintStatus::Printed) || order.was_sent();
            if crate::admin::cancel::job_at_printer(action, &order) {
                // The job is at a printer: cancelled there first, by the worker that drives it.
                match self.cancel_through_printer(action, &order, &admin_of(&actor), reason).await? {
                    Some(printer_cancel) => {
                        return Ok(AdminOutcome {
                            order_id: order_id.to_owned(),
                            action,
                            previous_status: current,
                            new_status: crate::admin::cancel::outcome(current, &printer_cancel).status(action),
                            may_have_printed: may_have_printed && !printer_cancel.settled(),
                            print_job_id: order.print_job_id.clone(),
                            printer_cancel: Some(printer_cancel),
                        })
                    }
                    None => {
                        last = current;
                        continue;
                    }
                }
            }
            let now = self.now();
            let entry = Entry {
                action,
                order_id,
                print_job_id: order.print_job_id.as_deref(),
                previous: current,
                new: action.to_state(),
                actor: &actor,
                reason: Some(reason),
                metadata: admin_metadata(&order, may_have_printed),
            }
            .build(now);
            // Fenced on what was read: the same state, the same print job, and the same send markers, so a
            // worker that marked the job as being sent (or the printer's acknowledgement) after the read
            // makes this write miss, and the next round reads it and reports "may have printed".
            let fence = doc! {
                "_id": order.id,
                "printStatus": current.map(Bson::from).unwrap_or(Bson::Null),
                "printJobId": order.print_job_id.clone().map(Bson::String).unwrap_or(Bson::Null),
                "printSubmittedAt": order.print_submitted_at.map(Bson::DateTime).unwrap_or(Bson::Null),
                "printerJobRef": order.printer_job_ref.clone().map(Bson::String).unwrap_or(Bson::Null),
                // Not while another admin's request waits for the printer (read after this order was).
                crate::admin::cancel::REQUEST_FIELD: { "$exists": false },
            };
            if self.apply(fence, admin_update(action, now), entry).await? {
                tracing::info!(order_id, %action, previous = ?current, may_have_printed, "admin action applied");
                return Ok(AdminOutcome {
                    order_id: order_id.to_owned(),
                    action,
                    previous_status: current,
                    new_status: action.to_state(),
                    may_have_printed,
                    print_job_id: order.print_job_id.clone(),
                    printer_cancel: None,
                });
            }
            last = current;
        }
        Err(Error::Conflict { order_id: order_id.to_owned(), action, current: last })
    }
}

impl PrintCore {
    /// Applies one admin action to several orders, each on its own (one refused order does not stop the
    /// others), and reports per order. The identity and reason are checked once, before anything is read.
    pub async fn admin_batch(
        &self,
        action: Action,
        order_ids: &[String],
        admin: &AdminIdentity,
        reason: &str,
    ) -> Result<Vec<(String, Result<AdminOutcome>)>> {
        if !action.is_admin() {
            return Err(Error::InvalidArgument(format!("{action} is not an admin action")));
        }
        AdminIdentity::new(admin.admin_id.clone(), admin.admin_email.clone())?;
        validate_reason(reason)?;
        if order_ids.is_empty() || order_ids.len() > 500 {
            return Err(Error::InvalidArgument("a batch takes 1 to 500 order ids".into()));
        }
        let mut out = Vec::with_capacity(order_ids.len());
        for id in order_ids {
            let r = self.admin_action(action, id, admin, reason).await;
            out.push((id.clone(), r));
        }
        Ok(out)
    }
}

pub(crate) fn admin_metadata(order: &Order, may_have_printed: bool) -> Document {
    let mut m = doc! { "mayHavePrinted": may_have_printed };
    if let Some(w) = &order.printing_by {
        m.insert("printingBy", w.as_str());
    }
    if let Some(r) = &order.printer_job_ref {
        m.insert("printerJobRef", r.as_str());
    }
    if let Some(p) = &order.printer_id {
        m.insert("printerId", p.as_str());
    }
    if may_have_printed && order.print_status != Some(PrintStatus::Printed) {
        m.insert(
            "warning",
            "this order was sent to a printer and may already be on paper; check the printer before printing it again",
        );
    }
    m
}

fn admin_of(actor: &Actor) -> AdminIdentity {
    match actor {
        Actor::Admin(a) => a.clone(),
        _ => unreachable!("admin actions are taken by admins"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_required_and_bounded() {
        assert!(validate_reason("  ").is_err());
        assert_eq!(validate_reason(" jammed ").unwrap(), "jammed");
        assert!(validate_reason(&"x".repeat(1001)).is_err());
    }

    #[test]
    fn admin_identity_requires_id_and_email() {
        assert!(AdminIdentity::new("", "a@b.c").is_err());
        assert!(AdminIdentity::new("42", "").is_err());
        assert!(AdminIdentity::new("42", "not-an-email").is_err());
        assert!(AdminIdentity::new("42", "boss@shop.example").is_ok());
    }
}
