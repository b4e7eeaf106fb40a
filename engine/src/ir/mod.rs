//! Stage 3: the rule IR.
//!
//! [`lower_rule`] turns a [`Rule`] and its parsed conditions
//! into a [`RuleIr`]: one boolean [`Expr`] over [`Pred`]icates. Every Sigma
//! modifier is compiled away here (`windash`, `base64offset` and placeholders
//! become OR-ed alternatives, `contains` becomes a `*…*` pattern, `neq` a
//! negation), and field names become [`FieldId`]s interned in a
//! [`FieldTable`]. Later stages never see YAML, modifiers or field-name
//! strings.
//!
//! Invariants kept by the smart constructors of [`Expr`] (there is no other
//! way to build one):
//! - `And` and `Or` have at least two children and never a child of their own kind;
//! - `True` and `False` never appear below another node (they are folded);
//! - `Not` never holds a `Not`, `True` or `False`.
//!
//! The depth of an `Expr` is bounded by the condition depth limit plus a
//! small constant (search → branch → item → value), so recursive walks over
//! it are safe.

mod encoded;
mod lower;
mod pattern;

use crate::Map as HashMap;
use std::fmt;

use crate::front::rule::Rule;

pub(crate) use lower::Limits;
pub(crate) use lower::{BranchParts, ItemParts, lower_parts};
pub use lower::{Placeholders, lower_filter, lower_rule};
pub use pattern::{Pattern, Shape, Token};

/// A field name interned by a [`FieldTable`].
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldId(u32);

impl FieldId {
    /// An id no table hands out, for names looked up on events but not
    /// read by any rule (events then answer by name).
    pub(crate) const UNKNOWN: FieldId = FieldId(u32::MAX);

    /// The index of the field in its table.
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The id of the field at index `i` of its table (which holds fewer
    /// than 2^32 fields; a larger index gives [`FieldId::UNKNOWN`]).
    pub(crate) fn from_index(i: usize) -> FieldId {
        FieldId(u32::try_from(i).unwrap_or(u32::MAX))
    }
}

/// Interns field names as written in rules (`CommandLine`, `process.parent.name`).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(into = "Vec<String>", try_from = "Vec<String>")]
pub struct FieldTable {
    names: Vec<String>,
    ids: HashMap<String, FieldId>,
}

impl FieldTable {
    /// An empty table.
    pub fn new() -> FieldTable {
        FieldTable::default()
    }

    /// The id of `name`, adding it if it is new.
    pub fn intern(&mut self, name: &str) -> FieldId {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        // OK: a rule pack cannot hold 2^32 distinct field names within the
        // rule size limits; saturating keeps this panic-free regardless.
        let id = FieldId(u32::try_from(self.names.len()).unwrap_or(u32::MAX));
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }

    /// The id of `name`, if it was interned.
    pub fn get(&self, name: &str) -> Option<FieldId> {
        self.ids.get(name).copied()
    }

    /// The name of a field.
    pub fn name(&self, id: FieldId) -> &str {
        &self.names[id.index()]
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True if no field was interned.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Every `(id, name)`, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (FieldId, &str)> {
        self.names.iter().enumerate().map(|(i, n)| (FieldId(i as u32), n.as_str()))
    }
}

impl From<FieldTable> for Vec<String> {
    fn from(t: FieldTable) -> Vec<String> {
        t.names
    }
}

impl TryFrom<Vec<String>> for FieldTable {
    type Error = String;

    /// A table from its names in id order (as serialized in rule bundles);
    /// a repeated name is refused, since ids must be unique.
    fn try_from(names: Vec<String>) -> Result<FieldTable, String> {
        let mut t = FieldTable::new();
        for n in &names {
            if t.intern(n).index() + 1 != t.len() {
                return Err(format!("field '{n}' is listed twice"));
            }
        }
        Ok(t)
    }
}

/// The IR of one rule, after any filters were AND-ed onto it.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug)]
pub struct RuleIr {
    /// The rule's detection logic.
    pub expr: Expr,
}

/// A boolean expression over predicates. Built only through [`Expr::and`],
/// [`Expr::or`], [`Expr::negate`], [`Expr::pred`] and the constants, which keep
/// the invariants listed in the module docs.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(into = "FlatExpr", try_from = "FlatExpr")]
pub struct Expr(ExprKind);

/// The shape of an [`Expr`] (read-only: build with the constructors).
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// Always true.
    True,
    /// Always false.
    False,
    /// A test on one field (or on every value, for keywords).
    Pred(Box<Pred>),
    /// Negation.
    Not(Box<Expr>),
    /// Conjunction of two or more.
    And(Vec<Expr>),
    /// Disjunction of two or more.
    Or(Vec<Expr>),
}

impl Expr {
    /// The constant true.
    pub const TRUE: Expr = Expr(ExprKind::True);
    /// The constant false.
    pub const FALSE: Expr = Expr(ExprKind::False);

    /// The node kind.
    pub fn kind(&self) -> &ExprKind {
        &self.0
    }

    /// A predicate leaf.
    pub fn pred(p: Pred) -> Expr {
        Expr(ExprKind::Pred(Box::new(p)))
    }

    /// The negation of `e`, folding constants and double negation (also
    /// available as `!e`).
    pub fn negate(e: Expr) -> Expr {
        match e.0 {
            ExprKind::True => Expr::FALSE,
            ExprKind::False => Expr::TRUE,
            ExprKind::Not(inner) => *inner,
            kind => Expr(ExprKind::Not(Box::new(Expr(kind)))),
        }
    }

    /// The conjunction of `items`: flattened, with `True` dropped and any
    /// `False` making the whole `False`. An empty conjunction is `True`.
    pub fn and(items: impl IntoIterator<Item = Expr>) -> Expr {
        let mut out = Vec::new();
        for e in items {
            match e.0 {
                ExprKind::True => {}
                ExprKind::False => return Expr::FALSE,
                ExprKind::And(xs) => out.extend(xs),
                kind => out.push(Expr(kind)),
            }
        }
        match out.len() {
            0 => Expr::TRUE,
            // OK: length checked.
            1 => out.pop().unwrap_or(Expr::TRUE),
            _ => Expr(ExprKind::And(out)),
        }
    }

    /// The disjunction of `items`: flattened, with `False` dropped and any
    /// `True` making the whole `True`. An empty disjunction is `False`.
    pub fn or(items: impl IntoIterator<Item = Expr>) -> Expr {
        let mut out = Vec::new();
        for e in items {
            match e.0 {
                ExprKind::False => {}
                ExprKind::True => return Expr::TRUE,
                ExprKind::Or(xs) => out.extend(xs),
                kind => out.push(Expr(kind)),
            }
        }
        match out.len() {
            0 => Expr::FALSE,
            // OK: length checked.
            1 => out.pop().unwrap_or(Expr::FALSE),
            _ => Expr(ExprKind::Or(out)),
        }
    }

    /// Replaces every field id `f` by `map(f)`: a rule lowered against
    /// its own field table, moved into the pack's.
    pub(crate) fn map_fields(&mut self, map: &impl Fn(FieldId) -> FieldId) {
        match &mut self.0 {
            ExprKind::True | ExprKind::False => {}
            ExprKind::Pred(p) => {
                if let Target::Field(f) = &mut p.target {
                    *f = map(*f);
                }
                if let Test::FieldRef { other, .. } = &mut p.test {
                    *other = map(*other);
                }
            }
            ExprKind::Not(e) => e.map_fields(map),
            ExprKind::And(items) | ExprKind::Or(items) => items.iter_mut().for_each(|e| e.map_fields(map)),
        }
    }

    /// Calls `f` on every predicate, in order.
    pub fn for_each_pred<'a>(&'a self, f: &mut impl FnMut(&'a Pred)) {
        match &self.0 {
            ExprKind::True | ExprKind::False => {}
            ExprKind::Pred(p) => f(p),
            ExprKind::Not(e) => e.for_each_pred(f),
            ExprKind::And(xs) | ExprKind::Or(xs) => xs.iter().for_each(|x| x.for_each_pred(f)),
        }
    }
}

/// Deepest [`Expr`] a deserialized form may hold: more than any rule within
/// [`Config`](crate::Config)'s largest condition depth (256) plus the levels
/// of searches, items, values and filters, and shallow enough for the
/// recursive walks over the IR.
const MAX_FLAT_DEPTH: usize = 512;

/// An [`Expr`] in post order, the form it is serialized in (rule bundles):
/// reading it back needs no recursion and goes through the smart
/// constructors, so a hostile bundle can neither overflow the stack nor
/// break the invariants.
#[derive(serde::Serialize, serde::Deserialize)]
struct FlatExpr(Vec<FlatNode>);

#[derive(serde::Serialize, serde::Deserialize)]
enum FlatNode {
    True,
    False,
    Pred(Pred),
    /// The negation of the last expression built.
    Not,
    /// The conjunction of the last `n` expressions built.
    And(u32),
    /// The disjunction of the last `n` expressions built.
    Or(u32),
}

impl From<Expr> for FlatExpr {
    fn from(e: Expr) -> FlatExpr {
        enum Work {
            Visit(Expr),
            Node(FlatNode),
        }
        let mut out = Vec::new();
        let mut stack = vec![Work::Visit(e)];
        // OK: an expression has far fewer than 2^32 operands.
        let count = |xs: &Vec<Expr>| u32::try_from(xs.len()).unwrap_or(u32::MAX);
        while let Some(w) = stack.pop() {
            match w {
                Work::Node(n) => out.push(n),
                Work::Visit(Expr(kind)) => match kind {
                    ExprKind::True => out.push(FlatNode::True),
                    ExprKind::False => out.push(FlatNode::False),
                    ExprKind::Pred(p) => out.push(FlatNode::Pred(*p)),
                    ExprKind::Not(x) => {
                        stack.push(Work::Node(FlatNode::Not));
                        stack.push(Work::Visit(*x));
                    }
                    ExprKind::And(xs) => {
                        stack.push(Work::Node(FlatNode::And(count(&xs))));
                        stack.extend(xs.into_iter().rev().map(Work::Visit));
                    }
                    ExprKind::Or(xs) => {
                        stack.push(Work::Node(FlatNode::Or(count(&xs))));
                        stack.extend(xs.into_iter().rev().map(Work::Visit));
                    }
                },
            }
        }
        FlatExpr(out)
    }
}

impl TryFrom<FlatExpr> for Expr {
    type Error = String;

    fn try_from(flat: FlatExpr) -> Result<Expr, String> {
        // Built expressions with a bound on their depth.
        let mut stack: Vec<(Expr, usize)> = Vec::new();
        let take = |stack: &mut Vec<(Expr, usize)>, n: usize| -> Result<(Vec<Expr>, usize), String> {
            let at = stack.len().checked_sub(n).ok_or("an expression lacks its operands")?;
            let xs = stack.split_off(at);
            let depth = 1 + xs.iter().map(|(_, d)| *d).max().unwrap_or(0);
            Ok((xs.into_iter().map(|(x, _)| x).collect(), depth))
        };
        for node in flat.0 {
            let (e, depth) = match node {
                FlatNode::True => (Expr::TRUE, 1),
                FlatNode::False => (Expr::FALSE, 1),
                FlatNode::Pred(p) => (Expr::pred(p), 1),
                FlatNode::Not => {
                    let (mut xs, d) = take(&mut stack, 1)?;
                    (Expr::negate(xs.pop().unwrap_or(Expr::TRUE)), d)
                }
                FlatNode::And(n) => {
                    let (xs, d) = take(&mut stack, n as usize)?;
                    (Expr::and(xs), d)
                }
                FlatNode::Or(n) => {
                    let (xs, d) = take(&mut stack, n as usize)?;
                    (Expr::or(xs), d)
                }
            };
            if depth > MAX_FLAT_DEPTH {
                return Err(format!("an expression nests more than {MAX_FLAT_DEPTH} levels"));
            }
            stack.push((e, depth));
        }
        match (stack.pop(), stack.is_empty()) {
            (Some((e, _)), true) => Ok(e),
            _ => Err("an expression is not one tree".to_string()),
        }
    }
}

impl std::ops::Not for Expr {
    type Output = Expr;

    fn not(self) -> Expr {
        Expr::negate(self)
    }
}

/// A test of one field of an event.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pred {
    /// What the test looks at.
    pub target: Target,
    /// The test.
    pub test: Test,
}

/// What a predicate looks at.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// One field.
    Field(FieldId),
    /// Every scalar value of the event (Sigma keyword search).
    Keywords,
}

/// Whether string comparison folds case.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Case {
    /// Unicode simple case folding (Sigma's default).
    Insensitive,
    /// Exact (the `cased` modifier).
    Sensitive,
}

/// A numeric comparison.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum CmpOp {
    Lt,
    Lte,
    Gt,
    Gte,
    Eq,
}

impl CmpOp {
    /// Applies the comparison.
    pub fn apply<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            CmpOp::Lt => a < b,
            CmpOp::Lte => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Gte => a >= b,
            CmpOp::Eq => a == b,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Lt => "<",
            CmpOp::Lte => "<=",
            CmpOp::Gt => ">",
            CmpOp::Gte => ">=",
            CmpOp::Eq => "==",
        }
    }
}

/// A part of a timestamp (Sigma 2.1 time-part modifiers).
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum TimePart {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

/// Where a `fieldref` value must occur in the field.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Position {
    /// The whole value.
    Exact,
    /// At the start (`startswith`).
    Prefix,
    /// At the end (`endswith`).
    Suffix,
    /// Anywhere (`contains`).
    Contains,
}

/// Regular-expression flags (`re|i|m|s`).
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ReFlags {
    /// `i`: case-insensitive.
    pub ignore_case: bool,
    /// `m`: `^`/`$` match at line breaks.
    pub multi_line: bool,
    /// `s`: `.` matches `\n`.
    pub dot_all: bool,
}

/// What a predicate tests.
///
/// `Eq` and `Hash` compare numbers by their bits, so that the planner can
/// share one predicate between every rule that uses it. Rule numbers are
/// always finite (lowering refuses NaN and infinities), so this agrees with
/// numeric equality.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub enum Test {
    /// The field is absent or JSON null (`Field: null`).
    Null,
    /// The field is present (`true`) or absent (`false`), whatever its value.
    Exists(bool),
    /// A wildcard pattern over the value's text (numbers and booleans
    /// compare by their text).
    Str {
        /// The pattern (escapes already resolved).
        pattern: Pattern,
        /// Case folding.
        case: Case,
    },
    /// An unanchored regular-expression search (the pattern may anchor itself).
    Regex {
        /// The pattern, in `regex-syntax` syntax.
        pattern: String,
        /// Flags from modifiers.
        flags: ReFlags,
    },
    /// A numeric comparison of the value with a number.
    Cmp {
        /// The operator.
        op: CmpOp,
        /// The rule's number.
        value: f64,
    },
    /// The value is an IP address inside a network.
    Cidr(ipnet::IpNet),
    /// The value compared with another field of the same event.
    FieldRef {
        /// The other field.
        other: FieldId,
        /// Where the other field's value must occur.
        position: Position,
        /// Case folding.
        case: Case,
    },
    /// A part of a timestamp value compared with a number.
    TimePart {
        /// Which part.
        part: TimePart,
        /// The comparison.
        op: CmpOp,
        /// The rule's number.
        value: i64,
    },
}

impl Eq for Test {}

impl std::hash::Hash for Test {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        std::mem::discriminant(self).hash(h);
        match self {
            Test::Null => {}
            Test::Exists(b) => b.hash(h),
            Test::Str { pattern, case } => (pattern, case).hash(h),
            Test::Regex { pattern, flags } => (pattern, flags).hash(h),
            Test::Cmp { op, value } => (op, value.to_bits()).hash(h),
            Test::Cidr(net) => net.hash(h),
            Test::FieldRef { other, position, case } => (other, position, case).hash(h),
            Test::TimePart { part, op, value } => (part, op, value).hash(h),
        }
    }
}

/// Renders an expression with field names, for `sigmata debug ir` and tests.
#[derive(Debug)]
pub struct Display<'a> {
    expr: &'a Expr,
    fields: &'a FieldTable,
}

impl Expr {
    /// A printable form that resolves field ids through `fields`.
    pub fn display<'a>(&'a self, fields: &'a FieldTable) -> Display<'a> {
        Display { expr: self, fields }
    }
}

impl fmt::Display for Display<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_expr(f, self.expr, self.fields, 0)
    }
}

fn write_expr(f: &mut fmt::Formatter<'_>, e: &Expr, fields: &FieldTable, indent: usize) -> fmt::Result {
    let pad = "  ".repeat(indent);
    match e.kind() {
        ExprKind::True => writeln!(f, "{pad}true"),
        ExprKind::False => writeln!(f, "{pad}false"),
        ExprKind::Pred(p) => writeln!(f, "{pad}{}", p.display(fields)),
        ExprKind::Not(x) => {
            writeln!(f, "{pad}not")?;
            write_expr(f, x, fields, indent + 1)
        }
        ExprKind::And(xs) | ExprKind::Or(xs) => {
            writeln!(f, "{pad}{}", if matches!(e.kind(), ExprKind::And(_)) { "and" } else { "or" })?;
            xs.iter().try_for_each(|x| write_expr(f, x, fields, indent + 1))
        }
    }
}

impl Pred {
    /// A one-line rendering such as `CommandLine contains "-enc" (ci)`.
    pub fn display(&self, fields: &FieldTable) -> String {
        let target = match self.target {
            Target::Field(id) => fields.name(id).to_string(),
            Target::Keywords => "<any value>".to_string(),
        };
        let case = |c: Case| if c == Case::Sensitive { " (cased)" } else { "" };
        match &self.test {
            Test::Null => format!("{target} is null or missing"),
            Test::Exists(true) => format!("{target} exists"),
            Test::Exists(false) => format!("{target} does not exist"),
            Test::Str { pattern, case: c } => {
                format!("{target} {}{}", pattern.describe(), case(*c))
            }
            Test::Regex { pattern, flags } => {
                let mut fl = String::new();
                for (on, ch) in [(flags.ignore_case, 'i'), (flags.multi_line, 'm'), (flags.dot_all, 's')] {
                    if on {
                        fl.push(ch);
                    }
                }
                format!(
                    "{target} matches regex {pattern:?}{}",
                    if fl.is_empty() { String::new() } else { format!(" ({fl})") }
                )
            }
            Test::Cmp { op, value } => format!("{target} {} {value}", op.symbol()),
            Test::Cidr(net) => format!("{target} in {net}"),
            Test::FieldRef { other, position, case: c } => {
                let how = match position {
                    Position::Exact => "equals",
                    Position::Prefix => "starts with",
                    Position::Suffix => "ends with",
                    Position::Contains => "contains",
                };
                format!("{target} {how} field {}{}", fields.name(*other), case(*c))
            }
            Test::TimePart { part, op, value } => {
                format!("{part:?}({target}) {} {value}", op.symbol())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(n: &str, t: &mut FieldTable) -> Expr {
        Expr::pred(Pred { target: Target::Field(t.intern(n)), test: Test::Null })
    }

    #[test]
    fn constructors_fold_and_flatten() {
        let mut t = FieldTable::new();
        let (a, b, c) = (leaf("a", &mut t), leaf("b", &mut t), leaf("c", &mut t));
        assert_eq!(Expr::and([Expr::TRUE, a.clone()]), a);
        assert_eq!(Expr::and([a.clone(), Expr::FALSE]), Expr::FALSE);
        assert_eq!(Expr::or([Expr::FALSE, Expr::FALSE]), Expr::FALSE);
        assert_eq!(Expr::or([]), Expr::FALSE);
        assert_eq!(Expr::and([]), Expr::TRUE);
        let nested = Expr::and([a.clone(), Expr::and([b.clone(), c.clone()])]);
        assert!(matches!(nested.kind(), ExprKind::And(xs) if xs.len() == 3));
        assert_eq!(!!a.clone(), a);
        assert_eq!(!Expr::TRUE, Expr::FALSE);
    }

    #[test]
    fn field_ids_are_interned_once() {
        let mut t = FieldTable::new();
        let a = t.intern("Image");
        assert_eq!(t.intern("Image"), a);
        assert_ne!(t.intern("image"), a, "field names are case-sensitive");
        assert_eq!(t.name(a), "Image");
    }
}

/// A rule as loaded: the document, its IR, and the filters AND-ed onto it.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug)]
pub struct LoadedRule {
    /// The rule document.
    pub rule: Rule,
    /// Its lowered form (filters included).
    pub ir: RuleIr,
    /// Titles of the filters applied to it.
    pub filters: Vec<String>,
}

#[cfg(test)]
mod flat_tests {
    use super::{Expr, FieldId, FlatExpr, FlatNode, Pred, Target, Test};

    fn leaf(i: u32) -> Expr {
        Expr::pred(Pred { target: Target::Field(FieldId(i)), test: Test::Exists(true) })
    }

    #[test]
    fn expressions_round_trip_through_their_flat_form() {
        let e = Expr::or([Expr::and([leaf(0), !leaf(1)]), leaf(2), Expr::and([leaf(3), Expr::or([leaf(4), leaf(5)])])]);
        let bytes = postcard::to_allocvec(&e).expect("serializes");
        assert_eq!(postcard::from_bytes::<Expr>(&bytes).expect("deserializes"), e);
    }

    /// A hand-made flat form nesting deeper than any rule is refused before
    /// a tree is built (dropping or walking it would recurse that deep), and
    /// one that is not a single tree is refused too.
    #[test]
    fn deep_or_malformed_flat_expressions_are_refused() {
        let mut nodes = vec![FlatNode::Pred(Pred { target: Target::Keywords, test: Test::Null })];
        for _ in 0..100_000 {
            nodes.push(FlatNode::Pred(Pred { target: Target::Keywords, test: Test::Null }));
            nodes.push(FlatNode::And(2));
        }
        let bytes = postcard::to_allocvec(&FlatExpr(nodes)).expect("serializes");
        let err = postcard::from_bytes::<Expr>(&bytes).expect_err("too deep");
        assert!(matches!(err, postcard::Error::SerdeDeCustom), "{err:?}");
        for nodes in [vec![], vec![FlatNode::And(3), FlatNode::True], vec![FlatNode::True, FlatNode::False]] {
            let bytes = postcard::to_allocvec(&FlatExpr(nodes)).expect("serializes");
            assert!(postcard::from_bytes::<Expr>(&bytes).is_err());
        }
    }
}
