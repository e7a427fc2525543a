//! Counting commands on the wire: a TCP proxy between clients (a worker process, a fleet of them) and the
//! database server that reads each MongoDB wire-protocol message the clients send and records its command
//! name and time. Unlike the driver's command monitoring it sees everything a process sends, including the
//! server monitor's `hello` heartbeats, from any number of processes.
//!
//! Clients reach the server only through the proxy when their URI names it with `directConnection=true`
//! ([`WireCounter::uri`]); otherwise a driver would find the replica set's members and connect to them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const OP_QUERY: i32 = 2004;
const OP_COMPRESSED: i32 = 2012;
const OP_MSG: i32 = 2013;
/// A message longer than this is not parsed for its name (it is still relayed whole).
const MAX_MESSAGE: usize = 48 * 1024 * 1024;

/// Each command the clients sent: when, its name, and the collection it names (when it names one).
type Seen = Arc<Mutex<Vec<(Instant, String, Option<String>)>>>;

/// A proxy on a free loopback port to a database server, counting the commands relayed to it.
pub struct WireCounter {
    pub port: u16,
    upstream: String,
    seen: Seen,
    task: tokio::task::JoinHandle<()>,
}

impl WireCounter {
    /// Starts relaying to the server of `server_uri` (its first host) on the calling tokio runtime.
    pub async fn start(server_uri: &str) -> WireCounter {
        let upstream = first_host(server_uri);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port for the wire counter");
        let port = listener.local_addr().expect("the wire counter's address").port();
        let seen = Seen::default();
        let (s, up) = (seen.clone(), upstream.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (s, up) = (s.clone(), up.clone());
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&up).await {
                        relay(client, server, s).await;
                    }
                });
            }
        });
        WireCounter { port, upstream, seen, task }
    }

    /// `server_uri` pointed at the proxy: its host replaced, `directConnection=true` (and no replica set
    /// name), so the client never goes around the proxy.
    pub fn uri(&self, server_uri: &str) -> String {
        let rest = server_uri.split_once("://").map(|(_, r)| r).unwrap_or(server_uri);
        let (auth, rest) = match rest.rsplit_once('@') {
            Some((a, r)) => (format!("{a}@"), r),
            None => (String::new(), rest),
        };
        let (path, query) = match rest.find(['/', '?']) {
            Some(i) => {
                let tail = &rest[i..];
                match tail.split_once('?') {
                    Some((p, q)) => (p.to_owned(), q.to_owned()),
                    None => (tail.to_owned(), String::new()),
                }
            }
            None => ("/".to_owned(), String::new()),
        };
        let path = if path.is_empty() { "/".to_owned() } else { path };
        let mut opts: Vec<&str> = query
            .split('&')
            .filter(|o| !o.is_empty())
            .filter(|o| {
                let k = o.split('=').next().unwrap_or("").to_ascii_lowercase();
                k != "directconnection" && k != "replicaset"
            })
            .collect();
        opts.push("directConnection=true");
        format!("mongodb://{auth}127.0.0.1:{}{path}?{}", self.port, opts.join("&"))
    }

    /// The server this proxy relays to (`host:port`).
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// Commands sent since `since`, by name.
    pub fn counts_since(&self, since: Instant) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for (at, name, _) in self.seen.lock().unwrap().iter() {
            if *at >= since {
                *out.entry(name.clone()).or_default() += 1;
            }
        }
        out
    }

    /// Commands sent since `since`, in order: seconds after `since`, the name, and the collection it names.
    /// What a count is made of, to show when a budget is missed.
    pub fn timeline_since(&self, since: Instant) -> Vec<(f64, String, Option<String>)> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|(at, _, _)| *at >= since)
            .map(|(at, name, target)| ((*at - since).as_secs_f64(), name.clone(), target.clone()))
            .collect()
    }

    /// How many commands were sent since `since`.
    pub fn total_since(&self, since: Instant) -> usize {
        self.seen.lock().unwrap().iter().filter(|(at, _, _)| *at >= since).count()
    }

    /// Forgets what was counted so far.
    pub fn clear(&self) {
        self.seen.lock().unwrap().clear();
    }
}

impl Drop for WireCounter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `host:port` of the first host in a MongoDB URI.
fn first_host(uri: &str) -> String {
    let rest = uri.split_once("://").map(|(_, r)| r).unwrap_or(uri);
    let rest = rest.rsplit_once('@').map(|(_, r)| r).unwrap_or(rest);
    let hosts = rest.split(['/', '?']).next().unwrap_or(rest);
    let host = hosts.split(',').next().unwrap_or(hosts);
    if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:27017")
    }
}

async fn relay(client: TcpStream, server: TcpStream, seen: Seen) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = async move {
        let mut header = [0u8; 16];
        loop {
            if cr.read_exact(&mut header).await.is_err() {
                break;
            }
            let len = i32::from_le_bytes(header[0..4].try_into().unwrap());
            let op = i32::from_le_bytes(header[12..16].try_into().unwrap());
            let body_len = (len as usize).saturating_sub(16);
            if len < 16 || body_len > MAX_MESSAGE {
                break;
            }
            let mut body = vec![0u8; body_len];
            if cr.read_exact(&mut body).await.is_err() {
                break;
            }
            let (name, target) = command_of(op, &body).unwrap_or_else(|| (format!("opcode {op}"), None));
            seen.lock().unwrap().push((Instant::now(), name, target));
            if sw.write_all(&header).await.is_err() || sw.write_all(&body).await.is_err() {
                break;
            }
        }
        let _ = sw.shutdown().await;
    };
    let down = async move {
        let _ = tokio::io::copy(&mut sr, &mut cw).await;
        let _ = cw.shutdown().await;
    };
    tokio::join!(up, down);
}

/// The command a client message carries: the first key of its body document.
pub fn command_name(op: i32, body: &[u8]) -> Option<String> {
    command_of(op, body).map(|(name, _)| name)
}

/// The command a client message carries and the collection it names: the first key of its body document
/// and that key's value when it is a string (`find: "orders"`).
fn command_of(op: i32, body: &[u8]) -> Option<(String, Option<String>)> {
    let doc = match op {
        // flagBits, then sections; kind 0 is the body.
        OP_MSG => {
            let mut at = 4;
            loop {
                let kind = *body.get(at)?;
                at += 1;
                let size = i32::from_le_bytes(body.get(at..at + 4)?.try_into().ok()?) as usize;
                if kind == 0 {
                    break body.get(at..at + size)?;
                }
                at += size;
            }
        }
        // flags, fullCollectionName (cstring), numberToSkip, numberToReturn, query.
        OP_QUERY => {
            let name_end = 4 + body.get(4..)?.iter().position(|b| *b == 0)?;
            let at = name_end + 1 + 8;
            let size = i32::from_le_bytes(body.get(at..at + 4)?.try_into().ok()?) as usize;
            body.get(at..at + size)?
        }
        OP_COMPRESSED => return Some(("compressed".into(), None)),
        _ => return None,
    };
    let doc = bson::Document::from_reader(doc).ok()?;
    // A legacy query may wrap its command: {$query: {hello: 1}, ...}.
    let doc = match doc.get_document("$query") {
        Ok(inner) if doc.keys().next().map(String::as_str) == Some("$query") => inner.clone(),
        _ => doc,
    };
    let (first, value) = doc.iter().next()?;
    Some((first.clone(), value.as_str().map(str::to_owned)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_host_and_uri() {
        assert_eq!(first_host("mongodb://127.0.0.1:4000/?directConnection=true"), "127.0.0.1:4000");
        assert_eq!(first_host("mongodb://u:p@h1:1,h2:2/db?replicaSet=rs"), "h1:1");
        assert_eq!(first_host("mongodb://h"), "h:27017");
    }

    #[tokio::test]
    async fn uri_points_at_the_proxy() {
        let w = WireCounter::start("mongodb://127.0.0.1:1/?replicaSet=rs0&w=majority").await;
        let u = w.uri("mongodb://user:pw@127.0.0.1:1/db?replicaSet=rs0&w=majority");
        assert_eq!(u, format!("mongodb://user:pw@127.0.0.1:{}/db?w=majority&directConnection=true", w.port));
        let u = w.uri("mongodb://127.0.0.1:1");
        assert_eq!(u, format!("mongodb://127.0.0.1:{}/?directConnection=true", w.port));
    }

    #[test]
    fn names_of_op_msg_and_op_query() {
        let d = bson::doc! { "find": "orders", "filter": {} };
        let mut raw = Vec::new();
        d.to_writer(&mut raw).unwrap();
        let mut msg = vec![0, 0, 0, 0, 0];
        msg.extend_from_slice(&raw);
        assert_eq!(command_name(OP_MSG, &msg).as_deref(), Some("find"));
        let mut q = vec![0, 0, 0, 0];
        q.extend_from_slice(b"admin.$cmd\0");
        q.extend_from_slice(&[0; 8]);
        let mut raw = Vec::new();
        bson::doc! { "$query": { "isMaster": 1 } }.to_writer(&mut raw).unwrap();
        q.extend_from_slice(&raw);
        assert_eq!(command_name(OP_QUERY, &q).as_deref(), Some("isMaster"));
        assert_eq!(command_name(OP_MSG, &[1, 2]), None);
    }
}
