//! build-task-smoke: the pipeline's last look at an image before it is pushed.
//!
//! It serves a fixture site on 127.0.0.1, runs `build-task doctor`, then a
//! local run of the image's task against that site, and checks the files the
//! run had to write. The pipeline's `run` step (ci/tasks/run.yml) runs it
//! inside the freshly built image, where `example`'s image holds no program
//! but build-task; so it needs nothing from the image: std only, linked
//! statically by ci/smoke/build.sh.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};
use std::{env, fs, thread};

const HELP: &str = "\
build-task-smoke: serve a fixture site on loopback and run a build-task image's checks against it.

USAGE:
    build-task-smoke --site DIR [OPTIONS] -- COMMAND [ARGS...]

In COMMAND's arguments, {site} becomes the site's URL (http://127.0.0.1:PORT/)
and {out} the output directory.

OPTIONS:
    --site DIR          Serve this directory's files (a directory's index.html for its path).
    --doctor BIN        Run `BIN doctor` before COMMAND, and stop if it fails.
    --output-dir DIR    Give COMMAND this directory as {out} (default: a new one in the temp dir).
    --expect FILE       Fail unless COMMAND wrote FILE (relative to {out}); repeatable.
    --timeout SECS      Stop everything after SECS seconds in all (default 600).
    -h, --help          Show this help.

EXIT STATUS:
    0 every check passed; 1 a check failed (doctor, COMMAND, an expected file, the time limit);
    2 a bad command line, or the site cannot be served.
";

/// How long a command has to exit after SIGTERM before it gets SIGKILL.
const GRACE: Duration = Duration::from_secs(10);
/// A client gets this long to send its request and to take the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the smoke test did not pass: the exit status tells the two apart.
enum Failure {
    /// A bad command line or a site that cannot be served: exit 2.
    Setup(String),
    /// The image failed a check: exit 1.
    Check(String),
}

struct Args {
    site: PathBuf,
    doctor: Option<String>,
    output_dir: Option<PathBuf>,
    expect: Vec<PathBuf>,
    timeout: Duration,
    command: Vec<String>,
}

fn main() -> ExitCode {
    let argv = env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned());
    let result = match parse(argv) {
        Ok(Some(args)) => smoke(&args),
        Ok(None) => {
            print!("{HELP}");
            Ok(())
        }
        Err(failure) => Err(failure),
    };
    let (why, code) = match result {
        Ok(()) => return ExitCode::SUCCESS,
        Err(Failure::Check(why)) => (why, 1),
        Err(Failure::Setup(why)) => (why, 2),
    };
    eprintln!("build-task-smoke: {why}");
    ExitCode::from(code)
}

/// The command line; None for --help.
fn parse(mut argv: impl Iterator<Item = String>) -> Result<Option<Args>, Failure> {
    let usage = |why: String| Failure::Setup(format!("{why} (see --help)"));
    let (mut site, mut doctor, mut output_dir, mut expect, mut timeout) = (None, None, None, Vec::new(), 600);
    let mut command = Vec::new();
    while let Some(arg) = argv.next() {
        let mut value = || argv.next().ok_or_else(|| usage(format!("{arg} needs a value")));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--site" => site = Some(PathBuf::from(value()?)),
            "--doctor" => doctor = Some(value()?),
            "--output-dir" => output_dir = Some(PathBuf::from(value()?)),
            "--expect" => expect.push(PathBuf::from(value()?)),
            "--timeout" => {
                let text = value()?;
                timeout = text
                    .parse()
                    .ok()
                    .filter(|&secs| secs > 0)
                    .ok_or_else(|| usage(format!("--timeout '{text}' is not a number of seconds")))?;
            }
            "--" => {
                command = argv.by_ref().collect();
                break;
            }
            other => return Err(usage(format!("unknown argument '{other}'"))),
        }
    }
    let site = site.ok_or_else(|| usage("--site DIR is required".to_string()))?;
    if command.is_empty() {
        return Err(usage("no command after --".to_string()));
    }
    Ok(Some(Args { site, doctor, output_dir, expect, timeout: Duration::from_secs(timeout), command }))
}

fn smoke(args: &Args) -> Result<(), Failure> {
    let deadline = Instant::now() + args.timeout;
    let root = fs::canonicalize(&args.site)
        .ok()
        .filter(|root| root.is_dir())
        .ok_or_else(|| Failure::Setup(format!("--site {}: not a directory", args.site.display())))?;
    let out = match &args.output_dir {
        Some(dir) => dir.clone(),
        None => env::temp_dir().join(format!("build-task-smoke-{}", std::process::id())),
    };
    fs::create_dir_all(&out).map_err(|e| Failure::Setup(format!("cannot create {}: {e}", out.display())))?;
    let mut entries = fs::read_dir(&out).map_err(|e| Failure::Setup(format!("cannot read {}: {e}", out.display())))?;
    if entries.next().is_some() {
        // A file left from before would pass --expect without the command writing it.
        return Err(Failure::Setup(format!("the output directory {} is not empty", out.display())));
    }

    // Bound before any command starts, so nothing else can take the port.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| Failure::Setup(format!("cannot listen on 127.0.0.1: {e}")))?;
    let port = listener.local_addr().map_err(|e| Failure::Setup(format!("no local address: {e}")))?.port();
    let url = format!("http://127.0.0.1:{port}/");
    eprintln!("build-task-smoke: serving {} at {url}", root.display());
    // The server lives on its own threads; it stops when this process exits.
    thread::spawn(move || serve(&listener, &root));

    if let Some(doctor) = &args.doctor {
        run(&[doctor.clone(), "doctor".to_string()], deadline, args.timeout)?;
    }
    let out_text = out.to_string_lossy();
    let command: Vec<String> =
        args.command.iter().map(|a| a.replace("{site}", &url).replace("{out}", &out_text)).collect();
    run(&command, deadline, args.timeout)?;

    let missing: Vec<String> =
        args.expect.iter().filter(|file| !out.join(file).is_file()).map(|f| f.display().to_string()).collect();
    if !missing.is_empty() {
        return Err(Failure::Check(format!(
            "`{}` succeeded but did not write {} in {}",
            command.join(" "),
            missing.join(", "),
            out.display()
        )));
    }
    eprintln!("build-task-smoke: passed; {} holds the output", out.display());
    Ok(())
}

// SIGTERM for a child, which std cannot send (Child::kill is SIGKILL).
// kill(2) is in the libc std already links.
unsafe extern "C" {
    safe fn kill(pid: i32, signal: i32) -> i32;
}
const SIGTERM: i32 = 15;

/// Runs a command with inherited stdin, stdout and stderr; past the deadline
/// it gets SIGTERM (build-task then stops its own children), then SIGKILL.
fn run(command: &[String], deadline: Instant, timeout: Duration) -> Result<(), Failure> {
    let shown = command.join(" ");
    eprintln!("build-task-smoke: running {shown}");
    let mut child = Command::new(&command[0])
        .args(&command[1..])
        .spawn()
        .map_err(|e| Failure::Check(format!("cannot start `{shown}`: {e}")))?;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(Failure::Check(format!("`{shown}` failed ({status})"))),
            Ok(None) if Instant::now() >= deadline => {
                stop(&mut child);
                return Err(Failure::Check(format!(
                    "`{shown}` did not finish within the time limit ({} s), so it was stopped",
                    timeout.as_secs()
                )));
            }
            Ok(None) => thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(Failure::Check(format!("cannot wait for `{shown}`: {e}"))),
        }
    }
}

fn stop(child: &mut Child) {
    // Not yet reaped, so the pid is still the child's own.
    if let Ok(pid) = i32::try_from(child.id()) {
        kill(pid, SIGTERM);
    }
    let until = Instant::now() + GRACE;
    while Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

// ---------------------------------------------------------------------------
// The fixture site, over HTTP/1.1: one request per connection

fn serve(listener: &TcpListener, root: &Path) {
    for stream in listener.incoming().flatten() {
        let root = root.to_path_buf();
        thread::spawn(move || {
            let _ = answer(stream, &root);
        });
    }
}

fn answer(stream: TcpStream, root: &Path) -> std::io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    // A request head of at most 64 KiB; the body of a GET or HEAD is ignored.
    let mut reader = BufReader::new(stream.try_clone()?.take(64 * 1024));
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim_end().is_empty() {
            break;
        }
    }
    let mut words = request_line.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let response = respond(method, target, root);
    eprintln!("build-task-smoke: {method} {} {}", target.escape_debug(), response.status);

    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        response.status,
        response.reason,
        response.content_type,
        response.body.len()
    );
    if let Some(location) = &response.location {
        head.push_str(&format!("Location: {location}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = stream;
    stream.write_all(head.as_bytes())?;
    if method != "HEAD" {
        stream.write_all(&response.body)?;
    }
    stream.flush()
}

struct Response {
    status: u16,
    reason: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    location: Option<String>,
}

impl Response {
    fn error(status: u16, reason: &'static str) -> Response {
        let body = format!("{reason}\n").into_bytes();
        Response { status, reason, content_type: "text/plain; charset=utf-8", body, location: None }
    }
}

/// The answer to one request, from the files under `root` (canonical).
fn respond(method: &str, target: &str, root: &Path) -> Response {
    if method != "GET" && method != "HEAD" {
        return Response::error(405, "Method Not Allowed");
    }
    let path = target.split(['?', '#']).next().unwrap_or("");
    let Some(path) = path.strip_prefix('/').and_then(percent_decode) else {
        return Response::error(400, "Bad Request");
    };
    let mut file = root.to_path_buf();
    for segment in path.split('/').filter(|s| !s.is_empty() && *s != ".") {
        // `..` would climb out of the site; `\` and NUL are no part of a name here.
        if segment == ".." || segment.contains(['\\', '\0']) {
            return Response::error(400, "Bad Request");
        }
        file.push(segment);
    }
    if file.is_dir() {
        if !path.is_empty() && !path.ends_with('/') {
            // So the page's relative links resolve inside the directory.
            let mut moved = Response::error(301, "Moved Permanently");
            moved.location = Some(format!("/{path}/"));
            return moved;
        }
        file.push("index.html");
    }
    // A symbolic link out of the site is not served either.
    match fs::canonicalize(&file) {
        Ok(real) if real.starts_with(root) && real.is_file() => match fs::read(&real) {
            Ok(body) => Response { status: 200, reason: "OK", content_type: content_type(&real), body, location: None },
            Err(_) => Response::error(500, "Internal Server Error"),
        },
        _ => Response::error(404, "Not Found"),
    }
}

/// `%XX` escapes decoded; None for a bad escape or bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit))?;
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        _ => "application/octet-stream",
    }
}
