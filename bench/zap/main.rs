//! The ZAP report step against its floor, one mode per process so each
//! peak RSS is its own (see bench/zap/README.md).
//!
//! `zap-bench report REPORT CONFIG OUT`: what the task does after the scan.
//! `zap-bench floor REPORT OUT`: miniserde parse and write back unchanged.
//! Prints one line: mode, input bytes, seconds, peak RSS in bytes.

use std::path::Path;
use std::time::Instant;

use build_task::tasks::owasp_zap::report;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let started = Instant::now();
    let input = match args.as_slice() {
        [mode, input, config, out] if mode == "report" => {
            let config = std::fs::read_to_string(config).expect("the config file is readable");
            let rules = build_task::site::rules(&config).unwrap_or_else(|e| fail(&e.to_string()));
            report::generate(Path::new(input), &rules, Path::new(out)).unwrap_or_else(|e| fail(&e.to_string()));
            input
        }
        [mode, input, out] if mode == "floor" => {
            let text = std::fs::read_to_string(input).expect("the report is readable");
            let value: miniserde::json::Value = miniserde::json::from_str(&text).unwrap_or_else(|_| fail("not JSON"));
            drop(text);
            std::fs::write(out, miniserde::json::to_string(&value)).expect("the output is writable");
            input
        }
        _ => fail("usage: zap-bench report REPORT CONFIG OUT | zap-bench floor REPORT OUT"),
    };
    let seconds = started.elapsed().as_secs_f64();
    let size = std::fs::metadata(input).map(|m| m.len()).unwrap_or(0);
    println!("{} {size} {seconds:.3} {}", args[0], peak_rss());
}

/// This process's peak resident set size, in bytes.
fn peak_rss() -> u64 {
    #[allow(unsafe_code)]
    // SAFETY: an all-zero rusage is a valid one, and getrusage only fills
    // the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    usage.ru_maxrss.unsigned_abs() * 1024
}

fn fail(message: &str) -> ! {
    eprintln!("zap-bench: {message}");
    std::process::exit(1)
}
