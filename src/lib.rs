//! build-task: a static runtime for cloud.gov Pages build tasks.
//!
//! One run, end to end (see `run.rs`, the only place that knows the order):
//! command line → params (decrypted) → "processing" → task → upload → "success",
//! and on any failure or signal, one "error" status and a documented exit code.

pub mod callback;
pub mod cancel;
pub mod cli;
pub mod crypto;
pub mod doctor;
pub mod entry;
pub mod env;
pub mod error;
pub mod fence;
pub mod http;
pub mod json;
pub mod log;
pub mod params;
pub mod run;
pub mod secret;
pub mod site;
pub mod store;
pub mod task;
pub mod tasks;
pub mod tls;
