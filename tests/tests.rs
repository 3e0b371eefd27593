//! Integration tests: the real binary against loopback servers.
//! One binary, one module per area; each test gets its own directories.

mod support;

// The runtime's lifecycle as pages-core and Cloud Foundry see it.
mod runtime;

// The a11y crawler against generated sites on loopback.
#[cfg(feature = "a11y")]
mod a11y_crawl;

// The a11y scan in real Chromium, and the whole a11y task end to end.
#[cfg(feature = "a11y")]
mod a11y_scan;
