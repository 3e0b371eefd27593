//! The tasks compiled into this binary, one cargo feature each.
//!
//! Adding a task: a folder under tasks/ with its `mod.rs`, which defines
//! `pub const TASK: Task`, a feature of the folder's name in Cargo.toml, and
//! its module and its line in [`ALL`] here, each under that feature. Written
//! out by hand so that rustfmt, grep and a reader find every task's code from
//! here; a test checks that no folder under tasks/ is left out.

use crate::task::Task;

#[cfg(feature = "a11y")]
#[path = "../tasks/a11y/mod.rs"]
pub mod a11y;
#[cfg(feature = "example")]
#[path = "../tasks/example/mod.rs"]
pub mod example;
/// The runtime's own test task, never in an image (src/fault.rs).
#[cfg(feature = "fault")]
#[path = "fault.rs"]
pub mod fault;
#[cfg(feature = "owasp-zap")]
#[path = "../tasks/owasp-zap/mod.rs"]
pub mod owasp_zap;

#[cfg(not(any(feature = "a11y", feature = "example", feature = "owasp-zap")))]
compile_error!("build-task needs at least one task feature, e.g. --features example");

/// Every compiled-in task, by name.
pub static ALL: &[&Task] = &[
    #[cfg(feature = "a11y")]
    &a11y::TASK,
    #[cfg(feature = "example")]
    &example::TASK,
    #[cfg(feature = "fault")]
    &fault::TASK,
    #[cfg(feature = "owasp-zap")]
    &owasp_zap::TASK,
];

pub fn find(name: &str) -> Option<&'static Task> {
    ALL.iter().copied().find(|t| t.name == name)
}

pub fn names() -> String {
    ALL.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn every_folder_under_tasks_is_a_module_here_and_a_feature_in_cargo_toml() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let here = std::fs::read_to_string(root.join("src/tasks.rs")).unwrap();
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let mut folders = Vec::new();
        for entry in std::fs::read_dir(root.join("tasks")).unwrap() {
            let path = entry.unwrap().path();
            if path.join("mod.rs").is_file() {
                folders.push(path.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
        assert!(folders.len() >= 3, "{folders:?}");
        for name in &folders {
            let module = name.replace('-', "_");
            let declared =
                format!("#[cfg(feature = \"{name}\")]\n#[path = \"../tasks/{name}/mod.rs\"]\npub mod {module};\n");
            assert!(here.contains(&declared), "tasks/{name} has no module in src/tasks.rs");
            let listed = format!("#[cfg(feature = \"{name}\")]\n    &{module}::TASK,\n");
            assert!(here.contains(&listed), "tasks/{name} is not in ALL");
            assert!(manifest.contains(&format!("\n{name} = [")), "tasks/{name} has no feature in Cargo.toml");
        }
        #[cfg(all(feature = "a11y", feature = "example", feature = "owasp-zap"))]
        for name in &folders {
            assert!(super::find(name).is_some_and(|t| t.name == name), "{name} is compiled in under its own name");
        }
    }
}
