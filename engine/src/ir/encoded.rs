//! A rule as a bundle stores it: its own postcard bytes, LZ4-compressed, so
//! that loading a bundle decodes no rule document and each rule is decoded
//! on first use (an alert, `explain`), checked as the whole bundle is. The
//! compression halves the rules' share of a bundle (the SigmaHQ Windows
//! pack's rules are 2.2 MB of postcard), which is read, checksummed and
//! kept on every load; a rule decompresses in microseconds.

use std::sync::Arc;

use super::{Expr, LoadedRule, Pred, RuleIr, Target, Test};
use crate::front::rule::{Detection, LogSource, Origin, Rule};

impl LoadedRule {
    /// The rule's bytes in a bundle.
    pub(crate) fn encode(&self) -> Vec<u8> {
        // OK: postcard only fails on types it does not support (none here).
        let bytes = postcard::to_allocvec(self).unwrap_or_default();
        // The uncompressed length (u32 LE), then the LZ4 block.
        lz4_flex::block::compress_prepend_size(&bytes)
    }

    /// Decodes rule `index` of a bundle whose field table has `fields`
    /// entries. Bytes that do not decode to the end, or whose IR names a
    /// field outside the table, give a rule that never matches, titled as
    /// unreadable: the checksum rules out damage, so only a hand-made bundle
    /// has one, and evaluation never depends on it (the plan decides).
    pub(crate) fn decode(bytes: &[u8], fields: usize, index: usize) -> LoadedRule {
        let decoded = decompress(bytes).and_then(|bytes| match postcard::take_from_bytes::<LoadedRule>(&bytes) {
            Ok((rule, [])) => Some(rule),
            _ => None,
        });
        decoded.filter(|r| names_known_fields(&r.ir.expr, fields)).unwrap_or_else(|| unreadable(index))
    }
}

/// The bytes [`LoadedRule::encode`] compressed, if they decompress to the
/// length they state, which is at most what LZ4 can expand them to (so
/// that a stated length cannot make it allocate beyond the input's size).
fn decompress(bytes: &[u8]) -> Option<Vec<u8>> {
    let (len, block) = bytes.split_first_chunk::<4>()?;
    let len = u32::from_le_bytes(*len) as usize;
    // An LZ4 sequence of n bytes expands to at most 255 n + 19 bytes.
    if len > block.len().saturating_mul(255).saturating_add(19) {
        return None;
    }
    lz4_flex::block::decompress(block, len).ok().filter(|out| out.len() == len)
}

fn names_known_fields(expr: &Expr, fields: usize) -> bool {
    let mut ok = true;
    expr.for_each_pred(&mut |p| ok &= p.fields_within(fields));
    ok
}

impl Pred {
    /// True if every field the predicate reads is below `fields` (a field
    /// table's length): what a bundle's predicates are checked for.
    pub(crate) fn fields_within(&self, fields: usize) -> bool {
        let target_ok = match self.target {
            Target::Field(f) => f.index() < fields,
            Target::Keywords => true,
        };
        let other_ok = match &self.test {
            Test::FieldRef { other, .. } => other.index() < fields,
            _ => true,
        };
        target_ok && other_ok
    }
}

fn unreadable(index: usize) -> LoadedRule {
    let rule = Rule {
        title: format!("rule {index} of the bundle does not decode"),
        id: None,
        name: None,
        status: None,
        description: None,
        license: None,
        author: None,
        references: Vec::new(),
        date: None,
        modified: None,
        tags: Vec::new(),
        falsepositives: Vec::new(),
        level: None,
        fields: Vec::new(),
        related: Vec::new(),
        taxonomy: None,
        scope: Vec::new(),
        logsource: LogSource::default(),
        detection: Detection::default(),
        custom: Vec::new(),
        origin: Origin { path: Arc::from("<bundle>"), document: 0, first_line: 0, last_line: 0 },
    };
    LoadedRule { rule, ir: RuleIr { expr: Expr::FALSE }, filters: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::super::{FieldId, Pred};
    use super::*;

    fn rule() -> LoadedRule {
        let rule = "title: t\nid: 1\nlogsource: {category: process_creation}\n\
                    detection: {sel: {Image|endswith: '\\x.exe'}, condition: sel}\n";
        let (engine, report) = crate::Builder::new().add_source("t.yml", rule).build();
        assert!(report.errors.is_empty(), "{report:?}");
        engine.rules().next().expect("one rule").1.clone()
    }

    #[test]
    fn a_rule_decodes_as_it_was_encoded() {
        let r = rule();
        let back = LoadedRule::decode(&r.encode(), 1, 0);
        assert_eq!(back.rule.title, "t");
        assert_eq!(back.rule.id.as_deref(), Some("1"));
        assert_eq!(back.ir.expr, r.ir.expr);
    }

    /// Bytes that do not decode, trailing bytes, and an IR naming a field
    /// outside the table give the unreadable rule, which never matches.
    #[test]
    fn what_does_not_decode_is_an_unreadable_rule() {
        let r = rule();
        let bytes = r.encode();
        let mut longer = bytes.clone();
        longer.push(0);
        let mut other_field = r.clone();
        other_field.ir.expr =
            Expr::pred(Pred { target: Target::Field(FieldId::from_index(7)), test: Test::Exists(true) });
        // A stated length beyond what the block can expand to (refused
        // before allocating), or other than what it expands to.
        let length = |n: u32| [&n.to_le_bytes()[..], &bytes[4..]].concat();
        let stated = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"));
        let (huge, more, less) = (length(u32::MAX), length(stated + 1), length(stated - 1));
        for bad in [&b""[..], &bytes[..bytes.len() - 1], &longer, &other_field.encode(), &huge, &more, &less] {
            let got = LoadedRule::decode(bad, 1, 4);
            assert_eq!(got.rule.title, "rule 4 of the bundle does not decode");
            assert_eq!(got.ir.expr, Expr::FALSE);
        }
        // The same IR is fine with a table of eight fields.
        assert_eq!(LoadedRule::decode(&other_field.encode(), 8, 4).ir.expr, other_field.ir.expr);
    }
}
