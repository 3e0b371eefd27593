//! The Concourse pipeline in ci/, checked offline by build-task-ci-check
//! (ci/check): the real pipeline passes, and each test plants one mistake in
//! a copy held in memory and sees it caught. The scripts beside the task
//! configs are run for real by `sh` in a temporary directory.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use build_task_audit::cve::Date;
use build_task_ci_check::{CREDENTIALS, ENVS, PIPELINES, Repo, check, items, parse_yaml, scalar};
use yaml_rust2::Yaml;

use crate::support::TempDir;

/// This repository, as the check sees it.
fn real_repo() -> Repo {
    Repo::open(env!("CARGO_MANIFEST_DIR"))
}

/// The real repository, which each planted-mistake test changes in one place.
fn baseline() -> Repo {
    let repo = real_repo();
    assert!(repo.is_file("Dockerfile"), "the repository has its Dockerfile");
    repo
}

// ---------------------------------------------------------------------------
// Tests: the real pipeline, then one planted mistake each

fn assert_clean(repo: &Repo) {
    let problems = check(repo);
    assert!(problems.is_empty(), "the pipeline check found:\n{}", problems.join("\n"));
}

/// Checks a repo with one planted mistake: the check must report a problem
/// containing `expected`.
fn assert_caught(repo: &Repo, expected: &str) {
    let problems = check(repo);
    assert!(
        problems.iter().any(|p| p.contains(expected)),
        "expected a problem containing {expected:?}, found:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_real_pipeline_passes_every_check() {
    assert_clean(&real_repo());
}

#[test]
fn the_baseline_the_mistakes_are_planted_in_passes_every_check() {
    assert_clean(&baseline());
}

#[test]
fn a_task_config_file_that_does_not_exist_is_caught() {
    let repo = baseline().edit("ci/pipeline.yml", "file: src/ci/tasks/audit.yml", "file: src/ci/tasks/audits.yml");
    assert_caught(
        &repo,
        "job build-and-deploy, step audit: file 'ci/tasks/audits.yml' not found within artifact 'src'",
    );
}

#[test]
fn a_task_config_file_in_an_artifact_never_produced_is_caught() {
    let repo = baseline().edit("ci/pipeline.yml", "file: src/ci/tasks/tag.yml", "file: source/ci/tasks/tag.yml");
    assert_caught(
        &repo,
        "job build-and-deploy, step tag: unknown artifact source: 'source' in task config file path 'source/ci/tasks/tag.yml'",
    );
}

#[test]
fn an_input_no_earlier_step_produces_is_caught() {
    // The audit needs the binary build-audit makes; drop that step.
    let repo = baseline().edit(
        "ci/pipeline.yml",
        "  - task: build-audit\n    file: src/ci/tasks/build-audit.yml\n    image: rust\n",
        "",
    );
    assert_caught(&repo, "job build-and-deploy, step audit: missing inputs: audit-bin");
}

#[test]
fn an_input_mapped_to_a_missing_artifact_is_caught() {
    let repo = baseline().edit(
        "ci/pipeline.yml",
        "      file: src/ci/tasks/audit.yml\n",
        "      file: src/ci/tasks/audit.yml\n      input_mapping: {image: built-image}\n",
    );
    assert_caught(&repo, "job build-and-deploy, step audit: missing inputs: built-image");
}

#[test]
fn an_input_added_to_a_task_config_without_a_producer_is_caught() {
    let repo = baseline().edit(
        "ci/tasks/deploy.yml",
        "- name: image-repository\n",
        "- name: image-repository\n- name: cf-config\n",
    );
    assert_caught(&repo, "job build-and-deploy, step deploy: missing inputs: cf-config");
}

#[test]
fn an_output_renamed_by_output_mapping_is_no_longer_there_under_its_own_name() {
    let repo = baseline().edit(
        "ci/pipeline.yml",
        "      file: src/ci/tasks/build.yml\n",
        "      file: src/ci/tasks/build.yml\n      output_mapping: {image: built-image}\n",
    );
    assert_caught(&repo, "job build-and-deploy, step audit: missing inputs: image");
    // The registry push names image/image.tar too.
    assert_caught(&repo, "job build-and-deploy, step image-repository: missing inputs: image");
}

#[test]
fn an_image_artifact_never_fetched_is_caught() {
    let repo = baseline().edit("ci/pipeline.yml", "      - get: rust\n", "");
    assert_caught(&repo, "job build-and-deploy, step build-audit: missing image artifact source: rust");
    assert_caught(&repo, "job build-and-deploy, step audit: missing image artifact source: rust");
}

#[test]
fn a_load_var_from_an_artifact_never_produced_is_caught() {
    let repo = baseline().edit("ci/pipeline.yml", "file: task-list/tasks.json", "file: tasks-list/tasks.json");
    assert_caught(
        &repo,
        "job build-and-deploy, step build-tasks: unknown artifact source: 'tasks-list' in file path 'tasks-list/tasks.json'",
    );
}

#[test]
fn across_over_a_var_never_loaded_is_caught() {
    let repo = baseline().edit("ci/pipeline.yml", "values: ((.:build-tasks))", "values: ((.:build-task-list))");
    assert_caught(&repo, "job build-and-deploy, step across build-task: undefined local var: build-task-list");
}

#[test]
fn a_get_of_an_undeclared_resource_is_caught() {
    let repo = baseline().edit("ci/pipeline.yml", "      - get: general-task\n", "      - get: cf-cli\n");
    assert_caught(&repo, "job build-and-deploy, step cf-cli: unknown resource 'cf-cli'");
}

#[test]
fn a_get_passed_through_an_unknown_job_is_caught() {
    let repo = baseline().edit("ci/pipeline.yml", "passed: [test]", "passed: [tests]");
    assert_caught(&repo, "job build-and-deploy, step src: passed references an unknown job ('tests')");
}

#[test]
fn a_misspelt_step_is_caught() {
    let repo = baseline().edit("ci/pipeline.yml", "  - task: list-tasks\n", "  - taks: list-tasks\n");
    assert_caught(&repo, "job build-and-deploy, step (plan): a step with none of get, put, task");
}

#[test]
fn a_task_script_that_does_not_exist_is_caught() {
    let repo = baseline().edit("ci/tasks/tag.yml", "path: src/ci/tasks/tag.sh", "path: src/ci/tasks/tags.sh");
    assert_caught(
        &repo,
        "job build-and-deploy, step tag: run.path: 'ci/tasks/tags.sh' not found within artifact 'src'",
    );
}

#[test]
fn a_task_script_without_execute_bits_is_caught() {
    let repo = baseline().without_execute_bits("ci/tasks/deploy.sh");
    assert_caught(
        &repo,
        "job build-and-deploy, step deploy: run.path: 'ci/tasks/deploy.sh' within artifact 'src' is not executable",
    );
}

#[test]
fn a_task_config_concourse_would_refuse_is_caught() {
    let repo = baseline().edit("ci/tasks/tag.yml", "platform: linux\n", "");
    assert_caught(&repo, "job build-and-deploy, step tag: invalid task configuration: missing 'platform'");
}

/// The run step as ci/pipeline.yml writes it.
const RUN_STEP: &str = "    - task: run\n      file: src/ci/tasks/run.yml\n      image: image\n      vars:\n        task: ((.:build-task))\n";

#[test]
fn an_image_pushed_without_a_run_step_is_caught() {
    let repo = baseline().edit("ci/pipeline.yml", RUN_STEP, "");
    assert_caught(
        &repo,
        "job build-and-deploy, step image-repository: pushes image/image.tar, but no run step ran the image first",
    );
}

#[test]
fn a_run_step_after_the_push_is_caught() {
    let put_end = "      get_params:\n        skip_download: true\n";
    let repo = baseline().edit("ci/pipeline.yml", RUN_STEP, "").edit(
        "ci/pipeline.yml",
        put_end,
        &format!("{put_end}{RUN_STEP}"),
    );
    assert_caught(
        &repo,
        "job build-and-deploy, step image-repository: pushes image/image.tar, but no run step ran the image first",
    );
}

#[test]
fn a_run_step_in_another_image_than_the_one_built_is_caught() {
    let repo = baseline().edit(
        "ci/pipeline.yml",
        "      file: src/ci/tasks/run.yml\n      image: image\n",
        "      file: src/ci/tasks/run.yml\n      image: rust\n",
    );
    assert_caught(&repo, "step image-repository: pushes image/image.tar, but no run step ran the image first");
}

#[test]
fn a_run_step_that_does_not_run_the_smoke_tool_is_caught() {
    let repo = baseline().edit(
        "ci/tasks/run.yml",
        "  path: smoke-bin/build-task-smoke\n",
        "  path: /usr/local/bin/build-task\n",
    );
    assert_caught(&repo, "step image-repository: pushes image/image.tar, but no run step ran the image first");
}

#[test]
fn a_run_step_whose_smoke_tool_is_never_built_is_caught() {
    let repo = baseline().edit("ci/tasks/build-audit.yml", "- name: smoke-bin\n", "");
    assert_caught(&repo, "job build-and-deploy, step run: missing inputs: smoke-bin");
}

#[test]
fn a_run_step_that_does_not_set_its_task_file_vars_is_caught() {
    let without_vars = RUN_STEP.replace("      vars:\n        task: ((.:build-task))\n", "");
    let repo = baseline().edit("ci/pipeline.yml", RUN_STEP, &without_vars);
    assert_caught(&repo, "job build-and-deploy, step run: task config src/ci/tasks/run.yml: undefined vars: task");
}

/// A syft task over the image, grype's scan of its SBOM and the CVE gate on
/// that report, as one-job plan steps.
const GATED: [&str; 3] = [
    "task: sbom\nimage: alpine\nconfig: {platform: linux, inputs: [{name: image}], outputs: [{name: sbom}], run: {path: /syft}}\n",
    "task: scan\nimage: alpine\nconfig: {platform: linux, inputs: [{name: sbom}, {name: db}], outputs: [{name: scan}], \
     params: {GRYPE_DB_CACHE_DIR: db, GRYPE_DB_AUTO_UPDATE: \"false\"}, run: {path: /grype}}\n",
    "task: gate\nimage: alpine\nconfig: {platform: linux, inputs: [{name: scan}], params: {CVE_ALLOWLIST_FILE: /list.toml}, \
     run: {path: /ci/cve-gate.sh}}\n",
];

#[test]
fn an_image_rebuilt_after_its_run_must_be_run_described_and_gated_again() {
    let build = "task: build\nimage: alpine\nconfig: {platform: linux, outputs: [{name: image}], run: {path: build}}\n";
    let db = "task: db\nimage: alpine\nconfig: {platform: linux, outputs: [{name: db}], run: {path: sh}}\n";
    let smoke = "task: run\nimage: image\nconfig: {platform: linux, run: {path: /bin/build-task-smoke}}\n";
    let push = "put: alpine\nparams: {image: image/image.tar}\nno_get: true\n";
    let gated: String = GATED.iter().map(|step| item(step)).collect();
    let plan = item(db) + &item(build) + &gated + &item(smoke) + &item(push) + &item(build) + &item(push);
    assert_eq!(
        check_plan(&plan),
        problems(&[
            "job j, step alpine: pushes image/image.tar, but no run step ran the image first \
             (a task with `image: image` whose run.path is build-task-smoke)",
            "job j, step alpine: pushes image/image.tar, but no SBOM of it was made first (a syft task over `image`)",
            "job j, step alpine: pushes image/image.tar, but no CVE gate passed on it first (a grype or trivy scan \
             of it or of its SBOM, read by a task whose run.path is cve-gate.sh)",
        ])
    );
}

#[test]
fn a_task_folder_without_an_env_file_is_caught() {
    let repo = baseline().with("tasks/new-scan/mod.rs", "//! A new scan.\n");
    assert_caught(&repo, "tasks/new-scan: no .env, which oci-build-task reads as BUILD_ARGS_FILE");
}

#[test]
fn an_env_file_without_base_image_is_caught() {
    let repo = baseline().with("tasks/new-scan/.env", "BASE=scratch\n");
    assert_caught(&repo, "tasks/new-scan/.env: no BASE_IMAGE=<image> line");
}

#[test]
fn env_file_lines_oci_build_task_would_pass_on_verbatim_are_caught() {
    let repo = baseline().with("tasks/new-scan/.env", "# the base\r\nBASE_IMAGE=scratch\r\n");
    assert_caught(&repo, "tasks/new-scan/.env: line 1 is a comment, which oci-build-task passes on as a build arg");
    assert_caught(&repo, "tasks/new-scan/.env: line 2 ends with a carriage return");
}

#[test]
fn a_task_folder_name_that_cannot_be_an_app_name_is_caught() {
    let repo = baseline().with("tasks/New_Scan/.env", "BASE_IMAGE=scratch\n");
    assert_caught(&repo, "tasks/New_Scan: a task folder name must be lowercase letters, digits and dashes");
}

#[test]
fn a_build_param_path_missing_from_the_repository_is_caught() {
    let repo = baseline().edit("ci/pipeline.yml", "DOCKERFILE: Dockerfile", "DOCKERFILE: build/Dockerfile");
    assert_caught(
        &repo,
        "job build-and-deploy, step build: params.DOCKERFILE: 'build/Dockerfile' not found within artifact 'src'",
    );
}

#[test]
fn a_build_param_path_is_checked_for_every_task() {
    // A second task whose folder has no .env: the build args file is missing
    // for that task alone.
    let repo = baseline().with("tasks/new-scan/mod.rs", "//! A new scan.\n");
    assert_caught(
        &repo,
        "job build-and-deploy, step build: params.BUILD_ARGS_FILE: 'tasks/new-scan/.env' not found within artifact 'src' (for build-task=new-scan)",
    );
    assert!(!check(&repo).iter().any(|p| p.contains("'tasks/example/.env' not found")));
}

#[test]
fn a_build_arg_the_dockerfile_needs_and_nothing_sets_is_caught() {
    let dockerfile = "# syntax\nARG BASE_IMAGE\nARG TASK_FOLDER\nARG BUILD_TASK\nARG IMAGE_KIND=base\n\
                      FROM ${BASE_IMAGE}\nARG SET_LATER\n";
    let unset = "job build-and-deploy, step build: the Dockerfile's ARG BUILD_TASK has no default, \
                 and neither params.BUILD_ARG_BUILD_TASK nor tasks/example/.env sets it (for build-task=example)";
    let repo = baseline().with("Dockerfile", dockerfile).with("tasks/example/.env", "BASE_IMAGE=scratch\n");
    let problems = check(&repo);
    assert!(problems.iter().any(|p| p == unset), "{problems:#?}");
    // BASE_IMAGE comes from the .env, TASK_FOLDER from BUILD_ARG_TASK_FOLDER;
    // IMAGE_KIND has a default and SET_LATER is declared after FROM.
    assert!(!problems.iter().any(|p| p.contains("ARG BASE_IMAGE") || p.contains("ARG TASK_FOLDER")), "{problems:#?}");
    assert!(!problems.iter().any(|p| p.contains("ARG IMAGE_KIND") || p.contains("ARG SET_LATER")), "{problems:#?}");

    let repo = repo.with("tasks/example/.env", "BASE_IMAGE=scratch\nBUILD_TASK=example\n");
    assert!(!check(&repo).iter().any(|p| p.contains("tasks/example/.env sets it")));
}

#[test]
fn a_deploy_vars_file_missing_for_one_environment_is_caught() {
    let repo = baseline().without(".cloudgov/vars/pages-staging.yml");
    assert_caught(
        &repo,
        "job build-and-deploy, step deploy: params.CF_VARS_FILE: '.cloudgov/vars/pages-staging.yml' not found within artifact 'src' (for deploy-env=staging)",
    );
}

#[test]
fn a_literal_aws_key_in_the_pipeline_is_caught() {
    let repo = baseline().edit(
        "ci/pipeline.yml",
        "aws_access_key_id: ((ecr-aws-key))",
        "aws_access_key_id: AKIAIOSFODNN7EXAMPLE",
    );
    let problems = check(&repo);
    assert!(
        problems.iter().any(|p| p.starts_with("ci/pipeline.yml:") && p.contains("an AWS access key id")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p == "ci/pipeline.yml: aws_access_key_id: a literal where a ((var)) belongs"),
        "{problems:?}"
    );
    assert!(!problems.iter().any(|p| p.contains("AKIAIOSFODNN7EXAMPLE")), "a message repeats the secret: {problems:?}");
}

#[test]
fn a_literal_password_is_caught() {
    let repo =
        baseline().edit("ci/pipeline.yml", "CF_PASSWORD: ((((deploy-env))-cf-password))", "CF_PASSWORD: hunter2");
    assert_caught(&repo, "ci/pipeline.yml: CF_PASSWORD: a literal where a ((var)) belongs");
    let repo = baseline().with("ci/vars/dev.yml", "cf-password: hunter2\n");
    assert_caught(&repo, "ci/vars/dev.yml: cf-password: a literal where a ((var)) belongs");
}

#[test]
fn a_long_token_in_a_script_is_caught() {
    let repo = baseline().edit(
        "ci/tasks/deploy.sh",
        "set -eu\n",
        "set -eu\nexport GH_TOKEN=3f1c9e0a7b2d4c6e8f0a1b3c5d7e9f1a2b4c6d8e\n",
    );
    assert_caught(&repo, "ci/tasks/deploy.sh:10: a long hex string, like a token");
    let repo = baseline().with(
        "ci/tasks/notify.sh",
        "#!/bin/sh\ncurl -H 'Authorization: Bearer wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' https://example.test\n",
    );
    assert_caught(&repo, "ci/tasks/notify.sh:2: a long base64 string, like a token");
}

// The walk through the plan: mappings, optional inputs, and scopes, on small
// pipelines of their own (written as `jobs:` with one job `j`).

/// The problems in the baseline repository with ci/pipeline.yml replaced by a
/// one-job pipeline whose plan is `plan` (steps at column 0) and whose tasks
/// use the `alpine` image fetched first.
fn check_plan(plan: &str) -> Vec<String> {
    let pipeline = format!(
        "jobs:\n- name: j\n  plan:\n  - get: alpine\n{}\
         resources:\n- {{name: src, type: git, source: {{uri: ((git-uri)), commit_verification_keys: ((gpg-keys))}}}}\n\
         - {{name: alpine, type: registry-image, source: {{repository: alpine}}}}\n",
        indent(plan, "  ")
    );
    check(&baseline().with("ci/pipeline.yml", &pipeline))
}

/// A task step with an inline config; `inputs` and `outputs` are YAML flow lists.
fn task(name: &str, inputs: &str, outputs: &str) -> String {
    format!(
        "task: {name}\nimage: alpine\nconfig: {{platform: linux, inputs: {inputs}, outputs: {outputs}, run: {{path: sh}}}}\n"
    )
}

/// `text` as one item of a YAML list.
fn item(text: &str) -> String {
    let mut out = String::new();
    for (n, line) in text.lines().enumerate() {
        out.push_str(if n == 0 { "- " } else { "  " });
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn indent(text: &str, by: &str) -> String {
    text.lines().map(|line| format!("{by}{line}\n")).collect()
}

fn problems(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|l| l.to_string()).collect()
}

#[test]
fn an_output_mapped_to_a_new_name_satisfies_an_input_mapped_to_it() {
    let plan = item(&format!("{}output_mapping: {{out: renamed}}\n", task("make", "[]", "[{name: out}]")))
        + &item(&format!("{}input_mapping: {{in: renamed}}\n", task("use", "[{name: in}]", "[]")));
    assert_eq!(check_plan(&plan), problems(&[]));
}

#[test]
fn an_optional_input_may_be_absent() {
    let plan = item(&task("use", "[{name: cache, optional: true}, {name: needed}]", "[]"));
    assert_eq!(check_plan(&plan), problems(&["job j, step use: missing inputs: needed"]));
}

#[test]
fn a_get_named_apart_from_its_resource_makes_an_artifact_of_the_step_name() {
    let plan = item("get: code\nresource: src\n") + &item(&task("use", "[{name: code}, {name: src}]", "[]"));
    assert_eq!(check_plan(&plan), problems(&["job j, step use: missing inputs: src"]));
}

#[test]
fn a_put_makes_an_artifact_of_its_step_name_unless_it_skips_its_get() {
    let plan = item("put: pushed\nresource: alpine\n")
        + &item("put: quiet\nresource: alpine\nno_get: true\n")
        + &item(&task("use", "[{name: pushed}, {name: quiet}, {name: alpine}]", "[]"));
    assert_eq!(check_plan(&plan), problems(&["job j, step use: missing inputs: quiet"]));
}

#[test]
fn outputs_made_inside_across_are_not_visible_after_it() {
    let across = format!("across:\n- {{var: x, values: [a, b]}}\ndo:\n{}", item(&task("make", "[]", "[{name: out}]")));
    let plan = item(&across) + &item(&task("after", "[{name: out}]", "[]"));
    assert_eq!(check_plan(&plan), problems(&["job j, step after: missing inputs: out"]));
}

#[test]
fn steps_in_parallel_do_not_see_each_other_but_later_steps_see_them_all() {
    let parallel = format!(
        "in_parallel:\n{}{}",
        item(&task("one", "[]", "[{name: a}]")),
        item(&task("two", "[{name: a}]", "[{name: b}]"))
    );
    let plan = item(&parallel) + &item(&task("after", "[{name: a}, {name: b}]", "[]"));
    assert_eq!(check_plan(&plan), problems(&["job j, step two: missing inputs: a"]));
}

#[test]
fn try_and_hooks_are_walked() {
    let tried = format!("try:\n{}", indent(&task("tried", "[{name: nowhere}]", "[]"), "  "));
    let hooked = format!(
        "do:\n{}on_failure:\n{}ensure:\n{}",
        item(&task("done", "[]", "[{name: made}]")),
        indent(&task("failed", "[{name: made}, {name: lost}]", "[]"), "  "),
        indent(&task("cleanup", "[{name: gone}]", "[]"), "  "),
    );
    let plan = item(&tried) + &item(&hooked);
    assert_eq!(
        check_plan(&plan),
        problems(&[
            "job j, step tried: missing inputs: nowhere",
            "job j, step failed: missing inputs: lost",
            "job j, step cleanup: missing inputs: gone",
        ])
    );
}

// ---------------------------------------------------------------------------
// The pipeline's shape, as the issue asks for it

#[test]
fn the_pipeline_builds_audits_pushes_and_deploys_every_task_and_rebuilds_weekly() {
    let pipeline = parse_yaml(&real_repo().read("ci/pipeline.yml").expect("ci/pipeline.yml")).expect("YAML");
    let job = |name: &str| items(&pipeline["jobs"]).iter().find(|j| j["name"].as_str() == Some(name)).cloned();
    assert!(job("test").is_some(), "a test job");
    let deploy = job("build-and-deploy").expect("a build-and-deploy job");
    let plan = items(&deploy["plan"]);

    let across = plan.iter().find(|s| !s["across"].is_badvalue()).expect("an across step");
    assert_eq!(across["across"][0]["var"].as_str(), Some("build-task"));
    assert_eq!(across["across"][0]["values"].as_str(), Some("((.:build-tasks))"));
    assert!(across["across"][0]["max_in_flight"].as_i64().is_some(), "max_in_flight bounds the builds");
    let steps: Vec<&Yaml> = items(&across["do"]).iter().filter(|s| s["load_var"].is_badvalue()).collect();
    let names: Vec<String> = steps.iter().filter_map(|s| scalar(&s["task"]).or_else(|| scalar(&s["put"]))).collect();
    assert_eq!(
        names,
        ["base", "build", "audit", "sbom", "scan", "cve-gate", "run", "tag", "image-repository", "deploy"]
    );

    let build = &steps[1];
    assert_eq!(build["privileged"].as_bool(), Some(true));
    assert_eq!(build["params"]["BUILD_ARGS_FILE"].as_str(), Some("tasks/((.:build-task))/.env"));
    assert_eq!(build["params"]["BUILD_ARG_TASK_FOLDER"].as_str(), Some("tasks/((.:build-task))"));
    assert_eq!(build["params"]["UNPACK_ROOTFS"].as_str(), Some("true"));
    assert_eq!(steps[7]["params"]["TAG"].as_str(), Some("((.:build-task))-((deploy-env))"));
    assert_eq!(steps[8]["params"]["image"].as_str(), Some("image/image.tar"));

    let resources = items(&pipeline["resources"]);
    let resource = |name: &str| resources.iter().find(|r| r["name"].as_str() == Some(name)).expect(name);
    let registry = resource("image-repository");
    assert_eq!(registry["type"].as_str(), Some("registry-image"));
    assert!(registry["source"]["aws_region"].as_str().is_some(), "ECR mode needs aws_region");
    assert!(registry["source"]["tag"].is_badvalue(), "a source tag would be pushed besides <task>-<env>");
    let weekly = resource("weekly");
    assert_eq!(weekly["type"].as_str(), Some("time"));
    let gets = items(&plan[0]["in_parallel"]["steps"]);
    assert!(gets.iter().any(|g| g["get"].as_str() == Some("weekly") && g["trigger"].as_bool() == Some(true)));
}

#[test]
fn each_image_runs_doctor_and_a_local_run_against_the_fixture_site_before_it_is_pushed() {
    let repo = real_repo();
    let pipeline = parse_yaml(&repo.read("ci/pipeline.yml").expect("ci/pipeline.yml")).expect("YAML");
    let deploy = items(&pipeline["jobs"]).iter().find(|j| j["name"].as_str() == Some("build-and-deploy")).cloned();
    let plan = deploy.expect("a build-and-deploy job")["plan"].clone();
    let across = items(&plan).iter().find(|s| !s["across"].is_badvalue()).expect("an across step").clone();
    let run = items(&across["do"]).iter().find(|s| s["task"].as_str() == Some("run")).expect("a run step").clone();
    // The task runs in the image just built, for the task it was built for.
    assert_eq!(run["image"].as_str(), Some("image"));
    assert_eq!(run["vars"]["task"].as_str(), Some("((.:build-task))"));
    assert_eq!(run["file"].as_str(), Some("src/ci/tasks/run.yml"));

    let config = parse_yaml(&repo.read("ci/tasks/run.yml").expect("ci/tasks/run.yml")).expect("YAML");
    // A binary from an input, so nothing in the image is needed to start it.
    assert_eq!(config["run"]["path"].as_str(), Some("smoke-bin/build-task-smoke"));
    let args: Vec<String> = items(&config["run"]["args"]).iter().filter_map(scalar).collect();
    let after = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).map(String::as_str);
    assert_eq!(after("--doctor"), Some("/usr/local/bin/build-task"));
    assert_eq!(after("--expect"), Some("index.json"));
    assert!(after("--timeout").and_then(|t| t.parse::<u64>().ok()).is_some(), "the whole run is bounded: {args:?}");
    let site = after("--site").expect("--site").strip_prefix("src/").expect("the site is in src");
    assert!(repo.is_file(&format!("{site}/index.html")), "{site}/index.html is in the repository");
    let command = &args[args.iter().position(|a| a == "--").expect("--") + 1..];
    assert_eq!(command, ["/usr/local/bin/build-task", "((task))", "--target", "{site}", "--output-dir", "{out}"]);

    // build-audit builds the smoke tool, statically, into the input the run takes.
    let build = parse_yaml(&repo.read("ci/tasks/build-audit.yml").expect("build-audit.yml")).expect("YAML");
    assert!(items(&build["outputs"]).iter().any(|o| o["name"].as_str() == Some("smoke-bin")));
    let script = repo.read("ci/tasks/build-audit.sh").expect("build-audit.sh");
    assert!(script.lines().any(|l| l == "ci/smoke/build.sh \"$smoke_out\""), "{script}");
    assert!(repo.is_executable("ci/smoke/build.sh"));
}

#[test]
fn every_pipeline_var_is_set_per_environment_or_is_a_documented_credential() {
    let repo = real_repo();
    let readme = repo.read("ci/README.md").expect("ci/README.md");
    for credential in CREDENTIALS {
        assert!(readme.contains(credential), "ci/README.md does not describe the credential {credential}");
    }
    for (pipeline_file, envs) in PIPELINES {
        let pipeline = repo.read(pipeline_file).unwrap_or_else(|| panic!("{pipeline_file}"));
        let pipeline = parse_yaml(&pipeline).unwrap_or_else(|e| panic!("{pipeline_file} is not YAML: {e}"));
        let mut values = Vec::new();
        scalars(&pipeline, &mut values);
        vars_are_set(pipeline_file, &values, envs);
    }
}

/// Every ((var)) in `values` is set by each environment's vars file, is a
/// local var or is a credential.
fn vars_are_set(pipeline: &str, values: &[String], envs: &[&str]) {
    let repo = real_repo();
    for env in envs {
        let file = format!("ci/vars/{env}.yml");
        let static_vars = parse_yaml(&repo.read(&file).unwrap_or_else(|| panic!("{file}"))).expect("YAML");
        // The instance var goes in first, as fly does: ((((deploy-env))-cf-password))
        // becomes ((dev-cf-password)).
        for value in values {
            let value = value.replace("((deploy-env))", env);
            let mut rest = value.as_str();
            while let Some(start) = rest.find("((") {
                let inner = &rest[start + 2..];
                let end = inner.find("))").expect("every (( is closed");
                let var = &inner[..end];
                let credential = CREDENTIALS.iter().any(|c| c.replace("<env>", env) == var);
                let set = !static_vars[var].is_badvalue();
                assert!(
                    var.starts_with(".:") || credential || set,
                    "{pipeline} uses (({var})), which {file} does not set and ci/README.md lists as no credential"
                );
                rest = &inner[end + 2..];
            }
        }
    }
}

/// Every scalar in a document, keys and values.
fn scalars(doc: &Yaml, out: &mut Vec<String>) {
    match doc {
        Yaml::Hash(hash) => hash.iter().for_each(|(k, v)| {
            scalars(k, out);
            scalars(v, out);
        }),
        Yaml::Array(list) => list.iter().for_each(|item| scalars(item, out)),
        other => out.extend(scalar(other)),
    }
}

// ---------------------------------------------------------------------------
// .cloudgov: the manifest as `cf push` renders it for each environment

/// Replaces `((name))` the way `cf push --vars-file --var` does; every var must be known.
fn render(template: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("((") {
        let end = rest[start..].find("))").expect("every (( is closed") + start;
        let name = &rest[start + 2..end];
        let value = vars.get(name).unwrap_or_else(|| panic!("the manifest uses (({name})), which nothing sets"));
        out.push_str(&rest[..start]);
        out.push_str(value);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

#[test]
fn each_environment_gets_a_routeless_idle_app_per_task_with_its_services() {
    let repo = real_repo();
    let template = repo.read(".cloudgov/manifest.yml").expect(".cloudgov/manifest.yml");
    for env in ENVS {
        let file = format!(".cloudgov/vars/pages-{env}.yml");
        let vars_doc = parse_yaml(&repo.read(&file).unwrap_or_else(|| panic!("{file}"))).expect("YAML");
        let mut vars: BTreeMap<String, String> = vars_doc
            .as_hash()
            .expect("a vars file is a mapping")
            .iter()
            .filter_map(|(k, v)| Some((scalar(k)?, scalar(v)?)))
            .collect();
        vars.insert("task".to_string(), "owasp-zap".to_string());
        let manifest = parse_yaml(&render(&template, &vars)).expect("the rendered manifest is YAML");
        let apps = items(&manifest["applications"]);
        assert_eq!(apps.len(), 1, "one app per push");
        let app = &apps[0];
        assert_eq!(app["name"].as_str(), Some(format!("pages-owasp-zap-task-{env}").as_str()));
        assert_eq!(app["no-route"].as_bool(), Some(true));
        assert_eq!(app["instances"].as_i64(), Some(0));
        assert_eq!(app["health-check-type"].as_str(), Some("process"));
        let services: Vec<&str> = items(&app["services"]).iter().filter_map(Yaml::as_str).collect();
        assert_eq!(services, [format!("pages-{env}-encryption").as_str(), "user-agent"]);
        assert_eq!(app["env"]["DEPLOY_ENV"].as_str(), Some(env));
        let loglevel = if env == "production" { "info" } else { "debug" };
        assert_eq!(app["env"]["LOGLEVEL"].as_str(), Some(loglevel));
        assert_eq!(app["metadata"]["labels"]["type"].as_str(), Some("build-task"));
        assert!(app["command"].is_badvalue(), "pages-core gives each CF task its command");
    }
}

// ---------------------------------------------------------------------------
// The task scripts, run by sh in a directory laid out like a Concourse task's

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ci/tasks").join(name)
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().expect("a file has a parent")).expect("create dir");
    fs::write(path, text).expect("write file");
}

fn run_sh(dir: &Path, script_name: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("sh");
    cmd.arg(script(script_name)).current_dir(dir).env_clear();
    cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("sh runs")
}

#[test]
fn list_tasks_writes_every_task_folder_as_a_json_array() {
    let dir = TempDir::new("list-tasks");
    write(&dir.path().join("src/tasks/owasp-zap/.env"), "BASE_IMAGE=zaproxy/zap-stable\n");
    write(&dir.path().join("src/tasks/a11y/.env"), "BASE_IMAGE=scratch\n");
    fs::create_dir_all(dir.path().join("task-list")).expect("output dir");
    let out = run_sh(dir.path(), "list-tasks.sh", &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let list = fs::read_to_string(dir.path().join("task-list/tasks.json")).expect("tasks.json");
    assert_eq!(list, "[\"a11y\", \"owasp-zap\"]\n");
}

#[test]
fn list_tasks_refuses_a_folder_without_base_image_or_with_an_unusable_name() {
    for (folder, env, expected) in [
        ("new-scan", "", "tasks/new-scan/.env must set BASE_IMAGE"),
        ("New_Scan", "BASE_IMAGE=scratch\n", "tasks/New_Scan: a task folder name must be lowercase"),
    ] {
        let dir = TempDir::new("list-tasks-bad");
        write(&dir.path().join(format!("src/tasks/{folder}/.env")), env);
        fs::create_dir_all(dir.path().join("task-list")).expect("output dir");
        let out = run_sh(dir.path(), "list-tasks.sh", &[]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains(expected), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn tag_writes_the_one_tag_registry_image_pushes() {
    let dir = TempDir::new("tag");
    fs::create_dir_all(dir.path().join("tag")).expect("output dir");
    let out = run_sh(dir.path(), "tag.sh", &[("TAG", "owasp-zap-production")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(fs::read_to_string(dir.path().join("tag/tags")).expect("tags"), "owasp-zap-production\n");
    let out = run_sh(dir.path(), "tag.sh", &[("TAG", "owasp zap")]);
    assert!(!out.status.success(), "a tag with a space is refused");
}

/// The deploy step in a task directory whose PATH has a `cf` that records its
/// arguments and whether CF_DOCKER_PASSWORD reached it, one line per call.
fn deploy(tag: &str) -> (Output, String) {
    let dir = TempDir::new("deploy");
    write(
        &dir.path().join("image-repository/repository"),
        "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com/pages-cf-build-tasks",
    );
    write(&dir.path().join("image-repository/tag"), tag);
    let log = dir.path().join("cf.log");
    write(
        &dir.path().join("bin/cf"),
        &format!("#!/bin/sh\necho \"$* [docker password: ${{CF_DOCKER_PASSWORD:+set}}]\" >> '{}'\n", log.display()),
    );
    fs::set_permissions(dir.path().join("bin/cf"), fs::Permissions::from_mode(0o755)).expect("chmod cf");
    let path = format!("{}:{}", dir.path().join("bin").display(), std::env::var("PATH").unwrap_or_default());
    let out = run_sh(
        dir.path(),
        "deploy.sh",
        &[
            ("PATH", &path),
            ("BUILD_TASK", "owasp-zap"),
            ("DEPLOY_ENV", "dev"),
            ("CF_MANIFEST_FILE", "src/.cloudgov/manifest.yml"),
            ("CF_VARS_FILE", "src/.cloudgov/vars/pages-dev.yml"),
            ("CF_API", "https://api.example.test"),
            ("CF_ORG", "pages"),
            ("CF_SPACE", "dev"),
            ("CF_USERNAME", "deployer"),
            ("CF_PASSWORD", "not-a-real-password"),
            ("CF_DOCKER_USERNAME", "ecr-key-id"),
            ("CF_DOCKER_PASSWORD", "not-a-real-secret"),
        ],
    );
    let calls = fs::read_to_string(&log).unwrap_or_default();
    (out, calls)
}

#[test]
fn deploy_pushes_the_task_app_from_the_pushed_image_with_secrets_only_in_the_environment() {
    let (out, calls) = deploy("owasp-zap-dev");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let calls: Vec<&str> = calls.lines().collect();
    assert_eq!(
        calls,
        [
            "api https://api.example.test [docker password: set]",
            "auth [docker password: set]",
            "target -o pages -s dev [docker password: set]",
            "push -f src/.cloudgov/manifest.yml --vars-file src/.cloudgov/vars/pages-dev.yml --var task=owasp-zap \
             --docker-image 123456789012.dkr.ecr.us-gov-west-1.amazonaws.com/pages-cf-build-tasks:owasp-zap-dev \
             --docker-username ecr-key-id [docker password: set]",
        ]
    );
    assert!(!calls.iter().any(|c| c.contains("not-a-real")), "a secret is on a command line");
}

#[test]
fn deploy_refuses_an_image_pushed_under_another_tag() {
    let (out, calls) = deploy("owasp-zap-staging");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the pushed tag is 'owasp-zap-staging', not 'owasp-zap-dev'")
    );
    assert_eq!(calls, "", "cf is not called");
}

// ---------------------------------------------------------------------------
// Bases from ECR, verified sources, self-setting, pull requests, notices and
// releases: each checked, and each mistake caught

/// A task whose .env names a hardened base in the platform's ECR, pinned by digest.
fn ecr_base_task(repo: Repo, base: &str) -> Repo {
    // Its base tracked as every base is: a resource in the ECR, a trigger of
    // the build, an input of the base step.
    let tracked = "- name: new-scan-base\n  type: registry-image\n  check_every: 6h\n  source:\n    \
                   repository: hardened/debian\n    aws_region: us-gov-west-1\n    \
                   aws_access_key_id: ((ecr-aws-key))\n    aws_secret_access_key: ((ecr-aws-secret))\n\n";
    let get = "      - get: new-scan-base\n        trigger: ((track-bases))\n        params: {skip_download: true}\n";
    let repo = repo
        .with("tasks/new-scan/.env", &format!("BASE_IMAGE={base}\nBUILD_TASK=new-scan\n"))
        .edit("ci/pipeline.yml", "- name: a11y-base\n", &format!("{tracked}- name: a11y-base\n"))
        .edit("ci/pipeline.yml", "      - get: a11y-base\n", &format!("{get}      - get: a11y-base\n"))
        .edit(
            "ci/tasks/base.yml",
            "- name: a11y-base\n",
            "- name: new-scan-base\n  optional: true\n- name: a11y-base\n",
        );
    in_the_release(repo, "new-scan")
}

/// `repo` with the release's SBOM of a new task's image, as every task has it.
fn in_the_release(repo: Repo, task: &str) -> Repo {
    let resource = format!(
        "- name: {task}-image\n  type: registry-image\n  source:\n    repository: pages-cf-build-tasks\n    \
         tag: {task}-((deploy-env))\n    aws_region: us-gov-west-1\n    aws_access_key_id: ((ecr-aws-key))\n    \
         aws_secret_access_key: ((ecr-aws-secret))\n\n"
    );
    let get = format!("      - get: {task}-image\n        params: {{format: oci}}\n");
    let sbom = format!(
        "      - task: sbom-{task}\n        file: src/ci/tasks/sbom.yml\n        input_mapping: {{image: {task}-image}}\n        \
         output_mapping: {{sbom: sbom-{task}}}\n        vars: {{task: {task}, archive: oci-archive}}\n"
    );
    repo.edit("ci/pipeline.yml", "- name: a11y-image\n", &format!("{resource}- name: a11y-image\n"))
        .edit("ci/pipeline.yml", "      - get: a11y-image\n", &format!("{get}      - get: a11y-image\n"))
        .edit("ci/pipeline.yml", "      - task: sbom-a11y\n", &format!("{sbom}      - task: sbom-a11y\n"))
        .edit(
            "ci/tasks/release-notes.yml",
            "- name: sbom-a11y\n",
            &format!("- name: sbom-{task}\n  optional: true\n- name: sbom-a11y\n"),
        )
}

const ECR_HOST: &str = "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com";
const DIGEST: &str = "sha256:40b107342c492725bc7aacbe93a49945445191ae364184a6d24fedb28172f6f7";

#[test]
fn a_task_built_from_a_pinned_ecr_base_with_the_forks_login_passes() {
    let repo = ecr_base_task(baseline(), &format!("{ECR_HOST}/hardened/debian@{DIGEST}"));
    assert_clean(&repo);
}

#[test]
fn a_build_without_login_while_a_task_env_names_an_ecr_base_is_caught() {
    let repo = ecr_base_task(baseline(), &format!("{ECR_HOST}/hardened/debian@{DIGEST}")).edit(
        "ci/pipeline.yml",
        "        LOGIN: ECR\n",
        "",
    );
    assert_caught(
        &repo,
        &format!(
            "job build-and-deploy, step build: tasks/new-scan/.env names the ECR base {ECR_HOST}, \
             but params.LOGIN is not set, so oci-build-task would pull it without logging in (for build-task=new-scan)"
        ),
    );
    // Public bases need no login: the other tasks are not reported.
    assert!(!check(&repo).iter().any(|p| p.contains("build-task=example")), "{:#?}", check(&repo));
}

#[test]
fn an_ecr_base_in_another_region_or_account_or_not_pinned_by_digest_is_caught() {
    let east = "123456789012.dkr.ecr.us-east-1.amazonaws.com/hardened/debian:12";
    let repo = ecr_base_task(baseline(), east);
    assert_caught(
        &repo,
        "step build: tasks/new-scan/.env names a base in ECR in us-east-1, but the fork logs in to us-gov-west-1 (params.REGION)",
    );
    assert_caught(
        &repo,
        "step build: tasks/new-scan/.env: the ECR base 123456789012.dkr.ecr.us-east-1.amazonaws.com/… is not pinned by digest",
    );
    // Without REGION the fork logs in to its default, eu-west-1.
    let repo = ecr_base_task(baseline(), &format!("{ECR_HOST}/hardened/debian@{DIGEST}"))
        .edit("ci/pipeline.yml", "        REGION: us-gov-west-1\n", "")
        .edit("ci/pipeline.yml", "        REGISTRIES: ((ecr-account-id))\n", "        REGISTRIES: \"210987654321\"\n");
    assert_caught(&repo, "names a base in ECR in us-gov-west-1, but the fork logs in to eu-west-1 (params.REGION)");
    assert_caught(
        &repo,
        "names a base in the ECR of account 123456789012, which params.REGISTRIES does not list (for build-task=new-scan)",
    );
}

#[test]
fn an_unknown_oci_build_task_param_is_caught() {
    // The older fork's switch; this fork reads LOGIN instead.
    let repo = baseline().edit("ci/pipeline.yml", "        LOGIN: ECR\n", "        ECR: \"TRUE\"\n");
    assert_caught(
        &repo,
        "job build-and-deploy, step build: params.ECR: an unknown oci-build-task param, which neither it nor the fork reads (CONTRACT C10)",
    );
    let repo =
        baseline().edit("ci/pipeline.yml", "        UNPACK_ROOTFS: \"true\"\n", "        UNPACK_ROOT_FS: \"true\"\n");
    assert_caught(&repo, "step build: params.UNPACK_ROOT_FS: an unknown oci-build-task param");
    // Prefixed params are known by their prefix.
    let repo = baseline().edit(
        "ci/pipeline.yml",
        "        UNPACK_ROOTFS: \"true\"\n",
        "        UNPACK_ROOTFS: \"true\"\n        LABEL_team: pages\n        BUILDKIT_SECRETTEXT_extra-ca: ((extra-ca))\n",
    );
    assert!(!check(&repo).iter().any(|p| p.contains("unknown oci-build-task param")), "{:#?}", check(&repo));
}

#[test]
fn a_login_by_key_pair_without_its_pass_or_registry_is_caught() {
    let repo = baseline().edit("ci/pipeline.yml", "        LOGIN: ECR\n", "        LOGIN: PASS\n");
    assert_caught(&repo, "job build-and-deploy, step build: params.LOGIN is PASS, but params.PASS is not set");
    assert_caught(&repo, "job build-and-deploy, step build: params.LOGIN is PASS, but params.REG_URL is not set");
    let repo = baseline().edit(
        "ci/pipeline.yml",
        "        LOGIN: ECR\n",
        "        LOGIN: PASS\n        PASS: ((ecr-aws-key)):((ecr-aws-secret))\n        REG_URL: ((ecr-account-id)).dkr.ecr.us-gov-west-1.amazonaws.com\n",
    );
    assert!(!check(&repo).iter().any(|p| p.contains("params.LOGIN")), "{:#?}", check(&repo));
    let repo = baseline().edit("ci/pipeline.yml", "        LOGIN: ECR\n", "        LOGIN: IAM\n");
    assert_caught(&repo, "step build: params.LOGIN: 'IAM' is neither ECR nor PASS");
}

#[test]
fn a_source_without_verification_keys_is_caught() {
    let keys = "    commit_verification_keys: ((gpg-keys))\n";
    let repo = baseline().edit("ci/pipeline.yml", keys, "");
    assert_caught(
        &repo,
        "resource src: a git source without commit_verification_keys, so unsigned commits would build and deploy",
    );
    let repo = baseline().edit("ci/pull-requests.yml", keys, "");
    assert_caught(&repo, "ci/pull-requests.yml: resource main: a git source without commit_verification_keys");
}

#[test]
fn a_pull_request_source_that_lets_forks_in_is_caught() {
    let repo = baseline().edit("ci/pull-requests.yml", "disable_forks: true", "disable_forks: false");
    assert_caught(
        &repo,
        "ci/pull-requests.yml: resource pull-request: a pull request source without disable_forks: true",
    );
}

#[test]
fn a_deploy_without_a_notice_is_caught() {
    let pipeline = real_repo().read("ci/pipeline.yml").expect("ci/pipeline.yml");
    let start = pipeline.find("      on_success:\n        put: slack\n").expect("the deploy's on_success");
    let end = start + pipeline[start..].find("      on_failure:\n").expect("then its on_failure");
    let repo = baseline().with("ci/pipeline.yml", &format!("{}{}", &pipeline[..start], &pipeline[end..]));
    assert_caught(
        &repo,
        "job build-and-deploy, step deploy: a deploy without a notice of its success (on_success: a put to a slack-notification resource)",
    );
    // A hook that puts to anything else is no notice.
    let repo = baseline().edit(
        "ci/pipeline.yml",
        "      on_failure:\n        put: slack\n",
        "      on_failure:\n        put: image-repository\n",
    );
    assert_caught(&repo, "step deploy: a deploy without a notice of its failure (on_failure:");
}

#[test]
fn a_weekly_rebuild_without_a_failure_notice_is_caught() {
    let repo = baseline().edit(
        "ci/pipeline.yml",
        "  on_failure:\n    put: slack\n",
        "  on_failure:\n    put: image-repository\n",
    );
    assert_caught(
        &repo,
        "job build-and-deploy: triggered by the time resource 'weekly', but no on_failure notice \
         (a put to a slack-notification resource), so a failed scheduled run would go unseen",
    );
}

#[test]
fn a_notice_endpoint_written_into_the_pipeline_is_caught() {
    let repo = baseline().edit(
        "ci/pipeline.yml",
        "url: ((slack-webhook-url))",
        "url: https://hooks.slack.com/services/team/channel",
    );
    assert_caught(&repo, "resource slack: a notice endpoint (source.url) that is not a ((var))");
}

#[test]
fn a_resource_of_an_undeclared_type_is_caught() {
    let repo = baseline().edit("ci/pipeline.yml", "- name: slack-notification\n", "- name: slack-notifications\n");
    assert_caught(
        &repo,
        "resource slack: unknown resource type 'slack-notification' (neither bundled nor in resource_types)",
    );
}

#[test]
fn a_set_pipeline_var_file_missing_for_one_environment_is_caught() {
    let repo = baseline().without("ci/vars/staging.yml");
    assert_caught(
        &repo,
        "job set-pipeline, step build-task: file 'ci/vars/staging.yml' not found within artifact 'src' (for deploy-env=staging)",
    );
    let repo =
        baseline().edit("ci/pull-requests.yml", "file: main/ci/pull-requests.yml", "file: main/ci/pull-request.yml");
    assert_caught(
        &repo,
        "ci/pull-requests.yml: job set-pipeline, step self: file 'ci/pull-request.yml' not found within artifact 'main'",
    );
}

#[test]
fn an_environment_without_its_release_switch_is_caught() {
    let repo = baseline().edit("ci/vars/dev.yml", "github-releases: []\n", "");
    assert_caught(&repo, "job release, step across release: ci/vars/dev.yml sets no list ((github-releases))");
}

/// A job of a pipeline file, by name.
fn job_of(pipeline: &Yaml, name: &str) -> Yaml {
    items(&pipeline["jobs"])
        .iter()
        .find(|j| j["name"].as_str() == Some(name))
        .cloned()
        .unwrap_or_else(|| panic!("a job {name}"))
}

fn resource_of(pipeline: &Yaml, name: &str) -> Yaml {
    items(&pipeline["resources"])
        .iter()
        .find(|r| r["name"].as_str() == Some(name))
        .cloned()
        .unwrap_or_else(|| panic!("a resource {name}"))
}

fn read_yaml(path: &str) -> Yaml {
    parse_yaml(&real_repo().read(path).unwrap_or_else(|| panic!("{path}"))).expect("YAML")
}

#[test]
fn the_pipeline_sets_itself_first_for_its_environment_instance() {
    let pipeline = read_yaml("ci/pipeline.yml");
    assert_eq!(items(&pipeline["jobs"])[0]["name"].as_str(), Some("set-pipeline"));
    let set = job_of(&pipeline, "set-pipeline");
    let step = &items(&set["plan"])[1];
    assert_eq!(step["set_pipeline"].as_str(), Some("build-task"));
    assert_eq!(step["file"].as_str(), Some("src/ci/pipeline.yml"));
    assert_eq!(step["instance_vars"]["deploy-env"].as_str(), Some("((deploy-env))"));
    assert_eq!(items(&step["var_files"])[0].as_str(), Some("src/ci/vars/((deploy-env)).yml"));
    // Nothing builds before the pipeline is set: the test job takes src through it.
    let test = job_of(&pipeline, "test");
    let src = items(&test["plan"][0]["in_parallel"]).iter().find(|s| s["get"].as_str() == Some("src")).cloned();
    let passed: Vec<String> = items(&src.expect("test gets src")["passed"]).iter().filter_map(scalar).collect();
    assert_eq!(passed, ["set-pipeline"]);
}

#[test]
fn one_way_of_authenticating_to_ecr_serves_the_resources_and_cf_push_and_the_build_uses_the_workers_role() {
    for file in ["ci/pipeline.yml", "ci/pull-requests.yml"] {
        let pipeline = read_yaml(file);
        // Every ECR resource uses the one key pair.
        for resource in items(&pipeline["resources"]) {
            let source = &resource["source"];
            if source["aws_region"].is_badvalue() {
                continue;
            }
            assert_eq!(source["aws_region"].as_str(), Some("us-gov-west-1"), "{file}: {resource:?}");
            assert_eq!(source["aws_access_key_id"].as_str(), Some("((ecr-aws-key))"), "{file}: {resource:?}");
            assert_eq!(source["aws_secret_access_key"].as_str(), Some("((ecr-aws-secret))"), "{file}: {resource:?}");
        }
        // The build's image is a setting, and it is the fork, logging in by role.
        let image = resource_of(&pipeline, "oci-build-task");
        assert_eq!(image["source"]["repository"].as_str(), Some("((oci-build-task-repository))"));
        assert_eq!(image["source"]["tag"].as_str(), Some("((oci-build-task-tag))"));
        let mut builds = Vec::new();
        for job in items(&pipeline["jobs"]) {
            for step in items(&job["plan"]) {
                for child in items(&step["do"]) {
                    if child["task"].as_str() == Some("build") {
                        builds.push(child.clone());
                    }
                }
            }
        }
        assert_eq!(builds.len(), 1, "{file}: one build step");
        assert_eq!(builds[0]["image"].as_str(), Some("oci-build-task"));
        assert_eq!(builds[0]["params"]["LOGIN"].as_str(), Some("ECR"));
        assert_eq!(builds[0]["params"]["REGION"].as_str(), Some("us-gov-west-1"));
        assert_eq!(builds[0]["params"]["REGISTRIES"].as_str(), Some("((ecr-account-id))"));
    }
    // cf push pulls with the same key pair (Cloud Foundry's cells have no role of ours).
    let pipeline = read_yaml("ci/pipeline.yml");
    let deploy = job_of(&pipeline, "build-and-deploy");
    let across = items(&deploy["plan"]).iter().find(|s| !s["across"].is_badvalue()).cloned().expect("across");
    let step = items(&across["do"]).iter().find(|s| s["task"].as_str() == Some("deploy")).cloned().expect("deploy");
    assert_eq!(step["params"]["CF_DOCKER_USERNAME"].as_str(), Some("((ecr-aws-key))"));
    assert_eq!(step["params"]["CF_DOCKER_PASSWORD"].as_str(), Some("((ecr-aws-secret))"));
    // ci/README.md says why the build differs.
    let readme = real_repo().read("ci/README.md").expect("ci/README.md");
    assert!(readme.contains("LOGIN=PASS") && readme.contains("REG_URL"), "ci/README.md documents the key pair login");
}

#[test]
fn production_builds_release_tags_only_and_publishes_a_release_of_each() {
    for env in ENVS {
        let vars = read_yaml(&format!("ci/vars/{env}.yml"));
        let (filter, releases): (&str, &[&str]) = if env == "production" { ("0.*.*", &["github"]) } else { ("", &[]) };
        assert_eq!(vars["git-tag-filter"].as_str(), Some(filter), "{env}");
        let listed: Vec<String> = items(&vars["github-releases"]).iter().filter_map(scalar).collect();
        assert_eq!(listed, releases, "{env}");
    }
    let pipeline = read_yaml("ci/pipeline.yml");
    let release = job_of(&pipeline, "release");
    let plan = items(&release["plan"]);
    let src = &plan[0]["in_parallel"][0];
    assert_eq!(src["get"].as_str(), Some("src"));
    assert_eq!(src["passed"][0].as_str(), Some("build-and-deploy"));
    assert_eq!(plan[1]["across"][0]["values"].as_str(), Some("((github-releases))"));
    // Each image as production pushed it, its SBOM, the notes, then the release.
    let release = items(&plan[1]["do"]);
    let gets: Vec<String> = items(&release[0]["in_parallel"]).iter().filter_map(|s| scalar(&s["get"])).collect();
    assert_eq!(gets, ["a11y-image", "example-image", "owasp-zap-image"]);
    for get in items(&release[0]["in_parallel"]) {
        assert_eq!(get["params"]["format"].as_str(), Some("oci"));
    }
    let sboms: Vec<String> = items(&release[1]["in_parallel"]).iter().filter_map(|s| scalar(&s["task"])).collect();
    assert_eq!(sboms, ["sbom-a11y", "sbom-example", "sbom-owasp-zap"]);
    assert_eq!(release[2]["task"].as_str(), Some("release-notes"));
    let put = &release[3];
    assert_eq!(put["put"].as_str(), Some("github-release"));
    assert_eq!(put["params"]["tag"].as_str(), Some("src/.git/ref"));
    assert_eq!(put["params"]["body"].as_str(), Some("notes/notes.md"));
    assert_eq!(put["params"]["globs"][0].as_str(), Some("sbom-*/build-task-*.spdx.json"));
    let image = resource_of(&pipeline, "owasp-zap-image");
    assert_eq!(image["source"]["tag"].as_str(), Some("owasp-zap-((deploy-env))"));
    assert_eq!(image["source"]["repository"].as_str(), Some("pages-cf-build-tasks"));
    assert_eq!(resource_of(&pipeline, "github-release")["type"].as_str(), Some("github-release"));
}

#[test]
fn dev_checks_every_pull_request_without_pushing_and_reports_on_it() {
    let pipeline = read_yaml("ci/pull-requests.yml");
    let kind = items(&pipeline["resource_types"]).iter().find(|t| t["name"].as_str() == Some("pull-request")).cloned();
    assert_eq!(
        kind.expect("the pull-request type")["source"]["repository"].as_str(),
        Some("teliaoss/github-pr-resource")
    );
    let source = resource_of(&pipeline, "pull-request")["source"].clone();
    assert_eq!(source["disable_forks"].as_bool(), Some(true));
    assert_eq!(source["ignore_drafts"].as_bool(), Some(false), "drafts are checked too");
    let set = job_of(&pipeline, "set-pipeline");
    assert_eq!(items(&set["plan"])[1]["set_pipeline"].as_str(), Some("self"));
    for (name, context) in [("test", "test"), ("images", "images")] {
        let job = job_of(&pipeline, name);
        let plan = items(&job["plan"]);
        let gets = items(&plan[0]["in_parallel"]);
        assert!(gets.iter().any(|g| g["get"].as_str() == Some("src")
            && g["resource"].as_str() == Some("pull-request")
            && g["version"].as_str() == Some("every")));
        let status = |step: &Yaml| {
            (
                step["put"].as_str().map(str::to_string),
                step["params"]["status"].as_str().map(str::to_string),
                step["params"]["context"].as_str().map(str::to_string),
            )
        };
        let pr = Some("pull-request".to_string());
        assert_eq!(status(&plan[1]), (pr.clone(), Some("pending".to_string()), Some(context.to_string())), "{name}");
        for (hook, expected) in [("on_success", "success"), ("on_failure", "failure"), ("on_error", "error")] {
            assert_eq!(
                status(&job[hook]),
                (pr.clone(), Some(expected.to_string()), Some(context.to_string())),
                "{name} {hook}"
            );
        }
    }
    // Nothing leaves the pipeline but statuses.
    let text = real_repo().read("ci/pull-requests.yml").expect("ci/pull-requests.yml");
    for pushed in ["put: image-repository", "deploy.yml", "github-release"] {
        assert!(!text.contains(pushed), "ci/pull-requests.yml has {pushed}");
    }
}

// ---------------------------------------------------------------------------
// The CVE gate and the SBOM: each image is described, scanned and gated
// before it is pushed

/// The SBOM step and the push's end, as ci/pipeline.yml writes them.
const SBOM_STEP: &str =
    "    - task: sbom\n      file: src/ci/tasks/sbom.yml\n      vars:\n        task: ((.:build-task))\n";
const PUSH_STEP: &str = "      get_params:\n        skip_download: true\n";

#[test]
fn an_image_pushed_without_the_cve_gate_is_caught() {
    let gate = "    - task: cve-gate\n      file: src/ci/tasks/cve-gate.yml\n      image: rust\n      params:\n        \
                BUILD_TASK: ((.:build-task))\n        CVE_ALLOWLIST_FILE: src/hardening/cve-allowlist.toml\n";
    let repo = baseline().edit("ci/pipeline.yml", gate, "");
    assert_caught(
        &repo,
        "job build-and-deploy, step image-repository: pushes image/image.tar, but no CVE gate passed on it first",
    );
    // The gate after the push is no gate.
    let repo = repo.edit("ci/pipeline.yml", PUSH_STEP, &format!("{PUSH_STEP}{gate}"));
    assert_caught(
        &repo,
        "job build-and-deploy, step image-repository: pushes image/image.tar, but no CVE gate passed on it first",
    );
}

#[test]
fn a_gate_on_a_scan_of_something_else_than_the_image_is_caught() {
    // The scan reads the source tree instead of the image's SBOM.
    let repo = baseline().edit("ci/tasks/scan.yml", "inputs:\n- name: sbom\n", "inputs:\n- name: src\n");
    assert_caught(&repo, "step image-repository: pushes image/image.tar, but no CVE gate passed on it first");
    // The gate reads no scan at all.
    let repo = baseline().edit("ci/tasks/cve-gate.yml", "- name: scan\n", "");
    assert_caught(&repo, "step image-repository: pushes image/image.tar, but no CVE gate passed on it first");
}

#[test]
fn a_gate_without_its_allow_list_or_with_one_that_is_not_there_is_caught() {
    let list = "        CVE_ALLOWLIST_FILE: src/hardening/cve-allowlist.toml\n";
    let repo = baseline().edit("ci/pipeline.yml", list, "");
    assert_caught(
        &repo,
        "job build-and-deploy, step cve-gate: the CVE gate names no allow-list (params.CVE_ALLOWLIST_FILE)",
    );
    assert_caught(
        &repo,
        "step cve-gate: params.CVE_ALLOWLIST_FILE: the task config leaves it to the step, which does not set it",
    );
    let repo =
        baseline().edit("ci/pipeline.yml", list, "        CVE_ALLOWLIST_FILE: src/hardening/cve-allowlist.yml\n");
    assert_caught(
        &repo,
        "job build-and-deploy, step cve-gate: params.CVE_ALLOWLIST_FILE: 'hardening/cve-allowlist.yml' not found within artifact 'src'",
    );
}

#[test]
fn an_image_pushed_without_an_sbom_is_caught() {
    let repo = baseline().edit("ci/pipeline.yml", SBOM_STEP, "");
    assert_caught(
        &repo,
        "job build-and-deploy, step image-repository: pushes image/image.tar, but no SBOM of it was made first",
    );
    assert_caught(&repo, "job build-and-deploy, step scan: missing inputs: sbom");
}

#[test]
fn a_scanner_image_not_pinned_by_digest_is_caught() {
    let pin = "  version:\n    digest: sha256:8a93fc48da96bd6ec5981279d099b69de11541dc68fdf222fb9161f8ff284af7\n";
    let repo = baseline().edit("ci/tasks/scan.yml", pin, "");
    assert_caught(&repo, "job build-and-deploy, step scan: the image of grype (anchore/grype) is not pinned by digest");
    let repo = baseline().edit(
        "ci/tasks/sbom.yml",
        "  version:\n    digest: sha256:5999d209",
        "  version:\n    digest: 5999d209",
    );
    assert_caught(&repo, "job build-and-deploy, step sbom: the image of syft (anchore/syft) is not pinned by digest");
}

#[test]
fn a_scan_that_would_download_its_own_database_is_caught() {
    let repo =
        baseline().edit("ci/tasks/scan.yml", "GRYPE_DB_AUTO_UPDATE: \"false\"", "GRYPE_DB_AUTO_UPDATE: \"true\"");
    assert_caught(&repo, "job build-and-deploy, step scan: grype would download its own database");
    let repo = baseline().edit("ci/tasks/scan.yml", "- name: grype-db\n", "");
    assert_caught(
        &repo,
        "job build-and-deploy, step scan: grype's database (params.GRYPE_DB_CACHE_DIR 'grype-db') is no input of the task",
    );
    // The fetch itself must come before the scans.
    let fetch = "  - task: grype-db\n    file: src/ci/tasks/grype-db.yml\n";
    let repo = baseline().edit("ci/pipeline.yml", fetch, "");
    assert_caught(&repo, "job build-and-deploy, step scan: missing inputs: grype-db");
}

#[test]
fn the_pipeline_scans_each_image_after_its_audit_and_gates_its_push_with_the_allow_list() {
    let repo = real_repo();
    let pipeline = read_yaml("ci/pipeline.yml");
    let deploy = job_of(&pipeline, "build-and-deploy");
    let plan = items(&deploy["plan"]);
    let fetch = plan.iter().position(|s| s["task"].as_str() == Some("grype-db")).expect("grype-db, once a run");
    let across = plan.iter().position(|s| !s["across"].is_badvalue()).expect("the across");
    assert!(fetch < across, "the database is fetched before the images are scanned");
    let gate =
        items(&plan[across]["do"]).iter().find(|s| s["task"].as_str() == Some("cve-gate")).cloned().expect("gate");
    assert_eq!(gate["params"]["CVE_ALLOWLIST_FILE"].as_str(), Some("src/hardening/cve-allowlist.toml"));
    let script = repo.read("ci/tasks/cve-gate.sh").expect("cve-gate.sh");
    assert!(
        script
            .lines()
            .any(|l| l == "exec audit-bin/build-task-cve-gate --allowlist \"$CVE_ALLOWLIST_FILE\" scan/grype.json"),
        "{script}"
    );
    let build = repo.read("ci/tasks/build-audit.sh").expect("build-audit.sh");
    assert!(build.contains("target/release/build-task-cve-gate \"$audit_out/\""), "build-audit copies the gate");
    // The scan reads the SBOM's syft JSON; grype-db and scan run the same grype.
    let (scan, fetch) = (read_yaml("ci/tasks/scan.yml"), read_yaml("ci/tasks/grype-db.yml"));
    assert_eq!(scan["image_resource"], fetch["image_resource"]);
    let args: Vec<String> = items(&scan["run"]["args"]).iter().filter_map(scalar).collect();
    assert_eq!(args[0], "sbom:sbom/build-task-((task)).syft.json");
    let sbom: Vec<String> = items(&read_yaml("ci/tasks/sbom.yml")["run"]["args"]).iter().filter_map(scalar).collect();
    assert!(sbom.contains(&"spdx-json=sbom/build-task-((task)).spdx.json".to_owned()), "{sbom:?}");
    assert!(sbom.contains(&"((archive)):image/image.tar".to_owned()), "{sbom:?}");
    let step = items(&plan[across]["do"]).iter().find(|s| s["task"].as_str() == Some("sbom")).cloned().expect("sbom");
    assert_eq!(step["vars"]["archive"].as_str(), Some("docker-archive"), "the image as it will be pushed");
    // The pull requests' pipeline gates its images too.
    let prs = read_yaml("ci/pull-requests.yml");
    let images = job_of(&prs, "images");
    let across = items(&images["plan"]).iter().find(|s| !s["across"].is_badvalue()).cloned().expect("across");
    let names: Vec<String> = items(&across["do"]).iter().filter_map(|s| scalar(&s["task"])).collect();
    assert_eq!(names, ["build", "audit", "sbom", "scan", "cve-gate", "run"]);
}

/// An image's scan, the real gate binary and the allow-list, in a task
/// directory laid out as Concourse lays out cve-gate.yml's inputs.
fn cve_gate(report: &str, allowlist: &str) -> Output {
    static GATE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let gate = GATE.get_or_init(|| {
        let out = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "build-task-audit", "--bin", "build-task-cve-gate"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cargo runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
        target.join("debug/build-task-cve-gate")
    });
    let dir = TempDir::new("cve-gate");
    fs::create_dir_all(dir.path().join("audit-bin")).expect("audit-bin");
    fs::copy(gate, dir.path().join("audit-bin/build-task-cve-gate")).expect("the gate");
    write(&dir.path().join("scan/grype.json"), report);
    write(&dir.path().join("src/hardening/cve-allowlist.toml"), allowlist);
    run_sh(
        dir.path(),
        "cve-gate.sh",
        &[("BUILD_TASK", "a11y"), ("CVE_ALLOWLIST_FILE", "src/hardening/cve-allowlist.toml")],
    )
}

#[test]
fn the_gate_step_stops_a_fixable_high_finding_and_passes_it_when_the_allow_list_allows_it() {
    let report =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("hardening/audit/tests/fixtures/cve/grype.json"))
            .expect("the grype fixture");
    let list = real_repo().read("hardening/cve-allowlist.toml").expect("the allow-list");
    let out = cve_gate(&report, &list);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.starts_with("the CVE gate on the a11y image\nFAIL CVE-2025-9230 high in libssl3"), "{said}");
    // Both fixable findings allowed for a month more: the push may go on.
    let until = Date::from_days(Date::today().days() + 30);
    let allowed = format!(
        "{list}\n[[allow]]\nid = \"CVE-2025-9230\"\nreason = \"a test: the task never links OpenSSL\"\nexpires = \"{until}\"\n\
         [[allow]]\nid = \"GHSA-4grx-2x9w-596c\"\nreason = \"a test: ring's fixed version is in the next release\"\nexpires = \"{until}\"\n"
    );
    let out = cve_gate(&report, &allowed);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    // Without the allow-list's path the step says what is missing.
    let dir = TempDir::new("cve-gate-unset");
    let out = run_sh(dir.path(), "cve-gate.sh", &[("BUILD_TASK", "a11y")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("CVE_ALLOWLIST_FILE names the allow-list"));
}

// ---------------------------------------------------------------------------
// Bases tracked, not frozen

#[test]
fn a_task_base_that_no_resource_tracks_is_caught() {
    let repo = baseline().edit("ci/pipeline.yml", "- name: a11y-base\n", "- name: debian-base\n");
    assert_caught(&repo, "tasks/a11y/.env builds on debian, but no resource a11y-base tracks it");
    // A new task on a new base must bring its resource too.
    let repo = baseline().with("tasks/new-scan/.env", "BASE_IMAGE=docker.io/library/ubuntu:24.04@sha256:40b107342c492725bc7aacbe93a49945445191ae364184a6d24fedb28172f6f7\nBUILD_TASK=new-scan\n");
    assert_caught(&repo, "tasks/new-scan/.env builds on ubuntu, but no resource new-scan-base tracks it");
}

#[test]
fn a_tracked_base_of_another_repository_or_region_is_caught() {
    let repo = baseline().edit("ci/pipeline.yml", "    repository: debian\n", "    repository: ubuntu\n");
    assert_caught(&repo, "resource a11y-base: tracks ubuntu, but tasks/a11y/.env builds on debian");
    let repo = baseline().edit(
        "ci/pipeline.yml",
        "    repository: zaproxy/zap-stable\n",
        "    repository: zaproxy/zap-weekly\n",
    );
    assert_caught(
        &repo,
        "resource owasp-zap-base: tracks zaproxy/zap-weekly, but tasks/owasp-zap/.env builds on zaproxy/zap-stable",
    );
    // An ECR base is tracked in its own region.
    let base = format!("{ECR_HOST}/hardened/debian@{DIGEST}");
    let repo = ecr_base_task(baseline(), &base).edit(
        "ci/pipeline.yml",
        "    repository: hardened/debian\n    aws_region: us-gov-west-1\n",
        "    repository: hardened/debian\n    aws_region: us-east-1\n",
    );
    assert_caught(
        &repo,
        "resource new-scan-base: tracks hardened/debian (ECR, us-east-1), but tasks/new-scan/.env builds on hardened/debian (ECR, us-gov-west-1)",
    );
}

#[test]
fn a_tracked_base_never_checked_never_triggering_or_never_seen_by_the_base_step_is_caught() {
    let repo = baseline().edit("ci/pipeline.yml", "  icon: debian\n  check_every: 6h\n", "  icon: debian\n");
    assert_caught(&repo, "resource a11y-base: a tracked base needs check_every");
    let repo = baseline().edit(
        "ci/pipeline.yml",
        "      - get: a11y-base\n        trigger: ((track-bases))\n",
        "      - get: a11y-base\n",
    );
    assert_caught(
        &repo,
        "job build-and-deploy: does not get a11y-base with a trigger, so a new digest of the a11y base would not rebuild it",
    );
    let repo = baseline().edit("ci/tasks/base.yml", "- name: a11y-base\n  optional: true\n", "");
    assert_caught(
        &repo,
        "ci/tasks/base.yml: no input a11y-base, so the base step never sees the tracked digest of the a11y base",
    );
}

#[test]
fn dev_builds_on_each_new_digest_of_a_tracked_base_and_the_others_on_the_pinned_one() {
    for (env, track) in [("dev", true), ("staging", false), ("production", false)] {
        assert_eq!(read_yaml(&format!("ci/vars/{env}.yml"))["track-bases"].as_bool(), Some(track), "{env}");
    }
    let pipeline = read_yaml("ci/pipeline.yml");
    let deploy = job_of(&pipeline, "build-and-deploy");
    let across = items(&deploy["plan"]).iter().find(|s| !s["across"].is_badvalue()).cloned().expect("across");
    let steps = items(&across["do"]);
    assert_eq!(steps[0]["task"].as_str(), Some("base"));
    assert_eq!(steps[0]["params"]["TRACK_BASES"].as_str(), Some("((track-bases))"));
    let loaded: Vec<(String, String)> =
        steps.iter().filter_map(|s| Some((scalar(&s["load_var"])?, scalar(&s["file"])?))).collect();
    assert_eq!(loaded, [("tracked-base".into(), "base/tracked".into()), ("base-digest".into(), "base/digest".into())]);
    let build = steps.iter().find(|s| s["task"].as_str() == Some("build")).expect("build");
    assert_eq!(build["params"]["BUILD_ARG_TRACKED_BASE"].as_str(), Some("((.:tracked-base))"));
    assert_eq!(build["params"]["BUILD_ARG_BASE_DIGEST"].as_str(), Some("((.:base-digest))"));
    // The Dockerfile takes the tracked base first and labels the image with it.
    let dockerfile = real_repo().read("Dockerfile").expect("Dockerfile");
    assert!(dockerfile.contains("FROM ${TRACKED_BASE:-${BASE_IMAGE}} AS image-base"));
    assert!(dockerfile.contains("org.opencontainers.image.base.name=\"${TRACKED_BASE:-${BASE_IMAGE}}\""));
    assert!(dockerfile.contains("org.opencontainers.image.base.digest=\"${BASE_DIGEST}\""));
}

/// base.sh in a task directory with the task's .env and, when `tracked` is
/// given, the registry-image get of its base (repository, digest).
fn base_step(track: &str, tracked: Option<(&str, &str)>) -> (Output, String, String) {
    let dir = TempDir::new("base");
    write(
        &dir.path().join("src/tasks/a11y/.env"),
        &format!("BASE_IMAGE=debian:bookworm-slim@{DIGEST}\nBUILD_TASK=a11y\n"),
    );
    if let Some((repository, digest)) = tracked {
        write(&dir.path().join("a11y-base/repository"), repository);
        write(&dir.path().join("a11y-base/digest"), digest);
        write(&dir.path().join("a11y-base/tag"), "bookworm-slim");
    }
    fs::create_dir_all(dir.path().join("base")).expect("output dir");
    let out = run_sh(dir.path(), "base.sh", &[("BUILD_TASK", "a11y"), ("TRACK_BASES", track)]);
    let read = |name: &str| fs::read_to_string(dir.path().join("base").join(name)).unwrap_or_else(|_| "(none)".into());
    (out.clone(), read("tracked"), read("digest"))
}

#[test]
fn the_base_step_takes_the_tracked_digest_in_dev_and_the_pinned_one_elsewhere() {
    let newer = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    let (out, tracked, digest) = base_step("true", Some(("debian", newer)));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((tracked.as_str(), digest.as_str()), (format!("debian@{newer}").as_str(), newer));
    let (out, tracked, digest) = base_step("false", Some(("debian", newer)));
    assert!(out.status.success());
    assert_eq!((tracked.as_str(), digest.as_str()), ("", DIGEST), "staging and production: the .env's digest");
    // Tracking, but the task has no tracked base (example, on scratch): the pinned one.
    let (out, tracked, digest) = base_step("true", None);
    assert!(out.status.success());
    assert_eq!((tracked.as_str(), digest.as_str()), ("", DIGEST));
    let (out, _, _) = base_step("true", Some(("debian", "latest")));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("a11y-base/digest is 'latest', not a sha256 digest"));
}

// ---------------------------------------------------------------------------
// The original's operations jobs: the user-agent rotation, the release bump,
// the release notes

#[test]
fn the_user_agent_is_rotated_quarterly_in_production_only() {
    let pipeline = read_yaml("ci/pipeline.yml");
    let quarterly = resource_of(&pipeline, "quarterly");
    assert_eq!(quarterly["type"].as_str(), Some("cron"));
    assert_eq!(quarterly["source"]["expression"].as_str(), Some("0 0 1 */3 *"));
    assert_eq!(quarterly["source"]["location"].as_str(), Some("America/New_York"));
    let job = job_of(&pipeline, "rotate-user-agent");
    let plan = items(&job["plan"]);
    assert!(
        items(&plan[0]["in_parallel"])
            .iter()
            .any(|g| g["get"].as_str() == Some("quarterly") && g["trigger"].as_bool() == Some(true))
    );
    assert_eq!(plan[1]["across"][0]["values"].as_str(), Some("((user-agent-rotations))"));
    let step = &plan[1]["do"][0];
    assert_eq!(step["file"].as_str(), Some("src/ci/tasks/rotate-user-agent.yml"));
    assert_eq!(step["params"]["USER_AGENT_SERVICE"].as_str(), Some("user-agent"));
    assert_eq!(step["params"]["USER_AGENT_NEW"].as_str(), Some("((com-waf-search-string-pages-slot-2))"));
    for (env, runs) in [("dev", false), ("staging", false), ("production", true)] {
        let listed = items(&read_yaml(&format!("ci/vars/{env}.yml"))["user-agent-rotations"]).len();
        assert_eq!(listed == 1, runs, "{env}");
    }
    let readme = real_repo().read("ci/README.md").expect("ci/README.md");
    for needed in ["## The user-agent rotation", "`0 0 1 */3 *`", "credhub-user-agent-client", "`user-agent`"] {
        assert!(readme.contains(needed), "ci/README.md names {needed}");
    }
}

#[test]
fn a_rotation_without_its_failure_notice_or_a_credential_or_its_switch_is_caught() {
    let notice = "  on_failure:\n    put: slack\n    no_get: true\n    params:\n      text: \":x: build-task ((deploy-env)): the user-agent rotation failed";
    let repo = baseline().edit(
        "ci/pipeline.yml",
        notice,
        "  on_success:\n    put: slack\n    no_get: true\n    params:\n      text: \"",
    );
    assert_caught(&repo, "job rotate-user-agent: triggered by the cron resource 'quarterly', but no on_failure notice");
    let repo = baseline().edit("ci/pipeline.yml", "        CREDHUB_SECRET: ((credhub-user-agent-secret))\n", "");
    assert_caught(
        &repo,
        "job rotate-user-agent, step rotate-user-agent: params.CREDHUB_SECRET: the task config leaves it to the step, which does not set it",
    );
    let repo = baseline().edit("ci/vars/production.yml", "user-agent-rotations: [production]\n", "");
    assert_caught(
        &repo,
        "job rotate-user-agent, step across rotation: ci/vars/production.yml sets no list ((user-agent-rotations))",
    );
    // The cron resource type is not Concourse's own.
    let repo = baseline().edit("ci/pipeline.yml", "- name: cron\n", "- name: cron-resource\n");
    assert_caught(&repo, "resource quarterly: unknown resource type 'cron'");
}

/// rotate-user-agent.sh in a task directory whose PATH has a `cf` and a
/// `credhub` that record their arguments, one line per call; `fail` makes
/// that program fail.
fn rotate(fail: &str) -> (Output, String) {
    let dir = TempDir::new("rotate");
    let log = dir.path().join("calls.log");
    for program in ["cf", "credhub"] {
        let exit = if program == fail { 1 } else { 0 };
        write(
            &dir.path().join("bin").join(program),
            &format!(
                "#!/bin/sh\necho \"{program} $* [client secret: ${{CREDHUB_SECRET:+set}}, CA: $(cat \"${{CREDHUB_CA_CERT:-/dev/null}}\" 2>/dev/null | head -1)]\" >> '{}'\nexit {exit}\n",
                log.display()
            ),
        );
        fs::set_permissions(dir.path().join("bin").join(program), fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let path = format!("{}:{}", dir.path().join("bin").display(), std::env::var("PATH").unwrap_or_default());
    let out = run_sh(
        dir.path(),
        "rotate-user-agent.sh",
        &[
            ("PATH", &path),
            ("CF_API", "https://api.example.test"),
            ("CF_ORG", "pages"),
            ("CF_SPACE", "production"),
            ("CF_USERNAME", "deployer"),
            ("CF_PASSWORD", "not-a-real-password"),
            ("USER_AGENT_SERVICE", "user-agent"),
            ("USER_AGENT_NEW", "pages-scan \"q3\""),
            ("USER_AGENT_CURRENT_NAME", "/concourse/pages/build-task/com-waf-search-string-pages-slot-1"),
            ("USER_AGENT_NEXT_NAME", "/concourse/pages/build-task/com-waf-search-string-pages-slot-2"),
            ("CREDHUB_SERVER", "https://credhub.example.test:8844"),
            ("CREDHUB_CLIENT", "user-agent-rotator"),
            ("CREDHUB_SECRET", "not-a-real-secret"),
            ("CREDHUB_CA_CERT_VALUE", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"),
        ],
    );
    (out, fs::read_to_string(&log).unwrap_or_default())
}

#[test]
fn the_rotation_gives_the_service_the_next_string_then_moves_and_regenerates_credhubs_slots() {
    if !crate::support::have_tool("jq") {
        return;
    }
    let (out, calls) = rotate("");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let env = " [client secret: set, CA: -----BEGIN CERTIFICATE-----]";
    let calls: Vec<String> = calls.lines().map(|l| l.replace(env, "")).collect();
    assert_eq!(
        calls,
        [
            "credhub api --server https://credhub.example.test:8844",
            "cf api https://api.example.test",
            "cf auth",
            "cf target -o pages -s production",
            "cf update-user-provided-service user-agent -p {\"USER_AGENT\":\"pages-scan \\\"q3\\\"\"}",
            "credhub set --name /concourse/pages/build-task/com-waf-search-string-pages-slot-1 --type value --value pages-scan \"q3\"",
            "credhub regenerate --name /concourse/pages/build-task/com-waf-search-string-pages-slot-2",
        ]
    );
    assert!(!calls.iter().any(|c| c.contains("not-a-real")), "a secret is on a command line");
    // The service cannot be updated: CredHub is left alone, and the step says so.
    let (out, calls) = rotate("cf");
    assert!(!out.status.success());
    assert!(!calls.contains("credhub set"), "{calls}");
    let (out, _) = rotate("credhub");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach CredHub at https://credhub.example.test:8844"));
}

#[test]
fn staging_bumps_the_release_with_commitizen_and_production_publishes_its_changelog_section() {
    let pipeline = read_yaml("ci/pipeline.yml");
    let job = job_of(&pipeline, "update-release-branch");
    let plan = items(&job["plan"]);
    let src = &plan[0]["in_parallel"][0];
    assert_eq!((src["get"].as_str(), src["passed"][0].as_str()), (Some("src"), Some("build-and-deploy")));
    assert_eq!(plan[1]["across"][0]["values"].as_str(), Some("((release-branch-updates))"));
    for (env, runs) in [("dev", false), ("staging", true), ("production", false)] {
        let listed = items(&read_yaml(&format!("ci/vars/{env}.yml"))["release-branch-updates"]).len();
        assert_eq!(listed == 1, runs, "{env}");
    }
    assert_eq!(
        resource_of(&pipeline, "src")["source"]["fetch_tags"].as_bool(),
        Some(true),
        "commitizen reads the tags"
    );
    // commitizen's configuration: tags as production follows them, a signed release commit.
    let cz: serde_json::Value =
        serde_json::from_str(&real_repo().read(".cz.json").expect(".cz.json")).expect(".cz.json is JSON");
    let cz = &cz["commitizen"];
    assert_eq!(cz["tag_format"], "$version", "tags like 0.3.2, which git-tag-filter 0.*.* matches");
    assert_eq!(cz["bump_message"], "chore: release $new_version");
    assert_eq!((cz["update_changelog_on_bump"].as_bool(), cz["gpg_sign"].as_bool()), (Some(true), Some(true)));
    assert_eq!(cz["customize"]["change_type_map"]["feat"], "Added");
    assert_eq!(cz["customize"]["change_type_map"]["fix"], "Fixed");
    let repo = real_repo();
    assert!(repo.read("CHANGELOG.md").expect("CHANGELOG.md").starts_with("# Changelog\n"));
    assert!(repo.read("CODEOWNERS").expect("CODEOWNERS").lines().any(|l| l == "* @cloud-gov/pages-ops"));
    let template = repo.read(".github/pull_request_template.md").expect("the pull request template");
    assert!(template.contains("\n## Security considerations\n"), "{template}");
}

#[test]
fn a_release_bump_without_its_signing_key_or_its_switch_and_a_release_without_notes_are_caught() {
    let repo = baseline().edit(
        "ci/pipeline.yml",
        "        GH_BOT_GPG_KEY: ((pages-operations-github-user-gpg.private_key))\n",
        "",
    );
    assert_caught(
        &repo,
        "job update-release-branch, step update-release-branch: params.GH_BOT_GPG_KEY: the task config leaves it to the step",
    );
    let repo = baseline().edit("ci/vars/staging.yml", "release-branch-updates: [github]\n", "");
    assert_caught(
        &repo,
        "job update-release-branch, step across update: ci/vars/staging.yml sets no list ((release-branch-updates))",
    );
    let notes = "    - task: release-notes\n      file: src/ci/tasks/release-notes.yml\n      image: general-task\n";
    let repo = baseline().edit("ci/pipeline.yml", notes, "");
    assert_caught(&repo, "job release, step github-release: missing inputs: notes");
}

#[test]
fn the_release_bump_refuses_to_start_without_the_bots_credentials() {
    let dir = TempDir::new("release-branch");
    let out =
        run_sh(dir.path(), "update-release-branch.sh", &[("GH_EMAIL", "bot@example.test"), ("GH_USERNAME", "bot")]);
    assert!(!out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "update-release-branch: GH_BOT_GPG_KEY is not set\n");
}

/// release-notes.sh for the tag `version`, with `changelog` as CHANGELOG.md
/// and two tasks whose SBOMs (syft's JSON, as the release's sbom steps
/// write it) carry the revision labels `revisions` gives, and the binary's
/// crates unless `crates` is false.
fn release_notes(version: &str, changelog: &str, revisions: [&str; 2], crates: bool) -> (Output, String) {
    let dir = TempDir::new("release-notes");
    write(&dir.path().join("src/.git/ref"), &format!("{version}\n"));
    write(&dir.path().join("src/CHANGELOG.md"), changelog);
    let tasks = [("a11y", format!("debian:bookworm-slim@{DIGEST}"), DIGEST), ("example", "scratch".to_owned(), "")];
    for ((task, base, base_digest), revision) in tasks.into_iter().zip(revisions) {
        write(&dir.path().join(format!("src/tasks/{task}/.env")), &format!("BASE_IMAGE={base}\nBUILD_TASK={task}\n"));
        let mut artifacts = vec![serde_json::json!({"name": "libc6", "version": "2.36-9+deb12u10", "type": "deb"})];
        if crates {
            for (name, version) in [("build-task", "0.1.0"), ("ureq", "3.1.0")] {
                artifacts.push(serde_json::json!({"name": name, "version": version, "type": "rust-crate",
                    "locations": [{"path": "/usr/local/bin/build-task"}]}));
            }
        }
        let sbom = serde_json::json!({
            "artifacts": artifacts,
            "source": {"type": "image", "metadata": {
                "userInput": "image/image.tar",
                "manifestDigest": format!("sha256:{}", task.len().to_string().repeat(64)),
                "labels": {
                    "org.opencontainers.image.revision": revision,
                    "org.opencontainers.image.base.name": base,
                    "org.opencontainers.image.base.digest": base_digest,
                }
            }},
            "descriptor": {"name": "syft", "version": "1.42.3"}
        });
        write(&dir.path().join(format!("sbom-{task}/build-task-{task}.syft.json")), &sbom.to_string());
    }
    fs::create_dir_all(dir.path().join("notes")).expect("output dir");
    let out = run_sh(dir.path(), "release-notes.sh", &[]);
    (out, fs::read_to_string(dir.path().join("notes/notes.md")).unwrap_or_default())
}

#[test]
fn the_release_notes_are_the_tags_changelog_section_and_each_image_with_its_base() {
    if !crate::support::have_tool("jq") {
        return;
    }
    let changelog = "# Changelog\n\nKept by commitizen.\n\n## 0.4.0 (2027-01-05)\n\n### Added\n\n- **ci**: a CVE gate\n\n\
                     ### Fixed\n\n- a stalled page\n\n## 0.3.1 (2026-04-09)\n\n### Fixed\n\n- an older fix\n";
    let (out, notes) = release_notes("0.4.0", changelog, ["0.4.0", "0.4.0"], true);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (four, seven) = ("4".repeat(64), "7".repeat(64));
    assert_eq!(
        notes,
        format!(
            "### Added\n\n- **ci**: a CVE gate\n\n### Fixed\n\n- a stalled page\n\n### Images\n\n\
             - a11y: `sha256:{four}`, built on `debian:bookworm-slim@{DIGEST}`; SBOM: build-task-a11y.spdx.json (2 crates)\n\
             - example: `sha256:{seven}`, built on `scratch`; SBOM: build-task-example.spdx.json (2 crates)\n"
        )
    );
    let (out, _) = release_notes("0.4.1", changelog, ["0.4.1", "0.4.1"], true);
    assert!(!out.status.success(), "a tag without its section is no release");
    assert!(String::from_utf8_lossy(&out.stderr).contains("src/CHANGELOG.md has no section for 0.4.1"));
    // An image ECR still holds from the release before: its SBOM would be of the wrong build.
    let (out, _) = release_notes("0.4.0", changelog, ["0.4.0", "0.3.1"], true);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(
            "the example image in ECR is of revision '0.3.1', not 0.4.0: its resource was not checked since the push"
        ),
        "{said}"
    );
    // An SBOM that lost the binary's crates is no SBOM of the image.
    let (out, _) = release_notes("0.4.0", changelog, ["0.4.0", "0.4.0"], false);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("the SBOM of the a11y image lists no crate of build-task"), "{said}");
}

#[test]
fn a_task_whose_image_the_release_does_not_describe_is_caught() {
    let repo = baseline().edit(
        "ci/pipeline.yml",
        "        output_mapping: {sbom: sbom-example}\n",
        "        output_mapping: {sbom: sbom-a11y}\n",
    );
    assert_caught(
        &repo,
        "job release: no SBOM of the example image (a get of example-image and an sbom.yml step over it into sbom-example)",
    );
    let repo =
        baseline().edit("ci/pipeline.yml", "    tag: owasp-zap-((deploy-env))\n", "    tag: owasp-zap-production\n");
    assert_caught(&repo, "resource owasp-zap-image: is not the image the pipeline pushes for owasp-zap");
    let repo = baseline().with("tasks/new-scan/.env", "BASE_IMAGE=scratch\nBUILD_TASK=new-scan\nIMAGE_KIND=scratch\n");
    assert_caught(&repo, "tasks/new-scan: the release attaches no SBOM of its image: no resource new-scan-image");
    assert_clean(&in_the_release(repo, "new-scan"));
    let repo = baseline().edit("ci/pipeline.yml", "        globs: [sbom-*/build-task-*.spdx.json]\n", "");
    assert_caught(&repo, "job release: the github-release put attaches no SBOM (params.globs: sbom-*/…)");
    let repo = baseline().edit("ci/tasks/release-notes.yml", "- name: sbom-owasp-zap\n  optional: true\n", "");
    assert_caught(&repo, "ci/tasks/release-notes.yml: no input sbom-owasp-zap");
}
