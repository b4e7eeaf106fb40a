//! `sigmata explain -r RULES EVENT`: why rules did or did not match events,
//! and why correlations did or did not fire over them.

use std::io::Read;

use sigmata::correlate::{CorrelatorConfig, ExplainEvent};

use sigmata::RuleId;

use crate::args::{ExplainArgs, ReportFormat};
use crate::input::{self, Item};
use crate::rules;
use crate::{Failure, Outcome};

/// Runs `explain`.
pub fn run(a: &ExplainArgs) -> Result<Outcome, Failure> {
    let loaded = rules::load_correlated(&a.rules, rules::Need::All)?;
    for e in &loaded.report.errors {
        eprintln!("sigmata: refused: {}", super::check::first_line(e));
    }
    let engine = &loaded.engine;
    let set = &loaded.correlations;
    let chosen: Vec<RuleId> = engine
        .rules()
        .filter(|(_, lr)| {
            a.only.is_empty() || a.only.iter().any(|o| lr.rule.id.as_deref() == Some(o.as_str()) || lr.rule.title == *o)
        })
        .map(|(id, _)| id)
        .collect();
    let chosen_corr: Vec<usize> = (0..set.len())
        .filter(|&i| {
            let d = &set.rules()[i].doc;
            a.only.is_empty()
                || a.only.iter().any(|o| {
                    d.id.as_deref() == Some(o.as_str()) || d.name.as_deref() == Some(o.as_str()) || d.title == *o
                })
        })
        .collect();
    if chosen.is_empty() && chosen_corr.is_empty() {
        let why = if a.only.is_empty() {
            format!(
                "no rule loaded ({} refused, {} not applicable to the logsource {})",
                loaded.report.errors.len(),
                loaded.report.not_applicable.len(),
                a.rules.logsource
            )
        } else {
            format!("no loaded rule or correlation has the id or title {}", a.only.join(", "))
        };
        return Err(Failure::usage(why));
    }
    let label = a.event.display().to_string();
    let text = if label == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| Failure::io(format!("standard input: {e}")))?;
        s
    } else {
        std::fs::read_to_string(&a.event).map_err(|e| Failure::usage(format!("{label}: {e}")))?
    };
    let mut events = Vec::new();
    let mut problems = Vec::new();
    // A stream of concatenated objects covers one object, pretty-printed
    // or not, and JSONL alike.
    input::read_stream(&text, |item| match item {
        Item::Event { line, event, .. } => events.push((line, event)),
        Item::Malformed { line, reason } => problems.push(format!("{label}:{line}: {reason}")),
        Item::Empty { .. } => {}
    });
    if !problems.is_empty() {
        return Err(Failure::usage(problems.join("\n")));
    }
    if events.is_empty() {
        return Err(Failure::usage(format!("{label}: no JSON object to explain")));
    }
    let mut any = false;
    let mut docs = Vec::new();
    for (line, event) in &events {
        for &id in &chosen {
            let e = engine.explain(id, event);
            any |= e.matched;
            match a.format {
                ReportFormat::Text => print!("{label}:{line}: {e}"),
                ReportFormat::Json => {
                    let mut doc = crate::explain::to_json(&e);
                    doc["source"] = label.clone().into();
                    doc["line"] = (*line).into();
                    docs.push(doc);
                }
            }
        }
    }
    if !chosen_corr.is_empty() {
        let time_fields = crate::args::time_field_refs(engine, &a.time_fields);
        let inputs: Vec<ExplainEvent<'_>> = events
            .iter()
            .map(|(line, event)| ExplainEvent {
                matched: engine.matches(event).iter().collect(),
                event,
                time: sigmata::correlate::event_time(event, &time_fields),
                line: *line as u64,
            })
            .collect();
        let config = CorrelatorConfig { max_lateness_ms: a.max_lateness, ..CorrelatorConfig::default() };
        for &c in &chosen_corr {
            let x = set.explain(c, &inputs, config);
            any |= x.fired;
            match a.format {
                ReportFormat::Text => print!("{}", crate::explain_corr::to_text(set, &label, &x)),
                ReportFormat::Json => docs.push(crate::explain_corr::to_json(set, &label, &x)),
            }
        }
    }
    if a.format == ReportFormat::Json {
        println!("{}", serde_json::to_string_pretty(&docs).unwrap_or_default());
    }
    Ok(if any { Outcome::Yes } else { Outcome::No })
}
