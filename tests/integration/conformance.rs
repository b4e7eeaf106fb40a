//! Runs every case of `tests/cases/*.yml` through `check()`.

use sigmata_tests::{check, load_cases};

#[test]
fn every_case_holds_in_every_configuration() {
    let cases = load_cases();
    let mut failures = Vec::new();
    for case in &cases {
        for f in check(case) {
            failures.push(format!("{} ({}): {f}", case.name, case.file.display()));
        }
    }
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn the_suite_is_large_enough_to_mean_something() {
    let cases = load_cases();
    let events: usize = cases.iter().map(|c| c.matches.len() + c.no_matches.len()).sum();
    let errors = cases.iter().filter(|c| c.error.is_some()).count();
    assert!(cases.len() >= 150, "only {} cases", cases.len());
    assert!(errors >= 20, "only {errors} refusal cases");
    assert!(events >= 300, "only {events} events");
}
