//! The claim/complete cycle end to end: migrate, queue three paid orders, claim them in priority order,
//! print (pretend), complete, and show each order's history.
//!
//! `MONGODB_URI=mongodb://127.0.0.1:27017 cargo run -p printcore --example claim_cycle`

use bson::{doc, DateTime, Document};
use printcore::{ClaimTarget, CoreConfig, MarkPaid, PrintCore, WorkerId};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let uri = std::env::var("MONGODB_URI").map_err(|_| "set MONGODB_URI to a MongoDB connection string")?;
    let db_name = std::env::var("PRINTCORE_DB").unwrap_or_else(|_| "printcore_example".into());
    let core = PrintCore::connect(&uri, &db_name, CoreConfig::default()).await?;
    core.database().collection::<Document>("orders").delete_many(doc! { "orderId": { "$regex": "^EX-" } }).await?;
    let report = core.migrate(&Default::default()).await?;
    println!("migration: {} indexes in place", report.indexes.len());

    // The website creates orders; printcore never rewrites its fields.
    let orders: Vec<Document> = [("EX-1", 0), ("EX-2", 5), ("EX-3", 0)]
        .iter()
        .map(|(id, _)| {
            doc! {
                "orderId": *id, "paymentStatus": "pending", "createdAt": DateTime::now(),
                "fileURL": format!("https://res.cloudinary.com/demo/raw/upload/{id}.pdf"),
                "printingOptions": { "pageSize": "A4", "copies": 1 },
                "customer": { "name": "Example customer" },
            }
        })
        .collect();
    core.database().collection::<Document>("orders").insert_many(orders).await?;
    for (id, priority) in [("EX-1", 0), ("EX-2", 5), ("EX-3", 0)] {
        core.mark_paid(id, &MarkPaid { priority: Some(priority), not_before: None }).await?;
    }

    let worker = WorkerId::generate();
    let target =
        ClaimTarget { printer_id: "example".into(), printer_name: "Example printer".into(), capabilities: None };
    while let Some(job) = core.claim(&worker, &target).await? {
        println!("claimed {} as print job {} (attempt {})", job.order_id(), job.print_job_id(), job.attempt());
        job.mark_sending().await?;
        job.mark_submitted("example-job").await?;
        job.complete().await?;
    }
    for id in ["EX-1", "EX-2", "EX-3"] {
        let actions: Vec<String> = core.logs_for_order(id, 10).await?.into_iter().rev().map(|l| l.action).collect();
        println!("{id}: {}", actions.join(" -> "));
    }
    Ok(())
}
