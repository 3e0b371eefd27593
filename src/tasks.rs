//! The tasks compiled into this binary, one cargo feature each.
//!
//! Adding a task: a folder under tasks/ with its `mod.rs`, a feature in
//! Cargo.toml, and one line in each list below.

use crate::task::Task;

#[cfg(feature = "example")]
#[path = "../tasks/example/mod.rs"]
pub mod example;

#[cfg(feature = "fault")]
#[path = "fault.rs"]
pub mod fault;

#[cfg(feature = "owasp-zap")]
#[path = "../tasks/owasp-zap/mod.rs"]
pub mod owasp_zap;

#[cfg(feature = "a11y")]
#[path = "../tasks/a11y/mod.rs"]
pub mod a11y;

#[cfg(not(any(feature = "example", feature = "owasp-zap", feature = "a11y")))]
compile_error!("build-task needs at least one task feature, e.g. --features example");

/// Every compiled-in task.
pub static ALL: &[&dyn Task] = &[
    #[cfg(feature = "example")]
    &example::Example,
    #[cfg(feature = "fault")]
    &fault::Fault,
    #[cfg(feature = "owasp-zap")]
    &owasp_zap::OwaspZap,
    #[cfg(feature = "a11y")]
    &a11y::A11y,
];

pub fn find(name: &str) -> Option<&'static dyn Task> {
    ALL.iter().copied().find(|t| t.name() == name)
}

pub fn names() -> String {
    ALL.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ")
}
