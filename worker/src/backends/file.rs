//! A folder as a printer, for the demo and tests: each job becomes a folder named by its `printJobId`
//! holding its documents and a `job.json` with its options. The folder is written under a temporary name
//! and renamed, so a job folder is either complete or absent. Always online.

use crate::printer::{FoundJob, JobSpec, JobState, Printer, PrinterError, PrinterState};
use async_trait::async_trait;
use printcore::{PrinterCapabilities, PrinterStatus};
use std::path::PathBuf;

pub struct FilePrinter {
    pub dir: PathBuf,
    pub capabilities: PrinterCapabilities,
}

impl FilePrinter {
    pub fn new(dir: impl Into<PathBuf>, capabilities: PrinterCapabilities) -> FilePrinter {
        FilePrinter { dir: dir.into(), capabilities }
    }

    fn job_dir(&self, name: &str) -> Result<PathBuf, PrinterError> {
        // A job name is a UUID; refuse anything that could leave the folder.
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(PrinterError::Rejected(format!("{name:?} is not a valid job name")));
        }
        Ok(self.dir.join(name))
    }
}

#[async_trait]
impl Printer for FilePrinter {
    fn describe(&self) -> String {
        format!("folder printer {}", self.dir.display())
    }

    async fn status(&self) -> Result<PrinterState, PrinterError> {
        match tokio::fs::create_dir_all(&self.dir).await {
            Ok(()) => Ok(PrinterState {
                status: PrinterStatus::Online,
                queue_length: Some(0),
                reasons: vec![],
                message: None,
            }),
            Err(e) => Ok(PrinterState {
                status: PrinterStatus::Error,
                queue_length: None,
                reasons: vec![],
                message: Some(format!("cannot write to {}: {e}", self.dir.display())),
            }),
        }
    }

    async fn capabilities(&self) -> Result<PrinterCapabilities, PrinterError> {
        Ok(self.capabilities.clone())
    }

    async fn submit(&self, job: &JobSpec) -> Result<String, PrinterError> {
        let target = self.job_dir(&job.job_name)?;
        if tokio::fs::try_exists(&target).await.unwrap_or(false) {
            // Same job name = same print job: never write it twice.
            return Ok(job.job_name.clone());
        }
        let tmp = self.dir.join(format!(".{}.tmp", job.job_name));
        let io = |e: std::io::Error| {
            PrinterError::Transient(format!("cannot write the job into {}: {e}", self.dir.display()))
        };
        let _ = tokio::fs::remove_dir_all(&tmp).await;
        tokio::fs::create_dir_all(&tmp).await.map_err(io)?;
        for (i, doc) in job.documents.iter().enumerate() {
            tokio::fs::copy(doc, tmp.join(format!("{}.pdf", i + 1))).await.map_err(io)?;
        }
        let meta = serde_json::json!({
            "orderId": job.order_id, "printJobId": job.job_name, "copies": job.copies,
            "duplex": job.duplex, "color": job.color, "pageSize": job.page_size, "documents": job.documents.len(),
        });
        tokio::fs::write(tmp.join("job.json"), serde_json::to_vec_pretty(&meta).unwrap_or_default())
            .await
            .map_err(io)?;
        tokio::fs::rename(&tmp, &target).await.map_err(io)?;
        Ok(job.job_name.clone())
    }

    async fn job_state(&self, job_ref: &str, _job_name: &str) -> Result<JobState, PrinterError> {
        let dir = self.job_dir(job_ref)?;
        Ok(if tokio::fs::try_exists(dir).await.unwrap_or(false) { JobState::Completed } else { JobState::Absent })
    }

    async fn find_job(&self, job_name: &str) -> Result<Option<FoundJob>, PrinterError> {
        Ok(match self.job_state(job_name, job_name).await? {
            JobState::Completed => Some(FoundJob { job_ref: job_name.to_owned(), state: JobState::Completed }),
            _ => None,
        })
    }

    async fn cancel(&self, job_ref: &str) -> Result<(), PrinterError> {
        Err(PrinterError::Unsupported(format!("job {job_ref} is already written; a folder printer cannot cancel")))
    }

    fn can_look_up_jobs(&self) -> bool {
        true
    }

    fn complete_when_taken(&self) -> bool {
        true
    }
}
