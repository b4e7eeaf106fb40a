//! Arbitrary bytes as one JSONL line, read by the engine's JSON reader
//! (`Engine::fill_json`) and by serde_json into a `Value`: neither may
//! panic or overflow the stack; `fill_json` accepts exactly the lines that
//! are a JSON object to serde_json; and then both paths give the matches
//! the reference evaluator gives. The engine's rules read top-level,
//! dotted and nested fields and keywords, with every kind of test.
//!
//! Seeds: the events of `tests/cases/*.yml` as JSON lines, and lines of
//! `../shared/corpora` when present (`fuzz/seed.sh`).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sigmata::{Builder, Config, Engine, Record};
use sigmata_fuzz::Text;

const RULES: &str = r#"
title: fields
logsource: {category: process_creation}
detection:
    sel:
        CommandLine|contains|windash: ' -enc '
        Image|endswith: '\cmd.exe'
    dotted:
        process.parent.name|startswith: explorer
        a.b.c: 1
    kinds:
        - n|gte: 10
        - ip|cidr: 10.0.0.0/8
        - t|hour: 20
        - z: null
        - e|exists: true
        - CommandLine|re: '(?i)whoami\s+/all'
        - User|fieldref: Image
        - '': x
    condition: sel or dotted or kinds
---
title: keywords
logsource: {category: process_creation}
detection:
    keywords:
        - 'mimikatz'
        - 'кот'
    condition: keywords
---
title: negated
logsource: {category: process_creation}
detection:
    sel:
        Image|contains: '\'
    filter:
        ParentImage: null
    condition: not sel and not filter
"#;

/// Two engines: one whose rules search keywords (every value of the line
/// is read) and one without (values no rule reads are skipped, a path of
/// its own in the reader).
static ENGINES: OnceLock<[Engine; 2]> = OnceLock::new();

fn build(text: &str) -> Engine {
    let (engine, report) = Builder::new().config(Config::new().logsource(None)).add_source("rules.yml", text).build();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    engine
}

fuzz_target!(|input: Text| {
    let engines = ENGINES.get_or_init(|| {
        let without_keywords: String = RULES.split("---").filter(|d| !d.contains("keywords")).collect::<Vec<_>>().join("---");
        [build(RULES), build(&without_keywords)]
    });
    // Bytes that are not UTF-8 are the reader's business (the CLI refuses
    // the line); the engine takes text, here decoded lossily.
    let line = String::from_utf8_lossy(&input.0).into_owned();
    let value = serde_json::from_str::<serde_json::Value>(&line);
    let object = matches!(value, Ok(serde_json::Value::Object(_)));
    for engine in engines {
        let mut record = Record::new();
        let fast = engine.fill_json(&mut record, &line);
        assert_eq!(fast.is_ok(), object, "fill_json says {fast:?}, serde_json says {value:?}");
        if object {
            sigmata_fuzz::check_agreement(engine, std::slice::from_ref(&line));
        }
    }
});
