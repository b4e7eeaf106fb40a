//! A small structured rule and events (built by `sigmata_fuzz::Case` from
//! the fuzzer's bytes: searches of fields, modifier chains and values from
//! a grammar that covers every modifier, conditions with and/or/not/x of,
//! sometimes a meta filter; events made of the rule's own literals, recased
//! and glued together) under one of the engine configurations: the compiled
//! engine must agree with `sigmata::reference::eval`. A failure prints the
//! rule YAML and the event JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigmata_fuzz::{Case, configs, run_case};

fuzz_target!(|case: Case| {
    let config = configs().swap_remove(case.config).1;
    run_case(&case.yaml, &case.events, config);
});
