//! Any text as a ZAP report (and as a scan config): an error or a report,
//! never a panic.
#![no_main]

use build_task::site;
use build_task::tasks::owasp_zap::report::{parse, transform};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = site::rules(text);
    if let Ok(report) = parse(text) {
        let rules = site::rules(r#"{"rules":[{"id":"10038","match":["a"],"source":"Pages"},{"id":"10202"}]}"#)
            .expect("the fixed config parses");
        let mut out = Vec::new();
        let _ = transform(report, &rules, &mut out);
    }
});
