//! The a11y and owasp-zap images, built by the real Dockerfile and run as a
//! container runs them.
//!
//! The pinned bases cannot be pulled here, so each is a stand-in made from
//! Debian's packages: debian:bookworm-slim is tests/images/debian-base.sh
//! (mmdebstrap, cached outside the clone), imported into buildah;
//! zaproxy/zap-stable is that base plus Python, ZAP's Python packages, user
//! and layout, with a zap-baseline.py that runs as the real one does and a
//! zap-x.sh in ZAP's place that runs its plan (tests/images/zap-standin).
//! Each task's image is then `buildah bud` of the Dockerfile with the .env's
//! build args and BASE_IMAGE pointing at the stand-in, the host-built static
//! binary (BINARY_SOURCE=context), and the host's trust store as the
//! `extra-ca` build secret (this machine's registries are reached through a
//! TLS-inspecting proxy).
//!
//! A built rootfs is run in its own mount and PID namespaces with /proc, a
//! /dev of the usual device nodes, a tmpfs /dev/shm and /tmp, chrooted, with
//! Cloud Foundry's environment, as `/bin/sh -c '<command>'` (the image's own
//! dash), as root, in /. What differs from garden-runc: the network namespace
//! is the one the container is started in (for a deployed run, a PublicNet
//! of the test's own with the site at a public-looking address and the
//! callback and S3 on its loopback; a deployed run refuses internal
//! addresses), there are no cgroup limits, no user namespace, no seccomp
//! profile, and /etc/hosts and /etc/resolv.conf are the image's own (Garden
//! bind-mounts its own; the scan must not need them, so nothing writes them
//! here).
//!
//! The last test proves the setup's security updates: a stand-in base with a
//! deliberately outdated package and a loopback package repository carrying
//! its newer version; after the build the package is the new one and nothing
//! is upgradable, and with the repository gone the build fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

use crate::image::{Built, SETUP_SCRIPTS, build_and_unpack, buildah, can_build_images, cf_env, run, static_binary_of};
use crate::support::callback::{CallbackServer, field};
use crate::support::net::PublicNet;
use crate::support::s3::S3Server;
use crate::support::web::{Reply, WebServer};
use crate::support::{Params, TempDir, deployed, enc, have_tool, stderr};

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const BASE_TAG: &str = "localhost/build-task-debian-standin:bookworm";
const ZAP_BASE_TAG: &str = "localhost/build-task-zap-standin:test";

fn work_dir() -> PathBuf {
    crate::image::work_dir().join("debian")
}

/// The host's CA bundle, given to the builds as the `extra-ca` secret.
fn extra_ca() -> PathBuf {
    std::env::var_os("BUILD_TASK_EXTRA_CA")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/etc/ssl/certs/ca-certificates.crt".into())
}

/// The Debian stand-in base in buildah's storage, or None (skip).
fn debian_base() -> Option<&'static str> {
    static BASE: OnceLock<bool> = OnceLock::new();
    let ok = *BASE.get_or_init(|| {
        if !can_build_images() || !have_tool("mmdebstrap") {
            return false;
        }
        let out = run(&mut Command::new(Path::new(REPO).join("tests/images/debian-base.sh")));
        let tarball = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let ctr = String::from_utf8(run(buildah().args(["from", "scratch"])).stdout).unwrap().trim().to_owned();
        run(buildah().args(["add", &ctr, &tarball, "/"]));
        run(buildah()
            .args(["config", "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
            .args(["--cmd", "bash", &ctr]));
        run(buildah().args(["commit", "--quiet", &ctr, BASE_TAG]));
        run(buildah().args(["rm", &ctr]));
        true
    });
    ok.then_some(BASE_TAG)
}

/// The zap-stable stand-in, built on the Debian base.
fn zap_base() -> Option<&'static str> {
    static BASE: OnceLock<bool> = OnceLock::new();
    let ok = *BASE.get_or_init(|| {
        let Some(base) = debian_base() else { return false };
        run(buildah()
            .args(["bud", "--isolation", "chroot", "--build-arg", &format!("BASE={base}"), "-t", ZAP_BASE_TAG])
            .args(["--secret", &format!("id=extra-ca,src={}", extra_ca().display())])
            .arg(Path::new(REPO).join("tests/images/zap-standin")));
        true
    });
    ok.then_some(ZAP_BASE_TAG)
}

/// A task's image from the real Dockerfile on `base`, unpacked.
fn task_image(task: &str, base: &str) -> Built {
    let (context, args) = task_context(task, task, base);
    build_and_unpack(&context, &args, &format!("localhost/build-task-{task}:test"), &work_dir().join(task))
}

/// The build context of `task` on `base` under the work directory `name`,
/// and the build args: the task's .env as oci-build-task passes it, with
/// BASE_IMAGE replaced by `base` and IMAGE_KIND=base, and the host's CA as
/// the `extra-ca` secret.
fn task_context(name: &str, task: &str, base: &str) -> (PathBuf, Vec<String>) {
    let dir = work_dir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let context = dir.join("context");
    for script in SETUP_SCRIPTS {
        std::fs::create_dir_all(context.join(script).parent().unwrap()).unwrap();
        std::fs::copy(Path::new(REPO).join(script), context.join(script)).unwrap();
    }
    let folder = format!("tasks/{task}");
    std::fs::create_dir_all(context.join(&folder)).unwrap();
    for entry in std::fs::read_dir(Path::new(REPO).join(&folder)).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, context.join(&folder).join(path.file_name().unwrap())).unwrap();
        }
    }
    run(Command::new(Path::new(REPO).join("hardening/scratch-rootfs.sh"))
        .arg(static_binary_of(task))
        .arg(context.join("layout")));
    // The task's .env as oci-build-task passes it, but for the base.
    let env = std::fs::read_to_string(Path::new(REPO).join(&folder).join(".env")).unwrap();
    let mut args = Vec::new();
    // The image on a base: IMAGE_KIND is this function's (`example` is on scratch in its .env).
    for line in env.lines().filter(|l| !l.is_empty() && !l.starts_with("BASE_IMAGE=") && !l.starts_with("IMAGE_KIND="))
    {
        args.extend(["--build-arg".to_owned(), line.to_owned()]);
    }
    for arg in [format!("BASE_IMAGE={base}"), format!("TASK_FOLDER={folder}"), "IMAGE_KIND=base".to_owned()] {
        args.extend(["--build-arg".to_owned(), arg]);
    }
    args.extend(["--secret".to_owned(), format!("id=extra-ca,src={}", extra_ca().display())]);
    (context, args)
}

/// The a11y image, built once per test run (tests/garden.rs runs it too).
pub(crate) fn a11y_image() -> Option<&'static Built> {
    static IMAGE: OnceLock<Option<Built>> = OnceLock::new();
    IMAGE.get_or_init(|| debian_base().map(|base| task_image("a11y", base))).as_ref()
}

/// The owasp-zap image, built once per test run (tests/garden.rs runs it too).
pub(crate) fn zap_image() -> Option<&'static Built> {
    static IMAGE: OnceLock<Option<Built>> = OnceLock::new();
    IMAGE.get_or_init(|| zap_base().map(|base| task_image("owasp-zap", base))).as_ref()
}

// --- running a rootfs as a container ---------------------------------------

/// Mounts what a container runtime mounts, then runs the command under the
/// image's /bin/sh in the chrooted rootfs. Runs as PID 1 of a new PID
/// namespace, in a new mount namespace, so every mount goes with it.
const CONTAINER: &str = r#"set -eu
root=$1 cmd=$2
mount -t proc proc "$root/proc"
mount -t tmpfs -o mode=0755,nosuid tmpfs "$root/dev"
for dev in null zero full random urandom tty; do
  touch "$root/dev/$dev"
  mount --bind "/dev/$dev" "$root/dev/$dev"
done
mkdir "$root/dev/shm" "$root/dev/pts"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/dev/shm"
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/tmp"
exec chroot "$root" /bin/sh -c "$cmd"
"#;

/// `/bin/sh -c command` in the image's rootfs, with `env` only, in the
/// calling thread's network namespace.
fn contained(image: &Built, env: &[(String, String)], command: &str) -> Output {
    Command::new("unshare")
        .args(["--mount", "--pid", "--fork", "--propagation", "private", "sh", "-c", CONTAINER, "container"])
        .arg(image.unpacked.join("rootfs"))
        .arg(command)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap()
}

/// The image's own environment (its ENV), as Concourse gives a task that
/// runs in it, plus `extra`.
fn concourse_env(image: &Built, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = crate::image::image_env(image);
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

/// The pipeline's run step (ci/tasks/run.yml) in the image: build-task-smoke
/// serves the fixture site, runs `build-task doctor`, then a local run of the
/// task against the site, and checks it wrote index.json. The step's inputs
/// are copied to /build-step in the rootfs, as Concourse mounts them in its
/// working directory.
fn pipeline_run_step(image: &Built, task: &str, extra_env: &[(&str, &str)]) -> Output {
    let step = image.unpacked.join("rootfs/build-step");
    let _ = std::fs::remove_dir_all(&step);
    std::fs::create_dir_all(&step).unwrap();
    std::fs::copy(crate::smoke::smoke_bin(), step.join("build-task-smoke")).unwrap();
    run(Command::new("cp").arg("-r").arg(site_dir()).arg(step.join("site")));
    let command = format!(
        "exec /build-step/build-task-smoke --site /build-step/site --doctor /usr/local/bin/build-task \\
         --expect index.json --timeout 600 -- /usr/local/bin/build-task {task} --target {{site}} --output-dir {{out}}"
    );
    let out = contained(image, &concourse_env(image, extra_env), &command);
    let _ = std::fs::remove_dir_all(&step);
    out
}

/// One deployed run: the callback stand-in and s3s-fs it reports to.
struct Deployed {
    s3: S3Server,
    cb: CallbackServer,
    task_id: u64,
    bucket: &'static str,
}

impl Deployed {
    fn start(task_id: u64) -> Option<Deployed> {
        let bucket = "site-bucket";
        Some(Deployed { s3: S3Server::start(bucket)?, cb: CallbackServer::start(task_id), task_id, bucket })
    }

    fn params(&self) -> String {
        Params::on_s3s(&self.cb.url(), self.task_id, self.bucket).encrypted()
    }

    /// Checks the run ended in one success with index.json stored; the
    /// stored objects by their key under the artifact prefix.
    fn succeeded(&self, out: &Output, form: &str) -> BTreeMap<String, Value> {
        let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(out));
        assert_eq!(self.cb.statuses(), ["processing", "success"], "{form}:\n{log}");
        assert_eq!(out.status.code(), Some(0), "{form}:\n{log}");
        let prefix = format!("_tasks/artifacts/{}/", self.task_id);
        let success = self.cb.bodies().last().cloned().unwrap();
        assert_eq!(field(&success, "artifact").unwrap(), prefix, "{form}");
        let objects: BTreeMap<String, Value> = self
            .s3
            .keys(self.bucket)
            .into_iter()
            .map(|key| {
                let body = self.s3.object(self.bucket, &key).unwrap();
                let rel = key.strip_prefix(&prefix).unwrap_or_else(|| panic!("{key} outside {prefix}")).to_owned();
                (rel, serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{key}: {e}")))
            })
            .collect();
        assert!(objects.contains_key("index.json"), "{form}: {:?}", objects.keys());
        objects
    }
}

/// pages-core's flags as its templates render them, every value encrypted.
fn site_flags(target: &str, with_config: bool) -> String {
    let mut flags = format!("-t {} -b {} -o {} -r {}", enc(target), enc("7"), enc("owner"), enc("repo"));
    if with_config {
        flags += &format!(" -c {}", enc(r#"{"runDay":15,"rules":[]}"#));
    }
    flags
}

/// The fixture site the pipeline's run step serves.
fn site_dir() -> PathBuf {
    Path::new(REPO).join("ci/smoke/site")
}

/// The fixture site for the deployed runs to scan, at the public-looking
/// address of the PublicNet it is started in.
fn site() -> WebServer {
    WebServer::directory_on(PublicNet::SITE_IP, 0, &site_dir()).unwrap()
}

/// An a11y report by page URL, without what differs between two scans of the
/// same pages: the results files are named by the time of each page's scan
/// (as the axe CLI names them), axe stamps each result, and the crawl finds
/// pages in the order their answers arrive (index.json lists them in scan
/// order).
fn by_page(objects: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    let names: BTreeMap<&str, String> = objects
        .iter()
        .filter_map(|(name, page)| Some((name.strip_suffix(".json")?, page.get("url")?.as_str()?.to_owned())))
        .collect();
    objects
        .iter()
        .map(|(name, value)| {
            let mut text = without_timestamps(value).to_string();
            for (stem, url) in &names {
                text = text.replace(stem, &format!("page {url}"));
            }
            let key = name.strip_suffix(".json").and_then(|s| names.get(s)).cloned().unwrap_or_else(|| name.clone());
            let mut value: Value = serde_json::from_str(&text).unwrap();
            if let Some(pages) = value.get_mut("reportPages").and_then(Value::as_array_mut) {
                pages.sort_by_key(|p| p["absoluteURL"].as_str().unwrap_or_default().to_owned());
            }
            (key, value)
        })
        .collect()
}

/// Equal JSON, or a panic with the diff of the two.
fn assert_same(ours: &Value, theirs: &Value, what: &str) {
    if ours == theirs {
        return;
    }
    let dir = TempDir::new("json-diff");
    let (a, b) = (dir.path().join("in-image.json"), dir.path().join("on-host.json"));
    std::fs::write(&a, serde_json::to_string_pretty(ours).unwrap()).unwrap();
    std::fs::write(&b, serde_json::to_string_pretty(theirs).unwrap()).unwrap();
    let diff = Command::new("diff").arg("-u").arg(&b).arg(&a).output().unwrap();
    let diff = String::from_utf8_lossy(&diff.stdout);
    panic!("{what} differs from the host's:\n{}", diff.lines().take(80).collect::<Vec<_>>().join("\n"));
}

/// Drops what differs between two scans of the same pages: axe's timestamps.
fn without_timestamps(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter().filter(|(k, _)| *k != "timestamp").map(|(k, v)| (k.clone(), without_timestamps(v))).collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_timestamps).collect()),
        other => other.clone(),
    }
}

// --- a11y --------------------------------------------------------------------

#[test]
fn the_a11y_image_runs_every_pages_core_command_form_and_scans_as_the_host_does() {
    let Some(image) = a11y_image() else { return };
    let Some(axe) = crate::support::axe::axe_js() else { return };
    let Some(net) = PublicNet::new() else { return };
    net.enter(|| {
        let site = site();
        let target = site.url("/");

        // The same task on the host, with the host's Chromium.
        let Some(host) = Deployed::start(8100) else { return };
        let tmp = TempDir::new("a11y-host");
        let out = deployed(&host.s3.endpoint(), tmp.path())
            .arg("a11y")
            .args(shlex::split(&site_flags(&target, true)).unwrap())
            .args(["-p", &host.params()])
            .env("BUILD_TASK_A11Y_AXE_JS", &axe)
            .output()
            .unwrap();
        let on_host = by_page(&host.succeeded(&out, "the host"));
        assert!(on_host.len() > 2, "index.json and a report per page: {:?}", on_host.keys());

        let forms =
            [("exec build-task a11y", true), ("python build-task/main.py", false), ("python build-task/main.py", true)];
        for (n, (program, with_config)) in forms.into_iter().enumerate() {
            let run = Deployed::start(8101 + n as u64).unwrap();
            let command = format!("{program} {} -p '{}'", site_flags(&target, with_config), run.params());
            let form = format!("`{program} …`{}", if with_config { " with -c" } else { "" });
            let out = contained(image, &cf_env(image, &run.s3), &command);
            let in_image = by_page(&run.succeeded(&out, &form));
            assert_eq!(
                in_image.keys().collect::<Vec<_>>(),
                on_host.keys().collect::<Vec<_>>(),
                "{form}: the same pages"
            );
            for (page, value) in &in_image {
                assert_same(value, &on_host[page], &format!("{form}: {page}"));
            }
            eprintln!("a11y image, {form}: processing, success, {} objects equal to the host's", in_image.len());
        }

        // A deployed run runs the image's browser, whatever the environment
        // says (the tests' own builds take the setting; the image's does not).
        let run = Deployed::start(8110).unwrap();
        let mut env = cf_env(image, &run.s3);
        env.push(("BUILD_TASK_A11Y_CHROMIUM".to_owned(), "/bin/sh".to_owned()));
        let command = format!("exec build-task a11y {} -p '{}'", site_flags(&target, false), run.params());
        let out = contained(image, &env, &command);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert_eq!(run.cb.statuses(), ["processing", "error"]);
        let message = field(run.cb.bodies().last().unwrap(), "message").unwrap();
        assert!(
            message.contains("BUILD_TASK_A11Y_CHROMIUM is set, but a deployed run runs the image's own"),
            "{message}"
        );
    })
}

#[test]
fn the_pipelines_run_step_passes_in_each_debian_image_and_stops_one_missing_its_browser() {
    // a11y: its settings, Chromium and axe-core; owasp-zap: the scanner, its interpreter, its Python
    // packages, ZAP's launcher, HOME, the container sign and its work directory.
    for (image, task, checks) in [(a11y_image(), "a11y", 7), (zap_image(), "owasp-zap", 11)] {
        let Some(image) = image else { return };
        let out = pipeline_run_step(image, task, &[]);
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert_eq!(out.status.code(), Some(0), "{task}:\n{said}");
        assert!(said.contains(&format!("doctor: {checks} checks passed for {task}")), "{task}:\n{said}");
    }
    // A planted failure: Chromium is not where the task looks for it.
    let Some(image) = a11y_image() else { return };
    let out = pipeline_run_step(image, "a11y", &[("BUILD_TASK_A11Y_CHROMIUM", "/usr/bin/no-chromium")]);
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert_ne!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("FAIL  Chromium: not at /usr/bin/no-chromium (set BUILD_TASK_A11Y_CHROMIUM)"), "{said}");
}

// --- owasp-zap -------------------------------------------------------------------

#[test]
fn the_owasp_zap_image_runs_every_pages_core_command_form() {
    let Some(image) = zap_image() else { return };
    let Some(net) = PublicNet::new() else { return };
    net.enter(|| {
        let site = site();
        let target = site.url("/");
        let forms = [
            ("exec build-task owasp-zap", format!("-t {}", enc(&target))),
            ("zap/run_pages_task.py", format!("-t {}", enc(&target))),
            ("python build-task/main.py", site_flags(&target, false)),
            ("python build-task/main.py", site_flags(&target, true)),
        ];
        for (n, (program, flags)) in forms.into_iter().enumerate() {
            let run = Deployed::start(8201 + n as u64).unwrap();
            let command = format!("{program} {flags} -p '{}'", run.params());
            let out = contained(image, &cf_env(image, &run.s3), &command);
            let form = format!("`{program} {}`", &flags[..2]);
            let stored = run.succeeded(&out, &form);
            let index = &stored["index.json"];
            // The stand-in's four missing-header alerts, as the report groups them.
            let text = index.to_string();
            for alert in ["Content Security Policy (CSP) Header Not Set", "Missing Anti-clickjacking Header"] {
                assert!(text.contains(alert), "{form}: {alert} in {text}");
            }
            let count = field(&run.cb.bodies()[1], "count").unwrap();
            assert_eq!(count, "4", "{form}");
            eprintln!("owasp-zap image, {form}: processing, success, index.json with {count} alerts");
        }
    })
}

/// One deployed run of the owasp-zap image against `target`, with `extra`
/// over Cloud Foundry's environment: its output and the error status's message.
fn zap_run_failing(image: &Built, run: &Deployed, target: &str, extra: &[(&str, &str)]) -> (Output, String) {
    let command = format!("exec build-task owasp-zap -t {} -p '{}'", enc(target), run.params());
    let mut env = cf_env(image, &run.s3);
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let out = contained(image, &env, &command);
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert_eq!(run.cb.statuses(), ["processing", "error"], "{log}");
    assert!(run.s3.keys(run.bucket).is_empty(), "nothing stored: {log}");
    (out, field(&run.cb.bodies()[1], "message").unwrap())
}

#[test]
fn a_target_with_a_path_is_scanned_with_its_hosts_root_as_zap_baseline_plans_it() {
    let Some(image) = zap_image() else { return };
    let Some(net) = PublicNet::new() else { return };
    net.enter(|| {
        let site = site();
        let target = site.url("/contact/");
        let run = Deployed::start(8211).unwrap();
        let command = format!("exec build-task owasp-zap -t {} -p '{}'", enc(&target), run.params());
        let out = contained(image, &cf_env(image, &run.s3), &command);
        let stored = run.succeeded(&out, "a target with a path");
        assert!(stored["index.json"].to_string().contains("Missing Anti-clickjacking Header"));
        // The plan zap-baseline.py wrote names both, and ZAP requested both.
        let plan = std::fs::read_to_string(image.unpacked.join("rootfs/zap/wrk/zap.yaml")).unwrap();
        assert!(plan.contains(&target) && plan.contains(&site.url("/")), "{plan}");
        assert_eq!((site.hits("/contact/"), site.hits("/")), (1, 1), "{:?}", site.requests());

        // A host whose root does not answer 200: the spider job fails, the
        // script exits 3, and the error says so in ZAP's words.
        let docs = WebServer::start_on(PublicNet::SITE_IP, 0, |path| match path {
            "/docs/" => Reply::html("<title>Docs</title>"),
            _ => Reply::status(404),
        })
        .unwrap();
        let run = Deployed::start(8212).unwrap();
        let (_, message) = zap_run_failing(image, &run, &docs.url("/docs/"), &[]);
        assert!(message.contains("the ZAP scan failed with exit code 3"), "{message}");
        let spider =
            format!("Job spider error accessing URL {} status code returned : 404 expected 200", docs.url("/"));
        assert!(message.contains(&spider), "{message}");
    })
}

#[test]
fn zap_baselines_own_failures_end_in_one_clear_error_and_doctor_names_them() {
    let Some(image) = zap_image() else { return };
    let Some(net) = PublicNet::new() else { return };
    net.enter(|| {
        let site = site();
        let target = site.url("/");
        // A HOME that is not there: the script cannot write its plan, raises,
        // and exits 1 without a report.
        let run = Deployed::start(8213).unwrap();
        let (_, message) = zap_run_failing(image, &run, &target, &[("HOME", "/nonexistent/home")]);
        assert!(message.contains("the ZAP scan ended with exit code 1 but wrote no report"), "{message}");
        assert!(message.contains("FileNotFoundError") && message.contains("/nonexistent/home/zap.yaml"), "{message}");
        // Not told it is in a container: it tries to start ZAP with docker.
        let run = Deployed::start(8214).unwrap();
        let (_, message) = zap_run_failing(image, &run, &target, &[("IS_CONTAINERIZED", "false")]);
        assert!(message.contains("the ZAP scan failed with exit code 3"), "{message}");
        assert!(message.contains("Failed to start ZAP in docker"), "{message}");
    });

    // doctor sees both before a run would.
    let env = concourse_env(image, &[("HOME", "/nonexistent/home"), ("IS_CONTAINERIZED", "false")]);
    let out = contained(image, &env, "exec build-task doctor");
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains("ok    ZAP's Python packages: /usr/bin/python imports yaml and zapv2"), "{report}");
    assert!(report.contains("ok    ZAP launcher: /zap/zap-x.sh is executable"), "{report}");
    assert!(report.contains("FAIL  HOME: cannot write in /nonexistent/home: "), "{report}");
    assert!(report.contains("FAIL  container: IS_CONTAINERIZED is not `true`"), "{report}");
    assert!(report.trim_end().ends_with("2 of 11 checks failed for owasp-zap: HOME, container"), "{report}");
}

#[test]
fn the_zap_stand_in_exits_as_zap_baseline_does() {
    let Some(image) = zap_image() else { return };
    let Some(net) = PublicNet::new() else { return };
    net.enter(|| {
        let site = site();
        let env = concourse_env(image, &[]);
        let exit = |args: &str| {
            let out =
                contained(image, &env, &format!("mkdir -p /zap/wrk && cd /zap/wrk && /zap/zap-baseline.py {args}"));
            (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
        };
        // getopt: an unknown flag, no target, a target that is not http(s): usage, 3.
        for args in ["-t http://x/ -Q".to_owned(), "-I".to_owned(), "-t ftp://x/".to_owned()] {
            let (code, said) = exit(&args);
            assert_eq!(code, Some(3), "{args}: {said}");
            assert!(said.contains("Usage: zap-baseline.py -t <target>"), "{args}: {said}");
        }
        // The fixture site lacks security headers: WARNs, so 2, and 0 with -I.
        let target = site.url("/");
        assert_eq!(exit(&format!("-t {target} -J report.json -d -T 5")).0, Some(2));
        assert_eq!(exit(&format!("-t {target} -J report.json -I -d -T 5")).0, Some(0));
    })
}

/// Installed packages and non-directory files of an unpacked image.
fn contents(image: &Built) -> (usize, usize) {
    let rootfs = image.unpacked.join("rootfs");
    let status = std::fs::read_to_string(rootfs.join("var/lib/dpkg/status")).unwrap_or_default();
    let packages = status.split("\n\n").filter(|p| p.contains("\nStatus: install ok installed")).count();
    let files = run(Command::new("find").arg(&rootfs).args(["-xdev", "!", "-type", "d"]))
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    (packages, files)
}

#[test]
fn the_a11y_image_is_at_most_280_mb_compressed_and_200_packages() {
    let Some(image) = a11y_image() else { return };
    let (packages, files) = contents(image);
    eprintln!("a11y image: {} bytes compressed, {packages} packages, {files} files", image.compressed);
    assert!(image.compressed <= 280_000_000, "{} bytes compressed", image.compressed);
    assert!(packages <= 200, "{packages} packages");
}

#[test]
fn the_debian_images_have_no_audit_finding() {
    for image in [a11y_image(), zap_image()].into_iter().flatten() {
        let policy = build_task_audit::Policy::parse(build_task_audit::DEFAULT_POLICY).unwrap();
        let report = build_task_audit::audit_image(&image.unpacked, &policy).unwrap();
        let findings: Vec<String> = report.findings.iter().map(|f| f.to_string()).collect();
        assert!(findings.is_empty(), "{}: {findings:#?}", image.unpacked.display());
        assert!(!report.scratch);
    }
}

// --- the distribution's updates at every build --------------------------------

/// The package the test plants outdated in a base, and its two versions.
/// Their files differ in size as well as in content: buildah's vfs storage
/// finds a layer's changes by size and modification time, and two tiny
/// packages built in the same second would otherwise look unchanged.
const CANARY: &str = "build-task-canary";
const OLD: &str = "1.0";
const NEW: &str = "1.0.1";

/// A tiny Debian package: one file, /usr/share/build-task-canary/version,
/// holding its version.
fn canary_deb(dir: &Path, version: &str) -> PathBuf {
    let root = dir.join(format!("{CANARY}-{version}"));
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.join("usr/share").join(CANARY)).unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: {CANARY}\nVersion: {version}\nArchitecture: all\nMaintainer: build-task tests <tests@localhost>\n\
             Description: a package the image tests plant outdated in a base\n"
        ),
    )
    .unwrap();
    std::fs::write(root.join("usr/share").join(CANARY).join("version"), format!("{version}\n")).unwrap();
    let deb = dir.join(format!("{CANARY}_{version}_all.deb"));
    run(Command::new("dpkg-deb").args(["--root-owner-group", "--build"]).arg(&root).arg(&deb));
    deb
}

/// A flat package repository holding `deb`: its Packages index, and a
/// Release that lists it by SHA-256, as apt checks it.
fn flat_repository(dir: &Path, deb: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(deb, dir.join(deb.file_name().unwrap())).unwrap();
    let packages = run(Command::new("dpkg-scanpackages").args(["--multiversion", ".", "/dev/null"]).current_dir(dir));
    std::fs::write(dir.join("Packages"), &packages.stdout).unwrap();
    let sum = run(Command::new("sha256sum").arg(dir.join("Packages")));
    let sum = String::from_utf8(sum.stdout).unwrap().split_whitespace().next().unwrap().to_owned();
    let release = format!(
        "Origin: build-task tests\nLabel: canary\nDate: Thu, 01 Jan 2026 00:00:00 UTC\nSHA256:\n {sum} {} Packages\n",
        packages.stdout.len()
    );
    std::fs::write(dir.join("Release"), release).unwrap();
}

/// The Debian stand-in with the canary's old version installed and a source
/// that carries the new one: `http://<repo>/ ./`, trusted (a test repository, no key).
fn outdated_base(repo_url: &str) -> String {
    let base = debian_base().expect("the Debian stand-in");
    let dir = work_dir().join("outdated-base");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let old = canary_deb(&dir, OLD);
    std::fs::write(
        dir.join("Containerfile"),
        format!(
            "FROM {base}\nCOPY {name} /tmp/\nRUN dpkg -i /tmp/{name} && rm /tmp/{name} \\\n \
             && echo 'deb [trusted=yes] {repo_url} ./' > /etc/apt/sources.list.d/canary.list\n",
            name = old.file_name().unwrap().to_str().unwrap()
        ),
    )
    .unwrap();
    let tag = "localhost/build-task-outdated-standin:test";
    run(buildah()
        .args(["bud", "--isolation", "chroot", "--pull-never", "-t", tag, "-f"])
        .arg(dir.join("Containerfile"))
        .arg(&dir));
    tag.to_owned()
}

/// A command in a fresh container of `tag` (buildah run: the host's network
/// and resolv.conf), its output.
fn in_container(tag: &str, script: &str) -> Output {
    let ctr = String::from_utf8(run(buildah().args(["from", "--pull-never", tag])).stdout).unwrap().trim().to_owned();
    let out = crate::image::run_allowing_failure(buildah().args([
        "run",
        "--isolation",
        "chroot",
        &ctr,
        "--",
        "sh",
        "-c",
        script,
    ]));
    run(buildah().args(["rm", &ctr]));
    out
}

#[test]
fn an_outdated_package_in_a_debian_base_is_updated_by_the_build_and_an_unreachable_source_fails_it() {
    if debian_base().is_none() || !have_tool("dpkg-scanpackages") {
        return;
    }
    let started = std::time::Instant::now();
    let dir = work_dir().join("canary-repo");
    let _ = std::fs::remove_dir_all(&dir);
    let new = canary_deb(&work_dir(), NEW);
    flat_repository(&dir, &new);
    let repo = WebServer::directory(0, &dir).unwrap();
    let base = outdated_base(&repo.url("/"));
    // The base is outdated: apt sees 1.1 and would upgrade the canary.
    let before = in_container(&base, "apt-get update -qq && apt list --upgradable 2>/dev/null");
    let said = String::from_utf8_lossy(&before.stdout);
    let line = said.lines().find(|l| l.starts_with(&format!("{CANARY}/"))).unwrap_or_default();
    assert!(line.contains(&format!(" {NEW} all [upgradable from: {OLD}]")), "{said}{}", stderr(&before));
    let base_ready = started.elapsed();

    // The real Dockerfile and setup, on that base (the example task: no
    // build.sh), as the pipeline builds on a tracked base: BASE_IMAGE is the
    // pinned a11y base, which cannot be pulled here, and TRACKED_BASE, which
    // the build takes before it, is the outdated stand-in.
    let (context, mut args) = task_context("example-on-debian", "example", &base);
    let pinned = std::fs::read_to_string(Path::new(REPO).join("tasks/a11y/.env")).unwrap();
    let pinned = pinned.lines().find_map(|l| l.strip_prefix("BASE_IMAGE=")).unwrap().to_owned();
    let digest = run(buildah().args(["images", "--digests", "--format", "{{.Digest}}", &base])).stdout;
    let digest = String::from_utf8(digest).unwrap().trim().to_owned();
    for arg in args.iter_mut().filter(|a| a.starts_with("BASE_IMAGE=")) {
        *arg = format!("BASE_IMAGE={pinned}");
    }
    for arg in [format!("TRACKED_BASE={base}"), format!("BASE_DIGEST={digest}")] {
        args.extend(["--build-arg".to_owned(), arg]);
    }
    let tag = "localhost/build-task-example-on-debian:test";
    let built = run(buildah()
        .args(["bud", "--isolation", "chroot", "--pull-never", "--timestamp", "0", "-f"])
        .arg(Path::new(REPO).join("Dockerfile"))
        .args(&args)
        .args(["--build-arg", "BINARY_SOURCE=context", "-t", tag])
        .arg(&context));
    let log = String::from_utf8_lossy(&built.stdout);
    assert!(log.contains(&format!("Unpacking {CANARY} ({NEW}) over ({OLD})")), "{log}");
    assert!(log.contains("image setup: the base's packages are current"), "{log}");
    let image = crate::image::unpack(tag, &work_dir().join("example-on-debian"));
    // The image says what it was built on.
    assert_eq!(image.labels["org.opencontainers.image.base.name"], base);
    assert!(digest.starts_with("sha256:"), "{digest}");
    assert_eq!(image.labels["org.opencontainers.image.base.digest"], digest);
    let version =
        std::fs::read_to_string(image.unpacked.join("rootfs/usr/share").join(CANARY).join("version")).unwrap();
    assert_eq!(version, format!("{NEW}\n"), "the canary file is the new version's");
    let status = std::fs::read_to_string(image.unpacked.join("rootfs/var/lib/dpkg/status")).unwrap();
    let canary = status.split("\n\n").find(|p| p.starts_with(&format!("Package: {CANARY}\n"))).unwrap();
    assert!(canary.contains(&format!("\nVersion: {NEW}\n")), "{canary}");
    // Lists fetched again from every source the image names: nothing is upgradable.
    let after = in_container(tag, "apt-get update -qq --error-on=any && apt list --upgradable 2>/dev/null");
    let said = String::from_utf8_lossy(&after.stdout);
    assert_eq!(after.status.code(), Some(0), "{said}{}", stderr(&after));
    let upgradable: Vec<&str> = said.lines().filter(|l| !l.starts_with("Listing")).collect();
    assert!(upgradable.is_empty(), "still upgradable after the build: {upgradable:?}");
    let built = started.elapsed();

    // A source the base names that cannot be reached fails the build, loudly.
    drop(repo);
    let (context, args) = task_context("example-on-debian-offline", "example", &base);
    let out = crate::image::run_allowing_failure(
        buildah()
            .args(["bud", "--isolation", "chroot", "--pull-never", "-f"])
            .arg(Path::new(REPO).join("Dockerfile"))
            .args(&args)
            .args(["--build-arg", "BINARY_SOURCE=context", "-t", "localhost/build-task-offline:test"])
            .arg(&context),
    );
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(!out.status.success(), "the build passed without its updates:\n{said}");
    assert!(
        said.contains("image setup: apt-get update failed (exit 100): a package source of the base cannot be reached"),
        "{said}"
    );
    eprintln!(
        "updates at build: base with the outdated canary in {:.1?}, image built and checked in {:.1?}, \
         failed build in {:.1?}",
        base_ready,
        built - base_ready,
        started.elapsed() - built
    );
}
