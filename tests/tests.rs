//! Integration tests: the real binary against loopback servers.
//! One binary, one module per area; each test gets its own directories.

mod support;

// The runtime's lifecycle as pages-core and Cloud Foundry see it.
mod runtime;

// The owasp-zap report step: parity with the original reporter, rules, Markdown.
#[cfg(feature = "owasp-zap")]
mod zap_report;
// The owasp-zap task end to end, with a stand-in zap-baseline.
#[cfg(feature = "owasp-zap")]
mod zap_run;
