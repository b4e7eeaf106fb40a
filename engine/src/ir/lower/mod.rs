//! Rule → [`RuleIr`]: modifiers, escapes, placeholders and the condition
//! compiled into one [`Expr`].
//!
//! Modifiers apply left to right to each value, as in pySigma. The values
//! pass through an internal [`Val`] type that mirrors pySigma's value types
//! (string with wildcards, regex, field reference, comparison, …); an
//! expansion (`windash`, `base64offset`, placeholders) is a [`Val::Any`]
//! whose members are OR-ed even under `|all`.

mod placeholders;
mod searches;
mod value;

use crate::Map as HashMap;

use super::{Case, Expr, FieldId, FieldTable, Pattern, Position, Pred, ReFlags, RuleIr, Target, Test, Token};
use crate::error::{Error, ErrorKind, Result};
use crate::front::condition;
use crate::front::modifier::Modifier;
use crate::front::rule::{Branch, Detection, Filter, Item, Rule, Scalar, Search};
pub use placeholders::Placeholders;
use searches::Searches;
use value::{Part, SStr, Val, apply, parse_sigma_string};

/// Limits the lowering enforces (a subset of [`Config`](crate::Config)).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub max_field_dots: usize,
    pub max_values_per_item: usize,
    pub max_modifiers: usize,
    pub max_expansion: usize,
    pub max_expansion_bytes: usize,
    pub max_condition_depth: usize,
}

/// What one predicate (or value alternative) costs against
/// `max_expansion_bytes` besides its text: roughly the heap size of a
/// `Pred` with its pattern, so that the budget tracks memory.
const NODE_COST: usize = 64;

/// Lowers a rule, AND-ing the given filter expressions onto its condition.
pub fn lower_rule(
    rule: &Rule,
    filters: &[Expr],
    fields: &mut FieldTable,
    placeholders: &Placeholders,
    config: &crate::Config,
) -> std::result::Result<RuleIr, Error> {
    let limits = &config.lower_limits();
    let mut l = Lowerer { fields, placeholders, limits, spent: 0 };
    let expr = l.detection(&rule.detection, "detection")?;
    Ok(RuleIr { expr: Expr::and(std::iter::once(expr).chain(filters.iter().cloned())) })
}

/// Lowers a filter's own condition (its identifiers are its own namespace).
pub fn lower_filter(
    filter: &Filter,
    fields: &mut FieldTable,
    placeholders: &Placeholders,
    config: &crate::Config,
) -> std::result::Result<Expr, Error> {
    let limits = &config.lower_limits();
    let mut l = Lowerer { fields, placeholders, limits, spent: 0 };
    l.detection(&filter.detection, "filter")
}

/// One search identifier lowered piece by piece (for [`crate::explain`]):
/// the same lowering as [`lower_rule`], kept per branch, item and value.
#[derive(Clone, Debug)]
pub(crate) struct SearchParts {
    pub name: String,
    pub branches: Vec<BranchParts>,
}

/// One branch of a [`SearchParts`].
#[derive(Clone, Debug)]
pub(crate) enum BranchParts {
    /// A map: the AND of its items.
    Items(Vec<ItemParts>),
    /// A keyword value and its expression.
    Keyword { text: String, expr: Expr },
}

/// One `field|modifiers: values` item of a [`BranchParts::Items`]: the
/// expression of each value, combined by `all` (AND, else OR) then `neq`.
#[derive(Clone, Debug)]
pub(crate) struct ItemParts {
    pub key: String,
    pub target: Target,
    pub all: bool,
    pub neq: bool,
    /// (value as written, its expression); `null` for an empty list.
    pub values: Vec<(String, Expr)>,
}

/// Lowers every search identifier of a detection piece by piece, with the
/// lowering [`lower_rule`] uses, so that the pieces combine to exactly the
/// rule's expression (before filters).
pub(crate) fn lower_parts(
    detection: &Detection,
    fields: &mut FieldTable,
    placeholders: &Placeholders,
    config: &crate::Config,
) -> std::result::Result<Vec<SearchParts>, Error> {
    let limits = &config.lower_limits();
    let mut l = Lowerer { fields, placeholders, limits, spent: 0 };
    let mut out = Vec::with_capacity(detection.searches.len());
    for s in &detection.searches {
        let mut branches = Vec::with_capacity(s.branches.len());
        for b in &s.branches {
            branches.push(match b {
                Branch::Items(items) => {
                    let mut parts = Vec::with_capacity(items.len());
                    for item in items {
                        let (exprs, all, neq) = l.item_values(item)?;
                        let written: Vec<String> = if item.values.is_empty() {
                            vec!["null".to_string()]
                        } else {
                            item.values.iter().map(|v| v.text().unwrap_or_else(|| "null".to_string())).collect()
                        };
                        let target = match &item.field {
                            Some(f) => Target::Field(l.fields.intern(f)),
                            None => Target::Keywords,
                        };
                        parts.push(ItemParts {
                            key: item.key.clone(),
                            target,
                            all,
                            neq,
                            values: written.into_iter().zip(exprs).collect(),
                        });
                    }
                    BranchParts::Items(parts)
                }
                Branch::Keyword(v) => BranchParts::Keyword {
                    text: v.text().unwrap_or_default(),
                    expr: l.value(Target::Keywords, v, &[])?,
                },
            });
        }
        out.push(SearchParts { name: s.name.clone(), branches });
    }
    Ok(out)
}

struct Lowerer<'a> {
    fields: &'a mut FieldTable,
    placeholders: &'a Placeholders,
    limits: &'a Limits,
    /// Bytes charged against `max_expansion_bytes` so far (see [`Lowerer::charge`]).
    spent: usize,
}

impl Lowerer<'_> {
    fn detection(&mut self, d: &Detection, section: &'static str) -> Result<Expr> {
        let mut searches = Searches { list: Vec::with_capacity(d.searches.len()), index: HashMap::default() };
        for s in &d.searches {
            let e = self.search(s).map_err(|e| e.under(&s.name).under(section))?;
            let size = expr_size(&e);
            searches.index.entry(s.name.as_str()).or_insert(searches.list.len());
            searches.list.push((s.name.as_str(), e, size));
        }
        let mut conditions = Vec::with_capacity(d.conditions.len());
        for (i, text) in d.conditions.iter().enumerate() {
            let ast =
                condition::parse(text, self.limits.max_condition_depth).map_err(|e| e.in_condition(section, i))?;
            conditions.push(self.condition_expr(&ast, &searches).map_err(|e| e.in_condition(section, i))?);
        }
        Ok(Expr::or(conditions))
    }

    /// Interns a field name, refusing one with more dots than
    /// `max_field_dots`: a dotted name reaches nested JSON objects through
    /// every way of splitting it into keys (`a.b.c` is `a`→`b`→`c`, `a.b`→`c`,
    /// `a`→`b.c` or `a.b.c`), and the JSON reader's key table holds all
    /// 2^dots of them (a name of 49 dots, found by the fuzzer, hung it).
    fn intern_field(&mut self, name: &str) -> Result<FieldId> {
        let dots = name.bytes().filter(|b| *b == b'.').count();
        if dots > self.limits.max_field_dots {
            let shown: String = name.chars().take(80).collect();
            return Err(Error::limit_exceeded(
                "max_field_dots",
                self.limits.max_field_dots,
                format!(
                    "field name '{shown}' has {dots} dots, more than the limit of {} (each split of a dotted \
                     name into nested keys is looked up: 2^dots of them)",
                    self.limits.max_field_dots
                ),
            ));
        }
        Ok(self.fields.intern(name))
    }

    /// Charges `n` bytes against `max_expansion_bytes`.
    ///
    /// The budget bounds the memory lowering builds for one rule, whatever
    /// multiplies it: `windash` × `base64offset` × placeholders (alternatives),
    /// chained `utf16`/`base64` modifiers (each doubles or grows the text), and
    /// a condition naming a large search many times (each name copies it).
    /// Every value is charged once lowered, every search again each time the
    /// condition names it, and an `x of` pattern also pays for the names it
    /// is matched against, so that lowering's work is bounded too.
    fn charge(&mut self, n: usize) -> Result<()> {
        self.check_room(n)?;
        self.spent += n;
        Ok(())
    }

    /// Fails if a value of `n` bytes would not fit in what is left of the budget.
    fn check_room(&self, n: usize) -> Result<()> {
        if self.spent.saturating_add(n) > self.limits.max_expansion_bytes {
            return Err(expansion_bytes_limit(self.limits));
        }
        Ok(())
    }

    fn search(&mut self, s: &Search) -> Result<Expr> {
        let mut branches = Vec::with_capacity(s.branches.len());
        for b in &s.branches {
            branches.push(match b {
                Branch::Items(items) => {
                    let mut all = Vec::with_capacity(items.len());
                    for item in items {
                        all.push(self.item(item).map_err(|e| e.under(&item.key))?);
                    }
                    Expr::and(all)
                }
                Branch::Keyword(v) => {
                    let text = v.text().unwrap_or_default();
                    self.value(Target::Keywords, v, &[]).map_err(|e| e.at_value(&text))?
                }
            });
        }
        Ok(Expr::or(branches))
    }

    fn item(&mut self, item: &Item) -> Result<Expr> {
        let (values, all, neq) = self.item_values(item)?;
        let e = if all { Expr::and(values) } else { Expr::or(values) };
        Ok(if neq { !e } else { e })
    }

    /// The expression of each value of an item (an empty list is one `null`
    /// value), and the item's `all` and `neq` flags; [`Lowerer::item`]
    /// combines them, `explain` looks at them one by one.
    fn item_values(&mut self, item: &Item) -> Result<(Vec<Expr>, bool, bool)> {
        let target = match &item.field {
            Some(f) => Target::Field(self.intern_field(f)?),
            None => Target::Keywords,
        };
        if item.modifiers.len() > self.limits.max_modifiers {
            return Err(Error::limit_exceeded(
                "max_modifiers",
                self.limits.max_modifiers,
                format!(
                    "'{}' chains {} modifiers, more than the limit of {}",
                    item.key,
                    item.modifiers.len(),
                    self.limits.max_modifiers
                ),
            ));
        }
        if item.values.len() > self.limits.max_values_per_item {
            return Err(Error::limit_exceeded(
                "max_values_per_item",
                self.limits.max_values_per_item,
                format!(
                    "'{}' has {} values, more than the limit of {}",
                    item.key,
                    item.values.len(),
                    self.limits.max_values_per_item
                ),
            ));
        }
        let all = item.modifiers.contains(&Modifier::All);
        let neq = item.modifiers.contains(&Modifier::Neq);
        let mods: Vec<Modifier> =
            item.modifiers.iter().copied().filter(|m| !matches!(m, Modifier::All | Modifier::Neq)).collect();
        let exprs = if item.values.is_empty() {
            // pySigma reads an empty list as null, to which no value
            // modifier applies; say it is the empty list that is wrong.
            if let Some(m) = mods.first() {
                return Err(Error::new(
                    ErrorKind::Modifier,
                    format!(
                        "'{}' has an empty list as its value: modifier '{m}' needs at least one value to apply to",
                        item.key
                    ),
                ));
            }
            vec![self.value(target, &Scalar::Null, &mods)?]
        } else {
            let mut exprs = Vec::with_capacity(item.values.len());
            for v in &item.values {
                let text = v.text().unwrap_or_default();
                exprs.push(self.value(target, v, &mods).map_err(|e| e.at_value(&text))?);
            }
            exprs
        };
        Ok((exprs, all, neq))
    }

    /// Lowers one value through the modifier chain.
    fn value(&mut self, target: Target, scalar: &Scalar, mods: &[Modifier]) -> Result<Expr> {
        let mut v = Val::from_scalar(scalar);
        for (i, m) in mods.iter().enumerate() {
            v = apply(*m, v, &mods[..i], target, self.limits)?;
            // Checked after every step, so that a chain of growing
            // modifiers stops at most one step past the budget.
            self.check_room(val_size(&v))?;
        }
        // A keyword without a position modifier is a substring search.
        let positioned = mods
            .iter()
            .any(|m| matches!(m, Modifier::Contains | Modifier::StartsWith | Modifier::EndsWith | Modifier::Re));
        if target == Target::Keywords && !positioned {
            v = apply(Modifier::Contains, v, mods, target, self.limits)?;
        }
        let v = self.resolve_placeholders(v)?;
        self.charge(val_size(&v))?;
        self.lower_val(target, v)
    }

    fn resolve_placeholders(&self, v: Val) -> Result<Val> {
        match v {
            Val::Any(vs) => Ok(Val::Any(vs.into_iter().map(|v| self.resolve_placeholders(v)).collect::<Result<_>>()?)),
            Val::Str(s) if s.parts.iter().any(|p| matches!(p, Part::Placeholder(_))) => {
                let meta = s.clone_meta();
                let mut variants: Vec<Vec<Part>> = vec![Vec::new()];
                for part in s.parts {
                    match part {
                        Part::Placeholder(name) => {
                            let values = self.placeholders.get(&name).ok_or_else(|| {
                                Error::new(
                                    ErrorKind::Placeholder,
                                    format!(
                                        "placeholder %{name}% has no configured values (give them with --placeholders FILE)"
                                    ),
                                )
                            })?;
                            if variants.len().saturating_mul(values.len()) > self.limits.max_expansion {
                                return Err(expansion_limit(self.limits));
                            }
                            let longest = values.iter().map(String::len).max().unwrap_or(0);
                            let grown: usize = variants
                                .iter()
                                .map(|v| part_bytes(v).saturating_add(longest).saturating_add(NODE_COST))
                                .sum();
                            self.check_room(grown.saturating_mul(values.len()))?;
                            let mut next = Vec::with_capacity(variants.len() * values.len());
                            for prefix in &variants {
                                for value in values {
                                    let mut p = prefix.clone();
                                    p.extend(parse_sigma_string(value));
                                    next.push(p);
                                }
                            }
                            variants = next;
                        }
                        other => variants.iter_mut().for_each(|v| v.push(other.clone())),
                    }
                }
                Ok(Val::Any(variants.into_iter().map(|parts| Val::Str(SStr { parts, ..meta.clone() })).collect()))
            }
            v => Ok(v),
        }
    }

    fn lower_val(&mut self, target: Target, v: Val) -> Result<Expr> {
        let test = match v {
            Val::Any(vs) => {
                let mut out = Vec::with_capacity(vs.len());
                for v in vs {
                    out.push(self.lower_val(target, v)?);
                }
                return Ok(Expr::or(out));
            }
            Val::Str(s) => {
                Test::Str { pattern: s.pattern(), case: if s.cased { Case::Sensitive } else { Case::Insensitive } }
            }
            Val::Num(text, _) => Test::Str { pattern: Pattern::literal(&text), case: Case::Insensitive },
            Val::Bool(b) => {
                Test::Str { pattern: Pattern::literal(if b { "true" } else { "false" }), case: Case::Insensitive }
            }
            Val::Null => {
                if target == Target::Keywords {
                    return Err(Error::new(ErrorKind::Value, "a keyword cannot be null"));
                }
                Test::Null
            }
            Val::Re(r) => {
                let pattern = r.source();
                check_regex(&pattern, r.flags)?;
                Test::Regex { pattern, flags: r.flags }
            }
            Val::Cmp(op, value) => field_only(target, "lt/lte/gt/gte", Test::Cmp { op, value })?,
            Val::Cidr(net) => field_only(target, "cidr", Test::Cidr(net))?,
            Val::Exists(b) => field_only(target, "exists", Test::Exists(b))?,
            Val::FieldRef(f) => {
                let other = self.intern_field(&f.name)?;
                let position = match (f.any_before, f.any_after) {
                    (false, false) => Position::Exact,
                    (false, true) => Position::Prefix,
                    (true, false) => Position::Suffix,
                    (true, true) => Position::Contains,
                };
                let case = if f.cased { Case::Sensitive } else { Case::Insensitive };
                field_only(target, "fieldref", Test::FieldRef { other, position, case })?
            }
            Val::Time(part, op, value) => {
                field_only(target, "time-part modifiers", Test::TimePart { part, op, value })?
            }
        };
        Ok(Expr::pred(Pred { target, test }))
    }
}

fn field_only(target: Target, what: &str, test: Test) -> Result<Test> {
    if target == Target::Keywords {
        return Err(Error::new(ErrorKind::Modifier, format!("{what} needs a field; keywords cannot use it")));
    }
    Ok(test)
}

fn expansion_limit(limits: &Limits) -> Error {
    Error::limit_exceeded(
        "max_expansion",
        limits.max_expansion,
        format!(
            "the value expands to more than {} alternatives (windash × base64offset × placeholders)",
            limits.max_expansion
        ),
    )
}

fn expansion_bytes_limit(limits: &Limits) -> Error {
    Error::limit_exceeded(
        "max_expansion_bytes",
        limits.max_expansion_bytes,
        format!(
            "the rule expands to more than {} bytes of predicates (values after modifiers and expansions, \
             and the searches its condition names)",
            limits.max_expansion_bytes
        ),
    )
}

/// Validates a regex with the flags it will be compiled with, so that a bad
/// pattern is a load error naming the rule rather than a build failure.
fn check_regex(pattern: &str, flags: ReFlags) -> Result<()> {
    regex_syntax::ParserBuilder::new()
        .case_insensitive(flags.ignore_case)
        .multi_line(flags.multi_line)
        .dot_matches_new_line(flags.dot_all)
        .build()
        .parse(pattern)
        .map(|_| ())
        .map_err(|e| {
            // regex-syntax's Display is multi-line with its own caret; keep
            // only the reason, the loader prints the rule line.
            let msg = e.to_string();
            let reason =
                msg.lines().rev().find(|l| l.starts_with("error:")).unwrap_or(&msg).trim_start_matches("error: ");
            Error::new(ErrorKind::Regex, format!("invalid regular expression {pattern:?}: {reason}"))
        })
}

/// What an expression costs against `max_expansion_bytes`: [`NODE_COST`]
/// per predicate plus its text. The depth of `e` is bounded (see the module
/// docs of `ir`), so the recursion is too.
fn expr_size(e: &Expr) -> usize {
    let mut n = 0usize;
    e.for_each_pred(&mut |p| {
        let text = match &p.test {
            Test::Str { pattern, .. } => {
                pattern.tokens().iter().map(|t| if let Token::Lit(s) = t { s.len() } else { 1 }).sum()
            }
            Test::Regex { pattern, .. } => pattern.len(),
            _ => 0,
        };
        n = n.saturating_add(NODE_COST + text);
    });
    n
}

/// The cost of a value on its way through the modifiers, as [`expr_size`]
/// will count it once lowered. Nesting of `Any` grows only when a modifier
/// expands, so its depth is at most the number of modifiers.
fn val_size(v: &Val) -> usize {
    match v {
        Val::Any(vs) => vs.iter().fold(0usize, |n, v| n.saturating_add(val_size(v))),
        Val::Str(s) => NODE_COST.saturating_add(part_bytes(&s.parts)),
        Val::Re(r) => NODE_COST.saturating_add(r.pattern.len()),
        _ => NODE_COST,
    }
}

fn part_bytes(parts: &[Part]) -> usize {
    parts
        .iter()
        .map(|p| match p {
            Part::Lit(s) | Part::Placeholder(s) => s.len(),
            Part::Star | Part::One => 1,
        })
        .fold(0usize, usize::saturating_add)
}
