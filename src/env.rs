//! The process environment, read once, and what Cloud Foundry puts in it.
//!
//! Keeping a snapshot (instead of calling `std::env::var` all over) lets tests
//! hand each piece the environment they want.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use miniserde::Deserialize;
use miniserde::json::Value;

use crate::crypto::Key;
use crate::error::{Error, Result};
use crate::secret::Secret;

#[derive(Clone, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    /// The process environment; variables that are not UTF-8 are left out.
    pub fn from_process() -> Env {
        let vars =
            std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect();
        Env { vars }
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Env {
        Env { vars: pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect() }
    }

    /// A variable's value; an empty value counts as unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// A variable that names a program (or a script a program runs) in
    /// place of the image's own. A deployed run (DEPLOY_ENV set) runs what
    /// the image holds, so there it is a usage error naming the variable;
    /// only a local run, or a build with the tests' `testing` feature,
    /// takes it.
    pub fn program(&self, name: &str) -> Result<Option<&str>> {
        match self.get(name) {
            Some(_) if self.deploy_env().is_some() && !cfg!(feature = "testing") => {
                Err(Error::usage(format!("{name} is set, but a deployed run runs the image's own program: unset it")))
            }
            value => Ok(value),
        }
    }

    /// A setting that is a whole number from `low` to `high`, `default`
    /// when unset; any other value is a usage error naming the variable
    /// (never echoing its value).
    pub fn whole_number(&self, name: &str, low: u64, high: u64, default: u64) -> Result<u64> {
        let Some(text) = self.get(name) else { return Ok(default) };
        match text.parse::<u64>() {
            Ok(n) if (low..=high).contains(&n) => Ok(n),
            _ => Err(Error::usage(format!("{name} is not a whole number from {low} to {high}"))),
        }
    }

    /// [`whole_number`](Self::whole_number) for a count of things in memory.
    pub fn count(&self, name: &str, low: usize, high: usize, default: usize) -> Result<usize> {
        let n = self.whole_number(name, low as u64, high as u64, default as u64)?;
        Ok(usize::try_from(n).expect("a number up to `high` fits in a usize"))
    }

    /// A setting that is `true` or `false` (in any case), `false` when unset;
    /// any other value is a usage error naming the variable.
    pub fn flag(&self, name: &str) -> Result<bool> {
        match self.get(name).map(str::trim) {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(_) => Err(Error::usage(format!("{name} is neither true nor false"))),
        }
    }

    /// Where a run keeps its output and scratch space: TMPDIR, else /tmp.
    pub fn tmp_dir(&self) -> PathBuf {
        PathBuf::from(self.get("TMPDIR").unwrap_or("/tmp"))
    }

    /// A setting that is a size in bytes from `low` to `high`: a number of
    /// bytes, or one with a `K`, `M` or `G` suffix for KiB, MiB, GiB (`64M`,
    /// `8MiB`); `default` when unset. Any other value is a usage error naming
    /// the variable (never echoing its value). A `high` of `u64::MAX` is no
    /// upper bound, and the message says "at least".
    pub fn size(&self, name: &str, low: u64, high: u64, default: u64) -> Result<u64> {
        let Some(text) = self.get(name) else { return Ok(default) };
        match parse_size(text) {
            Some(n) if (low..=high).contains(&n) => Ok(n),
            _ if high == u64::MAX => Err(Error::usage(format!("{name} is not a size of at least {}", Size(low)))),
            _ => Err(Error::usage(format!("{name} is not a size from {} to {}", Size(low), Size(high)))),
        }
    }

    /// `DEPLOY_ENV` (dev, staging, production): set means "deployed, fail closed".
    pub fn deploy_env(&self) -> Option<&str> {
        self.get("DEPLOY_ENV")
    }

    /// The key of the user-provided service `pages-<DEPLOY_ENV>-encryption`.
    ///
    /// `Ok(None)` only when DEPLOY_ENV is unset (a local run with plain values).
    pub fn encryption_key(&self) -> Result<Option<Key>> {
        let Some(deploy_env) = self.deploy_env() else {
            return Ok(None);
        };
        let service = format!("pages-{deploy_env}-encryption");
        let key = self.user_provided(&service, "key").map_err(|e| {
            e.context(format_args!("no encryption key (DEPLOY_ENV is {deploy_env:?}, so values must decrypt)"))
        })?;
        Ok(Some(Key::from_secret(&key)))
    }

    /// `credentials[field]` of the user-provided service `name` in VCAP_SERVICES.
    pub fn user_provided(&self, name: &str, field: &str) -> Result<Secret> {
        let text = self.get("VCAP_SERVICES").ok_or_else(|| Error::usage("VCAP_SERVICES is not set"))?;
        let services: Services = miniserde::json::from_str(text)
            .map_err(|_| Error::usage("VCAP_SERVICES is not a JSON object of service lists"))?;
        let service = services
            .user_provided
            .unwrap_or_default()
            .into_iter()
            .find(|s| s.name.as_deref() == Some(name))
            .ok_or_else(|| Error::usage(format!("VCAP_SERVICES has no user-provided service '{name}'")))?;
        match service.credentials.as_ref().and_then(|c| c.get(field)) {
            Some(Value::String(s)) if !s.is_empty() => Ok(Secret::new(s.clone())),
            _ => Err(Error::usage(format!("the service '{name}' has no string credentials.{field}"))),
        }
    }
}

/// `123`, `64M`, `8MiB`, `1G`: a size in bytes.
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let unit = unit.trim();
    let is = |name: &str| unit.eq_ignore_ascii_case(name);
    let shift = if unit.is_empty() || is("b") {
        0
    } else if is("k") || is("kib") {
        10
    } else if is("m") || is("mib") {
        20
    } else if is("g") || is("gib") {
        30
    } else {
        return None;
    };
    number.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// A size as a message writes it: in the largest unit it is a whole number of.
struct Size(u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = |shift: u32| self.0 > 0 && self.0.is_multiple_of(1 << shift);
        let (shift, unit) = if whole(30) {
            (30, "G")
        } else if whole(20) {
            (20, "M")
        } else if whole(10) {
            (10, "K")
        } else {
            (0, "")
        };
        write!(f, "{}{unit}", self.0 >> shift)
    }
}

#[derive(Deserialize)]
struct Services {
    #[serde(rename = "user-provided")]
    user_provided: Option<Vec<Service>>,
}

#[derive(Deserialize)]
struct Service {
    name: Option<String>,
    credentials: Option<BTreeMap<String, Value>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto;

    const VCAP: &str = r#"{"s3":[{"name":"x","credentials":{"bucket":"b"}}],
        "user-provided":[{"name":"user-agent","credentials":{"USER_AGENT":"UA/1"}},
                         {"name":"pages-dev-encryption","credentials":{"key":"shhhhhhh","algorithm":"aes-256-gcm"}}]}"#;

    #[test]
    fn without_deploy_env_there_is_no_key() {
        assert!(Env::from_pairs([("VCAP_SERVICES", VCAP)]).encryption_key().unwrap().is_none());
    }

    #[test]
    fn the_key_comes_from_the_deploy_envs_encryption_service() {
        let env = Env::from_pairs([("DEPLOY_ENV", "dev"), ("VCAP_SERVICES", VCAP)]);
        let key = env.encryption_key().unwrap().unwrap();
        let ct = "6a7495108a7f8c9ab4d0990854240242:e05f0d25446be83fa92aa9586610496b:560d3e8ff02f852104417a";
        assert_eq!(crypto::decrypt(&key, ct).unwrap().expose(), "hello world");
    }

    #[test]
    fn a_deployed_run_without_its_service_fails_closed() {
        let env = Env::from_pairs([("DEPLOY_ENV", "staging"), ("VCAP_SERVICES", VCAP)]);
        let err = env.encryption_key().unwrap_err();
        assert!(err.message().contains("pages-staging-encryption"), "{err}");
        let env = Env::from_pairs([("DEPLOY_ENV", "dev")]);
        assert!(env.encryption_key().unwrap_err().message().contains("VCAP_SERVICES is not set"));
        let env = Env::from_pairs([("DEPLOY_ENV", "dev"), ("VCAP_SERVICES", "{nope")]);
        assert!(env.encryption_key().unwrap_err().message().contains("not a JSON object"));
    }

    #[test]
    fn a_flag_is_true_or_false_in_any_case_and_anything_else_is_an_error_naming_it() {
        let env = Env::from_pairs([("A", "true"), ("B", "FALSE"), ("C", " True "), ("D", "yes"), ("E", "1")]);
        assert_eq!(
            (env.flag("A"), env.flag("B"), env.flag("C"), env.flag("UNSET")),
            (Ok(true), Ok(false), Ok(true), Ok(false))
        );
        for name in ["D", "E"] {
            let err = env.flag(name).unwrap_err();
            assert_eq!(err.message(), format!("{name} is neither true nor false"));
            assert_eq!(err.kind(), crate::error::Kind::Usage);
        }
    }

    #[test]
    fn the_scratch_space_is_tmpdir_else_tmp() {
        assert_eq!(Env::from_pairs([("TMPDIR", "/var/tmp")]).tmp_dir(), PathBuf::from("/var/tmp"));
        assert_eq!(Env::default().tmp_dir(), PathBuf::from("/tmp"));
        assert_eq!(Env::from_pairs([("TMPDIR", "")]).tmp_dir(), PathBuf::from("/tmp"));
    }

    #[test]
    fn sizes_are_bytes_or_kib_mib_gib_within_bounds() {
        const MIB: u64 = 1024 * 1024;
        let env = Env::from_pairs([("A", "123"), ("B", "64M"), ("C", " 8MiB "), ("D", "1g"), ("E", "2K")]);
        let size = |name| env.size(name, 0, u64::MAX, 7);
        assert_eq!(
            [size("A"), size("B"), size("C"), size("D"), size("E")].map(Result::unwrap),
            [123, 64 * MIB, 8 * MIB, 1024 * MIB, 2048]
        );
        assert_eq!(size("UNSET").unwrap(), 7);
        for bad in ["8 parsecs", "-1", "M", "1.5G", "99999999999G"] {
            let env = Env::from_pairs([("PART", bad)]);
            let err = env.size("PART", 5 * MIB, 5 * 1024 * MIB, 8 * MIB).unwrap_err();
            assert_eq!(err.message(), "PART is not a size from 5M to 5G");
        }
        let small = Env::from_pairs([("LIMIT", "1M")]);
        let err = small.size("LIMIT", 5 * MIB, u64::MAX, 64 * MIB).unwrap_err();
        assert_eq!(err.message(), "LIMIT is not a size of at least 5M");
        assert_eq!(small.size("LIMIT", MIB, MIB, 0).unwrap(), MIB);
    }

    #[test]
    fn user_provided_credentials_are_read_by_name() {
        let env = Env::from_pairs([("VCAP_SERVICES", VCAP)]);
        assert_eq!(env.user_provided("user-agent", "USER_AGENT").unwrap().expose(), "UA/1");
        assert!(env.user_provided("user-agent", "nope").is_err());
    }
}
