//! Correlation rules: every case of `tests/cases/correlations/*.yml`, and
//! the streaming correlator against a naive one that recounts every window.

use sigmata_tests::corr::{check_correlation, load_correlation_cases};

#[test]
fn every_correlation_case_holds() {
    let cases = load_correlation_cases();
    let mut failures = Vec::new();
    for case in &cases {
        for f in check_correlation(case) {
            failures.push(format!("{} ({}): {f}", case.name, case.file.display()));
        }
    }
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn the_correlation_suite_is_large_enough() {
    let cases = load_correlation_cases();
    let errors = cases.iter().filter(|c| c.error.is_some()).count();
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    assert!(errors >= 12, "only {errors} refusal cases");
}

#[test]
fn a_refused_correlation_leaves_its_rules_alone() {
    let pack = "title: whoami\nname: whoami\nlogsource: {category: process_creation}\ndetection: {sel: {Image|endswith: '\\whoami.exe'}, condition: sel}\n---\ntitle: bad\ncorrelation:\n  type: event_count\n  rules: [whoami]\n  group-by: [User]\n  timespan: 5 minutes\n  condition: {gte: 2}\n";
    let (engine, set, report) = sigmata::Builder::new().add_source("p.yml", pack).build_correlated();
    assert_eq!(report.rules_loaded, 1);
    assert_eq!(report.correlations_loaded, 0);
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].line(), Some(11));
    assert_eq!(report.errors[0].origin(), Some("p.yml"));
    let (id, _) = engine.rules().next().unwrap();
    assert!(set.generates(id) && !set.reads(id));
    // The single-event builder loads the rule and names the correlation as not evaluated.
    let good = pack.replace("5 minutes", "5m");
    let (engine, report) = sigmata::Builder::new().add_source("p.yml", &good).build();
    assert_eq!(engine.len(), 1);
    assert_eq!(report.errors[0].kind(), sigmata::ErrorKind::Unsupported);
}

#[test]
fn an_alias_missing_a_rule_is_a_located_warning() {
    let pack = "title: a\nname: a\nlogsource: {category: process_creation}\ndetection: {sel: {Image|endswith: '\\a.exe'}, condition: sel}\n---\ntitle: b\nname: b\nlogsource: {category: process_creation}\ndetection: {sel: {Image|endswith: '\\b.exe'}, condition: sel}\n---\ntitle: c\ncorrelation:\n  type: temporal\n  rules: [a, b]\n  group-by: [pid]\n  timespan: 1m\n  aliases:\n    pid:\n      a: ProcessId\n";
    let (_, set, report) = sigmata::Builder::new().add_source("p.yml", pack).build_correlated();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(set.len(), 1);
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    let w = &report.warnings[0];
    assert!(w.message().contains("alias 'pid' has no entry for rule 'b'"), "{w}");
    assert_eq!(w.line(), Some(18));
}

#[test]
fn correlator_types_are_send() {
    fn is_send<T: Send>() {}
    is_send::<sigmata::correlate::Correlator>();
    is_send::<sigmata::correlate::Prepared>();
    fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<sigmata::correlate::Correlations>();
}

mod differential {
    //! The streaming correlator against a naive one that sorts each group's
    //! events and recounts every window from scratch.

    use std::sync::Arc;

    use proptest::prelude::*;
    use serde_json::{Value as Json, json};
    use sigmata::correlate::{CorrelatorConfig, parse_time};
    use sigmata_tests::corr::run;

    const RULES: [&str; 3] = ["whoami", "net", "nltest"];
    const KINDS: [&str; 8] = [
        "event_count",
        "value_count",
        "temporal",
        "temporal_ordered",
        "value_sum",
        "value_avg",
        "value_percentile",
        "value_median",
    ];
    const OPS: [&str; 6] = ["gt", "gte", "lt", "lte", "eq", "neq"];

    #[derive(Debug, Clone)]
    struct Ev {
        rule: usize,
        user: usize,
        time_ms: i64,
        value: i64,
        arrival_jitter: i64,
    }

    #[derive(Debug, Clone)]
    struct Setup {
        kind: usize,
        ops: Vec<(usize, i64)>,
        span_s: i64,
        lateness_s: i64,
        events: Vec<Ev>,
    }

    fn setup() -> impl Strategy<Value = Setup> {
        (
            0..KINDS.len(),
            prop::collection::vec((0..OPS.len(), 0i64..6), 1..3),
            1i64..90,
            0i64..30,
            prop::collection::vec((0..3usize, 0..3usize, 0i64..40, 0i64..8, 0i64..1000), 0..60),
        )
            .prop_map(|(kind, ops, span_s, lateness_s, raw)| {
                let mut t = 0;
                let events = raw
                    .into_iter()
                    .map(|(rule, user, gap, value, j)| {
                        // Whole seconds, so that window boundaries are often hit exactly.
                        t += gap * 1000;
                        Ev { rule, user, time_ms: t, value, arrival_jitter: j * lateness_s }
                    })
                    .collect();
                Setup { kind, ops, span_s, lateness_s, events }
            })
    }

    fn pack(s: &Setup) -> String {
        let mut text = String::new();
        for r in RULES {
            text.push_str(&format!(
                "title: {r}\nname: {r}\nlogsource: {{category: process_creation}}\ndetection: {{sel: {{Image|endswith: '\\{r}.exe'}}, condition: sel}}\n---\n"
            ));
        }
        let kind = KINDS[s.kind];
        let mut cond: Vec<String> = s.ops.iter().map(|(o, v)| format!("{}: {v}", OPS[*o])).collect();
        cond.sort_by_key(|c| c.split(':').next().map(str::to_string));
        cond.dedup_by(|a, b| a.split(':').next() == b.split(':').next());
        match kind {
            "value_count" => cond.push("field: CommandLine".into()),
            "value_sum" | "value_avg" | "value_percentile" | "value_median" => cond.push("field: Bytes".into()),
            _ => {}
        }
        text.push_str(&format!(
            "title: c\ncorrelation:\n  type: {kind}\n  rules: [whoami, net, nltest]\n  group-by: [User]\n  timespan: {}s\n  condition: {{{}}}\n",
            s.span_s,
            cond.join(", ")
        ));
        text
    }

    fn event(e: &Ev) -> Json {
        let ms = 1_735_725_600_000 + e.time_ms;
        let t = format!("{}.{:03}", ms / 1000, ms % 1000);
        let user = ["a", "b", "c"][e.user];
        let command_line = ["x", "y", "z", "w"][(e.value % 4) as usize];
        json!({
            "Image": format!("C:\\w\\{}.exe", RULES[e.rule]),
            "User": user,
            "CommandLine": command_line,
            "Bytes": e.value,
            "UtcTime": t,
        })
    }

    fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
        if v.is_empty() {
            return 0.0;
        }
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let rank = p / 100.0 * (v.len() as f64 - 1.0);
        let lo = rank.floor() as usize;
        let hi = rank.ceil() as usize;
        v[lo] * (1.0 - (rank - lo as f64)) + v[hi] * (rank - lo as f64)
    }

    /// The value of a window, recounted from scratch.
    fn value(kind: &str, w: &[(usize, &Ev)]) -> f64 {
        let nums: Vec<f64> = w.iter().map(|(_, e)| e.value as f64).collect();
        match kind {
            "event_count" => w.len() as f64,
            "value_count" => {
                let mut v: Vec<i64> = w.iter().map(|(_, e)| e.value % 4).collect();
                v.sort();
                v.dedup();
                v.len() as f64
            }
            "temporal" => (0..3).filter(|r| w.iter().any(|(_, e)| e.rule == *r)).count() as f64,
            "temporal_ordered" => {
                let mut pos = 0;
                let mut steps = 0;
                for r in 0..3 {
                    match w[pos..].iter().position(|(_, e)| e.rule == r) {
                        Some(p) => {
                            steps += 1;
                            pos += p + 1;
                        }
                        None => break,
                    }
                }
                steps as f64
            }
            "value_sum" => nums.iter().sum(),
            "value_avg" => nums.iter().sum::<f64>() / nums.len().max(1) as f64,
            _ => percentile(nums, 50.0),
        }
    }

    /// (group, value, contributing arrival lines) of every alert, sorted.
    fn naive(s: &Setup, arrival: &[usize]) -> Vec<(String, i64, Vec<u64>)> {
        let kind = KINDS[s.kind];
        let span = s.span_s * 1000;
        let mut ops: Vec<(&str, f64)> = Vec::new();
        for (o, v) in &s.ops {
            if !ops.iter().any(|(n, _)| *n == OPS[*o]) {
                ops.push((OPS[*o], *v as f64));
            }
        }
        let holds = |x: f64| {
            ops.iter().all(|(o, t)| match *o {
                "gt" => x > *t,
                "gte" => x >= *t,
                "lt" => x < *t,
                "lte" => x <= *t,
                "eq" => x == *t,
                _ => x != *t,
            })
        };
        let early = ops.iter().all(|(o, _)| *o == "gt" || *o == "gte");
        let mut out = Vec::new();
        for user in 0..3 {
            // (arrival line, event) of this group in (time, arrival) order.
            let mut g: Vec<(usize, &Ev)> = arrival
                .iter()
                .enumerate()
                .map(|(line, &i)| (line + 1, &s.events[i]))
                .filter(|(_, e)| e.user == user)
                .collect();
            g.sort_by_key(|(line, e)| (e.time_ms, *line));
            let mut emit = |w: &[(usize, &Ev)]| {
                let v = value(kind, w);
                out.push((
                    ["a", "b", "c"][user].to_string(),
                    (v * 1000.0).round() as i64,
                    w.iter().map(|(l, _)| *l as u64).collect(),
                ));
            };
            if early {
                let mut fired: Option<i64> = None;
                for i in 0..g.len() {
                    let t = g[i].1.time_ms;
                    let w: Vec<(usize, &Ev)> = g[..=i].iter().filter(|(_, e)| e.time_ms >= t - span).copied().collect();
                    if fired.is_none_or(|f| f < t - span) && holds(value(kind, &w)) {
                        fired = Some(t);
                        emit(&w);
                    }
                }
            } else {
                let mut i = 0;
                while i < g.len() {
                    let end = g[i].1.time_ms + span;
                    let j = g[i..].iter().position(|(_, e)| e.time_ms > end).map_or(g.len(), |p| i + p);
                    if holds(value(kind, &g[i..j])) {
                        emit(&g[i..j]);
                    }
                    i = j;
                }
            }
        }
        out.sort();
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
        #[test]
        fn streaming_equals_recounting(s in setup()) {
            let mut b = sigmata::Builder::new();
            b.add_source("diff.yml", &pack(&s));
            let (engine, set, report) = b.build_correlated();
            prop_assert!(report.errors.is_empty(), "{:?}\n{}", report.errors, pack(&s));
            let set = Arc::new(set);
            // Arrival order: time plus a jitter no larger than the lateness bound.
            let mut arrival: Vec<usize> = (0..s.events.len()).collect();
            arrival.sort_by_key(|&i| (s.events[i].time_ms + s.events[i].arrival_jitter, i));
            let events: Vec<Json> = arrival.iter().map(|&i| event(&s.events[i])).collect();
            let config = CorrelatorConfig {
                max_lateness_ms: s.lateness_s * 1000,
                max_alert_events: usize::MAX,
                ..CorrelatorConfig::default()
            };
            let mut cache = engine.create_cache();
            let (alerts, stats) = run(&engine, &set, config, &events, |ev| {
                let mut m = sigmata::MatchSet::new();
                engine.matches_with(&mut cache, ev, &mut m);
                m.iter().collect()
            });
            prop_assert_eq!(stats.too_late, 0);
            prop_assert!(events.iter().all(|e| parse_time(e["UtcTime"].as_str().unwrap()).is_some()));
            let mut got: Vec<(String, i64, Vec<u64>)> = alerts
                .iter()
                .map(|a| (a.group[0].1.clone(), (a.value * 1000.0).round() as i64, a.events.iter().map(|e| e.line).collect()))
                .collect();
            got.sort();
            prop_assert_eq!(got, naive(&s, &arrival), "{}", pack(&s));
        }
    }
}
