//! The print PC's health endpoint (`[http] listen`, off unless configured): `/healthz` for an uptime
//! monitor and `/metrics` in the Prometheus text format.
//!
//! Both answer from what the worker already knows: each printer's last health reading (its
//! [`PrinterSlot`]), the counters in [`crate::stats`], and the database's answer to a `ping` this module
//! sends at most every `database_check_secs`. A request sends no database command, except that
//! `/metrics` counts the queue when its count is older than `queue_count_secs` (one count at a time,
//! however many scrapes), so an uptime monitor polling every second costs the database nothing.
//!
//! A hostile local client cannot stall the worker: the server answers GET and HEAD only and never reads
//! a request body, a request's head must arrive within [`HEADER_TIMEOUT`] and fit in [`MAX_HEAD_BYTES`],
//! each connection serves one request and is closed after [`CONNECTION_TIMEOUT`] whatever happens, and
//! at most [`MAX_CONNECTIONS`] are served at once (more are closed at once). It listens on a loopback
//! address unless `allow_remote` says otherwise.

use crate::config::ConfigError;
use crate::service::{PrinterSlot, Worker};
use crate::stats::{stats, FailureReason};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};
use printcore::PrinterStatus;
use serde::Deserialize;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a client may take to send a request's head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one connection may last, request and answer together.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// The most bytes of a request's head the server buffers (hyper's smallest buffer).
pub const MAX_HEAD_BYTES: usize = 8192;
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 16;
/// How long `/metrics` waits for the queue's count before answering with the last one.
pub const QUEUE_COUNT_TIMEOUT: Duration = Duration::from_secs(3);

/// `[http]` in the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// `host:port` to listen on, e.g. `127.0.0.1:9464`; absent: no endpoint.
    pub listen: Option<String>,
    /// Listen on an address other machines can reach (refused otherwise).
    pub allow_remote: bool,
    /// Seconds between pings of the database (its reachability and round-trip time).
    pub database_check_secs: f64,
    /// `/metrics` counts the queue at most this often (seconds), however often it is scraped.
    pub queue_count_secs: f64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { listen: None, allow_remote: false, database_check_secs: 10.0, queue_count_secs: 15.0 }
    }
}

impl HttpConfig {
    /// The address to listen on (`None`: the endpoint is off), or what is wrong with the settings.
    pub fn address(&self) -> Result<Option<SocketAddr>, ConfigError> {
        for (v, what) in
            [(self.database_check_secs, "database_check_secs"), (self.queue_count_secs, "queue_count_secs")]
        {
            if !(v.is_finite() && (1.0..=86_400.0).contains(&v)) {
                return Err(ConfigError(format!(
                    "[http] {what} must be a number of seconds from 1 to 86400 (got {v})"
                )));
            }
        }
        let Some(listen) = self.listen.as_deref().map(str::trim) else { return Ok(None) };
        let addr = parse_listen(listen).ok_or_else(|| {
            ConfigError(format!(
                "[http] listen = {listen:?} is not an address and port: write e.g. \"127.0.0.1:9464\" or \"[::1]:9464\""
            ))
        })?;
        if !addr.ip().is_loopback() && !self.allow_remote {
            return Err(ConfigError(format!(
                "[http] listen = {listen:?} can be reached from other machines; the endpoint shows the printers' \
                 state and the shop's order counts to anyone who can connect. Use \"127.0.0.1:{}\", or set \
                 [http] allow_remote = true behind a firewall that lets only your monitoring in",
                addr.port()
            )));
        }
        Ok(Some(addr))
    }
}

fn parse_listen(s: &str) -> Option<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some(a);
    }
    let port = s.strip_prefix("localhost:")?.parse::<u16>().ok()?;
    Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
}

/// The endpoint's view of the worker.
struct State {
    worker: Arc<Worker>,
    queue_every: Duration,
    /// The last count of the queue, and when it was taken.
    queue: Mutex<Option<(Instant, printcore::monitor::QueueDepth)>>,
    /// Held while a count is taken: one at a time.
    counting: tokio::sync::Mutex<()>,
}

/// Starts the endpoint when `[http] listen` is set: binds (an error names the address and what to do),
/// then serves, and pings the database every `database_check_secs`, until the process ends. Returns the
/// address it listens on.
pub async fn start(worker: Arc<Worker>, config: &HttpConfig) -> Result<Option<SocketAddr>, String> {
    let Some(addr) = config.address().map_err(|e| e.to_string())? else { return Ok(None) };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        format!("cannot listen on {addr} for [http] ({e}): another program uses the port, or choose another in [http] listen")
    })?;
    let local = listener.local_addr().map_err(|e| format!("cannot read the address listened on: {e}"))?;
    let state = Arc::new(State {
        worker: worker.clone(),
        queue_every: Duration::from_secs_f64(config.queue_count_secs),
        queue: Mutex::new(None),
        counting: tokio::sync::Mutex::new(()),
    });
    let ping_every = Duration::from_secs_f64(config.database_check_secs);
    tokio::spawn(ping_database(worker, ping_every));
    tokio::spawn(serve(listener, state));
    tracing::info!("health endpoint: http://{local}/healthz and http://{local}/metrics");
    Ok(Some(local))
}

/// Pings the database every `every` and records the answer in [`crate::stats`].
async fn ping_database(worker: Arc<Worker>, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let limit = every.max(Duration::from_secs(5));
    loop {
        ticker.tick().await;
        let answer = match tokio::time::timeout(limit, worker.core.ping()).await {
            Ok(Ok(rtt)) => Ok(rtt),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {limit:?}")),
        };
        crate::stats::database_answered(answer);
    }
}

async fn serve(listener: tokio::net::TcpListener, state: Arc<State>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors, say: wait a little rather than spin.
                tracing::debug!("health endpoint: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(&state, req).await) }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_HEAD_BYTES)
                .keep_alive(false);
            let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, conn).await;
            drop(permit);
        });
    }
}

async fn answer(state: &State, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n".into());
    }
    match req.uri().path() {
        "/healthz" => {
            let h = health(&state.worker);
            text(if h.ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, h.body)
        }
        "/metrics" => {
            let queue = state.queue_depth().await;
            let mut r = text(StatusCode::OK, metrics(&state.worker, queue));
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        _ => text(StatusCode::NOT_FOUND, "not found: the endpoint serves /healthz and /metrics\n".into()),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"));
    r.headers_mut().insert(hyper::header::CACHE_CONTROL, hyper::header::HeaderValue::from_static("no-store"));
    r
}

impl State {
    /// The queue's count and its age: counted again when older than `queue_every` and no other request is
    /// counting it; the last count otherwise (`None` before the first).
    async fn queue_depth(&self) -> Option<(Duration, printcore::monitor::QueueDepth)> {
        let last = || self.queue.lock().unwrap().map(|(at, d)| (at.elapsed(), d));
        let fresh = || last().is_some_and(|(age, _)| age < self.queue_every);
        if fresh() {
            return last();
        }
        // Another request is counting: answer with what is known.
        let Ok(_counting) = self.counting.try_lock() else { return last() };
        // Counted meanwhile by the request that held the lock.
        if fresh() {
            return last();
        }
        match tokio::time::timeout(QUEUE_COUNT_TIMEOUT, self.worker.core.queue_depth()).await {
            Ok(Ok(d)) => *self.queue.lock().unwrap() = Some((Instant::now(), d)),
            // The last count stays, its age growing (`printcore_queue_count_age_seconds`).
            Ok(Err(e)) => tracing::debug!("health endpoint: cannot count the queue: {e}"),
            Err(_) => tracing::debug!("health endpoint: the queue's count took over {QUEUE_COUNT_TIMEOUT:?}"),
        }
        last()
    }
}

/// What `/healthz` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub ok: bool,
    /// First line `ok` or `unhealthy: <reasons>`, then one line per printer and one for the database.
    pub body: String,
}

/// One printer's part in the health answer: `None` when it is fine (online, busy, or switched off in the
/// shop's monitor on purpose), else why not.
pub fn printer_problem(slot: &PrinterSlot) -> (Option<String>, String) {
    let id = &slot.identity.printer_id;
    let Some(r) = slot.reading() else {
        return (Some(format!("printer {id}: not read yet")), format!("printer {id}: not read yet"));
    };
    let says = r.message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default();
    let line = format!(
        "printer {id}: {}{says}{}",
        r.status.as_str(),
        if !r.active || !r.auto_print { "; auto-print switched off in the monitor" } else { "" }
    );
    let problem = match r.status {
        PrinterStatus::Online | PrinterStatus::Busy => None,
        PrinterStatus::Offline | PrinterStatus::Error => Some(format!("printer {id} is {}{says}", r.status.as_str())),
    };
    (problem, line)
}

/// `/healthz`: healthy while the database answered its last ping and every printer's last reading is
/// online or busy.
pub fn health(worker: &Worker) -> Health {
    let mut problems = Vec::new();
    let mut lines = Vec::new();
    for slot in &worker.slots {
        let (problem, line) = printer_problem(slot);
        problems.extend(problem);
        lines.push(line);
    }
    let db = stats().database();
    let db_line = match (&db.last_ok, &db.last_error) {
        _ if db.up() => {
            let (at, rtt) = db.last_ok.as_ref().expect("up means answered");
            format!("database: ok ({} ms round trip, {} s ago)", rtt.as_millis(), at.elapsed().as_secs())
        }
        (_, Some((at, e))) => {
            let since = db.last_ok.as_ref().map(|(ok, _)| format!("; last answer {} s ago", ok.elapsed().as_secs()));
            let line = format!(
                "database: unreachable ({e}, {} s ago{})",
                at.elapsed().as_secs(),
                since.unwrap_or_else(|| "; never answered since the worker started".into())
            );
            problems.push(format!("the database is unreachable ({e})"));
            line
        }
        _ => {
            problems.push("the database has not answered yet".into());
            "database: not checked yet".into()
        }
    };
    lines.push(db_line);
    if worker.claims_paused() {
        lines.push("claims: paused (the database does not take durable writes)".into());
    }
    let ok = problems.is_empty();
    let head = if ok { "ok".to_owned() } else { format!("unhealthy: {}", problems.join("; ")) };
    Health { ok, body: format!("{head}\n{}\n", lines.join("\n")) }
}

/// Label values in the text format: backslash, quote and newline escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// `/metrics` in the Prometheus text exposition format (version 0.0.4).
fn metrics(worker: &Worker, queue: Option<(Duration, printcore::monitor::QueueDepth)>) -> String {
    let s = stats();
    let mut o = String::new();
    let family = |o: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    family(&mut o, "printcore_worker_info", "gauge", "The worker's version.");
    let _ = writeln!(o, "printcore_worker_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
    family(&mut o, "printcore_worker_uptime_seconds", "gauge", "Seconds since the worker started.");
    let _ = writeln!(o, "printcore_worker_uptime_seconds {:.3}", s.uptime().as_secs_f64());

    let tries = worker.core.claim_stats();
    family(
        &mut o,
        "printcore_claim_tries_total",
        "counter",
        "Orders the worker's claims tried to take, by outcome: taken, or missed (found nothing, or another claimer took it first: the claim's wasted work).",
    );
    let _ = writeln!(o, "printcore_claim_tries_total{{outcome=\"taken\"}} {}", tries.taken);
    let _ =
        writeln!(o, "printcore_claim_tries_total{{outcome=\"missed\"}} {}", tries.tried.saturating_sub(tries.taken));
    family(
        &mut o,
        "printcore_orders_claimed_total",
        "counter",
        "Orders claimed for each printer since the worker started.",
    );
    for slot in &worker.slots {
        let id = label(&slot.identity.printer_id);
        let _ = writeln!(
            o,
            "printcore_orders_claimed_total{{printer=\"{id}\"}} {}",
            s.printer(&slot.identity.printer_id).claimed
        );
    }
    family(
        &mut o,
        "printcore_orders_printed_total",
        "counter",
        "Orders each printer reported printed since the worker started.",
    );
    for slot in &worker.slots {
        let id = label(&slot.identity.printer_id);
        let _ = writeln!(
            o,
            "printcore_orders_printed_total{{printer=\"{id}\"}} {}",
            s.printer(&slot.identity.printer_id).printed
        );
    }
    family(
        &mut o,
        "printcore_order_failures_total",
        "counter",
        "Orders the worker failed or handed back since it started (print attempts, the checks of the waiting orders, orders too large to print that a claim failed, recovery and the 30-minute stuck check: orders whose worker stopped before sending them, crash loops, jobs settled with the printer), by reason; outcome retry: back to the queue, failed: for a person.",
    );
    let failures = s.failures();
    for reason in FailureReason::ALL {
        for (transient, outcome) in [(true, "retry"), (false, "failed")] {
            let mut n = failures.get(&(reason, transient)).copied().unwrap_or(0);
            // Orders a claim failed where they waited, too large to take the claim's fields.
            if reason == FailureReason::Malformed && !transient {
                n += tries.refused;
            }
            let _ = writeln!(
                o,
                "printcore_order_failures_total{{reason=\"{}\",outcome=\"{outcome}\"}} {n}",
                reason.as_str()
            );
        }
    }
    family(&mut o, "printcore_print_jobs_active", "gauge", "Orders this worker is printing now.");
    let _ = writeln!(o, "printcore_print_jobs_active {}", worker.active_jobs());
    family(
        &mut o,
        "printcore_claims_paused",
        "gauge",
        "1 while claims are paused because the database does not take durable writes.",
    );
    let _ = writeln!(o, "printcore_claims_paused {}", u8::from(worker.claims_paused()));

    family(&mut o, "printcore_printer_status", "gauge", "1 for each printer's status at its last health reading.");
    for slot in &worker.slots {
        let id = label(&slot.identity.printer_id);
        let now = slot.reading().map(|r| r.status);
        for status in [PrinterStatus::Online, PrinterStatus::Busy, PrinterStatus::Offline, PrinterStatus::Error] {
            let _ = writeln!(
                o,
                "printcore_printer_status{{printer=\"{id}\",status=\"{}\"}} {}",
                status.as_str(),
                u8::from(now == Some(status))
            );
        }
        let _ =
            writeln!(o, "printcore_printer_status{{printer=\"{id}\",status=\"unknown\"}} {}", u8::from(now.is_none()));
    }
    family(&mut o, "printcore_printer_up", "gauge", "1 while a printer's last reading is online or busy.");
    for slot in &worker.slots {
        let up = slot.reading().is_some_and(|r| matches!(r.status, PrinterStatus::Online | PrinterStatus::Busy));
        let _ =
            writeln!(o, "printcore_printer_up{{printer=\"{}\"}} {}", label(&slot.identity.printer_id), u8::from(up));
    }
    family(
        &mut o,
        "printcore_printer_accepting_orders",
        "gauge",
        "1 while the worker may claim orders for a printer (online, active, auto-print on).",
    );
    for slot in &worker.slots {
        let yes = slot.may_claim();
        let _ = writeln!(
            o,
            "printcore_printer_accepting_orders{{printer=\"{}\"}} {}",
            label(&slot.identity.printer_id),
            u8::from(yes)
        );
    }

    if let Some((age, q)) = queue {
        family(&mut o, "printcore_queue_pending_orders", "gauge", "Paid orders waiting to print, in the whole shop.");
        let _ = writeln!(o, "printcore_queue_pending_orders {}", q.pending);
        family(&mut o, "printcore_queue_printing_orders", "gauge", "Orders being printed by any worker.");
        let _ = writeln!(o, "printcore_queue_printing_orders {}", q.printing);
        family(&mut o, "printcore_queue_count_age_seconds", "gauge", "Age of the queue counts above.");
        let _ = writeln!(o, "printcore_queue_count_age_seconds {:.3}", age.as_secs_f64());
    }

    let db = s.database();
    family(&mut o, "printcore_database_up", "gauge", "1 while the database answered the worker's last ping.");
    let _ = writeln!(o, "printcore_database_up {}", u8::from(db.up()));
    if let Some((_, rtt)) = db.last_ok {
        family(
            &mut o,
            "printcore_database_roundtrip_seconds",
            "gauge",
            "Round trip of the last answered ping of the database.",
        );
        let _ = writeln!(o, "printcore_database_roundtrip_seconds {:.6}", rtt.as_secs_f64());
    }
    family(&mut o, "printcore_database_pings_total", "counter", "Pings of the database sent by the health endpoint.");
    let _ = writeln!(o, "printcore_database_pings_total {}", db.pings);
    family(&mut o, "printcore_database_ping_failures_total", "counter", "Pings of the database that failed.");
    let _ = writeln!(o, "printcore_database_ping_failures_total {}", db.failures);
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listens_on_loopback_unless_remote_is_allowed() {
        let c = |listen: &str, allow_remote: bool| HttpConfig {
            listen: Some(listen.into()),
            allow_remote,
            ..HttpConfig::default()
        };
        assert_eq!(HttpConfig::default().address().unwrap(), None);
        assert_eq!(c("127.0.0.1:9464", false).address().unwrap(), Some("127.0.0.1:9464".parse().unwrap()));
        assert_eq!(c("[::1]:9464", false).address().unwrap(), Some("[::1]:9464".parse().unwrap()));
        assert_eq!(c("localhost:9464", false).address().unwrap(), Some("127.0.0.1:9464".parse().unwrap()));
        let e = c("0.0.0.0:9464", false).address().unwrap_err().to_string();
        assert!(e.contains("other machines") && e.contains("allow_remote"), "{e}");
        assert!(c("192.168.1.5:9464", false).address().is_err());
        assert_eq!(c("0.0.0.0:9464", true).address().unwrap(), Some("0.0.0.0:9464".parse().unwrap()));
        let e = c("printpc:9464", false).address().unwrap_err().to_string();
        assert!(e.contains("not an address and port"), "{e}");
        let mut bad = c("127.0.0.1:9464", false);
        bad.queue_count_secs = 0.0;
        assert!(bad.address().unwrap_err().to_string().contains("queue_count_secs"));
    }

    #[test]
    fn the_example_files_http_section_is_what_the_worker_reads() {
        let text = include_str!("../worker.example.toml");
        let start = text.find("# [http]\n").expect("worker.example.toml documents [http]");
        let settings: Vec<&str> = text[start..]
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| l.split_once(" = ").is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_lowercase() || c == '_')))
            .collect();
        assert_eq!(settings.len(), 4, "{settings:?}");
        let c: HttpConfig = toml::from_str(&settings.join("\n")).expect("the documented settings parse");
        let d = HttpConfig::default();
        assert_eq!(c.address().unwrap(), Some("127.0.0.1:9464".parse().unwrap()));
        assert_eq!(
            (c.allow_remote, c.database_check_secs, c.queue_count_secs),
            (d.allow_remote, d.database_check_secs, d.queue_count_secs)
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
