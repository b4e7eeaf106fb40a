//! Reading events: JSONL streams (files, gzip'd files, stdin), evtx-dump
//! style JSON files and `.evtx` files.
//!
//! Every line of a JSONL input is accounted for: it becomes an event, a
//! malformed line (with the reason), or an empty line. Nothing is dropped
//! without being counted. [`Feeder`] cuts inputs into [`Chunk`]s of lines
//! for the scan's worker threads, with bounded memory whatever the input.

pub mod dump;
pub mod evtx;
mod feed;

pub use feed::{Chunk, FeedOptions, Feeder, Input, InputKind, Unit, expand};

use std::io::{self, BufRead};

use serde_json::{Map, Value};

/// One item read from an input.
#[derive(Debug)]
pub enum Item<'a> {
    /// An event: its 1-based line, the JSON text as read, and the event
    /// normalised for evaluation (evtx-dump records flattened).
    Event { line: usize, raw: &'a str, event: Value },
    /// A line (or, for `.json` files, a record) that could not be read.
    Malformed { line: usize, reason: String },
    /// A blank line.
    Empty { line: usize },
}

/// How an input is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One JSON object per line.
    Lines,
    /// Concatenated (possibly pretty-printed) JSON objects, as `evtx_dump -o json`
    /// writes them and SigmaHQ's regression data stores them.
    Stream,
}

impl Mode {
    /// `.json` files are streams; everything else (`.jsonl`, `.ndjson`, stdin) is lines.
    pub fn for_path(path: &std::path::Path) -> Mode {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("json") => Mode::Stream,
            _ => Mode::Lines,
        }
    }
}

/// One line of a JSONL input, before JSON parsing.
#[derive(Debug)]
pub enum Line<'a> {
    /// A non-blank line of valid UTF-8 (line ending and a leading BOM removed).
    Text { line: usize, text: &'a str },
    /// A line that is not UTF-8.
    Malformed { line: usize, reason: String },
    /// A blank line.
    Empty { line: usize },
}

/// Reads JSONL from `reader`, calling `f` with each line's text (the caller
/// parses it; see [`read_lines`] for parsed events).
pub fn read_raw_lines(reader: &mut dyn BufRead, mut f: impl FnMut(Line<'_>)) -> io::Result<()> {
    let mut buf = Vec::new();
    let mut line = 0usize;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(());
        }
        line += 1;
        let mut bytes = buf.as_slice();
        if line == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                f(Line::Malformed { line, reason: format!("invalid UTF-8 at byte {}", e.valid_up_to()) });
                continue;
            }
        };
        let text = text.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            f(Line::Empty { line });
        } else {
            f(Line::Text { line, text });
        }
    }
}

/// True if a JSON text starts like an `evtx_dump` record (`{"Event": …`),
/// which must be flattened by [`normalise`] before evaluation.
pub fn looks_like_evtx_record(text: &str) -> bool {
    text.trim_start().strip_prefix('{').is_some_and(|rest| rest.trim_start().starts_with("\"Event\""))
}

/// The `EventRecordID` a Windows record (`{"Event": {"System": …}}`, as
/// `evtx_dump` renders it) states, as a number.
///
/// It is what Event Viewer's XML view shows and what its XPath filters
/// (`*[System[EventRecordID=N]]`) select on. In a log that was exported or
/// filtered it can differ from the record's number in the file's record
/// header (what `evtx_dump` prints as `Record N`), which is why callers
/// fall back to that number only when the event states none.
pub fn event_record_id(record: &Value) -> Option<u64> {
    match record.pointer("/Event/System/EventRecordID")? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Object(o) => o.get("#text").and_then(|t| t.as_u64().or_else(|| t.as_str()?.trim().parse().ok())),
        _ => None,
    }
}

/// Reads JSONL from `reader`, calling `f` for each line parsed into a
/// `serde_json::Value`.
pub fn read_lines(reader: &mut dyn BufRead, mut f: impl FnMut(Item<'_>)) -> io::Result<()> {
    read_raw_lines(reader, |l| match l {
        Line::Text { line, text } => f(parse_record(line, text)),
        Line::Malformed { line, reason } => f(Item::Malformed { line, reason }),
        Line::Empty { line } => f(Item::Empty { line }),
    })
}

fn parse_record(line: usize, raw: &str) -> Item<'_> {
    match serde_json::from_str::<Value>(raw) {
        Ok(v @ Value::Object(_)) => Item::Event { line, raw, event: normalise(v) },
        Ok(other) => Item::Malformed { line, reason: format!("not a JSON object (found {})", json_type(&other)) },
        Err(e) => Item::Malformed { line, reason: format!("invalid JSON: {e}") },
    }
}

/// Reads a file of concatenated JSON objects. A syntax error ends the file
/// (JSON cannot be resynchronised); it is reported as one malformed record.
/// An `evtx_dump` dump (objects after `Record N` lines) is read too.
pub fn read_stream(text: &str, mut f: impl FnMut(Item<'_>)) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if dump::starts_with_banner(text.as_bytes()) {
        // Reading from memory cannot fail.
        let _ = dump::read_dump(&mut text.as_bytes(), usize::MAX, |item| {
            match item {
                dump::DumpItem::Record { line, text, .. } => f(parse_record(line as usize, &text)),
                dump::DumpItem::Bad { line, reason } => f(Item::Malformed { line: line as usize, reason }),
            }
            true
        });
        return;
    }
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<&serde_json::value::RawValue>();
    let mut counted = 0usize;
    let mut line = 1usize;
    loop {
        let start = stream.byte_offset();
        match stream.next() {
            None => return,
            Some(Ok(raw)) => {
                // The record starts at its first non-blank byte.
                let skipped = text[start..].len() - text[start..].trim_start().len();
                line += text[counted..start + skipped].bytes().filter(|b| *b == b'\n').count();
                counted = start + skipped;
                f(parse_record(line, raw.get()));
            }
            Some(Err(e)) => {
                f(Item::Malformed {
                    line: e.line(),
                    reason: format!("invalid JSON: {e}; the rest of the file is skipped"),
                });
                return;
            }
        }
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Flattens a Windows event as `evtx_dump` renders it
/// (`{"Event": {"System": {…}, "EventData": {…}}}`) into the flat shape
/// Sigma rules use: EventData (or UserData) names with spaces removed, and
/// System fields by name, attributes as `Name_Attribute` (`Provider_Name`,
/// `TimeCreated_SystemTime`). Any other event is returned unchanged.
pub fn normalise(v: Value) -> Value {
    let Value::Object(mut top) = v else { return v };
    let is_evtx = top.len() == 1
        && matches!(top.get("Event"), Some(Value::Object(e)) if e.contains_key("System") || e.contains_key("EventData"));
    if !is_evtx {
        return Value::Object(top);
    }
    let Some(Value::Object(event)) = top.remove("Event") else {
        return Value::Object(top);
    };
    let mut flat = Map::new();
    if let Some(Value::Object(system)) = event.get("System") {
        for (k, v) in system {
            match v {
                Value::Object(o) => {
                    if let Some(Value::Object(attrs)) = o.get("#attributes") {
                        for (a, av) in attrs {
                            flat.insert(format!("{k}_{a}"), av.clone());
                        }
                    }
                    if let Some(text) = o.get("#text") {
                        flat.insert(k.clone(), text.clone());
                    }
                }
                v => {
                    flat.insert(k.clone(), v.clone());
                }
            }
        }
    }
    let data = match event.get("EventData") {
        Some(Value::Object(d)) => Some(d),
        _ => match event.get("UserData") {
            // UserData holds one element whose children are the fields.
            Some(Value::Object(u)) => u.values().find_map(|v| v.as_object()),
            _ => None,
        },
    };
    if let Some(data) = data {
        for (k, v) in data {
            if k == "#attributes" {
                continue;
            }
            let v = match v {
                Value::Object(o) if o.contains_key("#text") => o["#text"].clone(),
                v => v.clone(),
            };
            flat.insert(k.replace(' ', ""), v);
        }
    }
    Value::Object(flat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_all_accounted_for() {
        let input = b"{\"a\":1}\n\n[1]\nnot json\n{\"b\":\xff}\r\n{\"c\":2}";
        let mut seen = Vec::new();
        read_lines(&mut &input[..], |item| {
            seen.push(match item {
                Item::Event { line, .. } => format!("{line}:event"),
                Item::Malformed { line, reason } => {
                    format!("{line}:bad:{}", reason.split(' ').next().unwrap_or(""))
                }
                Item::Empty { line } => format!("{line}:empty"),
            })
        })
        .unwrap();
        assert_eq!(seen, ["1:event", "2:empty", "3:bad:not", "4:bad:invalid", "5:bad:invalid", "6:event"]);
    }

    #[test]
    fn streams_report_record_start_lines() {
        let text = "{\n  \"a\": 1\n}\n\n{\"b\": 2}\n{\"c\":\n";
        let mut seen = Vec::new();
        read_stream(text, |item| match item {
            Item::Event { line, .. } => seen.push(line),
            Item::Malformed { line, .. } => seen.push(1000 + line),
            Item::Empty { .. } => {}
        });
        assert_eq!(seen, [1, 5, 1007]);
    }

    #[test]
    fn evtx_records_are_flattened() {
        let v = serde_json::json!({"Event": {
            "#attributes": {"xmlns": "x"},
            "System": {"Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}}, "EventID": 1,
                       "Channel": "Microsoft-Windows-Sysmon/Operational"},
            "EventData": {"Image": "C:\\x.exe", "Threat Name": "t"}
        }});
        let flat = normalise(v);
        assert_eq!(flat["Provider_Name"], "Microsoft-Windows-Sysmon");
        assert_eq!(flat["EventID"], 1);
        assert_eq!(flat["Image"], "C:\\x.exe");
        assert_eq!(flat["ThreatName"], "t");
    }
}
