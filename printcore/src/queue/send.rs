//! Sending a claimed order: the file recorded, "being sent", submitted to the printer, printed.
//!
//! The "being sent" mark ([`PrintJob::mark_sending`], `printSubmittedAt`) is the line recovery respects:
//! before it an order whose worker died goes back to the queue; after it, the printer is asked first. So it
//! is written durably (majority, journaled) and only while the lease still holds. `printed` is written
//! only when the printer reports the job completed ([`PrintJob::complete`]).

use super::PrintJob;
use crate::db::clock;
use crate::error::{Error, Result};
use crate::model::state::Action;
use crate::model::PrintStatus;
use bson::{doc, DateTime, Document};
use mongodb::options::{Acknowledgment, WriteConcern};

impl PrintJob {
    /// Records the file's checksum and page count (after download and validation).
    pub async fn record_file(&self, sha256: &str, pages: i64) -> Result<()> {
        self.fenced_set(doc! { "fileSha256": sha256, "filePages": pages }).await
    }

    /// Marks that the job is about to be sent to the printer. From here on, recovery asks the printer
    /// before it would print the order again. Call it before sending.
    pub async fn mark_sending(&self) -> Result<()> {
        self.mark_sending_with(Document::new()).await
    }

    /// [`PrintJob::mark_sending`] with more print fields in the same write (the file's checksum and pages).
    ///
    /// The write proves the lease is still held: its filter also requires the stored lease not to have run
    /// out (on the server's clock), so a worker that was paused past its lease cannot mark, and so cannot
    /// send, an order another worker may be recovering. Call [`PrintJob::lease_left`] right before sending
    /// and mark again when it is short.
    ///
    /// It is the one write whose loss would print an order twice (an order marked as sent that forgets the
    /// mark looks unsent to recovery, which gives it back to the queue), so it asks for
    /// [`sending_write_concern`]: acknowledged only once it survives a crash of the database server or a
    /// change of primary, whatever write concern the connection has.
    pub(crate) async fn mark_sending_with(&self, mut fields: Document) -> Result<()> {
        let sent = clock::monotonic_ms();
        let now = self.core.now();
        fields.insert("printSubmittedAt", now);
        fields.insert("printLeaseUntil", clock::add(now, self.core.inner.config.lease));
        let mut fence = self.fence();
        fence.insert("printLeaseUntil", doc! { "$gt": now });
        let r = self
            .core
            .inner
            .orders
            .update_one(fence, doc! { "$set": fields })
            .write_concern(sending_write_concern())
            .await
            .map_err(Error::db(format!("marking order {} as being sent", self.order.order_id)))?;
        if r.matched_count == 0 {
            tracing::warn!(order_id = %self.order.order_id, print_job_id = %self.print_job_id, "lease lost before sending; not sent");
            return Err(self.lost());
        }
        self.lease_set_at(sent);
        Ok(())
    }

    /// Takes back [`PrintJob::mark_sending`] when the printer answered that it did not take the job (busy),
    /// so the order may be released or retried without asking the printer first.
    pub async fn unmark_sending(&self) -> Result<()> {
        let r = self
            .core
            .inner
            .orders
            .update_one(self.fence(), doc! { "$unset": { "printSubmittedAt": "" } })
            .await
            .map_err(Error::db(format!("updating order {}", self.order.order_id)))?;
        if r.matched_count == 0 {
            return Err(self.lost());
        }
        Ok(())
    }

    /// Records that the printer accepted the job, with its reference for the job (logged as `submitted`).
    pub async fn mark_submitted(&self, printer_job_ref: &str) -> Result<()> {
        let now = self.core.now();
        let update = doc! { "$set": {
            "printerJobRef": printer_job_ref,
            "printSubmittedAt": now,
            "printLeaseUntil": clock::add(now, self.core.inner.config.lease),
        } };
        self.transition(Action::Submitted, PrintStatus::Printing, None, self.submitted_meta(printer_job_ref), update)
            .await
    }

    /// [`PrintJob::mark_submitted`] and [`PrintJob::complete`] in one write, for a backend whose job is
    /// complete once it took it (a folder printer) or that cannot look jobs up (a print command): it took the
    /// job, and that is all it will ever say, so the order is `printed` with the printer's reference at once.
    /// Both log entries (`submitted`, then `printed`) go into the outbox in the same atomic write, so the
    /// audit trail reads as for two writes. Saves the database a write per order; a crash before it leaves
    /// the order as a crash before `mark_submitted` did (being sent, no reference: recovery asks the
    /// backend, or the journal has it).
    pub async fn complete_submitted(&self, printer_job_ref: &str) -> Result<DateTime> {
        let now = self.core.now();
        let mut update = printed_update(now);
        if let Ok(set) = update.get_document_mut("$set") {
            set.insert("printerJobRef", printer_job_ref);
            set.insert("printSubmittedAt", now);
        }
        let submitted = self.entry(Action::Submitted, PrintStatus::Printing, self.submitted_meta(printer_job_ref));
        let printed = self.entry(Action::Printed, PrintStatus::Printed, Document::new());
        self.transitions(update, vec![submitted, printed]).await?;
        Ok(now)
    }

    /// The `submitted` log entry's metadata: the printer's reference and the printer.
    fn submitted_meta(&self, printer_job_ref: &str) -> Document {
        doc! { "printerJobRef": printer_job_ref, "printerId": self.order.printer_id.clone() }
    }

    /// The printer reported the job completed: `printed`. Returns the completion time (the worker's next
    /// health reading records it as the printer's `last_successful_print_at`, saving a write per order).
    pub async fn complete(&self) -> Result<DateTime> {
        let now = self.core.now();
        let update = printed_update(now);
        self.transition(Action::Printed, PrintStatus::Printed, None, Document::new(), update).await?;
        Ok(now)
    }
}

/// The files' report on the order (the file pipeline lives in [`crate::files`], which knows nothing of
/// print jobs).
impl PrintJob {
    /// Records the files' checksum and page count on the order (fenced). One file: its sha256. Several:
    /// their sha256s joined with commas, in file order. `filePages` is the total.
    pub async fn record_reports(&self, reports: &[crate::files::FileReport]) -> Result<()> {
        let (sha, pages) = crate::files::file_fields(reports);
        self.record_file(&sha, pages).await
    }

    /// [`PrintJob::record_reports`] and [`PrintJob::mark_sending`] in one write: the print flow's last
    /// write before the printer gets the job.
    pub async fn mark_sending_with_reports(&self, reports: &[crate::files::FileReport]) -> Result<()> {
        self.mark_sending_created(reports, None).await
    }

    /// [`PrintJob::mark_sending_with_reports`] for a job the printer created before its documents (IPP
    /// Create-Job): `created` is the printer's id for it, stored as `printerJobRef` in the same durable write,
    /// before any document goes. From then on the order is followed by that id: recovery asks the printer
    /// about that job, not about a name; and an order marked as being sent without a `printerJobRef` was
    /// sent in one request (Print-Job), whose lost answer only the job name can settle.
    pub async fn mark_sending_created(
        &self,
        reports: &[crate::files::FileReport],
        created: Option<&str>,
    ) -> Result<()> {
        let (sha, pages) = crate::files::file_fields(reports);
        let mut fields = bson::doc! { "fileSha256": sha, "filePages": pages };
        if let Some(r) = created {
            fields.insert("printerJobRef", r);
        }
        self.mark_sending_with(fields).await
    }
}

/// The update that makes an order `printed` at `now`: the attempt's lease, error, backoff and wait reason
/// go with it.
fn printed_update(now: DateTime) -> Document {
    doc! {
        "$set": { "printStatus": PrintStatus::Printed.as_str(), "printCompletedAt": now },
        "$unset": { "printLeaseUntil": "", "printError": "", "printNotBefore": "", "printWaitReason": "" },
    }
}

/// The write concern of the "being sent" mark: a majority of the replica set has it in its on-disk journal
/// (on a standalone server, its journal), within 10 s. A mark the database could lose in a crash or a
/// failover would let recovery print a sent order again; one that times out on the write concern is an
/// error, so the job is not sent, and recovery asks the printer about it before anything else happens.
fn sending_write_concern() -> WriteConcern {
    WriteConcern::builder()
        .w(Acknowledgment::Majority)
        .journal(true)
        .w_timeout(std::time::Duration::from_secs(10))
        .build()
}
