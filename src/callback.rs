//! Telling pages-core how the task is going.
//!
//! `PUT /v0/tasks/<id>/<token>` (pages-core `api/routers/build-task.js`),
//! JSON body, 200 with an empty body when accepted; 403 once the task has a
//! terminal status or for a wrong token; 404 for an unknown task.
//!
//! [`Status`] builds each body without I/O. [`Reporter`] sends them and makes
//! sure at most one terminal status (success or error) leaves the process,
//! whichever thread (main, signal watcher, panic hook) gets there first.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use ureq::Agent;

use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::http::{self, Attempt, Retry};
use crate::log::redact_url;
use crate::{info, warn};
use miniserde::{Serialize, json};

/// pages-core stores `message` in a string column; we keep it short.
pub const STATUS_MESSAGE_LIMIT: usize = 4096;

/// A successful run's result: the success status without its `status`, and
/// what a local run prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Success {
    pub artifact: String,
    pub message: Option<String>,
    pub count: u64,
}

/// One status update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Processing,
    Success(Success),
    Error { message: String },
}

/// The bodies pages-core's `BuildTaskController.update` takes, field for field.
#[derive(Serialize)]
struct ProcessingBody {
    status: &'static str,
}

#[derive(Serialize)]
struct SuccessBody {
    artifact: String,
    message: Option<String>,
    count: u64,
    status: &'static str,
}

#[derive(Serialize)]
struct ErrorBody {
    status: &'static str,
    message: String,
}

impl Status {
    /// The JSON body pages-core's `BuildTaskController.update` takes.
    pub fn body(&self) -> String {
        match self {
            Status::Processing => json::to_string(&ProcessingBody { status: "processing" }),
            Status::Success(Success { artifact, message, count }) => json::to_string(&SuccessBody {
                artifact: artifact.clone(),
                message: message.as_deref().map(|m| crate::log::bounded(m, STATUS_MESSAGE_LIMIT)),
                count: *count,
                status: "success",
            }),
            Status::Error { message } => json::to_string(&ErrorBody {
                status: "error",
                message: crate::log::bounded(message, STATUS_MESSAGE_LIMIT),
            }),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Status::Processing => "processing",
            Status::Success { .. } => "success",
            Status::Error { .. } => "error",
        }
    }
}

/// pages-core's status callback, `https://<pages>/v0/tasks/<id>/<token>`,
/// checked once when the params are read ([`http::check_url`]). The token
/// makes it a secret: it shows (`Display`, `Debug`) with its last path
/// segment `[redacted]`, and the whole URL only through [`expose`](Self::expose).
#[derive(Clone, PartialEq, Eq)]
pub struct CallbackUrl(url::Url);

impl CallbackUrl {
    /// Parses and checks `STATUS_CALLBACK`'s value.
    pub fn parse(text: &str) -> Result<CallbackUrl> {
        http::check_url(text, "the status callback").map(CallbackUrl)
    }

    pub fn expose(&self) -> &str {
        self.0.as_str()
    }
}

impl std::fmt::Display for CallbackUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_url(self.0.as_str()))
    }
}

impl std::fmt::Debug for CallbackUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Where statuses go.
enum Target {
    /// pages-core's callback URL.
    Remote { url: CallbackUrl, agent: Agent },
    /// A local run: statuses are logged.
    Local,
}

/// Sends statuses; at most one terminal status per process.
pub struct Reporter {
    target: Target,
    /// Set once a terminal status was delivered or given up on. Held while a
    /// terminal status is being sent, so a racing one waits and then yields.
    terminal: Mutex<Option<std::result::Result<(), Error>>>,
    /// Set on a signal ([`hurry`](Self::hurry)): every try of a terminal
    /// status ends by then, and its retries stop (`out_of_time` fires).
    deadline: Mutex<Option<Instant>>,
    out_of_time: Cancel,
    /// The success being sent, while it is: after a signal the watcher may
    /// send it again on a new connection ([`resend_success`](Self::resend_success)).
    success_in_flight: Mutex<Option<Status>>,
}

/// How hard to try to deliver a status.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub retry: Retry,
    /// Each try's time limit: pages-core answers at once, so a quiet server
    /// is a failed try.
    pub per_try: Duration,
}

/// The usual policy: pages-core allows 50 requests a minute per IP.
pub const RETRY: Policy = Policy {
    retry: Retry {
        attempts: 6,
        base: Duration::from_millis(500),
        cap: Duration::from_secs(8),
        budget: Duration::from_secs(60),
    },
    per_try: Duration::from_secs(15),
};

/// The policy for the terminal status (success or error) of a run that was
/// not cancelled: pages-core waits 60 minutes for a task, and its API allows
/// 50 requests a minute per address, then slows or refuses (429 with
/// Retry-After): a burst of scans from one address must not lose the one
/// status that ends a run. So: tries over two and a half minutes, more than
/// two of the rate limit's windows, Retry-After honoured. A 403 still ends
/// at once, and a signal cuts it to the cancel's deadline.
pub const TERMINAL_RETRY: Policy = Policy {
    retry: Retry {
        attempts: 20,
        base: Duration::from_secs(1),
        cap: Duration::from_secs(30),
        budget: Duration::from_secs(150),
    },
    per_try: Duration::from_secs(15),
};

/// The policy for the status sent on cancel: CF kills us 10 s after SIGTERM.
pub const CANCEL_RETRY: Policy = Policy {
    retry: Retry {
        attempts: 3,
        base: Duration::from_millis(200),
        cap: Duration::from_millis(800),
        budget: Duration::from_secs(4),
    },
    per_try: Duration::from_secs(2),
};

impl Reporter {
    pub fn remote(url: CallbackUrl, agent: Agent) -> Reporter {
        Reporter::new(Target::Remote { url, agent })
    }

    pub fn local() -> Reporter {
        Reporter::new(Target::Local)
    }

    fn new(target: Target) -> Reporter {
        Reporter {
            target,
            terminal: Mutex::new(None),
            deadline: Mutex::new(None),
            out_of_time: Cancel::new(),
            success_in_flight: Mutex::new(None),
        }
    }

    /// From a signal on, a terminal status, the one in flight included, is
    /// tried only until `deadline` (before Cloud Foundry's SIGKILL): its
    /// tries are cut to the time left and its retries stop there.
    pub fn hurry(&self, deadline: Instant) {
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner()) = Some(deadline);
        let out_of_time = self.out_of_time.clone();
        std::thread::spawn(move || {
            std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
            out_of_time.trigger(libc::SIGTERM);
        });
    }

    /// The time left before the deadline, when there is one.
    fn time_left(&self) -> Option<Duration> {
        self.deadline.lock().unwrap_or_else(|p| p.into_inner()).map(|d| d.saturating_duration_since(Instant::now()))
    }

    pub fn is_local(&self) -> bool {
        matches!(self.target, Target::Local)
    }

    /// Sends `processing`.
    pub fn processing(&self, cancel: &Cancel) -> Result<()> {
        self.send(&Status::Processing, RETRY, cancel)
    }

    /// Sends a terminal status unless one was already sent. Returns the
    /// outcome of the terminal status that did go (ours or the earlier one).
    pub fn finish(&self, status: &Status, policy: Policy) -> Result<()> {
        self.finish_within(status, policy, None).map(|_| ())
    }

    /// Like [`finish`](Self::finish), but gives up waiting for a racing
    /// sender after `wait` (for the signal watcher and the panic hook).
    /// `Ok(true)` when this call delivered `status`, `Ok(false)` when an
    /// earlier terminal status had been delivered.
    pub fn finish_within(&self, status: &Status, policy: Policy, wait: Option<Duration>) -> Result<bool> {
        let mut slot = match wait {
            None => self.terminal.lock().unwrap_or_else(|p| p.into_inner()),
            Some(wait) => {
                let deadline = Instant::now() + wait;
                loop {
                    match self.terminal.try_lock() {
                        Ok(guard) => break guard,
                        Err(std::sync::TryLockError::Poisoned(p)) => break p.into_inner(),
                        Err(std::sync::TryLockError::WouldBlock) if Instant::now() < deadline => {
                            std::thread::sleep(Duration::from_millis(10));
                        }
                        Err(std::sync::TryLockError::WouldBlock) => {
                            return Err(Error::callback("another status is still being sent"));
                        }
                    }
                }
            }
        };
        if let Some(done) = slot.as_ref() {
            return done.clone().map(|()| false);
        }
        // The terminal status must not be cut short by the cancel that
        // caused it, only by the deadline that cancel set.
        if matches!(status, Status::Success(_)) {
            *self.success_in_flight.lock().unwrap_or_else(|p| p.into_inner()) = Some(status.clone());
        }
        let outcome = self.send(status, policy, &self.out_of_time);
        *self.success_in_flight.lock().unwrap_or_else(|p| p.into_inner()) = None;
        *slot = Some(outcome.clone());
        outcome.map(|()| true)
    }

    /// After a signal, when a success is in flight and its request may hang
    /// on its connection: sends it again on a new one, with `policy`. None
    /// when no success is in flight; `Some(true)` when pages-core has a
    /// terminal status now (this one, or, answered 403, the one in flight);
    /// `Some(false)` when it could not be reached. pages-core takes one
    /// terminal status and refuses any other with 403, so both sends
    /// together still end in exactly one.
    pub fn resend_success(&self, policy: Policy) -> Option<bool> {
        let status = self.success_in_flight.lock().unwrap_or_else(|p| p.into_inner()).clone()?;
        Some(match self.send(&status, policy, &self.out_of_time) {
            Ok(()) => true,
            Err(e) => e.message().contains(REFUSED),
        })
    }

    /// Whether a success is being sent.
    pub fn success_in_flight(&self) -> bool {
        self.success_in_flight.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    /// Sends `status` at once, on its own connection, whatever is in flight
    /// (the watcher's cancel after [`resend_success`](Self::resend_success)
    /// reached no one): pages-core keeps whichever terminal status comes first.
    pub fn send_now(&self, status: &Status, policy: Policy) -> Result<()> {
        self.send(status, policy, &self.out_of_time)
    }

    fn send(&self, status: &Status, policy: Policy, cancel: &Cancel) -> Result<()> {
        let (url, agent) = match &self.target {
            Target::Local => {
                match status {
                    Status::Error { message } => info!("status: error: {message}"),
                    other => info!("status: {}", other.name()),
                }
                return Ok(());
            }
            Target::Remote { url, agent } => (url, agent),
        };
        let body = status.body();
        let shown = redact_url(url.expose());
        let result = policy.retry.run(cancel, |_| {
            let per_try = match self.time_left() {
                Some(left) if left < Duration::from_millis(100) => {
                    return Err(Attempt::Fatal(Error::callback("no time left before Cloud Foundry's SIGKILL")));
                }
                Some(left) => policy.per_try.min(left),
                None => policy.per_try,
            };
            put(agent, url.expose(), &body, per_try)
        });
        match &result {
            Ok(()) => info!("status {} delivered to {shown}", status.name()),
            Err(e) => warn!("status {} not delivered to {shown}: {e}", status.name()),
        }
        result.map_err(|e| {
            Error::callback(format!("cannot deliver the {} status to pages-core: {}", status.name(), e.message()))
        })
    }
}

/// pages-core's 403: the task has a terminal status already (or the token
/// is wrong, which `processing` would have shown).
const REFUSED: &str = "403: pages-core refused it (the task already has a final status, or the token is wrong)";

/// One PUT of a status body.
fn put(agent: &Agent, url: &str, body: &str, per_try: Duration) -> Result<(), Attempt> {
    let response = agent
        .put(url)
        .header("Content-Type", "application/json")
        .config()
        .timeout_global(Some(per_try))
        .build()
        .send(body)
        .map_err(|e| {
            let error = Error::callback(e.to_string());
            if http::retryable_error(&e) { Attempt::Transient(error, None) } else { Attempt::Fatal(error) }
        })?;
    let code = response.status().as_u16();
    let why = match code {
        200..=299 => return Ok(()),
        403 => REFUSED.to_owned(),
        404 => "404: pages-core does not know this task".to_owned(),
        _ => format!("pages-core answered {code}"),
    };
    if http::retryable_status(code) {
        Err(Attempt::Transient(Error::callback(why), http::retry_after_of(&response)))
    } else {
        Err(Attempt::Fatal(Error::callback(why)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_match_what_pages_core_takes() {
        assert_eq!(Status::Processing.body(), r#"{"status":"processing"}"#);
        let s = Status::Success(Success { artifact: "_tasks/artifacts/12/".into(), message: None, count: 3 });
        assert_eq!(s.body(), r#"{"artifact":"_tasks/artifacts/12/","message":null,"count":3,"status":"success"}"#);
        let e = Status::Error { message: "the scan failed: \"x\"\n".into() };
        assert_eq!(e.body(), r#"{"status":"error","message":"the scan failed: \"x\"\n"}"#);
    }

    #[test]
    fn long_messages_are_cut_to_the_limit_on_a_char_boundary() {
        let long = "é".repeat(5000);
        let body = Status::Error { message: long }.body();
        assert!(
            body.len() <= STATUS_MESSAGE_LIMIT + r#"{"status":"error","message":""}"#.len(),
            "{} bytes",
            body.len()
        );
        assert!(body.ends_with("…\"}"), "{body}");
    }

    #[test]
    fn a_non_https_callback_is_refused() {
        let err = CallbackUrl::parse("http://pages.example.gov/v0/tasks/1/t").unwrap_err();
        assert!(err.message().contains("https"), "{err}");
    }

    #[test]
    fn a_callback_shows_without_its_token() {
        let url = CallbackUrl::parse("https://pages.example.gov/v0/tasks/12/tok").unwrap();
        assert_eq!(url.to_string(), "https://pages.example.gov/v0/tasks/12/[redacted]");
        assert_eq!(format!("{url:?}"), "https://pages.example.gov/v0/tasks/12/[redacted]");
        assert_eq!(url.expose(), "https://pages.example.gov/v0/tasks/12/tok");
    }
}
