//! One error type for every printcore operation. Each variant is something a caller can act on, and each
//! message names the order and says what to do next.

use crate::model::state::Action;
use crate::model::PrintStatus;

/// The result of a printcore operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No order with this `orderId` exists.
    #[error("order {order_id} was not found; check the order id")]
    NotFound {
        /// The order's website `orderId`.
        order_id: String,
    },

    /// The order's payment is not completed, so it may not be printed (a reprint). Nothing was written.
    #[error("order {order_id}: its payment is not completed (paymentStatus is {payment_status}); record the payment (markPaid) before printing it")]
    NotPaid {
        /// The order's website `orderId`.
        order_id: String,
        /// The order's `paymentStatus` as stored (`pending`, `failed`, or none).
        payment_status: String,
    },

    /// The action is not allowed from the order's current state. Nothing was written.
    #[error("order {order_id}: cannot {action} an order that is {}; {}", status_name(.current), allowed_hint(*.action))]
    InvalidTransition {
        /// The order's website `orderId`.
        order_id: String,
        /// The action that was asked for.
        action: Action,
        /// The order's `printStatus` when the action was refused (`None`: the order is not in the queue).
        current: Option<PrintStatus>,
    },

    /// A worker's fenced write matched nothing: the order is no longer this worker's print job (its lease
    /// expired and another worker took it, or an admin reset it). The worker must stop working on it.
    #[error("order {order_id}: print job {print_job_id} is no longer owned by worker {worker_id} (lease expired, reset or reassigned); stop working on it")]
    OwnershipLost {
        /// The order's website `orderId`.
        order_id: String,
        /// The `printJobId` of the attempt the worker held.
        print_job_id: String,
        /// The worker that lost the order.
        worker_id: String,
    },

    /// The order changed between reading it and writing it (another admin or a worker acted first).
    #[error("order {order_id} changed while {action} was being applied (now {}); reload it and try again", status_name(.current))]
    Conflict {
        /// The order's website `orderId`.
        order_id: String,
        /// The action that was asked for.
        action: Action,
        /// The order's `printStatus` found when the write matched nothing.
        current: Option<PrintStatus>,
    },

    /// An admin's cancel or reset of this order is waiting for the worker that drives its printer (it
    /// cancels the job there first). Nothing was written; the request is settled by that worker, or, when
    /// none answers, as "printer not asked" once `printerCancelWait` has passed.
    #[error("order {order_id}: cannot {action} it now: a {pending} asked by {admin_email} at {requested_at} is waiting for the worker that drives its printer to cancel the job there; try again once it is settled (within seconds when that worker runs)")]
    ActionPending {
        /// The order's website `orderId`.
        order_id: String,
        /// The action that was asked for.
        action: Action,
        /// The admin action already waiting on the order.
        pending: Action,
        /// Who asked for the waiting action.
        admin_email: String,
        /// When the waiting action was asked for (RFC 3339).
        requested_at: String,
    },

    /// An argument was malformed. Nothing was written.
    #[error("{0}")]
    InvalidArgument(String),

    /// An order's file could not be downloaded or is not printable. `transient`: try again later (the
    /// server or network failed); otherwise the order should fail with this message.
    #[error("order {order_id}: file {url}: {message}")]
    File {
        /// The order's website `orderId`.
        order_id: String,
        /// The file's URL as it may be shown (query string and credentials left out).
        url: String,
        /// What is wrong, written for the admin who fixes it.
        message: String,
        /// Whether trying again later may succeed (a server or network failure); `false`: fail the order.
        transient: bool,
    },

    /// An order's file URL is refused by the file policy: its host is not on the allowlist, its scheme is
    /// not allowed, or it (or a redirect) leads to a private, loopback or link-local address. Nothing was
    /// downloaded; the message names the order and the host. Permanent. (The worker's download reports
    /// these as `File`, so an order fails the way it always did; [`PrintCore::order_file`] says
    /// `FileRejected`.)
    ///
    /// [`PrintCore::order_file`]: crate::PrintCore::order_file
    #[error("order {order_id}: file {url}: {message}")]
    FileRejected {
        /// The order's website `orderId`.
        order_id: String,
        /// The file's URL as it may be shown (query string and credentials left out).
        url: String,
        /// What is wrong, written for the admin who fixes it.
        message: String,
    },

    /// The order asks for something the printer cannot do. Permanent for that printer.
    #[error("{message}")]
    Capability {
        /// The order's website `orderId`.
        order_id: String,
        /// What the order asks for and what the printer offers, written for the admin.
        message: String,
    },

    /// The deployment cannot do this (for example change streams on a standalone server).
    #[error("{0}")]
    Unsupported(String),

    /// A stored document could not be read as expected (for example an unknown `printStatus`).
    #[error("order {order_id}: stored document is not valid: {message}; fix the document in the database")]
    InvalidDocument {
        /// The order's website `orderId`.
        order_id: String,
        /// Which field is wrong and the value found.
        message: String,
    },

    /// The call did not finish within the time its caller gave it (the Node package's `timeoutMs`). A write
    /// may or may not have been applied: read the order before trying again.
    #[error("{what} did not finish within {ms} ms (is the database reachable?); a write may or may not have been applied: read the order again before retrying")]
    Timeout {
        /// The call that did not finish.
        what: String,
        /// The time limit it had, in milliseconds.
        ms: u64,
    },

    /// The caller gave up on the call (the Node package's `AbortSignal`). A write may or may not have been
    /// applied.
    #[error("{0} was aborted by the caller; a write may or may not have been applied")]
    Aborted(String),

    /// The database could not be reached or refused the operation. Usually transient: try again; not when
    /// the order document is at MongoDB's 16 MB limit (the message says what to do).
    #[error("database error{}: {source}{}", context_suffix(.context), too_large_hint(.source))]
    Database {
        /// What printcore was doing ("claiming an order"); empty when there is nothing to add.
        context: String,
        /// The driver's error.
        #[source]
        source: mongodb::error::Error,
    },
}

fn status_name(s: &Option<PrintStatus>) -> &'static str {
    s.map(PrintStatus::as_str).unwrap_or("not in the print queue (no printStatus)")
}

fn context_suffix(c: &str) -> String {
    if c.is_empty() {
        String::new()
    } else {
        format!(" while {c}")
    }
}

/// Whether the database refused a write because the document would exceed its size limit
/// (`BSONObjectTooLarge`, 10334; an update's result too large, 17419; a replacement too large, 17420):
/// an order at MongoDB's 16 MB limit (`queue/size.rs`).
pub(crate) fn document_too_large(e: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    const CODES: [i32; 3] = [10334, 17419, 17420];
    match e.kind.as_ref() {
        ErrorKind::Command(c) => CODES.contains(&c.code) || c.code_name == "BSONObjectTooLarge",
        ErrorKind::Write(WriteFailure::WriteError(w)) => {
            CODES.contains(&w.code) || w.code_name.as_deref() == Some("BSONObjectTooLarge")
        }
        _ => false,
    }
}

/// What to do when the database refused a write because the document would pass its 16 MB limit.
fn too_large_hint(source: &mongodb::error::Error) -> &'static str {
    if document_too_large(source) {
        "; the order document is too large for printcore's fields (MongoDB keeps at most 16 MB in a document, \
         and printcore needs 64 KB of it): make the order smaller in the website's database (keep large data \
         such as previews out of it), then try again"
    } else {
        ""
    }
}

fn allowed_hint(action: Action) -> String {
    let from: Vec<&str> =
        action.from_states().iter().map(|s| s.map(PrintStatus::as_str).unwrap_or("not yet queued")).collect();
    format!("{action} is allowed only from: {}", from.join(", "))
}

impl Error {
    /// A stable code for callers in other languages (the Node binding passes it on as `error.code`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotFound { .. } => "NOT_FOUND",
            Error::InvalidTransition { .. } => "INVALID_TRANSITION",
            Error::NotPaid { .. } => "NOT_PAID",
            Error::OwnershipLost { .. } => "OWNERSHIP_LOST",
            Error::Conflict { .. } | Error::ActionPending { .. } => "CONFLICT",
            Error::InvalidArgument(_) => "INVALID_ARGUMENT",
            Error::InvalidDocument { .. } => "INVALID_DOCUMENT",
            Error::File { transient: true, .. } => "FILE_UNAVAILABLE",
            Error::File { transient: false, .. } => "FILE_INVALID",
            Error::FileRejected { .. } => "FILE_REJECTED",
            Error::Capability { .. } => "CAPABILITY_MISMATCH",
            Error::Unsupported(_) => "UNSUPPORTED",
            Error::Timeout { .. } => "TIMEOUT",
            Error::Aborted(_) => "ABORTED",
            Error::Database { .. } => "DATABASE",
        }
    }

    /// Whether trying the same thing again later may succeed.
    pub fn is_transient(&self) -> bool {
        // A document at MongoDB's size limit stays at it: trying again cannot help.
        if matches!(self, Error::Database { source, .. } if document_too_large(source)) {
            return false;
        }
        matches!(
            self,
            Error::Database { .. }
                | Error::Conflict { .. }
                | Error::ActionPending { .. }
                | Error::File { transient: true, .. }
                | Error::Timeout { .. }
        )
    }

    pub(crate) fn db(context: impl Into<String>) -> impl FnOnce(mongodb::error::Error) -> Error {
        let context = context.into();
        move |source| Error::Database { context, source }
    }
}

/// Every code [`Error::code`] returns, for callers that list them (the Node package's `ErrorCode` type and
/// the guide's error-code page are checked against this list).
pub const ERROR_CODES: &[&str] = &[
    "NOT_FOUND",
    "NOT_PAID",
    "INVALID_TRANSITION",
    "OWNERSHIP_LOST",
    "CONFLICT",
    "INVALID_ARGUMENT",
    "INVALID_DOCUMENT",
    "FILE_UNAVAILABLE",
    "FILE_INVALID",
    "FILE_REJECTED",
    "CAPABILITY_MISMATCH",
    "UNSUPPORTED",
    "TIMEOUT",
    "ABORTED",
    "DATABASE",
];

impl From<crate::model::UnreadableOrder> for Error {
    fn from(e: crate::model::UnreadableOrder) -> Self {
        Error::InvalidDocument { order_id: e.order_id, message: e.message }
    }
}

impl From<mongodb::error::Error> for Error {
    fn from(source: mongodb::error::Error) -> Self {
        Error::Database { context: String::new(), source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_transition_names_order_state_and_what_is_allowed() {
        let e = Error::InvalidTransition {
            order_id: "1234".into(),
            action: Action::Cancel,
            current: Some(PrintStatus::Printing),
        };
        let m = e.to_string();
        assert!(m.contains("order 1234"), "{m}");
        assert!(m.contains("printing"), "{m}");
        assert!(m.contains("pending, failed"), "{m}");
        assert_eq!(e.code(), "INVALID_TRANSITION");
    }
}
