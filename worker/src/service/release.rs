//! The shutdown release: every order of this worker that was not sent goes back to the queue with a
//! `server_shutdown` log entry; orders already at a printer stay for recovery to settle.

use super::Worker;
use tracing::{info, info_span, warn, Instrument};

impl Worker {
    /// Gives every order of this worker that was not sent back to the queue (`server_shutdown`). Orders
    /// already at a printer stay as they are: their lease runs out and recovery asks the printer, so they
    /// are never printed twice.
    pub async fn release_own(&self) -> usize {
        let jobs = match self.core.own_jobs(&self.id).await {
            Ok(j) => j,
            Err(e) => {
                warn!("could not read this worker's orders to release them: {e}");
                return 0;
            }
        };
        let mut released = 0;
        for job in jobs {
            let span = info_span!("order", order_id = %job.order_id(), print_job_id = %job.print_job_id());
            async {
                if job.order.was_sent() {
                    info!("left at the printer for recovery to settle (never printed twice)");
                    return;
                }
                match job.release("server shutdown").await {
                    Ok(()) => {
                        released += 1;
                        info!("released to the queue (server shutdown)");
                    }
                    Err(e) => warn!("could not release: {e}"),
                }
            }
            .instrument(span)
            .await;
        }
        released
    }
}
