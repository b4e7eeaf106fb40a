//! `Engine::explain` against the compiled engine on every conformance case:
//! its verdict (computed by the reference evaluator) is the compiled
//! engine's, its search-by-search account combines to the same answer, and
//! every miss names what failed. (Comparing the verdict with the reference
//! evaluator, which computed it, could not fail: issue 13, item 7.)

use sigmata::Config;
use sigmata_tests::{build, load_cases};

#[test]
fn explanations_agree_with_the_compiled_engine_on_every_case() {
    let mut failures = Vec::new();
    let mut explained = 0;
    for case in load_cases().iter().filter(|c| c.error.is_none()) {
        let (engine, report) = build(case, Config::new().logsource(None));
        if !report.errors.is_empty() {
            failures.push(format!("{}: does not load", case.name));
            continue;
        }
        let mut cache = engine.create_cache();
        let mut out = sigmata::MatchSet::new();
        for event in case.matches.iter().chain(&case.no_matches) {
            engine.matches_with(&mut cache, event, &mut out);
            for (id, lr) in engine.rules() {
                let want = out.iter().any(|m| m == id);
                let e = engine.explain(id, event);
                explained += 1;
                let text = e.to_string();
                let mut problems = Vec::new();
                if e.matched != want {
                    problems.push(format!("verdict {} but the compiled engine says {want}", e.matched));
                }
                if e.note.is_some() {
                    problems.push("not explained search by search".to_string());
                }
                // Without meta filters the detection is the whole rule.
                if lr.filters.is_empty() && e.detection_matched != want {
                    problems.push(format!("the searches combine to {}", e.detection_matched));
                }
                if !e.detection_matched && e.failed.is_empty() {
                    problems.push("a miss that blames no search".to_string());
                }
                // Every blamed search has the value it is blamed for.
                for b in &e.failed {
                    if !e.searches.iter().any(|s| s.name == b.search && s.matched == b.value) {
                        problems.push(format!("blames {} for being {}", b.search, b.value));
                    }
                }
                if !text.starts_with("rule '") {
                    problems.push("text does not start with the rule".to_string());
                }
                if !problems.is_empty() {
                    failures.push(format!("{} on {event}: {}\n{text}", case.name, problems.join("; ")));
                }
            }
        }
    }
    assert!(explained >= 300, "only {explained} explanations");
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
}
