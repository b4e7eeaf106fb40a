//! Values on their way through the modifier chain: pySigma's string
//! parsing and escapes, and every modifier applied to a [`Val`].

use base64::Engine as _;

use super::{Limits, expansion_limit};
use crate::error::{Error, ErrorKind, Result};
use crate::front::modifier::Modifier;
use crate::front::rule::Scalar;
use crate::ir::{CmpOp, Pattern, ReFlags, Target, TimePart, Token};

/// A part of a Sigma string.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Part {
    Lit(String),
    Star,
    One,
    Placeholder(String),
}

/// Parses a Sigma string value exactly as pySigma does: a backslash escapes
/// only `*`, `?` and `\`; before any other character (or at the end) it is a
/// literal backslash. Unescaped `*` and `?` are wildcards.
pub(super) fn parse_sigma_string(s: &str) -> Vec<Part> {
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
pub(super) struct SStr {
    pub(super) parts: Vec<Part>,
    /// The value as written, while no modifier has changed it (for `re`).
    pub(super) original: Option<String>,
    pub(super) cased: bool,
    /// After a UTF-16 modifier each char is one byte (U+0000–U+00FF), so a
    /// following Base64 modifier encodes the bytes, not their UTF-8 form.
    pub(super) bytes: bool,
}

impl SStr {
    pub(super) fn new(text: &str) -> SStr {
        SStr { parts: parse_sigma_string(text), original: Some(text.to_string()), cased: false, bytes: false }
    }

    pub(super) fn literal(text: String) -> SStr {
        SStr { parts: vec![Part::Lit(text)], original: None, cased: false, bytes: false }
    }

    pub(super) fn clone_meta(&self) -> SStr {
        SStr { parts: Vec::new(), original: None, cased: self.cased, bytes: self.bytes }
    }

    pub(super) fn has_wildcards(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Star | Part::One))
    }

    pub(super) fn plain(&self) -> Option<String> {
        let mut s = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(l) => s.push_str(l),
                _ => return None,
            }
        }
        Some(s)
    }

    pub(super) fn pattern(&self) -> Pattern {
        Pattern::new(self.parts.iter().map(|p| match p {
            Part::Lit(s) => Token::Lit(s.clone()),
            Part::Star => Token::Star,
            Part::One => Token::One,
            // Placeholders are resolved before patterns are built; a
            // leftover one is kept literally as it was written.
            Part::Placeholder(n) => Token::Lit(format!("%{n}%")),
        }))
    }

    pub(super) fn changed(mut self) -> SStr {
        self.original = None;
        self
    }
}

#[derive(Clone, Debug)]
pub(super) struct Re {
    pub(super) pattern: String,
    pub(super) flags: ReFlags,
    pub(super) anchor_start: bool,
    pub(super) anchor_end: bool,
}

impl Re {
    /// The pattern with any anchors the position modifiers asked for.
    pub(super) fn source(&self) -> String {
        match (self.anchor_start, self.anchor_end) {
            (false, false) => self.pattern.clone(),
            (true, false) => format!("^(?:{})", self.pattern),
            (false, true) => format!("(?:{})$", self.pattern),
            (true, true) => format!("^(?:{})$", self.pattern),
        }
    }
}

#[derive(Clone, Debug)]
pub(super) struct FieldRefVal {
    pub(super) name: String,
    /// Anything may come before the other field's value (`endswith`, `contains`).
    pub(super) any_before: bool,
    /// Anything may come after it (`startswith`, `contains`).
    pub(super) any_after: bool,
    pub(super) cased: bool,
}

#[derive(Clone, Debug)]
pub(super) enum Val {
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
    pub(super) fn from_scalar(s: &Scalar) -> Val {
        match s {
            Scalar::Null => Val::Null,
            Scalar::Bool(b) => Val::Bool(*b),
            Scalar::Int(i) => Val::Num(i.to_string(), *i as f64),
            Scalar::Float(f) => Val::Num(crate::front::rule::format_float(*f), *f),
            Scalar::Str(s) => Val::Str(SStr::new(s)),
        }
    }

    pub(super) fn kind(&self) -> &'static str {
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
    pub(super) fn into_str(self) -> Option<SStr> {
        match self {
            Val::Str(s) => Some(s),
            Val::Num(text, _) => Some(SStr::literal(text)),
            Val::Bool(b) => Some(SStr::literal(b.to_string())),
            _ => None,
        }
    }
}

pub(super) fn wrong(m: Modifier, v: &Val) -> Error {
    Error::new(ErrorKind::Modifier, format!("modifier '{m}' cannot be applied to {}", v.kind()))
}

/// Applies modifier `m` to `v`; `before` are the value modifiers already applied.
pub(super) fn apply(m: Modifier, v: Val, before: &[Modifier], target: Target, limits: &Limits) -> Result<Val> {
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

pub(super) fn count_leaves(vs: &[Val]) -> usize {
    vs.iter().map(|v| if let Val::Any(inner) = v { count_leaves(inner) } else { 1 }).sum()
}

/// pySigma's `base64offset`: the Base64 of the value shifted by 0, 1 and 2
/// bytes, with the characters that depend on the unknown neighbours cut off.
pub(super) fn base64_offsets(data: &[u8]) -> Vec<String> {
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

pub(super) fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// pySigma's `windash`: every `-` or `/` matching `\B[-/]\b` inside a literal
/// part (not after a word character, before one) becomes each of
/// `-`, `/`, `–`, `—`, `―`, in all combinations.
pub(super) fn windash(s: SStr, limits: &Limits) -> Result<Val> {
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
pub(super) fn insert_placeholders(parts: &[Part]) -> Vec<Part> {
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

pub(super) fn parse_cidr(text: &str) -> Result<ipnet::IpNet> {
    let t = text.trim();
    t.parse::<ipnet::IpNet>()
        .or_else(|_| t.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map(|n| n.trunc())
        .map_err(|_| Error::new(ErrorKind::Value, format!("'{text}' is not an IPv4 or IPv6 network (CIDR)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn lits(parts: &[Part]) -> String {
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
    pub(super) fn escapes_follow_pysigma() {
        assert_eq!(lits(&parse_sigma_string(r"C:\Windows\")), r"[C:\Windows\]");
        assert_eq!(lits(&parse_sigma_string(r"\\*")), r"[\]*");
        assert_eq!(lits(&parse_sigma_string(r"\\\*")), r"[\*]");
        assert_eq!(lits(&parse_sigma_string(r"\\\\")), r"[\\]");
        assert_eq!(lits(&parse_sigma_string(r"\\\")), r"[\\]");
        assert_eq!(lits(&parse_sigma_string(r"a\?b?c*")), r"[a?b]?[c]*");
        assert_eq!(lits(&parse_sigma_string(r"\\\\\?\\GLOBALROOT")), r"[\\?\GLOBALROOT]");
    }

    #[test]
    pub(super) fn base64_offsets_match_pysigma() {
        // Expected values printed by pySigma's own formula in Python:
        // b64("Invoke") = "SW52b2tl"; b64(" Invoke") = "IEludm9rZQ=="; b64("  Invoke") = "ICBJbnZva2U=".
        assert_eq!(base64_offsets(b"Invoke"), ["SW52b2tl", "ludm9rZ", "JbnZva2"]);
    }

    #[test]
    pub(super) fn windash_positions() {
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
    pub(super) fn placeholders_are_found_and_escaped() {
        let parts = insert_placeholders(&parse_sigma_string(r"x%Admins%y\%z%a b%"));
        assert_eq!(lits(&parts), "[x]%Admins%[y%z%a b%]");
    }
}
