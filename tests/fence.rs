//! The fence (src/fence.rs) on the example task: a deployed run of an
//! internal target fails at once, and no redirect leads a run to an internal
//! address; a local run reaches its loopback target and nothing else.

use crate::support::callback::{CallbackServer, field};
use crate::support::internal::Internal;
use crate::support::web::{Reply, WebServer};
use crate::support::{Params, TempDir, build_task, deployed, enc, stderr};

#[test]
fn a_deployed_run_of_a_target_on_an_internal_address_fails_at_once() {
    deployed_run_of_an_internal_target_fails_before_any_fetch("example", 4301);
}

/// A deployed run of `task` against a site on 127.0.0.1: processing, then
/// the error naming the fence, and the site never asked. The run ends
/// before any upload: S3 is never asked.
pub(crate) fn deployed_run_of_an_internal_target_fails_before_any_fetch(task: &str, task_id: u64) {
    let site = WebServer::start(0, |_| Reply::html("<html>hello</html>")).unwrap();
    let cb = CallbackServer::start(task_id);
    let callback = cb.url();
    let params = Params::on_s3s(&callback, task_id, "site-bucket");
    let tmp = TempDir::new("fence-deployed");
    let out = deployed("http://127.0.0.1:9", tmp.path())
        .args([task, "-t", &enc(&site.url("/")), "-p", &params.encrypted()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(cb.statuses(), ["processing", "error"]);
    assert_eq!(
        field(&cb.bodies()[1], "message").unwrap(),
        "the task failed: the target 127.0.0.1 resolves only to internal addresses (127.0.0.1): a deployed run \
         reaches no internal address"
    );
    assert!(site.requests().is_empty(), "nothing was fetched: {:?}", site.requests());
}

/// A local run of the example task against `target`: its exit code and stderr.
fn local_run(target: &str) -> (Option<i32>, String) {
    let tmp = TempDir::new("fence-local");
    let out =
        build_task().args(["example", "-t", target, "--output-dir"]).arg(tmp.path().join("out")).output().unwrap();
    (out.status.code(), stderr(&out))
}

#[test]
fn a_redirect_to_an_internal_address_is_refused_whatever_names_it() {
    let internal = Internal::start(&["127.0.0.2:0", "127.0.0.1:0"]);
    let to = [
        internal.origin("http", "127.0.0.2", 0),
        // Another port on the target's own address, by address and by name.
        internal.origin("http", "127.0.0.1", 1),
        internal.origin("http", "localhost", 1),
    ];
    let site = WebServer::start(0, move |path| match path {
        "/same" => Reply::redirect(302, "/final"),
        "/final" => Reply::html("<html>here</html>"),
        p => match p.strip_prefix("/to/").and_then(|i| i.parse::<usize>().ok()) {
            Some(i) => Reply::redirect(302, &format!("{}/latest/meta-data/", to[i])),
            None => Reply::status(404),
        },
    })
    .unwrap();
    for i in 0..3 {
        let (code, log) = local_run(&site.url(&format!("/to/{i}")));
        assert_eq!(code, Some(1), "{log}");
        assert!(log.contains("cannot fetch the target") && log.contains("which the fence refuses"), "{log}");
    }
    assert_eq!(internal.contacts(), 0, "the internal server was never reached");
    assert_eq!(site.hits("/to/2"), 1);
    // A redirect on the target's own origin is followed as before.
    let (code, log) = local_run(&site.url("/same"));
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(site.hits("/final"), 1);
}
