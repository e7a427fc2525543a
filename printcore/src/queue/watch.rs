//! Live changes: a change stream on `orders` where the deployment has one (replica sets), so a worker
//! wakes the moment an order becomes printable. A standalone server refuses change streams (code 40573);
//! callers then poll.

use crate::db::PrintCore;
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

    /// What a worker waits for, as one stream of [`WorkerEvent`]s from two change streams (`orders` and
    /// `printers`), each getMore waiting up to `max_await` on the server for its next batch: an idle worker
    /// costs one getMore per stream per `max_await`, while an event arrives the moment it happens.
    /// `Err(Error::Unsupported)` where the deployment has no change streams (poll instead, see
    /// [`PrintCore::poll_queue`]). The stream ends with an error when either change stream breaks: open a
    /// new one, and look at the queue once, since events may have been missed meanwhile.
    pub async fn watch_worker(
        &self,
        max_await: std::time::Duration,
    ) -> Result<BoxStream<'static, Result<WorkerEvent>>> {
        use crate::model::CANCEL_REQUEST_FIELD as REQUEST_FIELD;
        let request = format!("updateDescription.updatedFields.{REQUEST_FIELD}");
        let orders_pipeline = vec![
            doc! { "$match": { "$or": [
                // An unpaid order is nothing to a worker until its payment (an update) comes.
                { "operationType": "insert", "fullDocument.paymentStatus": "completed" },
                { "operationType": "replace" },
                { "operationType": "update", "updateDescription.updatedFields.printStatus": "pending" },
                { "operationType": "update", "updateDescription.updatedFields.paymentStatus": "completed" },
                { "operationType": "update", "updateDescription.updatedFields.printNotBefore": { "$exists": true } },
                { "operationType": "update", &request: { "$exists": true } },
            ] } },
            // Only what `WorkerEvent::of_order` reads: an inserted order's own document (the website's
            // fields, its items) never crosses the wire to every worker.
            doc! { "$project": {
                "operationType": 1,
                "documentKey": 1,
                "updateDescription": 1,
                "fullDocument.paymentStatus": 1,
                "fullDocument.printNotBefore": 1,
                format!("fullDocument.{REQUEST_FIELD}"): 1,
            } },
        ];
        // The shop's switches, written by an admin (a worker's own health write keeps them as they are).
        let printers_pipeline = vec![doc! { "$match": { "$or": [
            { "operationType": { "$in": ["insert", "replace", "delete"] } },
            { "operationType": "update", "updateDescription.updatedFields.isActive": { "$exists": true } },
            { "operationType": "update", "updateDescription.updatedFields.autoPrintEnabled": { "$exists": true } },
        ] } }];
        let orders = self
            .inner
            .orders
            .watch()
            .pipeline(orders_pipeline)
            .max_await_time(max_await)
            .await
            .map_err(|e| open_error(e, "opening a change stream on orders"))?;
        let printers = self
            .inner
            .printers
            .watch()
            .pipeline(printers_pipeline)
            .max_await_time(max_await)
            .await
            .map_err(|e| open_error(e, "opening a change stream on printers"))?;
        let orders = orders
            .map(|e| e.map(|e| WorkerEvent::of_order(&e)).map_err(Error::db("reading the orders change stream")))
            .map(Some)
            .chain(futures::stream::once(async { None }));
        let printers = printers
            .map(|e| e.map(|_| WorkerEvent::PRINTER).map_err(Error::db("reading the printers change stream")))
            .map(Some)
            .chain(futures::stream::once(async { None }));
        Ok(futures::stream::select(orders, printers)
            .take_while(|e| futures::future::ready(e.is_some()))
            .filter_map(futures::future::ready)
            .boxed())
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

/// What one change asks of a worker (several may be true of one change).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerEvent {
    /// An order may have become printable (new, paid, back to pending): claim.
    pub printable: bool,
    /// An admin asked to cancel or reset an order that may be at a printer: the cancel pass.
    pub cancel_request: bool,
    /// An order's `printNotBefore` was set (scheduled, or a retry's backoff): the next release time moved.
    pub schedule: bool,
    /// A printer's document changed other than by a health write (the shop's `isActive` or
    /// `autoPrintEnabled`, a printer added or removed): re-read the switches.
    pub printer: bool,
    /// The order's `_id`, for a change to an order (whose turn it is: [`crate::queue::ClaimTurns`]).
    pub order: Option<bson::oid::ObjectId>,
}

impl WorkerEvent {
    const PRINTER: WorkerEvent =
        WorkerEvent { printable: false, cancel_request: false, schedule: false, printer: true, order: None };
    const ALL_ORDERS: WorkerEvent =
        WorkerEvent { printable: true, cancel_request: true, schedule: true, printer: false, order: None };

    fn of_order(e: &mongodb::change_stream::event::ChangeStreamEvent<Document>) -> WorkerEvent {
        use mongodb::change_stream::event::OperationType;
        let request = crate::model::CANCEL_REQUEST_FIELD;
        let order = e.document_key.as_ref().and_then(|k| k.get_object_id("_id").ok());
        match e.operation_type {
            OperationType::Update => {
                let Some(fields) = e.update_description.as_ref().map(|u| &u.updated_fields) else {
                    return WorkerEvent { order, ..WorkerEvent::ALL_ORDERS };
                };
                WorkerEvent {
                    printable: fields.get_str("printStatus") == Ok("pending")
                        || fields.get_str("paymentStatus") == Ok("completed"),
                    cancel_request: fields.keys().any(|k| k == request || k.starts_with(&format!("{request}."))),
                    schedule: fields.contains_key("printNotBefore"),
                    printer: false,
                    order,
                }
            }
            // An insert carries the new document: it asks for a claim only when paid (the claim decides
            // the rest), for the schedule only when it has a time, and never for the cancel pass, so a
            // website creating unpaid orders wakes no worker.
            OperationType::Insert if e.full_document.is_some() => {
                let d = e.full_document.as_ref().expect("checked above");
                WorkerEvent {
                    printable: d.get_str("paymentStatus") == Ok("completed"),
                    cancel_request: d.contains_key(request),
                    schedule: d.contains_key("printNotBefore"),
                    printer: false,
                    order,
                }
            }
            // A replace may be anything.
            _ => WorkerEvent { order, ..WorkerEvent::ALL_ORDERS },
        }
    }
}
