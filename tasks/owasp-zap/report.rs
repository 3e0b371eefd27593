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
//! The report is read once (value.rs: miniserde's parser, objects in
//! document order) and written out by reference: `groupedAlerts` repeats
//! every alert, and a split alert's two copies share everything but their
//! instances, so nothing is cloned and the output is streamed to the file.
//! Keys come out in the order JavaScript gave them, so the output is the
//! original's byte for byte where the Markdown is.

use std::collections::HashMap;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use miniserde::json::Value;

use super::markdown::{reparse_html, tags_to_newlines};
use super::value::{self, Json, Obj, ParseError, as_f64, js_number_text, js_order, js_sort, write_key, write_str};
use crate::task::{Error, Result, Rule};

/// The first rule whose `id` is strictly equal to the alert's `pluginid`
/// (JavaScript's `===`: a number never equals ZAP's string ids).
fn rule_for<'r>(rules: &'r [Rule], pluginid: Option<&Json>) -> Option<&'r Rule> {
    rules.iter().find(|rule| match (&rule.id, pluginid) {
        (Some(id), Some(pluginid)) => strict_eq(id, pluginid),
        // `undefined === undefined` in the original.
        (None, None | Some(Json::Undefined)) => true,
        _ => false,
    })
}

/// JavaScript's `===` between a rule's scalar and a value of the report.
fn strict_eq(scalar: &Value, v: &Json) -> bool {
    match (scalar, v) {
        (Value::Null, Json::Null) => true,
        (Value::String(a), Json::Str(b)) => a.as_str() == &**b,
        (Value::Number(a), Json::Num(b)) => as_f64(a) == as_f64(b),
        _ => false,
    }
}

/// A rule's scalar (a string, a number or null) as a value of the report.
fn scalar_json(scalar: &Value) -> Json {
    match scalar {
        Value::String(s) => Json::Str(s.as_str().into()),
        Value::Number(n) => Json::Num(n.clone()),
        _ => Json::Null,
    }
}

/// Reads the ZAP report at `input`, writes `index.json` at `output`, and
/// returns the issue count.
pub fn generate(input: &Path, rules: &[Rule], output: &Path) -> Result<u64> {
    let text = std::fs::read_to_string(input)
        .map_err(|e| Error::failed(format!("cannot read the ZAP report {}: {e}", input.display())))?;
    let report = parse(&text).map_err(|e| e.context(format_args!("the ZAP report {}", input.display())))?;
    drop(text);
    let file =
        std::fs::File::create(output).map_err(|e| Error::failed(format!("cannot create {}: {e}", output.display())))?;
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    let written = transform(report, rules, &mut out).and_then(|count| out.flush().map(|()| count));
    written.map_err(|e| {
        let _ = std::fs::remove_file(output);
        Error::failed(format!("cannot write {}: {e}", output.display()))
    })
}

/// A ZAP report, checked.
pub struct Report {
    /// `site[0]`: only the first site is used, as the original did. Its
    /// `alerts` is a list of objects, each with a list of instances or none.
    site: Obj,
    generated: Option<Json>,
}

/// Parses and checks a ZAP traditional JSON report.
pub fn parse(text: &str) -> Result<Report> {
    if text.trim().is_empty() {
        return Err(Error::failed("it is empty"));
    }
    let top = value::parse(text).map_err(|e| match e {
        ParseError::Invalid => Error::failed("it is not valid JSON (truncated?)"),
        ParseError::TooDeep => Error::failed(format!("it nests deeper than {} levels", value::MAX_DEPTH)),
    })?;
    let not_zap = |what: &str| Error::failed(format!("it is not a ZAP JSON report: {what}"));
    let Json::Obj(mut top) = top else { return Err(not_zap("not a JSON object")) };
    let generated = top.take("@generated");
    let Some(Json::Arr(sites)) = top.take("site") else { return Err(not_zap("no site list")) };
    let Some(Json::Obj(site)) = sites.into_vec().into_iter().next() else {
        return Err(not_zap("no site in its site list"));
    };
    let Some(Json::Arr(alerts)) = site.get("alerts") else { return Err(not_zap("its site has no alert list")) };
    for (i, alert) in alerts.iter().enumerate() {
        match alert {
            Json::Obj(alert) => match alert.get("instances") {
                None | Some(Json::Arr(_)) => {}
                Some(_) => return Err(not_zap(&format!("the instances of alert {} are not a list", i + 1))),
            },
            _ => return Err(not_zap(&format!("alert {} is not an object", i + 1))),
        }
    }
    Ok(Report { site, generated })
}

/// One alert of the output: a whole alert, or one half of a split one.
enum Part<'a> {
    Whole(&'a Obj),
    /// `{...alert, instances: nonIgnored, ignore: false}`
    Kept(&'a Obj),
    /// `{...alert, instances: ignored, ignore: true, ignoreSource}`
    Ignored(&'a Obj, Source<'a>),
}

/// The `ignoreSource` of the ignored half of a split alert.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// What every ignored instance says (maybe undefined).
    Common(Option<&'a Json>),
    /// `'multiple criteria'`.
    Multiple,
}

/// A member of an output alert.
enum Member<'a> {
    Value(&'a Json),
    Instances(Option<bool>),
    Bool(bool),
    Multiple,
}

impl<'a> Part<'a> {
    fn alert(&self) -> &'a Obj {
        match *self {
            Part::Whole(a) | Part::Kept(a) | Part::Ignored(a, _) => a,
        }
    }

    fn ignored(&self) -> bool {
        match self {
            Part::Whole(a) => a.get("ignore").is_some_and(truthy),
            Part::Kept(_) => false,
            Part::Ignored(..) => true,
        }
    }

    fn counts(&self) -> bool {
        !self.ignored() && self.alert().get("riskcode").is_some_and(|r| js_number(r) > 0.0)
    }

    /// The members in JavaScript's order: the alert's own, with the
    /// overridden ones in place, then those the spread adds.
    fn members(&self) -> Vec<(&'a str, Member<'a>)> {
        let alert = self.alert();
        let which = match self {
            Part::Whole(_) => None,
            Part::Kept(_) => Some(false),
            Part::Ignored(..) => Some(true),
        };
        let source = match self {
            Part::Ignored(_, Source::Common(Some(v))) => Some(Member::Value(v)),
            Part::Ignored(_, Source::Common(None)) => None,
            Part::Ignored(_, Source::Multiple) => Some(Member::Multiple),
            _ => None,
        };
        let mut members = Vec::with_capacity(24);
        let mut source = source.map(Some);
        for (key, value) in alert.iter() {
            let member = match (key, which) {
                ("instances", _) => Member::Instances(which),
                ("ignore", Some(ignore)) => Member::Bool(ignore),
                ("ignoreSource", Some(true)) => match source.take() {
                    Some(Some(m)) => m,
                    // Set to undefined: left out.
                    _ => continue,
                },
                _ => Member::Value(value),
            };
            members.push((key, member));
        }
        if let Some(ignore) = which.filter(|_| !alert.contains("ignore")) {
            members.push(("ignore", Member::Bool(ignore)));
        }
        if let Some(Some(member)) = source {
            members.push(("ignoreSource", member));
        }
        members
    }

    fn write(&self, out: &mut impl Write) -> io::Result<()> {
        let mut members = self.members();
        js_sort(&mut members);
        out.write_all(b"{")?;
        let mut first = true;
        for (key, member) in &members {
            match member {
                Member::Value(Json::Undefined) => continue,
                Member::Value(v) => {
                    write_key(out, key, &mut first)?;
                    value::write(out, v)?;
                }
                Member::Instances(which) => {
                    write_key(out, key, &mut first)?;
                    write_instances(out, self.alert(), *which)?;
                }
                Member::Bool(b) => {
                    write_key(out, key, &mut first)?;
                    out.write_all(if *b { b"true" } else { b"false" })?;
                }
                Member::Multiple => {
                    write_key(out, key, &mut first)?;
                    write_str(out, "multiple criteria")?;
                }
            }
        }
        out.write_all(b"}")
    }
}

/// An alert's instances: all, or those (not) ignored.
fn write_instances(out: &mut impl Write, alert: &Obj, which: Option<bool>) -> io::Result<()> {
    let instances = match alert.get("instances") {
        Some(Json::Arr(list)) => &list[..],
        _ => &[],
    };
    out.write_all(b"[")?;
    let keep = |i: &&Json| which.is_none_or(|ignored| instance_ignored(i) == ignored);
    for (n, instance) in instances.iter().filter(keep).enumerate() {
        if n > 0 {
            out.write_all(b",")?;
        }
        value::write(out, instance)?;
    }
    out.write_all(b"]")
}

/// Applies the rules and renders the output; returns the issue count.
pub fn transform(mut report: Report, rules: &[Rule], out: &mut impl Write) -> io::Result<u64> {
    let alerts = match report.site.take("alerts") {
        Some(Json::Arr(alerts)) => alerts.into_vec(),
        _ => Vec::new(),
    };
    // Alerts of one plugin share their texts: each is rendered once.
    let mut rendered: HashMap<Box<str>, Box<str>> = HashMap::new();
    let alerts: Vec<Obj> = alerts
        .into_iter()
        .filter_map(|a| match a {
            Json::Obj(a) => Some(clean(a, rules, &mut rendered)),
            _ => None,
        })
        .collect();
    drop(rendered);

    let mut parts = Vec::with_capacity(alerts.len());
    for alert in &alerts {
        let instances = match alert.get("instances") {
            Some(Json::Arr(list)) => &list[..],
            _ => &[],
        };
        let ignored: Vec<&Json> = instances.iter().filter(|i| instance_ignored(i)).collect();
        if ignored.is_empty() || ignored.len() == instances.len() {
            parts.push(Part::Whole(alert));
            continue;
        }
        // `new Set(sources).size === 1 ? ignored[0].ignoreSource : 'multiple criteria'`
        let first = source_of(ignored[0]);
        let common = ignored[1..].iter().all(|i| same_value_zero(source_of(i), first));
        let source = if common { Source::Common(first) } else { Source::Multiple };
        parts.push(Part::Kept(alert));
        parts.push(Part::Ignored(alert, source));
    }
    let issue_count = parts.iter().filter(|p| p.counts()).count() as u64;

    // {...results.site[0], alerts, groupedAlerts, issueCount}
    out.write_all(b"{\"site\":{")?;
    let mut first = true;
    let mut wrote = (false, false);
    for (key, value) in js_order(report.site.iter()) {
        match key {
            "alerts" => {
                write_key(out, key, &mut first)?;
                write_parts(out, parts.iter())?;
            }
            "groupedAlerts" => {
                write_key(out, key, &mut first)?;
                write_groups(out, &parts)?;
                wrote.0 = true;
            }
            "issueCount" => {
                write_key(out, key, &mut first)?;
                write!(out, "{issue_count}")?;
                wrote.1 = true;
            }
            _ if matches!(value, Json::Undefined) => {}
            _ => {
                write_key(out, key, &mut first)?;
                value::write(out, value)?;
            }
        }
    }
    if !wrote.0 {
        write_key(out, "groupedAlerts", &mut first)?;
        write_groups(out, &parts)?;
    }
    if !wrote.1 {
        write_key(out, "issueCount", &mut first)?;
        write!(out, "{issue_count}")?;
    }
    out.write_all(b"}")?;
    if let Some(generated) = &report.generated {
        out.write_all(b",\"generated\":")?;
        value::write(out, generated)?;
    }
    out.write_all(b"}")?;
    Ok(issue_count)
}

/// groupBy(alerts, a => a.riskcode), kept for the risk codes of
/// utils.severity (3, 2, 1, 0, null); JavaScript lists the index keys in
/// ascending order, then "null".
fn write_groups(out: &mut impl Write, parts: &[Part]) -> io::Result<()> {
    out.write_all(b"{")?;
    let mut first = true;
    for code in ["0", "1", "2", "3", "null"] {
        let mut group =
            parts.iter().filter(|p| p.alert().get("riskcode").and_then(js_key).as_deref() == Some(code)).peekable();
        if group.peek().is_some() {
            write_key(out, code, &mut first)?;
            write_parts(out, group)?;
        }
    }
    out.write_all(b"}")
}

fn write_parts<'a>(out: &mut impl Write, parts: impl Iterator<Item = &'a Part<'a>>) -> io::Result<()> {
    out.write_all(b"[")?;
    for (n, part) in parts.enumerate() {
        if n > 0 {
            out.write_all(b",")?;
        }
        part.write(out)?;
    }
    out.write_all(b"]")
}

/// The first pass of the original: the rules, then the rendered fields.
fn clean(mut alert: Obj, rules: &[Rule], rendered: &mut HashMap<Box<str>, Box<str>>) -> Obj {
    if let Some(rule) = rule_for(rules, alert.get("pluginid")) {
        let source = || rule.source.as_ref().map_or(Json::Undefined, scalar_json);
        match &rule.matches {
            Some(matches) => {
                if let Some(Json::Arr(instances)) = alert.get_mut("instances") {
                    for instance in instances.iter_mut() {
                        let Json::Obj(instance) = instance else { continue };
                        // The original tested `uri`, then `evidence`, and
                        // crashed when the uri missed and there was no
                        // evidence; a missing field matches nothing here.
                        let hit = |key: &str| match instance.get(key) {
                            Some(Json::Str(text)) => matches.iter().any(|m| text.contains(m.as_str())),
                            _ => false,
                        };
                        if hit("uri") || hit("evidence") {
                            instance.set("ignore", Json::Bool(true));
                            instance.set("ignoreSource", source());
                        }
                    }
                }
            }
            None => {
                alert.set("ignore", Json::Bool(true));
                alert.set("ignoreSource", source());
            }
        }
        let all_ignored = match alert.get("instances") {
            Some(Json::Arr(list)) => list.iter().all(instance_ignored),
            // No instances: the original crashed; none is "all ignored".
            _ => true,
        };
        if all_ignored {
            alert.set("ignore", Json::Bool(true));
            alert.set("ignoreSource", source());
        }
    }
    let mut render = |key: &str| -> Json {
        // Missing or not text: the original crashed; render nothing.
        let text = match alert.get(key) {
            Some(Json::Str(s)) => &**s,
            _ => "",
        };
        if let Some(html) = rendered.get(text) {
            return Json::Str(html.clone());
        }
        let html: Box<str> = reparse_html(text).into();
        rendered.insert(text.into(), html.clone());
        Json::Str(html)
    };
    let description = render("desc");
    let solution = render("solution");
    let risk_label = match alert.get("riskdesc") {
        Some(Json::Str(s)) => s.split(' ').next().unwrap_or(""),
        // The original crashed without riskdesc; ZAP's labels stand in.
        _ => alert.get("riskcode").and_then(js_key).map_or("", |code| risk_name(&code)),
    };
    let risk_label = Json::Str(risk_label.into());
    let reference_urls = match alert.get("reference") {
        Some(Json::Str(s)) if !s.is_empty() => {
            Json::Arr(tags_to_newlines(s).split("\n\n").map(|u| Json::Str(u.into())).collect())
        }
        _ => Json::Null,
    };
    alert.set("description", description);
    alert.set("solution", solution);
    alert.set("riskLabel", risk_label);
    alert.set("referenceURLs", reference_urls);
    alert
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

fn source_of(instance: &Json) -> Option<&Json> {
    match instance {
        Json::Obj(o) => o.get("ignoreSource").filter(|v| !matches!(v, Json::Undefined)),
        _ => None,
    }
}

fn instance_ignored(instance: &Json) -> bool {
    match instance {
        Json::Obj(o) => o.get("ignore").is_some_and(truthy),
        _ => false,
    }
}

/// JavaScript truthiness.
fn truthy(v: &Json) -> bool {
    match v {
        Json::Undefined | Json::Null => false,
        Json::Bool(b) => *b,
        Json::Num(n) => {
            let n = as_f64(n);
            n != 0.0 && !n.is_nan()
        }
        Json::Str(s) => !s.is_empty(),
        Json::Arr(_) | Json::Obj(_) => true,
    }
}

/// SameValueZero, as a `Set` compares; `None` is `undefined`. Objects and
/// arrays from the report are distinct objects, never the same.
fn same_value_zero(a: Option<&Json>, b: Option<&Json>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(Json::Null), Some(Json::Null)) => true,
        (Some(Json::Bool(x)), Some(Json::Bool(y))) => x == y,
        (Some(Json::Num(x)), Some(Json::Num(y))) => as_f64(x) == as_f64(y),
        (Some(Json::Str(x)), Some(Json::Str(y))) => x == y,
        _ => false,
    }
}

/// `Number(v)`, for the comparison `riskcode > 0`.
fn js_number(v: &Json) -> f64 {
    match v {
        Json::Null => 0.0,
        Json::Bool(b) => f64::from(u8::from(*b)),
        Json::Num(n) => as_f64(n),
        Json::Str(s) => {
            let t = s.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
            if t.is_empty() {
                0.0
            } else if t.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')) {
                t.parse().unwrap_or(f64::NAN)
            } else {
                f64::NAN
            }
        }
        Json::Undefined | Json::Arr(_) | Json::Obj(_) => f64::NAN,
    }
}

/// The property key a value becomes (`String(v)`), for the values that can
/// name a risk group.
fn js_key(v: &Json) -> Option<String> {
    match v {
        Json::Str(s) => Some(s.to_string()),
        Json::Null => Some("null".to_owned()),
        Json::Num(n) => Some(js_number_text(as_f64(n))),
        _ => None,
    }
}
