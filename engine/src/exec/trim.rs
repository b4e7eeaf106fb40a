//! Regexes trimmed for `is_match`: a lazy regex test only asks whether the
//! pattern matches somewhere in a value, never where, so the parts of the
//! pattern that cannot change that answer are dropped before it is
//! compiled.
//!
//! Searches are unanchored at both ends, so for a pattern `A·B`:
//!
//! - if `B` can match the empty string and has no assertion (`^`, `$`,
//!   `\b`, ...), `A·B` matches somewhere exactly when `A` does: a match of
//!   `A` is followed by an empty match of `B`, and a match of `A·B` starts
//!   with one of `A`;
//! - `A·X{m,n}` matches exactly when `A·X{m}` does: the first `m`
//!   repetitions of a match are one of `X{m}`, and `X{m}` is one of
//!   `X{m,n}`;
//! - `A·(B|C)` matches exactly when `A·B` or `A·C` does, so each branch is
//!   trimmed on its own.
//!
//! The same holds mirrored at the start. SigmaHQ's
//! `-k\s\w{1,64}(?:\s?(?:-p|-s))?` (uncommon svchost flags) becomes
//! `-k\s\w`: the Unicode `\w{1,64}` alone is a 3.4 MiB automaton that a
//! bundle used to compile on first use, in about 20 ms.
//!
//! Only the compiled regex is trimmed; the reference evaluator runs the
//! pattern as written, and the conformance suites compare the two.

use regex_syntax::hir::{Hir, HirKind, Repetition};

/// The end of a pattern being trimmed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Start,
    End,
}

/// `hir` without the parts that cannot change whether it matches somewhere
/// in a text (see the module documentation).
pub(crate) fn for_is_match(hir: Hir) -> Hir {
    trim(trim(hir, End::End), End::Start)
}

/// Whether `hir` matches the empty string wherever it is tried.
fn always_empty(hir: &Hir) -> bool {
    let props = hir.properties();
    props.minimum_len() == Some(0) && props.look_set().is_empty()
}

fn trim(hir: Hir, end: End) -> Hir {
    match hir.into_kind() {
        HirKind::Capture(c) => trim(*c.sub, end),
        HirKind::Repetition(Repetition { min, greedy, sub, .. }) => match min {
            0 => Hir::empty(),
            1 => trim(*sub, end),
            _ => Hir::repetition(Repetition { min, max: Some(min), greedy, sub }),
        },
        HirKind::Alternation(alts) => Hir::alternation(alts.into_iter().map(|h| trim(h, end)).collect()),
        HirKind::Concat(mut parts) => {
            if end == End::Start {
                parts.reverse();
            }
            // The part at the trimmed end is last.
            while let Some(last) = parts.pop() {
                let last = trim(last, end);
                if !always_empty(&last) {
                    parts.push(last);
                    break;
                }
            }
            if end == End::Start {
                parts.reverse();
            }
            Hir::concat(parts)
        }
        HirKind::Empty => Hir::empty(),
        HirKind::Literal(l) => Hir::literal(l.0),
        HirKind::Class(c) => Hir::class(c),
        HirKind::Look(l) => Hir::look(l),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trimmed(pattern: &str) -> String {
        for_is_match(regex_syntax::parse(pattern).unwrap()).to_string()
    }

    fn same(pattern: &str) -> String {
        regex_syntax::parse(pattern).unwrap().to_string()
    }

    #[test]
    fn optional_and_repeated_ends_are_trimmed() {
        assert_eq!(trimmed(r"-k\s\w{1,64}(?:\s?(?:-p|-s))?"), same(r"-k\s\w"));
        assert_eq!(trimmed(r"\s+foo\d*"), same(r"\sfoo"));
        assert_eq!(trimmed(r"(ab){2,}x(cd){3,5}"), same(r"(ab){2}x(cd){3}"));
        assert_eq!(trimmed(r"a(?:b+|c?)x?"), same(r"a"));
        assert_eq!(trimmed(r"a(?:b+|cd*)"), same(r"a(?:b|c)"));
        assert_eq!(trimmed(r".*"), same(r""));
    }

    #[test]
    fn assertions_and_middles_are_kept() {
        for p in [r"foo\s*$", r"^\s*foo", r"\bfoo\w*\b", r"a\w{1,64}b", r"(?m)^x+$", r"a{3}"] {
            assert_eq!(trimmed(p), same(p), "{p}");
        }
    }

    /// The trimmed regex matches exactly the texts the original does, over
    /// every short text of a small alphabet.
    #[test]
    fn trimmed_regexes_match_the_same_texts() {
        let patterns = [
            r"a\w{1,3}(?:\s?(?:-p|-s))?",
            r"(?:ab|a)+b*",
            r"\s*a{2,}(b|c?)",
            r"(a|b\s+)c{1,2}",
            r"\ba+b?",
            r"a+$",
            r"^b*a+",
            r"(?:a|\b)b{1,}",
        ];
        let alphabet = ['a', 'b', 'c', ' ', '-', 'p'];
        let mut texts = vec![String::new()];
        for len in 1..=5 {
            let mut next = Vec::new();
            for t in texts.iter().filter(|t| t.chars().count() == len - 1) {
                for c in alphabet {
                    next.push(format!("{t}{c}"));
                }
            }
            texts.extend(next);
        }
        for p in patterns {
            let original = regex_automata::meta::Regex::new(p).unwrap();
            let hir = for_is_match(regex_syntax::parse(p).unwrap());
            let trimmed = regex_automata::meta::Regex::builder().build_from_hir(&hir).unwrap();
            for t in &texts {
                assert_eq!(trimmed.is_match(t), original.is_match(t), "{p} on {t:?} (trimmed to {hir})");
            }
        }
    }
}
