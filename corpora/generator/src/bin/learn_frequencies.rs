//! Learns sigmata's built-in frequency model from the generated corpus and
//! writes it to `engine/data/frequency.tsv` (or the given path):
//!
//! ```sh
//! cargo run --release -p sigmata-corpus --bin learn-frequencies -- [--seed N] [--count N] [--out FILE]
//! ```
//!
//! Only benign and near-miss events are counted: the model describes what
//! ordinary fleets log, which is what makes a witness selective.

use sigmata_corpus::{Generator, Kind};

/// The Sysmon fields process_creation rules read.
const FIELDS: &[&str] = &[
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
    "ParentUser",
    "IntegrityLevel",
    "CurrentDirectory",
    "FileVersion",
    "LogonId",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "learn-frequencies [--seed N] [--count N] [--out FILE]  (default: seed 1, 200000 events, engine/data/frequency.tsv)"
        );
        return;
    }
    let seed: u64 = opt("--seed").and_then(|s| s.parse().ok()).unwrap_or(1);
    let count: usize = opt("--count").and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let out = opt("--out")
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../engine/data/frequency.tsv").to_string());
    let mut generator = Generator::new(seed);
    let mut events = Vec::with_capacity(count);
    while events.len() < count {
        let e = generator.next_event();
        if generator.kind_of_last() != Kind::Attack {
            events.push(e);
        }
    }
    let model = sigmata::freq::FrequencyModel::learn(
        FIELDS,
        events
            .iter()
            .map(|e| FIELDS.iter().filter_map(|f| e.get(*f).and_then(|v| v.as_str()).map(|v| (*f, v))).collect()),
    );
    let tsv = model.to_tsv();
    std::fs::write(&out, &tsv).unwrap_or_else(|e| panic!("{out}: {e}"));
    eprintln!("wrote {out}: {} lines from {count} events (seed {seed})", tsv.lines().count());
}
