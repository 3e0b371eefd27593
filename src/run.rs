//! The main loop: the only place that knows the order of a run.
//!
//! ```text
//! words ─ cli ─> invocation ─ params (decrypted) ─> reporter
//!   flags checked ─> "processing" ─> task.run ─> store.put_artifact ─> "success"
//!   any error, panic or signal ─> one "error" ─> exit code
//! ```

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::callback::{self, CallbackUrl, Reporter, Status, Success};
use crate::cancel::Cancel;
use crate::cli::{self, Command, Invocation};
use crate::crypto::Key;
use crate::env::Env;
use crate::error::{Error, exit};
use crate::log::{self, Level};
use crate::params::Params;
use crate::store::Store;
use crate::store::local::LocalStore;
use crate::store::s3::S3Store;
use crate::task::{Context, Outcome};
use crate::{doctor, entry, error, info, tasks};

/// The reporter of this process, for the signal watcher and the panic hook.
static REPORTER: OnceLock<Arc<Reporter>> = OnceLock::new();

/// How long the signal watcher lets the main thread wind down (abort a
/// multipart upload, report) before it reports and exits itself.
const WIND_DOWN: Duration = Duration::from_millis(2500);

/// How long after a signal a terminal status may still be tried: Cloud
/// Foundry sends SIGKILL 10 s after SIGTERM; the rest is for exiting.
const GRACE: Duration = Duration::from_millis(8500);

/// How long the watcher waits for a terminal status the main thread has in
/// flight before it sends a success again on a new connection.
const IN_FLIGHT_WAIT: Duration = Duration::from_secs(1);

/// This run's directory under TMPDIR, for the signal watcher and the panic
/// hook to remove: their exit skips the main thread's clean-up.
static RUN_ROOT: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Removes the run's directory, if it has one.
fn remove_run_root() {
    if let Some(root) = RUN_ROOT.lock().unwrap_or_else(|p| p.into_inner()).take() {
        let _ = std::fs::remove_dir_all(root);
    }
}

/// Runs the process's arguments (program name first); returns the exit code.
pub fn main(argv: Vec<OsString>) -> i32 {
    let started = Instant::now();
    let env = Env::from_process();
    let level = match env.get("LOGLEVEL") {
        None => Ok(()),
        Some(text) => Level::parse(text)
            .map(log::set_level)
            .ok_or_else(|| Error::usage("LOGLEVEL is not one of debug, info, warn, error")),
    };
    let mut argv = argv.into_iter();
    let argv0 = argv.next().unwrap_or_default();
    let words = match entry::words(&argv0, argv.collect()) {
        Ok(words) => words,
        Err(e) => return usage_error(&e),
    };
    let command = match cli::parse(words, &env) {
        Ok(c) => c,
        Err(e) => return usage_error(&e),
    };
    let text = match command {
        Command::Help => cli::help(),
        Command::Version => format!("build-task {}\n", env!("CARGO_PKG_VERSION")),
        Command::List => tasks::ALL.iter().map(|t| format!("{:<12}{}\n", t.name, t.about)).collect(),
        Command::Describe(task) => cli::describe(task),
        Command::Doctor(task) => {
            if let Err(e) = level {
                return usage_error(&e);
            }
            let (text, passed) = doctor::report(task, &env);
            print(&text);
            return if passed { exit::OK } else { exit::FAILED };
        }
        Command::Run(mut inv) => {
            // Reported like a flag's problem (and before any), once there
            // is somewhere to report it.
            if let Err(e) = level {
                inv.problem = Some(e);
            }
            return run(inv, env, started);
        }
    };
    print(&text);
    exit::OK
}

fn usage_error(e: &Error) -> i32 {
    eprintln!("build-task: {e}\nTry 'build-task --help'.");
    exit::USAGE
}

/// Writes to stdout; a closed pipe is not an error worth a panic.
fn print(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn run(inv: Invocation, env: Env, started: Instant) -> i32 {
    log::set_task(inv.task.name);
    let cancel = Cancel::new();
    watch_signals(cancel.clone());
    crate::cancel::term_when_parent_exits();
    install_panic_hook();
    let http = crate::http::agent(&env);

    // The one closing match: the success goes, or the failure stays
    // unreported (there is no callback, or it refused us), or an error
    // status goes. Whatever decides the exit code is logged by then.
    let ended = match destination(&inv, &env, &http) {
        Err(e) => Err(unreported(e)),
        Ok((callback, ready)) => {
            let reporter = match callback {
                Some(url) => Reporter::remote(url, http.clone()),
                None => Reporter::local(),
            };
            let reporter = REPORTER.get_or_init(|| Arc::new(reporter)).clone();
            match ready.and_then(|ready| run_task(inv, env, http, &cancel, &reporter, ready, started)) {
                Ok(success) => finish(&reporter, success),
                Err(Stop::Unreported(e)) => Err(unreported(e)),
                Err(Stop::Report(e)) => Err(report_error(&reporter, e)),
            }
        }
    };
    // The one place an error becomes an exit code.
    ended.map_or_else(|e| e.exit_code(), |()| exit::OK)
}

/// What a run needs once it has somewhere to report: where the artifact
/// goes, and the `artifact` its success status names.
struct Ready {
    store: Result<Box<dyn Store>, Error>,
    artifact: String,
    key: Option<Key>,
}

/// Why a run stopped short of its success.
enum Stop {
    /// An error status goes to the callback.
    Report(Error),
    /// pages-core refused a status or cannot be reached: an error status
    /// would not get through either.
    Unreported(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Stop {
        Stop::Report(e)
    }
}

/// The one place that tells a deployed run from a local one: where the
/// statuses (the callback, or the log when there is none), the artifact and
/// the success status's `artifact` go. An error here has nowhere to go; once
/// the callback is known, every failure is reported, so a failure of the
/// params after it comes with the callback.
fn destination(
    inv: &Invocation,
    env: &Env,
    http: &ureq::Agent,
) -> Result<(Option<CallbackUrl>, Result<Ready, Stop>), Error> {
    let key = env.encryption_key()?;
    let Some(text) = &inv.params else {
        if env.deploy_env().is_some() {
            return Err(Error::usage("no -p params given, but DEPLOY_ENV says this is a deployed run"));
        }
        let dir = inv.output_dir.clone().unwrap_or_else(|| Path::new("build-task-output").join(inv.task.name));
        let store = LocalStore { dir };
        let artifact = store.location();
        return Ok((None, Ok(Ready { store: Ok(Box::new(store)), artifact, key })));
    };
    let p = match Params::parse(text, key.as_ref()) {
        Ok(p) => p,
        Err(pe) => {
            return match pe.callback {
                Some(url) => Ok((Some(url), Err(Stop::Report(pe.error)))),
                None => Err(pe.error),
            };
        }
    };
    log::set_task_id(&p.task_id);
    let store = S3Store::new(&p, env, http.clone()).map(|s| Box::new(s) as Box<dyn Store>);
    let artifact = p.artifact_prefix().to_owned();
    Ok((Some(p.status_callback), Ok(Ready { store, artifact, key })))
}

/// The run past its reporter, in order: the flags, "processing", the
/// doctor's checks when asked, the task, the upload. Returns the success
/// to send.
fn run_task(
    inv: Invocation,
    env: Env,
    http: ureq::Agent,
    cancel: &Cancel,
    reporter: &Reporter,
    ready: Ready,
    started: Instant,
) -> Result<Success, Stop> {
    let flags = inv.task_flags(ready.key.as_ref())?;
    let store = ready.store?;

    log::set_phase("processing");
    if let Err(e) = reporter.processing(cancel) {
        return Err(match cancel.signal() {
            // Cancelled while retrying "processing": the error status still goes.
            Some(signal) => {
                error!("{e}");
                Stop::Report(Error::cancelled(signal))
            }
            None => Stop::Unreported(e),
        });
    }
    info!("started in {} µs", started.elapsed().as_micros());

    if env.flag("BUILD_TASK_DOCTOR")? {
        let checks = doctor::checks(inv.task, &env);
        for check in &checks {
            info!("doctor: {}", check.line());
        }
        let failed = doctor::failed_names(&checks);
        if !failed.is_empty() {
            return Err(Error::failed(format!("the image lacks what the task needs: {failed}")).into());
        }
    }

    let dirs = RunDirs::create(&env)?;
    let ctx =
        Context { flags, http, out_dir: dirs.out.clone(), work_dir: dirs.work.clone(), cancel: cancel.clone(), env };

    log::set_phase("task");
    let outcome = (inv.task.run)(&ctx).and_then(|o| cancel.check().map(|()| o));
    let Outcome { message, count } = outcome.map_err(|e| e.context("the task failed"))?;
    info!("task done: count {count}");

    log::set_phase("upload");
    if !dirs.out.join("index.json").is_file() {
        return Err(Error::failed("the task wrote no index.json, which pages-core's report page reads").into());
    }
    let summary = store.put_artifact(&dirs.out, cancel).and_then(|s| cancel.check().map(|()| s));
    let summary = summary.map_err(|e| e.context("the upload failed"))?;
    info!("stored {} ({} bytes) in {}", crate::store::objects(summary.objects), summary.bytes, store.location());
    Ok(Success { artifact: ready.artifact, message, count })
}

/// Sends the success; locally, also prints it.
fn finish(reporter: &Reporter, success: Success) -> Result<(), Error> {
    log::set_phase("success");
    let local = reporter.is_local().then(|| miniserde::json::to_string(&success) + "\n");
    reporter.finish(&Status::Success(success), callback::TERMINAL_RETRY).map_err(unreported)?;
    if let Some(line) = local {
        print(&line);
    }
    Ok(())
}

/// Reports `e` as the terminal error status; returns the error whose exit
/// code ends the run: `e` once delivered, else the callback's failure (no
/// terminal status reached pages-core, a cancel's neither).
fn report_error(reporter: &Reporter, e: Error) -> Error {
    log::set_phase("error");
    error!("{e}");
    match reporter.finish(&Status::Error { message: e.message().to_owned() }, callback::TERMINAL_RETRY) {
        Ok(()) => e,
        Err(ce) => unreported(ce),
    }
}

/// A failure with nowhere to report it: logged only.
fn unreported(e: Error) -> Error {
    error!("{e}");
    e
}

/// The task's output and scratch directories, removed when the run ends.
/// The run's `out` and `work` directories under its root, which RUN_ROOT
/// holds so that every way out removes it.
struct RunDirs {
    out: PathBuf,
    work: PathBuf,
}

impl RunDirs {
    fn create(env: &Env) -> Result<RunDirs, Error> {
        let root = env.tmp_dir().join(format!("build-task-{}", std::process::id()));
        let dirs = RunDirs { out: root.join("out"), work: root.join("work") };
        let _ = std::fs::remove_dir_all(&root);
        *RUN_ROOT.lock().unwrap_or_else(|p| p.into_inner()) = Some(root);
        for dir in [&dirs.out, &dirs.work] {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::failed(format!("cannot create the directory {}: {e}", dir.display())))?;
        }
        Ok(dirs)
    }
}

impl Drop for RunDirs {
    fn drop(&mut self) {
        remove_run_root();
    }
}

/// SIGTERM or SIGINT: cancel everything, give the main thread a moment to
/// report the cancel itself, else report it from here and exit.
fn watch_signals(cancel: Cancel) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = match signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP]) {
        Ok(s) => s,
        Err(e) => {
            error!("cannot watch for signals: {e}");
            return;
        }
    };
    std::thread::spawn(move || {
        let Some(signal) = signals.forever().next() else { return };
        let name = match signal {
            SIGINT => "SIGINT",
            SIGHUP => "SIGHUP",
            _ => "SIGTERM",
        };
        info!("received {name}: cancelling");
        let deadline = Instant::now() + GRACE;
        if let Some(reporter) = REPORTER.get() {
            reporter.hurry(deadline);
        }
        cancel.trigger(signal);
        // A second SIGINT (a person pressing Ctrl-C again) ends the process
        // at once. Any other signal that follows is ignored: Cloud Foundry's
        // SIGTERM can reach the shell and build-task together, and the
        // shell's death then sends the parent-death SIGTERM too; the status
        // must still go out, and SIGKILL comes 10 s later anyway.
        std::thread::spawn(move || {
            for again in signals.forever() {
                if again == SIGINT {
                    std::process::exit(128 + signal);
                }
                info!("received another signal ({again}) while cancelling: carrying on");
            }
        });
        std::thread::sleep(WIND_DOWN);
        let e = Error::cancelled(signal);
        let mut code = e.exit_code();
        if let Some(reporter) = REPORTER.get() {
            let status = Status::Error { message: e.message().to_owned() };
            // A status the main thread has in flight gets a moment. If it
            // is a success whose request hangs, the success goes again on a
            // new connection, and if that reaches no one, the cancel goes
            // instead (pages-core keeps the first terminal status and
            // refuses the rest). Any other status in flight (an error) has
            // until the deadline; only then is the cancel reported instead.
            let outcome = match reporter.finish_within(&status, callback::CANCEL_RETRY, Some(IN_FLIGHT_WAIT)) {
                Err(_) if reporter.resend_success(callback::CANCEL_RETRY) == Some(true) => {
                    remove_run_root();
                    std::process::exit(exit::OK);
                }
                Err(_) if reporter.success_in_flight() => {
                    reporter.send_now(&status, callback::CANCEL_RETRY).map(|()| true)
                }
                Err(_) => {
                    let wait = deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(200);
                    reporter.finish_within(&status, callback::CANCEL_RETRY, Some(wait))
                }
                done => done,
            };
            match outcome {
                Ok(true) => {}
                // The main thread delivered its terminal status first: it
                // exits with that status's code.
                Ok(false) => return,
                Err(ce) => {
                    error!("{ce}");
                    code = ce.exit_code();
                }
            }
        }
        remove_run_root();
        std::process::exit(code);
    });
}

/// A panic anywhere still ends in an error status and exit code 70.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_owned());
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        let message = format!("build-task panicked{at}: {what}");
        log::set_phase("panic");
        error!("{message}");
        if let Some(reporter) = REPORTER.get() {
            let status = Status::Error { message };
            if let Err(e) = reporter.finish_within(&status, callback::RETRY, Some(Duration::from_secs(5))) {
                error!("{e}");
            }
        }
        remove_run_root();
        std::process::exit(exit::PANIC);
    }));
}
