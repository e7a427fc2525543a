//! The claim service: for every printer that may take orders and has a free job slot, claim the next order
//! it can print and start its print task (which holds the lease while it works). Driven by the run loop
//! on a wake-up or every `intervals.poll`.

use super::crash::Processing;
use super::{PrinterSlot, Worker};
use printcore::{Error, PrintJob};
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
        // Every free job slot of every printer claims in one round, side by side; printers that take the
        // same orders share one read of the queue, and with peers the claims spread over its head by turns
        // (`PrintCore::claim_all_in_turns`). Rounds go on while they claim.
        let mut claimed = 0;
        // Printers that found nothing (or failed) in a round sit out the next ones of this call.
        let mut done: Vec<String> = Vec::new();
        loop {
            let mut slots = Vec::new();
            let mut targets = Vec::new();
            let claiming = self
                .slots
                .iter()
                .filter(|s| s.reading().is_some_and(|r| r.may_claim()) && !done.contains(&s.identity.printer_id));
            for slot in claiming {
                while let Ok(permit) = slot.permits.clone().try_acquire_owned() {
                    targets.push(slot.claim_target());
                    slots.push((slot.clone(), permit));
                }
            }
            if targets.is_empty() {
                return claimed;
            }
            let claiming = std::time::Instant::now();
            let turns = self.claim_turns();
            let results = self.core.claim_all_in_turns(&self.id, &targets, &turns).await;
            let took = claiming.elapsed();
            let mut round = 0;
            for ((slot, permit), result) in slots.into_iter().zip(results) {
                self.claim_took(took);
                match result {
                    Ok(Some(job)) => {
                        round += 1;
                        crate::stats::claimed(&slot.identity.printer_id);
                        self.spawn_print(slot, job, permit);
                    }
                    Ok(None) => done.push(slot.identity.printer_id.clone()),
                    Err(e) => {
                        warn!(printer_id = %slot.identity.printer_id, "claim failed: {e}");
                        done.push(slot.identity.printer_id.clone());
                    }
                }
            }
            claimed += round;
            if round == 0 || self.shutdown.is_shutdown() || self.claims_paused() {
                return claimed;
            }
        }
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
