//! Release builds for musl (the images' static binary) link without unwind
//! tables: see hardening/no-unwind-tables.ld for why that is safe.
//! (The list of tasks is written out in src/tasks.rs.)

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap_or_default());

    println!("cargo::rerun-if-changed=hardening/no-unwind-tables.ld");
    let musl = env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|e| e == "musl");
    // "release" also for profiles that inherit it; tests are not bins.
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    if musl && release {
        let script = root.join("hardening/no-unwind-tables.ld");
        println!("cargo::rustc-link-arg-bins=-Wl,-T,{}", script.display());
    }
}
