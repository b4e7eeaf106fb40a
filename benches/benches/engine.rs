//! What is measured: building an engine from a rule pack (`compile/*`),
//! and evaluating events against every rule of it (`evaluate/*`), with the
//! compiled engine and with the reference evaluator side by side.
//!
//! Data: the project's pack over `corpora/sample.jsonl`, and, when
//! `../shared` exists, the SigmaHQ Windows process_creation pack over the
//! real Sysmon events of `../shared/corpora/sysmon_1.jsonl`.
//!
//! Before any timing, the engine's match count over the corpus is checked
//! against the reference evaluator's, so that a speed-up cannot hide a lost
//! detection.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sigmata_benches::*;

fn verified(name: &str, engine: &sigmata::Engine, events: &[serde_json::Value]) -> usize {
    let got = count_matches(engine, events);
    let want = count_reference_matches(engine, events);
    assert_eq!(got, want, "{name}: engine and reference disagree on the match count");
    eprintln!(
        "{name}: {} rules, {} events, {got} matches (verified against the reference)",
        engine.len(),
        events.len()
    );
    got
}

fn benches(c: &mut Criterion) {
    let mut cases = vec![("own/sample", own_pack(), read_corpus(&root().join("corpora/sample.jsonl")))];
    match (sigmahq_pack(), shared()) {
        (Some(pack), Some(shared)) => {
            cases.push(("sigmahq/sysmon_1", pack, read_corpus(&shared.join("corpora/sysmon_1.jsonl"))));
        }
        _ => eprintln!("../shared is absent: SigmaHQ benchmarks skipped"),
    }

    let mut g = c.benchmark_group("compile");
    g.sample_size(10);
    for (name, pack, _) in &cases {
        g.throughput(Throughput::Elements(pack.len() as u64));
        g.bench_function(*name, |b| b.iter(|| build(pack)));
    }
    g.finish();

    let mut g = c.benchmark_group("evaluate");
    g.sample_size(10);
    for (name, pack, events) in &cases {
        let engine = build(pack);
        // The reference is slow: it gets the first 200 events.
        let few = &events[..events.len().min(200)];
        verified(name, &engine, few);
        let mut cache = engine.create_cache();
        let mut set = sigmata::MatchSet::new();
        g.throughput(Throughput::Elements(events.len() as u64));
        g.bench_with_input(BenchmarkId::new("engine", name), events, |b, events| {
            b.iter(|| {
                let mut n = 0;
                for e in events {
                    engine.matches_with(&mut cache, e, &mut set);
                    n += set.len();
                }
                n
            })
        });
        g.throughput(Throughput::Elements(few.len() as u64));
        g.bench_with_input(BenchmarkId::new("reference", name), few, |b, few| {
            b.iter(|| count_reference_matches(&engine, few))
        });
    }
    g.finish();
}

criterion_group!(engine, benches);
criterion_main!(engine);
