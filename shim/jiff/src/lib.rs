//! A stand-in for the part of jiff 0.2 that rusty-s3 0.11 uses.
//!
//! rusty-s3 takes the time it signs a request at as a `jiff::Timestamp`,
//! makes it with `Timestamp::now()` and prints it with `strftime`, in two
//! formats: `%Y%m%dT%H%M%SZ` (X-Amz-Date) and `%Y%m%d` (the credential's
//! scope). Nothing else of jiff is reached with rusty-s3's `full` feature
//! off, so the build links this file in jiff's place (the root Cargo.toml's
//! `[patch.crates-io]`): a timestamp in whole seconds, UTC, and the six
//! numeric conversions of strftime. Any other conversion (or a byte outside
//! ASCII in the format) is an error, which a caller's `to_string` turns into
//! a panic: it would mean rusty-s3 changed how it signs, and this file has
//! to follow. build-task's log writes its time stamps with it too
//! (`from_second`, then strftime), so the date arithmetic is in one place.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// An instant in time, to the second, as seconds since 1970-01-01 UTC.
#[derive(Clone, Copy, Debug)]
pub struct Timestamp {
    second: i64,
}

impl Timestamp {
    /// The current time (1970 itself if the clock is set before it).
    pub fn now() -> Timestamp {
        let second = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Timestamp { second: i64::try_from(second).unwrap_or(i64::MAX) }
    }

    /// The instant `second` seconds after 1970-01-01 UTC (before it when
    /// negative), within jiff's range of years -9999 to 9999.
    pub fn from_second(second: i64) -> Result<Timestamp, Error> {
        match (-377_705_116_800..=253_402_207_200).contains(&second) {
            true => Ok(Timestamp { second }),
            false => Err(Error),
        }
    }

    /// The time formatted by `format`, in UTC: `%Y`, `%m`, `%d`, `%H`, `%M`,
    /// `%S` and `%%`; other ASCII is copied as it is.
    pub fn strftime<'f, F: ?Sized + AsRef<[u8]>>(&self, format: &'f F) -> Display<'f> {
        Display { second: self.second, format: format.as_ref() }
    }
}

/// A time outside jiff's range.
#[derive(Clone, Debug)]
pub struct Error;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the time is outside the years -9999 to 9999")
    }
}

/// A timestamp with its format, as [`Timestamp::strftime`] returns it.
pub struct Display<'f> {
    second: i64,
    format: &'f [u8],
}

impl fmt::Display for Display<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (days, second) = (self.second.div_euclid(86_400), self.second.rem_euclid(86_400));
        let (year, month, day) = civil_from_days(days);
        let mut bytes = self.format.iter();
        while let Some(&byte) = bytes.next() {
            match byte {
                b'%' => match bytes.next() {
                    Some(b'Y') => write!(f, "{year:04}")?,
                    Some(b'm') => write!(f, "{month:02}")?,
                    Some(b'd') => write!(f, "{day:02}")?,
                    Some(b'H') => write!(f, "{:02}", second / 3600)?,
                    Some(b'M') => write!(f, "{:02}", second % 3600 / 60)?,
                    Some(b'S') => write!(f, "{:02}", second % 60)?,
                    Some(b'%') => f.write_str("%")?,
                    _ => return Err(fmt::Error),
                },
                byte if byte.is_ascii() => write!(f, "{}", byte as char)?,
                _ => return Err(fmt::Error),
            }
        }
        Ok(())
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), by
/// Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let (era, day_of_era) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // March is 0
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signing_formats_give_what_aws_examples_show() {
        // Fri, 24 May 2013 00:00:00 GMT, the time of AWS's SigV4 examples.
        let t = Timestamp { second: 1_369_353_600 };
        assert_eq!(t.strftime("%Y%m%dT%H%M%SZ").to_string(), "20130524T000000Z");
        assert_eq!(t.strftime("%Y%m%d").to_string(), "20130524");
        let t = Timestamp { second: 951_868_799 };
        assert_eq!(t.strftime("%Y-%m-%d %H:%M:%S %%").to_string(), "2000-02-29 23:59:59 %");
        let t = Timestamp { second: -1 };
        assert_eq!(t.strftime("%Y%m%dT%H%M%SZ").to_string(), "19691231T235959Z");
        let t = Timestamp { second: 4_107_542_400 };
        assert_eq!(t.strftime("%Y%m%d").to_string(), "21000301");
    }

    #[test]
    fn now_is_the_system_clock_to_the_second() {
        let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
        let now = Timestamp::now().second;
        assert!(now >= before && now <= before + 1, "{now} vs {before}");
    }

    #[test]
    fn from_second_takes_jiffs_range_and_no_more() {
        assert_eq!(Timestamp::from_second(0).unwrap().strftime("%Y-%m-%d").to_string(), "1970-01-01");
        assert_eq!(Timestamp::from_second(253_402_207_200).unwrap().strftime("%Y").to_string(), "9999");
        assert!(Timestamp::from_second(253_402_207_201).is_err());
        assert!(Timestamp::from_second(-377_705_116_801).is_err());
    }

    #[test]
    fn a_conversion_it_does_not_know_is_an_error_not_a_wrong_date() {
        let t = Timestamp { second: 0 };
        let mut out = String::new();
        assert!(fmt::write(&mut out, format_args!("{}", t.strftime("%Y %a"))).is_err());
    }
}
