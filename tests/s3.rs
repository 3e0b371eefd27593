//! The S3 upload engine against s3s-fs, which checks SigV4 signatures and
//! checksums, directly and through a fault-injecting proxy. Every object is
//! read back with a signed GET and compared byte for byte and by SHA-256.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::prelude::{BASE64_STANDARD, Engine};
use build_task::cancel::Cancel;
use build_task::env::Env;
use build_task::error::Result;
use build_task::params::Params;
use build_task::store::s3::S3Store;
use build_task::store::{Store, Summary};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use sha2::{Digest, Sha256};

use crate::support::TempDir;
use crate::support::proxy::{Fault, Proxy};
use crate::support::s3::{ACCESS_KEY, REGION, S3Server, SECRET_KEY};

const BUCKET: &str = "artifacts";
const TASK: u64 = 7;
const PREFIX: &str = "_tasks/artifacts/7/";
const MIB: usize = 1024 * 1024;
/// Files of 5 MiB and more go up in 5 MiB parts.
const IN_PARTS: [(&str, &str); 2] =
    [("BUILD_TASK_MULTIPART_THRESHOLD", "5M"), ("BUILD_TASK_MULTIPART_PART_SIZE", "5M")];

/// A store writing to `endpoint` with `secret`, configured by `env`.
fn store(endpoint: &str, bucket: &str, secret: &str, env: &[(&str, &str)]) -> S3Store {
    let params = format!(
        r#"{{"STATUS_CALLBACK":"http://127.0.0.1:1/cb","TASK_ID":{TASK},"AWS_DEFAULT_REGION":"{REGION}","AWS_ACCESS_KEY_ID":"{ACCESS_KEY}","AWS_SECRET_ACCESS_KEY":"{secret}","BUCKET":"{bucket}"}}"#
    );
    let params = Params::parse(&params, None).map_err(|e| e.error.to_string()).expect("test params parse");
    let mut pairs = vec![("AWS_ENDPOINT_URL_S3", endpoint)];
    pairs.extend_from_slice(env);
    let env = Env::from_pairs(pairs);
    S3Store::new(&params, &env, build_task::http::agent(&env)).expect("a store")
}

fn upload(store: &S3Store, dir: &Path) -> Result<Summary> {
    store.put_artifact(dir, &Cancel::new())
}

/// Pseudo-random bytes, so parts differ from each other.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

/// Writes files (creating their directories) and returns them by key.
fn artifact(dir: &Path, files: &[(&str, Vec<u8>)]) -> BTreeMap<String, Vec<u8>> {
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    files.iter().map(|(n, b)| (format!("{PREFIX}{n}"), b.clone())).collect()
}

/// What a GET of an object gives back.
struct Got {
    status: u16,
    content_type: String,
    etag: String,
    /// The SHA-256 S3 recorded when it stored the object (checksum mode).
    checksum: String,
    body: Vec<u8>,
}

/// A signed GET through S3, asking for the stored checksum.
fn get(s3: &S3Server, key: &str) -> Got {
    let bucket = Bucket::new(s3.endpoint().parse().unwrap(), UrlStyle::Path, BUCKET, REGION).unwrap();
    let credentials = Credentials::new(ACCESS_KEY, SECRET_KEY);
    let mut action = bucket.get_object(Some(&credentials), key);
    action.headers_mut().insert("x-amz-checksum-mode", "ENABLED");
    let url = action.sign(Duration::from_secs(60));
    let response = ureq::get(url.as_str())
        .header("x-amz-checksum-mode", "ENABLED")
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap();
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (status, content_type, etag) = (response.status().as_u16(), header("content-type"), header("etag"));
    let checksum = header("x-amz-checksum-sha256");
    let body = response.into_body().with_config().limit(u64::MAX).read_to_vec().unwrap();
    Got { status, content_type, etag, checksum, body }
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

/// The bucket holds exactly `expected`, and each object reads back whole.
fn assert_stored(s3: &S3Server, expected: &BTreeMap<String, Vec<u8>>) {
    let keys: Vec<&String> = expected.keys().collect();
    assert_eq!(s3.keys(BUCKET).iter().collect::<Vec<_>>(), keys, "exactly the artifact's keys are stored");
    for (key, bytes) in expected {
        let got = get(s3, key);
        assert_eq!(got.status, 200, "GET {key}");
        assert_eq!(got.body.len(), bytes.len(), "{key}: length");
        assert!(got.body == *bytes, "{key}: the bytes read back differ");
        // One PUT: S3 kept the SHA-256 it verified. In parts (an ETag ending
        // in -N) S3 keeps a checksum of the parts' checksums, s3s-fs none.
        if !got.etag.trim_matches('"').contains('-') {
            assert_eq!(got.checksum, BASE64_STANDARD.encode(sha256(bytes)), "{key}: the checksum S3 kept");
        }
        assert_eq!(got.content_type, build_task::store::s3::content_type(key), "{key}: Content-Type");
    }
}

#[test]
fn small_nested_empty_and_oddly_named_files_round_trip_exactly() {
    let Some(s3) = S3Server::start(BUCKET) else { return };
    let dir = TempDir::new("s3-small");
    let expected = artifact(
        dir.path(),
        &[
            ("index.json", b"{\"ok\":true}".to_vec()),
            ("empty.txt", Vec::new()),
            ("a/b/c/deep.html", b"<p>deep</p>".to_vec()),
            ("with space.txt", b"space".to_vec()),
            ("ünïcødé-日本.json", b"[1]".to_vec()),
            ("plus+sign.css", b"a{}".to_vec()),
            ("per%25cent.js", b"1".to_vec()),
            ("hash#tag.csv", b"a,b".to_vec()),
            ("what?.xml", b"<a/>".to_vec()),
            ("eq=ual.svg", b"<svg/>".to_vec()),
            ("all of + % # ? = é/x y.png", noise(3000, 1)),
            ("report.pdf", noise(70_000, 2)),
        ],
    );
    std::fs::create_dir_all(dir.path().join("empty-dir/inner")).unwrap();
    let summary = upload(&store(&s3.endpoint(), BUCKET, SECRET_KEY, &[]), dir.path()).unwrap();
    assert_eq!(summary.objects, expected.len());
    assert_eq!(summary.bytes, expected.values().map(|b| b.len() as u64).sum::<u64>());
    assert_stored(&s3, &expected);
}

#[test]
fn an_empty_directory_stores_nothing_and_a_single_file_is_keyed_by_its_name() {
    let Some(s3) = S3Server::start(BUCKET) else { return };
    let dir = TempDir::new("s3-empty");
    let store = store(&s3.endpoint(), BUCKET, SECRET_KEY, &[]);
    assert_eq!(upload(&store, dir.path()).unwrap(), Summary { objects: 0, bytes: 0 });
    assert!(s3.keys(BUCKET).is_empty());
    let expected = artifact(dir.path(), &[("report.json", b"[]".to_vec())]);
    assert_eq!(upload(&store, &dir.path().join("report.json")).unwrap(), Summary { objects: 1, bytes: 2 });
    assert_stored(&s3, &expected);
}

#[test]
fn a_large_file_goes_up_in_parts_beside_small_files_and_round_trips() {
    let Some(s3) = S3Server::start(BUCKET) else { return };
    let proxy = Proxy::start(s3.port, &[]);
    let dir = TempDir::new("s3-large");
    let expected = artifact(
        dir.path(),
        &[
            ("big/video.bin", noise(12 * MIB + 12_345, 3)),
            ("index.json", b"{}".to_vec()),
            ("a.txt", noise(5 * MIB - 1, 4)),
        ],
    );
    upload(&store(&proxy.endpoint(), BUCKET, SECRET_KEY, &IN_PARTS), dir.path()).unwrap();
    assert_stored(&s3, &expected);
    // Three parts, each sent once; the 5 MiB - 1 file went up whole.
    assert_eq!(proxy.count("&uploads="), 1, "{:?}", proxy.requests());
    assert_eq!(proxy.count("partNumber="), 3, "{:?}", proxy.requests());
    assert_eq!(proxy.count("PUT /artifacts/_tasks/artifacts/7/a.txt?"), 1);
    assert!(get(&s3, &format!("{PREFIX}big/video.bin")).etag.ends_with("-3\""), "a three-part ETag");
}

#[test]
fn a_wrong_secret_fails_with_signature_does_not_match_and_the_key() {
    let Some(s3) = S3Server::start(BUCKET) else { return };
    let dir = TempDir::new("s3-secret");
    artifact(dir.path(), &[("index.json", b"{}".to_vec())]);
    let err = upload(&store(&s3.endpoint(), BUCKET, "not-the-secret", &[]), dir.path()).unwrap_err();
    assert!(err.message().starts_with("cannot store index.json: S3 answered 403: SignatureDoesNotMatch"), "{err}");
    assert!(!err.message().contains("not-the-secret"), "no secret in errors: {err}");
    assert!(s3.keys(BUCKET).is_empty());
}

#[test]
fn a_missing_bucket_fails_at_once_with_no_such_bucket() {
    let Some(s3) = S3Server::start(BUCKET) else { return };
    // s3s-fs makes a bucket's folder on PutObject, so S3's answer for a
    // missing bucket comes from the proxy.
    let proxy = Proxy::start(s3.port, &[("PUT /no-such-bucket/", Fault::NoSuchBucket)]);
    let dir = TempDir::new("s3-bucket");
    artifact(dir.path(), &[("index.json", b"{}".to_vec())]);
    let err = upload(&store(&proxy.endpoint(), "no-such-bucket", SECRET_KEY, &[]), dir.path()).unwrap_err();
    assert_eq!(
        err.message(),
        "cannot store index.json: S3 answered 404: NoSuchBucket: The specified bucket does not exist"
    );
    assert_eq!(proxy.count("PUT "), 1, "a 404 is not retried");
}

#[test]
fn slow_down_then_success_is_retried() {
    let Some(s3) = S3Server::start(BUCKET) else { return };
    let put_b = "PUT /artifacts/_tasks/artifacts/7/b.txt?";
    let proxy = Proxy::start(s3.port, &[(put_b, Fault::SlowDown), ("&uploads=", Fault::SlowDown)]);
    let dir = TempDir::new("s3-503");
    let expected =
        artifact(dir.path(), &[("a.txt", b"a".to_vec()), ("b.txt", noise(100_000, 5)), ("big.bin", noise(6 * MIB, 6))]);
    upload(&store(&proxy.endpoint(), BUCKET, SECRET_KEY, &IN_PARTS), dir.path()).unwrap();
    assert_eq!(proxy.count(put_b), 2, "{:?}", proxy.requests());
    assert_eq!(proxy.count("&uploads="), 2, "{:?}", proxy.requests());
    assert_stored(&s3, &expected);
}

#[test]
fn a_reset_mid_body_is_retried_and_leaves_no_partial_object() {
    let Some(s3) = S3Server::start(BUCKET) else { return };
    let put_b = "PUT /artifacts/_tasks/artifacts/7/b.bin?";
    let proxy = Proxy::start(s3.port, &[(put_b, Fault::ResetMidBody), ("partNumber=2", Fault::ResetMidBody)]);
    let dir = TempDir::new("s3-reset");
    let expected = artifact(dir.path(), &[("b.bin", noise(2 * MIB, 7)), ("big.bin", noise(11 * MIB, 8))]);
    upload(&store(&proxy.endpoint(), BUCKET, SECRET_KEY, &IN_PARTS), dir.path()).unwrap();
    assert_eq!(proxy.count(put_b), 2, "{:?}", proxy.requests());
    assert_eq!(proxy.count("partNumber=2"), 2, "{:?}", proxy.requests());
    assert_stored(&s3, &expected);
}

#[test]
fn a_hung_response_times_out_and_is_retried() {
    let Some(s3) = S3Server::start(BUCKET) else { return };
    let put = "PUT /artifacts/_tasks/artifacts/7/index.json?";
    let proxy = Proxy::start(s3.port, &[(put, Fault::Hang)]);
    let dir = TempDir::new("s3-hang");
    let expected = artifact(dir.path(), &[("index.json", b"{\"a\":1}".to_vec())]);
    let started = Instant::now();
    upload(&store(&proxy.endpoint(), BUCKET, SECRET_KEY, &[("BUILD_TASK_S3_TIMEOUT", "1")]), dir.path()).unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "the time-out is the configured one");
    assert_eq!(proxy.count(put), 2, "{:?}", proxy.requests());
    assert_stored(&s3, &expected);
}

#[test]
fn a_lasting_failure_gives_up_names_the_key_and_removes_what_this_run_stored() {
    let Some(s3) = S3Server::start(BUCKET) else { return };
    let put_z = "PUT /artifacts/_tasks/artifacts/7/z.txt?";
    let proxy = Proxy::start(s3.port, &[(put_z, Fault::AlwaysSlowDown)]);
    let dir = TempDir::new("s3-giveup");
    // z.txt is the largest small file, so it goes first and the others
    // are stored while it is retried.
    artifact(
        dir.path(),
        &[
            ("a.txt", b"a".to_vec()),
            ("b.txt", b"b".to_vec()),
            ("z.txt", noise(50_000, 9)),
            ("big.bin", noise(6 * MIB, 10)),
        ],
    );
    let env = [
        ("BUILD_TASK_MULTIPART_THRESHOLD", "5M"),
        ("BUILD_TASK_MULTIPART_PART_SIZE", "5M"),
        ("BUILD_TASK_S3_WORKERS", "2"),
    ];
    let err = upload(&store(&proxy.endpoint(), BUCKET, SECRET_KEY, &env), dir.path()).unwrap_err();
    assert_eq!(
        err.message(),
        "gave up after 5 tries: cannot store z.txt: S3 answered 503: SlowDown: Please reduce your request rate."
    );
    assert_eq!(proxy.count(put_z), 5);
    assert!(s3.keys(BUCKET).is_empty(), "left behind: {:?}", s3.keys(BUCKET));
    assert_eq!(
        proxy.count_all(&["DELETE /artifacts/_tasks/artifacts/7/big.bin?", "&uploadId="]),
        1,
        "{:?}",
        proxy.requests()
    );
}

#[test]
fn an_object_s3_stored_but_whose_answer_was_lost_is_removed_after_the_failure() {
    let Some(s3) = S3Server::start(BUCKET) else { return };
    let put = "PUT /artifacts/_tasks/artifacts/7/index.json?";
    let proxy = Proxy::start(s3.port, &[(put, Fault::LoseAnswer)]);
    let dir = TempDir::new("s3-lost-answer");
    artifact(dir.path(), &[("index.json", b"{\"a\":1}".to_vec()), ("other.txt", b"x".to_vec())]);
    let err = upload(&store(&proxy.endpoint(), BUCKET, SECRET_KEY, &[]), dir.path()).unwrap_err();
    assert!(err.message().starts_with("gave up after 5 tries: cannot store index.json:"), "{err}");
    assert_eq!(proxy.count(put), 5);
    assert!(s3.keys(BUCKET).is_empty(), "left behind: {:?}", s3.keys(BUCKET));
}

#[test]
fn a_complete_answered_200_with_an_internal_error_is_retried() {
    let Some(s3) = S3Server::start(BUCKET) else { return };
    let complete = "SignedHeaders=host&uploadId=";
    let proxy = Proxy::start(s3.port, &[(complete, Fault::OkWithError)]);
    let dir = TempDir::new("s3-ok-error");
    let expected = artifact(dir.path(), &[("big.bin", noise(6 * MIB, 16))]);
    upload(&store(&proxy.endpoint(), BUCKET, SECRET_KEY, &IN_PARTS), dir.path()).unwrap();
    assert_eq!(proxy.count_all(&["POST ", complete]), 2, "{:?}", proxy.requests());
    assert_stored(&s3, &expected);
}

#[test]
fn a_complete_whose_result_comes_after_seconds_of_whitespace_is_a_success() {
    let Some(s3) = S3Server::start(BUCKET) else { return };
    let complete = "SignedHeaders=host&uploadId=";
    let proxy = Proxy::start(s3.port, &[(complete, Fault::Padded(Duration::from_secs(3)))]);
    let dir = TempDir::new("s3-padded-complete");
    let expected = artifact(dir.path(), &[("big.bin", noise(6 * MIB, 17))]);
    upload(&store(&proxy.endpoint(), BUCKET, SECRET_KEY, &IN_PARTS), dir.path()).unwrap();
    assert_eq!(proxy.count_all(&["POST ", complete]), 1, "{:?}", proxy.requests());
    assert_stored(&s3, &expected);
}

#[test]
fn a_complete_answered_200_with_whitespace_then_an_internal_error_is_retried() {
    let Some(s3) = S3Server::start(BUCKET) else { return };
    let complete = "SignedHeaders=host&uploadId=";
    let proxy = Proxy::start(s3.port, &[(complete, Fault::PaddedError(Duration::from_millis(600)))]);
    let dir = TempDir::new("s3-padded-error");
    let expected = artifact(dir.path(), &[("big.bin", noise(6 * MIB, 18))]);
    upload(&store(&proxy.endpoint(), BUCKET, SECRET_KEY, &IN_PARTS), dir.path()).unwrap();
    assert_eq!(proxy.count_all(&["POST ", complete]), 2, "{:?}", proxy.requests());
    assert_stored(&s3, &expected);
}

#[test]
fn a_multipart_upload_completed_but_whose_answer_was_lost_is_removed_after_the_failure() {
    let Some(s3) = S3Server::start(BUCKET) else { return };
    // Only CompleteMultipartUpload and AbortMultipartUpload sign no header
    // but the host; the abort's answer is lost too, but S3 has aborted.
    let complete = "SignedHeaders=host&uploadId=";
    let proxy = Proxy::start(s3.port, &[(complete, Fault::LoseAnswer)]);
    let dir = TempDir::new("s3-lost-complete");
    artifact(dir.path(), &[("big.bin", noise(6 * MIB, 15))]);
    let result = upload(&store(&proxy.endpoint(), BUCKET, SECRET_KEY, &IN_PARTS), dir.path());
    let err = result.expect_err(&format!("{:?}", proxy.requests()));
    assert!(err.message().contains("cannot store big.bin"), "{err}");
    assert!(proxy.count(complete) >= 1, "{:?}", proxy.requests());
    assert!(s3.keys(BUCKET).is_empty(), "left behind: {:?}", s3.keys(BUCKET));
}

/// The README promises the clean-up after a failure "within 5 seconds":
/// Cloud Foundry's SIGKILL comes 10 s after its SIGTERM, and the error
/// status must still go out. S3 hangs every DELETE here (an object's, an
/// abort's), so only the clean-up's own bounds end it.
fn assert_clean_up_is_bounded_when_s3_hangs_its_deletes(
    files: &[(&str, Vec<u8>)],
    refused: &str,
    env: &[(&str, &str)],
) {
    let Some(s3) = S3Server::start(BUCKET) else { return };
    let proxy = Proxy::start(
        s3.port,
        &[(refused, Fault::Error(403, "AccessDenied", "Access Denied")), ("DELETE ", Fault::AlwaysHang)],
    );
    let dir = TempDir::new("s3-clean-up-hangs");
    artifact(dir.path(), files);
    let failed = Instant::now();
    let err = upload(&store(&proxy.endpoint(), BUCKET, SECRET_KEY, env), dir.path()).expect_err("a refused upload");
    assert!(err.message().contains("AccessDenied"), "{err}");
    assert!(proxy.count("DELETE ") >= 1, "the clean-up was tried: {:?}", proxy.requests());
    // The failing request itself is quick here (a 403 at once): what is
    // left is the clean-up, 5 s at most, and slack for a loaded machine
    // (before the bound it took 61 s).
    assert!(failed.elapsed() < Duration::from_secs(7), "{:?}: {:?}", failed.elapsed(), proxy.requests());
}

#[test]
fn the_clean_up_ends_within_5_seconds_when_s3_hangs_every_delete() {
    let files = [("a.txt", b"first".to_vec()), ("b.txt", b"second".to_vec())];
    assert_clean_up_is_bounded_when_s3_hangs_its_deletes(&files, "PUT /artifacts/_tasks/artifacts/7/b.txt?", &[]);
}

#[test]
fn the_clean_up_ends_within_5_seconds_when_s3_hangs_every_abort() {
    let files = [("big.bin", noise(6 * MIB, 19))];
    assert_clean_up_is_bounded_when_s3_hangs_its_deletes(&files, "SignedHeaders=host&uploadId=", &IN_PARTS);
}

#[test]
fn a_file_that_shrinks_while_it_is_uploaded_is_an_error() {
    let Some(s3) = S3Server::start(BUCKET) else { return };
    let put = "PUT /artifacts/_tasks/artifacts/7/f.bin?";
    let proxy = Proxy::start(s3.port, &[(put, Fault::Hang)]);
    let dir = TempDir::new("s3-shrink");
    artifact(dir.path(), &[("f.bin", noise(100_000, 11))]);
    let store = store(&proxy.endpoint(), BUCKET, SECRET_KEY, &[("BUILD_TASK_S3_TIMEOUT", "1")]);
    let path = dir.path().join("f.bin");
    let err = std::thread::scope(|s| {
        let run = s.spawn(|| upload(&store, dir.path()));
        // While the first try hangs, the file loses half its bytes.
        std::thread::sleep(Duration::from_millis(300));
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(50_000).unwrap();
        run.join().unwrap().unwrap_err()
    });
    assert_eq!(err.message(), "cannot store f.bin: the file shrank while it was being uploaded");
    assert!(s3.keys(BUCKET).is_empty());
}

#[test]
fn a_cancel_stops_the_workers_and_aborts_the_multipart_upload() {
    let Some(s3) = S3Server::start(BUCKET) else { return };
    let proxy = Proxy::start(s3.port, &[("partNumber=2", Fault::Hang)]);
    let dir = TempDir::new("s3-cancel");
    artifact(dir.path(), &[("big.bin", noise(16 * MIB, 12))]);
    let env = [
        ("BUILD_TASK_MULTIPART_THRESHOLD", "5M"),
        ("BUILD_TASK_MULTIPART_PART_SIZE", "5M"),
        ("BUILD_TASK_S3_TIMEOUT", "2"),
    ];
    let store = store(&proxy.endpoint(), BUCKET, SECRET_KEY, &env);
    let cancel = Cancel::new();
    let started = Instant::now();
    let err = std::thread::scope(|s| {
        let run = s.spawn(|| store.put_artifact(dir.path(), &cancel));
        std::thread::sleep(Duration::from_millis(500));
        cancel.trigger(libc::SIGTERM);
        run.join().unwrap().unwrap_err()
    });
    assert_eq!(err.exit_code(), 143, "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "stopped within the time-out: {:?}", started.elapsed());
    assert_eq!(
        proxy.count_all(&["DELETE /artifacts/_tasks/artifacts/7/big.bin?", "&uploadId="]),
        1,
        "{:?}",
        proxy.requests()
    );
    assert!(s3.keys(BUCKET).is_empty());
}

#[test]
fn a_file_that_grows_while_it_is_uploaded_is_an_error_and_its_object_is_removed() {
    let Some(s3) = S3Server::start(BUCKET) else { return };
    let put = "PUT /artifacts/_tasks/artifacts/7/g.bin?";
    let proxy = Proxy::start(s3.port, &[(put, Fault::Hang)]);
    let dir = TempDir::new("s3-grow");
    artifact(dir.path(), &[("g.bin", noise(100_000, 13))]);
    let store = store(&proxy.endpoint(), BUCKET, SECRET_KEY, &[("BUILD_TASK_S3_TIMEOUT", "1")]);
    let path = dir.path().join("g.bin");
    let err = std::thread::scope(|s| {
        let run = s.spawn(|| upload(&store, dir.path()));
        // While the first try hangs, the file gets a tail; the second try
        // sends the bytes that were hashed, which S3 accepts.
        std::thread::sleep(Duration::from_millis(300));
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"tail").unwrap();
        run.join().unwrap().unwrap_err()
    });
    assert_eq!(err.message(), "g.bin changed while it was being uploaded");
    assert_eq!(proxy.count(put), 2);
    assert_eq!(proxy.count("DELETE /artifacts/_tasks/artifacts/7/g.bin?"), 1, "{:?}", proxy.requests());
    assert!(s3.keys(BUCKET).is_empty());
}

#[test]
fn a_run_whose_upload_is_refused_reports_an_error_naming_the_object_and_s3s_code() {
    use crate::support::callback::{CallbackServer, field};
    use crate::support::net::PublicNet;
    use crate::support::web::{Reply, WebServer};
    use crate::support::{Params as TaskParams, deployed, enc, stderr};

    let Some(net) = PublicNet::new() else { return };
    net.enter(|| {
        let Some(s3) = S3Server::start(BUCKET) else { return };
        let cb = CallbackServer::start(TASK);
        let site = WebServer::start_on(PublicNet::SITE_IP, 0, |_| Reply::html("<html>hello</html>")).unwrap();
        let params = TaskParams {
            callback: &cb.url(),
            task_id: TASK,
            region: REGION,
            access_key: ACCESS_KEY,
            secret_key: "not-the-secret",
            bucket: BUCKET,
        };
        let tmp = TempDir::new("s3-run");
        let out = deployed(&s3.endpoint(), tmp.path())
            .args(["example", "-t", &enc(&site.url("/")), "-p", &params.encrypted()])
            .output()
            .unwrap();
        assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(cb.statuses(), ["processing", "error"]);
        let message = field(&cb.bodies()[1], "message").unwrap();
        assert!(
            message.starts_with("the upload failed: cannot store index.json: S3 answered 403: SignatureDoesNotMatch"),
            "{message}"
        );
        assert!(s3.keys(BUCKET).is_empty());
    })
}

#[test]
fn a_body_changed_on_the_way_is_refused_by_its_checksum_with_bad_digest() {
    let Some(s3) = S3Server::start(BUCKET) else { return };
    let put = "PUT /artifacts/_tasks/artifacts/7/index.json?";
    let proxy = Proxy::start(s3.port, &[(put, Fault::Corrupt)]);
    let dir = TempDir::new("s3-digest");
    artifact(dir.path(), &[("index.json", b"{\"a\":1}".to_vec())]);
    let err = upload(&store(&proxy.endpoint(), BUCKET, SECRET_KEY, &[]), dir.path()).unwrap_err();
    assert!(err.message().starts_with("cannot store index.json: S3 answered 400: BadDigest"), "{err}");
    assert_eq!(proxy.count(put), 1, "a 400 is not retried");
    // s3s-fs, unlike S3, keeps the corrupt object; the clean-up removes it.
    assert!(s3.keys(BUCKET).is_empty(), "left behind: {:?}", s3.keys(BUCKET));
}

#[test]
fn every_part_carries_its_own_checksum_and_a_part_changed_on_the_way_is_refused_with_bad_digest() {
    let Some(s3) = S3Server::start(BUCKET) else { return };
    // Every PUT checked as S3 checks it: the parts' checksums are right.
    let proxy = Proxy::start(s3.port, &[("PUT ", Fault::Checked)]);
    let dir = TempDir::new("s3-part-checked");
    let expected = artifact(dir.path(), &[("big.bin", noise(6 * MIB, 20))]);
    upload(&store(&proxy.endpoint(), BUCKET, SECRET_KEY, &IN_PARTS), dir.path()).unwrap();
    assert_eq!(proxy.count("partNumber="), 2, "{:?}", proxy.requests());
    assert_stored(&s3, &expected);

    // The second part changed on the way: refused, the upload aborted.
    let Some(s3) = S3Server::start(BUCKET) else { return };
    let proxy = Proxy::start(s3.port, &[("partNumber=2", Fault::CorruptChecked), ("PUT ", Fault::Checked)]);
    let dir = TempDir::new("s3-part-digest");
    artifact(dir.path(), &[("big.bin", noise(6 * MIB, 21))]);
    let err = upload(&store(&proxy.endpoint(), BUCKET, SECRET_KEY, &IN_PARTS), dir.path()).unwrap_err();
    assert!(err.message().contains("S3 answered 400: BadDigest"), "{err}");
    assert_eq!(proxy.count("partNumber=2"), 1, "a 400 is not retried");
    assert!(s3.keys(BUCKET).is_empty(), "left behind: {:?}", s3.keys(BUCKET));
}

#[test]
fn a_cancel_does_not_wait_for_a_part_s3_never_answers() {
    let Some(s3) = S3Server::start(BUCKET) else { return };
    let proxy = Proxy::start(s3.port, &[("partNumber=2", Fault::Hang)]);
    let dir = TempDir::new("s3-cancel-hang");
    artifact(dir.path(), &[("big.bin", noise(16 * MIB, 14))]);
    // The default time-out (60 s): only leaving the worker behind is quick.
    let store = store(&proxy.endpoint(), BUCKET, SECRET_KEY, &IN_PARTS);
    let cancel = Cancel::new();
    assert!(
        std::thread::scope(|s| {
            let run = s.spawn(|| store.put_artifact(dir.path(), &cancel));
            while proxy.count("partNumber=2") == 0 {
                std::thread::sleep(Duration::from_millis(10));
            }
            std::thread::sleep(Duration::from_millis(200));
            let cancelled = Instant::now();
            cancel.trigger(libc::SIGTERM);
            let err = run.join().unwrap().unwrap_err();
            assert_eq!(err.exit_code(), 143, "{err}");
            cancelled.elapsed() < Duration::from_secs(2)
        }),
        "the clean-up waited for the hung part"
    );
    assert_eq!(
        proxy.count_all(&["DELETE /artifacts/_tasks/artifacts/7/big.bin?", "&uploadId="]),
        1,
        "{:?}",
        proxy.requests()
    );
    assert!(s3.keys(BUCKET).is_empty());
}
