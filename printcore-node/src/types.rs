//! The plain objects that cross the boundary, with the website's field names (camelCase), dates as JS
//! `Date` and ids as strings. Conversions only: no rule lives here.

use chrono::{DateTime, Utc};
use napi_derive::napi;

pub(crate) fn date(d: Option<bson::DateTime>) -> Option<DateTime<Utc>> {
    d.map(|d| d.to_chrono())
}

/// Options of `PrintCore.connect`.
#[napi(object)]
#[derive(Default)]
pub struct ConnectOptions {
    /// The website's database name (default "printshop").
    pub db_name: Option<String>,
    /// Shown in the database's logs (default "printcore-node").
    pub app_name: Option<String>,
    /// The most connections the pool opens per server (the driver's default: 10).
    pub max_pool_size: Option<u32>,
    /// How long a call waits for a usable server before it fails with DATABASE (the driver's default:
    /// 30000).
    pub server_selection_timeout_ms: Option<f64>,
    /// How long opening one connection may take.
    pub connect_timeout_ms: Option<f64>,
    /// The default time limit of every call on this handle; past it the call rejects with TIMEOUT.
    pub timeout_ms: Option<f64>,
}

/// Options of `markPaid`.
#[napi(object)]
pub struct MarkPaidOptions {
    /// Higher prints first (default 0).
    pub priority: Option<i64>,
    /// Do not print before this time (scheduled printing). From then it waits in its place by priority
    /// (released at the worker's next claim, within 30 s in a busy queue). A time already past is none.
    pub not_before: Option<DateTime<Utc>>,
}

/// What `markPaid` did: "queued" (entered the print queue), "already_queued" (priority and schedule
/// updated) or "unchanged" (printing, printed, failed or cancelled: nothing changed).
#[napi(object)]
pub struct MarkPaidResult {
    pub outcome: String,
    pub print_status: Option<String>,
}

#[napi(object)]
pub struct PrintingOptions {
    pub page_size: Option<String>,
    pub color: Option<bool>,
    pub duplex: Option<bool>,
    pub copies: Option<i64>,
}

/// An order's print fields.
#[napi(object)]
pub struct PrintOrder {
    /// The document's `_id` (hex).
    pub id: String,
    pub order_id: String,
    pub payment_status: Option<String>,
    pub print_status: Option<String>,
    pub print_error: Option<String>,
    pub printer_id: Option<String>,
    pub printer_name: Option<String>,
    pub print_started_at: Option<DateTime<Utc>>,
    pub print_completed_at: Option<DateTime<Utc>>,
    pub print_job_id: Option<String>,
    pub print_attempt: Option<i64>,
    pub printing_by: Option<String>,
    #[napi(js_name = "fileURL")]
    pub file_url: Option<String>,
    #[napi(js_name = "fileURLs")]
    pub file_urls: Option<Vec<String>>,
    pub printing_options: Option<PrintingOptions>,
    pub created_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    pub print_lease_until: Option<DateTime<Utc>>,
    pub print_submitted_at: Option<DateTime<Utc>>,
    pub printer_job_ref: Option<String>,
    pub print_priority: Option<i64>,
    pub print_not_before: Option<DateTime<Utc>>,
    /// The sha256 of the order's file (lower-case hex; of several files, theirs joined with commas). The
    /// worker records it; a website that stores it when it prices the order has the worker refuse a
    /// different file (the file behind a URL can change after payment).
    pub file_sha256: Option<String>,
    pub file_pages: Option<i64>,
    /// The pages of all the order's files, as the website counted them when it priced the order
    /// (optional): the worker fails the order when the files have another count.
    pub expected_pages: Option<i64>,
    /// The order was handed to a printer in its current attempt: it may be on paper.
    pub may_have_printed: bool,
    /// Why its job is still waiting at the printer (held, stopped for paper or a jam...), while it is.
    pub print_wait_reason: Option<String>,
    /// Print fields whose stored value could not be used, e.g. `printingOptions.color is the string "yes"
    /// (expected true or false)`; empty for a well-formed order.
    pub problems: Vec<String>,
}

impl From<printcore::Order> for PrintOrder {
    fn from(o: printcore::Order) -> Self {
        let may_have_printed = o.was_sent() || o.print_status == Some(printcore::PrintStatus::Printed);
        let problems = o.problems.iter().map(ToString::to_string).collect();
        PrintOrder {
            id: o.id.to_hex(),
            order_id: o.order_id,
            payment_status: o.payment_status,
            print_status: o.print_status.map(|s| s.as_str().to_owned()),
            print_error: o.print_error,
            printer_id: o.printer_id,
            printer_name: o.printer_name,
            print_started_at: date(o.print_started_at),
            print_completed_at: date(o.print_completed_at),
            print_job_id: o.print_job_id,
            print_attempt: o.print_attempt,
            printing_by: o.printing_by,
            file_url: o.file_url,
            file_urls: o.file_urls,
            printing_options: o.printing_options.map(|p| PrintingOptions {
                page_size: p.page_size,
                color: p.color,
                duplex: p.duplex,
                copies: p.copies,
            }),
            created_at: date(o.created_at),
            paid_at: date(o.paid_at),
            print_lease_until: date(o.print_lease_until),
            print_submitted_at: date(o.print_submitted_at),
            printer_job_ref: o.printer_job_ref,
            print_priority: o.print_priority,
            print_not_before: date(o.print_not_before),
            file_sha256: o.file_sha256,
            file_pages: o.file_pages,
            expected_pages: o.expected_pages,
            may_have_printed,
            print_wait_reason: o.print_wait_reason,
            problems,
        }
    }
}

#[napi(object)]
pub struct PrinterCapabilities {
    pub page_sizes: Vec<String>,
    pub color: bool,
    pub duplex: bool,
    pub max_copies: i64,
}

/// A printer with its health.
#[napi(object)]
pub struct Printer {
    pub printer_id: String,
    pub name: String,
    pub printer_name: String,
    /// "online", "offline", "busy" or "error".
    pub status: Option<String>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub last_successful_print_at: Option<DateTime<Utc>>,
    pub queue_length: Option<i64>,
    pub error_message: Option<String>,
    pub driver_name: Option<String>,
    pub system_name: Option<String>,
    pub connection_type: Option<String>,
    pub is_active: Option<bool>,
    pub auto_print_enabled: Option<bool>,
    pub capabilities: Option<PrinterCapabilities>,
    pub worker_id: Option<String>,
    /// Since when it has not been online (unset while it is).
    pub offline_since: Option<DateTime<Utc>>,
    /// What the printer itself says at the last health check, as it says it: IPP
    /// printer-state-reasons (e.g. "media-empty-error", "media-jam", "toner-low-report") or Windows
    /// spooler status names (e.g. "PaperOut", "Offline"); never IPP's "none". Empty when it says nothing.
    pub state_reasons: Option<Vec<String>>,
}

impl From<printcore::Printer> for Printer {
    fn from(p: printcore::Printer) -> Self {
        Printer {
            printer_id: p.printer_id,
            name: p.name,
            printer_name: p.printer_name,
            status: p.status.map(|s| s.as_str().to_owned()),
            last_seen_at: date(p.last_seen_at),
            last_successful_print_at: date(p.last_successful_print_at),
            queue_length: p.queue_length,
            error_message: p.error_message,
            driver_name: p.driver_name,
            system_name: p.system_name,
            connection_type: p.connection_type,
            is_active: p.is_active,
            auto_print_enabled: p.auto_print_enabled,
            capabilities: p.capabilities.map(|c| PrinterCapabilities {
                page_sizes: c.page_sizes,
                color: c.color,
                duplex: c.duplex,
                max_copies: c.max_copies,
            }),
            worker_id: p.worker_id,
            offline_since: date(p.offline_since),
            state_reasons: Some(p.state_reasons),
        }
    }
}

/// A metrics sample of one worker, or (with `MetricsQuery.bucketMinutes`) the shop's metrics over one
/// time bucket.
#[napi(object)]
pub struct Metrics {
    /// When the sample was taken (it covers the worker's metrics interval before it, 5 minutes by
    /// default), or when the bucket starts.
    pub timestamp: DateTime<Utc>,
    /// Orders printed per hour. A bucket: each worker's mean over its samples, added up.
    pub prints_per_hour: f64,
    /// Orders failed, retried or rejected per hour (a bucket: as `printsPerHour`).
    pub failures_per_hour: f64,
    /// Seconds from payment (or creation) to the start of printing, averaged (a bucket: weighted by
    /// prints; 0 when nothing printed).
    pub average_print_start_delay: f64,
    /// Seconds the worker's printers were offline in the sample's interval (a bucket: within the bucket,
    /// every printer's added up).
    pub printer_offline_duration: f64,
    /// The worker that took the sample; "*" for a bucket (every worker's samples combined).
    pub worker_id: String,
    /// A bucket: how many samples it combines.
    pub samples: Option<u32>,
    /// A bucket: how many workers wrote them.
    pub workers: Option<u32>,
}

impl From<printcore::model::Metrics> for Metrics {
    fn from(m: printcore::model::Metrics) -> Self {
        Metrics {
            timestamp: m.timestamp.to_chrono(),
            prints_per_hour: m.prints_per_hour,
            failures_per_hour: m.failures_per_hour,
            average_print_start_delay: m.average_print_start_delay,
            printer_offline_duration: m.printer_offline_duration,
            worker_id: m.worker_id,
            samples: None,
            workers: None,
        }
    }
}

impl From<printcore::monitor::MetricsBucket> for Metrics {
    fn from(b: printcore::monitor::MetricsBucket) -> Self {
        Metrics {
            timestamp: b.start.to_chrono(),
            prints_per_hour: b.prints_per_hour,
            failures_per_hour: b.failures_per_hour,
            average_print_start_delay: b.average_print_start_delay,
            printer_offline_duration: b.printer_offline_duration,
            worker_id: "*".into(),
            samples: Some(b.samples.min(u32::MAX as u64) as u32),
            workers: Some(b.workers.min(u32::MAX as u64) as u32),
        }
    }
}

#[napi(object)]
pub struct SnapshotCounts {
    pub pending: i64,
    pub printing: i64,
    pub printed_last24h: i64,
    pub failed: i64,
}

/// The admin monitor's data.
#[napi(object)]
pub struct Snapshot {
    /// Waiting, in the order they will print.
    pub pending: Vec<PrintOrder>,
    pub printing: Vec<PrintOrder>,
    /// Printed in the last 24 hours, newest first.
    pub printed: Vec<PrintOrder>,
    pub failed: Vec<PrintOrder>,
    pub printers: Vec<Printer>,
    pub metrics: Option<Metrics>,
    /// Totals (the lists stop at 500 each).
    pub counts: SnapshotCounts,
    pub taken_at: DateTime<Utc>,
}

impl From<printcore::Snapshot> for Snapshot {
    fn from(s: printcore::Snapshot) -> Self {
        let orders = |v: Vec<printcore::Order>| v.into_iter().map(PrintOrder::from).collect();
        Snapshot {
            pending: orders(s.pending),
            printing: orders(s.printing),
            printed: orders(s.printed),
            failed: orders(s.failed),
            printers: s.printers.into_iter().map(Printer::from).collect(),
            metrics: s.metrics.map(Metrics::from),
            counts: SnapshotCounts {
                pending: s.counts.pending as i64,
                printing: s.counts.printing as i64,
                printed_last24h: s.counts.printed_last_24h as i64,
                failed: s.counts.failed as i64,
            },
            taken_at: s.taken_at.to_chrono(),
        }
    }
}

/// Who takes an admin action, and why. All three are required.
#[napi(object)]
pub struct AdminInput {
    pub admin_id: Option<String>,
    pub admin_email: Option<String>,
    pub reason: Option<String>,
}

/// What an admin action did to one order.
#[napi(object)]
pub struct AdminResult {
    pub order_id: String,
    /// "reprint", "cancel", "reset_state" or "force_printed".
    pub action: String,
    pub previous_status: Option<String>,
    /// Where the order ended. For a cancel or reset of an order whose job reached a printer it follows
    /// what the printer said: "printed" when the printer had already printed the job, "failed" ("may have
    /// printed": reprint it once the printer is checked) when the printer could not confirm or was not asked.
    pub new_status: String,
    /// The order had been sent to a printer (or printed): check the printer before printing it again.
    pub may_have_printed: bool,
    pub print_job_id: Option<String>,
    /// For a cancel or reset of an order whose job was at a printer: what the printer said, asked before
    /// the order changed state: "confirmed", "not_at_printer", "already_printed", "not_confirmed" or
    /// "no_worker" (no worker drives the printer now: it was not asked).
    pub printer_cancel: Option<String>,
    /// The same, as a sentence for the admin.
    pub printer_cancel_message: Option<String>,
}

impl From<printcore::AdminOutcome> for AdminResult {
    fn from(o: printcore::AdminOutcome) -> Self {
        AdminResult {
            order_id: o.order_id,
            action: o.action.as_str().to_owned(),
            previous_status: o.previous_status.map(|s| s.as_str().to_owned()),
            new_status: o.new_status.as_str().to_owned(),
            may_have_printed: o.may_have_printed,
            print_job_id: o.print_job_id,
            printer_cancel: o.printer_cancel.as_ref().map(|p| p.as_str().to_owned()),
            printer_cancel_message: o.printer_cancel.map(|p| p.to_string()),
        }
    }
}

#[napi(object)]
pub struct ErrorInfo {
    pub code: String,
    pub message: String,
    pub transient: bool,
}

/// One order of a batch admin action.
#[napi(object)]
pub struct BatchItem {
    pub order_id: String,
    pub ok: bool,
    pub result: Option<AdminResult>,
    pub error: Option<ErrorInfo>,
}

#[napi(object)]
#[derive(Default)]
pub struct LogQuery {
    pub order_id: Option<String>,
    pub action: Option<String>,
    /// The previous page's `next`: entries older than its last one.
    pub before: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// A `print_logs` entry.
#[napi(object)]
pub struct PrintLogEntry {
    pub id: String,
    pub action: String,
    pub order_id: String,
    pub print_job_id: Option<String>,
    pub admin_id: Option<String>,
    pub admin_email: Option<String>,
    pub previous_status: Option<String>,
    pub new_status: Option<String>,
    pub reason: Option<String>,
    pub timestamp: DateTime<Utc>,
    /// The entry's details, dates as `Date`.
    #[napi(ts_type = "Record<string, unknown>")]
    pub metadata: Option<crate::value::JsValue>,
}

impl From<printcore::PrintLog> for PrintLogEntry {
    fn from(l: printcore::PrintLog) -> Self {
        PrintLogEntry {
            id: l.id.to_hex(),
            action: l.action,
            order_id: l.order_id,
            print_job_id: l.print_job_id,
            admin_id: l.admin_id,
            admin_email: l.admin_email,
            previous_status: l.previous_status,
            new_status: l.new_status,
            reason: l.reason,
            timestamp: l.timestamp.to_chrono(),
            metadata: l.metadata.map(|m| crate::value::JsValue(bson::Bson::Document(m))),
        }
    }
}

/// Which metrics `metrics` reads.
#[napi(object)]
pub struct MetricsQuery {
    /// From this time on (default: the last 24 hours).
    pub since: Option<DateTime<Utc>>,
    /// Combine the samples of every worker into buckets of this many minutes (1 to 44640), computed by
    /// the database; buckets are aligned to the Unix epoch (60: whole hours) and a bucket without samples
    /// is absent. Absent: every worker's samples as taken. For a chart, 24 h at 5 and 7 days at 30 stay
    /// under 500 points.
    pub bucket_minutes: Option<f64>,
    /// At most this many, newest first (default 1000, at most 10000).
    pub limit: Option<i64>,
}

/// What the migration changed.
#[napi(object)]
pub struct MigrationResult {
    /// Nothing was written: the counts say what a real run would do.
    pub dry_run: bool,
    pub indexes: Vec<String>,
    /// Indexes that did not exist before (a dry run: that would be created).
    pub indexes_created: Vec<String>,
    /// Indexes dropped and created again with other options (the old sparse printJobId index).
    pub indexes_replaced: Vec<String>,
    /// `printStatus` / `paymentStatus` values rewritten to printcore's spelling, e.g.
    /// `printStatus: the string "Pending" set to "pending" on 3 order(s)`.
    pub normalised: Vec<String>,
    /// Values the migration cannot map, with what to do; nothing was written for them.
    pub unresolved: Vec<String>,
    /// The whole report as lines for a person.
    pub summary: Vec<String>,
    pub orders_marked_pending: i64,
    pub orders_marked_printed: i64,
    pub printers_registered: i64,
    pub printers_updated: i64,
}

/// Options of `migrate`.
#[napi(object)]
pub struct MigrateOptions {
    /// Only report what the migration would change; write nothing.
    pub dry_run: Option<bool>,
}

/// A live change for the monitor.
#[napi(object)]
pub struct MonitorEvent {
    /// "order" or "printer".
    pub kind: String,
    /// The order's orderId or the printer's printer_id.
    pub id: String,
    /// "insert", "update", "delete", "replace" (change streams) or "change", "gone" (polling).
    pub change: String,
    /// "change_stream" or "poll".
    pub source: String,
}

#[napi(object)]
pub struct WatchOptions {
    /// Milliseconds between polls where change streams are not available (default 2500).
    pub poll_ms: Option<u32>,
}

/// How one call runs.
#[napi(object)]
pub struct CallOptions {
    /// This call's time limit in milliseconds (default: the connection's `timeoutMs`, else none).
    pub timeout_ms: Option<f64>,
}

/// Which orders `orders` reads. Every filter is optional and they combine. Newest `createdAt` first
/// (ties by the document's `_id`); orders without a `createdAt` date come after every dated one, and only
/// when neither `from` nor `to` is given.
#[napi(object)]
#[derive(Default)]
pub struct OrdersQuery {
    /// Only this print status: "pending", "printing", "printed", "failed" or "cancelled". Absent: every
    /// status.
    pub status: Option<String>,
    /// The website's orderId: an exact match, or, when at least 3 characters long, every orderId that
    /// starts with it (case-sensitive; served by the orderId index). Blank: no filter.
    pub order_id: Option<String>,
    /// Only orders of this printer (its `printerId`).
    pub printer_id: Option<String>,
    /// Orders created at or after this time (`createdAt`).
    pub from: Option<DateTime<Utc>>,
    /// Orders created before this time (`createdAt`, exclusive).
    pub to: Option<DateTime<Utc>>,
    /// The previous page's `next`: the orders after its last one.
    pub before: Option<String>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// A page of orders, newest first.
#[napi(object)]
pub struct OrderPage {
    pub items: Vec<PrintOrder>,
    /// Pass as `before` for the next page; null on the last one.
    pub next: Option<String>,
}

/// A page of `print_logs` entries, newest first.
#[napi(object)]
pub struct LogPage {
    pub items: Vec<PrintLogEntry>,
    /// Pass as `before` for the next page; null on the last one.
    pub next: Option<String>,
}

/// One item of a live feed: the feed is open (first, once), an event, an error (then the end follows
/// for a broken change stream), or the end.
#[napi(object)]
pub struct WatchItem {
    /// The feed is open: every change from now on is reported; read the snapshot now (a change made
    /// before may not have been).
    pub open: bool,
    pub event: Option<MonitorEvent>,
    pub error: Option<ErrorInfo>,
    pub end: bool,
}

/// Options of `orderFile`: the file policy the website applies (the worker's rules).
#[napi(object)]
pub struct OrderFileOptions {
    /// Hosts files may come from; each entry allows itself and its subdomains (the worker's
    /// `allowed_hosts`, e.g. ["res.cloudinary.com"]), on port 443 only unless the entry names a port
    /// (`files.shop.example:8443`). Required and not empty; an entry that is not a host name (a bare `com`,
    /// a wildcard, a URL) rejects with INVALID_ARGUMENT.
    pub allowed_hosts: Vec<String>,
    /// Which of the order's files (`fileURLs`, else `fileURL`), from 0 (default 0).
    pub index: Option<u32>,
    /// The largest file accepted, in megabytes (default 100); a bigger one rejects with FILE_INVALID.
    pub max_mb: Option<f64>,
    /// Allow plain http:// URLs (tests; production files are https). Default false.
    pub allow_http: Option<bool>,
    /// Allow hosts on loopback addresses (tests). Default false.
    pub allow_loopback: Option<bool>,
    /// Allow private network addresses (a file server on the shop's network). Link-local addresses stay
    /// refused. Default false.
    pub allow_private: Option<bool>,
}

/// One file of an order, downloaded by printcore for the admin's preview.
#[napi(object)]
pub struct OrderFile {
    /// The file's bytes.
    pub bytes: napi::bindgen_prelude::Buffer,
    /// "application/pdf" when the bytes are a PDF, else "application/octet-stream" (sniffed; the file
    /// server's own Content-Type is never passed on).
    pub content_type: String,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    /// The last segment of the URL's path, decoded (no query string, no slashes).
    pub file_name: Option<String>,
    /// Which of the order's files this is (from 0).
    pub index: u32,
    /// How many files the order has.
    pub count: u32,
}

impl From<printcore::files::OrderFile> for OrderFile {
    fn from(f: printcore::files::OrderFile) -> Self {
        OrderFile {
            bytes: f.bytes.into(),
            content_type: f.content_type,
            sha256: f.sha256,
            file_name: f.file_name,
            index: f.index as u32,
            count: f.count as u32,
        }
    }
}
