//! How an upload runs and where it goes: the settings from the environment
//! and the endpoint the AWS SDKs would choose.

use std::time::Duration;

use rusty_s3::{Bucket, UrlStyle};

use crate::env::Env;
use crate::error::Result;
use crate::http::{self, Retry};
use crate::params::{BucketName, Region};

pub(super) const MIB: u64 = 1024 * 1024;

/// S3's smallest part (all but the last may not be smaller) and its largest.
pub(super) const MIN_PART: u64 = 5 * MIB;
const MAX_PART: u64 = 5 * 1024 * MIB;

/// How an upload runs; each field can be set from the environment.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Requests in flight at once (BUILD_TASK_S3_WORKERS).
    pub workers: usize,
    /// Files of at least this size go up in parts (BUILD_TASK_MULTIPART_THRESHOLD).
    pub multipart_threshold: u64,
    /// The size of each part but the last (BUILD_TASK_MULTIPART_PART_SIZE).
    pub part_size: u64,
    /// How long to wait for S3 to answer or to go on sending (BUILD_TASK_S3_TIMEOUT).
    pub timeout: Duration,
    /// Retries of 5xx, 429, time-outs and resets.
    pub retry: Retry,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            workers: 4,
            multipart_threshold: 64 * MIB,
            part_size: 8 * MIB,
            timeout: Duration::from_secs(60),
            retry: Retry {
                attempts: 5,
                base: Duration::from_millis(200),
                cap: Duration::from_secs(10),
                budget: Duration::from_secs(120),
            },
        }
    }
}

impl Config {
    /// The defaults, overridden by BUILD_TASK_S3_WORKERS (1 to 64),
    /// BUILD_TASK_MULTIPART_THRESHOLD (at least 5M),
    /// BUILD_TASK_MULTIPART_PART_SIZE (5M to 5G; sizes are bytes, or with a
    /// `K`, `M` or `G` suffix for KiB, MiB, GiB) and BUILD_TASK_S3_TIMEOUT
    /// (seconds, 1 to 3600).
    pub fn from_env(env: &Env) -> Result<Config> {
        let default = Config::default();
        let workers = env.count("BUILD_TASK_S3_WORKERS", 1, 64, default.workers)?;
        let threshold = env.size("BUILD_TASK_MULTIPART_THRESHOLD", MIN_PART, u64::MAX, default.multipart_threshold)?;
        let part_size = env.size("BUILD_TASK_MULTIPART_PART_SIZE", MIN_PART, MAX_PART, default.part_size)?;
        let timeout = env.whole_number("BUILD_TASK_S3_TIMEOUT", 1, 3600, default.timeout.as_secs())?;
        Ok(Config {
            workers,
            multipart_threshold: threshold,
            part_size,
            timeout: Duration::from_secs(timeout),
            retry: default.retry,
        })
    }
}

/// The bucket at the endpoint the AWS SDKs would choose: AWS_ENDPOINT_URL_S3,
/// else AWS_ENDPOINT_URL (path-style, as non-AWS endpoints need), else
/// `s3[-fips].<region>.amazonaws.com` addressed virtual-host style. Bucket
/// names with dots cannot be a TLS host name under the wildcard certificate,
/// so those go path-style, as the SDKs do. Only an endpoint setting can be
/// wrong here: the bucket name and the region were checked with the params.
pub(super) fn bucket(name: &BucketName, region: &Region, env: &Env) -> Result<Bucket> {
    let custom =
        [("AWS_ENDPOINT_URL_S3", env.get("AWS_ENDPOINT_URL_S3")), ("AWS_ENDPOINT_URL", env.get("AWS_ENDPOINT_URL"))]
            .into_iter()
            .find_map(|(var, v)| v.filter(|v| !v.trim().is_empty()).map(|v| (var, v.trim())));
    let (endpoint, style) = match custom {
        Some((var, custom)) => (http::check_url(custom, var)?, UrlStyle::Path),
        None => {
            let fips = env.flag("AWS_USE_FIPS_ENDPOINT")?;
            let service = if fips { "s3-fips" } else { "s3" };
            let url = format!("https://{service}.{}.amazonaws.com", region.as_str());
            let style = if name.as_str().contains('.') { UrlStyle::Path } else { UrlStyle::VirtualHost };
            (url.parse().unwrap_or_else(|_| unreachable!("a region name makes a valid host name")), style)
        }
    };
    Ok(Bucket::new(endpoint, style, name.as_str().to_owned(), region.as_str().to_owned())
        .unwrap_or_else(|_| unreachable!("an http(s) URL with a host and a valid bucket name make a bucket")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object_url(bucket: &str, region: &str, env: &[(&str, &str)]) -> String {
        let (name, region) = (BucketName::new(bucket).unwrap(), Region::new(region).unwrap());
        let bucket = super::bucket(&name, &region, &Env::from_pairs(env.iter().copied())).unwrap();
        bucket.object_url("_tasks/artifacts/1/index.json").to_string()
    }

    #[test]
    fn the_default_endpoint_is_virtual_hosted_in_the_region_govcloud_included() {
        assert_eq!(
            object_url("site", "us-east-1", &[]),
            "https://site.s3.us-east-1.amazonaws.com/_tasks/artifacts/1/index.json"
        );
        assert_eq!(
            object_url("cg-123", "us-gov-west-1", &[]),
            "https://cg-123.s3.us-gov-west-1.amazonaws.com/_tasks/artifacts/1/index.json"
        );
    }

    #[test]
    fn fips_selects_the_s3_fips_endpoint() {
        let fips = [("AWS_USE_FIPS_ENDPOINT", "true")];
        assert_eq!(
            object_url("cg-123", "us-gov-west-1", &fips),
            "https://cg-123.s3-fips.us-gov-west-1.amazonaws.com/_tasks/artifacts/1/index.json"
        );
        assert_eq!(
            object_url("cg-123", "us-gov-west-1", &[("AWS_USE_FIPS_ENDPOINT", "false")]),
            "https://cg-123.s3.us-gov-west-1.amazonaws.com/_tasks/artifacts/1/index.json"
        );
    }

    #[test]
    fn an_endpoint_url_overrides_with_path_style_and_the_s3_one_wins() {
        let both =
            [("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"), ("AWS_ENDPOINT_URL_S3", "https://minio.example.gov")];
        assert_eq!(
            object_url("site", "us-east-1", &both),
            "https://minio.example.gov/site/_tasks/artifacts/1/index.json"
        );
        let general = [("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"), ("AWS_ENDPOINT_URL_S3", "")];
        assert_eq!(
            object_url("site", "us-east-1", &general),
            "http://127.0.0.1:9000/site/_tasks/artifacts/1/index.json"
        );
        let plain_http = Env::from_pairs([("AWS_ENDPOINT_URL_S3", "http://s3.example.gov")]);
        let (name, region) = (BucketName::new("site").unwrap(), Region::new("us-east-1").unwrap());
        let err = bucket(&name, &region, &plain_http).unwrap_err();
        assert!(err.message().starts_with("AWS_ENDPOINT_URL_S3 must be an https URL"), "{err}");
    }

    #[test]
    fn dotted_buckets_go_path_style_and_odd_regions_are_refused() {
        assert_eq!(
            object_url("a.b", "us-gov-west-1", &[]),
            "https://s3.us-gov-west-1.amazonaws.com/a.b/_tasks/artifacts/1/index.json"
        );
        assert!(Region::new("us-east-1.evil.com/").is_none());
    }

    #[test]
    fn settings_come_from_the_environment_with_units() {
        let env = Env::from_pairs([
            ("BUILD_TASK_S3_WORKERS", "8"),
            ("BUILD_TASK_MULTIPART_THRESHOLD", "16M"),
            ("BUILD_TASK_MULTIPART_PART_SIZE", "5242880"),
            ("BUILD_TASK_S3_TIMEOUT", "3"),
        ]);
        let c = Config::from_env(&env).unwrap();
        assert_eq!(
            (c.workers, c.multipart_threshold, c.part_size, c.timeout),
            (8, 16 * MIB, 5 * MIB, Duration::from_secs(3))
        );
        let d = Config::from_env(&Env::default()).unwrap();
        assert_eq!(
            (d.workers, d.multipart_threshold, d.part_size, d.timeout),
            (4, 64 * MIB, 8 * MIB, Duration::from_secs(60))
        );
        for (name, bad) in [
            ("BUILD_TASK_S3_WORKERS", "0"),
            ("BUILD_TASK_MULTIPART_THRESHOLD", "1M"),
            ("BUILD_TASK_MULTIPART_PART_SIZE", "8 parsecs"),
            ("BUILD_TASK_S3_TIMEOUT", "-1"),
        ] {
            let err = Config::from_env(&Env::from_pairs([(name, bad)])).unwrap_err();
            assert!(err.message().starts_with(name), "{err}");
        }
    }
}
