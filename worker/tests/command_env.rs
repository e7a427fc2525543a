//! Print and status commands do not see the worker's secrets. The only test of its own process: it sets
//! the environment a print PC's worker runs with before any other thread starts.

use printcore::{PrinterCapabilities, PrinterStatus};
use printcore_tests::pdfgen::{pdf, A4};
use printworker::backends::CommandPrinter;
use printworker::{JobSpec, Printer};
use std::time::Duration;

#[test]
fn print_and_status_commands_do_not_see_the_workers_secrets() {
    // Before the runtime exists: no other thread reads the environment.
    std::env::set_var("MONGODB_URI", "mongodb://shop:EnvSecret1@db.example/printshop");
    std::env::set_var("PRINTCORE_DB", "printshop");
    std::env::set_var("PRINTCORE_SITE_TOKEN", "EnvSecret2");
    std::env::set_var("SHOP_DATABASE", "mongodb+srv://shop:EnvSecret3@cluster0.example/");
    std::env::set_var("SHOP_PRINT_HINT", "kept");
    let dir = tempfile::tempdir().unwrap();
    let (print_env, status_env) = (dir.path().join("print-env"), dir.path().join("status-env"));
    let printer = CommandPrinter::new(
        "Front",
        vec!["sh".into(), "-c".into(), format!("env > {}; : {{file}}", print_env.display())],
        Some(vec![
            "sh".into(),
            "-c".into(),
            format!("env > {}; echo '{{\"status\":\"online\"}}'", status_env.display()),
        ]),
        Duration::from_secs(10),
        PrinterCapabilities { page_sizes: vec!["A4".into()], color: true, duplex: true, max_copies: 10 },
    )
    .unwrap();
    let job = JobSpec {
        job_name: "job-env".into(),
        order_id: "ORD-ENV".into(),
        documents: vec![printcore_tests::pdfgen::pdf_file(pdf(1, A4))],
        copies: 1,
        duplex: false,
        color: false,
        page_size: None,
    };
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        printer.submit(&job).await.unwrap();
        assert_eq!(printer.status().await.unwrap().status, PrinterStatus::Online);
    });
    for file in [print_env, status_env] {
        let env = std::fs::read_to_string(&file).unwrap();
        for secret in ["EnvSecret", "MONGODB_URI=", "PRINTCORE_", "mongodb"] {
            assert!(!env.contains(secret), "{} shows {secret}:\n{env}", file.display());
        }
        assert!(env.contains("SHOP_PRINT_HINT=kept") && env.contains("PATH="), "other variables are kept:\n{env}");
    }
}
