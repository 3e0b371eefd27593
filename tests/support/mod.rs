//! Shared test helpers: temp dirs, a loopback pages-core callback server, an
//! s3s-fs server, pages-core-shaped params, and a network namespace where a
//! deployed run's site is at a public-looking address.

#[cfg(feature = "a11y")]
pub mod axe;
pub mod callback;
pub mod garden;
pub mod http;
pub mod internal;
pub mod net;
pub mod proxy;
pub mod s3;
pub mod site;
pub mod tls;
// Every task's deployed runs serve their site with it (inside a net::PublicNet);
// the directory and generated sites only the a11y tests use.
#[cfg_attr(not(feature = "a11y"), allow(dead_code))]
pub mod web;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use build_task::crypto::{self, Key};
use build_task::secret::Secret;

/// The build-task binary cargo built for these tests.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_build-task"))
}

/// A command for the binary with a clean environment (PATH and TMPDIR kept).
pub fn build_task() -> Command {
    let mut cmd = Command::new(bin());
    cmd.env_clear();
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    cmd
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "bt-test-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Says why a test cannot run here: a missing tool, root, the shared
/// fixtures. Under CI=true, where .ci/run provides every prerequisite and
/// ../shared is beside the clone, that is a failure, never a skip.
pub fn skip(why: &str) {
    assert!(std::env::var("CI").is_err(), "{why}, but CI must have it (see .ci/run)");
    eprintln!("skipped: {why}");
}

/// Whether an external tool is on PATH (else [`skip`]).
pub fn have_tool(name: &str) -> bool {
    let found =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file())).unwrap_or(false);
    if !found {
        skip(&format!("{name} is not installed"));
    }
    found
}

/// ../shared/fixtures, when this clone has it (else [`skip`]).
#[cfg(any(feature = "a11y", feature = "owasp-zap"))]
pub fn shared_fixtures() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
    if dir.is_dir() {
        Some(dir)
    } else {
        skip("../shared/fixtures is not beside this clone");
        None
    }
}

/// The encryption key string the tests' VCAP_SERVICES carries.
pub const KEY: &str = "test-encryption-key";

pub fn key() -> Key {
    Key::from_secret(&Secret::new(KEY))
}

/// Encrypts like pages-core, with a random IV.
pub fn enc(plain: &str) -> String {
    let mut iv = [0u8; 16];
    for b in &mut iv {
        *b = fastrand::u8(..);
    }
    crypto::encrypt(&key(), iv, plain)
}

/// build-task as Cloud Foundry runs it in the `dev` space: DEPLOY_ENV and
/// VCAP_SERVICES set, S3 at `s3_endpoint`, scratch files under `tmp`.
pub fn deployed(s3_endpoint: &str, tmp: &std::path::Path) -> Command {
    let mut cmd = build_task();
    cmd.env("DEPLOY_ENV", "dev")
        .env("VCAP_SERVICES", vcap_services("dev"))
        .env("AWS_ENDPOINT_URL_S3", s3_endpoint)
        .env("TMPDIR", tmp);
    cmd
}

/// VCAP_SERVICES with the `pages-<env>-encryption` and `user-agent` services.
pub fn vcap_services(deploy_env: &str) -> String {
    format!(
        r#"{{"user-provided":[{{"name":"pages-{deploy_env}-encryption","credentials":{{"key":"{KEY}","algorithm":"aes-256-gcm"}}}},{{"name":"user-agent","credentials":{{"USER_AGENT":"build-task-tests/1.0"}}}}]}}"#
    )
}

/// What pages-core passes as the six default params.
pub struct Params<'a> {
    pub callback: &'a str,
    pub task_id: u64,
    pub region: &'a str,
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub bucket: &'a str,
}

impl<'a> Params<'a> {
    /// Params for a run against [`s3::S3Server`]'s credentials and region.
    pub fn on_s3s(callback: &'a str, task_id: u64, bucket: &'a str) -> Params<'a> {
        Params { callback, task_id, region: s3::REGION, access_key: s3::ACCESS_KEY, secret_key: s3::SECRET_KEY, bucket }
    }

    /// The `-p` text exactly as pages-core renders DEFAULT_BUILD_TASK_PARAMS
    /// after encrypting every value: TASK_ID is a bare, unquoted ciphertext.
    pub fn encrypted(&self) -> String {
        format!(
            r#"{{ "STATUS_CALLBACK": "{}", "TASK_ID": {}, "AWS_DEFAULT_REGION": "{}", "AWS_ACCESS_KEY_ID": "{}", "AWS_SECRET_ACCESS_KEY": "{}", "BUCKET": "{}" }}"#,
            enc(self.callback),
            enc(&self.task_id.to_string()),
            enc(self.region),
            enc(self.access_key),
            enc(self.secret_key),
            enc(self.bucket)
        )
    }

    /// The same params in plain text (a local test run without DEPLOY_ENV).
    pub fn plain(&self) -> String {
        format!(
            r#"{{ "STATUS_CALLBACK": "{}", "TASK_ID": {}, "AWS_DEFAULT_REGION": "{}", "AWS_ACCESS_KEY_ID": "{}", "AWS_SECRET_ACCESS_KEY": "{}", "BUCKET": "{}" }}"#,
            self.callback, self.task_id, self.region, self.access_key, self.secret_key, self.bucket
        )
    }
}
