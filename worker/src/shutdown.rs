//! Graceful shutdown as a value: every long-running task holds a [`Shutdown`] and asks it whether to stop
//! (after mini-redis's `shutdown.rs`). One signal stops claiming; the print tasks decide what to do with
//! their order.

use tokio::sync::watch;

/// The sender side: [`ShutdownTrigger::trigger`] tells every [`Shutdown`] at once.
#[derive(Clone)]
pub struct ShutdownTrigger(watch::Sender<bool>);

/// A task's view of the shutdown signal.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// A new trigger and its first receiver.
pub fn channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger(tx), Shutdown(rx))
}

impl ShutdownTrigger {
    pub fn trigger(&self) {
        let _ = self.0.send(true);
    }

    pub fn subscribe(&self) -> Shutdown {
        Shutdown(self.0.subscribe())
    }
}

impl Shutdown {
    /// Whether the signal came.
    pub fn is_shutdown(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes when the signal comes (at once if it already came).
    pub async fn recv(&mut self) {
        // An error means the trigger is gone, which only happens when the worker is ending anyway.
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}
