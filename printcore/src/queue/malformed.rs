//! Orders the website stored with print fields printcore cannot use (`printingOptions.color: "yes"`, an
//! object inside `fileURLs`, `printingOptions` as a string, a `printNotBefore` stored as text, which the
//! database would never find due...). The claim never takes them
//! ([`crate::model::wellformed_conditions`], their negation, is part of its filter, so a bad order is never left `printing` by a parse
//! that fails after the claim); [`PrintCore::fail_malformed`], run by the worker beside the rejection pass,
//! fails each one with a message naming the field and the value found, which an admin can fix and
//! reprint. The worker finds them one window of the waiting orders at a time (`waiting.rs`). Values that can be read unambiguously (`copies: "2"`, a whole number stored as a double) are
//! read, not failed: see [`crate::model::Order::from_document`].

use crate::audit::{Actor, Entry};
use crate::db::PrintCore;
use crate::error::Result;
use crate::model::state::Action;
use crate::model::{describe_value, Order, PrintStatus};
use crate::queue::WorkerId;
use bson::{doc, Bson, Document};

impl PrintCore {
    /// Fails each of `docs` (paid, pending orders the malformed conditions matched) with a message naming
    /// the field and the value found (`printError`, and the log's reason), fenced on its being still paid
    /// and pending. Returns (orderId, message) per failed order; an order whose write fails is logged and
    /// left for the next round.
    pub(crate) async fn fail_malformed_docs(
        &self,
        worker: &WorkerId,
        docs: Vec<Document>,
    ) -> Result<Vec<(String, String)>> {
        let actor = Actor::Worker(worker.to_string());
        let mut failed = Vec::new();
        for raw in docs {
            let Some(id) = raw.get("_id").cloned() else { continue };
            let order_id = order_id_of(&raw, &id);
            let message = match Order::from_document(raw) {
                Ok(order) => match order.blocking_problem() {
                    Some(m) => m,
                    // The conditions and the reader disagree (should not happen): leave it to the claim.
                    None => continue,
                },
                // Not addressable by printcore's usual fences (no ObjectId `_id`): say why.
                Err(e) => format!("{e}; give the order an ObjectId _id and reprint it"),
            };
            if let Some(done) = self.fail_waiting(&actor, id, order_id, message, doc! { "malformed": true }).await {
                failed.push(done);
            }
        }
        Ok(failed)
    }

    /// Fails one paid, pending order of the checks of the waiting orders with `message` (`printError`
    /// and a `rejected` log entry with `metadata`), fenced on its being still paid and pending. Returns
    /// (orderId, message) when it was failed. An order at MongoDB's size limit gets its status alone, the
    /// message going to the audit log only (`PrintCore::apply_all`); one whose write fails otherwise is
    /// logged and left for the next round, never stopping the others.
    pub(crate) async fn fail_waiting(
        &self,
        actor: &Actor,
        id: Bson,
        order_id: String,
        message: String,
        metadata: Document,
    ) -> Option<(String, String)> {
        let entry = Entry {
            action: Action::Reject,
            order_id: &order_id,
            print_job_id: None,
            previous: Some(PrintStatus::Pending),
            new: PrintStatus::Failed,
            actor,
            reason: Some(&message),
            metadata,
        }
        .build(self.now());
        let update = doc! { "$set": { "printStatus": PrintStatus::Failed.as_str(), "printError": &message } };
        let fence = doc! { "_id": id, "printStatus": PrintStatus::Pending.as_str(), "paymentStatus": "completed" };
        match self.apply(fence, update, entry).await {
            Ok(true) => {
                tracing::warn!(order_id = %order_id, "{message}");
                Some((order_id, message))
            }
            Ok(false) => None,
            Err(e) => {
                tracing::warn!(order_id = %order_id, "could not fail the order ({message}): {e}");
                None
            }
        }
    }
}

/// The `orderId` of a stored order `raw` (with `_id` `id`) as a log entry and a message name it, whatever
/// its type: an order printcore fails may be one whose fields the website wrote wrongly.
pub(crate) fn order_id_of(raw: &Document, id: &Bson) -> String {
    match raw.get("orderId") {
        Some(Bson::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => format!("(no orderId, _id {})", describe_value(id)),
    }
}
