//! The queue watch: a change stream on `orders` wakes the claim loop on every change that may have made an
//! order printable; where change streams are refused the claim loop polls.

use super::Worker;
use futures::StreamExt;
use printcore::Error;
use std::sync::Arc;
use tracing::{info, warn};

impl Worker {
    /// Wakes the claim loop on every change that may have made an order printable. Falls back to polling
    /// (returns) where change streams are refused; reopens a broken stream after a poll interval.
    pub(super) async fn watch_for_orders(self: Arc<Self>) {
        loop {
            match self.core.watch_queue().await {
                Ok(mut stream) => {
                    info!("watching orders with a change stream");
                    while let Some(event) = stream.next().await {
                        match event {
                            Ok(()) => self.wake.notify_one(),
                            Err(e) => {
                                warn!("change stream ended: {e}; polling until it reopens");
                                break;
                            }
                        }
                    }
                }
                Err(Error::Unsupported(m)) => {
                    info!("{m}; polling every {:?}", self.intervals.poll);
                    return;
                }
                Err(e) => warn!("cannot open a change stream: {e}"),
            }
            tokio::time::sleep(self.intervals.poll).await;
        }
    }
}
