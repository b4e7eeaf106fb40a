//! Arbitrary bytes as a rule file: loading must never panic, hang or blow
//! up (the limits of `Config` hold), and every rule that loads must agree
//! with the reference evaluator on a few fixed events, through both event
//! paths (`serde_json::Value` and `fill_json`).
//!
//! Seeds: the rule files of `rules/` and the rules of `tests/cases/*.yml`
//! (`fuzz/seed.sh`).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sigmata_fuzz::Text;

static EVENTS: OnceLock<Vec<String>> = OnceLock::new();

fuzz_target!(|input: Text| {
    let (engine, _report) = sigmata::Builder::new()
        .config(sigmata::Config::new().logsource(None))
        .add_source_bytes("fuzz.yml", &input.0)
        .build();
    sigmata_fuzz::check_agreement(&engine, EVENTS.get_or_init(sigmata_fuzz::fixed_events));
});
