//! The streaming [`Correlator`]: per-correlation, per-group windows over
//! the matches of the rules correlations read.
//!
//! Events are first held in a reorder buffer keyed by `(time, arrival)`
//! and released once the newest time seen is `max_lateness` past them, so
//! the windows always see events in time order; an event older than that
//! bound is too late, counted, and left out. Then, per correlation and
//! group:
//! - a correlation whose condition only has `gt`/`gte` evaluates the window
//!   `[t - timespan, t]` (both ends included) at each event time `t`, fires
//!   when the condition holds, and stays quiet for that group until the
//!   event that made it fire has left the window;
//! - any other condition (`lt`, `lte`, `eq`, `neq`, or a range with one of
//!   them) collects a window from the group's first event `s` to
//!   `s + timespan` (both included), and is evaluated once when an event
//!   after the window arrives, when the group expires, or at [`Correlator::finish`].

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use super::{CorrelationRule, Correlations};
use crate::event::Event;
use crate::exec::RuleId;
use crate::front::rule::CorrelationKind;

/// Limits of a [`Correlator`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CorrelatorConfig {
    /// How far (milliseconds) an event may be older than the newest one
    /// seen and still be correlated (default 60 s). Alerts are held back by
    /// this much event time.
    pub max_lateness_ms: i64,
    /// Groups kept per correlation (default 100,000); the least recently
    /// updated is evicted beyond it.
    pub max_groups: usize,
    /// Events kept per group window (default 10,000); the oldest is evicted beyond it.
    pub max_entries: usize,
    /// Contributing events listed in an alert (default 16; the alert keeps the total).
    pub max_alert_events: usize,
    /// Events held in the reorder buffer (default 100,000); beyond it the
    /// oldest is released early (counted), so memory stays bounded even
    /// when many events share the lateness window.
    pub max_buffered: usize,
}

impl Default for CorrelatorConfig {
    fn default() -> CorrelatorConfig {
        CorrelatorConfig {
            max_lateness_ms: 60_000,
            max_groups: 100_000,
            max_entries: 10_000,
            max_alert_events: 16,
            max_buffered: 100_000,
        }
    }
}

/// What fed a correlation: a rule match or an inner correlation's alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// A rule of the engine.
    Rule(RuleId),
    /// A correlation (index in [`Correlations::rules`]).
    Correlation(usize),
}

/// Where a contributing event came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRef {
    /// The input it was read from (as the caller named it).
    pub source: Arc<str>,
    /// Its line (or record number) in that input.
    pub line: u64,
    /// The rule or correlation whose match it was.
    pub by: Source,
}

/// A correlation alert.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// Index of the correlation in [`Correlations::rules`].
    pub correlation: usize,
    /// The group: each `group-by` name as written, with its value.
    pub group: Vec<(String, String)>,
    /// The count, distinct count, sum, average or percentile that met the condition.
    pub value: f64,
    /// Time (ms since the epoch) of the first event in the window.
    pub first_time: i64,
    /// Time of the last event in the window.
    pub last_time: i64,
    /// The first contributing events, at most [`CorrelatorConfig::max_alert_events`].
    pub events: Vec<EventRef>,
    /// How many events contributed.
    pub events_total: usize,
}

/// Counters of what the correlator did with its input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CorrelatorStats {
    /// Events that matched a rule some correlation reads.
    pub events: u64,
    /// Of those, events with no readable time (not correlated).
    pub no_time: u64,
    /// Events older than the lateness bound (not correlated).
    pub too_late: u64,
    /// Event/correlation pairs left out because a `group-by` field was missing.
    pub missing_group_field: u64,
    /// Event/correlation pairs left out because the condition's `field`
    /// was missing (or not a number, for the numeric types).
    pub missing_value: u64,
    /// Groups evicted because of `max_groups` (their state is lost).
    pub evicted_groups: u64,
    /// Window entries evicted because of `max_entries`.
    pub evicted_entries: u64,
    /// Groups dropped after a timespan without events (normal expiry).
    pub expired_groups: u64,
    /// Alerts returned.
    pub alerts: u64,
    /// Events released from the reorder buffer before their time because
    /// of `max_buffered` (an event older than them arriving later is then
    /// correlated slightly out of order).
    pub forced_releases: u64,
}

/// An event's contribution to the correlations, extracted from the event
/// (by [`Correlations::prepare`]) so that it can be made on any thread and
/// fed in order later.
#[derive(Clone, Debug)]
pub struct Prepared {
    items: Vec<Item>,
    time: Option<i64>,
    missing_group_field: u64,
    missing_value: u64,
}

impl Correlations {
    /// Extracts what the correlations need from an event that matched
    /// `matched`; `None` when none of those rules feeds a correlation.
    pub fn prepare(
        &self,
        matched: impl IntoIterator<Item = RuleId>,
        event: &dyn Event,
        time: Option<i64>,
        source: &Arc<str>,
        line: u64,
    ) -> Option<Prepared> {
        let mut items: Vec<Item> = Vec::new();
        for id in matched {
            for &(c, pos) in self.feeds(id) {
                if let Some(it) = items.iter_mut().find(|it| it.corr == c) {
                    it.mask |= 1 << pos;
                    continue;
                }
                items.push(Item {
                    corr: c,
                    mask: 1 << pos,
                    key: Vec::new(),
                    value: Val::None,
                    time: 0,
                    seq: 0,
                    at: EventRef { source: Arc::clone(source), line, by: Source::Rule(id) },
                });
            }
        }
        if items.is_empty() {
            return None;
        }
        let mut p = Prepared { items: Vec::new(), time, missing_group_field: 0, missing_value: 0 };
        if time.is_none() {
            return Some(p);
        }
        items.retain_mut(|it| {
            let rule = &self.rules()[it.corr];
            let pos = it.mask.trailing_zeros() as usize;
            let mut key = Vec::with_capacity(rule.doc.group_by.len());
            for f in &rule.group_fields[pos] {
                match first_text(event, f) {
                    Some(v) => key.push(v),
                    None => {
                        p.missing_group_field += 1;
                        return false;
                    }
                }
            }
            let value = if rule.doc.kind == CorrelationKind::ValueCount {
                match rule.value_fields.iter().map(|f| first_text(event, f)).collect::<Option<Vec<String>>>() {
                    Some(parts) => Val::Text(parts.join("\u{1f}")),
                    None => {
                        p.missing_value += 1;
                        return false;
                    }
                }
            } else if Correlations::numeric(rule.doc.kind) {
                match first_text(event, &rule.value_fields[0]).and_then(|s| crate::event::parse_number(&s)) {
                    Some(n) => Val::Num(n),
                    None => {
                        p.missing_value += 1;
                        return false;
                    }
                }
            } else {
                Val::None
            };
            it.key = key;
            it.value = value;
            true
        });
        p.items = items;
        Some(p)
    }
}

#[derive(Clone, Debug)]
pub(super) enum Val {
    None,
    Text(String),
    Num(f64),
}

#[derive(Clone, Debug)]
struct Item {
    corr: usize,
    mask: u64,
    key: Vec<String>,
    value: Val,
    time: i64,
    seq: u64,
    at: EventRef,
}

#[derive(Clone, Debug)]
pub(super) struct Entry {
    pub(super) time: i64,
    pub(super) seq: u64,
    pub(super) mask: u64,
    pub(super) value: Val,
    pub(super) at: EventRef,
}

#[derive(Clone, Debug, Default)]
struct Group {
    entries: VecDeque<Entry>,
    /// Early-firing: the time of the event that last fired.
    fired_at: Option<i64>,
    /// Window-closing: the start of the open window.
    window_start: Option<i64>,
    touch: u64,
    last_time: i64,
}

#[derive(Clone, Debug, Default)]
struct State {
    groups: HashMap<Vec<String>, Group>,
    /// Groups by last update, oldest first.
    lru: BTreeMap<u64, Vec<String>>,
}

/// Evaluates correlations over a stream of matches. `Send`, no I/O,
/// deterministic for a given input order.
///
/// ```
/// use std::sync::Arc;
/// use sigmata::correlate::{Correlator, CorrelatorConfig};
/// let pack = r#"
/// title: whoami
/// name: whoami
/// logsource: {category: process_creation}
/// detection: {sel: {Image|endswith: '\whoami.exe'}, condition: sel}
/// ---
/// title: whoami burst
/// correlation: {type: event_count, rules: [whoami], group-by: [User], timespan: 1m, condition: {gte: 2}}
/// "#;
/// let (engine, correlations, report) = sigmata::Builder::new().add_source("p.yml", pack).build_correlated();
/// assert!(report.errors.is_empty());
/// let mut c = Correlator::new(Arc::new(correlations), CorrelatorConfig { max_lateness_ms: 0, ..Default::default() });
/// let mut alerts = Vec::new();
/// for (i, t) in ["2025-01-01T00:00:00Z", "2025-01-01T00:00:30Z"].iter().enumerate() {
///     let ev = serde_json::json!({"Image": r"C:\w\whoami.exe", "User": "bob", "UtcTime": t});
///     let m = engine.matches(&ev);
///     let time = sigmata::correlate::parse_time(t);
///     c.feed(m.iter(), &ev, time, &"in".into(), i as u64 + 1, &mut alerts);
/// }
/// // Without lateness nothing waits in the buffer; bob's group is held.
/// assert_eq!((c.groups(), c.buffered()), (1, 0));
/// c.finish(&mut alerts);
/// assert_eq!((c.groups(), c.buffered()), (0, 0));
/// assert_eq!(alerts.len(), 1);
/// assert_eq!(alerts[0].group, vec![("User".to_string(), "bob".to_string())]);
/// ```
#[derive(Debug)]
pub struct Correlator {
    set: Arc<Correlations>,
    config: CorrelatorConfig,
    seq: u64,
    touch: u64,
    max_seen: Option<i64>,
    buffer: BTreeMap<(i64, u64), Vec<Item>>,
    states: Vec<State>,
    stats: CorrelatorStats,
}

pub(super) fn first_text(event: &dyn Event, field: &(crate::ir::FieldId, String)) -> Option<String> {
    let mut out: Option<String> = None;
    event.field(field.0, &field.1, &mut |v| {
        if out.is_none() {
            let mut s = String::new();
            if v.write_text(&mut s) {
                out = Some(s);
            }
        }
    });
    out
}

impl Correlator {
    /// A correlator for `set`.
    pub fn new(set: Arc<Correlations>, config: CorrelatorConfig) -> Correlator {
        let states = vec![State::default(); set.len()];
        Correlator {
            set,
            config,
            seq: 0,
            touch: 0,
            max_seen: None,
            buffer: BTreeMap::new(),
            states,
            stats: Default::default(),
        }
    }

    /// The correlations evaluated.
    pub fn correlations(&self) -> &Correlations {
        &self.set
    }

    /// Counters so far.
    pub fn stats(&self) -> CorrelatorStats {
        self.stats
    }

    /// Groups held now, over all correlations (what the state costs: each
    /// keeps its window of at most `max_entries` events).
    pub fn groups(&self) -> usize {
        self.states.iter().map(|s| s.groups.len()).sum()
    }

    /// Events held now in the reorder buffer, waiting for `max_lateness`.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Feeds one event: the rules it matched, the event (for `group-by`
    /// and `field` values), its time (ms since the epoch, `None` if it has
    /// none) and where it came from. Alerts that became certain are
    /// appended to `out`. Events matching no rule a correlation reads cost
    /// one lookup per matched rule. The same as [`Correlations::prepare`]
    /// then [`Correlator::feed_prepared`].
    pub fn feed(
        &mut self,
        matched: impl IntoIterator<Item = RuleId>,
        event: &dyn Event,
        time: Option<i64>,
        source: &Arc<str>,
        line: u64,
        out: &mut Vec<Alert>,
    ) {
        if let Some(p) = self.set.prepare(matched, event, time, source, line) {
            self.feed_prepared(p, out);
        }
    }

    /// Feeds an event prepared by [`Correlations::prepare`] (possibly on
    /// another thread). Events must be fed in input order.
    pub fn feed_prepared(&mut self, p: Prepared, out: &mut Vec<Alert>) {
        self.stats.events += 1;
        self.stats.missing_group_field += p.missing_group_field;
        self.stats.missing_value += p.missing_value;
        let Some(t) = p.time else {
            self.stats.no_time += 1;
            return;
        };
        if self.max_seen.is_some_and(|m| t < m.saturating_sub(self.config.max_lateness_ms)) {
            self.stats.too_late += 1;
            return;
        }
        let seq = self.next_seq();
        let mut items = p.items;
        for it in &mut items {
            it.time = t;
            it.seq = seq;
        }
        if !items.is_empty() {
            self.buffer.insert((t, seq), items);
        }
        let max = self.max_seen.map_or(t, |m| m.max(t));
        self.max_seen = Some(max);
        let released = max.saturating_sub(self.config.max_lateness_ms);
        let cap = self.config.max_buffered.max(1);
        while let Some(&(first, _)) = self.buffer.keys().next() {
            if first > released {
                if self.buffer.len() <= cap {
                    break;
                }
                self.stats.forced_releases += 1;
            }
            if let Some((_, items)) = self.buffer.pop_first() {
                self.process(items, out);
            }
        }
    }

    /// Ends the input: releases every held event and closes every open
    /// window. The correlator is empty afterwards and can be fed again.
    pub fn finish(&mut self, out: &mut Vec<Alert>) {
        while let Some((_, items)) = self.buffer.pop_first() {
            self.process(items, out);
        }
        let set = Arc::clone(&self.set);
        let mut work: BTreeMap<usize, Vec<Item>> = BTreeMap::new();
        for c in 0..set.len() {
            if let Some(items) = work.remove(&c) {
                for it in items {
                    self.item(it, &mut work, out);
                }
            }
            let state = std::mem::take(&mut self.states[c]);
            for (_, key) in state.lru {
                if let Some(mut g) = state.groups.get(&key).cloned()
                    && !set.rules()[c].fires_early()
                {
                    self.close(c, &key, &mut g, &mut work, out);
                }
            }
        }
        self.max_seen = None;
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn process(&mut self, items: Vec<Item>, out: &mut Vec<Alert>) {
        let mut work: BTreeMap<usize, Vec<Item>> = BTreeMap::new();
        for it in items {
            work.entry(it.corr).or_default().push(it);
        }
        while let Some((_, items)) = work.pop_first() {
            for it in items {
                self.item(it, &mut work, out);
            }
        }
    }

    fn item(&mut self, it: Item, work: &mut BTreeMap<usize, Vec<Item>>, out: &mut Vec<Alert>) {
        let set = Arc::clone(&self.set);
        let rule = &set.rules()[it.corr];
        let span = rule.doc.timespan_ms;
        let c = it.corr;
        // Expire idle groups (oldest update first).
        while let Some((&touch, key)) = self.states[c].lru.first_key_value() {
            let idle = self.states[c].groups.get(key).is_none_or(|g| g.last_time < it.time.saturating_sub(span));
            if !idle {
                break;
            }
            let key = key.clone();
            self.states[c].lru.remove(&touch);
            if let Some(mut g) = self.states[c].groups.remove(&key) {
                self.stats.expired_groups += 1;
                if !rule.fires_early() {
                    self.close(c, &key, &mut g, work, out);
                }
            }
        }
        let state = &mut self.states[c];
        if !state.groups.contains_key(&it.key)
            && state.groups.len() >= self.config.max_groups.max(1)
            && let Some((_, old)) = state.lru.pop_first()
        {
            state.groups.remove(&old);
            self.stats.evicted_groups += 1;
        }
        self.touch += 1;
        let touch = self.touch;
        let state = &mut self.states[c];
        let mut g = state.groups.remove(&it.key).unwrap_or_default();
        state.lru.remove(&g.touch);
        g.touch = touch;
        g.last_time = g.last_time.max(it.time);
        let entry = Entry { time: it.time, seq: it.seq, mask: it.mask, value: it.value, at: it.at };
        if rule.fires_early() {
            let from = it.time.saturating_sub(span);
            while g.entries.front().is_some_and(|e| e.time < from) {
                g.entries.pop_front();
            }
            self.push(&mut g, entry);
            let quiet = g.fired_at.is_some_and(|f| f >= from);
            if !quiet {
                let value = aggregate(rule, &g.entries);
                if rule.holds(value) {
                    g.fired_at = Some(it.time);
                    let alert = self.alert(c, &it.key, value, &g.entries);
                    self.emit(alert, work, out);
                }
            }
        } else {
            if g.window_start.is_some_and(|s| it.time > s.saturating_add(span)) {
                self.close(c, &it.key, &mut g, work, out);
            }
            g.window_start.get_or_insert(it.time);
            self.push(&mut g, entry);
        }
        let state = &mut self.states[c];
        state.lru.insert(touch, it.key.clone());
        state.groups.insert(it.key, g);
    }

    /// Appends in `(time, arrival)` order and keeps the cap.
    fn push(&mut self, g: &mut Group, e: Entry) {
        let at = g.entries.iter().rposition(|x| (x.time, x.seq) <= (e.time, e.seq)).map_or(0, |p| p + 1);
        g.entries.insert(at, e);
        if g.entries.len() > self.config.max_entries.max(1) {
            g.entries.pop_front();
            self.stats.evicted_entries += 1;
        }
    }

    fn close(
        &mut self,
        c: usize,
        key: &[String],
        g: &mut Group,
        work: &mut BTreeMap<usize, Vec<Item>>,
        out: &mut Vec<Alert>,
    ) {
        let set = Arc::clone(&self.set);
        let rule = &set.rules()[c];
        if !g.entries.is_empty() {
            let value = aggregate(rule, &g.entries);
            if rule.holds(value) {
                let alert = self.alert(c, key, value, &g.entries);
                self.emit(alert, work, out);
            }
        }
        g.entries.clear();
        g.window_start = None;
    }

    fn alert(&self, c: usize, key: &[String], value: f64, entries: &VecDeque<Entry>) -> Alert {
        let rule = &self.set.rules()[c];
        Alert {
            correlation: c,
            group: rule.doc.group_by.iter().cloned().zip(key.iter().cloned()).collect(),
            value,
            first_time: entries.front().map_or(0, |e| e.time),
            last_time: entries.back().map_or(0, |e| e.time),
            events: entries.iter().take(self.config.max_alert_events).map(|e| e.at.clone()).collect(),
            events_total: entries.len(),
        }
    }

    /// Reports an alert and feeds it to the correlations that read this one.
    fn emit(&mut self, alert: Alert, work: &mut BTreeMap<usize, Vec<Item>>, out: &mut Vec<Alert>) {
        self.stats.alerts += 1;
        let set = Arc::clone(&self.set);
        let c = alert.correlation;
        let seq = self.next_seq();
        for &(outer, pos) in set.chains(c) {
            let o = &set.rules()[outer];
            let lookup = |name: &str| alert.group.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
            let Some(key) = o.group_fields[pos].iter().map(|(_, f)| lookup(f)).collect::<Option<Vec<String>>>() else {
                self.stats.missing_group_field += 1;
                continue;
            };
            let value = if o.doc.kind == CorrelationKind::ValueCount {
                match o.value_fields.iter().map(|(_, f)| lookup(f)).collect::<Option<Vec<String>>>() {
                    Some(p) => Val::Text(p.join("\u{1f}")),
                    None => {
                        self.stats.missing_value += 1;
                        continue;
                    }
                }
            } else if Correlations::numeric(o.doc.kind) {
                Val::Num(alert.value)
            } else {
                Val::None
            };
            let at = alert.events.last().cloned().map(|mut e| {
                e.by = Source::Correlation(c);
                e
            });
            let Some(at) = at else { continue };
            work.entry(outer).or_default().push(Item {
                corr: outer,
                mask: 1 << pos,
                key,
                value,
                time: alert.last_time,
                seq,
                at,
            });
        }
        out.push(alert);
    }
}

/// The correlation's value over a window's entries (in time order).
pub(super) fn aggregate(rule: &CorrelationRule, entries: &VecDeque<Entry>) -> f64 {
    let nums = || entries.iter().filter_map(|e| if let Val::Num(n) = e.value { Some(n) } else { None });
    match rule.doc.kind {
        CorrelationKind::EventCount => entries.len() as f64,
        CorrelationKind::ValueCount => {
            let distinct: HashSet<&str> = entries
                .iter()
                .filter_map(|e| if let Val::Text(t) = &e.value { Some(t.as_str()) } else { None })
                .collect();
            distinct.len() as f64
        }
        CorrelationKind::Temporal => entries.iter().fold(0u64, |m, e| m | e.mask).count_ones() as f64,
        CorrelationKind::TemporalOrdered => {
            let mut step = 0usize;
            for e in entries {
                if step < rule.inputs.len() && e.mask & (1 << step) != 0 {
                    step += 1;
                }
            }
            step as f64
        }
        CorrelationKind::ValueSum => nums().sum(),
        CorrelationKind::ValueAvg => {
            let n = entries.len().max(1) as f64;
            nums().sum::<f64>() / n
        }
        CorrelationKind::ValuePercentile | CorrelationKind::ValueMedian => {
            percentile(nums().collect(), rule.doc.percentile)
        }
    }
}

/// The `p`-th percentile by linear interpolation between the closest ranks
/// (NumPy's default): the median of `[1, 2, 3, 4]` is 2.5.
pub(crate) fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let pos = p.clamp(0.0, 100.0) / 100.0 * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}
