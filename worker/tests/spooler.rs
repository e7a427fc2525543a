//! The command backend with a print spooler, as on Windows: the spooler replays what Windows reports
//! (`JOB_INFO_1` and `PRINTER_INFO_2` values, one answer per look) while a real print command hands the
//! file, named after the job, to the "queue" (a folder). Runs anywhere; the calls themselves are exercised
//! under wine (tests/tests/wine.rs), whose spooler cannot list jobs.

use printcore::{PrinterCapabilities, PrinterStatus};
use printcore_tests::pdfgen::{pdf, pdf_file, A4};
use printworker::backends::spooler::{bits::*, SpoolError, SpoolJob, SpoolPrinter, SpoolerApi};
use printworker::backends::CommandPrinter;
use printworker::{JobSpec, JobState, Printer};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A spooler queue: each file the print command drops into `dir` is a job; each look at a job moves it
/// one step through `script`; past the end it stays at the last status (`hold`), stays as printed (the
/// printer keeps printed documents), or leaves the queue, as Windows drops a printed job.
struct Queue {
    dir: PathBuf,
    _folder: tempfile::TempDir,
    script: Vec<u32>,
    hold: bool,
    keeps_printed: bool,
    lists_jobs: bool,
    printer_status: Mutex<Result<(u32, u32), SpoolError>>,
    jobs: Mutex<Vec<Job>>,
}

struct Job {
    id: u32,
    document: String,
    step: usize,
    gone: bool,
}

impl Queue {
    fn new(script: &[u32]) -> Queue {
        let folder = tempfile::tempdir().unwrap();
        Queue {
            dir: folder.path().to_path_buf(),
            _folder: folder,
            script: script.to_vec(),
            hold: false,
            keeps_printed: false,
            lists_jobs: true,
            printer_status: Mutex::new(Ok((0, 0))),
            jobs: Mutex::new(Vec::new()),
        }
    }

    /// New files in the folder are new jobs, numbered from 1 in order.
    fn refresh(&self) {
        let mut jobs = self.jobs.lock().unwrap();
        let mut files: Vec<_> = std::fs::read_dir(&self.dir).unwrap().flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let document = f.display().to_string();
            if !jobs.iter().any(|j| j.document == document) {
                let id = jobs.len() as u32 + 1;
                jobs.push(Job { id, document, step: 0, gone: false });
            }
        }
    }

    /// One look at a job: its status now, `None` once it has left the queue.
    fn look(&self, job: &mut Job) -> Option<SpoolJob> {
        if job.gone {
            return None;
        }
        let status = if job.step < self.script.len() {
            job.step += 1;
            self.script[job.step - 1]
        } else if self.hold && !self.script.is_empty() {
            *self.script.last().unwrap()
        } else if self.keeps_printed {
            JOB_STATUS_PRINTED | JOB_STATUS_RETAINED
        } else {
            job.gone = true;
            return None;
        };
        Some(SpoolJob {
            id: job.id,
            document: job.document.clone(),
            status,
            status_text: None,
            user: "NT SERVICE\\printcore-worker".into(),
        })
    }

    /// The command: copies the file into the queue folder, keeping its name.
    fn print_command(&self) -> Vec<String> {
        vec![
            "sh".into(),
            "-c".into(),
            "cp \"$1\" \"$2\"/".into(),
            "sh".into(),
            "{file}".into(),
            self.dir.display().to_string(),
        ]
    }
}

impl SpoolerApi for Queue {
    fn printer(&self) -> Result<SpoolPrinter, SpoolError> {
        let (status, attributes) = self.printer_status.lock().unwrap().clone()?;
        let keep = if self.keeps_printed { PRINTER_ATTRIBUTE_KEEPPRINTEDJOBS } else { 0 };
        let jobs = self.jobs.lock().unwrap().iter().filter(|j| !j.gone).count() as u32;
        Ok(SpoolPrinter { name: "HP LaserJet M404".into(), status, attributes: attributes | keep, jobs })
    }

    fn jobs(&self) -> Result<Vec<SpoolJob>, SpoolError> {
        if !self.lists_jobs {
            return Err(SpoolError::Unsupported("EnumJobs is not implemented by this print spooler".into()));
        }
        self.refresh();
        let mut jobs = self.jobs.lock().unwrap();
        Ok(jobs.iter_mut().filter_map(|j| self.look(j)).collect())
    }

    fn job(&self, id: u32) -> Result<Option<SpoolJob>, SpoolError> {
        self.refresh();
        let mut jobs = self.jobs.lock().unwrap();
        Ok(jobs.iter_mut().find(|j| j.id == id).and_then(|j| self.look(j)))
    }

    fn delete(&self, id: u32) -> Result<(), SpoolError> {
        if let Some(j) = self.jobs.lock().unwrap().iter_mut().find(|j| j.id == id) {
            j.gone = true;
        }
        Ok(())
    }
}

fn backend(queue: &Arc<Queue>) -> CommandPrinter {
    let caps = PrinterCapabilities { page_sizes: vec!["A4".into()], color: false, duplex: false, max_copies: 9 };
    CommandPrinter::new("HP LaserJet M404", queue.print_command(), None, Duration::from_secs(10), caps)
        .unwrap()
        .with_spooler(queue.clone())
}

fn job(name: &str, documents: usize) -> JobSpec {
    JobSpec {
        job_name: name.into(),
        order_id: format!("ORD-{name}"),
        documents: (0..documents).map(|_| pdf_file(pdf(1, A4))).collect(),
        copies: 1,
        duplex: false,
        color: false,
        page_size: None,
    }
}

const NAME: &str = "0b7d3e2a-5f41-4c1e-9a6b-3d2c1f0e9a87";

/// Issue 23 item 4: with "Keep printed documents" on, the job is followed until the kept job says printed.
#[tokio::test]
async fn a_job_is_followed_through_the_spooler_until_the_kept_job_says_printed() {
    let mut queue = Queue::new(&[JOB_STATUS_SPOOLING, JOB_STATUS_PRINTING, JOB_STATUS_PRINTING]);
    queue.keeps_printed = true;
    let queue = Arc::new(queue);
    let printer = backend(&queue);
    assert_eq!(printer.setup_problem().await, None);
    assert!(printer.can_look_up_jobs());
    let reference = printer.submit(&job(NAME, 1)).await.unwrap();
    assert_eq!(reference, "1", "the spooler's job id");
    // The file the command got, and so the spooler's document name, is the job's name.
    assert!(queue.jobs.lock().unwrap()[0].document.ends_with(&format!("/{NAME}.pdf")));
    let mut states = Vec::new();
    loop {
        let s = printer.job_state(&reference, NAME).await.unwrap();
        states.push(s);
        if s.is_final() {
            break;
        }
    }
    assert_eq!(states.first(), Some(&JobState::Processing));
    assert_eq!(states.last(), Some(&JobState::Completed), "the kept job says printed: {states:?}");
    // The same number under another name is not our job.
    assert_eq!(printer.job_state(&reference, "another-print-job").await.unwrap(), JobState::Absent);
}

/// Issue 23 item 4: gone is not printed. Without "Keep printed documents" a job that leaves the queue may
/// have printed or been deleted ("Cancel all documents" on a jammed printer): never read as printed, and
/// `worker check` says to turn the setting on. With it on, a job a person deleted reads as deleted.
#[tokio::test]
async fn a_job_that_leaves_the_queue_is_never_taken_as_printed() {
    let queue = Arc::new(Queue::new(&[JOB_STATUS_SPOOLING, JOB_STATUS_PRINTING]));
    let printer = backend(&queue);
    let problem = printer.setup_problem().await.expect("keep printed documents is off");
    assert!(problem.contains("Keep printed documents") && problem.contains("HP LaserJet M404"), "{problem}");
    let reference = printer.submit(&job(NAME, 1)).await.unwrap();
    let mut states = Vec::new();
    loop {
        let s = printer.job_state(&reference, NAME).await.unwrap();
        states.push(s);
        if s.is_final() || s == JobState::Absent {
            break;
        }
    }
    assert_eq!(states.last(), Some(&JobState::Absent), "dropped from the queue: may have printed: {states:?}");

    // Printed documents kept: a person deletes the job while it prints.
    let mut kept = Queue::new(&[JOB_STATUS_SPOOLING, JOB_STATUS_PRINTING]);
    kept.keeps_printed = true;
    kept.hold = true;
    let kept = Arc::new(kept);
    let printer = backend(&kept);
    let reference = printer.submit(&job(NAME, 1)).await.unwrap();
    assert_eq!(printer.job_state(&reference, NAME).await.unwrap(), JobState::Processing);
    kept.delete(1).unwrap();
    assert_eq!(printer.job_state(&reference, NAME).await.unwrap(), JobState::Deleted, "deleted by a person");
}

#[tokio::test]
async fn after_a_restart_a_job_the_spooler_no_longer_lists_may_have_printed() {
    let queue = Arc::new(Queue::new(&[JOB_STATUS_SPOOLING]));
    let before = backend(&queue);
    let reference = before.submit(&job(NAME, 1)).await.unwrap();
    // The worker restarts (a new backend has seen nothing) after Windows printed and dropped the job.
    let after = backend(&queue);
    assert_eq!(after.find_job(NAME).await.unwrap(), None);
    assert_eq!(after.job_state(&reference, NAME).await.unwrap(), JobState::Absent, "never taken as printed");
    // The spooler forgets printed jobs: one it does not know may have printed (never sent again).
    assert_eq!(after.up_time().await.unwrap(), Some(Duration::ZERO));

    // With "Keep printed documents" on, the printed job stays listed: found, completed.
    let mut keeping = Queue::new(&[JOB_STATUS_SPOOLING]);
    keeping.keeps_printed = true;
    let keeping = Arc::new(keeping);
    backend(&keeping).submit(&job(NAME, 1)).await.unwrap();
    let after = backend(&keeping);
    let found = after.find_job(NAME).await.unwrap().expect("kept in the queue");
    assert_eq!((found.job_ref.as_str(), found.state), ("1", JobState::Completed));
    assert_eq!(after.up_time().await.unwrap(), None, "a printer that keeps printed jobs knows its history");
}

#[tokio::test]
async fn a_job_stopped_at_the_printer_is_found_by_name_followed_and_cancelled() {
    let mut queue = Queue::new(&[JOB_STATUS_SPOOLING, JOB_STATUS_PRINTING | JOB_STATUS_PAPEROUT]);
    queue.hold = true;
    let queue = Arc::new(queue);
    backend(&queue).submit(&job(NAME, 1)).await.unwrap();
    // Found by name by a worker that restarted: still at the printer, out of paper: followed.
    let after = backend(&queue);
    let found = after.find_job(NAME).await.unwrap().expect("the job is in the queue");
    assert_eq!(found.state, JobState::Stopped);
    assert!(found.state.is_waiting());
    assert_eq!(after.job_state(&found.job_ref, NAME).await.unwrap(), JobState::Stopped);
    // A reference from a worker that could not follow jobs is asked by name.
    assert_eq!(after.job_state(&format!("command:{NAME}"), NAME).await.unwrap(), JobState::Stopped);
    // Cancelled from the worker (an admin's cancel): deleted from the queue, read as cancelled.
    after.cancel(&found.job_ref).await.unwrap();
    assert_eq!(after.job_state(&found.job_ref, NAME).await.unwrap(), JobState::Cancelled);
}

#[tokio::test]
async fn each_document_of_an_order_is_a_spooler_job_named_with_its_place() {
    let mut queue = Queue::new(&[JOB_STATUS_SPOOLING, JOB_STATUS_PRINTING]);
    queue.keeps_printed = true;
    let queue = Arc::new(queue);
    let printer = backend(&queue);
    let reference = printer.submit(&job(NAME, 2)).await.unwrap();
    assert_eq!(reference, "1,2");
    let documents: Vec<String> = queue.jobs.lock().unwrap().iter().map(|j| j.document.clone()).collect();
    assert!(documents[0].ends_with(&format!("{NAME}-1of2.pdf")) && documents[1].ends_with(&format!("{NAME}-2of2.pdf")));
    assert_eq!(printer.job_state(&reference, NAME).await.unwrap(), JobState::Processing);
    assert_eq!(printer.job_state(&reference, NAME).await.unwrap(), JobState::Completed);
    // Only the second document in the queue, to a worker that restarted: part of the order.
    let mut queue = Queue::new(&[JOB_STATUS_PRINTING]);
    queue.hold = true;
    let queue = Arc::new(queue);
    std::fs::write(queue.dir.join(format!("{NAME}-2of2.pdf")), b"%PDF").unwrap();
    let found = backend(&queue).find_job(NAME).await.unwrap().unwrap();
    assert_eq!(found.state, JobState::Partial);
}

#[tokio::test]
async fn a_document_the_spooler_never_listed_is_not_taken_as_printed() {
    // Printed and dropped before the worker could look (a fast printer).
    let queue = Arc::new(Queue::new(&[]));
    let printer = backend(&queue);
    let reference = printer.submit(&job(NAME, 1)).await.unwrap();
    assert_eq!(reference, "unseen");
    // Issue 23 item 4: the command's exit code is not the printer's word: nobody can say it printed.
    assert_eq!(printer.job_state(&reference, NAME).await.unwrap(), JobState::Absent);
}

#[tokio::test]
async fn a_spooler_that_cannot_list_jobs_leaves_the_backend_unable_to_look_jobs_up() {
    // wine's EnumJobs.
    let mut queue = Queue::new(&[JOB_STATUS_PRINTING]);
    queue.lists_jobs = false;
    let queue = Arc::new(queue);
    let printer = backend(&queue);
    assert!(!printer.can_look_up_jobs());
    let reference = printer.submit(&job(NAME, 1)).await.unwrap();
    assert_eq!(reference, format!("command:{NAME}"));
    assert!(printer.find_job(NAME).await.is_err());
    // The printer's state still comes from the spooler.
    assert_eq!(printer.status().await.unwrap().status, PrinterStatus::Online);
}

#[tokio::test]
async fn the_printers_state_and_queue_come_from_the_spooler() {
    let queue = Arc::new(Queue::new(&[]));
    let printer = backend(&queue);
    *queue.printer_status.lock().unwrap() = Ok((PRINTER_STATUS_PAPER_OUT, 0));
    let s = printer.status().await.unwrap();
    assert_eq!((s.status, s.queue_length), (PrinterStatus::Error, Some(0)));
    assert!(s.message.unwrap().contains("PaperOut"));
    *queue.printer_status.lock().unwrap() = Ok((0, PRINTER_ATTRIBUTE_WORK_OFFLINE));
    assert_eq!(printer.status().await.unwrap().status, PrinterStatus::Offline);
    *queue.printer_status.lock().unwrap() =
        Err(SpoolError::NoSuchPrinter { installed: vec!["Microsoft Print to PDF".into()] });
    let s = printer.status().await.unwrap();
    assert_eq!(s.status, PrinterStatus::Offline);
    assert!(s.message.unwrap().contains("installed: Microsoft Print to PDF"));
}
