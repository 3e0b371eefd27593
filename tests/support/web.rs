//! A small web server for generated sites and static directories, on
//! loopback or on a support::net::PublicNet's public-looking address.
//!
//! HTTP/1.1 with keep-alive, one thread per connection, GET and HEAD only.
//! Every request's path is logged, so a test can prove what was never asked
//! for. The a11y bench uses it too (`#[path]`-included), so it stays free of
//! test-only helpers.

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::http::RequestHead;

/// One response.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn html(body: impl Into<String>) -> Reply {
        Reply::typed("text/html; charset=utf-8", body.into().into_bytes())
    }

    pub fn typed(content_type: &str, body: Vec<u8>) -> Reply {
        Reply { status: 200, headers: vec![("Content-Type".into(), content_type.into())], body }
    }

    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "text/html".into())],
            body: format!("<h1>{status}</h1>").into_bytes(),
        }
    }

    pub fn redirect(status: u16, location: &str) -> Reply {
        Reply { status, headers: vec![("Location".into(), location.into())], body: Vec::new() }
    }
}

type Handler = dyn Fn(&str) -> Reply + Send + Sync;

/// A running server; it stops accepting when dropped.
pub struct WebServer {
    pub port: u16,
    pub host: String,
    log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    /// The accept loop's socket, to shut it down on stop.
    listener: TcpListener,
}

impl WebServer {
    /// Serves `handler` on 127.0.0.1 at `port` (0 for any free port).
    pub fn start(port: u16, handler: impl Fn(&str) -> Reply + Send + Sync + 'static) -> std::io::Result<WebServer> {
        WebServer::start_on("127.0.0.1", port, handler)
    }

    /// Serves `handler` on `host` (an address of this thread's network
    /// namespace) at `port` (0 for any free port).
    pub fn start_on(
        host: &str,
        port: u16,
        handler: impl Fn(&str) -> Reply + Send + Sync + 'static,
    ) -> std::io::Result<WebServer> {
        let listener = TcpListener::bind((host, port))?;
        let port = listener.local_addr()?.port();
        let kept = listener.try_clone()?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let (log2, stop2) = (log.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (handler, log, stop) = (handler.clone(), log2.clone(), stop2.clone());
                std::thread::spawn(move || serve(stream, &*handler, &log, &stop));
            }
        });
        Ok(WebServer { port, host: host.to_owned(), log, stop, listener: kept })
    }

    /// Serves the files under `dir` (`index.html` for a directory), 404 for
    /// anything else.
    pub fn directory(port: u16, dir: &Path) -> std::io::Result<WebServer> {
        WebServer::directory_on("127.0.0.1", port, dir)
    }

    /// [`WebServer::directory`] on `host`.
    pub fn directory_on(host: &str, port: u16, dir: &Path) -> std::io::Result<WebServer> {
        let dir = dir.to_path_buf();
        WebServer::start_on(host, port, move |path| static_file(&dir, path))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}:{}{path}", self.host, self.port)
    }

    /// Every request path so far, in arrival order.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// How many times `path` was asked for.
    pub fn hits(&self, path: &str) -> usize {
        self.requests().iter().filter(|p| *p == path).count()
    }

    /// Stops answering: new connections are refused, open ones closed after
    /// their current request.
    pub fn stop(&self) {
        if !self.stop.swap(true, Ordering::SeqCst) {
            // Wake the accept loop so it sees the flag and drops the listener:
            // on Linux, shutting a listening socket down ends a blocked
            // accept. A connection to wake it would go wrong from another
            // network namespace than the server's (to the public-looking
            // address, out along the host's default route).
            #[allow(unsafe_code)]
            // SAFETY: shutdown on a socket this server owns; no memory is touched.
            unsafe {
                libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR)
            };
        }
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(stream: TcpStream, handler: &Handler, log: &Mutex<Vec<String>>, stop: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(read_half) = stream.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let mut stream = stream;
    while let Some(head) = RequestHead::read(&mut reader) {
        let _ = std::io::copy(&mut (&mut reader).take(head.content_length()), &mut std::io::sink());
        if let Ok(mut l) = log.lock() {
            l.push(head.target.clone());
        }
        let close =
            stop.load(Ordering::SeqCst) || head.header("connection").is_some_and(|c| c.eq_ignore_ascii_case("close"));
        let RequestHead { method, target, .. } = head;
        let reply = handler(&target);
        let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
        for (k, v) in &reply.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n", reply.body.len()));
        if close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        if method != "HEAD" {
            out.extend_from_slice(&reply.body);
        }
        if stream.write_all(&out).is_err() || close {
            return;
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

/// A file under `dir` for a request target, as a static host serves it.
pub fn static_file(dir: &Path, target: &str) -> Reply {
    let path = target.split(['?', '#']).next().unwrap_or("/");
    if path.split('/').any(|seg| seg == "..") {
        return Reply::status(404);
    }
    let mut file: PathBuf = dir.join(path.trim_start_matches('/'));
    if file.is_dir() {
        file = file.join("index.html");
    }
    match std::fs::read(&file) {
        Ok(body) => Reply::typed(content_type(&file), body),
        Err(_) => Reply::status(404),
    }
}

fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html",
        "txt" => "text/plain",
        "css" => "text/css",
        "js" => "text/javascript",
        "json" => "application/json",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// A generated site of `n` pages under `/p/<i>.html`: each links to the home
/// page and to the next three pages (wrapping), so every page is reachable
/// and the links form cycles. The home page links to page 0.
pub fn generated_site(n: usize) -> impl Fn(&str) -> Reply + Send + Sync + 'static {
    move |target: &str| {
        let path = target.split(['?', '#']).next().unwrap_or("/");
        if path == "/" {
            return Reply::html(
                "<!doctype html><html lang=en><title>Home</title><a href=\"/p/0.html\">start</a></html>",
            );
        }
        let Some(i) =
            path.strip_prefix("/p/").and_then(|p| p.strip_suffix(".html")).and_then(|i| i.parse::<usize>().ok())
        else {
            return Reply::status(404);
        };
        if i >= n {
            return Reply::status(404);
        }
        let mut body = format!(
            "<!doctype html><html lang=en><head><title>Page {i}</title></head><body><h1>Page {i}</h1><nav><a href=\"/\">home</a>"
        );
        for k in 1..=3 {
            body.push_str(&format!(" <a href=\"/p/{}.html\">next {k}</a>", (i + k) % n));
        }
        body.push_str("</nav><p>Some text so the page has a body of a usual size. ");
        body.push_str(&"Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(20));
        body.push_str("</p></body></html>");
        Reply::html(body)
    }
}
