//! The `a11y` task: crawl the built site, scan each page with axe-core in
//! headless Chromium, and write the report pages-core shows.
//!
//! Three steps, one module each: [`crawl`] finds the pages (at most
//! [`URL_LIMIT`]), [`scan`] writes one axe results file per page into a
//! results directory, and [`report`] turns that directory into `index.json`
//! and one JSON file per page in the artifact, as the original Node reporter
//! did. The user agent for both the crawler and the browser is the
//! `user-agent` user-provided service's `USER_AGENT`, as in the original.
//! Both reach the site only through the run's fence (src/fence.rs): the
//! crawler through its resolver, the browser through [`proxy`].

mod cdp;
pub mod crawl;
mod proxy;
pub mod report;
pub mod scan;

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::task::{Check, Context, Env, Error, Outcome, Result, SITE_SCAN_FLAGS, Task, info, version_line};

/// The original scanned at most this many pages: the first and a random
/// sample of the rest.
pub const URL_LIMIT: usize = 400;

/// The user agent of a local run (no DEPLOY_ENV, no `user-agent` service).
pub const DEFAULT_USER_AGENT: &str = concat!("cloudgovpagescrawler/", env!("CARGO_PKG_VERSION"), " (build-task)");

/// Where Debian's chromium-headless-shell package puts the browser.
pub const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium-headless-shell";

/// Where build.sh puts axe-core.
pub const DEFAULT_AXE_JS: &str = "/usr/local/lib/axe-core/axe.min.js";

/// The axe-core build.sh pins, and the SHA-256 of its axe.min.js (the
/// package's integrity is checked at build time; this is the file's).
pub const AXE_VERSION: &str = "4.13.0";
const AXE_JS_SHA256: &str = "c24f097bd2f451d4f933e8bc7d8d539f8672a2ebcb5cc9f9f3eec8ca9470a0c1";

pub const TASK: Task = Task {
    name: "a11y",
    about: "Crawl the site, scan every page with axe-core in headless Chromium, report WCAG violations.",
    flags: SITE_SCAN_FLAGS,
    run,
    doctor,
};

fn run(ctx: &Context) -> Result<Outcome> {
    // Every input and setting is checked before any work.
    let site = ctx.site()?;
    let user_agent = ctx.site_user_agent(DEFAULT_USER_AGENT)?;
    let fence = ctx.fence(&site.target)?;
    let settings = Settings::from_env(&ctx.env)?;
    let opts = crawl::Options::from_env(&ctx.env, &user_agent)?;
    let results_dir = settings.results_dir.clone().unwrap_or_else(|| ctx.work_dir.join("results"));
    // The report reads every file there: old results would join this run's.
    if std::fs::read_dir(&results_dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(Error::usage(format!("the results directory {} is not empty", results_dir.display())));
    }

    // What the scan needs, before the crawl spends its time.
    for (what, present) in [("axe-core", settings.check_axe_js()), ("Chromium", settings.check_chromium())] {
        present.map_err(|why| Error::failed(format!("{what} is {why}")))?;
    }

    let found = crawl::crawl(&ctx.http, &fence, &site.target, &opts, &ctx.cancel)?;
    if found.pages.is_empty() {
        return Err(Error::failed("0 urls found"));
    }
    info!("{} urls found", found.pages.len());
    if found.pages.len() > URL_LIMIT {
        info!("limiting scanning to {URL_LIMIT} urls");
    }
    let urls = crawl::sample(found.pages, URL_LIMIT);

    let cfg = scan::Config {
        chromium: settings.chromium,
        axe_js: settings.axe_js,
        user_agent,
        page_load_timeout: settings.page_timeout,
        script_timeout: settings.page_timeout * 2,
        scratch: ctx.work_dir.clone(),
        deadline: None,
        fence,
    };
    let summary = scan::scan(&ctx.cancel, &cfg, &urls, &results_dir)?;
    info!("scanned {} pages, {} failed, {} browser(s)", summary.scanned, summary.failed, summary.browsers);
    ctx.cancel.check()?;

    let count = report::generate(&results_dir, &ctx.out_dir, site.target.as_str(), &site.rules)
        .map_err(|e| e.context("cannot write the report"))?;
    Ok(Outcome { message: None, count })
}

fn doctor(env: &Env) -> Vec<Check> {
    let settings = match Settings::from_env(env).and_then(|s| crawl::Options::from_env(env, "").map(|_| s)) {
        Ok(settings) => settings,
        Err(e) => return vec![Check::new("a11y settings", Err(e.to_string()))],
    };
    vec![
        Check::new("a11y settings", Ok("every BUILD_TASK_A11Y_* setting is valid".to_owned())),
        Check::new("Chromium", settings.check_chromium().and_then(|()| version_line(&settings.chromium))),
        Check::new("axe-core", settings.check_axe_js().and_then(|()| axe_check(&settings.axe_js))),
    ]
}

/// axe.min.js is the pinned release's.
fn axe_check(path: &Path) -> std::result::Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let sha: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    if sha == AXE_JS_SHA256 {
        Ok(format!("axe-core {AXE_VERSION} at {} (SHA-256 matches)", path.display()))
    } else {
        Err(format!("{} is not axe-core {AXE_VERSION}'s axe.min.js (SHA-256 {sha})", path.display()))
    }
}

/// Paths and limits an operator (or a test) may change through the
/// environment.
struct Settings {
    /// BUILD_TASK_A11Y_AXE_JS: axe-core's axe.min.js.
    axe_js: PathBuf,
    /// BUILD_TASK_A11Y_CHROMIUM: chromium-headless-shell.
    chromium: PathBuf,
    /// BUILD_TASK_A11Y_RESULTS_DIR: keep the raw axe results here (default: scratch
    /// space, removed after the run).
    results_dir: Option<PathBuf>,
    /// BUILD_TASK_A11Y_PAGE_TIMEOUT_SECS: page load; axe gets twice that.
    page_timeout: Duration,
}

impl Settings {
    /// Whether Chromium is where the settings say: the run checks this
    /// before its crawl, and doctor before the version.
    fn check_chromium(&self) -> std::result::Result<(), String> {
        present(&self.chromium, "BUILD_TASK_A11Y_CHROMIUM")
    }

    /// Whether axe-core is where the settings say.
    fn check_axe_js(&self) -> std::result::Result<(), String> {
        present(&self.axe_js, "BUILD_TASK_A11Y_AXE_JS")
    }

    fn from_env(env: &Env) -> Result<Settings> {
        let path = |k: &str, d: &str| PathBuf::from(env.get(k).unwrap_or(d));
        Ok(Settings {
            axe_js: path("BUILD_TASK_A11Y_AXE_JS", DEFAULT_AXE_JS),
            chromium: path("BUILD_TASK_A11Y_CHROMIUM", DEFAULT_CHROMIUM),
            results_dir: env.get("BUILD_TASK_A11Y_RESULTS_DIR").map(PathBuf::from),
            page_timeout: Duration::from_secs(env.whole_number("BUILD_TASK_A11Y_PAGE_TIMEOUT_SECS", 1, 3600, 90)?),
        })
    }
}

/// `Ok` when `path` is a file, else "not at PATH (set VAR)".
fn present(path: &Path, var: &str) -> std::result::Result<(), String> {
    if path.is_file() { Ok(()) } else { Err(format!("not at {} (set {var})", path.display())) }
}
