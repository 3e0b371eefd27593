//! `sh -c CMD` splitting: never a panic; accepted commands start with ours.
#![no_main]

use std::ffi::OsString;

use build_task::sh::command_words;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|cmd: &str| {
    let args = [OsString::from("-c"), OsString::from(cmd)];
    if command_words(&args).is_ok() {
        assert!(cmd.contains("build-task"));
    }
});
