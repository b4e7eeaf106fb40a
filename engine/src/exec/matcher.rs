//! Per-field literal matchers: one matcher decides every scanned literal
//! predicate of its field, for every rule, from one pass over the field's
//! folded value.
//!
//! # Strategy ladder
//!
//! [`FieldMatcher::new`] tries, in order:
//!
//! 1. **Exact map** — when every literal of the field is a whole-value test
//!    (`IntegrityLevel`, `LogonId`): one hash lookup of the folded value.
//! 2. **Double-array Aho-Corasick** (the `daachorse` crate) — everything
//!    else. Measured on the SigmaHQ Windows pack over the 4,774 real Sysmon
//!    events of `../shared/corpora` (per value, one thread, see
//!    `BENCHMARKS.md` (appendix)), it beat both aho-corasick automata on every
//!    field, small sets included: `CommandLine` (9,474 literals) 1.2 µs vs
//!    1.8 µs for the aho-corasick DFA (80 MB, 0.3 s to build) and 1.9 µs for
//!    its contiguous NFA; `Hashes` (421 long hex literals) 0.28 µs vs 2.7 µs;
//!    `User` (11 literals) 68 ns vs 92 ns, where aho-corasick's overlapping
//!    search pays tens of nanoseconds per call before the first byte.
//!
//! The aho-corasick automata stay selectable ([`AutomatonKind`]) for
//! benchmarks and for the conformance suite, which runs every case under
//! every kind. Automata use standard (not leftmost) semantics and report
//! overlapping matches, so a literal that is a suffix of another (`.exe`
//! and `\cmd.exe`) is still seen; where a match starts and ends decides the
//! literal's exact, prefix and suffix predicates.

use std::collections::HashMap;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use crate::config::AutomatonKind;
use crate::plan::{Literals, PredId};

/// The matcher of one field.
#[derive(Debug)]
pub(crate) enum FieldMatcher {
    /// Every literal is an exact test: folded value → predicates.
    Exact(HashMap<Box<str>, Box<[PredId]>>),
    /// An Aho-Corasick automaton over every literal.
    Automaton { ac: AhoCorasick, literals: Arc<Literals> },
    /// A double-array Aho-Corasick automaton (daachorse): compact, for large sets.
    DoubleArray { da: Daac, literals: Arc<Literals> },
}

/// daachorse's automaton, which has no `Debug`.
pub(crate) struct Daac(daachorse::DoubleArrayAhoCorasick<u32>);

impl std::fmt::Debug for Daac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DoubleArrayAhoCorasick({} bytes)", self.0.heap_bytes())
    }
}

impl FieldMatcher {
    /// Builds the matcher for a field's literals, or `None` if it has none.
    pub(crate) fn new(literals: &Arc<Literals>, kind: AutomatonKind) -> Option<FieldMatcher> {
        if literals.is_empty() {
            return None;
        }
        let all_exact = (0..literals.len()).all(|i| {
            let ids = literals.ids(i);
            ids.prefix.is_empty() && ids.suffix.is_empty() && ids.anywhere.is_empty()
        });
        if all_exact && kind == AutomatonKind::Auto {
            let map = (0..literals.len()).map(|i| (literals.text(i).into(), literals.ids(i).exact.into())).collect();
            return Some(FieldMatcher::Exact(map));
        }
        if matches!(kind, AutomatonKind::DoubleArray | AutomatonKind::Auto) {
            // Without daachorse's 2-gram prefilter: it saved 3.5 % of the
            // scans' instructions on the SigmaHQ pack (callgrind, real
            // events) but adds 64 KiB to each automaton of a bundle, where
            // it would have to be checked too (`daac::verify`).
            let da = daachorse::DoubleArrayAhoCorasickBuilder::new()
                .use_prefilter(false)
                .match_kind(daachorse::MatchKind::Standard)
                .build_with_values(literals.texts().zip(0..).map(|(t, i)| (t.as_bytes(), i)))
                .ok()?;
            return Some(FieldMatcher::DoubleArray { da: Daac(da), literals: Arc::clone(literals) });
        }
        let ac_kind = match kind {
            AutomatonKind::Dfa => AhoCorasickKind::DFA,
            AutomatonKind::ContiguousNfa => AhoCorasickKind::ContiguousNFA,
            AutomatonKind::NoncontiguousNfa | AutomatonKind::DoubleArray | AutomatonKind::Auto => {
                AhoCorasickKind::NoncontiguousNFA
            }
        };
        // OK: building only fails past aho-corasick's state limits (billions
        // of states); rule size limits keep us far below them. A failure
        // falls back to the NFA, which has the loosest limits.
        let build = |k| AhoCorasick::builder().match_kind(MatchKind::Standard).kind(Some(k)).build(literals.texts());
        let ac = build(ac_kind).or_else(|_| build(AhoCorasickKind::NoncontiguousNFA)).ok()?;
        Some(FieldMatcher::Automaton { ac, literals: Arc::clone(literals) })
    }

    /// The automaton as bytes, for a bundle: only the double array has a
    /// checked serialized form; the other matchers are built again.
    pub(crate) fn saved(&self) -> Option<Vec<u8>> {
        match self {
            FieldMatcher::DoubleArray { da, .. } => Some(da.0.serialize()),
            FieldMatcher::Exact(_) | FieldMatcher::Automaton { .. } => None,
        }
    }

    /// The matcher of `literals` from an automaton [`saved`](Self::saved)
    /// in a bundle, once [`verify`](super::daac::verify) has shown it to
    /// be exactly their automaton.
    pub(crate) fn load(literals: &Arc<Literals>, bytes: &[u8]) -> Result<FieldMatcher, String> {
        super::daac::verify(bytes, literals)?;
        match daachorse::DoubleArrayAhoCorasick::<u32>::deserialize(bytes) {
            Ok((da, [])) => Ok(FieldMatcher::DoubleArray { da: Daac(da), literals: Arc::clone(literals) }),
            Ok(_) | Err(_) => Err("daachorse refuses the automaton".into()),
        }
    }

    /// Appends the predicates `folded` (a folded field value) satisfies.
    /// The same predicate may be appended more than once.
    #[inline]
    pub(crate) fn scan(&self, folded: &str, out: &mut Vec<PredId>) {
        match self {
            FieldMatcher::Exact(map) => {
                if let Some(ids) = map.get(folded) {
                    out.extend_from_slice(ids);
                }
            }
            FieldMatcher::Automaton { ac, literals } => {
                let len = folded.len();
                for m in ac.find_overlapping_iter(folded) {
                    literals.report(m.pattern().as_usize(), m.start(), m.end(), len, out);
                }
            }
            FieldMatcher::DoubleArray { da, literals } => {
                let len = folded.len();
                for m in da.0.find_overlapping_iter(folded) {
                    literals.report(m.value() as usize, m.start(), m.end(), len, out);
                }
            }
        }
    }

    /// A one-line description for `sigmata debug plan`.
    pub(crate) fn describe(&self) -> String {
        match self {
            FieldMatcher::Exact(map) => format!("exact map, {} values", map.len()),
            FieldMatcher::Automaton { ac, literals } => {
                format!("{:?}, {} literals, {} KiB", ac.kind(), literals.len(), ac.memory_usage() / 1024)
            }
            FieldMatcher::DoubleArray { da, literals } => {
                format!("double array, {} literals, {} KiB", literals.len(), da.0.heap_bytes() / 1024)
            }
        }
    }
}

/// A per-thread cache of scan results by raw field value.
///
/// Real event streams repeat images, parents and command lines; a repeated
/// value costs one hash and one comparison instead of a fold and a scan. It
/// is a fixed-capacity open-addressing table over two arenas (keys and
/// results) that is emptied when full, so after warm-up it never allocates.
/// Keys are compared in full: a hash collision can never return another
/// value's result.
#[derive(Clone, Debug)]
pub(crate) struct ValueCache {
    table: Vec<Entry>,
    keys: Vec<u8>,
    results: Vec<PredId>,
    len: usize,
    max_key_bytes: usize,
    /// Bumped when the cache empties, so entry ids are never reused.
    epoch: u32,
}

#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    /// 0 = empty (real hashes have their top bit set).
    hash: u64,
    key: (u32, u32),
    result: (u32, u32),
}

impl ValueCache {
    /// A cache of `capacity` entries (rounded up to a power of two, then
    /// half-filled at most) holding at most `max_key_bytes` of keys.
    pub(crate) fn new(capacity: usize, max_key_bytes: usize) -> ValueCache {
        let slots = (capacity.max(8) * 2).next_power_of_two();
        ValueCache {
            table: vec![Entry::default(); slots],
            keys: Vec::new(),
            results: Vec::new(),
            len: 0,
            max_key_bytes,
            epoch: 0,
        }
    }

    pub(crate) fn hash(value: &str) -> u64 {
        use std::hash::BuildHasher;
        foldhash::fast::FixedState::with_seed(0x5167_6d61_7461).hash_one(value.as_bytes()) | (1 << 63)
    }

    /// The cached result for `value`, if any, with the entry's id.
    #[inline]
    pub(crate) fn get(&self, hash: u64, value: &str) -> Option<(&[PredId], u64)> {
        let mask = self.table.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let e = &self.table[i];
            if e.hash == 0 {
                return None;
            }
            if e.hash == hash && &self.keys[e.key.0 as usize..e.key.1 as usize] == value.as_bytes() {
                return Some((&self.results[e.result.0 as usize..e.result.1 as usize], self.id(i)));
            }
            i = (i + 1) & mask;
        }
    }

    /// An id unique to one entry over the cache's whole life: its slot and
    /// the number of times the cache was emptied (ids of `Memo`).
    fn id(&self, slot: usize) -> u64 {
        (u64::from(self.epoch) << 32) | slot as u64
    }

    /// Stores a result (the caller checked that `value` is not cached) and
    /// returns the new entry's id, or `None` for a value too big to cache.
    pub(crate) fn insert(&mut self, hash: u64, value: &str, result: &[PredId]) -> Option<u64> {
        if value.len() > self.max_key_bytes / 16 {
            return None; // a huge value would evict everything else for one entry
        }
        if 2 * (self.len + 1) > self.table.len() || self.keys.len() + value.len() > self.max_key_bytes {
            self.clear();
        }
        let key = (self.keys.len() as u32, (self.keys.len() + value.len()) as u32);
        self.keys.extend_from_slice(value.as_bytes());
        let res = (self.results.len() as u32, (self.results.len() + result.len()) as u32);
        self.results.extend_from_slice(result);
        let mask = self.table.len() - 1;
        let mut i = hash as usize & mask;
        while self.table[i].hash != 0 {
            i = (i + 1) & mask;
        }
        self.table[i] = Entry { hash, key, result: res };
        self.len += 1;
        Some(self.id(i))
    }

    fn clear(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        self.table.iter_mut().for_each(|e| *e = Entry::default());
        self.keys.clear();
        self.results.clear();
        self.len = 0;
    }
}

/// Memoised results of lazy predicates by (value-cache entry id, predicate):
/// a direct-mapped table that simply overwrites on collision. Keys are
/// compared in full, so a hit is always the result for that very value.
#[derive(Clone, Debug)]
pub(crate) struct Memo {
    slots: Vec<(u64, u32, bool)>,
}

impl Memo {
    pub(crate) fn new(entries: usize) -> Memo {
        Memo { slots: vec![(u64::MAX, u32::MAX, false); entries.max(1).next_power_of_two()] }
    }

    fn slot(&self, id: u64, pred: u32) -> usize {
        let h = (id ^ (u64::from(pred) << 40)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> 32) as usize & (self.slots.len() - 1)
    }

    #[inline]
    pub(crate) fn get(&self, id: u64, pred: u32) -> Option<bool> {
        let (i, p, v) = self.slots[self.slot(id, pred)];
        (i == id && p == pred).then_some(v)
    }

    #[inline]
    pub(crate) fn put(&mut self, id: u64, pred: u32, value: bool) {
        let s = self.slot(id, pred);
        self.slots[s] = (id, pred, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::plan::Literal;

    fn lit(text: &str, f: impl FnOnce(&mut Literal)) -> Literal {
        let mut l = Literal { text: text.into(), ..Literal::default() };
        f(&mut l);
        l
    }

    #[test]
    fn positions_decide_exact_prefix_suffix_and_anywhere() {
        let lits = Arc::new(Literals::new(&[
            lit("cmd.exe", |l| l.suffix.push(PredId(0))),
            lit(".exe", |l| l.anywhere.push(PredId(1))),
            lit("c:\\", |l| l.prefix.push(PredId(2))),
            lit("c:\\cmd.exe", |l| l.exact.push(PredId(3))),
        ]));
        for kind in [
            AutomatonKind::Auto,
            AutomatonKind::Dfa,
            AutomatonKind::ContiguousNfa,
            AutomatonKind::NoncontiguousNfa,
            AutomatonKind::DoubleArray,
        ] {
            let m = FieldMatcher::new(&lits, kind).unwrap();
            let scan = |s: &str| {
                let mut out = Vec::new();
                m.scan(s, &mut out);
                out.sort();
                out.dedup();
                out.iter().map(|p| p.0).collect::<Vec<_>>()
            };
            assert_eq!(scan("c:\\cmd.exe"), [0, 1, 2, 3], "{kind:?}");
            assert_eq!(scan("d:\\cmd.exe"), [0, 1]);
            assert_eq!(scan("c:\\cmd.exe.bak"), [1, 2]);
            assert_eq!(scan("x"), Vec::<u32>::new());
        }
    }

    #[test]
    fn value_cache_compares_whole_keys_and_empties_when_full() {
        let mut c = ValueCache::new(4, 1 << 10);
        let h = ValueCache::hash("a");
        c.insert(h, "a", &[PredId(7)]);
        assert_eq!(c.get(h, "a").map(|(r, _)| r), Some(&[PredId(7)][..]));
        assert_eq!(c.get(h, "b"), None, "same hash, other key");
        for i in 0..100 {
            let k = format!("k{i}");
            c.insert(ValueCache::hash(&k), &k, &[]);
        }
        assert!(c.len <= c.table.len() / 2);
    }
}
