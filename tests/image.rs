//! The images, built here as CI would build them, but offline: the static
//! musl binary of `example` (hardening/static-binary.sh), the scratch image
//! from the Dockerfile with that binary taken from the build context
//! (`buildah bud`, FROM scratch), its rootfs unpacked beside a metadata.json
//! as oci-build-task writes them, audited by hardening/audit, and run as
//! Cloud Foundry runs a task: `/bin/sh -c 'build-task example …'`, as root,
//! in `/`, under chroot and under `buildah run`, inside a network namespace
//! of the test's own where the site is at a public-looking address (a
//! deployed run refuses internal ones). A last test builds a task on a real
//! (busybox) base, through its build.sh and the hardening step.
//!
//! Everything lives under CARGO_TARGET_TMPDIR, buildah's storage included, so
//! nothing touches the machine's own images.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

use miniserde::{Deserialize, json};

use crate::support::callback::{CallbackServer, field};
use crate::support::net::PublicNet;
use crate::support::s3::S3Server;
use crate::support::web::{Reply, WebServer};
use crate::support::{Params, enc, have_tool, vcap_services};

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const TAG: &str = "localhost/build-task-example:test";

/// What the Dockerfile copies into a non-scratch image's setup.
pub(crate) const SETUP_SCRIPTS: [&str; 3] = ["hardening/image-setup.sh", "hardening/entries.sh", "hardening/harden.sh"];

/// Goals of the scratch image (issues 6 and 23): its gzip layers, as
/// registries and Garden take them, and its files.
const MAX_COMPRESSED_BYTES: u64 = 1_100_000;
const MAX_FILES: usize = 8;

/// DESIGN's budget for every task's shipped binary: stripped, one task, the
/// crate list embedded, built by hardening/static-binary.sh (issue 23).
const MAX_BINARY_BYTES: usize = 2_000_000;

/// Every task an image is built for, each with its own binary.
const TASKS: [&str; 3] = ["example", "owasp-zap", "a11y"];

pub(crate) fn work_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("image")
}

pub(crate) fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// buildah with its storage under the target dir.
pub(crate) fn buildah() -> Command {
    let dir = work_dir();
    let mut cmd = Command::new("buildah");
    cmd.arg("--root").arg(dir.join("storage")).arg("--runroot").arg(dir.join("run"));
    cmd.args(["--storage-driver", "vfs"]);
    cmd
}

/// Whether this machine can build and run the images; says why not.
pub(crate) fn can_build_images() -> bool {
    if !(have_tool("buildah") && have_tool("cargo-auditable")) {
        return false;
    }
    if !is_root() {
        crate::support::skip("chroot and buildah need root");
        return false;
    }
    true
}

pub(crate) fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

// --- the binary ------------------------------------------------------------

/// The static musl binary of one task, built once per test run by the same
/// script as the Dockerfile's builder stage, one task at a time (they share
/// cargo's target directory), each kept under its own path.
pub(crate) fn static_binary_of(task: &str) -> PathBuf {
    static BUILT: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    built
        .entry(task.to_owned())
        .or_insert_with(|| {
            let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("image-bin").join(task).join("build-task");
            run(Command::new(Path::new(REPO).join("hardening/static-binary.sh")).arg(task).arg(&out));
            out
        })
        .clone()
}

fn static_binary() -> PathBuf {
    static_binary_of("example")
}

#[derive(Deserialize)]
struct AuditableInfo {
    packages: Vec<AuditablePackage>,
}

#[derive(Deserialize)]
struct AuditablePackage {
    name: String,
    version: String,
    kind: Option<String>,
}

/// `name version` of every package in Cargo.lock.
fn cargo_lock_packages() -> BTreeSet<String> {
    let lock = std::fs::read_to_string(Path::new(REPO).join("Cargo.lock")).unwrap();
    let mut out = BTreeSet::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(v) = line.strip_prefix("name = ") {
            name = Some(v.trim_matches('"').to_owned());
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take()) {
            out.insert(format!("{n} {}", v.trim_matches('"')));
        }
    }
    out
}

/// The sizes of an ELF64 little-endian file's sections, by name.
fn elf_sections(bytes: &[u8]) -> BTreeMap<String, u64> {
    let u16_at = |at: usize| u16::from_le_bytes(bytes[at..at + 2].try_into().unwrap()) as usize;
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    assert_eq!(&bytes[..6], b"\x7fELF\x02\x01", "an ELF64 little-endian file");
    let (table, entry, count, names) =
        (usize::try_from(u64_at(0x28)).unwrap(), u16_at(0x3a), u16_at(0x3c), u16_at(0x3e));
    let header = |i: usize| table + i * entry;
    let strings = usize::try_from(u64_at(header(names) + 0x18)).unwrap();
    (0..count)
        .map(|i| {
            let name = &bytes[strings + u32_at(header(i))..];
            let name = String::from_utf8_lossy(&name[..name.iter().position(|b| *b == 0).unwrap()]).into_owned();
            (name, u64_at(header(i) + 0x20))
        })
        .collect()
}

#[test]
fn the_example_binary_has_no_unwind_tables_and_no_symbols() {
    if !have_tool("cargo-auditable") {
        return;
    }
    let bytes = std::fs::read(static_binary()).unwrap();
    let sections = elf_sections(&bytes);
    // hardening/no-unwind-tables.ld leaves only the C start files' entries.
    let eh_frame = sections.get(".eh_frame").copied().unwrap_or(0);
    assert!(eh_frame < 1024, ".eh_frame is {eh_frame} bytes: the linker script did not apply");
    assert!(!sections.contains_key(".symtab"), "stripped");
}

#[test]
fn every_task_s_shipped_binary_is_at_most_2_000_000_bytes() {
    if !have_tool("cargo-auditable") {
        return;
    }
    let sizes: Vec<(&str, usize)> =
        TASKS.iter().map(|task| (*task, std::fs::read(static_binary_of(task)).unwrap().len())).collect();
    eprintln!("shipped binaries: {sizes:?} (budget {MAX_BINARY_BYTES})");
    for (task, bytes) in sizes {
        assert!(bytes <= MAX_BINARY_BYTES, "the {task} binary is {bytes} bytes, over {MAX_BINARY_BYTES}");
    }
}

#[test]
fn the_nightly_that_builds_the_binaries_is_the_one_the_builder_stage_and_ci_install() {
    let read = |path: &str| std::fs::read_to_string(Path::new(REPO).join(path)).unwrap();
    let script = read("hardening/static-binary.sh");
    let nightly = script.lines().find_map(|l| l.strip_prefix("NIGHTLY=")).expect("static-binary.sh pins NIGHTLY=");
    assert!(
        nightly.len() == "nightly-YYYY-MM-DD".len() && nightly.starts_with("nightly-20"),
        "pinned by date: {nightly}"
    );
    let install = format!("rustup toolchain install {nightly} --profile minimal --component rust-src");
    for path in ["Dockerfile", ".ci/run"] {
        assert!(read(path).contains(&install), "{path} does not install {nightly} with rust-src");
    }
}

#[test]
fn the_example_binary_embeds_its_crate_list_and_it_matches_cargo_lock() {
    if !have_tool("cargo-auditable") {
        return;
    }
    let binary = static_binary();
    let text = auditable_info::json_from_file(&binary, Default::default()).expect("a .dep-v0 section");
    let info: AuditableInfo = json::from_str(&text).expect("cargo-auditable's JSON");
    let runtime: BTreeSet<String> = info
        .packages
        .iter()
        .filter(|p| p.kind.as_deref().unwrap_or("runtime") == "runtime")
        .map(|p| format!("{} {}", p.name, p.version))
        .collect();

    // Every crate named, build-time ones included, is the one Cargo.lock pins.
    let lock = cargo_lock_packages();
    let embedded: BTreeSet<String> = info.packages.iter().map(|p| format!("{} {}", p.name, p.version)).collect();
    for id in &embedded {
        assert!(lock.contains(id), "{id} is in the binary but not in Cargo.lock");
    }
    // And every crate cargo compiles into this feature set (from Cargo.lock)
    // is named, so a scanner misses none. cargo-auditable takes its graph from
    // `cargo metadata`, whose workspace-wide feature resolution may name a
    // crate more (an optional serde); a scanner then over-reports, never under.
    let tree = run(Command::new(env!("CARGO"))
        .current_dir(REPO)
        .args(["tree", "--locked", "--offline", "-p", "build-task", "--target", "x86_64-unknown-linux-musl"])
        .args(["--no-default-features", "--features", "example", "-e", "normal,build"])
        .args(["--prefix", "none", "--format", "{p}"]));
    let compiled: BTreeSet<String> = String::from_utf8_lossy(&tree.stdout)
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let (name, version) = (words.next()?, words.next()?);
            Some(format!("{name} {}", version.trim_start_matches('v')))
        })
        .collect();
    let missing: Vec<_> = compiled.difference(&embedded).collect();
    assert!(missing.is_empty(), "compiled in but not in the embedded list: {missing:?}");
    assert!(compiled.len() > 50, "{compiled:?}");
    let extra: Vec<_> = embedded.difference(&compiled).collect();
    eprintln!(
        "embedded crate list: {} crates ({} runtime); named beyond cargo tree: {extra:?}",
        embedded.len(),
        runtime.len()
    );
    assert!(runtime.iter().any(|p| p.starts_with("build-task ")));
    assert!(runtime.iter().any(|p| p.starts_with("rustls ")));
}

// --- the scratch image -----------------------------------------------------

#[derive(Deserialize)]
struct OciIndex {
    manifests: Vec<OciDescriptor>,
}

#[derive(Deserialize)]
struct OciDescriptor {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
    size: u64,
}

#[derive(Deserialize)]
struct OciManifest {
    config: OciDescriptor,
    layers: Vec<OciDescriptor>,
}

#[derive(Deserialize)]
struct OciImage {
    config: OciConfig,
}

#[derive(Deserialize)]
struct OciConfig {
    #[serde(rename = "Env")]
    env: Option<Vec<String>>,
    #[serde(rename = "User")]
    user: Option<String>,
    #[serde(rename = "WorkingDir")]
    working_dir: Option<String>,
    #[serde(rename = "Labels")]
    labels: Option<std::collections::BTreeMap<String, String>>,
}

/// The built image, exported and unpacked.
pub(crate) struct Built {
    /// oci-build-task's `image/`: rootfs/ and metadata.json.
    pub(crate) unpacked: PathBuf,
    pub(crate) env: Vec<String>,
    pub(crate) user: String,
    pub(crate) working_dir: String,
    pub(crate) labels: std::collections::BTreeMap<String, String>,
    /// The layers as pushed (gzip), in bytes.
    pub(crate) compressed: u64,
    pub(crate) layer_types: Vec<String>,
}

fn blob(oci: &Path, digest: &str) -> PathBuf {
    oci.join("blobs").join(digest.replace(':', "/"))
}

/// The build args exactly as oci-build-task passes them: each line of
/// tasks/<task>/.env verbatim, and TASK_FOLDER.
pub(crate) fn build_args(env_file: &Path, task_folder: &str) -> Vec<String> {
    let text = std::fs::read_to_string(env_file).unwrap();
    let mut args = Vec::new();
    for line in text.split('\n').filter(|l| !l.is_empty()) {
        args.push("--build-arg".to_owned());
        args.push(line.to_owned());
    }
    args.extend(["--build-arg".to_owned(), format!("TASK_FOLDER={task_folder}")]);
    args
}

/// Builds `tag` from the Dockerfile in `context`, exports it as an OCI
/// layout and unpacks its rootfs (through `buildah mount`) into `dir`.
pub(crate) fn build_and_unpack(context: &Path, args: &[String], tag: &str, dir: &Path) -> Built {
    run(buildah()
        .args(["bud", "--isolation", "chroot", "--timestamp", "0", "-f"])
        .arg(Path::new(REPO).join("Dockerfile"))
        .args(args)
        .args(["--build-arg", "BINARY_SOURCE=context", "-t", tag])
        .arg(context));
    unpack(tag, dir)
}

/// Exports `tag` as an OCI layout and unpacks its rootfs (through
/// `buildah mount`) and metadata.json into `dir/unpacked`.
pub(crate) fn unpack(tag: &str, dir: &Path) -> Built {
    std::fs::create_dir_all(dir).unwrap();
    let oci = dir.join("oci");
    run(buildah().arg("push").arg(tag).arg(format!("oci:{}:test", oci.display())));
    let index: OciIndex = json::from_str(&std::fs::read_to_string(oci.join("index.json")).unwrap()).unwrap();
    let manifest: OciManifest =
        json::from_str(&std::fs::read_to_string(blob(&oci, &index.manifests[0].digest)).unwrap()).unwrap();
    let image: OciImage =
        json::from_str(&std::fs::read_to_string(blob(&oci, &manifest.config.digest)).unwrap()).unwrap();
    let compressed = manifest.layers.iter().map(|l| l.size).sum();
    let layer_types = manifest.layers.iter().map(|l| l.media_type.clone()).collect();

    let unpacked = dir.join("unpacked");
    let rootfs = unpacked.join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    let ctr = String::from_utf8(run(buildah().args(["from", "--pull-never", tag])).stdout).unwrap().trim().to_owned();
    let mount = String::from_utf8(run(buildah().args(["mount", &ctr])).stdout).unwrap().trim().to_owned();
    run(Command::new("cp").args(["-a", &format!("{mount}/."), rootfs.to_str().unwrap()]));
    run(buildah().args(["rm", &ctr]));

    let env = image.config.env.unwrap_or_default();
    let user = image.config.user.unwrap_or_default();
    // oci-build-task's ImageMetadata.
    let quoted: Vec<String> = env.iter().map(json::to_string).collect();
    let metadata = format!(r#"{{"env":[{}],"user":{}}}"#, quoted.join(","), json::to_string(&user));
    std::fs::write(unpacked.join("metadata.json"), metadata).unwrap();
    Built {
        unpacked,
        env,
        user,
        working_dir: image.config.working_dir.unwrap_or_default(),
        labels: image.config.labels.unwrap_or_default(),
        compressed,
        layer_types,
    }
}

/// The scratch `example` image, built once per test run.
fn scratch_image() -> Option<&'static Built> {
    static IMAGE: OnceLock<Option<Built>> = OnceLock::new();
    if !can_build_images() {
        return None;
    }
    IMAGE
        .get_or_init(|| {
            let dir = work_dir().join("example");
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            // The build context: the binary, laid out on the host by the
            // same script as the builder stage.
            let context = dir.join("context");
            std::fs::create_dir_all(&context).unwrap();
            run(Command::new(Path::new(REPO).join("hardening/scratch-rootfs.sh"))
                .arg(static_binary())
                .arg(context.join("layout")));
            let args = build_args(&Path::new(REPO).join("tasks/example/.env"), "tasks/example");
            let built = build_and_unpack(&context, &args, TAG, &dir);
            Some(built)
        })
        .as_ref()
}

/// Every path in a rootfs, with its mode, sorted ("/tmp 41777").
fn listing(rootfs: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            out.push(format!("/{} {:o}", path.strip_prefix(root).unwrap().display(), meta.mode()));
            if meta.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(rootfs, rootfs, &mut out);
    out.sort();
    out
}

#[test]
fn the_scratch_example_image_holds_only_the_binary_and_what_cloud_foundry_needs() {
    let Some(image) = scratch_image() else { return };
    let rootfs = image.unpacked.join("rootfs");
    assert_eq!(
        listing(&rootfs),
        [
            "/bin 40755",
            "/bin/sh 120777",
            "/etc 40755",
            "/etc/group 100644",
            "/etc/passwd 100644",
            "/root 40700",
            "/tmp 41777",
            "/usr 40755",
            "/usr/local 40755",
            "/usr/local/bin 40755",
            "/usr/local/bin/build-task 100755",
        ]
    );
    assert_eq!(std::fs::read_link(rootfs.join("bin/sh")).unwrap(), Path::new("/usr/local/bin/build-task"));
    assert_eq!(
        std::fs::read(rootfs.join("usr/local/bin/build-task")).unwrap(),
        std::fs::read(static_binary()).unwrap()
    );
    assert_eq!(std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap(), "root:x:0:0:root:/root:/bin/sh\n");
    assert_eq!(std::fs::read_to_string(rootfs.join("etc/group")).unwrap(), "root:x:0:\n");

    assert!(image.env.iter().any(|e| e == "BUILD_TASK=example"), "{:?}", image.env);
    assert_eq!(image.working_dir, "/");
    assert!(image.user.is_empty() || image.user == "root", "{}", image.user);
    for label in ["source", "revision", "version"] {
        assert!(image.labels.contains_key(&format!("org.opencontainers.image.{label}")), "{:?}", image.labels);
    }

    // Files: entries that are not directories (file type bits 04 in the
    // mode's leading octal digits: "40755", "41777").
    let entries = listing(&rootfs);
    let files = entries
        .iter()
        .filter(|l| {
            let mode = u32::from_str_radix(l.rsplit(' ').next().unwrap(), 8).unwrap();
            mode & 0o170000 != 0o040000
        })
        .count();
    let entries = entries.len();
    eprintln!(
        "scratch example image: {} bytes compressed ({} layers: {:?}), {files} files, {entries} entries with directories",
        image.compressed,
        image.layer_types.len(),
        image.layer_types
    );
    assert!(image.layer_types.iter().all(|t| t.ends_with("tar+gzip")), "{:?}", image.layer_types);
    assert!(image.compressed <= MAX_COMPRESSED_BYTES, "{} bytes compressed", image.compressed);
    assert_eq!(files, 4, "build-task, /bin/sh, passwd, group");
    assert!(files <= MAX_FILES);
}

#[test]
fn the_scratch_example_image_has_no_audit_finding() {
    let Some(image) = scratch_image() else { return };
    let policy = build_task_audit::Policy::parse(build_task_audit::DEFAULT_POLICY).unwrap();
    let report = build_task_audit::audit_image(&image.unpacked, &policy).unwrap();
    for note in &report.notes {
        eprintln!("note {note}");
    }
    let findings: Vec<String> = report.findings.iter().map(|f| f.to_string()).collect();
    assert!(findings.is_empty(), "{findings:#?}");
    assert!(report.scratch);
}

/// What Cloud Foundry sets for a task (CONTRACT B7), on top of the image's
/// ENV; AWS_ENDPOINT_URL_S3 points the upload at the loopback s3s-fs.
/// The image's own environment, its ENV lines as pairs.
pub(crate) fn image_env(image: &Built) -> Vec<(String, String)> {
    image.env.iter().filter_map(|e| e.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned()))).collect()
}

pub(crate) fn cf_env(image: &Built, s3: &S3Server) -> Vec<(String, String)> {
    let mut env = image_env(image);
    for (k, v) in [
        ("DEPLOY_ENV", "dev".to_owned()),
        ("LOGLEVEL", "info".to_owned()),
        ("VCAP_SERVICES", vcap_services("dev")),
        ("VCAP_APPLICATION", r#"{"application_name":"pages-example-task-dev","host":"0.0.0.0"}"#.to_owned()),
        ("MEMORY_LIMIT", "512m".to_owned()),
        ("CF_INSTANCE_IP", "127.0.0.1".to_owned()),
        ("CF_INSTANCE_INTERNAL_IP", "127.0.0.1".to_owned()),
        ("CF_INSTANCE_PORT", String::new()),
        ("CF_INSTANCE_ADDR", String::new()),
        ("CF_INSTANCE_PORTS", "[]".to_owned()),
        ("HOME", "/root".to_owned()),
        ("USER", "root".to_owned()),
        ("PWD", "/".to_owned()),
        ("AWS_ENDPOINT_URL_S3", s3.endpoint()),
    ] {
        env.push((k.to_owned(), v));
    }
    env
}

/// A task run against a site at the public-looking address, a callback and
/// S3 on loopback, all in the PublicNet it is started in; returns the command
/// for `/bin/sh -c` and what to check afterwards.
struct TaskRun {
    s3: S3Server,
    cb: CallbackServer,
    _site: WebServer,
    command: String,
}

fn task_run(task_id: u64) -> Option<TaskRun> {
    let s3 = S3Server::start("site-bucket")?;
    let cb = CallbackServer::start(task_id);
    let reply = Reply {
        status: 200,
        headers: vec![("Content-Type".into(), "text/html".into()), ("X-Content-Type-Options".into(), "nosniff".into())],
        body: b"<html>hi</html>".to_vec(),
    };
    let site = WebServer::start_on(PublicNet::SITE_IP, 0, move |_| reply.clone()).unwrap();
    let callback = cb.url();
    let params = Params::on_s3s(&callback, task_id, "site-bucket");
    // pages-core's command: every value encrypted, the params in single quotes.
    let command = format!("exec build-task example -t '{}' -p '{}'", enc(&site.url("/")), params.encrypted());
    Some(TaskRun { s3, cb, _site: site, command })
}

impl TaskRun {
    fn check(&self, out: &Output, task_id: u64) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert_eq!(self.cb.statuses(), ["processing", "success"], "{stderr}");
        let success = &self.cb.bodies()[1];
        assert_eq!(field(success, "artifact").unwrap(), format!("_tasks/artifacts/{task_id}/"));
        assert_eq!(field(success, "count").unwrap(), "5");
        let index = self
            .s3
            .object("site-bucket", &format!("_tasks/artifacts/{task_id}/index.json"))
            .expect("index.json uploaded");
        let index = String::from_utf8(index).unwrap();
        assert!(index.contains(r#""status":200"#), "{index}");
        assert!(index.contains(r#""missingHeaders":["Strict-Transport-Security","Content-Security-Policy","X-Frame-Options","Referrer-Policy","Permissions-Policy"]"#), "{index}");
    }
}

#[test]
fn the_scratch_example_image_runs_under_chroot_as_cloud_foundry_starts_a_task() {
    let Some(image) = scratch_image() else { return };
    let Some(net) = PublicNet::new() else { return };
    net.enter(|| {
        let Some(task) = task_run(6101) else { return };
        // The launcher's exec: /bin/sh -c '<command>', as root, in /.
        let out = chrooted(image, &["/bin/sh", "-c", &task.command], cf_env(image, &task.s3));
        task.check(&out, 6101);
    })
}

#[test]
fn the_scratch_example_image_answers_the_python_command_form_too() {
    let Some(image) = scratch_image() else { return };
    let Some(net) = PublicNet::new() else { return };
    net.enter(|| {
        let Some(task) = task_run(6103) else { return };
        let command = task.command.replacen("exec build-task example", "python build-task/main.py", 1);
        let out = chrooted(image, &["/bin/sh", "-c", &command], cf_env(image, &task.s3));
        task.check(&out, 6103);
    })
}

#[test]
fn doctor_passes_in_the_scratch_example_image() {
    let Some(image) = scratch_image() else { return };
    let Some(s3) = S3Server::start("doctor-bucket") else { return };
    let out = chrooted(image, &["/usr/local/bin/build-task", "doctor"], cf_env(image, &s3));
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{report}{}", String::from_utf8_lossy(&out.stderr));
    for line in [
        "ok    TMPDIR: /tmp is writable",
        "ok    command `exec build-task example …`: /bin/sh -c starts example",
        "ok    command `python build-task/main.py …`: /bin/sh -c starts example",
    ] {
        assert!(report.lines().any(|l| l == line), "{line} in\n{report}");
    }
    assert!(report.ends_with("doctor: 4 checks passed for example\n"), "{report}");
}

#[test]
fn the_scratch_example_image_runs_under_buildah_run() {
    let Some(image) = scratch_image() else { return };
    let Some(net) = PublicNet::new() else { return };
    net.enter(|| {
        let Some(task) = task_run(6102) else { return };
        let ctr =
            String::from_utf8(run(buildah().args(["from", "--pull-never", TAG])).stdout).unwrap().trim().to_owned();
        let mut cmd = buildah();
        // The network namespace buildah is started in (the PublicNet's).
        cmd.args(["run", "--isolation", "chroot", "--network", "host"]);
        for (k, v) in cf_env(image, &task.s3) {
            cmd.arg("--env").arg(format!("{k}={v}"));
        }
        cmd.args([&ctr, "--", "/bin/sh", "-c", &task.command]);
        let out = run_allowing_failure(&mut cmd);
        run(buildah().args(["rm", &ctr]));
        task.check(&out, 6102);
    })
}

/// `args` run chrooted in the image's rootfs with `env` only, as root, in /.
fn chrooted(image: &Built, args: &[&str], env: Vec<(String, String)>) -> Output {
    run_allowing_failure(
        Command::new(which("chroot")).arg(image.unpacked.join("rootfs")).args(args).env_clear().envs(env),
    )
}

pub(crate) fn run_allowing_failure(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

// --- a task on a real base -------------------------------------------------

/// A base image made of busybox (static), with what the hardening step must
/// clear planted in it: a setuid file, world-writable files and a directory,
/// apt lists, docs and man pages, and a fetch tool (wget).
fn busybox_base(dir: &Path) -> PathBuf {
    let root = dir.join("base-context/rootfs");
    for d in [
        "bin",
        "etc",
        "root",
        "tmp",
        "usr/bin",
        "usr/share/doc/pkg",
        "usr/share/man/man1",
        "var/lib/apt/lists",
        "var/cache/apt",
        "etc/apt/apt.conf.d",
        "srv/open",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(which("busybox"), root.join("bin/busybox")).unwrap();
    for applet in [
        "sh", "find", "chmod", "rm", "sed", "cat", "readlink", "head", "cut", "mkdir", "printf", "echo", "test", "[",
        "ls", "touch", "wget", "id", "dirname", "pwd", "grep", "ln", "install",
    ] {
        symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    let write = |path: &str, text: &str, mode: u32| {
        std::fs::write(root.join(path), text).unwrap();
        std::fs::set_permissions(root.join(path), std::fs::Permissions::from_mode(mode)).unwrap();
    };
    write("etc/os-release", "ID=busybox-test\n", 0o644);
    write("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0o644);
    write("usr/bin/su-like", "#!/bin/sh\n", 0o755);
    write("usr/bin/wall-like", "#!/bin/sh\n", 0o755);
    write("etc/open.conf", "x\n", 0o666);
    write("usr/share/doc/pkg/README", "docs\n", 0o644);
    write("usr/share/man/man1/pkg.1", "man\n", 0o644);
    write("var/lib/apt/lists/deb.debian.org_dists", "list\n", 0o644);
    std::fs::set_permissions(root.join("srv/open"), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    // buildah's COPY drops setuid and setgid bits, so they are set by RUN.
    let dockerfile = "FROM scratch\nCOPY rootfs/ /\nRUN chmod 4755 /usr/bin/su-like && chmod 2755 /usr/bin/wall-like\n";
    std::fs::write(dir.join("base-context/Dockerfile"), dockerfile).unwrap();
    dir.join("base-context")
}

/// A build context under `dir` with what the Dockerfile copies into a
/// non-scratch image: the setup scripts and the host-built example binary.
fn setup_context(dir: &Path) -> PathBuf {
    let context = dir.join("context");
    std::fs::create_dir_all(context.join("hardening")).unwrap();
    for script in SETUP_SCRIPTS {
        std::fs::copy(Path::new(REPO).join(script), context.join(script)).unwrap();
    }
    run(Command::new(Path::new(REPO).join("hardening/scratch-rootfs.sh"))
        .arg(static_binary())
        .arg(context.join("layout")));
    context
}

/// An empty directory of this name under the image tests' work dir.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = work_dir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(crate) fn which(tool: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap()).map(|d| d.join(tool)).find(|p| p.is_file()).unwrap()
}

#[test]
fn a_task_on_a_real_base_gets_its_build_sh_and_the_hardening_step() {
    if !can_build_images() || !have_tool("busybox") {
        return;
    }
    let dir = fresh_dir("base");
    let base_context = busybox_base(&dir);
    let base_tag = "localhost/build-task-busybox-base:test";
    run(buildah().args(["bud", "--isolation", "chroot", "-t", base_tag]).arg(&base_context));
    // The base as built fails the audit on what was planted, so the
    // hardening below has something to clear.
    let policy = build_task_audit::Policy::parse(build_task_audit::DEFAULT_POLICY).unwrap();
    let base = unpack(base_tag, &dir.join("base-image"));
    let report = build_task_audit::audit_image(&base.unpacked, &policy).unwrap();
    let planted: Vec<String> = report.findings.iter().map(|f| format!("{} {}", f.rule, f.path)).collect();
    assert_eq!(
        planted,
        [
            "world-writable /etc/open.conf",
            "world-writable /srv/open",
            "cis-4.8-setuid /usr/bin/su-like",
            "cis-4.8-setuid /usr/bin/wall-like"
        ]
    );

    // The context: a task folder with .env and build.sh, the hardening step,
    // and the host-built binary.
    let context = setup_context(&dir);
    let task = context.join("tasks/fake");
    std::fs::create_dir_all(&task).unwrap();
    // buildah resolves `FROM image-${IMAGE_KIND}` to a stage only when the
    // arg is given explicitly; BuildKit takes the default.
    std::fs::write(task.join(".env"), format!("BASE_IMAGE={base_tag}\nBUILD_TASK=fake\nIMAGE_KIND=base\n")).unwrap();
    std::fs::write(
        task.join("build.sh"),
        "#!/bin/sh\nset -eu\n[ \"$(pwd)\" = / ]\nmkdir -p /opt/fake\necho installed > /opt/fake/ready\necho wget >> \"$FETCH_TOOLS\"\n",
    )
    .unwrap();
    let args = build_args(&task.join(".env"), "tasks/fake");
    let image = build_and_unpack(&context, &args, "localhost/build-task-fake:test", &dir);
    let rootfs = image.unpacked.join("rootfs");

    assert_eq!(std::fs::read_to_string(rootfs.join("opt/fake/ready")).unwrap(), "installed\n", "build.sh ran");
    assert_eq!(
        std::fs::read(rootfs.join("usr/local/bin/build-task")).unwrap(),
        std::fs::read(static_binary()).unwrap()
    );
    assert!(image.env.iter().any(|e| e == "BUILD_TASK=fake"), "{:?}", image.env);
    assert_eq!(image.working_dir, "/");
    let mode = |p: &str| std::fs::symlink_metadata(rootfs.join(p)).map(|m| m.mode() & 0o7777).ok();
    assert_eq!(mode("usr/bin/su-like"), Some(0o755), "setuid stripped");
    assert_eq!(mode("usr/bin/wall-like"), Some(0o755), "setgid stripped");
    assert_eq!(mode("etc/open.conf"), Some(0o664), "world-writable cleared");
    assert_eq!(mode("srv/open"), Some(0o775), "world-writable directory cleared");
    assert_eq!(mode("tmp"), Some(0o1777), "the sticky /tmp is kept");
    for gone in [
        "bin/wget",
        "usr/share/doc/pkg",
        "usr/share/man/man1",
        "var/lib/apt/lists/deb.debian.org_dists",
        "tmp/build-task-setup",
    ] {
        assert_eq!(mode(gone), None, "{gone} should be removed");
    }
    assert_eq!(mode("bin/sh"), Some(0o777), "the base's shell stays");

    let report = build_task_audit::audit_image(&image.unpacked, &policy).unwrap();
    let findings: Vec<String> = report.findings.iter().map(|f| f.to_string()).collect();
    assert!(findings.is_empty(), "{findings:#?}");
    assert!(!report.scratch);

    // A task without build.sh: the same Dockerfile, only the hardening step.
    let plain = context.join("tasks/plain");
    std::fs::create_dir_all(&plain).unwrap();
    std::fs::write(plain.join(".env"), format!("BASE_IMAGE={base_tag}\nBUILD_TASK=plain\nIMAGE_KIND=base\n")).unwrap();
    let args = build_args(&plain.join(".env"), "tasks/plain");
    let image = build_and_unpack(&context, &args, "localhost/build-task-plain:test", &dir.join("plain"));
    let rootfs = image.unpacked.join("rootfs");
    let mode = |p: &str| std::fs::symlink_metadata(rootfs.join(p)).map(|m| m.mode() & 0o7777).ok();
    assert!(image.env.iter().any(|e| e == "BUILD_TASK=plain"), "{:?}", image.env);
    assert_eq!(mode("usr/local/bin/build-task"), Some(0o755));
    assert_eq!(mode("usr/bin/su-like"), Some(0o755), "setuid stripped");
    assert_eq!(mode("bin/wget"), Some(0o777), "no tool listed, none removed");
    assert_eq!(mode("tmp/build-task-setup"), None);
    assert!(build_task_audit::audit_image(&image.unpacked, &policy).unwrap().findings.is_empty());

    // A .env whose BUILD_TASK is not the folder's name fails the build.
    std::fs::write(plain.join(".env"), format!("BASE_IMAGE={base_tag}\nBUILD_TASK=other\nIMAGE_KIND=base\n")).unwrap();
    let out = run_allowing_failure(
        buildah()
            .args(["bud", "--isolation", "chroot", "-f"])
            .arg(Path::new(REPO).join("Dockerfile"))
            .args(build_args(&plain.join(".env"), "tasks/plain"))
            .args(["--build-arg", "BINARY_SOURCE=context", "-t", "localhost/build-task-mismatch:test"])
            .arg(&context),
    );
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("TASK_FOLDER=tasks/plain but BUILD_TASK=other"), "{said}");
}

#[test]
fn a_failed_build_step_says_which_and_an_extra_ca_serves_the_build_without_staying() {
    if !can_build_images() || !have_tool("busybox") {
        return;
    }
    let dir = fresh_dir("setup");
    let base_tag = "localhost/build-task-busybox-setup-base:test";
    run(buildah().args(["bud", "--isolation", "chroot", "-t", base_tag]).arg(busybox_base(&dir)));
    let context = setup_context(&dir);
    let task = |name: &str, build_sh: &str| {
        let folder = context.join("tasks").join(name);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(".env"), format!("BASE_IMAGE={base_tag}\nBUILD_TASK={name}\nIMAGE_KIND=base\n"))
            .unwrap();
        std::fs::write(folder.join("build.sh"), build_sh).unwrap();
        build_args(&folder.join(".env"), &format!("tasks/{name}"))
    };
    let bud = |args: &[String], extra: &[&str], tag: &str| {
        run_allowing_failure(
            buildah()
                .args(["bud", "--isolation", "chroot", "-f"])
                .arg(Path::new(REPO).join("Dockerfile"))
                .args(args)
                .args(extra)
                .args(["--build-arg", "BINARY_SOURCE=context", "-t", tag])
                .arg(&context),
        )
    };
    let said =
        |out: &Output| format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));

    // A build.sh that fails: the build stops, its own words and the step's name shown.
    let args = task("broken", "#!/bin/sh\necho 'broken build: the registry said no' >&2\nexit 3\n");
    let out = bud(&args, &[], "localhost/build-task-broken:test");
    assert!(!out.status.success());
    let text = said(&out);
    assert!(text.contains("broken build: the registry said no"), "{text}");
    assert!(text.contains("image setup: tasks/broken/build.sh failed (exit 3); its output above says why"), "{text}");

    // An extra CA: build.sh sees it (apt's config, the variables npm, pip and
    // curl read); the image keeps none of it.
    let ca = crate::support::tls::TestCa::new();
    let pem = std::fs::read_to_string(ca.ca_file()).unwrap();
    let secret = format!("id=extra-ca,src={}", ca.ca_file().display());
    let args = task(
        "ca",
        "#!/bin/sh\nset -eu\nmkdir -p /opt/ca\necho \"$NODE_EXTRA_CA_CERTS $CURL_CA_BUNDLE\" > /opt/ca/env\n\
         cat /etc/apt/apt.conf.d/99build-task-extra-ca > /opt/ca/apt\ngrep -c 'BEGIN CERTIFICATE' \"$CURL_CA_BUNDLE\" > /opt/ca/count\n",
    );
    let image = {
        let out = bud(&args, &["--secret", &secret], "localhost/build-task-ca:test");
        assert!(out.status.success(), "{}", said(&out));
        unpack("localhost/build-task-ca:test", &dir.join("ca"))
    };
    let rootfs = image.unpacked.join("rootfs");
    let read = |p: &str| std::fs::read_to_string(rootfs.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(read("opt/ca/env"), "/run/secrets/extra-ca /tmp/build-task-setup/ca-bundle.pem\n");
    assert_eq!(read("opt/ca/apt"), "Acquire::https::CAInfo \"/tmp/build-task-setup/ca-bundle.pem\";\n");
    assert_eq!(read("opt/ca/count"), "1\n", "no system bundle on busybox: the extra CA alone");
    assert!(!rootfs.join("etc/apt/apt.conf.d/99build-task-extra-ca").exists());
    assert!(!rootfs.join("tmp/build-task-setup").exists());
    let body = pem.lines().nth(1).unwrap();
    let grep = run_allowing_failure(Command::new("grep").args(["-rl", "--", body]).arg(&rootfs).env("LC_ALL", "C"));
    assert_eq!(grep.status.code(), Some(1), "the extra CA is in the image: {}", said(&grep));

    // Asked to keep it, an image without ca-certificates says what it lacks.
    let out =
        bud(&args, &["--secret", &secret, "--build-arg", "KEEP_EXTRA_CA=yes"], "localhost/build-task-ca-kept:test");
    assert!(!out.status.success());
    let text = said(&out);
    assert!(text.contains("KEEP_EXTRA_CA=yes needs the ca-certificates package in the image"), "{text}");
}
