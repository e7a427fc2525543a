//! The stuck check: every `intervals.stuck_check`, the 30-minute backstop for this worker's own orders.

use super::{Worker, MAY_HAVE_PRINTED};
use printcore::PrintJob;

impl Worker {
    /// The 30-minute backstop for this worker's own orders: unsent ones back to the queue; sent ones failed
    /// with "may have printed" (their print task then finds the order gone and stops).
    pub async fn stuck_once(&self) -> printcore::Result<usize> {
        let report = self.core.recover_stuck(&self.id, 50).await?;
        let mut n = report.returned.len();
        for order in report.to_reconcile {
            let job = PrintJob::resume(&self.core, &self.id, order)?;
            let minutes = self.core.config().stuck_after.as_secs() / 60;
            job.fail_permanent(&format!(
                "the printer did not finish the job within {minutes} minutes; {MAY_HAVE_PRINTED}"
            ))
            .await?;
            n += 1;
        }
        Ok(n)
    }
}
