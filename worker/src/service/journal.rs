//! The journal replay: at start, each printer answer the print PC's journal holds that the database
//! never got (see `crate::journal`) is recorded on its order, before recovery could take the order for
//! one the printer never acknowledged.

use super::Worker;
use crate::journal::{Entry, Journal};
use tracing::{info, warn};

impl Worker {
    /// Keeps `journal` for this worker's print tasks (before [`Worker::run`]).
    pub fn set_journal(&self, journal: Journal) {
        let _ = self.journal.set(journal);
    }

    /// Appends to the journal, if there is one. A journal that cannot be written is logged, not fatal:
    /// the database remains the record; the journal only narrows a window.
    /// Returns once the entry is on disk (the journal flushes the entries of all printer slots waiting
    /// together, see `crate::journal`).
    pub(super) async fn journal(&self, entry: Entry) {
        if let Some(j) = self.journal.get() {
            let started = std::time::Instant::now();
            let written = j.write(&entry).await;
            crate::stages::add(crate::stages::Stage::Journal, started.elapsed());
            if let Err(e) = written {
                warn!("could not write the journal {}: {e}", j.path().display());
            }
        }
    }

    /// Records every printer answer the journal holds that the database does not, then rewrites the journal
    /// without finished jobs. Returns how many answers were recorded now.
    pub async fn replay_journal(&self) -> printcore::Result<usize> {
        let Some(j) = self.journal.get() else { return Ok(0) };
        let pending = match j.unrecorded() {
            Ok(p) => p,
            Err(e) => {
                warn!("could not read the journal {}: {e}", j.path().display());
                return Ok(0);
            }
        };
        let mut recorded = 0;
        for u in &pending {
            if self.core.record_late_acknowledgement(&self.id, &u.job, &u.job_ref).await? {
                info!(order_id = %u.order, print_job_id = %u.job, job_ref = %u.job_ref, "recorded a printer answer from the journal");
                recorded += 1;
            }
        }
        // Every entry is now settled one way or the other (recorded, or the order moved on).
        if let Err(e) = j.compact(&[]) {
            warn!("could not rewrite the journal {}: {e}", j.path().display());
        }
        Ok(recorded)
    }
}
