//! `worker status`: what this print PC's worker is doing now, per printer in its configuration, read from
//! the database (printcore's [`PrintCore::printer_activity`]), so it works while the service runs and
//! from any account that can read the configuration. Human-readable, or JSON for scripts.

use crate::config::Config;
use printcore::monitor::PrinterActivity;
use printcore::{Order, PrintCore};
use serde_json::{json, Value};

/// A reading older than this many health intervals means no worker is reading the printer now.
const STALE_READINGS: f64 = 3.0;

/// Each configured printer's activity, in the configuration's order.
pub async fn read(core: &PrintCore, config: &Config) -> printcore::Result<Vec<PrinterActivity>> {
    let mut out = Vec::new();
    for p in &config.printers {
        out.push(core.printer_activity(&p.id, p.capabilities.as_ref()).await?);
    }
    Ok(out)
}

fn rfc3339(t: bson::DateTime) -> String {
    t.try_to_rfc3339_string().unwrap_or_else(|_| t.to_string())
}

/// "12 s ago", "3 min ago", "2 h ago", "4 days ago".
fn ago(now: bson::DateTime, t: bson::DateTime) -> String {
    let s = (now.timestamp_millis() - t.timestamp_millis()).max(0) / 1000;
    match s {
        0..120 => format!("{s} s ago"),
        120..7200 => format!("{} min ago", s / 60),
        7200..172_800 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86_400),
    }
}

fn order_line(o: &Order) -> String {
    let opts = o.options();
    let mut what = vec![opts.page_size.clone().unwrap_or_else(|| "size not given".into())];
    what.push(if opts.color.unwrap_or(false) { "colour".into() } else { "mono".into() });
    if opts.duplex.unwrap_or(false) {
        what.push("two-sided".into());
    }
    let copies = opts.copies.unwrap_or(1);
    what.push(format!("{copies} cop{}", if copies == 1 { "y" } else { "ies" }));
    format!("{} ({})", o.order_id, what.join(", "))
}

/// The human-readable report.
pub fn render(activities: &[PrinterActivity], config: &Config, now: bson::DateTime) -> String {
    let mut out = String::new();
    let stale_after = config.worker.health_interval_secs * STALE_READINGS;
    for (a, p) in activities.iter().zip(&config.printers) {
        out.push_str(&format!("{} ({})\n", p.id, p.name));
        match &a.printer {
            None => {
                out.push_str("  state: never recorded (no worker has read this printer yet; is the worker running?)\n")
            }
            Some(doc) => {
                let status = doc.status.map(|s| s.as_str()).unwrap_or("unknown");
                let mut switches = Vec::new();
                if doc.is_active == Some(false) {
                    switches.push("switched off in the monitor");
                }
                if doc.auto_print_enabled == Some(false) {
                    switches.push("auto-print off");
                }
                let switches = if switches.is_empty() { String::new() } else { format!(" ({})", switches.join(", ")) };
                out.push_str(&format!("  state: {status}{switches}\n"));
                if !doc.state_reasons.is_empty() {
                    out.push_str(&format!("  reasons: {}\n", doc.state_reasons.join(", ")));
                }
                if let Some(m) = &doc.error_message {
                    out.push_str(&format!("  printer says: {m}\n"));
                }
                if let Some(q) = doc.queue_length {
                    out.push_str(&format!("  jobs at the printer (all computers): {q}\n"));
                }
                if let Some(since) = doc.offline_since {
                    out.push_str(&format!("  not online since {} ({})\n", rfc3339(since), ago(now, since)));
                }
            }
        }
        match a.health_checked_at {
            Some(t) => {
                let age = (now.timestamp_millis() - t.timestamp_millis()) as f64 / 1000.0;
                let note = if age > stale_after { "; no worker has read it since: is the worker running?" } else { "" };
                out.push_str(&format!("  last health reading: {}{note}\n", ago(now, t)));
            }
            None if a.printer.is_some() => out.push_str("  last health reading: never\n"),
            None => {}
        }
        if a.printing.is_empty() {
            out.push_str("  printing: nothing\n");
        }
        for o in &a.printing {
            let at_printer = match (&o.printer_job_ref, o.print_submitted_at) {
                (Some(r), Some(t)) => format!("at the printer as job {r} since {}", ago(now, t)),
                (Some(r), None) => format!("being sent as job {r}"),
                (None, _) => "preparing (download, validation)".into(),
            };
            let since = o.print_started_at.map(|t| format!(", claimed {}", ago(now, t))).unwrap_or_default();
            let attempt = o.print_attempt.filter(|a| *a > 1).map(|a| format!(", attempt {a}")).unwrap_or_default();
            out.push_str(&format!("  printing: {}: {at_printer}{since}{attempt}\n", order_line(o)));
            if let Some(w) = &o.print_wait_reason {
                out.push_str(&format!("    waiting: {w}\n"));
            }
        }
        let next: Vec<String> = a.next.iter().map(|o| o.order_id.clone()).collect();
        match a.waiting {
            0 => out.push_str("  waiting for it: none\n"),
            n => out.push_str(&format!(
                "  waiting for it: {n} order{} (next: {}{})\n",
                if n == 1 { "" } else { "s" },
                next.join(", "),
                if n as usize > next.len() { ", ..." } else { "" }
            )),
        }
        match &a.last_printed {
            Some(o) => {
                let when = o.print_completed_at.map(|t| format!(" at {} ({})", rfc3339(t), ago(now, t)));
                out.push_str(&format!("  last print: {}{}\n", o.order_id, when.unwrap_or_default()));
            }
            None => out.push_str(&format!(
                "  last print: none recorded{}\n",
                if a.printer.as_ref().and_then(|p| p.last_successful_print_at).is_none() {
                    " (in the last 24 hours)"
                } else {
                    ""
                }
            )),
        }
        match &a.last_failed {
            Some(o) => out.push_str(&format!(
                "  last error: {} failed{}: {}\n",
                o.order_id,
                o.created_at.map(|t| format!(" (ordered {})", ago(now, t))).unwrap_or_default(),
                o.print_error.as_deref().unwrap_or("no message stored")
            )),
            None => out.push_str("  last error: none\n"),
        }
    }
    out
}

fn order_json(o: &Order) -> Value {
    let opts = o.options();
    let t = |d: Option<bson::DateTime>| d.map(rfc3339);
    json!({
        "orderId": o.order_id,
        "printJobId": o.print_job_id,
        "printStatus": o.print_status.map(|s| s.as_str()),
        "printAttempt": o.print_attempt,
        "printerJobRef": o.printer_job_ref,
        "printWaitReason": o.print_wait_reason,
        "printError": o.print_error,
        "printStartedAt": t(o.print_started_at),
        "printSubmittedAt": t(o.print_submitted_at),
        "printCompletedAt": t(o.print_completed_at),
        "createdAt": t(o.created_at),
        "printingOptions": {
            "pageSize": opts.page_size,
            "color": opts.color,
            "duplex": opts.duplex,
            "copies": opts.copies,
        },
    })
}

/// The report for scripts: one object per printer, field names as in the database (camelCase).
pub fn to_json(activities: &[PrinterActivity], config: &Config, now: bson::DateTime) -> Value {
    let printers: Vec<Value> = activities
        .iter()
        .zip(&config.printers)
        .map(|(a, p)| {
            let doc = a.printer.as_ref();
            let t = |d: Option<bson::DateTime>| d.map(rfc3339);
            json!({
                "printerId": p.id,
                "name": p.name,
                "recorded": doc.is_some(),
                "status": doc.and_then(|d| d.status).map(|s| s.as_str()),
                "stateReasons": doc.map(|d| d.state_reasons.clone()).unwrap_or_default(),
                "errorMessage": doc.and_then(|d| d.error_message.clone()),
                "queueLength": doc.and_then(|d| d.queue_length),
                "isActive": doc.and_then(|d| d.is_active),
                "autoPrintEnabled": doc.and_then(|d| d.auto_print_enabled),
                "offlineSince": t(doc.and_then(|d| d.offline_since)),
                "lastSeenAt": t(doc.and_then(|d| d.last_seen_at)),
                "healthCheckedAt": t(a.health_checked_at),
                "workerId": doc.and_then(|d| d.worker_id.clone()),
                "printing": a.printing.iter().map(order_json).collect::<Vec<_>>(),
                "waiting": a.waiting,
                "next": a.next.iter().map(order_json).collect::<Vec<_>>(),
                "lastPrinted": a.last_printed.as_ref().map(order_json),
                "lastFailed": a.last_failed.as_ref().map(order_json),
            })
        })
        .collect();
    json!({ "at": rfc3339(now), "printers": printers })
}

#[cfg(test)]
mod tests {
    use super::ago;

    #[test]
    fn ages_read_naturally() {
        let now = bson::DateTime::from_millis(1_000_000_000);
        let before = |s: i64| bson::DateTime::from_millis(1_000_000_000 - s * 1000);
        assert_eq!(ago(now, before(5)), "5 s ago");
        assert_eq!(ago(now, before(600)), "10 min ago");
        assert_eq!(ago(now, before(3 * 3600)), "3 h ago");
        assert_eq!(ago(now, before(5 * 86_400)), "5 days ago");
        assert_eq!(ago(now, bson::DateTime::from_millis(1_000_000_500)), "0 s ago");
    }
}
