//! The worker as a native Windows service (`worker service install|uninstall|start|stop|status`), with the
//! `windows-service` crate: no third-party wrapper.
//!
//! `install` registers `"<worker.exe>" --config "<worker.toml>" service run` to start at boot (delayed
//! until the network is up, after the print spooler) and to restart on failure, as the service's own
//! virtual account `NT SERVICE\<name>` (no password; an ordinary user's rights: the printers, the network
//! as the computer; no privilege but bypassing traverse checks, so not the service privileges that lead to
//! SYSTEM), never LocalSystem. Before it registers anything it gives the configuration's folder, the
//! configuration, the journal and the logs access lists that let in only administrators, SYSTEM and that
//! account ([`crate::winsec`]): the configuration holds the database password and names the programs the
//! service runs, and a folder at the root of C:\ lets every signed-in user read and change both. The
//! service's stop (`worker service stop`, `sc stop`, `net stop`, the Services window) and the system's
//! shutdown (pre-shutdown, given the grace period plus a margin) are the worker's graceful shutdown: it
//! stops claiming, lets the job at the printer finish within `shutdown_grace_secs`, returns the rest of
//! its orders to the queue and logs `server_shutdown` for each, reporting "stop pending" to the service
//! manager meanwhile. A service has no console: it logs to `worker.log` beside the configuration, rotated
//! by size ([`crate::logfile`]).
//!
//! The service reads its settings from the configuration file alone: a connection string set in
//! `MONGODB_URI` in the installer's window is not seen by it, so `install` refuses a file without
//! `[database] uri`.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

/// The service's name unless `--name` says otherwise (one worker per print PC needs no other).
pub const DEFAULT_NAME: &str = "printcore-worker";
/// Shown in the Services window.
pub const DISPLAY_NAME: &str = "printcore print worker";
pub const DESCRIPTION: &str =
    "Prints the shop's paid orders from MongoDB exactly once (printcore). Stopping it lets the job at the \
     printer finish and returns the other orders to the queue.";

/// The arguments the service manager starts the worker with.
pub fn launch_arguments(config: &Path, name: &str) -> Vec<OsString> {
    vec!["--config".into(), config.as_os_str().to_owned(), "service".into(), "run".into(), "--name".into(), name.into()]
}

/// How long the service manager is told a stop may take: the grace for the job at the printer, and time
/// to return the other orders and write the logs.
pub fn stop_allowance(grace: Duration) -> Duration {
    grace + Duration::from_secs(30)
}

/// Why an installed service could not read its configuration before it could log anywhere else: the
/// refusal `install` gives for a file the service could not run with.
pub fn file_alone_problem(config: &crate::config::Config) -> Option<String> {
    let has_uri = matches!(config.database.uri.as_deref(), Some(u) if !u.trim().is_empty());
    if !has_uri {
        return Some(
            "the service reads its settings from the configuration file alone: put the connection string \
             in [database] uri (MONGODB_URI or --mongodb-uri in this window is not seen by the service)"
                .into(),
        );
    }
    None
}

#[cfg(windows)]
pub use imp::*;

#[cfg(windows)]
mod imp {
    use super::{launch_arguments, stop_allowance, DESCRIPTION, DISPLAY_NAME};
    use std::ffi::OsString;
    use std::future::Future;
    use std::path::{Path, PathBuf};
    use std::pin::Pin;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};
    use windows_service::service::{
        ServiceAccess, ServiceAction, ServiceActionType, ServiceControl, ServiceControlAccept, ServiceDependency,
        ServiceErrorControl, ServiceExitCode, ServiceFailureActions, ServiceFailureResetPeriod, ServiceInfo,
        ServiceStartType, ServiceState, ServiceStatus, ServiceType,
    };
    use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
    use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
    use windows_service::{define_windows_service, service_dispatcher};

    /// The future the worker runs until: it completes when the service is asked to stop.
    pub type StopSignal = Pin<Box<dyn Future<Output = ()> + Send>>;
    /// The worker itself, given its stop signal; `Err` is reported to the service manager as a failure
    /// (which restarts the service).
    pub type Work = Box<dyn FnOnce(StopSignal) -> Pin<Box<dyn Future<Output = Result<(), String>>>> + Send>;

    static LAUNCH: Mutex<Option<(String, Work)>> = Mutex::new(None);

    define_windows_service!(ffi_service_main, service_main);

    /// Runs `work` as the service `name`: blocks until the service has stopped. Fails at once when the
    /// process was not started by the service manager.
    pub fn run_as_service(name: &str, work: Work) -> Result<(), String> {
        *LAUNCH.lock().unwrap() = Some((name.to_owned(), work));
        service_dispatcher::start(name, ffi_service_main).map_err(|e| match e {
            windows_service::Error::Winapi(io) if io.raw_os_error() == Some(1063) => {
                "`worker service run` is started by Windows' service manager (`worker service start`); to run \
                 the worker by hand use `worker run`"
                    .to_owned()
            }
            other => format!("the service could not start: {other}"),
        })
    }

    fn service_main(_arguments: Vec<OsString>) {
        let Some((name, work)) = LAUNCH.lock().unwrap().take() else { return };
        let (tx, rx) = tokio::sync::watch::channel(false);
        let handler = move |control: ServiceControl| match control {
            ServiceControl::Stop | ServiceControl::Preshutdown | ServiceControl::Shutdown => {
                tracing::info!("the service manager asks the worker to stop ({control:?})");
                let _ = tx.send(true);
                ServiceControlHandlerResult::NoError
            }
            ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
            _ => ServiceControlHandlerResult::NotImplemented,
        };
        let status = match service_control_handler::register(&name, handler) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("cannot register with the service manager: {e}");
                return;
            }
        };
        let report = |state: ServiceState, checkpoint: u32, wait_hint: Duration, exit_code: ServiceExitCode| {
            let accepts = if state == ServiceState::Running {
                ServiceControlAccept::STOP | ServiceControlAccept::PRESHUTDOWN
            } else {
                ServiceControlAccept::empty()
            };
            if let Err(e) = status.set_service_status(ServiceStatus {
                service_type: ServiceType::OWN_PROCESS,
                current_state: state,
                controls_accepted: accepts,
                exit_code,
                checkpoint,
                wait_hint,
                process_id: None,
            }) {
                tracing::warn!("cannot report {state:?} to the service manager: {e}");
            }
        };
        report(ServiceState::Running, 0, Duration::ZERO, ServiceExitCode::Win32(0));
        tracing::info!(service = %name, "running as a Windows service");
        let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("cannot start: {e}");
                report(ServiceState::Stopped, 0, Duration::ZERO, ServiceExitCode::ServiceSpecific(1));
                return;
            }
        };
        let result = runtime.block_on(async {
            let mut stop_rx = rx.clone();
            let stop: StopSignal = Box::pin(async move {
                let _ = stop_rx.wait_for(|stop| *stop).await;
            });
            let work = work(stop);
            tokio::pin!(work);
            let mut asked = rx.clone();
            let mut checkpoint = 0u32;
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    result = &mut work => break result,
                    // Stopping takes up to the grace period: keep the service manager informed, so it
                    // waits instead of declaring the service hung.
                    _ = tick.tick(), if *asked.borrow() => {
                        checkpoint += 1;
                        report(ServiceState::StopPending, checkpoint, Duration::from_secs(10), ServiceExitCode::Win32(0));
                    }
                    Ok(()) = asked.changed(), if !*asked.borrow() => {
                        checkpoint += 1;
                        report(ServiceState::StopPending, checkpoint, Duration::from_secs(10), ServiceExitCode::Win32(0));
                    }
                }
            }
        });
        let exit = match &result {
            Ok(()) => ServiceExitCode::Win32(0),
            Err(e) => {
                tracing::error!("the worker stopped on an error: {e}");
                // A failure: the service manager's failure actions restart the service.
                ServiceExitCode::ServiceSpecific(1)
            }
        };
        tracing::info!("the service has stopped");
        report(ServiceState::Stopped, 0, Duration::ZERO, exit);
    }

    /// What to install.
    pub struct Install {
        pub name: String,
        pub exe: PathBuf,
        pub config: PathBuf,
        pub grace: Duration,
        /// The files the service reads and writes, given access lists of their own.
        pub layout: crate::winsec::Layout,
    }

    /// A Windows error said so that a shop owner knows what to do.
    fn explain(e: windows_service::Error, name: &str) -> String {
        match &e {
            windows_service::Error::Winapi(io) => match io.raw_os_error() {
                Some(5) => "access denied: open the command prompt with \"Run as administrator\" and try again".into(),
                Some(1060) => format!("no service named {name:?} is installed"),
                Some(1072) => format!("service {name:?} is being removed; close the Services window and try again"),
                Some(1073) => {
                    format!("service {name:?} is already installed (`worker service uninstall` first to change it)")
                }
                _ => format!("{e}: {io}"),
            },
            _ => e.to_string(),
        }
    }

    fn manager(access: ServiceManagerAccess, name: &str) -> Result<ServiceManager, String> {
        ServiceManager::local_computer(None::<&str>, access).map_err(|e| explain(e, name))
    }

    /// Limits the service's token to the one privilege every process needs (bypassing traverse checks):
    /// a service account otherwise holds SeImpersonatePrivilege, the step from a service to SYSTEM.
    fn keep_only_traverse_privilege(service: &windows_service::service::Service) -> Result<(), String> {
        use windows_sys::Win32::System::Services::{
            ChangeServiceConfig2W, SERVICE_CONFIG_REQUIRED_PRIVILEGES_INFO, SERVICE_REQUIRED_PRIVILEGES_INFOW,
        };
        // A list of names, each NUL-terminated, ending with an empty one.
        let mut names: Vec<u16> = "SeChangeNotifyPrivilege".encode_utf16().chain([0, 0]).collect();
        let info = SERVICE_REQUIRED_PRIVILEGES_INFOW { pmszRequiredPrivileges: names.as_mut_ptr() };
        // SAFETY: the handle is the open service's (CHANGE_CONFIG); `info` and the names it points to live
        // through the call.
        let ok = unsafe {
            ChangeServiceConfig2W(
                service.raw_handle(),
                SERVICE_CONFIG_REQUIRED_PRIVILEGES_INFO,
                &info as *const _ as *const std::ffi::c_void,
            )
        };
        if ok == 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        Ok(())
    }

    /// Registers the service; returns lines to show, warnings included. The access lists come first:
    /// they are set (again) also when the service turns out to be installed already.
    pub fn install(o: &Install) -> Result<Vec<String>, String> {
        let steps = crate::winsec::install_steps(&o.layout, &o.name)?;
        let set = crate::winsec::apply(&steps)?;
        let account = crate::winsec::service_account(&o.name);
        let m = manager(ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE, &o.name)?;
        let info = ServiceInfo {
            name: o.name.clone().into(),
            display_name: DISPLAY_NAME.into(),
            service_type: ServiceType::OWN_PROCESS,
            start_type: ServiceStartType::AutoStart,
            error_control: ServiceErrorControl::Normal,
            executable_path: o.exe.clone(),
            launch_arguments: launch_arguments(&o.config, &o.name),
            // USB printers are reachable only through the spooler.
            dependencies: vec![ServiceDependency::Service("Spooler".into())],
            // Its own virtual account: no password, and never LocalSystem.
            account_name: Some(account.clone().into()),
            account_password: None,
        };
        let access = ServiceAccess::CHANGE_CONFIG | ServiceAccess::START | ServiceAccess::QUERY_STATUS;
        let service = m.create_service(&info, access).map_err(|e| {
            let installed = matches!(&e, windows_service::Error::Winapi(io) if io.raw_os_error() == Some(1073));
            let said = explain(e, &o.name);
            if installed {
                format!("{said}; the access lists of {} were set again", o.layout.folder.display())
            } else {
                said
            }
        })?;
        let mut lines = vec![format!(
            "installed service {:?} ({DISPLAY_NAME}): {} {}",
            o.name,
            o.exe.display(),
            launch_arguments(&o.config, &o.name).iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ")
        )];
        lines.push(format!(
            "runs as {account}: its own account, with an ordinary user's rights (the printers, the network) and \
             none over this PC"
        ));
        lines.extend(set.iter().map(|s| format!("access: {s}")));
        let dlls: Vec<PathBuf> = std::fs::read_dir(&o.layout.folder)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("dll")))
                    .collect()
            })
            .unwrap_or_default();
        lines.extend(crate::winsec::install_warnings(&o.layout, &o.exe, &dlls));
        // The rest refines the service; a refusal (an older Windows, wine) is said, not fatal.
        let warned = |lines: &mut Vec<String>, what: &str, r: windows_service::Result<()>| match r {
            Ok(()) => true,
            Err(e) => {
                lines.push(format!("warning: could not set {what}: {}", explain(e, &o.name)));
                false
            }
        };
        warned(&mut lines, "its description", service.set_description(DESCRIPTION));
        if warned(&mut lines, "a delayed start at boot", service.set_delayed_auto_start(true)) {
            lines.push("starts at boot, once the network is up (automatic, delayed)".into());
        }
        let restart =
            |secs| ServiceAction { action_type: ServiceActionType::Restart, delay: Duration::from_secs(secs) };
        let failure_actions = service.update_failure_actions(ServiceFailureActions {
            reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(86_400)),
            reboot_msg: None,
            command: None,
            actions: Some(vec![restart(10), restart(30), restart(60)]),
        });
        if warned(&mut lines, "restart on failure", failure_actions) {
            // Also when the worker exits with an error (the database refused it, say), not only on a crash.
            let on_error = service.set_failure_actions_on_non_crash_failures(true);
            if warned(&mut lines, "restart after an error exit", on_error) {
                lines.push("restarts on failure (after 10 s, 30 s, then 60 s)".into());
            } else {
                lines.push("restarts when it crashes (after 10 s, 30 s, then 60 s)".into());
            }
        } else {
            lines.push(format!(
                "set restart on failure by hand: sc.exe failure {} reset= 86400 actions= restart/10000/restart/30000/restart/60000",
                o.name
            ));
        }
        let preshutdown = service.set_preshutdown_timeout(stop_allowance(o.grace));
        warned(&mut lines, "the time it gets at system shutdown", preshutdown);
        // Its SID in its token (Windows does so for a virtual account anyway).
        let sid = service.set_config_service_sid_info(windows_service::service::ServiceSidType::Unrestricted);
        warned(&mut lines, "its service SID", sid);
        match keep_only_traverse_privilege(&service) {
            Ok(()) => lines.push("privileges: none but bypassing traverse checks (no impersonation)".into()),
            Err(e) => lines.push(format!("warning: could not limit its privileges: {e}")),
        }
        Ok(lines)
    }

    /// The account an installed service runs as (`None`: not installed).
    pub fn account(name: &str) -> Result<Option<String>, String> {
        let m = manager(ServiceManagerAccess::CONNECT, name)?;
        let service = match m.open_service(name, ServiceAccess::QUERY_CONFIG) {
            Ok(s) => s,
            Err(windows_service::Error::Winapi(io)) if io.raw_os_error() == Some(1060) => return Ok(None),
            Err(e) => return Err(explain(e, name)),
        };
        let c = service.query_config().map_err(|e| explain(e, name))?;
        Ok(Some(c.account_name.map(|a| a.to_string_lossy().into_owned()).unwrap_or_else(|| "LocalSystem".into())))
    }

    /// The service's state, or `None` when it is not installed.
    pub fn state(name: &str) -> Result<Option<(ServiceState, Option<u32>)>, String> {
        let m = manager(ServiceManagerAccess::CONNECT, name)?;
        let service = match m.open_service(name, ServiceAccess::QUERY_STATUS) {
            Ok(s) => s,
            Err(windows_service::Error::Winapi(io)) if io.raw_os_error() == Some(1060) => return Ok(None),
            Err(e) => return Err(explain(e, name)),
        };
        let s = service.query_status().map_err(|e| explain(e, name))?;
        Ok(Some((s.current_state, s.process_id)))
    }

    /// Lines describing the installed service.
    pub fn describe(name: &str) -> Result<Vec<String>, String> {
        let m = manager(ServiceManagerAccess::CONNECT, name)?;
        let service = m
            .open_service(name, ServiceAccess::QUERY_CONFIG | ServiceAccess::QUERY_STATUS)
            .map_err(|e| explain(e, name))?;
        let mut lines = Vec::new();
        if let Ok(c) = service.query_config() {
            lines.push(format!(
                "starts: {}",
                match c.start_type {
                    ServiceStartType::AutoStart => "automatically at boot",
                    ServiceStartType::OnDemand => "by hand",
                    ServiceStartType::Disabled => "never (disabled)",
                    _ => "by the system",
                }
            ));
            lines.push(format!("runs: {}", c.executable_path.display()));
            lines.push(format!(
                "as: {}",
                c.account_name.map(|a| a.to_string_lossy().into_owned()).unwrap_or_else(|| "LocalSystem".into())
            ));
        }
        Ok(lines)
    }

    /// Waits until the service is in `want` (or stopped, or gone), at most `deadline`.
    fn wait_for(name: &str, want: ServiceState, deadline: Duration) -> Result<Option<ServiceState>, String> {
        let start = Instant::now();
        loop {
            let now = state(name)?.map(|(s, _)| s);
            match now {
                Some(s) if s == want || s == ServiceState::Stopped => return Ok(now),
                None => return Ok(None),
                _ if start.elapsed() > deadline => return Ok(now),
                _ => std::thread::sleep(Duration::from_millis(250)),
            }
        }
    }

    /// Starts the service and waits until it runs.
    pub fn start(name: &str, log: Option<&Path>) -> Result<String, String> {
        let m = manager(ServiceManagerAccess::CONNECT, name)?;
        let service =
            m.open_service(name, ServiceAccess::START | ServiceAccess::QUERY_STATUS).map_err(|e| explain(e, name))?;
        match service.start::<&str>(&[]) {
            Ok(()) => {}
            // Already running.
            Err(windows_service::Error::Winapi(io)) if io.raw_os_error() == Some(1056) => {
                return Ok(format!("service {name:?} is already running"))
            }
            Err(e) => return Err(explain(e, name)),
        }
        let shown = log.map(|l| format!("; log: {}", l.display())).unwrap_or_default();
        match wait_for(name, ServiceState::Running, Duration::from_secs(60))? {
            Some(ServiceState::Running) => Ok(format!("service {name:?} is running{shown}")),
            Some(ServiceState::Stopped) => Err(format!("service {name:?} stopped right after starting{shown}")),
            other => Err(format!("service {name:?} did not report running within 60 s ({other:?}){shown}")),
        }
    }

    /// Asks the service to stop (the worker's graceful shutdown) and waits until it has, at most
    /// `allowance`.
    pub fn stop(name: &str, allowance: Duration) -> Result<String, String> {
        let m = manager(ServiceManagerAccess::CONNECT, name)?;
        let service =
            m.open_service(name, ServiceAccess::STOP | ServiceAccess::QUERY_STATUS).map_err(|e| explain(e, name))?;
        match service.stop() {
            Ok(_) => {}
            // Not running.
            Err(windows_service::Error::Winapi(io)) if io.raw_os_error() == Some(1062) => {
                return Ok(format!("service {name:?} is not running"))
            }
            Err(e) => return Err(explain(e, name)),
        }
        match wait_for(name, ServiceState::Stopped, allowance)? {
            Some(ServiceState::Stopped) | None => Ok(format!("service {name:?} has stopped")),
            other => Err(format!("service {name:?} is still stopping after {allowance:?} ({other:?})")),
        }
    }

    /// Stops the service if it runs, then removes it.
    pub fn uninstall(name: &str, allowance: Duration) -> Result<Vec<String>, String> {
        let mut lines = Vec::new();
        if let Some((s, _)) = state(name)? {
            if s != ServiceState::Stopped {
                lines.push(stop(name, allowance)?);
            }
        } else {
            return Err(format!("no service named {name:?} is installed"));
        }
        let m = manager(ServiceManagerAccess::CONNECT, name)?;
        let service = m.open_service(name, ServiceAccess::DELETE).map_err(|e| explain(e, name))?;
        service.delete().map_err(|e| explain(e, name))?;
        drop(service);
        // Removed once no program holds it open (the Services window may).
        let start = Instant::now();
        while state(name)?.is_some() && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(250));
        }
        lines.push(match state(name)? {
            None => format!("service {name:?} removed"),
            Some(_) => format!("service {name:?} will be removed once the Services window is closed"),
        });
        Ok(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_runs_the_worker_with_its_configuration() {
        let args = launch_arguments(Path::new(r"C:\printcore\worker.toml"), DEFAULT_NAME);
        let args: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(args, ["--config", r"C:\printcore\worker.toml", "service", "run", "--name", "printcore-worker"]);
        assert_eq!(stop_allowance(Duration::from_secs(60)), Duration::from_secs(90));
    }

    #[test]
    fn a_configuration_without_its_own_connection_string_is_refused() {
        let mut c = crate::config::Config::default();
        assert!(file_alone_problem(&c).unwrap().contains("[database] uri"));
        c.database.uri = Some("mongodb://127.0.0.1".into());
        assert_eq!(file_alone_problem(&c), None);
    }
}
