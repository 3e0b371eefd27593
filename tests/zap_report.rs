//! The owasp-zap report step: parity with the original Node reporter on every
//! shared fixture case, and the rules, splits and Markdown on small fixtures
//! of our own (tests/fixtures/zap).

use std::path::{Path, PathBuf};

use build_task::site;
use build_task::tasks::owasp_zap::report;
use miniserde::json::{self, Number, Value};

use crate::support::{TempDir, shared_fixtures};

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    json::from_str(&text).unwrap_or_else(|_| panic!("{} is not JSON", path.display()))
}

fn get<'a>(v: &'a Value, key: &str) -> &'a Value {
    match v {
        Value::Object(o) => o.get(key).unwrap_or_else(|| panic!("no key {key}")),
        _ => panic!("not an object where {key} was looked up"),
    }
}

fn text(v: &Value) -> &str {
    match v {
        Value::String(s) => s,
        _ => panic!("not a string"),
    }
}

fn num(n: &Number) -> f64 {
    match *n {
        Number::U64(u) => u as f64,
        Number::I64(i) => i as f64,
        Number::F64(f) => f,
    }
}

/// HTML text with its character references decoded, so that marked's
/// `&#39;`/`&quot;` and a bare `'`/`"` read the same.
pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| match &rest[1..e] {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            "copy" => Some('©'),
            n if n.starts_with("#x") || n.starts_with("#X") => {
                u32::from_str_radix(&n[2..], 16).ok().and_then(char::from_u32)
            }
            n if n.starts_with('#') => n[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        });
        match (end, decoded) {
            (Some(e), Some(c)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Differences between two JSON values, key order ignored. Strings equal
/// only once HTML entities are decoded go to `escaping`; anything else to
/// the returned list.
pub fn diff(path: &str, ours: &Value, theirs: &Value, escaping: &mut Vec<String>, out: &mut Vec<String>) {
    match (ours, theirs) {
        (Value::Null, Value::Null) => {}
        (Value::Bool(a), Value::Bool(b)) if a == b => {}
        (Value::Number(a), Value::Number(b)) if num(a) == num(b) => {}
        (Value::String(a), Value::String(b)) if a == b => {}
        (Value::String(a), Value::String(b)) if decode_entities(a) == decode_entities(b) => {
            escaping.push(format!("{path}: {a:?} / marked: {b:?}"));
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
                diff(&format!("{path}[{i}]"), x, y, escaping, out);
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            for key in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => diff(&format!("{path}.{key}"), x, y, escaping, out),
                    (Some(_), None) => out.push(format!("{path}.{key}: only in ours")),
                    (None, _) => out.push(format!("{path}.{key}: missing in ours")),
                }
            }
        }
        (Value::String(a), Value::String(b)) => {
            let at = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
            let around = |s: &str| s.chars().skip(at.saturating_sub(60)).take(160).collect::<String>();
            out.push(format!("{path} at char {at}:\n  ours:   {:?}\n  marked: {:?}", around(a), around(b)));
        }
        _ => {
            let cut = |v: &Value| json::to_string(v).chars().take(400).collect::<String>();
            out.push(format!("{path}:\n  ours:   {}\n  marked: {}", cut(ours), cut(theirs)));
        }
    }
}

fn generate(input: &Path, config: &Path, dir: &TempDir) -> (u64, Value) {
    let (count, bytes) = generate_bytes(input, config, dir);
    (count, json::from_str(std::str::from_utf8(&bytes).unwrap()).expect("the output is JSON"))
}

fn generate_bytes(input: &Path, config: &Path, dir: &TempDir) -> (u64, Vec<u8>) {
    let rules = site::rules(&std::fs::read_to_string(config).unwrap()).expect("the config parses");
    let out = dir.path().join("index.json");
    let count = report::generate(input, &rules, &out).expect("the report is generated");
    (count, std::fs::read(&out).unwrap())
}

/// Our output against the original's: the same bytes, or else the
/// differences (key order ignored), those in HTML escaping apart.
fn compare(name: &str, ours: &[u8], expected: &Path, escaping: &mut Vec<String>, failures: &mut Vec<String>) {
    let theirs = std::fs::read(expected).unwrap();
    if ours == theirs {
        return;
    }
    let parse = |b: &[u8]| -> Value { json::from_str(std::str::from_utf8(b).unwrap()).unwrap() };
    let before = failures.len();
    diff(name, &parse(ours), &parse(&theirs), escaping, failures);
    if failures.len() == before {
        failures.push(format!("{name}: the same JSON value, but not the same bytes (key order?)"));
    }
}

fn zap_fixtures() -> Option<PathBuf> {
    Some(shared_fixtures()?.join("zap"))
}

#[test]
fn every_shared_case_gives_the_original_reporters_index_json_and_count() {
    let Some(dir) = zap_fixtures() else { return };
    let cases = read_json(&dir.join("cases.json"));
    let Value::Array(cases) = get(&cases, "cases") else { panic!("cases is a list") };
    let tmp = TempDir::new("zap-parity");
    let mut compared = 0;
    let mut escaping = Vec::new();
    let mut failures = Vec::new();
    for case in cases.iter() {
        let name = text(get(case, "name"));
        if !matches!(get(case, "expected_exit_code"), Value::Number(n) if num(n) == 0.0) {
            continue;
        }
        let (count, ours) =
            generate_bytes(&dir.join(text(get(case, "input"))), &dir.join(text(get(case, "config"))), &tmp);
        let expected = dir.join(text(get(case, "expected_output")));
        let Value::Number(expected_count) = get(case, "expected_count") else { panic!("{name}: expected_count") };
        if count as f64 != num(expected_count) {
            failures.push(format!("{name}: count {count}, expected {}", num(expected_count)));
        }
        compare(name, &ours, &expected, &mut escaping, &mut failures);
        compared += 1;
    }
    assert_eq!(compared, 15, "every case with an expected output was compared");
    assert!(failures.is_empty(), "{} differences:\n{}", failures.len(), failures.join("\n"));
    // The only differences left are in HTML escaping, and the rendered text is equal.
    for e in &escaping {
        eprintln!("escaping only: {}", e.chars().take(300).collect::<String>());
    }
}

fn own(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zap").join(name)
}

/// tests/fixtures/zap/expected.json is what the original reporter (marked
/// 12.0.1) wrote for report.json and config.json: every rule branch, a split
/// with 'multiple criteria', headings, escaping, bare URLs, www and e-mail
/// links, a loose list and blanks at line ends.
#[test]
fn our_crafted_report_gives_what_the_original_reporter_gave() {
    let tmp = TempDir::new("zap-own");
    let (count, bytes) = generate_bytes(&own("report.json"), &own("config.json"), &tmp);
    assert_eq!(count, 5);
    let (mut escaping, mut differences) = (Vec::new(), Vec::new());
    compare("crafted", &bytes, &own("expected.json"), &mut escaping, &mut differences);
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    assert!(escaping.is_empty(), "{}", escaping.join("\n"));
    let ours: Value = json::from_str(std::str::from_utf8(&bytes).unwrap()).unwrap();
    let alerts = |v: &Value| match get(get(v, "site"), "alerts") {
        Value::Array(a) => a
            .iter()
            .map(|a| {
                (
                    text(get(a, "pluginid")).to_owned(),
                    matches!(a, Value::Object(o) if matches!(o.get("ignore"), Some(Value::Bool(true)))),
                )
            })
            .collect::<Vec<_>>(),
        _ => panic!(),
    };
    // The kept half of a split alert comes first, then the ignored half.
    let order = alerts(&ours);
    let at = order.iter().position(|(id, _)| id == "10036").unwrap();
    assert_eq!(order[at..at + 2], [("10036".to_owned(), false), ("10036".to_owned(), true)]);
}

#[test]
fn an_instance_without_evidence_is_kept_where_the_original_crashed() {
    // The original threw "Cannot read properties of undefined (reading
    // 'includes')" when a match string missed the uri and there was no evidence.
    let tmp = TempDir::new("zap-no-evidence");
    let rules = site::rules(r#"{"rules":[{"id":"10035","match":["robots.txt"],"source":"Pages"}]}"#).unwrap();
    let out = tmp.path().join("index.json");
    let count = report::generate(&own("no-evidence.json"), &rules, &out).unwrap();
    assert_eq!(count, 1, "the kept half counts");
    let index = read_json(&out);
    let Value::Array(alerts) = get(get(&index, "site"), "alerts") else { panic!() };
    assert_eq!(alerts.len(), 2);
    let uris = |a: &Value| match get(a, "instances") {
        Value::Array(i) => i.iter().map(|i| text(get(i, "uri")).to_owned()).collect::<Vec<_>>(),
        _ => panic!(),
    };
    assert_eq!(uris(&alerts[0]), ["https://site.example/other"]);
    assert_eq!(uris(&alerts[1]), ["https://site.example/robots.txt"]);
    assert_eq!(text(get(&alerts[1], "ignoreSource")), "Pages");
}

#[test]
fn every_shared_crash_case_gives_a_report_instead() {
    let Some(dir) = zap_fixtures() else { return };
    let cases = read_json(&dir.join("cases.json"));
    let Value::Array(cases) = get(&cases, "cases") else { panic!() };
    let tmp = TempDir::new("zap-crash");
    let mut seen = 0;
    for case in cases.iter().filter(|c| matches!(get(c, "expected_exit_code"), Value::Number(n) if num(n) == 1.0)) {
        let (_, index) = generate(&dir.join(text(get(case, "input"))), &dir.join(text(get(case, "config"))), &tmp);
        assert!(matches!(get(get(&index, "site"), "alerts"), Value::Array(a) if !a.is_empty()));
        seen += 1;
    }
    assert!(seen > 0);
}

#[test]
fn a_missing_empty_truncated_or_foreign_report_is_a_clear_error_and_leaves_no_output() {
    let tmp = TempDir::new("zap-bad");
    let full = std::fs::read_to_string(own("report.json")).unwrap();
    let cases: [(&str, Option<&str>, &str); 6] = [
        ("missing.json", None, "cannot read the ZAP report"),
        ("empty.json", Some(""), "is empty"),
        ("truncated.json", Some(&full[..full.len() / 2]), "is not valid JSON (truncated?)"),
        (
            "axe.json",
            Some(r#"[{"url":"https://site.example","violations":[]}]"#),
            "is not a ZAP JSON report: not a JSON object",
        ),
        (
            "nosite.json",
            Some(r#"{"@version":"2.16.1","site":[]}"#),
            "is not a ZAP JSON report: no site in its site list",
        ),
        ("noalerts.json", Some(r#"{"site":[{"@name":"x"}]}"#), "is not a ZAP JSON report: its site has no alert list"),
    ];
    for (name, content, message) in cases {
        let input = tmp.path().join(name);
        if let Some(content) = content {
            std::fs::write(&input, content).unwrap();
        }
        let out = tmp.path().join(format!("{name}.out"));
        let err = report::generate(&input, &[], &out).unwrap_err();
        assert!(err.message().contains(message), "{name}: {err}");
        assert!(err.message().contains(name), "the error names the file: {err}");
        assert!(!out.exists(), "{name}: nothing written");
    }
}
