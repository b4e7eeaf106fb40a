//! The reference evaluator: the Sigma semantics made executable, as plainly
//! as possible. It is the oracle the compiled [`Engine`](crate::Engine) is
//! tested against and stays in the crate for that purpose.
//!
//! It walks the IR directly, looks every field up in the event by name, and
//! has no prefilter, no literal automaton, no cache of field values and no
//! case-folding table of its own: every string test is turned into an
//! anchored regular expression (`(?i)` for case-insensitive tests, so case
//! folding comes from `regex-syntax`'s Unicode simple folding), compiled on
//! first use and kept in a per-thread cache. It is slow and meant to be.

use std::cell::RefCell;
use std::collections::HashMap;

use regex_automata::meta::Regex;

use crate::event::{Event, Value};
use crate::ir::{Case, Expr, ExprKind, FieldTable, Pattern, Position, Pred, ReFlags, Target, Test, Token};

/// Evaluates a rule's expression against an event.
pub fn eval(expr: &Expr, fields: &FieldTable, event: &dyn Event) -> bool {
    match expr.kind() {
        ExprKind::True => true,
        ExprKind::False => false,
        ExprKind::Pred(p) => pred(p, fields, event),
        ExprKind::Not(x) => !eval(x, fields, event),
        ExprKind::And(xs) => xs.iter().all(|x| eval(x, fields, event)),
        ExprKind::Or(xs) => xs.iter().any(|x| eval(x, fields, event)),
    }
}

/// Evaluates one predicate against an event.
pub fn pred(p: &Pred, fields: &FieldTable, event: &dyn Event) -> bool {
    let (id, name) = match p.target {
        Target::Keywords => {
            let mut hit = false;
            event.values(&mut |v| hit = hit || value_test(&p.test, v));
            return hit;
        }
        Target::Field(id) => (id, fields.name(id)),
    };
    match &p.test {
        Test::Null => {
            let mut null = false;
            let present = event.field(id, name, &mut |v| null = null || v == Value::Null);
            !present || null
        }
        Test::Exists(want) => event.field(id, name, &mut |_| {}) == *want,
        Test::FieldRef { other, position, case } => {
            let mut others = Vec::new();
            event.field(*other, fields.name(*other), &mut |v| {
                let mut s = String::new();
                if v.write_text(&mut s) {
                    others.push(s);
                }
            });
            let mut hit = false;
            event.field(id, name, &mut |v| {
                let mut text = String::new();
                if hit || !v.write_text(&mut text) {
                    return;
                }
                hit = others.iter().any(|o| {
                    let lit = Token::Lit(o.clone());
                    let tokens = match position {
                        Position::Exact => vec![lit],
                        Position::Prefix => vec![lit, Token::Star],
                        Position::Suffix => vec![Token::Star, lit],
                        Position::Contains => vec![Token::Star, lit, Token::Star],
                    };
                    glob_regex(&Pattern::new(tokens), *case, &text)
                });
            });
            hit
        }
        test => {
            let mut hit = false;
            event.field(id, name, &mut |v| hit = hit || value_test(test, v));
            hit
        }
    }
}

fn value_test(test: &Test, v: Value<'_>) -> bool {
    let mut text = String::new();
    let has_text = v.write_text(&mut text);
    match test {
        Test::Str { pattern, case } => has_text && glob_regex(pattern, *case, &text),
        Test::Regex { pattern, flags } => has_text && with_regex(pattern, *flags, |re| re.is_match(&text)),
        Test::Cmp { op, value } => v.as_number().is_some_and(|n| op.apply(n, *value)),
        Test::Cidr(net) => v.as_ip().is_some_and(|ip| net.contains(&ip)),
        Test::TimePart { part, op, value } => v.time_part(*part).is_some_and(|p| op.apply(p, *value)),
        // Null, Exists and FieldRef look at the whole field; they are handled
        // in `pred`. As keyword tests they cannot occur (lowering refuses them).
        Test::Null | Test::Exists(_) | Test::FieldRef { .. } => false,
    }
}

/// Matches a whole text against a wildcard pattern by translating it into
/// an anchored regex: literals escaped, `*` → `.*`, `?` → `.` (one
/// character), with `(?i)` when case-insensitive.
fn glob_regex(pattern: &Pattern, case: Case, text: &str) -> bool {
    let mut src = String::from("^");
    for t in pattern.tokens() {
        match t {
            Token::Lit(s) => src.push_str(&regex_syntax::escape(s)),
            Token::Star => src.push_str(".*"),
            Token::One => src.push('.'),
        }
    }
    src.push('$');
    let flags = ReFlags { ignore_case: case == Case::Insensitive, multi_line: false, dot_all: true };
    with_regex(&src, flags, |re| re.is_match(text))
}

thread_local! {
    static REGEXES: RefCell<HashMap<ReFlags, HashMap<String, Option<Regex>>>> = RefCell::new(HashMap::new());
}

/// Runs `f` with the compiled regex for `(pattern, flags)`. A pattern that
/// does not compile matches nothing (lowering already refused invalid ones).
fn with_regex(pattern: &str, flags: ReFlags, f: impl FnOnce(&Regex) -> bool) -> bool {
    REGEXES.with(|cache| {
        let mut cache = cache.borrow_mut();
        let cache = cache.entry(flags).or_default();
        if let Some(re) = cache.get(pattern) {
            return re.as_ref().is_some_and(f);
        }
        // Field references build regexes from event values; keep the cache bounded.
        if cache.len() > 50_000 {
            cache.clear();
        }
        let syntax = regex_automata::util::syntax::Config::new()
            .case_insensitive(flags.ignore_case)
            .multi_line(flags.multi_line)
            .dot_matches_new_line(flags.dot_all);
        let re = Regex::builder().syntax(syntax).build(pattern).ok();
        let hit = re.as_ref().is_some_and(f);
        cache.insert(pattern.to_string(), re);
        hit
    })
}
