//! The reader against serde_json (the parser it replaced, a dev-dependency
//! here): the same accept/reject, the same error text and position, the same
//! value, on hand-picked edge cases and on generated input.

use super::*;
use serde::de::{self as de, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// The former `json::parse`: serde_json with duplicate keys rejected.
fn oracle(text: &str) -> Result<serde_json::Value, String> {
    struct Strict(serde_json::Value);
    impl<'de> Deserialize<'de> for Strict {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(V).map(Strict)
        }
    }
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = serde_json::Value;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
            Ok(v.into())
        }
        fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
            Ok(v.into())
        }
        fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
            Ok(v.into())
        }
        fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
            Ok(v.into())
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(v.into())
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(serde_json::Value::Null)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut items = Vec::new();
            while let Some(Strict(v)) = seq.next_element()? {
                items.push(v);
            }
            Ok(serde_json::Value::Array(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut obj = serde_json::Map::new();
            while let Some(key) = map.next_key::<String>()? {
                if obj.contains_key(&key) {
                    return Err(de::Error::custom(format_args!("duplicate key \"{key}\"")));
                }
                let Strict(v) = map.next_value()?;
                obj.insert(key, v);
            }
            Ok(serde_json::Value::Object(obj))
        }
    }
    let mut d = serde_json::Deserializer::from_str(text);
    let v = Strict::deserialize(&mut d).map_err(|e| format!("invalid JSON: {e}"))?;
    d.end().map_err(|e| format!("invalid JSON: {e}"))?;
    Ok(v.0)
}

/// The same value; floats within a few ulp (serde_json does not round exactly
/// either), object keys in any order.
fn same(ours: &Value, theirs: &serde_json::Value) -> bool {
    use serde_json::Value as S;
    match (ours, theirs) {
        (Value::Null, S::Null) => true,
        (Value::Bool(a), S::Bool(b)) => a == b,
        (Value::String(a), S::String(b)) => a == b,
        (Value::Number(a), S::Number(b)) => {
            if a.is_f64() != b.is_f64() {
                return false;
            }
            match (a.as_f64(), b.as_f64()) {
                _ if !a.is_f64() => a.as_u64() == b.as_u64() && a.as_i64() == b.as_i64(),
                (Some(x), Some(y)) => {
                    x == y
                        || ((x - y) / y).abs() < 1e-14
                            && x.is_sign_negative() == y.is_sign_negative()
                }
                _ => false,
            }
        }
        (Value::Array(a), S::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Value::Object(a), S::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same(v, w)))
        }
        _ => false,
    }
}

fn check(text: &str) {
    match (parse(text), oracle(text)) {
        (Ok(a), Ok(b)) => assert!(same(&a, &b), "{text:?}: {a:?} vs {b:?}"),
        (Err(a), Err(b)) => assert_eq!(a, b, "{text:?}"),
        (a, b) => panic!("{text:?}: ours {a:?}, serde_json {b:?}"),
    }
}

#[test]
fn rejects_duplicates_and_trailing_garbage() {
    assert_eq!(
        parse(r#"{"a":1,"a":2}"#).unwrap_err(),
        "invalid JSON: duplicate key \"a\" at line 1 column 10"
    );
    assert!(parse(r#"{"x":{"a":1,"a":2}}"#).is_err());
    assert_eq!(
        parse(r#"{} x"#).unwrap_err(),
        "invalid JSON: trailing characters at line 1 column 4"
    );
    assert_eq!(
        parse(&"[".repeat(10_000)).unwrap_err(),
        "invalid JSON: recursion limit exceeded at line 1 column 128"
    );
    let v = parse(r#"{"a":[1,"b",null]}"#).unwrap();
    let a = v
        .as_object()
        .and_then(|o| o.get("a"))
        .and_then(Value::as_array);
    assert_eq!(a.and_then(|a| a[1].as_str()), Some("b"));
}

#[test]
fn whole_numbers() {
    let p = |s: &str| whole(&parse(s).unwrap(), "x");
    assert_eq!(p("5"), Ok(5));
    assert_eq!(p("-1").unwrap_err().message, "-1 must not be negative");
    assert_eq!(p("1.5").unwrap_err().message, "1.5 must be a whole number");
    assert_eq!(p("1e30").unwrap_err().message, "1e30 is out of range");
    assert!(p("\"5\"").unwrap_err().message.contains("must be a number"));
}

#[test]
fn writes_values_back_as_compact_json_in_text_order() {
    let text = r#" { "b" : [1, -2, 2.50, true, null], "a" : "q\"\\\n\u0001é" } "#;
    assert_eq!(
        parse(text).unwrap().to_string(),
        r#"{"b":[1,-2,2.50,true,null],"a":"q\"\\\n\u0001é"}"#
    );
}

#[test]
fn unknown_fields_name_the_first_in_the_text() {
    let v = parse(r#"{"z":1,"b":2,"ok":3}"#).unwrap();
    assert_eq!(object(&v, "p", &["ok"]).unwrap_err().path, "p.z");
}

#[test]
fn numbers_at_the_edges_of_range_agree_with_serde_json() {
    for t in [
        "0",
        "-0",
        "-0.0",
        "0e0",
        "1E+2",
        "1e-2",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "-9223372036854775809",
        "1.7976931348623157e308",
        "1.7976931348623159e308",
        "17976931348623157e292",
        "-1.7976931348623157e308",
        "1e308",
        "1e309",
        "1e400",
        "-1e400",
        "0e400",
        "1e-400",
        "4.9e-324",
        "2.2250738585072014e-308",
        "0.1",
        "2.5",
        "1.0000000000000001",
        "123456789012345678901234567890",
        "1e99999999999999999999",
        "0.000000000000000000001e21",
        "01",
        "1.",
        "1.e1",
        ".5",
        "-",
        "-a",
        "1e",
        "1e+",
        "1ea",
        "+1",
        "1.5e",
        "00",
    ] {
        check(t);
        check(&format!("[{t}]"));
        check(&format!("{{\"k\": {t}}}"));
    }
}

#[test]
fn rounds_to_the_largest_float_where_serde_json_overflowed() {
    // 1.7976931348623158e308 is below the midpoint between f64::MAX and
    // 2^1024: it rounds to f64::MAX (Go's strconv agrees); serde_json's
    // inexact multiplication overflowed.
    let t = "1.7976931348623158e308";
    assert!(oracle(t).is_err());
    let v = parse(t).unwrap();
    assert_eq!(v.as_object(), None);
    assert!(matches!(&v, Value::Number(n) if n.as_f64() == Some(f64::MAX)));
    assert!(parse("1.797693134862315807937289714053034150799341327100378269361737789804449682927647509466490179775872070963302864166928879109465555478519404026306574886715058206819089020007083836762738548458177115317644757302700698555713669596228429148198608349364752927190741684443655107043427115596995080930428801779041744977919999e308").is_ok());
    assert!(parse("1.7976931348623158079372897140530341507993413271003782693617377898044496829276475094664901797758720709633028641669288791094655554785194040263065748867150582068190890200070838367627385484581771153176447573027006985557136695962284291481986083493647529271907416844436551070434271155969950809304288017790417449792e308").is_err());
}

#[test]
fn syntax_errors_read_as_serde_jsons() {
    for t in [
        "",
        " ",
        "\n\n  x",
        "nul",
        "nulx",
        "tru",
        "fals",
        "[",
        "[1",
        "[1,",
        "[1,]",
        "[1 2]",
        "{",
        "{\"a\"",
        "{\"a\":",
        "{\"a\":1",
        "{\"a\":1,",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{1:2}",
        "{,}",
        "{\"a\":1 \"b\":2}",
        "\"abc",
        "\"a\\",
        "\"a\\x\"",
        "\"\\u12\"",
        "\"\\u12",
        "\"\\uzzzz\"",
        "\"\\ud800\"",
        "\"\\ud800\\n\"",
        "\"\\ud800\\u0041\"",
        "\"\\udc00\"",
        "\"\\ud83d\\ude00\"",
        "\"\\ud800",
        "\"\\ud800\\",
        "\"tab\there\"",
        "\"\u{7f}\"",
        "[1]\n x",
        "{\"a\":1}\r\n,",
        "\"\\u00e9\\/\\b\\f\\r\\t\"",
        "[[[]]]  ",
        "{\"a\":{\"a\":{}}}",
        "{\"a\" :1, \"a\" :2}",
        "{\"a\":1,\n \"a\"\n :2}",
        "[\"a\",\"a\"]",
        "{\"a\":[{\"b\":1,\"b\":2}],\"a\":1}",
    ] {
        check(t);
    }
    // The depth limit exactly: 127 levels are fine, 128 are not.
    for n in [126, 127, 128, 129] {
        check(&format!("{}{}", "[".repeat(n), "]".repeat(n)));
        check(&format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n)));
    }
}

#[test]
fn duplicates_in_large_objects_are_found_and_named_as_serde_json_does() {
    let keys = |n: usize| {
        (0..n)
            .map(|i| format!("\"k{}\":{i}", i % 100))
            .collect::<Vec<_>>()
    };
    for n in [16, 17, 40, 101, 150] {
        let k = keys(n);
        check(&format!("{{{}}}", k.join(",")));
        // A repeat of key 3 at the end, and then a syntax error after it.
        check(&format!("{{{},\"k3\":0}}", k.join(",")));
        check(&format!("{{{},\"k3\":0, x}}", k.join(",")));
        check(&format!("{{{},\"k3\":[1,}}", k.join(",")));
    }
    // 100,000 distinct keys (a 1 MiB config file): sorted once, about a
    // second in a debug build on a loaded machine; compared pairwise (5e9
    // comparisons) it would take minutes.
    let big = format!(
        "{{{}}}",
        (0..100_000)
            .map(|i| format!("\"{i}\":0"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let t = std::time::Instant::now();
    assert_eq!(
        parse(&big).unwrap().as_object().map(Map::len),
        Some(100_000)
    );
    assert!(t.elapsed().as_secs_f64() < 20.0, "{:?}", t.elapsed());
}

/// xorshift64*, seeded: a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SEEDS: &[&str] = &[
    r#"{"postStart":{"exec":{"command":["true","a b"]}},"preStop":{"httpGet":{"port":9,"path":"/x","httpHeaders":[{"name":"X","value":"y"}]}},"stopSignal":"SIGQUIT"}"#,
    r#"{"exec":{"command":["true"]},"periodSeconds":5,"failureThreshold":5,"timeoutSeconds":2.5}"#,
    r#"{"terminationGracePeriodSeconds": 30, "readyFile": "/tmp/r\u00e9", "stopOn": ["TERM", 15], "x": [null, false, -0.5e-3]}"#,
    "[\"\\ud83d\\ude00\", \"\\n\\t\\\"\", {}, [], [[1]], 1e2, -12345678901234567890]",
];

/// Bytes that matter to a JSON reader.
const PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\\",
    "\\u",
    "\\ud800",
    "\\udc00",
    "0",
    "-",
    ".",
    "e",
    "E",
    "+",
    "1",
    "9",
    " ",
    "\n",
    "\t",
    "\u{1}",
    "\u{7f}",
    "é",
    "null",
    "tru",
    "\"a\"",
    "\"a\":1",
    "1e400",
    "99999999999999999999",
];

/// Mutated configurations, nearly valid: every branch of the reader, each
/// checked against serde_json byte for byte.
#[test]
fn agrees_with_serde_json_on_mutated_input() {
    let mut rng = Rng(0x5EED_0000_1234_ABCD);
    for case in 0..40_000 {
        let mut text = SEEDS[rng.below(SEEDS.len())].to_string();
        for _ in 0..1 + rng.below(3) {
            let mut at = rng.below(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let mut end = (at + rng.below(4)).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            match rng.below(3) {
                0 => text.insert_str(at, PIECES[rng.below(PIECES.len())]),
                1 => text.replace_range(at..end, ""),
                _ => text.replace_range(at..end, PIECES[rng.below(PIECES.len())]),
            }
        }
        if case % 7 == 0 {
            text.truncate(text.floor_char_boundary(rng.below(text.len() + 1)));
        }
        check(&text);
    }
}
