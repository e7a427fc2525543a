//! `worker validate-pdf`: the contained side of PDF validation. The worker runs its own binary with this
//! hidden subcommand for each downloaded file (printcore's `Validator::Contained`); the child first
//! limits itself, then validates and prints one line of JSON (`printcore::files::validator`).
//!
//! Limits: on Unix the address space (`RLIMIT_AS`: an allocation past it fails and the child aborts),
//! CPU time (`RLIMIT_CPU`: SIGXCPU at the limit, SIGKILL a second later), no core file, and (Linux) death
//! with the worker. On Windows a job object with a per-process memory limit, a user-time limit, and
//! kill-on-close. The wall-clock timeout is the parent's: it kills the child.
//!
//! `validate-pdf --serve` is the warm child (printcore's `WarmValidator`, Unix): one file after another
//! on its standard input. Its hard CPU-time limit is its lifetime's ([`LIFETIME_FILES`] files' worth);
//! before each file it lowers its soft limit to what it has used plus one file's budget, so each file
//! has the same `cpu_secs` as in a child of its own, and it retires (answers, then exits) once another
//! file could not have the whole budget, or when more than a quarter of its memory limit stays in use
//! after a file.

use std::path::Path;
use std::process::ExitCode;

/// What the child may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildLimits {
    pub memory_bytes: u64,
    pub cpu_secs: u64,
    /// Pages the file may have (`[files] max_pages`): past them the file is refused, so the answer
    /// stays short.
    pub max_pages: u32,
}

/// The child's `main`: limits itself, validates `path`, prints the answer. Exit 0 with an answer,
/// 3 when the limits could not be applied (the parent fails the attempt, not the order, for that).
pub fn run_child(path: &Path, limits: ChildLimits) -> ExitCode {
    if let Err(e) = apply_limits(limits) {
        eprintln!("validate-pdf: cannot limit this process: {e}");
        println!(
            "{}",
            serde_json::json!({ "refused": format!("the PDF validator could not limit itself ({e}); will retry") })
        );
        return ExitCode::SUCCESS;
    }
    println!("{}", printcore::files::validator::child_answer(path, limits.max_pages));
    ExitCode::SUCCESS
}

/// A warm child's lifetime CPU-time limit, in files' budgets.
pub const LIFETIME_FILES: u64 = 4;

/// The warm child's `main` (`validate-pdf --serve`): limits itself, then validates the files named on its
/// standard input, one answer line each (`printcore::files::warm::serve`).
#[cfg(unix)]
pub fn run_server(limits: ChildLimits) -> ExitCode {
    let lifetime = limits.cpu_secs.saturating_mul(LIFETIME_FILES);
    if let Err(e) = apply_limits(ChildLimits { cpu_secs: lifetime, ..limits }) {
        eprintln!("validate-pdf: cannot limit this process: {e}");
        return ExitCode::from(3);
    }
    // No thread of its own for the idle exit (its stack would count against the memory limit): the wait
    // for the next file is a poll with a timeout.
    // SAFETY: fd 0 is this process's standard input, open for its whole life; never closed here.
    let fd0 = std::mem::ManuallyDrop::new(unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(0) });
    let stdin = std::io::BufReader::new(IdleExit(fd0));
    let stdout = std::io::stdout().lock();
    let served = printcore::files::warm::serve(
        stdin,
        stdout,
        || {
            // This file's budget: what was used so far plus cpu_secs (within the lifetime's hard limit).
            let soft = cpu_used_secs().saturating_add(limits.cpu_secs).min(lifetime);
            let _ = set_cpu_soft(soft, lifetime.saturating_add(1));
        },
        || {
            cpu_used_secs().saturating_add(limits.cpu_secs) > lifetime
                || address_space_bytes().is_some_and(|b| b > limits.memory_bytes / 4)
        },
    );
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("validate-pdf --serve: {e}");
            ExitCode::from(4)
        }
    }
}

/// Standard input that ends the process when no file came for `CHILD_IDLE_EXIT`.
#[cfg(unix)]
struct IdleExit(std::mem::ManuallyDrop<std::fs::File>);

#[cfg(unix)]
impl std::io::Read for IdleExit {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut fd = libc::pollfd { fd: 0, events: libc::POLLIN, revents: 0 };
        let ms = printcore::files::warm::CHILD_IDLE_EXIT.as_millis() as libc::c_int;
        // SAFETY: poll reads one valid pollfd.
        if unsafe { libc::poll(&mut fd, 1, ms) } == 0 {
            std::process::exit(0);
        }
        std::io::Read::read(&mut *self.0, buf)
    }
}

/// The warm child is Unix only: elsewhere the worker starts a child per file.
#[cfg(not(unix))]
pub fn run_server(_limits: ChildLimits) -> ExitCode {
    eprintln!("validate-pdf --serve is not available on this system; use a child per file (files_per_child = 1)");
    ExitCode::from(3)
}

/// CPU time this process has used (user and system), whole seconds rounded up.
#[cfg(unix)]
fn cpu_used_secs() -> u64 {
    // SAFETY: getrusage fills a valid rusage value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return u64::MAX / 2;
    }
    let micros = (usage.ru_utime.tv_sec as u64 + usage.ru_stime.tv_sec as u64) * 1_000_000
        + usage.ru_utime.tv_usec as u64
        + usage.ru_stime.tv_usec as u64;
    micros.div_ceil(1_000_000)
}

#[cfg(unix)]
fn set_cpu_soft(soft: u64, hard: u64) -> std::io::Result<()> {
    let limit = libc::rlimit { rlim_cur: soft as libc::rlim_t, rlim_max: hard as libc::rlim_t };
    // SAFETY: setrlimit reads a valid rlimit value.
    if unsafe { libc::setrlimit(libc::RLIMIT_CPU, &limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The address space this process has mapped (what RLIMIT_AS counts), where it can be read.
#[cfg(unix)]
fn address_space_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().next()?.parse().ok()?;
    // SAFETY: sysconf only reads a system setting.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok().filter(|p| *p > 0).unwrap_or(4096))
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
type Resource = libc::__rlimit_resource_t;
#[cfg(all(unix, not(all(target_os = "linux", target_env = "gnu"))))]
type Resource = libc::c_int;

#[cfg(unix)]
fn apply_limits(limits: ChildLimits) -> std::io::Result<()> {
    fn set(resource: Resource, soft: u64, hard: u64) -> std::io::Result<()> {
        let limit = libc::rlimit { rlim_cur: soft as libc::rlim_t, rlim_max: hard as libc::rlim_t };
        // SAFETY: setrlimit reads a valid rlimit value.
        if unsafe { libc::setrlimit(resource, &limit) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
    // One malloc arena: glibc gives each new thread (validation runs on one with a large stack) an arena
    // that reserves 64 MB of address space; under RLIMIT_AS that fails, and every allocation then retries
    // mmap first, burning the CPU budget in the kernel.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    set(libc::RLIMIT_CORE, 0, 0)?;
    set(libc::RLIMIT_AS, limits.memory_bytes, limits.memory_bytes)?;
    set(libc::RLIMIT_CPU, limits.cpu_secs, limits.cpu_secs.saturating_add(1))?;
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number; the child dies with the worker.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    Ok(())
}

#[cfg(windows)]
fn apply_limits(limits: ChildLimits) -> std::io::Result<()> {
    use windows_sys::Win32::System::JobObjects::{
        AssignProcessToJobObject, CreateJobObjectW, JobObjectExtendedLimitInformation, SetInformationJobObject,
        JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION,
        JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE, JOB_OBJECT_LIMIT_PROCESS_MEMORY, JOB_OBJECT_LIMIT_PROCESS_TIME,
    };
    use windows_sys::Win32::System::Threading::GetCurrentProcess;
    // SAFETY: plain Win32 calls with valid arguments; the job handle stays open for the life of the
    // process (it is never closed), which keeps the limits in force.
    unsafe {
        let job = CreateJobObjectW(std::ptr::null(), std::ptr::null());
        if job.is_null() {
            return Err(std::io::Error::last_os_error());
        }
        let mut info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = std::mem::zeroed();
        info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_PROCESS_MEMORY
            | JOB_OBJECT_LIMIT_PROCESS_TIME
            | JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
            | JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION;
        info.ProcessMemoryLimit = usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX);
        // 100 ns units.
        info.BasicLimitInformation.PerProcessUserTimeLimit =
            i64::try_from(limits.cpu_secs.saturating_mul(10_000_000)).unwrap_or(i64::MAX);
        if SetInformationJobObject(
            job,
            JobObjectExtendedLimitInformation,
            &info as *const JOBOBJECT_EXTENDED_LIMIT_INFORMATION as *const std::ffi::c_void,
            std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
        ) == 0
        {
            return Err(std::io::Error::last_os_error());
        }
        if AssignProcessToJobObject(job, GetCurrentProcess()) == 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(not(any(unix, windows)))]
fn apply_limits(_limits: ChildLimits) -> std::io::Result<()> {
    Ok(())
}
