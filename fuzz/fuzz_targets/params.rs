//! The -p text, plain and with a key: never a panic, and a parse that
//! succeeds yields a TASK_ID of digits and a prefix that stays a prefix.
#![no_main]

use build_task::crypto::Key;
use build_task::params::{Params, quote_bare_values};
use build_task::secret::Secret;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = quote_bare_values(text);
    let key = Key::from_secret(&Secret::new("fuzz"));
    for key in [None, Some(&key)] {
        if let Ok(p) = Params::parse(text, key) {
            assert!(p.task_id.bytes().all(|b| b.is_ascii_digit()));
            assert!(p.artifact_prefix().ends_with('/') && !p.artifact_prefix().contains(".."));
        }
    }
});
