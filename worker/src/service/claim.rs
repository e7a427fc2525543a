//! The claim service: for every printer that may take orders and has a free job slot, claim the next order
//! it can print and start its print task (which holds the lease while it works). Driven by the run loop
//! on a wake-up or every `intervals.poll`.

use super::crash::Processing;
use super::{PrinterSlot, Worker};
use printcore::{ClaimTarget, Error, PrintJob};
use std::sync::Arc;
use tokio::sync::OwnedSemaphorePermit;
use tracing::{info_span, warn, Instrument};

impl Worker {
    /// Claims orders for every printer that may take them and has a free job slot, and starts printing
    /// each. Returns how many were claimed.
    pub async fn claim_once(self: &Arc<Self>) -> usize {
        if self.shutdown.is_shutdown() || self.claims_paused() {
            return 0;
        }
        // Reap finished print tasks so the set does not grow over a long run.
        self.active_jobs();
        // The printers' claims run side by side: one round trip each, not one after another (with 8
        // printers, 8 claims in sequence set the drain's pace).
        let claims =
            self.slots.iter().filter(|s| s.reading().is_some_and(|r| r.may_claim())).map(|s| self.claim_for(s));
        futures::future::join_all(claims).await.into_iter().sum()
    }

    /// Claims for one printer until its job slots are full or nothing is left for it.
    async fn claim_for(self: &Arc<Self>, slot: &Arc<PrinterSlot>) -> usize {
        let mut claimed = 0;
        while let Ok(permit) = slot.permits.clone().try_acquire_owned() {
            let target = ClaimTarget {
                printer_id: slot.identity.printer_id.clone(),
                printer_name: slot.identity.name.clone(),
                capabilities: slot.capabilities(),
            };
            let claiming = std::time::Instant::now();
            let claim = self.core.claim(&self.id, &target).await;
            crate::stages::add(crate::stages::Stage::Claim, claiming.elapsed());
            match claim {
                Ok(Some(job)) => {
                    claimed += 1;
                    crate::stats::claimed(&slot.identity.printer_id);
                    self.spawn_print(slot.clone(), job, permit);
                }
                Ok(None) => break,
                Err(e) => {
                    warn!(printer_id = %slot.identity.printer_id, "claim failed: {e}");
                    break;
                }
            }
        }
        claimed
    }

    pub(super) fn spawn_print(self: &Arc<Self>, slot: Arc<PrinterSlot>, job: PrintJob, permit: OwnedSemaphorePermit) {
        let span = info_span!("order", order_id = %job.order_id(), print_job_id = %job.print_job_id(), printer_id = %slot.identity.printer_id);
        let worker = self.clone();
        self.tasks.lock().unwrap().spawn(
            async move {
                let _processing = Processing::start(job.order_id(), job.print_job_id());
                worker.with_lease(&job, worker.print_order(&slot, &job)).await;
                drop(permit);
                // A busy reading taken while this job printed is stale now: the next order for this
                // printer is claimed at once, not after the next health pass.
                worker.recheck_after_job(&slot).await;
                worker.wake.notify_one();
            }
            .instrument(span),
        );
    }

    /// Runs `work` while renewing the job's lease; stops `work` as soon as the lease is lost.
    pub(super) async fn with_lease(&self, job: &PrintJob, work: impl std::future::Future<Output = ()>) {
        let every = self.core.config().lease_renew_every();
        let renew = async {
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                ticker.tick().await;
                match job.renew_lease().await {
                    Ok(_) => {}
                    Err(e @ Error::OwnershipLost { .. }) => {
                        warn!("{e}");
                        return;
                    }
                    // The database is unreachable: keep trying; the lease is long enough for a few misses.
                    Err(e) => warn!("lease renewal failed: {e}"),
                }
            }
        };
        tokio::select! {
            _ = work => {}
            _ = renew => {}
        }
    }
}
