//! Child processes that live exactly as long as the test process.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A service process started for the tests, with the line it printed that said it was ready.
pub struct Service {
    pub child: Child,
    pub ready_line: String,
}

/// Starts `cmd` from a thread that lives as long as the process, so `PR_SET_PDEATHSIG` (which fires when the
/// spawning *thread* ends) kills the child exactly when the test process ends. Waits until a line of its
/// stdout or stderr contains `ready_marker`, for at most `timeout`; with no marker, returns once started.
pub fn spawn_until_ready(mut cmd: Command, ready_marker: Option<&str>, timeout: Duration) -> Result<Service, String> {
    let marker = ready_marker.map(str::to_owned);
    let program = format!("{:?}", cmd.get_program());
    let (tx, rx) = mpsc::channel::<Result<Service, String>>();
    std::thread::spawn(move || {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
        #[cfg(target_os = "linux")]
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let _ = tx.send(Err(format!("could not start {program}: {e}")));
                return;
            }
        };
        let (line_tx, line_rx) = mpsc::channel::<String>();
        for pipe in [
            child.stdout.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let line_tx = line_tx.clone();
            // Keep draining the pipe for the child's whole life, so it never blocks on a full pipe.
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if std::env::var_os("PRINTCORE_TEST_VERBOSE").is_some() {
                        eprintln!("[service] {line}");
                    }
                    let _ = line_tx.send(line);
                }
            });
        }
        let start = Instant::now();
        let mut seen = Vec::new();
        let Some(marker) = marker else {
            let _ = tx.send(Ok(Service { child, ready_line: String::new() }));
            loop {
                std::thread::park();
            }
        };
        let ready = loop {
            let left = timeout.saturating_sub(start.elapsed());
            match line_rx.recv_timeout(left.max(Duration::from_millis(1))) {
                Ok(line) if line.contains(&marker) => break Ok(line),
                Ok(line) => {
                    seen.push(line);
                    if seen.len() > 40 {
                        seen.remove(0);
                    }
                }
                Err(_) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        break Err(format!("{program} exited ({status}) before it was ready:\n{}", seen.join("\n")));
                    }
                    if start.elapsed() >= timeout {
                        let _ = child.kill();
                        break Err(format!("{program} was not ready within {timeout:?}:\n{}", seen.join("\n")));
                    }
                }
            }
        };
        match ready {
            Ok(ready_line) => {
                let _ = tx.send(Ok(Service { child, ready_line }));
                // This thread must outlive the child: see above.
                loop {
                    std::thread::park();
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e));
            }
        }
    });
    rx.recv().map_err(|_| "service thread ended unexpectedly".to_owned())?
}

/// One GET of `path` on a loopback port over a fresh connection: the status code and the body (`None` when
/// nothing answers within 5 s).
pub async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes())
            .await
            .ok()?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (head, body) = text.split_once("\r\n\r\n")?;
        let code = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((code, body.to_owned()))
    };
    tokio::time::timeout(Duration::from_secs(5), exchange).await.ok().flatten()
}

/// A free TCP port on loopback (bound and released; good enough for a test service to take next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
