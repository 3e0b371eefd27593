//! The Chrome DevTools Protocol over `--remote-debugging-pipe`.
//!
//! With that flag Chromium reads commands from its fd 3 and writes answers
//! and events to its fd 4, each message one JSON text ended by a NUL byte:
//! no port, no WebSocket, nothing another local process could reach.
//! [`Pipes`] hands the browser those two descriptors; [`Cdp`] sends each
//! command with an id and waits for the answer with that id, keeping the
//! events that arrive meanwhile. A reader thread owns the browser's output,
//! so every wait can end at its deadline or on a cancel.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use miniserde::json::{Number, Value};

use crate::task::{Cancel, quote};

/// The largest message read (a results text is a few MB at most).
const CDP_MESSAGE_LIMIT: u64 = 256 * 1024 * 1024;

/// The most events kept while waiting for an answer (a page can make
/// many: navigation loops, frames); the oldest go first.
const EVENT_LIMIT: usize = 10_000;

/// How often a wait looks at the cancel.
const TICK: Duration = Duration::from_millis(100);

/// Why a command got no result.
#[derive(Debug)]
pub enum Error {
    /// The browser closed the pipe (it exited or was killed), or wrote
    /// something that is not a message; nothing more will come.
    Gone(String),
    /// The target the command was for crashed (`Inspector.targetCrashed`).
    Crashed,
    /// No answer in the time given.
    Timeout,
    /// The browser answered with an error.
    Protocol(String),
    /// A cancel arrived while waiting.
    Cancelled,
}

impl Error {
    /// The error as a sentence's end, for a message.
    pub fn text(&self) -> String {
        match self {
            Error::Gone(why) => format!("the browser is gone: {why}"),
            Error::Crashed => "the page crashed".to_owned(),
            Error::Timeout => "no answer in time".to_owned(),
            Error::Protocol(message) => message.clone(),
            Error::Cancelled => "cancelled".to_owned(),
        }
    }
}

/// An event: a message with a method and no id.
pub struct Event {
    pub method: String,
    /// The session it came from; None for the browser's own.
    pub session: Option<String>,
    pub params: Value,
}

/// The two pipes, before the browser starts.
pub struct Pipes {
    /// The browser's ends: its fd 3 (commands in) and fd 4 (messages out).
    commands: OwnedFd,
    messages: OwnedFd,
    /// Ours.
    to: io::PipeWriter,
    from: io::PipeReader,
}

impl Pipes {
    pub fn new() -> io::Result<Pipes> {
        let (commands, to) = io::pipe()?;
        let (from, messages) = io::pipe()?;
        Ok(Pipes { commands: commands.into(), messages: messages.into(), to, from })
    }

    /// Makes `cmd`'s child read commands on fd 3 and write messages to fd 4.
    /// `self` must live until the child is spawned.
    pub fn give_to(&self, cmd: &mut Command) {
        let (commands, messages) = (self.commands.as_raw_fd(), self.messages.as_raw_fd());
        #[allow(unsafe_code)]
        // SAFETY: the closure runs in the child between fork and exec and
        // calls only fcntl and dup2, which are async-signal-safe, on fds that
        // are open (`self` outlives the spawn). Copies above 4 come first, so
        // that the dup2 onto 3 cannot close the end meant for 4. All but 3
        // and 4 close on exec.
        unsafe {
            cmd.pre_exec(move || {
                let commands = libc::fcntl(commands, libc::F_DUPFD_CLOEXEC, 5);
                let messages = libc::fcntl(messages, libc::F_DUPFD_CLOEXEC, 5);
                if commands < 0 || messages < 0 || libc::dup2(commands, 3) < 0 || libc::dup2(messages, 4) < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }

    /// After the spawn: closes the browser's ends here (so that its exit
    /// ends the pipe) and starts reading.
    pub fn connect(self, cancel: &Cancel) -> io::Result<Cdp> {
        let Pipes { commands, messages, to, from } = self;
        drop((commands, messages));
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new().name("cdp-reader".to_owned()).spawn(move || {
            let mut reader = BufReader::with_capacity(64 * 1024, from);
            loop {
                let message = read_message(&mut reader);
                let end = message.is_err();
                if tx.send(message).is_err() || end {
                    break;
                }
            }
        })?;
        Ok(Cdp { to, from: rx, next_id: 0, events: VecDeque::new(), cancel: cancel.clone(), gone: None })
    }
}

/// One NUL-terminated message, parsed; Err (why the stream ends) otherwise.
fn read_message(reader: &mut impl BufRead) -> Result<Value, String> {
    let mut bytes = Vec::new();
    match reader.take(CDP_MESSAGE_LIMIT).read_until(0, &mut bytes) {
        Ok(0) => return Err("it closed the pipe".to_owned()),
        Ok(_) if bytes.last() == Some(&0) => {
            bytes.pop();
        }
        Ok(_) if bytes.len() as u64 == CDP_MESSAGE_LIMIT => return Err("it sent a message over 256 MiB".to_owned()),
        Ok(_) => return Err("it closed the pipe in the middle of a message".to_owned()),
        Err(e) => return Err(format!("cannot read from it: {e}")),
    }
    let text = String::from_utf8_lossy(&bytes);
    match miniserde::json::from_str::<Value>(&text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => {
            let start: String = text.chars().take(100).collect();
            Err(format!("it sent a message that is not a JSON object: {}", quote(&start)))
        }
    }
}

/// A connection to one browser.
pub struct Cdp {
    to: io::PipeWriter,
    from: Receiver<Result<Value, String>>,
    next_id: u64,
    /// Events that arrived while waiting for an answer, oldest first.
    events: VecDeque<Event>,
    cancel: Cancel,
    /// Why the stream ended, once it did.
    gone: Option<String>,
}

impl Cdp {
    /// Sends `method` with `params` (a JSON object's text) to `session` (the
    /// browser itself when None) and returns the answer's `result`.
    pub fn call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: &str,
        timeout: Duration,
    ) -> Result<Value, Error> {
        self.next_id += 1;
        let id = self.next_id;
        let session_field = session.map(|s| format!(",\"sessionId\":{}", quote(s))).unwrap_or_default();
        let message = format!("{{\"id\":{id},\"method\":{}{session_field},\"params\":{params}}}\0", quote(method));
        if let Err(e) = self.to.write_all(message.as_bytes()) {
            return Err(Error::Gone(self.gone.clone().unwrap_or_else(|| format!("cannot send it {method}: {e}"))));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let mut message = self.receive(deadline)?;
            match take(&mut message, "id") {
                Some(Value::Number(Number::U64(n))) if n == id => return answer(message),
                // A late answer to a command given up on.
                Some(_) => continue,
                None => {
                    let event = self.note(event(message));
                    if event.method == "Inspector.targetCrashed" && event.session.as_deref() == session {
                        return Err(Error::Crashed);
                    }
                    if self.events.len() == EVENT_LIMIT {
                        self.events.pop_front();
                    }
                    self.events.push_back(event);
                }
            }
        }
    }

    /// The next event, waiting for it until `deadline`.
    pub fn event(&mut self, deadline: Instant) -> Result<Event, Error> {
        if let Some(event) = self.events.pop_front() {
            return Ok(event);
        }
        loop {
            let mut message = self.receive(deadline)?;
            if take(&mut message, "id").is_none() {
                return Ok(self.note(event(message)));
            }
        }
    }

    /// Forgets the events that arrived so far.
    pub fn clear_events(&mut self) {
        self.events.clear();
    }

    /// Dismisses a JavaScript dialog the moment it opens, whatever command
    /// is in flight: an open dialog blocks its page's scripts, axe's
    /// included. A `beforeunload` dialog is accepted, so that the page can
    /// be left. The answer is not waited for (a late answer is skipped like
    /// any other).
    fn note(&mut self, event: Event) -> Event {
        if let ("Page.javascriptDialogOpening", Some(session)) = (event.method.as_str(), &event.session) {
            let accept = matches!(&event.params, Value::Object(o)
                if matches!(o.get("type"), Some(Value::String(t)) if t == "beforeunload"));
            self.next_id += 1;
            let params = miniserde::json::to_string(&params::HandleJavaScriptDialog { accept });
            let message = format!(
                "{{\"id\":{},\"method\":\"Page.handleJavaScriptDialog\",\"sessionId\":{},\"params\":{params}}}\0",
                self.next_id,
                quote(session)
            );
            if let Err(e) = self.to.write_all(message.as_bytes()) {
                self.gone.get_or_insert_with(|| format!("cannot send it a dialog's dismissal: {e}"));
            }
        }
        event
    }

    fn receive(&mut self, deadline: Instant) -> Result<Value, Error> {
        loop {
            if let Some(why) = &self.gone {
                return Err(Error::Gone(why.clone()));
            }
            if self.cancel.signal().is_some() {
                return Err(Error::Cancelled);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout);
            }
            match self.from.recv_timeout((deadline - now).min(TICK)) {
                Ok(Ok(message)) => return Ok(message),
                Ok(Err(why)) => self.gone = Some(why),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => self.gone = Some("its output ended".to_owned()),
            }
        }
    }
}

/// Removes and returns `key` of an object.
fn take(v: &mut Value, key: &str) -> Option<Value> {
    match v {
        Value::Object(o) => o.remove(key),
        _ => None,
    }
}

/// An answer's `result`, or its `error` as an error.
fn answer(mut message: Value) -> Result<Value, Error> {
    if let Some(mut error) = take(&mut message, "error") {
        let message = match take(&mut error, "message") {
            Some(Value::String(m)) => m,
            _ => "an error without a message".to_owned(),
        };
        return Err(Error::Protocol(match take(&mut error, "data") {
            Some(Value::String(data)) if !data.is_empty() => format!("{message}: {data}"),
            _ => message,
        }));
    }
    Ok(take(&mut message, "result").unwrap_or(Value::Null))
}

fn event(mut message: Value) -> Event {
    let method = match take(&mut message, "method") {
        Some(Value::String(m)) => m,
        _ => String::new(),
    };
    let session = match take(&mut message, "sessionId") {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    Event { method, session, params: take(&mut message, "params").unwrap_or(Value::Null) }
}

/// The params of the commands build-task sends with values in them, one type
/// per command, named after its method (the protocol's JSON names in
/// `rename`). Params that never change are written as their JSON text where
/// the command is sent (`{}`, `{"enabled":true}`): a type each would cost
/// the a11y binary about 380 bytes for nothing checked. Runtime.evaluate is
/// left out too: its expression, axe-core, is quoted once for every page.
pub mod params {
    use miniserde::Serialize;

    /// `Target.disposeBrowserContext`
    #[derive(Serialize)]
    pub struct DisposeBrowserContext<'a> {
        #[serde(rename = "browserContextId")]
        pub browser_context_id: &'a str,
    }

    /// `Browser.setDownloadBehavior`
    #[derive(Serialize)]
    pub struct SetDownloadBehavior<'a> {
        #[serde(rename = "browserContextId")]
        pub browser_context_id: &'a str,
        /// `deny`, `allow`, `allowAndName` or `default`.
        pub behavior: &'a str,
    }

    /// `Target.createTarget`
    #[derive(Serialize)]
    pub struct CreateTarget<'a> {
        #[serde(rename = "browserContextId")]
        pub browser_context_id: &'a str,
        pub url: &'a str,
    }

    /// `Target.attachToTarget`
    #[derive(Serialize)]
    pub struct AttachToTarget<'a> {
        #[serde(rename = "targetId")]
        pub target_id: &'a str,
        /// One connection for the browser and its sessions (`sessionId` on each message).
        pub flatten: bool,
    }

    /// `Page.navigate`
    #[derive(Serialize)]
    pub struct Navigate<'a> {
        pub url: &'a str,
    }

    /// `Page.createIsolatedWorld`
    #[derive(Serialize)]
    pub struct CreateIsolatedWorld<'a> {
        #[serde(rename = "frameId")]
        pub frame_id: &'a str,
        #[serde(rename = "worldName")]
        pub world_name: &'a str,
    }

    /// `Page.handleJavaScriptDialog`
    #[derive(Serialize)]
    pub struct HandleJavaScriptDialog {
        pub accept: bool,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_params_are_written_with_the_protocols_names() {
        use miniserde::json::to_string;
        assert_eq!(
            to_string(&params::SetDownloadBehavior { browser_context_id: "C\"1", behavior: "deny" }),
            r#"{"browserContextId":"C\"1","behavior":"deny"}"#
        );
        assert_eq!(
            to_string(&params::AttachToTarget { target_id: "T", flatten: true }),
            r#"{"targetId":"T","flatten":true}"#
        );
        assert_eq!(
            to_string(&params::CreateIsolatedWorld { frame_id: "F", world_name: "w" }),
            r#"{"frameId":"F","worldName":"w"}"#
        );
        assert_eq!(to_string(&params::HandleJavaScriptDialog { accept: false }), r#"{"accept":false}"#);
    }

    fn read_all(bytes: &[u8]) -> Vec<Result<Value, String>> {
        let mut reader = BufReader::new(bytes);
        let mut out = Vec::new();
        loop {
            let m = read_message(&mut reader);
            let end = m.is_err();
            out.push(m);
            if end {
                return out;
            }
        }
    }

    #[test]
    fn messages_are_json_objects_each_ended_by_a_nul() {
        let got = read_all(b"{\"id\":1,\"result\":{}}\0{\"method\":\"Page.loadEventFired\",\"params\":{}}\0");
        assert_eq!(got.len(), 3);
        assert!(got[0].is_ok() && got[1].is_ok());
        assert_eq!(got[2].as_ref().unwrap_err(), "it closed the pipe");
        let got = read_all(b"{\"id\":1}\0{\"id\":");
        assert_eq!(got[1].as_ref().unwrap_err(), "it closed the pipe in the middle of a message");
        let got = read_all(b"not json\0");
        assert_eq!(got[0].as_ref().unwrap_err(), "it sent a message that is not a JSON object: \"not json\"");
    }

    #[test]
    fn an_answer_is_its_result_or_its_error() {
        let parse = |t: &str| miniserde::json::from_str::<Value>(t).unwrap();
        let ok = answer(parse(r#"{"id":1,"result":{"frameId":"F"}}"#)).unwrap();
        assert!(matches!(take(&mut ok.clone(), "frameId"), Some(Value::String(f)) if f == "F"));
        let e = answer(parse(r#"{"id":2,"error":{"code":-32000,"message":"Cannot find context","data":"x"}}"#));
        assert!(matches!(e, Err(Error::Protocol(m)) if m == "Cannot find context: x"));
        let ev = event(parse(r#"{"method":"Page.lifecycleEvent","sessionId":"S","params":{"name":"load"}}"#));
        assert_eq!((ev.method.as_str(), ev.session.as_deref()), ("Page.lifecycleEvent", Some("S")));
    }
}
