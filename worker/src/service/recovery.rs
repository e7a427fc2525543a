//! The recovery service: every `intervals.recovery`, orders whose lease expired (any worker's) go back to
//! the queue when nothing was sent, or are settled with the printer they were sent to (asked by job name)
//! when that printer is this worker's.

use super::print::LOST_ANSWER_WINDOW;
use super::{PrinterSlot, Worker, MAY_HAVE_PRINTED};
use crate::printer::JobState;
use printcore::{Order, PrintJob};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{info, info_span, warn, Instrument};

/// What one recovery pass did, in numbers.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoveryCounts {
    pub returned: usize,
    /// Failed because their attempts were used up by workers that stopped or hung while processing them.
    pub failed_attempts: usize,
    pub printed: usize,
    pub adopted_waiting: usize,
    pub requeued: usize,
    pub failed_unknown: usize,
    pub skipped: usize,
}

impl Worker {
    /// One recovery pass: expired leases of any worker; orders already sent are settled with the printer
    /// they were sent to, when that printer is this worker's.
    pub async fn recovery_once(self: &Arc<Self>) -> printcore::Result<RecoveryCounts> {
        self.core.sync_clock().await?;
        // An admin's cancel or reset whose caller gave up and whose printer's worker never answered.
        match self.core.settle_abandoned_cancels().await {
            Ok(0) => {}
            Ok(n) => info!("settled {n} admin request(s) no worker answered, as 'printer not asked'"),
            Err(e) => warn!("could not settle abandoned admin requests: {e}"),
        }
        let report = self.core.recover_expired(&self.id, 50).await?;
        let mut counts = RecoveryCounts {
            returned: report.returned.len(),
            failed_attempts: report.failed.len(),
            ..RecoveryCounts::default()
        };
        for _ in &report.failed {
            crate::stats::failed_as(crate::stats::FailureReason::Other, false);
        }
        // Back to the queue, nothing sent: their worker stopped or hung (a retry, for the counter).
        for _ in &report.returned {
            crate::stats::failed_as(crate::stats::FailureReason::Other, true);
        }
        for order in report.to_reconcile {
            self.reconcile(order, &mut counts).await;
        }
        if counts != RecoveryCounts::default() {
            info!(?counts, "recovery pass");
        }
        Ok(counts)
    }

    pub(super) async fn reconcile(self: &Arc<Self>, order: Order, counts: &mut RecoveryCounts) {
        let Some(slot) = self.slots.iter().find(|s| Some(&s.identity.printer_id) == order.printer_id.as_ref()).cloned()
        else {
            // Sent to a printer this worker does not drive: its own worker settles it.
            counts.skipped += 1;
            return;
        };
        let name = order.print_job_id.clone().unwrap_or_default();
        let span = info_span!("order", order_id = %order.order_id, print_job_id = %name, printer_id = %slot.identity.printer_id);
        let found = if slot.printer.can_look_up_jobs() {
            // A job whose reference is stored (the printer acknowledged it, or created it before its
            // documents) is asked about by that reference, which its owner sees whatever the printer's
            // privacy settings; only a job sent in one request whose answer never came is looked for by name.
            let asked = match &order.printer_job_ref {
                Some(r) => slot.printer.job_state(r, &name).instrument(span.clone()).await.map(|state| {
                    (state != JobState::Absent).then(|| crate::printer::FoundJob { job_ref: r.clone(), state })
                }),
                None => slot.printer.find_job(&name).instrument(span.clone()).await,
            };
            match asked {
                Ok(f) => Some(f),
                Err(e) => {
                    // Cannot ask now (printer offline): leave it for the next pass.
                    span.in_scope(|| info!("cannot reconcile yet: {e}"));
                    counts.skipped += 1;
                    return;
                }
            }
        } else {
            None
        };
        // A job the printer never acknowledged and does not know: did the printer restart since it was sent?
        let mut restarted = false;
        if matches!(found, Some(None)) && order.printer_job_ref.is_none() {
            match self.restarted_since(&slot, order.print_submitted_at).instrument(span.clone()).await {
                Ok(r) => restarted = r,
                Err(e) => {
                    span.in_scope(|| info!("cannot reconcile yet: {e}"));
                    counts.skipped += 1;
                    return;
                }
            }
            // Marked as being sent, unacknowledged, unknown to a printer that was up all along: like a lost
            // answer, it counts as never received only once the printer has kept not knowing it for the
            // same grace (a stalled sender's job may still arrive).
            if !restarted {
                let first_seen = *self.absent_since.lock().unwrap().entry(name.clone()).or_insert_with(Instant::now);
                if first_seen.elapsed() < LOST_ANSWER_WINDOW {
                    span.in_scope(|| info!("the printer does not know the job yet; asking again before requeueing"));
                    counts.skipped += 1;
                    return;
                }
            }
        }
        self.absent_since.lock().unwrap().remove(&name);
        let job = match self.core.adopt(&self.id, &order).await {
            Ok(j) => j,
            Err(_) => {
                counts.skipped += 1;
                return;
            }
        };
        self.settle(slot, order, job, found, restarted, counts).instrument(span).await;
    }

    /// Acts on what the printer said about an adopted order (`found`: None when it cannot look jobs up).
    pub(super) async fn settle(
        self: &Arc<Self>,
        slot: Arc<PrinterSlot>,
        order: Order,
        job: PrintJob,
        found: Option<Option<crate::printer::FoundJob>>,
        restarted: bool,
        counts: &mut RecoveryCounts,
    ) {
        let sent_age = order.print_submitted_at.map(|at| self.since(at)).unwrap_or(Duration::MAX);
        let result = match found {
            None => {
                counts.failed_unknown += 1;
                let m = format!("{} cannot look jobs up; {MAY_HAVE_PRINTED}", slot.printer.describe());
                fail_counted(&job, &m).await
            }
            Some(Some(f)) if f.state == JobState::Completed => {
                counts.printed += 1;
                info!("reconciled: the printer completed the job");
                job.complete().await.map(|at| slot.printed(at))
            }
            Some(Some(f)) if f.state == JobState::Deleted => {
                counts.failed_unknown += 1;
                let m = format!(
                    "job {} was deleted from the print queue of {} by a person before it was reported printed; \
                     part of it may have printed: check the printer, then reprint it if needed",
                    f.job_ref,
                    slot.printer.describe()
                );
                fail_counted(&job, &m).await
            }
            Some(Some(f)) if f.state == JobState::Partial => {
                counts.failed_unknown += 1;
                fail_counted(&job, &super::print::partial_message(&slot, &f.job_ref)).await
            }
            // Still at the printer (queued, held, printing, stopped for paper), or in a state this worker
            // does not know (never read as gone): follow it.
            Some(Some(f)) if f.state.is_waiting() || matches!(f.state, JobState::Unrecognized(_)) => {
                counts.adopted_waiting += 1;
                info!(job_ref = %f.job_ref, "reconciled: the job is still at the printer; waiting for it");
                let span = tracing::Span::current();
                let worker = self.clone();
                let slot = slot.clone();
                self.tasks.lock().unwrap().spawn(
                    async move {
                        // The job occupies the printer: hold a slot while waiting, renewing the lease all
                        // along, without holding up the recovery pass meanwhile.
                        worker
                            .with_lease(&job, async {
                                let _permit = slot.permits.clone().acquire_owned().await;
                                if let Err(e) = worker.wait_until_done(&slot, &job, &f.job_ref).await {
                                    warn!("{e}");
                                }
                            })
                            .await;
                    }
                    .instrument(span),
                );
                return;
            }
            // Created (Create-Job) but its documents never all arrived: it cannot print as it is, and once
            // cancelled it never will. Back to the queue only when the printer confirms the cancel.
            Some(Some(f)) if f.state == JobState::Incoming => match slot.printer.cancel(&f.job_ref).await {
                Ok(()) => {
                    counts.requeued += 1;
                    requeue_counted(
                        &job,
                        &format!(
                            "the worker stopped while sending the document; job {} was cancelled at the printer \
                             before any of it printed; printing it again",
                            f.job_ref
                        ),
                    )
                    .await
                }
                Err(e) => {
                    // Left to the next pass: the lease is not renewed, so another pass adopts it again.
                    counts.skipped += 1;
                    info!("cannot cancel the incomplete job {} yet: {e}", f.job_ref);
                    return;
                }
            },
            Some(Some(f)) if matches!(f.state, JobState::Aborted | JobState::Cancelled) => {
                counts.requeued += 1;
                requeue_counted(&job, &format!("the printer {:?} the job; printing it again", f.state).to_lowercase())
                    .await
            }
            Some(None) if order.printer_job_ref.is_none() && restarted => {
                counts.failed_unknown += 1;
                let m = format!(
                    "{} restarted after the job was sent and does not know it; {MAY_HAVE_PRINTED}",
                    slot.printer.describe()
                );
                fail_counted(&job, &m).await
            }
            // Not listed proves "never received" only on a printer known to keep a completed job listed, by a
            // name it shows, for longer than this one has been out; otherwise it may have printed and been
            // forgotten (or be hidden), and the safe answer wins.
            Some(_) if order.printer_job_ref.is_none() && !slot.history.absence_proves_never_received(sent_age) => {
                counts.failed_unknown += 1;
                let m = format!(
                    "{} does not list the job, sent {} s ago, which proves nothing here ({}); {MAY_HAVE_PRINTED}",
                    slot.printer.describe(),
                    sent_age.as_secs(),
                    slot.history.describe()
                );
                fail_counted(&job, &m).await
            }
            Some(_) if order.printer_job_ref.is_none() => {
                counts.requeued += 1;
                requeue_counted(&job, "the printer never acknowledged the job; printing it again").await
            }
            Some(_) => {
                counts.failed_unknown += 1;
                let m = format!(
                    "the printer acknowledged job {} but no longer knows it; {MAY_HAVE_PRINTED}",
                    order.printer_job_ref.clone().unwrap_or_default()
                );
                fail_counted(&job, &m).await
            }
        };
        if let Err(e) = result {
            warn!("reconciliation could not record the outcome: {e}");
        }
    }
}

/// Fails a reconciled order for a person with `message`, counted in the worker's failures by its reason.
async fn fail_counted(job: &PrintJob, message: &str) -> printcore::Result<()> {
    job.fail_permanent(message).await?;
    crate::stats::failed(message, false);
    Ok(())
}

/// Hands a reconciled order back to the queue with `message`, counted as a failure that will be retried.
async fn requeue_counted(job: &PrintJob, message: &str) -> printcore::Result<()> {
    job.return_to_queue(message).await?;
    crate::stats::failed(message, true);
    Ok(())
}
