//! Connection strings and printer URIs as they may be shown: in logs, errors and command output.
//!
//! [`redact_uri`] is the one redaction every part of printcore uses (the worker's logs and `check`, the IPP
//! backend's descriptions, and the npm package's `redactUri`, which its scripts print with). Its rule:
//! whatever characters the password holds (an unencoded `@`, `/`, `?`, `#` or `:` included), everything
//! from the scheme's `//` up to the last `@` that is followed by a host list is replaced; only the user
//! name (the text before the first `:`) is kept. A value with an `@` after the hosts (`?appName=a@b`) may
//! therefore hide more than the credentials, never less.

/// `uri` with its password (and any secret query option) replaced by `****`: `mongodb://shop:****@host/`.
///
/// A string without `scheme://` is returned unchanged (it has no credentials to find).
///
/// ```
/// use printcore::redact_uri;
///
/// assert_eq!(redact_uri("mongodb://shop:s3cret@db.example:27017/shop"), "mongodb://shop:****@db.example:27017/shop");
/// // An unencoded `@` in the password hides it too.
/// assert!(!redact_uri("mongodb://shop:p@ss@db.example/").contains("p@ss"));
/// ```
pub fn redact_uri(uri: &str) -> String {
    let Some(scheme_end) = uri.find("://") else { return uri.to_owned() };
    let start = scheme_end + 3;
    let rest = &uri[start..];
    let Some(at) = credentials_end(rest) else { return redact_query(uri, start) };
    let creds = &rest[..at];
    // The user name cannot hold an unencoded `:`; without one, the whole part may be a token.
    let shown = match creds.split_once(':') {
        Some((user, _)) => format!("{user}:****"),
        None => "****".to_owned(),
    };
    let head = format!("{}{shown}@", &uri[..start]);
    let tail = redact_query(&rest[at + 1..], 0);
    format!("{head}{tail}")
}

/// The position in `rest` (the text after `://`) of the `@` that ends the credentials: the last `@`
/// followed by a plausible host list (up to the next `/`, `?`, `#` or the end); failing that (no host,
/// or a malformed one), the last `@` of all, so that a string the driver would refuse leaks nothing either.
fn credentials_end(rest: &str) -> Option<usize> {
    let mut ats = rest.char_indices().filter(|&(_, c)| c == '@').map(|(i, _)| i).rev();
    let last = ats.next()?;
    let host_list_follows = |i: usize| {
        let after = &rest[i + 1..];
        let hosts = &after[..after.find(['/', '?', '#']).unwrap_or(after.len())];
        !hosts.is_empty()
            && hosts
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '~' | '%' | ':' | ',' | '[' | ']'))
    };
    Some(std::iter::once(last).chain(ats).find(|&i| host_list_follows(i)).unwrap_or(last))
}

/// Why `uri`'s credentials cannot be read without guessing, or `None` when they can (or there are none).
///
/// The credentials end at the last `@` followed by a host list (the rule [`redact_uri`] hides by). Before
/// it, a user name or password holding an unencoded `@`, `/`, `?`, `#`, `[`, `]`, a second `:` or a `%`
/// that is not an escape makes drivers split the string elsewhere: they then send part of the password to
/// the DNS resolver and print it in their errors (`getaddrinfo ENOTFOUND <part of the password>`). So a
/// connection is refused before any driver sees such a string. The message names the character, never the
/// password.
pub fn credentials_problem(uri: &str) -> Option<String> {
    let start = uri.find("://")? + 3;
    let rest = &uri[start..];
    let creds = &rest[..credentials_end(rest)?];
    let (user, password) = creds.split_once(':').unwrap_or((creds, ""));
    let bad = |text: &str, forbidden: &[char]| -> Option<char> {
        let bytes = text.as_bytes();
        text.char_indices().find_map(|(i, c)| {
            let bad_escape = c == '%'
                && !(bytes.len() > i + 2 && bytes[i + 1].is_ascii_hexdigit() && bytes[i + 2].is_ascii_hexdigit());
            (forbidden.contains(&c) || bad_escape).then_some(c)
        })
    };
    let (what, c) = match bad(user, &['@', '/', '?', '#', '[', ']']) {
        Some(c) => ("user name", c),
        None => ("password", bad(password, &['@', ':', '/', '?', '#', '[', ']'])?),
    };
    Some(format!(
        "the connection string cannot be read safely: its {what} (or an option after the hosts) holds an \
         unencoded {c:?}; percent-encode the user name and password (encodeURIComponent in JavaScript; {c:?} \
         is {}) and write an '@' after the hosts as %40",
        c.to_string().bytes().map(|b| format!("%{b:02X}")).collect::<String>()
    ))
}

/// Query options that hold secrets of their own.
const SECRET_OPTIONS: [&str; 2] = ["tlsCertificateKeyFilePassword", "authMechanismProperties"];

/// `text` with the values of [`SECRET_OPTIONS`] in its query (after `from`) replaced by `****`.
fn redact_query(text: &str, from: usize) -> String {
    let Some(q) = text[from..].find('?').map(|q| from + q) else { return text.to_owned() };
    let (head, query) = text.split_at(q + 1);
    let parts: Vec<String> = query
        .split('&')
        .map(|part| match part.split_once('=') {
            Some((key, _)) if SECRET_OPTIONS.iter().any(|s| s.eq_ignore_ascii_case(key)) => format!("{key}=****"),
            _ => part.to_owned(),
        })
        .collect();
    format!("{head}{}", parts.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_password_is_replaced_whatever_it_holds() {
        assert_eq!(
            redact_uri("mongodb+srv://shop:p%40ss@cluster0.x.mongodb.net/db?retryWrites=true"),
            "mongodb+srv://shop:****@cluster0.x.mongodb.net/db?retryWrites=true"
        );
        assert_eq!(redact_uri("mongodb://127.0.0.1:27017/"), "mongodb://127.0.0.1:27017/");
        assert_eq!(redact_uri("mongodb://a:b@h1,h2/?x=y@z=1"), "mongodb://a:****@h1,h2/?x=y@z=1");
        // Unencoded `/`, `?`, `#`, `@` and `:` in the password.
        for pw in ["se/cret", "se?cret", "se#cret", "se@cret", "se:cr@et/x?y#z", "p@ss@host2"] {
            let uri = format!("mongodb://shop:{pw}@db1:27017,db2:27017/shop?authSource=admin");
            assert_eq!(redact_uri(&uri), "mongodb://shop:****@db1:27017,db2:27017/shop?authSource=admin", "{pw}");
        }
        assert_eq!(
            redact_uri("ipps://shop:s3cret@printer.local/ipp/print"),
            "ipps://shop:****@printer.local/ipp/print"
        );
        assert_eq!(redact_uri("ipp://printer.local/ipp/print"), "ipp://printer.local/ipp/print");
        assert_eq!(redact_uri("mongodb://token@host/"), "mongodb://****@host/");
        assert_eq!(
            redact_uri(
                "mongodb://h/?tls=true&tlsCertificateKeyFilePassword=k3y&authMechanismProperties=AWS_SESSION_TOKEN:t0k"
            ),
            "mongodb://h/?tls=true&tlsCertificateKeyFilePassword=****&authMechanismProperties=****"
        );
        assert_eq!(redact_uri("not a uri"), "not a uri");
        // No host, or a malformed one: still nothing of the password.
        assert_eq!(redact_uri("mongodb://shop:pw@"), "mongodb://shop:****@");
        assert_eq!(redact_uri("mongodb://shop:pw@/db"), "mongodb://shop:****@/db");
        assert_eq!(redact_uri("mongodb://shop:p@w@bad host/"), "mongodb://shop:****@bad host/");
    }

    /// A value after the hosts holding `@` and something host-like: more is hidden, never the password.
    #[test]
    fn an_at_sign_after_the_hosts_hides_more_not_less() {
        let out = redact_uri("mongodb://shop:pw1234@db/?appName=a@b");
        assert!(!out.contains("pw1234"), "{out}");
        assert!(out.starts_with("mongodb://shop:****@"), "{out}");
    }

    #[test]
    fn credentials_a_driver_would_misread_are_named_without_the_password() {
        for (pw, c) in
            [("Tr0ub@dor", '@'), ("se/cret", '/'), ("se?cret", '?'), ("se#cret", '#'), ("a:b", ':'), ("5%zz", '%')]
        {
            let m = credentials_problem(&format!("mongodb://shop:{pw}@db:27017/shop")).expect(pw);
            assert!(m.contains(&format!("{c:?}")) && m.contains("password"), "{m}");
            assert!(!m.contains(pw), "{m}");
        }
        for ok in [
            "mongodb://127.0.0.1:27017/?directConnection=true",
            "mongodb://shop:p%40ss%2F%3F%23@db1:27017,db2:27017/shop?authSource=admin",
            "mongodb+srv://shop:plain@cluster0.x.mongodb.net/",
            "mongodb://db/?appName=shop",
        ] {
            assert_eq!(credentials_problem(ok), None, "{ok}");
        }
        // An '@' after the hosts looks like the end of the credentials: it has to be written %40.
        assert!(credentials_problem("mongodb://shop:pw@db/?appName=a@b").is_some());
    }

    fn host_list() -> impl Strategy<Value = String> {
        prop::collection::vec(("[a-z][a-z0-9.-]{0,12}", prop::option::of(1u16..65535)), 1..4).prop_map(|hosts| {
            hosts.into_iter().map(|(h, p)| p.map(|p| format!("{h}:{p}")).unwrap_or(h)).collect::<Vec<_>>().join(",")
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Any password (any characters, `@/?#:` and non-ASCII included) never appears in the output.
        #[test]
        fn no_password_is_ever_shown(
            scheme in prop::sample::select(vec!["mongodb", "mongodb+srv", "ipp", "ipps"]),
            user in "[a-zA-Z0-9_.%-]{0,12}",
            password in "\\PC{6,40}|[@/?#:a-z%]{6,40}",
            hosts in host_list(),
            path in prop::option::of("/[a-z_]{0,10}"),
            query in prop::option::of("[a-zA-Z]{1,10}=[a-zA-Z0-9]{0,10}(&[a-zA-Z]{1,10}=[a-zA-Z0-9@]{0,10}){0,3}"),
        ) {
            let tail = match (&path, &query) {
                (Some(p), Some(q)) => format!("{p}?{q}"),
                (None, Some(q)) => format!("/?{q}"),
                (Some(p), None) => p.clone(),
                (None, None) => String::new(),
            };
            let uri = format!("{scheme}://{user}:{password}@{hosts}{tail}");
            // A password that also occurs in the rest of the string (e.g. "mongodb") is not a leak.
            let rest = format!("{scheme}://{user}:@{hosts}{tail}");
            prop_assume!(!rest.contains(&password));
            let out = redact_uri(&uri);
            prop_assert!(!out.contains(&password), "{uri} -> {out}");
            prop_assert!(out.starts_with(&format!("{scheme}://{user}:****@")), "{uri} -> {out}");
            // A password that needs encoding is refused before any driver sees it, without being named.
            if let Some(m) = credentials_problem(&uri) {
                prop_assert!(!m.contains(&password), "{m}");
            } else {
                prop_assert!(!password.contains(['@', '/', '?', '#', ':']), "{uri} not refused");
            }
            // With no `@` after the hosts, nothing but the password changes.
            if !tail.contains('@') {
                prop_assert_eq!(out, format!("{scheme}://{user}:****@{hosts}{tail}"));
            }
        }
    }
}
