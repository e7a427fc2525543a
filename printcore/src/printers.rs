//! The `printers` collection: health written by the worker's health loop, read by the claim loop (only
//! online printers with auto-print enabled take orders) and by the monitor.

use crate::db::PrintCore;
use crate::error::{Error, Result};
use crate::model::{Printer, PrinterCapabilities, PrinterStatus};
use bson::{doc, Bson, Document};
use futures::TryStreamExt;
use mongodb::options::ReturnDocument;

/// One reading of a printer's health, as the worker's health loop takes it.
#[derive(Debug, Clone)]
pub struct PrinterHealth {
    /// The printer's unique id (`printer_id`).
    pub printer_id: String,
    /// The shop's name for it ("Front desk").
    pub name: String,
    /// The printer's name on the print PC (CUPS queue, Windows printer name, IPP URI).
    pub printer_name: String,
    /// Its state as the backend read it.
    pub status: PrinterStatus,
    /// Jobs waiting in the printer's or spooler's own queue, when the backend can tell.
    pub queue_length: Option<i64>,
    /// Why it is not online (the printer's own reasons, or why it could not be reached).
    pub error_message: Option<String>,
    /// The driver, when the system tells.
    pub driver_name: Option<String>,
    /// `Windows` or `Linux`.
    pub system_name: Option<String>,
    /// `usb`, `network` or `wireless`.
    pub connection_type: Option<String>,
    /// What it can print, when the backend can tell (stored; the claim filters by it).
    pub capabilities: Option<PrinterCapabilities>,
    /// The worker that read it (`workerId`).
    pub worker_id: String,
    /// Whether the printer answered at all (`last_seen_at` moves only then).
    pub reachable: bool,
    /// The worker's latest completed print on this printer, if any (kept when older than the stored one).
    pub last_successful_print_at: Option<bson::DateTime>,
    /// The printer's own reason keywords (IPP `printer-state-reasons`, Windows spooler status names), as
    /// the backend read them. Stored in `state_reasons` as given, without IPP's `none`, blanks and
    /// repeats (at most [`MAX_STATE_REASONS`], each cut to 100 characters); replaced at every reading.
    pub state_reasons: Vec<String>,
}

/// The most reasons one printer document keeps.
pub const MAX_STATE_REASONS: usize = 32;

/// The reasons as stored: trimmed, without `none`, blanks and repeats, at most [`MAX_STATE_REASONS`].
pub fn stored_reasons(reasons: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in reasons {
        let r: String = r.trim().chars().filter(|c| !c.is_control()).take(100).collect();
        if r.is_empty() || r.eq_ignore_ascii_case("none") || out.contains(&r) {
            continue;
        }
        out.push(r);
        if out.len() == MAX_STATE_REASONS {
            break;
        }
    }
    out
}

fn parse_printer(d: Document) -> Result<Printer> {
    let id = d.get_str("printer_id").unwrap_or("(no printer_id)").to_owned();
    bson::from_document(d)
        .map_err(|e| Error::InvalidDocument { order_id: format!("(printer {id})"), message: e.to_string() })
}

impl PrintCore {
    /// Writes a health reading into the printer's document (created if missing, active and auto-printing
    /// by default). `last_successful_print_at`, `isActive` and `autoPrintEnabled` are kept;
    /// `offline_since` is set when the printer stops being online and cleared when it is back;
    /// `state_reasons` is replaced by this reading's (see [`PrinterHealth::state_reasons`]). Returns the
    /// document as written, so the caller sees the shop's `isActive`/`autoPrintEnabled` switches.
    pub async fn record_printer_health(&self, h: &PrinterHealth) -> Result<Printer> {
        if h.printer_id.trim().is_empty() {
            return Err(Error::InvalidArgument("a printer needs a printer_id".into()));
        }
        let now = self.now();
        let online = h.status == PrinterStatus::Online || h.status == PrinterStatus::Busy;
        let opt = |v: &Option<String>| v.clone().map(Bson::String).unwrap_or(Bson::Null);
        let mut set = doc! {
            "name": &h.name,
            "printer_name": &h.printer_name,
            "status": h.status.as_str(),
            "queue_length": h.queue_length.map(Bson::Int64).unwrap_or(Bson::Null),
            "error_message": opt(&h.error_message),
            "workerId": &h.worker_id,
            "isActive": { "$ifNull": ["$isActive", true] },
            "autoPrintEnabled": { "$ifNull": ["$autoPrintEnabled", true] },
            "offline_since": if online { Bson::Null } else { Bson::Document(doc! { "$ifNull": ["$offline_since", now] }) },
            "health_checked_at": now,
            // $literal: a reason is the printer's text, never a field path or an operator.
            "state_reasons": { "$literal": stored_reasons(&h.state_reasons) },
        };
        for (k, v) in
            [("driver_name", &h.driver_name), ("system_name", &h.system_name), ("connectionType", &h.connection_type)]
        {
            if v.is_some() {
                set.insert(k, opt(v));
            }
        }
        if let Some(c) = &h.capabilities {
            set.insert("capabilities", doc! { "$literal": bson::to_bson(c).expect("capabilities serialise") });
        }
        if h.reachable {
            set.insert("last_seen_at", now);
        }
        if let Some(t) = h.last_successful_print_at {
            // $max of an absent field and a date is the date.
            set.insert("last_successful_print_at", doc! { "$max": ["$last_successful_print_at", t] });
        }
        // A pipeline update, so "keep it if set" ($ifNull) is decided by the server in the same write.
        let written = self
            .inner
            .printers
            .find_one_and_update(doc! { "printer_id": &h.printer_id }, vec![doc! { "$set": set }])
            .upsert(true)
            .return_document(ReturnDocument::After)
            .await
            .map_err(Error::db(format!("recording the health of printer {}", h.printer_id)))?
            .ok_or_else(|| Error::InvalidArgument(format!("printer {} could not be written", h.printer_id)))?;
        parse_printer(written)
    }

    /// One printer by its `printer_id`.
    pub async fn printer(&self, printer_id: &str) -> Result<Option<Printer>> {
        let d = self
            .inner
            .printers
            .find_one(doc! { "printer_id": printer_id })
            .await
            .map_err(Error::db(format!("reading printer {printer_id}")))?;
        d.map(parse_printer).transpose()
    }

    /// Every printer that can be read, by `printer_id`. A printer document that cannot be read (a field of
    /// the wrong type) is logged and left out, so one bad document never hides the others.
    pub async fn printers(&self) -> Result<Vec<Printer>> {
        Ok(self.read_printers().await?.0)
    }

    /// Every printer, by `printer_id`, and a message for each document that could not be read.
    pub(crate) async fn read_printers(&self) -> Result<(Vec<Printer>, Vec<String>)> {
        let docs: Vec<Document> = self
            .inner
            .printers
            .find(doc! {})
            .sort(doc! { "printer_id": 1 })
            .limit(1000)
            .await
            .map_err(Error::db("reading printers"))?
            .try_collect()
            .await
            .map_err(Error::db("reading printers"))?;
        let mut printers = Vec::with_capacity(docs.len());
        let mut unreadable = Vec::new();
        for d in docs {
            match parse_printer(d) {
                Ok(p) => printers.push(p),
                Err(e) => {
                    tracing::warn!("reading printers: skipped a printer that cannot be read: {e}");
                    unreadable.push(e.to_string());
                }
            }
        }
        Ok((printers, unreadable))
    }
}
