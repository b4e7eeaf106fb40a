//! How often literals occur in real field values: the planner's measure of
//! how selective a witness is.
//!
//! A [`FrequencyModel`] holds, per field, the share of events whose folded
//! value contains each common 1- to 4-byte sequence, starts or ends with
//! it, or equals a whole common value. It is learned from events
//! ([`FrequencyModel::learn`]), pruned to sequences seen in at least
//! [`MIN_SHARE`] of events, and stored as a small TSV. The built-in model
//! ([`FrequencyModel::builtin`]) was learned from the project's own
//! generated corpus (`corpora/generator`, see `corpora/README.md`).
//!
//! Estimates are upper bounds in spirit: a literal cannot occur more often
//! than its rarest 4-byte piece. Anything not in the model is taken to be
//! rarer than [`MIN_SHARE`]. The model only steers which witnesses the
//! planner requires; it never changes what matches.

use crate::Map as HashMap;
use std::sync::{Arc, OnceLock};

use crate::fold;

/// Where a literal must occur for its predicate to hold.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum At {
    Exact,
    Prefix,
    Suffix,
    Anywhere,
}

/// Sequences of 4 bytes, prefixes, suffixes and whole values seen in fewer
/// than this share of events are not kept ...
pub const MIN_SHARE: f64 = 0.01;
/// ... nor sequences of 1 to 3 bytes seen in fewer than this share (there
/// are few of them, and without the cut hexadecimal hashes alone would
/// contribute every 3-digit combination).
pub const MIN_SHARE_SHORT: f64 = 0.05;

/// The share to assume for a sequence the model does not list.
fn unlisted(kind: Kind, len: usize) -> f64 {
    if kind == Kind::Contains && len < 4 { MIN_SHARE_SHORT / 2.0 } else { MIN_SHARE / 2.0 }
}

/// Where a sequence was counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
enum Kind {
    Contains,
    Prefix,
    Suffix,
    Exact,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Contains => "contains",
            Kind::Prefix => "prefix",
            Kind::Suffix => "suffix",
            Kind::Exact => "exact",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "contains" => Kind::Contains,
            "prefix" => Kind::Prefix,
            "suffix" => Kind::Suffix,
            "exact" => Kind::Exact,
            _ => return None,
        })
    }
}

/// Per-field shares of common byte sequences; see the module docs.
///
/// Sequences of up to 4 bytes are packed with their field and kind into one
/// `u64` key, so that learning and lookups allocate nothing; whole values
/// (of any length) are kept apart.
#[derive(Clone, Debug, Default)]
pub struct FrequencyModel {
    events: u64,
    fields: Vec<Box<str>>,
    short: HashMap<u64, f32>,
    exact: HashMap<(u16, Box<[u8]>), f32>,
}

/// The built-in model's data.
const BUILTIN: &str = include_str!("../../data/frequency.tsv");

fn pack(field: u16, kind: Kind, bytes: &[u8]) -> u64 {
    let mut word = 0u64;
    for (i, b) in bytes.iter().take(4).enumerate() {
        word |= u64::from(*b) << (8 * i);
    }
    (u64::from(field) << 40) | ((kind as u64) << 36) | ((bytes.len().min(4) as u64) << 32) | word
}

impl FrequencyModel {
    /// The model learned from the project's generated corpus.
    pub fn builtin() -> Arc<FrequencyModel> {
        static MODEL: OnceLock<Arc<FrequencyModel>> = OnceLock::new();
        MODEL.get_or_init(|| Arc::new(FrequencyModel::from_tsv(BUILTIN).unwrap_or_default())).clone()
    }

    fn field_index(&mut self, field: &str) -> u16 {
        match self.fields.iter().position(|f| &**f == field) {
            Some(i) => i as u16,
            None => {
                self.fields.push(field.into());
                (self.fields.len() - 1) as u16
            }
        }
    }

    /// Counts sequences in events. `fields` are the field names to model;
    /// `events` yields, per event, `(field, value)` pairs.
    pub fn learn<'a>(fields: &[&str], events: impl IntoIterator<Item = Vec<(&'a str, &'a str)>>) -> FrequencyModel {
        let mut model = FrequencyModel::default();
        let ids: Vec<u16> = fields.iter().map(|f| model.field_index(f)).collect();
        let mut short: HashMap<u64, u64> = HashMap::default();
        let mut exact: HashMap<(u16, Box<[u8]>), u64> = HashMap::default();
        let mut seen: Vec<u64> = Vec::new();
        for event in events {
            model.events += 1;
            for (field, value) in event {
                let Some(i) = fields.iter().position(|f| *f == field) else { continue };
                let id = ids[i];
                let folded = fold::fold_str(value);
                let b = folded.as_bytes();
                *exact.entry((id, b.into())).or_default() += 1;
                seen.clear();
                for len in 1..=4.min(b.len()) {
                    seen.push(pack(id, Kind::Prefix, &b[..len]));
                    seen.push(pack(id, Kind::Suffix, &b[b.len() - len..]));
                    seen.extend(b.windows(len).map(|w| pack(id, Kind::Contains, w)));
                }
                seen.sort_unstable();
                seen.dedup();
                for k in &seen {
                    *short.entry(*k).or_default() += 1;
                }
            }
        }
        let n = model.events.max(1) as f64;
        for (k, c) in short {
            let kind_bits = (k >> 36) & 0xf;
            let len = (k >> 32) & 0xf;
            let min = if kind_bits == Kind::Contains as u64 && len < 4 { MIN_SHARE_SHORT } else { MIN_SHARE };
            if c as f64 / n >= min {
                model.short.insert(k, (c as f64 / n) as f32);
            }
        }
        for (k, c) in exact {
            if c as f64 / n >= MIN_SHARE {
                model.exact.insert(k, (c as f64 / n) as f32);
            }
        }
        model
    }

    /// Reads the TSV form written by [`to_tsv`](FrequencyModel::to_tsv).
    /// (The built-in model has 12,000 rows and is read on every start that
    /// plans: the rows are decoded without per-row allocation but for
    /// whole-value rows, and the tables are sized up front.)
    pub fn from_tsv(text: &str) -> Option<FrequencyModel> {
        let mut model = FrequencyModel::default();
        // About 36 bytes per row.
        model.short.reserve(text.len() / 32);
        let mut bytes = Vec::new();
        // Short columns: a plain loop finds a tab faster than a searcher.
        fn column<'a>(rest: &mut &'a str) -> Option<&'a str> {
            let end = rest.bytes().position(|b| b == b'\t')?;
            let (col, tail) = rest.split_at(end);
            *rest = &tail[1..];
            Some(col)
        }
        for line in text.split('\n') {
            if let Some(rest) = line.strip_prefix("#events\t") {
                model.events = rest.trim().parse().ok()?;
                continue;
            }
            if line.starts_with('#') || line.bytes().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            let mut rest = line.strip_suffix('\r').unwrap_or(line);
            let (field, kind, hex, share) = (column(&mut rest)?, column(&mut rest)?, column(&mut rest)?, rest);
            bytes.clear();
            for pair in hex.as_bytes().chunks(2) {
                let [hi, lo] = pair else { return None };
                let nibble = |c: u8| (c as char).to_digit(16);
                bytes.push((nibble(*hi)? << 4 | nibble(*lo)?) as u8);
            }
            let (id, kind, share) = (model.field_index(field), Kind::parse(kind)?, share.parse().ok()?);
            if kind == Kind::Exact {
                model.exact.insert((id, bytes.as_slice().into()), share);
            } else {
                model.short.insert(pack(id, kind, &bytes), share);
            }
        }
        Some(model)
    }

    /// The TSV form: `field, kind, hex bytes, share`, sorted.
    pub fn to_tsv(&self) -> String {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let mut rows: Vec<String> = self
            .short
            .iter()
            .map(|(k, s)| {
                let field = &self.fields[(k >> 40) as usize];
                let kind = [Kind::Contains, Kind::Prefix, Kind::Suffix, Kind::Exact][((k >> 36) & 0xf) as usize];
                let len = ((k >> 32) & 0xf) as usize;
                let bytes: Vec<u8> = (0..len).map(|i| (k >> (8 * i)) as u8).collect();
                format!("{field}\t{}\t{}\t{s:.4}", kind.as_str(), hex(&bytes))
            })
            .chain(
                self.exact.iter().map(|((f, b), s)| format!("{}\texact\t{}\t{s:.4}", self.fields[*f as usize], hex(b))),
            )
            .collect();
        rows.sort();
        let mut out = format!(
            "# sigmata frequency model: share of events whose folded field value contains, starts with,\n\
             # ends with or equals each byte sequence (hex); omitted under {MIN_SHARE} (under {MIN_SHARE_SHORT}\n\
             # for 1-3 byte substrings).\n#events\t{}\n",
            self.events
        );
        for r in rows {
            out.push_str(&r);
            out.push('\n');
        }
        out
    }

    fn index_of(&self, field: &str) -> Option<u16> {
        self.fields.iter().position(|f| &**f == field).map(|i| i as u16)
    }

    /// True if the model has data for `field`.
    pub fn knows(&self, field: &str) -> bool {
        self.index_of(field).is_some()
    }

    fn share(&self, field: u16, kind: Kind, bytes: &[u8]) -> f64 {
        let found = if kind == Kind::Exact {
            self.exact.get(&(field, bytes.into())).copied()
        } else {
            self.short.get(&pack(field, kind, bytes)).copied()
        };
        found.map_or(unlisted(kind, bytes.len()), f64::from)
    }

    /// Estimated share of events whose `field` satisfies a folded literal
    /// test: `at` is where the literal must occur. `None` if the model has
    /// no data for the field.
    pub(crate) fn estimate(&self, field: &str, text: &str, at: At) -> Option<f64> {
        let f = self.index_of(field)?;
        let b = text.as_bytes();
        // The rarest 4-byte (or shorter, for short literals) piece bounds it.
        let contains = if b.len() <= 4 {
            self.share(f, Kind::Contains, b)
        } else {
            b.windows(4).map(|w| self.share(f, Kind::Contains, w)).fold(1.0, f64::min)
        };
        let head = &b[..b.len().min(4)];
        let tail = &b[b.len() - b.len().min(4)..];
        Some(match at {
            At::Anywhere => contains,
            At::Prefix => contains.min(self.share(f, Kind::Prefix, head)),
            At::Suffix => contains.min(self.share(f, Kind::Suffix, tail)),
            At::Exact => contains.min(self.share(f, Kind::Exact, b)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_round_trips_and_estimates() {
        let events = (0..1000).map(|i| {
            let cmd = if i % 10 == 0 { "powershell -enc AAAA" } else { "svchost.exe -k netsvcs" };
            vec![("CommandLine", cmd), ("Image", r"C:\Windows\System32\svchost.exe")]
        });
        let m = FrequencyModel::learn(&["CommandLine", "Image"], events);
        let m = FrequencyModel::from_tsv(&m.to_tsv()).unwrap();
        let est = |t: &str, at| m.estimate("CommandLine", t, at).unwrap();
        assert!((est("svchost", At::Anywhere) - 0.9).abs() < 0.01);
        assert!((est("-enc", At::Anywhere) - 0.1).abs() < 0.01);
        assert!(est("mimikatz", At::Anywhere) < MIN_SHARE);
        assert!(est("svch", At::Prefix) > 0.8);
        assert!(est("-k", At::Prefix) < MIN_SHARE_SHORT);
        assert!(m.estimate("Image", "\\svchost.exe", At::Suffix).unwrap() > 0.9);
        assert_eq!(m.estimate("User", "x", At::Anywhere), None);
    }
}
