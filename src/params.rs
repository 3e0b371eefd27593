//! The six default parameters pages-core passes with `-p '<JSON>'`.
//!
//! pages-core renders `DEFAULT_BUILD_TASK_PARAMS` with json-templates after
//! encrypting every value, and the template leaves TASK_ID unquoted, so the
//! text it sends is often not JSON: `"TASK_ID": 6a74…:e05f…:560d…,`. We quote
//! such bare `tag:iv:ct` values before parsing, and also accept a quoted
//! ciphertext or a plain integer.

use std::borrow::Cow;

use miniserde::json::{Number, Value};

use crate::callback::CallbackUrl;
use crate::crypto::{self, Key};
use crate::error::Error;
use crate::json;
use crate::secret::Secret;

/// The parameters of one run, each checked once, here, as its owner
/// defines it: nothing downstream checks them again. Values that grant
/// access are [`Secret`]s, and the callback shows without its token.
#[derive(Debug, Clone)]
pub struct Params {
    /// `https://<pages>/v0/tasks/<id>/<token>`.
    pub status_callback: CallbackUrl,
    /// pages-core's BuildTask id: decimal digits only.
    pub task_id: String,
    pub region: Region,
    pub access_key_id: Secret,
    pub secret_access_key: Secret,
    pub bucket: BucketName,
    /// `_tasks/artifacts/<TASK_ID>/`.
    artifact_prefix: String,
}

/// An AWS region name (`us-gov-west-1`): safe to put in a host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region(String);

impl Region {
    /// The name, if it has the shape of an AWS region's.
    pub fn new(name: &str) -> Option<Region> {
        valid_region(name).then(|| Region(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A bucket name that follows S3's naming rules: safe in a host name or a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketName(String);

impl BucketName {
    /// The name, if it follows S3's rules for general purpose buckets.
    pub fn new(name: &str) -> Option<BucketName> {
        valid_bucket(name).then(|| BucketName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A params failure, with the callback when it could still be read so the
/// failure can be reported to pages-core.
#[derive(Debug)]
pub struct ParamsError {
    pub error: Error,
    pub callback: Option<CallbackUrl>,
}

const KEYS: [&str; 6] =
    ["STATUS_CALLBACK", "TASK_ID", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "BUCKET"];

impl Params {
    /// Parses and, with a key, decrypts the `-p` text.
    pub fn parse(text: &str, key: Option<&Key>) -> Result<Params, ParamsError> {
        let fail = |error: Error| ParamsError { error: error.context("task params"), callback: None };
        let entries = json::object_entries(&quote_bare_values(text))
            .map_err(|_| fail(Error::usage("not a JSON object (check the quoting of the -p value)")))?;

        // Each of the six keys exactly once; other keys are ignored, as the
        // Python runtime ignored them.
        let mut values: [Option<&Value>; 6] = Default::default();
        let mut twice = None;
        for (name, value) in &entries.0 {
            if let Some(i) = KEYS.iter().position(|k| k == name)
                && values[i].replace(value).is_some()
            {
                twice.get_or_insert(i);
            }
        }
        if twice == Some(0) {
            return Err(fail(Error::usage("STATUS_CALLBACK is given twice")));
        }

        let read = |i: usize| -> Result<Secret, Error> {
            let name = KEYS[i];
            let text = match values[i] {
                None => return Err(Error::usage(format!("{name} is missing"))),
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(Number::U64(n))) if name == "TASK_ID" => n.to_string(),
                Some(_) if name == "TASK_ID" => {
                    return Err(Error::usage("TASK_ID must be a string or a non-negative integer"));
                }
                Some(_) => return Err(Error::usage(format!("{name} must be a string"))),
            };
            let value = match key {
                Some(key) => {
                    crypto::decrypt(key, &text).map_err(|e| Error::usage(format!("{name} does not decrypt: {e}")))?
                }
                None => Secret::new(text),
            };
            if value.expose().is_empty() {
                return Err(Error::usage(format!("{name} is empty")));
            }
            Ok(value)
        };

        // The callback first, so that every later failure can be reported.
        let status_callback = read(0).and_then(|url| CallbackUrl::parse(url.expose())).map_err(fail)?;
        let rest = || -> Result<_, Error> {
            if let Some(i) = twice {
                return Err(Error::usage(format!("{} is given twice", KEYS[i])));
            }
            let task_id = read(1)?.expose().trim().to_owned();
            if !(1..=20).contains(&task_id.len()) || !task_id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::usage("TASK_ID is not a decimal integer"));
            }
            let region = Region::new(read(2)?.expose())
                .ok_or_else(|| Error::usage("AWS_DEFAULT_REGION is not a region name"))?;
            let (access_key_id, secret_access_key) = (read(3)?, read(4)?);
            let bucket = BucketName::new(read(5)?.expose())
                .ok_or_else(|| Error::usage("BUCKET is not a valid S3 bucket name"))?;
            Ok((task_id, region, access_key_id, secret_access_key, bucket))
        };
        match rest() {
            Ok((task_id, region, access_key_id, secret_access_key, bucket)) => {
                let artifact_prefix = format!("_tasks/artifacts/{task_id}/");
                Ok(Params {
                    status_callback,
                    task_id,
                    region,
                    access_key_id,
                    secret_access_key,
                    bucket,
                    artifact_prefix,
                })
            }
            Err(error) => Err(ParamsError { error: error.context("task params"), callback: Some(status_callback) }),
        }
    }

    /// The artifact prefix pages-core stores and reads `index.json` under.
    pub fn artifact_prefix(&self) -> &str {
        &self.artifact_prefix
    }
}

/// S3's general purpose bucket naming rules: 3 to 63 lowercase letters,
/// digits, '.' and '-', starting and ending with a letter or digit, no "..",
/// not shaped like an IP address, none of the prefixes and suffixes AWS
/// reserves.
fn valid_bucket(name: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = name.as_bytes();
    let ip_shaped =
        name.split('.').count() == 4 && name.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    (3..=63).contains(&bytes.len())
        && bytes.iter().all(|&b| alnum(b) || b == b'.' || b == b'-')
        && alnum(bytes[0])
        && alnum(bytes[bytes.len() - 1])
        && !name.contains("..")
        && !ip_shaped
        && !["xn--", "sthree-", "amzn-s3-demo-"].iter().any(|p| name.starts_with(p))
        && !["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"].iter().any(|s| name.ends_with(s))
}

/// An AWS region's shape: a partition's letters, words, a number
/// (`us-gov-west-1`, `eu-central-2`, `us-isob-east-1`).
fn valid_region(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    name.len() <= 32
        && parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1].iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok_and(|n| n > 0)
}

/// Puts quotes around bare `hex:hex:hex` values, which json-templates leaves
/// when a template has `"KEY": {{value}}` and the value is a ciphertext.
///
/// Outside strings JSON has no `:` but the one after each key, so a value
/// token that itself holds `:` can only be such a ciphertext.
pub fn quote_bare_values(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let (mut i, mut in_string, mut escaped) = (0, false, false);
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        match b {
            b'"' => in_string = true,
            b':' => {
                let start = i + 1 + bytes[i + 1..].iter().take_while(|c| c.is_ascii_whitespace()).count();
                let len = bytes[start..].iter().take_while(|c| c.is_ascii_hexdigit() || **c == b':').count();
                let token = &text[start..start + len];
                if token.contains(':') {
                    let out = out.get_or_insert_with(String::new);
                    out.push_str(&text[copied..start]);
                    out.push('"');
                    out.push_str(token);
                    out.push('"');
                    copied = start + len;
                    i = start + len;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut out) => {
            out.push_str(&text[copied..]);
            Cow::Owned(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CT: &str = "6a7495108a7f8c9ab4d0990854240242:e05f0d25446be83fa92aa9586610496b:560d3e8ff02f852104417a";

    fn key() -> Key {
        Key::from_secret(&Secret::new("shhhhhhh"))
    }

    fn enc(plain: &str) -> String {
        crypto::encrypt(&key(), [7; 16], plain)
    }

    /// The text pages-core renders from DEFAULT_BUILD_TASK_PARAMS.
    fn rendered(task_id: &str) -> String {
        format!(
            r#"{{ "STATUS_CALLBACK": "{}", "TASK_ID": {task_id}, "AWS_DEFAULT_REGION": "{}", "AWS_ACCESS_KEY_ID": "{}", "AWS_SECRET_ACCESS_KEY": "{}", "BUCKET": "{}" }}"#,
            enc("https://pages.example.gov/v0/tasks/12/tok"),
            enc("us-gov-west-1"),
            enc("AKIA0000"),
            enc("s3cr3t"),
            enc("cg-bucket-1")
        )
    }

    #[test]
    fn a_bare_ciphertext_is_quoted() {
        let text = format!(r#"{{"A": "x:y", "TASK_ID": {CT}, "B": 1}}"#);
        assert_eq!(quote_bare_values(&text), format!(r#"{{"A": "x:y", "TASK_ID": "{CT}", "B": 1}}"#));
        assert!(matches!(quote_bare_values(r#"{"a": 12, "b": "c:d"}"#), Cow::Borrowed(_)));
    }

    #[test]
    fn pages_cores_rendering_with_an_unquoted_task_id_parses() {
        let text = rendered(&enc("12"));
        let p = Params::parse(&text, Some(&key())).unwrap();
        assert_eq!(p.task_id, "12");
        assert_eq!(p.region.as_str(), "us-gov-west-1");
        assert_eq!(p.bucket.as_str(), "cg-bucket-1");
        assert_eq!(p.access_key_id.expose(), "AKIA0000");
        assert_eq!(p.secret_access_key.expose(), "s3cr3t");
        assert_eq!(p.status_callback.expose(), "https://pages.example.gov/v0/tasks/12/tok");
        assert_eq!(p.artifact_prefix(), "_tasks/artifacts/12/");
    }

    #[test]
    fn a_quoted_ciphertext_and_a_plain_integer_task_id_parse() {
        let quoted = rendered(&format!("\"{}\"", enc("34")));
        assert_eq!(Params::parse(&quoted, Some(&key())).unwrap().task_id, "34");
        let plain = r#"{"STATUS_CALLBACK":"http://127.0.0.1:1/v0/tasks/5/t","TASK_ID":5,"AWS_DEFAULT_REGION":"us-east-1","AWS_ACCESS_KEY_ID":"a","AWS_SECRET_ACCESS_KEY":"b","BUCKET":"bkt"}"#;
        assert_eq!(Params::parse(plain, None).unwrap().task_id, "5");
    }

    #[test]
    fn missing_duplicate_and_wrongly_shaped_keys_are_named() {
        let plain = r#"{"STATUS_CALLBACK":"http://127.0.0.1:1/x","TASK_ID":5,"AWS_DEFAULT_REGION":"us-east-1","AWS_ACCESS_KEY_ID":"a","AWS_SECRET_ACCESS_KEY":"b","BUCKET":"bkt"}"#;
        let msg = |t: &str| Params::parse(t, None).unwrap_err().error.to_string();
        assert_eq!(msg(&plain.replace(r#","BUCKET":"bkt""#, "")), "task params: BUCKET is missing");
        assert_eq!(
            msg(&plain.replace(r#""TASK_ID":5"#, r#""TASK_ID":[5]"#)),
            "task params: TASK_ID must be a string or a non-negative integer"
        );
        assert_eq!(msg(&plain.replace(r#""BUCKET":"bkt""#, r#""BUCKET":7"#)), "task params: BUCKET must be a string");
        assert_eq!(
            msg(&plain.replace(r#""TASK_ID":5"#, r#""TASK_ID":5,"TASK_ID":6"#)),
            "task params: TASK_ID is given twice"
        );
        assert_eq!(
            msg(&plain.replace(r#""TASK_ID":5"#, r#""TASK_ID":"../5""#)),
            "task params: TASK_ID is not a decimal integer"
        );
        assert_eq!(
            msg(&plain.replace(r#""AWS_ACCESS_KEY_ID":"a""#, r#""AWS_ACCESS_KEY_ID":"""#)),
            "task params: AWS_ACCESS_KEY_ID is empty"
        );
        assert_eq!(msg(&plain[..40]), "task params: not a JSON object (check the quoting of the -p value)");
    }

    #[test]
    fn a_failure_after_the_callback_still_carries_the_callback() {
        let good = enc("cg-bucket-1");
        let tampered = format!("{}0", &good[..good.len() - 1]);
        let tampered = if tampered == good { format!("{}1", &good[..good.len() - 1]) } else { tampered };
        let text = rendered(&enc("12")).replace(&good, &tampered);
        let err = Params::parse(&text, Some(&key())).unwrap_err();
        assert_eq!(
            err.error.to_string(),
            "task params: BUCKET does not decrypt: the tag does not verify (wrong key or altered value)"
        );
        assert_eq!(err.callback.unwrap().expose(), "https://pages.example.gov/v0/tasks/12/tok");
    }

    #[test]
    fn plain_text_is_refused_when_a_key_is_given() {
        let plain = r#"{"STATUS_CALLBACK":"https://pages.example.gov/v0/tasks/5/t","TASK_ID":5,"AWS_DEFAULT_REGION":"us-east-1","AWS_ACCESS_KEY_ID":"a","AWS_SECRET_ACCESS_KEY":"b","BUCKET":"bkt"}"#;
        let err = Params::parse(plain, Some(&key())).unwrap_err();
        assert_eq!(
            err.error.to_string(),
            "task params: STATUS_CALLBACK does not decrypt: not of the form tag:iv:ciphertext"
        );
        assert!(err.callback.is_none());
    }

    #[test]
    fn bucket_names_follow_s3s_naming_rules() {
        for good in ["cg-bucket-1", "abc", "a.b-c", "cg-7f3a9b2e-1234-5678-9abc-def012345678", &"a".repeat(63)] {
            assert!(valid_bucket(good), "{good}");
        }
        for bad in [
            "ab",
            &"a".repeat(64),
            "Upper",
            "under_score",
            "-start",
            "end-",
            ".dot",
            "dot.",
            "two..dots",
            "127.0.0.1",
            "192.168.5.4",
            "xn--bucket",
            "sthree-x",
            "amzn-s3-demo-x",
            "x-s3alias",
            "x--ol-s3",
            "x.mrap",
            "x--x-s3",
            "x--table-s3",
            "sp ace",
        ] {
            assert!(!valid_bucket(bad), "{bad}");
        }
        assert!(valid_bucket("1.2.3.4.5"), "only four numbers are an IP address");
    }

    #[test]
    fn regions_have_the_aws_shape() {
        for good in ["us-gov-west-1", "us-east-1", "eu-central-2", "ap-southeast-4", "us-isob-east-1", "cn-north-1"] {
            assert!(valid_region(good), "{good}");
        }
        for bad in [
            "-",
            "",
            "us",
            "us-east",
            "us-east-0",
            "US-EAST-1",
            "us--east-1",
            "useast-1-x",
            &"a".repeat(300),
            "u-east-1",
        ] {
            assert!(!valid_region(bad), "{bad}");
        }
    }

    #[test]
    fn debug_of_params_shows_no_secret() {
        let p = Params::parse(&rendered(&enc("12")), Some(&key())).unwrap();
        let shown = format!("{p:?}");
        assert!(!shown.contains("s3cr3t") && !shown.contains("AKIA0000") && !shown.contains("tok"), "{shown}");
    }
}
