//! PDF validation throughput (MB/s) on a 50-page PDF, against two baselines in the same run: sha256 of
//! the same bytes alone (the least any validation must do) and lopdf's bare parse (what validation adds
//! to the parser), with the pre-scan's share. Then what containment costs per order: one file validated
//! in a child of the worker binary (`worker validate-pdf` with its limits) against the same file
//! validated in process, as the worker does it (from the file on disk), 1 page and 50 pages. Prints the
//! medians and the ratios.
//!
//! `cargo bench -p printcore-benches --bench pdf`

use printcore::files::prescan::{prescan, ScanLimits};
use printcore::files::{pdf::sha256_hex, validate_pdf, ContainedValidator, Validator};
use printcore_benches::{median, quick};
use printcore_tests::pdfgen::{pdf, A4};
use std::time::Instant;

fn mb_per_s(bytes: usize, iterations: usize, f: &mut dyn FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    (bytes * iterations) as f64 / 1_048_576.0 / start.elapsed().as_secs_f64()
}

fn main() {
    let quick = quick();
    let (runs, iterations) = if quick { (1, 2) } else { (7, 40) };
    let bytes = pdf(50, A4);
    println!(
        "PDF validation: 50 pages, {:.2} MB, median of {runs} runs of {iterations}",
        bytes.len() as f64 / 1_048_576.0
    );
    let (mut ours, mut sha, mut parse, mut scan) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        ours.push(mb_per_s(bytes.len(), iterations, &mut || {
            let r = validate_pdf("BENCH", "https://res.cloudinary.com/b.pdf", &bytes).unwrap();
            assert_eq!(r.pages, 50);
        }));
        sha.push(mb_per_s(bytes.len(), iterations, &mut || {
            std::hint::black_box(sha256_hex(&bytes));
        }));
        parse.push(mb_per_s(bytes.len(), iterations, &mut || {
            std::hint::black_box(lopdf::Document::load_mem(&bytes).unwrap());
        }));
        scan.push(mb_per_s(bytes.len(), iterations, &mut || {
            std::hint::black_box(prescan(&bytes, &ScanLimits::default()).unwrap());
        }));
    }
    let (o, s, p, c) = (median(ours), median(sha), median(parse), median(scan));
    println!("{:>22} | {:>8}", "", "MB/s");
    println!("{:>22} | {o:>8.1}", "validate_pdf");
    println!("{:>22} | {p:>8.1} | validate/parse = {:.2}", "lopdf parse only", o / p);
    println!("{:>22} | {s:>8.1} | validate/sha256 = {:.2}", "sha256 only", o / s);
    println!("{:>22} | {c:>8.1} | pre-scan/parse = {:.2}", "pre-scan only", c / p);
    containment(quick);
}

/// Milliseconds per file, in process and contained, as the worker validates a downloaded file.
fn containment(quick: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let contained = Validator::Contained(ContainedValidator {
        program: printcore_tests::worker_proc::worker_binary(),
        args: ["validate-pdf", "--memory-mb", "1024", "--cpu-secs", "30"].map(String::from).to_vec(),
        timeout: std::time::Duration::from_secs(60),
    });
    let (runs, iterations) = if quick { (1, 2) } else { (7, 20) };
    println!();
    println!("Validation per order, contained vs in process: ms per file, median of {runs} runs of {iterations}");
    println!("{:>22} | {:>10} | {:>10} | {:>8} | {:>12}", "file", "in process", "contained", "ratio", "extra ms");
    for pages in [1usize, 50] {
        let path = dir.path().join(format!("{pages}.pdf"));
        std::fs::write(&path, pdf(pages, A4)).unwrap();
        let per_file = |v: &Validator| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iterations {
                    let r = v.validate("BENCH", "https://res.cloudinary.com/b.pdf", &path, 2000).await.unwrap();
                    assert_eq!(r.pages as usize, pages);
                }
                start.elapsed().as_secs_f64() * 1000.0 / iterations as f64
            })
        };
        let (mut inside, mut child) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            inside.push(per_file(&Validator::InProcess));
            child.push(per_file(&contained));
        }
        let (i, c) = (median(inside), median(child));
        println!("{:>22} | {i:>10.2} | {c:>10.2} | {:>8.1} | {:>12.2}", format!("{pages} page(s)"), c / i, c - i);
    }
}
