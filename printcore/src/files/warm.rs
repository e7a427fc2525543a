//! A warm contained validator: the same child process as [`ContainedValidator`], started once and given
//! one file after another, so a file does not pay for a process start.
//!
//! What stays as with a child per file:
//! - Each file has the whole budget: the child lowers its own CPU-time limit to what it has used plus the
//!   per-file budget before each file, and retires (answers, then exits) once a further file could not
//!   have the whole budget under its lifetime limit, or once its memory in use stays high after a file.
//! - A child that crashed, ran out of memory or CPU time, timed out or answered past the bound is never
//!   given another file: it is killed, and the next file gets a fresh child.
//! - A child's verdict on a file is a fresh child's: when a child that had validated earlier files dies
//!   on this one (not by the timeout), the file is checked once more in a fresh child, whose answer
//!   stands. So what one file left behind in a child (its heap) can never fail another customer's order.
//! - The bounds on the answer (64 KB + 128 bytes a page) and on the error output (16 KB per file) hold.
//!
//! The protocol: the child runs `program args... --serve`; for each file the parent writes one line of
//! JSON ([`ServeRequest`]) and the child answers one ([`ServeAnswer`]); the child ends at the end of its
//! input, after an answer that says `retire`, or after [`CHILD_IDLE_EXIT`] without a file. [`serve`] is
//! the child's side.

use super::validator::{
    answer, answer_limit, describe_death, read_answer, too_long, ChildAnswer, ContainedValidator, STDERR_LIMIT,
};
use crate::files::pdf::FileReport;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

/// A child idle this long is not given another file (it is stopped, and a fresh one started): well
/// within [`CHILD_IDLE_EXIT`], so a file is never sent to a child about to leave.
pub const PARENT_IDLE_LIMIT: Duration = Duration::from_secs(60);
/// A warm child with no file for this long exits by itself, so an idle print PC keeps no validator.
pub const CHILD_IDLE_EXIT: Duration = Duration::from_secs(120);

/// One file for a warm child.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServeRequest {
    /// The downloaded file to validate.
    pub path: PathBuf,
    /// The most pages accepted.
    pub max_pages: u32,
}

/// A warm child's answer about one file; `retire`: it takes no further file and exits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServeAnswer {
    /// The answer about the file.
    pub answer: ChildAnswer,
    /// Whether the child retires after this answer (it takes no further file and exits).
    pub retire: bool,
}

/// The warm child's side: answers each request line on `input` with one line on `output` until the
/// input ends or `after_file` says to retire. `before_file` runs before each file (the worker resets its
/// CPU-time limit there), `after_file` after it, returning whether to retire.
pub fn serve(
    input: impl BufRead,
    mut output: impl Write,
    mut before_file: impl FnMut(),
    mut after_file: impl FnMut() -> bool,
) -> std::io::Result<()> {
    for line in input.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        before_file();
        let (answer, retire) = match serde_json::from_str::<ServeRequest>(&line) {
            Ok(r) => (answer(&r.path, r.max_pages), after_file()),
            Err(e) => {
                (ChildAnswer::Refused(format!("the validator could not read its request ({e}); will retry")), true)
            }
        };
        let mut out = serde_json::to_vec(&ServeAnswer { answer, retire }).map_err(std::io::Error::other)?;
        out.push(b'\n');
        output.write_all(&out)?;
        output.flush()?;
        if retire {
            break;
        }
    }
    Ok(())
}

/// Warm children of a [`ContainedValidator`], reused across files (see the module's documentation).
/// Clones share the children.
#[derive(Clone)]
pub struct WarmValidator {
    config: ContainedValidator,
    /// Children kept waiting for a file, at most this many (the worker: its printer slots).
    max_idle: usize,
    /// Files one child validates at most before it is retired.
    files_per_child: u64,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    idle: Mutex<Vec<(WarmChild, Instant)>>,
    started: AtomicU64,
}

impl std::fmt::Debug for WarmValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarmValidator")
            .field("config", &self.config)
            .field("max_idle", &self.max_idle)
            .field("files_per_child", &self.files_per_child)
            .finish()
    }
}

impl PartialEq for WarmValidator {
    fn eq(&self, other: &Self) -> bool {
        self.config == other.config && self.max_idle == other.max_idle && self.files_per_child == other.files_per_child
    }
}

/// One running child with its pipes.
struct WarmChild {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::io::BufReader<tokio::process::ChildStdout>,
    /// The error output of the file being validated (the first [`STDERR_LIMIT`] bytes; the rest drained).
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_done: tokio::task::JoinHandle<()>,
    files: u64,
}

/// How asking one child about one file ended.
enum Asked {
    /// An answer; the child, when it may take another file.
    Answer(ChildAnswer, Option<Box<WarmChild>>),
    /// The child did not answer: why (message, transient), and whether a fresh child may say otherwise
    /// (it died; not a timeout, an over-long answer or a start failure).
    Failed((String, bool), bool),
}

impl WarmValidator {
    /// Warm children of `config` (its program is run with its args and `--serve`).
    pub fn new(config: ContainedValidator, max_idle: usize, files_per_child: u64) -> WarmValidator {
        WarmValidator {
            config,
            max_idle: max_idle.max(1),
            files_per_child: files_per_child.max(1),
            shared: Arc::default(),
        }
    }

    /// The limits each child runs under.
    pub fn config(&self) -> &ContainedValidator {
        &self.config
    }

    /// Children started so far (tests and measurements).
    pub fn children_started(&self) -> u64 {
        self.shared.started.load(Ordering::Relaxed)
    }

    /// Validates one file in a warm child. Err((message, transient)), as a child per file.
    pub(crate) async fn run(&self, path: &Path, max_pages: u32) -> std::result::Result<FileReport, (String, bool)> {
        let (child, warm) = match self.take_idle() {
            Some(c) => (c, true),
            None => (self.spawn()?, false),
        };
        let asked = match self.ask(child, path, max_pages).await {
            // What a child that had validated other files died of may be theirs: a fresh child decides.
            Asked::Failed(why, true) if warm => {
                tracing::debug!("a warm PDF validator died ({}); checking the file again in a fresh one", why.0);
                self.ask(self.spawn()?, path, max_pages).await
            }
            // A warm child that could not check the file (no room left to start its thread, say) is not
            // used again, and a fresh child checks the file.
            Asked::Answer(ChildAnswer::Refused(m), _) if warm && m.ends_with("will retry") => {
                tracing::debug!("a warm PDF validator could not check a file ({m}); checking it in a fresh one");
                self.ask(self.spawn()?, path, max_pages).await
            }
            other => other,
        };
        match asked {
            Asked::Answer(answer, child) => {
                if let Some(c) = child {
                    self.put_back(*c);
                }
                read_answer(Some(answer))
            }
            Asked::Failed(why, _) => Err(why),
        }
    }

    fn take_idle(&self) -> Option<WarmChild> {
        let mut idle = self.shared.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((child, since)) = idle.pop() {
            if since.elapsed() < PARENT_IDLE_LIMIT {
                return Some(child);
            }
            // Dropped: killed (it may be about to leave by itself).
        }
        None
    }

    fn put_back(&self, child: WarmChild) {
        if child.files >= self.files_per_child {
            return;
        }
        let mut idle = self.shared.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.retain(|(_, since)| since.elapsed() < PARENT_IDLE_LIMIT);
        if idle.len() < self.max_idle {
            idle.push((child, Instant::now()));
        }
    }

    fn spawn(&self) -> std::result::Result<WarmChild, (String, bool)> {
        let started = |e: std::io::Error| {
            (
                format!("the PDF validator {} could not be started ({e}); will retry", self.config.program.display()),
                true,
            )
        };
        let mut cmd = self.config.command();
        cmd.arg("--serve").stdin(std::process::Stdio::piped());
        let mut child = cmd.spawn().map_err(started)?;
        self.shared.started.fetch_add(1, Ordering::Relaxed);
        let missing = || started(std::io::Error::other("a pipe is missing"));
        let stdin = child.stdin.take().ok_or_else(missing)?;
        let stdout = tokio::io::BufReader::new(child.stdout.take().ok_or_else(missing)?);
        let mut err_pipe = child.stderr.take().ok_or_else(missing)?;
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let kept = stderr.clone();
        // Read for the child's whole life so it never blocks on a full pipe; keep a bounded start of
        // what it says about the current file.
        let stderr_done = tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let mut k = kept.lock().unwrap_or_else(|p| p.into_inner());
                let room = (STDERR_LIMIT as usize).saturating_sub(k.len());
                k.extend_from_slice(&buf[..n.min(room)]);
            }
        });
        Ok(WarmChild { child, stdin, stdout, stderr, stderr_done, files: 0 })
    }

    /// Sends `path` to `child` and reads its answer within the timeout and the answer's bound.
    async fn ask(&self, mut child: WarmChild, path: &Path, max_pages: u32) -> Asked {
        child.stderr.lock().unwrap_or_else(|p| p.into_inner()).clear();
        let limit = answer_limit(max_pages);
        let mut request = match serde_json::to_vec(&ServeRequest { path: path.to_path_buf(), max_pages }) {
            Ok(r) => r,
            Err(e) => {
                return Asked::Failed(
                    (format!("the validator's request could not be written ({e}); will retry"), true),
                    false,
                )
            }
        };
        request.push(b'\n');
        let exchange = async {
            // A child that is gone shows as a broken pipe here or as the end of its output below.
            let _ = child.stdin.write_all(&request).await;
            let _ = child.stdin.flush().await;
            let mut line = Vec::new();
            (&mut child.stdout).take(limit as u64 + 1).read_until(b'\n', &mut line).await.map(|_| line)
        };
        let line = match tokio::time::timeout(self.config.timeout, exchange).await {
            Ok(Ok(line)) => line,
            Ok(Err(_)) => Vec::new(),
            // Dropping the child kills it.
            Err(_) => return Asked::Failed(self.config.timed_out(), false),
        };
        if line.len() > limit {
            return Asked::Failed(too_long(limit), false);
        }
        if line.ends_with(b"\n") {
            child.files += 1;
            return match serde_json::from_slice::<ServeAnswer>(&line) {
                Ok(a) => {
                    let keep = !a.retire;
                    Asked::Answer(a.answer, keep.then(|| Box::new(child)))
                }
                Err(_) => Asked::Failed(read_answer(None).unwrap_err(), false),
            };
        }
        // No answer: the child ended. Why it did, from its status and error output.
        let status = match tokio::time::timeout(Duration::from_secs(5), child.child.wait()).await {
            Ok(Ok(s)) => s,
            _ => return Asked::Failed(read_answer(None).unwrap_err(), true),
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), &mut child.stderr_done).await;
        let stderr = String::from_utf8_lossy(&child.stderr.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
        if status.success() {
            // It left without answering (it retired while idle, as the request arrived): not the file's doing.
            return Asked::Failed(read_answer(None).unwrap_err(), true);
        }
        let (message, transient) = describe_death(&status, &stderr);
        Asked::Failed((message, transient), true)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::files::Validator;

    /// A shell script as the warm child: `$1` is its argument after `--serve` is appended... the script
    /// reads request lines and runs `body` for each, with `$n` the file's number in this child.
    fn sh(body: &str, timeout: Duration) -> WarmValidator {
        let script = format!("n=0; while read -r line; do n=$((n+1)); {body}; done");
        WarmValidator::new(
            ContainedValidator {
                program: "/bin/sh".into(),
                args: vec!["-c".into(), script, "validator".into()],
                timeout,
            },
            4,
            100,
        )
    }

    fn report_line(retire: bool) -> String {
        let report = FileReport {
            url: String::new(),
            bytes: 10,
            pages: 1,
            page_sizes: vec![crate::files::PageSize::from_points(595.0, 842.0)],
            sha256: "ab".into(),
        };
        serde_json::to_string(&ServeAnswer { answer: ChildAnswer::Report(report), retire }).unwrap()
    }

    async fn check(w: &WarmValidator) -> crate::Result<FileReport> {
        Validator::Warm(w.clone()).validate("1234", "https://x/y.pdf", Path::new("/x.pdf"), 2000).await
    }

    #[tokio::test]
    async fn one_child_validates_file_after_file() {
        let w = sh(&format!("echo '{}'", report_line(false)), Duration::from_secs(5));
        for _ in 0..5 {
            assert_eq!(check(&w).await.unwrap().pages, 1);
        }
        assert_eq!(w.children_started(), 1);
    }

    #[tokio::test]
    async fn a_child_that_retires_or_reached_its_files_is_not_given_another() {
        let w = sh(&format!("echo '{}'; exit 0", report_line(true)), Duration::from_secs(5));
        for _ in 0..3 {
            check(&w).await.unwrap();
        }
        assert_eq!(w.children_started(), 3);
        let mut w = sh(&format!("echo '{}'", report_line(false)), Duration::from_secs(5));
        w.files_per_child = 2;
        for _ in 0..4 {
            check(&w).await.unwrap();
        }
        assert_eq!(w.children_started(), 2);
    }

    #[tokio::test]
    async fn a_death_in_a_warm_child_is_checked_again_in_a_fresh_one_whose_verdict_stands() {
        // Each child dies on its second file: a warm child's death is retried in a fresh child, which
        // answers; the file passes, and the dead child is never used again.
        let w = sh(
            &format!("if [ $n -ge 2 ]; then kill -11 $$; fi; echo '{}'", report_line(false)),
            Duration::from_secs(5),
        );
        for _ in 0..4 {
            check(&w).await.unwrap();
        }
        assert!(w.children_started() >= 3, "{}", w.children_started());
        // A fresh child dying on the file: refused for good, naming what happened; the next file gets a
        // fresh child.
        let w = sh("kill -11 $$", Duration::from_secs(5));
        let e = check(&w).await.unwrap_err();
        assert!(!e.is_transient() && e.to_string().contains("crash (signal 11)"), "{e}");
        let e = check(&w).await.unwrap_err();
        assert!(e.to_string().contains("crash (signal 11)"), "{e}");
        assert_eq!(w.children_started(), 2);
    }

    #[tokio::test]
    async fn a_child_that_hangs_or_babbles_is_refused_and_not_reused() {
        let w = sh("sleep 30", Duration::from_millis(300));
        let started = Instant::now();
        let e = check(&w).await.unwrap_err();
        assert!(!e.is_transient() && e.to_string().contains("took longer than"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5), "not retried after a timeout: {:?}", started.elapsed());
        let w = sh("head -c 10000000 /dev/zero", Duration::from_secs(30));
        let e = check(&w).await.unwrap_err();
        assert!(!e.is_transient() && e.to_string().contains("longer than"), "{e}");
        check(&w).await.unwrap_err();
        assert_eq!(w.children_started(), 2, "a babbling child is not given another file");
    }

    #[test]
    fn the_childs_side_answers_each_request_and_retires_when_told() {
        let dir = std::env::temp_dir().join(format!("pc-serve-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("a.pdf");
        std::fs::write(&file, b"<html>").unwrap();
        let req = serde_json::to_string(&ServeRequest { path: file.clone(), max_pages: 10 }).unwrap();
        let input = format!("{req}\n{req}\n{req}\n");
        let mut out = Vec::new();
        let mut files = 0;
        serve(
            input.as_bytes(),
            &mut out,
            || {},
            || {
                files += 1;
                files == 2
            },
        )
        .unwrap();
        let answers: Vec<ServeAnswer> =
            String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(answers.len(), 2, "retired after the second file");
        assert!(matches!(&answers[0].answer, ChildAnswer::Refused(m) if m.contains("not a PDF")));
        assert!(!answers[0].retire && answers[1].retire);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
