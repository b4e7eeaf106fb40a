//! Stage above the engine: correlation rules over the stream of matches.
//!
//! [`Correlations::resolve`] ties each parsed [`Correlation`] to what it
//! refers to (loaded rules by `id` or `name`, other correlations for
//! chains), checks aliases and cycles, and orders chains inner-first. A
//! [`Correlator`] then takes, event by event, the rules that matched, the
//! event and its time, and returns [`Alert`]s.
//!
//! Contracts:
//! - no I/O, no clock: time is only what the caller says an event's time is;
//! - deterministic: the same events in the same order give the same alerts;
//! - bounded: groups per correlation and entries per group are capped, and
//!   every eviction is counted in [`CorrelatorStats`];
//! - this module reads the engine (`exec`) and the rule model (`front`);
//!   nothing below it knows correlations exist, so scanning without a
//!   correlation costs nothing.

mod explain;
mod state;
mod time;

use std::collections::HashMap;

pub use explain::{CorrelationExplanation, ExplainEvent, GroupExplanation, InputMatches};
pub use state::{Alert, Correlator, CorrelatorConfig, CorrelatorStats, EventRef, Prepared, Source};
pub use time::{event_time, parse_time};

/// Reads a Sigma timespan (`30s`, `5m`, `1h`, `2d`) as milliseconds.
pub fn parse_timespan(text: &str) -> Option<i64> {
    crate::front::rule::parse_timespan(text)
}

use crate::error::{Anchor, Error, ErrorKind};
use crate::exec::{Engine, RuleId};
use crate::front::rule::{CmpOp, Correlation, CorrelationKind};
use crate::ir::FieldId;

/// A field looked up on events by name, with the engine's id for it when
/// a rule reads it too (so that pipelines' field mappings apply).
pub fn field_ref(engine: &Engine, name: &str) -> (FieldId, String) {
    (engine.fields().get(name).unwrap_or(FieldId::UNKNOWN), name.to_string())
}

/// Most rules one correlation may refer to (inputs are kept as a bit set).
pub const MAX_INPUTS: usize = 64;

/// What a correlation reads: a loaded rule or another correlation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Input {
    /// A rule of the engine.
    Rule(RuleId),
    /// Another correlation, by index in [`Correlations::rules`].
    Correlation(usize),
}

/// A correlation tied to what it reads.
#[derive(Clone, Debug)]
pub struct CorrelationRule {
    /// The rule as written.
    pub doc: Correlation,
    /// One per entry of `rules`, in order.
    pub inputs: Vec<Input>,
    /// For each input, the field read for each `group-by` name (aliases applied).
    pub(crate) group_fields: Vec<Vec<(FieldId, String)>>,
    /// The `field`s of the condition.
    pub(crate) value_fields: Vec<(FieldId, String)>,
}

impl CorrelationRule {
    /// True when the condition can only become true as events arrive (only
    /// `gt`/`gte`): such a correlation fires as soon as it holds. Others
    /// (`lt`, `lte`, `eq`, `neq`) fire when their window closes.
    pub fn fires_early(&self) -> bool {
        self.doc.condition.iter().all(|(op, _)| matches!(op, CmpOp::Gt | CmpOp::Gte))
    }

    /// True when `value` satisfies every comparison of the condition. A
    /// temporal correlation without a condition needs every referenced rule.
    pub fn holds(&self, value: f64) -> bool {
        if self.doc.condition.is_empty() {
            return value >= self.inputs.len() as f64;
        }
        self.doc.condition.iter().all(|(op, t)| op.holds(value, *t))
    }
}

/// The correlations of a pack, resolved against an [`Engine`], inner
/// correlations of a chain before the outer ones.
#[derive(Clone, Debug, Default)]
pub struct Correlations {
    rules: Vec<CorrelationRule>,
    /// For each engine rule (by index): the correlations and input positions it feeds.
    feeds: Vec<Vec<(usize, usize)>>,
    /// For each correlation: the outer correlations and positions it feeds.
    chains: Vec<Vec<(usize, usize)>>,
    /// Engine rules whose own matches are not reported (`generate: false`).
    quiet: Vec<bool>,
    /// Correlations whose own alerts are not reported (an outer one does not generate them).
    quiet_corr: Vec<bool>,
}

impl Correlations {
    /// Resolves parsed correlations against the rules of `engine`. Returns
    /// the ones that resolve and, for the others, their index in `docs`
    /// with the reason. A refused correlation changes nothing for the rules
    /// it names: they load and alert as if it were not there. `elsewhere`
    /// maps ids and names of rules that exist but are not in the engine to
    /// why (e.g. not applicable to the stream's logsource), for the message
    /// of a correlation that names them.
    pub fn resolve(
        engine: &Engine,
        docs: Vec<Correlation>,
        elsewhere: &HashMap<String, String>,
    ) -> (Correlations, Vec<(usize, Error)>) {
        let mut errors: Vec<(usize, Error)> = Vec::new();
        let mut by_ref: HashMap<&str, RuleId> = HashMap::new();
        // Without correlations, no rule is looked up (a bundle's rules are
        // decoded on first use).
        if !docs.is_empty() {
            for (id, lr) in engine.rules() {
                for key in [lr.rule.id.as_deref(), lr.rule.name.as_deref()].into_iter().flatten() {
                    by_ref.entry(key).or_insert(id);
                }
            }
        }
        let mut corr_ref: HashMap<&str, usize> = HashMap::new();
        for (i, d) in docs.iter().enumerate() {
            for key in [d.id.as_deref(), d.name.as_deref()].into_iter().flatten() {
                corr_ref.entry(key).or_insert(i);
            }
        }
        let err = |msg: String, path: &[&str]| {
            Error::new(ErrorKind::Correlation, msg).at(Anchor::Path(path.iter().map(|s| s.to_string()).collect(), None))
        };
        // Inputs by document index, or the reason they do not resolve.
        let mut inputs: Vec<Option<Vec<Input>>> = Vec::with_capacity(docs.len());
        for (i, d) in docs.iter().enumerate() {
            let mut ins = Vec::new();
            let mut bad = None;
            if d.rules.len() > MAX_INPUTS {
                bad = Some(err(
                    format!("a correlation may refer to at most {MAX_INPUTS} rules"),
                    &["correlation", "rules"],
                ));
            }
            for r in &d.rules {
                if bad.is_some() {
                    break;
                }
                match (corr_ref.get(r.as_str()), by_ref.get(r.as_str())) {
                    (Some(&c), _) if c == i => {
                        bad = Some(err(format!("the correlation refers to itself ('{r}')"), &["correlation", "rules"]))
                    }
                    (Some(&c), _) => ins.push(Input::Correlation(c)),
                    (None, Some(&id)) => ins.push(Input::Rule(id)),
                    (None, None) => {
                        let msg = match elsewhere.get(r.as_str()) {
                            Some(why) => format!("rule '{r}' is not evaluated here: {why}"),
                            None => format!("'{r}' is not the id or name of a loaded rule or correlation"),
                        };
                        bad = Some(err(msg, &["correlation", "rules"]).at_value(r))
                    }
                }
            }
            if let Some(e) = bad {
                errors.push((i, e));
                inputs.push(None);
            } else {
                inputs.push(Some(ins));
            }
        }
        // Kahn's algorithm: inner correlations first; what remains is in a
        // cycle (or depends on one). No recursion, whatever the input.
        let n = docs.len();
        let mut pending: Vec<usize> = vec![0; n];
        let mut outers: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, ins) in inputs.iter().enumerate() {
            for input in ins.iter().flatten() {
                if let Input::Correlation(c) = input {
                    pending[i] += 1;
                    outers[*c].push(i);
                }
            }
        }
        let mut order = Vec::with_capacity(n);
        let mut ready: std::collections::VecDeque<usize> = (0..n).filter(|&i| pending[i] == 0).collect();
        while let Some(i) = ready.pop_front() {
            order.push(i);
            for &o in &outers[i] {
                pending[o] -= 1;
                if pending[o] == 0 {
                    ready.push_back(o);
                }
            }
        }
        let mut refused: Vec<bool> = inputs.iter().map(Option::is_none).collect();
        for i in 0..n {
            if pending[i] > 0 && !refused[i] {
                refused[i] = true;
                errors.push((
                    i,
                    err(
                        "the correlation is part of a cycle of correlations referring to each other".into(),
                        &["correlation", "rules"],
                    ),
                ));
            }
        }
        // In order, a correlation reading a refused one is refused too.
        let mut index_of: Vec<Option<usize>> = vec![None; n];
        let mut out = Correlations {
            feeds: vec![Vec::new(); engine.len()],
            quiet: vec![false; engine.len()],
            ..Default::default()
        };
        let mut generating: Vec<bool> = vec![false; engine.len()];
        let mut docs: Vec<Option<Correlation>> = docs.into_iter().map(Some).collect();
        for i in order {
            if refused[i] {
                continue;
            }
            let ins = inputs[i].take().unwrap_or_default();
            if let Some(Input::Correlation(c)) = ins.iter().find(|x| matches!(x, Input::Correlation(c) if refused[*c]))
            {
                refused[i] = true;
                let name = docs[*c].as_ref().map(|d| d.title.clone()).unwrap_or_default();
                errors.push((
                    i,
                    err(
                        format!("the correlation reads correlation '{name}', which was refused"),
                        &["correlation", "rules"],
                    ),
                ));
                continue;
            }
            let Some(doc) = docs[i].take() else { continue };
            let at = out.rules.len();
            index_of[i] = Some(at);
            let ins: Vec<Input> = ins
                .into_iter()
                .map(|x| match x {
                    // Inner correlations come first in `order`, so they have an index.
                    Input::Correlation(c) => Input::Correlation(index_of[c].unwrap_or(usize::MAX)),
                    r => r,
                })
                .collect();
            let field = |name: &str| (engine.fields().get(name).unwrap_or(FieldId::UNKNOWN), name.to_string());
            let group_fields =
                doc.rules
                    .iter()
                    .map(|r| {
                        doc.group_by
                            .iter()
                            .map(|g| {
                                let aliased =
                                    doc.aliases.iter().find(|a| a.name == *g).and_then(|a| {
                                        a.fields.iter().find(|(rule, _)| rule == r).map(|(_, f)| f.as_str())
                                    });
                                field(aliased.unwrap_or(g))
                            })
                            .collect()
                    })
                    .collect();
            let value_fields = doc.field.iter().map(|f| field(f)).collect();
            for (pos, input) in ins.iter().enumerate() {
                match *input {
                    Input::Rule(id) => {
                        out.feeds[id.index()].push((at, pos));
                        out.quiet[id.index()] = true;
                        generating[id.index()] |= doc.generate;
                    }
                    Input::Correlation(c) => {
                        if let Some(ch) = out.chains.get_mut(c) {
                            ch.push((at, pos));
                        }
                        if let Some(q) = out.quiet_corr.get_mut(c) {
                            *q |= !doc.generate;
                        }
                    }
                }
            }
            out.rules.push(CorrelationRule { doc, inputs: ins, group_fields, value_fields });
            out.chains.push(Vec::new());
            out.quiet_corr.push(false);
        }
        for (q, g) in out.quiet.iter_mut().zip(&generating) {
            *q &= !*g;
        }
        errors.sort_by_key(|(i, _)| *i);
        (out, errors)
    }

    /// The resolved correlations, inner ones of a chain first.
    pub fn rules(&self) -> &[CorrelationRule] {
        &self.rules
    }

    /// Number of correlations.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True if there is none.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// True when `rule` feeds at least one correlation.
    pub fn reads(&self, rule: RuleId) -> bool {
        self.feeds.get(rule.index()).is_some_and(|f| !f.is_empty())
    }

    /// False when `rule`'s own matches are not to be reported: it is
    /// referenced by a correlation and none of the correlations referring to
    /// it says `generate: true`.
    pub fn generates(&self, rule: RuleId) -> bool {
        !self.quiet.get(rule.index()).copied().unwrap_or(false)
    }

    /// False when correlation `index`'s alerts are not to be reported: an
    /// outer correlation reads it without `generate: true`.
    pub fn generates_correlation(&self, index: usize) -> bool {
        !self.quiet_corr.get(index).copied().unwrap_or(false)
    }

    pub(crate) fn feeds(&self, rule: RuleId) -> &[(usize, usize)] {
        self.feeds.get(rule.index()).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn chains(&self, index: usize) -> &[(usize, usize)] {
        self.chains.get(index).map_or(&[], Vec::as_slice)
    }

    /// True for kinds that read a number.
    pub(crate) fn numeric(kind: CorrelationKind) -> bool {
        matches!(
            kind,
            CorrelationKind::ValueSum
                | CorrelationKind::ValueAvg
                | CorrelationKind::ValuePercentile
                | CorrelationKind::ValueMedian
        )
    }
}
