//! The claim: which order a printer takes next, in one atomic `findOneAndUpdate` (or, for a worker's
//! printers of one kind claiming together, one `update` of their orders, each order taken atomically).
//!
//! Claimable means `pending`, `paymentStatus: 'completed'`, a file, well-formed print fields, no schedule
//! (`printNotBefore` unset: due schedules are released first, see `schedule`), not skipped by this printer
//! and, when the printer's capabilities are known, within them. The order is highest `printPriority` first,
//! then oldest `createdAt`, read on the claim's index ([`CLAIM_INDEX`], [`CLAIM_FIT_INDEX`]) so that no order
//! the printer must skip is read, however many wait. The claim sets `printing`, a fresh `printJobId`,
//! `printingBy`, `printStartedAt`, `printLeaseUntil` and counts the attempt, with its log entry, in the same
//! write.

use super::{parse_order, ClaimTurns, PrintJob, WorkerId};
use crate::audit::{Actor, Entry, Tidy};
use crate::db::clock;
use crate::db::PrintCore;
use crate::error::{Error, Result};
use crate::model::state::Action;
use crate::model::{PrintStatus, PrinterCapabilities};
use bson::{doc, Bson, Document};
use futures::TryStreamExt;
use mongodb::options::{Hint, ReadConcern, ReadPreference, ReturnDocument, SelectionCriteria};
use std::sync::atomic::Ordering;

/// The printer a claim is for, and what it can take.
#[derive(Debug, Clone)]
pub struct ClaimTarget {
    /// The printer's unique id; stored as the order's `printerId`.
    pub printer_id: String,
    /// The printer's name; stored as the order's `printerName`.
    pub printer_name: String,
    /// When given, only orders this printer can take are claimed (page size, colour, duplex, copies).
    pub capabilities: Option<PrinterCapabilities>,
}

/// The printers that found, once the order's file was read, that they cannot take it (its page size): they
/// do not claim it again, and the others do. Cleared by an admin's reprint.
pub const SKIP_FIELD: &str = "printSkipPrinters";

/// What one look at the queue found ([`PrintCore::poll_queue`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueuePoll {
    /// An order one of the printers may claim, or a scheduled order whose time has come.
    pub claimable: bool,
    /// An admin's request to cancel a job at one of the printers.
    pub cancel_requests: bool,
}

/// The index every claim without capabilities reads: equality on status, payment and `printNotBefore`
/// (null: scheduled orders are outside the range until their time comes, see
/// [`PrintCore::release_scheduled`]), then the claim's order. (`claim_order`, the design's index without
/// `printNotBefore`, serves the monitor's list of waiting orders in claim order.)
pub const CLAIM_INDEX: &str = "claim_ready";
/// The index a claim for a printer with known capabilities reads: as [`CLAIM_INDEX`], with colour, duplex
/// and page size before the claim's order, so an order the printer cannot take is outside every range.
pub const CLAIM_FIT_INDEX: &str = "claim_fit";

/// The most index ranges a claim merges: one per combination of the colour, duplex and page-size values
/// the printer takes. MongoDB merges up to 200 sorted ranges (`internalQueryMaxScansToExplode`) and sorts
/// in memory beyond; a printer offering more combinations is claimed for on [`CLAIM_INDEX`], with its
/// capabilities checked on each order read.
pub const MAX_CLAIM_RANGES: usize = 120;

/// The claim's query for a printer with `caps` (or any printer): its filter, sort and index. Every value
/// of the claim's conditions that the index holds is a point, so the read starts at the first order the
/// printer can take: orders scheduled later or needing what the printer lacks are never read, however
/// many wait (issue: bounded keys examined per claim).
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimQuery {
    /// What the claim matches.
    pub filter: Document,
    /// Its order: priority, then age.
    pub sort: Document,
    /// The index name, given to the server as a hint.
    pub index: &'static str,
}

/// The claim's query: pending, paid, not scheduled (due scheduled orders have been released), with a
/// file, well-formed print fields and within the printer's capabilities. Public for the benchmarks, which
/// compare the claim with the bare driver and explain its plan.
pub fn claim_query(caps: Option<&PrinterCapabilities>) -> ClaimQuery {
    let mut filter = doc! {
        "printStatus": PrintStatus::Pending.as_str(),
        "paymentStatus": "completed",
        "printNotBefore": Bson::Null,
    };
    let mut and = vec![has_file()];
    // Never an order whose print fields have a type the print flow cannot use: it would be claimed and
    // then fail; `fail_malformed` fails it with a message naming the field instead. Positive conditions
    // rather than a `$nor` of the malformed ones (see `wellformed_conditions`).
    and.extend(crate::model::wellformed_conditions());
    let mut index = CLAIM_INDEX;
    if let Some(caps) = caps {
        match capability_points(caps) {
            Some(points) => {
                for (field, values) in points {
                    filter.insert(field, doc! { "$in": values });
                }
                and.push(copies_within(caps));
                index = CLAIM_FIT_INDEX;
            }
            None => and.extend(capability_filter(caps)),
        }
    }
    filter.insert("$and", and);
    ClaimQuery { filter, sort: claim_sort(), index }
}

/// The values of colour, duplex and page size a printer with `caps` takes, as points of
/// [`CLAIM_FIT_INDEX`]; `None` when their combinations exceed [`MAX_CLAIM_RANGES`]. Null stands for
/// "not asked" (absent or null); a value of another type is a malformed order, never claimed.
fn capability_points(caps: &PrinterCapabilities) -> Option<Vec<(&'static str, Vec<Bson>)>> {
    let flag = |offered: bool| -> Vec<Bson> {
        let mut v = vec![Bson::Boolean(false), Bson::Null];
        if offered {
            v.push(Bson::Boolean(true));
        }
        v
    };
    let sizes = page_size_values(caps);
    let (color, duplex) = (flag(caps.color), flag(caps.duplex));
    (color.len() * duplex.len() * sizes.len() <= MAX_CLAIM_RANGES).then(|| {
        vec![("printingOptions.color", color), ("printingOptions.duplex", duplex), ("printingOptions.pageSize", sizes)]
    })
}

/// The page sizes a printer with `caps` takes as an order may spell them (as offered, upper and lower
/// case), and null for an order that asks for none.
fn page_size_values(caps: &PrinterCapabilities) -> Vec<Bson> {
    let mut sizes: Vec<Bson> = Vec::new();
    for s in &caps.page_sizes {
        for v in [s.clone(), s.to_uppercase(), s.to_lowercase()] {
            if !sizes.contains(&Bson::String(v.clone())) {
                sizes.push(Bson::String(v));
            }
        }
    }
    sizes.push(Bson::Null);
    sizes
}

fn copies_within(caps: &PrinterCapabilities) -> Document {
    doc! { "printingOptions.copies": { "$not": { "$gt": caps.max_copies } } }
}

/// The server refused the claim's index hint: the index does not exist (code 2, BadValue, "hint provided
/// does not correspond to an existing index"), or a server older than 4.4 does not know the field.
pub(super) fn is_missing_hint(e: &mongodb::error::Error) -> bool {
    matches!(&*e.kind, mongodb::error::ErrorKind::Command(c) if c.message.to_lowercase().contains("hint"))
}

pub(super) fn has_file() -> Document {
    doc! { "$or": [
        { "fileURL": { "$type": "string", "$gt": "" } },
        { "fileURLs.0": { "$type": "string", "$gt": "" } },
    ] }
}

/// The conditions under which a printer with `caps` can take an order: its page size (any case, or none
/// asked), colour, duplex and copies.
pub fn capability_filter(caps: &PrinterCapabilities) -> Vec<Document> {
    let mut and = vec![doc! { "printingOptions.pageSize": { "$in": page_size_values(caps) } }];
    if !caps.color {
        and.push(doc! { "printingOptions.color": { "$ne": true } });
    }
    if !caps.duplex {
        and.push(doc! { "printingOptions.duplex": { "$ne": true } });
    }
    and.push(copies_within(caps));
    and
}

/// The claim's order: highest `printPriority` first, then oldest.
pub fn claim_sort() -> Document {
    doc! { "printPriority": -1, "createdAt": 1 }
}

/// One claim's write for a target, prepared before its order is known.
struct ClaimWrite {
    print_job_id: String,
    /// The claim's query with this printer's skip condition.
    query: ClaimQuery,
    /// The claim's update, a pipeline ([`claim_pipeline`]).
    update: Vec<Document>,
    /// When the claim began, on the monotonic clock (for the job's claim timing).
    started: i64,
    /// What `update` sets, for a round's one write ([`PrintCore::claim_batch`]).
    set: Document,
    /// The claim's log entry `update` pushes to the order's outbox.
    entry: Document,
}

/// The fields a claim sets that differ from one target of a round to the next (the others are the same
/// for every claim of a round: state, owner, start, lease).
const PER_TARGET: [&str; 3] = ["printJobId", "printerId", "printerName"];

/// The fields a claim removes: what the order's last attempt left.
const CLAIM_UNSETS: [&str; 4] = ["printSubmittedAt", "printerJobRef", "printCompletedAt", "printNotBefore"];

/// `value` as itself in an aggregation expression: a string starting with `$` (a printer's name) or a
/// document with `$` keys is never read as a field path or an operator.
fn literal(value: Bson) -> Bson {
    Bson::Document(doc! { "$literal": value })
}

/// The claim's update, as a pipeline: `set` (each value an expression: a [`literal`], or for a round's
/// write a `$switch` by `_id`), the attempt counted, the claim's log `entry` (an expression) appended to
/// the outbox, and what the last attempt left removed.
///
/// A pipeline rather than `$inc` and `$push`: an attempt count that is not a number (`null` from a
/// website's schema default, text) starts again at 1 where `$inc` refuses the order, and would refuse it
/// at every claim, so that an order no claim could take would stay at the head of the queue; likewise an
/// outbox, printcore's own field, that is not an array is replaced. (`$type` rather than `$isNumber`,
/// which MongoDB has only from 4.4; pipeline updates need 4.2.)
fn claim_pipeline(mut set: Document, entry: Bson) -> Vec<Document> {
    let counted = doc! { "$in": [{ "$type": "$printAttempt" }, ["int", "long", "double", "decimal"]] };
    set.insert("printAttempt", doc! { "$add": [{ "$cond": [counted, "$printAttempt", 0] }, 1] });
    let outbox = format!("${}", crate::audit::OUTBOX_FIELD);
    set.insert(
        crate::audit::OUTBOX_FIELD,
        doc! { "$concatArrays": [{ "$cond": [{ "$isArray": &outbox }, &outbox, []] }, [entry]] },
    );
    vec![doc! { "$set": set }, doc! { "$unset": CLAIM_UNSETS.to_vec() }]
}

/// How many candidates a group of `targets` claimers reads at once: one each, and as many again for the
/// ones other claimers take first.
fn candidates_for(targets: usize) -> i64 {
    (targets * 2) as i64
}

/// How many times a ranged claim refused for an order at the size limit looks past the refused orders
/// ([`PrintCore::claim_ranged`]), and how many orders at the head it tries one by one each time.
const REFUSED_ROUNDS: usize = 4;
const REFUSED_WINDOW: i64 = 8;

/// A worker with peers reads this many times more candidates at most ([`PrintCore::claim_all_in_turns`]):
/// enough that peers claiming together mostly find orders of their own turn, few enough that a claim's
/// read stays small (8 printers: 128 `_id`s).
const MAX_PEER_SPREAD: usize = 8;

/// How many orders the claims of one [`PrintCore`] handle tried to take, and how many they took
/// ([`PrintCore::claim_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClaimStats {
    /// Orders a claim write tried to take: one per ranged claim (the next order it finds, if any), one per
    /// order claimed by `_id`, one per order of a round's write.
    pub tried: u64,
    /// Of those, the orders taken. `tried - taken` is the claim's wasted work: a ranged claim that found
    /// nothing, or an order another claimer took first.
    pub taken: u64,
    /// Orders a claim failed where they waited because the database refused to add the claim's fields to
    /// them (too large: [`crate::queue::size`]). The worker counts them as malformed failures.
    pub refused: u64,
}

/// What a round's one write took ([`PrintCore::claim_batch`]).
struct BatchClaim {
    /// The orders taken, as documents after the claim, with their target.
    taken: Vec<(usize, Document)>,
    /// The write failed (part-way or before the server answered): a target whose order did not come back
    /// claims it again by `_id`, which settles whether it can be taken.
    write_failed: bool,
}

/// An order a claim may take, as the shared read saw it.
#[derive(Debug, Clone)]
struct Candidate {
    id: bson::oid::ObjectId,
    /// The printers that found they cannot take it.
    skip: Vec<String>,
    /// Its `printPriority` as stored (the read's sort puts equal values together).
    priority: Bson,
}

/// The order in which a worker with `turns` tries `candidates` (indices into them, read in claim order):
/// claim order when it is alone; otherwise, within each run of equal priority, its turn for each order
/// first and claim order among equal turns.
fn in_turns(candidates: &[Candidate], turns: &ClaimTurns) -> Vec<usize> {
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    if turns.peers().len() <= 1 {
        return order;
    }
    let mut keys = Vec::with_capacity(candidates.len());
    let mut run = 0usize;
    for (j, c) in candidates.iter().enumerate() {
        if j > 0 && c.priority != candidates[j - 1].priority {
            run += 1;
        }
        keys.push((run, turns.turn(&c.id), j));
    }
    order.sort_by_key(|&j| keys[j]);
    order
}

/// A copy of `e` for each claim it ends (a shared read failed for all of them).
fn shared_error(e: &Error) -> Error {
    match e {
        Error::Database { context, source } => Error::Database { context: context.clone(), source: source.clone() },
        other => Error::Aborted(other.to_string()),
    }
}

impl PrintCore {
    /// How many orders this handle's claims tried to take since it was made, and how many they took: the
    /// claim's wasted work is the difference (the worker's `/metrics`, the fleet benchmark).
    pub fn claim_stats(&self) -> ClaimStats {
        let (tried, taken) = self.inner.claim_stats.read();
        ClaimStats { tried, taken, refused: self.inner.claim_stats.refused() }
    }

    /// Claims the next order `target` can print, in one atomic `findOneAndUpdate`: highest `printPriority`
    /// first, then oldest. Returns `None` when there is nothing to print.
    pub async fn claim(&self, worker: &WorkerId, target: &ClaimTarget) -> Result<Option<PrintJob>> {
        let started = clock::monotonic_ms();
        let now = self.now();
        let released = self.release_if_due(started, now).await?;
        let write = self.claim_write(worker, target, now, started);
        let mut claimed = self.claim_ranged(worker, &write).await?;
        // Nothing else to print: a scheduled order whose time has come goes now rather than at the next
        // periodic release.
        if claimed.is_none() && !released && self.release_if_idle(started).await? {
            claimed = self.claim_ranged(worker, &write).await?;
        }
        self.take_claimed(worker, write, claimed).await
    }

    /// Claims one order for each of `targets` side by side (a printer is named once per free job slot) and
    /// returns one result per target, in their order.
    ///
    /// Targets whose printers take the same orders (equal capabilities) share one read of the queue: a
    /// `find` of their next candidates in claim order, on the claim's index. Each target's first choice is
    /// then claimed in one write for all of them (`claim_batch`), each order with the whole claim's filter
    /// (pending, paid, unscheduled, a file, well-formed, within the printer's capabilities, not skipped by
    /// it), so exactly one claimer can take an order, as with [`PrintCore::claim`]: a candidate another
    /// worker took, or that changed, since the read is refused by the database. A target that did not get
    /// its first choice tries the others one by one, each an atomic `findOneAndUpdate` by `_id` with the
    /// same filter; one left without a candidate claims as `claim` does, which also settles "nothing
    /// left". A target alone in its group claims as `claim` does (one round trip).
    ///
    /// Why: a claim's ranged read is its cost; eight printers of one kind read the same range eight times
    /// per eight orders, and on a busy server each read waits for the others (docs/BENCHMARKS.md, drain).
    ///
    /// For a worker with peers (other workers taking the same orders), see
    /// [`PrintCore::claim_all_in_turns`].
    pub async fn claim_all(&self, worker: &WorkerId, targets: &[ClaimTarget]) -> Vec<Result<Option<PrintJob>>> {
        self.claim_all_in_turns(worker, targets, &ClaimTurns::alone(worker)).await
    }

    /// Claims the order with `_id` `order` for `target` if it still waits and the printer can take it: one
    /// atomic `findOneAndUpdate` by `_id` whose filter is the whole claim's (as [`PrintCore::claim`]'s), so
    /// it takes the order only where a claim in claim order could have. `None` when it was taken, changed,
    /// or is not for this printer. For a worker that knows which order it is after (the fallback of the
    /// claim turns): one round trip, and no read of the queue.
    pub async fn claim_order(
        &self,
        worker: &WorkerId,
        target: &ClaimTarget,
        order: &bson::oid::ObjectId,
    ) -> Result<Option<PrintJob>> {
        let started = clock::monotonic_ms();
        let write = self.claim_write(worker, target, self.now(), started);
        let claimed = self.point_claim(worker, &write, order).await?;
        self.take_claimed(worker, write, claimed).await
    }

    /// `write` applied to the order with `_id` `order` alone, with the claim's whole filter: the claimed
    /// document, or `None` when the order was taken, changed, or is not for this printer. An order the
    /// database refuses to add the claim's fields to (at its size limit) is failed where it stands, naming
    /// why, and `None` returned: it never holds up the orders behind it (`size.rs`).
    async fn point_claim(
        &self,
        worker: &WorkerId,
        write: &ClaimWrite,
        order: &bson::oid::ObjectId,
    ) -> Result<Option<Document>> {
        let mut point = write.query.filter.clone();
        point.insert("_id", order);
        let claimed = match self
            .inner
            .orders
            .find_one_and_update(point, write.update.clone())
            .return_document(ReturnDocument::After)
            .await
        {
            Ok(claimed) => claimed,
            Err(e) if crate::error::document_too_large(&e) => {
                self.inner.claim_stats.count(1, 0);
                self.fail_refused(worker, order).await;
                return Ok(None);
            }
            Err(e) => return Err(Error::db(format!("claiming order {order}"))(e)),
        };
        self.inner.claim_stats.count(1, claimed.is_some() as usize);
        Ok(claimed)
    }

    /// The ranged claim ([`PrintCore::claim_hinted`]). When the database refuses it because an order it
    /// would take is at its size limit, the orders at the head are claimed one by one instead
    /// ([`PrintCore::point_claim`], which fails the refused one), and the ranged claim runs again if none
    /// was taken; after [`REFUSED_ROUNDS`] such rounds the refusal is returned (the next claim goes on).
    async fn claim_ranged(&self, worker: &WorkerId, write: &ClaimWrite) -> Result<Option<Document>> {
        for _ in 0..REFUSED_ROUNDS {
            match self.claim_hinted(&write.query, &write.update).await {
                Err(Error::Database { source, .. }) if crate::error::document_too_large(&source) => {
                    for c in self.claim_candidates(&write.query, REFUSED_WINDOW).await? {
                        if let Some(doc) = self.point_claim(worker, write, &c.id).await? {
                            return Ok(Some(doc));
                        }
                    }
                }
                other => return other,
            }
        }
        self.claim_hinted(&write.query, &write.update).await
    }

    /// Fails the waiting order with `_id` `order`, which the database refused to add a claim's fields to,
    /// with a message naming why (`printError` when it fits, and the audit log).
    async fn fail_refused(&self, worker: &WorkerId, order: &bson::oid::ObjectId) {
        let read = self
            .inner
            .orders
            .find_one(doc! { "_id": order })
            .projection(doc! { "orderId": 1 })
            .selection_criteria(SelectionCriteria::ReadPreference(ReadPreference::Primary));
        let id = Bson::ObjectId(*order);
        let order_id = match read.await {
            Ok(Some(d)) => super::malformed::order_id_of(&d, &id),
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(%order, "an order too large to claim could not be read to fail it: {e}");
                return;
            }
        };
        let actor = Actor::Worker(worker.to_string());
        let message = super::size::refused_message(&order_id);
        if self.fail_waiting(&actor, id, order_id, message, doc! { "tooLarge": true }).await.is_some() {
            self.inner.claim_stats.count_refused();
        }
    }

    /// [`PrintCore::claim_all`] for a worker with peers (`turns`): its claims spread over the head of the
    /// queue instead of all peers racing for its first order.
    ///
    /// Alone, a worker takes the candidates in claim order. With peers, every claim reads a wider window
    /// of the queue's head (one candidate per target and as many again, times the peers, up to 8
    /// times), and takes its candidates in the order of its turn for each, within each
    /// priority: first the orders that are its turn 0, then 1, and so on, oldest first among equals. The
    /// peers' turns for an order are a permutation, so each order in the window is the first choice of
    /// about as many peers as there are peers per order in the window, and claims that end together no
    /// longer all try the same order (the wasted `findAndModify` of the fleet bench). An order is never
    /// passed over for long: it stays in every peer's window while it waits, and the peers whose turn it
    /// is early take it before orders behind it that are not theirs. Priority comes first as always: no
    /// turn puts a lower-priority order before a higher one.
    pub async fn claim_all_in_turns(
        &self,
        worker: &WorkerId,
        targets: &[ClaimTarget],
        turns: &ClaimTurns,
    ) -> Vec<Result<Option<PrintJob>>> {
        // Groups of targets with the same claim query (their skip conditions aside).
        let mut groups: Vec<(ClaimQuery, Vec<usize>)> = Vec::new();
        for (i, t) in targets.iter().enumerate() {
            let q = claim_query(t.capabilities.as_ref());
            match groups.iter_mut().find(|(g, _)| *g == q) {
                Some((_, members)) => members.push(i),
                None => groups.push((q, vec![i])),
            }
        }
        let claims = groups.into_iter().map(|(query, members)| async move {
            if members.len() == 1 {
                return vec![(members[0], self.claim(worker, &targets[members[0]]).await)];
            }
            let group: Vec<&ClaimTarget> = members.iter().map(|&i| &targets[i]).collect();
            match self.claim_group(worker, &query, &group, turns).await {
                Ok(results) => members.into_iter().zip(results).collect(),
                Err(e) => members.into_iter().map(|i| (i, Err(shared_error(&e)))).collect(),
            }
        });
        let mut out: Vec<Option<Result<Option<PrintJob>>>> = (0..targets.len()).map(|_| None).collect();
        for (i, r) in futures::future::join_all(claims).await.into_iter().flatten() {
            out[i] = Some(r);
        }
        out.into_iter().map(|r| r.unwrap_or(Ok(None))).collect()
    }

    /// [`PrintCore::claim_all`] for targets sharing `query`: one read of candidates, then one write taking
    /// each target's first choice ([`PrintCore::claim_batch`]), then claims by `_id` for the targets that
    /// did not get theirs. Fails as a whole when the shared read fails (nothing is claimed then), or when
    /// reading back what the round's write took fails twice: the orders it took then wait for their lease
    /// to run out, as after a claim whose answer was lost.
    async fn claim_group(
        &self,
        worker: &WorkerId,
        query: &ClaimQuery,
        targets: &[&ClaimTarget],
        turns: &ClaimTurns,
    ) -> Result<Vec<Result<Option<PrintJob>>>> {
        let started = clock::monotonic_ms();
        let now = self.now();
        let released = self.release_if_due(started, now).await?;
        let limit = candidates_for(targets.len()) * turns.peers().len().clamp(1, MAX_PEER_SPREAD) as i64;
        let mut candidates = self.claim_candidates(query, limit).await?;
        if candidates.is_empty() && !released && self.release_if_idle(started).await? {
            candidates = self.claim_candidates(query, limit).await?;
        }
        if candidates.is_empty() {
            // The read saw nothing any of them can take: as a claim that finds nothing.
            return Ok(targets.iter().map(|_| Ok(None)).collect());
        }
        // The read saw every order these printers could take: a target left without a candidate has nothing
        // to claim (an order paid since wakes the worker again), rather than reading the range once more.
        let complete = (candidates.len() as i64) < limit;
        let order = in_turns(&candidates, turns);
        // Target k starts at the k-th candidate in this worker's order (`in_turns`), and goes on round the
        // list, so side-by-side claims do not all race for the first; together they take the first ones.
        let lists: Vec<Vec<bson::oid::ObjectId>> = targets
            .iter()
            .enumerate()
            .map(|(k, target)| {
                if complete && k >= candidates.len() {
                    return Vec::new();
                }
                (0..order.len())
                    .map(|j| &candidates[order[(k + j) % order.len()]])
                    .filter(|c| !c.skip.iter().any(|p| p == &target.printer_id))
                    .map(|c| c.id)
                    .collect()
            })
            .collect();
        // Each target's first choice that no target before it chose: all of them are claimed in one write.
        let mut chosen: Vec<bson::oid::ObjectId> = Vec::new();
        let mut first: Vec<Option<bson::oid::ObjectId>> = Vec::with_capacity(targets.len());
        for list in &lists {
            let pick = list.iter().find(|id| !chosen.contains(id)).copied();
            chosen.extend(pick);
            first.push(pick);
        }
        let writes: Vec<ClaimWrite> = targets.iter().map(|t| self.claim_write(worker, t, now, started)).collect();
        let batch: Vec<(usize, bson::oid::ObjectId)> =
            first.iter().enumerate().filter_map(|(k, id)| id.map(|id| (k, id))).collect();
        let mut got: Vec<Option<Document>> = (0..targets.len()).map(|_| None).collect();
        // With one first choice, or when the round's write failed, a target claims its first choice by
        // `_id` itself.
        let mut retry_first = batch.len() == 1;
        if batch.len() > 1 {
            let round = self.claim_batch(query, &writes, &batch).await?;
            for (k, doc) in round.taken {
                got[k] = Some(doc);
            }
            retry_first = round.write_failed;
        }
        let claims = writes.into_iter().zip(lists).zip(got).enumerate().map(|(k, ((write, list), doc))| {
            // A target whose first choice went to another claimer tries the candidates no target chose, as
            // point claims; with one first choice in the round, or after the round's write failed, it
            // claims its first choice so too.
            let tries: Vec<bson::oid::ObjectId> = first[k]
                .filter(|_| retry_first)
                .into_iter()
                .chain(list.into_iter().filter(|id| !chosen.contains(id)))
                .collect();
            async move {
                if doc.is_some() {
                    return self.take_claimed(worker, write, doc).await;
                }
                for id in tries {
                    let claimed = self.point_claim(worker, &write, &id).await?;
                    if claimed.is_some() {
                        return self.take_claimed(worker, write, claimed).await;
                    }
                }
                if complete {
                    return Ok(None);
                }
                // Every candidate went to another claim: the ranged claim, as `claim` makes it.
                let claimed = self.claim_ranged(worker, &write).await?;
                self.take_claimed(worker, write, claimed).await
            }
        });
        Ok(futures::future::join_all(claims).await)
    }

    /// The first choices of a round's targets (`batch`: target index and order `_id`), claimed in one
    /// `update` of all of them and one read of what it took: each order with the claim's whole filter and
    /// its target's skip condition, as [`PrintCore::claim_order`] would claim it alone, and each set as
    /// that target's claim sets it (a pipeline update, the per-target values chosen by `_id`). A write
    /// applies to each order atomically, so an order a peer took since the read is not taken, exactly as a
    /// point claim's `findOneAndUpdate` would find nothing. Returns the orders taken, as documents after
    /// the claim, with their target.
    ///
    /// Why: a claim's filter (the well-formedness guards, the capabilities) is what costs a server most
    /// per claim, not the write; one write for the round pays it once instead of once per printer
    /// (docs/BENCHMARKS.md, drain).
    async fn claim_batch(
        &self,
        query: &ClaimQuery,
        writes: &[ClaimWrite],
        batch: &[(usize, bson::oid::ObjectId)],
    ) -> Result<BatchClaim> {
        let ids: Vec<bson::oid::ObjectId> = batch.iter().map(|(_, id)| *id).collect();
        let points: Vec<Document> = batch
            .iter()
            .map(|(k, id)| doc! { "_id": id, SKIP_FIELD: { "$ne": &writes[*k].set.get_str("printerId").unwrap_or_default() } })
            .collect();
        let filter = doc! { "$and": [query.filter.clone(), { "$or": points }] };
        // Every value as a literal: a printer's name or a log entry is never read as an expression.
        let by_id = |value: &dyn Fn(&ClaimWrite) -> Bson| {
            let branches: Vec<Document> = batch
                .iter()
                .map(|(k, id)| doc! { "case": { "$eq": ["$_id", id] }, "then": literal(value(&writes[*k])) })
                .collect();
            doc! { "$switch": { "branches": branches, "default": Bson::Null } }
        };
        let common = &writes[batch[0].0].set;
        let mut set = Document::new();
        for (field, value) in common {
            if PER_TARGET.contains(&field.as_str()) {
                set.insert(field, by_id(&|w| w.set.get(field).cloned().unwrap_or(Bson::Null)));
            } else {
                set.insert(field, literal(value.clone()));
            }
        }
        let pipeline = claim_pipeline(set, Bson::Document(by_id(&|w| Bson::Document(w.entry.clone()))));
        // The write may fail part-way (an order of the round the update cannot apply to, a connection
        // lost after the server applied it): what it took is read back all the same, and each target whose
        // order did not come back claims it, and then the others, one by one.
        let write_failed = match self.inner.orders.update_many(filter, pipeline).await {
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(orders = ?ids, "a round's claim write failed ({e}); reading what it took, claiming the rest one by one");
                true
            }
        };
        // On the primary with local read concern whatever the connection string asks: the orders this
        // write just took must be seen, or they would wait for their lease to run out with no job. The
        // documents may have changed since the write (an admin's cancel request); the print task's
        // writes are fenced on what the claim set, as after `findOneAndUpdate`.
        let job_ids: Vec<&str> = batch.iter().map(|(k, _)| writes[*k].print_job_id.as_str()).collect();
        let read_back = || async {
            self.inner
                .orders
                .find(doc! { "_id": { "$in": &ids }, "printJobId": { "$in": &job_ids } })
                .selection_criteria(SelectionCriteria::ReadPreference(ReadPreference::Primary))
                .read_concern(ReadConcern::local())
                .await?
                .try_collect::<Vec<Document>>()
                .await
        };
        // A read that fails is tried once more: the orders the write took are claimed, and only a job
        // started for each frees them before their lease runs out.
        let taken = match read_back().await {
            Ok(taken) => taken,
            Err(e) => {
                tracing::warn!(orders = ?ids, "reading back a round's claims failed ({e}); trying again");
                read_back().await.map_err(Error::db("reading the orders a claim took"))?
            }
        };
        let taken: Vec<(usize, Document)> = taken
            .into_iter()
            .filter_map(|doc| {
                let job = doc.get_str("printJobId").ok()?;
                let k = batch.iter().map(|(k, _)| *k).find(|k| writes[*k].print_job_id == job)?;
                Some((k, doc))
            })
            .collect();
        // A write that failed tried only the orders it took; the others are tried again one by one, and
        // counted there.
        self.inner.claim_stats.count(if write_failed { taken.len() } else { batch.len() }, taken.len());
        Ok(BatchClaim { taken, write_failed })
    }

    /// The next `limit` orders `query` matches, in claim order, on its index: their `_id`, skip list and
    /// priority.
    async fn claim_candidates(&self, query: &ClaimQuery, limit: i64) -> Result<Vec<Candidate>> {
        let read = |hinted: bool| {
            let action = self
                .inner
                .orders
                .find(query.filter.clone())
                .sort(query.sort.clone())
                .limit(limit)
                .projection(doc! { "_id": 1, SKIP_FIELD: 1, "printPriority": 1 })
                // From the primary, whatever the connection string prefers: a secondary behind it would
                // not show an order just paid, and a caller takes a read that saw nothing to mean nothing
                // waits (a worker then claims again only on the next event).
                .selection_criteria(SelectionCriteria::ReadPreference(ReadPreference::Primary));
            async move {
                let cursor = if hinted { action.hint(Hint::Name(query.index.to_owned())).await } else { action.await }?;
                cursor.try_collect::<Vec<Document>>().await
            }
        };
        let docs = self.with_claim_hint(query, read).await.map_err(Error::db("reading the orders to claim"))?;
        Ok(docs
            .into_iter()
            .filter_map(|d| {
                let id = d.get_object_id("_id").ok()?;
                let skip = d
                    .get_array(SKIP_FIELD)
                    .map(|a| a.iter().filter_map(|b| b.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                let priority = d.get("printPriority").cloned().unwrap_or(Bson::Null);
                Some(Candidate { id, skip, priority })
            })
            .collect())
    }

    /// Releases due scheduled orders when the periodic release or a backoff this process wrote is due;
    /// whether it ran.
    async fn release_if_due(&self, started: i64, now: bson::DateTime) -> Result<bool> {
        let due = self.inner.releases.due(started, now);
        if due {
            self.release_scheduled().await?;
        }
        Ok(due)
    }

    /// After a claim found nothing: releases due scheduled orders (at most every idle period); whether any
    /// was released, so the claim looks again.
    async fn release_if_idle(&self, started: i64) -> Result<bool> {
        Ok(self.inner.releases.idle_due(started) && self.release_scheduled().await? > 0)
    }

    /// The claim's write for `target`: `printing`, a fresh `printJobId`, the owner, the lease, the attempt
    /// and the claim's log entry in the order's outbox.
    fn claim_write(&self, worker: &WorkerId, target: &ClaimTarget, now: bson::DateTime, started: i64) -> ClaimWrite {
        let print_job_id = uuid::Uuid::new_v4().to_string();
        let lease_until = clock::add(now, self.inner.config.lease);
        let actor = Actor::Worker(worker.to_string());
        // Which order is claimed is known only after the update, so the outbox entry goes in without its
        // orderId; delivery (here, or the outbox sweep after a crash) fills it in from the order.
        let mut entry = Entry {
            action: Action::Claim,
            order_id: "",
            print_job_id: Some(&print_job_id),
            previous: Some(PrintStatus::Pending),
            new: PrintStatus::Printing,
            actor: &actor,
            reason: None,
            metadata: doc! { "printerId": &target.printer_id },
        }
        .build(now);
        entry.remove("orderId");
        let set = doc! {
            "printStatus": PrintStatus::Printing.as_str(),
            "printJobId": &print_job_id,
            "printingBy": worker.as_str(),
            "printStartedAt": now,
            "printLeaseUntil": lease_until,
            "printerId": &target.printer_id,
            "printerName": &target.printer_name,
        };
        let literals: Document = set.iter().map(|(k, v)| (k.clone(), literal(v.clone()))).collect();
        let update = claim_pipeline(literals, literal(Bson::Document(entry.clone())));
        let mut query = claim_query(target.capabilities.as_ref());
        // Not an order this printer already found it cannot take once its file was read (a page size it
        // lacks): the other printers get it ([`PrintJob::give_to_other_printers`]).
        query.filter.insert(SKIP_FIELD, doc! { "$ne": &target.printer_id });
        ClaimWrite { print_job_id, query, update, started, set, entry }
    }

    /// The job for an order a claim took (`claimed`), with the claim's log entries delivered.
    async fn take_claimed(
        &self,
        worker: &WorkerId,
        write: ClaimWrite,
        claimed: Option<Document>,
    ) -> Result<Option<PrintJob>> {
        let Some(mut doc) = claimed else { return Ok(None) };
        // An order that leaves no room for printcore's record of the print: the print flow fails it, naming
        // its size, before anything is downloaded (`size.rs`).
        let bytes = super::size::document_bytes(&doc);
        let outbox = doc.remove(crate::audit::OUTBOX_FIELD);
        let mut order = parse_order(doc)?;
        order.problems.extend(super::size::size_problem(bytes));
        // The outbox as the claim left it: its own entry, and those it takes over (what the transitions that
        // queued the order left there, already copied by their writers as a rule: a second copy is refused as
        // a duplicate), all pulled together, in the same write to this order. Only entries printcore wrote
        // (an ObjectId `_id`) are taken.
        let entries: Vec<Document> = crate::audit::outbox_entries(outbox.as_ref(), &order.order_id)
            .into_iter()
            .filter(|e| matches!(e.get("_id"), Some(Bson::ObjectId(_))))
            .collect();
        self.inner.delivery.deliver(entries, Tidy::Pull).await;
        let attempt = order.print_attempt.unwrap_or(1);
        Ok(Some(PrintJob::new(self, worker, write.print_job_id, attempt, order, write.started)))
    }

    /// The claim's `findOneAndUpdate` with its index as a hint; without it on a database the migration has
    /// not prepared.
    async fn claim_hinted(&self, query: &ClaimQuery, update: &[Document]) -> Result<Option<Document>> {
        let claimed = self
            .with_claim_hint(query, |hinted| self.claim_with(query, update.to_vec(), hinted))
            .await
            .map_err(Error::db("claiming an order"))?;
        self.inner.claim_stats.count(1, claimed.is_some() as usize);
        Ok(claimed)
    }

    /// Runs a read of the claim's index with the index as a hint (`run(true)`) and, when the server refuses
    /// the hint because the index is missing, without it from then on (correct, but it reads past what it
    /// skips), saying once what to run.
    async fn with_claim_hint<T, F, Fut>(&self, query: &ClaimQuery, run: F) -> mongodb::error::Result<T>
    where
        F: Fn(bool) -> Fut,
        Fut: std::future::Future<Output = mongodb::error::Result<T>>,
    {
        let hinted = !self.inner.claim_unhinted.load(Ordering::Relaxed);
        match run(hinted).await {
            Err(e) if hinted && is_missing_hint(&e) => {
                if !self.inner.claim_unhinted.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "the orders collection has no index {}: claims read past the orders they skip until the migration has run (`worker migrate`)",
                        query.index
                    );
                }
                run(false).await
            }
            other => other,
        }
    }

    async fn claim_with(
        &self,
        query: &ClaimQuery,
        update: Vec<Document>,
        hinted: bool,
    ) -> mongodb::error::Result<Option<Document>> {
        let action = self
            .inner
            .orders
            .find_one_and_update(query.filter.clone(), update)
            .sort(query.sort.clone())
            .return_document(ReturnDocument::After);
        if hinted {
            action.hint(Hint::Name(query.index.to_owned())).await
        } else {
            action.await
        }
    }

    /// The server's plan for the claim `target` would make now, with execution statistics (`explain` of
    /// the claim's own `findAndModify`, which changes nothing): how many index keys and orders it reads.
    pub async fn explain_claim(&self, target: &ClaimTarget) -> Result<Document> {
        let query = claim_query(target.capabilities.as_ref());
        let command = doc! {
            "explain": {
                "findAndModify": self.inner.orders.name(),
                "query": query.filter,
                "sort": query.sort,
                "update": { "$set": { "printStatus": PrintStatus::Printing.as_str() } },
                "hint": query.index,
            },
            "verbosity": "executionStats",
        };
        self.inner.db.run_command(command).await.map_err(Error::db("explaining the claim"))
    }

    /// One look at the queue for a worker that cannot watch it (no change streams): whether any of
    /// `targets` has an order to claim (or a scheduled one has come due), and whether an admin asked to
    /// cancel a job at one of them. One `find` for all printers, each branch on its own index, however
    /// many printers the worker drives (ARCHITECTURE.md, "Idle cost").
    pub async fn poll_queue(&self, targets: &[ClaimTarget]) -> Result<QueuePoll> {
        if targets.is_empty() {
            return Ok(QueuePoll::default());
        }
        let request = format!("{}.requestedAt", crate::model::CANCEL_REQUEST_FIELD);
        let printer_ids: Vec<&str> = targets.iter().map(|t| t.printer_id.as_str()).collect();
        let mut branches: Vec<Document> = targets
            .iter()
            .map(|t| {
                let mut q = claim_query(t.capabilities.as_ref());
                q.filter.insert(SKIP_FIELD, doc! { "$ne": &t.printer_id });
                q.filter
            })
            .collect();
        branches.push(doc! {
            "printStatus": PrintStatus::Pending.as_str(),
            "paymentStatus": "completed",
            "printNotBefore": { "$lte": self.now() },
        });
        branches.push(doc! { &request: { "$exists": true }, "printerId": { "$in": &printer_ids } });
        let docs: Vec<Document> = self
            .inner
            .orders
            .find(doc! { "$or": branches })
            .projection(doc! { "_id": 0, &request: 1 })
            .limit(16)
            .await
            .map_err(Error::db("looking at the queue"))?
            .try_collect()
            .await
            .map_err(Error::db("looking at the queue"))?;
        let is_request = |d: &Document| d.get_document(crate::model::CANCEL_REQUEST_FIELD).is_ok();
        Ok(QueuePoll { claimable: docs.iter().any(|d| !is_request(d)), cancel_requests: docs.iter().any(is_request) })
    }
}

impl PrintCore {
    /// The active printers (of all workers) the rejection pass judges by, or `None` when it must judge
    /// nothing: a rejection is permanent, so only from a complete view (no printer, a printer document
    /// that cannot be read, or a printer whose capabilities are not known yet, which may fit anything).
    pub(crate) async fn rejection_printers(&self) -> Result<Option<Vec<crate::model::Printer>>> {
        let (printers, unreadable) = self.read_printers().await?;
        let printers: Vec<crate::model::Printer> =
            printers.into_iter().filter(|p| p.is_active != Some(false)).collect();
        if printers.is_empty() || !unreadable.is_empty() || printers.iter().any(|p| p.capabilities.is_none()) {
            return Ok(None);
        }
        Ok(Some(printers))
    }

    /// Fails each of `orders` (paid, pending orders [`unprintable_conditions`] matched) with a message that
    /// says what each printer offers, fenced on its being still paid and pending. Returns (orderId,
    /// message) per rejected order; an order whose write fails is logged and left for the next round.
    pub(crate) async fn reject_orders(
        &self,
        worker: &WorkerId,
        printers: &[crate::model::Printer],
        orders: Vec<crate::model::Order>,
    ) -> Result<Vec<(String, String)>> {
        let actor = Actor::Worker(worker.to_string());
        let mut rejected = Vec::new();
        for order in orders {
            let skipped: Vec<&str> = order
                .extra
                .get_array(SKIP_FIELD)
                .map(|a| a.iter().filter_map(Bson::as_str).collect())
                .unwrap_or_default();
            let reasons: Vec<String> = printers
                .iter()
                .filter_map(|p| {
                    let name = if p.name.is_empty() { p.printer_id.as_str() } else { p.name.as_str() };
                    if skipped.contains(&p.printer_id.as_str()) {
                        return Some(format!(
                            "printer '{name}' cannot take its file ({})",
                            order.print_error.as_deref().unwrap_or("found when it read the file")
                        ));
                    }
                    crate::files::check_capabilities(&order, &[], name, p.capabilities.as_ref()?)
                        .err()
                        .map(|e| e.to_string())
                })
                .collect();
            let message = format!("no active printer can take this order: {}", reasons.join("; "));
            let id = Bson::ObjectId(order.id);
            if let Some(done) = self.fail_waiting(&actor, id, order.order_id, message, Document::new()).await {
                rejected.push(done);
            }
        }
        Ok(rejected)
    }
}

/// The conditions under which no printer of `printers` can take a well-formed order with a file: a
/// printer fits an order when its capabilities take the order's options and it has not found that it
/// cannot take the order's file (`printSkipPrinters`). Every printer must have known capabilities
/// ([`PrintCore::rejection_printers`]).
pub(crate) fn unprintable_conditions(printers: &[crate::model::Printer]) -> Document {
    let nor: Vec<Document> = printers
        .iter()
        .filter_map(|p| {
            let mut and = capability_filter(p.capabilities.as_ref()?);
            and.push(doc! { SKIP_FIELD: { "$ne": &p.printer_id } });
            Some(doc! { "$and": and })
        })
        .collect();
    doc! { "$and": [ has_file(), { "$nor": nor }, { "$nor": crate::model::malformed_conditions() } ] }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(priorities: &[i32]) -> Vec<Candidate> {
        priorities
            .iter()
            .map(|p| Candidate { id: bson::oid::ObjectId::new(), skip: Vec::new(), priority: Bson::Int32(*p) })
            .collect()
    }

    #[test]
    fn a_worker_alone_takes_candidates_in_claim_order_and_peers_take_different_first_ones() {
        let window = candidates(&[0; 32]);
        let alone = ClaimTurns::of("pc-a", &["pc-a"]);
        assert_eq!(in_turns(&window, &alone), (0..32).collect::<Vec<_>>());
        let names: Vec<String> = (0..16).map(|i| format!("pc-{i:02}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut distinct = 0;
        for _ in 0..50 {
            let window = candidates(&[0; 32]);
            let mut firsts = std::collections::HashSet::new();
            for me in &names {
                let turns = ClaimTurns::of(me, &names);
                let order = in_turns(&window, &turns);
                let mut sorted = order.clone();
                sorted.sort();
                assert_eq!(sorted, (0..32).collect::<Vec<_>>(), "every candidate once");
                // Turns never go down along the order, and equal turns keep claim order.
                let keys: Vec<(usize, usize)> = order.iter().map(|&j| (turns.turn(&window[j].id), j)).collect();
                assert!(keys.windows(2).all(|k| k[0] < k[1]), "{me}: {keys:?}");
                firsts.insert(order[0]);
            }
            distinct += firsts.len();
        }
        // In claim order all 16 would try candidate 0 first. By turns, each candidate is the turn 0 of one
        // peer, so peers with a turn 0 in the window (about 7 in 8 of them) all start apart.
        let mean = distinct as f64 / 50.0;
        assert!(mean >= 12.0, "16 peers started at {mean:.1} different candidates on average");
    }

    #[test]
    fn turns_never_put_an_order_before_one_of_higher_priority() {
        let window = candidates(&[9, 9, 9, 5, 0, 0, 0, 0]);
        let names = ["pc-a", "pc-b", "pc-c", "pc-d", "pc-e"];
        for me in names {
            let order = in_turns(&window, &ClaimTurns::of(me, &names));
            let mut head: Vec<usize> = order[..3].to_vec();
            head.sort();
            assert_eq!(head, [0, 1, 2], "{me}: {order:?}");
            assert_eq!(order[3], 3, "{me}: {order:?}");
        }
    }

    #[test]
    fn a_claim_for_a_printer_reads_only_the_index_points_it_can_take() {
        let caps = PrinterCapabilities { page_sizes: vec!["A4".into()], color: false, duplex: true, max_copies: 5 };
        let q = claim_query(Some(&caps));
        assert_eq!(q.index, CLAIM_FIT_INDEX);
        let points = |f: &str| q.filter.get_document(f).unwrap().get_array("$in").unwrap().clone();
        assert_eq!(points("printingOptions.color"), [Bson::Boolean(false), Bson::Null]);
        assert_eq!(points("printingOptions.duplex"), [Bson::Boolean(false), Bson::Null, Bson::Boolean(true)]);
        assert_eq!(points("printingOptions.pageSize"), [Bson::from("A4"), Bson::from("a4"), Bson::Null]);
        assert_eq!(q.filter.get("printNotBefore"), Some(&Bson::Null), "scheduled orders are outside the range");
        assert!(!format!("{:?}", q.filter).contains("$nor"), "the guard is written positively");
        // Any printer: the index without capabilities.
        let any = claim_query(None);
        assert_eq!(any.index, CLAIM_INDEX);
        assert!(!any.filter.contains_key("printingOptions.color"));
    }

    #[test]
    fn a_printer_offering_too_many_combinations_is_claimed_for_with_its_conditions_checked_on_each_order() {
        let sizes = ["A3", "A4", "A5", "B4", "B5", "Letter", "Legal", "Tabloid", "Executive", "Statement", "Folio"];
        let caps = PrinterCapabilities {
            page_sizes: sizes.iter().map(|s| s.to_string()).collect(),
            color: true,
            duplex: true,
            max_copies: 5,
        };
        let q = claim_query(Some(&caps));
        assert_eq!(q.index, CLAIM_INDEX);
        let s = format!("{:?}", q.filter.get_array("$and").unwrap());
        assert!(
            s.contains("printingOptions.pageSize") && s.contains("\"Tabloid\"") && s.contains("printingOptions.copies")
        );
    }
}
