//! Stage 2: the condition language → [`Ast`].
//!
//! Grammar (Sigma 2.1, precedence from loosest to tightest:
//! `or` < `and` < `not` < `x of` < parentheses):
//!
//! ```text
//! expr   := term ("or" term)*
//! term   := factor ("and" factor)*
//! factor := "not" factor | atom
//! atom   := "(" expr ")" | ("1" | "any" | "all") "of" (PATTERN | "them") | IDENT
//! ```
//!
//! Keywords are case-insensitive. `1`, `any` and `all` are quantifiers only
//! when followed by `of`, and `them` only after `of`, so identifiers may use
//! those words. Identifiers are runs of anything but blanks and parentheses
//! (SigmaHQ has identifiers with `.` and `-`), which also makes identifiers
//! that are prefixes of each other (`sel`, `sel_img`) unambiguous.
//!
//! The parser is an operator-precedence (shunting-yard) loop with explicit
//! stacks, so hostile input cannot overflow the call stack; the depth of the
//! tree it builds is checked against `max_depth` as nodes are made, which
//! bounds every later recursive walk of the tree.

use crate::error::{Error, ErrorKind, Result};

/// A span of a condition, in characters (0-based, end exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// First character.
    pub start: usize,
    /// One past the last character.
    pub end: usize,
}

impl Span {
    fn to(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}

/// A parsed condition.
#[derive(Clone, Debug, PartialEq)]
pub struct Ast {
    /// What the node is.
    pub kind: AstKind,
    /// Where it is in the condition text.
    pub span: Span,
    depth: usize,
}

/// The node kinds of a condition.
#[derive(Clone, Debug, PartialEq)]
pub enum AstKind {
    /// A search identifier.
    Ident(String),
    /// `1 of …` / `all of …`.
    Of {
        /// `1`/`any` (OR) or `all` (AND).
        quantifier: Quantifier,
        /// `them` or a pattern.
        target: Target,
    },
    /// `not x`.
    Not(Box<Ast>),
    /// `a and b and …` (two or more).
    And(Vec<Ast>),
    /// `a or b or …` (two or more).
    Or(Vec<Ast>),
}

/// The quantifier of an `x of` selector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantifier {
    /// `1 of` or `any of`: at least one.
    One,
    /// `all of`: every one.
    All,
}

/// What an `x of` selector ranges over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `them`: every search identifier not starting with `_`.
    Them,
    /// An identifier name, where `*` matches any run of characters.
    Pattern(String),
}

impl Ast {
    /// Depth of the tree (a leaf has depth 1).
    pub fn depth(&self) -> usize {
        self.depth
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Of,
    Word(String),
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::And => "'and'".into(),
        Tok::Or => "'or'".into(),
        Tok::Not => "'not'".into(),
        Tok::Of => "'of'".into(),
        Tok::Word(w) => format!("'{w}'"),
    }
}

fn lex(text: &str) -> Result<Vec<(Tok, Span)>> {
    let chars: Vec<char> = text.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let tok = match c {
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            '|' => {
                return Err(cond_err(
                    ErrorKind::Unsupported,
                    "the pipe aggregation syntax ('| count() …') was removed in Sigma 2.0; write a correlation rule instead",
                    Span { start: i, end: chars.len() },
                ));
            }
            _ => {
                while i < chars.len() && !chars[i].is_whitespace() && !matches!(chars[i], '(' | ')' | '|') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                match word.to_ascii_lowercase().as_str() {
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    "of" => Tok::Of,
                    _ => Tok::Word(word),
                }
            }
        };
        toks.push((tok, Span { start, end: i }));
    }
    Ok(toks)
}

/// An error at `span` of a condition. The condition's index among the
/// rule's conditions is not known here; the loader sets it.
fn cond_err(kind: ErrorKind, message: impl Into<String>, span: Span) -> Error {
    Error::new(kind, message).at(crate::error::Anchor::Condition {
        section: "detection",
        index: 0,
        column: span.start,
        width: span.end.saturating_sub(span.start).max(1),
    })
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Or,
    And,
    Not,
    LParen,
}

fn prec(op: Op) -> u8 {
    match op {
        Op::LParen => 0,
        Op::Or => 1,
        Op::And => 2,
        Op::Not => 3,
    }
}

/// The deepest tree [`parse`] builds, whatever `max_depth` it is given.
/// Every later stage walks condition and expression trees recursively (and
/// dropping a tree is recursive too); this ceiling bounds their stack use.
/// A rule 256 levels deep loads, evaluates (compiled and reference) and
/// drops in less than 256 KiB of stack; `tests/integration/limits.rs` runs
/// it in a 512 KiB thread (Rust's default is 2 MiB).
pub const MAX_CONDITION_DEPTH: usize = 256;

/// Parses a condition. `max_depth` bounds the depth of the resulting tree
/// (and is itself capped at [`MAX_CONDITION_DEPTH`]).
///
/// Errors carry a condition anchor with the column and width of the
/// offending token (condition index 0; the loader sets the real index).
pub fn parse(text: &str, max_depth: usize) -> std::result::Result<Ast, Error> {
    let max_depth = max_depth.min(MAX_CONDITION_DEPTH);
    let toks = lex(text)?;
    if toks.is_empty() {
        return Err(cond_err(ErrorKind::Condition, "the condition is empty", Span { start: 0, end: 1 }));
    }
    let mut operands: Vec<Ast> = Vec::new();
    let mut ops: Vec<(Op, Span)> = Vec::new();
    let mut expect_operand = true;
    let mut i = 0;
    let end_span = Span { start: text.chars().count(), end: text.chars().count() + 1 };
    while i < toks.len() {
        let (tok, span) = &toks[i];
        let span = *span;
        if expect_operand {
            match tok {
                Tok::Not => ops.push((Op::Not, span)),
                Tok::LParen => ops.push((Op::LParen, span)),
                Tok::Word(w) => {
                    let quant = match w.to_ascii_lowercase().as_str() {
                        "1" | "any" => Some(Quantifier::One),
                        "all" => Some(Quantifier::All),
                        _ => None,
                    };
                    if quant.is_none() && matches!(toks.get(i + 1), Some((Tok::Of, _))) {
                        return Err(cond_err(
                            ErrorKind::Condition,
                            format!("'of' must follow '1', 'any' or 'all'; Sigma has no '{w} of'"),
                            span,
                        ));
                    }
                    if let (Some(quantifier), Some((Tok::Of, _))) = (quant, toks.get(i + 1)) {
                        let (target, tspan) = match toks.get(i + 2) {
                            Some((Tok::Word(t), tspan)) => {
                                let target = if t.eq_ignore_ascii_case("them") {
                                    Target::Them
                                } else {
                                    Target::Pattern(t.clone())
                                };
                                (target, *tspan)
                            }
                            Some((other, ospan)) => {
                                return Err(cond_err(
                                    ErrorKind::Condition,
                                    format!("expected a pattern or 'them' after 'of', found {}", describe(other)),
                                    *ospan,
                                ));
                            }
                            None => {
                                return Err(cond_err(
                                    ErrorKind::Condition,
                                    "expected a pattern or 'them' after 'of', found the end of the condition",
                                    end_span,
                                ));
                            }
                        };
                        operands.push(Ast { kind: AstKind::Of { quantifier, target }, span: span.to(tspan), depth: 1 });
                        i += 2;
                    } else {
                        operands.push(Ast { kind: AstKind::Ident(w.clone()), span, depth: 1 });
                    }
                    expect_operand = false;
                }
                Tok::Of => {
                    return Err(cond_err(
                        ErrorKind::Condition,
                        "'of' must follow '1', 'any' or 'all' (Sigma has no 'N of' for other N)",
                        span,
                    ));
                }
                other => {
                    let what = if i == 0 {
                        "at the start of the condition".to_string()
                    } else {
                        format!("after {}", describe(&toks[i - 1].0))
                    };
                    return Err(cond_err(
                        ErrorKind::Condition,
                        format!("expected an identifier, '(' or 'not' {what}, found {}", describe(other)),
                        span,
                    ));
                }
            }
        } else {
            match tok {
                Tok::And | Tok::Or => {
                    let op = if *tok == Tok::And { Op::And } else { Op::Or };
                    while let Some(&(top, tspan)) = ops.last() {
                        if top != Op::LParen && prec(top) >= prec(op) {
                            ops.pop();
                            reduce(&mut operands, top, tspan, max_depth)?;
                        } else {
                            break;
                        }
                    }
                    ops.push((op, span));
                    expect_operand = true;
                }
                Tok::RParen => {
                    loop {
                        match ops.pop() {
                            Some((Op::LParen, lspan)) => {
                                // Widen the operand's span to include the parentheses.
                                if let Some(last) = operands.last_mut() {
                                    last.span = lspan.to(span);
                                }
                                break;
                            }
                            Some((op, ospan)) => reduce(&mut operands, op, ospan, max_depth)?,
                            None => {
                                return Err(cond_err(ErrorKind::Condition, "')' has no matching '('", span));
                            }
                        }
                    }
                }
                other => {
                    return Err(cond_err(
                        ErrorKind::Condition,
                        format!(
                            "expected 'and', 'or' or ')' after {}, found {}",
                            describe(&toks[i - 1].0),
                            describe(other)
                        ),
                        span,
                    ));
                }
            }
        }
        i += 1;
    }
    if expect_operand {
        let last = &toks[toks.len() - 1];
        return Err(cond_err(
            ErrorKind::Condition,
            format!("the condition ends after {}; an identifier or '(' is missing", describe(&last.0)),
            end_span,
        ));
    }
    while let Some((op, span)) = ops.pop() {
        if op == Op::LParen {
            return Err(cond_err(ErrorKind::Condition, "'(' is never closed", span));
        }
        reduce(&mut operands, op, span, max_depth)?;
    }
    // OK: a well-formed operator sequence leaves exactly one operand.
    let ast = operands.pop().ok_or_else(|| cond_err(ErrorKind::Condition, "the condition is empty", end_span))?;
    check_depth(&ast, max_depth)?;
    Ok(ast)
}

fn check_depth(ast: &Ast, max_depth: usize) -> Result<()> {
    if ast.depth > max_depth {
        let mut e = Error::limit_exceeded(
            "max_condition_depth",
            max_depth,
            format!("the condition nests {} levels deep, more than the limit of {max_depth}", ast.depth),
        );
        e = e.at(crate::error::Anchor::Condition {
            section: "detection",
            index: 0,
            column: ast.span.start,
            width: (ast.span.end - ast.span.start).max(1),
        });
        return Err(e);
    }
    Ok(())
}

fn reduce(operands: &mut Vec<Ast>, op: Op, span: Span, max_depth: usize) -> Result<()> {
    let ast = match op {
        Op::Not => {
            let Some(x) = operands.pop() else {
                return Err(cond_err(ErrorKind::Condition, "'not' has nothing to negate", span));
            };
            Ast { span: span.to(x.span), depth: x.depth + 1, kind: AstKind::Not(Box::new(x)) }
        }
        Op::And | Op::Or => {
            let (Some(b), Some(a)) = (operands.pop(), operands.pop()) else {
                return Err(cond_err(ErrorKind::Condition, "an operator is missing an operand", span));
            };
            let span = a.span.to(b.span);
            let mut children = Vec::new();
            for x in [a, b] {
                match (op, x.kind) {
                    (Op::And, AstKind::And(xs)) | (Op::Or, AstKind::Or(xs)) => children.extend(xs),
                    (_, kind) => children.push(Ast { kind, span: x.span, depth: x.depth }),
                }
            }
            let depth = children.iter().map(|c| c.depth).max().unwrap_or(0) + 1;
            let kind = if op == Op::And { AstKind::And(children) } else { AstKind::Or(children) };
            Ast { kind, span, depth }
        }
        Op::LParen => unreachable!("parentheses are never reduced"),
    };
    check_depth(&ast, max_depth)?;
    operands.push(ast);
    Ok(())
}

/// True if `name` matches an `x of` pattern, where `*` matches any run of
/// characters and the match covers the whole name.
///
/// Linear in the lengths of both: the pieces between stars are found
/// left to right with `memmem` (for a `*`-only glob the leftmost occurrence
/// of each piece is always a safe choice), so a hostile condition cannot
/// make this quadratic.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    let mut pieces = pattern.split('*');
    // OK: split always yields at least one piece.
    let first = pieces.next().unwrap_or("");
    let Some(mut rest) = name.strip_prefix(first) else { return false };
    let mut middle: Vec<&str> = pieces.collect();
    let Some(last) = middle.pop() else {
        // No star: the pattern is the whole name.
        return rest.is_empty();
    };
    for piece in middle {
        match memchr::memmem::find(rest.as_bytes(), piece.as_bytes()) {
            Some(i) => rest = &rest[i + piece.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(a: &Ast) -> String {
        match &a.kind {
            AstKind::Ident(s) => s.clone(),
            AstKind::Of { quantifier, target } => {
                let q = if *quantifier == Quantifier::One { "1" } else { "all" };
                let t = match target {
                    Target::Them => "them".to_string(),
                    Target::Pattern(p) => p.clone(),
                };
                format!("({q} of {t})")
            }
            AstKind::Not(x) => format!("(not {})", show(x)),
            AstKind::And(xs) => format!("({})", xs.iter().map(show).collect::<Vec<_>>().join(" and ")),
            AstKind::Or(xs) => {
                format!("({})", xs.iter().map(show).collect::<Vec<_>>().join(" or "))
            }
        }
    }

    fn p(s: &str) -> String {
        show(&parse(s, 64).unwrap())
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(p("a or b and c"), "(a or (b and c))");
        assert_eq!(p("a and b or c"), "((a and b) or c)");
        assert_eq!(p("not a and b"), "((not a) and b)");
        assert_eq!(p("not not a"), "(not (not a))");
        assert_eq!(p("a and (b or c)"), "(a and (b or c))");
        assert_eq!(p("a and b and c"), "(a and b and c)");
        assert_eq!(p("1 of sel* and not all of filter_*"), "((1 of sel*) and (not (all of filter_*)))");
        assert_eq!(p("NOT a AND b OR c"), "(((not a) and b) or c)");
        assert_eq!(p("any of them"), "(1 of them)");
    }

    #[test]
    fn quantifier_words_can_be_identifiers() {
        assert_eq!(p("all and them"), "(all and them)");
        assert_eq!(p("1"), "1");
    }

    #[test]
    fn errors_have_columns() {
        let col = |s: &str| match parse(s, 64).unwrap_err().anchor() {
            crate::error::Anchor::Condition { column, .. } => *column,
            _ => usize::MAX,
        };
        assert_eq!(col("a and"), 5);
        assert_eq!(col("(a and b"), 0);
        assert_eq!(col("a and b)"), 7);
        assert_eq!(col("a b"), 2);
        assert_eq!(col("sel | count() > 5"), 4);
        assert_eq!(col("2 of sel*"), 0);
    }

    #[test]
    fn depth_limit_is_enforced_without_recursion() {
        let deep = format!("{}a{}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(parse(&deep, usize::MAX).is_ok());
        let nots = format!("{}a", "not ".repeat(100));
        let e = parse(&nots, 64).unwrap_err();
        assert_eq!(e.limit().map(|l| l.name), Some("max_condition_depth"));
    }

    #[test]
    fn patterns_match_whole_names() {
        assert!(pattern_matches("sel*", "sel"));
        assert!(pattern_matches("sel*", "selection_img"));
        assert!(!pattern_matches("sel", "selection"));
        assert!(pattern_matches("*_img", "sel_img"));
        assert!(!pattern_matches("*_img", "sel_img_2"));
        assert!(pattern_matches("a*b*c", "axxbyyc"));
    }
}
