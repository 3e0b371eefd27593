//! The Concourse pipeline in ci/, checked offline with the rules Concourse
//! applies only once a build runs: a task's config file must exist in the
//! artifact its path names, its inputs must have been produced earlier in the
//! plan ("missing inputs: …"), and its `image:` must be an artifact by then
//! ("missing image artifact source: …"), and a task file's ((vars)) must be
//! set by the step's `vars`. Beyond Concourse: every image oci-build-task
//! builds is run before it is pushed (a task in that image through
//! build-task-smoke, ci/smoke), every folder in tasks/ carries the `.env`
//! that oci-build-task reads as build args, every path a task's params name
//! exists for every task and environment, and no file under ci/ or .cloudgov/
//! holds a literal that looks like a secret. Before a push, every built image
//! also has an SBOM (syft) and a scan (grype or trivy, from an image pinned
//! by digest, grype with the database fetched earlier in the run) that the
//! CVE gate (cve-gate.sh, with its allow-list) passed; every task on a base
//! other than scratch has that base tracked by a registry-image resource the
//! build job triggers on; and a job a schedule (time or cron) triggers posts
//! its failure.
//!
//! The check reads the repository through `Repo`, which can replace, add or
//! remove files in memory, so each test plants one mistake in a copy of the
//! real pipeline and sees it caught. The scripts beside the task configs are
//! run for real by `sh` in a temporary directory.
//!
//! The library is the check; `build-task-ci-check [REPO]` runs it from the
//! command line (the pipeline could run it too); the root crate's
//! tests/ci_pipeline.rs plants the mistakes.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use yaml_rust2::{Yaml, YamlLoader};

/// The environments the pipeline deploys to: one pipeline instance each
/// (`-i deploy-env=<env>`), one .cloudgov vars file each.
pub const ENVS: [&str; 3] = ["dev", "staging", "production"];

/// The credentials the pipeline reads from the credential manager; ci/README.md
/// must describe each. `<env>` stands for every environment.
pub const CREDENTIALS: [&str; 18] = [
    "ecr-aws-key",
    "ecr-aws-secret",
    "ecr-account-id",
    "<env>-cf-username",
    "<env>-cf-password",
    "gpg-keys",
    "slack-webhook-url",
    "github-access-token",
    // The user-agent rotation's.
    "com-waf-search-string-pages-slot-2",
    "credhub-api-server",
    "credhub-user-agent-client",
    "credhub-user-agent-secret",
    "master-bosh-ca.certificate",
    // The release branch's: the bot that signs and pushes it.
    "pages-operations-github-user-info.email",
    "pages-operations-github-user-info.username",
    "pages-operations-github-user-gpg.private_key",
    "pages-operations-github-user-gpg-trust",
    "pages-gpg-operations-github-sshkey.private_key",
];

/// The pipelines in ci/, each with the environments whose vars file it is set
/// with: ci/pipeline.yml once per environment, ci/pull-requests.yml for dev.
pub const PIPELINES: [(&str, &[&str]); 2] = [("ci/pipeline.yml", &ENVS), ("ci/pull-requests.yml", &["dev"])];

/// The params oci-build-task reads (CONTRACT C10, from its README,
/// `cmd/build/main.go`, `task.go` and `types.go`), then the five the fork
/// adds to log in to a registry before the build pulls its bases: `LOGIN`
/// (`ECR`: a token from the worker's IAM role; `PASS`: the key pair in
/// `PASS=user:password` for `REG_URL`), `REGISTRIES` (the ECR account ids)
/// and `REGION` (default eu-west-1). A name ending in `_` is a prefix.
const OCI_BUILD_TASK_PARAMS: [&str; 24] = [
    "CONTEXT",
    "DOCKERFILE",
    "BUILD_ARG_",
    "BUILD_ARGS_FILE",
    "TARGET",
    "TARGET_FILE",
    "ADDITIONAL_TARGETS",
    "IMAGE_PLATFORM",
    "OUTPUT_OCI",
    "UNPACK_ROOTFS",
    "BUILDKIT_SECRET_",
    "BUILDKIT_SECRETTEXT_",
    "LABEL_",
    "LABELS_FILE",
    "IMAGE_ARG_",
    "BUILDKIT_SSH",
    "REGISTRY_MIRRORS",
    "BUILDKIT_ADD_HOSTS",
    "BUILDKIT_EXTRA_CONFIG",
    // The fork's.
    "LOGIN",
    "PASS",
    "REG_URL",
    "REGISTRIES",
    "REGION",
];

/// The region the fork logs in to when `REGION` is not set.
const FORK_DEFAULT_REGION: &str = "eu-west-1";

/// The resource types every Concourse has; any other must be declared in
/// the pipeline's `resource_types`.
const BUNDLED_TYPES: [&str; 12] = [
    "bosh-io-release",
    "bosh-io-stemcell",
    "docker-image",
    "git",
    "github-release",
    "hg",
    "mock",
    "pool",
    "registry-image",
    "s3",
    "semver",
    "time",
];

/// The resource type notices are posted through.
const NOTICE_TYPE: &str = "slack-notification";

// ---------------------------------------------------------------------------
// The repository, with changes held in memory

/// The files of the repository as the check sees them: the working tree, with
/// some files replaced, added or removed in memory.
#[derive(Clone)]
pub struct Repo {
    root: PathBuf,
    changes: BTreeMap<String, Option<String>>,
    /// Files whose execute bits are taken away in memory.
    not_executable: BTreeSet<String>,
}

impl Repo {
    /// The repository at `root`, as it is on disk.
    pub fn open(root: impl Into<PathBuf>) -> Repo {
        Repo { root: root.into(), changes: BTreeMap::new(), not_executable: BTreeSet::new() }
    }

    pub fn with(mut self, path: &str, text: &str) -> Repo {
        self.changes.insert(path.to_string(), Some(text.to_string()));
        self
    }

    pub fn without_execute_bits(mut self, path: &str) -> Repo {
        assert!(self.is_file(path), "{path} is in the repository");
        self.not_executable.insert(path.to_string());
        self
    }

    pub fn without(mut self, path: &str) -> Repo {
        self.changes.insert(path.to_string(), None);
        self
    }

    /// Replaces the first `from` in a file with `to`. The file must contain
    /// `from`, so a planted mistake can never silently miss its target.
    pub fn edit(self, path: &str, from: &str, to: &str) -> Repo {
        let text = self.read(path).unwrap_or_else(|| panic!("{path} is in the repository"));
        assert!(text.contains(from), "{path} contains {from:?}");
        let edited = text.replacen(from, to, 1);
        self.with(path, &edited)
    }

    pub fn read(&self, path: &str) -> Option<String> {
        match self.changes.get(path) {
            Some(change) => change.clone(),
            None => fs::read_to_string(self.root.join(path)).ok(),
        }
    }

    pub fn is_file(&self, path: &str) -> bool {
        match self.changes.get(path) {
            Some(change) => change.is_some(),
            None => self.root.join(path).is_file(),
        }
    }

    pub fn is_dir(&self, path: &str) -> bool {
        if path.is_empty() {
            return true;
        }
        let prefix = format!("{path}/");
        self.root.join(path).is_dir() || self.changes.iter().any(|(p, c)| c.is_some() && p.starts_with(&prefix))
    }

    /// A file added in memory counts as executable; one on disk must have an
    /// execute bit (git keeps it, and Concourse runs the script directly).
    pub fn is_executable(&self, path: &str) -> bool {
        if self.not_executable.contains(path) {
            return false;
        }
        match self.changes.get(path) {
            Some(change) => change.is_some(),
            None => {
                fs::metadata(self.root.join(path)).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            }
        }
    }

    pub fn exists(&self, path: &str) -> bool {
        self.is_file(path) || self.is_dir(path)
    }

    /// The names directly inside a directory, on disk or added in memory.
    pub fn list(&self, dir: &str) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        if let Ok(entries) = fs::read_dir(self.root.join(dir)) {
            for entry in entries.flatten() {
                names.insert(entry.file_name().to_string_lossy().into_owned());
            }
        }
        let prefix = format!("{dir}/");
        for (path, change) in &self.changes {
            if let (Some(rest), Some(_)) = (path.strip_prefix(&prefix), change) {
                names.insert(rest.split('/').next().unwrap_or(rest).to_string());
            }
        }
        names.retain(|name| self.exists(&format!("{dir}/{name}")));
        names
    }

    /// Every file under a directory, recursively.
    pub fn files_under(&self, dir: &str) -> Vec<String> {
        let mut files = Vec::new();
        for name in self.list(dir) {
            let path = format!("{dir}/{name}");
            if self.is_file(&path) {
                files.push(path);
            } else {
                files.extend(self.files_under(&path));
            }
        }
        files
    }
}

/// A relative path with `.` and empty segments removed and `..` applied;
/// None when it would leave its root.
fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            _ => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

pub fn parse_yaml(text: &str) -> Result<Yaml, String> {
    let mut docs = YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
    Ok(if docs.is_empty() { Yaml::Null } else { docs.swap_remove(0) })
}

/// A scalar as the string Concourse would pass on (params become env vars).
pub fn scalar(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

pub fn items(value: &Yaml) -> &[Yaml] {
    value.as_vec().map(Vec::as_slice).unwrap_or(&[])
}

fn is_var(value: &str) -> bool {
    value.starts_with("((") && value.ends_with("))")
}

// ---------------------------------------------------------------------------
// The check

/// Where an artifact came from: a `get` of a git resource is this repository,
/// so files in it can be checked; anything else is only known to exist.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Origin {
    Repo,
    Other,
}

/// Where a path in a task's working directory lands.
enum Where {
    /// `..` takes it out of the working directory.
    Outside,
    /// No input is mounted there.
    NoInput,
    /// In an input that is not this repository: not known here.
    Elsewhere,
    /// In this repository, at `inside`.
    Repo { artifact: String, inside: String },
}

/// What a step can see: the artifacts produced before it, the local vars
/// (`load_var`, `across`) with the values each takes, and which of the images
/// built so far have been run.
#[derive(Clone, Default)]
struct Scope {
    artifacts: BTreeMap<String, Origin>,
    vars: BTreeMap<String, Vec<String>>,
    /// Outputs of oci-build-task (a task whose run.path is `build`).
    built: BTreeSet<String>,
    /// Built images a later task ran in (`image:`) through build-task-smoke.
    ran: BTreeSet<String>,
    /// SBOMs (outputs of syft) to the built image each describes.
    sboms: BTreeMap<String, String>,
    /// Scan reports (outputs of grype or trivy) to the built image scanned,
    /// directly or through its SBOM.
    reports: BTreeMap<String, String>,
    /// Built images whose scan report the CVE gate (cve-gate.sh) passed.
    gated: BTreeSet<String>,
}

/// The vulnerability scanners a scan step may run (a task's run.path, by name).
const SCANNERS: [&str; 2] = ["grype", "trivy"];

struct Checker<'r> {
    repo: &'r Repo,
    /// Put before each problem of a pipeline other than ci/pipeline.yml: its
    /// file, `ci/<name>.yml: `.
    prefix: String,
    /// The environments whose vars file the pipeline is set with.
    envs: &'static [&'static str],
    /// Resource name to resource type.
    resources: BTreeMap<String, String>,
    /// Job names, for `passed:`.
    jobs: BTreeSet<String>,
    /// The folders of tasks/: the values of an `across` over the loaded task list.
    tasks: Vec<String>,
    problems: Vec<String>,
}

/// Every problem the check finds in `repo`, each a line that names the file,
/// or the job and step, and what is wrong.
pub fn check(repo: &Repo) -> Vec<String> {
    let mut checker = Checker {
        repo,
        prefix: String::new(),
        envs: &ENVS,
        resources: BTreeMap::new(),
        jobs: BTreeSet::new(),
        tasks: Vec::new(),
        problems: Vec::new(),
    };
    checker.task_folders();
    for (file, envs) in PIPELINES {
        checker.prefix = if file == "ci/pipeline.yml" { String::new() } else { format!("{file}: ") };
        checker.envs = envs;
        checker.pipeline(file);
    }
    checker.secrets();
    checker.problems
}

/// The keys that make a mapping a step, in the order Concourse's schema lists them.
const STEP_KINDS: [&str; 8] = ["get", "put", "task", "set_pipeline", "load_var", "in_parallel", "do", "try"];
const HOOKS: [&str; 5] = ["on_success", "on_failure", "on_error", "on_abort", "ensure"];

impl Checker<'_> {
    fn problem(&mut self, job: &str, step: &str, message: String) {
        self.problems.push(format!("{}job {job}, step {step}: {message}", self.prefix));
    }

    fn resource_problem(&mut self, resource: &str, message: String) {
        self.problems.push(format!("{}resource {resource}: {message}", self.prefix));
    }

    fn task_folders(&mut self) {
        for name in self.repo.list("tasks") {
            let folder = format!("tasks/{name}");
            if !self.repo.is_dir(&folder) {
                continue;
            }
            if name.is_empty()
                || name.starts_with('-')
                || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                self.problems.push(format!(
                    "{folder}: a task folder name must be lowercase letters, digits and dashes (it becomes an image tag and an app name)"
                ));
            }
            self.tasks.push(name.clone());
            let Some(env) = self.repo.read(&format!("{folder}/.env")) else {
                self.problems.push(format!("{folder}: no .env, which oci-build-task reads as BUILD_ARGS_FILE"));
                continue;
            };
            if !env.lines().any(|line| line.strip_prefix("BASE_IMAGE=").is_some_and(|image| !image.trim().is_empty())) {
                self.problems.push(format!("{folder}/.env: no BASE_IMAGE=<image> line"));
            }
            for (n, line) in env.split('\n').enumerate() {
                if line.ends_with('\r') {
                    self.problems.push(format!(
                        "{folder}/.env: line {} ends with a carriage return, which oci-build-task passes on as part of the value",
                        n + 1
                    ));
                }
                if line.trim_start().starts_with('#') {
                    self.problems.push(format!(
                        "{folder}/.env: line {} is a comment, which oci-build-task passes on as a build arg",
                        n + 1
                    ));
                }
            }
        }
        if self.tasks.is_empty() {
            self.problems.push("tasks/: no task folders, so the pipeline would build nothing".to_string());
        }
    }

    fn pipeline(&mut self, file: &str) {
        let Some(text) = self.repo.read(file) else {
            self.problems.push(format!("{file}: missing"));
            return;
        };
        let pipeline = match parse_yaml(&text) {
            Ok(pipeline) => pipeline,
            Err(e) => {
                self.problems.push(format!("{file}: not YAML: {e}"));
                return;
            }
        };
        let declared: BTreeSet<String> =
            items(&pipeline["resource_types"]).iter().filter_map(|t| scalar(&t["name"])).collect();
        self.resources.clear();
        for resource in items(&pipeline["resources"]) {
            if let (Some(name), Some(kind)) = (resource["name"].as_str(), resource["type"].as_str()) {
                self.resources.insert(name.to_string(), kind.to_string());
                if !BUNDLED_TYPES.contains(&kind) && !declared.contains(kind) {
                    self.resource_problem(
                        name,
                        format!("unknown resource type '{kind}' (neither bundled nor in resource_types)"),
                    );
                }
                self.source(name, kind, &resource["source"]);
            }
        }
        self.jobs = items(&pipeline["jobs"]).iter().filter_map(|job| scalar(&job["name"])).collect();
        for job in items(&pipeline["jobs"]) {
            let name = job["name"].as_str().unwrap_or("(unnamed)").to_string();
            let mut scope = Scope::default();
            for step in items(&job["plan"]) {
                self.step(&name, step, &mut scope);
            }
            // A job's hooks run after its plan and see what it made.
            self.hooks(&name, job, &scope);
            self.scheduled(&name, job);
        }
        if file == "ci/pipeline.yml" {
            self.bases(&pipeline);
            self.release_sboms(&pipeline);
        }
    }

    /// The release attaches the SPDX SBOM of every task's image as ECR holds
    /// it: a resource `<task>-image` of that image's tag, which the release
    /// job gets, an sbom.yml step over it into `sbom-<task>`, an input of
    /// the release notes (which check its revision), and the put's globs.
    fn release_sboms(&mut self, pipeline: &Yaml) {
        let Some(job) = items(&pipeline["jobs"]).iter().find(|j| j["name"].as_str() == Some("release")) else {
            return;
        };
        let mut steps = Vec::new();
        for step in items(&job["plan"]) {
            steps_in(step, &mut steps);
        }
        let notes_inputs: BTreeSet<String> = self
            .repo
            .read("ci/tasks/release-notes.yml")
            .and_then(|text| parse_yaml(&text).ok())
            .map(|config| items(&config["inputs"]).iter().filter_map(|i| scalar(&i["name"])).collect())
            .unwrap_or_default();
        let pushed = resource_of_pipeline(pipeline, "image-repository");
        for task in self.tasks.clone() {
            let name = format!("{task}-image");
            let sbom = format!("sbom-{task}");
            match resource_of_pipeline(pipeline, &name) {
                None => self.problems.push(format!(
                    "tasks/{task}: the release attaches no SBOM of its image: no resource {name} \
                     (a registry-image resource of its pushed tag, {task}-((deploy-env)))"
                )),
                Some(resource) => {
                    let tag = scalar(&resource["source"]["tag"]).unwrap_or_default();
                    let repository = scalar(&resource["source"]["repository"]);
                    if tag != format!("{task}-((deploy-env))")
                        || repository != pushed.as_ref().and_then(|p| scalar(&p["source"]["repository"]))
                    {
                        self.resource_problem(
                            &name,
                            format!("is not the image the pipeline pushes for {task} (image-repository's repository, tag {task}-((deploy-env)))"),
                        );
                    }
                }
            }
            let got = steps.iter().any(|s| s["get"].as_str() == Some(&name));
            let described = steps.iter().any(|s| {
                s["file"].as_str() == Some("src/ci/tasks/sbom.yml")
                    && s["input_mapping"]["image"].as_str() == Some(&name)
                    && s["output_mapping"]["sbom"].as_str() == Some(&sbom)
            });
            if !got || !described {
                self.problems.push(format!(
                    "job release: no SBOM of the {task} image (a get of {name} and an sbom.yml step over it into {sbom})"
                ));
            }
            if !notes_inputs.contains(&sbom) {
                self.problems.push(format!(
                    "ci/tasks/release-notes.yml: no input {sbom}, so the notes cannot list the {task} image"
                ));
            }
        }
        let globbed = steps.iter().any(|s| {
            s["put"].as_str() == Some("github-release")
                && items(&s["params"]["globs"]).iter().filter_map(scalar).any(|g| g.starts_with("sbom-"))
        });
        if !globbed {
            self.problems
                .push("job release: the github-release put attaches no SBOM (params.globs: sbom-*/…)".to_string());
        }
    }

    /// Every task on a base other than scratch has that base tracked: a
    /// registry-image resource `<task>-base` of the repository its .env pins
    /// (ECR: the same region), checked on a schedule, a trigger of
    /// build-and-deploy, and an input of the base step (ci/tasks/base.yml).
    fn bases(&mut self, pipeline: &Yaml) {
        let base_inputs: BTreeSet<String> = self
            .repo
            .read("ci/tasks/base.yml")
            .and_then(|text| parse_yaml(&text).ok())
            .map(|config| items(&config["inputs"]).iter().filter_map(|i| scalar(&i["name"])).collect())
            .unwrap_or_default();
        // The rule is the build job's (the one-job pipelines of the plan tests have none).
        let Some(job) = items(&pipeline["jobs"]).iter().find(|j| j["name"].as_str() == Some("build-and-deploy")) else {
            return;
        };
        let mut gets = Vec::new();
        for step in items(&job["plan"]) {
            gets_in(step, &mut gets);
        }
        for task in self.tasks.clone() {
            let env = self.repo.read(&format!("tasks/{task}/.env")).unwrap_or_default();
            let Some(base) = env.lines().find_map(|l| l.strip_prefix("BASE_IMAGE=")) else { continue };
            if base == "scratch" || base.is_empty() {
                continue;
            }
            let (region, repository) = base_repository(base);
            let name = format!("{task}-base");
            let Some(resource) = items(&pipeline["resources"]).iter().find(|r| r["name"].as_str() == Some(&name))
            else {
                self.problems.push(format!(
                    "tasks/{task}/.env builds on {repository}, but no resource {name} tracks it (a registry-image \
                     resource of that repository, checked on a schedule), so a new digest would never rebuild it"
                ));
                continue;
            };
            if resource["type"].as_str() != Some("registry-image") {
                self.resource_problem(&name, "tracks a base, but is not a registry-image resource".to_string());
            }
            let source = &resource["source"];
            let tracked = scalar(&source["repository"]).unwrap_or_default();
            let tracked_region = scalar(&source["aws_region"]);
            let tracked = if tracked_region.is_some() { tracked } else { base_repository(&tracked).1 };
            if tracked != repository || tracked_region != region {
                let shown = |r: &Option<String>, repo: &str| match r {
                    Some(region) => format!("{repo} (ECR, {region})"),
                    None => repo.to_string(),
                };
                self.resource_problem(
                    &name,
                    format!(
                        "tracks {}, but tasks/{task}/.env builds on {}",
                        shown(&tracked_region, &tracked),
                        shown(&region, &repository)
                    ),
                );
            }
            match scalar(&resource["check_every"]).as_deref() {
                None | Some("never") => self.resource_problem(
                    &name,
                    "a tracked base needs check_every (how often its tag is looked at, e.g. 6h): \
                     never misses new digests, the 1m default asks the registry all day"
                        .to_string(),
                ),
                Some(_) => {}
            }
            let triggered = gets.iter().any(|get| {
                get["get"].as_str() == Some(&name)
                    && (get["trigger"].as_bool() == Some(true) || scalar(&get["trigger"]).is_some_and(|t| is_var(&t)))
            });
            if !triggered {
                self.problems.push(format!(
                    "job build-and-deploy: does not get {name} with a trigger, so a new digest of the {task} base \
                     would not rebuild it"
                ));
            }
            if !base_inputs.contains(&name) {
                self.problems.push(format!(
                    "ci/tasks/base.yml: no input {name}, so the base step never sees the tracked digest of the {task} base"
                ));
            }
        }
    }

    /// What a resource's source must say: a git source names the keys its
    /// commits must be signed with, a pull request source leaves forks out,
    /// and a notice goes to an endpoint that is a ((var)).
    fn source(&mut self, name: &str, kind: &str, source: &Yaml) {
        match kind {
            "git" => {
                let keys = &source["commit_verification_keys"];
                let set = scalar(keys).is_some_and(|k| is_var(&k)) || keys.as_vec().is_some_and(|k| !k.is_empty());
                if !set {
                    self.resource_problem(
                        name,
                        "a git source without commit_verification_keys, so unsigned commits would build and deploy"
                            .to_string(),
                    );
                }
            }
            "pull-request" if source["disable_forks"].as_bool() != Some(true) => {
                self.resource_problem(
                    name,
                    "a pull request source without disable_forks: true, so a fork's code would run here".to_string(),
                );
            }
            NOTICE_TYPE if !scalar(&source["url"]).is_some_and(|url| is_var(&url)) => {
                self.resource_problem(name, "a notice endpoint (source.url) that is not a ((var))".to_string());
            }
            _ => {}
        }
    }

    /// A job a `time` resource triggers has nobody watching it: its failure
    /// must be posted.
    fn scheduled(&mut self, job: &str, config: &Yaml) {
        let mut gets = Vec::new();
        for step in items(&config["plan"]) {
            gets_in(step, &mut gets);
        }
        for get in gets {
            let name = scalar(&get["get"]).unwrap_or_default();
            let resource = get["resource"].as_str().map(str::to_string).unwrap_or(name);
            let kind = self.resources.get(&resource).cloned().unwrap_or_default();
            let timed = kind == "time" || kind == "cron";
            if timed && get["trigger"].as_bool() == Some(true) && !self.notifies(&config["on_failure"]) {
                self.problems.push(format!(
                    "{}job {job}: triggered by the {kind} resource '{resource}', but no on_failure notice \
                     (a put to a {NOTICE_TYPE} resource), so a failed scheduled run would go unseen",
                    self.prefix
                ));
            }
        }
    }

    /// Whether a hook posts a notice: a put to a notice resource, itself or
    /// within a `do`, `in_parallel` or `try`.
    fn notifies(&self, step: &Yaml) -> bool {
        if let Some(name) = scalar(&step["put"]) {
            let resource = step["resource"].as_str().map(str::to_string).unwrap_or(name);
            return self.resources.get(&resource).is_some_and(|kind| kind == NOTICE_TYPE);
        }
        let parallel = &step["in_parallel"];
        let children = if parallel.is_array() {
            parallel
        } else if !parallel.is_badvalue() {
            &parallel["steps"]
        } else {
            &step["do"]
        };
        items(children).iter().any(|child| self.notifies(child)) || self.notifies_in(&step["try"])
    }

    fn notifies_in(&self, step: &Yaml) -> bool {
        !step.is_badvalue() && self.notifies(step)
    }

    /// One step with its modifiers: `across` runs it in a scope of its own,
    /// whose artifacts are not visible after it; hooks see what the step made.
    fn step(&mut self, job: &str, step: &Yaml, scope: &mut Scope) {
        if !step.is_hash() {
            self.problem(job, "(plan)", "a step is not a mapping".to_string());
            return;
        }
        if step["across"].is_badvalue() {
            self.core(job, step, scope);
            self.hooks(job, step, scope);
            return;
        }
        let mut inner = scope.clone();
        for var in items(&step["across"]) {
            let name = var["var"].as_str().unwrap_or("(unnamed)");
            let values = self.across_values(job, name, &var["values"], scope);
            inner.vars.insert(name.to_string(), values);
        }
        self.core(job, step, &mut inner);
        self.hooks(job, step, &inner);
    }

    /// The values an `across` var takes. A list is taken as written; a loaded
    /// var is the task list, the only list this pipeline loads (list-tasks
    /// writes every folder of tasks/).
    fn across_values(&mut self, job: &str, var: &str, values: &Yaml, scope: &Scope) -> Vec<String> {
        if let Some(list) = values.as_vec() {
            return list.iter().filter_map(scalar).collect();
        }
        let text = values.as_str().unwrap_or("");
        // A static var: the lists the environments' vars files give it.
        if let Some(name) = text.strip_prefix("((").and_then(|t| t.strip_suffix("))")).filter(|v| !v.starts_with(".:"))
        {
            let mut all = Vec::new();
            for env in self.envs {
                let file = format!("ci/vars/{env}.yml");
                let doc = self.repo.read(&file).and_then(|t| parse_yaml(&t).ok()).unwrap_or(Yaml::Null);
                match doc[name].as_vec() {
                    Some(list) => all.extend(list.iter().filter_map(scalar)),
                    None => self.problem(job, &format!("across {var}"), format!("{file} sets no list (({name}))")),
                }
            }
            all.sort();
            all.dedup();
            return all;
        }
        match text.strip_prefix("((.:").and_then(|t| t.strip_suffix("))")) {
            Some(loaded) if scope.vars.contains_key(loaded) => self.tasks.clone(),
            Some(loaded) => {
                self.problem(job, &format!("across {var}"), format!("undefined local var: {loaded}"));
                Vec::new()
            }
            None => {
                self.problem(job, &format!("across {var}"), "values is neither a list nor a ((var))".to_string());
                Vec::new()
            }
        }
    }

    fn hooks(&mut self, job: &str, step: &Yaml, scope: &Scope) {
        for hook in HOOKS {
            if !step[hook].is_badvalue() {
                // A hook runs after the step; what it produces is not counted
                // on by later steps (Concourse does not promise it either way).
                let mut after = scope.clone();
                self.step(job, &step[hook], &mut after);
            }
        }
    }

    fn core(&mut self, job: &str, step: &Yaml, scope: &mut Scope) {
        let Some(kind) = STEP_KINDS.into_iter().find(|kind| !step[*kind].is_badvalue()) else {
            let keys: Vec<String> = step.as_hash().into_iter().flat_map(|h| h.keys()).filter_map(scalar).collect();
            self.problem(
                job,
                "(plan)",
                format!("a step with none of {} (its keys: {})", STEP_KINDS.join(", "), keys.join(", ")),
            );
            return;
        };
        let name = scalar(&step[kind]).unwrap_or_default();
        match kind {
            "get" => {
                let resource = step["resource"].as_str().unwrap_or(&name);
                match self.resources.get(resource) {
                    Some(kind) => {
                        // A pull request's checkout is this repository too.
                        let origin = if kind == "git" || kind == "pull-request" { Origin::Repo } else { Origin::Other };
                        scope.artifacts.insert(name.clone(), origin);
                    }
                    None => self.problem(job, &name, format!("unknown resource '{resource}'")),
                }
                for passed in items(&step["passed"]).iter().filter_map(scalar) {
                    if !self.jobs.contains(&passed) {
                        self.problem(job, &name, format!("passed references an unknown job ('{passed}')"));
                    }
                }
            }
            "put" => self.put(job, &name, step, scope),
            "task" => self.task(job, &name, step, scope),
            "set_pipeline" => {
                match step["file"].as_str() {
                    Some(file) => {
                        self.artifact_file(job, &name, file, "config file path", "", scope);
                    }
                    None => self.problem(job, &name, "no config file to set the pipeline from".to_string()),
                }
                for file in items(&step["var_files"]).iter().filter_map(scalar) {
                    for (path, binding) in expand(&file, scope) {
                        let binding = if binding.is_empty() { binding } else { format!(" (for {binding})") };
                        self.artifact_file(job, &name, &path, "var file path", &binding, scope);
                    }
                }
            }
            "load_var" => {
                match step["file"].as_str() {
                    Some(file) => {
                        self.artifact_file(job, &name, file, "file path", "", scope);
                    }
                    None => self.problem(job, &name, "no file to load".to_string()),
                }
                scope.vars.insert(name.clone(), Vec::new());
            }
            "in_parallel" => {
                let steps =
                    if step["in_parallel"].is_array() { &step["in_parallel"] } else { &step["in_parallel"]["steps"] };
                // Parallel steps do not see each other's artifacts; later steps see them all.
                let mut after = scope.clone();
                for child in items(steps) {
                    let mut own = scope.clone();
                    self.step(job, child, &mut own);
                    after.artifacts.extend(own.artifacts);
                    after.vars.extend(own.vars);
                    after.built.extend(own.built);
                    after.ran.extend(own.ran);
                    after.sboms.extend(own.sboms);
                    after.reports.extend(own.reports);
                    after.gated.extend(own.gated);
                }
                *scope = after;
            }
            "do" => {
                for child in items(&step["do"]) {
                    self.step(job, child, scope);
                }
            }
            "try" => self.step(job, &step["try"], scope),
            _ => unreachable!("STEP_KINDS lists only the kinds matched above"),
        }
    }

    fn put(&mut self, job: &str, name: &str, step: &Yaml, scope: &mut Scope) {
        let resource = step["resource"].as_str().unwrap_or(name);
        let Some(kind) = self.resources.get(resource).cloned() else {
            self.problem(job, name, format!("unknown resource '{resource}'"));
            return;
        };
        // The put streams in the artifacts its params name (inputs: detect).
        let mut named: Vec<String> = items(&step["inputs"]).iter().filter_map(scalar).collect();
        let path_params: &[&str] = match kind.as_str() {
            "registry-image" => &["image", "additional_tags"],
            "pull-request" => &["path"],
            "github-release" => &["name", "tag", "body", "commitish"],
            _ => &[],
        };
        for param in path_params {
            if let Some(path) = step["params"][*param].as_str().filter(|p| !p.contains("((")) {
                named.push(path.split('/').next().unwrap_or(path).to_string());
            }
        }
        let missing: Vec<String> = named.iter().filter(|a| !scope.artifacts.contains_key(*a)).cloned().collect();
        if !missing.is_empty() {
            self.problem(job, name, format!("missing inputs: {}", missing.join(", ")));
        }
        // Beyond Concourse: an image is run before it is pushed.
        if kind == "registry-image"
            && let Some(image) = step["params"]["image"].as_str()
            && let Some(artifact) = image.split('/').next()
            && scope.built.contains(artifact)
            && !scope.ran.contains(artifact)
        {
            self.problem(
                job,
                name,
                format!(
                    "pushes {image}, but no run step ran the image first \
                     (a task with `image: {artifact}` whose run.path is build-task-smoke)"
                ),
            );
        }
        // Beyond Concourse: an image is described and passes the CVE gate before it is pushed.
        if kind == "registry-image"
            && let Some(image) = step["params"]["image"].as_str()
            && let Some(artifact) = image.split('/').next()
            && scope.built.contains(artifact)
        {
            if !scope.sboms.values().any(|described| described == artifact) {
                self.problem(
                    job,
                    name,
                    format!("pushes {image}, but no SBOM of it was made first (a syft task over `{artifact}`)"),
                );
            }
            if !scope.gated.contains(artifact) {
                self.problem(
                    job,
                    name,
                    format!(
                        "pushes {image}, but no CVE gate passed on it first (a grype or trivy scan of it or \
                         of its SBOM, read by a task whose run.path is cve-gate.sh)"
                    ),
                );
            }
        }
        // The put's own get makes an artifact of the step's name.
        if step["no_get"].as_bool() != Some(true) {
            scope.artifacts.insert(name.to_string(), Origin::Other);
        }
    }

    /// Reads `<artifact>/<path>` the way Concourse does for a task's `file:`
    /// or a `load_var`: the first segment must be an artifact by now; when it
    /// is this repository the file must exist in it.
    fn artifact_file(
        &mut self,
        job: &str,
        step: &str,
        path: &str,
        what: &str,
        binding: &str,
        scope: &Scope,
    ) -> Option<String> {
        let Some((artifact, rest)) = path.split_once('/') else {
            self.problem(job, step, format!("{what} '{path}' does not specify where the file lives"));
            return None;
        };
        match scope.artifacts.get(artifact) {
            None => {
                self.problem(job, step, format!("unknown artifact source: '{artifact}' in {what} '{path}'"));
                None
            }
            Some(Origin::Other) => None,
            // The git resource writes .git/ref and friends beside the checkout.
            Some(Origin::Repo) if rest.starts_with(".git/") => None,
            Some(Origin::Repo) => {
                let text = self.repo.read(rest);
                if text.is_none() {
                    self.problem(job, step, format!("file '{rest}' not found within artifact '{artifact}'{binding}"));
                }
                text
            }
        }
    }

    fn task(&mut self, job: &str, name: &str, step: &Yaml, scope: &mut Scope) {
        let config = if let Some(file) = step["file"].as_str() {
            let text = self.artifact_file(job, name, file, "task config file path", "", scope);
            // The step's `vars` fill a task file's ((vars)) before it is parsed.
            let undefined: Vec<String> = text
                .as_deref()
                .map(template_vars)
                .unwrap_or_default()
                .into_iter()
                .filter(|var| step["vars"][var.as_str()].is_badvalue())
                .collect();
            if !undefined.is_empty() {
                self.problem(job, name, format!("task config {file}: undefined vars: {}", undefined.join(", ")));
            }
            match text.map(|t| parse_yaml(&t)) {
                Some(Ok(config)) => Some(config),
                Some(Err(e)) => {
                    self.problem(job, name, format!("task config {file} is not YAML: {e}"));
                    None
                }
                None => None,
            }
        } else if step["config"].is_hash() {
            Some(step["config"].clone())
        } else {
            self.problem(job, name, "the task has neither file nor config".to_string());
            None
        };

        if let Some(image) = step["image"].as_str() {
            if !scope.artifacts.contains_key(image) {
                self.problem(job, name, format!("missing image artifact source: {image}"));
            }
        } else if let Some(config) = &config
            && config["image_resource"].is_badvalue()
            && config["rootfs_uri"].is_badvalue()
        {
            self.problem(job, name, "the step names no image and its config no image_resource".to_string());
        }

        let Some(config) = config else { return };
        // TaskConfig.Validate, before anything runs.
        let mut invalid = Vec::new();
        if config["platform"].as_str().is_none() {
            invalid.push("missing 'platform'");
        }
        match config["run"]["path"].as_str() {
            None => invalid.push("missing path to executable to run"),
            // A bare name (`build`, `sh`) is looked up on the image's PATH;
            // an absolute path is in the image.
            Some(path) if path.contains('/') && !path.starts_with('/') => {
                self.path_param(job, name, "run.path", path, "", &config, step, scope)
            }
            Some(_) => {}
        }
        if !invalid.is_empty() {
            self.problem(job, name, format!("invalid task configuration: {}", invalid.join(", ")));
        }
        let mapped = |input: &str| step["input_mapping"][input].as_str().unwrap_or(input).to_string();

        let mut missing = Vec::new();
        for input in items(&config["inputs"]) {
            let artifact = mapped(input["name"].as_str().unwrap_or(""));
            if !scope.artifacts.contains_key(&artifact) && input["optional"].as_bool() != Some(true) {
                missing.push(artifact);
            }
        }
        if !missing.is_empty() {
            self.problem(job, name, format!("missing inputs: {}", missing.join(", ")));
        }

        // Params: the config's defaults, overridden by the step's.
        let mut params = BTreeMap::new();
        for source in [&config["params"], &step["params"]] {
            for (key, value) in source.as_hash().into_iter().flatten() {
                if let (Some(key), Some(value)) = (scalar(key), scalar(value)) {
                    params.insert(key, value);
                }
            }
        }
        for (key, value) in &params {
            // An absolute path is in the image, not in an input.
            if is_path_param(key) && !value.starts_with('/') {
                for (path, binding) in expand(value, scope) {
                    let binding = if binding.is_empty() { binding } else { format!(" (for {binding})") };
                    self.path_param(job, name, &format!("params.{key}"), &path, &binding, &config, step, scope);
                }
            }
        }

        // A param the config declares without a value is the step's to set.
        for (key, value) in config["params"].as_hash().into_iter().flatten() {
            let key = scalar(key).unwrap_or_default();
            if value.is_null() && params.get(&key).is_none_or(|v| v.is_empty()) {
                self.problem(
                    job,
                    name,
                    format!("params.{key}: the task config leaves it to the step, which does not set it"),
                );
            }
        }

        let run_path = config["run"]["path"].as_str().unwrap_or("");
        let program = run_path.rsplit('/').next().unwrap_or("");
        let inputs: Vec<String> =
            items(&config["inputs"]).iter().map(|input| mapped(input["name"].as_str().unwrap_or(""))).collect();
        // The built images this task reads: directly, or (for a scanner) through an SBOM.
        let described: Vec<String> = inputs.iter().filter(|a| scope.built.contains(*a)).cloned().collect();
        let scanned: Vec<String> = inputs
            .iter()
            .filter_map(|a| if scope.built.contains(a) { Some(a.clone()) } else { scope.sboms.get(a).cloned() })
            .collect();
        if program == "syft" || SCANNERS.contains(&program) {
            self.scanner(job, name, program, &params, &inputs, &config, step);
        }
        if run_path.ends_with("/cve-gate.sh") {
            if params.get("CVE_ALLOWLIST_FILE").is_none_or(|f| f.is_empty()) {
                self.problem(
                    job,
                    name,
                    "the CVE gate names no allow-list (params.CVE_ALLOWLIST_FILE), so every finding would block \
                     or none be allowed"
                        .to_string(),
                );
            } else {
                for input in &inputs {
                    if let Some(image) = scope.reports.get(input) {
                        scope.gated.insert(image.clone());
                    }
                }
            }
        }
        if run_path == "build" {
            self.build_params(job, name, &params);
            self.ecr_bases(job, name, &params, &config, step, scope);
            self.build_args(job, name, &params, &config, step, scope);
        }
        // Beyond Concourse: every deploy says how it went.
        if run_path.ends_with("/deploy.sh") {
            for (hook, what) in [("on_success", "success"), ("on_failure", "failure")] {
                if !self.notifies_in(&step[hook]) {
                    self.problem(
                        job,
                        name,
                        format!("a deploy without a notice of its {what} ({hook}: a put to a {NOTICE_TYPE} resource)"),
                    );
                }
            }
        }
        // A task in a built image, through the smoke tool, has run that image.
        if let Some(image) = step["image"].as_str()
            && scope.built.contains(image)
            && run_path.rsplit('/').next() == Some("build-task-smoke")
        {
            scope.ran.insert(image.to_string());
        }

        let output_mapped = |output: &str| step["output_mapping"][output].as_str().unwrap_or(output).to_string();
        for output in items(&config["outputs"]) {
            let artifact = output_mapped(output["name"].as_str().unwrap_or(""));
            // A new build of the image has not been run, described or gated yet.
            scope.ran.remove(&artifact);
            scope.gated.remove(&artifact);
            scope.sboms.retain(|sbom, image| *sbom != artifact && *image != artifact);
            scope.reports.retain(|report, image| *report != artifact && *image != artifact);
            if let (true, Some(image)) = (program == "syft", described.first()) {
                scope.sboms.insert(artifact.clone(), image.clone());
            }
            if let (true, Some(image)) = (SCANNERS.contains(&program), scanned.first()) {
                scope.reports.insert(artifact.clone(), image.clone());
            }
            if run_path == "build" {
                scope.built.insert(artifact.clone());
            } else {
                scope.built.remove(&artifact);
            }
            scope.artifacts.insert(artifact, Origin::Other);
        }
    }

    /// A scanner's or syft's task: its image pinned by digest, and grype on
    /// the database an earlier step fetched (only `grype db …` fetches it).
    #[allow(clippy::too_many_arguments)]
    fn scanner(
        &mut self,
        job: &str,
        name: &str,
        program: &str,
        params: &BTreeMap<String, String>,
        inputs: &[String],
        config: &Yaml,
        step: &Yaml,
    ) {
        if step["image"].is_badvalue() {
            let resource = &config["image_resource"];
            let repository = scalar(&resource["source"]["repository"]).unwrap_or_default();
            let digest = scalar(&resource["version"]["digest"]).unwrap_or_default();
            if !pinned_by_digest(&format!("{repository}@{digest}")) {
                self.problem(
                    job,
                    name,
                    format!(
                        "the image of {program} ({repository}) is not pinned by digest (image_resource.version.digest)"
                    ),
                );
            }
        }
        let args: Vec<String> = items(&config["run"]["args"]).iter().filter_map(scalar).collect();
        if program == "grype" && args.first().map(String::as_str) != Some("db") {
            if params.get("GRYPE_DB_AUTO_UPDATE").map(String::as_str) != Some("false") {
                self.problem(
                    job,
                    name,
                    "grype would download its own database (params.GRYPE_DB_AUTO_UPDATE is not \"false\")".to_string(),
                );
            }
            let cache = params.get("GRYPE_DB_CACHE_DIR").cloned().unwrap_or_default();
            let cache_input = cache.split('/').next().unwrap_or_default();
            if !inputs.iter().any(|input| input == cache_input) {
                self.problem(
                    job,
                    name,
                    format!(
                        "grype's database (params.GRYPE_DB_CACHE_DIR '{cache}') is no input of the task, \
                         so not the one fetched earlier in the pipeline"
                    ),
                );
            }
        }
    }

    /// Where a path in the task's working directory lands: in which input,
    /// and for this repository, at which path inside it.
    fn resolve(&self, path: &str, config: &Yaml, step: &Yaml, scope: &Scope) -> Where {
        let dir = config["run"]["dir"].as_str().unwrap_or("");
        let Some(full) = normalize(&format!("{dir}/{path}")) else { return Where::Outside };
        let mut best: Option<(String, String)> = None;
        for input in items(&config["inputs"]) {
            let input_name = input["name"].as_str().unwrap_or("");
            let mount = normalize(input["path"].as_str().unwrap_or(input_name)).unwrap_or_default();
            let covers = mount.is_empty() || full == mount || full.starts_with(&format!("{mount}/"));
            if covers && best.as_ref().is_none_or(|(m, _)| mount.len() > m.len()) {
                let artifact = step["input_mapping"][input_name].as_str().unwrap_or(input_name).to_string();
                best = Some((mount, artifact));
            }
        }
        let Some((mount, artifact)) = best else { return Where::NoInput };
        if scope.artifacts.get(&artifact) != Some(&Origin::Repo) {
            return Where::Elsewhere;
        }
        let inside = if mount.is_empty() { full } else { full[mount.len()..].trim_start_matches('/').to_string() };
        Where::Repo { artifact, inside }
    }

    /// A path in the task's working directory (a param's value, the script
    /// `run.path` names) must exist in the input mounted there, when that
    /// input is this repository.
    #[allow(clippy::too_many_arguments)]
    fn path_param(
        &mut self,
        job: &str,
        name: &str,
        what: &str,
        path: &str,
        binding: &str,
        config: &Yaml,
        step: &Yaml,
        scope: &Scope,
    ) {
        match self.resolve(path, config, step, scope) {
            Where::Outside => {
                self.problem(job, name, format!("{what} '{path}' leaves the working directory{binding}"));
            }
            Where::NoInput => self.problem(job, name, format!("{what} '{path}' is in no input of the task{binding}")),
            Where::Elsewhere => {}
            Where::Repo { artifact, inside } => {
                if !self.repo.exists(&inside) {
                    let shown = if inside.is_empty() { "." } else { &inside };
                    self.problem(
                        job,
                        name,
                        format!("{what}: '{shown}' not found within artifact '{artifact}'{binding}"),
                    );
                } else if what == "run.path" && !self.repo.is_executable(&inside) {
                    self.problem(
                        job,
                        name,
                        format!("{what}: '{inside}' within artifact '{artifact}' is not executable"),
                    );
                }
            }
        }
    }

    /// oci-build-task's params: each one it (or the fork) reads, and a login
    /// the fork can do.
    fn build_params(&mut self, job: &str, name: &str, params: &BTreeMap<String, String>) {
        for key in params.keys() {
            let known = OCI_BUILD_TASK_PARAMS.iter().any(|known| match known.strip_suffix('_') {
                Some(_) => key.starts_with(known) && key.len() > known.len(),
                None => key == known,
            });
            if !known {
                self.problem(
                    job,
                    name,
                    format!("params.{key}: an unknown oci-build-task param, which neither it nor the fork reads (CONTRACT C10)"),
                );
            }
        }
        match params.get("LOGIN").map(String::as_str) {
            None | Some("ECR") => {}
            Some(login) if is_var(login) => {}
            Some("PASS") => {
                for needed in ["PASS", "REG_URL"] {
                    if !params.contains_key(needed) {
                        self.problem(job, name, format!("params.LOGIN is PASS, but params.{needed} is not set"));
                    }
                }
            }
            Some(other) => self.problem(job, name, format!("params.LOGIN: '{other}' is neither ECR nor PASS")),
        }
    }

    /// A base in a private ECR (`<account>.dkr.ecr.<region>.amazonaws.com/…`)
    /// named by a task's BUILD_ARGS_FILE: the fork must log in to that
    /// region, and the base must be pinned by digest, for every task.
    fn ecr_bases(
        &mut self,
        job: &str,
        name: &str,
        params: &BTreeMap<String, String>,
        config: &Yaml,
        step: &Yaml,
        scope: &Scope,
    ) {
        let Some(file) = params.get("BUILD_ARGS_FILE") else { return };
        for (file, binding) in expand(file, scope) {
            let Where::Repo { inside, .. } = self.resolve(&file, config, step, scope) else { continue };
            let Some(text) = self.repo.read(&inside) else { continue };
            let Some(base) = text.lines().find_map(|l| l.strip_prefix("BASE_IMAGE=")) else { continue };
            let Some((host, account, region)) = ecr_registry(base) else { continue };
            let binding = if binding.is_empty() { binding } else { format!(" (for {binding})") };
            let login = params.get("LOGIN").map(String::as_str);
            if login.is_none() {
                self.problem(
                    job,
                    name,
                    format!(
                        "{inside} names the ECR base {host}, but params.LOGIN is not set, \
                         so oci-build-task would pull it without logging in{binding}"
                    ),
                );
            }
            let login_region = params.get("REGION").map(String::as_str).unwrap_or(FORK_DEFAULT_REGION);
            if login == Some("ECR") && !is_var(login_region) && login_region != region {
                self.problem(
                    job,
                    name,
                    format!("{inside} names a base in ECR in {region}, but the fork logs in to {login_region} (params.REGION){binding}"),
                );
            }
            if let Some(registries) = params.get("REGISTRIES").filter(|r| login == Some("ECR") && !is_var(r))
                && !registries.split(|c: char| c == ',' || c.is_whitespace()).any(|id| id == account)
            {
                self.problem(
                    job,
                    name,
                    format!("{inside} names a base in the ECR of account {account}, which params.REGISTRIES does not list{binding}"),
                );
            }
            if !pinned_by_digest(base) {
                self.problem(
                    job,
                    name,
                    format!(
                        "{inside}: the ECR base {host}/… is not pinned by digest (@sha256:<64 hex digits>){binding}"
                    ),
                );
            }
        }
    }

    /// oci-build-task against the Dockerfile it builds: every ARG the
    /// Dockerfile declares before its first FROM without a default must come
    /// from a BUILD_ARG_* param or from the BUILD_ARGS_FILE, for every task.
    fn build_args(
        &mut self,
        job: &str,
        name: &str,
        params: &BTreeMap<String, String>,
        config: &Yaml,
        step: &Yaml,
        scope: &Scope,
    ) {
        let context = params.get("CONTEXT").map(String::as_str).unwrap_or(".");
        let dockerfile = params.get("DOCKERFILE").cloned().unwrap_or_else(|| format!("{context}/Dockerfile"));
        // A missing Dockerfile is reported by the path check.
        let Where::Repo { inside, .. } = self.resolve(&dockerfile, config, step, scope) else { return };
        let Some(text) = self.repo.read(&inside) else { return };
        let required = required_build_args(&text);
        let passed: BTreeSet<String> =
            params.keys().filter_map(|k| k.strip_prefix("BUILD_ARG_")).map(str::to_string).collect();
        let files = match params.get("BUILD_ARGS_FILE") {
            Some(file) => expand(file, scope),
            None => vec![(String::new(), String::new())],
        };
        for (file, binding) in files {
            let mut set = passed.clone();
            if !file.is_empty() {
                let Where::Repo { inside, .. } = self.resolve(&file, config, step, scope) else { continue };
                // A missing args file is reported by the path check.
                let Some(text) = self.repo.read(&inside) else { continue };
                set.extend(args_in_file(&inside, &text));
            }
            let binding = if binding.is_empty() { binding } else { format!(" (for {binding})") };
            let from = if file.is_empty() { "no BUILD_ARGS_FILE".to_string() } else { file.clone() };
            for arg in required.iter().filter(|arg| !set.contains(*arg)) {
                self.problem(
                    job,
                    name,
                    format!(
                        "the Dockerfile's ARG {arg} has no default, and neither params.BUILD_ARG_{arg} nor {from} sets it{binding}"
                    ),
                );
            }
        }
    }

    fn secrets(&mut self) {
        let mut files = self.repo.files_under("ci");
        files.extend(self.repo.files_under(".cloudgov"));
        for file in files {
            let Some(text) = self.repo.read(&file) else { continue };
            for (n, line) in text.lines().enumerate() {
                if let Some(kind) = secret_in_line(line) {
                    self.problems.push(format!(
                        "{file}:{}: {kind}; secrets belong in the credential manager, as ((vars))",
                        n + 1
                    ));
                }
            }
            if file.ends_with(".yml") || file.ends_with(".yaml") {
                match parse_yaml(&text) {
                    Ok(doc) => {
                        let mut found = Vec::new();
                        literal_secrets(&doc, &mut found);
                        for key in found {
                            self.problems.push(format!("{file}: {key}: a literal where a ((var)) belongs"));
                        }
                    }
                    Err(e) => self.problems.push(format!("{file}: not YAML: {e}")),
                }
            }
        }
    }
}

/// The ((vars)) of a task config file, each once, in order; `((.:local))`
/// vars are the pipeline's and are not set by the step.
fn template_vars(text: &str) -> Vec<String> {
    let mut vars: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("((") {
        let Some(len) = rest[start..].find("))") else { break };
        let var = &rest[start + 2..start + len];
        if !var.starts_with(".:") && !vars.iter().any(|v| v == var) {
            vars.push(var.to_string());
        }
        rest = &rest[start + len + 2..];
    }
    vars
}

/// Every step within a step, itself first: inside `in_parallel`, `do`
/// (an `across`'s too) and `try`.
fn steps_in<'y>(step: &'y Yaml, out: &mut Vec<&'y Yaml>) {
    out.push(step);
    let parallel = &step["in_parallel"];
    let children = if parallel.is_array() { parallel } else { &parallel["steps"] };
    for child in items(children).iter().chain(items(&step["do"])) {
        steps_in(child, out);
    }
    if !step["try"].is_badvalue() {
        steps_in(&step["try"], out);
    }
}

/// A resource of a pipeline, by name.
fn resource_of_pipeline<'y>(pipeline: &'y Yaml, name: &str) -> Option<&'y Yaml> {
    items(&pipeline["resources"]).iter().find(|r| r["name"].as_str() == Some(name))
}

/// Every `get` step within a step: itself, or inside `in_parallel`, `do`, `try`.
fn gets_in<'y>(step: &'y Yaml, out: &mut Vec<&'y Yaml>) {
    let mut steps = Vec::new();
    steps_in(step, &mut steps);
    out.extend(steps.into_iter().filter(|s| !s["get"].is_badvalue()));
}

/// The registry host, account id and region of an image in a private ECR
/// (`123456789012.dkr.ecr.us-gov-west-1.amazonaws.com/name…`); None for any
/// other image.
fn ecr_registry(image: &str) -> Option<(String, String, String)> {
    let (host, _) = image.split_once('/')?;
    let parts: Vec<&str> = host.split('.').collect();
    match parts.as_slice() {
        [account, "dkr", "ecr", region, "amazonaws", "com"]
            if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some((host.to_string(), account.to_string(), region.to_string()))
        }
        _ => None,
    }
}

/// The region (for an ECR image) and repository of an image reference,
/// without tag or digest, as a registry-image resource names it: Docker
/// Hub's `docker.io/library/debian:12` is `debian`, an ECR image's
/// repository is its path after the registry host.
fn base_repository(image: &str) -> (Option<String>, String) {
    let name = image.split('@').next().unwrap_or(image);
    // A tag follows the last ':' after the last '/' (a registry port does not).
    let name = match name.rfind(':') {
        Some(colon) if !name[colon..].contains('/') => &name[..colon],
        _ => name,
    };
    if let Some((_, _, region)) = ecr_registry(name) {
        return (Some(region), name.split_once('/').map(|(_, path)| path.to_string()).unwrap_or_default());
    }
    let name = name.strip_prefix("docker.io/").unwrap_or(name);
    let name = name.strip_prefix("library/").unwrap_or(name);
    (None, name.to_string())
}

/// Whether an image reference ends in `@sha256:` and 64 hex digits.
fn pinned_by_digest(image: &str) -> bool {
    image.rsplit_once("@sha256:").is_some_and(|(_, digest)| {
        digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Params whose value is a path: oci-build-task's CONTEXT, DOCKERFILE,
/// BUILD_ARGS_FILE, TARGET_FILE, LABELS_FILE, our BUILD_ARG_TASK_FOLDER, and
/// any other `*_FILE` or `*_FOLDER`.
fn is_path_param(key: &str) -> bool {
    key == "CONTEXT" || key == "DOCKERFILE" || key.ends_with("_FILE") || key.ends_with("_FOLDER")
}

/// The ARGs a Dockerfile declares before its first FROM without a default:
/// the build fails, or builds from an empty value, unless something sets them.
fn required_build_args(dockerfile: &str) -> Vec<String> {
    let mut required = Vec::new();
    for line in dockerfile.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        match words.next().map(str::to_ascii_uppercase).as_deref() {
            Some("FROM") => break,
            Some("ARG") => required.extend(words.filter(|w| !w.contains('=')).map(str::to_string)),
            _ => {}
        }
    }
    required
}

/// The build arg names a BUILD_ARGS_FILE sets: a YAML map for .yml/.yaml,
/// otherwise `name=value` lines (what oci-build-task reads).
fn args_in_file(path: &str, text: &str) -> Vec<String> {
    if path.ends_with(".yml") || path.ends_with(".yaml") {
        let doc = parse_yaml(text).unwrap_or(Yaml::Null);
        return doc.as_hash().into_iter().flat_map(|h| h.keys()).filter_map(scalar).collect();
    }
    text.lines().filter_map(|line| line.split_once('=')).map(|(name, _)| name.to_string()).collect()
}

/// Every value a param takes: each `((.:var))` over its values, and
/// `((deploy-env))` over the environments. Empty when another var is left,
/// since its value is not known here. Each comes with its bindings
/// (`build-task=example, deploy-env=dev`).
fn expand(value: &str, scope: &Scope) -> Vec<(String, String)> {
    let Some(start) = value.find("((") else { return vec![(value.to_string(), String::new())] };
    let Some(len) = value[start..].find("))") else { return Vec::new() };
    let var = &value[start + 2..start + len];
    let values: Vec<String> = if var == "deploy-env" {
        ENVS.iter().map(|e| e.to_string()).collect()
    } else {
        match var.strip_prefix(".:").and_then(|local| scope.vars.get(local)) {
            Some(values) => values.clone(),
            None => return Vec::new(),
        }
    };
    let rest = &value[start + len + 2..];
    let mut out = Vec::new();
    for v in values {
        for (tail, binding) in expand(rest, scope) {
            let name = var.trim_start_matches(".:");
            let binding = if binding.is_empty() { format!("{name}={v}") } else { format!("{name}={v}, {binding}") };
            out.push((format!("{}{v}{tail}", &value[..start]), binding));
        }
    }
    out
}

/// What in a line looks like a secret: an AWS access key id, or a long token
/// of hex or base64. The secret itself is never repeated in the message.
fn secret_in_line(line: &str) -> Option<&'static str> {
    let bytes = line.as_bytes();
    for i in 0..bytes.len() {
        let rest = &bytes[i..];
        if (rest.starts_with(b"AKIA") || rest.starts_with(b"ASIA"))
            && rest.len() >= 20
            && rest[4..20].iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Some("an AWS access key id");
        }
    }
    // An image digest (`sha256:` and 64 hex digits) names an image; it is no secret.
    let line = without_digests(line);
    for token in line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/')) {
        if token.len() >= 32 && token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Some("a long hex string, like a token");
        }
        if token.len() >= 40
            && token.bytes().any(|b| b.is_ascii_uppercase())
            && token.bytes().any(|b| b.is_ascii_lowercase())
            && token.bytes().any(|b| b.is_ascii_digit())
        {
            return Some("a long base64 string, like a token");
        }
    }
    None
}

/// `line` with each `sha256:<64 hex digits>` replaced by `sha256:<digest>`.
fn without_digests(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find("sha256:") {
        let after = &rest[at + 7..];
        let hex = after.bytes().take_while(u8::is_ascii_hexdigit).count();
        out.push_str(&rest[..at + 7]);
        if hex == 64 {
            out.push_str("<digest>");
            rest = &after[64..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Keys that name a secret (password, secret, token, private or access key)
/// holding a literal rather than a ((var)).
fn literal_secrets(doc: &Yaml, found: &mut Vec<String>) {
    match doc {
        Yaml::Hash(hash) => {
            for (key, value) in hash {
                let key = scalar(key).unwrap_or_default();
                let lower = key.to_ascii_lowercase().replace('-', "_");
                let secret =
                    ["password", "secret", "token", "private_key", "access_key"].iter().any(|s| lower.contains(s));
                if let (true, Some(value)) = (secret, scalar(value))
                    && !value.is_empty()
                    && !is_var(&value)
                {
                    found.push(key.clone());
                }
                literal_secrets(value, found);
            }
        }
        Yaml::Array(list) => list.iter().for_each(|item| literal_secrets(item, found)),
        _ => {}
    }
}
