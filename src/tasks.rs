//! The tasks compiled into this binary, one cargo feature each.
//!
//! Adding a task: a folder under tasks/ with its `mod.rs`, which defines
//! `pub const TASK: Task`, and a feature of the folder's name in
//! Cargo.toml. build.rs writes the module list from the folders.

use crate::task::Task;

include!(concat!(env!("OUT_DIR"), "/tasks.rs"));

pub fn find(name: &str) -> Option<&'static Task> {
    ALL.iter().copied().find(|t| t.name == name)
}

pub fn names() -> String {
    ALL.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
}
