//! Data loading shared by the benchmarks: rule packs and event corpora.
//!
//! The SigmaHQ pack and the real corpora live in `../shared` (outside the
//! repository); benchmarks that need them are skipped with a message when
//! it is absent.

use std::path::{Path, PathBuf};

use sigmata::{Builder, Config, Engine};

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

/// SigmaHQ's rules (core, emerging threats, threat hunting).
pub fn sigmahq_pack() -> Option<Pack> {
    let s = shared()?.join("sigma");
    Some(read_pack(&[s.join("rules"), s.join("rules-emerging-threats"), s.join("rules-threat-hunting")]))
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
    let mut b = Builder::new();
    b.config(config);
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

/// Number of (event, rule) matches of the engine over `events`.
pub fn count_matches(engine: &Engine, events: &[serde_json::Value]) -> usize {
    let mut cache = engine.create_cache();
    let mut set = sigmata::MatchSet::new();
    events
        .iter()
        .map(|e| {
            engine.matches_with(&mut cache, e, &mut set);
            set.len()
        })
        .sum()
}

/// Number of (event, rule) matches according to the reference evaluator.
pub fn count_reference_matches(engine: &Engine, events: &[serde_json::Value]) -> usize {
    events
        .iter()
        .map(|e| engine.rules().filter(|(_, r)| sigmata::reference::eval(&r.ir.expr, engine.fields(), e)).count())
        .sum()
}
