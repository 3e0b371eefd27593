//! The scan: axe-core in one headless Chromium, page after page.
//!
//! The original started the @axe-core/cli (Node, Selenium and a fresh Chrome)
//! once per URL. Here Debian's chromium-headless-shell runs as our child and
//! serves the whole scan, driven over the DevTools protocol ([`cdp`]) with
//! one tab. For each URL: navigate, wait for the load, inject axe.min.js into
//! the page and its frames, run axe with the original's WCAG tags, and write
//! what the CLI wrote: `axe-results-<ms>.json`, a pretty-printed array
//! holding the one result. The browser serialises the result itself
//! (`JSON.stringify(.., 2)`, as the CLI did), so key order and number
//! formatting are V8's, byte for byte. A page that fails writes the
//! original's marker file, named by the URL's index, and the scan goes on; a
//! browser that dies is started again.
//!
//! Nothing here needs a name to resolve or a port: the protocol runs over a
//! pipe (`--remote-debugging-pipe`), not through `localhost:<port>`.
//! Container images built by buildah have an empty /etc/hosts, and a
//! DevTools port is one more socket any local process could reach.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use miniserde::json::{Number, Value, to_string};

use super::cdp::{self, Cdp, Pipes, params};
use super::memory;
use super::proxy::{Limits, Proxy};
use crate::task::{Cancel, ChildGuard, Error, Fence, Result, bounded, info, quote, warn};

/// What a scan needs from its environment.
#[derive(Clone, Debug)]
pub struct Config {
    /// chromium-headless-shell (or a Chromium that speaks the protocol over
    /// `--remote-debugging-pipe`).
    pub chromium: PathBuf,
    /// axe-core's `axe.min.js`.
    pub axe_js: PathBuf,
    pub user_agent: String,
    /// Navigation, until the load event.
    pub page_load_timeout: Duration,
    /// axe.run on one page.
    pub script_timeout: Duration,
    /// Each browser's home and profile go under here, fresh.
    pub scratch: PathBuf,
    /// Where each browser's short temp directory goes: TMPDIR, as
    /// `Env::tmp_dir` reads it (its sockets need a short path).
    pub temp_root: PathBuf,
    /// When the whole scan must end: pages not started by then are not
    /// scanned, and a page's own timeouts are cut to it.
    pub deadline: Option<Instant>,
    /// A renderer's share of the container's memory, in MiB
    /// ([`memory::Watch`]); None: no limit of ours.
    pub page_memory_mib: Option<u64>,
    /// What the browser may connect to: all it fetches goes through a
    /// proxy that applies this fence.
    pub fence: Fence,
}

/// How a scan went.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Pages with a results file.
    pub scanned: usize,
    /// Pages with an error marker.
    pub failed: usize,
    /// Browsers started (1 unless one died).
    pub browsers: usize,
    /// Pages not reached before the deadline, in order.
    pub not_scanned: Vec<String>,
}

/// Scans `urls` in order, writing one file per URL into `results_dir`.
/// Only a browser that cannot be started at all, or a cancel, is an error.
pub fn scan(cancel: &Cancel, cfg: &Config, urls: &[String], results_dir: &Path) -> Result<Summary> {
    // The browser's only way out, for the whole scan; it stops when dropped.
    let proxy = Proxy::start(&cfg.fence, Limits::default())?;
    let axe = fs::read_to_string(&cfg.axe_js)
        .map_err(|e| Error::failed(format!("cannot read axe-core from {}: {e}", cfg.axe_js.display())))?;
    fs::create_dir_all(results_dir)
        .map_err(|e| Error::failed(format!("cannot create {}: {e}", results_dir.display())))?;
    // Quoted once: it is sent to every page and frame.
    let inject = quote(&format!("{axe}\n;{CONFIGURE}"));
    let mut summary = Summary::default();
    let mut browser: Option<Browser> = None;
    for (index, url) in urls.iter().enumerate() {
        cancel.check()?;
        if cfg.deadline.is_some_and(|d| Instant::now() >= d) {
            warn!("the scan's deadline came: {} of {} pages not scanned", urls.len() - index, urls.len());
            summary.not_scanned = urls[index..].to_vec();
            break;
        }
        let started = Instant::now();
        let mut outcome = Err(PageError::Page(String::new()));
        // A second try only when the browser itself died under the first.
        for _ in 0..2 {
            let mut b = match browser.take() {
                Some(b) if b.pages < PAGES_PER_BROWSER => b,
                old => {
                    // A fresh browser now and then: whatever a browser
                    // process keeps between pages is let go.
                    if let Some(old) = old {
                        old.quit();
                    }
                    summary.browsers += 1;
                    Browser::start(cancel, cfg, summary.browsers, proxy.port())?
                }
            };
            outcome = b.scan_page(url, &inject, started);
            if let Err(PageError::BrowserGone(why)) = &outcome {
                warn!("the browser died while scanning {url} ({why}): starting a new one");
                drop(b);
                cancel.check()?;
                continue;
            }
            match b.stuck.take() {
                // It did not close the page in time: it may be busy with it
                // for good, so the next page gets a new browser.
                Some(why) => warn!("the browser did not close {url} ({why}): starting a new one"),
                None => browser = Some(b),
            }
            break;
        }
        match outcome {
            Ok(json) => {
                let path = write_results(results_dir, &json)?;
                summary.scanned += 1;
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                info!("scanned {url} in {} ms: {name}", started.elapsed().as_millis());
            }
            Err(PageError::Page(why) | PageError::Stalled(why) | PageError::BrowserGone(why)) => {
                cancel.check()?;
                warn!("cannot scan {url}: {why}");
                let path = results_dir.join(index.to_string());
                fs::write(&path, error_marker(url))
                    .map_err(|e| Error::failed(format!("cannot write {}: {e}", path.display())))?;
                summary.failed += 1;
            }
        }
    }
    if let Some(b) = browser {
        b.quit();
    }
    Ok(summary)
}

/// The original's marker for a page that could not be scanned, byte for
/// byte what Python's `json.dump([dict(url=url, error=True)], f)` wrote.
pub fn error_marker(url: &str) -> String {
    format!("[{{\"url\": {}, \"error\": true}}]", py_quote(url))
}

/// A JSON string as Python's json module writes it (ensure_ascii).
fn py_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes a results file named as the CLI named it, `axe-results-<ms>.json`
/// (a later millisecond if that name is taken).
fn write_results(dir: &Path, json: &str) -> Result<PathBuf> {
    let mut ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    loop {
        let path = dir.join(format!("axe-results-{ms}.json"));
        match fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                use std::io::Write;
                f.write_all(json.as_bytes())
                    .map_err(|e| Error::failed(format!("cannot write {}: {e}", path.display())))?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => ms += 1,
            Err(e) => return Err(Error::failed(format!("cannot write {}: {e}", path.display()))),
        }
    }
}

enum PageError {
    /// This page failed: it crashed, or axe could not run in it. The
    /// browser is fine.
    Page(String),
    /// The page did not answer a command in time: it is busy for good, and
    /// fails. The browser is fine.
    Stalled(String),
    /// The browser itself is gone or does not answer.
    BrowserGone(String),
}

impl PageError {
    /// `e`, which happened while doing `what` in the page.
    fn from_cdp(what: &str, e: cdp::Error) -> PageError {
        match e {
            cdp::Error::Gone(_) => PageError::BrowserGone(e.text()),
            cdp::Error::Timeout => PageError::Stalled(format!("{what}: {}", e.text())),
            e => PageError::Page(bounded(&format!("{what}: {}", e.text()), PAGE_ERROR_LIMIT)),
        }
    }
}

/// Configures axe-core as @axe-core/webdriverjs did: frames of any origin
/// may answer, and help URLs carry `application=webdriverjs`. Evaluated after
/// axe.min.js in each frame's own scripts' context.
const CONFIGURE: &str =
    "axe.configure({allowedOrigins: ['<unsafe_all_origins>'], branding: {application: 'webdriverjs'}});";

/// Runs axe on the document with the tags the original passed to `axe
/// --tags`; the result comes back as the CLI's file text.
const RUN: &str = "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}}) \
    .then(function (r) { return JSON.stringify([r], null, 2); }, \
          function (e) { return {axeError: String((e && e.message) || e)}; })";

/// How deep frames inside frames get axe-core, and how many of a frame's
/// own frames at most.
const FRAME_DEPTH: usize = 5;
const FRAMES_PER_FRAME: usize = 50;

/// The window chromedriver gave its headless Chromium (axe reports it as
/// `testEnvironment.windowWidth` and `windowHeight`); headless-shell's own
/// is 800×600.
const WINDOW_SIZE: &str = "--window-size=780,437";

/// How long the browser gets to answer its first command, and each command
/// that is not a page load or a script.
const START_TIMEOUT: Duration = Duration::from_secs(30);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(15);

/// How long the browser gets to close a page's context, hung renderer and
/// all, before it is taken for stuck and replaced.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Pages one browser scans before a fresh one takes over.
const PAGES_PER_BROWSER: usize = 50;

/// The isolated world axe runs in, in every frame.
const WORLD: &str = "build-task-axe";

/// One headless Chromium, driven over the DevTools protocol. Each page gets
/// a browser context of its own ([`Tab`]): its own renderer, cookies,
/// storage, cache and service workers, all thrown away with it.
struct Browser<'a> {
    cfg: &'a Config,
    cdp: Cdp,
    /// Pages opened in this browser.
    pages: usize,
    /// Set when the browser did not close a page in time: it is not given
    /// another.
    stuck: Option<String>,
    /// Stops a renderer that takes more than its share of memory.
    watch: Option<memory::Watch>,
    // Fields drop in order: the pipe closes, the browser's process group
    // dies, then its temp directory goes.
    _browser: ChildGuard,
    _tmp: RemovedDir,
}

/// One page's browser context, its tab and the session that drives it.
struct Tab {
    context: String,
    session: String,
    /// When the page's budget (load, then axe) runs out.
    deadline: Instant,
}

/// A directory removed when dropped.
struct RemovedDir(PathBuf);

impl Drop for RemovedDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

impl<'a> Browser<'a> {
    fn start(cancel: &Cancel, cfg: &'a Config, nth: usize, proxy: u16) -> Result<Browser<'a>> {
        // Everything the browser writes (profile, temp files, caches) goes
        // under the run's scratch space, which the runtime removes.
        let home = cfg.scratch.join(format!("chromium-{nth}"));
        let _ = fs::remove_dir_all(&home);
        fs::create_dir_all(&home).map_err(|e| Error::failed(format!("cannot create {}: {e}", home.display())))?;
        // Chromium's sockets live in its TMPDIR, and a socket path has at
        // most 107 bytes: a deep scratch directory would keep it from
        // starting, so its temp files get a short directory of their own
        // in ours (TMPDIR). Unique in the process: scans may run side by
        // side (tests do).
        static BROWSERS: AtomicUsize = AtomicUsize::new(0);
        let unique = BROWSERS.fetch_add(1, Ordering::Relaxed);
        let tmp = RemovedDir(cfg.temp_root.join(format!("bt-chromium-{}-{unique}", std::process::id())));
        let _ = fs::remove_dir_all(&tmp.0);
        fs::create_dir_all(&tmp.0).map_err(|e| Error::failed(format!("cannot create {}: {e}", tmp.0.display())))?;
        // Its stderr is quoted in our errors: the scratch space is gone by
        // the time anyone could read the file.
        let log = home.join("chromium.log");
        let stderr =
            fs::File::create(&log).map_err(|e| Error::failed(format!("cannot create {}: {e}", log.display())))?;
        let pipes = Pipes::new().map_err(|e| Error::failed(format!("cannot make pipes for Chromium: {e}")))?;
        let mut cmd = Command::new(&cfg.chromium);
        cmd.args([
            // The original's flags: CF tasks run as root, without a sandbox
            // (Garden's seccomp and capabilities leave Chromium none).
            "--no-sandbox",
            "--disable-setuid-sandbox",
            "--disable-dev-shm-usage",
            &format!("--user-agent={}", cfg.user_agent),
            // Nothing but the scanned site: no updates, sync or other
            // background traffic, no first-run work.
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            &format!("--user-data-dir={}", home.join("profile").display()),
            WINDOW_SIZE,
            // A page opens no windows (window.open and target=_blank fail):
            // a page that opens windows that open windows would take the
            // scan's memory and time.
            "--block-new-web-contents",
            // Frames of other sites in the page's own renderer, so that one
            // session reaches every frame.
            "--disable-site-isolation-trials",
            "--disable-features=IsolateOrigins,site-per-process",
            // The protocol over fds 3 and 4: no DevTools port, and no
            // `localhost` to resolve.
            "--remote-debugging-pipe",
            // Every request through the fence's proxy (proxy.rs), loopback
            // too (Chromium sends loopback direct unless told otherwise).
            // Each flag below was seen to matter with this Chromium (156):
            // without the bypass list, pages reached 127.0.0.2 direct;
            // without the resolver rules, an IP address bypassing the proxy
            // was connected to (with them only the proxy's 127.0.0.1
            // resolves, and no name at all: no DNS prefetch, which has no
            // switch of its own any more); without the WebRTC policy a STUN
            // request went out over UDP. QUIC cannot go through an HTTP
            // proxy; WebTransport, which ignores --disable-quic, fails with
            // one set.
            &format!("--proxy-server=http://127.0.0.1:{proxy}"),
            "--proxy-bypass-list=<-loopback>",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--disable-quic",
            "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
        ])
        // The site's scripts run in this browser, unsandboxed: it gets no
        // variable of ours (VCAP_SERVICES holds the key), only what it needs.
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", &home)
        .env("TMPDIR", &tmp.0)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
        pipes.give_to(&mut cmd);
        let mut child = cancel.spawn(&mut cmd, &cfg.chromium.display().to_string())?;
        let mut cdp =
            pipes.connect(cancel).map_err(|e| Error::failed(format!("cannot read from Chromium's pipe: {e}")))?;
        if let Err(e) = cdp.call(None, "Browser.getVersion", "{}", START_TIMEOUT) {
            cancel.check()?;
            let exited = match child.child().try_wait() {
                Ok(Some(status)) => format!(" (it exited: {status})"),
                _ => String::new(),
            };
            return Err(with_log(
                format!("Chromium did not start: Browser.getVersion failed: {}{exited}", e.text()),
                &log,
            ));
        }
        let watch = cfg.page_memory_mib.map(|mib| memory::Watch::start(child.child().id(), mib));
        Ok(Browser { cfg, cdp, pages: 0, stuck: None, watch, _browser: child, _tmp: tmp })
    }

    /// Opens `url` in a browser context of its own, injects axe-core
    /// everywhere, runs it: the results file's text. The context is closed
    /// whatever happened; a browser that does not close it within
    /// [`CLOSE_GRACE`] is marked [`Browser::stuck`].
    fn scan_page(&mut self, url: &str, inject: &str, started: Instant) -> Result<String, PageError> {
        self.pages += 1;
        let mut budget = started + self.cfg.page_load_timeout + self.cfg.script_timeout;
        if let Some(deadline) = self.cfg.deadline {
            budget = budget.min(deadline);
        }
        let tab = self.open(budget)?;
        let stopped = self.watch.as_ref().map(|w| w.stopped());
        let mut scanned = self.load_and_run(&tab, url, inject);
        if let (Err(PageError::Page(why) | PageError::Stalled(why)), Some(mib)) =
            (&mut scanned, self.cfg.page_memory_mib)
            && self.watch.as_ref().map(|w| w.stopped()) != stopped
        {
            *why = format!("the page needed more than its {mib} MiB of memory: its renderer was stopped");
        }
        let params = to_string(&params::DisposeBrowserContext { browser_context_id: &tab.context });
        match self.cdp.call(None, "Target.disposeBrowserContext", &params, CLOSE_GRACE) {
            Ok(_) => {}
            Err(e @ cdp::Error::Gone(_)) => return Err(PageError::BrowserGone(e.text())),
            Err(e) => self.stuck = Some(format!("Target.disposeBrowserContext failed: {}", e.text())),
        }
        scanned
    }

    /// A new browser context with one blank tab, attached.
    fn open(&mut self, deadline: Instant) -> Result<Tab, PageError> {
        // Events of earlier pages are of no use now.
        self.cdp.clear_events();
        // The browser answers these itself, whatever a page does: no answer
        // means the browser is not well.
        let call = |cdp: &mut Cdp, method: &str, params: &str| {
            cdp.call(None, method, params, COMMAND_TIMEOUT).map_err(|e| match e {
                cdp::Error::Cancelled => PageError::Page(e.text()),
                e => PageError::BrowserGone(format!("{method} failed: {}", e.text())),
            })
        };
        let created = call(&mut self.cdp, "Target.createBrowserContext", r#"{"disposeOnDetach":true}"#)?;
        let context = string(&created, "browserContextId")
            .ok_or_else(|| PageError::BrowserGone("it made no browser context".to_owned()))?;
        // Downloads a page starts go nowhere.
        let deny = to_string(&params::SetDownloadBehavior { browser_context_id: &context, behavior: "deny" });
        call(&mut self.cdp, "Browser.setDownloadBehavior", &deny)?;
        let blank = to_string(&params::CreateTarget { browser_context_id: &context, url: "about:blank" });
        let target = call(&mut self.cdp, "Target.createTarget", &blank)?;
        let target = string(&target, "targetId").unwrap_or_default();
        let attach = to_string(&params::AttachToTarget { target_id: &target, flatten: true });
        let session = string(&call(&mut self.cdp, "Target.attachToTarget", &attach)?, "sessionId")
            .ok_or_else(|| PageError::BrowserGone("it opened no tab".to_owned()))?;
        let tab = Tab { context, session, deadline };
        self.page(&tab, "Page.enable", "{}", COMMAND_TIMEOUT)?;
        self.page(&tab, "Page.setLifecycleEventsEnabled", r#"{"enabled":true}"#, COMMAND_TIMEOUT)?;
        Ok(tab)
    }

    /// A command to the tab, given at most `timeout` and never past the
    /// page's budget.
    fn page(&mut self, tab: &Tab, method: &str, params: &str, timeout: Duration) -> Result<Value, PageError> {
        let left = tab.deadline.saturating_duration_since(Instant::now()).min(timeout);
        self.cdp
            .call(Some(&tab.session), method, params, left)
            .map_err(|e| PageError::from_cdp(&format!("{method} failed"), e))
    }

    fn load_and_run(&mut self, tab: &Tab, url: &str, inject: &str) -> Result<String, PageError> {
        let load = self.cfg.page_load_timeout;
        let loaded_by = (Instant::now() + load).min(tab.deadline);
        let nav = self.page(tab, "Page.navigate", &to_string(&params::Navigate { url }), load)?;
        if let Some(e) = string(&nav, "errorText") {
            return Err(PageError::Page(format!("cannot load the page: {e}")));
        }
        // No loader for a navigation within the document: nothing to wait for.
        if let Some(loader) = string(&nav, "loaderId") {
            self.wait_for_load(tab, &loader, loaded_by)?;
        }
        let world = self.inject(tab, inject)?;
        let run = format!(
            "{{\"expression\":{},\"contextId\":{world},\"awaitPromise\":true,\"returnByValue\":true}}",
            quote(RUN)
        );
        let ran = self.page(tab, "Runtime.evaluate", &run, self.cfg.script_timeout).map_err(|e| match e {
            PageError::Stalled(_) => {
                PageError::Page(format!("axe did not finish within {} s", self.cfg.script_timeout.as_secs()))
            }
            e => e,
        });
        match evaluated(ran?) {
            Ok(Value::String(json)) => Ok(json),
            Ok(other) => Err(PageError::Page(match string(&other, "axeError") {
                Some(e) => bounded(&format!("axe failed: {e}"), PAGE_ERROR_LIMIT),
                None => "axe returned no result".to_owned(),
            })),
            Err(e) => Err(PageError::Page(bounded(&format!("axe failed: {e}"), PAGE_ERROR_LIMIT))),
        }
    }

    /// Waits for the `load` of the document `loader` brings, as
    /// chromedriver's page load strategy `normal` did.
    fn wait_for_load(&mut self, tab: &Tab, loader: &str, deadline: Instant) -> Result<(), PageError> {
        loop {
            let event = match self.cdp.event(deadline) {
                Ok(event) => event,
                Err(cdp::Error::Timeout) => {
                    let secs = self.cfg.page_load_timeout.as_secs();
                    return Err(PageError::Page(format!("the page did not load within {secs} s")));
                }
                Err(e) => return Err(PageError::from_cdp("the page did not load", e)),
            };
            if event.session.as_deref() != Some(tab.session.as_str()) {
                continue;
            }
            match event.method.as_str() {
                "Inspector.targetCrashed" => return Err(PageError::Page(cdp::Error::Crashed.text())),
                "Page.lifecycleEvent"
                    if string(&event.params, "name").as_deref() == Some("load")
                        && string(&event.params, "loaderId").as_deref() == Some(loader) =>
                {
                    return Ok(());
                }
                _ => {}
            }
        }
    }

    /// Evaluates axe-core and [`CONFIGURE`] in an isolated world of the
    /// page and of its frames, of any origin, [`FRAME_DEPTH`] levels down:
    /// the page's scripts share the DOM with axe but not its JavaScript
    /// (no patched `JSON.stringify`, `Array.prototype.toJSON` or `axe` of
    /// theirs reaches it). A frame that cannot take it (it navigated away,
    /// it is gone) is left out; the page must. Returns the page's world.
    fn inject(&mut self, tab: &Tab, inject: &str) -> Result<u64, PageError> {
        let tree = self.page(tab, "Page.getFrameTree", "{}", COMMAND_TIMEOUT)?;
        let mut frames = Vec::new();
        if let Some(root) = field(&tree, "frameTree") {
            frame_ids(root, 0, &mut frames);
        }
        let mut top = None;
        for (n, frame) in frames.iter().enumerate() {
            let isolated = to_string(&params::CreateIsolatedWorld { frame_id: frame, world_name: WORLD });
            let world =
                self.page(tab, "Page.createIsolatedWorld", &isolated, COMMAND_TIMEOUT).and_then(|w| {
                    match field(&w, "executionContextId") {
                        Some(Value::Number(Number::U64(id))) => Ok(*id),
                        _ => Err(PageError::Page("it gave no isolated world".to_owned())),
                    }
                });
            let done = world.and_then(|world| {
                let params = format!("{{\"expression\":{inject},\"contextId\":{world},\"returnByValue\":true}}");
                let answer = self.page(tab, "Runtime.evaluate", &params, COMMAND_TIMEOUT)?;
                evaluated(answer).map(|_| world).map_err(|e| PageError::Page(bounded(&e, PAGE_ERROR_LIMIT)))
            });
            match done {
                Ok(world) if n == 0 => top = Some(world),
                Ok(_) => {}
                // A page that does not answer in time will not answer axe.
                Err(PageError::Page(why)) if n == 0 => {
                    return Err(PageError::Page(format!("cannot inject axe-core: {why}")));
                }
                Err(PageError::Stalled(why)) => return Err(PageError::Page(format!("cannot inject axe-core: {why}"))),
                Err(PageError::Page(why)) => warn!("cannot inject axe-core into a frame: {why}"),
                Err(gone) => return Err(gone),
            }
        }
        top.ok_or_else(|| PageError::Page("the page has no frame to run axe in".to_owned()))
    }

    /// Asks the browser to close; its process group is stopped when the
    /// guard drops.
    fn quit(mut self) {
        let _ = self.cdp.call(None, "Browser.close", "{}", Duration::from_secs(5));
    }
}

/// The frame ids of `node` (a `Page.FrameTree`) and its frames, parents
/// first.
fn frame_ids(node: &Value, depth: usize, out: &mut Vec<String>) {
    if let Some(id) = field(node, "frame").and_then(|f| string(f, "id")) {
        out.push(id);
    }
    if depth == FRAME_DEPTH {
        return;
    }
    if let Some(Value::Array(children)) = field(node, "childFrames") {
        for child in children.iter().take(FRAMES_PER_FRAME) {
            frame_ids(child, depth + 1, out);
        }
    }
}

/// A `Runtime.evaluate` answer's value, or its exception's text.
fn evaluated(mut answer: Value) -> std::result::Result<Value, String> {
    if let Some(details) = field(&answer, "exceptionDetails") {
        let thrown = field(details, "exception").and_then(|e| string(e, "description"));
        return Err(thrown.or_else(|| string(details, "text")).unwrap_or_else(|| "an exception".to_owned()));
    }
    let result = match &mut answer {
        Value::Object(o) => o.remove("result"),
        _ => None,
    };
    Ok(match result {
        Some(Value::Object(mut o)) => o.remove("value").unwrap_or(Value::Null),
        _ => Value::Null,
    })
}

fn field<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    match v {
        Value::Object(o) => o.get(key),
        _ => None,
    }
}

fn string(v: &Value, key: &str) -> Option<String> {
    match field(v, key) {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    }
}

/// How much of an error message a page's warning keeps, and how much of
/// the browser's output a start error: together they stay inside the 4 KiB
/// of an error status.
const PAGE_ERROR_LIMIT: usize = 1024;
const LOG_LINES: usize = 20;
const LOG_LIMIT: usize = 2048;

/// A failed start, with the end of Chromium's stderr when there is one.
fn with_log(message: impl Into<String>, log: &Path) -> Error {
    let message = message.into();
    match log_tail(log) {
        Some(tail) => Error::failed(format!("{message}\nthe end of Chromium's output:\n{tail}")),
        None => Error::failed(message),
    }
}

/// The last [`LOG_LINES`] lines of the log, at most [`LOG_LIMIT`] bytes
/// (whole lines where it can), or None when it is missing or empty.
fn log_tail(path: &Path) -> Option<String> {
    let mut file = fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    // Lines are short but a few, such as the capabilities, are long: four
    // times the limit is enough to end with whole lines.
    let from = len.saturating_sub(4 * LOG_LIMIT as u64);
    file.seek(SeekFrom::Start(from)).ok()?;
    let mut bytes = Vec::new();
    file.take(4 * LOG_LIMIT as u64).read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.trim_end().lines().collect();
    // A read from the middle of the file starts in the middle of a line.
    let whole = if from > 0 && lines.len() > 1 { &lines[1..] } else { &lines[..] };
    let tail = whole[whole.len().saturating_sub(LOG_LINES)..].join("\n");
    let mut start = tail.len().saturating_sub(LOG_LIMIT);
    while !tail.is_char_boundary(start) {
        start += 1;
    }
    let cut = &tail[start..];
    let cut = match (start, cut.split_once('\n')) {
        (0, _) => cut,
        (_, Some((_, rest))) if !rest.is_empty() => rest,
        _ => cut,
    };
    (!cut.trim().is_empty()).then(|| cut.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_marker_is_what_pythons_json_dump_wrote() {
        assert_eq!(
            error_marker("http://127.0.0.1:8723/offline.html"),
            r#"[{"url": "http://127.0.0.1:8723/offline.html", "error": true}]"#
        );
        assert_eq!(
            error_marker("https://x.gov/é\"😀"),
            r#"[{"url": "https://x.gov/\u00e9\"\ud83d\ude00", "error": true}]"#
        );
    }

    #[test]
    fn results_files_never_overwrite_each_other() {
        let dir = std::env::temp_dir().join(format!("bt-a11y-results-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let a = write_results(&dir, "[1]").unwrap();
        let b = write_results(&dir, "[2]").unwrap();
        assert_ne!(a, b);
        let name = a.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("axe-results-1") && name.ends_with(".json"), "{name}");
        assert_eq!(fs::read_to_string(&b).unwrap(), "[2]");
        fs::remove_dir_all(&dir).unwrap();
    }

    fn json(text: &str) -> Value {
        miniserde::json::from_str(text).unwrap()
    }

    #[test]
    fn frames_are_listed_parents_first_five_levels_down() {
        let mut tree = r#"{"frame":{"id":"F6"}}"#.to_owned();
        for depth in (0..6).rev() {
            tree = format!(r#"{{"frame":{{"id":"F{depth}"}},"childFrames":[{tree},{{"frame":{{"id":"S{depth}"}}}}]}}"#);
        }
        let mut ids = Vec::new();
        frame_ids(&json(&tree), 0, &mut ids);
        assert_eq!(ids, ["F0", "F1", "F2", "F3", "F4", "F5", "S4", "S3", "S2", "S1", "S0"]);
    }

    #[test]
    fn an_evaluation_is_its_value_or_its_exception() {
        let ok = evaluated(json(r#"{"result":{"type":"string","value":"[]"}}"#)).unwrap();
        assert!(matches!(ok, Value::String(s) if s == "[]"));
        let thrown = r#"{"result":{"type":"object"},"exceptionDetails":{"text":"Uncaught",
            "exception":{"description":"ReferenceError: axe is not defined"}}}"#;
        assert_eq!(evaluated(json(thrown)).unwrap_err(), "ReferenceError: axe is not defined");
        assert_eq!(evaluated(json(r#"{"exceptionDetails":{"text":"Uncaught"}}"#)).unwrap_err(), "Uncaught");
    }

    #[test]
    fn the_log_tail_is_the_last_twenty_whole_lines_within_two_kib() {
        let dir = std::env::temp_dir().join(format!("bt-a11y-log-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let log = dir.join("chromium.log");
        assert_eq!(log_tail(&log), None, "no log");
        fs::write(&log, "").unwrap();
        assert_eq!(log_tail(&log), None, "an empty log");
        fs::write(&log, "[1.0][INFO]: one\n[2.0][SEVERE]: two\n").unwrap();
        assert_eq!(log_tail(&log).unwrap(), "[1.0][INFO]: one\n[2.0][SEVERE]: two");
        let lines: Vec<String> = (0..5000).map(|i| format!("[{i}.0][INFO]: line {i}")).collect();
        fs::write(&log, lines.join("\n")).unwrap();
        assert_eq!(log_tail(&log).unwrap(), lines[4980..].join("\n"));
        let wide: Vec<String> = (0..100).map(|i| format!("{i:03} {}", "é".repeat(200))).collect();
        fs::write(&log, wide.join("\n") + "\n").unwrap();
        let tail = log_tail(&log).unwrap();
        assert!(tail.len() <= LOG_LIMIT, "{}", tail.len());
        assert!(tail.starts_with(&wide[95][..4]) && tail.ends_with(&wide[99]), "whole lines: {}", &tail[..10]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
