//! Case folding for case-insensitive matching.
//!
//! Sigma matches strings case-insensitively. SigmaHQ has values in Cyrillic
//! and other cased scripts (`Администратор`, `\СИСТЕМА`, `Järjestelmänvalvoja`),
//! so ASCII folding is not enough. We use Unicode *simple* case folding, the
//! same relation `regex-syntax` uses for `(?i)`: two characters are equal when
//! they are in the same simple case-folding orbit (`k`, `K` and the Kelvin
//! sign `K` are one orbit; `ſ`, `s`, `S` another). Simple folding maps one
//! character to one character, so `?` (exactly one character) keeps its
//! meaning on folded text.
//!
//! [`fold_char`] maps every character to one canonical member of its orbit:
//! the ASCII lowercase letter if the orbit has an ASCII member (so that
//! folding ASCII text is plain `to_ascii_lowercase`), otherwise its smallest
//! lowercase member (or smallest member, for orbits without one), so folded
//! text reads as lowercase. The table is derived once from `regex-syntax`'s own folding
//! data rather than written by hand, so the engine and the regex engines can
//! never disagree about which characters are equal.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use regex_syntax::hir::{Class, ClassUnicode, ClassUnicodeRange, HirKind};

fn table() -> &'static HashMap<char, char> {
    static TABLE: OnceLock<HashMap<char, char>> = OnceLock::new();
    TABLE.get_or_init(build_table)
}

fn build_table() -> HashMap<char, char> {
    let mut map = HashMap::new();
    // Every character that takes part in case mapping; the orbits of these
    // characters cover every character with a non-trivial simple fold.
    // OK: this fixed pattern always parses to a Unicode class (tested below).
    let hir = regex_syntax::Parser::new().parse(r"\p{Changes_When_Casemapped}").expect("valid property");
    let HirKind::Class(Class::Unicode(cased)) = hir.kind() else {
        return map;
    };
    for range in cased.ranges() {
        for c in range.start()..=range.end() {
            if c.is_ascii() || map.contains_key(&c) {
                continue;
            }
            let mut orbit = ClassUnicode::new([ClassUnicodeRange::new(c, c)]);
            orbit.case_fold_simple();
            let members: Vec<char> = orbit.ranges().iter().flat_map(|r| r.start()..=r.end()).collect();
            let canonical = members
                .iter()
                .find(|m| m.is_ascii())
                .map(|m| m.to_ascii_lowercase())
                .or_else(|| members.iter().filter(|m| m.is_lowercase()).min().copied())
                .or_else(|| members.iter().min().copied())
                .unwrap_or(c);
            for m in members {
                if !m.is_ascii() && m != canonical {
                    map.insert(m, canonical);
                }
            }
        }
    }
    map
}

/// The canonical member of `c`'s simple case-folding orbit.
#[inline]
pub fn fold_char(c: char) -> char {
    if c.is_ascii() { c.to_ascii_lowercase() } else { table().get(&c).copied().unwrap_or(c) }
}

/// Folds a string character by character. Borrows when nothing changes.
pub fn fold_str(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        if s.bytes().any(|b| b.is_ascii_uppercase()) { Cow::Owned(s.to_ascii_lowercase()) } else { Cow::Borrowed(s) }
    } else if s.chars().all(|c| fold_char(c) == c) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.chars().map(fold_char).collect())
    }
}

/// Folds `s` into `out` (cleared first), reusing its allocation.
pub fn fold_into(s: &str, out: &mut String) {
    out.clear();
    if s.is_ascii() {
        out.push_str(s);
        out.make_ascii_lowercase();
    } else {
        out.extend(s.chars().map(fold_char));
    }
}

/// Appends the fold of `s` to `out`.
pub fn fold_append(s: &str, out: &mut String) {
    if s.is_ascii() {
        let from = out.len();
        out.push_str(s);
        // OK: `from` is a char boundary (the end of the previous text).
        out[from..].make_ascii_lowercase();
    } else {
        out.extend(s.chars().map(fold_char));
    }
}

/// True if `s` has at least one character whose fold is not itself.
pub fn has_case(s: &str) -> bool {
    s.chars().any(|c| fold_char(c) != c || c.to_uppercase().next() != Some(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_and_special_orbits() {
        assert_eq!(fold_str("PowerShell.EXE"), "powershell.exe");
        assert_eq!(fold_char('\u{212A}'), 'k', "Kelvin sign folds with k");
        assert_eq!(fold_char('ſ'), 's', "long s folds with s");
        assert_eq!(fold_str("АДМИНИСТРАТОР"), fold_str("администратор"));
        assert_eq!(fold_str("\\СИСТЕМА"), fold_str("\\система"));
        assert_eq!(fold_str("JÄRJESTELMÄNVALVOJA"), "järjestelmänvalvoja");
        assert_eq!(fold_str("ΣΊΣΥΦΟΣ"), fold_str("σίσυφος"));
        assert_eq!(fold_char('ς'), fold_char('σ'));
    }

    #[test]
    fn folding_keeps_character_counts() {
        for s in ["İstanbul", "ß ẞ", "ǅǄǆ", "Ωmega", "😀x"] {
            assert_eq!(fold_str(s).chars().count(), s.chars().count(), "{s}");
        }
    }

    #[test]
    fn agrees_with_regex_case_insensitivity_on_every_cased_char() {
        let re = |c: char| {
            regex_automata::meta::Regex::builder()
                .syntax(regex_automata::util::syntax::Config::new().case_insensitive(true))
                .build(&regex_syntax::escape(&c.to_string()))
                .unwrap()
        };
        // A sample across scripts; the full table is derived from the same data.
        for c in ['A', 'k', '\u{212A}', 'ſ', 'Ä', 'Ж', 'Ω', 'ǅ', 'ß', 'ẞ', 'İ', 'ı', 'Ⅻ', 'Ⓐ', '𐐀'] {
            let r = re(c);
            let folded = fold_char(c).to_string();
            assert!(r.is_match(&folded), "{c:?} should match its fold {folded:?}");
        }
    }
}
