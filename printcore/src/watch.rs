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
    /// operation, document key) triples: one stream per collection, merged, so a user needs `find` and
    /// `changeStream` on those two collections only (the website's role can read nothing else of the
    /// shop's database). It ends when either stream ends. `Err(Error::Unsupported)` where change streams
    /// are refused.
    pub async fn watch_all(&self) -> Result<BoxStream<'static, Result<(String, String, Document)>>> {
        use crate::model::collections::{ORDERS, PRINTERS};
        let orders = self.inner.orders.watch().await.map_err(|e| open_error(e, "opening a change stream on orders"))?;
        let printers =
            self.inner.printers.watch().await.map_err(|e| open_error(e, "opening a change stream on printers"))?;
        fn tagged<S>(
            coll: &'static str,
            stream: S,
        ) -> impl futures::Stream<Item = Option<Result<(String, String, Document)>>>
        where
            S: futures::Stream<
                Item = mongodb::error::Result<mongodb::change_stream::event::ChangeStreamEvent<Document>>,
            >,
        {
            stream
                .map(move |event| {
                    let event = event.map_err(Error::db(format!("reading the {coll} change stream")))?;
                    let op = format!("{:?}", event.operation_type).to_lowercase();
                    Ok((coll.to_owned(), op, event.document_key.unwrap_or_default()))
                })
                .map(Some)
                // A marker for the end, so the merged stream ends with the first one that does.
                .chain(futures::stream::once(async { None }))
        }
        Ok(futures::stream::select(tagged(ORDERS, orders), tagged(PRINTERS, printers))
            .take_while(|e| futures::future::ready(e.is_some()))
            .filter_map(futures::future::ready)
            .boxed())
    }
}
