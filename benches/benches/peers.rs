//! sigmata side by side with other Rust Sigma engines, on identical rules and
//! events, in one criterion run so that the ratios are measured under the
//! same machine load.
//!
//! Peers (dev-dependencies of this package only): `rsigma-eval` 0.23 (with
//! `rsigma-parser`) and `sigma-rust` 0.7. Each loads the SigmaHQ Windows
//! process_creation rule files (those sigmata loads for that logsource, sorted
//! by path) that it can; all three engines are then built on the
//! intersection, so every engine evaluates exactly the same rule files. The
//! counts are printed at start-up.
//!
//! Groups (each says at its top what it measures):
//!
//! - `peers/{sigmata,rsigma,rsigma-fast,sigma-rust}/<events>`: evaluation of
//!   events already parsed into each engine's own event type.
//! - `end_to_end/{engine,rsigma,sigma-rust}/<events>`: JSONL text to matches,
//!   each engine's own path (sigmata: `fill_json` + `matches_record`, what
//!   `sigmata scan` does).
//!
//! Before anything is timed, sigmata's match count is checked against its
//! reference evaluator on the first 200 events, and every engine's (event,
//! rule) match count is printed; peers may legitimately differ (different
//! semantics of some modifiers and of missing fields), so they are printed,
//! not asserted, with the rules whose counts differ most.
//!
//! Needs `../shared`; skipped with a message when it is absent.

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use rsigma_eval::event::JsonEvent;
use sigmata::{Engine, MatchSet, Record};
use sigmata_benches::*;

/// Events sigmata's reference evaluator checks before timing.
const VERIFY_EVENTS: usize = 200;
/// Events sigma-rust gets (it evaluates every rule on every event, at a few
/// dozen events per second with this pack); the other engines are timed on
/// the same subset too, so that one comparison has identical inputs for all.
const SIGMA_RUST_EVENTS: usize = 100;

struct Peers {
    /// The rule files all three engines load.
    files: Pack,
    sigmata: Engine,
    /// rsigma in its default configuration.
    rsigma: rsigma_eval::Engine,
    /// rsigma with its opt-in pre-filters: bloom filter and cross-rule
    /// Aho-Corasick index (feature `daachorse-index`).
    rsigma_fast: rsigma_eval::Engine,
    sigma_rust: Vec<sigma_rust::Rule>,
    real: Corpus,
    generated: Corpus,
}

/// The rules of one file as rsigma parses them, if it parses cleanly.
fn rsigma_parse(text: &str) -> Option<Vec<rsigma_parser::SigmaRule>> {
    let c = rsigma_parser::parse_sigma_yaml(text).ok()?;
    (c.errors.is_empty() && !c.rules.is_empty() && c.correlations.is_empty() && c.filters.is_empty()).then_some(c.rules)
}

fn rsigma_engine(rules: &[rsigma_parser::SigmaRule], fast: bool) -> rsigma_eval::Engine {
    let mut e = rsigma_eval::Engine::new();
    if fast {
        e.set_bloom_prefilter(true);
        e.set_cross_rule_ac(true);
    }
    let errors = e.add_rules(rules);
    assert!(errors.is_empty(), "rules that compiled alone fail together: {:?}", errors.first());
    e
}

fn load() -> Option<Peers> {
    let windows = windows_files(&sigmahq_pack()?);
    let real = real("sysmon_1.jsonl")?;

    // rsigma: files that parse, then rules that compile.
    let parsed: Vec<Option<Vec<rsigma_parser::SigmaRule>>> = windows.iter().map(|(_, t)| rsigma_parse(t)).collect();
    let flat: Vec<(usize, &rsigma_parser::SigmaRule)> =
        parsed.iter().enumerate().flat_map(|(i, r)| r.iter().flatten().map(move |r| (i, r))).collect();
    let compile_errors = rsigma_eval::Engine::new().add_rules(flat.iter().map(|(_, r)| *r));
    let mut rsigma_ok: Vec<bool> = parsed.iter().map(Option::is_some).collect();
    let parse_failures = rsigma_ok.iter().filter(|ok| !**ok).count();
    for (i, e) in &compile_errors {
        let file = flat[*i].0;
        if rsigma_ok[file] {
            eprintln!("rsigma refuses {}: {e}", windows[file].0);
        }
        rsigma_ok[file] = false;
    }
    // sigma-rust: files it deserialises.
    let sigma_rust_ok: Vec<bool> = windows
        .iter()
        .map(|(origin, t)| match sigma_rust::rule_from_yaml(t) {
            Ok(_) => true,
            Err(e) => {
                eprintln!("sigma-rust refuses {origin}: {e}");
                false
            }
        })
        .collect();

    let both: Vec<usize> = (0..windows.len()).filter(|&i| rsigma_ok[i] && sigma_rust_ok[i]).collect();
    eprintln!(
        "peers: {} SigmaHQ Windows process_creation rule files (sigmata loads all of them); rsigma loads {} \
         ({parse_failures} do not parse, {} rules do not compile); sigma-rust loads {}; all three: {}",
        windows.len(),
        rsigma_ok.iter().filter(|ok| **ok).count(),
        compile_errors.len(),
        sigma_rust_ok.iter().filter(|ok| **ok).count(),
        both.len()
    );

    let files: Pack = both.iter().map(|&i| windows[i].clone()).collect();
    let rules: Vec<rsigma_parser::SigmaRule> = both.iter().flat_map(|&i| parsed[i].clone().unwrap()).collect();
    let peers = Peers {
        sigmata: build(&files),
        rsigma: rsigma_engine(&rules, false),
        rsigma_fast: rsigma_engine(&rules, true),
        sigma_rust: files.iter().map(|(_, t)| sigma_rust::rule_from_yaml(t).expect("loaded above")).collect(),
        files,
        real,
        generated: generated(1, 20_000),
    };
    eprintln!(
        "peers: rules in each engine: sigmata {}, rsigma {}, sigma-rust {}",
        peers.sigmata.len(),
        peers.rsigma.rule_count(),
        peers.sigma_rust.len()
    );
    Some(peers)
}

static PEERS: LazyLock<Option<Peers>> = LazyLock::new(|| {
    let p = load();
    if p.is_none() {
        eprintln!("../shared is absent: the peer benchmarks are skipped");
    }
    p
});

/// Each engine's events, parsed its own way from the same JSON lines.
struct Parsed<'a> {
    records: Vec<Record>,
    rsigma: Vec<JsonEvent<'a>>,
    sigma_rust: Vec<sigma_rust::Event>,
}

fn parse<'a>(p: &Peers, corpus: &'a Corpus, sigma_rust_events: usize) -> Parsed<'a> {
    Parsed {
        records: records(&p.sigmata, &corpus.events),
        rsigma: corpus.events.iter().map(JsonEvent::borrow).collect(),
        sigma_rust: corpus.events[..sigma_rust_events]
            .iter()
            .map(|e| sigma_rust::Event::try_from(e.clone()).expect("sigma-rust reads flat JSON objects"))
            .collect(),
    }
}

/// Matching rule titles of each engine for each event.
fn titles_sigmata(p: &Peers, recs: &[Record]) -> Vec<Vec<String>> {
    let mut cache = p.sigmata.create_cache();
    let mut set = MatchSet::new();
    recs.iter()
        .map(|r| {
            p.sigmata.matches_record(&mut cache, r, &mut set);
            set.iter().map(|id| p.sigmata.rule(id).title.clone()).collect()
        })
        .collect()
}

fn titles_rsigma(e: &rsigma_eval::Engine, events: &[JsonEvent]) -> Vec<Vec<String>> {
    events.iter().map(|ev| e.evaluate(ev).into_iter().map(|m| m.header.rule_title).collect()).collect()
}

fn titles_sigma_rust(p: &Peers, events: &[sigma_rust::Event]) -> Vec<Vec<String>> {
    events.iter().map(|ev| p.sigma_rust.iter().filter(|r| r.is_match(ev)).map(|r| r.title.clone()).collect()).collect()
}

fn total(t: &[Vec<String>]) -> usize {
    t.iter().map(Vec::len).sum()
}

/// Prints how `peer`'s matches differ from sigmata's, rule by rule.
fn print_differences(label: &str, sigmata: &[Vec<String>], peer: &[Vec<String>]) {
    let mut by_rule: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for (a, b) in sigmata.iter().zip(peer) {
        a.iter().for_each(|t| by_rule.entry(t).or_default().0 += 1);
        b.iter().for_each(|t| by_rule.entry(t).or_default().1 += 1);
    }
    let mut diff: Vec<(&str, i64, i64)> =
        by_rule.into_iter().filter(|(_, (a, b))| a != b).map(|(t, (a, b))| (t, a, b)).collect();
    if diff.is_empty() {
        eprintln!("  {label}: same matches as sigmata, rule by rule");
        return;
    }
    diff.sort_by_key(|(_, a, b)| std::cmp::Reverse((a - b).abs()));
    eprintln!(
        "  {label}: {} rules match a different number of events; largest differences (sigmata, peer):",
        diff.len()
    );
    for (t, a, b) in diff.iter().take(8) {
        eprintln!("    {a:5} {b:5}  {t}");
    }
}

/// Verifies sigmata against its reference and prints every engine's counts.
fn report_counts(p: &Peers, corpus: &Corpus, parsed: &Parsed) {
    let few = VERIFY_EVENTS.min(corpus.len());
    let want = count_reference(&p.sigmata, &corpus.events[..few]);
    let got = count_record_matches(&p.sigmata, &parsed.records[..few]);
    assert_eq!(got, want, "{}: sigmata and its reference disagree on the first {few} events", corpus.name);
    let n = parsed.sigma_rust.len();
    let s_all = titles_sigmata(p, &parsed.records);
    let r_all = titles_rsigma(&p.rsigma, &parsed.rsigma);
    let f_all = titles_rsigma(&p.rsigma_fast, &parsed.rsigma);
    let sr = titles_sigma_rust(p, &parsed.sigma_rust);
    eprintln!(
        "{}: (event, rule) matches over all {} events: sigmata {} (first {few}: {got}, = reference), rsigma {}, \
         rsigma-fast {}; over the first {n}: sigmata {}, rsigma {}, sigma-rust {}",
        corpus.name,
        corpus.len(),
        total(&s_all),
        total(&r_all),
        total(&f_all),
        total(&s_all[..n]),
        total(&r_all[..n]),
        total(&sr)
    );
    print_differences(&format!("rsigma, all {} events", corpus.len()), &s_all, &r_all);
    print_differences(&format!("sigma-rust, first {n} events"), &s_all[..n], &sr);
}

fn peers(c: &mut Criterion) {
    // What: evaluation of events already parsed into each engine's own event
    // type (sigmata: `Record` via `fill`; rsigma: `JsonEvent` over a
    // `serde_json::Value`; sigma-rust: `sigma_rust::Event`) against the same
    // SigmaHQ Windows process_creation rule files, counting matches. One
    // iteration evaluates every event of the parameter: `real-first100` is the
    // first 100 events of sysmon_1.jsonl for all engines (sigma-rust is too slow
    // for more), `real` all 4,774. Throughput: events and their JSONL bytes.
    let Some(p) = &*PEERS else {
        eprintln!("peers: ../shared is absent, skipped");
        return;
    };
    eprintln!("peers: {} rule files", p.files.len());
    let corpus = &p.real;
    let parsed = parse(p, corpus, SIGMA_RUST_EVENTS);
    report_counts(p, corpus, &parsed);

    let mut g = c.benchmark_group("peers");
    g.sampling_mode(SamplingMode::Flat);
    for (label, n) in [("real-first100", SIGMA_RUST_EVENTS), ("real", corpus.len())] {
        g.throughput(Throughput::ElementsAndBytes { elements: n as u64, bytes: corpus.bytes(n) });
        let recs = &parsed.records[..n];
        let mut cache = p.sigmata.create_cache();
        let mut set = MatchSet::new();
        g.bench_function(BenchmarkId::new("sigmata", label), |b| {
            b.iter(|| {
                let mut m = 0;
                for r in recs {
                    p.sigmata.matches_record(&mut cache, r, &mut set);
                    m += set.len();
                }
                m
            })
        });
        let events = &parsed.rsigma[..n];
        for (name, engine) in [("rsigma", &p.rsigma), ("rsigma-fast", &p.rsigma_fast)] {
            g.bench_function(BenchmarkId::new(name, label), |b| {
                b.iter(|| events.iter().map(|e| engine.evaluate(e).len()).sum::<usize>())
            });
        }
        if n <= parsed.sigma_rust.len() {
            let events = &parsed.sigma_rust[..n];
            g.bench_function(BenchmarkId::new("sigma-rust", label), |b| {
                b.iter(|| events.iter().map(|e| p.sigma_rust.iter().filter(|r| r.is_match(e)).count()).sum::<usize>())
            });
        }
    }
    g.finish();
}

fn end_to_end(c: &mut Criterion) {
    // What: JSONL text to matches, one line at a time, each engine's own way:
    // sigmata `fill_json` + `matches_record` (the `sigmata scan` path; only the
    // fields the rules read are decoded), rsigma `serde_json::from_str` +
    // `JsonEvent` + `evaluate` (rsigma-eval has no text entry point of its
    // own), sigma-rust `event_from_json` + `is_match` of every rule. Same rule
    // files as `peers`. Inputs: sysmon_1.jsonl (`real`) and 20,000 generated
    // events (`generated`, seed 1), and the first 100 lines of each
    // (`*-first100`), the only inputs sigma-rust gets (too slow for more) and
    // so the ones with identical inputs for all three. Throughput: bytes of
    // JSONL.
    let Some(p) = &*PEERS else {
        eprintln!("end_to_end: ../shared is absent, skipped");
        return;
    };
    let mut g = c.benchmark_group("end_to_end");
    g.sampling_mode(SamplingMode::Flat);
    for corpus in [&p.real, &p.generated] {
        let lines: Vec<&str> = corpus.lines.iter().map(String::as_str).collect();
        if corpus.name != "real" {
            // The real corpus was reported by `peers`.
            let parsed = parse(p, corpus, SIGMA_RUST_EVENTS);
            report_counts(p, corpus, &parsed);
        }
        // The text path must give what the record path gives.
        let mut record = Record::new();
        let mut cache = p.sigmata.create_cache();
        let mut set = MatchSet::new();
        let mut from_text = 0;
        for l in &lines {
            p.sigmata.fill_json(&mut record, l).expect("corpus lines are JSON objects");
            p.sigmata.matches_record(&mut cache, &record, &mut set);
            from_text += set.len();
        }
        let from_records = count_record_matches(&p.sigmata, &records(&p.sigmata, &corpus.events));
        assert_eq!(from_text, from_records, "{}: fill_json and fill disagree", corpus.name);
        eprintln!("end_to_end/{}: sigmata {from_text} matches from text (= from parsed events)", corpus.name);

        let few = SIGMA_RUST_EVENTS.min(lines.len());
        for (param, lines) in
            [(corpus.name.to_string(), &lines[..]), (format!("{}-first100", corpus.name), &lines[..few])]
        {
            g.throughput(Throughput::Bytes(corpus.bytes(lines.len())));
            g.bench_function(BenchmarkId::new("engine", &param), |b| {
                b.iter(|| {
                    let mut m = 0;
                    for l in lines {
                        let _ = p.sigmata.fill_json(&mut record, l);
                        p.sigmata.matches_record(&mut cache, &record, &mut set);
                        m += set.len();
                    }
                    m
                })
            });
            g.bench_function(BenchmarkId::new("rsigma", &param), |b| {
                b.iter(|| {
                    let mut m = 0;
                    for l in lines {
                        let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
                        m += p.rsigma.evaluate(&JsonEvent::owned(v)).len();
                    }
                    m
                })
            });
            if lines.len() > few {
                continue;
            }
            g.bench_function(BenchmarkId::new("sigma-rust", &param), |b| {
                b.iter(|| {
                    let mut m = 0;
                    for l in lines {
                        let e = sigma_rust::event_from_json(l).expect("JSON");
                        m += p.sigma_rust.iter().filter(|r| r.is_match(&e)).count();
                    }
                    m
                })
            });
        }
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default().sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = peer_benches;
    config = config();
    targets = peers, end_to_end
}
criterion_main!(peer_benches);
