//! The CVE gate: reads a vulnerability scanner's JSON report (grype's or
//! trivy's) and the repository's allow-list (hardening/cve-allowlist.toml),
//! and decides whether the image may be pushed.
//!
//! A finding blocks the push when it is fixable (the scanner knows a fixed
//! version), at or above the allow-list's `fail-on` severity, and not
//! allowed by an entry. Every entry carries a reason and an expiry date, at
//! most a quarter ahead ([`MAX_DAYS_AHEAD`]); an entry past its date blocks
//! the push whether or not it still matches anything, so an exception is
//! looked at again or removed. Findings without
//! a fix, or below the threshold, are counted and printed, never blocking:
//! there is nothing to do about them at build time.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::Value;

/// A finding's severity, in the order the gate compares them. Grype's
/// `Negligible` and both scanners' `Unknown` rank lowest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Unknown,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// A severity as either scanner writes it (`High`, `HIGH`), or as the
    /// allow-list's `fail-on` names it (`high`).
    pub fn parse(text: &str) -> Option<Severity> {
        match text.to_ascii_lowercase().as_str() {
            "unknown" | "negligible" => Some(Severity::Unknown),
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Unknown => "unknown",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        })
    }
}

/// How far ahead an allow-list entry may expire: about a quarter.
pub const MAX_DAYS_AHEAD: i64 = 92;

/// A calendar date, as the allow-list writes it: `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: u32,
    pub month: u32,
    pub day: u32,
}

impl Date {
    /// `YYYY-MM-DD`, a real day of the Gregorian calendar.
    pub fn parse(text: &str) -> Option<Date> {
        let b = text.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let num = |s: &str| s.bytes().all(|c| c.is_ascii_digit()).then(|| s.parse::<u32>().ok()).flatten();
        let (year, month, day) = (num(&text[..4])?, num(&text[5..7])?, num(&text[8..])?);
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        (1..=days).contains(&day).then_some(Date { year, month, day })
    }

    /// Today in UTC, from the system clock.
    pub fn today() -> Date {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        Date::from_days((secs / 86_400) as i64)
    }

    /// Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    pub fn days(&self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` days after 1970-01-01 (Howard Hinnant's civil_from_days).
    pub fn from_days(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as u32;
        Date { year, month, day }
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// One vulnerability the scanner matched to one installed package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub id: String,
    pub package: String,
    pub version: String,
    pub severity: Severity,
    /// The version that fixes it, when the scanner knows one.
    pub fixed_in: Option<String>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} in {} {}", self.id, self.severity, self.package, self.version)?;
        match &self.fixed_in {
            Some(fixed) => write!(f, " (fixed in {fixed})"),
            None => write!(f, " (no fix yet)"),
        }
    }
}

/// The findings of a report, in either scanner's JSON: grype's `-o json`
/// (`matches[]`) or trivy's `--format json` (`Results[].Vulnerabilities[]`).
pub fn parse_report(text: &str) -> Result<Vec<Finding>, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("the scan report is not JSON: {e}"))?;
    let field = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    let severity = |v: &Value, key: &str| {
        let text = field(v, key);
        Severity::parse(&text).ok_or_else(|| format!("the scan report has an unknown severity '{text}'"))
    };
    if let Some(matches) = doc.get("matches") {
        // grype: vulnerability.fix.state is fixed, not-fixed, wont-fix or unknown.
        let matches = matches.as_array().ok_or("grype's report: `matches` is not a list")?;
        let mut findings = Vec::new();
        for m in matches {
            let (vuln, artifact) = (&m["vulnerability"], &m["artifact"]);
            let fixed = vuln["fix"]["state"].as_str() == Some("fixed");
            let versions: Vec<&str> =
                vuln["fix"]["versions"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            findings.push(Finding {
                id: field(vuln, "id"),
                package: field(artifact, "name"),
                version: field(artifact, "version"),
                severity: severity(vuln, "severity")?,
                fixed_in: (fixed && !versions.is_empty()).then(|| versions.join(", ")),
            });
        }
        return Ok(findings);
    }
    if let Some(results) = doc.get("Results").or_else(|| doc.get("SchemaVersion").map(|_| &Value::Null)) {
        // trivy: a result without vulnerabilities leaves the key out; a
        // report of a clean image may have no Results at all.
        let mut findings = Vec::new();
        for result in results.as_array().into_iter().flatten() {
            for v in result["Vulnerabilities"].as_array().into_iter().flatten() {
                let fixed = field(v, "FixedVersion");
                let status = field(v, "Status");
                findings.push(Finding {
                    id: field(v, "VulnerabilityID"),
                    package: field(v, "PkgName"),
                    version: field(v, "InstalledVersion"),
                    severity: severity(v, "Severity")?,
                    fixed_in: (!fixed.is_empty() && (status.is_empty() || status == "fixed")).then_some(fixed),
                });
            }
        }
        return Ok(findings);
    }
    Err("the scan report is neither grype's JSON (`matches`) nor trivy's (`Results`)".to_owned())
}

/// The allow-list file (hardening/cve-allowlist.toml).
#[derive(Debug, Clone)]
pub struct AllowList {
    /// The lowest severity that blocks a push.
    pub fail_on: Severity,
    pub entries: Vec<Allowed>,
}

/// One exception: a vulnerability (in one package, or any) that may ship
/// until its expiry date, for the reason given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    pub id: String,
    pub package: Option<String>,
    pub reason: String,
    pub expires: Date,
}

impl Allowed {
    fn covers(&self, finding: &Finding) -> bool {
        self.id == finding.id && self.package.as_ref().is_none_or(|p| *p == finding.package)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawAllowList {
    fail_on: String,
    #[serde(default)]
    allow: Vec<RawAllowed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAllowed {
    id: String,
    package: Option<String>,
    reason: String,
    /// A quoted "YYYY-MM-DD" or a bare TOML date.
    expires: toml::Value,
}

/// Parses the allow-list; every entry needs an id, a reason of a few words
/// and an expiry date. Each problem names the entry.
pub fn parse_allowlist(text: &str) -> Result<AllowList, String> {
    let raw: RawAllowList = toml::from_str(text).map_err(|e| format!("the allow-list is not valid: {e}"))?;
    let fail_on = Severity::parse(&raw.fail_on)
        .filter(|s| *s != Severity::Unknown)
        .ok_or_else(|| format!("the allow-list's fail-on '{}' is not low, medium, high or critical", raw.fail_on))?;
    let mut entries = Vec::new();
    for (n, entry) in raw.allow.into_iter().enumerate() {
        let name = if entry.id.trim().is_empty() { format!("entry {}", n + 1) } else { entry.id.clone() };
        if entry.id.trim().is_empty() || entry.id.contains(char::is_whitespace) {
            return Err(format!("the allow-list's {name}: `id` must be one vulnerability id, like CVE-2025-1234"));
        }
        if entry.reason.split_whitespace().count() < 3 {
            return Err(format!("the allow-list's {name}: `reason` must say why it may ship (a few words at least)"));
        }
        let expires = match &entry.expires {
            toml::Value::String(s) => Date::parse(s),
            toml::Value::Datetime(d) if d.time.is_none() => Date::parse(&d.to_string()),
            _ => None,
        }
        .ok_or_else(|| format!("the allow-list's {name}: `expires` must be a date, YYYY-MM-DD"))?;
        if entries.iter().any(|e: &Allowed| e.id == entry.id && e.package == entry.package) {
            return Err(format!("the allow-list's {name} is listed twice"));
        }
        entries.push(Allowed { id: entry.id, package: entry.package, reason: entry.reason, expires });
    }
    Ok(AllowList { fail_on, entries })
}

/// What the gate decided, finding by finding.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Fixable, at or above the threshold, and not allowed: each blocks.
    pub blocking: Vec<Finding>,
    /// Would block, but an unexpired entry allows it.
    pub allowed: Vec<(Finding, Allowed)>,
    /// Entries past their date: each blocks.
    pub expired: Vec<Allowed>,
    /// Entries that expire more than [`MAX_DAYS_AHEAD`] days from today: each blocks.
    pub too_far: Vec<Allowed>,
    /// Below the threshold or without a fix: shown, never blocking.
    pub other: Vec<Finding>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.blocking.is_empty() && self.expired.is_empty() && self.too_far.is_empty()
    }

    /// The gate's report: one line a finding, the blocking ones first as
    /// `FAIL …`, then a summary line.
    pub fn lines(&self, list: &AllowList) -> Vec<String> {
        let mut lines = Vec::new();
        for f in &self.blocking {
            lines.push(format!(
                "FAIL {f}: fixable at or above {}; upgrade it, or allow it with a reason and an expiry",
                list.fail_on
            ));
        }
        for e in &self.expired {
            let package = e.package.as_deref().map(|p| format!(" in {p}")).unwrap_or_default();
            lines.push(format!(
                "FAIL allow-list: {}{package} expired on {} ({}); remove it, or renew it with a new date",
                e.id, e.expires, e.reason
            ));
        }
        for e in &self.too_far {
            lines.push(format!(
                "FAIL allow-list: {} expires on {}, more than {MAX_DAYS_AHEAD} days ahead; an exception is looked at again each quarter",
                e.id, e.expires
            ));
        }
        for (f, e) in &self.allowed {
            lines.push(format!("allowed {f}: until {} ({})", e.expires, e.reason));
        }
        let unfixed = self.other.iter().filter(|f| f.fixed_in.is_none()).count();
        lines.push(format!(
            "cve-gate: {} blocking, {} allow-list entries expired or beyond a quarter, {} allowed, {} below {} or without a fix ({} without a fix)",
            self.blocking.len(),
            self.expired.len() + self.too_far.len(),
            self.allowed.len(),
            self.other.len(),
            list.fail_on,
            unfixed
        ));
        lines
    }
}

/// The gate on `findings`, with `list`, on the day `today`. An entry is
/// good through its expiry date and expired the day after.
pub fn gate(findings: &[Finding], list: &AllowList, today: Date) -> Verdict {
    let mut verdict = Verdict {
        expired: list.entries.iter().filter(|e| e.expires < today).cloned().collect(),
        too_far: list.entries.iter().filter(|e| e.expires.days() - today.days() > MAX_DAYS_AHEAD).cloned().collect(),
        ..Verdict::default()
    };
    for f in findings {
        if f.fixed_in.is_none() || f.severity < list.fail_on {
            verdict.other.push(f.clone());
            continue;
        }
        match list.entries.iter().find(|e| e.covers(f) && e.expires >= today) {
            Some(e) => verdict.allowed.push((f.clone(), e.clone())),
            None => verdict.blocking.push(f.clone()),
        }
    }
    verdict
}
