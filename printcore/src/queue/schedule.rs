//! Paying an order into the queue (priority, schedule) and releasing scheduled orders when due.
//!
//! [`PrintCore::mark_paid`] is the one way into the queue. A scheduled order (`printNotBefore`) stays out of
//! the claim's index range until its time; a claim releases due ones first, every [`RELEASE_EVERY`] in a
//! busy queue, at most every [`IDLE_RELEASE_EVERY`] when it finds nothing, and at once when a schedule this
//! process wrote comes due.

use super::claim::{is_missing_hint, CLAIM_INDEX};
use super::validate_order_id;
use crate::audit::{Actor, Entry};
use crate::db::clock;
use crate::db::PrintCore;
use crate::db::Releases;
use crate::error::{Error, Result};
use crate::model::state::Action;
use crate::model::PrintStatus;
use bson::{doc, Bson, DateTime, Document};
use mongodb::options::Hint;

/// Options of [`PrintCore::mark_paid`].
#[derive(Debug, Clone, Default)]
pub struct MarkPaid {
    /// Higher prints first; default 0.
    pub priority: Option<i64>,
    /// Do not print before this time (scheduled printing). From then it waits in its place by priority
    /// (released at the worker's next claim, within 30 s in a busy queue). A time already past is none.
    pub not_before: Option<DateTime>,
}

/// What [`PrintCore::mark_paid`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkPaidOutcome {
    /// The order entered the print queue.
    Queued,
    /// It was already waiting in the queue; its priority and schedule were updated.
    AlreadyQueued,
    /// It is past the queue (printing, printed, failed or cancelled); nothing changed.
    Unchanged(PrintStatus),
}

/// How often claims release due scheduled orders ([`PrintCore::release_scheduled`]) while they keep
/// finding orders to print: a due scheduled order waits at most this long in a busy queue.
pub const RELEASE_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// A claim that finds nothing releases due scheduled orders (and claims again if it released any), at most
/// this often: on an idle printer a scheduled order prints at the first claim after its time (the next
/// change or poll), and a backoff this process wrote is released as soon as it has passed.
pub const IDLE_RELEASE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl Releases {
    /// Whether a claim at monotonic `mono_ms` and server time `now` releases first: the first claim, every
    /// [`RELEASE_EVERY`], and when a schedule this process wrote has come.
    pub(super) fn due(&self, mono_ms: i64, now: DateTime) -> bool {
        let s = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let every = RELEASE_EVERY.as_millis() as i64;
        s.last.is_none_or(|last| mono_ms - last >= every) || s.earliest.is_some_and(|t| t <= now.timestamp_millis())
    }

    /// Whether a claim that found nothing at monotonic `mono_ms` releases (and claims again).
    pub(super) fn idle_due(&self, mono_ms: i64) -> bool {
        let s = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        s.last.is_none_or(|last| mono_ms - last >= IDLE_RELEASE_EVERY.as_millis() as i64)
    }

    pub(super) fn done(&self, mono_ms: i64, now: DateTime) {
        let mut s = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        s.last = Some(mono_ms);
        s.earliest = s.earliest.filter(|t| *t > now.timestamp_millis());
    }

    /// This process wrote a schedule (`printNotBefore`) at `at`.
    pub(crate) fn note(&self, at: DateTime) {
        let mut s = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let t = at.timestamp_millis();
        s.earliest = Some(s.earliest.map_or(t, |e| e.min(t)));
    }
}

impl PrintCore {
    /// Records the website's payment: `paymentStatus: 'completed'`, `paidAt` and `printStatus: 'pending'`
    /// in one atomic write. On an order already in the queue it only updates priority and schedule; on an
    /// order that is printing, printed, failed or cancelled it changes nothing.
    pub async fn mark_paid(&self, order_id: &str, options: &MarkPaid) -> Result<MarkPaidOutcome> {
        validate_order_id(order_id)?;
        let now = self.now();
        // Paid while queued (the website set pending first, or the payment webhook came twice): no
        // transition, and only what the caller passed changes. A repeated webhook must not reset the
        // schedule, the backoff of a retry (`printNotBefore`) or the priority to defaults.
        let mut passed = doc! { "paymentStatus": "completed" };
        if let Some(p) = options.priority {
            passed.insert("printPriority", p);
        }
        // A schedule that has already come is none: the claim reads only orders without one.
        let not_before = options.not_before.filter(|t| t.timestamp_millis() > now.timestamp_millis());
        if let Some(t) = not_before {
            passed.insert("printNotBefore", t);
            self.inner.releases.note(t);
        }
        let mut refresh = doc! { "$set": passed.clone() };
        if options.not_before.is_some() && not_before.is_none() {
            refresh.insert("$unset", doc! { "printNotBefore": "" });
        }

        // Entering the queue: the defaults for what the caller did not pass.
        let mut fresh_set = passed;
        fresh_set.insert("printStatus", PrintStatus::Pending.as_str());
        fresh_set.insert("paidAt", now);
        fresh_set.insert("printAttempt", 0);
        if !fresh_set.contains_key("printPriority") {
            fresh_set.insert("printPriority", 0);
        }
        let mut update = doc! { "$set": fresh_set };
        if not_before.is_none() {
            update.insert("$unset", doc! { "printNotBefore": "" });
        }
        let entry = Entry {
            action: Action::MarkPaid,
            order_id,
            print_job_id: None,
            previous: None,
            new: PrintStatus::Pending,
            actor: &Actor::System("website"),
            reason: Some("payment completed"),
            metadata: Document::new(),
        }
        .build(now);
        if self.apply(doc! { "orderId": order_id, "printStatus": Bson::Null }, update, entry).await? {
            return Ok(MarkPaidOutcome::Queued);
        }
        let r = self
            .inner
            .orders
            .update_one(doc! { "orderId": order_id, "printStatus": PrintStatus::Pending.as_str() }, refresh)
            .await
            .map_err(Error::db("marking an order paid"))?;
        if r.matched_count > 0 {
            return Ok(MarkPaidOutcome::AlreadyQueued);
        }
        match self.status_of(order_id).await? {
            Some(status) => Ok(MarkPaidOutcome::Unchanged(status)),
            // Not found, or found with a status that is no longer pending: read says which.
            None => Err(Error::NotFound { order_id: order_id.to_owned() }),
        }
    }

    /// Makes the paid, pending orders whose `printNotBefore` has come claimable, by removing it: the claim
    /// reads only orders without one, so that orders scheduled later are never read (at any backlog).
    /// Claims call this every [`RELEASE_EVERY`] while they find orders, when one finds nothing (at most
    /// every [`IDLE_RELEASE_EVERY`]) and as soon as a backoff this process wrote has passed. Returns how
    /// many were released.
    pub async fn release_scheduled(&self) -> Result<u64> {
        let now = self.now();
        let filter = doc! {
            "printStatus": PrintStatus::Pending.as_str(),
            "paymentStatus": "completed",
            "printNotBefore": { "$lte": now },
        };
        let r = self
            .inner
            .orders
            .update_many(filter, doc! { "$unset": { "printNotBefore": "" } })
            .await
            .map_err(Error::db("releasing scheduled orders whose time has come"))?;
        self.inner.releases.done(clock::monotonic_ms(), now);
        Ok(r.modified_count)
    }

    /// When the next scheduled order (paid, pending, with `printNotBefore`) comes due, in server time:
    /// the worker sleeps until then instead of asking every few seconds. One read of the claim's index.
    pub async fn next_scheduled(&self) -> Result<Option<DateTime>> {
        let filter = doc! {
            "printStatus": PrintStatus::Pending.as_str(),
            "paymentStatus": "completed",
            "printNotBefore": { "$type": "date" },
        };
        let next = self
            .inner
            .orders
            .find_one(filter)
            .sort(doc! { "printNotBefore": 1 })
            .projection(doc! { "_id": 0, "printNotBefore": 1 })
            .hint(Hint::Name(CLAIM_INDEX.to_owned()))
            .await;
        let next = match next {
            Err(e) if is_missing_hint(&e) => {
                self.inner
                    .orders
                    .find_one(doc! {
                        "printStatus": PrintStatus::Pending.as_str(),
                        "paymentStatus": "completed",
                        "printNotBefore": { "$type": "date" },
                    })
                    .sort(doc! { "printNotBefore": 1 })
                    .projection(doc! { "_id": 0, "printNotBefore": 1 })
                    .await
            }
            other => other,
        }
        .map_err(Error::db("reading the next scheduled order"))?;
        Ok(next.and_then(|d| d.get_datetime("printNotBefore").ok().copied()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_this_process_wrote_is_released_as_soon_as_it_comes() {
        let r = Releases::default();
        let t0 = DateTime::from_millis(1_000_000);
        assert!(r.due(0, t0), "the first claim releases");
        r.done(0, t0);
        assert!(!r.due(1_000, t0), "not again within RELEASE_EVERY");
        r.note(DateTime::from_millis(1_002_000));
        assert!(!r.due(1_000, DateTime::from_millis(1_001_999)));
        assert!(r.due(1_000, DateTime::from_millis(1_002_000)), "at once when a known schedule comes");
        r.done(1_000, DateTime::from_millis(1_002_000));
        assert!(!r.due(1_001, DateTime::from_millis(1_002_001)));
        assert!(!r.idle_due(1_999), "a claim that found nothing releases at most every second");
        assert!(r.idle_due(2_000));
        assert!(!r.due(RELEASE_EVERY.as_millis() as i64 + 999, DateTime::from_millis(1_002_001)));
        assert!(r.due(RELEASE_EVERY.as_millis() as i64 + 1_000, DateTime::from_millis(1_002_001)));
    }
}
