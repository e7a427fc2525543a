//! Reading an `explain` answer: the winning plan's stages and the execution statistics.

use bson::{Bson, Document};

/// The winning plan's stages of an `explain` answer, outermost first, each as `STAGE` or
/// `STAGE(indexName)` (branches of `inputStages` in order).
pub fn plan_stages(explain: &Document) -> Vec<String> {
    fn walk(plan: &Document, out: &mut Vec<String>) {
        if let Ok(s) = plan.get_str("stage") {
            let index = plan.get_str("indexName").map(|i| format!("({i})")).unwrap_or_default();
            out.push(format!("{s}{index}"));
        }
        for key in ["inputStage", "queryPlan"] {
            if let Ok(child) = plan.get_document(key) {
                walk(child, out);
            }
        }
        if let Ok(children) = plan.get_array("inputStages") {
            for c in children.iter().filter_map(Bson::as_document) {
                walk(c, out);
            }
        }
    }
    let mut out = Vec::new();
    if let Ok(plan) = explain.get_document("queryPlanner").and_then(|q| q.get_document("winningPlan")) {
        walk(plan, &mut out);
    }
    out
}

/// A number of the `executionStats` of an `explain` answer (`totalKeysExamined`...), or -1.
pub fn execution_stat(explain: &Document, key: &str) -> i64 {
    match explain.get_document("executionStats").ok().and_then(|s| s.get(key)) {
        Some(Bson::Int32(v)) => *v as i64,
        Some(Bson::Int64(v)) => *v,
        Some(Bson::Double(v)) => *v as i64,
        _ => -1,
    }
}

/// A number of the `executionStats` of an explained `aggregate`: at the top when the server ran the whole
/// pipeline as one query, otherwise in its first stage (`$cursor`); -1 when absent.
pub fn aggregate_stat(explain: &Document, key: &str) -> i64 {
    let top = execution_stat(explain, key);
    if top >= 0 {
        return top;
    }
    explain
        .get_array("stages")
        .ok()
        .and_then(|s| s.first())
        .and_then(Bson::as_document)
        .and_then(|s| s.get_document("$cursor").ok())
        .map(|c| execution_stat(c, key))
        .unwrap_or(-1)
}

/// [`plan_stages`] joined outermost first, with repeated stages counted: `SORT_MERGE <- 18 x IXSCAN(i)`.
pub fn plan_summary(stages: &[String]) -> String {
    let mut out: Vec<(usize, &str)> = Vec::new();
    for s in stages {
        match out.last_mut() {
            Some((n, last)) if *last == s.as_str() => *n += 1,
            _ => out.push((1, s)),
        }
    }
    out.iter()
        .map(|(n, s)| if *n > 1 { format!("{n} x {s}") } else { (*s).to_owned() })
        .collect::<Vec<_>>()
        .join(" <- ")
}
