//! Fuzzes the PDF validator: whatever the bytes, it returns a report or a permanent file error, and never
//! panics. Seeds: tests/corpus/pdf. The command: docs/guide/src/reference/order-files.md.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match printcore::files::validate_pdf("FUZZ", "https://res.cloudinary.com/f.pdf", data) {
        Ok(report) => assert!(report.pages >= 1 && report.page_sizes.len() == report.pages as usize),
        Err(printcore::Error::File { transient: false, .. }) => {}
        Err(other) => panic!("unexpected error kind: {other:?}"),
    }
});
