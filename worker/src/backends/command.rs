//! A configured print command: SumatraPDF on Windows, `lp` on CUPS, or anything else that prints a file.
//!
//! The command is a list of arguments (no shell, so nothing in an order can inject a command), with
//! placeholders replaced per job: `{file}`, `{printer}`, `{copies}`, `{duplex}` (`duplex`/`simplex`),
//! `{sides}` (`two-sided-long-edge`/`one-sided`), `{color}` (`color`/`monochrome`), `{pageSize}`,
//! `{jobName}`. It runs once per document with a timeout; exit code 0 means the printer's spooler took it.
//!
//! Examples (see the guide's docs/guide/src/print-pc/printers.md):
//! - Windows: `["C:\\Program Files\\SumatraPDF\\SumatraPDF.exe", "-print-to", "{printer}", "-print-settings",
//!   "{copies}x,{duplex},{color}", "-silent", "{file}"]`
//! - CUPS: `["lp", "-d", "{printer}", "-n", "{copies}", "-o", "sides={sides}", "-o",
//!   "print-color-mode={color}", "-t", "{jobName}", "{file}"]`
//!
//! An optional status command prints JSON: either PowerShell's `Get-Printer -Name X | ConvertTo-Json`
//! (`PrinterStatus`, `JobCount`) or `{"status": "online|offline|busy|error", "queue_length": n,
//! "message": "...", "reasons": ["media-empty-error"]}` (`reasons`, optional: the printer's own keywords,
//! which alerts read).
//!
//! On Windows the printer is also looked up in the print spooler ([`super::spooler`], unless the
//! configuration says `spooler = false`): its state and queue come from `GetPrinter` (when no status
//! command is configured), and each document goes to the command as `<printJobId>.pdf` (document k of n:
//! `<printJobId>-<k>of<n>.pdf`), so the spooler's document name is the job name: the worker watches the
//! queue while the command runs, follows the job until Windows is done with it, finds it again by name
//! after a crash, and cancels it. Elsewhere, or with a spooler that cannot list jobs (wine's), a command
//! backend cannot look jobs up by name and says so ([`Printer::can_look_up_jobs`] is false).
//!
//! Containment: each command runs in a process group of its own (Unix) or a job object (Windows). When it
//! times out, fails, or the print task is dropped, the whole group is killed, so a wrapper script's
//! children cannot print after the worker gave up on the job (the order goes back to the queue, or fails
//! "may have printed"). After a zero exit whatever the command left running is left alone: it reported
//! that the spooler took the job. Commands do not inherit the worker's secrets ([`hidden_from_commands`]),
//! and the files they are given sit in a folder only the worker's user can open (0700).

use super::ipp::{combine, part_name};
use super::spooler::{self, Seen, SpoolError, SpoolerApi};
use crate::printer::{FoundJob, JobSpec, JobState, Printer, PrinterError, PrinterState};
use async_trait::async_trait;
use printcore::{PrinterCapabilities, PrinterStatus};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::process::Command;

/// A printer driven by commands.
pub struct CommandPrinter {
    /// The printer's name as the commands know it.
    pub printer: String,
    pub print_command: Vec<String>,
    pub status_command: Option<Vec<String>>,
    pub timeout: Duration,
    pub capabilities: PrinterCapabilities,
    /// The Windows spooler's view of the printer, when it is used.
    spooler: Option<SpoolerLink>,
    /// The slowest rate, in bytes per second, at which the print command is expected to take a document
    /// (render and spool it): its time limit is `timeout` plus the document's size at this rate, so a big
    /// poster is not killed while it spools (SumatraPDF renders page by page).
    min_rate: f64,
}

/// The default [`CommandPrinter::with_min_rate`]: 0.25 MB/s, a slow PC rendering a heavy PDF.
pub const DEFAULT_MIN_RATE: f64 = 256.0 * 1024.0;

/// The print spooler behind a command printer.
struct SpoolerLink {
    api: Arc<dyn SpoolerApi>,
    /// Whether the spooler can list jobs (wine's `EnumJobs` is a stub): without it jobs cannot be followed.
    lists_jobs: bool,
    /// The jobs of this backend's print jobs seen in the queue.
    seen: Arc<Seen>,
}

/// How often the queue is looked at while a print command runs (a short job can come and go in a second).
const WATCH_EVERY: Duration = Duration::from_millis(200);

/// The reference of a document the spooler never listed while its command ran and after: the command's
/// zero exit is all that is known of it, and it counts as printed (as without a spooler).
const UNSEEN: &str = "unseen";

impl CommandPrinter {
    pub fn new(
        printer: &str,
        print_command: Vec<String>,
        status_command: Option<Vec<String>>,
        timeout: Duration,
        capabilities: PrinterCapabilities,
    ) -> Result<CommandPrinter, PrinterError> {
        if print_command.is_empty() || print_command[0].trim().is_empty() {
            return Err(PrinterError::Rejected("the print command is empty; configure print_command".into()));
        }
        if !print_command.iter().any(|a| a.contains("{file}")) {
            return Err(PrinterError::Rejected("the print command must contain {file}, where the PDF goes".into()));
        }
        if status_command.as_ref().is_some_and(|c| c.is_empty()) {
            return Err(PrinterError::Rejected("the status command is empty; remove it or configure it".into()));
        }
        Ok(CommandPrinter {
            printer: printer.to_owned(),
            print_command,
            status_command,
            timeout,
            capabilities,
            spooler: None,
            min_rate: DEFAULT_MIN_RATE,
        })
    }

    /// The slowest rate (bytes per second) at which the print command takes a document; see the field.
    pub fn with_min_rate(mut self, bytes_per_second: f64) -> CommandPrinter {
        if bytes_per_second.is_finite() && bytes_per_second > 0.0 {
            self.min_rate = bytes_per_second;
        }
        self
    }

    /// How long the print command may take for a document of `bytes`.
    pub fn command_limit(&self, bytes: u64) -> Duration {
        let extra = Duration::try_from_secs_f64(bytes as f64 / self.min_rate).unwrap_or(Duration::from_secs(86_400));
        self.timeout.saturating_add(extra.min(Duration::from_secs(86_400)))
    }

    /// Reads the printer's state and follows its jobs through a print spooler (on Windows, the printer
    /// named `printer` in the local spooler). Asks the spooler once whether it can list jobs: one that
    /// cannot (wine's) leaves the backend unable to look jobs up, as without a spooler, and says so.
    pub fn with_spooler(mut self, api: Arc<dyn SpoolerApi>) -> CommandPrinter {
        let lists_jobs = match api.jobs() {
            Err(SpoolError::Unsupported(m)) => {
                tracing::warn!(
                    printer = %self.printer,
                    "the print spooler cannot list jobs ({m}): print jobs cannot be followed or found after a \
                     restart; a zero exit of the print command counts as printed"
                );
                false
            }
            // Not installed yet, or not answering now: the state says so; listing is Windows' to do.
            _ => true,
        };
        self.spooler = Some(SpoolerLink { api, lists_jobs, seen: Arc::new(Seen::default()) });
        self
    }

    /// The spooler, when jobs can be followed through it.
    fn following(&self) -> Option<&SpoolerLink> {
        self.spooler.as_ref().filter(|s| s.lists_jobs)
    }
}

impl SpoolerLink {
    /// Runs one blocking spooler call on a thread of its own, bounded by `timeout`.
    async fn call<T, F>(&self, timeout: Duration, f: F) -> Result<T, SpoolError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn SpoolerApi) -> Result<T, SpoolError> + Send + 'static,
    {
        let api = self.api.clone();
        match tokio::time::timeout(timeout, tokio::task::spawn_blocking(move || f(api.as_ref()))).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(SpoolError::Failed(format!("the spooler call failed: {e}"))),
            Err(_) => Err(SpoolError::Failed(format!("the print spooler did not answer within {timeout:?}"))),
        }
    }

    /// Looks at the queue and notes the jobs of `job_name` in it (errors: nothing noted this time).
    async fn look(&self, timeout: Duration, job_name: &str) {
        if let Ok(jobs) = self.call(timeout, |s| s.jobs()).await {
            for j in &jobs {
                self.seen.observe(j, job_name);
            }
        }
    }

    async fn keeps_printed_jobs(&self, timeout: Duration) -> Result<bool, PrinterError> {
        self.call(timeout, |s| s.printer()).await.map(|p| p.keeps_printed_jobs()).map_err(spool_error)
    }
}

/// A spooler failure as the worker's printer error: one this spooler cannot do is unsupported, the rest
/// are worth asking again.
fn spool_error(e: SpoolError) -> PrinterError {
    match e {
        SpoolError::Unsupported(m) => PrinterError::Unsupported(m),
        other => PrinterError::Transient(format!("the print spooler: {other}")),
    }
}

/// Replaces the placeholders in every argument.
pub fn substitute(args: &[String], job: &JobSpec, printer: &str, file: &str) -> Vec<String> {
    let copies = job.copies.max(1).to_string();
    let page_size = job.page_size.clone().unwrap_or_default();
    args.iter()
        .map(|a| {
            a.replace("{file}", file)
                .replace("{printer}", printer)
                .replace("{copies}", &copies)
                .replace("{duplex}", if job.duplex { "duplex" } else { "simplex" })
                .replace("{sides}", if job.duplex { "two-sided-long-edge" } else { "one-sided" })
                .replace("{color}", if job.color { "color" } else { "monochrome" })
                .replace("{pageSize}", &page_size)
                .replace("{jobName}", &job.job_name)
        })
        .collect()
}

/// Whether an environment variable of the worker is kept from print and status commands: the worker's
/// connection string (`MONGODB_URI`, the variable it reads it from) and every other `MONGODB*` variable,
/// the worker's own settings (`PRINTCORE_*`), `ADMIN_URI` (the roles script's), and any variable whose
/// value holds a MongoDB connection string, whatever its name.
pub fn hidden_from_commands(name: &std::ffi::OsStr, value: &std::ffi::OsStr) -> bool {
    // Windows' variable names are case-insensitive.
    let name = name.to_string_lossy().to_ascii_uppercase();
    let value = value.to_string_lossy().to_ascii_lowercase();
    name.starts_with("MONGODB")
        || name.starts_with("PRINTCORE_")
        || name == "ADMIN_URI"
        || value.contains("mongodb://")
        || value.contains("mongodb+srv://")
}

/// Runs `args` with a timeout, in a process group (job object) of its own that is killed, whole, when the
/// command times out or fails or this future is dropped. Returns stdout.
async fn run(args: &[String], timeout: Duration, what: &str) -> Result<String, PrinterError> {
    let mut cmd = Command::new(&args[0]);
    cmd.args(&args[1..]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    for (name, value) in std::env::vars_os() {
        if hidden_from_commands(&name, &value) {
            cmd.env_remove(name);
        }
    }
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child =
        cmd.spawn().map_err(|e| PrinterError::Transient(format!("{what} {:?} could not be started: {e}", args[0])))?;
    // Killed on drop (a timeout, a failure, the print task dropped) unless released after a zero exit.
    let tree = ProcessTree::of(&child);
    let (Some(mut out_pipe), Some(mut err_pipe)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(PrinterError::Transient(format!("{what} {:?}: no output pipes", args[0])));
    };
    let finished = async {
        use tokio::io::AsyncReadExt;
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let (status, _, _) = tokio::join!(child.wait(), out_pipe.read_to_end(&mut out), err_pipe.read_to_end(&mut err));
        status.map(|status| (status, out, err))
    };
    let finished = tokio::time::timeout(timeout, finished).await;
    let (status, out, err) = match finished {
        Ok(o) => o.map_err(|e| PrinterError::Transient(format!("{what} failed: {e}")))?,
        // It may have handed the job to the spooler before it hung: not known either way.
        Err(_) => {
            // The group first, while the command (if still running) holds its id, then the command.
            drop(tree);
            let _ = child.start_kill();
            return Err(PrinterError::Uncertain(format!(
                "{what} {:?} did not finish within {timeout:?} and was stopped",
                args[0]
            )));
        }
    };
    let stdout = String::from_utf8_lossy(&out).trim().to_owned();
    if !status.success() {
        let stderr = String::from_utf8_lossy(&err);
        let detail = stderr.trim().lines().last().unwrap_or("").chars().take(300).collect::<String>();
        let code = status.code().map(|c| c.to_string()).unwrap_or_else(|| "a signal".into());
        return Err(PrinterError::Transient(format!(
            "{what} {:?} exited with {code}{}",
            args[0],
            if detail.is_empty() { String::new() } else { format!(": {detail}") }
        )));
    }
    tree.release();
    Ok(stdout)
}

/// A command and every process it started: a process group on Unix (the command is its leader, so the
/// group's id is the command's pid), a job object on Windows. Dropping it kills them all; [`release`]
/// leaves them running.
///
/// [`release`]: ProcessTree::release
struct ProcessTree {
    #[cfg(unix)]
    group: Option<i32>,
    #[cfg(windows)]
    job: Option<job::Job>,
}

impl ProcessTree {
    fn of(child: &tokio::process::Child) -> ProcessTree {
        #[cfg(unix)]
        {
            ProcessTree { group: child.id().and_then(|pid| i32::try_from(pid).ok()) }
        }
        #[cfg(windows)]
        {
            ProcessTree { job: job::Job::containing(child) }
        }
        #[cfg(not(any(unix, windows)))]
        {
            let _ = child;
            ProcessTree {}
        }
    }

    /// The command succeeded: what it left running may finish.
    fn release(mut self) {
        #[cfg(unix)]
        {
            self.group = None;
        }
        #[cfg(windows)]
        if let Some(job) = self.job.take() {
            job.release();
        }
    }
}

impl Drop for ProcessTree {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(group) = self.group.take() {
            // SAFETY: killpg has no memory effects. The group exists while any of its processes lives (its
            // id is not reused meanwhile); ESRCH (none left) is fine.
            unsafe {
                libc::killpg(group, libc::SIGKILL);
            }
        }
        #[cfg(windows)]
        if let Some(job) = self.job.take() {
            job.kill();
        }
    }
}

/// The most memory a print command and everything it started may commit together: 2 GiB, room for
/// SumatraPDF rendering an A0 page at 600 dpi, and far from what a print PC has. Past it an allocation
/// fails (the command fails; the order is retried or fails), not the PC.
pub const COMMAND_MEMORY_LIMIT: u64 = 2 * 1024 * 1024 * 1024;

// The Windows values of the job limits (winnt.h), written out so that the limits are tested on every system;
// the Windows build checks each against windows-sys.
const LIMIT_JOB_MEMORY: u32 = 0x200;
const LIMIT_DIE_ON_UNHANDLED_EXCEPTION: u32 = 0x400;
const LIMIT_KILL_ON_JOB_CLOSE: u32 = 0x2000;
const UILIMIT_HANDLES: u32 = 0x1;
const UILIMIT_READCLIPBOARD: u32 = 0x2;
const UILIMIT_WRITECLIPBOARD: u32 = 0x4;
const UILIMIT_SYSTEMPARAMETERS: u32 = 0x8;
const UILIMIT_DISPLAYSETTINGS: u32 = 0x10;
const UILIMIT_GLOBALATOMS: u32 = 0x20;
const UILIMIT_DESKTOP: u32 = 0x40;
const UILIMIT_EXITWINDOWS: u32 = 0x80;

/// What a print command's job object holds it to on Windows. The command still runs as the worker's
/// account (a restricted token would need `CreateProcessAsUserW`, which a `Command` cannot use); the
/// service's account is its own virtual account, without privileges ([`crate::winsec`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobLimits {
    /// `JOBOBJECT_BASIC_LIMIT_INFORMATION.LimitFlags`.
    pub limit_flags: u32,
    /// `JOBOBJECT_EXTENDED_LIMIT_INFORMATION.JobMemoryLimit`, in bytes.
    pub job_memory: u64,
    /// `JOBOBJECT_BASIC_UI_RESTRICTIONS.UIRestrictionsClass`: no use of other programs' windows or global
    /// atoms (so no handing the job to a SumatraPDF outside it), no clipboard, no desktops, no changing the
    /// display or system settings, no logging off or shutting down.
    pub ui_restrictions: u32,
}

impl JobLimits {
    /// While the command runs: killed whole when the worker gives up on it (or dies); a memory limit; a
    /// crash ends the process at once instead of waiting on an error report nobody will see.
    pub fn running() -> JobLimits {
        JobLimits {
            limit_flags: LIMIT_KILL_ON_JOB_CLOSE | LIMIT_JOB_MEMORY | LIMIT_DIE_ON_UNHANDLED_EXCEPTION,
            job_memory: COMMAND_MEMORY_LIMIT,
            ui_restrictions: UILIMIT_HANDLES
                | UILIMIT_READCLIPBOARD
                | UILIMIT_WRITECLIPBOARD
                | UILIMIT_SYSTEMPARAMETERS
                | UILIMIT_DISPLAYSETTINGS
                | UILIMIT_GLOBALATOMS
                | UILIMIT_DESKTOP
                | UILIMIT_EXITWINDOWS,
        }
    }

    /// After a zero exit: what the command left running may finish (no kill when the job is closed), still
    /// within the same limits.
    pub fn released() -> JobLimits {
        let r = JobLimits::running();
        JobLimits { limit_flags: r.limit_flags & !LIMIT_KILL_ON_JOB_CLOSE, ..r }
    }

    /// Containment alone, when Windows refuses the limits above.
    pub fn kill_only() -> JobLimits {
        JobLimits { limit_flags: LIMIT_KILL_ON_JOB_CLOSE, job_memory: 0, ui_restrictions: 0 }
    }
}

/// Windows: a job object that kills its processes when closed (`JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`), so
/// they die with the worker too, and holds them to [`JobLimits`].
#[cfg(windows)]
mod job {
    use super::JobLimits;
    use std::sync::atomic::{AtomicBool, Ordering};
    use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
    use windows_sys::Win32::System::JobObjects::{
        AssignProcessToJobObject, CreateJobObjectW, JobObjectBasicUIRestrictions, JobObjectExtendedLimitInformation,
        SetInformationJobObject, TerminateJobObject, JOBOBJECT_BASIC_UI_RESTRICTIONS,
        JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION, JOB_OBJECT_LIMIT_JOB_MEMORY,
        JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE, JOB_OBJECT_UILIMIT_DESKTOP, JOB_OBJECT_UILIMIT_DISPLAYSETTINGS,
        JOB_OBJECT_UILIMIT_EXITWINDOWS, JOB_OBJECT_UILIMIT_GLOBALATOMS, JOB_OBJECT_UILIMIT_HANDLES,
        JOB_OBJECT_UILIMIT_READCLIPBOARD, JOB_OBJECT_UILIMIT_SYSTEMPARAMETERS, JOB_OBJECT_UILIMIT_WRITECLIPBOARD,
    };

    const _: () = {
        assert!(super::LIMIT_JOB_MEMORY == JOB_OBJECT_LIMIT_JOB_MEMORY);
        assert!(super::LIMIT_DIE_ON_UNHANDLED_EXCEPTION == JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION);
        assert!(super::LIMIT_KILL_ON_JOB_CLOSE == JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE);
        assert!(super::UILIMIT_HANDLES == JOB_OBJECT_UILIMIT_HANDLES);
        assert!(super::UILIMIT_READCLIPBOARD == JOB_OBJECT_UILIMIT_READCLIPBOARD);
        assert!(super::UILIMIT_WRITECLIPBOARD == JOB_OBJECT_UILIMIT_WRITECLIPBOARD);
        assert!(super::UILIMIT_SYSTEMPARAMETERS == JOB_OBJECT_UILIMIT_SYSTEMPARAMETERS);
        assert!(super::UILIMIT_DISPLAYSETTINGS == JOB_OBJECT_UILIMIT_DISPLAYSETTINGS);
        assert!(super::UILIMIT_GLOBALATOMS == JOB_OBJECT_UILIMIT_GLOBALATOMS);
        assert!(super::UILIMIT_DESKTOP == JOB_OBJECT_UILIMIT_DESKTOP);
        assert!(super::UILIMIT_EXITWINDOWS == JOB_OBJECT_UILIMIT_EXITWINDOWS);
    };

    pub struct Job(HANDLE);

    // SAFETY: a job handle may be used and closed from any thread.
    unsafe impl Send for Job {}
    unsafe impl Sync for Job {}

    /// Said once per run: a Windows (or wine) that refuses the limits.
    static WARNED: AtomicBool = AtomicBool::new(false);

    fn set_limits(job: HANDLE, limits: JobLimits) -> bool {
        // SAFETY: zeroed JOBOBJECT_* structures are valid (plain integers); each pointer and size describe
        // its structure exactly.
        unsafe {
            let mut info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = std::mem::zeroed();
            info.BasicLimitInformation.LimitFlags = limits.limit_flags;
            info.JobMemoryLimit = usize::try_from(limits.job_memory).unwrap_or(usize::MAX);
            let limited = SetInformationJobObject(
                job,
                JobObjectExtendedLimitInformation,
                &info as *const _ as *const std::ffi::c_void,
                std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
            ) != 0;
            if limited && limits.ui_restrictions != 0 {
                let ui = JOBOBJECT_BASIC_UI_RESTRICTIONS { UIRestrictionsClass: limits.ui_restrictions };
                let restricted = SetInformationJobObject(
                    job,
                    JobObjectBasicUIRestrictions,
                    &ui as *const _ as *const std::ffi::c_void,
                    std::mem::size_of::<JOBOBJECT_BASIC_UI_RESTRICTIONS>() as u32,
                ) != 0;
                if !restricted && !WARNED.swap(true, Ordering::Relaxed) {
                    tracing::warn!("Windows refused the user-interface restrictions of print commands' job objects");
                }
            }
            limited
        }
    }

    /// The running limits, or containment alone when Windows refuses them (said once).
    fn set_running(job: HANDLE) -> bool {
        if set_limits(job, JobLimits::running()) {
            return true;
        }
        if !WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!("Windows refused the memory limit of print commands' job objects; they are contained only");
        }
        set_limits(job, JobLimits::kill_only())
    }

    impl Job {
        /// A new job holding `child` (and so everything it starts from now on). `None` when Windows refuses
        /// (then only the command itself is stopped, as `kill_on_drop` does). The command runs for a moment
        /// before it is assigned; a process it started in that moment (before its own start-up finished)
        /// would stay outside the job.
        pub fn containing(child: &tokio::process::Child) -> Option<Job> {
            let process = child.raw_handle()? as HANDLE;
            // SAFETY: null attributes and name create an anonymous job; every handle is checked.
            unsafe {
                let job = CreateJobObjectW(std::ptr::null(), std::ptr::null());
                if job.is_null() {
                    tracing::warn!(
                        "could not create a job object for a print command; only the command itself can be stopped"
                    );
                    return None;
                }
                if !set_running(job) || AssignProcessToJobObject(job, process) == 0 {
                    tracing::warn!(
                        "could not put a print command into a job object; only the command itself can be stopped"
                    );
                    CloseHandle(job);
                    return None;
                }
                Some(Job(job))
            }
        }

        /// Kills every process in the job, then closes it.
        pub fn kill(self) {
            // SAFETY: self.0 is a job handle this value owns; Drop closes it.
            unsafe {
                TerminateJobObject(self.0, 1);
            }
        }

        /// Closes the job without killing what it holds (which stays within its limits).
        pub fn release(self) {
            if !set_limits(self.0, JobLimits::released()) {
                set_limits(self.0, JobLimits { limit_flags: 0, job_memory: 0, ui_restrictions: 0 });
            }
        }
    }

    impl Drop for Job {
        fn drop(&mut self) {
            // SAFETY: self.0 is a job handle this value owns, closed once. With kill-on-close still set,
            // closing it kills what is left.
            unsafe {
                CloseHandle(self.0);
            }
        }
    }
}

/// A new folder for one job's files that only the worker's user can open (0700 on Unix; on Windows the
/// user's own temporary folder), under an unpredictable name that must not exist yet (so nobody can
/// prepare it, or a link in its place, in advance).
fn private_job_dir(job_name: &str) -> std::io::Result<std::path::PathBuf> {
    let job_name = printcore::files::safe_name(job_name);
    let dir = std::env::temp_dir().join(format!("printcore-{job_name}-{}", uuid::Uuid::new_v4().simple()));
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700).create(&dir)?;
    #[cfg(not(unix))]
    std::fs::DirBuilder::new().create(&dir)?;
    Ok(dir)
}

/// Maps a status command's JSON onto a printer state.
pub fn parse_status_json(json: &str) -> Result<PrinterState, PrinterError> {
    let v: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| PrinterError::Transient(format!("the status command did not print JSON ({e})")))?;
    // Get-Printer for several printers prints an array: take the first.
    let v = match v {
        serde_json::Value::Array(mut a) if !a.is_empty() => a.swap_remove(0),
        other => other,
    };
    if let Some(ps) = v.get("PrinterStatus") {
        let (status, name) = windows_printer_status(ps);
        let queue = v.get("JobCount").and_then(|j| j.as_i64());
        let message = (status != PrinterStatus::Online).then(|| format!("Windows reports the printer as {name}"));
        return Ok(PrinterState { status, queue_length: queue, reasons: vec![name], message });
    }
    let status = match v.get("status").and_then(|s| s.as_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("online" | "idle" | "ready") => PrinterStatus::Online,
        Some("busy" | "printing" | "processing") => PrinterStatus::Busy,
        Some("offline") => PrinterStatus::Offline,
        Some("error") => PrinterStatus::Error,
        other => {
            return Err(PrinterError::Transient(format!(
                "the status command printed an unknown status {other:?}; expected online, offline, busy or error"
            )))
        }
    };
    let queue = v.get("queue_length").and_then(|q| q.as_i64());
    let message = v.get("message").and_then(|m| m.as_str()).map(str::to_owned);
    // The printer's own reason keywords (IPP's `media-empty-error`...), kept as given.
    let reasons = v
        .get("reasons")
        .and_then(|r| r.as_array())
        .map(|a| a.iter().filter_map(|r| r.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    Ok(PrinterState { status, queue_length: queue, reasons, message })
}

/// Windows' `PrinterStatus` (MSFT_Printer / Get-Printer), as a number or a name, onto the four statuses.
pub fn windows_printer_status(v: &serde_json::Value) -> (PrinterStatus, String) {
    const NAMES: [&str; 26] = [
        "Normal",
        "Paused",
        "Error",
        "PendingDeletion",
        "PaperJam",
        "PaperOut",
        "ManualFeed",
        "PaperProblem",
        "Offline",
        "IOActive",
        "Busy",
        "Printing",
        "OutputBinFull",
        "NotAvailable",
        "Waiting",
        "Processing",
        "Initialization",
        "WarmingUp",
        "TonerLow",
        "NoToner",
        "PagePunt",
        "UserIntervention",
        "OutOfMemory",
        "DoorOpen",
        "ServerUnknown",
        "PowerSave",
    ];
    let name = match v {
        serde_json::Value::Number(n) => {
            n.as_u64().and_then(|i| NAMES.get(i as usize)).copied().unwrap_or("Unknown").to_owned()
        }
        serde_json::Value::String(s) => s.clone(),
        _ => "Unknown".to_owned(),
    };
    let status = match name.as_str() {
        "Normal" | "TonerLow" | "PowerSave" | "WarmingUp" | "Initialization" | "Waiting" => PrinterStatus::Online,
        "IOActive" | "Busy" | "Printing" | "Processing" => PrinterStatus::Busy,
        "Paused" | "Offline" | "NotAvailable" | "PendingDeletion" | "ServerUnknown" => PrinterStatus::Offline,
        _ => PrinterStatus::Error,
    };
    (status, name)
}

#[async_trait]
impl Printer for CommandPrinter {
    fn describe(&self) -> String {
        let through = if self.spooler.is_some() { ", Windows spooler" } else { "" };
        format!("command printer {} ({}{through})", self.printer, self.print_command[0])
    }

    async fn status(&self) -> Result<PrinterState, PrinterError> {
        if let (None, Some(sp)) = (&self.status_command, &self.spooler) {
            return Ok(match sp.call(self.timeout, |s| s.printer()).await {
                Ok(p) => spooler::printer_state(&p),
                Err(e) => PrinterState {
                    status: PrinterStatus::Offline,
                    queue_length: None,
                    reasons: vec![],
                    message: Some(format!("printer {:?}: {e}", self.printer)),
                },
            });
        }
        let Some(cmd) = &self.status_command else {
            // Without a status command the printer is taken as online; print failures still count.
            return Ok(PrinterState {
                status: PrinterStatus::Online,
                queue_length: None,
                reasons: vec![],
                message: None,
            });
        };
        let args: Vec<String> = cmd.iter().map(|a| a.replace("{printer}", &self.printer)).collect();
        match run(&args, self.timeout, "the status command").await {
            Ok(out) => parse_status_json(&out).or_else(|e| {
                Ok(PrinterState {
                    status: PrinterStatus::Error,
                    queue_length: None,
                    reasons: vec![],
                    message: Some(e.to_string()),
                })
            }),
            Err(e) => Ok(PrinterState {
                status: PrinterStatus::Offline,
                queue_length: None,
                reasons: vec![],
                message: Some(e.to_string()),
            }),
        }
    }

    async fn capabilities(&self) -> Result<PrinterCapabilities, PrinterError> {
        Ok(self.capabilities.clone())
    }

    async fn submit(&self, job: &JobSpec) -> Result<String, PrinterError> {
        let dir = private_job_dir(&job.job_name).map_err(|e| {
            PrinterError::Transient(format!(
                "cannot create a folder for the job in {}: {e}",
                std::env::temp_dir().display()
            ))
        })?;
        let mut last_out = String::new();
        let n = job.documents.len();
        let result = async {
            for (i, doc) in job.documents.iter().enumerate() {
                // Named after the print job: the spooler's document name is the file's name (or path).
                let file = dir.join(format!("{}.pdf", part_name(&job.job_name, i + 1, n)));
                let step = async {
                    tokio::fs::copy(doc, &file)
                        .await
                        .map(drop)
                        .map_err(|e| PrinterError::Transient(format!("cannot write {}: {e}", file.display())))?;
                    let args = substitute(&self.print_command, job, &self.printer, &file.to_string_lossy());
                    let bytes = tokio::fs::metadata(&file).await.map(|m| m.len()).unwrap_or(0);
                    let limit = self.command_limit(bytes);
                    let Some(sp) = self.following() else {
                        return run(&args, limit, "the print command").await;
                    };
                    // Watch the queue while the command spools the document, and once more after it.
                    let watch = async {
                        loop {
                            tokio::time::sleep(WATCH_EVERY).await;
                            sp.look(self.timeout, &job.job_name).await;
                        }
                    };
                    let out = tokio::select! {
                        out = run(&args, limit, "the print command") => out,
                        _ = watch => unreachable!("the watch never ends"),
                    };
                    sp.look(self.timeout, &job.job_name).await;
                    out
                };
                last_out = match step.await {
                    Ok(out) => out,
                    // The earlier documents went to the spooler: sending the order again would print them
                    // twice.
                    Err(e) if i > 0 => {
                        return Err(PrinterError::Uncertain(format!(
                            "{e}, after document{} 1{} of {} had been sent",
                            if i > 1 { "s" } else { "" },
                            if i > 1 { format!("-{i}") } else { String::new() },
                            job.documents.len()
                        )))
                    }
                    Err(e) => return Err(e),
                };
            }
            Ok::<(), PrinterError>(())
        }
        .await;
        let _ = tokio::fs::remove_dir_all(&dir).await;
        result?;
        if let Some(sp) = self.following() {
            // The spooler's jobs of each document; a document it never listed counts on its command's
            // exit code alone.
            let parts = sp.seen.parts_of(&job.job_name);
            let mut refs = Vec::new();
            for k in 1..=n {
                let ids: Vec<String> =
                    parts.iter().filter(|(_, pk, pn)| *pk == k && *pn == n).map(|(id, ..)| id.to_string()).collect();
                if ids.is_empty() {
                    tracing::warn!(
                        order_id = %job.order_id,
                        "the print spooler never listed document {k} of {n} (named {:?}): counted as printed on \
                         the print command's exit code; does the command name the document after the file?",
                        part_name(&job.job_name, k, n)
                    );
                    refs.push(UNSEEN.to_owned());
                }
                refs.extend(ids);
            }
            return Ok(refs.join(","));
        }
        // `lp` prints "request id is Queue-12 (1 file(s))"; other commands print nothing useful.
        let reference = last_out
            .split_whitespace()
            .skip_while(|w| *w != "is")
            .nth(1)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("command:{}", job.job_name));
        Ok(reference)
    }

    async fn job_state(&self, job_ref: &str, job_name: &str) -> Result<JobState, PrinterError> {
        let Some(sp) = self.following() else {
            return Err(PrinterError::Unsupported(format!("{} cannot report job states", self.describe())));
        };
        let tokens: Vec<&str> = job_ref.split(',').map(str::trim).collect();
        if tokens.iter().any(|t| *t != UNSEEN && t.parse::<u32>().is_err()) {
            // A reference from a worker that could not follow jobs ("command:<name>"): asked by name.
            return Ok(self.find_job(job_name).await?.map_or(JobState::Absent, |f| f.state));
        }
        let mut states = Vec::new();
        let mut keeps_printed = None;
        for token in tokens {
            if token == UNSEEN {
                // The command said it printed, and the spooler never listed the job: with printed documents
                // kept it would still be listed. Nobody can say it printed.
                states.push(JobState::Absent);
                continue;
            }
            let id: u32 = token.parse().expect("checked above");
            let state = match sp.call(self.timeout, move |s| s.job(id)).await.map_err(spool_error)? {
                // The spooler gave the number to another document: ours is gone.
                Some(j) => sp.seen.observe(&j, job_name).unwrap_or(JobState::Absent),
                None => {
                    let keeps = match keeps_printed {
                        Some(k) => k,
                        None => *keeps_printed.insert(sp.keeps_printed_jobs(self.timeout).await?),
                    };
                    sp.seen.gone(id, job_name, keeps)
                }
            };
            states.push(state);
        }
        Ok(combine(&states))
    }

    async fn find_job(&self, job_name: &str) -> Result<Option<FoundJob>, PrinterError> {
        let Some(sp) = self.following() else {
            return Err(PrinterError::Unsupported(format!("{} cannot look jobs up by name", self.describe())));
        };
        let listed = sp.call(self.timeout, |s| s.jobs()).await.map_err(spool_error)?;
        let keeps = sp.keeps_printed_jobs(self.timeout).await?;
        Ok(spooler::find(&listed, &sp.seen, job_name, keeps))
    }

    async fn cancel(&self, job_ref: &str) -> Result<(), PrinterError> {
        let ids: Vec<u32> = job_ref.split(',').filter_map(|t| t.trim().parse().ok()).collect();
        let Some(sp) = self.spooler.as_ref().filter(|_| !ids.is_empty()) else {
            return Err(PrinterError::Unsupported(format!("{} cannot cancel jobs", self.describe())));
        };
        for id in ids {
            sp.call(self.timeout, move |s| s.delete(id)).await.map_err(spool_error)?;
            sp.seen.deleted(id);
        }
        Ok(())
    }

    fn can_look_up_jobs(&self) -> bool {
        self.following().is_some()
    }

    async fn setup_problem(&self) -> Option<String> {
        let sp = self.following()?;
        match sp.keeps_printed_jobs(self.timeout).await {
            Ok(true) => None,
            Ok(false) => Some(format!(
                "\"Keep printed documents\" is off for Windows printer {:?}: turn it on (Printer properties > \
                 Advanced > Keep printed documents) so the worker can read that a job printed; a job that leaves \
                 the queue may have been deleted (\"Cancel all documents\") or dropped half-spooled, so until then \
                 every order on it ends \"may have printed\"",
                self.printer
            )),
            Err(e) => Some(format!("cannot read the Windows printer's settings: {e}")),
        }
    }

    /// The spooler forgets a job once it has sent it to the printer (unless it keeps printed documents): a
    /// job it does not list may have printed, as after a printer's restart.
    async fn up_time(&self) -> Result<Option<Duration>, PrinterError> {
        let Some(sp) = self.following() else { return Ok(None) };
        Ok((!sp.keeps_printed_jobs(self.timeout).await?).then_some(Duration::ZERO))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn print_commands_run_in_a_job_with_a_memory_limit_and_no_user_interface_reach() {
        let r = JobLimits::running();
        // KILL_ON_JOB_CLOSE | JOB_MEMORY | DIE_ON_UNHANDLED_EXCEPTION, as in winnt.h.
        assert_eq!(r.limit_flags, 0x2000 | 0x200 | 0x400);
        assert_eq!(r.job_memory, 2 * 1024 * 1024 * 1024);
        // HANDLES, READ/WRITECLIPBOARD, SYSTEMPARAMETERS, DISPLAYSETTINGS, GLOBALATOMS, DESKTOP, EXITWINDOWS.
        assert_eq!(r.ui_restrictions, 0xff);
        // Released after a zero exit: not killed, still limited.
        let released = JobLimits::released();
        assert_eq!(released.limit_flags, 0x200 | 0x400);
        assert_eq!((released.job_memory, released.ui_restrictions), (r.job_memory, r.ui_restrictions));
        assert_eq!(JobLimits::kill_only(), JobLimits { limit_flags: 0x2000, job_memory: 0, ui_restrictions: 0 });
    }

    #[test]
    fn powershell_get_printer_json_maps_onto_statuses() {
        let s = parse_status_json(r#"{"Name":"HP","PrinterStatus":0,"JobCount":2}"#).unwrap();
        assert_eq!((s.status, s.queue_length), (PrinterStatus::Online, Some(2)));
        let s = parse_status_json(r#"[{"Name":"HP","PrinterStatus":8,"JobCount":0}]"#).unwrap();
        assert_eq!(s.status, PrinterStatus::Offline);
        assert!(s.message.unwrap().contains("Offline"));
        assert_eq!(parse_status_json(r#"{"PrinterStatus":"PaperJam"}"#).unwrap().status, PrinterStatus::Error);
        assert_eq!(parse_status_json(r#"{"PrinterStatus":11}"#).unwrap().status, PrinterStatus::Busy);
        assert!(parse_status_json("not json").is_err());
    }
}
