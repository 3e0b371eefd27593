use std::time::Duration;

use crate::support::callback::{field, CallbackServer};
use crate::support::s3::{S3Server, ACCESS_KEY, REGION, SECRET_KEY};
use crate::support::site::Site;
use crate::support::{build_task, stderr, stdout, vcap_services, Params, TempDir};

fn secure_site() -> Site {
    Site::start(
        &["Content-Type: text/html", "Strict-Transport-Security: max-age=1", "X-Content-Type-Options: nosniff"],
        "<html>hello</html>",
        Duration::ZERO,
    )
}

#[test]
fn a_deployed_run_with_encrypted_params_delivers_processing_then_success_and_uploads_index_json() {
    let Some(s3) = S3Server::start("site-bucket") else { return };
    let cb = CallbackServer::start(4242);
    let site = secure_site();
    let params = Params {
        callback: &cb.url(),
        task_id: 4242,
        region: REGION,
        access_key: ACCESS_KEY,
        secret_key: SECRET_KEY,
        bucket: "site-bucket",
    };
    let tmp = TempDir::new("deployed");
    let out = build_task()
        .args(["example", "-t", &crate::support::enc(&site.url()), "-p", &params.encrypted()])
        .env("DEPLOY_ENV", "dev")
        .env("VCAP_SERVICES", vcap_services("dev"))
        .env("AWS_ENDPOINT_URL_S3", s3.endpoint())
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(cb.statuses(), ["processing", "success"]);
    let success = &cb.bodies()[1];
    assert_eq!(field(success, "artifact").unwrap(), "_tasks/artifacts/4242/");
    assert_eq!(field(success, "count").unwrap(), "4");
    assert_eq!(field(success, "message").unwrap(), "null");
    let index = s3.object("site-bucket", "_tasks/artifacts/4242/index.json").expect("index.json uploaded");
    let index = String::from_utf8(index).unwrap();
    assert!(index.contains(r#""missingHeaders":["Content-Security-Policy","X-Frame-Options","Referrer-Policy","Permissions-Policy"]"#), "{index}");
    assert!(cb.requests().iter().all(|r| r.content_type.as_deref() == Some("application/json")));
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "the run's scratch space is removed");
}

#[test]
fn a_local_run_writes_the_artifact_and_prints_the_result() {
    let site = secure_site();
    let dir = TempDir::new("local");
    let out = build_task()
        .args(["example", "--target", &site.url(), "--output-dir"])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let result = stdout(&out);
    assert_eq!(field(&result, "count").unwrap(), "4", "{result}");
    let index = std::fs::read_to_string(dir.path().join("out/index.json")).unwrap();
    assert!(index.contains(r#""status":200"#), "{index}");
    assert!(stderr(&out).contains("status: success"), "{}", stderr(&out));
}
