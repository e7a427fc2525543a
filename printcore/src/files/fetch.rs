//! Downloading an order's file: only https, only allowed hosts (Cloudinary by default), never to private
//! or loopback addresses unless allowed, streamed under a size cap, with timeouts and retries for what is
//! worth retrying.

use crate::error::{Error, Result};
use crate::files::display_url;
use futures::StreamExt;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Where files may come from and how they are fetched. [`FilePolicy::default`] is production's.
#[derive(Debug, Clone)]
pub struct FilePolicy {
    /// Hosts files may come from; each entry allows itself and its subdomains. Default: `res.cloudinary.com`.
    pub allowed_hosts: Vec<String>,
    /// Allow plain `http://` (tests only; production is https only).
    pub allow_http: bool,
    /// Allow hosts that resolve to loopback addresses (tests serve files from 127.0.0.1).
    pub allow_loopback: bool,
    /// Allow private and unique-local addresses (a file server on the shop's own network). Link-local
    /// addresses (169.254.0.0/16, where cloud metadata services answer, and fe80::/10), in any IPv6 form,
    /// stay refused even so: no shop serves order files from there.
    pub allow_private: bool,
    /// The largest file accepted, in bytes. Default 100 MB.
    pub max_bytes: u64,
    /// The longest wait for a connection to the file's host.
    pub connect_timeout: Duration,
    /// The longest wait for the next bytes of a response (a stalled download fails after this).
    pub read_timeout: Duration,
    /// The longest a whole download may take.
    pub total_timeout: Duration,
    /// Extra tries after a transient failure (5xx, 429, timeouts, resets).
    pub retries: u32,
    /// Wait before the first retry; doubles after each.
    pub retry_backoff: Duration,
    /// The most files one order may ask for (`fileURLs`). Default 20.
    pub max_files_per_order: usize,
    /// The most bytes one order's files may have together. Default 250 MB.
    pub max_order_bytes: u64,
    /// The most pages one file may have. Default [`crate::files::prescan::DEFAULT_MAX_PAGES`] (2000).
    pub max_pages: u32,
    /// The most pages one order may print: its files' pages times its copies. Default 20,000.
    pub max_order_pages: u64,
    /// Where each order's files are kept while it prints: a private folder per job inside it, removed
    /// afterwards. Default (`None`): the system's temporary folder.
    pub work_dir: Option<std::path::PathBuf>,
    /// How downloaded files are validated. Default: in this process; the worker runs a contained child.
    pub validator: crate::files::Validator,
}

impl Default for FilePolicy {
    fn default() -> Self {
        FilePolicy {
            allowed_hosts: vec!["res.cloudinary.com".into()],
            allow_http: false,
            allow_loopback: false,
            allow_private: false,
            max_bytes: 100 * 1024 * 1024,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            total_timeout: Duration::from_secs(300),
            retries: 3,
            retry_backoff: Duration::from_millis(500),
            max_files_per_order: 20,
            max_order_bytes: 250 * 1024 * 1024,
            max_pages: crate::files::prescan::DEFAULT_MAX_PAGES,
            max_order_pages: DEFAULT_MAX_ORDER_PAGES,
            work_dir: None,
            validator: crate::files::Validator::InProcess,
        }
    }
}

/// The default of [`FilePolicy::max_order_pages`].
pub const DEFAULT_MAX_ORDER_PAGES: u64 = 20_000;

impl FilePolicy {
    /// The policy with its size cap set to `mb` megabytes (MiB). `mb` must be a positive number.
    pub fn with_max_mb(mut self, mb: f64) -> Result<FilePolicy> {
        if !mb.is_finite() || mb <= 0.0 {
            return Err(Error::InvalidArgument(format!("maxMb must be a positive number of megabytes, not {mb}")));
        }
        self.max_bytes = (mb * 1_048_576.0).min(u64::MAX as f64) as u64;
        Ok(self)
    }

    /// Whether `host` is on the allowlist (itself or a subdomain of an entry), on any port. Case-insensitive.
    pub fn host_allowed(&self, host: &str) -> bool {
        self.allowed_hosts.iter().any(|a| entry_matches_host(a, host))
    }

    /// Whether `host` on `port` is on the allowlist: an entry without a port allows the scheme's own port
    /// only (443 for https, 80 for http), `host:8443` that port, `host:*` any port.
    pub fn host_port_allowed(&self, host: &str, port: u16, scheme_port: u16) -> bool {
        self.allowed_hosts.iter().any(|a| {
            entry_matches_host(a, host)
                && match split_entry(a).1 {
                    EntryPort::Default => port == scheme_port,
                    EntryPort::Port(p) => port == p,
                    EntryPort::Any => true,
                }
        })
    }

    /// Why the policy cannot be used (an empty allowlist, an entry that is not a host name), or `None`.
    pub fn problem(&self) -> Option<String> {
        if self.allowed_hosts.is_empty() {
            return Some("the file host allowlist is empty; no file could be downloaded".into());
        }
        self.allowed_hosts.iter().find_map(|entry| {
            allowed_host_problem(entry).map(|why| format!("allowed host {entry:?} is not a host name: {why}"))
        })
    }

    /// Whether connecting to `ip` is allowed.
    pub fn address_allowed(&self, ip: IpAddr) -> bool {
        match classify(ip) {
            AddressClass::Public => true,
            AddressClass::Loopback => self.allow_loopback,
            AddressClass::Private => self.allow_private,
            AddressClass::Never => false,
        }
    }

    /// Checks a URL before any connection: scheme, host on the allowlist, literal addresses allowed.
    /// Returns the reason it is refused.
    pub fn check_url(&self, url: &Url) -> std::result::Result<(), String> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            s => return Err(format!("only https downloads are allowed, not {s}://")),
        }
        let host = url.host_str().ok_or("the URL has no host")?;
        if !self.host_allowed(host) {
            return Err(format!(
                "host {host} is not on the allowed list ({}); upload the file there or add the host to the allowed hosts",
                self.allowed_hosts.join(", ")
            ));
        }
        let scheme_port = if url.scheme() == "https" { 443 } else { 80 };
        let port = url.port().unwrap_or(scheme_port);
        if !self.host_port_allowed(host, port, scheme_port) {
            return Err(format!(
                "port {port} of host {host} is not allowed (an allowed host is reached on port {scheme_port} only, \
                 unless its entry names the port, e.g. {host}:{port})"
            ));
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal {
            if !self.address_allowed(ip) {
                return Err(format!("address {ip} is a private, loopback or link-local address; refused"));
            }
        }
        Ok(())
    }
}

/// The port part of an allowlist entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryPort {
    /// No port written: the scheme's own (443 for https).
    Default,
    Port(u16),
    /// `:*`: any port (a test server on a random port).
    Any,
}

/// An entry's host and port: `files.shop.example:8443`, `[fd12::1]:*`, `res.cloudinary.com`.
fn split_entry(entry: &str) -> (&str, EntryPort) {
    let (host, port) = match entry.rfind(':') {
        // An IPv6 literal is bracketed; its colons are inside the brackets.
        Some(i) if !entry[..i].contains(':') || entry[..i].ends_with(']') => (&entry[..i], Some(&entry[i + 1..])),
        _ => (entry, None),
    };
    match port {
        None => (entry, EntryPort::Default),
        Some("*") => (host, EntryPort::Any),
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && !p.starts_with('+') => (host, EntryPort::Port(n)),
            // Not a port: the whole entry is judged (and refused) as a host name.
            _ => (entry, EntryPort::Default),
        },
    }
}

fn entry_matches_host(entry: &str, host: &str) -> bool {
    let (a, _) = split_entry(entry);
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let a = a.trim_end_matches('.').to_ascii_lowercase();
    host == a || host.ends_with(&format!(".{a}"))
}

/// Why an allowlist entry (the worker's `allowed_hosts`, the site's `PRINTCORE_FILE_HOSTS`, the npm
/// package's `allowedHosts`) is not a host name, or `None`. An entry allows itself and its subdomains,
/// so it must be a whole host name of at least two labels (`res.cloudinary.com`, `files.myshop.example`):
/// a bare top-level domain (`com`) or a wildcard (`*.x`) would allow far more than meant, and a scheme or
/// path never matches anything. `localhost` and IP address literals (`192.168.1.20`, `[fd12::1]`) are
/// accepted: each allows exactly that host, and the address guard still applies. A port may follow
/// (`files.shop.example:8443`, or `:*` for any port); without one, only the scheme's own port (443) is
/// reached.
pub fn allowed_host_problem(entry: &str) -> Option<&'static str> {
    let (host, port) = split_entry(entry);
    if port == EntryPort::Default && entry.contains(':') && !entry.starts_with('[') && !entry.contains("://") {
        if entry.parse::<std::net::Ipv6Addr>().is_ok() {
            return Some("write an IPv6 address in brackets, as in a URL ([fd12::1])");
        }
        return Some(
            "a port must be a number from 1 to 65535 (or * for any port), after the host: files.shop.example:8443",
        );
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.trim().is_empty() {
        return Some("it is empty");
    }
    if host.contains("://") {
        return Some("write the host alone, without a scheme (res.cloudinary.com, not https://res.cloudinary.com)");
    }
    if host.contains(['/', '?', '#', '@']) {
        return Some("write the host alone, without a path or user");
    }
    if host.contains('*') {
        return Some("no wildcards: an entry already allows its subdomains (write example.com for *.example.com)");
    }
    if host.parse::<std::net::Ipv4Addr>().is_ok()
        || host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok())
    {
        return None;
    }
    if host.contains([':', '[', ']']) {
        return Some("write an IPv6 address in brackets, as in a URL ([fd12::1])");
    }
    if !host.is_ascii() {
        return Some("write an international name in its ASCII form (xn--...)");
    }
    if host.eq_ignore_ascii_case("localhost") {
        return None;
    }
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 {
        return Some("a single label (a top-level domain such as com) would allow every host under it");
    }
    for label in &labels {
        if label.is_empty() || label.len() > 63 {
            return Some("each dot-separated part must be 1 to 63 characters");
        }
        if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            || label.starts_with('-')
            || label.ends_with('-')
        {
            return Some("only letters, digits, '-' and '_' are allowed, and no part starts or ends with '-'");
        }
    }
    if labels.last().is_some_and(|l| l.chars().all(|c| c.is_ascii_digit())) {
        return Some("it ends in a number but is not an IP address");
    }
    None
}

#[derive(Debug, PartialEq, Eq)]
enum AddressClass {
    Public,
    Loopback,
    Private,
    /// Unspecified, multicast, broadcast, documentation, link-local (cloud metadata services answer on
    /// 169.254.169.254 and fd00:ec2::254): never a file server, whatever the policy allows.
    Never,
}

fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if v4.is_loopback() {
                AddressClass::Loopback
            } else if v4.is_link_local() {
                // 169.254/16: instance metadata (cloud credentials) lives here; refused even on a private network.
                AddressClass::Never
            } else if o == [100, 100, 100, 200] {
                // Alibaba Cloud's instance metadata service, inside 100.64/10.
                AddressClass::Never
            } else if v4.is_private() || (o[0] == 100 && (o[1] & 0xC0) == 64) {
                // 10/8, 172.16/12, 192.168/16, 100.64/10 (CGNAT, also Tailscale's addresses)
                AddressClass::Private
            } else if v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || o[0] == 0
                // 192.0.0.0/24: IETF protocol assignments; 192.88.99.0/24: the old 6to4 relays.
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 192 && o[1] == 88 && o[2] == 99)
                // 198.18.0.0/15: benchmarking networks (often a router's or a lab's own).
                || (o[0] == 198 && (o[1] & 0xFE) == 18)
                // 240.0.0.0/4: reserved (never routed on the internet).
                || o[0] >= 240
            {
                AddressClass::Never
            } else {
                AddressClass::Public
            }
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            // An IPv4 address inside an IPv6 one reaches that IPv4 address: ::ffff:a.b.c.d (mapped),
            // ::a.b.c.d (the old compatible form) and 64:ff9b::a.b.c.d (NAT64) are judged as a.b.c.d.
            let embedded =
                std::net::Ipv4Addr::new((seg[6] >> 8) as u8, seg[6] as u8, (seg[7] >> 8) as u8, seg[7] as u8);
            if let Some(v4) = v6.to_ipv4_mapped() {
                return classify(IpAddr::V4(v4));
            }
            let compatible = seg[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified();
            let nat64 = seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
            if compatible || nat64 {
                return classify(IpAddr::V4(embedded));
            }
            if v6.is_loopback() {
                AddressClass::Loopback
            } else if (seg[0] & 0xffc0) == 0xfe80 || seg == [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254] {
                // fe80::/10 link-local; fd00:ec2::254, the IPv6 instance metadata address.
                AddressClass::Never
            } else if (seg[0] == 0x64 && seg[1] == 0xff9b && seg[2] == 1)
                || seg[0] == 0x2002
                || (seg[0] == 0x2001 && seg[1] == 0)
                || (seg[0] == 0x2001 && seg[1] == 0xdb8)
                || (seg[0] == 0x100 && seg[1..4] == [0, 0, 0])
                || (seg[0] == 0x2001 && (seg[1] & 0xfff0) == 0x10)
            {
                // Addresses that lead somewhere else or nowhere: a local-use NAT64 prefix (64:ff9b:1::/48,
                // which reaches IPv4 addresses the shop's network chooses), 6to4 (2002::/16) and Teredo
                // (2001::/32), which carry an IPv4 address and its relay; documentation (2001:db8::/32),
                // discard (100::/64) and ORCHID (2001:10::/28).
                AddressClass::Never
            } else if (seg[0] & 0xfe00) == 0xfc00 {
                AddressClass::Private
            } else if v6.is_unspecified() || v6.is_multicast() {
                AddressClass::Never
            } else {
                AddressClass::Public
            }
        }
    }
}

/// Resolves names and drops addresses the policy refuses, so a hostname that points at the shop's network
/// (or at 127.0.0.1) is refused at connection time too, whatever it resolved to.
struct GuardedResolver {
    policy: FilePolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = all.iter().copied().filter(|a| policy.address_allowed(a.ip())).collect();
            if allowed.is_empty() {
                let list: Vec<String> = all.iter().map(|a| a.ip().to_string()).collect();
                return Err(format!(
                    "host {host} resolves only to refused addresses ({}): private, loopback or link-local",
                    list.join(", ")
                )
                .into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Downloads order files under a [`FilePolicy`]. Build one and reuse it (it holds a connection pool).
#[derive(Clone)]
pub struct FileFetcher {
    policy: Arc<FilePolicy>,
    client: reqwest::Client,
}

impl FileFetcher {
    /// A fetcher with `policy`; `InvalidArgument` when the policy is inconsistent (no allowed host, a
    /// zero size cap...).
    pub fn new(policy: FilePolicy) -> Result<FileFetcher> {
        if let Some(problem) = policy.problem() {
            return Err(Error::InvalidArgument(problem));
        }
        let redirect_policy = policy.clone();
        let client = reqwest::Client::builder()
            .connect_timeout(policy.connect_timeout)
            .read_timeout(policy.read_timeout)
            .timeout(policy.total_timeout)
            .no_proxy()
            .user_agent(concat!("printcore/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver { policy: policy.clone() }))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= 5 {
                    return attempt.error("more than 5 redirects");
                }
                match redirect_policy.check_url(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(why) => {
                        let to = display_url(attempt.url().as_str());
                        attempt.error(format!("redirected to {to}: {why}"))
                    }
                }
            }))
            .build()
            .map_err(|e| Error::InvalidArgument(format!("cannot build the HTTP client: {e}")))?;
        Ok(FileFetcher { policy: Arc::new(policy), client })
    }

    /// The policy it downloads under.
    pub fn policy(&self) -> &FilePolicy {
        &self.policy
    }

    /// Downloads `url` for order `order_id` into memory. Transient failures (5xx, 429, timeouts,
    /// connection resets) are retried with backoff; what is left is an `Error::File` saying whether to
    /// retry later.
    pub async fn fetch(&self, order_id: &str, url: &str) -> Result<Vec<u8>> {
        let mut body = Body::Memory(Vec::new());
        self.fetch_into(order_id, url, &mut body, None).await?;
        match body {
            Body::Memory(bytes) => Ok(bytes),
            Body::File { .. } => unreachable!("a memory download stays in memory"),
        }
    }

    /// Downloads `url` for order `order_id` into a new file at `path`, streamed: never more than one
    /// chunk in memory. `order_left` is what the order's byte budget still allows (the per-file cap
    /// applies too); going over either is a permanent error naming the limit. Returns the bytes written.
    pub async fn fetch_to_file(
        &self,
        order_id: &str,
        url: &str,
        path: &std::path::Path,
        order_left: u64,
    ) -> Result<u64> {
        let shown = display_url(url);
        let file = tokio::fs::File::create(path).await.map_err(|e| Error::File {
            order_id: order_id.to_owned(),
            url: shown.clone(),
            message: format!("cannot write the download to {} ({e}); will retry", path.display()),
            transient: true,
        })?;
        let mut body = Body::File { file, written: 0 };
        self.fetch_into(order_id, url, &mut body, Some(order_left)).await?;
        Ok(body.len())
    }

    async fn fetch_into(&self, order_id: &str, url: &str, body: &mut Body, order_left: Option<u64>) -> Result<()> {
        let shown = display_url(url);
        let fail = |message: String, transient: bool| Error::File {
            order_id: order_id.to_owned(),
            url: shown.clone(),
            message,
            transient,
        };
        let parsed = Url::parse(url)
            .map_err(|e| fail(format!("the file URL is not valid ({e}); fix fileURL on the order"), false))?;
        self.policy.check_url(&parsed).map_err(|why| fail(why, false))?;
        let mut wait = self.policy.retry_backoff;
        let mut attempt = 0;
        loop {
            match self.fetch_once(parsed.clone(), body, order_left).await {
                Ok(()) => return Ok(()),
                Err((message, transient)) => {
                    if transient && attempt < self.policy.retries {
                        attempt += 1;
                        tracing::info!(order_id, url = %shown, attempt, "download failed ({message}); retrying in {wait:?}");
                        tokio::time::sleep(wait).await;
                        wait = wait.saturating_mul(2);
                        continue;
                    }
                    let message = if transient {
                        format!("{message} (after {} tries; will retry later)", attempt + 1)
                    } else {
                        message
                    };
                    return Err(fail(message, transient));
                }
            }
        }
    }

    /// One try. Err((message, transient)).
    async fn fetch_once(
        &self,
        url: Url,
        body: &mut Body,
        order_left: Option<u64>,
    ) -> std::result::Result<(), (String, bool)> {
        let local = |e: std::io::Error| (format!("cannot write the download to disk ({e})"), true);
        body.reset().await.map_err(local)?;
        let response = self.client.get(url).send().await.map_err(|e| describe(&e))?;
        let status = response.status();
        if !status.is_success() {
            let transient = status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408;
            let hint = if transient {
                "the file server had a problem"
            } else {
                "check that the file still exists at this URL"
            };
            return Err((format!("the file server answered {status}; {hint}"), transient));
        }
        let file_cap = self.policy.max_bytes;
        let cap = order_left.map_or(file_cap, |left| left.min(file_cap));
        let over = |len: Option<u64>| {
            let size = len.map(|l| format!(" is {} MB,", mb(l))).unwrap_or_default();
            if cap < file_cap {
                format!(
                    "the order's files together are over the {} MB limit per order ({} MB were left for this \
                     file); split the order or raise [files] max_order_mb",
                    mb(self.policy.max_order_bytes),
                    mb(cap)
                )
            } else if size.is_empty() {
                format!("the file is over the {} MB limit", mb(cap))
            } else {
                format!("the file{size} over the {} MB limit", mb(cap))
            }
        };
        if let Some(len) = response.content_length() {
            if len > cap {
                return Err((over(Some(len)), false));
            }
        }
        body.reserve(response.content_length().unwrap_or(0).min(cap));
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| describe(&e))?;
            if body.len() + chunk.len() as u64 > cap {
                return Err((over(None), false));
            }
            body.write(&chunk).await.map_err(local)?;
        }
        body.finish().await.map_err(local)
    }
}

/// Where a download goes: memory, or a file written as the bytes arrive.
enum Body {
    Memory(Vec<u8>),
    File { file: tokio::fs::File, written: u64 },
}

impl Body {
    fn len(&self) -> u64 {
        match self {
            Body::Memory(v) => v.len() as u64,
            Body::File { written, .. } => *written,
        }
    }

    fn reserve(&mut self, n: u64) {
        if let Body::Memory(v) = self {
            v.reserve(n as usize);
        }
    }

    /// Empties it for another try.
    async fn reset(&mut self) -> std::io::Result<()> {
        use tokio::io::AsyncSeekExt;
        match self {
            Body::Memory(v) => v.clear(),
            Body::File { file, written } => {
                file.set_len(0).await?;
                file.seek(std::io::SeekFrom::Start(0)).await?;
                *written = 0;
            }
        }
        Ok(())
    }

    async fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt;
        match self {
            Body::Memory(v) => v.extend_from_slice(chunk),
            Body::File { file, written } => {
                file.write_all(chunk).await?;
                *written += chunk.len() as u64;
            }
        }
        Ok(())
    }

    async fn finish(&mut self) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt;
        if let Body::File { file, .. } = self {
            file.flush().await?;
            file.sync_data().await?;
        }
        Ok(())
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1_048_576.0)
}

/// How the message of a download the policy refused at connection time (the name resolved only to
/// refused addresses) or at a redirect begins.
pub(crate) const REFUSED: &str = "refused: ";

/// A reqwest error as (message, transient).
fn describe(e: &reqwest::Error) -> (String, bool) {
    // The full chain says what happened (refused address, redirect refusal, reset...).
    let mut chain = Vec::new();
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !chain.iter().any(|c: &String| c.contains(&text)) {
            chain.push(text);
        }
        source = s.source();
    }
    let detail = strip_urls(&chain.join(": ").replace(|c: char| c.is_control(), " "));
    // A refusal by the redirect policy or the resolver is ours: its own words say it all.
    let innermost = chain.last().cloned().unwrap_or_default();
    if e.is_redirect() || innermost.contains("refused addresses") {
        return (format!("{REFUSED}{}", strip_urls(&innermost)), false);
    }
    if e.is_timeout() {
        return (format!("the download timed out ({detail})"), true);
    }
    if e.is_connect() {
        return (format!("could not connect to the file server ({detail})"), true);
    }
    // Body read errors (reset, closed early) and the rest are worth another try.
    (format!("the download failed ({detail})"), true)
}

/// Removes query strings from any URL in an error text (signatures and tokens stay out of messages).
fn strip_urls(text: &str) -> String {
    text.split(' ')
        .map(|w| if w.contains("://") { display_url(w.trim_matches(|c| c == '(' || c == ')')) } else { w.to_owned() })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allowlist_takes_subdomains_but_not_lookalikes() {
        let p = FilePolicy::default();
        assert!(p.host_allowed("res.cloudinary.com"));
        assert!(p.host_allowed("eu.res.cloudinary.com"));
        assert!(p.host_allowed("RES.Cloudinary.com."));
        assert!(!p.host_allowed("res.cloudinary.com.evil.example"));
        assert!(!p.host_allowed("evilres.cloudinary.com"));
        assert!(!p.host_allowed("cloudinary.com"));
    }

    #[test]
    fn private_loopback_and_link_local_addresses_are_refused_by_default() {
        let p = FilePolicy::default();
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "0.0.0.0",
        ] {
            assert!(!p.address_allowed(ip.parse().unwrap()), "{ip} should be refused");
        }
        assert!(p.address_allowed("151.101.1.1".parse().unwrap()));
        let open = FilePolicy { allow_loopback: true, ..FilePolicy::default() };
        assert!(open.address_allowed("127.0.0.1".parse().unwrap()));
        assert!(!open.address_allowed("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn link_local_addresses_stay_refused_on_a_private_network() {
        let shop = FilePolicy { allow_private: true, allow_loopback: true, ..FilePolicy::default() };
        for ip in [
            "169.254.169.254",
            "169.254.0.1",
            "fe80::1",
            "febf::1",
            "::ffff:169.254.169.254",
            "::169.254.169.254",
            "64:ff9b::169.254.169.254",
            "fd00:ec2::254",
        ] {
            assert!(!shop.address_allowed(ip.parse().unwrap()), "{ip} should be refused");
        }
        for ip in ["10.0.0.1", "192.168.1.20", "fd12::1", "::ffff:192.168.1.20", "127.0.0.1"] {
            assert!(shop.address_allowed(ip.parse().unwrap()), "{ip} is the shop's own network");
        }
        let url = Url::parse("https://169.254.169.254/latest/meta-data/").unwrap();
        let p = FilePolicy { allowed_hosts: vec!["169.254.169.254".into()], ..shop };
        assert!(p.check_url(&url).unwrap_err().contains("169.254.169.254"));
        // The other embedded forms follow the IPv4 address they carry.
        let default = FilePolicy::default();
        for ip in ["::10.0.0.1", "64:ff9b::127.0.0.1"] {
            assert!(!default.address_allowed(ip.parse().unwrap()), "{ip} should be refused");
        }
        assert!(default.address_allowed("64:ff9b::151.101.1.1".parse().unwrap()));
    }

    #[test]
    fn special_use_ranges_are_refused_like_private_ones() {
        let default = FilePolicy::default();
        let shop = FilePolicy { allow_private: true, ..FilePolicy::default() };
        for ip in [
            "100.100.100.200",
            "198.18.0.1",
            "198.19.255.254",
            "240.0.0.1",
            "255.255.255.254",
            "192.0.0.170",
            "192.88.99.1",
            "64:ff9b:1::a00:1",
            "64:ff9b:1::9765:101",
            "2002:7f00:1::",
            "2002:9765:101::1",
            "2001:0:4136:e378::1",
            "2001:db8::1",
            "100::1",
            "2001:10::1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(!default.address_allowed(ip), "{ip} should be refused");
            assert!(!shop.address_allowed(ip), "{ip} should be refused on a private network too");
        }
        // Their neighbours are ordinary addresses.
        for ip in ["198.20.0.1", "198.17.255.1", "239.0.0.1", "2001:4860::8888", "64:ff9b::9765:101", "2003::1"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(default.address_allowed(ip), !ip.is_multicast(), "{ip}");
        }
        // CGNAT (and Tailscale) stays a private network the shop may allow.
        assert!(!default.address_allowed("100.64.1.1".parse().unwrap()));
        assert!(shop.address_allowed("100.64.1.1".parse().unwrap()));
    }

    #[test]
    fn an_allowed_host_is_reached_on_its_schemes_port_only() {
        let url = |u: &str| Url::parse(u).unwrap();
        let p = FilePolicy::default();
        assert!(p.check_url(&url("https://res.cloudinary.com/a.pdf")).is_ok());
        assert!(p.check_url(&url("https://res.cloudinary.com:443/a.pdf")).is_ok());
        for other in ["https://res.cloudinary.com:8443/a.pdf", "https://res.cloudinary.com:22/a.pdf"] {
            let why = p.check_url(&url(other)).unwrap_err();
            assert!(why.contains("port") && why.contains("res.cloudinary.com"), "{why}");
        }
        let own = FilePolicy {
            allowed_hosts: vec!["files.shop.example:8443".into(), "[fd12::1]:*".into()],
            allow_private: true,
            ..FilePolicy::default()
        };
        assert!(own.check_url(&url("https://files.shop.example:8443/a.pdf")).is_ok());
        assert!(own.check_url(&url("https://cdn.files.shop.example:8443/a.pdf")).is_ok());
        assert!(own.check_url(&url("https://files.shop.example/a.pdf")).is_err());
        assert!(own.check_url(&url("https://[fd12::1]:9999/a.pdf")).is_ok());
        let http = FilePolicy { allowed_hosts: vec!["localhost".into()], allow_http: true, allow_loopback: true, ..p };
        assert!(http.check_url(&url("http://localhost/a.pdf")).is_ok());
        assert!(http.check_url(&url("http://localhost:8080/a.pdf")).is_err());
    }

    #[test]
    fn allowlist_entries_must_be_host_names() {
        for bad in [
            "com",
            "*.x",
            "*.cloudinary.com",
            "",
            " ",
            "https://res.cloudinary.com",
            "res.cloudinary.com:0",
            "res.cloudinary.com:70000",
            "res.cloudinary.com:x",
            "res.cloudinary.com/path",
            "user@res.cloudinary.com",
            "::1",
            "bad..name",
            "-x.example",
            "x.123",
            "bücher.example",
            "com:443",
        ] {
            assert!(allowed_host_problem(bad).is_some(), "{bad:?} should be refused");
            let p =
                FilePolicy { allowed_hosts: vec!["res.cloudinary.com".into(), bad.into()], ..FilePolicy::default() };
            assert!(FileFetcher::new(p).is_err(), "{bad:?} should be refused by the fetcher");
        }
        for good in [
            "res.cloudinary.com",
            "Files.MyShop.example.",
            "files.myshop.example:8443",
            "localhost",
            "127.0.0.1:*",
            "192.168.1.20",
            "[fd12::1]",
            "[fd12::1]:8443",
            "xn--bcher-kva.example",
        ] {
            assert_eq!(allowed_host_problem(good), None, "{good:?}");
        }
    }

    #[test]
    fn only_https_unless_allowed() {
        let p = FilePolicy::default();
        assert!(p.check_url(&Url::parse("http://res.cloudinary.com/a.pdf").unwrap()).is_err());
        assert!(p.check_url(&Url::parse("ftp://res.cloudinary.com/a.pdf").unwrap()).is_err());
        assert!(p.check_url(&Url::parse("https://res.cloudinary.com/a.pdf").unwrap()).is_ok());
    }
}
