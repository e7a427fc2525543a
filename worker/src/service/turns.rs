//! Whose turn a paid order is ([`printcore::ClaimTurns`]): with other print PCs whose printers take the
//! same orders, a paid order's change-stream event makes one PC claim at once (turn 0), and the next
//! [`FALLBACK_TURNS`] claim it by its `_id` if it still waits (one `findAndModify` with the claim's whole
//! filter, which finds nothing once it was taken), turn k after k times the fallback delay (the larger of
//! `intervals.claim_fallback` and four times this PC's recent claim time), when they have a free printer;
//! the others leave it to them, to the claims a PC makes when a job ends while an order may wait for it
//! (its event, or its fallback look, found this PC's printers for it busy: `Owed` in `claim.rs`), and to
//! the sweep. So a shop
//! of up to four PCs never leaves an order waiting on busy or stopped PCs while another is free, and a
//! fleet pays at most three commands an order for it, never a read of the queue. The peers are read from `printers` with the switches (a printer changed by an admin, a
//! printer added) and at each sweep.

use super::Worker;
use bson::oid::ObjectId;
use printcore::ClaimTurns;
use std::cmp::Reverse;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// How many turns after the first look again whether an order still waits.
pub const FALLBACK_TURNS: usize = 3;

/// At most this many fallback looks wait at once; beyond it an order is left to the claims made when a
/// job ends and to the sweep (a burst of this size keeps every printer busy anyway).
const MAX_FALLBACKS: usize = 10_000;

/// The fallback looks waiting, earliest first.
pub(super) type Fallbacks = std::collections::BinaryHeap<Reverse<(Instant, ObjectId)>>;

impl Worker {
    /// How long a peer may go without writing its printers' health before it no longer counts: three
    /// times this worker's own interval between unchanged health writes, and at least a minute.
    fn peer_silence(&self) -> Duration {
        (self.intervals.health_record * 3).max(Duration::from_secs(60))
    }

    /// The turns as the `printers` documents in `printers` show them now.
    pub(super) fn set_turns(&self, printers: &[printcore::Printer]) {
        let turns = ClaimTurns::from_printers(&self.id, printers, self.core.now(), self.peer_silence());
        let mut current = self.turns.lock().unwrap();
        if current.peers() != turns.peers() {
            match turns.peers().len() {
                0 | 1 => info!("no other print PC takes the same orders: this one claims every paid order at once"),
                n => info!(
                    "{} other print PCs take the same orders: each paid order is one PC's to claim, another's after {:?}",
                    n - 1,
                    self.intervals.claim_fallback
                ),
            }
        }
        *current = turns;
    }

    /// Reads `printers` and sets the turns from it.
    pub async fn refresh_turns(&self) -> printcore::Result<()> {
        let printers = self.core.printers().await?;
        self.set_turns(&printers);
        Ok(())
    }

    /// The turns in force (tests, the status page).
    pub fn claim_turns(&self) -> ClaimTurns {
        self.turns.lock().unwrap().clone()
    }

    /// A change may have made `order` printable: claim now when it is this worker's turn, look again
    /// after `turn` times the fallback delay when it is one of the next [`FALLBACK_TURNS`], else leave it
    /// to its peers.
    pub(super) fn order_printable(&self, order: ObjectId) {
        let turn = self.turns.lock().unwrap().turn(&order);
        match turn {
            0 => {
                // Every printer busy: the order waits for a job's end here. (With a printer of another
                // kind free, the claim pass this wakes owes it: `after_claims`.)
                if !self.has_free_slot() {
                    self.owe_claim();
                }
                self.wake.notify_one()
            }
            1..=FALLBACK_TURNS => {
                let mut waiting = self.fallbacks.lock().unwrap();
                if waiting.len() < MAX_FALLBACKS {
                    let at = Instant::now() + self.fallback_delay() * turn as u32;
                    waiting.push(Reverse((at, order)));
                } else {
                    self.owe_claim();
                }
                drop(waiting);
                self.fallback_wake.notify_one();
            }
            _ => {}
        }
    }

    /// When the next fallback look is due.
    pub(super) fn next_fallback(&self) -> Option<Instant> {
        self.fallbacks.lock().unwrap().peek().map(|Reverse((at, _))| *at)
    }

    /// The fallback looks that are due: while a printer has a free job slot, claims each order by its `_id`
    /// if it still waits (one `findAndModify`, the claim's whole filter: nothing is read when it was
    /// taken). Returns how many were claimed.
    pub(super) async fn fallbacks_due(self: &Arc<Self>) -> usize {
        let now = Instant::now();
        let due: Vec<ObjectId> = {
            let mut waiting = self.fallbacks.lock().unwrap();
            let mut due = Vec::new();
            while waiting.peek().is_some_and(|Reverse((at, _))| *at <= now) {
                if let Some(Reverse((_, order))) = waiting.pop() {
                    due.push(order);
                }
            }
            due
        };
        let mut claimed = 0;
        for order in due {
            if self.shutdown.is_shutdown() {
                break;
            }
            // Paused, or every printer busy: the orders still due wait for a job's end (or the pause's).
            if self.claims_paused() || !self.has_free_slot() {
                self.owe_claim();
                break;
            }
            claimed += usize::from(self.claim_order(order).await);
        }
        claimed
    }

    /// Claims `order` for a free printer of this worker that can take it, one printer of each kind (their
    /// claim queries) at most, and starts printing it. Whether it was claimed.
    async fn claim_order(self: &Arc<Self>, order: ObjectId) -> bool {
        let mut tried: Vec<printcore::queue::ClaimQuery> = Vec::new();
        for slot in &self.slots {
            if !slot.may_claim() {
                continue;
            }
            let kind = slot.claim_query();
            if tried.contains(&kind) {
                continue;
            }
            let Ok(permit) = slot.permits.clone().try_acquire_owned() else { continue };
            tried.push(kind);
            let target = slot.claim_target();
            let claiming = Instant::now();
            let result = self.core.claim_order(&self.id, &target, &order).await;
            self.claim_took(claiming.elapsed());
            match result {
                Ok(Some(job)) => {
                    tracing::debug!(%order, "the order still waited after the fallback delay: claimed");
                    crate::stats::claimed(&slot.identity.printer_id);
                    self.spawn_print(slot.clone(), job, permit);
                    return true;
                }
                Ok(None) => {}
                Err(e) => {
                    warn!(printer_id = %slot.identity.printer_id, "claim failed: {e}");
                    self.owe_claim();
                }
            }
        }
        // A printer that could not look (its slots full) and takes other orders than those that did may
        // be the one this order waits for: its job's end claims.
        let unasked = self.slots.iter().any(|slot| slot.may_claim() && !tried.contains(&slot.claim_query()));
        if unasked {
            self.owe_claim();
        }
        false
    }

    /// Records how long a claim took: the fallback's delays stretch with it (see [`Worker::fallback_delay`]).
    pub(super) fn claim_took(&self, took: Duration) {
        crate::stages::add(crate::stages::Stage::Claim, took);
        let mut recent = self.claim_latency.lock().unwrap();
        // A moving average over about the last eight claims.
        *recent = (*recent * 7 + took) / 8;
    }

    /// How long turn 1 waits before it looks: `intervals.claim_fallback`, or four times this worker's recent
    /// claim time when that is longer. A database slow to answer is slow for the PC whose turn 0 it is too;
    /// a fallback that looked after a fixed delay would then find most orders still waiting and add claims
    /// to the load that slowed them (the fleet bench at N = 50 sent 8.7 `findAndModify` an order so).
    pub(super) fn fallback_delay(&self) -> Duration {
        self.intervals.claim_fallback.max(*self.claim_latency.lock().unwrap() * 4)
    }

    /// Whether a printer that may take orders has a free job slot.
    fn has_free_slot(&self) -> bool {
        self.slots.iter().any(|s| s.may_claim() && s.permits.available_permits() > 0)
    }
}
