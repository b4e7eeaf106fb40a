//! sigmata's own benchmarks: compiling packs, evaluating pre-parsed records,
//! per-field matchers, and pathological packs. The JSONL → matches path and
//! the peers (rsigma, sigma-rust) are in `peers.rs`.
//!
//! Groups (each says at its top what it measures):
//!
//! - `compile/{own,sigmahq,sigmahq-2-threads}`: `Builder::build` of a whole pack (rule files
//!   parsed on 1 or 2 threads).
//! - `evaluate/{engine,engine-nocache,reference}/{10,100,full}/{generated,real}`:
//!   `matches_record` over records filled once outside the timing loop.
//! - `fields/<Field>`: one field's literal matcher over every value of that
//!   field in the real Sysmon corpus.
//! - `pathological/<pack>/{compile,evaluate}`: generated worst-case packs.
//!
//! Data: the SigmaHQ pack and real events come from `../shared` (skipped with
//! a message when it is absent); the generated corpus is 20,000 events of
//! `sigmata-corpus` seed 1, generated once per run. Every match count is
//! checked against the reference evaluator before anything is timed.

use std::sync::LazyLock;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use sigmata::{Engine, MatchSet, Record};
use sigmata_benches::*;

/// Events on which the engine's match count is checked against the reference
/// evaluator before timing.
const VERIFY_EVENTS: usize = 200;
/// Events the reference evaluator is timed on (it is 2–3 orders of magnitude
/// slower than the engine).
const REFERENCE_EVENTS: usize = 100;
/// Size of the generated corpus and its seed.
const GENERATED_EVENTS: usize = 20_000;
const SEED: u64 = 1;

/// Everything loaded once per run.
struct Data {
    own: Pack,
    /// SigmaHQ (rules + emerging threats + threat hunting), all logsources.
    sigmahq: Option<Pack>,
    /// Its Windows process_creation files, sorted by path.
    windows: Option<Pack>,
    generated: Corpus,
    sysmon: Option<Corpus>,
}

static DATA: LazyLock<Data> = LazyLock::new(|| {
    let sigmahq = sigmahq_pack();
    if sigmahq.is_none() {
        eprintln!("../shared is absent: benchmarks of the SigmaHQ pack and the real corpus are skipped");
    }
    let windows = sigmahq.as_ref().map(windows_files);
    if let (Some(all), Some(w)) = (&sigmahq, &windows) {
        eprintln!("SigmaHQ: {} rule files, {} of them Windows process_creation", all.len(), w.len());
    }
    let generated = generated(SEED, GENERATED_EVENTS);
    let sysmon = real("sysmon_1.jsonl");
    for c in std::iter::once(&generated).chain(&sysmon) {
        eprintln!("corpus {}: {} ({} events, {} bytes)", c.name, c.source, c.len(), c.bytes(c.len()));
    }
    Data { own: own_pack(), sigmahq, windows, generated, sysmon }
});

fn compile(c: &mut Criterion) {
    // What: `Builder::build` of a whole pack for Windows process_creation
    // events: YAML parsing, lowering, logsource selection, planning and
    // automaton construction. Throughput counts rule files of the pack (all
    // logsources are parsed; only the applicable rules are compiled).
    let d = &*DATA;
    let mut g = c.benchmark_group("compile");
    g.sampling_mode(SamplingMode::Flat);
    let mut packs = vec![("own", &d.own)];
    packs.extend(d.sigmahq.as_ref().map(|p| ("sigmahq", p)));
    for (name, pack) in packs {
        let engine = build(pack);
        eprintln!("compile/{name}: {} files, {} rules loaded for Windows process_creation", pack.len(), engine.len());
        g.throughput(Throughput::Elements(pack.len() as u64));
        g.bench_function(name, |b| b.iter(|| build(pack)));
    }
    // The CLI parses rule files on every core (`Builder::threads`).
    if let Some(pack) = &d.sigmahq {
        g.throughput(Throughput::Elements(pack.len() as u64));
        g.bench_function("sigmahq-2-threads", |b| b.iter(|| build_threads(pack, windows_config(), 2)));
    }
    g.finish();
}

/// Checks the engine (with and without the value cache) against the
/// reference evaluator on the first `VERIFY_EVENTS` events, and prints the
/// match counts.
fn verify(name: &str, engine: &Engine, nocache: &Engine, corpus: &Corpus, recs: &[Record], recs_nc: &[Record]) {
    let few = VERIFY_EVENTS.min(corpus.len());
    let want = count_reference(engine, &corpus.events[..few]);
    let got = count_record_matches(engine, &recs[..few]);
    let got_nc = count_record_matches(nocache, &recs_nc[..few]);
    assert_eq!(got, want, "{name}: engine and reference disagree on the first {few} events");
    assert_eq!(got_nc, want, "{name}: engine-nocache and reference disagree on the first {few} events");
    let all = count_record_matches(engine, recs);
    let all_nc = count_record_matches(nocache, recs_nc);
    assert_eq!(all, all_nc, "{name}: value cache changes the match count");
    eprintln!(
        "{name}: {} rules; first {few} events: {got} (event, rule) matches, reference {want} (verified); \
         all {} events: {all} matches",
        engine.len(),
        corpus.len()
    );
}

/// Times `matches_record` over `recs` (one iteration = every record).
fn run_records(engine: &Engine, recs: &[Record]) -> impl FnMut() -> usize {
    let mut cache = engine.create_cache();
    let mut set = MatchSet::new();
    move || {
        let mut n = 0;
        for r in recs {
            engine.matches_record(&mut cache, r, &mut set);
            n += set.len();
        }
        n
    }
}

fn evaluate(c: &mut Criterion) {
    // What: `Engine::matches_record` over records filled once outside the
    // timing loop (so no JSON parsing), with the first 10, 100 and all
    // SigmaHQ Windows process_creation rules (files sorted by path). One
    // iteration evaluates every event of the corpus: 20,000 generated events
    // (seed 1) or the 4,774 real Sysmon events of sysmon_1.jsonl. `engine` is
    // the default configuration, `engine-nocache` has `value_cache(0, 0)`,
    // `reference` is the reference evaluator (`reference::eval` of every rule
    // on the same records) over the first 100 events only. Throughput: events
    // and the JSONL bytes those events take. Match counts are checked against
    // the reference on the first 200 events before timing.
    let d = &*DATA;
    let Some(windows) = &d.windows else {
        eprintln!("evaluate: ../shared is absent, skipped");
        return;
    };
    let mut g = c.benchmark_group("evaluate");
    g.sampling_mode(SamplingMode::Flat);
    let sizes = [("10", 10), ("100", 100), ("full", windows.len())];
    for corpus in std::iter::once(&d.generated).chain(&d.sysmon) {
        for (label, n) in sizes {
            let files: Pack = windows[..n].to_vec();
            let engine = build(&files);
            let nocache = build_with(&files, windows_config().value_cache(0, 0));
            let recs = records(&engine, &corpus.events);
            let recs_nc = records(&nocache, &corpus.events);
            let param = format!("{label}/{}", corpus.name);
            verify(&format!("evaluate/{param}"), &engine, &nocache, corpus, &recs, &recs_nc);

            let all = corpus.len();
            g.throughput(Throughput::ElementsAndBytes { elements: all as u64, bytes: corpus.bytes(all) });
            let mut run = run_records(&engine, &recs);
            g.bench_function(BenchmarkId::new("engine", &param), |b| b.iter(&mut run));
            let mut run = run_records(&nocache, &recs_nc);
            g.bench_function(BenchmarkId::new("engine-nocache", &param), |b| b.iter(&mut run));

            let few = REFERENCE_EVENTS.min(all);
            g.throughput(Throughput::ElementsAndBytes { elements: few as u64, bytes: corpus.bytes(few) });
            g.bench_function(BenchmarkId::new("reference", &param), |b| {
                b.iter(|| count_reference(&engine, &recs[..few]))
            });
        }
    }
    g.finish();
}

fn fields(c: &mut Criterion) {
    // What: one field's literal matcher alone (`Engine::bench_scan_field`,
    // the scan that decides the field's literal predicates), over every value
    // of that field in sysmon_1.jsonl, folded beforehand with
    // `sigmata::fold::fold_str`. Engine: all SigmaHQ Windows process_creation
    // rules. Throughput: values and their bytes.
    let d = &*DATA;
    let (Some(windows), Some(sysmon)) = (&d.windows, &d.sysmon) else {
        eprintln!("fields: ../shared is absent, skipped");
        return;
    };
    let engine = build(windows);
    let mut g = c.benchmark_group("fields");
    g.sampling_mode(SamplingMode::Flat);
    for name in ["CommandLine", "Image", "ParentImage", "ParentCommandLine", "OriginalFileName", "Hashes"] {
        let Some((field, _)) = engine.fields().iter().find(|(_, n)| *n == name) else {
            eprintln!("fields/{name}: no rule reads this field, skipped");
            continue;
        };
        let values: Vec<String> = sysmon
            .events
            .iter()
            .filter_map(|e| e.get(name).and_then(|v| v.as_str()))
            .map(|s| sigmata::fold::fold_str(s).into_owned())
            .collect();
        let bytes: usize = values.iter().map(String::len).sum();
        let mut cache = engine.create_cache();
        let fired: usize = values.iter().map(|v| engine.bench_scan_field(field, v, &mut cache)).sum();
        eprintln!("fields/{name}: {} values, {bytes} bytes, {fired} predicates decided", values.len());
        g.throughput(Throughput::ElementsAndBytes { elements: values.len() as u64, bytes: bytes as u64 });
        g.bench_function(name, |b| {
            b.iter(|| values.iter().map(|v| engine.bench_scan_field(field, v, &mut cache)).sum::<usize>())
        });
    }
    g.finish();
}

/// A small deterministic generator of random literals (xorshift64*).
struct Lits(u64);

impl Lits {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A random literal of 8–16 characters of `[a-z0-9]`.
    fn literal(&mut self) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let len = 8 + (self.next() % 9) as usize;
        (0..len).map(|_| ALPHABET[(self.next() % ALPHABET.len() as u64) as usize] as char).collect()
    }
}

const HEADER: &str = "logsource: {category: process_creation, product: windows}\n";

/// The generated packs of `pathological/*`: (name, files).
fn pathological_packs() -> Vec<(&'static str, Pack)> {
    let mut lits = Lits(0x5eed_5eed_5eed_5eed);
    let mut packs = Vec::new();

    // 1,000 rules, each `CommandLine|contains` one distinct random literal.
    let mut seen = std::collections::HashSet::new();
    let rules: Pack = (0..1000)
        .map(|i| {
            let lit = loop {
                let l = lits.literal();
                if seen.insert(l.clone()) {
                    break l;
                }
            };
            let text = format!(
                "title: random literal {i}\n{HEADER}detection:\n  sel:\n    CommandLine|contains: '{lit}'\n  condition: sel\n"
            );
            (format!("random_{i:04}.yml"), text)
        })
        .collect();
    packs.push(("1000-rules-contains", rules));

    // One rule whose single item is a 1,000-way `contains` list.
    let mut text = format!("title: 1000-way list\n{HEADER}detection:\n  sel:\n    CommandLine|contains:\n");
    for _ in 0..1000 {
        text.push_str(&format!("      - '{}'\n", lits.literal()));
    }
    text.push_str("  condition: sel\n");
    packs.push(("1000-way-contains", vec![("list.yml".into(), text)]));

    // A 40-level nested condition, `s0 and (s1 or (s2 and (s3 or …)))`: the
    // AND levels test common one-letter literals and the OR levels random
    // ones (the innermost is common again), so evaluation usually walks deep
    // before it is decided.
    const LEVELS: usize = 40;
    let mut text = format!("title: nested 40\n{HEADER}detection:\n");
    for i in 0..LEVELS {
        let common = i % 2 == 0 || i == LEVELS - 1;
        let value =
            if common { ["e", "s", "a", "i", "o", "n", "t", "r"][i / 2 % 8].to_string() } else { lits.literal() };
        text.push_str(&format!("  s{i}:\n    CommandLine|contains: '{value}'\n"));
    }
    let mut cond = format!("s{}", LEVELS - 1);
    for i in (0..LEVELS - 1).rev() {
        cond = format!("s{i} {} ({cond})", if i % 2 == 0 { "and" } else { "or" });
    }
    text.push_str(&format!("  condition: {cond}\n"));
    packs.push(("nested-40", vec![("nested.yml".into(), text)]));

    // `base64offset` of `windash` expansions: every dash of each value becomes
    // five characters, and each variant three Base64 offsets.
    let values = [
        " -nop -w hidden -enc ",
        " -exec bypass -file ",
        " -noni -nop -c ",
        " -ep bypass ",
        " -windowstyle hidden ",
        " -encodedcommand ",
        "iex (new-object net.webclient).downloadstring(",
        " /c whoami /all",
    ];
    let mut text = format!("title: base64offset windash\n{HEADER}detection:\n  sel:\n");
    text.push_str("    CommandLine|windash|base64offset|contains:\n");
    for v in values {
        text.push_str(&format!("      - '{v}'\n"));
    }
    text.push_str("  condition: sel\n");
    packs.push(("base64offset-windash", vec![("b64.yml".into(), text)]));
    packs
}

fn pathological(c: &mut Criterion) {
    // What: packs built to stress one part of the engine, compiled
    // (`compile`: `Builder::build`; throughput: rules and bytes of rule text)
    // and evaluated (`evaluate`: `matches_record` over the 20,000 pre-filled
    // generated events; throughput: events and their JSONL bytes):
    // 1,000 rules of one random 8–16 character `contains` literal each; one
    // rule with a 1,000-way `contains` list; a 40-level nested condition;
    // `CommandLine|windash|base64offset|contains` over 8 values with dashes.
    let d = &*DATA;
    let corpus = &d.generated;
    let mut g = c.benchmark_group("pathological");
    g.sampling_mode(SamplingMode::Flat);
    for (name, pack) in pathological_packs() {
        let mut b = sigmata::Builder::new();
        b.config(windows_config());
        for (origin, text) in &pack {
            b.add_source(origin, text);
        }
        let (engine, report) = b.build();
        assert!(report.errors.is_empty(), "pathological/{name}: {:?}", report.errors);
        assert_eq!(engine.len(), pack.len(), "pathological/{name}: every rule loads");
        let recs = records(&engine, &corpus.events);
        let few = VERIFY_EVENTS.min(corpus.len());
        let got = count_record_matches(&engine, &recs[..few]);
        let want = count_reference(&engine, &corpus.events[..few]);
        assert_eq!(got, want, "pathological/{name}: engine and reference disagree");
        eprintln!(
            "pathological/{name}: {} rules; first {few} events: {got} matches (verified); all {}: {}",
            engine.len(),
            corpus.len(),
            count_record_matches(&engine, &recs)
        );

        // One throughput kind per group (criterion's plots need it): here
        // rules and bytes of rule text.
        let text_bytes = pack.iter().map(|(_, t)| t.len() as u64).sum();
        g.throughput(Throughput::ElementsAndBytes { elements: pack.len() as u64, bytes: text_bytes });
        g.bench_function(BenchmarkId::new(name, "compile"), |b| b.iter(|| build(&pack)));
        let all = corpus.len();
        g.throughput(Throughput::ElementsAndBytes { elements: all as u64, bytes: corpus.bytes(all) });
        let mut run = run_records(&engine, &recs);
        g.bench_function(BenchmarkId::new(name, "evaluate"), |b| b.iter(&mut run));
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default().sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = engine;
    config = config();
    targets = compile, evaluate, fields, pathological
}
criterion_main!(engine);
