//! `build-task-audit`: audits an unpacked image against the hardening policy.
//! Exit status: 0 no finding, 1 findings, 2 the audit could not run.

use std::path::PathBuf;
use std::process::ExitCode;

use build_task_audit::{DEFAULT_POLICY, Policy, audit_image};

const HELP: &str = "\
USAGE: build-task-audit [--policy FILE] IMAGE_DIR

Audits an unpacked image: IMAGE_DIR/rootfs and IMAGE_DIR/metadata.json, as
oci-build-task writes them with UNPACK_ROOTFS=true. Prints each finding as
`FAIL <rule> <path>: <why>` and exits 1 when there is any.

OPTIONS:
    --policy FILE   Check against this policy instead of the built-in
                    hardening/policy.toml.
    -h, --help      Print this help.
";

fn main() -> ExitCode {
    build_task_audit::exit_code("build-task-audit", run())
}

fn run() -> Result<bool, String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_env();
    let mut policy_file: Option<PathBuf> = None;
    let mut image: Option<PathBuf> = None;
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("policy") => policy_file = Some(parser.value().map_err(|e| e.to_string())?.into()),
            Short('h') | Long("help") => {
                print!("{HELP}");
                return Ok(true);
            }
            Value(v) if image.is_none() => image = Some(v.into()),
            other => return Err(other.unexpected().to_string()),
        }
    }
    let image = image.ok_or("no IMAGE_DIR given (see --help)")?;
    let text = match &policy_file {
        Some(p) => std::fs::read_to_string(p).map_err(|e| format!("cannot read the policy {}: {e}", p.display()))?,
        None => DEFAULT_POLICY.to_owned(),
    };
    let policy = Policy::parse(&text)?;
    let report = audit_image(&image, &policy)?;
    for note in &report.notes {
        println!("note {note}");
    }
    for f in &report.findings {
        println!("{f}");
    }
    println!(
        "{} finding(s); {} entries in the rootfs, {} of them not directories",
        report.findings.len(),
        report.entries,
        report.files
    );
    Ok(report.findings.is_empty())
}
