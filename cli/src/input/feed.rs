//! Cutting inputs into chunks of lines for the scan's workers.
//!
//! [`Feeder`] reads the inputs one after the other and hands out [`Chunk`]s
//! of at most `chunk_lines` lines or `chunk_bytes` bytes, so memory stays
//! bounded however long the input (a line longer than `max_line` bytes is
//! skipped as it is read, never held). On standard input a chunk is also
//! cut as soon as no complete line is waiting in the read buffer, so that a
//! slow writer's lines are evaluated (and their matches printed) before the
//! next read blocks. `.json` files, `evtx_dump` output and `.evtx` files
//! are parsed on a thread of their own that sends records through a
//! bounded channel.
//!
//! What an input holds is decided by its first bytes (after gunzipping)
//! where they say it, else by its name: the `ElfFile` magic makes it an
//! EVTX log and a `Record N` first line an `evtx_dump` dump, whatever the
//! name; otherwise `.json` is a stream of objects and the rest JSONL.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use serde_json::Value;

use super::{dump, evtx};
use crate::pipeline::auditd;

/// How an input is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    /// One JSON object per line.
    Lines,
    /// Concatenated, possibly pretty-printed JSON objects (`evtx_dump -o json
    /// --no-show-record-number`, SigmaHQ's regression data).
    Stream,
    /// `evtx_dump -o json`: each object after a `Record N` line (known by
    /// its first line, never by name).
    Dump,
    /// A Windows event log file (by name, or by its magic).
    Evtx,
}

/// One input to scan.
#[derive(Clone, Debug)]
pub struct Input {
    /// The file, or `None` for standard input.
    pub path: Option<PathBuf>,
    /// How it is named in output (`-` for standard input).
    pub label: Arc<str>,
    /// How it is read.
    pub kind: InputKind,
    /// Size in bytes (0 for standard input), for the progress bar.
    pub size: u64,
}

/// Extensions read from directories.
const DIR_EXTENSIONS: &[&str] = &["jsonl", "ndjson", "json", "gz", "evtx"];

fn kind_of(path: &Path) -> InputKind {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    if name.ends_with(".json") {
        InputKind::Stream
    } else if name.ends_with(".evtx") {
        InputKind::Evtx
    } else {
        InputKind::Lines
    }
}

/// Turns command-line inputs into files to read: `-` is standard input, a
/// directory is searched recursively (in file-name order) for `.jsonl`,
/// `.ndjson`, `.json`, `.gz` and `.evtx` files. Paths that do not exist are
/// returned as errors.
pub fn expand(paths: &[PathBuf]) -> (Vec<Input>, Vec<String>) {
    let (mut inputs, mut errors) = (Vec::new(), Vec::new());
    let file = |p: &Path| Input {
        path: Some(p.to_path_buf()),
        label: p.display().to_string().into(),
        kind: kind_of(p),
        size: std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
    };
    for p in paths {
        if p.as_os_str() == "-" {
            inputs.push(Input { path: None, label: "-".into(), kind: InputKind::Lines, size: 0 });
        } else if p.is_dir() {
            for entry in walkdir::WalkDir::new(p).sort_by_file_name() {
                match entry {
                    Ok(e) if e.file_type().is_file() => {
                        let ext = e.path().extension().and_then(|x| x.to_str()).unwrap_or("").to_ascii_lowercase();
                        if DIR_EXTENSIONS.contains(&ext.as_str()) {
                            inputs.push(file(e.path()));
                        }
                    }
                    Ok(_) => {}
                    Err(e) => errors.push(format!("{}: {e}", p.display())),
                }
            }
        } else if p.exists() {
            inputs.push(file(p));
        } else {
            errors.push(format!("{}: no such file or directory", p.display()));
        }
    }
    (inputs, errors)
}

/// One unit of a chunk, in input order.
#[derive(Debug)]
pub enum Unit {
    /// A line (or a `.json` record), its text at `start..end` of the chunk's
    /// text, not yet checked for UTF-8 or parsed; `record` is the
    /// `EventRecordID` an `evtx_dump` dump gave it.
    Line { line: u64, record: Option<u64>, start: usize, end: usize },
    /// An event already parsed and normalised (an `.evtx` record, with its
    /// `EventRecordID` as `record`, an auditd group); `merged` more input
    /// lines were folded into it.
    Parsed { line: u64, record: Option<u64>, event: Value, merged: u64 },
    /// An auditd group that is not an exec (`merged` more lines folded in).
    Skip { line: u64, merged: u64 },
    /// A line or record that could not be read.
    Malformed { line: u64, reason: String },
}

/// Consecutive units of one input.
#[derive(Debug)]
pub struct Chunk {
    /// The input's label.
    pub source: Arc<str>,
    /// If set, `text` starts with a block of whole lines (each ending in
    /// `\n`, but for the last line of an input) up to `block_end`, the
    /// first of them being this line; the worker splits them, so that
    /// reading costs one copy and a newline count. The `units` follow them.
    pub first_line: Option<u64>,
    /// End of the block of lines in `text`.
    pub block_end: usize,
    /// The text of the block and of the `Line` units.
    pub text: Vec<u8>,
    /// The units.
    pub units: Vec<Unit>,
    /// An error that ended the input after these units (reported, and the
    /// scan exits 2).
    pub error: Option<String>,
    /// Warnings about the input, reported after these units (an `.evtx`
    /// file with fewer records than its header says).
    pub warnings: Vec<String>,
    /// Input bytes read so far over all inputs (for the progress bar).
    pub bytes_read: u64,
}

/// How the [`Feeder`] cuts.
#[derive(Clone, Copy, Debug)]
pub struct FeedOptions {
    /// Most units per chunk.
    pub chunk_lines: usize,
    /// Most text bytes per chunk (a chunk always takes at least one line).
    pub chunk_bytes: usize,
    /// Longer lines are reported as malformed and skipped unread.
    pub max_line: usize,
    /// Group auditd records by `msg` id and normalise them.
    pub auditd: bool,
    /// Hand out blocks of lines for the workers to split (unless lines must
    /// be handled one by one: auditd grouping, `--flush-every`).
    pub blocks: bool,
}

/// What a parsing thread sends; errors and warnings without the input's label.
enum Msg {
    Line { line: u64, record: Option<u64>, text: String },
    Parsed { line: u64, record: u64, event: Value },
    Bad { line: u64, reason: String },
    Warning(String),
    Error(String),
}

enum Open {
    Lines { reader: BufReader<Box<dyn Read + Send>>, line: u64, eager: bool, grouper: auditd::Grouper },
    Blocks(Blocks),
    Channel { rx: mpsc::Receiver<Msg> },
}

/// Reads inputs in order and cuts them into chunks.
pub struct Feeder {
    inputs: VecDeque<Input>,
    current: Option<(Arc<str>, Open)>,
    opts: FeedOptions,
    bytes: Arc<AtomicU64>,
    /// The text buffer of a written chunk, given back with
    /// [`Feeder::recycle`]: the next chunk reuses its megabyte instead of
    /// allocating, growing and faulting one in again.
    spare: Option<Vec<u8>>,
}

impl std::fmt::Debug for Feeder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feeder").field("inputs", &self.inputs).finish_non_exhaustive()
    }
}

/// Counts the bytes read from a file, for the progress bar.
struct Counting<R> {
    inner: R,
    bytes: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens a file for reading, gunzipping it if it starts with the gzip magic.
fn open_file(path: &Path, bytes: &Arc<AtomicU64>) -> io::Result<Box<dyn Read + Send>> {
    let file = std::fs::File::open(path)?;
    let mut raw = BufReader::with_capacity(1 << 16, Counting { inner: file, bytes: bytes.clone() });
    let gzip = raw.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    Ok(if gzip { Box::new(flate2::bufread::MultiGzDecoder::new(raw)) } else { Box::new(raw) })
}

enum LineRead {
    Eof,
    Line,
    TooLong(u64),
}

/// Appends the next line (without its `\n`) to `out`, holding at most
/// `max` bytes of it: a longer line is consumed and dropped.
fn read_line(r: &mut impl BufRead, out: &mut Vec<u8>, max: usize) -> io::Result<LineRead> {
    let start = out.len();
    let mut total = 0u64;
    let mut too_long = false;
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(match (total, too_long) {
                (0, _) => LineRead::Eof,
                (n, true) => LineRead::TooLong(n),
                _ => LineRead::Line,
            });
        }
        let (take, done) = match memchr::memchr(b'\n', buf) {
            Some(i) => (i, true),
            None => (buf.len(), false),
        };
        total += take as u64;
        if !too_long && total as usize > max {
            too_long = true;
            out.truncate(start);
        }
        if !too_long {
            out.extend_from_slice(&buf[..take]);
        }
        r.consume(take + usize::from(done));
        if done {
            return Ok(if too_long { LineRead::TooLong(total) } else { LineRead::Line });
        }
    }
}

enum Step {
    Full,
    Eof,
    Failed(String),
}

impl Feeder {
    /// A feeder over `inputs`.
    pub fn new(inputs: Vec<Input>, opts: FeedOptions) -> Feeder {
        Feeder { inputs: inputs.into(), current: None, opts, bytes: Arc::new(AtomicU64::new(0)), spare: None }
    }

    /// Gives back the text of a chunk that has been handled, for a later
    /// chunk to reuse.
    pub fn recycle(&mut self, mut text: Vec<u8>) {
        text.clear();
        self.spare = Some(text);
    }

    /// Input bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The next chunk, or `None` when every input is read.
    pub fn next_chunk(&mut self) -> Option<Chunk> {
        loop {
            if self.current.is_none() {
                let input = self.inputs.pop_front()?;
                match self.open(&input) {
                    Ok(open) => self.current = Some((input.label.clone(), open)),
                    Err(e) => return Some(self.chunk(input.label.clone(), Some(format!("{}: {e}", input.label)))),
                }
            }
            let Some((label, open)) = &mut self.current else { continue };
            let label = label.clone();
            let mut chunk = Chunk {
                source: label.clone(),
                first_line: None,
                block_end: 0,
                text: self.spare.take().unwrap_or_default(),
                units: Vec::new(),
                error: None,
                warnings: Vec::new(),
                bytes_read: 0,
            };
            let step = match open {
                Open::Lines { reader, line, eager, grouper } => {
                    read_lines(reader, line, *eager, grouper, &self.opts, &label, &mut chunk)
                }
                Open::Blocks(b) => b.read(&self.opts, &label, &mut chunk),
                Open::Channel { rx } => read_channel(rx, &self.opts, &label, &mut chunk),
            };
            chunk.bytes_read = self.bytes_read();
            match step {
                Step::Full => return Some(chunk),
                Step::Eof => {
                    self.current = None;
                    if !chunk.units.is_empty() || chunk.block_end > 0 || !chunk.warnings.is_empty() {
                        return Some(chunk);
                    }
                }
                Step::Failed(e) => {
                    self.current = None;
                    chunk.error = Some(e);
                    return Some(chunk);
                }
            }
        }
    }

    fn chunk(&self, source: Arc<str>, error: Option<String>) -> Chunk {
        Chunk {
            source,
            first_line: None,
            block_end: 0,
            text: Vec::new(),
            units: Vec::new(),
            error,
            warnings: Vec::new(),
            bytes_read: self.bytes_read(),
        }
    }

    fn open(&self, input: &Input) -> Result<Open, String> {
        let Some(path) = &input.path else { return self.open_stdin() };
        let head = head(path).map_err(|e| e.to_string())?;
        let format = if head.starts_with(evtx::MAGIC) {
            InputKind::Evtx
        } else if dump::starts_with_banner(&head) {
            InputKind::Dump
        } else {
            input.kind
        };
        let open = || open_file(path, &self.bytes).map_err(|e| e.to_string());
        match format {
            InputKind::Lines if self.opts.blocks => Ok(Open::Blocks(Blocks::new(open()?, false))),
            InputKind::Lines => Ok(Open::Lines {
                reader: BufReader::with_capacity(1 << 16, open()?),
                line: 0,
                eager: false,
                grouper: auditd::Grouper::default(),
            }),
            InputKind::Stream => Ok(channel(open()?, stream_records)),
            InputKind::Dump => {
                let max = self.opts.max_line;
                Ok(channel(open()?, move |r, tx| dump_records(r, max, tx)))
            }
            // A gzip'd log is unpacked by `read_evtx`; the progress bar
            // counts the file when it is read.
            InputKind::Evtx => {
                let (path, size, bytes) = (path.clone(), input.size, self.bytes.clone());
                Ok(evtx_channel(move |send| {
                    let result = evtx::read_evtx(&path, send);
                    bytes.fetch_add(size, Ordering::Relaxed);
                    result
                }))
            }
        }
    }

    /// Standard input: JSONL, unless its first bytes say it is a gzip
    /// stream, an EVTX log (unpacked into a temporary file to be read) or
    /// an `evtx_dump` dump.
    fn open_stdin(&self) -> Result<Open, String> {
        let stdin: Box<dyn Read + Send> = Box::new(io::stdin());
        let mut reader = BufReader::with_capacity(1 << 16, stdin);
        // One read: on a pipe, what the writer has written so far. A read
        // error is left for the line reader to report.
        let mut head = reader.fill_buf().map(<[u8]>::to_vec).unwrap_or_default();
        if head.starts_with(&[0x1f, 0x8b]) {
            let gz: Box<dyn Read + Send> = Box::new(flate2::bufread::MultiGzDecoder::new(reader));
            reader = BufReader::with_capacity(1 << 16, gz);
            head = reader.fill_buf().map(<[u8]>::to_vec).unwrap_or_default();
        }
        if head.starts_with(evtx::MAGIC) {
            return Ok(evtx_channel(move |send| evtx::read_evtx_reader(&mut reader, send)));
        }
        if dump::starts_with_banner(&head) {
            let max = self.opts.max_line;
            return Ok(channel(Box::new(reader), move |r, tx| dump_records(r, max, tx)));
        }
        if self.opts.blocks {
            return Ok(Open::Blocks(Blocks::new(Box::new(reader), true)));
        }
        Ok(Open::Lines { reader, line: 0, eager: true, grouper: auditd::Grouper::default() })
    }
}

/// The first bytes of a file, unpacked if it is gzip'd.
fn head(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Seek;
    let mut file = std::fs::File::open(path)?;
    let mut head = Vec::with_capacity(256);
    (&mut file).take(256).read_to_end(&mut head)?;
    if !head.starts_with(&[0x1f, 0x8b]) {
        return Ok(head);
    }
    file.seek(io::SeekFrom::Start(0))?;
    let mut unpacked = Vec::with_capacity(256);
    // A broken gzip stream is reported when the input is read.
    let _ = flate2::read::MultiGzDecoder::new(BufReader::new(file)).take(256).read_to_end(&mut unpacked);
    Ok(unpacked)
}

/// Runs `parse` on a thread of its own, sending messages through a bounded channel.
fn channel(
    reader: Box<dyn Read + Send>,
    parse: impl FnOnce(Box<dyn Read + Send>, mpsc::SyncSender<Msg>) + Send + 'static,
) -> Open {
    let (tx, rx) = mpsc::sync_channel(1024);
    std::thread::spawn(move || parse(reader, tx));
    Open::Channel { rx }
}

/// Reads an EVTX log on a thread of its own: `read` calls its argument with
/// each record and returns the warnings, or the error that ended the log.
fn evtx_channel(
    read: impl FnOnce(&mut dyn FnMut(evtx::Record) -> bool) -> Result<Vec<String>, String> + Send + 'static,
) -> Open {
    let (tx, rx) = mpsc::sync_channel(1024);
    std::thread::spawn(move || {
        let mut send = |r| {
            let msg = match r {
                evtx::Record::Event { number, record_id, event } => {
                    Msg::Parsed { line: number, record: record_id, event }
                }
                evtx::Record::Bad { number, reason } => Msg::Bad { line: number, reason },
            };
            tx.send(msg).is_ok()
        };
        match read(&mut send) {
            Ok(warnings) => {
                for w in warnings {
                    let _ = tx.send(Msg::Warning(w));
                }
            }
            Err(e) => {
                let _ = tx.send(Msg::Error(e));
            }
        }
    });
    Open::Channel { rx }
}

/// Reads an `evtx_dump` dump and sends each record's text with its line
/// and record id: the `EventRecordID` the record states, else its
/// `Record N` (which can differ in an exported log; see
/// [`super::event_record_id`]). The text is parsed once here for the id:
/// dumps are rare and this thread keeps ahead of the workers.
fn dump_records(reader: Box<dyn Read + Send>, max: usize, tx: mpsc::SyncSender<Msg>) {
    let mut reader = BufReader::new(reader);
    let read = dump::read_dump(&mut reader, max, |item| {
        let msg = match item {
            dump::DumpItem::Record { line, record_id, text } => {
                let stated = serde_json::from_str::<Value>(&text).ok().as_ref().and_then(super::event_record_id);
                Msg::Line { line, record: Some(stated.unwrap_or(record_id)), text }
            }
            dump::DumpItem::Bad { line, reason } => Msg::Bad { line, reason },
        };
        tx.send(msg).is_ok()
    });
    if let Err(e) = read {
        let _ = tx.send(Msg::Error(format!("read error: {e}")));
    }
}

/// Reads whole lines in blocks: one read call per up to 256 KiB, a search
/// for the last newline, and a newline count; the workers split the lines.
struct Blocks {
    reader: Box<dyn Read + Send>,
    /// Lines handed out so far.
    line: u64,
    /// The start of a line that did not fit in the last block.
    carry: Vec<u8>,
    /// Hand out complete lines after every read (standard input).
    eager: bool,
}

const READ: usize = 256 << 10;

impl Blocks {
    fn new(reader: Box<dyn Read + Send>, eager: bool) -> Blocks {
        Blocks { reader, line: 0, carry: Vec::new(), eager }
    }

    fn fill(&mut self, text: &mut Vec<u8>) -> io::Result<usize> {
        let len = text.len();
        text.resize(len + READ, 0);
        let n = loop {
            match self.reader.read(&mut text[len..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        text.truncate(len + *n.as_ref().unwrap_or(&0));
        n
    }

    /// Makes `text[..end]` the chunk's block of lines.
    fn block(&mut self, chunk: &mut Chunk, text: Vec<u8>, end: usize) {
        if end > 0 {
            let lines = memchr::memchr_iter(b'\n', &text[..end]).count() as u64;
            chunk.first_line = Some(self.line + 1);
            self.line += lines + u64::from(text[end - 1] != b'\n');
        }
        chunk.block_end = end;
        chunk.text = text;
    }

    fn read(&mut self, opts: &FeedOptions, label: &str, chunk: &mut Chunk) -> Step {
        // The chunk's (recycled, empty) buffer, sized once for a whole chunk.
        let mut text = std::mem::take(&mut chunk.text);
        text.reserve(opts.chunk_bytes + READ);
        text.extend_from_slice(&self.carry);
        self.carry.clear();
        let mut last_nl = memchr::memrchr(b'\n', &text);
        loop {
            let old = text.len();
            let n = match self.fill(&mut text) {
                Ok(n) => n,
                Err(e) => {
                    let end = last_nl.map_or(0, |i| i + 1);
                    let partial = text.len() > end;
                    text.truncate(end);
                    self.block(chunk, text, end);
                    if partial {
                        self.line += 1;
                        chunk.units.push(Unit::Malformed { line: self.line, reason: format!("incomplete line: {e}") });
                    }
                    return Step::Failed(format!("{label}: read error after line {}: {e}", self.line));
                }
            };
            if n == 0 {
                let end = text.len();
                self.block(chunk, text, end);
                return Step::Eof;
            }
            if let Some(i) = memchr::memrchr(b'\n', &text[old..]) {
                last_nl = Some(old + i);
            }
            let end = last_nl.map_or(0, |i| i + 1);
            if text.len() - end > opts.max_line {
                return self.overlong(opts, label, chunk, text, end);
            }
            if end > 0 && (self.eager || text.len() >= opts.chunk_bytes) {
                self.carry.extend_from_slice(&text[end..]);
                text.truncate(end);
                self.block(chunk, text, end);
                return Step::Full;
            }
        }
    }

    /// The line starting at `text[end..]` is longer than allowed: hands out
    /// the lines before it, then reads past its end without keeping it.
    fn overlong(&mut self, opts: &FeedOptions, label: &str, chunk: &mut Chunk, mut text: Vec<u8>, end: usize) -> Step {
        let mut skipped = (text.len() - end) as u64;
        text.truncate(end);
        self.block(chunk, text, end);
        self.line += 1;
        let line = self.line;
        let mut buf = vec![0u8; READ];
        let result = loop {
            let n = match self.reader.read(&mut buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Step::Failed(format!("{label}: read error in line {line}: {e}")),
                Ok(0) => break Step::Eof,
                Ok(n) => n,
            };
            match memchr::memchr(b'\n', &buf[..n]) {
                Some(i) => {
                    skipped += i as u64;
                    self.carry = buf[i + 1..n].to_vec();
                    break Step::Full;
                }
                None => skipped += n as u64,
            }
        };
        let reason = format!("line of {skipped} bytes is longer than --max-line-bytes {}", opts.max_line);
        chunk.units.push(Unit::Malformed { line, reason });
        result
    }
}

fn full(chunk: &Chunk, opts: &FeedOptions) -> bool {
    chunk.units.len() >= opts.chunk_lines || chunk.text.len() >= opts.chunk_bytes
}

fn read_lines(
    reader: &mut BufReader<Box<dyn Read + Send>>,
    line: &mut u64,
    eager: bool,
    grouper: &mut auditd::Grouper,
    opts: &FeedOptions,
    label: &str,
    chunk: &mut Chunk,
) -> Step {
    while !full(chunk, opts) {
        // On a pipe, evaluate what has arrived before blocking for more.
        if eager && !chunk.units.is_empty() && memchr::memchr(b'\n', reader.buffer()).is_none() {
            return Step::Full;
        }
        let start = chunk.text.len();
        match read_line(reader, &mut chunk.text, opts.max_line) {
            Ok(LineRead::Eof) => {
                flush_group(grouper, chunk);
                return Step::Eof;
            }
            Ok(LineRead::Line) => {
                *line += 1;
                if opts.auditd {
                    auditd_line(grouper, *line, start, chunk);
                } else {
                    chunk.units.push(Unit::Line { line: *line, record: None, start, end: chunk.text.len() });
                }
            }
            Ok(LineRead::TooLong(n)) => {
                *line += 1;
                flush_group(grouper, chunk);
                chunk.units.push(Unit::Malformed {
                    line: *line,
                    reason: format!("line of {n} bytes is longer than --max-line-bytes {}", opts.max_line),
                });
            }
            Err(e) => {
                flush_group(grouper, chunk);
                if chunk.text.len() > start {
                    chunk.text.truncate(start);
                    chunk.units.push(Unit::Malformed { line: *line + 1, reason: format!("incomplete line: {e}") });
                }
                return Step::Failed(format!("{label}: read error after line {line}: {e}"));
            }
        }
    }
    Step::Full
}

fn flush_group(grouper: &mut auditd::Grouper, chunk: &mut Chunk) {
    if let Some(g) = grouper.finish() {
        push_group(g, chunk);
    }
}

fn push_group(g: auditd::Group, chunk: &mut Chunk) {
    let (line, merged) = (g.line, g.records.len() as u64 - 1);
    let (event, exec) = auditd::normalise(g.records);
    chunk.units.push(if exec {
        Unit::Parsed { line, record: None, event, merged }
    } else {
        Unit::Skip { line, merged }
    });
}

/// An auditd line: records join their group; anything else ends the group
/// and stands alone (merged records are normalised, the rest is left to
/// the worker, which reports what is wrong with it).
fn auditd_line(grouper: &mut auditd::Grouper, line: u64, start: usize, chunk: &mut Chunk) {
    let parsed = std::str::from_utf8(&chunk.text[start..]).ok().and_then(|t| serde_json::from_str::<Value>(t).ok());
    match parsed {
        Some(Value::Object(record)) => {
            chunk.text.truncate(start);
            match auditd::record_id(&record).map(str::to_string) {
                Some(id) => {
                    if let Some(done) = grouper.push(line, &id, record) {
                        push_group(done, chunk);
                    }
                }
                None => {
                    flush_group(grouper, chunk);
                    push_group(auditd::Group { line, records: vec![record] }, chunk);
                }
            }
        }
        _ => {
            let end = chunk.text.len();
            flush_group(grouper, chunk);
            chunk.units.push(Unit::Line { line, record: None, start, end });
        }
    }
}

fn read_channel(rx: &mpsc::Receiver<Msg>, opts: &FeedOptions, label: &str, chunk: &mut Chunk) -> Step {
    while !full(chunk, opts) {
        match rx.recv() {
            Ok(Msg::Line { line, record, text }) => {
                let start = chunk.text.len();
                chunk.text.extend_from_slice(text.as_bytes());
                chunk.units.push(Unit::Line { line, record, start, end: chunk.text.len() });
            }
            Ok(Msg::Parsed { line, record, event }) => {
                chunk.units.push(Unit::Parsed { line, record: Some(record), event, merged: 0 })
            }
            Ok(Msg::Bad { line, reason }) => chunk.units.push(Unit::Malformed { line, reason }),
            Ok(Msg::Warning(w)) => chunk.warnings.push(format!("{label}: {w}")),
            Ok(Msg::Error(e)) => return Step::Failed(format!("{label}: {e}")),
            Err(_) => return Step::Eof,
        }
    }
    Step::Full
}

/// Remembers where the newlines of the bytes it passes on are, so that the
/// start line of each streamed record can be computed.
struct Newlines<R> {
    inner: R,
    pos: u64,
    at: std::rc::Rc<std::cell::RefCell<VecDeque<u64>>>,
}

impl<R: Read> Read for Newlines<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut at = self.at.borrow_mut();
        for i in memchr::memchr_iter(b'\n', &buf[..n]) {
            at.push_back(self.pos + i as u64);
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// Reads concatenated JSON objects and sends each record's text with the
/// line it starts on. A syntax error ends the file (JSON cannot be
/// resynchronised): it is sent as one malformed record.
fn stream_records(reader: Box<dyn Read + Send>, tx: mpsc::SyncSender<Msg>) {
    let mut reader = BufReader::new(reader);
    // A byte-order mark before the first record.
    if reader.fill_buf().is_ok_and(|b| b.starts_with(b"\xEF\xBB\xBF")) {
        reader.consume(3);
    }
    let at = std::rc::Rc::new(std::cell::RefCell::new(VecDeque::new()));
    let counted = Newlines { inner: reader, pos: 0, at: at.clone() };
    let mut records = serde_json::Deserializer::from_reader(counted).into_iter::<Box<serde_json::value::RawValue>>();
    let mut line = 1u64;
    loop {
        let msg = match records.next() {
            None => return,
            Some(Ok(raw)) => {
                let start = records.byte_offset() as u64 - raw.get().len() as u64;
                let mut at = at.borrow_mut();
                while at.front().is_some_and(|&o| o < start) {
                    at.pop_front();
                    line += 1;
                }
                Msg::Line { line, record: None, text: raw.get().to_string() }
            }
            Some(Err(e)) if e.is_io() => Msg::Error(format!("read error: {e}")),
            // The record is malformed, and the input was not read to its end.
            Some(Err(e)) => {
                let line = e.line() as u64;
                let bad = Msg::Bad { line, reason: format!("invalid JSON: {e}; the rest of the file is skipped") };
                if tx.send(bad).is_ok() {
                    let _ = tx.send(Msg::Error(format!("not read after line {line} (invalid JSON)")));
                }
                return;
            }
        };
        let last = !matches!(msg, Msg::Line { .. });
        if tx.send(msg).is_err() || last {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlong_lines_are_skipped_without_being_held() {
        let input = b"short\n0123456789abcdef\nend";
        let mut r = BufReader::with_capacity(4, &input[..]);
        let mut out = Vec::new();
        assert!(matches!(read_line(&mut r, &mut out, 8).unwrap(), LineRead::Line));
        assert_eq!(out, b"short");
        out.clear();
        assert!(matches!(read_line(&mut r, &mut out, 8).unwrap(), LineRead::TooLong(16)));
        assert!(out.is_empty() && out.capacity() <= 16);
        assert!(matches!(read_line(&mut r, &mut out, 8).unwrap(), LineRead::Line));
        assert_eq!(out, b"end");
        assert!(matches!(read_line(&mut r, &mut out, 8).unwrap(), LineRead::Eof));
    }

    #[test]
    fn streamed_records_report_their_start_lines() {
        let text = "\u{feff}{\n  \"a\": 1\n}\n\n{\"b\": 2}\n{\"c\":\n";
        let (tx, rx) = mpsc::sync_channel(16);
        stream_records(Box::new(std::io::Cursor::new(text.as_bytes().to_vec())), tx);
        let got: Vec<String> = rx
            .iter()
            .map(|m| match m {
                Msg::Line { line, .. } => format!("{line}"),
                Msg::Bad { line, .. } => format!("bad {line}"),
                _ => "other".into(),
            })
            .collect();
        // The syntax error also ends the input with an error.
        assert_eq!(got, ["1", "5", "bad 7", "other"]);
    }
}
