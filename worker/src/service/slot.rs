//! One printer this worker drives: its backend, identity, configured capabilities, health reading and job
//! slots.

use crate::health::{HealthReading, PrinterHealthTracker, PrinterIdentity};
use crate::history::JobHistory;
use crate::printer::Printer;
use printcore::PrinterCapabilities;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// One printer this worker drives, with its health and its job slots.
pub struct PrinterSlot {
    pub identity: PrinterIdentity,
    pub printer: Arc<dyn Printer>,
    /// Capabilities from the configuration (override what the printer reports).
    pub configured: Option<PrinterCapabilities>,
    pub(super) tracker: tokio::sync::Mutex<PrinterHealthTracker>,
    pub(super) reading: Mutex<Option<HealthReading>>,
    pub(super) permits: Arc<Semaphore>,
    /// When this worker last completed a print here; the health loop records it.
    pub(super) last_success: Mutex<Option<bson::DateTime>>,
    /// How long the printer keeps completed jobs listed and whether it shows their names (configured or
    /// measured): whether a job it does not list proves it never got it.
    pub history: JobHistory,
    /// Whether the printer's list of completed jobs was read (once, at a health pass).
    pub(super) history_read: std::sync::atomic::AtomicBool,
    /// When the health pass last looked for empty jobs left at the printer.
    pub(super) stale_checked: Mutex<Option<std::time::Instant>>,
}

impl PrinterSlot {
    pub fn new(
        identity: PrinterIdentity,
        printer: Arc<dyn Printer>,
        configured: Option<PrinterCapabilities>,
        jobs: usize,
    ) -> PrinterSlot {
        PrinterSlot {
            tracker: tokio::sync::Mutex::new(
                PrinterHealthTracker::new(identity.clone()).with_configured(configured.clone()),
            ),
            identity,
            printer,
            configured,
            reading: Mutex::new(None),
            permits: Arc::new(Semaphore::new(jobs.max(1))),
            last_success: Mutex::new(None),
            history: JobHistory::default(),
            history_read: std::sync::atomic::AtomicBool::new(false),
            stale_checked: Mutex::new(None),
        }
    }

    /// The printer's job history as configured (`job_history_secs`, `job_names_visible`); what is not
    /// configured is measured.
    pub fn with_history(mut self, history: JobHistory) -> PrinterSlot {
        self.history = history;
        self
    }

    /// The last health reading.
    pub fn reading(&self) -> Option<HealthReading> {
        self.reading.lock().unwrap().clone()
    }

    pub(super) fn printed(&self, at: bson::DateTime) {
        crate::stats::printed(&self.identity.printer_id);
        let mut last = self.last_success.lock().unwrap();
        if last.is_none_or(|l| l < at) {
            *last = Some(at);
        }
    }

    pub(super) fn capabilities(&self) -> Option<PrinterCapabilities> {
        self.configured.clone().or_else(|| self.reading().and_then(|r| r.capabilities))
    }

    /// Whether the printer may take orders now (its last reading: ready, switched on).
    pub fn may_claim(&self) -> bool {
        self.reading().is_some_and(|r| r.may_claim())
    }

    /// Which orders the printer takes: printers with the same claim query take the same orders.
    pub(super) fn claim_query(&self) -> printcore::queue::ClaimQuery {
        printcore::queue::claim_query(self.capabilities().as_ref())
    }

    /// What a claim for this printer is for: its id, its name and what it can take.
    pub(super) fn claim_target(&self) -> printcore::ClaimTarget {
        printcore::ClaimTarget {
            printer_id: self.identity.printer_id.clone(),
            printer_name: self.identity.name.clone(),
            capabilities: self.capabilities(),
        }
    }
}
