//! Finding the printers this PC can reach, for `worker printers --discover` and `worker init`: IPP
//! Everywhere printers announced over DNS-SD (`dnssd`), the queues of a CUPS server (`cups`), and on
//! Windows the print spooler's printers (`windows`). Nothing here writes anything.
//!
//! Each source says what it found ([`Found`]: a name and how to reach the printer); then each IPP printer
//! is asked what it can do with the IPP backend's own requests ([`IppPrinter`]: capabilities, state,
//! multi-document jobs, Create-Job, job history), so discovery reads a printer exactly as the worker will.
//! A source that cannot be used (no CUPS server, multicast refused) is a note in the report, not an error:
//! the others still count.

pub mod cups;
pub mod dnssd;
pub mod windows;

use crate::backends::IppPrinter;
use crate::history::JobHistory;
use crate::printer::Printer;
use printcore::PrinterCapabilities;
use std::time::Duration;

/// Where a printer was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Announced on the network over DNS-SD (`_ipp._tcp`, `_ipps._tcp`).
    DnsSd,
    /// A queue of a CUPS server.
    Cups,
    /// A printer of the Windows print spooler.
    Spooler,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::DnsSd => "DNS-SD",
            Source::Cups => "CUPS",
            Source::Spooler => "Windows spooler",
        }
    }
}

/// How the worker reaches a printer found.
#[derive(Debug, Clone, PartialEq)]
pub enum Reach {
    /// Over IPP (the `ipp` backend).
    Ipp { uri: String },
    /// Through the Windows spooler by name (the `command` backend with SumatraPDF), with what the
    /// driver says the printer takes.
    Spooler { printer_name: String, capabilities: Option<PrinterCapabilities> },
}

/// A printer one source found, before it is asked anything.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub source: Source,
    /// The name the printer (or its queue) gives itself. Untrusted text: anything may be in it.
    pub name: String,
    pub reach: Reach,
    /// Make and model, when said (DNS-SD `ty`, CUPS `printer-make-and-model`, the Windows driver).
    pub make_model: Option<String>,
    /// Where it is, when said (DNS-SD `note`, CUPS `printer-location`, Windows' location).
    pub location: Option<String>,
    /// How it was found, for the person reading (`announced as vm.local`, `queue Front on localhost:631`).
    pub detail: String,
}

/// A printer found and what it said when asked.
#[derive(Debug, Clone)]
pub struct Discovered {
    pub found: Found,
    /// What it takes; an error says why it is not known.
    pub capabilities: Result<PrinterCapabilities, String>,
    /// Its state now (`online`, `offline (why)`).
    pub status: String,
    /// Further facts, one line each (multi-document jobs, how jobs are sent, job history).
    pub facts: Vec<String>,
}

/// Which sources to use.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long to listen for DNS-SD announcements; `None`: not at all.
    pub dnssd: Option<Duration>,
    /// The CUPS server (`host:port`); `None`: not asked.
    pub cups: Option<String>,
    /// The Windows spooler (only on Windows).
    pub spooler: bool,
    /// Each request to a printer.
    pub timeout: Duration,
    /// Keep only printers whose name, address or description holds one of these (any case); empty: all.
    pub only: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dnssd: Some(Duration::from_secs(3)),
            cups: Some("localhost:631".into()),
            spooler: cfg!(windows),
            timeout: Duration::from_secs(5),
            only: Vec::new(),
        }
    }
}

/// What discovery found, and what it could not look at.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub printers: Vec<Discovered>,
    /// One line per source that could not be used, or found nothing.
    pub notes: Vec<String>,
}

/// Looks at every source in `options`, then asks each printer found what it can do.
pub async fn discover(options: &Options) -> Report {
    let mut found = Vec::new();
    let mut notes = Vec::new();
    if let Some(wait) = options.dnssd {
        match dnssd::browse(wait).await {
            Ok(list) if list.is_empty() => {
                notes.push(format!("DNS-SD: no IPP printer announced itself within {} s", wait.as_secs_f64()))
            }
            Ok(list) => found.extend(list),
            Err(e) => notes.push(format!("DNS-SD: {e}")),
        }
    }
    if let Some(server) = &options.cups {
        match cups::queues(server, options.timeout).await {
            Ok(list) if list.is_empty() => notes.push(format!("CUPS at {server}: no queues")),
            Ok(list) => found.extend(list),
            Err(e) => notes.push(format!("CUPS at {server}: {e}")),
        }
    }
    if options.spooler {
        match windows::spooler_printers() {
            Ok(list) if list.is_empty() => notes.push("Windows spooler: no printers installed".into()),
            Ok(list) => found.extend(list),
            Err(e) => notes.push(format!("Windows spooler: {e}")),
        }
    }
    if !options.only.is_empty() {
        let before = found.len();
        found.retain(|f| wanted(f, &options.only));
        if found.len() < before {
            notes.push(format!("{} printer(s) left out by --only", before - found.len()));
        }
    }
    let mut printers = Vec::new();
    for f in found {
        printers.push(ask(f, options.timeout).await);
    }
    Report { printers, notes }
}

/// Whether `f` matches one of `only` (its name, address or how it was found; any case).
pub fn wanted(f: &Found, only: &[String]) -> bool {
    let address = match &f.reach {
        Reach::Ipp { uri } => uri.as_str(),
        Reach::Spooler { printer_name, .. } => printer_name.as_str(),
    };
    let hay = format!("{}\n{address}\n{}", f.name, f.detail).to_lowercase();
    only.iter().any(|o| hay.contains(&o.to_lowercase()))
}

/// Asks one printer what it can do, with the IPP backend's requests.
pub async fn ask(found: Found, timeout: Duration) -> Discovered {
    match &found.reach {
        Reach::Ipp { uri } => {
            let printer = match IppPrinter::new(uri, timeout) {
                Ok(p) => p,
                Err(e) => {
                    return Discovered {
                        capabilities: Err(e.to_string()),
                        status: "unknown".into(),
                        facts: Vec::new(),
                        found,
                    }
                }
            };
            let status = match printer.status().await {
                Ok(s) => format!("{}{}", s.status.as_str(), s.message.map(|m| format!(" ({m})")).unwrap_or_default()),
                Err(e) => format!("unknown ({e})"),
            };
            let capabilities = printer.capabilities().await.map_err(|e| e.to_string());
            let mut facts = Vec::new();
            match printer.takes_multi_document_jobs().await {
                Ok(true) => facts.push("multi-document jobs: yes (an order's files go as one job)".into()),
                Ok(false) => facts.push("multi-document jobs: no (one job per file of an order)".into()),
                Err(e) => facts.push(format!("multi-document jobs: unknown ({e})")),
            }
            match printer.submit_path().await {
                Ok(path) => facts.push(format!("sends jobs by: {path}")),
                Err(e) => facts.push(format!("sends jobs by: unknown ({e})")),
            }
            let history = JobHistory::configured(None, None);
            if history.read_listing(&printer).await {
                facts.push(format!("job history: {}", history.describe()));
            }
            Discovered { found, capabilities, status, facts }
        }
        Reach::Spooler { capabilities, .. } => Discovered {
            capabilities: capabilities
                .clone()
                .ok_or_else(|| "the printer's driver did not say (give capabilities by hand)".to_owned()),
            status: "installed in Windows".into(),
            facts: vec!["prints through SumatraPDF and the Windows spooler (the command backend)".into()],
            found,
        },
    }
}

/// One line of capabilities for people.
pub fn describe_capabilities(c: &PrinterCapabilities) -> String {
    format!(
        "{}; {}; {}; up to {} copies",
        if c.page_sizes.is_empty() { "no paper sizes listed".to_owned() } else { c.page_sizes.join(", ") },
        if c.color { "colour" } else { "mono only" },
        if c.duplex { "two-sided" } else { "one-sided only" },
        c.max_copies
    )
}

/// Text from a printer, made safe to show on one terminal line: control characters (escape sequences, new
/// lines) become spaces, and it is cut at `max` characters.
pub fn printable(text: &str, max: usize) -> String {
    let cleaned: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let trimmed = cleaned.trim();
    if trimmed.chars().count() > max {
        format!("{}...", trimmed.chars().take(max).collect::<String>())
    } else {
        trimmed.to_owned()
    }
}

/// The report as `worker printers --discover` prints it.
pub fn report_lines(report: &Report) -> Vec<String> {
    let mut lines = Vec::new();
    for d in &report.printers {
        let f = &d.found;
        lines.push(format!("{} [{}]", printable(&f.name, 80), f.source.as_str()));
        match &f.reach {
            Reach::Ipp { uri } => lines.push(format!("  uri: {}", printable(&printcore::redact_uri(uri), 200))),
            Reach::Spooler { printer_name, .. } => {
                lines.push(format!("  Windows printer: {}", printable(printer_name, 200)))
            }
        }
        if let Some(m) = &f.make_model {
            lines.push(format!("  model: {}", printable(m, 120)));
        }
        if let Some(l) = f.location.as_ref().filter(|l| !l.trim().is_empty()) {
            lines.push(format!("  location: {}", printable(l, 120)));
        }
        lines.push(format!("  found: {}", printable(&f.detail, 200)));
        lines.push(format!("  status: {}", printable(&d.status, 200)));
        match &d.capabilities {
            Ok(c) => lines.push(format!("  takes: {}", printable(&describe_capabilities(c), 300))),
            Err(e) => lines.push(format!("  capabilities: unknown ({})", printable(e, 200))),
        }
        for fact in &d.facts {
            lines.push(format!("  {}", printable(fact, 300)));
        }
    }
    if report.printers.is_empty() {
        lines.push("no printers found".into());
    }
    for n in &report.notes {
        lines.push(format!("note: {}", printable(n, 300)));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printer_text_cannot_move_the_terminal_or_add_lines() {
        assert_eq!(printable("Front\u{1b}[2J desk\nfake: line\r", 100), "Front [2J desk fake: line");
        assert_eq!(printable("abcdef", 3), "abc...");
    }
}
