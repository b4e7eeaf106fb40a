//! Printing explanations ([`sigmata::Explanation`]): the JSON form, and
//! indentation of the text form. The engine builds them; the CLI only prints.

use serde_json::{Value, json};
use sigmata::Explanation;

/// An explanation as JSON (the structure of [`Explanation`], plus its text).
pub fn to_json(e: &Explanation) -> Value {
    let searches: Vec<Value> = e
        .searches
        .iter()
        .map(|s| {
            let branches: Vec<Value> = s
                .branches
                .iter()
                .map(|b| {
                    let items: Vec<Value> = b
                        .items
                        .iter()
                        .map(|i| {
                            let values: Vec<Value> = i
                                .values
                                .iter()
                                .map(|v| {
                                    json!({
                                        "value": v.written,
                                        "matched": v.matched,
                                        "wants": v.wants.iter().map(|w| w.description.clone()).collect::<Vec<_>>(),
                                        "matched_alternative": v.matched_by.as_ref().map(|(a, _)| a),
                                        "matched_event_value": v.matched_by.as_ref().and_then(|(_, ev)| ev.clone()),
                                        "nearest": v.nearest.as_ref().map(|n| json!({
                                            "alternative": n.alternative,
                                            "event_value": n.event_value,
                                            "common": n.common,
                                        })),
                                    })
                                })
                                .collect();
                            json!({
                                "key": i.key,
                                "field": i.field,
                                "matched": i.matched,
                                "all": i.all,
                                "neq": i.neq,
                                "event_values": i.event_values,
                                "values": values,
                            })
                        })
                        .collect();
                    json!({"matched": b.matched, "items": items})
                })
                .collect();
            json!({"name": s.name, "matched": s.matched, "shown_branch": s.shown, "branches": branches})
        })
        .collect();
    json!({
        "rule_id": e.id,
        "rule_title": e.title,
        "matched": e.matched,
        "detection_matched": e.detection_matched,
        "conditions": e.conditions,
        "filters": e.filters,
        "failed": e.failed.iter().map(|b| json!({"search": b.search, "value": b.value})).collect::<Vec<_>>(),
        "note": e.note,
        "searches": searches,
        "text": e.to_string(),
    })
}

/// `text` with every line indented by `pad`.
pub fn indent(text: &str, pad: &str) -> String {
    text.lines().map(|l| format!("{pad}{l}\n")).collect()
}
