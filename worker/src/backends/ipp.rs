//! IPP: any IPP Everywhere printer or CUPS queue (`ipp://host:631/printers/Queue`, `ipps://...`).
//!
//! Create-Job, then Send-Document for each document, on every printer that lists both in
//! `operations-supported` (IPP Everywhere requires them; CUPS queues have them): the job's id is known,
//! and stored on the order, before any document goes, so a lost answer is followed by the job's id. Print-Job
//! (one per document) on printers without them. The job name is the `printJobId` either way.
//! Get-Printer-Attributes for state, reasons, queue and capabilities; Get-Job-Attributes for a job by id,
//! Get-Jobs (completed and not-completed) to find one by name.
//!
//! A request that carries a document is bounded by the time without progress, not by its whole length: a
//! 24 MB poster to a printer that reads 1.5 MB/s takes 16 s, and is still sending all along. Connecting is
//! bounded by the `ipp` crate (10 s); every other request by the printer's `timeout_secs`.

use crate::printer::{FoundJob, JobSpec, JobState, Printer, PrinterError, PrinterState};
use async_trait::async_trait;
use ipp::operation::IppOperation;
use ipp::prelude::*;
use printcore::files::pdf::nearest_named;
use printcore::{PrinterCapabilities, PrinterStatus};
use std::time::Duration;

/// An IPP printer or CUPS queue.
pub struct IppPrinter {
    uri: Uri,
    shown: String,
    timeout: Duration,
    /// How long to keep offering the later documents of a job to a printer busy with its earlier ones.
    busy_wait: Duration,
    /// Sent as requesting-user-name.
    user: String,
    /// Whether the printer takes multi-document jobs, once known (read with the capabilities, or asked
    /// at the first order of several files): it does not change, and asking before every order would be
    /// one more request between the worker and the job.
    multi_document: std::sync::Mutex<Option<bool>>,
    /// Whether the printer lists Create-Job and Send-Document in `operations-supported`, once known.
    create_job: std::sync::Mutex<Option<bool>>,
    /// Whether `create_job` was configured (then what the printer lists does not change it).
    create_job_configured: std::sync::Mutex<bool>,
}

const STATUS_ATTRIBUTES: [&str; 5] = [
    "printer-state",
    "printer-state-reasons",
    "printer-state-message",
    "queued-job-count",
    "printer-is-accepting-jobs",
];
const CAPABILITY_ATTRIBUTES: [&str; 6] = [
    "media-supported",
    "sides-supported",
    "color-supported",
    "copies-supported",
    "multiple-document-jobs-supported",
    "operations-supported",
];

/// IPP operation codes (RFC 8011 5.4.15).
const OP_CREATE_JOB: i32 = 0x0005;
const OP_SEND_DOCUMENT: i32 = 0x0006;

/// The IPP job name of document `k` (1-based) of `n` of a print job. One job: the print job's name. A
/// printer without multi-document jobs gets one job per document, each named with its place, so what is
/// at the printer can be told from what is missing (a lost answer or a stop between documents).
pub fn part_name(job_name: &str, k: usize, n: usize) -> String {
    if n <= 1 {
        job_name.to_owned()
    } else {
        format!("{job_name}-{k}of{n}")
    }
}

/// Which document of which total an IPP job named `name` carries for print job `job_name`, if any.
pub fn part_of(name: &str, job_name: &str) -> Option<(usize, usize)> {
    if name == job_name {
        return Some((1, 1));
    }
    let rest = name.strip_prefix(job_name)?.strip_prefix('-')?;
    let (k, n) = rest.split_once("of")?;
    let (k, n) = (k.parse::<usize>().ok()?, n.parse::<usize>().ok()?);
    (k >= 1 && k <= n).then_some((k, n))
}

/// Combines the states of the jobs that carry one print job's documents (a printer without multi-document
/// jobs gets one IPP job per document). A job the printer does not know makes the whole absent; one in a
/// state not known here makes it unrecognized (never absent). The Windows spooler's jobs combine the same
/// way (`spooler.rs`).
pub fn combine(states: &[JobState]) -> JobState {
    let any = |s: JobState| states.contains(&s);
    if states.is_empty() || any(JobState::Absent) {
        JobState::Absent
    } else if let Some(u) = states.iter().find(|s| matches!(s, JobState::Unrecognized(_))) {
        *u
    } else if any(JobState::Partial) {
        JobState::Partial
    } else if any(JobState::Deleted) {
        JobState::Deleted
    } else if any(JobState::Aborted) {
        JobState::Aborted
    } else if any(JobState::Cancelled) {
        JobState::Cancelled
    } else if any(JobState::Incoming) {
        JobState::Incoming
    } else if states.iter().all(|s| *s == JobState::Completed) {
        JobState::Completed
    } else if any(JobState::Stopped) {
        JobState::Stopped
    } else if any(JobState::Processing) || any(JobState::Completed) {
        JobState::Processing
    } else if any(JobState::Held) {
        JobState::Held
    } else {
        JobState::Pending
    }
}

/// The print job carried by these printer jobs, `(job id, document k, of n, state)` each (several when a
/// printer got one job per document): their ids as the reference and their combined state, `Partial` when
/// a document 1..=n is missing. `None` when there are none.
pub fn found_job(mut found: Vec<(i64, usize, usize, JobState)>) -> Option<FoundJob> {
    if found.is_empty() {
        return None;
    }
    found.sort_by_key(|(id, k, ..)| (*k, *id));
    let mut states: Vec<JobState> = found.iter().map(|(.., s)| *s).collect();
    // Every document 1..=n must be there; otherwise only part of the order reached the printer.
    let total = found.iter().map(|(_, _, n, _)| *n).max().unwrap_or(1);
    let complete = (1..=total).all(|k| found.iter().any(|(_, fk, fn_, _)| *fk == k && *fn_ == total));
    if !complete {
        states.push(JobState::Partial);
    }
    let job_ref = found.iter().map(|(id, ..)| id.to_string()).collect::<Vec<_>>().join(",");
    Some(FoundJob { job_ref, state: combine(&states) })
}

/// The IPP job ids in a job reference ("12" or "12,13").
fn job_ids(job_ref: &str) -> Result<Vec<i32>, PrinterError> {
    job_ref
        .split(',')
        .map(|p| {
            p.trim()
                .parse::<i32>()
                .map_err(|_| PrinterError::Rejected(format!("{job_ref:?} is not an IPP job reference")))
        })
        .collect()
}

impl IppPrinter {
    /// `uri`: `ipp://` or `ipps://` (http/https are accepted too). `timeout` bounds every request.
    pub fn new(uri: &str, timeout: Duration) -> Result<IppPrinter, PrinterError> {
        let shown = printcore::redact_uri(uri);
        let parsed: Uri =
            uri.parse().map_err(|e| PrinterError::Rejected(format!("printer URI {shown:?} is not valid: {e}")))?;
        match parsed.scheme_str() {
            Some("ipp" | "ipps" | "http" | "https") => {}
            _ => {
                return Err(PrinterError::Rejected(format!("printer URI {shown:?} must start with ipp:// or ipps://")))
            }
        }
        Ok(IppPrinter {
            shown,
            uri: parsed,
            timeout,
            busy_wait: Duration::from_secs(300),
            user: "printcore".into(),
            multi_document: std::sync::Mutex::new(None),
            create_job: std::sync::Mutex::new(None),
            create_job_configured: std::sync::Mutex::new(false),
        })
    }

    /// How long the later documents of an order wait for a printer busy with its earlier ones (one
    /// Print-Job per document on printers without multi-document jobs) before the order fails as partly
    /// sent. Five minutes by default.
    pub fn with_busy_wait(mut self, busy_wait: Duration) -> IppPrinter {
        self.busy_wait = busy_wait;
        self
    }

    /// Whether to create jobs before their documents (`Some(false)`: always Print-Job, for a printer whose
    /// Create-Job misbehaves; `Some(true)`: Create-Job even where the printer does not list it). `None`:
    /// read from `operations-supported` (the default).
    pub fn with_create_job(self, create_job: Option<bool>) -> IppPrinter {
        *self.create_job.lock().unwrap() = create_job;
        *self.create_job_configured.lock().unwrap() = create_job.is_some();
        self
    }

    /// Whether the printer takes jobs of several documents (`multiple-document-jobs-supported`), asked once
    /// (`worker printers --discover` shows it).
    pub async fn takes_multi_document_jobs(&self) -> Result<bool, PrinterError> {
        self.multiple_documents_supported().await
    }

    fn client(&self) -> AsyncIppClient {
        AsyncIppClient::builder(self.uri.clone()).request_timeout(self.timeout).build()
    }

    async fn send(&self, request: IppRequestResponse, what: &str) -> Result<IppRequestResponse, PrinterError> {
        self.exchange(request, what).await.map_err(|(e, _)| e)
    }

    /// Sends a request that prints (Print-Job, Send-Document) with `document`. A failure after the
    /// connection was made is `Uncertain`: the printer may have read the whole job and only its answer was
    /// lost. Bounded by the time without progress (see the module's documentation).
    async fn send_job(
        &self,
        build: impl FnOnce(IppPayload) -> IppRequestResponse,
        document: Vec<u8>,
        what: &str,
    ) -> Result<IppRequestResponse, PrinterError> {
        let progress = Progress::default();
        let request = build(IppPayload::new(progress.reader(document)));
        let response = match self.exchange_with(request, what, Some(&progress)).await {
            Ok(r) => r,
            Err((e, true)) => return Err(PrinterError::Uncertain(e.message().to_owned())),
            Err((e, false)) => return Err(e),
        };
        self.check_status(response, what)
    }

    /// One request and its answer. On failure, also whether the request may have reached the printer
    /// (anything but a failure to connect).
    async fn exchange(
        &self,
        request: IppRequestResponse,
        what: &str,
    ) -> Result<IppRequestResponse, (PrinterError, bool)> {
        self.exchange_with(request, what, None).await
    }

    /// [`IppPrinter::exchange`]; with `progress`, bounded by the time since the document last moved (and
    /// since it was all read, for the answer) instead of by the whole exchange.
    async fn exchange_with(
        &self,
        request: IppRequestResponse,
        what: &str,
        progress: Option<&Progress>,
    ) -> Result<IppRequestResponse, (PrinterError, bool)> {
        let late = || {
            let how = if progress.is_some() { "with no progress for" } else { "within" };
            PrinterError::Transient(format!("printer {} did not answer {what} {how} {:?}", self.shown, self.timeout))
        };
        let sent = match progress {
            None => tokio::time::timeout(self.timeout + Duration::from_secs(1), self.client().send(request))
                .await
                .map_err(|_| ()),
            Some(p) => {
                // No whole-request limit: a watchdog ends the exchange once nothing moved for `timeout`.
                let client = AsyncIppClient::builder(self.uri.clone()).build();
                let send = client.send(request);
                tokio::pin!(send);
                loop {
                    tokio::select! {
                        r = &mut send => break Ok(r),
                        _ = tokio::time::sleep(Duration::from_millis(250)) => {
                            if p.idle() > self.timeout {
                                break Err(());
                            }
                        }
                    }
                }
            }
        };
        match sent {
            Err(_) => Err((late(), true)),
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => {
                let detail = ipp_error(&e);
                // Not connected: the request never left. An HTTP error status is the printer's answer: it
                // refused the request.
                let may_have_arrived = !not_connected(&e) && !matches!(e, IppError::RequestError(_));
                if may_have_arrived && detail.contains("timed out") {
                    return Err((late(), true));
                }
                let message = format!("printer {} could not be reached for {what}: {detail}", self.shown);
                Err((PrinterError::Transient(message), may_have_arrived))
            }
        }
    }

    /// Sends and requires a successful status, classifying failures.
    async fn send_ok(&self, request: IppRequestResponse, what: &str) -> Result<IppRequestResponse, PrinterError> {
        let response = self.send(request, what).await?;
        self.check_status(response, what)
    }

    /// A successful IPP status, or the failure it means.
    fn check_status(&self, response: IppRequestResponse, what: &str) -> Result<IppRequestResponse, PrinterError> {
        let status = response.header().status_code();
        if status.is_success() {
            return Ok(response);
        }
        let code = response.header().operation_or_status;
        let message =
            format!("printer {} refused {what}: {status} (0x{code:04x}){}", self.shown, status_message(&response));
        // server-error-busy: the printer is printing something else. Other 0x05xx are server errors
        // (temporarily unavailable...): try again later.
        if code == 0x0507 {
            Err(PrinterError::Busy(message))
        } else if code >= 0x0500 || code == 0x0400 {
            Err(PrinterError::Transient(message))
        } else {
            Err(PrinterError::Rejected(message))
        }
    }

    fn request(&self, operation: Operation) -> IppRequestResponse {
        let mut r = IppRequestResponse::new(IppVersion::v1_1(), operation, Some(self.uri.clone()));
        r.attributes_mut().add(
            DelimiterTag::OperationAttributes,
            IppAttribute::new(IppAttribute::REQUESTING_USER_NAME, IppValue::NameWithoutLanguage(self.user.clone())),
        );
        r
    }

    async fn printer_attributes(&self, names: &[&str]) -> Result<IppRequestResponse, PrinterError> {
        let mut r = self.request(Operation::GetPrinterAttributes);
        r.attributes_mut().add(DelimiterTag::OperationAttributes, keywords("requested-attributes", names));
        self.send_ok(r, "Get-Printer-Attributes").await
    }

    /// The job template attributes for `job`, with media chosen from what the printer supports.
    async fn job_attributes(&self, job: &JobSpec) -> Result<Vec<IppAttribute>, PrinterError> {
        let mut attrs = vec![
            IppAttribute::new("copies", IppValue::Integer(job.copies.clamp(1, i32::MAX as i64) as i32)),
            IppAttribute::new(
                "sides",
                IppValue::Keyword(if job.duplex { "two-sided-long-edge" } else { "one-sided" }.into()),
            ),
            IppAttribute::new(
                "print-color-mode",
                IppValue::Keyword(if job.color { "color" } else { "monochrome" }.into()),
            ),
        ];
        if let Some(size) = &job.page_size {
            let media = self.printer_attributes(&["media-supported"]).await?;
            let supported = strings(printer_group(&media).and_then(|g| g.get("media-supported")));
            // The printer's own keyword for the size; else (a raw CUPS queue lists no media, and the
            // configured capabilities said the printer takes it) the standard PWG name; else none, and the
            // printer uses its loaded paper. The capability check before sending is where a size the printer
            // cannot take is refused, never here.
            let keyword = supported
                .iter()
                .find(|m| media_name(m).is_some_and(|n| n.eq_ignore_ascii_case(size)))
                .cloned()
                .or_else(|| pwg_media(size).map(str::to_owned));
            match keyword {
                Some(k) => attrs.push(IppAttribute::new("media", IppValue::Keyword(k))),
                None => tracing::debug!(order_id = %job.order_id, "no media keyword for {size}; the printer's default"),
            }
        }
        Ok(attrs)
    }

    async fn multiple_documents_supported(&self) -> Result<bool, PrinterError> {
        if let Some(known) = *self.multi_document.lock().unwrap() {
            return Ok(known);
        }
        let r = self.printer_attributes(&["multiple-document-jobs-supported"]).await?;
        Ok(self.note_multi_document(&r))
    }

    fn note_multi_document(&self, r: &IppRequestResponse) -> bool {
        let group = printer_group(r);
        let supported = group
            .and_then(|g| g.get("multiple-document-jobs-supported"))
            .and_then(|a| a.value().as_boolean().copied())
            .unwrap_or(false);
        *self.multi_document.lock().unwrap() = Some(supported);
        if let Some(ops) = group.and_then(|g| g.get("operations-supported")) {
            if !*self.create_job_configured.lock().unwrap() {
                *self.create_job.lock().unwrap() = Some(creates_jobs(ops.value()));
            }
        }
        supported
    }

    /// Whether the printer takes Create-Job and Send-Document (read once, with the capabilities or at the
    /// first job).
    async fn creates_jobs(&self) -> Result<bool, PrinterError> {
        if let Some(known) = *self.create_job.lock().unwrap() {
            return Ok(known);
        }
        let r = self.printer_attributes(&["operations-supported", "multiple-document-jobs-supported"]).await?;
        self.note_multi_document(&r);
        let known = *self.create_job.lock().unwrap();
        // A printer that does not say which operations it takes gets Print-Job, which every printer has.
        Ok(known.unwrap_or_else(|| {
            *self.create_job.lock().unwrap() = Some(false);
            false
        }))
    }

    /// Sends the documents of job `id`, the last marked as last. On a lost answer: `Uncertain` (the job is
    /// left as it is: it may be printing). On any other failure the job is cancelled, so nothing of it
    /// prints; if that cannot be confirmed either, `Uncertain`.
    async fn send_documents_of(&self, job: &JobSpec, id: i32) -> Result<(), PrinterError> {
        let last = job.documents.len().saturating_sub(1);
        for (i, doc) in job.documents.iter().enumerate() {
            let sent = match read_document(doc).await {
                Ok(bytes) => {
                    let build = |payload| {
                        IppOperationBuilder::send_document(self.uri.clone(), id, payload)
                            .user_name(&self.user)
                            .document_format("application/pdf")
                            .last(i == last)
                            .build()
                            .into_ipp_request()
                    };
                    self.send_job(build, bytes, "Send-Document").await.map(|_| ())
                }
                Err(e) => Err(e),
            };
            match sent {
                Ok(()) => {}
                Err(e @ PrinterError::Uncertain(_)) => {
                    return Err(PrinterError::Uncertain(format!("{e} (job {id}: following it by its id)")))
                }
                // Refused, or never reached the printer: the job cannot print without its last document.
                // Once cancelled, nothing of it ever prints.
                Err(e) => {
                    return match self.cancel(&id.to_string()).await {
                        Ok(()) => Err(PrinterError::Transient(format!("{e} (job {id} cancelled: nothing printed)"))),
                        Err(c) => Err(PrinterError::Uncertain(format!("{e}; job {id} could not be cancelled: {c}"))),
                    };
                }
            }
        }
        Ok(())
    }

    async fn one_job_state(&self, id: i32, job_name: &str) -> Result<JobState, PrinterError> {
        Ok(self.one_job_status(id, job_name).await?.0)
    }

    /// A job's state and what the printer says of it beyond that (see [`Printer::job_status`]).
    async fn one_job_status(&self, id: i32, job_name: &str) -> Result<(JobState, Option<String>), PrinterError> {
        let mut r = self.request(Operation::GetJobAttributes);
        r.attributes_mut()
            .add(DelimiterTag::OperationAttributes, IppAttribute::new(IppAttribute::JOB_ID, IppValue::Integer(id)));
        r.attributes_mut().add(
            DelimiterTag::OperationAttributes,
            keywords(
                "requested-attributes",
                &["job-state", "job-name", "job-state-reasons", "job-state-message", "job-printer-state-message"],
            ),
        );
        let response = self.send(r, "Get-Job-Attributes").await?;
        let code = response.header().operation_or_status;
        if code == 0x0406 {
            // client-error-not-found: the printer does not know the job (restarted or purged).
            return Ok((JobState::Absent, None));
        }
        if !response.header().status_code().is_success() {
            return Err(PrinterError::Transient(format!(
                "printer {} refused Get-Job-Attributes: 0x{code:04x}",
                self.shown
            )));
        }
        let group = response.attributes().groups_of(DelimiterTag::JobAttributes).next().map(|g| g.attributes().clone());
        let Some(attrs) = group else {
            return Err(PrinterError::Transient(format!("printer {} sent no attributes for job {id}", self.shown)));
        };
        if let Some(name) = attrs.get("job-name").map(|a| text(a.value())) {
            if part_of(&name, job_name).is_none() {
                // The printer restarted and gave the number to another job: ours is gone.
                return Ok((JobState::Absent, None));
            }
        }
        Ok((state_of(&attrs), job_says(&attrs)))
    }

    /// Get-Jobs (`which`: "completed" or "not-completed", every user's), each job's `attributes`.
    async fn job_list(
        &self,
        which: &str,
        attributes: &[&str],
    ) -> Result<Vec<std::collections::HashMap<String, IppAttribute>>, PrinterError> {
        let mut r = self.request(Operation::GetJobs);
        r.attributes_mut()
            .add(DelimiterTag::OperationAttributes, IppAttribute::new("which-jobs", IppValue::Keyword(which.into())));
        r.attributes_mut()
            .add(DelimiterTag::OperationAttributes, IppAttribute::new("my-jobs", IppValue::Boolean(false)));
        r.attributes_mut().add(DelimiterTag::OperationAttributes, keywords("requested-attributes", attributes));
        let response = self.send_ok(r, "Get-Jobs").await?;
        Ok(response.attributes().groups_of(DelimiterTag::JobAttributes).map(|g| g.attributes().clone()).collect())
    }

    /// `printer-up-time`, in the printer's own seconds (CUPS: the time of day), which its jobs'
    /// `time-at-creation` and `time-at-completed` count in too.
    async fn up_seconds(&self) -> Result<Option<i32>, PrinterError> {
        let r = self.printer_attributes(&["printer-up-time"]).await?;
        Ok(printer_group(&r).and_then(|g| g.get("printer-up-time")).and_then(|a| a.value().as_integer().copied()))
    }

    async fn jobs(&self, which: &str) -> Result<Vec<(i32, String, JobState)>, PrinterError> {
        let mut out = Vec::new();
        for a in self.job_list(which, &["job-id", "job-name", "job-state", "job-state-reasons"]).await? {
            let a = &a;
            let id = a.get("job-id").and_then(|v| v.value().as_integer().copied());
            let name = a.get("job-name").map(|v| text(v.value())).unwrap_or_default();
            let state = state_of(a);
            if let Some(id) = id {
                out.push((id, name, state));
            }
        }
        Ok(out)
    }
}

fn ipp_error(e: &IppError) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let t = s.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        source = s.source();
    }
    text
}

/// The request never left: the connection to the printer could not be made (refused, unreachable, no
/// such host, connect timeout).
fn not_connected(e: &IppError) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.downcast_ref::<hyper_util::client::legacy::Error>().is_some_and(|h| h.is_connect()) {
            return true;
        }
        source = s.source();
    }
    false
}

fn keywords(name: &str, values: &[&str]) -> IppAttribute {
    IppAttribute::new(name, IppValue::Array(values.iter().map(|v| IppValue::Keyword((*v).into())).collect()))
}

fn status_message(r: &IppRequestResponse) -> String {
    r.attributes()
        .groups_of(DelimiterTag::OperationAttributes)
        .find_map(|g| g.attributes().get("status-message").map(|a| text(a.value())))
        .map(|m| format!(" ({m})"))
        .unwrap_or_default()
}

/// One document of a job, read from its file (nothing has been sent when this fails).
async fn read_document(path: &std::path::Path) -> Result<Vec<u8>, PrinterError> {
    tokio::fs::read(path)
        .await
        .map_err(|e| PrinterError::Transient(format!("cannot read the document {}: {e}", path.display())))
}

fn printer_group(r: &IppRequestResponse) -> Option<&std::collections::HashMap<String, IppAttribute>> {
    r.attributes().groups_of(DelimiterTag::PrinterAttributes).next().map(|g| g.attributes())
}

fn text(v: &IppValue) -> String {
    match v {
        IppValue::TextWithoutLanguage(s)
        | IppValue::NameWithoutLanguage(s)
        | IppValue::Keyword(s)
        | IppValue::Uri(s)
        | IppValue::MimeMediaType(s) => s.clone(),
        IppValue::TextWithLanguage { text, .. } => text.clone(),
        IppValue::NameWithLanguage { name, .. } => name.clone(),
        other => other.to_string(),
    }
}

fn strings(a: Option<&IppAttribute>) -> Vec<String> {
    match a.map(|a| a.value()) {
        Some(IppValue::Array(values)) => values.iter().map(text).collect(),
        Some(v) => vec![text(v)],
        None => Vec::new(),
    }
}

/// The named size of a PWG media keyword (`iso_a4_210x297mm` -> A4, `na_letter_8.5x11in` -> Letter).
pub fn media_name(keyword: &str) -> Option<&'static str> {
    let dims = keyword.rsplit('_').next()?;
    let (unit_mm, body) = if let Some(b) = dims.strip_suffix("mm") {
        (1.0, b)
    } else if let Some(b) = dims.strip_suffix("in") {
        (25.4, b)
    } else {
        return None;
    };
    let (w, h) = body.split_once('x')?;
    let (w, h): (f64, f64) = (w.parse().ok()?, h.parse().ok()?);
    nearest_named(w * unit_mm, h * unit_mm)
}

/// A job's state from its attributes: `job-state`, with a job still waiting for its documents
/// (`job-incoming`, `job-data-insufficient`) told apart from one that only waits its turn.
fn state_of(attrs: &std::collections::HashMap<String, IppAttribute>) -> JobState {
    let state = attrs
        .get("job-state")
        .and_then(|a| a.value().as_enum().copied())
        .map(job_state)
        .unwrap_or(JobState::Unrecognized(0));
    let reasons = strings(attrs.get("job-state-reasons"));
    let incoming = reasons.iter().any(|r| r == "job-incoming" || r == "job-data-insufficient");
    if incoming && matches!(state, JobState::Pending | JobState::Held) {
        JobState::Incoming
    } else {
        state
    }
}

/// What a printer says of a job beyond its state: its reasons other than the routine ones, with its
/// messages (CUPS's `job-printer-state-message` is the queue's, e.g. "Filter failed"). `None` when it gives
/// no such reason.
fn job_says(attrs: &std::collections::HashMap<String, IppAttribute>) -> Option<String> {
    const ROUTINE: [&str; 6] =
        ["none", "job-queued", "job-printing", "job-incoming", "job-data-insufficient", "job-completed-successfully"];
    let reasons: Vec<String> =
        strings(attrs.get("job-state-reasons")).into_iter().filter(|r| !ROUTINE.contains(&r.as_str())).collect();
    let mut messages: Vec<String> = Vec::new();
    for name in ["job-printer-state-message", "job-state-message"] {
        if let Some(m) = attrs.get(name).map(|a| text(a.value())).filter(|m| !m.trim().is_empty()) {
            if !messages.contains(&m) {
                messages.push(m);
            }
        }
    }
    // A message alone is progress ("Spooling job, 40% complete"): not worth a write to the order each time
    // it changes. It is shown with a reason that says something is wrong or held.
    match (reasons.is_empty(), messages.is_empty()) {
        (true, _) => None,
        (false, true) => Some(reasons.join(", ")),
        (false, false) => Some(format!("{} ({})", reasons.join(", "), messages.join(": "))),
    }
}

/// Whether a listed job is named by a printJobId (whole, or one document of it): printcore's kind of job.
fn names_a_print_job(attrs: &std::collections::HashMap<String, IppAttribute>) -> bool {
    let name = attrs.get("job-name").map(|v| text(v.value())).unwrap_or_default();
    name.get(..36).is_some_and(|head| uuid::Uuid::parse_str(head).is_ok())
}

/// Whether `operations-supported` lists Create-Job and Send-Document.
fn creates_jobs(ops: &IppValue) -> bool {
    let codes: Vec<i32> = match ops {
        IppValue::Array(values) => values.iter().filter_map(|v| v.as_enum().copied()).collect(),
        v => v.as_enum().copied().into_iter().collect(),
    };
    codes.contains(&OP_CREATE_JOB) && codes.contains(&OP_SEND_DOCUMENT)
}

/// The standard PWG 5101.1 media keyword of a named size, for a printer that lists no media of its own.
pub fn pwg_media(size: &str) -> Option<&'static str> {
    const NAMES: [(&str, &str); 14] = [
        ("A0", "iso_a0_841x1189mm"),
        ("A1", "iso_a1_594x841mm"),
        ("A2", "iso_a2_420x594mm"),
        ("A3", "iso_a3_297x420mm"),
        ("A4", "iso_a4_210x297mm"),
        ("A5", "iso_a5_148x210mm"),
        ("A6", "iso_a6_105x148mm"),
        ("B4", "iso_b4_250x353mm"),
        ("B5", "iso_b5_176x250mm"),
        ("Letter", "na_letter_8.5x11in"),
        ("Legal", "na_legal_8.5x14in"),
        ("Tabloid", "na_ledger_11x17in"),
        ("Executive", "na_executive_7.25x10.5in"),
        ("Statement", "na_invoice_5.5x8.5in"),
    ];
    NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(size)).map(|(_, k)| *k)
}

/// How far a document being sent has got: when the HTTP body was last read from (the connection takes
/// more only as the printer reads), or when sending started.
#[derive(Clone)]
struct Progress(std::sync::Arc<std::sync::Mutex<std::time::Instant>>);

impl Default for Progress {
    fn default() -> Self {
        Progress(std::sync::Arc::new(std::sync::Mutex::new(std::time::Instant::now())))
    }
}

impl Progress {
    fn reader(&self, bytes: Vec<u8>) -> ProgressReader {
        ProgressReader { inner: std::io::Cursor::new(bytes), progress: self.clone() }
    }

    fn touch(&self) {
        *self.0.lock().unwrap() = std::time::Instant::now();
    }

    /// How long nothing moved.
    fn idle(&self) -> Duration {
        self.0.lock().unwrap().elapsed()
    }
}

/// A document that notes each read in its [`Progress`].
struct ProgressReader {
    inner: std::io::Cursor<Vec<u8>>,
    progress: Progress,
}

impl std::io::Read for ProgressReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.touch();
        Ok(n)
    }
}

fn job_state(code: i32) -> JobState {
    match code {
        3 => JobState::Pending,
        4 => JobState::Held,
        5 => JobState::Processing,
        6 => JobState::Stopped,
        7 => JobState::Cancelled,
        8 => JobState::Aborted,
        9 => JobState::Completed,
        other => JobState::Unrecognized(other),
    }
}

/// Maps IPP printer-state and printer-state-reasons onto the four statuses, keeping the reason.
pub fn map_status(state: i32, reasons: &[String], accepting: bool) -> (PrinterStatus, Option<String>) {
    // "-report" and "-warning" reasons are information; "-error" (or no suffix) ones are real.
    let serious: Vec<&str> = reasons
        .iter()
        .map(String::as_str)
        .filter(|r| *r != "none" && !r.ends_with("-report") && !r.ends_with("-warning"))
        .map(|r| r.trim_end_matches("-error"))
        .collect();
    let has = |names: &[&str]| serious.iter().find(|r| names.contains(r)).map(|r| r.to_string());
    let offline_reasons = ["offline", "shutdown", "connecting-to-device", "timed-out", "paused", "moving-to-paused"];
    let error_reasons = [
        "media-empty",
        "media-needed",
        "media-jam",
        "toner-empty",
        "marker-supply-empty",
        "door-open",
        "cover-open",
        "input-tray-missing",
        "output-area-full",
        "other",
        "spool-area-full",
        "interpreter-resource-unavailable",
    ];
    let offline_report = reasons.iter().any(|r| r == "offline-report");
    if let Some(r) = has(&offline_reasons).or_else(|| offline_report.then(|| "offline".to_owned())) {
        return (PrinterStatus::Offline, Some(format!("printer reports {r}")));
    }
    if let Some(r) = has(&error_reasons) {
        return (PrinterStatus::Error, Some(format!("printer reports {r}")));
    }
    if !accepting {
        return (PrinterStatus::Error, Some("printer is not accepting jobs".into()));
    }
    match state {
        3 => (PrinterStatus::Online, None),
        4 => (PrinterStatus::Busy, None),
        5 => (
            PrinterStatus::Error,
            Some(format!(
                "printer is stopped{}",
                if serious.is_empty() { String::new() } else { format!(" ({})", serious.join(", ")) }
            )),
        ),
        other => (PrinterStatus::Error, Some(format!("printer is in an unknown state ({other})"))),
    }
}

#[async_trait]
impl Printer for IppPrinter {
    fn describe(&self) -> String {
        format!("IPP printer {}", self.shown)
    }

    async fn status(&self) -> Result<PrinterState, PrinterError> {
        let response = match self.printer_attributes(&STATUS_ATTRIBUTES).await {
            Ok(r) => r,
            Err(PrinterError::Transient(m)) => {
                return Ok(PrinterState {
                    status: PrinterStatus::Offline,
                    queue_length: None,
                    reasons: vec![],
                    message: Some(m),
                })
            }
            Err(e) => return Err(e),
        };
        let g = printer_group(&response);
        let get = |n: &str| g.and_then(|g| g.get(n));
        let state = get("printer-state").and_then(|a| a.value().as_enum().copied()).unwrap_or(0);
        let reasons = strings(get("printer-state-reasons"));
        let accepting = get("printer-is-accepting-jobs").and_then(|a| a.value().as_boolean().copied()).unwrap_or(true);
        let queue = get("queued-job-count").and_then(|a| a.value().as_integer().copied()).map(i64::from);
        let own_message = get("printer-state-message").map(|a| text(a.value())).filter(|m| !m.is_empty());
        let (status, why) = map_status(state, &reasons, accepting);
        let message = match (why, own_message) {
            (Some(w), Some(m)) => Some(format!("{w}: {m}")),
            (Some(w), None) => Some(w),
            (None, _) => None,
        };
        Ok(PrinterState { status, queue_length: queue, reasons, message })
    }

    async fn capabilities(&self) -> Result<PrinterCapabilities, PrinterError> {
        let response = self.printer_attributes(&CAPABILITY_ATTRIBUTES).await?;
        self.note_multi_document(&response);
        let g = printer_group(&response);
        let get = |n: &str| g.and_then(|g| g.get(n));
        let mut page_sizes: Vec<String> = Vec::new();
        for m in strings(get("media-supported")) {
            if let Some(n) = media_name(&m) {
                if !page_sizes.iter().any(|p| p == n) {
                    page_sizes.push(n.to_owned());
                }
            }
        }
        let duplex = strings(get("sides-supported")).iter().any(|s| s.starts_with("two-sided"));
        let color = get("color-supported").and_then(|a| a.value().as_boolean().copied()).unwrap_or(false);
        let max_copies = match get("copies-supported").map(|a| a.value()) {
            Some(IppValue::RangeOfInteger { max, .. }) => i64::from(*max),
            Some(IppValue::Integer(n)) => i64::from(*n),
            _ => 1,
        };
        Ok(PrinterCapabilities { page_sizes, color, duplex, max_copies })
    }

    async fn submit(&self, job: &JobSpec) -> Result<String, PrinterError> {
        if let Some(id) = self.create_job(job).await? {
            self.send_documents(job, &id).await?;
            return Ok(id);
        }
        if job.documents.is_empty() {
            return Err(PrinterError::Rejected(format!("order {}: nothing to print", job.order_id)));
        }
        let attrs = self.job_attributes(job).await?;
        // One Print-Job per document, all named after the print job.
        let mut ids: Vec<String> = Vec::new();
        let n = job.documents.len();
        for (k, doc) in job.documents.iter().enumerate() {
            let name = part_name(&job.job_name, k + 1, n);
            let started = std::time::Instant::now();
            let response = loop {
                // One document in memory at a time, read from the job's folder.
                let sent = match read_document(doc).await {
                    Ok(bytes) => {
                        let build = |payload| {
                            IppOperationBuilder::print_job(self.uri.clone(), payload)
                                .job_title(&name)
                                .user_name(&self.user)
                                .document_format("application/pdf")
                                .attributes(attrs.clone())
                                .build()
                                .into_ipp_request()
                        };
                        self.send_job(build, bytes, "Print-Job").await
                    }
                    Err(e) => Err(e),
                };
                match sent {
                    Ok(r) => break r,
                    // The first document failing leaves nothing sent: the caller retries later. A later
                    // one must not give up while the printer is only busy with the earlier ones, or the
                    // retry would print those again.
                    Err(e @ PrinterError::Busy(_)) if !ids.is_empty() && started.elapsed() < self.busy_wait => {
                        tracing::debug!(order_id = %job.order_id, "printer busy with the earlier documents: {e}");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    Err(e) if ids.is_empty() => return Err(e),
                    // Part of the order is at the printer: sending it again would print that part
                    // twice. A person finishes it.
                    Err(e) => {
                        tracing::warn!(order_id = %job.order_id, print_job_id = %job.job_name, sent = %ids.join(","), "only part of the documents reached the printer: {e}");
                        return Err(PrinterError::Rejected(format!(
                            "{e}, after {} of {} had reached the printer as jobs {}: part of the order \
                             may have printed; check the printer before reprinting",
                            if ids.len() == 1 { "document 1".to_owned() } else { format!("documents 1-{}", ids.len()) },
                            job.documents.len(),
                            ids.join(", ")
                        )));
                    }
                }
            };
            ids.push(job_id_of(&response)?.to_string());
        }
        Ok(ids.join(","))
    }

    async fn create_job(&self, job: &JobSpec) -> Result<Option<String>, PrinterError> {
        if job.documents.is_empty() {
            return Err(PrinterError::Rejected(format!("order {}: nothing to print", job.order_id)));
        }
        if !self.creates_jobs().await? || (job.documents.len() > 1 && !self.multiple_documents_supported().await?) {
            return Ok(None);
        }
        let attrs = self.job_attributes(job).await?;
        // Built here rather than with the `ipp` crate's builder, which sends no requesting-user-name: the
        // job must belong to the user that later sends its document and asks about it (CUPS shows a job's
        // name to its owner only, and refuses another user's Send-Document).
        let mut create = self.request(Operation::CreateJob);
        create.attributes_mut().add(
            DelimiterTag::OperationAttributes,
            IppAttribute::new(IppAttribute::JOB_NAME, IppValue::NameWithoutLanguage(job.job_name.clone())),
        );
        for attr in attrs {
            create.attributes_mut().add(DelimiterTag::JobAttributes, attr);
        }
        // A job without documents prints nothing: whatever became of this request (even a lost answer,
        // which leaves at most an empty job the printer times out), nothing of the order can print.
        let response = self.send_ok(create, "Create-Job").await?;
        match job_id_of(&response) {
            Ok(id) => Ok(Some(id.to_string())),
            Err(e) => Err(PrinterError::Transient(format!("{e} (Create-Job: nothing was sent)"))),
        }
    }

    async fn send_documents(&self, job: &JobSpec, job_ref: &str) -> Result<(), PrinterError> {
        let ids = job_ids(job_ref)?;
        let [id] = ids[..] else {
            return Err(PrinterError::Rejected(format!("{job_ref:?} is not the reference of one IPP job")));
        };
        self.send_documents_of(job, id).await
    }

    async fn cancel_stale_empty_jobs(&self, older_than: Duration) -> Result<usize, PrinterError> {
        let Some(now) = self.up_seconds().await? else { return Ok(0) };
        let wanted = ["job-id", "job-name", "job-state", "job-state-reasons", "time-at-creation"];
        let mut stale = Vec::new();
        for a in self.job_list("not-completed", &wanted).await? {
            let a = &a;
            let ours = names_a_print_job(a);
            let created = a.get("time-at-creation").and_then(|v| v.value().as_integer().copied());
            let id = a.get("job-id").and_then(|v| v.value().as_integer().copied());
            if let (true, JobState::Incoming, Some(at), Some(id)) = (ours, state_of(a), created, id) {
                if i64::from(now) - i64::from(at) >= older_than.as_secs() as i64 {
                    stale.push(id);
                }
            }
        }
        let mut cancelled = 0;
        for id in stale {
            if self.cancel(&id.to_string()).await.is_ok() {
                tracing::info!(job_id = id, printer = %self.shown, "cancelled an empty job left waiting for its document");
                cancelled += 1;
            }
        }
        Ok(cancelled)
    }

    async fn oldest_listed_completed(&self) -> Result<Option<Duration>, PrinterError> {
        let Some(now) = self.up_seconds().await? else { return Ok(None) };
        let mut oldest: Option<i64> = None;
        for a in self.job_list("completed", &["job-id", "job-name", "time-at-completed"]).await? {
            let a = &a;
            // This worker's jobs only: another user's job says nothing of whether this worker sees its own
            // names.
            let ours = names_a_print_job(a);
            let completed = a.get("time-at-completed").and_then(|v| v.value().as_integer().copied());
            if let (true, Some(at)) = (ours, completed) {
                let age = i64::from(now) - i64::from(at);
                if age >= 0 {
                    oldest = Some(oldest.map_or(age, |o| o.max(age)));
                }
            }
        }
        Ok(oldest.map(|s| Duration::from_secs(s as u64)))
    }

    async fn submit_path(&self) -> Result<String, PrinterError> {
        Ok(if self.creates_jobs().await? {
            "Create-Job, then Send-Document: the job's id is stored on the order before its document goes".into()
        } else {
            "Print-Job (the printer lists no Create-Job): a lost answer is looked up by job name".into()
        })
    }

    async fn job_state(&self, job_ref: &str, job_name: &str) -> Result<JobState, PrinterError> {
        let mut states = Vec::new();
        for id in job_ids(job_ref)? {
            states.push(self.one_job_state(id, job_name).await?);
        }
        Ok(combine(&states))
    }

    async fn job_status(&self, job_ref: &str, job_name: &str) -> Result<(JobState, Option<String>), PrinterError> {
        let mut states = Vec::new();
        let mut says = Vec::new();
        for id in job_ids(job_ref)? {
            let (state, detail) = self.one_job_status(id, job_name).await?;
            states.push(state);
            says.extend(detail);
        }
        Ok((combine(&states), (!says.is_empty()).then(|| says.join("; "))))
    }

    async fn find_job(&self, job_name: &str) -> Result<Option<FoundJob>, PrinterError> {
        // (job id, document k, of n, state) of every job carrying a document of this print job.
        let mut found: Vec<(i32, usize, usize, JobState)> = Vec::new();
        for which in ["not-completed", "completed"] {
            for (id, name, state) in self.jobs(which).await? {
                if let Some((k, n)) = part_of(&name, job_name) {
                    if !found.iter().any(|(f, ..)| *f == id) {
                        found.push((id, k, n, state));
                    }
                }
            }
        }
        Ok(found_job(found.into_iter().map(|(id, k, n, s)| (i64::from(id), k, n, s)).collect()))
    }

    async fn cancel(&self, job_ref: &str) -> Result<(), PrinterError> {
        // Every part of a job split in parts is cancelled, whatever the printer says of one of them, and the
        // error names each part it did not confirm.
        let mut refused = Vec::new();
        for id in job_ids(job_ref)? {
            let op = IppOperationBuilder::cancel_job(self.uri.clone(), id).user_name(&self.user).build();
            if let Err(e) = self.send_ok(op.into_ipp_request(), "Cancel-Job").await {
                refused.push(format!("job {id}: {e}"));
            }
        }
        if refused.is_empty() {
            Ok(())
        } else {
            Err(PrinterError::Transient(format!("not every part was cancelled: {}", refused.join("; "))))
        }
    }

    fn can_look_up_jobs(&self) -> bool {
        true
    }

    async fn up_time(&self) -> Result<Option<Duration>, PrinterError> {
        // Seconds since the printer started (CUPS reports the time of day instead, which reads as "up for
        // decades": CUPS keeps its job history across restarts, so that is the right answer for it too).
        Ok(self.up_seconds().await?.and_then(|s| u64::try_from(s).ok()).map(Duration::from_secs))
    }
}

fn job_id_of(r: &IppRequestResponse) -> Result<i32, PrinterError> {
    r.attributes()
        .groups_of(DelimiterTag::JobAttributes)
        .find_map(|g| g.attributes().get("job-id").and_then(|a| a.value().as_integer().copied()))
        // It has the job: the caller finds it by name.
        .ok_or_else(|| PrinterError::Uncertain("the printer accepted the job but sent no job-id".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pwg_media_names_map_to_named_sizes() {
        assert_eq!(media_name("iso_a4_210x297mm"), Some("A4"));
        assert_eq!(media_name("na_letter_8.5x11in"), Some("Letter"));
        assert_eq!(media_name("na_legal_8.5x14in"), Some("Legal"));
        assert_eq!(media_name("iso_a3_297x420mm"), Some("A3"));
        assert_eq!(media_name("na_index-4x6_4x6in"), None);
        assert_eq!(media_name("garbage"), None);
    }

    #[test]
    fn reasons_map_onto_the_four_statuses() {
        let r = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(map_status(3, &r(&["none"]), true).0, PrinterStatus::Online);
        assert_eq!(map_status(4, &r(&["none"]), true).0, PrinterStatus::Busy);
        assert_eq!(map_status(3, &r(&["toner-low-warning"]), true).0, PrinterStatus::Online);
        let (s, m) = map_status(5, &r(&["media-empty-error"]), true);
        assert_eq!(s, PrinterStatus::Error);
        assert!(m.unwrap().contains("media-empty"));
        assert_eq!(map_status(3, &r(&["offline-report"]), true).0, PrinterStatus::Offline);
        assert_eq!(map_status(5, &r(&["paused"]), true).0, PrinterStatus::Offline);
        assert_eq!(map_status(3, &r(&["none"]), false).0, PrinterStatus::Error);
    }

    #[test]
    fn the_documents_of_one_print_job_combine_into_one_state() {
        use JobState::*;
        assert_eq!(combine(&[Completed, Completed]), Completed);
        assert_eq!(combine(&[Completed, Processing]), Processing);
        assert_eq!(combine(&[Completed, Pending]), Processing);
        assert_eq!(combine(&[Pending, Pending]), Pending);
        assert_eq!(combine(&[Completed, Aborted]), Aborted);
        assert_eq!(combine(&[Completed, Absent]), Absent);
        assert_eq!(combine(&[Completed, Stopped]), Stopped);
        assert_eq!(combine(&[Held, Pending]), Held);
        assert_eq!(combine(&[Completed, Completed, Partial]), Partial);
        // A state not known here is never read as "gone".
        assert_eq!(combine(&[Completed, Unrecognized(42)]), Unrecognized(42));
        assert_eq!(job_ids("12,13").unwrap(), [12, 13]);
        assert!(job_ids("abc").is_err());
    }

    #[test]
    fn ipp_job_states_map_without_guessing() {
        use JobState::*;
        let all: Vec<JobState> = (3..=9).map(job_state).collect();
        assert_eq!(all, [Pending, Held, Processing, Stopped, Cancelled, Aborted, Completed]);
        assert_eq!(job_state(42), Unrecognized(42));
        assert!(Stopped.is_waiting() && Held.is_waiting() && !Unrecognized(42).is_waiting());
    }

    #[test]
    fn what_a_printer_says_of_a_job_is_shown_only_with_a_reason() {
        let attrs = |reasons: &[&str], message: &str| {
            let mut m = std::collections::HashMap::new();
            m.insert("job-state-reasons".to_owned(), keywords("job-state-reasons", reasons));
            m.insert(
                "job-printer-state-message".to_owned(),
                IppAttribute::new("job-printer-state-message", IppValue::TextWithoutLanguage(message.into())),
            );
            m
        };
        assert_eq!(job_says(&attrs(&["job-printing"], "Spooling job, 40% complete.")), None, "progress is no reason");
        assert_eq!(job_says(&attrs(&["none"], "")), None);
        assert_eq!(
            job_says(&attrs(&["printer-stopped"], "Filter failed")).as_deref(),
            Some("printer-stopped (Filter failed)")
        );
        assert_eq!(job_says(&attrs(&["job-hold-until-specified"], "")).as_deref(), Some("job-hold-until-specified"));
    }

    #[test]
    fn each_document_of_a_split_job_is_named_with_its_place() {
        assert_eq!(part_name("abc", 1, 1), "abc");
        assert_eq!(part_name("abc", 2, 3), "abc-2of3");
        assert_eq!(part_of("abc", "abc"), Some((1, 1)));
        assert_eq!(part_of("abc-2of3", "abc"), Some((2, 3)));
        assert_eq!(part_of("abc-4of3", "abc"), None);
        assert_eq!(part_of("abcd", "abc"), None);
        assert_eq!(part_of("other", "abc"), None);
    }

    #[test]
    fn credentials_in_printer_uris_are_hidden() {
        let p = IppPrinter::new("ipps://shop:s3c@ret@printer.local/ipp/print", Duration::from_secs(1)).unwrap();
        assert!(p.describe().contains("ipps://shop:****@printer.local/ipp/print"), "{}", p.describe());
        // Nor in the errors about a URI that is not valid.
        for uri in ["ipps://shop:s3c@ret@printer local/ipp", "lpd://shop:s3c/ret@printer.local/q"] {
            let e = IppPrinter::new(uri, Duration::from_secs(1)).err().expect("refused").to_string();
            assert!(!e.contains("s3c"), "{e}");
        }
    }
}
