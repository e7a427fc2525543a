//! Where a downloaded file is validated: in this process, or contained in a child process.
//!
//! The pre-scan bounds what lopdf is given, but a parser fed hostile bytes is still the riskiest code
//! in the worker. [`Validator::Contained`] runs it in a child process (the worker runs its own binary,
//! `worker validate-pdf`, with memory and CPU-time limits it applies to itself) and kills the child at a
//! wall-clock timeout. Whatever the child does (crash, abort on a failed allocation, overflow its stack,
//! use up its CPU time, hang, print garbage), the result is an error on that order, never the worker's
//! death. printcore does not know which program it runs: the caller names it.
//!
//! The protocol: the child gets the file's path as its last argument, prints one line of JSON
//! ([`ChildAnswer`]) on stdout and exits 0. [`child_answer`] is the child's side.

use crate::error::{Error, Result};
use crate::files::display_url;
use crate::files::pdf::{validate_pdf_with, FileReport};
use crate::files::prescan::ScanLimits;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::warm::WarmValidator;

/// How files are validated. printcore's default is in this process; the worker configures
/// [`Validator::Contained`] with its own binary.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Validator {
    /// Validate in the calling process (tests, tools; the pre-scan still bounds what lopdf is given).
    #[default]
    InProcess,
    /// A new child for every file.
    Contained(ContainedValidator),
    /// A warm child reused across files, under the same limits for each file ([`WarmValidator`]).
    Warm(WarmValidator),
}

/// A child process that validates one file: `program args... <path>`.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainedValidator {
    /// The program to run (the worker's own binary).
    pub program: PathBuf,
    /// Arguments before the file's path (for the worker: `validate-pdf --memory-mb N --cpu-secs N`).
    pub args: Vec<String>,
    /// The longest the child may take; it is killed then and the file refused.
    pub timeout: Duration,
}

/// What the child prints: the report, or why the file is refused (the message of a permanent file
/// error, without the order and URL the parent adds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildAnswer {
    /// The file is valid: its report.
    Report(FileReport),
    /// The file is refused, and why.
    Refused(String),
}

/// The child's side: validates the file at `path` in this process and returns the line to print.
pub fn child_answer(path: &Path, max_pages: u32) -> String {
    serde_json::to_string(&answer(path, max_pages)).unwrap_or_else(|_| "{}".into())
}

/// The child's side: validates the file at `path` in this process.
pub(crate) fn answer(path: &Path, max_pages: u32) -> ChildAnswer {
    let limits = ScanLimits { max_pages, ..ScanLimits::default() };
    let answer = match std::fs::read(path) {
        Ok(bytes) => match validate_pdf_with("", "", &bytes, &limits) {
            Ok(report) => ChildAnswer::Report(report),
            Err(Error::File { message, .. }) => ChildAnswer::Refused(message),
            Err(e) => ChildAnswer::Refused(e.to_string()),
        },
        // Too big to even read within the memory limit: the file's doing, not a passing failure.
        Err(e) if e.kind() == std::io::ErrorKind::OutOfMemory => ChildAnswer::Refused(format!(
            "the file is too large to check within the validator's memory limit ({e}); {AGAIN}"
        )),
        Err(e) => ChildAnswer::Refused(format!("the downloaded file could not be read ({e}); will retry")),
    };
    answer
}

pub(crate) const AGAIN: &str = "the file is damaged or crafted; ask the customer to export it again";

impl Validator {
    /// Validates the file at `path`, downloaded from `url` for order `order_id`. Every problem with the
    /// file is a permanent `Error::File`; a validator that could not run at all is a transient one.
    /// Validates the file at `path` (downloaded from `url` for order `order_id`); a file of more than
    /// `max_pages` pages is refused.
    pub async fn validate(&self, order_id: &str, url: &str, path: &Path, max_pages: u32) -> Result<FileReport> {
        let shown = display_url(url);
        let fail = |message: String, transient: bool| Error::File {
            order_id: order_id.to_owned(),
            url: shown.clone(),
            message,
            transient,
        };
        match self {
            Validator::InProcess => {
                let bytes = tokio::fs::read(path)
                    .await
                    .map_err(|e| fail(format!("the downloaded file could not be read ({e}); will retry"), true))?;
                let (order, owned_url) = (order_id.to_owned(), url.to_owned());
                let limits = ScanLimits { max_pages, ..ScanLimits::default() };
                tokio::task::spawn_blocking(move || validate_pdf_with(&order, &owned_url, &bytes, &limits))
                    .await
                    .map_err(|e| fail(format!("validation stopped unexpectedly ({e}); will retry"), true))?
            }
            Validator::Contained(c) => {
                c.run(path, max_pages).await.map_err(|(m, transient)| fail(m, transient)).map(|mut r| {
                    r.url = shown.clone();
                    r
                })
            }
            Validator::Warm(w) => {
                w.run(path, max_pages).await.map_err(|(m, transient)| fail(m, transient)).map(|mut r| {
                    r.url = shown.clone();
                    r
                })
            }
        }
    }
}

impl ContainedValidator {
    /// Runs the child. Err((message, transient)).
    async fn run(&self, path: &Path, max_pages: u32) -> std::result::Result<FileReport, (String, bool)> {
        let mut cmd = self.command();
        cmd.arg("--max-pages").arg(max_pages.to_string()).arg(path).stdin(std::process::Stdio::null());
        let child = cmd.spawn().map_err(|e| {
            (format!("the PDF validator {} could not be started ({e}); will retry", self.program.display()), true)
        })?;
        let output = match tokio::time::timeout(self.timeout, bounded_output(child, answer_limit(max_pages))).await {
            Ok(Ok(Ok(o))) => o,
            Ok(Ok(Err(limit))) => return Err(too_long(limit)),
            Ok(Err(e)) => return Err((format!("the PDF validator could not be waited for ({e}); will retry"), true)),
            // Dropping the future kills the child (kill_on_drop).
            Err(_) => return Err(self.timed_out()),
        };
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.success() {
            let line = String::from_utf8_lossy(&output.stdout);
            return read_answer(serde_json::from_str::<ChildAnswer>(line.trim()).ok());
        }
        Err(describe_death(&output.status, &stderr))
    }

    /// The refusal of a file whose check ran past the timeout.
    pub(crate) fn timed_out(&self) -> (String, bool) {
        (
            format!(
                "checking the PDF took longer than {} s and was stopped; {AGAIN}",
                self.timeout.as_secs_f64().round()
            ),
            false,
        )
    }

    /// The child's command without the file's arguments: a cleared environment, its own process group,
    /// piped output, killed when dropped.
    pub(crate) fn command(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            // The child needs nothing of the worker's environment (which holds the database's password).
            .env_clear();
        for keep in ["SystemRoot", "SYSTEMROOT", "TEMP", "TMP"] {
            if let Some(v) = std::env::var_os(keep) {
                cmd.env(keep, v);
            }
        }
        // Its own process group: a Ctrl-C at the worker's terminal is the worker's to handle, not the
        // child's (a child stopped by it would look like a crash on the order).
        #[cfg(unix)]
        cmd.process_group(0);
        // CREATE_NEW_PROCESS_GROUP: the console's Ctrl-C does not reach the child either.
        #[cfg(windows)]
        cmd.creation_flags(0x0000_0200);
        cmd
    }
}

/// The refusal of a file whose answer was longer than `limit` bytes.
pub(crate) fn too_long(limit: usize) -> (String, bool) {
    (
        format!(
            "the PDF validator's answer about this file was longer than {} KB (the page list of a file far past \
             max_pages); {AGAIN}",
            limit / 1024
        ),
        false,
    )
}

/// What a child's answer (`None`: unreadable) means for the file.
pub(crate) fn read_answer(answer: Option<ChildAnswer>) -> std::result::Result<FileReport, (String, bool)> {
    match answer {
        Some(ChildAnswer::Report(r)) if r.pages >= 1 && r.page_sizes.len() == r.pages as usize => Ok(r),
        Some(ChildAnswer::Refused(m)) => {
            let transient = m.ends_with("will retry");
            Err((m, transient))
        }
        _ => Err((format!("the PDF validator answered something unreadable about this file; {AGAIN}"), false)),
    }
}

/// The most bytes the parent reads of the child's answer: a report lists each page's size (about 50
/// bytes of JSON a page), and never more than `max_pages` of them.
pub fn answer_limit(max_pages: u32) -> usize {
    64 * 1024 + max_pages as usize * 128
}

/// What is kept of the child's error output (the start says why it died).
pub(crate) const STDERR_LIMIT: u64 = 16 * 1024;

/// Waits for the child, reading at most `limit` bytes of its answer and [`STDERR_LIMIT`] of its error
/// output (the rest of which is drained, so the child never blocks on a full pipe). `Ok(Err(limit))`
/// when the answer is longer: the child is killed.
async fn bounded_output(
    mut child: tokio::process::Child,
    limit: usize,
) -> std::io::Result<std::result::Result<std::process::Output, usize>> {
    use tokio::io::AsyncReadExt;
    let mut stdout = child.stdout.take().ok_or_else(|| std::io::Error::other("no stdout pipe"))?;
    let mut stderr = child.stderr.take().ok_or_else(|| std::io::Error::other("no stderr pipe"))?;
    let read_stdout = async {
        let mut out = Vec::new();
        (&mut stdout).take(limit as u64 + 1).read_to_end(&mut out).await?;
        if out.len() > limit {
            // Stop it now: it would block on the full pipe until the timeout.
            let _ = child.start_kill();
        }
        std::io::Result::Ok(out)
    };
    let read_stderr = async {
        let mut err = Vec::new();
        (&mut stderr).take(STDERR_LIMIT).read_to_end(&mut err).await?;
        tokio::io::copy(&mut stderr, &mut tokio::io::sink()).await?;
        std::io::Result::Ok(err)
    };
    let (out, err) = tokio::join!(read_stdout, read_stderr);
    let (out, err) = (out?, err?);
    if out.len() > limit {
        let _ = child.wait().await;
        return Ok(Err(limit));
    }
    let status = child.wait().await?;
    Ok(Ok(std::process::Output { status, stdout: out, stderr: err }))
}

/// Why the child did not answer, in words for the admin. Err((message, transient)).
pub(crate) fn describe_death(status: &std::process::ExitStatus, stderr: &str) -> (String, bool) {
    #[cfg(unix)]
    let signal = std::os::unix::process::ExitStatusExt::signal(status);
    #[cfg(not(unix))]
    let signal: Option<i32> = None;
    let what = if stderr.contains("memory allocation of") || stderr.contains("out of memory") {
        "run out of memory".to_owned()
    } else if stderr.contains("overflowed its stack") {
        "crash (stack overflow)".to_owned()
    } else {
        match signal {
            // SIGXCPU: the CPU-time limit; SIGKILL: the hard CPU limit or the system's OOM killer.
            Some(24) => "use up its CPU time".to_owned(),
            Some(9) => "be killed (out of memory or CPU time)".to_owned(),
            // Stopped from outside (a shutdown, an operator): not the file's fault.
            Some(sig @ (1 | 2 | 15)) => {
                return (format!("the PDF validator was stopped from outside (signal {sig}); will retry"), true)
            }
            Some(sig) => format!("crash (signal {sig})"),
            // STATUS_CONTROL_C_EXIT: a console Ctrl-C, not the file's fault.
            None if status.code() == Some(0xC000_013Au32 as i32) => {
                return ("the PDF validator was stopped from outside (Ctrl-C); will retry".into(), true)
            }
            None => format!("crash (exit code {})", status.code().unwrap_or(-1)),
        }
    };
    (format!("the PDF made the validator {what}; {AGAIN}"), false)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn sh(script: &str) -> Validator {
        Validator::Contained(ContainedValidator {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into(), "validator".into()],
            timeout: Duration::from_secs(2),
        })
    }

    async fn run(v: &Validator) -> Error {
        v.validate("1234", "https://x/y.pdf?sig=s", Path::new("/nonexistent.pdf"), 2000).await.unwrap_err()
    }

    #[tokio::test]
    async fn a_child_that_dies_hangs_or_babbles_fails_the_order_for_good() {
        for (script, expect) in [
            ("kill -11 $$", "crash (signal 11)"),
            ("echo 'memory allocation of 99999 bytes failed' >&2; kill -6 $$", "run out of memory"),
            ("kill -24 $$", "CPU time"),
            ("exit 3", "exit code 3"),
            ("echo garbage", "unreadable"),
            ("sleep 30", "took longer than 2 s"),
        ] {
            let e = run(&sh(script)).await;
            let m = e.to_string();
            assert!(m.contains(expect) && m.contains("order 1234") && m.contains("export it again"), "{script}: {m}");
            assert!(!e.is_transient(), "{script}: {m}");
            assert!(!m.contains("sig=s"), "{m}");
        }
    }

    #[tokio::test]
    async fn a_child_stopped_from_outside_or_missing_is_tried_again() {
        assert!(run(&sh("kill -15 $$")).await.is_transient());
        let missing = Validator::Contained(ContainedValidator {
            program: "/nonexistent/worker".into(),
            args: vec![],
            timeout: Duration::from_secs(2),
        });
        assert!(run(&missing).await.is_transient());
    }

    #[tokio::test]
    async fn the_childs_answer_comes_back_with_the_url_of_the_order() {
        let report = FileReport {
            url: String::new(),
            bytes: 10,
            pages: 1,
            page_sizes: vec![crate::files::PageSize::from_points(595.0, 842.0)],
            sha256: "ab".into(),
        };
        let line = serde_json::to_string(&ChildAnswer::Report(report)).unwrap();
        let r = sh(&format!("echo '{line}'"))
            .validate("1234", "https://x/y.pdf?sig=s", Path::new("/x"), 2000)
            .await
            .unwrap();
        assert_eq!((r.url.as_str(), r.pages, r.page_sizes[0].name), ("https://x/y.pdf", 1, Some("A4")));
        let refused = serde_json::to_string(&ChildAnswer::Refused("the PDF has no pages; ask".into())).unwrap();
        let e = sh(&format!("echo '{refused}'")).validate("1234", "u", Path::new("/x"), 2000).await.unwrap_err();
        assert!(e.to_string().ends_with("the PDF has no pages; ask") && !e.is_transient(), "{e}");
    }

    #[test]
    fn the_childs_side_answers_in_json() {
        let dir = std::env::temp_dir().join(format!("pc-child-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("a.pdf");
        std::fs::write(&file, b"<html>").unwrap();
        let answer: ChildAnswer = serde_json::from_str(&child_answer(&file, 2000)).unwrap();
        assert!(matches!(answer, ChildAnswer::Refused(m) if m.contains("not a PDF")));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
