//! Uploads a directory (or file) with the S3 store, as a run does with a
//! task's artifact: the bench's build-task side (bench/upload/run.sh).
//!
//! `upload <endpoint> <bucket> <task id> <path>`, with AWS_ACCESS_KEY_ID,
//! AWS_SECRET_ACCESS_KEY and AWS_DEFAULT_REGION in the environment and the
//! BUILD_TASK_S3_* / BUILD_TASK_MULTIPART_* settings honoured.
//!
//! `upload presign <endpoint> <bucket> <key> <sha256 base64>` prints a
//! presigned PutObject URL with the checksum header signed, as build-task
//! signs one: the bench's `curl -T` with the same checksum.

use std::path::Path;
use std::process::ExitCode;

use build_task::cancel::Cancel;
use build_task::env::Env;
use build_task::params::Params;
use build_task::store::Store;
use build_task::store::s3::S3Store;
use rusty_s3::S3Action;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [verb, endpoint, bucket, key, checksum] = args.as_slice()
        && verb == "presign"
    {
        return presign(endpoint, bucket, key, checksum);
    }
    let [endpoint, bucket, task_id, path] = args.as_slice() else {
        eprintln!("usage: upload <endpoint> <bucket> <task id> <path>");
        return ExitCode::from(2);
    };
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let params = format!(
        r#"{{"STATUS_CALLBACK":"http://127.0.0.1:1/","TASK_ID":{task_id},"AWS_DEFAULT_REGION":"{}","AWS_ACCESS_KEY_ID":"{}","AWS_SECRET_ACCESS_KEY":"{}","BUCKET":"{bucket}"}}"#,
        var("AWS_DEFAULT_REGION"),
        var("AWS_ACCESS_KEY_ID"),
        var("AWS_SECRET_ACCESS_KEY"),
    );
    let params = match Params::parse(&params, None) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("upload: {}", e.error);
            return ExitCode::from(2);
        }
    };
    let process = Env::from_process();
    let mut pairs = vec![("AWS_ENDPOINT_URL_S3", endpoint.as_str())];
    for name in [
        "BUILD_TASK_S3_WORKERS",
        "BUILD_TASK_MULTIPART_THRESHOLD",
        "BUILD_TASK_MULTIPART_PART_SIZE",
        "BUILD_TASK_S3_TIMEOUT",
    ] {
        if let Some(v) = process.get(name) {
            pairs.push((name, v));
        }
    }
    let env = Env::from_pairs(pairs);
    let result = S3Store::new(&params, &env, build_task::http::agent(&env))
        .and_then(|store| store.put_artifact(Path::new(path), &Cancel::new()));
    match result {
        Ok(summary) => {
            println!("{} objects, {} bytes", summary.objects, summary.bytes);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("upload: {e}");
            ExitCode::FAILURE
        }
    }
}

fn presign(endpoint: &str, bucket: &str, key: &str, checksum: &str) -> ExitCode {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let Ok(endpoint) = endpoint.parse() else {
        eprintln!("upload: {endpoint} is not a URL");
        return ExitCode::from(2);
    };
    let Ok(bucket) =
        rusty_s3::Bucket::new(endpoint, rusty_s3::UrlStyle::Path, bucket.to_owned(), var("AWS_DEFAULT_REGION"))
    else {
        eprintln!("upload: not a usable endpoint and bucket");
        return ExitCode::from(2);
    };
    let credentials = rusty_s3::Credentials::new(var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"));
    let mut put = bucket.put_object(Some(&credentials), key);
    put.headers_mut().insert("x-amz-checksum-sha256", checksum);
    println!("{}", put.sign(std::time::Duration::from_secs(3600)));
    ExitCode::SUCCESS
}
