//! ZAP's JSON report turned into the `index.json` pages-core's report page
//! reads, exactly as the Python task's Node reporter (`generate-report.js`)
//! made it.
//!
//! The rules: the first rule whose `id` is strictly equal to the alert's
//! `pluginid` applies. With a non-empty `match`, an instance whose `uri`, or
//! else `evidence`, contains a match string is ignored; without one the whole
//! alert is. An alert whose instances are all ignored is ignored. An alert
//! with both kinds of instances is split in two: the kept part, then the
//! ignored part with the common `ignoreSource` or `'multiple criteria'`.
//!
//! The report is read into miniserde's `Value` once and written out by
//! reference: `groupedAlerts` repeats every alert, and a split alert's two
//! copies share everything but their instances, so nothing is cloned and
//! the output is streamed to the file.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::Path;

use miniserde::json::{self, Number, Object, Value};

use super::markdown::{reparse_html, tags_to_newlines};
use crate::error::{Error, Result};

/// A suppression rule from the site's scan configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// A string or a number; compared with `pluginid` strictly (a number
    /// never equals ZAP's string ids). `None` when the rule has no id.
    id: Option<Scalar>,
    /// `None`: the rule ignores the whole alert (also for `match: []`).
    matches: Option<Vec<String>>,
    /// Who set the rule ("Pages"); customer rules have none.
    source: Option<Scalar>,
}

/// The JSON scalars a rule's id or source may be.
#[derive(Debug, Clone, PartialEq)]
enum Scalar {
    Null,
    Str(String),
    Num(f64),
}

impl Scalar {
    fn to_value(&self) -> Value {
        match self {
            Scalar::Null => Value::Null,
            Scalar::Str(s) => Value::String(s.clone()),
            Scalar::Num(n) => number_value(*n),
        }
    }

    /// JavaScript's `===` between this and a JSON value.
    fn strict_eq(&self, v: &Value) -> bool {
        match (self, v) {
            (Scalar::Null, Value::Null) => true,
            (Scalar::Str(a), Value::String(b)) => a == b,
            (Scalar::Num(a), Value::Number(b)) => *a == as_f64(b),
            _ => false,
        }
    }
}

/// The site's scan configuration: the `-c` value, `{"rules": […], …}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    pub rules: Vec<Rule>,
}

impl Config {
    /// Parses the `-c` value. Empty text, or no `rules` key, means no rules:
    /// pages-core's migrations pass no `-c`, and admin-made site build tasks
    /// have metadata `{}`. (The original reporter crashed on a config
    /// without `rules`.) Other keys, such as `runDay`, are ignored.
    pub fn parse(text: &str) -> Result<Config> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let value: Value =
            json::from_str(text).map_err(|_| Error::usage("the scan config (-c) is not valid JSON"))?;
        let Value::Object(config) = value else {
            return Err(Error::usage("the scan config (-c) is not a JSON object"));
        };
        let rules = match config.get("rules") {
            None | Some(Value::Null) => return Ok(Config::default()),
            Some(Value::Array(rules)) => rules,
            Some(_) => return Err(Error::usage("the scan config's rules (-c) are not a list")),
        };
        let rules = rules
            .iter()
            .enumerate()
            .map(|(i, rule)| Rule::parse(rule).map_err(|e| e.context(format_args!("the scan config's rule {}", i + 1))))
            .collect::<Result<_>>()?;
        Ok(Config { rules })
    }

    fn rule_for(&self, pluginid: Option<&Value>) -> Option<&Rule> {
        self.rules.iter().find(|rule| match (&rule.id, pluginid) {
            (Some(id), Some(pluginid)) => id.strict_eq(pluginid),
            // `undefined === undefined` in the original.
            (None, None) => true,
            _ => false,
        })
    }
}

impl Rule {
    fn parse(rule: &Value) -> Result<Rule> {
        let Value::Object(rule) = rule else {
            return Err(Error::usage("it is not an object"));
        };
        let scalar = |key: &str| -> Result<Option<Scalar>> {
            match rule.get(key) {
                None => Ok(None),
                Some(Value::Null) => Ok(Some(Scalar::Null)),
                Some(Value::String(s)) => Ok(Some(Scalar::Str(s.clone()))),
                Some(Value::Number(n)) => Ok(Some(Scalar::Num(as_f64(n)))),
                Some(_) => Err(Error::usage(format!("its {key} is not a string"))),
            }
        };
        let matches = match rule.get("match") {
            None | Some(Value::Null) => None,
            Some(Value::Array(list)) if list.is_empty() => None,
            Some(Value::Array(list)) => Some(
                list.iter()
                    .map(|m| match m {
                        Value::String(s) => Ok(s.clone()),
                        _ => Err(Error::usage("its match is not a list of strings")),
                    })
                    .collect::<Result<_>>()?,
            ),
            Some(_) => return Err(Error::usage("its match is not a list of strings")),
        };
        Ok(Rule { id: scalar("id")?, matches, source: scalar("source")? })
    }
}

/// Reads the ZAP report at `input`, writes `index.json` at `output`, and
/// returns the issue count.
pub fn generate(input: &Path, config: &Config, output: &Path) -> Result<u64> {
    let text = std::fs::read_to_string(input)
        .map_err(|e| Error::failed(format!("cannot read the ZAP report {}: {e}", input.display())))?;
    let report = parse(&text).map_err(|e| e.context(format_args!("the ZAP report {}", input.display())))?;
    drop(text);
    let file = std::fs::File::create(output)
        .map_err(|e| Error::failed(format!("cannot create {}: {e}", output.display())))?;
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    let count = transform(report, config, &mut out)
        .and_then(|count| out.flush().map(|()| count))
        .map_err(|e| Error::failed(format!("cannot write {}: {e}", output.display())))?;
    Ok(count)
}

/// The parts of a ZAP report the reporter uses; everything else passes
/// through unchanged.
pub struct Report {
    /// `site[0]` without its alerts.
    site: Object,
    alerts: Vec<Object>,
    generated: Option<Value>,
}

/// Parses and checks a ZAP traditional JSON report.
pub fn parse(text: &str) -> Result<Report> {
    if text.trim().is_empty() {
        return Err(Error::failed("it is empty"));
    }
    let value: Value = json::from_str(text).map_err(|_| Error::failed("it is not valid JSON (truncated?)"))?;
    let not_zap = |what: &str| Error::failed(format!("it is not a ZAP JSON report: {what}"));
    let Value::Object(top) = value else { return Err(not_zap("not a JSON object")) };
    let mut top = top;
    let generated = top.remove("@generated");
    // Only the first site is used, as the original did.
    let Some(Value::Array(sites)) = top.remove("site") else { return Err(not_zap("no site list")) };
    let Some(Value::Object(site)) = sites.into_iter().next() else { return Err(not_zap("no site in its site list")) };
    let mut site = site;
    let Some(Value::Array(alerts)) = site.remove("alerts") else { return Err(not_zap("its site has no alert list")) };
    let alerts = alerts
        .into_iter()
        .enumerate()
        .map(|(i, alert)| match alert {
            Value::Object(alert) => {
                match alert.get("instances") {
                    None | Some(Value::Array(_)) => Ok(alert),
                    Some(_) => Err(not_zap(&format!("the instances of alert {} are not a list", i + 1))),
                }
            }
            _ => Err(not_zap(&format!("alert {} is not an object", i + 1))),
        })
        .collect::<Result<_>>()?;
    Ok(Report { site, alerts, generated })
}

/// An alert after the rules, with its rendered fields, before splitting.
struct Alert {
    /// The original fields (but `instances`), `ignore`/`ignoreSource` when a
    /// rule set them, and `description`, `solution`, `riskLabel`,
    /// `referenceURLs`.
    fields: Object,
    instances: Vec<Value>,
}

/// One alert of the output: a whole alert, or one half of a split one.
enum Part<'a> {
    Whole(&'a Alert),
    /// The instances not ignored; `ignore: false`.
    Kept(&'a Alert),
    /// The instances ignored; `ignore: true` and the common source.
    Ignored(&'a Alert, Source<'a>),
}

/// The `ignoreSource` of the ignored half of a split alert.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// Undefined: left out of the JSON.
    Absent,
    /// What every ignored instance says.
    Common(&'a Value),
    /// `'multiple criteria'`.
    Multiple,
}

impl Part<'_> {
    fn alert(&self) -> &Alert {
        match self {
            Part::Whole(a) | Part::Kept(a) | Part::Ignored(a, _) => a,
        }
    }

    fn ignored(&self) -> bool {
        match self {
            Part::Whole(a) => a.fields.get("ignore").is_some_and(truthy),
            Part::Kept(_) => false,
            Part::Ignored(..) => true,
        }
    }

    fn counts(&self) -> bool {
        !self.ignored() && self.alert().fields.get("riskcode").is_some_and(|r| js_number(r) > 0.0)
    }

    fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        let alert = self.alert();
        let override_ignore = !matches!(self, Part::Whole(_));
        let override_source = matches!(self, Part::Ignored(..));
        out.write_all(b"{")?;
        let mut first = true;
        for (key, value) in &alert.fields {
            if (override_ignore && key == "ignore") || (override_source && key == "ignoreSource") {
                continue;
            }
            write_key(out, key, &mut first)?;
            write_value(out, value)?;
        }
        write_key(out, "instances", &mut first)?;
        out.write_all(b"[")?;
        let keep = |i: &&Value| match self {
            Part::Whole(_) => true,
            Part::Kept(_) => !instance_ignored(i),
            Part::Ignored(..) => instance_ignored(i),
        };
        for (n, instance) in alert.instances.iter().filter(keep).enumerate() {
            if n > 0 {
                out.write_all(b",")?;
            }
            write_value(out, instance)?;
        }
        out.write_all(b"]")?;
        if override_ignore {
            write_key(out, "ignore", &mut first)?;
            out.write_all(if self.ignored() { b"true" } else { b"false" })?;
        }
        // An undefined ignoreSource is left out, as JSON.stringify does.
        match self {
            Part::Ignored(_, Source::Common(source)) => {
                write_key(out, "ignoreSource", &mut first)?;
                write_value(out, source)?;
            }
            Part::Ignored(_, Source::Multiple) => {
                write_key(out, "ignoreSource", &mut first)?;
                write_str(out, "multiple criteria")?;
            }
            _ => {}
        }
        out.write_all(b"}")
    }
}

/// Applies the rules and renders the output; returns the issue count.
pub fn transform(report: Report, config: &Config, out: &mut impl Write) -> std::io::Result<u64> {
    let alerts: Vec<Alert> = report.alerts.into_iter().map(|a| clean(a, config)).collect();
    let mut parts = Vec::with_capacity(alerts.len());
    for alert in &alerts {
        let ignored: Vec<&Value> = alert.instances.iter().filter(|i| instance_ignored(i)).collect();
        if ignored.is_empty() || ignored.len() == alert.instances.len() {
            parts.push(Part::Whole(alert));
            continue;
        }
        // `new Set(sources).size === 1 ? ignored[0].ignoreSource : 'multiple criteria'`
        let first = source_of(ignored[0]);
        let common = ignored[1..].iter().all(|i| same_value_zero(source_of(i), first));
        let source = match (common, first) {
            (false, _) => Source::Multiple,
            (true, Some(v)) => Source::Common(v),
            (true, None) => Source::Absent,
        };
        parts.push(Part::Kept(alert));
        parts.push(Part::Ignored(alert, source));
    }
    let issue_count = parts.iter().filter(|p| p.counts()).count() as u64;

    out.write_all(b"{\"site\":{")?;
    let mut first = true;
    for (key, value) in &report.site {
        if matches!(key.as_str(), "alerts" | "groupedAlerts" | "issueCount") {
            continue;
        }
        write_key(out, key, &mut first)?;
        write_value(out, value)?;
    }
    write_key(out, "alerts", &mut first)?;
    write_parts(out, parts.iter())?;
    // groupBy(alerts, a => a.riskcode), kept for the risk codes of
    // utils.severity (3, 2, 1, 0, null); a JavaScript object lists such keys
    // in ascending order, then "null".
    write_key(out, "groupedAlerts", &mut first)?;
    out.write_all(b"{")?;
    let mut first_group = true;
    for code in ["0", "1", "2", "3", "null"] {
        let mut group = parts.iter().filter(|p| p.alert().fields.get("riskcode").and_then(js_key).as_deref() == Some(code)).peekable();
        if group.peek().is_some() {
            write_key(out, code, &mut first_group)?;
            write_parts(out, group)?;
        }
    }
    out.write_all(b"}")?;
    write_key(out, "issueCount", &mut first)?;
    write!(out, "{issue_count}")?;
    out.write_all(b"}")?;
    if let Some(generated) = &report.generated {
        out.write_all(b",\"generated\":")?;
        write_value(out, generated)?;
    }
    out.write_all(b"}")?;
    Ok(issue_count)
}

fn write_parts<'a>(out: &mut impl Write, parts: impl Iterator<Item = &'a Part<'a>>) -> std::io::Result<()> {
    out.write_all(b"[")?;
    for (n, part) in parts.enumerate() {
        if n > 0 {
            out.write_all(b",")?;
        }
        part.write(out)?;
    }
    out.write_all(b"]")
}

/// The first pass of the original: rules, then the rendered fields.
fn clean(mut fields: Object, config: &Config) -> Alert {
    let mut instances = match fields.remove("instances") {
        Some(Value::Array(list)) => list.into_iter().collect::<Vec<_>>(),
        // An alert without instances: the original crashed; it has none.
        _ => Vec::new(),
    };
    if let Some(rule) = config.rule_for(fields.get("pluginid")) {
        let source = rule.source.as_ref().map(Scalar::to_value);
        match &rule.matches {
            Some(matches) => {
                for instance in &mut instances {
                    let Value::Object(instance) = instance else { continue };
                    let field = |key: &str| match instance.get(key) {
                        Some(Value::String(s)) => Some(s.as_str()),
                        _ => None,
                    };
                    // The original tested `uri`, then `evidence`, and crashed
                    // when the uri missed and there was no evidence; a missing
                    // field matches nothing here.
                    let hit = |text: Option<&str>| text.is_some_and(|t| matches.iter().any(|m| t.contains(m.as_str())));
                    if hit(field("uri")) || hit(field("evidence")) {
                        instance.insert("ignore".to_owned(), Value::Bool(true));
                        set_or_remove(&mut *instance, "ignoreSource", source.clone());
                    }
                }
            }
            None => {
                fields.insert("ignore".to_owned(), Value::Bool(true));
                set_or_remove(&mut *fields, "ignoreSource", source.clone());
            }
        }
        if instances.iter().all(instance_ignored) {
            fields.insert("ignore".to_owned(), Value::Bool(true));
            set_or_remove(&mut *fields, "ignoreSource", source);
        }
    }
    let text = |fields: &Object, key: &str| match fields.get(key) {
        Some(Value::String(s)) => s.clone(),
        // Missing or not text: the original crashed; render nothing.
        _ => String::new(),
    };
    let description = reparse_html(&text(&fields, "desc"));
    let solution = reparse_html(&text(&fields, "solution"));
    let risk_label = match fields.get("riskdesc") {
        Some(Value::String(s)) => s.split(' ').next().unwrap_or("").to_owned(),
        // The original crashed without riskdesc; ZAP's own labels stand in.
        _ => fields.get("riskcode").and_then(js_key).map(|code| risk_name(&code).to_owned()).unwrap_or_default(),
    };
    let reference_urls = match fields.get("reference") {
        Some(Value::String(s)) if !s.is_empty() => Value::Array(
            tags_to_newlines(s).split("\n\n").map(|u| Value::String(u.to_owned())).collect(),
        ),
        _ => Value::Null,
    };
    fields.insert("description".to_owned(), Value::String(description));
    fields.insert("solution".to_owned(), Value::String(solution));
    fields.insert("riskLabel".to_owned(), Value::String(risk_label));
    fields.insert("referenceURLs".to_owned(), reference_urls);
    Alert { fields, instances }
}

fn risk_name(code: &str) -> &'static str {
    match code {
        "3" => "High",
        "2" => "Medium",
        "1" => "Low",
        "0" => "Informational",
        _ => "",
    }
}

/// `obj[key] = value`, where an undefined value is left out of the JSON.
fn set_or_remove(map: &mut BTreeMap<String, Value>, key: &str, value: Option<Value>) {
    match value {
        Some(v) => map.insert(key.to_owned(), v),
        None => map.remove(key),
    };
}

fn source_of(instance: &Value) -> Option<&Value> {
    match instance {
        Value::Object(o) => o.get("ignoreSource"),
        _ => None,
    }
}

fn instance_ignored(instance: &Value) -> bool {
    match instance {
        Value::Object(o) => o.get("ignore").is_some_and(truthy),
        _ => false,
    }
}

/// JavaScript truthiness of a JSON value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => {
            let n = as_f64(n);
            n != 0.0 && !n.is_nan()
        }
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// SameValueZero, as a `Set` compares; `None` is `undefined`. Objects and
/// arrays from the report are distinct objects, never the same.
fn same_value_zero(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(Value::Null), Some(Value::Null)) => true,
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x == y,
        (Some(Value::Number(x)), Some(Value::Number(y))) => as_f64(x) == as_f64(y),
        (Some(Value::String(x)), Some(Value::String(y))) => x == y,
        _ => false,
    }
}

/// `Number(v)` for the comparison `riskcode > 0`.
fn js_number(v: &Value) -> f64 {
    match v {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => as_f64(n),
        Value::String(s) => {
            let t = s.trim_matches(is_js_space);
            if t.is_empty() {
                0.0
            } else if t.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')) {
                t.parse().unwrap_or(f64::NAN)
            } else {
                f64::NAN
            }
        }
        Value::Array(_) | Value::Object(_) => f64::NAN,
    }
}

fn is_js_space(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}'
}

/// The property key a value becomes (`String(v)`), for the values that can
/// name a risk group.
fn js_key(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => Some("null".to_owned()),
        Value::Number(n) => {
            let f = as_f64(n);
            (f.fract() == 0.0 && f.abs() < 1e15).then(|| format!("{}", f as i64))
        }
        _ => None,
    }
}

fn as_f64(n: &Number) -> f64 {
    match *n {
        Number::U64(u) => u as f64,
        Number::I64(i) => i as f64,
        Number::F64(f) => f,
    }
}

fn number_value(f: f64) -> Value {
    if f.fract() == 0.0 && f >= 0.0 && f < 9e15 {
        Value::Number(Number::U64(f as u64))
    } else if f.fract() == 0.0 && f < 0.0 && f > -9e15 {
        Value::Number(Number::I64(f as i64))
    } else {
        Value::Number(Number::F64(f))
    }
}

fn write_key(out: &mut impl Write, key: &str, first: &mut bool) -> std::io::Result<()> {
    if !std::mem::take(first) {
        out.write_all(b",")?;
    }
    write_str(out, key)?;
    out.write_all(b":")
}

/// JSON as `JSON.stringify` writes it: compact, raw UTF-8, only `"`, `\`
/// and control characters escaped.
pub fn write_value(out: &mut impl Write, v: &Value) -> std::io::Result<()> {
    match v {
        Value::Null => out.write_all(b"null"),
        Value::Bool(b) => out.write_all(if *b { b"true" } else { b"false" }),
        Value::Number(Number::U64(n)) => write!(out, "{n}"),
        Value::Number(Number::I64(n)) => write!(out, "{n}"),
        // Rust's shortest round-trip form is JavaScript's for the numbers a
        // report holds (JavaScript switches to exponents only past 1e21).
        Value::Number(Number::F64(f)) if f.is_finite() => write!(out, "{f}"),
        Value::Number(Number::F64(_)) => out.write_all(b"null"),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.write_all(b"[")?;
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.write_all(b",")?;
                }
                write_value(out, item)?;
            }
            out.write_all(b"]")
        }
        Value::Object(map) => {
            out.write_all(b"{")?;
            let mut first = true;
            for (key, value) in map.iter() {
                write_key(out, key, &mut first)?;
                write_value(out, value)?;
            }
            out.write_all(b"}")
        }
    }
}

fn write_str(out: &mut impl Write, s: &str) -> std::io::Result<()> {
    out.write_all(b"\"")?;
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.write_all(&bytes[start..i])?;
        if escaped.is_empty() {
            write!(out, "\\u{b:04x}")?;
        } else {
            out.write_all(escaped)?;
        }
        start = i + 1;
    }
    out.write_all(&bytes[start..])?;
    out.write_all(b"\"")
}
