//! The `a11y` task: crawl the built site, scan each page with axe-core in
//! headless Chromium, and write the report pages-core shows.
//!
//! Three steps, one module each: [`crawl`] finds the pages (at most
//! [`URL_LIMIT`]), [`scan`] writes one axe results file per page into a
//! results directory, and [`report`] turns that directory into `index.json`
//! and one JSON file per page in the artifact, as the original Node reporter
//! did. The user agent for both the crawler and the browser is the
//! `user-agent` user-provided service's `USER_AGENT`, as in the original.
//!
//! One deadline bounds the whole task ([`DEFAULT_DEADLINE`]): the crawl gets
//! at most [`CRAWL_SHARE`] of it, the scan stops starting pages
//! [`report_reserve`] before it, and the report is written from the pages
//! scanned by then, the others listed as not scanned.
//!
//! Both reach the site only through the run's fence (src/fence.rs): the
//! crawler through its resolver, the browser through [`proxy`].

mod cdp;
pub mod crawl;
pub mod links;
mod memory;
mod proxy;
pub mod report;
pub mod robots;
pub mod scan;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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

/// The whole task's time, from its start to its report. pages-core cancels a
/// build task 60 minutes after it created it (240 polls, 15 s apart) and then
/// keeps no report at all. Ours counts from the task's start, so the 10
/// minutes left cover what comes before (placing the container, pulling the
/// image with its browser, the processing status) and after (the success
/// status), and a page already started when the scan's deadline came (its
/// own load and axe timeouts, 90 s + 180 s by default, unless the scan cuts
/// them).
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(50 * 60);

/// The crawl's budget is at most this share (in tenths) of the deadline, so
/// the scan gets the rest: with the defaults, 15 of 50 minutes, the crawl's
/// own default budget.
pub const CRAWL_SHARE: u32 = 3;

/// The time kept after the scan for the report and the upload: a tenth of
/// the deadline, at most 3 minutes (400 pages' report is written in seconds;
/// their upload is some 800 objects).
pub fn report_reserve(deadline: Duration) -> Duration {
    (deadline / 10).min(Duration::from_secs(180))
}

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
    platform_rules: 0,
};

fn run(ctx: &Context) -> Result<Outcome> {
    let started = Instant::now();
    // Every input and setting is checked before any work.
    let site = ctx.site()?;
    let user_agent = ctx.site_user_agent(DEFAULT_USER_AGENT)?;
    let settings = Settings::from_env(&ctx.env)?;
    let mut opts = crawl::Options::from_env(&ctx.env, &user_agent)?;
    let crawl_cap = settings.deadline * CRAWL_SHARE / 10;
    if opts.budget > crawl_cap {
        info!(
            "the crawl's budget is {} s: {}% of the task's deadline (BUILD_TASK_A11Y_DEADLINE_SECS)",
            crawl_cap.as_secs_f32(),
            CRAWL_SHARE * 10
        );
        opts.budget = crawl_cap;
    }
    // After the settings: the fence resolves the target's name.
    let fence = ctx.fence(&site.target)?;
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
    let pages_found = found.pages.len();
    info!("{pages_found} urls found");
    if pages_found > URL_LIMIT {
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
        temp_root: ctx.env.tmp_dir(),
        deadline: Some(started + settings.deadline - report_reserve(settings.deadline)),
        page_memory_mib: settings.page_memory_mib,
        fence,
    };
    let summary = scan::scan(&ctx.cancel, &cfg, &urls, &results_dir)?;
    info!("scanned {} pages, {} failed, {} browser(s)", summary.scanned, summary.failed, summary.browsers);
    ctx.cancel.check()?;
    if summary.scanned + summary.failed == 0 && !summary.not_scanned.is_empty() {
        // A report of no page would read "No issues found" in pages-core.
        return Err(Error::failed(format!(
            "the deadline ({} s, BUILD_TASK_A11Y_DEADLINE_SECS) came before any of the {} pages was scanned",
            settings.deadline.as_secs(),
            urls.len()
        )));
    }

    let coverage = report::Coverage { found: pages_found, sampled: urls.len(), not_scanned: summary.not_scanned };
    let written = report::generate(&results_dir, &ctx.out_dir, site.target.as_str(), &site.rules, Some(&coverage))
        .map_err(|e| e.context("cannot write the report"))?;
    Ok(Outcome { message: Some(coverage_message(&coverage, &written)), count: written.count })
}

/// The success message: "found 612 pages, sampled 400, scanned 400 (3
/// failed); 0 not reached before the deadline".
fn coverage_message(coverage: &report::Coverage, written: &report::Written) -> String {
    format!(
        "found {} pages, sampled {}, scanned {} ({} failed); {} not reached before the deadline",
        coverage.found,
        coverage.sampled,
        written.pages,
        written.failed,
        coverage.not_scanned.len()
    )
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
    /// BUILD_TASK_A11Y_DEADLINE_SECS: the whole task, from its start.
    deadline: Duration,
    /// BUILD_TASK_A11Y_PAGE_MEMORY_MB, else a share of Cloud Foundry's
    /// MEMORY_LIMIT: what one page's renderer may take.
    page_memory_mib: Option<u64>,
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
        // The browser and the script it runs are the image's in a deployed run.
        let program = |k: &str, d: &str| env.program(k).map(|v| PathBuf::from(v.unwrap_or(d)));
        Ok(Settings {
            axe_js: program("BUILD_TASK_A11Y_AXE_JS", DEFAULT_AXE_JS)?,
            chromium: program("BUILD_TASK_A11Y_CHROMIUM", DEFAULT_CHROMIUM)?,
            results_dir: env.get("BUILD_TASK_A11Y_RESULTS_DIR").map(PathBuf::from),
            page_timeout: Duration::from_secs(env.whole_number("BUILD_TASK_A11Y_PAGE_TIMEOUT_SECS", 1, 3600, 90)?),
            deadline: Duration::from_secs(env.whole_number(
                "BUILD_TASK_A11Y_DEADLINE_SECS",
                1,
                86_400,
                DEFAULT_DEADLINE.as_secs(),
            )?),
            page_memory_mib: match env.get("BUILD_TASK_A11Y_PAGE_MEMORY_MB") {
                Some(_) => Some(env.whole_number("BUILD_TASK_A11Y_PAGE_MEMORY_MB", 64, 1 << 20, 0)?),
                None => memory::page_share_mib(env.get("MEMORY_LIMIT")),
            },
        })
    }
}

/// `Ok` when `path` is a file, else "not at PATH (set VAR)".
fn present(path: &Path, var: &str) -> std::result::Result<(), String> {
    if path.is_file() { Ok(()) } else { Err(format!("not at {} (set {var})", path.display())) }
}
