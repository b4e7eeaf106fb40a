//! Correlation rules in `serve`: one [`Correlator`] per loaded pack, fed
//! the matches of the rules correlations read, message by message in the
//! order the messages were fetched.
//!
//! The contract, and where it is kept:
//!
//! - **One order.** The evaluation threads only *prepare* an event's
//!   contribution ([`Correlating::prepare`], which reads the group-by and
//!   value fields and the event time); the contributions of a fetched group
//!   are then fed by [`Correlating::feed`] in fetch order, under one lock,
//!   before the next group is evaluated. With one worker and one consumer
//!   the correlator sees the events in stream order, as `scan` sees a file.
//! - **Alerts before acks.** A correlation alert is published with the
//!   message whose feeding completed it, and that message is acknowledged
//!   only after all its alerts were acknowledged by the server.
//! - **A redelivered event is not counted twice.** The stream sequences of
//!   the last [`FED_KEPT`] events fed are kept; a message this process
//!   already fed and sees again (its publication failed, it was handed
//!   back) is not fed again, and the correlation alerts that were not
//!   published the first time are published with it.
//! - **What it does not keep.** State is per process and in memory: events
//!   are acknowledged once their own alerts are out, while their
//!   contribution may still sit in a window, so a crash or a restart loses
//!   the correlations in progress, and with several workers on one
//!   consumer a group's events are split between processes (use
//!   `--partition`). A reload starts the new pack's correlations empty.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use sigmata::correlate::{self, Correlations, Correlator, CorrelatorConfig, Prepared};
use sigmata::ir::FieldId;
use sigmata::{Engine, MatchSet, RuleId};

use crate::pipeline::Mapper;

use super::log::{error, info, warn};
use super::pack::{Alert, Pack};
use super::{Shared, publish};

/// Stream sequences remembered as fed (the bound of the consumer's
/// unacknowledged messages, so that any redelivery of a message this
/// process holds or just held is recognised).
pub const FED_KEPT: usize = 65_536;

/// The correlations of a pack and their running state.
pub struct Correlating {
    set: Arc<Correlations>,
    time_fields: Vec<(FieldId, String)>,
    state: Mutex<State>,
}

struct State {
    correlator: Correlator,
    fed: HashSet<u64>,
    /// `fed` in the order fed, oldest first.
    order: VecDeque<u64>,
    /// Correlation alerts of a message fed here whose publication failed:
    /// published with its redelivery (if it comes back to this process).
    unsent: HashMap<u64, Vec<Alert>>,
    /// The last message fed (stream sequence, subject): what alerts closed
    /// at a stop are attributed to.
    last: Option<(u64, String)>,
}

/// A correlation alert with the message it is attributed to.
pub struct Completed {
    /// The alert.
    pub alert: correlate::Alert,
    /// The stream sequence of the message whose feeding completed it (at a
    /// stop, the last message fed).
    pub seq: u64,
    /// That message's subject.
    pub subject: String,
}

impl Correlating {
    /// The state for `set` (`None` when the pack has no correlation).
    pub fn new(
        engine: &Engine,
        set: &Arc<Correlations>,
        time_fields: &[String],
        config: CorrelatorConfig,
    ) -> Option<Correlating> {
        if set.is_empty() {
            return None;
        }
        Some(Correlating {
            set: Arc::clone(set),
            time_fields: crate::args::time_field_refs(engine, time_fields),
            state: Mutex::new(State {
                correlator: Correlator::new(Arc::clone(set), config),
                fed: HashSet::new(),
                order: VecDeque::new(),
                unsent: HashMap::new(),
                last: None,
            }),
        })
    }

    /// The correlations.
    pub fn set(&self) -> &Correlations {
        &self.set
    }

    /// False when `rule`'s own matches are not published (`generate: false`),
    /// as `scan` does not print them.
    pub fn generates(&self, rule: RuleId) -> bool {
        self.set.generates(rule)
    }

    /// What an evaluated event contributes to the correlations (on an
    /// evaluation thread): `None` when none of its matches is read by one.
    /// The event is read as `scan` reads it for correlations: parsed,
    /// flattened, seen through the field mapping.
    pub fn prepare(
        &self,
        engine: &Engine,
        mapper: &Mapper,
        matches: &MatchSet,
        text: &str,
        source: &Arc<str>,
        seq: u64,
    ) -> Option<Prepared> {
        if !matches.iter().any(|id| self.set.reads(id)) {
            return None;
        }
        let value = serde_json::from_str::<serde_json::Value>(text).map(crate::input::normalise).ok()?;
        let (_, mapped) = mapper.map_value(engine, &value);
        let time = correlate::event_time(&mapped, &self.time_fields);
        self.set.prepare(matches.iter(), &mapped, time, source, seq)
    }

    /// Feeds one message's contribution; the alerts it completed go to
    /// `out`. A message already fed here (`redelivered` and remembered) is
    /// not fed again: the alerts it completed that were not published are
    /// returned in `unsent` instead.
    pub fn feed(
        &self,
        p: Prepared,
        seq: u64,
        subject: &str,
        redelivered: bool,
        out: &mut Vec<Completed>,
        unsent: &mut Vec<Alert>,
    ) {
        let Ok(mut s) = self.state.lock() else { return };
        if redelivered && s.fed.contains(&seq) {
            unsent.extend(s.unsent.remove(&seq).unwrap_or_default());
            return;
        }
        let mut alerts = Vec::new();
        s.correlator.feed_prepared(p, &mut alerts);
        s.remember(seq);
        s.last = Some((seq, subject.to_string()));
        out.extend(
            alerts.into_iter().filter(|a| self.set.generates_correlation(a.correlation)).map(|alert| Completed {
                alert,
                seq,
                subject: subject.to_string(),
            }),
        );
    }

    /// Keeps the correlation alerts of message `seq` whose publication
    /// failed, for its redelivery.
    pub fn keep_unsent(&self, seq: u64, alerts: Vec<Alert>) {
        if let Ok(mut s) = self.state.lock()
            && s.fed.contains(&seq)
        {
            s.unsent.entry(seq).or_default().extend(alerts);
        }
    }

    /// Ends the input, as `scan` does at its end: releases the events held
    /// for lateness and closes every open window. The alerts are
    /// attributed to the last message fed.
    pub fn finish(&self) -> Vec<Completed> {
        let Ok(mut s) = self.state.lock() else { return Vec::new() };
        let mut alerts = Vec::new();
        s.correlator.finish(&mut alerts);
        let (seq, subject) = s.last.clone().unwrap_or_default();
        alerts
            .into_iter()
            .filter(|a| self.set.generates_correlation(a.correlation))
            .map(|alert| Completed { alert, seq, subject: subject.clone() })
            .collect()
    }

    /// (groups held, events waiting in the reorder buffer).
    pub fn held(&self) -> (usize, usize) {
        self.state.lock().map_or((0, 0), |s| (s.correlator.groups(), s.correlator.buffered()))
    }
}

/// Says which correlations run, and, without `--partition`, that their
/// state is this process's alone.
pub(super) fn log_loaded(pack: &Pack, partitioned: bool) {
    let Some(c) = &pack.correlating else { return };
    info("correlations loaded", &[("correlations", c.set().len().into())]);
    if !partitioned {
        warn(
            "correlation state is per process: with several workers on one consumer, the events of one group \
             are split between them and a correlation may be missed; use --partition K/N with \
             `sigmata nats publish --partitions N` to keep each host on one worker",
            &[("correlations", c.set().len().into())],
        );
    }
}

/// At a stop, once every message held is acknowledged: ends the
/// correlations' input as `scan` does at the end of its input (the events
/// held for lateness are released, the open windows closed) and publishes
/// their alerts. The state would be lost at exit otherwise; the price is
/// that a correlation whose condition has `lt`, `lte`, `eq` or `neq` is
/// judged on a window the stop cut short.
pub(super) async fn close_at_stop(shared: &Arc<Shared>) {
    let pack = shared.packs.load_full();
    if pack.correlating.is_none() {
        return;
    }
    let alerts = {
        let (pack, shared) = (pack.clone(), shared.clone());
        tokio::task::spawn_blocking(move || pack.finish_correlations(&shared.origin)).await.unwrap_or_default()
    };
    let results = futures_util::future::join_all(
        alerts.iter().map(|al| publish(shared, &shared.alerts_subject, &al.msg_id, al.payload.clone())),
    )
    .await;
    let published = results.iter().filter(|ok| **ok).count();
    shared.metrics.correlation_alerts.inc_by(published as u64);
    if let Some(c) = &pack.correlating {
        shared.metrics.set_correlation_state(c.held());
    }
    let fields = [("alerts", alerts.len().into()), ("published", published.into())];
    if published == alerts.len() {
        info("correlation windows closed at stop", &fields);
    } else {
        error("correlation windows closed at stop; some alerts could not be published", &fields);
    }
}

impl State {
    fn remember(&mut self, seq: u64) {
        if !self.fed.insert(seq) {
            return;
        }
        self.order.push_back(seq);
        while self.order.len() > FED_KEPT {
            if let Some(old) = self.order.pop_front() {
                self.fed.remove(&old);
                self.unsent.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACK: &str = r#"
title: whoami
name: whoami
logsource: {category: process_creation}
detection: {sel: {Image|endswith: '\whoami.exe'}, condition: sel}
---
title: whoami twice
correlation: {type: event_count, rules: [whoami], group-by: [User], timespan: 1m, condition: {gte: 2}}
"#;

    #[test]
    fn a_redelivered_event_is_fed_once_and_gets_back_its_unsent_alerts() {
        let (engine, set, report) = sigmata::Builder::new().add_source("p.yml", PACK).build_correlated();
        assert!(report.errors.is_empty());
        let set = Arc::new(set);
        let config = CorrelatorConfig { max_lateness_ms: 0, ..Default::default() };
        let c = Correlating::new(&engine, &set, &[], config).expect("a correlation");
        let source: Arc<str> = "S".into();
        let prepared = |seq: u64, time: &str| {
            let ev = serde_json::json!({"Image": r"C:\w\whoami.exe", "User": "bob", "UtcTime": time});
            let m = engine.matches(&ev);
            set.prepare(m.iter(), &ev, correlate::parse_time(time), &source, seq).expect("read by the correlation")
        };
        let (mut out, mut unsent) = (Vec::new(), Vec::new());
        c.feed(prepared(1, "2025-01-01T00:00:00Z"), 1, "s.1", false, &mut out, &mut unsent);
        // Handed back and delivered again: not a second event of bob's.
        c.feed(prepared(1, "2025-01-01T00:00:00Z"), 1, "s.1", true, &mut out, &mut unsent);
        assert!(out.is_empty() && unsent.is_empty());
        // A redelivery of a message another worker held is fed.
        c.feed(prepared(2, "2025-01-01T00:00:30Z"), 2, "s.2", true, &mut out, &mut unsent);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].seq, out[0].subject.as_str(), out[0].alert.events_total), (2, "s.2", 2));
        // Its alert could not be published: the redelivery brings it back,
        // once, without feeding the event again.
        let alert = Alert { msg_id: "m".into(), payload: "{}".into(), level: None, correlation: true };
        c.keep_unsent(2, vec![alert]);
        c.feed(prepared(2, "2025-01-01T00:00:30Z"), 2, "s.2", true, &mut out, &mut unsent);
        assert_eq!((out.len(), unsent.len(), unsent[0].msg_id.as_str()), (1, 1, "m"));
        c.feed(prepared(2, "2025-01-01T00:00:30Z"), 2, "s.2", true, &mut out, &mut unsent);
        assert_eq!((out.len(), unsent.len()), (1, 1));
        assert_eq!(c.held(), (1, 0));
        // A stop empties the state (a gte correlation that fired has nothing
        // left to say).
        assert!(c.finish().is_empty());
        assert_eq!(c.held(), (0, 0));
    }
}
