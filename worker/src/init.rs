//! `worker init`: finds the printers this PC can reach (`discover`), proposes a `[[printers]]` section for
//! each, asks for the database and the file hosts (or takes them as flags; `--yes` asks nothing), and
//! writes a commented `worker.toml` that `worker check` passes.
//!
//! What it promises:
//! - The file is valid before it is written: it is parsed and validated exactly as the worker will read it.
//! - Printers' names are untrusted text: ids are made of `a-z`, `0-9` and `-` only ([`printer_id`]), names
//!   and URIs are written as TOML strings by the `toml` crate's own quoting, and comments carry no
//!   control character, so no name can end a string or a comment and add a setting.
//! - A database password never goes into a file other users of the PC can read: on Unix the file is
//!   created readable by its owner only (0600, which the worker's loader accepts for a file holding a
//!   password); on Windows its access list is set to Administrators and SYSTEM only, as `worker service
//!   install` does (`winsec`), before the password is written into it.
//! - An existing file is never overwritten without `--force`.

use crate::config::{allowed_host_problem, redact_uri, Config};
use crate::discover::{self, describe_capabilities, printable, Discovered, Reach};
use printcore::PrinterCapabilities;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where to look for printers (`worker printers --discover` and `worker init`).
#[derive(clap::Args, Debug, Clone)]
pub struct DiscoverArgs {
    /// The CUPS server whose queues to list (host:port).
    #[arg(long, default_value = "localhost:631", value_name = "HOST:PORT")]
    pub cups: String,
    /// Do not ask a CUPS server.
    #[arg(long)]
    pub no_cups: bool,
    /// Seconds to listen for printers announcing themselves on the network (DNS-SD); 0: do not listen.
    #[arg(long, default_value_t = 3.0, value_name = "SECONDS")]
    pub dnssd_secs: f64,
    /// Do not list the Windows spooler's printers (Windows only).
    #[arg(long)]
    pub no_spooler: bool,
    /// Only printers whose name or address contains this text (any case; may be given several times).
    #[arg(long = "only", value_name = "TEXT")]
    pub only: Vec<String>,
    /// Seconds each question to a printer may take.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    pub printer_timeout: f64,
}

impl DiscoverArgs {
    pub fn options(&self) -> Result<discover::Options, String> {
        let secs = |v: f64, what: &str| {
            if v.is_finite() && (0.0..=600.0).contains(&v) {
                Ok(Duration::from_secs_f64(v))
            } else {
                Err(format!("{what} must be a number of seconds from 0 to 600 (got {v})"))
            }
        };
        let dnssd = secs(self.dnssd_secs, "--dnssd-secs")?;
        let timeout = secs(self.printer_timeout, "--printer-timeout")?;
        if timeout.is_zero() {
            return Err("--printer-timeout must be more than 0 seconds".into());
        }
        Ok(discover::Options {
            dnssd: (!dnssd.is_zero()).then_some(dnssd),
            cups: (!self.no_cups).then(|| self.cups.clone()),
            spooler: cfg!(windows) && !self.no_spooler,
            timeout,
            only: self.only.clone(),
        })
    }
}

/// `worker init`'s own flags (the configuration file, the connection string and the database name are
/// the worker's global `--config`, `--mongodb-uri` / `MONGODB_URI` and `--db` / `PRINTCORE_DB`).
#[derive(clap::Args, Debug, Clone)]
pub struct InitArgs {
    #[command(flatten)]
    pub discover: DiscoverArgs,
    /// Ask nothing: every printer found that answered goes in, the others are written commented out; the
    /// connection string must be given (--mongodb-uri or MONGODB_URI).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Replace the configuration file if it exists.
    #[arg(long)]
    pub force: bool,
    /// A host order files may come from (may be given several times; default res.cloudinary.com).
    #[arg(long = "allowed-host", value_name = "HOST")]
    pub allowed_hosts: Vec<String>,
    /// Accept order files over plain http (demos and tests only).
    #[arg(long, hide = true)]
    pub allow_http: bool,
    /// Accept order files from this PC itself (demos and tests only).
    #[arg(long, hide = true)]
    pub allow_loopback: bool,
}

/// What `worker init` is given besides its flags.
#[derive(Debug, Clone)]
pub struct Given {
    /// `--config`, else `worker.toml` in the current folder.
    pub path: PathBuf,
    pub uri: Option<String>,
    pub db: Option<String>,
}

/// A stable printer id from a printer's name: lower-case ASCII letters and digits, other runs of
/// characters as one `-`, at most 40 characters, never empty (`printer`), and not one of `taken` (a
/// number is added).
pub fn printer_id(name: &str, taken: &[String]) -> String {
    let mut id = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c.to_ascii_lowercase());
        } else if !id.is_empty() && !id.ends_with('-') {
            id.push('-');
        }
        if id.len() >= 40 {
            break;
        }
    }
    let base = id.trim_end_matches('-').to_owned();
    let base = if base.is_empty() { "printer".to_owned() } else { base };
    let mut candidate = base.clone();
    let mut n = 2;
    while taken.iter().any(|t| t == &candidate) {
        candidate = format!("{base}-{n}");
        n += 1;
    }
    candidate
}

/// A TOML string holding `s` exactly (the `toml` crate's quoting: nothing in `s` ends it).
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// Text for a `#` comment: one line, no control characters.
fn comment(s: &str) -> String {
    printable(s, 200)
}

/// One printer as it goes into the file.
#[derive(Debug, Clone)]
pub struct Proposal {
    pub discovered: Discovered,
    pub id: String,
    /// The shop's name for it (the printer's, cleaned: one line, at most 80 characters).
    pub name: String,
    /// Written commented out (it did not answer, or the person said no).
    pub commented: bool,
}

/// A proposal per printer found: ids unique, names cleaned; printers that did not answer commented out.
pub fn propose(found: Vec<Discovered>) -> Vec<Proposal> {
    let mut taken: Vec<String> = Vec::new();
    found
        .into_iter()
        .map(|d| {
            let name = printable(&d.found.name, 80);
            let name = if name.is_empty() { "Printer".to_owned() } else { name };
            let id = printer_id(&name, &taken);
            taken.push(id.clone());
            let commented = d.capabilities.is_err() && matches!(d.found.reach, Reach::Ipp { .. });
            Proposal { discovered: d, id, name, commented }
        })
        .collect()
}

/// SumatraPDF where the guide's Windows steps put it.
const SUMATRA: &str = r"C:\Program Files\printcore\SumatraPDF.exe";

fn capabilities_line(c: &PrinterCapabilities) -> String {
    let sizes: Vec<String> = c.page_sizes.iter().map(|s| quoted(s)).collect();
    format!(
        "capabilities = {{ page_sizes = [{}], color = {}, duplex = {}, max_copies = {} }}",
        sizes.join(", "),
        c.color,
        c.duplex,
        c.max_copies.max(1)
    )
}

/// The `[[printers]]` section of one proposal.
pub fn printer_section(p: &Proposal) -> String {
    let d = &p.discovered;
    let f = &d.found;
    let mut head = vec![format!("# {} [{}]: {}", comment(&f.name), f.source.as_str(), comment(&f.detail))];
    if let Some(m) = &f.make_model {
        head.push(format!("# model: {}", comment(m)));
    }
    if let Some(l) = &f.location {
        head.push(format!("# location: {}", comment(l)));
    }
    head.push(format!("# status when found: {}", comment(&d.status)));
    for fact in &d.facts {
        head.push(format!("# {}", comment(fact)));
    }
    let mut body = vec![format!("id = {}", quoted(&p.id)), format!("name = {}", quoted(&p.name))];
    match (&f.reach, &d.capabilities) {
        (Reach::Ipp { uri }, caps) => {
            body.push("backend = \"ipp\"".into());
            body.push(format!("uri = {}", quoted(uri)));
            body.push("connection_type = \"network\"".into());
            match caps {
                Ok(c) if !c.page_sizes.is_empty() => head.push(format!(
                    "# it says it takes: {} (read again at each start; set capabilities to restrict it)",
                    comment(&describe_capabilities(c))
                )),
                Ok(c) => {
                    head.push(
                        "# it lists no paper sizes (a raw queue): the sizes below are a guess, check them".into(),
                    );
                    let c = PrinterCapabilities { page_sizes: vec!["A4".into()], ..c.clone() };
                    body.push(capabilities_line(&c));
                }
                Err(e) => head.push(format!("# it did not answer: {}; remove the # below once it does", comment(e))),
            }
        }
        (Reach::Spooler { printer_name, .. }, caps) => {
            body.push("backend = \"command\"".into());
            body.push(format!("printer_name = {}", quoted(printer_name)));
            body.push(format!(
                "print_command = [{}, \"-print-to\", \"{{printer}}\", \"-print-settings\", \"{{copies}}x,{{duplex}},{{color}}\", \"-silent\", \"{{file}}\"]",
                quoted(SUMATRA)
            ));
            body.push("system_name = \"Windows\"".into());
            let c = match caps {
                Ok(c) => {
                    head.push(format!("# the driver says it takes: {}", comment(&describe_capabilities(c))));
                    c.clone()
                }
                Err(_) => {
                    head.push("# the driver did not say what it takes: check the capabilities below".into());
                    PrinterCapabilities::default()
                }
            };
            body.push(capabilities_line(&c));
            head.push(
                "# Turn on \"Keep printed documents\" for it (Printer properties > Advanced): worker check fails until it is on."
                    .into(),
            );
        }
    }
    let prefix = if p.commented { "# " } else { "" };
    let mut out = head.join("\n");
    out.push('\n');
    out.push_str(&format!("{prefix}[[printers]]\n"));
    for line in body {
        out.push_str(&format!("{prefix}{line}\n"));
    }
    out
}

/// The settings besides the printers.
#[derive(Debug, Clone)]
pub struct Settings {
    pub uri: String,
    pub db: String,
    pub allowed_hosts: Vec<String>,
    pub allow_http: bool,
    pub allow_loopback: bool,
}

/// Whether a connection string carries a secret (a password, or a key file's password): what the worker's
/// loader and `redact_uri` hide.
pub fn holds_password(uri: &str) -> bool {
    redact_uri(uri) != uri
}

/// The whole file.
pub fn render(settings: &Settings, printers: &[Proposal]) -> String {
    let mut out = String::new();
    out.push_str(
        "# printcore worker configuration, written by `worker init`. worker.example.toml explains every setting;\n\
         # settings not written here take their defaults. Check it with: worker --config <this file> check\n\n",
    );
    out.push_str("[database]\n");
    if holds_password(&settings.uri) {
        out.push_str(
            "# The connection string holds the password: this file is readable by its owner only (Windows:\n\
             # Administrators and SYSTEM). For the systemd service, deploy/install.sh wants it out of this file:\n\
             # delete the uri line and give the string to install.sh, which keeps it as a root-only credential.\n",
        );
    } else {
        out.push_str("# The MongoDB connection string (MONGODB_URI and --mongodb-uri override it).\n");
    }
    out.push_str(&format!("uri = {}\n", quoted(&settings.uri)));
    out.push_str("# The website's database.\n");
    out.push_str(&format!("name = {}\n\n", quoted(&settings.db)));
    out.push_str("[files]\n# Hosts order files may come from (each with its subdomains), over https.\n");
    let hosts: Vec<String> = settings.allowed_hosts.iter().map(|h| quoted(h)).collect();
    out.push_str(&format!("allowed_hosts = [{}]\n", hosts.join(", ")));
    if settings.allow_http {
        out.push_str("# Demos and tests only: files over plain http.\nallow_http = true\n");
    }
    if settings.allow_loopback {
        out.push_str("# Demos and tests only: files from this PC itself.\nallow_loopback = true\n");
    }
    out.push_str(
        "\n# One section per printer. `id` is stable (orders and the monitor refer to it): keep it once the\n\
         # worker runs. `name` is what the monitor shows: change it freely.\n",
    );
    for p in printers {
        out.push('\n');
        out.push_str(&printer_section(p));
    }
    out
}

/// Checks the text as the worker will read it.
pub fn check_rendered(text: &str) -> Result<(), String> {
    let config = Config::from_toml(text).map_err(|e| format!("worker init wrote an invalid file (a bug): {e}"))?;
    config.validate().map_err(|e| e.to_string())
}

/// Writes `text` to `path`: created new (replaced only with `force`), readable by its owner only when
/// `secret`. Never leaves a secret in a file others may read: on Windows the access list is set on an empty
/// file before the text goes in, and a failure removes it.
pub fn write_config(path: &Path, text: &str, secret: bool, force: bool) -> Result<(), String> {
    if path.exists() && !force {
        return Err(format!("{} exists: give --force to replace it, or --config another path", path.display()));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err(format!("the folder {} does not exist", dir.display()));
        }
    }
    // A new file beside the old one, renamed over it once whole: a failure leaves the old file.
    let tmp = path.with_extension("toml.init-tmp");
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(if secret { 0o600 } else { 0o644 });
        }
        let mut file = options.open(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
        #[cfg(windows)]
        if secret {
            lock_on_windows(&tmp)?;
        }
        #[cfg(not(windows))]
        let _ = secret;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(|e| format!("cannot put the file at {}: {e}", path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Windows: Administrators and SYSTEM only (what `service install` later opens to the service's account).
#[cfg(windows)]
fn lock_on_windows(path: &Path) -> Result<(), String> {
    use crate::winsec::{apply, Guard, Set, Step};
    apply(&[Step {
        path: path.to_path_buf(),
        what: format!("{}: Administrators, SYSTEM: full control", path.display()),
        dir: false,
        create: false,
        set: Set::Replace("O:BAD:P(A;;FA;;;SY)(A;;FA;;;BA)".into()),
        guard: Guard::Secret,
    }])
    .map(drop)
    .map_err(|e| format!("{e}; run worker init from an administrator's command prompt"))
}

/// Questions on the terminal.
struct Ask {
    interactive: bool,
}

impl Ask {
    fn line(&self, question: &str, default: Option<&str>) -> Result<String, String> {
        let shown = default.map(|d| format!(" [{d}]")).unwrap_or_default();
        eprint!("{question}{shown}: ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).map_err(|e| format!("cannot read the answer: {e}"))?;
        let answer = answer.trim().to_owned();
        Ok(if answer.is_empty() { default.unwrap_or_default().to_owned() } else { answer })
    }

    /// A line not shown as it is typed (the connection string holds the password).
    fn hidden(&self, question: &str) -> Result<String, String> {
        #[cfg(unix)]
        {
            let fd = 0;
            // SAFETY: termios is plain data; the calls read and set the terminal's mode on stdin.
            let mut old: libc::termios = unsafe { std::mem::zeroed() };
            if unsafe { libc::tcgetattr(fd, &mut old) } == 0 {
                let mut quiet = old;
                quiet.c_lflag &= !libc::ECHO;
                unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
                let answer = self.line(question, None);
                unsafe { libc::tcsetattr(fd, libc::TCSANOW, &old) };
                eprintln!();
                return answer;
            }
        }
        self.line(question, None)
    }

    fn yes(&self, question: &str) -> Result<bool, String> {
        let a = self.line(question, Some("Y/n"))?;
        Ok(!matches!(a.to_ascii_lowercase().as_str(), "n" | "no"))
    }
}

/// `worker init`. Returns the lines to print at the end.
pub async fn run(args: &InitArgs, given: &Given) -> Result<Vec<String>, String> {
    let path = &given.path;
    if path.exists() && !args.force {
        return Err(format!("{} exists: give --force to replace it, or --config another path", path.display()));
    }
    let ask = Ask { interactive: !args.yes && std::io::stdin().is_terminal() };
    let options = args.discover.options()?;
    eprintln!("looking for printers (network announcements, CUPS, the Windows spooler)...");
    let report = discover::discover(&options).await;
    for line in discover::report_lines(&report) {
        eprintln!("{line}");
    }
    let mut proposals = propose(report.printers);
    if ask.interactive {
        for i in 0..proposals.len() {
            let p = &proposals[i];
            let take = ask.yes(&format!("add {:?} ({})?", p.name, printable(&p.discovered.found.detail, 100)))?;
            let name = if take {
                printable(&ask.line("  its name on the monitor", Some(&p.name))?, 80)
            } else {
                String::new()
            };
            // The id follows the name given (unique among the others).
            let others: Vec<String> =
                proposals.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, o)| o.id.clone()).collect();
            let p = &mut proposals[i];
            p.commented = p.commented || !take;
            if take && !name.is_empty() && name != p.name {
                p.id = printer_id(&name, &others);
                p.name = name;
            }
        }
    }
    if !proposals.iter().any(|p| !p.commented) {
        return Err("no printer to configure: none was found that answered (see above). Check that it is on and on \
             this network, or give --cups host:port for a CUPS server; worker.example.toml shows how to write \
             a printer by hand"
            .into());
    }
    let uri = match &given.uri {
        Some(u) => u.clone(),
        None if ask.interactive => ask.hidden("the MongoDB connection string (mongodb+srv://user:password@...)")?,
        None => {
            return Err(
                "give the database: --mongodb-uri or MONGODB_URI (or run worker init on a terminal to be asked)".into(),
            )
        }
    };
    let db = match &given.db {
        Some(d) => d.clone(),
        None if ask.interactive => ask.line("the website's database name", Some("printshop"))?,
        None => "printshop".into(),
    };
    let mut allowed_hosts = args.allowed_hosts.clone();
    if allowed_hosts.is_empty() {
        allowed_hosts = if ask.interactive {
            ask.line("hosts order files come from, separated by commas", Some("res.cloudinary.com"))?
                .split(',')
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .collect()
        } else {
            vec!["res.cloudinary.com".into()]
        };
    }
    for h in &allowed_hosts {
        if let Some(problem) = allowed_host_problem(h) {
            return Err(format!("allowed host {h:?}: {problem}"));
        }
    }
    let settings =
        Settings { uri, db, allowed_hosts, allow_http: args.allow_http, allow_loopback: args.allow_loopback };
    let text = render(&settings, &proposals);
    check_rendered(&text)?;
    let secret = holds_password(&settings.uri);
    write_config(path, &text, secret, args.force)?;
    let mut lines = vec![format!(
        "wrote {} with {} printer(s){}",
        path.display(),
        proposals.iter().filter(|p| !p.commented).count(),
        if secret {
            if cfg!(windows) {
                " (it holds the database password: only Administrators and SYSTEM may read it)"
            } else {
                " (it holds the database password: readable by you only, mode 600)"
            }
        } else {
            ""
        }
    )];
    lines.push(format!("next: worker --config {} check", path.display()));
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover::{Found, Source};

    fn found(name: &str, reach: Reach, caps: Result<PrinterCapabilities, String>) -> Discovered {
        Discovered {
            found: Found {
                source: Source::DnsSd,
                name: name.into(),
                reach,
                make_model: Some("Model\n[database]".into()),
                location: None,
                detail: "announced".into(),
            },
            capabilities: caps,
            status: "online".into(),
            facts: vec!["multi-document jobs: yes".into()],
        }
    }

    fn ipp(uri: &str) -> Reach {
        Reach::Ipp { uri: uri.into() }
    }

    fn caps() -> PrinterCapabilities {
        PrinterCapabilities {
            page_sizes: vec!["A4".into(), "Letter".into()],
            color: true,
            duplex: true,
            max_copies: 99,
        }
    }

    fn settings(uri: &str) -> Settings {
        Settings {
            uri: uri.into(),
            db: "printshop".into(),
            allowed_hosts: vec!["res.cloudinary.com".into()],
            allow_http: false,
            allow_loopback: false,
        }
    }

    #[test]
    fn ids_are_safe_stable_and_unique() {
        assert_eq!(printer_id("Front Desk Laser", &[]), "front-desk-laser");
        assert_eq!(printer_id("  HP LaserJet (M404) #2 ", &[]), "hp-laserjet-m404-2");
        assert_eq!(printer_id("Büro", &[]), "b-ro");
        assert_eq!(printer_id("日本語", &[]), "printer");
        assert_eq!(printer_id("\"]\n[database]", &[]), "database");
        assert_eq!(printer_id("x", &["x".into(), "x-2".into()]), "x-3");
        assert!(printer_id(&"a".repeat(500), &[]).len() <= 40);
    }

    #[test]
    fn hostile_printer_names_cannot_add_settings_or_break_the_file() {
        let hostile = [
            "Lab\"\nuri = \"mongodb://evil\"\n[database]",
            "Lab'''\n[[printers]]",
            "back\\slash \u{1b}[31m red",
            "\u{0}nul and \u{7f} del",
            "# not a comment",
            "",
        ];
        let printers: Vec<Discovered> = hostile
            .iter()
            .enumerate()
            .map(|(i, n)| found(n, ipp(&format!("ipp://192.0.2.{}:631/ipp/print", i + 1)), Ok(caps())))
            .collect();
        let proposals = propose(printers);
        let text = render(&settings("mongodb://127.0.0.1:27017/"), &proposals);
        check_rendered(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let c = Config::from_toml(&text).unwrap();
        assert_eq!(c.database.uri.as_deref(), Some("mongodb://127.0.0.1:27017/"), "{text}");
        assert_eq!(c.printers.len(), hostile.len());
        for (p, n) in c.printers.iter().zip(hostile) {
            assert!(p.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'), "{}", p.id);
            assert_eq!(p.name, proposals.iter().find(|x| x.id == p.id).unwrap().name);
            assert!(!p.name.chars().any(char::is_control), "{n:?} -> {:?}", p.name);
        }
        assert_eq!(c.printers[0].name, "Lab\" uri = \"mongodb://evil\" [database]");
    }

    #[test]
    fn printers_that_did_not_answer_are_written_commented_out() {
        let proposals = propose(vec![
            found("Up", ipp("ipp://192.0.2.1:631/ipp/print"), Ok(caps())),
            found("Down", ipp("ipp://192.0.2.2:631/ipp/print"), Err("connection refused".into())),
        ]);
        let text = render(&settings("mongodb://127.0.0.1/"), &proposals);
        let c = Config::from_toml(&text).unwrap();
        assert_eq!(c.printers.len(), 1);
        assert!(text.contains("# [[printers]]\n# id = \"down\""), "{text}");
        assert!(text.contains("it did not answer: connection refused"), "{text}");
    }

    #[test]
    fn a_raw_queue_gets_capabilities_to_check_and_a_windows_printer_a_sumatra_command() {
        let raw = PrinterCapabilities { page_sizes: vec![], color: false, duplex: false, max_copies: 1 };
        let spool = Reach::Spooler { printer_name: r"\\OFFICE\Brother".into(), capabilities: None };
        let proposals = propose(vec![
            found("Raw", ipp("ipp://localhost:631/printers/Raw"), Ok(raw)),
            found("Brother", spool, Err("the driver did not say".into())),
        ]);
        let text = render(&settings("mongodb://127.0.0.1/"), &proposals);
        let c = Config::from_toml(&text).unwrap();
        assert_eq!(c.printers[0].capabilities.as_ref().unwrap().page_sizes, ["A4"]);
        assert!(text.contains("a guess, check them"), "{text}");
        let w = &c.printers[1];
        assert_eq!(w.backend, "command");
        assert_eq!(w.printer_name.as_deref(), Some(r"\\OFFICE\Brother"));
        assert_eq!(w.print_command.as_ref().unwrap()[0], SUMATRA);
        assert_eq!(w.capabilities, Some(PrinterCapabilities::default()));
    }

    #[cfg(unix)]
    #[test]
    fn a_password_goes_only_into_a_file_its_owner_alone_can_read_and_nothing_is_overwritten() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("worker.toml");
        let proposals = propose(vec![found("Up", ipp("ipp://192.0.2.1:631/ipp/print"), Ok(caps()))]);
        let secret = settings("mongodb://worker:s3cret@db.example/printshop");
        assert!(holds_password(&secret.uri));
        let text = render(&secret, &proposals);
        check_rendered(&text).unwrap();
        write_config(&path, &text, true, false).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        // The worker's own loader takes it as it is.
        let c = Config::from_file(&path).unwrap();
        assert_eq!(c.database.uri.as_deref(), Some("mongodb://worker:s3cret@db.example/printshop"));
        // Never overwritten without --force; with it, replaced (no password now: an ordinary file).
        let e = write_config(&path, "x", false, false).unwrap_err();
        assert!(e.contains("--force"), "{e}");
        assert!(std::fs::read_to_string(&path).unwrap().contains("s3cret"));
        let plain = render(&settings("mongodb://127.0.0.1/"), &proposals);
        write_config(&path, &plain, false, true).unwrap();
        assert!(!std::fs::read_to_string(&path).unwrap().contains("s3cret"));
        assert!(!holds_password("mongodb://127.0.0.1/"));
        assert!(std::fs::read_dir(dir.path()).unwrap().count() == 1, "no temporary file left");
    }
}
