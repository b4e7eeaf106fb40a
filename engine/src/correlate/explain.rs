//! Why a correlation did or did not fire over a sequence of events:
//! [`Correlations::explain`].
//!
//! The answer has two halves. Whether it fired, and for which groups, comes
//! from the streaming [`Correlator`] itself, fed the same events, so that
//! `explain` never disagrees with `scan`. Why is worked out by recounting
//! each group from scratch over every window the streaming semantics
//! consider (windows ending at each event for `gt`/`gte` conditions, windows
//! starting at the group's first event otherwise), and keeping the best
//! one: the first window where the condition holds, else the one whose
//! value is nearest to it. Events left out (no time, too late, a `group-by`
//! or `field` value missing) and referenced rules that never matched are
//! listed with their lines. Inner correlations of a chain are counted by the
//! correlator but not broken down here (explain them on their own).
//!
//! No I/O: the caller gives the rules each event matched and its time; the
//! CLI renders the result.

use std::collections::VecDeque;
use std::sync::Arc;

use super::state::{Entry, Val, aggregate, first_text};
use super::{Correlations, Correlator, CorrelatorConfig, EventRef, Input, Source};
use crate::event::Event;
use crate::exec::RuleId;
use crate::front::rule::{CmpOp, CorrelationKind};

/// One event given to [`Correlations::explain`].
pub struct ExplainEvent<'a> {
    /// The rules the event matched.
    pub matched: Vec<RuleId>,
    /// The event (for `group-by` and `field` values).
    pub event: &'a dyn Event,
    /// Its time in ms since the epoch, if it has a readable one.
    pub time: Option<i64>,
    /// Its line (or record number), by which the explanation names it.
    pub line: u64,
}

impl std::fmt::Debug for ExplainEvent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExplainEvent")
            .field("matched", &self.matched)
            .field("time", &self.time)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

/// Why a correlation did or did not fire.
#[derive(Clone, Debug, PartialEq)]
pub struct CorrelationExplanation {
    /// Index of the correlation in [`Correlations::rules`].
    pub correlation: usize,
    /// True when the streaming correlator alerted for some group.
    pub fired: bool,
    /// Per entry of `rules`, in order: what it names and the lines of the
    /// events it matched.
    pub inputs: Vec<InputMatches>,
    /// Per group, in order of first appearance.
    pub groups: Vec<GroupExplanation>,
    /// Events that matched a referenced rule but were left out, with why.
    pub skipped: Vec<(u64, String)>,
    /// What kept the correlation from firing, beyond the groups' own reasons.
    pub missing: Vec<String>,
}

/// The events one entry of `rules` matched.
#[derive(Clone, Debug, PartialEq)]
pub struct InputMatches {
    /// The id or name as written in `rules`.
    pub reference: String,
    /// True for an inner correlation (its alerts are not broken down).
    pub correlation: bool,
    /// Lines of the events it matched.
    pub lines: Vec<u64>,
}

/// One group's best window.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupExplanation {
    /// Each `group-by` name as written, with its value.
    pub group: Vec<(String, String)>,
    /// True when the streaming correlator alerted for this group.
    pub fired: bool,
    /// The count, distinct count, sum ... in the best window.
    pub value: f64,
    /// True when the condition holds in the best window.
    pub holds: bool,
    /// The window's bounds (ms, both included): `[end - timespan, end]`
    /// for `gt`/`gte` conditions, `[start, start + timespan]` otherwise.
    pub window: (i64, i64),
    /// The events in the best window, in time order: line, time, and the
    /// positions in `rules` of the referenced rules each matched.
    pub events: Vec<(u64, i64, Vec<usize>)>,
    /// Events of the group in all windows.
    pub total_events: usize,
    /// What the best window lacked, in words (empty when it holds).
    pub missing: Vec<String>,
}

fn op_words(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Gt => "more than",
        CmpOp::Gte => "at least",
        CmpOp::Lt => "fewer than",
        CmpOp::Lte => "at most",
        CmpOp::Eq => "exactly",
        CmpOp::Neq => "other than",
    }
}

fn span_words(ms: i64) -> String {
    match ms {
        m if m % 86_400_000 == 0 && m > 0 => format!("{}d", m / 86_400_000),
        m if m % 3_600_000 == 0 && m > 0 => format!("{}h", m / 3_600_000),
        m if m % 60_000 == 0 && m > 0 => format!("{}m", m / 60_000),
        m if m % 1000 == 0 => format!("{}s", m / 1000),
        m => format!("{}.{:03}s", m / 1000, m % 1000),
    }
}

impl Correlations {
    /// Explains correlation `index` (in [`Correlations::rules`]) over
    /// `events`, in the order given, with the lateness of `config`.
    pub fn explain(
        self: &Arc<Self>,
        index: usize,
        events: &[ExplainEvent<'_>],
        config: CorrelatorConfig,
    ) -> CorrelationExplanation {
        let rule = &self.rules()[index];
        let doc = &rule.doc;
        // The streaming correlator's verdict.
        let mut correlator = Correlator::new(Arc::clone(self), config);
        let label: Arc<str> = Arc::from("explain");
        let mut alerts = Vec::new();
        for e in events {
            correlator.feed(e.matched.iter().copied(), e.event, e.time, &label, e.line, &mut alerts);
        }
        correlator.finish(&mut alerts);
        alerts.retain(|a| a.correlation == index);

        let mut out = CorrelationExplanation {
            correlation: index,
            fired: !alerts.is_empty(),
            inputs: doc
                .rules
                .iter()
                .zip(&rule.inputs)
                .map(|(r, i)| InputMatches {
                    reference: r.clone(),
                    correlation: matches!(i, Input::Correlation(_)),
                    lines: Vec::new(),
                })
                .collect(),
            groups: Vec::new(),
            skipped: Vec::new(),
            missing: Vec::new(),
        };
        // Entries per group, as the correlator would see them.
        let mut groups: Vec<(Vec<String>, Vec<Entry>)> = Vec::new();
        let mut max_seen: Option<i64> = None;
        for (seq, e) in events.iter().enumerate() {
            let mut mask = 0u64;
            for (pos, input) in rule.inputs.iter().enumerate() {
                if let Input::Rule(id) = input
                    && e.matched.contains(id)
                {
                    mask |= 1 << pos;
                    out.inputs[pos].lines.push(e.line);
                }
            }
            let Some(t) = e.time else {
                if mask != 0 {
                    out.skipped.push((e.line, "no readable event time".into()));
                }
                continue;
            };
            // Lateness is measured against every event feeding some correlation, as the correlator does.
            let feeds_any = e.matched.iter().any(|&id| self.reads(id));
            let late = max_seen.is_some_and(|m| t < m.saturating_sub(config.max_lateness_ms));
            if feeds_any && !late {
                max_seen = Some(max_seen.map_or(t, |m| m.max(t)));
            }
            if mask == 0 {
                continue;
            }
            if late {
                out.skipped.push((
                    e.line,
                    format!(
                        "out of order beyond the lateness ({}): older than the newest event by more than that",
                        span_words(config.max_lateness_ms)
                    ),
                ));
                continue;
            }
            let pos = mask.trailing_zeros() as usize;
            let mut key = Vec::new();
            let mut absent = None;
            for (name, f) in doc.group_by.iter().zip(&rule.group_fields[pos]) {
                match first_text(e.event, f) {
                    Some(v) => key.push(v),
                    None => {
                        absent = Some(if *name == f.1 {
                            format!("no '{name}' (group-by)")
                        } else {
                            format!("no '{}' (group-by '{name}')", f.1)
                        });
                        break;
                    }
                }
            }
            if let Some(why) = absent {
                out.skipped.push((e.line, why));
                continue;
            }
            let value = if doc.kind == CorrelationKind::ValueCount {
                match rule.value_fields.iter().map(|f| first_text(e.event, f)).collect::<Option<Vec<_>>>() {
                    Some(parts) => Val::Text(parts.join("\u{1f}")),
                    None => {
                        out.skipped.push((e.line, format!("no '{}' (the condition's field)", doc.field.join("', '"))));
                        continue;
                    }
                }
            } else if Correlations::numeric(doc.kind) {
                match first_text(e.event, &rule.value_fields[0]).and_then(|s| crate::event::parse_number(&s)) {
                    Some(n) => Val::Num(n),
                    None => {
                        out.skipped.push((e.line, format!("no number in '{}' (the condition's field)", doc.field[0])));
                        continue;
                    }
                }
            } else {
                Val::None
            };
            let entry = Entry {
                time: t,
                seq: seq as u64,
                mask,
                value,
                at: EventRef { source: Arc::clone(&label), line: e.line, by: Source::Correlation(index) },
            };
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, v)) => v.push(entry),
                None => groups.push((key, vec![entry])),
            }
        }
        for i in &out.inputs {
            if i.correlation {
                out.missing.push(format!(
                    "'{}' is a correlation: its alerts count here but are not broken down (explain it on its own)",
                    i.reference
                ));
            } else if i.lines.is_empty() {
                out.missing.push(format!("rule '{}' never matched", i.reference));
            }
        }
        for (key, mut entries) in groups {
            entries.sort_by_key(|e| (e.time, e.seq));
            let group: Vec<(String, String)> = doc.group_by.iter().cloned().zip(key.iter().cloned()).collect();
            let fired = alerts.iter().any(|a| a.group == group);
            out.groups.push(explain_group(rule, group, fired, &entries));
        }
        out
    }
}

/// Distance of `value` from satisfying the condition (0 when it holds).
fn distance(rule: &super::CorrelationRule, value: f64) -> f64 {
    if rule.doc.condition.is_empty() {
        return (rule.inputs.len() as f64 - value).max(0.0);
    }
    rule.doc.condition.iter().filter(|(op, t)| !op.holds(value, *t)).map(|(_, t)| (value - t).abs().max(0.5)).sum()
}

/// A window: entries `[from, to)` and its bounds in ms.
type Window = (usize, usize, i64, i64);

fn explain_group(
    rule: &super::CorrelationRule,
    group: Vec<(String, String)>,
    fired: bool,
    entries: &[Entry],
) -> GroupExplanation {
    let doc = &rule.doc;
    let span = doc.timespan_ms;
    // Candidate windows as index ranges with their bounds.
    let mut windows: Vec<Window> = Vec::new();
    if rule.fires_early() {
        let mut i = 0;
        for (j, e) in entries.iter().enumerate() {
            while entries[i].time < e.time.saturating_sub(span) {
                i += 1;
            }
            windows.push((i, j + 1, e.time.saturating_sub(span), e.time));
        }
    } else {
        let mut i = 0;
        while i < entries.len() {
            let start = entries[i].time;
            let end = start.saturating_add(span);
            let j = i + entries[i..].iter().take_while(|e| e.time <= end).count();
            windows.push((i, j, start, end));
            i = j;
        }
    }
    let mut best: Option<(f64, f64, Window)> = None;
    for w in windows {
        let win: VecDeque<Entry> = entries[w.0..w.1].iter().cloned().collect();
        let v = aggregate(rule, &win);
        let d = distance(rule, v);
        if best.as_ref().is_none_or(|(bd, _, _)| d < *bd) {
            best = Some((d, v, w));
        }
        if d == 0.0 {
            break;
        }
    }
    // There is at least one entry per group, hence one window.
    let (_, value, (i, j, lo, hi)) = best.unwrap_or((0.0, 0.0, (0, 0, 0, 0)));
    let holds = rule.holds(value);
    let window = &entries[i..j];
    let mut missing = Vec::new();
    if !holds {
        let field = doc.field.join(", ");
        let noun = match doc.kind {
            CorrelationKind::EventCount => "events".to_string(),
            CorrelationKind::ValueCount => format!("distinct values of {field}"),
            CorrelationKind::Temporal => "referenced rules".to_string(),
            CorrelationKind::TemporalOrdered => "referenced rules in order".to_string(),
            CorrelationKind::ValueSum => format!("(sum of {field})"),
            CorrelationKind::ValueAvg => format!("(average of {field})"),
            CorrelationKind::ValuePercentile | CorrelationKind::ValueMedian => {
                format!("(percentile {} of {field})", doc.percentile)
            }
        };
        let v = trim(value);
        if doc.condition.is_empty() {
            missing.push(format!("{v} of all {} {noun}", rule.inputs.len()));
        }
        for (op, t) in doc.condition.iter().filter(|(op, t)| !op.holds(value, *t)) {
            missing.push(format!("{v} of {} {} {noun} in {}", op_words(*op), trim(*t), span_words(span)));
        }
        let seen = window.iter().fold(0u64, |m, e| m | e.mask);
        if matches!(doc.kind, CorrelationKind::Temporal) {
            for (pos, r) in doc.rules.iter().enumerate() {
                if seen & (1 << pos) == 0 {
                    missing.push(format!("rule '{r}' did not match in the window"));
                }
            }
        }
        if doc.kind == CorrelationKind::TemporalOrdered {
            let step = value as usize;
            if let Some(r) = doc.rules.get(step) {
                let what =
                    if seen & (1 << step) == 0 { "did not match in the window" } else { "matched only too early" };
                missing.push(format!(
                    "rule '{r}' (step {} of {}) {what}: the steps must match in the order of `rules`",
                    step + 1,
                    doc.rules.len()
                ));
            }
        }
        if entries.len() > window.len() {
            let all: VecDeque<Entry> = entries.iter().cloned().collect();
            let total = aggregate(rule, &all);
            if rule.holds(total) {
                let first = entries.first().map_or(0, |e| e.time);
                let last = entries.last().map_or(0, |e| e.time);
                missing.push(format!(
                    "over all {} events of the group the value is {}, which holds, but they span {}, more than the \
                     timespan {}",
                    entries.len(),
                    trim(total),
                    span_words(last - first),
                    span_words(span)
                ));
            }
        }
    }
    GroupExplanation {
        group,
        fired,
        value,
        holds,
        window: (lo, hi),
        events: window
            .iter()
            .map(|e| (e.at.line, e.time, (0..doc.rules.len()).filter(|p| e.mask & (1 << p) != 0).collect()))
            .collect(),
        total_events: entries.len(),
        missing,
    }
}

/// `3` rather than `3.0`; other values as they are.
fn trim(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") }
}

#[cfg(all(test, feature = "json"))]
mod tests {
    use super::*;
    use crate::Builder;

    const PACK: &str = r#"
title: whoami
name: whoami
logsource: {category: process_creation}
detection: {sel: {Image|endswith: '\whoami.exe'}, condition: sel}
---
title: net
name: net
logsource: {category: process_creation}
detection: {sel: {Image|endswith: '\net.exe'}, condition: sel}
---
title: burst
correlation:
  type: event_count
  rules: [whoami, net]
  group-by: [User]
  timespan: 1m
  condition: {gt: 2}
"#;

    fn event(image: &str, user: Option<&str>) -> serde_json::Value {
        let mut v = serde_json::json!({ "Image": format!("C:\\w\\{image}.exe") });
        if let Some(u) = user {
            v["User"] = u.into();
        }
        v
    }

    #[test]
    fn explains_counts_windows_and_what_was_missing() {
        let (engine, set, report) = Builder::new().add_source("pack.yml", PACK).build_correlated();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let set = Arc::new(set);
        let evs = [
            (event("whoami", Some("bob")), Some(0)),
            (event("net", Some("bob")), Some(10_000)),
            (event("whoami", Some("bob")), Some(90_000)),
            (event("net", None), Some(91_000)),
            (event("whoami", Some("eve")), Some(92_000)),
            (event("whoami", Some("eve")), Some(1_000)),
        ];
        let inputs: Vec<ExplainEvent<'_>> = evs
            .iter()
            .enumerate()
            .map(|(i, (e, t))| ExplainEvent {
                matched: engine.matches(e).iter().collect(),
                event: e,
                time: *t,
                line: i as u64 + 1,
            })
            .collect();
        let config = CorrelatorConfig { max_lateness_ms: 30_000, ..CorrelatorConfig::default() };
        let x = set.explain(0, &inputs, config);
        assert!(!x.fired);
        assert_eq!(x.inputs[0].lines, vec![1, 3, 5, 6]);
        assert_eq!(x.inputs[1].lines, vec![2, 4]);
        assert_eq!(x.skipped.len(), 2, "{:?}", x.skipped);
        assert_eq!(x.skipped[0].0, 4);
        assert!(x.skipped[0].1.contains("no 'User'"));
        assert_eq!(x.skipped[1].0, 6);
        assert!(x.skipped[1].1.contains("lateness (30s)"));
        let bob = &x.groups[0];
        assert_eq!(bob.group, vec![("User".to_string(), "bob".to_string())]);
        assert_eq!(bob.value, 2.0);
        assert!(!bob.holds && !bob.fired);
        assert_eq!(bob.window, (-50_000, 10_000));
        assert_eq!(bob.events.iter().map(|e| e.0).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(bob.events[1].2, vec![1]);
        assert_eq!(bob.total_events, 3);
        assert_eq!(bob.missing[0], "2 of more than 2 events in 1m");
        assert!(bob.missing[1].contains("over all 3 events"), "{:?}", bob.missing);
        assert_eq!(x.groups[1].value, 1.0);
    }

    #[test]
    fn an_ordered_correlation_names_the_step_that_did_not_follow() {
        let pack = PACK.replace("type: event_count", "type: temporal_ordered").replace("  condition: {gt: 2}\n", "");
        let (engine, set, report) = Builder::new().add_source("pack.yml", &pack).build_correlated();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let set = Arc::new(set);
        // net comes before whoami: the order of `rules` is whoami, net.
        let evs = [(event("net", Some("bob")), 0), (event("whoami", Some("bob")), 5_000)];
        let inputs: Vec<ExplainEvent<'_>> = evs
            .iter()
            .enumerate()
            .map(|(i, (e, t))| ExplainEvent {
                matched: engine.matches(e).iter().collect(),
                event: e,
                time: Some(*t),
                line: i as u64 + 1,
            })
            .collect();
        let x = set.explain(0, &inputs, CorrelatorConfig::default());
        assert!(!x.fired);
        let bob = &x.groups[0];
        assert_eq!(bob.value, 1.0);
        assert_eq!(bob.missing[0], "1 of all 2 referenced rules in order");
        assert_eq!(
            bob.missing[1],
            "rule 'net' (step 2 of 2) matched only too early: the steps must match in the order of `rules`"
        );
        // In order, it fires, and the explanation agrees with the correlator.
        let inputs: Vec<ExplainEvent<'_>> = inputs
            .into_iter()
            .map(|mut e| {
                e.time = e.time.map(|t| 5_000 - t);
                e
            })
            .collect();
        let x = set.explain(0, &inputs, CorrelatorConfig::default());
        assert!(x.fired && x.groups[0].fired && x.groups[0].holds, "{x:?}");
        assert!(x.groups[0].missing.is_empty());
    }
}
