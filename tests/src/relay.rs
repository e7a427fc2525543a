//! A TCP relay between the worker and a printer or print server, for what a real network does: it can
//! lose the answer to a document-carrying request (IPP Print-Job or Send-Document: the request reaches the
//! server whole, the answer never comes back), and it can carry the upload at a set rate (a printer behind a
//! slow link, or one that reads slowly).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// IPP Print-Job and Send-Document: the requests that carry a document.
const DOCUMENT_OPERATIONS: [u16; 2] = [0x0002, 0x0006];

#[derive(Default)]
struct State {
    /// Every `drop_every`-th document-carrying request loses its answer (0: none does).
    drop_every: AtomicUsize,
    seen: AtomicUsize,
    dropped: AtomicUsize,
    /// Bytes per second from the client to the server (0: as fast as it goes).
    rate: AtomicU64,
}

/// A relay on a free loopback port to `127.0.0.1:upstream`.
pub struct Relay {
    pub port: u16,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    /// Starts relaying (on the calling tokio runtime).
    pub async fn start(upstream: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port for the relay");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State::default());
        let s = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await {
                        relay(client, server, s).await;
                    }
                });
            }
        });
        Relay { port, state, task }
    }

    /// Loses the answer to every `n`-th document-carrying request from now on (0: none).
    pub fn drop_answers_every(&self, n: usize) {
        self.state.drop_every.store(n, Ordering::SeqCst);
    }

    /// Carries uploads at `bytes_per_second` (0: unlimited).
    pub fn throttle(&self, bytes_per_second: u64) {
        self.state.rate.store(bytes_per_second, Ordering::SeqCst);
    }

    /// How many answers were lost so far.
    pub fn dropped(&self) -> usize {
        self.state.dropped.load(Ordering::SeqCst)
    }

    /// How many document-carrying requests went through so far.
    pub fn documents_seen(&self) -> usize {
        self.state.seen.load(Ordering::SeqCst)
    }

    /// `base` (an `ipp://127.0.0.1:PORT/...` URI) with this relay's port instead.
    pub fn uri(&self, base: &str) -> String {
        let rest = base.strip_prefix("ipp://127.0.0.1:").expect("a loopback ipp:// URI");
        let path = &rest[rest.find('/').unwrap_or(rest.len())..];
        format!("ipp://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The IPP operation of the request whose first bytes are `head`, once they reach it.
fn operation(head: &[u8]) -> Option<Option<u16>> {
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    let headers = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
    let mut body = &head[end + 4..];
    if headers.contains("transfer-encoding: chunked") {
        let line = body.windows(2).position(|w| w == b"\r\n")?;
        body = &body[line + 2..];
    }
    if body.len() < 4 {
        return if head.len() > 64 * 1024 { Some(None) } else { None };
    }
    Some(Some(u16::from_be_bytes([body[2], body[3]])))
}

async fn relay(mut client: TcpStream, server: TcpStream, state: Arc<State>) {
    let (mut from_server, mut to_server) = server.into_split();
    // Read until the request's operation is known.
    let mut head = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let op = loop {
        match client.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if let Some(op) = operation(&head) {
            break op;
        }
    };
    let mut lose_answer = false;
    if op.is_some_and(|o| DOCUMENT_OPERATIONS.contains(&o)) {
        let n = state.seen.fetch_add(1, Ordering::SeqCst) + 1;
        let every = state.drop_every.load(Ordering::SeqCst);
        lose_answer = every > 0 && n.is_multiple_of(every);
    }
    let (mut from_client, mut to_client) = client.into_split();
    let up_state = state.clone();
    let upload = tokio::spawn(async move {
        let rate = up_state.rate.load(Ordering::SeqCst);
        if send(&mut to_server, &head, rate).await.is_err() {
            return;
        }
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match from_client.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if send(&mut to_server, &buf[..n], rate).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to_server.shutdown().await;
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from_server.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) if lose_answer => {
                // The server answered: the request reached it whole. The answer goes nowhere, and the
                // client's connection is cut.
                let _ = n;
                state.dropped.fetch_add(1, Ordering::SeqCst);
                drop(to_client);
                upload.abort();
                // Let the server finish its side before closing it.
                let _ = tokio::time::timeout(Duration::from_secs(5), async {
                    while let Ok(n) = from_server.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                    }
                })
                .await;
                return;
            }
            Ok(n) => {
                if to_client.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to_client.shutdown().await;
    upload.abort();
}

/// Writes `data`, at `rate` bytes per second when set.
async fn send(to: &mut tokio::net::tcp::OwnedWriteHalf, data: &[u8], rate: u64) -> std::io::Result<()> {
    if rate == 0 {
        return to.write_all(data).await;
    }
    // Slices of a tenth of a second each.
    let slice = (rate / 10).max(1) as usize;
    for part in data.chunks(slice) {
        to.write_all(part).await?;
        tokio::time::sleep(Duration::from_secs_f64(part.len() as f64 / rate as f64)).await;
    }
    Ok(())
}
