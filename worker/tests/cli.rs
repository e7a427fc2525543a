//! The worker's command line as a user meets it: help, configuration mistakes, `check` and `printers`.

use printcore_tests::db::{server, Mode};
use std::process::Command;

fn worker() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_worker"));
    c.env_remove("MONGODB_URI").env_remove("PRINTCORE_CONFIG");
    c
}

fn output(c: &mut Command) -> (i32, String) {
    let o = c.output().expect("run the worker");
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    (o.status.code().unwrap_or(-1), text)
}

#[test]
fn help_explains_every_command_and_setting() {
    let (code, text) = output(worker().arg("--help"));
    assert_eq!(code, 0);
    for word in ["run", "migrate", "printers", "check", "--config", "--mongodb-uri", "--poll-interval", "--log-json"] {
        assert!(text.contains(word), "--help should mention {word}:\n{text}");
    }
}

#[test]
fn configuration_mistakes_are_named_and_exit_2() {
    let (code, text) = output(worker().args(["--config", "/nonexistent/worker.toml", "check"]));
    assert_eq!(code, 2);
    assert!(text.contains("/nonexistent/worker.toml"), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[worker]\npoll_interval_secs = -1\n[[printers]]\nid = \"a\"\nname = \"A\"\nbackend = \"file\"\nfolder = \"/tmp/x\"\n").unwrap();
    let (code, text) =
        output(worker().args(["--mongodb-uri", "mongodb://127.0.0.1:1", "--config"]).arg(&bad).arg("check"));
    assert_eq!(code, 2);
    assert!(text.contains("poll_interval_secs"), "{text}");
}

#[test]
fn file_settings_that_cannot_be_meant_are_named_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("w.toml");
    for (files, key) in [
        ("max_mb = nan", "max_mb"),
        ("max_mb = 0", "max_mb"),
        ("max_mb = -5", "max_mb"),
        ("allowed_hosts = [\"com\"]", "allowed_hosts: \"com\""),
        ("allowed_hosts = [\"*.cloudinary.com\"]", "allowed_hosts: \"*.cloudinary.com\""),
        ("allowed_hosts = [\"https://res.cloudinary.com/x\"]", "allowed_hosts: \"https://res.cloudinary.com/x\""),
    ] {
        std::fs::write(
            &cfg,
            format!(
                "[files]\n{files}\n[[printers]]\nid = \"a\"\nname = \"A\"\nbackend = \"file\"\nfolder = \"/tmp/x\"\n"
            ),
        )
        .unwrap();
        let (code, text) =
            output(worker().args(["--mongodb-uri", "mongodb://127.0.0.1:1", "--config"]).arg(&cfg).arg("check"));
        assert_eq!(code, 2, "{files}: {text}");
        assert!(text.contains(key), "{files}: {text}");
    }
}

#[test]
fn check_fails_clearly_without_a_database_and_never_prints_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("w.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[printers]]\nid = \"a\"\nname = \"A\"\nbackend = \"file\"\nfolder = \"{}\"\n",
            dir.path().join("out").display()
        ),
    )
    .unwrap();
    let uri = "mongodb://shop:SuperSecret123@127.0.0.1:1/?serverSelectionTimeoutMS=500";
    let (code, text) = output(worker().args(["--mongodb-uri", uri, "--config"]).arg(&cfg).arg("check"));
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("cannot reach the database"), "{text}");
    assert!(!text.contains("SuperSecret123"), "the password leaked:\n{text}");
    assert!(text.contains("shop:****@"), "{text}");
}

/// A password holding an unencoded `/`, `?`, `#` or `@`: refused before any driver sees it (a driver would
/// misread it and print part of it), and never shown whole or in part.
#[test]
fn a_password_holding_url_delimiters_is_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("w.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[printers]]\nid = \"a\"\nname = \"A\"\nbackend = \"file\"\nfolder = \"{}\"\n",
            dir.path().join("out").display()
        ),
    )
    .unwrap();
    for pw in ["Sup3r/Secret", "Sup3r?Secret", "Sup3r#Secret", "Sup3r@Secret"] {
        let uri = format!("mongodb://shop:{pw}@127.0.0.1:1/?serverSelectionTimeoutMS=500");
        let (code, text) = output(worker().args(["--mongodb-uri", &uri, "--config"]).arg(&cfg).arg("check"));
        assert_eq!(code, 2, "{text}");
        assert!(text.contains("percent-encode") && text.contains("shop:****@127.0.0.1:1"), "{text}");
        for part in ["Sup3r", "Secret"] {
            assert!(!text.contains(part), "{part} of the password leaked:\n{text}");
        }
    }
}

#[test]
fn check_and_printers_pass_with_a_database_and_a_ready_printer() {
    let uri = &server(Mode::ReplicaSet).uri;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("w.toml");
    std::fs::write(
        &cfg,
        format!("[database]\nname = \"cli_check\"\n[[printers]]\nid = \"folder\"\nname = \"Folder\"\nbackend = \"file\"\nfolder = \"{}\"\n", dir.path().join("out").display()),
    )
    .unwrap();
    let (code, text) = output(worker().args(["--mongodb-uri", uri, "--config"]).arg(&cfg).arg("check"));
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("all checks passed"), "{text}");
    let (code, text) = output(worker().args(["--mongodb-uri", uri, "--config"]).arg(&cfg).arg("printers"));
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("status: online") && text.contains("up to 999 copies"), "{text}");
    let (code, text) = output(worker().args(["--mongodb-uri", uri, "--config"]).arg(&cfg).arg("migrate"));
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("printers registered: 1"), "{text}");
}

#[test]
fn json_logs_are_one_object_per_line_and_name_the_order_and_print_job() {
    use std::io::{BufRead, BufReader};
    let uri = &server(Mode::ReplicaSet).uri;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("cli_json_{}", std::process::id());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let files = rt.block_on(printcore_tests::fileserver::FileServer::start());
    files.route(
        "/a.pdf",
        printcore_tests::fileserver::Route::pdf(printcore_tests::pdfgen::pdf(1, printcore_tests::pdfgen::A4)),
    );
    rt.block_on(async {
        let core = printcore::PrintCore::connect(uri, &db, printcore::CoreConfig::default()).await.unwrap();
        let mut order = printcore_tests::fixtures::paid_order("JSON-1", bson::DateTime::now(), 10);
        order.insert("fileURL", files.url("/a.pdf"));
        core.database().collection::<bson::Document>("orders").insert_one(order).await.unwrap();
    });
    let cfg = dir.path().join("w.toml");
    std::fs::write(
        &cfg,
        format!(
            "[database]\nname = \"{db}\"\n[worker]\npoll_interval_secs = 0.5\nhealth_interval_secs = 0.5\n\
             [files]\nallowed_hosts = [\"127.0.0.1:*\"]\nallow_loopback = true\nallow_http = true\n\
             [[printers]]\nid = \"f\"\nname = \"F\"\nbackend = \"file\"\nfolder = \"{}\"\n",
            dir.path().join("out").display()
        ),
    )
    .unwrap();
    let mut child = worker()
        .args(["--mongodb-uri", uri, "--log-json", "--config"])
        .arg(&cfg)
        .arg("run")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The lines are read on their own thread, so the deadline holds even when the worker goes quiet.
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut printed_line = None;
    let mut seen = Vec::new();
    while printed_line.is_none() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let Ok(line) = rx.recv_timeout(left) else { break };
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if v["fields"]["message"] == "printed" {
            printed_line = Some(v);
        } else {
            seen.push(line);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let v = printed_line
        .unwrap_or_else(|| panic!("no 'printed' line within 30 s; the worker logged:\n{}", seen.join("\n")));
    assert_eq!(v["span"]["order_id"], "JSON-1", "{v}");
    assert!(v["span"]["print_job_id"].as_str().is_some_and(|s| s.len() == 36), "{v}");
}
