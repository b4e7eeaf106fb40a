//! `sigmata check` lints for correlation rules (warnings, like the rule
//! lints of [`super::check::lint`]).
//!
//! - `group-by-field-unknown`: a `group-by` name whose field (after
//!   `aliases`) a referenced rule's events cannot have. "Cannot have" is
//!   decided conservatively: the rule's detection does not read the field,
//!   AND the rule's logsource has a known event schema (only
//!   `process_creation`: the Sigma taxonomy fields of
//!   [`PROCESS_CREATION_FIELDS`], the names the pipelines map every event to),
//!   AND the field is not in it. A rule of any other logsource, or an inner
//!   correlation of a chain, is never warned about: sigmata does not know
//!   what fields those events carry.
//! - `threshold-over-cap`: an `event_count` or `value_count` whose
//!   `gt`/`gte` threshold needs more events in one group window than a
//!   group keeps (`--max-group-events`, default 10,000): the oldest entries
//!   are evicted first, so the condition can never hold.
//! - `long-timespan`: a `timespan` over [`LONG_TIMESPAN_MS`] (one day). Each
//!   group keeps its window for the whole timespan; on a live stream such a
//!   window reaches the default caps (100,000 groups per correlation, 10,000
//!   events per group) long before it ends, and what fires then depends on
//!   evictions; alerts of windows that close (`lt`, `lte`, `eq`, `neq`) are
//!   also held back that long.
//!
//! The caps are the defaults of `scan` and `serve` ([`CorrelatorConfig::default`]).

use sigmata::correlate::{CorrelatorConfig, Input};
use sigmata::rule::{Branch, CmpOp, Correlation, CorrelationKind};
use sigmata::yaml::PathStep;

use super::check::lint::{Lint, PROCESS_CREATION_FIELDS};
use crate::rules::{self, Loaded};

/// Timespans longer than this (one day) get a `long-timespan` warning.
pub const LONG_TIMESPAN_MS: i64 = 24 * 3_600_000;

/// Fields every routed Windows event has besides the taxonomy (routing reads them).
const ROUTING_FIELDS: &[&str] = &["Channel", "EventID", "Provider_Name"];

fn line_of(doc: &Correlation, text: Option<&str>, path: &[PathStep<'_>]) -> usize {
    let o = &doc.origin;
    text.and_then(|t| {
        sigmata::yaml::locate_path(t, o.first_line, o.last_line, path)
            .or_else(|| sigmata::yaml::locate_path(t, o.first_line, o.last_line, &path[..path.len().min(2)]))
    })
    .unwrap_or(o.first_line)
}

fn lint(doc: &Correlation, line: usize, lint: &'static str, message: String) -> Lint {
    Lint { file: doc.origin.path.to_string(), line, rule_id: doc.id.clone(), title: doc.title.clone(), lint, message }
}

/// Every correlation lint of the pack.
pub fn lints(loaded: &Loaded) -> Vec<Lint> {
    let mut out = Vec::new();
    let engine = &loaded.engine;
    let caps = CorrelatorConfig::default();
    for c in loaded.correlations.rules() {
        let doc = &c.doc;
        let text = rules::source_text(&doc.origin.path);
        let text = text.as_deref();
        for (gi, g) in doc.group_by.iter().enumerate() {
            for (pos, input) in c.inputs.iter().enumerate() {
                let Input::Rule(id) = *input else { continue };
                let rule = &engine.loaded(id).rule;
                let reference = &doc.rules[pos];
                let field = doc
                    .aliases
                    .iter()
                    .find(|a| a.name == *g)
                    .and_then(|a| a.fields.iter().find(|(r, _)| r == reference).map(|(_, f)| f.as_str()))
                    .unwrap_or(g);
                let known_schema =
                    rule.logsource.category.as_deref().is_some_and(|c| c.eq_ignore_ascii_case("process_creation"));
                if !known_schema
                    || PROCESS_CREATION_FIELDS.contains(&field)
                    || ROUTING_FIELDS.contains(&field)
                    || reads(rule, field)
                {
                    continue;
                }
                let hint = PROCESS_CREATION_FIELDS
                    .iter()
                    .find(|f| f.eq_ignore_ascii_case(field))
                    .map(|f| format!(" (did you mean '{f}'?)"))
                    .unwrap_or_default();
                let via = if field == g { String::new() } else { format!(" (alias of '{g}')") };
                let line =
                    line_of(doc, text, &[PathStep::Key("correlation"), PathStep::Key("group-by"), PathStep::Index(gi)]);
                out.push(lint(
                    doc,
                    line,
                    "group-by-field-unknown",
                    format!(
                        "group-by field '{field}'{via} cannot be in the events of rule '{reference}': its detection \
                         does not read it and it is not a process_creation field{hint}; those events never join a group"
                    ),
                ));
            }
        }
        if matches!(doc.kind, CorrelationKind::EventCount | CorrelationKind::ValueCount) {
            let need = doc
                .condition
                .iter()
                .filter_map(|(op, t)| match op {
                    CmpOp::Gt => Some(t.floor() + 1.0),
                    CmpOp::Gte => Some(t.ceil()),
                    _ => None,
                })
                .fold(0.0f64, f64::max);
            if need > caps.max_entries as f64 {
                let line = line_of(doc, text, &[PathStep::Key("correlation"), PathStep::Key("condition")]);
                out.push(lint(
                    doc,
                    line,
                    "threshold-over-cap",
                    format!(
                        "the condition needs {need} events in one group window, but a group keeps at most {} \
                         (--max-group-events): the correlation can never fire",
                        caps.max_entries
                    ),
                ));
            }
        }
        if doc.timespan_ms > LONG_TIMESPAN_MS {
            let line = line_of(doc, text, &[PathStep::Key("correlation"), PathStep::Key("timespan")]);
            out.push(lint(
                doc,
                line,
                "long-timespan",
                format!(
                    "timespan {} is longer than 1d: each group keeps its window that long, so on a live stream the \
                     caps ({} groups, {} events per group) evict state before the window ends",
                    doc.timespan, caps.max_groups, caps.max_entries
                ),
            ));
        }
    }
    out
}

/// True when `rule`'s detection tests `field`.
fn reads(rule: &sigmata::rule::Rule, field: &str) -> bool {
    rule.detection.searches.iter().flat_map(|s| &s.branches).any(|b| match b {
        Branch::Items(items) => items.iter().any(|i| i.field.as_deref() == Some(field)),
        _ => false,
    })
}
