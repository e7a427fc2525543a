//! Whose turn a paid order is, when many workers share one database.
//!
//! A change stream brings every paid order to every worker. If each woke and claimed, a fleet of N workers
//! would make N claims for each order, N - 1 of them for nothing, all racing on the same documents (the
//! herd). Instead the workers that take the same orders (their printers' claim queries are the same set:
//! their *peers*) put themselves in an order for each order by rendezvous hashing of the order's `_id` and
//! each worker's id ([`ClaimTurns::turn`]). Every worker computes the same order from the same `printers`
//! documents, without talking to the others:
//!
//! - turn 0 claims at once;
//! - the next few turns are the fallback (the worker decides how many and how long): turn k, when it has
//!   a free printer, claims the order by its `_id` after k delays if it still waits
//!   ([`PrintCore::claim_order`](crate::PrintCore::claim_order): one `findAndModify`, nothing read), as
//!   when turn 0's worker died without its printers going stale yet, its printers were all busy, or they
//!   skip the order;
//! - the other turns leave the order to those, to the claims every worker makes when a job ends, and to
//!   the sweep.
//!
//! Nothing here decides who gets an order: the claim's conditional write does, as always, so turns that
//! disagree (two workers that read `printers` at different times) cost a lost race or a delay, never a
//! second print. A worker whose printers take other orders than this worker's (another page size, colour)
//! is not a peer: each kind of worker has its own turn 0, and an order one kind cannot print is never left
//! waiting on it.

use super::claim::{claim_query, ClaimQuery};
use super::WorkerId;
use crate::db::PrintCore;
use crate::error::Result;
use crate::model::{Printer, PrinterStatus};
use bson::oid::ObjectId;
use bson::DateTime;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The workers that take the same orders as this one, in the order of their ids (this one among them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimTurns {
    me: String,
    peers: Vec<String>,
}

impl ClaimTurns {
    /// A worker with no peers: every order is its turn 0.
    pub fn alone(me: &WorkerId) -> ClaimTurns {
        ClaimTurns { me: me.as_str().to_owned(), peers: vec![me.as_str().to_owned()] }
    }

    /// The turns as `me` sees them in `printers` (one read of the collection) at `now`.
    ///
    /// A worker counts when it has a printer that may take orders now: online or busy, switched on
    /// (`isActive`) and printing by itself (`autoPrintEnabled`), and checked by its worker within `silence`
    /// of `now` (a worker that stopped writing health is gone). Its kind is the set of claim queries of
    /// those printers; the peers are the workers of `me`'s kind. `me`'s own printers are judged the same
    /// way from the same documents, so every worker of a kind computes the same peers. `me` is always a
    /// peer of itself: with printers of no kind yet (not recorded, all offline), it has no peers and every
    /// order is its turn 0.
    pub fn from_printers(me: &WorkerId, printers: &[Printer], now: DateTime, silence: Duration) -> ClaimTurns {
        let fresh = |p: &Printer| {
            p.health_checked_at.is_some_and(|t| {
                let age = now.timestamp_millis().saturating_sub(t.timestamp_millis());
                age <= silence.as_millis().min(i64::MAX as u128) as i64
            })
        };
        let claiming = |p: &Printer| {
            matches!(p.status, Some(PrinterStatus::Online | PrinterStatus::Busy))
                && p.is_active != Some(false)
                && p.auto_print_enabled != Some(false)
                && fresh(p)
        };
        // Each worker's kind: the distinct claim queries of its claiming printers.
        let mut kinds: Vec<(&str, Vec<ClaimQuery>)> = Vec::new();
        for p in printers.iter().filter(|p| claiming(p)) {
            let Some(worker) = p.worker_id.as_deref().filter(|w| !w.is_empty()) else { continue };
            let query = claim_query(p.capabilities.as_ref());
            match kinds.iter_mut().find(|(w, _)| *w == worker) {
                Some((_, qs)) => {
                    if !qs.contains(&query) {
                        qs.push(query)
                    }
                }
                None => kinds.push((worker, vec![query])),
            }
        }
        let same = |a: &[ClaimQuery], b: &[ClaimQuery]| a.len() == b.len() && a.iter().all(|q| b.contains(q));
        let me_str = me.as_str();
        let Some((_, mine)) = kinds.iter().find(|(w, _)| *w == me_str) else {
            return ClaimTurns::alone(me);
        };
        let mut peers: Vec<String> =
            kinds.iter().filter(|(_, k)| same(k, mine)).map(|(w, _)| (*w).to_owned()).collect();
        peers.sort();
        ClaimTurns { me: me_str.to_owned(), peers }
    }

    /// `me` among `peers` (tests).
    #[cfg(test)]
    pub(crate) fn of(me: &str, peers: &[&str]) -> ClaimTurns {
        let mut peers: Vec<String> = peers.iter().map(|p| (*p).to_owned()).collect();
        peers.sort();
        ClaimTurns { me: me.to_owned(), peers }
    }

    /// The peers' ids, this worker's among them, sorted.
    pub fn peers(&self) -> &[String] {
        &self.peers
    }

    /// This worker's place for `order`: 0 claims first, then 1, 2... as the fallback. The same order of peers for an
    /// order on every worker with the same peers, spread evenly over them across orders.
    pub fn turn(&self, order: &ObjectId) -> usize {
        if self.peers.len() <= 1 {
            return 0;
        }
        let mine = (score(order, &self.me), self.me.as_str());
        self.peers.iter().filter(|p| **p != self.me && (score(order, p), p.as_str()) > mine).count()
    }

    /// The peers in their turns for `order`: the first claims at once.
    pub fn ranking(&self, order: &ObjectId) -> Vec<&str> {
        let mut ranked: Vec<(u64, &str)> = self.peers.iter().map(|p| (score(order, p), p.as_str())).collect();
        ranked.sort_by(|a, b| b.cmp(a));
        ranked.into_iter().map(|(_, p)| p).collect()
    }
}

impl PrintCore {
    /// The turns as `me` sees them now: one read of `printers` ([`ClaimTurns::from_printers`]).
    pub async fn claim_turns(&self, me: &WorkerId, silence: Duration) -> Result<ClaimTurns> {
        let printers = self.printers().await?;
        Ok(ClaimTurns::from_printers(me, &printers, self.now(), silence))
    }
}

/// The rendezvous score of `worker` for `order`: the first 8 bytes of SHA-256 over both, the same on every
/// platform and in every version of this crate.
fn score(order: &ObjectId, worker: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(order.bytes());
    h.update(worker.as_bytes());
    let digest = h.finalize();
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes of a SHA-256 digest"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PrinterCapabilities;

    fn printer(id: &str, worker: &str, caps: PrinterCapabilities, checked: DateTime) -> Printer {
        let doc = bson::doc! {
            "printer_id": id,
            "status": "online",
            "workerId": worker,
            "capabilities": bson::to_bson(&caps).unwrap(),
            "health_checked_at": checked,
        };
        bson::from_document(doc).unwrap()
    }

    fn worker(s: &str) -> WorkerId {
        WorkerId::from_string(s).unwrap()
    }

    #[test]
    fn each_order_has_exactly_one_first_and_one_fallback_among_peers_and_orders_spread_evenly() {
        let now = DateTime::now();
        let names = ["pc-a", "pc-b", "pc-c", "pc-d", "pc-e"];
        let printers: Vec<Printer> = names
            .iter()
            .flat_map(|w| (0..2).map(move |i| (w, i)))
            .map(|(w, i)| printer(&format!("{w}-{i}"), w, PrinterCapabilities::default(), now))
            .collect();
        let turns: Vec<ClaimTurns> = names
            .iter()
            .map(|w| ClaimTurns::from_printers(&worker(w), &printers, now, Duration::from_secs(300)))
            .collect();
        for t in &turns {
            assert_eq!(t.peers(), &names.map(str::to_owned), "every worker sees the same peers");
        }
        let mut firsts = vec![0usize; names.len()];
        for _ in 0..5000 {
            let order = ObjectId::new();
            let mut places: Vec<usize> = turns.iter().map(|t| t.turn(&order)).collect();
            for (t, place) in turns.iter().zip(&places) {
                assert_eq!(t.ranking(&order)[*place], t.me, "ranking and turn agree");
            }
            firsts[places.iter().position(|&p| p == 0).unwrap()] += 1;
            places.sort();
            assert_eq!(places, vec![0, 1, 2, 3, 4], "the turns of one order are a permutation");
        }
        // 1,000 each expected; a share off by more than 20% would mean the hash favours some ids.
        for (w, n) in names.iter().zip(&firsts) {
            assert!((800..=1200).contains(n), "{w} was first for {n} of 5000 orders: {firsts:?}");
        }
    }

    #[test]
    fn workers_of_another_kind_gone_quiet_switched_off_or_offline_are_not_peers() {
        let now = DateTime::now();
        let old = DateTime::from_millis(now.timestamp_millis() - 600_000);
        let colour = PrinterCapabilities { color: true, ..Default::default() };
        let mut printers = vec![
            printer("a0", "pc-a", PrinterCapabilities::default(), now),
            printer("b0", "pc-b", PrinterCapabilities::default(), now),
            // Another kind: colour.
            printer("c0", "pc-c", colour.clone(), now),
            // Quiet for ten minutes.
            printer("d0", "pc-d", PrinterCapabilities::default(), old),
            printer("e0", "pc-e", PrinterCapabilities::default(), now),
            printer("f0", "pc-f", PrinterCapabilities::default(), now),
            printer("g0", "pc-g", PrinterCapabilities::default(), now),
            // pc-h has one printer of each kind: a kind of its own.
            printer("h0", "pc-h", PrinterCapabilities::default(), now),
            printer("h1", "pc-h", colour, now),
        ];
        printers[5].is_active = Some(false);
        printers[6].auto_print_enabled = Some(false);
        printers[4].status = Some(PrinterStatus::Offline);
        let silence = Duration::from_secs(300);
        let a = ClaimTurns::from_printers(&worker("pc-a"), &printers, now, silence);
        assert_eq!(a.peers(), ["pc-a", "pc-b"]);
        let c = ClaimTurns::from_printers(&worker("pc-c"), &printers, now, silence);
        assert_eq!(c.peers(), ["pc-c"]);
        let h = ClaimTurns::from_printers(&worker("pc-h"), &printers, now, silence);
        assert_eq!(h.peers(), ["pc-h"]);
        // A worker whose printers are not recorded (or none claims) is alone: always first.
        let z = ClaimTurns::from_printers(&worker("pc-z"), &printers, now, silence);
        assert_eq!(z.peers(), ["pc-z"]);
        let d = ClaimTurns::from_printers(&worker("pc-d"), &printers, now, silence);
        assert_eq!(d.peers(), ["pc-d"]);
        for _ in 0..100 {
            let o = ObjectId::new();
            assert_eq!(c.turn(&o), 0);
            assert_eq!(z.turn(&o), 0);
            assert!(a.turn(&o) <= 1);
        }
    }
}
