//! Why a rule did or did not match an event.
//!
//! [`Engine::explain`](crate::Engine::explain) lowers the rule again, search
//! identifier by search identifier, item by item and value by value, with the
//! very lowering the engine was built with (same placeholders, same limits),
//! and evaluates every piece with the [`reference`](mod@crate::reference) evaluator. The verdict it
//! reports is therefore exact: [`Explanation::matched`] is the reference
//! evaluator's answer for the whole rule (meta filters included), and the
//! search results combine, through the rule's own condition, into
//! [`Explanation::detection_matched`].
//!
//! On top of the exact part sits one heuristic, used only to choose what to
//! show for a miss: the *nearest miss*. Among the branches of a failed search
//! it picks the one with the most satisfied items (then the most characters
//! in common with the event); among the values of a failed item, the value
//! whose literal shares the longest common substring with the event's value.
//!
//! The module is pure: no I/O, the event comes in as an [`Event`], the result
//! is a plain structure with a text rendering (its `Display`); other output
//! formats are built by the caller.

use std::collections::HashMap;
use std::fmt::{self, Write};

use crate::config::Config;
use crate::event::{Event, Value};
use crate::exec::{Engine, RuleId};
use crate::front::condition::{self, Ast, AstKind, Quantifier};
use crate::front::modifier::Modifier;
use crate::ir::{
    BranchParts, Case, CmpOp, Expr, FieldId, FieldTable, ItemParts, LoadedRule, Placeholders, Position, Pred, Shape,
    Target, Test, Token, lower_parts,
};
use crate::reference;

/// Event values longer than this are shown as an excerpt around the part
/// they have in common with the rule.
const EXCERPT_CHARS: usize = 100;
/// Longest common substrings are searched in at most this many characters
/// of an event value (the search is quadratic).
const SEARCH_CHARS: usize = 4096;
/// Fewer characters in common than this are not worth showing.
const MIN_COMMON: usize = 3;
/// At most this many alternatives of an expansion are listed.
const LISTED_VARIANTS: usize = 5;

/// Why one rule did or did not match one event.
#[derive(Clone, Debug)]
pub struct Explanation {
    /// The rule's title.
    pub title: String,
    /// The rule's id.
    pub id: Option<String>,
    /// The verdict of the reference evaluator for the whole rule, meta
    /// filters included.
    pub matched: bool,
    /// The value of the rule's detection condition alone (no filters).
    pub detection_matched: bool,
    /// The condition(s) as written (several conditions are OR-ed).
    pub conditions: Vec<String>,
    /// Titles of the meta filters AND-ed onto the rule.
    pub filters: Vec<String>,
    /// Every search identifier, in document order.
    pub searches: Vec<SearchExplanation>,
    /// For a detection that did not match: the identifiers whose value made
    /// the condition false (`value: false` where the condition needed it
    /// true, `value: true` where it negates it).
    pub failed: Vec<Blame>,
    /// Set when the rule could not be explained piece by piece (the verdict
    /// is still exact).
    pub note: Option<String>,
}

/// A search identifier that made a condition false.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blame {
    /// The identifier.
    pub search: String,
    /// Its value (the condition needed the opposite).
    pub value: bool,
}

/// One search identifier (selection) and its result.
#[derive(Clone, Debug)]
pub struct SearchExplanation {
    /// The identifier as written, e.g. `selection_img`.
    pub name: String,
    /// Its value: true if any branch matched.
    pub matched: bool,
    /// Its branches: one for a map, several for a list of maps or keywords.
    pub branches: Vec<BranchExplanation>,
    /// The branch to show: the first that matched, or the nearest miss.
    pub shown: usize,
}

/// One branch of a search: the AND of its items.
#[derive(Clone, Debug)]
pub struct BranchExplanation {
    /// True if every item matched.
    pub matched: bool,
    /// The items (a keyword branch has one item, with no field).
    pub items: Vec<ItemExplanation>,
}

/// One `field|modifiers: values` item, or one keyword.
#[derive(Clone, Debug)]
pub struct ItemExplanation {
    /// The key as written (`CommandLine|contains|windash`), or `keyword`.
    pub key: String,
    /// The field; `None` for keywords (which search every value of the event).
    pub field: Option<String>,
    /// The item's value after `all` and `neq`.
    pub matched: bool,
    /// `|all`: every value must match (otherwise any one).
    pub all: bool,
    /// `|neq`: the item holds when no value matches.
    pub neq: bool,
    /// Each value of the item.
    pub values: Vec<ValueExplanation>,
    /// The event's values for the field as text (`None`: the field is
    /// missing; null values are left out). For keywords, every value.
    pub event_values: Option<Vec<String>>,
}

/// One value of an item.
#[derive(Clone, Debug)]
pub struct ValueExplanation {
    /// The value as written in the rule (`null` for null).
    pub written: String,
    /// True if the value (any of its alternatives) matched.
    pub matched: bool,
    /// What the value tests, one entry per alternative of an expansion
    /// (`windash`, `base64offset`, placeholders), otherwise one.
    pub wants: Vec<Want>,
    /// The alternative that matched, and the event value it matched.
    pub matched_by: Option<(usize, Option<String>)>,
    /// For a value that did not match: the nearest alternative.
    pub nearest: Option<NearMiss>,
}

/// What one alternative of a value tests.
#[derive(Clone, Debug)]
pub struct Want {
    /// As a phrase completing "the rule wants it to …", e.g. `end with '\x.exe'`.
    pub description: String,
    /// The literal or pattern alone, for lists of variants, e.g. `'\x.exe'`.
    pub text: String,
}

/// The nearest miss of a value that did not match.
#[derive(Clone, Debug)]
pub struct NearMiss {
    /// Index into [`ValueExplanation::wants`].
    pub alternative: usize,
    /// The event value compared (`None` if the field is missing).
    pub event_value: Option<String>,
    /// The longest text the event value has in common with the wanted
    /// literal (as it appears in the event); empty if nothing useful.
    pub common: String,
    /// Characters in common (summed over the literals of a pattern).
    pub score: usize,
}

impl Engine {
    /// Why rule `id` does or does not match `event`: per search identifier
    /// its value, which field, value and modifier made it true, or the
    /// nearest miss. The verdict is the reference evaluator's; see
    /// [`explain`](crate::explain).
    ///
    /// ```
    /// let rule = "title: t\nlogsource: {category: process_creation}\ndetection:\n  sel: {Image|endswith: '\\\\whoami.exe'}\n  condition: sel\n";
    /// let (engine, _) = sigmata::Builder::new().add_source("t.yml", rule).build();
    /// let id = engine.rules().next().unwrap().0;
    /// let e = engine.explain(id, &serde_json::json!({"Image": "C:\\who.exe"}));
    /// assert!(!e.matched);
    /// assert_eq!(e.failed[0].search, "sel");
    /// ```
    pub fn explain(&self, id: RuleId, event: &dyn Event) -> Explanation {
        let (placeholders, config) = self.lowering();
        explain(self.loaded(id), self.fields(), placeholders, config, event)
    }
}

/// Explains rule `lr` on `event`; see the module docs.
pub(crate) fn explain(
    lr: &LoadedRule,
    fields: &FieldTable,
    placeholders: &Placeholders,
    config: &Config,
    event: &dyn Event,
) -> Explanation {
    let rule = &lr.rule;
    let matched = reference::eval(&lr.ir.expr, fields, event);
    let mut out = Explanation {
        title: rule.title.clone(),
        id: rule.id.clone(),
        matched,
        detection_matched: matched,
        conditions: rule.detection.conditions.clone(),
        filters: lr.filters.clone(),
        searches: Vec::new(),
        failed: Vec::new(),
        note: None,
    };
    // Lowering into a copy of the engine's table: every field of the rule is
    // in it already, so ids agree with the engine's (a `Record` event needs that).
    let mut table = fields.clone();
    let parts = match lower_parts(&rule.detection, &mut table, placeholders, config) {
        Ok(p) => p,
        Err(e) => {
            out.note = Some(format!("the rule cannot be explained search by search: {}", e.message()));
            return out;
        }
    };
    out.searches = parts
        .iter()
        .map(|s| {
            let branches: Vec<BranchExplanation> = s.branches.iter().map(|b| branch(b, &table, event)).collect();
            let matched = branches.iter().any(|b| b.matched);
            let shown =
                if matched { branches.iter().position(|b| b.matched).unwrap_or(0) } else { nearest_branch(&branches) };
            SearchExplanation { name: s.name.clone(), matched, branches, shown }
        })
        .collect();
    let values: HashMap<&str, bool> = out.searches.iter().map(|s| (s.name.as_str(), s.matched)).collect();
    let names: Vec<&str> = out.searches.iter().map(|s| s.name.as_str()).collect();
    let mut asts = Vec::new();
    for text in &rule.detection.conditions {
        match condition::parse(text, config.max_condition_depth) {
            Ok(ast) => asts.push(ast),
            Err(e) => {
                out.note = Some(format!("the condition cannot be explained: {}", e.message()));
                return out;
            }
        }
    }
    let cx = Cx { values: &values, names: &names };
    out.detection_matched = asts.iter().any(|a| cx.value(a));
    if !out.detection_matched {
        let mut failed = Vec::new();
        for a in &asts {
            cx.blame(a, true, &mut failed);
        }
        for b in failed {
            if !out.failed.contains(&b) {
                out.failed.push(b);
            }
        }
    }
    out
}

/// The condition evaluated over search results.
struct Cx<'a> {
    values: &'a HashMap<&'a str, bool>,
    names: &'a [&'a str],
}

/// An operand of a condition node: a sub-tree or an identifier chosen by `x of`.
enum Operand<'a> {
    Ast(&'a Ast),
    Name(&'a str),
}

impl<'a> Cx<'a> {
    fn value(&self, ast: &Ast) -> bool {
        match &ast.kind {
            AstKind::Ident(n) => self.values.get(n.as_str()).copied().unwrap_or(false),
            AstKind::Not(x) => !self.value(x),
            AstKind::And(xs) => xs.iter().all(|x| self.value(x)),
            AstKind::Or(xs) => xs.iter().any(|x| self.value(x)),
            AstKind::Of { quantifier, target } => {
                let mut chosen = self.chosen(target).map(|n| self.values.get(n).copied().unwrap_or(false));
                match quantifier {
                    Quantifier::One => chosen.any(|v| v),
                    Quantifier::All => chosen.all(|v| v),
                }
            }
        }
    }

    /// The identifiers an `x of` target ranges over (as lowering chooses them).
    fn chosen<'b>(&'b self, target: &'b condition::Target) -> impl Iterator<Item = &'a str> + 'b {
        self.names.iter().copied().filter(move |n| match target {
            condition::Target::Them => !n.starts_with('_'),
            condition::Target::Pattern(p) => {
                (!n.starts_with('_') || p.starts_with('_')) && condition::pattern_matches(p, n)
            }
        })
    }

    fn operand_value(&self, o: &Operand<'_>) -> bool {
        match o {
            Operand::Ast(a) => self.value(a),
            Operand::Name(n) => self.values.get(n).copied().unwrap_or(false),
        }
    }

    /// Records why `ast`, which the condition needs to be `want`, is not.
    fn blame(&self, ast: &Ast, want: bool, out: &mut Vec<Blame>) {
        if self.value(ast) == want {
            return;
        }
        let operands: Vec<Operand<'_>> = match &ast.kind {
            AstKind::Ident(n) => {
                out.push(Blame { search: n.clone(), value: !want });
                return;
            }
            AstKind::Not(x) => return self.blame(x, !want, out),
            AstKind::And(xs) | AstKind::Or(xs) => xs.iter().map(Operand::Ast).collect(),
            AstKind::Of { target, .. } => self.chosen(target).map(Operand::Name).collect(),
        };
        // A false AND (or a true OR) is explained by its operands of the
        // wrong value; a false OR (or a true AND) by all of them.
        for o in &operands {
            if self.operand_value(o) != want {
                match o {
                    Operand::Ast(a) => self.blame(a, want, out),
                    Operand::Name(n) => out.push(Blame { search: n.to_string(), value: !want }),
                }
            }
        }
    }
}

fn nearest_branch(branches: &[BranchExplanation]) -> usize {
    let key = |b: &BranchExplanation| {
        let satisfied = b.items.iter().filter(|i| i.matched).count();
        let common: usize = b.items.iter().filter(|i| !i.matched).map(item_score).sum();
        (satisfied, common)
    };
    let mut best = 0;
    for (i, b) in branches.iter().enumerate() {
        if key(b) > key(&branches[best]) {
            best = i;
        }
    }
    best
}

fn item_score(i: &ItemExplanation) -> usize {
    i.values.iter().filter_map(|v| v.nearest.as_ref().map(|n| n.score)).max().unwrap_or(0)
}

fn branch(b: &BranchParts, fields: &FieldTable, event: &dyn Event) -> BranchExplanation {
    let items: Vec<ItemExplanation> = match b {
        BranchParts::Items(items) => items.iter().map(|i| item(i, fields, event)).collect(),
        BranchParts::Keyword { text, expr } => {
            let keyword = ItemParts {
                key: "keyword".to_string(),
                target: Target::Keywords,
                all: false,
                neq: false,
                values: vec![(text.clone(), expr.clone())],
            };
            vec![item(&keyword, fields, event)]
        }
    };
    BranchExplanation { matched: items.iter().all(|i| i.matched), items }
}

/// The text of each non-null value of a field (`None` if it is missing), or
/// of every value of the event for keywords.
fn event_texts(target: Target, fields: &FieldTable, event: &dyn Event) -> Option<Vec<String>> {
    let mut texts = Vec::new();
    let mut push = |v: Value<'_>| {
        let mut s = String::new();
        if v.write_text(&mut s) {
            texts.push(s);
        }
    };
    match target {
        Target::Field(id) => {
            if !event.field(id, fields.name(id), &mut push) {
                return None;
            }
        }
        Target::Keywords => event.values(&mut push),
    }
    Some(texts)
}

fn item(ip: &ItemParts, fields: &FieldTable, event: &dyn Event) -> ItemExplanation {
    let texts = event_texts(ip.target, fields, event);
    let values: Vec<ValueExplanation> =
        ip.values.iter().map(|(written, expr)| value(written, expr, ip.target, fields, event, &texts)).collect();
    let combined = if ip.all { values.iter().all(|v| v.matched) } else { values.iter().any(|v| v.matched) };
    ItemExplanation {
        key: ip.key.clone(),
        field: match ip.target {
            Target::Field(id) => Some(fields.name(id).to_string()),
            Target::Keywords => None,
        },
        matched: combined != ip.neq,
        all: ip.all,
        neq: ip.neq,
        values,
        event_values: texts,
    }
}

/// An event of one value: which of a field's values (or of the event's
/// values, for keywords) a test matched.
struct OneValue<'a> {
    field: Option<FieldId>,
    text: &'a str,
}

impl Event for OneValue<'_> {
    fn field(&self, id: FieldId, _name: &str, visit: &mut dyn FnMut(Value<'_>)) -> bool {
        if self.field == Some(id) {
            visit(Value::Str(self.text));
            true
        } else {
            false
        }
    }

    fn values(&self, visit: &mut dyn FnMut(Value<'_>)) {
        visit(Value::Str(self.text));
    }
}

fn value(
    written: &str,
    expr: &Expr,
    target: Target,
    fields: &FieldTable,
    event: &dyn Event,
    texts: &Option<Vec<String>>,
) -> ValueExplanation {
    let matched = reference::eval(expr, fields, event);
    let mut preds: Vec<&Pred> = Vec::new();
    expr.for_each_pred(&mut |p| preds.push(p));
    let wants: Vec<Want> = preds.iter().map(|p| want(p, fields)).collect();
    let field = match target {
        Target::Field(id) => Some(id),
        Target::Keywords => None,
    };
    let per_value = |p: &Pred| matches!(p.test, Test::Str { .. } | Test::Regex { .. } | Test::Cmp { .. });
    let mut matched_by = None;
    if matched {
        for (i, p) in preds.iter().enumerate() {
            if !reference::pred(p, fields, event) {
                continue;
            }
            // Which value matched, for tests of single values.
            let which = if per_value(p) {
                texts.iter().flatten().find(|t| reference::pred(p, fields, &OneValue { field, text: t })).cloned()
            } else {
                texts.as_ref().and_then(|t| t.first().cloned())
            };
            matched_by = Some((i, which));
            break;
        }
    }
    let nearest = if matched {
        None
    } else {
        let mut best: Option<NearMiss> = None;
        for (i, p) in preds.iter().enumerate() {
            let candidate = near_miss(i, p, texts);
            if best.as_ref().is_none_or(|b| candidate.score > b.score) {
                best = Some(candidate);
            }
        }
        best
    };
    ValueExplanation { written: written.to_string(), matched, wants, matched_by, nearest }
}

/// The best event value for alternative `p`, by characters in common with
/// its literals.
fn near_miss(alternative: usize, p: &Pred, texts: &Option<Vec<String>>) -> NearMiss {
    let lits: Vec<String> = match &p.test {
        Test::Str { pattern, .. } => pattern
            .tokens()
            .iter()
            .filter_map(|t| match t {
                Token::Lit(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut best = NearMiss { alternative, event_value: None, common: String::new(), score: 0 };
    let Some(texts) = texts else { return best };
    for (ti, t) in texts.iter().enumerate() {
        let mut score = 0;
        let mut longest = String::new();
        for l in &lits {
            let c = longest_common(t, l);
            score += c.chars().count();
            if c.chars().count() > longest.chars().count() {
                longest = c;
            }
        }
        if ti == 0 || score > best.score {
            best = NearMiss { alternative, event_value: Some(t.clone()), common: longest, score };
        }
    }
    // One or two characters in common say nothing (`\`, `.e`).
    if best.score < MIN_COMMON {
        best.common.clear();
        best.score = 0;
    }
    best
}

/// The longest substring of `text` (as written there) that equals a
/// substring of `lit` up to case.
fn longest_common(text: &str, lit: &str) -> String {
    let t: Vec<char> = text.chars().take(SEARCH_CHARS).collect();
    let tf: Vec<char> = t.iter().map(|c| crate::fold::fold_char(*c)).collect();
    let lf: Vec<char> = lit.chars().take(SEARCH_CHARS).map(crate::fold::fold_char).collect();
    let mut prev = vec![0usize; lf.len() + 1];
    let mut cur = vec![0usize; lf.len() + 1];
    let (mut best_len, mut best_end) = (0, 0);
    for i in 1..=tf.len() {
        for j in 1..=lf.len() {
            cur[j] = if tf[i - 1] == lf[j - 1] { prev[j - 1] + 1 } else { 0 };
            if cur[j] > best_len {
                best_len = cur[j];
                best_end = i;
            }
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    t[best_end - best_len..best_end].iter().collect()
}

/// A value quoted for display: single quotes, control characters escaped.
fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn op_text(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Lt => "<",
        CmpOp::Lte => "<=",
        CmpOp::Gt => ">",
        CmpOp::Gte => ">=",
        CmpOp::Eq => "==",
    }
}

fn want(p: &Pred, fields: &FieldTable) -> Want {
    let cased = |c: Case| if c == Case::Sensitive { " (case-sensitive)" } else { "" };
    let (description, text) = match &p.test {
        Test::Str { pattern, case } => {
            let (verb, text) = match pattern.shape() {
                Shape::Exact(s) => ("equal", q(s)),
                Shape::Prefix(s) => ("start with", q(s)),
                Shape::Suffix(s) => ("end with", q(s)),
                Shape::Contains(s) => ("contain", q(s)),
                Shape::Any => ("have any value", String::new()),
                Shape::Glob => ("match", q(&pattern.to_sigma())),
            };
            let description = if text.is_empty() { verb.to_string() } else { format!("{verb} {text}{}", cased(*case)) };
            let text = if text.is_empty() { q(&pattern.to_sigma()) } else { text };
            (description, text)
        }
        Test::Regex { pattern, flags } => {
            let mut fl = String::new();
            for (on, ch) in [(flags.ignore_case, 'i'), (flags.multi_line, 'm'), (flags.dot_all, 's')] {
                if on {
                    fl.push(ch);
                }
            }
            let fl = if fl.is_empty() { String::new() } else { format!(" (flags {fl})") };
            (format!("match the regex {}{fl}", q(pattern)), q(pattern))
        }
        Test::Null => ("be null or missing".to_string(), "null".to_string()),
        Test::Exists(true) => ("exist".to_string(), "exists".to_string()),
        Test::Exists(false) => ("be missing".to_string(), "missing".to_string()),
        Test::Cmp { op, value } => {
            (format!("be a number {} {value}", op_text(*op)), format!("{} {value}", op_text(*op)))
        }
        Test::Cidr(net) => (format!("be an IP address in {net}"), net.to_string()),
        Test::FieldRef { other, position, case } => {
            let verb = match position {
                Position::Exact => "equal",
                Position::Prefix => "start with",
                Position::Suffix => "end with",
                Position::Contains => "contain",
            };
            let other = fields.name(*other);
            (format!("{verb} the value of field {other}{}", cased(*case)), other.to_string())
        }
        Test::TimePart { part, op, value } => {
            let part = format!("{part:?}").to_lowercase();
            (format!("have its {part} {} {value}", op_text(*op)), format!("{part} {} {value}", op_text(*op)))
        }
    };
    Want { description, text }
}

/// An excerpt of an event value: whole if short, else a window around `common`.
fn excerpt(value: &str, common: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= EXCERPT_CHARS {
        return q(value);
    }
    let at = if common.is_empty() { 0 } else { value.find(common).map_or(0, |b| value[..b].chars().count()) };
    let common_len = common.chars().count();
    let start = (at + common_len / 2).saturating_sub(EXCERPT_CHARS / 2).min(chars.len() - EXCERPT_CHARS);
    let end = start + EXCERPT_CHARS;
    let body: String = chars[start..end].iter().collect();
    let quoted = q(&body);
    format!("{}{}{}", if start > 0 { "…" } else { "" }, quoted, if end < chars.len() { "…" } else { "" })
}

impl ItemExplanation {
    fn subject(&self) -> String {
        self.field.clone().unwrap_or_else(|| "a value of the event".to_string())
    }

    fn variants_label(&self) -> &'static str {
        let has = |m: Modifier| self.key.split('|').skip(1).any(|k| k == m.to_string());
        if has(Modifier::Windash) {
            "windash variants"
        } else if has(Modifier::Base64Offset) {
            "base64offset variants"
        } else if has(Modifier::Expand) {
            "placeholder values"
        } else {
            "variants"
        }
    }

    /// "the rule wants it to contain ' -e ' (windash variants: …)".
    fn wants_phrase(&self, v: &ValueExplanation, alternative: usize) -> String {
        let Some(w) = v.wants.get(alternative) else {
            return format!("the rule's value {} has no alternative (an empty expansion)", q(&v.written));
        };
        let mut s = format!("the rule wants it to {}", w.description);
        if v.wants.len() > 1 {
            let listed: Vec<&str> = v.wants.iter().take(LISTED_VARIANTS).map(|w| w.text.as_str()).collect();
            let more =
                if v.wants.len() > LISTED_VARIANTS { format!(", … {} in all", v.wants.len()) } else { String::new() };
            let _ = write!(s, " ({}: {}{more})", self.variants_label(), listed.join(", "));
        }
        s
    }

    /// Why value `v` (which did not match) failed, as one sentence.
    fn miss_sentence(&self, v: &ValueExplanation) -> String {
        let Some(n) = &v.nearest else {
            return format!("the rule's value {} has no alternative (an empty expansion)", q(&v.written));
        };
        let wants = self.wants_phrase(v, n.alternative);
        let subject = self.subject();
        match &n.event_value {
            None if self.field.is_some() && self.event_values.is_none() => {
                format!("the event has no {subject}; {wants}")
            }
            None => match &self.field {
                Some(f) => format!("{f} is null; {wants}"),
                None => format!("the event has no value; {wants}"),
            },
            Some(ev) if n.common.is_empty() => format!("{subject} is {}; {wants}", excerpt(ev, "")),
            Some(ev) => {
                format!("{subject} {} contains {} but {wants}", excerpt(ev, &n.common), q(&n.common))
            }
        }
    }

    fn matched_sentence(&self, v: &ValueExplanation) -> String {
        let (alt, which) = v.matched_by.clone().unwrap_or((0, None));
        if self.field.is_some() && self.event_values.is_none() {
            // `null`, `exists: false`: absence is what matched.
            return format!("{} matched: the event has no {}", q(&v.written), self.subject());
        }
        let mut s = format!("{} matched {}", q(&v.written), self.subject());
        if let Some(w) = &which {
            let _ = write!(s, " {}", excerpt(w, ""));
        }
        if v.wants.len() > 1
            && let Some(w) = v.wants.get(alt)
            && w.text != q(&v.written)
        {
            let _ = write!(s, " as {}", w.text);
        }
        s
    }

    fn write(&self, f: &mut fmt::Formatter<'_>, pad: &str) -> fmt::Result {
        let verdict = if self.matched { "true" } else { "false" };
        write!(f, "{pad}{}: {verdict}: ", self.key)?;
        let n = self.values.len();
        let matched: Vec<&ValueExplanation> = self.values.iter().filter(|v| v.matched).collect();
        let failed: Vec<&ValueExplanation> = self.values.iter().filter(|v| !v.matched).collect();
        let event_value = || match &self.event_values {
            None => format!("the event has no {}", self.subject()),
            Some(vs) if vs.is_empty() => format!("{} is null", self.subject()),
            Some(vs) => format!("{} is {}", self.subject(), excerpt(&vs[0], "")),
        };
        match (self.matched, self.neq) {
            (true, false) if self.all && n > 1 => {
                writeln!(f, "all {n} values matched: {}", event_value())
            }
            (true, false) => writeln!(f, "{}", matched.first().map(|v| self.matched_sentence(v)).unwrap_or_default()),
            (true, true) => {
                let what = if n == 1 {
                    format!("{} did not match", q(&self.values[0].written))
                } else {
                    format!("none of {n} values matched")
                };
                writeln!(f, "{what}, as neq wants: {}", event_value())
            }
            (false, true) => {
                let v = matched.first().map(|v| self.matched_sentence(v)).unwrap_or_default();
                writeln!(f, "{v}, but neq wants no match")
            }
            (false, false) if self.all && n > 1 => {
                writeln!(f, "{} of {n} values did not match", failed.len())?;
                for v in failed.iter().take(3) {
                    writeln!(f, "{pad}  {}: {}", q(&v.written), self.miss_sentence(v))?;
                }
                if failed.len() > 3 {
                    writeln!(f, "{pad}  … and {} more", failed.len() - 3)?;
                }
                Ok(())
            }
            (false, false) => {
                let best = failed
                    .iter()
                    .enumerate()
                    .max_by_key(|(i, v)| (v.nearest.as_ref().map_or(0, |n| n.score), std::cmp::Reverse(*i)))
                    .map(|(_, v)| *v);
                let Some(best) = best else { return writeln!(f, "no value") };
                if n > 1 {
                    write!(f, "none of {n} values matched; nearest {}: ", q(&best.written))?;
                }
                writeln!(f, "{}", self.miss_sentence(best))
            }
        }
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.matched { "matched" } else { "did not match" };
        match &self.id {
            Some(id) => writeln!(f, "rule '{}' ({id}): {verdict}", self.title)?,
            None => writeln!(f, "rule '{}': {verdict}", self.title)?,
        }
        for c in &self.conditions {
            writeln!(f, "  condition: {c}")?;
        }
        if !self.filters.is_empty() {
            writeln!(f, "  filters applied: {}", self.filters.join(", "))?;
        }
        if self.detection_matched && !self.matched {
            writeln!(f, "  the detection matched, but a meta filter excluded the event")?;
        }
        if !self.failed.is_empty() {
            let reasons: Vec<String> = self
                .failed
                .iter()
                .map(|b| {
                    if b.value {
                        format!("{} is true (the condition excludes it)", b.search)
                    } else {
                        format!("{} is false", b.search)
                    }
                })
                .collect();
            writeln!(f, "  failed: {}", reasons.join("; "))?;
        }
        if let Some(note) = &self.note {
            writeln!(f, "  note: {note}")?;
        }
        for s in &self.searches {
            let n = s.branches.len();
            let which = match (n, s.matched) {
                (1, _) => String::new(),
                (_, true) => format!(" (branch {} of {n} matched)", s.shown + 1),
                (_, false) => format!(" (no branch of {n} matched; nearest: branch {})", s.shown + 1),
            };
            writeln!(f, "  {}: {}{which}", s.name, s.matched)?;
            if let Some(b) = s.branches.get(s.shown) {
                for item in &b.items {
                    item.write(f, "    ")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_common_ignores_case_and_keeps_the_event_text() {
        assert_eq!(longest_common("PowerShell -EncodedCommand", " -enc "), " -Enc");
        assert_eq!(longest_common("abc", "xyz"), "");
        assert_eq!(longest_common("", "x"), "");
    }

    #[test]
    fn excerpts_centre_on_the_common_part() {
        let long = format!("{}needle{}", "a".repeat(200), "b".repeat(200));
        let e = excerpt(&long, "needle");
        assert!(e.starts_with("…'") && e.ends_with("'…") && e.contains("needle"), "{e}");
        assert_eq!(excerpt("short", "x"), "'short'");
    }

    #[test]
    fn quoting_escapes_control_characters() {
        assert_eq!(q("a\nb\u{1}"), "'a\\nb\\u{1}'");
    }
}
