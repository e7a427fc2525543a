//! `worker validate-pdf`: the contained side of PDF validation. The worker runs its own binary with this
//! hidden subcommand for each downloaded file (printcore's `Validator::Contained`); the child first
//! limits itself, then validates and prints one line of JSON (`printcore::files::validator`).
//!
//! Limits: on Unix the address space (`RLIMIT_AS`: an allocation past it fails and the child aborts),
//! CPU time (`RLIMIT_CPU`: SIGXCPU at the limit, SIGKILL a second later), no core file, and (Linux) death
//! with the worker. On Windows a job object with a per-process memory limit, a user-time limit, and
//! kill-on-close. The wall-clock timeout is the parent's: it kills the child.

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
