//! `build-task doctor` on the host: each task's checks pass with the real
//! tools and name what is missing or wrong. (The command-form checks need
//! an image; tests/image.rs and tests/debian_images.rs run doctor in them.)

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::axe::axe_js;
use crate::support::callback::{CallbackServer, field};
use crate::support::{Params, TempDir, build_task, enc, have_tool, stdout, vcap_services};

fn script(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

fn line<'a>(report: &'a str, start: &str) -> &'a str {
    report.lines().find(|l| l.starts_with(start)).unwrap_or_else(|| panic!("no line {start:?} in\n{report}"))
}

/// `build-task doctor TASK` with `env`: its exit code and report.
fn doctor(task: &str, env: &[(&str, &OsStr)]) -> (Option<i32>, String) {
    let out = build_task().args(["doctor", task]).envs(env.iter().copied()).output().unwrap();
    (out.status.code(), stdout(&out))
}

#[test]
fn doctor_passes_the_real_browser_and_axe_core_and_fails_the_rest_by_name() {
    if !have_tool("chromium-headless-shell") {
        return;
    }
    let Some(axe) = axe_js() else { return };
    let tmp = TempDir::new("doctor-a11y");
    let (_, report) = doctor("a11y", &[("TMPDIR", tmp.path().as_ref()), ("BUILD_TASK_A11Y_AXE_JS", axe.as_ref())]);
    assert!(line(&report, "ok    Chromium: ").starts_with("ok    Chromium: Chromium 1"), "{report}");
    assert!(!report.contains("chromedriver"), "no driver to check: {report}");
    assert!(line(&report, "ok    axe-core: ").contains("axe-core 4.13.0 at "), "{report}");
    assert_eq!(line(&report, "ok    TMPDIR: "), format!("ok    TMPDIR: {} is writable", tmp.path().display()));

    // An axe.min.js that is not the pinned one, a browser that is not there.
    let fake_axe = tmp.path().join("axe.min.js");
    std::fs::write(&fake_axe, "window.axe = {};\n").unwrap();
    let (code, report) = doctor(
        "a11y",
        &[
            ("TMPDIR", tmp.path().as_ref()),
            ("BUILD_TASK_A11Y_AXE_JS", fake_axe.as_ref()),
            ("BUILD_TASK_A11Y_CHROMIUM", OsStr::new("/nonexistent/chromium")),
        ],
    );
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(
        line(&report, "FAIL  Chromium: "),
        "FAIL  Chromium: not at /nonexistent/chromium (set BUILD_TASK_A11Y_CHROMIUM)"
    );
    assert!(line(&report, "FAIL  axe-core: ").contains("is not axe-core 4.13.0's axe.min.js (SHA-256 "), "{report}");
    let summary = report.lines().last().unwrap();
    assert!(summary.starts_with("doctor: ") && summary.contains(" checks failed for a11y: "), "{summary}");
    assert!(summary.contains("Chromium") && summary.contains("axe-core"), "{summary}");

    // A browser that cannot say its version.
    let browser = script(tmp.path(), "chromium", "#!/bin/sh\necho 'no version here' >&2\nexit 3\n");
    let (code, report) =
        doctor("a11y", &[("BUILD_TASK_A11Y_AXE_JS", axe.as_ref()), ("BUILD_TASK_A11Y_CHROMIUM", browser.as_ref())]);
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(
        line(&report, "FAIL  Chromium: "),
        format!("FAIL  Chromium: `{browser} --version` failed (exit status: 3)")
    );
    assert!(line(&report, "ok    axe-core: ").contains("axe-core 4.13.0 at "), "{report}");
}

#[test]
fn doctor_checks_what_zap_baseline_needs_and_names_each_thing_missing() {
    let tmp = TempDir::new("doctor-zap");
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let good = script(tmp.path(), "zap-baseline.py", "#!/usr/bin/env sh\nexit 0\n");
    script(tmp.path(), "zap-x.sh", "#!/bin/sh\nexit 0\n");
    let (code, report) = doctor(
        "owasp-zap",
        &[
            ("BUILD_TASK_ZAP_COMMAND", good.as_ref()),
            ("BUILD_TASK_ZAP_WRK", tmp.path().join("wrk").as_ref()),
            ("HOME", home.as_ref()),
            ("IS_CONTAINERIZED", OsStr::new("true")),
        ],
    );
    // The command forms need an image (tests/debian_images.rs); every task check passes.
    assert_eq!(code, Some(1), "{report}");
    assert!(report.lines().last().unwrap().ends_with("checks failed for owasp-zap: command `exec build-task owasp-zap …`, command `python build-task/main.py …`, command `zap/run_pages_task.py …`"), "{report}");
    assert!(line(&report, "ok    zap-baseline: ").ends_with("/sh"), "{report}");
    assert!(!report.contains("Python packages"), "a shell script needs no Python packages: {report}");
    assert_eq!(
        line(&report, "ok    ZAP launcher: "),
        format!("ok    ZAP launcher: {} is executable", tmp.path().join("zap-x.sh").display())
    );
    assert_eq!(line(&report, "ok    HOME: "), format!("ok    HOME: {} is writable", home.display()));
    assert_eq!(line(&report, "ok    container: "), "ok    container: IS_CONTAINERIZED=true");
    assert_eq!(
        line(&report, "ok    ZAP work directory: "),
        format!("ok    ZAP work directory: {} is writable", tmp.path().join("wrk").display())
    );

    // A Python script whose interpreter lacks zapv2 (this host's python3 has no
    // ZAP client), no launcher beside it, HOME gone, not in a container.
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let python = script(&other, "zap-baseline.py", "#!/usr/bin/env python3\n");
    let (code, report) = doctor(
        "owasp-zap",
        &[
            ("BUILD_TASK_ZAP_COMMAND", python.as_ref()),
            ("BUILD_TASK_ZAP_WRK", tmp.path().join("wrk").as_ref()),
            ("HOME", tmp.path().join("no-home").as_ref()),
            ("IS_CONTAINERIZED", OsStr::new("false")),
        ],
    );
    assert_eq!(code, Some(1), "{report}");
    let packages = line(&report, "FAIL  ZAP's Python packages: ");
    assert!(packages.contains(" cannot import zapv2 (No module named 'zapv2')"), "{report}");
    assert!(!packages.contains("yaml ("), "PyYAML is this host's: {report}");
    assert_eq!(
        line(&report, "FAIL  ZAP launcher: "),
        format!(
            "FAIL  ZAP launcher: {}: No such file or directory (os error 2): zap-baseline.py starts ZAP with it",
            other.join("zap-x.sh").display()
        )
    );
    assert!(line(&report, "FAIL  HOME: ").contains("no-home"), "{report}");
    if !Path::new("/.dockerenv").exists() && !Path::new("/run/.containerenv").exists() {
        assert!(line(&report, "FAIL  container: ").contains("would try to start ZAP with docker and exit 3"));
    }

    let bad = script(tmp.path(), "no-python.py", "#!/usr/bin/env python-not-here\n");
    let (code, report) = doctor(
        "owasp-zap",
        &[("BUILD_TASK_ZAP_COMMAND", bad.as_ref()), ("BUILD_TASK_ZAP_WRK", OsStr::new("/proc/build-task-wrk"))],
    );
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(
        line(&report, "FAIL  zap-baseline: "),
        format!("FAIL  zap-baseline: {bad}'s interpreter `/usr/bin/env python-not-here` is not in the image")
    );
    assert!(line(&report, "FAIL  ZAP work directory: ").contains("(set BUILD_TASK_ZAP_WRK)"), "{report}");
}

#[test]
fn a_mistyped_a11y_setting_is_an_error_naming_it_not_a_silent_default() {
    let out = build_task()
        .args(["a11y", "-t", "https://example.gov/", "--output-dir", "/nonexistent/out"])
        .env("BUILD_TASK_A11Y_PAGE_TIMEOUT_SECS", "9o")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("BUILD_TASK_A11Y_PAGE_TIMEOUT_SECS is not a whole number from 1 to 3600"), "{said}");
    assert!(!said.contains("9o"), "the value is not echoed: {said}");
    let out = build_task().args(["doctor", "a11y"]).env("BUILD_TASK_A11Y_MAX_PAGES", "lots").output().unwrap();
    let report = stdout(&out);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        line(&report, "FAIL  a11y settings: "),
        "FAIL  a11y settings: BUILD_TASK_A11Y_MAX_PAGES is not a whole number from 1 to 100000"
    );
}

#[test]
fn doctor_takes_at_most_one_task_name() {
    let out = build_task().args(["doctor", "example", "extra"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("doctor takes at most one task name"));
    let out = build_task().args(["doctor", "no-such-task"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_run_with_build_task_doctor_set_reports_the_failed_checks_as_its_error() {
    let cb = CallbackServer::start(4242);
    let callback = cb.url();
    let params = Params::on_s3s(&callback, 4242, "doctor-bucket");
    let tmp = TempDir::new("doctor-run");
    let out = build_task()
        .args(["a11y", "-t", &enc("https://example.gov/"), "-p", &params.encrypted()])
        .env("DEPLOY_ENV", "dev")
        .env("VCAP_SERVICES", vcap_services("dev"))
        .env("TMPDIR", tmp.path())
        .env("BUILD_TASK_DOCTOR", "true")
        .env("BUILD_TASK_A11Y_CHROMIUM", "/nonexistent/chromium")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(cb.statuses(), ["processing", "error"]);
    let message = field(&cb.bodies()[1], "message").unwrap();
    assert!(message.starts_with("the image lacks what the task needs: "), "{message}");
    assert!(message.contains("Chromium"), "{message}");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("doctor: FAIL  Chromium: not at /nonexistent/chromium"), "{log}");
}

#[test]
fn a_ca_file_larger_than_any_bundle_is_not_read_and_doctor_says_so() {
    // /dev/zero never ends: read whole, it would take all the memory there is.
    let out = build_task().args(["doctor", "example"]).env("SSL_CERT_FILE", "/dev/zero").output().unwrap();
    let report = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        line(&report, "FAIL  CA roots: ").contains("SSL_CERT_FILE set, but no certificate could be read"),
        "{report}"
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("SSL_CERT_FILE: /dev/zero is larger than 4 MiB, more than any CA bundle"), "{said}");
}
