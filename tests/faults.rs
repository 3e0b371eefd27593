//! The fault matrix: each way a run can go wrong, and the one terminal
//! status, exit code and time bound it must end in. Each test prints one
//! table: the callback and the task's process, then S3 (through a
//! fault-injecting proxy in front of s3s-fs) and the artifact on disk.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::callback::{CallbackServer, Fault, field};
use crate::support::proxy::{Fault as S3Fault, Proxy};
use crate::support::s3::S3Server;
use crate::support::{Params, TempDir, bin, build_task, stderr};

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
        Case {
            name: "callback 500 once",
            callback: vec![Fault::Status(500, None)],
            args: ok,
            signal: None,
            exit: 0,
            accepted: &["processing", "success"],
            bound: secs(10),
        },
        Case {
            name: "callback 503 twice",
            callback: vec![Fault::Status(503, None), Fault::Status(503, None)],
            args: ok,
            signal: None,
            exit: 0,
            accepted: &["processing", "success"],
            bound: secs(10),
        },
        Case {
            name: "callback 429 Retry-After 2",
            callback: vec![Fault::Status(429, Some(2))],
            args: ok,
            signal: None,
            exit: 0,
            accepted: &["processing", "success"],
            bound: secs(10),
        },
        Case {
            name: "callback resets once",
            callback: vec![Fault::Reset],
            args: ok,
            signal: None,
            exit: 0,
            accepted: &["processing", "success"],
            bound: secs(10),
        },
        Case {
            name: "callback hangs once (20 s)",
            callback: vec![Fault::Hang(secs(20))],
            args: ok,
            signal: None,
            exit: 0,
            accepted: &["processing", "success"],
            bound: secs(25),
        },
        Case {
            name: "callback slow (2 s)",
            callback: vec![Fault::Slow(secs(2)), Fault::Slow(secs(2))],
            args: ok,
            signal: None,
            exit: 0,
            accepted: &["processing", "success"],
            bound: secs(10),
        },
        Case {
            name: "callback 503 on success once",
            callback: vec![Fault::Slow(Duration::ZERO), Fault::Status(503, None)],
            args: ok,
            signal: None,
            exit: 0,
            accepted: &["processing", "success"],
            bound: secs(10),
        },
        Case {
            name: "callback 500 forever",
            callback: vec![Fault::Status(500, None); 20],
            args: ok,
            signal: None,
            exit: 3,
            accepted: &[],
            bound: secs(70),
        },
        Case {
            name: "task error",
            callback: vec![],
            args: &["--mode", "fail"],
            signal: None,
            exit: 1,
            accepted: &["processing", "error"],
            bound: secs(10),
        },
        Case {
            name: "task panic",
            callback: vec![],
            args: &["--mode", "panic"],
            signal: None,
            exit: 70,
            accepted: &["processing", "error"],
            bound: secs(10),
        },
        Case {
            name: "task writes no index.json",
            callback: vec![],
            args: &["--mode", "no-index"],
            signal: None,
            exit: 1,
            accepted: &["processing", "error"],
            bound: secs(10),
        },
        Case {
            name: "child crashes (SIGSEGV)",
            callback: vec![],
            args: &["--mode", "child-crash"],
            signal: None,
            exit: 1,
            accepted: &["processing", "error"],
            bound: secs(10),
        },
        Case {
            name: "SIGTERM during processing request",
            callback: vec![Fault::Hang(secs(30))],
            args: ok,
            signal: Some(("TERM", Duration::from_millis(300))),
            exit: 143,
            accepted: &["error"],
            bound: secs(8),
        },
        Case {
            name: "SIGTERM during the task",
            callback: vec![],
            args: &["--mode", "sleep"],
            signal: Some(("TERM", Duration::from_millis(300))),
            exit: 143,
            accepted: &["processing", "error"],
            bound: secs(6),
        },
        Case {
            name: "SIGINT during the task",
            callback: vec![],
            args: &["--mode", "sleep"],
            signal: Some(("INT", Duration::from_millis(300))),
            exit: 130,
            accepted: &["processing", "error"],
            bound: secs(6),
        },
        Case {
            name: "SIGTERM, child ignores SIGTERM",
            callback: vec![],
            args: &["--mode", "child-ignore-term"],
            signal: Some(("TERM", Duration::from_millis(300))),
            exit: 143,
            accepted: &["processing", "error"],
            bound: secs(8),
        },
        Case {
            name: "SIGTERM during the final request",
            callback: vec![Fault::Slow(Duration::ZERO), Fault::Slow(secs(3))],
            args: ok,
            signal: Some(("TERM", Duration::from_millis(1500))),
            exit: 0,
            accepted: &["processing", "success"],
            bound: secs(10),
        },
    ]
}

struct Row {
    name: &'static str,
    exit: Option<i32>,
    accepted: Vec<String>,
    took: Duration,
    verdict: Verdict,
}

/// How a row ended: run and right, run and wrong (why), or not run (why).
enum Verdict {
    Ok,
    Failed(String),
    Skipped(String),
}

impl Row {
    /// A row that ran; `why` lists what was wrong (nothing: ok).
    fn checked(name: &'static str, exit: Option<i32>, accepted: Vec<String>, took: Duration, why: Vec<String>) -> Row {
        let verdict = if why.is_empty() { Verdict::Ok } else { Verdict::Failed(why.join("; ")) };
        Row { name, exit, accepted, took, verdict }
    }

    /// A row this machine cannot run (which fails under CI, see support::skip).
    fn skipped(name: &'static str, why: &str) -> Row {
        crate::support::skip(why);
        Row { name, exit: None, accepted: Vec::new(), took: Duration::ZERO, verdict: Verdict::Skipped(why.to_owned()) }
    }
}

fn run_case(case: &Case, s3: &S3Server, task_id: u64) -> Row {
    let cb = CallbackServer::with_faults(task_id, case.callback.clone());
    let tmp = TempDir::new("matrix");
    let callback = cb.url();
    let params = Params::on_s3s(&callback, task_id, "matrix");
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
    Row::checked(case.name, out.status.code(), accepted, took, why)
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
    print_table(&rows);
    assert_all_ok(&rows);
}

fn print_table(rows: &[Row]) {
    println!("\n{:<36} {:>5} {:<24} {:>8}  result", "fault", "exit", "accepted statuses", "time");
    for r in rows {
        println!(
            "{:<36} {:>5} {:<24} {:>7.1}s  {}",
            r.name,
            r.exit.map_or("-".into(), |c| c.to_string()),
            r.accepted.join(","),
            r.took.as_secs_f64(),
            match &r.verdict {
                Verdict::Ok => "ok".to_owned(),
                Verdict::Failed(_) => "FAILED".to_owned(),
                Verdict::Skipped(why) => format!("skipped: {why}"),
            }
        );
    }
}

fn assert_all_ok(rows: &[Row]) {
    let failed: Vec<_> = rows
        .iter()
        .filter_map(|r| match &r.verdict {
            Verdict::Failed(why) => Some(format!("{}: {why}", r.name)),
            _ => None,
        })
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

/// What S3 must hold under the task's prefix once the run ended.
#[derive(Clone, Copy)]
enum Stored {
    /// Exactly these keys (relative to the prefix), each whole: index.json
    /// as the fault task writes it, every other object its size in 'x's.
    Whole(&'static [(&'static str, usize)]),
    /// Nothing at all.
    Nothing,
}

/// One row of the S3 and artifact matrix. Each row gets its own s3s-fs and
/// proxy, so what is left in the bucket is this row's doing.
struct UploadCase {
    name: &'static str,
    /// Arguments after the task name.
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    /// (request-line pattern, fault) for the proxy in front of S3.
    proxy: Vec<(&'static str, S3Fault)>,
    /// SIGTERM this long after the proxy saw a request matching the pattern.
    sigterm: Option<(&'static str, Duration)>,
    /// Run without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so that a mode
    /// 000 file is really unreadable (the tests run as root, as CF tasks do).
    unprivileged: bool,
    exit: i32,
    accepted: &'static [&'static str],
    /// What the error status's message must contain.
    message: &'static [&'static str],
    stored: Stored,
    /// The run must end within this, counted from SIGTERM when one is sent.
    bound: Duration,
}

const MIB: usize = 1 << 20;
const INDEX: &[u8] = b"{\"fault\":true}\n";
const INDEX_LEN: usize = INDEX.len();
const THREE_BLOBS: &[(&str, usize)] =
    &[("blob-0.bin", MIB), ("blob-1.bin", MIB), ("blob-2.bin", MIB), ("index.json", INDEX_LEN)];
/// Files of 5 MiB and more go up in 5 MiB parts.
const MULTIPART: &[(&str, &str)] =
    &[("BUILD_TASK_MULTIPART_THRESHOLD", "5M"), ("BUILD_TASK_MULTIPART_PART_SIZE", "5M")];

fn upload_cases() -> Vec<UploadCase> {
    let three: &[&str] = &["--mode", "big-output", "--seconds", "3"];
    let secs = Duration::from_secs;
    let ok: &[&str] = &["processing", "success"];
    let error: &[&str] = &["processing", "error"];
    let case = |name, args, proxy, exit, accepted, message, stored| UploadCase {
        name,
        args,
        env: &[],
        proxy,
        sigterm: None,
        unprivileged: false,
        exit,
        accepted,
        message,
        stored,
        bound: secs(15),
    };
    vec![
        case(
            "S3 503 SlowDown once",
            three,
            vec![("/index.json?", S3Fault::SlowDown)],
            0,
            ok,
            &[],
            Stored::Whole(THREE_BLOBS),
        ),
        case(
            "S3 500 InternalError once",
            three,
            vec![(
                "/blob-1.bin?",
                S3Fault::Error(500, "InternalError", "We encountered an internal error. Please try again."),
            )],
            0,
            ok,
            &[],
            Stored::Whole(THREE_BLOBS),
        ),
        case(
            "S3 resets mid-body once",
            three,
            vec![("/blob-2.bin?", S3Fault::ResetMidBody)],
            0,
            ok,
            &[],
            Stored::Whole(THREE_BLOBS),
        ),
        UploadCase {
            env: MULTIPART,
            ..case(
                "S3 500 once on a multipart part",
                &["--mode", "big-file", "--seconds", "12"],
                vec![(
                    "partNumber=2",
                    S3Fault::Error(500, "InternalError", "We encountered an internal error. Please try again."),
                )],
                0,
                ok,
                &[],
                Stored::Whole(&[("blob.bin", 12 * MIB), ("index.json", INDEX_LEN)]),
            )
        },
        case(
            "S3 403 AccessDenied",
            three,
            vec![("/index.json?", S3Fault::Error(403, "AccessDenied", "Access Denied"))],
            1,
            error,
            &["cannot store index.json: S3 answered 403: AccessDenied: Access Denied"],
            Stored::Nothing,
        ),
        case(
            "S3 403 Request has expired",
            three,
            vec![("/index.json?", S3Fault::Error(403, "AccessDenied", "Request has expired"))],
            1,
            error,
            &["cannot store index.json: S3 answered 403: AccessDenied: Request has expired"],
            Stored::Nothing,
        ),
        case(
            "S3 403 RequestTimeTooSkewed",
            three,
            vec![(
                "/blob-0.bin?",
                S3Fault::Error(
                    403,
                    "RequestTimeTooSkewed",
                    "The difference between the request time and the current time is too large.",
                ),
            )],
            1,
            error,
            &["cannot store blob-0.bin: S3 answered 403: RequestTimeTooSkewed"],
            Stored::Nothing,
        ),
        case(
            "S3 stores blob-1.bin but every answer is lost",
            three,
            vec![("/blob-1.bin?", S3Fault::LoseAnswer)],
            1,
            error,
            &["gave up after 5 tries: cannot store blob-1.bin"],
            Stored::Nothing,
        ),
        UploadCase {
            env: MULTIPART,
            // Parts take a second each, so SIGTERM surely lands mid-upload.
            sigterm: Some(("partNumber=", Duration::from_millis(300))),
            bound: secs(5),
            ..case(
                "SIGTERM during a multipart upload",
                &["--mode", "big-file", "--seconds", "24"],
                vec![("partNumber=", S3Fault::Delay(secs(1)))],
                143,
                error,
                &["the task was cancelled (SIGTERM)"],
                Stored::Nothing,
            )
        },
        UploadCase {
            env: MULTIPART,
            // S3 never answers part 3: the clean-up must not wait for it.
            sigterm: Some(("partNumber=3", Duration::from_millis(300))),
            bound: secs(5),
            ..case(
                "SIGTERM while S3 holds a part",
                &["--mode", "big-file", "--seconds", "24"],
                vec![("partNumber=3", S3Fault::Hang)],
                143,
                error,
                &["the task was cancelled (SIGTERM)"],
                Stored::Nothing,
            )
        },
        UploadCase {
            // One worker, held up on the 1 MiB file for 2.5 s, reaches
            // vanish.txt after the task's thread removed it (at 1 s).
            env: &[("BUILD_TASK_S3_WORKERS", "1")],
            ..case(
                "artifact file removed before upload",
                &["--mode", "vanish"],
                vec![("/blob-0.bin?", S3Fault::Delay(Duration::from_millis(2500)))],
                1,
                error,
                &["cannot read vanish.txt: No such file or directory"],
                Stored::Nothing,
            )
        },
        UploadCase {
            unprivileged: true,
            ..case(
                "artifact unreadable (mode 000)",
                &["--mode", "unreadable"],
                vec![],
                1,
                error,
                &["cannot read secret.txt: Permission denied"],
                Stored::Nothing,
            )
        },
        case(
            "artifact fifo is skipped",
            &["--mode", "fifo"],
            vec![],
            0,
            ok,
            &[],
            Stored::Whole(&[("index.json", INDEX_LEN)]),
        ),
        case(
            "artifact grows during upload",
            &["--mode", "grow", "--seconds", "5"],
            vec![],
            1,
            error,
            &["growing.log changed while it was being uploaded"],
            Stored::Nothing,
        ),
    ]
}

/// The multipart uploads s3s-fs holds open: an upload's record
/// (`.upload-<id>.json`) and parts (`.upload_id-<id>.part-<n>`) stay in its
/// root until the upload is completed or aborted.
fn open_uploads(s3: &S3Server) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(s3.root()) else { return vec!["cannot list the s3s-fs root".into()] };
    entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".upload-") || name.starts_with(".upload_id-"))
        .collect()
}

/// Why what is stored under `prefix` is not what `stored` says, if it is not.
fn check_stored(s3: &S3Server, bucket: &str, prefix: &str, stored: Stored) -> Option<String> {
    let keys = s3.keys(bucket);
    match stored {
        Stored::Nothing if keys.is_empty() => None,
        Stored::Nothing => Some(format!("left in S3: {keys:?}")),
        Stored::Whole(expected) => {
            let want: Vec<String> = expected.iter().map(|(k, _)| format!("{prefix}{k}")).collect();
            if keys != want {
                return Some(format!("stored {keys:?}, want {want:?}"));
            }
            let broken: Vec<&str> = expected
                .iter()
                .filter(|(key, len)| {
                    let bytes = s3.object(bucket, &format!("{prefix}{key}")).unwrap_or_default();
                    if *key == "index.json" {
                        bytes != INDEX
                    } else {
                        bytes.len() != *len || bytes.iter().any(|b| *b != b'x')
                    }
                })
                .map(|(key, _)| *key)
                .collect();
            (!broken.is_empty()).then(|| format!("not whole: {broken:?}"))
        }
    }
}

/// Whether this process may drop CAP_DAC_OVERRIDE for a child with setpriv.
fn can_drop_dac_override() -> bool {
    Command::new("setpriv")
        .args([
            "--inh-caps=-dac_override,-dac_read_search",
            "--bounding-set=-dac_override,-dac_read_search",
            "--",
            "true",
        ])
        .status()
        .is_ok_and(|s| s.success())
}

fn run_upload_case(case: &UploadCase, task_id: u64) -> Row {
    let bucket = "matrix";
    let skip = |why: &str| Row::skipped(case.name, why);
    let Some(s3) = S3Server::start(bucket) else { return skip("no s3s-fs") };
    let proxy = Proxy::start(s3.port, &case.proxy);
    let cb = CallbackServer::start(task_id);
    let tmp = TempDir::new("matrix-s3");
    let callback = cb.url();
    let params = Params::on_s3s(&callback, task_id, bucket);
    let mut command = if case.unprivileged {
        if !can_drop_dac_override() {
            return skip("setpriv cannot drop CAP_DAC_OVERRIDE here");
        }
        let mut c = Command::new("setpriv");
        c.args(["--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search", "--"])
            .arg(bin());
        c.env_clear();
        if let Ok(path) = std::env::var("PATH") {
            c.env("PATH", path);
        }
        c
    } else {
        build_task()
    };
    let started = Instant::now();
    let child = command
        .arg("fault")
        .args(case.args)
        .args(["-p", &params.plain()])
        .envs(case.env.iter().copied())
        .env("AWS_ENDPOINT_URL_S3", proxy.endpoint())
        .env("TMPDIR", tmp.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut counted_from = started;
    if let Some((pattern, delay)) = case.sigterm {
        proxy.wait_for(pattern, Duration::from_secs(10));
        std::thread::sleep(delay);
        counted_from = Instant::now();
        Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    }
    let out = child.wait_with_output().expect("wait");
    let took = counted_from.elapsed();
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
    let message = cb.bodies().iter().rev().find_map(|b| field(b, "message")).unwrap_or_default();
    for part in case.message {
        if !message.contains(part) {
            why.push(format!("the message {message:?} does not say {part:?}"));
        }
    }
    for (pattern, fault) in &case.proxy {
        // A fault that fired once on a run that succeeded was retried.
        let once = !matches!(fault, S3Fault::Delay(_) | S3Fault::AlwaysSlowDown);
        let want = if once && case.exit == 0 { 2 } else { 1 };
        if proxy.count(pattern) < want {
            why.push(format!("{pattern} was requested {} times, not at least {want}", proxy.count(pattern)));
        }
    }
    let prefix = format!("_tasks/artifacts/{task_id}/");
    why.extend(check_stored(&s3, bucket, &prefix, case.stored));
    let open = open_uploads(&s3);
    if !open.is_empty() {
        why.push(format!("multipart uploads left open: {open:?}"));
    }
    let err = stderr(&out);
    if err.contains("panicked") {
        why.push("panicked".into());
    }
    if !why.is_empty() {
        why.push(format!("proxy saw {:?}", proxy.requests()));
        why.push(err);
    }
    Row::checked(case.name, out.status.code(), accepted, took, why)
}

/// A local run whose --output-dir is a 64 KiB tmpfs: copying 3 MiB there
/// must fail with the system's own words, not a panic. Needs mount (root).
fn run_full_disk_case() -> Row {
    let name = "local output disk full (64 KiB tmpfs)";
    let tmp = TempDir::new("matrix-full");
    let dir = tmp.path().join("full");
    std::fs::create_dir_all(&dir).expect("mount point");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&dir)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        return Row::skipped(name, "mount -t tmpfs is not permitted");
    }
    let started = Instant::now();
    let out = build_task()
        .args(["fault", "--mode", "big-output", "--seconds", "3", "--output-dir"])
        .arg(&dir)
        .env("TMPDIR", tmp.path())
        .output()
        .expect("run");
    let took = started.elapsed();
    let _ = Command::new("umount").arg(&dir).status();
    let err = stderr(&out);
    let mut why = Vec::new();
    if out.status.code() != Some(1) {
        why.push(format!("exit {:?} != 1", out.status.code()));
    }
    if !err.contains("No space left on device") || err.contains("panicked") {
        why.push("no 'No space left on device', or a panic".into());
    }
    if took > Duration::from_secs(10) {
        why.push(format!("took {took:?} > 10s"));
    }
    if !why.is_empty() {
        why.push(err);
    }
    Row::checked(name, out.status.code(), vec!["(local run)".into()], took, why)
}

#[test]
fn every_s3_and_artifact_fault_ends_in_its_status_exit_code_and_time_and_leaves_no_partial_object() {
    if !crate::support::have_tool("s3s-fs") {
        return;
    }
    let cases = upload_cases();
    let rows: Vec<Row> = std::thread::scope(|scope| {
        let mut handles: Vec<_> = cases
            .iter()
            .enumerate()
            .map(|(i, case)| scope.spawn(move || run_upload_case(case, 600 + i as u64)))
            .collect();
        handles.push(scope.spawn(run_full_disk_case));
        handles.into_iter().map(|h| h.join().expect("case thread")).collect()
    });
    print_table(&rows);
    assert_all_ok(&rows);
}
