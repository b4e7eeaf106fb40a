//! The differential test's evaluation of one pack (every engine
//! configuration against the reference evaluator) and the minimization of a
//! failing pack and its events to a small report.

use std::cell::Cell;
use std::fmt::Write as _;

use proptest::sample::Index;
use serde_json::Value as Json;
use sigmata::{Builder, MatchSet, Record};

use super::*;
#[derive(Default)]
pub(super) struct Stats {
    pub(super) rules: Cell<usize>,
    pub(super) loaded: Cell<usize>,
    pub(super) pairs: Cell<usize>,
    pub(super) matched: Cell<usize>,
}

fn bump(c: &Cell<usize>, n: usize) {
    c.set(c.get() + n);
}

/// A disagreement: the index of the event and a report that reproduces it.
pub(super) struct Failure {
    event: usize,
    pub(super) message: String,
}

/// Evaluates a pack on its events in every configuration: `Err` on the first
/// answer that differs from the reference's.
pub(super) fn evaluate(rules: &[Rule], events: &[Event], extra: Index, stats: Option<&Stats>) -> Result<(), Failure> {
    let yaml = pack_yaml(rules);
    let mut extras = extra_configs();
    let mut configs = sigmata_tests::configs();
    configs.push(extras.swap_remove(extra.index(extras.len())));
    for (ci, (config_name, config)) in configs.into_iter().enumerate() {
        let mut builder = Builder::new();
        builder.config(config).add_source("differential.yml", &yaml);
        let (engine, _report) = builder.build();
        let stats = stats.filter(|_| ci == 0);
        if let Some(s) = stats {
            bump(&s.rules, rules.iter().filter(|r| !r.filter).count());
            bump(&s.loaded, engine.len());
        }
        if engine.is_empty() {
            return Ok(());
        }
        // One cache for every event and both passes, so that the second
        // pass and later events read the value cache and memoised results.
        let mut cache = engine.create_cache();
        let mut record = Record::new();
        let (mut warm, mut json) = (MatchSet::new(), MatchSet::new());
        for pass in 0..2 {
            for (ei, Event { text, value: event }) in events.iter().enumerate() {
                let fail = |what: String| {
                    let mut message =
                        format!("[{config_name}] pass {pass}, event {ei}: {what}\n--- rule pack ---\n{yaml}");
                    if pass > 0 || ei > 0 {
                        message.push_str("--- earlier events (same cache) ---\n");
                        for e in events.iter().take(if pass > 0 { events.len() } else { ei }) {
                            let _ = writeln!(message, "{}", e.text);
                        }
                    }
                    let _ = write!(message, "--- event ---\n{text}");
                    Failure { event: ei, message }
                };
                engine.matches_with(&mut cache, event, &mut warm);
                // A fresh cache costs megabytes of zeroed tables: first pass only.
                let fresh = if pass == 0 { engine.matches(event) } else { warm.clone() };
                if let Err(e) = engine.fill_json(&mut record, text) {
                    return Err(fail(format!("fill_json failed: {e}")));
                }
                engine.matches_record(&mut cache, &record, &mut json);
                for (id, lr) in engine.rules() {
                    let want = sigmata::reference::eval(&lr.ir.expr, engine.fields(), event);
                    if let Some(s) = stats.filter(|_| pass == 0) {
                        bump(&s.pairs, 1);
                        bump(&s.matched, usize::from(want));
                    }
                    let got = [
                        ("matches_with", warm.contains(id)),
                        ("matches (fresh cache)", fresh.contains(id)),
                        ("fill_json + matches_record", json.contains(id)),
                    ];
                    for (path, answer) in got {
                        if answer != want {
                            return Err(fail(format!(
                                "{path} says {answer}, the reference says {want} for rule '{}' (witness groups: {:?})",
                                lr.rule.title,
                                engine.witnesses(id),
                            )));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- minimizing
//
// proptest's shrinking cannot take much away (events are resolved against
// the pack's vocabulary, which shrinking the pack changes), so a failure is
// minimized once more with the events fixed: rules, searches, items, values
// and condition terms are dropped, then event keys, while it still fails.

impl Cond {
    /// Conditions one step simpler.
    fn reductions(&self) -> Vec<Cond> {
        match self {
            Cond::Name(_) => Vec::new(),
            Cond::Pattern(i) => vec![Cond::Name(*i)],
            Cond::Not(x, p) => {
                let mut out = vec![(**x).clone()];
                out.extend(x.reductions().into_iter().map(|x| Cond::Not(Box::new(x), *p)));
                out
            }
            Cond::And(a, b, p) | Cond::Or(a, b, p) => {
                let and = matches!(self, Cond::And(..));
                let make = |a: Cond, b: Cond| {
                    if and { Cond::And(Box::new(a), Box::new(b), *p) } else { Cond::Or(Box::new(a), Box::new(b), *p) }
                };
                let mut out = vec![(**a).clone(), (**b).clone()];
                out.extend(a.reductions().into_iter().map(|x| make(x, (**b).clone())));
                out.extend(b.reductions().into_iter().map(|x| make((**a).clone(), x)));
                out
            }
        }
    }
}

/// Maps with one item or one value fewer.
fn map_reductions(items: &[Item]) -> Vec<Vec<Item>> {
    let mut out = Vec::new();
    for i in 0..items.len() {
        if items.len() > 1 {
            let mut v = items.to_vec();
            v.remove(i);
            out.push(v);
        }
        for j in 0..items[i].values.len() {
            if items[i].values.len() > 1 {
                let mut v = items.to_vec();
                v[i].values.remove(j);
                out.push(v);
            }
        }
    }
    out
}

impl Search {
    fn reductions(&self) -> Vec<Search> {
        match self {
            Search::Map(items) => map_reductions(items).into_iter().map(Search::Map).collect(),
            Search::ListOfMaps(maps) => {
                let mut out = Vec::new();
                for m in 0..maps.len() {
                    if maps.len() > 1 {
                        let mut v = maps.clone();
                        v.remove(m);
                        out.push(Search::ListOfMaps(v));
                    }
                    for smaller in map_reductions(&maps[m]) {
                        let mut v = maps.clone();
                        v[m] = smaller;
                        out.push(Search::ListOfMaps(v));
                    }
                }
                out
            }
            Search::Keywords(words, vocab) if words.len() > 1 => (0..words.len())
                .map(|i| {
                    let mut w = words.clone();
                    w.remove(i);
                    Search::Keywords(w, vocab.clone())
                })
                .collect(),
            Search::Keywords(..) => Vec::new(),
        }
    }
}

/// Packs one step simpler.
fn pack_reductions(rules: &[Rule]) -> Vec<Vec<Rule>> {
    let mut out = Vec::new();
    for r in 0..rules.len() {
        if rules.len() > 1 {
            let mut v = rules.to_vec();
            v.remove(r);
            out.push(v);
        }
        let rule = &rules[r];
        let mut simpler = Vec::new();
        for condition in rule.condition.reductions() {
            simpler.push(Rule { condition, ..rule.clone() });
        }
        for s in 0..rule.searches.len() {
            if rule.searches.len() > 1 {
                let mut n = rule.clone();
                n.searches.remove(s);
                simpler.push(n);
            }
            for smaller in rule.searches[s].1.reductions() {
                let mut n = rule.clone();
                n.searches[s].1 = smaller;
                simpler.push(n);
            }
        }
        for n in simpler {
            let mut v = rules.to_vec();
            v[r] = n;
            out.push(v);
        }
    }
    out
}

/// Events one step simpler: without a repeated key, a key, or an array element.
fn event_reductions(e: &Event) -> Vec<Event> {
    let from = |value: Json| Event { text: value.to_string(), value };
    let mut out = Vec::new();
    let canonical = e.value.to_string();
    if e.text != canonical {
        out.push(Event { text: canonical, value: e.value.clone() });
    }
    if let Json::Object(map) = &e.value {
        for (k, v) in map {
            let mut m = map.clone();
            m.remove(k);
            out.push(from(Json::Object(m)));
            if let Json::Array(items) = v {
                for i in 0..items.len() {
                    let mut m = map.clone();
                    let mut items = items.clone();
                    items.remove(i);
                    m.insert(k.clone(), Json::Array(items));
                    out.push(from(Json::Object(m)));
                }
            }
        }
    }
    out
}

/// Minimizes a failing pack and its events; returns the last failure.
pub(super) fn minimize(mut rules: Vec<Rule>, mut events: Vec<Event>, extra: Index, mut failure: Failure) -> Failure {
    // The disagreeing event alone, if it fails without the others.
    let one = vec![events[failure.event].clone()];
    if let Err(f) = evaluate(&rules, &one, extra, None) {
        (events, failure) = (one, f);
    }
    let mut budget = 5000usize;
    'progress: while budget > 0 {
        for candidate in pack_reductions(&rules) {
            budget = budget.saturating_sub(1);
            if let Err(f) = evaluate(&candidate, &events, extra, None) {
                (rules, failure) = (candidate, f);
                continue 'progress;
            }
        }
        for i in 0..events.len() {
            for e in event_reductions(&events[i]) {
                budget = budget.saturating_sub(1);
                let mut candidate = events.clone();
                candidate[i] = e;
                if let Err(f) = evaluate(&rules, &candidate, extra, None) {
                    (events, failure) = (candidate, f);
                    continue 'progress;
                }
            }
        }
        break;
    }
    failure
}
