//! The scan: axe-core in one headless Chromium, page after page.
//!
//! The original started the @axe-core/cli (Node, Selenium and a fresh Chrome)
//! once per URL. Here chromedriver runs as our child and one WebDriver
//! session serves the whole scan, driven over its HTTP API with the shared
//! agent. For each URL: navigate, inject axe.min.js into the page and its
//! frames, run axe with the original's WCAG tags, and write what the CLI
//! wrote: `axe-results-<ms>.json`, a pretty-printed array holding the one
//! result. The browser serialises the result itself (`JSON.stringify(.., 2)`,
//! as the CLI did), so key order and number formatting are V8's, byte for
//! byte. A page that fails writes the original's marker file, named by the
//! URL's index, and the scan goes on; a browser that dies is started again.
//!
//! Nothing here needs a name to resolve: chromedriver picks its own loopback
//! port and says which on stdout, we reach it at 127.0.0.1, and it talks to
//! Chromium over a pipe (`--remote-debugging-pipe`), not through
//! `localhost:<port>`. Container images built by buildah have an empty
//! /etc/hosts, and a DevTools port is one more socket any local process
//! could reach.

use std::fs;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use miniserde::json::Value;
use ureq::Agent;

use crate::cancel::{Cancel, ChildGuard};
use crate::error::{Error, Result};
use crate::json::quote;
use crate::{info, warn};

/// The tags the original passed to `axe --tags`.
pub const TAGS: [&str; 5] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"];

/// What a scan needs from its environment.
#[derive(Clone, Debug)]
pub struct Config {
    pub chromedriver: PathBuf,
    pub chromium: PathBuf,
    /// axe-core's `axe.min.js`.
    pub axe_js: PathBuf,
    pub user_agent: String,
    /// Navigation, until the load event.
    pub page_load_timeout: Duration,
    /// axe.run on one page.
    pub script_timeout: Duration,
    /// Each browser's home, temp files and profile go under here, fresh.
    pub scratch: PathBuf,
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
}

/// Scans `urls` in order, writing one file per URL into `results_dir`.
/// Only a browser that cannot be started at all, or a cancel, is an error.
pub fn scan(http: &Agent, cancel: &Cancel, cfg: &Config, urls: &[String], results_dir: &Path) -> Result<Summary> {
    let axe = fs::read_to_string(&cfg.axe_js)
        .map_err(|e| Error::failed(format!("cannot read axe-core from {}: {e}", cfg.axe_js.display())))?;
    fs::create_dir_all(results_dir)
        .map_err(|e| Error::failed(format!("cannot create {}: {e}", results_dir.display())))?;
    // Quoted once: it is sent with every page.
    let axe = quote(&axe);
    let mut summary = Summary::default();
    let mut browser: Option<Browser> = None;
    for (index, url) in urls.iter().enumerate() {
        cancel.check()?;
        let started = Instant::now();
        let mut outcome = Err(PageError::Page(String::new()));
        // A second try only when the browser died under the first.
        for _ in 0..2 {
            let b = match browser.take() {
                Some(b) => b,
                None => {
                    summary.browsers += 1;
                    Browser::start(http, cancel, cfg, summary.browsers)?
                }
            };
            outcome = b.scan_page(url, &axe);
            match &outcome {
                Err(PageError::BrowserGone(why)) => {
                    warn!("the browser died while scanning {url} ({why}): starting a new one");
                    drop(b);
                    cancel.check()?;
                }
                _ => {
                    browser = Some(b);
                    break;
                }
            }
        }
        match outcome {
            Ok(json) => {
                let path = write_results(results_dir, &json)?;
                summary.scanned += 1;
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                info!("scanned {url} in {} ms: {name}", started.elapsed().as_millis());
            }
            Err(PageError::Page(why) | PageError::BrowserGone(why)) => {
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
    /// This page failed; the browser is fine.
    Page(String),
    /// The browser or its driver is gone.
    BrowserGone(String),
}

/// Evaluates axe-core in the current frame's global scope and in every
/// same-origin frame below it, configures it as @axe-core/webdriverjs did
/// (frames of any origin may answer; help URLs carry
/// `application=webdriverjs`), and returns the indexes of the child frames
/// it could not reach (cross-origin ones), for the driver to enter.
const INJECT: &str = "var src = arguments[0]; \
    function inject(w, depth) { \
      w.eval(src); \
      w.axe.configure({allowedOrigins: ['<unsafe_all_origins>'], branding: {application: 'webdriverjs'}}); \
      var missed = []; \
      for (var i = 0; i < w.frames.length && depth < 5; i++) { \
        try { inject(w.frames[i], depth + 1); } catch (e) { missed.push(i); } \
      } \
      return missed; \
    } \
    return inject(window, 0);";

/// chromedriver marks each frame it entered with an attribute; axe would
/// report it in the frame's HTML, where the CLI showed none.
const UNMARK: &str =
    "document.querySelectorAll('[cd_frame_id_]').forEach(function (e) { e.removeAttribute('cd_frame_id_'); });";

/// Runs axe on the document; the result comes back as the CLI's file text.
const RUN: &str = "var done = arguments[arguments.length - 1]; \
    axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}}) \
    .then(function (r) { done(JSON.stringify([r], null, 2)); }, \
          function (e) { done({axeError: String((e && e.message) || e)}); });";

/// How deep frames inside frames get axe-core.
const FRAME_DEPTH: usize = 3;

/// chromedriver, one headless Chromium, one WebDriver session.
struct Browser<'a> {
    http: &'a Agent,
    cfg: &'a Config,
    base: String,
    session: String,
    // Fields drop in order: the driver's process group dies, then its
    // temp directory goes.
    _driver: ChildGuard,
    _tmp: RemovedDir,
}

/// A directory removed when dropped.
struct RemovedDir(PathBuf);

impl Drop for RemovedDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

impl<'a> Browser<'a> {
    fn start(http: &'a Agent, cancel: &Cancel, cfg: &'a Config, nth: usize) -> Result<Browser<'a>> {
        // Everything the browser writes (profile, temp files, caches) goes
        // under the run's scratch space, which the runtime removes.
        let home = cfg.scratch.join(format!("chromium-{nth}"));
        let _ = fs::remove_dir_all(&home);
        fs::create_dir_all(&home).map_err(|e| Error::failed(format!("cannot create {}: {e}", home.display())))?;
        // Chromium's sockets live in its TMPDIR, and a socket path has at
        // most 107 bytes: a deep scratch directory would keep it from
        // starting, so its temp files get a short directory of their own.
        // Unique in the process: scans may run side by side (tests do).
        static BROWSERS: AtomicUsize = AtomicUsize::new(0);
        let unique = BROWSERS.fetch_add(1, Ordering::Relaxed);
        let tmp = RemovedDir(PathBuf::from(format!("/tmp/build-task-chromium-{}-{unique}", std::process::id())));
        let _ = fs::remove_dir_all(&tmp.0);
        fs::create_dir_all(&tmp.0).map_err(|e| Error::failed(format!("cannot create {}: {e}", tmp.0.display())))?;
        // The log is quoted in our errors: the scratch space is gone by the
        // time anyone could read the file. Warnings and errors only: at
        // INFO it holds every command's arguments whole, axe.min.js (570 KB)
        // for every page and frame.
        let log = home.join("chromedriver.log");
        // Without --allowed-ips chromedriver listens on 127.0.0.1 and ::1
        // only (with it, on every address, checking peers against the list).
        let mut driver = cancel
            .spawn(
                Command::new(&cfg.chromedriver)
                    .arg("--port=0")
                    .arg(format!("--log-path={}", log.display()))
                    .arg("--log-level=WARNING")
                    .env("HOME", &home)
                    .env("TMPDIR", &tmp.0)
                    .env("XDG_CONFIG_HOME", home.join(".config"))
                    .env("XDG_CACHE_HOME", home.join(".cache"))
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null()),
            )
            .map_err(|e| Error::failed(format!("cannot start {}: {e}", cfg.chromedriver.display())))?;
        let reported = report_port(&mut driver)?;
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = loop {
            cancel.check()?;
            if let Ok(Some(status)) = driver.child().try_wait() {
                return Err(with_log(format!("chromedriver exited at start ({status})"), &log));
            }
            let said = reported.load(Ordering::Acquire);
            if let Ok(port @ 1..) = u16::try_from(said) {
                break port;
            }
            if Instant::now() > deadline {
                // Its stdout closed without a port: it was on its way out.
                let why = if said == CLOSED { "closed its output" } else { "did not say within 20 s" };
                return Err(with_log(format!("chromedriver did not report its port: it {why}"), &log));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let base = format!("http://127.0.0.1:{port}");
        loop {
            cancel.check()?;
            if let Ok(Some(status)) = driver.child().try_wait() {
                return Err(with_log(format!("chromedriver exited at start ({status})"), &log));
            }
            let ready = http
                .get(format!("{base}/status"))
                .config()
                .timeout_global(Some(Duration::from_secs(2)))
                .build()
                .call()
                .is_ok_and(|r| r.status().as_u16() == 200);
            if ready {
                break;
            }
            if Instant::now() > deadline {
                return Err(with_log(format!("chromedriver did not answer on port {port} within 20 s"), &log));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = home.join("profile");
        let args = [
            "--headless=new".to_owned(),
            // The original's flags: CF tasks run as root, without a sandbox.
            "--no-sandbox".to_owned(),
            "--disable-setuid-sandbox".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            format!("--user-agent={}", cfg.user_agent),
            // Nothing but the scanned site: no updates, sync or other
            // background traffic, no first-run work.
            "--disable-gpu".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--no-first-run".to_owned(),
            format!("--user-data-dir={}", profile.display()),
            // chromedriver talks to Chromium over a pipe: no DevTools port,
            // and no `localhost` to resolve.
            "--remote-debugging-pipe".to_owned(),
        ];
        let args: Vec<String> = args.iter().map(|a| quote(a)).collect();
        let body = format!(
            "{{\"capabilities\":{{\"alwaysMatch\":{{\"browserName\":\"chrome\",\"pageLoadStrategy\":\"normal\",\
             \"unhandledPromptBehavior\":\"dismiss\",\"timeouts\":{{\"pageLoad\":{},\"script\":{}}},\
             \"goog:chromeOptions\":{{\"binary\":{},\"args\":[{}]}}}}}}}}",
            cfg.page_load_timeout.as_millis(),
            cfg.script_timeout.as_millis(),
            quote(&cfg.chromium.to_string_lossy()),
            args.join(",")
        );
        // Over the pipe, chromedriver notices a Chromium that died silently
        // only at its browser start time-out (60 s): ours is longer, so
        // its answer arrives.
        let value = send(http, "POST", &format!("{base}/session"), Some(&body), Duration::from_secs(90))
            .map_err(|e| with_log(format!("cannot start a Chromium session: {}", e.text()), &log))?;
        let session = match field(&value, "sessionId") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(with_log("cannot start a Chromium session: chromedriver sent no session id", &log)),
        };
        Ok(Browser { http, cfg, base, session, _driver: driver, _tmp: tmp })
    }

    fn cmd(&self, method: &str, path: &str, body: Option<&str>, timeout: Duration) -> Result<Value, PageError> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        send(self.http, method, &url, body, timeout)
            .map_err(|e| if e.browser_gone() { PageError::BrowserGone(e.text()) } else { PageError::Page(e.text()) })
    }

    /// Navigates, injects axe-core everywhere, runs it: the results file's text.
    fn scan_page(&self, url: &str, axe: &str) -> Result<String, PageError> {
        let margin = Duration::from_secs(15);
        self.cmd("POST", "/url", Some(&format!("{{\"url\":{}}}", quote(url))), self.cfg.page_load_timeout + margin)?;
        let inject = format!("{{\"script\":{},\"args\":[{axe}]}}", quote(INJECT));
        let missed = self.cmd("POST", "/execute/sync", Some(&inject), margin)?;
        let missed = indexes(&missed);
        if !missed.is_empty() {
            self.inject_frames(&missed, &inject, FRAME_DEPTH)?;
            let unmark = format!("{{\"script\":{},\"args\":[]}}", quote(UNMARK));
            self.cmd("POST", "/execute/sync", Some(&unmark), margin)?;
        }
        let run = format!("{{\"script\":{},\"args\":[]}}", quote(RUN));
        match self.cmd("POST", "/execute/async", Some(&run), self.cfg.script_timeout + margin)? {
            Value::String(json) => Ok(json),
            other => Err(PageError::Page(match field(&other, "axeError") {
                Some(Value::String(e)) => format!("axe failed: {e}"),
                _ => "axe returned no result".to_owned(),
            })),
        }
    }

    /// Gives axe-core to the child frames at `frames` of the current frame
    /// (cross-origin ones, which the page's script cannot reach), and to
    /// theirs, `depth` levels down, coming back each time. A frame that
    /// cannot take it (it navigated away, it is gone) is left out.
    fn inject_frames(&self, frames: &[usize], inject: &str, depth: usize) -> Result<(), PageError> {
        let t = Duration::from_secs(15);
        if depth == 0 {
            return Ok(());
        }
        for i in frames.iter().take(50) {
            match self.cmd("POST", "/frame", Some(&format!("{{\"id\":{i}}}")), t) {
                Ok(_) => {}
                Err(PageError::Page(_)) => continue,
                Err(gone) => return Err(gone),
            }
            match self.cmd("POST", "/execute/sync", Some(inject), t) {
                Ok(missed) => self.inject_frames(&indexes(&missed), inject, depth - 1)?,
                Err(PageError::Page(why)) => warn!("cannot inject axe-core into a frame: {why}"),
                Err(gone) => return Err(gone),
            }
            self.cmd("POST", "/frame/parent", Some("{}"), t)?;
        }
        Ok(())
    }

    /// Ends the session so Chromium exits on its own; the driver's process
    /// group is stopped when the guard drops.
    fn quit(self) {
        let _ = send(
            self.http,
            "DELETE",
            &format!("{}/session/{}", self.base, self.session),
            None,
            Duration::from_secs(10),
        );
    }
}

/// A failed WebDriver call.
enum WdError {
    /// No answer: the driver is gone or hung.
    Transport(String),
    /// The driver answered with a WebDriver error.
    Driver { error: String, message: String },
}

impl WdError {
    fn text(&self) -> String {
        match self {
            WdError::Transport(e) => format!("chromedriver did not answer: {e}"),
            WdError::Driver { error, message } => {
                let message = driver_message(message);
                let text = if message.is_empty() {
                    error.clone()
                } else if message.starts_with(error.as_str()) {
                    message
                } else {
                    format!("{error}: {message}")
                };
                bounded(&text, MESSAGE_LIMIT)
            }
        }
    }

    /// Errors after which this session cannot go on.
    fn browser_gone(&self) -> bool {
        match self {
            WdError::Transport(_) => true,
            WdError::Driver { error, message } => {
                error == "invalid session id"
                    || error == "session not created"
                    || [
                        "chrome not reachable",
                        "disconnected",
                        "tab crashed",
                        "session deleted",
                        "target window already closed",
                    ]
                    .iter()
                    .any(|m| message.contains(m))
            }
        }
    }
}

/// One WebDriver request; the answer's `value`.
fn send(http: &Agent, method: &str, url: &str, body: Option<&str>, timeout: Duration) -> Result<Value, WdError> {
    let transport = |e: ureq::Error| WdError::Transport(e.to_string());
    let response = match (method, body) {
        ("POST", Some(body)) => http
            .post(url)
            .header("Content-Type", "application/json; charset=utf-8")
            .config()
            .timeout_global(Some(timeout))
            .build()
            .send(body.as_bytes())
            .map_err(transport)?,
        ("DELETE", _) => http.delete(url).config().timeout_global(Some(timeout)).build().call().map_err(transport)?,
        _ => http.get(url).config().timeout_global(Some(timeout)).build().call().map_err(transport)?,
    };
    let status = response.status().as_u16();
    let text = response.into_body().with_config().limit(256 * 1024 * 1024).read_to_string().map_err(transport)?;
    let value = match miniserde::json::from_str::<Value>(&text) {
        Ok(Value::Object(mut o)) => o.remove("value").unwrap_or(Value::Null),
        _ => return Err(WdError::Transport(format!("an answer that is not a WebDriver JSON object (HTTP {status})"))),
    };
    if status == 200 {
        return Ok(value);
    }
    let text_of = |k: &str| match field(&value, k) {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    Err(WdError::Driver { error: text_of("error"), message: text_of("message") })
}

fn field<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    match v {
        Value::Object(o) => o.get(key),
        _ => None,
    }
}

/// A JSON array of frame indexes.
fn indexes(v: &Value) -> Vec<usize> {
    match v {
        Value::Array(a) => a
            .iter()
            .filter_map(|n| match n {
                Value::Number(n) => n.to_string().parse::<usize>().ok(),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// What [`report_port`] holds once chromedriver's stdout closed without a
/// port (0 until then, the port once it is known).
const CLOSED: u32 = u32::MAX;

/// Reads chromedriver's stdout until it is closed, on a thread of its own so
/// the pipe never fills: the port from the line `ChromeDriver was started
/// successfully on port N.` is kept; the rest (its banner, anything Chromium
/// prints, since Chromium inherits the pipe) is dropped.
fn report_port(driver: &mut ChildGuard) -> Result<Arc<AtomicU32>> {
    let stdout = driver
        .child()
        .stdout
        .take()
        .ok_or_else(|| Error::failed("cannot read chromedriver's output: it has no pipe"))?;
    let reported = Arc::new(AtomicU32::new(0));
    let port = reported.clone();
    std::thread::Builder::new()
        .name("chromedriver-stdout".to_owned())
        .spawn(move || {
            for line in BufReader::new(stdout).split(b'\n') {
                let Ok(line) = line else { break };
                if let Some(p) = reported_port(&String::from_utf8_lossy(&line)) {
                    let _ = port.compare_exchange(0, u32::from(p), Ordering::AcqRel, Ordering::Acquire);
                }
            }
            let _ = port.compare_exchange(0, CLOSED, Ordering::AcqRel, Ordering::Acquire);
        })
        .map_err(|e| Error::failed(format!("cannot read chromedriver's output: {e}")))?;
    Ok(reported)
}

/// The port in chromedriver's `ChromeDriver was started successfully on
/// port 41969.`
fn reported_port(line: &str) -> Option<u16> {
    let (_, rest) = line.split_once("started successfully on port ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().filter(|p| *p != 0)
}

/// chromedriver's `message`, one line: the error, then each cause
/// (`from disconnected: …`) after `: `, and details in parentheses
/// (`(Session info: …)`) after a space.
fn driver_message(message: &str) -> String {
    let mut out = String::new();
    for line in message.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !out.is_empty() {
            out.push_str(if line.starts_with('(') { " " } else { ": " });
        }
        out.push_str(line);
    }
    out
}

/// How much of chromedriver's message an error keeps, and how much of its
/// log: together they stay inside the 4 KiB of an error status.
const MESSAGE_LIMIT: usize = 1024;
const LOG_LINES: usize = 20;
const LOG_LIMIT: usize = 2048;

/// `text`, cut to at most `limit` bytes on a character boundary.
fn bounded(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// A failed start, with the end of chromedriver's log when there is one.
fn with_log(message: impl Into<String>, log: &Path) -> Error {
    let message = message.into();
    match log_tail(log) {
        Some(tail) => Error::failed(format!("{message}\nthe end of chromedriver's log:\n{tail}")),
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

    #[test]
    fn the_port_is_read_from_the_line_saying_chromedriver_started() {
        assert_eq!(reported_port("ChromeDriver was started successfully on port 41969."), Some(41969));
        assert_eq!(reported_port("ChromeDriver was started successfully on port 41969"), Some(41969));
        assert_eq!(reported_port("Starting ChromeDriver 156.0.8078.114 (ea19f97) on port 0"), None);
        assert_eq!(reported_port("ChromeDriver was started successfully on port 0."), None);
        assert_eq!(reported_port("ChromeDriver was started successfully on port 99999."), None);
    }

    #[test]
    fn a_driver_error_keeps_every_line_of_chromedrivers_message() {
        let e = |error: &str, message: &str| WdError::Driver { error: error.into(), message: message.into() }.text();
        assert_eq!(
            e("session not created", "session not created\nfrom disconnected: unable to connect to renderer"),
            "session not created: from disconnected: unable to connect to renderer"
        );
        assert_eq!(
            e(
                "session not created",
                "session not created: Chrome failed to start: exited abnormally.\n  (timeout: Timed out receiving message \
                 from renderer: 60.000)\n  (The process started from chrome location /bin/false is no longer running)"
            ),
            "session not created: Chrome failed to start: exited abnormally. (timeout: Timed out receiving message from \
             renderer: 60.000) (The process started from chrome location /bin/false is no longer running)"
        );
        assert_eq!(e("tab crashed", "tab crashed"), "tab crashed");
        assert_eq!(e("unknown error", "net::ERR_CONNECTION_REFUSED"), "unknown error: net::ERR_CONNECTION_REFUSED");
        assert_eq!(e("no such frame", ""), "no such frame");
        let long = e("unknown error", &"é".repeat(2000));
        assert!(long.len() <= MESSAGE_LIMIT && long.ends_with('…'), "{}", long.len());
    }

    #[test]
    fn the_log_tail_is_the_last_twenty_whole_lines_within_two_kib() {
        let dir = std::env::temp_dir().join(format!("bt-a11y-log-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let log = dir.join("chromedriver.log");
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
