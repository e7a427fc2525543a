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

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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

/// The journal file. Appends are serialised; each is flushed to disk before it returns.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl Journal {
    /// Opens (creating) the journal at `path`; its folder is created private to the worker.
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
        let file = options.open(path)?;
        Ok(Journal { path: path.to_path_buf(), file: Mutex::new(file) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry and flushes it to disk.
    pub fn append(&self, entry: &Entry) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(&line)?;
        file.sync_data()
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
