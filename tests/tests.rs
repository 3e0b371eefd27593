//! Integration tests: the real binary against loopback servers.
//! One binary, one module per area; each test gets its own directories.

mod support;

// The runtime's lifecycle as pages-core and Cloud Foundry see it.
mod runtime;

// The S3 upload engine against s3s-fs, with injected faults.
mod s3;
