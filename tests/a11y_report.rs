//! The a11y report step against the original Node reporter's outputs: the
//! shared fixture site's real axe results for every case, and a small fixture
//! of our own (tests/fixtures/a11y) whose rules reach every branch.

use std::fs;
use std::path::{Path, PathBuf};

use build_task::error::Result;
use build_task::site;
use build_task::tasks::a11y::report::{self, Coverage, Written};
use miniserde::json::{self, Number, Object, Value};

use crate::support::{TempDir, shared_fixtures};

/// The report step with the site's `-c` value and no coverage keys: the
/// original reporter's output. Returns the count.
fn generate(results: &Path, out: &Path, target: &str, config: Option<&str>) -> Result<u64> {
    report::generate(results, out, target, &site::rules(config.unwrap_or("")).expect("the config parses"), None)
        .map(|written| written.count)
}

const TARGET: &str = "https://example.gov";

fn own_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/a11y")
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    json::from_str(&text).unwrap_or_else(|_| panic!("{} is not JSON", path.display()))
}

fn object(value: &Value) -> &Object {
    match value {
        Value::Object(o) => o,
        other => panic!("not an object: {other:?}"),
    }
}

fn get<'a>(value: &'a Value, key: &str) -> &'a Value {
    object(value).get(key).unwrap_or_else(|| panic!("no {key:?} in {value:?}"))
}

fn array(value: &Value) -> &[Value] {
    match value {
        Value::Array(a) => a,
        other => panic!("not an array: {other:?}"),
    }
}

fn string(value: &Value) -> &str {
    match value {
        Value::String(s) => s,
        other => panic!("not a string: {other:?}"),
    }
}

/// A value as compact JSON text (miniserde's Value has no `PartialEq`).
fn text(value: &Value) -> String {
    json::to_string(value)
}

fn uint(value: &Value) -> u64 {
    match value {
        Value::Number(Number::U64(n)) => *n,
        other => panic!("not a count: {other:?}"),
    }
}

/// The `violatedRules` entry with this id.
fn rule<'a>(index: &'a Value, id: &str) -> &'a Value {
    array(get(index, "violatedRules"))
        .iter()
        .find(|r| string(get(r, "id")) == id)
        .unwrap_or_else(|| panic!("no violated rule {id}"))
}

/// The violation with this id in a sub-page's `groupedViolations`.
fn page_violation(page: &Value, id: &str) -> Value {
    object(get(page, "groupedViolations"))
        .values()
        .flat_map(array)
        .find(|v| string(get(v, "id")) == id)
        .cloned()
        .unwrap_or_else(|| panic!("no violation {id} on {}", string(get(page, "url"))))
}

/// Where two JSON values differ, as a path (`index.json: reportPages[3].path`), or
/// None when they are equal. Key order is not compared (the report's readers
/// do not depend on it); numbers compare by value.
fn difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for key in a.keys().chain(b.keys()) {
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => {
                        if let Some(d) = difference(x, y, &format!("{at}.{key}")) {
                            return Some(d);
                        }
                    }
                    (x, _) => {
                        let side = if x.is_some() { "only in ours" } else { "only in expected" };
                        return Some(format!("{at}.{key}: {side}"));
                    }
                }
            }
            None
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Some(format!("{at}: {} items, expected {}", a.len(), b.len()));
            }
            a.iter().zip(b.iter()).enumerate().find_map(|(i, (x, y))| difference(x, y, &format!("{at}[{i}]")))
        }
        (Value::Number(x), Value::Number(y)) => {
            let f = |n: &Number| match *n {
                Number::U64(n) => n as f64,
                Number::I64(n) => n as f64,
                Number::F64(n) => n,
            };
            (f(x) != f(y)).then(|| format!("{at}: {x} != {y}"))
        }
        (Value::String(x), Value::String(y)) => (x != y).then(|| format!("{at}: {x:?} != {y:?}")),
        (Value::Bool(x), Value::Bool(y)) => (x != y).then(|| format!("{at}: {x} != {y}")),
        (Value::Null, Value::Null) => None,
        (x, y) => Some(format!("{at}: {x:?} != {y:?}")),
    }
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("a listed entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every file in `expected` exists in `out` with an equal JSON value, and `out` has no other file.
fn assert_same_report(out: &Path, expected: &Path, case: &str) {
    assert_eq!(file_names(out), file_names(expected), "{case}: the files written");
    for name in file_names(expected) {
        let ours = read_json(&out.join(&name));
        let theirs = read_json(&expected.join(&name));
        if let Some(d) = difference(&ours, &theirs, &name) {
            panic!("{case}: {d}");
        }
    }
}

#[test]
fn every_shared_case_matches_the_original_reporter_file_by_file() {
    let Some(fixtures) = shared_fixtures() else { return };
    let axe = fixtures.join("axe");
    let manifest = read_json(&axe.join("cases.json"));
    let cases = array(get(&manifest, "cases"));
    assert!(!cases.is_empty(), "cases.json lists no case");
    for case in cases {
        let name = string(get(case, "name"));
        let config = fs::read_to_string(axe.join(string(get(case, "config")))).expect("the case's config");
        let out = TempDir::new("a11y-parity");
        let count =
            generate(&axe.join(string(get(case, "input_dir"))), out.path(), string(get(case, "target")), Some(&config))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(count, uint(get(case, "expected_count")), "{name}: the count");
        let expected = axe.join(string(get(case, "expected_dir")));
        let listed: Vec<String> = array(get(case, "expected_files")).iter().map(|f| string(f).to_owned()).collect();
        assert_eq!(file_names(&expected), listed, "{name}: expected_files and expected_dir disagree");
        assert_same_report(out.path(), &expected, name);
    }
}

#[test]
fn our_fixture_without_rules_matches_the_original_reporter() {
    let fixtures = own_fixtures();
    let out = TempDir::new("a11y-own");
    let count = generate(&fixtures.join("results"), out.path(), TARGET, None).unwrap();
    assert_eq!(count, 7, "every violated rule counts when there are no rules");
    assert_same_report(out.path(), &fixtures.join("expected/no-rules"), "no rules");
}

#[test]
fn our_fixture_with_rules_matches_the_original_reporter() {
    let fixtures = own_fixtures();
    let config = fs::read_to_string(fixtures.join("rules.json")).unwrap();
    let out = TempDir::new("a11y-own-rules");
    let count = generate(&fixtures.join("results"), out.path(), TARGET, Some(&config)).unwrap();
    assert_eq!(count, 3);
    assert_same_report(out.path(), &fixtures.join("expected/rules"), "rules");
}

/// Runs the report on our fixture with `config` and returns the count, the
/// index and a reader for sub-pages.
fn run_own(config: Option<&str>) -> (u64, Value, impl Fn(&str) -> Value) {
    let out = TempDir::new("a11y-run");
    let count = generate(&own_fixtures().join("results"), out.path(), TARGET, config).unwrap();
    let index = read_json(&out.path().join("index.json"));
    let page = move |name: &str| read_json(&out.path().join(format!("{name}.json")));
    (count, index, page)
}

#[test]
fn a_rule_without_match_ignores_the_whole_violation_with_its_source() {
    let (count, index, page) = run_own(Some(r#"{"rules":[{"id":"button-name","source":"Pages"}]}"#));
    assert_eq!(count, 6);
    let button = rule(&index, "button-name");
    assert_eq!(text(get(button, "ignore")), "true");
    assert_eq!(string(get(button, "ignoreSource")), "Pages");
    let button_on_page = page_violation(&page("axe-results-100"), "button-name");
    let node = &array(get(&button_on_page, "nodes"))[0];
    assert!(object(node).get("ignore").is_none(), "nodes are left alone when no match is given");
}

#[test]
fn an_empty_match_list_ignores_the_whole_violation_like_no_match() {
    let (count, index, _) = run_own(Some(r#"{"rules":[{"id":"list","match":[],"source":"Customer"}]}"#));
    assert_eq!(count, 6);
    assert_eq!(text(get(rule(&index, "list"), "ignore")), "true");
    assert_eq!(string(get(rule(&index, "list"), "ignoreSource")), "Customer");
}

#[test]
fn a_match_in_a_node_html_ignores_that_node_only() {
    let (count, _, page) = run_own(Some(r#"{"rules":[{"id":"image-alt","match":["logo.png"],"source":"Pages"}]}"#));
    assert_eq!(count, 7, "one node of two ignored leaves the violation counted");
    let image_alt = page_violation(&page("axe-results-100"), "image-alt");
    let nodes = array(get(&image_alt, "nodes"));
    assert!(object(&nodes[0]).get("ignore").is_none());
    assert_eq!(text(get(&nodes[1], "ignore")), "true");
    assert_eq!(string(get(&nodes[1], "ignoreSource")), "Pages");
    assert_eq!(text(get(&image_alt, "ignore")), "false");
    assert_eq!(string(get(&image_alt, "ignoreSource")), "", "untouched violations say \"\"");
}

#[test]
fn a_match_on_every_node_ignores_the_violation_and_no_source_leaves_ignore_source_out() {
    let (count, index, page) = run_own(Some(r#"{"rules":[{"id":"region","match":["<div"]}]}"#));
    assert_eq!(count, 6);
    let region = page_violation(&page("axe-results-100"), "region");
    assert_eq!(text(get(&region, "ignore")), "true");
    assert!(object(&region).get("ignoreSource").is_none());
    for node in array(get(&region, "nodes")) {
        assert_eq!(text(get(node, "ignore")), "true");
        assert!(object(node).get("ignoreSource").is_none());
    }
    assert_eq!(text(get(rule(&index, "region"), "ignore")), "true");
}

#[test]
fn a_match_in_the_page_url_ignores_the_violation_on_that_page_only() {
    let config = r#"{"rules":[{"id":"color-contrast","match":["/about/"],"source":"Customer"}]}"#;
    let (count, index, page) = run_own(Some(config));
    let about = page_violation(&page("axe-results-200"), "color-contrast");
    assert_eq!(text(get(&about, "ignore")), "true");
    assert_eq!(string(get(&about, "ignoreSource")), "Customer");
    let root = page_violation(&page("axe-results-100"), "color-contrast");
    assert_eq!(text(get(&root, "ignore")), "false");
    // The index keeps the copy read first: /about/ (axe-results-200 sorts after -100).
    let indexed = rule(&index, "color-contrast");
    assert_eq!(text(get(indexed, "ignore")), "true");
    assert_eq!(count, 6);
}

#[test]
fn the_first_rule_with_the_id_wins_and_a_rule_that_matches_nothing_changes_nothing() {
    let config = r#"{"rules":[
        {"id":"link-name","match":["nothing-here"],"source":"Pages"},
        {"id":"link-name","source":"Customer"}]}"#;
    let (count, index, _) = run_own(Some(config));
    assert_eq!(count, 7);
    let link = rule(&index, "link-name");
    assert_eq!(text(get(link, "ignore")), "false");
    assert_eq!(string(get(link, "ignoreSource")), "");
}

#[test]
fn violated_rules_keep_the_first_read_copy_with_summed_totals_and_all_urls() {
    let (_, index, _) = run_own(None);
    let image_alt = rule(&index, "image-alt");
    assert_eq!(uint(get(image_alt, "total")), 3);
    let urls: Vec<&str> = array(get(image_alt, "urls")).iter().map(string).collect();
    assert_eq!(urls, ["https://example.gov/about/", "https://example.gov/"]);
    let nodes = array(get(image_alt, "nodes"));
    assert_eq!(nodes.len(), 1, "the nodes are those of the first page read");
    assert_eq!(string(get(&nodes[0], "html")), r#"<img src="team.png">"#);
    assert!(object(image_alt).get("icon").is_none(), "icon is never set");
    assert_eq!(string(get(image_alt, "color")), "secondary-vivid");
}

#[test]
fn violated_rules_sort_by_order_then_total_then_id() {
    let (_, index, _) = run_own(None);
    let ids: Vec<&str> = array(get(&index, "violatedRules")).iter().map(|r| string(get(r, "id"))).collect();
    // link-name was read before aria-hidden-focus; both are serious with one node.
    assert_eq!(ids, ["image-alt", "button-name", "color-contrast", "aria-hidden-focus", "link-name", "region", "list"]);
    let orders: Vec<u64> = array(get(&index, "violatedRules")).iter().map(|r| uint(get(r, "order"))).collect();
    assert_eq!(orders, [0, 0, 1, 1, 1, 2, 3]);
}

#[test]
fn report_pages_sort_by_violations_and_failed_pages_come_last() {
    let (_, index, _) = run_own(None);
    let pages = array(get(&index, "reportPages"));
    let paths: Vec<String> = pages.iter().map(|p| text(get(p, "path"))).collect();
    assert_eq!(paths, [r#""axe-results-100""#, r#""axe-results-200""#, r#""axe-results-300""#, "null", "null"]);
    // The unparseable file (read first) has no URL; the scan's error marker keeps its own.
    assert_eq!(text(get(&pages[3], "absoluteURL")), "null");
    assert_eq!(text(get(&pages[3], "relativeURL")), "null");
    assert_eq!(string(get(&pages[4], "absoluteURL")), "https://example.gov/down.html");
    assert_eq!(string(get(&pages[4], "relativeURL")), "/down.html");
    assert_eq!(text(get(&pages[4], "failed")), "true");
    assert_eq!(text(get(&pages[4], "moreCount")), "null");
    assert_eq!(uint(get(&index, "totalPageCount")), 5, "every file but the dotfile is a page");
    assert_eq!(uint(get(&index, "currentPage")), 5);
    assert_eq!(uint(get(&index, "totalViolationsCount")), 9, "rules per page, not nodes");
}

#[test]
fn a_sub_page_groups_violations_by_impact_and_sorts_by_node_count() {
    let (_, index, page) = run_own(None);
    let root = page("axe-results-100");
    let groups = object(get(&root, "groupedViolations"));
    let ids = |impact: &str| -> Vec<String> {
        array(&groups[impact]).iter().map(|v| string(get(v, "id")).to_owned()).collect()
    };
    assert_eq!(ids("critical"), ["image-alt", "button-name"], "two nodes before one");
    assert_eq!(ids("serious"), ["color-contrast", "aria-hidden-focus"], "ties keep the results' order");
    let passes: Vec<&str> = array(get(&root, "passes")).iter().map(|p| string(get(p, "id"))).collect();
    assert_eq!(passes, ["html-has-lang", "document-title", "landmark-one-main"]);
    let image_alt = page_violation(&root, "image-alt");
    assert_eq!(string(get(&image_alt, "description")), "Ensure <img> elements have alternative text");
    assert_eq!(uint(get(&image_alt, "total")), 2);
    let keys: Vec<&String> = object(&root).keys().collect();
    assert_eq!(keys, ["groupedViolations", "passes", "timestamp", "url", "violationsCount"]);
    let first = &array(get(&index, "reportPages"))[0];
    assert_eq!(uint(get(first, "moreCount")), 2, "moderate and minor are behind the two pills");
}

#[test]
fn a_target_with_a_trailing_slash_gives_an_empty_relative_url_for_the_root() {
    let out = TempDir::new("a11y-slash");
    generate(&own_fixtures().join("results"), out.path(), "https://example.gov/", None).unwrap();
    let index = read_json(&out.path().join("index.json"));
    let pages = array(get(&index, "reportPages"));
    assert_eq!(string(get(&pages[0], "relativeURL")), "");
    assert_eq!(string(get(&pages[1], "relativeURL")), "about/");
    assert_eq!(string(get(&pages[4], "relativeURL")), "down.html");
}

#[test]
fn a_page_outside_the_target_has_no_relative_url() {
    let out = TempDir::new("a11y-other");
    generate(&own_fixtures().join("results"), out.path(), "https://other.gov", None).unwrap();
    let index = read_json(&out.path().join("index.json"));
    let pages = array(get(&index, "reportPages"));
    assert!(object(&pages[0]).get("relativeURL").is_none(), "JSON.stringify dropped the undefined part");
    assert_eq!(text(get(&pages[4], "relativeURL")), "null");
}

#[test]
fn a_violation_without_impact_is_shown_as_other() {
    let dir = TempDir::new("a11y-impact");
    let results = dir.path().join("results");
    fs::create_dir(&results).unwrap();
    fs::write(
        results.join("axe-results-1.json"),
        r#"[{"url":"https://example.gov/x","passes":[],"violations":[
            {"id":"odd","impact":null,"description":"Ensures odd","nodes":[{"html":"<i>"}]}]}]"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    assert_eq!(generate(&results, &out, TARGET, None).unwrap(), 1);
    let index = read_json(&out.join("index.json"));
    let odd = rule(&index, "odd");
    assert_eq!(string(get(odd, "impact")), "other");
    assert_eq!(string(get(odd, "color")), "disabled-dark");
    assert_eq!(uint(get(odd, "order")), 4);
    assert!(object(odd).get("timestamp").is_none());
}

#[test]
fn a_missing_or_empty_results_folder_is_an_error() {
    let dir = TempDir::new("a11y-empty");
    let err = generate(&dir.path().join("nope"), &dir.path().join("out"), TARGET, None).unwrap_err();
    assert!(err.to_string().starts_with("cannot read the axe results folder "), "{err}");
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    fs::write(empty.join(".hidden"), "[]").unwrap();
    let err = generate(&empty, &dir.path().join("out"), TARGET, None).unwrap_err();
    assert!(err.to_string().starts_with("0 results files in "), "{err}");
    assert!(!dir.path().join("out").exists(), "nothing is written for no results");
}

/// Our fixture's results plus one file, `axe-results-0.json`, holding
/// `contents`: the report's outcome, index, and where it was written.
fn report_with_odd_file(contents: &str) -> (Written, Value, TempDir) {
    let dir = TempDir::new("a11y-odd");
    let results = dir.path().join("results");
    fs::create_dir(&results).unwrap();
    for entry in fs::read_dir(own_fixtures().join("results")).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), results.join(entry.file_name())).unwrap();
    }
    fs::write(results.join("axe-results-0.json"), contents).unwrap();
    let out = dir.path().join("out");
    let written = report::generate(&results, &out, TARGET, &[], None)
        .unwrap_or_else(|e| panic!("one odd file must not fail the report, but: {e}\n{contents}"));
    let index = read_json(&out.join("index.json"));
    (written, index, dir)
}

/// The failed entries of `reportPages`, as their `absoluteURL`s (null for none).
fn failed_urls(index: &Value) -> Vec<String> {
    array(get(index, "reportPages"))
        .iter()
        .filter(|page| object(page).get("failed").is_some_and(|f| text(f) == "true"))
        .map(|page| text(get(page, "absoluteURL")))
        .collect()
}

/// The report of a results file that is not axe's: the odd page is one more
/// failed page, with `url` as its `absoluteURL` (JSON text), and the rest of
/// the report is exactly the report without that file.
fn assert_failed_page_only(contents: &str, url: &str) {
    let (written, index, _dir) = report_with_odd_file(contents);
    let baseline = TempDir::new("a11y-odd-baseline");
    let count = generate(&own_fixtures().join("results"), baseline.path(), TARGET, None).unwrap();
    let expected = read_json(&baseline.path().join("index.json"));

    // Our fixture has a file it cannot parse and an error marker: two failed
    // pages; ours comes between them in the order the files are read.
    assert_eq!(written, Written { count, pages: 6, failed: 3 }, "{contents}");
    let null = "null".to_owned();
    assert_eq!(failed_urls(&index), [null, url.to_owned(), "\"https://example.gov/down.html\"".to_owned()]);
    let odd = array(get(&index, "reportPages")).iter().filter(|p| object(p).contains_key("failed")).nth(1).unwrap();
    assert_eq!(text(get(odd, "path")), "null", "a failed page has no sub-page");
    assert_eq!(uint(get(&index, "totalPageCount")), 6);

    let scanned = |index: &Value| -> Value {
        Value::Array(
            array(get(index, "reportPages")).iter().filter(|p| !object(p).contains_key("failed")).cloned().collect(),
        )
    };
    assert_eq!(difference(&scanned(&index), &scanned(&expected), "reportPages"), None);
    assert_eq!(difference(get(&index, "violatedRules"), get(&expected, "violatedRules"), "violatedRules"), None);
    assert_eq!(text(get(&index, "totalViolationsCount")), text(get(&expected, "totalViolationsCount")));
    // No sub-page for the odd file; every other sub-page as before.
    let out = _dir.path().join("out");
    assert_eq!(file_names(&out), file_names(baseline.path()));
    for name in file_names(baseline.path()).into_iter().filter(|name| name != "index.json") {
        let d = difference(&read_json(&out.join(&name)), &read_json(&baseline.path().join(&name)), &name);
        assert_eq!(d, None);
    }
}

#[test]
fn a_results_list_that_prototype_js_turned_into_a_string_is_a_failed_page_with_its_url() {
    // Prototype.js 1.6's Array.prototype.toJSON makes JSON.stringify write
    // the list as one string holding JSON-like text.
    let inner = r#"[{"url": "https://example.gov/prototype.html", "violations": [], "passes": []}]"#;
    assert_failed_page_only(&json::to_string(&Value::String(inner.into())), "\"https://example.gov/prototype.html\"");
    // A string that holds no readable list: no URL.
    assert_failed_page_only(r#""[object Object]""#, "null");
}

#[test]
fn a_page_whose_own_axe_answers_an_empty_object_is_a_failed_page_without_a_url() {
    assert_failed_page_only("{}", "null");
    assert_failed_page_only("[{}]", "null");
    assert_failed_page_only("[\n  {}\n]", "null");
}

#[test]
fn a_file_that_is_not_a_list_holding_one_result_is_a_failed_page() {
    for contents in ["[]", "null", "5", "true", "[5]", "[null]", "[[]]", r#"["https://example.gov/a.html"]"#] {
        assert_failed_page_only(contents, "null");
    }
    // A lone result, not in a list, still names its page.
    assert_failed_page_only(
        r#"{"url": "https://example.gov/alone.html", "violations": [], "passes": []}"#,
        "\"https://example.gov/alone.html\"",
    );
}

#[test]
fn a_result_without_a_url_string_is_a_failed_page_without_a_url() {
    for url in ["", r#""url": 5,"#, r#""url": null,"#, r#""url": ["https://example.gov/"],"#, r#""url": {},"#] {
        assert_failed_page_only(&format!(r#"[{{{url} "violations": [], "passes": []}}]"#), "null");
    }
}

#[test]
fn violations_or_passes_of_the_wrong_shape_are_a_failed_page_with_its_url() {
    let url = "\"https://example.gov/odd.html\"";
    for fields in [
        r#""passes": []"#,
        r#""violations": {}, "passes": []"#,
        r#""violations": "none", "passes": []"#,
        r#""violations": null, "passes": []"#,
        r#""violations": []"#,
        r#""violations": [], "passes": {}"#,
        r#""violations": [], "passes": [5]"#,
        r#""violations": [], "passes": [{"id": "p"}]"#,
        r#""violations": [], "passes": [{"id": "p", "nodes": {}}]"#,
    ] {
        assert_failed_page_only(&format!(r#"[{{"url": {url}, {fields}}}]"#), url);
    }
}

#[test]
fn a_violation_or_node_of_the_wrong_shape_is_a_failed_page_with_its_url() {
    let url = "\"https://example.gov/odd.html\"";
    for violation in [
        "5",
        "null",
        r#""image-alt""#,
        "[]",
        r#"{"id": "image-alt", "description": "d"}"#,
        r#"{"id": "image-alt", "description": "d", "nodes": {}}"#,
        r#"{"id": "image-alt", "nodes": []}"#,
        r#"{"id": "image-alt", "description": 5, "nodes": []}"#,
        r#"{"id": "image-alt", "impact": "serious", "description": "d", "nodes": [null]}"#,
        r#"{"id": "image-alt", "impact": "serious", "description": "d", "nodes": ["<img>"]}"#,
        r#"{"id": "image-alt", "impact": "serious", "description": "d", "nodes": [{"html": "<img>"}, []]}"#,
    ] {
        assert_failed_page_only(&format!(r#"[{{"url": {url}, "violations": [{violation}], "passes": []}}]"#), url);
    }
}

#[test]
fn a_scan_coverage_adds_the_page_counts_and_the_pages_not_scanned_to_the_index() {
    let dir = TempDir::new("a11y-coverage");
    let out = dir.path().join("out");
    let not_scanned = vec!["https://example.gov/late.html".to_owned(), "https://example.gov/later.html".to_owned()];
    let coverage = Coverage { found: 612, sampled: 7, not_scanned };
    let written = report::generate(&own_fixtures().join("results"), &out, TARGET, &[], Some(&coverage)).unwrap();
    assert_eq!(written, Written { count: 7, pages: 5, failed: 2 });
    let index = read_json(&out.join("index.json"));
    assert_eq!(uint(get(&index, "pagesFound")), 612);
    assert_eq!(uint(get(&index, "pagesSampled")), 7);
    assert_eq!(uint(get(&index, "pagesScanned")), 5);
    assert_eq!(uint(get(&index, "pagesFailed")), 2);
    assert_eq!(
        text(get(&index, "pagesNotScanned")),
        r#"["https://example.gov/late.html","https://example.gov/later.html"]"#
    );
    // Everything else is the original's report.
    let mut ours = object(&index).clone();
    for key in ["pagesFound", "pagesSampled", "pagesScanned", "pagesFailed", "pagesNotScanned"] {
        ours.remove(key);
    }
    let expected = read_json(&own_fixtures().join("expected/no-rules/index.json"));
    assert_eq!(difference(&Value::Object(ours), &expected, "index.json"), None);
}

#[test]
fn a_folder_among_the_results_is_a_failed_page_as_the_original_could_not_read_it() {
    let dir = TempDir::new("a11y-folder");
    let results = dir.path().join("results");
    fs::create_dir_all(results.join("sub")).unwrap();
    fs::copy(own_fixtures().join("results/axe-results-300.json"), results.join("axe-results-300.json")).unwrap();
    let out = dir.path().join("out");
    assert_eq!(generate(&results, &out, TARGET, None).unwrap(), 0);
    let index = read_json(&out.join("index.json"));
    let pages = array(get(&index, "reportPages"));
    assert_eq!(pages.len(), 2);
    assert_eq!(text(get(&pages[1], "failed")), "true");
    assert_eq!(file_names(&out), ["axe-results-300.json", "index.json"]);
}
