//! The audit log: one `print_logs` entry per state transition, never lost, never doubled.
//!
//! A transition and its log entry must be atomic. printcore gets that from MongoDB's single-document
//! atomicity instead of a multi-document transaction: the update that changes `printStatus` also pushes the
//! log entry, with its final `_id`, into the order's `printLogOutbox` array. The entry is then copied into
//! `print_logs` (an insert with that `_id`, so a second copy is refused as a duplicate key) and later pulled
//! out of the outbox: by one batched pull every 10 seconds, or, for a transition that queued the order,
//! by the claim that takes it next, together with its own entry. A crash between the steps leaves the entry
//! in the outbox, where
//! [`PrintCore::flush_log_outbox`](crate::PrintCore::flush_log_outbox) finds it through an index and finishes the copy. This works the same on a
//! replica set and on a standalone server, costs the claim no extra round trip in background mode, and
//! cannot abort with write conflicts under many concurrent claimers. ARCHITECTURE.md explains the choice.

use crate::error::{Error, Result};
use crate::model::state::Action;
use crate::model::{PrintLog, PrintStatus};
use bson::{doc, oid::ObjectId, Bson, DateTime, Document};
use mongodb::error::ErrorKind;
use mongodb::Collection;
use tokio::sync::{mpsc, oneshot};

/// The field of an order that holds its log entries until they are in `print_logs`.
pub const OUTBOX_FIELD: &str = "printLogOutbox";

/// How log entries get from the order's outbox into `print_logs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogDelivery {
    /// The copy into `print_logs` before the call that made the transition returns (one extra round trip
    /// per transition; the pull from the outbox is batched in the background). What the website and admin
    /// actions use: the entry is readable as soon as the call returns.
    Inline,
    /// By a background task in batches, so the hot path (the claim) costs one round trip. Call
    /// [`PrintCore::flush_logs`](crate::PrintCore::flush_logs) to wait until everything so far is delivered.
    Background,
}

/// Who made a transition.
#[derive(Debug, Clone, PartialEq)]
pub enum Actor {
    /// A print worker (its worker id).
    Worker(String),
    /// An admin on the website.
    Admin(AdminIdentity),
    /// The website's own code (mark paid) or the migration.
    System(&'static str),
}

/// The person behind an admin action: both fields required and non-empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminIdentity {
    /// The admin's id in the website's user store; written as the log entry's `adminId`.
    pub admin_id: String,
    /// The admin's e-mail; written as `adminEmail`.
    pub admin_email: String,
}

impl AdminIdentity {
    /// Checks that both are given; `email` must look like an email address. Every admin action takes one,
    /// and its log entry records both.
    ///
    /// ```
    /// use printcore::AdminIdentity;
    ///
    /// assert!(AdminIdentity::new("u-17", "ana@shop.example").is_ok());
    /// assert!(AdminIdentity::new("", "ana@shop.example").is_err());
    /// assert!(AdminIdentity::new("u-17", "not an address").is_err());
    /// ```
    pub fn new(admin_id: impl Into<String>, admin_email: impl Into<String>) -> Result<AdminIdentity> {
        let admin_id = admin_id.into().trim().to_owned();
        let admin_email = admin_email.into().trim().to_owned();
        if admin_id.is_empty() {
            return Err(Error::InvalidArgument(
                "an admin action needs the admin's id (adminId); none was given".into(),
            ));
        }
        if admin_email.is_empty() || !admin_email.contains('@') || admin_email.len() > 320 {
            return Err(Error::InvalidArgument(format!(
                "an admin action needs the admin's email address (adminEmail); got {admin_email:?}"
            )));
        }
        Ok(AdminIdentity { admin_id, admin_email })
    }
}

/// What one transition records.
pub(crate) struct Entry<'a> {
    pub action: Action,
    pub order_id: &'a str,
    pub print_job_id: Option<&'a str>,
    pub previous: Option<PrintStatus>,
    pub new: PrintStatus,
    pub actor: &'a Actor,
    pub reason: Option<&'a str>,
    pub metadata: Document,
}

impl Entry<'_> {
    /// The `print_logs` document, with its `_id` fixed now so every copy of it is the same entry.
    pub(crate) fn build(self, at: DateTime) -> Document {
        let mut metadata = self.metadata;
        let mut log = PrintLog {
            id: ObjectId::new(),
            action: self.action.as_str().to_owned(),
            order_id: self.order_id.to_owned(),
            print_job_id: self.print_job_id.map(str::to_owned),
            admin_id: None,
            admin_email: None,
            previous_status: self.previous.map(|s| s.as_str().to_owned()),
            new_status: Some(self.new.as_str().to_owned()),
            reason: self.reason.map(str::to_owned),
            timestamp: at,
            metadata: None,
        };
        match self.actor {
            Actor::Worker(w) => {
                metadata.insert("workerId", w.as_str());
            }
            Actor::Admin(a) => {
                log.admin_id = Some(a.admin_id.clone());
                log.admin_email = Some(a.admin_email.clone());
            }
            Actor::System(who) => {
                metadata.insert("by", *who);
            }
        }
        if !metadata.is_empty() {
            log.metadata = Some(metadata);
        }
        bson::to_document(&log).expect("a PrintLog always serialises")
    }
}

/// The entries in an order's outbox (`outbox`, the field's value), each naming the order.
pub(crate) fn outbox_entries(outbox: Option<&Bson>, order_id: &str) -> Vec<Document> {
    let Some(Bson::Array(outbox)) = outbox else { return Vec::new() };
    outbox
        .iter()
        .filter_map(|b| b.as_document().cloned())
        .map(|mut entry| {
            if !entry.contains_key("orderId") {
                // A claim's entry: the claim learns which order it took only after the write.
                entry.insert("orderId", order_id);
            }
            entry
        })
        .collect()
}

/// Adds `$push: { printLogOutbox: entry }` to an update document.
pub(crate) fn push_entry(update: &mut Document, entry: &Document) {
    update.insert("$push", doc! { OUTBOX_FIELD: entry.clone() });
}

/// [`push_entry`] for several entries of one write, in order.
pub(crate) fn push_entries(update: &mut Document, entries: &[Document]) {
    match entries {
        [one] => push_entry(update, one),
        many => {
            update.insert("$push", doc! { OUTBOX_FIELD: { "$each": many.to_vec() } });
        }
    }
}

/// How long the background delivery gathers entries before one batch goes out. Every transition's entry is
/// durable in its order's outbox from the moment of the transition, so waiting costs only how fresh
/// `print_logs` is (at most this much behind in a worker) and saves a round trip per batch: a busy worker's
/// entries of a second, across all its orders, share one insert.
pub(crate) const BACKGROUND_LINGER: std::time::Duration = std::time::Duration::from_millis(1000);

/// How long an entry already in `print_logs` may stay in its order's outbox before the pull that tidies it
/// goes out. Nothing reads a delivered entry from the outbox (a history read copies what it finds again, which
/// is refused as a duplicate, and pulls it), so the pull does not have to follow each insert: one pull covers
/// this long's entries. It must stay well inside the recovery sweep's minute, after which the sweep would
/// copy the entry again.
pub(crate) const PULL_LINGER: std::time::Duration = std::time::Duration::from_secs(10);

/// A batch goes out early once it holds this many entries; so do the pulls.
const BACKGROUND_BATCH: usize = 1000;

/// What happens to an entry's copy in its order's outbox once it is in `print_logs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tidy {
    /// Pulled by this process (batched, within [`PULL_LINGER`]).
    Pull,
    /// Left for the claim that takes the order next: the transition put the order in the queue, and the claim
    /// writes that document anyway (its batched pull takes every entry it found there, in the same document
    /// write as its own). An order nobody claims is tidied by the recovery sweep after a minute.
    ByNextClaim,
}

impl Tidy {
    /// How `entry` (built by [`Entry::build`]) is tidied: by the next claim when its transition queued the order.
    pub(crate) fn of(entry: &Document) -> Tidy {
        if entry.get_str("newStatus") == Ok(PrintStatus::Pending.as_str()) {
            Tidy::ByNextClaim
        } else {
            Tidy::Pull
        }
    }
}

enum Msg {
    /// Entries to copy into `print_logs` and then, with [`Tidy::Pull`], pull from their outboxes.
    Deliver(Vec<Document>, Tidy),
    /// `_id`s of entries already copied (inline), only to pull from their outboxes.
    Pull(Vec<Bson>),
    Barrier(oneshot::Sender<()>),
}

/// The delivery of entries from outboxes into `print_logs`.
pub(crate) struct Delivery {
    mode: LogDelivery,
    orders: Collection<Document>,
    logs: Collection<Document>,
    /// The batching task (it ends when the `Delivery` is dropped).
    tx: mpsc::UnboundedSender<Msg>,
}

impl Delivery {
    pub(crate) fn new(mode: LogDelivery, orders: Collection<Document>, logs: Collection<Document>) -> Delivery {
        // Both modes have the batching task: the background mode hands it whole entries, the inline mode
        // only the pulls of entries it has already copied.
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(background(rx, orders.clone(), logs.clone()));
        Delivery { mode, orders, logs, tx }
    }

    /// Copies entries that are in no outbox (their order had no room for them: `queue/size.rs`) into
    /// `print_logs` before it returns, whatever the mode, trying twice: nothing else holds them.
    pub(crate) async fn deliver_now(&self, entries: Vec<Document>) {
        if entries.is_empty() {
            return;
        }
        if let Err(e) = copy(&self.logs, entries.clone()).await {
            tracing::warn!(error = %e, "print log entries with no room in their order: copying again");
            if let Err(e) = copy(&self.logs, entries).await {
                tracing::warn!(error = %e, "print log entries with no room in their order could not be copied: lost");
            }
        }
    }

    /// Hands entries already committed in their orders' outboxes to `print_logs`.
    ///
    /// Inline: the copy into `print_logs` is made before this returns (the entry is readable when the
    /// call that made the transition returns); the pull from the outbox, which only tidies, goes to the
    /// batching task or is left to the next claim (`tidy`), so a website call costs its transition and the
    /// log insert, as the site's own code would, and no third round trip. An entry whose pull is lost (the
    /// process ended) is copied again by the recovery sweep as a duplicate, which is ignored, and pulled then.
    pub(crate) async fn deliver(&self, entries: Vec<Document>, tidy: Tidy) {
        if entries.is_empty() {
            return;
        }
        // A send fails only when the batching task is gone (the runtime is shutting down): the message
        // comes back, and its work is done here.
        match self.mode {
            LogDelivery::Background => {
                if let Err(mpsc::error::SendError(Msg::Deliver(entries, _))) = self.tx.send(Msg::Deliver(entries, tidy))
                {
                    if let Err(e) = copy_and_pull(&self.orders, &self.logs, entries).await {
                        tracing::warn!(error = %e, "print log delivery failed; entries kept in the order outbox");
                    }
                }
            }
            LogDelivery::Inline => match copy(&self.logs, entries).await {
                Ok(ids) if tidy == Tidy::Pull => {
                    if let Err(mpsc::error::SendError(Msg::Pull(ids))) = self.tx.send(Msg::Pull(ids)) {
                        if let Err(e) = pull(&self.orders, ids).await {
                            tracing::warn!(error = %e, "print log outbox pull failed; the sweep finishes it");
                        }
                    }
                }
                Ok(_) => {}
                // The entries stay in their outboxes; the next flush delivers them.
                Err(e) => tracing::warn!(error = %e, "print log delivery failed; entries kept in the order outbox"),
            },
        }
    }

    /// Waits until every entry handed to the background task so far is delivered, and every pull it holds
    /// has gone out.
    pub(crate) async fn barrier(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Barrier(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

/// One gathering of the batching task.
#[derive(Default)]
struct Gathered {
    /// Entries to copy into `print_logs`.
    batch: Vec<Document>,
    /// `_id`s among `batch` to pull once copied.
    pull_after_copy: Vec<Bson>,
    /// `_id`s of entries already copied, to pull.
    pulls: Vec<Bson>,
    barriers: Vec<oneshot::Sender<()>>,
}

impl Gathered {
    fn add(&mut self, msg: Msg) {
        match msg {
            Msg::Deliver(entries, tidy) => {
                if tidy == Tidy::Pull {
                    self.pull_after_copy.extend(entries.iter().filter_map(|e| e.get("_id").cloned()));
                }
                self.batch.extend(entries);
            }
            Msg::Pull(ids) => self.pulls.extend(ids),
            Msg::Barrier(done) => self.barriers.push(done),
        }
    }
}

async fn background(mut rx: mpsc::UnboundedReceiver<Msg>, orders: Collection<Document>, logs: Collection<Document>) {
    // Pulls of entries already in `print_logs`, sent together once the oldest has waited PULL_LINGER.
    let mut pulls: Vec<Bson> = Vec::new();
    let mut pull_due: Option<tokio::time::Instant> = None;
    let mut open = true;
    while open {
        let first = match pull_due {
            Some(due) => match tokio::time::timeout_at(due, rx.recv()).await {
                Ok(msg) => msg,
                Err(_) => {
                    // The pulls are due and nothing else came.
                    pull_logged(&orders, std::mem::take(&mut pulls)).await;
                    pull_due = None;
                    continue;
                }
            },
            None => rx.recv().await,
        };
        let mut got = Gathered::default();
        match first {
            Some(first) => {
                got.add(first);
                // Gather for up to the linger (or until a flush is asked for, or the batch is full), so a
                // burst of transitions across many orders shares one insert instead of a round trip each.
                let deadline = tokio::time::Instant::now() + BACKGROUND_LINGER;
                while got.barriers.is_empty() && got.batch.len() + got.pulls.len() < BACKGROUND_BATCH {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(msg)) => got.add(msg),
                        Ok(None) => {
                            open = false;
                            break;
                        }
                        Err(_) => break,
                    }
                }
                // Someone waits for delivery, or the batch is full: take what is already queued and go.
                while let Ok(msg) = rx.try_recv() {
                    got.add(msg);
                }
            }
            // Every sender is gone: what is held goes out now.
            None => open = false,
        }
        match copy(&logs, got.batch).await {
            Ok(_) => pulls.extend(got.pull_after_copy),
            Err(e) => tracing::warn!(error = %e, "print log delivery failed; entries kept in the order outbox"),
        }
        pulls.extend(got.pulls);
        if !pulls.is_empty() && pull_due.is_none() {
            pull_due = Some(tokio::time::Instant::now() + PULL_LINGER);
        }
        let due = pull_due.is_some_and(|due| due <= tokio::time::Instant::now());
        if !got.barriers.is_empty() || !open || due || pulls.len() >= BACKGROUND_BATCH {
            pull_logged(&orders, std::mem::take(&mut pulls)).await;
            pull_due = None;
        }
        for done in got.barriers {
            let _ = done.send(());
        }
    }
}

async fn pull_logged(orders: &Collection<Document>, ids: Vec<Bson>) {
    if let Err(e) = pull(orders, ids).await {
        tracing::warn!(error = %e, "print log outbox pull failed; the sweep finishes it");
    }
}

/// Delivers the entries waiting in order outboxes since before `cutoff` (`None`: all of them), at most
/// `limit` orders' worth; returns how many entries were delivered. What
/// [`PrintCore::flush_log_outbox`](crate::PrintCore::flush_log_outbox) runs.
pub(crate) async fn finish_outboxes(
    orders: &Collection<Document>,
    logs: &Collection<Document>,
    cutoff: Option<DateTime>,
    limit: i64,
) -> Result<usize> {
    let path = format!("{OUTBOX_FIELD}._id");
    // The index bounds select only waiting entries (the field exists only on orders with an outbox).
    let mut range = doc! { "$gte": ObjectId::from_bytes([0; 12]) };
    if let Some(cutoff) = cutoff {
        let secs = (cutoff.timestamp_millis() / 1000).max(0) as u32;
        range.insert("$lt", ObjectId::from_parts(secs, [0; 5], [0; 3]));
    }
    let mut cursor = orders
        .find(doc! { &path: range })
        .projection(doc! { OUTBOX_FIELD: 1, "orderId": 1 })
        .limit(limit)
        .await
        .map_err(Error::db("reading print log outboxes"))?;
    let mut entries = Vec::new();
    use futures::TryStreamExt;
    while let Some(order) = cursor.try_next().await.map_err(Error::db("reading print log outboxes"))? {
        let order_id = order.get_str("orderId").unwrap_or("(no orderId)");
        entries.extend(outbox_entries(order.get(OUTBOX_FIELD), order_id));
    }
    let n = entries.len();
    copy_and_pull(orders, logs, entries).await?;
    Ok(n)
}

/// Copies entries into `print_logs` (a duplicate `_id` means an earlier copy got there: fine) and pulls them
/// out of their orders' outboxes.
pub(crate) async fn copy_and_pull(
    orders: &Collection<Document>,
    logs: &Collection<Document>,
    entries: Vec<Document>,
) -> Result<()> {
    let ids = copy(logs, entries).await?;
    pull(orders, ids).await
}

/// Copies entries into `print_logs`; returns their `_id`s. A duplicate `_id` means an earlier copy got
/// there: fine.
async fn copy(logs: &Collection<Document>, entries: Vec<Document>) -> Result<Vec<Bson>> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Bson> = entries.iter().filter_map(|e| e.get("_id").cloned()).collect();
    if let Err(e) = logs.insert_many(entries).ordered(false).await {
        if !only_duplicates(&e) {
            return Err(Error::db("writing print_logs")(e));
        }
    }
    Ok(ids)
}

/// Pulls entries already in `print_logs` out of their orders' outboxes.
async fn pull(orders: &Collection<Document>, ids: Vec<Bson>) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    orders
        .update_many(
            doc! { format!("{OUTBOX_FIELD}._id"): { "$in": ids.clone() } },
            doc! { "$pull": { OUTBOX_FIELD: { "_id": { "$in": ids } } } },
        )
        .await
        .map_err(Error::db("clearing the print log outbox"))?;
    Ok(())
}

fn only_duplicates(e: &mongodb::error::Error) -> bool {
    match e.kind.as_ref() {
        ErrorKind::InsertMany(im) => {
            im.write_concern_error.is_none()
                && im.write_errors.as_ref().is_some_and(|w| !w.is_empty() && w.iter().all(|w| w.code == 11000))
        }
        ErrorKind::Write(mongodb::error::WriteFailure::WriteError(w)) => w.code == 11000,
        _ => false,
    }
}
