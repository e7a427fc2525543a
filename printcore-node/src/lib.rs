//! `printcore` for Node.js: the website's side of the print queue. A thin napi-rs binding of the
//! `printcore` crate: it converts arguments, results and errors at the boundary and holds no rule of its
//! own (every check, filter and state change is printcore's).
//!
//! One file per concept: `core.rs` (the `PrintCore` class), `types.rs` (plain objects crossing the
//! boundary), `error.rs` (errors with a stable `code`), `watch.rs` (live monitor subscriptions), `redact.rs`
//! (`redactUri`, connection strings safe to print).

#![deny(clippy::all)]

mod core;
mod error;
pub mod redact;
mod types;
mod value;
mod watch;
