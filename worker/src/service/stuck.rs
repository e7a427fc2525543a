//! The stuck check: every `intervals.stuck_check`, the 30-minute backstop for this worker's own orders.

use super::{Worker, MAY_HAVE_PRINTED};
use crate::printer::JobState;
use printcore::PrintJob;
use tracing::{info, info_span, Instrument};

impl Worker {
    /// The 30-minute backstop for this worker's own orders. Unsent ones go back to the queue. A sent one
    /// whose job the printer still holds (queued, held, printing, stopped for paper or a jam) is waited
    /// for: its print task follows it. So is a job whose document is still arriving while this worker's
    /// print task is sending it (a large file over a slow link): failing it then would fail an order that
    /// is about to print. Only a job nobody can get an answer about (the printer unreachable,
    /// or a backend that cannot look jobs up) is failed with "may have printed" (its print task then finds
    /// the order gone and stops). Returns how many orders it settled.
    pub async fn stuck_once(&self) -> printcore::Result<usize> {
        let report = self.core.recover_stuck(&self.id, 50).await?;
        let mut n = report.returned.len();
        // Back to the queue, nothing sent (a retry, for the counter).
        for _ in &report.returned {
            crate::stats::failed_as(crate::stats::FailureReason::Other, true);
        }
        let minutes = self.core.config().stuck_after.as_secs() / 60;
        for order in report.to_reconcile {
            let name = order.print_job_id.clone().unwrap_or_default();
            let span = info_span!("order", order_id = %order.order_id, print_job_id = %name);
            let slot = self.slots.iter().find(|s| Some(&s.identity.printer_id) == order.printer_id.as_ref());
            let answer = match slot {
                Some(slot) if slot.printer.can_look_up_jobs() => Some(match &order.printer_job_ref {
                    Some(job_ref) => slot.printer.job_state(job_ref, &name).await.map(Some),
                    None => slot.printer.find_job(&name).await.map(|f| f.map(|f| f.state)),
                }),
                _ => None,
            };
            let message = match answer {
                Some(Ok(Some(state))) if state.is_waiting() || matches!(state, JobState::Unrecognized(_)) => {
                    span.in_scope(|| info!(?state, "still at the printer after {minutes} minutes; waiting for it"));
                    continue;
                }
                // Its document still arriving, and this worker's print task still sending it.
                Some(Ok(Some(JobState::Incoming))) if super::crash::is_processing(&name) => {
                    span.in_scope(|| info!("its document still arriving after {minutes} minutes; waiting for it"));
                    continue;
                }
                // Finished meanwhile: the print task records it.
                Some(Ok(Some(state))) if state.is_final() => continue,
                Some(Err(e)) => format!(
                    "no answer from the printer about the job for more than {minutes} minutes ({e}); {MAY_HAVE_PRINTED}"
                ),
                _ => format!("the printer did not finish the job within {minutes} minutes; {MAY_HAVE_PRINTED}"),
            };
            let job = PrintJob::resume(&self.core, &self.id, order)?;
            job.fail_permanent(&message).instrument(span).await?;
            crate::stats::failed(&message, false);
            n += 1;
        }
        Ok(n)
    }
}
