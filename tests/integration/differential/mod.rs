//! Randomized differential test: the compiled engine against the reference
//! evaluator on random small rule packs and random events.
//!
//! Packs of 1–3 rules (and sometimes a meta filter) are generated as YAML
//! text: 1–4 search identifiers (maps, lists of maps, keyword lists) over a
//! small field pool, with modifier chains from [`CHAINS`], values with wildcards, escapes, Unicode
//! (Cyrillic, the Kelvin sign, long s, an emoji, an en dash) and short
//! (lazy) literals, and conditions of and/or/not/parentheses/`x of`. Events
//! are JSON objects whose strings are built from the same vocabulary as the
//! rule values (recased, Kelvin sign and long s swapped in, dashes changed,
//! glued to filler), so that about a third of the rule-event pairs match;
//! they also hold numbers, booleans, null, missing fields, arrays, nested
//! objects for the dotted field, and sometimes a repeated key.
//!
//! Every event is evaluated through `matches_with` (one cache for all events
//! and two passes, so value caches and memoised results are read), through
//! `matches` (a fresh cache), and through `fill_json` + `matches_record` from
//! the event's JSON text, in every configuration of
//! `sigmata_tests::configs()` and one of [`extra_configs`] (automaton kinds,
//! value caches, no frequency model); each answer must equal
//! `sigmata::reference::eval` on the rule's IR.
//!
//! `PROPTEST_CASES` sets the number of packs (default [`DEFAULT_CASES`]);
//! `PROPTEST_RNG_SEED` fixes the seed. A failure is shrunk by proptest, then
//! minimized with its events fixed (see [`minimize`]), and reported as the
//! rule pack YAML and the event JSON: a conformance case in all but name.

use std::fmt::Write as _;

use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestError, TestRunner};
use serde_json::{Map, Value as Json};
use sigmata::{AutomatonKind, Config};

/// Packs generated when `PROPTEST_CASES` is not set.
const DEFAULT_CASES: u32 = 768;

/// Engine strategies beyond `sigmata_tests::configs()`: each case also runs
/// under one of these, chosen by the case. None may change what matches.
fn extra_configs() -> Vec<(&'static str, Config)> {
    let base = || Config::new().logsource(None);
    vec![
        ("dfa", base().automaton(AutomatonKind::Dfa)),
        ("contiguous-nfa", base().automaton(AutomatonKind::ContiguousNfa)),
        ("noncontiguous-nfa", base().automaton(AutomatonKind::NoncontiguousNfa)),
        ("double-array", base().automaton(AutomatonKind::DoubleArray)),
        ("no-value-cache", base().value_cache(0, 0)),
        // Room for 8 values of at most 32 bytes per field: emptied often.
        ("tiny-value-cache", base().value_cache(1, 512)),
        ("no-frequency-model", base().frequency_model(None)),
    ]
}

/// Fields rules read (the dotted one is nested or flat in events).
const FIELDS: &[&str] = &["CommandLine", "Image", "ParentImage", "User", "process.name", "process"];
/// Fields events have a slot for: all but `process`, which is where
/// `process.name` nests (or a value of its own).
const EVENT_FIELDS: usize = 5;

/// Single characters: ASCII, the Kelvin sign and long s (which fold into
/// ASCII), Cyrillic, accented Latin, an emoji, an en dash and separators.
const CHARS: &[&str] = &[
    "a", "b", "c", "s", "A", "B", "S", "k", "K", "\u{212A}", "\u{17F}", "к", "К", "ж", "Ж", "é", "É", "😀", "–", "-",
    "/", " ", ".", "1", "2", ":", "_", "\\",
];

/// Longer pieces of values.
const WORDS: &[&str] = &[
    "abc",
    "cmd",
    "exe",
    ".exe",
    "bypass",
    "mask",
    "кот",
    "ЖУК",
    "–enc",
    "-enc",
    " -enc",
    "/c",
    " /c ",
    "😀x",
    "a.b",
    "user",
    "sk",
    "10",
    "0x1f",
    "1.5",
    "SyStem",
    "powershell",
    "Администратор",
];

/// Networks for `cidr` and addresses for events.
const NETS: &[&str] = &["10.0.0.0/8", "10.1.2.0/24", "192.168.0.1", "fe80::/10", "::1", "0.0.0.0/0"];
const IPS: &[&str] =
    &["10.1.2.3", "10.200.0.1", "192.168.0.1", "192.168.0.2", "fe80::1", "::1", "11.0.0.1", " 10.0.0.1"];

/// Timestamps for the time-part modifiers.
const TIMES: &[&str] = &["2025-10-22T20:33:27Z", "2025-01-05 07:00:00.5", "2024-12-30", "not a time"];

/// Numbers and timestamps as event strings.
const NUMERIC: &[&str] = &["12", "0x10", " 7 ", "1e1", "2025-10-22T20:33:27Z", "2025-01-05 07:00:00.5"];

/// A scalar of a rule value.
#[derive(Clone, Debug)]
enum Scalar {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
}

impl Scalar {
    fn yaml(&self) -> String {
        match self {
            // A JSON string is a YAML double-quoted scalar.
            Scalar::Str(s) => Json::String(s.clone()).to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => format!("{f:?}"),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Null => "null".to_string(),
        }
    }
}

/// One detection item: `key: value` or `key: [values]`, with the strings
/// an event needs to contain to have a chance of matching it.
#[derive(Clone, Debug)]
struct Item {
    /// Index into [`FIELDS`].
    field: usize,
    key: String,
    values: Vec<Scalar>,
    list: bool,
    vocab: Vec<String>,
}

impl Item {
    fn yaml_value(&self) -> String {
        if self.list {
            format!("[{}]", self.values.iter().map(Scalar::yaml).collect::<Vec<_>>().join(", "))
        } else {
            self.values[0].yaml()
        }
    }
}

/// A search identifier's definition.
#[derive(Clone, Debug)]
enum Search {
    Map(Vec<Item>),
    ListOfMaps(Vec<Vec<Item>>),
    Keywords(Vec<String>, Vec<String>),
}

impl Search {
    fn vocab(&self, out: &mut Vocab) {
        let mut add = |i: &Item| {
            out.fields[i.field].extend(i.vocab.iter().cloned());
            out.all.extend(i.vocab.iter().cloned());
        };
        match self {
            Search::Map(items) => items.iter().for_each(&mut add),
            Search::ListOfMaps(maps) => maps.iter().flatten().for_each(&mut add),
            Search::Keywords(_, vocab) => out.all.extend(vocab.iter().cloned()),
        }
    }
}

/// The strings events are made of: those of the items on each field (most
/// of a field's values come from its own items) and all of them.
#[derive(Clone, Debug, Default)]
struct Vocab {
    fields: [Vec<String>; FIELDS.len()],
    all: Vec<String>,
}

#[derive(Clone, Debug)]
struct Rule {
    /// Each search's name prefix (`sel`, `filter`; the name adds its position) and definition.
    searches: Vec<(&'static str, Search)>,
    condition: Cond,
    /// A meta filter (`rules: any`): its condition is AND-ed onto every rule.
    filter: bool,
}

/// A condition whose leaves pick a search name or an `x of` pattern by
/// index, so that shrinking the searches keeps the condition valid.
#[derive(Clone, Debug)]
enum Cond {
    Name(Index),
    Pattern(Index),
    Not(Box<Cond>, bool),
    And(Box<Cond>, Box<Cond>, bool),
    Or(Box<Cond>, Box<Cond>, bool),
}

impl Cond {
    fn render(&self, names: &[String], patterns: &[String], out: &mut String) {
        let paren = |out: &mut String, p: bool, s: &str| {
            if p {
                out.push_str(s);
            }
        };
        match self {
            Cond::Name(i) => out.push_str(&names[i.index(names.len())]),
            Cond::Pattern(i) => out.push_str(&patterns[i.index(patterns.len())]),
            Cond::Not(x, p) => {
                out.push_str("not ");
                paren(out, *p, "(");
                x.render(names, patterns, out);
                paren(out, *p, ")");
            }
            Cond::And(a, b, p) | Cond::Or(a, b, p) => {
                paren(out, *p, "(");
                a.render(names, patterns, out);
                out.push_str(if matches!(self, Cond::And(..)) { " and " } else { " or " });
                b.render(names, patterns, out);
                paren(out, *p, ")");
            }
        }
    }
}

impl Rule {
    fn yaml(&self, n: usize, out: &mut String) {
        let _ = if self.filter {
            writeln!(out, "title: f{n}\nlogsource: {{category: process_creation}}\nfilter:\n  rules: any")
        } else {
            writeln!(out, "title: r{n}\nlogsource: {{category: process_creation}}\ndetection:")
        };
        let names: Vec<String> = self.searches.iter().enumerate().map(|(i, (p, _))| format!("{p}{i}")).collect();
        for (name, (_, search)) in names.iter().zip(&self.searches) {
            let _ = writeln!(out, "  {name}:");
            match search {
                Search::Map(items) => {
                    for i in items {
                        let _ = writeln!(out, "    {}: {}", Json::String(i.key.clone()), i.yaml_value());
                    }
                }
                Search::ListOfMaps(maps) => {
                    for m in maps {
                        let entries: Vec<String> =
                            m.iter().map(|i| format!("{}: {}", Json::String(i.key.clone()), i.yaml_value())).collect();
                        let _ = writeln!(out, "    - {{{}}}", entries.join(", "));
                    }
                }
                Search::Keywords(words, _) => {
                    for w in words {
                        let _ = writeln!(out, "    - {}", Json::String(w.clone()));
                    }
                }
            }
        }
        // The `x of` patterns that match at least one name (others are load errors).
        let mut patterns = vec!["1 of them".to_string(), "all of them".to_string()];
        for prefix in ["sel", "filter"] {
            if names.iter().any(|n| n.starts_with(prefix)) {
                patterns.push(format!("1 of {prefix}*"));
                patterns.push(format!("all of {prefix}*"));
            }
        }
        let mut condition = String::new();
        self.condition.render(&names, &patterns, &mut condition);
        let _ = writeln!(out, "  condition: {condition}");
    }
}

/// A generated pack and the events to evaluate it on.
#[derive(Clone, Debug)]
struct Input {
    /// The rules, and maybe a meta filter last.
    rules: Vec<Rule>,
    events: Vec<EventSpec>,
    /// Which of [`extra_configs`] also runs.
    extra: Index,
}

/// An event as JSON text and as the `serde_json::Value` parsed from it
/// (the text may repeat a key; the value keeps the last occurrence).
#[derive(Clone, Debug)]
struct Event {
    text: String,
    value: Json,
}

fn pack_yaml(rules: &[Rule]) -> String {
    let mut out = String::new();
    for (n, r) in rules.iter().enumerate() {
        if n > 0 {
            out.push_str("---\n");
        }
        r.yaml(n, &mut out);
    }
    out
}

// ---------------------------------------------------------------- values

/// A piece of a Sigma string value.
#[derive(Clone, Debug)]
enum Tok {
    Text(String),
    Star,
    One,
    EscStar,
    EscOne,
    EscBackslash,
}

fn text_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(WORDS).prop_map(str::to_string),
        2 => select(CHARS).prop_map(str::to_string),
        1 => (select(CHARS), select(CHARS)).prop_map(|(a, b)| format!("{a}{b}")),
    ]
}

fn tok() -> impl Strategy<Value = Tok> {
    prop_oneof![
        12 => text_piece().prop_map(Tok::Text),
        3 => Just(Tok::Star),
        2 => Just(Tok::One),
        1 => Just(Tok::EscStar),
        1 => Just(Tok::EscOne),
        1 => Just(Tok::EscBackslash),
    ]
}

/// A Sigma string with wildcards and escapes (and sometimes a trailing
/// lone backslash), with an example text and its literal runs as vocabulary.
fn sigma_string() -> impl Strategy<Value = (String, Vec<String>)> {
    (proptest::collection::vec(tok(), 1..=4), proptest::bool::weighted(0.1)).prop_map(|(toks, trailing)| {
        let mut value = String::new();
        let mut example = String::new();
        let mut runs = vec![String::new()];
        for t in &toks {
            let (text, lit): (&str, Option<&str>) = match t {
                Tok::Text(s) => (s, Some(s)),
                Tok::Star => ("*", None),
                Tok::One => ("?", None),
                Tok::EscStar => ("\\*", Some("*")),
                Tok::EscOne => ("\\?", Some("?")),
                Tok::EscBackslash => ("\\\\", Some("\\")),
            };
            value.push_str(text);
            match lit {
                Some(l) => {
                    example.push_str(l);
                    runs.last_mut().expect("runs is never empty").push_str(l);
                }
                None => {
                    example.push_str(if matches!(t, Tok::One) { "é" } else { "" });
                    runs.push(String::new());
                }
            }
        }
        if trailing {
            value.push('\\');
            example.push('\\');
        }
        runs.retain(|r| !r.is_empty());
        runs.push(example);
        (value, runs)
    })
}

/// A plain string (no wildcards), for the Base64 modifiers.
fn plain_string() -> impl Strategy<Value = String> {
    proptest::collection::vec(text_piece(), 1..=3)
        .prop_map(|p| p.concat().replace(['*', '?'], "").replace('\\', "/"))
        .prop_filter("non-empty", |s| !s.is_empty())
}

fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A regex from a small grammar (classes, groups, alternations, optional
/// parts, anchors), with an example text it is meant to match.
fn regex() -> impl Strategy<Value = (String, Vec<String>)> {
    let word = || select(WORDS).prop_map(str::to_string);
    let piece = prop_oneof![
        6 => word().prop_map(|w| (regex_escape(&w), w)),
        2 => select(CHARS).prop_map(|c| (regex_escape(c), c.to_string())),
        1 => Just((".".to_string(), "x".to_string())),
        1 => Just((r"\s+".to_string(), " ".to_string())),
        1 => Just((r"\w+".to_string(), "ab".to_string())),
        1 => Just((r"\d".to_string(), "1".to_string())),
        1 => Just(("[ab]".to_string(), "b".to_string())),
        1 => Just(("[`^]".to_string(), "^".to_string())),
        1 => Just((".*".to_string(), String::new())),
        1 => Just(("^".to_string(), String::new())),
        1 => Just(("$".to_string(), String::new())),
        1 => Just(("(?i)".to_string(), String::new())),
        2 => (word(), word()).prop_map(|(a, b)| (format!("(?:{}|{})", regex_escape(&a), regex_escape(&b)), b)),
        2 => word().prop_map(|w| (format!(r"(\s+{})", regex_escape(&w)), format!(" {w}"))),
        1 => word().prop_map(|w| (format!("(a?{})", regex_escape(&w)), format!("a{w}"))),
        1 => select(CHARS).prop_map(|c| (format!("{}?", regex_escape(c)), String::new())),
        1 => (word(), word()).prop_map(|(a, b)| (format!(r"(?:{}|\w*{})", regex_escape(&a), regex_escape(&b)), b)),
    ];
    proptest::collection::vec(piece, 1..=4).prop_map(|pieces| {
        let re: String = pieces.iter().map(|(r, _)| r.as_str()).collect();
        let example: String = pieces.iter().map(|(_, e)| e.as_str()).collect();
        let mut vocab: Vec<String> = pieces.into_iter().map(|(_, e)| e).filter(|e| !e.is_empty()).collect();
        vocab.push(example);
        (re, vocab)
    })
}

/// Standard Base64 with padding (the tests crate has no Base64 dependency).
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// The kinds of value a modifier chain takes.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Any scalar: a Sigma string, a number, a boolean, null or ''.
    Any,
    Sigma,
    /// Strings of at most two characters: lazy, never witnesses.
    Short,
    /// Plain strings (no wildcards), for Base64 of UTF-8 ...
    Plain,
    /// ... of UTF-16LE, UTF-16BE, and UTF-16LE with a byte-order mark.
    Wide,
    WideBe,
    Bom,
    Regex,
    Number,
    Bool,
    Cidr,
    /// A small integer for the time-part modifiers.
    Hour,
    /// Many (65–80) strings: a field with more literals than the planner
    /// scans unconditionally, so some literal tests stay lazy.
    Bulk,
    FieldName,
}

/// Modifier chains and the values they take (a chain listed several times
/// is drawn as often). The list of `all` chains gets several values.
const CHAINS: &[(&str, Kind)] = &[
    ("", Kind::Any),
    ("", Kind::Short),
    ("contains", Kind::Sigma),
    ("contains", Kind::Short),
    ("startswith", Kind::Sigma),
    ("endswith", Kind::Sigma),
    ("contains|all", Kind::Sigma),
    ("endswith|all", Kind::Sigma),
    ("cased", Kind::Sigma),
    ("contains|cased", Kind::Sigma),
    ("startswith|cased", Kind::Sigma),
    ("windash", Kind::Sigma),
    ("contains|windash", Kind::Sigma),
    ("windash|contains", Kind::Sigma),
    ("base64", Kind::Plain),
    ("base64|contains", Kind::Plain),
    ("base64offset|contains", Kind::Plain),
    ("wide|base64offset|contains", Kind::Wide),
    ("utf16be|base64offset|contains", Kind::WideBe),
    ("utf16|base64", Kind::Bom),
    ("re", Kind::Regex),
    ("re", Kind::Regex),
    ("re", Kind::Regex),
    ("re|i", Kind::Regex),
    ("re|i", Kind::Regex),
    ("re|m", Kind::Regex),
    ("re|s", Kind::Regex),
    ("re|i|m|s", Kind::Regex),
    ("exists", Kind::Bool),
    ("neq", Kind::Any),
    ("contains|neq", Kind::Sigma),
    ("lt", Kind::Number),
    ("gt", Kind::Number),
    ("lte", Kind::Number),
    ("gte", Kind::Number),
    ("cidr", Kind::Cidr),
    ("hour", Kind::Hour),
    ("month|gte", Kind::Hour),
    ("fieldref", Kind::FieldName),
    ("fieldref|contains", Kind::FieldName),
    ("fieldref|endswith", Kind::FieldName),
    ("startswith|fieldref", Kind::FieldName),
    ("contains", Kind::Bulk),
    ("endswith", Kind::Bulk),
];

/// One value of a chain's kind, with its vocabulary.
fn value(kind: Kind) -> BoxedStrategy<(Scalar, Vec<String>)> {
    match kind {
        Kind::Any => prop_oneof![
            8 => sigma_string().prop_map(|(s, v)| (Scalar::Str(s), v)),
            1 => (-3i64..40).prop_map(|i| (Scalar::Int(i), vec![i.to_string()])),
            1 => Just((Scalar::Float(1.5), vec!["1.5".to_string()])),
            1 => any::<bool>().prop_map(|b| (Scalar::Bool(b), vec![b.to_string()])),
            1 => Just((Scalar::Null, Vec::new())),
            1 => Just((Scalar::Str(String::new()), vec![String::new()])),
        ]
        .boxed(),
        Kind::Sigma => sigma_string().prop_map(|(s, v)| (Scalar::Str(s), v)).boxed(),
        Kind::Short => prop_oneof![
            select(CHARS).prop_map(str::to_string),
            (select(CHARS), select(CHARS)).prop_map(|(a, b)| format!("{a}{b}")),
        ]
        .prop_map(|s| (Scalar::Str(s.clone()), vec![s.replace('\\', "")]))
        .boxed(),
        Kind::Plain | Kind::Wide | Kind::WideBe | Kind::Bom => plain_string()
            .prop_map(move |s| {
                let mut vocab = vec![s.clone()];
                for pre in ["", "a", "ab"] {
                    let bytes = match kind {
                        Kind::Wide => [utf16le(pre), utf16le(&s)].concat(),
                        Kind::WideBe => format!("{pre}{s}").encode_utf16().flat_map(u16::to_be_bytes).collect(),
                        Kind::Bom => [&[0xFF, 0xFE][..], &utf16le(&s)].concat(),
                        _ => [pre.as_bytes(), s.as_bytes()].concat(),
                    };
                    vocab.push(base64(&bytes));
                }
                (Scalar::Str(s), vocab)
            })
            .boxed(),
        Kind::Regex => regex().prop_map(|(r, v)| (Scalar::Str(r), v)).boxed(),
        // A few rules are refused ('lt' needs a number): the others of the pack still load.
        Kind::Number => prop_oneof![
            12 => (-3i64..40).prop_map(Scalar::Int),
            2 => Just(Scalar::Float(1.5)),
            1 => Just(Scalar::Str("0x10".to_string())),
        ]
        .prop_map(|s| (s, vec!["12".to_string(), "0x10".to_string(), " 7 ".to_string()]))
        .boxed(),
        Kind::Bool => any::<bool>().prop_map(|b| (Scalar::Bool(b), Vec::new())).boxed(),
        Kind::Cidr => select(NETS).prop_map(|n| (Scalar::Str(n.to_string()), vec![IPS[0].to_string()])).boxed(),
        Kind::Hour => (0i64..24).prop_map(|h| (Scalar::Int(h), TIMES.iter().map(|t| t.to_string()).collect())).boxed(),
        Kind::Bulk => proptest::collection::vec(text_piece(), 2..=3)
            .prop_map(|p| {
                let s = p.concat();
                (Scalar::Str(s.clone()), vec![s])
            })
            .boxed(),
        Kind::FieldName => select(FIELDS).prop_map(|f| (Scalar::Str(f.to_string()), Vec::new())).boxed(),
    }
}

fn item() -> impl Strategy<Value = Item> {
    (0..FIELDS.len(), 0..CHAINS.len()).prop_flat_map(|(field, chain)| {
        let (mods, kind) = CHAINS[chain];
        let single = matches!(kind, Kind::Bool | Kind::FieldName);
        let count = if single {
            1..=1usize
        } else if matches!(kind, Kind::Bulk) {
            65..=80
        } else if mods.contains("all") {
            2..=3
        } else {
            1..=3
        };
        let list = if single { Just(false).boxed() } else { proptest::bool::weighted(0.4).boxed() };
        (proptest::collection::vec(value(kind), count), list).prop_map(move |(values, list)| {
            let name = FIELDS[field];
            let key = if mods.is_empty() { name.to_string() } else { format!("{name}|{mods}") };
            let list = list || values.len() > 1;
            // A bulk item lends only a few of its values to the events.
            let vocab = values.iter().take(4).flat_map(|(_, v)| v.iter().cloned()).collect();
            Item { field, key, values: values.into_iter().map(|(s, _)| s).collect(), list, vocab }
        })
    })
}

/// A map of 1–3 items with distinct keys (a repeated key is a YAML error).
fn map() -> impl Strategy<Value = Vec<Item>> {
    proptest::collection::vec(item(), 1..=3).prop_map(|mut items| {
        let mut seen = Vec::new();
        items.retain(|i| {
            let fresh = !seen.contains(&i.key);
            seen.push(i.key.clone());
            fresh
        });
        items
    })
}

fn search() -> impl Strategy<Value = Search> {
    prop_oneof![
        6 => map().prop_map(Search::Map),
        2 => proptest::collection::vec(map(), 2..=3).prop_map(Search::ListOfMaps),
        1 => proptest::collection::vec(sigma_string(), 1..=3).prop_map(|ws| {
            let vocab = ws.iter().flat_map(|(_, v)| v.iter().cloned()).collect();
            Search::Keywords(ws.into_iter().map(|(w, _)| w).collect(), vocab)
        }),
    ]
}

/// A condition over the search names: identifiers and the `x of` patterns
/// that match at least one of them, under and/or/not, with and without
/// parentheses.
fn condition() -> impl Strategy<Value = Cond> {
    let leaf = prop_oneof![4 => any::<Index>().prop_map(Cond::Name), 1 => any::<Index>().prop_map(Cond::Pattern)];
    leaf.prop_recursive(3, 8, 2, |inner| {
        let pair = || (inner.clone(), inner.clone(), any::<bool>());
        prop_oneof![
            1 => (inner.clone(), any::<bool>()).prop_map(|(x, p)| Cond::Not(Box::new(x), p)),
            2 => pair().prop_map(|(a, b, p)| Cond::And(Box::new(a), Box::new(b), p)),
            3 => pair().prop_map(|(a, b, p)| Cond::Or(Box::new(a), Box::new(b), p)),
        ]
    })
}

fn rule() -> impl Strategy<Value = Rule> {
    (proptest::collection::vec((select(&["sel", "filter"][..]), search()), 1..=4), condition())
        .prop_map(|(searches, condition)| Rule { searches, condition, filter: false })
}

// ---------------------------------------------------------------- events
//
// Events are generated as specifications whose strings pick vocabulary
// words by index; they are resolved against the pack's vocabulary when the
// case runs. Rules and events are thus generated independently, and
// proptest can shrink either without regenerating the other.

/// How a vocabulary word's case is changed in an event.
fn recase(s: &str, how: u8) -> String {
    match how {
        0 | 1 => s.to_string(),
        2 => s.to_uppercase(),
        3 => s.to_lowercase(),
        4 => s
            .chars()
            .enumerate()
            .map(|(i, c)| if i % 2 == 0 { c.to_uppercase().next().unwrap_or(c) } else { c })
            .collect(),
        5 => s.replace(['k', 'K'], "\u{212A}"),
        6 => s.replace(['s', 'S'], "\u{17F}"),
        _ => s.replace('-', "\u{2013}").replace('/', "-"),
    }
}

/// A piece of an event string.
#[derive(Clone, Debug)]
enum Piece {
    /// A word of the field's own vocabulary, recased.
    Own(Index, u8),
    /// A word of the whole pack's vocabulary, recased.
    Any(Index, u8),
    Text(String),
}

#[derive(Clone, Debug)]
enum Text {
    Pieces(Vec<Piece>),
    Fixed(&'static str),
}

/// A value of a field, alone or as an array element.
#[derive(Clone, Debug)]
enum Elem {
    Text(Text),
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
    /// An object (inside an array: keyword searches reach its values).
    Object(Text),
}

/// A field value: one element, null, or an array.
#[derive(Clone, Debug)]
enum EvValue {
    One(Elem),
    Null,
    Array(Vec<Elem>),
}

/// How an event holds a field.
#[derive(Clone, Debug)]
enum Slot {
    Missing,
    Value(EvValue),
    /// A copy of an earlier field's value, recased (for field references).
    Copy(usize, u8),
}

#[derive(Clone, Debug)]
struct EventSpec {
    /// One per field of [`FIELDS`] but `process`.
    slots: Vec<Slot>,
    /// How `process.name` is written: flat, nested, both, nested beside
    /// another key, or as the value of `process` itself.
    nesting: u8,
    /// A field no rule names, for keyword searches.
    other: Option<EvValue>,
    /// A key written a second time in the JSON text, first or last.
    duplicate: Option<(&'static str, bool, EvValue)>,
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        5 => (any::<Index>(), 0u8..8).prop_map(|(i, how)| Piece::Own(i, how)),
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, how)| Piece::Any(i, how)),
        2 => text_piece().prop_map(Piece::Text),
        1 => select(&["x", " ", "zz", "\\", "\n"][..]).prop_map(|f| Piece::Text(f.to_string())),
    ]
}

fn text() -> impl Strategy<Value = Text> {
    prop_oneof![
        4 => piece().prop_map(|p| Text::Pieces(vec![p])),
        4 => proptest::collection::vec(piece(), 2..=3).prop_map(Text::Pieces),
        1 => select(IPS).prop_map(Text::Fixed),
        1 => select(NUMERIC).prop_map(Text::Fixed),
    ]
}

fn elem() -> impl Strategy<Value = Elem> {
    prop_oneof![
        10 => text().prop_map(Elem::Text),
        1 => (-3i64..40).prop_map(Elem::Int),
        1 => select(&[u64::MAX, 1 << 63][..]).prop_map(Elem::UInt),
        1 => select(&[1.5, -0.5, 12.0, 1e20, -0.0][..]).prop_map(Elem::Float),
        1 => any::<bool>().prop_map(Elem::Bool),
        1 => text().prop_map(Elem::Object),
    ]
}

fn ev_value() -> impl Strategy<Value = EvValue> {
    prop_oneof![
        10 => elem().prop_map(EvValue::One),
        1 => Just(EvValue::Null),
        2 => proptest::collection::vec(elem(), 0..=3).prop_map(EvValue::Array),
    ]
}

fn event_spec() -> impl Strategy<Value = EventSpec> {
    let slot = prop_oneof![
        3 => Just(Slot::Missing),
        8 => ev_value().prop_map(Slot::Value),
        1 => (0..EVENT_FIELDS, 0u8..4).prop_map(|(i, how)| Slot::Copy(i, how)),
    ];
    let keys = &["CommandLine", "Image", "User", "process", "process.name", "Other"][..];
    (
        proptest::collection::vec(slot, EVENT_FIELDS),
        0u8..5,
        proptest::option::weighted(0.3, ev_value()),
        proptest::option::weighted(0.1, (select(keys), any::<bool>(), ev_value())),
    )
        .prop_map(|(slots, nesting, other, duplicate)| EventSpec { slots, nesting, other, duplicate })
}

impl Text {
    fn resolve(&self, own: &[String], all: &[String]) -> String {
        let word = |words: &[String], i: &Index, how: u8| match words {
            [] => CHARS[i.index(CHARS.len())].to_string(),
            _ => recase(&words[i.index(words.len())], how),
        };
        match self {
            Text::Fixed(s) => s.to_string(),
            Text::Pieces(pieces) => pieces
                .iter()
                .map(|p| match p {
                    Piece::Own(i, how) if !own.is_empty() => word(own, i, *how),
                    Piece::Own(i, how) | Piece::Any(i, how) => word(all, i, *how),
                    Piece::Text(t) => t.clone(),
                })
                .collect(),
        }
    }
}

impl Elem {
    fn resolve(&self, own: &[String], all: &[String]) -> Json {
        match self {
            Elem::Text(t) => Json::String(t.resolve(own, all)),
            Elem::Int(i) => Json::from(*i),
            Elem::UInt(u) => Json::from(*u),
            Elem::Float(f) => Json::from(*f),
            Elem::Bool(b) => Json::Bool(*b),
            Elem::Object(t) => serde_json::json!({"nested": t.resolve(own, all)}),
        }
    }
}

impl EvValue {
    fn resolve(&self, own: &[String], all: &[String]) -> Json {
        match self {
            EvValue::One(s) => s.resolve(own, all),
            EvValue::Null => Json::Null,
            EvValue::Array(items) => Json::Array(items.iter().map(|s| s.resolve(own, all)).collect()),
        }
    }
}

impl EventSpec {
    /// The event's JSON text and value, with strings from `vocab`.
    fn resolve(&self, vocab: &Vocab) -> Event {
        let mut values: Vec<Option<Json>> = Vec::new();
        for (field, slot) in self.slots.iter().enumerate() {
            let v = match slot {
                Slot::Missing => None,
                Slot::Value(v) => Some(v.resolve(&vocab.fields[field], &vocab.all)),
                Slot::Copy(i, how) => match values.get(*i) {
                    Some(Some(Json::String(s))) => Some(Json::String(recase(s, *how))),
                    Some(v) => v.clone(),
                    None => None,
                },
            };
            values.push(v);
        }
        let mut obj = Map::new();
        for (name, v) in FIELDS.iter().zip(values) {
            let Some(v) = v else { continue };
            if *name != "process.name" {
                obj.insert((*name).into(), v);
                continue;
            }
            match self.nesting {
                0 => {
                    obj.insert("process.name".into(), v);
                }
                1 => {
                    obj.insert("process".into(), serde_json::json!({"name": v}));
                }
                2 => {
                    // Both: the whole dotted key wins.
                    obj.insert("process".into(), serde_json::json!({"name": "decoy abc", "pid": 4}));
                    obj.insert("process.name".into(), v);
                }
                3 => {
                    obj.insert("process".into(), serde_json::json!({"name": v, "pid": 4}));
                }
                _ => {
                    obj.insert("process".into(), v);
                }
            }
        }
        if let Some(o) = &self.other {
            obj.insert("Other".into(), o.resolve(&vocab.all, &vocab.all));
        }
        let mut text = Json::Object(obj).to_string();
        if let Some((key, first, v)) = &self.duplicate {
            let entry = format!("{}:{}", Json::String(key.to_string()), v.resolve(&vocab.all, &vocab.all));
            let body = &text[1..text.len() - 1];
            text = match (body.is_empty(), first) {
                (true, _) => format!("{{{entry}}}"),
                (false, true) => format!("{{{entry},{body}}}"),
                (false, false) => format!("{{{body},{entry}}}"),
            };
        }
        // OK: the text is serde_json's output with one more key-value pair.
        let value = serde_json::from_str(&text).expect("generated JSON is valid");
        Event { text, value }
    }
}

impl Input {
    /// The events, with strings from the pack's vocabulary.
    fn resolve(&self) -> Vec<Event> {
        let vocab = self.vocab();
        self.events.iter().map(|e| e.resolve(&vocab)).collect()
    }

    fn vocab(&self) -> Vocab {
        let mut vocab = Vocab::default();
        for r in &self.rules {
            for (_, s) in &r.searches {
                s.vocab(&mut vocab);
            }
        }
        // `process.name`'s slot also writes `process`.
        let process = vocab.fields[EVENT_FIELDS].clone();
        vocab.fields[EVENT_FIELDS - 1].extend(process);
        for words in vocab.fields.iter_mut().chain([&mut vocab.all]) {
            words.sort();
            words.dedup();
        }
        vocab
    }
}

fn input() -> impl Strategy<Value = Input> {
    (
        proptest::collection::vec(rule(), 1..=3),
        proptest::option::weighted(0.15, rule()),
        proptest::collection::vec(event_spec(), 6),
        any::<Index>(),
    )
        .prop_map(|(mut rules, filter, events, extra)| {
            rules.extend(filter.map(|f| Rule { filter: true, ..f }));
            Input { rules, events, extra }
        })
}

mod check;
use check::{Stats, evaluate, minimize};

#[test]
fn engine_agrees_with_reference_on_random_rules_and_events() {
    // PROPTEST_CASES and the other PROPTEST_* variables override the default.
    let config = proptest::test_runner::contextualize_config(RunnerConfig {
        cases: DEFAULT_CASES,
        failure_persistence: None,
        // Each shrink step builds engines; `minimize` does the rest.
        max_shrink_iters: 500,
        max_shrink_time: 10_000,
        ..RunnerConfig::default()
    });
    let mut runner = TestRunner::new(config);
    let stats = Stats::default();
    let result = runner.run(&input(), |input| {
        evaluate(&input.rules, &input.resolve(), input.extra, Some(&stats)).map_err(|f| TestCaseError::fail(f.message))
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(_, input)) => {
            let events = input.resolve();
            let failure = match evaluate(&input.rules, &events, input.extra, None) {
                Err(f) => minimize(input.rules, events, input.extra, f).message,
                Ok(()) => "the shrunk case no longer fails (nondeterminism?)".to_string(),
            };
            panic!("the engine and the reference evaluator disagree:\n{failure}");
        }
        Err(TestError::Abort(reason)) => panic!("proptest aborted: {reason}"),
    }
    let (rules, loaded) = (stats.rules.get(), stats.loaded.get());
    assert!(2 * loaded >= rules, "only {loaded} of {rules} generated rules loaded");
    let (pairs, matched) = (stats.pairs.get(), stats.matched.get());
    let ratio = matched as f64 / pairs.max(1) as f64;
    eprintln!("differential: {loaded} of {rules} rules loaded, {matched} of {pairs} rule-event pairs matched");
    assert!(
        (0.05..=0.95).contains(&ratio),
        "match ratio {:.1} % ({matched} of {pairs} rule-event pairs) is outside 5–95 %",
        100.0 * ratio
    );
}
