//! Start-up benchmark: from exec to the "processing" request leaving the
//! process, over loopback, with pages-core-shaped encrypted params under
//! DEPLOY_ENV and VCAP_SERVICES (so parsing and decryption are included).
//!
//! `bench/startup.sh` builds the static binary and runs this; see bench/README.md.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use build_task::crypto::{self, Key};
use build_task::secret::Secret;

const KEY: &str = "bench-key";

fn enc(plain: &str) -> String {
    let mut iv = [0u8; 16];
    iv.iter_mut().for_each(|b| *b = fastrand::u8(..));
    crypto::encrypt(&Key::from_secret(&Secret::new(KEY)), iv, plain)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let binary = args.next().expect("usage: startup BINARY [RUNS]");
    let runs: usize = args.next().map_or(300, |n| n.parse().expect("RUNS is a number"));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let params = format!(
        r#"{{ "STATUS_CALLBACK": "{}", "TASK_ID": {}, "AWS_DEFAULT_REGION": "{}", "AWS_ACCESS_KEY_ID": "{}", "AWS_SECRET_ACCESS_KEY": "{}", "BUCKET": "{}" }}"#,
        enc(&format!("http://127.0.0.1:{port}/v0/tasks/1/token")),
        enc("1"),
        enc("us-gov-west-1"),
        enc("AKIAEXAMPLE"),
        enc("secret"),
        enc("bench-bucket")
    );
    let vcap = format!(r#"{{"user-provided":[{{"name":"pages-bench-encryption","credentials":{{"key":"{KEY}"}}}}]}}"#);
    let target = enc("https://example.gov/");

    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let mut child = Command::new(&binary)
            .args(["example", "-t", &target, "-p", &params])
            .env_clear()
            .env("DEPLOY_ENV", "bench")
            .env("VCAP_SERVICES", &vcap)
            .env("LOGLEVEL", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn build-task");
        let (stream, _) = listener.accept().expect("accept");
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).expect("request line");
        samples.push(started.elapsed());
        assert!(line.starts_with("PUT /v0/tasks/1/token"), "unexpected request: {line}");
        // Refuse it, as pages-core does for a finished task: the run ends (exit 3).
        while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
            line.clear();
        }
        let _ = reader.get_mut().write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        let status = child.wait().expect("wait");
        assert_eq!(status.code(), Some(3));
    }
    samples.sort();
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "p is from 0 to 1: an index of `samples`"
    )]
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("exec to 'processing' request on loopback, {runs} runs, encrypted params:");
    println!(
        "  min {:.2} ms   median {:.2} ms   p90 {:.2} ms   max {:.2} ms",
        ms(samples[0]),
        ms(pct(0.5)),
        ms(pct(0.9)),
        ms(samples[runs - 1])
    );
    println!("  budget: median <= 5 ms -> {}", if pct(0.5) <= Duration::from_millis(5) { "met" } else { "MISSED" });
}
