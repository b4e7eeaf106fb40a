//! What the fuzz targets share: input types whose `Debug` is a reproducer
//! (a crash report from `cargo fuzz run` or `cargo fuzz fmt` prints the rule
//! YAML and event JSON, ready to paste into a conformance case), the
//! generator of small structured rules and events for the differential
//! target, and the one check every target ends with: the compiled engine,
//! through `serde_json::Value` events and through `Engine::fill_json`,
//! agrees with `sigmata::reference::eval`.

use std::fmt::{self, Write as _};

use arbitrary::{Arbitrary, Unstructured};
use serde_json::{Map, Value as Json};
use sigmata::{AutomatonKind, Builder, Config, Engine, MatchSet, Record};

// ------------------------------------------------------------ raw inputs

/// Raw bytes, all of the fuzzer's input (so that seed files are used as
/// they are). `Debug` shows them as text.
pub struct Text(pub Vec<u8>);

impl<'a> Arbitrary<'a> for Text {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Text> {
        Ok(Text(u.arbitrary()?))
    }

    fn arbitrary_take_rest(u: Unstructured<'a>) -> arbitrary::Result<Text> {
        Ok(Text(u.take_rest().to_vec()))
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(&self.0) {
            Ok(s) => write!(f, "Text ({} bytes of UTF-8), between the lines:\n-----\n{s}\n-----\nas a Rust string: {s:?}", s.len()),
            Err(e) => write!(
                f,
                "Text ({} bytes, not UTF-8 from byte {}), lossily:\n-----\n{}\n-----\nbytes: {:?}",
                self.0.len(),
                e.valid_up_to(),
                String::from_utf8_lossy(&self.0),
                self.0
            ),
        }
    }
}

// ------------------------------------------------------------ the check

/// The engine configurations the targets rotate through. None may change
/// what matches.
pub fn configs() -> Vec<(&'static str, Config)> {
    let base = || Config::new().logsource(None);
    vec![
        ("default", base()),
        ("small-regex-cache", base().regex_cache_capacity(1 << 12)),
        ("dfa", base().automaton(AutomatonKind::Dfa)),
        ("contiguous-nfa", base().automaton(AutomatonKind::ContiguousNfa)),
        ("double-array", base().automaton(AutomatonKind::DoubleArray)),
        ("no-value-cache", base().value_cache(0, 0)),
        ("tiny-value-cache", base().value_cache(1, 512)),
        ("no-frequency-model", base().frequency_model(None)),
    ]
}

/// Evaluates `events` (JSON texts of objects) against `engine` three ways
/// and panics, naming the rule and the event, if the compiled engine (from
/// the parsed `Value`, and from the text through `fill_json`) and the
/// reference evaluator disagree. Every event is evaluated twice with one
/// cache, so that the second pass reads value caches and memoised results.
pub fn check_agreement(engine: &Engine, events: &[String]) {
    let mut cache = engine.create_cache();
    let mut from_value = MatchSet::new();
    let mut from_text = MatchSet::new();
    let mut record = Record::new();
    for _pass in 0..2 {
        for text in events {
            let value: Json = match serde_json::from_str(text) {
                Ok(v @ Json::Object(_)) => v,
                _ => continue,
            };
            engine.matches_with(&mut cache, &value, &mut from_value);
            if let Err(e) = engine.fill_json(&mut record, text) {
                panic!("fill_json refused an object serde_json reads: {e}\nevent: {text}");
            }
            engine.matches_record(&mut cache, &record, &mut from_text);
            for (id, lr) in engine.rules() {
                let oracle = sigmata::reference::eval(&lr.ir.expr, engine.fields(), &value);
                let (v, t) = (from_value.contains(id), from_text.contains(id));
                assert!(
                    v == oracle && t == oracle,
                    "rule '{}': reference {oracle}, engine from Value {v}, from fill_json {t}\nevent: {text}",
                    lr.rule.title
                );
            }
        }
    }
}

/// Fixed events for targets whose input is only a rule: they hold the
/// fields rules commonly read, in the shapes events come in.
pub fn fixed_events() -> Vec<String> {
    [
        serde_json::json!({
            "CommandLine": "\"C:\\Windows\\System32\\cmd.exe\" /c whoami -enc SQBFAFgA & powershell -nop",
            "Image": "C:\\Windows\\System32\\cmd.exe",
            "ParentImage": "C:\\Windows\\explorer.exe",
            "User": "NT AUTHORITY\\SYSTEM",
            "IntegrityLevel": "High",
            "Hashes": "SHA256=6A1B,MD5=AB12",
            "n": 12, "f": 1.5, "b": true, "z": null,
            "UtcTime": "2025-10-22T20:33:27Z",
            "DestinationIp": "10.1.2.3",
            "process": {"name": "cmd.exe", "parent": {"name": "explorer.exe"}},
            "list": ["a", 1, ["b"]],
        }),
        serde_json::json!({"CommandLine": "x", "Image": "", "User": "Администратор кот", "process.name": "K\u{212A}"}),
        serde_json::json!({}),
    ]
    .iter()
    .map(|v| v.to_string())
    .collect()
}

// ------------------------------------------------------------ generated rules

/// Fields rules read; events have every one but the last, `process`,
/// where `process.name` may nest.
pub const FIELDS: &[&str] = &["CommandLine", "Image", "ParentImage", "User", "process.name", "process"];
const EVENT_FIELDS: usize = 5;

/// Single characters: ASCII, the Kelvin sign and long s (which fold into
/// ASCII), Cyrillic, accented Latin, an emoji, dashes and separators.
const CHARS: &[&str] = &[
    "a", "b", "c", "s", "A", "S", "k", "K", "\u{212A}", "\u{17F}", "к", "Ж", "é", "É", "😀", "–", "-", "/", " ", ".",
    "1", ":", "_", "\\",
];

const WORDS: &[&str] = &[
    "abc", "cmd", ".exe", "bypass", "кот", "ЖУК", "–enc", "-enc", " -enc", "/c", " /c ", "😀x", "a.b", "user", "sk",
    "10", "0x1f", "1.5", "SyStem", "powershell",
];

const NETS: &[&str] = &["10.0.0.0/8", "10.1.2.0/24", "192.168.0.1", "fe80::/10", "::1", "0.0.0.0/0"];
const IPS: &[&str] = &["10.1.2.3", "10.200.0.1", "192.168.0.1", "fe80::1", "::1", "11.0.0.1", " 10.0.0.1"];
const TIMES: &[&str] = &["2025-10-22T20:33:27Z", "2025-01-05 07:00:00.5", "2024-12-30", "not a time"];
const NUMERIC: &[&str] = &["12", "0x10", " 7 ", "1e1", "-3", "1.5"];

/// The kinds of value a modifier chain takes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Any,
    Sigma,
    Short,
    Plain,
    Wide,
    Regex,
    Number,
    Bool,
    Cidr,
    Hour,
    Bulk,
    FieldName,
}

/// Modifier chains and the values they take.
const CHAINS: &[(&str, Kind)] = &[
    ("", Kind::Any),
    ("", Kind::Short),
    ("contains", Kind::Sigma),
    ("contains", Kind::Short),
    ("startswith", Kind::Sigma),
    ("endswith", Kind::Sigma),
    ("contains|all", Kind::Sigma),
    ("cased", Kind::Sigma),
    ("contains|cased", Kind::Sigma),
    ("windash", Kind::Sigma),
    ("contains|windash", Kind::Sigma),
    ("windash|contains", Kind::Sigma),
    ("base64", Kind::Plain),
    ("base64offset|contains", Kind::Plain),
    ("wide|base64offset|contains", Kind::Wide),
    ("re", Kind::Regex),
    ("re|i", Kind::Regex),
    ("re|m|s", Kind::Regex),
    ("re|startswith", Kind::Regex),
    ("exists", Kind::Bool),
    ("neq", Kind::Any),
    ("contains|neq", Kind::Sigma),
    ("lt", Kind::Number),
    ("gte", Kind::Number),
    ("cidr", Kind::Cidr),
    ("hour", Kind::Hour),
    ("fieldref", Kind::FieldName),
    ("fieldref|contains", Kind::FieldName),
    ("endswith|fieldref", Kind::FieldName),
    ("contains", Kind::Bulk),
];

/// A generated rule (and maybe a meta filter) with events to evaluate it
/// on. `Debug` prints the rule file and the events as JSON lines.
pub struct Case {
    /// The rule file: one rule, maybe followed by a `rules: any` filter.
    pub yaml: String,
    /// JSON objects, one per line.
    pub events: Vec<String>,
    /// Index into [`configs`].
    pub config: usize,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = configs().get(self.config).map_or("?", |c| c.0);
        writeln!(f, "Case (config {config})\nrule:\n-----\n{}-----\nevents:", self.yaml)?;
        for e in &self.events {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}

impl<'a> Arbitrary<'a> for Case {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Case> {
        let mut vocab = Vocab::default();
        let mut yaml = String::new();
        rule_yaml(u, "r", false, &mut vocab, &mut yaml)?;
        if u.ratio(1, 6)? {
            yaml.push_str("---\n");
            rule_yaml(u, "f", true, &mut vocab, &mut yaml)?;
        }
        let n = u.int_in_range(1..=3)?;
        let mut events = Vec::with_capacity(n);
        for _ in 0..n {
            events.push(event(u, &vocab)?);
        }
        let config = u.choose_index(configs().len())?;
        Ok(Case { yaml, events, config })
    }
}

/// Strings events are made of: per field, and all of them.
#[derive(Default)]
struct Vocab {
    fields: [Vec<String>; FIELDS.len()],
    all: Vec<String>,
}

fn pick<'a, T>(u: &mut Unstructured<'_>, items: &'a [T]) -> arbitrary::Result<&'a T> {
    u.choose(items)
}

fn rule_yaml(
    u: &mut Unstructured<'_>,
    title: &str,
    filter: bool,
    vocab: &mut Vocab,
    out: &mut String,
) -> arbitrary::Result<()> {
    let _ = if filter {
        writeln!(out, "title: {title}\nlogsource: {{category: process_creation}}\nfilter:\n  rules: any")
    } else {
        writeln!(out, "title: {title}\nlogsource: {{category: process_creation}}\ndetection:")
    };
    let n = u.int_in_range(1..=3)?;
    let mut names = Vec::new();
    for i in 0..n {
        let name = format!("{}{i}", if u.ratio(1, 3)? { "filter" } else { "sel" });
        let _ = writeln!(out, "  {name}:");
        match u.int_in_range(0..=9)? {
            0..=6 => {
                for entry in map(u, vocab)? {
                    let _ = writeln!(out, "    {entry}");
                }
            }
            7..=8 => {
                for _ in 0..u.int_in_range(2..=3)? {
                    let _ = writeln!(out, "    - {{{}}}", map(u, vocab)?.join(", "));
                }
            }
            _ => {
                for _ in 0..u.int_in_range(1..=3)? {
                    let (s, words) = sigma_string(u)?;
                    vocab.all.extend(words);
                    let _ = writeln!(out, "    - {}", Json::String(s));
                }
            }
        }
        names.push(name);
    }
    let mut patterns = vec!["1 of them".to_string(), "all of them".to_string()];
    for prefix in ["sel", "filter"] {
        if names.iter().any(|n| n.starts_with(prefix)) {
            patterns.push(format!("1 of {prefix}*"));
            patterns.push(format!("all of {prefix}*"));
        }
    }
    let mut condition = String::new();
    cond(u, &names, &patterns, 0, &mut condition)?;
    let _ = writeln!(out, "  condition: {condition}");
    Ok(())
}

/// A condition over the search names, at most four levels deep.
fn cond(u: &mut Unstructured<'_>, names: &[String], patterns: &[String], depth: usize, out: &mut String) -> arbitrary::Result<()> {
    let choice = if depth >= 3 { u.int_in_range(0..=1)? } else { u.int_in_range(0..=5)? };
    let paren = u.arbitrary::<bool>()?;
    match choice {
        0 => out.push_str(pick(u, names)?),
        1 => out.push_str(pick(u, patterns)?),
        2 => {
            out.push_str(if u.arbitrary()? { "not " } else { "NOT " });
            out.push('(');
            cond(u, names, patterns, depth + 1, out)?;
            out.push(')');
        }
        _ => {
            if paren {
                out.push('(');
            }
            cond(u, names, patterns, depth + 1, out)?;
            out.push_str(if choice == 3 { " or " } else { " and " });
            cond(u, names, patterns, depth + 1, out)?;
            if paren {
                out.push(')');
            }
        }
    }
    Ok(())
}

/// A map of one to three items with distinct keys, as `key: value` entries.
fn map(u: &mut Unstructured<'_>, vocab: &mut Vocab) -> arbitrary::Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut entries = Vec::new();
    for _ in 0..u.int_in_range(1..=3)? {
        let field = u.choose_index(FIELDS.len())?;
        let (mods, kind) = *pick(u, CHAINS)?;
        let key = if mods.is_empty() { FIELDS[field].to_string() } else { format!("{}|{mods}", FIELDS[field]) };
        if keys.contains(&key) {
            continue;
        }
        keys.push(key.clone());
        let single = matches!(kind, Kind::Bool | Kind::FieldName);
        let count = match kind {
            _ if single => 1,
            Kind::Bulk => u.int_in_range(65..=80)?,
            _ if mods.contains("all") => u.int_in_range(2..=3)?,
            _ => u.int_in_range(1..=3)?,
        };
        let mut values = Vec::with_capacity(count);
        for i in 0..count {
            let (v, words) = value(u, kind)?;
            if i < 4 {
                vocab.fields[field].extend(words.iter().cloned());
                vocab.all.extend(words);
            }
            values.push(v);
        }
        let list = !single && (values.len() > 1 || u.ratio(2, 5)?);
        let v = if list { format!("[{}]", values.join(", ")) } else { values.swap_remove(0) };
        entries.push(format!("{}: {v}", Json::String(key)));
    }
    Ok(entries)
}

/// One value of a chain's kind as YAML, with strings an event may contain
/// to match it.
fn value(u: &mut Unstructured<'_>, kind: Kind) -> arbitrary::Result<(String, Vec<String>)> {
    let s = |t: String| Json::String(t).to_string();
    Ok(match kind {
        Kind::Any => match u.int_in_range(0..=12)? {
            0 => {
                let i = u.int_in_range(-3i64..=40)?;
                (i.to_string(), vec![i.to_string()])
            }
            1 => ("1.5".to_string(), vec!["1.5".to_string()]),
            2 => {
                let b: bool = u.arbitrary()?;
                (b.to_string(), vec![b.to_string()])
            }
            3 => ("null".to_string(), Vec::new()),
            4 => ("''".to_string(), vec![String::new()]),
            _ => {
                let (v, w) = sigma_string(u)?;
                (s(v), w)
            }
        },
        Kind::Sigma => {
            let (v, w) = sigma_string(u)?;
            (s(v), w)
        }
        Kind::Short => {
            let mut t = pick(u, CHARS)?.to_string();
            if u.arbitrary()? {
                t.push_str(pick(u, CHARS)?);
            }
            (s(t.clone()), vec![t.replace('\\', "")])
        }
        Kind::Plain | Kind::Wide => {
            let mut t = String::new();
            for _ in 0..u.int_in_range(1..=3)? {
                t.push_str(&piece(u)?);
            }
            let t = t.replace(['*', '?'], "").replace('\\', "/");
            let t = if t.is_empty() { "x".to_string() } else { t };
            let mut words = vec![t.clone()];
            for pre in ["", "a", "ab"] {
                let text = format!("{pre}{t}");
                let bytes: Vec<u8> = if kind == Kind::Wide {
                    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
                } else {
                    text.into_bytes()
                };
                words.push(base64(&bytes));
            }
            (s(t), words)
        }
        Kind::Regex => {
            let (re, w) = regex(u)?;
            (s(re), w)
        }
        Kind::Number => match u.int_in_range(0..=8)? {
            0 => ("1.5".to_string(), NUMERIC.iter().map(|n| n.to_string()).collect()),
            1 => ("'0x10'".to_string(), NUMERIC.iter().map(|n| n.to_string()).collect()),
            _ => (u.int_in_range(-3i64..=40)?.to_string(), NUMERIC.iter().map(|n| n.to_string()).collect()),
        },
        Kind::Bool => (u.arbitrary::<bool>()?.to_string(), Vec::new()),
        Kind::Cidr => (s(pick(u, NETS)?.to_string()), IPS.iter().map(|i| i.to_string()).collect()),
        Kind::Hour => (u.int_in_range(0..=23)?.to_string(), TIMES.iter().map(|t| t.to_string()).collect()),
        Kind::Bulk => {
            let t = format!("{}{}", piece(u)?, piece(u)?);
            (s(t.clone()), vec![t])
        }
        Kind::FieldName => (s(pick(u, FIELDS)?.to_string()), Vec::new()),
    })
}

fn piece(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    Ok(match u.int_in_range(0..=5)? {
        0..=2 => pick(u, WORDS)?.to_string(),
        3 | 4 => pick(u, CHARS)?.to_string(),
        _ => format!("{}{}", pick(u, CHARS)?, pick(u, CHARS)?),
    })
}

/// A Sigma string with wildcards and escapes, and its literal runs plus an
/// example text it matches.
fn sigma_string(u: &mut Unstructured<'_>) -> arbitrary::Result<(String, Vec<String>)> {
    let mut value = String::new();
    let mut example = String::new();
    let mut runs = vec![String::new()];
    for _ in 0..u.int_in_range(1..=4)? {
        let (text, lit): (String, Option<String>) = match u.int_in_range(0..=19)? {
            0..=11 => {
                let p = piece(u)?;
                (p.clone(), Some(p))
            }
            12..=14 => ("*".into(), None),
            15 | 16 => ("?".into(), None),
            17 => ("\\*".into(), Some("*".into())),
            18 => ("\\?".into(), Some("?".into())),
            _ => ("\\\\".into(), Some("\\".into())),
        };
        value.push_str(&text);
        match lit {
            Some(l) => {
                example.push_str(&l);
                if let Some(r) = runs.last_mut() {
                    r.push_str(&l);
                }
            }
            None => {
                example.push_str(if text == "?" { "é" } else { "" });
                runs.push(String::new());
            }
        }
    }
    if u.ratio(1, 10)? {
        value.push('\\');
        example.push('\\');
    }
    runs.retain(|r| !r.is_empty());
    runs.push(example);
    Ok((value, runs))
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

/// A regex from a small grammar, with an example it is meant to match.
fn regex(u: &mut Unstructured<'_>) -> arbitrary::Result<(String, Vec<String>)> {
    let mut re = String::new();
    let mut example = String::new();
    let mut words = Vec::new();
    for _ in 0..u.int_in_range(1..=4)? {
        let w = pick(u, WORDS)?.to_string();
        let c = pick(u, CHARS)?.to_string();
        let (r, e) = match u.int_in_range(0..=18)? {
            0..=4 => (regex_escape(&w), w.clone()),
            5 => (regex_escape(&c), c.clone()),
            6 => (".".into(), "x".into()),
            7 => (r"\s+".into(), " ".into()),
            8 => (r"\w+".into(), "ab".into()),
            9 => ("[ab]".into(), "b".into()),
            10 => (".*".into(), String::new()),
            11 => ("^".into(), String::new()),
            12 => ("$".into(), String::new()),
            13 => ("(?i)".into(), String::new()),
            14 => (format!("(?:{}|{})", regex_escape(&w), regex_escape(&c)), c.clone()),
            15 => (format!(r"(\s+{})", regex_escape(&w)), format!(" {w}")),
            // Bounded repetitions and word boundaries, which the compiled
            // engine trims or keeps at a pattern's ends (exec/trim.rs).
            16 => (format!(r"(?:{}){{1,3}}", regex_escape(&c)), c.clone()),
            17 => (r"\b".into(), String::new()),
            _ => (format!("{}?", regex_escape(&c)), String::new()),
        };
        re.push_str(&r);
        example.push_str(&e);
        if !e.is_empty() {
            words.push(e);
        }
    }
    words.push(example);
    Ok((re, words))
}

/// Standard Base64 with padding.
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

/// A string for an event field: pieces of the rules' vocabulary (mostly
/// the field's own), glued to filler and recased.
fn event_string(u: &mut Unstructured<'_>, own: &[String], all: &[String]) -> arbitrary::Result<String> {
    let mut s = String::new();
    for _ in 0..u.int_in_range(0..=3)? {
        let p = match u.int_in_range(0..=9)? {
            0..=3 if !own.is_empty() => pick(u, own)?.clone(),
            0..=5 if !all.is_empty() => pick(u, all)?.clone(),
            6 | 7 => pick(u, WORDS)?.to_string(),
            _ => pick(u, CHARS)?.to_string(),
        };
        s.push_str(&p);
    }
    Ok(match u.int_in_range(0..=7)? {
        0 => s.to_uppercase(),
        1 => s.to_lowercase(),
        2 => s.replace('k', "\u{212A}").replace('s', "\u{17F}"),
        3 => s.replace('-', "/").replace('–', "-"),
        _ => s,
    })
}

fn event_value(u: &mut Unstructured<'_>, own: &[String], all: &[String]) -> arbitrary::Result<Json> {
    Ok(match u.int_in_range(0..=11)? {
        0 => Json::Null,
        1 => Json::from(u.int_in_range(-3i64..=40)?),
        2 => Json::from(1.5),
        3 => Json::Bool(u.arbitrary()?),
        4 => Json::Array(vec![
            Json::String(event_string(u, own, all)?),
            Json::String(event_string(u, own, all)?),
        ]),
        5 => Json::Array(Vec::new()),
        6 => Json::String(pick(u, NUMERIC)?.to_string()),
        _ => Json::String(event_string(u, own, all)?),
    })
}

/// An event: each field absent or holding a value; `process.name` flat,
/// nested under `process`, or both.
fn event(u: &mut Unstructured<'_>, vocab: &Vocab) -> arbitrary::Result<String> {
    let mut obj = Map::new();
    for (i, name) in FIELDS.iter().enumerate().take(EVENT_FIELDS) {
        if u.ratio(1, 4)? {
            continue;
        }
        let v = event_value(u, &vocab.fields[i], &vocab.all)?;
        if *name == "process.name" {
            match u.int_in_range(0..=2)? {
                0 => {
                    obj.insert((*name).to_string(), v);
                }
                1 => {
                    let mut inner = Map::new();
                    inner.insert("name".to_string(), v);
                    obj.insert("process".to_string(), Json::Object(inner));
                }
                _ => {
                    obj.insert("process".to_string(), v);
                }
            }
        } else {
            obj.insert((*name).to_string(), v);
        }
    }
    Ok(Json::Object(obj).to_string())
}

/// Loads `yaml` under configuration `config` and checks the engine against
/// the reference on `events` (a rule that does not load is fine: loading
/// must only not panic).
pub fn run_case(yaml: &str, events: &[String], config: Config) {
    let (engine, _report) = Builder::new().config(config).add_source("fuzz.yml", yaml).build();
    check_agreement(&engine, events);
}
