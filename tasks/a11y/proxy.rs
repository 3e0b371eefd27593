//! The browser's only way out: a small forward proxy on loopback, through
//! which the fence (src/fence.rs) applies to every request Chromium makes.
//!
//! The scan starts one per scan and gives Chromium flags that send every
//! request through it, loopback included, and turn off what could go around
//! it (scan.rs lists them with what each was seen to do). Two kinds of
//! request come in: `CONNECT host:port` (https, wss) and plain HTTP in
//! absolute form (`GET http://host/path HTTP/1.1`). For either the host is
//! resolved once, the addresses the fence refuses are dropped, and the
//! connection is made to one of those left, so the address checked is the
//! address used. A CONNECT is then answered 200 and the bytes copied both
//! ways; a plain request is sent on in origin form with `Connection: close`,
//! and the answer copied back. A CONNECT refused is answered `403` with one
//! line saying why, which Chromium takes as a failed tunnel. A plain request
//! refused, or one whose destination cannot be reached, is closed without
//! an answer instead: Chromium shows a plain-HTTP answer as the page itself,
//! and a page that redirects to the metadata service, or a site that is
//! down, must fail as a page that could not load, not be scanned as the
//! proxy's words. Every refusal is counted.
//!
//! Everything is bounded: the size of a request head and the time to send
//! it, the time to connect, the connections open at once, and how long a
//! tunnel may sit idle. It runs on std threads, one per connection (a
//! tunnel copies both ways on one thread, with poll(2)), and stops when
//! dropped: the scan drops it when it returns, a cancel included. Any local process could use the port too, but only to
//! reach what the fence allows.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::task::{Blocked, Error, Fence, Result, bounded, debug, info};

/// The proxy's bounds.
#[derive(Clone, Debug)]
pub struct Limits {
    /// A request head larger than this is refused (431).
    pub head_bytes: usize,
    /// The whole head must arrive within this (else 408).
    pub head_timeout: Duration,
    /// Per address tried.
    pub connect_timeout: Duration,
    /// Client connections open at once; one more is answered 503. Chromium
    /// opens at most 32 to one proxy.
    pub connections: usize,
    /// A tunnel or an answer with no byte either way for this long is closed.
    pub idle: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            head_bytes: 32 * 1024,
            head_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            connections: 48,
            idle: Duration::from_secs(60),
        }
    }
}

/// How many refused destinations the summary names.
const HOSTS_KEPT: usize = 8;

/// Connections past the limit being answered 503 at once, at most; more
/// are closed without a word.
const REFUSING: usize = 8;

/// Each proxy thread's stack: they copy bytes with heap buffers, but the
/// system resolver runs on it.
const STACK: usize = 256 * 1024;

/// A running proxy; it stops when dropped.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    fence: Fence,
    limits: Limits,
    stop: AtomicBool,
    open: Mutex<Open>,
    /// Signalled when a connection ends.
    closed: Condvar,
    refused: Mutex<Refused>,
    /// Connections attempted to a destination.
    connects: AtomicU64,
    /// Threads answering a connection past the limit.
    refusing: AtomicUsize,
}

/// The connections open, by number, each with its sockets (the client's,
/// then the destination's), to shut down when the proxy stops.
#[derive(Default)]
struct Open {
    next: u64,
    sockets: Vec<(u64, Vec<TcpStream>)>,
}

impl Open {
    /// Forgets connection `id`, and gives its sockets.
    fn remove(&mut self, id: u64) -> Vec<TcpStream> {
        match self.sockets.iter().position(|(i, _)| *i == id) {
            Some(at) => self.sockets.swap_remove(at).1,
            None => Vec::new(),
        }
    }
}

#[derive(Default)]
struct Refused {
    count: u64,
    /// The first [`HOSTS_KEPT`] hosts refused, each once.
    hosts: Vec<String>,
    /// Whether more hosts were refused than kept.
    more: bool,
}

impl Proxy {
    /// Listens on 127.0.0.1 at a free port and serves until dropped.
    pub fn start(fence: &Fence, limits: Limits) -> Result<Proxy> {
        let failed = |e: std::io::Error| Error::failed(format!("cannot start the browser's proxy: {e}"));
        let listener = TcpListener::bind("127.0.0.1:0").map_err(failed)?;
        let addr = listener.local_addr().map_err(failed)?;
        let shared = Arc::new(Shared {
            fence: fence.clone(),
            limits,
            stop: AtomicBool::new(false),
            open: Mutex::new(Open::default()),
            closed: Condvar::new(),
            refused: Mutex::new(Refused::default()),
            connects: AtomicU64::new(0),
            refusing: AtomicUsize::new(0),
        });
        let accepting = shared.clone();
        let acceptor = std::thread::Builder::new()
            .name("proxy".into())
            .stack_size(STACK)
            .spawn(move || accept(&listener, &accepting))
            .map_err(failed)?;
        Ok(Proxy { addr, shared, acceptor: Some(acceptor) })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Requests refused by the fence so far, and the first hosts refused.
    pub fn refused(&self) -> (u64, Vec<String>) {
        let r = self.shared.refused.lock().unwrap_or_else(|p| p.into_inner());
        (r.count, r.hosts.clone())
    }

    /// Connections attempted to destinations so far.
    #[cfg(test)]
    fn connects(&self) -> u64 {
        self.shared.connects.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    /// Stops accepting, closes every connection, waits a moment for their
    /// threads (one blocked in the system resolver is left to end alone),
    /// and says what the browser was refused: the one place every way out of
    /// a scan passes.
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the acceptor, which sees the flag and returns.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let mut open = self.shared.open.lock().unwrap_or_else(|p| p.into_inner());
        for socket in open.sockets.iter().flat_map(|(_, s)| s) {
            let _ = socket.shutdown(Shutdown::Both);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while !open.sockets.is_empty() && Instant::now() < deadline {
            let wait = deadline.saturating_duration_since(Instant::now());
            open = self.shared.closed.wait_timeout(open, wait).unwrap_or_else(|p| p.into_inner()).0;
        }
        drop(open);
        let (count, hosts) = self.refused();
        if count > 0 {
            let more = self.shared.refused.lock().map(|r| r.more).unwrap_or(false);
            info!(
                "the browser was refused {count} requests to internal addresses ({}{})",
                hosts.join(", "),
                if more { ", …" } else { "" }
            );
        }
    }
}

fn accept(listener: &TcpListener, shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else {
            // Out of file descriptors, say: accept fails again at once, so
            // it is not retried in a busy loop.
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        let id = {
            let mut open = shared.open.lock().unwrap_or_else(|p| p.into_inner());
            let Ok(clone) = client.try_clone() else { continue };
            if open.sockets.len() >= shared.limits.connections {
                drop(open);
                debug!("the browser's proxy has {} connections open: refusing one more", shared.limits.connections);
                refuse_busy(client, shared);
                continue;
            }
            open.next += 1;
            let id = open.next;
            open.sockets.push((id, vec![clone]));
            id
        };
        let serving = shared.clone();
        let spawned = std::thread::Builder::new().name("proxy-conn".into()).stack_size(STACK).spawn(move || {
            let _done = Done { shared: &serving, id };
            serve(client, &serving, id);
        });
        if spawned.is_err() {
            // The thread never ran: its connection is closed here.
            let mut open = shared.open.lock().unwrap_or_else(|p| p.into_inner());
            for socket in open.remove(id) {
                let _ = socket.shutdown(Shutdown::Both);
            }
        }
    }
}

/// Answers 503 on a thread of its own (the answer lingers; the acceptor
/// must not), or, with [`REFUSING`] such threads running, just closes.
fn refuse_busy(client: TcpStream, shared: &Arc<Shared>) {
    if shared.refusing.fetch_add(1, Ordering::SeqCst) >= REFUSING {
        shared.refusing.fetch_sub(1, Ordering::SeqCst);
        return;
    }
    let done = shared.clone();
    let spawned = std::thread::Builder::new().name("proxy-busy".into()).stack_size(STACK).spawn(move || {
        answer(client, 503, "too many connections");
        done.refusing.fetch_sub(1, Ordering::SeqCst);
    });
    if spawned.is_err() {
        shared.refusing.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Forgets a connection when its thread ends, however it ends.
struct Done<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Done<'_> {
    fn drop(&mut self) {
        let mut open = self.shared.open.lock().unwrap_or_else(|p| p.into_inner());
        open.remove(self.id);
        self.shared.closed.notify_all();
    }
}

/// One client connection: one request, then the tunnel or the answer.
fn serve(mut client: TcpStream, shared: &Shared, id: u64) {
    let limits = &shared.limits;
    let (head, rest) = match read_head(&mut client, limits) {
        Ok(read) => read,
        Err((status, why)) => return answer(client, status, why),
    };
    let request = match Request::parse(&head) {
        Ok(r) => r,
        Err(why) => return answer(client, 400, why),
    };
    // A plain request's failure is a closed connection (see above).
    let fail = |client: TcpStream, status: u16, why: &str| match request.forward {
        None => answer(client, status, why),
        Some(_) => linger(client),
    };
    let addrs = match shared.fence.resolve(&request.host, request.port) {
        Ok(addrs) => addrs,
        Err(Blocked::Internal) => {
            debug!("the browser's request to {}:{} was refused: an internal address", request.host, request.port);
            shared.note_refused(&request.host);
            return fail(client, 403, "the destination is an internal address");
        }
        Err(Blocked::Unresolved(e)) => {
            debug!("the browser's proxy cannot resolve {}: {e}", request.host);
            return fail(client, 502, "the destination's name does not resolve");
        }
    };
    let Some(upstream) = shared.connect(&addrs, id) else {
        return fail(client, 502, "cannot connect to the destination");
    };
    for socket in [&client, &upstream] {
        let _ = socket.set_read_timeout(Some(limits.idle));
        let _ = socket.set_write_timeout(Some(limits.idle));
    }
    let sent = match &request.forward {
        None => {
            client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").and_then(|()| (&upstream).write_all(&rest))
        }
        Some(head) => send_request(&mut client, &upstream, head, &rest, request.body),
    };
    if sent.is_err() {
        return;
    }
    if request.forward.is_none() {
        relay(&client, &upstream, limits.idle);
    } else {
        // The answer ends when the destination closes (reads time out after
        // `idle`); the client is told by a clean close once it has it all.
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n @ 1..) = (&upstream).read(&mut buf) {
            if client.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        linger(client);
    }
}

impl Shared {
    fn note_refused(&self, host: &str) {
        let mut r = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        r.count += 1;
        let host = bounded(host, 64);
        if !r.hosts.contains(&host) {
            if r.hosts.len() < HOSTS_KEPT {
                r.hosts.push(host);
            } else {
                r.more = true;
            }
        }
    }

    /// The first of `addrs` that takes a connection, registered under `id`
    /// so that a stop closes it.
    fn connect(&self, addrs: &[SocketAddr], id: u64) -> Option<TcpStream> {
        for addr in addrs {
            if self.stop.load(Ordering::SeqCst) {
                return None;
            }
            self.connects.fetch_add(1, Ordering::SeqCst);
            match TcpStream::connect_timeout(addr, self.limits.connect_timeout) {
                Ok(stream) => {
                    let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
                    let mine = open.sockets.iter_mut().find(|(i, _)| *i == id);
                    if let (Some((_, sockets)), Ok(clone)) = (mine, stream.try_clone()) {
                        sockets.push(clone);
                    }
                    // A stop that came while connecting did not see it.
                    if self.stop.load(Ordering::SeqCst) {
                        let _ = stream.shutdown(Shutdown::Both);
                        return None;
                    }
                    return Some(stream);
                }
                Err(e) => debug!("the browser's proxy cannot connect to {addr}: {e}"),
            }
        }
        None
    }
}

/// A status and the one-line reason to refuse a request with.
type Refusal = (u16, &'static str);

/// A request head and what came after it.
fn read_head(client: &mut TcpStream, limits: &Limits) -> Result<(Vec<u8>, Vec<u8>), Refusal> {
    let deadline = Instant::now() + limits.head_timeout;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        match httparse::Request::new(&mut headers).parse(&buf) {
            Ok(httparse::Status::Complete(n)) => {
                let rest = buf.split_off(n);
                return Ok((buf, rest));
            }
            Ok(httparse::Status::Partial) if buf.len() >= limits.head_bytes => {
                return Err((431, "the request head is too large"));
            }
            Ok(httparse::Status::Partial) => {}
            Err(httparse::Error::TooManyHeaders) => return Err((431, "the request has too many headers")),
            Err(_) => return Err((400, "the request is not HTTP")),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || client.set_read_timeout(Some(left)).is_err() {
            return Err((408, "the request head did not arrive in time"));
        }
        let room = (limits.head_bytes + 1 - buf.len()).min(chunk.len());
        match client.read(&mut chunk[..room]) {
            Ok(0) => return Err((400, "the request ended early")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err((408, "the request head did not arrive in time"));
            }
            Err(_) => return Err((400, "the request ended early")),
        }
    }
}

/// A request the proxy takes.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    host: String,
    port: u16,
    /// For a plain-HTTP request, the head to send on; None for a CONNECT.
    forward: Option<Vec<u8>>,
    /// The request body's length.
    body: u64,
}

/// Headers that concern one connection (RFC 9110, 7.6.1), never sent on.
const HOP_BY_HOP: &[&str] =
    &["connection", "proxy-connection", "keep-alive", "proxy-authorization", "te", "trailer", "upgrade", "host"];

impl Request {
    /// A complete head, as read: `CONNECT host:port` or an absolute-form
    /// `http://` request, else why not.
    fn parse(head: &[u8]) -> Result<Request, &'static str> {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        if !matches!(req.parse(head), Ok(httparse::Status::Complete(_))) {
            return Err("the request is not HTTP");
        }
        let (Some(method), Some(target)) = (req.method, req.path) else { return Err("the request is not HTTP") };
        if method == "CONNECT" {
            let (host, port) = authority(target, None).ok_or("CONNECT takes host:port")?;
            return Ok(Request { host, port, forward: None, body: 0 });
        }
        let rest = target
            .get(..7)
            .filter(|s| s.eq_ignore_ascii_case("http://"))
            .map(|_| &target[7..])
            .ok_or("only CONNECT and absolute http:// requests are proxied")?;
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (host_port, path) = rest.split_at(end);
        let (host, port) = authority(host_port, Some(80)).ok_or("the request's URL has no valid host")?;
        let mut body = 0;
        let mut connection_named: Vec<String> = Vec::new();
        for h in req.headers.iter() {
            let name = h.name.to_ascii_lowercase();
            if name == "transfer-encoding" {
                return Err("a request body of unknown length is not proxied");
            }
            if name == "content-length" {
                let n = std::str::from_utf8(h.value).ok().and_then(|v| v.trim().parse::<u64>().ok());
                body = n.ok_or("the request's Content-Length is not a number")?;
            }
            if name == "connection" || name == "proxy-connection" {
                let value = String::from_utf8_lossy(h.value).to_ascii_lowercase();
                connection_named.extend(value.split(',').map(|t| t.trim().to_owned()));
            }
        }
        let path = if path.is_empty() || path.starts_with('?') { format!("/{path}") } else { path.to_owned() };
        let mut out = format!("{method} {path} HTTP/1.1\r\nHost: {host_port}\r\n").into_bytes();
        for h in req.headers.iter() {
            let name = h.name.to_ascii_lowercase();
            if HOP_BY_HOP.contains(&name.as_str()) || connection_named.contains(&name) {
                continue;
            }
            out.extend_from_slice(h.name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(h.value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"Connection: close\r\n\r\n");
        Ok(Request { host, port, forward: Some(out), body })
    }
}

/// `host:port` (IPv6 in brackets) as the host without brackets and the
/// port, `default` when it has none. The host is a name of letters, digits,
/// `-`, `_` and dots, an IPv4 address or a bracketed IPv6 one.
fn authority(text: &str, default: Option<u16>) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        v6.parse::<std::net::Ipv6Addr>().ok()?;
        (v6, after)
    } else {
        let colon = text.find(':').unwrap_or(text.len());
        let (host, after) = text.split_at(colon);
        let name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if host.is_empty() || host.len() > 253 || !host.chars().all(name) {
            return None;
        }
        (host, after)
    };
    let port = match port.strip_prefix(':') {
        Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0)?,
        None if port.is_empty() => default?,
        None => return None,
    };
    Some((host.to_ascii_lowercase(), port))
}

/// Sends a plain-HTTP request on: its new head, then its body (what came
/// with the head first), and nothing after it.
fn send_request(
    client: &mut TcpStream,
    upstream: &TcpStream,
    head: &[u8],
    rest: &[u8],
    body: u64,
) -> std::io::Result<()> {
    let mut upstream = upstream;
    upstream.write_all(head)?;
    let early = rest.len().min(usize::try_from(body).unwrap_or(usize::MAX));
    upstream.write_all(&rest[..early])?;
    let mut left = body - early as u64;
    let mut buf = vec![0u8; 16 * 1024];
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = client.read(&mut buf[..want])?;
        if n == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        upstream.write_all(&buf[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// Copies both ways, on this thread, until both sides are done, one side
/// fails, or nothing has moved either way for `idle`. A side that ends its
/// sending is passed on as a half-close, and the other way goes on.
fn relay(client: &TcpStream, upstream: &TcpStream, idle: Duration) {
    use std::os::fd::AsRawFd;
    let sides = [client, upstream];
    let mut fds = sides.map(|s| libc::pollfd { fd: s.as_raw_fd(), events: libc::POLLIN, revents: 0 });
    let mut sending = [true, true];
    let mut buf = vec![0u8; 16 * 1024];
    let mut last = Instant::now();
    'relay: while sending.contains(&true) {
        let left = idle.saturating_sub(last.elapsed());
        if left.is_zero() {
            break;
        }
        for (fd, open) in fds.iter_mut().zip(sending) {
            fd.events = if open { libc::POLLIN } else { 0 };
            fd.revents = 0;
        }
        let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX).max(1);
        #[allow(unsafe_code)]
        // SAFETY: `fds` is two initialised pollfds that outlive the call,
        // and the sockets they name are open until this function returns.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
        if ready < 0 {
            if std::io::Error::last_os_error().kind() == ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        for i in 0..2 {
            if fds[i].revents == 0 {
                continue;
            }
            // An error or hang-up on a side that has said all it had: it
            // cannot take the rest either.
            if !sending[i] {
                break 'relay;
            }
            let (mut from, mut to) = (sides[i], sides[1 - i]);
            // Readable (or hung up): this read does not block.
            match from.read(&mut buf) {
                Ok(0) => {
                    let _ = to.shutdown(Shutdown::Write);
                    sending[i] = false;
                }
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break 'relay;
                    }
                    last = Instant::now();
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                Err(_) => break 'relay,
            }
        }
    }
    for side in sides {
        let _ = side.shutdown(Shutdown::Both);
    }
}

/// Answers `status` with a one-line reason and closes.
fn answer(client: TcpStream, status: u16, why: &str) {
    let text = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        502 => "Bad Gateway",
        _ => "Service Unavailable",
    };
    let body = format!("build-task's proxy refused the request: {why}\n");
    let head = format!(
        "HTTP/1.1 {status} {text}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = client.set_write_timeout(Some(Duration::from_secs(2)));
    let _ = (&client).write_all((head + &body).as_bytes());
    linger(client);
}

/// Closes cleanly: a half-close first, then whatever the client still sends
/// is read and dropped for a moment. Closing with unread bytes would reset
/// the connection, and a reset can destroy the answer before the client
/// reads it.
fn linger(client: TcpStream) {
    let _ = client.shutdown(Shutdown::Write);
    let _ = client.set_read_timeout(Some(Duration::from_millis(200)));
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match (&client).read(&mut buf) {
            Ok(n) if n > 0 => {}
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;

    fn fence_for(ports: &[u16]) -> Fence {
        let urls: Vec<String> = ports.iter().map(|p| format!("http://127.0.0.1:{p}/")).collect();
        Fence::with_loopback(&urls.iter().map(String::as_str).collect::<Vec<_>>()).unwrap()
    }

    /// Sends `request` to the proxy and reads until it closes.
    fn exchange(proxy: &Proxy, request: &[u8]) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", proxy.port())).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(request).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// A loopback server that counts its connections and echoes each line
    /// back, upper-cased.
    fn echo_server() -> (u16, Arc<AtomicU64>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let count = Arc::new(AtomicU64::new(0));
        let seen = count.clone();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                seen.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let mut w = s.try_clone().unwrap();
                    for line in std::io::BufReader::new(s).lines() {
                        let Ok(line) = line else { return };
                        if w.write_all(format!("{}\n", line.to_uppercase()).as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (port, count)
    }

    #[test]
    fn a_connect_to_the_metadata_service_is_refused_before_any_connection() {
        let proxy = Proxy::start(&Fence::closed(), Limits::default()).unwrap();
        for target in ["169.254.169.254:80", "[::ffff:169.254.169.254]:80", "[64:ff9b::a9fe:a9fe]:443", "127.0.0.1:1"] {
            let answer = exchange(&proxy, format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes());
            assert!(answer.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{target}: {answer}");
            assert!(answer.ends_with("refused the request: the destination is an internal address\n"), "{answer}");
        }
        let answer = exchange(&proxy, b"GET http://169.254.169.254/latest/meta-data/ HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(answer, "", "a plain request refused is closed without an answer");
        assert_eq!(proxy.connects(), 0, "no connection was attempted");
        let (count, hosts) = proxy.refused();
        assert_eq!(count, 5);
        assert_eq!(hosts, ["169.254.169.254", "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "127.0.0.1"]);
    }

    #[test]
    fn an_allowed_connect_relays_bytes_both_ways() {
        let (port, count) = echo_server();
        let proxy = Proxy::start(&fence_for(&[port]), Limits::default()).unwrap();
        let mut s = TcpStream::connect(("127.0.0.1", proxy.port())).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\nfirst\n").as_bytes())
            .unwrap();
        let mut reader = std::io::BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line, "HTTP/1.1 200 Connection established\r\n");
        line.clear();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line, "\r\n");
        line.clear();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line, "FIRST\n", "bytes sent with the CONNECT are relayed");
        s.write_all(b"second\n").unwrap();
        line.clear();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line, "SECOND\n");
        assert_eq!(count.load(Ordering::SeqCst), 1);
        assert_eq!(proxy.refused().0, 0);
    }

    #[test]
    fn a_plain_request_goes_on_in_origin_form_without_hop_by_hop_headers() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while !got.ends_with(b"\r\n\r\nbody") {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0, "the request ended early: {}", String::from_utf8_lossy(&got));
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello").unwrap();
            String::from_utf8(got).unwrap()
        });
        let proxy = Proxy::start(&fence_for(&[port]), Limits::default()).unwrap();
        let answer = exchange(
            &proxy,
            format!(
                "POST http://127.0.0.1:{port}/a/b?c=d HTTP/1.1\r\nHost: elsewhere\r\nProxy-Connection: keep-alive\r\n\
                 Connection: keep-alive, X-Private\r\nX-Private: 1\r\nContent-Length: 4\r\nAccept: */*\r\n\r\nbody"
            )
            .as_bytes(),
        );
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with("hello"), "{answer}");
        assert_eq!(
            server.join().unwrap(),
            format!(
                "POST /a/b?c=d HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 4\r\nAccept: */*\r\n\
                 Connection: close\r\n\r\nbody"
            )
        );
    }

    #[test]
    fn an_oversize_or_malformed_head_is_refused() {
        let proxy = Proxy::start(&Fence::closed(), Limits { head_bytes: 1024, ..Limits::default() }).unwrap();
        let big = format!("CONNECT 203.0.113.7:443 HTTP/1.1\r\nX-Pad: {}\r\n\r\n", "a".repeat(2000));
        assert!(exchange(&proxy, big.as_bytes()).starts_with("HTTP/1.1 431 "));
        for bad in [
            "GET /relative HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET https://203.0.113.7/ HTTP/1.1\r\n\r\n",
            "CONNECT 203.0.113.7 HTTP/1.1\r\n\r\n",
            "CONNECT bad%host:443 HTTP/1.1\r\n\r\n",
            "CONNECT 203.0.113.7:0 HTTP/1.1\r\n\r\n",
            "POST http://203.0.113.7/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "\u{1}\u{2} nonsense\r\n\r\n",
        ] {
            assert!(exchange(&proxy, bad.as_bytes()).starts_with("HTTP/1.1 400 "), "{bad:?}");
        }
        assert_eq!(proxy.connects(), 0);
    }

    #[test]
    fn a_head_that_does_not_arrive_in_time_is_refused() {
        let limits = Limits { head_timeout: Duration::from_millis(300), ..Limits::default() };
        let proxy = Proxy::start(&Fence::closed(), limits).unwrap();
        assert!(exchange(&proxy, b"CONNECT 203.0.113.7:443 HTTP/1.1\r\n").starts_with("HTTP/1.1 408 "));
    }

    #[test]
    fn connections_past_the_limit_are_refused_and_a_drop_closes_the_rest() {
        let (port, _) = echo_server();
        let proxy = Proxy::start(&fence_for(&[port]), Limits { connections: 2, ..Limits::default() }).unwrap();
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut s = TcpStream::connect(("127.0.0.1", proxy.port())).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n").as_bytes()).unwrap();
            let mut ok = [0u8; 39];
            s.read_exact(&mut ok).unwrap();
            assert_eq!(&ok, b"HTTP/1.1 200 Connection established\r\n\r\n");
            held.push(s);
        }
        let answer = exchange(&proxy, format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n").as_bytes());
        assert!(answer.starts_with("HTTP/1.1 503 ") && answer.contains("too many connections"), "{answer}");
        assert_eq!(proxy.connects(), 2, "the third was refused before connecting");
        drop(held.pop());
        // The freed slot is taken again once its thread has ended.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut s = TcpStream::connect(("127.0.0.1", proxy.port())).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n").as_bytes()).unwrap();
            let mut first = [0u8; 12];
            s.read_exact(&mut first).unwrap();
            if &first == b"HTTP/1.1 200" {
                break;
            }
            assert!(Instant::now() < deadline, "the slot was never freed");
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(proxy);
        let mut rest = Vec::new();
        let read = held[0].read_to_end(&mut rest);
        assert!(read.is_ok(), "a dropped proxy closes its tunnels: {read:?}");
        assert!(rest.is_empty(), "{rest:?}");
    }

    #[test]
    fn a_tunnel_passes_a_half_close_on_and_closes_when_idle() {
        let (port, _) = echo_server();
        let limits = Limits { idle: Duration::from_millis(300), ..Limits::default() };
        let proxy = Proxy::start(&fence_for(&[port]), limits).unwrap();
        let mut s = TcpStream::connect(("127.0.0.1", proxy.port())).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\nlast words\n").as_bytes()).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let mut got = String::new();
        s.read_to_string(&mut got).unwrap();
        assert_eq!(got, "HTTP/1.1 200 Connection established\r\n\r\nLAST WORDS\n", "the echo's answer, then the end");

        // A tunnel nobody uses is closed: the read ends, it does not time out.
        let mut s = TcpStream::connect(("127.0.0.1", proxy.port())).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n").as_bytes()).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).expect("the proxy closes an idle tunnel");
        assert_eq!(got, b"HTTP/1.1 200 Connection established\r\n\r\n");
    }

    #[test]
    fn authorities_are_hosts_and_ports_or_nothing() {
        assert_eq!(authority("Example.GOV:443", None), Some(("example.gov".into(), 443)));
        assert_eq!(authority("[::1]:8080", None), Some(("::1".into(), 8080)));
        assert_eq!(authority("203.0.113.7", Some(80)), Some(("203.0.113.7".into(), 80)));
        for bad in ["", ":80", "x:", "x:65536", "x:0", "[::1", "[nope]:1", "a b:1", "x:1:2", "x@y:1"] {
            assert_eq!(authority(bad, Some(80)), None, "{bad:?}");
        }
    }
}
