//! The a11y task's one deadline (BUILD_TASK_A11Y_DEADLINE_SECS), as a local
//! run: a bad value is refused before any request, and when the deadline
//! comes the task still ends in success, with a report of the pages scanned
//! by then and the rest listed as not scanned.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use serde_json::Value;

use crate::support::axe::axe_js;
use crate::support::web::{Reply, WebServer};
use crate::support::{TempDir, build_task, have_tool, stderr, stdout};

/// A gate the test opens when it is done: until then a request that waits
/// on it gets no answer.
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    fn wait(&self) {
        let (open, cv) = &*self.0;
        let mut open = open.lock().unwrap_or_else(|p| p.into_inner());
        while !*open {
            open = cv.wait(open).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn open(&self) {
        let (open, cv) = &*self.0;
        *open.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cv.notify_all();
    }
}

/// Opens the gate when the test ends, however it ends, so the server's
/// waiting thread is let go.
struct OpenOnDrop(Gate);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

/// The target links to four pages, the first of which never finishes
/// loading in a browser: its image gets no answer until `gate` opens. The
/// crawler never asks for the image (it fetches no .png), so the crawl ends
/// at once.
fn site_with_a_page_that_never_loads(gate: Gate) -> WebServer {
    WebServer::start(0, move |path| match path {
        "/" => Reply::html(
            "<!doctype html><html lang=en><head><title>home</title></head><body><main><h1>Home</h1>\
             <a href=/slow.html>slow</a> <a href=/a.html>a</a> <a href=/b.html>b</a> <a href=/c.html>c</a>\
             </main></body></html>",
        ),
        "/slow.html" => Reply::html(
            "<!doctype html><html lang=en><head><title>slow</title></head><body><main>\
             <img src=/never.png alt=never></main></body></html>",
        ),
        "/a.html" | "/b.html" | "/c.html" => Reply::html(
            "<!doctype html><html lang=en><head><title>page</title></head><body><main><h1>Page</h1></main></body></html>",
        ),
        "/never.png" => {
            gate.wait();
            Reply::status(404)
        }
        _ => Reply::status(404),
    })
    .expect("a loopback server starts")
}

#[test]
fn when_the_deadline_comes_the_task_succeeds_with_the_pages_scanned_and_lists_the_rest_as_not_scanned() {
    if !have_tool("chromium-headless-shell") {
        return;
    }
    let Some(axe) = axe_js() else { return };
    let gate = Gate::default();
    let _open = OpenOnDrop(gate.clone());
    let site = site_with_a_page_that_never_loads(gate);
    let tmp = TempDir::new("a11y-deadline");
    let out_dir = tmp.path().join("out");
    // A deadline of 20 s: the crawl gets at most 6 s and the scan starts no
    // page after 18 s. The target is scanned well before that; the slow page
    // outlasts it (its load timeout, 30 s, is longer than the whole
    // deadline), so the three pages after it are never started.
    let out = build_task()
        .args(["a11y", "-t", &site.url("/"), "--output-dir"])
        .arg(&out_dir)
        .env("TMPDIR", tmp.path())
        .env("BUILD_TASK_A11Y_AXE_JS", &axe)
        .env("BUILD_TASK_A11Y_DEADLINE_SECS", "20")
        .env("BUILD_TASK_A11Y_PAGE_TIMEOUT_SECS", "30")
        // One request at a time: the pages are found in link order.
        .env("BUILD_TASK_A11Y_CRAWL_CONCURRENCY", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("the crawl's budget is 6 s: 30% of the task's deadline"), "{}", stderr(&out));

    let base = site.url("");
    let url = |path: &str| format!("{base}{path}");
    let index: Value = serde_json::from_slice(&std::fs::read(out_dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["pagesFound"], 5);
    assert_eq!(index["pagesSampled"], 5);
    let not_scanned: Vec<&str> =
        index["pagesNotScanned"].as_array().unwrap().iter().map(|u| u.as_str().unwrap()).collect();
    let pages = index["reportPages"].as_array().unwrap();
    // The target was scanned: its sub-page is in the report.
    let home = pages.iter().find(|p| p["absoluteURL"] == url("/")).expect("the target is in the report");
    assert!(home.get("failed").is_none(), "{home}");
    assert!(out_dir.join(format!("{}.json", home["path"].as_str().unwrap())).is_file());
    // The slow page ran past the deadline: it failed, or (if the scan counts
    // a page its deadline cut short as not reached) it leads the list.
    let slow_failed = pages.iter().any(|p| p["absoluteURL"] == url("/slow.html") && p["failed"] == true);
    let expected_not_scanned: Vec<String> = if slow_failed {
        ["/a.html", "/b.html", "/c.html"].map(url).to_vec()
    } else {
        ["/slow.html", "/a.html", "/b.html", "/c.html"].map(url).to_vec()
    };
    assert_eq!(not_scanned, expected_not_scanned);
    let scanned = pages.len();
    assert_eq!(index["pagesScanned"], scanned);
    assert_eq!(index["totalPageCount"], scanned);
    assert_eq!(scanned + not_scanned.len(), 5, "every sampled page is scanned or listed as not scanned");
    assert_eq!(index["pagesFailed"], usize::from(slow_failed));
    for page in ["/a.html", "/b.html", "/c.html"] {
        assert_eq!(site.hits(page), 1, "{page} was fetched by the crawl only: {:?}", site.requests());
    }

    // The success status (printed by a local run) says the same.
    let status: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(
        status["message"],
        format!(
            "found 5 pages, sampled 5, scanned {scanned} ({} failed); {} not reached before the deadline",
            usize::from(slow_failed),
            not_scanned.len()
        )
    );
    // No rules: every violated rule of the pages scanned counts.
    assert_eq!(status["count"].as_u64(), Some(index["violatedRules"].as_array().unwrap().len() as u64), "{status}");
}

#[test]
fn a_deadline_that_is_not_a_whole_number_of_seconds_is_refused_before_any_request() {
    let site = WebServer::start(0, |_| Reply::html("<a href=/a.html>a</a>")).unwrap();
    let tmp = TempDir::new("a11y-deadline-bad");
    for bad in ["0", "50m", "-1", "86401", "1e3"] {
        let out = build_task()
            .args(["a11y", "-t", &site.url("/"), "--output-dir"])
            .arg(tmp.path().join("out"))
            .env("TMPDIR", tmp.path())
            .env("BUILD_TASK_A11Y_DEADLINE_SECS", bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("BUILD_TASK_A11Y_DEADLINE_SECS is not a whole number from 1 to 86400"),
            "{bad:?}: {}",
            stderr(&out)
        );
    }
    assert!(site.requests().is_empty(), "nothing was fetched: {:?}", site.requests());
    assert!(!Path::new(&tmp.path().join("out")).join("index.json").exists());

    let out = build_task().args(["doctor", "a11y"]).env("BUILD_TASK_A11Y_DEADLINE_SECS", "soon").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out)
            .lines()
            .any(|l| l == "FAIL  a11y settings: BUILD_TASK_A11Y_DEADLINE_SECS is not a whole number from 1 to 86400"),
        "{}",
        stdout(&out)
    );
}
