//! Integration tests: the real binary against loopback servers.
//! One binary, one module per area; each test gets its own directories.

// Tests reach processes, namespaces and sockets through libc where std has no
// call for it; each unsafe block still says why it is sound (`// SAFETY:`).
#![allow(unsafe_code)]

mod support;

// The runtime's lifecycle as pages-core and Cloud Foundry see it.
mod runtime;

// The fence on the example task: no internal address, whatever redirect leads there.
mod fence;

// Every fault, one terminal status: the fault matrix.
mod faults;

// A signal at every moment of a run: one terminal status, the right exit code.
mod signals;

// Malformed command lines and params: the bad-input corpus.
mod corpus;

// No secret in any output.
mod secrets;

// The Concourse pipeline (ci/) and Cloud Foundry manifest (.cloudgov/), checked offline.
mod ci_pipeline;
mod smoke; // The smoke tool the pipeline runs in each image (ci/smoke), against real local runs.

// The images: Dockerfile, scratch layout, hardening, auditable binary (needs buildah, root).
mod image;

// The a11y and owasp-zap images on Debian stand-in bases, run as containers
// with every pages-core command form (needs buildah, mmdebstrap, root).
#[cfg(all(feature = "a11y", feature = "owasp-zap"))]
mod debian_images;

// The S3 upload engine against s3s-fs, with injected faults.
mod s3;

// The owasp-zap report step: parity with the original reporter, rules, Markdown.
#[cfg(feature = "owasp-zap")]
mod zap_report;
// The owasp-zap task end to end, with a stand-in zap-baseline.
#[cfg(feature = "owasp-zap")]
mod zap_run;

// build-task doctor's checks of each task's tools.
#[cfg(all(feature = "a11y", feature = "owasp-zap"))]
mod doctor;

// The pages-core migrations that move each scanning task to its new command.
#[cfg(all(feature = "a11y", feature = "owasp-zap"))]
mod migrations;

// The a11y report step against the original reporter's outputs.
#[cfg(feature = "a11y")]
mod a11y_report;

// The a11y crawler against generated sites on loopback.
#[cfg(feature = "a11y")]
mod a11y_crawl;

// The a11y scan in real Chromium, and the whole a11y task end to end.
#[cfg(feature = "a11y")]
mod a11y_scan;

// Hostile pages against the real scan: each fails alone.
#[cfg(feature = "a11y")]
mod a11y_hostile;

// The a11y task's deadline: a report of the pages scanned in time, the rest listed.
#[cfg(feature = "a11y")]
mod a11y_deadline;
// The browser fenced like the crawler: hostile pages reaching for internal addresses.
#[cfg(feature = "a11y")]
mod a11y_fence;
// The a11y image in a container built as Garden builds a task's (runc, 512 MB): large sites fit.
#[cfg(all(feature = "a11y", feature = "owasp-zap"))]
mod garden;
