//! A local HTTP file server for tests, on a free loopback port: serves PDFs and every misbehaviour a real
//! file host can show (errors, stalls, redirects, oversized bodies). It never reaches the internet.

use std::collections::HashMap;

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the server does for one path.
#[derive(Clone, Debug)]
pub enum Route {
    /// 200 with this body.
    Ok { body: Arc<Vec<u8>>, content_type: &'static str },
    /// 200 announcing `total` bytes, sends the first `sent` of `body`, then stalls for `stall`.
    Stall { body: Arc<Vec<u8>>, sent: usize, stall: Duration },
    /// Answers `status` the first `times` requests, then serves `body`.
    FailThenOk { status: u16, times: usize, body: Arc<Vec<u8>> },
    /// Always this status with a short text body.
    Status(u16),
    /// 302 to this location.
    Redirect(String),
    /// 200 with a body of `len` bytes (streamed, no Content-Length), for the size cap.
    Huge { len: usize },
}

impl Route {
    pub fn pdf(body: Vec<u8>) -> Route {
        Route::Ok { body: Arc::new(body), content_type: "application/pdf" }
    }
}

/// A running file server. Dropping it stops accepting.
pub struct FileServer {
    pub port: u16,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FileServer {
    /// Starts on 127.0.0.1 and a free port.
    pub async fn start() -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the file server");
        let port = listener.local_addr().unwrap().port();
        let routes: Arc<Mutex<HashMap<String, Route>>> = Arc::default();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let (r, h) = (routes.clone(), hits.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    continue;
                };
                let (r, h) = (r.clone(), h.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let mut len = 0;
                    // Read the request head.
                    loop {
                        match socket.read(&mut buf[len..]).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => len += n,
                        }
                        if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") || len == buf.len() {
                            break;
                        }
                    }
                    let head = String::from_utf8_lossy(&buf[..len]).to_string();
                    let path =
                        head.split_whitespace().nth(1).unwrap_or("/").split('?').next().unwrap_or("/").to_owned();
                    let hit = {
                        let mut hits = h.lock().unwrap();
                        let n = hits.entry(path.clone()).or_insert(0);
                        *n += 1;
                        *n
                    };
                    let route = r.lock().unwrap().get(&path).cloned();
                    let _ = respond(&mut socket, route, hit).await;
                });
            }
        });
        FileServer { port, routes, hits, task }
    }

    /// Serves `route` at `path` (starting with '/').
    pub fn route(&self, path: &str, route: Route) {
        self.routes.lock().unwrap().insert(path.to_owned(), route);
    }

    /// `http://127.0.0.1:PORT/path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// How many requests reached `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

async fn respond(socket: &mut tokio::net::TcpStream, route: Option<Route>, hit: usize) -> std::io::Result<()> {
    let head = |status: u16, reason: &str, ctype: &str, len: Option<usize>| {
        let mut h = format!("HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nConnection: close\r\n");
        if let Some(l) = len {
            h.push_str(&format!("Content-Length: {l}\r\n"));
        }
        h.push_str("\r\n");
        h
    };
    match route {
        None => {
            socket.write_all(head(404, "Not Found", "text/plain", Some(9)).as_bytes()).await?;
            socket.write_all(b"not found").await?;
        }
        Some(Route::Ok { body, content_type }) => {
            socket.write_all(head(200, "OK", content_type, Some(body.len())).as_bytes()).await?;
            socket.write_all(&body).await?;
        }
        Some(Route::Stall { body, sent, stall }) => {
            socket.write_all(head(200, "OK", "application/pdf", Some(body.len())).as_bytes()).await?;
            socket.write_all(&body[..sent.min(body.len())]).await?;
            socket.flush().await?;
            tokio::time::sleep(stall).await;
        }
        Some(Route::FailThenOk { status, times, body }) => {
            if hit <= times {
                socket.write_all(head(status, "Error", "text/plain", Some(5)).as_bytes()).await?;
                socket.write_all(b"error").await?;
            } else {
                socket.write_all(head(200, "OK", "application/pdf", Some(body.len())).as_bytes()).await?;
                socket.write_all(&body).await?;
            }
        }
        Some(Route::Status(code)) => {
            socket.write_all(head(code, "Status", "text/plain", Some(6)).as_bytes()).await?;
            socket.write_all(b"status").await?;
        }
        Some(Route::Redirect(location)) => {
            let h =
                format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            socket.write_all(h.as_bytes()).await?;
        }
        Some(Route::Huge { len }) => {
            socket.write_all(head(200, "OK", "application/pdf", None).as_bytes()).await?;
            let chunk = vec![b'%'; 64 * 1024];
            let mut left = len;
            while left > 0 {
                let n = left.min(chunk.len());
                if socket.write_all(&chunk[..n]).await.is_err() {
                    break;
                }
                left -= n;
            }
        }
    }
    let _ = socket.shutdown().await;
    Ok(())
}
