//! The S3 store: presigned SigV4 PUTs (rusty-s3) sent with the shared agent.
//!
//! Every object goes to `s3://BUCKET/<prefix><key>` with its Content-Type
//! and a signed `x-amz-checksum-sha256`, so S3 rejects a body that changed
//! on the way.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use sha2::{Digest, Sha256};
use ureq::Agent;

use super::{walk, Store, Summary};
use crate::cancel::Cancel;
use crate::env::Env;
use crate::error::{Error, Result};
use crate::http::{self, Attempt, Retry};
use crate::params::Params;
use crate::debug;

/// How long a presigned URL stays valid.
const URL_LIFETIME: Duration = Duration::from_secs(15 * 60);

pub const RETRY: Retry = Retry {
    attempts: 5,
    base: Duration::from_millis(200),
    cap: Duration::from_secs(10),
    budget: Duration::from_secs(120),
};

pub struct S3Store {
    bucket: Bucket,
    credentials: Credentials,
    prefix: String,
    agent: Agent,
}

impl S3Store {
    pub fn new(params: &Params, env: &Env, agent: Agent) -> Result<S3Store> {
        let (endpoint, style) = endpoint(&params.region, env)?;
        let bucket = Bucket::new(endpoint, style, params.bucket.clone(), params.region.clone())
            .map_err(|e| Error::usage(format!("the S3 bucket cannot be addressed: {e}")))?;
        let credentials =
            Credentials::new(params.access_key_id.expose().to_owned(), params.secret_access_key.expose().to_owned());
        Ok(S3Store { bucket, credentials, prefix: params.artifact_prefix(), agent })
    }

    fn put(&self, entry: &walk::Entry, cancel: &Cancel) -> Result<()> {
        let key = format!("{}{}", self.prefix, entry.key);
        let checksum = sha256_base64(&entry.path, entry.len)
            .map_err(|e| Error::failed(format!("{}: {e}", entry.key)))?;
        let mut action = self.bucket.put_object(Some(&self.credentials), &key);
        action.headers_mut().insert("x-amz-checksum-sha256", checksum.clone());
        let url = action.sign(URL_LIFETIME);
        RETRY.run(cancel, |_| {
            let file = File::open(&entry.path)
                .map_err(|e| Attempt::Fatal(Error::failed(format!("{}: cannot open: {e}", entry.key))))?;
            let response = self
                .agent
                .put(url.as_str())
                .header("Content-Type", content_type(&entry.key))
                .header("Content-Length", entry.len.to_string())
                .header("x-amz-checksum-sha256", &checksum)
                .send(&file)
                .map_err(|e| {
                    let err = Error::failed(format!("{}: {e}", entry.key));
                    if http::retryable_error(&e) { Attempt::Transient(err, None) } else { Attempt::Fatal(err) }
                })?;
            let status = response.status().as_u16();
            if (200..300).contains(&status) {
                return Ok(());
            }
            let retry_after = http::retry_after(&response);
            let body = response.into_body().read_to_string().unwrap_or_default();
            let err = Error::failed(format!("{}: S3 answered {status}{}", entry.key, s3_error(&body)));
            Err(if http::retryable_status(status) { Attempt::Transient(err, retry_after) } else { Attempt::Fatal(err) })
        })
    }
}

impl Store for S3Store {
    fn put_artifact(&self, root: &Path, cancel: &Cancel) -> Result<Summary> {
        let mut summary = Summary::default();
        for entry in walk::walk(root)? {
            cancel.check()?;
            self.put(&entry, cancel)?;
            debug!("stored {} ({} bytes)", entry.key, entry.len);
            summary.objects += 1;
            summary.bytes += entry.len;
        }
        Ok(summary)
    }

    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket.name(), self.prefix)
    }
}

/// The endpoint as the AWS SDKs choose it: AWS_ENDPOINT_URL_S3, else
/// AWS_ENDPOINT_URL (path-style), else `s3[-fips].<region>.amazonaws.com`
/// (virtual-hosted).
fn endpoint(region: &str, env: &Env) -> Result<(url::Url, UrlStyle)> {
    if let Some(custom) = env.get("AWS_ENDPOINT_URL_S3").or_else(|| env.get("AWS_ENDPOINT_URL")) {
        let url = custom.parse().map_err(|_| Error::usage("AWS_ENDPOINT_URL_S3/AWS_ENDPOINT_URL is not a URL"))?;
        http::check_url(custom, "the S3 endpoint")?;
        return Ok((url, UrlStyle::Path));
    }
    let service = if env.get("AWS_USE_FIPS_ENDPOINT").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        "s3-fips"
    } else {
        "s3"
    };
    let url = format!("https://{service}.{region}.amazonaws.com")
        .parse()
        .map_err(|_| Error::usage("AWS_DEFAULT_REGION does not make a valid endpoint"))?;
    Ok((url, UrlStyle::VirtualHost))
}

/// `: Code: Message` from an S3 error document, or nothing.
fn s3_error(body: &str) -> String {
    let tag = |name: &str| -> Option<String> {
        let start = body.find(&format!("<{name}>"))? + name.len() + 2;
        let end = body[start..].find(&format!("</{name}>"))? + start;
        Some(body[start..end].to_owned())
    };
    match (tag("Code"), tag("Message")) {
        (Some(c), Some(m)) => format!(": {c}: {m}"),
        (Some(c), None) => format!(": {c}"),
        _ => String::new(),
    }
}

/// Content-Type by extension.
pub fn content_type(key: &str) -> &'static str {
    let ext = key.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
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

fn sha256_base64(path: &Path, len: u64) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 64 * 1024];
    let mut total = 0;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buf[..n]);
    }
    if total != len {
        return Err(std::io::Error::other("the file changed while it was being uploaded"));
    }
    Ok(base64(&hasher.finalize()))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
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
    fn endpoints_follow_the_aws_sdks() {
        let env = Env::default();
        let (url, _) = endpoint("us-gov-west-1", &env).unwrap();
        assert_eq!(url.as_str(), "https://s3.us-gov-west-1.amazonaws.com/");
        let env = Env::from_pairs([("AWS_USE_FIPS_ENDPOINT", "true")]);
        assert_eq!(endpoint("us-gov-west-1", &env).unwrap().0.as_str(), "https://s3-fips.us-gov-west-1.amazonaws.com/");
        let env = Env::from_pairs([("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"), ("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9001")]);
        assert_eq!(endpoint("us-east-1", &env).unwrap().0.as_str(), "http://127.0.0.1:9001/");
    }

    #[test]
    fn s3_error_documents_give_code_and_message() {
        let body = "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>The signature…</Message></Error>";
        assert_eq!(s3_error(body), ": SignatureDoesNotMatch: The signature…");
        assert_eq!(s3_error(""), "");
    }
}
