//! The `example` task: fetch the target and check its security headers.
//!
//! It needs nothing in its image but the binary, so it is the task of the
//! scratch image and the one every runtime test drives. Its requests, the
//! redirects it follows included, go through the run's fence
//! (src/fence.rs).

use std::time::Instant;

use miniserde::Serialize;
use ureq::ResponseExt;

use crate::task::{Context, Error, Flag, Outcome, Result, Target, Task, USER_AGENT, info, no_checks};

/// The headers a hardened site sends; `X-Frame-Options` is also satisfied by
/// a CSP with `frame-ancestors`.
const SECURITY_HEADERS: [&str; 6] = [
    "Strict-Transport-Security",
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "Permissions-Policy",
];

const FLAGS: &[Flag] = &[Flag {
    short: 't',
    long: "target",
    value: "URL",
    required: true,
    help: "Fetch this URL and check its security headers.",
    template: Some("{{task.Build.url}}"),
}];

pub const TASK: Task = Task {
    name: "example",
    about: "Fetch the site and report which security headers it lacks.",
    flags: FLAGS,
    run,
    doctor: no_checks,
    platform_rules: 0,
};

fn run(ctx: &Context) -> Result<Outcome> {
    let target = Target::parse(ctx.required("target"))?;
    let user_agent = ctx.site_user_agent(USER_AGENT)?;
    // The target and every redirect from it connect through the fence.
    let agent = ctx.fence(&target)?.agent(&ctx.http)?;
    let started = Instant::now();
    let response = agent
        .get(target.as_str())
        .header("User-Agent", &user_agent)
        .config()
        .max_redirects(10)
        .build()
        .call()
        .map_err(|e| Error::failed(format!("cannot fetch the target: {e}")))?;
    let status = response.status().as_u16();
    let url = response.get_uri().to_string();
    let missing = missing_headers(response.headers());
    let size = response
        .into_body()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .map_err(|e| Error::failed(format!("cannot read the target's body: {e}")))?
        .len() as u64;
    let time_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    info!("fetched in {time_ms} ms: status {status}, {size} bytes, {} headers missing", missing.len());
    ctx.cancel.check()?;

    let count = missing.len() as u64;
    let report = Report { url, status, time_ms, size, missing_headers: missing };
    let path = ctx.out_dir.join("index.json");
    std::fs::write(&path, miniserde::json::to_string(&report) + "\n")
        .map_err(|e| Error::failed(format!("cannot write {}: {e}", path.display())))?;
    Ok(Outcome { message: None, count })
}

/// index.json: what the fetch found.
#[derive(Serialize)]
struct Report {
    /// The URL after redirects.
    url: String,
    status: u16,
    #[serde(rename = "timeMs")]
    time_ms: u64,
    /// Bytes of the body.
    size: u64,
    /// The security headers the response lacks, in the order of [`SECURITY_HEADERS`].
    #[serde(rename = "missingHeaders")]
    missing_headers: Vec<&'static str>,
}

/// The security headers a response lacks, in the order of [`SECURITY_HEADERS`].
pub fn missing_headers(headers: &ureq::http::HeaderMap) -> Vec<&'static str> {
    let csp = headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("");
    let frame_ancestors = csp.split(';').any(|d| d.trim().to_ascii_lowercase().starts_with("frame-ancestors"));
    SECURITY_HEADERS
        .into_iter()
        .filter(|name| !(headers.contains_key(*name) || (*name == "X-Frame-Options" && frame_ancestors)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ureq::http::HeaderMap;

    #[test]
    fn frame_ancestors_in_csp_stands_in_for_x_frame_options() {
        let mut h = HeaderMap::new();
        h.insert("content-security-policy", "default-src 'self'; frame-ancestors 'none'".parse().unwrap());
        h.insert("strict-transport-security", "max-age=31536000".parse().unwrap());
        assert_eq!(missing_headers(&h), ["X-Content-Type-Options", "Referrer-Policy", "Permissions-Policy"]);
        assert_eq!(missing_headers(&HeaderMap::new()).len(), 6);
    }
}
