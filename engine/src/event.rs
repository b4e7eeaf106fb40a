//! Events as the engine sees them.
//!
//! The engine does no I/O and imposes no event format: anything that can
//! look up a field by the name a rule uses, and list its scalar values, is an
//! [`Event`]. With the default `json` feature, `serde_json::Value` objects
//! are events.
//!
//! Semantics the engine relies on (and every implementation must keep):
//! - a field is *absent* when [`Event::field`] returns `false`; `Field: null`
//!   is true for absent fields and for [`Value::Null`];
//! - a field with several values (a JSON array) matches a test when any of
//!   its values does; a dotted name that crosses an array of objects has
//!   the values of every element that has it (see `lookup` in the JSON
//!   implementation);
//! - numbers and booleans compare with string patterns by their text
//!   (`LogonId: 0` matches the number `0` and the string `"0"`).

use std::fmt::Write;

use crate::ir::FieldId;

/// One scalar value of an event field.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// JSON `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer too large for `i64`.
    UInt(u64),
    /// Any other number.
    Float(f64),
    /// A string.
    Str(&'a str),
    /// A nested object: present, but not matched by string or number tests.
    Object,
}

impl Value<'_> {
    /// Appends the value's text (what string patterns see) to `out`.
    /// Returns `false` for values that have no text (`null`, objects).
    pub fn write_text(&self, out: &mut String) -> bool {
        match self {
            Value::Str(s) => out.push_str(s),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::UInt(u) => {
                let _ = write!(out, "{u}");
            }
            Value::Float(f) => out.push_str(&crate::front::rule::format_float(*f)),
            Value::Null | Value::Object => return false,
        }
        true
    }

    /// The value as a number, for `lt`/`gt` comparisons: JSON numbers, and
    /// strings that hold a decimal number (or a `0x` hexadecimal integer,
    /// as Windows logs write ids).
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::UInt(u) => Some(*u as f64),
            Value::Float(f) => Some(*f),
            Value::Str(s) => parse_number(s),
            _ => None,
        }
    }
}

impl Value<'_> {
    /// The value as an IP address, for `cidr` tests.
    pub fn as_ip(&self) -> Option<std::net::IpAddr> {
        match self {
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A part of the value read as a timestamp, for the Sigma 2.1 time-part
    /// modifiers. Accepts ISO 8601 / RFC 3339 forms (`2025-10-22T20:33:27Z`,
    /// `2025-10-22 20:33:27.274`, `2025-10-22`); an offset or zone is ignored,
    /// as the specification says these modifiers do no time-zone conversion.
    /// Weeks are ISO 8601 weeks (1–53).
    pub fn time_part(&self, part: crate::ir::TimePart) -> Option<i64> {
        use crate::ir::TimePart;
        let Value::Str(s) = self else { return None };
        let s = s.trim();
        // A Temporal date starts with its year: four digits, or a sign and
        // six. Text that does not is refused here, before the parser, whose
        // error allocates (evaluation does not allocate when warm).
        let (digits, rest) = match s.as_bytes() {
            [b'+' | b'-', rest @ ..] => (6, rest),
            rest => (4, rest),
        };
        if rest.len() < digits || !rest[..digits].iter().all(u8::is_ascii_digit) {
            return None;
        }
        let pieces = jiff::fmt::temporal::Pieces::parse(s).ok()?;
        let date = pieces.date();
        let time = pieces.time().unwrap_or_default();
        Some(match part {
            TimePart::Minute => i64::from(time.minute()),
            TimePart::Hour => i64::from(time.hour()),
            TimePart::Day => i64::from(date.day()),
            TimePart::Week => i64::from(date.iso_week_date().week()),
            TimePart::Month => i64::from(date.month()),
            TimePart::Year => i64::from(date.year()),
        })
    }
}

/// Parses a decimal number or a `0x` hexadecimal integer (surrounding
/// blanks allowed). Infinity and NaN are not numbers here.
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok().map(|u| u as f64);
    }
    if !t.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E')) {
        return None;
    }
    t.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// An event that rules are evaluated against.
///
/// The engine asks for each field its rules read by id *and* name: a simple
/// implementation looks the name up; an embedder with its own process
/// struct maps the engine's [`FieldId`]s to its members once (through
/// [`Engine::fields`](crate::Engine::fields)) and answers by id.
pub trait Event {
    /// Looks up field `id`, which rules call `name`, and calls `visit` with
    /// each of its values (once for a scalar, once per element for an
    /// array). Returns `false` if the event has no such field.
    fn field(&self, id: FieldId, name: &str, visit: &mut dyn FnMut(Value<'_>)) -> bool;

    /// Calls `visit` with every scalar value of the event, for keyword
    /// (field-less) searches.
    fn values(&self, visit: &mut dyn FnMut(Value<'_>));
}

impl<E: Event + ?Sized> Event for &E {
    fn field(&self, id: FieldId, name: &str, visit: &mut dyn FnMut(Value<'_>)) -> bool {
        (**self).field(id, name, visit)
    }

    fn values(&self, visit: &mut dyn FnMut(Value<'_>)) {
        (**self).values(visit)
    }
}

#[cfg(feature = "json")]
mod json {
    use super::{Event, Value};
    use crate::ir::FieldId;
    use serde_json::{Map, Value as J};

    /// Field lookup in a JSON object: calls `hit` with the value (or values)
    /// of the field a rule calls `name`, and says whether there was any.
    ///
    /// The key equal to the whole name wins; otherwise a dotted name
    /// (`process.parent.name`) walks nested objects, trying at each level
    /// the keys made of one or more name segments, the whole remaining name
    /// first and then the shorter prefixes first (so
    /// `{"process": {"parent.name": …}}` is found too). A step that reaches
    /// an array crosses it: every element that is an object (arrays nested
    /// in it are crossed too) is walked on with the rest of the name, the
    /// way Elasticsearch flattens an array of objects into multi-valued
    /// fields. The first key path (in that order) that reaches a value in
    /// any element gives the field's values: one per element that has it.
    pub(super) fn lookup<'a>(obj: &'a Map<String, J>, name: &str, hit: &mut dyn FnMut(&'a J)) -> bool {
        if let Some(v) = obj.get(name) {
            hit(v);
            return true;
        }
        if !name.contains('.') {
            return false;
        }
        // An iterative depth-first search over split points (bounded by the
        // number of dots), each step holding every object reached by the
        // same key path.
        let mut stack: Vec<(Vec<&'a Map<String, J>>, &str)> = vec![(vec![obj], name)];
        while let Some((objects, rest)) = stack.pop() {
            let mut found = false;
            for v in objects.iter().filter_map(|o| o.get(rest)) {
                hit(v);
                found = true;
            }
            if found {
                return true;
            }
            for (i, _) in rest.match_indices('.').collect::<Vec<_>>().into_iter().rev() {
                let mut inner = Vec::new();
                for v in objects.iter().filter_map(|o| o.get(&rest[..i])) {
                    objects_in(v, &mut inner);
                }
                if !inner.is_empty() {
                    stack.push((inner, &rest[i + 1..]));
                }
            }
        }
        false
    }

    /// The objects a dotted name walks on into from `v`: `v` itself, or
    /// the objects among the elements of an array (and of arrays in it).
    /// Depth is bounded by the JSON parser's recursion limit, as in `visit`.
    fn objects_in<'a>(v: &'a J, out: &mut Vec<&'a Map<String, J>>) {
        match v {
            J::Object(m) => out.push(m),
            J::Array(items) => items.iter().for_each(|i| objects_in(i, out)),
            _ => {}
        }
    }

    pub(super) fn visit(v: &J, f: &mut dyn FnMut(Value<'_>)) {
        // Arrays of arrays are flattened; depth is bounded by the JSON
        // parser's own recursion limit (128 in serde_json).
        match v {
            J::Null => f(Value::Null),
            J::Bool(b) => f(Value::Bool(*b)),
            J::Number(n) => f(match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => Value::Int(i),
                (None, Some(u)) => Value::UInt(u),
                // OK: a serde_json number is always i64, u64 or f64.
                _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            }),
            J::String(s) => f(Value::Str(s)),
            J::Array(items) => items.iter().for_each(|i| visit(i, f)),
            J::Object(_) => f(Value::Object),
        }
    }

    fn visit_all(v: &J, f: &mut dyn FnMut(Value<'_>)) {
        match v {
            J::Object(map) => map.values().for_each(|v| visit_all(v, f)),
            J::Array(items) => items.iter().for_each(|v| visit_all(v, f)),
            scalar => visit(scalar, f),
        }
    }

    /// A JSON object is an event; any other JSON value is an event with no fields.
    impl Event for J {
        fn field(&self, _id: FieldId, name: &str, f: &mut dyn FnMut(Value<'_>)) -> bool {
            let J::Object(obj) = self else { return false };
            lookup(obj, name, &mut |v| visit(v, f))
        }

        fn values(&self, f: &mut dyn FnMut(Value<'_>)) {
            visit_all(self, f)
        }
    }

    impl Event for Map<String, J> {
        fn field(&self, _id: FieldId, name: &str, f: &mut dyn FnMut(Value<'_>)) -> bool {
            lookup(self, name, &mut |v| visit(v, f))
        }

        fn values(&self, f: &mut dyn FnMut(Value<'_>)) {
            self.values().for_each(|v| visit_all(v, f))
        }
    }
}

/// A flat event of string fields, handy for tests and for callers that have
/// already extracted fields: `[("Image", "C:\\x.exe"), ("CommandLine", "x")]`.
impl Event for [(&str, &str)] {
    fn field(&self, _id: FieldId, name: &str, visit: &mut dyn FnMut(Value<'_>)) -> bool {
        let mut found = false;
        for (k, v) in self {
            if *k == name {
                visit(Value::Str(v));
                found = true;
            }
        }
        found
    }

    fn values(&self, visit: &mut dyn FnMut(Value<'_>)) {
        self.iter().for_each(|(_, v)| visit(Value::Str(v)))
    }
}

#[cfg(all(test, feature = "json"))]
mod tests {
    use super::*;

    fn values_of(e: &serde_json::Value, name: &str) -> Option<Vec<String>> {
        let mut out = Vec::new();
        let found = e.field(crate::ir::FieldTable::new().intern(name), name, &mut |v| {
            let mut s = String::new();
            if !v.write_text(&mut s) {
                s = format!("{v:?}");
            }
            out.push(s)
        });
        found.then_some(out)
    }

    #[test]
    fn dotted_names_reach_nested_and_flat_keys() {
        let e = serde_json::json!({
            "a.b": "flat",
            "x": {"y": {"z": 1}, "y.w": [true, "s"]},
            "n": null,
        });
        assert_eq!(values_of(&e, "a.b"), Some(vec!["flat".into()]));
        assert_eq!(values_of(&e, "x.y.z"), Some(vec!["1".into()]));
        assert_eq!(values_of(&e, "x.y.w"), Some(vec!["true".into(), "s".into()]));
        assert_eq!(values_of(&e, "n"), Some(vec!["Null".into()]));
        assert_eq!(values_of(&e, "missing"), None);
        assert_eq!(values_of(&e, "x.missing"), None);
    }

    #[test]
    fn time_parts_of_common_formats() {
        use crate::ir::TimePart::*;
        let v = Value::Str("2025-10-22 20:33:27.274");
        assert_eq!(v.time_part(Hour), Some(20));
        assert_eq!(v.time_part(Minute), Some(33));
        assert_eq!(v.time_part(Week), Some(43));
        let z = Value::Str("2024-12-30T23:59:00+05:00");
        assert_eq!((z.time_part(Year), z.time_part(Week), z.time_part(Hour)), (Some(2024), Some(1), Some(23)));
        assert_eq!(Value::Str("2025-01-05").time_part(Day), Some(5));
        assert_eq!(Value::Str("yesterday").time_part(Day), None);
    }

    #[test]
    fn numbers_parse_for_comparisons() {
        assert_eq!(Value::Str(" 42 ").as_number(), Some(42.0));
        assert_eq!(Value::Str("0x10").as_number(), Some(16.0));
        assert_eq!(Value::Str("1e3").as_number(), Some(1000.0));
        assert_eq!(Value::Str("inf").as_number(), None);
        assert_eq!(Value::Str("12abc").as_number(), None);
        assert_eq!(Value::Bool(true).as_number(), None);
    }
}
