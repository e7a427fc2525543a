//! `pc-harness db [--standalone] [--storage DIR] [--auth]`: starts the test database server (or uses `MONGODB_URI`)
//! and prints `MONGODB_URI=<uri>` on one line, then runs until it is killed.
//! The Node tests, CI and the demo start the database through it, so there is one harness.

use printcore_tests::db::{server, start_secantus, start_secantus_with, Mode};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("db") {
        eprintln!("usage: pc-harness db [--standalone] [--storage DIR]");
        std::process::exit(2);
    }
    let mode = if args.iter().any(|a| a == "--standalone") { Mode::Standalone } else { Mode::ReplicaSet };
    let storage =
        args.iter().position(|a| a == "--storage").and_then(|i| args.get(i + 1)).map(std::path::PathBuf::from);
    if args.iter().any(|a| a == "--auth") {
        // A server that requires authentication, on fresh storage (its first user comes through the
        // localhost exception).
        let dir = std::env::temp_dir().join(format!("printcore-auth-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        match start_secantus_with(mode, dir, 0, &["--auth".to_owned()]) {
            Ok(s) => {
                println!("MONGODB_URI={}", s.uri);
                std::mem::forget(s);
                loop {
                    std::thread::park();
                }
            }
            Err(e) => {
                eprintln!("pc-harness: {e}");
                std::process::exit(1);
            }
        }
    }
    let uri = match storage {
        Some(dir) => match start_secantus(mode, dir) {
            Ok(s) => {
                let uri = s.uri.clone();
                std::mem::forget(s);
                uri
            }
            Err(e) => {
                eprintln!("pc-harness: {e}");
                std::process::exit(1);
            }
        },
        None => server(mode).uri.clone(),
    };
    println!("MONGODB_URI={uri}");
    // Run until a signal ends us; the server dies with us (PR_SET_PDEATHSIG).
    loop {
        std::thread::park();
    }
}
