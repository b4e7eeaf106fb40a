//! `.evtx` files: Windows event logs read with the `evtx` crate, each record
//! flattened to the shape the JSONL corpora and Sigma rules use (System
//! fields by name, attributes as `Name_Attribute`, EventData names without
//! spaces, integers kept as integers): see [`flatten`].
//!
//! A log is recognised by its `ElfFile\0` magic ([`MAGIC`]), whatever its
//! name, and may be gzip'd: the crate needs to seek, so a gzip'd log (or one
//! piped on standard input) is first copied into an anonymous temporary
//! file ([`read_evtx_reader`]), which the system deletes when it is closed.
//!
//! A record or chunk the crate cannot read is reported and reading goes on
//! with the next one; only a file without an EVTX header fails whole. What
//! follows the last whole chunk is an error only if it is the start of a
//! chunk (a file cut inside a chunk): real logs exported by some tools end
//! with zero padding. A file that holds fewer chunks or records than its
//! header says (a file cut at a chunk boundary) is read, with a warning.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use serde_json::Value;

/// The first bytes of an EVTX file.
pub const MAGIC: &[u8; 8] = b"ElfFile\0";

/// The first bytes of an EVTX chunk.
const CHUNK_MAGIC: &[u8; 8] = b"ElfChnk\0";

/// The first bytes of a gzip stream.
const GZIP_MAGIC: &[u8; 2] = &[0x1f, 0x8b];

/// One record of an `.evtx` file.
#[derive(Debug)]
pub enum Record {
    /// A record, flattened. `number` counts records from 1 in file order.
    Event {
        /// Position in the file (1-based).
        number: u64,
        /// The record's `EventRecordID` (see [`super::event_record_id`]), or
        /// if it states none, its number in the record header.
        record_id: u64,
        /// The flattened event.
        event: Value,
    },
    /// A record (or a whole chunk) that could not be read.
    Bad {
        /// Position in the file (1-based) the failure took.
        number: u64,
        /// Why.
        reason: String,
    },
}

/// Flattens a record as `evtx_dump -o json` renders it (the `evtx` crate's
/// JSON) into a flat event; see [`super::normalise`].
pub fn flatten(record: Value) -> Value {
    super::normalise(record)
}

/// The size of an EVTX file header and of each chunk.
const HEADER: u64 = 4096;
const CHUNK: u64 = 65536;

/// Reads the log `reader` yields (a gzip stream being unpacked, standard
/// input) after copying it into an anonymous temporary file; see
/// [`read_evtx_file`]. If the copy fails part way (a truncated gzip
/// stream), the records of what was copied are read, then the error is
/// returned.
pub fn read_evtx_reader(reader: &mut dyn Read, f: impl FnMut(Record) -> bool) -> Result<Vec<String>, String> {
    let spooled = tempfile::tempfile().and_then(|mut file| {
        let failed = io::copy(reader, &mut file).err();
        file.seek(SeekFrom::Start(0))?;
        Ok((file, failed))
    });
    let (file, failed) = spooled.map_err(|e| format!("cannot copy the log into a temporary file: {e}"))?;
    let read = read_evtx_file(file, f);
    match failed {
        Some(e) => Err(format!("read error: {e}; the records before it were read")),
        None => read,
    }
}

/// Reads every record of the file at `path` (gzip'd or not), calling `f`
/// with each, in order; see [`read_evtx_file`].
pub fn read_evtx(path: &Path, f: impl FnMut(Record) -> bool) -> Result<Vec<String>, String> {
    let mut file = File::open(path).map_err(|e| e.to_string())?;
    let mut head = [0u8; 2];
    let gzip = file.read_exact(&mut head).is_ok() && &head == GZIP_MAGIC;
    file.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    if !gzip {
        return read_evtx_file(file, f);
    }
    read_evtx_reader(&mut flate2::read::MultiGzDecoder::new(io::BufReader::new(file)), f)
}

/// Reads every record of `file`, an EVTX log, calling `f` with each, in
/// order; `f` returns false to stop early. `Ok` holds warnings (records the
/// header says the file should hold but it does not). `Err` if the file has
/// no EVTX header, or, after every whole chunk was read, if it ends inside a
/// chunk (a truncated file: the `evtx` crate would skip the partial chunk
/// without a word).
pub fn read_evtx_file(mut file: File, mut f: impl FnMut(Record) -> bool) -> Result<Vec<String>, String> {
    let size = file.metadata().map_err(|e| e.to_string())?.len();
    let mut magic = [0u8; 8];
    if file.read_exact(&mut magic).is_err() || &magic != MAGIC {
        return Err("not an EVTX file (it does not start with the `ElfFile` magic)".into());
    }
    // Bytes after the last whole chunk: zero padding or other bytes that
    // hold no chunk are not part of the log; the start of a chunk is.
    let tail = size.saturating_sub(HEADER) % CHUNK;
    let partial_chunk = tail > 0 && {
        file.seek(SeekFrom::Start(size - tail)).map_err(|e| e.to_string())?;
        let mut start = [0u8; 8];
        file.read_exact(&mut start).is_ok() && &start == CHUNK_MAGIC
    };
    file.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    let mut parser = ::evtx::EvtxParser::from_read_seek(file).map_err(|e| e.to_string())?;
    let header = parser.header();
    let trusted = header.validate_checksum();
    let (said_chunks, said_next) = (u64::from(header.chunk_count), header.next_record_id);
    let mut last_id = 0u64;
    for (i, record) in parser.records_json_value().enumerate() {
        let number = i as u64 + 1;
        let item = match record {
            Ok(r) => {
                // The header's numbers count the file's own record numbers.
                last_id = last_id.max(r.event_record_id);
                let record_id = super::event_record_id(&r.data).unwrap_or(r.event_record_id);
                Record::Event { number, record_id, event: flatten(r.data) }
            }
            Err(e) => Record::Bad { number, reason: format!("unreadable evtx record: {e}") },
        };
        if !f(item) {
            return Ok(Vec::new());
        }
    }
    if partial_chunk {
        return Err(format!("truncated: the file ends {tail} bytes into a chunk, which was not read"));
    }
    let chunks = size.saturating_sub(HEADER) / CHUNK;
    // A header whose checksum fails says nothing reliable. A log that was
    // not closed cleanly can have a header behind its chunks, never ahead.
    let mut warnings = Vec::new();
    if trusted && (said_chunks > chunks || said_next > last_id + 1) {
        let missing = said_next.saturating_sub(last_id + 1);
        // Fewer chunks than the header counts: the file was cut. Otherwise
        // the last records were unreadable (and reported as such).
        let why = if said_chunks > chunks { "the file looks cut at a chunk boundary" } else { "unreadable" };
        warnings.push(format!(
            "records missing: the header says the log holds {said_chunks} chunk(s) and records up to {}; \
             the file holds {chunks} chunk(s) and records up to {last_id} were read ({missing} record(s) \
             missing: {why})",
            said_next.saturating_sub(1)
        ));
    }
    Ok(warnings)
}
