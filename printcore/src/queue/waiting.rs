//! The checks of the waiting orders: orders whose print fields have a type the claim cannot use
//! (`malformed.rs`) and orders no active printer can take (`claim.rs`, `unprintable_conditions`) are
//! failed with a message naming the field or what each printer offers.
//!
//! Both checks look at every paid, pending order, so they walk the waiting orders one window at a time:
//! a pass reads at most `window` orders of the index `printStatus_id` (`printStatus` then `_id`), in
//! the `_id` range after where the last pass stopped ([`WaitingWalk`]), and judges only those. One
//! `aggregate` a pass reads the window in index order (`$match`, `$sort` and `$limit` on the index: at
//! most `window` keys and documents, however many orders wait) and answers, in one document (`$facet`),
//! the window's size, first and last `_id` and the `_id`s each check matched; only the orders to fail
//! are then read whole. The window that reaches the last `_id` ends a round: the next pass starts again
//! at the oldest, and this one also looks for waiting orders whose `_id` is not an ObjectId (outside the
//! walk, whose ranges are ObjectId ranges), on the same index, once a round.
//!
//! So a pass costs the database about the same whether ten or a million orders wait, and an order is
//! judged within one round of the walk: about `waiting / window` passes.

use super::claim::unprintable_conditions;
use super::with_hint;
use super::WorkerId;
use crate::db::PrintCore;
use crate::error::{Error, Result};
use crate::model::{malformed_conditions, PrintStatus};
use bson::oid::ObjectId;
use bson::{doc, Bson, Document};
use mongodb::options::Hint;

/// The index the walk reads: `printStatus` then `_id` (created by the migration).
pub const WAITING_INDEX: &str = "printStatus_id";

/// How many waiting orders one pass of the worker's checks reads.
pub const WAITING_WINDOW: i64 = 1000;

/// Where the checks of the waiting orders are in their walk, and how wide a range of `_id`s the next
/// window asks for.
///
/// An ObjectId is read as a 96-bit number (its bytes, big-endian: the order the database compares them
/// in). A window is the range `[from, from + span)` of that number, and the read takes at most `window`
/// orders of it in order. The `span` is what the last window found, scaled to hold about `window`
/// orders: a window that filled up ends the range at its last order, one that did not grows it (by the
/// orders it held, or far when it held none). So the range a pass asks for holds about a window's
/// orders, which matters on a server that reads a whole range whatever its limit (ARCHITECTURE.md, test
/// server quirks); on MongoDB the limit alone bounds the read. A round starts with the whole range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingWalk {
    /// The lowest `_id` of the next window (as a number); `None` at the start of a round.
    from: Option<u128>,
    /// How wide a range the next window asks for.
    span: u128,
}

/// The numbers an ObjectId can be: 2^96.
const ALL_IDS: u128 = 1 << 96;

/// How far an empty window grows the next one: 2^16 times.
const EMPTY_GROWTH: u128 = 1 << 16;

impl Default for WaitingWalk {
    fn default() -> Self {
        Self { from: None, span: ALL_IDS }
    }
}

impl WaitingWalk {
    /// A walk at the oldest waiting order.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the next pass starts a round (at the oldest waiting order).
    pub fn at_start(&self) -> bool {
        self.from.is_none()
    }

    /// The next window's range: its lowest `_id` and the `_id` it ends before (`None`: no end).
    fn range(&self) -> (u128, Option<u128>) {
        let from = self.from.unwrap_or(0);
        let end = from.saturating_add(self.span.max(1));
        (from, (end < ALL_IDS).then_some(end))
    }

    /// Moves on to just after `id`, asking for as wide a range as before (a check stopped at its limit
    /// there).
    fn resume_after(&mut self, id: u128) {
        if id + 1 >= ALL_IDS {
            *self = Self::default();
        } else {
            self.from = Some(id + 1);
        }
    }

    /// Moves on after a window that read `read` orders of at most `window`, from `first` to `last`.
    fn advance(&mut self, window: u64, read: u64, first_last: Option<(u128, u128)>) {
        let (from, end) = self.range();
        match (read >= window, first_last, end) {
            // Full, at the last ObjectId there can be: nothing can follow, the round is over.
            (true, Some((_, last)), _) if last + 1 >= ALL_IDS => *self = Self::default(),
            // Full: the next window starts after its last order and asks for as wide a range as its
            // orders took.
            (true, Some((first, last)), _) => {
                self.from = Some(last + 1);
                self.span = last.saturating_sub(first).saturating_add(1);
            }
            // The whole rest was read: the round is over.
            (_, _, None) => *self = Self::default(),
            // Not full: the next range starts at this one's end, scaled to hold about a window.
            (_, _, Some(end)) => {
                let used = end - from;
                self.from = Some(end);
                self.span = if read == 0 {
                    used.saturating_mul(EMPTY_GROWTH)
                } else {
                    used.saturating_mul(u128::from(window)) / u128::from(read)
                }
                .clamp(1, ALL_IDS);
            }
        }
    }
}

fn id_number(id: &ObjectId) -> u128 {
    let mut bytes = [0u8; 16];
    bytes[4..].copy_from_slice(&id.bytes());
    u128::from_be_bytes(bytes)
}

fn id_of(number: u128) -> ObjectId {
    let bytes = number.to_be_bytes();
    let mut id = [0u8; 12];
    id.copy_from_slice(&bytes[4..]);
    ObjectId::from_bytes(id)
}

/// Which checks a pass makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitingChecks {
    /// Fail orders whose print fields have a type the claim cannot use.
    pub malformed: bool,
    /// Fail orders no active printer can take (judged only from a complete view of the printers).
    pub unprintable: bool,
}

impl WaitingChecks {
    /// Both checks.
    pub const ALL: WaitingChecks = WaitingChecks { malformed: true, unprintable: true };
}

/// What one pass of the checks found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WaitingChecked {
    /// (orderId, message) per order failed for a print field the claim cannot use.
    pub malformed: Vec<(String, String)>,
    /// (orderId, message) per order failed because no active printer can take it.
    pub rejected: Vec<(String, String)>,
    /// Waiting orders in the window read (at most the window asked for).
    pub read: u64,
    /// The window reached the newest waiting order: the next pass starts a new round.
    pub round_done: bool,
    /// Whether the printers were complete enough to judge which orders no printer can take.
    pub judged_unprintable: bool,
}

impl PrintCore {
    /// One pass of the checks of the waiting orders: reads the next window of at most `window` paid or
    /// unpaid pending orders in `walk`'s next range (index `printStatus_id`), fails those of them `checks`
    /// asks for (at most `limit` of each kind), and moves `walk` on. When a check matched `limit` orders,
    /// the next pass starts right after the last of them, so it reads the rest of that window. An order
    /// whose write fails is logged and judged again in the next round.
    pub async fn check_waiting(
        &self,
        worker: &WorkerId,
        walk: &mut WaitingWalk,
        window: i64,
        checks: WaitingChecks,
        limit: i64,
    ) -> Result<WaitingChecked> {
        let (window, limit) = (window.max(1), limit.max(1));
        let printers = if checks.unprintable { self.rejection_printers().await? } else { None };
        let pipeline = waiting_pipeline(walk, window, checks.malformed, printers.as_deref(), limit);
        let found = self.read_window(pipeline).await?;
        let mut checked = WaitingChecked { judged_unprintable: printers.is_some(), ..Default::default() };
        let summary = found.get_array("window").ok().and_then(|a| a.first()).and_then(Bson::as_document);
        checked.read = summary.and_then(|s| s.get("n")).and_then(as_count).unwrap_or(0);
        let last = summary.and_then(|s| s.get_object_id("last").ok());
        let first = summary.and_then(|s| s.get_object_id("first").ok());
        let ids = |facet: &str| -> Vec<Bson> {
            found
                .get_array(facet)
                .map(|a| a.iter().filter_map(|d| d.as_document()?.get("_id").cloned()).collect())
                .unwrap_or_default()
        };
        let malformed_ids = ids("malformed");
        let unprintable_ids = if printers.is_some() { ids("unprintable") } else { Vec::new() };
        // Where the walk goes next. A check that matched `limit` orders may have more in this window, after
        // the last it matched (the matches come in `_id` order): the next pass starts right after that
        // one, whatever became of the writes (another worker's pass may have failed some meanwhile).
        let cut = [&malformed_ids, &unprintable_ids]
            .into_iter()
            .filter(|matched| matched.len() as i64 >= limit)
            .filter_map(|matched| matched.iter().filter_map(Bson::as_object_id).map(|id| id_number(&id)).max())
            .min();
        let mut next = walk.clone();
        match cut {
            Some(cut) => next.resume_after(cut),
            None => {
                next.advance(window as u64, checked.read, first.zip(last).map(|(f, l)| (id_number(&f), id_number(&l))))
            }
        }
        checked.round_done = next.at_start();
        if !malformed_ids.is_empty() {
            let docs = self
                .find_waiting_docs(doc! { "_id": { "$in": malformed_ids } }, None, limit, "reading malformed orders")
                .await?;
            checked.malformed = self.fail_malformed_docs(worker, docs).await?;
        }
        if let (Some(printers), false) = (&printers, unprintable_ids.is_empty()) {
            let docs = self
                .find_waiting_docs(
                    doc! { "_id": { "$in": unprintable_ids } },
                    None,
                    limit,
                    "reading orders no printer can take",
                )
                .await?;
            let orders = super::parse_orders(docs, "reading orders no printer can take");
            checked.rejected = self.reject_orders(worker, printers, orders).await?;
        }
        let left = limit - checked.malformed.len() as i64;
        if checked.round_done && checks.malformed && left > 0 {
            // Once a round: orders whose `_id` is not an ObjectId are outside the walk's ranges.
            let docs = self
                .find_waiting_docs(
                    doc! { "_id": { "$not": { "$type": "objectId" } } },
                    Some(WAITING_INDEX),
                    left,
                    "looking for orders whose _id is not an ObjectId",
                )
                .await?;
            checked.malformed.extend(self.fail_malformed_docs(worker, docs).await?);
        }
        *walk = next;
        Ok(checked)
    }

    /// `explain` (executionStats) of the read of one pass of [`PrintCore::check_waiting`] from `walk`:
    /// the keys and documents it examines, for tests and for checking a deployment's plan.
    pub async fn explain_waiting(&self, walk: &WaitingWalk, window: i64) -> Result<Document> {
        let printers = self.rejection_printers().await?;
        let pipeline = waiting_pipeline(walk, window.max(1), true, printers.as_deref(), 50);
        let command = doc! {
            "explain": { "aggregate": self.inner.orders.name(), "pipeline": pipeline, "cursor": {}, "hint": WAITING_INDEX },
            "verbosity": "executionStats",
        };
        self.inner.db.run_command(command).await.map_err(Error::db("explaining the checks of the waiting orders"))
    }

    /// Fails paid, pending orders whose print fields the claim cannot use, each with a message naming the
    /// field and the value found (`printError`, and the log's reason): one whole round of the walk, at
    /// most `limit` orders. Returns (orderId, message) per failed order. An admin fixes the field and
    /// reprints the order.
    pub async fn fail_malformed(&self, worker: &WorkerId, limit: i64) -> Result<Vec<(String, String)>> {
        let checks = WaitingChecks { malformed: true, unprintable: false };
        Ok(self.check_round(worker, checks, limit).await?.malformed)
    }

    /// Fails paid, pending orders that no active printer can take, with a message that says what each
    /// printer offers: one whole round of the walk, at most `limit` orders. Printers come from `printers`
    /// (all workers'), so an order waits while any active printer anywhere fits it; while a printer's
    /// capabilities are not known yet (it may fit anything) nothing is rejected. Returns (orderId,
    /// message) per rejected order.
    pub async fn reject_unprintable(&self, worker: &WorkerId, limit: i64) -> Result<Vec<(String, String)>> {
        let checks = WaitingChecks { malformed: false, unprintable: true };
        Ok(self.check_round(worker, checks, limit).await?.rejected)
    }

    async fn check_round(&self, worker: &WorkerId, checks: WaitingChecks, limit: i64) -> Result<WaitingChecked> {
        let mut walk = WaitingWalk::new();
        let mut all = WaitingChecked::default();
        loop {
            let left = limit.max(1) - (all.malformed.len() + all.rejected.len()) as i64;
            let pass = self.check_waiting(worker, &mut walk, WAITING_WINDOW, checks, left).await?;
            all.malformed.extend(pass.malformed);
            all.rejected.extend(pass.rejected);
            all.read += pass.read;
            all.judged_unprintable = pass.judged_unprintable;
            if (all.malformed.len() + all.rejected.len()) as i64 >= limit.max(1)
                || pass.round_done
                || !pass.judged_unprintable && !checks.malformed
            {
                all.round_done = pass.round_done;
                return Ok(all);
            }
        }
    }

    /// Runs the walk's `aggregate` on [`WAITING_INDEX`] (unhinted where the index is missing) and returns
    /// its one document.
    async fn read_window(&self, pipeline: Vec<Document>) -> Result<Document> {
        use futures::TryStreamExt;
        let run = |hint: Option<Hint>| {
            let action = self.inner.orders.aggregate(pipeline.clone());
            let action = match hint {
                Some(h) => action.hint(h),
                None => action,
            };
            async move { action.await?.try_collect::<Vec<Document>>().await }
        };
        let docs =
            with_hint(Some(WAITING_INDEX), run).await.map_err(Error::db("reading a window of the waiting orders"))?;
        Ok(docs.into_iter().next().unwrap_or_default())
    }

    /// Paid, pending orders matching `filter` as stored, at most `limit`, on `hint` when given.
    async fn find_waiting_docs(
        &self,
        mut filter: Document,
        hint: Option<&str>,
        limit: i64,
        context: &str,
    ) -> Result<Vec<Document>> {
        filter.insert("printStatus", PrintStatus::Pending.as_str());
        filter.insert("paymentStatus", "completed");
        self.find_order_docs_on(filter, None, hint, limit, context).await
    }
}

/// The walk's read: the next `window` pending orders after `walk`'s place in `_id` order (on
/// [`WAITING_INDEX`]), summed up as the window's size and last `_id`, and the `_id`s of at most `limit`
/// paid ones matching each check (`malformed`; `printers` given: no printer can take it).
fn waiting_pipeline(
    walk: &WaitingWalk,
    window: i64,
    malformed: bool,
    printers: Option<&[crate::model::Printer]>,
    limit: i64,
) -> Vec<Document> {
    let (from, end) = walk.range();
    let mut range = doc! { "$gte": id_of(from) };
    if let Some(end) = end {
        range.insert("$lt", id_of(end));
    }
    let ids = |condition: Document| -> Bson {
        let mut filter = doc! { "paymentStatus": "completed" };
        filter.extend(condition);
        Bson::Array(vec![
            doc! { "$match": filter }.into(),
            doc! { "$limit": limit }.into(),
            doc! { "$project": { "_id": 1 } }.into(),
        ])
    };
    let mut facet = doc! {
        "window": [ { "$group": { "_id": Bson::Null, "first": { "$min": "$_id" }, "last": { "$max": "$_id" }, "n": { "$sum": 1 } } } ],
    };
    if malformed {
        facet.insert("malformed", ids(doc! { "$or": malformed_conditions() }));
    }
    if let Some(printers) = printers {
        facet.insert("unprintable", ids(unprintable_conditions(printers)));
    }
    vec![
        doc! { "$match": { "printStatus": PrintStatus::Pending.as_str(), "_id": range } },
        doc! { "$sort": { "_id": 1 } },
        doc! { "$limit": window },
        doc! { "$facet": facet },
    ]
}

fn as_count(v: &Bson) -> Option<u64> {
    match v {
        Bson::Int32(n) => u64::try_from(*n).ok(),
        Bson::Int64(n) => u64::try_from(*n).ok(),
        Bson::Double(n) if *n >= 0.0 => Some(*n as u64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_id_reads_as_the_number_the_database_orders_it_by() {
        let a = ObjectId::parse_str("000000010000000000000002").unwrap();
        let b = ObjectId::parse_str("ff0000000000000000000001").unwrap();
        assert_eq!(id_number(&a), (1u128 << 64) + 2);
        assert!(id_number(&a) < id_number(&b));
        assert_eq!(id_of(id_number(&b)), b);
        assert_eq!(id_of(ALL_IDS - 1), ObjectId::parse_str("ffffffffffffffffffffffff").unwrap());
    }

    #[test]
    fn a_walk_asks_for_about_a_window_of_ids_and_ends_its_round_at_the_last_id() {
        let mut walk = WaitingWalk::new();
        assert_eq!(walk.range(), (0, None), "a round starts with every _id");
        // A full window of 1,000 from 3,000 to 5,000: the next starts after it, as wide as its orders.
        walk.advance(1000, 1000, Some((3000, 5000)));
        assert_eq!(walk.range(), (5001, Some(7002)));
        assert!(!walk.at_start());
        // 250 found in that range: the next is four times as wide.
        walk.advance(1000, 250, Some((5001, 7000)));
        assert_eq!(walk.range(), (7002, Some(7002 + 4 * 2001)));
        // None found: far wider, never past the last ObjectId.
        walk.advance(1000, 0, None);
        let (from, end) = walk.range();
        assert_eq!(from, 7002 + 4 * 2001);
        assert_eq!(end, Some(from + 4 * 2001 * EMPTY_GROWTH));
        for _ in 0..10 {
            walk.advance(1000, 0, None);
        }
        assert_eq!(walk.range().1, None, "grown to the end of the ids");
        // Not full with no end: the round is over and the next starts with every _id again.
        walk.advance(1000, 3, Some((ALL_IDS - 9, ALL_IDS - 1)));
        assert!(walk.at_start());
        assert_eq!(walk.range(), (0, None));
        // A full window at the very last ids still moves on, and the next ends the round.
        let mut walk = WaitingWalk { from: Some(ALL_IDS - 10), span: ALL_IDS };
        walk.advance(5, 5, Some((ALL_IDS - 10, ALL_IDS - 6)));
        assert_eq!(walk.range(), (ALL_IDS - 5, None));
        walk.advance(5, 0, None);
        assert!(walk.at_start());
        // A check stopped at its limit: the next window starts right after its last match, as wide as before.
        let mut walk = WaitingWalk { from: Some(100), span: 50 };
        walk.resume_after(120);
        assert_eq!(walk.range(), (121, Some(171)));
        walk.resume_after(ALL_IDS - 1);
        assert!(walk.at_start(), "nothing follows the last ObjectId");
        // A full window whose last order has the last ObjectId there can be ends the round.
        let mut walk = WaitingWalk { from: Some(ALL_IDS - 10), span: 20 };
        walk.advance(5, 5, Some((ALL_IDS - 5, ALL_IDS - 1)));
        assert!(walk.at_start());
    }
}
