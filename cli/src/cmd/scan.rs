//! `sigmata scan`: evaluate rules against event streams.

use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;
use sigmata::{Engine, MatchSet};

use crate::args::{EngineKind, ScanArgs, ScanFormat};
use crate::input::{self, Item, Line, Mode};
use crate::profile::Profile;
use crate::rules;
use crate::{Failure, Outcome};

/// Counters reported by `--stats`.
#[derive(Debug, Default)]
struct Stats {
    events: u64,
    matched_events: u64,
    matches: u64,
    malformed_lines: u64,
    empty_lines: u64,
}

/// Runs `scan`.
pub fn run(a: &ScanArgs) -> Result<Outcome, Failure> {
    let start = Instant::now();
    let loaded = rules::load(&a.rules)?;
    let report = &loaded.report;
    if !report.errors.is_empty() {
        eprintln!(
            "sigmata: {} rule(s) refused; run `sigmata check` with the same -r options for the reasons",
            report.errors.len()
        );
    }
    if loaded.engine.is_empty() {
        return Err(Failure::usage(format!(
            "no rule to evaluate ({} loaded, {} refused, {} not applicable to the logsource {})",
            report.rules_loaded,
            report.errors.len(),
            report.not_applicable.len(),
            a.rules.logsource
        )));
    }
    if a.profile && a.engine == EngineKind::Reference {
        return Err(Failure::usage(
            "--profile measures the compiled engine; it cannot be used with --engine reference",
        ));
    }
    let inputs: Vec<PathBuf> = if a.inputs.is_empty() { vec![PathBuf::from("-")] } else { a.inputs.clone() };
    let mut scanner = Scanner {
        engine: &loaded.engine,
        cache: loaded.engine.create_cache(),
        evaluator: a.engine,
        record: sigmata::Record::new(),
        matches: MatchSet::new(),
        format: a.format,
        out: io::BufWriter::new(io::stdout().lock()),
        stats: Stats::default(),
        flush_each_line: false,
        error: None,
        explain: a.explain,
        profile: a.profile.then(|| Profile::new(loaded.engine.len())),
    };
    let mut unreadable = 0;
    for path in &inputs {
        if let Err(e) = scanner.scan_input(path) {
            if e.kind() == io::ErrorKind::BrokenPipe {
                return Err(Failure::io("Broken pipe"));
            }
            eprintln!("sigmata: {}: {e}", path.display());
            unreadable += 1;
        }
        if let Some(e) = scanner.error.take() {
            return Err(Failure::io(e.to_string()));
        }
    }
    scanner.out.flush().map_err(|e| Failure::io(e.to_string()))?;
    let s = &scanner.stats;
    if a.stats {
        let elapsed = start.elapsed().as_secs_f64();
        let stats = json!({
            "events": s.events,
            "matched_events": s.matched_events,
            "matches": s.matches,
            "malformed_lines": s.malformed_lines,
            "empty_lines": s.empty_lines,
            "rules_loaded": report.rules_loaded,
            "rules_refused": report.errors.len(),
            "rules_not_applicable": report.not_applicable.len(),
            "elapsed_s": (elapsed * 1000.0).round() / 1000.0,
        });
        eprintln!("{stats}");
    }
    if let Some(p) = &scanner.profile {
        eprint!("{}", p.report(&loaded.engine, s.events, start.elapsed()));
    }
    if unreadable > 0 {
        return Err(Failure::io(format!("{unreadable} input(s) could not be read")));
    }
    Ok(if s.matches > 0 { Outcome::Yes } else { Outcome::No })
}

struct Scanner<'e, W: Write> {
    engine: &'e Engine,
    cache: sigmata::Cache,
    evaluator: EngineKind,
    record: sigmata::Record,
    matches: MatchSet,
    format: ScanFormat,
    out: W,
    stats: Stats,
    /// Standard input is flushed after every line that matched, so that a
    /// reader of our output sees matches while the stream is still open.
    flush_each_line: bool,
    error: Option<io::Error>,
    /// `--explain`: attach an explanation to each match.
    explain: bool,
    /// `--profile`: per-rule verification times.
    profile: Option<Profile>,
}

impl<W: Write> Scanner<'_, W> {
    fn scan_input(&mut self, path: &Path) -> io::Result<()> {
        let label = path.display().to_string();
        if label == "-" {
            self.flush_each_line = true;
            let stdin = io::stdin();
            let mut reader = stdin.lock();
            input::read_raw_lines(&mut reader, |line| self.line("-", line))?;
            return Ok(());
        }
        let file = std::fs::File::open(path)?;
        self.flush_each_line = false;
        match Mode::for_path(path) {
            Mode::Lines => {
                let mut reader: Box<dyn BufRead> = Box::new(BufReader::with_capacity(1 << 16, file));
                input::read_raw_lines(&mut reader, |line| self.line(&label, line))?;
            }
            Mode::Stream => {
                let text = std::io::read_to_string(file)?;
                input::read_stream(&text, |item| self.item(&label, item));
            }
        }
        Ok(())
    }

    /// A JSONL line: read straight into the record (only the fields rules
    /// use). `evtx_dump` records, which must be flattened first, and every
    /// line under `--engine reference` (so that the oracle shares nothing
    /// with the fast path, not even the JSON reader) go through
    /// `serde_json::Value` instead.
    fn line(&mut self, source: &str, line: Line<'_>) {
        match line {
            Line::Empty { line } => self.item(source, Item::Empty { line }),
            Line::Malformed { line, reason } => self.item(source, Item::Malformed { line, reason }),
            Line::Text { line, text }
                if self.evaluator == EngineKind::Reference || input::looks_like_evtx_record(text) =>
            {
                let item = match serde_json::from_str::<serde_json::Value>(text) {
                    Ok(v @ serde_json::Value::Object(_)) => Item::Event { line, raw: text, event: input::normalise(v) },
                    Ok(_) => Item::Malformed { line, reason: "not a JSON object".into() },
                    Err(e) => Item::Malformed { line, reason: format!("invalid JSON: {e}") },
                };
                self.item(source, item);
            }
            Line::Text { line, text } => match self.engine.fill_json(&mut self.record, text) {
                Ok(()) => {
                    self.evaluate_record();
                    self.report(source, line, text);
                }
                Err(e) => self.item(source, Item::Malformed { line, reason: e.message().to_string() }),
            },
        }
    }

    fn item(&mut self, source: &str, item: Item<'_>) {
        match item {
            Item::Empty { .. } => self.stats.empty_lines += 1,
            Item::Malformed { line, reason } => {
                self.stats.malformed_lines += 1;
                eprintln!("sigmata: {source}:{line}: skipped: {reason}");
            }
            Item::Event { line, raw, event } => {
                match self.evaluator {
                    EngineKind::Compiled => {
                        self.engine.fill(&mut self.record, &event);
                        self.evaluate_record();
                    }
                    EngineKind::Reference => {
                        self.matches.clear();
                        for (id, lr) in self.engine.rules() {
                            if sigmata::reference::eval(&lr.ir.expr, self.engine.fields(), &event) {
                                self.matches.insert(id);
                            }
                        }
                    }
                }
                self.report(source, line, raw);
            }
        }
    }

    /// Counts an evaluated event and prints its matches.
    fn report(&mut self, source: &str, line: usize, raw: &str) {
        if self.error.is_some() {
            return;
        }
        self.stats.events += 1;
        if self.matches.is_empty() {
            return;
        }
        self.stats.matched_events += 1;
        self.stats.matches += self.matches.len() as u64;
        if let Err(e) = self.print(source, line, raw) {
            self.error = Some(e);
        }
    }

    /// Evaluates `self.record` with the compiled engine (timed per rule
    /// under `--profile`).
    fn evaluate_record(&mut self) {
        match &mut self.profile {
            Some(p) => p.add(self.engine, &mut self.cache, &self.record, &mut self.matches),
            None => self.engine.matches_record(&mut self.cache, &self.record, &mut self.matches),
        }
    }

    fn print(&mut self, source: &str, line: usize, raw: &str) -> io::Result<()> {
        // A JSONL line is echoed as read; a pretty-printed record from a
        // `.json` file is compacted so that each match stays on one line.
        let compact;
        let raw = if raw.contains('\n') {
            compact = serde_json::from_str::<serde_json::Value>(raw).map(|v| v.to_string()).unwrap_or_default();
            compact.as_str()
        } else {
            raw
        };
        // `--explain` reads the event as the reference evaluator does.
        let explained = if self.explain && self.format != ScanFormat::None {
            serde_json::from_str::<serde_json::Value>(raw).ok().map(input::normalise)
        } else {
            None
        };
        for id in self.matches.iter() {
            let rule = self.engine.rule(id);
            let level = rule.level.map(|l| l.as_str());
            let explanation = explained.as_ref().map(|event| self.engine.explain(id, event));
            match self.format {
                ScanFormat::None => {}
                ScanFormat::Jsonl => {
                    // The event is echoed exactly as read (it parsed as JSON).
                    let mut head = json!({
                        "rule_id": rule.id,
                        "rule_title": rule.title,
                        "level": level,
                        "source": source,
                        "line": line,
                    });
                    if let Some(e) = &explanation {
                        head["explanation"] = crate::explain::to_json(e);
                    }
                    let head = head.to_string();
                    writeln!(self.out, "{},\"event\":{}}}", &head[..head.len() - 1], raw.trim())?;
                }
                ScanFormat::Text => {
                    writeln!(
                        self.out,
                        "{source}:{line}: {:<13} {} [{}]",
                        level.unwrap_or("-"),
                        rule.title,
                        rule.id.as_deref().unwrap_or("no id")
                    )?;
                    if let Some(e) = &explanation {
                        write!(self.out, "{}", crate::explain::indent(&e.to_string(), "    "))?;
                    }
                }
            }
        }
        if self.flush_each_line {
            self.out.flush()?;
        }
        Ok(())
    }
}
