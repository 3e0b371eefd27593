//! The CVE gate on reports shaped as grype and trivy write them
//! (tests/fixtures/cve: the same four findings in each scanner's JSON), with
//! allow-lists written here, on a fixed day; then the repository's own
//! allow-list, and the binary's exit status and output.

use std::path::{Path, PathBuf};
use std::process::Command;

use build_task_audit::cve::{Date, Finding, MAX_DAYS_AHEAD, Severity, gate, parse_allowlist, parse_report};

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cve").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn day(text: &str) -> Date {
    Date::parse(text).unwrap()
}

const TODAY: &str = "2026-12-03";

/// The ids of the blocking findings, the expired entries' ids, and the allowed ids.
fn decide(report: &str, allowlist: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let list = parse_allowlist(allowlist).unwrap();
    let verdict = gate(&parse_report(report).unwrap(), &list, day(TODAY));
    (
        verdict.blocking.iter().map(|f| format!("{} {}", f.id, f.package)).collect(),
        verdict.expired.iter().map(|e| e.id.clone()).collect(),
        verdict.allowed.iter().map(|(f, _)| f.id.clone()).collect(),
    )
}

#[test]
fn both_scanners_reports_read_as_the_same_findings() {
    for name in ["grype.json", "trivy.json"] {
        let findings = parse_report(&fixture(name)).unwrap();
        let libssl = Finding {
            id: "CVE-2025-9230".into(),
            package: "libssl3".into(),
            version: "3.0.15-1~deb12u1".into(),
            severity: Severity::High,
            fixed_in: Some("3.0.17-1~deb12u3".into()),
        };
        assert_eq!(findings.len(), 4, "{name}: {findings:#?}");
        assert_eq!(findings[0], libssl, "{name}");
        assert_eq!((findings[1].severity, findings[1].fixed_in.as_deref()), (Severity::Critical, None), "{name}");
        assert_eq!((findings[3].package.as_str(), findings[3].severity), ("ring", Severity::Critical), "{name}");
    }
    assert!(parse_report(&fixture("grype-clean.json")).unwrap().is_empty());
    assert!(parse_report(&fixture("trivy-clean.json")).unwrap().is_empty());
}

#[test]
fn a_fixable_finding_at_or_above_the_threshold_blocks_and_one_without_a_fix_or_below_does_not() {
    for name in ["grype.json", "trivy.json"] {
        let (blocking, expired, _) = decide(&fixture(name), "fail-on = \"high\"\n");
        // libpam0g is critical without a fix; perl-base is medium.
        assert_eq!(blocking, ["CVE-2025-9230 libssl3", "GHSA-4grx-2x9w-596c ring"], "{name}");
        assert!(expired.is_empty());
        let (blocking, _, _) = decide(&fixture(name), "fail-on = \"critical\"\n");
        assert_eq!(blocking, ["GHSA-4grx-2x9w-596c ring"], "{name}");
        let (blocking, _, _) = decide(&fixture(name), "fail-on = \"medium\"\n");
        assert_eq!(blocking.len(), 3, "{name}: perl-base too");
    }
    let (blocking, _, _) = decide(&fixture("grype-clean.json"), "fail-on = \"low\"\n");
    assert!(blocking.is_empty());
}

#[test]
fn an_entry_allows_its_finding_until_its_expiry_date_and_the_day_after_it_fails() {
    let entry = |expires: &str| {
        format!(
            "fail-on = \"high\"\n[[allow]]\nid = \"CVE-2025-9230\"\npackage = \"libssl3\"\n\
             reason = \"the task never makes TLS connections with OpenSSL\"\nexpires = \"{expires}\"\n"
        )
    };
    for name in ["grype.json", "trivy.json"] {
        let (blocking, expired, allowed) = decide(&fixture(name), &entry("2026-12-03"));
        assert_eq!(blocking, ["GHSA-4grx-2x9w-596c ring"], "{name}: the last day still allows it");
        assert_eq!((expired.len(), allowed), (0, vec!["CVE-2025-9230".to_owned()]));
        let (blocking, expired, allowed) = decide(&fixture(name), &entry("2026-12-02"));
        assert_eq!(blocking, ["CVE-2025-9230 libssl3", "GHSA-4grx-2x9w-596c ring"], "{name}");
        assert_eq!((expired, allowed.len()), (vec!["CVE-2025-9230".to_owned()], 0));
    }
    // An expired entry fails the gate even when nothing it names is found.
    let (blocking, expired, _) = decide(&fixture("grype-clean.json"), &entry("2026-01-31"));
    assert!(blocking.is_empty());
    assert_eq!(expired, ["CVE-2025-9230"]);
}

#[test]
fn an_entry_that_expires_more_than_a_quarter_ahead_fails_the_gate() {
    let entry = |expires: &str| {
        format!(
            "fail-on = \"high\"\n[[allow]]\nid = \"CVE-2025-9230\"\n\
             reason = \"the task never makes TLS connections with OpenSSL\"\nexpires = \"{expires}\"\n"
        )
    };
    // 2026-12-03 + 92 days is 2027-03-05.
    assert_eq!(Date::from_days(day(TODAY).days() + MAX_DAYS_AHEAD), day("2027-03-05"));
    let list = parse_allowlist(&entry("2027-03-05")).unwrap();
    let verdict = gate(&parse_report(&fixture("grype-clean.json")).unwrap(), &list, day(TODAY));
    assert!(verdict.passed(), "{:?}", verdict.lines(&list));
    let list = parse_allowlist(&entry("2027-03-06")).unwrap();
    let verdict = gate(&parse_report(&fixture("grype-clean.json")).unwrap(), &list, day(TODAY));
    assert!(!verdict.passed());
    assert_eq!(
        verdict.lines(&list)[0],
        "FAIL allow-list: CVE-2025-9230 expires on 2027-03-06, more than 92 days ahead; an exception is looked at again each quarter"
    );
}

#[test]
fn an_entry_for_one_package_does_not_allow_the_same_id_in_another() {
    let list = "fail-on = \"high\"\n[[allow]]\nid = \"CVE-2025-9230\"\npackage = \"libssl-dev\"\n\
                reason = \"only a build dependency, never installed\"\nexpires = \"2027-01-01\"\n";
    let (blocking, _, allowed) = decide(&fixture("grype.json"), list);
    assert!(blocking.contains(&"CVE-2025-9230 libssl3".to_owned()), "{blocking:?}");
    assert!(allowed.is_empty());
    // Without `package`, every package with the id.
    let list = list.replace("package = \"libssl-dev\"\n", "");
    let (blocking, _, allowed) = decide(&fixture("grype.json"), &list);
    assert_eq!((blocking, allowed), (vec!["GHSA-4grx-2x9w-596c ring".to_owned()], vec!["CVE-2025-9230".to_owned()]));
}

#[test]
fn the_allow_lists_format_is_checked_entry_by_entry() {
    let base = "fail-on = \"high\"\n[[allow]]\nid = \"CVE-2025-9230\"\n";
    let cases = [
        (format!("{base}reason = \"the task never uses it\"\n"), "missing field `expires`"),
        (format!("{base}expires = \"2027-01-01\"\n"), "missing field `reason`"),
        (format!("{base}reason = \"fine\"\nexpires = \"2027-01-01\"\n"), "CVE-2025-9230: `reason` must say why"),
        (format!("{base}reason = \"the task never uses it\"\nexpires = \"2027-02-30\"\n"), "`expires` must be a date"),
        (format!("{base}reason = \"the task never uses it\"\nexpires = \"next year\"\n"), "`expires` must be a date"),
        (format!("{base}reason = \"the task never uses it\"\nexpires = 2027\n"), "`expires` must be a date"),
        (
            format!("{base}reason = \"the task never uses it\"\nexpires = \"2027-01-01\"\nowner = \"me\"\n"),
            "unknown field `owner`",
        ),
        (
            "fail-on = \"high\"\n[[allow]]\nid = \"\"\nreason = \"the task never uses it\"\nexpires = \"2027-01-01\"\n"
                .to_owned(),
            "entry 1: `id` must be one vulnerability id",
        ),
        // A second entry with only its id.
        (
            format!(
                "{base}reason = \"the task never uses it\"\nexpires = \"2027-01-01\"\n[[allow]]\nid = \"CVE-2025-1\"\n"
            ),
            "missing field `reason`",
        ),
        ("fail-on = \"severe\"\n".to_owned(), "fail-on 'severe' is not low, medium, high or critical"),
        ("# nothing set\n".to_owned(), "missing field `fail-on`"),
    ];
    for (text, expected) in cases {
        let err = parse_allowlist(&text).expect_err(&text);
        assert!(err.contains(expected), "{text}\n=> {err}\n(expected {expected:?})");
    }
    // A duplicate, and the two spellings of a date TOML allows.
    let entry = "[[allow]]\nid = \"CVE-2025-9230\"\nreason = \"the task never uses it\"\nexpires = \"2027-01-01\"\n";
    let err = parse_allowlist(&format!("fail-on = \"high\"\n{entry}{entry}")).unwrap_err();
    assert!(err.contains("CVE-2025-9230 is listed twice"), "{err}");
    let bare =
        parse_allowlist(&format!("fail-on = \"high\"\n{}", entry.replace("\"2027-01-01\"", "2027-01-01"))).unwrap();
    assert_eq!(bare.entries[0].expires, day("2027-01-01"));
}

#[test]
fn the_repositorys_allow_list_is_valid_and_none_of_its_entries_has_expired() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cve-allowlist.toml");
    let list = parse_allowlist(&std::fs::read_to_string(&path).unwrap()).unwrap_or_else(|e| panic!("{e}"));
    assert!(list.fail_on >= Severity::High, "the gate stops at least High findings (the platform flags them)");
    let today = Date::today();
    for entry in &list.entries {
        assert!(entry.expires >= today, "{}: expired on {}; remove or renew it", entry.id, entry.expires);
        assert!(
            entry.expires.days() - today.days() <= MAX_DAYS_AHEAD,
            "{}: expires on {}, more than a quarter ahead",
            entry.id,
            entry.expires
        );
    }
}

#[test]
fn dates_are_days_of_the_calendar_and_today_comes_from_the_clock() {
    assert_eq!(Date::from_days(0), day("1970-01-01"));
    assert_eq!(Date::from_days(11_016), day("2000-02-29"));
    assert_eq!(Date::from_days(20_790), day("2026-12-03"));
    for days in [-1, 0, 59, 11_016, 20_790, 47_541] {
        assert_eq!(Date::from_days(days).days(), days, "{}", Date::from_days(days));
    }
    assert!(Date::parse("2028-02-29").is_some() && Date::parse("2100-02-29").is_none());
    assert!(Date::parse("2026-13-01").is_none() && Date::parse("2026-1-01").is_none());
    assert!(Date::today() >= day("2026-01-01"));
}

fn gate_bin(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_build-task-cve-gate")).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("cve-gate-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_binary_fails_a_blocking_report_passes_a_clean_one_and_cannot_run_on_a_bad_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cve");
    let list = temp("list.toml", "fail-on = \"high\"\n");
    let list = list.to_str().unwrap();
    let report = dir.join("trivy.json");
    let (code, out, _) = gate_bin(&["--allowlist", list, "--today", TODAY, report.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.lines().next().unwrap().starts_with(
            "FAIL CVE-2025-9230 high in libssl3 3.0.15-1~deb12u1 (fixed in 3.0.17-1~deb12u3): fixable at or above high"
        ),
        "{out}"
    );
    assert!(out.ends_with("cve-gate: 2 blocking, 0 allow-list entries expired or beyond a quarter, 0 allowed, 2 below high or without a fix (1 without a fix)\n"), "{out}");

    let clean = dir.join("grype-clean.json");
    let (code, out, _) = gate_bin(&["--allowlist", list, clean.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");

    let expired = temp(
        "expired.toml",
        "fail-on = \"high\"\n[[allow]]\nid = \"CVE-2024-1\"\nreason = \"a test of the expiry date\"\nexpires = \"2026-01-01\"\n",
    );
    let (code, out, _) =
        gate_bin(&["--allowlist", expired.to_str().unwrap(), "--today", TODAY, clean.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("FAIL allow-list: CVE-2024-1 expired on 2026-01-01 (a test of the expiry date)"), "{out}");

    let not_json = temp("report.txt", "No vulnerabilities found\n");
    let (code, _, err) = gate_bin(&["--allowlist", list, not_json.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.starts_with("build-task-cve-gate: ") && err.contains("the scan report is not JSON"), "{err}");
    let (code, _, err) = gate_bin(&["--allowlist", "/nonexistent/list.toml", clean.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("cannot read /nonexistent/list.toml"), "{err}");
}
