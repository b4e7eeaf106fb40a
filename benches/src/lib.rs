//! Data loading shared by the benchmarks: rule packs and event corpora.
//!
//! The SigmaHQ pack and the real corpora live in `../shared` (outside the
//! repository); benchmarks that need them are skipped with a message when
//! it is absent.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use sigmata::{Builder, Config, Engine, MatchSet, Record};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `../shared`, if present.
pub fn shared() -> Option<PathBuf> {
    let p = root().join("../shared");
    p.join("sigma/rules").is_dir().then_some(p)
}

/// A rule pack: (origin, text) of every rule file.
pub type Pack = Vec<(String, String)>;

fn read_pack(dirs: &[PathBuf]) -> Pack {
    let mut pack = Vec::new();
    for d in dirs {
        for f in sigmata_cli::rules::rule_files(d).unwrap_or_default() {
            if let Ok(text) = std::fs::read_to_string(&f) {
                pack.push((f.display().to_string(), text));
            }
        }
    }
    pack
}

/// The project's own pack (`rules/`).
pub fn own_pack() -> Pack {
    read_pack(&[root().join("rules")])
}

/// The events of the project pack's sidecar tests (`rules/**/*.tests.yml`,
/// true positives then true negatives of each file, in path order) as JSON
/// lines: a corpus on which the pack matches, so that the instruction
/// gate's match count means something (the generated corpus matches none
/// of the pack's rules).
pub fn own_sidecar_events() -> Vec<String> {
    let mut lines = Vec::new();
    let files = sigmata_cli::rules::sidecar_files(&root().join("rules")).expect("readable rules/");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let docs = sigmata::yaml::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for doc in docs {
            for key in ["true_positives", "true_negatives"] {
                if let Some(sigmata::yaml::Yaml::Seq(items)) = doc.value.get(key) {
                    lines.extend(
                        items
                            .iter()
                            .filter_map(|i| i.get("event"))
                            .map(|e| sigmata_cli::rules::yaml_to_json(e).to_string()),
                    );
                }
            }
        }
    }
    lines
}

/// SigmaHQ's rules (core, emerging threats, threat hunting).
pub fn sigmahq_pack() -> Option<Pack> {
    let s = shared()?.join("sigma");
    Some(read_pack(&[s.join("rules"), s.join("rules-emerging-threats"), s.join("rules-threat-hunting")]))
}

/// SigmaHQ's Windows process_creation rules only (`rules/windows/process_creation`),
/// the pack of the instruction-count gate: small enough to compile under callgrind.
pub fn sigmahq_process_creation_pack() -> Option<Pack> {
    Some(read_pack(&[shared()?.join("sigma/rules/windows/process_creation")]))
}

/// The configuration the benches use: Windows process_creation events.
pub fn windows_config() -> Config {
    let logsource =
        sigmata_cli::rules::parse_logsource("category=process_creation,product=windows").expect("valid logsource");
    Config::new().logsource(Some(logsource))
}

/// Builds an engine for Windows process_creation events.
pub fn build(pack: &Pack) -> Engine {
    build_with(pack, windows_config())
}

/// Builds an engine with a given configuration.
pub fn build_with(pack: &Pack, config: Config) -> Engine {
    build_threads(pack, config, 1)
}

/// Builds an engine, parsing the rule files on `threads` threads.
pub fn build_threads(pack: &Pack, config: Config, threads: usize) -> Engine {
    let mut b = Builder::new();
    b.config(config).threads(threads);
    for (origin, text) in pack {
        b.add_source(origin, text);
    }
    b.build().0
}

/// Reads a JSONL corpus into events.
pub fn read_corpus(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("corpus lines are JSON"))
        .collect()
}

/// The Windows process_creation rule files of a pack: the files of which
/// sigmata loads at least one rule under [`windows_config`], sorted by path
/// (component-wise, so `rules/…` comes before `rules-emerging-threats/…`).
/// Taking the first N of them is the deterministic "first N rules" selection
/// of the benches (SigmaHQ has one rule per file).
pub fn windows_files(pack: &Pack) -> Pack {
    let engine = build(pack);
    let loaded: HashSet<&str> = engine.rules().map(|(_, r)| &*r.rule.origin.path).collect();
    let mut files: Pack = pack.iter().filter(|(origin, _)| loaded.contains(origin.as_str())).cloned().collect();
    files.sort_by(|a, b| Path::new(&a.0).cmp(Path::new(&b.0)));
    files
}

/// An event corpus: its JSONL text and the parsed events, line for line.
pub struct Corpus {
    /// A short name for benchmark ids (`generated`, `real`).
    pub name: &'static str,
    /// Where the events came from, for messages.
    pub source: String,
    /// The non-empty lines of the JSONL text.
    pub lines: Vec<String>,
    /// The parsed lines.
    pub events: Vec<serde_json::Value>,
}

impl Corpus {
    /// Parses JSONL text (blank lines skipped).
    pub fn from_jsonl(name: &'static str, source: String, text: &str) -> Corpus {
        let lines: Vec<String> = text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect();
        let events = lines.iter().map(|l| serde_json::from_str(l).expect("corpus lines are JSON")).collect();
        Corpus { name, source, lines, events }
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True if there are no events.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// JSONL bytes of the first `n` events (newlines included).
    pub fn bytes(&self, n: usize) -> u64 {
        self.lines[..n.min(self.lines.len())].iter().map(|l| l.len() as u64 + 1).sum()
    }
}

/// The generator's events for `seed`, as `gen-corpus` writes them.
pub fn generated(seed: u64, count: usize) -> Corpus {
    let mut out = Vec::new();
    sigmata_corpus::write_jsonl(seed, count, &mut out).expect("writing to memory");
    let text = String::from_utf8(out).expect("generated JSONL is UTF-8");
    Corpus::from_jsonl("generated", format!("sigmata-corpus seed {seed}, {count} events"), &text)
}

/// `../shared/corpora/<file>`, if `../shared` is present.
pub fn real(file: &str) -> Option<Corpus> {
    let path = shared()?.join("corpora").join(file);
    let text = std::fs::read_to_string(&path).ok()?;
    Some(Corpus::from_jsonl("real", path.display().to_string(), &text))
}

/// Pre-parsed records of `events` for `engine` (what `matches_record` takes).
pub fn records(engine: &Engine, events: &[serde_json::Value]) -> Vec<Record> {
    events
        .iter()
        .map(|e| {
            let mut r = Record::new();
            engine.fill(&mut r, e);
            r
        })
        .collect()
}

/// Number of (event, rule) matches of `matches_record` over `records`.
pub fn count_record_matches(engine: &Engine, records: &[Record]) -> usize {
    let mut cache = engine.create_cache();
    let mut set = MatchSet::new();
    records
        .iter()
        .map(|r| {
            engine.matches_record(&mut cache, r, &mut set);
            set.len()
        })
        .sum()
}

/// Number of (event, rule) matches of the reference evaluator over any events.
pub fn count_reference<E: sigmata::Event>(engine: &Engine, events: &[E]) -> usize {
    events
        .iter()
        .map(|e| engine.rules().filter(|(_, r)| sigmata::reference::eval(&r.ir.expr, engine.fields(), e)).count())
        .sum()
}

/// The distinct real events of `benches/scripts/distinct.py` (written to
/// `target/bench/distinct.jsonl` by running the script if the file is
/// absent), if `../shared` is present.
pub fn distinct() -> Option<Corpus> {
    shared()?;
    let dir = root().join("target/bench");
    let path = dir.join("distinct.jsonl");
    if !path.exists() {
        let status = std::process::Command::new("python3")
            .arg(root().join("benches/scripts/distinct.py"))
            .arg(&dir)
            .status()
            .ok()?;
        if !status.success() {
            eprintln!("benches/scripts/distinct.py failed: {status}");
            return None;
        }
    }
    let text = std::fs::read_to_string(&path).ok()?;
    Some(Corpus::from_jsonl("distinct", path.display().to_string(), &text))
}

/// `n` of `pack`'s files chosen at random (a fixed xorshift sequence from
/// `seed`, so a subset is the same on every run), in pack order.
pub fn random_files(pack: &Pack, n: usize, seed: u64) -> Pack {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut idx: Vec<usize> = (0..pack.len()).collect();
    // A partial Fisher-Yates shuffle: the first n places are the sample.
    for i in 0..n.min(idx.len()) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let j = i + (state % (idx.len() - i) as u64) as usize;
        idx.swap(i, j);
    }
    let mut chosen: Vec<usize> = idx[..n.min(idx.len())].to_vec();
    chosen.sort_unstable();
    chosen.into_iter().map(|i| pack[i].clone()).collect()
}

/// The shortest wall-clock time of `runs` calls of `pass`, in seconds, and
/// what the last call returned (a count to print beside the time, so that
/// rows that should do the same work can be seen to).
pub fn best_of(runs: usize, pass: &dyn Fn() -> usize) -> (f64, usize) {
    let mut best = f64::MAX;
    let mut got = 0;
    for _ in 0..runs {
        let t = std::time::Instant::now();
        got = pass();
        best = best.min(t.elapsed().as_secs_f64());
    }
    (best, got)
}
