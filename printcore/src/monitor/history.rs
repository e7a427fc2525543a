//! Reading the audit history (`print_logs`) for the monitor and an order's page: one order's entries,
//! filtered lists and pages. A read first delivers entries still waiting in outboxes
//! ([`PrintCore::flush_log_outbox`]), so the history a person reads is complete. Writing the entries is
//! [`crate::audit`]'s.

use crate::audit::{copy_and_pull, outbox_entries, OUTBOX_FIELD};
use crate::db::PrintCore;
use crate::error::{Error, Result};
use crate::model::PrintLog;
use bson::{doc, oid::ObjectId, DateTime, Document};

impl PrintCore {
    /// Reads an order's history, newest first.
    pub async fn logs_for_order(&self, order_id: &str, limit: i64) -> Result<Vec<PrintLog>> {
        self.deliver_before_reading(Some(order_id)).await;
        self.read_logs(doc! { "orderId": order_id }, limit).await
    }

    /// Finishes the delivery of entries still waiting in outboxes (one order's, or every order's) before
    /// a history read, so the read is complete: a worker hands its entries to `print_logs` in batches up
    /// to a second apart, and a worker that died leaves its last ones for the recovery sweep. The copy is
    /// idempotent (the entry's `_id` is fixed), so racing the worker's own delivery is harmless. A failure
    /// here (a reader without write rights) is logged; the read goes on with what is delivered.
    async fn deliver_before_reading(&self, order_id: Option<&str>) {
        let result = match order_id {
            Some(order_id) => self.deliver_order_outbox(order_id).await,
            None => self.flush_log_outbox(std::time::Duration::ZERO, 1000).await.map(|_| ()),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not deliver waiting print log entries before reading the history");
        }
    }

    async fn deliver_order_outbox(&self, order_id: &str) -> Result<()> {
        let Some(order) = self
            .inner
            .orders
            .find_one(doc! { "orderId": order_id, OUTBOX_FIELD: { "$exists": true, "$ne": [] } })
            .projection(doc! { OUTBOX_FIELD: 1 })
            .await
            .map_err(Error::db("reading a print log outbox"))?
        else {
            return Ok(());
        };
        copy_and_pull(&self.inner.orders, &self.inner.logs, outbox_entries(order.get(OUTBOX_FIELD), order_id)).await
    }

    /// Reads log entries matching the given `orderId` and/or `action`, newest first, at most `limit`
    /// (capped at 1000).
    pub async fn logs(&self, order_id: Option<&str>, action: Option<&str>, limit: i64) -> Result<Vec<PrintLog>> {
        self.deliver_before_reading(order_id).await;
        self.read_logs(log_filter(order_id, action), limit).await
    }

    /// Log entries matching `order_id` and/or `action`, newest first, a page at a time: `before` is the
    /// previous page's `next` (at most [`crate::monitor::PAGE_LIMIT`] per page). Ordered by `timestamp`
    /// then `_id`, both descending, and served by the indexes that end in them (`*_timestamp_id`), so no
    /// page is sorted in memory and none skips or repeats an entry.
    pub async fn logs_page(
        &self,
        order_id: Option<&str>,
        action: Option<&str>,
        before: Option<&str>,
        limit: i64,
    ) -> Result<crate::monitor::Page<PrintLog>> {
        use futures::TryStreamExt;
        let limit = limit.clamp(1, crate::monitor::PAGE_LIMIT);
        if before.is_none() {
            // The first page is the one that must be current; later pages are older than any delivery.
            self.deliver_before_reading(order_id).await;
        }
        let mut filter = log_filter(order_id, action);
        if let Some(before) = before {
            let (t, id) = parse_log_cursor(before)?;
            filter
                .insert("$or", vec![doc! { "timestamp": { "$lt": t } }, doc! { "timestamp": t, "_id": { "$lt": id } }]);
        }
        let mut docs: Vec<Document> = self
            .inner
            .logs
            .find(filter)
            .sort(doc! { "timestamp": -1, "_id": -1 })
            .limit(limit + 1)
            .await
            .map_err(Error::db("reading print_logs"))?
            .try_collect()
            .await
            .map_err(Error::db("reading print_logs"))?;
        let next = if docs.len() as i64 > limit {
            docs.truncate(limit as usize);
            docs.last().and_then(|d| {
                let t = d.get_datetime("timestamp").ok()?;
                let id = d.get_object_id("_id").ok()?;
                Some(format!("{}_{}", t.timestamp_millis(), id.to_hex()))
            })
        } else {
            None
        };
        let items = docs
            .into_iter()
            .filter_map(|d| {
                let id = d.get("_id").map(ToString::to_string).unwrap_or_default();
                bson::from_document(d)
                    .map_err(|e| tracing::warn!("reading print_logs: skipped document {id} that cannot be read: {e}"))
                    .ok()
            })
            .collect();
        Ok(crate::monitor::Page { items, next })
    }

    async fn read_logs(&self, filter: Document, limit: i64) -> Result<Vec<PrintLog>> {
        let sort = doc! { "timestamp": -1, "_id": -1 };
        read_typed(&self.inner.logs, filter, sort, limit.clamp(1, 1000), "print_logs").await
    }
}

/// A log page cursor: `<timestamp millis>_<_id hex>` of the last entry of the previous page.
fn parse_log_cursor(cursor: &str) -> Result<(DateTime, ObjectId)> {
    let bad = || Error::InvalidArgument(format!("before: {cursor:?} is not a cursor this call returned (its `next`)"));
    let (t, id) = cursor.split_once('_').ok_or_else(bad)?;
    let t: i64 = t.parse().map_err(|_| bad())?;
    let id = ObjectId::parse_str(id).map_err(|_| bad())?;
    Ok((DateTime::from_millis(t), id))
}

/// Reads documents of `collection` (named `what` in errors) into `T`, sorted, at most `limit`.
pub(super) async fn read_typed<T: serde::de::DeserializeOwned>(
    collection: &mongodb::Collection<Document>,
    filter: Document,
    sort: Document,
    limit: i64,
    what: &str,
) -> Result<Vec<T>> {
    use futures::TryStreamExt;
    let context = format!("reading {what}");
    let docs: Vec<Document> = collection
        .find(filter)
        .sort(sort)
        .limit(limit)
        .await
        .map_err(Error::db(context.clone()))?
        .try_collect()
        .await
        .map_err(Error::db(context))?;
    // One document that cannot be read never fails the read: it is logged and left out.
    Ok(docs
        .into_iter()
        .filter_map(|d| {
            let id = d.get("_id").map(ToString::to_string).unwrap_or_default();
            bson::from_document(d)
                .map_err(|e| tracing::warn!("reading {what}: skipped document {id} that cannot be read: {e}"))
                .ok()
        })
        .collect())
}

/// The log entries of one order and/or one action (both optional).
fn log_filter(order_id: Option<&str>, action: Option<&str>) -> Document {
    let mut filter = Document::new();
    if let Some(o) = order_id {
        filter.insert("orderId", o);
    }
    if let Some(a) = action {
        filter.insert("action", a);
    }
    filter
}
