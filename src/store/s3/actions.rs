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
#[derive(Clone)]
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
        // not a CompleteMultipartUploadResult is a failure too. S3 sends
        // whitespace before the result while it completes a large upload.
        CompleteMultipartUploadResponse::parse(reply.body.trim_start()).map(|_| ()).map_err(|_| {
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

// The requests checked as values, the way rusty-s3 checks its actions
// against AWS's worked examples. rusty-s3 takes a fixed time only as a
// `jiff::Timestamp`, not a dependency of ours, so these requests are signed
// now: every part of them but X-Amz-Date and X-Amz-Signature is compared as
// it is, and the signature is worked out again here from the spec, a check
// itself held to AWS's published example.
#[cfg(test)]
mod tests {
    use rusty_s3::{Bucket, Credentials, UrlStyle};
    use sha2::{Digest, Sha256};
    use url::Url;

    use super::*;
    use crate::env::Env;
    use crate::store::s3::Config;

    // The credentials of AWS's SigV4 examples.
    const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn store() -> S3Store {
        let endpoint = "https://s3.us-gov-west-1.amazonaws.com".parse().unwrap();
        S3Store {
            bucket: Bucket::new(endpoint, UrlStyle::VirtualHost, "examplebucket", "us-gov-west-1").unwrap(),
            credentials: Credentials::new(ACCESS_KEY, SECRET_KEY),
            prefix: "_tasks/artifacts/7/".to_owned(),
            agent: crate::http::agent(&Env::default()),
            config: Config::default(),
        }
    }

    /// HMAC-SHA256 (RFC 2104), for checking signatures.
    fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut block = [0u8; 64];
        block[..key.len()].copy_from_slice(key); // the keys here are short
        let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
        let inner = Sha256::new().chain_update(pad(0x36)).chain_update(data).finalize();
        Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().to_vec()
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Percent-encoding as SigV4 wants it: all but `A-Za-z0-9-._~`.
    fn encode(text: &str) -> String {
        let keep = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
        text.bytes().map(|b| if keep(b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
    }

    /// The signature of a presigned URL, worked out from the request as the
    /// SigV4 specification says (a query-string signature, payload unsigned),
    /// independently of rusty-s3; checked against AWS's example below.
    fn signature(method: &str, url: &Url, headers: &[(&str, &str)], secret: &str) -> String {
        let query = |name: &str| url.query_pairs().find(|(n, _)| n == name).map(|(_, v)| v.into_owned()).unwrap();
        let date = query("X-Amz-Date");
        let scope = query("X-Amz-Credential").split_once('/').unwrap().1.to_owned();
        let mut pairs: Vec<String> = (url.query_pairs())
            .filter(|(name, _)| name != "X-Amz-Signature")
            .map(|(name, value)| format!("{}={}", encode(&name), encode(&value)))
            .collect();
        pairs.sort();
        let signed = query("X-Amz-SignedHeaders");
        let host = url.host_str().unwrap().to_owned();
        let value =
            |name: &str| if name == "host" { host.as_str() } else { headers.iter().find(|h| h.0 == name).unwrap().1 };
        let canonical_headers: String = signed.split(';').map(|name| format!("{name}:{}\n", value(name))).collect();
        let canonical_request =
            [method, url.path(), &pairs.join("&"), &canonical_headers, &signed, "UNSIGNED-PAYLOAD"].join("\n");
        let to_sign =
            ["AWS4-HMAC-SHA256", &date, &scope, &hex(&Sha256::digest(canonical_request.as_bytes()))].join("\n");
        let mut key = format!("AWS4{secret}").into_bytes();
        for part in scope.split('/') {
            key = hmac(&key, part.as_bytes());
        }
        hex(&hmac(&key, to_sign.as_bytes()))
    }

    /// A request's query parameters but the time and signature, which
    /// depend on the clock.
    fn fixed_query(url: &Url) -> Vec<(String, String)> {
        (url.query_pairs())
            .filter(|(name, _)| name != "X-Amz-Date" && name != "X-Amz-Signature")
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect()
    }

    fn date_of(url: &Url) -> String {
        url.query_pairs().find(|(name, _)| name == "X-Amz-Date").unwrap().1[..8].to_owned()
    }

    fn check_signature(request: &Request<'_>) {
        let expected = signature(request.method.to_str(), &request.url, &request.headers, SECRET_KEY);
        let got = request.url.query_pairs().find(|(name, _)| name == "X-Amz-Signature").unwrap().1.into_owned();
        assert_eq!(got, expected, "{}", request.url);
    }

    #[test]
    fn the_signature_check_reproduces_awss_presigned_url_example() {
        // "Authenticating Requests: Using Query Parameters (AWS Signature
        // Version 4)", Amazon S3 API Reference: GET examplebucket/test.txt,
        // Fri, 24 May 2013 00:00:00 GMT, valid for 86400 s.
        let url: Url = "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host".parse().unwrap();
        assert_eq!(
            signature("GET", &url, &[], SECRET_KEY),
            "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    #[test]
    fn a_put_object_signs_and_sends_its_checksum_type_and_length() {
        let store = store();
        let range = FileRange { path: "site/index.html".as_ref(), key: "index.html", offset: 0, len: 1234 };
        let checksum = "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=";
        let request = store.put_object_request("_tasks/artifacts/7/index.html", &range, checksum);
        assert_eq!(request.method, Method::Put);
        assert_eq!(
            request.headers,
            [("content-type", "text/html; charset=utf-8"), ("x-amz-checksum-sha256", checksum)]
        );
        assert_eq!(request.content_length, Some(1234));
        assert!(matches!(request.payload, Payload::File(r) if r.offset == 0 && r.len == 1234));
        let url = &request.url;
        assert_eq!(
            url[..url::Position::AfterPath],
            *"https://examplebucket.s3.us-gov-west-1.amazonaws.com/_tasks/artifacts/7/index.html"
        );
        let credential = format!("{ACCESS_KEY}/{}/us-gov-west-1/s3/aws4_request", date_of(url));
        let expected = [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Credential", &credential),
            ("X-Amz-Expires", "900"),
            ("X-Amz-SignedHeaders", "content-type;host;x-amz-checksum-sha256"),
        ];
        assert_eq!(fixed_query(url), expected.map(|(n, v)| (n.to_owned(), v.to_owned())));
        check_signature(&request);
    }

    #[test]
    fn an_upload_part_signs_its_number_upload_id_and_checksum() {
        let store = store();
        let range = FileRange { path: "big.bin".as_ref(), key: "big.bin", offset: 10 << 20, len: 5 << 20 };
        let checksum = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        let key = "_tasks/artifacts/7/big.bin";
        let request = store.upload_part_request(key, "up/load+id", 3, &range, checksum).unwrap();
        assert_eq!(request.method, Method::Put);
        assert_eq!(request.headers, [("x-amz-checksum-sha256", checksum)]);
        assert_eq!(request.content_length, Some(5 << 20));
        let query = fixed_query(&request.url);
        assert!(query.contains(&("partNumber".to_owned(), "3".to_owned())), "{query:?}");
        assert!(query.contains(&("uploadId".to_owned(), "up/load+id".to_owned())), "{query:?}");
        assert!(query.contains(&("X-Amz-SignedHeaders".to_owned(), "host;x-amz-checksum-sha256".to_owned())));
        check_signature(&request);
        assert!(store.upload_part_request(key, "id", 70_000, &range, "").is_err(), "past u16");
    }

    #[test]
    fn complete_multipart_upload_names_each_part_with_its_etag_and_checksum() {
        let store = store();
        let parts = [
            Part { number: 1, etag: "\"a54357aff0632cce46d942af68356b38\"".to_owned(), checksum: "AAA=".to_owned() },
            Part { number: 2, etag: "\"0c78aef83f66abc1fa1e8477f296d394\"".to_owned(), checksum: "B/+=".to_owned() },
        ];
        let request = store.complete_multipart_upload_request("_tasks/artifacts/7/big.bin", "id", &parts);
        assert_eq!(request.method, Method::Post);
        let Payload::Text(body) = &request.payload else { panic!("a text body") };
        assert_eq!(
            body,
            "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <Part><PartNumber>1</PartNumber><ETag>&quot;a54357aff0632cce46d942af68356b38&quot;</ETag>\
             <ChecksumSHA256>AAA=</ChecksumSHA256></Part>\
             <Part><PartNumber>2</PartNumber><ETag>&quot;0c78aef83f66abc1fa1e8477f296d394&quot;</ETag>\
             <ChecksumSHA256>B/+=</ChecksumSHA256></Part>\
             </CompleteMultipartUpload>"
        );
        assert_eq!(request.headers, [("content-type", "application/xml")]);
        assert_eq!(request.content_length, Some(body.len() as u64));
        // Only the host is signed (tests/s3.rs tells the request by that).
        assert!(request.url.as_str().contains("X-Amz-SignedHeaders=host&uploadId=id"), "{}", request.url);
        check_signature(&request);
    }
}
