//! The `metrics` collection: each worker's sample every few minutes (prints and failures per hour, the
//! mean wait from payment to the start of printing, how long its printers were offline), and the reads
//! of the monitor's charts (samples since a time, and buckets over a period).

use crate::db::PrintCore;
use crate::error::{Error, Result};
use crate::model::{Metrics, PrintStatus};
use crate::monitor::history::read_typed;
use crate::queue::WorkerId;
use bson::{doc, DateTime, Document};
use futures::TryStreamExt;
use std::time::Duration;

impl PrintCore {
    /// Computes this worker's metrics over the last `window` (from `print_logs` and its printed orders) and
    /// stores them, with `offline` as the printers' offline time in the window. Returns what was stored.
    pub async fn record_worker_metrics(
        &self,
        worker: &WorkerId,
        window: Duration,
        offline: Duration,
    ) -> Result<Metrics> {
        let now = self.now();
        let since = crate::db::clock::sub(now, window);
        let per_hour = 3600.0 / window.as_secs_f64().max(1.0);
        let logs = &self.inner.logs;
        let count = |actions: Vec<&'static str>| {
            logs.count_documents(doc! {
                "action": { "$in": actions },
                "timestamp": { "$gte": since },
                "metadata.workerId": worker.as_str(),
            })
        };
        let prints = count(vec!["printed"]).await.map_err(Error::db("counting prints"))?;
        let failures = count(vec!["failed", "retry", "rejected"]).await.map_err(Error::db("counting failures"))?;
        let printed: Vec<Document> = self
            .inner
            .orders
            .find(doc! {
                "printStatus": PrintStatus::Printed.as_str(),
                "printCompletedAt": { "$gte": since },
                "printingBy": worker.as_str(),
            })
            .projection(doc! { "paidAt": 1, "createdAt": 1, "printStartedAt": 1 })
            .await
            .map_err(Error::db("reading printed orders"))?
            .try_collect()
            .await
            .map_err(Error::db("reading printed orders"))?;
        let delays: Vec<f64> = printed
            .iter()
            .filter_map(|o| {
                let started = o.get_datetime("printStartedAt").ok()?;
                let from = o.get_datetime("paidAt").or_else(|_| o.get_datetime("createdAt")).ok()?;
                Some((started.timestamp_millis() - from.timestamp_millis()).max(0) as f64 / 1000.0)
            })
            .collect();
        let average = if delays.is_empty() { 0.0 } else { delays.iter().sum::<f64>() / delays.len() as f64 };
        let sample = Metrics {
            id: None,
            timestamp: now,
            prints_per_hour: prints as f64 * per_hour,
            failures_per_hour: failures as f64 * per_hour,
            average_print_start_delay: average,
            printer_offline_duration: offline.as_secs_f64(),
            worker_id: worker.to_string(),
            created_at: now,
            updated_at: now,
        };
        self.insert_metrics(&sample).await?;
        Ok(sample)
    }
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
