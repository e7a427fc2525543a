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
        // A print task whose own claim for its printer found nothing compares this count to learn whether
        // a round began meanwhile without that printer (`claim_next`).
        self.claim_rounds.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
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
                let processing = Processing::start(job.order_id(), job.print_job_id());
                worker.with_lease(&job, worker.print_order(&slot, &job)).await;
                drop(processing);
                // A busy reading taken while this job printed is stale now: the next order for this
                // printer is claimed at once, not after the next health pass.
                worker.recheck_after_job(&slot).await;
                worker.claim_next(slot, permit).await;
            }
            .instrument(span),
        );
    }

    /// After a job on `slot` ended: claims the printer's next order with the job slot still held and starts
    /// printing it, so a printer working through a queue does not wait for the claim loop's next round
    /// (which waits for the round in progress: the drain bench's "slot without an order"). One claim for
    /// one printer is the ranged claim, one round trip, as the loop would make for it.
    ///
    /// When it finds nothing the slot is freed, and the claim loop is woken only if a round began meanwhile
    /// (it could not count this slot, whose order may have been paid after this claim read the queue);
    /// otherwise the next round counts the slot anyway. When it cannot claim (shutdown, claims paused, the
    /// printer not ready) or the claim fails, the slot is freed and the loop woken, as before.
    async fn claim_next(self: &Arc<Self>, slot: Arc<PrinterSlot>, permit: OwnedSemaphorePermit) {
        use std::sync::atomic::Ordering::SeqCst;
        if self.shutdown.is_shutdown() || self.claims_paused() || !slot.reading().is_some_and(|r| r.may_claim()) {
            drop(permit);
            self.wake.notify_one();
            return;
        }
        let rounds = self.claim_rounds.load(SeqCst);
        let claiming = std::time::Instant::now();
        let turns = self.claim_turns();
        let result = self.core.claim_all_in_turns(&self.id, &[slot.claim_target()], &turns).await.pop();
        self.claim_took(claiming.elapsed());
        match result {
            Some(Ok(Some(job))) => {
                crate::stats::claimed(&slot.identity.printer_id);
                self.spawn_print(slot, job, permit);
            }
            Some(Ok(None)) | None => {
                drop(permit);
                if self.claim_rounds.load(SeqCst) != rounds {
                    self.wake.notify_one();
                }
            }
            Some(Err(e)) => {
                warn!(printer_id = %slot.identity.printer_id, "claim failed: {e}");
                drop(permit);
                self.wake.notify_one();
            }
        }
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
