//! `redactUri`: printcore's one redaction of connection strings, for the package's scripts and the
//! website's own logs, so that no JavaScript copy of the rule can drift from it.

use napi_derive::napi;

/// `uri` with its password replaced by `****` (`mongodb://shop:****@host/db`), whatever characters the
/// password holds (an unencoded `@`, `/`, `?`, `#` or `:` included), and secret query options
/// (`tlsCertificateKeyFilePassword`, `authMechanismProperties`) hidden too. Safe to print or log.
#[napi]
pub fn redact_uri(uri: String) -> String {
    printcore::redact_uri(&uri)
}

/// Why a connection string's credentials cannot be read without guessing (an unencoded `@`, `/`, `?`
/// or `#` in the password: percent-encode it), or `null`. `PrintCore.connect` refuses such a string with
/// `INVALID_ARGUMENT`; scripts that use the MongoDB driver directly check it first, so no part of the
/// password reaches a resolver or an error message. The message never contains the password.
#[napi]
pub fn connection_string_problem(uri: String) -> Option<String> {
    printcore::db::redact::credentials_problem(&uri)
}
