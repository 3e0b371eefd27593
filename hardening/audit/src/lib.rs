//! The image audit: reads an unpacked image (the `rootfs/` and
//! `metadata.json` that oci-build-task writes with `UNPACK_ROOTFS=true`) and
//! checks it against a policy (hardening/policy.toml). Every rule that fails
//! yields findings of rule, path and why; the caller exits non-zero on any.
//!
//! Nothing here follows a symlink out of the rootfs: links are resolved
//! against the rootfs, as they would be inside the container.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use md5::{Digest, Md5};
use serde::Deserialize;

/// The CVE gate before a push (the `build-task-cve-gate` binary).
pub mod cve;

/// The policy compiled in: hardening/policy.toml.
pub const DEFAULT_POLICY: &str = include_str!("../../policy.toml");

/// Every rule the audit knows; the policy's `rules` picks among them.
pub const RULES: &[&str] = &[
    "cis-4.1-user",
    "cis-4.8-setuid",
    "cis-4.10-secret-file",
    "cis-4.10-secret-env",
    "world-writable",
    "scratch-package-manager",
    "scratch-compiler",
    "cf-passwd-root",
    "cf-root-home",
    "cf-shell",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub rules: Vec<String>,
    pub user: UserPolicy,
    pub secrets: SecretsPolicy,
    pub scratch: ScratchPolicy,
    pub cf: CfPolicy,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPolicy {
    pub allow_root: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsPolicy {
    pub max_file_bytes: u64,
    pub env_name_markers: Vec<String>,
    /// A file an installed Debian package ships, as it ships it (its MD5 is
    /// dpkg's record), is noted, not failed, when it holds a key.
    pub trust_packaged_files: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScratchPolicy {
    pub package_managers: Vec<String>,
    pub compilers: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CfPolicy {
    pub passwd: String,
    pub shell: String,
}

impl Policy {
    /// Parses a policy and checks that it names only known rules.
    pub fn parse(text: &str) -> Result<Policy, String> {
        let policy: Policy = toml::from_str(text).map_err(|e| format!("invalid policy: {}", e.message()))?;
        if let Some(unknown) = policy.rules.iter().find(|r| !RULES.contains(&r.as_str())) {
            return Err(format!("invalid policy: unknown rule '{unknown}' (known: {})", RULES.join(", ")));
        }
        Ok(policy)
    }

    fn on(&self, rule: &str) -> bool {
        self.rules.iter().any(|r| r == rule)
    }
}

/// oci-build-task's `ImageMetadata`: `{"env":[…],"user":"…"}`.
#[derive(Debug, Default, Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub user: String,
}

/// One failed check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static str,
    /// The path inside the image (or `metadata.json`).
    pub path: String,
    pub why: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FAIL {} {}: {}", self.rule, self.path, self.why)
    }
}

/// What an audit found, and what it noted without failing.
#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub notes: Vec<String>,
    /// Entries in the rootfs (files, directories, links), the root excluded.
    pub entries: usize,
    /// Of which not directories.
    pub files: usize,
    pub scratch: bool,
}

impl Report {
    pub fn failed(&self, rule: &str) -> Vec<&Finding> {
        self.findings.iter().filter(|f| f.rule == rule).collect()
    }
}

/// A command's exit code: 0 when what it checked passed, 1 when it found a
/// failure (already printed), 2 with `name: error` on stderr when it could
/// not check at all.
pub fn exit_code(name: &str, outcome: Result<bool, String>) -> std::process::ExitCode {
    match outcome {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("{name}: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Audits `image/rootfs` and `image/metadata.json`.
pub fn audit_image(image: &Path, policy: &Policy) -> Result<Report, String> {
    let meta_path = image.join("metadata.json");
    let text = fs::read_to_string(&meta_path).map_err(|e| format!("cannot read {}: {e}", meta_path.display()))?;
    let metadata: Metadata = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not oci-build-task metadata: {e}", meta_path.display()))?;
    audit(&image.join("rootfs"), &metadata, policy)
}

/// Audits a rootfs with its metadata.
pub fn audit(rootfs: &Path, metadata: &Metadata, policy: &Policy) -> Result<Report, String> {
    if !rootfs.is_dir() {
        return Err(format!("{} is not a directory", rootfs.display()));
    }
    let mut report = Report {
        scratch: !rootfs.join("etc/os-release").exists() && !rootfs.join("usr/lib/os-release").exists(),
        ..Report::default()
    };
    check_user(metadata, policy, &mut report);
    if policy.on("cis-4.10-secret-env") {
        check_env(metadata, policy, &mut report);
    }
    report.notes.push(
        "cis-4.6-healthcheck: not applicable: Cloud Foundry runs a task once to completion and ignores HEALTHCHECK"
            .into(),
    );
    if report.scratch {
        report.notes.push("scratch-based: no /etc/os-release, so the scratch rules apply".into());
    }
    walk(rootfs, rootfs, policy, &mut None, &mut report)?;
    check_cf(rootfs, policy, &mut report);
    Ok(report)
}

fn finding(report: &mut Report, rule: &'static str, path: impl Into<String>, why: impl Into<String>) {
    report.findings.push(Finding { rule, path: path.into(), why: why.into() });
}

// --- CIS 4.1 -------------------------------------------------------------------

fn check_user(metadata: &Metadata, policy: &Policy, report: &mut Report) {
    let user = metadata.user.trim();
    let name = user.split(':').next().unwrap_or("");
    let root = name.is_empty() || name == "root" || name == "0";
    if !root {
        report.notes.push(format!("cis-4.1-user: runs as '{user}'"));
    } else if policy.user.allow_root || !policy.on("cis-4.1-user") {
        report.notes.push(
            "cis-4.1-user: USER is root or unset: accepted, Cloud Foundry runs every task as root (CONTRACT B7)".into(),
        );
    } else {
        let shown = if user.is_empty() { "unset".to_owned() } else { format!("'{user}'") };
        finding(
            report,
            "cis-4.1-user",
            "metadata.json",
            format!("the image's USER is {shown}; the policy requires a non-root user"),
        );
    }
}

// --- CIS 4.10, environment ---------------------------------------------------

fn check_env(metadata: &Metadata, policy: &Policy, report: &mut Report) {
    for entry in &metadata.env {
        let (name, value) = entry.split_once('=').unwrap_or((entry, ""));
        let upper = name.to_ascii_uppercase();
        let marker = policy.secrets.env_name_markers.iter().find(|m| upper.contains(m.as_str()));
        if let Some(marker) = marker.filter(|_| !value.is_empty()) {
            finding(
                report,
                "cis-4.10-secret-env",
                "metadata.json",
                format!("ENV {name} has a value and its name says {marker}: a secret baked into the image"),
            );
        } else if let Some(kind) = secret_in(value.as_bytes()) {
            finding(report, "cis-4.10-secret-env", "metadata.json", format!("ENV {name} holds {kind}"));
        }
    }
}

// --- the walk: setuid, world-writable, secrets, scratch ----------------------

/// `packaged` is the rootfs's dpkg record, read when a file first holds a
/// secret.
fn walk(
    rootfs: &Path,
    dir: &Path,
    policy: &Policy,
    packaged: &mut Option<PackagedFiles>,
    report: &mut Report,
) -> Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut entries: Vec<_> =
        entries.collect::<Result<_, _>>().map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let shown = image_path(rootfs, &path);
        let meta = fs::symlink_metadata(&path).map_err(|e| format!("cannot stat {shown}: {e}"))?;
        let mode = meta.mode();
        let kind = meta.file_type();
        report.entries += 1;
        if !kind.is_dir() {
            report.files += 1;
        }
        if kind.is_symlink() {
            check_scratch_name(&path, &shown, policy, report);
            continue;
        }
        if policy.on("cis-4.8-setuid") && kind.is_file() && mode & 0o6000 != 0 {
            let bits = match (mode & 0o4000 != 0, mode & 0o2000 != 0) {
                (true, true) => "setuid and setgid bits",
                (true, false) => "setuid bit",
                _ => "setgid bit",
            };
            finding(
                report,
                "cis-4.8-setuid",
                &shown,
                format!("{bits} set (mode {:o}): running it gains its owner's or group's rights", mode & 0o7777),
            );
        }
        if policy.on("world-writable") && mode & 0o002 != 0 && !(kind.is_dir() && mode & 0o1000 != 0) {
            let what = if kind.is_dir() { "directory without the sticky bit" } else { "file" };
            finding(
                report,
                "world-writable",
                &shown,
                format!("world-writable {what} (mode {:o}): any process can change it", mode & 0o7777),
            );
        }
        if kind.is_dir() {
            walk(rootfs, &path, policy, packaged, report)?;
            continue;
        }
        check_scratch_name(&path, &shown, policy, report);
        if policy.on("cis-4.10-secret-file") && kind.is_file() {
            if meta.len() > policy.secrets.max_file_bytes {
                report.notes.push(format!("cis-4.10-secret-file: {shown} not read: larger than max_file_bytes"));
            } else {
                let bytes = fs::read(&path).map_err(|e| format!("cannot read {shown}: {e}"))?;
                if let Some(kind) = secret_in(&bytes) {
                    let shipped = if policy.secrets.trust_packaged_files {
                        PackagedFiles::of(rootfs, packaged)?.shipped(path.strip_prefix(rootfs).unwrap_or(&path), &bytes)
                    } else {
                        Shipped::Unlisted
                    };
                    match shipped {
                        Shipped::As(package) => report.notes.push(format!(
                            "cis-4.10-secret-file: {shown} holds {kind} as package {package} ships it \
                             (MD5 matches dpkg's record): public, not this image's secret"
                        )),
                        Shipped::Modified(packages) => finding(
                            report,
                            "cis-4.10-secret-file",
                            &shown,
                            format!(
                                "holds {kind}, and is not as package {} ships it: its MD5 differs from dpkg's record",
                                packages.join(", ")
                            ),
                        ),
                        Shipped::Unlisted => finding(report, "cis-4.10-secret-file", &shown, format!("holds {kind}")),
                    }
                }
            }
        }
    }
    Ok(())
}

fn check_scratch_name(path: &Path, shown: &str, policy: &Policy, report: &mut Report) {
    if !report.scratch {
        return;
    }
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return };
    let rules: [(&'static str, &[String], &str); 2] = [
        ("scratch-package-manager", &policy.scratch.package_managers, "a package manager"),
        ("scratch-compiler", &policy.scratch.compilers, "a compiler or linker"),
    ];
    for (rule, names, what) in rules {
        if policy.on(rule) && names.iter().any(|n| names_tool(name, n)) {
            finding(report, rule, shown, format!("{what} in a scratch-based image, which should hold only build-task"));
        }
    }
}

/// `gcc` names `gcc` and `gcc-12`, not `gcc-ar` or `gccgo`.
fn names_tool(file: &str, tool: &str) -> bool {
    file == tool
        || file
            .strip_prefix(tool)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit()))
}

// --- files Debian's packages ship --------------------------------------------

/// The files the installed packages ship, from the rootfs's own dpkg
/// database: `var/lib/dpkg/status` says which packages are installed, and
/// `var/lib/dpkg/info/<package>.md5sums` lists each one's files as
/// `<md5 hex>  <path without the leading slash>`. Empty without a database.
///
/// Such a file, byte for byte as its package ships it, is public in the
/// package's archive (libgnutls30 carries GnuTLS's self-test keys), so a key
/// in it is not the image's secret. MD5 is what dpkg records; matching a
/// published file's MD5 with other bytes (a second preimage) is not feasible.
#[derive(Debug, Default)]
struct PackagedFiles {
    /// By where the file is in the rootfs, relative to it (see
    /// `packaged_path`): the packages that list it, with their MD5s.
    files: HashMap<PathBuf, Vec<Listed>>,
}

#[derive(Debug)]
struct Listed {
    /// The package's name, without an architecture qualifier.
    package: String,
    /// Lower-case hex.
    md5: String,
}

/// Whether a file is as a package ships it.
enum Shipped<'a> {
    /// Its MD5 is the one this package lists.
    As(&'a str),
    /// Listed by these packages, but with other MD5s.
    Modified(Vec<&'a str>),
    /// No installed package lists it (or none was asked).
    Unlisted,
}

impl PackagedFiles {
    /// The record in `slot`, read from `rootfs` the first time.
    fn of<'a>(rootfs: &Path, slot: &'a mut Option<PackagedFiles>) -> Result<&'a PackagedFiles, String> {
        match slot {
            Some(packaged) => Ok(packaged),
            empty => Ok(empty.insert(PackagedFiles::load(rootfs)?)),
        }
    }

    fn load(rootfs: &Path) -> Result<PackagedFiles, String> {
        let mut packaged = PackagedFiles::default();
        let (Some(status), Some(info)) =
            (resolve(rootfs, "/var/lib/dpkg/status"), resolve(rootfs, "/var/lib/dpkg/info"))
        else {
            return Ok(packaged);
        };
        if !status.is_file() || !info.is_dir() {
            return Ok(packaged);
        }
        let read = |p: &Path| fs::read(p).map_err(|e| format!("cannot read {}: {e}", image_path(rootfs, p)));
        // `name` and `name:arch` of each installed package: an md5sums file
        // is named either way (the second for Multi-Arch: same).
        let mut installed = HashSet::new();
        for stanza in String::from_utf8_lossy(&read(&status)?).split("\n\n") {
            let installed_state =
                field(stanza, "Status").and_then(|s| s.split_whitespace().nth(2)) == Some("installed");
            if let Some(name) = field(stanza, "Package").filter(|_| installed_state) {
                installed.insert(name.to_owned());
                if let Some(arch) = field(stanza, "Architecture") {
                    installed.insert(format!("{name}:{arch}"));
                }
            }
        }
        let mut lists: Vec<_> = fs::read_dir(&info)
            .and_then(|d| d.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("cannot list {}: {e}", image_path(rootfs, &info)))?;
        lists.sort_by_key(|e| e.file_name());
        let mut dirs = HashMap::new();
        for entry in lists {
            let name = entry.file_name();
            let Some(package) = name.to_str().and_then(|n| n.strip_suffix(".md5sums")) else { continue };
            // Not a link: it could point out of the rootfs.
            if !installed.contains(package) || !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let package = package.split(':').next().unwrap_or(package);
            let text = read(&entry.path())?;
            for line in text.split(|&b| b == b'\n').filter_map(|l| std::str::from_utf8(l).ok()) {
                let Some((md5, listed)) = line.split_once("  ") else { continue };
                if md5.len() != 32 || !md5.bytes().all(|b| b.is_ascii_hexdigit()) {
                    continue;
                }
                if let Some(at) = packaged_path(rootfs, listed, &mut dirs) {
                    let md5 = md5.to_ascii_lowercase();
                    packaged.files.entry(at).or_default().push(Listed { package: package.to_owned(), md5 });
                }
            }
        }
        Ok(packaged)
    }

    /// Whether the file at `at` (relative to the rootfs) holding `bytes` is
    /// as an installed package ships it.
    fn shipped(&self, at: &Path, bytes: &[u8]) -> Shipped<'_> {
        let Some(listed) = self.files.get(at) else { return Shipped::Unlisted };
        let md5: String = Md5::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
        match listed.iter().find(|l| l.md5 == md5) {
            Some(l) => Shipped::As(&l.package),
            None => Shipped::Modified(listed.iter().map(|l| l.package.as_str()).collect()),
        }
    }
}

/// A field's value in a dpkg status stanza.
fn field<'a>(stanza: &'a str, name: &str) -> Option<&'a str> {
    stanza.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')).map(str::trim)
}

/// Where a path an md5sums file lists is in the rootfs, relative to it, as
/// the walk meets it: its directory resolved against the rootfs as the
/// container would (Debian merges /usr, so `lib/…` is at `usr/lib/…`), its
/// file name kept, so only the listed file itself qualifies, never what a
/// link there points to. `dirs` caches the resolved directories. `None` when
/// the directory is missing or the path is not plain (`..`).
fn packaged_path(rootfs: &Path, listed: &str, dirs: &mut HashMap<String, Option<PathBuf>>) -> Option<PathBuf> {
    let listed = Path::new(listed);
    if !listed.components().all(|c| matches!(c, Component::Normal(_) | Component::RootDir)) {
        return None;
    }
    let name = listed.file_name()?;
    let dir = listed.parent()?.to_str()?;
    let resolved = dirs.entry(dir.to_owned()).or_insert_with(|| {
        let resolved = resolve(rootfs, &format!("/{dir}"))?;
        Some(resolved.strip_prefix(rootfs).ok()?.to_path_buf())
    });
    Some(resolved.as_ref()?.join(name))
}

// --- secrets in bytes -----------------------------------------------------------

/// What kind of secret `bytes` holds, if any: an AWS access key id
/// (`AKIA…`/`ASIA…`, 20 upper-case alphanumerics standing alone) or a PEM
/// private key block (see `holds_pem_private_key`).
pub fn secret_in(bytes: &[u8]) -> Option<&'static str> {
    let upper_alnum = |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit();
    for i in 0..bytes.len().saturating_sub(19) {
        let prefix = &bytes[i..i + 4];
        if (prefix == b"AKIA" || prefix == b"ASIA")
            && bytes[i + 4..i + 20].iter().all(|&b| upper_alnum(b))
            && (i == 0 || !upper_alnum(bytes[i - 1]))
            && bytes.get(i + 20).is_none_or(|&b| !upper_alnum(b))
        {
            return Some("an AWS access key id");
        }
    }
    if holds_pem_private_key(bytes) {
        return Some("a PEM private key");
    }
    None
}

/// Whether `bytes` holds a PEM private key block (RFC 7468), anywhere, even
/// among binary junk:
///
/// ```text
/// -----BEGIN <label ending in PRIVATE KEY>-----
/// Proc-Type: 4,ENCRYPTED          } optional: OpenSSL's legacy encryption
/// DEK-Info: AES-128-CBC,<iv>      } headers, then a blank line
///
/// <lines of base64, at least 64 characters in all>
/// -----END <the same label>-----
/// ```
///
/// The structure is what tells a key from the PEM labels a TLS library keeps
/// as string constants ("-----BEGIN RSA PRIVATE KEY-----\0-----BEGIN …"):
/// those are not followed by a line break and lines of base64 closed by the
/// matching END line.
fn holds_pem_private_key(bytes: &[u8]) -> bool {
    let begin = b"-----BEGIN ";
    let mut from = 0;
    while let Some(at) = find(&bytes[from..], begin) {
        from += at + begin.len();
        if is_private_key_block(&bytes[from..]) {
            return true;
        }
    }
    false
}

/// Whether `block`, what follows a `-----BEGIN `, is the rest of a private
/// key block as `holds_pem_private_key` describes it.
fn is_private_key_block(block: &[u8]) -> bool {
    // The BEGIN line: a label without dashes, five dashes, a line break.
    let Some((line, mut rest)) = next_line(block, 80) else { return false };
    let Some(label) = line.strip_suffix(b"-----") else { return false };
    if !label.ends_with(b"PRIVATE KEY") || !label.iter().all(|&b| b == b' ' || (b.is_ascii_graphic() && b != b'-')) {
        return false;
    }
    if rest.starts_with(b"Proc-Type:") {
        loop {
            let Some((line, after)) = next_line(rest, 160) else { return false };
            rest = after;
            if line.is_empty() {
                break;
            }
            if !line.starts_with(b"Proc-Type:") && !line.starts_with(b"DEK-Info:") {
                return false;
            }
        }
    }
    let end = [b"-----END ", label, b"-----"].concat();
    let is_base64 = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=';
    let mut body = 0;
    loop {
        if rest.starts_with(b"-----END ") {
            return rest.starts_with(&end) && body >= 64;
        }
        // PEM writers wrap base64 at 64 characters, OpenSSH at 70.
        let Some((line, after)) = next_line(rest, 128) else { return false };
        if line.is_empty() || !line.iter().all(|&b| is_base64(b)) {
            return false;
        }
        body += line.len();
        rest = after;
    }
}

/// The first line of `text` and what follows its line feed, when the line
/// ends (at a line feed or the end of `text`) within `max` bytes; trailing
/// white space (a CR too) is not part of the line. Bounding the line keeps
/// the scan linear over binary files with few line feeds.
fn next_line(text: &[u8], max: usize) -> Option<(&[u8], &[u8])> {
    match text.iter().take(max + 1).position(|&b| b == b'\n') {
        Some(n) => Some((text[..n].trim_ascii_end(), &text[n + 1..])),
        None if text.len() <= max => Some((text.trim_ascii_end(), &[])),
        None => None,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

// --- what Cloud Foundry needs -------------------------------------------------

fn check_cf(rootfs: &Path, policy: &Policy, report: &mut Report) {
    let passwd_path = &policy.cf.passwd;
    let root_entry = resolve(rootfs, passwd_path).and_then(|p| fs::read_to_string(p).ok()).and_then(|text| {
        text.lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() >= 7 && f[0] == "root" && f[2] == "0")
            .map(|f| (f[5].to_owned(), f[6].to_owned()))
    });
    let Some((home, shell)) = root_entry else {
        if policy.on("cf-passwd-root") {
            finding(
                report,
                "cf-passwd-root",
                passwd_path.as_str(),
                "no root entry (root:x:0:0:…): Cloud Foundry requires one to start the task",
            );
        }
        return;
    };
    if policy.on("cf-root-home") && !resolve(rootfs, &home).is_some_and(|p| p.is_dir()) {
        finding(
            report,
            "cf-root-home",
            home.as_str(),
            "root's home directory (from passwd) is missing: Cloud Foundry requires it",
        );
    }
    if policy.on("cf-shell") {
        for (path, whose) in
            [(policy.cf.shell.as_str(), "the task launcher's shell"), (shell.as_str(), "root's shell (from passwd)")]
        {
            if !resolve(rootfs, path).is_some_and(|p| is_executable(&p)) {
                finding(
                    report,
                    "cf-shell",
                    path,
                    format!(
                        "{whose} is missing or not executable: Cloud Foundry starts every task as `/bin/sh -c '<command>'`"
                    ),
                );
            }
        }
    }
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Resolves an absolute image path inside `rootfs`, following symlinks the
/// way the container would (absolute targets start again at the rootfs), at
/// most 40 of them. `None` when a component is missing or links loop.
pub fn resolve(rootfs: &Path, path: &str) -> Option<PathBuf> {
    let mut pending: Vec<String> = components(path).into_iter().rev().collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let here = rootfs.join(resolved.iter().chain([&part]).collect::<PathBuf>());
        let meta = fs::symlink_metadata(&here).ok()?;
        if meta.file_type().is_symlink() {
            links += 1;
            if links > 40 {
                return None;
            }
            let target = fs::read_link(&here).ok()?;
            let target = target.to_str()?;
            if target.starts_with('/') {
                resolved.clear();
            }
            pending.extend(components(target).into_iter().rev());
        } else {
            resolved.push(part);
        }
    }
    Some(rootfs.join(resolved.iter().collect::<PathBuf>()))
}

fn components(path: &str) -> Vec<String> {
    Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".to_owned()),
            _ => None,
        })
        .collect()
}

fn image_path(rootfs: &Path, path: &Path) -> String {
    format!("/{}", path.strip_prefix(rootfs).unwrap_or(path).display())
}
