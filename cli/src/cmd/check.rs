//! `sigmata check`: load a rule pack and report what loaded and what did not.

use std::collections::BTreeMap;

use serde_json::json;

use crate::args::{CheckArgs, ReportFormat};
use crate::rules;
use crate::{Failure, Outcome};

/// Runs `check`.
pub fn run(a: &CheckArgs) -> Result<Outcome, Failure> {
    let loaded = rules::load(&a.rules)?;
    let r = &loaded.report;
    match a.format {
        ReportFormat::Text => {
            for e in &r.errors {
                if a.verbose {
                    println!("{e}\n");
                } else {
                    println!("{}", first_line(e));
                }
            }
            for w in &r.warnings {
                println!("warning: {}", first_line(w));
            }
            if a.verbose {
                for n in &r.not_applicable {
                    println!(
                        "{}:{}: rule '{}' ({}): not applicable to this stream (logsource {})",
                        n.origin.path,
                        n.origin.first_line,
                        n.title,
                        n.id.as_deref().unwrap_or("no id"),
                        n.logsource
                    );
                }
            }
            println!(
                "{} rule files: {} rules loaded, {} refused, {} not applicable to this stream, {} filters",
                loaded.files,
                r.rules_loaded,
                r.errors.len(),
                r.not_applicable.len(),
                r.filters_loaded
            );
            if !r.not_applicable.is_empty() {
                let top: Vec<String> = by_logsource(r).into_iter().take(8).map(|(l, n)| format!("{l} {n}")).collect();
                println!(
                    "  not applicable by logsource: {}{}",
                    top.join(", "),
                    if by_logsource(r).len() > 8 { ", …" } else { "" }
                );
            }
        }
        ReportFormat::Json => {
            let doc = json!({
                "rule_files": loaded.files,
                "rules_loaded": r.rules_loaded,
                "rules_refused": r.errors.len(),
                "rules_not_applicable": r.not_applicable.len(),
                "filters_loaded": r.filters_loaded,
                "refused": r.errors.iter().map(error_json).collect::<Vec<_>>(),
                "warnings": r.warnings.iter().map(error_json).collect::<Vec<_>>(),
                "not_applicable": r.not_applicable.iter().map(|n| json!({
                    "file": &*n.origin.path,
                    "line": n.origin.first_line,
                    "rule_id": n.id,
                    "title": n.title,
                    "logsource": n.logsource.to_string(),
                })).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
    }
    Ok(if r.errors.is_empty() { Outcome::Yes } else { Outcome::No })
}

/// The first line of an error (location, rule and reason, without the
/// annotated source).
pub fn first_line(e: &sigmata::Error) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

/// A refused rule as JSON.
pub fn error_json(e: &sigmata::Error) -> serde_json::Value {
    json!({
        "file": e.origin(),
        "line": e.line(),
        "column": e.column(),
        "rule_id": e.rule_id(),
        "title": e.rule_title(),
        "kind": e.kind().as_str(),
        "message": e.message(),
    })
}

fn by_logsource(r: &sigmata::LoadReport) -> Vec<(String, usize)> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for n in &r.not_applicable {
        *counts.entry(n.logsource.to_string()).or_default() += 1;
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}
