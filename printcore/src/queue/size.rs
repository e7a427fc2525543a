//! Orders too large to print: MongoDB keeps at most 16 MB in one document, and printcore records a print
//! on the order itself (the claim's fields, the being-sent mark, the job's reference, log entries waiting
//! in the outbox, an error). A website that stores large data on an order (a preview image, an upload
//! as base64) can leave no room for that record: then every write printcore makes to the order fails,
//! and an order at the head of the queue that no claim can take would stop every order behind it.
//!
//! So an order is printed only when it leaves [`ORDER_HEADROOM_BYTES`] for printcore's record: one larger,
//! once claimed, has a blocking problem naming its size (the print flow fails it before anything is
//! downloaded or sent); one so large that the claim's own write is refused is failed by the claim where
//! it stands (its message says it is too large; its size is not known then), and the claim goes on to the
//! next order. A failure, or a job's order going back to the queue (recovery, a release), that does not
//! fit whole is written as its status alone (`PrintCore::apply_all`): the reason and the log entry then go
//! to the audit log only. The size is measured on the order as claimed, printcore's claim fields included.
//! Which database errors mean "too large": `crate::error::document_too_large` (the error's layer needs it too).

use crate::model::FieldProblem;
use bson::Document;

/// The most bytes MongoDB stores in one document (16 MiB).
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// What printcore leaves room for on an order it prints: its claim, send mark, job reference, errors and
/// log entries waiting for delivery come to a few kilobytes; 64 KiB leaves room for many retries.
pub const ORDER_HEADROOM_BYTES: usize = 64 * 1024;

/// The largest order document printcore prints.
pub const MAX_ORDER_BYTES: usize = MAX_DOCUMENT_BYTES - ORDER_HEADROOM_BYTES;

/// What the order's record needs, as [`FieldProblem::expected`] says it.
const EXPECTED: &str = "at most 16,711,680 bytes: MongoDB keeps 16 MB in a document and printcore needs 64 KB of it \
                        to record the print; keep large data such as previews or uploads out of the order";

/// The size of `doc` as stored.
pub(crate) fn document_bytes(doc: &Document) -> usize {
    bson::to_vec(doc).map(|v| v.len()).unwrap_or(usize::MAX)
}

/// The blocking problem of an order document of `bytes` bytes, if it is too large to print.
pub(crate) fn size_problem(bytes: usize) -> Option<FieldProblem> {
    (bytes > MAX_ORDER_BYTES).then(|| FieldProblem {
        field: "(the order document)".into(),
        found: format!("{bytes} bytes"),
        expected: EXPECTED,
        blocks_printing: true,
    })
}

/// The message of an order the claim's own write could not take: the database refused to add the
/// claim's fields to it.
pub(crate) fn refused_message(order_id: &str) -> String {
    format!(
        "order {order_id} cannot be printed as stored: the order document is too large for printcore to record \
         its print (MongoDB refused to add the claim's fields; expected {EXPECTED}); make the order smaller in the \
         website's database and reprint it"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn an_order_is_too_large_only_past_the_headroom() {
        assert!(size_problem(MAX_ORDER_BYTES).is_none());
        let p = size_problem(MAX_ORDER_BYTES + 1).expect("one byte more is too large");
        assert!(p.blocks_printing);
        assert_eq!(p.to_string().split(" (").next(), Some("(the order document) is 16711681 bytes"));
        assert_eq!(MAX_ORDER_BYTES, 16_711_680, "the figure the message gives");
    }

    #[test]
    fn a_documents_size_is_its_stored_size() {
        let d = doc! { "a": "xyz" };
        // int32 length, type byte, "a\0", string length, "xyz\0", trailing 0.
        assert_eq!(document_bytes(&d), 4 + 1 + 2 + 4 + 4 + 1);
    }
}
