//! Keyword predicates over the JSON text of an event.
//!
//! A keyword (a field-less Sigma value) is searched in every value of the
//! event. Collecting every value of every event into the record would cost
//! the JSON reader a copy of the whole line for the few keyword rules of a
//! pack (SigmaHQ's Windows process_creation pack has one), so the fast JSON
//! reader leaves them in the line ([`Record::keyword_line`]) and this module
//! decides keyword predicates from it:
//!
//! 1. **Prefilter.** Each keyword predicate has *needles*: JSON-escaped
//!    lowercase literals one of which the line must contain if the
//!    predicate holds. Each needle is searched in the line on its own, ASCII
//!    case-insensitively, without copying the line (copying and
//!    lowercasing a 1 KB line was most of the cost): by memchr's SIMD
//!    packed-pair search for two of its bytes that have no case, chosen
//!    among those rare in Windows events, each candidate then compared in
//!    full ([`Needle`]); aho-corasick's single-pattern searcher where the
//!    needle has fewer than two such bytes (it stops at every occurrence of
//!    the needle's first byte; for NotPetya's `\\perfc.dat`, at every
//!    backslash of a Windows path: 3,900 instructions per event against
//!    about 1,100 now). One pass over all needles together stopped at every
//!    backslash as well. A predicate none of whose needles occur is false.
//! 2. **Exact.** Otherwise the line is read with serde_json (once per
//!    event) into a record of its keyword values, and the predicate is
//!    evaluated on that, exactly as for a record whose keywords were
//!    collected.
//!
//! # Why the prefilter has no false negatives
//!
//! If a value matches, the folded value contains the folded literal `L`
//! (for a regex, one of the literals every match contains). The line holds
//! the value JSON-escaped. When the line is *plain* (no `\u` or `\/`
//! escape; [`KeywordLine::plain`]), every character of a value is written
//! in exactly one way: itself, or `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`.
//! Escaping then commutes with ASCII lowercasing (escape letters are
//! lowercase already), so the line, lowercased, contains `escape(L)` when
//! `L` is ASCII and the value's folding is its ASCII lowercasing. That last
//! condition fails only for the few non-ASCII characters whose simple case
//! folding is ASCII (the Kelvin sign folds to `k`, the long s to `s`): a
//! line holding one of them, or a line that is not plain, is always read
//! exactly. Literals with other control characters, or non-ASCII ones, give
//! no needle (the predicate is always read exactly).

use std::sync::OnceLock;

use aho_corasick::AhoCorasick;

use crate::exec::record::Record;
use crate::fold;
use crate::ir::{Case, Pred, Target, Test, Token};

/// The needles of every keyword predicate of a pack.
#[derive(Debug)]
pub(crate) struct LinePrefilter {
    /// Every needle (lowercase), searched ASCII-case-insensitively in the
    /// line (the same as searching the lowercased line, without copying it).
    needles: Vec<Needle>,
    /// Per predicate index: its needles, a range of needle ids (`None`:
    /// not a keyword predicate with needles; always read exactly).
    of_pred: Vec<Option<(u32, u32)>>,
}

/// Per-event state of keyword evaluation, in the engine's `Cache`.
#[derive(Clone, Debug, Default)]
pub(crate) struct LineState {
    /// The generation the fields below were computed in.
    found_at: u32,
    /// The prefilter applies to this line.
    usable: bool,
    /// Per needle: not searched yet (`None`), or whether it occurs.
    found: Vec<Option<bool>>,
    read_at: u32,
    /// The line's keyword values, read with serde_json.
    pub(crate) values: Record,
}

impl LinePrefilter {
    /// The prefilter of the keyword predicates among `preds`, by predicate
    /// id (`None` for a predicate kept as bytes, which is never a keyword
    /// one); `None` when there are none.
    pub(crate) fn new<'a>(preds: impl Iterator<Item = Option<&'a Pred>>) -> Option<LinePrefilter> {
        let mut needles: Vec<Needle> = Vec::new();
        let mut of_pred = Vec::new();
        let mut any = false;
        let searcher = |n: &Vec<u8>| Needle::new(n);
        for p in preds {
            let Some(p) = p else {
                of_pred.push(None);
                continue;
            };
            let range = (p.target == Target::Keywords)
                .then(|| pred_needles(&p.test))
                .flatten()
                // A needle that cannot be built (none can: a few bytes are
                // far below every limit) leaves its predicate read exactly.
                .and_then(|ns| ns.iter().map(searcher).collect::<Option<Vec<_>>>())
                .map(|ns| {
                    let start = needles.len() as u32;
                    needles.extend(ns);
                    (start, needles.len() as u32)
                });
            any |= p.target == Target::Keywords;
            of_pred.push(range);
        }
        if !any {
            return None;
        }
        Some(LinePrefilter { needles, of_pred })
    }

    /// Whether predicate `pred` may hold on the event whose JSON text is
    /// `line` (plain or not), computing the line's needles once per event
    /// (`generation`). False means it certainly does not.
    pub(crate) fn may_hold(
        &self,
        pred: usize,
        line: &str,
        plain: bool,
        generation: u32,
        state: &mut LineState,
    ) -> bool {
        let Some(Some((start, end))) = self.of_pred.get(pred).copied() else {
            return true;
        };
        if state.found_at != generation {
            state.found_at = generation;
            state.usable = plain && (line.is_ascii() || !has_char_folding_to_ascii(line));
            if state.usable {
                state.found.clear();
                state.found.resize(self.needles.len(), None);
            }
        }
        if !state.usable {
            return true;
        }
        (start as usize..end as usize)
            .any(|k| *state.found[k].get_or_insert_with(|| self.needles[k].is_match(line.as_bytes())))
    }
}

impl LineState {
    /// The keyword values of `line`, read once per event (`generation`).
    #[cfg(feature = "json")]
    pub(crate) fn values(&mut self, line: &str, generation: u32) -> &Record {
        if self.read_at != generation {
            self.read_at = generation;
            self.values.clear();
            // OK to ignore an error: the JSON reader accepted the line.
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(line) {
                let values = &mut self.values;
                crate::event::Event::values(&value, &mut |v| values.push_keyword(v));
            }
        }
        &self.values
    }
}

/// A lowercase ASCII needle searched ASCII-case-insensitively.
#[derive(Debug)]
enum Needle {
    /// Candidates where two bytes of the needle that have no case (not
    /// ASCII letters) occur at their distance, found 32 bytes at a time,
    /// then compared in full.
    #[cfg(target_arch = "x86_64")]
    Pair { needle: Box<[u8]>, finder: memchr::arch::x86_64::avx2::packedpair::Finder },
    /// aho-corasick's searcher (needles with fewer than two caseless
    /// bytes, or CPUs without AVX2).
    Automaton(AhoCorasick),
}

impl Needle {
    /// `None` only if aho-corasick cannot build a searcher of a few bytes
    /// (it can).
    fn new(needle: &[u8]) -> Option<Needle> {
        #[cfg(target_arch = "x86_64")]
        if let Some((i, j)) = caseless_pair(needle)
            && let Some(pair) = memchr::arch::all::packedpair::Pair::with_indices(needle, i, j)
            && let Some(finder) = memchr::arch::x86_64::avx2::packedpair::Finder::with_pair(needle, pair)
        {
            return Some(Needle::Pair { needle: needle.into(), finder });
        }
        AhoCorasick::builder().ascii_case_insensitive(true).build([needle]).ok().map(Needle::Automaton)
    }

    fn is_match(&self, hay: &[u8]) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Needle::Pair { needle, finder } => {
                let n = needle.len();
                let mut at = 0;
                while at + n <= hay.len() {
                    let rest = &hay[at..];
                    // The SIMD search needs a few dozen bytes.
                    if rest.len() < finder.min_haystack_len() {
                        return rest.windows(n).any(|w| w.eq_ignore_ascii_case(needle));
                    }
                    let Some(i) = finder.find_prefilter(rest) else { return false };
                    let start = at + i;
                    if hay.get(start..start + n).is_some_and(|w| w.eq_ignore_ascii_case(needle)) {
                        return true;
                    }
                    at = start + 1;
                }
                false
            }
            Needle::Automaton(ac) => ac.is_match(hay),
        }
    }
}

/// Two positions of bytes of `needle` that are not ASCII letters, the two
/// rarest in Windows events by a rough rank (a backslash, a space or a dot
/// is everywhere in them), or `None` if it has fewer than two.
#[cfg(target_arch = "x86_64")]
fn caseless_pair(needle: &[u8]) -> Option<(u8, u8)> {
    let commonness = |b: u8| match b {
        b'\\' => 6,
        b' ' | b'.' => 5,
        b'"' | b':' | b'/' => 4,
        b'-' | b'_' | b'0'..=b'9' => 3,
        _ => 1,
    };
    let mut caseless: Vec<(u8, u8)> = needle
        .iter()
        .enumerate()
        .take(usize::from(u8::MAX))
        .filter(|(_, b)| !b.is_ascii_alphabetic())
        .map(|(i, &b)| (commonness(b), i as u8))
        .collect();
    // The rarest first; among equals, the later (farther apart from the first).
    caseless.sort_by_key(|&(c, i)| (c, std::cmp::Reverse(i)));
    let (&(_, a), &(_, b)) = (caseless.first()?, caseless.get(1)?);
    Some((a.min(b), a.max(b)))
}

/// The needles of a keyword test: JSON-escaped literals one of which a
/// line must contain for the test to hold on one of its values (see the
/// module docs); `None` if no such set can be given.
fn pred_needles(test: &Test) -> Option<Vec<Vec<u8>>> {
    let literals: Vec<String> = match test {
        Test::Str { pattern, case } => {
            let run = pattern
                .tokens()
                .iter()
                .filter_map(|t| if let Token::Lit(s) = t { Some(s) } else { None })
                .max_by_key(|s| s.len())?;
            vec![match case {
                Case::Insensitive => fold::fold_str(run).into_owned(),
                // A case-sensitive literal occurs as written; its lowercase,
                // searched case-insensitively, is a weaker condition.
                Case::Sensitive => run.to_ascii_lowercase(),
            }]
        }
        Test::Regex { pattern, flags } => crate::plan::regex_literals(pattern, *flags),
        _ => return None,
    };
    if literals.is_empty() {
        return None;
    }
    literals.iter().map(|l| escape(l)).collect()
}

/// A literal as it is written in a plain JSON string, or `None` if it has
/// a character that is not ASCII or has no short escape.
fn escape(literal: &str) -> Option<Vec<u8>> {
    if literal.is_empty() || !literal.is_ascii() {
        return None;
    }
    let mut out = Vec::with_capacity(literal.len() + 4);
    for b in literal.bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0C => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..0x20 => return None,
            b => out.push(b.to_ascii_lowercase()),
        }
    }
    Some(out)
}

/// The non-ASCII characters whose simple case folding is ASCII: the long s
/// (`ſ`, folds to `s`) and the Kelvin sign (`K`, folds to `k`). A test
/// checks the list against the folding tables.
const FOLDS_TO_ASCII: [char; 2] = ['\u{17F}', '\u{212A}'];

/// Whether `line` has one of [`FOLDS_TO_ASCII`] (true if the searcher
/// could not be built, which two short patterns never fail to).
fn has_char_folding_to_ascii(line: &str) -> bool {
    static SET: OnceLock<Option<AhoCorasick>> = OnceLock::new();
    let set = SET.get_or_init(|| AhoCorasick::new(FOLDS_TO_ASCII.map(|c| c.to_string())).ok());
    set.as_ref().is_none_or(|s| s.is_match(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_characters_fold_to_ascii_and_they_are_known() {
        let all: Vec<char> = ('\u{80}'..=char::MAX).filter(|c| fold::fold_char(*c).is_ascii()).collect();
        assert_eq!(all, FOLDS_TO_ASCII);
        assert!(has_char_folding_to_ascii("a \u{212A} b"));
        assert!(!has_char_folding_to_ascii("Microsoft\u{ae} Windows\u{ae}"));
    }

    #[test]
    fn needles_match_as_case_insensitive_search_does() {
        let needles: [&[u8]; 5] = [b"\\\\perfc.dat", b"a.b", b"x-1 ", b"perfc", b"\\\"q\\\""];
        let mut hays: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"\\\\PERFC.DAT".to_vec(),
            b"{\"CommandLine\":\"C:\\\\Windows\\\\perfc.da\",\"x\":\"\\\\perfc.dat\"}".to_vec(),
            b"A.B a.b x-1 X-1 \\\"Q\\\"".to_vec(),
        ];
        // Long lines with the needle at every offset near the ends and the middle.
        for n in needles {
            for at in [0, 1, 31, 32, 33, 63, 64, 100, 200 - n.len()] {
                let mut h = b"C:\\\\Windows\\\\System32\\\\cmd.exe /c x ".repeat(6);
                h.truncate(200);
                let upper = n.to_ascii_uppercase();
                h[at..at + n.len()].copy_from_slice(if at % 2 == 0 { n } else { &upper });
                hays.push(h.clone());
                h[at] ^= 0x01;
                hays.push(h);
            }
        }
        for n in needles {
            let reference = AhoCorasick::builder().ascii_case_insensitive(true).build([n]).unwrap();
            let needle = Needle::new(n).unwrap();
            for h in &hays {
                assert_eq!(needle.is_match(h), reference.is_match(h), "{:?} in {:?}", n, String::from_utf8_lossy(h));
            }
        }
        #[cfg(target_arch = "x86_64")]
        if memchr::arch::x86_64::avx2::packedpair::Finder::new(b"ab").is_some() {
            assert!(matches!(Needle::new(b"\\\\perfc.dat"), Some(Needle::Pair { .. })));
            assert_eq!(caseless_pair(b"\\\\perfc.dat"), Some((1, 7)));
        }
        assert!(matches!(Needle::new(b"perfc"), Some(Needle::Automaton(_))));
    }

    #[test]
    fn needles_are_escaped_lowercase_literals() {
        assert_eq!(escape("\\perfc.DAT\""), Some(b"\\\\perfc.dat\\\"".to_vec()));
        assert_eq!(escape("\u{1}"), None);
        assert_eq!(escape("é"), None);
    }
}
