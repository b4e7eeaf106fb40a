//! Evaluating one event with a loaded pack, shared by `scan` (events read
//! from files and stdin) and `serve` (events from NATS messages): the
//! event's text is read through the field mapping, routed (events that say
//! they are not process creation are skipped) and evaluated; the matches are
//! left in the worker's `MatchSet` for the caller to print.

use sigmata::{Engine, Event, MatchSet, Record};

use crate::args::EngineKind;
use crate::input;
use crate::output::Tally;
use crate::pipeline::{Kind, Mapper, Routed, Slots};
use crate::profile::Profile;

/// Per-thread state: the engine cache, the mapping's records, the matches
/// of the last event evaluated.
pub struct Worker {
    /// The engine's per-thread cache.
    pub cache: sigmata::Cache,
    /// Records the mapping reads events into.
    pub slots: Slots,
    /// The matches of the last event evaluated.
    pub matches: MatchSet,
    /// `scan --profile`: this worker's verification times.
    pub profile: Option<Profile>,
}

impl Worker {
    /// A worker for `engine`; `profile` times each rule's verification.
    pub fn new(engine: &Engine, profile: bool) -> Worker {
        Worker {
            cache: engine.create_cache(),
            slots: Slots::default(),
            matches: MatchSet::new(),
            profile: profile.then(|| Profile::new(engine.len())),
        }
    }
}

/// An engine, its field mapping and the evaluator that decides matches.
#[derive(Clone, Copy)]
pub struct Evaluator<'a> {
    /// The engine.
    pub engine: &'a Engine,
    /// The field mapping compiled for it.
    pub mapper: &'a Mapper,
    /// The compiled engine or the reference evaluator.
    pub kind: EngineKind,
}

impl Evaluator<'_> {
    /// Evaluates the text of one JSON object. `Ok(Some(kind))`: evaluated,
    /// the matches are in `w.matches`; `Ok(None)`: the event said it is not
    /// process creation and was skipped (counted in `tally`); `Err`: why the
    /// text is not an event. Windows records that must be flattened first,
    /// and every event under `--engine reference` (so that the oracle shares
    /// nothing with the fast path, not even the JSON reader), go through
    /// `serde_json::Value`; anything else is read straight into a record.
    pub fn text(&self, w: &mut Worker, tally: &mut Tally, text: &str) -> Result<Option<Kind>, String> {
        if self.kind == EngineKind::Reference || input::looks_like_evtx_record(text) {
            return match serde_json::from_str::<serde_json::Value>(text) {
                Ok(v @ serde_json::Value::Object(_)) => Ok(self.value(w, tally, &input::normalise(v))),
                Ok(other) => Err(format!("not a JSON object (found {})", json_type(&other))),
                Err(e) => Err(format!("invalid JSON: {e}")),
            };
        }
        self.mapper.read_json(&mut w.slots, text).map_err(|e| e.message().to_string())?;
        Ok(self.slots(w, tally))
    }

    /// Evaluates a parsed event (as [`Evaluator::text`]).
    pub fn value(&self, w: &mut Worker, tally: &mut Tally, event: &serde_json::Value) -> Option<Kind> {
        match self.kind {
            EngineKind::Compiled => {
                self.mapper.read_event(&mut w.slots, event);
                self.slots(w, tally)
            }
            EngineKind::Reference => {
                let (routed, mapped) = self.mapper.map_value(self.engine, event);
                let Routed::Eval(kind) = routed else {
                    tally.skipped_not_process_creation += 1;
                    return None;
                };
                w.matches.clear();
                for (id, lr) in self.engine.rules() {
                    if sigmata::reference::eval(&lr.ir.expr, self.engine.fields(), &mapped) {
                        w.matches.insert(id);
                    }
                }
                for (id, name) in self.engine.fields().iter() {
                    if mapped.field(id, name, &mut |_| {}) {
                        tally.see(id.index());
                    }
                }
                Some(kind)
            }
        }
    }

    /// Routes the event read into the worker's slots and, if it is one the
    /// rules apply to, evaluates it with the compiled engine; `None` (and
    /// counted as skipped) otherwise.
    fn slots(&self, w: &mut Worker, tally: &mut Tally) -> Option<Kind> {
        let (routed, record) = self.mapper.route(&mut w.slots);
        let (Routed::Eval(kind), Some(record)) = (routed, record) else {
            tally.skipped_not_process_creation += 1;
            return None;
        };
        evaluate(self.engine, &mut w.cache, &mut w.matches, &mut w.profile, record);
        see(tally, record, self.mapper.engine_fields());
        Some(kind)
    }
}

/// Evaluates a record with the compiled engine (timed per rule under
/// `--profile`). A function of the worker's parts, since the record
/// borrows the worker's slots.
fn evaluate(
    engine: &Engine,
    cache: &mut sigmata::Cache,
    out: &mut MatchSet,
    profile: &mut Option<Profile>,
    r: &Record,
) {
    match profile {
        Some(p) => p.add(engine, cache, r, out),
        None => engine.matches_record(cache, r, out),
    }
}

/// Marks the rule fields present in `record`.
fn see(tally: &mut Tally, record: &Record, engine_fields: usize) {
    for f in record.present_fields() {
        if f.index() < engine_fields {
            tally.see(f.index());
        }
    }
}

/// The event text as a match echoes it: a JSONL line as read; a
/// pretty-printed object is compacted to stay on one line.
pub fn echo_text(t: &str) -> String {
    if t.contains('\n') {
        serde_json::from_str::<serde_json::Value>(t).map(|v| v.to_string()).unwrap_or_default()
    } else {
        t.trim().to_string()
    }
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
