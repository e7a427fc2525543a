//! The monitor snapshot at a small and a large orders collection: its time (median of 7), the ratio
//! between the two sizes (an index-served snapshot barely grows), and the explain plan of every query it
//! makes: each must be an index scan, with no collection scan and no in-memory sort.
//!
//! `cargo bench -p printcore-benches --bench snapshot` (SMALL=10000 LARGE=1000000 by default; smaller
//! sizes for a quick look).

use bson::{doc, DateTime, Document};
use printcore::{CoreConfig, PrintCore};
use printcore_benches::{env_or, median, quick};
use printcore_tests::db::{server, Mode};
use printcore_tests::explain::plan_stages;
use std::time::{Duration, Instant};

/// A shop's history: the day's working set is the same at any size (50 pending, 5 printing, 40 failed,
/// 300 printed in the last 24 hours); everything else was printed long ago. So the ratio between sizes
/// shows what the history costs the snapshot: with every query on an index, close to nothing.
async fn seed(core: &PrintCore, n: usize) {
    let orders = core.database().collection::<Document>("orders");
    let now = DateTime::now().timestamp_millis();
    let mut batch = Vec::with_capacity(5000);
    for i in 0..n {
        let recent = n - i; // the newest orders are the day's
        let (status, completed) = match recent {
            1..=50 => ("pending", None),
            51..=55 => ("printing", None),
            56..=95 => ("failed", None),
            96..=395 => ("printed", Some(now - recent as i64 * 60_000)),
            _ => ("printed", Some(now - 2 * 86_400_000 - recent as i64 * 1000)),
        };
        let mut d = doc! {
            "orderId": format!("H-{i:08}"),
            "paymentStatus": "completed",
            "printStatus": status,
            "printPriority": 0,
            "createdAt": DateTime::from_millis(now - (n - i) as i64 * 1000),
            "fileURL": "https://res.cloudinary.com/shop/raw/upload/h.pdf",
            "customer": { "name": "Customer" },
        };
        if let Some(c) = completed {
            d.insert("printCompletedAt", DateTime::from_millis(c));
        }
        batch.push(d);
        if batch.len() == 5000 {
            orders.insert_many(std::mem::take(&mut batch)).await.unwrap();
        }
    }
    if !batch.is_empty() {
        orders.insert_many(batch).await.unwrap();
    }
}

/// The snapshot's queries, explained. Returns (name, plan stages).
async fn explain(core: &PrintCore) -> Vec<(String, Vec<String>)> {
    let db = core.database();
    let day_ago = DateTime::from_millis(DateTime::now().timestamp_millis() - 86_400_000);
    let finds = [
        ("pending", doc! { "printStatus": "pending", "paymentStatus": "completed" }, printcore::queue::claim_sort()),
        ("printing", doc! { "printStatus": "printing" }, doc! { "printStatus": 1, "createdAt": -1 }),
        (
            "printed 24 h",
            doc! { "printStatus": "printed", "printCompletedAt": { "$gte": day_ago } },
            doc! { "printStatus": 1, "printCompletedAt": -1 },
        ),
        ("failed", doc! { "printStatus": "failed" }, doc! { "printStatus": 1, "createdAt": -1 }),
        ("claim", printcore::queue::claim_query(None).filter, printcore::queue::claim_sort()),
    ];
    let mut out = Vec::new();
    for (name, filter, sort) in finds {
        let r = db
            .run_command(doc! {
                "explain": if name == "claim" {
                    doc! { "find": "orders", "filter": filter.clone(), "sort": sort, "limit": 1,
                           "hint": printcore::queue::CLAIM_INDEX }
                } else {
                    doc! { "find": "orders", "filter": filter.clone(), "sort": sort, "limit": 500 }
                },
                "verbosity": "queryPlanner",
            })
            .await
            .unwrap();
        out.push((format!("find {name}"), plan_stages(&r)));
        if name == "claim" {
            continue; // the claim takes one order; it never counts
        }
        let r = db
            .run_command(doc! { "explain": { "count": "orders", "query": filter }, "verbosity": "queryPlanner" })
            .await
            .unwrap();
        out.push((format!("count {name}"), plan_stages(&r)));
    }
    out
}

async fn time_snapshot(core: &PrintCore, runs: usize) -> f64 {
    let mut times = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let s = core.snapshot().await.unwrap();
        std::hint::black_box(s);
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    median(times)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = quick();
    let small = env_or("SMALL", if quick { 1000 } else { 10_000 });
    let large = env_or("LARGE", if quick { 5000 } else { 1_000_000 });
    let runs = if quick { 1 } else { 7 };
    let uri = server(Mode::ReplicaSet).uri.clone();
    println!("monitor snapshot, median of {runs}, server {}", printcore::redact_uri(&uri));
    let mut results = Vec::new();
    for n in [small, large] {
        let db = format!("bench_snapshot_{n}_{}", std::process::id());
        let core = PrintCore::connect(&uri, &db, CoreConfig::default()).await.unwrap();
        core.database().drop().await.unwrap();
        core.migrate(&Default::default()).await.unwrap();
        let start = Instant::now();
        seed(&core, n).await;
        println!("seeded {n} orders in {:.1} s", start.elapsed().as_secs_f64());
        let ms = time_snapshot(&core, runs).await;
        let plans = explain(&core).await;
        println!("{n} orders: snapshot {ms:.1} ms");
        let mut bad = Vec::new();
        for (name, stages) in &plans {
            let line = stages.join(" <- ");
            let scan_ok = stages
                .iter()
                .any(|s| s.starts_with("IXSCAN") || s.starts_with("COUNT_SCAN") || s.starts_with("DISTINCT_SCAN"));
            let problems = stages.iter().any(|s| s.starts_with("COLLSCAN") || s == "SORT");
            println!("  {name:<16} {line}");
            if !scan_ok || problems {
                bad.push(name.clone());
            }
        }
        if !bad.is_empty() {
            println!("  NOT INDEX-SERVED: {}", bad.join(", "));
        }
        results.push((n, ms));
        let _ = core.database().drop().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (s, l) = (results[0], results[1]);
    println!("snapshot time ratio {}x orders -> {:.2}x time", l.0 / s.0, l.1 / s.1);
}
