//! How long a printer keeps completed jobs listed, and whether it shows this worker the names of its jobs:
//! the two facts that decide whether a printer that does not list a job proves it never received it.
//!
//! They differ from printer to printer (ippeveprinter forgets a completed job after a minute; CUPS keeps
//! them until `MaxJobs` unless `PreserveJobHistory No`, and hides job names from other users under
//! `JobPrivateValues`; a network printer keeps a handful), so they are configured per printer
//! (`job_history_secs`, `job_names_visible`) or measured on this worker's own completed jobs: each health
//! pass asks the printer, by name, for the oldest completed job it is watching. A job still listed at age
//! `a` shows the printer keeps jobs at least `a` and shows their names; one gone at age `a` caps what the
//! worker assumes below `a`. Until one of them is known, absence proves nothing: the order waits or fails
//! "may have printed", never goes back to the queue on a guess.

use crate::printer::Printer;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A job sent this long before the history would end still counts as possibly forgotten: the printer
/// completes a job some time after it was sent, and its clock is not ours.
const MARGIN: Duration = Duration::from_secs(5);
/// Completed jobs watched at once (the oldest is asked about at each health pass).
const WATCHED: usize = 2;
/// A job still listed this long after it completed ends its watch: the history is long enough for every
/// decision the worker makes.
const LONG_ENOUGH: Duration = Duration::from_secs(3600);

/// What this worker knows of a printer's job history.
#[derive(Debug, Default)]
pub struct JobHistory {
    configured_keep: Option<Duration>,
    configured_names: Option<bool>,
    measured: Mutex<Measured>,
}

#[derive(Debug, Default)]
struct Measured {
    /// The oldest age at which one of this worker's completed jobs was still listed, by name.
    kept_at_least: Option<Duration>,
    /// The youngest age at which one of them was no longer listed.
    forgot_within: Option<Duration>,
    /// Completed jobs (by name) being watched, with when they completed.
    watching: VecDeque<(String, Instant)>,
}

impl JobHistory {
    /// `keep`: how long the printer keeps completed jobs listed (zero: not at all); `names`: whether it
    /// shows this worker's job names. `None`: measure it.
    pub fn configured(keep: Option<Duration>, names: Option<bool>) -> JobHistory {
        JobHistory { configured_keep: keep, configured_names: names, measured: Mutex::default() }
    }

    /// How long the printer keeps a completed job listed, as far as known (a measured value is a lower
    /// bound, capped below the youngest age at which a job was seen gone).
    pub fn kept(&self) -> Option<Duration> {
        if let Some(k) = self.configured_keep {
            return Some(k);
        }
        let m = self.measured.lock().unwrap();
        match (m.kept_at_least, m.forgot_within) {
            (Some(k), Some(f)) => Some(k.min(f.saturating_sub(MARGIN))),
            (k, None) => k,
            (None, Some(_)) => Some(Duration::ZERO),
        }
    }

    /// Whether the printer shows this worker the names of its jobs, as far as known.
    pub fn names_visible(&self) -> Option<bool> {
        self.configured_names.or_else(|| self.measured.lock().unwrap().kept_at_least.map(|_| true))
    }

    /// Whether a printer that was up all along and does not list a job sent `age` ago proves it never
    /// received it: only when it shows job names and keeps completed jobs for longer than that.
    pub fn absence_proves_never_received(&self, age: Duration) -> bool {
        self.names_visible() == Some(true) && self.kept().is_some_and(|k| age.saturating_add(MARGIN) < k)
    }

    /// A sentence for `worker check`, `worker printers` and the messages that cite it.
    pub fn describe(&self) -> String {
        let keep = match (self.configured_keep, self.kept()) {
            (Some(k), _) => format!("keeps completed jobs {} s (configured)", k.as_secs()),
            (None, Some(k)) => format!("keeps completed jobs at least {} s (measured)", k.as_secs()),
            (None, None) => "how long it keeps completed jobs is not known yet (measured after its first \
                             print; set job_history_secs to say it)"
                .to_owned(),
        };
        let names = match (self.configured_names, self.names_visible()) {
            (Some(v), _) => format!("job names {} (configured)", if v { "visible" } else { "hidden" }),
            (None, Some(true)) => "job names visible (measured)".to_owned(),
            _ => "job names not known to be visible".to_owned(),
        };
        format!("{keep}; {names}")
    }

    /// The printer lists one of this worker's completed jobs, by name, `age` after it completed (read from
    /// the printer's own list): it keeps them at least that long, and shows their names.
    pub fn observed_listing(&self, age: Duration) {
        let mut m = self.measured.lock().unwrap();
        m.kept_at_least = Some(m.kept_at_least.map_or(age, |k| k.max(age)));
    }

    /// Reads the printer's list of completed jobs (at the first health pass, and by `worker check`).
    /// Returns whether the printer answered.
    pub async fn read_listing(&self, printer: &dyn Printer) -> bool {
        match printer.oldest_listed_completed().await {
            Ok(Some(age)) => {
                self.observed_listing(age);
                true
            }
            Ok(None) => true,
            Err(_) => false,
        }
    }

    /// This worker saw its job `name` completed just now: watch how long the printer lists it.
    pub fn completed(&self, name: &str) {
        if self.configured_keep.is_some() && self.configured_names.is_some() {
            return;
        }
        let mut m = self.measured.lock().unwrap();
        if m.watching.len() < WATCHED {
            m.watching.push_back((name.to_owned(), Instant::now()));
        }
    }

    /// Whether a completed job is being watched (the health pass then asks the printer about it).
    pub fn watching(&self) -> bool {
        !self.measured.lock().unwrap().watching.is_empty()
    }

    /// Asks the printer about the oldest watched job and records what that shows. Returns whether it asked.
    pub async fn probe(&self, printer: &dyn Printer) -> bool {
        let Some((name, completed)) = self.measured.lock().unwrap().watching.front().cloned() else {
            return false;
        };
        let found = printer.find_job(&name).await;
        let age = completed.elapsed();
        let mut m = self.measured.lock().unwrap();
        match found {
            Ok(Some(_)) => {
                m.kept_at_least = Some(m.kept_at_least.map_or(age, |k| k.max(age)));
                if age >= LONG_ENOUGH {
                    m.watching.pop_front();
                }
            }
            Ok(None) => {
                m.forgot_within = Some(m.forgot_within.map_or(age, |f| f.min(age)));
                m.watching.pop_front();
            }
            // Cannot ask now: next pass.
            Err(_) => {}
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_history_proves_nothing_and_configured_history_decides() {
        let unknown = JobHistory::default();
        assert!(!unknown.absence_proves_never_received(Duration::from_secs(1)));
        let none = JobHistory::configured(Some(Duration::ZERO), Some(true));
        assert!(!none.absence_proves_never_received(Duration::ZERO), "a printer that keeps nothing proves nothing");
        let kept = JobHistory::configured(Some(Duration::from_secs(600)), Some(true));
        assert!(kept.absence_proves_never_received(Duration::from_secs(60)));
        assert!(!kept.absence_proves_never_received(Duration::from_secs(596)));
        let hidden = JobHistory::configured(Some(Duration::from_secs(600)), Some(false));
        assert!(!hidden.absence_proves_never_received(Duration::from_secs(1)), "names hidden: absence proves nothing");
    }

    #[test]
    fn a_measured_history_is_capped_below_the_age_at_which_a_job_was_seen_gone() {
        let h = JobHistory::default();
        {
            let mut m = h.measured.lock().unwrap();
            m.kept_at_least = Some(Duration::from_secs(120));
            m.forgot_within = Some(Duration::from_secs(90));
        }
        assert_eq!(h.kept(), Some(Duration::from_secs(85)));
        assert_eq!(h.names_visible(), Some(true));
        let gone_only = JobHistory::default();
        gone_only.measured.lock().unwrap().forgot_within = Some(Duration::from_secs(30));
        assert_eq!(gone_only.kept(), Some(Duration::ZERO));
        assert_eq!(gone_only.names_visible(), None);
        assert!(!gone_only.absence_proves_never_received(Duration::ZERO));
    }
}
