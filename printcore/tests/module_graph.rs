//! printcore's top-level modules (`src/<folder>/` and `src/<file>.rs`) form layers: each may use the ones
//! below it, never one above. This test reads the sources, builds the graph of `crate::<module>` references
//! between top-level modules (in `use` statements and inline paths, `super::` paths that climb to the crate
//! root included; comments, doc comments and string literals ignored), fails naming the cycle if there is
//! one, and prints the layer order it found. ARCHITECTURE.md, "printcore's modules", describes the layers.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// A reference from one top-level module to another, with where it was seen.
#[derive(Debug, Clone)]
struct Reference {
    file: String,
    line: usize,
}

type Graph = BTreeMap<String, BTreeMap<String, Reference>>;

#[test]
fn printcore_modules_form_layers_without_an_import_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = module_graph(&src);
    if let Some(cycle) = find_cycle(&graph) {
        let mut message = format!("printcore's modules import each other in a circle: {}\n", cycle.join(" -> "));
        for pair in cycle.windows(2) {
            let r = &graph[&pair[0]][&pair[1]];
            message.push_str(&format!("  {} uses {} at {}:{}\n", pair[0], pair[1], r.file, r.line));
        }
        message
            .push_str("Move what both need down into a lower module (see ARCHITECTURE.md, \"printcore's modules\").");
        panic!("{message}");
    }
    let layers = layers(&graph);
    println!("printcore's layers, lowest first (a module uses only modules in lower layers):");
    for (i, layer) in layers.iter().enumerate() {
        println!("  {i}: {}", layer.join(", "));
    }
    assert!(layers.len() >= 4, "expected printcore's modules to form several layers, found {layers:?}");
}

#[test]
fn the_check_finds_a_cycle_and_ignores_comments_and_strings() {
    let text = "use crate::queue::X; // crate::admin\n/* crate::admin */ let s = \"crate::admin\";\n\
                fn f() { crate::db::x(); super::super::monitor::y(); }\nconst C: char = '\"'; let l: &'a str;";
    let refs = references(&clean(text), &["queue".to_string(), "inner".to_string()], &BTreeMap::new());
    let names: Vec<&str> = refs.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(names, ["queue", "db", "monitor"]);

    let mut graph = Graph::new();
    let at = Reference { file: "x.rs".into(), line: 1 };
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        graph.entry(from.into()).or_default().insert(to.into(), at.clone());
        graph.entry(to.into()).or_default();
    }
    let cycle = find_cycle(&graph).expect("a -> b -> c -> a is a cycle");
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 4);
    graph.get_mut("c").unwrap().remove("a");
    assert!(find_cycle(&graph).is_none());
    assert_eq!(layers(&graph), [vec!["d".to_string()], vec!["c".into()], vec!["b".into()], vec!["a".into()]]);
}

/// The graph of top-level modules, from every `.rs` file under `src` except `lib.rs`.
fn module_graph(src: &Path) -> Graph {
    let modules: Vec<String> = fs::read_dir(src)
        .expect("reading printcore/src")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() || (p.extension().is_some_and(|e| e == "rs") && !p.ends_with("lib.rs")))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    let reexports = root_reexports(&fs::read_to_string(src.join("lib.rs")).unwrap(), &modules);
    let mut graph = Graph::new();
    for module in &modules {
        graph.entry(module.clone()).or_default();
        let dir = src.join(module);
        let files = if dir.is_dir() { rust_files(&dir) } else { vec![src.join(format!("{module}.rs"))] };
        for file in files {
            let relative = file.strip_prefix(src).unwrap();
            let mut path: Vec<String> =
                relative.iter().map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string()).collect();
            if path.last().is_some_and(|l| l == "mod") {
                path.pop();
            }
            let text = clean(&fs::read_to_string(&file).unwrap());
            for (target, line) in references(&text, &path, &reexports) {
                if &target != module && modules.contains(&target) {
                    let r = Reference { file: format!("printcore/src/{}", relative.display()), line };
                    graph.get_mut(module).unwrap().entry(target).or_insert(r);
                }
            }
        }
    }
    graph
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Names lib.rs re-exports from a module (`pub use crate::db::{CoreConfig, PrintCore};`), so that
/// `crate::PrintCore` counts as a use of `db`.
fn root_reexports(lib: &str, modules: &[String]) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for statement in clean(lib).split(';') {
        let Some(rest) = statement.trim().strip_prefix("pub use crate::") else { continue };
        let module: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if !modules.contains(&module) {
            continue;
        }
        for word in rest[module.len()..].split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            if !word.is_empty() && word != "as" && word != "self" {
                map.insert(word.to_string(), module.clone());
            }
        }
    }
    map
}

/// The source with comments (doc comments included), string and char literals blanked out; lines kept.
fn clean(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_char(i.checked_sub(1).map(|j| b[j])) {
            // A raw string r"..." or r#"..."#.
            let mut j = i + 1;
            while b.get(j) == Some(&'#') {
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let hashes = j - i - 1;
            j += 1;
            while j < b.len() && !(b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#'))) {
                j += 1;
            }
            let end = (j + 1 + hashes).min(b.len());
            out.extend(b[i..end].iter().map(|c| blank(*c)));
            i = end;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < b.len() {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}'), or a lifetime ('a), which is kept.
            let end = if next == Some('\\') {
                (i + 2..b.len()).find(|&j| b[j] == '\'').map(|j| j + 1)
            } else if b.get(i + 2) == Some(&'\'') {
                Some(i + 3)
            } else {
                None
            };
            match end {
                Some(end) => {
                    out.extend(b[i..end].iter().map(|c| blank(*c)));
                    i = end;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_char(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// The top-level modules `text` (cleaned, of the module at `path`) refers to, with line numbers:
/// `crate::m`, `crate::{m::.., n}`, `crate::Name` re-exported from m, and `super::` chains reaching the root.
fn references(text: &str, path: &[String], reexports: &BTreeMap<String, String>) -> Vec<(String, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if ident_char(i.checked_sub(1).map(|j| chars[j])) || !chars[i].is_alphabetic() {
            i += 1;
            continue;
        }
        let word = word_at(&chars, i);
        let line = chars[..i].iter().filter(|c| **c == '\n').count() + 1;
        let mut j = i + word.len();
        let at_root = match word.as_str() {
            "crate" => true,
            "super" => {
                // Climb: each `super` leaves one module; reaching the root means the next name is top-level.
                let mut depth = path.len();
                let mut k = i;
                loop {
                    depth = depth.saturating_sub(1);
                    k += "super".len();
                    let after = skip_sep(&chars, k);
                    if after > k && word_at(&chars, after) == "super" {
                        k = after;
                    } else {
                        break;
                    }
                }
                j = k;
                depth == 0
            }
            _ => false,
        };
        if at_root {
            let after = skip_sep(&chars, j);
            if after > j {
                if chars.get(after) == Some(&'{') {
                    // `crate::{a::X, b}`: each name at depth one.
                    let mut depth = 0;
                    let mut k = after;
                    let mut expect_name = true;
                    while k < chars.len() {
                        match chars[k] {
                            '{' => {
                                depth += 1;
                                expect_name = depth == 1;
                            }
                            '}' => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            ',' if depth == 1 => expect_name = true,
                            c if c.is_alphabetic() && expect_name && depth == 1 => {
                                let name = word_at(&chars, k);
                                push(&mut found, &name, line, reexports);
                                k += name.len();
                                expect_name = false;
                                continue;
                            }
                            _ => {}
                        }
                        k += 1;
                    }
                    i = k;
                    continue;
                }
                let name = word_at(&chars, after);
                push(&mut found, &name, line, reexports);
            }
        }
        i = j.max(i + 1);
    }
    found
}

fn push(found: &mut Vec<(String, usize)>, name: &str, line: usize, reexports: &BTreeMap<String, String>) {
    let module = reexports.get(name).cloned().unwrap_or_else(|| name.to_string());
    found.push((module, line));
}

fn word_at(chars: &[char], i: usize) -> String {
    chars[i..].iter().take_while(|c| c.is_alphanumeric() || **c == '_').collect()
}

/// The index after `::` (with any whitespace around it) at `i`, or `i` when there is none.
fn skip_sep(chars: &[char], i: usize) -> usize {
    let mut k = i;
    while chars.get(k).is_some_and(|c| c.is_whitespace()) {
        k += 1;
    }
    if chars.get(k) == Some(&':') && chars.get(k + 1) == Some(&':') {
        k += 2;
        while chars.get(k).is_some_and(|c| c.is_whitespace()) {
            k += 1;
        }
        k
    } else {
        i
    }
}

/// A cycle as a path that ends where it starts, if the graph has one.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        n: &str,
        graph: &Graph,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(n.to_string(), Mark::Open);
        stack.push(n.to_string());
        for m in graph[n].keys() {
            match marks[m] {
                Mark::Open => {
                    let start = stack.iter().position(|s| s == m).unwrap();
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(m, graph, marks, stack) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks.insert(n.to_string(), Mark::Done);
        None
    }
    let mut marks: BTreeMap<String, Mark> = graph.keys().map(|k| (k.clone(), Mark::New)).collect();
    for n in graph.keys() {
        if marks[n] == Mark::New {
            if let Some(c) = visit(n, graph, &mut marks, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

/// Layers of an acyclic graph: layer 0 uses nothing; layer n uses something in layer n - 1.
fn layers(graph: &Graph) -> Vec<Vec<String>> {
    let mut layer_of: BTreeMap<&str, usize> = BTreeMap::new();
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    while placed.len() < graph.len() {
        for (n, uses) in graph {
            if !placed.contains(n.as_str()) && uses.keys().all(|m| placed.contains(m.as_str())) {
                let layer = uses.keys().map(|m| layer_of[m.as_str()] + 1).max().unwrap_or(0);
                layer_of.insert(n, layer);
            }
        }
        placed.extend(layer_of.keys());
    }
    let mut out = vec![Vec::new(); layer_of.values().max().map_or(0, |m| m + 1)];
    for (n, l) in layer_of {
        out[l].push(n.to_string());
    }
    out
}
