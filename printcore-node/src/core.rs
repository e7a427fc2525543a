//! The `PrintCore` class: one connection per process, shared by every request of the website.

use crate::error::promise;
use crate::types::*;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use printcore::{Action, AdminIdentity, CoreConfig, MarkPaid, MarkPaidOutcome};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// Connections by (uri, database): `connect` twice with the same arguments shares one client.
fn connections() -> &'static Mutex<HashMap<(String, String), printcore::PrintCore>> {
    static C: OnceLock<Mutex<HashMap<(String, String), printcore::PrintCore>>> = OnceLock::new();
    C.get_or_init(Default::default)
}

/// The print queue, as the website uses it.
#[napi]
pub struct PrintCore {
    inner: printcore::PrintCore,
    key: (String, String),
}

fn admin_of(input: &AdminInput) -> (AdminIdentity, String) {
    // No check here: printcore checks identity and reason (and says what is missing) before any read.
    let admin = AdminIdentity {
        admin_id: input.admin_id.clone().unwrap_or_default(),
        admin_email: input.admin_email.clone().unwrap_or_default(),
    };
    (admin, input.reason.clone().unwrap_or_default())
}

#[napi]
impl PrintCore {
    /// Connects to MongoDB (once per process: later calls with the same uri and database share the
    /// connection). Rejects with code DATABASE when the server cannot be reached.
    #[napi]
    pub fn connect<'env>(
        env: &'env Env,
        uri: String,
        options: Option<ConnectOptions>,
    ) -> Result<PromiseRaw<'env, PrintCore>> {
        let db = options.as_ref().and_then(|o| o.db_name.clone()).unwrap_or_else(|| "printshop".into());
        let app = options.and_then(|o| o.app_name).unwrap_or_else(|| "printcore-node".into());
        let key = (uri.clone(), db.clone());
        let cached = connections().lock().unwrap().get(&key).cloned();
        let fut = async move {
            if let Some(core) = cached {
                return Ok(core);
            }
            let with_app = if uri.contains("appName=") {
                uri.clone()
            } else {
                format!(
                    "{uri}{}appName={app}",
                    if uri.contains('?') {
                        "&"
                    } else if uri.ends_with('/') {
                        "?"
                    } else {
                        "/?"
                    }
                )
            };
            let core = printcore::PrintCore::connect(&with_app, &db, CoreConfig::default()).await?;
            let mut map = connections().lock().unwrap();
            Ok(map.entry((uri, db)).or_insert(core).clone())
        };
        promise(env, fut, move |inner| Ok(PrintCore { inner, key }))
    }

    /// Records the payment of an order: paymentStatus 'completed', paidAt, printStatus 'pending', in one
    /// atomic write. No change to an order already printing, printed, failed or cancelled.
    #[napi]
    pub fn mark_paid<'env>(
        &self,
        env: &'env Env,
        order_id: String,
        options: Option<MarkPaidOptions>,
    ) -> Result<PromiseRaw<'env, MarkPaidResult>> {
        let core = self.inner.clone();
        let opts = MarkPaid {
            priority: options.as_ref().and_then(|o| o.priority),
            not_before: options.and_then(|o| o.not_before).map(bson::DateTime::from_chrono),
        };
        promise(env, async move { core.mark_paid(&order_id, &opts).await }, |o| {
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
    pub fn snapshot<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Snapshot>> {
        let core = self.inner.clone();
        promise(env, async move { core.snapshot().await }, |s| Ok(Snapshot::from(s)))
    }

    /// One order by its orderId.
    #[napi]
    pub fn order<'env>(&self, env: &'env Env, order_id: String) -> Result<PromiseRaw<'env, PrintOrder>> {
        let core = self.inner.clone();
        promise(env, async move { core.order(&order_id).await }, |o| Ok(PrintOrder::from(o)))
    }

    /// Print a printed, failed or cancelled order again. One id: resolves with the result or rejects with
    /// a coded error. An array: resolves with one entry per order.
    #[napi(ts_return_type = "Promise<AdminResult | BatchItem[]>")]
    pub fn reprint<'env>(
        &self,
        env: &'env Env,
        order_ids: Either<String, Vec<String>>,
        admin: AdminInput,
    ) -> Result<PromiseRaw<'env, Either<AdminResult, Vec<BatchItem>>>> {
        self.admin(env, Action::Reprint, order_ids, admin)
    }

    /// Never print a pending or failed order.
    #[napi(ts_return_type = "Promise<AdminResult | BatchItem[]>")]
    pub fn cancel<'env>(
        &self,
        env: &'env Env,
        order_ids: Either<String, Vec<String>>,
        admin: AdminInput,
    ) -> Result<PromiseRaw<'env, Either<AdminResult, Vec<BatchItem>>>> {
        self.admin(env, Action::Cancel, order_ids, admin)
    }

    /// Take a stuck printing order back from its worker.
    #[napi(ts_return_type = "Promise<AdminResult | BatchItem[]>")]
    pub fn reset_state<'env>(
        &self,
        env: &'env Env,
        order_ids: Either<String, Vec<String>>,
        admin: AdminInput,
    ) -> Result<PromiseRaw<'env, Either<AdminResult, Vec<BatchItem>>>> {
        self.admin(env, Action::ResetState, order_ids, admin)
    }

    /// Record that an order is on paper.
    #[napi(ts_return_type = "Promise<AdminResult | BatchItem[]>")]
    pub fn force_printed<'env>(
        &self,
        env: &'env Env,
        order_ids: Either<String, Vec<String>>,
        admin: AdminInput,
    ) -> Result<PromiseRaw<'env, Either<AdminResult, Vec<BatchItem>>>> {
        self.admin(env, Action::ForcePrinted, order_ids, admin)
    }

    fn admin<'env>(
        &self,
        env: &'env Env,
        action: Action,
        order_ids: Either<String, Vec<String>>,
        input: AdminInput,
    ) -> Result<PromiseRaw<'env, Either<AdminResult, Vec<BatchItem>>>> {
        let core = self.inner.clone();
        let (admin, reason) = admin_of(&input);
        match order_ids {
            Either::A(id) => promise(env, async move { core.admin_action(action, &id, &admin, &reason).await }, |o| {
                Ok(Either::A(AdminResult::from(o)))
            }),
            Either::B(ids) => {
                promise(env, async move { core.admin_batch(action, &ids, &admin, &reason).await }, |items| {
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
                                    error: Some(ErrorInfo { code: e.code().into(), message: e.to_string() }),
                                },
                            })
                            .collect(),
                    ))
                })
            }
        }
    }

    /// print_logs entries, newest first, filtered by order and/or action.
    #[napi]
    pub fn logs<'env>(&self, env: &'env Env, query: Option<LogQuery>) -> Result<PromiseRaw<'env, Vec<PrintLogEntry>>> {
        let core = self.inner.clone();
        let q = query.unwrap_or(LogQuery { order_id: None, action: None, limit: None });
        promise(
            env,
            async move { core.logs(q.order_id.as_deref(), q.action.as_deref(), q.limit.unwrap_or(100)).await },
            |logs| Ok(logs.into_iter().map(PrintLogEntry::from).collect()),
        )
    }

    /// Metrics samples of every worker, newest first.
    #[napi]
    pub fn metrics<'env>(&self, env: &'env Env, query: Option<MetricsQuery>) -> Result<PromiseRaw<'env, Vec<Metrics>>> {
        let core = self.inner.clone();
        let since = query.as_ref().and_then(|q| q.since).map(bson::DateTime::from_chrono).unwrap_or_else(|| {
            bson::DateTime::from_millis(bson::DateTime::now().timestamp_millis() - 24 * 3600 * 1000)
        });
        let limit = query.and_then(|q| q.limit).unwrap_or(1000);
        promise(env, async move { core.metrics_since(since, limit).await }, |m| {
            Ok(m.into_iter().map(Metrics::from).collect())
        })
    }

    /// Creates the indexes, normalises printStatus/paymentStatus spellings and adds printStatus to existing
    /// orders (safe to run again). `{ dryRun: true }` writes nothing and reports what it would do.
    #[napi]
    pub fn migrate<'env>(
        &self,
        env: &'env Env,
        options: Option<MigrateOptions>,
    ) -> Result<PromiseRaw<'env, MigrationResult>> {
        let core = self.inner.clone();
        let dry_run = options.and_then(|o| o.dry_run).unwrap_or(false);
        let options = printcore::MigrateOptions { dry_run, ..Default::default() };
        promise(env, async move { core.migrate(&options).await }, |r| {
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

    /// Live monitor events (change streams where the database has them, polling every 2.5 s otherwise).
    /// The listener is called with each event; `close()` the subscription to stop. An open subscription
    /// does not keep the process alive on its own.
    #[napi(ts_args_type = "listener: (event: MonitorEvent) => void, options?: WatchOptions")]
    pub fn watch(
        &self,
        listener: Function<'_, MonitorEvent, ()>,
        options: Option<WatchOptions>,
    ) -> Result<crate::watch::Subscription> {
        crate::watch::subscribe(self.inner.clone(), listener, options)
    }

    /// Forgets this process's shared connection; the next `connect` opens a new one. Pending calls
    /// finish.
    #[napi]
    pub fn close(&self) {
        connections().lock().unwrap().remove(&self.key);
    }
}
