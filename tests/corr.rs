//! Correlation conformance cases (`tests/cases/correlations/*.yml`) and
//! the one `check_correlation()` that runs each.
//!
//! ```yaml
//! - name: event-count-gte-fires-once-per-burst   # unique across all files
//!   note: why (optional)
//!   rule: |                    # base rules and correlations, `---` between documents
//!     ...
//!   lateness: 60s              # optional, --max-lateness (default 0s)
//!   max_groups: 2              # optional caps
//!   max_entries: 3
//!   events:                    # in input order; times in UtcTime, @timestamp or TimeCreated
//!     - {Image: 'C:\w\whoami.exe', User: bob, UtcTime: '2025-01-01 10:00:00.000'}
//!   alerts:                    # exactly these, in this order ([] for none)
//!     - {title: burst, group: {User: bob}, value: 2, events: [1, 3]}   # events: 1-based, optional
//!   stats: {too_late: 1}       # optional, counters that must have these values
//!   silenced: [whoami]         # optional: exactly the base rules whose own matches are not reported
//! - name: unknown-type-is-refused
//!   rule: |
//!     ...
//!   error: "unknown correlation type"
//!   error_kind: correlation
//!   error_line: 3
//! ```
//!
//! Each case runs with matches from the compiled engine in every
//! configuration and from the reference evaluator; all must give the
//! expected alerts.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value as Json;
use sigmata::correlate::{Alert, Correlations, Correlator, CorrelatorConfig, Source};
use sigmata::yaml::Yaml;
use sigmata::{Builder, Engine};

use crate::{cases_dir, configs, to_json};

/// One expected alert.
#[derive(Debug, Clone, PartialEq)]
pub struct WantAlert {
    /// Title of the correlation.
    pub title: String,
    /// Group as `name=value` pairs in group-by order.
    pub group: Vec<(String, String)>,
    /// The value, if given.
    pub value: Option<f64>,
    /// 1-based indexes of the contributing events, if given.
    pub events: Option<Vec<u64>>,
}

/// One correlation case.
#[derive(Debug, Clone)]
pub struct CorrCase {
    /// Unique name.
    pub name: String,
    /// Its file.
    pub file: PathBuf,
    /// The rule pack text.
    pub rule: String,
    /// Correlator limits.
    pub config: CorrelatorConfig,
    /// Events in input order.
    pub events: Vec<Json>,
    /// Expected alerts, in order (None for error cases).
    pub alerts: Option<Vec<WantAlert>>,
    /// Expected counters.
    pub stats: Vec<(String, u64)>,
    /// Base rules whose matches are not reported on their own, if checked.
    pub silenced: Option<Vec<String>>,
    /// Expected refusal (substring).
    pub error: Option<String>,
    /// Expected error kind.
    pub error_kind: Option<String>,
    /// Expected error line.
    pub error_line: Option<usize>,
}

fn text(y: &Yaml) -> Option<String> {
    match y {
        Yaml::Str(s) => Some(s.clone()),
        Yaml::Int(i) => Some(i.to_string()),
        Yaml::Float(f) => Some(f.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn num(y: &Yaml) -> Option<f64> {
    match y {
        Yaml::Int(i) => Some(*i as f64),
        Yaml::Float(f) => Some(*f),
        _ => None,
    }
}

/// Loads every correlation case file.
pub fn load_correlation_cases() -> Vec<CorrCase> {
    let dir = cases_dir().join("correlations");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/cases/correlations exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for file in files {
        let src = std::fs::read_to_string(&file).expect("case file is readable");
        let docs = sigmata::yaml::parse(&src).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let Some(Yaml::Seq(items)) = docs.first().map(|d| &d.value) else {
            panic!("{}: a case file is a YAML list of cases", file.display())
        };
        for item in items {
            let name =
                item.get("name").and_then(text).unwrap_or_else(|| panic!("{}: a case has no name", file.display()));
            let span = |key: &str| {
                item.get(key).and_then(text).map(|s| {
                    if s == "0s" {
                        0
                    } else {
                        sigmata::correlate::parse_timespan(&s).unwrap_or_else(|| panic!("{name}: bad {key}"))
                    }
                })
            };
            let mut config = CorrelatorConfig { max_lateness_ms: span("lateness").unwrap_or(0), ..Default::default() };
            if let Some(n) = item.get("max_groups").and_then(num) {
                config.max_groups = n as usize;
            }
            if let Some(n) = item.get("max_entries").and_then(num) {
                config.max_entries = n as usize;
            }
            if let Some(n) = item.get("max_buffered").and_then(num) {
                config.max_buffered = n as usize;
            }
            let events = match item.get("events") {
                None => Vec::new(),
                Some(Yaml::Seq(evs)) => evs.iter().map(to_json).collect(),
                Some(_) => panic!("{name}: 'events' must be a list"),
            };
            let alerts = item.get("alerts").map(|a| {
                let Yaml::Seq(list) = a else { panic!("{name}: 'alerts' must be a list") };
                list.iter()
                    .map(|a| WantAlert {
                        title: a.get("title").and_then(text).unwrap_or_else(|| panic!("{name}: alert without title")),
                        group: match a.get("group") {
                            Some(Yaml::Map(kv)) => {
                                kv.iter().map(|(k, v)| (k.clone(), text(v).unwrap_or_default())).collect()
                            }
                            _ => Vec::new(),
                        },
                        value: a.get("value").and_then(num),
                        events: match a.get("events") {
                            Some(Yaml::Seq(xs)) => Some(xs.iter().filter_map(num).map(|n| n as u64).collect()),
                            _ => None,
                        },
                    })
                    .collect()
            });
            let stats = match item.get("stats") {
                Some(Yaml::Map(kv)) => kv.iter().map(|(k, v)| (k.clone(), num(v).unwrap_or(-1.0) as u64)).collect(),
                _ => Vec::new(),
            };
            let silenced = match item.get("silenced") {
                Some(Yaml::Seq(xs)) => Some(xs.iter().filter_map(text).collect()),
                _ => None,
            };
            let case = CorrCase {
                rule: item.get("rule").and_then(text).unwrap_or_else(|| panic!("{name}: no rule")),
                config,
                events,
                alerts,
                stats,
                silenced,
                error: item.get("error").and_then(text),
                error_kind: item.get("error_kind").and_then(text),
                error_line: item.get("error_line").and_then(num).map(|n| n as usize),
                file: file.clone(),
                name,
            };
            assert!(case.error.is_some() != case.alerts.is_some(), "{}: give either 'alerts' or 'error'", case.name);
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

/// The time fields the cases use.
pub const TIME_FIELDS: &[&str] = &["UtcTime", "@timestamp", "TimeCreated"];

/// Runs the correlator over events with the matches `matcher` gives.
pub fn run(
    engine: &Engine,
    set: &Arc<Correlations>,
    config: CorrelatorConfig,
    events: &[Json],
    mut matcher: impl FnMut(&Json) -> Vec<sigmata::RuleId>,
) -> (Vec<Alert>, sigmata::correlate::CorrelatorStats) {
    let time_fields: Vec<_> = TIME_FIELDS.iter().map(|n| sigmata::correlate::field_ref(engine, n)).collect();
    let mut c = Correlator::new(Arc::clone(set), config);
    let source: Arc<str> = "case".into();
    let mut alerts = Vec::new();
    for (i, ev) in events.iter().enumerate() {
        let time = sigmata::correlate::event_time(ev, &time_fields);
        c.feed(matcher(ev), ev, time, &source, i as u64 + 1, &mut alerts);
    }
    c.finish(&mut alerts);
    (alerts, c.stats())
}

fn stat(s: &sigmata::correlate::CorrelatorStats, name: &str) -> Option<u64> {
    Some(match name {
        "events" => s.events,
        "no_time" => s.no_time,
        "too_late" => s.too_late,
        "missing_group_field" => s.missing_group_field,
        "missing_value" => s.missing_value,
        "evicted_groups" => s.evicted_groups,
        "evicted_entries" => s.evicted_entries,
        "expired_groups" => s.expired_groups,
        "alerts" => s.alerts,
        "forced_releases" => s.forced_releases,
        _ => return None,
    })
}

/// Runs one correlation case; returns each disagreement.
pub fn check_correlation(case: &CorrCase) -> Vec<String> {
    let mut failures = Vec::new();
    for (config_name, config) in configs() {
        let mut b = Builder::new();
        b.config(config).add_source(&format!("{}.yml", case.name), &case.rule);
        let (engine, set, report) = b.build_correlated();
        if let Some(want) = &case.error {
            match report.errors.first() {
                None => failures.push(format!("[{config_name}] expected a load error containing {want:?}")),
                Some(e) => {
                    if !e.to_string().contains(want.as_str()) {
                        failures.push(format!("[{config_name}] error {:?} does not contain {want:?}", e.to_string()));
                    }
                    if let Some(kind) = &case.error_kind
                        && e.kind().as_str() != kind
                    {
                        failures.push(format!("[{config_name}] error kind {} is not {kind}: {e}", e.kind().as_str()));
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
        let set = Arc::new(set);
        if let Some(want) = &case.silenced {
            let mut got: Vec<String> =
                engine.rules().filter(|(id, _)| !set.generates(*id)).map(|(_, lr)| lr.rule.title.clone()).collect();
            let mut want = want.clone();
            got.sort();
            want.sort();
            if got != want {
                failures.push(format!("[{config_name}] silenced rules {got:?}, expected {want:?}"));
            }
        }
        let mut cache = engine.create_cache();
        let by_engine = run(&engine, &set, case.config, &case.events, |ev| {
            let mut m = sigmata::MatchSet::new();
            engine.matches_with(&mut cache, ev, &mut m);
            m.iter().collect()
        });
        let by_reference = run(&engine, &set, case.config, &case.events, |ev| {
            engine
                .rules()
                .filter(|(_, lr)| sigmata::reference::eval(&lr.ir.expr, engine.fields(), ev))
                .map(|(id, _)| id)
                .collect()
        });
        for (who, (alerts, stats)) in [(config_name, by_engine), ("reference", by_reference)] {
            let got: Vec<WantAlert> = alerts
                .iter()
                .filter(|a| set.generates_correlation(a.correlation))
                .map(|a| WantAlert {
                    title: set.rules()[a.correlation].doc.title.clone(),
                    group: a.group.clone(),
                    value: Some(a.value),
                    events: Some(a.events.iter().map(|e| e.line).collect()),
                })
                .collect();
            let want = case.alerts.as_deref().unwrap_or_default();
            let same = got.len() == want.len()
                && got.iter().zip(want).all(|(g, w)| {
                    g.title == w.title
                        && g.group == w.group
                        && w.value.is_none_or(|v| (g.value.unwrap_or(f64::NAN) - v).abs() < 1e-9)
                        && w.events.as_ref().is_none_or(|e| Some(e) == g.events.as_ref())
                });
            if !same {
                failures.push(format!("[{who}] alerts {got:?}\n    expected {want:?}"));
            }
            for (k, v) in &case.stats {
                match stat(&stats, k) {
                    None => failures.push(format!("unknown counter {k}")),
                    Some(g) if g != *v => failures.push(format!("[{who}] counter {k} is {g}, expected {v}")),
                    Some(_) => {}
                }
            }
            // Inner alerts feed chains whatever `generate` says: they must be well-formed.
            for a in &alerts {
                if a.events.iter().any(|e| matches!(e.by, Source::Correlation(c) if c >= a.correlation)) {
                    failures.push(format!("[{who}] an alert reads a correlation that is not inner to it"));
                }
            }
        }
    }
    failures.dedup();
    failures
}
