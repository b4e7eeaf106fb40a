//! Lazy predicates: the tests no scan decides (regexes, globs,
//! case-sensitive and one-character literals, null, exists, numbers,
//! networks, timestamps, field references, keywords). They are compiled
//! once and evaluated only when a candidate rule's program reaches them, at
//! most once per event.

use memchr::memmem;
use regex_automata::meta::Regex;

use crate::config::Config;
use crate::error::{Error, ErrorKind};
use crate::exec::record::{Kind, Record, ValueRef};
use crate::fold;
use crate::ir::{Case, CmpOp, FieldId, Pattern, Position, ReFlags, Shape, Target, Test, TimePart, Token};

/// A compiled lazy predicate.
#[derive(Debug)]
pub(crate) struct LazyPred {
    target: Target,
    test: LazyTest,
}

#[derive(Debug)]
enum LazyTest {
    Null,
    Exists(bool),
    Str(StrTest),
    Regex(Box<RegexTest>),
    /// A regex that is exactly `.{n,}`: some run of at least `n` characters
    /// other than `\n` (any characters under the `s` flag). Counted
    /// directly: the regex engines would build an automaton of `n` states
    /// and fall back to their slowest search on long command lines (62 µs
    /// per SigmaHQ command line over 1,000 characters).
    Run {
        min: usize,
        dot_all: bool,
    },
    Cmp(CmpOp, f64),
    Cidr(ipnet::IpNet),
    FieldRef {
        other: FieldId,
        position: Position,
        case: Case,
    },
    Time(TimePart, CmpOp, i64),
}

/// A regex with cheap necessary conditions checked first: the shortest
/// text it can match (SigmaHQ's `.{1000,}`-style length tests and
/// 64-hex-digit patterns skip nearly every command line this way), a run
/// of characters of one ASCII class it needs (`[a-fA-F0-9]{64}`), and
/// literals one of which every match contains, searched
/// case-insensitively on the raw text (the backtick of PowerShell token
/// obfuscation patterns).
#[derive(Debug)]
pub(crate) struct RegexTest {
    re: Regex,
    min_len: usize,
    run: Option<ClassRun>,
    literals: Option<aho_corasick::AhoCorasick>,
}

/// A run of at least `min` consecutive bytes of an ASCII class that every
/// match of a regex contains.
#[derive(Debug)]
struct ClassRun {
    class: [bool; 128],
    min: usize,
}

/// Shorter runs are not worth checking before the regex.
const MIN_CLASS_RUN: usize = 8;

impl ClassRun {
    /// The longest such run among the parts of a concatenation: a
    /// repetition of at least [`MIN_CLASS_RUN`] of a class of ASCII
    /// characters only (with `(?i)`, a class that folds to a non-ASCII
    /// character, such as the Kelvin sign for `k`, is not ASCII only).
    fn of(hir: &regex_syntax::hir::Hir) -> Option<ClassRun> {
        use regex_syntax::hir::{Class, HirKind};
        let parts = match hir.kind() {
            HirKind::Concat(parts) => parts.as_slice(),
            _ => std::slice::from_ref(hir),
        };
        let mut best: Option<ClassRun> = None;
        for part in parts {
            let mut h = part;
            while let HirKind::Capture(c) = h.kind() {
                h = &c.sub;
            }
            let HirKind::Repetition(rep) = h.kind() else { continue };
            let Ok(min) = usize::try_from(rep.min) else { continue };
            if min < MIN_CLASS_RUN || best.as_ref().is_some_and(|b| b.min >= min) {
                continue;
            }
            let HirKind::Class(Class::Unicode(c)) = rep.sub.kind() else { continue };
            if c.ranges().iter().any(|r| !r.end().is_ascii()) {
                continue;
            }
            let mut class = [false; 128];
            for r in c.ranges() {
                for ch in r.start()..=r.end() {
                    class[ch as usize] = true;
                }
            }
            best = Some(ClassRun { class, min });
        }
        best
    }

    /// Whether `text` has a run of `min` class bytes. Each window of `min`
    /// bytes is checked from its end backwards, so a byte outside the class
    /// skips the window past it (command lines are mostly not hex runs, and
    /// most windows fail on their last byte); bytes already known to be in
    /// the class are not read again, so every byte is read at most once.
    fn occurs(&self, text: &str) -> bool {
        let b = text.as_bytes();
        let in_class = |c: u8| self.class.get(usize::from(c)).copied().unwrap_or(false);
        // b[start..known] are in the class.
        let (mut start, mut known) = (0, 0);
        while start + self.min <= b.len() {
            let end = start + self.min;
            match (known.max(start)..end).rev().find(|&k| !in_class(b[k])) {
                None => return true,
                Some(k) => (start, known) = (k + 1, end),
            }
        }
        false
    }
}

impl RegexTest {
    /// The length and class-run conditions (the literal one is checked
    /// apart, on raw or folded text).
    fn candidate(&self, text: &str) -> bool {
        text.len() >= self.min_len && self.run.as_ref().is_none_or(|r| r.occurs(text))
    }
}

/// A wildcard pattern compiled for one of its common shapes.
#[derive(Debug)]
pub(crate) struct StrTest {
    matcher: StrMatch,
    fold: bool,
    /// A case-insensitive keyword substring test of an ASCII needle: it
    /// can search all the event's values at once (`keyword_contains`).
    ascii_keyword: bool,
    /// The folded needle has a non-ASCII character, so ASCII text can
    /// never match it.
    needle_non_ascii: bool,
    /// Every literal character is ASCII and not a letter: folding changes
    /// none of them and turns no other character into one of them, so the
    /// test can read the raw text without folding it.
    caseless: bool,
}

#[derive(Debug)]
enum StrMatch {
    Exact(Box<str>),
    Prefix(Box<str>),
    Suffix(Box<str>),
    Contains(Box<memmem::Finder<'static>>),
    Any,
    Glob(Pattern),
}

impl StrTest {
    /// `keywords`: also build the raw-text searcher keyword tests use.
    pub(crate) fn new(pattern: &Pattern, case: Case, keywords: bool) -> StrTest {
        let fold = case == Case::Insensitive;
        let folded;
        let pattern = if fold {
            folded = Pattern::new(pattern.tokens().iter().map(|t| match t {
                Token::Lit(s) => Token::Lit(fold::fold_str(s).into_owned()),
                t => t.clone(),
            }));
            &folded
        } else {
            pattern
        };
        let needle_non_ascii = pattern.tokens().iter().any(|t| matches!(t, Token::Lit(s) if !s.is_ascii()));
        let caseless = pattern
            .tokens()
            .iter()
            .all(|t| !matches!(t, Token::Lit(s) if s.bytes().any(|b| !b.is_ascii() || b.is_ascii_alphabetic())));
        let ascii_keyword = matches!(pattern.shape(), Shape::Contains(s) if keywords && fold && s.is_ascii());
        let matcher = match pattern.shape() {
            Shape::Exact(s) => StrMatch::Exact(s.into()),
            Shape::Prefix(s) => StrMatch::Prefix(s.into()),
            Shape::Suffix(s) => StrMatch::Suffix(s.into()),
            Shape::Contains(s) => StrMatch::Contains(Box::new(memmem::Finder::new(s.as_bytes()).into_owned())),
            Shape::Any => StrMatch::Any,
            Shape::Glob => StrMatch::Glob(pattern.clone()),
        };
        StrTest { matcher, fold, ascii_keyword, needle_non_ascii, caseless }
    }

    /// True for whole-value, prefix and suffix tests.
    fn anchored(&self) -> bool {
        matches!(self.matcher, StrMatch::Exact(_) | StrMatch::Prefix(_) | StrMatch::Suffix(_))
    }

    /// The case-insensitive test on raw ASCII text, without folding it
    /// (folding ASCII is `to_ascii_lowercase`, and the needle is folded).
    /// `None` for substring tests and globs (only anchored tests use this).
    fn matches_ascii(&self, raw: &str) -> Option<bool> {
        if self.needle_non_ascii {
            return Some(matches!(self.matcher, StrMatch::Any));
        }
        let ci = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        Some(match &self.matcher {
            StrMatch::Exact(s) => ci(raw, s),
            StrMatch::Prefix(s) => raw.len() >= s.len() && ci(&raw[..s.len()], s),
            StrMatch::Suffix(s) => raw.len() >= s.len() && ci(&raw[raw.len() - s.len()..], s),
            StrMatch::Any => true,
            StrMatch::Contains(_) | StrMatch::Glob(_) => return None,
        })
    }

    fn matches(&self, text: &str) -> bool {
        match &self.matcher {
            StrMatch::Exact(s) => text == &**s,
            StrMatch::Prefix(s) => text.starts_with(&**s),
            StrMatch::Suffix(s) => text.ends_with(&**s),
            StrMatch::Contains(f) => f.find(text.as_bytes()).is_some(),
            StrMatch::Any => true,
            StrMatch::Glob(p) => p.matches(text),
        }
    }
}

/// Compiled regexes by pattern and flags, so that a regex shared by many
/// rules is compiled once (a `meta::Regex` clone shares its compiled form).
#[derive(Debug, Default)]
pub(crate) struct Regexes {
    compiled: std::collections::HashMap<(String, ReFlags), Regex>,
}

impl Regexes {
    pub(crate) fn compile(&mut self, pattern: &str, flags: ReFlags, config: &Config) -> Result<Regex, Error> {
        if let Some(re) = self.compiled.get(&(pattern.to_string(), flags)) {
            return Ok(re.clone());
        }
        let re = compile_regex(pattern, flags, config)?;
        self.compiled.insert((pattern.to_string(), flags), re.clone());
        Ok(re)
    }
}

fn compile_regex(pattern: &str, flags: ReFlags, config: &Config) -> Result<Regex, Error> {
    let syntax = regex_automata::util::syntax::Config::new()
        .case_insensitive(flags.ignore_case)
        .multi_line(flags.multi_line)
        .dot_matches_new_line(flags.dot_all);
    // No bounded backtracker: it clears a visited set of (NFA states ×
    // haystack) bits per search, which for SigmaHQ's Unicode-class regexes
    // over command lines cost more than the search (measured: memset was 7 %
    // of evaluation). The lazy DFA and PikeVM keep the linear-time bound.
    let meta = regex_automata::meta::Config::new()
        .backtrack(false)
        .nfa_size_limit(Some(config.regex_size_limit))
        .hybrid_cache_capacity(config.regex_cache_capacity);
    // Lowering has checked the syntax; the pattern is compiled trimmed for
    // `is_match`, the only question lazy tests ask of it.
    let hir = regex_automata::util::syntax::parse_with(pattern, &syntax)
        .map_err(|e| Error::new(ErrorKind::Regex, format!("invalid regular expression {pattern:?}: {e}")))?;
    Regex::builder().configure(meta).build_from_hir(&super::trim::for_is_match(hir)).map_err(|e| {
        if let Some(limit) = e.size_limit() {
            Error::limit_exceeded(
                "regex_size_limit",
                limit,
                format!("the regular expression {pattern:?} compiles to more than the limit of {limit} bytes"),
            )
        } else {
            Error::new(ErrorKind::Regex, format!("invalid regular expression {pattern:?}: {e}"))
        }
    })
}

/// Folded texts of the fields lazy predicates have read during one event,
/// so that a field tested by twenty lazy predicates is folded once.
#[derive(Clone, Debug, Default)]
pub(crate) struct Folds {
    generation: u32,
    /// Per target (field index; the last slot is the keywords): the
    /// generation it was folded in, and its range in `ranges`.
    targets: Vec<(u32, u32, u32)>,
    ranges: Vec<(u32, u32)>,
    buf: String,
    pub scratch: String,
    pub scratch2: String,
    /// Ranges of `scratch2` (the other field's texts of a field reference).
    pub scratch_ranges: Vec<(u32, u32)>,
}

impl Folds {
    pub(crate) fn new(fields: usize) -> Folds {
        Folds { targets: vec![(0, 0, 0); fields + 1], ..Folds::default() }
    }

    /// Starts a new event.
    pub(crate) fn begin(&mut self, generation: u32) {
        if generation < self.generation {
            self.targets.iter_mut().for_each(|t| t.0 = 0);
        }
        self.generation = generation;
        self.ranges.clear();
        self.buf.clear();
    }

    /// The folded texts of a target's values (`None` for values without text).
    fn get(&mut self, record: &Record, target: Target) -> impl Iterator<Item = &str> {
        let (slot, values) = match target {
            Target::Field(id) => (id.index(), record.values(id)),
            Target::Keywords => (self.targets.len() - 1, record.keywords()),
        };
        if slot >= self.targets.len() {
            self.targets.resize(slot + 1, (0, 0, 0));
        }
        if self.targets[slot].0 != self.generation {
            let start = self.ranges.len() as u32;
            for v in values.iter().filter(|v| has_text(v)) {
                let from = self.buf.len();
                fold::fold_append(record.text(v), &mut self.buf);
                self.ranges.push((from as u32, self.buf.len() as u32));
            }
            self.targets[slot] = (self.generation, start, self.ranges.len() as u32);
        }
        let (_, a, b) = self.targets[slot];
        let buf = &self.buf;
        self.ranges[a as usize..b as usize].iter().map(move |(s, e)| &buf[*s as usize..*e as usize])
    }
}

/// A case-insensitive substring keyword search (ASCII needle) over every
/// value of the event in one pass over their contiguous text; a match
/// counts only if it lies within one value. `None` when the fast path does
/// not apply.
///
/// The text is searched ASCII-lowercased, which is exact for ASCII values
/// (and cannot match inside a multi-byte character); when that finds
/// nothing, the few non-ASCII values (`Microsoft® Windows®`) are folded and
/// searched one by one, since folding can turn a non-ASCII character into
/// an ASCII one (the Kelvin sign into `k`).
fn keyword_contains(t: &StrTest, record: &Record, scratch: &mut String) -> Option<bool> {
    let (region, values) = record.keyword_region()?;
    let base = values.first()?.start as usize;
    let within = |start: usize, end: usize| {
        // The value holding `start`: the last one starting at or before it.
        let i = values.partition_point(|v| v.start as usize <= base + start);
        i > 0 && has_text(&values[i - 1]) && base + end <= values[i - 1].end as usize
    };
    // The region is ASCII-lowercased once (byte offsets do not move; for
    // ASCII text that is its folding) and searched for the folded needle
    // with memmem, whose rare-byte prefilter skips far more than a
    // case-insensitive searcher's first-byte memchr (`\perfc.dat` starts
    // with the commonest byte of Windows paths). A match that straddles
    // two values resumes one byte later.
    let StrMatch::Contains(finder) = &t.matcher else { return None };
    scratch.clear();
    scratch.push_str(region);
    scratch.make_ascii_lowercase();
    let (hay, len) = (scratch.as_bytes(), finder.needle().len());
    let mut at = 0;
    while let Some(i) = finder.find(&hay[at..]) {
        if within(at + i, at + i + len) {
            return Some(true);
        }
        at += i + 1;
    }
    if region.is_ascii() {
        return Some(false);
    }
    Some(values.iter().filter(|v| has_text(v)).map(|v| record.text(v)).filter(|text| !text.is_ascii()).any(|text| {
        fold::fold_into(text, scratch);
        t.matches(scratch)
    }))
}

fn has_text(v: &ValueRef) -> bool {
    matches!(v.kind, Kind::Str | Kind::Number | Kind::Bool)
}

impl LazyPred {
    pub(crate) fn compile(
        target: Target,
        test: &Test,
        config: &Config,
        regexes: &mut Regexes,
    ) -> Result<LazyPred, Error> {
        let test = match test {
            Test::Null => LazyTest::Null,
            Test::Exists(b) => LazyTest::Exists(*b),
            Test::Str { pattern, case } => LazyTest::Str(StrTest::new(pattern, *case, target == Target::Keywords)),
            Test::Regex { pattern, flags } => {
                let hir = regex_syntax::ParserBuilder::new()
                    .case_insensitive(flags.ignore_case)
                    .multi_line(flags.multi_line)
                    .dot_matches_new_line(flags.dot_all)
                    .build()
                    .parse(pattern)
                    .ok();
                if let Some(run) = hir.as_ref().and_then(char_run) {
                    return Ok(LazyPred { target, test: run });
                }
                let min_len = hir.as_ref().and_then(|h| h.properties().minimum_len()).unwrap_or(0);
                let run = hir.as_ref().and_then(ClassRun::of);
                // The literals are folded. A match's literal, folded, occurs in
                // the folded text; for ASCII text that is its lowercase, so an
                // ASCII-case-insensitive search of the raw text is exact. Other
                // text is searched folded (see `eval`).
                let literals = crate::plan::regex_literals(pattern, *flags);
                let literals = (!literals.is_empty())
                    .then(|| aho_corasick::AhoCorasick::builder().ascii_case_insensitive(true).build(&literals).ok())
                    .flatten();
                let re = regexes.compile(pattern, *flags, config)?;
                LazyTest::Regex(Box::new(RegexTest { re, min_len, run, literals }))
            }
            Test::Cmp { op, value } => LazyTest::Cmp(*op, *value),
            Test::Cidr(net) => LazyTest::Cidr(*net),
            Test::FieldRef { other, position, case } => {
                LazyTest::FieldRef { other: *other, position: *position, case: *case }
            }
            Test::TimePart { part, op, value } => LazyTest::Time(*part, *op, *value),
        };
        Ok(LazyPred { target, test })
    }

    /// What the predicate reads: a field, or every value (keywords).
    pub(crate) fn target(&self) -> Target {
        self.target
    }

    /// False when a regex's cheap necessary conditions (its shortest match,
    /// a class run it needs) fail on every value of its field: then it is
    /// false, decided without the memo's hash of the value, which costs more
    /// than these checks on the distinct command lines of a live stream
    /// (SNAKE's 64 hex digits, tested on every event). True otherwise.
    #[inline]
    pub(crate) fn may_hold(&self, record: &Record) -> bool {
        match (&self.test, self.target) {
            (LazyTest::Regex(r), Target::Field(id)) if r.min_len > 0 || r.run.is_some() => {
                record.values(id).iter().filter(|v| has_text(v)).any(|v| r.candidate(record.text(v)))
            }
            _ => true,
        }
    }

    /// Evaluates the predicate on a record. Folded texts come from (and
    /// go to) `folds`, so evaluation does not allocate once it has grown.
    pub(crate) fn eval(&self, record: &Record, folds: &mut Folds) -> bool {
        let (values, present) = match self.target {
            Target::Field(id) => (record.values(id), record.is_present(id)),
            Target::Keywords => (record.keywords(), true),
        };
        let texts = || values.iter().filter(|v| has_text(v)).map(|v| record.text(v));
        match &self.test {
            LazyTest::Null => !present || values.iter().any(|v| v.kind == Kind::Null),
            LazyTest::Exists(want) => present == *want,
            LazyTest::Str(t) if t.fold && self.target == Target::Keywords && t.ascii_keyword => {
                keyword_contains(t, record, &mut folds.scratch)
                    .unwrap_or_else(|| folds.get(record, self.target).any(|text| t.matches(text)))
            }
            // No letters in the literals: folding would change nothing that matters.
            LazyTest::Str(t) if t.caseless && self.target != Target::Keywords => texts().any(|text| t.matches(text)),
            LazyTest::Str(t) if t.fold && t.anchored() => {
                // Whole-value, prefix and suffix tests compare raw ASCII
                // values in place; other values are folded once per event.
                let mut fast = Some(false);
                for text in texts() {
                    match (text.is_ascii(), fast) {
                        (true, Some(false)) => fast = t.matches_ascii(text),
                        (false, _) => fast = None,
                        _ => {}
                    }
                }
                match fast {
                    Some(hit) => hit,
                    None => folds.get(record, self.target).any(|text| t.matches(text)),
                }
            }
            // Substring tests search the field's folded text, folded once per
            // event for every lazy test of the field: measured faster than an
            // ASCII-case-insensitive search of the raw text per test.
            LazyTest::Str(t) if t.fold => folds.get(record, self.target).any(|text| t.matches(text)),
            LazyTest::Str(t) => texts().any(|text| t.matches(text)),
            LazyTest::Regex(r) => match &r.literals {
                None => texts().any(|text| r.candidate(text) && r.re.is_match(text)),
                Some(p) if values.iter().all(|v| !has_text(v) || record.text(v).is_ascii()) => {
                    texts().any(|text| r.candidate(text) && p.is_match(text) && r.re.is_match(text))
                }
                // Non-ASCII text: the literals are searched in its folding.
                Some(p) => texts()
                    .zip(folds.get(record, self.target))
                    .any(|(text, folded)| p.is_match(folded) && r.candidate(text) && r.re.is_match(text)),
            },
            LazyTest::Run { min, dot_all } => texts().any(|text| has_run(text, *min, *dot_all)),
            LazyTest::Cmp(op, n) => values.iter().any(|v| record.value(v).as_number().is_some_and(|x| op.apply(x, *n))),
            LazyTest::Cidr(net) => values.iter().any(|v| record.value(v).as_ip().is_some_and(|ip| net.contains(&ip))),
            LazyTest::Time(part, op, n) => {
                values.iter().any(|v| record.value(v).time_part(*part).is_some_and(|x| op.apply(x, *n)))
            }
            LazyTest::FieldRef { other, position, case } => {
                // The common case, one ASCII value on each side of a whole,
                // prefix or suffix reference: compared in place (ASCII
                // folding is ASCII lowercasing).
                if let ([a], [b]) = (values, record.values(*other))
                    && *position != Position::Contains
                    && has_text(a)
                    && has_text(b)
                    && (*case == Case::Sensitive || (record.text(a).is_ascii() && record.text(b).is_ascii()))
                {
                    let (mine, theirs) = (record.text(a).as_bytes(), record.text(b).as_bytes());
                    let eq =
                        |x: &[u8], y: &[u8]| if *case == Case::Sensitive { x == y } else { x.eq_ignore_ascii_case(y) };
                    return match position {
                        Position::Exact => eq(mine, theirs),
                        Position::Prefix => mine.len() >= theirs.len() && eq(&mine[..theirs.len()], theirs),
                        Position::Suffix | Position::Contains => {
                            mine.len() >= theirs.len() && eq(&mine[mine.len() - theirs.len()..], theirs)
                        }
                    };
                }
                // The other field's texts are loaded (folded) once, then
                // every value of this field is compared with them: sorted
                // and binary-searched for whole-value references, so that
                // two fields of 100,000-element arrays cost n log n and not
                // 10^10 comparisons. Prefix, suffix and contains references
                // compare every pair: their cost is the product of the two
                // fields' value counts (no SigmaHQ rule uses them).
                let Folds { scratch, scratch2, scratch_ranges, .. } = folds;
                let load = |s: &str, buf: &mut String| {
                    if *case == Case::Insensitive {
                        fold::fold_append(s, buf);
                    } else {
                        buf.push_str(s);
                    }
                };
                scratch2.clear();
                scratch_ranges.clear();
                for v in record.values(*other).iter().filter(|v| has_text(v)) {
                    let from = scratch2.len();
                    load(record.text(v), scratch2);
                    scratch_ranges.push((from as u32, scratch2.len() as u32));
                }
                let theirs = scratch2.as_str();
                let text_of = |r: &(u32, u32)| &theirs[r.0 as usize..r.1 as usize];
                if *position == Position::Exact && scratch_ranges.len() > 1 {
                    scratch_ranges.sort_unstable_by(|a, b| text_of(a).cmp(text_of(b)));
                }
                texts().any(|mine| {
                    scratch.clear();
                    load(mine, scratch);
                    let a = scratch.as_str();
                    match position {
                        Position::Exact => scratch_ranges.binary_search_by(|r| text_of(r).cmp(a)).is_ok(),
                        Position::Prefix => scratch_ranges.iter().any(|r| a.starts_with(text_of(r))),
                        Position::Suffix => scratch_ranges.iter().any(|r| a.ends_with(text_of(r))),
                        Position::Contains => {
                            scratch_ranges.iter().any(|r| memmem::find(a.as_bytes(), text_of(r).as_bytes()).is_some())
                        }
                    }
                })
            }
        }
    }
}

/// `Some(Run)` if `hir` is exactly `.{n,}` (greedy or lazy; `.` with or
/// without the `s` flag), the shape of SigmaHQ's long-command-line tests.
fn char_run(hir: &regex_syntax::hir::Hir) -> Option<LazyTest> {
    use regex_syntax::hir::{Class, ClassUnicode, ClassUnicodeRange, HirKind};
    let HirKind::Repetition(rep) = hir.kind() else { return None };
    let (min, None) = (rep.min, rep.max) else { return None };
    let HirKind::Class(Class::Unicode(class)) = rep.sub.kind() else { return None };
    let any = ClassUnicode::new([ClassUnicodeRange::new('\0', char::MAX)]);
    let not_nl = ClassUnicode::new([ClassUnicodeRange::new('\0', '\x09'), ClassUnicodeRange::new('\x0B', char::MAX)]);
    let dot_all = if *class == any {
        true
    } else if *class == not_nl {
        false
    } else {
        return None;
    };
    Some(LazyTest::Run { min: usize::try_from(min).ok()?, dot_all })
}

/// Whether `text` has a run of at least `min` characters other than `\n`
/// (any characters when `dot_all`).
fn has_run(text: &str, min: usize, dot_all: bool) -> bool {
    if text.len() < min {
        return false;
    }
    if dot_all {
        return min == 0 || text.chars().nth(min - 1).is_some();
    }
    text.split('\n').any(|line| line.len() >= min && (min == 0 || line.chars().nth(min - 1).is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The skipping scan agrees with counting the current run byte by byte.
    #[test]
    fn class_run_skipping_scan_agrees_with_the_naive_count() {
        let naive = |run: &ClassRun, text: &str| {
            let mut n = 0;
            text.bytes().any(|b| {
                n = if b < 128 && run.class[usize::from(b)] { n + 1 } else { 0 };
                n >= run.min
            })
        };
        let hir = regex_syntax::parse(r"\s[a-fA-F0-9]{8}\s").unwrap();
        let run = ClassRun::of(&hir).expect("a run of 8 hex digits");
        assert_eq!(run.min, 8);
        // Every string of up to 11 characters over a hex digit, a non-hex
        // letter and a non-ASCII letter, and a few longer ones.
        let alphabet = ['a', 'x', 'é'];
        let mut texts: Vec<String> = Vec::new();
        for len in 0..=11u32 {
            for mut code in 0..3usize.pow(len) {
                let mut t = String::new();
                for _ in 0..len {
                    t.push(alphabet[code % 3]);
                    code /= 3;
                }
                texts.push(t);
            }
        }
        texts.extend((0..40).map(|i| format!("{}{}", "0a".repeat(i % 5), "x0".repeat(i))));
        for t in &texts {
            assert_eq!(run.occurs(t), naive(&run, t), "{t:?}");
        }
    }
}
