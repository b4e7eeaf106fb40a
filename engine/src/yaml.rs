//! The only module that reads YAML.
//!
//! `serde_yaml` is deprecated upstream but stable; everything that touches it
//! lives here so that a maintained fork can replace it in one place. The rest
//! of the crate (and the CLI) sees only [`Yaml`], a plain tree that keeps
//! mapping order, plus the line ranges of the documents of a multi-document
//! file so that errors can point at lines.
//!
//! `serde_yaml` does not report the position of values, so `locate` finds
//! an error's line by walking the key path through the text. It is a
//! best-effort heuristic for messages, never used for semantics.

use crate::error::{Anchor, Error, ErrorKind, Result};

/// A YAML value, as the rule loader and the CLI see it.
///
/// Mappings keep the order of their keys (Sigma's `1 of selection*` and
/// `them` follow the order of the detection section). Scalar mapping keys
/// are turned into strings (`4688: x` has the key `"4688"`).
#[derive(Clone, Debug, PartialEq)]
pub enum Yaml {
    /// `null`, `~` or an empty value.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer that fits in an `i64`.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<Yaml>),
    /// A mapping, in document order.
    Map(Vec<(String, Yaml)>),
}

impl Yaml {
    /// Looks up a key of a mapping.
    pub fn get(&self, key: &str) -> Option<&Yaml> {
        match self {
            Yaml::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Yaml::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A short name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Yaml::Null => "null",
            Yaml::Bool(_) => "a boolean",
            Yaml::Int(_) | Yaml::Float(_) => "a number",
            Yaml::Str(_) => "a string",
            Yaml::Seq(_) => "a list",
            Yaml::Map(_) => "a map",
        }
    }
}

/// One document of a YAML file, with the lines it spans.
#[derive(Clone, Debug)]
pub struct Document {
    /// The parsed value. Empty documents are not returned at all.
    pub value: Yaml,
    /// 0-based index of the document in its file (counting empty ones).
    pub index: usize,
    /// First line (1-based) of the document's text.
    pub first_line: usize,
    /// Last line (1-based, inclusive) of the document's text.
    pub last_line: usize,
}

/// Parses every document of a (possibly multi-document) YAML text.
///
/// A syntax error anywhere fails the whole text: YAML cannot resynchronise
/// after one, and guessing would risk loading half a rule.
pub fn parse(text: &str) -> std::result::Result<Vec<Document>, Error> {
    use serde::Deserialize;
    let ranges = document_ranges(text);
    let mut docs = Vec::new();
    for (index, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = serde_yaml::Value::deserialize(de).map_err(|e| yaml_error(e, text))?;
        let value = convert(value).map_err(|e| {
            let (first, _) = ranges.get(index).copied().unwrap_or((1, 1));
            e.at(Anchor::Line { line: first, column: 1 })
        })?;
        if value == Yaml::Null {
            continue;
        }
        let (first_line, last_line) = ranges.get(index).copied().unwrap_or((1, text.lines().count().max(1)));
        docs.push(Document { value, index, first_line, last_line });
    }
    Ok(docs)
}

fn yaml_error(e: serde_yaml::Error, text: &str) -> Error {
    let message = strip_location(&e.to_string()).to_string();
    let err = Error::new(ErrorKind::Yaml, format!("invalid YAML: {message}"));
    let Some(loc) = e.location() else { return err };
    let (mut line, mut column) = (loc.line(), loc.column());
    // serde_yaml reports a duplicate key at the start of its mapping; point
    // at the second occurrence of the key instead, which is what is wrong.
    const DUPLICATE: &str = "duplicate entry with key ";
    if let Some(key) = message.find(DUPLICATE).map(|i| message[i + DUPLICATE.len()..].trim_matches('"')) {
        let lines: Vec<&str> = text.lines().collect();
        if let Some((first, _)) = find_key(&lines, line, lines.len(), key)
            && let Some((second, col)) = find_key(&lines, first + 1, lines.len(), key)
        {
            (line, column) = (second, col);
        }
    }
    err.at(Anchor::Line { line, column })
}

/// serde_yaml appends " at line X column Y" to its messages; we print the
/// position ourselves.
fn strip_location(msg: &str) -> &str {
    match msg.find(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    }
}

fn convert(v: serde_yaml::Value) -> Result<Yaml> {
    use serde_yaml::Value as V;
    Ok(match v {
        V::Null => Yaml::Null,
        V::Bool(b) => Yaml::Bool(b),
        V::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Int(i),
            // OK: every YAML number is representable as f64, possibly rounded.
            None => Yaml::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        V::String(s) => Yaml::Str(s),
        V::Sequence(items) => Yaml::Seq(items.into_iter().map(convert).collect::<Result<_>>()?),
        V::Mapping(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (k, v) in map {
                let key = match k {
                    V::String(s) => s,
                    V::Number(n) => n.to_string(),
                    V::Bool(b) => b.to_string(),
                    V::Null => String::new(),
                    other => {
                        return Err(Error::new(
                            ErrorKind::Yaml,
                            format!("mapping keys must be scalars, found {other:?}"),
                        ));
                    }
                };
                entries.push((key, convert(v)?));
            }
            Yaml::Map(entries)
        }
        // Sigma does not use YAML tags; a tagged value is read as its content.
        V::Tagged(t) => convert(t.value)?,
    })
}

/// Line ranges (1-based, inclusive) of the documents in `text`, in the order
/// the YAML parser yields them. A `---` line starts a new document; text
/// before the first marker is a document only if it holds more than
/// comments and blank lines.
fn document_ranges(text: &str) -> Vec<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let total = lines.len().max(1);
    let markers: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| *l == &"---" || l.starts_with("--- ") || l.starts_with("---\t"))
        .map(|(i, _)| i + 1)
        .collect();
    let mut ranges = Vec::new();
    let first_end = markers.first().map_or(total, |m| m - 1);
    let preamble_has_content = lines[..first_end.min(lines.len())].iter().any(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#') && !t.starts_with('%')
    });
    if markers.is_empty() || preamble_has_content {
        ranges.push((1, first_end.max(1)));
    }
    for (i, m) in markers.iter().enumerate() {
        let end = markers.get(i + 1).map_or(total, |next| next - 1);
        ranges.push(((m + 1).min(total), end.max(m + 1).min(total)));
    }
    ranges
}

/// A position found by [`locate`]: 1-based line and column, the width to
/// underline, and the text of the line.
pub(crate) struct Position {
    pub line: usize,
    pub column: Option<usize>,
    pub width: usize,
    pub snippet: String,
}

/// Finds the line an [`Anchor`] refers to inside the document spanning
/// `first..=last` lines of `text`.
pub(crate) fn locate(text: &str, first: usize, last: usize, anchor: &Anchor) -> Option<Position> {
    let lines: Vec<&str> = text.lines().collect();
    let line_at = |n: usize| lines.get(n.wrapping_sub(1)).copied();
    let position = |line: usize, column: Option<usize>, width: usize| {
        line_at(line).map(|s| Position { line, column, width, snippet: s.trim_end().to_string() })
    };
    match anchor {
        Anchor::Document => position(first, None, 1),
        Anchor::Line { line, column } => position(*line, Some(*column), 1),
        Anchor::Path(keys, value) => {
            let mut at = first;
            let mut found: Option<(usize, usize, usize)> = None;
            for key in keys {
                if let Some((line, col)) = find_key(&lines, at, last, key) {
                    found = Some((line, col, key.chars().count()));
                    at = line + 1;
                }
            }
            if let Some(v) = value {
                let needle: String = v.chars().take(40).collect();
                if !needle.is_empty() {
                    let from = found.map_or(first, |f| f.0);
                    for n in from..=last {
                        if let Some(col) = line_at(n).and_then(|l| l.find(&needle)) {
                            let l = line_at(n).unwrap_or_default();
                            found = Some((n, l[..col].chars().count() + 1, needle.chars().count()));
                            break;
                        }
                    }
                }
            }
            match found {
                Some((line, col, width)) => position(line, Some(col), width),
                None => position(first, None, 1),
            }
        }
        Anchor::Condition { section, index, column, width } => {
            let detection = find_key(&lines, first, last, section).map_or(first, |(l, _)| l);
            let (line, key_col) = find_key(&lines, detection, last, "condition")?;
            let key_line = line_at(line)?;
            // Inline condition: `condition: <text>` (possibly quoted).
            let after_key =
                key_line[byte_of_col(key_line, key_col)..].find(':').map(|i| byte_of_col(key_line, key_col) + i + 1)?;
            let rest = &key_line[after_key..];
            let trimmed = rest.trim_start();
            if !trimmed.is_empty()
                && !trimmed.starts_with('#')
                && !trimmed.starts_with('|')
                && !trimmed.starts_with('>')
            {
                let mut start = after_key + (rest.len() - trimmed.len());
                if trimmed.starts_with('\'') || trimmed.starts_with('"') {
                    start += 1;
                }
                let col = key_line[..start].chars().count() + 1 + column;
                return position(line, Some(col), *width);
            }
            // List of conditions: the index-th `- ` item after the key.
            let mut seen = 0;
            for n in line + 1..=last {
                let l = line_at(n)?;
                let t = l.trim_start();
                if let Some(item) = t.strip_prefix("- ") {
                    if seen == *index {
                        let mut start = l.len() - item.len();
                        let it = item.trim_start();
                        start += item.len() - it.len();
                        if it.starts_with('\'') || it.starts_with('"') {
                            start += 1;
                        }
                        let col = l[..start].chars().count() + 1 + column;
                        return position(n, Some(col), *width);
                    }
                    seen += 1;
                } else if !t.is_empty() && !t.starts_with('#') {
                    break;
                }
            }
            position(line, Some(key_col), "condition".len())
        }
    }
}

/// One step of a path into a YAML document, for [`locate_path`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathStep<'a> {
    /// A mapping key.
    Key(&'a str),
    /// The n-th (0-based) item of a block sequence.
    Index(usize),
}

/// The 1-based line of the value at `path` inside the document spanning
/// lines `first..=last` of `text` (a [`Document`]'s `first_line` and
/// `last_line`), or of the deepest step that could be found; `None` if not
/// even the first step was found.
///
/// Like the rest of the line finding here, this walks the text, not the
/// parse: it is meant for messages (`file:line: unknown key`), and flow
/// style (`[a, b]`, `{k: v}`) resolves only to the line of the enclosing key.
///
/// ```
/// use sigmata::yaml::{PathStep, locate_path};
/// let text = "cases:\n  - name: a\n    event: {x: 1}\n  - name: b\n    evnt: {x: 2}\n";
/// let path = [PathStep::Key("cases"), PathStep::Index(1), PathStep::Key("evnt")];
/// assert_eq!(locate_path(text, 1, 5, &path), Some(5));
/// ```
pub fn locate_path(text: &str, first: usize, last: usize, path: &[PathStep<'_>]) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let last = last.min(lines.len());
    let indent = |l: &str| l.len() - l.trim_start().len();
    let (mut from, mut to) = (first, last);
    let mut found: Option<usize> = None;
    for step in path {
        match step {
            PathStep::Key(k) => {
                let Some((line, col)) = find_key(&lines, from, to, k) else { return found };
                found = Some(line);
                // The key's value: the following lines indented deeper than
                // the key (or list items at its indentation).
                let key_indent = col - 1;
                let mut end = line;
                for n in line + 1..=to {
                    let l = lines[n - 1];
                    let t = l.trim_start();
                    if t.is_empty() || t.starts_with('#') {
                        continue;
                    }
                    if indent(l) > key_indent || (indent(l) == key_indent && t.starts_with('-')) {
                        end = n;
                    } else {
                        break;
                    }
                }
                // An inline value (`key: value`) stays on the key's line.
                from = if end > line { line + 1 } else { line };
                to = end;
            }
            PathStep::Index(i) => {
                let mut items = Vec::new();
                let mut item_indent = None;
                for n in from..=to {
                    let l = lines[n - 1];
                    let t = l.trim_start();
                    if t.is_empty() || t.starts_with('#') {
                        continue;
                    }
                    let is_item = t == "-" || t.starts_with("- ");
                    match item_indent {
                        None if is_item => {
                            item_indent = Some(indent(l));
                            items.push(n);
                        }
                        Some(ind) if is_item && indent(l) == ind => items.push(n),
                        Some(ind) if indent(l) < ind => break,
                        _ => {}
                    }
                }
                let Some(&start) = items.get(*i) else { return found };
                found = Some(start);
                let end = items.get(i + 1).map_or(to, |next| next - 1);
                (from, to) = (start, end);
            }
        }
    }
    found
}

fn byte_of_col(line: &str, col: usize) -> usize {
    line.char_indices().nth(col.saturating_sub(1)).map_or(line.len(), |(i, _)| i)
}

/// Finds the first line in `from..=to` that holds `key` as a mapping key
/// (bare, single- or double-quoted, possibly after a `- ` list marker) and
/// returns the line and the 1-based column of the key.
fn find_key(lines: &[&str], from: usize, to: usize, key: &str) -> Option<(usize, usize)> {
    for n in from..=to.min(lines.len()) {
        let line = lines[n - 1];
        let mut t = line.trim_start();
        while let Some(rest) = t.strip_prefix("- ") {
            t = rest.trim_start();
        }
        let offset = line.len() - t.len();
        for candidate in [key.to_string(), format!("'{key}'"), format!("\"{key}\"")] {
            if let Some(rest) = t.strip_prefix(candidate.as_str())
                && rest.trim_start().starts_with(':')
            {
                return Some((n, line[..offset].chars().count() + 1));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_ranges_follow_markers() {
        let text = "# comment\n---\na: 1\n---\nb: 2\nc: 3\n";
        let docs = parse(text).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!((docs[0].first_line, docs[0].last_line), (3, 3));
        assert_eq!((docs[1].first_line, docs[1].last_line), (5, 6));
        let text = "a: 1\n---\nb: 2\n";
        let docs = parse(text).unwrap();
        assert_eq!((docs[0].first_line, docs[1].first_line), (1, 3));
    }

    #[test]
    fn mapping_order_and_scalar_keys_are_kept() {
        let docs = parse("z: 1\n4688: x\na: [1, 2.5, true, ~, s]\n").unwrap();
        let Yaml::Map(entries) = &docs[0].value else { panic!("not a map") };
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["z", "4688", "a"]);
        assert_eq!(
            docs[0].value.get("a"),
            Some(&Yaml::Seq(vec![Yaml::Int(1), Yaml::Float(2.5), Yaml::Bool(true), Yaml::Null, Yaml::Str("s".into())]))
        );
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let e = parse("a: 1\nb: [unclosed\n").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Yaml);
        assert!(matches!(e.anchor(), Anchor::Line { .. }));
        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert!(e.message().contains("duplicate"), "{}", e.message());
    }

    #[test]
    fn keys_are_located_along_their_path() {
        let text = "title: t\ndetection:\n    sel:\n        Image: x\n    other:\n        'Image|re': y\n";
        let anchor = Anchor::Path(vec!["detection".into(), "other".into(), "Image|re".into()], None);
        let p = locate(text, 1, 6, &anchor).unwrap();
        assert_eq!((p.line, p.column), (6, Some(9)));
    }
}
