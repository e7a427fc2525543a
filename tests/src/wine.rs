//! The Windows worker (`worker.exe`, x86_64-pc-windows-gnu) run under wine, for `tests/tests/wine.rs`.
//! `scripts/test-wine.sh` builds the .exe and the test helpers, prepares the wineprefix and sets:
//!
//! - `PRINTCORE_WINE_EXE`: the worker.exe to run;
//! - `PRINTCORE_WINE_PREFIX`: the wineprefix (created once, under `~/.cache/printcore/wine`);
//! - `PRINTCORE_WINE_HELPERS`: a folder with `spoolprint.exe` and `spoolsetup.exe` (tests/wine/*.c);
//! - `PRINTCORE_WINE_SHIM`: the `bcryptprimitives.dll` test shim (tests/wine/bcryptprimitives.c), which
//!   every prefix the tests use gets in its system32;
//! - `PRINTCORE_WINE`: the wine loader (`wine64`).
//!
//! Every wine call has a deadline; every process started here dies with the test process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A wineprefix and the programs the tests run in it.
#[derive(Clone, Debug)]
pub struct Wine {
    pub loader: PathBuf,
    pub prefix: PathBuf,
    pub exe: PathBuf,
    pub helpers: PathBuf,
    pub shim: PathBuf,
}

fn var(name: &str) -> PathBuf {
    std::env::var_os(name)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{name} is not set: run the wine tests with `bash scripts/test-wine.sh`"))
}

impl Wine {
    /// The set-up `scripts/test-wine.sh` prepared.
    pub fn from_env() -> Wine {
        Wine {
            loader: var("PRINTCORE_WINE"),
            prefix: var("PRINTCORE_WINE_PREFIX"),
            exe: var("PRINTCORE_WINE_EXE"),
            helpers: var("PRINTCORE_WINE_HELPERS"),
            shim: var("PRINTCORE_WINE_SHIM"),
        }
    }

    /// The same programs in another prefix (created by [`Wine::boot`]).
    pub fn in_prefix(&self, prefix: &Path) -> Wine {
        Wine { prefix: prefix.to_path_buf(), ..self.clone() }
    }

    /// Creates this prefix (headless `wineboot --init`) and puts the shim in its system32.
    pub fn boot(&self) {
        // Not piped: wineboot leaves the prefix's wineserver and services running, holding what it got.
        let mut cmd = self.command(Path::new("wineboot"));
        cmd.arg("--init").stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = spawn_kept(cmd);
        let status = wait_with_deadline(&mut child, Duration::from_secs(180)).expect("wineboot within 180 s");
        assert!(status.success(), "wineboot failed: {status}");
        let system32 = self.prefix.join("drive_c/windows/system32");
        std::fs::copy(&self.shim, system32.join("bcryptprimitives.dll")).expect("the ProcessPrng shim in system32");
    }

    /// A command running `program` (a Windows path or a program wine knows, like `sc`) in this prefix.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(&self.loader);
        cmd.arg(program)
            .env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            // No Mono or Gecko installer dialogs.
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("MONGODB_URI")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs the worker with `args`, at most `deadline`.
    pub fn worker(&self, args: &[&str], deadline: Duration) -> Output {
        self.run_program(&self.exe, args, deadline)
    }

    /// Runs `program args` (a wine builtin such as `sc` or `net`, or a helper), at most `deadline`.
    pub fn run_program(&self, program: &Path, args: &[&str], deadline: Duration) -> Output {
        let mut cmd = self.command(program);
        cmd.args(args);
        run_with_deadline(cmd, deadline)
    }

    /// A test helper from `tests/wine` (spoolprint.exe, spoolsetup.exe).
    pub fn helper(&self, name: &str) -> PathBuf {
        self.helpers.join(name)
    }

    /// Runs a helper, at most 60 s.
    pub fn run_helper(&self, name: &str, args: &[&str]) -> Output {
        self.run_program(&self.helper(name), args, Duration::from_secs(60))
    }

    /// A new folder on the prefix's drive C: (its Linux path, its Windows path `C:\printcore-tests\...`).
    pub fn folder(&self, name: &str) -> (PathBuf, String) {
        static N: AtomicU64 = AtomicU64::new(0);
        let leaf = format!("{name}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let linux = self.prefix.join("drive_c").join("printcore-tests").join(&leaf);
        std::fs::create_dir_all(&linux).unwrap();
        (linux, format!(r"C:\printcore-tests\{leaf}"))
    }

    /// The Windows path of a Linux path (`/x/y` is `Z:\x\y` to wine).
    pub fn z_path(path: &Path) -> String {
        format!("Z:{}", path.display()).replace('/', "\\")
    }

    /// Starts `worker.exe args` with its standard error (the console log) going to `log`. The process is
    /// the Windows program itself (the loader becomes it), so its pid takes signals: SIGINT is delivered
    /// to it as a console Ctrl-C.
    pub fn spawn_worker(&self, args: &[&str], log: &Path) -> Child {
        let mut cmd = self.command(&self.exe);
        cmd.args(args).stdout(Stdio::null()).stderr(std::fs::File::create(log).unwrap());
        spawn_kept(cmd)
    }

    /// Stops every wine process of this prefix (`wineserver -k`).
    pub fn kill_all(&self) {
        let server = self.loader.with_file_name("wineserver");
        let mut cmd = Command::new(if server.exists() { server } else { PathBuf::from("wineserver") });
        cmd.arg("-k").env("WINEPREFIX", &self.prefix).stdin(Stdio::null());
        let _ = run_with_deadline(cmd, Duration::from_secs(30));
    }

    /// Starts this prefix's wineserver anew, kept running (with the services the next wine program
    /// starts) until [`Wine::kill_all`]: wine ends services when no ordinary program is left.
    pub fn keep_server(&self) {
        self.kill_all();
        let server = self.loader.with_file_name("wineserver");
        let mut cmd = Command::new(if server.exists() { server } else { PathBuf::from("wineserver") });
        cmd.arg("-p").env("WINEPREFIX", &self.prefix).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = spawn_kept(cmd);
        let status = wait_with_deadline(&mut child, Duration::from_secs(30)).expect("wineserver -p within 30 s");
        assert!(status.success(), "wineserver -p failed: {status}");
    }
}

/// Starts `cmd` from a thread that lives as long as the process, with `PR_SET_PDEATHSIG`, so the child
/// dies with the test process (see `process.rs`).
pub fn spawn_kept(mut cmd: Command) -> Child {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        #[cfg(target_os = "linux")]
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let _ = tx.send(cmd.spawn());
        loop {
            std::thread::park();
        }
    });
    rx.recv().expect("the spawning thread").expect("start a wine process")
}

/// Runs `cmd` to completion, at most `deadline` (panics naming it when it did not finish).
///
/// Its output goes to files, not pipes: a wine program can start processes that outlive it (the prefix's
/// wineserver, services.exe) and inherit its standard handles, so a pipe may never reach its end, while a
/// file holds everything the program wrote by the time it exited.
pub fn run_with_deadline(mut cmd: Command, deadline: Duration) -> Output {
    let program = format!("{:?} {:?}", cmd.get_program(), cmd.get_args().collect::<Vec<_>>());
    let out = tempfile::tempfile().expect("a file for the standard output");
    let err = tempfile::tempfile().expect("a file for the standard error");
    cmd.stdout(out.try_clone().unwrap()).stderr(err.try_clone().unwrap());
    let mut child = spawn_kept(cmd);
    let status = wait_with_deadline(&mut child, deadline)
        .unwrap_or_else(|| panic!("{program} did not finish within {deadline:?}"));
    let read = |mut f: std::fs::File| {
        use std::io::{Read, Seek};
        let mut got = Vec::new();
        f.seek(std::io::SeekFrom::Start(0)).expect("rewind an output file");
        f.read_to_end(&mut got).expect("read an output file");
        got
    };
    Output { status, stdout: read(out), stderr: read(err) }
}

/// Waits for `child` at most `deadline`; kills it and returns `None` when it is still running.
pub fn wait_with_deadline(child: &mut Child, deadline: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for a wine process") {
            return Some(status);
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// stdout and stderr of `out` as text, for assertions.
pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// What a failed check shows of a run: how it ended, then its output.
pub fn said(out: &Output) -> String {
    format!("({}) {}", out.status, text(out))
}
