//! The print worker's library: printer backends behind one trait, and printer health. The binary
//! (`src/main.rs`) adds configuration, the loops and signal handling. Every database rule it follows is
//! printcore's; nothing here builds a MongoDB filter.

pub mod alerts;
pub mod backends;
pub mod config;
pub mod discover;
pub mod health;
pub mod history;
pub mod http;
pub mod init;
pub mod journal;
pub mod logfile;
pub mod printer;
pub mod service;
pub mod shutdown;
pub mod stages;
pub mod stats;
pub mod status;
pub mod validate;
pub mod winsec;
pub mod winservice;

pub use printer::{FoundJob, JobSpec, JobState, Printer, PrinterError, PrinterState};
