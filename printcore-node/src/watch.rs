//! Live monitor subscriptions: printcore's event stream, delivered to a JS listener.

use crate::types::{MonitorEvent, WatchOptions};
use futures::StreamExt;
use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi_derive::napi;
use std::time::Duration;

/// A running subscription. `close()` stops it.
#[napi]
pub struct Subscription {
    task: Option<tokio::task::JoinHandle<()>>,
}

#[napi]
impl Subscription {
    /// Stops delivering events (idempotent).
    #[napi]
    pub fn close(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Whether `close()` was called.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.task.is_none()
    }
}

pub(crate) fn subscribe(
    core: printcore::PrintCore,
    listener: Function<'_, MonitorEvent, ()>,
    options: Option<WatchOptions>,
) -> Result<Subscription> {
    // Weak: the subscription alone does not keep Node's event loop alive.
    let tsfn = listener.build_threadsafe_function().callee_handled::<false>().weak::<true>().build()?;
    let poll = Duration::from_millis(options.and_then(|o| o.poll_ms).unwrap_or(2500).clamp(200, 60_000) as u64);
    let task = napi::bindgen_prelude::spawn(async move {
        let mut events = core.watch_monitor(poll).await;
        while let Some(e) = events.next().await {
            let event = MonitorEvent { kind: e.kind, id: e.id, change: e.change, source: e.source };
            if tsfn.call(event, ThreadsafeFunctionCallMode::NonBlocking) == Status::Closing {
                break;
            }
        }
    });
    Ok(Subscription { task: Some(task) })
}
