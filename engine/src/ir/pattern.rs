//! Sigma string values as wildcard patterns, after escape processing.

use std::fmt::Write;

/// One element of a [`Pattern`].
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Token {
    /// Literal text (never empty inside a normalised pattern).
    Lit(String),
    /// `*`: any run of characters, including none.
    Star,
    /// `?`: exactly one character.
    One,
}

/// A whole-value wildcard pattern: literal runs, `*` and `?`.
///
/// Normalised on construction: adjacent literals are merged, empty literals
/// dropped and runs of `*` collapsed, so that equal patterns are equal values
/// and [`shape`](Pattern::shape) can classify them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(into = "Vec<Token>", from = "Vec<Token>")]
pub struct Pattern {
    tokens: Vec<Token>,
}

impl From<Pattern> for Vec<Token> {
    fn from(p: Pattern) -> Vec<Token> {
        p.tokens
    }
}

/// Normalises, so that a deserialized pattern keeps the invariants (a
/// normal one, as every pattern sigmata serializes is, is kept as it is).
impl From<Vec<Token>> for Pattern {
    fn from(tokens: Vec<Token>) -> Pattern {
        let normal =
            tokens.iter().zip(tokens.iter().skip(1).map(Some).chain([None])).all(|(t, next)| match (t, next) {
                (Token::Lit(s), _) if s.is_empty() => false,
                (Token::Lit(_), Some(Token::Lit(_))) | (Token::Star, Some(Token::Star)) => false,
                _ => true,
            });
        if normal { Pattern { tokens } } else { Pattern::new(tokens) }
    }
}

/// The common special cases of a [`Pattern`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape<'a> {
    /// No wildcard: the whole value equals this text.
    Exact(&'a str),
    /// `text*`.
    Prefix(&'a str),
    /// `*text`.
    Suffix(&'a str),
    /// `*text*`.
    Contains(&'a str),
    /// `*` alone: any value.
    Any,
    /// Anything else (inner `*`, any `?`).
    Glob,
}

impl Pattern {
    /// Builds a normalised pattern.
    pub fn new(tokens: impl IntoIterator<Item = Token>) -> Pattern {
        let mut out: Vec<Token> = Vec::new();
        for t in tokens {
            match t {
                Token::Lit(s) if s.is_empty() => {}
                Token::Lit(s) => match out.last_mut() {
                    Some(Token::Lit(prev)) => prev.push_str(&s),
                    _ => out.push(Token::Lit(s)),
                },
                Token::Star if out.last() == Some(&Token::Star) => {}
                t => out.push(t),
            }
        }
        Pattern { tokens: out }
    }

    /// A pattern that matches exactly `s`.
    pub fn literal(s: &str) -> Pattern {
        Pattern::new([Token::Lit(s.to_string())])
    }

    /// The tokens.
    pub fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// True if the pattern has a `*` or `?`.
    pub fn has_wildcards(&self) -> bool {
        self.tokens.iter().any(|t| !matches!(t, Token::Lit(_)))
    }

    /// Classifies the pattern.
    pub fn shape(&self) -> Shape<'_> {
        use Token::*;
        match self.tokens.as_slice() {
            [] => Shape::Exact(""),
            [Lit(s)] => Shape::Exact(s),
            [Star] => Shape::Any,
            [Lit(s), Star] => Shape::Prefix(s),
            [Star, Lit(s)] => Shape::Suffix(s),
            [Star, Lit(s), Star] => Shape::Contains(s),
            _ => Shape::Glob,
        }
    }

    /// The pattern in Sigma syntax (`*`, `?` and backslashes escaped as needed).
    pub fn to_sigma(&self) -> String {
        let mut s = String::new();
        for (i, t) in self.tokens.iter().enumerate() {
            match t {
                Token::Star => s.push('*'),
                Token::One => s.push('?'),
                Token::Lit(lit) => {
                    let chars: Vec<char> = lit.chars().collect();
                    for (j, c) in chars.iter().enumerate() {
                        match c {
                            '*' | '?' => {
                                s.push('\\');
                                s.push(*c);
                            }
                            // A backslash needs escaping only where it would
                            // otherwise escape what follows it.
                            '\\' => {
                                let next = chars.get(j + 1).copied().or_else(|| match self.tokens.get(i + 1) {
                                    Some(Token::Star) => Some('*'),
                                    Some(Token::One) => Some('?'),
                                    _ => None,
                                });
                                if matches!(next, Some('*' | '?' | '\\')) {
                                    s.push_str("\\\\");
                                } else {
                                    s.push('\\');
                                }
                            }
                            c => s.push(*c),
                        }
                    }
                }
            }
        }
        s
    }

    /// A short description for explanations, e.g. `contains "-enc"`.
    pub fn describe(&self) -> String {
        match self.shape() {
            Shape::Exact(s) => format!("equals {s:?}"),
            Shape::Prefix(s) => format!("starts with {s:?}"),
            Shape::Suffix(s) => format!("ends with {s:?}"),
            Shape::Contains(s) => format!("contains {s:?}"),
            Shape::Any => "is any value".to_string(),
            Shape::Glob => {
                let mut s = String::new();
                let _ = write!(s, "matches {:?}", self.to_sigma());
                s
            }
        }
    }

    /// Matches a whole text against the pattern, character by character
    /// (the caller folds case first when needed). Linear in practice and
    /// O(len(pattern) × len(text)) at worst: the usual greedy algorithm that
    /// backtracks only to the most recent `*`.
    pub fn matches(&self, text: &str) -> bool {
        glob_match(&self.tokens, text)
    }
}

/// Matches with backtracking to the last star only, which is exact for
/// patterns of literals, `?` and `*` (a later star can absorb whatever an
/// earlier one could). A star followed by a literal jumps to the literal's
/// next occurrence with `memmem` instead of trying every position: the
/// positions in between fail at that literal.
fn glob_match(tokens: &[Token], text: &str) -> bool {
    // Position in the pattern: (token index, byte offset inside a literal).
    let (mut ti, mut li) = (0usize, 0usize);
    let mut pos = 0usize;
    let mut backtrack: Option<(usize, usize)> = None; // (token after the star, text position)
    let bytes = text.as_bytes();
    // The first position at or after `from` where the token after a star can start.
    let next_start = |after_star: usize, from: usize| -> Option<usize> {
        match tokens.get(after_star) {
            Some(Token::Lit(lit)) => memchr::memmem::find(&bytes[from..], lit.as_bytes()).map(|i| from + i),
            _ => Some(from),
        }
    };
    loop {
        match tokens.get(ti) {
            Some(Token::Star) => {
                ti += 1;
                li = 0;
                let Some(start) = next_start(ti, pos) else { return false };
                pos = start;
                backtrack = Some((ti, pos));
                continue;
            }
            Some(Token::Lit(lit)) if li < lit.len() => {
                let lb = lit.as_bytes();
                let n = lb.len() - li;
                if bytes.len() >= pos + n && bytes[pos..pos + n] == lb[li..] {
                    pos += n;
                    ti += 1;
                    li = 0;
                    continue;
                }
            }
            Some(Token::Lit(_)) => {
                ti += 1;
                li = 0;
                continue;
            }
            Some(Token::One) => {
                if let Some(c) = text[pos..].chars().next() {
                    pos += c.len_utf8();
                    ti += 1;
                    continue;
                }
            }
            None if pos == text.len() => return true,
            None => {}
        }
        // Mismatch: let the last star swallow more characters.
        match backtrack {
            Some((after_star, start)) if start < text.len() => {
                // OK: start < len, so there is a next character.
                let step = text[start..].chars().next().map_or(1, char::len_utf8);
                let Some(next) = next_start(after_star, start + step) else { return false };
                backtrack = Some((after_star, next));
                ti = after_star;
                li = 0;
                pos = next;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(tokens: &[&str]) -> Pattern {
        Pattern::new(tokens.iter().map(|t| match *t {
            "*" => Token::Star,
            "?" => Token::One,
            s => Token::Lit(s.to_string()),
        }))
    }

    #[test]
    fn normalisation_and_shapes() {
        assert_eq!(p(&["*", "*", "a", "b", "*"]).shape(), Shape::Contains("ab"));
        assert_eq!(p(&["a", "*"]).shape(), Shape::Prefix("a"));
        assert_eq!(p(&["*", "a"]).shape(), Shape::Suffix("a"));
        assert_eq!(p(&[]).shape(), Shape::Exact(""));
        assert_eq!(p(&["*"]).shape(), Shape::Any);
        assert_eq!(p(&["a", "?"]).shape(), Shape::Glob);
    }

    /// A deserialized token list is normalised as `Pattern::new` does it,
    /// kept as it is when already normal.
    #[test]
    fn every_token_list_becomes_the_normal_pattern() {
        let tokens = |s: &str| -> Vec<Token> {
            s.chars()
                .map(|c| match c {
                    '*' => Token::Star,
                    '?' => Token::One,
                    'e' => Token::Lit(String::new()),
                    c => Token::Lit(c.to_string()),
                })
                .collect()
        };
        for s in ["", "a", "ab", "*a", "**", "a*", "e", "ae", "?*?", "*e*", "a?b", "*ab*c", "e*e", "?"] {
            assert_eq!(Pattern::from(tokens(s)), Pattern::new(tokens(s)), "{s:?}");
        }
    }

    #[test]
    fn glob_matching_backtracks() {
        assert!(p(&["*", "ab", "*", "cd"]).matches("xxabyyabzcd"));
        assert!(p(&["a", "*", "b", "*", "c"]).matches("abbbc"));
        assert!(!p(&["a", "*", "b", "*", "c"]).matches("abbb"));
        assert!(p(&["?", "?"]).matches("éa"));
        assert!(!p(&["?", "?"]).matches("é"));
        assert!(p(&["*", "?"]).matches("x"));
        assert!(!p(&["*", "?"]).matches(""));
        assert!(p(&[]).matches(""));
        assert!(!p(&[]).matches("a"));
        assert!(p(&["*", "😀", "*"]).matches("a😀b"));
    }

    #[test]
    fn sigma_rendering_escapes_what_it_must() {
        assert_eq!(p(&["C:\\Windows\\", "*"]).to_sigma(), "C:\\Windows\\\\*");
        assert_eq!(p(&["a*b"]).to_sigma(), "a\\*b");
        assert_eq!(p(&["\\\\host"]).to_sigma(), "\\\\\\host");
    }
}
