//! Sigma value modifiers (`Field|contains|all`), as named in the
//! specification's modifier appendix (2.1.0) and by pySigma.
//!
//! This module only names them; what each one does to a value is decided in
//! [`ir::lower`](crate::ir), where every modifier is compiled away.

use std::fmt;

/// One modifier of a detection item's key.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Modifier {
    /// `contains`: the value may occur anywhere (wraps it in `*…*`).
    Contains,
    /// `startswith`: the value is a prefix (appends `*`).
    StartsWith,
    /// `endswith`: the value is a suffix (prepends `*`).
    EndsWith,
    /// `all`: the values of the item are AND-ed instead of OR-ed.
    All,
    /// `base64`: the value is replaced by its Base64 encoding.
    Base64,
    /// `base64offset`: the three Base64 encodings of the value at byte offsets 0, 1, 2.
    Base64Offset,
    /// `utf16le` / `wide`: the value is encoded as UTF-16LE (for a following Base64 modifier).
    Utf16Le,
    /// `utf16be`: the value is encoded as UTF-16BE.
    Utf16Be,
    /// `utf16`: UTF-16LE with a byte-order mark.
    Utf16,
    /// `windash`: every option dash is tried as `-`, `/`, `–`, `—` and `―`.
    Windash,
    /// `re`: the value is a regular expression.
    Re,
    /// `i` / `ignorecase`: regex flag, case-insensitive.
    ReIgnoreCase,
    /// `m` / `multiline`: regex flag, `^` and `$` match at line breaks.
    ReMultiline,
    /// `s` / `dotall`: regex flag, `.` matches a line break.
    ReDotAll,
    /// `cidr`: the value is an IPv4 or IPv6 network.
    Cidr,
    /// `lt`: numeric less than.
    Lt,
    /// `lte`: numeric less than or equal.
    Lte,
    /// `gt`: numeric greater than.
    Gt,
    /// `gte`: numeric greater than or equal.
    Gte,
    /// `exists`: the value (a boolean) says whether the field must be present.
    Exists,
    /// `expand`: `%name%` placeholders are replaced by configured values.
    Expand,
    /// `fieldref`: the value names another field of the same event.
    FieldRef,
    /// `cased`: string matching is case-sensitive.
    Cased,
    /// `neq`: the item is negated (Sigma 2.1).
    Neq,
    /// `minute`: the minute (0–59) of a timestamp field (Sigma 2.1).
    Minute,
    /// `hour`: the hour (0–23) of a timestamp field.
    Hour,
    /// `day`: the day of the month (1–31) of a timestamp field.
    Day,
    /// `week`: the ISO 8601 week (1–53) of a timestamp field.
    Week,
    /// `month`: the month (1–12) of a timestamp field.
    Month,
    /// `year`: the year of a timestamp field.
    Year,
}

/// Every modifier spelling sigmata accepts, with what it means.
const NAMES: &[(&str, Modifier)] = &[
    ("contains", Modifier::Contains),
    ("startswith", Modifier::StartsWith),
    ("endswith", Modifier::EndsWith),
    ("all", Modifier::All),
    ("base64", Modifier::Base64),
    ("base64offset", Modifier::Base64Offset),
    ("utf16le", Modifier::Utf16Le),
    ("wide", Modifier::Utf16Le),
    ("utf16be", Modifier::Utf16Be),
    ("utf16", Modifier::Utf16),
    ("windash", Modifier::Windash),
    ("re", Modifier::Re),
    ("i", Modifier::ReIgnoreCase),
    ("ignorecase", Modifier::ReIgnoreCase),
    ("m", Modifier::ReMultiline),
    ("multiline", Modifier::ReMultiline),
    ("s", Modifier::ReDotAll),
    ("dotall", Modifier::ReDotAll),
    ("cidr", Modifier::Cidr),
    ("lt", Modifier::Lt),
    ("lte", Modifier::Lte),
    ("gt", Modifier::Gt),
    ("gte", Modifier::Gte),
    ("exists", Modifier::Exists),
    ("expand", Modifier::Expand),
    ("fieldref", Modifier::FieldRef),
    ("cased", Modifier::Cased),
    ("neq", Modifier::Neq),
    ("minute", Modifier::Minute),
    ("hour", Modifier::Hour),
    ("day", Modifier::Day),
    ("week", Modifier::Week),
    ("month", Modifier::Month),
    ("year", Modifier::Year),
];

impl Modifier {
    /// Parses one modifier name. Names are case-sensitive, as in pySigma.
    pub fn from_name(name: &str) -> Option<Modifier> {
        NAMES.iter().find(|(n, _)| *n == name).map(|(_, m)| *m)
    }

    /// The canonical name of the modifier.
    pub fn name(self) -> &'static str {
        // OK: every variant has at least one entry in NAMES (tested below).
        NAMES.iter().find(|(_, m)| *m == self).map(|(n, _)| *n).unwrap_or("?")
    }

    /// The known name closest to a misspelt one, for "did you mean" hints.
    pub fn suggest(name: &str) -> Option<&'static str> {
        let lower = name.to_ascii_lowercase();
        if let Some(m) = Modifier::from_name(&lower) {
            return Some(m.name());
        }
        NAMES
            .iter()
            .map(|(n, _)| (edit_distance(&lower, n), *n))
            .filter(|(d, n)| *d <= 2 && *d < n.len())
            .min()
            .map(|(_, n)| n)
    }

    /// True for the regex flag modifiers (`i`, `m`, `s`).
    pub fn is_regex_flag(self) -> bool {
        matches!(self, Modifier::ReIgnoreCase | Modifier::ReMultiline | Modifier::ReDotAll)
    }

    /// True for the time-part modifiers of Sigma 2.1.
    pub fn is_time_part(self) -> bool {
        matches!(
            self,
            Modifier::Minute | Modifier::Hour | Modifier::Day | Modifier::Week | Modifier::Month | Modifier::Year
        )
    }

    /// True for the numeric comparisons.
    pub fn is_comparison(self) -> bool {
        matches!(self, Modifier::Lt | Modifier::Lte | Modifier::Gt | Modifier::Gte)
    }
}

impl fmt::Display for Modifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Levenshtein distance, for suggestions only (inputs are short).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips() {
        for (name, m) in NAMES {
            assert_eq!(Modifier::from_name(name), Some(*m));
            assert_eq!(Modifier::from_name(m.name()), Some(*m));
        }
    }

    #[test]
    fn suggestions_fix_typos_and_case() {
        assert_eq!(Modifier::suggest("contians"), Some("contains"));
        assert_eq!(Modifier::suggest("Contains"), Some("contains"));
        assert_eq!(Modifier::suggest("endwith"), Some("endswith"));
        assert_eq!(Modifier::suggest("frobnicate"), None);
    }
}
