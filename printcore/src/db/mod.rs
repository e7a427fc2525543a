//! The database handle: [`PrintCore`] and its settings ([`CoreConfig`]), connecting ([`connection`]), the
//! database server's clock every lease is measured with ([`clock`]), and how connection strings may be
//! shown ([`redact`]).

pub mod clock;
pub mod connection;
mod handle;
pub mod redact;

pub(crate) use handle::Releases;
pub use handle::{CoreConfig, PrintCore};
