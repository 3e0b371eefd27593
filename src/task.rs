//! What a task is: a name, its flags, `run` and `doctor`.
//!
//! A task gets a [`Context`] (its flag values, already decrypted; the shared
//! HTTP agent; a fresh output directory; a scratch directory; the cancel
//! signal) and returns an [`Outcome`]. The runtime does everything else:
//! statuses, the upload, signals, exit codes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ureq::Agent;

// What a task uses of the runtime: a task's files import from here only.
pub use crate::cancel::{Cancel, ChildGuard};
pub use crate::doctor::{Check, version_line, writable};
pub use crate::env::Env;
pub use crate::error::{Error, Result};
pub use crate::fence::{Blocked, Fence};
pub use crate::http::{USER_AGENT, retry_after_of};
pub use crate::json::quote;
pub use crate::log::bounded;
pub use crate::site::{Rule, Site, Target};
pub use crate::{debug, info, warn};

/// One flag a task takes. Every flag takes one value.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    pub short: char,
    pub long: &'static str,
    /// The value's name in help, e.g. `URL`.
    pub value: &'static str,
    pub required: bool,
    /// One imperative sentence.
    pub help: &'static str,
    /// What pages-core puts here in the command template, e.g.
    /// `{{task.Build.url}}`; None for a flag the task accepts (pages-core's
    /// stored commands pass it) but does not use: each value in a template
    /// costs about a hundred of Cloud Foundry's 4,096 characters, encrypted.
    pub template: Option<&'static str>,
}

/// The flags pages-core passes to a site scan (the Python tasks' `-t -b -o -r -c`),
/// shared by the scanning tasks. Only the target is required: pages-core's
/// public migrations pass no `-c`, and no rules is a valid configuration.
pub const SITE_SCAN_FLAGS: &[Flag] = &[
    Flag {
        short: 't',
        long: "target",
        value: "URL",
        required: true,
        help: "Scan the site at this URL.",
        template: Some("{{task.Build.url}}"),
    },
    Flag {
        short: 'b',
        long: "buildid",
        value: "ID",
        required: false,
        help: "Name the build the scan belongs to (accepted, unused).",
        template: None,
    },
    Flag {
        short: 'o',
        long: "owner",
        value: "OWNER",
        required: false,
        help: "Name the site's repository owner (accepted, unused).",
        template: None,
    },
    Flag {
        short: 'r',
        long: "repository",
        value: "REPO",
        required: false,
        help: "Name the site's repository (accepted, unused).",
        template: None,
    },
    Flag {
        short: 'c',
        long: "config",
        value: "JSON",
        required: false,
        help: "Apply this scan config's rules, {\"rules\":[...]} (none when absent).",
        template: Some("{{task.SiteBuildTask.metadata}}"),
    },
];

/// A build task compiled into the binary: its name, its flags, and what it
/// does. Each task's module defines one as `pub const TASK`.
pub struct Task {
    /// The name used on the command line and in BUILD_TASK.
    pub name: &'static str,
    /// One line on what it does.
    pub about: &'static str,
    pub flags: &'static [Flag],
    /// Runs the task. The artifact goes in `ctx.out_dir`.
    pub run: fn(&Context) -> Result<Outcome>,
    /// What `build-task doctor` checks for this task beyond the runtime's
    /// own checks: its tools, their paths and versions.
    pub doctor: fn(&Env) -> Vec<Check>,
    /// Rules pages-core puts in every site's scan config of this task's
    /// type before the site's own (10 for ZAP: CONTRACT A7); they count
    /// against Cloud Foundry's 4,096-character command (`describe`).
    pub platform_rules: usize,
}

/// The doctor of a task that needs nothing beyond the binary.
pub fn no_checks(_env: &Env) -> Vec<Check> {
    Vec::new()
}

/// Everything a task run gets from the runtime.
pub struct Context {
    /// Flag values by long name, decrypted. They may be secrets: never log them.
    pub flags: BTreeMap<&'static str, String>,
    pub http: Agent,
    /// Empty at the start; everything in it is the artifact.
    pub out_dir: PathBuf,
    /// Scratch space, removed after the run.
    pub work_dir: PathBuf,
    pub cancel: Cancel,
    pub env: Env,
}

impl Context {
    /// An optional flag's value.
    pub fn flag(&self, long: &str) -> Option<&str> {
        self.flags.get(long).map(String::as_str)
    }

    /// A required flag's value: the command line was refused without it, so
    /// there is nothing to check (a flag the task does not declare required
    /// reads as empty).
    pub fn required(&self, long: &str) -> &str {
        self.flag(long).unwrap_or_default()
    }

    /// The site scan's target and rules (SITE_SCAN_FLAGS' `-t` and `-c`),
    /// checked: a task takes them before any work.
    pub fn site(&self) -> Result<Site> {
        Site::parse(self.required("target"), self.flag("config"))
    }

    /// The user agent a task fetches a site with: the `user-agent`
    /// user-provided service's USER_AGENT (the platform rotates it, and site
    /// owners allow it through their firewalls), one for every task. A
    /// deployed run without the service fails; a local run uses `local`.
    pub fn site_user_agent(&self, local: &str) -> Result<String> {
        match self.env.user_provided("user-agent", "USER_AGENT") {
            Ok(ua) => Ok(ua.expose().to_owned()),
            Err(e) if self.env.deploy_env().is_some() => Err(e.context("no user agent to fetch the site with")),
            Err(_) => Ok(local.to_owned()),
        }
    }

    /// The fence a task's requests for the site go through (see
    /// [`Fence::for_run`]): none to an internal address in a deployed run, only
    /// to a loopback target in a local one. An error when the target itself
    /// is out of reach, before any work.
    pub fn fence(&self, target: &Target) -> Result<Fence> {
        Fence::for_run(self.env.deploy_env().is_some(), target.url())
    }
}

/// What a successful run reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The success status's `message` (pages-core shows it to admins).
    pub message: Option<String>,
    /// The success status's `count`: the number of issues found.
    pub count: u64,
}
