//! The printer backends behind [`crate::printer::Printer`].

pub mod command;
pub mod file;
pub mod ipp;
pub mod spooler;

pub use command::CommandPrinter;
pub use file::FilePrinter;
pub use ipp::IppPrinter;
