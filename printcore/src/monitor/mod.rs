//! The monitor's reads: everything a person looks at. None of it changes an order.
//!
//! - This module: one [`Snapshot`] of the monitor page (orders by group, printers, latest metrics), the
//!   live feed of changes ([`MonitorHub`]: a change stream where the deployment has one, a short poll of
//!   the snapshot otherwise), and pages of orders ([`PrintCore::orders_page`]).
//! - [`history`]: the audit history (`print_logs`) of an order or of the shop.
//! - [`metrics`]: the workers' samples in `metrics`, and the buckets of the monitor's charts.
//! - [`status`]: what one printer is doing now (`worker status`), the queue's depth and a database round
//!   trip (the worker's health endpoint).
//! - [`alerts`]: when the shop needs a person (a printer down, orders waiting or failing, the database
//!   away), and which worker sends each notice.
//!
//! ```no_run
//! use printcore::{FeedItem, MonitorHub, PrintCore};
//! use std::time::Duration;
//! # async fn demo(core: PrintCore) -> printcore::Result<()> {
//! let snapshot = core.snapshot().await?;
//! println!("{} waiting, {} printing", snapshot.counts.pending, snapshot.counts.printing);
//!
//! // One change stream (or poll) per process, shared by every open monitor page.
//! let hub = MonitorHub::new(core.clone(), Duration::from_secs(2));
//! let mut feed = hub.subscribe();
//! while let FeedItem::Event(event) = feed.next().await {
//!     println!("{} {} changed: read the snapshot again", event.kind, event.id);
//! }
//! # Ok(()) }
//! ```

pub mod alerts;
pub mod history;
pub mod metrics;
pub mod status;

pub use metrics::MetricsBucket;
pub use status::{PrinterActivity, QueueDepth};

use crate::db::PrintCore;
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
    /// Being printed now, newest order first.
    pub printing: Vec<Order>,
    /// Printed in the last 24 hours, newest first.
    pub printed: Vec<Order>,
    /// Newest first.
    pub failed: Vec<Order>,
    /// Every printer, with its health.
    pub printers: Vec<Printer>,
    /// The newest metrics sample of any worker.
    pub metrics: Option<Metrics>,
    /// Totals per group (the lists stop at [`SNAPSHOT_LIMIT`]).
    pub counts: SnapshotCounts,
    /// When the snapshot was read (the database server's time).
    pub taken_at: bson::DateTime,
}

/// How many orders each group of a [`Snapshot`] holds, beyond the lists' limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotCounts {
    /// Orders waiting in the queue.
    pub pending: u64,
    /// Orders being printed.
    pub printing: u64,
    /// Orders printed in the last 24 hours.
    pub printed_last_24h: u64,
    /// Orders failed (all, until an admin acts on them).
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
        let day_ago = crate::db::clock::sub(now, Duration::from_secs(24 * 3600));
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
                let now = signatures(&snap);
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

/// What a live monitor subscriber receives: that the feed is open, events, and the end. A change stream
/// that breaks sends one error before the end; polling sends an error for each failed read and goes on
/// (a failed first read comes before the open).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedItem {
    /// The feed is open: every change from now on is reported. A change made before it may not be, so a
    /// monitor reads its snapshot (again) now. Each subscriber receives it once, before any event, also
    /// when it joins a feed that opened earlier.
    Open,
    /// Something changed: read the snapshot (or the order) again.
    Event(MonitorEvent),
    /// The feed broke (a change stream failed, or polling could not read): `code` and `transient` as
    /// [`Error::code`] and [`Error::is_transient`]. A broken change stream is followed by [`FeedItem::End`];
    /// polling goes on after a failed read.
    Error {
        /// The error's [`Error::code`].
        code: &'static str,
        /// The error's message.
        message: String,
        /// Whether the feed may work again later ([`Error::is_transient`]).
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
    /// [`FeedItem::Open`] comes before any event, once the change streams are open on the server (polling:
    /// once a first snapshot, which later polls are compared with, was read).
    pub async fn monitor_feed(&self, poll: Duration) -> BoxStream<'static, FeedItem> {
        match self.watch_all().await {
            Ok(stream) => {
                let core = self.clone();
                let changes = stream
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
                    });
                futures::stream::once(async { FeedItem::Open }).chain(changes).boxed()
            }
            Err(e) if e.code() == "UNSUPPORTED" => self.poll_feed(poll),
            Err(e) => futures::stream::iter([FeedItem::error(&e), FeedItem::End]).boxed(),
        }
    }

    fn poll_feed(&self, poll: Duration) -> BoxStream<'static, FeedItem> {
        let core = self.clone();
        // What the last snapshot read held, whether a poll was made, and whether one succeeded (open).
        let state: (HashMap<String, String>, bool, bool) = (HashMap::new(), false, false);
        futures::stream::unfold((core, state), move |(core, (mut seen, started, mut open))| async move {
            if started {
                tokio::time::sleep(poll).await;
            }
            let mut items = Vec::new();
            match core.snapshot().await {
                Ok(snap) => {
                    let now = signatures(&snap);
                    if open {
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
                    } else {
                        // Later polls are compared with this one: a change from now on is reported.
                        items.push(FeedItem::Open);
                        open = true;
                    }
                    seen = now;
                }
                Err(e) => items.push(FeedItem::error(&e)),
            }
            Some((futures::stream::iter(items), (core, (seen, true, open))))
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
        let sig = format!(
            "{:?}|{:?}|{:?}|{:?}|{:?}",
            p.status, p.queue_length, p.error_message, p.last_seen_at, p.state_reasons
        );
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
    /// The feed sent [`FeedItem::Open`]: a subscriber joining now receives its own.
    open: std::sync::atomic::AtomicBool,
}

/// One subscriber of a [`MonitorHub`]; dropping it unsubscribes.
pub struct HubSubscription {
    hub: std::sync::Arc<MonitorHub>,
    generation: std::sync::Arc<Generation>,
    rx: tokio::sync::broadcast::Receiver<FeedItem>,
    /// [`FeedItem::Open`] was returned: the feed's own, which may follow, is not returned again.
    opened: bool,
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
                    open: std::sync::atomic::AtomicBool::new(false),
                });
                let (core, poll, feed_tx, hub, gen) =
                    (self.core.clone(), self.poll, g.tx.clone(), std::sync::Arc::downgrade(self), g.clone());
                let task = tokio::spawn(async move {
                    // Ended: the next subscriber starts a new feed. Under the hub's lock, and before the
                    // end is sent: a subscriber joins this feed before it (and receives the end) or a new one.
                    let retire = || {
                        if let Some(hub) = hub.upgrade() {
                            let mut current = hub.current.lock().unwrap();
                            if current.as_ref().is_some_and(|c| std::sync::Arc::ptr_eq(c, &gen)) {
                                *current = None;
                            }
                        }
                    };
                    let mut feed = core.monitor_feed(poll).await;
                    while let Some(item) = feed.next().await {
                        if item == FeedItem::Open {
                            // Before the send: a subscriber that reads the flag unset receives the send.
                            gen.open.store(true, std::sync::atomic::Ordering::SeqCst);
                        }
                        let end = item == FeedItem::End;
                        if end {
                            retire();
                        }
                        let _ = feed_tx.send(item);
                        if end {
                            return;
                        }
                    }
                    retire();
                    let _ = feed_tx.send(FeedItem::End);
                });
                *g.task.lock().unwrap() = Some(task);
                *current = Some(g.clone());
                g
            }
        };
        generation.subscribers.fetch_add(1, Ordering::SeqCst);
        // Receiving from here on; `next` reads the open flag after this: a feed that opens in between is
        // heard by one or the other.
        let rx = generation.tx.subscribe();
        HubSubscription { hub: self.clone(), generation, rx, opened: false, ended: false }
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
            // The feed opened before this subscriber joined, or while it lagged: its own open, first (the
            // events of the feed all come after its open).
            if !self.opened && self.generation.open.load(std::sync::atomic::Ordering::SeqCst) {
                self.opened = true;
                return FeedItem::Open;
            }
            match self.rx.recv().await {
                Ok(FeedItem::Open) if self.opened => continue,
                Ok(item) => {
                    self.opened |= item == FeedItem::Open;
                    self.ended = item == FeedItem::End;
                    return item;
                }
                // Too slow: what was missed is skipped (but not the open, above).
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
        // Under the hub's lock, as `subscribe` counts: a subscriber joining now either keeps this feed
        // running or, once it is stopped, starts a new one; never joins a feed being stopped.
        let mut current = self.hub.current.lock().unwrap();
        if self.generation.subscribers.fetch_sub(1, Ordering::SeqCst) == 1 {
            // The last subscriber left: stop the feed (its change streams close on the server).
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
    /// This page's items, newest first.
    pub items: Vec<T>,
    /// Pass as `before` to read the next page; `None` on the last page.
    pub next: Option<String>,
}

/// The most items one page holds.
pub const PAGE_LIMIT: i64 = 1000;

/// Which orders [`PrintCore::orders_page`] reads: every filter is optional and they combine (AND).
///
/// Order: newest `createdAt` first, ties by `_id` (newest first); orders whose `createdAt` is not a date
/// (missing, null, text) come after every dated one, newest `_id` first, and only when neither `from` nor
/// `to` is given (a date range selects dated orders).
#[derive(Debug, Clone, Default)]
pub struct OrdersQuery {
    /// Only orders in this print status; `None`: every status (and orders without one).
    pub status: Option<PrintStatus>,
    /// The website's `orderId`: an exact match, or, when the text is at least
    /// [`ORDER_ID_PREFIX_MIN`] characters long, every `orderId` that starts with it (case-sensitive).
    /// Served by the `orderId` index (a range on it), never a scan. Blank: no filter.
    pub order_id: Option<String>,
    /// Only orders of this printer (`printerId`, set when a worker claims the order).
    pub printer_id: Option<String>,
    /// `createdAt` at or after this time.
    pub from: Option<bson::DateTime>,
    /// `createdAt` before this time (exclusive).
    pub to: Option<bson::DateTime>,
    /// The previous page's `next`.
    pub before: Option<String>,
    /// At most this many per page (default [`PAGE_DEFAULT`], between 1 and [`PAGE_LIMIT`]).
    pub limit: Option<i64>,
}

/// An `orderId` search this long or longer also matches every `orderId` that starts with it.
pub const ORDER_ID_PREFIX_MIN: usize = 3;

/// The page size when the query gives none.
pub const PAGE_DEFAULT: i64 = 100;

/// Where a page of orders stopped: the last order's `createdAt` and `_id` (a dated order), or its `_id`
/// alone (an order without a date, listed after every dated one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OrderCursor {
    Dated(bson::DateTime, bson::oid::ObjectId),
    Undated(bson::oid::ObjectId),
}

impl OrderCursor {
    fn of(d: &Document) -> Option<OrderCursor> {
        let id = d.get_object_id("_id").ok()?;
        Some(match d.get_datetime("createdAt") {
            Ok(t) => OrderCursor::Dated(*t, id),
            Err(_) => OrderCursor::Undated(id),
        })
    }

    fn encode(self) -> String {
        match self {
            OrderCursor::Dated(t, id) => format!("d{}.{}", t.timestamp_millis(), id.to_hex()),
            OrderCursor::Undated(id) => format!("u.{}", id.to_hex()),
        }
    }

    fn parse(s: &str) -> Result<OrderCursor> {
        let bad = || Error::InvalidArgument(format!("before: {s:?} is not a cursor this call returned (its `next`)"));
        let (head, id) = s.split_once('.').ok_or_else(bad)?;
        let id = bson::oid::ObjectId::parse_str(id).map_err(|_| bad())?;
        if head == "u" {
            return Ok(OrderCursor::Undated(id));
        }
        let millis: i64 = head.strip_prefix('d').and_then(|m| m.parse().ok()).ok_or_else(bad)?;
        Ok(OrderCursor::Dated(bson::DateTime::from_millis(millis), id))
    }
}

/// The smallest string greater than every string that starts with `prefix` (in the server's binary
/// order of UTF-8 strings, which is code point order), or `None` when there is none.
fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (last as u32 + 1..=char::MAX as u32).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

impl OrdersQuery {
    /// The filters every phase shares: status, orderId, printer.
    fn base_filter(&self) -> Result<Document> {
        let mut filter = Document::new();
        if let Some(status) = self.status {
            filter.insert("printStatus", status.as_str());
        }
        if let Some(search) = self.order_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            if search.len() > 200 || search.chars().any(char::is_control) {
                return Err(Error::InvalidArgument(format!(
                    "orderId: {:?} is not an order id to search for (1-200 printable characters)",
                    search.chars().take(60).collect::<String>()
                )));
            }
            if search.chars().count() >= ORDER_ID_PREFIX_MIN {
                // A range on the index: the exact id and every id that starts with it.
                let mut range = doc! { "$gte": search };
                if let Some(upper) = prefix_upper_bound(search) {
                    range.insert("$lt", upper);
                }
                filter.insert("orderId", range);
            } else {
                filter.insert("orderId", search);
            }
        }
        if let Some(printer) = self.printer_id.as_deref().filter(|p| !p.is_empty()) {
            filter.insert("printerId", printer);
        }
        Ok(filter)
    }

    /// The query of dated orders (`createdAt` is a date), from `after` on: its filter and sort. Served by
    /// the indexes `createdAt_id`, `printStatus_createdAt_id`, `printerId_createdAt_id` and
    /// `printerId_printStatus_createdAt_id` (or `orderId` for a search), with index bounds on `createdAt`.
    fn dated(&self, after: Option<(bson::DateTime, bson::oid::ObjectId)>) -> Result<(Document, Document)> {
        let mut filter = self.base_filter()?;
        let mut created = doc! { "$gte": self.from.unwrap_or(bson::DateTime::MIN) };
        if let Some(to) = self.to {
            created.insert("$lt", to);
        }
        if let Some((t, id)) = after {
            // At or before the last one's time; of those at its very time, only smaller _ids.
            created.insert("$lte", t);
            filter.insert("$nor", vec![doc! { "createdAt": t, "_id": { "$gte": id } }]);
        }
        filter.insert("createdAt", created);
        Ok((filter, doc! { "createdAt": -1, "_id": -1 }))
    }

    /// The query of orders without a date, after `after` (an `_id`).
    fn undated(&self, after: Option<bson::oid::ObjectId>) -> Result<(Document, Document)> {
        let mut filter = self.base_filter()?;
        filter.insert("createdAt", doc! { "$not": { "$type": "date" } });
        if let Some(id) = after {
            filter.insert("_id", doc! { "$lt": id });
        }
        Ok((filter, doc! { "_id": -1 }))
    }

    /// The first page's query (filter, sort), as [`PrintCore::orders_page`] sends it: for explaining its
    /// plan in tests and benchmarks.
    pub fn first_page_query(&self) -> Result<(Document, Document)> {
        self.dated(None)
    }
}

impl PrintCore {
    async fn find_order_docs(&self, (filter, sort): (Document, Document), limit: i64) -> Result<Vec<Document>> {
        use futures::TryStreamExt;
        self.inner
            .orders
            .find(filter)
            .projection(doc! { crate::audit::OUTBOX_FIELD: 0 })
            .sort(sort)
            .limit(limit)
            .await
            .map_err(Error::db("reading orders"))?
            .try_collect()
            .await
            .map_err(Error::db("reading orders"))
    }

    /// Orders matching `query` (status, orderId, printer, `createdAt` range; see [`OrdersQuery`]), newest
    /// first, a page at a time: `query.before` is the previous page's `next`. Every page is one or two
    /// index-served queries: dated orders by `createdAt` then `_id`, and after the last of them (no date
    /// range given) the orders without a date by `_id`. The cursor neither skips nor repeats an order,
    /// even among orders created in the same millisecond.
    pub async fn orders_page(&self, query: &OrdersQuery) -> Result<Page<Order>> {
        let limit = query.limit.unwrap_or(PAGE_DEFAULT).clamp(1, PAGE_LIMIT);
        if let (Some(from), Some(to)) = (query.from, query.to) {
            if from > to {
                return Err(Error::InvalidArgument(format!(
                    "from ({}) is after to ({}); no order could match",
                    from.try_to_rfc3339_string().unwrap_or_default(),
                    to.try_to_rfc3339_string().unwrap_or_default()
                )));
            }
        }
        let cursor = query.before.as_deref().map(OrderCursor::parse).transpose()?;
        let mut docs = Vec::new();
        let dated_done = matches!(cursor, Some(OrderCursor::Undated(_)));
        if !dated_done {
            let after = match cursor {
                Some(OrderCursor::Dated(t, id)) => Some((t, id)),
                _ => None,
            };
            docs = self.find_order_docs(query.dated(after)?, limit + 1).await?;
        }
        let ranged = query.from.is_some() || query.to.is_some();
        if (docs.len() as i64) <= limit && !ranged {
            let after = match cursor {
                Some(OrderCursor::Undated(id)) => Some(id),
                _ => None,
            };
            let more = self.find_order_docs(query.undated(after)?, limit + 1 - docs.len() as i64).await?;
            docs.extend(more);
        }
        // The cursor is the last document's, read or not: an unreadable one is skipped, never a reason to
        // stop paging.
        let next = if docs.len() as i64 > limit {
            docs.truncate(limit as usize);
            docs.last().and_then(OrderCursor::of).map(OrderCursor::encode)
        } else {
            None
        };
        let items = crate::queue::parse_orders(docs, "reading orders");
        Ok(Page { items, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_strangers_are_refused() {
        let id = bson::oid::ObjectId::new();
        for c in [OrderCursor::Dated(bson::DateTime::from_millis(-5), id), OrderCursor::Undated(id)] {
            assert_eq!(OrderCursor::parse(&c.encode()).unwrap(), c);
        }
        for bad in ["", "u.", "d12", "x.0123", &id.to_hex(), "dabc.0123456789abcdef01234567"] {
            assert_eq!(OrderCursor::parse(bad).unwrap_err().code(), "INVALID_ARGUMENT", "{bad}");
        }
    }

    #[test]
    fn an_order_id_prefix_is_a_range() {
        assert_eq!(prefix_upper_bound("ORD-12").as_deref(), Some("ORD-13"));
        assert_eq!(prefix_upper_bound("ab\u{10FFFF}").as_deref(), Some("ac"));
        assert_eq!(prefix_upper_bound("\u{10FFFF}"), None);
        assert_eq!(prefix_upper_bound("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        let q = OrdersQuery { order_id: Some(" ORD-12 ".into()), ..Default::default() };
        assert_eq!(q.base_filter().unwrap(), doc! { "orderId": { "$gte": "ORD-12", "$lt": "ORD-13" } });
        let short = OrdersQuery { order_id: Some("12".into()), ..Default::default() };
        assert_eq!(short.base_filter().unwrap(), doc! { "orderId": "12" });
    }
}
