//! A configured print command: SumatraPDF on Windows, `lp` on CUPS, or anything else that prints a file.
//!
//! The command is a list of arguments (no shell, so nothing in an order can inject a command), with
//! placeholders replaced per job: `{file}`, `{printer}`, `{copies}`, `{duplex}` (`duplex`/`simplex`),
//! `{sides}` (`two-sided-long-edge`/`one-sided`), `{color}` (`color`/`monochrome`), `{pageSize}`,
//! `{jobName}`. It runs once per document with a timeout; exit code 0 means the printer's spooler took it.
//!
//! Examples (see README):
//! - Windows: `["C:\\Program Files\\SumatraPDF\\SumatraPDF.exe", "-print-to", "{printer}", "-print-settings",
//!   "{copies}x,{duplex},{color}", "-silent", "{file}"]`
//! - CUPS: `["lp", "-d", "{printer}", "-n", "{copies}", "-o", "sides={sides}", "-o",
//!   "print-color-mode={color}", "-t", "{jobName}", "{file}"]`
//!
//! An optional status command prints JSON: either PowerShell's `Get-Printer -Name X | ConvertTo-Json`
//! (`PrinterStatus`, `JobCount`) or `{"status": "online|offline|busy|error", "queue_length": n,
//! "message": "..."}`. A command backend cannot look jobs up by name: it says so
//! ([`Printer::can_look_up_jobs`] is false).

use crate::printer::{FoundJob, JobSpec, JobState, Printer, PrinterError, PrinterState};
use async_trait::async_trait;
use printcore::{PrinterCapabilities, PrinterStatus};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// A printer driven by commands.
pub struct CommandPrinter {
    /// The printer's name as the commands know it.
    pub printer: String,
    pub print_command: Vec<String>,
    pub status_command: Option<Vec<String>>,
    pub timeout: Duration,
    pub capabilities: PrinterCapabilities,
}

impl CommandPrinter {
    pub fn new(
        printer: &str,
        print_command: Vec<String>,
        status_command: Option<Vec<String>>,
        timeout: Duration,
        capabilities: PrinterCapabilities,
    ) -> Result<CommandPrinter, PrinterError> {
        if print_command.is_empty() || print_command[0].trim().is_empty() {
            return Err(PrinterError::Rejected("the print command is empty; configure print_command".into()));
        }
        if !print_command.iter().any(|a| a.contains("{file}")) {
            return Err(PrinterError::Rejected("the print command must contain {file}, where the PDF goes".into()));
        }
        if status_command.as_ref().is_some_and(|c| c.is_empty()) {
            return Err(PrinterError::Rejected("the status command is empty; remove it or configure it".into()));
        }
        Ok(CommandPrinter { printer: printer.to_owned(), print_command, status_command, timeout, capabilities })
    }
}

/// Replaces the placeholders in every argument.
pub fn substitute(args: &[String], job: &JobSpec, printer: &str, file: &str) -> Vec<String> {
    let copies = job.copies.max(1).to_string();
    let page_size = job.page_size.clone().unwrap_or_default();
    args.iter()
        .map(|a| {
            a.replace("{file}", file)
                .replace("{printer}", printer)
                .replace("{copies}", &copies)
                .replace("{duplex}", if job.duplex { "duplex" } else { "simplex" })
                .replace("{sides}", if job.duplex { "two-sided-long-edge" } else { "one-sided" })
                .replace("{color}", if job.color { "color" } else { "monochrome" })
                .replace("{pageSize}", &page_size)
                .replace("{jobName}", &job.job_name)
        })
        .collect()
}

/// Runs `args` with a timeout; the child is killed when the timeout passes. Returns stdout.
async fn run(args: &[String], timeout: Duration, what: &str) -> Result<String, PrinterError> {
    let mut cmd = Command::new(&args[0]);
    cmd.args(&args[1..]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let child =
        cmd.spawn().map_err(|e| PrinterError::Transient(format!("{what} {:?} could not be started: {e}", args[0])))?;
    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(o) => o.map_err(|e| PrinterError::Transient(format!("{what} failed: {e}")))?,
        // It may have handed the job to the spooler before it hung: not known either way.
        Err(_) => {
            return Err(PrinterError::Uncertain(format!(
                "{what} {:?} did not finish within {timeout:?} and was stopped",
                args[0]
            )))
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let detail = stderr.trim().lines().last().unwrap_or("").chars().take(300).collect::<String>();
        let code = output.status.code().map(|c| c.to_string()).unwrap_or_else(|| "a signal".into());
        return Err(PrinterError::Transient(format!(
            "{what} {:?} exited with {code}{}",
            args[0],
            if detail.is_empty() { String::new() } else { format!(": {detail}") }
        )));
    }
    Ok(stdout)
}

/// Maps a status command's JSON onto a printer state.
pub fn parse_status_json(json: &str) -> Result<PrinterState, PrinterError> {
    let v: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| PrinterError::Transient(format!("the status command did not print JSON ({e})")))?;
    // Get-Printer for several printers prints an array: take the first.
    let v = match v {
        serde_json::Value::Array(mut a) if !a.is_empty() => a.swap_remove(0),
        other => other,
    };
    if let Some(ps) = v.get("PrinterStatus") {
        let (status, name) = windows_printer_status(ps);
        let queue = v.get("JobCount").and_then(|j| j.as_i64());
        let message = (status != PrinterStatus::Online).then(|| format!("Windows reports the printer as {name}"));
        return Ok(PrinterState { status, queue_length: queue, reasons: vec![name], message });
    }
    let status = match v.get("status").and_then(|s| s.as_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("online" | "idle" | "ready") => PrinterStatus::Online,
        Some("busy" | "printing" | "processing") => PrinterStatus::Busy,
        Some("offline") => PrinterStatus::Offline,
        Some("error") => PrinterStatus::Error,
        other => {
            return Err(PrinterError::Transient(format!(
                "the status command printed an unknown status {other:?}; expected online, offline, busy or error"
            )))
        }
    };
    let queue = v.get("queue_length").and_then(|q| q.as_i64());
    let message = v.get("message").and_then(|m| m.as_str()).map(str::to_owned);
    Ok(PrinterState { status, queue_length: queue, reasons: vec![], message })
}

/// Windows' `PrinterStatus` (MSFT_Printer / Get-Printer), as a number or a name, onto the four statuses.
pub fn windows_printer_status(v: &serde_json::Value) -> (PrinterStatus, String) {
    const NAMES: [&str; 26] = [
        "Normal",
        "Paused",
        "Error",
        "PendingDeletion",
        "PaperJam",
        "PaperOut",
        "ManualFeed",
        "PaperProblem",
        "Offline",
        "IOActive",
        "Busy",
        "Printing",
        "OutputBinFull",
        "NotAvailable",
        "Waiting",
        "Processing",
        "Initialization",
        "WarmingUp",
        "TonerLow",
        "NoToner",
        "PagePunt",
        "UserIntervention",
        "OutOfMemory",
        "DoorOpen",
        "ServerUnknown",
        "PowerSave",
    ];
    let name = match v {
        serde_json::Value::Number(n) => {
            n.as_u64().and_then(|i| NAMES.get(i as usize)).copied().unwrap_or("Unknown").to_owned()
        }
        serde_json::Value::String(s) => s.clone(),
        _ => "Unknown".to_owned(),
    };
    let status = match name.as_str() {
        "Normal" | "TonerLow" | "PowerSave" | "WarmingUp" | "Initialization" | "Waiting" => PrinterStatus::Online,
        "IOActive" | "Busy" | "Printing" | "Processing" => PrinterStatus::Busy,
        "Paused" | "Offline" | "NotAvailable" | "PendingDeletion" | "ServerUnknown" => PrinterStatus::Offline,
        _ => PrinterStatus::Error,
    };
    (status, name)
}

#[async_trait]
impl Printer for CommandPrinter {
    fn describe(&self) -> String {
        format!("command printer {} ({})", self.printer, self.print_command[0])
    }

    async fn status(&self) -> Result<PrinterState, PrinterError> {
        let Some(cmd) = &self.status_command else {
            // Without a status command the printer is taken as online; print failures still count.
            return Ok(PrinterState {
                status: PrinterStatus::Online,
                queue_length: None,
                reasons: vec![],
                message: None,
            });
        };
        let args: Vec<String> = cmd.iter().map(|a| a.replace("{printer}", &self.printer)).collect();
        match run(&args, self.timeout, "the status command").await {
            Ok(out) => parse_status_json(&out).or_else(|e| {
                Ok(PrinterState {
                    status: PrinterStatus::Error,
                    queue_length: None,
                    reasons: vec![],
                    message: Some(e.to_string()),
                })
            }),
            Err(e) => Ok(PrinterState {
                status: PrinterStatus::Offline,
                queue_length: None,
                reasons: vec![],
                message: Some(e.to_string()),
            }),
        }
    }

    async fn capabilities(&self) -> Result<PrinterCapabilities, PrinterError> {
        Ok(self.capabilities.clone())
    }

    async fn submit(&self, job: &JobSpec) -> Result<String, PrinterError> {
        let dir = std::env::temp_dir().join(format!("printcore-{}", job.job_name));
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| PrinterError::Transient(format!("cannot create {}: {e}", dir.display())))?;
        let mut last_out = String::new();
        let result = async {
            for (i, doc) in job.documents.iter().enumerate() {
                let file = dir.join(format!("{}-{}.pdf", job.job_name, i + 1));
                let step = async {
                    tokio::fs::write(&file, doc)
                        .await
                        .map_err(|e| PrinterError::Transient(format!("cannot write {}: {e}", file.display())))?;
                    let args = substitute(&self.print_command, job, &self.printer, &file.to_string_lossy());
                    run(&args, self.timeout, "the print command").await
                };
                last_out = match step.await {
                    Ok(out) => out,
                    // The earlier documents went to the spooler: sending the order again would print them
                    // twice.
                    Err(e) if i > 0 => {
                        return Err(PrinterError::Uncertain(format!(
                            "{e}, after document{} 1{} of {} had been sent",
                            if i > 1 { "s" } else { "" },
                            if i > 1 { format!("-{i}") } else { String::new() },
                            job.documents.len()
                        )))
                    }
                    Err(e) => return Err(e),
                };
            }
            Ok::<(), PrinterError>(())
        }
        .await;
        let _ = tokio::fs::remove_dir_all(&dir).await;
        result?;
        // `lp` prints "request id is Queue-12 (1 file(s))"; other commands print nothing useful.
        let reference = last_out
            .split_whitespace()
            .skip_while(|w| *w != "is")
            .nth(1)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("command:{}", job.job_name));
        Ok(reference)
    }

    async fn job_state(&self, _job_ref: &str, _job_name: &str) -> Result<JobState, PrinterError> {
        Err(PrinterError::Unsupported(format!("{} cannot report job states", self.describe())))
    }

    async fn find_job(&self, _job_name: &str) -> Result<Option<FoundJob>, PrinterError> {
        Err(PrinterError::Unsupported(format!("{} cannot look jobs up by name", self.describe())))
    }

    async fn cancel(&self, _job_ref: &str) -> Result<(), PrinterError> {
        Err(PrinterError::Unsupported(format!("{} cannot cancel jobs", self.describe())))
    }

    fn can_look_up_jobs(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powershell_get_printer_json_maps_onto_statuses() {
        let s = parse_status_json(r#"{"Name":"HP","PrinterStatus":0,"JobCount":2}"#).unwrap();
        assert_eq!((s.status, s.queue_length), (PrinterStatus::Online, Some(2)));
        let s = parse_status_json(r#"[{"Name":"HP","PrinterStatus":8,"JobCount":0}]"#).unwrap();
        assert_eq!(s.status, PrinterStatus::Offline);
        assert!(s.message.unwrap().contains("Offline"));
        assert_eq!(parse_status_json(r#"{"PrinterStatus":"PaperJam"}"#).unwrap().status, PrinterStatus::Error);
        assert_eq!(parse_status_json(r#"{"PrinterStatus":11}"#).unwrap().status, PrinterStatus::Busy);
        assert!(parse_status_json("not json").is_err());
    }
}
