//! Events are hostile input: the bad-input matrix at the engine level.
//!
//! Every kind of bad line a JSONL stream can carry (malformed JSON, bytes
//! that were not UTF-8, NUL bytes, 10 MB lines, 100,000 levels of nesting,
//! lines that are not objects, CRLF endings, a byte-order mark, empty lines)
//! goes through `Engine::fill_json`, and each must end up in exactly one
//! place: an event (with exactly the expected matches, the same through a
//! `serde_json::Value` and the reference evaluator) or an error that names
//! the problem. Nothing panics or overflows the stack, and the totals are
//! exact. Splitting lines and decoding bytes is the caller's job (the CLI's
//! accounting is tested in `tests/cli`); the engine takes the text of one line.

use sigmata::{Builder, Config, Engine, MatchSet, Record};

const RULES: &str = r#"
title: whoami
logsource: {category: process_creation}
detection:
    sel: {CommandLine|contains: whoami}
    condition: sel
---
title: nested
logsource: {category: process_creation}
detection:
    sel: {process.name: cmd.exe}
    condition: sel
---
title: keyword
logsource: {category: process_creation}
detection:
    keywords: [mimikatz]
    condition: keywords
"#;

fn engine() -> Engine {
    let (engine, report) = Builder::new().config(Config::new().logsource(None)).add_source("rules.yml", RULES).build();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    engine
}

/// What one line must give: the titles of the rules it matches, or an
/// error whose message starts with the given text.
enum Want {
    Event(&'static [&'static str]),
    Error(&'static str),
}

/// The outcome of one line, checked against the `Value` path and the oracle.
fn read(engine: &Engine, cache: &mut sigmata::Cache, line: &str) -> Result<Vec<String>, String> {
    let mut record = Record::new();
    let mut out = MatchSet::new();
    let value = serde_json::from_str::<serde_json::Value>(line);
    let object = matches!(value, Ok(serde_json::Value::Object(_)));
    match engine.fill_json(&mut record, line) {
        Err(e) => {
            assert!(!object, "fill_json refused an object serde_json reads: {}", e.message());
            Err(e.message().to_string())
        }
        Ok(()) => {
            assert!(object, "fill_json read a line that is not a JSON object to serde_json");
            let value = value.expect("checked above");
            engine.matches_record(cache, &record, &mut out);
            let mut titles = Vec::new();
            for (id, lr) in engine.rules() {
                let oracle = sigmata::reference::eval(&lr.ir.expr, engine.fields(), &value);
                assert_eq!(out.contains(id), oracle, "rule '{}' disagrees with the reference", lr.rule.title);
                assert_eq!(engine.matches(&value).contains(id), oracle, "Value path, rule '{}'", lr.rule.title);
                if oracle {
                    titles.push(lr.rule.title.clone());
                }
            }
            Ok(titles)
        }
    }
}

#[test]
fn bad_input_matrix() {
    let ten_mb = "a".repeat(10 << 20);
    let deep = |open: &str, close: &str, n: usize| format!("{}1{}", open.repeat(n), close.repeat(n));
    let rows: Vec<(&str, String, Want)> = vec![
        ("plain event", r#"{"CommandLine":"whoami /all"}"#.into(), Want::Event(&["whoami"])),
        ("no match", r#"{"CommandLine":"dir"}"#.into(), Want::Event(&[])),
        ("empty object", "{}".into(), Want::Event(&[])),
        // serde_json reads \r as whitespace: a CRLF line is fine as it is.
        ("CRLF ending", "{\"CommandLine\":\"whoami\"}\r".into(), Want::Event(&["whoami"])),
        ("CRLF inside", "{\"CommandLine\":\r\n\"whoami\"}".into(), Want::Event(&["whoami"])),
        // A byte-order mark is not JSON: the reader of a file strips it.
        ("BOM", "\u{feff}{\"CommandLine\":\"whoami\"}".into(), Want::Error("invalid JSON: expected value")),
        ("empty line", String::new(), Want::Error("invalid JSON: EOF while parsing a value")),
        ("blank line", " \t ".into(), Want::Error("invalid JSON: EOF while parsing a value")),
        ("malformed", r#"{"CommandLine": }"#.into(), Want::Error("invalid JSON: expected value")),
        ("truncated", r#"{"CommandLine":"who"#.into(), Want::Error("invalid JSON: EOF while parsing a string")),
        ("trailing text", r#"{"CommandLine":"whoami"} x"#.into(), Want::Error("invalid JSON: trailing characters")),
        ("two objects", "{}{}".into(), Want::Error("invalid JSON: trailing characters")),
        ("bad escape", r#"{"CommandLine":"\q"}"#.into(), Want::Error("invalid JSON: invalid escape")),
        (
            "lone surrogate",
            r#"{"CommandLine":"\ud800"}"#.into(),
            Want::Error("invalid JSON: unexpected end of hex escape"),
        ),
        (
            "lone trailing surrogate",
            r#"{"CommandLine":"\udc00x"}"#.into(),
            Want::Error("invalid JSON: lone leading surrogate"),
        ),
        ("number out of range", r#"{"n":1e400}"#.into(), Want::Error("invalid JSON: number out of range")),
        ("array", "[1,2]".into(), Want::Error("not a JSON object (found an array)")),
        ("string", r#""whoami""#.into(), Want::Error("not a JSON object (found a string)")),
        ("number", "12".into(), Want::Error("not a JSON object (found a number)")),
        ("null", "null".into(), Want::Error("not a JSON object (found null)")),
        ("boolean", "true".into(), Want::Error("not a JSON object (found a boolean)")),
        // A raw NUL is a control character, which JSON strings may not hold;
        // an escaped one is an ordinary character of the value.
        ("raw NUL", "{\"CommandLine\":\"who\0ami\"}".into(), Want::Error("invalid JSON: control character")),
        ("escaped NUL", r#"{"CommandLine":"\u0000whoami\u0000"}"#.into(), Want::Event(&["whoami"])),
        ("NUL in a key", r#"{"Command\u0000Line":"whoami"}"#.into(), Want::Event(&[])),
        // Bytes that are not UTF-8 reach the engine decoded lossily (U+FFFD).
        (
            "invalid UTF-8, decoded lossily",
            String::from_utf8_lossy(b"{\"CommandLine\":\"\xff\xfewhoami\xc3\"}").into_owned(),
            Want::Event(&["whoami"]),
        ),
        ("10 MB value", format!(r#"{{"CommandLine":"{ten_mb}whoami"}}"#), Want::Event(&["whoami"])),
        ("10 MB keyword", format!(r#"{{"Other":"{ten_mb}MIMIKATZ"}}"#), Want::Event(&["keyword"])),
        ("10 MB key", format!(r#"{{"{ten_mb}":"whoami"}}"#), Want::Event(&[])),
        ("10 MB of spaces", format!("{{{}}}", " ".repeat(10 << 20)), Want::Event(&[])),
        ("nested field", r#"{"process":{"name":"cmd.exe"}}"#.into(), Want::Event(&["nested"])),
        (
            "nesting 100 deep",
            format!(r#"{{"process":{{"name":"cmd.exe"}},"x":{}}}"#, deep("[", "]", 100)),
            Want::Event(&["nested"]),
        ),
        // Refused at the first '[': the top level must be an object.
        ("100,000 '['", deep("[", "]", 100_000), Want::Error("not a JSON object (found an array)")),
        (
            "100,000 '[' in a value",
            format!(r#"{{"x":{}}}"#, deep("[", "]", 100_000)),
            Want::Error("invalid JSON: recursion limit exceeded"),
        ),
        (
            "100,000 objects in a field",
            format!(r#"{{"process":{}}}"#, deep(r#"{"a":"#, "}", 100_000)),
            Want::Error("invalid JSON: recursion limit exceeded"),
        ),
        (
            "100,000 '[' unclosed",
            format!(r#"{{"x":{}"#, "[".repeat(100_000)),
            Want::Error("invalid JSON: recursion limit exceeded"),
        ),
        ("repeated key: the last wins", r#"{"CommandLine":"whoami","CommandLine":"dir"}"#.into(), Want::Event(&[])),
        (
            "repeated object key",
            r#"{"process":{"name":"x"},"process":{"name":"cmd.exe"}}"#.into(),
            Want::Event(&["nested"]),
        ),
    ];
    let engine = engine();
    let mut cache = engine.create_cache();
    let (mut events, mut errors, mut matched, mut matches) = (0, 0, 0, 0);
    for (name, line, want) in &rows {
        let got = read(&engine, &mut cache, line);
        match (&got, want) {
            (Ok(titles), Want::Event(expected)) => {
                assert_eq!(titles, expected, "{name}");
                events += 1;
                matched += usize::from(!titles.is_empty());
                matches += titles.len();
            }
            (Err(message), Want::Error(prefix)) => {
                assert!(message.starts_with(prefix), "{name}: {message:?} does not start with {prefix:?}");
                errors += 1;
            }
            (Ok(titles), Want::Error(prefix)) => panic!("{name}: read as an event matching {titles:?}, not {prefix:?}"),
            (Err(message), Want::Event(_)) => panic!("{name}: refused with {message:?}"),
        }
    }
    // Exact accounting: every line is an event or an error, none is lost.
    assert_eq!((events, errors), (16, 21));
    assert_eq!(events + errors, rows.len());
    assert_eq!((matched, matches), (10, 10));
}

/// Values no rule reads are skipped, not copied; they are still held to
/// serde_json's nesting limit, so that `fill_json` refuses exactly the
/// lines `serde_json::Value` refuses (it once skipped 100,000 levels of
/// `[` in an unread field, and the CLI counted the line as an event under
/// the compiled engine and as malformed under `--engine reference`).
#[test]
fn skipped_values_are_held_to_the_nesting_limit() {
    let rule =
        "title: t\nlogsource: {category: process_creation}\ndetection:\n    sel: {Image: x}\n    condition: sel\n";
    let (engine, _) = Builder::new().config(Config::new().logsource(None)).add_source("r.yml", rule).build();
    assert!(!engine.needs_keywords());
    let mut record = Record::new();
    // The top-level object is the first of serde_json's 128 levels.
    for (open, close) in [("[", "]"), (r#"{"a":"#, "}")] {
        for (depth, ok) in [(126, true), (127, false), (100_000, false)] {
            let line = format!(r#"{{"Other":{}1{},"Image":"x"}}"#, open.repeat(depth), close.repeat(depth));
            let serde = serde_json::from_str::<serde_json::Value>(&line).is_ok();
            let fast = engine.fill_json(&mut record, &line);
            assert_eq!((fast.is_ok(), serde), (ok, ok), "{open} x {depth}: {fast:?}");
            if let Err(e) = fast {
                assert!(e.message().starts_with("invalid JSON: recursion limit exceeded"), "{}", e.message());
            }
        }
    }
}
