//! A signal at each moment of a run ends in exactly one terminal status
//! accepted by pages-core whenever it can be reached within Cloud Foundry's
//! 10 s grace, and the exit code says which one: 0 when the success went
//! first, 143 for the cancel, 3 when none could be delivered. The run's
//! directory under TMPDIR is removed on every path. Statuses are counted on
//! the callback server's side.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::callback::{CallbackServer, Fault};
use crate::support::s3::S3Server;
use crate::support::{Params, TempDir, build_task};

/// One run of the `fault` task against a callback with `faults`.
struct Run {
    cb: CallbackServer,
    _s3: S3Server,
    tmp: TempDir,
    /// Taken once its output is read.
    child: Option<Child>,
}

impl Run {
    fn start(task_id: u64, mode: &[&str], faults: Vec<Fault>) -> Option<Run> {
        let s3 = S3Server::start("signal-bucket")?;
        let cb = CallbackServer::with_faults(task_id, faults);
        let tmp = TempDir::new("signals");
        let callback = cb.url();
        let params = Params::on_s3s(&callback, task_id, "signal-bucket").plain();
        let child = build_task()
            .arg("fault")
            .args(mode)
            .args(["-p", &params])
            .env("AWS_ENDPOINT_URL_S3", s3.endpoint())
            .env("TMPDIR", tmp.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Some(Run { cb, _s3: s3, tmp, child: Some(child) })
    }

    /// Sends SIGTERM once the `n`th request reached the callback; the exit
    /// code, how long after the signal it came, and the run's log.
    fn term_after_request(&mut self, n: usize) -> (Option<i32>, Duration, String) {
        assert!(self.cb.wait_for(n, Duration::from_secs(20)), "request {n} arrives: {:?}", self.cb.statuses());
        std::thread::sleep(Duration::from_millis(100));
        let child = self.child.take().expect("the run is signalled once");
        let sent = Instant::now();
        let ok = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(ok.success());
        let out = child.wait_with_output().unwrap();
        (out.status.code(), sent.elapsed(), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// What the callback accepted and the exit code are as expected, the
    /// exit came before Cloud Foundry's SIGKILL, and nothing is left in TMPDIR.
    fn ended(&self, accepted: &[&str], code: Option<i32>, want: i32, took: Duration, log: &str) {
        assert_eq!(self.cb.accepted(), accepted, "{log}");
        assert_eq!(code, Some(want), "{log}");
        assert!(took < Duration::from_secs(10), "after the signal: {took:?}");
        let left: Vec<String> = std::fs::read_dir(self.tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}

/// processing answered at once, then the given faults for the next requests.
fn after_processing(faults: Vec<Fault>) -> Vec<Fault> {
    std::iter::once(Fault::Slow(Duration::ZERO)).chain(faults).collect()
}

#[test]
fn sigterm_while_a_slow_success_is_in_flight_keeps_the_success_and_exits_0() {
    // Past the 4.5 s after which the watcher used to give up and exit.
    let faults = after_processing(vec![Fault::Slow(Duration::from_secs(6))]);
    let Some(mut run) = Run::start(7001, &["--mode", "ok"], faults) else { return };
    let (code, took, log) = run.term_after_request(2);
    run.ended(&["processing", "success"], code, 0, took, &log);
}

#[test]
fn sigterm_while_the_success_is_retried_on_503_keeps_the_success_and_exits_0() {
    let busy = || Fault::Status(503, Some(2));
    let faults = after_processing(vec![busy(), busy(), busy()]);
    let Some(mut run) = Run::start(7002, &["--mode", "ok"], faults) else { return };
    let (code, took, log) = run.term_after_request(2);
    run.ended(&["processing", "success"], code, 0, took, &log);
}

#[test]
fn sigterm_while_the_success_hangs_on_its_connection_sends_it_again_on_a_new_one_and_exits_0() {
    // Only the request in flight hangs; pages-core answers a new one.
    let faults = after_processing(vec![Fault::Hang(Duration::from_secs(30))]);
    let Some(mut run) = Run::start(7005, &["--mode", "ok"], faults) else { return };
    let (code, took, log) = run.term_after_request(2);
    run.ended(&["processing", "success"], code, 0, took, &log);
}

#[test]
fn sigterm_while_the_success_hangs_and_its_second_sending_fails_delivers_the_cancel_and_exits_143() {
    let faults = after_processing(vec![
        Fault::Hang(Duration::from_secs(30)),
        Fault::Status(500, None),
        Fault::Status(500, None),
        Fault::Status(500, None),
    ]);
    let Some(mut run) = Run::start(7006, &["--mode", "ok"], faults) else { return };
    let (code, took, log) = run.term_after_request(2);
    run.ended(&["processing", "error"], code, 143, took, &log);
}

#[test]
fn sigterm_while_the_callback_hangs_on_the_success_gives_up_within_the_grace_and_exits_3() {
    let hang = || Fault::Hang(Duration::from_secs(30));
    let faults = after_processing(vec![hang(), hang(), hang(), hang(), hang(), hang(), hang()]);
    let Some(mut run) = Run::start(7003, &["--mode", "ok"], faults) else { return };
    let (code, took, log) = run.term_after_request(2);
    run.ended(&["processing"], code, 3, took, &log);
}

#[test]
fn sigterm_during_the_task_with_a_503_answer_still_delivers_one_cancel_and_exits_143() {
    let faults = after_processing(vec![Fault::Status(503, None), Fault::Status(503, None)]);
    let Some(mut run) = Run::start(7004, &["--mode", "sleep", "--seconds", "60"], faults) else { return };
    let (code, took, log) = run.term_after_request(1);
    run.ended(&["processing", "error"], code, 143, took, &log);
}

#[test]
fn sigterm_while_the_cancel_is_reported_to_a_slow_callback_delivers_it_once() {
    // The main thread reports the cancel; the callback takes 5 s to answer
    // it, past the signal watcher's wind-down: the watcher must wait.
    let faults = after_processing(vec![Fault::Slow(Duration::from_secs(5))]);
    let Some(mut run) = Run::start(7005, &["--mode", "sleep", "--seconds", "60"], faults) else { return };
    let (code, took, log) = run.term_after_request(1);
    run.ended(&["processing", "error"], code, 143, took, &log);
}
