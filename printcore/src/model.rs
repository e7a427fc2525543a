//! The documents printcore reads and writes, with the exact field names of the website's collections.
//!
//! `orders` belongs to the website: it carries many fields printcore does not know. These structs are read
//! models only. printcore never writes an order back from a struct (no replacement); every write is a
//! `$set`/`$unset`/`$inc`/`$push` of print fields, so unknown fields survive every operation. The full
//! document is kept in [`Order::extra`] for callers that want to show it.

use bson::{oid::ObjectId, DateTime, Document};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Collection names, as the website has them.
pub mod collections {
    pub const ORDERS: &str = "orders";
    pub const PRINTERS: &str = "printers";
    pub const PRINT_LOGS: &str = "print_logs";
    pub const METRICS: &str = "metrics";
}

/// Where an order is in the print state machine (`printStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrintStatus {
    Pending,
    Printing,
    Printed,
    Failed,
    Cancelled,
}

impl PrintStatus {
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplex: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copies: Option<i64>,
}

/// An order as printcore sees it. Field names are the website's (camelCase).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    #[serde(default)]
    pub order_id: String,
    #[serde(default)]
    pub payment_status: Option<String>,
    #[serde(default)]
    pub print_status: Option<PrintStatus>,
    #[serde(default)]
    pub print_error: Option<String>,
    #[serde(default)]
    pub printer_id: Option<String>,
    #[serde(default)]
    pub printer_name: Option<String>,
    #[serde(default)]
    pub print_started_at: Option<DateTime>,
    #[serde(default)]
    pub print_completed_at: Option<DateTime>,
    #[serde(default)]
    pub print_job_id: Option<String>,
    #[serde(default)]
    pub print_attempt: Option<i64>,
    #[serde(default)]
    pub printing_by: Option<String>,
    #[serde(default, rename = "fileURL")]
    pub file_url: Option<String>,
    #[serde(default, rename = "fileURLs")]
    pub file_urls: Option<Vec<String>>,
    #[serde(default)]
    pub printing_options: Option<PrintingOptions>,
    #[serde(default)]
    pub created_at: Option<DateTime>,
    #[serde(default)]
    pub print_lease_until: Option<DateTime>,
    #[serde(default)]
    pub print_submitted_at: Option<DateTime>,
    #[serde(default)]
    pub printer_job_ref: Option<String>,
    #[serde(default)]
    pub print_priority: Option<i64>,
    #[serde(default)]
    pub print_not_before: Option<DateTime>,
    #[serde(default)]
    pub file_sha256: Option<String>,
    #[serde(default)]
    pub file_pages: Option<i64>,
    #[serde(default)]
    pub paid_at: Option<DateTime>,
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
    pub color: bool,
    pub duplex: bool,
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
    Online,
    Offline,
    Busy,
    Error,
}

impl PrinterStatus {
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
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none", default)]
    pub id: Option<ObjectId>,
    #[serde(default)]
    pub name: String,
    pub printer_id: String,
    #[serde(default)]
    pub printer_name: String,
    #[serde(default)]
    pub status: Option<PrinterStatus>,
    #[serde(default)]
    pub last_seen_at: Option<DateTime>,
    #[serde(default)]
    pub last_successful_print_at: Option<DateTime>,
    #[serde(default)]
    pub queue_length: Option<i64>,
    #[serde(default)]
    pub error_message: Option<String>,
    #[serde(default)]
    pub driver_name: Option<String>,
    #[serde(default)]
    pub system_name: Option<String>,
    #[serde(default, rename = "connectionType")]
    pub connection_type: Option<String>,
    #[serde(default, rename = "isActive")]
    pub is_active: Option<bool>,
    #[serde(default, rename = "autoPrintEnabled")]
    pub auto_print_enabled: Option<bool>,
    #[serde(default)]
    pub capabilities: Option<PrinterCapabilities>,
    #[serde(default, rename = "workerId")]
    pub worker_id: Option<String>,
    /// Since when the printer has not been online (unset while it is).
    #[serde(default)]
    pub offline_since: Option<DateTime>,
}

/// A `print_logs` entry: one per state transition, whoever made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrintLog {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub action: String,
    pub order_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub print_job_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub timestamp: DateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Document>,
}

/// A `metrics` document written by a worker every few minutes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none", default)]
    pub id: Option<ObjectId>,
    pub timestamp: DateTime,
    pub prints_per_hour: f64,
    pub failures_per_hour: f64,
    /// Seconds from payment (or creation) to the start of printing, averaged.
    pub average_print_start_delay: f64,
    /// Seconds the worker's printers were offline in the period.
    pub printer_offline_duration: f64,
    #[serde(rename = "workerId")]
    pub worker_id: String,
    #[serde(rename = "createdAt")]
    pub created_at: DateTime,
    #[serde(rename = "updatedAt")]
    pub updated_at: DateTime,
}
