//! `.evtx` edge cases seen on real Windows logs (issue 15), each built at
//! run time from a SigmaHQ regression log in `../shared` into a temporary
//! directory: zero padding after the last chunk, a gzip'd log, a log under
//! another name or on standard input, `evtx_dump`'s default output
//! (`Record N` lines), the `EventRecordID` beside the position, and a file
//! cut at a chunk boundary. Each variant must give the original's matches.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::streams::{gzip, shared, stats};
use super::{sigmata, stdout_lines, write};

/// A SigmaHQ regression log of four Sysmon records, all of which its rule matches.
const SAMPLE: &str = "proc_creation_win_reg_system_restore_modification";

/// The rule and its regression `.evtx`, or `None` without `../shared`.
fn sample() -> Option<(PathBuf, PathBuf)> {
    let shared = shared()?;
    let rule = shared.join(format!("sigma/rules/windows/process_creation/{SAMPLE}.yml"));
    let dir = shared.join(format!("sigma/regression_data/rules/windows/process_creation/{SAMPLE}"));
    let log = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "evtx"))
        .unwrap_or_else(|| panic!("no .evtx in {}", dir.display()));
    Some((rule, log))
}

/// A scan's exit code, its matches as (rule id, line, record id), and the process output.
struct Scan {
    code: Option<i32>,
    matches: Vec<(String, u64, Option<u64>)>,
    out: std::process::Output,
}

impl Scan {
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    /// (rule id, record id) of each match, for inputs whose lines differ.
    fn by_record(&self) -> Vec<(String, Option<u64>)> {
        self.matches.iter().map(|(r, _, id)| (r.clone(), *id)).collect()
    }
}

fn scan(rule: &Path, input: &Path, stdin: Option<Vec<u8>>) -> Scan {
    let mut cmd = sigmata();
    cmd.args(["scan", "--stats", "--format", "jsonl", "-r"]).arg(rule).arg(input);
    if let Some(bytes) = stdin {
        cmd.write_stdin(bytes);
    }
    let out = cmd.output().unwrap();
    let matches = stdout_lines(&out)
        .iter()
        .map(|m| (m["rule_id"].as_str().unwrap().to_string(), m["line"].as_u64().unwrap(), m["record_id"].as_u64()))
        .collect();
    Scan { code: out.status.code(), matches, out }
}

/// The original log's scan: four matches, each with its record id.
fn original(rule: &Path, log: &Path) -> Scan {
    let s = scan(rule, log, None);
    assert_eq!(s.code, Some(0), "{}", s.stderr());
    assert_eq!(s.matches.len(), 4, "{:?}", s.matches);
    assert!(s.matches.iter().all(|(_, _, id)| id.is_some()), "{:?}", s.matches);
    assert_eq!(stats(&s.out)["warnings"], 0);
    s
}

#[test]
fn zero_padding_after_the_last_chunk_is_not_an_error() {
    let Some((rule, log)) = sample() else { return };
    let want = original(&rule, &log);
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    // As Velociraptor exports them: 4,096 zero bytes after the last chunk.
    let mut padded = std::fs::read(&log).unwrap();
    padded.extend_from_slice(&[0; 4096]);
    let padded_path = logs.join("padded.evtx");
    std::fs::write(&padded_path, &padded).unwrap();
    let got = scan(&rule, &padded_path, None);
    assert_eq!((got.code, &got.matches), (Some(0), &want.matches), "{}", got.stderr());
    assert!(!got.stderr().contains("truncated"), "{}", got.stderr());
    // Bytes that hold no chunk magic are not a chunk either; a directory
    // holding both files scans without an error.
    let mut tail = std::fs::read(&log).unwrap();
    tail.extend_from_slice(&[0x41; 1000]);
    std::fs::write(logs.join("tail.evtx"), &tail).unwrap();
    let both = scan(&rule, &logs, None);
    assert_eq!(both.code, Some(0), "{}", both.stderr());
    assert_eq!(both.matches.len(), 8, "{:?}", both.matches);
    // The start of a chunk after the last whole one is still a truncation.
    let mut cut = std::fs::read(&log).unwrap();
    let partial = cut[4096..4096 + 30000].to_vec();
    cut.extend_from_slice(&partial);
    let cut_path = dir.path().join("cut.evtx");
    std::fs::write(&cut_path, &cut).unwrap();
    let got = scan(&rule, &cut_path, None);
    assert_eq!((got.code, &got.matches), (Some(2), &want.matches), "{}", got.stderr());
    assert!(got.stderr().contains("cut.evtx: truncated: the file ends 30000 bytes into a chunk"), "{}", got.stderr());
}

#[test]
fn gzipped_evtx_is_unpacked_and_read() {
    let Some((rule, log)) = sample() else { return };
    let want = original(&rule, &log);
    let dir = tempfile::tempdir().unwrap();
    let packed = gzip(&std::fs::read(&log).unwrap());
    // By name (`.evtx.gz`) and by magic alone (`.gz`), from a file and from stdin.
    for name in ["x.evtx.gz", "x.gz"] {
        let path = dir.path().join(name);
        std::fs::write(&path, &packed).unwrap();
        let got = scan(&rule, &path, None);
        assert_eq!((got.code, &got.matches), (Some(0), &want.matches), "{name}: {}", got.stderr());
    }
    let got = scan(&rule, Path::new("-"), Some(packed.clone()));
    assert_eq!((got.code, &got.matches), (Some(0), &want.matches), "stdin: {}", got.stderr());
    // A gzip stream cut short: the records before the cut are read, and the
    // input is reported as not read completely.
    let short = dir.path().join("short.evtx.gz");
    std::fs::write(&short, &packed[..packed.len() / 2]).unwrap();
    let got = scan(&rule, &short, None);
    assert_eq!(got.code, Some(2), "{}", got.stderr());
    assert!(got.stderr().contains("short.evtx.gz: read error: "), "{}", got.stderr());
    assert!(got.stderr().contains("the records before it were read"), "{}", got.stderr());
}

#[test]
fn evtx_magic_is_recognised_whatever_the_name() {
    let Some((rule, log)) = sample() else { return };
    let want = original(&rule, &log);
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(&log).unwrap();
    for name in ["Security", "export.jsonl", "export.json"] {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let got = scan(&rule, &path, None);
        assert_eq!((got.code, &got.matches), (Some(0), &want.matches), "{name}: {}", got.stderr());
        assert_eq!(stats(&got.out)["malformed_lines"], 0, "{name}");
    }
    let got = scan(&rule, Path::new("-"), Some(bytes));
    assert_eq!((got.code, &got.matches), (Some(0), &want.matches), "stdin: {}", got.stderr());
    // A file named .evtx that is not a log says so, and the scan exits 2.
    let fake = write(dir.path(), "fake.evtx", "{\"Image\": \"x\"}\n");
    let got = scan(&rule, &fake, None);
    assert_eq!(got.code, Some(2));
    assert!(got.stderr().contains("fake.evtx: not an EVTX file"), "{}", got.stderr());
}

/// What `evtx_dump -o json` writes for `log`: a `Record N` line before
/// each object, made by the `evtx` crate's JSON serializer, which evtx_dump
/// (0.15) writes it with; it writes each object on one line.
fn dump(log: &Path) -> String {
    let mut parser = evtx::EvtxParser::from_path(log).unwrap();
    let mut out = Vec::new();
    for chunk in parser.chunks_json_bytes(true) {
        out.extend_from_slice(&chunk.data);
    }
    String::from_utf8(out).unwrap()
}

/// The same dump with pretty-printed objects, as older evtx_dump versions
/// wrote it; `without_id`: the first record's `EventRecordID` removed.
fn pretty(dump: &str, without_id: bool) -> String {
    let mut out = String::new();
    let mut first = without_id;
    for line in dump.lines() {
        if line.starts_with("Record ") {
            out.push_str(line);
        } else {
            let mut v: Value = serde_json::from_str(line).unwrap();
            if std::mem::take(&mut first) {
                v["Event"]["System"].as_object_mut().unwrap().remove("EventRecordID").unwrap();
            }
            out.push_str(&serde_json::to_string_pretty(&v).unwrap());
        }
        out.push('\n');
    }
    out
}

/// The line after each `Record N` line: where each object starts.
fn object_lines(dump: &str) -> Vec<u64> {
    dump.lines().enumerate().filter(|(_, l)| l.starts_with("Record ")).map(|(i, _)| i as u64 + 2).collect()
}

#[test]
fn evtx_dump_default_output_is_read_with_its_record_numbers() {
    let Some((rule, log)) = sample() else { return };
    let want = original(&rule, &log);
    let dir = tempfile::tempdir().unwrap();
    let (compact, pretty_text) = (dump(&log), pretty(&dump(&log), false));
    assert!(compact.starts_with("Record 1\n{\""), "{}", &compact[..40]);
    // Whatever the name, gzip'd or not, one line or pretty-printed, and on stdin.
    let mut runs = Vec::new();
    for (name, text) in [("dump.json", &compact), ("dump.txt", &pretty_text), ("dump.jsonl.gz", &compact)] {
        let path = dir.path().join(name);
        let bytes = if name.ends_with(".gz") { gzip(text.as_bytes()) } else { text.as_bytes().to_vec() };
        std::fs::write(&path, bytes).unwrap();
        runs.push((name, text, scan(&rule, &path, None)));
    }
    runs.push(("stdin", &pretty_text, scan(&rule, Path::new("-"), Some(pretty_text.clone().into_bytes()))));
    for (name, text, got) in &runs {
        // The record ids are the EventRecordIDs, as from the .evtx file.
        assert_eq!((got.code, got.by_record()), (Some(0), want.by_record()), "{name}: {}", got.stderr());
        let lines: Vec<u64> = got.matches.iter().map(|m| m.1).collect();
        assert_eq!(lines, object_lines(text), "{name}");
        assert_eq!(stats(&got.out)["malformed_lines"], 0, "{name}");
    }
    // A record that states no EventRecordID keeps its `Record N`.
    let path = write(dir.path(), "no_id.json", &pretty(&compact, true));
    let got = scan(&rule, &path, None);
    let mut expected = want.by_record();
    expected[0].1 = Some(1);
    assert_eq!((got.code, got.by_record()), (Some(0), expected), "{}", got.stderr());
    // A broken record is reported alone: the next `Record N` line resynchronises.
    let broken = pretty_text.replacen("{\n", "{\n  \"broken\": ,\n", 1);
    let path = write(dir.path(), "broken.json", &broken);
    let got = scan(&rule, &path, None);
    assert_eq!(got.code, Some(0), "{}", got.stderr());
    assert_eq!(got.by_record(), want.by_record()[1..].to_vec());
    assert!(got.stderr().contains("broken.json:2: skipped: invalid JSON"), "{}", got.stderr());
    assert_eq!(stats(&got.out)["malformed_lines"], 1);
    // Without the `Record N` lines a syntax error cannot be resynchronised:
    // the rest of the file is not read, which is an error (exit 2).
    let stream: String = broken.lines().filter(|l| !l.starts_with("Record ")).map(|l| format!("{l}\n")).collect();
    let path = write(dir.path(), "stream.json", &stream);
    let got = scan(&rule, &path, None);
    assert_eq!(got.code, Some(2), "{}", got.stderr());
    assert!(got.stderr().contains("stream.json: not read after line 2"), "{}", got.stderr());
}

#[test]
fn matches_in_evtx_report_the_event_record_id_beside_the_position() {
    let Some((rule, log)) = sample() else { return };
    let want = original(&rule, &log);
    // The record id is the event's own EventRecordID (in this exported
    // sample not the record's number in the file, 1 to 4).
    let events: Vec<Value> = stdout_lines(&want.out).into_iter().map(|m| m["event"].clone()).collect();
    for ((_, _, id), event) in want.matches.iter().zip(&events) {
        assert_eq!(Some(event["EventRecordID"].as_u64().unwrap()), *id);
    }
    assert!(want.matches.iter().all(|(_, line, id)| Some(*line) != *id), "{:?}", want.matches);
    // After an unreadable record the positions shift, the record ids do not:
    // the first chunk's records overwritten, then the sample's chunk.
    let bytes = std::fs::read(&log).unwrap();
    let mut spliced = bytes[..4096 + 65536].to_vec();
    spliced[4096 + 600..4096 + 4000].fill(0x41);
    spliced.extend_from_slice(&bytes[4096..4096 + 65536]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spliced.evtx");
    std::fs::write(&path, &spliced).unwrap();
    let got = scan(&rule, &path, None);
    assert_eq!(got.by_record(), want.by_record(), "{}", got.stderr());
    let lines: Vec<u64> = got.matches.iter().map(|m| m.1).collect();
    assert_eq!(lines, [2, 3, 4, 5], "{}", got.stderr());
    // The text format shows it too.
    let out = sigmata().args(["scan", "--format", "text", "-r"]).arg(&rule).arg(&log).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let first = format!("(record {})", want.matches[0].2.unwrap());
    assert!(text.lines().next().is_some_and(|l| l.contains(":1: ") && l.ends_with(&first)), "{text}");
    // JSONL inputs have no record id.
    let jsonl = write(dir.path(), "e.jsonl", &format!("{}\n", events[0]));
    let got = scan(&rule, &jsonl, None);
    assert_eq!(got.matches, [(want.matches[0].0.clone(), 1, None)]);
}

/// `log` with a header that says a second chunk and `extra` more records
/// follow (its checksum recomputed, so that it is trusted): the log as it
/// was before the file was cut after its first chunk.
fn longer_header(log: &[u8], extra: u64) -> Vec<u8> {
    let mut out = log.to_vec();
    let next = u64::from_le_bytes(out[24..32].try_into().unwrap()) + extra;
    out[24..32].copy_from_slice(&next.to_le_bytes());
    let chunks = u16::from_le_bytes(out[42..44].try_into().unwrap()) + 1;
    out[42..44].copy_from_slice(&chunks.to_le_bytes());
    out[16..24].copy_from_slice(&u64::from(chunks - 1).to_le_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(&out[..120]);
    out[124..128].copy_from_slice(&crc.sum().to_le_bytes());
    out
}

#[test]
fn an_evtx_file_cut_at_a_chunk_boundary_warns_that_records_are_missing() {
    let Some((rule, log)) = sample() else { return };
    let want = original(&rule, &log);
    let bytes = std::fs::read(&log).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The second chunk of a two-chunk log cut off: its first chunk is read
    // and matches as before, with a warning (not an error: exit 0).
    let cut = dir.path().join("cut.evtx");
    std::fs::write(&cut, longer_header(&bytes, 50)).unwrap();
    let got = scan(&rule, &cut, None);
    assert_eq!((got.code, &got.matches), (Some(0), &want.matches), "{}", got.stderr());
    let err = got.stderr();
    assert!(
        err.contains(
            "cut.evtx: records missing: the header says the log holds 2 chunk(s) and records up to 54; \
             the file holds 1 chunk(s) and records up to 4 were read (50 record(s) missing: the file looks \
             cut at a chunk boundary)"
        ),
        "{err}"
    );
    assert_eq!(stats(&got.out)["warnings"], 1);
    // Cut after the header: nothing read, nothing matched (exit 1), a warning.
    let header_only = dir.path().join("header.evtx");
    std::fs::write(&header_only, &bytes[..4096]).unwrap();
    let got = scan(&rule, &header_only, None);
    assert_eq!((got.code, got.matches.len()), (Some(1), 0), "{}", got.stderr());
    assert!(got.stderr().contains("header.evtx: records missing"), "{}", got.stderr());
    assert_eq!(stats(&got.out)["warnings"], 1);
    // A header whose checksum fails is not trusted to say so.
    let mut untrusted = longer_header(&bytes, 50);
    untrusted[124] ^= 0xff;
    let path = dir.path().join("untrusted.evtx");
    std::fs::write(&path, &untrusted).unwrap();
    let got = scan(&rule, &path, None);
    assert_eq!((got.code, &got.matches), (Some(0), &want.matches), "{}", got.stderr());
    assert_eq!(stats(&got.out)["warnings"], 0);
}
