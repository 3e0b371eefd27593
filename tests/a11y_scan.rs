//! The a11y scan in Debian's chromium-headless-shell, and the whole a11y
//! task end to end: crawl, scan, report, callback and S3.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use build_task::cancel::Cancel;
use build_task::fence::Fence;
use build_task::tasks::a11y::scan::{self, Config, Summary};
use serde_json::Value;

use crate::support::axe::{FIXTURE_SITE_PAGES, axe_js};
use crate::support::callback::{CallbackServer, field};
use crate::support::net::PublicNet;
use crate::support::s3::S3Server;
use crate::support::web::{Reply, WebServer};
use crate::support::{Params, TempDir, build_task, deployed, enc, have_tool, shared_fixtures, stderr, vcap_services};

/// chromium-headless-shell and axe-core, or None (skip) where they are missing.
pub(crate) fn tools() -> Option<PathBuf> {
    if !have_tool("chromium-headless-shell") {
        return None;
    }
    axe_js()
}

/// A scan's config whose browser may reach the loopback origins of `sites`.
pub(crate) fn config(axe: PathBuf, scratch: &Path, sites: &[&str]) -> Config {
    Config {
        chromium: "/usr/bin/chromium-headless-shell".into(),
        axe_js: axe,
        user_agent: "build-task-tests/1.0".into(),
        page_load_timeout: Duration::from_secs(30),
        script_timeout: Duration::from_secs(60),
        scratch: scratch.to_path_buf(),
        temp_root: std::env::temp_dir(),
        deadline: None,
        page_memory_mib: None,
        fence: Fence::with_loopback(sites).expect("the test sites are on loopback"),
    }
}

fn run_scan(cfg: &Config, urls: &[String], results: &Path) -> Summary {
    scan::scan(&Cancel::new(), cfg, urls, results).expect("the scan runs")
}

/// The results files in `dir` by name, parsed.
pub(crate) fn results(dir: &Path) -> BTreeMap<String, Value> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).unwrap();
            (name, serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        })
        .collect()
}

fn bad_page() -> Reply {
    Reply::html("<!doctype html><html><head></head><body><img src=x.png><a href=/></a></body></html>")
}

#[test]
fn a_page_that_cannot_load_writes_the_error_marker_and_the_scan_goes_on() {
    let Some(axe) = tools() else { return };
    let tmp = TempDir::new("a11y-marker");
    let site = WebServer::start(0, |_| bad_page()).unwrap();
    let closed = WebServer::start(0, |_| bad_page()).unwrap();
    let closed_url = closed.url("/gone.html");
    drop(closed);
    let urls = vec![closed_url.clone(), site.url("/")];
    let cfg = config(axe, tmp.path(), &[&site.url("/"), &closed_url]);
    let summary = run_scan(&cfg, &urls, &tmp.path().join("results"));
    assert_eq!(summary, Summary { scanned: 1, failed: 1, browsers: 1, not_scanned: vec![] });
    let files = results(&tmp.path().join("results"));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("results/0")).unwrap(),
        format!("[{{\"url\": \"{closed_url}\", \"error\": true}}]")
    );
    let (name, result) = files.iter().find(|(n, _)| n.starts_with("axe-results-")).expect("a results file");
    assert!(name.ends_with(".json"));
    let r = &result[0];
    assert_eq!(r["url"], site.url("/"));
    let ids: Vec<&str> = r["violations"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap()).collect();
    for id in ["html-has-lang", "image-alt", "link-name", "document-title"] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    assert_eq!(r["testEnvironment"]["userAgent"], "build-task-tests/1.0");
}

#[test]
fn a_crashed_page_fails_alone_and_the_next_page_is_scanned() {
    let Some(axe) = tools() else { return };
    let tmp = TempDir::new("a11y-crash");
    let site = WebServer::start(0, |_| bad_page()).unwrap();
    // chrome://crash takes the page's renderer down; the browser lives on.
    let urls = vec![site.url("/"), "chrome://crash".to_owned(), site.url("/again.html")];
    let summary = run_scan(&config(axe, tmp.path(), &[&site.url("/")]), &urls, &tmp.path().join("results"));
    assert_eq!(summary, Summary { scanned: 2, failed: 1, browsers: 1, not_scanned: vec![] });
    let files = results(&tmp.path().join("results"));
    assert_eq!(files["1"][0]["url"], "chrome://crash");
    let urls: Vec<&str> = files.values().filter_map(|v| v[0]["url"].as_str()).collect();
    assert!(urls.contains(&site.url("/again.html").as_str()), "{urls:?}");
}

#[test]
fn a_browser_that_dies_is_replaced_and_its_page_tried_again_once() {
    let Some(axe) = tools() else { return };
    let tmp = TempDir::new("a11y-browser-dies");
    let profile = tmp.path().join("chromium-1/profile").display().to_string();
    let killed = std::sync::atomic::AtomicBool::new(false);
    // The first request for /kill takes the first browser's main process
    // down while it loads that page; the page is then tried again.
    let site = WebServer::start(0, move |path| {
        if path == "/kill" && !killed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            for pid in browser_pids(&profile) {
                // SAFETY: kill only sends a signal to a process id read from /proc.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        bad_page()
    })
    .unwrap();
    let urls = vec![site.url("/"), site.url("/kill"), site.url("/again.html")];
    let summary = run_scan(&config(axe, tmp.path(), &[&site.url("/")]), &urls, &tmp.path().join("results"));
    assert_eq!(summary, Summary { scanned: 3, failed: 0, browsers: 2, not_scanned: vec![] });
    let files = results(&tmp.path().join("results"));
    let urls: Vec<&str> = files.values().filter_map(|v| v[0]["url"].as_str()).collect();
    assert!(urls.contains(&site.url("/kill").as_str()), "{urls:?}");
}

/// The browser processes (not its helpers) with this profile directory.
fn browser_pids(profile: &str) -> Vec<i32> {
    let flag = format!("--user-data-dir={profile}");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<i32>().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let args: Vec<String> =
                cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
            (args.contains(&flag) && !args.iter().any(|a| a.starts_with("--type="))).then_some(pid)
        })
        .collect()
}

/// The fixture's results, by page URL.
fn fixture_results(fixtures: &Path) -> BTreeMap<String, Value> {
    results(&fixtures.join("axe/results"))
        .into_values()
        .filter(|v| v[0].get("error").is_none())
        .map(|v| (v[0]["url"].as_str().unwrap().to_owned(), v[0].clone()))
        .collect()
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
}

/// The whole task, as pages-core starts it, on the fixture site.
///
/// The scan's results files are checked first (they are the scan's whole
/// output), then the artifact in S3 and the count in the success status.
/// The run is deployed, so the site is at a PublicNet's public-looking
/// address, on the recorded results' port.
#[test]
fn the_task_scans_the_fixture_site_like_the_axe_cli_and_reports_through_callback_and_s3() {
    let Some(axe) = tools() else { return };
    let Some(fixtures) = shared_fixtures() else { return };
    let Some(net) = PublicNet::new() else { return };
    net.enter(|| {
        let Some(s3) = S3Server::start("a11y-bucket") else { return };
        let site_dir = fixtures.join("axe/site");
        // The namespace is the test's own, so the recorded port is free.
        let site = WebServer::directory_on(PublicNet::SITE_IP, 8723, &site_dir).unwrap();
        let cb = CallbackServer::start(77);
        let tmp = TempDir::new("a11y-e2e");
        let results_dir = tmp.path().join("results");
        let scratch = tmp.path().join("tmp");
        std::fs::create_dir_all(&scratch).unwrap();
        let callback = cb.url();
        let params = Params::on_s3s(&callback, 77, "a11y-bucket");
        let target = site.url("");
        let out = deployed(&s3.endpoint(), Path::new(&scratch))
            .args(["a11y", "-t", &enc(&target), "-b", &enc("1"), "-o", &enc("owner"), "-r", &enc("repo")])
            .args(["-c", &enc(r#"{"runDay":15,"rules":[]}"#), "-p", &params.encrypted()])
            .env("BUILD_TASK_A11Y_AXE_JS", &axe)
            .env("BUILD_TASK_A11Y_RESULTS_DIR", &results_dir)
            .output()
            .unwrap();
        let log = stderr(&out);
        // The recorded results name the site by the origin it had then.
        let as_recorded =
            |v: &Value| -> Value { serde_json::from_str(&v.to_string().replace(&target, RECORDED_ORIGIN)).unwrap() };

        // 1. The scan: one results file per crawled page, shaped as the CLI's.
        let ours = results(&results_dir);
        let recorded = fixture_results(&fixtures);
        let sample = recorded.values().next().unwrap();
        let crawled = FIXTURE_SITE_PAGES;
        assert_eq!(ours.len(), crawled.len(), "{:?}\n{log}", ours.keys());
        let mut seen = Vec::new();
        let mut violated = std::collections::BTreeSet::new();
        for (name, file) in &ours {
            assert!(name.starts_with("axe-results-") && name.ends_with(".json"), "{name}");
            let text = std::fs::read_to_string(results_dir.join(name)).unwrap();
            assert!(
                text.starts_with("[\n  {\n    \"testEngine\": {") && text.ends_with("}\n]"),
                "pretty-printed as the CLI did"
            );
            let r = &file.as_array().unwrap()[..];
            assert_eq!(r.len(), 1);
            let r = &r[0];
            assert_eq!(keys(r), keys(sample), "keys in the CLI's order");
            for same in ["testEngine", "testRunner", "toolOptions"] {
                assert_eq!(r[same], sample[same], "{same}");
            }
            assert_eq!(r["testEnvironment"]["userAgent"], "build-task-tests/1.0");
            let url = r["url"].as_str().unwrap();
            let path = url.strip_prefix(&target).unwrap();
            seen.push(path.to_owned());
            violated.extend(ids(&r["violations"]));
            // index.html is the home page under its other name.
            let page =
                if path == "/index.html" { format!("{RECORDED_ORIGIN}/") } else { format!("{RECORDED_ORIGIN}{path}") };
            let Some(want) = recorded.get(&page) else { panic!("no recorded result for {page}") };
            assert_eq!(as_recorded(&r["violations"]), want["violations"], "violations on {url}");
            for part in ["passes", "incomplete", "inapplicable"] {
                assert_eq!(ids(&r[part]), ids(&want[part]), "{part} on {url}");
            }
        }
        seen.sort();
        let mut crawled: Vec<String> = crawled.iter().map(|s| s.to_string()).collect();
        crawled.sort();
        assert_eq!(seen, crawled);
        let left: Vec<_> = std::fs::read_dir(&scratch).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "the run's scratch space is removed: {left:?}");

        // 2. The report, the upload and the status.
        let statuses = cb.statuses();
        let last = cb.bodies().last().cloned().unwrap_or_default();
        assert_eq!(statuses, ["processing", "success"], "{log}");
        assert_eq!(out.status.code(), Some(0), "{log}");
        assert_eq!(field(&last, "artifact").unwrap(), "_tasks/artifacts/77/");
        // No rule is ignored, so the count is every rule violated on some page.
        assert_eq!(field(&last, "count").unwrap(), violated.len().to_string());
        let index = s3.object("a11y-bucket", "_tasks/artifacts/77/index.json").expect("index.json uploaded");
        let index: Value = serde_json::from_slice(&index).unwrap();
        assert_eq!(index["baseurl"], target.as_str());
        assert_eq!(index["totalPageCount"], ours.len());
        let rules: Vec<String> = ids(&index["violatedRules"]);
        assert_eq!(rules.iter().cloned().collect::<std::collections::BTreeSet<_>>(), violated);
        for name in ours.keys() {
            let key = format!("_tasks/artifacts/77/{name}");
            assert!(s3.object("a11y-bucket", &key).is_some(), "{key} uploaded");
        }
    })
}

/// Runs the deployed task against `target` with `vcap`; the callback's bodies.
/// Called inside a PublicNet, whose 127.0.0.1 the callback server takes.
fn deployed_run(target: &str, vcap: &str) -> (std::process::Output, CallbackServer) {
    deployed_run_with(target, vcap, &[])
}

/// [`deployed_run`] with some of the scan's tools set in `tools`.
fn deployed_run_with(target: &str, vcap: &str, tools: &[(&str, &Path)]) -> (std::process::Output, CallbackServer) {
    let cb = CallbackServer::start(78);
    let callback = cb.url();
    let params = Params::on_s3s(&callback, 78, "a11y-bucket");
    let tmp = TempDir::new("a11y-deployed");
    // Stand-ins for the scan's tools not in `tools`: these runs end before
    // the scan.
    let stand_in = tmp.path().join("stand-in");
    std::fs::write(&stand_in, "").unwrap();
    let mut cmd = build_task();
    cmd.args([
        "a11y",
        "-t",
        &enc(target),
        "-b",
        &enc("1"),
        "-o",
        &enc("o"),
        "-r",
        &enc("r"),
        "-p",
        &params.encrypted(),
    ])
    .env("DEPLOY_ENV", "dev")
    .env("VCAP_SERVICES", vcap)
    .env("TMPDIR", tmp.path())
    .env("BUILD_TASK_A11Y_AXE_JS", &stand_in)
    .env("BUILD_TASK_A11Y_CHROMIUM", &stand_in);
    for (k, v) in tools {
        cmd.env(k, v);
    }
    (cmd.output().unwrap(), cb)
}

#[test]
fn a_site_without_pages_is_the_error_0_urls_found() {
    let Some(net) = PublicNet::new() else { return };
    net.enter(|| {
        let site = public_site(|path| match path {
            "/robots.txt" => Reply::typed("text/plain", b"User-agent: *\nDisallow: /\n".to_vec()),
            _ => bad_page(),
        });
        let (out, cb) = deployed_run(&site.url("/"), &vcap_services("dev"));
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert_eq!(cb.statuses(), ["processing", "error"]);
        assert_eq!(field(&cb.bodies()[1], "message").unwrap(), "the task failed: 0 urls found");
        assert_eq!(site.requests(), ["/robots.txt"]);
    })
}

#[test]
fn a_deployed_run_without_the_user_agent_service_fails_before_crawling() {
    let Some(net) = PublicNet::new() else { return };
    net.enter(|| {
        let site = public_site(|_| bad_page());
        let vcap = vcap_services("dev").replace("\"user-agent\"", "\"another-service\"");
        let (out, cb) = deployed_run(&site.url("/"), &vcap);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let message = field(&cb.bodies()[1], "message").unwrap();
        assert!(message.contains("no user agent") && message.contains("'user-agent'"), "{message}");
        assert!(site.requests().is_empty(), "nothing was fetched: {:?}", site.requests());
    })
}

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(needle))
        .collect()
}

#[test]
fn sigterm_during_the_scan_reports_the_cancel_and_leaves_no_browser_behind() {
    let Some(axe) = tools() else { return };
    use std::sync::atomic::{AtomicUsize, Ordering};
    let Some(net) = PublicNet::new() else { return };
    net.enter(|| {
        let asked = std::sync::Arc::new(AtomicUsize::new(0));
        let asked2 = asked.clone();
        let site = public_site(move |path| match path {
            "/" => Reply::html("<html lang=en><title>t</title><a href=/slow.html>slow</a></html>"),
            // The crawler's request is answered; the browser's hangs.
            "/slow.html" => {
                if asked2.fetch_add(1, Ordering::SeqCst) > 0 {
                    std::thread::sleep(Duration::from_secs(60));
                }
                Reply::html("<html lang=en><title>slow</title></html>")
            }
            _ => Reply::status(404),
        });
        let cb = CallbackServer::start(79);
        let callback = cb.url();
        let params = Params::on_s3s(&callback, 79, "a11y-bucket");
        let tmp = TempDir::new("a11y-cancel");
        let scratch = tmp.path().to_string_lossy().into_owned();
        let mut child = build_task()
            .args(["a11y", "-t", &enc(&site.url("/")), "-p", &params.encrypted()])
            .env("DEPLOY_ENV", "dev")
            .env("VCAP_SERVICES", vcap_services("dev"))
            .env("TMPDIR", tmp.path())
            .env("BUILD_TASK_A11Y_AXE_JS", &axe)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while asked.load(Ordering::SeqCst) < 2 {
            assert!(std::time::Instant::now() < deadline, "the browser never asked for /slow.html");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            !processes_mentioning(&scratch).is_empty(),
            "Chromium runs with its profile under the run's scratch space"
        );
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(child.id().cast_signed(), libc::SIGTERM) };
        let started = std::time::Instant::now();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(143));
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
        assert_eq!(cb.statuses(), ["processing", "error"]);
        assert!(field(&cb.bodies()[1], "message").unwrap().contains("cancelled (SIGTERM)"));
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(processes_mentioning(&scratch), Vec::<String>::new(), "no Chromium is left");
    })
}

#[test]
fn frames_of_another_origin_are_scanned_too_and_keep_their_html_clean() {
    let Some(axe) = tools() else { return };
    let tmp = TempDir::new("a11y-frames");
    let inner = WebServer::start(0, |_| {
        Reply::html("<!doctype html><html lang=en><title>inner</title><body><img src=inner.png></body></html>")
    })
    .unwrap();
    let inner_url = inner.url("/inner.html");
    let site = WebServer::start(0, move |_| {
        Reply::html(format!(
            "<!doctype html><html lang=en><title>outer</title><body><main><h1>Outer</h1>\
             <iframe title=\"other origin\" src=\"{inner_url}\"></iframe></main></body></html>"
        ))
    })
    .unwrap();
    let cfg = config(axe, tmp.path(), &[&site.url("/"), &inner.url("/")]);
    let summary = run_scan(&cfg, &[site.url("/")], &tmp.path().join("results"));
    assert_eq!(summary.scanned, 1, "{summary:?}");
    let files = results(&tmp.path().join("results"));
    let r = &files.values().next().unwrap()[0];
    let image_alt = r["violations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == "image-alt")
        .expect("image-alt inside the frame");
    assert_eq!(image_alt["nodes"][0]["target"], serde_json::json!(["iframe", "img"]));
    let text = serde_json::to_string(r).unwrap();
    assert!(!text.contains("cd_frame_id_"), "the driver's frame marks are not in the results");
    assert!(inner.hits("/inner.html") >= 1);
}

/// A frame of another site (127.0.0.1 and localhost are two) gets axe-core
/// too: the scan turns site isolation off so that it shares the page's
/// renderer and session.
#[test]
fn frames_of_another_site_are_scanned_too() {
    let Some(axe) = tools() else { return };
    if std::net::ToSocketAddrs::to_socket_addrs("localhost:80").is_err() {
        eprintln!("skipped: localhost does not resolve here");
        return;
    }
    let tmp = TempDir::new("a11y-site-frames");
    let inner = WebServer::start(0, |_| {
        Reply::html("<!doctype html><html lang=en><title>inner</title><body><img src=inner.png></body></html>")
    })
    .unwrap();
    let inner_url = inner.url("/inner.html").replacen("127.0.0.1", "localhost", 1);
    let site = WebServer::start(0, move |_| {
        Reply::html(format!(
            "<!doctype html><html lang=en><title>outer</title><body><main><h1>Outer</h1>\
             <iframe title=\"other site\" src=\"{inner_url}\"></iframe></main></body></html>"
        ))
    })
    .unwrap();
    let inner_origin = inner.url("/").replacen("127.0.0.1", "localhost", 1);
    let cfg = config(axe, tmp.path(), &[&site.url("/"), &inner_origin]);
    let summary = run_scan(&cfg, &[site.url("/")], &tmp.path().join("results"));
    assert_eq!(summary.scanned, 1, "{summary:?}");
    let files = results(&tmp.path().join("results"));
    let r = &files.values().next().unwrap()[0];
    let image_alt = r["violations"].as_array().unwrap().iter().find(|v| v["id"] == "image-alt");
    let image_alt = image_alt.expect("image-alt inside the frame");
    assert_eq!(image_alt["nodes"][0]["target"], serde_json::json!(["iframe", "img"]));
}

#[test]
fn a_local_run_checks_its_tools_and_results_directory_before_crawling() {
    let site = WebServer::start(0, |_| bad_page()).unwrap();
    let tmp = TempDir::new("a11y-local");
    let run = |envs: &[(&str, &Path)]| {
        let mut cmd = build_task();
        cmd.args(["a11y", "-t", &site.url("/"), "--output-dir"]).arg(tmp.path().join("out")).env("TMPDIR", tmp.path());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let out = run(&[("BUILD_TASK_A11Y_AXE_JS", &tmp.path().join("nope.js"))]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("axe-core is not at"), "{}", stderr(&out));
    let results = tmp.path().join("results");
    std::fs::create_dir_all(&results).unwrap();
    std::fs::write(results.join("axe-results-1.json"), "[]").unwrap();
    let out = run(&[("BUILD_TASK_A11Y_RESULTS_DIR", &results)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is not empty"), "{}", stderr(&out));
    assert!(site.requests().is_empty(), "nothing was fetched: {:?}", site.requests());
}

#[test]
fn a_browser_that_cannot_start_fails_the_task_with_the_reason_and_the_end_of_its_output() {
    let Some(axe) = tools() else { return };
    let tmp = TempDir::new("a11y-no-browser");
    // Chromium's end of --remote-debugging-pipe is its fd 4: a stand-in that
    // says something on stderr and answers with something not JSON.
    let chromium = tmp.path().join("chromium");
    let script = "#!/bin/sh\ni=0; while [ $i -lt 300 ]; do echo \"noise line $i\" >&2; i=$((i+1)); done\n\
                  echo 'ERROR: no display, no luck' >&2\nprintf 'not json\\0' >&4\nexec sleep 30\n";
    std::fs::write(&chromium, script).unwrap();
    std::fs::set_permissions(&chromium, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let Some(net) = PublicNet::new() else { return };
    let (out, cb) = net.enter(|| {
        let site = public_site(|_| bad_page());
        deployed_run_with(
            &site.url("/"),
            &vcap_services("dev"),
            &[("BUILD_TASK_A11Y_AXE_JS", &axe), ("BUILD_TASK_A11Y_CHROMIUM", &chromium)],
        )
    });
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(cb.statuses(), ["processing", "error"]);
    let message = field(&cb.bodies()[1], "message").unwrap();
    assert!(
        message.contains(
            "Chromium did not start: Browser.getVersion failed: the browser is gone: it sent a message that is not a \
             JSON object: \"not json\""
        ),
        "{message}"
    );
    let (_, log) = message.split_once("\nthe end of Chromium's output:\n").expect("the output's end is quoted");
    assert!(log.ends_with("ERROR: no display, no luck"), "{log}");
    assert!(log.len() <= 2048 && !log.contains("noise line 279"), "the end only: {log}");
    assert!(message.len() <= 4096, "{}", message.len());
}

/// Whether this process may bind-mount over /etc/hosts in a mount namespace
/// of its own (root may); CI runs as root, so there not being root fails.
fn may_hide_etc_hosts() -> bool {
    // SAFETY: geteuid only reads our effective user id.
    if unsafe { libc::geteuid() } != 0 {
        assert!(std::env::var("CI").is_err(), "CI runs the tests as root, but this process is not root");
        eprintln!("skipped: only root can hide /etc/hosts in a mount namespace");
        return false;
    }
    have_tool("unshare")
}

#[test]
fn the_scan_works_where_localhost_does_not_resolve() {
    let Some(axe) = tools() else { return };
    if !may_hide_etc_hosts() {
        return;
    }
    let tmp = TempDir::new("a11y-no-hosts");
    let site = WebServer::start(0, |_| bad_page()).unwrap();
    let hosts = tmp.path().join("hosts");
    std::fs::write(&hosts, "").unwrap();
    let results_dir = tmp.path().join("results");
    // An image built by buildah has an empty /etc/hosts: the same, in a
    // mount namespace of the run's own.
    let script = "mount --bind \"$0\" /etc/hosts || exit 96\n\
                  if getent hosts localhost >/dev/null; then exit 97; fi\n\
                  exec \"$@\"";
    let mut cmd = std::process::Command::new("unshare");
    cmd.env_clear();
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    let out = cmd
        .args(["--mount", "--propagation", "private", "sh", "-c", script])
        .arg(&hosts)
        .arg(crate::support::bin())
        .args(["a11y", "-t", &site.url("/"), "--output-dir"])
        .arg(tmp.path().join("out"))
        .env("TMPDIR", tmp.path())
        .env("BUILD_TASK_A11Y_AXE_JS", &axe)
        .env("BUILD_TASK_A11Y_RESULTS_DIR", &results_dir)
        .output()
        .unwrap();
    let log = stderr(&out);
    assert_ne!(out.status.code(), Some(96), "cannot hide /etc/hosts: {log}");
    assert_ne!(out.status.code(), Some(97), "localhost resolves without /etc/hosts (DNS?): the test proves nothing");
    assert_eq!(out.status.code(), Some(0), "{log}");
    let files = results(&results_dir);
    assert_eq!(files.len(), 1, "{:?}\n{log}", files.keys());
    let (name, result) = files.iter().next().unwrap();
    assert!(name.starts_with("axe-results-"), "{name}");
    let r = &result[0];
    assert_eq!(r["url"], site.url("/"));
    let ids: Vec<&str> = r["violations"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap()).collect();
    for id in ["html-has-lang", "image-alt", "link-name", "document-title"] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
}

/// The origin of the site in the recorded results (../shared/fixtures/axe/results).
const RECORDED_ORIGIN: &str = "http://127.0.0.1:8723";

/// A site for a deployed run, at the public-looking address of the PublicNet
/// it is started in (a deployed run refuses internal addresses).
fn public_site(handler: impl Fn(&str) -> Reply + Send + Sync + 'static) -> WebServer {
    WebServer::start_on(PublicNet::SITE_IP, 0, handler).unwrap()
}
