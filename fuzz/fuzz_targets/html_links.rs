//! The crawler's link extraction on any bytes: never a panic, and every
//! link it returns is an absolute URL.
#![no_main]

use build_task::tasks::a11y::links::links;
use libfuzzer_sys::fuzz_target;
use url::Url;

fuzz_target!(|html: &[u8]| {
    let page = Url::parse("http://127.0.0.1:8080/dir/page.html").expect("a fixed URL");
    for link in links(html, &page) {
        assert!(Url::parse(&link).is_ok(), "{link}");
    }
});
