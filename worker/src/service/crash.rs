//! Which orders this process is processing, so a crash points at them.

use std::sync::Mutex;

/// The orders this process is working on now (orderId, printJobId), for the crash report: a worker that
/// panics names them (see `report_crashes`), so an order that crashes the worker points at itself.
static PROCESSING: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Registers an order in [`PROCESSING`] while it lives.
pub(super) struct Processing(String);

impl Processing {
    pub(super) fn start(order_id: &str, print_job_id: &str) -> Processing {
        if let Ok(mut p) = PROCESSING.lock() {
            p.push((order_id.to_owned(), print_job_id.to_owned()));
        }
        Processing(print_job_id.to_owned())
    }
}

impl Drop for Processing {
    fn drop(&mut self) {
        if let Ok(mut p) = PROCESSING.lock() {
            p.retain(|(_, job)| job != &self.0);
        }
    }
}

/// Whether a print task of this process is working on the job `print_job_id` now.
pub(super) fn is_processing(print_job_id: &str) -> bool {
    PROCESSING.lock().map(|p| p.iter().any(|(_, job)| job == print_job_id)).unwrap_or(false)
}

/// The orders being processed now, as `orderId (print job ...)`.
pub fn processing_now() -> Vec<String> {
    PROCESSING.lock().map(|p| p.iter().map(|(o, j)| format!("{o} (print job {j})")).collect()).unwrap_or_default()
}

/// Logs every panic with the orders the worker was processing, before the default report.
pub fn report_crashes() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let orders = processing_now();
        tracing::error!(processing = ?orders, "the worker panicked while processing {}: {info}",
            if orders.is_empty() { "no order".to_owned() } else { orders.join(", ") });
        default(info);
    }));
}
