//! Live monitor subscriptions: a subscriber of the connection's shared feed (printcore's `MonitorHub`),
//! delivered to a JS listener as `{ open: true }` once the feed is open (before any event), `{ event }`s,
//! `{ error }`s (one before the end for a broken change stream), then `{ end: true }`.

use crate::types::{ErrorInfo, MonitorEvent, WatchItem};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi_derive::napi;
use printcore::{FeedItem, MonitorHub};
use std::sync::Arc;

/// A running subscription. `close()` stops it.
#[napi]
pub struct Subscription {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

#[napi]
impl Subscription {
    /// Stops delivering events (idempotent). The listener gets `{ end: true }` unless the feed ended
    /// before.
    #[napi]
    pub fn close(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Whether `close()` was called.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.stop.is_none()
    }
}

fn item(i: FeedItem) -> WatchItem {
    let none = WatchItem { open: false, event: None, error: None, end: false };
    match i {
        FeedItem::Open => WatchItem { open: true, ..none },
        FeedItem::Event(e) => WatchItem {
            event: Some(MonitorEvent { kind: e.kind, id: e.id, change: e.change, source: e.source }),
            ..none
        },
        FeedItem::Error { code, message, transient } => {
            WatchItem { error: Some(ErrorInfo { code: code.into(), message, transient }), ..none }
        }
        FeedItem::End => WatchItem { end: true, ..none },
    }
}

pub(crate) fn subscribe(hub: Arc<MonitorHub>, listener: Function<'_, WatchItem, ()>) -> Result<Subscription> {
    // Weak: the subscription alone does not keep Node's event loop alive.
    let tsfn = listener.build_threadsafe_function().callee_handled::<false>().weak::<true>().build()?;
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    napi::bindgen_prelude::spawn(async move {
        // Subscribing inside the runtime: the first subscriber starts the feed's task.
        let mut sub = hub.subscribe();
        loop {
            let next = tokio::select! {
                i = sub.next() => i,
                _ = &mut stopped => FeedItem::End,
            };
            let end = next == FeedItem::End;
            if tsfn.call(item(next), ThreadsafeFunctionCallMode::NonBlocking) == Status::Closing || end {
                break;
            }
        }
        // Dropping `sub` unsubscribes; the last one out stops the feed.
    });
    Ok(Subscription { stop: Some(stop) })
}
