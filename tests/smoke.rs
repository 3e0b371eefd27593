//! The pipeline's smoke tool (ci/smoke), built as the pipeline builds it
//! (ci/smoke/build.sh: a static binary), serving the fixture site
//! (ci/smoke/site) to real local runs of build-task.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use std::{fs, thread};

use crate::support::{TempDir, bin, stderr};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// build-task-smoke from ci/smoke/build.sh, built once per test run under
/// the tests' own target dir.
pub(crate) fn smoke_bin() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("smoke");
            let out = Command::new(Path::new(REPO).join("ci/smoke/build.sh"))
                .arg(dir.join("bin"))
                .env("CARGO_TARGET_DIR", dir.join("target"))
                .output()
                .expect("ci/smoke/build.sh runs");
            assert!(out.status.success(), "ci/smoke/build.sh failed:\n{}", stderr(&out));
            dir.join("bin/build-task-smoke")
        })
        .clone()
}

/// The smoke tool with a clean environment (PATH kept).
fn smoke() -> Command {
    let mut cmd = Command::new(smoke_bin());
    cmd.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

fn site() -> PathBuf {
    Path::new(REPO).join("ci/smoke/site")
}

/// `--site <fixture> --output-dir <out>`, then `extra`, then `-- build-task example …`.
fn example_run(out: &Path, extra: &[&str]) -> Output {
    smoke()
        .arg("--site")
        .arg(site())
        .arg("--output-dir")
        .arg(out)
        .args(extra)
        .arg("--")
        .arg(bin())
        .args(["example", "--target", "{site}", "--output-dir", "{out}"])
        .output()
        .expect("build-task-smoke runs")
}

#[test]
fn the_smoke_tool_serves_the_fixture_site_to_a_real_example_run_and_finds_its_index_json() {
    let tmp = TempDir::new("smoke-example");
    let out = example_run(&tmp.path().join("out"), &["--expect", "index.json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(tmp.path().join("out/index.json")).expect("index.json"))
            .expect("index.json is JSON");
    assert!(report["url"].as_str().is_some_and(|u| u.starts_with("http://127.0.0.1:")), "{report}");
    assert_eq!(report["status"], 200);
    // The fixture server sends none of the security headers example checks.
    assert_eq!(report["missingHeaders"].as_array().map(Vec::len), Some(6));
    assert!(stderr(&out).contains("build-task-smoke: GET / 200"), "{}", stderr(&out));
    assert!(stderr(&out).contains("build-task-smoke: passed"), "{}", stderr(&out));
    // build-task's own result line is on stdout, untouched.
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"count\":6"));
}

#[test]
fn the_smoke_tool_fails_naming_an_expected_file_the_run_did_not_write() {
    let tmp = TempDir::new("smoke-expect");
    let out = example_run(&tmp.path().join("out"), &["--expect", "index.json", "--expect", "report.html"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let last = stderr(&out).lines().last().unwrap_or_default().to_string();
    assert!(last.starts_with("build-task-smoke: `"), "{last}");
    assert!(last.contains(" example --target http://127.0.0.1:"), "{last}");
    assert!(
        last.ends_with(&format!("` succeeded but did not write report.html in {}", tmp.path().join("out").display()))
    );
}

#[test]
fn the_smoke_tool_fails_naming_the_command_when_it_exits_non_zero() {
    let tmp = TempDir::new("smoke-fails");
    // example without its required --target: build-task exits 2.
    let out = smoke()
        .arg("--site")
        .arg(site())
        .arg("--output-dir")
        .arg(tmp.path())
        .args(["--expect", "index.json", "--"])
        .arg(bin())
        .args(["example", "--output-dir", "{out}"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let expected = format!(
        "build-task-smoke: `{} example --output-dir {}` failed (exit status: 2)",
        bin().display(),
        tmp.path().display()
    );
    assert_eq!(stderr(&out).lines().last(), Some(expected.as_str()), "{}", stderr(&out));
}

/// A stand-in for build-task: logs its arguments, exits with $STAND_IN_EXIT.
fn stand_in(dir: &Path) -> (PathBuf, PathBuf) {
    let log = dir.join("calls.log");
    let script = dir.join("build-task");
    fs::write(&script, format!("#!/bin/sh\necho \"$*\" >> '{}'\nexit ${{STAND_IN_EXIT:-0}}\n", log.display())).unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    (script, log)
}

#[test]
fn the_smoke_tool_runs_doctor_first_and_stops_when_it_fails() {
    let tmp = TempDir::new("smoke-doctor");
    let (doctor, log) = stand_in(tmp.path());
    let run = |exit: &str| {
        smoke()
            .env("STAND_IN_EXIT", exit)
            .arg("--site")
            .arg(site())
            .arg("--doctor")
            .arg(&doctor)
            .arg("--")
            .arg(&doctor)
            .args(["example", "--target", "{site}"])
            .output()
            .unwrap()
    };
    let out = run("0");
    assert!(out.status.success(), "{}", stderr(&out));
    let calls = fs::read_to_string(&log).unwrap();
    let calls: Vec<&str> = calls.lines().collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0], "doctor");
    assert!(calls[1].starts_with("example --target http://127.0.0.1:") && calls[1].ends_with('/'), "{calls:?}");

    fs::remove_file(&log).unwrap();
    let out = run("1");
    assert_eq!(out.status.code(), Some(1));
    let expected = format!("build-task-smoke: `{} doctor` failed (exit status: 1)", doctor.display());
    assert_eq!(stderr(&out).lines().last(), Some(expected.as_str()), "{}", stderr(&out));
    assert_eq!(fs::read_to_string(&log).unwrap(), "doctor\n", "the run does not start after a failed doctor");
}

#[test]
fn the_smoke_tool_stops_a_command_that_outlives_its_time_limit() {
    let started = Instant::now();
    let out =
        smoke().arg("--site").arg(site()).args(["--timeout", "1", "--", "sh", "-c", "exec sleep 60"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    assert_eq!(
        stderr(&out).lines().last(),
        Some("build-task-smoke: `sh -c exec sleep 60` did not finish within the time limit (1 s), so it was stopped")
    );
}

#[test]
fn the_smoke_tool_refuses_a_bad_command_line_or_a_used_output_directory() {
    let tmp = TempDir::new("smoke-usage");
    for (args, expected) in [
        (vec!["--", "true"], "build-task-smoke: --site DIR is required (see --help)"),
        (vec!["--site", "."], "build-task-smoke: no command after -- (see --help)"),
        (vec!["--site", ".", "--timeout", "soon", "--", "true"], "--timeout 'soon' is not a number of seconds"),
        (vec!["--site", "nowhere", "--", "true"], "build-task-smoke: --site nowhere: not a directory"),
    ] {
        let out = smoke().current_dir(tmp.path()).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(expected), "{args:?}: {}", stderr(&out));
    }
    // A file left in the output directory would pass --expect on its own.
    fs::write(tmp.path().join("index.json"), "{}").unwrap();
    let out = example_run(tmp.path(), &["--expect", "index.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(&format!("the output directory {} is not empty", tmp.path().display())));
}

/// One request on its own connection; the status code, headers and body.
fn get(port: u16, request_line: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(stream, "{request_line}\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status code");
    (status, head.to_string(), body.to_string())
}

#[test]
fn the_smoke_server_serves_only_files_under_the_site_and_refuses_path_traversal() {
    let tmp = TempDir::new("smoke-serve");
    let root = tmp.path().join("site");
    fs::create_dir_all(root.join("docs")).unwrap();
    fs::write(root.join("index.html"), "<h1>home</h1>").unwrap();
    fs::write(root.join("docs/index.html"), "<h1>docs</h1>").unwrap();
    fs::write(root.join("style.css"), "body {}").unwrap();
    fs::write(tmp.path().join("secret.txt"), "outside the site").unwrap();
    std::os::unix::fs::symlink(tmp.path().join("secret.txt"), root.join("link.txt")).unwrap();

    // The command writes the site's URL to a file and waits for a line on
    // stdin, so the server stays up while the requests below are made.
    let url_file = tmp.path().join("url");
    let mut child = smoke()
        .arg("--site")
        .arg(&root)
        .args(["--", "sh", "-c", "printf %s \"$1\" > \"$2\"; read line", "sh", "{site}"])
        .arg(&url_file)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let url = loop {
        match fs::read_to_string(&url_file) {
            Ok(url) if url.ends_with('/') => break url,
            _ if Instant::now() > deadline => panic!("the command never got {{site}}"),
            _ => thread::sleep(Duration::from_millis(20)),
        }
    };
    let port: u16 = url.trim_start_matches("http://127.0.0.1:").trim_end_matches('/').parse().expect("a port");

    let (status, head, body) = get(port, "GET / HTTP/1.1");
    assert_eq!((status, body.as_str()), (200, "<h1>home</h1>"));
    assert!(head.contains("Content-Type: text/html; charset=utf-8"), "{head}");
    let (status, head, _) = get(port, "GET /style.css?v=1 HTTP/1.1");
    assert_eq!(status, 200);
    assert!(head.contains("Content-Type: text/css"), "{head}");
    let (status, head, _) = get(port, "GET /docs HTTP/1.1");
    assert_eq!(status, 301);
    assert!(head.contains("Location: /docs/"), "{head}");
    assert_eq!(get(port, "GET /docs/ HTTP/1.1").2, "<h1>docs</h1>");
    let (status, _, body) = get(port, "HEAD /index.html HTTP/1.1");
    assert_eq!((status, body.as_str()), (200, ""));
    for target in [
        "/../secret.txt",
        "/docs/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/docs%2f..%2f..%2fsecret.txt",
        "/..%5csecret.txt",
    ] {
        let (status, _, body) = get(port, &format!("GET {target} HTTP/1.1"));
        assert_eq!(status, 400, "{target}");
        assert!(!body.contains("outside"), "{target}");
    }
    for target in ["/missing.html", "/link.txt", "/docs/missing/"] {
        assert_eq!(get(port, &format!("GET {target} HTTP/1.1")).0, 404, "{target}");
    }
    assert_eq!(get(port, "POST / HTTP/1.1").0, 405);
    assert_eq!(get(port, "GET relative HTTP/1.1").0, 400);

    child.stdin.take().unwrap().write_all(b"done\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("build-task-smoke: GET /../secret.txt 400"), "{}", stderr(&out));
}

#[test]
fn the_smoke_tool_built_for_the_pipeline_needs_no_loader_or_library_from_the_image() {
    let elf = fs::read(smoke_bin()).unwrap();
    assert_eq!(&elf[..5], b"\x7fELF\x02", "a 64-bit ELF file");
    let u16_at = |at: usize| u16::from_le_bytes(elf[at..at + 2].try_into().unwrap()) as usize;
    let u64_at = |at: usize| usize::try_from(u64::from_le_bytes(elf[at..at + 8].try_into().unwrap())).unwrap();
    // The program headers (e_phoff, e_phentsize, e_phnum), and each one's
    // p_type, p_offset and p_filesz.
    let (phoff, size, count) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    let headers: Vec<(u32, usize, usize)> = (0..count)
        .map(|i| phoff + i * size)
        .map(|at| (u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()), u64_at(at + 8), u64_at(at + 32)))
        .collect();
    const PT_DYNAMIC: u32 = 2;
    const PT_INTERP: u32 = 3;
    const DT_NEEDED: usize = 1;
    assert!(!headers.iter().any(|h| h.0 == PT_INTERP), "the binary names a dynamic loader");
    // A static-pie keeps a dynamic section for its own relocations; it must need no library.
    for &(_, offset, len) in headers.iter().filter(|h| h.0 == PT_DYNAMIC) {
        let needed = (offset..offset + len).step_by(16).filter(|&at| u64_at(at) == DT_NEEDED).count();
        assert_eq!(needed, 0, "the binary needs {needed} shared libraries");
    }
}

/// The planted problems of the fixture site are what a11y finds there.
#[cfg(feature = "a11y")]
#[test]
fn the_fixture_site_gives_a_real_a11y_run_its_planted_violations() {
    if !crate::support::have_tool("chromium-headless-shell") {
        return;
    }
    let Some(axe) = crate::support::axe::axe_js() else { return };
    let tmp = TempDir::new("smoke-a11y");
    let out = smoke()
        .env("BUILD_TASK_A11Y_AXE_JS", &axe)
        .env("TMPDIR", tmp.path())
        .arg("--site")
        .arg(site())
        .arg("--output-dir")
        .arg(tmp.path().join("out"))
        .args(["--expect", "index.json", "--timeout", "300", "--"])
        .arg(bin())
        .args(["a11y", "--target", "{site}", "--output-dir", "{out}"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(tmp.path().join("out/index.json")).unwrap()).unwrap();
    let rules: Vec<&str> =
        report["violatedRules"].as_array().unwrap().iter().filter_map(|r| r["id"].as_str()).collect();
    for planted in ["image-alt", "label", "color-contrast"] {
        assert!(rules.contains(&planted), "{planted} not among {rules:?}");
    }
}
