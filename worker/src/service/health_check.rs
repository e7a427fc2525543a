//! The health service: every `intervals.health`, each printer's status, queue and capabilities into
//! `printers` (through printcore), and a wake-up of the claim loop when a printer comes back.

use super::Worker;
use tracing::warn;

impl Worker {
    /// One health pass over every printer. Returns how many may take orders now.
    pub async fn health_once(&self) -> usize {
        let mut ready = 0;
        for slot in &self.slots {
            let mut tracker = slot.tracker.lock().await;
            let last_success = *slot.last_success.lock().unwrap();
            match tracker.check(slot.printer.as_ref(), &self.core, &self.id, last_success).await {
                Ok(reading) => {
                    let was_ready = slot.reading().is_some_and(|r| r.may_claim());
                    if reading.may_claim() {
                        ready += 1;
                        if !was_ready {
                            // Back online (or first reading): look for work at once.
                            self.wake.notify_one();
                        }
                    }
                    *slot.reading.lock().unwrap() = Some(reading);
                }
                Err(e) => warn!(printer_id = %slot.identity.printer_id, "could not record printer health: {e}"),
            }
        }
        ready
    }
}
