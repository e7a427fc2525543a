//! The worker's counters since it started: orders claimed and printed per printer, failures by reason,
//! and the database's last answer to the health endpoint's ping. One process runs one worker, so they are
//! process-wide; the services add to them with one call each, and the health endpoint (`crate::http`)
//! reads them. Nothing here touches the database or a printer.
//!
//! Labels stay a small fixed set: a printer's configured id, and for failures a [`FailureReason`] read
//! from the message's shape (never the message itself, which names orders, files and customers).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Why an order failed, as a metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailureReason {
    /// Its file could not be downloaded, or is not a printable PDF (size, pages, checksum, parse).
    File,
    /// The order asks for what no printer here can do.
    Capability,
    /// A print field of the wrong type (the order as stored).
    Malformed,
    /// The printer could not be reached or answered an error before it took the job.
    Printer,
    /// The printer aborted or cancelled the job, or a person deleted it from the queue.
    PrinterEnded,
    /// The answer was lost and the printer cannot say: a person decides.
    MayHavePrinted,
    /// Only some of the order's files reached the printer.
    Partial,
    /// Anything else.
    Other,
}

impl FailureReason {
    pub const ALL: [FailureReason; 8] = [
        FailureReason::File,
        FailureReason::Capability,
        FailureReason::Malformed,
        FailureReason::Printer,
        FailureReason::PrinterEnded,
        FailureReason::MayHavePrinted,
        FailureReason::Partial,
        FailureReason::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::File => "file",
            FailureReason::Capability => "capability",
            FailureReason::Malformed => "malformed",
            FailureReason::Printer => "printer",
            FailureReason::PrinterEnded => "printer_ended_job",
            FailureReason::MayHavePrinted => "may_have_printed",
            FailureReason::Partial => "partial",
            FailureReason::Other => "other",
        }
    }

    /// The reason of a failure message the print task wrote (`service/print.rs` and printcore's errors).
    /// The shapes are those messages' fixed parts; a message of no known shape is [`FailureReason::Other`].
    pub fn of_message(message: &str) -> FailureReason {
        let m = message.to_lowercase();
        // A partial order's message also says "may have printed": its own shape is read first.
        if m.starts_with("only part of the order") {
            FailureReason::Partial
        } else if m.contains("may have printed") {
            FailureReason::MayHavePrinted
        } else if m.contains("cannot be printed as stored") {
            FailureReason::Malformed
        } else if m.starts_with("no active printer can take it") || m.contains(" asks for ") {
            FailureReason::Capability
        } else if m.starts_with("order ") && m.contains(": file ") {
            // printcore's `Error::File` / `FileRejected`: "order {id}: file {url}: {message}"
            FailureReason::File
        } else if m.starts_with("the printer aborted")
            || m.starts_with("the printer cancelled")
            || m.contains("was deleted from the print queue")
        {
            FailureReason::PrinterEnded
        } else if m.contains("printer") || m.contains("ipp") || m.contains("print command") {
            FailureReason::Printer
        } else {
            FailureReason::Other
        }
    }
}

/// One printer's counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PrinterCounts {
    pub claimed: u64,
    pub printed: u64,
}

/// The database's answers to the health endpoint's pings.
#[derive(Debug, Default, Clone)]
pub struct DatabaseHealth {
    /// When the last ping was answered, and how long it took.
    pub last_ok: Option<(Instant, Duration)>,
    /// When the last ping failed, and why.
    pub last_error: Option<(Instant, String)>,
    pub pings: u64,
    pub failures: u64,
}

impl DatabaseHealth {
    /// Whether the last ping was answered.
    pub fn up(&self) -> bool {
        match (&self.last_ok, &self.last_error) {
            (Some((ok, _)), Some((err, _))) => ok > err,
            (Some(_), None) => true,
            _ => false,
        }
    }
}

/// The process's counters.
pub struct Stats {
    started: Instant,
    printers: Mutex<BTreeMap<String, PrinterCounts>>,
    /// By reason, then transient (back to the queue) or not (failed).
    failures: Mutex<BTreeMap<(FailureReason, bool), u64>>,
    failures_total: AtomicU64,
    database: Mutex<DatabaseHealth>,
}

impl Stats {
    fn new() -> Stats {
        Stats {
            started: Instant::now(),
            printers: Mutex::new(BTreeMap::new()),
            failures: Mutex::new(BTreeMap::new()),
            failures_total: AtomicU64::new(0),
            database: Mutex::new(DatabaseHealth::default()),
        }
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn printer(&self, printer_id: &str) -> PrinterCounts {
        self.printers.lock().unwrap().get(printer_id).copied().unwrap_or_default()
    }

    /// Failures by (reason, transient).
    pub fn failures(&self) -> BTreeMap<(FailureReason, bool), u64> {
        self.failures.lock().unwrap().clone()
    }

    pub fn failures_total(&self) -> u64 {
        self.failures_total.load(Ordering::Relaxed)
    }

    pub fn database(&self) -> DatabaseHealth {
        self.database.lock().unwrap().clone()
    }

    fn count(&self, printer_id: &str, f: impl FnOnce(&mut PrinterCounts)) {
        let mut printers = self.printers.lock().unwrap();
        match printers.get_mut(printer_id) {
            Some(c) => f(c),
            None => f(printers.entry(printer_id.to_owned()).or_default()),
        }
    }
}

/// The process's counters.
pub fn stats() -> &'static Stats {
    static STATS: OnceLock<Stats> = OnceLock::new();
    STATS.get_or_init(Stats::new)
}

/// An order was claimed for `printer_id`.
pub fn claimed(printer_id: &str) {
    stats().count(printer_id, |c| c.claimed += 1);
}

/// An order printed on `printer_id`.
pub fn printed(printer_id: &str) {
    stats().count(printer_id, |c| c.printed += 1);
}

/// The print task or recovery failed an order with `message`: back to the queue when `transient`, failed
/// otherwise.
pub fn failed(message: &str, transient: bool) {
    failed_as(FailureReason::of_message(message), transient);
}

/// An order failed for `reason` (the checks of the waiting orders know theirs): back to the queue when
/// `transient`, failed otherwise.
pub fn failed_as(reason: FailureReason, transient: bool) {
    let s = stats();
    *s.failures.lock().unwrap().entry((reason, transient)).or_default() += 1;
    s.failures_total.fetch_add(1, Ordering::Relaxed);
}

/// A ping of the database: its round trip, or why it failed.
pub fn database_answered(result: Result<Duration, String>) {
    let mut d = stats().database.lock().unwrap();
    d.pings += 1;
    match result {
        Ok(rtt) => d.last_ok = Some((Instant::now(), rtt)),
        Err(e) => {
            d.failures += 1;
            d.last_error = Some((Instant::now(), e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FailureReason as R;

    #[test]
    fn failure_messages_map_to_a_fixed_set_of_reasons() {
        let cases = [
            ("order 1234: file https://x/a.pdf: not a PDF (no %PDF header)", R::File),
            ("no active printer can take it: 'Front' offers A4", R::Capability),
            ("order 1234 asks for A3 in colour; printer 'Front desk' supports A4", R::Capability),
            (
                "order 7 cannot be printed as stored: printingOptions.color is the string \"yes\"; fix the order",
                R::Malformed,
            ),
            ("ipp://127.0.0.1:1/ipp/print: cannot reach the printer: connection refused", R::Printer),
            ("the printer aborted the job", R::PrinterEnded),
            ("job 5 was deleted from the print queue of X by a person", R::PrinterEnded),
            (
                "X no longer knows job 5 (restarted); may have printed; check the printer before reprinting",
                R::MayHavePrinted,
            ),
            ("only part of the order reached X (printer jobs 4)", R::Partial),
            ("something new", R::Other),
        ];
        for (message, reason) in cases {
            assert_eq!(R::of_message(message), reason, "{message}");
        }
        let labels: std::collections::HashSet<_> = R::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(labels.len(), R::ALL.len());
    }
}
