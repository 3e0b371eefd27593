//! The crawler: which pages of the built site to scan.
//!
//! It replaces the original's Scrapy `CrawlSpider` (same-site links, Scrapy's
//! ignored extensions plus xml and pdf, canonical URLs, robots.txt obeyed, 16
//! requests in flight). Starting at the target, it follows `<a href>` and
//! `<area href>` links, resolved against the page and its `<base href>`, that
//! stay under the target URL; a page is a 200 response whose type is
//! text/html. Unlike the spider, the target itself counts as a page (the
//! spider only kept pages some link led to), so the first page is the target.
//!
//! Safety, since the target is whatever a customer built: redirects are never
//! followed to another host (a same-host redirect is a link like any other),
//! and no request goes to a loopback, link-local or private address unless
//! the target itself resolved only to such (as in tests): the resolver the
//! crawl connects through leaves them out. Every request has a time
//! limit and the whole crawl has a budget; a crawl past its budget keeps what
//! it found.

use std::collections::{HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use ureq::Agent;
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};
use url::Url;

use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::{info, warn};

/// Scrapy's `IGNORED_EXTENSIONS` (scrapy/linkextractors/__init__.py, Scrapy
/// 2.19), then what the original spider denied on top (xml, pdf), then
/// compressed archives, newer image types and web fonts.
const IGNORED_EXTENSIONS: &[&str] = &[
    // Scrapy: archives
    "7z", "7zip", "bz2", "rar", "tar", "tar.gz", "xz", "zip", // Scrapy: images
    "mng", "pct", "bmp", "gif", "jpg", "jpeg", "png", "pst", "psp", "tif", "tiff", "ai", "drw", "dxf", "eps", "ps",
    "svg", "cdr", "ico", "webp", // Scrapy: audio
    "mp3", "wma", "ogg", "wav", "ra", "aac", "mid", "au", "aiff", // Scrapy: video
    "3gp", "asf", "asx", "avi", "mov", "mp4", "mpg", "qt", "rm", "swf", "wmv", "m4a", "m4v", "flv", "webm",
    // Scrapy: office suites
    "xls", "xlsm", "xlsx", "xltm", "xltx", "potm", "potx", "ppt", "pptm", "pptx", "pps", "doc", "docb", "docm", "docx",
    "dotm", "dotx", "odt", "ods", "odg", "odp", // Scrapy: other
    "css", "pdf", "exe", "bin", "rss", "dmg", "iso", "apk", "jar", "sh", "rb", "js", "hta", "bat", "cpl", "msi", "msp",
    "py",  // the original spider
    "xml", // ours
    "gz", "tgz", "avif", "woff", "woff2", "ttf", "otf", "eot",
];

/// How a crawl runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// Sent as User-Agent and matched against robots.txt groups.
    pub user_agent: String,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// One request, from connect to the last byte of the body.
    pub request_timeout: Duration,
    /// The whole crawl; past it no new request starts.
    pub budget: Duration,
    /// A page larger than this is not parsed for links (it still counts).
    pub max_page_bytes: u64,
}

impl Options {
    pub fn new(user_agent: &str) -> Options {
        Options {
            user_agent: user_agent.to_owned(),
            concurrency: 16,
            request_timeout: Duration::from_secs(30),
            budget: Duration::from_secs(15 * 60),
            max_page_bytes: 16 * 1024 * 1024,
        }
    }
}

/// What a crawl found.
#[derive(Debug, Default)]
pub struct Crawl {
    /// The pages, target first, then in the order their responses arrived.
    pub pages: Vec<String>,
    /// Requests made or queued, robots.txt included.
    pub requests: u64,
    /// Whether the budget ran out before the crawl was done.
    pub out_of_budget: bool,
}

/// Crawls `target` and returns its pages.
pub fn crawl(agent: &Agent, target: &str, opts: &Options, cancel: &Cancel) -> Result<Crawl> {
    let scope = Scope::new(target)?;
    let started = Instant::now();
    let public;
    let agent = if internal_target(&scope.root)? {
        agent
    } else {
        public = public_only(agent);
        &public
    };
    let robots = Robots::fetch(agent, &scope, opts);
    let fetcher = Fetcher { agent, opts, scope: &scope, robots: &robots };

    let state = Mutex::new(State {
        queue: VecDeque::from([scope.root.clone()]),
        seen: HashSet::from([scope.root.as_str().to_owned()]),
        in_flight: 0,
        pages: Vec::new(),
        // The target, and robots.txt before it.
        requests: 2,
        out_of_budget: false,
        error: None,
    });
    let wake = Condvar::new();
    let deadline = started + opts.budget;
    std::thread::scope(|s| {
        for _ in 0..opts.concurrency.max(1) {
            s.spawn(|| worker(&fetcher, &state, &wake, deadline, cancel));
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
    if state.out_of_budget {
        warn!("the crawl ran past its budget of {} s: keeping the pages found so far", opts.budget.as_secs());
    }
    Ok(Crawl { pages, requests: state.requests, out_of_budget: state.out_of_budget })
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
    queue: VecDeque<Url>,
    seen: HashSet<String>,
    in_flight: usize,
    pages: Vec<String>,
    requests: u64,
    out_of_budget: bool,
    error: Option<Error>,
}

fn worker(fetcher: &Fetcher, state: &Mutex<State>, wake: &Condvar, deadline: Instant, cancel: &Cancel) {
    let lock = || state.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let url = {
            let mut st = lock();
            loop {
                if st.error.is_some() {
                    return;
                }
                if cancel.check().is_err() {
                    wake.notify_all();
                    return;
                }
                if Instant::now() >= deadline && !st.queue.is_empty() {
                    st.out_of_budget = true;
                    st.queue.clear();
                }
                if let Some(url) = st.queue.pop_front() {
                    st.in_flight += 1;
                    break url;
                }
                if st.in_flight == 0 {
                    wake.notify_all();
                    return;
                }
                // Wake now and then to see a cancel or the deadline.
                st = wake.wait_timeout(st, Duration::from_millis(200)).unwrap_or_else(|p| p.into_inner()).0;
            }
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let outcome = fetcher.fetch(&url, left);
        let mut st = lock();
        st.in_flight -= 1;
        match outcome {
            Ok(Fetched::Page(links)) => {
                st.pages.push(url.as_str().to_owned());
                st.enqueue(links);
            }
            Ok(Fetched::Redirect(to)) => st.enqueue(vec![to]),
            Ok(Fetched::Skipped) => {}
            Err(e) if st.error.is_none() => st.error = Some(e),
            Err(_) => {}
        }
        wake.notify_all();
    }
}

impl State {
    fn enqueue(&mut self, links: Vec<Url>) {
        for link in links {
            if self.seen.insert(link.as_str().to_owned()) {
                self.requests += 1;
                self.queue.push_back(link);
            }
        }
    }
}

enum Fetched {
    /// A page and the in-scope links on it, canonical.
    Page(Vec<Url>),
    /// A redirect to a URL in scope.
    Redirect(Url),
    /// Not a page: an error status, another type, robots.txt said no, a
    /// redirect out of scope, or a request that failed.
    Skipped,
}

struct Fetcher<'a> {
    agent: &'a Agent,
    opts: &'a Options,
    scope: &'a Scope,
    robots: &'a Robots,
}

impl Fetcher<'_> {
    /// One request. A request that fails (an internal address refused
    /// included) is skipped with a warning.
    fn fetch(&self, url: &Url, time_left: Duration) -> Result<Fetched> {
        if !self.robots.allowed(url) {
            return Ok(Fetched::Skipped);
        }
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

/// The href of every `<a>` and `<area>`, and the page's base URL (the first
/// `<base href>`, resolved against the page), in document order.
pub fn links(html: &[u8], page: &Url) -> Vec<String> {
    use html5gum::{Token, Tokenizer};
    let mut hrefs = Vec::new();
    let mut base: Option<Url> = None;
    for token in Tokenizer::new(html).flatten() {
        let Token::StartTag(tag) = token else { continue };
        let name: &[u8] = &tag.name;
        let href = tag.attributes.get(b"href".as_slice()).map(|v| String::from_utf8_lossy(&v.value).into_owned());
        match (name, href) {
            (b"a" | b"area", Some(href)) => hrefs.push(href),
            (b"base", Some(href)) if base.is_none() => base = page.join(href.trim()).ok(),
            _ => {}
        }
    }
    let base = base.unwrap_or_else(|| page.clone());
    hrefs.into_iter().filter_map(|h| base.join(h.trim()).ok()).map(String::from).collect()
}

/// The part of the web the crawl may visit: the target's scheme, host and
/// port, and paths under the target's.
struct Scope {
    root: Url,
}

impl Scope {
    fn new(target: &str) -> Result<Scope> {
        let root = Url::parse(target.trim()).map_err(|e| Error::usage(format!("the target is not a URL: {e}")))?;
        if !matches!(root.scheme(), "http" | "https") || root.host().is_none() {
            return Err(Error::usage("the target must be an http or https URL"));
        }
        Ok(Scope { root: canonical(root) })
    }

    /// `href` on `page` as a canonical URL to visit, or None when it leaves
    /// the scope or names a file that is not a page.
    fn link(&self, page: &Url, href: &str) -> Option<Url> {
        let url = canonical(page.join(href.trim()).ok()?);
        let same_origin = url.scheme() == self.root.scheme()
            && url.host() == self.root.host()
            && url.port_or_known_default() == self.root.port_or_known_default();
        if !same_origin || !url.path().starts_with(self.root.path()) || ignored_extension(url.path()) {
            return None;
        }
        Some(url)
    }
}

/// The URL as the crawl remembers it: no fragment, no credentials, query
/// pairs sorted (as w3lib's canonicalize_url does), the rest as the url
/// crate normalizes it (lowercase host, default port dropped, dot segments
/// removed, percent-encoding).
pub fn canonical(mut url: Url) -> Url {
    url.set_fragment(None);
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if let Some(q) = url.query() {
        let mut pairs: Vec<&str> = q.split('&').filter(|p| !p.is_empty()).collect();
        pairs.sort();
        let q = pairs.join("&");
        url.set_query(if q.is_empty() { None } else { Some(&q) });
    }
    url
}

fn ignored_extension(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or("");
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => {
            let ext = ext.to_ascii_lowercase();
            IGNORED_EXTENSIONS.contains(&ext.as_str())
        }
        _ => false,
    }
}

/// robots.txt of the target's origin, for our user agent, matched as
/// Google's reference parser does. A missing or unreadable robots.txt allows
/// everything (as Scrapy does).
pub struct Robots {
    /// The body, ASCII only (see [`ascii_robots`]); None allows all.
    body: Option<String>,
    /// Groups are matched on the product token, e.g. "cloudgovpagescrawler"
    /// in "cloudgovpagescrawler/1.0 (+https://…)".
    token: String,
}

impl Robots {
    /// Rules from a robots.txt body, for `user_agent` (matched on its product token).
    pub fn from_body(body: &[u8], user_agent: &str) -> Robots {
        let token = user_agent.split(['/', ' ']).next().unwrap_or("").to_owned();
        Robots { body: Some(ascii_robots(body)), token }
    }

    fn fetch(agent: &Agent, scope: &Scope, opts: &Options) -> Robots {
        let token = opts.user_agent.split(['/', ' ']).next().unwrap_or("").to_owned();
        let Ok(url) = scope.root.join("/robots.txt") else { return Robots { body: None, token } };
        let response = agent
            .get(url.as_str())
            .header("User-Agent", &opts.user_agent)
            .config()
            .timeout_global(Some(opts.request_timeout))
            .build()
            .call();
        // Google reads at most 500 KiB of it.
        let body = match response {
            Ok(r) if r.status().as_u16() == 200 => r.into_body().with_config().limit(500 * 1024).read_to_vec().ok(),
            _ => None,
        };
        Robots { body: body.map(|b| ascii_robots(&b)), token }
    }

    pub fn allowed(&self, url: &Url) -> bool {
        match &self.body {
            Some(body) => {
                robotstxt::DefaultMatcher::default().one_agent_allowed_by_robots(body, &self.token, url.as_str())
            }
            None => true,
        }
    }
}

/// robots.txt with every byte outside ASCII percent-encoded. The matcher
/// encodes such bytes in patterns this way itself, so the rules mean the
/// same; and robotstxt 0.3 can panic slicing inside a multi-byte character
/// (its issue #5), which ASCII input rules out.
fn ascii_robots(body: &[u8]) -> String {
    let mut out = String::with_capacity(body.len());
    for &b in body {
        if b.is_ascii() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether the target is an internal address itself (every address its
/// name resolves to is one): tests and local runs. A name that mixes public
/// and internal addresses is treated as public.
fn internal_target(root: &Url) -> Result<bool> {
    Ok(resolve(root)?.iter().all(|ip| internal(*ip)))
}

/// The agent a public target is crawled with: the shared agent's settings,
/// and a resolver that leaves out internal addresses. The addresses checked
/// are the addresses connected to, so a name cannot point somewhere else
/// between the check and the request. (ureq's resolver and connector types
/// are its "unversioned" API: a ureq upgrade may need this adjusted.)
pub fn public_only(agent: &Agent) -> Agent {
    Agent::with_parts(agent.config().clone(), DefaultConnector::new(), PublicOnly(DefaultResolver::default()))
}

#[derive(Debug)]
struct PublicOnly(DefaultResolver);

impl Resolver for PublicOnly {
    fn resolve(&self, uri: &Uri, config: &Config, timeout: NextTimeout) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let all = self.0.resolve(uri, config, timeout)?;
        let mut public = self.empty();
        for addr in all.iter().filter(|a| !internal(a.ip())) {
            let _ = public.try_push(*addr);
        }
        if public.is_empty() {
            let host = uri.host().unwrap_or("");
            return Err(ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("{host} resolves only to internal addresses, and the target did not"),
            )));
        }
        Ok(public)
    }
}

fn resolve(url: &Url) -> Result<Vec<IpAddr>> {
    let host = url.host_str().unwrap_or("");
    let port = url.port_or_known_default().unwrap_or(80);
    if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let addrs: Vec<SocketAddr> =
        (host, port).to_socket_addrs().map_err(|e| Error::failed(format!("cannot resolve {host}: {e}")))?.collect();
    if addrs.is_empty() {
        return Err(Error::failed(format!("cannot resolve {host}: no address")));
    }
    Ok(addrs.into_iter().map(|a| a.ip()).collect())
}

/// Loopback, private, link-local, shared (CGNAT), unspecified, unique-local.
pub fn internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (a == 100 && (64..128).contains(&b))
                || a == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback() || v6.is_unspecified() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn links_resolve_against_the_base_href_and_lose_their_fragments() {
        let html = br##"<html><head><base href="/docs/"></head><body>
            <a href="intro.html#top">x</a><A HREF='../about/'>y</A><area href="map.html"><a>no href</a>
            <a href="#only-a-fragment">z</a><link href="style.css"></body>"##;
        let page = u("https://example.gov/site/index.html");
        let scope = Scope::new("https://example.gov/").unwrap();
        let found: Vec<String> =
            links(html, &page).iter().filter_map(|l| scope.link(&page, l)).map(String::from).collect();
        assert_eq!(
            found,
            [
                "https://example.gov/docs/intro.html",
                "https://example.gov/about/",
                "https://example.gov/docs/map.html",
                "https://example.gov/docs/",
            ]
        );
    }

    #[test]
    fn only_links_under_the_target_on_the_same_origin_are_in_scope() {
        let scope = Scope::new("https://example.gov/preview/org/repo/").unwrap();
        let page = u("https://example.gov/preview/org/repo/a/");
        assert!(scope.link(&page, "b.html").is_some());
        assert!(scope.link(&page, "/preview/org/other/").is_none());
        assert!(scope.link(&page, "http://example.gov/preview/org/repo/a/").is_none());
        assert!(scope.link(&page, "https://example.gov:8443/preview/org/repo/").is_none());
        assert!(scope.link(&page, "https://evil.example/preview/org/repo/").is_none());
        assert!(scope.link(&page, "mailto:someone@example.gov").is_none());
        assert!(scope.link(&page, "report.PDF").is_none());
        assert!(scope.link(&page, "feed.xml").is_none());
        assert!(scope.link(&page, "font.woff2").is_none());
        assert!(scope.link(&page, "photo.jpeg?x=1").is_none());
        assert!(scope.link(&page, "v1.2/").is_some());
    }

    #[test]
    fn canonical_urls_sort_the_query_and_drop_fragments_and_credentials() {
        assert_eq!(
            canonical(u("HTTP://User:pw@Example.GOV:80/a/./b/../c?z=1&a=2#frag")).as_str(),
            "http://example.gov/a/c?a=2&z=1"
        );
        assert_eq!(canonical(u("https://example.gov/?")).as_str(), "https://example.gov/");
    }

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "172.32.0.1", "2001:4860:4860::8888", "::ffff:8.8.8.8"] {
            assert!(!internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn a_public_target_never_reaches_an_internal_address() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let agent = public_only(&crate::http::agent(&crate::env::Env::default()));
        for url in [format!("http://127.0.0.1:{port}/"), format!("http://localhost:{port}/")] {
            let err = agent.get(&url).call().unwrap_err().to_string();
            assert!(err.contains("resolves only to internal addresses"), "{err}");
        }
        assert!(listener.accept().is_err(), "no connection was made");
        assert!(internal_target(&u(&format!("http://127.0.0.1:{port}/"))).unwrap());
        assert!(internal_target(&u("http://[::1]/")).unwrap());
        assert!(!internal_target(&u("http://8.8.8.8/")).unwrap());
    }

    #[test]
    fn a_link_to_a_mixed_case_unicode_host_resolves_without_a_panic() {
        // Found by the robots fuzz target while url ran on the ASCII-only IDNA
        // stub, whose debug assertion fired on `//Zî`.
        let page = Url::parse("http://127.0.0.1:8080/dir/page.html").unwrap();
        assert_eq!(links("<a href='//Z\u{ee}/'>x</a>".as_bytes(), &page), ["http://xn--z-lga/"]);
    }

    #[test]
    fn robots_txt_outside_ascii_is_matched_without_a_panic() {
        let body = "User-agent: *\nDisallow: /caf\u{e9}/\u{a0}\u{a0}\nDisallow: /priv\u{a0}ate\n# \u{1f600}\n";
        let robots = Robots { body: Some(ascii_robots(body.as_bytes())), token: "cloudgovpagescrawler".into() };
        assert!(!robots.allowed(&u("https://example.gov/caf%C3%A9/%C2%A0%C2%A0")));
        assert!(!robots.allowed(&u("https://example.gov/café/\u{a0}\u{a0}")));
        assert!(robots.allowed(&u("https://example.gov/cafe/")));
        assert!(robots.allowed(&u("https://example.gov/private")));
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
