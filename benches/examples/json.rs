//! What reading the JSON of an event costs, against a SIMD JSON reader: the
//! engine's `fill_json` (the fields the SigmaHQ Windows pack reads, copied
//! into a record, every skipped value validated); sonic-rs doing the same
//! work two ways, by its lazy object iterator (each key compared with the
//! fields the pack reads) and by `get_many` with one pointer tree of those
//! fields (the string values found decoded into one buffer, the other
//! values skipped with validation); serde_json's whole `Value` for scale;
//! and a `memchr` count of the quotes as the floor of touching every byte.
//!
//! ```sh
//! python3 benches/scripts/distinct.py target/bench
//! cargo run --release -p sigmata-benches --example json -- target/bench/distinct.jsonl
//! ```
//!
//! Best of 7 passes per row, wall clock: run it on a quiet machine. The
//! sixth round of BENCHMARKS.md has its figures.

use std::collections::HashSet;

use sigmata::{Record, Value};
use sigmata_benches::*;
use sonic_rs::JsonValueTrait;

fn main() {
    let corpus = std::env::args().nth(1).map(std::path::PathBuf::from).expect("usage: json CORPUS.jsonl");
    let engine = build(&sigmahq_pack().expect("../shared is needed for the SigmaHQ pack"));
    let text = std::fs::read_to_string(&corpus).expect("the corpus is readable UTF-8");
    let lines: Vec<&str> = text.lines().collect();
    let read: HashSet<&str> = engine.read_fields().map(|(_, name)| name).collect();
    println!("{} lines, {} bytes, {} fields read by the pack", lines.len(), text.len(), read.len());
    // Best of 7 passes of `pass`, which returns what it read (compared
    // between rows where they read the same).
    let time = |name: &str, pass: &dyn Fn() -> usize| {
        let (best, got) = best_of(7, pass);
        let per = best * 1e9 / lines.len() as f64;
        println!("{name:52} {per:7.0} ns/event {:5.2} ns/byte {got:>10}", best * 1e9 / text.len() as f64);
    };
    time("sigmata fill_json (string values read: their bytes)", &|| {
        let mut record = Record::new();
        let mut bytes = 0;
        for l in &lines {
            engine.fill_json(&mut record, l).expect("the corpus is valid JSON");
            for f in record.present_fields() {
                for v in record.field_values(f) {
                    if let Value::Str(s) = v {
                        bytes += s.len();
                    }
                }
            }
        }
        bytes
    });
    // The string values of the read fields of every line, decoded into one
    // buffer per line by `line`: their bytes.
    let decode = |line: &dyn Fn(&str, &mut String)| {
        let mut buf = String::new();
        lines
            .iter()
            .map(|l| {
                buf.clear();
                line(l, &mut buf);
                buf.len()
            })
            .sum()
    };
    time("sonic-rs to_object_iter (same values decoded)", &|| {
        decode(&|l, buf| {
            for pair in sonic_rs::to_object_iter(l) {
                let (key, value) = pair.expect("the corpus is valid JSON");
                if let (true, Some(s)) = (read.contains(&*key), value.as_str()) {
                    buf.push_str(s);
                }
            }
        })
    });
    let mut tree = sonic_rs::PointerTree::new();
    for name in &read {
        tree.add_path([*name]);
    }
    time("sonic-rs get_many (same values, one pointer tree)", &|| {
        decode(&|l, buf| {
            let found = sonic_rs::get_many(l, &tree).expect("the corpus is valid JSON");
            for s in found.iter().flatten().filter_map(|v| v.as_str()) {
                buf.push_str(s);
            }
        })
    });
    time("serde_json::Value (everything)", &|| {
        lines
            .iter()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).map_or(0, |v| v.as_object().map_or(0, |o| o.len())))
            .sum()
    });
    time("memchr count of quotes (touching every byte)", &|| {
        lines.iter().map(|l| memchr::memchr_iter(b'"', l.as_bytes()).count()).sum()
    });
}
