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

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use crate::fold;

/// Sequences seen in fewer than this share of events are not kept.
pub const MIN_SHARE: f64 = 0.002;

/// Where a sequence was counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

/// A counted sequence: field, where it was counted, the folded bytes.
type Key = (Box<str>, Kind, Box<[u8]>);

/// Per-field shares of common byte sequences; see the module docs.
#[derive(Clone, Debug, Default)]
pub struct FrequencyModel {
    events: u64,
    shares: HashMap<Key, f32>,
    fields: HashMap<Box<str>, ()>,
}

/// The built-in model's data.
const BUILTIN: &str = include_str!("../data/frequency.tsv");

impl FrequencyModel {
    /// The model learned from the project's generated corpus.
    pub fn builtin() -> Arc<FrequencyModel> {
        static MODEL: OnceLock<Arc<FrequencyModel>> = OnceLock::new();
        MODEL.get_or_init(|| Arc::new(FrequencyModel::from_tsv(BUILTIN).unwrap_or_default())).clone()
    }

    /// Counts sequences in events. `fields` are the field names to model;
    /// `events` yields, per event, `(field, value)` pairs.
    pub fn learn<'a>(fields: &[&str], events: impl IntoIterator<Item = Vec<(&'a str, &'a str)>>) -> FrequencyModel {
        let mut counts: HashMap<Key, u64> = HashMap::new();
        let mut n = 0u64;
        let mut seen: std::collections::HashSet<(Kind, Vec<u8>)> = std::collections::HashSet::new();
        for event in events {
            n += 1;
            for (field, value) in event {
                if !fields.contains(&field) {
                    continue;
                }
                let folded = fold::fold_str(value);
                let b = folded.as_bytes();
                seen.clear();
                seen.insert((Kind::Exact, b.to_vec()));
                for len in 1..=4.min(b.len()) {
                    seen.insert((Kind::Prefix, b[..len].to_vec()));
                    seen.insert((Kind::Suffix, b[b.len() - len..].to_vec()));
                    for w in b.windows(len) {
                        seen.insert((Kind::Contains, w.to_vec()));
                    }
                }
                for (kind, bytes) in seen.drain() {
                    *counts.entry((field.into(), kind, bytes.into())).or_default() += 1;
                }
            }
        }
        let mut model = FrequencyModel { events: n, ..FrequencyModel::default() };
        for ((field, kind, bytes), c) in counts {
            let share = c as f64 / n.max(1) as f64;
            model.fields.insert(field.clone(), ());
            if share >= MIN_SHARE {
                model.shares.insert((field, kind, bytes), share as f32);
            }
        }
        model
    }

    /// Reads the TSV form written by [`to_tsv`](FrequencyModel::to_tsv).
    pub fn from_tsv(text: &str) -> Option<FrequencyModel> {
        let mut model = FrequencyModel::default();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("#events\t") {
                model.events = rest.trim().parse().ok()?;
                continue;
            }
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let mut cols = line.split('\t');
            let (field, kind, hex, share) = (cols.next()?, cols.next()?, cols.next()?, cols.next()?);
            let bytes: Option<Vec<u8>> =
                (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect();
            model.fields.insert(field.into(), ());
            model.shares.insert((field.into(), Kind::parse(kind)?, bytes?.into()), share.parse().ok()?);
        }
        Some(model)
    }

    /// The TSV form: `field, kind, hex bytes, share`, sorted.
    pub fn to_tsv(&self) -> String {
        let mut rows: Vec<String> = self
            .shares
            .iter()
            .map(|((f, k, b), s)| {
                let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
                format!("{f}\t{}\t{hex}\t{s:.5}", k.as_str())
            })
            .collect();
        rows.sort();
        let mut out = format!(
            "# sigmata frequency model: share of events whose folded field value contains, starts with,\n\
             # ends with or equals each byte sequence (hex); sequences under {MIN_SHARE} are omitted.\n#events\t{}\n",
            self.events
        );
        for r in rows {
            out.push_str(&r);
            out.push('\n');
        }
        out
    }

    /// True if the model has data for `field`.
    pub fn knows(&self, field: &str) -> bool {
        self.fields.contains_key(field)
    }

    fn share(&self, field: &str, kind: Kind, bytes: &[u8]) -> f64 {
        // Keys are owned; build one for the lookup (planning only, not per event).
        self.shares.get(&(field.into(), kind, bytes.into())).map_or(MIN_SHARE / 2.0, |s| f64::from(*s))
    }

    /// Estimated share of events whose `field` satisfies a folded literal
    /// test: `at` is where the literal must occur. `None` if the model has
    /// no data for the field.
    pub(crate) fn estimate(&self, field: &str, text: &str, at: crate::plan::At) -> Option<f64> {
        use crate::plan::At;
        if !self.knows(field) {
            return None;
        }
        let b = text.as_bytes();
        // The rarest 4-byte (or shorter, for short literals) piece bounds it.
        let contains = if b.len() <= 4 {
            self.share(field, Kind::Contains, b)
        } else {
            b.windows(4).map(|w| self.share(field, Kind::Contains, w)).fold(1.0, f64::min)
        };
        let edge = |kind| if b.len() <= 4 { self.share(field, kind, b) } else { self.share(field, kind, &b[..4]) };
        Some(match at {
            At::Anywhere => contains,
            At::Prefix => contains.min(edge(Kind::Prefix)),
            At::Suffix => contains.min(if b.len() <= 4 {
                self.share(field, Kind::Suffix, b)
            } else {
                self.share(field, Kind::Suffix, &b[b.len() - 4..])
            }),
            At::Exact => contains.min(self.share(field, Kind::Exact, b)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::At;

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
        assert!(est("-k", At::Prefix) < MIN_SHARE);
        assert!(m.estimate("Image", "\\svchost.exe", At::Suffix).unwrap() > 0.9);
        assert_eq!(m.estimate("User", "x", At::Anywhere), None);
    }
}
