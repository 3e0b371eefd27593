//! The fault matrix: each way a run can go wrong, and the one terminal
//! status, exit code and time bound it must end in. Prints one table.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::callback::{CallbackServer, Fault};
use crate::support::s3::{S3Server, ACCESS_KEY, REGION, SECRET_KEY};
use crate::support::{build_task, stderr, Params, TempDir};

/// One row of the matrix.
struct Case {
    name: &'static str,
    /// Faults the callback answers with, in order, before normal answers.
    callback: Vec<Fault>,
    /// Arguments after the task name.
    args: &'static [&'static str],
    /// Send this signal after the first callback request arrived + delay.
    signal: Option<(&'static str, Duration)>,
    exit: i32,
    /// The statuses pages-core must have accepted, in order.
    accepted: &'static [&'static str],
    /// The run must end within this.
    bound: Duration,
}

fn cases() -> Vec<Case> {
    let ok: &[&str] = &["--mode", "ok"];
    let secs = Duration::from_secs;
    vec![
        Case { name: "callback 500 once", callback: vec![Fault::Status(500, None)], args: ok, signal: None, exit: 0, accepted: &["processing", "success"], bound: secs(10) },
        Case { name: "callback 503 twice", callback: vec![Fault::Status(503, None), Fault::Status(503, None)], args: ok, signal: None, exit: 0, accepted: &["processing", "success"], bound: secs(10) },
        Case { name: "callback 429 Retry-After 2", callback: vec![Fault::Status(429, Some(2))], args: ok, signal: None, exit: 0, accepted: &["processing", "success"], bound: secs(10) },
        Case { name: "callback resets once", callback: vec![Fault::Reset], args: ok, signal: None, exit: 0, accepted: &["processing", "success"], bound: secs(10) },
        Case { name: "callback hangs once (20 s)", callback: vec![Fault::Hang(secs(20))], args: ok, signal: None, exit: 0, accepted: &["processing", "success"], bound: secs(25) },
        Case { name: "callback slow (2 s)", callback: vec![Fault::Slow(secs(2)), Fault::Slow(secs(2))], args: ok, signal: None, exit: 0, accepted: &["processing", "success"], bound: secs(10) },
        Case { name: "callback 503 on success once", callback: vec![Fault::Slow(Duration::ZERO), Fault::Status(503, None)], args: ok, signal: None, exit: 0, accepted: &["processing", "success"], bound: secs(10) },
        Case { name: "callback 500 forever", callback: vec![Fault::Status(500, None); 20], args: ok, signal: None, exit: 3, accepted: &[], bound: secs(70) },
        Case { name: "task error", callback: vec![], args: &["--mode", "fail"], signal: None, exit: 1, accepted: &["processing", "error"], bound: secs(10) },
        Case { name: "task panic", callback: vec![], args: &["--mode", "panic"], signal: None, exit: 70, accepted: &["processing", "error"], bound: secs(10) },
        Case { name: "task writes no index.json", callback: vec![], args: &["--mode", "no-index"], signal: None, exit: 1, accepted: &["processing", "error"], bound: secs(10) },
        Case { name: "child crashes (SIGSEGV)", callback: vec![], args: &["--mode", "child-crash"], signal: None, exit: 1, accepted: &["processing", "error"], bound: secs(10) },
        Case { name: "SIGTERM during processing request", callback: vec![Fault::Hang(secs(30))], args: ok, signal: Some(("TERM", Duration::from_millis(300))), exit: 143, accepted: &["error"], bound: secs(8) },
        Case { name: "SIGTERM during the task", callback: vec![], args: &["--mode", "sleep"], signal: Some(("TERM", Duration::from_millis(300))), exit: 143, accepted: &["processing", "error"], bound: secs(6) },
        Case { name: "SIGINT during the task", callback: vec![], args: &["--mode", "sleep"], signal: Some(("INT", Duration::from_millis(300))), exit: 130, accepted: &["processing", "error"], bound: secs(6) },
        Case { name: "SIGTERM, child ignores SIGTERM", callback: vec![], args: &["--mode", "child-ignore-term"], signal: Some(("TERM", Duration::from_millis(300))), exit: 143, accepted: &["processing", "error"], bound: secs(8) },
        Case { name: "SIGTERM during the final request", callback: vec![Fault::Slow(Duration::ZERO), Fault::Slow(secs(3))], args: ok, signal: Some(("TERM", Duration::from_millis(1500))), exit: 0, accepted: &["processing", "success"], bound: secs(10) },
    ]
}

struct Row {
    name: &'static str,
    exit: Option<i32>,
    accepted: Vec<String>,
    took: Duration,
    ok: bool,
    why: String,
}

fn run_case(case: &Case, s3: &S3Server, task_id: u64) -> Row {
    let cb = CallbackServer::with_faults(task_id, case.callback.clone());
    let tmp = TempDir::new("matrix");
    let params = Params { callback: &cb.url(), task_id, region: REGION, access_key: ACCESS_KEY, secret_key: SECRET_KEY, bucket: "matrix" };
    let started = Instant::now();
    let child = build_task()
        .arg("fault")
        .args(case.args)
        .args(["-p", &params.plain()])
        .env("AWS_ENDPOINT_URL_S3", s3.endpoint())
        .env("TMPDIR", tmp.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    if let Some((signal, delay)) = case.signal {
        // kill(1) keeps the tests free of unsafe.
        cb.wait_for(1, Duration::from_secs(10));
        std::thread::sleep(delay);
        Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().expect("kill");
    }
    let out = child.wait_with_output().expect("wait");
    let took = started.elapsed();
    let accepted = cb.accepted();
    let mut why = Vec::new();
    if out.status.code() != Some(case.exit) {
        why.push(format!("exit {:?} != {}", out.status.code(), case.exit));
    }
    if accepted != case.accepted {
        why.push(format!("accepted {accepted:?}"));
    }
    if took > case.bound {
        why.push(format!("took {took:?} > {:?}", case.bound));
    }
    let terminal = accepted.iter().filter(|s| *s != "processing").count();
    if terminal > 1 {
        why.push("more than one terminal status".into());
    }
    if !why.is_empty() {
        why.push(stderr(&out));
    }
    Row { name: case.name, exit: out.status.code(), accepted, took, ok: why.is_empty(), why: why.join("; ") }
}

#[test]
fn every_fault_ends_in_its_documented_terminal_status_exit_code_and_time() {
    let Some(s3) = S3Server::start("matrix") else { return };
    let cases = cases();
    let rows: Vec<Row> = std::thread::scope(|scope| {
        let handles: Vec<_> = cases
            .iter()
            .enumerate()
            .map(|(i, case)| {
                let s3 = &s3;
                scope.spawn(move || run_case(case, s3, 500 + i as u64))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("case thread")).collect()
    });
    println!("\n{:<36} {:>5} {:<24} {:>8}  result", "fault", "exit", "accepted statuses", "time");
    for r in &rows {
        println!(
            "{:<36} {:>5} {:<24} {:>7.1}s  {}",
            r.name,
            r.exit.map_or("-".into(), |c| c.to_string()),
            r.accepted.join(","),
            r.took.as_secs_f64(),
            if r.ok { "ok" } else { "FAILED" }
        );
    }
    let failed: Vec<_> = rows.iter().filter(|r| !r.ok).map(|r| format!("{}: {}", r.name, r.why)).collect();
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}
