//! What `scan` prints: one line per match (`jsonl`, `text`), the summary,
//! and the `--stats` object. Printers only format; matching happens in the
//! engine and the counting in `cmd::scan`.

use std::io::Write;
use std::sync::OnceLock;

use serde_json::json;
use sigmata::ir::Target;
use sigmata::{Engine, RuleId};

use crate::args::ScanFormat;
use crate::pipeline::Kind;

/// Counters of one chunk, or of the whole scan once merged.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Events evaluated.
    pub events: u64,
    /// Evaluated events that matched at least one rule.
    pub matched_events: u64,
    /// (event, rule) matches.
    pub matches: u64,
    /// Lines or records that could not be read.
    pub malformed_lines: u64,
    /// Blank lines.
    pub empty_lines: u64,
    /// Events that said they were not process creation.
    pub skipped_not_process_creation: u64,
    /// Input lines folded into an event with others (auditd records).
    pub merged_records: u64,
    /// Warnings about inputs (an `.evtx` file with fewer records than its
    /// header says).
    pub warnings: u64,
    /// Evaluated events per kind.
    pub kinds: [u64; 3],
    /// Bit per engine field: present in some evaluated event.
    pub seen: Vec<u64>,
    /// Matches per rule (kept only for `--format summary`).
    pub per_rule: Vec<u64>,
    /// Matches not printed: the rule feeds a correlation without `generate: true`.
    pub not_generated: u64,
    /// Correlation alerts printed.
    pub correlation_alerts: u64,
}

impl Tally {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Tally) {
        self.events += other.events;
        self.matched_events += other.matched_events;
        self.matches += other.matches;
        self.malformed_lines += other.malformed_lines;
        self.empty_lines += other.empty_lines;
        self.skipped_not_process_creation += other.skipped_not_process_creation;
        self.merged_records += other.merged_records;
        self.warnings += other.warnings;
        self.not_generated += other.not_generated;
        self.correlation_alerts += other.correlation_alerts;
        for (a, b) in self.kinds.iter_mut().zip(other.kinds) {
            *a += b;
        }
        merge_vec(&mut self.seen, &other.seen, |a, b| *a |= b);
        merge_vec(&mut self.per_rule, &other.per_rule, |a, b| *a += b);
    }

    /// Marks a field present.
    pub fn see(&mut self, index: usize) {
        let (w, b) = (index / 64, index % 64);
        if self.seen.len() <= w {
            self.seen.resize(w + 1, 0);
        }
        self.seen[w] |= 1 << b;
    }

    fn seen(&self, index: usize) -> bool {
        self.seen.get(index / 64).is_some_and(|w| w & (1 << (index % 64)) != 0)
    }
}

fn merge_vec(a: &mut Vec<u64>, b: &[u64], f: impl Fn(&mut u64, u64)) {
    if a.len() < b.len() {
        a.resize(b.len(), 0);
    }
    for (x, y) in a.iter_mut().zip(b) {
        f(x, *y);
    }
}

/// Where an event is: its input's label (also as a JSON string, made once
/// per chunk), its line, and for Windows event logs its `EventRecordID`.
#[derive(Clone, Copy, Debug)]
pub struct Loc<'a> {
    /// The input's label.
    pub source: &'a str,
    /// The label as a JSON string.
    pub source_json: &'a str,
    /// The line (or, in an `.evtx` file, the record's position).
    pub line: u64,
    /// The `EventRecordID` of an `.evtx` record or an `evtx_dump` dump's
    /// `Record N`.
    pub record: Option<u64>,
}

/// Formats matches.
#[derive(Debug)]
pub struct Printer {
    /// The format.
    pub format: ScanFormat,
    /// Colour for `text`.
    pub color: bool,
    /// Per rule: the start of its JSONL objects (`{"rule_id":…,"rule_path":…,`),
    /// made on its first match (a bundle's rules are decoded on first use).
    heads: Vec<OnceLock<String>>,
}

const RESET: &str = "\x1b[0m";

fn level_color(level: Option<&str>) -> &'static str {
    match level {
        Some("critical") => "\x1b[1;31m",
        Some("high") => "\x1b[31m",
        Some("medium") => "\x1b[33m",
        Some("low") => "\x1b[36m",
        _ => "\x1b[2m",
    }
}

impl Printer {
    /// A printer for `engine`'s rules.
    pub fn new(engine: &Engine, format: ScanFormat, color: bool) -> Printer {
        let heads = (0..engine.len()).map(|_| OnceLock::new()).collect();
        Printer { format, color, heads }
    }

    fn head(&self, engine: &Engine, id: RuleId) -> &str {
        self.heads[id.index()].get_or_init(|| {
            let r = engine.rule(id);
            let head = json!({
                "rule_id": r.id,
                "rule_title": r.title,
                "level": r.level.map(|l| l.as_str()),
                "tags": r.tags,
                "rule_path": &*r.origin.path,
            })
            .to_string();
            format!("{},", &head[..head.len() - 1])
        })
    }

    /// Writes one match of the event at `at`; `event` is the echoed event's
    /// JSON; `explanation` (`--explain`) says why the rule matched.
    pub fn write_match(
        &self,
        out: &mut Vec<u8>,
        engine: &Engine,
        id: RuleId,
        at: &Loc<'_>,
        event: &str,
        explanation: Option<&sigmata::explain::Explanation>,
    ) {
        let Loc { source, source_json, line, record } = at;
        match self.format {
            ScanFormat::Jsonl => {
                out.extend_from_slice(self.head(engine, id).as_bytes());
                if let Some(e) = explanation {
                    let _ = write!(out, "\"explanation\":{},", crate::explain::to_json(e));
                }
                let _ = write!(out, "\"source\":{source_json},\"line\":{line},");
                if let Some(record) = record {
                    let _ = write!(out, "\"record_id\":{record},");
                }
                let _ = writeln!(out, "\"event\":{event}}}");
            }
            ScanFormat::Text => {
                let rule = engine.rule(id);
                let record = record.map(|r| format!(" (record {r})")).unwrap_or_default();
                let level = rule.level.map(|l| l.as_str());
                let id = rule.id.as_deref().unwrap_or("no id");
                if self.color {
                    let _ = writeln!(
                        out,
                        "\x1b[35m{source}:{line}:{RESET} {}{:<13}{RESET} {} \x1b[2m[{id}]{record}{RESET}",
                        level_color(level),
                        level.unwrap_or("-"),
                        rule.title
                    );
                } else {
                    let _ =
                        writeln!(out, "{source}:{line}: {:<13} {} [{id}]{record}", level.unwrap_or("-"), rule.title);
                }
                if let Some(e) = explanation {
                    out.extend_from_slice(crate::explain::indent(&e.to_string(), "    ").as_bytes());
                }
            }
            ScanFormat::Summary | ScanFormat::None => {}
        }
    }
}

/// For each engine field, the number of rules that test it.
fn rules_per_field(engine: &Engine) -> Vec<u64> {
    let mut counts = vec![0u64; engine.fields().len()];
    for (_, lr) in engine.rules() {
        let mut fields = Vec::new();
        lr.ir.expr.for_each_pred(&mut |p| {
            if let Target::Field(f) = p.target {
                fields.push(f.index());
            }
        });
        fields.sort_unstable();
        fields.dedup();
        for f in fields {
            counts[f] += 1;
        }
    }
    counts
}

/// Rule fields no evaluated event had, with how many rules test each, most first.
pub fn fields_never_seen(engine: &Engine, tally: &Tally) -> Vec<(String, u64)> {
    let per_field = rules_per_field(engine);
    let mut out: Vec<(String, u64)> = engine
        .fields()
        .iter()
        .filter(|(id, _)| !tally.seen(id.index()) && per_field[id.index()] > 0)
        .map(|(id, name)| (name.to_string(), per_field[id.index()]))
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// The `--stats` object. `elapsed`: the whole run; `scanning`: without
/// rule loading (what `events_per_s` is computed over).
pub fn stats_json(loaded: &crate::rules::Loaded, tally: &Tally, elapsed: f64, scanning: f64) -> serde_json::Value {
    let (engine, report) = (&loaded.engine, &loaded.report);
    let kinds: serde_json::Map<String, serde_json::Value> =
        Kind::ALL.iter().map(|k| (k.name().to_string(), tally.kinds[k.index()].into())).collect();
    let never: Vec<serde_json::Value> =
        fields_never_seen(engine, tally).into_iter().map(|(f, n)| json!({"field": f, "rules": n})).collect();
    json!({
        "events": tally.events,
        "matched_events": tally.matched_events,
        "unmatched_events": tally.events - tally.matched_events,
        "matches": tally.matches,
        "malformed_lines": tally.malformed_lines,
        "empty_lines": tally.empty_lines,
        "skipped_not_process_creation": tally.skipped_not_process_creation,
        "merged_records": tally.merged_records,
        "warnings": tally.warnings,
        "events_by_kind": kinds,
        "rules_loaded": report.rules_loaded,
        "rules_refused": report.errors.len(),
        "rules_not_applicable": report.not_applicable.len(),
        "rule_files_not_parsed": loaded.files_not_parsed,
        "fields_never_seen": never,
        "elapsed_s": (elapsed * 1000.0).round() / 1000.0,
        "scan_s": (scanning * 1000.0).round() / 1000.0,
        "events_per_s": if scanning > 0.0 { (tally.events as f64 / scanning).round() } else { 0.0 },
    })
}

/// The `--format summary` report; `elapsed` is the scanning time.
pub fn summary(engine: &Engine, tally: &Tally, elapsed: f64) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let rate = if elapsed > 0.0 { tally.events as f64 / elapsed } else { 0.0 };
    let _ = writeln!(
        s,
        "events: {} ({} matched, {} unmatched) in {elapsed:.2} s, {rate:.0} events/s",
        tally.events,
        tally.matched_events,
        tally.events - tally.matched_events
    );
    let _ = writeln!(
        s,
        "not evaluated: {} not process creation, {} malformed, {} empty lines",
        tally.skipped_not_process_creation, tally.malformed_lines, tally.empty_lines
    );
    let _ = writeln!(s, "matches: {}", tally.matches);
    if tally.not_generated > 0 || tally.correlation_alerts > 0 {
        let _ = writeln!(
            s,
            "correlation alerts: {} ({} matches of rules read by correlations not reported on their own)",
            tally.correlation_alerts, tally.not_generated
        );
    }
    let mut rules: Vec<(RuleId, u64)> = engine
        .rules()
        .map(|(id, _)| (id, tally.per_rule.get(id.index()).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect();
    let mut levels: Vec<(&str, u64)> =
        ["critical", "high", "medium", "low", "informational", "-"].iter().map(|l| (*l, 0)).collect();
    for (id, n) in &rules {
        let level = engine.rule(*id).level.map_or("-", |l| l.as_str());
        if let Some(slot) = levels.iter_mut().find(|(l, _)| *l == level) {
            slot.1 += n;
        }
    }
    let _ = writeln!(s, "\nmatches per level:");
    for (level, n) in levels.iter().filter(|(_, n)| *n > 0) {
        let _ = writeln!(s, "  {level:<13} {n:>8}");
    }
    rules.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let _ = writeln!(s, "\nmatches per rule ({} rules matched, most first):", rules.len());
    for (id, n) in &rules {
        let r = engine.rule(*id);
        let _ = writeln!(
            s,
            "  {n:>8}  {:<13} {} [{}]",
            r.level.map_or("-", |l| l.as_str()),
            r.title,
            r.id.as_deref().unwrap_or("no id")
        );
    }
    s
}
