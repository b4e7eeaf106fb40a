//! `gen-corpus`: write a generated corpus of Sysmon process-creation events as JSONL.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

const HELP: &str = "\
gen-corpus: write realistic, synthetic Windows process-creation events (Sysmon event 1) as JSONL

Usage: gen-corpus [--seed N] [--count N] [--out FILE]

Options:
  --seed N      seed of the stream; the same seed always gives the same bytes [default: 1]
  --count N     number of events [default: 100000]
  --out FILE    write to FILE instead of standard output
  -h, --help    print this help
";

struct Args {
    seed: u64,
    count: usize,
    out: Option<String>,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut parsed = Args { seed: 1, count: 100_000, out: None };
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name.to_string(), Some(value.to_string())),
            _ => (arg, None),
        };
        if name == "-h" || name == "--help" {
            return Ok(None);
        }
        let mut value = || inline.clone().or_else(|| args.next()).ok_or_else(|| format!("{name} needs a value"));
        match name.as_str() {
            "--seed" => {
                let v = value()?;
                parsed.seed = v.parse().map_err(|_| format!("--seed: not a number: {v}"))?;
            }
            "--count" => {
                let v = value()?;
                parsed.count = v.parse().map_err(|_| format!("--count: not a number: {v}"))?;
            }
            "--out" => parsed.out = Some(value()?),
            _ => return Err(format!("unexpected argument: {name}")),
        }
    }
    Ok(Some(parsed))
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("gen-corpus: {e}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    let result = match &args.out {
        Some(path) => File::create(path).and_then(|f| {
            let mut out = BufWriter::with_capacity(1 << 20, f);
            sigmata_corpus::write_jsonl(args.seed, args.count, &mut out)?;
            out.flush()
        }),
        None => {
            let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            sigmata_corpus::write_jsonl(args.seed, args.count, &mut out).and_then(|()| out.flush())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`gen-corpus | head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            let target = args.out.as_deref().unwrap_or("standard output");
            eprintln!("gen-corpus: writing {target}: {e}");
            ExitCode::FAILURE
        }
    }
}
