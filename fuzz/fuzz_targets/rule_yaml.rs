//! Arbitrary bytes as a rule file: loading must never panic, and whatever
//! loads must evaluate an arbitrary small event without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (engine, _report) = sigmata::Builder::new()
        .config(sigmata::Config::new().logsource(None))
        .add_source_bytes("fuzz.yml", data)
        .build();
    let event = serde_json::json!({"CommandLine": "cmd /c whoami", "Image": "C:\\x.exe", "n": 1, "z": null});
    let _ = engine.matches(&event);
});
