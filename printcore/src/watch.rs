//! Live changes: a change stream on `orders` where the deployment has one (replica sets), so a worker
//! wakes the moment an order becomes printable. A standalone server refuses change streams (code 40573);
//! callers then poll.

use crate::core::PrintCore;
use crate::error::{Error, Result};
use bson::{doc, Document};
use futures::stream::{BoxStream, StreamExt};
use mongodb::error::ErrorKind;

/// A change stream that could not be opened: `Unsupported` where the deployment has none (the caller
/// polls instead), else a database error.
fn open_error(e: mongodb::error::Error, context: &str) -> Error {
    if change_streams_unsupported(&e) {
        Error::Unsupported(format!("this MongoDB deployment has no change streams ({e}); polling instead"))
    } else {
        Error::Database { context: context.into(), source: e }
    }
}

/// Change streams are not available: a standalone server, or a deployment that refuses them.
pub fn change_streams_unsupported(e: &mongodb::error::Error) -> bool {
    match e.kind.as_ref() {
        // 40573: "The $changeStream stage is only supported on replica sets"; 40324: unrecognised stage.
        ErrorKind::Command(c) => matches!(c.code, 40573 | 40324 | 136),
        _ => false,
    }
}

impl PrintCore {
    /// A stream that yields once for each change that may have made an order printable (a new paid order,
    /// an order back to pending, a payment completed). `Err(Error::Unsupported)` when the deployment has
    /// no change streams: poll instead. The stream ends with an error when the connection breaks; open a
    /// new one (a missed wake-up costs at most one poll interval).
    pub async fn watch_queue(&self) -> Result<BoxStream<'static, Result<()>>> {
        let pipeline = vec![doc! { "$match": { "$or": [
            { "operationType": "insert", "fullDocument.printStatus": "pending" },
            { "operationType": "insert", "fullDocument.paymentStatus": "completed" },
            { "operationType": "update", "updateDescription.updatedFields.printStatus": "pending" },
            { "operationType": "update", "updateDescription.updatedFields.paymentStatus": "completed" },
            { "operationType": "replace" },
        ] } }];
        let stream = self
            .inner
            .orders
            .watch()
            .pipeline(pipeline)
            .await
            .map_err(|e| open_error(e, "opening a change stream on orders"))?;
        Ok(stream.map(|event| event.map(|_| ()).map_err(Error::db("reading the orders change stream"))).boxed())
    }

    /// A change stream of every change to `orders` and `printers` (for monitors), as (collection,
    /// operation, document key) triples. `Err(Error::Unsupported)` where change streams are refused.
    pub async fn watch_all(&self) -> Result<BoxStream<'static, Result<(String, String, Document)>>> {
        let pipeline = vec![doc! { "$match": {
            "ns.coll": { "$in": [crate::model::collections::ORDERS, crate::model::collections::PRINTERS] },
        } }];
        let stream =
            self.inner.db.watch().pipeline(pipeline).await.map_err(|e| open_error(e, "opening a change stream"))?;
        Ok(stream
            .map(|event| {
                let event = event.map_err(Error::db("reading the change stream"))?;
                let coll = event.ns.as_ref().and_then(|n| n.coll.clone()).unwrap_or_default();
                let op = format!("{:?}", event.operation_type).to_lowercase();
                Ok((coll, op, event.document_key.unwrap_or_default()))
            })
            .boxed())
    }
}
