//! The bad-input corpus: malformed command lines and params. Each must end
//! in a usage exit (2) with a clear one-line message, or, when the callback
//! is known, in an error status too: never a panic, never a hang.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::callback::{CallbackServer, field};
use crate::support::{build_task, enc, vcap_services};

const CT: &str = "6a7495108a7f8c9ab4d0990854240242:e05f0d25446be83fa92aa9586610496b:560d3e8ff02f852104417a";

/// What a case is run with.
enum Env {
    Local,
    /// DEPLOY_ENV=dev with the test key in VCAP_SERVICES.
    Deployed,
    Custom(Vec<(&'static str, String)>),
}

struct Case {
    name: String,
    args: Vec<OsString>,
    env: Env,
    /// A fragment the one-line message must contain.
    says: String,
    /// Whether the callback must have received an error status.
    reported: bool,
}

fn words(w: &[&str]) -> Vec<OsString> {
    w.iter().map(OsString::from).collect()
}

/// Plain params with the given callback, each key overridable.
fn plain(cb: &str, overrides: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("STATUS_CALLBACK", format!("\"{cb}\"")),
        ("TASK_ID", "77".to_owned()),
        ("AWS_DEFAULT_REGION", "\"us-east-1\"".to_owned()),
        ("AWS_ACCESS_KEY_ID", "\"AKIAEXAMPLE\"".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "\"secret\"".to_owned()),
        ("BUCKET", "\"bkt\"".to_owned()),
    ];
    for (k, v) in overrides {
        match pairs.iter_mut().find(|(name, _)| name == k) {
            Some(pair) => pair.1 = (*v).to_owned(),
            None => pairs.push((k, (*v).to_owned())),
        }
    }
    let body: Vec<String> =
        pairs.into_iter().filter(|(_, v)| v != "<absent>").map(|(k, v)| format!("\"{k}\": {v}")).collect();
    format!("{{{}}}", body.join(", "))
}

/// Encrypted params (pages-core's rendering) with values replaced.
fn encrypted(cb: &str, overrides: &[(&str, String)]) -> String {
    let mut pairs = vec![
        ("STATUS_CALLBACK", format!("\"{}\"", enc(cb))),
        ("TASK_ID", enc("77")),
        ("AWS_DEFAULT_REGION", format!("\"{}\"", enc("us-east-1"))),
        ("AWS_ACCESS_KEY_ID", format!("\"{}\"", enc("AKIAEXAMPLE"))),
        ("AWS_SECRET_ACCESS_KEY", format!("\"{}\"", enc("secret"))),
        ("BUCKET", format!("\"{}\"", enc("bkt"))),
    ];
    for (k, v) in overrides {
        if let Some(pair) = pairs.iter_mut().find(|(name, _)| name == k) {
            pair.1 = v.clone();
        }
    }
    let body: Vec<String> = pairs.into_iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
    format!("{{ {} }}", body.join(", "))
}

fn cases(cb: &str) -> Vec<Case> {
    let mut out = Vec::new();
    let mut add = |name: &str, args: Vec<OsString>, env: Env, says: &str, reported: bool| {
        out.push(Case { name: name.to_owned(), args, env, says: says.to_owned(), reported });
    };
    let fault_ok = |p: &str| words(&["fault", "--mode", "ok", "-p", p]);

    // The command line itself.
    add("no task and no BUILD_TASK", words(&["-p", "{}"]), Env::Local, "no task given", false);
    add("unknown task", words(&["nosuch"]), Env::Local, "unknown task 'nosuch'", false);
    add(
        "unknown task from BUILD_TASK",
        words(&["-t", "x"]),
        Env::Custom(vec![("BUILD_TASK", "zzz".into())]),
        "BUILD_TASK: unknown task 'zzz'",
        false,
    );
    add("describe without a task", words(&["describe"]), Env::Local, "describe needs a task name", false);
    add("describe an unknown task", words(&["describe", "nope"]), Env::Local, "unknown task 'nope'", false);
    add("-p without a value", words(&["fault", "-p"]), Env::Local, "missing argument", false);
    add("-p twice", words(&["fault", "-p", "{}", "-p", "{}"]), Env::Local, "'-p' is given twice", false);
    add(
        "--output-dir without a value",
        words(&["example", "-t", "x", "--output-dir"]),
        Env::Local,
        "missing argument",
        false,
    );
    add("an option where the task goes", words(&["--bogus"]), Env::Local, "no task given", false);
    add(
        "non-UTF-8 -p value",
        vec!["fault".into(), "-p".into(), OsString::from_vec(vec![b'{', 0xff, b'}'])],
        Env::Local,
        "not UTF-8",
        false,
    );
    add("non-UTF-8 task name", vec![OsString::from_vec(vec![0xfe, 0xff])], Env::Local, "unknown task", false);
    add(
        "missing required flag, local",
        words(&["fault"]),
        Env::Local,
        "the required flag '--mode' (-m) is missing",
        false,
    );
    add("unknown flag, local", words(&["fault", "-m", "ok", "--zzz"]), Env::Local, "unknown flag '--zzz'", false);
    add(
        "stray argument, local",
        words(&["fault", "-m", "ok", "extra"]),
        Env::Local,
        "unexpected argument 'extra'",
        false,
    );
    add("deployed without -p", words(&["fault", "-m", CT]), Env::Deployed, "no -p params given", false);
    add(
        "deployed without VCAP_SERVICES",
        fault_ok(&plain(cb, &[])),
        Env::Custom(vec![("DEPLOY_ENV", "dev".into())]),
        "VCAP_SERVICES is not set",
        false,
    );
    add(
        "deployed with broken VCAP_SERVICES",
        fault_ok(&plain(cb, &[])),
        Env::Custom(vec![("DEPLOY_ENV", "dev".into()), ("VCAP_SERVICES", "{\"user-provided\":".into())]),
        "not a JSON object",
        false,
    );
    add(
        "deployed without the encryption service",
        fault_ok(&plain(cb, &[])),
        Env::Custom(vec![("DEPLOY_ENV", "prod".into()), ("VCAP_SERVICES", vcap_services("dev"))]),
        "pages-prod-encryption",
        false,
    );
    add(
        "encryption service without key",
        fault_ok(&plain(cb, &[])),
        Env::Custom(vec![
            ("DEPLOY_ENV", "dev".into()),
            ("VCAP_SERVICES", r#"{"user-provided":[{"name":"pages-dev-encryption","credentials":{}}]}"#.into()),
        ]),
        "credentials.key",
        false,
    );

    // The -p text.
    for (name, text, says) in [
        ("empty params", "", "not a JSON object"),
        ("whitespace params", "   ", "not a JSON object"),
        ("truncated JSON", "{\"STATUS_CALLBACK\": \"http://127.0.0.1:1/x\", \"TASK", "not a JSON object"),
        ("a JSON array", "[1,2,3]", "not a JSON object"),
        ("a JSON string", "\"text\"", "not a JSON object"),
        ("null", "null", "not a JSON object"),
        ("trailing garbage", "{} x", "not a JSON object"),
        ("single quotes", "{'STATUS_CALLBACK': 'x'}", "not a JSON object"),
        ("empty object", "{}", "STATUS_CALLBACK is missing"),
        ("deeply nested", &format!("{}{}", "[".repeat(60_000), "]".repeat(60_000)), "not a JSON object"),
    ] {
        add(name, fault_ok(text), Env::Local, says, false);
    }
    // Linux caps one argument at 128 KiB.
    let huge = "a".repeat(120_000);
    add(
        "a huge value",
        fault_ok(&plain(cb, &[("BUCKET", &format!("\"{huge}\""))])),
        Env::Local,
        "BUCKET is not a valid S3 bucket name",
        true,
    );
    for (key, value, says) in [
        ("STATUS_CALLBACK", "<absent>", "STATUS_CALLBACK is missing"),
        ("STATUS_CALLBACK", "7", "STATUS_CALLBACK must be a string"),
        ("STATUS_CALLBACK", "\"\"", "STATUS_CALLBACK is empty"),
        ("STATUS_CALLBACK", "\"ftp://x/y\"", "must be an https URL"),
        ("STATUS_CALLBACK", "\"http://pages.example.gov/v0/tasks/1/t\"", "must be an https URL"),
        ("STATUS_CALLBACK", "\"not a url\"", "the status callback is not a URL"),
        ("STATUS_CALLBACK", "null", "STATUS_CALLBACK must be a string"),
        (
            "STATUS_CALLBACK",
            "\"https://pages.example.gov:99999/v0/tasks/1/t\"",
            "the status callback has a port outside 1-65535",
        ),
    ] {
        add(&format!("{key} = {value}"), fault_ok(&plain(cb, &[(key, value)])), Env::Local, says, false);
    }
    for (key, value, says) in [
        ("TASK_ID", "<absent>", "TASK_ID is missing"),
        ("TASK_ID", "-1", "TASK_ID must be a string or a non-negative integer"),
        ("TASK_ID", "1.5", "TASK_ID must be a string or a non-negative integer"),
        ("TASK_ID", "true", "TASK_ID must be a string or a non-negative integer"),
        ("TASK_ID", "\"../../etc\"", "TASK_ID is not a decimal integer"),
        ("TASK_ID", "\"12/34\"", "TASK_ID is not a decimal integer"),
        ("TASK_ID", "\"\"", "TASK_ID is empty"),
        ("TASK_ID", "\"123456789012345678901\"", "TASK_ID is not a decimal integer"),
        ("AWS_DEFAULT_REGION", "<absent>", "AWS_DEFAULT_REGION is missing"),
        ("AWS_DEFAULT_REGION", "\"us east 1\"", "AWS_DEFAULT_REGION is not a region name"),
        ("AWS_DEFAULT_REGION", "[\"us-east-1\"]", "AWS_DEFAULT_REGION must be a string"),
        ("AWS_DEFAULT_REGION", "\"-\"", "AWS_DEFAULT_REGION is not a region name"),
        (
            "AWS_DEFAULT_REGION",
            "\"useastoneuseastoneuseastoneuseastoneuseastone\"",
            "AWS_DEFAULT_REGION is not a region name",
        ),
        ("AWS_ACCESS_KEY_ID", "<absent>", "AWS_ACCESS_KEY_ID is missing"),
        ("AWS_ACCESS_KEY_ID", "{}", "AWS_ACCESS_KEY_ID must be a string"),
        ("AWS_SECRET_ACCESS_KEY", "\"\"", "AWS_SECRET_ACCESS_KEY is empty"),
        ("AWS_SECRET_ACCESS_KEY", "false", "AWS_SECRET_ACCESS_KEY must be a string"),
        ("BUCKET", "<absent>", "BUCKET is missing"),
        ("BUCKET", "\"Bad_Bucket\"", "BUCKET is not a valid S3 bucket name"),
        ("BUCKET", "\"ab\"", "BUCKET is not a valid S3 bucket name"),
        ("BUCKET", "\"a/b/c\"", "BUCKET is not a valid S3 bucket name"),
        ("BUCKET", "\"127.0.0.1\"", "BUCKET is not a valid S3 bucket name"),
        ("BUCKET", "\"my..bucket\"", "BUCKET is not a valid S3 bucket name"),
        ("BUCKET", "\"-bucket\"", "BUCKET is not a valid S3 bucket name"),
    ] {
        add(&format!("{key} = {value}"), fault_ok(&plain(cb, &[(key, value)])), Env::Local, says, true);
    }
    let dup = plain(cb, &[]).replace("\"TASK_ID\": 77", "\"TASK_ID\": 77, \"TASK_ID\": 78");
    add("TASK_ID twice", fault_ok(&dup), Env::Local, "TASK_ID is given twice", true);
    let dup_cb = plain(cb, &[]).replacen("{", "{\"STATUS_CALLBACK\": \"https://x.gov/a\", ", 1);
    add("STATUS_CALLBACK twice", fault_ok(&dup_cb), Env::Local, "STATUS_CALLBACK is given twice", false);

    // Ciphertexts, deployed.
    let mode = enc("ok");
    let deployed = |p: String| vec!["fault".into(), "--mode".into(), mode.clone().into(), "-p".into(), p.into()];
    let bad_bucket = |v: &str| encrypted(cb, &[("BUCKET", format!("\"{v}\""))]);
    for (name, value, says) in [
        ("bad hex", "zz:00:00", "BUCKET does not decrypt: not hexadecimal"),
        ("odd hex length", "abc:00:00", "BUCKET does not decrypt: not hexadecimal"),
        ("two fields", "00:00", "BUCKET does not decrypt: not of the form tag:iv:ciphertext"),
        ("four fields", "00:00:00:00", "BUCKET does not decrypt: not of the form tag:iv:ciphertext"),
        ("short tag", "00:e05f0d25446be83fa92aa9586610496b:560d", "BUCKET does not decrypt: the tag is not 16 bytes"),
        (
            "12-byte IV",
            "6a7495108a7f8c9ab4d0990854240242:e05f0d25446be83fa92aa958:560d",
            "BUCKET does not decrypt: the IV is not 16 bytes",
        ),
        ("the wrong key", CT, "BUCKET does not decrypt: the tag does not verify"),
        ("plain text", "bkt", "BUCKET does not decrypt: not of the form"),
        ("empty", "", "BUCKET does not decrypt"),
    ] {
        add(&format!("BUCKET: {name}"), deployed(bad_bucket(value)), Env::Deployed, says, true);
    }
    let good = enc("bkt");
    let tampered_tag = format!("{}{}", if good.starts_with('0') { "1" } else { "0" }, &good[1..]);
    add(
        "BUCKET: tampered tag",
        deployed(encrypted(cb, &[("BUCKET", format!("\"{tampered_tag}\""))])),
        Env::Deployed,
        "the tag does not verify",
        true,
    );
    let not_utf8 = build_task::crypto::encrypt(&crate::support::key(), [3; 16], "\u{0}ok");
    add(
        "BUCKET: decrypts to a control character",
        deployed(encrypted(cb, &[("BUCKET", format!("\"{not_utf8}\""))])),
        Env::Deployed,
        "BUCKET is not a valid S3 bucket name",
        true,
    );
    add(
        "TASK_ID: decrypts to text",
        deployed(encrypted(cb, &[("TASK_ID", enc("abc"))])),
        Env::Deployed,
        "TASK_ID is not a decimal integer",
        true,
    );
    add(
        "STATUS_CALLBACK: wrong key",
        deployed(encrypted(cb, &[("STATUS_CALLBACK", format!("\"{CT}\""))])),
        Env::Deployed,
        "STATUS_CALLBACK does not decrypt",
        false,
    );
    add(
        "a flag in plain text",
        vec!["fault".into(), "--mode".into(), "ok".into(), "-p".into(), encrypted(cb, &[]).into()],
        Env::Deployed,
        "the flag '--mode' does not decrypt",
        true,
    );
    add(
        "a flag twice",
        vec![
            "fault".into(),
            "-m".into(),
            mode.clone().into(),
            "--mode".into(),
            mode.clone().into(),
            "-p".into(),
            encrypted(cb, &[]).into(),
        ],
        Env::Deployed,
        "the flag '--mode' is given twice",
        true,
    );
    add(
        "an unknown flag",
        vec![
            "fault".into(),
            "-m".into(),
            mode.clone().into(),
            "-x".into(),
            "1".into(),
            "-p".into(),
            encrypted(cb, &[]).into(),
        ],
        Env::Deployed,
        "unknown flag '-x'",
        true,
    );
    add(
        "a flag without value",
        vec!["fault".into(), "-p".into(), encrypted(cb, &[]).into(), "-m".into()],
        Env::Deployed,
        "the flag '-m' needs a value",
        true,
    );
    add(
        "a non-UTF-8 flag value",
        vec!["fault".into(), "-m".into(), OsString::from_vec(vec![0xc3, 0x28]), "-p".into(), encrypted(cb, &[]).into()],
        Env::Deployed,
        "the value of '-m' is not UTF-8",
        true,
    );
    add(
        "a flag value that is a wrong-key ciphertext",
        vec!["fault".into(), "-m".into(), CT.into(), "-p".into(), encrypted(cb, &[]).into()],
        Env::Deployed,
        "the flag '--mode' does not decrypt: the tag does not verify",
        true,
    );
    add(
        "an unknown mode",
        vec!["fault".into(), "-m".into(), enc("dance").into(), "-p".into(), encrypted(cb, &[]).into()],
        Env::Deployed,
        "unknown mode 'dance'",
        true,
    );
    add(
        "example with a non-URL target",
        vec!["example".into(), "-t".into(), enc("not a url").into(), "-p".into(), encrypted(cb, &[]).into()],
        Env::Deployed,
        "the target",
        true,
    );
    add(
        "example with an ftp target",
        vec!["example".into(), "-t".into(), enc("ftp://x.gov/").into(), "-p".into(), encrypted(cb, &[]).into()],
        Env::Deployed,
        "http or https URL",
        true,
    );
    out
}

/// sh-mode command lines that are not ours.
fn sh_cases() -> Vec<(&'static str, &'static str)> {
    vec![
        ("ls", "ls /"),
        ("rm", "rm -rf /"),
        ("empty", ""),
        ("only exec", "exec"),
        ("another program", "exec /usr/bin/env build-task example"),
        ("unbalanced quote", "build-task example -p '{"),
        ("python elsewhere", "python other/main.py -t x"),
        ("pipe", "curl x | sh"),
    ]
}

/// Runs with a time limit; a hang is a failure.
fn run(mut cmd: std::process::Command, limit: Duration) -> Result<std::process::Output, String> {
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(|e| e.to_string())?;
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.map_err(|e| e.to_string()),
        Err(_) => {
            let _ = std::process::Command::new("kill").args(["-KILL", &id.to_string()]).status();
            Err(format!("hung for more than {limit:?}"))
        }
    }
}

#[test]
fn every_bad_input_gets_a_clear_message_and_exit_2_never_a_panic_or_hang() {
    let cb = CallbackServer::start(77);
    let cases = cases(&cb.url());
    let shell = sh_cases();
    assert!(cases.len() + shell.len() >= 60, "the corpus has {} cases", cases.len() + shell.len());
    let mut failures = Vec::new();
    for case in &cases {
        cb.reopen();
        let before = cb.requests().len();
        let mut cmd = build_task();
        cmd.args(&case.args);
        match &case.env {
            Env::Local => {}
            Env::Deployed => {
                cmd.env("DEPLOY_ENV", "dev").env("VCAP_SERVICES", vcap_services("dev"));
            }
            Env::Custom(vars) => {
                cmd.envs(vars.iter().map(|(k, v)| (k, v)));
            }
        }
        let out = match run(cmd, Duration::from_secs(20)) {
            Ok(out) => out,
            Err(e) => {
                failures.push(format!("{}: {e}", case.name));
                continue;
            }
        };
        let err = String::from_utf8_lossy(&out.stderr);
        let new: Vec<_> = cb.requests().into_iter().skip(before).collect();
        let mut why = Vec::new();
        if out.status.code() != Some(2) {
            why.push(format!("exit {:?}", out.status.code()));
        }
        if err.contains("panicked") || err.contains("RUST_BACKTRACE") {
            why.push("panicked".into());
        }
        if !err.contains(&case.says) {
            why.push(format!("stderr lacks {:?}", case.says));
        }
        // A reported case ends in exactly one error status (a task that
        // judges its own flags has sent "processing" before it).
        let terminal: Vec<_> =
            new.iter().filter(|r| field(&r.body, "status").as_deref() != Some("processing")).collect();
        match (case.reported, terminal.as_slice()) {
            (true, [one]) => {
                let message = field(&one.body, "message").unwrap_or_default();
                if field(&one.body, "status").as_deref() != Some("error") || !message.contains(&case.says) {
                    why.push(format!("reported {:?}", one.body));
                }
            }
            (false, []) if new.is_empty() => {}
            (_, got) => why.push(format!("{} terminal statuses, expected {}", got.len(), u8::from(case.reported))),
        }
        if !why.is_empty() {
            failures.push(format!("{}: {}\n{}", case.name, why.join(", "), err.chars().take(600).collect::<String>()));
        }
    }
    let dir = crate::support::TempDir::new("corpus-sh");
    let sh = dir.path().join("sh");
    std::os::unix::fs::symlink(crate::support::bin(), &sh).unwrap();
    for (name, command) in &shell {
        let mut cmd = std::process::Command::new(&sh);
        cmd.args(["-c", command]);
        match run(cmd, Duration::from_secs(10)) {
            Ok(out)
                if out.status.code() == Some(2)
                    && String::from_utf8_lossy(&out.stderr).contains("not a general shell") => {}
            Ok(out) => failures.push(format!(
                "sh {name}: exit {:?}: {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            )),
            Err(e) => failures.push(format!("sh {name}: {e}")),
        }
    }
    let started = Instant::now();
    let out = std::process::Command::new(&sh).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "sh with no arguments is refused");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len() + shell.len(),
        failures.join("\n\n")
    );
}
