//! The worker at run time: its printers and its loops. Each loop is a `*_once` method that does one pass
//! and returns what it did (tests call them directly), and a `run` that calls them on their intervals until
//! the shutdown signal.
//!
//! The print flow of one order (`print_order`): download and validate -> record checksum and pages ->
//! capability check -> mark sending -> submit with job name = printJobId -> record the printer's reference
//! -> wait until the printer reports the job completed -> printed. The lease is renewed meanwhile; a lost
//! lease stops the flow at once.

use crate::config::Config;
use crate::health::{HealthReading, PrinterHealthTracker, PrinterIdentity};
use crate::printer::{JobSpec, JobState, Printer, PrinterError};
use crate::shutdown::Shutdown;
use futures::StreamExt;
use printcore::files::{check_capabilities, fetch_and_validate, FileFetcher};
use printcore::{ClaimTarget, Error, Order, PrintCore, PrintJob, PrinterCapabilities, WorkerId};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tracing::{info, info_span, warn, Instrument};

/// How long an order waits for a busy printer before it counts as a failed attempt.
const BUSY_WAIT: Duration = Duration::from_secs(600);

/// After the printer's answer to a job was lost: how long the printer must keep saying it does not know
/// the job (while up all along) before the order counts as never received. A printer that was slow to
/// answer may still be reading the job; one asked too soon would have it sent twice.
const LOST_ANSWER_WINDOW: Duration = Duration::from_secs(10);

/// What the worker says when it cannot know whether an order reached paper.
pub const MAY_HAVE_PRINTED: &str = "may have printed; check the printer before reprinting";

/// The loops' intervals.
#[derive(Debug, Clone)]
pub struct Intervals {
    pub poll: Duration,
    pub health: Duration,
    pub recovery: Duration,
    pub stuck_check: Duration,
    pub metrics: Duration,
    pub job_poll: Duration,
    pub shutdown_grace: Duration,
    pub change_streams: bool,
}

impl Intervals {
    pub fn from_config(c: &Config) -> Intervals {
        let w = &c.worker;
        let d = Duration::from_secs_f64;
        Intervals {
            poll: d(w.poll_interval_secs),
            health: d(w.health_interval_secs),
            recovery: d(w.recovery_interval_secs),
            stuck_check: d(w.stuck_check_interval_secs),
            metrics: d(w.metrics_interval_secs),
            job_poll: d(w.job_poll_interval_secs),
            shutdown_grace: d(w.shutdown_grace_secs),
            change_streams: w.change_streams,
        }
    }
}

/// One printer this worker drives, with its health and its job slots.
pub struct PrinterSlot {
    pub identity: PrinterIdentity,
    pub printer: Arc<dyn Printer>,
    /// Capabilities from the configuration (override what the printer reports).
    pub configured: Option<PrinterCapabilities>,
    tracker: tokio::sync::Mutex<PrinterHealthTracker>,
    reading: Mutex<Option<HealthReading>>,
    permits: Arc<Semaphore>,
    /// When this worker last completed a print here; the health loop records it.
    last_success: Mutex<Option<bson::DateTime>>,
}

impl PrinterSlot {
    pub fn new(
        identity: PrinterIdentity,
        printer: Arc<dyn Printer>,
        configured: Option<PrinterCapabilities>,
        jobs: usize,
    ) -> PrinterSlot {
        PrinterSlot {
            tracker: tokio::sync::Mutex::new(
                PrinterHealthTracker::new(identity.clone()).with_configured(configured.clone()),
            ),
            identity,
            printer,
            configured,
            reading: Mutex::new(None),
            permits: Arc::new(Semaphore::new(jobs.max(1))),
            last_success: Mutex::new(None),
        }
    }

    /// The last health reading.
    pub fn reading(&self) -> Option<HealthReading> {
        self.reading.lock().unwrap().clone()
    }

    fn printed(&self, at: bson::DateTime) {
        let mut last = self.last_success.lock().unwrap();
        if last.is_none_or(|l| l < at) {
            *last = Some(at);
        }
    }

    fn capabilities(&self) -> Option<PrinterCapabilities> {
        self.configured.clone().or_else(|| self.reading().and_then(|r| r.capabilities))
    }
}

/// The worker: its identity, the core, its printers.
pub struct Worker {
    pub core: PrintCore,
    pub id: WorkerId,
    pub fetcher: FileFetcher,
    pub slots: Vec<Arc<PrinterSlot>>,
    pub intervals: Intervals,
    wake: Notify,
    tasks: Mutex<JoinSet<()>>,
    shutdown: Shutdown,
}

/// What one recovery pass did, in numbers.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoveryCounts {
    pub returned: usize,
    /// Failed because their attempts were used up by workers that stopped or hung while processing them.
    pub failed_attempts: usize,
    pub printed: usize,
    pub adopted_waiting: usize,
    pub requeued: usize,
    pub failed_unknown: usize,
    pub skipped: usize,
}

impl Worker {
    pub fn new(
        core: PrintCore,
        id: WorkerId,
        fetcher: FileFetcher,
        slots: Vec<Arc<PrinterSlot>>,
        intervals: Intervals,
        shutdown: Shutdown,
    ) -> Arc<Worker> {
        Arc::new(Worker {
            core,
            id,
            fetcher,
            slots,
            intervals,
            wake: Notify::new(),
            tasks: Mutex::new(JoinSet::new()),
            shutdown,
        })
    }

    /// Print tasks still running.
    pub fn active_jobs(&self) -> usize {
        let mut tasks = self.tasks.lock().unwrap();
        // Finished tasks stay in the set until joined: reap them first.
        while tasks.try_join_next().is_some() {}
        tasks.len()
    }

    /// One health pass over every printer. Returns how many may take orders now.
    pub async fn health_once(&self) -> usize {
        let mut ready = 0;
        for slot in &self.slots {
            let mut tracker = slot.tracker.lock().await;
            let last_success = *slot.last_success.lock().unwrap();
            match tracker.check(slot.printer.as_ref(), &self.core, &self.id, last_success).await {
                Ok(reading) => {
                    let was_ready = slot.reading().is_some_and(|r| r.may_claim());
                    if reading.may_claim() {
                        ready += 1;
                        if !was_ready {
                            // Back online (or first reading): look for work at once.
                            self.wake.notify_one();
                        }
                    }
                    *slot.reading.lock().unwrap() = Some(reading);
                }
                Err(e) => warn!(printer_id = %slot.identity.printer_id, "could not record printer health: {e}"),
            }
        }
        ready
    }

    /// Claims orders for every printer that may take them and has a free job slot, and starts printing
    /// each. Returns how many were claimed.
    pub async fn claim_once(self: &Arc<Self>) -> usize {
        if self.shutdown.is_shutdown() {
            return 0;
        }
        // Reap finished print tasks so the set does not grow over a long run.
        self.active_jobs();
        let mut claimed = 0;
        for slot in &self.slots {
            if !slot.reading().is_some_and(|r| r.may_claim()) {
                continue;
            }
            while let Ok(permit) = slot.permits.clone().try_acquire_owned() {
                let target = ClaimTarget {
                    printer_id: slot.identity.printer_id.clone(),
                    printer_name: slot.identity.name.clone(),
                    capabilities: slot.capabilities(),
                };
                match self.core.claim(&self.id, &target).await {
                    Ok(Some(job)) => {
                        claimed += 1;
                        self.spawn_print(slot.clone(), job, permit);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        warn!(printer_id = %slot.identity.printer_id, "claim failed: {e}");
                        break;
                    }
                }
            }
        }
        claimed
    }

    /// Fails orders no active printer (of any worker) can take, and orders whose print fields have types
    /// the claim cannot use (naming the field). Returns how many.
    pub async fn reject_once(&self) -> usize {
        let own_known = self.slots.iter().all(|s| s.capabilities().is_some());
        let malformed = match self.core.fail_malformed(&self.id, 50).await {
            Ok(r) => r.len(),
            Err(e) => {
                warn!("could not check for malformed orders: {e}");
                0
            }
        };
        // A rejection is permanent: only from a complete view. Until every printer of this worker has
        // reported (or has configured) capabilities, one of them may be the printer an order waits for.
        if !own_known {
            tracing::debug!("not judging which orders no printer can take: a printer's capabilities are not known yet");
            return malformed;
        }
        malformed
            + match self.core.reject_unprintable(&self.id, 50).await {
                Ok(r) => r.len(),
                Err(e) => {
                    warn!("could not check for orders no printer can take: {e}");
                    0
                }
            }
    }

    fn spawn_print(self: &Arc<Self>, slot: Arc<PrinterSlot>, job: PrintJob, permit: OwnedSemaphorePermit) {
        let span = info_span!("order", order_id = %job.order_id(), print_job_id = %job.print_job_id(), printer_id = %slot.identity.printer_id);
        let worker = self.clone();
        self.tasks.lock().unwrap().spawn(
            async move {
                let _processing = Processing::start(job.order_id(), job.print_job_id());
                worker.with_lease(&job, worker.print_order(&slot, &job)).await;
                drop(permit);
                worker.wake.notify_one();
            }
            .instrument(span),
        );
    }

    /// Runs `work` while renewing the job's lease; stops `work` as soon as the lease is lost.
    async fn with_lease(&self, job: &PrintJob, work: impl std::future::Future<Output = ()>) {
        let every = self.core.config().lease_renew_every();
        let renew = async {
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                ticker.tick().await;
                match job.renew_lease().await {
                    Ok(_) => {}
                    Err(e @ Error::OwnershipLost { .. }) => {
                        warn!("{e}");
                        return;
                    }
                    // The database is unreachable: keep trying; the lease is long enough for a few misses.
                    Err(e) => warn!("lease renewal failed: {e}"),
                }
            }
        };
        tokio::select! {
            _ = work => {}
            _ = renew => {}
        }
    }

    /// The print flow of one claimed order.
    async fn print_order(&self, slot: &PrinterSlot, job: &PrintJob) {
        info!(attempt = job.attempt(), "claimed");
        let outcome = self.print_flow(slot, job).await;
        match outcome {
            Ok(()) => {}
            Err(Error::OwnershipLost { .. }) => warn!("the order is no longer ours; stopped"),
            Err(e) => warn!("could not record the outcome: {e}"),
        }
    }

    async fn print_flow(&self, slot: &PrinterSlot, job: &PrintJob) -> printcore::Result<()> {
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
        let reports = files.reports();
        if let Some(caps) = slot.capabilities() {
            if let Err(e) = check_capabilities(&job.order, &reports, &slot.identity.name, &caps) {
                return self.fail(job, &e.to_string(), false).await;
            }
        }
        if self.shutdown.is_shutdown() {
            return job.release("server shutdown before printing").await;
        }
        let options = job.order.options();
        let spec = JobSpec {
            job_name: job.print_job_id().to_owned(),
            order_id: job.order_id().to_owned(),
            documents: files.paths(),
            copies: options.copies.unwrap_or(1).max(1),
            duplex: options.duplex.unwrap_or(false),
            color: options.color.unwrap_or(false),
            page_size: options.page_size.clone(),
        };
        let started = Instant::now();
        // The checksum and pages go with the first "sending" mark: one write.
        job.mark_sending_with_reports(&reports).await?;
        let mut sent_at = self.core.now();
        let submitted = loop {
            match slot.printer.submit(&spec).await {
                // Busy with another job: it did not take ours. Wait and offer it again, without spending an
                // attempt; on shutdown meanwhile the order goes back to the queue.
                Err(PrinterError::Busy(m)) if started.elapsed() < BUSY_WAIT => {
                    job.unmark_sending().await?;
                    tracing::debug!("printer busy: {m}");
                    let mut shutdown = self.shutdown.clone();
                    tokio::select! {
                        _ = shutdown.recv() => return job.release("server shutdown before printing").await,
                        _ = tokio::time::sleep(self.intervals.job_poll) => {}
                    }
                    job.mark_sending().await?;
                    sent_at = self.core.now();
                }
                other => break other,
            }
        };
        // The printer has the documents, or never will: their files go now, not after the job prints.
        drop(files);
        let job_ref = match submitted {
            Ok(r) => r,
            Err(e @ PrinterError::Uncertain(_)) => match self.after_lost_answer(slot, job, &e, sent_at).await? {
                Some(r) => r,
                None => return Ok(()),
            },
            // Nothing reached the printer (an uncertain submit is the one that may have).
            Err(e) => {
                let message = format!("{}: {e}", slot.printer.describe());
                return self.fail(job, &message, e.is_transient()).await;
            }
        };
        job.mark_submitted(&job_ref).await?;
        info!(job_ref = %job_ref, "sent to the printer");
        if !slot.printer.can_look_up_jobs() {
            // The backend took the job and cannot say more: its spooler prints it.
            slot.printed(job.complete().await?);
            info!("printed (the print command succeeded)");
            return Ok(());
        }
        self.wait_until_done(slot, job, &job_ref).await
    }

    /// The job went out but the printer's answer was lost: the printer may have it. Asks the printer by
    /// name until it answers: the job it has is ours (its reference is returned). One it does not know after
    /// a restart may have been lost or printed in the restart: failed, for a person to decide. One it keeps
    /// not knowing for [`LOST_ANSWER_WINDOW`] while up all along never arrived: back to the queue. On
    /// shutdown the order stays as it is, and recovery settles it by the same rules. `None`: settled here.
    async fn after_lost_answer(
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
                            let m = format!("{describe}: {e}; the printer did not get the job");
                            self.fail(job, &m, true).await?;
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

    /// Whether the printer started again after `sent_at` (a job sent before then may have been lost or
    /// printed in the restart). `false` when the backend cannot tell, or nothing was sent.
    async fn restarted_since(&self, slot: &PrinterSlot, sent_at: Option<bson::DateTime>) -> Result<bool, PrinterError> {
        let (Some(up), Some(sent)) = (slot.printer.up_time().await?, sent_at) else { return Ok(false) };
        let since_sent = self.core.now().timestamp_millis().saturating_sub(sent.timestamp_millis());
        // The printer counts whole seconds and its clock is not ours: a start up to 2 s before the job was
        // sent counts as after it (the safe side).
        Ok(i64::try_from(up.as_millis()).unwrap_or(i64::MAX) < since_sent.saturating_add(2000))
    }

    /// Waits for the printer to finish the job, then records the outcome.
    async fn wait_until_done(&self, slot: &PrinterSlot, job: &PrintJob, job_ref: &str) -> printcore::Result<()> {
        let mut unreachable_since: Option<Instant> = None;
        loop {
            match slot.printer.job_state(job_ref, job.print_job_id()).await {
                Ok(JobState::Completed) => {
                    slot.printed(job.complete().await?);
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
                Ok(JobState::Unknown) => {
                    let message = format!(
                        "{} no longer knows job {job_ref} (restarted or purged its history); {MAY_HAVE_PRINTED}",
                        slot.printer.describe()
                    );
                    return self.fail(job, &message, false).await;
                }
                Ok(JobState::Pending | JobState::Processing) => unreachable_since = None,
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

    async fn fail(&self, job: &PrintJob, message: &str, transient: bool) -> printcore::Result<()> {
        if transient {
            let outcome = job.fail_transient(message).await?;
            warn!(?outcome, "transient failure: {message}");
        } else {
            job.fail_permanent(message).await?;
            warn!("failed: {message}");
        }
        Ok(())
    }

    /// One recovery pass: expired leases of any worker; orders already sent are settled with the printer
    /// they were sent to, when that printer is this worker's.
    pub async fn recovery_once(self: &Arc<Self>) -> printcore::Result<RecoveryCounts> {
        self.core.sync_clock().await?;
        let report = self.core.recover_expired(&self.id, 50).await?;
        let mut counts = RecoveryCounts {
            returned: report.returned.len(),
            failed_attempts: report.failed.len(),
            ..RecoveryCounts::default()
        };
        for order in report.to_reconcile {
            self.reconcile(order, &mut counts).await;
        }
        if counts != RecoveryCounts::default() {
            info!(?counts, "recovery pass");
        }
        Ok(counts)
    }

    async fn reconcile(self: &Arc<Self>, order: Order, counts: &mut RecoveryCounts) {
        let Some(slot) = self.slots.iter().find(|s| Some(&s.identity.printer_id) == order.printer_id.as_ref()).cloned()
        else {
            // Sent to a printer this worker does not drive: its own worker settles it.
            counts.skipped += 1;
            return;
        };
        let name = order.print_job_id.clone().unwrap_or_default();
        let span = info_span!("order", order_id = %order.order_id, print_job_id = %name, printer_id = %slot.identity.printer_id);
        let found = if slot.printer.can_look_up_jobs() {
            match slot.printer.find_job(&name).instrument(span.clone()).await {
                Ok(f) => Some(f),
                Err(e) => {
                    // Cannot ask now (printer offline): leave it for the next pass.
                    span.in_scope(|| info!("cannot reconcile yet: {e}"));
                    counts.skipped += 1;
                    return;
                }
            }
        } else {
            None
        };
        // A job the printer never acknowledged and does not know: did the printer restart since it was sent?
        let mut restarted = false;
        if matches!(found, Some(None)) && order.printer_job_ref.is_none() {
            match self.restarted_since(&slot, order.print_submitted_at).instrument(span.clone()).await {
                Ok(r) => restarted = r,
                Err(e) => {
                    span.in_scope(|| info!("cannot reconcile yet: {e}"));
                    counts.skipped += 1;
                    return;
                }
            }
        }
        let job = match self.core.adopt(&self.id, &order).await {
            Ok(j) => j,
            Err(_) => {
                counts.skipped += 1;
                return;
            }
        };
        self.settle(slot, order, job, found, restarted, counts).instrument(span).await;
    }

    /// Acts on what the printer said about an adopted order (`found`: None when it cannot look jobs up).
    async fn settle(
        self: &Arc<Self>,
        slot: Arc<PrinterSlot>,
        order: Order,
        job: PrintJob,
        found: Option<Option<crate::printer::FoundJob>>,
        restarted: bool,
        counts: &mut RecoveryCounts,
    ) {
        let result = match found {
            None => {
                counts.failed_unknown += 1;
                let m = format!("{} cannot look jobs up; {MAY_HAVE_PRINTED}", slot.printer.describe());
                job.fail_permanent(&m).await
            }
            Some(Some(f)) if f.state == JobState::Completed => {
                counts.printed += 1;
                info!("reconciled: the printer completed the job");
                job.complete().await.map(|at| slot.printed(at))
            }
            Some(Some(f)) if matches!(f.state, JobState::Pending | JobState::Processing) => {
                counts.adopted_waiting += 1;
                info!(job_ref = %f.job_ref, "reconciled: the job is still at the printer; waiting for it");
                let span = tracing::Span::current();
                let worker = self.clone();
                let slot = slot.clone();
                self.tasks.lock().unwrap().spawn(
                    async move {
                        // The job occupies the printer: hold a slot while waiting, renewing the lease all
                        // along, without holding up the recovery pass meanwhile.
                        worker
                            .with_lease(&job, async {
                                let _permit = slot.permits.clone().acquire_owned().await;
                                if let Err(e) = worker.wait_until_done(&slot, &job, &f.job_ref).await {
                                    warn!("{e}");
                                }
                            })
                            .await;
                    }
                    .instrument(span),
                );
                return;
            }
            Some(Some(f)) if matches!(f.state, JobState::Aborted | JobState::Cancelled) => {
                counts.requeued += 1;
                job.return_to_queue(&format!("the printer {:?} the job; printing it again", f.state).to_lowercase())
                    .await
            }
            Some(None) if order.printer_job_ref.is_none() && restarted => {
                counts.failed_unknown += 1;
                let m = format!(
                    "{} restarted after the job was sent and does not know it; {MAY_HAVE_PRINTED}",
                    slot.printer.describe()
                );
                job.fail_permanent(&m).await
            }
            Some(_) if order.printer_job_ref.is_none() => {
                counts.requeued += 1;
                job.return_to_queue("the printer never acknowledged the job; printing it again").await
            }
            Some(_) => {
                counts.failed_unknown += 1;
                let m = format!(
                    "the printer acknowledged job {} but no longer knows it; {MAY_HAVE_PRINTED}",
                    order.printer_job_ref.clone().unwrap_or_default()
                );
                job.fail_permanent(&m).await
            }
        };
        if let Err(e) = result {
            warn!("reconciliation could not record the outcome: {e}");
        }
    }

    /// The 30-minute backstop for this worker's own orders: unsent ones back to the queue; sent ones failed
    /// with "may have printed" (their print task then finds the order gone and stops).
    pub async fn stuck_once(&self) -> printcore::Result<usize> {
        let report = self.core.recover_stuck(&self.id, 50).await?;
        let mut n = report.returned.len();
        for order in report.to_reconcile {
            let job = PrintJob::resume(&self.core, &self.id, order)?;
            let minutes = self.core.config().stuck_after.as_secs() / 60;
            job.fail_permanent(&format!(
                "the printer did not finish the job within {minutes} minutes; {MAY_HAVE_PRINTED}"
            ))
            .await?;
            n += 1;
        }
        Ok(n)
    }

    /// Writes one metrics sample covering the last metrics interval.
    pub async fn metrics_once(&self) -> printcore::Result<printcore::model::Metrics> {
        let mut offline = Duration::ZERO;
        for slot in &self.slots {
            offline += slot.tracker.lock().await.take_offline_duration();
        }
        self.core.record_worker_metrics(&self.id, self.intervals.metrics, offline).await
    }

    /// Runs every loop until the shutdown signal, then shuts down gracefully: no new claims, a job already
    /// at the printer gets the grace period to finish, every other order of this worker goes back to the
    /// queue with a `server_shutdown` log entry.
    pub async fn run(self: Arc<Self>) {
        info!(worker_id = %self.id, printers = self.slots.len(), "worker started");
        let mut loops = JoinSet::new();
        loops.spawn(self.clone().every(self.intervals.health, "health", |w| async move {
            w.health_once().await;
        }));
        loops.spawn(self.clone().every(self.intervals.recovery, "recovery", |w| async move {
            if let Err(e) = w.recovery_once().await {
                warn!("recovery pass failed: {e}");
            }
        }));
        loops.spawn(self.clone().every(self.intervals.stuck_check, "stuck check", |w| async move {
            if let Err(e) = w.stuck_once().await {
                warn!("stuck check failed: {e}");
            }
        }));
        let metrics_every = self.intervals.metrics;
        loops.spawn(self.clone().every_after(metrics_every, metrics_every, "metrics", |w| async move {
            if let Err(e) = w.metrics_once().await {
                warn!("metrics failed: {e}");
            }
        }));
        if self.intervals.change_streams {
            loops.spawn(self.clone().watch_for_orders());
        } else {
            info!("change streams off: polling every {:?}", self.intervals.poll);
        }
        // The claim loop: on a wake-up (change stream, printer back, job done) or every poll interval.
        let mut shutdown = self.shutdown.clone();
        loop {
            self.claim_once().await;
            self.reject_once().await;
            tokio::select! {
                _ = shutdown.recv() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.intervals.poll) => {}
            }
        }
        info!(
            "shutting down: no new orders; waiting up to {:?} for jobs at the printer",
            self.intervals.shutdown_grace
        );
        loops.abort_all();
        let mut tasks = std::mem::take(&mut *self.tasks.lock().unwrap());
        let grace = tokio::time::sleep(self.intervals.shutdown_grace);
        tokio::pin!(grace);
        loop {
            tokio::select! {
                next = tasks.join_next() => if next.is_none() { break },
                _ = &mut grace => {
                    warn!(unfinished = tasks.len(), "grace period over; stopping the remaining print tasks");
                    tasks.abort_all();
                    while tasks.join_next().await.is_some() {}
                    break;
                }
            }
        }
        self.release_own().await;
        self.core.flush_logs().await;
        info!("worker stopped");
    }

    /// Gives every order of this worker that was not sent back to the queue (`server_shutdown`). Orders
    /// already at a printer stay as they are: their lease runs out and recovery asks the printer, so they
    /// are never printed twice.
    pub async fn release_own(&self) -> usize {
        let jobs = match self.core.own_jobs(&self.id).await {
            Ok(j) => j,
            Err(e) => {
                warn!("could not read this worker's orders to release them: {e}");
                return 0;
            }
        };
        let mut released = 0;
        for job in jobs {
            let span = info_span!("order", order_id = %job.order_id(), print_job_id = %job.print_job_id());
            async {
                if job.order.was_sent() {
                    info!("left at the printer for recovery to settle (never printed twice)");
                    return;
                }
                match job.release("server shutdown").await {
                    Ok(()) => {
                        released += 1;
                        info!("released to the queue (server shutdown)");
                    }
                    Err(e) => warn!("could not release: {e}"),
                }
            }
            .instrument(span)
            .await;
        }
        released
    }

    async fn every<F, Fut>(self: Arc<Self>, period: Duration, what: &'static str, f: F)
    where
        F: Fn(Arc<Worker>) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        self.every_after(Duration::ZERO, period, what, f).await
    }

    async fn every_after<F, Fut>(self: Arc<Self>, first: Duration, period: Duration, what: &'static str, f: F)
    where
        F: Fn(Arc<Worker>) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + first, period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            tracing::trace!("{what} pass");
            f(self.clone()).await;
        }
    }

    /// Wakes the claim loop on every change that may have made an order printable. Falls back to polling
    /// (returns) where change streams are refused; reopens a broken stream after a poll interval.
    async fn watch_for_orders(self: Arc<Self>) {
        loop {
            match self.core.watch_queue().await {
                Ok(mut stream) => {
                    info!("watching orders with a change stream");
                    while let Some(event) = stream.next().await {
                        match event {
                            Ok(()) => self.wake.notify_one(),
                            Err(e) => {
                                warn!("change stream ended: {e}; polling until it reopens");
                                break;
                            }
                        }
                    }
                }
                Err(Error::Unsupported(m)) => {
                    info!("{m}; polling every {:?}", self.intervals.poll);
                    return;
                }
                Err(e) => warn!("cannot open a change stream: {e}"),
            }
            tokio::time::sleep(self.intervals.poll).await;
        }
    }
}

/// The orders this process is working on now (orderId, printJobId), for the crash report: a worker that
/// panics names them (see `report_crashes`), so an order that crashes the worker points at itself.
static PROCESSING: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Registers an order in [`PROCESSING`] while it lives.
struct Processing(String);

impl Processing {
    fn start(order_id: &str, print_job_id: &str) -> Processing {
        if let Ok(mut p) = PROCESSING.lock() {
            p.push((order_id.to_owned(), print_job_id.to_owned()));
        }
        Processing(print_job_id.to_owned())
    }
}

impl Drop for Processing {
    fn drop(&mut self) {
        if let Ok(mut p) = PROCESSING.lock() {
            p.retain(|(_, job)| job != &self.0);
        }
    }
}

/// The orders being processed now, as `orderId (print job ...)`.
pub fn processing_now() -> Vec<String> {
    PROCESSING.lock().map(|p| p.iter().map(|(o, j)| format!("{o} (print job {j})")).collect()).unwrap_or_default()
}

/// Logs every panic with the orders the worker was processing, before the default report.
pub fn report_crashes() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let orders = processing_now();
        tracing::error!(processing = ?orders, "the worker panicked while processing {}: {info}",
            if orders.is_empty() { "no order".to_owned() } else { orders.join(", ") });
        default(info);
    }));
}
