//! Small additions to miniserde.
//!
//! miniserde keeps the last of duplicate keys and says only "miniserde error";
//! [`Entries`] keeps every key in order so callers can reject duplicates and
//! name the key at fault.

use miniserde::de::{Deserialize, Map, Visitor};
use miniserde::json::Value;
use miniserde::{Result, make_place};

make_place!(Place);

/// A JSON object's members in document order, duplicates kept.
#[derive(Debug, Default)]
pub struct Entries(pub Vec<(String, Value)>);

impl Deserialize for Entries {
    fn begin(out: &mut Option<Self>) -> &mut dyn Visitor {
        Place::new(out)
    }
}

impl Visitor for Place<Entries> {
    fn map(&mut self) -> Result<Box<dyn Map + '_>> {
        Ok(Box::new(EntriesBuilder { out: &mut self.out, entries: Vec::new(), key: None, value: None }))
    }
}

struct EntriesBuilder<'a> {
    out: &'a mut Option<Entries>,
    entries: Vec<(String, Value)>,
    key: Option<String>,
    value: Option<Value>,
}

impl EntriesBuilder<'_> {
    fn shift(&mut self) {
        if let (Some(k), Some(v)) = (self.key.take(), self.value.take()) {
            self.entries.push((k, v));
        }
    }
}

impl Map for EntriesBuilder<'_> {
    fn key(&mut self, k: &str) -> Result<&mut dyn Visitor> {
        self.shift();
        self.key = Some(k.to_owned());
        Ok(Deserialize::begin(&mut self.value))
    }

    fn finish(&mut self) -> Result<()> {
        self.shift();
        *self.out = Some(Entries(std::mem::take(&mut self.entries)));
        Ok(())
    }
}

/// Parses text that must be one JSON object.
pub fn object_entries(text: &str) -> Result<Entries> {
    miniserde::json::from_str(text)
}

/// Escapes a string as a JSON string literal, quotes included.
pub fn quote(s: &str) -> String {
    miniserde::json::to_string(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_keep_order_and_duplicates() {
        let e = object_entries(r#"{"b":1,"a":"x","b":true}"#).unwrap();
        let keys: Vec<&str> = e.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a", "b"]);
    }

    #[test]
    fn a_non_object_is_an_error() {
        assert!(object_entries("[1,2]").is_err());
        assert!(object_entries("{\"a\":").is_err());
    }
}
