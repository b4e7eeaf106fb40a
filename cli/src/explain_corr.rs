//! Printing correlation explanations ([`sigmata::correlate::CorrelationExplanation`]):
//! text and JSON. The engine works them out; the CLI only prints.

use std::fmt::Write;

use serde_json::{Value, json};
use sigmata::correlate::{CorrelationExplanation, Correlations};

use crate::corr_out::rfc3339;

fn number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9e15 { json!(v as i64) } else { json!(v) }
}

fn header(set: &Correlations, x: &CorrelationExplanation) -> String {
    let d = &set.rules()[x.correlation].doc;
    let cond = if d.condition.is_empty() {
        "all rules".to_string()
    } else {
        d.condition.iter().map(|(op, t)| format!("{} {t}", op.as_str())).collect::<Vec<_>>().join(" and ")
    };
    let field = if d.field.is_empty() { String::new() } else { format!(" of {}", d.field.join(", ")) };
    format!(
        "{}{field}, group-by [{}], timespan {}, condition {cond}",
        d.kind.as_str(),
        d.group_by.join(", "),
        d.timespan
    )
}

/// The explanation as text: one block per correlation.
pub fn to_text(set: &Correlations, label: &str, x: &CorrelationExplanation) -> String {
    let d = &set.rules()[x.correlation].doc;
    let mut s = String::new();
    let id = d.id.as_deref().map(|i| format!(" ({i})")).unwrap_or_default();
    let verdict = if x.fired { "fired" } else { "did not fire" };
    let _ = writeln!(s, "correlation '{}'{id}: {verdict}", d.title);
    let _ = writeln!(s, "  {}", header(set, x));
    for i in &x.inputs {
        let what = if i.correlation { "correlation" } else { "rule" };
        let lines: Vec<String> = i.lines.iter().map(|l| format!("{label}:{l}")).collect();
        match (i.correlation, lines.is_empty()) {
            (true, _) => {}
            (false, true) => {
                let _ = writeln!(s, "  {what} '{}': matched no event", i.reference);
            }
            (false, false) => {
                let _ = writeln!(s, "  {what} '{}' matched {}", i.reference, lines.join(", "));
            }
        }
    }
    for g in &x.groups {
        let group: Vec<String> = g.group.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let group = if group.is_empty() { "(one group)".to_string() } else { group.join(", ") };
        let status = match (g.fired, g.holds) {
            (true, _) => "fired",
            (false, true) => "condition holds but no alert (see the window rules in README)",
            (false, false) => "did not fire",
        };
        let _ = writeln!(
            s,
            "  group {group}: {status}; value {} in the window {} .. {} ({} of the group's {} events)",
            number(g.value),
            rfc3339(g.window.0),
            rfc3339(g.window.1),
            g.events.len(),
            g.total_events
        );
        for (line, t, inputs) in &g.events {
            let names: Vec<&str> = inputs.iter().map(|p| d.rules[*p].as_str()).collect();
            let _ = writeln!(s, "    {label}:{line} {} {}", rfc3339(*t), names.join(", "));
        }
        for m in &g.missing {
            let _ = writeln!(s, "    missing: {m}");
        }
    }
    for (line, why) in &x.skipped {
        let _ = writeln!(s, "  left out: {label}:{line}: {why}");
    }
    for m in &x.missing {
        let _ = writeln!(s, "  missing: {m}");
    }
    s
}

/// The explanation as JSON.
pub fn to_json(set: &Correlations, label: &str, x: &CorrelationExplanation) -> Value {
    let d = &set.rules()[x.correlation].doc;
    json!({
        "source": label,
        "correlation_id": d.id,
        "correlation_title": d.title,
        "type": d.kind.as_str(),
        "fired": x.fired,
        "summary": header(set, x),
        "rules": x.inputs.iter().map(|i| json!({
            "reference": i.reference, "correlation": i.correlation, "lines": i.lines,
        })).collect::<Vec<_>>(),
        "groups": x.groups.iter().map(|g| json!({
            "group": g.group.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "fired": g.fired,
            "holds": g.holds,
            "value": number(g.value),
            "window_start": rfc3339(g.window.0),
            "window_end": rfc3339(g.window.1),
            "events": g.events.iter().map(|(line, t, inputs)| json!({
                "line": line,
                "time": rfc3339(*t),
                "rules": inputs.iter().map(|p| d.rules[*p].clone()).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "total_events": g.total_events,
            "missing": g.missing,
        })).collect::<Vec<_>>(),
        "left_out": x.skipped.iter().map(|(line, why)| json!({"line": line, "reason": why})).collect::<Vec<_>>(),
        "missing": x.missing,
        "text": to_text(set, label, x),
    })
}
