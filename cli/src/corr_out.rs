//! How `scan` prints correlation alerts and their counters.

use std::io::Write as _;

use serde_json::json;
use sigmata::Engine;
use sigmata::correlate::{Alert, Correlations, CorrelatorStats, Source};

use crate::args::ScanFormat;

/// Milliseconds since the epoch as RFC 3339 (UTC).
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

/// A count or other value as JSON: an integer when it is one.
fn number(v: f64) -> serde_json::Value {
    if v.fract() == 0.0 && v.abs() < 9e15 { json!(v as i64) } else { json!(v) }
}

fn source_id(engine: &Engine, set: &Correlations, by: Source) -> String {
    match by {
        Source::Rule(id) => {
            let r = engine.rule(id);
            r.id.clone().unwrap_or_else(|| r.title.clone())
        }
        Source::Correlation(c) => {
            let d = &set.rules()[c].doc;
            d.id.clone().unwrap_or_else(|| d.title.clone())
        }
    }
}

/// One alert as a JSON object, shaped like a rule match plus `correlation`.
pub fn alert_json(engine: &Engine, set: &Correlations, a: &Alert) -> serde_json::Value {
    let d = &set.rules()[a.correlation].doc;
    let group: serde_json::Map<String, serde_json::Value> =
        a.group.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let events: Vec<serde_json::Value> = a
        .events
        .iter()
        .map(|e| json!({"source": &*e.source, "line": e.line, "rule_id": source_id(engine, set, e.by)}))
        .collect();
    json!({
        "rule_id": d.id,
        "rule_title": d.title,
        "level": d.level.map(|l| l.as_str()),
        "tags": d.tags,
        "rule_path": &*d.origin.path,
        "source": a.events.last().map(|e| &*e.source),
        "correlation": {
            "type": d.kind.as_str(),
            "group": group,
            "value": number(a.value),
            "first_time": rfc3339(a.first_time),
            "last_time": rfc3339(a.last_time),
            "events": events,
            "events_total": a.events_total,
        },
    })
}

/// Writes one alert in `format`.
pub fn write_alert(out: &mut Vec<u8>, format: ScanFormat, engine: &Engine, set: &Correlations, a: &Alert) {
    match format {
        ScanFormat::Jsonl => {
            let _ = writeln!(out, "{}", alert_json(engine, set, a));
        }
        ScanFormat::Text => {
            let d = &set.rules()[a.correlation].doc;
            let group: Vec<String> = a.group.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let at = a.events.last().map(|e| format!("{}:{}", e.source, e.line)).unwrap_or_default();
            let _ = writeln!(
                out,
                "{at}: {:<13} {} [{}] correlation {} value {} group {{{}}} from {} to {} ({} events)",
                d.level.map_or("-", |l| l.as_str()),
                d.title,
                d.id.as_deref().unwrap_or("no id"),
                d.kind.as_str(),
                number(a.value),
                group.join(", "),
                rfc3339(a.first_time),
                rfc3339(a.last_time),
                a.events_total
            );
        }
        ScanFormat::Summary | ScanFormat::None => {}
    }
}

/// The `correlation` object of `--stats`.
pub fn stats_json(set: &Correlations, s: &CorrelatorStats, not_generated: u64) -> serde_json::Value {
    json!({
        "correlations_loaded": set.len(),
        "alerts": s.alerts,
        "events_correlated": s.events,
        "events_without_time": s.no_time,
        "events_too_late": s.too_late,
        "missing_group_field": s.missing_group_field,
        "missing_value": s.missing_value,
        "evicted_groups": s.evicted_groups,
        "evicted_events": s.evicted_entries,
        "expired_groups": s.expired_groups,
        "forced_releases": s.forced_releases,
        "matches_not_generated": not_generated,
    })
}
