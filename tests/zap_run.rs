//! The owasp-zap task end to end: the real binary, encrypted flags and
//! params, a stand-in zap-baseline (tests/zap-baseline), the callback server
//! and the upload to s3s-fs, with the uploaded index.json read back.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use miniserde::json::Value;

use crate::support::callback::{CallbackServer, field};
use crate::support::s3::S3Server;
use crate::support::{Params, TempDir, build_task, deployed, enc, stderr};
use crate::zap_report::diff;

const BUCKET: &str = "zap-bucket";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zap").join(name)
}

fn stand_in() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/zap-baseline")
}

/// A deployed run of the task as pages-core starts it, with every flag
/// encrypted, the stand-in scanner in `tmp/wrk`, and the given extra env.
fn deployed_run(task_id: u64, cb: &CallbackServer, s3: &S3Server, tmp: &TempDir, env: &[(&str, &str)]) -> Output {
    let callback = cb.url();
    let params = Params::on_s3s(&callback, task_id, BUCKET);
    let config = std::fs::read_to_string(fixture("config.json")).unwrap();
    let mut cmd: Command = deployed(&s3.endpoint(), tmp.path());
    cmd.args(["owasp-zap", "-t", &enc("https://site.example"), "-b", &enc("77"), "-o", &enc("agency")])
        .args(["-r", &enc("site"), "-c", &enc(&config), "-p", &params.encrypted()])
        .env("BUILD_TASK_ZAP_COMMAND", stand_in())
        .env("BUILD_TASK_ZAP_WRK", tmp.path().join("wrk"))
        .env("LOGLEVEL", "debug");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// A deployed run whose stand-in scanner writes the fixture report and
/// exits with `exit`: S3, the callback and the run's output (None: skipped).
fn scan_with_report(task_id: u64, exit: &str) -> Option<(S3Server, CallbackServer, Output)> {
    let s3 = S3Server::start(BUCKET)?;
    let cb = CallbackServer::start(task_id);
    let tmp = TempDir::new(&format!("zap-exit{exit}"));
    let report = fixture("report.json");
    let env = [("ZAP_STANDIN_REPORT", report.to_str().unwrap()), ("ZAP_STANDIN_EXIT", exit)];
    let out = deployed_run(task_id, &cb, &s3, &tmp, &env);
    Some((s3, cb, out))
}

#[test]
fn a_scan_with_findings_uploads_the_report_and_reports_its_issue_count() {
    let Some(s3) = S3Server::start(BUCKET) else { return };
    let cb = CallbackServer::start(501);
    let tmp = TempDir::new("zap-e2e");
    let report = fixture("report.json");
    // 2: the scan found failures, which -I still counts as a finished scan.
    let out = deployed_run(
        501,
        &cb,
        &s3,
        &tmp,
        &[("ZAP_STANDIN_REPORT", report.to_str().unwrap()), ("ZAP_STANDIN_EXIT", "2")],
    );
    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert_eq!(cb.statuses(), ["processing", "success"]);
    let success = &cb.bodies()[1];
    assert_eq!(field(success, "count").unwrap(), "5");
    assert_eq!(field(success, "message").unwrap(), "null");
    assert_eq!(field(success, "artifact").unwrap(), "_tasks/artifacts/501/");
    assert_eq!(s3.keys(BUCKET), ["_tasks/artifacts/501/index.json"]);

    let uploaded = s3.object(BUCKET, "_tasks/artifacts/501/index.json").unwrap();
    let uploaded: Value = miniserde::json::from_str(std::str::from_utf8(&uploaded).unwrap()).unwrap();
    let expected: Value =
        miniserde::json::from_str(&std::fs::read_to_string(fixture("expected.json")).unwrap()).unwrap();
    let (mut escaping, mut differences) = (Vec::new(), Vec::new());
    diff("uploaded", &uploaded, &expected, &mut escaping, &mut differences);
    assert!(differences.is_empty() && escaping.is_empty(), "{}", differences.join("\n"));

    // The scanner got the decrypted target and the Python task's arguments,
    // and its output went to the debug log.
    let args = std::fs::read_to_string(tmp.path().join("wrk/args.txt")).unwrap();
    assert_eq!(
        args.lines().collect::<Vec<_>>(),
        ["-t", "https://site.example", "-J", "report.json", "-I", "-d", "-T", "5"]
    );
    assert!(log.contains("zap: stand-in zap-baseline: a line on stderr"), "{log}");
}

#[test]
fn a_scanner_exit_code_past_two_is_an_error_that_names_it_and_quotes_the_output() {
    let Some((s3, cb, out)) = scan_with_report(502, "3") else { return };
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(cb.statuses(), ["processing", "error"]);
    let message = field(&cb.bodies()[1], "message").unwrap();
    assert!(message.contains("the ZAP scan failed with exit code 3"), "{message}");
    assert!(message.contains("stand-in zap-baseline: last words before exit 3"), "{message}");
    assert!(message.contains("a line on stderr"), "{message}");
    assert!(s3.keys(BUCKET).is_empty(), "nothing uploaded");
}

#[test]
fn exit_code_one_with_a_report_is_a_scan_with_failures_and_is_uploaded() {
    // 1: a rule the scan's config made a FAIL; -I does not change that.
    let Some((s3, cb, out)) = scan_with_report(511, "1") else { return };
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(cb.statuses(), ["processing", "success"]);
    assert_eq!(field(&cb.bodies()[1], "count").unwrap(), "5");
    assert_eq!(s3.keys(BUCKET), ["_tasks/artifacts/511/index.json"]);
}

#[test]
fn exit_code_one_without_a_report_is_an_error_that_quotes_the_scanner() {
    let Some(s3) = S3Server::start(BUCKET) else { return };
    let cb = CallbackServer::start(512);
    let tmp = TempDir::new("zap-exit1-noreport");
    // What zap-baseline.py does with a HOME that is not there: a traceback, exit 1.
    let out = deployed_run(512, &cb, &s3, &tmp, &[("ZAP_STANDIN_EXIT", "1")]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(cb.statuses(), ["processing", "error"]);
    let message = field(&cb.bodies()[1], "message").unwrap();
    assert!(message.contains("the ZAP scan ended with exit code 1 but wrote no report at "), "{message}");
    assert!(message.contains("stand-in zap-baseline: last words before exit 1"), "{message}");
    assert!(s3.keys(BUCKET).is_empty(), "nothing uploaded");
}

#[test]
fn a_target_with_a_path_reaches_the_scanner_whole() {
    let Some(s3) = S3Server::start(BUCKET) else { return };
    let cb = CallbackServer::start(513);
    let tmp = TempDir::new("zap-path");
    let report = fixture("report.json");
    let callback = cb.url();
    let params = Params::on_s3s(&callback, 513, BUCKET);
    let out = deployed(&s3.endpoint(), tmp.path())
        .args(["owasp-zap", "-t", &enc("https://site.example/docs/guide/?q=1"), "-p", &params.encrypted()])
        .env("BUILD_TASK_ZAP_COMMAND", stand_in())
        .env("BUILD_TASK_ZAP_WRK", tmp.path().join("wrk"))
        .env("ZAP_STANDIN_REPORT", &report)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(cb.statuses(), ["processing", "success"]);
    let args = std::fs::read_to_string(tmp.path().join("wrk/args.txt")).unwrap();
    assert_eq!(args.lines().nth(1), Some("https://site.example/docs/guide/?q=1"));
}

#[test]
fn a_scanner_that_hangs_past_the_time_limit_is_stopped_and_reported() {
    let Some(s3) = S3Server::start(BUCKET) else { return };
    let cb = CallbackServer::start(503);
    let tmp = TempDir::new("zap-hang");
    let started = Instant::now();
    let out = deployed_run(503, &cb, &s3, &tmp, &[("ZAP_STANDIN_SLEEP", "60"), ("BUILD_TASK_ZAP_TIMEOUT", "1")]);
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(cb.statuses(), ["processing", "error"]);
    let message = field(&cb.bodies()[1], "message").unwrap();
    assert!(message.contains("the ZAP scan did not finish") && message.contains("longer than 1 s"), "{message}");
    assert!(message.contains("stand-in zap-baseline: scanning"), "{message}");
    assert!(s3.keys(BUCKET).is_empty(), "nothing uploaded");
}

#[test]
fn a_truncated_report_is_an_error_and_nothing_is_uploaded() {
    let Some(s3) = S3Server::start(BUCKET) else { return };
    let cb = CallbackServer::start(504);
    let tmp = TempDir::new("zap-truncated");
    let full = std::fs::read_to_string(fixture("report.json")).unwrap();
    let truncated = tmp.path().join("truncated.json");
    std::fs::write(&truncated, &full[..full.len() - 40]).unwrap();
    let out = deployed_run(504, &cb, &s3, &tmp, &[("ZAP_STANDIN_REPORT", truncated.to_str().unwrap())]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(cb.statuses(), ["processing", "error"]);
    let message = field(&cb.bodies()[1], "message").unwrap();
    assert!(message.contains("report.json: it is not valid JSON (truncated?)"), "{message}");
    assert!(s3.keys(BUCKET).is_empty(), "nothing uploaded");
}

#[test]
fn a_config_that_is_not_json_fails_before_the_scan_runs() {
    let tmp = TempDir::new("zap-badconfig");
    let out = build_task()
        .args(["owasp-zap", "-t", "https://site.example", "-c", "{rules:", "--output-dir"])
        .arg(tmp.path().join("out"))
        .env("TMPDIR", tmp.path())
        .env("BUILD_TASK_ZAP_COMMAND", stand_in())
        .env("BUILD_TASK_ZAP_WRK", tmp.path().join("wrk"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("the scan config (-c) is not valid JSON"), "{}", stderr(&out));
    assert!(!tmp.path().join("wrk/args.txt").exists(), "the scan never started");
}

#[test]
fn a_time_limit_that_is_not_whole_seconds_fails_before_the_scan_runs() {
    for bad in ["1.5", "0", "soon", "90000"] {
        let tmp = TempDir::new("zap-badlimit");
        let out = build_task()
            .args(["owasp-zap", "-t", "https://site.example", "--output-dir"])
            .arg(tmp.path().join("out"))
            .env("TMPDIR", tmp.path())
            .env("BUILD_TASK_ZAP_COMMAND", stand_in())
            .env("BUILD_TASK_ZAP_WRK", tmp.path().join("wrk"))
            .env("BUILD_TASK_ZAP_TIMEOUT", bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("BUILD_TASK_ZAP_TIMEOUT is not a whole number from 1 to 86400"),
            "{bad}: {}",
            stderr(&out)
        );
        assert!(!tmp.path().join("wrk/args.txt").exists(), "{bad}: the scan never started");
    }
}

#[test]
fn a_local_run_without_a_config_applies_no_rules() {
    let tmp = TempDir::new("zap-local");
    let report = fixture("report.json");
    let out = build_task()
        .args(["owasp-zap", "-t", "https://site.example", "--output-dir"])
        .arg(tmp.path().join("out"))
        .env("TMPDIR", tmp.path())
        .env("BUILD_TASK_ZAP_COMMAND", stand_in())
        .env("BUILD_TASK_ZAP_WRK", tmp.path().join("wrk"))
        .env("ZAP_STANDIN_REPORT", &report)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The original reporter with `{"rules":[]}` counts 7: every alert above
    // informational, one of them split by its pre-ignored instance.
    assert_eq!(field(&crate::support::stdout(&out), "count").unwrap(), "7");
    assert!(tmp.path().join("out/index.json").is_file());
}

#[test]
fn a_cancelled_run_stops_the_whole_scan_and_reports_the_cancel() {
    let Some(s3) = S3Server::start(BUCKET) else { return };
    let cb = CallbackServer::start(505);
    let tmp = TempDir::new("zap-cancel");
    let callback = cb.url();
    let params = Params::on_s3s(&callback, 505, BUCKET);
    let mut child = deployed(&s3.endpoint(), tmp.path())
        .args(["owasp-zap", "-t", &enc("https://site.example"), "-p", &params.encrypted()])
        .env("BUILD_TASK_ZAP_COMMAND", stand_in())
        .env("BUILD_TASK_ZAP_WRK", tmp.path().join("wrk"))
        .env("ZAP_STANDIN_SLEEP", "60")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid_file = tmp.path().join("wrk/pid");
    let deadline = Instant::now() + Duration::from_secs(10);
    let scan_group = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file).ok().and_then(|p| p.trim().parse::<i32>().ok()) {
            break pid;
        }
        assert!(Instant::now() < deadline, "the scan never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!live_members(scan_group).is_empty(), "the scan runs before the cancel");
    // SAFETY: signals our own child process.
    unsafe { libc::kill(child.id().cast_signed(), libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143));
    assert_eq!(cb.statuses(), ["processing", "error"]);
    assert!(field(&cb.bodies()[1], "message").unwrap().contains("cancelled"));
    // The scanner's group, its sleeping child included, is gone.
    assert_eq!(live_members(scan_group), Vec::<String>::new(), "the scan's process group outlived the task");
    assert!(s3.keys(BUCKET).is_empty(), "nothing uploaded");
}

/// The processes of a group that still run (zombies, left to whoever
/// adopted them, do not count), from /proc.
fn live_members(group: i32) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
        .filter(|stat| {
            // pid (comm) state ppid pgrp …; comm may hold spaces, so split after ')'.
            let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
            fields.len() > 2 && fields[0] != "Z" && fields[2] == group.to_string()
        })
        .collect()
}
