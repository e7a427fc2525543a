//! The guide's command-line reference (`docs/guide/src/reference/cli.md`) against the worker binary's own
//! help: every command and every flag `worker --help` and `worker <command> --help` show is on the page,
//! and every `worker` flag and command on the page exists (Windows-only ones excepted on other systems).

use std::collections::BTreeSet;
use std::process::Command;

const PAGE: &str = include_str!("../../docs/guide/src/reference/cli.md");

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_worker")).args(args).arg("--help").output().expect("worker runs");
    assert!(out.status.success(), "worker {args:?} --help: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("help is UTF-8")
}

/// The commands listed under "Commands:" of a help text.
fn commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(String::from)
        .collect()
}

/// Every `--long` flag in a text.
fn flags(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (i, _) in text.match_indices("--") {
        let rest = &text[i + 2..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '-').collect();
        let before = text[..i].chars().next_back();
        if name.len() > 1 && !matches!(before, Some(c) if c.is_alphanumeric() || c == '-') {
            found.insert(format!("--{name}"));
        }
    }
    found
}

#[test]
fn every_command_and_flag_of_the_worker_is_on_the_page_and_nothing_else() {
    let worker_part = &PAGE[..PAGE.find("## npx printcore").expect("the page has its npx section")];
    let top = help(&[]);
    let cmds = commands(&top);
    for known in ["run", "migrate", "printers", "init", "check", "status"] {
        assert!(cmds.iter().any(|c| c == known), "`worker --help` lists {known}: {cmds:?}");
    }
    let mut code_flags = flags(&top);
    for c in &cmds {
        assert!(worker_part.contains(&format!("| `{c}` |")), "cli.md has no row for `worker {c}`");
        code_flags.extend(flags(&help(&[c])));
    }
    assert!(code_flags.contains("--config") && code_flags.contains("--dry-run") && code_flags.len() > 20);

    let page_flags = flags(worker_part);
    let missing: Vec<_> = code_flags.difference(&page_flags).collect();
    assert!(missing.is_empty(), "flags of the worker that cli.md does not list: {missing:?}");
    // `service` and its `--name` exist on Windows only.
    let windows_only: BTreeSet<String> = if cfg!(windows) { BTreeSet::new() } else { ["--name".to_owned()].into() };
    let unknown: Vec<_> = page_flags.difference(&code_flags).filter(|f| !windows_only.contains(*f)).collect();
    assert!(unknown.is_empty(), "flags on cli.md the worker does not have: {unknown:?}");
    let page_cmds: BTreeSet<&str> = worker_part
        .lines()
        .skip_while(|l| !l.starts_with("| command |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| l.split('`').nth(1))
        .collect();
    for c in &page_cmds {
        assert!(cmds.iter().any(|k| k == c) || (*c == "service" && !cfg!(windows)), "cli.md lists `worker {c}`");
    }
}
