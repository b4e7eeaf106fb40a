//! rsigma-eval 0.23 over JSONL files, end to end, for `benches/scripts/compare.sh`:
//!
//! ```sh
//! cargo run --release -p sigmata-benches --example peer_scan -- FILE.jsonl...
//! ```
//!
//! Loads the SigmaHQ Windows process_creation rule files that sigmata loads
//! (core, emerging threats, threat hunting) and that rsigma parses, then reads
//! each file line by line the way rsigma-eval is meant to be fed
//! (`serde_json::from_str` + `JsonEvent` + `Engine::evaluate`; rsigma-eval has
//! no text entry point of its own) and prints one JSON object per file:
//! events, matches, and the seconds spent loading and scanning, timed inside
//! the process like `sigmata scan --stats`'s `scan_s`.

use std::io::BufRead;
use std::time::Instant;

use rsigma_eval::event::JsonEvent;
use sigmata_benches::{sigmahq_pack, windows_files};

fn main() {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: peer_scan FILE.jsonl...");
        std::process::exit(2);
    }
    let Some(pack) = sigmahq_pack() else {
        eprintln!("peer_scan: ../shared/sigma is needed for the SigmaHQ pack");
        std::process::exit(2);
    };
    // Which files are Windows process_creation rules is sigmata's decision
    // (outside the timed load), so both engines get the same files.
    let files = windows_files(&pack);
    let start = Instant::now();
    let mut engine = rsigma_eval::Engine::new();
    let mut refused = 0;
    let mut rules = Vec::new();
    for (_, text) in &files {
        match rsigma_parser::parse_sigma_yaml(text) {
            Ok(c) if c.errors.is_empty() && !c.rules.is_empty() => rules.extend(c.rules),
            _ => refused += 1,
        }
    }
    // Rules that do not compile are left out by rsigma; count them as refused.
    refused += engine.add_rules(&rules).len();
    let load_s = start.elapsed().as_secs_f64();
    for path in &paths {
        let file = std::fs::File::open(path).unwrap_or_else(|e| {
            eprintln!("{path}: {e}");
            std::process::exit(2)
        });
        let start = Instant::now();
        let (mut events, mut matches, mut bytes, mut malformed) = (0u64, 0u64, 0u64, 0u64);
        for line in std::io::BufReader::with_capacity(1 << 16, file).lines() {
            let line = line.unwrap_or_else(|e| {
                eprintln!("{path}: {e}");
                std::process::exit(2)
            });
            bytes += line.len() as u64 + 1;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<serde_json::Value>(&line) {
                Ok(value) => {
                    events += 1;
                    matches += engine.evaluate(&JsonEvent::borrow(&value)).len() as u64;
                }
                Err(_) => malformed += 1,
            }
        }
        let scan_s = start.elapsed().as_secs_f64();
        println!(
            "{}",
            serde_json::json!({
                "engine": "rsigma-eval 0.23",
                "file": path,
                "rule_files": files.len(),
                "rule_files_refused": refused,
                "events": events,
                "matches": matches,
                "malformed_lines": malformed,
                "bytes": bytes,
                "load_s": load_s,
                "scan_s": scan_s,
            })
        );
    }
}
