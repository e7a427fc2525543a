//! Ending an attempt other than printed: a transient failure with backoff, a permanent failure, or the
//! order handed back.
//!
//! A transient failure goes back to `pending` with `printError` and a backoff in `printNotBefore`
//! ([`CoreConfig::backoff`](crate::CoreConfig::backoff)) until the attempts counted at the claim reach
//! [`CoreConfig::max_attempts`](crate::CoreConfig::max_attempts); then the order is `failed`. Handing an
//! order back (shutdown, another printer's turn, a being-sent mark not made durable) does not count the
//! attempt; a job the printer aborted or never got does ([`PrintJob::return_to_queue`]).

use super::{unset_attempt_fields, PrintJob, SKIP_FIELD};
use crate::db::clock;
use crate::error::Result;
use crate::model::state::Action;
use crate::model::PrintStatus;
use bson::{doc, DateTime, Document};

/// What [`PrintJob::fail_transient`] did with the order.
#[derive(Debug, Clone, PartialEq)]
pub enum RetryOutcome {
    /// Back to pending, not before the given time.
    Retrying {
        /// The order is not claimed before this time (`printNotBefore`).
        not_before: DateTime,
        /// The attempt that failed.
        attempt: i64,
    },
    /// The attempts are used up: failed.
    Failed,
}

impl PrintJob {
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
