//! Reading the audit history (`print_logs`) and the metrics samples, and finishing deliveries a dead
//! writer left in an order's outbox. The outbox itself and its delivery are [`crate::audit`], which the
//! core depends on; this module depends on the core, so the two stay apart (no import cycle).

use crate::audit::{copy_and_pull, outbox_entries, OUTBOX_FIELD};
use crate::core::PrintCore;
use crate::error::{Error, Result};
use crate::model::PrintLog;
use bson::{doc, oid::ObjectId, DateTime, Document};

impl PrintCore {
    /// Waits until every log entry of this process's transitions so far is in `print_logs`.
    pub async fn flush_logs(&self) {
        self.inner.delivery.barrier().await
    }

    /// Delivers log entries left in order outboxes for longer than `older_than` (their writer died between
    /// the transition and the copy); `Duration::ZERO` delivers every waiting entry, however new. Returns how
    /// many entries were delivered. The recovery sweep calls it; so does a history read.
    pub async fn flush_log_outbox(&self, older_than: std::time::Duration, limit: i64) -> Result<usize> {
        let path = format!("{OUTBOX_FIELD}._id");
        // The index bounds select only waiting entries (the field exists only on orders with an outbox).
        let mut range = doc! { "$gte": ObjectId::from_bytes([0; 12]) };
        if !older_than.is_zero() {
            let cutoff = crate::clock::sub(DateTime::now(), older_than);
            let secs = (cutoff.timestamp_millis() / 1000).max(0) as u32;
            range.insert("$lt", ObjectId::from_parts(secs, [0; 5], [0; 3]));
        }
        let mut cursor = self
            .inner
            .orders
            .find(doc! { &path: range })
            .projection(doc! { OUTBOX_FIELD: 1, "orderId": 1 })
            .limit(limit)
            .await
            .map_err(Error::db("reading print log outboxes"))?;
        let mut entries = Vec::new();
        use futures::TryStreamExt;
        while let Some(order) = cursor.try_next().await.map_err(Error::db("reading print log outboxes"))? {
            let order_id = order.get_str("orderId").unwrap_or("(no orderId)");
            entries.extend(outbox_entries(order.get(OUTBOX_FIELD), order_id));
        }
        let n = entries.len();
        copy_and_pull(&self.inner.orders, &self.inner.logs, entries).await?;
        Ok(n)
    }

    /// Reads an order's history, newest first.
    pub async fn logs_for_order(&self, order_id: &str, limit: i64) -> Result<Vec<PrintLog>> {
        self.deliver_before_reading(Some(order_id)).await;
        self.read_logs(doc! { "orderId": order_id }, limit).await
    }

    /// Finishes the delivery of entries still waiting in outboxes (one order's, or every order's) before
    /// a history read, so the read is complete: a worker hands its entries to `print_logs` in batches up
    /// to a second apart, and a worker that died leaves its last ones for the recovery sweep. The copy is
    /// idempotent (the entry's `_id` is fixed), so racing the worker's own delivery is harmless. A failure
    /// here (a reader without write rights) is logged; the read goes on with what is delivered.
    async fn deliver_before_reading(&self, order_id: Option<&str>) {
        let result = match order_id {
            Some(order_id) => self.deliver_order_outbox(order_id).await,
            None => self.flush_log_outbox(std::time::Duration::ZERO, 1000).await.map(|_| ()),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not deliver waiting print log entries before reading the history");
        }
    }

    async fn deliver_order_outbox(&self, order_id: &str) -> Result<()> {
        let Some(order) = self
            .inner
            .orders
            .find_one(doc! { "orderId": order_id, OUTBOX_FIELD: { "$exists": true, "$ne": [] } })
            .projection(doc! { OUTBOX_FIELD: 1 })
            .await
            .map_err(Error::db("reading a print log outbox"))?
        else {
            return Ok(());
        };
        copy_and_pull(&self.inner.orders, &self.inner.logs, outbox_entries(order.get(OUTBOX_FIELD), order_id)).await
    }

    /// Reads log entries matching the given `orderId` and/or `action`, newest first, at most `limit`
    /// (capped at 1000).
    pub async fn logs(&self, order_id: Option<&str>, action: Option<&str>, limit: i64) -> Result<Vec<PrintLog>> {
        self.deliver_before_reading(order_id).await;
        let mut filter = Document::new();
        if let Some(o) = order_id {
            filter.insert("orderId", o);
        }
        if let Some(a) = action {
            filter.insert("action", a);
        }
        self.read_logs(filter, limit).await
    }

    /// Log entries matching `order_id` and/or `action`, newest first, a page at a time: `before` is the
    /// previous page's `next` (at most [`crate::monitor::PAGE_LIMIT`] per page). Ordered by `timestamp`
    /// then `_id`, both descending, and served by the indexes that end in them (`*_timestamp_id`), so no
    /// page is sorted in memory and none skips or repeats an entry.
    pub async fn logs_page(
        &self,
        order_id: Option<&str>,
        action: Option<&str>,
        before: Option<&str>,
        limit: i64,
    ) -> Result<crate::monitor::Page<PrintLog>> {
        use futures::TryStreamExt;
        let limit = limit.clamp(1, crate::monitor::PAGE_LIMIT);
        if before.is_none() {
            // The first page is the one that must be current; later pages are older than any delivery.
            self.deliver_before_reading(order_id).await;
        }
        let mut filter = Document::new();
        if let Some(o) = order_id {
            filter.insert("orderId", o);
        }
        if let Some(a) = action {
            filter.insert("action", a);
        }
        if let Some(before) = before {
            let (t, id) = parse_log_cursor(before)?;
            filter
                .insert("$or", vec![doc! { "timestamp": { "$lt": t } }, doc! { "timestamp": t, "_id": { "$lt": id } }]);
        }
        let mut docs: Vec<Document> = self
            .inner
            .logs
            .find(filter)
            .sort(doc! { "timestamp": -1, "_id": -1 })
            .limit(limit + 1)
            .await
            .map_err(Error::db("reading print_logs"))?
            .try_collect()
            .await
            .map_err(Error::db("reading print_logs"))?;
        let next = if docs.len() as i64 > limit {
            docs.truncate(limit as usize);
            docs.last().and_then(|d| {
                let t = d.get_datetime("timestamp").ok()?;
                let id = d.get_object_id("_id").ok()?;
                Some(format!("{}_{}", t.timestamp_millis(), id.to_hex()))
            })
        } else {
            None
        };
        let items = docs
            .into_iter()
            .filter_map(|d| {
                let id = d.get("_id").map(ToString::to_string).unwrap_or_default();
                bson::from_document(d)
                    .map_err(|e| tracing::warn!("reading print_logs: skipped document {id} that cannot be read: {e}"))
                    .ok()
            })
            .collect();
        Ok(crate::monitor::Page { items, next })
    }

    async fn read_logs(&self, filter: Document, limit: i64) -> Result<Vec<PrintLog>> {
        let sort = doc! { "timestamp": -1, "_id": -1 };
        read_typed(&self.inner.logs, filter, sort, limit.clamp(1, 1000), "print_logs").await
    }
}

/// A log page cursor: `<timestamp millis>_<_id hex>` of the last entry of the previous page.
fn parse_log_cursor(cursor: &str) -> Result<(DateTime, ObjectId)> {
    let bad = || Error::InvalidArgument(format!("before: {cursor:?} is not a cursor this call returned (its `next`)"));
    let (t, id) = cursor.split_once('_').ok_or_else(bad)?;
    let t: i64 = t.parse().map_err(|_| bad())?;
    let id = ObjectId::parse_str(id).map_err(|_| bad())?;
    Ok((DateTime::from_millis(t), id))
}

/// Reads documents of `collection` (named `what` in errors) into `T`, sorted, at most `limit`.
async fn read_typed<T: serde::de::DeserializeOwned>(
    collection: &mongodb::Collection<Document>,
    filter: Document,
    sort: Document,
    limit: i64,
    what: &str,
) -> Result<Vec<T>> {
    use futures::TryStreamExt;
    let context = format!("reading {what}");
    let docs: Vec<Document> = collection
        .find(filter)
        .sort(sort)
        .limit(limit)
        .await
        .map_err(Error::db(context.clone()))?
        .try_collect()
        .await
        .map_err(Error::db(context))?;
    // One document that cannot be read never fails the read: it is logged and left out.
    Ok(docs
        .into_iter()
        .filter_map(|d| {
            let id = d.get("_id").map(ToString::to_string).unwrap_or_default();
            bson::from_document(d)
                .map_err(|e| tracing::warn!("reading {what}: skipped document {id} that cannot be read: {e}"))
                .ok()
        })
        .collect())
}

impl PrintCore {
    /// Stores one metrics sample (a worker writes one every few minutes).
    pub async fn insert_metrics(&self, sample: &crate::model::Metrics) -> Result<()> {
        let doc = bson::to_document(sample).map_err(|e| Error::InvalidArgument(format!("metrics sample: {e}")))?;
        self.inner.metrics.insert_one(doc).await.map_err(Error::db("writing metrics"))?;
        Ok(())
    }

    /// Metrics samples since `since` (all workers), newest first, at most `limit` (capped at 10,000).
    pub async fn metrics_since(&self, since: DateTime, limit: i64) -> Result<Vec<crate::model::Metrics>> {
        let filter = doc! { "timestamp": { "$gte": since } };
        read_typed(&self.inner.metrics, filter, doc! { "timestamp": -1 }, limit.clamp(1, 10_000), "metrics").await
    }

    /// The shop's metrics since `since` in time buckets of `bucket` (aligned to the Unix epoch: whole
    /// hours for 60 minutes), newest first, at most `limit` (capped at 10,000), computed by the database
    /// in one aggregation over the `timestamp_desc` index (the samples never travel). A bucket without
    /// samples is absent. Per bucket: each worker's samples are averaged (rates) or added (offline time),
    /// then the workers are added up; see [`MetricsBucket`].
    pub async fn metrics_buckets(
        &self,
        since: DateTime,
        bucket: std::time::Duration,
        limit: i64,
    ) -> Result<Vec<MetricsBucket>> {
        let ms = bucket.as_millis();
        if !(60_000..=31 * 86_400_000).contains(&ms) {
            return Err(Error::InvalidArgument(format!(
                "bucketMinutes must be between 1 and 44640 (31 days), not {}",
                bucket.as_secs_f64() / 60.0
            )));
        }
        let ms = ms as i64;
        let time = doc! { "$toLong": "$timestamp" };
        let start = doc! { "$subtract": [time.clone(), { "$mod": [time, ms] }] };
        let pipeline = vec![
            doc! { "$match": { "timestamp": { "$gte": since } } },
            // One worker in one bucket: its mean rates, its offline seconds, prints to weigh its delay by.
            doc! { "$group": {
                "_id": { "b": start, "w": "$workerId" },
                "prints": { "$avg": "$prints_per_hour" },
                "failures": { "$avg": "$failures_per_hour" },
                "delayByPrints": { "$sum": { "$multiply": ["$average_print_start_delay", "$prints_per_hour"] } },
                "printsSum": { "$sum": "$prints_per_hour" },
                "offline": { "$sum": "$printer_offline_duration" },
                "samples": { "$sum": 1 },
            } },
            // The shop in one bucket: every worker's together.
            doc! { "$group": {
                "_id": "$_id.b",
                "prints": { "$sum": "$prints" },
                "failures": { "$sum": "$failures" },
                "delayByPrints": { "$sum": "$delayByPrints" },
                "printsSum": { "$sum": "$printsSum" },
                "offline": { "$sum": "$offline" },
                "samples": { "$sum": "$samples" },
                "workers": { "$sum": 1 },
            } },
            doc! { "$sort": { "_id": -1 } },
            doc! { "$limit": limit.clamp(1, 10_000) },
        ];
        use futures::TryStreamExt;
        let docs: Vec<Document> = self
            .inner
            .metrics
            .aggregate(pipeline)
            .await
            .map_err(Error::db("reading metrics"))?
            .try_collect()
            .await
            .map_err(Error::db("reading metrics"))?;
        let num = |d: &Document, k: &str| match d.get(k) {
            Some(bson::Bson::Double(v)) => *v,
            Some(bson::Bson::Int32(v)) => *v as f64,
            Some(bson::Bson::Int64(v)) => *v as f64,
            _ => 0.0,
        };
        Ok(docs
            .iter()
            .filter_map(|d| {
                let start = match d.get("_id") {
                    Some(bson::Bson::Int64(v)) => *v,
                    Some(bson::Bson::Int32(v)) => *v as i64,
                    Some(bson::Bson::Double(v)) => *v as i64,
                    // Samples whose timestamp is not a date have no bucket.
                    _ => return None,
                };
                let prints_sum = num(d, "printsSum");
                Some(MetricsBucket {
                    start: DateTime::from_millis(start),
                    prints_per_hour: num(d, "prints"),
                    failures_per_hour: num(d, "failures"),
                    average_print_start_delay: if prints_sum > 0.0 {
                        num(d, "delayByPrints") / prints_sum
                    } else {
                        0.0
                    },
                    printer_offline_duration: num(d, "offline"),
                    samples: num(d, "samples") as u64,
                    workers: num(d, "workers") as u64,
                })
            })
            .collect())
    }
}

/// The shop's metrics over one time bucket ([`PrintCore::metrics_buckets`]).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsBucket {
    /// When the bucket starts.
    pub start: DateTime,
    /// Orders printed per hour: each worker's mean over its samples in the bucket, added up.
    pub prints_per_hour: f64,
    /// Failures (failed, retried, rejected) per hour, the same way.
    pub failures_per_hour: f64,
    /// Seconds from payment to the start of printing, the samples' averages weighted by their prints
    /// (0 when nothing printed).
    pub average_print_start_delay: f64,
    /// Seconds printers were offline within the bucket, every worker's samples added up (a shop with two
    /// printers both down for the whole of a 60-minute bucket: 7200).
    pub printer_offline_duration: f64,
    /// How many samples the bucket combines.
    pub samples: u64,
    /// How many workers wrote them.
    pub workers: u64,
}
