//! Strict JSON for configuration, read by hookinit's own reader: a duplicate
//! key is an error instead of silently keeping the last one, nesting deeper
//! than 127 is an error instead of a stack overflow, and the caller gets small
//! helpers that report problems with a JSON path.
//!
//! The reader replaced serde_json (README, "Size"). It follows serde_json 1.0
//! step by step, so that what it accepts, what it rejects and where it says
//! an error is stay as they were: the same texts (`expected value at line 1
//! column 5`), a position by the same rule (the byte last read, or for a
//! "peek" error the byte looked at). `json_tests.rs` holds it to serde_json (a
//! dev-dependency) on generated input. Recursive descent over the bytes: one
//! allocation per string, array and object the configuration holds, plus one
//! scratch list of key positions. Where it differs, in input no configuration
//! has: a float's value may differ from serde_json's by an ulp (neither rounds
//! exactly beyond 15 digits), while what is out of range is decided exactly.

use crate::spec::json_value as value;
pub use crate::spec::json_value::{Map, Value};
use std::fmt;

/// serde_json's recursion limit: the 128th nested array or object is an error.
const DEPTH: u8 = 128;
/// Up to this many keys an object checks each new key against the others; a
/// larger one sorts its keys once (a 1 MiB file can hold 100,000 keys).
const SMALL: usize = 16;

const EOF_LIST: &str = "EOF while parsing a list";
const EOF_OBJECT: &str = "EOF while parsing an object";
const EOF_STRING: &str = "EOF while parsing a string";
const EOF_VALUE: &str = "EOF while parsing a value";
const EXPECTED_COLON: &str = "expected `:`";
const EXPECTED_LIST: &str = "expected `,` or `]`";
const EXPECTED_OBJECT: &str = "expected `,` or `}`";
const EXPECTED_IDENT: &str = "expected ident";
const EXPECTED_VALUE: &str = "expected value";
const INVALID_ESCAPE: &str = "invalid escape";
const INVALID_NUMBER: &str = "invalid number";
const OUT_OF_RANGE: &str = "number out of range";
const CONTROL: &str = "control character (\\u0000-\\u001F) found while parsing a string";
const KEY_STRING: &str = "key must be a string";
const LONE_SURROGATE: &str = "lone leading surrogate in hex escape";
const TRAILING_COMMA: &str = "trailing comma";
const TRAILING: &str = "trailing characters";
const HEX_END: &str = "unexpected end of hex escape";
const RECURSION: &str = "recursion limit exceeded";

/// What went wrong, and the index whose line and column the message gives.
struct Error {
    what: What,
    at: usize,
}

enum What {
    Syntax(&'static str),
    Duplicate(String),
}

type R<T> = Result<T, Error>;

/// Parses `text` as JSON, rejecting duplicate object keys and nesting deeper
/// than 127 arrays and objects (serde_json's limit).
pub fn parse(text: &str) -> Result<Value, String> {
    let mut r = Reader {
        text,
        s: text.as_bytes(),
        i: 0,
        depth: DEPTH,
        keys: Vec::new(),
    };
    let value = r.value().and_then(|v| match r.blanks() {
        Some(_) => Err(r.peek_error(TRAILING)),
        None => Ok(v),
    });
    value.map_err(|e| {
        let (line, column) = position(r.s, e.at);
        match e.what {
            What::Syntax(m) => format!("invalid JSON: {m} at line {line} column {column}"),
            What::Duplicate(k) => {
                format!("invalid JSON: duplicate key \"{k}\" at line {line} column {column}")
            }
        }
    })
}

/// 1-based line, and the column as serde_json counts it: bytes since the
/// line's start, so the byte at `at - 1` is the one named.
fn position(s: &[u8], at: usize) -> (usize, usize) {
    let before = &s[..at.min(s.len())];
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |n| n + 1);
    let line = 1 + before[..start].iter().filter(|&&b| b == b'\n').count();
    (line, before.len() - start)
}

struct Reader<'a> {
    text: &'a str,
    s: &'a [u8],
    i: usize,
    /// Arrays and objects still allowed to open.
    depth: u8,
    /// For each key of the objects being read: where a duplicate of it is
    /// reported (after the key and the blanks after it, as serde_json did).
    keys: Vec<usize>,
}

impl Reader<'_> {
    /// An error at the byte last read.
    fn error(&self, m: &'static str) -> Error {
        Error {
            what: What::Syntax(m),
            at: self.i,
        }
    }

    /// An error at the byte looked at but not read.
    fn peek_error(&self, m: &'static str) -> Error {
        Error {
            what: What::Syntax(m),
            at: (self.i + 1).min(self.s.len()),
        }
    }

    // Called for every byte: kept out of a call even at opt-level "z".
    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.i += 1;
        Some(b)
    }

    /// Skips blanks; the byte after them.
    fn blanks(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.i += 1;
        }
        self.peek()
    }

    fn value(&mut self) -> R<Value> {
        let Some(b) = self.blanks() else {
            return Err(self.peek_error(EOF_VALUE));
        };
        match b {
            b'n' => self.word(b"null", Value::Null),
            b't' => self.word(b"true", Value::Bool(true)),
            b'f' => self.word(b"false", Value::Bool(false)),
            b'-' | b'0'..=b'9' => self.number(),
            b'"' => {
                self.i += 1;
                self.string().map(Value::String)
            }
            b'[' | b'{' => {
                self.depth -= 1;
                if self.depth == 0 {
                    return Err(self.peek_error(RECURSION));
                }
                self.i += 1;
                let v = if b == b'[' {
                    self.array()
                } else {
                    self.object()
                };
                self.depth += 1;
                v
            }
            _ => Err(self.peek_error(EXPECTED_VALUE)),
        }
    }

    fn word(&mut self, word: &[u8], v: Value) -> R<Value> {
        self.i += 1;
        for &want in &word[1..] {
            match self.next() {
                None => return Err(self.error(EOF_VALUE)),
                Some(b) if b != want => return Err(self.error(EXPECTED_IDENT)),
                Some(_) => {}
            }
        }
        Ok(v)
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> R<Value> {
        let start = self.i;
        let negative = self.peek() == Some(b'-');
        self.i += usize::from(negative);
        match self.next() {
            None => return Err(self.error(EOF_VALUE)),
            Some(b'0') => {
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.peek_error(INVALID_NUMBER));
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            Some(_) => return Err(self.error(INVALID_NUMBER)),
        }
        let int_end = self.i;
        if self.peek() == Some(b'.') {
            self.i += 1;
            let first = self.i;
            self.digits();
            if self.i == first {
                return Err(match self.peek() {
                    Some(_) => self.peek_error(INVALID_NUMBER),
                    None => self.peek_error(EOF_VALUE),
                });
            }
        }
        let mantissa_end = self.i;
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            let up = self.peek() != Some(b'-');
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            match self.next() {
                None => return Err(self.error(EOF_VALUE)),
                Some(d @ b'0'..=b'9') => {
                    // serde_json gives up on a positive exponent past i32::MAX
                    // of a non-zero number where it reads that digit.
                    let mut exp = u64::from(d - b'0');
                    while let Some(d @ b'0'..=b'9') = self.peek() {
                        self.i += 1;
                        exp = exp * 10 + u64::from(d - b'0');
                        if exp > i32::MAX as u64 {
                            let mantissa = &self.s[start..mantissa_end];
                            if up && mantissa.iter().any(|b| matches!(b, b'1'..=b'9')) {
                                return Err(self.error(OUT_OF_RANGE));
                            }
                            self.digits();
                        }
                    }
                }
                Some(_) => return Err(self.error(INVALID_NUMBER)),
            }
        }
        let text = &self.text[start..self.i];
        if self.i == int_end {
            let digits = &self.s[start + usize::from(negative)..int_end];
            let whole = digits.iter().try_fold(0u64, |n, d| {
                n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
            });
            match (whole, negative) {
                (Some(n), false) => return Ok(value::number_pos(n)),
                // serde_json: `-0` is the float -0.0, and below i64::MIN a float.
                (Some(n), true) if n != 0 && n <= 1 << 63 => {
                    return Ok(value::number_neg((n as i64).wrapping_neg()))
                }
                _ => {}
            }
        }
        match to_f64(text) {
            Some(f) => Ok(value::number_float(f, text)),
            None => Err(self.error(OUT_OF_RANGE)),
        }
    }

    /// After the opening quote.
    fn string(&mut self) -> R<String> {
        let mut out = String::new();
        let mut start = self.i;
        loop {
            let rest = &self.s[self.i..];
            self.i += rest
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .unwrap_or(rest.len());
            let Some(b) = self.peek() else {
                return Err(self.error(EOF_STRING));
            };
            // Quotes and backslashes are ASCII: the slices end on characters.
            let run = &self.text[start..self.i];
            self.i += 1;
            match b {
                b'"' if out.is_empty() => return Ok(run.to_string()),
                b'"' => {
                    out.push_str(run);
                    return Ok(out);
                }
                b'\\' => {
                    out.push_str(run);
                    let c = self.escape()?;
                    out.push(c);
                    start = self.i;
                }
                _ => return Err(self.error(CONTROL)),
            }
        }
    }

    /// After the backslash.
    fn escape(&mut self) -> R<char> {
        let Some(b) = self.next() else {
            return Err(self.error(EOF_STRING));
        };
        Ok(match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\x08',
            b'f' => '\x0c',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode(),
            _ => return Err(self.error(INVALID_ESCAPE)),
        })
    }

    /// After `\u`: a character, or a UTF-16 surrogate pair of two escapes.
    fn unicode(&mut self) -> R<char> {
        let n = self.hex4()?;
        let code = match n {
            0xDC00..=0xDFFF => return Err(self.error(LONE_SURROGATE)),
            0xD800..=0xDBFF => {
                for want in [b'\\', b'u'] {
                    match self.peek() {
                        None => return Err(self.error(EOF_STRING)),
                        Some(b) => {
                            self.i += 1;
                            if b != want {
                                return Err(self.error(HEX_END));
                            }
                        }
                    }
                }
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(self.error(LONE_SURROGATE));
                }
                0x1_0000 + ((n - 0xD800) << 10 | (low - 0xDC00))
            }
            _ => n,
        };
        // Never the replacement: surrogates are handled above.
        Ok(char::from_u32(code).unwrap_or('\u{fffd}'))
    }

    fn hex4(&mut self) -> R<u32> {
        let Some(digits) = self.s.get(self.i..self.i + 4) else {
            self.i = self.s.len();
            return Err(self.error(EOF_STRING));
        };
        self.i += 4;
        digits
            .iter()
            .try_fold(0, |n, &d| Some(n << 4 | (d as char).to_digit(16)?))
            .ok_or_else(|| self.error(INVALID_ESCAPE))
    }

    /// After the `[`.
    fn array(&mut self) -> R<Value> {
        let mut items = Vec::new();
        loop {
            let Some(b) = self.blanks() else {
                return Err(self.peek_error(EOF_LIST));
            };
            if b == b']' {
                self.i += 1;
                return Ok(Value::Array(items));
            }
            if !items.is_empty() {
                if b != b',' {
                    return Err(self.peek_error(EXPECTED_LIST));
                }
                self.i += 1;
                match self.blanks() {
                    Some(b']') => return Err(self.peek_error(TRAILING_COMMA)),
                    Some(_) => {}
                    None => return Err(self.peek_error(EOF_VALUE)),
                }
            }
            items.push(self.value()?);
        }
    }

    /// After the `{`.
    fn object(&mut self) -> R<Value> {
        let base = self.keys.len();
        let mut entries = Vec::new();
        let read = self.entries(&mut entries);
        // A duplicate comes before any later error, as serde_json checked
        // each key as it read it; a small object has checked already.
        let read = read.and_then(|()| self.duplicate(&entries, base).map_or(Ok(()), Err));
        let read = read.map_err(|e| self.duplicate(&entries, base).unwrap_or(e));
        self.keys.truncate(base);
        read.map(|()| value::map(entries))
    }

    fn entries(&mut self, entries: &mut Vec<(String, Value)>) -> R<()> {
        loop {
            let Some(b) = self.blanks() else {
                return Err(self.peek_error(EOF_OBJECT));
            };
            if b == b'}' {
                self.i += 1;
                return Ok(());
            }
            if entries.is_empty() {
                if b != b'"' {
                    return Err(self.peek_error(KEY_STRING));
                }
            } else {
                if b != b',' {
                    return Err(self.peek_error(EXPECTED_OBJECT));
                }
                self.i += 1;
                match self.blanks() {
                    Some(b'"') => {}
                    Some(b'}') => return Err(self.peek_error(TRAILING_COMMA)),
                    Some(_) => return Err(self.peek_error(KEY_STRING)),
                    None => return Err(self.peek_error(EOF_VALUE)),
                }
            }
            self.i += 1;
            let key = self.string()?;
            let colon = self.blanks();
            if entries.len() < SMALL && entries.iter().any(|(k, _)| *k == key) {
                return Err(Error {
                    what: What::Duplicate(key),
                    at: self.i,
                });
            }
            self.keys.push(self.i);
            entries.push((key, Value::Null));
            match colon {
                Some(b':') => self.i += 1,
                Some(_) => return Err(self.peek_error(EXPECTED_COLON)),
                None => return Err(self.peek_error(EOF_OBJECT)),
            }
            let value = self.value()?;
            if let Some(last) = entries.last_mut() {
                last.1 = value;
            }
        }
    }

    /// In an object of more than [`SMALL`] keys, the first key (in the text)
    /// that repeats an earlier one.
    fn duplicate(&self, entries: &[(String, Value)], base: usize) -> Option<Error> {
        if entries.len() <= SMALL {
            return None;
        }
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_unstable_by(|&a, &b| entries[a].0.cmp(&entries[b].0).then(a.cmp(&b)));
        let repeat = order
            .windows(2)
            .filter(|w| entries[w[0]].0 == entries[w[1]].0)
            .map(|w| w[1])
            .min()?;
        Some(Error {
            what: What::Duplicate(entries[repeat].0.clone()),
            at: self.keys[base + repeat],
        })
    }
}

/// The largest decimal that still rounds to a finite f64 is just below this
/// (2^1024 - 2^970, the midpoint between f64::MAX and 2^1024), without its
/// decimal point: 1.797...e308.
const OVERFLOW: &[u8] = b"179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792";

/// A JSON number's value; None beyond f64's range. Exact (correctly rounded)
/// for up to 15 significant digits with an exponent within ±22, which covers
/// any duration or count a configuration holds; otherwise within a few ulp.
/// Whether it is in range is decided on the digits, exactly.
fn to_f64(text: &str) -> Option<f64> {
    let b = text.as_bytes();
    let negative = b[0] == b'-';
    let mut i = usize::from(negative);
    // The significant digits (without leading zeros, nor the point) are
    // b[first..end] less a point; the value is 0.d1d2d3... * 10^magnitude.
    let mut magnitude = 0i64;
    let mut first = None;
    let mut point = false;
    while let Some(&c) = b.get(i) {
        match c {
            b'.' => point = true,
            b'0' if first.is_none() => magnitude -= i64::from(point),
            b'0'..=b'9' => {
                first.get_or_insert(i);
                magnitude += i64::from(!point);
            }
            _ => break,
        }
        i += 1;
    }
    let end = i;
    // The exponent, saturated: beyond ±100,000 only its sign matters.
    let mut exp = 0i64;
    let exp_negative = b.get(i + 1) == Some(&b'-');
    for &d in b.get(i + 1..).unwrap_or_default() {
        if d.is_ascii_digit() {
            exp = (exp * 10 + i64::from(d - b'0')).min(100_000);
        }
    }
    magnitude += if exp_negative { -exp } else { exp };
    let sign = if negative { -1.0 } else { 1.0 };
    let Some(first) = first else {
        return Some(sign * 0.0);
    };
    let digits = b[first..end].iter().filter(|&&d| d != b'.');
    if magnitude > 309 {
        return None;
    }
    if magnitude == 309 {
        // Digit by digit against the overflow point, zeros after the last.
        let mut over = OVERFLOW.iter();
        let mut ours = digits.clone();
        let beyond = loop {
            match (ours.next().copied().unwrap_or(b'0'), over.next()) {
                (_, None) => break true,
                (d, Some(&o)) if d != o => break d > o,
                _ => {}
            }
        };
        if beyond {
            return None;
        }
    }
    if magnitude < -400 {
        return Some(sign * 0.0);
    }
    // Up to 19 significant digits in a u64, the rest only in the scale.
    let mut significand = 0u64;
    let mut kept = 0i64;
    for &d in digits.take(19) {
        significand = significand * 10 + u64::from(d - b'0');
        kept += 1;
    }
    let scale = magnitude - kept;
    let mut f = significand as f64;
    if scale >= 0 {
        f *= 10f64.powi(scale as i32);
    } else if scale < -300 {
        f = f / 1e300 / 10f64.powi((-scale - 300) as i32);
    } else {
        f /= 10f64.powi(-scale as i32);
    }
    // Below the overflow point (checked above), an inexact product past the
    // largest float is the largest float.
    Some(sign * f.min(f64::MAX))
}

/// A problem at a JSON path (`preStop.httpGet.port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    pub path: String,
    pub message: String,
}

impl PathError {
    /// Not inlined: one copy per message type, not one per caller (~60).
    #[inline(never)]
    pub fn new(path: &str, message: impl Into<String>) -> Self {
        PathError {
            path: path.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// `parent.child`, or `child` at the top.
pub fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}.{child}")
    }
}

/// Short description of a value's kind, for messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The value as an object whose keys are all in `allowed`. Of several unknown
/// keys, the first in the text is named.
pub fn object<'v>(v: &'v Value, path: &str, allowed: &[&str]) -> Result<&'v Map, PathError> {
    let obj = v
        .as_object()
        .ok_or_else(|| PathError::new(path, format!("must be an object, not {}", kind(v))))?;
    if let Some(unknown) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(PathError::new(
            &join(path, unknown),
            format!(
                "unknown field (expected one of: {})",
                crate::os::text::join(allowed, ", ")
            ),
        ));
    }
    Ok(obj)
}

pub fn string<'v>(v: &'v Value, path: &str) -> Result<&'v str, PathError> {
    v.as_str()
        .ok_or_else(|| PathError::new(path, format!("must be a string, not {}", kind(v))))
}

/// A non-negative whole number.
pub fn whole(v: &Value, path: &str) -> Result<u64, PathError> {
    match v {
        Value::Number(n) => n.as_u64().ok_or_else(|| {
            if n.as_i64().is_some_and(|i| i < 0) {
                PathError::new(path, format!("{n} must not be negative"))
            } else if n.is_f64() && n.as_f64().is_some_and(|f| f.fract() != 0.0) {
                PathError::new(path, format!("{n} must be a whole number"))
            } else {
                PathError::new(path, format!("{n} is out of range"))
            }
        }),
        other => Err(PathError::new(
            path,
            format!("must be a number, not {}", kind(other)),
        )),
    }
}

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;
