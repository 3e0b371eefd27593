//! Integration tests: the real binary against loopback servers.
//! One binary, one module per area; each test gets its own directories.

mod support;

// The runtime's lifecycle as pages-core and Cloud Foundry see it.
mod runtime;

// The images: Dockerfile, scratch layout, hardening, auditable binary (needs buildah, root).
mod image;
