use std::os::unix::process::CommandExt;
use std::time::Duration;

use crate::support::callback::{CallbackServer, field};
use crate::support::net::PublicNet;
use crate::support::s3::S3Server;
use crate::support::site::Site;
use crate::support::web::{Reply, WebServer};
use crate::support::{Params, TempDir, build_task, have_tool, stderr, stdout, vcap_services};

fn secure_site() -> Site {
    Site::start(
        &["Content-Type: text/html", "Strict-Transport-Security: max-age=1", "X-Content-Type-Options: nosniff"],
        "<html>hello</html>",
        Duration::ZERO,
    )
}

/// The site of the deployed example runs: the same answer as [`secure_site`],
/// at the public-looking address of the PublicNet it is started in.
fn public_secure_site() -> WebServer {
    let headers =
        ["Content-Type: text/html", "Strict-Transport-Security: max-age=1", "X-Content-Type-Options: nosniff"];
    let reply = Reply {
        status: 200,
        headers: headers.iter().filter_map(|h| h.split_once(": ")).map(|(k, v)| (k.into(), v.into())).collect(),
        body: b"<html>hello</html>".to_vec(),
    };
    WebServer::start_on(PublicNet::SITE_IP, 0, move |_| reply.clone()).unwrap()
}

#[test]
fn a_deployed_run_with_encrypted_params_delivers_processing_then_success_and_uploads_index_json() {
    let Some(net) = PublicNet::new() else { return };
    net.enter(|| {
        let Some(s3) = S3Server::start("site-bucket") else { return };
        let cb = CallbackServer::start(4242);
        let site = public_secure_site();
        let callback = cb.url();
        let params = Params::on_s3s(&callback, 4242, "site-bucket");
        let tmp = TempDir::new("deployed");
        let out = crate::support::deployed(&s3.endpoint(), tmp.path())
            .args(["example", "-t", &crate::support::enc(&site.url("/")), "-p", &params.encrypted()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(cb.statuses(), ["processing", "success"]);
        let success = &cb.bodies()[1];
        assert_eq!(field(success, "artifact").unwrap(), "_tasks/artifacts/4242/");
        assert_eq!(field(success, "count").unwrap(), "4");
        assert_eq!(field(success, "message").unwrap(), "null");
        let index = s3.object("site-bucket", "_tasks/artifacts/4242/index.json").expect("index.json uploaded");
        let index = String::from_utf8(index).unwrap();
        assert!(
            index.contains(
                r#""missingHeaders":["Content-Security-Policy","X-Frame-Options","Referrer-Policy","Permissions-Policy"]"#
            ),
            "{index}"
        );
        assert!(cb.requests().iter().all(|r| r.content_type.as_deref() == Some("application/json")));
        // pages-core's route: PUT /v0/tasks/:id/:token.
        let route = format!("/v0/tasks/4242/{}", cb.token);
        assert!(cb.requests().iter().all(|r| r.method == "PUT" && r.path == route), "{:?}", cb.requests());
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "the run's scratch space is removed");
        assert_eq!(site.requests(), ["/"], "the site was fetched at its public-looking address");
    })
}

/// A site that answers once and tells which user agent asked, at the
/// public-looking address of the PublicNet it is started in.
fn user_agent_site() -> (String, std::sync::mpsc::Receiver<Option<String>>) {
    let listener = std::net::TcpListener::bind((PublicNet::SITE_IP, 0)).unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else { return };
        let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
        let head = crate::support::http::RequestHead::read(&mut reader);
        let _ = tx.send(head.and_then(|h| h.header("user-agent").map(str::to_owned)));
        let mut stream = stream;
        let _ = std::io::Write::write_all(
            &mut stream,
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
        );
    });
    (url, rx)
}

#[test]
fn the_example_task_fetches_the_site_with_the_platforms_user_agent() {
    let Some(net) = PublicNet::new() else { return };
    net.enter(|| {
        let Some(s3) = S3Server::start("site-bucket") else { return };
        let cb = CallbackServer::start(4243);
        let (site, asked) = user_agent_site();
        let callback = cb.url();
        let params = Params::on_s3s(&callback, 4243, "site-bucket");
        let tmp = TempDir::new("deployed-ua");
        let out = crate::support::deployed(&s3.endpoint(), tmp.path())
            .args(["example", "-t", &crate::support::enc(&site), "-p", &params.encrypted()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        // The `user-agent` service's USER_AGENT, as the a11y crawler and browser use it.
        assert_eq!(asked.recv_timeout(Duration::from_secs(5)).unwrap().as_deref(), Some("build-task-tests/1.0"));

        // Deployed without the service, the run fails before fetching anything.
        let (site, asked) = user_agent_site();
        let vcap = vcap_services("dev")
            .replace(r#",{"name":"user-agent","credentials":{"USER_AGENT":"build-task-tests/1.0"}}"#, "");
        assert!(!vcap.contains("user-agent"));
        let cb = CallbackServer::start(4244);
        let callback = cb.url();
        let params = Params::on_s3s(&callback, 4244, "site-bucket");
        let out = crate::support::deployed(&s3.endpoint(), tmp.path())
            .env("VCAP_SERVICES", vcap)
            .args(["example", "-t", &crate::support::enc(&site), "-p", &params.encrypted()])
            .output()
            .unwrap();
        // As for a11y: the platform's configuration is missing, exit 2.
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert_eq!(cb.statuses(), ["processing", "error"]);
        assert!(field(&cb.bodies()[1], "message").unwrap().contains("no user agent to fetch the site with"));
        assert!(asked.recv_timeout(Duration::from_millis(300)).is_err(), "nothing was fetched");
    })
}

#[test]
fn a_local_run_writes_the_artifact_and_prints_the_result() {
    let site = secure_site();
    let dir = TempDir::new("local");
    let out = build_task()
        .args(["example", "--target", &site.url(), "--output-dir"])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let result = stdout(&out);
    assert_eq!(field(&result, "count").unwrap(), "4", "{result}");
    let index = std::fs::read_to_string(dir.path().join("out/index.json")).unwrap();
    assert!(index.contains(r#""status":200"#), "{index}");
    assert!(stderr(&out).contains("status: success"), "{}", stderr(&out));
}

/// A deployed run of the fault task against a loopback callback, plain
/// params (no DEPLOY_ENV), the local store never used: S3 is s3s-fs.
struct Deployed {
    cb: CallbackServer,
    s3: S3Server,
    tmp: TempDir,
}

impl Deployed {
    fn start(task_id: u64) -> Option<Deployed> {
        Deployed::with_faults(task_id, Vec::new())
    }

    /// A callback that answers with `faults` first.
    fn with_faults(task_id: u64, faults: Vec<crate::support::callback::Fault>) -> Option<Deployed> {
        let s3 = S3Server::start("fault-bucket")?;
        Some(Deployed { cb: CallbackServer::with_faults(task_id, faults), s3, tmp: TempDir::new("fault") })
    }

    fn params(&self) -> String {
        Params::on_s3s(&self.cb.url(), self.cb.task_id, "fault-bucket").plain()
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = build_task();
        cmd.args(args)
            .args(["-p", &self.params()])
            .env("AWS_ENDPOINT_URL_S3", self.s3.endpoint())
            .env("TMPDIR", self.tmp.path());
        cmd
    }

    /// dash running a sleeping fault run without `exec`, as Cloud Foundry
    /// runs pages-core's stored `python build-task/main.py …` commands.
    fn under_dash(&self) -> std::process::Command {
        let command = format!(
            "{} fault --mode sleep --seconds 60 -p '{}'; echo the shell outlived its command",
            crate::support::bin().display(),
            self.params()
        );
        let mut shell = std::process::Command::new("dash");
        shell
            .args(["-c", &command])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_ENDPOINT_URL_S3", self.s3.endpoint())
            .env("TMPDIR", self.tmp.path());
        shell
    }

    fn error_message(&self) -> String {
        let bodies = self.cb.bodies();
        field(bodies.last().expect("a status"), "message").unwrap_or_default()
    }
}

#[test]
fn a_failing_task_delivers_one_error_status_and_exits_1() {
    let Some(d) = Deployed::start(11) else { return };
    let out = d.command(&["fault", "--mode", "fail"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(d.cb.statuses(), ["processing", "error"]);
    assert_eq!(d.error_message(), "the task failed: the fault task failed as asked");
    assert!(d.s3.keys("fault-bucket").is_empty(), "nothing is uploaded");
}

#[test]
fn a_panicking_task_still_delivers_an_error_status_and_exits_70() {
    let Some(d) = Deployed::start(12) else { return };
    let out = d.command(&["fault", "--mode", "panic"]).output().unwrap();
    assert_eq!(out.status.code(), Some(70), "{}", stderr(&out));
    assert_eq!(d.cb.statuses(), ["processing", "error"]);
    assert!(d.error_message().contains("panicked"), "{}", d.error_message());
    assert!(d.error_message().contains("the fault task panicked as asked"));
}

#[test]
fn a_task_without_index_json_is_an_error_not_a_success() {
    let Some(d) = Deployed::start(13) else { return };
    let out = d.command(&["fault", "--mode", "no-index"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(d.cb.statuses(), ["processing", "error"]);
    assert!(d.error_message().contains("no index.json"), "{}", d.error_message());
}

#[test]
fn an_unknown_flag_is_reported_to_pages_core_and_exits_2() {
    let Some(d) = Deployed::start(14) else { return };
    let out = d.command(&["fault", "--mode", "ok", "--bogus", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(d.cb.statuses(), ["error"]);
    assert_eq!(d.error_message(), "unknown flag '--bogus' for task 'fault'");
}

#[test]
fn a_bad_loglevel_is_reported_to_pages_core_naming_the_variable_and_exits_2() {
    let Some(d) = Deployed::start(41) else { return };
    let out = d.command(&["fault", "--mode", "ok"]).env("LOGLEVEL", "loud").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(d.cb.statuses(), ["error"]);
    assert_eq!(d.error_message(), "LOGLEVEL is not one of debug, info, warn, error");
}

#[test]
fn a_build_task_doctor_that_is_neither_true_nor_false_is_an_error_naming_it() {
    let Some(d) = Deployed::start(42) else { return };
    let out = d.command(&["fault", "--mode", "ok"]).env("BUILD_TASK_DOCTOR", "yes").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(d.cb.statuses(), ["processing", "error"]);
    assert_eq!(d.error_message(), "BUILD_TASK_DOCTOR is neither true nor false");
    assert!(d.s3.keys("fault-bucket").is_empty(), "nothing is uploaded");
}

impl Deployed {
    /// Runs `args`, sends `signal` once "processing" arrived and `after`
    /// passed, and returns the exit code and how long the exit took.
    fn signalled(&self, args: &[&str], signal: &str, after: Duration) -> (Option<i32>, Duration) {
        let mut child = self.command(args).spawn().unwrap();
        assert!(self.cb.wait_for(1, Duration::from_secs(10)), "processing arrives");
        std::thread::sleep(after);
        let sent = std::time::Instant::now();
        unsafe_free_kill(child.id(), signal);
        let status = child.wait().unwrap();
        (status.code(), sent.elapsed())
    }
}

#[test]
fn sigterm_during_the_task_delivers_a_cancelled_error_within_5_s_and_exits_143() {
    let Some(d) = Deployed::start(15) else { return };
    let (code, took) = d.signalled(&["fault", "--mode", "sleep", "--seconds", "60"], "TERM", Duration::ZERO);
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(code, Some(143));
    assert_eq!(d.cb.statuses(), ["processing", "error"]);
    assert_eq!(d.error_message(), "the task was cancelled (SIGTERM)");
}

#[test]
fn sigterm_to_a_shell_that_ran_build_task_as_its_child_still_cancels_the_run() {
    // Cloud Foundry signals `/bin/sh -c '<command>'`; dash runs a command
    // without `exec` (pages-core's `python build-task/main.py …`) as its
    // child and dies of the SIGTERM without passing it on.
    if !have_tool("dash") {
        return;
    }
    let Some(d) = Deployed::start(19) else { return };
    let mut shell = d.under_dash();
    shell.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let shell = shell.spawn().unwrap();
    assert!(d.cb.wait_for(1, Duration::from_secs(10)), "processing arrives");
    let sent = std::time::Instant::now();
    unsafe_free_kill(shell.id(), "TERM");
    let out = shell.wait_with_output().unwrap();
    assert_eq!(out.status.code(), None, "the shell died of the signal");
    assert!(d.cb.wait_for(2, Duration::from_secs(5)), "a terminal status within 5 s: {:?}", d.cb.statuses());
    assert!(sent.elapsed() < Duration::from_secs(5), "{:?}", sent.elapsed());
    assert_eq!(d.cb.statuses(), ["processing", "error"]);
    assert_eq!(d.error_message(), "the task was cancelled (SIGTERM)");
}

#[test]
fn sighup_is_a_cancel_like_sigterm_with_one_status_and_exit_129() {
    let Some(d) = Deployed::start(20) else { return };
    let (code, took) = d.signalled(&["fault", "--mode", "sleep", "--seconds", "60"], "HUP", Duration::from_millis(200));
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(code, Some(129));
    assert_eq!(d.cb.statuses(), ["processing", "error"]);
    assert_eq!(d.error_message(), "the task was cancelled (SIGHUP)");
    let left: Vec<_> = std::fs::read_dir(d.tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "the run's directory is removed: {left:?}");
}

#[test]
fn sigterm_to_the_whole_process_group_under_dash_ends_in_exactly_one_status() {
    // Cloud Foundry's SIGTERM reaches dash and build-task together when they
    // share a process group; dash then dies, and build-task's parent-death
    // signal is a second SIGTERM moments later. A race, so several tries.
    if !have_tool("dash") {
        return;
    }
    for attempt in 0..6 {
        let Some(d) = Deployed::start(40 + attempt) else { return };
        let mut shell = d.under_dash();
        shell.process_group(0).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        let mut shell = shell.spawn().unwrap();
        assert!(d.cb.wait_for(1, Duration::from_secs(10)), "processing arrives");
        unsafe_free_kill_group(shell.id(), "TERM");
        let _ = shell.wait();
        assert!(d.cb.wait_for(2, Duration::from_secs(8)), "try {attempt}: a terminal status: {:?}", d.cb.statuses());
        // build-task has exited once its directory is gone.
        let started = std::time::Instant::now();
        while std::fs::read_dir(d.tmp.path()).unwrap().next().is_some() && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(d.cb.statuses(), ["processing", "error"], "try {attempt}");
        assert_eq!(d.error_message(), "the task was cancelled (SIGTERM)", "try {attempt}");
        let left: Vec<_> = std::fs::read_dir(d.tmp.path()).unwrap().collect();
        assert!(left.is_empty(), "try {attempt}: the run's directory is removed: {left:?}");
    }
}

#[test]
fn a_success_refused_by_pages_cores_rate_limit_is_tried_until_it_is_let_through() {
    // 429 with Retry-After, six times: more tries than any other status
    // gets, each after the wait pages-core asks for.
    let mut faults = vec![crate::support::callback::Fault::Slow(Duration::ZERO)];
    faults.extend((0..6).map(|_| crate::support::callback::Fault::Status(429, Some(1))));
    let Some(d) = Deployed::with_faults(22, faults) else { return };
    let out = d.command(&["fault", "--mode", "ok"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(d.cb.accepted(), ["processing", "success"]);
    assert_eq!(d.cb.statuses().len(), 8, "processing, six refusals, the success: {:?}", d.cb.statuses());
}

#[test]
fn a_cancel_that_comes_before_a_child_is_started_is_a_cancel_not_a_failure() {
    // The task is busy (not watching the cancel) when SIGTERM comes, and
    // then starts a child: nothing is started, and the run ends as a cancel.
    let Some(d) = Deployed::start(21) else { return };
    let (code, took) = d.signalled(&["fault", "--mode", "late-child", "--seconds", "1"], "TERM", Duration::ZERO);
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(code, Some(143));
    assert_eq!(d.cb.statuses(), ["processing", "error"]);
    assert_eq!(d.error_message(), "the task was cancelled (SIGTERM)");
}

#[test]
fn sigint_while_the_task_is_blocked_in_io_is_reported_by_the_watcher() {
    // The example task blocks in a fetch that answers only after 30 s; the
    // runtime cannot interrupt it, so the signal watcher reports and exits.
    let Some(d) = Deployed::start(16) else { return };
    let slow = Site::start(&["Content-Type: text/html"], "slow", Duration::from_secs(30));
    let (code, took) = d.signalled(&["example", "-t", &slow.url()], "INT", Duration::from_millis(200));
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(code, Some(130));
    assert_eq!(d.cb.statuses(), ["processing", "error"]);
    assert_eq!(d.error_message(), "the task was cancelled (SIGINT)");
}

#[test]
fn a_child_that_ignores_sigterm_is_killed_and_the_cancel_reported() {
    let Some(d) = Deployed::start(17) else { return };
    let args = ["fault", "--mode", "child-ignore-term", "--seconds", "60"];
    let (code, took) = d.signalled(&args, "TERM", Duration::from_millis(300));
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(code, Some(143));
    assert_eq!(d.cb.statuses(), ["processing", "error"]);
}

#[test]
fn a_403_on_processing_ends_the_run_with_exit_3_and_nothing_else_sent() {
    let Some(d) = Deployed::start(18) else { return };
    let mut params = d.params();
    params = params.replace(&d.cb.token, "wrong-token");
    let out = build_task()
        .args(["fault", "--mode", "ok", "-p", &params])
        .env("AWS_ENDPOINT_URL_S3", d.s3.endpoint())
        .env("TMPDIR", d.tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(d.cb.statuses(), ["processing"]);
    assert!(stderr(&out).contains("403"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("wrong-token"), "the token is never logged");
}

#[test]
fn an_unreachable_callback_exits_3() {
    let port = crate::support::s3::free_port();
    let params = format!(
        r#"{{"STATUS_CALLBACK":"http://127.0.0.1:{port}/v0/tasks/1/t","TASK_ID":1,"AWS_DEFAULT_REGION":"us-east-1","AWS_ACCESS_KEY_ID":"a","AWS_SECRET_ACCESS_KEY":"b","BUCKET":"bkt"}}"#
    );
    let started = std::time::Instant::now();
    let out = build_task().args(["fault", "--mode", "ok", "-p", &params]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot deliver the processing status"), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(70));
}

#[test]
fn a_tampered_ciphertext_delivers_an_error_status_and_exits_2() {
    let Some(d) = Deployed::start(19) else { return };
    let bucket = crate::support::enc("fault-bucket");
    let tampered = format!("{}{}", &bucket[..bucket.len() - 2], if bucket.ends_with("00") { "11" } else { "00" });
    let callback = d.cb.url();
    let params = Params::on_s3s(&callback, 19, "fault-bucket").encrypted();
    // Swap the BUCKET value for a tampered ciphertext of it.
    let start = params.find(r#""BUCKET": ""#).unwrap() + r#""BUCKET": ""#.len();
    let end = start + params[start..].find('"').unwrap();
    let params = format!("{}{}{}", &params[..start], tampered, &params[end..]);
    let out = build_task()
        .args(["fault", "--mode", "ok", "-p", &params])
        .env("DEPLOY_ENV", "staging")
        .env("VCAP_SERVICES", vcap_services("staging"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(d.cb.statuses(), ["error"]);
    assert_eq!(
        d.error_message(),
        "task params: BUCKET does not decrypt: the tag does not verify (wrong key or altered value)"
    );
}

#[test]
fn a_deployed_run_refuses_plain_text_flags() {
    let Some(d) = Deployed::start(20) else { return };
    let callback = d.cb.url();
    let params = Params::on_s3s(&callback, 20, "fault-bucket").encrypted();
    let out = build_task()
        .args(["fault", "--mode", "ok", "-p", &params])
        .env("DEPLOY_ENV", "dev")
        .env("VCAP_SERVICES", vcap_services("dev"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(d.error_message(), "the flag '--mode' does not decrypt: not of the form tag:iv:ciphertext");
}

#[test]
fn the_sh_entry_runs_a_pages_core_command_line() {
    let Some(d) = Deployed::start(21) else { return };
    let dir = TempDir::new("sh");
    let sh = dir.path().join("sh");
    std::os::unix::fs::symlink(crate::support::bin(), &sh).unwrap();
    let command = format!("exec build-task fault --mode ok -p '{}'", d.params());
    let out = std::process::Command::new(&sh)
        .args(["-c", &command])
        .env_clear()
        .env("AWS_ENDPOINT_URL_S3", d.s3.endpoint())
        .env("TMPDIR", d.tmp.path())
        .current_dir("/")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(d.cb.statuses(), ["processing", "success"]);
    assert_eq!(field(&d.cb.bodies()[1], "count").unwrap(), "7");
    assert_eq!(field(&d.cb.bodies()[1], "message").unwrap(), "fault done");
    assert!(d.s3.object("fault-bucket", "_tasks/artifacts/21/index.json").is_some());

    let out = std::process::Command::new(&sh).args(["-c", "ls /"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not a general shell"), "{}", stderr(&out));
}

/// Sends a signal with the system's kill(1), keeping the tests free of unsafe.
/// `signal` to the process group `pgid`, with kill(1).
fn unsafe_free_kill_group(pgid: u32, signal: &str) {
    let ok =
        std::process::Command::new("kill").args([&format!("-{signal}"), "--", &format!("-{pgid}")]).status().unwrap();
    assert!(ok.success());
}

fn unsafe_free_kill(pid: u32, signal: &str) {
    let ok = std::process::Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status().unwrap();
    assert!(ok.success());
}

#[test]
fn an_https_callback_is_trusted_through_ssl_cert_file_or_cf_system_cert_path() {
    let Some(s3) = S3Server::start("tls-bucket") else { return };
    let ca = crate::support::tls::TestCa::new();
    for (var, value) in [("SSL_CERT_FILE", ca.ca_file()), ("CF_SYSTEM_CERT_PATH", ca.ca_dir())] {
        let cb = CallbackServer::start_tls(31, &ca);
        let callback = cb.url();
        let params = Params::on_s3s(&callback, 31, "tls-bucket");
        let out = build_task()
            .args(["fault", "--mode", "ok", "-p", &params.plain()])
            .env(var, &value)
            .env("AWS_ENDPOINT_URL_S3", s3.endpoint())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{var}: {}", stderr(&out));
        assert_eq!(cb.statuses(), ["processing", "success"], "{var}");
    }
}

#[test]
fn an_https_callback_with_an_unknown_ca_is_refused_and_exits_3() {
    let ca = crate::support::tls::TestCa::new();
    let cb = CallbackServer::start_tls(32, &ca);
    let callback = cb.url();
    let params = Params::on_s3s(&callback, 32, "tls-bucket");
    let out = build_task().args(["fault", "--mode", "ok", "-p", &params.plain()]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(cb.requests().is_empty(), "no request got through the handshake");
    assert!(!stderr(&out).contains("retrying"), "a certificate error is not retried: {}", stderr(&out));
    assert!(stderr(&out).contains("cannot deliver the processing status"), "{}", stderr(&out));
}
