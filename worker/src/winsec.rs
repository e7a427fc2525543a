//! Who may touch the worker's files on Windows: the service's own account, the access lists
//! `worker service install` gives the configuration's folder and the files in it, and the reading of an
//! access list with which `worker check` refuses a configuration that ordinary users can read (it holds
//! the database password) or change (its print commands run as the service).
//!
//! - The service runs as its virtual account `NT SERVICE\<name>`: no password, the rights of an ordinary
//!   user (the printers, the network as the computer), nothing of the machine's. Its SID is a hash of the
//!   name ([`service_sid`]), so the access lists can name it before the service exists.
//! - The configuration's folder gets a protected list ([`folder_sddl`]): Administrators and SYSTEM full
//!   control; the service reads and runs what is in it and may add files (its logs), which it may then
//!   change (CREATOR OWNER); nobody else. The configuration file itself: the service reads it
//!   ([`config_sddl`]). The journal and existing logs: the service changes them ([`writable_file_sddl`]).
//!   Folders the service writes into (`[files] work_dir`, a `file` printer's folder) get a list of their
//!   own when they are inside the configuration's folder, and one more entry for the service otherwise.
//! - `worker check` reads the lists back ([`parse`]) and refuses ([`judge`]) when Everyone, Authenticated
//!   Users, Users, Interactive, Guests or another group any local user is in can read the configuration,
//!   or change it, its folder, the journal, the worker's program or a print command's program.
//!
//! Everything but the Windows calls is string work on SDDL, tested on every system.

use crate::config::Config;
use std::path::{Path, PathBuf};

/// The service's virtual account.
pub fn service_account(name: &str) -> String {
    format!(r"NT SERVICE\{name}")
}

/// The SID of `NT SERVICE\<name>`: `S-1-5-80-` and the SHA-1 of the upper-cased name in UTF-16LE, read as
/// five little-endian 32-bit numbers. Windows upper-cases one UTF-16 unit at a time; a character whose
/// upper case is longer (ß), and one outside the Basic Multilingual Plane, is kept, as Windows keeps it.
pub fn service_sid(name: &str) -> String {
    use sha1::{Digest, Sha1};
    let upper: String = name
        .chars()
        .map(|c| {
            let mut u = c.to_uppercase();
            match (u.next(), u.next()) {
                (Some(one), None) if c.len_utf16() == 1 && one.len_utf16() == 1 => one,
                _ => c,
            }
        })
        .collect();
    let bytes: Vec<u8> = upper.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let digest = Sha1::digest(&bytes);
    let words: Vec<String> =
        digest.chunks_exact(4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]).to_string()).collect();
    format!("S-1-5-80-{}", words.join("-"))
}

/// Access rights of files and folders, as in an access mask.
pub mod rights {
    /// Read a file's data; list a folder.
    pub const READ_DATA: u32 = 0x1;
    /// Write a file's data; add a file to a folder.
    pub const WRITE_DATA: u32 = 0x2;
    /// Append to a file; add a subfolder to a folder.
    pub const APPEND_DATA: u32 = 0x4;
    pub const DELETE_CHILD: u32 = 0x40;
    pub const DELETE: u32 = 0x1_0000;
    pub const WRITE_DAC: u32 = 0x4_0000;
    pub const WRITE_OWNER: u32 = 0x8_0000;
    pub const GENERIC_ALL: u32 = 0x1000_0000;
    pub const GENERIC_EXECUTE: u32 = 0x2000_0000;
    pub const GENERIC_WRITE: u32 = 0x4000_0000;
    pub const GENERIC_READ: u32 = 0x8000_0000;
    /// FILE_ALL_ACCESS (`FA`).
    pub const ALL: u32 = 0x1f_01ff;
    /// FILE_GENERIC_READ (`FR`).
    pub const READ: u32 = 0x12_0089;
    /// FILE_GENERIC_WRITE (`FW`).
    pub const WRITE: u32 = 0x12_0116;
    /// FILE_GENERIC_EXECUTE (`FX`).
    pub const EXECUTE: u32 = 0x12_00a0;
    /// Read and execute (icacls `RX`).
    pub const READ_EXECUTE: u32 = 0x12_00a9;
    /// Modify (icacls `M`): read, write, execute, delete; not the access list or the owner.
    pub const MODIFY: u32 = 0x13_01bf;

    /// The mask with generic rights replaced by what they mean for a file.
    pub fn specific(mask: u32) -> u32 {
        let mut m = mask & !(GENERIC_ALL | GENERIC_EXECUTE | GENERIC_WRITE | GENERIC_READ);
        for (generic, meaning) in
            [(GENERIC_ALL, ALL), (GENERIC_READ, READ), (GENERIC_WRITE, WRITE), (GENERIC_EXECUTE, EXECUTE)]
        {
            if mask & generic != 0 {
                m |= meaning;
            }
        }
        m
    }
}

// The access lists `install` gives. `P`: protected, nothing inherited from above (C:\ lets every
// signed-in user read what is made in a folder at its root, and change it).

/// The configuration's folder: Administrators and SYSTEM full control, here and below; the service reads
/// and runs what is in it (the configuration, programs kept there), may add files to the folder itself (a
/// new log after a rotation) and may change the files it added (CREATOR OWNER, inherited by files only).
pub fn folder_sddl(service: &str) -> String {
    format!(
        "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;{rx:#x};;;{service})(A;;{add:#x};;;{service})(A;OIIO;{m:#x};;;CO)",
        rx = rights::READ_EXECUTE,
        add = rights::WRITE_DATA,
        m = rights::MODIFY
    )
}

/// The configuration file: the service reads it; only Administrators and SYSTEM change it.
pub fn config_sddl(service: &str) -> String {
    format!("O:BAD:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FR;;;{service})")
}

/// The journal and the logs: the service changes them.
pub fn writable_file_sddl(service: &str) -> String {
    format!("O:BAD:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;{m:#x};;;{service})", m = rights::MODIFY)
}

/// A folder of the service's own inside the configuration's folder (`[files] work_dir`, a `file`
/// printer's folder there): the service changes everything in it.
pub fn data_folder_sddl(service: &str) -> String {
    format!("O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;{m:#x};;;{service})", m = rights::MODIFY)
}

/// The entry added for the service to a folder it writes into elsewhere (its other entries are kept).
pub fn grant_ace(service: &str) -> String {
    format!("(A;OICI;{m:#x};;;{service})", m = rights::MODIFY)
}

/// The access list `existing` with `ace` added among its own entries (the inherited ones are left to
/// Windows, which adds them again): `None` when it is there already. A protected list stays protected.
pub fn with_ace(existing: &str, ace: &str) -> Result<Option<String>, String> {
    let d = parse(existing)?;
    let Dacl::List(aces) = &d.dacl else {
        return Err("it has no access list (everyone may change it): set one first".into());
    };
    if aces.iter().any(|a| a.raw == ace) {
        return Ok(None);
    }
    let own: String = aces.iter().filter(|a| !a.inherited).map(|a| a.raw.as_str()).collect();
    Ok(Some(format!("D:{}{own}{ace}", if d.protected { "P" } else { "" })))
}

/// A parsed security descriptor: its owner and its access list (DACL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// The owner's SID (`S-1-...`; an alias only for domain-relative ones such as `DU`).
    pub owner: Option<String>,
    pub dacl: Dacl,
    /// Nothing is inherited from the parent (`D:P`).
    pub protected: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dacl {
    /// No access list (`D:NO_ACCESS_CONTROL`, or none at all): everyone may do everything.
    Null,
    List(Vec<Ace>),
}

/// One access control entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ace {
    /// Grants (A, OA, XA, ZA); otherwise denies (or is of a kind that grants nothing).
    pub allow: bool,
    /// Inherit-only (IO): for what is created below, not for this file or folder.
    pub inherit_only: bool,
    /// Inherited from the parent (ID).
    pub inherited: bool,
    pub mask: u32,
    /// `S-1-...`; a domain-relative alias (`DU`) as written.
    pub sid: String,
    /// The entry as written, parentheses included.
    pub raw: String,
}

/// SDDL's aliases of well-known SIDs.
const ALIASES: &[(&str, &str)] = &[
    ("WD", "S-1-1-0"),
    ("AU", "S-1-5-11"),
    ("BU", "S-1-5-32-545"),
    ("IU", "S-1-5-4"),
    ("BG", "S-1-5-32-546"),
    ("AN", "S-1-5-7"),
    ("NU", "S-1-5-2"),
    ("SU", "S-1-5-6"),
    ("SY", "S-1-5-18"),
    ("LS", "S-1-5-19"),
    ("NS", "S-1-5-20"),
    ("BA", "S-1-5-32-544"),
    ("PU", "S-1-5-32-547"),
    ("AO", "S-1-5-32-548"),
    ("SO", "S-1-5-32-549"),
    ("PO", "S-1-5-32-550"),
    ("BO", "S-1-5-32-551"),
    ("RE", "S-1-5-32-552"),
    ("RU", "S-1-5-32-554"),
    ("RD", "S-1-5-32-555"),
    ("NO", "S-1-5-32-556"),
    ("CO", "S-1-3-0"),
    ("CG", "S-1-3-1"),
    ("OW", "S-1-3-4"),
    ("PS", "S-1-5-10"),
    ("RC", "S-1-5-12"),
    ("WR", "S-1-5-33"),
    ("ED", "S-1-5-9"),
    ("AC", "S-1-15-2-1"),
];

/// The SID an SDDL account names, as `S-1-...` (domain-relative aliases stay as they are).
fn normalize_sid(token: &str) -> String {
    ALIASES.iter().find(|(a, _)| *a == token).map(|(_, sid)| (*sid).to_owned()).unwrap_or_else(|| token.to_owned())
}

/// SDDL's names of access rights.
const RIGHTS: &[(&str, u32)] = &[
    ("GA", rights::GENERIC_ALL),
    ("GR", rights::GENERIC_READ),
    ("GW", rights::GENERIC_WRITE),
    ("GX", rights::GENERIC_EXECUTE),
    ("RC", 0x2_0000),
    ("SD", rights::DELETE),
    ("WD", rights::WRITE_DAC),
    ("WO", rights::WRITE_OWNER),
    ("CC", 0x1),
    ("DC", 0x2),
    ("LC", 0x4),
    ("SW", 0x8),
    ("RP", 0x10),
    ("WP", 0x20),
    ("DT", 0x40),
    ("LO", 0x80),
    ("CR", 0x100),
    ("FA", rights::ALL),
    ("FR", rights::READ),
    ("FW", rights::WRITE),
    ("FX", rights::EXECUTE),
    ("KA", 0xf_003f),
    ("KR", 0x2_0019),
    ("KW", 0x2_0006),
    ("KX", 0x2_0019),
    ("NR", 0x2),
    ("NW", 0x1),
    ("NX", 0x4),
];

fn parse_rights(text: &str) -> Result<u32, String> {
    let t = text.trim();
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u32::from_str_radix(hex, 16).map_err(|_| format!("unreadable rights {t:?}"));
    }
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()) {
        return t.parse().map_err(|_| format!("unreadable rights {t:?}"));
    }
    let mut mask = 0;
    for code in codes(t).ok_or_else(|| format!("unreadable rights {t:?}"))? {
        mask |= RIGHTS.iter().find(|(c, _)| *c == code).map(|(_, m)| *m).ok_or(format!("unknown right {code:?}"))?;
    }
    Ok(mask)
}

/// Two-letter codes one after the other (`OICIIO`, `CCDCLC`), or `None`.
fn codes(t: &str) -> Option<Vec<&str>> {
    if !t.is_ascii() {
        return None;
    }
    let list: Vec<&str> = t.as_bytes().chunks(2).filter_map(|c| std::str::from_utf8(c).ok()).collect();
    list.iter().all(|c| c.len() == 2).then_some(list)
}

/// The SID at the start of `s` (`S-1-5-...` or a two-letter alias) and what follows it.
fn take_sid(s: &str) -> Result<(&str, &str), String> {
    if let Some(number) = s.strip_prefix("S-") {
        let end = number.find(|c: char| !(c.is_ascii_digit() || c == '-')).map_or(s.len(), |i| i + 2);
        return Ok(s.split_at(end));
    }
    match s.get(..2) {
        Some(alias) if alias.chars().all(|c| c.is_ascii_uppercase()) => Ok(s.split_at(2)),
        _ => Err(format!("unreadable account at {s:?}")),
    }
}

fn parse_ace(raw: &str) -> Result<Ace, String> {
    let inner = &raw[1..raw.len() - 1];
    let fields: Vec<&str> = inner.splitn(7, ';').collect();
    if fields.len() < 6 {
        return Err(format!("unreadable entry {raw:?}"));
    }
    let flag_codes = codes(fields[1]).ok_or_else(|| format!("unreadable entry flags in {raw:?}"))?;
    let (sid, rest) = take_sid(fields[5].trim())?;
    if !rest.is_empty() {
        return Err(format!("unreadable account in {raw:?}"));
    }
    Ok(Ace {
        allow: matches!(fields[0], "A" | "OA" | "XA" | "ZA"),
        inherit_only: flag_codes.contains(&"IO"),
        inherited: flag_codes.contains(&"ID"),
        mask: parse_rights(fields[2])?,
        sid: normalize_sid(sid),
        raw: raw.to_owned(),
    })
}

/// Reads a security descriptor in SDDL (`O:..G:..D:..S:..`), as Windows writes it
/// (`ConvertSecurityDescriptorToStringSecurityDescriptorW`).
pub fn parse(sddl: &str) -> Result<Descriptor, String> {
    let mut rest = sddl.trim();
    let mut owner = None;
    let mut dacl = None;
    let mut protected = false;
    while !rest.is_empty() {
        let Some(tag) = rest.get(..2) else { return Err(format!("unreadable at {rest:?}")) };
        rest = &rest[2..];
        match tag {
            "O:" | "G:" => {
                let (sid, after) = take_sid(rest)?;
                if tag == "O:" {
                    owner = Some(normalize_sid(sid));
                }
                rest = after;
            }
            "D:" | "S:" => {
                let mut null = false;
                let mut prot = false;
                loop {
                    if let Some(r) = rest.strip_prefix("NO_ACCESS_CONTROL") {
                        null = true;
                        rest = r;
                    } else if let Some(r) = rest.strip_prefix("AI").or_else(|| rest.strip_prefix("AR")) {
                        rest = r;
                    } else if let Some(r) = rest.strip_prefix('P') {
                        prot = true;
                        rest = r;
                    } else {
                        break;
                    }
                }
                let mut aces = Vec::new();
                while rest.starts_with('(') {
                    // Conditional entries hold parentheses of their own.
                    let mut depth = 0usize;
                    let mut end = None;
                    for (i, c) in rest.char_indices() {
                        match c {
                            '(' => depth += 1,
                            ')' => {
                                depth -= 1;
                                if depth == 0 {
                                    end = Some(i);
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                    let end = end.ok_or_else(|| format!("unclosed entry at {rest:?}"))?;
                    aces.push(parse_ace(&rest[..=end])?);
                    rest = &rest[end + 1..];
                }
                if tag == "D:" {
                    protected = prot;
                    dacl = Some(if null { Dacl::Null } else { Dacl::List(aces) });
                }
            }
            _ => return Err(format!("unreadable at {tag}{rest}")),
        }
    }
    Ok(Descriptor { owner, dacl: dacl.unwrap_or(Dacl::Null), protected })
}

/// The groups every signed-in user (or every service, or anyone at all) is in, with their names; `None`
/// for any other account.
pub fn broad_group(sid: &str) -> Option<&'static str> {
    let fixed = match sid {
        "S-1-1-0" => Some("Everyone"),
        "S-1-5-11" => Some("Authenticated Users"),
        "S-1-5-32-545" => Some("Users"),
        "S-1-5-4" => Some("INTERACTIVE"),
        "S-1-5-32-546" => Some("Guests"),
        "S-1-5-7" => Some("ANONYMOUS LOGON"),
        "S-1-5-2" => Some("NETWORK"),
        "S-1-5-1" => Some("DIALUP"),
        "S-1-2-0" => Some("LOCAL"),
        "S-1-2-1" => Some("CONSOLE LOGON"),
        "S-1-5-14" => Some("REMOTE INTERACTIVE LOGON"),
        "S-1-5-15" => Some("This Organization"),
        "S-1-5-113" => Some("Local account"),
        "S-1-5-6" => Some("SERVICE (every service)"),
        "S-1-5-80-0" => Some("ALL SERVICES"),
        "S-1-5-32-547" => Some("Power Users"),
        "S-1-5-32-554" => Some("Pre-Windows 2000 Compatible Access"),
        "S-1-5-32-555" => Some("Remote Desktop Users"),
        "DU" => Some("Domain Users"),
        "DG" => Some("Domain Guests"),
        "DC" => Some("Domain Computers"),
        "LG" => Some("Guest"),
        _ => None,
    };
    if fixed.is_some() {
        return fixed;
    }
    // A machine's or domain's own groups: S-1-5-21-a-b-c-RID.
    let rid = sid.strip_prefix("S-1-5-21-").and_then(|r| {
        let parts: Vec<&str> = r.split('-').collect();
        (parts.len() == 4).then(|| parts[3])
    });
    match rid {
        Some("513") => Some("Domain Users (None on a PC without a domain: every local user)"),
        Some("514") => Some("Domain Guests"),
        Some("515") => Some("Domain Computers"),
        Some("501") => Some("Guest"),
        _ => None,
    }
}

/// Accounts whose access is as it should be: SYSTEM, Administrators, services (`NT SERVICE\...`,
/// TrustedInstaller among them), domain and enterprise admins, local administrator accounts, Server and
/// Backup Operators (who may read every file anyway), and the creator placeholders (which stand for no one
/// on an existing file).
fn trusted(sid: &str) -> bool {
    matches!(sid, "S-1-5-18" | "S-1-5-32-544" | "S-1-5-114" | "S-1-5-32-549" | "S-1-5-32-551" | "S-1-3-0" | "S-1-3-1")
        || matches!(sid, "DA" | "EA" | "SA")
        || (sid.starts_with("S-1-5-80-") && sid != "S-1-5-80-0")
        || sid.strip_prefix("S-1-5-21-").is_some_and(|r| r.ends_with("-512") || r.ends_with("-519"))
}

/// What a file or folder must not let ordinary users do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// Neither read nor change (the configuration: it holds the database password).
    Secret,
    /// Not change (a program the service runs, the journal).
    Unchangeable,
    /// Not add, remove, rename or replace what is in it (a folder holding any of those).
    Folder,
}

impl Guard {
    fn refused_rights(self) -> u32 {
        use rights::*;
        let change = WRITE_DATA | APPEND_DATA | DELETE | WRITE_DAC | WRITE_OWNER;
        match self {
            Guard::Secret => READ_DATA | change,
            Guard::Unchangeable => change,
            Guard::Folder => change | DELETE_CHILD,
        }
    }
}

/// An account's access to a file or folder beyond what it should have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    pub sid: String,
    /// The group's name, for the broad groups; the SID otherwise (Windows names it when it can).
    pub who: String,
    pub reads: bool,
    pub changes: bool,
    /// The file's owner, who may always change its access list.
    pub owner: bool,
}

impl Exposure {
    fn says(&self) -> String {
        let what = match (self.reads, self.changes) {
            (true, true) => "can read and change it",
            (true, false) => "can read it",
            _ => "can change it",
        };
        // An owner may always change the access list, so may give itself any right.
        let owns = if self.owner { "owns it and " } else { "" };
        format!("{} {owns}{what}", self.who)
    }
}

/// What an access list lets others do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Judgement {
    /// No access list at all: everyone may do everything.
    pub no_list: bool,
    /// Broad groups with rights they must not have: refused.
    pub refused: Vec<Exposure>,
    /// Other accounts (a person's own account, a group of the domain) with such rights: said, not refused;
    /// they should be administrators.
    pub noted: Vec<Exposure>,
}

impl Judgement {
    pub fn ok(&self) -> bool {
        !self.no_list && self.refused.is_empty()
    }
}

/// Judges an access list. Deny entries are not counted (an allow of a broad group is refused even when a
/// deny before it would stop some of its members): only a list without such allows passes.
pub fn judge(d: &Descriptor, guard: Guard) -> Judgement {
    let mut j = Judgement::default();
    let aces = match &d.dacl {
        Dacl::Null => {
            j.no_list = true;
            return j;
        }
        Dacl::List(aces) => aces,
    };
    let refused = guard.refused_rights();
    let mut found: Vec<Exposure> = Vec::new();
    for a in aces.iter().filter(|a| a.allow && !a.inherit_only) {
        let m = rights::specific(a.mask) & refused;
        if m == 0 || trusted(&a.sid) {
            continue;
        }
        // Only a secret's refused rights hold READ_DATA (a folder's listing and a program's reading are
        // fine).
        let reads = m & rights::READ_DATA != 0;
        let changes = m & !rights::READ_DATA != 0;
        match found.iter_mut().find(|e| e.sid == a.sid) {
            Some(e) => {
                e.reads |= reads;
                e.changes |= changes;
            }
            None => found.push(Exposure {
                sid: a.sid.clone(),
                who: broad_group(&a.sid).map_or_else(|| a.sid.clone(), str::to_owned),
                reads,
                changes,
                owner: false,
            }),
        }
    }
    if let Some(owner) = d.owner.as_deref().filter(|o| !trusted(o)) {
        match found.iter_mut().find(|e| e.sid == owner) {
            Some(e) => e.owner = true,
            None => found.push(Exposure {
                sid: owner.to_owned(),
                who: broad_group(owner).map_or_else(|| owner.to_owned(), str::to_owned),
                reads: false,
                changes: true,
                owner: true,
            }),
        }
    }
    for e in found {
        if broad_group(&e.sid).is_some() {
            j.refused.push(e);
        } else {
            j.noted.push(e);
        }
    }
    j
}

/// The files `install` protects and `check` looks at, for one configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The configuration file (absolute).
    pub config: PathBuf,
    /// Its folder.
    pub folder: PathBuf,
    /// The journal of jobs sent.
    pub journal: PathBuf,
    /// The service's log and its rotated files.
    pub logs: Vec<PathBuf>,
    /// Folders the service writes into: `[files] work_dir`, each `file` printer's folder.
    pub data_folders: Vec<PathBuf>,
    /// Programs the service runs, given by path: each command printer's print and status command.
    pub programs: Vec<(String, PathBuf)>,
}

impl Layout {
    /// Where the worker keeps its files with the configuration `config_path` (absolute) holding `config`.
    /// Relative paths in it are relative to its folder, where the service starts.
    pub fn of(config_path: &Path, config: &Config) -> Layout {
        let folder = config_path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
        let resolve = |p: &Path| if p.is_absolute() { p.to_path_buf() } else { folder.join(p) };
        // As `worker run` names it (main.rs, `default_journal_path`): beside the configuration, after it.
        let journal = match &config.worker.journal_path {
            Some(p) => resolve(p),
            None => {
                let stem = config_path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "worker".into());
                folder.join(format!("{stem}.journal.jsonl"))
            }
        };
        let log = crate::logfile::beside(config_path);
        let mut logs = vec![log.clone()];
        logs.extend((1..=crate::logfile::DEFAULT_KEEP).map(|n| crate::logfile::rotated(&log, n)));
        let mut data_folders: Vec<PathBuf> = config.files.work_dir.iter().map(|p| resolve(p)).collect();
        data_folders.extend(
            config.printers.iter().filter(|p| p.backend == "file").filter_map(|p| p.folder.as_deref()).map(resolve),
        );
        let mut programs = Vec::new();
        for p in config.printers.iter().filter(|p| p.backend == "command") {
            for (kind, cmd) in [("print command", &p.print_command), ("status command", &p.status_command)] {
                let Some(program) = cmd.as_ref().and_then(|c| c.first()) else { continue };
                let path = Path::new(program);
                // A bare name is looked up on PATH, like any command: not a file of this installation.
                if path.is_absolute() || path.components().count() > 1 {
                    programs.push((format!("printer {:?}'s {kind}", p.id), resolve(path)));
                }
            }
        }
        Layout { config: config_path.to_path_buf(), folder, journal, logs, data_folders, programs }
    }
}

/// Whether `p` is `dir` or inside it (Windows compares names without regard to case).
pub fn inside(p: &Path, dir: &Path) -> bool {
    let lower = |p: &Path| p.components().map(|c| c.as_os_str().to_string_lossy().to_lowercase()).collect::<Vec<_>>();
    let (p, dir) = (lower(p), lower(dir));
    p.len() >= dir.len() && p[..dir.len()] == dir[..]
}

/// Why `install` will not give `folder` an access list of its own: a drive's root, a folder Windows or
/// its users share (Windows, Program Files, ProgramData, Users, a user's profile or desktop...). `None`
/// for a folder of the worker's own such as `C:\printcore`.
pub fn folder_problem(folder: &str) -> Option<String> {
    let text = folder.strip_prefix(r"\\?\").unwrap_or(folder).replace('/', "\\");
    let parts: Vec<&str> = text.split('\\').filter(|p| !p.is_empty()).collect();
    let root_only = parts.is_empty()
        || (parts.len() == 1 && parts[0].ends_with(':'))
        || (text.starts_with(r"\\") && parts.len() <= 2);
    if root_only {
        return Some(format!("{folder} is the root of a drive"));
    }
    const SHARED: &[&str] = &[
        "windows",
        "system32",
        "syswow64",
        "program files",
        "program files (x86)",
        "programdata",
        "users",
        "public",
        "desktop",
        "documents",
        "downloads",
        "appdata",
        "local",
        "roaming",
        "temp",
        "tmp",
        "onedrive",
    ];
    let last = parts.last().map(|p| p.to_lowercase()).unwrap_or_default();
    if SHARED.contains(&last.as_str()) {
        return Some(format!("{folder} is a folder Windows or its users share"));
    }
    // C:\Users\<someone>: a user's profile.
    if parts.len() == 3 && parts[1].eq_ignore_ascii_case("users") {
        return Some(format!("{folder} is a user's profile"));
    }
    if parts.len() > 1 && parts[1].eq_ignore_ascii_case("windows") {
        return Some(format!("{folder} is Windows' own"));
    }
    None
}

/// What `install` does to one file or folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Set {
    /// Replaces the owner (Administrators) and the access list with this protected one.
    Replace(String),
    /// Adds this entry to the access list, keeping the rest.
    Add(String),
}

/// One file or folder `install` sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub path: PathBuf,
    /// Said to the person installing.
    pub what: String,
    pub dir: bool,
    /// Created when missing (a folder, or an empty file); otherwise skipped when missing.
    pub create: bool,
    pub set: Set,
    /// What the list set must pass when read back (a replaced list; an added entry is not checked).
    pub guard: Guard,
}

/// What `install` sets, in order (the folder first: setting it rewrites what its files inherit, and the
/// files with lists of their own are set after it). Refuses a configuration whose folder is not the
/// worker's own.
pub fn install_steps(layout: &Layout, service_name: &str) -> Result<Vec<Step>, String> {
    let sid = service_sid(service_name);
    let account = service_account(service_name);
    let folder_text = layout.folder.display().to_string();
    if let Some(problem) = folder_problem(&folder_text) {
        return Err(format!(
            "{problem}: put the configuration in a folder of its own, such as C:\\printcore (install gives \
             that folder an access list that lets only administrators and the service in)"
        ));
    }
    let step = |path: &Path, what: String, dir: bool, create: bool, set: Set| Step {
        path: path.to_path_buf(),
        what,
        dir,
        create,
        set,
        guard: if dir { Guard::Folder } else { Guard::Unchangeable },
    };
    let mut steps = vec![
        step(
            &layout.folder,
            format!("{folder_text}: Administrators, SYSTEM: full control; {account}: read, and add its logs"),
            true,
            false,
            Set::Replace(folder_sddl(&sid)),
        ),
        Step {
            guard: Guard::Secret,
            ..step(
                &layout.config,
                format!("{}: Administrators, SYSTEM: full control; {account}: read only", layout.config.display()),
                false,
                false,
                Set::Replace(config_sddl(&sid)),
            )
        },
        step(
            &layout.journal,
            format!("{}: {account}: modify", layout.journal.display()),
            false,
            true,
            Set::Replace(writable_file_sddl(&sid)),
        ),
    ];
    for log in &layout.logs {
        steps.push(step(
            log,
            format!("{}: {account}: modify", log.display()),
            false,
            false,
            Set::Replace(writable_file_sddl(&sid)),
        ));
    }
    for dir in &layout.data_folders {
        if inside(&layout.folder, dir) {
            return Err(format!(
                "{} is the configuration's own folder: give the worker's files a folder below it or elsewhere",
                dir.display()
            ));
        }
        let set =
            if inside(dir, &layout.folder) { Set::Replace(data_folder_sddl(&sid)) } else { Set::Add(grant_ace(&sid)) };
        steps.push(step(dir, format!("{}: {account}: modify", dir.display()), true, true, set));
    }
    Ok(steps)
}

/// Warnings `install` gives about where the programs are: a program in the configuration's folder loads
/// DLLs from there first, the service may add files to that folder (its logs), and until `install` every
/// signed-in user could (a folder at the root of C:\). `dlls` are the DLLs found in the folder.
pub fn install_warnings(layout: &Layout, exe: &Path, dlls: &[PathBuf]) -> Vec<String> {
    let mut lines: Vec<String> = dlls
        .iter()
        .map(|d| {
            format!(
                "warning: {} is a DLL in the configuration's folder, which others could write to until now: \
                 delete it unless you put it there",
                d.display()
            )
        })
        .collect();
    let mut programs = vec![("the worker".to_owned(), exe.to_path_buf())];
    programs.extend(layout.programs.iter().cloned());
    for (what, path) in programs {
        if path.parent().is_some_and(|p| inside(p, &layout.folder) && inside(&layout.folder, p)) {
            lines.push(format!(
                "warning: {what} ({}) is in the configuration's folder, where the service may add files (its \
                 logs) and a program looks for DLLs first: move it to a folder only administrators change, \
                 such as C:\\Program Files\\printcore",
                path.display()
            ));
        }
    }
    lines
}

/// A file or folder `check` looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub path: PathBuf,
    pub what: String,
    pub guard: Guard,
    /// Required: a missing one is a failure (the configuration); others are skipped when missing.
    pub required: bool,
}

/// What `check` looks at: the configuration (no reading, no changing), its folder, the journal, the
/// worker's own program and the print commands' programs given by path, with their folders.
pub fn checked(layout: &Layout, exe: Option<&Path>) -> Vec<Checked> {
    let mut list = vec![
        Checked {
            path: layout.config.clone(),
            what: "the configuration, which holds the database password".into(),
            guard: Guard::Secret,
            required: true,
        },
        Checked {
            path: layout.folder.clone(),
            what: "the configuration's folder".into(),
            guard: Guard::Folder,
            required: true,
        },
        Checked {
            path: layout.journal.clone(),
            what: "the journal of jobs sent".into(),
            guard: Guard::Unchangeable,
            required: false,
        },
    ];
    let mut programs: Vec<(String, PathBuf)> =
        exe.map(|e| ("the worker's program".to_owned(), e.to_path_buf())).into_iter().collect();
    programs.extend(layout.programs.iter().cloned());
    for (what, path) in programs {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            list.push(Checked {
                path: dir.to_path_buf(),
                what: format!("the folder of {what}"),
                guard: Guard::Folder,
                required: false,
            });
        }
        list.push(Checked { path, what, guard: Guard::Unchangeable, required: false });
    }
    let mut seen = Vec::new();
    list.retain(|c| {
        let key = c.path.to_string_lossy().to_lowercase();
        if seen.contains(&key) {
            return false;
        }
        seen.push(key);
        true
    });
    list
}

/// `check`'s verdict on one file or folder whose access list read as `sddl` (or could not be read):
/// lines to show, and whether it passes. `names` turns a SID into an account's name where it can.
pub fn report(
    c: &Checked,
    sddl: Result<&str, &str>,
    layout: &Layout,
    names: &dyn Fn(&str) -> Option<String>,
) -> (Vec<String>, bool) {
    let path = c.path.display();
    let install_fix = format!(
        "fix: as administrator, `worker --config \"{}\" service install` (it sets the access lists of the \
         folder and its files, also when the service is installed already)",
        layout.config.display()
    );
    let sddl = match sddl {
        Ok(s) => s,
        Err(e) => return (vec![format!("access: {path} ({}): cannot read its access list: {e}", c.what)], !c.required),
    };
    let j = match parse(sddl) {
        Ok(d) => judge(&d, c.guard),
        Err(e) => {
            return (
                vec![format!("access: {path} ({}): its access list {sddl:?} is unreadable here: {e}", c.what)],
                false,
            )
        }
    };
    let named = |e: &Exposure| {
        if broad_group(&e.sid).is_some() {
            e.says()
        } else {
            let who = names(&e.sid).map_or_else(|| e.sid.clone(), |n| format!("{n} ({})", e.sid));
            Exposure { who, ..e.clone() }.says()
        }
    };
    let mut lines = Vec::new();
    let by_install = inside(&c.path, &layout.folder) || c.path == layout.journal;
    if j.no_list {
        lines.push(format!(
            "access: {path} ({}): REFUSED: it has no access list (a NULL DACL): everyone may read and change it",
            c.what
        ));
    } else if !j.refused.is_empty() {
        let who: Vec<String> = j.refused.iter().map(named).collect();
        lines.push(format!("access: {path} ({}): REFUSED: {}", c.what, who.join("; ")));
    }
    if !j.ok() {
        if by_install {
            lines.push(format!("  {install_fix}"));
        } else {
            let sids: Vec<String> =
                j.refused.iter().filter(|e| e.sid.starts_with("S-")).map(|e| format!("*{}", e.sid)).collect();
            lines.push(format!(
                "  fix: keep it where only administrators change it (programs: C:\\Program Files\\...), or, as \
                 administrator: icacls \"{}\" /inheritance:d, then icacls \"{}\" /remove:g {}",
                c.path.display(),
                c.path.display(),
                if sids.is_empty() { "<the accounts above>".into() } else { sids.join(" ") }
            ));
        }
    }
    for e in &j.noted {
        lines.push(format!("access: {path}: note: {}: make sure that is an administrator's account", named(e)));
    }
    let ok = j.ok();
    if ok && j.noted.is_empty() {
        lines.push(format!("access: {path}: ok"));
    }
    (lines, ok)
}

/// Why an installed service's account is wrong for the worker (`None`: its own virtual account).
pub fn account_problem(name: &str, account: &str) -> Option<String> {
    let a = account.trim().to_ascii_lowercase();
    let system = ["localsystem", ".\\localsystem", "nt authority\\system", "system"].contains(&a.as_str());
    if system {
        return Some(format!(
            "the service {name:?} runs as LocalSystem, with every right on this PC: reinstall it to run as {} \
             (as administrator: `worker service uninstall`, then `worker --config ... service install`)",
            service_account(name)
        ));
    }
    None
}

/// `worker check`'s part on Windows: the lines to show and whether all passed.
#[derive(Debug, Clone, Default)]
pub struct Access {
    pub lines: Vec<String>,
    pub ok: bool,
}

/// Looks at the access lists of the worker's files (Windows; elsewhere nothing is looked at) and at the
/// account of the service installed under the default name.
pub fn check_access(config_path: Option<&Path>, config: &Config) -> Access {
    #[cfg(windows)]
    {
        imp::check_access(config_path, config)
    }
    #[cfg(not(windows))]
    {
        let _ = (config_path, config);
        Access { lines: Vec::new(), ok: true }
    }
}

#[cfg(windows)]
pub use imp::apply;

#[cfg(windows)]
mod imp {
    use super::{account_problem, checked, report, Access, Layout, Set, Step};
    use crate::config::Config;
    use std::path::Path;
    use windows_sys::Win32::Foundation::{LocalFree, ERROR_SUCCESS};
    use windows_sys::Win32::Security::Authorization::{
        ConvertSecurityDescriptorToStringSecurityDescriptorW, ConvertStringSecurityDescriptorToSecurityDescriptorW,
        ConvertStringSidToSidW, SetNamedSecurityInfoW, SDDL_REVISION_1, SE_FILE_OBJECT,
    };
    use windows_sys::Win32::Security::{
        GetFileSecurityW, GetSecurityDescriptorDacl, GetSecurityDescriptorOwner, LookupAccountSidW, SetFileSecurityW,
        ACL, DACL_SECURITY_INFORMATION, OWNER_SECURITY_INFORMATION, PROTECTED_DACL_SECURITY_INFORMATION,
        PSECURITY_DESCRIPTOR, PSID, UNPROTECTED_DACL_SECURITY_INFORMATION,
    };

    /// A path as a NUL-terminated UTF-16 string, without the `\\?\` prefix `canonicalize` adds to a
    /// drive path.
    fn wide(path: &Path) -> Vec<u16> {
        let text = path.as_os_str().to_string_lossy();
        let plain = match text.strip_prefix(r"\\?\") {
            Some(rest) if rest.as_bytes().get(1) == Some(&b':') => rest.to_owned(),
            _ => text.into_owned(),
        };
        plain.encode_utf16().chain(Some(0)).collect()
    }

    fn text_wide(s: &str) -> Vec<u16> {
        s.encode_utf16().chain(Some(0)).collect()
    }

    fn last_error() -> std::io::Error {
        std::io::Error::last_os_error()
    }

    /// A security descriptor Windows allocated (freed with LocalFree).
    struct Local(PSECURITY_DESCRIPTOR);

    impl Drop for Local {
        fn drop(&mut self) {
            // SAFETY: a pointer Windows allocated with LocalAlloc, freed once.
            unsafe {
                LocalFree(self.0);
            }
        }
    }

    /// A file's or folder's owner and access list, as SDDL.
    pub fn read_sddl(path: &Path) -> Result<String, String> {
        let name = wide(path);
        let info = OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION;
        let mut need = 0u32;
        // SAFETY: a null buffer of length 0 asks for the size; `name` is NUL-terminated.
        unsafe { GetFileSecurityW(name.as_ptr(), info, std::ptr::null_mut(), 0, &mut need) };
        if need == 0 {
            return Err(last_error().to_string());
        }
        let mut buf = vec![0u64; (need as usize).div_ceil(8)];
        // SAFETY: the buffer holds `need` bytes, aligned for a descriptor.
        if unsafe { GetFileSecurityW(name.as_ptr(), info, buf.as_mut_ptr().cast(), need, &mut need) } == 0 {
            return Err(last_error().to_string());
        }
        let mut text: *mut u16 = std::ptr::null_mut();
        let mut len = 0u32;
        // SAFETY: `buf` holds the descriptor GetFileSecurityW wrote; Windows allocates `text`.
        if unsafe {
            ConvertSecurityDescriptorToStringSecurityDescriptorW(
                buf.as_mut_ptr().cast(),
                SDDL_REVISION_1,
                info,
                &mut text,
                &mut len,
            )
        } == 0
        {
            return Err(last_error().to_string());
        }
        let _free = Local(text.cast());
        // SAFETY: Windows wrote `len` characters (the NUL among them) at `text`.
        let chars = unsafe { std::slice::from_raw_parts(text, len as usize) };
        Ok(String::from_utf16_lossy(chars).trim_end_matches('\0').to_owned())
    }

    /// Sets `sddl`'s owner (when it has one) and access list on `path`, protected or not.
    fn write_sddl(path: &Path, sddl: &str, protected: bool) -> Result<(), String> {
        let text = text_wide(sddl);
        let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: `text` is NUL-terminated; Windows allocates `sd`.
        if unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                text.as_ptr(),
                SDDL_REVISION_1,
                &mut sd,
                std::ptr::null_mut(),
            )
        } == 0
        {
            return Err(format!("the access list {sddl:?} was refused: {}", last_error()));
        }
        let _free = Local(sd);
        let (mut owner, mut dacl): (PSID, *mut ACL) = (std::ptr::null_mut(), std::ptr::null_mut());
        let (mut defaulted, mut present) = (0, 0);
        // SAFETY: `sd` is the descriptor Windows built; the out-pointers point into it.
        unsafe {
            GetSecurityDescriptorOwner(sd, &mut owner, &mut defaulted);
            GetSecurityDescriptorDacl(sd, &mut present, &mut dacl, &mut defaulted);
        }
        let mut info = DACL_SECURITY_INFORMATION
            | if protected { PROTECTED_DACL_SECURITY_INFORMATION } else { UNPROTECTED_DACL_SECURITY_INFORMATION };
        if !owner.is_null() {
            info |= OWNER_SECURITY_INFORMATION;
        }
        let name = wide(path);
        // SAFETY: `name` is NUL-terminated; owner and dacl point into `sd`, alive until `_free` drops.
        let e = unsafe {
            SetNamedSecurityInfoW(
                name.as_ptr(),
                SE_FILE_OBJECT,
                info,
                owner,
                std::ptr::null_mut(),
                dacl,
                std::ptr::null(),
            )
        };
        let denied = |io: std::io::Error| {
            if io.raw_os_error() == Some(5) {
                format!("access denied ({io}): open the command prompt with \"Run as administrator\"")
            } else {
                io.to_string()
            }
        };
        if e != ERROR_SUCCESS {
            return Err(denied(std::io::Error::from_raw_os_error(e as i32)));
        }
        // The same list once more, as it is: SetNamedSecurityInfoW has set it and (for a folder) rewritten
        // what the folder's files inherit; wine 8's adds the parent's inheritable entries to a protected
        // list, its SetFileSecurityW does not. On Windows this sets what is there already.
        if protected {
            let info = DACL_SECURITY_INFORMATION | if owner.is_null() { 0 } else { OWNER_SECURITY_INFORMATION };
            // SAFETY: `name` is NUL-terminated; `sd` is a valid descriptor, alive until `_free` drops.
            if unsafe { SetFileSecurityW(name.as_ptr(), info, sd) } == 0 {
                return Err(denied(last_error()));
            }
        }
        Ok(())
    }

    /// Sets the access lists `install` gives; returns what it set.
    pub fn apply(steps: &[Step]) -> Result<Vec<String>, String> {
        let mut done = Vec::new();
        for s in steps {
            let fail = |e: String| format!("cannot set the access list of {}: {e}", s.path.display());
            if !s.path.exists() {
                if !s.create {
                    continue;
                }
                let made = if s.dir {
                    std::fs::create_dir_all(&s.path)
                } else {
                    s.path
                        .parent()
                        .map_or(Ok(()), std::fs::create_dir_all)
                        .and_then(|()| std::fs::OpenOptions::new().create(true).append(true).open(&s.path).map(drop))
                };
                made.map_err(|e| fail(format!("cannot create it: {e}")))?;
            }
            match &s.set {
                Set::Replace(sddl) => {
                    write_sddl(&s.path, sddl, true).map_err(fail)?;
                    // Read back: a list that did not take is an error, not a protected file.
                    let back = read_sddl(&s.path).map_err(fail)?;
                    let j = super::judge(&super::parse(&back).map_err(fail)?, s.guard);
                    if !j.ok() {
                        let who: Vec<String> = j.refused.iter().map(|e| e.says()).collect();
                        return Err(fail(format!("it reads back as {back:?}: {}", who.join("; "))));
                    }
                }
                Set::Add(ace) => {
                    let now = read_sddl(&s.path).map_err(fail)?;
                    let d = super::parse(&now).map_err(fail)?;
                    if let Some(new) = super::with_ace(&now, ace).map_err(fail)? {
                        write_sddl(&s.path, &new, d.protected).map_err(fail)?;
                    }
                }
            }
            done.push(s.what.clone());
        }
        Ok(done)
    }

    /// The account a SID names (`DOMAIN\name`), when Windows knows it.
    fn account_name(sid: &str) -> Option<String> {
        let text = text_wide(sid);
        let mut psid: PSID = std::ptr::null_mut();
        // SAFETY: `text` is NUL-terminated; Windows allocates `psid`.
        if unsafe { ConvertStringSidToSidW(text.as_ptr(), &mut psid) } == 0 {
            return None;
        }
        let _free = Local(psid);
        let (mut name, mut domain) = ([0u16; 256], [0u16; 256]);
        let (mut n, mut d, mut use_) = (256u32, 256u32, 0);
        // SAFETY: the buffers hold the lengths given.
        let ok = unsafe {
            LookupAccountSidW(std::ptr::null(), psid, name.as_mut_ptr(), &mut n, domain.as_mut_ptr(), &mut d, &mut use_)
        };
        if ok == 0 {
            return None;
        }
        let (name, domain) =
            (String::from_utf16_lossy(&name[..n as usize]), String::from_utf16_lossy(&domain[..d as usize]));
        Some(if domain.is_empty() { name } else { format!(r"{domain}\{name}") })
    }

    pub fn check_access(config_path: Option<&Path>, config: &Config) -> Access {
        let mut access = Access { lines: Vec::new(), ok: true };
        let exe = std::env::current_exe().ok();
        if let Some(path) = config_path {
            let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            let layout = Layout::of(&absolute, config);
            for c in checked(&layout, exe.as_deref()) {
                if !c.required && !c.path.exists() {
                    continue;
                }
                let sddl = read_sddl(&c.path);
                let (lines, ok) = report(&c, sddl.as_deref().map_err(String::as_str), &layout, &account_name);
                access.lines.extend(lines);
                access.ok &= ok;
            }
        }
        let name = crate::winservice::DEFAULT_NAME;
        if let Ok(Some(account)) = crate::winservice::account(name) {
            match account_problem(name, &account) {
                Some(problem) => {
                    access.lines.push(format!("service: REFUSED: {problem}"));
                    access.ok = false;
                }
                None => access.lines.push(format!("service: {name:?} runs as {account}")),
            }
        }
        access
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Published SIDs of services' virtual accounts.
    #[test]
    fn the_service_sid_is_the_one_windows_gives() {
        for (name, sid) in [
            ("TrustedInstaller", "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"),
            ("trustedinstaller", "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"),
            ("MSSQLSERVER", "S-1-5-80-3880718306-3832830129-1677859214-2598158968-1052248003"),
            ("SQLSERVERAGENT", "S-1-5-80-344959196-2060754871-2302487193-2804545603-1466107430"),
            // Published as binary SIDs (SQL Server's logins): 0x0106...50000000 5A048DDF..., 732B9753...
            ("Winmgmt", "S-1-5-80-3750560858-172214265-3889451188-1914796615-4100997547"),
            ("SQLWriter", "S-1-5-80-1402415987-66678372-3059512406-1823130485-2345841878"),
        ] {
            assert_eq!(service_sid(name), sid, "{name}");
        }
        assert_eq!(service_account("printcore-worker"), r"NT SERVICE\printcore-worker");
        let ours = service_sid("printcore-worker");
        // The same formula in Python's hashlib gives the same.
        assert_eq!(ours, "S-1-5-80-1789812363-4250745624-2778890869-3000597849-1042744599");
        assert_eq!(ours, service_sid("PRINTCORE-WORKER"));
    }

    const SVC: &str = "S-1-5-80-1-2-3-4-5";

    #[test]
    fn the_lists_install_gives_let_in_only_administrators_system_and_the_service() {
        assert_eq!(
            folder_sddl(SVC),
            "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;S-1-5-80-1-2-3-4-5)(A;;0x2;;;S-1-5-80-1-2-3-4-5)(A;OIIO;0x1301bf;;;CO)"
        );
        assert_eq!(config_sddl(SVC), "O:BAD:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FR;;;S-1-5-80-1-2-3-4-5)");
        assert_eq!(writable_file_sddl(SVC), "O:BAD:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;0x1301bf;;;S-1-5-80-1-2-3-4-5)");
        assert_eq!(
            data_folder_sddl(SVC),
            "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1301bf;;;S-1-5-80-1-2-3-4-5)"
        );
        // Each passes the check it is given for, and none grants the service more than it needs.
        let config = parse(&config_sddl(SVC)).unwrap();
        assert!(config.protected);
        assert_eq!(config.owner.as_deref(), Some("S-1-5-32-544"));
        assert!(judge(&config, Guard::Secret).ok() && judge(&config, Guard::Secret).noted.is_empty());
        let Dacl::List(aces) = &config.dacl else { panic!() };
        let service = aces.iter().find(|a| a.sid == SVC).unwrap();
        assert_eq!(rights::specific(service.mask), rights::READ, "the service only reads its configuration");
        let folder = parse(&folder_sddl(SVC)).unwrap();
        let j = judge(&folder, Guard::Folder);
        assert!(j.ok() && j.noted.is_empty(), "{j:?}");
        let Dacl::List(aces) = &folder.dacl else { panic!() };
        let on_folder: u32 =
            aces.iter().filter(|a| a.sid == SVC && !a.inherit_only).map(|a| a.mask).fold(0, |m, a| m | a);
        assert_eq!(on_folder & (rights::DELETE_CHILD | rights::DELETE | rights::APPEND_DATA | rights::WRITE_DAC), 0);
        assert_eq!(on_folder & rights::WRITE_DATA, rights::WRITE_DATA, "it may add its logs");
        // CREATOR OWNER is for files (OI) only, and never reaches an existing file.
        let co = aces.iter().find(|a| a.sid == "S-1-3-0").unwrap();
        assert!(co.inherit_only && co.raw.contains("OIIO"));
        for s in [writable_file_sddl(SVC), data_folder_sddl(SVC)] {
            let d = parse(&s).unwrap();
            assert!(judge(&d, Guard::Unchangeable).ok(), "{s}");
            let Dacl::List(aces) = &d.dacl else { panic!() };
            let m = aces.iter().find(|a| a.sid == SVC).unwrap().mask;
            assert_eq!(m & (rights::WRITE_DAC | rights::WRITE_OWNER), 0, "the service never changes who may: {s}");
        }
    }

    /// Recorded from Windows (`Get-Acl`, `GetFileSecurity` + SDDL), as published: a folder made at the
    /// root of C:\ (`mkdir C:\printcore`): Users read (RX) and Authenticated Users modify (M), inherited
    /// from C:\; its maker owns it.
    const ROOT_FOLDER: &str = "O:S-1-5-21-4132158795-2060570990-1823972835-1001G:S-1-5-21-4132158795-2060570990-1823972835-513D:AI(A;OICIID;FA;;;BA)(A;OICIID;FA;;;SY)(A;OICIID;0x1200a9;;;BU)(A;ID;0x1301bf;;;AU)(A;OICIIOID;SDGXGWGR;;;AU)";
    /// A file made there (Microsoft's example, `C:\test.txt`).
    const ROOT_FILE: &str = "D:(A;ID;FA;;;BA)(A;ID;FA;;;SY)(A;ID;0x1301bf;;;AU)(A;ID;0x1200a9;;;BU)";
    /// C:\ itself (Windows 10/11): every signed-in user may add folders (AD, `LC`).
    const DRIVE_ROOT: &str = "O:S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464G:SYD:PAI(A;OICI;FA;;;BA)(A;OICI;FA;;;SY)(A;OICI;0x1200a9;;;BU)(A;OICIIO;SDGXGWGR;;;AU)(A;;LC;;;AU)S:P(ML;OINPIO;NW;;;HI)";
    /// C:\ProgramData: Users may add files and folders (WD, AD) to it and to every folder made in it.
    const PROGRAMDATA: &str =
        "O:SYG:SYD:PAI(A;OICIIO;GA;;;CO)(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)(A;CI;DCLCRPCR;;;BU)";
    /// Derived by Windows' inheritance rules from `PROGRAMDATA`: a folder an administrator made in it, and
    /// a file made in that.
    const PROGRAMDATA_FOLDER: &str = "O:BAG:SYD:AI(A;ID;FA;;;S-1-5-21-1-2-3-1001)(A;OICIIOID;GA;;;CO)(A;OICIID;FA;;;SY)(A;OICIID;FA;;;BA)(A;OICIID;0x1200a9;;;BU)(A;CIID;DCLCRPCR;;;BU)";
    const PROGRAMDATA_FILE: &str = "O:BAG:SYD:AI(A;ID;FA;;;SY)(A;ID;FA;;;BA)(A;ID;0x1200a9;;;BU)";
    /// What wine 8 gives a file of mode 0644 (recorded: its lists come from the Unix mode).
    const WINE_0644: &str =
        "O:S-1-5-21-0-0-0-1000G:S-1-5-21-0-0-0-513D:(A;;FA;;;SY)(A;;FA;;;S-1-5-21-0-0-0-1000)(A;;0x1200a9;;;WD)";
    /// The configuration after install, as Windows writes the list back (`PAI`, FR as an alias).
    const LOCKED: &str = "O:BAG:SYD:PAI(A;;FA;;;SY)(A;;FA;;;BA)(A;;FR;;;PRINTCORE_WORKER_SID)";

    fn verdict(sddl: &str, guard: Guard) -> Judgement {
        judge(&parse(sddl).unwrap(), guard)
    }

    #[test]
    fn a_configuration_in_a_folder_made_at_the_root_of_c_is_refused() {
        let j = verdict(ROOT_FILE, Guard::Secret);
        assert!(!j.ok());
        let who: Vec<String> = j.refused.iter().map(|e| e.says()).collect();
        assert_eq!(who, ["Authenticated Users can read and change it", "Users can read it"]);
        let j = verdict(ROOT_FOLDER, Guard::Folder);
        assert_eq!(j.refused.iter().map(|e| e.says()).collect::<Vec<_>>(), ["Authenticated Users can change it"]);
        assert_eq!(j.noted.len(), 1, "the administrator who made it owns it: said, not refused: {j:?}");
        assert!(j.noted[0].owner);
        // C:\ itself: every signed-in user may add folders to it.
        let j = verdict(DRIVE_ROOT, Guard::Folder);
        assert_eq!(j.refused.iter().map(|e| e.says()).collect::<Vec<_>>(), ["Authenticated Users can change it"]);
        assert!(j.noted.is_empty(), "TrustedInstaller owns C:\\");
    }

    #[test]
    fn programdata_lets_users_read_and_add_and_is_refused() {
        let j = verdict(PROGRAMDATA, Guard::Folder);
        assert_eq!(j.refused.iter().map(|e| e.says()).collect::<Vec<_>>(), ["Users can change it"]);
        let j = verdict(PROGRAMDATA_FILE, Guard::Secret);
        assert_eq!(j.refused.iter().map(|e| e.says()).collect::<Vec<_>>(), ["Users can read it"]);
        let j = verdict(PROGRAMDATA_FOLDER, Guard::Folder);
        assert_eq!(j.refused.iter().map(|e| e.says()).collect::<Vec<_>>(), ["Users can change it"]);
        // A program there may be read and run by users, not changed: only the folder is refused.
        assert!(verdict(PROGRAMDATA_FILE, Guard::Unchangeable).ok());
    }

    #[test]
    fn a_locked_configuration_passes_and_a_null_dacl_does_not() {
        let locked = LOCKED.replace("PRINTCORE_WORKER_SID", &service_sid("printcore-worker"));
        let j = verdict(&locked, Guard::Secret);
        assert!(j.ok() && j.noted.is_empty(), "{j:?}");
        for null in
            ["D:NO_ACCESS_CONTROL", "O:BAD:NO_ACCESS_CONTROL", "O:BAG:SY", "O:BAD:PNO_ACCESS_CONTROLS:(ML;;NW;;;HI)"]
        {
            let j = verdict(null, Guard::Secret);
            assert!(j.no_list && !j.ok(), "{null}");
        }
        // An empty list lets nobody in: it passes.
        assert!(verdict("O:BAD:P", Guard::Secret).ok());
    }

    #[test]
    fn every_right_to_read_or_change_counts_in_any_spelling() {
        for (right, reads, changes) in [
            ("FR", true, false),
            ("GR", true, false),
            ("0x1", true, false),
            ("CC", true, false),
            ("0x120089", true, false),
            ("FW", false, true),
            ("GW", false, true),
            ("DC", false, true),
            ("LC", false, true),
            ("SD", false, true),
            ("WD", false, true),
            ("WO", false, true),
            ("0x10000", false, true),
            ("FA", true, true),
            ("GA", true, true),
            ("268435456", true, true),
            ("0x1301bf", true, true),
        ] {
            for who in ["WD", "AU", "BU", "IU", "BG", "S-1-5-32-545", "S-1-1-0", "S-1-5-21-1-2-3-513"] {
                let sddl = format!("O:BAD:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;{right};;;{who})");
                let j = verdict(&sddl, Guard::Secret);
                assert_eq!(j.refused.len(), 1, "{sddl}");
                assert_eq!((j.refused[0].reads, j.refused[0].changes), (reads, changes), "{sddl}");
            }
        }
        // Reading attributes, the access list itself, or running: not the content.
        for harmless in ["RC", "LO", "0x1200a0", "FX", "GX", "SW", "0x100080"] {
            let sddl = format!("O:BAD:P(A;;FA;;;BA)(A;;{harmless};;;BU)");
            assert!(verdict(&sddl, Guard::Secret).ok(), "{sddl}");
        }
        // Entries that do not apply to the file itself: inherit-only, deny.
        assert!(verdict("O:BAD:P(A;OICIIO;FA;;;BU)(D;;FA;;;WD)(A;;FA;;;BA)", Guard::Secret).ok());
        // A conditional (callback) allow counts as an allow; its condition is not read.
        let j = verdict("O:BAD:(XA;;FR;;;WD;(Member_of {SID(BA)}))(A;;FA;;;BA)", Guard::Secret);
        assert_eq!(j.refused.len(), 1);
        // A broad group as the owner may give itself any right.
        let j = verdict("O:BUD:P(A;;FA;;;BA)", Guard::Secret);
        assert!(!j.ok() && j.refused[0].owner);
    }

    #[test]
    fn a_person_s_own_account_is_said_not_refused() {
        let j = verdict(WINE_0644, Guard::Secret);
        assert_eq!(j.refused.iter().map(|e| e.says()).collect::<Vec<_>>(), ["Everyone can read it"]);
        assert_eq!(j.noted.len(), 1);
        assert_eq!(j.noted[0].sid, "S-1-5-21-0-0-0-1000");
        let j = verdict(&WINE_0644.replace("(A;;0x1200a9;;;WD)", ""), Guard::Secret);
        assert!(j.ok());
    }

    #[test]
    fn unreadable_lists_are_errors_not_passes() {
        for bad in ["D:(A;;FA;;;BA", "D:(A;;QQ;;;BU)", "X:BA", "D:(A;;FA)", "O:ba"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    fn layout(extra: &str) -> Layout {
        let mut c = Config::from_toml(&format!(
            "{extra}\n[[printers]]\nid = \"a\"\nname = \"A\"\nbackend = \"command\"\nprint_command = [\"/opt/sumatra/SumatraPDF.exe\", \"{{file}}\"]\nstatus_command = [\"powershell\", \"-c\", \"x\"]\n\
             [[printers]]\nid = \"b\"\nname = \"B\"\nbackend = \"file\"\nfolder = \"out\"\n"
        ))
        .unwrap();
        c.database.uri = Some("mongodb://x".into());
        Layout::of(Path::new("/printcore/worker.toml"), &c)
    }

    #[test]
    fn the_layout_is_what_the_service_reads_and_writes() {
        let l = layout("");
        assert_eq!(l.folder, Path::new("/printcore"));
        assert_eq!(l.journal, Path::new("/printcore/worker.journal.jsonl"));
        assert_eq!(l.logs[0], Path::new("/printcore/worker.log"));
        assert_eq!(l.logs.last().unwrap(), Path::new("/printcore/worker.5.log"));
        assert_eq!(l.data_folders, [PathBuf::from("/printcore/out")]);
        assert_eq!(
            l.programs,
            [("printer \"a\"'s print command".to_owned(), PathBuf::from("/opt/sumatra/SumatraPDF.exe"))]
        );
        let l = layout("[worker]\njournal_path = \"data/j.jsonl\"\n[files]\nwork_dir = \"/var/printcore-work\"");
        assert_eq!(l.journal, Path::new("/printcore/data/j.jsonl"));
        assert_eq!(l.data_folders[0], Path::new("/var/printcore-work"));
    }

    #[test]
    fn install_locks_the_folder_the_file_the_journal_and_logs_and_adds_the_service_elsewhere() {
        let l = layout("[files]\nwork_dir = \"/var/printcore-work\"");
        let steps = install_steps(&l, "printcore-worker").unwrap();
        let sid = service_sid("printcore-worker");
        let at = |p: &str| steps.iter().find(|s| s.path == Path::new(p)).unwrap_or_else(|| panic!("{p}: {steps:?}"));
        assert_eq!(steps[0].path, Path::new("/printcore"), "the folder first");
        assert_eq!(at("/printcore").set, Set::Replace(folder_sddl(&sid)));
        assert_eq!(at("/printcore/worker.toml").set, Set::Replace(config_sddl(&sid)));
        assert!(at("/printcore/worker.toml").what.contains(r"NT SERVICE\printcore-worker: read only"));
        assert_eq!(at("/printcore/worker.toml").guard, Guard::Secret);
        assert_eq!(at("/printcore").guard, Guard::Folder);
        let journal = at("/printcore/worker.journal.jsonl");
        assert!(journal.create && journal.set == Set::Replace(writable_file_sddl(&sid)));
        let log = at("/printcore/worker.3.log");
        assert!(!log.create && log.set == Set::Replace(writable_file_sddl(&sid)));
        assert_eq!(at("/printcore/out").set, Set::Replace(data_folder_sddl(&sid)));
        assert_eq!(at("/var/printcore-work").set, Set::Add(grant_ace(&sid)));
        assert!(steps.iter().all(|s| s.path != Path::new("/opt/sumatra/SumatraPDF.exe")), "programs are not touched");

        let mut shared = l.clone();
        shared.folder = PathBuf::from(r"C:\Users\bob\Desktop");
        assert!(install_steps(&shared, "x").unwrap_err().contains("folder of its own"));
        let mut own = l.clone();
        own.data_folders = vec![own.folder.clone()];
        assert!(install_steps(&own, "x").is_err(), "the service never gets to change its own configuration's folder");
    }

    #[test]
    fn only_a_folder_of_its_own_is_locked() {
        for shared in [
            r"C:\",
            r"C:",
            r"\\?\C:\",
            r"D:\",
            r"\\server\share",
            r"C:\Windows",
            r"C:\Program Files",
            r"C:\ProgramData",
            r"C:\Users",
            r"C:\Users\bob",
            r"C:\Users\bob\Desktop",
            r"C:\Users\bob\AppData\Local\Temp",
            r"C:\Windows\System32\config",
            "/",
        ] {
            assert!(folder_problem(shared).is_some(), "{shared}");
        }
        for own in [
            r"C:\printcore",
            r"\\?\C:\printcore",
            r"D:\shop\printcore",
            r"C:\ProgramData\printcore",
            r"C:\Program Files\printcore",
        ] {
            assert_eq!(folder_problem(own), None, "{own}");
        }
    }

    #[test]
    fn a_service_entry_is_added_to_a_folder_elsewhere_keeping_its_own_entries() {
        let ace = grant_ace(SVC);
        let added = with_ace(ROOT_FOLDER, &ace).unwrap().unwrap();
        assert_eq!(added, format!("D:{ace}"), "inherited entries are Windows' to add again");
        let own = "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)";
        assert_eq!(with_ace(own, &ace).unwrap().unwrap(), format!("D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA){ace}"));
        assert_eq!(with_ace(&format!("{own}{ace}"), &ace).unwrap(), None);
        assert!(with_ace("D:NO_ACCESS_CONTROL", &ace).is_err());
    }

    #[test]
    fn check_names_the_file_and_the_command_that_fixes_it() {
        let l = layout("");
        let exe = Path::new("/printcore/worker.exe");
        let list = checked(&l, Some(exe));
        let config = list.iter().find(|c| c.path == l.config).unwrap();
        assert_eq!(config.guard, Guard::Secret);
        assert!(list
            .iter()
            .any(|c| c.path == Path::new("/opt/sumatra/SumatraPDF.exe") && c.guard == Guard::Unchangeable));
        assert!(list.iter().any(|c| c.path == Path::new("/opt/sumatra") && c.guard == Guard::Folder));
        assert_eq!(list.iter().filter(|c| c.path == l.folder).count(), 1, "the folder once");
        let none = |_: &str| None;
        let (lines, ok) = report(config, Ok(ROOT_FILE), &l, &none);
        assert!(!ok);
        assert!(
            lines[0].starts_with(
                "access: /printcore/worker.toml (the configuration, which holds the database password): REFUSED"
            ),
            "{lines:?}"
        );
        assert!(
            lines[0].contains("REFUSED: Authenticated Users can read and change it; Users can read it"),
            "{lines:?}"
        );
        assert!(lines[1].contains("worker --config \"/printcore/worker.toml\" service install"), "{lines:?}");
        let locked = LOCKED.replace("PRINTCORE_WORKER_SID", &service_sid("printcore-worker"));
        let (lines, ok) = report(config, Ok(&locked), &l, &none);
        assert!(ok, "{lines:?}");
        assert_eq!(lines, ["access: /printcore/worker.toml: ok"]);
        let (lines, ok) = report(config, Ok("D:NO_ACCESS_CONTROL"), &l, &none);
        assert!(!ok && lines[0].contains("no access list"), "{lines:?}");
        // A program elsewhere: icacls, naming the groups by SID (names differ by language).
        let program = list.iter().find(|c| c.path == Path::new("/opt/sumatra")).unwrap();
        let (lines, ok) = report(program, Ok(PROGRAMDATA_FOLDER), &l, &|_| Some(r"PC\bob".into()));
        assert!(!ok);
        assert!(lines[1].contains("icacls \"/opt/sumatra\" /remove:g *S-1-5-32-545"), "{lines:?}");
        assert!(lines[2].contains(r"note: PC\bob (S-1-5-21-1-2-3-1001) can change it"), "{lines:?}");
        // Unreadable: the configuration fails; a program is only said.
        assert!(!report(config, Err("access denied"), &l, &none).1);
        assert!(report(program, Err("access denied"), &l, &none).1);
        assert!(install_warnings(&l, exe, &[])[0]
            .contains("the worker (/printcore/worker.exe) is in the configuration's folder"));
        let dll = PathBuf::from("/printcore/version.dll");
        assert!(install_warnings(&l, Path::new("/opt/w/worker.exe"), &[dll])[0].contains("version.dll is a DLL"));
    }

    #[test]
    fn a_service_as_localsystem_is_refused() {
        for system in ["LocalSystem", r".\LocalSystem", r"NT AUTHORITY\SYSTEM"] {
            assert!(account_problem("printcore-worker", system).unwrap().contains(r"NT SERVICE\printcore-worker"));
        }
        assert_eq!(account_problem("printcore-worker", r"NT SERVICE\printcore-worker"), None);
    }
}
