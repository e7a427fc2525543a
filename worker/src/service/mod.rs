//! The worker at run time: its printers and its services, one per file, each a `*_once` pass that returns
//! what it did (tests call them directly) and driven by [`Worker::run`] on its interval until the shutdown
//! signal:
//!
//! | service | file | interval |
//! |---|---|---|
//! | health | `health_check.rs` | `intervals.health`; a busy printer every `intervals.job_poll` |
//! | claim (and the print task it starts) | `claim.rs`, `print.rs` | on a wake-up or `intervals.poll` |
//! | rejection | `reject.rs` | after each claim pass |
//! | admin cancel at the printer | `cancel.rs` | `intervals.job_poll` |
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
        Arc::new(Worker {
            core,
            id,
            fetcher,
            slots,
            intervals,
            wake: Notify::new(),
            tasks: Mutex::new(JoinSet::new()),
            shutdown,
            absent_since: Mutex::new(Default::default()),
            journal: std::sync::OnceLock::new(),
            claims_paused: Mutex::new(ClaimPause::default()),
        })
    }

    /// Stops claiming for a while: the database could not make a being-sent mark durable (`why`).
    pub(super) fn pause_claims(&self, why: &printcore::Error) {
        let mut p = self.claims_paused.lock().unwrap();
        let pause = p.next.unwrap_or(CLAIM_PAUSE);
        p.until = Some(std::time::Instant::now() + pause);
        p.next = Some((pause * 2).min(CLAIM_PAUSE_MAX));
        warn!("the database does not take durable writes ({why}); no claims for {pause:?}");
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
        loops.spawn(self.clone().every(self.intervals.job_poll, "cancel requests", |w| async move {
            if let Err(e) = w.cancel_once().await {
                warn!("cancel requests: {e}");
            }
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
        // The claim loop: on a wake-up (change stream, printer back, job done) and on a steady poll beat.
        // A wake-up does not restart the beat: an order paid just after a job ended (which woke the loop)
        // would otherwise wait a whole interval instead of half of one on average.
        let mut shutdown = self.shutdown.clone();
        let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + self.intervals.poll, self.intervals.poll);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.claim_once().await;
            self.reject_once().await;
            tokio::select! {
                _ = shutdown.recv() => break,
                _ = self.wake.notified() => {}
                _ = beat.tick() => {}
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
