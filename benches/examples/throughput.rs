//! A quick throughput probe for profiling (perf, callgrind) and for trying
//! planner changes without a full criterion run:
//!
//! ```sh
//! cargo run --release -p sigmata-benches --example throughput -- [own|sigmahq] [CORPUS.jsonl] [--no-cache] [--passes N]
//! ```
//!
//! It pre-parses the corpus into records, then times `matches_record` over
//! all of them `passes` times and prints events/s and the match count.
//! Numbers for the record go through the criterion benches.

use std::time::Instant;

use sigmata::{Config, MatchSet, Record};
use sigmata_benches::*;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let pack = match args.first().map(String::as_str) {
        Some("own") => own_pack(),
        _ => sigmahq_pack().expect("../shared is needed for the SigmaHQ pack"),
    };
    let corpus = args
        .iter()
        .find(|a| a.ends_with(".jsonl"))
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| shared().expect("../shared").join("corpora/sysmon_1.jsonl"));
    let passes: usize = args
        .iter()
        .position(|a| a == "--passes")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let mut config = windows_config();
    if args.iter().any(|a| a == "--no-cache") {
        config = config.value_cache(0, 0);
    }
    if args.iter().any(|a| a == "--dfa") {
        config = config.automaton(sigmata::AutomatonKind::Dfa);
    }
    if args.iter().any(|a| a == "--daac") {
        config = config.automaton(sigmata::AutomatonKind::DoubleArray);
    }
    if let Some(path) = args.iter().position(|a| a == "--learn").and_then(|i| args.get(i + 1)) {
        // Experiment: a frequency model learned from another corpus.
        let evs = read_corpus(std::path::Path::new(path));
        let fields = [
            "CommandLine",
            "ParentCommandLine",
            "Image",
            "ParentImage",
            "OriginalFileName",
            "Description",
            "Product",
            "Company",
            "Hashes",
            "User",
            "IntegrityLevel",
            "CurrentDirectory",
            "FileVersion",
            "ParentUser",
            "LogonId",
        ];
        let model = sigmata::freq::FrequencyModel::learn(
            &fields,
            evs.iter().map(|e| {
                fields.iter().filter_map(|f| e.get(*f).and_then(|v| v.as_str()).map(|v| (*f, v))).collect::<Vec<_>>()
            }),
        );
        config = config.frequency_model(Some(std::sync::Arc::new(model)));
    }
    if args.iter().any(|a| a == "--no-model") {
        config = config.frequency_model(None);
    }
    if args.iter().any(|a| a == "--nfa") {
        config = config.automaton(sigmata::AutomatonKind::ContiguousNfa);
    }
    let t = Instant::now();
    let engine = build_with(&pack, config);
    eprintln!("compile: {} rules in {:.0} ms", engine.len(), t.elapsed().as_secs_f64() * 1e3);
    let stats = engine.plan_stats();
    eprintln!("plan: {stats:#?}");
    let events = read_corpus(&corpus);
    let records: Vec<Record> = events
        .iter()
        .map(|e| {
            let mut r = Record::new();
            engine.fill(&mut r, e);
            r
        })
        .collect();
    if args.iter().any(|a| a == "--json") {
        // End to end from JSONL text: fill_json + matches_record.
        let text = std::fs::read_to_string(&corpus).expect("corpus");
        let lines: Vec<&str> = text.lines().collect();
        let mut record = Record::new();
        let mut cache = engine.create_cache();
        let mut set = MatchSet::new();
        let mut bad = 0;
        let t = Instant::now();
        let mut matches = 0;
        for _ in 0..passes {
            for l in &lines {
                if let Err(e) = engine.fill_json(&mut record, l) {
                    bad += 1;
                    if bad < 3 {
                        eprintln!("{e}");
                    }
                }
                engine.matches_record(&mut cache, &record, &mut set);
                matches += set.len();
            }
        }
        let secs = t.elapsed().as_secs_f64();
        let n = (lines.len() * passes) as f64;
        println!(
            "json: {:.0} events/s, {:.0} ns/event, {} matches per pass, {bad} errors",
            n / secs,
            secs / n * 1e9,
            matches / passes
        );
        let t = Instant::now();
        for _ in 0..passes {
            for l in &lines {
                let _ = engine.fill_json(&mut record, l);
            }
        }
        let secs = t.elapsed().as_secs_f64();
        println!("fill_json only: {:.0} ns/event", secs / n * 1e9);
        return;
    }
    if args.iter().any(|a| a == "--regexes") {
        // Cost of each regex of the pack over every value of its field.
        let mut seen = std::collections::HashSet::new();
        let mut rows = Vec::new();
        for (_, lr) in engine.rules() {
            lr.ir.expr.for_each_pred(&mut |p| {
                if let (sigmata::ir::Target::Field(f), sigmata::ir::Test::Regex { pattern, flags }) =
                    (p.target, &p.test)
                {
                    if !seen.insert(pattern.clone()) {
                        return;
                    }
                    let name = engine.fields().name(f).to_string();
                    let syntax = regex_automata::util::syntax::Config::new().case_insensitive(flags.ignore_case);
                    let re = regex_automata::meta::Regex::builder().syntax(syntax).build(pattern).unwrap();
                    let vals: Vec<&str> = events.iter().filter_map(|e| e.get(&name).and_then(|v| v.as_str())).collect();
                    let t = Instant::now();
                    let mut hits = 0;
                    for v in &vals {
                        if re.is_match(*v) {
                            hits += 1;
                        }
                    }
                    rows.push((
                        t.elapsed().as_secs_f64() / vals.len().max(1) as f64 * 1e9,
                        name,
                        pattern.clone(),
                        hits,
                    ));
                }
            });
        }
        rows.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (ns, f, p, h) in rows.iter().take(15) {
            println!("{ns:8.0} ns/value {f} {h} hits {p}");
        }
        return;
    }
    if args.iter().any(|a| a == "--fields") {
        // Per-field matcher cost: every value of the corpus, folded first.
        let mut out = engine.create_cache();
        for (field, name) in engine.fields().iter() {
            let values: Vec<String> = events
                .iter()
                .filter_map(|e| e.get(name).and_then(|v| v.as_str()).map(|s| sigmata::fold::fold_str(s).into_owned()))
                .collect();
            if values.is_empty() {
                continue;
            }
            let bytes: usize = values.iter().map(String::len).sum();
            let t = Instant::now();
            let mut fired = 0;
            for _ in 0..passes {
                for v in &values {
                    fired += engine.bench_scan_field(field, v, &mut out);
                }
            }
            let secs = t.elapsed().as_secs_f64();
            let n = (values.len() * passes) as f64;
            println!(
                "{name:18} {:6} values, {:6.1} ns/value, {:5.2} ns/byte, {:5.1} fired/value",
                values.len(),
                secs / n * 1e9,
                secs / (bytes * passes) as f64 * 1e9,
                fired as f64 / n
            );
        }
        return;
    }
    let mut cache = engine.create_cache();
    let mut set = MatchSet::new();
    let t = Instant::now();
    let mut matches = 0;
    for _ in 0..passes {
        for r in &records {
            engine.matches_record(&mut cache, r, &mut set);
            matches += set.len();
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let n = (records.len() * passes) as f64;
    println!(
        "{} events x {passes} passes: {:.0} events/s, {:.0} ns/event, {} matches per pass",
        records.len(),
        n / secs,
        secs / n * 1e9,
        matches / passes
    );
    let _ = Config::new();
    let c = cache.counters();
    let per = |x: u64| x as f64 / c.events as f64;
    println!(
        "per event: {:.1} scans ({:.1} cache hits), {:.1} fired, {:.1} programs, {:.1} lazy predicates",
        per(c.scans),
        per(c.cache_hits),
        per(c.fired),
        per(c.programs),
        per(c.lazy)
    );
}
