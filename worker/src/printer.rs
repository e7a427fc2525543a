//! One trait for every kind of printer the worker drives: IPP (network printers and CUPS queues), a
//! command (SumatraPDF on Windows, `lp`), or a folder (demos and tests).

use async_trait::async_trait;
use printcore::{PrinterCapabilities, PrinterStatus};
use std::fmt;

/// A printer's state as its backend reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct PrinterState {
    pub status: PrinterStatus,
    /// Jobs waiting or printing, when the backend knows.
    pub queue_length: Option<i64>,
    /// The printer's own reason keywords (IPP `printer-state-reasons`, Windows status names).
    pub reasons: Vec<String>,
    /// A sentence for the monitor: why it is not online, or the printer's own message.
    pub message: Option<String>,
}

/// A job to print.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The job name at the printer: always the order's `printJobId`, so reconciliation can find it.
    pub job_name: String,
    /// The order, for logs.
    pub order_id: String,
    /// The PDF documents, in order: files in the print job's private folder (each backend reads one at a
    /// time, so an order of many large files is never all in memory).
    pub documents: Vec<std::path::PathBuf>,
    pub copies: i64,
    pub duplex: bool,
    pub color: bool,
    /// A named size ("A4", "Letter"); `None` uses the printer's default.
    pub page_size: Option<String>,
}

/// Where a job is at the printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Pending,
    /// Held at the printer (IPP `pending-held`, a spooler's paused job): still to print.
    Held,
    Processing,
    /// Stopped at the printer (IPP `processing-stopped`: out of paper, a jam, a door open): still to print.
    Stopped,
    Completed,
    Aborted,
    Cancelled,
    /// The printer does not know the job (never got it, restarted, or purged its history).
    Absent,
    /// Removed from the print queue by a person before the queue said it printed (Windows: "Cancel" in the
    /// queue window, or "Cancel all documents" on a jammed printer). It may have printed in part: the
    /// order fails for a person, never goes back to the queue by itself.
    Deleted,
    /// Created (IPP Create-Job) but its documents have not all arrived (IPP `job-incoming`,
    /// `job-data-insufficient`): it cannot print as it is. Once cancelled, nothing of it ever prints.
    Incoming,
    /// Only some of the order's documents are at the printer (one printer job per document, some missing):
    /// never completed, never sent again whole.
    Partial,
    /// The printer answered with a state this worker does not know: not a reason to think the job gone.
    Unrecognized(i32),
}

impl JobState {
    /// The job will not change any more.
    pub fn is_final(self) -> bool {
        matches!(self, JobState::Completed | JobState::Aborted | JobState::Cancelled | JobState::Deleted)
    }

    /// The printer holds the job and will still print it (queued, held, printing, stopped for paper...).
    pub fn is_waiting(self) -> bool {
        matches!(self, JobState::Pending | JobState::Held | JobState::Processing | JobState::Stopped)
    }
}

/// A job found by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundJob {
    pub job_ref: String,
    pub state: JobState,
}

/// What went wrong talking to a printer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrinterError {
    /// The printer is busy with another job and did not take this one: offer it again shortly. Not a
    /// failure of the order.
    Busy(String),
    /// Unreachable, timed out, a server error: try again later.
    Transient(String),
    /// The job was sent but the printer's answer was lost (the connection broke or timed out after the
    /// request went out): the printer may have the job. Ask it by name before sending it again.
    Uncertain(String),
    /// The printer refused this job for good (unsupported document or attributes).
    Rejected(String),
    /// The backend cannot do this (for example look jobs up by name).
    Unsupported(String),
}

impl PrinterError {
    pub fn is_transient(&self) -> bool {
        matches!(self, PrinterError::Transient(_) | PrinterError::Busy(_) | PrinterError::Uncertain(_))
    }

    pub fn message(&self) -> &str {
        match self {
            PrinterError::Busy(m)
            | PrinterError::Transient(m)
            | PrinterError::Uncertain(m)
            | PrinterError::Rejected(m)
            | PrinterError::Unsupported(m) => m,
        }
    }
}

impl fmt::Display for PrinterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for PrinterError {}

/// A printer the worker can drive.
#[async_trait]
pub trait Printer: Send + Sync {
    /// What the printer is, for logs and messages ("ipp://host/ipp/print", "command SumatraPDF").
    fn describe(&self) -> String;

    /// The printer's state now. A printer that cannot be reached is `Ok` with status offline and a
    /// message; `Err` is for a backend that cannot tell at all.
    async fn status(&self) -> Result<PrinterState, PrinterError>;

    /// Page sizes, colour, duplex and copies the printer takes.
    async fn capabilities(&self) -> Result<PrinterCapabilities, PrinterError>;

    /// Sends a job in one go; returns the printer's reference for it once the printer accepted it.
    async fn submit(&self, job: &JobSpec) -> Result<String, PrinterError>;

    /// Creates the job without its documents, where the printer can (IPP Create-Job): its reference, which
    /// the worker stores before any document goes, so that a lost answer to the documents is followed by
    /// the job's id. `None`: this printer takes a job in one request ([`Printer::submit`]). A job created
    /// here prints nothing until [`Printer::send_documents`] sends its last document, so any failure here
    /// leaves nothing to print.
    async fn create_job(&self, _job: &JobSpec) -> Result<Option<String>, PrinterError> {
        Ok(None)
    }

    /// Sends the documents of a job [`Printer::create_job`] made. `Uncertain` when an answer was lost (the
    /// printer may have the documents: follow the job by its reference); any other error means nothing of
    /// the job will print (it was cancelled at the printer).
    async fn send_documents(&self, job: &JobSpec, job_ref: &str) -> Result<(), PrinterError> {
        let _ = (job, job_ref);
        Err(PrinterError::Unsupported(format!("{} cannot create a job before its documents", self.describe())))
    }

    /// How long ago the oldest completed job of this worker's (named by a `printJobId`) that the printer still
    /// lists completed, read from the printer (IPP: `time-at-completed` against `printer-up-time`): the
    /// printer keeps completed jobs, under names it shows, at least that long. `None` when it lists none or
    /// the backend cannot tell.
    async fn oldest_listed_completed(&self) -> Result<Option<std::time::Duration>, PrinterError> {
        Ok(None)
    }

    /// Cancels this worker's kind of job (named by a printJobId) that the printer has held waiting for its
    /// document for longer than `older_than`: left by a worker killed between Create-Job and storing the
    /// job's id, it prints nothing, but holds up a printer that takes one job at a time. A cancelled empty
    /// job never prints, and a live worker that still meant to send its document is refused and gives the
    /// order back, so this is always safe. Returns how many it cancelled.
    async fn cancel_stale_empty_jobs(&self, _older_than: std::time::Duration) -> Result<usize, PrinterError> {
        Ok(0)
    }

    /// A setting of the printer the worker needs and does not find (Windows: "Keep printed documents"
    /// off), said so that a person can change it: `worker check` fails while there is one.
    async fn setup_problem(&self) -> Option<String> {
        None
    }

    /// How this printer takes jobs, for `worker check` and `worker printers`: "Create-Job, then
    /// Send-Document", "Print-Job", "the print command".
    async fn submit_path(&self) -> Result<String, PrinterError> {
        Ok("one request per job".into())
    }

    /// Where the job with this reference is. A job under that reference with another name (the printer
    /// restarted and reused the number) is `Absent`.
    async fn job_state(&self, job_ref: &str, job_name: &str) -> Result<JobState, PrinterError>;

    /// [`Printer::job_state`] with what the printer says of the job, when it says anything beyond its
    /// state (IPP `job-state-reasons` other than the routine ones, and `job-printer-state-message`, where a
    /// CUPS queue says "Filter failed"): shown on the waiting order.
    async fn job_status(&self, job_ref: &str, job_name: &str) -> Result<(JobState, Option<String>), PrinterError> {
        Ok((self.job_state(job_ref, job_name).await?, None))
    }

    /// The job with this name (the newest, if several), completed or not; `None` when the printer does not
    /// know one. `Err(Unsupported)` when the backend cannot look jobs up.
    async fn find_job(&self, job_name: &str) -> Result<Option<FoundJob>, PrinterError>;

    /// How long the printer has been up since it last started (IPP `printer-up-time`), when the backend can
    /// tell. A job the printer never acknowledged and does not know may still have reached it if it
    /// restarted after the job was sent: that is never settled by sending the job again.
    async fn up_time(&self) -> Result<Option<std::time::Duration>, PrinterError> {
        Ok(None)
    }

    /// Cancels a job.
    async fn cancel(&self, job_ref: &str) -> Result<(), PrinterError>;

    /// Whether `job_state` and `find_job` work. A backend that cannot look jobs up reports a job
    /// completed when `submit` returns, and recovery cannot ask it about a job sent before a crash.
    fn can_look_up_jobs(&self) -> bool;

    /// Whether a job is complete once `submit` returns it: a folder printer, whose job is its folder
    /// renamed into place, so its state could only ever read completed. The worker then records the
    /// printer's reference and `printed` in one write instead of two.
    fn complete_when_taken(&self) -> bool {
        false
    }
}
