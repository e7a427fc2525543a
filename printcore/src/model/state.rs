//! The print state machine as one table. Every write that changes `printStatus` names an [`Action`], and
//! the action says which states it may start from and where it leads. Nothing else decides.
//!
//! ```text
//! (none) --mark_paid--> pending --claim--> printing --printed--> printed
//!                          ^                  |  \--permanent failure / attempts used up--> failed
//!                          +--retry, release, lease expired, returned by printer--+
//! admin: reprint (printed|failed|cancelled -> pending), cancel (pending|failed -> cancelled),
//!        reset_state (printing -> pending), force_printed (any but printed -> printed)
//! ```

use crate::model::PrintStatus::{self, *};
use std::fmt;

/// Everything that may change an order's `printStatus` (and so writes one `print_logs` entry).
/// The string form is the `action` stored in `print_logs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// The website recorded the payment: the order enters the queue.
    MarkPaid,
    /// A worker took the order.
    Claim,
    /// The worker handed the job to the printer, which acknowledged it (status stays `printing`).
    Submitted,
    /// A worker took over an order whose owner's lease expired after it was sent (status stays `printing`).
    Adopt,
    /// The printer reported the job completed.
    Printed,
    /// No active printer can take the order (size, colour, duplex, copies): failed without a claim.
    Reject,
    /// A transient error: back to the queue after a backoff.
    Retry,
    /// A permanent error, or the attempts are used up.
    Fail,
    /// The worker shut down before sending the job: back to the queue.
    ServerShutdown,
    /// Recovery found the owner's lease expired with nothing sent: back to the queue.
    LeaseExpired,
    /// Reconciliation found the printer aborted or cancelled the job, or never received it: back to the queue.
    ReturnedByPrinter,
    /// Admin: print again.
    Reprint,
    /// Admin: never print.
    Cancel,
    /// Admin: take a stuck order back from its worker.
    ResetState,
    /// Admin: record that it is on paper.
    ForcePrinted,
}

impl Action {
    /// The `action` value in `print_logs`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::MarkPaid => "mark_paid",
            Action::Claim => "claim",
            Action::Submitted => "submitted",
            Action::Adopt => "adopt",
            Action::Printed => "printed",
            Action::Reject => "rejected",
            Action::Retry => "retry",
            Action::Fail => "failed",
            Action::ServerShutdown => "server_shutdown",
            Action::LeaseExpired => "lease_expired",
            Action::ReturnedByPrinter => "returned_by_printer",
            Action::Reprint => "reprint",
            Action::Cancel => "cancel",
            Action::ResetState => "reset_state",
            Action::ForcePrinted => "force_printed",
        }
    }

    /// The states this action may start from (`None` in the list means an order with no `printStatus` yet).
    pub fn from_states(self) -> &'static [Option<PrintStatus>] {
        match self {
            Action::MarkPaid => &[None],
            Action::Claim | Action::Reject => &[Some(Pending)],
            Action::Cancel => &[Some(Pending), Some(Failed)],
            Action::Submitted
            | Action::Adopt
            | Action::Printed
            | Action::Retry
            | Action::Fail
            | Action::ServerShutdown
            | Action::LeaseExpired
            | Action::ReturnedByPrinter
            | Action::ResetState => &[Some(Printing)],
            Action::Reprint => &[Some(Printed), Some(Failed), Some(Cancelled)],
            Action::ForcePrinted => &[None, Some(Pending), Some(Printing), Some(Failed), Some(Cancelled)],
        }
    }

    /// Where the action leads. `Retry` leads to `pending`; when the attempts are used up the caller uses
    /// `Fail` instead.
    pub fn to_state(self) -> PrintStatus {
        match self {
            Action::MarkPaid
            | Action::Retry
            | Action::ServerShutdown
            | Action::LeaseExpired
            | Action::ReturnedByPrinter
            | Action::Reprint
            | Action::ResetState => Pending,
            Action::Claim | Action::Submitted | Action::Adopt => Printing,
            Action::Printed | Action::ForcePrinted => Printed,
            Action::Fail | Action::Reject => Failed,
            Action::Cancel => Cancelled,
        }
    }

    /// Whether the action is allowed from `current`.
    pub fn allowed_from(self, current: Option<PrintStatus>) -> bool {
        self.from_states().contains(&current)
    }

    /// Whether an admin may take this action (the four admin actions of the design).
    pub fn is_admin(self) -> bool {
        matches!(self, Action::Reprint | Action::Cancel | Action::ResetState | Action::ForcePrinted)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_actions_match_the_design() {
        assert!(Action::Reprint.allowed_from(Some(Printed)));
        assert!(Action::Reprint.allowed_from(Some(Failed)));
        assert!(Action::Reprint.allowed_from(Some(Cancelled)));
        assert!(!Action::Reprint.allowed_from(Some(Pending)));
        assert!(!Action::Reprint.allowed_from(Some(Printing)));
        assert!(Action::Cancel.allowed_from(Some(Pending)));
        assert!(Action::Cancel.allowed_from(Some(Failed)));
        assert!(!Action::Cancel.allowed_from(Some(Printing)));
        assert!(Action::ResetState.allowed_from(Some(Printing)));
        assert!(!Action::ResetState.allowed_from(Some(Pending)));
        for s in PrintStatus::ALL {
            assert_eq!(Action::ForcePrinted.allowed_from(Some(s)), s != Printed);
        }
    }

    #[test]
    fn only_pending_is_claimable() {
        for s in PrintStatus::ALL {
            assert_eq!(Action::Claim.allowed_from(Some(s)), s == Pending);
        }
        assert!(!Action::Claim.allowed_from(None));
    }

    #[test]
    fn targets_are_what_the_design_says() {
        assert_eq!(Action::Claim.to_state(), Printing);
        assert_eq!(Action::Printed.to_state(), Printed);
        assert_eq!(Action::Fail.to_state(), Failed);
        assert_eq!(Action::Retry.to_state(), Pending);
        assert_eq!(Action::Cancel.to_state(), Cancelled);
        assert_eq!(Action::ForcePrinted.to_state(), Printed);
    }
}
