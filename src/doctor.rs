//! `build-task doctor`: inside an image, checks everything a run of its task
//! needs, one line a check, and exits non-zero naming what is missing.
//!
//! The runtime's own checks come first: a writable TMPDIR, the CA roots the
//! HTTP agent trusts, and every command form pages-core stores reaching the
//! task through the image's own `/bin/sh -c`, from `/`, as Cloud Foundry
//! starts it. Then the task's ([`Task`]'s `doctor`): its tools at their
//! configured paths and their versions.
//!
//! Cheap enough for every start: `BUILD_TASK_DOCTOR=true` runs the same
//! checks before a run's task, and a failed one ends the run in an error
//! status naming it.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::entry;
use crate::env::Env;
use crate::task::Task;

/// One check's outcome: what was found, or why it failed.
pub struct Check {
    pub name: String,
    pub outcome: Result<String, String>,
}

impl Check {
    pub fn new(name: impl Into<String>, outcome: Result<String, String>) -> Check {
        Check { name: name.into(), outcome }
    }

    pub fn passed(&self) -> bool {
        self.outcome.is_ok()
    }

    /// `ok    name: detail` or `FAIL  name: why`.
    pub fn line(&self) -> String {
        match &self.outcome {
            Ok(detail) => format!("ok    {}: {detail}", self.name),
            Err(why) => format!("FAIL  {}: {why}", self.name),
        }
    }
}

/// Every check for `task`, the runtime's first.
pub fn checks(task: &Task, env: &Env) -> Vec<Check> {
    let mut checks = vec![tmpdir(env), crate::http::roots_check(env)];
    checks.extend(entry::forms(task.name).into_iter().map(|form| command_form(task, &form)));
    checks.extend((task.doctor)(env));
    checks
}

/// The report and the exit code of `build-task doctor`.
pub fn report(task: &Task, env: &Env) -> (String, bool) {
    let checks = checks(task, env);
    let mut text: String = checks.iter().map(|c| c.line() + "\n").collect();
    let failed = checks.iter().filter(|c| !c.passed()).count();
    if failed == 0 {
        text += &format!("doctor: {} checks passed for {}\n", checks.len(), task.name);
    } else {
        let names = failed_names(&checks);
        text += &format!("doctor: {failed} of {} checks failed for {}: {names}\n", checks.len(), task.name);
    }
    (text, failed == 0)
}

/// The names of the failed checks, comma-separated ("" when none failed).
pub fn failed_names(checks: &[Check]) -> String {
    checks.iter().filter(|c| !c.passed()).map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
}

/// A file created and removed where runs keep their scratch space.
fn tmpdir(env: &Env) -> Check {
    Check::new("TMPDIR", writable(&env.tmp_dir()))
}

/// `dir` is an existing directory that takes new files: a probe file is
/// created in it and removed.
pub fn writable(dir: &Path) -> Result<String, String> {
    let probe = dir.join(format!(".build-task-doctor-{}", std::process::id()));
    std::fs::write(&probe, b"probe")
        .and_then(|()| std::fs::remove_file(&probe))
        .map(|()| format!("{} is writable", dir.display()))
        .map_err(|e| format!("cannot write in {}: {e}", dir.display()))
}

/// `/bin/sh -c '<form> -t … --help'` from `/` must print the task's help,
/// which it does only when the form reached this task.
fn command_form(task: &Task, form: &str) -> Check {
    let command = format!("{form} -t https://doctor.invalid/ --help");
    let want = format!("{}: ", task.name);
    let outcome = match Command::new("/bin/sh")
        .args(["-c", &command])
        .current_dir("/")
        // Pipes, not /dev/null: a scratch image may have no /dev.
        .stdin(Stdio::piped())
        .output()
    {
        Err(e) => Err(format!("cannot start /bin/sh: {e}")),
        Ok(out) if out.status.success() && out.stdout.starts_with(want.as_bytes()) => {
            Ok(format!("/bin/sh -c starts {}", task.name))
        }
        Ok(out) => {
            let said = String::from_utf8_lossy(if out.stderr.is_empty() { &out.stdout } else { &out.stderr });
            let said = said.lines().next().unwrap_or("").trim();
            Err(format!("/bin/sh -c did not reach {} ({}): {said}", task.name, out.status))
        }
    };
    Check::new(format!("command `{form} …`"), outcome)
}

/// The first line `program --version` prints, for a tool's check.
pub fn version_line(program: &Path) -> Result<String, String> {
    let out = Command::new(program)
        .arg("--version")
        .stdin(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_owned();
    if !out.status.success() || line.is_empty() {
        return Err(format!("`{} --version` failed ({})", program.display(), out.status));
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_line_says_ok_or_fail_and_why() {
        assert_eq!(Check::new("TMPDIR", Ok("/tmp is writable".into())).line(), "ok    TMPDIR: /tmp is writable");
        assert_eq!(Check::new("Chromium", Err("not at /x".into())).line(), "FAIL  Chromium: not at /x");
    }

    #[test]
    fn an_unwritable_tmpdir_fails_its_check() {
        let env = Env::from_pairs([("TMPDIR", "/nonexistent/dir")]);
        let check = tmpdir(&env);
        assert!(check.outcome.unwrap_err().starts_with("cannot write in /nonexistent/dir: "));
    }

    #[test]
    fn a_program_that_fails_has_no_version() {
        assert!(version_line(Path::new("/nonexistent/tool")).unwrap_err().starts_with("cannot run /nonexistent/tool"));
        assert!(version_line(Path::new("false")).is_err());
    }
}
