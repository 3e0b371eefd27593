//! The one HTTP client everything shares, and the retry policy.
//!
//! ureq with rustls (ring, as `tls` trims it). Trust is Mozilla's roots plus the PEM bundle in
//! SSL_CERT_FILE plus every `*.crt` in CF_SYSTEM_CERT_PATH (where Cloud
//! Foundry mounts the platform's CAs): the files are read once, into the
//! agent's TLS settings, and `tls::Connector` adds Mozilla's roots to them.
//! ureq has no timeouts unless asked, so every phase gets one here.
//! Redirects are off: nothing we call should redirect, and a task that
//! wants them asks per request.

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ureq::Agent;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{ConnectProxyConnector, Connector, TcpConnector};
use url::{Host, Url};

use crate::cancel::Cancel;
use crate::env::Env;
use crate::error::{Error, Result};
use crate::warn;

pub const USER_AGENT: &str = concat!("build-task/", env!("CARGO_PKG_VERSION"));

/// Builds the shared agent.
pub fn agent(env: &Env) -> Agent {
    let tls = TlsConfig::builder().root_certs(RootCerts::Specific(extra_roots(env))).build();
    let config = Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(USER_AGENT)
        .timeout_resolve(Some(Duration::from_secs(10)))
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_send_request(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_recv_body(Some(Duration::from_secs(60)))
        .max_idle_connections_per_host(16)
        // Per connection; half ureq's default saves each upload worker 64 KiB
        // and sends as fast over loopback (bench/upload/run.sh).
        .output_buffer_size(64 * 1024)
        .build();
    Agent::with_parts(config, connector(), DefaultResolver::default())
}

/// ureq's connectors for an agent made from [`agent`]'s settings (an HTTP
/// proxy's CONNECT, then TCP), with TLS by [`crate::tls::Connector`].
pub fn connector() -> impl Connector {
    ().chain(ConnectProxyConnector::default()).chain(TcpConnector::default()).chain(crate::tls::Connector::default())
}

/// `build-task doctor`'s check of what the agent trusts: the built-in roots
/// and, when SSL_CERT_FILE or CF_SYSTEM_CERT_PATH is set, at least one
/// certificate read from them.
pub fn roots_check(env: &Env) -> crate::doctor::Check {
    let builtin = webpki_roots::TLS_SERVER_ROOTS.len();
    let extra = extra_roots(env).len();
    let asked =
        ["SSL_CERT_FILE", "CF_SYSTEM_CERT_PATH"].into_iter().filter(|v| env.get(v).is_some()).collect::<Vec<_>>();
    let outcome = if !asked.is_empty() && extra == 0 {
        Err(format!("{} set, but no certificate could be read from it", asked.join(" and ")))
    } else {
        Ok(format!("{builtin} Mozilla roots built in, {extra} more from SSL_CERT_FILE and CF_SYSTEM_CERT_PATH"))
    };
    crate::doctor::Check::new("CA roots", outcome)
}

/// The largest CA file read: Mozilla's whole bundle is about 220 KB, so a
/// file past this is a mistake (or /dev/zero), not certificates.
const CA_FILE_LIMIT: u64 = 4 * 1024 * 1024;

/// Certificates from SSL_CERT_FILE and CF_SYSTEM_CERT_PATH/*.crt, read
/// from disk once a process for the same two settings: the agent and
/// doctor's check (`BUILD_TASK_DOCTOR` in a run) share one reading, and its
/// warnings are logged once.
fn extra_roots(env: &Env) -> Arc<Vec<Certificate<'static>>> {
    type Settings = (Option<String>, Option<String>);
    // One entry in a run; the tests' agents, with their own settings, add more.
    static READ: Mutex<Vec<(Settings, Arc<Vec<Certificate<'static>>>)>> = Mutex::new(Vec::new());
    let settings: Settings =
        (env.get("SSL_CERT_FILE").map(str::to_owned), env.get("CF_SYSTEM_CERT_PATH").map(str::to_owned));
    let mut read = READ.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, certs)) = read.iter().find(|(same, _)| *same == settings) {
        return certs.clone();
    }
    let certs = Arc::new(read_roots(env));
    read.push((settings, certs.clone()));
    certs
}

/// The certificates of SSL_CERT_FILE and CF_SYSTEM_CERT_PATH/*.crt. A file that
/// cannot be read, or is larger than [`CA_FILE_LIMIT`], is logged (naming
/// the variable) and skipped: the web PKI roots still apply, and doctor's
/// check says no certificate was read.
fn read_roots(env: &Env) -> Vec<Certificate<'static>> {
    let mut files = Vec::new();
    if let Some(file) = env.get("SSL_CERT_FILE") {
        files.push(("SSL_CERT_FILE", std::path::PathBuf::from(file)));
    }
    if let Some(dir) = env.get("CF_SYSTEM_CERT_PATH") {
        match std::fs::read_dir(dir) {
            Ok(entries) => {
                let mut crts: Vec<_> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "crt"))
                    .collect();
                crts.sort();
                files.extend(crts.into_iter().map(|crt| ("CF_SYSTEM_CERT_PATH", crt)));
            }
            Err(e) => warn!("cannot read CF_SYSTEM_CERT_PATH {dir}: {e}"),
        }
    }
    let mut certs = Vec::new();
    for (var, file) in files {
        let mut pem = Vec::new();
        let read = std::fs::File::open(&file).and_then(|f| f.take(CA_FILE_LIMIT + 1).read_to_end(&mut pem));
        match read {
            Ok(_) if pem.len() as u64 > CA_FILE_LIMIT => {
                warn!("{var}: {} is larger than 4 MiB, more than any CA bundle: it is not read", file.display());
            }
            Ok(_) => {
                let before = certs.len();
                for item in ureq::tls::parse_pem(&pem) {
                    if let Ok(PemItem::Certificate(c)) = item {
                        certs.push(c.to_owned());
                    }
                }
                if certs.len() == before {
                    warn!("{var}: no certificate in {}", file.display());
                }
            }
            Err(e) => warn!("{var}: cannot read the certificate file {}: {e}", file.display()),
        }
    }
    certs
}

/// Parses `text` as a URL we may call: https, or plain http to a loopback
/// address (`localhost`, 127.0.0.0/8, ::1), with a port, if any, in 1-65535.
/// `what` names the value in the error.
pub fn check_url(text: &str, what: &str) -> Result<Url> {
    let url = match Url::parse(text) {
        Ok(url) if url.port() != Some(0) => url,
        Ok(_) | Err(url::ParseError::InvalidPort) => {
            return Err(Error::usage(format!("{what} has a port outside 1-65535")));
        }
        Err(_) => return Err(Error::usage(format!("{what} is not a URL"))),
    };
    let loopback = match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(Error::usage(format!("{what} must be an https URL (plain http only to a loopback address)"))),
    }
}

/// Bounded retries with exponential backoff and full jitter.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    /// Tries in all, the first included.
    pub attempts: u32,
    /// The first delay's upper bound; doubles each try.
    pub base: Duration,
    /// No single delay is longer.
    pub cap: Duration,
    /// No retry starts after this much time since the first try.
    pub budget: Duration,
}

impl Retry {
    /// The delay before try `attempt + 1` (attempt counts from 1): a
    /// server's Retry-After when it gave one (it knows when it will take
    /// the request; a little jitter keeps many clients apart), else
    /// exponential backoff with full jitter.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(ra) => ra + self.base.min(Duration::from_secs(1)).mul_f64(fastrand::f64()),
            None => {
                let ceiling = self.base.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(self.cap);
                ceiling.mul_f64(fastrand::f64())
            }
        }
    }

    /// Runs `op` until it succeeds, fails for good, or the budget is spent.
    /// `op` returns `Err(Transient(..))` for failures worth another try.
    pub fn run<T>(&self, cancel: &Cancel, mut op: impl FnMut(u32) -> Result<T, Attempt>) -> Result<T> {
        let started = std::time::Instant::now();
        let mut attempt = 1;
        loop {
            cancel.check()?;
            match op(attempt) {
                Ok(v) => return Ok(v),
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Transient(e, retry_after)) => {
                    let delay = self.delay(attempt, retry_after);
                    if attempt >= self.attempts || started.elapsed() + delay > self.budget {
                        return Err(e.context(format_args!("gave up after {attempt} tries")));
                    }
                    warn!("{e}; retrying in {} ms (try {} of {})", delay.as_millis(), attempt + 1, self.attempts);
                    cancel.sleep(delay)?;
                    attempt += 1;
                }
            }
        }
    }
}

/// The result of one failed try.
pub enum Attempt {
    /// Worth another try, after at least the given Retry-After.
    Transient(Error, Option<Duration>),
    /// Not worth another try.
    Fatal(Error),
}

/// Statuses that mean "try again later".
pub fn retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

/// Transport failures worth another try: time-outs, resets, refused
/// connections. A TLS failure (an untrusted certificate, say) arrives as an
/// I/O error of kind InvalidData and is not retried: it will not heal.
pub fn retryable_error(e: &ureq::Error) -> bool {
    use std::io::ErrorKind::*;
    match e {
        ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => true,
        ureq::Error::Io(io) => matches!(
            io.kind(),
            ConnectionReset
                | ConnectionAborted
                | ConnectionRefused
                | BrokenPipe
                | TimedOut
                | UnexpectedEof
                | Interrupted
                | WouldBlock
                | NotConnected
        ),
        _ => false,
    }
}

/// A response's Retry-After (see [`retry_after`]), at most an hour.
pub fn retry_after_of<B>(response: &ureq::http::Response<B>) -> Option<Duration> {
    let text = response.headers().get("retry-after")?.to_str().ok()?;
    retry_after(text, SystemTime::now()).map(|wait| wait.min(Duration::from_secs(3600)))
}

/// How long a Retry-After value asks to wait from `now`: delay-seconds or an
/// HTTP date (RFC 9110, 10.2.3). None for anything else.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    if let Some(secs) = decimal(value.trim().as_bytes()) {
        return Some(Duration::from_secs(secs));
    }
    let at = UNIX_EPOCH + Duration::from_secs(http_date(value)?);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// An HTTP date in seconds since the epoch, in any of the three forms a
/// recipient must accept: `Sun, 06 Nov 1994 08:49:37 GMT`, `Sunday,
/// 06-Nov-94 08:49:37 GMT` and `Sun Nov  6 08:49:37 1994`. Each has the
/// day before the year, so the numbers are read in that order.
fn http_date(text: &str) -> Option<u64> {
    const MONTHS: &[u8; 36] = b"janfebmaraprmayjunjulaugsepoctnovdec";
    let (mut month, mut time, mut numbers) = (None, None, [None; 3]);
    for word in text.as_bytes().split(|b| matches!(b, b' ' | b',' | b'-')).filter(|w| !w.is_empty()) {
        if let [a, b, c] = *word
            && let Some(i) = MONTHS.chunks(3).position(|m| m == [a | 0x20, b | 0x20, c | 0x20])
        {
            month = Some(i as u64 + 1);
        } else if word.contains(&b':') {
            let mut hms = word.split(|&b| b == b':').map(decimal);
            let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
            (hms.next().is_none() && h < 24 && m < 60 && s <= 60).then_some(())?;
            time = Some(h * 3600 + m * 60 + s);
        } else if let Some(n) = decimal(word) {
            *numbers.iter_mut().find(|slot| slot.is_none())? = Some(n);
        }
    }
    let [Some(day), Some(year), None] = numbers else { return None };
    let year = match year {
        0..=69 => 2000 + year,
        70..=99 => 1900 + year,
        _ => year,
    };
    if !(1..=31).contains(&day) || !(1970..=9999).contains(&year) {
        return None;
    }
    let days = days_from_civil(year, month?, day);
    Some(days * 86_400 + time?)
}

/// One or more decimal digits as a number, if it fits in a u64.
fn decimal(digits: &[u8]) -> Option<u64> {
    let number = digits.iter().try_fold(0u64, |n, d| {
        d.is_ascii_digit().then_some(())?;
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    });
    number.filter(|_| !digits.is_empty())
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar
/// (Howard Hinnant's `days_from_civil`), for years from 1970.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let (era, yoe) = (y / 400, y % 400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_files_are_read_once_and_the_agent_and_doctor_count_the_same_certificates() {
        let dir = std::env::temp_dir().join(format!("build-task-roots-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("ca.pem");
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".to_owned()]).unwrap();
        std::fs::write(&file, ca.cert.pem()).unwrap();
        let env = Env::from_pairs([("SSL_CERT_FILE", file.to_str().unwrap())]);
        let first = extra_roots(&env);
        assert_eq!(first.len(), 1);
        // Gone from disk: a second reading would find nothing.
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(Arc::ptr_eq(&first, &extra_roots(&env)));
        let check = roots_check(&env).line();
        let builtin = webpki_roots::TLS_SERVER_ROOTS.len();
        assert!(check.contains(&format!("{builtin} Mozilla roots built in, 1 more from SSL_CERT_FILE")), "{check}");
        match agent(&env).config().tls_config().root_certs() {
            RootCerts::Specific(certs) => assert!(Arc::ptr_eq(certs, &first)),
            _ => panic!("the agent trusts the certificates read"),
        }
    }

    #[test]
    fn a_port_outside_the_tcp_range_is_refused_before_any_connection() {
        for url in
            ["https://x.gov:99999/cb", "https://x.gov:0/cb", "http://127.0.0.1:65536/", "https://u:p@x.gov:70000/"]
        {
            let err = check_url(url, "the status callback").unwrap_err();
            assert_eq!(err.message(), "the status callback has a port outside 1-65535", "{url}");
        }
        for url in ["https://x.gov:443/cb", "http://[::1]:8080/", "http://[::1]/", "https://u:p@x.gov/"] {
            assert!(check_url(url, "the status callback").is_ok(), "{url}");
        }
    }

    #[test]
    fn only_https_or_loopback_http_is_allowed() {
        assert!(check_url("https://pages.example.gov/v0/tasks/1/t", "x").is_ok());
        assert!(check_url("http://127.0.0.1:8080/v0/tasks/1/t", "x").is_ok());
        assert!(check_url("http://[::1]:8080/", "x").is_ok());
        assert!(check_url("http://localhost/", "x").is_ok());
        let err = check_url("http://pages.example.gov/v0/tasks/1/t", "the status callback").unwrap_err();
        assert_eq!(err.message(), "the status callback must be an https URL (plain http only to a loopback address)");
        assert!(check_url("ftp://127.0.0.1/", "x").is_err());
        assert!(check_url("not a url", "x").is_err());
    }

    #[test]
    fn delays_grow_are_capped_and_a_retry_after_is_the_delay_give_or_take_a_little_jitter() {
        let r = Retry {
            attempts: 5,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(250),
            budget: Duration::from_secs(10),
        };
        for _ in 0..100 {
            assert!(r.delay(1, None) <= Duration::from_millis(100));
            assert!(r.delay(4, None) <= Duration::from_millis(250));
        }
        for attempt in [1, 4] {
            let d = r.delay(attempt, Some(Duration::from_secs(2)));
            assert!(d >= Duration::from_secs(2) && d <= Duration::from_millis(2100), "{d:?}");
        }
    }

    #[test]
    fn retries_stop_at_the_attempt_limit() {
        let r = Retry {
            attempts: 3,
            base: Duration::from_millis(1),
            cap: Duration::from_millis(2),
            budget: Duration::from_secs(5),
        };
        let mut tries = 0;
        let res: Result<()> = r.run(&Cancel::new(), |_| {
            tries += 1;
            Err(Attempt::Transient(Error::failed("503"), None))
        });
        assert_eq!(tries, 3);
        assert_eq!(res.unwrap_err().message(), "gave up after 3 tries: 503");
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_as_any_http_date() {
        // 1994-11-06 08:49:37 UTC, RFC 9110's example.
        let at = UNIX_EPOCH + Duration::from_secs(784_111_777);
        let now = at - Duration::from_secs(90);
        for date in ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"] {
            assert_eq!(retry_after(date, now), Some(Duration::from_secs(90)), "{date}");
        }
        assert_eq!(http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(http_date("Tue, 29 Feb 2028 23:59:59 GMT"), Some(1_835_481_599));
        assert_eq!(retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at + Duration::from_secs(5)), Some(Duration::ZERO));
        for junk in [
            "",
            "-1",
            "1.5",
            "soon",
            "Sun, 06 Nov 1994 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:00:00 GMT",
        ] {
            assert_eq!(retry_after(junk, now), None, "{junk}");
        }
    }
}
