//! A fault-injecting HTTP/1.1 proxy on a loopback port, in front of s3s-fs.
//!
//! Each client request is read whole (head and Content-Length body) and
//! forwarded on a fresh upstream connection with `Connection: close`, so the
//! answer ends at the upstream's EOF and the proxy needs no response parsing.
//! A fault fires once, on the first request whose request line contains its
//! pattern; the proxy records every request line, so a test can count tries.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer 503 SlowDown without forwarding.
    SlowDown,
    /// Forward half the body upstream, then reset both connections.
    ResetMidBody,
    /// Forward nothing and never answer (until the client gives up).
    Hang,
    /// Hang every matching request, not just the first.
    AlwaysHang,
    /// Answer 503 SlowDown to every matching request, not just the first.
    AlwaysSlowDown,
    /// Forward the request with the body's first byte flipped, as a broken
    /// network or disk would.
    Corrupt,
    /// Answer 404 NoSuchBucket, as S3 does for a bucket that does not exist
    /// (s3s-fs makes the bucket's folder on a PUT instead).
    NoSuchBucket,
    /// Answer this status with this S3 error code and message, without
    /// forwarding (403 AccessDenied, 500 InternalError, …).
    Error(u16, &'static str, &'static str),
    /// Answer 200 OK with an InternalError document, without forwarding: S3
    /// may fail a CompleteMultipartUpload that way, after it has sent 200.
    OkWithError,
    /// Forward the request, let S3 answer, then reset the client's
    /// connection instead of passing the answer on: every matching request.
    /// S3 has done the work; the client cannot know it.
    LoseAnswer,
    /// Read the request, wait this long, then forward it: every matching
    /// request, so a test knows an upload is in progress for that long.
    Delay(Duration),
    /// Forward the request, then pass S3's answer on with whitespace before
    /// its document, sent over this long: S3 keeps a slow
    /// CompleteMultipartUpload's connection open that way, after its 200.
    Padded(Duration),
    /// Answer 200 OK, then whitespace over this long, then an InternalError
    /// document, without forwarding.
    PaddedError(Duration),
    /// Check the body against its `x-amz-checksum-sha256` header, as S3
    /// does for PutObject and UploadPart alike (s3s-fs 0.14 does not for
    /// UploadPart): a mismatch is answered 400 BadDigest, else the request
    /// is forwarded. Every matching request.
    Checked,
    /// The body's first byte flipped, then [`Fault::Checked`]'s check.
    CorruptChecked,
}

impl Fault {
    /// Whether the fault fires on every matching request, not just the first.
    fn repeats(self) -> bool {
        matches!(self, Fault::AlwaysSlowDown | Fault::AlwaysHang | Fault::Delay(_) | Fault::LoseAnswer | Fault::Checked)
    }
}

#[derive(Default)]
struct State {
    faults: Vec<(String, Fault, bool)>,
    requests: Vec<String>,
}

pub struct Proxy {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl Proxy {
    /// Listens on 127.0.0.1 and forwards to 127.0.0.1:`upstream`.
    pub fn start(upstream: u16, faults: &[(&str, Fault)]) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let state = Arc::new(Mutex::new(State {
            faults: faults.iter().map(|(p, f)| (p.to_string(), *f, false)).collect(),
            requests: Vec::new(),
        }));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                std::thread::spawn(move || {
                    let _ = serve(client, upstream, &state);
                });
            }
        });
        Proxy { port, state }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request line seen, in order.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Waits until a request line contains `pattern`; false on time-out.
    pub fn wait_for(&self, pattern: &str, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while self.count(pattern) == 0 {
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }

    /// How many request lines contain `pattern`.
    pub fn count(&self, pattern: &str) -> usize {
        self.count_all(&[pattern])
    }

    /// How many request lines contain every one of `patterns`.
    pub fn count_all(&self, patterns: &[&str]) -> usize {
        self.requests().iter().filter(|r| patterns.iter().all(|p| r.contains(p))).count()
    }
}

/// Serves the requests of one client connection, one at a time.
fn serve(client: TcpStream, upstream: u16, state: &Mutex<State>) -> io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    loop {
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let end = line == "\r\n";
            head.push(line);
            if end {
                break;
            }
        }
        let request_line = head[0].trim_end().to_owned();
        let len: usize = head
            .iter()
            .find_map(|h| {
                let (name, value) = h.split_once(':')?;
                name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        let fault = {
            let mut state = state.lock().unwrap();
            state.requests.push(request_line.clone());
            let hit = state
                .faults
                .iter_mut()
                .find(|(p, f, fired)| request_line.contains(p.as_str()) && (!*fired || f.repeats()));
            hit.map(|(_, f, fired)| {
                *fired = true;
                *f
            })
        };
        match fault {
            Some(
                fault @ (Fault::SlowDown
                | Fault::AlwaysSlowDown
                | Fault::NoSuchBucket
                | Fault::Error(..)
                | Fault::OkWithError),
            ) => {
                io::copy(&mut (&mut reader).take(len as u64), &mut io::sink())?;
                let (status, code, message) = match fault {
                    Fault::NoSuchBucket => (404, "NoSuchBucket", "The specified bucket does not exist"),
                    Fault::Error(status, code, message) => (status, code, message),
                    Fault::OkWithError => (200, "InternalError", "We encountered an internal error. Please try again."),
                    _ => (503, "SlowDown", "Please reduce your request rate."),
                };
                let status = match status {
                    200 => "200 OK",
                    403 => "403 Forbidden",
                    404 => "404 Not Found",
                    500 => "500 Internal Server Error",
                    503 => "503 Service Unavailable",
                    _ => "400 Bad Request",
                };
                let body = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>1</RequestId></Error>"
                );
                write!(
                    client,
                    "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )?;
            }
            Some(Fault::ResetMidBody) => {
                let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
                write_head(&mut up, &head)?;
                io::copy(&mut (&mut reader).take(len as u64 / 2), &mut up)?;
                let _ = up.shutdown(Shutdown::Both);
                reset(&client);
                return Ok(());
            }
            Some(Fault::LoseAnswer) => {
                let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
                write_head(&mut up, &head)?;
                io::copy(&mut (&mut reader).take(len as u64), &mut up)?;
                io::copy(&mut up, &mut io::sink())?;
                reset(&client);
                return Ok(());
            }
            Some(Fault::Hang | Fault::AlwaysHang) => {
                io::copy(&mut (&mut reader).take(len as u64), &mut io::sink())?;
                // Wait until the client closes, or a minute at most,
                // whatever else it sends (a chunked body's end, say).
                client.set_read_timeout(Some(Duration::from_secs(60)))?;
                let until = std::time::Instant::now() + Duration::from_secs(60);
                while std::time::Instant::now() < until && matches!(reader.read(&mut [0; 512]), Ok(n) if n > 0) {}
                return Ok(());
            }
            Some(Fault::Delay(delay)) => {
                let mut body = Vec::new();
                (&mut reader).take(len as u64).read_to_end(&mut body)?;
                std::thread::sleep(delay);
                let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
                write_head(&mut up, &head)?;
                up.write_all(&body)?;
                io::copy(&mut up, &mut client)?;
                return Ok(());
            }
            Some(Fault::Padded(over)) => {
                let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
                write_head(&mut up, &head)?;
                io::copy(&mut (&mut reader).take(len as u64), &mut up)?;
                let mut answer = Vec::new();
                up.read_to_end(&mut answer)?;
                let split = answer.windows(4).position(|w| w == b"\r\n\r\n").map_or(answer.len(), |i| i + 4);
                let (answer_head, body) = answer.split_at(split);
                let answer_head = String::from_utf8_lossy(answer_head);
                let status = answer_head.lines().next().unwrap_or_default();
                let body = if answer_head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
                    dechunk(body)
                } else {
                    body.to_vec()
                };
                write_padded(&mut client, status, &body, over)?;
                return Ok(());
            }
            Some(Fault::PaddedError(over)) => {
                io::copy(&mut (&mut reader).take(len as u64), &mut io::sink())?;
                let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code>\
                            <Message>We encountered an internal error. Please try again.</Message></Error>";
                write_padded(&mut client, "HTTP/1.1 200 OK", body.as_bytes(), over)?;
            }
            Some(fault @ (Fault::Checked | Fault::CorruptChecked)) => {
                let mut body = Vec::new();
                (&mut reader).take(len as u64).read_to_end(&mut body)?;
                if let (Fault::CorruptChecked, Some(first)) = (fault, body.first_mut()) {
                    *first ^= 0xff;
                }
                let claimed = head.iter().find_map(|h| {
                    let (name, value) = h.split_once(':')?;
                    name.eq_ignore_ascii_case("x-amz-checksum-sha256").then(|| value.trim().to_owned())
                });
                let actual = {
                    use base64::Engine;
                    use sha2::Digest;
                    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&body))
                };
                if claimed.is_some_and(|c| c != actual) {
                    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>BadDigest</Code>\
                                <Message>The SHA256 you specified did not match the calculated checksum.</Message></Error>";
                    write!(
                        client,
                        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )?;
                    continue;
                }
                let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
                write_head(&mut up, &head)?;
                up.write_all(&body)?;
                io::copy(&mut up, &mut client)?;
                return Ok(());
            }
            Some(Fault::Corrupt) => {
                let mut body = Vec::new();
                (&mut reader).take(len as u64).read_to_end(&mut body)?;
                if let Some(first) = body.first_mut() {
                    *first ^= 0xff;
                }
                let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
                write_head(&mut up, &head)?;
                up.write_all(&body)?;
                io::copy(&mut up, &mut client)?;
                return Ok(());
            }
            None => {
                let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
                write_head(&mut up, &head)?;
                io::copy(&mut (&mut reader).take(len as u64), &mut up)?;
                io::copy(&mut up, &mut client)?;
                // The upstream closed after one answer, so must we.
                return Ok(());
            }
        }
    }
}

/// A chunked body's data (s3s-fs sends its XML answers chunked).
fn dechunk(mut chunked: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    while let Some(end) = chunked.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&chunked[..end]).trim(), 16).unwrap_or(0);
        if size == 0 || chunked.len() < end + 2 + size {
            break;
        }
        data.extend_from_slice(&chunked[end + 2..end + 2 + size]);
        chunked = &chunked[(end + 4 + size).min(chunked.len())..];
    }
    data
}

/// An answer of `status` whose `body` comes after whitespace sent in three
/// pieces over `over`, as S3 sends a slow CompleteMultipartUpload's.
fn write_padded(client: &mut TcpStream, status: &str, body: &[u8], over: Duration) -> io::Result<()> {
    let piece = b"\n                    ";
    write!(
        client,
        "{status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n",
        3 * piece.len() + body.len()
    )?;
    for _ in 0..3 {
        client.write_all(piece)?;
        client.flush()?;
        std::thread::sleep(over / 3);
    }
    client.write_all(body)
}

/// The request head with `Connection: close` in place of any Connection header.
fn write_head(up: &mut TcpStream, head: &[String]) -> io::Result<()> {
    let mut out = String::new();
    for line in &head[..head.len() - 1] {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            out.push_str(line);
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    up.write_all(out.as_bytes())
}

/// Closes with RST (SO_LINGER 0) rather than FIN.
fn reset(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: setsockopt on a socket we own, with a correctly sized linger.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            libc::socklen_t::try_from(std::mem::size_of::<libc::linger>()).expect("a linger is a few bytes"),
        );
    }
}
