//! Shared helpers for sigmata's integration tests: conformance case files
//! and the one `check()` that runs a case against every engine
//! configuration and the reference evaluator.
//!
//! A case file (`tests/cases/*.yml`) is a YAML list of cases:
//!
//! ```yaml
//! - name: contains-is-case-insensitive      # unique across all files
//!   note: why this case exists (optional)
//!   rule: |                                  # one or more rule/filter documents
//!     title: t
//!     logsource: {category: process_creation}
//!     detection:
//!       sel: {CommandLine|contains: 'EnC'}
//!       condition: sel
//!   placeholders: {Admins: [alice]}          # optional `expand` values
//!   match:                                    # events every rule must match
//!     - {CommandLine: 'x -enc y'}
//!   no_match:                                 # near misses no rule may match
//!     - {CommandLine: 'x -en c y'}
//! - name: unknown-modifier-is-refused
//!   rule: |
//!     ...
//!   error: "unknown modifier 'contians'"      # the rule must be refused with this in its message
//!   error_kind: modifier                      # optional: ErrorKind::as_str()
//!   error_line: 5                             # optional: the line the error points at
//! ```
//!
//! Events are YAML maps turned into JSON (so `null`, numbers, booleans,
//! nested maps and lists are all expressible).

pub mod corr;

use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use sigmata::yaml::Yaml;
use sigmata::{Builder, Config, Engine, Placeholders};

/// One conformance case.
#[derive(Debug, Clone)]
pub struct Case {
    /// Unique name.
    pub name: String,
    /// The file it came from.
    pub file: PathBuf,
    /// Rule text (one or more documents).
    pub rule: String,
    /// Placeholder values.
    pub placeholders: Vec<(String, Vec<String>)>,
    /// Events that must match.
    pub matches: Vec<Json>,
    /// Events that must not match.
    pub no_matches: Vec<Json>,
    /// Expected load error (substring of the message).
    pub error: Option<String>,
    /// Expected error kind.
    pub error_kind: Option<String>,
    /// Expected error line.
    pub error_line: Option<usize>,
}

/// The folder holding the case files.
pub fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("cases")
}

/// Converts a YAML tree into JSON.
pub use sigmata_cli::rules::yaml_to_json as to_json;

fn string_field(y: &Yaml, key: &str) -> Option<String> {
    match y.get(key) {
        Some(Yaml::Str(s)) => Some(s.clone()),
        Some(Yaml::Int(i)) => Some(i.to_string()),
        _ => None,
    }
}

/// Loads every case file, checking that names are unique and every case
/// asserts something.
pub fn load_cases() -> Vec<Case> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("tests/cases exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("case file is readable");
        let docs = sigmata::yaml::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let Some(Yaml::Seq(items)) = docs.first().map(|d| &d.value) else {
            panic!("{}: a case file is a YAML list of cases", file.display())
        };
        for item in items {
            let name = string_field(item, "name").unwrap_or_else(|| panic!("{}: a case has no name", file.display()));
            let events = |key: &str| match item.get(key) {
                None => Vec::new(),
                Some(Yaml::Seq(evs)) => evs.iter().map(to_json).collect(),
                Some(_) => panic!("{name}: '{key}' must be a list of events"),
            };
            let placeholders = match item.get("placeholders") {
                Some(Yaml::Map(entries)) => entries
                    .iter()
                    .map(|(k, v)| {
                        let vals = match v {
                            Yaml::Seq(xs) => xs.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
                            Yaml::Str(s) => vec![s.clone()],
                            _ => panic!("{name}: placeholder values must be strings"),
                        };
                        (k.clone(), vals)
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let case = Case {
                rule: string_field(item, "rule").unwrap_or_else(|| panic!("{name}: no rule")),
                matches: events("match"),
                no_matches: events("no_match"),
                error: string_field(item, "error"),
                error_kind: string_field(item, "error_kind"),
                error_line: string_field(item, "error_line").map(|l| l.parse().expect("error_line is a number")),
                placeholders,
                file: file.clone(),
                name,
            };
            assert!(
                case.error.is_some() || !case.matches.is_empty() || !case.no_matches.is_empty(),
                "{}: the case asserts nothing",
                case.name
            );
            assert!(
                case.error.is_none() || (case.matches.is_empty() && case.no_matches.is_empty()),
                "{}: an error case cannot also list events",
                case.name
            );
            cases.push(case);
        }
    }
    let mut names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    names.sort();
    for w in names.windows(2) {
        assert_ne!(w[0], w[1], "duplicate case name");
    }
    cases
}

/// The engine configurations every case runs under. Each must give the
/// same answers; the list grows as the engine gains strategies.
pub fn configs() -> Vec<(&'static str, Config)> {
    vec![
        ("default", Config::new().logsource(None)),
        ("small-regex-cache", Config::new().logsource(None).regex_cache_capacity(1 << 12)),
    ]
}

/// Builds an engine for a case under one configuration.
pub fn build(case: &Case, config: Config) -> (Engine, sigmata::LoadReport) {
    let mut placeholders = Placeholders::new();
    for (k, v) in &case.placeholders {
        placeholders.insert(k.clone(), v.clone());
    }
    let mut b = Builder::new();
    b.config(config).placeholders(placeholders).add_source(&format!("{}.yml", case.name), &case.rule);
    b.build()
}

/// Runs one case against every configuration and the reference evaluator.
/// Returns a description of each disagreement with the expectation.
pub fn check(case: &Case) -> Vec<String> {
    let mut failures = Vec::new();
    for (config_name, config) in configs() {
        let (engine, report) = build(case, config);
        if let Some(want) = &case.error {
            match report.errors.first() {
                None => failures
                    .push(format!("[{config_name}] expected a load error containing {want:?}, but the rule loaded")),
                Some(e) => {
                    if !e.to_string().contains(want.as_str()) {
                        failures.push(format!("[{config_name}] error {:?} does not contain {want:?}", e.to_string()));
                    }
                    if let Some(kind) = &case.error_kind
                        && e.kind().as_str() != kind
                    {
                        failures.push(format!("[{config_name}] error kind {} is not {kind}", e.kind().as_str()));
                    }
                    if let Some(line) = case.error_line
                        && e.line() != Some(line)
                    {
                        failures.push(format!("[{config_name}] error line {:?} is not {line}: {e}", e.line()));
                    }
                }
            }
            continue;
        }
        if let Some(e) = report.errors.first() {
            failures.push(format!("[{config_name}] unexpected load error: {e}"));
            continue;
        }
        if engine.is_empty() {
            failures.push(format!("[{config_name}] no rule loaded"));
            continue;
        }
        let mut cache = engine.create_cache();
        let mut set = sigmata::MatchSet::new();
        // Every event twice, so that the second pass reads the value cache.
        for (events, want) in
            [(&case.matches, true), (&case.no_matches, false), (&case.matches, true), (&case.no_matches, false)]
        {
            for event in events.iter() {
                // The same event as JSON text, read by the engine's own JSON
                // reader: plainly written, and with every non-ASCII character
                // as a `\u` escape and every `/` as `\/` (what the reader's
                // fast path and the keyword prefilter treat apart).
                let mut from_text = Vec::new();
                for text in json_texts(event) {
                    let mut record = sigmata::Record::new();
                    match engine.fill_json(&mut record, &text) {
                        Ok(()) => {
                            engine.matches_record(&mut cache, &record, &mut set);
                            from_text.push((text, set.clone()));
                        }
                        Err(e) => failures.push(format!("[{config_name}] fill_json refused {text}: {e}")),
                    }
                }
                engine.matches_with(&mut cache, event, &mut set);
                for (text, got) in &from_text {
                    if *got != set {
                        failures.push(format!(
                            "[{config_name}] fill_json + matches_record gives {:?}, matches_with {:?}, on {text}",
                            got.iter().collect::<Vec<_>>(),
                            set.iter().collect::<Vec<_>>()
                        ));
                    }
                }
                for (id, lr) in engine.rules() {
                    let got = set.contains(id);
                    let oracle = sigmata::reference::eval(&lr.ir.expr, engine.fields(), event);
                    if got != want {
                        failures
                            .push(format!("[{config_name}] engine says {got} for rule '{}' on {event}", lr.rule.title));
                    }
                    if oracle != want {
                        failures.push(format!("[reference] says {oracle} for rule '{}' on {event}", lr.rule.title));
                    }
                }
            }
        }
    }
    failures.dedup();
    failures
}

/// An event as JSON text twice: as serde_json writes it, and with every
/// non-ASCII character written as a `\u` escape (a surrogate pair beyond
/// the BMP) and every `/` as `\/`, which is the same JSON value.
pub fn json_texts(event: &serde_json::Value) -> [String; 2] {
    let plain = event.to_string();
    let mut escaped = String::with_capacity(plain.len() + 16);
    for c in plain.chars() {
        match c {
            '/' => escaped.push_str("\\/"),
            c if c.is_ascii() => escaped.push(c),
            c => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    escaped.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    [plain, escaped]
}
