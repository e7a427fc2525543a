//! `worker`: the print worker on the shop's print PC.
//!
//! `worker run` (the default) prints paid orders; `worker migrate` prepares the database; `worker printers`
//! shows each configured printer live; `worker check` checks the configuration, the database and every
//! printer and exits non-zero when something is wrong; on Windows `worker service ...` installs and
//! controls the worker as a Windows service (`printworker::winservice`). Configuration: a TOML file
//! (`--config`, see `worker.example.toml`), then environment variables, then flags; flags win.

use clap::{Parser, Subcommand};
use printcore::files::FileFetcher;
use printcore::{MigrateOptions, PrintCore, PrinterRegistration, WorkerId};
use printworker::config::{redact_uri, Config, ConfigError};
use printworker::service::{Intervals, PrinterSlot, Worker};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(
    name = "worker",
    version,
    about = "The print worker: claims paid orders from MongoDB and prints each exactly once."
)]
struct Cli {
    /// The configuration file (TOML). Settings it leaves out take their defaults.
    #[arg(long, short, env = "PRINTCORE_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// The MongoDB connection string (overrides [database] uri). Its password is never printed.
    #[arg(long, env = "MONGODB_URI", global = true, hide_env_values = true)]
    mongodb_uri: Option<String>,
    /// The website's database name (overrides [database] name).
    #[arg(long = "db", env = "PRINTCORE_DB", global = true)]
    db: Option<String>,
    /// Log one JSON object per line instead of human-readable lines.
    #[arg(long, env = "PRINTCORE_LOG_JSON", global = true)]
    log_json: bool,
    /// Seconds between polls for new orders (overrides [worker] poll_interval_secs).
    #[arg(long, env = "PRINTCORE_POLL_INTERVAL", global = true)]
    poll_interval: Option<f64>,
    /// Seconds between printer health checks.
    #[arg(long, env = "PRINTCORE_HEALTH_INTERVAL", global = true)]
    health_interval: Option<f64>,
    /// Seconds a claim lasts without renewal.
    #[arg(long, env = "PRINTCORE_LEASE", global = true)]
    lease: Option<f64>,
    /// Seconds between recovery sweeps.
    #[arg(long, env = "PRINTCORE_RECOVERY_INTERVAL", global = true)]
    recovery_interval: Option<f64>,
    /// Seconds between metrics samples.
    #[arg(long, env = "PRINTCORE_METRICS_INTERVAL", global = true)]
    metrics_interval: Option<f64>,
    /// Seconds a job at the printer may take to finish after a shutdown signal.
    #[arg(long, env = "PRINTCORE_SHUTDOWN_GRACE", global = true)]
    shutdown_grace: Option<f64>,
    /// Poll only; do not open change streams.
    #[arg(long, env = "PRINTCORE_NO_CHANGE_STREAMS", global = true)]
    no_change_streams: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print paid orders until Ctrl-C / SIGTERM (the default).
    Run,
    /// Create indexes, normalise printStatus/paymentStatus spellings, add printStatus to existing orders,
    /// register the configured printers.
    Migrate {
        /// Only print what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Show each configured printer with its live status and capabilities; with --discover, the printers
    /// this PC can reach (network announcements, CUPS queues, the Windows spooler), writing nothing.
    Printers {
        /// List the printers this PC can reach instead of the configured ones (no configuration needed).
        #[arg(long)]
        discover: bool,
        #[command(flatten)]
        sources: printworker::init::DiscoverArgs,
    },
    /// Find the printers this PC can reach, ask for the database and the file hosts (or take them as
    /// flags; --yes asks nothing) and write a commented configuration file (--config, default worker.toml)
    /// that `worker check` passes. Never replaces a file without --force.
    Init(printworker::init::InitArgs),
    /// Check the configuration, the database and every printer; exit 1 when something is wrong.
    Check,
    /// What this PC's worker is doing now, per configured printer, read from the database (works while the
    /// service runs): state and reasons, the orders it prints, the orders waiting for it, the last print
    /// and the last error.
    Status {
        /// One JSON object, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// The Windows service: install (starts at boot, restarts on failure), uninstall, start, stop, status.
    /// Stopping it is the graceful shutdown; it logs to worker.log beside the configuration file.
    #[cfg(windows)]
    Service {
        #[command(subcommand)]
        action: ServiceAction,
        /// The service's name (to run more than one worker on this PC).
        #[arg(long, default_value = printworker::winservice::DEFAULT_NAME, global = true)]
        name: String,
    },
    /// Validate one downloaded PDF inside limits and print the result as JSON. The worker runs this in a
    /// child process of its own for every file ([validation] in the configuration).
    #[command(hide = true)]
    ValidatePdf {
        #[arg(required_unless_present = "serve")]
        path: Option<PathBuf>,
        /// Validate the files named on standard input, one JSON line each, until it ends (a warm child).
        #[arg(long)]
        serve: bool,
        /// Address-space limit in MB.
        #[arg(long, default_value_t = 1024)]
        memory_mb: u64,
        /// CPU-time limit in seconds.
        #[arg(long, default_value_t = 30)]
        cpu_secs: u64,
        /// Pages the file may have.
        #[arg(long, default_value_t = printcore::files::prescan::DEFAULT_MAX_PAGES)]
        max_pages: u32,
    },
}

#[cfg(windows)]
#[derive(Subcommand, Debug, Clone, Copy, PartialEq, Eq)]
enum ServiceAction {
    /// Register the worker as a service with this configuration file (--config, required), as an
    /// administrator. Checks the configuration first.
    Install,
    /// Stop the service (gracefully) and remove it.
    Uninstall,
    /// Start the service and wait until it runs.
    Start,
    /// Stop the service: the job at the printer may finish, the other orders go back to the queue.
    Stop,
    /// Show whether the service is installed and running (exit 0 running, 3 stopped, 4 not installed).
    Status,
    /// What the service manager runs.
    #[command(hide = true)]
    Run,
}

fn load(cli: &Cli) -> Result<Config, ConfigError> {
    let mut c = match &cli.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if let Some(uri) = &cli.mongodb_uri {
        c.database.uri = Some(uri.clone());
    }
    if let Some(db) = &cli.db {
        c.database.name = db.clone();
    }
    if cli.log_json {
        c.worker.log_format = "json".into();
    }
    let w = &mut c.worker;
    for (flag, field) in [
        (cli.poll_interval, &mut w.poll_interval_secs),
        (cli.health_interval, &mut w.health_interval_secs),
        (cli.lease, &mut w.lease_secs),
        (cli.recovery_interval, &mut w.recovery_interval_secs),
        (cli.metrics_interval, &mut w.metrics_interval_secs),
        (cli.shutdown_grace, &mut w.shutdown_grace_secs),
    ] {
        if let Some(v) = flag {
            *field = v;
        }
    }
    if cli.no_change_streams {
        w.change_streams = false;
    }
    c.validate()?;
    Ok(c)
}

/// Logs to the console (stderr), or to a size-rotated file when one is given (the Windows service, which
/// has no console).
fn init_logs(json: bool, file: Option<printworker::logfile::RotatingFile>) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("PRINTCORE_LOG").unwrap_or_else(|_| EnvFilter::new("info,mongodb=warn"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match (file, json) {
        (Some(f), true) => {
            builder.with_writer(std::sync::Mutex::new(f)).with_ansi(false).json().with_current_span(true).init()
        }
        (Some(f), false) => builder.with_writer(std::sync::Mutex::new(f)).with_ansi(false).init(),
        (None, true) => builder.with_writer(std::io::stderr).json().with_current_span(true).init(),
        (None, false) => builder.with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The contained validator needs no configuration, database or runtime: it limits itself at once.
    if let Some(Command::ValidatePdf { path, serve, memory_mb, cpu_secs, max_pages }) = &cli.command {
        let limits = printworker::validate::ChildLimits {
            memory_bytes: memory_mb.saturating_mul(1024 * 1024),
            cpu_secs: *cpu_secs,
            max_pages: *max_pages,
        };
        return match path {
            Some(path) if !serve => printworker::validate::run_child(path, limits),
            _ => printworker::validate::run_server(limits),
        };
    }
    #[cfg(windows)]
    if let Some(Command::Service { action, name }) = &cli.command {
        return service(&cli, *action, name);
    }
    // Setting up needs no configuration: it writes one.
    match &cli.command {
        Some(Command::Init(args)) => return init(&cli, args),
        Some(Command::Printers { discover: true, sources }) => return discover(sources),
        _ => {}
    }
    let config = match load(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("worker: {e}");
            return ExitCode::from(2);
        }
    };
    init_logs(config.worker.log_format == "json", None);
    printworker::service::report_crashes();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("worker: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command.unwrap_or(Command::Run) {
            Command::Run => run(config, Box::pin(wait_for_signal())).await,
            Command::Migrate { dry_run } => migrate(config, dry_run).await,
            Command::Printers { .. } => printers(config).await.map(|_| ()),
            Command::Init(_) => unreachable!("handled before the configuration is read"),
            Command::Check => check(config, cli.config.as_deref()).await,
            Command::Status { json } => status(config, json).await,
            Command::ValidatePdf { .. } => unreachable!("handled before the configuration is read"),
            #[cfg(windows)]
            Command::Service { .. } => unreachable!("handled before the configuration is read"),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("worker: {e}");
            ExitCode::FAILURE
        }
    }
}

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

fn small_runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().ok()
}

/// `worker init` (`printworker::init`).
fn init(cli: &Cli, args: &printworker::init::InitArgs) -> ExitCode {
    let given = printworker::init::Given {
        path: cli.config.clone().unwrap_or_else(|| PathBuf::from("worker.toml")),
        uri: cli.mongodb_uri.clone(),
        db: cli.db.clone(),
    };
    let Some(runtime) = small_runtime() else { return ExitCode::FAILURE };
    match runtime.block_on(printworker::init::run(args, &given)) {
        Ok(lines) => {
            lines.iter().for_each(|l| println!("{l}"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("worker init: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `worker printers --discover`: what this PC can reach; writes nothing.
fn discover(sources: &printworker::init::DiscoverArgs) -> ExitCode {
    let options = match sources.options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("worker: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(runtime) = small_runtime() else { return ExitCode::FAILURE };
    let report = runtime.block_on(printworker::discover::discover(&options));
    printworker::discover::report_lines(&report).iter().for_each(|l| println!("{l}"));
    ExitCode::SUCCESS
}

async fn connect(config: &Config) -> AnyResult<PrintCore> {
    let uri = config.database.uri.clone().unwrap_or_default();
    PrintCore::connect_with(
        &uri,
        &config.database.name,
        config.core_config()?,
        &printcore::ConnectOptions::for_worker(),
    )
    .await
    .map_err(|e| format!("cannot reach the database at {}: {e}", redact_uri(&uri)).into())
}

/// Prints until `stop` completes (a signal, or the Windows service's stop), then shuts down gracefully.
async fn run(config: Config, stop: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) -> AnyResult<()> {
    let core = connect(&config).await?;
    let id = WorkerId::generate();
    tracing::info!(worker_id = %id, database = %redact_uri(config.database.uri.as_deref().unwrap_or("")), db = %config.database.name, "connected");
    let mut policy = config.file_policy()?;
    // Validation runs in a child process of this very binary (`worker validate-pdf`), unless configured
    // otherwise.
    let me = std::env::current_exe().map_err(|e| format!("cannot find the worker's own program: {e}"))?;
    policy.validator = config.validator(me)?;
    // Job folders a killed worker (kill -9, a power cut) could not remove.
    let work_dir = policy.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    let swept = printcore::files::JobFolder::sweep(&work_dir, std::time::Duration::from_secs(3600));
    if swept > 0 {
        tracing::info!(folder = %work_dir.display(), "removed {swept} job folder(s) left by a stopped worker");
    }
    let fetcher = FileFetcher::new(policy)?;
    let mut slots = Vec::new();
    for p in &config.printers {
        let printer = config.build_printer(p)?;
        slots.push(Arc::new(
            PrinterSlot::new(config.identity(p), printer, p.capabilities.clone(), config.worker.jobs_per_printer)
                .with_history(config.history(p)?),
        ));
    }
    let (trigger, shutdown) = printworker::shutdown::channel();
    let worker = Worker::new(core, id, fetcher, slots, Intervals::from_config(&config), shutdown);
    printworker::http::start(worker.clone(), &config.http).await?;
    let journal_path = config.worker.journal_path.clone().unwrap_or_else(default_journal_path);
    match printworker::journal::Journal::open(&journal_path) {
        Ok(j) => {
            tracing::info!(journal = %journal_path.display(), "journal of jobs sent");
            worker.set_journal(j);
        }
        Err(e) => tracing::warn!("cannot open the journal {}: {e}; running without one", journal_path.display()),
    }
    // [alerts]: a loop of its own beside the worker's, ended with the process (none without the section).
    let alerts = match &config.alerts {
        Some(a) => {
            Some(tokio::spawn(printworker::alerts::Alerter::new(worker.core.clone(), a, worker.id.as_str())?.run()))
        }
        None => None,
    };
    let signals = tokio::spawn(async move {
        stop.await;
        tracing::info!("stop signal received");
        trigger.trigger();
    });
    worker.run().await;
    printworker::stages::log_summary();
    signals.abort();
    if let Some(a) = alerts {
        a.abort();
    }
    Ok(())
}

/// SIGINT or SIGTERM on Unix; Ctrl-C, Ctrl-Break, console close or system shutdown on Windows.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    #[cfg(windows)]
    {
        use tokio::signal::windows;
        let (Ok(mut brk), Ok(mut close), Ok(mut shut)) =
            (windows::ctrl_break(), windows::ctrl_close(), windows::ctrl_shutdown())
        else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = brk.recv() => {}
            _ = close.recv() => {}
            _ = shut.recv() => {}
        }
    }
}

/// `worker service ...`: the Windows service.
#[cfg(windows)]
fn service(cli: &Cli, action: ServiceAction, name: &str) -> ExitCode {
    use printworker::winservice as ws;
    let fail = |e: String| {
        eprintln!("worker: {e}");
        ExitCode::FAILURE
    };
    // The configuration as the service will read it: the file alone, made absolute.
    let config_path = cli.config.as_ref().map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()));
    let file_config = config_path.as_ref().map(|p| Config::from_file(p));
    let grace = file_config
        .as_ref()
        .and_then(|c| c.as_ref().ok())
        .map(|c| std::time::Duration::from_secs_f64(c.worker.shutdown_grace_secs.clamp(0.0, 3600.0)))
        .unwrap_or(std::time::Duration::from_secs(60));
    let log = config_path.as_deref().map(printworker::logfile::beside);
    let print = |lines: Vec<String>| lines.iter().for_each(|l| println!("{l}"));
    match action {
        ServiceAction::Install => {
            let (Some(path), Some(c)) = (&config_path, file_config) else {
                return fail(
                    "give the configuration file: worker --config C:\\printcore\\worker.toml service install".into(),
                );
            };
            let c = match c {
                Ok(c) => c,
                Err(e) => return fail(e.to_string()),
            };
            if let Some(problem) = ws::file_alone_problem(&c) {
                return fail(format!("{}: {problem}", path.display()));
            }
            if let Err(e) = c.validate() {
                return fail(format!("{}: {e} (fix it, then `worker --config ... check`)", path.display()));
            }
            let exe = match std::env::current_exe() {
                Ok(e) => e,
                Err(e) => return fail(format!("cannot find the worker's own program: {e}")),
            };
            let layout = printworker::winsec::Layout::of(path, &c);
            match ws::install(&ws::Install { name: name.to_owned(), exe, config: path.clone(), grace, layout }) {
                Ok(lines) => {
                    print(lines);
                    println!("logs: {}", log.unwrap_or_default().display());
                    println!("start it now with: worker service start");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        ServiceAction::Uninstall => match ws::uninstall(name, ws::stop_allowance(grace)) {
            Ok(lines) => {
                print(lines);
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        ServiceAction::Start => match ws::start(name, log.as_deref()) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        ServiceAction::Stop => {
            println!("stopping service {name:?}: a job at the printer may take up to {grace:?} to finish");
            match ws::stop(name, ws::stop_allowance(grace)) {
                Ok(line) => {
                    println!("{line}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        ServiceAction::Status => match ws::state(name) {
            Ok(None) => {
                println!("service {name:?}: not installed");
                ExitCode::from(4)
            }
            Ok(Some((state, pid))) => {
                let running = state == windows_service::service::ServiceState::Running;
                let pid = pid.filter(|p| *p != 0).map(|p| format!(" (process {p})")).unwrap_or_default();
                println!("service {name:?}: {}{pid}", format!("{state:?}").to_lowercase());
                if let Ok(lines) = ws::describe(name) {
                    lines.iter().for_each(|l| println!("  {l}"));
                }
                ExitCode::from(if running { 0 } else { 3 })
            }
            Err(e) => fail(e),
        },
        ServiceAction::Run => service_run(cli, name, config_path, log),
    }
}

/// What the service manager runs: logs go to the file beside the configuration, and the service's stop
/// is the worker's graceful shutdown.
#[cfg(windows)]
fn service_run(cli: &Cli, name: &str, config_path: Option<PathBuf>, log: Option<PathBuf>) -> ExitCode {
    use printworker::logfile::{RotatingFile, DEFAULT_KEEP, DEFAULT_MAX_BYTES};
    use printworker::winservice as ws;
    // Relative paths in the configuration mean the same as when the worker is run by hand from its folder
    // (a service starts in C:\Windows\System32).
    if let Some(dir) = config_path.as_deref().and_then(std::path::Path::parent) {
        let _ = std::env::set_current_dir(dir);
    }
    let config = load(cli);
    let json = config.as_ref().is_ok_and(|c| c.worker.log_format == "json");
    let log = log.unwrap_or_else(|| std::env::temp_dir().join("printcore-worker.log"));
    let file = RotatingFile::open(&log, DEFAULT_MAX_BYTES, DEFAULT_KEEP)
        .or_else(|_| {
            RotatingFile::open(&std::env::temp_dir().join("printcore-worker.log"), DEFAULT_MAX_BYTES, DEFAULT_KEEP)
        })
        .ok();
    init_logs(json, file);
    printworker::service::report_crashes();
    if config_path.is_none() {
        tracing::error!(
            "the service was installed without --config; reinstall it with `worker --config ... service install`"
        );
    }
    let work: ws::Work = Box::new(move |stop| {
        Box::pin(async move {
            let config = config.map_err(|e| e.to_string())?;
            run(config, stop).await.map_err(|e| e.to_string())
        })
    });
    match ws::run_as_service(name, work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("worker: {e}");
            ExitCode::from(2)
        }
    }
}

async fn migrate(config: Config, dry_run: bool) -> AnyResult<()> {
    let core = connect(&config).await?;
    let mut registrations = Vec::new();
    for p in &config.printers {
        let printer = config.build_printer(p)?;
        let capabilities = match &p.capabilities {
            Some(c) => Some(c.clone()),
            None => printer.capabilities().await.ok(),
        };
        let id = config.identity(p);
        registrations.push(PrinterRegistration {
            printer_id: id.printer_id,
            name: id.name,
            printer_name: id.printer_name,
            system_name: id.system_name,
            connection_type: id.connection_type,
            driver_name: id.driver_name,
            capabilities,
            worker_id: None,
        });
    }
    let options = MigrateOptions { printers: registrations, dry_run, ..MigrateOptions::default() };
    let report = core.migrate(&options).await?;
    for line in report.lines() {
        println!("{line}");
    }
    Ok(())
}

/// Prints each printer's live status; returns whether all are online.
async fn printers(config: Config) -> AnyResult<bool> {
    let mut all_ok = true;
    for p in &config.printers {
        let printer = config.build_printer(p)?;
        println!("{} ({}) — {}", p.id, p.name, printer.describe());
        match printer.status().await {
            Ok(s) => {
                let ok = s.status == printcore::PrinterStatus::Online || s.status == printcore::PrinterStatus::Busy;
                all_ok &= ok;
                println!("  status: {}{}", s.status.as_str(), s.message.map(|m| format!(" ({m})")).unwrap_or_default());
                if let Some(q) = s.queue_length {
                    println!("  queue: {q}");
                }
            }
            Err(e) => {
                all_ok = false;
                println!("  status: unknown ({e})");
            }
        }
        match p.capabilities.clone().map(Ok).unwrap_or(printer.capabilities().await) {
            Ok(c) => println!(
                "  takes: {}; {}; {}; up to {} copies",
                c.page_sizes.join(", "),
                if c.color { "colour" } else { "mono only" },
                if c.duplex { "two-sided" } else { "one-sided only" },
                c.max_copies
            ),
            Err(e) => println!("  capabilities: unknown ({e})"),
        }
        if let Some(problem) = printer.setup_problem().await {
            all_ok = false;
            println!("  setting: {problem}");
        }
        match printer.submit_path().await {
            Ok(path) => println!("  sends jobs by: {path}"),
            Err(e) => println!("  sends jobs by: unknown ({e})"),
        }
        let history = config.history(p)?;
        if printer.can_look_up_jobs() {
            history.read_listing(printer.as_ref()).await;
            println!("  job history: {}", history.describe());
        } else {
            println!("  job history: not readable (this backend cannot look jobs up): an order whose answer was lost fails 'may have printed'");
        }
    }
    Ok(all_ok)
}

async fn check(config: Config, config_path: Option<&std::path::Path>) -> AnyResult<()> {
    println!("configuration: ok ({} printer(s))", config.printers.len());
    // Windows: who may read the configuration and change what the service runs (elsewhere: nothing).
    let access = printworker::winsec::check_access(config_path, &config);
    access.lines.iter().for_each(|l| println!("{l}"));
    let core = connect(&config).await?;
    core.printers().await.map_err(|e| format!("the database answered but cannot be read: {e}"))?;
    println!(
        "database: ok ({}, database {})",
        redact_uri(config.database.uri.as_deref().unwrap_or("")),
        config.database.name
    );
    if !printers(config).await? {
        return Err("a printer is not ready (see above)".into());
    }
    if !access.ok {
        return Err("ordinary users can read or change the worker's files, or the service runs as LocalSystem (see \"access:\" and \"service:\" above)".into());
    }
    println!("all checks passed");
    Ok(())
}

/// `worker status`: each configured printer's activity as the database has it.
async fn status(config: Config, json: bool) -> AnyResult<()> {
    let core = connect(&config).await?;
    let activities = printworker::status::read(&core, &config).await?;
    if json {
        println!("{:#}", printworker::status::to_json(&activities, &config, core.now()));
    } else {
        print!("{}", printworker::status::render(&activities, &config, core.now()));
    }
    Ok(())
}

/// The journal beside the configuration file, named after it (`worker.toml` -> `worker.journal.jsonl`, so
/// two workers with two configurations never share one); without a file, in the temporary folder.
fn default_journal_path() -> PathBuf {
    let config = Cli::try_parse().ok().and_then(|c| c.config);
    match config {
        Some(path) => {
            let path = std::fs::canonicalize(&path).unwrap_or(path);
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "worker".into());
            path.with_file_name(format!("{stem}.journal.jsonl"))
        }
        None => std::env::temp_dir().join("printcore-worker.journal.jsonl"),
    }
}
