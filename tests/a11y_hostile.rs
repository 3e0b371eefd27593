//! Hostile pages against the real scan: every page is someone's code, and
//! one page may fail, but never the pages after it.
//!
//! Each hostile page is followed by a well-behaved one; the test asserts
//! that every well-behaved page was scanned, with axe's real findings, and
//! that each hostile page was either scanned or failed alone. Timeouts are
//! cut short (the classes of harm, not the production figures, are what is
//! tested).

use std::path::Path;
use std::time::Duration;

use build_task::cancel::Cancel;
use build_task::tasks::a11y::scan::{self, Summary};
use serde_json::Value;

use crate::a11y_scan::{config, results, tools};
use crate::support::TempDir;
use crate::support::web::{Reply, WebServer};

/// A light page with findings axe always reports (no lang, no title, an
/// image without alt text, an empty link).
const LIGHT: &str = "<!doctype html><html><head></head><body><img src=x.png><a href=/></a></body></html>";

/// Hostile pages by path: the harm each does.
fn hostile(path: &str) -> Option<Reply> {
    let page = |head: &str, body: &str| {
        Some(Reply::html(format!("<!doctype html><html><head>{head}</head><body><img src=x.png>{body}</body></html>")))
    };
    let path = path.split('?').next().unwrap_or(path);
    match path {
        // Never loads.
        "/spin-inline" => page("", "<script>while (true) {}</script>"),
        // Loads, then keeps its main thread busy for good.
        "/spin-after-load" => {
            page("<script>addEventListener('load', () => setTimeout(() => { while (true) {} }, 0))</script>", "")
        }
        // Loads, then blocks its main thread for 60 s.
        "/block-60s" => page(
            "<script>addEventListener('load', () => setTimeout(() => { const t = Date.now(); while (Date.now() - t < 60000) {} }, 0))</script>",
            "",
        ),
        // Far more nodes than axe gets through in its budget.
        "/huge" => page("", "<script>document.body.innerHTML += '<p><span>x</span></p>'.repeat(200000)</script>"),
        // Navigates itself away again and again.
        "/replace-loop" => page("<script>location.replace('/replace-loop?' + Math.random())</script>", ""),
        "/refresh-loop" => page("<meta http-equiv=refresh content=0>", ""),
        // Dialogs: one after the other, and while axe runs.
        "/confirm-loop" => {
            page("<script>addEventListener('load', function f() { confirm('again?'); setTimeout(f, 0) })</script>", "")
        }
        "/alerts" => page("<script>setInterval(() => alert('hello'), 50)</script>", "<p>text</p>"),
        "/beforeunload" => {
            page("<script>onbeforeunload = (e) => { e.preventDefault(); e.returnValue = 'stay' }</script>", "")
        }
        // A service worker that answers no request on its origin again.
        "/service-worker" => page(
            "<script>navigator.serviceWorker.register('/sw.js').then(() => navigator.serviceWorker.ready)</script>",
            "",
        ),
        "/sw.js" => Some(Reply::typed(
            "text/javascript",
            b"self.addEventListener('install', () => self.skipWaiting());\n\
              self.addEventListener('activate', (e) => e.waitUntil(clients.claim()));\n\
              self.addEventListener('fetch', (e) => e.respondWith(new Promise(() => {})));\n"
                .to_vec(),
        )),
        // The page's own JavaScript patched: what axe serialises with, and
        // an `axe` of its own.
        "/polluted" => page(
            "<script>Array.prototype.toJSON = function () { return 'polluted' };\
             JSON.stringify = function () { return '{}' };\
             window.axe = { run: () => Promise.resolve({}), configure: () => {} };</script>",
            "",
        ),
        // Windows of its own.
        "/popups" => page("<script>for (let i = 0; i < 20; i++) window.open('/popups?' + i)</script>", ""),
        _ => None,
    }
}

const HOSTILE: [&str; 12] = [
    "/spin-inline",
    "/spin-after-load",
    "/block-60s",
    "/huge",
    "/replace-loop",
    "/refresh-loop",
    "/confirm-loop",
    "/alerts",
    "/beforeunload",
    "/service-worker",
    "/polluted",
    "/popups",
];

/// Hostile pages that must still be scanned, with real findings.
const SCANNED: [&str; 4] = ["/alerts", "/service-worker", "/polluted", "/popups"];

#[test]
fn every_hostile_page_fails_or_is_scanned_alone_and_every_other_page_is_scanned() {
    let Some(axe) = tools() else { return };
    let tmp = TempDir::new("a11y-hostile");
    let site = WebServer::start(0, |path| hostile(path).unwrap_or_else(|| Reply::html(LIGHT))).unwrap();
    let mut urls = Vec::new();
    for (n, path) in HOSTILE.iter().enumerate() {
        urls.push(site.url(path));
        urls.push(site.url(&format!("/light-{n}.html")));
    }
    let mut cfg = config(axe, tmp.path(), &[&site.url("/")]);
    // Long enough for a well-behaved page on a loaded machine; a hung page
    // costs at most the load timeout or the 15 s a command may take.
    cfg.page_load_timeout = Duration::from_secs(10);
    cfg.script_timeout = Duration::from_secs(30);
    let results_dir = tmp.path().join("results");
    let summary = scan::scan(&Cancel::new(), &cfg, &urls, &results_dir).expect("the scan runs");
    let files = results(&results_dir);

    let scanned: Vec<&Value> =
        files.iter().filter(|(n, _)| n.starts_with("axe-results-")).map(|(_, v)| &v[0]).collect();
    let failed: Vec<&str> = files
        .iter()
        .filter(|(n, _)| !n.starts_with("axe-results-"))
        .map(|(_, v)| v[0]["url"].as_str().unwrap())
        .collect();
    assert_eq!(summary.scanned + summary.failed, urls.len(), "{summary:?}");
    assert_eq!(scanned.len(), summary.scanned);
    for n in 0..HOSTILE.len() {
        let url = site.url(&format!("/light-{n}.html"));
        let result = scanned.iter().find(|r| r["url"] == url.as_str());
        let result = result.unwrap_or_else(|| panic!("{url} was not scanned; failed: {failed:?}"));
        assert_axe_found_the_light_pages_faults(result, &url);
    }
    for path in SCANNED {
        let url = site.url(path);
        let result = scanned.iter().find(|r| r["url"] == url.as_str());
        let result = result.unwrap_or_else(|| panic!("{url} was not scanned; failed: {failed:?}"));
        assert_axe_found_the_light_pages_faults(result, &url);
    }
    for url in &failed {
        assert!(HOSTILE.iter().any(|p| url.ends_with(p)), "only hostile pages fail: {url}");
    }
    eprintln!("hostile pages failed: {failed:?}; {summary:?}");
}

/// A real axe result for one of our pages: its URL and the findings.
fn assert_axe_found_the_light_pages_faults(result: &Value, url: &str) {
    assert_eq!(result["url"], url);
    let ids: Vec<&str> =
        result["violations"].as_array().expect("violations").iter().map(|v| v["id"].as_str().unwrap()).collect();
    for id in ["html-has-lang", "image-alt", "document-title"] {
        assert!(ids.contains(&id), "{url}: {id} in {ids:?}");
    }
    assert_eq!(result["testEngine"]["name"], "axe-core", "{url}");
}

/// Nothing a scan starts outlives it, and nothing it writes is left.
#[test]
fn a_scan_leaves_no_browser_and_no_files_behind() {
    let Some(axe) = tools() else { return };
    let tmp = TempDir::new("a11y-hostile-clean");
    let site = WebServer::start(0, |path| hostile(path).unwrap_or_else(|| Reply::html(LIGHT))).unwrap();
    let scratch = tmp.path().join("scratch");
    let mut cfg = config(axe, &scratch, &[&site.url("/")]);
    cfg.page_load_timeout = Duration::from_secs(5);
    cfg.script_timeout = Duration::from_secs(30);
    let urls = vec![site.url("/spin-inline"), site.url("/popups"), site.url("/light.html")];
    let summary = scan::scan(&Cancel::new(), &cfg, &urls, &tmp.path().join("results")).expect("the scan runs");
    assert_eq!(summary, Summary { scanned: 2, failed: 1, browsers: 1, not_scanned: vec![] });
    // The browser's group has had its SIGKILL when the scan returns; a
    // process goes when the kernel gets to it, so a moment is allowed.
    let killed = std::time::Instant::now();
    while !browser_processes(&scratch).is_empty() && killed.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(browser_processes(&scratch).is_empty(), "{:?}", browser_processes(&scratch));
}

fn browser_processes(scratch: &Path) -> Vec<String> {
    let needle = scratch.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&needle))
        .collect()
}

/// The browser runs the site's scripts without a sandbox: it must hold no
/// secret of the run. Read from /proc while the browser loads a page.
#[test]
fn the_browser_gets_no_variable_of_the_run_and_keeps_its_files_under_tmpdir() {
    let Some(axe) = tools() else { return };
    let tmp = TempDir::new("a11y-browser-env");
    let tmpdir = tmp.path().join("tmpdir");
    std::fs::create_dir_all(&tmpdir).unwrap();
    let needle = tmpdir.display().to_string();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
    let seen_by_site = seen.clone();
    let tmpdir_by_site = needle.clone();
    // While the browser waits for this page, its processes are read.
    let site = WebServer::start(0, move |path| {
        if path == "/" {
            let mut seen = seen_by_site.lock().unwrap();
            for pid in process_tree(&tmpdir_by_site) {
                let read = |file: &str| std::fs::read(format!("/proc/{pid}/{file}")).unwrap_or_default();
                let cmdline = String::from_utf8_lossy(&read("cmdline")).replace('\0', " ");
                seen.push((cmdline, String::from_utf8_lossy(&read("environ")).replace('\0', "\n")));
            }
        }
        Reply::html(LIGHT)
    })
    .unwrap();
    let vcap = r#"{"user-provided":[{"name":"user-agent","credentials":{"USER_AGENT":"ua-MARKER-1"}},{"name":"pages-dev-encryption","credentials":{"key":"key-MARKER-2"}}]}"#;
    let out = crate::support::build_task()
        .args(["a11y", "-t", &site.url("/"), "--output-dir"])
        .arg(tmp.path().join("out"))
        .env("TMPDIR", &tmpdir)
        .env("VCAP_SERVICES", vcap)
        .env("AWS_SECRET_ACCESS_KEY", "secret-MARKER-3")
        .env("BUILD_TASK_A11Y_AXE_JS", &axe)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let seen = seen.lock().unwrap();
    assert!(seen.iter().any(|(cmd, _)| !cmd.contains("--type=")), "the browser's own process was read: {seen:?}");
    assert!(seen.iter().any(|(cmd, _)| cmd.contains("--type=renderer")), "a renderer was read: {seen:?}");
    for (cmd, environ) in seen.iter() {
        for marker in ["MARKER", "VCAP_SERVICES", "AWS_"] {
            assert!(!environ.contains(marker), "{marker} in the environment of {cmd}:\n{environ}");
        }
        // Chromium's zygote and its children start with no environment at all.
        if let Some(tmp_var) = environ.lines().find_map(|l| l.strip_prefix("TMPDIR=")) {
            assert!(tmp_var.starts_with(&needle), "{cmd}: TMPDIR={tmp_var}");
        }
    }
    let left: Vec<_> = std::fs::read_dir(&tmpdir).unwrap().collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
}

/// The processes whose command line mentions `needle`, and their
/// descendants (Chromium's helpers do not repeat the browser's flags).
fn process_tree(needle: &str) -> Vec<u32> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()) {
        let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else { continue };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // The parent is the second field after the command's closing parenthesis.
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        all.push((pid, ppid.unwrap_or(0), String::from_utf8_lossy(&cmdline).contains(needle)));
    }
    let mut tree: Vec<u32> = all.iter().filter(|p| p.2).map(|p| p.0).collect();
    loop {
        let more: Vec<u32> = all.iter().filter(|p| tree.contains(&p.1) && !tree.contains(&p.0)).map(|p| p.0).collect();
        if more.is_empty() {
            return tree;
        }
        tree.extend(more);
    }
}

/// A page that takes far more memory than its share: its renderer is
/// stopped, and the page fails alone; without a share the same page is
/// scanned (so the share is what failed it).
#[test]
fn a_page_over_its_memory_share_fails_alone() {
    let Some(axe) = tools() else { return };
    let tmp = TempDir::new("a11y-hostile-memory");
    // 400 MiB, held for a second at least (the watch looks five times a second).
    let hog = "<!doctype html><html><head><script>const kept = [];\
               for (let i = 0; i < 40; i++) { const b = new Uint8Array(10 << 20); b.fill(1); kept.push(b) }\
               const t = Date.now(); while (Date.now() - t < 1000) {}\
               </script></head><body><img src=x.png></body></html>";
    let site =
        WebServer::start(0, move |path| if path == "/hog" { Reply::html(hog) } else { Reply::html(LIGHT) }).unwrap();
    let urls = vec![site.url("/hog"), site.url("/light.html")];
    for (share, hog_scanned) in [(Some(128), false), (None, true)] {
        let mut cfg = config(axe.clone(), &tmp.path().join("scratch"), &[&site.url("/")]);
        cfg.page_memory_mib = share;
        let results_dir = tmp.path().join(format!("results-{share:?}"));
        let summary = scan::scan(&Cancel::new(), &cfg, &urls, &results_dir).expect("the scan runs");
        let files = results(&results_dir);
        let scanned: Vec<&str> = files
            .iter()
            .filter(|(n, _)| n.starts_with("axe-results-"))
            .map(|(_, v)| v[0]["url"].as_str().unwrap())
            .collect();
        assert!(scanned.contains(&site.url("/light.html").as_str()), "{share:?}: {summary:?}");
        assert_eq!(scanned.contains(&site.url("/hog").as_str()), hog_scanned, "{share:?}: {summary:?}");
    }
}
