//! The browser is fenced like the crawler (src/fence.rs, tasks/a11y/proxy.rs).
//!
//! Hostile pages, served by the tests' own site on 127.0.0.1, reach for an
//! internal server with every kind of request a page can make: on a second
//! loopback address (127.0.0.2), and on another port of the site's own
//! address, by address and by the name `localhost`. The real Chromium
//! headless shell scans them, and the internal server is never contacted,
//! over TCP or UDP. A control server that the fence lets through is sent the
//! same requests by the same pages, so each page is known to have made
//! them; where a request would not hold up the page's load, the page waits
//! for the control server to have seen it (`/hold/…`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use build_task::cancel::Cancel;
use build_task::fence::Fence;
use build_task::tasks::a11y::scan::{self, Config};

use crate::support::axe::axe_js;
use crate::support::internal::{Internal, SECRET};
use crate::support::web::{Reply, WebServer};
use crate::support::{TempDir, build_task, have_tool, stderr};

fn tools() -> Option<PathBuf> {
    if !have_tool("chromium-headless-shell") {
        return None;
    }
    axe_js()
}

/// The internal server: 127.0.0.2 (TCP and UDP) and another port on
/// 127.0.0.1, the site's own address.
fn internal() -> Internal {
    Internal::start(&["127.0.0.2:0", "127.0.0.1:0"])
}

/// The internal origins a page reaches for: by the second address, by the
/// site's address at another port, and by a name for it.
fn internal_origins(internal: &Internal) -> Vec<String> {
    vec![
        internal.origin("http", "127.0.0.2", 0),
        internal.origin("http", "127.0.0.1", 1),
        internal.origin("http", "localhost", 1),
    ]
}

/// What the control server answers: no secret, the type its path names.
fn control_reply(path: &str) -> Reply {
    let path = path.split('?').next().unwrap_or("");
    if path.ends_with(".js") {
        Reply::typed("text/javascript", b"self.ok = 1;".to_vec())
    } else if path.ends_with(".css") {
        Reply::typed("text/css", b"h1 { color: black; }".to_vec())
    } else {
        Reply::html("<!doctype html><html lang=en><title>control</title><body><p>control</p></body></html>")
    }
}

/// A page of the hostile site: `body` with a title, and `DESTS`, the
/// origins to reach for (the control server's last) for its scripts.
fn page(dests: &[String], body: &str) -> Reply {
    let list: Vec<String> = dests.iter().map(|d| format!("'{d}'")).collect();
    Reply::html(format!(
        "<!doctype html><html lang=en><head><title>hostile</title><script>const DESTS = [{}];</script></head>\
         <body><main><h1>Hostile</h1>{body}</main></body></html>",
        list.join(", ")
    ))
}

/// An image that holds up the page's load until the control server has
/// seen `path`.
fn hold(path: &str) -> String {
    format!("<img alt='' src='/hold{path}'>")
}

/// The hostile site. `dests`: the internal origins, then the control's.
fn hostile_site(dests: Vec<String>, internal_tls: String, control: Arc<WebServer>) -> WebServer {
    WebServer::start(0, move |target| {
        let path = target.split('?').next().unwrap_or("");
        let each = |f: &dyn Fn(&str) -> String| dests.iter().map(|d| f(d)).collect::<String>();
        match path {
            "/frames" => {
                let mut body = each(&|d| format!("<iframe title=f src='{d}/secret.html'></iframe>"));
                body += &format!("<iframe title=tls src='{internal_tls}/secret.html'></iframe>");
                body += &(0..dests.len()).map(|i| format!("<iframe title=r src='/redirect/{i}'></iframe>")).collect::<String>();
                page(&dests, &body)
            }
            "/subresources" => {
                let mut body = each(&|d| {
                    format!(
                        "<img alt='' src='{d}/x.png'><script src='{d}/x.js'></script>\
                         <link rel=stylesheet href='{d}/x.css'><link rel=prefetch href='{d}/prefetch.html'>"
                    )
                });
                body += &format!("<img alt='' src='{internal_tls}/x.png'>");
                body += &hold("/prefetch.html");
                page(&dests, &body)
            }
            "/fetch" => page(
                &dests,
                &format!(
                    "<script>for (const d of DESTS) {{ try {{ const x = new XMLHttpRequest(); \
                     x.open('GET', d + '/xhr', false); x.send(); }} catch (e) {{}} }}\
                     (async () => {{ for (const d of DESTS) {{ try {{ await fetch(d + '/fetch', {{mode: 'no-cors'}}); }} \
                     catch (e) {{}} }} }})();</script>{}",
                    hold("/fetch")
                ),
            ),
            "/worker" => page(&dests, &format!("<script>new Worker('/worker.js');</script>{}", hold("/w.js"))),
            "/worker.js" => Reply::typed("text/javascript", imports(&dests, "/w.js").into_bytes()),
            "/service-worker" => page(
                &dests,
                &format!(
                    "<script>navigator.serviceWorker.register('/sw/sw.js', {{scope: '/sw/'}}).catch(() => {{}});</script>{}",
                    hold("/sw.js")
                ),
            ),
            "/sw/sw.js" => Reply::typed("text/javascript", imports(&dests, "/sw.js").into_bytes()),
            "/websocket" => page(
                &dests,
                &format!(
                    "<script>(function next(i) {{ if (i >= DESTS.length) return; \
                     const ws = new WebSocket(DESTS[i].replace('http:', 'ws:') + '/ws'); \
                     ws.onclose = () => next(i + 1); }})(0);</script>{}",
                    hold("/ws")
                ),
            ),
            "/location" | "/refresh" => {
                let kind = &path[1..];
                let frames: String =
                    (0..dests.len()).map(|i| format!("<iframe title={kind} src='/{kind}/{i}'></iframe>")).collect();
                page(&dests, &format!("{frames}{}", hold(&format!("/landing-{kind}"))))
            }
            "/udp" => {
                // A STUN server and a WebTransport endpoint on the internal
                // address: both UDP, which the proxy never sees.
                let udp = dests[0].trim_start_matches("http://").to_owned();
                page(
                    &dests,
                    &format!(
                        "<script>(async () => {{ try {{ const pc = new RTCPeerConnection({{iceServers: [{{urls: 'stun:{udp}'}}]}}); \
                         pc.createDataChannel('x'); await pc.setLocalDescription(await pc.createOffer()); \
                         await new Promise(r => {{ if (pc.iceGatheringState === 'complete') r(); \
                         pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); }}); \
                         }} catch (e) {{}} \
                         try {{ const wt = new WebTransport('https://{udp}/wt'); \
                         await Promise.race([wt.ready, wt.closed, new Promise(r => setTimeout(r, 2000))]); }} catch (e) {{}} \
                         await fetch(DESTS[DESTS.length - 1] + '/udp-done', {{mode: 'no-cors'}}); }})();</script>{}",
                        hold("/udp-done")
                    ),
                )
            }
            "/plain" => Reply::html("<!doctype html><html lang=en><title>plain</title><body><main><h1>Plain</h1></main></body></html>"),
            _ => {
                let (kind, i) = path[1..].split_once('/').unwrap_or(("", ""));
                let Some(dest) = i.parse::<usize>().ok().and_then(|i| dests.get(i)) else {
                    return match path.strip_prefix("/hold") {
                        Some(seen) => held(&control, seen),
                        None => Reply::status(404),
                    };
                };
                match kind {
                    "redirect" => Reply::redirect(302, &format!("{dest}/secret.html")),
                    "location" => Reply::html(format!(
                        "<!doctype html><html lang=en><title>l</title><script>location = '{dest}/landing-location';</script></html>"
                    )),
                    "refresh" => Reply::html(format!(
                        "<!doctype html><html lang=en><title>r</title>\
                         <meta http-equiv=refresh content='0; url={dest}/landing-refresh'></html>"
                    )),
                    _ => Reply::status(404),
                }
            }
        }
    })
    .unwrap()
}

/// A worker's script: `importScripts` from every destination in turn, the
/// control server's last.
fn imports(dests: &[String], path: &str) -> String {
    dests.iter().map(|d| format!("try {{ importScripts('{d}{path}'); }} catch (e) {{}}\n")).collect()
}

/// Answers once the control server has seen `path`, or after 15 s.
fn held(control: &WebServer, path: &str) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(15);
    while control.hits(path) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    Reply::typed("image/gif", b"GIF89a".to_vec())
}

/// Every results file's text, by name.
fn results_texts(dir: &Path) -> Vec<(String, String)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect()
}

#[test]
fn no_request_of_a_hostile_page_reaches_an_internal_address_and_each_page_is_scanned_or_fails_alone() {
    let Some(axe) = tools() else { return };
    let tmp = TempDir::new("a11y-fence");
    let internal = internal();
    let control = Arc::new(WebServer::start(0, control_reply).unwrap());
    let mut dests = internal_origins(&internal);
    dests.push(control.url(""));
    let site = hostile_site(dests.clone(), internal.origin("https", "127.0.0.2", 0), control.clone());

    let mut urls: Vec<String> = (0..3).map(|i| site.url(&format!("/redirect/{i}"))).collect();
    for path in [
        "/frames",
        "/subresources",
        "/fetch",
        "/worker",
        "/service-worker",
        "/websocket",
        "/location",
        "/refresh",
        "/udp",
    ] {
        urls.push(site.url(path));
    }
    urls.push(site.url("/plain"));
    let cfg = Config {
        chromium: "/usr/bin/chromium-headless-shell".into(),
        axe_js: axe,
        user_agent: "build-task-tests/1.0".into(),
        page_load_timeout: Duration::from_secs(30),
        script_timeout: Duration::from_secs(60),
        scratch: tmp.path().to_path_buf(),
        temp_root: std::env::temp_dir(),
        deadline: None,
        page_memory_mib: None,
        // A local run of the site, and the control server let through.
        fence: Fence::with_loopback(&[&site.url("/"), &control.url("/")]).unwrap(),
    };
    let results = tmp.path().join("results");
    let summary = scan::scan(&Cancel::new(), &cfg, &urls, &results).expect("the scan runs");

    assert_eq!(internal.contacts(), 0, "the internal server was reached");
    assert_eq!(summary.scanned + summary.failed, urls.len(), "{summary:?}");
    let texts = results_texts(&results);
    for (name, text) in &texts {
        assert!(!text.contains(SECRET), "{name} holds the internal server's content");
    }
    // A page that redirects to an internal address did not load: it failed
    // alone, as a page whose site is down does.
    for (i, url) in urls[..3].iter().enumerate() {
        let marker = std::fs::read_to_string(results.join(i.to_string())).unwrap_or_default();
        assert_eq!(marker, format!("[{{\"url\": \"{url}\", \"error\": true}}]"), "{summary:?}");
    }
    let plain = format!("\"url\": \"{}\"", site.url("/plain"));
    assert!(
        texts.iter().any(|(name, text)| name.starts_with("axe-results-") && text.contains(&plain)),
        "the page after the hostile ones is scanned: {summary:?}"
    );
    // Each page did make its requests: the control server saw them all.
    for path in [
        "/secret.html",
        "/x.png",
        "/x.js",
        "/x.css",
        "/prefetch.html",
        "/xhr",
        "/fetch",
        "/w.js",
        "/sw.js",
        "/ws",
        "/landing-location",
        "/landing-refresh",
        "/udp-done",
    ] {
        assert!(control.hits(path) > 0, "the control server never saw {path}: {:?}", control.requests());
    }
}

#[test]
fn a_local_run_reaches_only_its_target_and_says_what_the_browser_was_refused() {
    let Some(axe) = tools() else { return };
    let tmp = TempDir::new("a11y-fence-local");
    let internal = internal();
    let origins = internal_origins(&internal);
    let site = WebServer::start(0, move |path| match path {
        "/" => Reply::html(format!(
            "<!doctype html><html lang=en><title>home</title><body><main><h1>Home</h1>\
             <iframe title=a src='{}/secret.html'></iframe><img alt='' src='{}/x.png'>\
             <a href='/away'>away</a></main></body></html>",
            origins[0], origins[2]
        )),
        // Out of the crawl's scope: the crawler never follows it.
        "/away" => Reply::redirect(302, &format!("{}/secret.html", origins[1])),
        _ => Reply::status(404),
    })
    .unwrap();
    let results = tmp.path().join("results");
    let out = build_task()
        .args(["a11y", "-t", &site.url("/"), "--output-dir"])
        .arg(tmp.path().join("out"))
        .env("TMPDIR", tmp.path())
        .env("BUILD_TASK_A11Y_AXE_JS", &axe)
        .env("BUILD_TASK_A11Y_RESULTS_DIR", &results)
        .output()
        .unwrap();
    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert_eq!(internal.contacts(), 0, "the internal server was reached");
    let said = log.lines().find(|l| l.contains("the browser was refused")).unwrap_or_else(|| panic!("{log}"));
    assert!(said.contains("refused 2 requests to internal addresses ("), "{said}");
    assert!(said.contains("127.0.0.2") && said.contains("localhost"), "{said}");
    let texts = results_texts(&results);
    assert_eq!(texts.len(), 1, "one page: the crawler left /away out");
    assert!(!texts[0].1.contains(SECRET));
}

#[test]
fn a_deployed_scan_of_a_target_on_an_internal_address_fails_before_crawling() {
    crate::fence::deployed_run_of_an_internal_target_fails_before_any_fetch("a11y", 4302);
}
