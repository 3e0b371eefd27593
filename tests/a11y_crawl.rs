//! The a11y crawler against generated sites served on loopback.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use build_task::cancel::Cancel;
use build_task::env::Env;
use build_task::fence::Fence;
use build_task::site::Target;
use build_task::tasks::a11y::crawl::{self, Crawl, Options};

use crate::support::axe::FIXTURE_SITE_PAGES;
use crate::support::shared_fixtures;
use crate::support::web::{Reply, WebServer, generated_site};

const UA: &str = "cloudgovpagescrawler/1.0 (+tests)";

fn run(target: &str) -> Crawl {
    run_with(target, &Options::new(UA))
}

fn run_with(target: &str, opts: &Options) -> Crawl {
    let agent = build_task::http::agent(&Env::default());
    let target = Target::parse(target).expect("the target is a URL");
    crawl::crawl(&agent, &local_fence(&target), &target, opts, &Cancel::new()).expect("the crawl runs")
}

/// A local run's fence: only the loopback target is reachable.
fn local_fence(target: &Target) -> Fence {
    Fence::for_run(false, target.url()).expect("the target is on loopback")
}

/// A reply that asks the crawler to come back later.
fn busy(status: u16, retry_after: &str) -> Reply {
    let mut reply = Reply::status(status);
    reply.headers.push(("Retry-After".into(), retry_after.into()));
    reply
}

fn paths(c: &Crawl, server: &WebServer) -> Vec<String> {
    let origin = server.url("");
    c.pages.iter().map(|p| p.strip_prefix(&origin).unwrap_or(p).to_owned()).collect()
}

fn sorted(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn page(links: &[&str]) -> Reply {
    let body: String = links.iter().map(|l| format!("<a href=\"{l}\">{l}</a>\n")).collect();
    Reply::html(format!("<!doctype html><html lang=en><title>t</title><body>{body}</body></html>"))
}

#[test]
fn robots_txt_rules_for_our_agent_are_obeyed() {
    let server = WebServer::start(0, |path| match path {
        "/robots.txt" => Reply::typed(
            "text/plain",
            b"User-agent: *\nDisallow: /\n\nUser-agent: cloudgovpagescrawler\nDisallow: /private/\nAllow: /private/ok.html\n"
                .to_vec(),
        ),
        "/" => page(&["/public.html", "/private/secret.html", "/private/ok.html"]),
        "/public.html" | "/private/secret.html" | "/private/ok.html" => page(&["/"]),
        _ => Reply::status(404),
    })
    .unwrap();
    let c = run(&server.url("/"));
    assert_eq!(paths(&c, &server)[0], "/");
    assert_eq!(
        paths(&c, &server).iter().map(String::as_str).collect::<BTreeSet<_>>(),
        ["/", "/private/ok.html", "/public.html"].into()
    );
    assert_eq!(server.hits("/private/secret.html"), 0, "a disallowed page is never requested");
    assert_eq!(server.hits("/robots.txt"), 1);
}

#[test]
fn a_site_that_disallows_everything_gives_no_pages() {
    let server = WebServer::start(0, |path| match path {
        "/robots.txt" => Reply::typed("text/plain", b"User-agent: *\nDisallow: /\n".to_vec()),
        _ => page(&["/a.html"]),
    })
    .unwrap();
    let c = run(&server.url("/"));
    assert!(c.pages.is_empty(), "{:?}", c.pages);
    assert_eq!(server.requests(), ["/robots.txt"]);
}

#[test]
fn link_cycles_visit_each_page_once() {
    let server = WebServer::start(0, |path| match path {
        "/" => page(&["/a.html", "/", "/b.html"]),
        "/a.html" => page(&["/b.html", "a.html", "/a.html?", "/"]),
        "/b.html" => page(&["/c.html", "./", "/a.html"]),
        "/c.html" => page(&["/a.html", "/b.html", "/c.html"]),
        _ => Reply::status(404),
    })
    .unwrap();
    let c = run(&server.url("/"));
    assert_eq!(c.pages.len(), 4, "{:?}", c.pages);
    for p in ["/", "/a.html", "/b.html", "/c.html"] {
        assert_eq!(server.hits(p), 1, "{p} requested once");
    }
}

#[test]
fn redirects_to_another_host_are_never_followed() {
    let elsewhere = WebServer::start(0, |_| page(&[])).unwrap();
    let away = elsewhere.url("/landing.html");
    let server = WebServer::start(0, move |path| match path {
        "/" => page(&["/away", "/other-name", "/moved", "/abroad"]),
        "/away" => Reply::redirect(302, &away),
        "/moved" => Reply::redirect(301, "/new.html"),
        "/new.html" => page(&[]),
        _ => Reply::status(404),
    })
    .unwrap();
    let port = server.port;
    // The same port under another name is another host as well.
    let server2 = WebServer::start(0, move |path| match path {
        "/" => page(&["/to-localhost"]),
        "/to-localhost" => Reply::redirect(307, &format!("http://localhost:{port}/new.html")),
        _ => Reply::status(404),
    })
    .unwrap();
    let c = run(&server.url("/"));
    assert_eq!(paths(&c, &server), ["/", "/new.html"]);
    assert!(elsewhere.requests().is_empty(), "another host got {:?}", elsewhere.requests());

    let before = server.hits("/new.html");
    let c2 = run(&server2.url("/"));
    assert_eq!(paths(&c2, &server2), ["/"]);
    assert_eq!(server.hits("/new.html"), before, "a redirect to localhost is another host");
}

#[test]
fn error_statuses_and_non_html_responses_are_not_pages() {
    let server = WebServer::start(0, |path| match path {
        "/" => page(&[
            "/missing.html",
            "/broken.html",
            "/notes.txt",
            "/data",
            "/logo.png",
            "/style.css",
            "/report.pdf",
            "/ok.html",
        ]),
        "/broken.html" => Reply::status(500),
        "/notes.txt" => Reply::typed("text/plain", b"<a href=\"/hidden.html\">not a link</a>".to_vec()),
        "/data" => Reply::typed("application/json", b"{}".to_vec()),
        "/ok.html" => page(&[]),
        "/hidden.html" => page(&[]),
        _ => Reply::status(404),
    })
    .unwrap();
    let c = run(&server.url("/"));
    assert_eq!(paths(&c, &server).iter().map(String::as_str).collect::<BTreeSet<_>>(), ["/", "/ok.html"].into());
    for p in ["/missing.html", "/broken.html", "/notes.txt", "/data"] {
        assert_eq!(server.hits(p), 1, "{p} is fetched once");
    }
    for p in ["/logo.png", "/style.css", "/report.pdf", "/hidden.html"] {
        assert_eq!(server.hits(p), 0, "{p} is never fetched");
    }
}

#[test]
fn base_href_and_fragments_decide_where_links_lead() {
    let server = WebServer::start(0, |path| match path {
        "/" => Reply::html(
            "<html><head><base href=\"/docs/\"></head><body>\
             <a href=\"intro.html#one\">1</a><a href=\"intro.html#two\">2</a><a href=\"#top\">top</a>\
             <a href=\"../about.html\">about</a></body></html>",
        ),
        "/docs/intro.html" | "/docs/" | "/about.html" => page(&[]),
        _ => Reply::status(404),
    })
    .unwrap();
    let c = run(&server.url("/"));
    assert_eq!(
        paths(&c, &server).iter().map(String::as_str).collect::<BTreeSet<_>>(),
        ["/", "/about.html", "/docs/", "/docs/intro.html"].into()
    );
    assert_eq!(server.hits("/docs/intro.html"), 1);
    assert_eq!(server.hits("/intro.html"), 0);
}

#[test]
fn only_pages_under_the_target_path_are_crawled() {
    let server = WebServer::start(0, |path| match path {
        "/preview/org/repo/" => page(&["a.html", "/preview/org/other/", "/", "/preview/org/repo/sub/"]),
        "/preview/org/repo/a.html" | "/preview/org/repo/sub/" | "/preview/org/other/" | "/" => page(&[]),
        _ => Reply::status(404),
    })
    .unwrap();
    let c = run(&server.url("/preview/org/repo/"));
    assert_eq!(paths(&c, &server)[0], "/preview/org/repo/");
    assert_eq!(c.pages.len(), 3, "{:?}", c.pages);
    assert_eq!(server.hits("/preview/org/other/"), 0);
    assert_eq!(server.hits("/"), 0);
}

#[test]
fn a_site_of_five_thousand_pages_is_crawled_whole() {
    let server = WebServer::start(0, generated_site(5000)).unwrap();
    let mut opts = Options::new(UA);
    (opts.max_pages, opts.max_requests) = (10_000, 10_000);
    let c = run_with(&server.url("/"), &opts);
    assert_eq!(c.pages.len(), 5001, "home and 5,000 pages");
    assert_eq!(c.pages[0], server.url("/"));
    assert_eq!(c.pages.iter().collect::<BTreeSet<_>>().len(), 5001, "no page twice");
    assert!(!c.out_of_budget);
    assert_eq!(server.requests().len(), 5002, "robots.txt and each page once");
    let sample = crawl::sample(c.pages, 400);
    assert_eq!(sample.len(), 400);
    assert_eq!(sample[0], server.url("/"));
}

#[test]
fn a_crawl_past_its_budget_keeps_what_it_found() {
    let server = WebServer::start(0, |path| {
        std::thread::sleep(std::time::Duration::from_millis(30));
        generated_site(100_000)(path)
    })
    .unwrap();
    let agent = build_task::http::agent(&Env::default());
    let mut opts = Options::new(UA);
    opts.budget = std::time::Duration::from_millis(500);
    let target = Target::parse(&server.url("/")).unwrap();
    let c = crawl::crawl(&agent, &local_fence(&target), &target, &opts, &Cancel::new()).unwrap();
    assert!(c.out_of_budget);
    assert!(!c.pages.is_empty() && c.pages.len() < 1000, "{} pages", c.pages.len());
    assert_eq!(c.pages[0], server.url("/"));
}

#[test]
fn the_fixture_site_gives_every_linked_page_once() {
    let Some(fixtures) = shared_fixtures() else { return };
    let server = WebServer::directory(0, &fixtures.join("axe/site")).unwrap();
    let c = run(&server.url("/"));
    let expected = sorted(FIXTURE_SITE_PAGES);
    assert_eq!(paths(&c, &server).into_iter().collect::<BTreeSet<_>>(), expected);
    assert_eq!(paths(&c, &server)[0], "/");
    assert_eq!(server.hits("/x.html"), 1);
    assert_eq!(server.hits("/map.html"), 1);
}

#[test]
fn a_target_without_its_trailing_slash_follows_the_redirect_to_it() {
    let server = WebServer::start(0, |path| match path {
        "/preview/org/repo" => Reply::redirect(301, "/preview/org/repo/"),
        "/preview/org/repo/" => page(&["about/"]),
        "/preview/org/repo/about/" => page(&[]),
        _ => Reply::status(404),
    })
    .unwrap();
    let c = run(&server.url("/preview/org/repo"));
    assert_eq!(paths(&c, &server), ["/preview/org/repo/", "/preview/org/repo/about/"]);
}

#[test]
fn a_page_with_ten_thousand_links_makes_no_more_requests_than_the_bound() {
    // Every link leads to a missing page, so only the request bound stops it.
    let server = WebServer::start(0, |path| match path {
        "/" => page(
            &(0..10_000)
                .map(|i| format!("/missing/{i}.html"))
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        ),
        _ => Reply::status(404),
    })
    .unwrap();
    let opts = Options::new(UA);
    let started = Instant::now();
    let c = run_with(&server.url("/"), &opts);
    let made = server.requests().len() as u64;
    assert!(made <= opts.max_requests, "{made} requests, bound {}", opts.max_requests);
    assert_eq!(made, c.requests, "the crawl counts what the site saw");
    assert!(made >= opts.max_requests - opts.concurrency as u64, "{made}: the bound, not something else, stopped it");
    assert_eq!(c.bound, Some(crawl::Bound::Requests));
    assert_eq!(paths(&c, &server), ["/"]);
    assert!(started.elapsed() < Duration::from_secs(60), "ended in {:?}", started.elapsed());
}

#[test]
fn a_site_larger_than_the_page_bound_stops_at_it() {
    let server = WebServer::start(0, generated_site(5000)).unwrap();
    let mut opts = Options::new(UA);
    opts.max_pages = 100;
    let c = run_with(&server.url("/"), &opts);
    assert_eq!(c.pages.len(), 100);
    assert_eq!(c.pages[0], server.url("/"));
    assert_eq!(c.bound, Some(crawl::Bound::Pages));
    let made = server.requests().len();
    assert!(made <= 1 + 100 + opts.concurrency, "{made} requests for 100 pages");
}

#[test]
fn an_endless_query_space_is_cut_at_the_query_variants_of_its_path() {
    // A pager without end: each page links to the next and to itself sorted.
    let server = WebServer::start(0, |target| {
        let Some(n) =
            target.strip_prefix("/list?p=").and_then(|q| q.split('&').next()).and_then(|n| n.parse::<u64>().ok())
        else {
            return match target {
                "/" => page(&["/list?p=1", "/about.html"]),
                "/about.html" => page(&["/"]),
                _ => Reply::status(404),
            };
        };
        page(&[&format!("/list?p={}", n + 1), &format!("/list?s=desc&p={n}"), "/list?p=1"])
    })
    .unwrap();
    let opts = Options::new(UA);
    let c = run_with(&server.url("/"), &opts);
    let lists = server.requests().iter().filter(|p| p.starts_with("/list?")).count();
    assert_eq!(lists, opts.max_query_variants, "{:?}", server.requests());
    assert_eq!(server.requests().len(), 3 + opts.max_query_variants, "robots.txt, /, /about.html and the variants");
    assert_eq!(c.pages.len(), 2 + opts.max_query_variants);
    assert!(c.queries_left_out > 0);
    assert_eq!(c.bound, None, "no bound on pages or requests was reached");
    let requests = server.requests();
    let unique: BTreeSet<&String> = requests.iter().collect();
    assert_eq!(unique.len(), requests.len(), "no URL twice");
}

#[test]
fn no_query_variants_follows_no_link_with_a_query() {
    let server = WebServer::start(0, |target| match target {
        "/" => page(&["/list?p=1", "/about.html"]),
        _ => page(&[]),
    })
    .unwrap();
    let mut opts = Options::new(UA);
    opts.max_query_variants = 0;
    let c = run_with(&server.url("/"), &opts);
    assert_eq!(paths(&c, &server), ["/", "/about.html"]);
    assert_eq!(c.queries_left_out, 1);
}

#[test]
fn a_429_with_retry_after_is_retried_after_the_wait_and_the_page_found() {
    let hits: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let log = hits.clone();
    let server = WebServer::start(0, move |path| {
        let mut log = log.lock().unwrap();
        let first = !log.iter().any(|(p, _)| p == path);
        log.push((path.to_owned(), Instant::now()));
        match path {
            "/" if first => busy(429, "1"),
            "/" => page(&["/a.html"]),
            "/a.html" if first => busy(503, "1"),
            "/a.html" => page(&[]),
            _ => Reply::status(404),
        }
    })
    .unwrap();
    let c = run(&server.url("/"));
    assert_eq!(paths(&c, &server), ["/", "/a.html"]);
    assert_eq!(c.failed, 0);
    let hits = hits.lock().unwrap();
    for p in ["/", "/a.html"] {
        let times: Vec<Instant> = hits.iter().filter(|(q, _)| q == p).map(|(_, t)| *t).collect();
        assert_eq!(times.len(), 2, "{p} asked for twice");
        let waited = times[1] - times[0];
        assert!(waited >= Duration::from_millis(990), "{p} retried after {waited:?}");
        assert!(waited < Duration::from_secs(10), "{p} retried after {waited:?}");
    }
}

#[test]
fn a_retry_after_as_an_http_date_is_honoured() {
    let first = Arc::new(Mutex::new(None::<Instant>));
    let seen = first.clone();
    let server = WebServer::start(0, move |path| {
        if path != "/" {
            return Reply::status(404);
        }
        let mut seen = seen.lock().unwrap();
        if seen.is_none() {
            *seen = Some(Instant::now());
            // Two seconds from now, as a date: whole seconds, so at least one.
            let at = std::time::SystemTime::now() + Duration::from_secs(2);
            return busy(429, &http_date(at));
        }
        page(&[])
    })
    .unwrap();
    let c = run(&server.url("/"));
    assert_eq!(paths(&c, &server), ["/"]);
    let waited = first.lock().unwrap().unwrap().elapsed();
    assert!(waited >= Duration::from_millis(990), "retried after {waited:?}");
    assert_eq!(server.hits("/"), 2);
}

#[test]
fn a_url_that_always_answers_429_is_tried_a_bounded_number_of_times() {
    let server = WebServer::start(0, |path| match path {
        "/" => page(&["/busy.html", "/ok.html"]),
        "/busy.html" => busy(429, "0"),
        "/ok.html" => page(&[]),
        _ => Reply::status(404),
    })
    .unwrap();
    let opts = Options::new(UA);
    let c = run_with(&server.url("/"), &opts);
    assert_eq!(server.hits("/busy.html"), 1 + opts.retries as usize);
    assert_eq!(c.failed, 1);
    assert_eq!(paths(&c, &server).iter().map(String::as_str).collect::<BTreeSet<_>>(), ["/", "/ok.html"].into());
}

#[test]
fn robots_txt_crawl_delay_spaces_the_requests_one_at_a_time() {
    let hits: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let log = hits.clone();
    let server = WebServer::start(0, move |path| {
        if path == "/robots.txt" {
            return Reply::typed("text/plain", b"User-agent: *\nCrawl-delay: 0.5\n".to_vec());
        }
        log.lock().unwrap().push(Instant::now());
        match path {
            "/" => page(&["/a.html", "/b.html", "/c.html"]),
            _ => page(&[]),
        }
    })
    .unwrap();
    let c = run(&server.url("/"));
    assert_eq!(c.pages.len(), 4);
    let hits = hits.lock().unwrap();
    assert_eq!(hits.len(), 4);
    for pair in hits.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_millis(480), "requests {gap:?} apart");
    }
}

/// `t` as an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
fn http_date(t: std::time::SystemTime) -> String {
    let secs = t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days.cast_signed() + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let name = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        [usize::try_from(month - 1).unwrap()];
    format!("{weekday}, {day:02} {name} {year} {:02}:{:02}:{:02} GMT", rem / 3600, rem / 60 % 60, rem % 60)
}
