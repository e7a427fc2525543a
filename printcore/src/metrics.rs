//! The worker's metrics: prints and failures per hour, the mean wait from payment to the start of
//! printing, and how long its printers were offline, written into `metrics` every few minutes.

use crate::core::PrintCore;
use crate::error::{Error, Result};
use crate::model::{Metrics, PrintStatus};
use crate::queue::WorkerId;
use bson::{doc, Document};
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
        let since = crate::clock::sub(now, window);
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
