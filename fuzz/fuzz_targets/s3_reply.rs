//! Whatever an S3 endpoint answers, reading it never panics: the error
//! document summary and the two answers an upload parses.
#![no_main]

use build_task::store::s3::s3_error;
use libfuzzer_sys::fuzz_target;
use rusty_s3::actions::{CompleteMultipartUploadResponse, CreateMultipartUpload};

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    let summary = s3_error(&body);
    assert!(summary.is_empty() || summary.starts_with(": "));
    let _ = CreateMultipartUpload::parse_response(&body);
    let _ = CompleteMultipartUploadResponse::parse(&body);
});
