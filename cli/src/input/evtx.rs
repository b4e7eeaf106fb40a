//! `.evtx` files: Windows event logs read with the `evtx` crate, each record
//! flattened to the shape the JSONL corpora and Sigma rules use (System
//! fields by name, attributes as `Name_Attribute`, EventData names without
//! spaces, integers kept as integers): see [`flatten`].
//!
//! A record or chunk the crate cannot read is reported and reading goes on
//! with the next one; only a file without an EVTX header fails whole.

use std::path::Path;

use serde_json::Value;

/// One record of an `.evtx` file.
#[derive(Debug)]
pub enum Record {
    /// A record, flattened. `number` counts records from 1 in file order.
    Event {
        /// Position in the file (1-based).
        number: u64,
        /// The record id the log assigned.
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

/// Reads every record of the file at `path`, calling `f` with each, in
/// order. `Err` if the file cannot be opened or has no EVTX header, or,
/// after every whole chunk was read, if it ends inside a chunk (a truncated
/// file: the `evtx` crate would skip the partial chunk without a word).
/// `f` returns false to stop early.
pub fn read_evtx(path: &Path, mut f: impl FnMut(Record) -> bool) -> Result<(), String> {
    let size = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    let mut parser = ::evtx::EvtxParser::from_path(path).map_err(|e| e.to_string())?;
    for (i, record) in parser.records_json_value().enumerate() {
        let number = i as u64 + 1;
        let item = match record {
            Ok(r) => Record::Event { number, record_id: r.event_record_id, event: flatten(r.data) },
            Err(e) => Record::Bad { number, reason: format!("unreadable evtx record: {e}") },
        };
        if !f(item) {
            return Ok(());
        }
    }
    match size.saturating_sub(HEADER) % CHUNK {
        0 => Ok(()),
        partial => Err(format!("truncated: the file ends {partial} bytes into a chunk, which was not read")),
    }
}
