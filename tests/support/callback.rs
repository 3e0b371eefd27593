//! A loopback stand-in for pages-core's `PUT /v0/tasks/:id/:token`
//! (CONTRACT A3): 404 for an unknown task, 403 for a wrong token or once the
//! task has a terminal status, 200 with an empty body otherwise. Every
//! request is recorded. A script of faults can replace the first answers.
//! It listens on the 127.0.0.1 of the network namespace it is started in
//! (a support::net::PublicNet's, for a deployed run), until dropped.

use std::io::{BufReader, Read, Write};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::http::RequestHead;

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub content_type: Option<String>,
    pub body: String,
    /// The status code answered; 0 when the server hung up or stayed silent.
    pub answered: u16,
}

/// What the server does with one request instead of the normal answer.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this status (with an optional Retry-After in seconds).
    Status(u16, Option<u64>),
    /// Read the request, then close without answering.
    Reset,
    /// Read the request, then say nothing for this long.
    Hang(Duration),
    /// Answer normally after this delay.
    Slow(Duration),
}

#[derive(Default)]
struct State {
    requests: Vec<Request>,
    terminal: bool,
    faults: Vec<Fault>,
    /// Replaces the default token.
    token: Option<String>,
}

pub struct CallbackServer {
    pub port: u16,
    pub task_id: u64,
    pub token: String,
    state: Arc<Mutex<State>>,
    scheme: &'static str,
    /// The accept loop's socket and its stop flag, for drop.
    listener: TcpListener,
    stop: Arc<AtomicBool>,
}

impl CallbackServer {
    pub fn start(task_id: u64) -> CallbackServer {
        Self::with_faults(task_id, Vec::new())
    }

    /// Faults are used in order, one per request, before normal answers.
    pub fn with_faults(task_id: u64, faults: Vec<Fault>) -> CallbackServer {
        Self::listen(task_id, faults, None)
    }

    /// A server whose task has the given token.
    pub fn with_token(task_id: u64, token: &str) -> CallbackServer {
        let mut server = Self::listen(task_id, Vec::new(), None);
        server.token = token.to_owned();
        *server.state.lock().unwrap() = State::default();
        server.state.lock().unwrap().token = Some(token.to_owned());
        server
    }

    /// The same server behind TLS with a certificate for 127.0.0.1 issued
    /// by `tls`'s test CA.
    pub fn start_tls(task_id: u64, tls: &super::tls::TestCa) -> CallbackServer {
        Self::listen(task_id, Vec::new(), Some(tls.server_config()))
    }

    fn listen(task_id: u64, faults: Vec<Fault>, tls: Option<Arc<rustls::ServerConfig>>) -> CallbackServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind callback server");
        let port = listener.local_addr().expect("addr").port();
        let token = "dG9rZW4tZm9yLXRlc3RzLW9ubHktMTIzNDU2Nzg5MA==".to_owned();
        let state = Arc::new(Mutex::new(State { faults, ..State::default() }));
        let (st, tok) = (state.clone(), token.clone());
        let scheme = if tls.is_some() { "https" } else { "http" };
        let kept = listener.try_clone().expect("callback server socket");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (st, tok, tls) = (st.clone(), tok.clone(), tls.clone());
                std::thread::spawn(move || match tls {
                    None => serve(stream, &st, task_id, &tok),
                    Some(config) => {
                        let Ok(conn) = rustls::ServerConnection::new(config) else { return };
                        serve(rustls::StreamOwned::new(conn, stream), &st, task_id, &tok)
                    }
                });
            }
        });
        CallbackServer { port, task_id, token, state, scheme, listener: kept, stop }
    }

    /// The STATUS_CALLBACK URL pages-core would send.
    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}/v0/tasks/{}/{}", self.scheme, self.port, self.task_id, self.token)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The bodies of the requests pages-core accepted or refused, in order.
    pub fn bodies(&self) -> Vec<String> {
        self.requests().into_iter().map(|r| r.body).collect()
    }

    /// The statuses pages-core accepted (answered 200), in order.
    pub fn accepted(&self) -> Vec<String> {
        self.requests()
            .iter()
            .filter(|r| r.answered == 200)
            .map(|r| field(&r.body, "status").unwrap_or_default())
            .collect()
    }

    /// The `status` of each body, in order.
    pub fn statuses(&self) -> Vec<String> {
        self.bodies().iter().map(|b| field(b, "status").unwrap_or_default()).collect()
    }

    /// Lets the task take statuses again, as a new task would.
    pub fn reopen(&self) {
        self.state.lock().unwrap().terminal = false;
    }

    /// Waits until `n` requests arrived or the time is up.
    pub fn wait_for(&self, n: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.requests().len() >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

impl Drop for CallbackServer {
    /// Stops accepting, so the listener and its thread go (and with them what
    /// they hold of a PublicNet's namespace).
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // On Linux, shutting a listening socket down ends a blocked accept.
        // SAFETY: shutdown on a socket this server owns; no memory is touched.
        unsafe { libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR) };
    }
}

/// A string field of a JSON body, without a JSON library.
pub fn field(body: &str, name: &str) -> Option<String> {
    let v: miniserde::json::Value = miniserde::json::from_str(body).ok()?;
    match v {
        miniserde::json::Value::Object(o) => match o.get(name)? {
            miniserde::json::Value::String(s) => Some(s.clone()),
            miniserde::json::Value::Number(n) => Some(n.to_string()),
            miniserde::json::Value::Null => Some("null".into()),
            _ => None,
        },
        _ => None,
    }
}

fn serve<S: Read + Write>(stream: S, state: &Mutex<State>, task_id: u64, token: &str) {
    let mut reader = BufReader::new(stream);
    while let Some(head) = RequestHead::read(&mut reader) {
        let content_type = head.header("content-type").map(str::to_owned);
        let mut body = vec![0; usize::try_from(head.content_length()).expect("a status body fits in memory")];
        let RequestHead { method, target: path, .. } = head;
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        let index = {
            let mut st = state.lock().unwrap();
            st.requests.push(Request {
                method: method.clone(),
                path: path.clone(),
                content_type,
                body: body.clone(),
                answered: 0,
            });
            st.requests.len() - 1
        };
        let fault = {
            let mut st = state.lock().unwrap();
            if st.faults.is_empty() { None } else { Some(st.faults.remove(0)) }
        };
        let (code, retry_after) = match fault {
            Some(Fault::Reset) => return,
            Some(Fault::Hang(d)) => {
                std::thread::sleep(d);
                return;
            }
            Some(Fault::Status(code, ra)) => (code, ra),
            Some(Fault::Slow(d)) => {
                std::thread::sleep(d);
                (answer(state, &method, &path, &body, task_id, token), None)
            }
            None => (answer(state, &method, &path, &body, task_id, token), None),
        };
        state.lock().unwrap().requests[index].answered = code;
        let reply = match code {
            200 => "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_owned(),
            403 => json_reply(
                403,
                "Forbidden",
                r#"{"message":"You are not authorized to perform that action","status":403}"#,
            ),
            404 => json_reply(404, "Not Found", r#"{"message":"Not found","status":404}"#),
            code => {
                let ra = retry_after.map(|s| format!("Retry-After: {s}\r\n")).unwrap_or_default();
                format!("HTTP/1.1 {code} Fault\r\n{ra}Content-Length: 0\r\n\r\n")
            }
        };
        if reader.get_mut().write_all(reply.as_bytes()).and_then(|()| reader.get_mut().flush()).is_err() {
            return;
        }
    }
}

fn json_reply(code: u16, reason: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// pages-core's BuildTaskController.update.
fn answer(state: &Mutex<State>, method: &str, path: &str, body: &str, task_id: u64, token: &str) -> u16 {
    let expected = format!("/v0/tasks/{task_id}/");
    if method != "PUT" {
        return 404;
    }
    let Some(given) = path.strip_prefix(&expected) else { return 404 };
    let mut st = state.lock().unwrap();
    let token = st.token.clone().unwrap_or_else(|| token.to_owned());
    if given != token || st.terminal {
        return 403;
    }
    if matches!(field(body, "status").as_deref(), Some("success" | "error")) {
        st.terminal = true;
    }
    200
}
