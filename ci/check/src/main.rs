//! `build-task-ci-check [REPO]`: checks the pipelines of the repository at
//! REPO (default: the current directory) and prints one line a problem.
//! Exits 0 when there is none, 1 when there is one or more, 2 on a bad
//! invocation.

use std::path::Path;
use std::process::ExitCode;

use build_task_ci_check::{Repo, check};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = match args.as_slice() {
        [] => ".".to_owned(),
        [flag] if flag == "-h" || flag == "--help" => {
            println!("usage: build-task-ci-check [REPO]\nChecks the Concourse pipelines in REPO/ci offline.");
            return ExitCode::SUCCESS;
        }
        [root] if !root.starts_with('-') => root.clone(),
        _ => {
            eprintln!("usage: build-task-ci-check [REPO]");
            return ExitCode::from(2);
        }
    };
    if !Path::new(&root).join("ci/pipeline.yml").is_file() {
        eprintln!("build-task-ci-check: {root} has no ci/pipeline.yml: give the repository's root");
        return ExitCode::from(2);
    }
    let problems = check(&Repo::open(&root));
    for problem in &problems {
        println!("{problem}");
    }
    if problems.is_empty() {
        println!("build-task-ci-check: the pipelines in {root}/ci pass every check");
        ExitCode::SUCCESS
    } else {
        eprintln!("build-task-ci-check: {} problems in {root}/ci", problems.len());
        ExitCode::FAILURE
    }
}
