//! What a literal automaton's scan costs per byte, and what it depends on:
//! the SigmaHQ Windows pack's `CommandLine` literals (as the engine folds
//! them) over the folded command lines of a corpus, scanned by daachorse
//! built as the engine builds it, by smaller automata (every literal cut
//! short, or one literal in k), by aho-corasick's DFA, by daachorse's
//! charwise automaton, and by two daachorse steppers side by side.
//!
//! ```sh
//! python3 benches/scripts/distinct.py target/bench
//! cargo run --release -p sigmata-benches --example automata -- target/bench/distinct.jsonl
//! ```
//!
//! Best of 7 passes per row, wall clock: run it on a quiet machine. The
//! fifth round of BENCHMARKS.md has its figures.

use sigmata_benches::*;

fn main() {
    let corpus = std::env::args().nth(1).map(std::path::PathBuf::from).expect("usage: automata CORPUS.jsonl");
    let engine = build(&sigmahq_pack().expect("../shared is needed for the SigmaHQ pack"));
    let field = engine.fields().get("CommandLine").expect("the pack reads CommandLine");
    let literals = engine.bench_field_literals(field);
    let texts: Vec<String> = read_corpus(&corpus)
        .iter()
        .filter_map(|e| e.get("CommandLine")?.as_str().map(|s| sigmata::fold::fold_str(s).into_owned()))
        .collect();
    let bytes: usize = texts.iter().map(String::len).sum();
    println!("{} CommandLine literals, {} command lines, {bytes} bytes", literals.len(), texts.len());
    // Best of 7 passes of `pass` (which returns the matches it found).
    let time = |name: &str, size: usize, pass: &dyn Fn() -> usize| {
        let (best, matches) = best_of(7, pass);
        println!("{name:44} {:>7} KiB {:6.2} ns/byte {matches:>9} matches", size / 1024, best * 1e9 / bytes as f64);
    };
    let each = |scan: &dyn Fn(&str) -> usize| texts.iter().map(|s| scan(s)).sum::<usize>();
    let daachorse = |lits: &[&str]| {
        daachorse::DoubleArrayAhoCorasickBuilder::new()
            .use_prefilter(false)
            .match_kind(daachorse::MatchKind::Standard)
            .build_with_values(lits.iter().zip(0u32..).map(|(t, i)| (t.as_bytes(), i)))
            .expect("daachorse builds the pack's literals")
    };
    let all = daachorse(&literals);
    time("daachorse, all literals", all.heap_bytes(), &|| each(&|s| all.find_overlapping_iter(s).count()));
    for cut in [16, 12, 8, 4] {
        let mut heads: Vec<&str> = literals
            .iter()
            .map(|l| {
                let mut end = l.len().min(cut);
                while !l.is_char_boundary(end) {
                    end -= 1;
                }
                &l[..end]
            })
            .filter(|h| !h.is_empty())
            .collect();
        heads.sort_unstable();
        heads.dedup();
        let da = daachorse(&heads);
        time(&format!("daachorse, literals cut to {cut} bytes"), da.heap_bytes(), &|| {
            each(&|s| da.find_overlapping_iter(s).count())
        });
    }
    for k in [2, 4, 8, 16] {
        let some: Vec<&str> = literals.iter().step_by(k).copied().collect();
        let da = daachorse(&some);
        time(&format!("daachorse, one literal in {k} ({})", some.len()), da.heap_bytes(), &|| {
            each(&|s| da.find_overlapping_iter(s).count())
        });
    }
    let dfa = aho_corasick::AhoCorasick::builder()
        .kind(Some(aho_corasick::AhoCorasickKind::DFA))
        .build(&literals)
        .expect("aho-corasick builds the pack's literals");
    time("aho-corasick DFA, all literals", dfa.memory_usage(), &|| each(&|s| dfa.find_overlapping_iter(s).count()));
    let charwise = daachorse::CharwiseDoubleArrayAhoCorasickBuilder::new()
        .match_kind(daachorse::MatchKind::Standard)
        .build_with_values(literals.iter().zip(0u32..).map(|(t, i)| (*t, i)))
        .expect("daachorse builds the pack's literals");
    time("daachorse charwise, all literals", charwise.heap_bytes(), &|| {
        each(&|s| charwise.find_overlapping_iter(s).count())
    });
    // Two command lines stepped byte by byte side by side: the pairs are
    // timed as one text each, so the figure is per byte of both.
    let pairs: Vec<(&str, &str)> =
        texts.chunks(2).map(|p| (p[0].as_str(), p.get(1).map_or("", |s| s.as_str()))).collect();
    time("daachorse, two lines stepped side by side", all.heap_bytes(), &|| {
        let mut matches = 0;
        for (a, b) in &pairs {
            let (a, b) = (a.as_bytes(), b.as_bytes());
            let (mut sa, mut sb) = (all.find_overlapping_stepper(), all.find_overlapping_stepper());
            let both = a.len().min(b.len());
            for i in 0..both {
                sa.consume(a[i]);
                sb.consume(b[i]);
                matches += sa.matches().count() + sb.matches().count();
            }
            for &c in &a[both..] {
                sa.consume(c);
                matches += sa.matches().count();
            }
            for &c in &b[both..] {
                sb.consume(c);
                matches += sb.matches().count();
            }
        }
        matches
    });
}
