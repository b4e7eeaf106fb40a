//! Arbitrary bytes as a rule file with correlations: loading and resolving
//! must never panic or hang, and feeding the fixed events (at arbitrary
//! times taken from the input) through a `Correlator` must never panic.
//!
//! Seeds: the packs of `tests/cases/correlations/*.yml`.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use sigmata_fuzz::Text;

static EVENTS: OnceLock<Vec<serde_json::Value>> = OnceLock::new();

fuzz_target!(|input: Text| {
    let (engine, set, _report) = sigmata::Builder::new()
        .config(sigmata::Config::new().logsource(None))
        .add_source_bytes("fuzz.yml", &input.0)
        .build_correlated();
    if set.is_empty() {
        return;
    }
    let events = EVENTS.get_or_init(|| {
        sigmata_fuzz::fixed_events().iter().filter_map(|t| serde_json::from_str(t).ok()).collect()
    });
    let config = sigmata::correlate::CorrelatorConfig { max_groups: 4, max_entries: 4, ..Default::default() };
    let mut c = sigmata::correlate::Correlator::new(Arc::new(set), config);
    let source: Arc<str> = "fuzz".into();
    let mut alerts = Vec::new();
    // Times from the input's bytes: repeats, jumps back and far ahead.
    for (i, b) in input.0.iter().take(64).enumerate() {
        let event = &events[i % events.len()];
        let time = Some(i64::from(*b) * 7_000 - 100_000);
        c.feed(engine.matches(event).iter(), event, time, &source, i as u64, &mut alerts);
    }
    c.finish(&mut alerts);
});
