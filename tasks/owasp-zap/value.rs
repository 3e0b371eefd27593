//! A compact JSON value that keeps key order, read by miniserde's parser and
//! written as JavaScript's `JSON.stringify` writes.
//!
//! miniserde's own `Value` keeps objects in a `BTreeMap` (sorted keys, a
//! B-tree node per object, an allocation per key). A ZAP report is mostly
//! small objects with the same few keys, so here an object is a boxed slice of
//! pairs in document order and every key is shared: about half the memory, and
//! the original reporter's key order comes out as it did.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::{self, Write};
use std::rc::Rc;

use miniserde::de::{Deserialize, Map, Seq, Visitor};
use miniserde::json::Number;
use miniserde::make_place;

/// An object key, shared by every object that has it.
pub type Key = Rc<str>;

/// A JSON value.
pub enum Json {
    /// JavaScript's `undefined`, which a report step may set (a rule without
    /// `source`): `JSON.stringify` leaves such a member out.
    Undefined,
    Null,
    Bool(bool),
    Num(Number),
    Str(Box<str>),
    Arr(Box<[Json]>),
    Obj(Obj),
}

/// A JSON object: its members in document order, keys unique.
#[derive(Default)]
pub struct Obj(Box<[(Key, Json)]>);

impl Obj {
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.0.iter().find(|(k, _)| &**k == key).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Json> {
        self.0.iter_mut().find(|(k, _)| &**k == key).map(|(_, v)| v)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Json)> {
        self.0.iter().map(|(k, v)| (&**k, v))
    }

    /// `obj[key] = value`: in place when the key exists, else at the end.
    pub fn set(&mut self, key: &str, value: Json) {
        if let Some(slot) = self.get_mut(key) {
            *slot = value;
            return;
        }
        let mut members = std::mem::take(&mut self.0).into_vec();
        members.push((intern(key), value));
        self.0 = members.into_boxed_slice();
    }

    /// `delete obj[key]`.
    pub fn remove(&mut self, key: &str) -> Option<Json> {
        let at = self.0.iter().position(|(k, _)| &**k == key)?;
        let mut members = std::mem::take(&mut self.0).into_vec();
        let (_, value) = members.remove(at);
        self.0 = members.into_boxed_slice();
        Some(value)
    }

    /// Takes the value of `key` out, leaving `null` in its place.
    pub fn take(&mut self, key: &str) -> Option<Json> {
        self.get_mut(key).map(|v| std::mem::replace(v, Json::Null))
    }
}

/// Why a text did not parse.
#[derive(Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Not JSON, or cut short.
    Invalid,
    /// Arrays and objects nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

/// Deeper than any report: writing and dropping recurse.
pub const MAX_DEPTH: u32 = 128;

thread_local! {
    static KEYS: RefCell<HashMap<Box<str>, Key>> = RefCell::new(HashMap::new());
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    static TOO_DEEP: Cell<bool> = const { Cell::new(false) };
}

/// How many distinct keys are shared; past that, keys are not (a report
/// has a few dozen, so only a hostile one gets there).
const MAX_SHARED_KEYS: usize = 4096;

fn intern(key: &str) -> Key {
    KEYS.with(|keys| {
        let mut keys = keys.borrow_mut();
        if let Some(k) = keys.get(key) {
            return k.clone();
        }
        let k: Key = Rc::from(key);
        if keys.len() < MAX_SHARED_KEYS {
            keys.insert(Box::from(key), k.clone());
        }
        k
    })
}

/// Parses JSON text.
pub fn parse(text: &str) -> Result<Json, ParseError> {
    DEPTH.with(|d| d.set(0));
    TOO_DEEP.with(|t| t.set(false));
    let parsed = miniserde::json::from_str::<Json>(text);
    // The key table lives only for one parse; the values keep their keys.
    KEYS.with(|keys| keys.borrow_mut().clear());
    match parsed {
        Ok(json) => Ok(json),
        Err(_) if TOO_DEEP.with(Cell::get) => Err(ParseError::TooDeep),
        Err(_) => Err(ParseError::Invalid),
    }
}

make_place!(Place);

impl Deserialize for Json {
    fn begin(out: &mut Option<Self>) -> &mut dyn Visitor {
        Place::new(out)
    }
}

fn enter() -> miniserde::Result<()> {
    let depth = DEPTH.with(|d| {
        d.set(d.get() + 1);
        d.get()
    });
    if depth > MAX_DEPTH {
        TOO_DEEP.with(|t| t.set(true));
        return Err(miniserde::Error);
    }
    Ok(())
}

fn leave() {
    DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
}

impl Visitor for Place<Json> {
    fn null(&mut self) -> miniserde::Result<()> {
        self.out = Some(Json::Null);
        Ok(())
    }

    fn boolean(&mut self, b: bool) -> miniserde::Result<()> {
        self.out = Some(Json::Bool(b));
        Ok(())
    }

    fn string(&mut self, s: &str) -> miniserde::Result<()> {
        self.out = Some(Json::Str(Box::from(s)));
        Ok(())
    }

    fn negative(&mut self, n: i64) -> miniserde::Result<()> {
        self.out = Some(Json::Num(Number::I64(n)));
        Ok(())
    }

    fn nonnegative(&mut self, n: u64) -> miniserde::Result<()> {
        self.out = Some(Json::Num(Number::U64(n)));
        Ok(())
    }

    fn float(&mut self, n: f64) -> miniserde::Result<()> {
        self.out = Some(Json::Num(Number::F64(n)));
        Ok(())
    }

    fn seq(&mut self) -> miniserde::Result<Box<dyn Seq + '_>> {
        enter()?;
        Ok(Box::new(ArrayBuilder { out: &mut self.out, items: Vec::new(), item: None }))
    }

    fn map(&mut self) -> miniserde::Result<Box<dyn Map + '_>> {
        enter()?;
        Ok(Box::new(ObjectBuilder { out: &mut self.out, members: Vec::new(), key: None, value: None }))
    }
}

struct ArrayBuilder<'a> {
    out: &'a mut Option<Json>,
    items: Vec<Json>,
    item: Option<Json>,
}

impl Seq for ArrayBuilder<'_> {
    fn element(&mut self) -> miniserde::Result<&mut dyn Visitor> {
        if let Some(item) = self.item.take() {
            self.items.push(item);
        }
        Ok(Deserialize::begin(&mut self.item))
    }

    fn finish(&mut self) -> miniserde::Result<()> {
        if let Some(item) = self.item.take() {
            self.items.push(item);
        }
        *self.out = Some(Json::Arr(std::mem::take(&mut self.items).into_boxed_slice()));
        leave();
        Ok(())
    }
}

struct ObjectBuilder<'a> {
    out: &'a mut Option<Json>,
    members: Vec<(Key, Json)>,
    key: Option<Key>,
    value: Option<Json>,
}

impl ObjectBuilder<'_> {
    fn shift(&mut self) {
        if let (Some(k), Some(v)) = (self.key.take(), self.value.take()) {
            self.members.push((k, v));
        }
    }
}

impl Map for ObjectBuilder<'_> {
    fn key(&mut self, k: &str) -> miniserde::Result<&mut dyn Visitor> {
        self.shift();
        self.key = Some(intern(k));
        Ok(Deserialize::begin(&mut self.value))
    }

    fn finish(&mut self) -> miniserde::Result<()> {
        self.shift();
        let members = dedupe(std::mem::take(&mut self.members));
        *self.out = Some(Json::Obj(Obj(members.into_boxed_slice())));
        leave();
        Ok(())
    }
}

/// `JSON.parse` keeps the last of duplicate keys, in the place of the first.
fn dedupe(mut members: Vec<(Key, Json)>) -> Vec<(Key, Json)> {
    let duplicated = if members.len() <= 16 {
        members.iter().enumerate().any(|(i, (k, _))| members[..i].iter().any(|(j, _)| j == k))
    } else {
        let mut seen = std::collections::HashSet::with_capacity(members.len());
        !members.iter().all(|(k, _)| seen.insert(k.clone()))
    };
    if !duplicated {
        return members;
    }
    let mut first: HashMap<Key, usize> = HashMap::new();
    let mut out: Vec<(Key, Json)> = Vec::with_capacity(members.len());
    for (k, v) in members.drain(..) {
        match first.get(&k) {
            Some(&at) => out[at].1 = v,
            None => {
                first.insert(k.clone(), out.len());
                out.push((k, v));
            }
        }
    }
    out
}

/// JSON as `JSON.stringify` writes it: compact, raw UTF-8, only `"`, `\` and
/// control characters escaped, numbers in JavaScript's form, and an object's
/// array-index keys ("0", "1", …) first in ascending order, as JavaScript
/// orders them.
pub fn write(out: &mut impl Write, v: &Json) -> io::Result<()> {
    match v {
        // Only in arrays, where JSON.stringify writes undefined as null.
        Json::Undefined | Json::Null => out.write_all(b"null"),
        Json::Bool(b) => out.write_all(if *b { b"true" } else { b"false" }),
        Json::Num(n) => write_number(out, n),
        Json::Str(s) => write_str(out, s),
        Json::Arr(items) => {
            out.write_all(b"[")?;
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.write_all(b",")?;
                }
                write(out, item)?;
            }
            out.write_all(b"]")
        }
        Json::Obj(obj) => {
            let mut first = true;
            out.write_all(b"{")?;
            for (key, value) in js_order(obj.iter()) {
                if matches!(value, Json::Undefined) {
                    continue;
                }
                write_key(out, key, &mut first)?;
                write(out, value)?;
            }
            out.write_all(b"}")
        }
    }
}

/// Members in the order JavaScript lists an object's own keys.
pub fn js_order<'a, I>(members: I) -> Vec<(&'a str, &'a Json)>
where
    I: Iterator<Item = (&'a str, &'a Json)>,
{
    let mut members: Vec<_> = members.collect();
    js_sort(&mut members);
    members
}

/// Sorts members into the order JavaScript lists an object's own keys:
/// array-index keys ascending, then the rest as they were.
pub fn js_sort<T>(members: &mut [(&str, T)]) {
    if members.iter().any(|(k, _)| array_index(k).is_some()) {
        members.sort_by_key(|(k, _)| array_index(k).map_or((1, 0), |i| (0, i)));
    }
}

/// The number a key stands for if JavaScript treats it as an array index.
fn array_index(key: &str) -> Option<u32> {
    if key.is_empty() || key.len() > 10 || (key.len() > 1 && key.starts_with('0')) {
        return None;
    }
    key.parse::<u32>().ok().filter(|&i| i != u32::MAX)
}

/// Writes `,"key":` (no comma before the first).
pub fn write_key(out: &mut impl Write, key: &str, first: &mut bool) -> io::Result<()> {
    if !std::mem::take(first) {
        out.write_all(b",")?;
    }
    write_str(out, key)?;
    out.write_all(b":")
}

pub fn write_str(out: &mut impl Write, s: &str) -> io::Result<()> {
    out.write_all(b"\"")?;
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.write_all(&bytes[start..i])?;
        match b {
            b'"' => out.write_all(b"\\\"")?,
            b'\\' => out.write_all(b"\\\\")?,
            b'\n' => out.write_all(b"\\n")?,
            b'\r' => out.write_all(b"\\r")?,
            b'\t' => out.write_all(b"\\t")?,
            0x08 => out.write_all(b"\\b")?,
            0x0c => out.write_all(b"\\f")?,
            _ => write!(out, "\\u{b:04x}")?,
        }
        start = i + 1;
    }
    out.write_all(&bytes[start..])?;
    out.write_all(b"\"")
}

/// A number as JavaScript prints it: a double, integers without a fraction,
/// exponents from 1e21 up and below 1e-6.
fn write_number(out: &mut impl Write, n: &Number) -> io::Result<()> {
    const EXACT: u64 = 1 << 53;
    match *n {
        Number::U64(u) if u <= EXACT => write!(out, "{u}"),
        Number::I64(i) if i.unsigned_abs() <= EXACT => write!(out, "{i}"),
        _ => out.write_all(js_number_text(as_f64(n)).as_bytes()),
    }
}

pub fn as_f64(n: &Number) -> f64 {
    match *n {
        Number::U64(u) => u as f64,
        Number::I64(i) => i as f64,
        Number::F64(f) => f,
    }
}

/// `Number.prototype.toString()` for a double (ECMA-262 Number::toString):
/// the shortest digits that round-trip, placed by the exponent.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "an f64 has at most 17 significant digits and a decimal exponent within ±324; each `as usize` is in a branch where its value is not negative"
)]
pub fn js_number_text(f: f64) -> String {
    if !f.is_finite() {
        return "null".to_owned();
    }
    if f == 0.0 {
        return "0".to_owned();
    }
    let sign = if f < 0.0 { "-" } else { "" };
    // `{:e}` gives the shortest round-trip digits: "1.2345e4".
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i32;
    // n: the position of the decimal point relative to the digits.
    let n = exp.parse::<i32>().unwrap_or(0) + 1;
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let e = n - 1;
        let e = if e >= 0 { format!("+{e}") } else { e.to_string() };
        if k == 1 { format!("{digits}e{e}") } else { format!("{}.{}e{e}", &digits[..1], &digits[1..]) }
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        let mut out = Vec::new();
        write(&mut out, &parse(text).unwrap()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn key_order_is_kept_with_index_keys_first_and_the_last_duplicate_wins_in_the_first_place() {
        assert_eq!(round_trip(r#"{"b":1,"a":2,"1":3,"0":4,"b":5}"#), r#"{"0":4,"1":3,"b":5,"a":2}"#);
    }

    #[test]
    fn numbers_and_strings_are_written_as_javascript_writes_them() {
        assert_eq!(
            round_trip(
                r#"[1.0,-0.5,1e21,1e-7,12345678901234567890,0.000001,2.5e20,9007199254740993,-9007199254740993]"#
            ),
            "[1,-0.5,1e+21,1e-7,12345678901234567000,0.000001,250000000000000000000,9007199254740992,-9007199254740992]"
        );
        assert_eq!(round_trip(r#""a/b\u0001\"\\\t é""#), r#""a/b\u0001\"\\\t é""#);
    }

    #[test]
    fn nesting_past_the_limit_is_refused_by_name() {
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert_eq!(parse(&deep).err(), Some(ParseError::TooDeep));
        assert_eq!(parse("{\"a\":").err(), Some(ParseError::Invalid));
        let ok = "[".repeat(100) + &"]".repeat(100);
        assert!(parse(&ok).is_ok());
    }
}
