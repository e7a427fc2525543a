//! The guide's page of messages (`docs/guide/src/running/messages.md`) against the worker's failure
//! reasons (`printworker::stats::FailureReason`): each reason has its section (a heading ending in the
//! reason's label in backticks), no section names a reason that does not exist, and every example message
//! in a section is counted under that section's reason by `FailureReason::of_message`, the function the
//! worker's metrics and alerts use.

use printworker::stats::FailureReason;
use std::collections::BTreeMap;

const PAGE: &str = include_str!("../../docs/guide/src/running/messages.md");

/// Reasons no message the worker writes is counted under today (said so on the page).
const WITHOUT_EXAMPLES: [&str; 1] = ["other"];

/// The examples (lines of ```text blocks) under each heading of the form "### ... (`label`)".
fn sections() -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut in_block = false;
    for line in PAGE.lines() {
        if line.starts_with("```") {
            in_block = !in_block && line == "```text";
            continue;
        }
        if in_block {
            if let Some(label) = &current {
                out.get_mut(label).unwrap().push(line.to_owned());
            }
            continue;
        }
        if line.starts_with('#') {
            current = line
                .strip_prefix("### ")
                .and_then(|h| h.strip_suffix("`)"))
                .and_then(|h| h.rsplit_once("(`"))
                .map(|(_, label)| label.to_owned());
            if let Some(label) = &current {
                assert!(out.insert(label.clone(), Vec::new()).is_none(), "two sections for `{label}`");
            }
        }
    }
    out
}

#[test]
fn every_failure_reason_has_its_section_and_every_example_is_counted_under_it() {
    let sections = sections();
    let labels: Vec<&str> = FailureReason::ALL.iter().map(|r| r.as_str()).collect();
    assert!(labels.len() >= 8 && labels.contains(&"may_have_printed"), "{labels:?}");
    for label in &labels {
        assert!(sections.contains_key(*label), "messages.md has no section for the failure reason `{label}`");
    }
    for label in sections.keys() {
        assert!(
            labels.contains(&label.as_str()),
            "messages.md has a section for `{label}`, which is no failure reason"
        );
    }
    let mut checked = 0;
    for (label, examples) in &sections {
        if !WITHOUT_EXAMPLES.contains(&label.as_str()) {
            assert!(!examples.is_empty(), "the section `{label}` gives no example message");
        }
        for example in examples {
            assert_eq!(
                FailureReason::of_message(example).as_str(),
                label,
                "messages.md: this example of `{label}` is counted elsewhere by the worker:\n  {example}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} examples checked");
}
