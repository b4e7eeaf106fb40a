//! `sigmata test`: SigmaHQ-style regression tests.
//!
//! A rule's `regression_tests_path` names an `info.yml` relative to the root
//! of the rule repository. Its `regression_tests_info` entries name sample
//! files (`.evtx`; we read the `.json` rendering stored beside each one) and
//! a `match_count`: the rule must match at least that many events (at least
//! one when the count is missing), as SigmaHQ's own runner requires.

use std::path::{Path, PathBuf};

use serde_json::json;
use sigmata::yaml::Yaml;
use sigmata::{Engine, RuleId};

use crate::args::{ReportFormat, TestArgs};
use crate::input::{self, Item};
use crate::rules;
use crate::{Failure, Outcome};

/// The result of one regression test.
#[derive(Debug)]
struct TestResult {
    rule: RuleId,
    name: String,
    sample: PathBuf,
    expected: u64,
    events: u64,
    matched: u64,
    problem: Option<String>,
}

impl TestResult {
    fn passed(&self) -> bool {
        self.problem.is_none() && self.matched >= self.expected
    }
}

/// Runs `test`.
pub fn run(a: &TestArgs) -> Result<Outcome, Failure> {
    let loaded = rules::load(&a.rules)?;
    let engine = &loaded.engine;
    let mut results = Vec::new();
    for (id, lr) in engine.rules() {
        let Some((_, Yaml::Str(path))) = lr.rule.custom.iter().find(|(k, _)| k == "regression_tests_path") else {
            continue;
        };
        results.extend(run_rule(engine, id, Path::new(&*lr.rule.origin.path), path));
    }
    let failed = results.iter().filter(|r| !r.passed()).count();
    let refused = loaded.report.errors.len();
    match a.format {
        ReportFormat::Text => {
            for r in &results {
                if r.passed() && !a.verbose {
                    continue;
                }
                let rule = engine.rule(r.rule);
                let verdict = if r.passed() { "PASS" } else { "FAIL" };
                let detail = match &r.problem {
                    Some(p) => p.clone(),
                    None => format!("matched {} of {} events, expected at least {}", r.matched, r.events, r.expected),
                };
                println!(
                    "{verdict} {} [{}] {}: {detail} ({})",
                    rule.origin.path,
                    rule.id.as_deref().unwrap_or("no id"),
                    r.name,
                    r.sample.display()
                );
            }
            for e in &loaded.report.errors {
                println!("REFUSED {}", super::check::first_line(e));
            }
            println!(
                "regression tests: {} passed, {failed} failed, from {} rules with tests; {refused} rules refused",
                results.len() - failed,
                results.iter().map(|r| r.rule).collect::<std::collections::BTreeSet<_>>().len(),
            );
        }
        ReportFormat::Json => {
            let tests: Vec<_> = results
                .iter()
                .map(|r| {
                    let rule = engine.rule(r.rule);
                    json!({
                        "rule_id": rule.id, "rule_path": &*rule.origin.path, "name": r.name,
                        "sample": r.sample.display().to_string(), "expected": r.expected,
                        "events": r.events, "matched": r.matched, "passed": r.passed(), "problem": r.problem,
                    })
                })
                .collect();
            let doc = json!({
                "tests": tests, "passed": results.len() - failed, "failed": failed,
                "refused": loaded.report.errors.iter().map(super::check::error_json).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
    }
    Ok(if failed == 0 && refused == 0 { Outcome::Yes } else { Outcome::No })
}

/// Finds `relative` below the nearest ancestor of `rule_file` that has it.
fn resolve(rule_file: &Path, relative: &str) -> Option<PathBuf> {
    rule_file.ancestors().skip(1).map(|a| a.join(relative)).find(|p| p.exists())
}

fn run_rule(engine: &Engine, id: RuleId, rule_file: &Path, info_path: &str) -> Vec<TestResult> {
    let fail = |name: &str, sample: PathBuf, problem: String| TestResult {
        rule: id,
        name: name.to_string(),
        sample,
        expected: 1,
        events: 0,
        matched: 0,
        problem: Some(problem),
    };
    let Some(info_file) = resolve(rule_file, info_path) else {
        return vec![fail("info.yml", PathBuf::from(info_path), "regression_tests_path not found".into())];
    };
    let root =
        info_file.ancestors().find(|a| a.join(info_path) == info_file).map(Path::to_path_buf).unwrap_or_default();
    let info = match std::fs::read_to_string(&info_file)
        .map_err(|e| e.to_string())
        .and_then(|t| sigmata::yaml::parse(&t).map_err(|e| e.to_string()))
    {
        Ok(docs) => docs.into_iter().next().map(|d| d.value).unwrap_or(Yaml::Null),
        Err(e) => return vec![fail("info.yml", info_file, e)],
    };
    let Some(Yaml::Seq(entries)) = info.get("regression_tests_info") else {
        return vec![fail("info.yml", info_file, "no regression_tests_info list".into())];
    };
    entries
        .iter()
        .map(|entry| {
            let name = entry.get("name").and_then(Yaml::as_str).unwrap_or("unnamed").to_string();
            let expected = match entry.get("match_count") {
                Some(Yaml::Int(n)) => (*n).max(0) as u64,
                _ => 1,
            };
            let Some(sample) = entry.get("path").and_then(Yaml::as_str) else {
                return fail(&name, info_file.clone(), "test has no path".into());
            };
            let json_path = root.join(sample).with_extension("json");
            let text = match std::fs::read_to_string(&json_path) {
                Ok(t) => t,
                Err(e) => return fail(&name, json_path, format!("cannot read sample: {e}")),
            };
            let mut cache = engine.create_cache();
            let (mut events, mut matched, mut problem) = (0, 0, None);
            input::read_stream(&text, |item| match item {
                Item::Event { event, .. } => {
                    events += 1;
                    if engine.is_match_rule(id, &mut cache, &event) {
                        matched += 1;
                    }
                }
                Item::Malformed { line, reason } => problem = Some(format!("line {line}: {reason}")),
                Item::Empty { .. } => {}
            });
            TestResult { rule: id, name, sample: json_path, expected, events, matched, problem }
        })
        .collect()
}
