//! The one error type of the runtime.
//!
//! An error is a message (one clear sentence, then its causes, `: `-joined) and
//! a kind that decides the exit code. Messages go to users and to pages-core, so
//! they never hold a secret and never come from `{:?}`.

use std::fmt;

/// What went wrong, as far as the exit code is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The command line or the params were wrong (exit 2).
    Usage,
    /// The task, its artifact or the upload failed (exit 1).
    Failed,
    /// A signal asked us to stop (exit 128 + signal number).
    Cancelled(i32),
    /// pages-core could not be told the outcome (exit 3).
    Callback,
}

/// A failure with a message fit for a user and for pages-core.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    kind: Kind,
    message: String,
}

impl Error {
    pub fn usage(message: impl Into<String>) -> Error {
        Error { kind: Kind::Usage, message: message.into() }
    }

    pub fn failed(message: impl Into<String>) -> Error {
        Error { kind: Kind::Failed, message: message.into() }
    }

    pub fn cancelled(signal: i32) -> Error {
        let name = match signal {
            libc::SIGINT => "SIGINT",
            libc::SIGHUP => "SIGHUP",
            _ => "SIGTERM",
        };
        Error { kind: Kind::Cancelled(signal), message: format!("the task was cancelled ({name})") }
    }

    pub fn callback(message: impl Into<String>) -> Error {
        Error { kind: Kind::Callback, message: message.into() }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Whether this is a cancel (a signal), which no context changes.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.kind, Kind::Cancelled(_))
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// Puts what we were doing in front of the cause: `"{context}: {cause}"`.
    /// A cancel is its own explanation and stays as it is.
    pub fn context(mut self, context: impl fmt::Display) -> Error {
        if !self.is_cancelled() {
            self.message = format!("{context}: {}", self.message);
        }
        self
    }

    /// The process exit code for this error (see README, "Exit codes").
    pub fn exit_code(&self) -> i32 {
        match self.kind {
            Kind::Failed => exit::FAILED,
            Kind::Usage => exit::USAGE,
            Kind::Callback => exit::CALLBACK,
            Kind::Cancelled(signal) => 128 + signal,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Debug shows the same text as Display: `main` must never print internals.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Exit codes. 130 and 143 (128 + SIGINT/SIGTERM) come from `Kind::Cancelled`.
pub mod exit {
    /// Success was delivered (or, locally, the task succeeded).
    pub const OK: i32 = 0;
    /// The task failed; an error status was delivered.
    pub const FAILED: i32 = 1;
    /// Bad command line or params; an error status was delivered when the callback was known.
    pub const USAGE: i32 = 2;
    /// No terminal status could be delivered to pages-core.
    pub const CALLBACK: i32 = 3;
    /// The task panicked; an error status was delivered.
    pub const PANIC: i32 = 70;
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
