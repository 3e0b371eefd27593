//! The `owasp-zap` task: ZAP's baseline scan of the site, then the report
//! pages-core's report page reads.
//!
//! The scan is ZAP's own `zap-baseline.py`, run as the Python task ran it;
//! the report step (report.rs, markdown.rs) is the Python task's Node
//! reporter redone in Rust, so the image is ZAP's base image plus this binary.

pub mod markdown;
pub mod report;
pub mod value;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::task::{Check, Context, Env, Error, Outcome, Result, SITE_SCAN_FLAGS, Task, debug, info};

/// ZAP's scan script in the zaproxy/zap-stable image.
const ZAP_COMMAND: &str = "/zap/zap-baseline.py";
/// ZAP's mounted work directory: `-J report.json` is written there.
const ZAP_WRK: &str = "/zap/wrk";
/// pages-core cancels a build task after 60 minutes; stopping the scan at 55
/// leaves time to report our own, clearer error first.
const ZAP_TIMEOUT: Duration = Duration::from_secs(55 * 60);
/// How many of ZAP's last output lines an error quotes.
const TAIL_LINES: usize = 20;
/// Longer output lines are cut in the quoted tail (the log gets them whole).
const TAIL_LINE_CHARS: usize = 300;

pub const TASK: Task = Task {
    name: "owasp-zap",
    about: "Run ZAP's baseline scan of the site and report its alerts.",
    flags: SITE_SCAN_FLAGS,
    run,
    doctor,
    platform_rules: 10,
};

fn run(ctx: &Context) -> Result<Outcome> {
    let site = ctx.site()?;
    info!("{} scan rules", site.rules.len());

    let scan = Scan::from_env(&ctx.env)?;
    let report = scan.run(ctx, site.target.as_str())?;
    let started = Instant::now();
    let index = ctx.out_dir.join("index.json");
    let count = report::generate(&report, &site.rules, &index).inspect_err(|_| {
        let _ = std::fs::remove_file(&index);
    })?;
    info!("report written in {} ms: {count} issues", started.elapsed().as_millis());
    Ok(Outcome { message: None, count })
}

/// What a run needs, as the real zap-baseline.py needs it (CONTRACT D): the
/// script and its interpreter, its Python packages, ZAP's launcher beside
/// it, a HOME to write its plan and summary in, the sign that it runs in a
/// container (else it tries to start ZAP with `docker` and exits 3), and
/// ZAP's work directory for the report.
fn doctor(env: &Env) -> Vec<Check> {
    let scan = match Scan::from_env(env) {
        Ok(scan) => scan,
        Err(e) => return vec![Check::new("ZAP settings", Err(e.to_string()))],
    };
    let interpreter = scan.interpreter(env);
    let mut checks = vec![Check::new(
        "zap-baseline",
        interpreter.clone().map(|path| match path {
            Some(path) => format!("{} runs with {}", scan.command[0], path.display()),
            None => format!("{} is executable", scan.command[0]),
        }),
    )];
    if let Ok(Some(python)) = &interpreter
        && python.file_name().is_some_and(|name| name.to_string_lossy().starts_with("python"))
    {
        checks.push(Check::new("ZAP's Python packages", python_imports(python, PYTHON_PACKAGES)));
    }
    checks.extend([
        Check::new("ZAP launcher", scan.check_launcher()),
        Check::new("HOME", check_home(env)),
        Check::new("container", check_container(env)),
        Check::new("ZAP work directory", scan.check_wrk()),
    ]);
    checks
}

/// The modules zap-baseline.py imports beyond Python's own.
const PYTHON_PACKAGES: &[&str] = &["yaml", "zapv2"];

/// `python` imports each of `modules`; an error names those it cannot, and why.
fn python_imports(python: &Path, modules: &[&str]) -> std::result::Result<String, String> {
    const PROGRAM: &str = "import sys\nbad = []\nfor name in sys.argv[1:]:\n    try:\n        __import__(name)\n    except Exception as e:\n        bad.append('%s (%s)' % (name, e))\nprint('; '.join(bad))\nsys.exit(1 if bad else 0)\n";
    let out = Command::new(python)
        .arg("-c")
        .arg(PROGRAM)
        .args(modules)
        .stdin(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    let said = String::from_utf8_lossy(&out.stdout);
    let said: String = said.lines().next().unwrap_or("").chars().take(TAIL_LINE_CHARS).collect();
    match out.status.success() {
        true => Ok(format!("{} imports {}", python.display(), modules.join(" and "))),
        false if said.is_empty() => Err(format!("{} failed ({})", python.display(), out.status)),
        false => Err(format!("{} cannot import {said}", python.display())),
    }
}

/// zap-baseline.py writes its plan (zap.yaml) and ZAP's summary
/// (zap_out.json) in HOME, which it does not create.
fn check_home(env: &Env) -> std::result::Result<String, String> {
    let home =
        env.get("HOME").filter(|h| !h.is_empty()).ok_or("HOME is not set: zap-baseline.py writes its plan there")?;
    crate::task::writable(Path::new(home))
        .map_err(|e| format!("{e} (zap-baseline.py writes its plan and summary in HOME)"))
}

/// zap-baseline.py runs ZAP itself only when it sees it is in a container.
fn check_container(env: &Env) -> std::result::Result<String, String> {
    if env.get("IS_CONTAINERIZED") == Some("true") {
        return Ok("IS_CONTAINERIZED=true".to_owned());
    }
    match ["/.dockerenv", "/run/.containerenv"].into_iter().find(|p| Path::new(p).exists()) {
        Some(marker) => Ok(format!("{marker} exists")),
        None => Err("IS_CONTAINERIZED is not `true` and there is no /.dockerenv: zap-baseline.py would try to start ZAP with docker and exit 3".to_owned()),
    }
}

/// A program's path on PATH, as the shell would find it.
fn find_on_path(name: &str, env: &Env) -> Option<PathBuf> {
    std::env::split_paths(env.get("PATH")?).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// An executable file at `path`.
fn executable(path: &Path) -> std::result::Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(format!("{} is not an executable file", path.display()));
    }
    Ok(())
}

/// How to run the scanner; each part can be changed by the environment.
struct Scan {
    /// `BUILD_TASK_ZAP_COMMAND`, shell words (tests put a stand-in here).
    command: Vec<String>,
    /// `BUILD_TASK_ZAP_WRK`.
    wrk: PathBuf,
    /// `BUILD_TASK_ZAP_TIMEOUT`, in seconds.
    limit: Duration,
}

impl Scan {
    /// The scanner is an executable file, and so is its script's
    /// interpreter: that interpreter, or None for a program with no `#!`.
    fn interpreter(&self, env: &Env) -> std::result::Result<Option<PathBuf>, String> {
        let program = Path::new(&self.command[0]);
        executable(program).map_err(|e| format!("{e} (set BUILD_TASK_ZAP_COMMAND)"))?;
        let mut head = Vec::new();
        std::fs::File::open(program)
            .and_then(|f| f.take(512).read_to_end(&mut head))
            .map_err(|e| format!("cannot read {}: {e}", program.display()))?;
        let Some(line) = head.strip_prefix(b"#!").and_then(|h| h.split(|b| *b == b'\n').next()) else {
            return Ok(None);
        };
        let words: Vec<String> = String::from_utf8_lossy(line).split_whitespace().map(str::to_owned).collect();
        // `#!/usr/bin/env python` names its interpreter by the next word.
        let interpreter = match words.as_slice() {
            [first, name, ..] if first.ends_with("/env") => find_on_path(name, env),
            [path, ..] => Some(PathBuf::from(path)).filter(|p| p.is_file()),
            [] => None,
        };
        match interpreter {
            Some(path) => Ok(Some(path)),
            None => Err(format!("{}'s interpreter `{}` is not in the image", program.display(), words.join(" "))),
        }
    }

    /// zap-baseline.py starts ZAP as /zap/zap-x.sh, beside itself in ZAP's image.
    fn check_launcher(&self) -> std::result::Result<String, String> {
        let launcher = Path::new(&self.command[0]).with_file_name("zap-x.sh");
        executable(&launcher).map_err(|e| format!("{e}: zap-baseline.py starts ZAP with it"))?;
        Ok(format!("{} is executable", launcher.display()))
    }

    /// ZAP's work directory can take the report.
    fn check_wrk(&self) -> std::result::Result<String, String> {
        std::fs::create_dir_all(&self.wrk)
            .map_err(|e| format!("cannot create {}: {e}", self.wrk.display()))
            .and_then(|()| crate::task::writable(&self.wrk))
            .map_err(|e| format!("{e} (set BUILD_TASK_ZAP_WRK)"))
    }

    fn from_env(env: &Env) -> Result<Scan> {
        let command = match env.program("BUILD_TASK_ZAP_COMMAND")? {
            Some(text) => shlex::split(text)
                .filter(|words| !words.is_empty())
                .ok_or_else(|| Error::usage("BUILD_TASK_ZAP_COMMAND is not a command"))?,
            None => vec![ZAP_COMMAND.to_owned()],
        };
        let wrk = PathBuf::from(env.get("BUILD_TASK_ZAP_WRK").unwrap_or(ZAP_WRK));
        let limit = env.whole_number("BUILD_TASK_ZAP_TIMEOUT", 1, 24 * 3600, ZAP_TIMEOUT.as_secs())?;
        let limit = Duration::from_secs(limit);
        Ok(Scan { command, wrk, limit })
    }

    /// Runs the scan; returns the path of its JSON report.
    fn run(&self, ctx: &Context, target: &str) -> Result<PathBuf> {
        std::fs::create_dir_all(&self.wrk)
            .map_err(|e| Error::failed(format!("cannot create ZAP's work directory {}: {e}", self.wrk.display())))?;
        let report = self.wrk.join("report.json");
        // A report left by an earlier run must not pass for this one's, nor
        // ZAP's summary in HOME, from which zap-baseline.py takes its exit code.
        let summary = ctx.env.get("HOME").map(|home| Path::new(home).join("zap_out.json"));
        for old in [Some(&report), summary.as_ref()].into_iter().flatten() {
            match std::fs::remove_file(old) {
                Ok(()) => {}
                Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {}
                Err(e) => return Err(Error::failed(format!("cannot remove the old {}: {e}", old.display()))),
            }
        }

        let mut cmd = Command::new(&self.command[0]);
        cmd.args(&self.command[1..])
            // -I: warnings do not fail the scan; -d: debug output (to our
            // debug log); -T 5: at most 5 minutes of passive scanning.
            .args(["-t", target, "-J", "report.json", "-I", "-d", "-T", "5"])
            .current_dir(&self.wrk)
            // The image's own environment, but not the key our arguments are
            // encrypted with: the scanner has no use for it.
            .env_remove("VCAP_SERVICES")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        info!("running {} (time limit {} s)", self.command.join(" "), self.limit.as_secs());
        let started = Instant::now();
        let mut child = ctx.cancel.spawn(&mut cmd, &format!("the ZAP scan ({})", self.command[0]))?;
        let tail = Tail::default();
        let readers = [
            child.child().stdout.take().map(|out| tail.follow(out)),
            child.child().stderr.take().map(|err| tail.follow(err)),
        ];
        let waited = child.wait(self.limit);
        // The scan is over: whatever it left running in its group goes too,
        // so the readers see the end of their pipes.
        drop(child);
        for reader in readers.into_iter().flatten() {
            let deadline = Instant::now() + Duration::from_secs(2);
            while !reader.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let status = match waited {
            Ok(status) => {
                // A cancel kills the scan, which may end before the wait sees the cancel.
                ctx.cancel.check()?;
                status
            }
            Err(e) if e.is_cancelled() => return Err(e),
            Err(e) => return Err(Error::failed(format!("the ZAP scan did not finish: {e}{}", tail.quote()))),
        };
        info!("the ZAP scan ended after {} s: {status}", started.elapsed().as_secs());
        // With -I, 0, 1 and 2 (passed, warnings, failures) are a finished scan.
        match status.code() {
            Some(0..=2) => {}
            Some(code) => {
                return Err(Error::failed(format!("the ZAP scan failed with exit code {code}{}", tail.quote())));
            }
            None => {
                use std::os::unix::process::ExitStatusExt;
                let signal = status.signal().unwrap_or(0);
                return Err(Error::failed(format!("the ZAP scan was killed by signal {signal}{}", tail.quote())));
            }
        }
        // zap-baseline.py exits 1 for a FAIL, and also for an uncaught
        // exception (a missing HOME, a missing module): then it wrote no report.
        if !report.is_file() {
            let code = status.code().unwrap_or(0);
            return Err(Error::failed(format!(
                "the ZAP scan ended with exit code {code} but wrote no report at {}{}",
                report.display(),
                tail.quote()
            )));
        }
        Ok(report)
    }
}

/// The last lines of a child's output, kept while every line goes to the
/// debug log.
#[derive(Clone, Default)]
struct Tail(Arc<Mutex<VecDeque<String>>>);

impl Tail {
    /// Reads `pipe` to its end on a thread of its own.
    fn follow(&self, pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<()> {
        let tail = self.clone();
        std::thread::spawn(move || {
            let mut pipe = BufReader::new(pipe);
            let mut line = Vec::new();
            loop {
                line.clear();
                match pipe.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_end();
                debug!("zap: {text}");
                if let Ok(mut lines) = tail.0.lock() {
                    if lines.len() == TAIL_LINES {
                        lines.pop_front();
                    }
                    lines.push_back(text.chars().take(TAIL_LINE_CHARS).collect());
                }
            }
        })
    }

    /// `": its last lines:\n…"`, or nothing when it printed nothing.
    fn quote(&self) -> String {
        let lines = self.0.lock().map(|l| l.iter().cloned().collect::<Vec<_>>()).unwrap_or_default();
        if lines.is_empty() {
            return " (it printed nothing)".to_owned();
        }
        format!("; its last lines:\n{}", lines.join("\n"))
    }
}
