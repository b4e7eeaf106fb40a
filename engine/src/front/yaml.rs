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

use crate::error::{Anchor, Error, ErrorKind};

/// A YAML value, as the rule loader and the CLI see it.
///
/// Mappings keep the order of their keys (Sigma's `1 of selection*` and
/// `them` follow the order of the detection section). Scalar mapping keys
/// are turned into strings (`4688: x` has the key `"4688"`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(into = "FlatYaml", try_from = "FlatYaml")]
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

/// Deepest [`Yaml`] tree a (de)serialized form may hold. Deserializing
/// builds the tree without recursion, but dropping or walking it recurses,
/// so the depth is bounded; rule files nest a few levels.
const MAX_FLAT_DEPTH: usize = 256;

/// A [`Yaml`] tree in post order (children before their parent), the form
/// it is serialized in (rule bundles): reading it back needs no recursion,
/// so a hostile bundle cannot overflow the stack.
#[derive(serde::Serialize, serde::Deserialize)]
struct FlatYaml(Vec<FlatNode>);

#[derive(serde::Serialize, serde::Deserialize)]
enum FlatNode {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A sequence of the last `n` values built.
    Seq(u32),
    /// A mapping of the last `keys.len()` values built, with these keys.
    Map(Vec<String>),
}

impl From<Yaml> for FlatYaml {
    fn from(y: Yaml) -> FlatYaml {
        enum Work {
            Visit(Yaml),
            Seq(u32),
            Map(Vec<String>),
        }
        let mut out = Vec::new();
        let mut stack = vec![Work::Visit(y)];
        while let Some(w) = stack.pop() {
            match w {
                Work::Visit(Yaml::Seq(items)) => {
                    // OK: a rule file holds far fewer than 2^32 items.
                    stack.push(Work::Seq(u32::try_from(items.len()).unwrap_or(u32::MAX)));
                    stack.extend(items.into_iter().rev().map(Work::Visit));
                }
                Work::Visit(Yaml::Map(entries)) => {
                    let (keys, values): (Vec<String>, Vec<Yaml>) = entries.into_iter().unzip();
                    stack.push(Work::Map(keys));
                    stack.extend(values.into_iter().rev().map(Work::Visit));
                }
                Work::Visit(Yaml::Null) => out.push(FlatNode::Null),
                Work::Visit(Yaml::Bool(b)) => out.push(FlatNode::Bool(b)),
                Work::Visit(Yaml::Int(i)) => out.push(FlatNode::Int(i)),
                Work::Visit(Yaml::Float(f)) => out.push(FlatNode::Float(f)),
                Work::Visit(Yaml::Str(s)) => out.push(FlatNode::Str(s)),
                Work::Seq(n) => out.push(FlatNode::Seq(n)),
                Work::Map(keys) => out.push(FlatNode::Map(keys)),
            }
        }
        FlatYaml(out)
    }
}

impl TryFrom<FlatYaml> for Yaml {
    type Error = String;

    fn try_from(flat: FlatYaml) -> Result<Yaml, String> {
        // Built values with their depth.
        let mut stack: Vec<(Yaml, usize)> = Vec::new();
        for node in flat.0 {
            let (value, depth) = match node {
                FlatNode::Null => (Yaml::Null, 1),
                FlatNode::Bool(b) => (Yaml::Bool(b), 1),
                FlatNode::Int(i) => (Yaml::Int(i), 1),
                FlatNode::Float(f) => (Yaml::Float(f), 1),
                FlatNode::Str(s) => (Yaml::Str(s), 1),
                FlatNode::Seq(n) => {
                    let at = stack.len().checked_sub(n as usize).ok_or("a YAML sequence lacks its items")?;
                    let items = stack.split_off(at);
                    let depth = 1 + items.iter().map(|(_, d)| *d).max().unwrap_or(0);
                    (Yaml::Seq(items.into_iter().map(|(y, _)| y).collect()), depth)
                }
                FlatNode::Map(keys) => {
                    let at = stack.len().checked_sub(keys.len()).ok_or("a YAML mapping lacks its values")?;
                    let values = stack.split_off(at);
                    let depth = 1 + values.iter().map(|(_, d)| *d).max().unwrap_or(0);
                    (Yaml::Map(keys.into_iter().zip(values).map(|(k, (v, _))| (k, v)).collect()), depth)
                }
            };
            if depth > MAX_FLAT_DEPTH {
                return Err(format!("a YAML value nests more than {MAX_FLAT_DEPTH} levels"));
            }
            stack.push((value, depth));
        }
        match (stack.pop(), stack.is_empty()) {
            (Some((y, _)), true) => Ok(y),
            _ => Err("a YAML value is not one tree".to_string()),
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

/// Parses every document of a (possibly multi-document) YAML text, with
/// the default size budget (see [`parse_limited`]): 1 MiB or the length of
/// the text, whichever is larger.
///
/// A syntax error anywhere fails the whole text: YAML cannot resynchronise
/// after one, and guessing would risk loading half a rule.
pub fn parse(text: &str) -> std::result::Result<Vec<Document>, Error> {
    parse_limited(text, text.len().max(1 << 20))
}

/// Parses every document of a YAML text, refusing it with a
/// [`max_rule_bytes`](crate::Config::max_rule_bytes) limit error once the
/// trees it builds exceed `budget` bytes.
///
/// Aliases make the tree of a small text arbitrarily large (`b: [*a, *a, …]`
/// over `a: &a [x, x, …]` squares it with each level, the "billion laughs";
/// serde_yaml bounds alias jumps only by 100 per event). Every node is
/// counted as it is built: a scalar (key or value) by its length, at least 1,
/// a sequence or mapping as 1. Without aliases that count never exceeds the
/// length of the text (`{a,b}` costs 5), so a text within the rule size
/// limit is refused only if aliases blow it up. Nesting is bounded by
/// serde_yaml's recursion limit (128 levels), which also bounds every later
/// walk of the tree.
pub fn parse_limited(text: &str, budget: usize) -> std::result::Result<Vec<Document>, Error> {
    use serde::de::DeserializeSeed;
    if let Some((line, column)) = flow_nesting_exceeds(text, MAX_FLOW_DEPTH) {
        return Err(Error::new(
            ErrorKind::Yaml,
            format!("invalid YAML: flow collections ('[', '{{') nest more than {MAX_FLOW_DEPTH} levels deep"),
        )
        .at(Anchor::Line { line, column }));
    }
    let ranges = document_ranges(text);
    let mut docs = Vec::new();
    let spent = std::cell::Cell::new(0usize);
    for (index, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let seed = Seed { budget, spent: &spent };
        let value = match seed.deserialize(de) {
            Ok(v) => v,
            // serde_yaml's own alias bound (100 jumps per event) catches
            // the exponential forms before the budget does: same refusal.
            Err(e) if spent.get() > budget || e.to_string().starts_with("repetition limit exceeded") => {
                return Err(Error::limit_exceeded(
                    "max_rule_bytes",
                    budget,
                    format!("the YAML expands (through aliases) to more than the limit of {budget} bytes"),
                ));
            }
            Err(e) => return Err(yaml_error(e, text)),
        };
        if value == Yaml::Null {
            continue;
        }
        let (first_line, last_line) = ranges.get(index).copied().unwrap_or_else(|| (1, text.lines().count().max(1)));
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
        let spans = Lines::spans(text);
        let lines = Lines::new(text, &spans);
        if let Some((first, _)) = find_key(&lines, line, lines.len(), key)
            && let Some((second, col)) = find_key(&lines, first + 1, lines.len(), key)
        {
            (line, column) = (second, col);
        }
    }
    err.at(Anchor::Line { line, column })
}

/// The deepest flow nesting [`parse_limited`] hands to serde_yaml: its own
/// recursion limit, so that nothing it would accept is refused.
const MAX_FLOW_DEPTH: usize = 128;

/// Where flow collections first nest deeper than `max`, if they do (1-based
/// line and column).
///
/// libyaml's scanner (which serde_yaml runs over the whole text before it
/// builds anything) walks its stack of possible simple keys, one per open
/// flow level, for every token: 40,000 `[` took 5 s and a megabyte of them
/// would take an hour. serde_yaml's recursion limit applies only after the
/// scan. So the same scanner is run here first, token by token, and stopped
/// as soon as the flow depth passes `max`: the cost is then linear. Texts
/// with few brackets (every real rule) skip the scan.
fn flow_nesting_exceeds(text: &str, max: usize) -> Option<(usize, usize)> {
    use std::mem::MaybeUninit;
    let openers = memchr::memchr2_iter(b'[', b'{', text.as_bytes()).count();
    if openers <= max {
        return None;
    }
    let mut parser = MaybeUninit::<unsafe_libyaml::yaml_parser_t>::uninit();
    let parser = parser.as_mut_ptr();
    // SAFETY: the calls follow libyaml's protocol exactly as serde_yaml's
    // loader does: initialise the parser (on failure nothing was allocated),
    // give it the input (which outlives the parser: it is dropped below,
    // before `text` goes out of scope), scan tokens until the end of the
    // stream or an error, delete each token after reading its type, and
    // delete the parser once. `yaml_parser_scan` fully writes the token it
    // is given when it succeeds; on failure the token is left empty.
    unsafe {
        if unsafe_libyaml::yaml_parser_initialize(parser).fail {
            return None;
        }
        unsafe_libyaml::yaml_parser_set_input_string(parser, text.as_ptr(), text.len() as u64);
        let mut depth = 0usize;
        let mut found = None;
        loop {
            let mut token = MaybeUninit::<unsafe_libyaml::yaml_token_t>::uninit();
            if unsafe_libyaml::yaml_parser_scan(parser, token.as_mut_ptr()).fail {
                break;
            }
            let token = token.as_mut_ptr();
            let (kind, mark) = ((*token).type_, (*token).start_mark);
            unsafe_libyaml::yaml_token_delete(token);
            match kind {
                unsafe_libyaml::YAML_FLOW_SEQUENCE_START_TOKEN | unsafe_libyaml::YAML_FLOW_MAPPING_START_TOKEN => {
                    depth += 1;
                    if depth > max {
                        found = Some((mark.line as usize + 1, mark.column as usize + 1));
                        break;
                    }
                }
                unsafe_libyaml::YAML_FLOW_SEQUENCE_END_TOKEN | unsafe_libyaml::YAML_FLOW_MAPPING_END_TOKEN => {
                    depth = depth.saturating_sub(1)
                }
                unsafe_libyaml::YAML_STREAM_END_TOKEN | unsafe_libyaml::YAML_NO_TOKEN => break,
                _ => {}
            }
        }
        unsafe_libyaml::yaml_parser_delete(parser);
        found
    }
}

/// serde_yaml appends " at line X column Y" to its messages; we print the
/// position ourselves.
fn strip_location(msg: &str) -> &str {
    match msg.find(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    }
}

/// Builds a [`Yaml`] straight from serde_yaml's events (no intermediate
/// `serde_yaml::Value`), charging every node to a shared budget. It reads
/// what `serde_yaml::Value` would and converts it the same way: integers
/// that fit an `i64` are `Int`, other numbers `Float`, tags are dropped,
/// scalar keys become strings, and a repeated key is an error (keys of
/// different YAML types, `1` and `'1'`, are different keys, as in serde_yaml).
#[derive(Clone, Copy)]
struct Seed<'a> {
    budget: usize,
    spent: &'a std::cell::Cell<usize>,
}

impl Seed<'_> {
    fn charge<E: serde::de::Error>(&self, n: usize) -> std::result::Result<(), E> {
        let spent = self.spent.get().saturating_add(n);
        self.spent.set(spent);
        if spent > self.budget {
            // The caller sees `spent > budget` and reports the limit.
            return Err(E::custom("YAML size budget exceeded"));
        }
        Ok(())
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Seed<'_> {
    type Value = Yaml;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<Yaml, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Seed<'_> {
    type Value = Yaml;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: serde::de::Error>(self, b: bool) -> std::result::Result<Yaml, E> {
        self.charge(1)?;
        Ok(Yaml::Bool(b))
    }

    fn visit_i64<E: serde::de::Error>(self, i: i64) -> std::result::Result<Yaml, E> {
        self.charge(1)?;
        Ok(Yaml::Int(i))
    }

    fn visit_u64<E: serde::de::Error>(self, u: u64) -> std::result::Result<Yaml, E> {
        self.charge(1)?;
        Ok(i64::try_from(u).map_or(Yaml::Float(u as f64), Yaml::Int))
    }

    fn visit_f64<E: serde::de::Error>(self, f: f64) -> std::result::Result<Yaml, E> {
        self.charge(1)?;
        Ok(Yaml::Float(f))
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> std::result::Result<Yaml, E> {
        self.charge(s.len().max(1))?;
        Ok(Yaml::Str(s.to_string()))
    }

    fn visit_string<E: serde::de::Error>(self, s: String) -> std::result::Result<Yaml, E> {
        self.charge(s.len().max(1))?;
        Ok(Yaml::Str(s))
    }

    fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<Yaml, E> {
        self.charge(1)?;
        Ok(Yaml::Null)
    }

    fn visit_none<E: serde::de::Error>(self) -> std::result::Result<Yaml, E> {
        self.visit_unit()
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<Yaml, D::Error> {
        serde::de::DeserializeSeed::deserialize(self, d)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Yaml, A::Error> {
        self.charge(1)?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Yaml::Seq(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<Yaml, A::Error> {
        use serde::de::Error as _;
        self.charge(1)?;
        let mut entries: Vec<(String, Yaml)> = Vec::new();
        // Keys by serde_yaml's type and text, for its duplicate rule.
        let mut seen: std::collections::HashSet<(u8, String)> = std::collections::HashSet::new();
        while let Some(Key { kind, text, shown }) = map.next_key_seed(KeySeed(self))? {
            if !seen.insert((kind, text.clone())) {
                return Err(A::Error::custom(format!("duplicate entry {shown}")));
            }
            let value = map.next_value_seed(self)?;
            entries.push((text, value));
        }
        Ok(Yaml::Map(entries))
    }

    fn visit_enum<A: serde::de::EnumAccess<'de>>(self, data: A) -> std::result::Result<Yaml, A::Error> {
        // A tagged value (`!foo x`): Sigma does not use tags; read the content.
        use serde::de::VariantAccess;
        let (_tag, variant) = data.variant::<serde::de::IgnoredAny>()?;
        variant.newtype_variant_seed(self)
    }
}

/// A mapping key as serde_yaml's `Value` would hold it: its type (keys of
/// different types are different keys), its text, and how serde_yaml's
/// duplicate-key message shows it.
struct Key {
    kind: u8,
    text: String,
    shown: String,
}

/// Reads a mapping key: a scalar, charged to the budget like a value.
struct KeySeed<'a>(Seed<'a>);

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<Key, D::Error> {
        d.deserialize_any(self)
    }
}

impl KeySeed<'_> {
    fn key<E: serde::de::Error>(&self, kind: u8, text: String, shown: String) -> std::result::Result<Key, E> {
        self.0.charge(text.len().max(1))?;
        Ok(Key { kind, text, shown })
    }

    fn complex<E: serde::de::Error>(what: &str) -> std::result::Result<Key, E> {
        Err(E::custom(format!("mapping keys must be scalars, found {what}")))
    }
}

impl<'de> serde::de::Visitor<'de> for KeySeed<'_> {
    type Value = Key;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a scalar mapping key")
    }

    fn visit_bool<E: serde::de::Error>(self, b: bool) -> std::result::Result<Key, E> {
        self.key(2, b.to_string(), format!("with key `{b}`"))
    }

    fn visit_i64<E: serde::de::Error>(self, i: i64) -> std::result::Result<Key, E> {
        self.key(1, i.to_string(), format!("with key {i}"))
    }

    fn visit_u64<E: serde::de::Error>(self, u: u64) -> std::result::Result<Key, E> {
        self.key(1, u.to_string(), format!("with key {u}"))
    }

    fn visit_f64<E: serde::de::Error>(self, f: f64) -> std::result::Result<Key, E> {
        let text = serde_yaml::Number::from(f).to_string();
        let shown = format!("with key {text}");
        self.key(1, text, shown)
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> std::result::Result<Key, E> {
        self.key(0, s.to_string(), format!("with key {s:?}"))
    }

    fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<Key, E> {
        self.key(3, String::new(), "with null key".to_string())
    }

    fn visit_none<E: serde::de::Error>(self) -> std::result::Result<Key, E> {
        self.visit_unit()
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> std::result::Result<Key, A::Error> {
        KeySeed::complex("a sequence")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, _: A) -> std::result::Result<Key, A::Error> {
        KeySeed::complex("a mapping")
    }

    fn visit_enum<A: serde::de::EnumAccess<'de>>(self, _: A) -> std::result::Result<Key, A::Error> {
        KeySeed::complex("a tagged value")
    }
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

/// The lines of a text, as `str::lines` splits them, with O(1) access by
/// line number.
pub(crate) struct Lines<'a> {
    text: &'a str,
    spans: &'a [(usize, usize)],
}

impl<'a> Lines<'a> {
    pub(crate) fn new(text: &'a str, spans: &'a [(usize, usize)]) -> Lines<'a> {
        Lines { text, spans }
    }

    /// The byte range of every line, without its `\n` or `\r\n`.
    pub(crate) fn spans(text: &str) -> Vec<(usize, usize)> {
        let mut spans = Vec::new();
        let mut at = 0;
        for line in text.split_inclusive('\n') {
            let body = line.strip_suffix('\n').map_or(line, |l| l.strip_suffix('\r').unwrap_or(l));
            spans.push((at, at + body.len()));
            at += line.len();
        }
        spans
    }

    /// Line `n` (1-based).
    fn get(&self, n: usize) -> Option<&'a str> {
        let &(a, b) = self.spans.get(n.checked_sub(1)?)?;
        self.text.get(a..b)
    }

    fn len(&self) -> usize {
        self.spans.len()
    }
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
///
/// `lines` are the lines of the whole file, found once by the caller
/// ([`Lines::spans`]): a file of ten thousand refused documents is located ten
/// thousand times, and splitting it each time made that quadratic (12 s for
/// 1 MiB).
pub(crate) fn locate(lines: &Lines<'_>, first: usize, last: usize, anchor: &Anchor) -> Option<Position> {
    let line_at = |n: usize| lines.get(n);
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
                if let Some((line, col)) = find_key(lines, at, last, key) {
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
            let detection = find_key(lines, first, last, section).map_or(first, |(l, _)| l);
            let (line, key_col) = find_key(lines, detection, last, "condition")?;
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
    let spans = Lines::spans(text);
    let lines = Lines::new(text, &spans);
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
                    let Some(l) = lines.get(n) else { break };
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
                    let Some(l) = lines.get(n) else { break };
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
fn find_key(lines: &Lines<'_>, from: usize, to: usize, key: &str) -> Option<(usize, usize)> {
    for n in from.max(1)..=to.min(lines.len()) {
        let line = lines.get(n)?;
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

    /// What the loader built before it read events itself: serde_yaml's
    /// `Value`, converted. The visitor must give the same trees.
    fn via_value(text: &str) -> std::result::Result<Vec<Yaml>, String> {
        use serde::Deserialize;
        fn convert(v: serde_yaml::Value) -> std::result::Result<Yaml, String> {
            use serde_yaml::Value as V;
            Ok(match v {
                V::Null => Yaml::Null,
                V::Bool(b) => Yaml::Bool(b),
                V::Number(n) => n.as_i64().map_or_else(|| Yaml::Float(n.as_f64().unwrap_or(f64::NAN)), Yaml::Int),
                V::String(s) => Yaml::Str(s),
                V::Sequence(items) => Yaml::Seq(items.into_iter().map(convert).collect::<Result<_, _>>()?),
                V::Mapping(map) => {
                    let mut entries = Vec::new();
                    for (k, v) in map {
                        let key = match k {
                            V::String(s) => s,
                            V::Number(n) => n.to_string(),
                            V::Bool(b) => b.to_string(),
                            V::Null => String::new(),
                            _ => return Err("mapping keys must be scalars".into()),
                        };
                        entries.push((key, convert(v)?));
                    }
                    Yaml::Map(entries)
                }
                V::Tagged(t) => convert(t.value)?,
            })
        }
        let mut out = Vec::new();
        for de in serde_yaml::Deserializer::from_str(text) {
            let v = convert(serde_yaml::Value::deserialize(de).map_err(|e| e.to_string())?)?;
            if v != Yaml::Null {
                out.push(v);
            }
        }
        Ok(out)
    }

    #[test]
    fn the_visitor_builds_what_serde_yaml_value_did() {
        for text in [
            "a: 1\nb: [1, 2.5, -3, 18446744073709551615, .inf, true, ~, '', s]\nc: {d: {e: null}}\n",
            "4688: x\n1.5: y\ntrue: z\n~: w\n18446744073709551615: v\n",
            "a: !foo x\nb: !!str 1\nc: !bar [1, {d: 2}]\n",
            "a: &x [1, 2]\nb: *x\nc: &y {k: *x}\nd: [*y, *y]\n",
            "1: a\n'1': b\n",
            "---\na: 1\n---\n---\nb: |\n  multi\n  line\n",
            "a: 'it''s'\nb: \"\\u00e9\\t\"\nc: >\n  folded\n  text\n",
            "a: 1\na: 2\n",
            "[a]: 1\n",
            "a: [unclosed\n",
        ] {
            let ours = parse(text).map(|docs| docs.into_iter().map(|d| d.value).collect::<Vec<_>>());
            match (ours, via_value(text)) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{text}"),
                (Err(_), Err(_)) => {}
                (a, b) => panic!("{text}: visitor {a:?}, serde_yaml::Value {b:?}"),
            }
        }
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
        let spans = Lines::spans(text);
        let p = locate(&Lines::new(text, &spans), 1, 6, &anchor).unwrap();
        assert_eq!((p.line, p.column), (6, Some(9)));
    }
}

#[cfg(test)]
mod flat_tests {
    use super::{FlatNode, FlatYaml, Yaml};

    #[test]
    fn yaml_round_trips_through_its_flat_form_and_deep_trees_are_refused() {
        let y = Yaml::Map(vec![
            ("a".into(), Yaml::Seq(vec![Yaml::Int(1), Yaml::Null, Yaml::Map(vec![])])),
            ("b".into(), Yaml::Str("x".into())),
        ]);
        let bytes = postcard::to_allocvec(&y).expect("serializes");
        assert_eq!(postcard::from_bytes::<Yaml>(&bytes).expect("deserializes"), y);
        let mut nodes = vec![FlatNode::Null];
        nodes.extend((0..10_000).map(|_| FlatNode::Seq(1)));
        let bytes = postcard::to_allocvec(&FlatYaml(nodes)).expect("serializes");
        assert!(postcard::from_bytes::<Yaml>(&bytes).is_err());
        let bytes = postcard::to_allocvec(&FlatYaml(vec![FlatNode::Map(vec!["k".into()])])).expect("serializes");
        assert!(postcard::from_bytes::<Yaml>(&bytes).is_err());
    }
}
