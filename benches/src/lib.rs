//! Shared helpers of the benchmarks.

/// `cargo bench` passes `--bench`; `cargo test --benches` does not: the benchmarks then run small, as a
/// smoke test.
pub fn quick() -> bool {
    !std::env::args().any(|a| a == "--bench")
}

/// A size from the environment (`ORDERS=...`), or `default`.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The `p` quantile (0 to 1) of the samples, nearest rank.
pub fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// The median of the samples (the upper one of the middle two).
pub fn median(v: Vec<f64>) -> f64 {
    percentile(v, 0.5)
}

/// One row of docs/BENCHMARKS.md's summary (scripts/bench.sh collects the `ITEM|` lines): what printcore
/// measured, the peer or baseline, their ratio, the goal and whether it is met (`None`: no goal to meet,
/// a measurement).
pub fn item(what: &str, printcore: &str, baseline: &str, ratio: &str, goal: &str, met: Option<bool>) {
    let met = match met {
        Some(true) => "met",
        Some(false) => "NOT met",
        None => "measured",
    };
    println!("ITEM|{what}|{printcore}|{baseline}|{ratio}|{goal}|{met}");
}
