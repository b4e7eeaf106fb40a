//! Stages 5 and 6: the compiled [`Engine`] and evaluation.
//!
//! The engine is immutable once built, shares its state behind an `Arc`
//! (cloning is cheap) and is `Send + Sync`. Per-thread scratch lives in a
//! [`Cache`] the caller owns and passes to [`Engine::matches_with`]; with a
//! warm cache, evaluation does not allocate. Evaluation never fails and
//! never panics: every failure happened at build time.
//!
//! Each field a rule uses is looked up once per event (lazily, the first
//! time a predicate needs it) and its values kept in the cache with their
//! case-folded text, so a field read by a hundred rules costs one lookup and
//! one fold.

use std::sync::Arc;

use memchr::memmem;
use regex_automata::meta::Regex;

use crate::config::Config;
use crate::error::{Error, ErrorKind};
use crate::event::{Event, Value};
use crate::fold;
use crate::ir::{
    Case, CmpOp, Expr, ExprKind, FieldId, FieldTable, Pattern, Position, ReFlags, RuleIr, Shape,
    Target, Test, TimePart, Token,
};
use crate::rule::Rule;

/// Identifies a rule inside one [`Engine`] (its index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleId(u32);

impl RuleId {
    /// The index of the rule.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A rule as loaded: the document, its IR, and the filters AND-ed onto it.
#[derive(Clone, Debug)]
pub struct LoadedRule {
    /// The rule document.
    pub rule: Rule,
    /// Its lowered form (filters included).
    pub ir: RuleIr,
    /// Titles of the filters applied to it.
    pub filters: Vec<String>,
}

/// The rules that matched one event, in rule order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MatchSet {
    ids: Vec<RuleId>,
}

impl MatchSet {
    /// An empty set.
    pub fn new() -> MatchSet {
        MatchSet::default()
    }

    /// Empties the set, keeping its allocation.
    pub fn clear(&mut self) {
        self.ids.clear();
    }

    /// The matched rules, in rule order.
    pub fn iter(&self) -> impl Iterator<Item = RuleId> + '_ {
        self.ids.iter().copied()
    }

    /// Number of matched rules.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True if no rule matched.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// True if `id` matched.
    pub fn contains(&self, id: RuleId) -> bool {
        self.ids.binary_search(&id).is_ok()
    }
}

/// A compiled rule pack.
///
/// Immutable once built; cloning is cheap (the state is shared behind an
/// `Arc`) and it is `Send + Sync`. Per-thread scratch lives in a [`Cache`]
/// passed to [`Engine::matches_with`]; with a warm cache evaluation does not
/// allocate. Evaluation never fails and never panics.
#[derive(Clone, Debug)]
pub struct Engine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    rules: Vec<LoadedRule>,
    fields: FieldTable,
    programs: Vec<Node>,
    preds: Vec<CPred>,
}

/// Per-thread scratch space for evaluation; see [`Engine::create_cache`].
#[derive(Clone, Debug)]
pub struct Cache {
    generation: u64,
    slots: Vec<Slot>,
    keywords: Slot,
}

#[derive(Clone, Debug, Default)]
struct Slot {
    generation: u64,
    present: bool,
    len: usize,
    values: Vec<SlotValue>,
}

#[derive(Clone, Debug, Default)]
struct SlotValue {
    kind: Kind,
    text: String,
    folded: String,
    folded_ready: bool,
    number: Option<f64>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Kind {
    #[default]
    Null,
    Text,
    Object,
}

impl SlotValue {
    fn set(&mut self, v: Value<'_>) {
        self.text.clear();
        self.folded_ready = false;
        self.number = v.as_number();
        self.kind = match v {
            Value::Null => Kind::Null,
            Value::Object => Kind::Object,
            v => {
                v.write_text(&mut self.text);
                Kind::Text
            }
        };
    }

    fn folded(&mut self) -> &str {
        if !self.folded_ready {
            fold::fold_into(&self.text, &mut self.folded);
            self.folded_ready = true;
        }
        &self.folded
    }
}

impl Slot {
    fn fill(&mut self, generation: u64, f: impl FnOnce(&mut dyn FnMut(Value<'_>)) -> bool) {
        self.generation = generation;
        self.len = 0;
        let values = &mut self.values;
        let len = &mut self.len;
        self.present = f(&mut |v| {
            if *len == values.len() {
                values.push(SlotValue::default());
            }
            values[*len].set(v);
            *len += 1;
        });
    }
}

/// A compiled rule condition.
#[derive(Clone, Debug)]
enum Node {
    Const(bool),
    Pred(u32),
    Not(Box<Node>),
    And(Box<[Node]>),
    Or(Box<[Node]>),
}

#[derive(Debug)]
struct CPred {
    target: Target,
    test: CTest,
}

#[derive(Debug)]
enum CTest {
    Null,
    Exists(bool),
    Str(StrTest),
    Regex(Box<Regex>),
    Cmp(CmpOp, f64),
    Cidr(ipnet::IpNet),
    FieldRef {
        other: FieldId,
        position: Position,
        case: Case,
    },
    Time(TimePart, CmpOp, i64),
}

/// A wildcard pattern compiled for one of its common shapes.
#[derive(Debug)]
struct StrTest {
    matcher: StrMatch,
    fold: bool,
}

#[derive(Debug)]
enum StrMatch {
    Exact(Box<str>),
    Prefix(Box<str>),
    Suffix(Box<str>),
    Contains(Box<memmem::Finder<'static>>),
    Any,
    Glob(Pattern),
}

impl StrTest {
    fn new(pattern: &Pattern, case: Case) -> StrTest {
        let fold = case == Case::Insensitive;
        let folded;
        let pattern = if fold {
            folded = Pattern::new(pattern.tokens().iter().map(|t| match t {
                Token::Lit(s) => Token::Lit(fold::fold_str(s).into_owned()),
                t => t.clone(),
            }));
            &folded
        } else {
            pattern
        };
        let matcher = match pattern.shape() {
            Shape::Exact(s) => StrMatch::Exact(s.into()),
            Shape::Prefix(s) => StrMatch::Prefix(s.into()),
            Shape::Suffix(s) => StrMatch::Suffix(s.into()),
            Shape::Contains(s) => {
                StrMatch::Contains(Box::new(memmem::Finder::new(s.as_bytes()).into_owned()))
            }
            Shape::Any => StrMatch::Any,
            Shape::Glob => StrMatch::Glob(pattern.clone()),
        };
        StrTest { matcher, fold }
    }

    fn matches(&self, text: &str) -> bool {
        match &self.matcher {
            StrMatch::Exact(s) => text == &**s,
            StrMatch::Prefix(s) => text.starts_with(&**s),
            StrMatch::Suffix(s) => text.ends_with(&**s),
            StrMatch::Contains(f) => f.find(text.as_bytes()).is_some(),
            StrMatch::Any => true,
            StrMatch::Glob(p) => p.matches(text),
        }
    }
}

fn compile_regex(pattern: &str, flags: ReFlags, config: &Config) -> Result<Regex, Error> {
    let syntax = regex_automata::util::syntax::Config::new()
        .case_insensitive(flags.ignore_case)
        .multi_line(flags.multi_line)
        .dot_matches_new_line(flags.dot_all);
    let meta = regex_automata::meta::Config::new()
        .nfa_size_limit(Some(config.regex_size_limit))
        .hybrid_cache_capacity(config.regex_cache_capacity);
    Regex::builder().syntax(syntax).configure(meta).build(pattern).map_err(|e| {
        if let Some(limit) = e.size_limit() {
            Error::limit_exceeded(
                "regex_size_limit",
                limit,
                format!("the regular expression {pattern:?} compiles to more than the limit of {limit} bytes"),
            )
        } else {
            Error::new(ErrorKind::Regex, format!("invalid regular expression {pattern:?}: {e}"))
        }
    })
}

impl Engine {
    pub(crate) fn compile(
        rules: Vec<LoadedRule>,
        fields: FieldTable,
        config: &Config,
    ) -> (Engine, Vec<(Rule, Error)>) {
        let mut preds = Vec::new();
        let mut programs = Vec::with_capacity(rules.len());
        let mut kept = Vec::with_capacity(rules.len());
        let mut errors = Vec::new();
        for r in rules {
            let mark = preds.len();
            match compile_expr(&r.ir.expr, &mut preds, config) {
                Ok(node) => {
                    programs.push(node);
                    kept.push(r);
                }
                Err(e) => {
                    preds.truncate(mark);
                    errors.push((r.rule, e));
                }
            }
        }
        (
            Engine {
                inner: Arc::new(Inner {
                    rules: kept,
                    fields,
                    programs,
                    preds,
                }),
            },
            errors,
        )
    }

    /// Number of rules in the engine.
    pub fn len(&self) -> usize {
        self.inner.rules.len()
    }

    /// True if the engine has no rules.
    pub fn is_empty(&self) -> bool {
        self.inner.rules.is_empty()
    }

    /// The rule with this id.
    pub fn rule(&self, id: RuleId) -> &Rule {
        &self.inner.rules[id.index()].rule
    }

    /// The rule with this id, with its IR and applied filters.
    pub fn loaded(&self, id: RuleId) -> &LoadedRule {
        &self.inner.rules[id.index()]
    }

    /// Every rule, in id order.
    pub fn rules(&self) -> impl Iterator<Item = (RuleId, &LoadedRule)> {
        self.inner
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| (RuleId(i as u32), r))
    }

    /// The field table the rules' IR refers to.
    pub fn fields(&self) -> &FieldTable {
        &self.inner.fields
    }

    /// Fresh scratch space for [`matches_with`](Engine::matches_with).
    pub fn create_cache(&self) -> Cache {
        Cache {
            generation: 0,
            slots: vec![Slot::default(); self.inner.fields.len()],
            keywords: Slot::default(),
        }
    }

    /// The rules matching `event`. Allocates; see [`matches_with`](Engine::matches_with).
    pub fn matches(&self, event: &dyn Event) -> MatchSet {
        let mut cache = self.create_cache();
        let mut out = MatchSet::new();
        self.matches_with(&mut cache, event, &mut out);
        out
    }

    /// Evaluates every rule against `event`, writing the matching rules to
    /// `out` (cleared first).
    pub fn matches_with(&self, cache: &mut Cache, event: &dyn Event, out: &mut MatchSet) {
        out.clear();
        cache.generation = cache.generation.wrapping_add(1);
        if cache.slots.len() < self.inner.fields.len() {
            cache.slots.resize(self.inner.fields.len(), Slot::default());
        }
        for (i, program) in self.inner.programs.iter().enumerate() {
            if self.eval(program, cache, event) {
                out.ids.push(RuleId(i as u32));
            }
        }
    }

    /// Evaluates one rule.
    pub fn is_match_rule(&self, id: RuleId, cache: &mut Cache, event: &dyn Event) -> bool {
        cache.generation = cache.generation.wrapping_add(1);
        if cache.slots.len() < self.inner.fields.len() {
            cache.slots.resize(self.inner.fields.len(), Slot::default());
        }
        self.eval(&self.inner.programs[id.index()], cache, event)
    }

    fn eval(&self, node: &Node, cache: &mut Cache, event: &dyn Event) -> bool {
        match node {
            Node::Const(b) => *b,
            Node::Pred(i) => self.eval_pred(&self.inner.preds[*i as usize], cache, event),
            Node::Not(x) => !self.eval(x, cache, event),
            Node::And(xs) => xs.iter().all(|x| self.eval(x, cache, event)),
            Node::Or(xs) => xs.iter().any(|x| self.eval(x, cache, event)),
        }
    }

    fn slot<'c>(&self, target: Target, cache: &'c mut Cache, event: &dyn Event) -> &'c mut Slot {
        let generation = cache.generation;
        match target {
            Target::Field(id) => {
                let slot = &mut cache.slots[id.index()];
                if slot.generation != generation {
                    let name = self.inner.fields.name(id);
                    slot.fill(generation, |visit| event.field(name, visit));
                }
                slot
            }
            Target::Keywords => {
                let slot = &mut cache.keywords;
                if slot.generation != generation {
                    slot.fill(generation, |visit| {
                        event.values(visit);
                        true
                    });
                }
                slot
            }
        }
    }

    fn eval_pred(&self, p: &CPred, cache: &mut Cache, event: &dyn Event) -> bool {
        if let CTest::FieldRef {
            other,
            position,
            case,
        } = &p.test
        {
            // Fill both slots, then read them together.
            self.slot(Target::Field(*other), cache, event);
            self.slot(p.target, cache, event);
            let Target::Field(me) = p.target else {
                return false;
            };
            let (a, b) = (me.index(), other.index());
            if a == b {
                let s = &mut cache.slots[a];
                return (0..s.len).any(|i| s.values[i].kind == Kind::Text);
            }
            let (mine, theirs) = two_mut(&mut cache.slots, a, b);
            return fieldref(mine, theirs, *position, *case);
        }
        let slot = self.slot(p.target, cache, event);
        let values = &mut slot.values[..slot.len];
        match &p.test {
            CTest::Null => !slot.present || values.iter().any(|v| v.kind == Kind::Null),
            CTest::Exists(want) => slot.present == *want,
            CTest::Str(t) => values.iter_mut().any(|v| {
                v.kind == Kind::Text && t.matches(if t.fold { v.folded() } else { &v.text })
            }),
            CTest::Regex(re) => values
                .iter()
                .any(|v| v.kind == Kind::Text && re.is_match(v.text.as_str())),
            CTest::Cmp(op, n) => values
                .iter()
                .any(|v| v.number.is_some_and(|x| op.apply(x, *n))),
            CTest::Cidr(net) => values.iter().any(|v| {
                v.kind == Kind::Text
                    && Value::Str(&v.text)
                        .as_ip()
                        .is_some_and(|ip| net.contains(&ip))
            }),
            CTest::Time(part, op, n) => values.iter().any(|v| {
                v.kind == Kind::Text
                    && Value::Str(&v.text)
                        .time_part(*part)
                        .is_some_and(|x| op.apply(x, *n))
            }),
            CTest::FieldRef { .. } => false,
        }
    }
}

fn two_mut(slots: &mut [Slot], a: usize, b: usize) -> (&mut Slot, &mut Slot) {
    if a < b {
        let (lo, hi) = slots.split_at_mut(b);
        (&mut lo[a], &mut hi[0])
    } else {
        let (lo, hi) = slots.split_at_mut(a);
        (&mut hi[0], &mut lo[b])
    }
}

fn fieldref(mine: &mut Slot, theirs: &mut Slot, position: Position, case: Case) -> bool {
    let fold = case == Case::Insensitive;
    for i in 0..mine.len {
        if mine.values[i].kind != Kind::Text {
            continue;
        }
        for j in 0..theirs.len {
            if theirs.values[j].kind != Kind::Text {
                continue;
            }
            let b = if fold {
                theirs.values[j].folded()
            } else {
                theirs.values[j].text.as_str()
            };
            let a = if fold {
                mine.values[i].folded()
            } else {
                mine.values[i].text.as_str()
            };
            let hit = match position {
                Position::Exact => a == b,
                Position::Prefix => a.starts_with(b),
                Position::Suffix => a.ends_with(b),
                Position::Contains => memmem::find(a.as_bytes(), b.as_bytes()).is_some(),
            };
            if hit {
                return true;
            }
        }
    }
    false
}

fn compile_expr(e: &Expr, preds: &mut Vec<CPred>, config: &Config) -> Result<Node, Error> {
    Ok(match e.kind() {
        ExprKind::True => Node::Const(true),
        ExprKind::False => Node::Const(false),
        ExprKind::Not(x) => Node::Not(Box::new(compile_expr(x, preds, config)?)),
        ExprKind::And(xs) => Node::And(
            xs.iter()
                .map(|x| compile_expr(x, preds, config))
                .collect::<Result<_, _>>()?,
        ),
        ExprKind::Or(xs) => Node::Or(
            xs.iter()
                .map(|x| compile_expr(x, preds, config))
                .collect::<Result<_, _>>()?,
        ),
        ExprKind::Pred(p) => {
            let test = match &p.test {
                Test::Null => CTest::Null,
                Test::Exists(b) => CTest::Exists(*b),
                Test::Str { pattern, case } => CTest::Str(StrTest::new(pattern, *case)),
                Test::Regex { pattern, flags } => {
                    CTest::Regex(Box::new(compile_regex(pattern, *flags, config)?))
                }
                Test::Cmp { op, value } => CTest::Cmp(*op, *value),
                Test::Cidr(net) => CTest::Cidr(*net),
                Test::FieldRef {
                    other,
                    position,
                    case,
                } => CTest::FieldRef {
                    other: *other,
                    position: *position,
                    case: *case,
                },
                Test::TimePart { part, op, value } => CTest::Time(*part, *op, *value),
            };
            // OK: the number of predicates is bounded by the rule size limits.
            let id = u32::try_from(preds.len()).unwrap_or(u32::MAX);
            preds.push(CPred {
                target: p.target,
                test,
            });
            Node::Pred(id)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_is_send_sync_clone_unwind_safe() {
        fn assert_traits<
            T: Send + Sync + Clone + std::panic::UnwindSafe + std::panic::RefUnwindSafe,
        >() {
        }
        assert_traits::<Engine>();
        fn assert_send<T: Send + Clone>() {}
        assert_send::<Cache>();
        assert_send::<MatchSet>();
    }
}
