//! Integration tests: the real binary against loopback servers.
//! One binary, one module per area; each test gets its own directories.

mod support;

// The runtime's lifecycle as pages-core and Cloud Foundry see it.
mod runtime;

// The a11y report step against the original reporter's outputs.
#[cfg(feature = "a11y")]
mod a11y_report;
