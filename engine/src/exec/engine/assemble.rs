//! Putting an engine together from a plan: the literal matchers (built,
//! or loaded from a bundle's saved automata), the tables evaluation walks,
//! and the rules (decoded, or a bundle's bytes decoded on first use).
//! Shared by [`Engine::compile`] and rule bundles (`crate::bundle`).

use std::sync::{Arc, OnceLock};

use super::{Engine, Inner, LazyPred, compile_lazy};
use crate::config::Config;
use crate::exec::keywords::LinePrefilter;
use crate::exec::matcher::FieldMatcher;
use crate::ir::{FieldId, FieldTable, LoadedRule, Placeholders, Target};
use crate::plan::{self, REJECT};

/// A bundle's rules, each as [`LoadedRule::encode`] wrote it, and its
/// scanned predicates, each as postcard wrote it (`plan::Preds`); empty for
/// a compiled engine, whose rules and predicates are decoded already.
#[derive(Debug, Default)]
pub(crate) struct EncodedRules {
    /// The rules' and the predicates' bytes (copied together, or the whole
    /// bundle).
    bytes: Vec<u8>,
    /// Where each rule's bytes are in `bytes` ...
    ranges: Vec<std::ops::Range<usize>>,
    /// ... and each kept predicate's.
    preds: Vec<std::ops::Range<usize>>,
}

impl EncodedRules {
    /// The rules' and the kept predicates' bytes, in order, copied together.
    pub(crate) fn new(rules: &[&[u8]], preds: &[&[u8]]) -> EncodedRules {
        let total = rules.iter().chain(preds).map(|r| r.len()).sum();
        let mut bytes = Vec::with_capacity(total);
        let mut copy = |parts: &[&[u8]]| -> Vec<std::ops::Range<usize>> {
            parts
                .iter()
                .map(|r| {
                    let start = bytes.len();
                    bytes.extend_from_slice(r);
                    start..bytes.len()
                })
                .collect()
        };
        let ranges = copy(rules);
        let preds = copy(preds);
        EncodedRules { bytes, ranges, preds }
    }

    /// The rules and the kept predicates where they are inside `whole`
    /// (each a slice of it), whose bytes are set later
    /// ([`Assembly::set_rule_bytes`]).
    pub(crate) fn within(whole: &[u8], rules: &[&[u8]], preds: &[&[u8]]) -> EncodedRules {
        // Offsets from addresses: each part lies inside `whole`.
        let base = whole.as_ptr() as usize;
        let locate = |parts: &[&[u8]]| -> Vec<std::ops::Range<usize>> {
            parts.iter().map(|r| (r.as_ptr() as usize - base)..(r.as_ptr() as usize - base + r.len())).collect()
        };
        EncodedRules { bytes: Vec::new(), ranges: locate(rules), preds: locate(preds) }
    }

    /// Rule `i`'s bytes (none if there is no such rule).
    pub(crate) fn get(&self, i: usize) -> &[u8] {
        self.ranges.get(i).and_then(|r| self.bytes.get(r.clone())).unwrap_or_default()
    }

    /// Kept predicate `k`'s bytes (none if there is no such predicate).
    pub(crate) fn pred(&self, k: usize) -> &[u8] {
        self.preds.get(k).and_then(|r| self.bytes.get(r.clone())).unwrap_or_default()
    }
}

/// An engine prepared but for its literal matchers ([`Engine::prepare`]).
pub(crate) struct Assembly(Inner);

impl Assembly {
    /// Sets the bytes that [`EncodedRules::within`] located the rules in.
    pub(crate) fn set_rule_bytes(&mut self, bytes: Vec<u8>) {
        self.0.encoded.bytes = bytes;
    }

    /// The engine, with the literal matchers of its plan.
    pub(crate) fn finish(self, matchers: Vec<(FieldId, FieldMatcher)>) -> Engine {
        let mut inner = self.0;
        for (mi, (id, _)) in matchers.iter().enumerate() {
            inner.matcher_of[id.index()] = mi as u32;
        }
        inner.matchers = matchers;
        Engine { inner: Arc::new(inner) }
    }
}

/// The rules [`Engine::prepare`] is given.
pub(crate) enum RuleSource {
    Decoded(Vec<LoadedRule>),
    Encoded(EncodedRules),
}

/// One field's literal set, and the automaton a bundle saved for it.
pub(crate) type MatcherJob<'a> = (FieldId, &'a Arc<plan::Literals>, Option<&'a [u8]>);

/// One job per field of `fields`, with its literal set (`literals` is by
/// field index) and no saved automaton.
pub(crate) fn matcher_jobs<'a>(fields: &FieldTable, literals: &'a [Arc<plan::Literals>]) -> Vec<MatcherJob<'a>> {
    fields.iter().zip(literals).map(|((id, _), l)| (id, l, None)).collect()
}

/// The literal matchers of a new plan's `literals` (by field index), one
/// per field with literals, in field order. With two threads, the field
/// with the most literal bytes is built on a second thread beside the
/// others: on the SigmaHQ Windows pack, `CommandLine`'s automaton takes 14
/// of the 24 ms the automata take on one thread.
pub(crate) fn new_matchers(
    fields: &FieldTable,
    literals: &[Arc<plan::Literals>],
    config: &Config,
    threads: usize,
) -> Vec<(FieldId, FieldMatcher)> {
    let jobs = matcher_jobs(fields, literals);
    let build = |job: &MatcherJob| FieldMatcher::new(job.1, config.automaton);
    let largest = (0..jobs.len()).max_by_key(|&i| jobs[i].1.texts().map(str::len).sum::<usize>());
    let built: Vec<Option<FieldMatcher>> = match largest {
        Some(big) if threads > 1 => std::thread::scope(|scope| {
            let apart = scope.spawn(|| build(&jobs[big]));
            let mut built: Vec<_> =
                jobs.iter().enumerate().map(|(i, j)| (i != big).then(|| build(j)).flatten()).collect();
            // A panic while building (there is none) builds it again here.
            built[big] = apart.join().unwrap_or_else(|_| build(&jobs[big]));
            built
        }),
        _ => jobs.iter().map(build).collect(),
    };
    jobs.iter().zip(built).filter_map(|(job, m)| Some((job.0, m?))).collect()
}

/// The literal matchers of `jobs`, one per field with literals, in the
/// order of `jobs`: loaded from the saved automaton where there is one,
/// after checking that it is exactly the automaton of the field's literals
/// (a refused one is an error naming the field), built otherwise (daachorse
/// builds most of the load time left after parsing).
pub(crate) fn build_matchers(
    jobs: &[MatcherJob],
    config: &Config,
) -> Result<Vec<(FieldId, FieldMatcher)>, (FieldId, String)> {
    let mut out = Vec::new();
    for &(id, lits, saved) in jobs {
        let matcher = match saved {
            Some(bytes) => Some(FieldMatcher::load(lits, bytes).map_err(|e| (id, e))?),
            None => FieldMatcher::new(lits, config.automaton),
        };
        out.extend(matcher.map(|m| (id, m)));
    }
    Ok(out)
}

impl Engine {
    /// Prepares the engine a plan describes: the lazy tests and the tables
    /// evaluation walks, all but the literal matchers, which
    /// [`Assembly::finish`] adds. Shared by [`compile`](Engine::compile),
    /// which checked (so compiled) every regex already and passes them in
    /// `regexes`, and rule bundles, which store the plan and compile each
    /// lazy test on first use (`None`), and prepare while the automata are
    /// checked.
    pub(crate) fn prepare(
        rules: RuleSource,
        fields: FieldTable,
        plan: plan::Plan,
        config: &Config,
        placeholders: &Placeholders,
        regexes: Option<&mut crate::exec::lazy::Regexes>,
    ) -> Assembly {
        let np = plan.preds.len();
        let lazy: Vec<OnceLock<Option<Box<LazyPred>>>> = match regexes {
            Some(regexes) => (0..np)
                .map(|id| OnceLock::from(plan.preds.decoded_at(id).and_then(|p| compile_lazy(p, config, regexes))))
                .collect(),
            None => (0..np).map(|_| OnceLock::new()).collect(),
        };
        let (rules, encoded) = match rules {
            RuleSource::Decoded(rules) => {
                (rules.into_iter().map(|r| OnceLock::from(Box::new(r))).collect(), EncodedRules::default())
            }
            RuleSource::Encoded(e) => (e.ranges.iter().map(|_| OnceLock::new()).collect(), e),
        };
        let mut group_rule = Vec::new();
        let mut group_counts = Vec::with_capacity(plan.rules.len());
        let mut always = Vec::new();
        for (ri, r) in plan.rules.iter().enumerate() {
            group_counts.push(r.groups.len() as u32);
            if r.groups.is_empty() && r.start != REJECT {
                always.push(ri as u32);
            }
            group_rule.extend(r.groups.iter().map(|_| ri as u32));
        }
        // The groups of each predicate, in group order: counted, then
        // placed (`pred_groups[p]` is where p's groups lie in `group_refs`).
        let mut pred_groups = vec![(0u32, 0u32); np];
        let groups = || plan.rules.iter().flat_map(|r| &r.groups).zip(0u32..);
        for (g, _) in groups() {
            g.iter().for_each(|p| pred_groups[p.index()].1 += 1);
        }
        let mut next = 0;
        for (start, end) in &mut pred_groups {
            (*start, *end, next) = (next, next, next + *end);
        }
        let mut group_refs = vec![0u32; next as usize];
        for (g, gid) in groups() {
            for p in g {
                let end = &mut pred_groups[p.index()].1;
                group_refs[*end as usize] = gid;
                *end += 1;
            }
        }
        // The fields read: those of the decoded predicates (a bundle's lazy
        // ones, all of them otherwise) and those with literals, whose
        // scanned predicates read them.
        let decoded = plan.preds.decoded();
        let needs_keywords = decoded.iter().any(|p| p.pred.target == Target::Keywords);
        let mut read: Vec<bool> = plan.literals.iter().map(|l| !l.is_empty()).collect();
        read.resize(fields.len(), false);
        for p in decoded {
            if let Target::Field(f) = p.pred.target {
                read[f.index()] = true;
            }
            if let crate::ir::Test::FieldRef { other, .. } = p.pred.test {
                read[other.index()] = true;
            }
        }
        let read_fields: Vec<FieldId> = fields.iter().map(|(id, _)| id).filter(|id| read[id.index()]).collect();
        // By predicate id: a bundle's decoded predicates are not all of them.
        let line_prefilter = LinePrefilter::new((0..np).map(|id| plan.preds.decoded_at(id).map(|p| &p.pred)));
        #[cfg(feature = "json")]
        let json = crate::exec::json::Extractor::from_names(read_fields.iter().map(|&id| (id, fields.name(id))));
        // Regexes cost 0.1-2 us per command line while streams repeat
        // values: their results are memoised per field value. String tests
        // are not: on distinct events the memo's table lookup (a cache miss
        // into 1 MiB) cost more than the test (perf, SigmaHQ Windows pack
        // over the case-flipped real events).
        let memo_field: Vec<Option<FieldId>> = (0..np)
            .map(|id| match plan.preds.decoded_at(id).map(|p| (p.lazy, p.pred.target, &p.pred.test)) {
                Some((true, Target::Field(f), crate::ir::Test::Regex { .. })) => Some(f),
                _ => None,
            })
            .collect();
        let mut memo_of = vec![u32::MAX; fields.len()];
        let mut memo_count = 0;
        for f in memo_field.iter().flatten() {
            if memo_of[f.index()] == u32::MAX {
                memo_of[f.index()] = memo_count;
                memo_count += 1;
            }
        }
        let matcher_of = vec![u32::MAX; fields.len()];
        let inner = Inner {
            starts: plan.rules.iter().map(|r| r.start).collect(),
            rules,
            encoded,
            fields,
            lazy,
            group_counts,
            always,
            pred_groups,
            group_refs,
            group_rule,
            matchers: Vec::new(),
            matcher_of,
            memo_field,
            memo_of,
            needs_keywords,
            read_fields,
            line_prefilter,
            #[cfg(feature = "json")]
            json,
            value_cache_entries: config.value_cache_entries,
            value_cache_bytes: config.value_cache_bytes,
            plan,
            placeholders: placeholders.clone(),
            config: config.clone(),
        };
        Assembly(inner)
    }
}
