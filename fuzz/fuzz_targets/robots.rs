//! robots.txt matching on any body and path: never a panic.
#![no_main]

use build_task::tasks::a11y::robots::Robots;
use libfuzzer_sys::fuzz_target;
use url::Url;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    let (body, path) = data.split_at(split);
    let robots = Robots::from_body(body, "cloudgovpagescrawler/1.0");
    let path = String::from_utf8_lossy(path);
    if let Ok(url) = Url::parse("http://127.0.0.1:8080/").and_then(|b| b.join(path.trim_start_matches('\0'))) {
        let _ = robots.allowed(&url);
    }
});
