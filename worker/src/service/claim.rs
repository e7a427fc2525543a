//! The claim service: for every printer that may take orders and has a free job slot, claim the next order
//! it can print and start its print task (which holds the lease while it works). Driven by the run loop
//! on a wake-up or every `intervals.poll`.
//!
//! A job's end claims only when an order may wait for this worker ([`Owed`]): with change streams, an
//! order that came while a printer was free was claimed then (by this PC or, by turns, another), so a
//! claim at each job's end would mostly find nothing: a `find` and a `findAndModify` an order, wasted,
//! at every PC of a fleet.

use super::crash::Processing;
use super::{PrinterSlot, Worker};
use printcore::{Error, PrintJob};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::OwnedSemaphorePermit;
use tracing::{info_span, warn, Instrument};

/// Whether an order may wait for this worker with no event to come for it. Owed when an order's event
/// found no free printer here (its turn 0), when a fallback look came due with its printers busy or
/// claims paused, when a claim pass left a ready printer unasked (its slots full: more orders may wait
/// behind the ones taken) that no printer taking the same orders answered for, when a claim failed,
/// when claims were paused, when the fallback looks overflowed, and when the change streams (re)open.
/// Settled by a claim pass in which every ready printer, or one with the same claim query, looked and
/// found nothing, as of when that pass began (an event during it stays owed).
#[derive(Debug, Default)]
pub(super) struct Owed {
    owed: AtomicU64,
    settled: AtomicU64,
}

impl Owed {
    fn owe(&self) {
        self.owed.fetch_add(1, Ordering::SeqCst);
    }

    fn mark(&self) -> u64 {
        self.owed.load(Ordering::SeqCst)
    }

    fn settle(&self, mark: u64) {
        self.settled.fetch_max(mark, Ordering::SeqCst);
    }

    fn is_owed(&self) -> bool {
        self.owed.load(Ordering::SeqCst) > self.settled.load(Ordering::SeqCst)
    }
}

impl Worker {
    /// An order may wait for this worker with no event to come for it: the next job's end claims.
    pub(super) fn owe_claim(&self) {
        self.claims_owed.owe();
    }

    /// Whether a job's end should claim: always while polling (no events come), else when owed.
    pub fn job_end_claims(&self) -> bool {
        !self.watching() || self.claims_owed.is_owed()
    }

    /// Claims orders for every printer that may take them and has a free job slot, and starts printing
    /// each. Returns how many were claimed.
    pub async fn claim_once(self: &Arc<Self>) -> usize {
        if self.shutdown.is_shutdown() {
            return 0;
        }
        if self.claims_paused() {
            // What came meanwhile is claimed when the pause ends (the claim loop wakes then).
            self.owe_claim();
            return 0;
        }
        let mark = self.claims_owed.mark();
        // Reap finished print tasks so the set does not grow over a long run.
        self.active_jobs();
        // Every free job slot of every printer claims in one round, side by side; printers that take the
        // same orders share one read of the queue, and with peers the claims spread over its head by turns
        // (`PrintCore::claim_all_in_turns`). Rounds go on while they claim.
        let mut claimed = 0;
        // Printers that found nothing (or failed) in a round sit out the next ones of this call.
        let mut done: Vec<String> = Vec::new();
        let mut found_nothing: Vec<String> = Vec::new();
        let mut failed = false;
        loop {
            let mut slots = Vec::new();
            let mut targets = Vec::new();
            let claiming = self.slots.iter().filter(|s| s.may_claim() && !done.contains(&s.identity.printer_id));
            for slot in claiming {
                while let Ok(permit) = slot.permits.clone().try_acquire_owned() {
                    targets.push(slot.claim_target());
                    slots.push((slot.clone(), permit));
                }
            }
            if targets.is_empty() {
                self.after_claims(mark, &found_nothing, failed);
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
                    Ok(None) => {
                        done.push(slot.identity.printer_id.clone());
                        found_nothing.push(slot.identity.printer_id.clone());
                    }
                    Err(e) => {
                        warn!(printer_id = %slot.identity.printer_id, "claim failed: {e}");
                        done.push(slot.identity.printer_id.clone());
                        failed = true;
                    }
                }
            }
            claimed += round;
            if round == 0 || self.shutdown.is_shutdown() || self.claims_paused() {
                self.after_claims(mark, &found_nothing, failed);
                return claimed;
            }
        }
    }

    /// After a claim pass begun at `mark`: settled when every printer that may take orders found nothing
    /// (`found_nothing`), itself or a printer that takes the same orders (the same claim query); owed when
    /// a printer was left unasked, its slots full (orders may wait behind the ones taken) or a claim failed.
    /// With no printer ready, as it was: a printer that becomes ready claims anyway.
    fn after_claims(&self, mark: u64, found_nothing: &[String], failed: bool) {
        let ready: Vec<&Arc<PrinterSlot>> = self.slots.iter().filter(|s| s.may_claim()).collect();
        if ready.is_empty() {
            return;
        }
        // The orders the printers that found nothing take: none of them waits.
        let looked: Vec<printcore::queue::ClaimQuery> =
            ready.iter().filter(|s| found_nothing.contains(&s.identity.printer_id)).map(|s| s.claim_query()).collect();
        if !failed && ready.iter().all(|s| looked.contains(&s.claim_query())) {
            self.claims_owed.settle(mark);
        } else {
            self.owe_claim();
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
                if worker.job_end_claims() {
                    worker.wake.notify_one();
                }
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
