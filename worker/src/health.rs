//! Printer health: read a backend's status and capabilities and record them in `printers` through
//! printcore, and keep count of how long each printer has been offline (for the metrics).

use crate::printer::Printer;
use printcore::{PrintCore, PrinterHealth, PrinterStatus, WorkerId};
use std::time::{Duration, Instant};

/// Static facts about a printer the health check reports with every reading.
#[derive(Debug, Clone)]
pub struct PrinterIdentity {
    pub printer_id: String,
    pub name: String,
    pub printer_name: String,
    pub driver_name: Option<String>,
    pub system_name: Option<String>,
    pub connection_type: Option<String>,
}

/// The health of one printer over time.
pub struct PrinterHealthTracker {
    pub identity: PrinterIdentity,
    configured: Option<printcore::PrinterCapabilities>,
    offline_since: Option<Instant>,
    /// Offline time not yet taken by [`PrinterHealthTracker::take_offline_duration`].
    offline_accumulated: Duration,
    last_status: Option<PrinterStatus>,
    /// Record a reading unchanged since the last one written only once the last is this old (zero:
    /// every reading is written). A changed reading is written at once.
    pub record_every: Duration,
    /// The last reading written, when, and the shop's switches and capabilities it came back with.
    written: Option<Written>,
}

/// What the last write recorded: a reading equal to it (same [`RecordKey`]) need not be written again
/// until [`PrinterHealthTracker::record_every`] has passed.
struct Written {
    key: RecordKey,
    at: Instant,
    active: bool,
    auto_print: bool,
    capabilities: Option<printcore::PrinterCapabilities>,
}

/// Everything a health write stores that can change between readings.
#[derive(Debug, Clone, PartialEq)]
struct RecordKey {
    status: PrinterStatus,
    queue_length: Option<i64>,
    message: Option<String>,
    reasons: Vec<String>,
    capabilities: Option<printcore::PrinterCapabilities>,
    reachable: bool,
    last_success: Option<bson::DateTime>,
}

/// What one health check found and recorded.
#[derive(Debug, Clone)]
pub struct HealthReading {
    pub status: PrinterStatus,
    pub message: Option<String>,
    /// The shop's switches as stored: claim only when both are on and the printer is online.
    pub active: bool,
    pub auto_print: bool,
    pub capabilities: Option<printcore::PrinterCapabilities>,
}

impl HealthReading {
    /// Whether the worker may claim orders for this printer now.
    pub fn may_claim(&self) -> bool {
        self.active && self.auto_print && self.status == PrinterStatus::Online
    }
}

impl PrinterHealthTracker {
    pub fn new(identity: PrinterIdentity) -> PrinterHealthTracker {
        PrinterHealthTracker {
            identity,
            configured: None,
            offline_since: None,
            offline_accumulated: Duration::ZERO,
            last_status: None,
            record_every: Duration::ZERO,
            written: None,
        }
    }

    /// The shop's switches as read from the database by someone other than this tracker (a change to
    /// the printer's document): the next reading reports them without waiting for a write.
    pub fn switches_changed(&mut self, active: bool, auto_print: bool) {
        if let Some(w) = &mut self.written {
            w.active = active;
            w.auto_print = auto_print;
        }
    }

    /// Capabilities set in the worker's configuration: they are what the claim uses, so they are also what
    /// is recorded in `printers` (and what the rejection pass judges by), instead of what the printer
    /// reports. One source of capabilities per printer.
    pub fn with_configured(mut self, configured: Option<printcore::PrinterCapabilities>) -> PrinterHealthTracker {
        self.configured = configured;
        self
    }

    /// One health check: reads the printer, writes the reading into `printers`, updates the offline clock.
    pub async fn check(
        &mut self,
        printer: &dyn Printer,
        core: &PrintCore,
        worker: &WorkerId,
        last_success: Option<bson::DateTime>,
    ) -> printcore::Result<HealthReading> {
        let (state, reachable) = match printer.status().await {
            Ok(s) => {
                let reachable = s.status != PrinterStatus::Offline || !s.reasons.is_empty();
                (s, reachable)
            }
            Err(e) => (
                crate::printer::PrinterState {
                    status: PrinterStatus::Error,
                    queue_length: None,
                    reasons: vec![],
                    message: Some(e.to_string()),
                },
                false,
            ),
        };
        let capabilities = match &self.configured {
            Some(c) => Some(c.clone()),
            None if state.status == PrinterStatus::Offline => None,
            None => printer.capabilities().await.ok(),
        };
        self.observe(state.status);
        let id = &self.identity;
        let key = RecordKey {
            status: state.status,
            queue_length: state.queue_length,
            message: state.message.clone(),
            reasons: state.reasons.clone(),
            capabilities: capabilities.clone(),
            reachable,
            last_success,
        };
        let fresh = self.written.as_ref().filter(|w| w.key == key && w.at.elapsed() < self.record_every);
        let (active, auto_print, stored_capabilities) = match fresh {
            // Nothing changed since the last write, which is recent: the database already says this.
            Some(w) => (w.active, w.auto_print, w.capabilities.clone()),
            None => {
                let written = core
                    .record_printer_health(&PrinterHealth {
                        printer_id: id.printer_id.clone(),
                        name: id.name.clone(),
                        printer_name: id.printer_name.clone(),
                        status: state.status,
                        queue_length: state.queue_length,
                        error_message: state.message.clone(),
                        driver_name: id.driver_name.clone(),
                        system_name: id.system_name.clone(),
                        connection_type: id.connection_type.clone(),
                        capabilities: capabilities.clone(),
                        worker_id: worker.to_string(),
                        reachable,
                        last_successful_print_at: last_success,
                        state_reasons: state.reasons.clone(),
                    })
                    .await?;
                let active = written.is_active.unwrap_or(true);
                let auto_print = written.auto_print_enabled.unwrap_or(true);
                self.written = Some(Written {
                    key,
                    at: Instant::now(),
                    active,
                    auto_print,
                    capabilities: written.capabilities.clone(),
                });
                (active, auto_print, written.capabilities)
            }
        };
        if self.last_status != Some(state.status) {
            tracing::info!(printer_id = %id.printer_id, status = state.status.as_str(), message = ?state.message, "printer status changed");
        }
        self.last_status = Some(state.status);
        Ok(HealthReading {
            status: state.status,
            message: state.message,
            active,
            auto_print,
            capabilities: capabilities.or(stored_capabilities),
        })
    }

    fn observe(&mut self, status: PrinterStatus) {
        let offline = status == PrinterStatus::Offline || status == PrinterStatus::Error;
        match (offline, self.offline_since) {
            (true, None) => self.offline_since = Some(Instant::now()),
            (false, Some(since)) => {
                self.offline_accumulated += since.elapsed();
                self.offline_since = None;
            }
            _ => {}
        }
    }

    /// Offline (or error) time since the last call, including the current outage so far.
    pub fn take_offline_duration(&mut self) -> Duration {
        let mut total = std::mem::take(&mut self.offline_accumulated);
        if let Some(since) = self.offline_since {
            total += since.elapsed();
            self.offline_since = Some(Instant::now());
        }
        total
    }
}
