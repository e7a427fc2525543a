//! The queues of a CUPS server (by default the PC's own, `localhost:631`), read with CUPS-Get-Printers.
//! Each queue becomes `ipp://SERVER/printers/NAME` (a class: `/classes/NAME`), the URI the IPP backend
//! prints to.

use super::{Found, Reach, Source};
use ipp::prelude::*;
use std::collections::HashMap;
use std::time::Duration;

/// `printer-type` bit of a class (a group of queues).
const CUPS_PRINTER_CLASS: i32 = 0x1;

/// `host[:port]` of a CUPS server, checked: the port defaults to 631; a scheme, path or anything that is
/// not a host is refused with what to give instead.
pub fn server_address(server: &str) -> Result<String, String> {
    let s = server.trim();
    let bad = || format!("{server:?} is not a CUPS server address: give host:port, such as localhost:631");
    if s.is_empty() || s.contains("://") || s.contains('/') || s.contains('@') || s.chars().any(char::is_whitespace) {
        return Err(bad());
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && !h.is_empty() && !p.contains(']') => {
            (h, p.parse::<u16>().map_err(|_| bad()).and_then(|p| if p == 0 { Err(bad()) } else { Ok(p) })?)
        }
        _ => (s, 631),
    };
    let ok = host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b));
    if !ok {
        return Err(bad());
    }
    Ok(format!("{host}:{port}"))
}

/// Asks the CUPS server at `server` for its queues.
pub async fn queues(server: &str, timeout: Duration) -> Result<Vec<Found>, String> {
    let address = server_address(server)?;
    let uri: Uri = format!("ipp://{address}/").parse().map_err(|e| format!("{address:?}: {e}"))?;
    let mut request = IppRequestResponse::new(IppVersion::v1_1(), Operation::CupsGetPrinters, None);
    let wanted = ["printer-name", "printer-info", "printer-location", "printer-make-and-model", "printer-type"];
    request.attributes_mut().add(
        DelimiterTag::OperationAttributes,
        IppAttribute::new(
            "requested-attributes",
            IppValue::Array(wanted.iter().map(|v| IppValue::Keyword((*v).into())).collect()),
        ),
    );
    let client = AsyncIppClient::builder(uri).request_timeout(timeout).build();
    let response = tokio::time::timeout(timeout + Duration::from_secs(1), client.send(request))
        .await
        .map_err(|_| format!("no answer within {timeout:?}"))?
        .map_err(|e| format!("no CUPS server answered ({e}); give another with --cups host:port, or --no-cups"))?;
    let code = response.header().operation_or_status;
    // client-error-not-found: CUPS says so when it has no queues.
    if code == 0x0406 {
        return Ok(Vec::new());
    }
    if !response.header().status_code().is_success() {
        return Err(format!("CUPS refused CUPS-Get-Printers (0x{code:04x})"));
    }
    Ok(queues_in(&response, &address))
}

/// The queues in a CUPS-Get-Printers answer from the server at `address`.
pub fn queues_in(response: &IppRequestResponse, address: &str) -> Vec<Found> {
    response
        .attributes()
        .groups_of(DelimiterTag::PrinterAttributes)
        .filter_map(|g| queue(g.attributes(), address))
        .collect()
}

fn queue(attrs: &HashMap<String, IppAttribute>, address: &str) -> Option<Found> {
    let text = |n: &str| {
        attrs.get(n).and_then(|a| match a.value() {
            IppValue::TextWithoutLanguage(s) | IppValue::NameWithoutLanguage(s) | IppValue::Keyword(s) => {
                Some(s.clone())
            }
            IppValue::TextWithLanguage { text, .. } => Some(text.clone()),
            IppValue::NameWithLanguage { name, .. } => Some(name.clone()),
            _ => None,
        })
    };
    let name = text("printer-name").filter(|n| !n.is_empty())?;
    let class = attrs
        .get("printer-type")
        .and_then(|a| a.value().as_enum().or(a.value().as_integer()).copied())
        .is_some_and(|t| t & CUPS_PRINTER_CLASS != 0);
    let kind = if class { "classes" } else { "printers" };
    let uri = format!("ipp://{address}/{kind}/{}", super::dnssd::encode_path(&name).replace('/', "%2F"));
    // printer-info is the queue's description ("Front desk laser"); the queue name when it has none.
    let shown = text("printer-info").filter(|i| !i.trim().is_empty()).unwrap_or_else(|| name.clone());
    Some(Found {
        source: Source::Cups,
        name: shown,
        reach: Reach::Ipp { uri },
        make_model: text("printer-make-and-model").filter(|m| !m.is_empty()),
        location: text("printer-location").filter(|l| !l.is_empty()),
        detail: format!("{} {name} on the CUPS server {address}", if class { "class" } else { "queue" }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_are_host_and_port() {
        assert_eq!(server_address("localhost").unwrap(), "localhost:631");
        assert_eq!(server_address("127.0.0.1:40123").unwrap(), "127.0.0.1:40123");
        assert_eq!(server_address("[::1]:631").unwrap(), "[::1]:631");
        for bad in ["", "ipp://localhost:631", "localhost:631/printers", "a b", "host:0", "host:x", "u@host"] {
            let e = server_address(bad).unwrap_err();
            assert!(e.contains("host:port"), "{bad}: {e}");
        }
    }

    fn group(attrs: &[(&str, IppValue)]) -> IppAttributeGroup {
        let mut g = IppAttributeGroup::new(DelimiterTag::PrinterAttributes);
        for (n, v) in attrs {
            g.attributes_mut().insert((*n).to_owned(), IppAttribute::new(*n, v.clone()));
        }
        g
    }

    #[test]
    fn queues_and_classes_become_ipp_uris_on_the_server() {
        let mut r = IppRequestResponse::new_response(IppVersion::v1_1(), StatusCode::SuccessfulOk, 1);
        let name = |s: &str| IppValue::NameWithoutLanguage(s.into());
        let text = |s: &str| IppValue::TextWithoutLanguage(s.into());
        r.attributes_mut().groups_mut().push(group(&[
            ("printer-name", name("Front")),
            ("printer-info", text("Front desk laser")),
            ("printer-location", text("by the door")),
            ("printer-make-and-model", text("HP LaserJet M404")),
            ("printer-type", IppValue::Enum(0x801c)),
        ]));
        r.attributes_mut()
            .groups_mut()
            .push(group(&[("printer-name", name("all")), ("printer-type", IppValue::Enum(0x1))]));
        // A queue name CUPS would never make, from a hostile server: encoded, never a path.
        r.attributes_mut().groups_mut().push(group(&[("printer-name", name("x/../../admin?#"))]));
        r.attributes_mut().groups_mut().push(group(&[("printer-info", text("no name"))]));
        let q = queues_in(&r, "localhost:631");
        assert_eq!(q.len(), 3, "{q:?}");
        assert_eq!(q[0].name, "Front desk laser");
        assert_eq!(q[0].reach, Reach::Ipp { uri: "ipp://localhost:631/printers/Front".into() });
        assert_eq!(q[0].location.as_deref(), Some("by the door"));
        assert_eq!(q[0].make_model.as_deref(), Some("HP LaserJet M404"));
        assert_eq!(q[1].reach, Reach::Ipp { uri: "ipp://localhost:631/classes/all".into() });
        assert_eq!(q[1].name, "all");
        assert_eq!(q[2].reach, Reach::Ipp { uri: "ipp://localhost:631/printers/x%2F..%2F..%2Fadmin%3F%23".into() });
    }
}
