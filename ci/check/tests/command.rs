//! The command on this repository, as it is and with a pipeline broken in a
//! copy of its ci/ folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CHECK: &str = env!("CARGO_BIN_EXE_build-task-ci-check");

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(args: &[&Path]) -> Output {
    Command::new(CHECK).args(args).output().unwrap()
}

#[test]
fn this_repositorys_pipelines_pass() {
    let out = run(&[&repo_root()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("pass every check\n"));
}

#[test]
fn a_copy_whose_pipeline_gets_an_undeclared_resource_fails_naming_it() {
    let copy = std::env::temp_dir().join(format!("build-task-ci-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copy);
    // The whole tree the check reads (task folders, scripts, Dockerfile), without target/.
    let status = Command::new("sh")
        .arg("-c")
        .arg("mkdir -p \"$2\" && cd \"$1\" && tar --exclude=./target --exclude=./.git -cf - . | tar -C \"$2\" -xf -")
        .arg("sh")
        .arg(repo_root())
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    let pipeline = copy.join("ci/pipeline.yml");
    let text = std::fs::read_to_string(&pipeline).unwrap();
    std::fs::write(&pipeline, text.replacen("- get: src\n", "- get: no-such-resource\n", 1)).unwrap();

    let out = run(&[&copy]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let _ = std::fs::remove_dir_all(&copy);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("no-such-resource"), "{said}");
}

#[test]
fn a_directory_without_pipelines_is_a_usage_error() {
    let out = run(&[Path::new("/")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no ci/pipeline.yml"));
}
