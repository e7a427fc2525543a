//! Connecting with the options a website sets (pool size, server selection timeout, application name),
//! closing the pool, and bounding one call in time ([`deadline`]) or letting its caller give up on it
//! ([`Cancel`]): a request of the website must not hang for the driver's 30 s when the database is away.

use crate::db::PrintCore;
use crate::error::{Error, Result};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How to connect. `None` keeps what the connection string says (or the driver's default).
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// Shown in the database's logs and `currentOp` (default "printcore").
    pub app_name: Option<String>,
    /// The most connections the pool opens to each server (the driver's default is 10; a serverless
    /// function wants a few).
    pub max_pool_size: Option<u32>,
    /// How long an operation waits for a usable server before it fails (the driver's default is 30 s).
    pub server_selection_timeout: Option<Duration>,
    /// How long establishing a connection may take.
    pub connect_timeout: Option<Duration>,
    /// How often the driver checks each server with `hello` (the driver's default is 10 s, and with
    /// the streaming protocol a second connection measures round trips as often). A long-running
    /// process that mostly waits (the print PC's worker) sets a minute and [`ConnectOptions::poll_monitoring`]:
    /// an operation that fails on the network marks its server unknown at once anyway.
    pub heartbeat_frequency: Option<Duration>,
    /// Check servers by polling (one `hello` per heartbeat) instead of the streaming protocol.
    pub poll_monitoring: bool,
}

impl ConnectOptions {
    /// What the print PC's worker connects with: one `hello` a minute to watch the server
    /// (ARCHITECTURE.md, "Idle cost").
    pub fn for_worker() -> ConnectOptions {
        ConnectOptions {
            app_name: Some("printcore-worker".into()),
            heartbeat_frequency: Some(Duration::from_secs(60)),
            poll_monitoring: true,
            ..ConnectOptions::default()
        }
    }
}

impl PrintCore {
    /// [`PrintCore::connect`] with connection options; options given here win over the connection
    /// string's.
    pub async fn connect_with(
        uri: &str,
        db_name: &str,
        config: crate::CoreConfig,
        options: &ConnectOptions,
    ) -> Result<PrintCore> {
        if let Some(problem) = crate::db::redact::credentials_problem(uri) {
            return Err(Error::InvalidArgument(problem));
        }
        if options.max_pool_size == Some(0) {
            return Err(Error::InvalidArgument("maxPoolSize must be at least 1".into()));
        }
        let mut client_options =
            mongodb::options::ClientOptions::parse(uri).await.map_err(Error::db("parsing the connection string"))?;
        if let Some(app) = &options.app_name {
            client_options.app_name = Some(app.clone());
        } else if client_options.app_name.is_none() {
            client_options.app_name = Some("printcore".into());
        }
        if let Some(n) = options.max_pool_size {
            client_options.max_pool_size = Some(n);
        }
        if let Some(t) = options.server_selection_timeout {
            client_options.server_selection_timeout = Some(t);
        }
        if let Some(t) = options.connect_timeout {
            client_options.connect_timeout = Some(t);
        }
        if let Some(t) = options.heartbeat_frequency {
            client_options.heartbeat_freq = Some(t);
        }
        if options.poll_monitoring {
            client_options.server_monitoring_mode = Some(mongodb::options::ServerMonitoringMode::Poll);
        }
        let client = mongodb::Client::with_options(client_options).map_err(Error::db("creating the client"))?;
        let db = client.database(db_name);
        match PrintCore::with_database(db, config).await {
            Ok(core) => Ok(core),
            Err(e) => {
                // Nothing keeps a client that could not be used: its pool and monitors stop now.
                client.shutdown().immediate(true).await;
                Err(e)
            }
        }
    }

    /// Closes the connection pool of this handle's client (every clone of it): waits for the log
    /// entries of this process to be delivered, then for operations in flight, and stops the pool and
    /// its monitoring. Calls made afterwards fail.
    pub async fn shutdown(&self) {
        self.flush_logs().await;
        self.database().client().clone().shutdown().await;
    }
}

/// Bounds `fut` to `limit` (when given): past it the call fails with [`Error::Timeout`] naming `what`,
/// and the operation is dropped (the driver abandons its connection).
pub async fn deadline<T>(what: &str, limit: Option<Duration>, fut: impl Future<Output = Result<T>>) -> Result<T> {
    match limit {
        None => fut.await,
        Some(limit) => match tokio::time::timeout(limit, fut).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout { what: what.to_owned(), ms: limit.as_millis() as u64 }),
        },
    }
}

/// A caller's way to give up on calls: [`Cancel::cancel`] makes every call run under [`Cancel::run`]
/// fail with [`Error::Aborted`] at once (and drops its operation). Cheap to clone; once cancelled, it
/// stays cancelled.
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    inner: Arc<(tokio::sync::Notify, std::sync::atomic::AtomicBool)>,
}

impl Cancel {
    /// A token nobody has cancelled yet.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Cancels every call under this token, now and later.
    pub fn cancel(&self) {
        self.inner.1.store(true, std::sync::atomic::Ordering::SeqCst);
        self.inner.0.notify_waiters();
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.1.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Runs `fut` until it ends or the token is cancelled.
    pub async fn run<T>(&self, what: &str, fut: impl Future<Output = Result<T>>) -> Result<T> {
        let notified = self.inner.0.notified();
        tokio::pin!(notified);
        // Registered before the check, so a cancel between the two is not missed.
        notified.as_mut().enable();
        if self.is_cancelled() {
            return Err(Error::Aborted(what.to_owned()));
        }
        tokio::select! {
            r = fut => r,
            _ = notified => Err(Error::Aborted(what.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_deadline_fails_a_slow_call_with_timeout() {
        let slow = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(())
        };
        let e = deadline("reading the snapshot", Some(Duration::from_millis(20)), slow).await.unwrap_err();
        assert_eq!(e.code(), "TIMEOUT");
        assert!(e.is_transient());
        assert!(e.to_string().contains("reading the snapshot did not finish within 20 ms"), "{e}");
        assert_eq!(deadline("x", None, async { Ok(1) }).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_cancel_stops_calls_running_and_later_ones() {
        let token = Cancel::new();
        let t2 = token.clone();
        let running = tokio::spawn(async move {
            t2.run("markPaid", async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(())
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        token.cancel();
        let e = running.await.unwrap().unwrap_err();
        assert_eq!(e.code(), "ABORTED");
        assert!(!e.is_transient());
        let later = token.run("snapshot", async { Ok(()) }).await.unwrap_err();
        assert_eq!(later.code(), "ABORTED");
    }
}
