//! The S3 actions an upload uses, each named after the AWS API. Each builds
//! its request as a value (rusty-s3 signs the URL, with the headers that are
//! sent), then `send` carries it and the answer is read here.

use std::time::Duration;

use rusty_s3::Method;
use rusty_s3::actions::{CompleteMultipartUploadResponse, CreateMultipartUpload, S3Action};

use super::S3Store;
use super::request::{FileRange, Payload, Request, content_type};
use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::store::walk;

/// How long a presigned URL stays valid: a URL is signed again for each
/// request, so this covers one request with its retries.
const URL_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// A part S3 stored, as CompleteMultipartUpload names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Part {
    /// From 1.
    pub number: u32,
    /// As S3 sent it, quotes included.
    pub etag: String,
    /// The base64 SHA-256 of the part.
    pub checksum: String,
}

/// Signs `action` with `headers` (lowercase names) and makes the request
/// that sends them: what is signed is what is sent.
fn signed<'a: 'b, 'b, A: S3Action<'b>>(
    mut action: A,
    headers: Vec<(&'static str, &'a str)>,
    payload: Payload<'a>,
) -> Request<'a> {
    for &(name, value) in &headers {
        action.headers_mut().insert(name, value);
    }
    Request::new(A::METHOD, action.sign(URL_LIFETIME), headers, payload)
}

impl S3Store {
    /// PutObject: the whole file, with its checksum and Content-Type signed.
    pub(super) fn put_object(&self, key: &str, entry: &walk::Entry, cancel: &Cancel) -> Result<()> {
        let range = FileRange::whole(entry);
        let checksum = range.sha256(cancel)?;
        self.send(&entry.key, &self.put_object_request(key, &range, &checksum), cancel).map(|_| ())
    }

    fn put_object_request<'a>(&self, key: &str, range: &'a FileRange<'a>, checksum: &'a str) -> Request<'a> {
        let headers = vec![("content-type", content_type(range.key)), ("x-amz-checksum-sha256", checksum)];
        signed(self.bucket.put_object(Some(&self.credentials), key), headers, Payload::File(range))
    }

    /// CreateMultipartUpload with SHA-256 as the parts' checksum; returns the
    /// upload id.
    pub(super) fn create_multipart_upload(&self, key: &str, name: &str, cancel: &Cancel) -> Result<String> {
        let action = self.bucket.create_multipart_upload(Some(&self.credentials), key);
        let headers = vec![("content-type", content_type(name)), ("x-amz-checksum-algorithm", "SHA256")];
        let reply = self.send(name, &signed(action, headers, Payload::Empty), cancel)?;
        let parsed = CreateMultipartUpload::parse_response(&reply.body).map_err(|_| {
            Error::failed(format!("cannot store {name}: S3 did not answer CreateMultipartUpload with an upload id"))
        })?;
        Ok(parsed.upload_id().to_owned())
    }

    /// UploadPart: one range with its own checksum.
    pub(super) fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        range: &FileRange<'_>,
        cancel: &Cancel,
    ) -> Result<Part> {
        let checksum = range.sha256(cancel)?;
        let request = self.upload_part_request(key, upload_id, number, range, &checksum)?;
        let reply = self.send(range.key, &request, cancel)?;
        let etag = reply.etag.ok_or_else(|| {
            Error::failed(format!("cannot store {}: S3 answered part {number} without an ETag", range.key))
        })?;
        Ok(Part { number, etag, checksum })
    }

    fn upload_part_request<'a>(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        range: &'a FileRange<'a>,
        checksum: &'a str,
    ) -> Result<Request<'a>> {
        let number = u16::try_from(number).map_err(|_| Error::failed("a file has more parts than S3 allows"))?;
        let action = self.bucket.upload_part(Some(&self.credentials), key, number, upload_id);
        Ok(signed(action, vec![("x-amz-checksum-sha256", checksum)], Payload::File(range)))
    }

    /// CompleteMultipartUpload with each part's ETag and checksum.
    pub(super) fn complete_multipart_upload(
        &self,
        key: &str,
        name: &str,
        upload_id: &str,
        parts: &[Part],
        cancel: &Cancel,
    ) -> Result<()> {
        let reply = self.send(name, &self.complete_multipart_upload_request(key, upload_id, parts), cancel)?;
        // An error document was dealt with in `send`; anything else that is
        // not a CompleteMultipartUploadResult is a failure too.
        CompleteMultipartUploadResponse::parse(&reply.body).map(|_| ()).map_err(|_| {
            Error::failed(format!("cannot store {name}: S3 answered CompleteMultipartUpload without a result"))
        })
    }

    fn complete_multipart_upload_request(&self, key: &str, upload_id: &str, parts: &[Part]) -> Request<'static> {
        let action = self.bucket.complete_multipart_upload(Some(&self.credentials), key, upload_id, std::iter::empty());
        // Only the host is signed here, as rusty-s3 signs this action: the
        // body (ours, below) is not, so neither is its type.
        let headers = vec![("content-type", "application/xml")];
        Request::new(Method::Post, action.sign(URL_LIFETIME), headers, Payload::Text(complete_body(parts)))
    }

    /// AbortMultipartUpload, so no parts stay stored (and paid for).
    pub(super) fn abort_multipart_upload(&self, key: &str, name: &str, upload_id: &str, cancel: &Cancel) -> Result<()> {
        let action = self.bucket.abort_multipart_upload(Some(&self.credentials), key, upload_id);
        self.send(name, &signed(action, Vec::new(), Payload::Empty), cancel).map(|_| ())
    }

    /// DeleteObject.
    pub(super) fn delete_object(&self, key: &str, cancel: &Cancel) -> Result<()> {
        let action = self.bucket.delete_object(Some(&self.credentials), key);
        self.send(key, &signed(action, Vec::new(), Payload::Empty), cancel).map(|_| ())
    }
}

/// The body of a CompleteMultipartUpload. It is ours, not rusty-s3's: S3
/// wants the checksums of an upload created with a checksum algorithm, and
/// rusty-s3 sends only ETags.
fn complete_body(parts: &[Part]) -> String {
    let mut body = String::from("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    for part in parts {
        body.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag><ChecksumSHA256>{}</ChecksumSHA256></Part>",
            part.number,
            escape(&part.etag),
            escape(&part.checksum)
        ));
    }
    body.push_str("</CompleteMultipartUpload>");
    body
}

/// XML text escaping (an ETag is quoted: `"…"`).
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

