//! Arbitrary text as a condition: parsing must never panic or overflow the
//! stack, whatever the nesting.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    let _ = sigmata::condition::parse(data, 64);
});
