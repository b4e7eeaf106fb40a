//! Rule bundles: a compiled pack as bytes, to compile once and load without
//! parsing YAML, lowering, planning or building automata (`sigmata compile`,
//! then `scan --bundle`).
//!
//! A bundle holds the *planned* engine: the loaded rules (metadata for
//! alerts, the rule documents for `explain`, their IR), the field table, the
//! plan (shared predicates, literal sets, witness groups, jump programs),
//! the literal automata, the placeholders the rules were lowered with, and
//! the correlations that resolved. Loading decodes the plan and loads the
//! automata; each rule is decoded on first use (an alert, `explain`), each
//! lazy test (a regex) is compiled on first use, and each scanned predicate
//! (decided by its literal, so never read by evaluation) is decoded only to
//! be displayed, so that a loaded pack is ready to scan in a few
//! milliseconds (see BENCHMARKS.md "Bundles").
//!
//! # Format (version 4)
//!
//! ```text
//! magic        8 bytes  b"SGMTBNDL"
//! format       u32 LE   FORMAT_VERSION
//! version      u8 length + bytes: the sigmata version that wrote it
//! built-with   u32 LE length + postcard: the Config limits, logsource, automaton
//! rest         u64 LE length + postcard: rules (each its own byte string,
//!              LZ4-compressed, see `ir::encoded`),
//!              the plan but its predicates and literal sets, the predicates
//!              (a lazy one as itself, a scanned one as a byte string),
//!              placeholders, correlations, label
//! matching     u64 LE length + postcard: the field table, the literal sets
//!              (flat, `plan::Literals`) and the daachorse automata by field
//!              (each a byte string)
//! checksum     32 bytes: BLAKE3 of everything before it
//! ```
//!
//! The matching part is decoded first; then, with two threads, one checks
//! the automata against the literals while the other computes the checksum,
//! decodes and checks the rest and builds the engine's tables from it.
//! [`Bundle::from_vec`] keeps the bundle's bytes and decodes each rule from
//! them on first use instead of copying the rules out.
//!
//! # A bundle is input
//!
//! [`Bundle::from_bytes`] refuses, with an [`ErrorKind::Bundle`] error and
//! never a panic, anything that is not exactly what this version of sigmata
//! writes: another magic, format or sigmata version, a length that does not
//! fit, trailing bytes, a checksum mismatch, limits above the loader's
//! [`Config`], a payload that does not decode to the end. The checksum only
//! catches damage, not forgery (sign bundles for that), so a well-checksummed
//! but hand-made payload is then checked like a rule pack: every field id,
//! predicate id, literal list, witness group and jump target is checked to
//! be in range (jumps only go backwards, so programs end), and each
//! automaton is checked to be exactly the Aho-Corasick automaton of its
//! field's literals (`exec::daac`: daachorse's own check guards memory
//! safety, not termination). Expressions and YAML trees are decoded without
//! recursion and with a depth bound (`ir::FlatExpr`, `yaml::FlatYaml`), and
//! correlations are resolved again against the rules. Decoding allocates in
//! proportion to the input: every element of a decoded list takes at least
//! one byte, and postcard checks lengths against the bytes left.
//!
//! Three checks happen on first use instead, and a hand-made bundle that
//! fails them does not fail to load: a rule whose bytes do not decode, or
//! name a field outside the table, reads as a rule titled "rule N of the
//! bundle does not decode" (matching is decided by the plan, never by the
//! rule document); a scanned predicate whose bytes do not decode to exactly
//! the test its literal decides displays as "(predicate N of the bundle
//! does not decode)" (its literal decides it all the same); and a regex
//! that does not compile under the limits makes its test false. A bundle
//! sigmata wrote never has any of them: its regexes compiled under the same
//! limits when it was written.

use std::collections::HashMap;
use std::sync::Arc;

use crate::AutomatonKind;
use crate::config::Config;
use crate::correlate::Correlations;
use crate::error::{Error, ErrorKind};
use crate::exec::Engine;
use crate::exec::engine::{Assembly, EncodedRules, RuleSource, matcher_jobs};
use crate::front::rule::Correlation;
use crate::front::rule::LogSource;
use crate::ir::{FieldTable, Placeholders, Pred};
use crate::plan::{ACCEPT, At, Decider, Literals, Plan, PlanPred, PredRef, Preds, REJECT};

/// The first bytes of every bundle.
pub const MAGIC: [u8; 8] = *b"SGMTBNDL";
/// The layout version this sigmata writes and reads.
pub const FORMAT_VERSION: u32 = 4;
/// The sigmata version that writes bundles; a bundle of another version is
/// refused, since the plan's meaning may change between versions.
pub const SIGMATA_VERSION: &str = env!("CARGO_PKG_VERSION");

const CHECKSUM_BYTES: usize = 32;

/// A compiled engine with its correlations and a free-form label (the CLI
/// stores the digest of the rule files it was compiled from), ready to be
/// written as bytes or read back.
///
/// ```
/// use sigmata::{Builder, Config, bundle::Bundle};
///
/// let rule = "title: t\nlogsource: {category: process_creation}\n\
///             detection: {sel: {Image|endswith: '\\x.exe'}, condition: sel}\n";
/// let (engine, _) = Builder::new().add_source("t.yml", rule).build();
/// let bytes = Bundle::new(engine).label("example").to_bytes();
/// let loaded = Bundle::from_bytes(&bytes, &Config::new()).unwrap();
/// assert_eq!(loaded.engine().len(), 1);
/// assert_eq!(loaded.get_label(), "example");
/// ```
#[derive(Clone, Debug)]
pub struct Bundle {
    engine: Engine,
    correlations: Correlations,
    label: String,
}

/// What the engine was built with, in the envelope so that a loader can
/// refuse limits above its own before decoding the payload.
#[derive(serde::Serialize, serde::Deserialize)]
struct BuiltWith {
    /// `(Config setting, value)`, in the order of [`limits`].
    limits: Vec<(String, u64)>,
    logsource: Option<LogSource>,
    automaton: AutomatonKind,
}

/// The limits of a `Config`, named as its settings are.
fn limits(c: &Config) -> [(&'static str, usize); 11] {
    [
        ("max_rule_bytes", c.max_rule_bytes),
        ("max_field_dots", c.max_field_dots),
        ("max_values_per_item", c.max_values_per_item),
        ("max_modifiers", c.max_modifiers),
        ("max_expansion", c.max_expansion),
        ("max_expansion_bytes", c.max_expansion_bytes),
        ("max_condition_depth", c.max_condition_depth),
        ("regex_size_limit", c.regex_size_limit),
        ("regex_cache_capacity", c.regex_cache_capacity),
        ("value_cache_entries", c.value_cache_entries),
        ("value_cache_bytes", c.value_cache_bytes),
    ]
}

/// The first part of the payload as written (borrowed) ...
#[derive(serde::Serialize)]
struct RestRef<'a> {
    rules: Vec<Raw<&'a [u8]>>,
    /// Without its predicates and literal sets (not serialized).
    plan: &'a Plan,
    preds: Vec<PredOut<'a>>,
    placeholders: &'a Placeholders,
    correlations: Vec<&'a Correlation>,
    label: &'a str,
}

/// ... and as read (owned, but for the rules): the same fields in the same
/// order.
#[derive(serde::Deserialize)]
struct Rest<'a> {
    /// Each rule as `LoadedRule::encode` wrote it, decoded on first use.
    #[serde(borrow)]
    rules: Vec<&'a [u8]>,
    plan: Plan,
    #[serde(borrow)]
    preds: PredsIn<'a>,
    placeholders: Placeholders,
    correlations: Vec<Correlation>,
    label: String,
}

/// A predicate as written: a lazy one (which evaluation computes) as
/// itself, a scanned one (which its literal decides) as its postcard bytes,
/// decoded only to be displayed (`plan::Preds`) ...
#[derive(serde::Serialize)]
enum PredOut<'a> {
    Lazy(&'a Pred),
    /// (Encoded when the engine was compiled, kept when it was loaded.)
    Scanned(Raw<std::borrow::Cow<'a, [u8]>>),
}

/// ... and as read.
#[derive(serde::Deserialize)]
enum PredIn<'a> {
    Lazy(Pred),
    #[serde(borrow)]
    Scanned(&'a [u8]),
}

/// The predicates as read: the lazy ones decoded, the scanned ones' bytes
/// (the `n`th kept predicate's in `kept[n]`), read one by one so that no
/// list of decoded predicates is made for them.
struct PredsIn<'a> {
    preds: Preds,
    kept: Vec<&'a [u8]>,
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for PredsIn<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = PredsIn<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of predicates")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<PredsIn<'a>, A::Error> {
                let mut out = PredsIn { preds: Preds::default(), kept: Vec::new() };
                while let Some(p) = seq.next_element::<PredIn<'a>>()? {
                    let room = match p {
                        PredIn::Lazy(pred) => out.preds.push(PlanPred { pred, lazy: true }),
                        PredIn::Scanned(bytes) => {
                            out.kept.push(bytes);
                            out.preds.push_kept()
                        }
                    };
                    if !room {
                        return Err(serde::de::Error::custom("too many predicates"));
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_seq(Visit(std::marker::PhantomData))
    }
}

/// The second part, decoded first: what the literal matchers are loaded
/// from, so that the automata are checked while the rest decodes.
#[derive(serde::Serialize)]
struct MatchingRef<'a> {
    fields: &'a FieldTable,
    literals: &'a [Arc<Literals>],
    automata: Vec<(u32, Raw<&'a [u8]>)>,
}

#[derive(serde::Deserialize)]
struct Matching<'a> {
    fields: FieldTable,
    /// The literal sets, by field index.
    literals: Vec<Arc<Literals>>,
    /// The saved literal automata, by field index (see `exec::daac`).
    #[serde(borrow)]
    automata: Vec<(u32, &'a [u8])>,
}

/// Bytes written as one postcard byte string (serde writes a `&[u8]` as a
/// sequence, one call per byte), read back as a borrowed `&[u8]`.
struct Raw<B>(B);

impl<B: AsRef<[u8]>> serde::Serialize for Raw<B> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0.as_ref())
    }
}

fn refuse(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Bundle, message)
}

/// Reads the envelope front to back, every length checked against what is left.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], Error> {
        if n > self.bytes.len() {
            return Err(refuse(format!("truncated: {what} needs {n} bytes, {} left", self.bytes.len())));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    /// A part of the payload: a u64 LE length, then that many bytes.
    fn part(&mut self, what: &str) -> Result<&'a [u8], Error> {
        let n = u64::from_le_bytes(self.array(&format!("the length of {what}"))?);
        let n = usize::try_from(n).map_err(|_| refuse(format!("truncated: the length of {what} exceeds the input")))?;
        self.take(n, what)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], Error> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }
}

impl Bundle {
    /// A bundle of `engine`, without correlations and with an empty label.
    pub fn new(engine: Engine) -> Bundle {
        Bundle { engine, correlations: Correlations::default(), label: String::new() }
    }

    /// Adds the correlations resolved against this bundle's engine (as
    /// [`Builder::build_correlated`](crate::Builder::build_correlated) returns them).
    pub fn correlations(mut self, correlations: Correlations) -> Bundle {
        self.correlations = correlations;
        self
    }

    /// Sets a free-form label stored with the bundle (for example the
    /// digest of the rule files it was compiled from).
    pub fn label(mut self, label: impl Into<String>) -> Bundle {
        self.label = label.into();
        self
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The correlations.
    pub fn get_correlations(&self) -> &Correlations {
        &self.correlations
    }

    /// The label.
    pub fn get_label(&self) -> &str {
        &self.label
    }

    /// The engine, the correlations and the label.
    pub fn into_parts(self) -> (Engine, Correlations, String) {
        (self.engine, self.correlations, self.label)
    }

    /// The bundle as bytes (see the module docs for the layout). The same
    /// pack compiled twice gives the same bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let (fields, plan, placeholders, config) = self.engine.bundle_parts();
        let automata = self.engine.saved_automata();
        let rules: Vec<Vec<u8>> = self.engine.rules().map(|(_, r)| r.encode()).collect();
        // A scanned predicate is written as its bytes: those a loaded
        // bundle kept, or encoded here.
        let preds = (0..plan.preds.len())
            .filter_map(|id| {
                Some(match plan.preds.get(id)? {
                    PredRef::Decoded(p) if p.lazy => PredOut::Lazy(&p.pred),
                    // OK: postcard serializes every predicate to a Vec.
                    PredRef::Decoded(p) => {
                        PredOut::Scanned(Raw(postcard::to_allocvec(&p.pred).unwrap_or_default().into()))
                    }
                    PredRef::Kept(k, _) => PredOut::Scanned(Raw(self.engine.kept_pred(k).into())),
                })
            })
            .collect();
        let built = BuiltWith {
            limits: limits(config).iter().map(|(n, v)| (n.to_string(), *v as u64)).collect(),
            logsource: config.logsource.clone(),
            automaton: config.automaton,
        };
        let rest = RestRef {
            rules: rules.iter().map(|r| Raw(r.as_slice())).collect(),
            plan,
            preds,
            placeholders,
            correlations: self.correlations.rules().iter().map(|c| &c.doc).collect(),
            label: &self.label,
        };
        let matching = MatchingRef {
            fields,
            literals: &plan.literals,
            automata: automata.iter().map(|(f, bytes)| (*f, Raw(bytes.as_slice()))).collect(),
        };
        // OK: postcard only fails to serialize types it does not support
        // (none here) or when a fixed-size buffer is full (a Vec grows).
        let built = postcard::to_allocvec(&built).unwrap_or_default();
        let rest = postcard::to_allocvec(&rest).unwrap_or_default();
        let matching = postcard::to_allocvec(&matching).unwrap_or_default();
        let mut out = Vec::with_capacity(built.len() + rest.len() + matching.len() + 128);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.push(SIGMATA_VERSION.len() as u8);
        out.extend_from_slice(SIGMATA_VERSION.as_bytes());
        out.extend_from_slice(&(built.len() as u32).to_le_bytes());
        out.extend_from_slice(&built);
        for part in [rest, matching] {
            out.extend_from_slice(&(part.len() as u64).to_le_bytes());
            out.extend_from_slice(&part);
        }
        let sum = blake3::hash(&out);
        out.extend_from_slice(sum.as_bytes());
        out
    }

    /// Reads a bundle written by [`to_bytes`](Bundle::to_bytes), refusing
    /// it if it is damaged, of another format or sigmata version, or was
    /// built with a limit above `config`'s. The engine runs with the limits
    /// it was built with; `config` also gives the frequency model.
    pub fn from_bytes(bytes: &[u8], config: &Config) -> Result<Bundle, Error> {
        Bundle::load(bytes, config, false)?.finish(None)
    }

    /// [`from_bytes`](Bundle::from_bytes) without copying the rules: the
    /// engine keeps `bytes` and decodes each rule from them on first use
    /// (the SigmaHQ Windows pack's rules are 1.5 MB of its 3.8 MB bundle).
    pub fn from_vec(bytes: Vec<u8>, config: &Config) -> Result<Bundle, Error> {
        Bundle::load(&bytes, config, true)?.finish(Some(bytes))
    }

    /// Everything [`from_bytes`](Bundle::from_bytes) does but setting the
    /// rule bytes, which are copied, or left to be set to `bytes` itself
    /// when `in_place`.
    fn load(bytes: &[u8], config: &Config, in_place: bool) -> Result<Loaded, Error> {
        let mut r = Reader { bytes };
        if r.take(MAGIC.len(), "the magic").ok() != Some(&MAGIC[..]) {
            return Err(refuse("not a sigmata rule bundle (wrong magic bytes)"));
        }
        let format = u32::from_le_bytes(r.array("the format version")?);
        if format != FORMAT_VERSION {
            return Err(refuse(format!(
                "bundle format version {format}, this sigmata reads version {FORMAT_VERSION}: compile the rules again"
            )));
        }
        let [n] = r.array::<1>("the sigmata version")?;
        let version = r.take(n as usize, "the sigmata version")?;
        if version != SIGMATA_VERSION.as_bytes() {
            return Err(refuse(format!(
                "built by sigmata {}, this is sigmata {SIGMATA_VERSION}: compile the rules again",
                String::from_utf8_lossy(version)
            )));
        }
        let n = u32::from_le_bytes(r.array("the length of the limits")?);
        let built = r.take(n as usize, "the limits")?;
        let rest = r.part("the rules and the plan")?;
        let matching = r.part("the literal sets and automata")?;
        let sum = r.take(CHECKSUM_BYTES, "the checksum")?;
        if !r.bytes.is_empty() {
            return Err(refuse(format!("{} bytes after the checksum", r.bytes.len())));
        }
        // Decoding never trusts the bytes, so the checksum is computed on
        // another thread meanwhile; a mismatch is reported before any other
        // error.
        let summed = || blake3::hash(&bytes[..bytes.len() - CHECKSUM_BYTES]).as_bytes() == sum;
        let checked = |result: Result<_, Error>| match result {
            Err(_) if !summed() => Err(refuse("checksum mismatch: the bundle is damaged")),
            other => other,
        };
        // The limits and the literal sets first; then this thread checks
        // the automata against the literals while another computes the
        // checksum and decodes the rest.
        let (engine_config, matching) = checked(decode_matching(built, matching, config))?;
        let mut jobs = matcher_jobs(&matching.fields, &matching.literals);
        for &(f, bytes) in &matching.automata {
            // In range and each field once (`decode_matching`).
            jobs[f as usize].2 = Some(bytes);
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(2);
        // The automata, largest first: this thread takes them from the
        // largest, the other, which starts later and has the rest to do
        // first, from the smallest, so that the two end together.
        jobs.sort_by_key(|(_, _, saved)| std::cmp::Reverse(saved.map_or(0, <[u8]>::len)));
        let build = |job| crate::exec::engine::build_matchers(std::slice::from_ref(job), &engine_config);
        let queue = std::sync::Mutex::new(0..jobs.len());
        let load = |smallest_first: bool| {
            let mut done = Vec::new();
            loop {
                // (Nothing panics holding the lock; a poisoned one is as good.)
                let mut left = queue.lock().unwrap_or_else(|e| e.into_inner());
                let next = if smallest_first { left.next_back() } else { left.next() };
                drop(left);
                match next {
                    Some(i) => done.push(build(&jobs[i])),
                    None => break done,
                }
            }
        };
        // The rest is decoded, checked and made into the engine's tables
        // (rules are decoded and regexes compiled on first use: the regexes
        // compiled when the pack was compiled, with the same limits and the
        // same sigmata).
        let prepare = || -> Result<(Assembly, Vec<Correlation>, String), Error> {
            let mut rest: Rest = decode(rest, "the rules and the plan")?;
            validate(&mut rest, matching.fields.len(), &matching.literals)?;
            let Rest { rules, mut plan, preds, placeholders, correlations, label } = rest;
            plan.preds = preds.preds;
            plan.literals = matching.literals.clone();
            let rules = RuleSource::Encoded(if in_place {
                EncodedRules::within(bytes, &rules, &preds.kept)
            } else {
                EncodedRules::new(&rules, &preds.kept)
            });
            let fields = matching.fields.clone();
            Ok((Engine::prepare(rules, fields, plan, &engine_config, &placeholders, None), correlations, label))
        };
        let (intact, prepared, matchers) = if threads > 1 {
            // A new thread takes up to a few milliseconds to start here (2
            // vCPUs), so it gets the checksum and the rest, then helps with
            // the automata this thread started on.
            std::thread::scope(|scope| {
                let other = scope.spawn(|| (summed(), prepare(), load(true)));
                let mut mine = load(false);
                // OK: none of them panics; if one did, all is done again here.
                match other.join() {
                    Ok((intact, prepared, theirs)) => {
                        mine.extend(theirs);
                        (intact, prepared, mine)
                    }
                    Err(_) => (summed(), prepare(), jobs.iter().map(build).collect()),
                }
            })
        } else {
            (summed(), prepare(), load(false))
        };
        if !intact {
            return Err(refuse("checksum mismatch: the bundle is damaged"));
        }
        let (assembly, correlations, label) = prepared?;
        // The first refused field in field order, whichever thread saw it.
        let (mut built, mut refused) = (Vec::new(), None::<(crate::ir::FieldId, String)>);
        for result in matchers {
            match result {
                Ok(m) => built.extend(m),
                Err(e) if refused.as_ref().is_none_or(|(f, _)| e.0 < *f) => refused = Some(e),
                Err(_) => {}
            }
        }
        if let Some((f, e)) = refused {
            return Err(refuse(format!(
                "the literal automaton of field '{}' is not the automaton of its literals: {e}",
                matching.fields.name(f)
            )));
        }
        built.sort_by_key(|(id, _)| id.index());
        Ok(Loaded { assembly, matchers: built, correlations, label })
    }
}

/// A bundle decoded and checked but for its correlations, whose rule bytes
/// are still to be set when they are decoded in place.
struct Loaded {
    assembly: Assembly,
    matchers: Vec<(crate::ir::FieldId, crate::exec::matcher::FieldMatcher)>,
    correlations: Vec<Correlation>,
    label: String,
}

impl Loaded {
    fn finish(self, bytes: Option<Vec<u8>>) -> Result<Bundle, Error> {
        let Loaded { mut assembly, matchers, correlations, label } = self;
        if let Some(bytes) = bytes {
            assembly.set_rule_bytes(bytes);
        }
        let engine = assembly.finish(matchers);
        if !engine.is_complete() {
            return Err(refuse("a field with literals has no automaton"));
        }
        let count = correlations.len();
        let (correlations, errors) = Correlations::resolve(&engine, correlations, &HashMap::new());
        if let Some((_, e)) = errors.first() {
            return Err(refuse(format!("a correlation does not resolve: {}", e.message())));
        }
        if correlations.len() != count {
            return Err(refuse("a correlation does not resolve"));
        }
        Ok(Bundle { engine, correlations, label })
    }
}

/// Decodes and checks the limits, and decodes the field table and its
/// literal sets, checked to lie inside their tables, one per field.
fn decode_matching<'a>(built: &[u8], matching: &'a [u8], config: &Config) -> Result<(Config, Matching<'a>), Error> {
    let built: BuiltWith = decode(built, "the limits")?;
    let engine_config = check_limits(&built, config)?;
    let matching: Matching = decode(matching, "the literal sets and automata")?;
    if matching.literals.len() != matching.fields.len() {
        return Err(refuse("the literal sets do not match the field table"));
    }
    if !matching.literals.iter().all(|l| l.is_well_formed()) {
        return Err(refuse("a literal is empty or outside its set's table"));
    }
    let mut seen = vec![false; matching.fields.len()];
    for &(f, _) in &matching.automata {
        match seen.get_mut(f as usize) {
            Some(seen @ false) => *seen = true,
            _ => return Err(refuse("an automaton names a field that is not in the table, or a field twice")),
        }
    }
    Ok((engine_config, matching))
}

/// Decodes all of `bytes` as a `T`.
fn decode<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8], what: &str) -> Result<T, Error> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(refuse(format!("{what}: {} bytes left over after decoding", rest.len()))),
        Err(e) => Err(refuse(format!("{what} does not decode: {e}"))),
    }
}

/// The configuration the engine runs with: the bundle's limits (refused if
/// above the loader's), logsource and automaton, the loader's frequency model.
fn check_limits(built: &BuiltWith, config: &Config) -> Result<Config, Error> {
    let mine = limits(config);
    if built.limits.len() != mine.len() || built.limits.iter().zip(&mine).any(|((a, _), (b, _))| a != b) {
        return Err(refuse("the bundle's list of limits is not this sigmata's"));
    }
    let mut out = config.clone();
    for ((name, value), (_, max)) in built.limits.iter().zip(mine) {
        if *value > max as u64 {
            return Err(refuse(format!(
                "built with {name} = {value}, above this loader's limit of {max} (Config::{name})"
            )));
        }
        // OK: at most `max`, a usize.
        let value = usize::try_from(*value).unwrap_or(max);
        let slot = match name.as_str() {
            "max_rule_bytes" => &mut out.max_rule_bytes,
            "max_field_dots" => &mut out.max_field_dots,
            "max_values_per_item" => &mut out.max_values_per_item,
            "max_modifiers" => &mut out.max_modifiers,
            "max_expansion" => &mut out.max_expansion,
            "max_expansion_bytes" => &mut out.max_expansion_bytes,
            "max_condition_depth" => &mut out.max_condition_depth,
            "regex_size_limit" => &mut out.regex_size_limit,
            "regex_cache_capacity" => &mut out.regex_cache_capacity,
            "value_cache_entries" => &mut out.value_cache_entries,
            _ => &mut out.value_cache_bytes,
        };
        *slot = value;
    }
    out.logsource = built.logsource.clone();
    out.automaton = built.automaton;
    Ok(out)
}

/// Checks that every index of the payload is in range and every program
/// ends, so that no bundle can make evaluation index out of bounds or loop,
/// and sets the literal that decides each scanned predicate.
fn validate(p: &mut Rest, nf: usize, literals: &[Arc<Literals>]) -> Result<(), Error> {
    let preds = &mut p.preds.preds;
    if !preds.decoded().iter().all(|p| p.pred.fields_within(nf)) {
        return Err(refuse("a predicate names a field that is not in the table"));
    }
    // Each scanned predicate is decided by exactly one literal.
    for (f, lits) in literals.iter().enumerate() {
        for i in 0..lits.len() {
            let ids = lits.ids(i);
            for (at, ids) in [
                (At::Anywhere, ids.anywhere),
                (At::Prefix, ids.prefix),
                (At::Exact, ids.exact),
                (At::Suffix, ids.suffix),
            ] {
                // OK: below the length of a table of u32 offsets.
                let decider = Decider { field: field_id(f), literal: i as u32, at };
                if !ids.iter().all(|id| preds.decide(id.index(), decider)) {
                    return Err(refuse(
                        "a literal names a predicate that is not scanned, or that another literal decides",
                    ));
                }
            }
        }
    }
    if !preds.all_decided() {
        return Err(refuse("a scanned predicate has no literal"));
    }
    let plan = &p.plan;
    let preds = &p.preds.preds;
    if plan.rules.len() != p.rules.len() {
        return Err(refuse("the plan has not one entry per rule"));
    }
    let nops = plan.ops.len();
    let target_ok = |t: u32, before: usize| t == ACCEPT || t == REJECT || (t as usize) < before;
    for r in &plan.rules {
        if !target_ok(r.start, nops) {
            return Err(refuse("a rule program starts outside the program table"));
        }
        let group_ok =
            |g: &Vec<crate::plan::PredId>| !g.is_empty() && g.iter().all(|id| preds.is_lazy(id.index()) == Some(false));
        if !r.groups.iter().all(group_ok) {
            return Err(refuse("a witness group is empty or names a predicate that is not scanned"));
        }
    }
    // Correlations are resolved again on load; their numbers are held to
    // what the parser accepts, since the correlator relies on it.
    for c in &p.correlations {
        let numbers_ok = crate::front::rule::parse_timespan(&c.timespan) == Some(c.timespan_ms)
            && (0.0..=100.0).contains(&c.percentile)
            && c.condition.iter().all(|(_, t)| t.is_finite());
        if !numbers_ok {
            return Err(refuse(format!(
                "correlation '{}' has a timespan, percentile or threshold out of range",
                c.title
            )));
        }
    }
    for (i, op) in plan.ops.iter().enumerate() {
        // Jumps go backwards only (the planner emits the code of what
        // follows first), so every program ends.
        let pred_ok = preds.is_lazy(op.pred as usize) == Some(op.lazy);
        if !pred_ok || !target_ok(op.t, i) || !target_ok(op.f, i) {
            return Err(refuse(format!("program instruction {i} is out of range")));
        }
    }
    Ok(())
}

/// The id of field index `i` (`i` < the table's length, below 2^32).
fn field_id(i: usize) -> crate::ir::FieldId {
    crate::ir::FieldId::from_index(i)
}

impl Engine {
    /// The engine as a rule bundle (without correlations; see [`Bundle`]).
    pub fn to_bundle(&self) -> Vec<u8> {
        Bundle::new(self.clone()).to_bytes()
    }

    /// Reads an engine from a rule bundle, with the default [`Config`]'s
    /// limits as the most it accepts (see [`Bundle::from_bytes`], which also
    /// returns the bundle's correlations; here they are checked and dropped).
    pub fn from_bundle(bytes: &[u8]) -> Result<Engine, Error> {
        Bundle::from_bytes(bytes, &Config::new()).map(|b| b.engine)
    }
}
