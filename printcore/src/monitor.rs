//! The admin monitor's data: one snapshot (orders by group, printers, latest metrics) and live change
//! events (a change stream where the deployment has one, a short poll of the snapshot otherwise).

use crate::core::PrintCore;
use crate::error::{Error, Result};
use crate::model::{Metrics, Order, PrintStatus, Printer};
use bson::{doc, Document};
use futures::stream::{BoxStream, StreamExt};
use std::collections::HashMap;
use std::future::IntoFuture;
use std::time::Duration;

/// The most orders a snapshot lists per group; `counts` has the totals.
pub const SNAPSHOT_LIMIT: i64 = 500;

/// What the monitor page shows.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Waiting, in the order they will print (priority, then age).
    pub pending: Vec<Order>,
    pub printing: Vec<Order>,
    /// Printed in the last 24 hours, newest first.
    pub printed: Vec<Order>,
    /// Newest first.
    pub failed: Vec<Order>,
    pub printers: Vec<Printer>,
    /// The newest metrics sample of any worker.
    pub metrics: Option<Metrics>,
    /// Totals per group (the lists stop at [`SNAPSHOT_LIMIT`]).
    pub counts: SnapshotCounts,
    pub taken_at: bson::DateTime,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotCounts {
    pub pending: u64,
    pub printing: u64,
    pub printed_last_24h: u64,
    pub failed: u64,
}

/// One live change for the monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorEvent {
    /// "order" or "printer".
    pub kind: String,
    /// The order's `orderId` or the printer's `printer_id` (the document `_id` as hex when not known).
    pub id: String,
    /// "insert", "update", "delete" (change streams) or "change", "gone" (polling).
    pub change: String,
    /// "change_stream" or "poll".
    pub source: String,
}

impl PrintCore {
    async fn orders_where(&self, filter: Document, sort: Document) -> Result<Vec<Order>> {
        self.find_orders(filter, Some(sort), SNAPSHOT_LIMIT, "reading the monitor snapshot").await
    }

    /// The monitor snapshot. Every query is served by an index (see ARCHITECTURE.md).
    pub async fn snapshot(&self) -> Result<Snapshot> {
        let now = self.now();
        let day_ago = crate::clock::sub(now, Duration::from_secs(24 * 3600));
        let pending_filter = doc! { "printStatus": PrintStatus::Pending.as_str(), "paymentStatus": "completed" };
        let printed_filter =
            doc! { "printStatus": PrintStatus::Printed.as_str(), "printCompletedAt": { "$gte": day_ago } };
        let (pending, printing, printed, failed) = futures::try_join!(
            self.orders_where(pending_filter.clone(), crate::queue::claim_sort()),
            self.orders_where(
                doc! { "printStatus": PrintStatus::Printing.as_str() },
                doc! { "printStatus": 1, "createdAt": -1 }
            ),
            self.orders_where(printed_filter.clone(), doc! { "printStatus": 1, "printCompletedAt": -1 }),
            self.orders_where(
                doc! { "printStatus": PrintStatus::Failed.as_str() },
                doc! { "printStatus": 1, "createdAt": -1 }
            ),
        )?;
        let count = |f: Document| self.inner.orders.count_documents(f).into_future();
        let (c_pending, c_printing, c_printed, c_failed) = futures::try_join!(
            count(pending_filter),
            count(doc! { "printStatus": PrintStatus::Printing.as_str() }),
            count(printed_filter),
            count(doc! { "printStatus": PrintStatus::Failed.as_str() }),
        )
        .map_err(Error::db("counting the monitor's groups"))?;
        let printers = self.printers().await?;
        let metrics = self
            .inner
            .metrics
            .find_one(doc! {})
            .sort(doc! { "timestamp": -1 })
            .await
            .map_err(Error::db("reading the latest metrics"))?
            .and_then(|d| {
                bson::from_document(d)
                    .map_err(|e| tracing::warn!("the latest metrics sample cannot be read; not shown: {e}"))
                    .ok()
            });
        Ok(Snapshot {
            pending,
            printing,
            printed,
            failed,
            printers,
            metrics,
            counts: SnapshotCounts {
                pending: c_pending,
                printing: c_printing,
                printed_last_24h: c_printed,
                failed: c_failed,
            },
            taken_at: now,
        })
    }

    /// Live monitor events: from a change stream where the deployment has one, else by comparing the
    /// snapshot every `poll` (2-3 s suits a monitor page). The stream ends only when dropped; a broken
    /// change stream falls back to polling.
    pub async fn watch_monitor(&self, poll: Duration) -> BoxStream<'static, MonitorEvent> {
        match self.watch_all().await {
            Ok(stream) => {
                let core = self.clone();
                stream
                    .filter_map(move |e| {
                        let core = core.clone();
                        async move {
                            let (coll, op, key) = e.ok()?;
                            let kind = if coll == crate::model::collections::PRINTERS { "printer" } else { "order" };
                            let id = match key.get_object_id("_id") {
                                Ok(oid) => core.name_of(kind, oid).await.unwrap_or_else(|| oid.to_hex()),
                                Err(_) => key.get("_id").map(|v| v.to_string()).unwrap_or_default(),
                            };
                            Some(MonitorEvent { kind: kind.into(), id, change: op, source: "change_stream".into() })
                        }
                    })
                    .boxed()
            }
            Err(_) => self.poll_monitor(poll),
        }
    }

    async fn name_of(&self, kind: &str, oid: bson::oid::ObjectId) -> Option<String> {
        let (coll, field) =
            if kind == "printer" { (&self.inner.printers, "printer_id") } else { (&self.inner.orders, "orderId") };
        let d = coll.find_one(doc! { "_id": oid }).projection(doc! { field: 1 }).await.ok()??;
        d.get_str(field).ok().map(str::to_owned)
    }

    fn poll_monitor(&self, poll: Duration) -> BoxStream<'static, MonitorEvent> {
        let core = self.clone();
        let state: (HashMap<String, String>, bool) = (HashMap::new(), false);
        futures::stream::unfold((core, state), move |(core, (mut seen, started))| async move {
            if started {
                tokio::time::sleep(poll).await;
            }
            let mut events = Vec::new();
            if let Ok(snap) = core.snapshot().await {
                let mut now: HashMap<String, String> = HashMap::new();
                for o in snap.pending.iter().chain(&snap.printing).chain(&snap.printed).chain(&snap.failed) {
                    let sig = format!(
                        "{:?}|{:?}|{:?}|{:?}|{:?}",
                        o.print_status, o.print_attempt, o.print_error, o.printer_job_ref, o.print_lease_until
                    );
                    now.insert(format!("order:{}", o.order_id), sig);
                }
                for p in &snap.printers {
                    let sig = format!("{:?}|{:?}|{:?}|{:?}", p.status, p.queue_length, p.error_message, p.last_seen_at);
                    now.insert(format!("printer:{}", p.printer_id), sig);
                }
                if started {
                    for (k, sig) in &now {
                        if seen.get(k) != Some(sig) {
                            events.push(event_for(k, "change"));
                        }
                    }
                    for k in seen.keys() {
                        if !now.contains_key(k) {
                            events.push(event_for(k, "gone"));
                        }
                    }
                }
                seen = now;
            }
            Some((futures::stream::iter(events), (core, (seen, true))))
        })
        .flatten()
        .boxed()
    }
}

fn event_for(key: &str, change: &str) -> MonitorEvent {
    let (kind, id) = key.split_once(':').unwrap_or(("order", key));
    MonitorEvent { kind: kind.into(), id: id.into(), change: change.into(), source: "poll".into() }
}

/// What a live monitor subscriber receives: events, then at most one error and the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedItem {
    Event(MonitorEvent),
    /// The feed broke (a change stream failed, or polling could not read): `code` and `transient` as
    /// [`Error::code`] and [`Error::is_transient`]. A broken change stream is followed by [`FeedItem::End`];
    /// polling goes on after a failed read.
    Error {
        code: &'static str,
        message: String,
        transient: bool,
    },
    /// The feed ended; nothing more comes. Subscribe again for a new one.
    End,
}

impl FeedItem {
    fn error(e: &Error) -> FeedItem {
        FeedItem::Error { code: e.code(), message: e.to_string(), transient: e.is_transient() }
    }
}

impl PrintCore {
    /// Live monitor events like [`PrintCore::watch_monitor`], with failures said: a change stream that
    /// breaks yields one [`FeedItem::Error`] and ends; a failed poll yields an error and polling goes on.
    pub async fn monitor_feed(&self, poll: Duration) -> BoxStream<'static, FeedItem> {
        match self.watch_all().await {
            Ok(stream) => {
                let core = self.clone();
                stream
                    .then(move |e| {
                        let core = core.clone();
                        async move {
                            match e {
                                Ok((coll, op, key)) => {
                                    let kind =
                                        if coll == crate::model::collections::PRINTERS { "printer" } else { "order" };
                                    let id = match key.get_object_id("_id") {
                                        Ok(oid) => core.name_of(kind, oid).await.unwrap_or_else(|| oid.to_hex()),
                                        Err(_) => key.get("_id").map(|v| v.to_string()).unwrap_or_default(),
                                    };
                                    // insert, update, replace, delete; anything else the stream reports
                                    // about a collection (a drop, a rename) is a "change" to re-read.
                                    let change = match op.as_str() {
                                        "insert" | "update" | "replace" | "delete" => op,
                                        _ => "change".into(),
                                    };
                                    vec![FeedItem::Event(MonitorEvent {
                                        kind: kind.into(),
                                        id,
                                        change,
                                        source: "change_stream".into(),
                                    })]
                                }
                                Err(e) => vec![FeedItem::error(&e), FeedItem::End],
                            }
                        }
                    })
                    .flat_map(futures::stream::iter)
                    // A change stream that ends without an error (the collection was dropped) says so too.
                    .chain(futures::stream::once(async { FeedItem::End }))
                    .scan(false, |ended, item| {
                        let out = if *ended { None } else { Some(item.clone()) };
                        if item == FeedItem::End {
                            *ended = true;
                        }
                        futures::future::ready(out)
                    })
                    .boxed()
            }
            Err(e) if e.code() == "UNSUPPORTED" => self.poll_feed(poll),
            Err(e) => futures::stream::iter([FeedItem::error(&e), FeedItem::End]).boxed(),
        }
    }

    fn poll_feed(&self, poll: Duration) -> BoxStream<'static, FeedItem> {
        let core = self.clone();
        let state: (HashMap<String, String>, bool) = (HashMap::new(), false);
        futures::stream::unfold((core, state), move |(core, (mut seen, started))| async move {
            if started {
                tokio::time::sleep(poll).await;
            }
            let mut items = Vec::new();
            match core.snapshot().await {
                Ok(snap) => {
                    let now = signatures(&snap);
                    if started {
                        for (k, sig) in &now {
                            if seen.get(k) != Some(sig) {
                                items.push(FeedItem::Event(event_for(k, "change")));
                            }
                        }
                        for k in seen.keys() {
                            if !now.contains_key(k) {
                                items.push(FeedItem::Event(event_for(k, "gone")));
                            }
                        }
                    }
                    seen = now;
                }
                Err(e) => items.push(FeedItem::error(&e)),
            }
            Some((futures::stream::iter(items), (core, (seen, true))))
        })
        .flatten()
        .boxed()
    }
}

fn signatures(snap: &Snapshot) -> HashMap<String, String> {
    let mut now: HashMap<String, String> = HashMap::new();
    for o in snap.pending.iter().chain(&snap.printing).chain(&snap.printed).chain(&snap.failed) {
        let sig = format!(
            "{:?}|{:?}|{:?}|{:?}|{:?}",
            o.print_status, o.print_attempt, o.print_error, o.printer_job_ref, o.print_lease_until
        );
        now.insert(format!("order:{}", o.order_id), sig);
    }
    for p in &snap.printers {
        let sig = format!("{:?}|{:?}|{:?}|{:?}", p.status, p.queue_length, p.error_message, p.last_seen_at);
        now.insert(format!("printer:{}", p.printer_id), sig);
    }
    now
}

/// One live monitor feed shared by every subscriber of a process: ten open monitor pages are one change
/// stream per collection on the server, not ten. The feed starts with the first subscriber and stops when
/// the last one leaves; after it ended (an error), the next subscriber starts a new one.
pub struct MonitorHub {
    core: PrintCore,
    poll: Duration,
    current: std::sync::Mutex<Option<std::sync::Arc<Generation>>>,
}

struct Generation {
    tx: tokio::sync::broadcast::Sender<FeedItem>,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    subscribers: std::sync::atomic::AtomicUsize,
}

/// One subscriber of a [`MonitorHub`]; dropping it unsubscribes.
pub struct HubSubscription {
    hub: std::sync::Arc<MonitorHub>,
    generation: std::sync::Arc<Generation>,
    rx: tokio::sync::broadcast::Receiver<FeedItem>,
    ended: bool,
}

impl MonitorHub {
    /// A hub for `core`'s monitor feed, polling every `poll` where change streams are refused.
    pub fn new(core: PrintCore, poll: Duration) -> std::sync::Arc<MonitorHub> {
        std::sync::Arc::new(MonitorHub { core, poll, current: std::sync::Mutex::new(None) })
    }

    /// Subscribes, starting the feed if nobody else is subscribed. Must be called within a Tokio runtime.
    pub fn subscribe(self: &std::sync::Arc<Self>) -> HubSubscription {
        use std::sync::atomic::Ordering;
        let mut current = self.current.lock().unwrap();
        let generation = match current.as_ref() {
            Some(g) => g.clone(),
            None => {
                let (tx, _) = tokio::sync::broadcast::channel(1024);
                let g = std::sync::Arc::new(Generation {
                    tx,
                    task: std::sync::Mutex::new(None),
                    subscribers: std::sync::atomic::AtomicUsize::new(0),
                });
                let (core, poll, feed_tx, hub, gen) =
                    (self.core.clone(), self.poll, g.tx.clone(), std::sync::Arc::downgrade(self), g.clone());
                let task = tokio::spawn(async move {
                    let mut feed = core.monitor_feed(poll).await;
                    while let Some(item) = feed.next().await {
                        let end = item == FeedItem::End;
                        let _ = feed_tx.send(item);
                        if end {
                            break;
                        }
                    }
                    // Ended: the next subscriber starts a new feed.
                    if let Some(hub) = hub.upgrade() {
                        let mut current = hub.current.lock().unwrap();
                        if current.as_ref().is_some_and(|c| std::sync::Arc::ptr_eq(c, &gen)) {
                            *current = None;
                        }
                    }
                });
                *g.task.lock().unwrap() = Some(task);
                *current = Some(g.clone());
                g
            }
        };
        generation.subscribers.fetch_add(1, Ordering::SeqCst);
        let rx = generation.tx.subscribe();
        HubSubscription { hub: self.clone(), generation, rx, ended: false }
    }

    /// How many subscribers the running feed has (0 when none runs).
    pub fn subscribers(&self) -> usize {
        self.current
            .lock()
            .unwrap()
            .as_ref()
            .map(|g| g.subscribers.load(std::sync::atomic::Ordering::SeqCst))
            .unwrap_or(0)
    }

    /// Stops the running feed: its subscribers receive [`FeedItem::End`].
    pub fn stop(&self) {
        if let Some(g) = self.current.lock().unwrap().take() {
            if let Some(task) = g.task.lock().unwrap().take() {
                task.abort();
            }
            let _ = g.tx.send(FeedItem::End);
        }
    }
}

impl HubSubscription {
    /// The next item; after [`FeedItem::End`], always `End`. A subscriber too slow to keep up with 1024
    /// items skips what it missed (a monitor re-reads the snapshot on the next event anyway).
    pub async fn next(&mut self) -> FeedItem {
        use tokio::sync::broadcast::error::RecvError;
        if self.ended {
            return FeedItem::End;
        }
        loop {
            match self.rx.recv().await {
                Ok(item) => {
                    self.ended = item == FeedItem::End;
                    return item;
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => {
                    self.ended = true;
                    return FeedItem::End;
                }
            }
        }
    }
}

impl Drop for HubSubscription {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering;
        if self.generation.subscribers.fetch_sub(1, Ordering::SeqCst) == 1 {
            // The last subscriber left: stop the feed (its change streams close on the server).
            let mut current = self.hub.current.lock().unwrap();
            if current.as_ref().is_some_and(|c| std::sync::Arc::ptr_eq(c, &self.generation)) {
                *current = None;
            }
            if let Some(task) = self.generation.task.lock().unwrap().take() {
                task.abort();
            }
        }
    }
}

/// The newest `limit` orders first that match the page's filter, and the cursor of the next page.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `before` to read the next page; `None` on the last page.
    pub next: Option<String>,
}

/// The most items one page holds.
pub const PAGE_LIMIT: i64 = 1000;

impl PrintCore {
    /// Orders in `status`, newest first (by the document's `_id`, i.e. creation), a page at a time:
    /// `before` is the previous page's `next`. Served by the index `printStatus_id`.
    pub async fn orders_page(&self, status: PrintStatus, before: Option<&str>, limit: i64) -> Result<Page<Order>> {
        let limit = limit.clamp(1, PAGE_LIMIT);
        let mut filter = doc! { "printStatus": status.as_str() };
        if let Some(before) = before {
            let id = bson::oid::ObjectId::parse_str(before).map_err(|_| {
                Error::InvalidArgument(format!("before: {before:?} is not a cursor this call returned (its `next`)"))
            })?;
            filter.insert("_id", doc! { "$lt": id });
        }
        use futures::TryStreamExt;
        let mut docs: Vec<Document> = self
            .inner
            .orders
            .find(filter)
            .projection(doc! { crate::audit::OUTBOX_FIELD: 0 })
            .sort(doc! { "printStatus": 1, "_id": -1 })
            .limit(limit + 1)
            .await
            .map_err(Error::db("reading orders"))?
            .try_collect()
            .await
            .map_err(Error::db("reading orders"))?;
        // The cursor is the last document's `_id`, read or not: an unreadable one is skipped, never a
        // reason to stop paging.
        let next = if docs.len() as i64 > limit {
            docs.truncate(limit as usize);
            docs.last().and_then(|d| d.get_object_id("_id").ok()).map(|id| id.to_hex())
        } else {
            None
        };
        let items = crate::queue::parse_orders(docs, "reading orders");
        Ok(Page { items, next })
    }
}
