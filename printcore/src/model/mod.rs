//! The documents printcore reads and writes, with the exact field names of the website's collections.
//!
//! `orders` belongs to the website: it carries many fields printcore does not know. These structs are read
//! models only. printcore never writes an order back from a struct (no replacement); every write is a
//! `$set`/`$unset`/`$inc`/`$push` of print fields, so unknown fields survive every operation. The full
//! document is kept in [`Order::extra`] for callers that want to show it.
//!
//! A stored order is read with [`Order::from_document`], which never fails on a wrongly typed print field:
//! it reports it in [`Order::problems`]. [`state`] is the state machine's table.
//!
//! ```
//! use printcore::{Order, PrintStatus};
//!
//! let order = Order::from_document(bson::doc! {
//!     "_id": bson::oid::ObjectId::new(),
//!     "orderId": "ORD-7",
//!     "printStatus": "pending",
//!     "fileURLs": ["https://res.cloudinary.com/shop/a.pdf", "https://res.cloudinary.com/shop/b.pdf"],
//!     "printingOptions": { "copies": "2" },
//!     "customer": { "name": "kept as it is" },
//! })
//! .unwrap();
//! assert_eq!(order.print_status, Some(PrintStatus::Pending));
//! assert_eq!(order.files().len(), 2);
//! assert_eq!(order.options().copies, Some(2)); // read unambiguously, not failed
//! assert!(order.extra.contains_key("customer")); // the website's own fields survive
//! ```

pub mod state;

pub use state::Action;

use bson::{oid::ObjectId, DateTime, Document};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Collection names, as the website has them.
pub mod collections {
    /// The website's orders. printcore shares them and writes only its print fields.
    pub const ORDERS: &str = "orders";
    /// One document per printer, kept by the worker's health loop ([`crate::printers`]).
    pub const PRINTERS: &str = "printers";
    /// The audit log: one entry per state transition ([`crate::audit`]).
    pub const PRINT_LOGS: &str = "print_logs";
    /// The workers' samples, one every few minutes ([`crate::monitor::metrics`]).
    pub const METRICS: &str = "metrics";
}

/// The order field holding an admin's request to cancel its job at the printer (`printCancelRequest`).
/// Its rule is [`crate::admin::cancel`]'s; it is named here because the queue's fence, recovery and the
/// worker's change stream all test for it, and they sit below the admin actions.
pub const CANCEL_REQUEST_FIELD: &str = "printCancelRequest";

/// Where an order is in the print state machine (`printStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrintStatus {
    /// Paid and waiting for a claim (not before `printNotBefore` when it has one).
    Pending,
    /// Claimed by a worker (`printingBy`, `printJobId`) under a lease: downloading, being sent, or at the
    /// printer.
    Printing,
    /// The printer reported the job completed. Only an admin's reprint takes it back to the queue.
    Printed,
    /// Failed for good (a bad file, a capability the printer lacks, attempts used up, or "may have
    /// printed"): a person decides.
    Failed,
    /// Cancelled by an admin. Only a reprint takes it back to the queue.
    Cancelled,
}

impl PrintStatus {
    /// Every state, in the order an order goes through them.
    pub const ALL: [PrintStatus; 5] = [
        PrintStatus::Pending,
        PrintStatus::Printing,
        PrintStatus::Printed,
        PrintStatus::Failed,
        PrintStatus::Cancelled,
    ];

    /// The value stored in `printStatus`.
    pub fn as_str(self) -> &'static str {
        match self {
            PrintStatus::Pending => "pending",
            PrintStatus::Printing => "printing",
            PrintStatus::Printed => "printed",
            PrintStatus::Failed => "failed",
            PrintStatus::Cancelled => "cancelled",
        }
    }

    /// The state stored as `s`; `None` for a spelling printcore does not know (a malformed order,
    /// failed by [`PrintCore::fail_malformed`](crate::PrintCore::fail_malformed)).
    ///
    /// ```
    /// use printcore::PrintStatus;
    /// assert_eq!(PrintStatus::parse("printing"), Some(PrintStatus::Printing));
    /// assert_eq!(PrintStatus::parse("Printed"), None);
    /// ```
    pub fn parse(s: &str) -> Option<PrintStatus> {
        PrintStatus::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl fmt::Display for PrintStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<PrintStatus> for bson::Bson {
    fn from(s: PrintStatus) -> Self {
        bson::Bson::String(s.as_str().to_owned())
    }
}

/// `printingOptions` as the website stores them. Every field is optional: an order without them prints
/// on the printer's defaults (one copy, simplex, mono unless asked, the printer's default size).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrintingOptions {
    /// `pageSize`: a named size such as `A4`, `A3` or `Letter` (any case); none: the printer's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<String>,
    /// `color`: print in colour; none or `false`: mono.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<bool>,
    /// `duplex`: print on both sides; none or `false`: one side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplex: Option<bool>,
    /// `copies`: how many copies; none: one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copies: Option<i64>,
}

/// An order as printcore sees it. Field names are the website's (camelCase).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// The document's `_id`; every write filters on it.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// The website's order number (`orderId`), which every public call takes.
    #[serde(default)]
    pub order_id: String,
    /// `paymentStatus`: `pending`, `completed` or `failed`. Only `completed` orders are claimed.
    #[serde(default)]
    pub payment_status: Option<String>,
    /// `printStatus`; `None` while the order is not in the print queue (not paid yet).
    #[serde(default)]
    pub print_status: Option<PrintStatus>,
    /// `printError`: the last attempt's error, shown to the admin (a retry's reason or the failure).
    #[serde(default)]
    pub print_error: Option<String>,
    /// `printerId`: the printer of the current or last attempt.
    #[serde(default)]
    pub printer_id: Option<String>,
    /// `printerName`: that printer's name, as shown.
    #[serde(default)]
    pub printer_name: Option<String>,
    /// `printStartedAt`: when the current attempt was claimed (server time).
    #[serde(default)]
    pub print_started_at: Option<DateTime>,
    /// `printCompletedAt`: when the printer reported the job completed.
    #[serde(default)]
    pub print_completed_at: Option<DateTime>,
    /// `printJobId`: the current attempt's UUID, fresh at each claim. It fences the owner's writes and is
    /// the job's name at the printer, which recovery looks the job up by.
    #[serde(default)]
    pub print_job_id: Option<String>,
    /// `printAttempt`: attempts so far, counted at the claim (so a crash counts too).
    #[serde(default)]
    pub print_attempt: Option<i64>,
    /// `printingBy`: the [`WorkerId`](crate::WorkerId) that owns the order while it is `printing`.
    #[serde(default)]
    pub printing_by: Option<String>,
    /// `fileURL`: the order's file (one-file orders).
    #[serde(default, rename = "fileURL")]
    pub file_url: Option<String>,
    /// `fileURLs`: the order's files, in print order (orders of several files); wins over `fileURL`.
    #[serde(default, rename = "fileURLs")]
    pub file_urls: Option<Vec<String>>,
    /// `printingOptions`; see [`Order::options`] for the defaults.
    #[serde(default)]
    pub printing_options: Option<PrintingOptions>,
    /// `createdAt`: the claim takes older orders first within a priority.
    #[serde(default)]
    pub created_at: Option<DateTime>,
    /// `printLeaseUntil`: until when the owner holds the order (server time); after it, any worker may
    /// recover it. Renewed by [`PrintJob::renew_lease`](crate::PrintJob::renew_lease).
    #[serde(default)]
    pub print_lease_until: Option<DateTime>,
    /// `printSubmittedAt`: when the printer acknowledged the job (the order may be on paper from then).
    #[serde(default)]
    pub print_submitted_at: Option<DateTime>,
    /// `printerJobRef`: the printer's or spooler's id for the job, stored as soon as it is known.
    #[serde(default)]
    pub printer_job_ref: Option<String>,
    /// `printPriority`: higher prints first; none is 0.
    #[serde(default)]
    pub print_priority: Option<i64>,
    /// `printNotBefore`: not claimed before this time (a schedule, or a retry's backoff).
    #[serde(default)]
    pub print_not_before: Option<DateTime>,
    /// `fileSha256`: the sha256 of the file printed (several files: theirs joined with commas).
    #[serde(default)]
    pub file_sha256: Option<String>,
    /// `filePages`: the pages of all the order's files, as validated.
    #[serde(default)]
    pub file_pages: Option<i64>,
    /// The pages of all the order's files together, as the website counted them when it priced the order
    /// (optional): the worker fails the order when the files it downloads have another count.
    #[serde(default)]
    pub expected_pages: Option<i64>,
    /// `paidAt`: when the payment was recorded ([`PrintCore::mark_paid`](crate::PrintCore::mark_paid)).
    #[serde(default)]
    pub paid_at: Option<DateTime>,
    /// Why a job at the printer is still waiting (held, stopped for paper or a jam...), while it is.
    #[serde(default)]
    pub print_wait_reason: Option<String>,
    /// Fields whose stored value could not be used (see [`Order::from_document`]); not stored.
    #[serde(skip)]
    pub problems: Vec<FieldProblem>,
    /// Every other field of the document, untouched (the website's own fields).
    #[serde(flatten)]
    pub extra: Document,
}

impl Order {
    /// The files to print: `fileURLs` when the order has several, else `fileURL`.
    pub fn files(&self) -> Vec<&str> {
        match &self.file_urls {
            Some(urls) if !urls.is_empty() => urls.iter().map(String::as_str).collect(),
            _ => self.file_url.as_deref().filter(|u| !u.is_empty()).into_iter().collect(),
        }
    }

    /// `printingOptions`, or the defaults when the order has none.
    pub fn options(&self) -> PrintingOptions {
        self.printing_options.clone().unwrap_or_default()
    }

    /// Whether the order was handed to a printer in its current attempt (it may be on paper).
    pub fn was_sent(&self) -> bool {
        self.print_submitted_at.is_some() || self.printer_job_ref.is_some()
    }
}

/// Printer capabilities, as stored in `printers.capabilities` and used by the claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct PrinterCapabilities {
    /// Named page sizes the printer takes, e.g. `["A4", "Letter"]`.
    pub page_sizes: Vec<String>,
    /// Whether it prints in colour; orders asking for colour go to another printer.
    pub color: bool,
    /// Whether it prints on both sides.
    pub duplex: bool,
    /// The most copies it takes in one job.
    pub max_copies: i64,
}

impl Default for PrinterCapabilities {
    fn default() -> Self {
        PrinterCapabilities { page_sizes: vec!["A4".into()], color: false, duplex: false, max_copies: 99 }
    }
}

/// Printer health as stored in `printers.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrinterStatus {
    /// Ready to print.
    Online,
    /// Not reachable, switched off, or not seen by its worker for a while. No orders are claimed for it.
    Offline,
    /// Printing or otherwise busy; it still takes orders.
    Busy,
    /// Stopped for something a person must fix (paper, a jam, a cover open...): see
    /// [`Printer::error_message`] and [`Printer::state_reasons`].
    Error,
}

impl PrinterStatus {
    /// The value stored in `printers.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            PrinterStatus::Online => "online",
            PrinterStatus::Offline => "offline",
            PrinterStatus::Busy => "busy",
            PrinterStatus::Error => "error",
        }
    }
}

/// A `printers` document (snake_case fields as the seed has them, except the website's `connectionType`,
/// `isActive`, `autoPrintEnabled` and `workerId`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Printer {
    /// The document's `_id` (none for a printer not stored yet).
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none", default)]
    pub id: Option<ObjectId>,
    /// A person's name for the printer, as shown on the monitor.
    #[serde(default)]
    pub name: String,
    /// The printer's unique id (`printer_id`), which claims and orders' `printerId` name.
    pub printer_id: String,
    /// The printer's system name (the CUPS queue or Windows printer name).
    #[serde(default)]
    pub printer_name: String,
    /// Its health at the last check; `None` before the first.
    #[serde(default)]
    pub status: Option<PrinterStatus>,
    /// When its worker last checked it.
    #[serde(default)]
    pub last_seen_at: Option<DateTime>,
    /// When it last completed a job.
    #[serde(default)]
    pub last_successful_print_at: Option<DateTime>,
    /// Jobs waiting in the printer's or spooler's own queue at the last check.
    #[serde(default)]
    pub queue_length: Option<i64>,
    /// What the printer or its worker said is wrong, as shown to a person.
    #[serde(default)]
    pub error_message: Option<String>,
    /// The driver, as the system reports it.
    #[serde(default)]
    pub driver_name: Option<String>,
    /// `Windows` or `Linux`.
    #[serde(default)]
    pub system_name: Option<String>,
    /// `usb`, `network` or `wireless` (the website's `connectionType`).
    #[serde(default, rename = "connectionType")]
    pub connection_type: Option<String>,
    /// `isActive`: an admin's switch; an inactive printer takes no orders.
    #[serde(default, rename = "isActive")]
    pub is_active: Option<bool>,
    /// `autoPrintEnabled`: an admin's switch; without it the printer takes no orders by itself.
    #[serde(default, rename = "autoPrintEnabled")]
    pub auto_print_enabled: Option<bool>,
    /// What it can print ([`PrinterCapabilities`]); `None` until its worker reported them.
    #[serde(default)]
    pub capabilities: Option<PrinterCapabilities>,
    /// `workerId`: the worker that drives it.
    #[serde(default, rename = "workerId")]
    pub worker_id: Option<String>,
    /// Since when the printer has not been online (unset while it is).
    #[serde(default)]
    pub offline_since: Option<DateTime>,
    /// When its worker last wrote its health (whether or not the printer answered): a worker that stopped
    /// writing it is gone.
    #[serde(default)]
    pub health_checked_at: Option<DateTime>,
    /// The printer's own reason keywords at the last health check, as it gave them (IPP
    /// `printer-state-reasons` such as `media-empty-error`, `media-jam`; Windows spooler status names
    /// such as `PaperOut`), without IPP's `none`. Empty while it gives none.
    #[serde(default, deserialize_with = "reasons")]
    pub state_reasons: Vec<String>,
}

/// `state_reasons` as stored: an array of strings; anything else (null, another type) reads as none.
fn reasons<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    let v = Option::<bson::Bson>::deserialize(d)?;
    Ok(match v {
        Some(bson::Bson::Array(a)) => a.into_iter().filter_map(|b| b.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    })
}

/// A `print_logs` entry: one per state transition, whoever made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrintLog {
    /// The entry's `_id`, chosen when the transition was written (so a second copy is refused).
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// What happened: an [`Action`]'s name (`claimed`, `printed`, `reprint`...).
    pub action: String,
    /// The order's `orderId`.
    pub order_id: String,
    /// The attempt's `printJobId`, when the transition belongs to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub print_job_id: Option<String>,
    /// The admin who acted (admin actions only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_id: Option<String>,
    /// That admin's e-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_email: Option<String>,
    /// `printStatus` before the transition (none: the order was not in the queue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_status: Option<String>,
    /// `printStatus` after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_status: Option<String>,
    /// Why: the admin's reason, or the worker's (an error, "lease expired"...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it happened (the database server's time).
    pub timestamp: DateTime,
    /// More about it (the printer, its job reference, "may have printed", a cancel's outcome...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Document>,
}

/// A `metrics` document written by a worker every few minutes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// The document's `_id` (none before it is stored).
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none", default)]
    pub id: Option<ObjectId>,
    /// The end of the period the sample covers.
    pub timestamp: DateTime,
    /// Orders printed per hour over the period.
    pub prints_per_hour: f64,
    /// Orders failed per hour over the period.
    pub failures_per_hour: f64,
    /// Seconds from payment (or creation) to the start of printing, averaged.
    pub average_print_start_delay: f64,
    /// Seconds the worker's printers were offline in the period.
    pub printer_offline_duration: f64,
    /// The worker that wrote the sample.
    #[serde(rename = "workerId")]
    pub worker_id: String,
    /// When the sample was first written.
    #[serde(rename = "createdAt")]
    pub created_at: DateTime,
    /// When it was last written.
    #[serde(rename = "updatedAt")]
    pub updated_at: DateTime,
}

/// A field of a stored order whose value printcore cannot use as it is (the website wrote another type,
/// or a value it does not know). Reported, never fatal to a read: see [`Order::from_document`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldProblem {
    /// The field's path, e.g. `printingOptions.copies` or `fileURLs[1]`.
    pub field: String,
    /// What was found, e.g. `the string "yes"`.
    pub found: String,
    /// What printcore needs there, e.g. `true or false`.
    pub expected: &'static str,
    /// Whether the order cannot be printed because of it (a print option or a file); other problems
    /// (a date stored as text that cannot be read, say) only lose that field's value.
    pub blocks_printing: bool,
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is {} (expected {})", self.field, self.found, self.expected)
    }
}

/// A stored order printcore cannot read or act on as it is (see [`Order::from_document`] and
/// [`Order::status_error`]); it becomes [`crate::Error::InvalidDocument`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableOrder {
    /// The order's `orderId` (or its `_id` when it has none).
    pub order_id: String,
    /// What is wrong, naming the field and the value found.
    pub message: String,
}

impl fmt::Display for UnreadableOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "order {}: stored document is not valid: {}; fix the document in the database",
            self.order_id, self.message
        )
    }
}

impl std::error::Error for UnreadableOrder {}

/// How a BSON value looks in a message: its type and, for scalars, its value (shortened).
pub fn describe_value(v: &bson::Bson) -> String {
    use bson::Bson;
    let short = |s: &str| {
        let cut: String = s.chars().take(60).collect();
        if cut.len() < s.len() {
            format!("{cut}…")
        } else {
            cut
        }
    };
    match v {
        Bson::String(s) => format!("the string {:?}", short(s)),
        Bson::Boolean(b) => format!("the boolean {b}"),
        Bson::Int32(i) => format!("the number {i}"),
        Bson::Int64(i) => format!("the number {i}"),
        Bson::Double(d) => format!("the number {d}"),
        Bson::Decimal128(d) => format!("the decimal {d}"),
        Bson::Null => "null".into(),
        Bson::Array(a) => format!("an array of {} item(s)", a.len()),
        Bson::Document(d) => {
            format!("an object {}", short(&bson::Bson::Document(d.clone()).into_relaxed_extjson().to_string()))
        }
        Bson::DateTime(d) => format!("the date {}", d.try_to_rfc3339_string().unwrap_or_default()),
        Bson::ObjectId(o) => format!("the ObjectId {o}"),
        other => format!("a value of BSON type {:?}", other.element_type()),
    }
}

/// The kinds of value the order's fields take, and how a near miss is read.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Bool,
    Int,
    Date,
    /// A date the database itself compares (a schedule): only a BSON date will do, as the claim and the
    /// release compare it in the query, where text never comes due.
    StoredDate,
    Status,
}

impl Kind {
    fn expected(self) -> &'static str {
        match self {
            Kind::Text => "a string",
            Kind::Bool => "true or false",
            Kind::Int => "a whole number",
            Kind::Date => "a date",
            Kind::StoredDate => {
                "a date stored as a BSON Date (the queue compares it in the database, where text never comes due)"
            }
            Kind::Status => "one of pending, printing, printed, failed, cancelled",
        }
    }

    /// The value in its proper type when it can be read unambiguously, or `None`.
    fn read(self, v: &bson::Bson) -> Option<bson::Bson> {
        use bson::Bson;
        match (self, v) {
            (_, Bson::Null) => Some(Bson::Null),
            (Kind::Text, Bson::String(_)) => Some(v.clone()),
            (Kind::Bool, Bson::Boolean(_)) => Some(v.clone()),
            (Kind::Int, Bson::Int32(i)) => Some(Bson::Int64(*i as i64)),
            (Kind::Int, Bson::Int64(_)) => Some(v.clone()),
            (Kind::Int, Bson::Double(d)) if d.fract() == 0.0 && d.abs() < 1e15 => Some(Bson::Int64(*d as i64)),
            (Kind::Int, Bson::Decimal128(d)) => d.to_string().parse::<i64>().ok().map(Bson::Int64),
            // A number a form sent as text ("2"): unambiguous.
            (Kind::Int, Bson::String(s)) => {
                let t = s.trim_matches(text_space);
                (!t.is_empty() && t.len() <= 9 && t.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| t.parse::<i64>().ok().map(Bson::Int64))
                    .flatten()
            }
            (Kind::Date | Kind::StoredDate, Bson::DateTime(_)) => Some(v.clone()),
            // A date stored as text (`new Date().toISOString()`): read it when it is RFC 3339.
            (Kind::Date, Bson::String(s)) => chrono::DateTime::parse_from_rfc3339(s.trim())
                .ok()
                .map(|d| Bson::DateTime(DateTime::from_millis(d.timestamp_millis()))),
            (Kind::Status, Bson::String(s)) if PrintStatus::parse(s).is_some() => Some(v.clone()),
            _ => None,
        }
    }
}

/// Top-level fields: (name, kind, whether a bad value blocks printing).
const ORDER_FIELDS: &[(&str, Kind, bool)] = &[
    ("paymentStatus", Kind::Text, false),
    ("printStatus", Kind::Status, false),
    ("printError", Kind::Text, false),
    ("printerId", Kind::Text, false),
    ("printerName", Kind::Text, false),
    ("printStartedAt", Kind::Date, false),
    ("printCompletedAt", Kind::Date, false),
    ("printJobId", Kind::Text, false),
    ("printAttempt", Kind::Int, false),
    ("printingBy", Kind::Text, false),
    ("fileURL", Kind::Text, true),
    ("createdAt", Kind::Date, false),
    ("printLeaseUntil", Kind::Date, false),
    ("printSubmittedAt", Kind::Date, false),
    ("printerJobRef", Kind::Text, false),
    ("printPriority", Kind::Int, false),
    // A schedule of another type would keep the order waiting for ever: it blocks printing (and is failed
    // with a message naming it) instead.
    ("printNotBefore", Kind::StoredDate, true),
    // The website may store these when it prices the order, for the worker to check the file against: one
    // it cannot read would let a changed file print unchecked, so it blocks printing.
    ("fileSha256", Kind::Text, true),
    ("expectedPages", Kind::Int, true),
    ("filePages", Kind::Int, false),
    ("paidAt", Kind::Date, false),
    ("printWaitReason", Kind::Text, false),
];

/// `printingOptions` fields; every one of them changes what is printed, so a bad value blocks printing.
const OPTION_FIELDS: &[(&str, Kind)] =
    &[("pageSize", Kind::Text), ("color", Kind::Bool), ("duplex", Kind::Bool), ("copies", Kind::Int)];

impl Order {
    /// Reads a stored order without failing on the website's field types: a value that can be read
    /// unambiguously is read (`copies: "2"`, a whole number stored as a double, `createdAt` as an ISO
    /// string); any other value of a print field is left out of the struct and listed in
    /// [`Order::problems`], naming the field and what was found. Fails only when the document has no
    /// ObjectId `_id` (printcore could not address it).
    pub fn from_document(mut doc: Document) -> Result<Order, UnreadableOrder> {
        use bson::Bson;
        let order_id_for_errors = match doc.get("orderId") {
            Some(Bson::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => "(no orderId)".to_owned(),
        };
        if !matches!(doc.get("_id"), Some(Bson::ObjectId(_))) {
            let found = doc.get("_id").map(describe_value).unwrap_or_else(|| "missing".into());
            return Err(UnreadableOrder {
                order_id: order_id_for_errors,
                message: format!("_id is {found}; printcore needs an ObjectId _id to address the order"),
            });
        }
        let mut problems = Vec::new();
        let mut bad = |field: String, v: &Bson, expected: &'static str, blocks: bool| {
            problems.push(FieldProblem { field, found: describe_value(v), expected, blocks_printing: blocks });
        };
        // orderId: a number is read as its text (websites with numeric ids), anything else is a problem.
        match doc.get("orderId").cloned() {
            None | Some(Bson::String(_)) => {}
            Some(Bson::Int32(i)) => {
                doc.insert("orderId", i.to_string());
            }
            Some(Bson::Int64(i)) => {
                doc.insert("orderId", i.to_string());
            }
            Some(other) => {
                bad("orderId".into(), &other, Kind::Text.expected(), false);
                doc.insert("orderId", other.to_string());
            }
        }
        for (field, kind, blocks) in ORDER_FIELDS {
            if let Some(v) = doc.get(*field) {
                match kind.read(v) {
                    Some(read) => {
                        doc.insert(*field, read);
                    }
                    None => {
                        let v = doc.remove(*field).unwrap_or_default();
                        bad((*field).into(), &v, kind.expected(), *blocks);
                    }
                }
            }
        }
        match doc.get("fileURLs").cloned() {
            None | Some(Bson::Null) => {}
            Some(Bson::Array(items)) => {
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    if !matches!(item, Bson::String(_)) {
                        bad(format!("fileURLs[{i}]"), item, "a file URL (a string)", true);
                        ok = false;
                    }
                }
                if !ok {
                    doc.remove("fileURLs");
                }
            }
            Some(other) => {
                doc.remove("fileURLs");
                bad("fileURLs".into(), &other, "an array of file URLs", true);
            }
        }
        match doc.get("printingOptions").cloned() {
            None | Some(Bson::Null) => {}
            Some(Bson::Document(mut opts)) => {
                for (field, kind) in OPTION_FIELDS {
                    if let Some(v) = opts.get(*field) {
                        match kind.read(v) {
                            Some(read) => {
                                opts.insert(*field, read);
                            }
                            None => {
                                let v = opts.remove(*field).unwrap_or_default();
                                bad(format!("printingOptions.{field}"), &v, kind.expected(), true);
                            }
                        }
                    }
                }
                doc.insert("printingOptions", opts);
            }
            Some(other) => {
                doc.remove("printingOptions");
                bad("printingOptions".into(), &other, "an object", true);
            }
        }
        let mut order: Order = bson::from_document(doc)
            .map_err(|e| UnreadableOrder { order_id: order_id_for_errors, message: e.to_string() })?;
        order.problems = problems;
        Ok(order)
    }

    /// An error for an order whose `printStatus` printcore cannot read ('Pending', a number...): every state
    /// change would act on a guess, so none is made until it is fixed.
    pub fn status_error(&self) -> Option<UnreadableOrder> {
        self.problems.iter().find(|p| p.field == "printStatus").map(|p| UnreadableOrder {
            order_id: self.order_id.clone(),
            message: format!(
                "{p}; run the migration (`npm run migrate-print-status` or `worker migrate`), which normalises \
                 spellings such as 'Pending', or set it by hand"
            ),
        })
    }

    /// The problems that stop this order from printing, as one sentence for `printError` (None when it
    /// can be printed).
    pub fn blocking_problem(&self) -> Option<String> {
        let blocking: Vec<String> =
            self.problems.iter().filter(|p| p.blocks_printing).map(ToString::to_string).collect();
        if blocking.is_empty() {
            return None;
        }
        Some(format!(
            "order {} cannot be printed as stored: {}; fix the order in the website's database and reprint it",
            self.order_id,
            blocking.join("; ")
        ))
    }
}

/// The print fields the claim reads, each with the one BSON type it can use (or null, or absent).
const TYPED_FIELDS: [(&str, &str); 7] = [
    ("fileURL", "string"),
    ("printNotBefore", "date"),
    ("fileURLs", "array"),
    ("printingOptions", "object"),
    ("printingOptions.pageSize", "string"),
    ("printingOptions.color", "bool"),
    ("printingOptions.duplex", "bool"),
];

/// `{field: present with a type other than `ty` and null}`.
fn wrong_type(field: &str, ty: &str) -> Document {
    use bson::doc;
    doc! { field: { "$exists": true, "$not": { "$type": [ty, "null"] } } }
}

/// `{field: absent, null or of type `ty`}`: exactly the documents [`wrong_type`] does not match.
fn right_type(field: &str, ty: &str) -> Document {
    use bson::doc;
    doc! { "$or": [ { field: { "$exists": false } }, { field: { "$type": [ty, "null"] } } ] }
}

/// A number of copies written as text, which is read as the number: up to 9 digits, with ASCII white
/// space around them (`text_space`).
///
/// The white space is spelled out rather than `\s`: MongoDB's `\s` (PCRE) is ASCII white space, a Rust
/// regex's is Unicode's, so spelled out the database and [`Order::from_document`] agree on every server;
/// and a Unicode class costs a server that builds the pattern on each query far more to build than
/// the digits' test (SecantusDB: ARCHITECTURE.md, test server quirks).
pub(crate) const COPIES_AS_TEXT: &str = r"^[ \t\n\r\x0B\x0C]*[0-9]{1,9}[ \t\n\r\x0B\x0C]*$";

/// The white space a number written as text may have around it: PCRE's `\s`, ASCII only.
fn text_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0B' | '\x0C')
}

/// Conditions, each matching an order whose print fields have a type the claim cannot use.
/// `PrintCore::fail_malformed` looks for any of them; the claim takes only orders meeting every one of
/// [`wellformed_conditions`], their exact negation. They are the database's form of the rules
/// [`Order::from_document`] reads by.
pub fn malformed_conditions() -> Vec<Document> {
    use bson::doc;
    let mut out = vec![doc! { "_id": { "$not": { "$type": "objectId" } } }];
    out.extend(TYPED_FIELDS.iter().map(|(f, t)| wrong_type(f, t)));
    out.push(doc! { "fileURLs": { "$elemMatch": { "$not": { "$type": "string" } } } });
    out.push(doc! { "$and": [
        wrong_type("printingOptions.copies", "number"),
        { "printingOptions.copies": { "$not": { "$regex": COPIES_AS_TEXT } } },
    ] });
    out
}

/// Conditions an order meets when none of [`malformed_conditions`] matches it, written without `$nor`:
/// one per malformed condition, in the same order, each its negation (De Morgan). The claim uses this
/// form; the database test `the_claims_guard_is_the_exact_negation_of_the_malformed_conditions` checks
/// the two against generated documents.
pub fn wellformed_conditions() -> Vec<Document> {
    use bson::doc;
    let mut out = vec![doc! { "_id": { "$type": "objectId" } }];
    out.extend(TYPED_FIELDS.iter().map(|(f, t)| right_type(f, t)));
    out.push(doc! { "fileURLs": { "$not": { "$elemMatch": { "$not": { "$type": "string" } } } } });
    out.push(doc! { "$or": [
        { "printingOptions.copies": { "$exists": false } },
        { "printingOptions.copies": { "$type": ["number", "null"] } },
        { "printingOptions.copies": { "$regex": COPIES_AS_TEXT } },
    ] });
    out
}
