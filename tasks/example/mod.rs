//! The `example` task: fetch the target and check its security headers.
//!
//! It needs nothing in its image but the binary, so it is the task of the
//! scratch image and the one every runtime test drives.

use std::time::Instant;

use crate::json::quote;

use crate::error::{Error, Result};
use crate::task::{Context, Flag, Outcome, Task};
use ureq::ResponseExt;

use crate::info;

pub struct Example;

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
    template: "{{task.Build.url}}",
}];

impl Task for Example {
    fn name(&self) -> &'static str {
        "example"
    }

    fn about(&self) -> &'static str {
        "Fetch the site and report which security headers it lacks."
    }

    fn flags(&self) -> &'static [Flag] {
        FLAGS
    }

    fn run(&self, ctx: &Context) -> Result<Outcome> {
        let target = ctx.flag("target").ok_or_else(|| Error::usage("the target is missing"))?;
        let uri: ureq::http::Uri = target.parse().map_err(|_| Error::usage("the target is not a URL"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(Error::usage("the target must be an http or https URL"));
        }
        let user_agent = ctx.site_user_agent(crate::http::USER_AGENT)?;
        let started = Instant::now();
        let response = ctx
            .http
            .get(target)
            .header("User-Agent", &user_agent)
            .config()
            .max_redirects(10)
            .build()
            .call()
            .map_err(|e| Error::failed(format!("cannot fetch the target: {e}")))?;
        let status = response.status().as_u16();
        let final_url = response.get_uri().to_string();
        let missing = missing_headers(response.headers());
        let size = response
            .into_body()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec()
            .map_err(|e| Error::failed(format!("cannot read the target's body: {e}")))?
            .len();
        let elapsed_ms = started.elapsed().as_millis();
        info!("fetched in {elapsed_ms} ms: status {status}, {size} bytes, {} headers missing", missing.len());
        ctx.cancel.check()?;

        let report = format!(
            "{{\"url\":{},\"status\":{status},\"timeMs\":{elapsed_ms},\"size\":{size},\"missingHeaders\":[{}]}}\n",
            quote(&final_url),
            missing.iter().map(|h| quote(h)).collect::<Vec<_>>().join(",")
        );
        let path = ctx.out_dir.join("index.json");
        std::fs::write(&path, report).map_err(|e| Error::failed(format!("cannot write {}: {e}", path.display())))?;
        Ok(Outcome { message: None, count: missing.len() as u64 })
    }
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
