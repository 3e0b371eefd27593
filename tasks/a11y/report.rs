//! The a11y report: turns the axe results of a scan into the JSON files
//! pages-core renders (`index.json` and one `<name>.json` per page).
//!
//! This is a port of the original Node reporter
//! (`tasks/a11y/reporter/generate-report.js` in pages-cf-build-tasks), and it
//! keeps that reporter's behaviour on purpose, quirks included, because
//! pages-core's report pages were written against its output: the order in
//! which results files are read decides which page's copy of a rule stands in
//! `violatedRules`; `icon` is never set; `ignoreSource` is `""` until a rule
//! touches it and left out when that rule has no `source`; `relativeURL` is
//! `url.split(target)[1]`. Where the original crashed (a violation with an
//! unknown impact, an error marker whose URL lacks the target) or relied on an
//! accident of V8 (the place of failed pages), the comments below say what we
//! do instead.
//!
//! Everything is a [`Value`]: the results pass through untouched except for the
//! fields the reporter adds, so a newer axe with new fields needs no change here.
//!
//! A results file is written by the page's own JavaScript (axe's result goes
//! through the page's `JSON.stringify`), so its shape is untrusted: a file that
//! is not what axe writes (Prototype.js's `Array.prototype.toJSON` turns the
//! list into a string; a page's own `axe` answers `{}`) is that page's failure,
//! as an unreadable file was for the original, never the whole report's.
//!
//! Given a [`Coverage`], index.json also says how many pages the crawl found,
//! how many were sampled and scanned, and which the deadline left out:
//! `pagesFound`, `pagesSampled`, `pagesScanned`, `pagesFailed`,
//! `pagesNotScanned`. pages-core's report pages ignore keys they do not read.

use std::cmp::{Ordering, Reverse};
use std::collections::HashMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use miniserde::json::{self, Array, Number, Object, Value};

use crate::task::{Error, Result, Rule, warn};

/// The impacts axe gives a violation, in the order the report shows them, with
/// the colour and order the original took from `templates/utils.js`.
const SEVERITIES: [Severity; 5] = [
    Severity { name: "critical", color: "secondary-vivid", order: 0 },
    Severity { name: "serious", color: "error-dark", order: 1 },
    Severity { name: "moderate", color: "accent-warm-dark", order: 2 },
    Severity { name: "minor", color: "info-dark", order: 3 },
    Severity { name: "other", color: "disabled-dark", order: 4 },
];

struct Severity {
    name: &'static str,
    color: &'static str,
    order: u64,
}

/// What the task knows of the pages beyond the results files: the keys it
/// adds to index.json.
#[derive(Clone, Debug, Default)]
pub struct Coverage {
    /// Pages the crawl found.
    pub found: usize,
    /// Pages chosen to scan (all found, or the first and a random sample).
    pub sampled: usize,
    /// Pages the deadline came before, in the order they would have been scanned.
    pub not_scanned: Vec<String>,
}

/// What a written report holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// The count pages-core shows: violated rules that are not ignored.
    pub count: u64,
    /// Pages in the report: one per results file.
    pub pages: usize,
    /// Of those, pages that failed (an error marker, or a file that is not
    /// axe's results).
    pub failed: usize,
}

/// Reads every axe results file in `results_dir`, writes index.json and one
/// `<name>.json` per results file into `out_dir`, as the original reporter
/// did, with [`Coverage`]'s keys when it is given.
pub fn generate(
    results_dir: &Path,
    out_dir: &Path,
    target: &str,
    rules: &[Rule],
    coverage: Option<&Coverage>,
) -> Result<Written> {
    let files = results_files(results_dir)?;
    fs::create_dir_all(out_dir)
        .map_err(|e| Error::failed(format!("cannot create the report folder {}: {e}", out_dir.display())))?;

    let mut total_violations: u64 = 0;
    let mut report_pages: Vec<Page> = Vec::with_capacity(files.len());
    let mut violated = ViolatedRules::default();

    for file_name in &files {
        let path = results_dir.join(std::ffi::OsStr::from_bytes(file_name));
        let display_name = String::from_utf8_lossy(file_name);
        // The original read the file and parsed it in one `try`: a file it could
        // not read (a folder, say) or parse became a failed page without a URL.
        let contents =
            fs::read(&path).ok().and_then(|bytes| json::from_str::<Value>(&String::from_utf8_lossy(&bytes)).ok());
        let Some(contents) = contents else {
            report_pages.push(Page::Failed { url: None });
            continue;
        };
        // The page's URL, should the file turn out not to be axe's; the
        // contents are then taken apart rather than copied (a big page's
        // results are tens of MB).
        let url_hint = readable_url(&contents, 2);
        let first = match contents {
            Value::Array(items) => items.into_iter().next(),
            _ => None,
        };
        let Some(Value::Object(first)) = first else {
            report_pages.push(odd_page(&display_name, url_hint, "it is not a list holding one result"));
            continue;
        };
        if truthy(first.get("error")) {
            // The scan's error marker: `[{"url": …, "error": true}]`.
            let url = match first.get("url") {
                Some(Value::String(url)) if !url.is_empty() => Some(url.clone()),
                _ => None,
            };
            report_pages.push(Page::Failed { url });
            continue;
        }

        let page = match ScannedPage::build(first, rules) {
            Ok(page) => page,
            Err(problem) => {
                report_pages.push(odd_page(&display_name, url_hint, &problem));
                continue;
            }
        };
        let name = page_name(&display_name);
        write_json(&out_dir.join(format!("{name}.json")), page.file)?;
        total_violations += page.violations_count;
        report_pages.push(Page::Scanned {
            name: name.to_owned(),
            url: page.url,
            timestamp: page.timestamp,
            violations_count: page.violations_count,
            grouped_counts: page.grouped_counts,
        });
        for rule in page.violated {
            violated.add(rule);
        }
    }

    let violated_rules = violated.into_sorted();
    let count = violated_rules.iter().filter(|rule| !truthy(rule.get("ignore"))).count() as u64;

    // The original sorted by `b.violationsCount - a.violationsCount`, and failed
    // pages have no count: the comparator returns NaN for them, so where V8's
    // sort left them was an accident of its algorithm. We put them last, in the
    // order they were read, and keep the rest exactly (a stable sort,
    // most violations first).
    report_pages.sort_by_key(|page| match page {
        Page::Scanned { violations_count, .. } => (false, Reverse(*violations_count)),
        Page::Failed { .. } => (true, Reverse(0)),
    });

    let failed = report_pages.iter().filter(|page| matches!(page, Page::Failed { .. })).count();
    let page_count = files.len() as u64;
    let mut index = Object::new();
    if let Some(coverage) = coverage {
        index.insert("pagesFound".into(), number(coverage.found as u64));
        index.insert("pagesSampled".into(), number(coverage.sampled as u64));
        index.insert("pagesScanned".into(), number(page_count));
        index.insert("pagesFailed".into(), number(failed as u64));
        let not_scanned = coverage.not_scanned.iter().cloned().map(Value::String).collect();
        index.insert("pagesNotScanned".into(), Value::Array(not_scanned));
    }
    index.insert("baseurl".into(), Value::String(target.to_owned()));
    index.insert("totalPageCount".into(), number(page_count));
    index.insert("totalViolationsCount".into(), number(total_violations));
    index.insert("violatedRules".into(), Value::Array(violated_rules.into_iter().map(Value::Object).collect()));
    index.insert("currentPage".into(), number(page_count));
    index.insert(
        "reportPages".into(),
        Value::Array(report_pages.into_iter().map(|page| Value::Object(page.into_json(target))).collect()),
    );
    write_json(&out_dir.join("index.json"), index)?;
    Ok(Written { count, pages: files.len(), failed })
}

/// A results file that is not what axe writes: logged, and its page reported
/// as failed, with the URL it names where one can be read.
fn odd_page(file: &str, url: Option<String>, problem: &str) -> Page {
    warn!("{file} is not an axe results file ({problem}): its page is reported as failed");
    Page::Failed { url }
}

/// The page's URL in a results file of the wrong shape: the first result's
/// `url`, in a list or alone, or in the JSON text a string holds (Prototype.js's
/// `Array.prototype.toJSON` makes the list a string), `depth` strings down.
fn readable_url(value: &Value, depth: u8) -> Option<String> {
    match value {
        Value::Array(items) => items.first().and_then(|first| readable_url(first, 0)),
        Value::Object(result) => match result.get("url") {
            Some(Value::String(url)) if !url.is_empty() => Some(url.clone()),
            _ => None,
        },
        Value::String(text) if depth > 0 => {
            json::from_str::<Value>(text).ok().and_then(|inner| readable_url(&inner, depth - 1))
        }
        _ => None,
    }
}

/// A line of `reportPages`.
enum Page {
    Failed {
        url: Option<String>,
    },
    Scanned {
        name: String,
        url: String,
        timestamp: Option<Value>,
        violations_count: u64,
        grouped_counts: Vec<(&'static str, u64)>,
    },
}

impl Page {
    fn into_json(self, target: &str) -> Object {
        let mut out = Object::new();
        match self {
            Page::Failed { url } => {
                out.insert("failed".into(), Value::Bool(true));
                out.insert("path".into(), Value::Null);
                // `url?.split(target)[1].toString() || null`: an empty part is
                // null. Where the URL lacks the target the original crashed on
                // `undefined.toString()`; we give null.
                let relative = url.as_deref().and_then(|url| js_split_second(url, target)).filter(|r| !r.is_empty());
                out.insert("absoluteURL".into(), url.map_or(Value::Null, Value::String));
                out.insert("relativeURL".into(), relative.map_or(Value::Null, Value::String));
                out.insert("indexPills".into(), Value::Array(Array::new()));
                out.insert("moreCount".into(), Value::Null);
            }
            Page::Scanned { name, url, timestamp, violations_count, grouped_counts } => {
                let pill = |(name, count): &(&str, u64)| {
                    let mut pill = Object::new();
                    pill.insert("name".into(), Value::String((*name).to_owned()));
                    pill.insert("count".into(), number(*count));
                    Value::Object(pill)
                };
                out.insert("path".into(), Value::String(name));
                // An absent part (the URL lacks the target) was `undefined`, which
                // JSON.stringify leaves out.
                if let Some(relative) = js_split_second(&url, target) {
                    out.insert("relativeURL".into(), Value::String(relative));
                }
                out.insert("absoluteURL".into(), Value::String(url));
                if let Some(timestamp) = timestamp {
                    out.insert("timestamp".into(), timestamp);
                }
                out.insert("violationsCount".into(), number(violations_count));
                out.insert("groupedViolationsCounts".into(), Value::Array(grouped_counts.iter().map(pill).collect()));
                out.insert("indexPills".into(), Value::Array(grouped_counts.iter().take(2).map(pill).collect()));
                let more: u64 = grouped_counts.iter().skip(2).map(|(_, count)| count).sum();
                out.insert("moreCount".into(), number(more));
            }
        }
        out
    }
}

/// One parsed results file: its sub-page and what it adds to the index.
struct ScannedPage {
    url: String,
    timestamp: Option<Value>,
    violations_count: u64,
    grouped_counts: Vec<(&'static str, u64)>,
    /// The sub-page: url, timestamp, passes, groupedViolations, violationsCount.
    file: Object,
    /// Every violation of the page, enhanced, in the results' order.
    violated: Vec<Object>,
}

impl ScannedPage {
    /// Takes the result apart: a big page's results are tens of MB, and a
    /// copy of them would double what the report holds.
    fn build(mut result: Object, rules: &[Rule]) -> std::result::Result<ScannedPage, String> {
        let Some(Value::String(url)) = result.remove("url") else {
            return Err("it has no \"url\"".into());
        };
        let Some(Value::Array(violations)) = result.remove("violations") else {
            return Err("it has no \"violations\" list".into());
        };
        let Some(Value::Array(passes)) = result.remove("passes") else {
            return Err("it has no \"passes\" list".into());
        };
        let timestamp = result.remove("timestamp");
        let violations_count = violations.len() as u64;

        let enhanced =
            violations.into_iter().map(|v| enhance(v, rules, &url)).collect::<std::result::Result<Vec<_>, _>>()?;

        // The sub-page shows violations grouped by impact, most nodes first
        // (a stable sort, as V8's is); impacts outside the known five are in no group.
        let mut by_nodes: Vec<&Object> = enhanced.iter().collect();
        by_nodes.sort_by_key(|v| Reverse(node_count(v)));
        let mut grouped = Object::new();
        let mut grouped_counts = Vec::new();
        for severity in &SEVERITIES {
            let group: Array = by_nodes
                .iter()
                .filter(|v| matches!(v.get("impact"), Some(Value::String(i)) if i == severity.name))
                .map(|v| Value::Object((*v).clone()))
                .collect();
            if !group.is_empty() {
                grouped_counts.push((severity.name, group.len() as u64));
                grouped.insert(severity.name.into(), Value::Array(group));
            }
        }

        let mut sorted_passes = Vec::with_capacity(passes.len());
        for pass in passes {
            match pass {
                Value::Object(pass) if matches!(pass.get("nodes"), Some(Value::Array(_))) => sorted_passes.push(pass),
                _ => return Err("a pass has no \"nodes\" list".into()),
            }
        }
        sorted_passes.sort_by_key(|p| Reverse(node_count(p)));

        let mut file = Object::new();
        file.insert("url".into(), Value::String(url.clone()));
        if let Some(timestamp) = &timestamp {
            file.insert("timestamp".into(), timestamp.clone());
        }
        file.insert("passes".into(), Value::Array(sorted_passes.into_iter().map(Value::Object).collect()));
        file.insert("groupedViolations".into(), Value::Object(grouped));
        file.insert("violationsCount".into(), number(violations_count));

        Ok(ScannedPage { url: url.clone(), timestamp, violations_count, grouped_counts, file, violated: enhanced })
    }
}

/// The original's `violationEnhancer`: applies the first rule with the
/// violation's id, then adds the fields the report shows.
fn enhance(violation: Value, rules: &[Rule], url: &str) -> std::result::Result<Object, String> {
    let Value::Object(mut out) = violation else {
        return Err("a violation is not an object".into());
    };
    let Some(Value::Array(mut nodes)) = out.remove("nodes") else {
        return Err("a violation has no \"nodes\" list".into());
    };
    // pages-core's sub-page reads `html`, `target` and `failureSummary` of
    // each node: anything but an object would break it.
    if nodes.iter().any(|node| !matches!(node, Value::Object(_))) {
        return Err("a node of a violation is not an object".into());
    }
    let Some(Value::String(description)) = out.remove("description") else {
        return Err("a violation has no \"description\"".into());
    };

    let mut ignore = false;
    let mut ignore_source = Some(Value::String(String::new()));
    if let Some(rule) = rules.iter().find(|rule| strict_eq(rule.id.as_ref(), out.get("id"))) {
        match rule.matches.as_deref() {
            Some(matches) if !matches.is_empty() => {
                for node in nodes.iter_mut() {
                    // A node without a string `html` crashed the original; here it never matches.
                    let Value::Object(node) = node else { continue };
                    let hit = matches!(node.get("html"), Some(Value::String(html))
                        if matches.iter().any(|m| html.contains(m.as_str())));
                    if hit {
                        node.insert("ignore".into(), Value::Bool(true));
                        set_or_remove(node, "ignoreSource", rule.source.clone());
                    }
                }
                if matches.iter().any(|m| url.contains(m.as_str())) {
                    ignore = true;
                    ignore_source = rule.source.clone();
                }
            }
            _ => {
                ignore = true;
                ignore_source = rule.source.clone();
            }
        }
        if nodes.iter().all(|node| truthy(field(node, "ignore"))) {
            ignore = true;
            ignore_source = rule.source.clone();
        }
    }

    // The original looked the impact up among the five severities and crashed
    // on any other value (a missing impact included); we give those the
    // colour and order of "other".
    let impact = match out.get("impact") {
        None | Some(Value::Null) => Value::String("other".into()),
        Some(impact) => impact.clone(),
    };
    let severity =
        SEVERITIES.iter().find(|s| matches!(&impact, Value::String(i) if i == s.name)).unwrap_or(&SEVERITIES[4]);

    // `{...violation, icon, …}`: `icon` came from a field the severities do not
    // have, so it is always undefined and JSON.stringify drops it.
    out.remove("icon");
    out.insert("color".into(), Value::String(severity.color.into()));
    out.insert("order".into(), number(severity.order));
    out.insert("impact".into(), impact);
    out.insert("description".into(), Value::String(replace_ensures(&description)));
    out.insert("total".into(), number(nodes.len() as u64));
    out.insert("ignore".into(), Value::Bool(ignore));
    set_or_remove(&mut out, "ignoreSource", ignore_source);
    out.insert("urls".into(), Value::Array(std::iter::once(Value::String(url.to_owned())).collect()));
    out.insert("nodes".into(), Value::Array(nodes));
    Ok(out)
}

/// The original's `keepUniqueObjectsWithTotalSorted`, fed page by page so
/// only one copy of each rule is held: the first copy of each rule (by id)
/// stays, with the totals and URLs of the later ones added.
#[derive(Default)]
struct ViolatedRules {
    entries: Vec<RuleEntry>,
    seen: HashMap<String, usize>,
}

struct RuleEntry {
    key: String,
    order: u64,
    total: u64,
    urls: Array,
    rule: Object,
}

impl ViolatedRules {
    fn add(&mut self, mut rule: Object) {
        // `acc[el.id]`: the id as JavaScript makes a property key of it.
        let key = js_key(rule.get("id"));
        let total = field_u64(&rule, "total");
        let urls = match rule.remove("urls") {
            Some(Value::Array(urls)) => urls,
            _ => Array::new(),
        };
        match self.seen.get(&key) {
            Some(&i) => {
                self.entries[i].total += total;
                self.entries[i].urls.extend(urls);
            }
            None => {
                self.seen.insert(key.clone(), self.entries.len());
                self.entries.push(RuleEntry { key, order: field_u64(&rule, "order"), total, urls, rule });
            }
        }
    }

    /// By order (impact), then most nodes, then id.
    fn into_sorted(mut self) -> Vec<Object> {
        self.entries
            .sort_by(|a, b| a.order.cmp(&b.order).then(b.total.cmp(&a.total)).then_with(|| locale_cmp(&a.key, &b.key)));
        self.entries
            .into_iter()
            .map(|mut e| {
                e.rule.insert("total".into(), number(e.total));
                e.rule.insert("urls".into(), Value::Array(e.urls));
                e.rule
            })
            .collect()
    }
}

/// The names in `results_dir` in the order the original's glob yielded them:
/// reverse byte order, without dotfiles, folders included.
fn results_files(results_dir: &Path) -> Result<Vec<Vec<u8>>> {
    let entries = fs::read_dir(results_dir)
        .map_err(|e| Error::failed(format!("cannot read the axe results folder {}: {e}", results_dir.display())))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry
            .map_err(|e| Error::failed(format!("cannot read the axe results folder {}: {e}", results_dir.display())))?;
        let name = entry.file_name().as_bytes().to_vec();
        if !name.starts_with(b".") {
            names.push(name);
        }
    }
    if names.is_empty() {
        return Err(Error::failed(format!(
            "0 results files in {}: the scan produced no results",
            results_dir.display()
        )));
    }
    names.sort_unstable_by(|a, b| b.cmp(a));
    Ok(names)
}

fn write_json(path: &Path, value: Object) -> Result<()> {
    let text = json::to_string(&Value::Object(value));
    fs::write(path, text).map_err(|e| Error::failed(format!("cannot write {}: {e}", path.display())))
}

/// Node's `path.parse(file).name`: the name without its last extension.
fn page_name(file_name: &str) -> &str {
    match file_name.rfind('.') {
        Some(dot) if dot > 0 => &file_name[..dot],
        _ => file_name,
    }
}

/// JavaScript's `s.split(sep)[1]`: the text between the first and the second
/// `sep`, or `None` when `sep` is not in `s`. An empty `sep` splits into UTF-16
/// code units.
fn js_split_second(s: &str, sep: &str) -> Option<String> {
    if sep.is_empty() {
        let units: Vec<u16> = s.encode_utf16().take(2).collect();
        return units.get(1).map(|unit| String::from_utf16_lossy(&[*unit]));
    }
    let start = s.find(sep)? + sep.len();
    let rest = &s[start..];
    Some(rest.find(sep).map_or(rest, |end| &rest[..end]).to_owned())
}

/// `description.replace(/\bEnsures\b/g, 'Ensure')`. A JavaScript word character
/// is ASCII `[A-Za-z0-9_]`, so bytes are enough to find the boundaries.
fn replace_ensures(text: &str) -> String {
    const WORD: &str = "Ensures";
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (at, _) in text.match_indices(WORD) {
        let end = at + WORD.len();
        let starts_word = at == 0 || !is_word(bytes[at - 1]);
        let ends_word = end == bytes.len() || !is_word(bytes[end]);
        if starts_word && ends_word {
            out.push_str(&text[copied..at]);
            out.push_str("Ensure");
            copied = end;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// `a.localeCompare(b)` for rule ids, after ICU's root collation: punctuation
/// before digits before letters, letters compared without case first, then
/// lower case before upper case.
fn locale_cmp(a: &str, b: &str) -> Ordering {
    fn primary(c: char) -> (u8, char) {
        if c.is_alphabetic() {
            (2, c.to_lowercase().next().unwrap_or(c))
        } else if c.is_numeric() {
            (1, c)
        } else {
            (0, c)
        }
    }
    a.chars()
        .map(primary)
        .cmp(b.chars().map(primary))
        .then_with(|| a.chars().map(|c| c.is_uppercase()).cmp(b.chars().map(|c| c.is_uppercase())))
        .then_with(|| a.cmp(b))
}

/// JavaScript's `===` for JSON values; objects and arrays are never equal,
/// being different objects.
fn strict_eq(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(Value::Null), Some(Value::Null)) => true,
        (Some(Value::Bool(a)), Some(Value::Bool(b))) => a == b,
        (Some(Value::String(a)), Some(Value::String(b))) => a == b,
        (Some(Value::Number(a)), Some(Value::Number(b))) => as_f64(a) == as_f64(b),
        _ => false,
    }
}

/// The property key JavaScript makes of a value (`acc[el.id]`).
fn js_key(value: Option<&Value>) -> String {
    match value {
        None => "undefined".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(_)) => "[object Object]".into(),
        Some(other) => json::to_string(other),
    }
}

/// JavaScript truthiness of a JSON value (`undefined` being `None`).
fn truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => {
            let n = as_f64(n);
            n != 0.0 && !n.is_nan()
        }
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(_) | Value::Object(_)) => true,
    }
}

fn as_f64(n: &Number) -> f64 {
    match *n {
        Number::U64(n) => n as f64,
        Number::I64(n) => n as f64,
        Number::F64(n) => n,
    }
}

fn field<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    match value {
        Value::Object(object) => object.get(key),
        _ => None,
    }
}

/// A count or order this module set itself.
fn field_u64(object: &Object, key: &str) -> u64 {
    match object.get(key) {
        Some(Value::Number(Number::U64(n))) => *n,
        _ => 0,
    }
}

fn node_count(object: &Object) -> usize {
    match object.get("nodes") {
        Some(Value::Array(nodes)) => nodes.len(),
        _ => 0,
    }
}

/// `object[key] = value`, where an undefined value is one JSON.stringify leaves out.
fn set_or_remove(object: &mut Object, key: &str, value: Option<Value>) {
    match value {
        Some(value) => object.insert(key.into(), value),
        None => object.remove(key),
    };
}

fn number(n: u64) -> Value {
    Value::Number(Number::U64(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_second_follows_javascript() {
        assert_eq!(js_split_second("http://h/a.html", "http://h").as_deref(), Some("/a.html"));
        assert_eq!(js_split_second("http://h/", "http://h/").as_deref(), Some(""));
        assert_eq!(js_split_second("http://h/x/http://h/y", "http://h").as_deref(), Some("/x/"));
        assert_eq!(js_split_second("http://other/", "http://h"), None);
        assert_eq!(js_split_second("abc", "").as_deref(), Some("b"));
        assert_eq!(js_split_second("a", ""), None);
    }

    #[test]
    fn ensures_is_replaced_only_as_a_whole_word() {
        assert_eq!(replace_ensures("Ensures <img> Ensures"), "Ensure <img> Ensure");
        assert_eq!(replace_ensures("Ensuresx xEnsures Ensures_ (Ensures)"), "Ensuresx xEnsures Ensures_ (Ensure)");
        assert_eq!(replace_ensures("é Ensures."), "é Ensure.");
    }

    #[test]
    fn locale_compare_puts_lower_case_first_and_ignores_case_first() {
        assert_eq!(locale_cmp("a", "B"), Ordering::Less);
        assert_eq!(locale_cmp("b", "A"), Ordering::Greater);
        assert_eq!(locale_cmp("a", "A"), Ordering::Less);
        assert_eq!(locale_cmp("aria-valid-attr", "aria-valid-attr-value"), Ordering::Less);
        assert_eq!(locale_cmp("a-b", "a1"), Ordering::Less);
        assert_eq!(locale_cmp("a1", "ab"), Ordering::Less);
    }

    #[test]
    fn page_names_drop_the_last_extension_only() {
        assert_eq!(page_name("axe-results-1.json"), "axe-results-1");
        assert_eq!(page_name("7"), "7");
        assert_eq!(page_name("a.b.json"), "a.b");
        assert_eq!(page_name("a."), "a");
    }

    #[test]
    fn strict_equality_never_matches_a_number_to_a_string() {
        let one = Value::Number(Number::U64(1));
        let one_f = Value::Number(Number::F64(1.0));
        let s = Value::String("1".into());
        assert!(strict_eq(Some(&one), Some(&one_f)));
        assert!(!strict_eq(Some(&one), Some(&s)));
        assert!(strict_eq(None, None));
        assert!(!strict_eq(None, Some(&Value::Null)));
    }
}
