//! The health service: every `intervals.health`, each printer's status, queue and capabilities into
//! `printers` (through printcore), and a wake-up of the claim loop when a printer comes back.
//!
//! A printer read as `busy` is not left until the next full pass: a health reading taken while this
//! worker's own job printed goes stale the moment that job ends, so the print task re-reads its printer
//! as it finishes ([`Worker::recheck_after_job`]), and a printer busy with someone else's job is asked
//! again every `intervals.job_poll` ([`Worker::busy_once`]). Orders never wait 30 s for an idle printer.

use super::{PrinterSlot, Worker};
use printcore::PrinterStatus;
use tracing::warn;

/// How long a job may wait at the printer for its document before the health pass cancels it (a live
/// worker sends it within a database write of creating it; one killed meanwhile never will).
pub const STALE_EMPTY_JOB: std::time::Duration = std::time::Duration::from_secs(20);

impl Worker {
    /// One health pass over every printer. Returns how many may take orders now.
    pub async fn health_once(&self) -> usize {
        let mut ready = 0;
        for slot in &self.slots {
            if self.check_slot(slot).await {
                ready += 1;
            }
            // How long the printer keeps this worker's completed jobs listed (crate::history): its own list
            // once, then this worker's jobs as they complete.
            if !slot.history_read.load(std::sync::atomic::Ordering::Relaxed)
                && slot.history.read_listing(slot.printer.as_ref()).await
            {
                slot.history_read.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            if slot.history.watching() {
                slot.history.probe(slot.printer.as_ref()).await;
            }
            // An empty job a killed worker left between Create-Job and storing its id holds up a printer
            // that prints one job at a time: cancelled once it has waited this long.
            let due = {
                let mut last = slot.stale_checked.lock().unwrap();
                let due = last.is_none_or(|t| t.elapsed() >= STALE_EMPTY_JOB / 2);
                if due {
                    *last = Some(std::time::Instant::now());
                }
                due
            };
            if due {
                let _ = slot.printer.cancel_stale_empty_jobs(STALE_EMPTY_JOB).await;
            }
        }
        ready
    }

    /// Asks again every printer last read as busy that has a free job slot (busy with another
    /// computer's job, or with this worker's job that has since finished). Returns how many may take
    /// orders now.
    pub async fn busy_once(&self) -> usize {
        let mut ready = 0;
        for slot in &self.slots {
            let busy = slot.reading().is_some_and(|r| r.status == PrinterStatus::Busy);
            // While all of its slots hold this worker's jobs, the print tasks re-read it as they end.
            if busy && slot.permits.available_permits() > 0 && self.check_slot(slot).await {
                ready += 1;
            }
        }
        ready
    }

    /// After one of this worker's jobs on `slot` ended: a reading of `busy` was probably that job, so read
    /// the printer again now rather than at the next health pass.
    pub(super) async fn recheck_after_job(&self, slot: &PrinterSlot) {
        if slot.reading().is_some_and(|r| r.status == PrinterStatus::Busy) {
            self.check_slot(slot).await;
        }
    }

    /// Reads one printer, records it, and wakes the claim loop when it may take orders and could not
    /// before. Returns whether it may take orders.
    async fn check_slot(&self, slot: &PrinterSlot) -> bool {
        let mut tracker = slot.tracker.lock().await;
        let last_success = *slot.last_success.lock().unwrap();
        match tracker.check(slot.printer.as_ref(), &self.core, &self.id, last_success).await {
            Ok(reading) => {
                let was_ready = slot.may_claim();
                let ready = reading.may_claim();
                *slot.reading.lock().unwrap() = Some(reading);
                if ready && !was_ready {
                    // Back online, free again, or the first reading: look for work at once.
                    self.wake.notify_one();
                }
                ready
            }
            Err(e) => {
                warn!(printer_id = %slot.identity.printer_id, "could not record printer health: {e}");
                false
            }
        }
    }
}
