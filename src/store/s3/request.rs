//! One S3 request, sent until S3 accepts it or refuses it for good.
//!
//! A body is a range of a file, read from disk on every try, so memory stays
//! flat in the file's size and a retry never sends stale bytes. The range is
//! hashed before the request is signed; while it is sent, a file that ends
//! early is an error, and one that changed is refused by S3 (BadDigest).
//!
//! A request is a value ([`Request`]), built and signed without I/O in
//! actions.rs, so that tests can read what would be sent.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use instant_xml::FromXml;
use rusty_s3::Method;
use sha2::{Digest, Sha256};
use url::Url;

use super::S3Store;
use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::http::{self, Attempt, Retry};
use crate::store::walk;

/// How long a clean-up request waits for S3, each try: the whole clean-up
/// has 5 s (upload.rs, which stops waiting then), a slow S3 may take
/// seconds to answer a DELETE, and S3's 60 s would outlast Cloud Foundry's
/// grace after SIGTERM.
const CLEAN_UP_WAIT: Duration = Duration::from_secs(4);

/// One quick second try for clean-up requests.
const CLEAN_UP_RETRY: Retry = Retry {
    attempts: 2,
    base: Duration::from_millis(100),
    cap: Duration::from_millis(200),
    budget: Duration::from_secs(2),
};

/// Bytes read from disk at a time while hashing: a buffer per worker, so
/// small; 64 KiB hashes as fast as 256 KiB (bench/upload/run.sh).
const CHUNK: usize = 64 * 1024;

/// Bytes `offset..offset + len` of a file.
pub(super) struct FileRange<'a> {
    pub path: &'a Path,
    /// The artifact's key, for errors.
    pub key: &'a str,
    pub offset: u64,
    pub len: u64,
}

impl FileRange<'_> {
    /// The whole file.
    pub fn whole(entry: &walk::Entry) -> FileRange<'_> {
        FileRange { path: &entry.path, key: &entry.key, offset: 0, len: entry.len }
    }

    /// The range, opened at its start.
    fn open(&self) -> io::Result<File> {
        let mut file = File::open(self.path)?;
        if self.offset > 0 {
            file.seek(SeekFrom::Start(self.offset))?;
        }
        Ok(file)
    }

    /// The base64 SHA-256 of the range, which must be all there.
    pub fn sha256(&self, cancel: &Cancel) -> Result<String> {
        let fail = |e: io::Error| match cancel.check() {
            Err(cancelled) => cancelled,
            Ok(()) => Error::failed(format!("cannot read {}: {e}", self.key)),
        };
        let mut reader = Body { file: self.open().map_err(fail)?, left: self.len, cancel };
        let mut hasher = Sha256::new();
        let mut buf = vec![0; CHUNK];
        loop {
            let n = reader.read(&mut buf).map_err(fail)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        cancel.check()?;
        Ok(base64(&hasher.finalize()))
    }
}

/// A range being sent: ends after `left` bytes, fails if the file ends
/// sooner, and stops when the run is cancelled. Its errors are
/// [`BodyError`]s.
struct Body<'a> {
    file: File,
    left: u64,
    cancel: &'a Cancel,
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        if self.cancel.signal().is_some() {
            return Err(io::Error::other(BodyError::Cancelled));
        }
        let max = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.file.read(&mut buf[..max]).map_err(|e| io::Error::other(BodyError::Read(e)))?;
        if n == 0 {
            return Err(io::Error::other(BodyError::Shrank));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Why a [`Body`] could not be read: our side's failure, not the network's,
/// so not worth another try. ureq hands it back inside its `Error::Io`.
enum BodyError {
    /// The file ended before the range did.
    Shrank,
    /// The run was cancelled while the body was being sent.
    Cancelled,
    /// Reading the file failed; shown as the cause alone.
    Read(io::Error),
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::Shrank => f.write_str("the file shrank while it was being uploaded"),
            BodyError::Cancelled => f.write_str("the upload was cancelled"),
            BodyError::Read(e) => e.fmt(f),
        }
    }
}

// What `std::error::Error` needs; the message says it all.
impl fmt::Debug for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for BodyError {}

/// The [`BodyError`] a request failed with, if that is why it failed.
fn body_error(e: &ureq::Error) -> Option<&BodyError> {
    match e {
        ureq::Error::Io(io) => io.get_ref()?.downcast_ref(),
        _ => None,
    }
}

/// Checks that a file still has the size it was walked with.
pub(super) fn unchanged(entry: &walk::Entry) -> Result<()> {
    match std::fs::symlink_metadata(&entry.path) {
        Ok(meta) if meta.is_file() && meta.len() == entry.len => Ok(()),
        Ok(_) => Err(Error::failed(format!("{} changed while it was being uploaded", entry.key))),
        Err(e) => Err(Error::failed(format!("{} vanished while it was being uploaded: {e}", entry.key))),
    }
}

/// What a request carries.
pub(super) enum Payload<'a> {
    Empty,
    Text(String),
    File(&'a FileRange<'a>),
}

impl Payload<'_> {
    fn len(&self) -> u64 {
        match self {
            Payload::Empty => 0,
            Payload::Text(text) => text.len() as u64,
            Payload::File(range) => range.len,
        }
    }
}

/// A presigned request, ready to send.
pub(super) struct Request<'a> {
    pub method: Method,
    pub url: Url,
    /// The headers sent but Content-Length, by lowercase name.
    pub headers: Vec<(&'static str, &'a str)>,
    /// Sent when the request has a body or is a PUT or POST (S3 wants one
    /// then, even when it is 0).
    pub content_length: Option<u64>,
    pub payload: Payload<'a>,
}

impl<'a> Request<'a> {
    pub fn new(method: Method, url: Url, headers: Vec<(&'static str, &'a str)>, payload: Payload<'a>) -> Self {
        let len = payload.len();
        let content_length = (len > 0 || method == Method::Put || method == Method::Post).then_some(len);
        Request { method, url, headers, content_length, payload }
    }
}

/// A successful answer.
pub(super) struct Reply {
    pub etag: Option<String>,
    pub body: String,
}

/// The error document S3 sends with a failure.
#[derive(FromXml)]
#[xml(rename = "Error")]
struct S3Error {
    #[xml(rename = "Code")]
    code: String,
    #[xml(rename = "Message")]
    message: Option<String>,
}

impl S3Error {
    /// S3 may send whitespace before the document to keep a slow request's
    /// connection open (after its 200): it is not part of the XML.
    fn parse(body: &str) -> Option<S3Error> {
        instant_xml::from_str(body.trim_start()).ok()
    }

    /// Codes S3 sends with a 200 for a request worth another try.
    fn retryable(&self) -> bool {
        matches!(self.code.as_str(), "InternalError" | "SlowDown" | "ServiceUnavailable")
    }
}

/// `: Code: Message` from an S3 error document, or nothing.
pub fn s3_error(body: &str) -> String {
    match S3Error::parse(body) {
        Some(S3Error { code, message: Some(m) }) if !m.is_empty() => format!(": {code}: {m}"),
        Some(S3Error { code, .. }) => format!(": {code}"),
        None => String::new(),
    }
}

impl S3Store {
    /// Sends a request until S3 accepts it or refuses it for good, `name`
    /// (the artifact's key) naming it in errors. A DELETE is clean-up after
    /// a failure, so it gets one quick retry rather than the full policy.
    pub(super) fn send(&self, name: &str, request: &Request<'_>, cancel: &Cancel) -> Result<Reply> {
        let clean_up = request.method == Method::Delete;
        let (retry, wait) =
            if clean_up { (CLEAN_UP_RETRY, CLEAN_UP_WAIT) } else { (self.config.retry, self.config.timeout) };
        let fail = |e: &dyn std::fmt::Display| Error::failed(format!("cannot store {name}: {e}"));
        // Sending may take as long as the wait plus the time the body
        // needs at 1 MiB/s; waiting for an answer, the wait.
        let send_time = wait + Duration::from_secs(request.payload.len() / (1024 * 1024));
        retry.run(cancel, |_| {
            let method = match request.method {
                Method::Head => ureq::http::Method::HEAD,
                Method::Get => ureq::http::Method::GET,
                Method::Post => ureq::http::Method::POST,
                Method::Put => ureq::http::Method::PUT,
                Method::Delete => ureq::http::Method::DELETE,
            };
            let mut builder = ureq::http::Request::builder().method(method).uri(request.url.as_str());
            for (name, value) in &request.headers {
                builder = builder.header(*name, *value);
            }
            if let Some(len) = request.content_length {
                builder = builder.header("content-length", len.to_string());
            }
            let mut reader: Box<dyn Read + '_> = match &request.payload {
                Payload::Empty => Box::new(io::empty()),
                Payload::Text(t) => Box::new(t.as_bytes()),
                Payload::File(range) => {
                    let file = range.open().map_err(|e| Attempt::Fatal(fail(&e)))?;
                    Box::new(Body { file, left: range.len, cancel })
                }
            };
            let http_request =
                builder.body(ureq::SendBody::from_reader(&mut *reader)).map_err(|e| Attempt::Fatal(fail(&e)))?;
            let http_request = self
                .agent
                .configure_request(http_request)
                .timeout_send_body(Some(send_time))
                .timeout_recv_response(Some(wait))
                .timeout_recv_body(Some(wait))
                .build();
            let response = self.agent.run(http_request).map_err(|e| {
                if cancel.signal().is_some() {
                    return Attempt::Fatal(cancel.check().err().unwrap_or_else(|| fail(&e)));
                }
                match body_error(&e) {
                    Some(body) => Attempt::Fatal(fail(body)),
                    None if http::retryable_error(&e) => Attempt::Transient(fail(&e), None),
                    None => Attempt::Fatal(fail(&e)),
                }
            })?;
            let status = response.status().as_u16();
            let retry_after = http::retry_after_of(&response);
            let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
            // Read to the end, so the connection goes back to the pool.
            let body = response.into_body().read_to_string();
            if (200..300).contains(&status) {
                let body = body.map_err(|e| Attempt::Transient(fail(&e), None))?;
                // S3 can fail a request after it has sent 200 (a
                // CompleteMultipartUpload, say): the body is then an error.
                return match S3Error::parse(&body) {
                    None => Ok(Reply { etag, body }),
                    Some(e) => {
                        let err = fail(&format_args!("S3 answered 200 with an error{}", s3_error(&body)));
                        Err(if e.retryable() { Attempt::Transient(err, None) } else { Attempt::Fatal(err) })
                    }
                };
            }
            let err = fail(&format_args!("S3 answered {status}{}", s3_error(&body.unwrap_or_default())));
            Err(if http::retryable_status(status) { Attempt::Transient(err, retry_after) } else { Attempt::Fatal(err) })
        })
    }
}

/// Content-Type by extension.
pub fn content_type(key: &str) -> &'static str {
    let name = key.rsplit('/').next().unwrap_or(key);
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "json" => "application/json",
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// Standard base64 with padding (RFC 4648), as S3's checksum headers want.
pub(super) fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn s3_error_documents_give_code_and_message() {
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match &amp; so on</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>";
        assert_eq!(
            s3_error(body),
            ": SignatureDoesNotMatch: The request signature we calculated does not match & so on"
        );
        assert_eq!(s3_error("<Error><Code>NoSuchBucket</Code></Error>"), ": NoSuchBucket");
        assert_eq!(s3_error(""), "");
        assert_eq!(s3_error("<html>bad gateway</html>"), "");
    }

    #[test]
    fn content_types_follow_the_extension_of_the_name() {
        assert_eq!(content_type("a/index.JSON"), "application/json");
        assert_eq!(content_type("report.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("shot.jpg"), "image/jpeg");
        assert_eq!(content_type("v1.2/README"), "application/octet-stream");
        assert_eq!(content_type("data.bin"), "application/octet-stream");
    }

    #[test]
    fn a_range_hashes_only_its_bytes_and_a_short_file_is_an_error() {
        let path = std::env::temp_dir().join(format!("build-task-range-{}", std::process::id()));
        std::fs::write(&path, b"xxabcxx").unwrap();
        let cancel = Cancel::new();
        let range = FileRange { path: &path, key: "k", offset: 2, len: 3 };
        // sha256("abc")
        assert_eq!(range.sha256(&cancel).unwrap(), "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
        let past = FileRange { path: &path, key: "k", offset: 5, len: 3 };
        let err = past.sha256(&cancel).unwrap_err();
        assert_eq!(err.message(), "cannot read k: the file shrank while it was being uploaded");
        std::fs::remove_file(&path).unwrap();
    }
}
