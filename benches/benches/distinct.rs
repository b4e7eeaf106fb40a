//! The headline figures: the SigmaHQ Windows process_creation pack over
//! *distinct* real events, with value caches that start empty on every pass,
//! so no measured event benefits from having been seen in an earlier
//! iteration (repeats within a pass are only those of the real data).
//!
//! Groups:
//!
//! - `distinct/matcher/<rules>`: `Engine::matches_record` over records filled
//!   outside the timing loop; `<rules>` is `100-s1`, `100-s2`, `100-s3` (three
//!   random subsets of 100 rule files), `200`, `400`, `800` (random subsets)
//!   and `full` (all 1,416 files): the cost-growth curve.
//! - `distinct/end-to-end/full`: `Engine::fill_json` + `matches_record` over
//!   the JSONL lines, what `sigmata scan -j 1` does per line (without reading
//!   the file and writing alerts).
//! - `distinct/matcher-warm/full`: the same records with one cache kept
//!   across passes (the repeated-events figure, for contrast).
//!
//! Each pass starts with `Engine::create_cache()` (a new cache costs a few
//! microseconds, against tens of milliseconds per pass). The events are
//! `benches/scripts/distinct.py`'s (Sysmon 1 and 4688 events, plus
//! case-flipped copies: 43,700 events). Match counts are printed, and the
//! full pack's is checked against the reference evaluator on the first 200
//! events before timing. Needs `../shared`; skipped with a message without.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use sigmata::{Engine, MatchSet, Record};
use sigmata_benches::*;

const VERIFY_EVENTS: usize = 200;

/// One pass over `recs` with a cache that starts empty.
fn pass(engine: &Engine, recs: &[Record], set: &mut MatchSet) -> usize {
    let mut cache = engine.create_cache();
    recs.iter()
        .map(|r| {
            engine.matches_record(&mut cache, r, set);
            set.len()
        })
        .sum()
}

fn distinct_events(c: &mut Criterion) {
    let (Some(pack), Some(corpus)) = (sigmahq_pack(), distinct()) else {
        eprintln!("distinct: ../shared is absent, skipped");
        return;
    };
    let windows = windows_files(&pack);
    let all = corpus.len();
    let mut g = c.benchmark_group("distinct");
    g.sampling_mode(SamplingMode::Flat);
    g.throughput(Throughput::ElementsAndBytes { elements: all as u64, bytes: corpus.bytes(all) });
    let subsets =
        [("100-s1", 100, 1), ("100-s2", 100, 2), ("100-s3", 100, 3), ("200", 200, 4), ("400", 400, 5), ("800", 800, 6)];
    let mut packs: Vec<(&str, Pack)> =
        subsets.iter().map(|&(name, n, seed)| (name, random_files(&windows, n, seed))).collect();
    packs.push(("full", windows.clone()));
    let mut set = MatchSet::new();
    for (name, files) in &packs {
        let engine = build(files);
        let recs = records(&engine, &corpus.events);
        let matches = pass(&engine, &recs, &mut set);
        if *name == "full" {
            let few = VERIFY_EVENTS.min(all);
            let want = count_reference(&engine, &corpus.events[..few]);
            assert_eq!(pass(&engine, &recs[..few], &mut set), want, "engine and reference disagree");
        }
        eprintln!("distinct/matcher/{name}: {} rules, {all} events, {matches} matches", engine.len());
        g.bench_function(BenchmarkId::new("matcher", name), |b| b.iter(|| pass(&engine, &recs, &mut set)));
        if *name == "full" {
            let mut cache = engine.create_cache();
            g.bench_function(BenchmarkId::new("matcher-warm", name), |b| {
                b.iter(|| {
                    recs.iter()
                        .map(|r| {
                            engine.matches_record(&mut cache, r, &mut set);
                            set.len()
                        })
                        .sum::<usize>()
                })
            });
            let mut record = Record::new();
            g.bench_function(BenchmarkId::new("end-to-end", name), |b| {
                b.iter(|| {
                    let mut cache = engine.create_cache();
                    let mut n = 0;
                    for line in &corpus.lines {
                        engine.fill_json(&mut record, line).expect("corpus lines are JSON objects");
                        engine.matches_record(&mut cache, &record, &mut set);
                        n += set.len();
                    }
                    assert_eq!(n, matches, "fill_json and fill disagree");
                    n
                })
            });
        }
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default().sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5))
}

criterion_group! {
    name = headline;
    config = config();
    targets = distinct_events
}
criterion_main!(headline);
