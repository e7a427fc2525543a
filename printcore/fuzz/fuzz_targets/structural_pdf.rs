//! Fuzzes the PDF validator with documents built from structural pieces (tests/src/pdfstruct.rs: nesting,
//! object streams typed and filtered with escaped names, Flate bombs, untyped cross-reference streams, a
//! `startxref` hidden in a comment, chains of indirect `/Length`s, many cross-reference entries on one
//! large object), not byte flips. Whatever the pieces, validation returns a report or a permanent file
//! error; what the pre-scan accepts, lopdf then parses under libFuzzer's memory and time limits
//! (scripts/fuzz.sh: -rss_limit_mb=1024, -timeout=60) without panicking, aborting or overflowing its stack.
//! Seeds: tests/corpus/structural, one file per class.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../../tests/src/pdfstruct.rs"]
mod pdfstruct;

fuzz_target!(|data: &[u8]| {
    let bytes = pdfstruct::from_choices(data);
    match printcore::files::validate_pdf("FUZZ", "https://res.cloudinary.com/f.pdf", &bytes) {
        Ok(report) => assert!(report.pages >= 1 && report.page_sizes.len() == report.pages as usize),
        Err(printcore::Error::File { transient: false, .. }) => {}
        Err(other) => panic!("unexpected error kind: {other:?}"),
    }
});
