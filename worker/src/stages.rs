//! Where a print task's time goes, stage by stage, added up since the worker started: the claim, the
//! download, the validation, the being-sent mark, the journal's flushes, the submit, the printer's answer
//! recorded, the completion, and each print task as a whole. The print path adds to it with one call per
//! stage (a few nanoseconds: two atomic additions); the worker logs the table when it stops
//! (`time per stage: {json}`), which the drain benchmark (`benches/benches/drain.rs`) reads to report each
//! stage's share of the time. Process-wide: one process runs one worker.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// One stage of an order's way through the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The claim's findAndModify (in the claim loop, before the print task starts).
    Claim,
    /// Downloading the order's files.
    Download,
    /// Validating them (the contained validator's child).
    Validation,
    /// The being-sent mark (with its durable write concern), and the printer's Create-Job where it has one.
    Mark,
    /// Waiting for the journal's lines to be on disk (three per order).
    Journal,
    /// Handing the documents to the printer (for a folder printer: writing the job's folder).
    Submit,
    /// Recording the printer's job reference (`mark_submitted`), for a printer that reports its jobs.
    Submitted,
    /// Asking the printer for the job's state and recording the print (`complete`); for a job complete
    /// once the printer took it, recording the reference and the print in one write (`complete_submitted`).
    Complete,
    /// A print task from start to end (the stages above but the claim, and what lies between them).
    Task,
}

impl Stage {
    pub const ALL: [Stage; 9] = [
        Stage::Claim,
        Stage::Download,
        Stage::Validation,
        Stage::Mark,
        Stage::Journal,
        Stage::Submit,
        Stage::Submitted,
        Stage::Complete,
        Stage::Task,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Claim => "claim",
            Stage::Download => "download",
            Stage::Validation => "validation",
            Stage::Mark => "being_sent_mark",
            Stage::Journal => "journal",
            Stage::Submit => "submit",
            Stage::Submitted => "submitted_write",
            Stage::Complete => "complete",
            Stage::Task => "task",
        }
    }
}

const N: usize = Stage::ALL.len();
static NANOS: [AtomicU64; N] = [const { AtomicU64::new(0) }; N];
static COUNTS: [AtomicU64; N] = [const { AtomicU64::new(0) }; N];

/// Adds `took` to `stage`.
pub fn add(stage: Stage, took: Duration) {
    let i = stage as usize;
    NANOS[i].fetch_add(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    COUNTS[i].fetch_add(1, Ordering::Relaxed);
}

/// Each stage's total time (ms) and count so far, as one JSON object:
/// `{"claim":{"ms":12.5,"count":500},...}`.
pub fn summary() -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for s in Stage::ALL {
        let i = s as usize;
        out.insert(
            s.as_str().into(),
            serde_json::json!({
                "ms": NANOS[i].load(Ordering::Relaxed) as f64 / 1e6,
                "count": COUNTS[i].load(Ordering::Relaxed),
            }),
        );
    }
    serde_json::Value::Object(out)
}

/// Logs [`summary`] (the worker does when it stops).
pub fn log_summary() {
    tracing::info!("time per stage: {}", summary());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_add_up_and_read_back_as_json() {
        add(Stage::Submit, Duration::from_millis(3));
        add(Stage::Submit, Duration::from_millis(2));
        let s = summary();
        assert!(s["submit"]["ms"].as_f64().unwrap() >= 5.0, "{s}");
        assert!(s["submit"]["count"].as_u64().unwrap() >= 2, "{s}");
        assert!(s.get("being_sent_mark").is_some() && s.get("task").is_some(), "{s}");
    }
}
