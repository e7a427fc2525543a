//! The rejection service: orders whose print fields have types the claim cannot use, and orders no active
//! printer can take, are failed with a message naming the field or what each printer offers. Runs after
//! each claim pass.

use super::Worker;
use tracing::warn;

impl Worker {
    /// Fails orders no active printer (of any worker) can take, and orders whose print fields have types
    /// the claim cannot use (naming the field). Returns how many.
    pub async fn reject_once(&self) -> usize {
        // Every printer of this worker has been recorded in `printers` (a health reading written) with
        // capabilities (configured or reported): configured ones alone are not in `printers` yet.
        let own_known = self.slots.iter().all(|s| s.reading().is_some() && s.capabilities().is_some());
        let malformed = match self.core.fail_malformed(&self.id, 50).await {
            Ok(r) => r.len(),
            Err(e) => {
                warn!("could not check for malformed orders: {e}");
                0
            }
        };
        // A rejection is permanent: only from a complete view. Until every printer of this worker has
        // reported (or has configured) capabilities, one of them may be the printer an order waits for.
        if !own_known {
            tracing::debug!("not judging which orders no printer can take: a printer's capabilities are not known yet");
            return malformed;
        }
        malformed
            + match self.core.reject_unprintable(&self.id, 50).await {
                Ok(r) => r.len(),
                Err(e) => {
                    warn!("could not check for orders no printer can take: {e}");
                    0
                }
            }
    }
}
