//! Any text as a ZAP report (and as a scan config): an error or a report,
//! never a panic.
#![no_main]

use build_task::tasks::owasp_zap::report::{Config, parse, transform};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = Config::parse(text);
    if let Ok(report) = parse(text) {
        let config = Config::parse(r#"{"rules":[{"id":"10038","match":["a"],"source":"Pages"},{"id":"10202"}]}"#)
            .expect("the fixed config parses");
        let mut out = Vec::new();
        let _ = transform(report, &config, &mut out);
    }
});
