//! Command lines from NUL-separated words: parsing and flag checks never panic.
#![no_main]

use std::ffi::OsString;

use build_task::cli::{Command, parse};
use build_task::env::Env;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    let words: Vec<OsString> = data.split('\0').map(OsString::from).collect();
    if let Ok(Command::Run(inv)) = parse(words, &Env::default()) {
        let _ = inv.task_flags(None);
    }
});
