//! The worker's configuration: a TOML file (`worker.example.toml` explains every setting), then
//! environment variables, then command-line flags, each overriding the one before.

use crate::backends::{CommandPrinter, FilePrinter, IppPrinter};
use crate::health::PrinterIdentity;
use crate::printer::Printer;
use printcore::files::{ContainedValidator, FilePolicy, Validator, WarmValidator};
use printcore::{CoreConfig, LogDelivery, PrinterCapabilities};
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Everything the worker reads from its file. Every field has a default except the printers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub database: DatabaseConfig,
    pub worker: WorkerConfig,
    pub files: FilesConfig,
    pub validation: ValidationConfig,
    /// The health endpoint (`/healthz`, `/metrics`); off unless `listen` is set.
    pub http: crate::http::HttpConfig,
    /// Alerts by webhook and e-mail (`crate::alerts`); none without an `[alerts]` section.
    pub alerts: Option<crate::alerts::AlertsConfig>,
    pub printers: Vec<PrinterConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// The connection string. Never logged with its password. Overridden by the systemd credential
    /// `mongodb_uri` (`$CREDENTIALS_DIRECTORY/mongodb_uri`), which `MONGODB_URI` and `--mongodb-uri`
    /// override in turn. A file every user can read must not hold a password here (see `from_file`).
    pub uri: Option<String>,
    /// The website's database name (also `PRINTCORE_DB`).
    pub name: String,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { uri: None, name: "printshop".into() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Seconds between polls for new orders when change streams are not available (and as a safety net).
    pub poll_interval_secs: f64,
    /// With change streams: seconds between safety sweeps (claim, rejection, cancel requests) when no
    /// event asked for them.
    pub sweep_interval_secs: f64,
    /// How long each change-stream getMore waits on the database server for the next event (one
    /// command per stream per wait while idle; events arrive at once whatever this is).
    pub change_stream_wait_secs: f64,
    /// A printer reading that has not changed is written to `printers` again after this many seconds
    /// (a changed one at once).
    pub health_record_secs: f64,
    /// With change streams and other print PCs whose printers take the same orders: each paid order is
    /// one PC's to claim at once, and another's after this many seconds if it still waits (that PC stopped,
    /// or its printers were all busy), instead of every PC claiming every order. Longer while the database
    /// is slow to answer: four times this PC's recent claim time, when that is more.
    pub claim_fallback_secs: f64,
    /// Seconds between full health passes over every printer (a busy printer is asked again sooner).
    pub health_interval_secs: f64,
    /// How long a claim holds an order; renewed every third of it while printing.
    pub lease_secs: f64,
    pub recovery_interval_secs: f64,
    pub stuck_check_interval_secs: f64,
    /// The backstop for a print that hangs (minutes).
    pub stuck_after_minutes: f64,
    pub metrics_interval_secs: f64,
    /// How often a job at the printer is asked for its state, and a printer busy with another
    /// computer's job is asked whether it is free.
    pub job_poll_interval_secs: f64,
    /// On shutdown, how long a job already at the printer may take to finish.
    pub shutdown_grace_secs: f64,
    pub max_attempts: i64,
    pub backoff_base_secs: f64,
    pub backoff_max_secs: f64,
    /// Jobs at once per printer (1: one at a time).
    pub jobs_per_printer: usize,
    /// "human" or "json".
    pub log_format: String,
    /// Use change streams when the deployment has them.
    pub change_streams: bool,
    /// The print PC's journal of jobs sent (JSON lines, flushed to disk at each step), so a worker that
    /// restarts after the database was away knows what its printers took. Default: beside the
    /// configuration file, named after it (`worker.toml` -> `worker.journal.jsonl`), else in the system's
    /// temporary folder. Under systemd with `StateDirectory=` (`$STATE_DIRECTORY` set), in that folder
    /// under the same name instead: the configuration's folder is read-only to the service.
    /// Keep it on a disk that survives a reboot.
    pub journal_path: Option<std::path::PathBuf>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            poll_interval_secs: 5.0,
            sweep_interval_secs: 120.0,
            change_stream_wait_secs: 60.0,
            health_record_secs: 120.0,
            claim_fallback_secs: 0.5,
            health_interval_secs: 30.0,
            lease_secs: 120.0,
            recovery_interval_secs: 120.0,
            stuck_check_interval_secs: 300.0,
            stuck_after_minutes: 30.0,
            metrics_interval_secs: 300.0,
            job_poll_interval_secs: 1.0,
            shutdown_grace_secs: 60.0,
            max_attempts: 5,
            backoff_base_secs: 30.0,
            backoff_max_secs: 900.0,
            jobs_per_printer: 1,
            log_format: "human".into(),
            change_streams: true,
            journal_path: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesConfig {
    pub allowed_hosts: Vec<String>,
    pub max_mb: f64,
    pub connect_timeout_secs: f64,
    pub read_timeout_secs: f64,
    pub total_timeout_secs: f64,
    pub retries: u32,
    /// For a file server on the shop's own network.
    pub allow_private_addresses: bool,
    /// Tests and demos only.
    pub allow_loopback: bool,
    /// Tests and demos only.
    pub allow_http: bool,
    /// The most files one order may have (`fileURLs`).
    pub max_files_per_order: usize,
    /// The most MB one order's files may have together.
    pub max_order_mb: f64,
    /// The most pages one file may have.
    pub max_pages: u32,
    /// The most pages one order may print: its files' pages times its copies.
    pub max_order_pages: u64,
    /// Where each print job's files are kept while it prints (a private folder per job, removed
    /// afterwards). Default: the system's temporary folder.
    pub work_dir: Option<PathBuf>,
}

impl Default for FilesConfig {
    fn default() -> Self {
        let p = FilePolicy::default();
        FilesConfig {
            allowed_hosts: p.allowed_hosts,
            max_mb: p.max_bytes as f64 / 1_048_576.0,
            connect_timeout_secs: p.connect_timeout.as_secs_f64(),
            read_timeout_secs: p.read_timeout.as_secs_f64(),
            total_timeout_secs: p.total_timeout.as_secs_f64(),
            retries: p.retries,
            allow_private_addresses: false,
            allow_loopback: false,
            allow_http: false,
            max_files_per_order: p.max_files_per_order,
            max_order_mb: p.max_order_bytes as f64 / 1_048_576.0,
            max_pages: p.max_pages,
            max_order_pages: p.max_order_pages,
            work_dir: None,
        }
    }
}

/// How downloaded PDFs are validated: in a child process of the worker with limits (the default), so a
/// file that crashes, exhausts or hangs the PDF parser fails its order and nothing else.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValidationConfig {
    /// "contained" (a child process with the limits below) or "in-process" (no child: only for tests
    /// and measurements).
    pub mode: String,
    /// The child's address-space limit (RLIMIT_AS; on Windows the job object's memory limit), in MB.
    pub memory_mb: u64,
    /// The child's CPU-time limit (RLIMIT_CPU; on Windows the job's user time), in seconds.
    pub cpu_secs: u64,
    /// The child is killed after this many seconds, whatever it is doing.
    pub timeout_secs: f64,
    /// Files one child validates before a fresh one is started (1: a child per file). Each file has
    /// the whole memory, CPU and time budget either way; a child that crashed, hit a limit or timed out
    /// is never given another file. Unix only: on Windows a child per file.
    pub files_per_child: u64,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        ValidationConfig {
            mode: "contained".into(),
            memory_mb: 1024,
            cpu_secs: 30,
            timeout_secs: 60.0,
            files_per_child: 1,
        }
    }
}

/// One printer this worker drives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrinterConfig {
    /// The stable id in `printers.printer_id` and `orders.printerId`.
    pub id: String,
    /// The shop's name for it.
    pub name: String,
    /// "ipp", "command" or "file".
    pub backend: String,
    /// ipp: the printer's or CUPS queue's URI.
    pub uri: Option<String>,
    /// command: the printer's name as the command knows it.
    pub printer_name: Option<String>,
    /// command: the print command as a list of arguments with placeholders.
    pub print_command: Option<Vec<String>>,
    /// command: an optional status command printing JSON.
    pub status_command: Option<Vec<String>>,
    /// command, Windows: read the printer's state and follow its jobs through the Windows print spooler,
    /// where `printer_name` is the printer's name (default true on Windows; false for a command that does
    /// not print through the spooler).
    pub spooler: Option<bool>,
    /// file: the folder jobs are written into.
    pub folder: Option<PathBuf>,
    /// Seconds each request to the printer may take.
    #[serde(default = "default_printer_timeout")]
    pub timeout_secs: f64,
    /// What the printer takes. Read from an IPP printer when not given; required for command printers
    /// (defaults: A4, mono, one-sided, 99 copies).
    pub capabilities: Option<PrinterCapabilities>,
    /// How long the printer keeps a completed job in its list of jobs, in seconds (0: it does not; a
    /// CUPS server with `PreserveJobHistory No`). Measured on the worker's own jobs when not given. Only a
    /// printer whose history is known can prove, by not listing a job, that it never received it.
    pub job_history_secs: Option<f64>,
    /// Whether the printer shows this worker the names of its jobs (CUPS hides them from other users with
    /// `JobPrivateValues`). Measured when not given.
    pub job_names_visible: Option<bool>,
    /// command: the slowest rate, in MB per second, at which the print command takes a document; its time
    /// limit is `timeout_secs` plus the document's size at this rate (default 0.25: a 24 MB poster gets
    /// 96 s more), so a big file is not killed while it spools.
    pub command_min_rate_mb_s: Option<f64>,
    /// ipp: create each job before its documents (IPP Create-Job, then Send-Document), so its id is stored
    /// before anything that could print goes out. Read from the printer's `operations-supported` when not
    /// given; `false` sends Print-Job to a printer whose Create-Job misbehaves.
    pub create_job: Option<bool>,
    pub system_name: Option<String>,
    pub connection_type: Option<String>,
    pub driver_name: Option<String>,
}

fn default_printer_timeout() -> f64 {
    10.0
}

/// A configuration problem, said so that the person fixing the file knows where.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn secs(v: f64, what: &str) -> Result<Duration, ConfigError> {
    if !(v.is_finite() && v > 0.0) {
        return Err(ConfigError(format!("{what} must be a positive number of seconds (got {v})")));
    }
    Duration::try_from_secs_f64(v).map_err(|_| ConfigError(format!("{what} is too large (got {v})")))
}

impl Config {
    /// Reads a TOML file, then what systemd hands the service (`deploy/printcore-worker.service`): the
    /// connection string from the credential `mongodb_uri` in `$CREDENTIALS_DIRECTORY`, and the journal's
    /// default folder from `$STATE_DIRECTORY`. Without these variables, the file alone. On Unix, a file
    /// that every user of the computer can read and that holds the database password is refused.
    pub fn from_file(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read the configuration file {}: {e}", path.display())))?;
        let mut c = Config::from_toml(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        #[cfg(unix)]
        if let Some(problem) = exposed_password(path, &c) {
            return Err(ConfigError(problem));
        }
        let dir = |var: &str| std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from);
        c.apply_service_environment(path, dir("CREDENTIALS_DIRECTORY").as_deref(), dir("STATE_DIRECTORY").as_deref())?;
        Ok(c)
    }

    /// The systemd lookups of [`Config::from_file`], given the two folders (`None`: not set).
    pub fn apply_service_environment(
        &mut self,
        config_path: &std::path::Path,
        credentials: Option<&std::path::Path>,
        state: Option<&std::path::Path>,
    ) -> Result<(), ConfigError> {
        if let Some(dir) = credentials {
            let path = dir.join(URI_CREDENTIAL);
            match std::fs::read_to_string(&path) {
                // Never the content in an error: it is the password.
                Ok(text) if text.trim().is_empty() => {
                    return Err(ConfigError(format!("the credential {} is empty", path.display())))
                }
                Ok(text) => self.database.uri = Some(text.trim().to_owned()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(ConfigError(format!("cannot read the credential {}: {e}", path.display()))),
            }
        }
        // `StateDirectory=a b` sets `$STATE_DIRECTORY` to `/var/lib/a:/var/lib/b`: the first.
        let state = state.and_then(|s| std::env::split_paths(s).next()).filter(|s| !s.as_os_str().is_empty());
        if let (None, Some(dir)) = (&self.worker.journal_path, state) {
            let stem = config_path.file_stem().map(|s| s.to_string_lossy().into_owned());
            self.worker.journal_path = Some(dir.join(format!("{}.journal.jsonl", stem.as_deref().unwrap_or("worker"))));
        }
        Ok(())
    }

    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError(format!("the configuration is not valid: {e}")))
    }

    /// Checks everything that can be checked without a network: intervals, printers, backends.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let uri = self.database.uri.as_deref().unwrap_or("");
        if uri.trim().is_empty() {
            return Err(ConfigError("no database: set MONGODB_URI, --mongodb-uri or [database] uri".into()));
        }
        if let Some(problem) = printcore::db::redact::credentials_problem(uri) {
            return Err(ConfigError(format!(
                "the database connection string (MONGODB_URI, --mongodb-uri or [database] uri: {}): {problem}",
                redact_uri(uri)
            )));
        }
        if self.database.name.trim().is_empty() {
            return Err(ConfigError("the database name is empty: set [database] name or PRINTCORE_DB".into()));
        }
        self.core_config()?;
        self.file_policy()?;
        self.validator(PathBuf::from("worker"))?;
        self.http.address()?;
        if self.printers.is_empty() {
            return Err(ConfigError("no printers configured: add at least one [[printers]] section".into()));
        }
        let mut ids = std::collections::HashSet::new();
        for p in &self.printers {
            if !ids.insert(p.id.as_str()) {
                return Err(ConfigError(format!("printer id {:?} is used twice", p.id)));
            }
            self.build_printer(p)?;
        }
        if let Some(a) = &self.alerts {
            a.validate().map_err(ConfigError)?;
        }
        if self.worker.jobs_per_printer == 0 {
            return Err(ConfigError("jobs_per_printer must be at least 1".into()));
        }
        if !matches!(self.worker.log_format.as_str(), "human" | "json") {
            return Err(ConfigError(format!(
                "log_format must be \"human\" or \"json\", not {:?}",
                self.worker.log_format
            )));
        }
        for (v, what) in [
            (self.worker.poll_interval_secs, "poll_interval_secs"),
            (self.worker.sweep_interval_secs, "sweep_interval_secs"),
            (self.worker.change_stream_wait_secs, "change_stream_wait_secs"),
            (self.worker.health_record_secs, "health_record_secs"),
            (self.worker.claim_fallback_secs, "claim_fallback_secs"),
            (self.worker.health_interval_secs, "health_interval_secs"),
            (self.worker.recovery_interval_secs, "recovery_interval_secs"),
            (self.worker.stuck_check_interval_secs, "stuck_check_interval_secs"),
            (self.worker.metrics_interval_secs, "metrics_interval_secs"),
            (self.worker.job_poll_interval_secs, "job_poll_interval_secs"),
            (self.worker.shutdown_grace_secs, "shutdown_grace_secs"),
        ] {
            secs(v, what)?;
        }
        Ok(())
    }

    /// The queue rules for printcore.
    pub fn core_config(&self) -> Result<CoreConfig, ConfigError> {
        let w = &self.worker;
        let c = CoreConfig {
            lease: secs(w.lease_secs, "lease_secs")?,
            max_attempts: w.max_attempts,
            backoff_base: secs(w.backoff_base_secs, "backoff_base_secs")?,
            backoff_max: secs(w.backoff_max_secs, "backoff_max_secs")?,
            stuck_after: secs(w.stuck_after_minutes * 60.0, "stuck_after_minutes")?,
            log_delivery: LogDelivery::Background,
            ..CoreConfig::default()
        };
        c.validate().map_err(|e| ConfigError(e.to_string()))?;
        Ok(c)
    }

    pub fn file_policy(&self) -> Result<FilePolicy, ConfigError> {
        let f = &self.files;
        if f.allowed_hosts.is_empty() {
            return Err(ConfigError("[files] allowed_hosts is empty: no file could be downloaded".into()));
        }
        for entry in &f.allowed_hosts {
            if let Some(problem) = allowed_host_problem(entry) {
                return Err(ConfigError(format!("[files] allowed_hosts: {entry:?} is not a host name: {problem}")));
            }
        }
        if !(f.max_mb.is_finite() && f.max_mb * 1_048_576.0 >= 1.0) {
            return Err(ConfigError(format!(
                "[files] max_mb must be a positive number of megabytes, e.g. 100 (got {})",
                f.max_mb
            )));
        }
        if f.max_files_per_order == 0 {
            return Err(ConfigError("[files] max_files_per_order must be at least 1".into()));
        }
        if f.max_pages == 0 {
            return Err(ConfigError("[files] max_pages must be at least 1 (default 2000)".into()));
        }
        if f.max_order_pages < u64::from(f.max_pages) {
            return Err(ConfigError(format!(
                "[files] max_order_pages ({}) must be at least max_pages ({}): one copy of a file of max_pages \
                 pages could never print",
                f.max_order_pages, f.max_pages
            )));
        }
        if !(f.max_order_mb.is_finite() && f.max_order_mb >= f.max_mb) {
            return Err(ConfigError(format!(
                "[files] max_order_mb must be a number of megabytes at least max_mb ({}), got {}",
                f.max_mb, f.max_order_mb
            )));
        }
        Ok(FilePolicy {
            allowed_hosts: f.allowed_hosts.clone(),
            allow_http: f.allow_http,
            allow_loopback: f.allow_loopback,
            allow_private: f.allow_private_addresses,
            max_bytes: (f.max_mb * 1_048_576.0) as u64,
            connect_timeout: secs(f.connect_timeout_secs, "connect_timeout_secs")?,
            read_timeout: secs(f.read_timeout_secs, "read_timeout_secs")?,
            total_timeout: secs(f.total_timeout_secs, "total_timeout_secs")?,
            retries: f.retries,
            retry_backoff: Duration::from_millis(500),
            max_files_per_order: f.max_files_per_order,
            max_order_bytes: (f.max_order_mb * 1_048_576.0) as u64,
            max_pages: f.max_pages,
            max_order_pages: f.max_order_pages,
            work_dir: f.work_dir.clone(),
            // In this process until the binary names itself: see `validator`.
            validator: Validator::InProcess,
        })
    }

    /// The validator the configuration asks for. `program` is the worker's own binary
    /// (`std::env::current_exe()`), which validates in a child with `validate-pdf`.
    pub fn validator(&self, program: PathBuf) -> Result<Validator, ConfigError> {
        let v = &self.validation;
        match v.mode.as_str() {
            "in-process" => Ok(Validator::InProcess),
            "contained" => {
                // Below this not even a small file can be read and parsed.
                if v.memory_mb < 128 {
                    return Err(ConfigError(format!(
                        "[validation] memory_mb must be at least 128 (got {})",
                        v.memory_mb
                    )));
                }
                if v.cpu_secs == 0 {
                    return Err(ConfigError("[validation] cpu_secs must be at least 1".into()));
                }
                if v.files_per_child == 0 {
                    return Err(ConfigError("[validation] files_per_child must be at least 1".into()));
                }
                let contained = ContainedValidator {
                    program,
                    args: vec![
                        "validate-pdf".into(),
                        "--memory-mb".into(),
                        v.memory_mb.to_string(),
                        "--cpu-secs".into(),
                        v.cpu_secs.to_string(),
                    ],
                    timeout: secs(v.timeout_secs, "[validation] timeout_secs")?,
                };
                if v.files_per_child == 1 || !cfg!(unix) {
                    return Ok(Validator::Contained(contained));
                }
                // As many warm children as files can be validated at once: one per job slot.
                let slots = self.printers.len().max(1) * self.worker.jobs_per_printer.max(1);
                Ok(Validator::Warm(WarmValidator::new(contained, slots, v.files_per_child)))
            }
            other => {
                Err(ConfigError(format!("[validation] mode must be \"contained\" or \"in-process\", not {other:?}")))
            }
        }
    }

    /// The backend for one printer.
    pub fn build_printer(&self, p: &PrinterConfig) -> Result<Arc<dyn Printer>, ConfigError> {
        let timeout = secs(p.timeout_secs, &format!("printer {} timeout_secs", p.id))?;
        let err = |m: String| ConfigError(format!("printer {:?}: {m}", p.id));
        if p.command_min_rate_mb_s.is_some() && p.backend != "command" {
            return Err(err("command_min_rate_mb_s is a setting of the command backend".into()));
        }
        if p.create_job.is_some() && p.backend != "ipp" {
            return Err(err("create_job is a setting of the ipp backend".into()));
        }
        if p.spooler.is_some() && p.backend != "command" {
            return Err(err("spooler is a setting of the command backend".into()));
        }
        Ok(match p.backend.as_str() {
            "ipp" => {
                let uri =
                    p.uri.as_deref().ok_or_else(|| err("the ipp backend needs uri = \"ipp://host/...\"".into()))?;
                Arc::new(IppPrinter::new(uri, timeout).map_err(|e| err(e.to_string()))?.with_create_job(p.create_job))
            }
            "command" => {
                let cmd = p
                    .print_command
                    .clone()
                    .ok_or_else(|| err("the command backend needs print_command = [...]".into()))?;
                let name = p.printer_name.clone().unwrap_or_else(|| p.name.clone());
                let caps = p.capabilities.clone().unwrap_or_default();
                let mut printer = CommandPrinter::new(&name, cmd, p.status_command.clone(), timeout, caps)
                    .map_err(|e| err(e.to_string()))?;
                if let Some(rate) = p.command_min_rate_mb_s {
                    if !(rate.is_finite() && rate > 0.0) {
                        return Err(err(format!("command_min_rate_mb_s must be a positive number (got {rate})")));
                    }
                    printer = printer.with_min_rate(rate * 1024.0 * 1024.0);
                }
                #[cfg(windows)]
                let printer = if p.spooler.unwrap_or(true) {
                    printer.with_spooler(Arc::new(crate::backends::spooler::win::Spooler::new(&name)))
                } else {
                    printer
                };
                #[cfg(not(windows))]
                if p.spooler == Some(true) {
                    return Err(err("spooler = true needs Windows' print spooler; remove it on this system".into()));
                }
                Arc::new(printer)
            }
            "file" => {
                let folder = p.folder.clone().ok_or_else(|| err("the file backend needs folder = \"...\"".into()))?;
                let caps = p.capabilities.clone().unwrap_or(PrinterCapabilities {
                    page_sizes: ["A4", "A3", "A5", "Letter", "Legal"].map(String::from).to_vec(),
                    color: true,
                    duplex: true,
                    max_copies: 999,
                });
                Arc::new(FilePrinter::new(folder, caps))
            }
            other => return Err(err(format!("unknown backend {other:?}; use \"ipp\", \"command\" or \"file\""))),
        })
    }

    /// What is configured of the printer's job history (the rest is measured).
    pub fn history(&self, p: &PrinterConfig) -> Result<crate::history::JobHistory, ConfigError> {
        let keep = match p.job_history_secs {
            Some(0.0) => Some(std::time::Duration::ZERO),
            Some(v) => Some(secs(v, &format!("printer {} job_history_secs", p.id))?),
            None => None,
        };
        Ok(crate::history::JobHistory::configured(keep, p.job_names_visible))
    }

    /// The identity reported with the printer's health.
    pub fn identity(&self, p: &PrinterConfig) -> PrinterIdentity {
        let printer_name = match p.backend.as_str() {
            "ipp" => p.uri.clone().map(|u| redact_uri(&u)).unwrap_or_default(),
            "file" => p.folder.as_ref().map(|f| f.display().to_string()).unwrap_or_default(),
            _ => p.printer_name.clone().unwrap_or_else(|| p.name.clone()),
        };
        PrinterIdentity {
            printer_id: p.id.clone(),
            name: p.name.clone(),
            printer_name,
            driver_name: p.driver_name.clone().or_else(|| Some(format!("printcore {} backend", p.backend))),
            system_name: p.system_name.clone().or_else(|| Some(if cfg!(windows) { "Windows" } else { "Linux" }.into())),
            connection_type: p.connection_type.clone(),
        }
    }
}

/// Why an `allowed_hosts` entry is not a host name, or `None`: printcore's one rule, which the website's
/// `PRINTCORE_FILE_HOSTS` (the npm package's `allowedHosts`) follows too.
pub use printcore::files::allowed_host_problem;

/// A connection string or URI with its password replaced by `****` (printcore's one redaction).
pub use printcore::redact_uri;

/// The name of the systemd credential holding the connection string (`LoadCredential=mongodb_uri:...`).
pub const URI_CREDENTIAL: &str = "mongodb_uri";

/// Why `path` must not be used as it is: it holds the database password (anything [`redact_uri`] hides)
/// and every user of this computer may read it. A systemd `DynamicUser=` service reads its configuration
/// as "other", so its password belongs in the credential instead.
#[cfg(unix)]
fn exposed_password(path: &std::path::Path, c: &Config) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let uri = c.database.uri.as_deref()?;
    if redact_uri(uri) == uri {
        return None;
    }
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o004 != 0).then(|| {
        format!(
            "{} holds the database password ([database] uri) and every user of this computer can read it \
             (mode {mode:o}): move the connection string out of it (the systemd unit's credential \
             /etc/credstore/printcore-worker.{URI_CREDENTIAL}, see deploy/install.sh; or MONGODB_URI), or make \
             the file readable by its owner only (chmod 600)",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_files(files: &str) -> Config {
        let mut c = Config::from_toml(&format!(
            "[files]\n{files}\n[[printers]]\nid = \"a\"\nname = \"A\"\nbackend = \"file\"\nfolder = \"/tmp/x\"\n"
        ))
        .unwrap();
        c.database.uri = Some("mongodb://127.0.0.1".into());
        c
    }

    #[test]
    fn max_mb_must_be_finite_and_positive() {
        for v in ["0", "-1", "nan", "inf", "-inf", "1e-12"] {
            let e = with_files(&format!("max_mb = {v}")).validate().unwrap_err().to_string();
            assert!(e.contains("max_mb"), "{v}: {e}");
        }
        with_files("max_mb = 0.5").validate().unwrap();
    }

    #[test]
    fn allowed_hosts_must_be_host_names() {
        for bad in [
            "com",
            "*.x",
            "*.cloudinary.com",
            "",
            " ",
            "https://res.cloudinary.com",
            "res.cloudinary.com:https",
            "res.cloudinary.com/path",
            "user@res.cloudinary.com",
            "::1",
            "bad..name",
            "-x.example",
            "x.123",
            "bücher.example",
        ] {
            let e = with_files(&format!("allowed_hosts = [\"res.cloudinary.com\", {bad:?}]"))
                .validate()
                .expect_err(bad)
                .to_string();
            assert!(e.contains("allowed_hosts") && e.contains(&format!("{bad:?}")), "{bad}: {e}");
        }
        for good in [
            "res.cloudinary.com",
            "Files.MyShop.example.",
            "localhost",
            "127.0.0.1",
            "192.168.1.20",
            "[fd12::1]",
            "xn--bcher-kva.example",
        ] {
            with_files(&format!("allowed_hosts = [{good:?}]")).validate().expect(good);
        }
    }

    #[test]
    fn the_example_file_is_valid() {
        let text = include_str!("../worker.example.toml");
        let mut c = Config::from_toml(text).expect("the example parses");
        c.database.uri = Some("mongodb://127.0.0.1".into());
        c.validate().expect("the example validates");
    }

    #[test]
    fn mistakes_are_named() {
        let e = Config::from_toml("[worker]\npoll_intervall_secs = 5\n").unwrap_err().to_string();
        assert!(e.contains("poll_intervall_secs"), "{e}");
        let mut c = Config::from_toml("[[printers]]\nid = \"a\"\nname = \"A\"\nbackend = \"laser\"\n").unwrap();
        c.database.uri = Some("mongodb://x".into());
        assert!(c.validate().unwrap_err().to_string().contains("unknown backend"));
    }

    #[test]
    fn validation_and_order_limits_are_checked_and_name_their_key() {
        let printer = "[[printers]]\nid = \"a\"\nname = \"A\"\nbackend = \"file\"\nfolder = \"/tmp/x\"\n";
        let check = |extra: &str| {
            let mut c = Config::from_toml(&format!("{extra}\n{printer}")).unwrap();
            c.database.uri = Some("mongodb://x".into());
            c.validate().map_err(|e| e.to_string())
        };
        assert!(check("").is_ok());
        for (bad, key) in [
            ("[validation]\nmode = \"sandbox\"", "[validation] mode"),
            ("[validation]\nmemory_mb = 16", "[validation] memory_mb"),
            ("[validation]\ncpu_secs = 0", "[validation] cpu_secs"),
            ("[validation]\ntimeout_secs = -1.0", "timeout_secs"),
            ("[files]\nmax_files_per_order = 0", "max_files_per_order"),
            ("[files]\nmax_order_mb = 10.0", "max_order_mb"),
            ("[files]\nmax_pages = 0", "max_pages"),
            ("[files]\nmax_order_pages = 100", "max_order_pages"),
        ] {
            let e = check(bad).unwrap_err();
            assert!(e.contains(key), "{bad}: {e}");
        }
        let c = Config::default();
        let Validator::Contained(v) = c.validator(PathBuf::from("/opt/worker")).unwrap() else {
            panic!("contained by default")
        };
        assert_eq!(v.program, PathBuf::from("/opt/worker"));
        assert_eq!(v.args, ["validate-pdf", "--memory-mb", "1024", "--cpu-secs", "30"]);
        assert_eq!(v.timeout, Duration::from_secs(60));
    }

    const PRINTER: &str = "[[printers]]\nid = \"a\"\nname = \"A\"\nbackend = \"file\"\nfolder = \"/tmp/x\"\n";

    #[test]
    fn the_systemd_credential_and_state_directory_are_used_when_set_and_only_then() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("shop.toml");
        let file = || {
            let mut c = Config::from_toml(&format!("[database]\nuri = \"mongodb://file/\"\n{PRINTER}")).unwrap();
            c.worker.journal_path = None;
            c
        };
        // Neither set: the file's settings, the journal left to its default beside the file.
        let mut c = file();
        c.apply_service_environment(&config, None, None).unwrap();
        assert_eq!(c.database.uri.as_deref(), Some("mongodb://file/"));
        assert_eq!(c.worker.journal_path, None);
        // A credentials folder without this credential (another one of the unit's): the file's.
        let creds = dir.path().join("creds");
        std::fs::create_dir(&creds).unwrap();
        c.apply_service_environment(&config, Some(&creds), None).unwrap();
        assert_eq!(c.database.uri.as_deref(), Some("mongodb://file/"));
        // The credential (its trailing newline dropped) wins over the file; the journal goes to the first
        // state folder, named after the configuration.
        std::fs::write(creds.join(URI_CREDENTIAL), "mongodb://shop:s3cret@db.example/printshop\n").unwrap();
        let mut c = file();
        c.apply_service_environment(&config, Some(&creds), Some(std::path::Path::new("/var/lib/pw:/var/lib/other")))
            .unwrap();
        assert_eq!(c.database.uri.as_deref(), Some("mongodb://shop:s3cret@db.example/printshop"));
        assert_eq!(c.worker.journal_path, Some(PathBuf::from("/var/lib/pw/shop.journal.jsonl")));
        // A journal_path in the file stays.
        let mut c = file();
        c.worker.journal_path = Some("/srv/j.jsonl".into());
        c.apply_service_environment(&config, None, Some(std::path::Path::new("/var/lib/pw"))).unwrap();
        assert_eq!(c.worker.journal_path, Some(PathBuf::from("/srv/j.jsonl")));
        // An empty or unreadable credential is an error naming the file, never its content.
        std::fs::write(creds.join(URI_CREDENTIAL), " \n").unwrap();
        let e = file().apply_service_environment(&config, Some(&creds), None).unwrap_err().to_string();
        assert!(e.contains("mongodb_uri") && e.contains("empty"), "{e}");
        std::fs::remove_file(creds.join(URI_CREDENTIAL)).unwrap();
        std::fs::create_dir(creds.join(URI_CREDENTIAL)).unwrap();
        let e = file().apply_service_environment(&config, Some(&creds), None).unwrap_err().to_string();
        assert!(e.contains("cannot read the credential"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_password_in_a_file_every_user_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("worker.toml");
        let set = |uri: &str, mode: u32| {
            std::fs::write(&path, format!("[database]\nuri = \"{uri}\"\n{PRINTER}")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            Config::from_file(&path).map(|_| ()).map_err(|e| e.to_string())
        };
        for secret in ["mongodb://shop:Pa55word@db.example/", "mongodb://db.example/?tlsCertificateKeyFilePassword=x"] {
            let e = set(secret, 0o644).unwrap_err();
            assert!(e.contains("every user") && e.contains("mode 644") && e.contains("chmod 600"), "{e}");
            assert!(!e.contains("Pa55word"), "{e}");
            assert!(set(secret, 0o604).is_err());
            set(secret, 0o600).expect("readable by its owner only");
            set(secret, 0o640).expect("readable by its group: the owner's choice");
        }
        set("mongodb://127.0.0.1:27017/", 0o644).expect("no password in it");
    }
}
