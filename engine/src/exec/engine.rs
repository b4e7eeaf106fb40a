//! Stages 5 and 6: the compiled [`Engine`] and evaluation.
//!
//! Per event, the engine
//!
//! 1. scans each field that has literals, once per value: folds the value
//!    and runs the field's [`FieldMatcher`](crate::exec::matcher) (or finds the
//!    result in the per-thread value cache), which marks every literal
//!    predicate the value satisfies;
//! 2. counts, for each marked predicate, the witness groups it belongs to;
//!    a rule whose groups have all fired becomes a candidate;
//! 3. runs the jump program of each candidate and of each always-evaluated
//!    rule, computing lazy predicates on demand (once per event).
//!
//! Every per-event structure lives in the caller's [`Cache`], reset by
//! bumping a generation counter, so a warm cache never allocates.

use std::sync::{Arc, OnceLock};

use crate::config::Config;
use crate::error::Error;
use crate::event::Event;
use crate::exec::keywords::{LinePrefilter, LineState};
use crate::exec::lazy::{Folds, LazyPred};
use crate::exec::matcher::{FieldMatcher, Memo, ValueCache};
use crate::exec::record::{Kind, Record};
use crate::fold;
use crate::front::rule::Rule;
use crate::ir::{FieldId, FieldTable, LoadedRule, Placeholders, Target};
use crate::plan::{self, ACCEPT, PredId, REJECT};

mod assemble;

pub(crate) use assemble::{Assembly, EncodedRules, RuleSource, build_matchers, matcher_jobs, new_matchers};

/// Values shorter than this are scanned directly rather than looked up in
/// the value cache (a hash, a probe and a comparison cost about what
/// scanning 16 bytes does). Measured on the SigmaHQ Windows pack over the
/// real Sysmon events: caching from 16 bytes up gave 5.2 us per event,
/// from 64 bytes up 7.2 us (see the appendix of BENCHMARKS.md).
const CACHE_MIN_LEN: usize = 16;

/// Identifies a rule inside one [`Engine`] (its index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleId(u32);

impl RuleId {
    /// The index of the rule.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The rules that matched one event, in rule order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MatchSet {
    ids: Vec<RuleId>,
}

impl MatchSet {
    /// An empty set.
    pub fn new() -> MatchSet {
        MatchSet::default()
    }

    /// Empties the set, keeping its allocation.
    pub fn clear(&mut self) {
        self.ids.clear();
    }

    /// The matched rules, in rule order.
    pub fn iter(&self) -> impl Iterator<Item = RuleId> + '_ {
        self.ids.iter().copied()
    }

    /// Number of matched rules.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True if no rule matched.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// True if `id` matched.
    pub fn contains(&self, id: RuleId) -> bool {
        self.ids.binary_search(&id).is_ok()
    }

    /// Adds a rule (for callers that decide matches themselves, such as the
    /// reference evaluator path of `sigmata scan --engine reference`).
    pub fn insert(&mut self, id: RuleId) {
        if let Err(i) = self.ids.binary_search(&id) {
            self.ids.insert(i, id);
        }
    }
}

/// A compiled rule pack.
///
/// Immutable once built; cloning is cheap (the state is shared behind an
/// `Arc`) and it is `Send + Sync`. Per-thread scratch lives in a [`Cache`]
/// passed to [`Engine::matches_with`]; with a warm cache evaluation does not
/// allocate. Evaluation never fails and never panics.
#[derive(Clone, Debug)]
pub struct Engine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The rules, by id; a bundle's are decoded from `encoded` on first use
    /// (see [`Inner::loaded`]). Boxed: an empty cell is then 16 bytes, not
    /// 660, which loading a bundle would write.
    rules: Vec<OnceLock<Box<LoadedRule>>>,
    encoded: EncodedRules,
    fields: FieldTable,
    /// Compiled lazy predicates, by predicate index (`None` for scanned
    /// ones); a bundle's are compiled on first use (see [`Inner::lazy`]).
    /// Boxed, so that an empty cell is 16 bytes (a bundle writes one per
    /// predicate on load).
    lazy: Vec<OnceLock<Option<Box<LazyPred>>>>,
    /// Program entry of each rule.
    starts: Vec<u32>,
    /// Number of witness groups of each rule.
    group_counts: Vec<u32>,
    /// Rules with no witness group: evaluated for every event.
    always: Vec<u32>,
    /// For each predicate, the range of `group_refs` listing its groups.
    pred_groups: Vec<(u32, u32)>,
    group_refs: Vec<u32>,
    /// The rule of each group.
    group_rule: Vec<u32>,
    /// The literal matcher of each field that has literals.
    matchers: Vec<(FieldId, FieldMatcher)>,
    /// For each field id, the index of its matcher in `matchers` (or `u32::MAX`).
    matcher_of: Vec<u32>,
    /// For each predicate: the field whose value its (regex) result is
    /// memoised by, if any.
    memo_field: Vec<Option<FieldId>>,
    /// For each field id, the index of its memo key cache (or `u32::MAX`).
    memo_of: Vec<u32>,
    needs_keywords: bool,
    /// The fields the loaded rules read, in id order (the table also holds
    /// the fields of rules that were not applicable or were refused).
    read_fields: Vec<FieldId>,
    /// Keyword predicates' needles, for records whose keyword values were
    /// left in the event's JSON text.
    line_prefilter: Option<LinePrefilter>,
    #[cfg(feature = "json")]
    json: crate::exec::json::Extractor,
    value_cache_entries: usize,
    value_cache_bytes: usize,
    plan: plan::Plan,
    /// What the rules were lowered with, kept so that [`Engine::explain`]
    /// can lower a rule again search by search, exactly as it was built.
    placeholders: Placeholders,
    config: Config,
}

impl Inner {
    /// Rule `i`, decoded on first use if it came from a bundle.
    fn loaded(&self, i: usize) -> &LoadedRule {
        self.rules[i].get_or_init(|| Box::new(LoadedRule::decode(self.encoded.get(i), self.fields.len(), i)))
    }

    /// The lazy test of predicate `p`: `None` for a scanned predicate, and
    /// for a test that does not compile (which the pack's compilation
    /// refused, so only a hand-made bundle has one: it is false).
    #[inline]
    fn lazy(&self, p: usize) -> Option<&LazyPred> {
        self.lazy[p]
            .get_or_init(|| {
                self.plan.preds.decoded_at(p).and_then(|pred| compile_lazy(pred, &self.config, &mut Default::default()))
            })
            .as_deref()
    }

    /// Predicate `p` as text (`Field contains "x"`); a bundle's scanned
    /// predicate is decoded for it.
    fn pred_text(&self, p: usize) -> String {
        let pred = match self.plan.preds.get(p) {
            Some(plan::PredRef::Decoded(pred)) => return pred.pred.display(&self.fields),
            Some(plan::PredRef::Kept(k, Some(decider))) => {
                decider.decode(self.encoded.pred(k), &self.plan.literals, self.fields.len())
            }
            _ => None,
        };
        match pred {
            Some(pred) => pred.display(&self.fields),
            None => format!("(predicate {p} of the bundle does not decode)"),
        }
    }
}

/// Compiles a plan predicate's lazy test (`None` for a scanned one).
#[cold]
fn compile_lazy(
    p: &plan::PlanPred,
    config: &Config,
    regexes: &mut crate::exec::lazy::Regexes,
) -> Option<Box<LazyPred>> {
    p.lazy.then(|| LazyPred::compile(p.pred.target, &p.pred.test, config, regexes).ok().map(Box::new)).flatten()
}

/// Counters of the work evaluation did, accumulated in a [`Cache`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvalCounters {
    /// Events evaluated.
    pub events: u64,
    /// Field values scanned by a literal matcher.
    pub scans: u64,
    /// Field values whose scan result came from the value cache.
    pub cache_hits: u64,
    /// Literal predicates that fired.
    pub fired: u64,
    /// Rule programs run (candidates and always-evaluated rules).
    pub programs: u64,
    /// Lazy predicates computed.
    pub lazy: u64,
}

/// Per-thread scratch space for evaluation; see [`Engine::create_cache`].
#[derive(Clone, Debug)]
pub struct Cache {
    counters: EvalCounters,
    state: State,
    lazy_true: Vec<bool>,
    fired: Vec<PredId>,
    folded: String,
    folds: Folds,
    record: Record,
    values: Vec<ValueCache>,
    /// Per memoised field: value → entry id, for `memo`.
    memo_keys: Vec<ValueCache>,
    /// Per field id: (generation, entry id of this event's value).
    memo_ids: Vec<(u32, u64)>,
    memo: Memo,
    line: LineState,
}

/// Per-event marks, reset by bumping `generation`: a stamp equal to the
/// current generation means "set during this event".
#[derive(Clone, Debug)]
struct State {
    generation: u32,
    /// Per predicate: decided (literal: true; lazy: computed) this event.
    stamp: Vec<u32>,
    group_stamp: Vec<u32>,
    rule_stamp: Vec<u32>,
    rule_count: Vec<u32>,
    candidates: Vec<u32>,
}

impl Cache {
    /// The work done so far with this cache.
    pub fn counters(&self) -> EvalCounters {
        self.counters
    }
}

impl State {
    fn begin(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // Stamps from 2^32 events ago could look current: reset them.
            for v in [&mut self.stamp, &mut self.group_stamp, &mut self.rule_stamp] {
                v.iter_mut().for_each(|s| *s = 0);
            }
            self.generation = 1;
        }
        self.candidates.clear();
    }

    /// Marks literal predicate `p` true and counts the witness groups it
    /// completes; a rule whose groups are all counted becomes a candidate.
    #[inline]
    fn fire(&mut self, inner: &Inner, p: PredId) {
        let pi = p.index();
        if self.stamp[pi] == self.generation {
            return;
        }
        self.stamp[pi] = self.generation;
        let (s, e) = inner.pred_groups[pi];
        for &g in &inner.group_refs[s as usize..e as usize] {
            let g = g as usize;
            if self.group_stamp[g] == self.generation {
                continue;
            }
            self.group_stamp[g] = self.generation;
            let r = inner.group_rule[g] as usize;
            if self.rule_stamp[r] != self.generation {
                self.rule_stamp[r] = self.generation;
                self.rule_count[r] = 0;
            }
            self.rule_count[r] += 1;
            if self.rule_count[r] == inner.group_counts[r] {
                self.candidates.push(r as u32);
            }
        }
    }
}

/// Compiles a rule's regexes (each distinct one once, cached in `regexes`)
/// and checks them against `regex_size_limit`, alone and together.
pub(crate) fn check_regexes(
    r: &LoadedRule,
    config: &Config,
    regexes: &mut crate::exec::lazy::Regexes,
) -> Option<Error> {
    let mut err = None;
    let mut seen = std::collections::HashSet::new();
    let mut total = 0usize;
    r.ir.expr.for_each_pred(&mut |p| {
        if let (None, crate::ir::Test::Regex { pattern, flags }) = (&err, &p.test) {
            match regexes.compile(pattern, *flags, config) {
                Ok(re) if seen.insert((pattern, *flags)) => {
                    total = total.saturating_add(re.memory_usage());
                    if total > config.regex_size_limit {
                        err = Some(Error::limit_exceeded(
                            "regex_size_limit",
                            config.regex_size_limit,
                            format!(
                                "the rule's regular expressions compile to more than the limit of {} bytes together",
                                config.regex_size_limit
                            ),
                        ));
                    }
                }
                Ok(_) => {}
                Err(e) => err = Some(e),
            }
        }
    });
    err
}

/// Statistics about a compiled engine, for `sigmata debug plan` and benches.
#[derive(Clone, Debug, Default)]
pub struct PlanStats {
    /// Rules in the engine.
    pub rules: usize,
    /// Distinct predicates.
    pub predicates: usize,
    /// Predicates decided by scanning.
    pub scanned: usize,
    /// Rules evaluated for every event (no witness).
    pub always_evaluated: usize,
    /// Per field with literals: (field name, literal count, matcher description).
    pub fields: Vec<(String, usize, String)>,
}

/// The longest JSON text [`Engine::fill_json`] reads (2 GiB - 1).
#[cfg(feature = "json")]
const MAX_JSON_BYTES: usize = (u32::MAX / 2) as usize;

impl Engine {
    /// Compiles the loaded rules; `threads` (at most 2 are used) build
    /// independent parts side by side. The result does not depend on it.
    pub(crate) fn compile(
        mut rules: Vec<LoadedRule>,
        fields: FieldTable,
        config: &Config,
        placeholders: &Placeholders,
        threads: usize,
    ) -> (Engine, Vec<(Rule, Error)>) {
        // Regexes, the only tests whose compilation can fail (size limits),
        // are compiled per rule first, each distinct one once, so that a rule
        // whose regex is too big is refused on its own.
        let mut errors = Vec::new();
        let mut regexes = crate::exec::lazy::Regexes::default();
        // The regexes of one rule together are held to `regex_size_limit`
        // as well (each distinct one counted once), so that a rule cannot
        // multiply the per-regex limit by listing thousands of them.
        let check = |rules: &[LoadedRule], regexes: &mut crate::exec::lazy::Regexes| -> Vec<(usize, Error)> {
            rules.iter().enumerate().filter_map(|(i, r)| check_regexes(r, config, regexes).map(|e| (i, e))).collect()
        };
        let plan_of = |rules: &[LoadedRule]| {
            let exprs: Vec<&crate::ir::Expr> = rules.iter().map(|r| &r.ir.expr).collect();
            plan::plan(&exprs, &fields, config.frequencies().as_deref())
        };
        // Planning does not depend on the regexes: with two threads, one
        // plans the pack while the other compiles and checks them (the two
        // take about as long on the SigmaHQ pack), then both build the
        // automata. The pack is planned again without the refused rules
        // only if there are any.
        let (refused, early) = if threads > 1 {
            std::thread::scope(|scope| {
                let planned = scope.spawn(|| plan_of(&rules));
                let refused = check(&rules, &mut regexes);
                // A panic while planning (there is none) would plan again below.
                (refused, planned.join().ok())
            })
        } else {
            (check(&rules, &mut regexes), None)
        };
        let plan = match early {
            Some(plan) if refused.is_empty() => plan,
            _ => {
                let mut refused = refused.into_iter().peekable();
                let mut kept = Vec::with_capacity(rules.len());
                for (i, r) in rules.into_iter().enumerate() {
                    match refused.next_if(|(j, _)| *j == i) {
                        Some((_, e)) => errors.push((r.rule, e)),
                        None => kept.push(r),
                    }
                }
                rules = kept;
                plan_of(&rules)
            }
        };
        let matchers = new_matchers(&fields, &plan.literals, config, threads);
        let rules = RuleSource::Decoded(rules);
        (Engine::prepare(rules, fields, plan, config, placeholders, Some(&mut regexes)).finish(matchers), errors)
    }

    /// What a rule bundle stores besides the rules and the automata: the
    /// field table, the plan, and what the rules were lowered with.
    pub(crate) fn bundle_parts(&self) -> (&FieldTable, &plan::Plan, &Placeholders, &Config) {
        let i = &*self.inner;
        (&i.fields, &i.plan, &i.placeholders, &i.config)
    }

    /// The bytes of scanned predicate `k` of those a bundle kept encoded
    /// (`plan::PredRef::Kept`).
    pub(crate) fn kept_pred(&self, k: usize) -> &[u8] {
        self.inner.encoded.pred(k)
    }

    /// The literal automata a bundle carries, by field index: those with a
    /// checked serialized form (see [`FieldMatcher::saved`]).
    pub(crate) fn saved_automata(&self) -> Vec<(u32, Vec<u8>)> {
        self.inner.matchers.iter().filter_map(|(f, m)| Some((f.index() as u32, m.saved()?))).collect()
    }

    /// True when every field with literals has a matcher (always so for a
    /// compiled pack; a rule bundle checks it, since its plan came from
    /// outside).
    pub(crate) fn is_complete(&self) -> bool {
        let i = &*self.inner;
        i.plan.literals.iter().enumerate().all(|(f, lits)| lits.is_empty() || i.matcher_of[f] != u32::MAX)
    }

    /// Number of rules in the engine.
    pub fn len(&self) -> usize {
        self.inner.rules.len()
    }

    /// True if the engine has no rules.
    pub fn is_empty(&self) -> bool {
        self.inner.rules.is_empty()
    }

    /// The rule with this id.
    pub fn rule(&self, id: RuleId) -> &Rule {
        &self.inner.loaded(id.index()).rule
    }

    /// The rule with this id, with its IR and applied filters.
    pub fn loaded(&self, id: RuleId) -> &LoadedRule {
        self.inner.loaded(id.index())
    }

    /// Every rule, in id order.
    pub fn rules(&self) -> impl Iterator<Item = (RuleId, &LoadedRule)> {
        (0..self.inner.rules.len()).map(|i| (RuleId(i as u32), self.inner.loaded(i)))
    }

    /// The field table the rules' IR refers to.
    pub fn fields(&self) -> &FieldTable {
        &self.inner.fields
    }

    /// The fields the loaded rules read (the fields they test and the other
    /// side of field references), in id order: what a record needs. The
    /// [`fields`](Engine::fields) table also names the fields of rules that
    /// were refused or not applicable.
    pub fn read_fields(&self) -> impl ExactSizeIterator<Item = (FieldId, &str)> + '_ {
        self.inner.read_fields.iter().map(|&id| (id, self.inner.fields.name(id)))
    }

    /// True if some rule searches keywords, so records must carry every
    /// value of the event (see [`Record::push_keyword`]).
    pub fn needs_keywords(&self) -> bool {
        self.inner.needs_keywords
    }

    /// Fresh scratch space for [`matches_with`](Engine::matches_with).
    pub fn create_cache(&self) -> Cache {
        let i = &*self.inner;
        let n = i.lazy.len();
        Cache {
            counters: EvalCounters::default(),
            state: State {
                generation: 0,
                stamp: vec![0; n],
                group_stamp: vec![0; i.group_rule.len()],
                rule_stamp: vec![0; i.rules.len()],
                rule_count: vec![0; i.rules.len()],
                candidates: Vec::new(),
            },
            lazy_true: vec![false; n],
            fired: Vec::new(),
            folded: String::new(),
            folds: Folds::new(i.fields.len()),
            record: Record::new(),
            values: i.matchers.iter().map(|_| ValueCache::new(i.value_cache_entries, i.value_cache_bytes)).collect(),
            memo_keys: (0..i.memo_of.iter().filter(|m| **m != u32::MAX).count())
                .map(|_| ValueCache::new(i.value_cache_entries, i.value_cache_bytes))
                .collect(),
            memo_ids: vec![(0, u64::MAX); i.fields.len()],
            memo: Memo::new(if i.value_cache_entries > 0 { 16 * i.value_cache_entries } else { 1 }),
            line: LineState::default(),
        }
    }

    /// The rules matching `event`. Allocates; see [`matches_with`](Engine::matches_with).
    pub fn matches(&self, event: &dyn Event) -> MatchSet {
        let mut cache = self.create_cache();
        let mut out = MatchSet::new();
        self.matches_with(&mut cache, event, &mut out);
        out
    }

    /// Evaluates every rule against `event`, writing the matching rules to
    /// `out` (cleared first).
    pub fn matches_with(&self, cache: &mut Cache, event: &dyn Event, out: &mut MatchSet) {
        let mut record = std::mem::take(&mut cache.record);
        self.fill(&mut record, event);
        self.matches_record(cache, &record, out);
        cache.record = record;
    }

    /// Copies the fields the rules read from `event` into `record`.
    pub fn fill(&self, record: &mut Record, event: &dyn Event) {
        record.clear();
        for (id, name) in self.read_fields() {
            if event.field(id, name, &mut |v| record.push(id, v)) {
                record.set_present(id);
            }
        }
        if self.inner.needs_keywords {
            event.values(&mut |v| record.push_keyword(v));
        }
    }

    /// Fills `record` from the text of one JSON object (a JSONL line),
    /// reading only the fields the rules use; the result is the record
    /// [`fill`](Engine::fill) builds from the parsed `serde_json::Value`, and
    /// it refuses exactly the texts serde_json refuses as a `Value` object
    /// (nesting past 128 levels included), plus texts over 2 GiB.
    ///
    /// ```
    /// let rule = "title: t\nlogsource: {category: process_creation}\ndetection:\n  sel: {Image|endswith: '\\\\whoami.exe'}\n  condition: sel\n";
    /// let (engine, _) = sigmata::Builder::new().add_source("t.yml", rule).build();
    /// let mut record = sigmata::Record::new();
    /// engine.fill_json(&mut record, r#"{"Image": "C:\\Windows\\whoami.exe", "Pid": 4}"#).unwrap();
    /// let mut cache = engine.create_cache();
    /// let mut out = sigmata::MatchSet::new();
    /// engine.matches_record(&mut cache, &record, &mut out);
    /// assert_eq!(out.len(), 1);
    /// ```
    #[cfg(feature = "json")]
    pub fn fill_json(&self, record: &mut Record, json: &str) -> Result<(), crate::exec::json::JsonError> {
        // A record holds at most 4 GiB of text, and each value of the line
        // may be stored twice (for its field and as a keyword).
        if json.len() > MAX_JSON_BYTES {
            record.clear();
            return Err(crate::exec::json::JsonError::new(format!(
                "the line has {} bytes, more than the {MAX_JSON_BYTES} a record holds",
                json.len()
            )));
        }
        self.inner.json.fill(record, json, self.inner.needs_keywords)
    }

    /// Starts an event: scans the record's fields and returns the rules to
    /// verify (the candidates whose witnesses fired, and the rules evaluated
    /// for every event), sorted. The vector is the cache's; give it back in
    /// `cache.state.candidates`.
    #[inline]
    fn candidates(&self, cache: &mut Cache, record: &Record) -> Vec<u32> {
        cache.state.begin();
        cache.folds.begin(cache.state.generation);
        self.scan(cache, record);
        let mut candidates = std::mem::take(&mut cache.state.candidates);
        candidates.extend_from_slice(&self.inner.always);
        candidates.sort_unstable();
        cache.counters.events += 1;
        cache.counters.programs += candidates.len() as u64;
        candidates
    }

    /// Evaluates every rule against a pre-parsed record.
    pub fn matches_record(&self, cache: &mut Cache, record: &Record, out: &mut MatchSet) {
        out.clear();
        let candidates = self.candidates(cache, record);
        let inner = &*self.inner;
        for &r in &candidates {
            if self.run(inner.starts[r as usize], cache, record) {
                out.ids.push(RuleId(r));
            }
        }
        cache.state.candidates = candidates;
    }

    /// [`matches_record`](Engine::matches_record), timing each rule program
    /// it runs: adds to `profile[rule index]` the nanoseconds spent and one
    /// run, and returns the nanoseconds of the shared scan step (literal
    /// matchers and witness counting). For `sigmata scan --profile`; a
    /// separate method, so that evaluation without profiling pays nothing.
    #[doc(hidden)]
    pub fn matches_record_profiled(
        &self,
        cache: &mut Cache,
        record: &Record,
        out: &mut MatchSet,
        profile: &mut [(u64, u64)],
    ) -> u64 {
        out.clear();
        let started = std::time::Instant::now();
        let candidates = self.candidates(cache, record);
        let inner = &*self.inner;
        let scan_nanos = started.elapsed().as_nanos() as u64;
        for &r in &candidates {
            let t = std::time::Instant::now();
            let hit = self.run(inner.starts[r as usize], cache, record);
            if let Some(slot) = profile.get_mut(r as usize) {
                slot.0 += t.elapsed().as_nanos() as u64;
                slot.1 += 1;
            }
            if hit {
                out.ids.push(RuleId(r));
            }
        }
        cache.state.candidates = candidates;
        scan_nanos
    }

    /// Evaluates one rule (no candidate selection: the program decides).
    pub fn is_match_rule(&self, id: RuleId, cache: &mut Cache, event: &dyn Event) -> bool {
        let mut record = std::mem::take(&mut cache.record);
        self.fill(&mut record, event);
        cache.state.begin();
        cache.folds.begin(cache.state.generation);
        self.scan(cache, &record);
        let hit = self.run(self.inner.starts[id.index()], cache, &record);
        cache.record = record;
        hit
    }

    /// Step 1 and 2: scan every field with literals and count witness groups.
    fn scan(&self, cache: &mut Cache, record: &Record) {
        let inner = &*self.inner;
        let Cache { fired, folded, values, state, counters, .. } = cache;
        for entry in record.entries() {
            // A dense table indexed by field id: the record is read in
            // order, the engine's tables are small and stay cached.
            let mi = match inner.matcher_of.get(entry.field.index()) {
                Some(&mi) if mi != u32::MAX => mi as usize,
                _ => continue,
            };
            let matcher = &inner.matchers[mi].1;
            for v in record.entry_values(entry) {
                if matches!(v.kind, Kind::Null | Kind::Object) {
                    continue;
                }
                let text = record.text(v);
                fired.clear();
                if inner.value_cache_entries > 0 && text.len() >= CACHE_MIN_LEN {
                    let vc = &mut values[mi];
                    let h = ValueCache::hash(text);
                    counters.scans += 1;
                    if let Some((hit, _)) = vc.get(h, text) {
                        counters.cache_hits += 1;
                        fired.extend_from_slice(hit);
                    } else {
                        fold::fold_into(text, folded);
                        matcher.scan(folded, fired);
                        fired.sort_unstable();
                        fired.dedup();
                        vc.insert(h, text, fired);
                    }
                } else {
                    counters.scans += 1;
                    fold::fold_into(text, folded);
                    matcher.scan(folded, fired);
                }
                counters.fired += fired.len() as u64;
                for &p in fired.iter() {
                    state.fire(inner, p);
                }
            }
        }
    }

    /// The value-cache id of the single value that predicate `p`'s result
    /// can be memoised by, this event; `None` if it is not memoised.
    fn memo_id(&self, p: usize, cache: &mut Cache, record: &Record) -> Option<u64> {
        let inner = &*self.inner;
        if inner.value_cache_entries == 0 {
            return None;
        }
        let field = inner.memo_field[p]?;
        let generation = cache.state.generation;
        let slot = &mut cache.memo_ids[field.index()];
        if slot.0 == generation {
            return (slot.1 != u64::MAX).then_some(slot.1);
        }
        let id = match record.values(field) {
            [v] if matches!(v.kind, Kind::Str | Kind::Number | Kind::Bool) => {
                let text = record.text(v);
                let keys = &mut cache.memo_keys[inner.memo_of[field.index()] as usize];
                let h = ValueCache::hash(text);
                match keys.get(h, text) {
                    Some((_, id)) => Some(id),
                    None => keys.insert(h, text, &[]),
                }
            }
            _ => None,
        };
        cache.memo_ids[field.index()] = (generation, id.unwrap_or(u64::MAX));
        id
    }

    /// Step 3: runs a rule program.
    fn run(&self, start: u32, cache: &mut Cache, record: &Record) -> bool {
        let inner = &*self.inner;
        let generation = cache.state.generation;
        let mut pc = start;
        while pc < REJECT {
            let op = inner.plan.ops[pc as usize];
            let p = op.pred as usize;
            let value = if !op.lazy {
                cache.state.stamp[p] == generation
            } else if cache.state.stamp[p] == generation {
                cache.lazy_true[p]
            } else {
                // A regex whose cheap conditions fail is decided before the memo.
                let v = if !inner.lazy(p).is_some_and(|l| l.may_hold(record)) {
                    false
                } else {
                    match self.memo_id(p, cache, record) {
                        Some(id) => match cache.memo.get(id, op.pred) {
                            Some(v) => v,
                            None => {
                                cache.counters.lazy += 1;
                                let v = inner.lazy(p).is_some_and(|l| l.eval(record, &mut cache.folds));
                                cache.memo.put(id, op.pred, v);
                                v
                            }
                        },
                        None => {
                            cache.counters.lazy += 1;
                            self.eval_lazy(p, cache, record)
                        }
                    }
                };
                cache.state.stamp[p] = generation;
                cache.lazy_true[p] = v;
                v
            };
            pc = if value { op.t } else { op.f };
        }
        pc == ACCEPT
    }

    /// Computes lazy predicate `p`. A keyword predicate on a record whose
    /// keyword values were left in the event's JSON text is decided by the
    /// line prefilter, or on the values read from the line (see
    /// [`keywords`](crate::exec::keywords)).
    fn eval_lazy(&self, p: usize, cache: &mut Cache, record: &Record) -> bool {
        let inner = &*self.inner;
        let Some(lazy) = inner.lazy(p) else { return false };
        #[cfg(feature = "json")]
        if let (Some(prefilter), Some((json, line))) = (&inner.line_prefilter, record.keyword_line())
            && lazy.target() == Target::Keywords
        {
            let generation = cache.state.generation;
            if !prefilter.may_hold(p, json, line.plain, generation, &mut cache.line) {
                return false;
            }
            let values = cache.line.values(json, generation);
            return lazy.eval(values, &mut cache.folds);
        }
        lazy.eval(record, &mut cache.folds)
    }

    /// The folded literals of a field's matcher (none if it has no
    /// matcher), for `benches/examples/automata.rs`, which measures literal
    /// automata on them.
    #[doc(hidden)]
    pub fn bench_field_literals(&self, field: FieldId) -> Vec<&str> {
        match self.inner.plan.literals.get(field.index()) {
            Some(lits) => lits.texts().collect(),
            None => Vec::new(),
        }
    }

    /// Scans one folded value with a field's literal matcher and returns the
    /// number of predicates it decided (for the per-field matcher benches).
    #[doc(hidden)]
    pub fn bench_scan_field(&self, field: FieldId, folded: &str, cache: &mut Cache) -> usize {
        cache.fired.clear();
        if let Some((_, m)) = self.inner.matchers.iter().find(|(f, _)| *f == field) {
            m.scan(folded, &mut cache.fired);
        }
        cache.fired.len()
    }

    /// What the rules were lowered with: placeholder values and the
    /// configuration (for [`Engine::explain`], which lowers a rule again).
    /// The configuration the engine was built with (for an engine read
    /// from a bundle: the bundle's limits and logsource).
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub(crate) fn lowering(&self) -> (&Placeholders, &Config) {
        (&self.inner.placeholders, &self.inner.config)
    }

    /// What the planner decided, in numbers.
    pub fn plan_stats(&self) -> PlanStats {
        let i = &*self.inner;
        PlanStats {
            rules: i.rules.len(),
            predicates: i.plan.preds.len(),
            scanned: (0..i.plan.preds.len()).filter(|&p| i.plan.preds.is_lazy(p) == Some(false)).count(),
            always_evaluated: i.always.len(),
            fields: i
                .matchers
                .iter()
                .map(|(id, m)| (i.fields.name(*id).to_string(), i.plan.literals[id.index()].len(), m.describe()))
                .collect(),
        }
    }

    /// A rule's witness groups as text (`Field contains "x" | …`), or an
    /// empty list for a rule evaluated on every event.
    pub fn witnesses(&self, id: RuleId) -> Vec<String> {
        self.witness_groups(id).into_iter().map(|g| g.join(" | ")).collect()
    }

    /// A rule's witness groups, each as the list of its atoms
    /// (`Field contains "x"`); empty for a rule evaluated on every event.
    pub fn witness_groups(&self, id: RuleId) -> Vec<Vec<String>> {
        let i = &*self.inner;
        i.plan.rules[id.index()].groups.iter().map(|g| g.iter().map(|p| i.pred_text(p.index())).collect()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_is_send_sync_clone_unwind_safe() {
        fn assert_traits<T: Send + Sync + Clone + std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
        assert_traits::<Engine>();
        fn assert_send<T: Send + Clone>() {}
        assert_send::<Cache>();
        assert_send::<MatchSet>();
    }
}
