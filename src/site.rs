//! What pages-core gives every site scan, parsed once for every scanning
//! task: the target (`-t`) and the site's scan rules (`-c`).
//!
//! A scanning task takes [`Site`] from its context (`ctx.site()`) before any
//! work, so a bad target or a bad rule is refused the same way, with the same
//! words, by every task, before a scan that may take most of an hour.

use miniserde::json::{self, Value};
use url::Url;

use crate::error::{Error, Result};

/// The inputs of one site scan.
pub struct Site {
    pub target: Target,
    /// The site's suppression rules, in the order given (the first that
    /// names a finding applies).
    pub rules: Vec<Rule>,
}

impl Site {
    /// The target and the `-c` value (absent or empty: no rules).
    pub fn parse(target: &str, config: Option<&str>) -> Result<Site> {
        Ok(Site { target: Target::parse(target)?, rules: rules(config.unwrap_or(""))? })
    }
}

/// The site's URL: an absolute http or https URL with a host.
#[derive(Debug, Clone)]
pub struct Target {
    /// As pages-core gave it (trimmed). The original reporters split page
    /// URLs on this text, so a trailing slash or its absence matters.
    text: String,
    url: Url,
}

/// Host names are taken in ASCII only, so a raw Unicode one gets the way out.
const NOT_ASCII: &str = "the target's host name is not ASCII: give it in its xn-- (punycode) form, \
                         as xn--bcher-kva.example for bücher.example";

impl Target {
    pub fn parse(text: &str) -> Result<Target> {
        let text = text.trim();
        let url = Url::parse(text).map_err(|e| match e {
            // url's IDNA back end is ASCII-only (Cargo.toml, idna_adapter).
            url::ParseError::IdnaError => Error::usage(NOT_ASCII),
            e => Error::usage(format!("the target is not a URL: {e}")),
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(Error::usage("the target must be an http or https URL"));
        }
        Ok(Target { text: text.to_owned(), url })
    }

    /// The target as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The target as a parsed URL (normalised: `https://site.gov` is
    /// `https://site.gov/` here).
    pub fn url(&self) -> &Url {
        &self.url
    }
}

/// One of the site's scan rules (CONTRACT A4): `{id, match?: [string], source?}`.
///
/// The original reporters compared `id` with a finding's id by JavaScript's
/// `===` and copied `source` into the finding, so both stay JSON scalars as
/// given: a string, a number, or null. `None` is an absent key.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: Option<Value>,
    /// `None` (absent, null or `[]`): the rule ignores the whole finding.
    /// Otherwise a finding's instance containing any of these is ignored.
    pub matches: Option<Vec<String>>,
    /// Who set the rule ("Pages"); customers' rules may have none.
    pub source: Option<Value>,
}

/// Parses the `-c` value, the site's scan metadata `{"rules": […], …}`.
/// Empty text, no `rules` or `"rules": null` means none: pages-core's
/// migrations pass no `-c`, and admin-made site build tasks have metadata
/// `{}`. Other keys, such as `runDay`, are ignored. Anything of the wrong
/// shape is an error naming the rule.
pub fn rules(text: &str) -> Result<Vec<Rule>> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let value: Value = json::from_str(text).map_err(|_| Error::usage("the scan config (-c) is not valid JSON"))?;
    let Value::Object(config) = value else {
        return Err(Error::usage("the scan config (-c) is not a JSON object"));
    };
    let rules = match config.get("rules") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(rules)) => rules,
        Some(_) => return Err(Error::usage("the scan config's \"rules\" is not a list")),
    };
    let mut out = Vec::with_capacity(rules.len());
    for (i, rule) in rules.iter().enumerate() {
        let rule = Rule::parse(rule)
            .map_err(|problem| Error::usage(format!("the scan config's rule {}{}: {problem}", i + 1, label(rule))))?;
        out.push(rule);
    }
    Ok(out)
}

/// ` (id)` of a rule whose id is a string, for errors.
fn label(rule: &Value) -> String {
    match rule {
        Value::Object(rule) => match rule.get("id") {
            Some(Value::String(id)) => format!(" ({id})"),
            _ => String::new(),
        },
        _ => String::new(),
    }
}

impl Rule {
    fn parse(rule: &Value) -> std::result::Result<Rule, &'static str> {
        let Value::Object(rule) = rule else {
            return Err("it is not an object");
        };
        let scalar = |key: &str, problem| match rule.get(key) {
            None => Ok(None),
            Some(v @ (Value::Null | Value::String(_) | Value::Number(_))) => Ok(Some(v.clone())),
            Some(_) => Err(problem),
        };
        const NOT_STRINGS: &str = "its \"match\" is not a list of strings";
        let matches = match rule.get("match") {
            None | Some(Value::Null) => None,
            Some(Value::Array(list)) if list.is_empty() => None,
            Some(Value::Array(list)) => {
                let mut strings = Vec::with_capacity(list.len());
                for m in list.iter() {
                    let Value::String(m) = m else { return Err(NOT_STRINGS) };
                    strings.push(m.clone());
                }
                Some(strings)
            }
            Some(_) => return Err(NOT_STRINGS),
        };
        Ok(Rule {
            id: scalar("id", "its \"id\" is not a string or a number")?,
            matches,
            source: scalar("source", "its \"source\" is not a string or a number")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        rules(text).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn a_target_is_an_absolute_http_or_https_url_kept_as_given() {
        let t = Target::parse(" https://site.gov ").unwrap();
        assert_eq!((t.as_str(), t.url().as_str()), ("https://site.gov", "https://site.gov/"));
        assert!(Target::parse("not a url").unwrap_err().to_string().starts_with("the target is not a URL: "));
        for bad in ["ftp://site.gov/", "file:///etc/passwd", "mailto:a@site.gov", "data:text/html,hi"] {
            assert_eq!(Target::parse(bad).unwrap_err().to_string(), "the target must be an http or https URL");
        }
    }

    #[test]
    fn a_unicode_host_name_is_refused_with_its_punycode_form_as_the_way_out() {
        for raw in ["https://bücher.example/", "https://Bücher.example/", "http://b%C3%BCcher.example/"] {
            assert_eq!(Target::parse(raw).unwrap_err().to_string(), NOT_ASCII, "{raw}");
        }
        let t = Target::parse("https://xn--bcher-kva.example/a").unwrap();
        assert_eq!(t.url().host_str(), Some("xn--bcher-kva.example"));
        assert_eq!(Target::parse("https://Site.GOV/").unwrap().url().as_str(), "https://site.gov/");
    }

    #[test]
    fn no_config_means_no_rules_and_other_keys_are_ignored() {
        for none in ["", "  ", "{}", r#"{"rules":null,"runDay":3}"#, r#"{"rules":[]}"#] {
            assert!(rules(none).unwrap().is_empty(), "{none}");
        }
    }

    #[test]
    fn rules_keep_their_scalars_and_an_empty_match_ignores_the_whole_finding() {
        let text =
            r#"{"rules":[{"id":"10038","match":["a",""],"source":"Pages"},{"id":7,"match":[],"source":null},{}]}"#;
        let got = rules(text).unwrap();
        let scalar = |v: &Option<Value>| v.as_ref().map(json::to_string);
        assert_eq!((scalar(&got[0].id), scalar(&got[0].source)), (Some("\"10038\"".into()), Some("\"Pages\"".into())));
        assert_eq!(got[0].matches.as_deref(), Some(&["a".to_owned(), String::new()][..]));
        assert_eq!((scalar(&got[1].id), scalar(&got[1].source)), (Some("7".into()), Some("null".into())));
        assert_eq!(got[1].matches, None);
        assert_eq!((scalar(&got[2].id), &got[2].matches, scalar(&got[2].source)), (None, &None, None));
    }

    #[test]
    fn config_shape_errors_name_the_rule_and_the_problem() {
        assert_eq!(err("{\"rules\":["), "the scan config (-c) is not valid JSON");
        assert_eq!(err("[]"), "the scan config (-c) is not a JSON object");
        assert_eq!(err(r#"{"rules":{"id":"1"}}"#), "the scan config's \"rules\" is not a list");
        assert_eq!(err(r#"{"rules":["10038"]}"#), "the scan config's rule 1: it is not an object");
        assert_eq!(
            err(r#"{"rules":[{"id":"a"},{"id":"b","match":"x"}]}"#),
            "the scan config's rule 2 (b): its \"match\" is not a list of strings"
        );
        assert_eq!(
            err(r#"{"rules":[{"id":3,"match":["x",1]}]}"#),
            "the scan config's rule 1: its \"match\" is not a list of strings"
        );
        assert_eq!(
            err(r#"{"rules":[{"id":["1"]}]}"#),
            "the scan config's rule 1: its \"id\" is not a string or a number"
        );
        assert_eq!(
            err(r#"{"rules":[{"id":"1","source":{}}]}"#),
            "the scan config's rule 1 (1): its \"source\" is not a string or a number"
        );
    }
}
