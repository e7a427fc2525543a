//! Alerts: telling a person when the shop needs one. What is an episode, when it opens and resolves, which
//! worker sends each notice, and how a storm of failures is summarised live here; the worker only reads
//! the configuration, calls [`PrintCore::alert_pass`] on a timer and delivers the notices it returns.
//!
//! Conditions are read from the database, never from one worker's print path, so every worker watching
//! the same database sees the same ones:
//! - a printer offline or in error (without a reason a person must act on) for longer than
//!   [`AlertRules::printer_down`], counted from the printer's `offline_since`; or one no worker has
//!   reported on (`health_checked_at`) for that long;
//! - a printer reason a person must act on ([`AlertRules::reasons`]: out of paper, a jam, a door open, toner
//!   empty...) held for longer than [`AlertRules::printer_reason`], counted from the first pass that saw it;
//! - paid orders waiting longer than [`AlertRules::order_waiting`] (one episode for all of them, whose
//!   notice says how many and which is the oldest);
//! - orders failed (from `print_logs`: every transition to `failed`): events, no episode; one notice per
//!   order, or one summary when more than [`AlertRules::summarise_over`] failed in one pass's window.
//!
//! **Episodes.** Each condition has a key (`printer:front:reason:media-empty`) and one document in the
//! `alerts` collection with that key as `_id`, whose `phase` moves `pending` (seen, not long enough yet) ->
//! `open` (its notice claimed) -> `resolving` (the condition cleared after it was announced) -> `closed`;
//! a condition seen again when closed starts the next episode in the same document (`episode` + 1). One
//! condition that clears before its threshold closes without a word. Every move is one conditional write
//! on the phase, so of several workers making the same pass exactly one moves it, and only the mover
//! sends the notice: the right to send is won by a `findOneAndUpdate` (`notice.by`, `notice.until`).
//!
//! **Delivery.** A claimed notice holds a lease ([`AlertRules::notice_lease`]); the claimer reports each
//! channel delivered ([`PrintCore::alert_channel_delivered`], so a retry skips it) and then the notice
//! sent ([`PrintCore::alert_notice_sent`]) or failed ([`PrintCore::alert_notice_failed`]: retried by any
//! worker after a backoff, given up after [`AlertRules::max_attempts`]). A worker that dies while sending
//! leaves the lease to run out, and another worker sends it: at most a channel that had it already gets
//! it twice.
//!
//! **The database itself** cannot coordinate alerts about its own absence: [`DatabaseWatch`] is each
//! worker's own, in memory, and each worker that cannot reach the database says so once per episode,
//! naming itself (from each print PC's point of view it is a different fact: its network may be the
//! cause), and says when it is back.

use crate::db::PrintCore;
use crate::error::{Error, Result};
use bson::{doc, Bson, DateTime, Document};
use futures::TryStreamExt;
use mongodb::options::ReturnDocument;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// The collection of alert episodes (an addition to the design's four collections).
pub const ALERTS: &str = "alerts";
/// The `_id` of the document holding how far failed orders have been reported.
pub const FAILED_CURSOR: &str = "cursor:orders_failed";

/// Printer reasons a person must act on, by default: IPP `printer-state-reasons` keywords (compared without
/// their `-error`/`-warning`/`-report` suffix) and Windows' printer status names.
pub const DEFAULT_REASONS: &[&str] = &[
    "media-empty",
    "media-needed",
    "media-jam",
    "door-open",
    "cover-open",
    "interlock-open",
    "toner-empty",
    "marker-supply-empty",
    "marker-waste-full",
    "input-tray-missing",
    "output-area-full",
    "PaperOut",
    "PaperJam",
    "PaperProblem",
    "DoorOpen",
    "NoToner",
    "OutputBinFull",
    "UserIntervention",
];

/// What a person is told about, and when. [`AlertRules::default`] is what `[alerts]` gives without
/// further settings; `None` turns a kind off.
#[derive(Debug, Clone)]
pub struct AlertRules {
    /// A printer offline or in error (for no reason listed in `reasons`) this long.
    pub printer_down: Option<Duration>,
    /// A printer reporting one of `reasons` this long.
    pub printer_reason: Option<Duration>,
    /// A paid order waiting this long (since `paidAt`, else `createdAt`; scheduled orders not before
    /// their time).
    pub order_waiting: Option<Duration>,
    /// Whether failed orders are announced.
    pub order_failed: bool,
    /// More failed orders than this in one pass's window are one summary, not one notice each.
    pub summarise_over: usize,
    /// The reasons a person must act on (see [`DEFAULT_REASONS`]).
    pub reasons: Vec<String>,
    /// How far behind the database's clock failed orders are read, so that log entries still on their
    /// way (a worker delivers its log entries within about a second) are not skipped.
    pub failure_lag: Duration,
    /// How long a worker holds a notice it is sending before another may take it over.
    pub notice_lease: Duration,
    /// Attempts at a notice before it is given up (and logged).
    pub max_attempts: i32,
    /// The wait after a failed attempt, doubling each time up to `retry_max`.
    pub retry_base: Duration,
    /// The longest wait between attempts at a notice.
    pub retry_max: Duration,
}

impl Default for AlertRules {
    fn default() -> Self {
        AlertRules {
            printer_down: Some(Duration::from_secs(10 * 60)),
            printer_reason: Some(Duration::from_secs(2 * 60)),
            order_waiting: Some(Duration::from_secs(30 * 60)),
            order_failed: true,
            summarise_over: 3,
            reasons: DEFAULT_REASONS.iter().map(|s| s.to_string()).collect(),
            failure_lag: Duration::from_secs(5),
            notice_lease: Duration::from_secs(5 * 60),
            max_attempts: 8,
            retry_base: Duration::from_secs(30),
            retry_max: Duration::from_secs(30 * 60),
        }
    }
}

impl AlertRules {
    /// The wait before the next attempt after `attempts` failed ones.
    pub fn retry_after(&self, attempts: i32) -> Duration {
        let shift = attempts.clamp(1, 16) - 1;
        self.retry_base.saturating_mul(1u32 << shift).min(self.retry_max)
    }
}

/// The reason of `reasons` (configured spellings) that `reported` (a printer's own keyword) is, if any:
/// case-insensitive, IPP's `-error`, `-warning` and `-report` suffixes ignored.
pub fn actionable_reason<'a>(reported: &str, reasons: &'a [String]) -> Option<&'a str> {
    let base = |s: &str| {
        let s = s.trim().to_ascii_lowercase();
        for suffix in ["-error", "-warning", "-report"] {
            if let Some(b) = s.strip_suffix(suffix) {
                return b.to_owned();
            }
        }
        s
    };
    let r = base(reported);
    reasons.iter().find(|c| base(c) == r).map(String::as_str)
}

/// What a person would call a reason.
fn reason_words(reason: &str) -> &'static str {
    match reason.to_ascii_lowercase().as_str() {
        "media-empty" | "media-needed" | "paperout" => "out of paper",
        "media-jam" | "paperjam" => "paper jam",
        "door-open" | "cover-open" | "interlock-open" | "dooropen" => "a door or cover is open",
        "toner-empty" | "marker-supply-empty" | "notoner" => "toner or ink empty",
        "marker-waste-full" => "waste toner or ink container full",
        "input-tray-missing" => "a paper tray is missing",
        "output-area-full" | "outputbinfull" => "output tray full",
        "paperproblem" => "paper problem",
        "userintervention" => "the printer needs a person",
        _ => "needs attention",
    }
}

/// The kinds of alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertKind {
    /// A printer offline or in error for longer than [`AlertRules::printer_down`].
    PrinterDown,
    /// A printer stopped for a reason a person must act on (out of paper, a jam, a cover open).
    PrinterReason,
    /// Paid orders waiting longer than they should (no printer takes them).
    OrdersWaiting,
    /// One order failed (a notice per order, while failures are few).
    OrderFailed,
    /// Many orders failed within a short time: one summary instead of a notice each.
    OrdersFailed,
    /// The database could not be reached for a while (reported by the worker that saw it).
    DatabaseUnreachable,
}

impl AlertKind {
    /// The kind's name as stored in the `alerts` collection and shown in notices.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::PrinterDown => "printer_down",
            AlertKind::PrinterReason => "printer_reason",
            AlertKind::OrdersWaiting => "orders_waiting",
            AlertKind::OrderFailed => "order_failed",
            AlertKind::OrdersFailed => "orders_failed",
            AlertKind::DatabaseUnreachable => "database_unreachable",
        }
    }

    fn parse(s: &str) -> Option<AlertKind> {
        [
            AlertKind::PrinterDown,
            AlertKind::PrinterReason,
            AlertKind::OrdersWaiting,
            AlertKind::OrderFailed,
            AlertKind::OrdersFailed,
            AlertKind::DatabaseUnreachable,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// What a notice says about its episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeEvent {
    /// The condition has held long enough: a person should look.
    Opened,
    /// The condition announced before has cleared.
    Resolved,
    /// Something happened (orders failed): no episode, nothing to resolve.
    Event,
}

impl NoticeEvent {
    /// The event's name as stored and shown (`open`, `resolved`, `event`).
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeEvent::Opened => "open",
            NoticeEvent::Resolved => "resolved",
            NoticeEvent::Event => "event",
        }
    }

    fn parse(s: &str) -> Option<NoticeEvent> {
        [NoticeEvent::Opened, NoticeEvent::Resolved, NoticeEvent::Event].into_iter().find(|e| e.as_str() == s)
    }
}

/// A notice this worker won the right to send: deliver it to every channel not in `delivered`, then
/// report it with [`PrintCore::alert_notice_sent`] or [`PrintCore::alert_notice_failed`].
#[derive(Debug, Clone)]
pub struct Notice {
    /// The episode's key (the alert document's `_id`).
    pub key: String,
    /// What the alert is about.
    pub kind: AlertKind,
    /// Whether the episode opened, resolved, or was a one-off event.
    pub event: NoticeEvent,
    /// One line ("Printer Front desk: out of paper (media-empty)").
    pub title: String,
    /// The whole message, a few lines.
    pub text: String,
    /// What it is about: a printer id, an order id, or empty.
    pub subject: String,
    /// Since when the condition has held (an episode's start).
    pub since: Option<DateTime>,
    /// When this notice was claimed (the database's time).
    pub at: DateTime,
    /// The episode's number for this key (1 for the first).
    pub episode: i64,
    /// Channels that already have it (from an earlier attempt).
    pub delivered: Vec<String>,
    /// This attempt's number (1 for the first).
    pub attempt: i32,
    claimed_by: String,
}

/// What one [`PrintCore::alert_pass`] did.
#[derive(Debug, Clone, Default)]
pub struct AlertPass {
    /// Conditions that hold now.
    pub active: usize,
    /// Episodes that cleared this pass (announced or not).
    pub cleared: usize,
    /// Failed orders read this pass (when this worker won the window).
    pub failed_orders: usize,
    /// The notices this worker must send now.
    pub notices: Vec<Notice>,
}

/// A condition that holds now, as one pass reads it.
struct Condition {
    key: String,
    kind: AlertKind,
    subject: String,
    title: String,
    text: String,
    /// Since when it holds, when the data says (a printer's `offline_since`); else the first pass that
    /// saw it.
    since: Option<DateTime>,
    threshold: Duration,
}

fn minutes(d: Duration) -> String {
    let m = d.as_secs_f64() / 60.0;
    if m < 1.0 {
        format!("{} s", d.as_secs())
    } else if m < 120.0 {
        format!("{} min", m.round() as i64)
    } else {
        format!("{:.1} h", m / 60.0)
    }
}

fn elapsed(now: DateTime, since: DateTime) -> Duration {
    Duration::from_millis((now.timestamp_millis() - since.timestamp_millis()).max(0) as u64)
}

fn minus(now: DateTime, d: Duration) -> DateTime {
    DateTime::from_millis(now.timestamp_millis() - d.as_millis() as i64)
}

fn plus(now: DateTime, d: Duration) -> DateTime {
    DateTime::from_millis(now.timestamp_millis().saturating_add(d.as_millis() as i64))
}

/// Text from outside (a printer's name, an order's failure) kept to one short line.
fn line(s: &str, max: usize) -> String {
    let s: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let s = s.trim();
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        format!("{}...", s.chars().take(max).collect::<String>())
    }
}

/// One failed order as read from `print_logs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedOrder {
    /// The order's `orderId`.
    pub order_id: String,
    /// Why it failed (the log entry's reason).
    pub reason: String,
}

/// The notices' (key, title, text) for orders that failed in one window of `window`: one each, or one
/// summary with the most frequent reasons when there are more than `summarise_over`.
pub fn failure_notices(
    failed: &[FailedOrder],
    summarise_over: usize,
    window: Duration,
    window_end: DateTime,
) -> Vec<(String, AlertKind, String, String, String)> {
    if failed.is_empty() {
        return Vec::new();
    }
    if failed.len() <= summarise_over {
        return failed
            .iter()
            .map(|f| {
                let key = format!("failed:{}:{}", f.order_id, window_end.timestamp_millis());
                let title = format!("Order {} failed", line(&f.order_id, 80));
                let text = format!(
                    "{title}: {}\nAn admin can fix it and reprint it from the printer monitor.",
                    line(&f.reason, 300)
                );
                (key, AlertKind::OrderFailed, f.order_id.clone(), title, text)
            })
            .collect();
    }
    let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();
    for f in failed {
        *by_reason.entry(line(&f.reason, 160)).or_default() += 1;
    }
    let mut top: Vec<(String, usize)> = by_reason.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let n = failed.len();
    let title = format!("{n} orders failed in the last {}", minutes(window));
    let mut text = format!("{title}. Most frequent reasons:");
    for (reason, count) in top.iter().take(3) {
        text.push_str(&format!("\n- {count} x {reason}"));
    }
    if top.len() > 3 {
        text.push_str(&format!("\n- and {} other reasons", top.len() - 3));
    }
    let ids: Vec<&str> = failed.iter().take(10).map(|f| f.order_id.as_str()).collect();
    text.push_str(&format!("\nOrders: {}{}", ids.join(", "), if n > 10 { ", ..." } else { "" }));
    let key = format!("failed:summary:{}", window_end.timestamp_millis());
    vec![(key, AlertKind::OrdersFailed, String::new(), title, text)]
}

fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    match &*e.kind {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == 11000,
        ErrorKind::Command(c) => c.code == 11000,
        _ => e.to_string().contains("E11000"),
    }
}

fn notice_from(d: &Document, now: DateTime) -> Option<Notice> {
    let n = d.get_document("notice").ok()?;
    Some(Notice {
        key: d.get_str("_id").ok()?.to_owned(),
        kind: AlertKind::parse(d.get_str("kind").ok()?)?,
        event: NoticeEvent::parse(n.get_str("event").ok()?)?,
        title: d.get_str("title").unwrap_or_default().to_owned(),
        text: d.get_str("text").unwrap_or_default().to_owned(),
        subject: d.get_str("subject").unwrap_or_default().to_owned(),
        since: d.get_datetime("since").ok().copied(),
        at: now,
        episode: d.get_i64("episode").unwrap_or(1),
        delivered: n
            .get_array("delivered")
            .map(|a| a.iter().filter_map(|b| b.as_str().map(str::to_owned)).collect())
            .unwrap_or_default(),
        attempt: n.get_i32("attempts").unwrap_or(1),
        claimed_by: n.get_str("by").unwrap_or_default().to_owned(),
    })
}

impl PrintCore {
    fn alerts(&self) -> mongodb::Collection<Document> {
        self.inner.db.collection(ALERTS)
    }

    /// One pass over the database: reads the conditions that hold now, moves each episode (at most one
    /// conditional write per change; a condition unchanged since the last pass costs no write), reports
    /// orders failed since the last pass of any worker, and returns the notices this worker won the right
    /// to send (new ones, and earlier ones whose sender gave up or died and whose wait has passed).
    /// `worker` names this worker in the documents (who sent what).
    pub async fn alert_pass(&self, rules: &AlertRules, worker: &str) -> Result<AlertPass> {
        let now = self.now();
        let mut pass = AlertPass::default();
        let mut conditions = Vec::new();
        let mut evaluated: HashSet<AlertKind> = HashSet::new();
        if rules.printer_down.is_some() || rules.printer_reason.is_some() {
            self.printer_conditions(rules, now, &mut conditions).await?;
            evaluated.insert(AlertKind::PrinterDown);
            evaluated.insert(AlertKind::PrinterReason);
        }
        if let Some(wait) = rules.order_waiting {
            if let Some(c) = self.waiting_condition(wait, now).await? {
                conditions.push(c);
            }
            evaluated.insert(AlertKind::OrdersWaiting);
        }
        pass.active = conditions.len();

        // Every episode not closed, and every notice in flight.
        let docs: Vec<Document> = self
            .alerts()
            .find(doc! { "phase": { "$in": ["pending", "open", "resolving", "event"] } })
            .limit(10_000)
            .await
            .map_err(Error::db("reading alerts"))?
            .try_collect()
            .await
            .map_err(Error::db("reading alerts"))?;
        let by_key: BTreeMap<String, &Document> =
            docs.iter().filter_map(|d| d.get_str("_id").ok().map(|k| (k.to_owned(), d))).collect();

        let lease_end = plus(now, rules.notice_lease);
        for c in &conditions {
            let doc = by_key.get(&c.key).copied();
            let phase = doc.and_then(|d| d.get_str("phase").ok());
            let since = match (doc, phase) {
                (Some(d), Some("pending" | "open")) => {
                    // Keep the text current (counts change) without a write when nothing changed.
                    if d.get_str("text").ok() != Some(c.text.as_str()) {
                        self.alerts()
                            .update_one(
                                doc! { "_id": &c.key, "phase": { "$in": ["pending", "open"] } },
                                doc! { "$set": { "title": &c.title, "text": &c.text, "lastSeenAt": now } },
                            )
                            .await
                            .map_err(Error::db("updating an alert"))?;
                    }
                    d.get_datetime("since").ok().copied().unwrap_or(now)
                }
                // Its "resolved" is on its way: the next episode starts once that is sent.
                (Some(_), Some("resolving")) => continue,
                _ => {
                    self.start_episode(c, now).await?;
                    c.since.unwrap_or(now)
                }
            };
            if phase != Some("open") && elapsed(now, since) >= c.threshold {
                // The right to announce it: exactly one worker's write finds it pending.
                let claimed = self
                    .alerts()
                    .find_one_and_update(
                        doc! { "_id": &c.key, "phase": "pending", "since": { "$lte": minus(now, c.threshold) } },
                        doc! { "$set": {
                            "phase": "open", "openedAt": now, "title": &c.title, "text": &c.text,
                            "notice": { "event": "open", "by": worker, "until": lease_end, "attempts": 1_i32, "delivered": [] },
                        } },
                    )
                    .return_document(ReturnDocument::After)
                    .await
                    .map_err(Error::db("claiming an alert"))?;
                pass.notices.extend(claimed.and_then(|d| notice_from(&d, now)));
            }
        }

        // Episodes whose condition no longer holds.
        let active: HashSet<&str> = conditions.iter().map(|c| c.key.as_str()).collect();
        for d in &docs {
            let (Ok(key), Ok(phase)) = (d.get_str("_id"), d.get_str("phase")) else { continue };
            let kind = d.get_str("kind").ok().and_then(AlertKind::parse);
            if active.contains(key) || !kind.is_some_and(|k| evaluated.contains(&k)) {
                continue;
            }
            let notice = d.get_document("notice").ok();
            let sent = notice.is_some_and(|n| n.get_datetime("sentAt").is_ok());
            let in_flight = notice.is_some_and(|n| {
                !sent && !n.get_bool("gaveUp").unwrap_or(false) && n.get_datetime("until").is_ok_and(|u| *u > now)
            });
            match phase {
                "pending" => {
                    let r = self
                        .alerts()
                        .update_one(
                            doc! { "_id": key, "phase": "pending" },
                            doc! { "$set": { "phase": "closed", "closedAt": now, "resolvedAt": now } },
                        )
                        .await
                        .map_err(Error::db("closing an alert"))?;
                    pass.cleared += r.modified_count as usize;
                }
                "open" if sent => {
                    let since = d.get_datetime("since").ok().copied().unwrap_or(now);
                    let title = d.get_str("title").unwrap_or_default();
                    let resolved_title = format!("Resolved: {title}");
                    let text = format!("{resolved_title} (after {}).", minutes(elapsed(now, since)));
                    let claimed = self
                        .alerts()
                        .find_one_and_update(
                            doc! { "_id": key, "phase": "open", "notice.sentAt": { "$ne": null } },
                            doc! { "$set": {
                                "phase": "resolving", "resolvedAt": now, "title": &resolved_title, "text": &text,
                                "notice": { "event": "resolved", "by": worker, "until": lease_end, "attempts": 1_i32, "delivered": [] },
                            } },
                        )
                        .return_document(ReturnDocument::After)
                        .await
                        .map_err(Error::db("claiming an alert's resolution"))?;
                    if let Some(n) = claimed.and_then(|d| notice_from(&d, now)) {
                        pass.cleared += 1;
                        pass.notices.push(n);
                    }
                }
                // Announced to nobody (given up, or its sender died): closed without a "resolved".
                "open" if !in_flight => {
                    let r = self
                        .alerts()
                        .update_one(
                            doc! { "_id": key, "phase": "open", "notice.sentAt": null, "notice.until": { "$lte": now } },
                            doc! { "$set": { "phase": "closed", "closedAt": now, "resolvedAt": now } },
                        )
                        .await
                        .map_err(Error::db("closing an alert"))?;
                    pass.cleared += r.modified_count as usize;
                }
                _ => {}
            }
        }

        // Notices whose sender failed or died, once their wait has passed.
        for d in &docs {
            let Ok(key) = d.get_str("_id") else { continue };
            let Ok(n) = d.get_document("notice") else { continue };
            if n.get_datetime("sentAt").is_ok() || n.get_bool("gaveUp").unwrap_or(false) {
                continue;
            }
            let Ok(until) = n.get_datetime("until") else { continue };
            if *until > now {
                continue;
            }
            let claimed = self
                .alerts()
                .find_one_and_update(
                    doc! { "_id": key, "notice.until": until, "notice.sentAt": null },
                    doc! { "$set": { "notice.by": worker, "notice.until": lease_end }, "$inc": { "notice.attempts": 1_i32 } },
                )
                .return_document(ReturnDocument::After)
                .await
                .map_err(Error::db("claiming an alert to retry"))?;
            pass.notices.extend(claimed.and_then(|d| notice_from(&d, now)));
        }

        if rules.order_failed {
            let (read, notices) = self.failure_window(rules, worker, now, lease_end).await?;
            pass.failed_orders = read;
            pass.notices.extend(notices);
        }
        Ok(pass)
    }

    /// Starts an episode for `c`: a new document, or the next episode of a closed one. Another worker
    /// doing the same at the same time is fine: one of the writes does it.
    async fn start_episode(&self, c: &Condition, now: DateTime) -> Result<()> {
        let since = c.since.unwrap_or(now);
        let fields = doc! {
            "phase": "pending", "kind": c.kind.as_str(), "subject": &c.subject, "title": &c.title,
            "text": &c.text, "since": since, "firstSeenAt": now, "lastSeenAt": now,
        };
        let mut set = fields.clone();
        set.insert("closedAt", Bson::Null);
        let reopened = self
            .alerts()
            .update_one(
                doc! { "_id": &c.key, "phase": "closed" },
                doc! { "$set": set, "$unset": { "notice": "", "openedAt": "", "resolvedAt": "" }, "$inc": { "episode": 1_i64 } },
            )
            .await
            .map_err(Error::db("reopening an alert"))?;
        if reopened.matched_count > 0 {
            return Ok(());
        }
        let mut new = doc! { "_id": &c.key, "episode": 1_i64 };
        new.extend(fields);
        match self.alerts().insert_one(new).await {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => Ok(()),
            Err(e) => Err(Error::Database { context: "recording an alert".into(), source: e }),
        }
    }

    async fn printer_conditions(&self, rules: &AlertRules, now: DateTime, out: &mut Vec<Condition>) -> Result<()> {
        let docs: Vec<Document> = self
            .inner
            .printers
            .find(doc! { "isActive": { "$ne": false } })
            .projection(doc! {
                "printer_id": 1, "name": 1, "status": 1, "offline_since": 1, "state_reasons": 1,
                "health_checked_at": 1, "error_message": 1,
            })
            .limit(1000)
            .await
            .map_err(Error::db("reading printers for alerts"))?
            .try_collect()
            .await
            .map_err(Error::db("reading printers for alerts"))?;
        for d in docs {
            let Ok(id) = d.get_str("printer_id") else { continue };
            let name = line(d.get_str("name").ok().filter(|n| !n.is_empty()).unwrap_or(id), 80);
            let reasons: Vec<String> = d
                .get_array("state_reasons")
                .map(|a| a.iter().filter_map(|r| r.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            let mut actionable: Vec<(&str, &str)> = Vec::new();
            for r in &reasons {
                if let Some(c) = actionable_reason(r, &rules.reasons) {
                    if !actionable.iter().any(|(c2, _)| c2.eq_ignore_ascii_case(c)) {
                        actionable.push((c, r));
                    }
                }
            }
            if let Some(threshold) = rules.printer_reason {
                for (configured, reported) in &actionable {
                    let words = reason_words(configured);
                    let title = format!("Printer {name}: {words} ({reported})");
                    let text =
                        format!("{title}. Printing on it waits until someone sees to it; its orders keep their place.");
                    out.push(Condition {
                        key: format!("printer:{id}:reason:{}", configured.to_ascii_lowercase()),
                        kind: AlertKind::PrinterReason,
                        subject: id.to_owned(),
                        title,
                        text,
                        since: None,
                        threshold,
                    });
                }
            }
            let Some(threshold) = rules.printer_down else { continue };
            let status = d.get_str("status").unwrap_or("");
            let checked = d.get_datetime("health_checked_at").ok().copied();
            let message = d.get_str("error_message").ok().map(|m| line(m, 200));
            // A reason a person must act on is announced as that reason, not twice.
            let down = matches!(status, "offline" | "error") && actionable.is_empty();
            let stale = checked.is_some_and(|c| elapsed(now, c) > threshold.max(Duration::from_secs(120)));
            if down {
                let title = format!("Printer {name} is {status}");
                let text = match &message {
                    Some(m) if !m.is_empty() => format!("{title}: {m}"),
                    _ => format!("{title}."),
                };
                out.push(Condition {
                    key: format!("printer:{id}:down"),
                    kind: AlertKind::PrinterDown,
                    subject: id.to_owned(),
                    title,
                    text: format!("{text}\nIts orders wait until it is back (or another printer takes them)."),
                    since: d.get_datetime("offline_since").ok().copied().or(checked),
                    threshold,
                });
            } else if stale {
                let title = format!("Printer {name}: no worker has reported on it");
                out.push(Condition {
                    key: format!("printer:{id}:down"),
                    kind: AlertKind::PrinterDown,
                    subject: id.to_owned(),
                    text: format!(
                        "{title} since {}. Is its print PC on, and the worker running?",
                        checked.map(|c| c.try_to_rfc3339_string().unwrap_or_default()).unwrap_or_default()
                    ),
                    title,
                    since: checked,
                    threshold: Duration::ZERO,
                });
            }
        }
        Ok(())
    }

    /// Paid orders waiting longer than `wait`: one condition for all of them. Reads them in the order of
    /// the index `printStatus_paymentStatus_createdAt`, at most 1,000.
    async fn waiting_condition(&self, wait: Duration, now: DateTime) -> Result<Option<Condition>> {
        let cutoff = minus(now, wait);
        let docs: Vec<Document> = self
            .inner
            .orders
            .find(doc! {
                "printStatus": "pending", "paymentStatus": "completed", "createdAt": { "$lt": cutoff },
                "paidAt": { "$not": { "$gte": cutoff } }, "printNotBefore": { "$not": { "$gt": now } },
            })
            .projection(doc! { "orderId": 1, "createdAt": 1, "paidAt": 1 })
            .sort(doc! { "printStatus": 1, "paymentStatus": 1, "createdAt": 1 })
            .limit(1000)
            .await
            .map_err(Error::db("reading waiting orders for alerts"))?
            .try_collect()
            .await
            .map_err(Error::db("reading waiting orders for alerts"))?;
        let Some(oldest) = docs.first() else { return Ok(None) };
        let n = docs.len();
        let count = if n == 1000 { "1000 or more".to_owned() } else { n.to_string() };
        let oldest_id = line(oldest.get_str("orderId").unwrap_or("(no orderId)"), 80);
        let oldest_at = oldest.get_datetime("paidAt").or_else(|_| oldest.get_datetime("createdAt")).ok().copied();
        let title = if n == 1 {
            format!("An order has waited more than {} to print", minutes(wait))
        } else {
            format!("{count} orders have waited more than {} to print", minutes(wait))
        };
        let text = format!(
            "{title}; the oldest is {oldest_id}{}. Are the printers online, with auto-print on, and is the worker running?",
            oldest_at.map(|t| format!(", waiting {}", minutes(elapsed(now, t)))).unwrap_or_default()
        );
        Ok(Some(Condition {
            key: "orders:waiting".into(),
            kind: AlertKind::OrdersWaiting,
            subject: String::new(),
            title,
            text,
            since: None,
            threshold: Duration::ZERO,
        }))
    }

    /// Reports orders failed since the last window any worker reported: the window is won by one write
    /// on the cursor document, and its notices are written claimed by the winner.
    async fn failure_window(
        &self,
        rules: &AlertRules,
        worker: &str,
        now: DateTime,
        lease_end: DateTime,
    ) -> Result<(usize, Vec<Notice>)> {
        let to = minus(now, rules.failure_lag);
        let cursor = self
            .alerts()
            .find_one(doc! { "_id": FAILED_CURSOR })
            .await
            .map_err(Error::db("reading the failed orders' cursor"))?;
        let Some(from) = cursor.as_ref().and_then(|c| c.get_datetime("through").ok().copied()) else {
            // The first pass ever: from now on (failures from before alerts were on are not news).
            match self.alerts().insert_one(doc! { "_id": FAILED_CURSOR, "phase": "cursor", "through": to }).await {
                Ok(_) => {}
                Err(e) if is_duplicate_key(&e) => {}
                Err(e) => {
                    return Err(Error::Database { context: "starting the failed orders' cursor".into(), source: e })
                }
            }
            return Ok((0, Vec::new()));
        };
        if to <= from {
            return Ok((0, Vec::new()));
        }
        let won = self
            .alerts()
            .update_one(
                doc! { "_id": FAILED_CURSOR, "through": from },
                doc! { "$set": { "through": to, "by": worker } },
            )
            .await
            .map_err(Error::db("advancing the failed orders' cursor"))?;
        if won.modified_count == 0 {
            return Ok((0, Vec::new()));
        }
        let entries: Vec<Document> = self
            .inner
            .logs
            .find(doc! { "timestamp": { "$gt": from, "$lte": to }, "newStatus": "failed" })
            .projection(doc! { "orderId": 1, "reason": 1, "timestamp": 1 })
            .sort(doc! { "timestamp": -1, "_id": -1 })
            .limit(5000)
            .await
            .map_err(Error::db("reading failed orders for alerts"))?
            .try_collect()
            .await
            .map_err(Error::db("reading failed orders for alerts"))?;
        let mut failed: Vec<FailedOrder> = entries
            .iter()
            .rev()
            .map(|e| FailedOrder {
                order_id: e.get_str("orderId").unwrap_or("(unknown order)").to_owned(),
                reason: e.get_str("reason").unwrap_or("(no reason recorded)").to_owned(),
            })
            .collect();
        // An order failed twice in a window (reprinted, failed again) is one failure to a person.
        let mut seen = HashSet::new();
        failed.retain(|f| seen.insert(f.order_id.clone()));
        let read = failed.len();
        let mut notices = Vec::new();
        for (key, kind, subject, title, text) in failure_notices(&failed, rules.summarise_over, elapsed(to, from), to) {
            let d = doc! {
                "_id": &key, "phase": "event", "kind": kind.as_str(), "subject": &subject, "title": &title,
                "text": &text, "since": from, "episode": 1_i64, "firstSeenAt": now,
                "notice": { "event": "event", "by": worker, "until": lease_end, "attempts": 1_i32, "delivered": [] },
            };
            match self.alerts().insert_one(&d).await {
                Ok(_) => notices.extend(notice_from(&d, now)),
                Err(e) if is_duplicate_key(&e) => {}
                Err(e) => {
                    return Err(Error::Database { context: "recording a failed order's alert".into(), source: e })
                }
            }
        }
        Ok((read, notices))
    }

    /// Records that `channel` has the notice, so a retry does not send it there again.
    pub async fn alert_channel_delivered(&self, n: &Notice, channel: &str) -> Result<()> {
        self.alerts()
            .update_one(
                doc! { "_id": &n.key, "notice.by": &n.claimed_by, "notice.attempts": n.attempt },
                doc! { "$addToSet": { "notice.delivered": channel } },
            )
            .await
            .map_err(Error::db(format!("recording alert {} delivered", n.key)))?;
        Ok(())
    }

    /// Records the notice sent to every channel: an opening stays open (until its condition clears), a
    /// resolution or an event is closed. Returns false when this worker no longer held the notice (its
    /// lease ran out and another worker took it).
    pub async fn alert_notice_sent(&self, n: &Notice) -> Result<bool> {
        let now = self.now();
        let mut set = doc! { "notice.sentAt": now };
        if n.event != NoticeEvent::Opened {
            set.insert("phase", "closed");
            set.insert("closedAt", now);
        }
        let r = self
            .alerts()
            .update_one(
                doc! { "_id": &n.key, "notice.by": &n.claimed_by, "notice.attempts": n.attempt },
                doc! { "$set": set },
            )
            .await
            .map_err(Error::db(format!("recording alert {} sent", n.key)))?;
        Ok(r.matched_count > 0)
    }

    /// Records a failed attempt: any worker tries again after [`AlertRules::retry_after`]; after
    /// [`AlertRules::max_attempts`] the notice is given up (a resolution or an event is then closed).
    /// Returns whether it was given up.
    pub async fn alert_notice_failed(&self, n: &Notice, rules: &AlertRules, error: &str) -> Result<bool> {
        let now = self.now();
        let give_up = n.attempt >= rules.max_attempts;
        let mut set =
            doc! { "notice.lastError": line(error, 300), "notice.until": plus(now, rules.retry_after(n.attempt)) };
        if give_up {
            set.insert("notice.gaveUp", true);
            if n.event != NoticeEvent::Opened {
                set.insert("phase", "closed");
                set.insert("closedAt", now);
            }
        }
        self.alerts()
            .update_one(
                doc! { "_id": &n.key, "notice.by": &n.claimed_by, "notice.attempts": n.attempt },
                doc! { "$set": set },
            )
            .await
            .map_err(Error::db(format!("recording alert {} not sent", n.key)))?;
        Ok(give_up)
    }
}

/// One worker's own view of whether it reaches the database, for the alert nobody else can send: fed
/// the outcome of each alert pass, it says when to announce that the database is unreachable (after
/// `after`) and when to announce it is back (only after an announced episode). A notice that could not
/// be delivered is asked for again at the next pass ([`DatabaseWatch::delivered`] is called only on
/// success).
#[derive(Debug)]
pub struct DatabaseWatch {
    after: Duration,
    failing_since: Option<std::time::Instant>,
    announced: bool,
    last_error: String,
}

impl DatabaseWatch {
    /// A watch that announces an outage once the database has failed for `after`.
    pub fn new(after: Duration) -> DatabaseWatch {
        DatabaseWatch { after, failing_since: None, announced: false, last_error: String::new() }
    }

    /// The outcome of a pass at `now` (`Err` with what went wrong); the notice to send, if any, as
    /// (event, title, text). `who` names this worker (its host name and id).
    pub fn observe(
        &mut self,
        outcome: std::result::Result<(), String>,
        now: std::time::Instant,
        who: &str,
    ) -> Option<(NoticeEvent, String, String)> {
        match outcome {
            Err(e) => {
                let since = *self.failing_since.get_or_insert(now);
                self.last_error = line(&e, 300);
                if !self.announced && now.duration_since(since) >= self.after {
                    let title = format!("Worker {who} cannot reach the database");
                    let text = format!(
                        "{title} for {}: {}\nIt prints nothing new until it can (orders are safe in the database). \
                         Check this PC's network and the database.",
                        minutes(now.duration_since(since)),
                        self.last_error
                    );
                    return Some((NoticeEvent::Opened, title, text));
                }
                None
            }
            Ok(()) => {
                let since = self.failing_since?;
                if !self.announced {
                    self.failing_since = None;
                    return None;
                }
                let title = format!("Resolved: worker {who} reaches the database again");
                let text = format!("{title} (after {}).", minutes(now.duration_since(since)));
                Some((NoticeEvent::Resolved, title, text))
            }
        }
    }

    /// The notice [`DatabaseWatch::observe`] returned was delivered.
    pub fn delivered(&mut self, event: NoticeEvent) {
        match event {
            NoticeEvent::Opened => self.announced = true,
            _ => {
                self.announced = false;
                self.failing_since = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_match_without_suffix_or_case() {
        let r: Vec<String> = DEFAULT_REASONS.iter().map(|s| s.to_string()).collect();
        assert_eq!(actionable_reason("media-empty-error", &r), Some("media-empty"));
        assert_eq!(actionable_reason("MEDIA-JAM-warning", &r), Some("media-jam"));
        assert_eq!(actionable_reason("PaperOut", &r), Some("PaperOut"));
        assert_eq!(actionable_reason("media-low-warning", &r), None);
        assert_eq!(actionable_reason("toner-low-report", &r), None);
        assert_eq!(actionable_reason("none", &r), None);
    }

    fn f(id: &str, reason: &str) -> FailedOrder {
        FailedOrder { order_id: id.into(), reason: reason.into() }
    }

    #[test]
    fn a_few_failures_are_told_one_by_one_and_a_storm_in_one_summary() {
        let end = DateTime::from_millis(1_000_000);
        let few = failure_notices(&[f("A", "bad file"), f("B", "no printer")], 3, Duration::from_secs(60), end);
        assert_eq!(few.len(), 2);
        assert!(few[0].3.contains("Order A failed") && few[0].4.contains("bad file"));
        let mut storm: Vec<FailedOrder> = (0..37).map(|i| f(&format!("O{i}"), "the file is not a PDF")).collect();
        storm.extend((0..5).map(|i| f(&format!("P{i}"), "A3 asked")));
        let s = failure_notices(&storm, 3, Duration::from_secs(60), end);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].1, AlertKind::OrdersFailed);
        assert!(s[0].3.starts_with("42 orders failed in the last 1 min"), "{}", s[0].3);
        assert!(s[0].4.contains("37 x the file is not a PDF") && s[0].4.contains("5 x A3 asked"), "{}", s[0].4);
    }

    #[test]
    fn the_database_watch_announces_once_and_resolves_only_what_it_announced() {
        let t0 = std::time::Instant::now();
        let mut w = DatabaseWatch::new(Duration::from_secs(60));
        let err = || Err("server selection timeout".to_owned());
        assert!(w.observe(err(), t0, "pc1").is_none());
        let (e, title, _) = w.observe(err(), t0 + Duration::from_secs(61), "pc1").unwrap();
        assert_eq!(e, NoticeEvent::Opened);
        assert!(title.contains("pc1"));
        // Not delivered: asked again.
        assert!(w.observe(err(), t0 + Duration::from_secs(62), "pc1").is_some());
        w.delivered(NoticeEvent::Opened);
        assert!(w.observe(err(), t0 + Duration::from_secs(63), "pc1").is_none());
        let (e, _, _) = w.observe(Ok(()), t0 + Duration::from_secs(70), "pc1").unwrap();
        assert_eq!(e, NoticeEvent::Resolved);
        w.delivered(NoticeEvent::Resolved);
        assert!(w.observe(Ok(()), t0 + Duration::from_secs(71), "pc1").is_none());
        // A short outage: nothing at all.
        assert!(w.observe(err(), t0 + Duration::from_secs(80), "pc1").is_none());
        assert!(w.observe(Ok(()), t0 + Duration::from_secs(81), "pc1").is_none());
    }

    #[test]
    fn retries_back_off() {
        let r = AlertRules::default();
        assert_eq!(r.retry_after(1), Duration::from_secs(30));
        assert_eq!(r.retry_after(2), Duration::from_secs(60));
        assert_eq!(r.retry_after(20), Duration::from_secs(30 * 60));
    }
}
