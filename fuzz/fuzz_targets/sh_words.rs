//! `sh -c CMD` splitting: never a panic; an accepted command's first word,
//! as the shell would split it, is one of ours (quoting may spell it oddly:
//! `build-tas\k` is `build-task` to sh too).
#![no_main]

use std::ffi::{OsStr, OsString};

use build_task::entry::words;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|cmd: &str| {
    let args = vec![OsString::from("-c"), OsString::from(cmd)];
    if words(OsStr::new("/bin/sh"), args).is_ok() {
        let words = shlex::split(cmd).expect("an accepted command splits");
        let program = words.iter().find(|w| *w != "exec").expect("an accepted command has a program");
        assert!(
            program == "build-task"
                || program.ends_with("/build-task")
                || program.starts_with("python")
                || program.ends_with("run_pages_task.py"),
            "{program}"
        );
    }
});
