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
