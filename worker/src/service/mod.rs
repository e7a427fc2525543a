//! The worker at run time: its printers and its services, one per file, each a `*_once` pass that returns
//! what it did (tests call them directly) and driven by [`Worker::run`] on its interval until the shutdown
//! signal:
//!
//! | service | file | interval |
//! |---|---|---|
//! | health | `health_check.rs` | `intervals.health`; a busy printer every `intervals.job_poll`; written to the database when it changed or every `intervals.health_record` |
//! | claim (and the print task it starts) | `claim.rs`, `print.rs` | on a change-stream event when the order is this worker's turn, and k times `intervals.claim_fallback` after one whose turn k (1 to 3) it is, if the order still waits (`turns.rs`), a job ending while an order may wait for this worker (`Owed`), a printer coming back, a scheduled order's time, and the sweep (`intervals.sweep`); polling: one look at the queue for all printers every `intervals.poll` |
//! | rejection | `reject.rs` | after a claim pass, at most every `intervals.poll`, and at each sweep |
//! | admin cancel at the printer | `cancel.rs` | on a change-stream event and at each sweep; polling: when the queue poll sees a request, and every `intervals.job_poll` while a job prints |
//! | recovery | `recovery.rs` | `intervals.recovery` |
//! | stuck check | `stuck.rs` | `intervals.stuck_check` |
//! | metrics | `metrics.rs` | `intervals.metrics` |
//! | queue watch | `watch.rs` | a change stream |
//! | shutdown release | `release.rs` | once, at shutdown |
//! | journal replay | `journal.rs` | once, at start |

mod cancel;
mod claim;
mod crash;
mod health_check;
mod journal;
mod metrics;
mod print;
mod recovery;
mod reject;
mod release;
mod slot;
mod stuck;
mod turns;
mod watch;

pub use crash::{processing_now, report_crashes};
pub use recovery::RecoveryCounts;
pub use slot::PrinterSlot;

use crate::config::Config;
use crate::shutdown::Shutdown;
use printcore::files::FileFetcher;
use printcore::{PrintCore, WorkerId};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tracing::{info, warn};

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
    /// With change streams: how often the claim, rejection and cancel passes run when no event asked for
    /// them (the safety net for a missed event).
    pub sweep: Duration,
    /// How long each getMore of the change streams waits on the server for the next event.
    pub change_stream_wait: Duration,
    /// A printer reading unchanged since it was last written is written again after this.
    pub health_record: Duration,
    /// With change streams: how long an order waits for its first claimer before the fallback looks.
    pub claim_fallback: Duration,
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
            sweep: d(w.sweep_interval_secs),
            change_stream_wait: d(w.change_stream_wait_secs),
            health_record: d(w.health_record_secs),
            claim_fallback: d(w.claim_fallback_secs),
        }
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
    /// Since when recovery has seen each unacknowledged job (by printJobId) absent from its printer.
    absent_since: Mutex<std::collections::HashMap<String, std::time::Instant>>,
    /// The print PC's journal of what was sent (`None`: not kept, as in most tests).
    journal: std::sync::OnceLock<crate::journal::Journal>,
    /// No claims before this: the database could not make a being-sent mark durable (each failure
    /// doubles the pause, from [`CLAIM_PAUSE`] up to [`CLAIM_PAUSE_MAX`]; a durable mark ends it).
    claims_paused: Mutex<ClaimPause>,
    /// The change streams: an admin's cancel request, a schedule written, a printer's switches changed.
    cancel_wake: Notify,
    schedule_wake: Notify,
    printers_wake: Notify,
    /// Whether the change streams are open now (otherwise the claim loop polls).
    stream_live: std::sync::atomic::AtomicBool,
    /// When the rejection pass last ran.
    last_reject: Mutex<Option<std::time::Instant>>,
    /// Where the checks of the waiting orders (malformed, no printer can take them) are in their walk.
    waiting_walk: Mutex<printcore::queue::WaitingWalk>,
    /// Whose turn each paid order is among the print PCs that take the same orders.
    turns: Mutex<printcore::ClaimTurns>,
    /// Orders to look at again when their fallback delays have passed (this worker is one of their turns 1
    /// to 3).
    fallbacks: Mutex<turns::Fallbacks>,
    fallback_wake: Notify,
    /// How long this worker's claims took lately (a moving average; see `turns.rs`).
    claim_latency: Mutex<Duration>,
    /// Whether an order may wait for this worker with no event to come for it: see
    /// [`Worker::owe_claim`]. A job's end claims only then (while watching).
    claims_owed: claim::Owed,
}

/// The first pause of claims after a being-sent mark the database could not make durable.
pub const CLAIM_PAUSE: Duration = Duration::from_secs(5);
/// The longest pause: claims resume within this of the database taking durable writes again.
pub const CLAIM_PAUSE_MAX: Duration = Duration::from_secs(15);

#[derive(Debug, Default)]
struct ClaimPause {
    until: Option<std::time::Instant>,
    next: Option<Duration>,
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
        for slot in &slots {
            if let Ok(mut tracker) = slot.tracker.try_lock() {
                tracker.record_every = intervals.health_record;
            }
        }
        Arc::new(Worker {
            core,
            id: id.clone(),
            fetcher,
            slots,
            intervals,
            wake: Notify::new(),
            tasks: Mutex::new(JoinSet::new()),
            shutdown,
            absent_since: Mutex::new(Default::default()),
            journal: std::sync::OnceLock::new(),
            claims_paused: Mutex::new(ClaimPause::default()),
            cancel_wake: Notify::new(),
            schedule_wake: Notify::new(),
            printers_wake: Notify::new(),
            stream_live: std::sync::atomic::AtomicBool::new(false),
            last_reject: Mutex::new(None),
            waiting_walk: Mutex::new(printcore::queue::WaitingWalk::new()),
            turns: Mutex::new(printcore::ClaimTurns::alone(&id)),
            fallbacks: Mutex::new(Default::default()),
            fallback_wake: Notify::new(),
            claim_latency: Mutex::new(Duration::ZERO),
            claims_owed: Default::default(),
        })
    }

    /// Whether the change streams are open (events wake the loops) rather than the claim loop polling.
    pub fn watching(&self) -> bool {
        self.stream_live.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stops claiming for a while: the database could not make a being-sent mark durable (`why`).
    pub(super) fn pause_claims(&self, why: &printcore::Error) {
        let mut p = self.claims_paused.lock().unwrap();
        let pause = p.next.unwrap_or(CLAIM_PAUSE);
        p.until = Some(std::time::Instant::now() + pause);
        p.next = Some((pause * 2).min(CLAIM_PAUSE_MAX));
        warn!("the database does not take durable writes ({why}); no claims for {pause:?}");
    }

    /// When the pause of claims in force ends (`None`: claims are not paused).
    fn claims_resume_at(&self) -> Option<std::time::Instant> {
        self.claims_paused.lock().unwrap().until.filter(|u| std::time::Instant::now() < *u)
    }

    /// Whether claims are paused now.
    pub fn claims_paused(&self) -> bool {
        self.claims_paused.lock().unwrap().until.is_some_and(|u| std::time::Instant::now() < u)
    }

    /// A being-sent mark was made durable: claims are back to normal.
    pub(super) fn durable_writes_work(&self) {
        let mut p = self.claims_paused.lock().unwrap();
        if p.next.is_some() {
            *p = ClaimPause::default();
        }
    }

    /// Print tasks still running.
    pub fn active_jobs(&self) -> usize {
        let mut tasks = self.tasks.lock().unwrap();
        // Finished tasks stay in the set until joined: reap them first.
        while tasks.try_join_next().is_some() {}
        tasks.len()
    }

    /// Runs every loop until the shutdown signal, then shuts down gracefully: no new claims, a job already
    /// at the printer gets the grace period to finish, every other order of this worker goes back to the
    /// queue with a `server_shutdown` log entry.
    pub async fn run(self: Arc<Self>) {
        info!(worker_id = %self.id, printers = self.slots.len(), "worker started");
        // Before anything else: printer answers a previous run took but could not record.
        if let Err(e) = self.replay_journal().await {
            warn!("could not replay the journal: {e}");
        }
        let mut loops = JoinSet::new();
        loops.spawn(self.clone().every(self.intervals.health, "health", |w| async move {
            w.health_once().await;
        }));
        loops.spawn(self.clone().every_after(
            self.intervals.job_poll,
            self.intervals.job_poll,
            "busy printers",
            |w| async move {
                w.busy_once().await;
            },
        ));
        loops.spawn(self.clone().cancel_loop());
        loops.spawn(self.clone().switches_loop());
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
        self.claim_loop().await;
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

    /// The claim loop, until the shutdown signal. It claims on a wake-up (a change-stream event, a job
    /// ending, a printer coming back), when a scheduled order's time comes, and at each sweep; while the
    /// change streams are not open it looks at the queue every `intervals.poll` instead, with one query
    /// for all printers, and claims only when that finds something.
    async fn claim_loop(self: &Arc<Self>) {
        use tokio::time::Instant;
        let mut shutdown = self.shutdown.clone();
        let far = Duration::from_secs(365 * 24 * 3600);
        let mut next_sweep = Instant::now();
        let mut next_poll = Instant::now() + self.intervals.poll;
        let mut next_release: Option<Instant> = None;
        // A rejection pass put off by its throttle runs when the throttle allows.
        let mut next_reject: Option<Instant> = None;
        loop {
            let polling = !self.watching();
            let poll_at = if polling { next_poll } else { Instant::now() + far };
            // Orders paid or handed back during a pause of claims are claimed when it ends.
            let resume = self.claims_resume_at();
            let at = next_sweep
                .min(resume.map(Instant::from_std).unwrap_or(Instant::now() + far))
                .min(poll_at)
                .min(next_release.unwrap_or(Instant::now() + far))
                .min(next_reject.unwrap_or(Instant::now() + far))
                .min(self.next_fallback().map(Instant::from_std).unwrap_or(Instant::now() + far));
            tokio::select! {
                _ = shutdown.recv() => break,
                _ = self.wake.notified() => {
                    self.claim_once().await;
                    next_reject = self.reject_throttled().await.map(Instant::from_std);
                }
                _ = self.schedule_wake.notified() => next_release = self.next_release().await,
                // A fallback look was added: wait for the earliest.
                _ = self.fallback_wake.notified() => {}
                _ = tokio::time::sleep_until(at) => {
                    let now = Instant::now();
                    if now >= next_sweep {
                        tracing::trace!("sweep");
                        next_sweep = now + self.intervals.sweep;
                        // While polling, the queue poll looks for orders and cancel requests already.
                        if !polling {
                            if let Err(e) = self.refresh_turns().await {
                                warn!("could not read the printers for the claim turns: {e}");
                            }
                            self.claim_once().await;
                            if let Err(e) = self.cancel_once().await {
                                warn!("cancel requests: {e}");
                            }
                            next_release = self.next_release().await;
                        }
                        self.reject_now().await;
                    } else if polling && now >= next_poll {
                        next_poll = now + self.intervals.poll;
                        self.poll_once().await;
                    } else if next_release.is_some_and(|t| now >= t) {
                        self.claim_once().await;
                        next_release = self.next_release().await;
                    }
                    if resume.is_some_and(|r| now.into_std() >= r) && self.job_end_claims() {
                        self.claim_once().await;
                    }
                    if next_reject.is_some_and(|t| now >= t) {
                        next_reject = None;
                        self.reject_now().await;
                    }
                    if self.next_fallback().is_some_and(|t| now.into_std() >= t) && self.fallbacks_due().await > 0 {
                        next_reject = self.reject_throttled().await.map(Instant::from_std);
                    }
                }
            }
        }
    }

    /// One look at the queue for every printer that may take orders (polling): claims when it finds an
    /// order, runs the cancel pass when it finds a request.
    pub async fn poll_once(self: &Arc<Self>) {
        let targets: Vec<printcore::ClaimTarget> = self.slots.iter().map(|slot| slot.claim_target()).collect();
        match self.core.poll_queue(&targets).await {
            Ok(found) => {
                if found.claimable {
                    self.claim_once().await;
                    // Put off by the throttle: the next poll that finds orders runs it.
                    let _ = self.reject_throttled().await;
                }
                if found.cancel_requests {
                    if let Err(e) = self.cancel_once().await {
                        warn!("cancel requests: {e}");
                    }
                }
            }
            Err(e) => warn!("could not look at the queue: {e}"),
        }
    }

    /// When the next scheduled order comes due, as an instant of this process (the sweep looks again
    /// anyway, so a later time is not waited for past it). `None` when nothing is scheduled or while
    /// polling (the queue poll sees due orders).
    async fn next_release(&self) -> Option<tokio::time::Instant> {
        if !self.watching() {
            return None;
        }
        match self.core.next_scheduled().await {
            Ok(Some(at)) => {
                let wait = (at.timestamp_millis() - self.core.now().timestamp_millis()).max(0) as u64;
                // A little after the time, so the claim's release sees it as come on the server's clock.
                let wait = Duration::from_millis(wait + 50).min(self.intervals.sweep);
                Some(tokio::time::Instant::now() + wait)
            }
            Ok(None) => None,
            Err(e) => {
                warn!("could not read the next scheduled order: {e}");
                None
            }
        }
    }

    /// The rejection pass, at most every `intervals.poll` (a burst of new orders runs it once). Returns
    /// when it may run, when the throttle put it off.
    async fn reject_throttled(&self) -> Option<std::time::Instant> {
        let last = *self.last_reject.lock().unwrap();
        match last {
            Some(t) if t.elapsed() < self.intervals.poll => Some(t + self.intervals.poll),
            _ => {
                self.reject_now().await;
                None
            }
        }
    }

    async fn reject_now(&self) {
        *self.last_reject.lock().unwrap() = Some(std::time::Instant::now());
        self.reject_once().await;
    }

    /// The cancel pass on a change-stream event; while polling, every `intervals.job_poll` as long as this
    /// worker has a job printing (the queue poll and the sweep catch the rest).
    async fn cancel_loop(self: Arc<Self>) {
        loop {
            let printing_and_polling = !self.watching() && self.active_jobs() > 0;
            tokio::select! {
                _ = self.cancel_wake.notified() => {}
                // Otherwise look again (locally) at whether a job prints now.
                _ = tokio::time::sleep(self.intervals.job_poll) => if !printing_and_polling { continue },
            }
            if let Err(e) = self.cancel_once().await {
                warn!("cancel requests: {e}");
            }
        }
    }

    /// Re-reads the shop's switches (`isActive`, `autoPrintEnabled`) of this worker's printers when a
    /// printer document changed other than by a health write.
    async fn switches_loop(self: Arc<Self>) {
        loop {
            self.printers_wake.notified().await;
            if let Err(e) = self.refresh_switches().await {
                warn!("could not read the printers' switches: {e}");
            }
        }
    }

    /// Reads this worker's printers' switches and applies them to the last readings; wakes the claim loop
    /// when a printer may take orders now. The claim turns are set from the same read.
    pub async fn refresh_switches(&self) -> printcore::Result<()> {
        let stored = self.core.printers().await?;
        self.set_turns(&stored);
        for slot in &self.slots {
            let Some(p) = stored.iter().find(|p| p.printer_id == slot.identity.printer_id) else { continue };
            let (active, auto_print) = (p.is_active.unwrap_or(true), p.auto_print_enabled.unwrap_or(true));
            slot.tracker.lock().await.switches_changed(active, auto_print);
            let woke = {
                let mut reading = slot.reading.lock().unwrap();
                let Some(r) = reading.as_mut() else { continue };
                let before = r.may_claim();
                r.active = active;
                r.auto_print = auto_print;
                !before && r.may_claim()
            };
            if woke {
                self.wake.notify_one();
            }
        }
        Ok(())
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
}
