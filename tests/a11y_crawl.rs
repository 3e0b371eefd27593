//! The a11y crawler against generated sites served on loopback.

use std::collections::BTreeSet;

use build_task::cancel::Cancel;
use build_task::env::Env;
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
    crawl::crawl(&agent, target, opts, &Cancel::new()).expect("the crawl runs")
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
    let c = crawl::crawl(&agent, &server.url("/"), &opts, &Cancel::new()).unwrap();
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
