//! The rejection service: orders whose print fields have types the claim cannot use, and orders no active
//! printer can take, are failed with a message naming the field or what each printer offers. Runs after
//! each claim pass; each run reads one window of the waiting orders (`printcore::queue::waiting`).

use super::Worker;
use printcore::queue::{WaitingChecks, WAITING_WINDOW};
use tracing::warn;

impl Worker {
    /// Fails orders no active printer (of any worker) can take, and orders whose print fields have types
    /// the claim cannot use (naming the field), among the next window of waiting orders. Returns how many.
    pub async fn reject_once(&self) -> usize {
        // Every printer of this worker has been recorded in `printers` (a health reading written) with
        // capabilities (configured or reported): configured ones alone are not in `printers` yet.
        // A rejection is permanent: only from a complete view. Until every printer of this worker has
        // reported (or has configured) capabilities, one of them may be the printer an order waits for.
        let own_known = self.slots.iter().all(|s| s.reading().is_some() && s.capabilities().is_some());
        if !own_known {
            tracing::debug!("not judging which orders no printer can take: a printer's capabilities are not known yet");
        }
        let checks = WaitingChecks { malformed: true, unprintable: own_known };
        let mut walk = self.waiting_walk.lock().unwrap().clone();
        match self.core.check_waiting(&self.id, &mut walk, WAITING_WINDOW, checks, 50).await {
            Ok(checked) => {
                *self.waiting_walk.lock().unwrap() = walk;
                for _ in &checked.malformed {
                    crate::stats::failed_as(crate::stats::FailureReason::Malformed, false);
                }
                for _ in &checked.rejected {
                    crate::stats::failed_as(crate::stats::FailureReason::Capability, false);
                }
                checked.malformed.len() + checked.rejected.len()
            }
            Err(e) => {
                warn!("could not check the waiting orders (malformed, or no printer can take them): {e}");
                0
            }
        }
    }
}
