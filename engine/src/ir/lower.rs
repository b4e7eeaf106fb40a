//! Rule → [`RuleIr`]: modifiers, escapes, placeholders and the condition
//! compiled into one [`Expr`].
//!
//! Modifiers apply left to right to each value, as in pySigma. The values
//! pass through an internal [`Val`] type that mirrors pySigma's value types
//! (string with wildcards, regex, field reference, comparison, …); an
//! expansion (`windash`, `base64offset`, placeholders) is a [`Val::Any`]
//! whose members are OR-ed even under `|all`.

use std::collections::HashMap;

use base64::Engine as _;

use super::{
    Case, CmpOp, Expr, FieldId, FieldTable, Pattern, Position, Pred, ReFlags, RuleIr, Target, Test, TimePart, Token,
};
use crate::condition::{self, Ast, AstKind, Quantifier};
use crate::error::{Anchor, Error, ErrorKind, Result};
use crate::modifier::Modifier;
use crate::rule::{Branch, Detection, Filter, Item, Rule, Scalar, Search};

/// Values for `expand` placeholders (`%Administrators%` → a list of values).
///
/// Placeholder values are Sigma strings: `*` and `?` are wildcards and a
/// backslash escapes them, as in rule values.
#[derive(Clone, Debug, Default)]
pub struct Placeholders {
    values: HashMap<String, Vec<String>>,
}

impl Placeholders {
    /// No placeholders: rules that use `expand` are refused.
    pub fn new() -> Placeholders {
        Placeholders::default()
    }

    /// Sets the values of a placeholder (name without `%`).
    pub fn insert(&mut self, name: impl Into<String>, values: Vec<String>) {
        self.values.insert(name.into().trim_matches('%').to_string(), values);
    }

    /// The values of a placeholder.
    pub fn get(&self, name: &str) -> Option<&[String]> {
        self.values.get(name).map(Vec::as_slice)
    }

    /// Number of configured placeholders.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True if none are configured.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Reads placeholders from YAML or JSON: a map from names to a value or a
    /// list of values, either at the top level or under `vars:` (the
    /// placeholder section of a pySigma processing pipeline).
    ///
    /// ```
    /// let p = sigmata::Placeholders::from_yaml("Admins: [alice, 'bob*']\n'%Servers%': srv01\n").unwrap();
    /// assert_eq!(p.get("Admins").unwrap().len(), 2);
    /// assert_eq!(p.get("Servers").unwrap(), ["srv01"]);
    /// ```
    pub fn from_yaml(text: &str) -> std::result::Result<Placeholders, Error> {
        use crate::yaml::Yaml;
        let docs = crate::yaml::parse(text)?;
        let mut out = Placeholders::new();
        for doc in docs {
            let map = doc.value.get("vars").unwrap_or(&doc.value);
            let Yaml::Map(entries) = map else {
                return Err(Error::new(
                    ErrorKind::Document,
                    "placeholders must be a map from names to lists of values",
                ));
            };
            for (name, v) in entries {
                let scalar = |y: &Yaml| match y {
                    Yaml::Str(s) => Some(s.clone()),
                    Yaml::Int(i) => Some(i.to_string()),
                    Yaml::Float(f) => Some(crate::rule::format_float(*f)),
                    Yaml::Bool(b) => Some(b.to_string()),
                    _ => None,
                };
                let values = match v {
                    Yaml::Seq(items) => items.iter().map(scalar).collect::<Option<Vec<_>>>(),
                    other => scalar(other).map(|s| vec![s]),
                }
                .ok_or_else(|| {
                    Error::new(ErrorKind::Document, format!("placeholder '{name}' must be a value or a list of values"))
                        .at(Anchor::Path(vec![name.clone()], None))
                })?;
                out.insert(name.clone(), values);
            }
        }
        Ok(out)
    }
}

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
        let mut searches = Searches { list: Vec::with_capacity(d.searches.len()), index: HashMap::new() };
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
            // pySigma reads an empty list as null.
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

/// The searches of a detection, in order, with their sizes, and an index by name.
struct Searches<'a> {
    list: Vec<(&'a str, Expr, usize)>,
    index: HashMap<&'a str, usize>,
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

impl Lowerer<'_> {
    /// The expression of a condition. Recursive over the `Ast`, whose depth
    /// the parser bounded by `max_condition_depth`.
    fn condition_expr(&mut self, ast: &Ast, searches: &Searches<'_>) -> Result<Expr> {
        let at = |ast: &Ast| Anchor::Condition {
            section: "detection",
            index: 0,
            column: ast.span.start,
            width: (ast.span.end - ast.span.start).max(1),
        };
        Ok(match &ast.kind {
            AstKind::Ident(name) => match searches.index.get(name.as_str()) {
                Some(&i) => {
                    let (_, e, size) = &searches.list[i];
                    self.charge(*size).map_err(|e| e.at(at(ast)))?;
                    e.clone()
                }
                None => {
                    let hint = closest(name, searches.list.iter().map(|(n, _, _)| *n))
                        .map(|c| format!(" (did you mean '{c}'?)"))
                        .unwrap_or_default();
                    return Err(
                        Error::new(ErrorKind::Condition, format!("undefined identifier '{name}'{hint}")).at(at(ast))
                    );
                }
            },
            AstKind::Of { quantifier, target } => {
                // Matching the pattern against every name is work the
                // condition's length multiplies: pay for it.
                let examined = searches.list.iter().map(|(n, _, _)| n.len() + 1).fold(0usize, usize::saturating_add);
                self.charge(examined).map_err(|e| e.at(at(ast)))?;
                let chosen: Vec<usize> = (0..searches.list.len())
                    .filter(|&i| {
                        let n = searches.list[i].0;
                        match target {
                            condition::Target::Them => !n.starts_with('_'),
                            condition::Target::Pattern(p) => {
                                (!n.starts_with('_') || p.starts_with('_')) && condition::pattern_matches(p, n)
                            }
                        }
                    })
                    .collect();
                if chosen.is_empty() {
                    let what = match target {
                        condition::Target::Them => "'them' matches no search identifier".to_string(),
                        condition::Target::Pattern(p) => {
                            format!("pattern '{p}' matches no search identifier")
                        }
                    };
                    return Err(Error::new(ErrorKind::Condition, what).at(at(ast)));
                }
                let size = chosen.iter().map(|&i| searches.list[i].2).fold(0usize, usize::saturating_add);
                self.charge(size).map_err(|e| e.at(at(ast)))?;
                let chosen = chosen.into_iter().map(|i| searches.list[i].1.clone());
                match quantifier {
                    Quantifier::One => Expr::or(chosen),
                    Quantifier::All => Expr::and(chosen),
                }
            }
            AstKind::Not(x) => !self.condition_expr(x, searches)?,
            AstKind::And(xs) => {
                let mut out = Vec::with_capacity(xs.len());
                for x in xs {
                    out.push(self.condition_expr(x, searches)?);
                }
                Expr::and(out)
            }
            AstKind::Or(xs) => {
                let mut out = Vec::with_capacity(xs.len());
                for x in xs {
                    out.push(self.condition_expr(x, searches)?);
                }
                Expr::or(out)
            }
        })
    }
}

/// The closest search name to a misspelt one. Only names of similar length
/// are compared, and only short ones: the distance is quadratic, and a
/// hostile condition could name a megabyte-long identifier.
fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    const LONGEST: usize = 128;
    if name.len() > LONGEST {
        return None;
    }
    candidates
        .filter(|c| c.len() <= LONGEST && c.len().abs_diff(name.len()) <= 3)
        .map(|c| (strsim_distance(name, c), c))
        .filter(|(d, c)| *d <= 3 && *d < c.len())
        .min()
        .map(|(_, c)| c)
}

fn strsim_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

// ---------------------------------------------------------------------------
// Values on their way through the modifier chain.

/// A part of a Sigma string.
#[derive(Clone, Debug, PartialEq)]
enum Part {
    Lit(String),
    Star,
    One,
    Placeholder(String),
}

/// Parses a Sigma string value exactly as pySigma does: a backslash escapes
/// only `*`, `?` and `\`; before any other character (or at the end) it is a
/// literal backslash. Unescaped `*` and `?` are wildcards.
fn parse_sigma_string(s: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut acc = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            if !matches!(c, '*' | '?' | '\\') {
                acc.push('\\');
            }
            acc.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '*' || c == '?' {
            if !acc.is_empty() {
                parts.push(Part::Lit(std::mem::take(&mut acc)));
            }
            parts.push(if c == '*' { Part::Star } else { Part::One });
        } else {
            acc.push(c);
        }
    }
    if escaped {
        acc.push('\\');
    }
    if !acc.is_empty() {
        parts.push(Part::Lit(acc));
    }
    parts
}

#[derive(Clone, Debug)]
struct SStr {
    parts: Vec<Part>,
    /// The value as written, while no modifier has changed it (for `re`).
    original: Option<String>,
    cased: bool,
    /// After a UTF-16 modifier each char is one byte (U+0000–U+00FF), so a
    /// following Base64 modifier encodes the bytes, not their UTF-8 form.
    bytes: bool,
}

impl SStr {
    fn new(text: &str) -> SStr {
        SStr { parts: parse_sigma_string(text), original: Some(text.to_string()), cased: false, bytes: false }
    }

    fn literal(text: String) -> SStr {
        SStr { parts: vec![Part::Lit(text)], original: None, cased: false, bytes: false }
    }

    fn clone_meta(&self) -> SStr {
        SStr { parts: Vec::new(), original: None, cased: self.cased, bytes: self.bytes }
    }

    fn has_wildcards(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Star | Part::One))
    }

    fn plain(&self) -> Option<String> {
        let mut s = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(l) => s.push_str(l),
                _ => return None,
            }
        }
        Some(s)
    }

    fn pattern(&self) -> Pattern {
        Pattern::new(self.parts.iter().map(|p| match p {
            Part::Lit(s) => Token::Lit(s.clone()),
            Part::Star => Token::Star,
            Part::One => Token::One,
            // Placeholders are resolved before patterns are built; a
            // leftover one is kept literally as it was written.
            Part::Placeholder(n) => Token::Lit(format!("%{n}%")),
        }))
    }

    fn changed(mut self) -> SStr {
        self.original = None;
        self
    }
}

#[derive(Clone, Debug)]
struct Re {
    pattern: String,
    flags: ReFlags,
    anchor_start: bool,
    anchor_end: bool,
}

impl Re {
    /// The pattern with any anchors the position modifiers asked for.
    fn source(&self) -> String {
        match (self.anchor_start, self.anchor_end) {
            (false, false) => self.pattern.clone(),
            (true, false) => format!("^(?:{})", self.pattern),
            (false, true) => format!("(?:{})$", self.pattern),
            (true, true) => format!("^(?:{})$", self.pattern),
        }
    }
}

#[derive(Clone, Debug)]
struct FieldRefVal {
    name: String,
    /// Anything may come before the other field's value (`endswith`, `contains`).
    any_before: bool,
    /// Anything may come after it (`startswith`, `contains`).
    any_after: bool,
    cased: bool,
}

#[derive(Clone, Debug)]
enum Val {
    Str(SStr),
    /// A number from the rule: its text and its value.
    Num(String, f64),
    Bool(bool),
    Null,
    Re(Re),
    Cmp(CmpOp, f64),
    Cidr(ipnet::IpNet),
    Exists(bool),
    FieldRef(FieldRefVal),
    Time(TimePart, CmpOp, i64),
    /// Alternatives (an expansion), always OR-ed.
    Any(Vec<Val>),
}

impl Val {
    fn from_scalar(s: &Scalar) -> Val {
        match s {
            Scalar::Null => Val::Null,
            Scalar::Bool(b) => Val::Bool(*b),
            Scalar::Int(i) => Val::Num(i.to_string(), *i as f64),
            Scalar::Float(f) => Val::Num(crate::rule::format_float(*f), *f),
            Scalar::Str(s) => Val::Str(SStr::new(s)),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Val::Str(_) => "a string",
            Val::Num(..) => "a number",
            Val::Bool(_) => "a boolean",
            Val::Null => "null",
            Val::Re(_) => "a regular expression",
            Val::Cmp(..) => "a numeric comparison",
            Val::Cidr(_) => "a CIDR network",
            Val::Exists(_) => "an exists test",
            Val::FieldRef(_) => "a field reference",
            Val::Time(..) => "a time part",
            Val::Any(_) => "an expansion",
        }
    }

    /// Numbers and booleans become literal strings for string modifiers.
    fn into_str(self) -> Option<SStr> {
        match self {
            Val::Str(s) => Some(s),
            Val::Num(text, _) => Some(SStr::literal(text)),
            Val::Bool(b) => Some(SStr::literal(b.to_string())),
            _ => None,
        }
    }
}

fn wrong(m: Modifier, v: &Val) -> Error {
    Error::new(ErrorKind::Modifier, format!("modifier '{m}' cannot be applied to {}", v.kind()))
}

/// Applies modifier `m` to `v`; `before` are the value modifiers already applied.
fn apply(m: Modifier, v: Val, before: &[Modifier], target: Target, limits: &Limits) -> Result<Val> {
    use Modifier::*;
    if let Val::Any(vs) = v {
        let mut out = Vec::with_capacity(vs.len());
        for v in vs {
            out.push(apply(m, v, before, target, limits)?);
        }
        if count_leaves(&out) > limits.max_expansion {
            return Err(expansion_limit(limits));
        }
        return Ok(Val::Any(out));
    }
    let first = |what: &str| -> Result<()> {
        if before.is_empty() {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Modifier,
                format!("'{what}' must be the first modifier (it comes after '{}')", before[before.len() - 1]),
            ))
        }
    };
    Ok(match m {
        Contains | StartsWith | EndsWith => {
            let (start, end) = (matches!(m, Contains | EndsWith), matches!(m, Contains | StartsWith));
            match v {
                Val::Re(mut r) => {
                    // Regexes search substrings already; startswith/endswith anchor them.
                    r.anchor_start |= m == StartsWith;
                    r.anchor_end |= m == EndsWith;
                    Val::Re(r)
                }
                Val::FieldRef(mut f) => {
                    f.any_before |= start;
                    f.any_after |= end;
                    Val::FieldRef(f)
                }
                v @ (Val::Str(_) | Val::Num(..) | Val::Bool(_)) => {
                    // OK: the pattern admits exactly the variants into_str converts.
                    let mut s = v.into_str().ok_or_else(|| wrong(m, &Val::Null))?.changed();
                    if start && s.parts.first() != Some(&Part::Star) {
                        s.parts.insert(0, Part::Star);
                    }
                    if end && s.parts.last() != Some(&Part::Star) {
                        s.parts.push(Part::Star);
                    }
                    Val::Str(s)
                }
                other => return Err(wrong(m, &other)),
            }
        }
        Base64 | Base64Offset => {
            let s = v.clone().into_str().ok_or_else(|| wrong(m, &v))?;
            if s.parts.iter().any(|p| matches!(p, Part::Placeholder(_))) {
                return Err(Error::new(ErrorKind::Modifier, format!("'{m}' cannot encode a placeholder")));
            }
            if s.has_wildcards() {
                return Err(Error::new(
                    ErrorKind::Value,
                    format!("'{m}' cannot encode wildcards; put 'contains' after '{m}', not before"),
                ));
            }
            // OK: no wildcards or placeholders, so the string is plain.
            let text = s.plain().unwrap_or_default();
            let data: Vec<u8> =
                if s.bytes { text.chars().map(|c| c as u32 as u8).collect() } else { text.into_bytes() };
            let mk = |t: String| Val::Str(SStr { cased: s.cased, ..SStr::literal(t) });
            if m == Base64 {
                mk(base64::engine::general_purpose::STANDARD.encode(&data))
            } else {
                Val::Any(base64_offsets(&data).into_iter().map(mk).collect())
            }
        }
        Utf16Le | Utf16Be | Utf16 => {
            let s = v.clone().into_str().ok_or_else(|| wrong(m, &v))?.changed();
            let mut parts: Vec<Part> = s
                .parts
                .iter()
                .map(|p| match p {
                    Part::Lit(l) => {
                        let mut out = String::with_capacity(l.len() * 2);
                        for unit in l.encode_utf16() {
                            let [a, b] = if m == Utf16Be { unit.to_be_bytes() } else { unit.to_le_bytes() };
                            out.push(char::from(a));
                            out.push(char::from(b));
                        }
                        Part::Lit(out)
                    }
                    other => other.clone(),
                })
                .collect();
            if m == Utf16 {
                parts.insert(0, Part::Lit("\u{ff}\u{fe}".to_string()));
            }
            Val::Str(SStr { parts, bytes: true, ..s })
        }
        Windash => {
            let s = v.clone().into_str().ok_or_else(|| wrong(m, &v))?.changed();
            windash(s, limits)?
        }
        Re => {
            first("re")?;
            let pattern = match v {
                Val::Str(s) => s.original.unwrap_or_default(),
                Val::Num(text, _) => text,
                other => return Err(wrong(m, &other)),
            };
            Val::Re(self::Re { pattern, flags: ReFlags::default(), anchor_start: false, anchor_end: false })
        }
        ReIgnoreCase | ReMultiline | ReDotAll => match v {
            Val::Re(mut r) => {
                match m {
                    ReIgnoreCase => r.flags.ignore_case = true,
                    ReMultiline => r.flags.multi_line = true,
                    _ => r.flags.dot_all = true,
                }
                Val::Re(r)
            }
            other => {
                return Err(Error::new(
                    ErrorKind::Modifier,
                    format!("the regex flag '{m}' needs 're' before it (found {})", other.kind()),
                ));
            }
        },
        Cidr => {
            first("cidr")?;
            let text = match &v {
                Val::Str(s) => s.original.clone().unwrap_or_default(),
                other => return Err(wrong(m, other)),
            };
            Val::Cidr(parse_cidr(&text)?)
        }
        Lt | Lte | Gt | Gte => {
            let op = match m {
                Lt => CmpOp::Lt,
                Lte => CmpOp::Lte,
                Gt => CmpOp::Gt,
                _ => CmpOp::Gte,
            };
            match v {
                Val::Time(part, CmpOp::Eq, n) => Val::Time(part, op, n),
                Val::Num(_, n) if n.is_finite() => Val::Cmp(op, n),
                Val::Str(s) => {
                    match s.original.as_deref().and_then(|t| t.trim().parse::<f64>().ok()).filter(|n| n.is_finite()) {
                        Some(n) => Val::Cmp(op, n),
                        None => {
                            return Err(Error::new(ErrorKind::Value, format!("'{m}' needs a number")));
                        }
                    }
                }
                other => return Err(wrong(m, &other)),
            }
        }
        Exists => {
            first("exists")?;
            if target == Target::Keywords {
                return Err(Error::new(ErrorKind::Modifier, "'exists' needs a field"));
            }
            match v {
                Val::Bool(b) => Val::Exists(b),
                // As in pySigma, only a YAML boolean will do: a quoted
                // 'true' is a string and most likely a mistake.
                other => {
                    return Err(Error::new(
                        ErrorKind::Value,
                        format!("'exists' needs an unquoted true or false, not {}", other.kind()),
                    ));
                }
            }
        }
        Expand => {
            let s = v.clone().into_str().ok_or_else(|| wrong(m, &v))?;
            Val::Str(SStr { parts: insert_placeholders(&s.parts), ..s.changed() })
        }
        FieldRef => {
            let s = v.clone().into_str().ok_or_else(|| wrong(m, &v))?;
            // `contains|fieldref` (position modifier first) is accepted as
            // well as pySigma's `fieldref|contains`: strip the stars the
            // position modifiers added and keep them as flags.
            let mut parts = s.parts.as_slice();
            let start = before.iter().any(|b| matches!(b, Contains | EndsWith)) && parts.first() == Some(&Part::Star);
            if start {
                parts = &parts[1..];
            }
            let end = before.iter().any(|b| matches!(b, Contains | StartsWith)) && parts.last() == Some(&Part::Star);
            if end {
                parts = &parts[..parts.len() - 1];
            }
            let name = match parts {
                [Part::Lit(name)] => name.clone(),
                _ => {
                    return Err(Error::new(
                        ErrorKind::Value,
                        "'fieldref' needs a plain field name (no wildcards or placeholders)",
                    ));
                }
            };
            Val::FieldRef(FieldRefVal { name, any_before: start, any_after: end, cased: s.cased })
        }
        Cased => match v {
            Val::FieldRef(mut f) => {
                f.cased = true;
                Val::FieldRef(f)
            }
            v @ (Val::Str(_) | Val::Num(..) | Val::Bool(_)) => {
                let mut s = v.into_str().ok_or_else(|| wrong(m, &Val::Null))?;
                s.cased = true;
                Val::Str(s)
            }
            other => return Err(wrong(m, &other)),
        },
        Minute | Hour | Day | Week | Month | Year => {
            let part = match m {
                Minute => TimePart::Minute,
                Hour => TimePart::Hour,
                Day => TimePart::Day,
                Week => TimePart::Week,
                Month => TimePart::Month,
                _ => TimePart::Year,
            };
            let n = match &v {
                Val::Num(_, n) => *n,
                Val::Str(s) => s.original.as_deref().and_then(|t| t.trim().parse::<f64>().ok()).unwrap_or(f64::NAN),
                other => return Err(wrong(m, other)),
            };
            if n.fract() != 0.0 || !n.is_finite() {
                return Err(Error::new(ErrorKind::Value, format!("'{m}' needs an integer")));
            }
            Val::Time(part, CmpOp::Eq, n as i64)
        }
        All | Neq => v,
    })
}

fn count_leaves(vs: &[Val]) -> usize {
    vs.iter().map(|v| if let Val::Any(inner) = v { count_leaves(inner) } else { 1 }).sum()
}

/// pySigma's `base64offset`: the Base64 of the value shifted by 0, 1 and 2
/// bytes, with the characters that depend on the unknown neighbours cut off.
fn base64_offsets(data: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    const END_CUT: [usize; 3] = [0, 3, 2];
    (0..3)
        .map(|i| {
            let mut shifted = vec![b' '; i];
            shifted.extend_from_slice(data);
            let enc = base64::engine::general_purpose::STANDARD.encode(&shifted);
            let end = enc.len().saturating_sub(END_CUT[(data.len() + i) % 3]);
            enc.get(START[i]..end.max(START[i])).unwrap_or("").to_string()
        })
        .collect()
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// pySigma's `windash`: every `-` or `/` matching `\B[-/]\b` inside a literal
/// part (not after a word character, before one) becomes each of
/// `-`, `/`, `–`, `—`, `―`, in all combinations.
fn windash(s: SStr, limits: &Limits) -> Result<Val> {
    const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];
    let mut positions: Vec<(usize, usize)> = Vec::new(); // (part, char index)
    for (pi, p) in s.parts.iter().enumerate() {
        if let Part::Lit(l) = p {
            let chars: Vec<char> = l.chars().collect();
            for (ci, c) in chars.iter().enumerate() {
                let before_ok = ci == 0 || !is_word(chars[ci - 1]);
                let after_ok = chars.get(ci + 1).is_some_and(|n| is_word(*n));
                if matches!(c, '-' | '/') && before_ok && after_ok {
                    positions.push((pi, ci));
                }
            }
        }
    }
    if positions.is_empty() {
        return Ok(Val::Str(s));
    }
    let total = DASHES.len().checked_pow(positions.len() as u32).filter(|t| *t <= limits.max_expansion);
    let Some(total) = total else {
        return Err(expansion_limit(limits));
    };
    let mut out = Vec::with_capacity(total);
    for combo in 0..total {
        let mut parts = s.parts.clone();
        let mut k = combo;
        for (pi, ci) in &positions {
            let dash = DASHES[k % DASHES.len()];
            k /= DASHES.len();
            if let Part::Lit(l) = &mut parts[*pi] {
                *l = l.chars().enumerate().map(|(i, c)| if i == *ci { dash } else { c }).collect();
            }
        }
        out.push(Val::Str(SStr { parts, ..s.clone_meta() }));
    }
    Ok(Val::Any(out))
}

/// `expand`: `%name%` (a run of word characters between percent signs, not
/// after a backslash) becomes a placeholder; `\%` becomes `%`.
fn insert_placeholders(parts: &[Part]) -> Vec<Part> {
    let mut out = Vec::new();
    for p in parts {
        let Part::Lit(l) = p else {
            out.push(p.clone());
            continue;
        };
        let chars: Vec<char> = l.chars().collect();
        let mut acc = String::new();
        let mut i = 0;
        while i < chars.len() {
            if chars[i] == '%' && (i == 0 || chars[i - 1] != '\\') {
                let name_len = chars[i + 1..].iter().take_while(|c| is_word(**c)).count();
                if name_len > 0 && chars.get(i + 1 + name_len) == Some(&'%') {
                    if !acc.is_empty() {
                        out.push(Part::Lit(std::mem::take(&mut acc).replace("\\%", "%")));
                    }
                    out.push(Part::Placeholder(chars[i + 1..i + 1 + name_len].iter().collect()));
                    i += name_len + 2;
                    continue;
                }
            }
            acc.push(chars[i]);
            i += 1;
        }
        if !acc.is_empty() {
            out.push(Part::Lit(acc.replace("\\%", "%")));
        }
    }
    out
}

fn parse_cidr(text: &str) -> Result<ipnet::IpNet> {
    let t = text.trim();
    t.parse::<ipnet::IpNet>()
        .or_else(|_| t.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map(|n| n.trunc())
        .map_err(|_| Error::new(ErrorKind::Value, format!("'{text}' is not an IPv4 or IPv6 network (CIDR)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lits(parts: &[Part]) -> String {
        parts
            .iter()
            .map(|p| match p {
                Part::Lit(s) => format!("[{s}]"),
                Part::Star => "*".into(),
                Part::One => "?".into(),
                Part::Placeholder(n) => format!("%{n}%"),
            })
            .collect()
    }

    #[test]
    fn escapes_follow_pysigma() {
        assert_eq!(lits(&parse_sigma_string(r"C:\Windows\")), r"[C:\Windows\]");
        assert_eq!(lits(&parse_sigma_string(r"\\*")), r"[\]*");
        assert_eq!(lits(&parse_sigma_string(r"\\\*")), r"[\*]");
        assert_eq!(lits(&parse_sigma_string(r"\\\\")), r"[\\]");
        assert_eq!(lits(&parse_sigma_string(r"\\\")), r"[\\]");
        assert_eq!(lits(&parse_sigma_string(r"a\?b?c*")), r"[a?b]?[c]*");
        assert_eq!(lits(&parse_sigma_string(r"\\\\\?\\GLOBALROOT")), r"[\\?\GLOBALROOT]");
    }

    #[test]
    fn base64_offsets_match_pysigma() {
        // Expected values printed by pySigma's own formula in Python:
        // b64("Invoke") = "SW52b2tl"; b64(" Invoke") = "IEludm9rZQ=="; b64("  Invoke") = "ICBJbnZva2U=".
        assert_eq!(base64_offsets(b"Invoke"), ["SW52b2tl", "ludm9rZ", "JbnZva2"]);
    }

    #[test]
    fn windash_positions() {
        let limits = Limits {
            max_field_dots: 8,
            max_values_per_item: 10,
            max_modifiers: 10,
            max_expansion: 1000,
            max_expansion_bytes: 1 << 20,
            max_condition_depth: 10,
        };
        let Val::Any(vs) = windash(SStr::new(" -enc /x a-b"), &limits).unwrap() else { panic!() };
        assert_eq!(vs.len(), 25);
        let Val::Str(s) = windash(SStr::new("a-b"), &limits).unwrap() else { panic!() };
        assert_eq!(lits(&s.parts), "[a-b]");
    }

    #[test]
    fn placeholders_are_found_and_escaped() {
        let parts = insert_placeholders(&parse_sigma_string(r"x%Admins%y\%z%a b%"));
        assert_eq!(lits(&parts), "[x]%Admins%[y%z%a b%]");
    }
}
