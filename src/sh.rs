//! The `sh -c` entry.
//!
//! Cloud Foundry starts a task as `/bin/sh -c '<command>'` (the docker app
//! lifecycle's launcher). The scratch image has no shell, so the binary is
//! also installed as /bin/sh: invoked under that name it splits the command
//! by POSIX shell quoting and runs itself on the words, when they are a
//! build-task command. It is not a general shell and says so.

use std::ffi::{OsStr, OsString};
use std::path::Path;

use crate::error::{Error, Result};

/// Whether we were started under the name `sh`.
pub fn invoked_as_sh(argv0: &OsStr) -> bool {
    Path::new(argv0).file_name().is_some_and(|n| n == "sh")
}

/// The build-task arguments (after the program name) of `sh -c CMD`.
pub fn command_words(args: &[OsString]) -> Result<Vec<OsString>> {
    let not_a_shell = |why: &str| {
        Error::usage(format!(
            "{why}: this /bin/sh is build-task, not a general shell; it only runs `[exec] build-task …` commands"
        ))
    };
    let (Some(flag), Some(cmd)) = (args.first(), args.get(1)) else {
        return Err(not_a_shell("expected `sh -c COMMAND`"));
    };
    if flag != "-c" {
        return Err(not_a_shell("expected `sh -c COMMAND`"));
    }
    let cmd = cmd.to_str().ok_or_else(|| not_a_shell("the command is not UTF-8"))?;
    let words = shlex::split(cmd).ok_or_else(|| not_a_shell("the command has unbalanced quotes"))?;
    let mut words = words.as_slice();
    if words.first().is_some_and(|w| w == "exec") {
        words = &words[1..];
    }
    let program = words.first().map(String::as_str).unwrap_or("");
    // As the word names a file to exec: `build-task` or a path ending in it
    // (Path would also take `build-task/`, which sh could not run).
    let is_us = program == "build-task" || program.ends_with("/build-task");
    let rest = if is_us {
        &words[1..]
    } else if matches!(program, "python" | "python3")
        && words.get(1).is_some_and(|script| script.ends_with("build-task/main.py"))
    {
        // The Python runtime's command line, as older BuildTaskType rows have it.
        &words[2..]
    } else {
        return Err(not_a_shell("the command does not start with build-task"));
    };
    Ok(rest.iter().map(OsString::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(cmd: &str) -> Result<Vec<String>> {
        let args = [OsString::from("-c"), OsString::from(cmd)];
        command_words(&args).map(|w| w.into_iter().map(|w| w.into_string().unwrap()).collect())
    }

    #[test]
    fn the_name_sh_selects_the_shell_entry() {
        assert!(invoked_as_sh(OsStr::new("/bin/sh")));
        assert!(invoked_as_sh(OsStr::new("sh")));
        assert!(!invoked_as_sh(OsStr::new("/usr/local/bin/build-task")));
    }

    #[test]
    fn a_pages_core_command_splits_into_our_words() {
        let words = split(r#"exec build-task example -t https://x.gov -p '{ "TASK_ID": 1:2:3, "B": "x y" }'"#).unwrap();
        assert_eq!(words, ["example", "-t", "https://x.gov", "-p", r#"{ "TASK_ID": 1:2:3, "B": "x y" }"#]);
        assert_eq!(split("/usr/local/bin/build-task list").unwrap(), ["list"]);
    }

    #[test]
    fn an_escaped_program_name_is_split_as_sh_would_split_it() {
        // Found by the sh_words fuzz target: `build-tas\k` is `build-task` to sh.
        assert_eq!(split("\n\nbuild-tas\\k list").unwrap(), ["list"]);
        assert_eq!(split("'build-task' list").unwrap(), ["list"]);
    }

    #[test]
    fn a_path_with_trailing_slashes_is_not_our_program() {
        // Found by the sh_words fuzz target: sh cannot exec `…/build-task//`.
        assert!(split("/usr/local/bin/build-task// list").is_err());
        assert!(split("x/build-task/ list").is_err());
    }

    #[test]
    fn the_legacy_python_command_is_accepted() {
        let words = split("python build-task/main.py -t 'a b' -p '{}'").unwrap();
        assert_eq!(words, ["-t", "a b", "-p", "{}"]);
        assert_eq!(split("python3 /build-task/main.py -t x").unwrap(), ["-t", "x"]);
    }

    #[test]
    fn other_commands_are_refused_as_not_a_shell() {
        for cmd in ["ls /", "rm -rf /", "", "build-task-other x", "python other.py", "exec", "echo 'unbalanced"] {
            let err = split(cmd).unwrap_err();
            assert!(err.message().contains("not a general shell"), "{cmd}: {err}");
        }
        let err = command_words(&[OsString::from("-x")]).unwrap_err();
        assert!(err.message().starts_with("expected `sh -c COMMAND`"));
    }
}
