//! The queue watch: change streams on `orders` and `printers` wake the loops that have work (the claim
//! loop for an order that may have become printable, the cancel pass for an admin's request, the claim
//! loop's timer for a schedule, the switches for a printer an admin changed); where change streams are
//! refused, or while one is broken, the claim loop polls.

use super::Worker;
use futures::StreamExt;
use printcore::Error;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tracing::{info, warn};

impl Worker {
    /// Wakes the loops on each change that asks for them. Falls back to polling (returns) where change
    /// streams are refused; reopens a broken stream after a poll interval, and then wakes every loop
    /// once, since events may have been missed meanwhile.
    pub(super) async fn watch_for_orders(self: Arc<Self>) {
        loop {
            match self.core.watch_worker(self.intervals.change_stream_wait).await {
                Ok(mut stream) => {
                    info!("watching orders and printers with change streams");
                    self.stream_live.store(true, Ordering::Relaxed);
                    // Orders paid while no stream was open came with no event.
                    self.owe_claim();
                    self.wake.notify_one();
                    self.cancel_wake.notify_one();
                    self.schedule_wake.notify_one();
                    self.printers_wake.notify_one();
                    while let Some(event) = stream.next().await {
                        match event {
                            Ok(e) => {
                                if e.printable {
                                    match e.order {
                                        // With peers, only the order's first turn claims at once.
                                        Some(order) => self.order_printable(order),
                                        None => self.wake.notify_one(),
                                    }
                                }
                                if e.cancel_request {
                                    self.cancel_wake.notify_one();
                                }
                                if e.schedule {
                                    self.schedule_wake.notify_one();
                                }
                                if e.printer {
                                    self.printers_wake.notify_one();
                                }
                            }
                            Err(e) => {
                                warn!("change stream ended: {e}; polling until it reopens");
                                break;
                            }
                        }
                    }
                    self.stream_live.store(false, Ordering::Relaxed);
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
