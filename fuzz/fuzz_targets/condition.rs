//! Arbitrary text as a condition: parsing must never panic or overflow the
//! stack, whatever the nesting, and a tree it returns respects the depth
//! limit. Seeds: the conditions of `rules/` and `tests/cases/*.yml`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigmata_fuzz::Text;

fuzz_target!(|input: Text| {
    let text = String::from_utf8_lossy(&input.0);
    for depth in [4, 64] {
        if let Ok(ast) = sigmata::condition::parse(&text, depth) {
            assert!(ast.depth() <= depth, "depth {} > {depth}", ast.depth());
        }
    }
});
