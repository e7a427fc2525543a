//! The cancel service: an admin cancelled or reset an order whose job is at one of this worker's printers
//! (printcore's `cancel` module). Every `intervals.job_poll`, this worker cancels each such job at its
//! printer and applies the admin's action with what the printer said, so the order changes state only
//! after the printer was asked, and the log says whether it confirmed.

use super::Worker;
use crate::printer::{JobState, PrinterError};
use printcore::{Order, PrinterCancel};
use std::sync::Arc;
use tracing::{info, info_span, warn, Instrument};

impl Worker {
    /// One pass over the cancel requests for this worker's printers. Returns how many it settled.
    pub async fn cancel_once(self: &Arc<Self>) -> printcore::Result<usize> {
        let printers: Vec<String> = self.slots.iter().map(|s| s.identity.printer_id.clone()).collect();
        let requests = self.core.cancel_requests(&printers).await?;
        let mut settled = 0;
        for order in requests {
            let span = info_span!("order", order_id = %order.order_id, print_job_id = ?order.print_job_id);
            let outcome = self.cancel_at_printer(&order).instrument(span.clone()).await;
            span.in_scope(|| info!(printer_cancel = outcome.as_str(), "admin cancel at the printer: {outcome}"));
            match self.core.settle_cancel(Some(&self.id), &order, &outcome).instrument(span.clone()).await {
                Ok(true) => settled += 1,
                Ok(false) => {}
                Err(e) => span.in_scope(|| warn!("could not record the admin's action: {e}")),
            }
        }
        Ok(settled)
    }

    /// Cancels the order's job at its printer and reports what the printer said.
    async fn cancel_at_printer(&self, order: &Order) -> PrinterCancel {
        let Some(slot) = self.slots.iter().find(|s| Some(&s.identity.printer_id) == order.printer_id.as_ref()) else {
            return PrinterCancel::NotConfirmed("the printer is not one of this worker's".into());
        };
        let printer = slot.printer.as_ref();
        let name = order.print_job_id.clone().unwrap_or_default();
        let not_confirmed = |e: PrinterError| PrinterCancel::NotConfirmed(e.to_string());
        // Which job: the reference the printer gave, or (never acknowledged) the one it has by that name.
        let job_ref = match &order.printer_job_ref {
            Some(r) => r.clone(),
            None if printer.can_look_up_jobs() => match printer.find_job(&name).await {
                Ok(Some(found)) => found.job_ref,
                // Sent in one request whose answer never came: a job the printer does not list may still be
                // on its way (a print task uploading it), or printed and forgotten. Not "not at printer".
                Ok(None) => {
                    return PrinterCancel::NotConfirmed(format!(
                        "{} does not list the job, which may still be on its way to it, or printed and forgotten",
                        printer.describe()
                    ))
                }
                Err(e) => return not_confirmed(e),
            },
            None => return PrinterCancel::NotConfirmed("the job was never acknowledged by the printer".into()),
        };
        if printer.can_look_up_jobs() {
            match printer.job_state(&job_ref, &name).await {
                Ok(JobState::Completed) => return PrinterCancel::AlreadyPrinted,
                Ok(JobState::Absent) => return forgotten(&job_ref),
                Ok(JobState::Cancelled | JobState::Aborted | JobState::Deleted) => return PrinterCancel::Confirmed,
                Ok(_) => {}
                Err(e) => return not_confirmed(e),
            }
        }
        if let Err(e) = printer.cancel(&job_ref).await {
            return not_confirmed(e);
        }
        if !printer.can_look_up_jobs() {
            // The backend's cancel succeeded and it cannot say more.
            return PrinterCancel::Confirmed;
        }
        // The printer accepted the Cancel-Job: that is its confirmation (IPP: a job being printed stays
        // `processing` with `processing-to-stop-point` until it stops, then turns `canceled`). Look a
        // moment longer only to catch a job that finished before the cancel reached it.
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while std::time::Instant::now() < give_up {
            match printer.job_state(&job_ref, &name).await {
                Ok(JobState::Cancelled | JobState::Aborted | JobState::Deleted) => return PrinterCancel::Confirmed,
                Ok(JobState::Completed) => return PrinterCancel::AlreadyPrinted,
                Ok(JobState::Absent) => return forgotten(&job_ref),
                Ok(_) | Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
            }
        }
        PrinterCancel::Confirmed
    }
}

/// A job the printer acknowledged and no longer knows: it restarted or purged the job, which may have
/// printed first. Never "not at the printer", which would let the order print again.
fn forgotten(job_ref: &str) -> PrinterCancel {
    PrinterCancel::NotConfirmed(format!(
        "the printer no longer knows job {job_ref} (it restarted or purged its history): it may have printed"
    ))
}
