//! robots.txt: which URLs of the target's origin the crawl may ask for, and
//! how long it waits between requests (`Crawl-delay`).

use std::time::Duration;

use ureq::Agent;
use url::Url;

/// robots.txt of the target's origin, for our user agent, matched as
/// Google's reference parser does. A missing or unreadable robots.txt allows
/// everything (as Scrapy does).
pub struct Robots {
    /// The body, ASCII only (see [`ascii_robots`]); None allows all.
    body: Option<String>,
    /// Groups are matched on the product token, e.g. "cloudgovpagescrawler"
    /// in "cloudgovpagescrawler/1.0 (+https://…)".
    token: String,
    /// The `Crawl-delay` of our group, or of `*` when no group names us.
    pub delay: Option<Duration>,
}

impl Robots {
    /// Rules from a robots.txt body, for `user_agent` (matched on its product token).
    pub fn from_body(body: &[u8], user_agent: &str) -> Robots {
        let token = user_agent.split(['/', ' ']).next().unwrap_or("").to_owned();
        let body = ascii_robots(body);
        Robots { delay: crawl_delay(&body, &token), body: Some(body), token }
    }

    /// robots.txt of `root`'s origin, asked for as `user_agent`.
    pub(super) fn fetch(agent: &Agent, root: &Url, user_agent: &str, timeout: Duration) -> Robots {
        let Ok(url) = root.join("/robots.txt") else { return Robots::from_body(b"", user_agent) };
        let response = agent
            .get(url.as_str())
            .header("User-Agent", user_agent)
            .config()
            .timeout_global(Some(timeout))
            .build()
            .call();
        // Google reads at most 500 KiB of it.
        let body = match response {
            Ok(r) if r.status().as_u16() == 200 => r.into_body().with_config().limit(500 * 1024).read_to_vec().ok(),
            _ => None,
        };
        let mut robots = Robots::from_body(body.as_deref().unwrap_or(b""), user_agent);
        if body.is_none() {
            robots.body = None;
        }
        robots
    }

    pub fn allowed(&self, url: &Url) -> bool {
        match &self.body {
            Some(body) => {
                robotstxt::DefaultMatcher::default().one_agent_allowed_by_robots(body, &self.token, url.as_str())
            }
            None => true,
        }
    }
}

/// The `Crawl-delay` (seconds, fractions allowed) in the first group that
/// names `token`, or in the first `*` group when none names it. Groups as
/// robots.txt has them: user-agent lines, then the rules that follow.
fn crawl_delay(body: &str, token: &str) -> Option<Duration> {
    let (mut ours, mut any, mut named) = (None, None, false);
    let mut agents: Vec<&str> = Vec::new();
    let mut in_rules = false;
    for line in body.lines() {
        let line = line.split('#').next().unwrap_or("");
        let Some((key, value)) = line.split_once(':') else { continue };
        let (key, value) = (key.trim(), value.trim());
        if key.eq_ignore_ascii_case("user-agent") {
            if in_rules {
                agents.clear();
                in_rules = false;
            }
            // Its product token: what comes before a version or a comment.
            let agent = value.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')).next();
            let agent = if value.starts_with('*') { "*" } else { agent.unwrap_or("") };
            named |= agent.eq_ignore_ascii_case(token);
            agents.push(agent);
            continue;
        }
        in_rules = true;
        if !key.eq_ignore_ascii_case("crawl-delay") {
            continue;
        }
        let Some(delay) = value.parse::<f64>().ok().and_then(|s| Duration::try_from_secs_f64(s).ok()) else { continue };
        for agent in &agents {
            if agent.eq_ignore_ascii_case(token) {
                ours = ours.or(Some(delay));
            } else if *agent == "*" {
                any = any.or(Some(delay));
            }
        }
    }
    let delay = if named { ours } else { any };
    delay.filter(|d| !d.is_zero())
}

/// robots.txt with every byte outside ASCII percent-encoded. The matcher
/// encodes such bytes in patterns this way itself, so the rules mean the
/// same; and robotstxt 0.3 can panic slicing inside a multi-byte character
/// (its issue #5), which ASCII input rules out.
fn ascii_robots(body: &[u8]) -> String {
    let mut out = String::with_capacity(body.len());
    for &b in body {
        if b.is_ascii() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robots_txt_outside_ascii_is_matched_without_a_panic() {
        let body = "User-agent: *\nDisallow: /caf\u{e9}/\u{a0}\u{a0}\nDisallow: /priv\u{a0}ate\n# \u{1f600}\n";
        let robots = Robots::from_body(body.as_bytes(), "cloudgovpagescrawler");
        let allowed = |url: &str| robots.allowed(&Url::parse(url).unwrap());
        assert!(!allowed("https://example.gov/caf%C3%A9/%C2%A0%C2%A0"));
        assert!(!allowed("https://example.gov/café/\u{a0}\u{a0}"));
        assert!(allowed("https://example.gov/cafe/"));
        assert!(allowed("https://example.gov/private"));
    }

    #[test]
    fn the_crawl_delay_is_our_groups_or_else_the_star_groups() {
        let ua = "cloudgovpagescrawler";
        let d = |body: &str| crawl_delay(body, ua);
        assert_eq!(d("User-agent: *\nCrawl-delay: 2\n"), Some(Duration::from_secs(2)));
        assert_eq!(d("User-agent: *\nDisallow: /x\nCrawl-delay: 0.5 # half\n"), Some(Duration::from_millis(500)));
        // A group that names us replaces `*`, with or without a delay.
        assert_eq!(
            d("User-agent: *\nCrawl-delay: 5\n\nUser-agent: CloudGovPagesCrawler/1.0\nCrawl-delay: 1\n"),
            Some(Duration::from_secs(1))
        );
        assert_eq!(d("User-agent: *\nCrawl-delay: 5\n\nUser-agent: cloudgovpagescrawler\nDisallow: /p\n"), None);
        // Several agents share a group; another agent's delay is not ours.
        assert_eq!(
            d("User-agent: googlebot\nUser-agent: cloudgovpagescrawler\nCrawl-delay: 3\n"),
            Some(Duration::from_secs(3))
        );
        assert_eq!(d("User-agent: googlebot\nCrawl-delay: 3\n"), None);
        assert_eq!(d("User-agent: googlebot\nCrawl-delay: 3\nUser-agent: *\nAllow: /\n"), None);
        for junk in ["-1", "soon", "NaN", "inf", "1e400", "0"] {
            assert_eq!(d(&format!("User-agent: *\nCrawl-delay: {junk}\n")), None, "{junk}");
        }
        let robots = Robots::from_body(b"user-agent: *\ncrawl-delay: 20\n", "cloudgovpagescrawler/1.0 (+x)");
        assert_eq!(robots.delay, Some(Duration::from_secs(20)), "capped by the crawl, not here");
    }
}
