//! Stage 4: planning across the whole pack.
//!
//! The planner decides, for every rule at once, what the engine computes per
//! event:
//!
//! - **Predicates are shared.** Identical predicates of different rules
//!   (SigmaHQ tests `Image|endswith: '\cmd.exe'` in dozens of rules) become
//!   one [`PredId`].
//! - **Literal predicates are resolved by scanning.** A case-insensitive
//!   exact, prefix, suffix or substring test of at least
//!   [`MIN_SCAN_BYTES`] bytes is a *literal predicate*: its folded text
//!   goes into its field's literal set, and one scan of the field's folded
//!   value decides every literal predicate of that field for every rule.
//!   Everything else (regexes, globs, case-sensitive tests, one-character
//!   literals, null, exists, numbers, networks, field references, keywords)
//!   is a *lazy predicate*, computed only when a candidate rule's program
//!   reaches it, and at most once per event.
//! - **Witness groups choose the candidates.** For each rule the planner
//!   derives a conjunction of *groups*, each a set of *atoms* (scanned
//!   literal predicates), such that the rule cannot match unless every group
//!   has at least one atom that fired. A rule is evaluated only when all its
//!   groups fired; a rule with no group is evaluated for every event and is
//!   counted as such.
//! - **Programs are flat.** Each rule's condition becomes a list of test
//!   instructions with a jump for true and a jump for false (short-circuit
//!   code), so evaluation is a loop, not a tree walk.
//!
//! # The zero-false-negative contract
//!
//! If a rule matches an event, then every one of its groups has an atom
//! that fires on that event. The planner keeps this by construction:
//!
//! - a positive literal predicate is its own atom;
//! - a regex contributes the literals regex-syntax proves every match must
//!   contain (a finite set with no empty member), a glob or a case-sensitive
//!   test its longest literal run (case-folded text contains the fold of
//!   every substring of the original);
//! - `and` keeps the groups of all its operands (each operand must hold);
//! - `or` yields one group: the union of one group of *every* operand, and
//!   no group at all if any operand has none (any operand might be the one
//!   that holds);
//! - `not` and everything that is not a positive test yield no group: a
//!   negation holds when something is *absent*, which no literal can witness.
//!
//! Atoms shorter than [`MIN_WITNESS_BYTES`] bytes are never used (`/c`,
//! `-e` occur in most command lines and would make nearly every rule a
//! candidate); they are still scanned and still decide their predicates.
//! The contract is tested both ways in the conformance suite: cases where a
//! tempting but unsound witness (a literal under `not`, one branch of an
//! `or`) would drop a match.

use crate::Map as HashMap;

pub mod freq;
mod literals;
mod preds;

pub(crate) use literals::{Literal, Literals};
pub(crate) use preds::{Decider, PredRef, Preds};

use regex_syntax::hir::literal::{ExtractKind, Extractor};

use crate::fold;
use crate::ir::{Case, Expr, ExprKind, FieldId, FieldTable, Pattern, Pred, ReFlags, Shape, Target, Test, Token};
pub use freq::At;

/// Literal tests shorter than this many bytes are lazy predicates when made
/// of common characters: a single `-` or `\` would be reported at almost
/// every position of a command line. A single rarer character (`` ` ``,
/// `^`) is scanned, and so is any non-ASCII character (an emoji, a Cyrillic
/// homoglyph: two to four bytes): SigmaHQ has rules that OR a thousand of
/// them.
pub const MIN_SCAN_BYTES: usize = 2;
/// Atoms shorter than this many bytes never witness a rule.
pub const MIN_WITNESS_BYTES: usize = 3;

/// A predicate shared by the whole pack.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PredId(pub(crate) u32);

impl PredId {
    /// The index of the predicate.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One planned predicate.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug)]
pub(crate) struct PlanPred {
    pub pred: Pred,
    /// Computed on demand rather than by a scan.
    pub lazy: bool,
}

/// A test instruction of a rule program: evaluate `pred`, jump to `t` or `f`.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug)]
pub(crate) struct Op {
    pub pred: u32,
    pub lazy: bool,
    pub t: u32,
    pub f: u32,
}

/// Jump target meaning "the rule matches".
pub(crate) const ACCEPT: u32 = u32::MAX;
/// Jump target meaning "the rule does not match".
pub(crate) const REJECT: u32 = u32::MAX - 1;

/// What the planner decided for one rule.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug)]
pub(crate) struct RulePlan {
    /// Entry point into [`Plan::ops`] (or ACCEPT/REJECT for constant rules).
    pub start: u32,
    /// Witness groups: the rule can match only if each has a fired atom.
    pub groups: Vec<Vec<PredId>>,
}

/// The plan of a whole pack.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, Default)]
pub(crate) struct Plan {
    /// The predicates, by [`PredId`] (a rule bundle stores them apart from
    /// the rest of the plan, see `bundle`).
    #[serde(skip)]
    pub preds: Preds,
    /// Literal sets, by field index (a rule bundle stores them apart from
    /// the rest of the plan, see `bundle`).
    #[serde(skip)]
    pub literals: Vec<std::sync::Arc<Literals>>,
    pub rules: Vec<RulePlan>,
    pub ops: Vec<Op>,
}

#[derive(Default)]
struct Planner<'a> {
    plan: Plan,
    /// The predicates, made into `plan.preds` at the end.
    preds: Vec<PlanPred>,
    fields: Option<&'a FieldTable>,
    model: Option<&'a crate::plan::freq::FrequencyModel>,
    pred_ids: HashMap<Pred, PredId>,
    /// Literal sets by field index, made into `plan.literals` at the end.
    literals: Vec<Vec<Literal>>,
    /// (field, folded text) → index into `literals[field]`.
    literal_ids: HashMap<(FieldId, String), usize>,
}

/// Plans a pack: `exprs[i]` is the condition of rule `i`.
pub(crate) fn plan(exprs: &[&Expr], fields: &FieldTable, model: Option<&crate::plan::freq::FrequencyModel>) -> Plan {
    let mut p = Planner { fields: Some(fields), model, ..Planner::default() };
    p.literals = vec![Vec::new(); fields.len()];
    // Every predicate and every witness group first ...
    let mut all_groups = Vec::with_capacity(exprs.len());
    for e in exprs {
        p.intern_all(e);
        let mut groups = p.groups(e);
        for g in &mut groups {
            g.sort();
            g.dedup();
        }
        groups.sort();
        groups.dedup();
        all_groups.push(groups);
    }
    // ... then the groups each rule requires, whose atoms are scanned ...
    let mut selected_all = Vec::with_capacity(exprs.len());
    for (e, groups) in exprs.iter().zip(all_groups) {
        let selected = p.select(groups);
        for g in &selected {
            for a in g {
                p.scan(*a);
            }
        }
        if selected.is_empty() {
            // A rule evaluated for every event reads all its literals every
            // time: scanning them is cheaper than testing them one by one.
            let mut ids = Vec::new();
            e.for_each_pred(&mut |pr| ids.push(p.pred_ids[pr]));
            ids.into_iter().for_each(|id| p.scan(id));
        }
        selected_all.push(selected);
    }
    // ... plus every literal of a field with few of them, which costs
    // nothing to scan and saves verifying them one by one ...
    let mut per_field: HashMap<FieldId, Vec<PredId>> = HashMap::default();
    for (i, pp) in p.preds.iter().enumerate() {
        if let Some((field, _, _)) = scanned_literal(&pp.pred) {
            per_field.entry(field).or_default().push(PredId(i as u32));
        }
    }
    for ids in per_field.values() {
        if ids.len() <= SCAN_ALL_BELOW {
            ids.iter().for_each(|id| p.scan(*id));
        }
    }
    // ... and programs last, once every predicate is scanned or lazy.
    for (e, groups) in exprs.iter().zip(selected_all) {
        let start = p.program(e);
        p.plan.rules.push(RulePlan { start, groups });
    }
    p.plan.literals = p.literals.iter().map(|l| std::sync::Arc::new(Literals::new(l))).collect();
    p.plan.preds = Preds::new(p.preds);
    p.plan
}

/// A field with at most this many literal predicates has all of them
/// scanned (its automaton stays tiny either way).
const SCAN_ALL_BELOW: usize = 64;
/// Witness groups are added to a rule until the estimated chance that it
/// is a candidate falls below this ...
const TARGET_CANDIDATE_RATE: f64 = 1e-4;
/// ... or it has this many.
const MAX_GROUPS: usize = 3;

impl Planner<'_> {
    fn intern(&mut self, pred: &Pred) -> PredId {
        if let Some(id) = self.pred_ids.get(pred) {
            return *id;
        }
        // OK: the number of distinct predicates is bounded by the size of
        // the rule files, far below 2^32.
        let id = PredId(u32::try_from(self.preds.len()).unwrap_or(u32::MAX));
        self.preds.push(PlanPred { pred: pred.clone(), lazy: true });
        self.pred_ids.insert(pred.clone(), id);
        id
    }

    /// Interns every predicate of an expression.
    fn intern_all(&mut self, e: &Expr) {
        e.for_each_pred(&mut |p| {
            self.intern(p);
        });
    }

    /// Makes a literal-capable predicate scanned: adds its folded text to
    /// its field's literal set.
    fn scan(&mut self, id: PredId) {
        let pp = &mut self.preds[id.index()];
        if !pp.lazy {
            return;
        }
        let Some((field, text, at)) = scanned_literal(&pp.pred) else {
            return;
        };
        pp.lazy = false;
        let list = &mut self.literals[field.index()];
        let li = *self.literal_ids.entry((field, text.clone())).or_insert_with(|| {
            list.push(Literal { text, ..Literal::default() });
            list.len() - 1
        });
        let lit = &mut list[li];
        match at {
            At::Exact => lit.exact.push(id),
            At::Prefix => lit.prefix.push(id),
            At::Suffix => lit.suffix.push(id),
            At::Anywhere => lit.anywhere.push(id),
        }
    }

    /// Compiles a rule's condition into short-circuit jump code; returns the entry label.
    fn program(&mut self, e: &Expr) -> u32 {
        self.emit(e, ACCEPT, REJECT)
    }

    fn emit(&mut self, e: &Expr, t: u32, f: u32) -> u32 {
        match e.kind() {
            ExprKind::True => t,
            ExprKind::False => f,
            ExprKind::Pred(p) => {
                let id = self.intern(p);
                let lazy = self.preds[id.index()].lazy;
                self.plan.ops.push(Op { pred: id.0, lazy, t, f });
                // OK: programs are bounded by rule sizes, far below 2^32 - 2.
                u32::try_from(self.plan.ops.len() - 1).unwrap_or(REJECT)
            }
            ExprKind::Not(x) => self.emit(x, f, t),
            ExprKind::And(xs) => xs.iter().rev().fold(t, |next, x| self.emit(x, next, f)),
            ExprKind::Or(xs) => xs.iter().rev().fold(f, |next, x| self.emit(x, t, next)),
        }
    }

    /// The witness groups of an expression (see the module docs).
    fn groups(&mut self, e: &Expr) -> Vec<Vec<PredId>> {
        match e.kind() {
            ExprKind::True | ExprKind::False | ExprKind::Not(_) => Vec::new(),
            ExprKind::Pred(p) => {
                let atoms = self.atoms(p);
                if atoms.is_empty() { Vec::new() } else { vec![atoms] }
            }
            ExprKind::And(xs) => xs.iter().flat_map(|x| self.groups(x)).collect(),
            ExprKind::Or(xs) => {
                let mut union = Vec::new();
                for x in xs {
                    let gs = self.groups(x);
                    let Some(best) = gs.into_iter().min_by(|a, b| self.rate(a).total_cmp(&self.rate(b))) else {
                        return Vec::new();
                    };
                    union.extend(best);
                }
                vec![union]
            }
        }
    }

    /// Chooses the groups a rule requires: the least likely to fire first,
    /// then more while the estimated candidate rate is above
    /// [`TARGET_CANDIDATE_RATE`] (see [`atom_rate`]). Any subset of the
    /// groups is sound; more groups mean fewer candidates but more atoms to
    /// scan.
    fn select(&self, groups: Vec<Vec<PredId>>) -> Vec<Vec<PredId>> {
        let mut scored: Vec<(f64, Vec<PredId>)> = groups.into_iter().map(|g| (self.rate(&g), g)).collect();
        scored.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut rate = 1.0;
        let mut out = Vec::new();
        for (r, g) in scored {
            if out.len() >= MAX_GROUPS || rate <= TARGET_CANDIDATE_RATE {
                break;
            }
            rate *= r;
            out.push(g);
        }
        out
    }

    /// Estimated chance that some atom of the group fires on an event.
    fn rate(&self, group: &[PredId]) -> f64 {
        let sum: f64 = group
            .iter()
            .map(|id| match scanned_literal(&self.preds[id.index()].pred) {
                Some((field, text, at)) => {
                    let measured = match (self.model, self.fields) {
                        (Some(m), Some(f)) => m.estimate(f.name(field), &text, at),
                        _ => None,
                    };
                    measured.unwrap_or_else(|| atom_rate(&text, at))
                }
                None => 1.0,
            })
            .sum();
        sum.min(1.0)
    }

    /// May the folded literal `text` of `field` serve as an atom? Those
    /// [`witness_eligible`] accepts, and two-byte sequences with a
    /// punctuation character that the frequency model has no record of in
    /// the field (fewer than [`freq::MIN_SHARE_SHORT`] of events have them:
    /// `"{` of PowerShell format-string obfuscation). Only speed depends
    /// on this; any atom is sound.
    fn eligible(&self, field: FieldId, text: &str) -> bool {
        if witness_eligible(text) {
            return true;
        }
        let rare = match (self.model, self.fields) {
            (Some(m), Some(f)) => {
                m.estimate(f.name(field), text, At::Anywhere).is_some_and(|s| s < freq::MIN_SHARE_SHORT)
            }
            _ => false,
        };
        text.len() == 2 && !text.bytes().all(|b| b.is_ascii_alphanumeric()) && rare
    }

    /// The atoms a predicate guarantees: scanned literal predicates that
    /// fire whenever it holds. Empty when nothing can be guaranteed.
    fn atoms(&mut self, p: &Pred) -> Vec<PredId> {
        let Target::Field(field) = p.target else {
            return Vec::new();
        };
        let substrings: Vec<String> = match &p.test {
            Test::Str { pattern, case } => {
                if let Some((_, text, _)) = scanned_literal(p) {
                    return if self.eligible(field, &text) { vec![self.intern(p)] } else { Vec::new() };
                }
                // A glob or a case-sensitive test: its longest literal run.
                let _ = case;
                longest_run(pattern).into_iter().collect()
            }
            Test::Regex { pattern, flags } => regex_literals(pattern, *flags),
            _ => Vec::new(),
        };
        let substrings: Vec<String> = substrings.into_iter().map(|s| fold::fold_str(&s).into_owned()).collect();
        // The set is one alternative: a single unusable member (too short,
        // too common) voids it. Dropping only that member would lose every
        // match that contains just it.
        if substrings.is_empty() || !substrings.iter().all(|s| self.eligible(field, s)) {
            return Vec::new();
        }
        substrings
            .into_iter()
            .map(|s| {
                let atom = Pred {
                    target: Target::Field(field),
                    test: Test::Str {
                        pattern: Pattern::new([Token::Star, Token::Lit(s), Token::Star]),
                        case: Case::Insensitive,
                    },
                };
                self.intern(&atom)
            })
            .collect()
    }
}

/// If `p` is decided by scanning its field's folded value: the field, the
/// folded literal and where it must occur.
pub(crate) fn scanned_literal(p: &Pred) -> Option<(FieldId, String, At)> {
    let Target::Field(field) = p.target else {
        return None;
    };
    let Test::Str { pattern, case: Case::Insensitive } = &p.test else {
        return None;
    };
    let (text, at) = match pattern.shape() {
        Shape::Exact(s) => (s, At::Exact),
        Shape::Prefix(s) => (s, At::Prefix),
        Shape::Suffix(s) => (s, At::Suffix),
        Shape::Contains(s) => (s, At::Anywhere),
        Shape::Any | Shape::Glob => return None,
    };
    let folded = fold::fold_str(text).into_owned();
    if folded.len() < MIN_SCAN_BYTES && !folded.chars().any(|c| !common_char(c)) {
        return None;
    }
    if folded.is_empty() {
        return None;
    }
    Some((field, folded, at))
}

/// Characters too common in command lines and paths for a one- or
/// two-byte atom made only of them to witness anything (`/c`, `-e`, `.\`).
fn common_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " \t-/\\.:_\"'=,()[]{}$%&+@#*?!<>".contains(c)
}

/// May a scanned literal serve as an atom? At least [`MIN_WITNESS_BYTES`]
/// bytes, or shorter but made of rarer characters (`^^`, `|&`, a
/// non-ASCII letter), which seldom occur in benign command lines.
pub(crate) fn witness_eligible(text: &str) -> bool {
    text.len() >= MIN_WITNESS_BYTES || text.chars().any(|c| !common_char(c))
}

/// Substrings that occur in most Windows process events (folded). An atom
/// containing one is assumed to fire often, whatever its length.
const COMMON: &[&str] = &[
    "\\cmd.exe",
    "\\powershell.exe",
    "\\conhost.exe",
    "\\svchost.exe",
    "\\rundll32.exe",
    "\\explorer.exe",
    "\\wmiprvse.exe",
    "\\msiexec.exe",
    "\\dllhost.exe",
    "\\services.exe",
    "\\taskhostw.exe",
    "\\chrome.exe",
    "\\msedge.exe",
    "\\reg.exe",
    "\\net.exe",
    "\\net1.exe",
    "\\sc.exe",
    "\\schtasks.exe",
    "\\wscript.exe",
    "\\cscript.exe",
    "\\werfault.exe",
    "\\mmc.exe",
    "\\wmic.exe",
    "\\ngen.exe",
    "\\mscorsvw.exe",
    "c:\\windows",
    "\\windows\\",
    "\\system32\\",
    "\\syswow64\\",
    "\\program files",
    "\\appdata\\",
    "\\users\\",
    "\\temp\\",
    "\\microsoft\\",
    ".exe",
    ".dll",
    "nt authority\\system",
    "microsoft corporation",
    "microsoft® windows® operating system",
    "-command",
    "-noprofile",
    "-executionpolicy",
    "bypass",
    "http",
];

/// Without a frequency model for the field: the estimated chance that an
/// atom fires on a Windows process event: longer
/// literals are rarer, whole-value and anchored tests rarer than substrings,
/// and anything containing a [`COMMON`] substring frequent. A heuristic: it
/// only decides how few candidates the planner aims for, never what matches.
fn atom_rate(text: &str, at: At) -> f64 {
    let len = text.len().min(24) as f64;
    let base = match at {
        At::Exact => 0.5f64.powf(len / 1.2),
        At::Prefix | At::Suffix => 0.5f64.powf(len / 1.5),
        At::Anywhere => 0.5f64.powf(len / 2.0),
    };
    // An atom that is little more than a common substring is about as
    // common as it; each further two bytes halve that.
    let common = COMMON
        .iter()
        .filter(|c| text.contains(**c))
        .map(|c| 0.2 * 0.5f64.powf((text.len() - c.len()) as f64 / 2.0))
        .fold(0.0, f64::max);
    base.max(common)
}

fn longest_run(pattern: &Pattern) -> Option<String> {
    pattern
        .tokens()
        .iter()
        .filter_map(|t| if let Token::Lit(s) = t { Some(s) } else { None })
        .max_by_key(|s| s.len())
        .cloned()
}

/// Literals one of which every match of the regex contains, or none when
/// no finite set of at most [`MAX_REGEX_LITERALS`] non-empty literals can
/// be proven. Three sources are tried: regex-syntax's prefix and suffix
/// extraction, and [`required`], which also finds literals in the middle
/// (`\w+`x`\w+` requires a backtick); the set whose shortest member is
/// longest wins. Literals are folded: the scan sees folded text.
pub(crate) fn regex_literals(pattern: &str, flags: ReFlags) -> Vec<String> {
    let Ok(hir) = regex_syntax::ParserBuilder::new()
        .case_insensitive(flags.ignore_case)
        .multi_line(flags.multi_line)
        .dot_matches_new_line(flags.dot_all)
        .build()
        .parse(pattern)
    else {
        return Vec::new();
    };
    let mut candidates: Vec<Vec<String>> = Vec::new();
    for kind in [ExtractKind::Prefix, ExtractKind::Suffix] {
        let seq = Extractor::new().kind(kind).extract(&hir);
        let Some(lits) = seq.literals() else { continue };
        // Literals cut in the middle of a character cannot be folded.
        let strings: Option<Vec<String>> = lits.iter().map(|l| String::from_utf8(l.as_bytes().to_vec()).ok()).collect();
        if let Some(strings) = strings {
            candidates.push(strings);
        }
    }
    if let Some(set) = required(&hir) {
        candidates.push(set);
    }
    let mut best: Vec<String> = Vec::new();
    let mut best_min = 0;
    for set in candidates {
        let mut set: Vec<String> = set.iter().map(|s| fold::fold_str(s).into_owned()).collect();
        set.sort();
        set.dedup();
        if set.is_empty() || set.len() > MAX_REGEX_LITERALS || set.iter().any(String::is_empty) {
            continue;
        }
        let min = set.iter().map(String::len).min().unwrap_or(0);
        if min > best_min {
            best_min = min;
            best = set;
        }
    }
    best
}

/// The most literals a regex's witness set may have.
const MAX_REGEX_LITERALS: usize = 64;

/// A set of strings, one of which every match of `hir` contains (`None`:
/// nothing can be proven). Sound by construction:
///
/// - a literal requires itself; a class of at most 4 characters (after
///   folding) requires one of them;
/// - a concatenation requires what any one of its parts requires (the best
///   part is kept), or the concatenation of adjacent parts that are each a
///   set of exact alternatives (`[aA][bB]c` requires `abc`);
/// - an alternation requires the union of what each branch requires (and
///   nothing if any branch requires nothing);
/// - a repetition requires what its body does if it repeats at least once;
/// - anything that can match the empty string alone requires nothing.
fn required(hir: &regex_syntax::hir::Hir) -> Option<Vec<String>> {
    req(hir).map(|r| r.set)
}

/// What a sub-expression requires: `set`, and whether `set` is exactly the
/// strings it can match (so that neighbours can be concatenated to it).
struct Req {
    set: Vec<String>,
    exact: bool,
}

fn req(hir: &regex_syntax::hir::Hir) -> Option<Req> {
    use regex_syntax::hir::{Class, HirKind};
    let small = |set: Vec<String>| (!set.is_empty() && set.len() <= MAX_REGEX_LITERALS).then_some(set);
    match hir.kind() {
        HirKind::Literal(lit) => {
            let s = String::from_utf8(lit.0.to_vec()).ok()?;
            Some(Req { set: vec![fold::fold_str(&s).into_owned()], exact: true })
        }
        HirKind::Class(Class::Unicode(c)) => {
            let mut chars: Vec<String> = Vec::new();
            for r in c.ranges() {
                if (r.end() as u32 - r.start() as u32) > 8 {
                    return None;
                }
                for ch in r.start()..=r.end() {
                    chars.push(fold::fold_char(ch).to_string());
                    if chars.len() > 16 {
                        return None;
                    }
                }
            }
            chars.sort();
            chars.dedup();
            (chars.len() <= 4).then_some(Req { set: chars, exact: true })
        }
        HirKind::Class(Class::Bytes(_)) | HirKind::Empty | HirKind::Look(_) => None,
        HirKind::Capture(c) => req(&c.sub),
        HirKind::Repetition(r) => {
            if r.min == 0 {
                return None;
            }
            let inner = req(&r.sub)?;
            // One repetition's strings are exact only if it repeats exactly once.
            Some(Req { exact: inner.exact && r.min == 1 && r.max == Some(1), set: inner.set })
        }
        HirKind::Alternation(alts) => {
            let mut set = Vec::new();
            let mut exact = true;
            for a in alts {
                let r = req(a)?;
                exact &= r.exact;
                set.extend(r.set);
            }
            set.sort();
            set.dedup();
            Some(Req { set: small(set)?, exact })
        }
        HirKind::Concat(parts) => {
            let mut best: Option<Req> = None;
            let consider = |r: Req, best: &mut Option<Req>| {
                let score = |x: &Req| x.set.iter().map(String::len).min().unwrap_or(0);
                if best.as_ref().is_none_or(|b| score(&r) > score(b)) {
                    *best = Some(r);
                }
            };
            // Runs of exact parts are glued into longer literals. `broken`: some
            // part was not exact (or a run had to restart), so the last run is
            // not the whole concatenation's exact set of strings.
            let mut run: Option<Vec<String>> = None;
            let mut broken = false;
            for p in parts {
                match req(p) {
                    Some(r) if r.exact => {
                        run = match run.take() {
                            None => Some(r.set),
                            Some(prev) => {
                                let glued: Vec<String> =
                                    prev.iter().flat_map(|a| r.set.iter().map(move |b| format!("{a}{b}"))).collect();
                                if glued.len() <= MAX_REGEX_LITERALS {
                                    Some(glued)
                                } else {
                                    broken = true;
                                    consider(Req { set: prev, exact: false }, &mut best);
                                    Some(r.set)
                                }
                            }
                        };
                    }
                    other => {
                        broken = true;
                        if let Some(prev) = run.take() {
                            consider(Req { set: prev, exact: false }, &mut best);
                        }
                        if let Some(r) = other {
                            consider(Req { set: r.set, exact: false }, &mut best);
                        }
                    }
                }
            }
            if let Some(prev) = run.take() {
                consider(Req { set: prev, exact: !broken }, &mut best);
            }
            best
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The groups a pack's first rule requires, as text.
    fn groups_of(detection: &str) -> Vec<Vec<String>> {
        let text = format!("title: t\nlogsource: {{category: process_creation}}\ndetection:\n{detection}");
        let (engine, report) =
            crate::Builder::new().config(crate::Config::new().frequency_model(None)).add_source("t.yml", &text).build();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let id = engine.rules().next().expect("one rule").0;
        engine.witnesses(id).into_iter().map(|g| g.split(" | ").map(str::to_string).collect()).collect()
    }

    #[test]
    fn witnesses_never_come_from_negations_or_one_side_of_an_or() {
        // A literal under `not` holds when absent: no witness.
        assert!(groups_of("  a: {CommandLine|contains: mimikatz}\n  condition: not a\n").is_empty());
        // `or`: one group covering both sides, never one side alone.
        let g = groups_of(
            "  a: {CommandLine|contains: mimikatz}\n  b: {Image|endswith: '\\procdump.exe'}\n  condition: a or b\n",
        );
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].len(), 2, "{g:?}");
        // An `or` with a side that has no usable atom has no group at all.
        assert!(
            groups_of(
                "  a: {CommandLine|contains: mimikatz}\n  b: {CommandLine|contains: '-e'}\n  condition: a or b\n"
            )
            .is_empty()
        );
        // `and`: any side may serve, here the only literal one.
        let g = groups_of("  a: {CommandLine|contains: mimikatz}\n  f: {User: null}\n  condition: a and not f\n");
        assert_eq!(g, [["CommandLine contains \"mimikatz\""]]);
        // A regex literal set with one unusable member is dropped whole.
        assert!(groups_of("  a: {CommandLine|re: '\\s(-u|--user)\\s*:'}\n  condition: a\n").is_empty());
    }

    #[test]
    fn regex_literals_are_sound_and_bounded() {
        let none = ReFlags::default();
        assert_eq!(regex_literals(r"mimikatz\.exe", none), ["mimikatz.exe"]);
        let mut alt = regex_literals(r"(?:foo|barbaz)\d+", none);
        alt.sort();
        assert_eq!(alt, ["barbaz", "foo"]);
        assert!(regex_literals(r".{1000,}", none).is_empty());
        assert!(regex_literals(r"a?b?", none).is_empty(), "a regex that can match empty has no witness");
        let ci = regex_literals(r"(?i)invoke-", none);
        assert_eq!(ci, ["invoke-"]);
        assert_eq!(regex_literals(r"\w+`(?:\w+|-|.)`[\w+|\s]", none), ["`"]);
        assert_eq!(regex_literals(r"\d{2}(?:abc|abd)\d", none), ["abc", "abd"]);
        assert_eq!(regex_literals(r"\d+foo\d+", none), ["foo"]);
        // A group that starts with a class is not exactly its literal: no "regadd".
        assert_eq!(regex_literals(r"reg(\s+add)", none), ["reg"]);
        assert_eq!(required(&regex_syntax::Parser::new().parse(r"x(\s+add)").unwrap()), Some(vec!["add".to_string()]));
        assert!(regex_literals(r"(?:a|\d)+", none).is_empty(), "a branch with no literal requires nothing");
    }
}
