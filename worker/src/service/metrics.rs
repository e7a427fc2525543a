//! The metrics service: every `intervals.metrics`, one sample into `metrics`.

use super::Worker;
use std::time::Duration;

impl Worker {
    /// Writes one metrics sample covering the last metrics interval.
    pub async fn metrics_once(&self) -> printcore::Result<printcore::model::Metrics> {
        let mut offline = Duration::ZERO;
        for slot in &self.slots {
            offline += slot.tracker.lock().await.take_offline_duration();
        }
        self.core.record_worker_metrics(&self.id, self.intervals.metrics, offline).await
    }
}
