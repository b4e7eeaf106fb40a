//! A parsed condition ([`Ast`]) to an [`Expr`] over the lowered searches:
//! identifiers, `x of` patterns, `not`/`and`/`or`.

use crate::Map as HashMap;

use super::{Expr, Lowerer};
use crate::error::{Anchor, Error, ErrorKind, Result};
use crate::front::condition::{self, Ast, AstKind, Quantifier};

/// The searches of a detection, in order, with their sizes, and an index by name.
pub(super) struct Searches<'a> {
    pub(super) list: Vec<(&'a str, Expr, usize)>,
    pub(super) index: HashMap<&'a str, usize>,
}

impl Lowerer<'_> {
    /// The expression of a condition. Recursive over the `Ast`, whose depth
    /// the parser bounded by `max_condition_depth`.
    pub(super) fn condition_expr(&mut self, ast: &Ast, searches: &Searches<'_>) -> Result<Expr> {
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
pub(super) fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
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

pub(super) fn strsim_distance(a: &str, b: &str) -> usize {
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
