//! The S3 actions an upload uses, each named after the AWS API: rusty-s3
//! signs the URL, `send` carries the request.

use std::time::Duration;

use rusty_s3::actions::{CompleteMultipartUploadResponse, CreateMultipartUpload, S3Action};
use ureq::http::Method;

use super::S3Store;
use super::request::{FileRange, Payload, content_type};
use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::store::walk;

/// How long a presigned URL stays valid: a URL is signed again for each
/// request, so this covers one request with its retries.
const URL_LIFETIME: Duration = Duration::from_secs(15 * 60);

impl S3Store {
    /// PutObject: the whole file, with its checksum and Content-Type signed.
    pub(super) fn put_object(&self, key: &str, entry: &walk::Entry, cancel: &Cancel) -> Result<()> {
        let range = FileRange { path: &entry.path, key: &entry.key, offset: 0, len: entry.len };
        let checksum = range.sha256(cancel)?;
        let content_type = content_type(&entry.key);
        let mut action = self.bucket.put_object(Some(&self.credentials), key);
        action.headers_mut().insert("content-type", content_type);
        action.headers_mut().insert("x-amz-checksum-sha256", checksum.as_str());
        let url = action.sign(URL_LIFETIME);
        let headers = [("Content-Type", content_type), ("x-amz-checksum-sha256", checksum.as_str())];
        self.send(&entry.key, Method::PUT, &url, &headers, Payload::File(&range), cancel).map(|_| ())
    }

    /// CreateMultipartUpload with SHA-256 as the parts' checksum; returns the
    /// upload id.
    pub(super) fn create_multipart_upload(&self, key: &str, name: &str, cancel: &Cancel) -> Result<String> {
        let content_type = content_type(name);
        let mut action = self.bucket.create_multipart_upload(Some(&self.credentials), key);
        action.headers_mut().insert("content-type", content_type);
        action.headers_mut().insert("x-amz-checksum-algorithm", "SHA256");
        let url = action.sign(URL_LIFETIME);
        let headers = [("Content-Type", content_type), ("x-amz-checksum-algorithm", "SHA256")];
        let reply = self.send(name, Method::POST, &url, &headers, Payload::Empty, cancel)?;
        let parsed = CreateMultipartUpload::parse_response(&reply.body).map_err(|_| {
            Error::failed(format!("cannot store {name}: S3 did not answer CreateMultipartUpload with an upload id"))
        })?;
        Ok(parsed.upload_id().to_owned())
    }

    /// UploadPart: one range with its own checksum; returns (ETag, checksum).
    pub(super) fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        range: &FileRange<'_>,
        cancel: &Cancel,
    ) -> Result<(String, String)> {
        let part_number = u16::try_from(number).map_err(|_| Error::failed("a file has more parts than S3 allows"))?;
        let checksum = range.sha256(cancel)?;
        let mut action = self.bucket.upload_part(Some(&self.credentials), key, part_number, upload_id);
        action.headers_mut().insert("x-amz-checksum-sha256", checksum.as_str());
        let url = action.sign(URL_LIFETIME);
        let headers = [("x-amz-checksum-sha256", checksum.as_str())];
        let reply = self.send(range.key, Method::PUT, &url, &headers, Payload::File(range), cancel)?;
        let etag = reply.etag.ok_or_else(|| {
            Error::failed(format!("cannot store {}: S3 answered part {number} without an ETag", range.key))
        })?;
        Ok((etag, checksum))
    }

    /// CompleteMultipartUpload with each part's ETag and checksum. The body
    /// is ours, not rusty-s3's: S3 wants the checksums of an upload created
    /// with a checksum algorithm, and rusty-s3 sends only ETags.
    pub(super) fn complete_multipart_upload(
        &self,
        key: &str,
        name: &str,
        upload_id: &str,
        parts: &[(String, String)],
        cancel: &Cancel,
    ) -> Result<()> {
        let action = self.bucket.complete_multipart_upload(Some(&self.credentials), key, upload_id, std::iter::empty());
        let url = action.sign(URL_LIFETIME);
        let mut body = String::from("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
        for (i, (etag, checksum)) in parts.iter().enumerate() {
            body.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag><ChecksumSHA256>{}</ChecksumSHA256></Part>",
                i + 1,
                escape(etag),
                escape(checksum)
            ));
        }
        body.push_str("</CompleteMultipartUpload>");
        let headers = [("Content-Type", "application/xml")];
        let reply = self.send(name, Method::POST, &url, &headers, Payload::Text(&body), cancel)?;
        // An error document was dealt with in `send`; anything else that is
        // not a CompleteMultipartUploadResult is a failure too.
        CompleteMultipartUploadResponse::parse(&reply.body).map(|_| ()).map_err(|_| {
            Error::failed(format!("cannot store {name}: S3 answered CompleteMultipartUpload without a result"))
        })
    }

    /// AbortMultipartUpload, so no parts stay stored (and paid for).
    pub(super) fn abort_multipart_upload(&self, key: &str, name: &str, upload_id: &str, cancel: &Cancel) -> Result<()> {
        let url = self.bucket.abort_multipart_upload(Some(&self.credentials), key, upload_id).sign(URL_LIFETIME);
        self.send(name, Method::DELETE, &url, &[], Payload::Empty, cancel).map(|_| ())
    }

    /// DeleteObject.
    pub(super) fn delete_object(&self, key: &str, cancel: &Cancel) -> Result<()> {
        let url = self.bucket.delete_object(Some(&self.credentials), key).sign(URL_LIFETIME);
        self.send(key, Method::DELETE, &url, &[], Payload::Empty, cancel).map(|_| ())
    }
}

/// XML text escaping (an ETag is quoted: `"…"`).
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
