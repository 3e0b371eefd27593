//! One line per event on stderr: time, level, task, task id, phase, message.
//!
//! `2026-11-21T23:59:01Z INFO example #12 upload: uploaded 3 objects`
//!
//! The level comes from LOGLEVEL (debug, info, warn, error; default info).
//! Nothing that reaches this module may hold a secret: callers log URLs
//! through [`redact_url`] and never log param or flag values.

use std::fmt;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
}

impl Level {
    pub fn parse(text: &str) -> Option<Level> {
        match text.to_ascii_lowercase().as_str() {
            "debug" | "trace" => Some(Level::Debug),
            "info" => Some(Level::Info),
            "warn" | "warning" => Some(Level::Warn),
            "error" => Some(Level::Error),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
static SCOPE: Mutex<Scope> = Mutex::new(Scope { task: String::new(), task_id: String::new(), phase: "start" });

struct Scope {
    task: String,
    task_id: String,
    phase: &'static str,
}

pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

pub fn enabled(level: Level) -> bool {
    level as u8 >= LEVEL.load(Ordering::Relaxed)
}

pub fn set_task(task: &str) {
    if let Ok(mut s) = SCOPE.lock() {
        s.task = task.to_owned();
    }
}

pub fn set_task_id(id: &str) {
    if let Ok(mut s) = SCOPE.lock() {
        s.task_id = id.to_owned();
    }
}

/// Names the phase of the run that following lines belong to.
pub fn set_phase(phase: &'static str) {
    if let Ok(mut s) = SCOPE.lock() {
        s.phase = phase;
    }
}

pub fn write(level: Level, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let mut line = String::with_capacity(96);
    line.push_str(&timestamp(SystemTime::now()));
    line.push(' ');
    line.push_str(level.name());
    if let Ok(s) = SCOPE.lock() {
        for part in [&s.task, &s.task_id].into_iter().filter(|p| !p.is_empty()) {
            line.push(' ');
            if std::ptr::eq(part, &s.task_id) {
                line.push('#');
            }
            line.push_str(part);
        }
        line.push(' ');
        line.push_str(s.phase);
    }
    line.push_str(": ");
    let message = args.to_string();
    // One event, one line: escape control characters a task's output may hold.
    for c in message.chars() {
        match c {
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            c if c.is_control() && c != '\t' => line.push_str(&c.escape_unicode().to_string()),
            c => line.push(c),
        }
    }
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

#[macro_export]
macro_rules! debug { ($($t:tt)*) => { $crate::log::write($crate::log::Level::Debug, format_args!($($t)*)) } }
#[macro_export]
macro_rules! info { ($($t:tt)*) => { $crate::log::write($crate::log::Level::Info, format_args!($($t)*)) } }
#[macro_export]
macro_rules! warn { ($($t:tt)*) => { $crate::log::write($crate::log::Level::Warn, format_args!($($t)*)) } }
#[macro_export]
macro_rules! error { ($($t:tt)*) => { $crate::log::write($crate::log::Level::Error, format_args!($($t)*)) } }

/// A URL fit for a log: the last path segment of a callback (its token) and
/// any query string are replaced, and user info is dropped.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let mut segments: Vec<&str> = path.split('/').collect();
    if (segments.len() > 1 || segments.first().is_some_and(|s| !s.is_empty()))
        && let Some(last) = segments.last_mut()
        && !last.is_empty()
    {
        *last = "[redacted]";
    }
    format!("{scheme}://{host}/{}", segments.join("/"))
}

/// RFC 3339 UTC time to the second, by the jiff that signs S3 requests
/// (shim/jiff in the binary); empty past the year 9999.
pub fn timestamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    i64::try_from(secs)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// `text`, cut to at most `limit` bytes on a character boundary, with `…`
/// at the end when it was cut (for status messages and quoted output).
pub fn bounded(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn callback_tokens_are_redacted() {
        assert_eq!(
            redact_url("https://pages.example.gov/v0/tasks/12/c2VjcmV0dG9rZW4="),
            "https://pages.example.gov/v0/tasks/12/[redacted]"
        );
        assert_eq!(redact_url("http://user:pw@127.0.0.1:9/a/b?x=1"), "http://127.0.0.1:9/a/[redacted]");
        assert_eq!(redact_url("https://example.gov"), "https://example.gov/");
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(UNIX_EPOCH + Duration::from_secs(1_795_303_588)), "2026-11-21T23:26:28Z");
        assert_eq!(timestamp(UNIX_EPOCH + Duration::from_secs(951_782_400)), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn levels_parse_case_insensitively() {
        assert_eq!(Level::parse("DEBUG"), Some(Level::Debug));
        assert_eq!(Level::parse("warning"), Some(Level::Warn));
        assert_eq!(Level::parse("loud"), None);
    }

    #[test]
    fn bounded_text_is_cut_on_a_char_boundary_and_marked() {
        let cut = bounded(&"é".repeat(5000), 1024);
        assert!(cut.len() <= 1024 && cut.ends_with('…'), "{} bytes", cut.len());
        assert!(cut.trim_end_matches('…').chars().all(|c| c == 'é'));
        assert_eq!(bounded("short", 1024), "short");
    }
}
