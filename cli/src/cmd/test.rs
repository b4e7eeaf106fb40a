//! `sigmata test`: rule tests, from two sources.
//!
//! - **Sidecars**: `<rule-stem>.tests.yml` next to a rule file, with true
//!   positives (events the rule must match) and true negatives (near misses
//!   it must not match), inline or by file; see `sigmata test --help` for the
//!   format. Parsed with `sigmata::yaml`; every problem names file:line.
//! - **SigmaHQ regression tests**: a rule's `regression_tests_path` names an
//!   `info.yml` relative to the root of the rule repository. Its
//!   `regression_tests_info` entries name sample files and a `match_count`:
//!   the rule must match at least that many events (at least one when the
//!   count is missing), as SigmaHQ's own runner requires.
//!
//! Every event is evaluated with the compiled engine *and* the reference
//! evaluator; a disagreement is a failure of its own. A failing case carries
//! the explanation of the verdict ([`sigmata::Engine::explain`]).
//!
//! Sample files are read by [`read_samples`], the one place that knows file
//! formats: JSONL, evtx-dump `.json`, and `.evtx` (read directly, or with
//! `--samples json` through the `.json` rendering SigmaHQ keeps beside it).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Value, json};
use sigmata::yaml::{PathStep, Yaml};
use sigmata::{Builder, Engine, ErrorKind, Placeholders, RuleId};

use crate::args::{Samples, TestArgs, TestFormat};
use crate::input::{self, Item};
use crate::rules::{self, Loaded};
use crate::{Failure, Outcome};

#[path = "test_corr.rs"]
mod corr;

/// Where a test case comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A SigmaHQ regression test.
    Regression,
    /// A sidecar case that must match.
    TruePositive,
    /// A sidecar case that must not match.
    TrueNegative,
    /// A sidecar that could not be read or run as written.
    Sidecar,
    /// A refused rule.
    Refused,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Regression => "regression",
            Kind::TruePositive => "true_positive",
            Kind::TrueNegative => "true_negative",
            Kind::Sidecar => "sidecar",
            Kind::Refused => "refused",
        }
    }
}

/// One test case and its result.
#[derive(Debug)]
struct Case {
    kind: Kind,
    rule_id: Option<String>,
    rule_title: String,
    name: String,
    passed: bool,
    /// One line: what happened.
    message: String,
    /// Why the rule did or did not match (failures only).
    explanation: Option<String>,
    /// The sample file, or `sidecar:line`.
    source: String,
    /// Regression tests: (expected, events, matched).
    counts: Option<(u64, u64, u64)>,
    seconds: f64,
}

/// The cases of one rule file.
type Suites = BTreeMap<String, Vec<Case>>;

/// Runs `test`.
pub fn run(a: &TestArgs) -> Result<Outcome, Failure> {
    rules::refuse_bundle(&a.rules, "test", "rule tests live beside the rule files")?;
    // Correlations load too, so that their sidecars run; a correlation
    // without one is loaded and untested, like a rule without one.
    let loaded = rules::load_correlated(&a.rules, rules::Need::All)?;
    let engine = &loaded.engine;
    let mut suites: Suites = BTreeMap::new();
    for (id, lr) in engine.rules() {
        let Some((_, Yaml::Str(path))) = lr.rule.custom.iter().find(|(k, _)| k == "regression_tests_path") else {
            continue;
        };
        let cases = run_regression(engine, id, Path::new(&*lr.rule.origin.path), path, a.samples);
        suites.entry(lr.rule.origin.path.to_string()).or_default().extend(cases);
    }
    let mut resolved = HashSet::new();
    let mut sidecars = Vec::new();
    for root in &a.rules.rules {
        for sidecar in rules::sidecar_files(root)? {
            if !sidecars.contains(&sidecar) {
                sidecars.push(sidecar);
            }
        }
    }
    for sidecar in &sidecars {
        if let Ok(text) = std::fs::read_to_string(sidecar)
            && corr::is_correlation_sidecar(&text)
        {
            let (file, cases) = corr::run(&loaded, sidecar, &text);
            suites.entry(file).or_default().extend(cases);
            continue;
        }
        let (file, cases) = run_sidecar(&loaded, sidecar, &mut resolved);
        suites.entry(file).or_default().extend(cases);
    }
    let mut refused = 0;
    for (i, e) in loaded.report.errors.iter().enumerate() {
        if resolved.contains(&i) {
            continue;
        }
        refused += 1;
        suites.entry(e.origin().unwrap_or("<unknown>").to_string()).or_default().push(Case {
            kind: Kind::Refused,
            rule_id: e.rule_id().map(str::to_string),
            rule_title: e.rule_title().unwrap_or_default().to_string(),
            name: "rule loads".to_string(),
            passed: false,
            message: format!("refused: {}", e.message()),
            explanation: Some(e.to_string()),
            source: e.origin().map(|o| format!("{o}:{}", e.line().unwrap_or(1))).unwrap_or_default(),
            counts: None,
            seconds: 0.0,
        });
    }
    let tests: Vec<&Case> = suites.values().flatten().filter(|c| c.kind != Kind::Refused).collect();
    let failed = tests.iter().filter(|c| !c.passed).count();
    match a.format {
        TestFormat::Text => print_text(&suites, a.verbose, tests.len(), failed, refused),
        TestFormat::Junit => print!("{}", junit(&suites)),
        TestFormat::Json => {
            let cases: Vec<Value> =
                suites.iter().flat_map(|(file, cases)| cases.iter().map(|c| case_json(file, c))).collect();
            let doc = json!({
                "tests": cases.iter().filter(|c| c["kind"] != "refused").collect::<Vec<_>>(),
                "passed": tests.len() - failed,
                "failed": failed,
                "refused": cases.iter().filter(|c| c["kind"] == "refused").collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
    }
    Ok(if failed == 0 && refused == 0 { Outcome::Yes } else { Outcome::No })
}

fn print_text(suites: &Suites, verbose: bool, total: usize, failed: usize, refused: usize) {
    let mut rules_with_tests = HashSet::new();
    let (mut regression, mut sidecar) = (0, 0);
    for (file, cases) in suites {
        for c in cases {
            match c.kind {
                Kind::Regression => regression += 1,
                Kind::Refused => {
                    println!("REFUSED {}", c.explanation.as_deref().unwrap_or("").lines().next().unwrap_or(""));
                    continue;
                }
                _ => sidecar += 1,
            }
            rules_with_tests.insert((file.clone(), c.rule_id.clone(), c.rule_title.clone()));
            if c.passed && !verbose {
                continue;
            }
            println!(
                "{} {file} [{}] {}: {} ({})",
                if c.passed { "PASS" } else { "FAIL" },
                c.rule_id.as_deref().unwrap_or("no id"),
                c.name,
                c.message,
                c.source
            );
            if !c.passed
                && let Some(e) = &c.explanation
            {
                print!("{}", crate::explain::indent(e, "    "));
            }
        }
    }
    // The last line keeps the wording CI scripts match on.
    println!("({regression} SigmaHQ regression tests, {sidecar} sidecar cases)");
    println!(
        "regression tests: {} passed, {failed} failed, from {} rules with tests; {refused} rules refused",
        total - failed,
        rules_with_tests.len(),
    );
}

fn case_json(file: &str, c: &Case) -> Value {
    let mut v = json!({
        "kind": c.kind.as_str(), "rule_path": file, "rule_id": c.rule_id, "rule_title": c.rule_title,
        "name": c.name, "passed": c.passed, "message": c.message, "source": c.source,
        "explanation": c.explanation,
    });
    if let Some((expected, events, matched)) = c.counts {
        v["expected"] = expected.into();
        v["events"] = events.into();
        v["matched"] = matched.into();
    }
    v
}

// ---------------------------------------------------------------------------
// Samples.

/// Reads the events of a sample file: `.jsonl` (one object per line), `.json`
/// (concatenated objects, as `evtx_dump` writes them), or `.evtx` through
/// the `.json` rendering stored beside it. Returns (line, event) pairs, or
/// the first problem as `line N: reason`. This is the one place that knows
/// sample formats: reading `.evtx` directly plugs in here.
fn read_samples(path: &Path, samples: Samples) -> Result<(PathBuf, Vec<(usize, Value)>), String> {
    let is = |ext: &str| path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case(ext));
    // An `.evtx` sample is read itself when it is there, else through the
    // `.json` rendering beside it.
    if is("evtx") && samples == Samples::Evtx && path.exists() {
        let mut events = Vec::new();
        let mut problem = None;
        let warnings = input::evtx::read_evtx(path, |r| {
            match r {
                input::evtx::Record::Event { number, event, .. } => events.push((number as usize, event)),
                input::evtx::Record::Bad { number, reason } => {
                    problem.get_or_insert(format!("{}: record {number}: {reason}", path.display()));
                }
            }
            true
        })
        .map_err(|e| format!("{}: {e}", path.display()))?;
        for w in warnings {
            eprintln!("sigmata: warning: {}: {w}", path.display());
        }
        return match problem {
            Some(p) => Err(p),
            None => Ok((path.to_path_buf(), events)),
        };
    }
    let path = if is("evtx") { path.with_extension("json") } else { path.to_path_buf() };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut events = Vec::new();
    let mut problem = None;
    let mut take = |item: Item<'_>| match item {
        Item::Event { line, event, .. } => events.push((line, event)),
        Item::Malformed { line, reason } => {
            problem.get_or_insert(format!("{}:{line}: {reason}", path.display()));
        }
        Item::Empty { .. } => {}
    };
    if input::Mode::for_path(&path) == input::Mode::Stream {
        input::read_stream(&text, &mut take);
    } else {
        input::read_lines(&mut text.as_bytes(), &mut take).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    match problem {
        Some(p) => Err(p),
        None => Ok((path, events)),
    }
}

/// The verdicts of the compiled engine and the reference evaluator.
fn verdict(engine: &Engine, id: RuleId, cache: &mut sigmata::Cache, event: &Value) -> (bool, bool) {
    let compiled = engine.is_match_rule(id, cache, event);
    let reference = sigmata::reference::eval(&engine.loaded(id).ir.expr, engine.fields(), event);
    (compiled, reference)
}

fn disagreement(compiled: bool, reference: bool) -> String {
    format!(
        "the compiled engine says {} but the reference evaluator says {} (an engine bug: please report it)",
        if compiled { "match" } else { "no match" },
        if reference { "match" } else { "no match" }
    )
}

// ---------------------------------------------------------------------------
// SigmaHQ regression tests.

/// Finds `relative` below the nearest ancestor of `rule_file` that has it.
fn resolve(rule_file: &Path, relative: &str) -> Option<PathBuf> {
    rule_file.ancestors().skip(1).map(|a| a.join(relative)).find(|p| p.exists())
}

fn run_regression(engine: &Engine, id: RuleId, rule_file: &Path, info_path: &str, samples: Samples) -> Vec<Case> {
    let rule = engine.rule(id);
    let case = |name: &str, source: String| Case {
        kind: Kind::Regression,
        rule_id: rule.id.clone(),
        rule_title: rule.title.clone(),
        name: name.to_string(),
        passed: false,
        message: String::new(),
        explanation: None,
        source,
        counts: None,
        seconds: 0.0,
    };
    let fail = |name: &str, source: String, message: String| Case { message, ..case(name, source) };
    let Some(info_file) = resolve(rule_file, info_path) else {
        return vec![fail("info.yml", info_path.to_string(), "regression_tests_path not found".into())];
    };
    let root =
        info_file.ancestors().find(|a| a.join(info_path) == info_file).map(Path::to_path_buf).unwrap_or_default();
    let info = match std::fs::read_to_string(&info_file)
        .map_err(|e| e.to_string())
        .and_then(|t| sigmata::yaml::parse(&t).map_err(|e| e.to_string()))
    {
        Ok(docs) => docs.into_iter().next().map(|d| d.value).unwrap_or(Yaml::Null),
        Err(e) => return vec![fail("info.yml", info_file.display().to_string(), e)],
    };
    let Some(Yaml::Seq(entries)) = info.get("regression_tests_info") else {
        return vec![fail("info.yml", info_file.display().to_string(), "no regression_tests_info list".into())];
    };
    entries
        .iter()
        .map(|entry| {
            let start = Instant::now();
            let name = entry.get("name").and_then(Yaml::as_str).unwrap_or("unnamed").to_string();
            let expected = match entry.get("match_count") {
                Some(Yaml::Int(n)) => (*n).max(0) as u64,
                _ => 1,
            };
            let Some(sample) = entry.get("path").and_then(Yaml::as_str) else {
                return fail(&name, info_file.display().to_string(), "test has no path".into());
            };
            let (path, events) = match read_samples(&root.join(sample), samples) {
                Ok(s) => s,
                Err(e) => return fail(&name, root.join(sample).display().to_string(), e),
            };
            let mut cache = engine.create_cache();
            let (mut matched, mut problem, mut first_miss) = (0, None, None);
            for (line, event) in &events {
                let (compiled, reference) = verdict(engine, id, &mut cache, event);
                if compiled != reference {
                    problem.get_or_insert(format!("line {line}: {}", disagreement(compiled, reference)));
                }
                if compiled {
                    matched += 1;
                } else if first_miss.is_none() {
                    first_miss = Some((*line, event));
                }
            }
            let events_n = events.len() as u64;
            let passed = problem.is_none() && matched >= expected;
            let explanation = match (passed, first_miss) {
                (false, Some((line, event))) => {
                    Some(format!("first event not matched (line {line}):\n{}", engine.explain(id, event)))
                }
                _ => None,
            };
            Case {
                passed,
                message: problem
                    .unwrap_or_else(|| format!("matched {matched} of {events_n} events, expected at least {expected}")),
                explanation,
                counts: Some((expected, events_n, matched)),
                seconds: start.elapsed().as_secs_f64(),
                ..case(&name, path.display().to_string())
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Sidecars.

/// One case of a sidecar, as read.
struct SideCase {
    name: String,
    reason: Option<String>,
    positive: bool,
    line: usize,
    input: CaseInput,
}

enum CaseInput {
    Event(Value),
    File(PathBuf),
}

/// A sidecar, as read: what it names, and the problems found reading it.
struct Sidecar {
    rule: Option<String>,
    placeholders: Option<Placeholders>,
    cases: Vec<SideCase>,
    /// (line, message): unknown keys, wrong types, missing names.
    problems: Vec<(usize, String)>,
}

const TOP_KEYS: [&str; 4] = ["rule", "placeholders", "true_positives", "true_negatives"];
const CASE_KEYS: [&str; 4] = ["name", "reason", "event", "file"];

/// The known key closest to `key`, for "did you mean".
fn suggest(key: &str, known: &[&str]) -> String {
    let distance = |a: &str, b: &str| {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1; b.len() + 1];
            for (j, cb) in b.iter().enumerate() {
                cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
            }
            prev = cur;
        }
        prev[b.len()]
    };
    known
        .iter()
        .map(|c| (distance(&key.to_lowercase(), c), c))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, c)| format!(" (did you mean '{c}'?)"))
        .unwrap_or_else(|| format!(" (known keys: {})", known.join(", ")))
}

fn scalar_text(y: &Yaml) -> Option<String> {
    match y {
        Yaml::Str(s) => Some(s.clone()),
        Yaml::Int(i) => Some(i.to_string()),
        Yaml::Float(f) => Some(format!("{f:?}")),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Reads a sidecar. Problems are collected with their lines; cases that are
/// well-formed are kept even when others are not.
fn parse_sidecar(path: &Path, text: &str) -> Sidecar {
    let mut sc = Sidecar { rule: None, placeholders: None, cases: Vec::new(), problems: Vec::new() };
    let docs = match sigmata::yaml::parse(text) {
        Ok(d) => d,
        Err(e) => {
            sc.problems.push((e.line().unwrap_or(1), e.message().to_string()));
            return sc;
        }
    };
    let Some(doc) = docs.first() else {
        sc.problems.push((1, "the file is empty".to_string()));
        return sc;
    };
    if docs.len() > 1 {
        sc.problems.push((docs[1].first_line, "a sidecar holds one YAML document".to_string()));
    }
    let line = |steps: &[PathStep<'_>]| {
        sigmata::yaml::locate_path(text, doc.first_line, doc.last_line, steps).unwrap_or(doc.first_line)
    };
    let Yaml::Map(entries) = &doc.value else {
        sc.problems.push((
            doc.first_line,
            format!("expected a map of {}, found {}", TOP_KEYS.join(", "), doc.value.type_name()),
        ));
        return sc;
    };
    for (key, value) in entries {
        let at = line(&[PathStep::Key(key)]);
        match key.as_str() {
            "rule" => match scalar_text(value) {
                Some(id) => sc.rule = Some(id),
                None => sc.problems.push((at, format!("'rule' must be a rule id, not {}", value.type_name()))),
            },
            "placeholders" => {
                let Yaml::Map(vars) = value else {
                    sc.problems.push((
                        at,
                        format!(
                            "'placeholders' must be a map from names to lists of values, not {}",
                            value.type_name()
                        ),
                    ));
                    continue;
                };
                let mut p = Placeholders::new();
                for (name, v) in vars {
                    let values = match v {
                        Yaml::Seq(items) => items.iter().map(scalar_text).collect::<Option<Vec<_>>>(),
                        other => scalar_text(other).map(|s| vec![s]),
                    };
                    match values {
                        Some(values) => p.insert(name.clone(), values),
                        None => sc.problems.push((
                            line(&[PathStep::Key(key), PathStep::Key(name)]),
                            format!("placeholder '{name}' must be a value or a list of values"),
                        )),
                    }
                }
                sc.placeholders = Some(p);
            }
            "true_positives" | "true_negatives" => {
                let positive = key == "true_positives";
                let Yaml::Seq(items) = value else {
                    sc.problems.push((at, format!("'{key}' must be a list of cases, not {}", value.type_name())));
                    continue;
                };
                for (i, item) in items.iter().enumerate() {
                    let case_line = line(&[PathStep::Key(key), PathStep::Index(i)]);
                    match parse_case(path, item, positive, |k| {
                        line(&[PathStep::Key(key), PathStep::Index(i), PathStep::Key(k)])
                    }) {
                        Ok(mut c) => {
                            c.line = case_line;
                            sc.cases.push(c);
                        }
                        Err(problems) => sc.problems.extend(
                            problems
                                .into_iter()
                                .map(|(l, m)| (l.unwrap_or(case_line), format!("{key}[{}]: {m}", i + 1))),
                        ),
                    }
                }
            }
            other => sc.problems.push((at, format!("unknown key '{other}'{}", suggest(other, &TOP_KEYS)))),
        }
    }
    if sc.cases.is_empty() && sc.problems.is_empty() {
        sc.problems.push((doc.first_line, "no true_positives or true_negatives: the sidecar tests nothing".into()));
    }
    sc
}

type Problems = Vec<(Option<usize>, String)>;

fn parse_case(
    sidecar: &Path,
    item: &Yaml,
    positive: bool,
    line_of: impl Fn(&str) -> usize,
) -> Result<SideCase, Problems> {
    let Yaml::Map(entries) = item else {
        return Err(vec![(
            None,
            format!("a case must be a map with name and event or file, not {}", item.type_name()),
        )]);
    };
    let mut problems: Problems = Vec::new();
    let (mut name, mut reason, mut input) = (None, None, None);
    for (k, v) in entries {
        match (k.as_str(), v) {
            ("name", v) => match scalar_text(v) {
                Some(n) if !n.trim().is_empty() => name = Some(n),
                _ => problems.push((Some(line_of(k)), "'name' must be a non-empty text".into())),
            },
            ("reason", v) => match scalar_text(v) {
                Some(r) => reason = Some(r),
                None => problems.push((Some(line_of(k)), "'reason' must be a text".into())),
            },
            ("event", Yaml::Map(_)) => {
                if input.is_some() {
                    problems.push((Some(line_of(k)), "a case has exactly one of 'event' and 'file'".into()));
                }
                input = Some(CaseInput::Event(input::normalise(crate::rules::yaml_to_json(v))));
            }
            ("event", other) => problems.push((
                Some(line_of(k)),
                format!("'event' must be a map of field names to values, not {}", other.type_name()),
            )),
            ("file", Yaml::Str(f)) => {
                if input.is_some() {
                    problems.push((Some(line_of(k)), "a case has exactly one of 'event' and 'file'".into()));
                }
                input = Some(CaseInput::File(sidecar.parent().unwrap_or(Path::new("")).join(f)));
            }
            ("file", other) => {
                problems.push((Some(line_of(k)), format!("'file' must be a path, not {}", other.type_name())))
            }
            (other, _) => {
                problems.push((Some(line_of(k)), format!("unknown key '{other}'{}", suggest(other, &CASE_KEYS))))
            }
        }
    }
    if name.is_none() && !problems.iter().any(|(_, m)| m.starts_with("'name'")) {
        problems.push((None, "the case has no 'name'".into()));
    }
    if input.is_none() && !problems.iter().any(|(_, m)| m.starts_with("'event'") || m.starts_with("'file'")) {
        problems.push((None, "the case has neither 'event' nor 'file'".into()));
    }
    match (name, input) {
        (Some(name), Some(input)) if problems.is_empty() => Ok(SideCase { name, reason, positive, line: 0, input }),
        _ => Err(problems),
    }
}

/// The rule a sidecar tests.
enum Target {
    /// Loaded into the main engine.
    Loaded(RuleId),
    /// Built alone with the sidecar's placeholders (it was refused for lack of them).
    Alone(Engine, RuleId),
}

/// The rule file a sidecar (`<stem>.tests.yml`) belongs to: `<stem>.yml`,
/// or `<stem>.yaml` if only that exists.
pub(super) fn rule_file_of(sidecar: &str) -> String {
    let stem = sidecar.strip_suffix(".tests.yml").unwrap_or(sidecar);
    [format!("{stem}.yml"), format!("{stem}.yaml")]
        .into_iter()
        .find(|f| Path::new(f).is_file())
        .unwrap_or_else(|| format!("{stem}.yml"))
}

/// Runs one sidecar; returns the rule file its cases belong to, and the cases.
/// `resolved` collects the refusals that the sidecar's placeholders resolved.
fn run_sidecar(loaded: &Loaded, path: &Path, resolved: &mut HashSet<usize>) -> (String, Vec<Case>) {
    let label = path.display().to_string();
    let rule_file = rule_file_of(&label);
    let problem = |line: usize, message: String, id: Option<String>, title: String| Case {
        kind: Kind::Sidecar,
        rule_id: id,
        rule_title: title,
        name: format!("sidecar {}", path.file_name().and_then(|n| n.to_str()).unwrap_or("")),
        passed: false,
        message: format!("{label}:{line}: {message}"),
        explanation: None,
        source: format!("{label}:{line}"),
        counts: None,
        seconds: 0.0,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return (rule_file, vec![problem(1, format!("cannot read: {e}"), None, String::new())]),
    };
    let sc = parse_sidecar(path, &text);
    if sc.cases.is_empty() {
        // Nothing to run: the problems say why; which rule it was for is moot.
        let cases = sc.problems.iter().map(|(l, m)| problem(*l, m.clone(), sc.rule.clone(), String::new())).collect();
        return (rule_file, cases);
    }
    let engine = &loaded.engine;
    let report = &loaded.report;

    // Which rule: by id anywhere, or the one rule of <stem>.yml.
    let rule_line = sigmata::yaml::locate_path(&text, 1, text.lines().count(), &[PathStep::Key("rule")]).unwrap_or(1);
    let by_id = |id: &RuleId| -> bool {
        match &sc.rule {
            Some(want) => engine.rule(*id).id.as_deref() == Some(want.as_str()),
            None => *engine.rule(*id).origin.path == *rule_file,
        }
    };
    let candidates: Vec<RuleId> = engine.rules().map(|(id, _)| id).filter(by_id).collect();
    let refusal = report.errors.iter().enumerate().find(|(_, e)| match &sc.rule {
        Some(want) => e.rule_id() == Some(want.as_str()),
        None => e.origin() == Some(rule_file.as_str()),
    });
    let target = match (candidates.as_slice(), refusal, &sc.placeholders) {
        // The sidecar's placeholders are the values its cases were written
        // for: the rule is tested alone with them, whether the pack loaded
        // it (with other values) or refused it (for lack of values).
        ([id], _, Some(p)) => build_alone(loaded, &engine.rule(*id).origin.path, p.clone(), sc.rule.as_deref())
            .map(|(alone, id)| Target::Alone(alone, id))
            .map_err(|m| (rule_line, m)),
        ([], Some((i, e)), Some(p)) if e.kind() == ErrorKind::Placeholder => {
            match build_alone(loaded, e.origin().unwrap_or(&rule_file), p.clone(), sc.rule.as_deref()) {
                Ok((alone, id)) => {
                    resolved.insert(i);
                    Ok(Target::Alone(alone, id))
                }
                Err(m) => Err((rule_line, m)),
            }
        }
        ([id], _, None) => Ok(Target::Loaded(*id)),
        ([], Some((_, e)), _) => Err((
            rule_line,
            format!("the rule under test was refused ({}); its {} cases were not run", e.message(), sc.cases.len()),
        )),
        ([], None, _) => {
            let na = report.not_applicable.iter().find(|n| match &sc.rule {
                Some(want) => n.id.as_deref() == Some(want.as_str()),
                None => *n.origin.path == *rule_file,
            });
            Err((
                rule_line,
                match (na, &sc.rule) {
                    (Some(n), _) => format!(
                        "the rule under test has logsource {}, not applicable to this run (try --all-logsources)",
                        n.logsource
                    ),
                    (None, Some(id)) => format!("no loaded rule has the id '{id}'"),
                    (None, None) => format!("no rule found in {rule_file} (name the rule with 'rule: <id>')"),
                },
            ))
        }
        (many, _, _) => Err((
            rule_line,
            format!("{} has {} rules: name the one under test with 'rule: <id>'", rule_file, many.len()),
        )),
    };
    let (title, id_text) = match &target {
        Ok(Target::Loaded(id)) => (engine.rule(*id).title.clone(), engine.rule(*id).id.clone()),
        Ok(Target::Alone(e, id)) => (e.rule(*id).title.clone(), e.rule(*id).id.clone()),
        Err(_) => (String::new(), sc.rule.clone()),
    };
    let mut cases: Vec<Case> =
        sc.problems.iter().map(|(l, m)| problem(*l, m.clone(), id_text.clone(), title.clone())).collect();
    let (engine, id) = match &target {
        Ok(Target::Loaded(id)) => (engine, *id),
        Ok(Target::Alone(e, id)) => (e, *id),
        Err((line, m)) => {
            cases.push(problem(*line, m.clone(), id_text, title));
            return (rule_file, cases);
        }
    };
    let file = engine.rule(id).origin.path.to_string();
    let mut cache = engine.create_cache();
    for c in &sc.cases {
        cases.push(run_case(engine, id, &mut cache, c, &label));
    }
    (file, cases)
}

/// Builds an engine of the one rule in `file` with the given placeholders.
fn build_alone(
    loaded: &Loaded,
    file: &str,
    placeholders: Placeholders,
    want: Option<&str>,
) -> Result<(Engine, RuleId), String> {
    let text = rules::source_text(file).ok_or_else(|| format!("cannot read {file}"))?;
    let mut b = Builder::new();
    b.config(loaded.config.clone()).placeholders(placeholders).add_source(file, &text);
    let (engine, report) = b.build();
    let id = engine.rules().find(|(_, lr)| want.is_none_or(|w| lr.rule.id.as_deref() == Some(w))).map(|(id, _)| id);
    match (id, report.errors.iter().find(|e| want.is_none_or(|w| e.rule_id() == Some(w)))) {
        (Some(id), _) => Ok((engine, id)),
        (None, Some(e)) => Err(format!("the rule is refused even with the sidecar's placeholders: {}", e.message())),
        (None, None) => Err(format!("no rule found in {file}")),
    }
}

fn run_case(engine: &Engine, id: RuleId, cache: &mut sigmata::Cache, c: &SideCase, sidecar: &str) -> Case {
    let start = Instant::now();
    let rule = engine.rule(id);
    let (kind, want) = if c.positive { (Kind::TruePositive, "match") } else { (Kind::TrueNegative, "not match") };
    let mut case = Case {
        kind,
        rule_id: rule.id.clone(),
        rule_title: rule.title.clone(),
        name: format!("{} '{}'", if c.positive { "true positive" } else { "true negative" }, c.name),
        passed: true,
        message: String::new(),
        explanation: None,
        source: format!("{sidecar}:{}", c.line),
        counts: None,
        seconds: 0.0,
    };
    let events: Vec<(Option<usize>, Value)> = match &c.input {
        CaseInput::Event(e) => vec![(None, e.clone())],
        CaseInput::File(f) => match read_samples(f, Samples::Evtx) {
            Ok((_, events)) if events.is_empty() => {
                case.passed = false;
                case.message = format!("{} holds no event", f.display());
                return case;
            }
            Ok((_, events)) => events.into_iter().map(|(l, e)| (Some(l), e)).collect(),
            Err(e) => {
                case.passed = false;
                case.message = e;
                return case;
            }
        },
    };
    let mut wrong = 0;
    for (line, event) in &events {
        let (compiled, reference) = verdict(engine, id, cache, event);
        let ok = compiled == c.positive && reference == c.positive;
        if ok {
            continue;
        }
        wrong += 1;
        if case.passed {
            case.passed = false;
            let at = match (line, &c.input) {
                (Some(l), CaseInput::File(f)) => format!(" ({}:{l})", f.display()),
                _ => String::new(),
            };
            case.message = if compiled != reference {
                format!("{}{at}", disagreement(compiled, reference))
            } else if c.positive {
                format!("did not match, but must{at}")
            } else {
                format!("matched, but must not{at}")
            };
            let mut text = engine.explain(id, event).to_string();
            if let Some(r) = &c.reason {
                text = format!("reason given: {r}\n{text}");
            }
            case.explanation = Some(text);
        }
    }
    if !case.passed && events.len() > 1 {
        case.message = format!("{wrong} of {} events did not {want}; first: {}", events.len(), case.message);
    }
    if case.passed {
        let verb = if c.positive { "matched" } else { "did not match" };
        case.message = match events.len() {
            1 => format!("{verb}, as expected"),
            n => format!("all {n} events {verb}, as expected"),
        };
    }
    case.seconds = start.elapsed().as_secs_f64();
    case
}

// ---------------------------------------------------------------------------
// JUnit XML.

/// Escapes text for XML attribute values and character data. Characters XML
/// 1.0 cannot hold at all (most control characters) become `\u{…}`.
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || matches!(c, '\u{fffe}' | '\u{ffff}') => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: `<testsuites>`, one `<testsuite>` per rule file, one
/// `<testcase>` per case, `<failure message=…>` with the explanation.
fn junit(suites: &Suites) -> String {
    let total: usize = suites.values().map(Vec::len).sum();
    let failures: usize = suites.values().flatten().filter(|c| !c.passed).count();
    let time: f64 = suites.values().flatten().map(|c| c.seconds).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"sigmata rule tests\" tests=\"{total}\" failures=\"{failures}\" errors=\"0\" time=\"{time:.3}\">\n"
    ));
    for (file, cases) in suites {
        let f = cases.iter().filter(|c| !c.passed).count();
        let t: f64 = cases.iter().map(|c| c.seconds).sum();
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{f}\" errors=\"0\" skipped=\"0\" time=\"{t:.3}\">\n",
            xml_escape(file),
            cases.len()
        ));
        for c in cases {
            let classname = match &c.rule_id {
                Some(id) => format!("{} [{id}]", c.rule_title),
                None => c.rule_title.clone(),
            };
            out.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" time=\"{:.3}\"",
                xml_escape(&classname),
                xml_escape(&c.name),
                xml_escape(file),
                c.seconds
            ));
            if c.passed {
                out.push_str("/>\n");
                continue;
            }
            out.push_str(">\n");
            let body = format!("{}\n{}", c.message, c.explanation.as_deref().unwrap_or(""));
            out.push_str(&format!(
                "      <failure message=\"{}\" type=\"{}\">{}</failure>\n",
                xml_escape(&c.message),
                c.kind.as_str(),
                xml_escape(body.trim_end())
            ));
            out.push_str("    </testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escape_handles_markup_quotes_and_control_characters() {
        assert_eq!(xml_escape("a<b>&\"c'\u{1}\n"), "a&lt;b&gt;&amp;&quot;c&apos;\\u{1}\n");
    }

    #[test]
    fn sidecar_problems_name_their_lines() {
        let text =
            "rule: x\ntrue_positives:\n  - name: a\n    evnt: {Image: x}\n  - event: {Image: y}\nfalse_positives: []\n";
        let sc = parse_sidecar(Path::new("r.tests.yml"), text);
        let lines: Vec<(usize, &str)> = sc.problems.iter().map(|(l, m)| (*l, m.as_str())).collect();
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert_eq!(lines[0].0, 4);
        assert!(lines[0].1.contains("unknown key 'evnt' (did you mean 'event'?)"), "{lines:?}");
        assert_eq!(lines[1], (3, "true_positives[1]: the case has neither 'event' nor 'file'"));
        assert_eq!(lines[2], (5, "true_positives[2]: the case has no 'name'"));
        assert_eq!(lines[3].0, 6);
        assert!(lines[3].1.starts_with("unknown key 'false_positives'"), "{lines:?}");
    }
}
