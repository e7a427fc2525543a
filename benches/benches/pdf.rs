//! PDF validation throughput (MB/s) on a 50-page PDF, against two baselines in the same run: sha256 of
//! the same bytes alone (the least any validation must do) and lopdf's bare parse (what validation adds
//! to the parser). Prints the medians and the ratios.
//!
//! `cargo bench -p printcore-benches --bench pdf`

use printcore::files::{pdf::sha256_hex, validate_pdf};
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
    let (mut ours, mut sha, mut parse) = (Vec::new(), Vec::new(), Vec::new());
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
    }
    let (o, s, p) = (median(ours), median(sha), median(parse));
    println!("{:>22} | {:>8}", "", "MB/s");
    println!("{:>22} | {o:>8.1}", "validate_pdf");
    println!("{:>22} | {p:>8.1} | validate/parse = {:.2}", "lopdf parse only", o / p);
    println!("{:>22} | {s:>8.1} | validate/sha256 = {:.2}", "sha256 only", o / s);
}
