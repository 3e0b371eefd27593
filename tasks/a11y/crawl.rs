//! The crawler: which pages of the built site to scan. This file is its
//! scheduler (the workers, the queue, the bounds and the pace); which links a
//! page has and which may be followed is links.rs, robots.txt is robots.rs.
//!
//! It replaces the original's Scrapy `CrawlSpider` (same-site links, Scrapy's
//! ignored extensions plus xml and pdf, canonical URLs, robots.txt obeyed).
//! Starting at the target, it follows `<a href>` and `<area href>` links,
//! resolved against the page and its `<base href>`, that stay under the
//! target URL; a page is a 200 response whose type is text/html. Unlike the
//! spider, the target itself counts as a page (the spider only kept pages
//! some link led to), so the first page is the target.
//!
//! Safety, since the target is whatever a customer built: redirects are never
//! followed to another host (a same-host redirect is a link like any other),
//! and every request goes through the run's [`Fence`]: the resolver the crawl
//! connects through leaves out the internal addresses the fence refuses.
//!
//! Bounds, since the site is a customer's and may be endless (a pager, a
//! calendar): besides a time limit per request and a budget for the whole
//! crawl, at most [`Options::max_pages`] pages and [`Options::max_requests`]
//! requests, and at most [`Options::max_query_variants`] queries of one path.
//! A bound that is reached ends the crawl early with the pages found so far.
//! Politeness: [`Options::concurrency`] requests in flight at most (the crawl
//! only ever visits one host), robots.txt's `Crawl-delay` honoured one request
//! at a time, and a 429 or 503 pauses the whole crawl for the site's
//! Retry-After, halves the requests in flight, and is retried a few times.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use ureq::Agent;
use url::Url;

use super::links::{Scope, links};
use super::robots::Robots;
use crate::task::{Cancel, Env, Error, Fence, Result, Target, debug, info, retry_after_of, warn};

/// A `Crawl-delay` longer than this is taken as this: at 10 s a 15-minute
/// budget still allows 90 requests.
pub const MAX_CRAWL_DELAY: Duration = Duration::from_secs(10);

/// A Retry-After longer than this is taken as this, so one answer cannot
/// stall the crawl for most of its budget.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(30);

/// How often the crawl says how far it got.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// How a crawl runs. [`Options::new`] gives the defaults, [`Options::from_env`]
/// the defaults changed by the `BUILD_TASK_A11Y_*` variables.
#[derive(Clone, Debug)]
pub struct Options {
    /// Sent as User-Agent and matched against robots.txt groups.
    pub user_agent: String,
    /// Requests in flight at once (all to the one host crawled).
    pub concurrency: usize,
    /// One request, from connect to the last byte of the body.
    pub request_timeout: Duration,
    /// The whole crawl; past it no new request starts.
    pub budget: Duration,
    /// A page larger than this is not parsed for links (it still counts).
    pub max_page_bytes: u64,
    /// The crawl stops when it has found this many pages.
    pub max_pages: usize,
    /// The crawl stops when it has made this many requests, robots.txt and
    /// retries included.
    pub max_requests: u64,
    /// Distinct queries followed per path (`/list?p=1`, `/list?p=2`, …);
    /// further ones are left out. 0 follows no link with a query.
    pub max_query_variants: usize,
    /// Tries after the first for a page that answers 429 or 503.
    pub retries: u32,
}

impl Options {
    pub fn new(user_agent: &str) -> Options {
        Options {
            user_agent: user_agent.to_owned(),
            concurrency: 8,
            request_timeout: Duration::from_secs(30),
            budget: Duration::from_secs(15 * 60),
            max_page_bytes: 16 * 1024 * 1024,
            max_pages: 2000,
            max_requests: 4000,
            max_query_variants: 10,
            retries: 2,
        }
    }

    /// The defaults, changed by the crawl's settings in `env`: each must be
    /// a whole number in its range, or the error names the variable.
    ///
    /// | variable | field | range |
    /// |---|---|---|
    /// | `BUILD_TASK_A11Y_CRAWL_BUDGET_SECS` | `budget` | 1-86400 |
    /// | `BUILD_TASK_A11Y_MAX_PAGES` | `max_pages` | 1-100000 |
    /// | `BUILD_TASK_A11Y_MAX_REQUESTS` | `max_requests` | 1-1000000 |
    /// | `BUILD_TASK_A11Y_MAX_QUERY_VARIANTS` | `max_query_variants` | 0-10000 |
    /// | `BUILD_TASK_A11Y_CRAWL_CONCURRENCY` | `concurrency` | 1-16 |
    pub fn from_env(env: &Env, user_agent: &str) -> Result<Options> {
        let mut opts = Options::new(user_agent);
        let budget = env.whole_number("BUILD_TASK_A11Y_CRAWL_BUDGET_SECS", 1, 86_400, opts.budget.as_secs())?;
        opts.budget = Duration::from_secs(budget);
        opts.max_pages = env.count("BUILD_TASK_A11Y_MAX_PAGES", 1, 100_000, opts.max_pages)?;
        opts.max_requests = env.whole_number("BUILD_TASK_A11Y_MAX_REQUESTS", 1, 1_000_000, opts.max_requests)?;
        opts.max_query_variants =
            env.count("BUILD_TASK_A11Y_MAX_QUERY_VARIANTS", 0, 10_000, opts.max_query_variants)?;
        opts.concurrency = env.count("BUILD_TASK_A11Y_CRAWL_CONCURRENCY", 1, 16, opts.concurrency)?;
        Ok(opts)
    }
}

/// The bound that ended a crawl early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// [`Options::max_pages`] pages were found.
    Pages,
    /// [`Options::max_requests`] requests were made, or more links were
    /// found than that many requests could visit.
    Requests,
}

/// What a crawl found.
#[derive(Debug, Default)]
pub struct Crawl {
    /// The pages, target first, then in the order their responses arrived.
    pub pages: Vec<String>,
    /// Requests made, robots.txt and retries included.
    pub requests: u64,
    /// Whether the budget ran out before the crawl was done.
    pub out_of_budget: bool,
    /// The bound that ended the crawl before it was done, if one did.
    pub bound: Option<Bound>,
    /// URLs given up on after they answered 429 or 503 on every try.
    pub failed: u64,
    /// Links left out because their path had had its queries.
    pub queries_left_out: u64,
}

/// Crawls `target` with `agent`'s settings, through `fence`, and returns its pages.
pub fn crawl(agent: &Agent, fence: &Fence, target: &Target, opts: &Options, cancel: &Cancel) -> Result<Crawl> {
    let scope = Scope::new(target);
    let started = Instant::now();
    let fenced = fence.agent(agent)?;
    let agent = &fenced;
    let robots = Robots::fetch(agent, &scope.root, &opts.user_agent, opts.request_timeout);
    let delay = robots.delay.map(|d| d.min(MAX_CRAWL_DELAY));
    let concurrency = if delay.is_some() { 1 } else { opts.concurrency.max(1) };
    if let Some(d) = delay {
        info!("robots.txt asks for a crawl delay: one request at a time, {} ms apart", d.as_millis());
    }
    let fetcher = Fetcher { agent, opts, scope: &scope };

    let mut state = State {
        queue: VecDeque::new(),
        seen: HashSet::new(),
        queries: HashMap::new(),
        in_flight: 0,
        limit: concurrency,
        not_before: Instant::now(),
        pages: Vec::new(),
        // robots.txt.
        requests: 1,
        out_of_budget: false,
        bound: None,
        failed: 0,
        queries_left_out: 0,
        next_progress: started + PROGRESS_EVERY,
        error: None,
    };
    state.enqueue(vec![scope.root.clone()], opts, &robots);
    let state = Mutex::new(state);
    let wake = Condvar::new();
    let deadline = started + opts.budget;
    let pace = Pace { deadline, delay: delay.unwrap_or(Duration::ZERO) };
    std::thread::scope(|s| {
        for _ in 0..concurrency {
            s.spawn(|| worker(&fetcher, &robots, &state, &wake, &pace, cancel));
        }
    });
    let state = state.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = state.error {
        return Err(e);
    }
    cancel.check()?;
    let mut pages = state.pages;
    // The target first, whenever it answered at all.
    if let Some(i) = pages.iter().position(|p| p == scope.root.as_str()) {
        let root = pages.remove(i);
        pages.insert(0, root);
    }
    info!("crawled {} pages with {} requests in {} ms", pages.len(), state.requests, started.elapsed().as_millis());
    match state.bound {
        Some(Bound::Pages) => {
            info!("the crawl stopped at {} pages (BUILD_TASK_A11Y_MAX_PAGES): keeping the pages found", opts.max_pages)
        }
        Some(Bound::Requests) => info!(
            "the crawl stopped at {} requests (BUILD_TASK_A11Y_MAX_REQUESTS): keeping the pages found",
            opts.max_requests
        ),
        None => {}
    }
    if state.queries_left_out > 0 {
        info!(
            "left out {} links past {} queries of their path (BUILD_TASK_A11Y_MAX_QUERY_VARIANTS)",
            state.queries_left_out, opts.max_query_variants
        );
    }
    if state.failed > 0 {
        warn!("left out {} URLs that answered 429 or 503 on every try", state.failed);
    }
    if state.out_of_budget {
        warn!("the crawl ran past its budget of {} s: keeping the pages found so far", opts.budget.as_secs());
    }
    Ok(Crawl {
        pages,
        requests: state.requests,
        out_of_budget: state.out_of_budget,
        bound: state.bound,
        failed: state.failed,
        queries_left_out: state.queries_left_out,
    })
}

/// Keeps `first` and a random sample of `limit - 1` of the rest (the
/// original's `[data[0], *random.sample(data[1:], limit - 1)]`).
pub fn sample(mut pages: Vec<String>, limit: usize) -> Vec<String> {
    if pages.len() <= limit || limit == 0 {
        return pages;
    }
    let mut rest = pages.split_off(1);
    fastrand::shuffle(&mut rest);
    rest.truncate(limit - 1);
    pages.extend(rest);
    pages
}

struct State {
    /// URLs to fetch and the tries each has had.
    queue: VecDeque<(Url, u32)>,
    seen: HashSet<String>,
    /// Queries enqueued per URL without its query.
    queries: HashMap<String, usize>,
    in_flight: usize,
    /// Requests in flight at most; halved when the site answers 429 or 503.
    limit: usize,
    /// No request starts before this (Crawl-delay, Retry-After).
    not_before: Instant,
    pages: Vec<String>,
    requests: u64,
    out_of_budget: bool,
    bound: Option<Bound>,
    failed: u64,
    queries_left_out: u64,
    next_progress: Instant,
    error: Option<Error>,
}

/// When requests may start.
struct Pace {
    deadline: Instant,
    /// Between two request starts.
    delay: Duration,
}

fn worker(fetcher: &Fetcher, robots: &Robots, state: &Mutex<State>, wake: &Condvar, pace: &Pace, cancel: &Cancel) {
    let opts = fetcher.opts;
    let lock = || state.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let (url, tries) = {
            let mut st = lock();
            loop {
                if st.error.is_some() {
                    return;
                }
                if cancel.check().is_err() {
                    wake.notify_all();
                    return;
                }
                let now = Instant::now();
                if now >= st.next_progress {
                    info!("crawled {} pages ({} requests)", st.pages.len(), st.requests);
                    st.next_progress = now + PROGRESS_EVERY;
                }
                if !st.queue.is_empty() {
                    if now >= pace.deadline || st.not_before >= pace.deadline {
                        st.out_of_budget = true;
                        st.queue.clear();
                    } else if st.requests >= opts.max_requests {
                        st.bound = Some(Bound::Requests);
                        st.queue.clear();
                    }
                }
                if st.in_flight < st.limit
                    && now >= st.not_before
                    && let Some(next) = st.queue.pop_front()
                {
                    st.in_flight += 1;
                    st.requests += 1;
                    st.not_before = now + pace.delay;
                    break next;
                }
                if st.queue.is_empty() && st.in_flight == 0 {
                    wake.notify_all();
                    return;
                }
                // Wake now and then to see a cancel or the deadline.
                let mut wait = Duration::from_millis(200);
                if st.in_flight < st.limit && !st.queue.is_empty() {
                    wait = wait.min(st.not_before.saturating_duration_since(now));
                }
                st = wake.wait_timeout(st, wait).unwrap_or_else(|p| p.into_inner()).0;
            }
        };
        let left = pace.deadline.saturating_duration_since(Instant::now());
        let outcome = fetcher.fetch(&url, left);
        let mut st = lock();
        st.in_flight -= 1;
        match outcome {
            Ok(Fetched::Page(links)) => {
                if st.pages.len() < opts.max_pages {
                    st.pages.push(url.as_str().to_owned());
                    st.enqueue(links, opts, robots);
                } else {
                    st.bound = Some(Bound::Pages);
                }
                if st.pages.len() >= opts.max_pages && !st.queue.is_empty() {
                    st.bound = Some(Bound::Pages);
                    st.queue.clear();
                }
            }
            Ok(Fetched::Redirect(to)) => st.enqueue(vec![to], opts, robots),
            Ok(Fetched::Busy(status, retry_after)) => {
                // The site is overloaded, not just this page: everyone waits.
                st.limit = (st.limit / 2).max(1);
                let wait = retry_after.unwrap_or(Duration::from_secs(1 << tries.min(4))).min(MAX_RETRY_WAIT);
                st.not_before = st.not_before.max(Instant::now() + wait);
                if tries < opts.retries {
                    debug!("{url} answered {status}: trying again in {} ms", wait.as_millis());
                    st.queue.push_front((url, tries + 1));
                } else {
                    warn!("{url} answered {status} {} times: leaving it out", tries + 1);
                    st.failed += 1;
                }
            }
            Ok(Fetched::Skipped) => {}
            Err(e) if st.error.is_none() => st.error = Some(e),
            Err(_) => {}
        }
        wake.notify_all();
    }
}

impl State {
    /// Queues the links not seen before, as far as robots.txt and the bounds
    /// allow.
    fn enqueue(&mut self, links: Vec<Url>, opts: &Options, robots: &Robots) {
        for link in links {
            if self.seen.contains(link.as_str()) {
                continue;
            }
            if self.requests + self.queue.len() as u64 >= opts.max_requests {
                self.bound = Some(Bound::Requests);
                return;
            }
            if let Some((without, _)) = link.as_str().split_once('?') {
                let n = self.queries.get(without).copied().unwrap_or(0);
                if n >= opts.max_query_variants {
                    self.queries_left_out += 1;
                    continue;
                }
                self.queries.insert(without.to_owned(), n + 1);
            }
            self.seen.insert(link.as_str().to_owned());
            if robots.allowed(&link) {
                self.queue.push_back((link, 0));
            }
        }
    }
}

enum Fetched {
    /// A page and the in-scope links on it, canonical.
    Page(Vec<Url>),
    /// A redirect to a URL in scope.
    Redirect(Url),
    /// 429 or 503: the status and the wait the site asked for.
    Busy(u16, Option<Duration>),
    /// Not a page: an error status, another type, a redirect out of scope,
    /// or a request that failed.
    Skipped,
}

struct Fetcher<'a> {
    agent: &'a Agent,
    opts: &'a Options,
    scope: &'a Scope,
}

impl Fetcher<'_> {
    /// One request. A request that fails (an internal address refused
    /// included) is skipped with a warning.
    fn fetch(&self, url: &Url, time_left: Duration) -> Result<Fetched> {
        let response = self
            .agent
            .get(url.as_str())
            .header("User-Agent", &self.opts.user_agent)
            .header("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
            .config()
            .timeout_global(Some(self.opts.request_timeout.min(time_left.max(Duration::from_secs(1)))))
            .build()
            .call();
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                warn!("cannot fetch {url}: {e}");
                return Ok(Fetched::Skipped);
            }
        };
        let status = response.status().as_u16();
        if status == 429 || status == 503 {
            return Ok(Fetched::Busy(status, retry_after_of(&response)));
        }
        if (300..400).contains(&status) {
            let to = response.headers().get("location").and_then(|v| v.to_str().ok());
            return Ok(match to.and_then(|to| self.scope.link(url, to)) {
                Some(to) => Fetched::Redirect(to),
                None => Fetched::Skipped,
            });
        }
        if status != 200 {
            return Ok(Fetched::Skipped);
        }
        let html = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("text/html"));
        if !html {
            return Ok(Fetched::Skipped);
        }
        let body = match response.into_body().with_config().limit(self.opts.max_page_bytes).read_to_vec() {
            Ok(b) => b,
            Err(e) => {
                warn!("cannot read {url}: {e}");
                return Ok(Fetched::Page(Vec::new()));
            }
        };
        let links = links(&body, url).into_iter().filter_map(|l| self.scope.link(url, &l)).collect();
        Ok(Fetched::Page(links))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crawl_settings_are_whole_numbers_in_range_or_an_error_naming_the_variable() {
        let opts = Options::from_env(&Env::default(), "ua").unwrap();
        assert_eq!((opts.max_pages, opts.max_requests, opts.max_query_variants, opts.concurrency), (2000, 4000, 10, 8));
        assert_eq!(opts.budget, Duration::from_secs(900));
        let env = Env::from_pairs([
            ("BUILD_TASK_A11Y_MAX_PAGES", "50"),
            ("BUILD_TASK_A11Y_MAX_REQUESTS", "120"),
            ("BUILD_TASK_A11Y_MAX_QUERY_VARIANTS", "0"),
            ("BUILD_TASK_A11Y_CRAWL_CONCURRENCY", "2"),
            ("BUILD_TASK_A11Y_CRAWL_BUDGET_SECS", "60"),
        ]);
        let opts = Options::from_env(&env, "ua").unwrap();
        assert_eq!((opts.max_pages, opts.max_requests, opts.max_query_variants, opts.concurrency), (50, 120, 0, 2));
        assert_eq!(opts.budget, Duration::from_secs(60));
        for (var, bad) in [
            ("BUILD_TASK_A11Y_MAX_REQUESTS", "4k"),
            ("BUILD_TASK_A11Y_MAX_REQUESTS", "0"),
            ("BUILD_TASK_A11Y_MAX_PAGES", "-1"),
            ("BUILD_TASK_A11Y_MAX_PAGES", " 9"),
            ("BUILD_TASK_A11Y_MAX_QUERY_VARIANTS", "10001"),
            ("BUILD_TASK_A11Y_CRAWL_CONCURRENCY", "17"),
            ("BUILD_TASK_A11Y_CRAWL_BUDGET_SECS", "9o"),
            ("BUILD_TASK_A11Y_CRAWL_BUDGET_SECS", "99999999999999999999999"),
        ] {
            let err = Options::from_env(&Env::from_pairs([(var, bad)]), "ua").unwrap_err();
            assert_eq!(err.kind(), crate::error::Kind::Usage);
            assert!(err.message().starts_with(&format!("{var} is not a whole number from ")), "{err}");
            assert!(!err.message().contains(bad.trim()) || bad == "0", "the value is not echoed: {err}");
        }
    }

    #[test]
    fn a_sample_keeps_the_first_page_and_no_duplicates() {
        let pages: Vec<String> = (0..1000).map(|i| format!("p{i}")).collect();
        let s = sample(pages.clone(), 400);
        assert_eq!(s.len(), 400);
        assert_eq!(s[0], "p0");
        assert_eq!(s.iter().collect::<HashSet<_>>().len(), 400);
        assert_eq!(sample(pages[..10].to_vec(), 400).len(), 10);
    }
}
