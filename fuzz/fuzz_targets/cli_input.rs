//! Arbitrary bytes as a JSONL input, read by the command line's input side
//! as `sigmata scan` reads it: the line reader (`input::read_raw_lines`:
//! byte-order mark, CRLF, invalid UTF-8, blank lines), the evtx-dump
//! flattening (`input::normalise`), auditd grouping and normalisation
//! (`pipeline::auditd`), and the field-mapping pipelines (`auto` with its
//! Security 4688 mapping, `ecs`, `auditd`) on both of their paths (slot
//! records through `Mapper::read_json`/`route`, and `serde_json::Value`
//! through `Mapper::map_value`), each evaluated by a small pack. Nothing
//! may panic, and every line is accounted for once. `fuzz/run.sh` runs it
//! with `-timeout=10`, which catches a stall: one line with
//! `"argc":"100000000"` took 8 s in auditd's argument loop, and with
//! `u64::MAX` would never end (issue 13; seeded). Checked before it was
//! committed: the seeds, and 158,025 runs in 20 s of a build without
//! coverage instrumentation (cargo-fuzz was not installed there).
//!
//! Seeds: the lines of `../shared/corpora` (Sysmon, 4688, auditd, ECS)
//! when present, and the events of `tests/cases/*.yml` (`fuzz/seed.sh`).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use sigmata::{Builder, Config, Engine, MatchSet};
use sigmata_cli::input::{self, Line};
use sigmata_cli::pipeline::{Mapper, Pipelines, Slots, auditd};
use sigmata_fuzz::Text;

const RULES: &str = r#"
title: mapped fields
logsource: {category: process_creation}
detection:
    sel:
        Image|endswith: '\cmd.exe'
        CommandLine|contains: ' /c '
    user:
        User|contains: 'SYSTEM'
        ProcessId|gte: 4
        IntegrityLevel: High
        Hashes|contains: 'SHA256='
    condition: sel or user
---
title: keywords
logsource: {category: process_creation}
detection:
    keywords: ['whoami']
    condition: keywords
"#;

struct Setup {
    engine: Engine,
    /// `auto`, `ecs`, `auditd`: with routing, as `scan` runs them.
    mappers: Vec<Mapper>,
}

static SETUP: OnceLock<Setup> = OnceLock::new();

fuzz_target!(|input: Text| {
    let setup = SETUP.get_or_init(|| {
        let (engine, report) =
            Builder::new().config(Config::new().logsource(None)).add_source("rules.yml", RULES).build();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let mappers = [vec![], vec!["ecs".to_string()], vec!["auditd".to_string()]]
            .iter()
            .map(|spec| Mapper::new(&engine, &Pipelines::parse(spec).expect("built-in pipelines"), true))
            .collect();
        Setup { engine, mappers }
    });
    let Setup { engine, mappers } = setup;
    let (mut cache, mut out, mut slots) = (engine.create_cache(), MatchSet::new(), Slots::default());
    let mut grouper = auditd::Grouper::default();
    let mut accounted = 0usize;
    input::read_raw_lines(&mut &input.0[..], |line| {
        accounted += 1;
        let Line::Text { line, text } = line else { return };
        for m in mappers {
            if m.read_json(&mut slots, text).is_ok()
                && let (_, Some(record)) = m.route(&mut slots)
            {
                engine.matches_record(&mut cache, record, &mut out);
            }
        }
        let Ok(Value::Object(record)) = serde_json::from_str::<Value>(text) else { return };
        evaluate(setup, &mut cache, &mut out, &input::normalise(Value::Object(record.clone())));
        let group = match auditd::record_id(&record).map(str::to_string) {
            Some(id) => grouper.push(line as u64, &id, record),
            None => Some(auditd::Group { line: line as u64, records: vec![record] }),
        };
        if let Some(group) = group {
            evaluate(setup, &mut cache, &mut out, &auditd::normalise(group.records).0);
        }
    })
    .expect("reading from memory cannot fail");
    if let Some(group) = grouper.finish() {
        evaluate(setup, &mut cache, &mut out, &auditd::normalise(group.records).0);
    }
    // Every line is accounted for: one item per newline, plus a last line
    // without one.
    let lines = memchr_count(&input.0) + usize::from(input.0.last().is_some_and(|&b| b != b'\n'));
    assert_eq!(accounted, lines, "lines read");
});

/// Evaluates a parsed event through every mapper's `serde_json::Value` path.
fn evaluate(setup: &Setup, cache: &mut sigmata::Cache, out: &mut MatchSet, event: &Value) {
    for m in &setup.mappers {
        let (_, mapped) = m.map_value(&setup.engine, event);
        setup.engine.matches_with(cache, &mapped, out);
    }
}

fn memchr_count(b: &[u8]) -> usize {
    b.iter().filter(|&&c| c == b'\n').count()
}
