//! # printcore
//!
//! The rules of a print shop's print queue, on MongoDB as the single source of truth. The website (through
//! `printcore-node`) and the print PC's worker both call this crate; neither writes an order any other way.
//! Every filter and update on `orders`, `printers`, `print_logs` and `metrics` is written here.
//!
//! ## The claim cycle
//!
//! An order goes through these steps; each is one atomic write with its `print_logs` entry ([`audit`]).
//!
//! | Step | Call | What the order holds after it |
//! |------|------|-------------------------------|
//! | paid | [`PrintCore::mark_paid`] | `paymentStatus: 'completed'`, `paidAt`, `printStatus: 'pending'` (and `printPriority`, `printNotBefore` if asked) |
//! | claimed | [`PrintCore::claim`] | `printing`, a fresh `printJobId`, `printingBy`, `printStartedAt`, `printLeaseUntil`, `printAttempt` + 1 |
//! | being sent | [`PrintJob::mark_sending`] | `printSubmittedAt` (a durable write, and only while the lease holds) |
//! | submitted | [`PrintJob::mark_submitted`] | `printerJobRef`, the printer's id for the job |
//! | printed | [`PrintJob::complete`] | `printed`, `printCompletedAt`: only when the printer reports the job completed |
//!
//! - **The claim** takes the paid, pending order with a file that the printer can take, highest
//!   `printPriority` first, then oldest `createdAt`, in one `findOneAndUpdate`: two workers never get the
//!   same order.
//! - **Ownership.** The [`PrintJob`] the claim returns is the owner's handle. Every write through it is
//!   fenced on `_id`, `printStatus: 'printing'`, `printingBy` and `printJobId`; when the order is no longer
//!   this worker's, the write changes nothing and returns [`Error::OwnershipLost`]: stop working on it.
//! - **Leases.** The owner renews `printLeaseUntil` ([`PrintJob::renew_lease`], every
//!   [`CoreConfig::lease_renew_every`]); times are the database server's, so print PCs with wrong clocks
//!   agree.
//! - **Off the happy path.** [`PrintJob::fail_transient`] goes back to `pending` with a backoff in
//!   `printNotBefore`, or `failed` once [`CoreConfig::max_attempts`] are used up (attempts count at the
//!   claim); [`PrintJob::fail_permanent`] fails it (a bad file, a capability); [`PrintJob::release`] hands it
//!   back on shutdown.
//! - **Recovery.** [`PrintCore::recover_expired`] takes back orders whose lease ran out: one never sent goes
//!   back to `pending` (`lease_expired`); one that was being sent may be on paper, so it is returned for the
//!   worker to [`PrintCore::adopt`] and ask the printer first: completed means printed, gone without an
//!   acknowledgement means back to the queue, unknown means `failed` "may have printed", never printed on a
//!   guess. [`PrintCore::recover_stuck`] is the 30-minute backstop for a live owner whose print hangs.
//! - **Admins** [`reprint`](PrintCore::reprint), [`cancel`](PrintCore::cancel),
//!   [`reset_state`](PrintCore::reset_state) and [`force_printed`](PrintCore::force_printed), each with an
//!   [`AdminIdentity`] and a reason; a cancel or reset of a job at a printer cancels it there first.
//!
//! Every change of `printStatus` goes through one table, [`model::state`]; it runs without a database:
//!
//! ```
//! use printcore::{Action, PrintStatus};
//!
//! assert!(Action::Claim.allowed_from(Some(PrintStatus::Pending)));
//! assert_eq!(Action::Claim.to_state(), PrintStatus::Printing);
//! // A printed order is never claimed again; only an admin's reprint puts it back in the queue.
//! assert!(!Action::Claim.allowed_from(Some(PrintStatus::Printed)));
//! assert_eq!(Action::Reprint.to_state(), PrintStatus::Pending);
//! ```
//!
//! A worker's cycle (it needs a MongoDB server, so it is only compiled here; `examples/claim_cycle.rs`
//! runs it):
//!
//! ```no_run
//! use printcore::{ClaimTarget, CoreConfig, Error, MarkPaid, PrintCore, WorkerId};
//! # async fn demo() -> printcore::Result<()> {
//! let core = PrintCore::connect("mongodb://127.0.0.1:27017", "shop", CoreConfig::default()).await?;
//! core.migrate(&Default::default()).await?; // indexes; safe to run again
//!
//! // The website, once the payment is confirmed:
//! core.mark_paid("ORD-1001", &MarkPaid::default()).await?;
//!
//! // The worker:
//! let worker = WorkerId::generate();
//! let target = ClaimTarget { printer_id: "front".into(), printer_name: "Front desk".into(), capabilities: None };
//! if let Some(job) = core.claim(&worker, &target).await? {
//!     // ... download and validate the file (printcore::files), renewing the lease meanwhile ...
//!     job.mark_sending().await?; // from here on, recovery asks the printer first
//!     job.mark_submitted("printer-job-17").await?;
//!     // ... wait until the printer reports the job completed ...
//!     match job.complete().await {
//!         Ok(_) => {}
//!         Err(Error::OwnershipLost { .. }) => { /* recovered or reset meanwhile: leave it */ }
//!         Err(e) => return Err(e),
//!     }
//! }
//! // Any worker, on a timer: a dead worker's orders come back.
//! let report = core.recover_expired(&worker, 100).await?;
//! # let _ = report;
//! # Ok(()) }
//! ```
//!
//! ## Where to go next
//!
//! Each module owns one set of rules. They form layers: a module uses only the modules above it in this
//! list, never one below (`printcore/tests/module_graph.rs` checks it).
//!
//! - [`model`]: the stored documents with the website's field names, and [`model::state`], the state
//!   machine's table.
//! - [`error`]: the one [`Error`] type; every variant says what the caller can do.
//! - [`audit`]: exactly one `print_logs` entry per transition, written atomically with it.
//! - [`db`]: the [`PrintCore`] handle, its [`CoreConfig`], connecting, the server's clock, redaction.
//! - [`files`]: download an order's file (allowlist, size cap, timeouts), validate the PDF as hostile
//!   input, check it against the printer's capabilities.
//! - [`printers`]: printer health written by the worker, read by the claim and the monitor.
//! - [`queue`]: paying into the queue, the claim, the owner's [`PrintJob`], recovery, malformed orders,
//!   the worker's wake-ups.
//! - [`admin`]: the four admin actions, and cancelling a job at the printer.
//! - [`monitor`]: the admin monitor's reads: snapshot, live feed, order pages, history, metrics,
//!   printer status, alerts.
//! - [`migrate`]: indexes, `printStatus` backfill, printers registered; safe to run twice.
//!
//! The repository's ARCHITECTURE.md explains the choices (why an outbox and not a transaction, how
//! recovery asks the printer, what each worker loop does).

#![deny(missing_docs)]

pub mod admin;
pub mod audit;
pub mod db;
pub mod error;
pub mod files;
pub mod migrate;
pub mod model;
pub mod monitor;
pub mod printers;
pub mod queue;

pub use crate::admin::{AdminOutcome, PrinterCancel};
pub use crate::audit::{Actor, AdminIdentity, LogDelivery};
pub use crate::db::connection::{Cancel, ConnectOptions};
pub use crate::db::redact::redact_uri;
pub use crate::db::{CoreConfig, PrintCore};
pub use crate::error::{Error, Result};
pub use crate::migrate::{MigrateOptions, MigrationReport, PrinterRegistration};
pub use crate::model::{
    Action, Order, PrintLog, PrintStatus, Printer, PrinterCapabilities, PrinterStatus, PrintingOptions,
};
pub use crate::monitor::{FeedItem, MonitorEvent, MonitorHub, OrdersQuery, Page, Snapshot};
pub use crate::printers::PrinterHealth;
pub use crate::queue::{
    ClaimStats, ClaimTarget, ClaimTurns, MarkPaid, MarkPaidOutcome, PrintJob, QueuePoll, RecoveryReport, RetryOutcome,
    WorkerEvent, WorkerId,
};
