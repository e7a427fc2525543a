//! The print PC's journal of what it sent: one JSON line per step, appended and flushed to disk (fsync)
//! before and after each job goes to a printer. When the printer took a job but the database did not hear
//! of it (it was away, and the worker then died), the worker that starts again on the same PC finds the
//! printer's answer here and records it before anything else (`Worker::replay_journal`), so recovery
//! knows the job was acknowledged even when the printer has since forgotten it: "may have printed", never
//! printed again on a guess.
//!
//! Lines: `{"step":"sending","job":..,"order":..,"printer":..,"at":..}` before the submit,
//! `{"step":"accepted","job":..,"ref":..}` when the printer answered, `{"step":"recorded","job":..}` once
//! the database has the reference. The file is rewritten without finished jobs at each start.
//!
//! Group commit: one writer thread owns the appends. An append hands its line to the thread and waits
//! (asynchronously in [`Journal::write`]) until the line is on disk. The thread takes every line waiting
//! when it wakes, writes them in arrival order with one `write`, flushes them with one `fdatasync`, then
//! answers each caller: eight printer slots appending at once cost one flush, not eight in a row, and no
//! caller goes on before its own line is durable. A flush that fails fails every caller of its group.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Entry {
    Sending {
        job: String,
        order: String,
        printer: String,
        at: i64,
    },
    Accepted {
        job: String,
        #[serde(rename = "ref")]
        job_ref: String,
    },
    Recorded {
        job: String,
    },
}

impl Entry {
    fn job(&self) -> &str {
        match self {
            Entry::Sending { job, .. } | Entry::Accepted { job, .. } | Entry::Recorded { job } => job,
        }
    }
}

/// A job the printer took whose reference the database may not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrecorded {
    pub job: String,
    pub order: String,
    pub printer: String,
    pub job_ref: String,
}

/// The journal file. Appends are written by one thread in arrival order, a group at a time, each group
/// flushed to disk before any of its callers is answered.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: Arc<Mutex<std::fs::File>>,
    appends: std::sync::mpsc::Sender<Append>,
}

/// One line to append and whom to tell once it is on disk.
struct Append {
    line: Vec<u8>,
    done: tokio::sync::oneshot::Sender<std::io::Result<()>>,
}

/// The most lines one flush covers (a bound on one write, far above the printer slots of a print PC).
const MAX_GROUP: usize = 1024;

impl Journal {
    /// Opens (creating) the journal at `path`; its folder is created private to the worker. Starts the
    /// journal's writer thread, which ends when the journal is dropped.
    pub fn open(path: &Path) -> std::io::Result<Journal> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = Arc::new(Mutex::new(options.open(path)?));
        let (appends, queue) = std::sync::mpsc::channel::<Append>();
        let writer = file.clone();
        std::thread::Builder::new().name("journal".into()).spawn(move || write_groups(&writer, &queue))?;
        Ok(Journal { path: path.to_path_buf(), file, appends })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry and returns once it is on disk (flushed with whatever other lines were waiting).
    pub async fn write(&self, entry: &Entry) -> std::io::Result<()> {
        let (done, flushed) = tokio::sync::oneshot::channel();
        let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.appends
            .send(Append { line, done })
            .map_err(|_| std::io::Error::other("the journal's writer thread has stopped"))?;
        flushed.await.map_err(|_| std::io::Error::other("the journal's writer thread has stopped"))?
    }

    /// [`Journal::write`] for code that is not async: blocks this thread until the entry is on disk.
    pub fn append(&self, entry: &Entry) -> std::io::Result<()> {
        futures::executor::block_on(self.write(entry))
    }

    /// The jobs the printer took whose reference was not recorded, read from the file. A torn last line
    /// (a power cut mid-write) is skipped.
    pub fn unrecorded(&self) -> std::io::Result<Vec<Unrecorded>> {
        let text = std::fs::read_to_string(&self.path)?;
        let mut sending: BTreeMap<String, (String, String)> = BTreeMap::new();
        let mut accepted: BTreeMap<String, String> = BTreeMap::new();
        for line in text.lines() {
            let Ok(entry) = serde_json::from_str::<Entry>(line) else { continue };
            match entry {
                Entry::Sending { job, order, printer, .. } => {
                    sending.insert(job, (order, printer));
                }
                Entry::Accepted { job, job_ref } => {
                    accepted.insert(job, job_ref);
                }
                Entry::Recorded { job } => {
                    sending.remove(&job);
                    accepted.remove(&job);
                }
            }
        }
        Ok(accepted
            .into_iter()
            .filter_map(|(job, job_ref)| {
                let (order, printer) = sending.get(&job)?.clone();
                Some(Unrecorded { job, order, printer, job_ref })
            })
            .collect())
    }

    /// Rewrites the file with only the entries of jobs still in `keep` (the others are finished). In place
    /// (truncate, then write), not by renaming over it: Windows refuses to replace a file that is open.
    pub fn compact(&self, keep: &[Unrecorded]) -> std::io::Result<()> {
        // Holding the file stops the writer thread between two groups.
        let _appends = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let text = std::fs::read_to_string(&self.path)?;
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| serde_json::from_str::<Entry>(l).is_ok_and(|e| keep.iter().any(|k| k.job == e.job())))
            .collect();
        let mut f = std::fs::OpenOptions::new().write(true).truncate(true).open(&self.path)?;
        for l in kept {
            f.write_all(l.as_bytes())?;
            f.write_all(b"\n")?;
        }
        f.sync_all()
    }
}

/// The writer thread: waits for a line, takes every line waiting behind it, writes them in order with
/// one write and one flush, answers each caller with the outcome. Ends when the journal is dropped.
fn write_groups(file: &Mutex<std::fs::File>, queue: &std::sync::mpsc::Receiver<Append>) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let bytes: Vec<u8> = group.iter().flat_map(|a| a.line.iter().copied()).collect();
        let outcome = {
            let mut f = file.lock().unwrap_or_else(|p| p.into_inner());
            f.write_all(&bytes).and_then(|()| f.sync_data())
        };
        for a in group {
            let answer = match &outcome {
                Ok(()) => Ok(()),
                Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
            };
            // A caller that stopped waiting (its task ended) needs no answer.
            let _ = a.done.send(answer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_jobs_taken_by_the_printer_and_not_recorded_are_left_and_a_torn_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(&dir.path().join("j.jsonl")).unwrap();
        let sending =
            |job: &str| Entry::Sending { job: job.into(), order: format!("O-{job}"), printer: "p".into(), at: 1 };
        for e in [
            sending("a"),
            Entry::Accepted { job: "a".into(), job_ref: "12".into() },
            Entry::Recorded { job: "a".into() },
            sending("b"),
            Entry::Accepted { job: "b".into(), job_ref: "13".into() },
            sending("c"),
        ] {
            j.append(&e).unwrap();
        }
        std::fs::OpenOptions::new().append(true).open(j.path()).unwrap().write_all(b"{\"step\":\"acc").unwrap();
        let left = j.unrecorded().unwrap();
        assert_eq!(
            left,
            [Unrecorded { job: "b".into(), order: "O-b".into(), printer: "p".into(), job_ref: "13".into() }]
        );
        j.compact(&left).unwrap();
        assert_eq!(std::fs::read_to_string(j.path()).unwrap().lines().count(), 2);
        j.append(&Entry::Recorded { job: "b".into() }).unwrap();
        assert!(j.unrecorded().unwrap().is_empty());
    }
}
