//! Strict JSON for configuration: like `serde_json::Value`, but a duplicate
//! key is an error instead of silently keeping the last one, and the caller
//! gets small helpers that report problems with a JSON path.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Parses `text` as JSON, rejecting duplicate object keys. serde_json's
/// recursion limit turns deep nesting into an error, not a stack overflow.
pub fn parse(text: &str) -> Result<Value, String> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Strict::deserialize(&mut de).map_err(|e| format!("invalid JSON: {e}"))?;
    de.end().map_err(|e| format!("invalid JSON: {e}"))?;
    Ok(value.0)
}

struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut obj = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if obj.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key \"{key}\"")));
            }
            let Strict(v) = map.next_value()?;
            obj.insert(key, v);
        }
        Ok(Value::Object(obj))
    }
}

/// A problem at a JSON path (`preStop.httpGet.port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    pub path: String,
    pub message: String,
}

impl PathError {
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

/// The value as an object whose keys are all in `allowed`.
pub fn object<'v>(
    v: &'v Value,
    path: &str,
    allowed: &[&str],
) -> Result<&'v Map<String, Value>, PathError> {
    let obj = v
        .as_object()
        .ok_or_else(|| PathError::new(path, format!("must be an object, not {}", kind(v))))?;
    if let Some(unknown) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(PathError::new(
            &join(path, unknown),
            format!("unknown field (expected one of: {})", allowed.join(", ")),
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
mod tests {
    use super::*;

    #[test]
    fn rejects_duplicates_and_trailing_garbage() {
        assert!(parse(r#"{"a":1,"a":2}"#)
            .unwrap_err()
            .contains("duplicate key \"a\""));
        assert!(parse(r#"{"x":{"a":1,"a":2}}"#).is_err());
        assert!(parse(r#"{} x"#).is_err());
        assert!(parse(&"[".repeat(10_000)).is_err());
        assert_eq!(parse(r#"{"a":[1,"b",null]}"#).unwrap()["a"][1], "b");
    }

    #[test]
    fn whole_numbers() {
        let p = |s: &str| whole(&parse(s).unwrap(), "x");
        assert_eq!(p("5"), Ok(5));
        assert!(p("-1").unwrap_err().message.contains("negative"));
        assert!(p("1.5").unwrap_err().message.contains("whole"));
        assert!(p("1e30").unwrap_err().message.contains("out of range"));
        assert!(p("\"5\"").unwrap_err().message.contains("must be a number"));
    }
}
