//! How the process was started: the program name picks the entry.
//!
//! Cloud Foundry starts a task as `/bin/sh -c '<command>'` with the image's
//! own `/bin/sh`, and pages-core's BuildTaskType rows hold commands of three
//! shapes. Each image answers all of them by laying out names that lead here
//! (hardening/entries.sh):
//!
//! | pages-core's command             | how it reaches build-task                   | words   |
//! |----------------------------------|---------------------------------------------|---------|
//! | `exec build-task TASK …`         | `/usr/local/bin/build-task` on PATH         | as is   |
//! | `python build-task/main.py …`    | `/build-task/main.py`, a Python script that | as is   |
//! |                                  | execs build-task; where the image has no    |         |
//! |                                  | Python, `python` is build-task itself       |         |
//! | `zap/run_pages_task.py …`        | `/zap/run_pages_task.py -> build-task`      | `owasp-zap …` |
//!
//! The scratch image has no shell: there `/bin/sh` is build-task, which
//! splits the command as POSIX sh would and takes the same program words. It
//! is not a general shell and says so.

use std::ffi::{OsStr, OsString};
use std::path::Path;

use crate::error::{Error, Result};

/// The script pages-core's Python-era command runs, from `/`.
const PYTHON_MAIN: &str = "build-task/main.py";

/// The owasp-zap image's own entry in pages-core's ZAP migration.
const ZAP_ENTRY: &str = "run_pages_task.py";

/// The command forms pages-core stores that start `task` (the words before
/// its flags), for `build-task doctor` to try. The Python form takes the
/// task from BUILD_TASK, as each image sets it.
pub fn forms(task: &str) -> Vec<String> {
    let mut forms = vec![format!("exec build-task {task}"), format!("python {PYTHON_MAIN}")];
    if task == "owasp-zap" {
        forms.push(format!("zap/{ZAP_ENTRY}"));
    }
    forms
}

/// The build-task words of a process started as `argv0 args…`.
pub fn words(argv0: &OsStr, args: Vec<OsString>) -> Result<Vec<OsString>> {
    let name = Path::new(argv0).file_name().unwrap_or_default();
    if name == "sh" {
        sh_words(&args)
    } else if name == "python" || name == "python3" {
        python_words(args)
    } else if name == ZAP_ENTRY {
        Ok(std::iter::once(OsString::from("owasp-zap")).chain(args).collect())
    } else {
        Ok(args)
    }
}

/// As `python`, in an image without Python: only `python build-task/main.py …`.
fn python_words(mut args: Vec<OsString>) -> Result<Vec<OsString>> {
    if args.first().and_then(|s| s.to_str()).is_some_and(is_python_main) {
        args.remove(0);
        return Ok(args);
    }
    Err(Error::usage(format!(
        "this python is build-task, standing in for pages-core's `python {PYTHON_MAIN} …` command; \
         the image has no Python to run anything else"
    )))
}

fn is_python_main(script: &str) -> bool {
    script == PYTHON_MAIN || script.ends_with(&format!("/{PYTHON_MAIN}"))
}

/// The build-task arguments of `sh -c CMD`.
fn sh_words(args: &[OsString]) -> Result<Vec<OsString>> {
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
    let (task, rest) = if names_file(program, "build-task") {
        (None, &words[1..])
    } else if matches!(program, "python" | "python3") && words.get(1).is_some_and(|s| is_python_main(s)) {
        (None, &words[2..])
    } else if names_file(program, ZAP_ENTRY) {
        (Some("owasp-zap"), &words[1..])
    } else {
        return Err(not_a_shell("the command does not start with build-task"));
    };
    Ok(task.into_iter().map(OsString::from).chain(rest.iter().map(OsString::from)).collect())
}

/// Whether a program word names the file `name`, as sh would exec it: the
/// name itself or a path ending in it (Path would also take `name/`, which sh
/// could not run).
fn names_file(program: &str, name: &str) -> bool {
    program == name || program.strip_suffix(name).is_some_and(|dir| dir.ends_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(words: Vec<OsString>) -> Vec<String> {
        words.into_iter().map(|w| w.into_string().unwrap()).collect()
    }

    fn started(argv0: &str, args: &[&str]) -> Result<Vec<String>> {
        words(OsStr::new(argv0), args.iter().map(OsString::from).collect()).map(strings)
    }

    fn split(cmd: &str) -> Result<Vec<String>> {
        started("/bin/sh", &["-c", cmd])
    }

    #[test]
    fn any_other_program_name_takes_the_words_as_given() {
        assert_eq!(started("/usr/local/bin/build-task", &["list"]).unwrap(), ["list"]);
        assert_eq!(started("build-task", &["-c", "x"]).unwrap(), ["-c", "x"]);
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
        assert!(split("zap/run_pages_task.py/ -t x").is_err());
    }

    #[test]
    fn the_python_command_is_accepted_under_sh() {
        let words = split("python build-task/main.py -t 'a b' -p '{}'").unwrap();
        assert_eq!(words, ["-t", "a b", "-p", "{}"]);
        assert_eq!(split("python3 /build-task/main.py -t x").unwrap(), ["-t", "x"]);
    }

    #[test]
    fn the_zap_command_runs_the_owasp_zap_task_under_sh() {
        assert_eq!(split("zap/run_pages_task.py -t x -p '{}'").unwrap(), ["owasp-zap", "-t", "x", "-p", "{}"]);
        assert_eq!(split("exec /zap/run_pages_task.py -t x").unwrap(), ["owasp-zap", "-t", "x"]);
    }

    #[test]
    fn started_as_python_only_the_build_task_script_is_run() {
        assert_eq!(started("python", &["build-task/main.py", "-t", "x"]).unwrap(), ["-t", "x"]);
        assert_eq!(started("/usr/local/bin/python3", &["/build-task/main.py"]).unwrap(), Vec::<String>::new());
        for args in [&[][..], &["-c", "print(1)"], &["other.py"], &["build-task/main.pyc"], &["xbuild-task/main.py"]] {
            let err = started("/usr/local/bin/python", args).unwrap_err();
            assert!(err.message().contains("has no Python to run anything else"), "{args:?}: {err}");
        }
    }

    #[test]
    fn started_as_the_zap_entry_the_task_is_owasp_zap() {
        assert_eq!(started("zap/run_pages_task.py", &["-t", "x"]).unwrap(), ["owasp-zap", "-t", "x"]);
    }

    #[test]
    fn other_commands_are_refused_as_not_a_shell() {
        for cmd in ["ls /", "rm -rf /", "", "build-task-other x", "python other.py", "exec", "echo 'unbalanced"] {
            let err = split(cmd).unwrap_err();
            assert!(err.message().contains("not a general shell"), "{cmd}: {err}");
        }
        let err = started("sh", &["-x"]).unwrap_err();
        assert!(err.message().starts_with("expected `sh -c COMMAND`"));
    }
}
