//! IPP Everywhere printers announced over DNS-SD (multicast DNS, RFC 6762/6763): `_ipp._tcp` and
//! `_ipps._tcp`, read with the pure-Rust `mdns-sd` crate (Linux, macOS, Windows). It shares UDP port 5353
//! with a system responder (avahi-daemon, Bonjour, Windows' own): both bind it with address reuse, and
//! each sees every answer.
//!
//! A printer is announced once per service type and network interface; what matters is one entry per
//! printer ([`merge`]): keyed by its `UUID` (or its instance name), with `ipp://` preferred over
//! `ipps://` (the IPP backend checks certificates, and printers' own are self-signed), and an address
//! chosen in this order: one the system resolver gives for the announced host name (it survives a new
//! DHCP lease), else a routable IPv4 address, else loopback (a printer on this very PC).

use super::{Found, Reach, Source};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

/// One resolved announcement, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// `_ipp._tcp.local.` or `_ipps._tcp.local.`.
    pub service_type: String,
    /// The instance name (`Front desk laser`): anything the printer chose.
    pub instance: String,
    /// The host name it gave (`NPI12345.local.`).
    pub host: String,
    pub port: u16,
    pub addresses: Vec<IpAddr>,
    /// The TXT record's keys and values (`rp`, `ty`, `note`, `UUID`, `pdl`...).
    pub txt: Vec<(String, String)>,
}

impl Announcement {
    fn txt(&self, key: &str) -> Option<&str> {
        self.txt.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
    }

    fn secure(&self) -> bool {
        self.service_type.starts_with("_ipps.")
    }
}

/// The printers in a set of announcements, one per printer; `resolves(host)` is the system resolver's
/// answer for a host name (empty when it has none).
pub fn merge(announcements: &[Announcement], resolves: &dyn Fn(&str) -> Vec<IpAddr>) -> Vec<Found> {
    // One printer: the same UUID, or without one the same instance name.
    let mut by_printer: BTreeMap<String, Vec<&Announcement>> = BTreeMap::new();
    for a in announcements {
        if a.port == 0 || a.instance.is_empty() {
            continue;
        }
        let key = match a.txt("UUID").filter(|u| !u.is_empty()) {
            Some(uuid) => format!("uuid:{}", uuid.to_ascii_lowercase()),
            None => format!("name:{}", a.instance),
        };
        by_printer.entry(key).or_default().push(a);
    }
    let mut out = Vec::new();
    for group in by_printer.values() {
        // ipp:// where announced, else ipps://.
        let best = group.iter().find(|a| !a.secure()).or_else(|| group.first()).copied();
        let Some(a) = best else { continue };
        let same: Vec<&Announcement> = group.iter().filter(|g| g.secure() == a.secure()).copied().collect();
        let mut addresses: Vec<IpAddr> = same.iter().flat_map(|g| g.addresses.iter().copied()).collect();
        addresses.sort();
        addresses.dedup();
        let Some(host) = host_for(a, &addresses, resolves) else { continue };
        let path = a.txt("rp").unwrap_or("ipp/print").trim_start_matches('/');
        let scheme = if a.secure() { "ipps" } else { "ipp" };
        let uri = format!("{scheme}://{host}:{}/{}", a.port, encode_path(path));
        let shown_host = a.host.trim_end_matches('.');
        out.push(Found {
            source: Source::DnsSd,
            name: a.instance.clone(),
            reach: Reach::Ipp { uri },
            make_model: a.txt("ty").filter(|t| !t.is_empty()).map(str::to_owned),
            location: a.txt("note").filter(|t| !t.is_empty()).map(str::to_owned),
            detail: format!("announced as {shown_host} port {} ({})", a.port, a.service_type.trim_end_matches('.')),
        });
    }
    out
}

/// The host part of the printer's URI.
fn host_for(a: &Announcement, addresses: &[IpAddr], resolves: &dyn Fn(&str) -> Vec<IpAddr>) -> Option<String> {
    let name = a.host.trim_end_matches('.');
    if !name.is_empty() && is_host_name(name) {
        let resolved = resolves(name);
        if resolved.iter().any(|r| addresses.contains(r)) {
            return Some(name.to_owned());
        }
    }
    let v4 = |loopback: bool| {
        addresses.iter().find(|ip| matches!(ip, IpAddr::V4(v) if v.is_loopback() == loopback && !v.is_link_local()))
    };
    let ip = v4(false).or_else(|| v4(true)).or_else(|| {
        addresses
            .iter()
            .find(|ip| matches!(ip, IpAddr::V6(v) if !v.is_loopback() && (v.segments()[0] & 0xffc0) != 0xfe80))
    })?;
    Some(match ip {
        IpAddr::V4(v) => v.to_string(),
        IpAddr::V6(v) => format!("[{v}]"),
    })
}

/// Letters, digits, `-` and `.` only: anything else in an announced host name is not put in a URI.
fn is_host_name(name: &str) -> bool {
    name.len() <= 253
        && name
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// Percent-encodes what may not stand in a URI path (the printer chose the resource path).
pub fn encode_path(path: &str) -> String {
    let mut out = String::new();
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What the system resolver says of a host name (`.local` names resolve where the system has mDNS:
/// Windows, macOS, Linux with nss-mdns).
pub fn system_resolve(host: &str) -> Vec<IpAddr> {
    use std::net::ToSocketAddrs;
    (host, 0).to_socket_addrs().map(|a| a.map(|s| s.ip()).collect()).unwrap_or_default()
}

/// Listens for `wait` and returns the printers announced (blocking work on a blocking thread).
pub async fn browse(wait: Duration) -> Result<Vec<Found>, String> {
    let announcements = tokio::task::spawn_blocking(move || listen(wait))
        .await
        .map_err(|e| format!("the DNS-SD listener stopped: {e}"))??;
    Ok(merge(&announcements, &system_resolve))
}

/// The announcements of `_ipp._tcp` and `_ipps._tcp` heard within `wait`.
fn listen(wait: Duration) -> Result<Vec<Announcement>, String> {
    use mdns_sd::{ServiceDaemon, ServiceEvent};
    let daemon = ServiceDaemon::new().map_err(|e| {
        format!("cannot listen for printer announcements (multicast DNS, UDP port 5353): {e}; give printers by URI")
    })?;
    // A printer on this very PC (a CUPS-shared or virtual printer) answers on the loopback interface.
    let _ = daemon.enable_interface(mdns_sd::IfKind::LoopbackV4);
    let mut receivers = Vec::new();
    for ty in ["_ipp._tcp.local.", "_ipps._tcp.local."] {
        let r = daemon.browse(ty).map_err(|e| format!("cannot browse {ty}: {e}"))?;
        receivers.push((ty, r));
    }
    let deadline = std::time::Instant::now() + wait;
    let mut out = Vec::new();
    while std::time::Instant::now() < deadline {
        let mut idle = true;
        for (ty, r) in &receivers {
            while let Ok(event) = r.try_recv() {
                idle = false;
                if let ServiceEvent::ServiceResolved(s) = event {
                    let instance = s.get_fullname().strip_suffix(&format!(".{ty}")).unwrap_or(s.get_fullname());
                    out.push(Announcement {
                        service_type: (*ty).to_owned(),
                        instance: instance.to_owned(),
                        host: s.get_hostname().to_owned(),
                        port: s.get_port(),
                        addresses: s.get_addresses().iter().map(|a| a.to_ip_addr()).collect(),
                        txt: s
                            .get_properties()
                            .iter()
                            .map(|p| (p.key().to_owned(), String::from_utf8_lossy(p.val().unwrap_or(&[])).into_owned()))
                            .collect(),
                    });
                }
            }
        }
        if idle {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    if let Ok(done) = daemon.shutdown() {
        let _ = done.recv_timeout(Duration::from_secs(1));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What avahi-browse -rpt printed for ippeveprinter on this test machine (one printer, announced
    /// over `_ipp` and `_ipps`, on eth0 and lo), as `mdns-sd` resolves it.
    fn recorded() -> Vec<Announcement> {
        let txt = |extra: &[(&str, &str)]| {
            let mut t: Vec<(String, String)> = [
                ("txtvers", "1"),
                ("qtotal", "1"),
                ("rp", "ipp/print"),
                ("ty", "Example Printer"),
                ("adminurl", "https://vm.local:18631/"),
                ("note", ""),
                ("pdl", "application/pdf"),
                ("Color", "F"),
                ("Duplex", "F"),
                ("UUID", "7ad69efe-95d9-3972-5c70-3d0e1964092a"),
                ("TLS", "1.2"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            t.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            t
        };
        let addrs: Vec<IpAddr> =
            ["192.0.2.2", "fd00::2", "127.0.0.1", "::1"].iter().map(|a| a.parse().unwrap()).collect();
        vec![
            Announcement {
                service_type: "_ipps._tcp.local.".into(),
                instance: "Probe printer A".into(),
                host: "vm.local.".into(),
                port: 18631,
                addresses: addrs.clone(),
                txt: txt(&[]),
            },
            Announcement {
                service_type: "_ipp._tcp.local.".into(),
                instance: "Probe printer A".into(),
                host: "vm.local.".into(),
                port: 18631,
                addresses: addrs[..2].to_vec(),
                txt: txt(&[]),
            },
            Announcement {
                service_type: "_ipp._tcp.local.".into(),
                instance: "Probe printer A".into(),
                host: "vm.local.".into(),
                port: 18631,
                addresses: addrs[2..].to_vec(),
                txt: txt(&[]),
            },
        ]
    }

    #[test]
    fn one_printer_announced_many_ways_is_one_printer_over_ipp() {
        let found = merge(&recorded(), &|_| Vec::new());
        assert_eq!(found.len(), 1, "{found:?}");
        let f = &found[0];
        assert_eq!(f.name, "Probe printer A");
        assert_eq!(f.reach, Reach::Ipp { uri: "ipp://192.0.2.2:18631/ipp/print".into() });
        assert_eq!(f.make_model.as_deref(), Some("Example Printer"));
        assert_eq!(f.location, None);
        assert!(f.detail.contains("vm.local port 18631"), "{}", f.detail);
    }

    #[test]
    fn a_host_name_the_system_resolves_to_an_announced_address_is_used() {
        let found = merge(&recorded(), &|h| if h == "vm.local" { vec!["192.0.2.2".parse().unwrap()] } else { vec![] });
        assert_eq!(found[0].reach, Reach::Ipp { uri: "ipp://vm.local:18631/ipp/print".into() });
        // Resolving elsewhere (a stale name): the address instead.
        let found = merge(&recorded(), &|_| vec!["198.51.100.7".parse().unwrap()]);
        assert_eq!(found[0].reach, Reach::Ipp { uri: "ipp://192.0.2.2:18631/ipp/print".into() });
    }

    #[test]
    fn only_ipps_announced_gives_ipps_and_loopback_only_gives_loopback() {
        let mut a = recorded();
        a.retain(|a| a.secure());
        a[0].addresses = vec!["127.0.0.1".parse().unwrap()];
        let found = merge(&a, &|_| Vec::new());
        assert_eq!(found[0].reach, Reach::Ipp { uri: "ipps://127.0.0.1:18631/ipp/print".into() });
    }

    #[test]
    fn hostile_announcements_cannot_inject_into_the_uri() {
        let mut a = recorded().remove(1);
        a.host = "evil.local/../x?y".into();
        a.txt.retain(|(k, _)| k != "rp" && k != "UUID");
        a.txt.push(("rp".into(), "ipp/print?x=\"]\n[database]".into()));
        a.instance = "Lab\"\n[database]\nuri = \"x\"".into();
        let found = merge(&[a], &|_| vec!["192.0.2.2".parse().unwrap()]);
        let Reach::Ipp { uri } = &found[0].reach else { panic!() };
        assert_eq!(uri, "ipp://192.0.2.2:18631/ipp/print%3Fx%3D%22%5D%0A%5Bdatabase%5D");
        // The name stays as the printer said it: init quotes it.
        assert!(found[0].name.contains('\n'));
    }

    #[test]
    fn announcements_without_a_port_or_address_are_skipped() {
        let mut a = recorded();
        for x in &mut a {
            x.addresses.clear();
        }
        assert!(merge(&a, &|_| Vec::new()).is_empty());
        let mut b = recorded();
        b[1].port = 0;
        b[2].port = 0;
        // The _ipps one remains.
        assert_eq!(merge(&b, &|_| Vec::new()).len(), 1);
    }
}
