//! The demo on local defaults (`bash scripts/demo.sh`): a database server, a virtual IPP printer, a local
//! file server with sample PDFs, about 20 paid orders (several page sizes, one corrupt file, one that no
//! printer can take), and the real worker binary printing them. Ends with a summary table and where the
//! printed files are. With `MONGODB_URI` set it uses that database instead, after saying so.

use bson::{doc, DateTime, Document};
use printcore::{CoreConfig, MarkPaid, PrintCore};
use printcore_tests::db::{server, Mode};
use printcore_tests::fileserver::{FileServer, Route};
use printcore_tests::ippeve::{IppEve, IppEveOptions};
use printcore_tests::pdfgen::{corrupt_pdf, pdf, pdf_with_pages, A3, A4, LETTER};
use printcore_tests::worker_proc::WorkerProcess;
use std::time::{Duration, Instant};

fn redact(uri: &str) -> String {
    printworker::config::redact_uri(uri)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::temp_dir().join("printcore-demo");
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base)?;

    let uri = match std::env::var("MONGODB_URI") {
        Ok(u) if !u.is_empty() => {
            println!("demo: MONGODB_URI is set: using that database ({}), database printcore_demo", redact(&u));
            u
        }
        _ => {
            let s = server(Mode::ReplicaSet);
            println!("demo: started a local database server (SecantusDB) at {}", s.uri);
            s.uri.clone()
        }
    };
    let core = PrintCore::connect(&uri, "printcore_demo", CoreConfig::default()).await?;
    core.database().drop().await?;
    core.migrate(&Default::default()).await?;

    let printer = IppEve::start_in(&base, IppEveOptions { job_seconds: 0.3, ..IppEveOptions::default() });
    println!(
        "demo: started a virtual IPP Everywhere printer at {} (A4, Letter, Legal, A5; colour; duplex)",
        printer.uri()
    );

    let files = FileServer::start().await;
    let samples: Vec<(&str, Vec<u8>)> = vec![
        ("flyer-a4.pdf", pdf(1, A4)),
        ("brochure-a4.pdf", pdf(4, A4)),
        ("letter-us.pdf", pdf(2, LETTER)),
        ("report-a4.pdf", pdf(12, A4)),
        ("mixed.pdf", pdf_with_pages(&[A4, A4, LETTER])),
        ("poster-a3.pdf", pdf(1, A3)),
        ("corrupt.pdf", corrupt_pdf()),
    ];
    for (name, bytes) in &samples {
        files.route(&format!("/{name}"), Route::pdf(bytes.clone()));
    }
    println!("demo: serving {} sample PDFs at http://127.0.0.1:{}/", samples.len(), files.port);

    // About 20 orders, as the website would create them, then paid.
    // (file, pageSize, colour, duplex, copies); the last two are the A3 poster no printer takes and
    // the damaged file.
    type Plan = (&'static str, &'static str, bool, bool, i64);
    let plan: Vec<Plan> = vec![
        ("flyer-a4.pdf", "A4", false, false, 1),
        ("brochure-a4.pdf", "A4", true, true, 2),
        ("letter-us.pdf", "Letter", false, false, 1),
        ("report-a4.pdf", "A4", false, true, 1),
        ("mixed.pdf", "A4", true, false, 1),
        ("poster-a3.pdf", "A3", true, false, 1),
        ("corrupt.pdf", "A4", false, false, 1),
    ];
    let orders = core.database().collection::<Document>("orders");
    let mut ids = Vec::new();
    for i in 0..20usize {
        let (file, size, color, duplex, copies) = if i < plan.len() { plan[i] } else { plan[i % 5] };
        let id = format!("DEMO-{:03}", i + 1);
        orders
            .insert_one(doc! {
                "orderId": &id,
                "paymentStatus": "pending",
                "createdAt": DateTime::now(),
                "fileURL": files.url(&format!("/{file}")),
                "printingOptions": { "pageSize": size, "color": color, "duplex": duplex, "copies": copies },
                "customer": { "name": format!("Customer {}", i + 1) },
                "total": 4.5 + i as f64,
            })
            .await?;
        core.mark_paid(&id, &MarkPaid::default()).await?;
        ids.push(id);
    }
    println!("demo: {} paid orders in the queue (one A3 poster no printer can take, one corrupt file)", ids.len());

    let config = base.join("worker.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nuri = \"{uri}\"\nname = \"printcore_demo\"\n\
             [worker]\npoll_interval_secs = 1.0\nhealth_interval_secs = 1.0\njob_poll_interval_secs = 0.2\nbackoff_base_secs = 2.0\n\
             [files]\nallowed_hosts = [\"127.0.0.1:*\"]\nallow_loopback = true\nallow_http = true\n\
             [[printers]]\nid = \"virtual-ipp\"\nname = \"Virtual IPP printer\"\nbackend = \"ipp\"\nuri = \"{}\"\n",
            printer.uri()
        ),
    )?;
    let worker = WorkerProcess::start(&config);
    println!("demo: started the worker ({}); printing...", config.display());

    let start = Instant::now();
    let total = ids.len() as u64;
    let mut last = u64::MAX;
    loop {
        let done = orders.count_documents(doc! { "printStatus": { "$in": ["printed", "failed"] } }).await?;
        if done != last {
            println!("  {done}/{total} settled");
            last = done;
        }
        if done == total {
            break;
        }
        if start.elapsed() > Duration::from_secs(300) {
            println!("demo: not every order settled within 5 minutes; the table shows where each one is");
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let status = worker.terminate(Duration::from_secs(60));
    println!("demo: the worker stopped on SIGTERM ({status})\n");

    println!("{:<9} {:<8} {:>5} {:<20} {:>8}  error", "order", "status", "pages", "printer", "time");
    for id in &ids {
        let o = core.order(id).await?;
        let time = match (o.paid_at, o.print_completed_at) {
            (Some(p), Some(c)) => format!("{:.1} s", (c.timestamp_millis() - p.timestamp_millis()) as f64 / 1000.0),
            _ => "-".into(),
        };
        let error = o.print_error.clone().unwrap_or_default();
        let error = if error.len() > 170 {
            format!("{}...", &error[..error.char_indices().nth(167).map(|(i, _)| i).unwrap_or(error.len())])
        } else {
            error
        };
        println!(
            "{:<9} {:<8} {:>5} {:<20} {:>8}  {}",
            id,
            o.print_status.map(|s| s.as_str()).unwrap_or("-"),
            o.file_pages.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            o.printer_name.clone().unwrap_or_else(|| "-".into()),
            time,
            error
        );
    }
    let printed = orders.count_documents(doc! { "printStatus": "printed" }).await?;
    let failed = orders.count_documents(doc! { "printStatus": "failed" }).await?;
    println!(
        "\n{printed} printed, {failed} failed. The printer kept every job it printed in {}",
        printer.spool.display()
    );
    println!("(one file per job, named <job-id>-<printJobId>.pdf; the worker's configuration is {})", config.display());
    drop(printer);
    Ok(())
}
