//! Two jobs:
//!
//! - The list of compiled-in tasks (`$OUT_DIR/tasks.rs`, included by
//!   src/tasks.rs): every folder under tasks/ with a `mod.rs`, when the cargo
//!   feature of the folder's name is on, plus the runtime's own test task
//!   (src/fault.rs, feature `fault`). Adding a task is its folder and its
//!   feature; nothing else lists it.
//! - Release builds for musl (the images' static binary) link without unwind
//!   tables: see hardening/no-unwind-tables.ld for why that is safe.

use std::env;
use std::fmt::Write;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=tasks");
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("tasks.rs"), task_list(&root)).expect("OUT_DIR is writable");

    println!("cargo::rerun-if-changed=hardening/no-unwind-tables.ld");
    let musl = env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|e| e == "musl");
    // "release" also for profiles that inherit it; tests are not bins.
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    if musl && release {
        let script = root.join("hardening/no-unwind-tables.ld");
        println!("cargo::rustc-link-arg-bins=-Wl,-T,{}", script.display());
    }
}

/// The task modules whose features are on, each `pub mod <name>` with its
/// `TASK`, and `ALL`, the list of them in name order.
fn task_list(root: &Path) -> String {
    let mut tasks: Vec<(String, PathBuf)> = std::fs::read_dir(root.join("tasks"))
        .expect("tasks/ is readable")
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let main = entry.path().join("mod.rs");
            Some((entry.file_name().into_string().ok()?, main)).filter(|(_, main)| main.is_file())
        })
        .collect();
    tasks.push(("fault".to_owned(), root.join("src/fault.rs")));
    tasks.sort();

    let (mut modules, mut all) = (String::new(), String::new());
    let mut shipped = 0;
    for (name, main) in &tasks {
        let feature = format!("CARGO_FEATURE_{}", name.to_uppercase().replace('-', "_"));
        if env::var_os(feature).is_none() {
            continue;
        }
        let module = name.replace('-', "_");
        let _ = writeln!(modules, "#[path = {:?}]\npub mod {module};", main.display().to_string());
        let _ = writeln!(all, "    &{module}::TASK,");
        shipped += usize::from(name != "fault");
    }
    if shipped == 0 {
        modules += "compile_error!(\"build-task needs at least one task feature, e.g. --features example\");\n";
    }
    format!("{modules}\n/// Every compiled-in task, by name.\npub static ALL: &[&Task] = &[\n{all}];\n")
}
