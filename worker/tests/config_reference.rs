//! The guide's configuration reference (`docs/guide/src/reference/configuration.md`) against the
//! configuration the worker reads (`printworker::config::Config`): every key of the structs is on the page,
//! every key on the page exists, and every default the page writes as a TOML value is the worker's default.
//!
//! The keys of the structs are found by deserialising `Config` with a tracing deserializer: serde's derive
//! hands `deserialize_struct` the list of each struct's fields, and the tracer descends into every field's
//! value (options, lists and nested structs), so a field added to any of the structs shows up here without
//! a list to keep by hand.

use printworker::config::Config;
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

const PAGE: &str = include_str!("../../docs/guide/src/reference/configuration.md");

#[derive(Debug)]
struct TraceError(String);
impl std::fmt::Display for TraceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for TraceError {}
impl de::Error for TraceError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        TraceError(msg.to_string())
    }
}

/// Every key path seen (`files.max_mb`, `printers.capabilities.color`), and which of them hold a struct.
#[derive(Default)]
struct Seen {
    keys: BTreeSet<String>,
    structs: BTreeSet<String>,
}

#[derive(Clone)]
struct Tracer {
    path: String,
    seen: Rc<RefCell<Seen>>,
}

impl Tracer {
    fn child(&self, field: &str) -> Tracer {
        let path = if self.path.is_empty() { field.to_owned() } else { format!("{}.{field}", self.path) };
        self.seen.borrow_mut().keys.insert(path.clone());
        Tracer { path, seen: self.seen.clone() }
    }
}

/// A struct's fields, one value each, every value traced under the field's path.
struct Fields {
    tracer: Tracer,
    fields: std::slice::Iter<'static, &'static str>,
    current: Option<&'static str>,
}

impl<'de> MapAccess<'de> for Fields {
    type Error = TraceError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, TraceError> {
        match self.fields.next() {
            Some(f) => {
                self.current = Some(f);
                seed.deserialize((*f).into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, TraceError> {
        let field = self.current.take().expect("a key before its value");
        seed.deserialize(self.tracer.child(field))
    }
}

/// A list of one element, traced under the list's own path (a list of tables is `[[printers]]`).
struct One {
    tracer: Option<Tracer>,
}

impl<'de> SeqAccess<'de> for One {
    type Error = TraceError;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, TraceError> {
        match self.tracer.take() {
            Some(t) => seed.deserialize(t).map(Some),
            None => Ok(None),
        }
    }
}

impl<'de> de::Deserializer<'de> for Tracer {
    type Error = TraceError;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, TraceError> {
        Err(TraceError(format!("{}: a value whose type the tracer cannot tell", self.path)))
    }
    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
        v.visit_bool(false)
    }
    fn deserialize_i8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
        v.visit_i64(1)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
        v.visit_i64(1)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
        v.visit_i64(1)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
        v.visit_i64(1)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
        v.visit_u64(1)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
        v.visit_u64(1)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
        v.visit_u64(1)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
        v.visit_u64(1)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
        v.visit_f64(1.0)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
        v.visit_f64(1.0)
    }
    fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
        v.visit_char('x')
    }
    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
        v.visit_str("x")
    }
    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
        v.visit_string("x".into())
    }
    fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
        v.visit_bytes(b"x")
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
        v.visit_byte_buf(b"x".to_vec())
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
        v.visit_some(self)
    }
    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
        v.visit_unit()
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, v: V) -> Result<V::Value, TraceError> {
        v.visit_unit()
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, v: V) -> Result<V::Value, TraceError> {
        v.visit_newtype_struct(self)
    }
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
        v.visit_seq(One { tracer: Some(self) })
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, TraceError> {
        Err(TraceError(format!("{}: a tuple", self.path)))
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        _: V,
    ) -> Result<V::Value, TraceError> {
        Err(TraceError(format!("{}: a tuple struct", self.path)))
    }
    fn deserialize_map<V: Visitor<'de>>(self, _: V) -> Result<V::Value, TraceError> {
        Err(TraceError(format!("{}: a map with free keys", self.path)))
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, TraceError> {
        self.seen.borrow_mut().structs.insert(self.path.clone());
        v.visit_map(Fields { tracer: self, fields: fields.iter(), current: None })
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, TraceError> {
        Err(TraceError(format!("{}: an enum", self.path)))
    }
    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
        self.deserialize_str(v)
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
        v.visit_unit()
    }
}

/// Every key of the configuration: each field whose value is not a table (a section's keys, a list of
/// tables' keys, an inline table's keys as `capabilities.color`).
fn struct_keys() -> BTreeSet<String> {
    let seen = Rc::new(RefCell::new(Seen::default()));
    Config::deserialize(Tracer { path: String::new(), seen: seen.clone() }).expect("the tracer reads Config");
    let seen = seen.borrow();
    seen.keys.iter().filter(|k| !seen.structs.contains(*k)).cloned().collect()
}

/// One row of the page: the key's full path, and its default when the page gives it as one TOML value.
#[derive(Debug)]
struct Row {
    key: String,
    section: String,
    default: Option<String>,
    line: usize,
}

/// The page's rows: under a heading naming a table (`` ## `[files]` ``, `` ### `[[alerts.webhooks]]` ``),
/// each table row whose first cell is a key in backticks.
fn page_rows() -> Vec<Row> {
    let mut section: Option<String> = None;
    let mut rows = Vec::new();
    for (n, line) in PAGE.lines().enumerate() {
        if line.starts_with('#') {
            section = line.split('`').nth(1).map(|t| t.trim_matches(|c| c == '[' || c == ']').to_owned());
            continue;
        }
        let Some(section) = &section else { continue };
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 || !cells[1].starts_with('`') {
            continue;
        }
        let key = cells[1].trim_matches('`');
        let default = cells[2];
        let literal = default.len() > 2
            && default.starts_with('`')
            && default.ends_with('`')
            && default.matches('`').count() == 2;
        rows.push(Row {
            key: format!("{section}.{key}"),
            section: section.clone(),
            default: literal.then(|| default.trim_matches('`').to_owned()),
            line: n + 1,
        });
    }
    rows
}

#[test]
fn every_key_of_the_configuration_is_on_the_page_and_every_key_on_the_page_exists() {
    let code = struct_keys();
    // The tracer cannot pass by finding nothing: known keys of every section, nested ones included.
    for known in [
        "database.uri",
        "worker.poll_interval_secs",
        "files.max_mb",
        "validation.mode",
        "http.listen",
        "alerts.interval_secs",
        "alerts.webhooks.url",
        "alerts.email.host",
        "printers.id",
        "printers.capabilities.page_sizes",
    ] {
        assert!(code.contains(known), "the tracer missed {known}: {code:?}");
    }
    assert!(code.len() > 60, "only {} keys found: {code:?}", code.len());

    let rows = page_rows();
    let page: BTreeSet<String> = rows.iter().map(|r| r.key.clone()).collect();
    assert_eq!(page.len(), rows.len(), "a key is on the page twice");
    let missing: Vec<_> = code.difference(&page).collect();
    let unknown: Vec<_> = page.difference(&code).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "docs/guide/src/reference/configuration.md and the configuration differ:\n  keys the worker reads that the \
         page does not list: {missing:?}\n  keys on the page the worker does not read: {unknown:?}"
    );
}

/// A configuration with the least a section needs (its required keys), so one key can be added to it.
fn base(section: &str) -> String {
    match section {
        "alerts.webhooks" => "[[alerts.webhooks]]\nurl = \"https://hooks.example/x\"\n".into(),
        "alerts.email" => {
            "[alerts.email]\nhost = \"smtp.example\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n".into()
        }
        "printers" => "[[printers]]\nid = \"a\"\nname = \"A\"\nbackend = \"file\"\nfolder = \"/tmp/x\"\n".into(),
        other => format!("[{other}]\n"),
    }
}

#[test]
fn every_default_on_the_page_is_the_workers_default() {
    let rows = page_rows();
    let mut checked = 0;
    for row in rows.iter().filter(|r| r.default.is_some()) {
        let value = row.default.as_deref().unwrap();
        let key = &row.key[row.section.len() + 1..];
        let without = Config::from_toml(&base(&row.section))
            .unwrap_or_else(|e| panic!("the base of [{}] does not parse: {e}", row.section));
        let with = Config::from_toml(&format!("{}{key} = {value}\n", base(&row.section))).unwrap_or_else(|e| {
            panic!(
                "configuration.md line {}: `{key} = {value}` is not a valid value for [{}]: {e}",
                row.line, row.section
            )
        });
        assert_eq!(
            format!("{without:?}"),
            format!("{with:?}"),
            "configuration.md line {}: the default of [{}] {key} is not {value}",
            row.line,
            row.section
        );
        checked += 1;
    }
    assert!(checked > 40, "only {checked} defaults checked");
}
