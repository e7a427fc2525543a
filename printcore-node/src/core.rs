//! The `PrintCore` class: one connection per process, shared by every request of the website.
//!
//! This is the package's native layer; `lib/printcore.js` (the package's entry) adds the typed surface
//! on top (`PrintCoreError`, overloads, `AbortSignal`). Every rule is printcore's.

use crate::error::promise;
use crate::types::*;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use printcore::{Action, AdminIdentity, Cancel, CoreConfig, MarkPaid, MarkPaidOutcome, MonitorHub};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// One shared connection: the client and the live monitor feeds on it (one per poll interval).
pub(crate) struct Shared {
    pub(crate) core: printcore::PrintCore,
    pub(crate) hubs: Mutex<HashMap<u32, Arc<MonitorHub>>>,
}

type Slot = Arc<tokio::sync::OnceCell<Arc<Shared>>>;

/// Connections by (uri, database). `connect` twice with the same arguments shares one client, and
/// concurrent first calls share one attempt. A failed attempt leaves the slot empty: the next `connect`
/// tries again (a failure is never cached).
fn connections() -> &'static Mutex<HashMap<(String, String), Slot>> {
    static C: OnceLock<Mutex<HashMap<(String, String), Slot>>> = OnceLock::new();
    C.get_or_init(Default::default)
}

/// A handle on a cancellable call: `cancel()` makes the calls it was given to reject with `ABORTED`.
#[napi]
pub struct CancelToken {
    pub(crate) token: Cancel,
}

#[napi]
impl CancelToken {
    #[napi(constructor)]
    pub fn new() -> Self {
        CancelToken { token: Cancel::new() }
    }

    /// Cancels every call this token was given, now and later.
    #[napi]
    pub fn cancel(&self) {
        self.token.cancel()
    }
}

impl Default for CancelToken {
    fn default() -> Self {
        Self::new()
    }
}

/// The print queue, as the website uses it.
#[napi]
pub struct PrintCore {
    shared: Arc<Shared>,
    key: (String, String),
    /// The default time limit of each call (`ConnectOptions.timeoutMs`).
    timeout: Option<Duration>,
}

fn admin_of(input: &AdminInput) -> (AdminIdentity, String) {
    // No check here: printcore checks identity and reason (and says what is missing) before any read.
    let admin = AdminIdentity {
        admin_id: input.admin_id.clone().unwrap_or_default(),
        admin_email: input.admin_email.clone().unwrap_or_default(),
    };
    (admin, input.reason.clone().unwrap_or_default())
}

fn millis(ms: Option<f64>, name: &str) -> Result<Option<Duration>> {
    match ms {
        None => Ok(None),
        Some(ms) if ms.is_finite() && ms > 0.0 => Ok(Some(Duration::from_secs_f64(ms / 1000.0))),
        Some(ms) => {
            Err(Error::new(Status::InvalidArg, format!("{name} must be a positive number of milliseconds, not {ms}")))
        }
    }
}

/// How one call runs: its time limit and the caller's cancel token.
struct Call {
    timeout: Option<Duration>,
    cancel: Option<Cancel>,
}

impl Call {
    async fn run<T>(
        self,
        what: &'static str,
        fut: impl std::future::Future<Output = printcore::Result<T>>,
    ) -> printcore::Result<T> {
        let bounded = printcore::db::connection::deadline(what, self.timeout, fut);
        match self.cancel {
            Some(c) => c.run(what, bounded).await,
            None => bounded.await,
        }
    }
}

#[napi]
impl PrintCore {
    /// Connects to MongoDB (once per process: later calls with the same uri and database share the
    /// connection; a failed attempt is not remembered). Rejects with code DATABASE when the server cannot
    /// be reached within `serverSelectionTimeoutMs`.
    #[napi]
    pub fn connect<'env>(
        env: &'env Env,
        uri: String,
        options: Option<ConnectOptions>,
    ) -> Result<PromiseRaw<'env, PrintCore>> {
        let options = options.unwrap_or_default();
        let db = options.db_name.clone().unwrap_or_else(|| "printshop".into());
        let timeout = millis(options.timeout_ms, "timeoutMs")?;
        let connect = printcore::ConnectOptions {
            app_name: Some(options.app_name.clone().unwrap_or_else(|| "printcore-node".into())),
            max_pool_size: options.max_pool_size,
            server_selection_timeout: millis(options.server_selection_timeout_ms, "serverSelectionTimeoutMs")?,
            connect_timeout: millis(options.connect_timeout_ms, "connectTimeoutMs")?,
            ..printcore::ConnectOptions::default()
        };
        let key = (uri.clone(), db.clone());
        let slot = connections().lock().unwrap().entry(key.clone()).or_default().clone();
        let fut = async move {
            slot.get_or_try_init(|| async {
                let core = printcore::PrintCore::connect_with(&uri, &db, CoreConfig::default(), &connect).await?;
                Ok::<_, printcore::Error>(Arc::new(Shared { core, hubs: Mutex::new(HashMap::new()) }))
            })
            .await
            .cloned()
        };
        promise(env, fut, move |shared| Ok(PrintCore { shared, key, timeout }))
    }

    fn call(&self, call: Option<CallOptions>, cancel: Option<&CancelToken>) -> Result<Call> {
        let timeout = match call.and_then(|c| c.timeout_ms) {
            Some(ms) => millis(Some(ms), "timeoutMs")?,
            None => self.timeout,
        };
        Ok(Call { timeout, cancel: cancel.map(|c| c.token.clone()) })
    }

    fn core(&self) -> printcore::PrintCore {
        self.shared.core.clone()
    }

    /// Records the payment of an order: paymentStatus 'completed', paidAt, printStatus 'pending', in one
    /// atomic write. No change to an order already printing, printed, failed or cancelled.
    #[napi]
    pub fn mark_paid<'env>(
        &self,
        env: &'env Env,
        order_id: String,
        options: Option<MarkPaidOptions>,
        call: Option<CallOptions>,
        cancel: Option<&CancelToken>,
    ) -> Result<PromiseRaw<'env, MarkPaidResult>> {
        let (core, call) = (self.core(), self.call(call, cancel)?);
        let opts = MarkPaid {
            priority: options.as_ref().and_then(|o| o.priority),
            not_before: options.and_then(|o| o.not_before).map(bson::DateTime::from_chrono),
        };
        promise(env, call.run("markPaid", async move { core.mark_paid(&order_id, &opts).await }), |o| {
            Ok(match o {
                MarkPaidOutcome::Queued => {
                    MarkPaidResult { outcome: "queued".into(), print_status: Some("pending".into()) }
                }
                MarkPaidOutcome::AlreadyQueued => {
                    MarkPaidResult { outcome: "already_queued".into(), print_status: Some("pending".into()) }
                }
                MarkPaidOutcome::Unchanged(s) => {
                    MarkPaidResult { outcome: "unchanged".into(), print_status: Some(s.as_str().into()) }
                }
            })
        })
    }

    /// The monitor snapshot: pending, printing, printed in the last 24 h, failed, printers, latest metrics.
    #[napi]
    pub fn snapshot<'env>(
        &self,
        env: &'env Env,
        call: Option<CallOptions>,
        cancel: Option<&CancelToken>,
    ) -> Result<PromiseRaw<'env, Snapshot>> {
        let (core, call) = (self.core(), self.call(call, cancel)?);
        // Converted on the runtime's thread, not in the resolve callback: the site's event loop only turns
        // the finished values into JS objects.
        promise(env, call.run("snapshot", async move { core.snapshot().await.map(Snapshot::from) }), Ok)
    }

    /// One order by its orderId.
    #[napi]
    pub fn order<'env>(
        &self,
        env: &'env Env,
        order_id: String,
        call: Option<CallOptions>,
        cancel: Option<&CancelToken>,
    ) -> Result<PromiseRaw<'env, PrintOrder>> {
        let (core, call) = (self.core(), self.call(call, cancel)?);
        promise(env, call.run("order", async move { core.order(&order_id).await }), |o| Ok(PrintOrder::from(o)))
    }

    /// Orders by status, orderId (exact, or prefix from 3 characters), printer and creation time, newest
    /// first, a page at a time (`before`: the previous page's `next`).
    #[napi]
    pub fn orders<'env>(
        &self,
        env: &'env Env,
        query: Option<OrdersQuery>,
        call: Option<CallOptions>,
        cancel: Option<&CancelToken>,
    ) -> Result<PromiseRaw<'env, OrderPage>> {
        let (core, call) = (self.core(), self.call(call, cancel)?);
        let query = query.unwrap_or_default();
        let fut = async move {
            let status = match query.status.as_deref() {
                None => None,
                Some(s) => Some(printcore::PrintStatus::parse(s).ok_or_else(|| {
                    printcore::Error::InvalidArgument(format!(
                        "status {s:?} is not a print status (pending, printing, printed, failed, cancelled)"
                    ))
                })?),
            };
            let q = printcore::OrdersQuery {
                status,
                order_id: query.order_id,
                printer_id: query.printer_id,
                from: query.from.map(bson::DateTime::from_chrono),
                to: query.to.map(bson::DateTime::from_chrono),
                before: query.before,
                limit: query.limit,
            };
            let p = core.orders_page(&q).await?;
            Ok(OrderPage { items: p.items.into_iter().map(PrintOrder::from).collect(), next: p.next })
        };
        promise(env, call.run("orders", fut), Ok)
    }

    /// An admin action ("reprint", "cancel", "reset_state", "force_printed") on one order (resolves with
    /// the result or rejects with a coded error) or several (one entry per order).
    #[napi(ts_return_type = "Promise<AdminResult | BatchItem[]>")]
    pub fn admin<'env>(
        &self,
        env: &'env Env,
        action: String,
        order_ids: Either<String, Vec<String>>,
        input: AdminInput,
        call: Option<CallOptions>,
        cancel: Option<&CancelToken>,
    ) -> Result<PromiseRaw<'env, Either<AdminResult, Vec<BatchItem>>>> {
        let (core, call) = (self.core(), self.call(call, cancel)?);
        let action = [Action::Reprint, Action::Cancel, Action::ResetState, Action::ForcePrinted]
            .into_iter()
            .find(|a| a.as_str() == action)
            .ok_or_else(|| {
                Error::new(
                    Status::InvalidArg,
                    format!("action {action:?} is not one of reprint, cancel, reset_state, force_printed"),
                )
            })?;
        let (admin, reason) = admin_of(&input);
        match order_ids {
            Either::A(id) => promise(
                env,
                call.run("an admin action", async move { core.admin_action(action, &id, &admin, &reason).await }),
                |o| Ok(Either::A(AdminResult::from(o))),
            ),
            Either::B(ids) => promise(
                env,
                call.run("an admin action", async move { core.admin_batch(action, &ids, &admin, &reason).await }),
                |items| {
                    Ok(Either::B(
                        items
                            .into_iter()
                            .map(|(order_id, r)| match r {
                                Ok(o) => {
                                    BatchItem { order_id, ok: true, result: Some(AdminResult::from(o)), error: None }
                                }
                                Err(e) => BatchItem {
                                    order_id,
                                    ok: false,
                                    result: None,
                                    error: Some(ErrorInfo {
                                        code: e.code().into(),
                                        message: e.to_string(),
                                        transient: e.is_transient(),
                                    }),
                                },
                            })
                            .collect(),
                    ))
                },
            ),
        }
    }

    /// print_logs entries, newest first, filtered by order and/or action, a page at a time.
    #[napi]
    pub fn logs<'env>(
        &self,
        env: &'env Env,
        query: Option<LogQuery>,
        call: Option<CallOptions>,
        cancel: Option<&CancelToken>,
    ) -> Result<PromiseRaw<'env, LogPage>> {
        let (core, call) = (self.core(), self.call(call, cancel)?);
        let q = query.unwrap_or_default();
        let fut = async move {
            let p = core
                .logs_page(q.order_id.as_deref(), q.action.as_deref(), q.before.as_deref(), q.limit.unwrap_or(100))
                .await?;
            Ok(LogPage { items: p.items.into_iter().map(PrintLogEntry::from).collect(), next: p.next })
        };
        promise(env, call.run("logs", fut), Ok)
    }

    /// Metrics samples of every worker, newest first; with `bucketMinutes`, the shop's metrics per time
    /// bucket (computed by the database).
    #[napi]
    pub fn metrics<'env>(
        &self,
        env: &'env Env,
        query: Option<MetricsQuery>,
        call: Option<CallOptions>,
        cancel: Option<&CancelToken>,
    ) -> Result<PromiseRaw<'env, Vec<Metrics>>> {
        let (core, call) = (self.core(), self.call(call, cancel)?);
        let since = query.as_ref().and_then(|q| q.since).map(bson::DateTime::from_chrono).unwrap_or_else(|| {
            bson::DateTime::from_millis(bson::DateTime::now().timestamp_millis() - 24 * 3600 * 1000)
        });
        let limit = query.as_ref().and_then(|q| q.limit).unwrap_or(1000);
        let bucket = query.and_then(|q| q.bucket_minutes);
        let fut = async move {
            match bucket {
                None => Ok(core.metrics_since(since, limit).await?.into_iter().map(Metrics::from).collect()),
                Some(minutes) => {
                    let bucket = Duration::try_from_secs_f64(minutes * 60.0).map_err(|_| {
                        printcore::Error::InvalidArgument(format!(
                            "bucketMinutes must be a positive number of minutes, not {minutes}"
                        ))
                    })?;
                    Ok(core.metrics_buckets(since, bucket, limit).await?.into_iter().map(Metrics::from).collect())
                }
            }
        };
        promise(env, call.run("metrics", fut), |m: Vec<Metrics>| Ok(m))
    }

    /// Downloads one file of an order with printcore's download code and file policy (the worker's
    /// allowlist rules, link-local addresses refused, size cap, every redirect checked), so the website
    /// can show it without handing a customer's URL to the admin's browser. Rejects with NOT_FOUND (no
    /// such order), INVALID_ARGUMENT (no file at `index`, an empty `allowedHosts` or an entry that is not a host name), FILE_REJECTED (the
    /// policy refuses the URL's host or address, or a redirect; names the order and the host),
    /// FILE_INVALID (no file, the server answered an error, over `maxMb`) or FILE_UNAVAILABLE
    /// (transient: the server or network failed; try again).
    #[napi]
    pub fn order_file<'env>(
        &self,
        env: &'env Env,
        order_id: String,
        options: OrderFileOptions,
        call: Option<CallOptions>,
        cancel: Option<&CancelToken>,
    ) -> Result<PromiseRaw<'env, OrderFile>> {
        let (core, call) = (self.core(), self.call(call, cancel)?);
        let fut = async move {
            let mut policy = printcore::files::FilePolicy {
                allowed_hosts: options.allowed_hosts,
                allow_http: options.allow_http.unwrap_or(false),
                allow_loopback: options.allow_loopback.unwrap_or(false),
                allow_private: options.allow_private.unwrap_or(false),
                ..Default::default()
            };
            if let Some(mb) = options.max_mb {
                policy = policy.with_max_mb(mb)?;
            }
            let fetcher = printcore::files::FileFetcher::new(policy)?;
            core.order_file(&order_id, options.index.unwrap_or(0) as usize, &fetcher).await
        };
        promise(env, call.run("orderFile", fut), |f| Ok(OrderFile::from(f)))
    }

    /// Creates the indexes, normalises printStatus/paymentStatus spellings and adds printStatus to existing
    /// orders (safe to run again). `{ dryRun: true }` writes nothing and reports what it would do.
    #[napi]
    pub fn migrate<'env>(
        &self,
        env: &'env Env,
        options: Option<MigrateOptions>,
        call: Option<CallOptions>,
        cancel: Option<&CancelToken>,
    ) -> Result<PromiseRaw<'env, MigrationResult>> {
        let (core, call) = (self.core(), self.call(call, cancel)?);
        let dry_run = options.and_then(|o| o.dry_run).unwrap_or(false);
        let options = printcore::MigrateOptions { dry_run, ..Default::default() };
        promise(env, call.run("migrate", async move { core.migrate(&options).await }), |r| {
            let summary = r.lines();
            Ok(MigrationResult {
                dry_run: r.dry_run,
                indexes_created: r.indexes_created,
                indexes_replaced: r.indexes_replaced,
                normalised: r.normalised.iter().map(ToString::to_string).collect(),
                unresolved: r.unresolved.iter().map(ToString::to_string).collect(),
                summary,
                indexes: r.indexes,
                orders_marked_pending: r.orders_marked_pending as i64,
                orders_marked_printed: r.orders_marked_printed as i64,
                printers_registered: r.printers_registered as i64,
                printers_updated: r.printers_updated as i64,
            })
        })
    }

    /// Live monitor events, from the one feed this process shares per connection and poll interval
    /// (change streams where the database has them, polling every 2.5 s otherwise). The listener gets
    /// each event, then at most one error and the end. An open subscription does not keep the process
    /// alive on its own.
    #[napi(ts_args_type = "listener: (item: WatchItem) => void, options?: WatchOptions | undefined | null")]
    pub fn watch(
        &self,
        listener: Function<'_, WatchItem, ()>,
        options: Option<WatchOptions>,
    ) -> Result<crate::watch::Subscription> {
        let poll = options.and_then(|o| o.poll_ms).unwrap_or(2500).clamp(200, 60_000);
        let hub = self
            .shared
            .hubs
            .lock()
            .unwrap()
            .entry(poll)
            .or_insert_with(|| MonitorHub::new(self.core(), Duration::from_millis(poll as u64)))
            .clone();
        crate::watch::subscribe(hub, listener)
    }

    /// Closes the shared connection of this uri and database (every handle on it): stops its live feeds,
    /// waits for calls in flight, and shuts the pool. The next `connect` opens a new one.
    #[napi]
    pub fn close<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        {
            let mut map = connections().lock().unwrap();
            // Only forget the slot if it still holds this connection (a newer one may have replaced it).
            if map.get(&self.key).and_then(|s| s.get()).is_some_and(|s| Arc::ptr_eq(s, &self.shared)) {
                map.remove(&self.key);
            }
        }
        let hubs: Vec<Arc<MonitorHub>> = self.shared.hubs.lock().unwrap().drain().map(|(_, h)| h).collect();
        let core = self.core();
        promise(
            env,
            async move {
                for hub in hubs {
                    hub.stop();
                }
                core.shutdown().await;
                Ok(())
            },
            |()| Ok(()),
        )
    }
}
