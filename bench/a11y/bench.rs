//! The a11y bench's Rust side: serve a generated site, crawl, or scan.
//!
//!   a11y-bench serve PORT PAGES      a generated site on 127.0.0.1:PORT
//!   a11y-bench serve-dir PORT DIR    a directory on 127.0.0.1:PORT
//!   a11y-bench crawl URL [LIST]      crawl; prints `pages seconds`, the
//!                                    pages one a line into LIST
//!   a11y-bench scan AXE_JS DIR URL…  scan; prints `pages seconds`
//!   a11y-bench report RESULTS OUT URL  the report step on a results
//!                                    folder; prints `pages seconds peak-RSS-MiB`
//!
//! It drives the task's own crawl and scan modules, so the production
//! binary carries no bench entry point. bench/a11y/run.sh runs it.

#[path = "../../tests/support/http.rs"]
mod http;
// The tests' loopback web server; the bench uses only part of it.
#[allow(dead_code)]
#[path = "../../tests/support/web.rs"]
mod web;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use build_task::cancel::Cancel;
use build_task::env::Env;
use build_task::fence::Fence;
use build_task::site::Target;
use build_task::tasks::a11y::{crawl, report, scan};

const UA: &str = "cloudgovpagescrawler/1.0 (bench)";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_else(|| usage());
    match arg(0).as_str() {
        "serve" => {
            let port: u16 = arg(1).parse().unwrap_or_else(|_| usage());
            let pages: usize = arg(2).parse().unwrap_or_else(|_| usage());
            let _server = web::WebServer::start(port, web::generated_site(pages)).expect("bind");
            park();
        }
        "serve-dir" => {
            let port: u16 = arg(1).parse().unwrap_or_else(|_| usage());
            let _server = web::WebServer::directory(port, &PathBuf::from(arg(2))).expect("bind");
            park();
        }
        "crawl" => {
            let agent = build_task::http::agent(&Env::default());
            let started = Instant::now();
            // The whole generated site, as Scrapy (which has no bounds) crawls it.
            let mut opts = crawl::Options::new(UA);
            opts.max_pages = 100_000;
            opts.max_requests = 1_000_000;
            let target = Target::parse(&arg(1)).expect("a target URL");
            // A local run's fence: the bench's site is on loopback.
            let fence = Fence::for_run(false, target.url()).expect("the target is reachable");
            let found = crawl::crawl(&agent, &fence, &target, &opts, &Cancel::new()).expect("crawl");
            println!("{} {:.3}", found.pages.len(), started.elapsed().as_secs_f64());
            if let Some(list) = args.get(2) {
                std::fs::write(list, found.pages.join("\n") + "\n").expect("write the page list");
            }
        }
        "scan" => {
            let dir = PathBuf::from(arg(2));
            let cfg = scan::Config {
                chromium: "/usr/bin/chromium-headless-shell".into(),
                axe_js: PathBuf::from(arg(1)),
                user_agent: UA.into(),
                page_load_timeout: Duration::from_secs(60),
                script_timeout: Duration::from_secs(120),
                scratch: dir.join("scratch"),
                temp_root: std::env::temp_dir(),
                deadline: None,
                page_memory_mib: None,
                // The bench's site is on loopback: the browser may reach the pages' origins.
                fence: Fence::with_loopback(&args[3..].iter().map(String::as_str).collect::<Vec<_>>())
                    .expect("the pages are on loopback"),
            };
            let urls = args[3..].to_vec();
            let started = Instant::now();
            let summary = scan::scan(&Cancel::new(), &cfg, &urls, &dir.join("results")).expect("scan");
            let _ = std::fs::remove_dir_all(dir.join("scratch"));
            println!("{} {:.3}", summary.scanned, started.elapsed().as_secs_f64());
        }
        "report" => {
            let started = Instant::now();
            let written =
                report::generate(&PathBuf::from(arg(1)), &PathBuf::from(arg(2)), &arg(3), &[], None).expect("report");
            println!("{} {:.3} {}", written.pages, started.elapsed().as_secs_f64(), peak_rss_mib());
        }
        _ => usage(),
    }
}

/// This process's peak resident set (VmHWM), in MiB.
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib =
        status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().split(' ').next()?.parse().ok());
    kib.unwrap_or(0) / 1024
}

fn park() -> ! {
    loop {
        std::thread::park();
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: a11y-bench serve PORT PAGES | serve-dir PORT DIR | crawl URL | scan AXE_JS DIR URL... | report RESULTS OUT URL"
    );
    std::process::exit(2);
}
