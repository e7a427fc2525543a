//! The print task of one claimed order: download and validate -> capability check -> mark sending ->
//! submit with job name = printJobId -> record the printer's reference -> wait until the printer reports
//! the job completed -> printed. A lost answer is asked after by name; a lost lease stops the task.

use super::{PrinterSlot, Worker, MAY_HAVE_PRINTED};
use crate::journal::Entry;
use crate::printer::{JobSpec, JobState, PrinterError};
use crate::stages::{self, Stage};
use printcore::files::{check_capabilities, fetch_and_validate};
use printcore::{Error, PrintJob};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// How long an order waits for a busy printer before it counts as a failed attempt.
const BUSY_WAIT: Duration = Duration::from_secs(600);

/// After the printer's answer to a job was lost: how long the printer must keep saying it does not know
/// the job (while up all along) before the order counts as never received. A printer that was slow to
/// answer may still be reading the job; one asked too soon would have it sent twice.
pub(super) const LOST_ANSWER_WINDOW: Duration = Duration::from_secs(10);

impl Worker {
    /// The print flow of one claimed order.
    pub(super) async fn print_order(&self, slot: &PrinterSlot, job: &PrintJob) {
        info!(attempt = job.attempt(), "claimed");
        let started = Instant::now();
        let outcome = self.print_flow(slot, job).await;
        stages::add(Stage::Task, started.elapsed());
        match outcome {
            Ok(()) => {}
            Err(Error::OwnershipLost { .. }) => warn!("the order is no longer ours; stopped"),
            Err(e) => warn!("could not record the outcome: {e}"),
        }
    }

    pub(super) async fn print_flow(&self, slot: &PrinterSlot, job: &PrintJob) -> printcore::Result<()> {
        if self.shutdown.is_shutdown() {
            return job.release("server shutdown before printing").await;
        }
        // A print field the claim's filter could not rule out (copies 2.5, say): fail, naming the field.
        if let Some(message) = job.order.blocking_problem() {
            return self.fail(job, &message, false).await;
        }
        let files = match fetch_and_validate(&self.fetcher, &job.order).await {
            Ok(f) => f,
            Err(e) => return self.fail(job, &e.to_string(), e.is_transient()).await,
        };
        stages::add(Stage::Download, files.download_time);
        stages::add(Stage::Validation, files.validation_time);
        let reports = files.reports();
        if let Some(caps) = slot.capabilities() {
            if let Err(e) = check_capabilities(&job.order, &reports, &slot.identity.name, &caps) {
                return self.mismatch_after_claim(slot, job, &reports, &e.to_string()).await;
            }
        }
        if self.shutdown.is_shutdown() {
            return job.release("server shutdown before printing").await;
        }
        let options = job.order.options();
        let spec = JobSpec {
            job_name: printcore::files::safe_name(job.print_job_id()),
            order_id: job.order_id().to_owned(),
            documents: files.paths(),
            copies: options.copies.unwrap_or(1).max(1),
            duplex: options.duplex.unwrap_or(false),
            color: options.color.unwrap_or(false),
            page_size: options.page_size.clone(),
        };
        let started = Instant::now();
        let describe = slot.printer.describe();
        let (created, submitted) = loop {
            if self.shutdown.is_shutdown() {
                return job.release("server shutdown before printing").await;
            }
            // 1. Where the printer can, the job is created without its documents (IPP Create-Job): that
            //    prints nothing, whatever becomes of the request, and gives the job's id before anything
            //    that could print goes out.
            let marking = Instant::now();
            let created = match slot.printer.create_job(&spec).await {
                Ok(c) => c,
                Err(PrinterError::Busy(m)) if started.elapsed() < BUSY_WAIT => {
                    tracing::debug!("printer busy: {m}");
                    if self.wait_for_busy_printer().await {
                        return job.release("server shutdown before printing").await;
                    }
                    continue;
                }
                Err(e) => {
                    // Nothing can print. An answer lost on the way back may have left an empty job at the
                    // printer, which holds up a printer that prints one job at a time: cancel it.
                    if e.is_transient() {
                        self.cancel_empty_job(slot, &spec.job_name).await;
                    }
                    let message = format!("{describe}: {e}");
                    return self.fail(job, &message, e.is_transient()).await;
                }
            };
            // 2. The being-sent mark, with the created job's id: durable before any document goes (it also
            //    proves the lease is still held). The checksum and pages go in the same write.
            if let Err(e) = job.mark_sending_created(&reports, created.as_deref()).await {
                if let Some(r) = &created {
                    let _ = slot.printer.cancel(r).await;
                }
                if matches!(e, Error::OwnershipLost { .. }) {
                    return Err(e);
                }
                // The database could not make the mark durable (a majority unreachable: a write-concern
                // timeout), or could not say whether it did. Nothing was sent: the order goes back to the
                // queue, the mark undone and the attempt not spent, and this worker claims nothing more
                // until the database takes durable writes again.
                self.pause_claims(&e);
                let reason = format!(
                    "the database could not make the being-sent mark durable ({e}); nothing was sent to the \
                     printer, and the order is back in the queue"
                );
                record(|| job.release_unsent(&reason), "giving back an order that was not sent").await?;
                warn!("{reason}");
                return Ok(());
            }
            self.durable_writes_work();
            stages::add(Stage::Mark, marking.elapsed());
            let sent_at = self.core.now();
            self.journal(Entry::Sending {
                job: job.print_job_id().to_owned(),
                order: job.order_id().to_owned(),
                printer: slot.identity.printer_id.clone(),
                at: sent_at.timestamp_millis(),
            })
            .await;
            // 3. The documents: to the created job, or in one request.
            let submitting = Instant::now();
            let result = match &created {
                Some(r) => slot.printer.send_documents(&spec, r).await.map(|()| r.clone()),
                None => slot.printer.submit(&spec).await,
            };
            stages::add(Stage::Submit, submitting.elapsed());
            match result {
                // Busy with another job: it did not take ours. Wait and offer it again, without spending an
                // attempt; on shutdown meanwhile the order goes back to the queue.
                Err(PrinterError::Busy(m)) if created.is_none() && started.elapsed() < BUSY_WAIT => {
                    job.unmark_sending().await?;
                    tracing::debug!("printer busy: {m}");
                    if self.wait_for_busy_printer().await {
                        return job.release("server shutdown before printing").await;
                    }
                }
                other => break (created.map(|r| (r, sent_at)), other.map_err(|e| (e, sent_at))),
            }
        };
        // The printer has the documents, or never will: their files go now, not after the job prints.
        drop(files);
        let job_ref = match submitted {
            Ok(r) => r,
            Err((e @ PrinterError::Uncertain(_), _)) if created.is_some() => {
                let (r, _) = created.expect("created");
                match self.after_lost_documents(slot, job, &e, &r).await? {
                    Some(r) => r,
                    None => return Ok(()),
                }
            }
            Err((e @ PrinterError::Uncertain(_), sent_at)) => {
                match self.after_lost_answer(slot, job, &e, sent_at).await? {
                    Some(r) => r,
                    None => return Ok(()),
                }
            }
            // Nothing reached the printer (an uncertain submit is the one that may have), or what did was
            // cancelled there.
            Err((e, _)) => {
                let message = format!("{describe}: {e}");
                return self.fail(job, &message, e.is_transient()).await;
            }
        };
        // On disk before the database: a worker that dies while the database is away leaves the printer's
        // answer for the next start on this PC (`Worker::replay_journal`).
        self.journal(Entry::Accepted { job: job.print_job_id().to_owned(), job_ref: job_ref.clone() }).await;
        let recording = Instant::now();
        if !slot.printer.can_look_up_jobs() || slot.printer.complete_when_taken() {
            // The backend took the job and cannot say more (its spooler prints it), or taking it was the
            // whole job (a folder printer): the reference and `printed` go in one write, with both log
            // entries, a write an order fewer for the database.
            let at = record(|| job.complete_submitted(&job_ref), "recording the print").await?;
            slot.printed(at);
            stages::add(Stage::Complete, recording.elapsed());
            self.journal(Entry::Recorded { job: job.print_job_id().to_owned() }).await;
            info!(job_ref = %job_ref, "printed");
            return Ok(());
        }
        record(|| job.mark_submitted(&job_ref), "recording the printer's job reference").await?;
        stages::add(Stage::Submitted, recording.elapsed());
        self.journal(Entry::Recorded { job: job.print_job_id().to_owned() }).await;
        info!(job_ref = %job_ref, "sent to the printer");
        let completing = Instant::now();
        let done = self.wait_until_done(slot, job, &job_ref).await;
        stages::add(Stage::Complete, completing.elapsed());
        done
    }

    /// The claim could not see it, the file shows it: this printer cannot take the order (a page size it
    /// lacks when the order named none, copies stored as text above its maximum). Failing the order for
    /// good would be wrong when another printer can take it: it goes back to the queue for the others
    /// (this printer no longer claims it), and fails only when no active printer can, naming what each
    /// offers. A printer whose capabilities are not known yet counts as one that may.
    async fn mismatch_after_claim(
        &self,
        slot: &PrinterSlot,
        job: &PrintJob,
        reports: &[printcore::files::FileReport],
        message: &str,
    ) -> printcore::Result<()> {
        let skipped: Vec<String> = job
            .order
            .extra
            .get_array(printcore::queue::SKIP_FIELD)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        let printers = match self.core.printers().await {
            Ok(p) => p,
            Err(e) if e.is_transient() => {
                return self.fail(job, &format!("{message}; the other printers could not be read: {e}"), true).await
            }
            Err(e) => return Err(e),
        };
        let mut offers = vec![message.to_owned()];
        let mut another = None;
        for p in printers {
            if p.printer_id == slot.identity.printer_id || p.is_active == Some(false) || skipped.contains(&p.printer_id)
            {
                continue;
            }
            match &p.capabilities {
                None => another = another.or(Some(p.name.clone())),
                Some(caps) => match check_capabilities(&job.order, reports, &p.name, caps) {
                    Ok(()) => another = another.or(Some(p.name.clone())),
                    Err(e) => offers.push(e.to_string()),
                },
            }
        }
        match another {
            Some(name) => {
                let reason = format!("{message}; left for another printer ('{name}' can take it)");
                info!("{reason}");
                job.give_to_other_printers(&slot.identity.printer_id, &reason).await
            }
            None => self.fail(job, &format!("no active printer can take it: {}", offers.join("; ")), false).await,
        }
    }

    /// Waits one job-poll interval for a busy printer. Returns whether the worker is shutting down.
    async fn wait_for_busy_printer(&self) -> bool {
        let mut shutdown = self.shutdown.clone();
        tokio::select! {
            _ = shutdown.recv() => true,
            _ = tokio::time::sleep(self.intervals.job_poll) => false,
        }
    }

    /// After a Create-Job whose answer was lost: the printer may hold an empty job under this name, which
    /// never prints but holds up a printer that takes one job at a time until its own time-out. Cancelled
    /// here when the printer can say so (best effort: it prints nothing either way).
    async fn cancel_empty_job(&self, slot: &PrinterSlot, name: &str) {
        if !slot.printer.can_look_up_jobs() {
            return;
        }
        if let Ok(Some(found)) = slot.printer.find_job(name).await {
            if found.state == JobState::Incoming && slot.printer.cancel(&found.job_ref).await.is_ok() {
                info!(job_ref = %found.job_ref, "cancelled the empty job a lost Create-Job answer left");
            }
        }
    }

    /// The answer to a created job's documents was lost: the job is followed by its id, which the printer
    /// shows its owner whatever its privacy settings. Completed, or still at the printer: the job's
    /// reference is returned (the caller records and follows it). Still waiting for its documents after
    /// [`LOST_ANSWER_WINDOW`]: the document never arrived whole, so the job is cancelled and, once the
    /// printer confirms, the order goes back to the queue (a cancelled job never prints). Aborted or
    /// cancelled at the printer: back to the queue. Not known any more: the printer restarted or purged the
    /// job, and it may have printed. `None`: settled here.
    pub(super) async fn after_lost_documents(
        &self,
        slot: &PrinterSlot,
        job: &PrintJob,
        e: &PrinterError,
        job_ref: &str,
    ) -> printcore::Result<Option<String>> {
        let describe = slot.printer.describe();
        warn!(job_ref, "the printer's answer to the documents was lost ({e}); following the job by its id");
        let mut incoming_since: Option<Instant> = None;
        let mut shutdown = self.shutdown.clone();
        loop {
            match slot.printer.job_state(job_ref, job.print_job_id()).await {
                Ok(JobState::Incoming) => {
                    let since = *incoming_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= LOST_ANSWER_WINDOW {
                        match slot.printer.cancel(job_ref).await {
                            Ok(()) => {
                                let m = format!(
                                    "{describe}: {e}; the document never arrived whole, and job {job_ref} was \
                                     cancelled at the printer (nothing printed)"
                                );
                                self.fail(job, &m, true).await?;
                                return Ok(None);
                            }
                            Err(c) => warn!(job_ref, "cannot cancel the incomplete job yet: {c}"),
                        }
                    }
                }
                Ok(JobState::Absent) => {
                    let m = format!(
                        "{describe} no longer knows job {job_ref}, whose answer was lost ({e}): it restarted or \
                         purged the job; {MAY_HAVE_PRINTED}"
                    );
                    self.fail(job, &m, false).await?;
                    return Ok(None);
                }
                Ok(state @ (JobState::Aborted | JobState::Cancelled)) => {
                    let m = format!("{describe}: {e}; the printer then {state:?} job {job_ref}").to_lowercase();
                    self.fail(job, &m, true).await?;
                    return Ok(None);
                }
                Ok(JobState::Partial) => {
                    self.fail(job, &partial_message(slot, job_ref), false).await?;
                    return Ok(None);
                }
                // Completed, or at the printer: followed like any other job.
                Ok(_) => return Ok(Some(job_ref.to_owned())),
                // Unreachable (restarting, or hung): keep asking; the lease is renewed meanwhile.
                Err(_) => {}
            }
            tokio::select! {
                _ = shutdown.recv() => {
                    info!("shutting down before the printer answered; recovery follows job {job_ref}");
                    return Ok(None);
                }
                _ = tokio::time::sleep(self.intervals.job_poll) => {}
            }
        }
    }

    /// The job went out but the printer's answer was lost: the printer may have it. Asks the printer by
    /// name until it answers: the job it has is ours (its reference is returned). One it does not know after
    /// a restart may have been lost or printed in the restart: failed, for a person to decide. One it keeps
    /// not knowing for [`LOST_ANSWER_WINDOW`] while up all along never arrived: back to the queue. On
    /// shutdown the order stays as it is, and recovery settles it by the same rules. `None`: settled here.
    pub(super) async fn after_lost_answer(
        &self,
        slot: &PrinterSlot,
        job: &PrintJob,
        e: &PrinterError,
        sent_at: bson::DateTime,
    ) -> printcore::Result<Option<String>> {
        let describe = slot.printer.describe();
        if !slot.printer.can_look_up_jobs() {
            self.fail(job, &format!("{describe}: {e}; {MAY_HAVE_PRINTED}"), false).await?;
            return Ok(None);
        }
        warn!("the printer's answer to the job was lost ({e}); asking it by name");
        let mut absent_since: Option<Instant> = None;
        let mut shutdown = self.shutdown.clone();
        loop {
            match slot.printer.find_job(job.print_job_id()).await {
                Ok(Some(found)) if found.state == JobState::Partial => {
                    // Some documents went out, others never did: never completed, never sent again whole.
                    self.fail(job, &partial_message(slot, &found.job_ref), false).await?;
                    return Ok(None);
                }
                Ok(Some(found)) => {
                    info!(job_ref = %found.job_ref, "the printer has the job");
                    return Ok(Some(found.job_ref));
                }
                Ok(None) => match self.restarted_since(slot, Some(sent_at)).await {
                    Ok(true) => {
                        let m = format!(
                            "{describe} restarted while the job was being sent ({e}) and does not know it; \
                             {MAY_HAVE_PRINTED}"
                        );
                        self.fail(job, &m, false).await?;
                        return Ok(None);
                    }
                    Ok(false) => {
                        let since = *absent_since.get_or_insert_with(Instant::now);
                        if since.elapsed() >= LOST_ANSWER_WINDOW {
                            // Not listed proves "never received" only on a printer known to list a job it
                            // completed for longer than this one has been out, under a name it shows.
                            let age = self.since(sent_at);
                            let m = if slot.history.absence_proves_never_received(age) {
                                self.fail(job, &format!("{describe}: {e}; the printer did not get the job"), true)
                                    .await?;
                                return Ok(None);
                            } else {
                                format!(
                                    "{describe}: {e}; the printer does not list the job, which proves nothing \
                                     here ({}); {MAY_HAVE_PRINTED}",
                                    slot.history.describe()
                                )
                            };
                            self.fail(job, &m, false).await?;
                            return Ok(None);
                        }
                    }
                    Err(_) => absent_since = None,
                },
                // Unreachable (it is restarting, or hung): keep asking; the lease is renewed meanwhile.
                Err(_) => absent_since = None,
            }
            tokio::select! {
                _ = shutdown.recv() => {
                    info!("shutting down before the printer answered; recovery settles the order");
                    return Ok(None);
                }
                _ = tokio::time::sleep(self.intervals.job_poll) => {}
            }
        }
    }

    /// How long ago `at` was, on the database's clock.
    pub(super) fn since(&self, at: bson::DateTime) -> Duration {
        let ms = self.core.now().timestamp_millis().saturating_sub(at.timestamp_millis());
        Duration::from_millis(u64::try_from(ms).unwrap_or(0))
    }

    /// Whether the printer started again after `sent_at` (a job sent before then may have been lost or
    /// printed in the restart). `false` when the backend cannot tell, or nothing was sent.
    pub(super) async fn restarted_since(
        &self,
        slot: &PrinterSlot,
        sent_at: Option<bson::DateTime>,
    ) -> Result<bool, PrinterError> {
        let (Some(up), Some(sent)) = (slot.printer.up_time().await?, sent_at) else { return Ok(false) };
        let since_sent = self.core.now().timestamp_millis().saturating_sub(sent.timestamp_millis());
        // The printer counts whole seconds and its clock is not ours: a start up to 2 s before the job was
        // sent counts as after it (the safe side).
        Ok(i64::try_from(up.as_millis()).unwrap_or(i64::MAX) < since_sent.saturating_add(2000))
    }

    /// Waits for the printer to finish the job, then records the outcome. A job the printer still holds
    /// (queued, held, printing, stopped for paper or a jam) is waited for however long it takes, with the
    /// printer's reason shown on the order; a state this worker does not know is never read as "gone".
    pub(super) async fn wait_until_done(
        &self,
        slot: &PrinterSlot,
        job: &PrintJob,
        job_ref: &str,
    ) -> printcore::Result<()> {
        let mut unreachable_since: Option<Instant> = None;
        let mut shown: Option<String> = None;
        loop {
            let mut job_says = None;
            let status = slot.printer.job_status(job_ref, job.print_job_id()).await.map(|(state, says)| {
                job_says = says;
                state
            });
            match status {
                Ok(JobState::Completed) => {
                    let at = record(|| job.complete(), "recording the print").await?;
                    slot.printed(at);
                    slot.history.completed(job.print_job_id());
                    info!("printed");
                    return Ok(());
                }
                Ok(state @ (JobState::Aborted | JobState::Cancelled)) => {
                    let message = format!(
                        "the printer {} the job",
                        if state == JobState::Aborted { "aborted" } else { "cancelled" }
                    );
                    return self.fail(job, &message, true).await;
                }
                Ok(JobState::Deleted) => {
                    let message = format!(
                        "job {job_ref} was deleted from the print queue of {} by a person before it was reported \
                         printed (a cancel in the queue window, or 'Cancel all documents'); part of it may have \
                         printed: check the printer, then reprint it if needed",
                        slot.printer.describe()
                    );
                    return self.fail(job, &message, false).await;
                }
                Ok(JobState::Absent) => {
                    let message = format!(
                        "{} no longer knows job {job_ref} (restarted or purged its history); {MAY_HAVE_PRINTED}",
                        slot.printer.describe()
                    );
                    return self.fail(job, &message, false).await;
                }
                Ok(JobState::Partial) => {
                    return self.fail(job, &partial_message(slot, job_ref), false).await;
                }
                Ok(state) => {
                    unreachable_since = None;
                    if let JobState::Unrecognized(code) = state {
                        tracing::debug!("the printer reports job state {code}, unknown here; still waiting");
                    }
                    // What the printer says of the job itself (a hold, a stop), and of itself at the last
                    // health reading (a CUPS queue's "Filter failed").
                    let printer_says = slot.reading().and_then(|r| r.message);
                    let says = match (job_says, printer_says) {
                        (Some(j), Some(p)) => Some(format!("{j}; {p}")),
                        (j, p) => j.or(p),
                    };
                    let reason = wait_reason(state, says);
                    if reason != shown {
                        job.note_waiting(reason.as_deref()).await?;
                        if let Some(r) = &reason {
                            info!("{r}");
                        }
                        shown = reason;
                    }
                }
                Err(e) => {
                    if unreachable_since.is_none() {
                        warn!("cannot ask the printer about the job: {e}; still waiting");
                        unreachable_since = Some(Instant::now());
                    }
                }
            }
            tokio::time::sleep(self.intervals.job_poll).await;
        }
    }

    pub(super) async fn fail(&self, job: &PrintJob, message: &str, transient: bool) -> printcore::Result<()> {
        crate::stats::failed(message, transient);
        if transient {
            let outcome = job.fail_transient(message).await?;
            warn!(?outcome, "transient failure: {message}");
        } else {
            job.fail_permanent(message).await?;
            warn!("failed: {message}");
        }
        Ok(())
    }
}

/// Why a job the printer still holds is waiting, for the order (`None` when it is simply queued or
/// printing and the printer reports nothing wrong: no write for that).
fn wait_reason(state: JobState, printer_says: Option<String>) -> Option<String> {
    let at = match state {
        JobState::Held => Some("held at the printer"),
        JobState::Stopped => Some("stopped at the printer"),
        JobState::Unrecognized(_) => Some("at the printer, in a state the worker does not know"),
        JobState::Incoming => Some("at the printer, its document still arriving"),
        _ => None,
    };
    match (at, printer_says) {
        (Some(a), Some(p)) => Some(format!("{a}: {p}")),
        (Some(a), None) => Some(a.to_owned()),
        (None, Some(p)) => Some(format!("waiting at the printer: {p}")),
        (None, None) => None,
    }
}

/// The message for an order only part of which reached the printer.
pub(super) fn partial_message(slot: &PrinterSlot, found: &str) -> String {
    format!(
        "only part of the order reached {} (printer jobs {found}; the others never went out): part of the \
         order may have printed; check the printer, then reprint what is missing",
        slot.printer.describe()
    )
}

/// A write that records what the printer already did (it took the job; it completed it). The database
/// being away must not lose it: the answer is kept and the write tried again (the lease is renewed
/// meanwhile) until the database takes it, the order turns out not to be this worker's any more, or the
/// worker stops (then recovery asks the printer).
pub(super) async fn record<T, F, Fut>(write: F, what: &str) -> printcore::Result<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = printcore::Result<T>>,
{
    let mut wait = Duration::from_millis(200);
    loop {
        match write().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_transient() => {
                warn!("{what}: {e}; trying again in {wait:?} (the printer's answer is kept)");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiting_job_shows_why_and_a_plainly_queued_one_writes_nothing() {
        assert_eq!(
            wait_reason(JobState::Stopped, Some("media-empty".into())).as_deref(),
            Some("stopped at the printer: media-empty")
        );
        assert_eq!(wait_reason(JobState::Held, None).as_deref(), Some("held at the printer"));
        assert_eq!(
            wait_reason(JobState::Processing, Some("media-jam".into())).as_deref(),
            Some("waiting at the printer: media-jam")
        );
        assert_eq!(wait_reason(JobState::Pending, None), None);
        assert_eq!(wait_reason(JobState::Processing, None), None);
        assert!(wait_reason(JobState::Unrecognized(42), None).unwrap().contains("does not know"));
    }
}
