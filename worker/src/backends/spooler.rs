//! The Windows print spooler, for the command backend on Windows: USB printers are reachable only through
//! it. The printer's state and queue length come from `GetPrinter` (`PRINTER_INFO_2`: `Status` bits,
//! `Attributes`, `cJobs`); jobs are found by document name with `EnumJobs` and followed with `GetJob`
//! (`JOB_INFO_1`: `pDocument`, `Status` bits); a job is cancelled with `SetJob(JOB_CONTROL_DELETE)`.
//!
//! The print command (SumatraPDF) gets a file named after the order's `printJobId` (`<printJobId>.pdf`, or
//! `<printJobId>-<k>of<n>.pdf` for document k of n), and the spooler's document name is that file's name
//! or path (SumatraPDF uses the path), so the worker finds the order's jobs by name as it does over IPP.
//!
//! Everything here but the calls themselves ([`SpoolerApi`], implemented for Windows in `win`) is plain
//! data and runs anywhere, so the mapping and the following of jobs are tested on recorded structures on
//! any machine. The tables below are the guide's (docs/guide/src/print-pc/windows.md).
//!
//! How a job ends: Windows removes a job from the queue once it has sent it to the printer, unless the
//! printer keeps printed documents (`PRINTER_ATTRIBUTE_KEEPPRINTEDJOBS`; then it stays, marked printed or
//! complete). Gone is not printed: "Cancel all documents" on a jammed printer, or a half-spooled job
//! dropped when the print command was stopped, also leave the queue. So the worker needs "keep printed
//! documents" on (`worker check` fails until it is): a job it followed is printed when the kept job says
//! printed or complete, and one that left the queue is one a person deleted (`JobState::Deleted`: the
//! order fails for a person). With the setting off, a job that left the queue may have printed. A job is
//! the order's only if its document name is the order's file and, once the worker has seen which account
//! its own jobs are spooled under (`pUserName`), under that account: a file another user prints under the
//! same name is never taken for the order's job.

use crate::printer::{FoundJob, JobState, PrinterState};
use printcore::PrinterStatus;
use std::collections::HashMap;
use std::sync::Mutex;

/// The Windows SDK's values (winspool.h), here so that the mapping compiles and is tested everywhere; on
/// Windows they are checked against the `windows-sys` bindings at compile time.
pub mod bits {
    pub const PRINTER_STATUS_PAUSED: u32 = 0x1;
    pub const PRINTER_STATUS_ERROR: u32 = 0x2;
    pub const PRINTER_STATUS_PENDING_DELETION: u32 = 0x4;
    pub const PRINTER_STATUS_PAPER_JAM: u32 = 0x8;
    pub const PRINTER_STATUS_PAPER_OUT: u32 = 0x10;
    pub const PRINTER_STATUS_MANUAL_FEED: u32 = 0x20;
    pub const PRINTER_STATUS_PAPER_PROBLEM: u32 = 0x40;
    pub const PRINTER_STATUS_OFFLINE: u32 = 0x80;
    pub const PRINTER_STATUS_IO_ACTIVE: u32 = 0x100;
    pub const PRINTER_STATUS_BUSY: u32 = 0x200;
    pub const PRINTER_STATUS_PRINTING: u32 = 0x400;
    pub const PRINTER_STATUS_OUTPUT_BIN_FULL: u32 = 0x800;
    pub const PRINTER_STATUS_NOT_AVAILABLE: u32 = 0x1000;
    pub const PRINTER_STATUS_WAITING: u32 = 0x2000;
    pub const PRINTER_STATUS_PROCESSING: u32 = 0x4000;
    pub const PRINTER_STATUS_INITIALIZING: u32 = 0x8000;
    pub const PRINTER_STATUS_WARMING_UP: u32 = 0x10000;
    pub const PRINTER_STATUS_TONER_LOW: u32 = 0x20000;
    pub const PRINTER_STATUS_NO_TONER: u32 = 0x40000;
    pub const PRINTER_STATUS_PAGE_PUNT: u32 = 0x80000;
    pub const PRINTER_STATUS_USER_INTERVENTION: u32 = 0x100000;
    pub const PRINTER_STATUS_OUT_OF_MEMORY: u32 = 0x200000;
    pub const PRINTER_STATUS_DOOR_OPEN: u32 = 0x400000;
    pub const PRINTER_STATUS_SERVER_UNKNOWN: u32 = 0x800000;
    pub const PRINTER_STATUS_POWER_SAVE: u32 = 0x1000000;
    pub const PRINTER_STATUS_SERVER_OFFLINE: u32 = 0x2000000;
    pub const PRINTER_STATUS_DRIVER_UPDATE_NEEDED: u32 = 0x4000000;

    pub const PRINTER_ATTRIBUTE_KEEPPRINTEDJOBS: u32 = 0x100;
    pub const PRINTER_ATTRIBUTE_WORK_OFFLINE: u32 = 0x400;

    pub const JOB_STATUS_PAUSED: u32 = 0x1;
    pub const JOB_STATUS_ERROR: u32 = 0x2;
    pub const JOB_STATUS_DELETING: u32 = 0x4;
    pub const JOB_STATUS_SPOOLING: u32 = 0x8;
    pub const JOB_STATUS_PRINTING: u32 = 0x10;
    pub const JOB_STATUS_OFFLINE: u32 = 0x20;
    pub const JOB_STATUS_PAPEROUT: u32 = 0x40;
    pub const JOB_STATUS_PRINTED: u32 = 0x80;
    pub const JOB_STATUS_DELETED: u32 = 0x100;
    pub const JOB_STATUS_BLOCKED_DEVQ: u32 = 0x200;
    pub const JOB_STATUS_USER_INTERVENTION: u32 = 0x400;
    pub const JOB_STATUS_RESTART: u32 = 0x800;
    pub const JOB_STATUS_COMPLETE: u32 = 0x1000;
    pub const JOB_STATUS_RETAINED: u32 = 0x2000;
    pub const JOB_STATUS_RENDERING_LOCALLY: u32 = 0x4000;
}

use bits::*;

/// Each `PRINTER_INFO_2.Status` bit, its name, and what it makes the printer. When several are set the
/// first of offline, error, busy wins; only online bits (or none) is online. A bit not listed is an error
/// naming it: a state this worker does not know is never read as ready.
pub const PRINTER_STATUS_TABLE: [(u32, &str, PrinterStatus); 27] = [
    (PRINTER_STATUS_PAUSED, "Paused", PrinterStatus::Offline),
    (PRINTER_STATUS_ERROR, "Error", PrinterStatus::Error),
    (PRINTER_STATUS_PENDING_DELETION, "PendingDeletion", PrinterStatus::Offline),
    (PRINTER_STATUS_PAPER_JAM, "PaperJam", PrinterStatus::Error),
    (PRINTER_STATUS_PAPER_OUT, "PaperOut", PrinterStatus::Error),
    (PRINTER_STATUS_MANUAL_FEED, "ManualFeed", PrinterStatus::Error),
    (PRINTER_STATUS_PAPER_PROBLEM, "PaperProblem", PrinterStatus::Error),
    (PRINTER_STATUS_OFFLINE, "Offline", PrinterStatus::Offline),
    (PRINTER_STATUS_IO_ACTIVE, "IOActive", PrinterStatus::Busy),
    (PRINTER_STATUS_BUSY, "Busy", PrinterStatus::Busy),
    (PRINTER_STATUS_PRINTING, "Printing", PrinterStatus::Busy),
    (PRINTER_STATUS_OUTPUT_BIN_FULL, "OutputBinFull", PrinterStatus::Error),
    (PRINTER_STATUS_NOT_AVAILABLE, "NotAvailable", PrinterStatus::Offline),
    (PRINTER_STATUS_WAITING, "Waiting", PrinterStatus::Online),
    (PRINTER_STATUS_PROCESSING, "Processing", PrinterStatus::Busy),
    (PRINTER_STATUS_INITIALIZING, "Initializing", PrinterStatus::Online),
    (PRINTER_STATUS_WARMING_UP, "WarmingUp", PrinterStatus::Online),
    (PRINTER_STATUS_TONER_LOW, "TonerLow", PrinterStatus::Online),
    (PRINTER_STATUS_NO_TONER, "NoToner", PrinterStatus::Error),
    (PRINTER_STATUS_PAGE_PUNT, "PagePunt", PrinterStatus::Error),
    (PRINTER_STATUS_USER_INTERVENTION, "UserIntervention", PrinterStatus::Error),
    (PRINTER_STATUS_OUT_OF_MEMORY, "OutOfMemory", PrinterStatus::Error),
    (PRINTER_STATUS_DOOR_OPEN, "DoorOpen", PrinterStatus::Error),
    (PRINTER_STATUS_SERVER_UNKNOWN, "ServerUnknown", PrinterStatus::Offline),
    (PRINTER_STATUS_POWER_SAVE, "PowerSave", PrinterStatus::Online),
    (PRINTER_STATUS_SERVER_OFFLINE, "ServerOffline", PrinterStatus::Offline),
    (PRINTER_STATUS_DRIVER_UPDATE_NEEDED, "DriverUpdateNeeded", PrinterStatus::Error),
];

/// Each `JOB_INFO_1.Status` bit, its name, and the job state it means. Several bits are often set at once
/// (printing while still spooling, printing and out of paper): the first row that matches decides, in
/// this order. Bits none of these know give `Unrecognized` (never `Absent`); no bit at all is a job
/// waiting its turn.
pub const JOB_STATUS_TABLE: [(u32, &str, JobState); 14] = [
    // Printed, or handed to the printer whole (Windows' last word on a job), whatever else is set.
    (JOB_STATUS_PRINTED, "Printed", JobState::Completed),
    (JOB_STATUS_COMPLETE, "Complete", JobState::Completed),
    // Being deleted from the queue (by a person, or `worker` cancelling it): it will not print.
    (JOB_STATUS_DELETING, "Deleting", JobState::Cancelled),
    (JOB_STATUS_DELETED, "Deleted", JobState::Cancelled),
    // Still in the queue, stopped until the printer or a person acts: waited for, the reason shown.
    (JOB_STATUS_BLOCKED_DEVQ, "BlockedDevq", JobState::Stopped),
    (JOB_STATUS_ERROR, "Error", JobState::Stopped),
    (JOB_STATUS_OFFLINE, "Offline", JobState::Stopped),
    (JOB_STATUS_PAPEROUT, "PaperOut", JobState::Stopped),
    (JOB_STATUS_USER_INTERVENTION, "UserIntervention", JobState::Stopped),
    (JOB_STATUS_PAUSED, "Paused", JobState::Held),
    (JOB_STATUS_PRINTING, "Printing", JobState::Processing),
    (JOB_STATUS_RENDERING_LOCALLY, "RenderingLocally", JobState::Processing),
    (JOB_STATUS_SPOOLING, "Spooling", JobState::Pending),
    (JOB_STATUS_RESTART, "Restart", JobState::Pending),
];

/// A printer as `GetPrinter` level 2 describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolPrinter {
    pub name: String,
    /// `PRINTER_INFO_2.Status`.
    pub status: u32,
    /// `PRINTER_INFO_2.Attributes`.
    pub attributes: u32,
    /// `PRINTER_INFO_2.cJobs`: jobs in its queue.
    pub jobs: u32,
}

impl SpoolPrinter {
    /// "Keep printed documents" is on: printed jobs stay in the queue, marked printed.
    pub fn keeps_printed_jobs(&self) -> bool {
        self.attributes & PRINTER_ATTRIBUTE_KEEPPRINTEDJOBS != 0
    }
}

/// A job as `EnumJobs`/`GetJob` level 1 describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolJob {
    /// `JOB_INFO_1.JobId`.
    pub id: u32,
    /// `JOB_INFO_1.pDocument`: the document name the printing program gave (SumatraPDF: the file's path).
    pub document: String,
    /// `JOB_INFO_1.Status`.
    pub status: u32,
    /// `JOB_INFO_1.pStatus`: a driver's or port monitor's own words, when it gives any.
    pub status_text: Option<String>,
    /// `JOB_INFO_1.pUserName`: the account that printed it (empty when the spooler does not say).
    pub user: String,
}

/// A spooler call that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpoolError {
    /// Windows has no printer of that name (`ERROR_INVALID_PRINTER_NAME`): the installed ones, for the
    /// message.
    NoSuchPrinter { installed: Vec<String> },
    /// This spooler does not implement the call (wine's `EnumJobs` is a stub that fails without an error
    /// code).
    Unsupported(String),
    /// Anything else, with Windows' message.
    Failed(String),
}

impl std::fmt::Display for SpoolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpoolError::NoSuchPrinter { installed } if installed.is_empty() => {
                f.write_str("Windows has no printer of that name (no printers are installed)")
            }
            SpoolError::NoSuchPrinter { installed } => {
                write!(f, "Windows has no printer of that name (installed: {})", installed.join(", "))
            }
            SpoolError::Unsupported(m) | SpoolError::Failed(m) => f.write_str(m),
        }
    }
}

/// The spooler calls the command backend makes, one printer's worth. Blocking (the spooler can take
/// seconds with a network printer): the backend calls them on a blocking thread. Implemented on Windows by
/// `win::Spooler`; tests replay recorded answers.
pub trait SpoolerApi: Send + Sync {
    /// `GetPrinter` level 2.
    fn printer(&self) -> Result<SpoolPrinter, SpoolError>;
    /// `EnumJobs` level 1: every job in the printer's queue.
    fn jobs(&self) -> Result<Vec<SpoolJob>, SpoolError>;
    /// `GetJob` level 1; `None` when the queue has no job with this id.
    fn job(&self, id: u32) -> Result<Option<SpoolJob>, SpoolError>;
    /// `SetJob(JOB_CONTROL_DELETE)`: removes the job (what "Cancel" does in the Windows queue).
    fn delete(&self, id: u32) -> Result<(), SpoolError>;
}

/// The names of the bits set in `status` that `table` knows, and the bits it does not.
fn names<T>(status: u32, table: &[(u32, &'static str, T)]) -> (Vec<&'static str>, u32) {
    let known: u32 = table.iter().map(|(b, ..)| b).fold(0, |a, b| a | b);
    (table.iter().filter(|(b, ..)| status & b != 0).map(|(_, n, _)| *n).collect(), status & !known)
}

/// The printer's state for the worker: one of the four statuses, the set bits' names as reasons, the
/// queue length, and a message when it is not online.
pub fn printer_state(p: &SpoolPrinter) -> PrinterState {
    let (mut reasons, unknown) = names(p.status, &PRINTER_STATUS_TABLE);
    if p.attributes & PRINTER_ATTRIBUTE_WORK_OFFLINE != 0 {
        reasons.insert(0, "WorkOffline");
    }
    let has = |s: PrinterStatus| {
        PRINTER_STATUS_TABLE.iter().any(|(b, _, st)| p.status & b != 0 && *st == s)
            || (s == PrinterStatus::Offline && p.attributes & PRINTER_ATTRIBUTE_WORK_OFFLINE != 0)
    };
    let status = if has(PrinterStatus::Offline) {
        PrinterStatus::Offline
    } else if has(PrinterStatus::Error) || unknown != 0 {
        PrinterStatus::Error
    } else if has(PrinterStatus::Busy) {
        PrinterStatus::Busy
    } else {
        PrinterStatus::Online
    };
    let mut shown: Vec<String> = reasons.iter().map(|r| r.to_string()).collect();
    if unknown != 0 {
        shown.push(format!("status bits 0x{unknown:x} (unknown to this worker)"));
    }
    let message = (status != PrinterStatus::Online).then(|| {
        let what = if shown.is_empty() { "not ready".to_owned() } else { shown.join(", ") };
        let hint = if p.attributes & PRINTER_ATTRIBUTE_WORK_OFFLINE != 0 {
            " (\"Use Printer Offline\" is on in its queue window, or Windows lost the USB connection)"
        } else {
            ""
        };
        format!("Windows reports printer {:?} as {what}{hint}", p.name)
    });
    PrinterState { status, queue_length: Some(i64::from(p.jobs)), reasons: shown, message }
}

/// A job's `Status` bits as a job state (see [`JOB_STATUS_TABLE`]).
pub fn job_state(status: u32) -> JobState {
    if status == 0 {
        return JobState::Pending;
    }
    match JOB_STATUS_TABLE.iter().find(|(b, ..)| status & b != 0) {
        Some((.., state)) => *state,
        // Only bits this worker does not know (RETAINED alone is one: retained, but not said printed).
        None => JobState::Unrecognized(status as i32),
    }
}

/// The names of a job's status bits, for logs.
pub fn job_status_names(status: u32) -> String {
    let (mut n, unknown) = names(status, &JOB_STATUS_TABLE);
    if status & JOB_STATUS_RETAINED != 0 {
        n.push("Retained");
    }
    let mut s = n.join("|");
    if unknown & !JOB_STATUS_RETAINED != 0 {
        s.push_str(&format!("{}0x{:x}", if s.is_empty() { "" } else { "|" }, unknown & !JOB_STATUS_RETAINED));
    }
    if s.is_empty() {
        "Queued".into()
    } else {
        s
    }
}

/// Which document (k of n) of print job `job_name` a spooler job carries, from its document name: the
/// file's name or whole path (`C:\...\<job>.pdf`, `<job>-2of3.pdf`), or the job name itself.
pub fn document_part(document: &str, job_name: &str) -> Option<(usize, usize)> {
    let file = document.rsplit(['\\', '/']).next().unwrap_or(document).trim();
    let stem = match file.len().checked_sub(4) {
        Some(cut) if file.is_char_boundary(cut) && file[cut..].eq_ignore_ascii_case(".pdf") => &file[..cut],
        _ => file,
    };
    // printJobIds are UUIDs: compared without regard to case, as a file system would.
    let (stem, job) = (stem.to_ascii_lowercase(), job_name.to_ascii_lowercase());
    super::ipp::part_of(&stem, &job)
}

/// The state of a job the spooler no longer lists, from the last state this worker saw it in (`None`:
/// never seen). See the module's comment.
pub fn state_when_gone(last: Option<JobState>, keeps_printed: bool) -> JobState {
    match last {
        Some(JobState::Completed) => JobState::Completed,
        // This worker deleted it (an admin's cancel).
        Some(JobState::Cancelled) => JobState::Cancelled,
        // Printed documents are kept, so a printed job would still be listed: a person deleted this one.
        Some(_) if keeps_printed => JobState::Deleted,
        // Printed and dropped, or deleted by a person, or dropped half-spooled: nobody can say. Never
        // "printed" (before, a job seen queued or printing that left the queue was taken as printed).
        _ => JobState::Absent,
    }
}

/// What this worker saw of the spooler jobs carrying its print jobs (by job id), so that a job that left
/// the queue is judged by what it was, and the account this worker's jobs are spooled under. Lives as
/// long as the backend.
#[derive(Default)]
pub struct Seen {
    jobs: Mutex<HashMap<u32, SeenJob>>,
    /// The `pUserName` of this worker's jobs, learned from the first one it sees (its document name is a
    /// fresh printJobId no one else knows yet).
    own_user: Mutex<Option<String>>,
}

#[derive(Debug, Clone)]
struct SeenJob {
    job_name: String,
    part: (usize, usize),
    last: JobState,
}

/// Jobs remembered at most; the oldest are forgotten past this (a worker prints far fewer between
/// restarts, and a forgotten job only reads as "may have printed").
const SEEN_MAX: usize = 10_000;

impl Seen {
    /// Notes a job listed by the spooler if it carries a document of `job_name` and was printed by this
    /// worker's account (once known); returns its state.
    pub fn observe(&self, job: &SpoolJob, job_name: &str) -> Option<JobState> {
        let part = document_part(&job.document, job_name)?;
        if !job.user.is_empty() {
            let mut own = self.own_user.lock().unwrap();
            match own.as_deref() {
                Some(u) if !u.eq_ignore_ascii_case(&job.user) => return None,
                Some(_) => {}
                None => *own = Some(job.user.clone()),
            }
        }
        let state = job_state(job.status);
        let mut jobs = self.jobs.lock().unwrap();
        if jobs.len() >= SEEN_MAX && !jobs.contains_key(&job.id) {
            if let Some(oldest) = jobs.keys().min().copied() {
                jobs.remove(&oldest);
            }
        }
        jobs.insert(job.id, SeenJob { job_name: job_name.to_owned(), part, last: state });
        Some(state)
    }

    /// The state of job `id` of `job_name` that the spooler no longer lists.
    pub fn gone(&self, id: u32, job_name: &str, keeps_printed: bool) -> JobState {
        let last = self.jobs.lock().unwrap().get(&id).filter(|s| s.job_name == job_name).map(|s| s.last);
        state_when_gone(last, keeps_printed)
    }

    /// Jobs of `job_name` seen before: (id, document k, of n).
    pub fn parts_of(&self, job_name: &str) -> Vec<(u32, usize, usize)> {
        let jobs = self.jobs.lock().unwrap();
        let mut v: Vec<_> =
            jobs.iter().filter(|(_, s)| s.job_name == job_name).map(|(id, s)| (*id, s.part.0, s.part.1)).collect();
        v.sort_unstable();
        v
    }

    /// Notes that this worker deleted job `id` from the queue (a cancel): gone, it reads as cancelled.
    pub fn deleted(&self, id: u32) {
        if let Some(job) = self.jobs.lock().unwrap().get_mut(&id) {
            job.last = JobState::Cancelled;
        }
    }

    /// Forgets the jobs of a print job that has ended.
    pub fn forget(&self, job_name: &str) {
        self.jobs.lock().unwrap().retain(|_, s| s.job_name != job_name);
    }
}

/// The print job `job_name` in the spooler's queue (`listed`), together with jobs of it this worker saw
/// that have left the queue since (their state by [`state_when_gone`]). `None` when there is neither.
pub fn find(listed: &[SpoolJob], seen: &Seen, job_name: &str, keeps_printed: bool) -> Option<FoundJob> {
    let mut found: Vec<(i64, usize, usize, JobState)> = Vec::new();
    for job in listed {
        if let Some(state) = seen.observe(job, job_name) {
            let (k, n) = document_part(&job.document, job_name).unwrap_or((1, 1));
            found.push((i64::from(job.id), k, n, state));
        }
    }
    for (id, k, n) in seen.parts_of(job_name) {
        if !found.iter().any(|(f, ..)| *f == i64::from(id)) {
            found.push((i64::from(id), k, n, seen.gone(id, job_name, keeps_printed)));
        }
    }
    super::ipp::found_job(found)
}

#[cfg(windows)]
pub mod win {
    //! The spooler calls (winspool.drv through `windows-sys`).

    use super::{SpoolError, SpoolJob, SpoolPrinter, SpoolerApi};
    use windows_sys::Win32::Foundation::{
        GetLastError, SetLastError, ERROR_INSUFFICIENT_BUFFER, ERROR_INVALID_PARAMETER, ERROR_INVALID_PRINTER_NAME,
    };
    use windows_sys::Win32::Graphics::Printing::{
        ClosePrinter, EnumJobsW, EnumPrintersW, GetJobW, GetPrinterW, OpenPrinterW, SetJobW, JOB_CONTROL_DELETE,
        JOB_INFO_1W, PRINTER_ENUM_CONNECTIONS, PRINTER_ENUM_LOCAL, PRINTER_HANDLE, PRINTER_INFO_2W, PRINTER_INFO_4W,
    };

    // The portable values above are Windows' own.
    const _: () = {
        use super::bits as b;
        use windows_sys::Win32::Graphics::Printing as w;
        assert!(b::PRINTER_STATUS_PAUSED == w::PRINTER_STATUS_PAUSED);
        assert!(b::PRINTER_STATUS_ERROR == w::PRINTER_STATUS_ERROR);
        assert!(b::PRINTER_STATUS_PENDING_DELETION == w::PRINTER_STATUS_PENDING_DELETION);
        assert!(b::PRINTER_STATUS_PAPER_JAM == w::PRINTER_STATUS_PAPER_JAM);
        assert!(b::PRINTER_STATUS_PAPER_OUT == w::PRINTER_STATUS_PAPER_OUT);
        assert!(b::PRINTER_STATUS_MANUAL_FEED == w::PRINTER_STATUS_MANUAL_FEED);
        assert!(b::PRINTER_STATUS_PAPER_PROBLEM == w::PRINTER_STATUS_PAPER_PROBLEM);
        assert!(b::PRINTER_STATUS_OFFLINE == w::PRINTER_STATUS_OFFLINE);
        assert!(b::PRINTER_STATUS_IO_ACTIVE == w::PRINTER_STATUS_IO_ACTIVE);
        assert!(b::PRINTER_STATUS_BUSY == w::PRINTER_STATUS_BUSY);
        assert!(b::PRINTER_STATUS_PRINTING == w::PRINTER_STATUS_PRINTING);
        assert!(b::PRINTER_STATUS_OUTPUT_BIN_FULL == w::PRINTER_STATUS_OUTPUT_BIN_FULL);
        assert!(b::PRINTER_STATUS_NOT_AVAILABLE == w::PRINTER_STATUS_NOT_AVAILABLE);
        assert!(b::PRINTER_STATUS_WAITING == w::PRINTER_STATUS_WAITING);
        assert!(b::PRINTER_STATUS_PROCESSING == w::PRINTER_STATUS_PROCESSING);
        assert!(b::PRINTER_STATUS_INITIALIZING == w::PRINTER_STATUS_INITIALIZING);
        assert!(b::PRINTER_STATUS_WARMING_UP == w::PRINTER_STATUS_WARMING_UP);
        assert!(b::PRINTER_STATUS_TONER_LOW == w::PRINTER_STATUS_TONER_LOW);
        assert!(b::PRINTER_STATUS_NO_TONER == w::PRINTER_STATUS_NO_TONER);
        assert!(b::PRINTER_STATUS_PAGE_PUNT == w::PRINTER_STATUS_PAGE_PUNT);
        assert!(b::PRINTER_STATUS_USER_INTERVENTION == w::PRINTER_STATUS_USER_INTERVENTION);
        assert!(b::PRINTER_STATUS_OUT_OF_MEMORY == w::PRINTER_STATUS_OUT_OF_MEMORY);
        assert!(b::PRINTER_STATUS_DOOR_OPEN == w::PRINTER_STATUS_DOOR_OPEN);
        assert!(b::PRINTER_STATUS_SERVER_UNKNOWN == w::PRINTER_STATUS_SERVER_UNKNOWN);
        assert!(b::PRINTER_STATUS_POWER_SAVE == w::PRINTER_STATUS_POWER_SAVE);
        assert!(b::PRINTER_STATUS_SERVER_OFFLINE == w::PRINTER_STATUS_SERVER_OFFLINE);
        assert!(b::PRINTER_STATUS_DRIVER_UPDATE_NEEDED == w::PRINTER_STATUS_DRIVER_UPDATE_NEEDED);
        assert!(b::PRINTER_ATTRIBUTE_KEEPPRINTEDJOBS == w::PRINTER_ATTRIBUTE_KEEPPRINTEDJOBS);
        assert!(b::PRINTER_ATTRIBUTE_WORK_OFFLINE == w::PRINTER_ATTRIBUTE_WORK_OFFLINE);
        assert!(b::JOB_STATUS_PAUSED == w::JOB_STATUS_PAUSED);
        assert!(b::JOB_STATUS_ERROR == w::JOB_STATUS_ERROR);
        assert!(b::JOB_STATUS_DELETING == w::JOB_STATUS_DELETING);
        assert!(b::JOB_STATUS_SPOOLING == w::JOB_STATUS_SPOOLING);
        assert!(b::JOB_STATUS_PRINTING == w::JOB_STATUS_PRINTING);
        assert!(b::JOB_STATUS_OFFLINE == w::JOB_STATUS_OFFLINE);
        assert!(b::JOB_STATUS_PAPEROUT == w::JOB_STATUS_PAPEROUT);
        assert!(b::JOB_STATUS_PRINTED == w::JOB_STATUS_PRINTED);
        assert!(b::JOB_STATUS_DELETED == w::JOB_STATUS_DELETED);
        assert!(b::JOB_STATUS_BLOCKED_DEVQ == w::JOB_STATUS_BLOCKED_DEVQ);
        assert!(b::JOB_STATUS_USER_INTERVENTION == w::JOB_STATUS_USER_INTERVENTION);
        assert!(b::JOB_STATUS_RESTART == w::JOB_STATUS_RESTART);
        assert!(b::JOB_STATUS_COMPLETE == w::JOB_STATUS_COMPLETE);
        assert!(b::JOB_STATUS_RETAINED == w::JOB_STATUS_RETAINED);
        assert!(b::JOB_STATUS_RENDERING_LOCALLY == w::JOB_STATUS_RENDERING_LOCALLY);
    };

    /// One printer of the local spooler, by name. Each call opens the printer and closes it again (a
    /// handle kept open would outlive a restart of the spooler service).
    pub struct Spooler {
        name: String,
        wide: Vec<u16>,
    }

    struct Handle(PRINTER_HANDLE);

    impl Drop for Handle {
        fn drop(&mut self) {
            // SAFETY: a handle OpenPrinterW returned, closed once.
            unsafe {
                ClosePrinter(self.0);
            }
        }
    }

    fn wide(s: &str) -> Vec<u16> {
        s.encode_utf16().chain(std::iter::once(0)).collect()
    }

    /// A NUL-terminated UTF-16 string the spooler wrote into one of our buffers.
    ///
    /// SAFETY: `p` is null or points to a NUL-terminated string inside a live buffer.
    unsafe fn text(p: *const u16) -> String {
        if p.is_null() {
            return String::new();
        }
        let mut n = 0;
        while *p.add(n) != 0 {
            n += 1;
        }
        String::from_utf16_lossy(std::slice::from_raw_parts(p, n))
    }

    /// The error of a call that failed with `code`; 0 (no error code at all) is a call this spooler does
    /// not implement.
    fn failed(what: &str, code: u32) -> SpoolError {
        if code == 0 {
            return SpoolError::Unsupported(format!(
                "{what} is not implemented by this print spooler (it failed without saying why)"
            ));
        }
        SpoolError::Failed(format!("{what} failed: {}", std::io::Error::from_raw_os_error(code as i32)))
    }

    /// A buffer of at least `bytes`, aligned for the spooler's structures (they hold pointers).
    fn buffer(bytes: u32) -> Vec<u64> {
        vec![0u64; (bytes as usize).div_ceil(8).max(1)]
    }

    /// Calls `call(buffer, size, needed)` until the buffer is large enough (the spooler's two-call
    /// protocol; the queue can grow between the calls). `Ok(None)`: the call succeeded with no data.
    /// `Err(code)`: the error code it failed with (0 when it set none).
    fn grow<F>(mut call: F) -> Result<Option<Vec<u64>>, u32>
    where
        F: FnMut(*mut u8, u32, &mut u32) -> bool,
    {
        let mut size = 0u32;
        let mut buf: Vec<u64> = Vec::new();
        for _ in 0..8 {
            let mut needed = 0u32;
            // SAFETY: SetLastError has no memory effects. Cleared so that a failure that sets no error
            // (wine's stubs) can be told apart.
            unsafe { SetLastError(0) };
            let ptr = if size == 0 { std::ptr::null_mut() } else { buf.as_mut_ptr() as *mut u8 };
            if call(ptr, size, &mut needed) {
                return Ok(if size == 0 && needed == 0 { None } else { Some(buf) });
            }
            // SAFETY: reads the calling thread's last error, set by `call`.
            match unsafe { GetLastError() } {
                ERROR_INSUFFICIENT_BUFFER if needed > size => {
                    buf = buffer(needed);
                    size = needed;
                }
                code => return Err(code),
            }
        }
        Err(ERROR_INSUFFICIENT_BUFFER)
    }

    impl Spooler {
        pub fn new(name: &str) -> Spooler {
            Spooler { name: name.to_owned(), wide: wide(name) }
        }

        fn open(&self) -> Result<Handle, SpoolError> {
            let mut h = PRINTER_HANDLE { Value: std::ptr::null_mut() };
            // SAFETY: a NUL-terminated name and an out pointer; no defaults (the caller's access).
            if unsafe { OpenPrinterW(self.wide.as_ptr(), &mut h, std::ptr::null()) } == 0 {
                // SAFETY: reads the calling thread's last error.
                let code = unsafe { GetLastError() };
                if code == ERROR_INVALID_PRINTER_NAME {
                    return Err(SpoolError::NoSuchPrinter { installed: installed_printers() });
                }
                return Err(failed(&format!("OpenPrinter({:?})", self.name), code));
            }
            Ok(Handle(h))
        }
    }

    /// The printers Windows has (local and connections), for messages.
    pub fn installed_printers() -> Vec<String> {
        let flags = PRINTER_ENUM_LOCAL | PRINTER_ENUM_CONNECTIONS;
        let mut count = 0u32;
        let Ok(Some(buf)) = grow(|ptr, size, needed| {
            // SAFETY: `ptr` is null with size 0, or a buffer of `size` bytes.
            unsafe { EnumPrintersW(flags, std::ptr::null(), 4, ptr, size, needed, &mut count) != 0 }
        }) else {
            return Vec::new();
        };
        let infos = buf.as_ptr() as *const PRINTER_INFO_4W;
        // SAFETY: the spooler wrote `count` PRINTER_INFO_4W at the start of the buffer, their strings
        // after them in the same buffer.
        (0..count as usize).map(|i| unsafe { text((*infos.add(i)).pPrinterName) }).collect()
    }

    /// Reads a JOB_INFO_1W the spooler wrote.
    ///
    /// SAFETY: `info` points to a JOB_INFO_1W inside a live buffer whose strings it points to.
    unsafe fn job_of(info: *const JOB_INFO_1W) -> SpoolJob {
        let j = &*info;
        let status_text = text(j.pStatus);
        SpoolJob {
            id: j.JobId,
            document: text(j.pDocument),
            status: j.Status,
            status_text: (!status_text.is_empty()).then_some(status_text),
            user: text(j.pUserName),
        }
    }

    impl SpoolerApi for Spooler {
        fn printer(&self) -> Result<SpoolPrinter, SpoolError> {
            let h = self.open()?;
            let buf = grow(|ptr, size, needed| {
                // SAFETY: `ptr` is null with size 0, or a buffer of `size` bytes.
                unsafe { GetPrinterW(h.0, 2, ptr, size, needed) != 0 }
            })
            .map_err(|code| failed("GetPrinter", code))?
            .ok_or_else(|| SpoolError::Failed("GetPrinter returned nothing".into()))?;
            // SAFETY: the spooler wrote a PRINTER_INFO_2W at the start of the buffer.
            let info = unsafe { &*(buf.as_ptr() as *const PRINTER_INFO_2W) };
            Ok(SpoolPrinter {
                name: self.name.clone(),
                status: info.Status,
                attributes: info.Attributes,
                jobs: info.cJobs,
            })
        }

        fn jobs(&self) -> Result<Vec<SpoolJob>, SpoolError> {
            let h = self.open()?;
            let mut count = 0u32;
            let Some(buf) = grow(|ptr, size, needed| {
                // SAFETY: `ptr` is null with size 0, or a buffer of `size` bytes.
                unsafe { EnumJobsW(h.0, 0, 100_000, 1, ptr, size, needed, &mut count) != 0 }
            })
            .map_err(|code| failed("EnumJobs", code))?
            else {
                return Ok(Vec::new());
            };
            let infos = buf.as_ptr() as *const JOB_INFO_1W;
            // SAFETY: the spooler wrote `count` JOB_INFO_1W at the start of the buffer.
            Ok((0..count as usize).map(|i| unsafe { job_of(infos.add(i)) }).collect())
        }

        fn job(&self, id: u32) -> Result<Option<SpoolJob>, SpoolError> {
            let h = self.open()?;
            match grow(|ptr, size, needed| {
                // SAFETY: `ptr` is null with size 0, or a buffer of `size` bytes.
                unsafe { GetJobW(h.0, id, 1, ptr, size, needed) != 0 }
            }) {
                // SAFETY: the spooler wrote a JOB_INFO_1W at the start of the buffer.
                Ok(Some(buf)) => Ok(Some(unsafe { job_of(buf.as_ptr() as *const JOB_INFO_1W) })),
                // No job with this id in the queue.
                Ok(None) | Err(ERROR_INVALID_PARAMETER) => Ok(None),
                Err(code) => Err(failed("GetJob", code)),
            }
        }

        fn delete(&self, id: u32) -> Result<(), SpoolError> {
            let h = self.open()?;
            // SAFETY: level 0 with no structure and a command, as documented for SetJob.
            if unsafe { SetJobW(h.0, id, 0, std::ptr::null(), JOB_CONTROL_DELETE) } == 0 {
                // SAFETY: reads the calling thread's last error.
                let code = unsafe { GetLastError() };
                if code == ERROR_INVALID_PARAMETER {
                    // Already gone.
                    return Ok(());
                }
                return Err(failed("SetJob(JOB_CONTROL_DELETE)", code));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOB: &str = "6f1c2a9e-3b7d-4c55-9d1e-2f8a4b6c0d13";

    fn printer(status: u32, attributes: u32, jobs: u32) -> SpoolPrinter {
        SpoolPrinter { name: "HP LaserJet M404".into(), status, attributes, jobs }
    }

    #[test]
    fn printer_status_bits_map_onto_the_four_statuses() {
        let s = |status, attributes| printer_state(&printer(status, attributes, 2));
        let ready = s(0, 0);
        assert_eq!((ready.status, ready.queue_length, ready.message), (PrinterStatus::Online, Some(2), None));
        for (bits, want) in [
            (PRINTER_STATUS_WAITING | PRINTER_STATUS_TONER_LOW, PrinterStatus::Online),
            (PRINTER_STATUS_POWER_SAVE | PRINTER_STATUS_WARMING_UP, PrinterStatus::Online),
            (PRINTER_STATUS_PRINTING | PRINTER_STATUS_IO_ACTIVE, PrinterStatus::Busy),
            (PRINTER_STATUS_PROCESSING, PrinterStatus::Busy),
            (PRINTER_STATUS_PAPER_OUT, PrinterStatus::Error),
            (PRINTER_STATUS_PRINTING | PRINTER_STATUS_PAPER_JAM, PrinterStatus::Error),
            (PRINTER_STATUS_DOOR_OPEN, PrinterStatus::Error),
            (PRINTER_STATUS_NO_TONER | PRINTER_STATUS_TONER_LOW, PrinterStatus::Error),
            (PRINTER_STATUS_OFFLINE, PrinterStatus::Offline),
            (PRINTER_STATUS_PAUSED | PRINTER_STATUS_PAPER_OUT, PrinterStatus::Offline),
            (PRINTER_STATUS_NOT_AVAILABLE, PrinterStatus::Offline),
            (PRINTER_STATUS_SERVER_OFFLINE, PrinterStatus::Offline),
            // A bit this worker does not know is never read as ready.
            (0x8000_0000, PrinterStatus::Error),
        ] {
            assert_eq!(s(bits, 0).status, want, "status 0x{bits:x}");
        }
        // "Use Printer Offline" (also set by Windows when a USB printer disappears).
        let off = s(0, PRINTER_ATTRIBUTE_WORK_OFFLINE);
        assert_eq!(off.status, PrinterStatus::Offline);
        assert!(off.message.unwrap().contains("Use Printer Offline"));
        let jam = s(PRINTER_STATUS_PAPER_JAM | PRINTER_STATUS_PRINTING, 0);
        assert_eq!(jam.reasons, ["PaperJam", "Printing"]);
        assert_eq!(jam.message.unwrap(), "Windows reports printer \"HP LaserJet M404\" as PaperJam, Printing");
        let unknown = s(0x8000_0000, 0);
        assert!(unknown.message.unwrap().contains("0x80000000"), "the unknown bit is named");
        // Every bit has one row.
        let all: u32 = PRINTER_STATUS_TABLE.iter().map(|(b, ..)| b).sum();
        assert_eq!(all, 0x7ff_ffff);
    }

    #[test]
    fn job_status_bits_map_onto_job_states_without_guessing() {
        use JobState::*;
        for (bits, want) in [
            (0, Pending),
            (JOB_STATUS_SPOOLING, Pending),
            (JOB_STATUS_RESTART, Pending),
            (JOB_STATUS_SPOOLING | JOB_STATUS_PRINTING, Processing),
            (JOB_STATUS_PRINTING, Processing),
            (JOB_STATUS_RENDERING_LOCALLY, Processing),
            (JOB_STATUS_PAUSED, Held),
            (JOB_STATUS_PRINTING | JOB_STATUS_PAPEROUT, Stopped),
            (JOB_STATUS_ERROR | JOB_STATUS_PRINTING, Stopped),
            (JOB_STATUS_OFFLINE, Stopped),
            (JOB_STATUS_USER_INTERVENTION, Stopped),
            (JOB_STATUS_BLOCKED_DEVQ, Stopped),
            (JOB_STATUS_DELETING | JOB_STATUS_PRINTING, Cancelled),
            (JOB_STATUS_DELETED, Cancelled),
            (JOB_STATUS_PRINTED, Completed),
            (JOB_STATUS_PRINTED | JOB_STATUS_RETAINED, Completed),
            (JOB_STATUS_COMPLETE | JOB_STATUS_RETAINED, Completed),
            (JOB_STATUS_PRINTED | JOB_STATUS_DELETING, Completed),
            // Retained but not said printed, or bits nobody knows: never gone, never printed.
            (JOB_STATUS_RETAINED, Unrecognized(0x2000)),
            (0x0010_0000, Unrecognized(0x0010_0000)),
        ] {
            assert_eq!(job_state(bits), want, "status 0x{bits:x} ({})", job_status_names(bits));
        }
        assert_eq!(job_status_names(JOB_STATUS_PRINTING | JOB_STATUS_PAPEROUT), "PaperOut|Printing");
        assert_eq!(job_status_names(0), "Queued");
        assert_eq!(job_status_names(JOB_STATUS_RETAINED | 0x0010_0000), "Retained|0x100000");
    }

    #[test]
    fn documents_are_found_by_the_file_name_the_print_command_was_given() {
        let path = format!(r"C:\Users\Shop\AppData\Local\Temp\printcore-{JOB}-0a1b2c\{JOB}.pdf");
        assert_eq!(document_part(&path, JOB), Some((1, 1)), "SumatraPDF's document name: the path");
        assert_eq!(document_part(&format!("{JOB}.pdf"), JOB), Some((1, 1)));
        assert_eq!(document_part(&format!("{}.PDF", JOB.to_uppercase()), JOB), Some((1, 1)));
        assert_eq!(document_part(JOB, JOB), Some((1, 1)), "a command that names the document after the job");
        assert_eq!(document_part(&format!(r"C:\x\{JOB}-2of3.pdf"), JOB), Some((2, 3)));
        assert_eq!(document_part(&format!("/tmp/{JOB}-4of3.pdf"), JOB), None);
        // The folder holds the job name too: only the file counts.
        assert_eq!(document_part(&format!(r"C:\printcore-{JOB}\invoice.pdf"), JOB), None);
        assert_eq!(document_part("Microsoft Word - invoice.docx", JOB), None);
        assert_eq!(document_part("", JOB), None);
    }

    /// Issue 23 item 4: gone is not printed.
    #[test]
    fn a_job_that_left_the_queue_is_judged_by_what_was_seen_of_it() {
        use JobState::*;
        // Printed documents not kept: printed and dropped, deleted by a person ("Cancel all documents" on
        // a jammed printer) and dropped half-spooled all look the same: nobody can say it printed.
        assert_eq!(state_when_gone(Some(Processing), false), Absent);
        assert_eq!(state_when_gone(Some(Pending), false), Absent);
        assert_eq!(state_when_gone(Some(Stopped), false), Absent);
        assert_eq!(state_when_gone(None, false), Absent);
        // Seen printed, or deleted by this worker: as seen.
        assert_eq!(state_when_gone(Some(Completed), false), Completed);
        assert_eq!(state_when_gone(Some(Cancelled), false), Cancelled);
        // Printed documents kept: a printed job stays listed, so one seen and now gone was deleted by a
        // person; never seen (a restart of the worker): may have printed.
        assert_eq!(state_when_gone(Some(Processing), true), Deleted);
        assert_eq!(state_when_gone(Some(Held), true), Deleted);
        assert_eq!(state_when_gone(None, true), Absent);
        assert_eq!(state_when_gone(Some(Completed), true), Completed);
    }

    /// A job's life as the spooler lists it, each snapshot one `EnumJobs` answer.
    fn snapshots(doc: &str, statuses: &[u32]) -> Vec<Vec<SpoolJob>> {
        statuses
            .iter()
            .map(|s| vec![SpoolJob { id: 41, document: doc.into(), status: *s, status_text: None, user: "svc".into() }])
            .collect()
    }

    #[test]
    fn a_followed_job_that_windows_drops_is_never_read_as_printed() {
        let seen = Seen::default();
        let doc = format!(r"C:\Temp\printcore-{JOB}-9\{JOB}.pdf");
        let other =
            SpoolJob { id: 40, document: "Invoice.docx".into(), status: 0x10, status_text: None, user: "ada".into() };
        let mut states = Vec::new();
        for mut listed in snapshots(&doc, &[JOB_STATUS_SPOOLING, JOB_STATUS_SPOOLING | JOB_STATUS_PRINTING, 0x10]) {
            listed.push(other.clone());
            states.push(find(&listed, &seen, JOB, false).unwrap());
        }
        assert_eq!(
            states.iter().map(|f| f.state).collect::<Vec<_>>(),
            [JobState::Pending, JobState::Processing, JobState::Processing]
        );
        assert!(states.iter().all(|f| f.job_ref == "41"), "{states:?}");
        // Gone from a queue that keeps no printed documents: it may have printed, or been deleted.
        assert_eq!(find(std::slice::from_ref(&other), &seen, JOB, false).unwrap().state, JobState::Absent);
        assert_eq!(seen.gone(41, JOB, false), JobState::Absent);
        // Gone from one that keeps them: a person deleted it.
        assert_eq!(seen.gone(41, JOB, true), JobState::Deleted);
        // The same id under another print job's name says nothing about ours.
        assert_eq!(seen.gone(41, "another-job", false), JobState::Absent);
        // A worker that restarted saw nothing: not found at all.
        assert_eq!(find(&[other], &Seen::default(), JOB, false), None);
    }

    #[test]
    fn a_job_deleted_from_the_queue_or_stopped_then_gone_is_never_taken_as_printed() {
        let seen = Seen::default();
        let doc = format!("{JOB}.pdf");
        for listed in snapshots(&doc, &[JOB_STATUS_PRINTING, JOB_STATUS_PRINTING | JOB_STATUS_DELETING]) {
            find(&listed, &seen, JOB, false);
        }
        assert_eq!(find(&[], &seen, JOB, false).unwrap().state, JobState::Cancelled);
        let seen = Seen::default();
        for listed in snapshots(&doc, &[JOB_STATUS_PRINTING, JOB_STATUS_PRINTING | JOB_STATUS_PAPEROUT]) {
            find(&listed, &seen, JOB, false);
        }
        assert_eq!(find(&[], &seen, JOB, false).unwrap().state, JobState::Absent, "a person may have deleted it");
        // Printed documents kept: the printed job stays listed, as printed.
        let seen = Seen::default();
        let kept = snapshots(&doc, &[JOB_STATUS_PRINTED | JOB_STATUS_RETAINED]).remove(0);
        assert_eq!(find(&kept, &seen, JOB, true).unwrap().state, JobState::Completed);
    }

    /// Issue 23 item 4: a file another account prints under the order's name is never the order's job.
    #[test]
    fn a_job_of_another_account_under_the_same_name_is_not_the_orders() {
        let seen = Seen::default();
        let doc = format!("{JOB}.pdf");
        let ours = SpoolJob {
            id: 5,
            document: doc.clone(),
            status: JOB_STATUS_PRINTING,
            status_text: None,
            user: "NT SERVICE\\printcore".into(),
        };
        let theirs =
            SpoolJob { id: 6, document: doc, status: JOB_STATUS_PRINTED, status_text: None, user: "Alice".into() };
        let f = find(&[ours.clone(), theirs.clone()], &seen, JOB, true).unwrap();
        assert_eq!((f.job_ref.as_str(), f.state), ("5", JobState::Processing), "only the worker's own job");
        // The other account's job alone is not the order's job, printed or not.
        let f = find(std::slice::from_ref(&theirs), &seen, JOB, true).unwrap();
        assert_eq!(
            (f.job_ref.as_str(), f.state),
            ("5", JobState::Deleted),
            "ours left a queue that keeps printed jobs"
        );
    }

    #[test]
    fn the_documents_of_one_order_are_one_print_job_and_a_missing_one_makes_it_partial() {
        let seen = Seen::default();
        let job = |id, k, status| SpoolJob {
            id,
            document: format!(r"C:\Temp\printcore-x\{JOB}-{k}of3.pdf"),
            status,
            status_text: None,
            user: "svc".into(),
        };
        let all = [job(7, 1, JOB_STATUS_PRINTING), job(8, 2, 0), job(9, 3, 0)];
        let f = find(&all, &seen, JOB, false).unwrap();
        assert_eq!((f.job_ref.as_str(), f.state), ("7,8,9", JobState::Processing));
        let f = find(&[job(7, 1, JOB_STATUS_PRINTED), job(9, 3, 0)], &Seen::default(), JOB, true).unwrap();
        assert_eq!(f.state, JobState::Partial, "document 2 never reached the queue");
        seen.forget(JOB);
        assert!(seen.parts_of(JOB).is_empty());
    }
}
