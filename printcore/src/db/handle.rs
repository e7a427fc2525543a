//! [`PrintCore`]: the handle every operation hangs off. It holds the database, the settings, the server
//! clock and the audit log's delivery.

use crate::audit::LogDelivery;
use crate::db::clock::ServerClock;
use crate::error::{Error, Result};
use crate::model::collections;
use bson::Document;
use mongodb::{Client, Collection, Database};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Settings of the queue rules. [`CoreConfig::default`] is what a shop gets without configuring anything.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// How long a claim holds an order before another worker may recover it. The owner renews it well
    /// before it runs out (see [`CoreConfig::lease_renew_every`]). Times are taken from the database
    /// server's clock, so print PCs with wrong clocks do not steal each other's orders.
    pub lease: Duration,
    /// Transient failures allowed before an order is failed for good.
    pub max_attempts: i64,
    /// Backoff after the first transient failure; doubles per attempt up to `backoff_max`.
    pub backoff_base: Duration,
    /// The longest backoff, however many attempts failed.
    pub backoff_max: Duration,
    /// The backstop for a live owner whose print hangs: its own orders printing longer than this are
    /// taken back (the design's 30 minutes).
    pub stuck_after: Duration,
    /// Whether the audit log is copied to `print_logs` inline (before the call returns) or by a background
    /// task in batches. Either way the entry is stored atomically with the state change first.
    pub log_delivery: LogDelivery,
    /// How long an admin `cancel`/`reset_state` of an order whose job is at a printer waits for the worker
    /// driving that printer to cancel the job there; after that the action applies without the printer
    /// (and says so).
    pub printer_cancel_wait: Duration,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            lease: Duration::from_secs(120),
            max_attempts: 5,
            backoff_base: Duration::from_secs(30),
            backoff_max: Duration::from_secs(15 * 60),
            stuck_after: Duration::from_secs(30 * 60),
            log_delivery: LogDelivery::Inline,
            printer_cancel_wait: Duration::from_secs(20),
        }
    }
}

impl CoreConfig {
    /// How often an owner should renew its lease: a third of it, so two renewals may fail in a row.
    pub fn lease_renew_every(&self) -> Duration {
        self.lease / 3
    }

    /// Checks the settings; a zero lease or zero attempts would break the queue.
    ///
    /// ```
    /// use printcore::CoreConfig;
    /// use std::time::Duration;
    ///
    /// assert!(CoreConfig::default().validate().is_ok());
    /// let hanging_backstop_too_short = CoreConfig { stuck_after: Duration::from_secs(60), ..CoreConfig::default() };
    /// assert!(hanging_backstop_too_short.validate().is_err()); // must exceed the 120 s lease
    /// ```
    pub fn validate(&self) -> Result<()> {
        if self.lease < Duration::from_secs(1) {
            return Err(Error::InvalidArgument("the lease must be at least 1 second (default 120 s)".into()));
        }
        if self.max_attempts < 1 {
            return Err(Error::InvalidArgument("max_attempts must be at least 1 (default 5)".into()));
        }
        if self.backoff_max < self.backoff_base {
            return Err(Error::InvalidArgument("backoff_max must not be below backoff_base".into()));
        }
        if self.stuck_after <= self.lease {
            return Err(Error::InvalidArgument(
                "stuck_after must be longer than the lease (default 30 minutes)".into(),
            ));
        }
        Ok(())
    }

    /// The wait before attempt `attempt + 1`, after `attempt` failed (1-based).
    ///
    /// ```
    /// use printcore::CoreConfig;
    /// use std::time::Duration;
    ///
    /// let config = CoreConfig::default(); // 30 s, doubling, at most 15 minutes
    /// assert_eq!(config.backoff(1), Duration::from_secs(30));
    /// assert_eq!(config.backoff(3), Duration::from_secs(120));
    /// assert_eq!(config.backoff(10), Duration::from_secs(15 * 60));
    /// ```
    pub fn backoff(&self, attempt: i64) -> Duration {
        let shift = attempt.clamp(1, 20) - 1;
        self.backoff_base.saturating_mul(1u32 << shift).min(self.backoff_max)
    }
}

/// The shared handle to the print queue. Cheap to clone; one per process is enough.
#[derive(Clone)]
pub struct PrintCore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) db: Database,
    pub(crate) orders: Collection<Document>,
    pub(crate) printers: Collection<Document>,
    pub(crate) logs: Collection<Document>,
    pub(crate) metrics: Collection<Document>,
    pub(crate) config: CoreConfig,
    pub(crate) clock: ServerClock,
    pub(crate) delivery: crate::audit::Delivery,
    pub(crate) releases: Releases,
    /// The server refused the claim's index hint once (a database the migration has not prepared): claims
    /// go unhinted.
    pub(crate) claim_unhinted: std::sync::atomic::AtomicBool,
    /// What this handle's claims tried and took ([`PrintCore::claim_stats`]).
    pub(crate) claim_stats: ClaimCounters,
}

/// How many orders the claims of this handle tried to take, and took (`PrintCore::claim_stats`).
#[derive(Debug, Default)]
pub(crate) struct ClaimCounters {
    tried: AtomicU64,
    taken: AtomicU64,
    refused: AtomicU64,
}

impl ClaimCounters {
    /// Every take is counted after its try (in the same call, or a later one), and published after it.
    pub(crate) fn count(&self, tried: usize, taken: usize) {
        self.tried.fetch_add(tried as u64, Ordering::Relaxed);
        self.taken.fetch_add(taken as u64, Ordering::Release);
    }

    /// (tried, taken). `taken` is read first: a take seen is one whose try is seen too, so `taken` never
    /// exceeds `tried`.
    pub(crate) fn read(&self) -> (u64, u64) {
        let taken = self.taken.load(Ordering::Acquire);
        (self.tried.load(Ordering::Relaxed), taken)
    }

    /// An order a claim failed where it waited: the database refused to add the claim's fields to it.
    pub(crate) fn count_refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

impl PrintCore {
    /// Connects to `uri` and uses database `db_name`. Reads the server's clock once; fails with a
    /// `Database` error when the server cannot be reached.
    ///
    /// A connection string whose credentials a driver would misread (an unencoded `@`, `/`, `?` or `#` in
    /// the password) is refused first with `InvalidArgument`, so no part of the password reaches a resolver
    /// or an error message ([`crate::db::redact::credentials_problem`]).
    pub async fn connect(uri: &str, db_name: &str, config: CoreConfig) -> Result<PrintCore> {
        if let Some(problem) = crate::db::redact::credentials_problem(uri) {
            return Err(Error::InvalidArgument(problem));
        }
        let mut options =
            mongodb::options::ClientOptions::parse(uri).await.map_err(Error::db("parsing the connection string"))?;
        if options.app_name.is_none() {
            options.app_name = Some("printcore".into());
        }
        let client = Client::with_options(options).map_err(Error::db("creating the client"))?;
        PrintCore::with_database(client.database(db_name), config).await
    }

    /// Uses an existing database handle (and its client's pool).
    pub async fn with_database(db: Database, config: CoreConfig) -> Result<PrintCore> {
        config.validate()?;
        let clock = ServerClock::default();
        clock.sync(&db).await?;
        let orders = db.collection(collections::ORDERS);
        let delivery =
            crate::audit::Delivery::new(config.log_delivery, orders.clone(), db.collection(collections::PRINT_LOGS));
        Ok(PrintCore {
            inner: Arc::new(Inner {
                orders,
                printers: db.collection(collections::PRINTERS),
                logs: db.collection(collections::PRINT_LOGS),
                metrics: db.collection(collections::METRICS),
                db,
                config,
                clock,
                delivery,
                releases: Default::default(),
                claim_unhinted: Default::default(),
                claim_stats: Default::default(),
            }),
        })
    }

    /// The settings this handle was opened with.
    pub fn config(&self) -> &CoreConfig {
        &self.inner.config
    }

    /// The database handle (for what printcore does not cover, such as the test harness's setup).
    pub fn database(&self) -> &Database {
        &self.inner.db
    }

    /// The database server's current time (as this process estimates it from its last sync).
    pub fn now(&self) -> bson::DateTime {
        self.inner.clock.now()
    }

    /// The estimate of the database server's clock that leases and backoffs are measured with.
    pub fn clock(&self) -> &ServerClock {
        &self.inner.clock
    }

    /// Re-reads the database server's clock (the recovery sweep does this on every pass).
    pub async fn sync_clock(&self) -> Result<()> {
        self.inner.clock.sync(&self.inner.db).await?;
        // Leases are seconds to minutes long: an estimate this far off is worth a person's look (a database
        // very far away, or a clock drifting with no sample for a long time).
        if let Some(e) = self.inner.clock.error_ms().filter(|e| *e > 2_000) {
            tracing::warn!(error_ms = e, "the database server's clock is known only to within {e} ms");
        }
        Ok(())
    }

    /// Waits until every log entry of this process's transitions so far is in `print_logs` (with
    /// [`LogDelivery::Background`]; inline delivery has nothing to wait for). The rule is
    /// [`crate::audit`]'s; the handle holds the delivery.
    pub async fn flush_logs(&self) {
        self.inner.delivery.barrier().await
    }

    /// Delivers log entries left in order outboxes for longer than `older_than` (their writer died between
    /// the transition and the copy); `Duration::ZERO` delivers every waiting entry, however new. Returns how
    /// many entries were delivered. The recovery sweep calls it; so does a history read.
    pub async fn flush_log_outbox(&self, older_than: Duration, limit: i64) -> Result<usize> {
        let cutoff = (!older_than.is_zero()).then(|| crate::db::clock::sub(bson::DateTime::now(), older_than));
        crate::audit::finish_outboxes(&self.inner.orders, &self.inner.logs, cutoff, limit).await
    }
}

/// When this process last released scheduled orders, and the earliest schedule it wrote since. The handle
/// holds this memory; the rule that reads it (when a claim releases scheduled orders first) is
/// [`crate::queue`]'s, in `impl Releases` there.
#[derive(Debug, Default)]
pub(crate) struct Releases {
    pub(crate) state: std::sync::Mutex<ReleaseState>,
}

#[derive(Debug, Default)]
pub(crate) struct ReleaseState {
    /// Monotonic ms of the last release.
    pub(crate) last: Option<i64>,
    /// The earliest `printNotBefore` this process wrote since (server time, ms).
    pub(crate) earliest: Option<i64>,
}
