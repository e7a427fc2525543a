//! # printcore
//!
//! The rules of a print shop's print queue, on MongoDB as the single source of truth. The website (through
//! `printcore-node`) and the print PC's worker both call this crate; neither writes an order any other way.
//!
//! - [`state`]: the state machine, one table that every write goes through.
//! - [`PrintCore::mark_paid`] puts a paid order in the queue; [`PrintCore::claim`] takes the next one in one
//!   atomic `findOneAndUpdate`; the returned [`PrintJob`] is the owner's fenced handle (renew the lease,
//!   mark submitted, complete, fail, release). A worker that lost an order gets [`Error::OwnershipLost`].
//! - [`PrintCore::recover_expired`] and [`PrintCore::adopt`]: a dead worker's orders come back.
//! - Admin actions ([`PrintCore::reprint`], [`PrintCore::cancel`], [`PrintCore::reset_state`],
//!   [`PrintCore::force_printed`]), each with an [`AdminIdentity`] and a reason.
//! - Every transition writes exactly one `print_logs` entry, atomically with the change ([`audit`]).
//! - [`files`]: download an order's file (allowlist, size cap, timeouts, retries), validate the PDF, and
//!   check it against the printer's capabilities.
//! - [`PrintCore::migrate`]: indexes, backfill, printers; safe to run twice.
//!
//! ```no_run
//! use printcore::{ClaimTarget, CoreConfig, MarkPaid, PrintCore, WorkerId};
//! # async fn demo() -> printcore::Result<()> {
//! let core = PrintCore::connect("mongodb://127.0.0.1:27017", "shop", CoreConfig::default()).await?;
//! core.migrate(&Default::default()).await?;
//! core.mark_paid("ORD-1001", &MarkPaid::default()).await?;
//!
//! let worker = WorkerId::generate();
//! let target = ClaimTarget { printer_id: "front".into(), printer_name: "Front desk".into(), capabilities: None };
//! if let Some(job) = core.claim(&worker, &target).await? {
//!     job.mark_sending().await?;               // from here on, recovery asks the printer first
//!     job.mark_submitted("printer-job-17").await?;
//!     job.complete().await?;                   // only when the printer reports the job completed
//! }
//! # Ok(()) }
//! ```
//! A runnable version is `examples/claim_cycle.rs`.

pub mod admin;
pub mod alerts;
pub mod audit;
pub mod cancel;
pub mod clock;
pub mod connection;
mod core;
pub mod error;
pub mod files;
pub mod history;
pub mod malformed;
pub mod metrics;
pub mod migrate;
pub mod model;
pub mod monitor;
pub mod printers;
pub mod queue;
pub mod recovery;
pub mod redact;
pub mod state;
pub mod status;
pub mod watch;

pub use crate::admin::AdminOutcome;
pub use crate::audit::{Actor, AdminIdentity, LogDelivery};
pub use crate::cancel::PrinterCancel;
pub use crate::connection::{Cancel, ConnectOptions};
pub use crate::core::{CoreConfig, PrintCore};
pub use crate::error::{Error, Result};
pub use crate::migrate::{MigrateOptions, MigrationReport, PrinterRegistration};
pub use crate::model::{Order, PrintLog, PrintStatus, Printer, PrinterCapabilities, PrinterStatus, PrintingOptions};
pub use crate::monitor::{FeedItem, MonitorEvent, MonitorHub, OrdersQuery, Page, Snapshot};
pub use crate::printers::PrinterHealth;
pub use crate::queue::{ClaimTarget, MarkPaid, MarkPaidOutcome, PrintJob, QueuePoll, RetryOutcome, WorkerId};
pub use crate::recovery::RecoveryReport;
pub use crate::redact::redact_uri;
pub use crate::state::Action;
pub use crate::watch::WorkerEvent;
