//! `sigmata scan`: evaluate rules against event streams.
//!
//! The calling thread cuts the inputs into chunks ([`input::Feeder`]) and
//! hands each to a rayon pool of `--threads` workers as soon as it is read;
//! a writer thread writes the chunks' output in input order, so that the
//! output is the same bytes for any thread count. Each worker keeps its
//! engine cache and records across chunks. At most four chunks per worker
//! are between reading and writing, so memory is bounded whatever the
//! input, and nothing waits for a batch: standard input is evaluated and
//! flushed as soon as lines arrive.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;

use sigmata::Engine;
use sigmata::correlate::{Alert, Correlations, Correlator, Prepared};

use crate::args::{ColorChoice, EngineKind, ScanArgs, ScanFormat};
use crate::eval::{Evaluator, Worker, echo_text};
use crate::input::{self, Chunk, FeedOptions, Feeder, Unit};
use crate::output::{self, Loc, Printer, Tally};
use crate::pipeline::{Kind, MappedEvent, Mapper, Pipelines};
use crate::profile::Profile;
use crate::rules;
use crate::{Failure, Outcome};

/// Lines per chunk when nothing asks for smaller ones: large enough that
/// handing a chunk to a worker costs nothing next to evaluating it, small
/// enough that a few per worker keep memory low.
const CHUNK_LINES: usize = 1024;
const CHUNK_BYTES: usize = 1 << 20;

/// Runs `scan`.
pub fn run(a: &ScanArgs) -> Result<Outcome, Failure> {
    let start = Instant::now();
    let pipelines = Pipelines::parse(&a.pipelines)?;
    let loaded = rules::load_correlated(&a.rules, rules::Need::Evaluate)?;
    let outcome = scan(a, start, &pipelines, &loaded);
    // The process exits after a scan: freeing the engine's tens of
    // thousands of allocations one by one would only delay that (about 4 %
    // of the SigmaHQ pack's load time, measured with callgrind).
    std::mem::forget(loaded);
    outcome
}

fn scan(a: &ScanArgs, start: Instant, pipelines: &Pipelines, loaded: &rules::Loaded) -> Result<Outcome, Failure> {
    let report = &loaded.report;
    if !report.errors.is_empty() {
        eprintln!(
            "sigmata: {} rule(s) refused; run `sigmata check` with the same -r options for the reasons",
            report.errors.len()
        );
    }
    loaded.require_rules(&a.rules)?;
    let engine = &loaded.engine;
    let routing = rules::routing(&a.rules, loaded)?;
    let stdout = io::stdout();
    let format = a.format.unwrap_or(if stdout.is_terminal() { ScanFormat::Text } else { ScanFormat::Jsonl });
    let color = match a.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    };
    let paths: Vec<PathBuf> = if a.inputs.is_empty() { vec![PathBuf::from("-")] } else { a.inputs.clone() };
    let (inputs, missing) = input::expand(&paths);
    let mut errors = 0usize;
    for m in &missing {
        eprintln!("sigmata: {m}");
        errors += 1;
    }
    if a.profile && a.engine == EngineKind::Reference {
        return Err(Failure::usage(
            "--profile measures the compiled engine; it cannot be used with --engine reference",
        ));
    }
    let threads = a.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let flush_every = if a.line_buffered { Some(1) } else { a.flush_every.map(|n| n.max(1)) };
    let streaming = inputs.iter().any(|i| i.path.is_none());
    let opts = FeedOptions {
        chunk_lines: flush_every.unwrap_or(CHUNK_LINES),
        chunk_bytes: CHUNK_BYTES,
        max_line: a.max_line_bytes.max(1),
        auditd: pipelines.auditd(),
        blocks: !pipelines.auditd() && flush_every.is_none(),
    };
    let total_bytes: u64 = inputs.iter().map(|i| i.size).sum();
    let progress = (!a.no_progress && !streaming && io::stderr().is_terminal() && total_bytes > 0).then(|| {
        let bar = indicatif::ProgressBar::new(total_bytes);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {elapsed} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    // With no correlation loaded nothing below looks at event times.
    let correlations = (!loaded.correlations.is_empty()).then(|| Corr {
        set: Arc::clone(&loaded.correlations),
        time_fields: crate::args::time_field_refs(engine, &a.correlation.time_fields),
    });
    let correlator_config = a.correlation.correlator_config();
    let scan = Scan {
        correlations,
        engine,
        mapper: Mapper::new(engine, pipelines, routing),
        pipelines,
        evaluator: a.engine,
        printer: Printer::new(engine, format, color),
        fields: a.fields.clone(),
        max_line: opts.max_line,
        summary: format == ScanFormat::Summary,
        explain: a.explain && matches!(format, ScanFormat::Jsonl | ScanFormat::Text),
        profile: a.profile,
        workers: Mutex::new(Vec::new()),
    };
    // Rates are of scanning alone: rule loading is not counted.
    let scan_start = Instant::now();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Failure::io(format!("cannot start {threads} threads: {e}")))?;

    // The calling thread reads and hands each chunk to the pool as a task;
    // a writer thread puts the results back in input order. At most
    // `in_flight` chunks are read but not yet written (tokens), so memory
    // stays bounded and no worker waits for a batch to finish.
    let in_flight = threads * 4;
    let (done_tx, done_rx) = mpsc::channel::<(u64, Chunk, ChunkOut)>();
    let (token_tx, token_rx) = mpsc::sync_channel::<Spare>(in_flight);
    for _ in 0..in_flight {
        let _ = token_tx.send(Spare::default());
    }
    let mut feeder = Feeder::new(inputs, opts);
    let (scan, progress_ref) = (&scan, progress.as_ref());
    let written = std::thread::scope(|threads_scope| {
        let writer = threads_scope.spawn(move || {
            let mut w = Writer {
                correlator: scan.correlations.as_ref().map(|c| Correlator::new(Arc::clone(&c.set), correlator_config)),
                alerts: Vec::new(),
                engine,
                format,
                out: io::BufWriter::with_capacity(1 << 16, io::stdout()),
                tally: Tally::default(),
                errors: 0,
                progress: progress_ref,
                scan_start,
                flush: flush_every.is_some() || streaming,
            };
            let result = w.run(done_rx, token_tx);
            (w, result)
        });
        pool.in_place_scope(|tasks| {
            let mut seq = 0u64;
            // A closed token channel means the writer stopped (a closed stdout).
            while let Ok(spare) = token_rx.recv() {
                feeder.recycle(spare.text);
                let Some(chunk) = feeder.next_chunk() else { break };
                let done = done_tx.clone();
                tasks.spawn(move |_| {
                    let out = scan.chunk(&chunk, spare.out);
                    let _ = done.send((seq, chunk, out));
                });
                seq += 1;
            }
        });
        drop(done_tx);
        writer.join()
    });
    let Ok((mut w, result)) = written else {
        return Err(Failure::io("the output thread failed"));
    };
    result?;
    w.finish().map_err(output_error)?;
    errors += w.errors;
    let tally = std::mem::take(&mut w.tally);
    let out = &mut w.out;
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    let (elapsed, scanning) = (start.elapsed().as_secs_f64(), scan_start.elapsed().as_secs_f64());
    if format == ScanFormat::Summary {
        out.write_all(output::summary(engine, &tally, scanning).as_bytes()).map_err(output_error)?;
    }
    out.flush().map_err(output_error)?;
    if a.stats {
        let mut stats = output::stats_json(loaded, &tally, elapsed, scanning);
        if let (Some(c), Some(obj)) = (&w.correlator, stats.as_object_mut()) {
            obj.insert(
                "correlation".into(),
                crate::corr_out::stats_json(c.correlations(), &c.stats(), tally.not_generated),
            );
        }
        eprintln!("{stats}");
    }
    if a.profile {
        // Each worker timed its own rules; the report adds them up.
        let mut total = Profile::new(engine.len());
        for w in scan.workers.lock().map(|mut w| std::mem::take(&mut *w)).unwrap_or_default() {
            if let Some(p) = &w.profile {
                total.merge(p);
            }
        }
        eprint!("{}", total.report(engine, tally.events, start.elapsed()));
    }
    if errors > 0 {
        return Err(Failure::io(format!("{errors} input(s) could not be read completely")));
    }
    let alerts = w.correlator.as_ref().map_or(0, |c| c.stats().alerts);
    Ok(if tally.matches > tally.not_generated || alerts > 0 { Outcome::Yes } else { Outcome::No })
}

/// A failed write to stdout (a closed pipe is reported as such, and `run`
/// keeps quiet about it).
fn output_error(e: io::Error) -> Failure {
    if e.kind() == io::ErrorKind::BrokenPipe { Failure::io("Broken pipe") } else { Failure::io(e.to_string()) }
}

/// The loaded correlations and how event times are read.
struct Corr {
    set: Arc<Correlations>,
    time_fields: Vec<(sigmata::ir::FieldId, String)>,
}

/// Writes the chunks' results in input order, and correlates them in that
/// order (so that alerts do not depend on the thread count).
struct Writer<'p, W: Write> {
    correlator: Option<Correlator>,
    alerts: Vec<Alert>,
    engine: &'p Engine,
    format: ScanFormat,
    out: W,
    tally: Tally,
    /// Inputs that ended in an error.
    errors: usize,
    progress: Option<&'p indicatif::ProgressBar>,
    scan_start: Instant,
    /// Flush after each chunk (standard input, `--flush-every`).
    flush: bool,
}

impl<W: Write> Writer<'_, W> {
    /// Takes results as they come, writes them in sequence order, and
    /// gives a token back for each chunk written, with its buffers.
    fn run(
        &mut self,
        done: mpsc::Receiver<(u64, Chunk, ChunkOut)>,
        tokens: mpsc::SyncSender<Spare>,
    ) -> Result<(), Failure> {
        let mut waiting = std::collections::BTreeMap::new();
        let mut next = 0u64;
        for (seq, chunk, out) in done {
            waiting.insert(seq, (chunk, out));
            while let Some((chunk, out)) = waiting.remove(&next) {
                self.write(&chunk, &out).map_err(|e| {
                    if e.kind() == io::ErrorKind::BrokenPipe {
                        Failure::io("Broken pipe")
                    } else {
                        Failure::io(e.to_string())
                    }
                })?;
                next += 1;
                let _ = tokens.send(Spare { text: chunk.text, out: out.out });
            }
        }
        Ok(())
    }

    fn write(&mut self, chunk: &Chunk, r: &ChunkOut) -> io::Result<()> {
        let report = || {
            for d in &r.diags {
                eprintln!("sigmata: {}:{d}", chunk.source);
            }
            if let Some(e) = &chunk.error {
                eprintln!("sigmata: {e}");
            }
            for w in &chunk.warnings {
                eprintln!("sigmata: warning: {w}");
            }
        };
        match self.progress {
            Some(bar) => bar.suspend(report),
            None => report(),
        }
        self.errors += usize::from(chunk.error.is_some());
        self.tally.warnings += chunk.warnings.len() as u64;
        self.out.write_all(&r.out)?;
        self.tally.merge(&r.tally);
        if let Some(c) = &mut self.correlator {
            for p in &r.corr {
                c.feed_prepared(p.clone(), &mut self.alerts);
            }
        }
        self.write_alerts()?;
        if self.flush {
            self.out.flush()?;
        }
        if let Some(bar) = self.progress {
            bar.set_position(chunk.bytes_read);
            let rate = self.tally.events as f64 / self.scan_start.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!(
                "{} events, {} matches, {rate:.0} events/s",
                self.tally.events, self.tally.matches
            ));
        }
        Ok(())
    }
}

impl<W: Write> Writer<'_, W> {
    /// Prints the alerts found so far.
    fn write_alerts(&mut self) -> io::Result<()> {
        let Some(c) = &self.correlator else { return Ok(()) };
        let mut buf = Vec::new();
        for a in self.alerts.drain(..) {
            if c.correlations().generates_correlation(a.correlation) {
                self.tally.correlation_alerts += 1;
                crate::corr_out::write_alert(&mut buf, self.format, self.engine, c.correlations(), &a);
            }
        }
        self.out.write_all(&buf)
    }

    /// End of input: closes the correlation windows and prints their alerts.
    fn finish(&mut self) -> io::Result<()> {
        if let Some(c) = &mut self.correlator {
            c.finish(&mut self.alerts);
        }
        self.write_alerts()
    }
}

/// What the workers share.
struct Scan<'a> {
    /// Correlation rules, if any were loaded.
    correlations: Option<Corr>,
    engine: &'a Engine,
    mapper: Mapper,
    pipelines: &'a Pipelines,
    evaluator: EngineKind,
    printer: Printer,
    fields: Vec<String>,
    max_line: usize,
    summary: bool,
    /// `--explain`: attach to each printed match why the rule matched.
    explain: bool,
    /// `--profile`: time each rule's verification.
    profile: bool,
    /// Idle per-thread state, reused from chunk to chunk.
    workers: Mutex<Vec<Worker>>,
}

/// A token for one chunk in flight, with the buffers of a chunk already
/// written for it to reuse (allocating, growing and faulting in a fresh
/// megabyte for every chunk cost about 3 % of a one-thread scan).
#[derive(Default)]
struct Spare {
    text: Vec<u8>,
    out: Vec<u8>,
}

/// The result of one chunk.
#[derive(Default)]
struct ChunkOut {
    out: Vec<u8>,
    /// `line: skipped: reason` for each malformed line, in order.
    diags: Vec<String>,
    tally: Tally,
    /// The events' contributions to correlations, in input order.
    corr: Vec<Prepared>,
}

/// How a matching event is echoed.
enum Echo<'t> {
    /// The text as read.
    Text(&'t str),
    /// An event parsed or built on the way (evtx, auditd): serialised.
    Value(&'t serde_json::Value),
}

impl Echo<'_> {
    /// The event as a `Value` (text is parsed and normalised; text that is
    /// not JSON, which the reader already reported, reads as null).
    fn value(&self) -> std::borrow::Cow<'_, serde_json::Value> {
        match self {
            Echo::Value(v) => std::borrow::Cow::Borrowed(*v),
            Echo::Text(t) => std::borrow::Cow::Owned(
                serde_json::from_str::<serde_json::Value>(t).map(input::normalise).unwrap_or_default(),
            ),
        }
    }
}

impl Scan<'_> {
    /// Evaluates a chunk, printing into `out` (cleared first).
    fn chunk(&self, chunk: &Chunk, mut out: Vec<u8>) -> ChunkOut {
        let mut w = self
            .workers
            .lock()
            .ok()
            .and_then(|mut w| w.pop())
            .unwrap_or_else(|| Worker::new(self.engine, self.profile));
        out.clear();
        let mut r = ChunkOut { out, ..ChunkOut::default() };
        if self.summary {
            r.tally.per_rule = vec![0; self.engine.len()];
        }
        let source_json = serde_json::Value::from(&*chunk.source).to_string();
        if let Some(first) = chunk.first_line {
            let block = &chunk.text[..chunk.block_end];
            // memchr finds the line ends (a byte-by-byte split cost 5 to 10%
            // of the evaluation time); a last line may lack its newline.
            let unterminated = (block.last() != Some(&b'\n')).then_some(block.len());
            let mut start = 0;
            for (i, end) in memchr::memchr_iter(b'\n', block).chain(unterminated).enumerate() {
                let (bytes, line) = (&block[start..end], first + i as u64);
                start = end + 1;
                if bytes.len() > self.max_line {
                    let reason =
                        format!("line of {} bytes is longer than --max-line-bytes {}", bytes.len(), self.max_line);
                    r.malformed(line, reason);
                    continue;
                }
                let at = Loc { source: &chunk.source, source_json: &source_json, line, record: None };
                self.line(&mut w, &mut r, &at, bytes);
            }
        }
        for unit in &chunk.units {
            match unit {
                Unit::Line { line, record, start, end } => {
                    let at = Loc { source: &chunk.source, source_json: &source_json, line: *line, record: *record };
                    self.line(&mut w, &mut r, &at, &chunk.text[*start..*end]);
                }
                Unit::Parsed { line, record, event, merged } => {
                    r.tally.merged_records += merged;
                    let at = Loc { source: &chunk.source, source_json: &source_json, line: *line, record: *record };
                    self.value(&mut w, &mut r, &at, event, Echo::Value(event));
                }
                Unit::Skip { merged, .. } => {
                    r.tally.merged_records += merged;
                    r.tally.skipped_not_process_creation += 1;
                }
                Unit::Malformed { line, reason } => r.malformed(*line, reason.clone()),
            }
        }
        if let Ok(mut idle) = self.workers.lock() {
            idle.push(w);
        }
        r
    }

    /// One line as read.
    fn line(&self, w: &mut Worker, r: &mut ChunkOut, at: &Loc<'_>, mut bytes: &[u8]) {
        let line = at.line;
        if line == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        match std::str::from_utf8(bytes) {
            Err(e) => r.malformed(line, format!("invalid UTF-8 at byte {}", e.valid_up_to())),
            Ok(t) if t.trim().is_empty() => r.tally.empty_lines += 1,
            Ok(t) => self.text(w, r, at, t.trim_end_matches('\r')),
        }
    }

    /// The evaluator the workers share.
    fn evaluator(&self) -> Evaluator<'_> {
        Evaluator { engine: self.engine, mapper: &self.mapper, kind: self.evaluator }
    }

    /// A line of text (see [`Evaluator::text`]).
    fn text(&self, w: &mut Worker, r: &mut ChunkOut, at: &Loc<'_>, text: &str) {
        match self.evaluator().text(w, &mut r.tally, text) {
            Ok(Some(kind)) => self.report(w, r, at, kind, Echo::Text(text)),
            Ok(None) => {}
            Err(reason) => r.malformed(at.line, reason),
        }
    }

    /// A parsed event.
    fn value(&self, w: &mut Worker, r: &mut ChunkOut, at: &Loc<'_>, event: &serde_json::Value, echo: Echo<'_>) {
        if let Some(kind) = self.evaluator().value(w, &mut r.tally, event) {
            self.report(w, r, at, kind, echo);
        }
    }

    /// Counts an evaluated event and prints its matches.
    fn report(&self, w: &Worker, r: &mut ChunkOut, at: &Loc<'_>, kind: Kind, echo: Echo<'_>) {
        let t = &mut r.tally;
        t.events += 1;
        t.kinds[kind.index()] += 1;
        if w.matches.is_empty() {
            return;
        }
        t.matched_events += 1;
        t.matches += w.matches.len() as u64;
        if let Some(c) = &self.correlations {
            self.prepare(c, w, r, at, &echo);
        }
        let t = &mut r.tally;
        if self.summary {
            for id in w.matches.iter() {
                t.per_rule[id.index()] += 1;
            }
        }
        if !matches!(self.printer.format, ScanFormat::Jsonl | ScanFormat::Text) {
            return;
        }
        let event = if self.printer.format != ScanFormat::Jsonl {
            String::new()
        } else if !self.fields.is_empty() {
            self.selected_fields(&echo)
        } else {
            match echo {
                Echo::Text(t) => echo_text(t),
                Echo::Value(v) => v.to_string(),
            }
        };
        // `--explain` explains the event as the rules saw it (after field
        // mapping), with the reference evaluator's semantics.
        let value = if self.explain { Some(echo.value()) } else { None };
        let explained = value.as_ref().map(|v| self.mapper.map_value(self.engine, v).1);
        for id in w.matches.iter() {
            if self.correlations.as_ref().is_some_and(|c| !c.set.generates(id)) {
                continue;
            }
            let explanation = explained.as_ref().map(|event| self.engine.explain(id, event));
            self.printer.write_match(&mut r.out, self.engine, id, at, &event, explanation.as_ref());
        }
    }

    /// Extracts what the correlations need from a matching event.
    fn prepare(&self, c: &Corr, w: &Worker, r: &mut ChunkOut, at: &Loc<'_>, echo: &Echo<'_>) {
        r.tally.not_generated += w.matches.iter().filter(|id| !c.set.generates(*id)).count() as u64;
        if !w.matches.iter().any(|id| c.set.reads(id)) {
            return;
        }
        let value = echo.value();
        let (_, mapped) = self.mapper.map_value(self.engine, &value);
        let time = sigmata::correlate::event_time(&mapped, &c.time_fields);
        let source: Arc<str> = at.source.into();
        if let Some(p) = c.set.prepare(w.matches.iter(), &mapped, time, &source, at.line) {
            r.corr.push(p);
        }
    }

    /// `--fields`: the named fields as the rules saw them.
    fn selected_fields(&self, echo: &Echo<'_>) -> String {
        let value = echo.value();
        let (_, mapped): (_, MappedEvent<'_>) = self.mapper.map_value(self.engine, &value);
        let mut obj = serde_json::Map::new();
        for f in &self.fields {
            if let Some(v) = mapped.json_field(self.pipelines, f) {
                obj.insert(f.clone(), v);
            }
        }
        serde_json::Value::Object(obj).to_string()
    }
}

impl ChunkOut {
    fn malformed(&mut self, line: u64, reason: String) {
        self.tally.malformed_lines += 1;
        self.diags.push(format!("{line}: skipped: {reason}"));
    }
}
