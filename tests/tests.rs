//! Integration tests: the real binary against loopback servers.
//! One binary, one module per area; each test gets its own directories.

mod support;

// The runtime's lifecycle as pages-core and Cloud Foundry see it.
mod runtime;

// The Concourse pipeline (ci/) and Cloud Foundry manifest (.cloudgov/), checked offline.
mod ci_pipeline;
