//! `evtx_dump`'s default output (`-o json` without `--no-show-record-number`):
//! each record a `Record N` line (`Record N (recovered)` for a carved one)
//! followed by the record's JSON object, usually pretty-printed:
//!
//! ```text
//! Record 1
//! {
//!   "Event": { … }
//! }
//! Record 2
//! …
//! ```
//!
//! It is recognised by its first line ([`starts_with_banner`]) whatever
//! the file's name. Each record keeps its `N` (its number in the log's
//! record header, which is its `EventRecordID` unless the log was
//! exported or filtered; see [`super::event_record_id`]). Since
//! every record starts on a banner line, a record that is not valid JSON is
//! reported on its own and reading goes on with the next.

use std::io::{self, BufRead};

/// One item of a dump.
#[derive(Debug, PartialEq, Eq)]
pub enum DumpItem {
    /// A record's JSON text (not yet parsed), the line it starts on, and
    /// the `N` of its banner.
    Record { line: u64, record_id: u64, text: String },
    /// Something that is not a record: text before the first banner, a
    /// banner with no object after it, or a record longer than allowed.
    Bad { line: u64, reason: String },
}

/// The `N` of a `Record N` or `Record N (recovered)` line.
fn banner(line: &str) -> Option<u64> {
    let rest = line.strip_prefix("Record ")?;
    let rest = rest.strip_suffix(" (recovered)").unwrap_or(rest);
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

/// True if `head` (the first bytes of an input, a byte-order mark allowed)
/// starts with a `Record N` line.
pub fn starts_with_banner(head: &[u8]) -> bool {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let Some(end) = memchr::memchr(b'\n', head) else { return false };
    std::str::from_utf8(&head[..end]).is_ok_and(|l| banner(l.trim_end_matches('\r')).is_some())
}

/// The record being gathered.
struct Pending {
    banner_line: u64,
    record_id: u64,
    start: Option<u64>,
    text: String,
    /// Why the record cannot be read (it is then not held).
    problem: Option<String>,
}

impl Pending {
    fn finish(self) -> DumpItem {
        let Pending { banner_line, record_id, start, text, problem } = self;
        match (start, problem) {
            (None, _) => {
                DumpItem::Bad { line: banner_line, reason: format!("`Record {record_id}` has no event after it") }
            }
            (Some(line), Some(why)) => DumpItem::Bad { line, reason: format!("record {record_id}: {why}") },
            (Some(line), None) => DumpItem::Record { line, record_id, text },
        }
    }
}

/// Reads a dump, calling `f` with each item in order; `f` returns false to
/// stop. A record longer than `max` bytes is reported and not held. Blank
/// lines between records are skipped.
pub fn read_dump(reader: &mut dyn BufRead, max: usize, mut f: impl FnMut(DumpItem) -> bool) -> io::Result<()> {
    let mut buf = Vec::new();
    let mut line = 0u64;
    let mut pending: Option<Pending> = None;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        line += 1;
        let mut bytes = buf.as_slice();
        if line == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t.trim_end_matches(['\n', '\r']),
            Err(e) => {
                let reason = format!("invalid UTF-8 at byte {}", e.valid_up_to());
                // The record it belongs to cannot be read: report it once.
                match pending.as_mut() {
                    Some(p) => {
                        p.start.get_or_insert(line);
                        p.problem.get_or_insert(format!("{reason} in line {line}"));
                        p.text = String::new();
                    }
                    None => {
                        if !f(DumpItem::Bad { line, reason }) {
                            return Ok(());
                        }
                    }
                }
                continue;
            }
        };
        if let Some(record_id) = banner(text) {
            if let Some(p) = pending.take()
                && !f(p.finish())
            {
                return Ok(());
            }
            pending = Some(Pending { banner_line: line, record_id, start: None, text: String::new(), problem: None });
            continue;
        }
        if text.trim().is_empty() {
            continue;
        }
        let Some(p) = pending.as_mut() else {
            if !f(DumpItem::Bad { line, reason: "text before the first `Record N` line".into() }) {
                return Ok(());
            }
            continue;
        };
        p.start.get_or_insert(line);
        if p.problem.is_some() {
            continue;
        }
        if p.text.len() + text.len() + 1 > max {
            p.problem = Some(format!("longer than --max-line-bytes {max}"));
            p.text = String::new();
            continue;
        }
        p.text.push_str(text);
        p.text.push('\n');
    }
    if let Some(p) = pending {
        f(p.finish());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(text: &str, max: usize) -> Vec<DumpItem> {
        let mut out = Vec::new();
        read_dump(&mut text.as_bytes(), max, |i| {
            out.push(i);
            true
        })
        .unwrap();
        out
    }

    #[test]
    fn banners_are_recognised_and_kept() {
        assert!(starts_with_banner(b"Record 12\r\n{"));
        assert!(starts_with_banner(b"\xEF\xBB\xBFRecord 3 (recovered)\n"));
        assert!(!starts_with_banner(b"Record 12"));
        assert!(!starts_with_banner(b"Record x\n"));
        assert!(!starts_with_banner(b"{\"Record 1\": 2}\n"));
        let got = items("Record 7\n{\n  \"a\": 1\n}\n\nRecord 9 (recovered)\n{\"b\": 2}\nRecord 10\n", 100);
        assert_eq!(
            got,
            [
                DumpItem::Record { line: 2, record_id: 7, text: "{\n  \"a\": 1\n}\n".into() },
                DumpItem::Record { line: 7, record_id: 9, text: "{\"b\": 2}\n".into() },
                DumpItem::Bad { line: 8, reason: "`Record 10` has no event after it".into() },
            ]
        );
    }

    #[test]
    fn text_outside_records_and_long_records_are_reported() {
        let got = items("junk\nRecord 1\n{\"a\": \"0123456789\"}\nRecord 2\n{}\n", 16);
        assert_eq!(got.len(), 3);
        assert!(matches!(&got[0], DumpItem::Bad { line: 1, .. }));
        assert!(matches!(&got[1], DumpItem::Bad { line: 3, reason } if reason.contains("longer")));
        assert!(matches!(&got[2], DumpItem::Record { line: 5, record_id: 2, .. }));
    }
}
