//! `[alerts]`: telling a person when the shop needs one, by webhook (Slack, Microsoft Teams, Discord, or
//! plain JSON) and/or e-mail over SMTP. The rules (what an episode is, which worker sends each notice, the
//! summary of a storm of failures) are printcore's ([`printcore::monitor::alerts`]); this file reads the settings,
//! runs the pass on a timer ([`Alerter::run`]) and delivers the notices.
//!
//! Delivery never touches printing: the loop is a task of its own, every request has a time limit
//! (`timeout_secs`, connecting at most 5 s), a webhook's answer is read no further than its first 512
//! bytes, redirects are not followed, and a failed notice is retried by a later pass (of any worker) with
//! a backoff, not in a loop here.

use printcore::monitor::alerts::{AlertRules, DatabaseWatch, Notice, NoticeEvent, DEFAULT_REASONS};
use printcore::PrintCore;
use serde::Deserialize;
use std::time::Duration;
use tracing::{info, warn};

/// The `[alerts]` section. Absent: no alerts, and no alert queries on the database.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Seconds between alert passes (each reads the printers, the waiting orders and the failed orders).
    pub interval_secs: f64,
    /// A printer offline or in error this many minutes (fractions allowed).
    pub printer_down_minutes: f64,
    /// A printer reporting a reason a person must act on (`reasons`) this many minutes.
    pub printer_reason_minutes: f64,
    /// A paid order waiting to print this many minutes.
    pub order_waiting_minutes: f64,
    /// This worker unable to reach the database this many minutes.
    pub database_minutes: f64,
    /// More failed orders than this in one pass are told in one summary.
    pub summarise_over: usize,
    /// Printer reasons a person must act on (default: printcore's list).
    pub reasons: Option<Vec<String>>,
    /// Kinds to leave out: "printer_down", "printer_reason", "orders_waiting", "order_failed",
    /// "database_unreachable".
    pub disable: Vec<String>,
    /// Seconds each delivery may take (a webhook request, an SMTP conversation).
    pub timeout_secs: f64,
    pub webhooks: Vec<WebhookConfig>,
    pub email: Option<EmailConfig>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            interval_secs: 60.0,
            printer_down_minutes: 10.0,
            printer_reason_minutes: 2.0,
            order_waiting_minutes: 30.0,
            database_minutes: 5.0,
            summarise_over: 3,
            reasons: None,
            disable: Vec::new(),
            timeout_secs: 10.0,
            webhooks: Vec::new(),
            email: None,
        }
    }
}

/// One webhook.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The incoming webhook's URL (https; http only for a service on this PC or the shop's network).
    pub url: String,
    /// "chat" (default): `{"text": ..., "content": ...}`, which Slack, Microsoft Teams (incoming webhook
    /// connector) and Discord take; "json": every field of the notice, for your own receiver.
    #[serde(default = "chat")]
    pub format: String,
}

fn chat() -> String {
    "chat".into()
}

/// E-mail over SMTP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// The SMTP server's host name.
    pub host: String,
    /// Default: 587 for starttls, 465 for tls, 25 for plain.
    pub port: Option<u16>,
    /// "starttls" (default), "tls" (TLS from the first byte) or "plain" (no encryption: only a relay on
    /// this PC or the shop's own network).
    #[serde(default = "starttls")]
    pub security: String,
    pub username: Option<String>,
    /// The SMTP password; `PRINTCORE_SMTP_PASSWORD` in the environment wins. Keep a file holding it
    /// readable by its owner only.
    pub password: Option<String>,
    /// The sender, e.g. "Print shop <printer@myshop.example>".
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
}

fn starttls() -> String {
    "starttls".into()
}

fn minutes(v: f64, key: &str) -> Result<Duration, String> {
    if !(v.is_finite() && v >= 0.0) {
        return Err(format!("[alerts] {key} must be a number of minutes, 0 or more (got {v})"));
    }
    Duration::try_from_secs_f64(v * 60.0).map_err(|_| format!("[alerts] {key} is too large (got {v})"))
}

const KINDS: [&str; 5] = ["printer_down", "printer_reason", "orders_waiting", "order_failed", "database_unreachable"];

impl AlertsConfig {
    /// printcore's rules from these settings; an error names the key.
    pub fn rules(&self) -> Result<AlertRules, String> {
        for k in &self.disable {
            if !KINDS.contains(&k.as_str()) {
                return Err(format!("[alerts] disable: unknown kind {k:?}; the kinds are {}", KINDS.join(", ")));
            }
        }
        let on = |k: &str| !self.disable.iter().any(|d| d == k);
        let mut rules = AlertRules {
            printer_down: on("printer_down")
                .then(|| minutes(self.printer_down_minutes, "printer_down_minutes"))
                .transpose()?,
            printer_reason: on("printer_reason")
                .then(|| minutes(self.printer_reason_minutes, "printer_reason_minutes"))
                .transpose()?,
            order_waiting: on("orders_waiting")
                .then(|| minutes(self.order_waiting_minutes, "order_waiting_minutes"))
                .transpose()?,
            order_failed: on("order_failed"),
            summarise_over: self.summarise_over,
            ..AlertRules::default()
        };
        minutes(self.database_minutes, "database_minutes")?;
        if let Some(r) = &self.reasons {
            if r.iter().any(|r| r.trim().is_empty()) {
                return Err("[alerts] reasons: an entry is empty".into());
            }
            rules.reasons = r.clone();
        } else {
            rules.reasons = DEFAULT_REASONS.iter().map(|s| s.to_string()).collect();
        }
        Ok(rules)
    }

    /// Checks every setting without a network; an error names the key.
    pub fn validate(&self) -> Result<(), String> {
        self.rules()?;
        if !(self.interval_secs.is_finite() && self.interval_secs > 0.0) {
            return Err(format!(
                "[alerts] interval_secs must be a positive number of seconds (got {})",
                self.interval_secs
            ));
        }
        if !(self.timeout_secs.is_finite() && self.timeout_secs > 0.0 && self.timeout_secs <= 300.0) {
            return Err(format!("[alerts] timeout_secs must be between 0 and 300 seconds (got {})", self.timeout_secs));
        }
        if self.webhooks.is_empty() && self.email.is_none() {
            return Err("[alerts] has nowhere to send: add webhooks = [{ url = \"...\" }] or [alerts.email]".into());
        }
        for (i, w) in self.webhooks.iter().enumerate() {
            let n = i + 1;
            let url =
                url::Url::parse(&w.url).map_err(|e| format!("[alerts] webhook {n}: the url is not a URL ({e})"))?;
            if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
                return Err(format!("[alerts] webhook {n}: the url must be https://host/... (or http://)"));
            }
            if !matches!(w.format.as_str(), "chat" | "json") {
                return Err(format!("[alerts] webhook {n}: format must be \"chat\" or \"json\", not {:?}", w.format));
            }
        }
        if let Some(e) = &self.email {
            if e.host.trim().is_empty() {
                return Err("[alerts.email] host is empty".into());
            }
            if !matches!(e.security.as_str(), "starttls" | "tls" | "plain") {
                return Err(format!(
                    "[alerts.email] security must be \"starttls\", \"tls\" or \"plain\", not {:?}",
                    e.security
                ));
            }
            e.from
                .parse::<lettre::message::Mailbox>()
                .map_err(|err| format!("[alerts.email] from {:?}: {err}", e.from))?;
            if e.to.is_empty() {
                return Err("[alerts.email] to: no recipients".into());
            }
            for t in &e.to {
                t.parse::<lettre::message::Mailbox>().map_err(|err| format!("[alerts.email] to {t:?}: {err}"))?;
            }
            if e.password.is_some() && e.username.is_none() {
                return Err("[alerts.email] password without username".into());
            }
        }
        Ok(())
    }
}

/// A message to deliver: one of printcore's notices, or this worker's own about the database.
#[derive(Debug, Clone)]
pub struct Message {
    pub key: String,
    pub kind: String,
    pub event: NoticeEvent,
    pub title: String,
    pub text: String,
    pub subject: String,
    pub since: Option<bson::DateTime>,
    pub episode: i64,
    pub worker: String,
}

impl Message {
    fn from_notice(n: &Notice, worker: &str) -> Message {
        Message {
            key: n.key.clone(),
            kind: n.kind.as_str().into(),
            event: n.event,
            title: n.title.clone(),
            text: n.text.clone(),
            subject: n.subject.clone(),
            since: n.since,
            episode: n.episode,
            worker: worker.into(),
        }
    }

    /// The webhook body of `format` ("chat" or "json").
    pub fn webhook_body(&self, format: &str) -> serde_json::Value {
        if format == "json" {
            return serde_json::json!({
                "event": self.event.as_str(),
                "kind": self.kind,
                "key": self.key,
                "episode": self.episode,
                "subject": self.subject,
                "title": self.title,
                "text": self.text,
                "since": self.since.and_then(|s| s.try_to_rfc3339_string().ok()),
                "worker": self.worker,
            });
        }
        let mark = match self.event {
            NoticeEvent::Opened => "[printcore] ",
            NoticeEvent::Resolved => "[printcore, resolved] ",
            NoticeEvent::Event => "[printcore] ",
        };
        let mut text = format!("{mark}{}", self.text);
        // Discord takes at most 2,000 characters; Slack and Teams more.
        if text.chars().count() > 1900 {
            text = format!("{}...", text.chars().take(1900).collect::<String>());
        }
        serde_json::json!({ "text": text, "content": text })
    }
}

/// Where notices go.
enum Channel {
    Webhook { name: String, url: String, format: String },
    Email { name: String, transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>, from: String, to: Vec<String> },
}

/// A stable name for a channel that does not reveal its secret (a webhook URL is one): stored in the
/// database as "delivered to".
fn channel_name(prefix: &str, secret: &str) -> String {
    // FNV-1a: stable across builds, unlike std's hasher.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in secret.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{prefix}:{:012x}", h & 0xffff_ffff_ffff)
}

/// An error with what caused it ("error sending request: connection refused"), never a URL.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// What the person reading a log may see of a webhook URL: its host.
fn url_host(url: &str) -> String {
    url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_else(|| "(webhook)".into())
}

/// Sends messages to the configured channels.
pub struct Notifier {
    channels: Vec<Channel>,
    http: reqwest::Client,
}

impl Notifier {
    pub fn new(c: &AlertsConfig) -> Result<Notifier, String> {
        let timeout = Duration::from_secs_f64(c.timeout_secs);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("printcore-worker/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot make the webhook client: {e}"))?;
        let mut channels: Vec<Channel> = c
            .webhooks
            .iter()
            .map(|w| Channel::Webhook {
                name: channel_name("webhook", &w.url),
                url: w.url.clone(),
                format: w.format.clone(),
            })
            .collect();
        if let Some(e) = &c.email {
            use lettre::transport::smtp::authentication::Credentials;
            use lettre::{AsyncSmtpTransport, Tokio1Executor};
            let builder = match e.security.as_str() {
                "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(&e.host),
                "plain" => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&e.host)),
                _ => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&e.host),
            }
            .map_err(|err| format!("[alerts.email] {}: {err}", e.host))?;
            let mut builder = builder.timeout(Some(timeout));
            if let Some(port) = e.port {
                builder = builder.port(port);
            }
            let password = std::env::var("PRINTCORE_SMTP_PASSWORD").ok().or_else(|| e.password.clone());
            if let (Some(user), Some(pass)) = (&e.username, password) {
                builder = builder.credentials(Credentials::new(user.clone(), pass));
            }
            channels.push(Channel::Email {
                name: channel_name("email", &format!("{}|{}", e.host, e.to.join(","))),
                transport: builder.build(),
                from: e.from.clone(),
                to: e.to.clone(),
            });
        }
        Ok(Notifier { channels, http })
    }

    /// The channels' stable names.
    pub fn channel_names(&self) -> Vec<String> {
        self.channels.iter().map(|c| self.name(c).to_owned()).collect()
    }

    fn name<'a>(&self, c: &'a Channel) -> &'a str {
        match c {
            Channel::Webhook { name, .. } | Channel::Email { name, .. } => name,
        }
    }

    /// Sends `m` to one channel (by its index); the error says which and why.
    async fn send_one(&self, c: &Channel, m: &Message) -> Result<(), String> {
        match c {
            Channel::Webhook { url, format, .. } => {
                let host = url_host(url);
                let mut resp = self
                    .http
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(m.webhook_body(format).to_string())
                    .send()
                    .await
                    .map_err(|e| format!("webhook at {host}: {}", with_causes(&e.without_url())))?;
                let status = resp.status();
                if status.is_success() {
                    return Ok(());
                }
                // A few bytes of its answer say why; never more, whatever the endpoint sends.
                let mut body = Vec::new();
                while body.len() < 512 {
                    match tokio::time::timeout(Duration::from_secs(2), resp.chunk()).await {
                        Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk[..chunk.len().min(512 - body.len())]),
                        _ => break,
                    }
                }
                let said: String =
                    String::from_utf8_lossy(&body).chars().filter(|c| !c.is_control()).take(200).collect();
                Err(format!("webhook at {host} answered {status}: {said}"))
            }
            Channel::Email { transport, from, to, .. } => {
                use lettre::AsyncTransport;
                let mut b = lettre::Message::builder()
                    .from(from.parse().map_err(|e| format!("e-mail from {from:?}: {e}"))?)
                    .subject(&m.title);
                for t in to {
                    b = b.to(t.parse().map_err(|e| format!("e-mail to {t:?}: {e}"))?);
                }
                let body = format!(
                    "{}\n\n-- \nprintcore worker {} ({}, episode {}: {})",
                    m.text,
                    m.worker,
                    m.kind,
                    m.episode,
                    m.event.as_str()
                );
                let email = b.body(body).map_err(|e| format!("e-mail: {e}"))?;
                transport.send(email).await.map(|_| ()).map_err(|e| format!("e-mail via SMTP: {e}"))
            }
        }
    }

    /// Sends `m` to every channel not in `skip`, all at once. Returns the names of the channels that took
    /// it and the errors of those that did not.
    pub async fn send(&self, m: &Message, skip: &[String]) -> (Vec<String>, Vec<String>) {
        let sends = self
            .channels
            .iter()
            .filter(|c| !skip.iter().any(|s| s == self.name(c)))
            .map(|c| async move { (self.name(c).to_owned(), self.send_one(c, m).await) });
        let mut ok = Vec::new();
        let mut errors = Vec::new();
        for (name, r) in futures::future::join_all(sends).await {
            match r {
                Ok(()) => ok.push(name),
                Err(e) => errors.push(e),
            }
        }
        (ok, errors)
    }
}

/// The alert loop of one worker.
pub struct Alerter {
    core: PrintCore,
    rules: AlertRules,
    notifier: Notifier,
    interval: Duration,
    worker: String,
    database: Option<DatabaseWatch>,
}

/// What one [`Alerter::once`] did.
#[derive(Debug, Default, Clone)]
pub struct AlertsDone {
    /// Notices delivered to every channel.
    pub sent: usize,
    /// Notices that failed (retried later).
    pub failed: usize,
    /// The pass itself failed (the database).
    pub pass_error: Option<String>,
}

impl Alerter {
    /// `worker`: this worker's id (its host name comes first), named in its notices.
    pub fn new(core: PrintCore, c: &AlertsConfig, worker: &str) -> Result<Alerter, String> {
        c.validate()?;
        let database = (!c.disable.iter().any(|d| d == "database_unreachable"))
            .then(|| DatabaseWatch::new(Duration::from_secs_f64(c.database_minutes * 60.0)));
        Ok(Alerter {
            core,
            rules: c.rules()?,
            notifier: Notifier::new(c)?,
            interval: Duration::from_secs_f64(c.interval_secs),
            worker: worker.to_owned(),
            database,
        })
    }

    /// One pass: printcore's pass, then the notices it gave this worker, each to every channel at once
    /// (each bounded by `timeout_secs`); then this worker's own notice about the database, if due.
    pub async fn once(&mut self) -> AlertsDone {
        let mut done = AlertsDone::default();
        let pass = self.core.alert_pass(&self.rules, &self.worker).await;
        let outcome = match &pass {
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = &outcome {
            warn!("alerts: the pass failed: {e}");
            done.pass_error = Some(e.clone());
        }
        if let Ok(pass) = pass {
            let worker = self.worker.clone();
            let deliveries = pass.notices.iter().map(|n| self.deliver(n, &worker));
            for sent in futures::future::join_all(deliveries).await {
                if sent {
                    done.sent += 1;
                } else {
                    done.failed += 1;
                }
            }
        }
        let who = self.worker.split('/').next().unwrap_or(&self.worker).to_owned();
        if let Some(watch) = self.database.as_mut() {
            if let Some((event, title, text)) = watch.observe(outcome, std::time::Instant::now(), &who) {
                let m = Message {
                    key: format!("database:{who}"),
                    kind: "database_unreachable".into(),
                    event,
                    title,
                    text,
                    subject: who.clone(),
                    since: None,
                    episode: 0,
                    worker: self.worker.clone(),
                };
                // Not deduplicated through the database (it is the thing missing): sent to every channel
                // until all took it, again at each pass.
                let (_, errors) = self.notifier.send(&m, &[]).await;
                if errors.is_empty() {
                    info!(event = event.as_str(), "alert sent: {}", m.title);
                    if let Some(w) = self.database.as_mut() {
                        w.delivered(event);
                    }
                    done.sent += 1;
                } else {
                    warn!("alerts: could not send {:?}: {}", m.title, errors.join("; "));
                    done.failed += 1;
                }
            }
        }
        done
    }

    async fn deliver(&self, n: &Notice, worker: &str) -> bool {
        let m = Message::from_notice(n, worker);
        let (ok, errors) = self.notifier.send(&m, &n.delivered).await;
        for name in &ok {
            if let Err(e) = self.core.alert_channel_delivered(n, name).await {
                warn!("alerts: {e}");
            }
        }
        if errors.is_empty() {
            info!(key = %n.key, event = n.event.as_str(), "alert sent: {}", n.title);
            if let Err(e) = self.core.alert_notice_sent(n).await {
                warn!("alerts: {e}");
            }
            true
        } else {
            let error = errors.join("; ");
            match self.core.alert_notice_failed(n, &self.rules, &error).await {
                Ok(true) => {
                    warn!(key = %n.key, "alerts: gave up on {:?} after {} attempts: {error}", n.title, n.attempt)
                }
                Ok(false) => warn!(
                    key = %n.key,
                    "alerts: could not send {:?} (attempt {}), trying again in {:?}: {error}",
                    n.title,
                    n.attempt,
                    self.rules.retry_after(n.attempt)
                ),
                Err(e) => warn!("alerts: could not send {:?}: {error}; and {e}", n.title),
            }
            false
        }
    }

    /// Passes every `interval_secs` until the task is dropped (the worker's end).
    pub async fn run(mut self) {
        info!(every = ?self.interval, channels = self.notifier.channels.len(), "alerts on");
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            self.once().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AlertsConfig, String> {
        let c: AlertsConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        c.validate().map(|_| c)
    }

    #[test]
    fn settings_are_checked_and_name_their_key() {
        parse("webhooks = [{ url = \"https://hooks.slack.com/services/x\" }]").unwrap();
        for (bad, key) in [
            ("", "nowhere to send"),
            ("webhooks = [{ url = \"ftp://x\" }]", "webhook 1"),
            ("webhooks = [{ url = \"https://x\", format = \"xml\" }]", "format"),
            ("printer_down_minutes = -1\nwebhooks = [{ url = \"https://x\" }]", "printer_down_minutes"),
            ("disable = [\"paper\"]\nwebhooks = [{ url = \"https://x\" }]", "disable"),
            ("interval_secs = 0\nwebhooks = [{ url = \"https://x\" }]", "interval_secs"),
            ("[email]\nhost = \"smtp.x\"\nfrom = \"not an address\"\nto = [\"a@b.example\"]", "from"),
            (
                "[email]\nhost = \"smtp.x\"\nsecurity = \"ssl\"\nfrom = \"a@b.example\"\nto = [\"a@b.example\"]",
                "security",
            ),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(key), "{bad}: {e}");
        }
    }

    #[tokio::test]
    async fn every_email_security_makes_a_transport() {
        for security in ["starttls", "tls", "plain"] {
            let c = AlertsConfig {
                email: Some(EmailConfig {
                    host: "smtp.example".into(),
                    port: None,
                    security: security.into(),
                    username: Some("u".into()),
                    password: Some("p".into()),
                    from: "Shop <printer@shop.example>".into(),
                    to: vec!["owner@shop.example".into()],
                }),
                ..Default::default()
            };
            c.validate().unwrap();
            assert_eq!(Notifier::new(&c).unwrap().channel_names().len(), 1, "{security}");
        }
    }

    #[test]
    fn the_chat_body_suits_slack_teams_and_discord() {
        let m = Message {
            key: "k".into(),
            kind: "printer_reason".into(),
            event: NoticeEvent::Opened,
            title: "Printer A: out of paper".into(),
            text: "x".repeat(5000),
            subject: "a".into(),
            since: None,
            episode: 1,
            worker: "pc/1".into(),
        };
        let b = m.webhook_body("chat");
        assert_eq!(b["text"], b["content"]);
        assert!(b["content"].as_str().unwrap().chars().count() <= 2000);
        assert_eq!(m.webhook_body("json")["event"], "open");
        // A channel's stored name does not reveal the webhook's secret URL.
        let n = channel_name("webhook", "https://hooks.slack.com/services/T0/B0/secret");
        assert!(n.starts_with("webhook:") && !n.contains("secret"));
    }
}
