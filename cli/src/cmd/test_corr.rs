//! `sigmata test` for correlation rules: a sidecar with a top-level
//! `correlation_tests` list runs timed event sequences through the pack's
//! correlations and checks which alerts (by group) the correlation under
//! test gives.
//!
//! ```yaml
//! correlation: 6b1d…            # optional: id or title; default: the one correlation of <stem>.yml
//! correlation_tests:
//!   - name: five recon tools in two minutes
//!     events:                   # in order, each with its time (UtcTime, @timestamp, …)
//!       - {Image: 'C:\Windows\System32\whoami.exe', User: bob, UtcTime: '2025-01-01 10:00:00.000'}
//!     alerts:                   # exactly these groups, in order ([] : must not fire)
//!       - {User: bob}
//! ```
//!
//! Each sequence is correlated twice, with the compiled engine's matches
//! and with the reference evaluator's; both must give the expected alerts.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use sigmata::correlate::{Correlator, CorrelatorConfig};
use sigmata::yaml::{PathStep, Yaml};

use super::{Case, Kind};
use crate::rules::Loaded;

/// True when the sidecar text is a correlation sidecar.
pub(super) fn is_correlation_sidecar(text: &str) -> bool {
    sigmata::yaml::parse(text)
        .ok()
        .and_then(|d| d.into_iter().next())
        .is_some_and(|d| d.value.get("correlation_tests").is_some())
}

/// Runs a correlation sidecar: (rule file, cases).
pub(super) fn run(loaded: &Loaded, path: &Path, text: &str) -> (String, Vec<Case>) {
    let label = path.display().to_string();
    let rule_file = super::rule_file_of(&label);
    let case = |name: &str, line: usize, passed: bool, message: String, kind: Kind| Case {
        kind,
        rule_id: None,
        rule_title: String::new(),
        name: name.to_string(),
        passed,
        message,
        explanation: None,
        source: format!("{label}:{line}"),
        counts: None,
        seconds: 0.0,
    };
    let problem = |line: usize, message: String| {
        case("sidecar", line, false, format!("{label}:{line}: {message}"), Kind::Sidecar)
    };
    let doc = match sigmata::yaml::parse(text).map(|d| d.into_iter().next()) {
        Ok(Some(d)) => d,
        Ok(None) => return (rule_file, vec![problem(1, "the file is empty".into())]),
        Err(e) => return (rule_file, vec![problem(e.line().unwrap_or(1), e.message().to_string())]),
    };
    let line = |steps: &[PathStep<'_>]| {
        sigmata::yaml::locate_path(text, doc.first_line, doc.last_line, steps).unwrap_or(doc.first_line)
    };
    if let Yaml::Map(entries) = &doc.value
        && let Some((k, _)) = entries.iter().find(|(k, _)| k != "correlation" && k != "correlation_tests")
    {
        return (
            rule_file,
            vec![problem(
                line(&[PathStep::Key(k)]),
                format!("unknown key '{k}' (expected correlation, correlation_tests)"),
            )],
        );
    }
    let set = &loaded.correlations;
    let want = doc.value.get("correlation").and_then(Yaml::as_str);
    let targets: Vec<usize> = set
        .rules()
        .iter()
        .enumerate()
        .filter(|(_, c)| match want {
            Some(w) => c.doc.id.as_deref() == Some(w) || c.doc.title == w,
            None => *c.doc.origin.path == *rule_file,
        })
        .map(|(i, _)| i)
        .collect();
    let target = match targets.as_slice() {
        [t] => *t,
        [] => {
            let refused = loaded.report.errors.iter().find(|e| e.origin() == Some(rule_file.as_str()));
            let why = match refused {
                Some(e) => format!("the correlation under test was refused ({})", e.message()),
                None => format!("no loaded correlation in {rule_file} (name it with 'correlation: <id>')"),
            };
            return (rule_file, vec![problem(line(&[PathStep::Key("correlation")]), why)]);
        }
        many => {
            return (
                rule_file,
                vec![problem(
                    1,
                    format!("{} correlations match: name the one under test with 'correlation: <id>'", many.len()),
                )],
            );
        }
    };
    let rule = &set.rules()[target].doc;
    let Some(Yaml::Seq(tests)) = doc.value.get("correlation_tests") else {
        return (
            rule_file,
            vec![problem(line(&[PathStep::Key("correlation_tests")]), "'correlation_tests' must be a list".into())],
        );
    };
    let engine = &loaded.engine;
    let time_fields: Vec<_> = ["UtcTime", "@timestamp", "TimeCreated", "timestamp"]
        .iter()
        .map(|n| sigmata::correlate::field_ref(engine, n))
        .collect();
    let mut cases = Vec::new();
    for (i, t) in tests.iter().enumerate() {
        let start = Instant::now();
        let at = line(&[PathStep::Key("correlation_tests"), PathStep::Index(i)]);
        let name = t.get("name").and_then(Yaml::as_str).unwrap_or("unnamed").to_string();
        let (Some(Yaml::Seq(events)), Some(Yaml::Seq(alerts))) = (t.get("events"), t.get("alerts")) else {
            cases.push(problem(at, format!("test '{name}' needs an 'events' list and an 'alerts' list")));
            continue;
        };
        let events: Vec<serde_json::Value> = events.iter().map(crate::rules::yaml_to_json).collect();
        let want: Vec<Vec<(String, String)>> = alerts
            .iter()
            .map(|a| match a {
                Yaml::Map(kv) => {
                    kv.iter().map(|(k, v)| (k.clone(), super::scalar_text(v).unwrap_or_default())).collect()
                }
                _ => Vec::new(),
            })
            .collect();
        let mut cache = engine.create_cache();
        let mut groups = |reference: bool| {
            // Strictly ordered input: a sidecar lists events in time order.
            let config = CorrelatorConfig { max_lateness_ms: 0, ..CorrelatorConfig::default() };
            let mut c = Correlator::new(Arc::clone(set), config);
            let source: Arc<str> = label.as_str().into();
            let mut out = Vec::new();
            for (n, ev) in events.iter().enumerate() {
                let matched: Vec<sigmata::RuleId> = if reference {
                    engine
                        .rules()
                        .filter(|(_, lr)| sigmata::reference::eval(&lr.ir.expr, engine.fields(), ev))
                        .map(|(id, _)| id)
                        .collect()
                } else {
                    let mut m = sigmata::MatchSet::new();
                    engine.matches_with(&mut cache, ev, &mut m);
                    m.iter().collect()
                };
                let time = sigmata::correlate::event_time(ev, &time_fields);
                c.feed(matched, ev, time, &source, n as u64 + 1, &mut out);
            }
            c.finish(&mut out);
            let no_time = c.stats().no_time;
            let got: Vec<Vec<(String, String)>> =
                out.into_iter().filter(|a| a.correlation == target).map(|a| a.group).collect();
            (got, no_time)
        };
        let (compiled, no_time) = groups(false);
        let (reference, _) = groups(true);
        let show = |g: &[Vec<(String, String)>]| {
            let parts: Vec<String> = g
                .iter()
                .map(|a| format!("{{{}}}", a.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ")))
                .collect();
            format!("[{}]", parts.join(", "))
        };
        let (passed, message) = if compiled != reference {
            (
                false,
                format!(
                    "the compiled engine gives {} but the reference evaluator {}",
                    show(&compiled),
                    show(&reference)
                ),
            )
        } else if no_time > 0 {
            (false, format!("{no_time} event(s) have no readable time (UtcTime, @timestamp, TimeCreated, timestamp)"))
        } else if compiled == want {
            (true, format!("alerts {}", show(&compiled)))
        } else {
            (false, format!("expected alerts {}, got {}", show(&want), show(&compiled)))
        };
        let kind = if want.is_empty() { Kind::TrueNegative } else { Kind::TruePositive };
        let mut c = case(&name, at, passed, message, kind);
        c.rule_id = rule.id.clone();
        c.rule_title = rule.title.clone();
        c.seconds = start.elapsed().as_secs_f64();
        cases.push(c);
    }
    (rule_file, cases)
}
