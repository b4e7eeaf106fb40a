//! One measured phase of the instruction-count gate
//! (`benches/scripts/instructions.sh`), run under callgrind:
//!
//! ```sh
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='instructions::measured_*' \
//!     target/release/instructions compile|evaluate|evaluate-bundle own|sigmahq|sigmahq-pc [EVENTS.jsonl]
//! ```
//!
//! `instructions sidecar-events` prints the events of the project pack's
//! sidecar tests as JSON lines, for the corpus of `evaluate own`.
//!
//! Everything outside the `measured_*` functions (reading files, building
//! the frequency model, and for `evaluate` compiling the engine) is not
//! counted. `compile` counts `Builder::build_correlated` over the pack's rule texts;
//! `evaluate` counts, for every line of the corpus, `Engine::fill_json` and
//! `Engine::matches_record` with one warm cache, as a scan does;
//! `evaluate-bundle` the same with the engine read back from its bundle
//! (after one uncounted pass, since a loaded bundle compiles each regex on
//! first use), so that a loaded engine evaluating slower than a compiled
//! one fails the gate too. Both print
//! what they produced (rules loaded, matches), which the gate compares
//! exactly: a change that saves instructions by losing detections fails.

use sigmata::{Config, Engine, LoadReport, MatchSet, Record};
use sigmata_benches::*;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: instructions compile|evaluate|evaluate-bundle own|sigmahq|sigmahq-pc [EVENTS.jsonl] | instructions sidecar-events";
    if args.first().map(String::as_str) == Some("sidecar-events") {
        for line in own_sidecar_events() {
            println!("{line}");
        }
        return;
    }
    let (Some(phase), Some(pack)) = (args.first(), args.get(1)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let shared = |pack: Option<Pack>| {
        pack.unwrap_or_else(|| {
            eprintln!("instructions: ../shared/sigma is needed for the SigmaHQ packs");
            std::process::exit(2);
        })
    };
    let pack = match pack.as_str() {
        "own" => own_pack(),
        "sigmahq" => shared(sigmahq_pack()),
        "sigmahq-pc" => shared(sigmahq_process_creation_pack()),
        other => {
            eprintln!("instructions: unknown pack {other}\n{usage}");
            std::process::exit(2);
        }
    };
    // Built outside the measured functions: the built-in frequency model
    // is read when the first Config is made.
    let config = windows_config();
    match phase.as_str() {
        "compile" => {
            let (engine, correlations, report) = measured_compile(&pack, config);
            println!("rules={} correlations={} refused={}", engine.len(), correlations.len(), report.errors.len());
        }
        "evaluate" | "evaluate-bundle" => {
            let Some(path) = args.get(2) else {
                eprintln!("{usage}");
                std::process::exit(2);
            };
            let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            let mut engine = build_with(&pack, config);
            if phase == "evaluate-bundle" {
                engine = Engine::from_bundle(&engine.to_bundle()).unwrap_or_else(|e| panic!("the bundle loads: {e}"));
                // A loaded bundle compiles each regex on first use: one
                // pass first, so that only evaluation is counted.
                warm_up(&engine, &lines);
            }
            let (events, matches) = measured_evaluate(&engine, &lines);
            println!("rules={} events={events} matches={matches}", engine.len());
        }
        other => {
            eprintln!("instructions: unknown phase {other}\n{usage}");
            std::process::exit(2);
        }
    }
}

#[inline(never)]
fn measured_compile(pack: &Pack, config: Config) -> (Engine, sigmata::correlate::Correlations, LoadReport) {
    let mut b = sigmata::Builder::new();
    b.config(config);
    for (origin, text) in pack {
        b.add_source(origin, text);
    }
    b.build_correlated()
}

/// Not counted: callgrind counts only inside `measured_*` functions.
#[inline(never)]
fn warm_up(engine: &Engine, lines: &[&str]) {
    evaluate(engine, lines);
}

#[inline(never)]
fn measured_evaluate(engine: &Engine, lines: &[&str]) -> (usize, usize) {
    evaluate(engine, lines)
}

fn evaluate(engine: &Engine, lines: &[&str]) -> (usize, usize) {
    let mut cache = engine.create_cache();
    let mut record = Record::new();
    let mut out = MatchSet::new();
    let (mut events, mut matches) = (0, 0);
    for line in lines {
        if engine.fill_json(&mut record, line).is_ok() {
            engine.matches_record(&mut cache, &record, &mut out);
            events += 1;
            matches += out.len();
        }
    }
    (events, matches)
}
