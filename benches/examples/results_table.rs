//! Prints the medians of the last criterion run (or of a saved baseline) as
//! Markdown tables, with the sigmata-to-peer ratios: the tables of
//! `BENCHMARKS.md` (appendix).
//!
//! ```sh
//! cargo bench -p sigmata-benches
//! cargo run -p sigmata-benches --example results_table -- [--baseline NAME] [CRITERION_DIR]
//! ```
//!
//! `CRITERION_DIR` defaults to `$CARGO_TARGET_DIR/criterion` (`target/criterion`);
//! `--baseline NAME` reads a baseline saved with `--save-baseline NAME`
//! instead of the last run (`new`). Rates are per second of median time;
//! MB is 10^6 bytes (criterion prints MiB).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

struct Row {
    id: String,
    group: String,
    function: String,
    param: String,
    /// Median time of one iteration, in nanoseconds.
    median_ns: f64,
    elements: Option<u64>,
    bytes: Option<u64>,
}

fn find(dir: &Path, baseline: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == baseline) && p.join("benchmark.json").is_file() {
                out.push(p);
            } else {
                find(&p, baseline, out);
            }
        }
    }
}

fn read(dir: &Path) -> Option<Row> {
    let bench: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("benchmark.json")).ok()?).ok()?;
    let est: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("estimates.json")).ok()?).ok()?;
    let t = &bench["throughput"];
    let (elements, bytes) = if let Some(n) = t["Elements"].as_u64() {
        (Some(n), None)
    } else if let Some(n) = t["Bytes"].as_u64().or(t["BytesDecimal"].as_u64()) {
        (None, Some(n))
    } else {
        let eb = &t["ElementsAndBytes"];
        (eb["elements"].as_u64(), eb["bytes"].as_u64())
    };
    Some(Row {
        id: bench["full_id"].as_str()?.to_string(),
        group: bench["group_id"].as_str()?.to_string(),
        function: bench["function_id"].as_str().unwrap_or("").to_string(),
        param: bench["value_str"].as_str().unwrap_or("").to_string(),
        median_ns: est["median"]["point_estimate"].as_f64()?,
        elements,
        bytes,
    })
}

fn time(ns: f64) -> String {
    match ns {
        n if n >= 1e9 => format!("{:.2} s", n / 1e9),
        n if n >= 1e6 => format!("{:.2} ms", n / 1e6),
        n if n >= 1e3 => format!("{:.1} µs", n / 1e3),
        n => format!("{n:.0} ns"),
    }
}

/// A rate with three significant digits and a thousands separator.
fn rate(per_s: f64) -> String {
    let digits = if per_s >= 100.0 {
        0
    } else if per_s >= 10.0 {
        1
    } else {
        2
    };
    let rounded = if per_s >= 1000.0 {
        let scale = 10f64.powi(per_s.log10().floor() as i32 - 2);
        (per_s / scale).round() * scale
    } else {
        per_s
    };
    let s = format!("{rounded:.digits$}");
    let (int, frac) = s.split_once('.').map_or((s.as_str(), None), |(i, f)| (i, Some(f)));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let baseline = args
        .iter()
        .position(|a| a == "--baseline")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "new".to_string());
    let dir = args
        .iter()
        .enumerate()
        .find(|(i, a)| !a.starts_with("--") && (*i == 0 || args[i - 1] != "--baseline"))
        .map(|(_, a)| PathBuf::from(a))
        .unwrap_or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| sigmata_benches::root().join("target"))
                .join("criterion")
        });
    let mut dirs = Vec::new();
    find(&dir, &baseline, &mut dirs);
    let mut rows: Vec<Row> = dirs.iter().filter_map(|d| read(d)).collect();
    if rows.is_empty() {
        eprintln!("no criterion results for baseline '{baseline}' under {}", dir.display());
        std::process::exit(1);
    }
    let order = ["compile", "evaluate", "end_to_end", "peers", "fields", "pathological"];
    let rank = |g: &str| order.iter().position(|o| *o == g).unwrap_or(order.len());
    rows.sort_by(|a, b| {
        (rank(&a.group), &a.group, &a.param, &a.function).cmp(&(rank(&b.group), &b.group, &b.param, &b.function))
    });

    println!("| benchmark | median time | elements/s | MB/s |");
    println!("|---|---:|---:|---:|");
    for r in &rows {
        let secs = r.median_ns / 1e9;
        let per_s = |n: Option<u64>, scale: f64| n.map_or(String::new(), |n| rate(n as f64 / scale / secs));
        println!("| `{}` | {} | {} | {} |", r.id, time(r.median_ns), per_s(r.elements, 1.0), per_s(r.bytes, 1e6));
    }

    // Ratios on identical inputs: the peer's median time over sigmata's.
    let by_id: BTreeMap<&str, &Row> = rows.iter().map(|r| (r.id.as_str(), r)).collect();
    println!();
    println!("| peer benchmark | sigmata benchmark | sigmata is faster by |");
    println!("|---|---|---:|");
    for r in rows.iter().filter(|r| r.group == "peers" || r.group == "end_to_end") {
        let ours = if r.group == "peers" { "sigmata" } else { "engine" };
        if r.function == ours {
            continue;
        }
        let base = format!("{}/{ours}/{}", r.group, r.param);
        if let Some(b) = by_id.get(base.as_str()) {
            println!("| `{}` | `{base}` | {}× |", r.id, rate(r.median_ns / b.median_ns));
        }
    }
}
