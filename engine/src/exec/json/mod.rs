//! Filling a [`Record`] straight from JSON text, reading only the fields
//! the rules use.
//!
//! A JSONL line goes through serde_json's streaming parser with a visitor
//! that looks each key up in a table built from the engine's fields: values
//! no rule reads are skipped (validated, never allocated), values a rule
//! reads are copied once into the record. Measured on the Sysmon lines of
//! `../shared/corpora`, serde_json's skipping runs at 1.3 GB/s, ahead of
//! simd-json's tape (0.7 GB/s) and sonic-rs's lazy object iterator
//! (0.8 GB/s) on these short, string-heavy lines, and building a full
//! `serde_json::Value` costs four times as much.
//!
//! The result is the same record [`Engine::fill`](crate::Engine::fill)
//! builds from a `serde_json::Value` of the same text: dotted rule fields
//! reach nested objects with the same precedence as the `Event` impl (the
//! whole remaining name first, then shorter prefixes first) and cross arrays
//! of objects (every element that has the field adds its values), a repeated
//! key keeps its last value, arrays are flattened, and keyword values are
//! collected when some rule searches keywords.

mod fast;

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::event::Value;
use crate::exec::record::Record;
use crate::ir::FieldId;
#[cfg(test)]
use crate::ir::FieldTable;

/// Why a JSON text could not be read into a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    message: String,
}

impl JsonError {
    pub(crate) fn new(message: String) -> JsonError {
        JsonError { message }
    }

    /// The reason, e.g. `invalid JSON: EOF while parsing a string at line 1 column 80`.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for JsonError {}

/// What a key leads to at one object level.
#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    /// The key (the whole remaining name) is this field.
    field: Option<(FieldId, u32)>,
    /// The key is a prefix of dotted names: descend into this node.
    child: Option<usize>,
}

/// The key table: one node per object level reachable by dotted names.
#[derive(Clone, Debug, Default)]
pub(crate) struct Extractor {
    nodes: Vec<KeyTable>,
    /// The `(id, name)` pairs the table was built from, in order, for
    /// reading a line through `serde_json::Value` (see [`DUPLICATE`]).
    names: Vec<(FieldId, Box<str>)>,
}

/// The keys of one object level: an open-addressing table probed with
/// [`fast::key_hash`], a hash of a key's length and first and last eight
/// bytes (cheaper than hashing every byte; keys are short).
#[derive(Clone, Debug, Default)]
struct KeyTable {
    /// Index into `keys` plus one; 0 is an empty slot.
    slots: Box<[u32]>,
    keys: Box<[(Box<str>, u64, Entry)]>,
}

impl KeyTable {
    fn new(map: HashMap<Box<str>, Entry>) -> KeyTable {
        let slots_len = (map.len() * 2).max(8).next_power_of_two();
        let mut slots = vec![0u32; slots_len].into_boxed_slice();
        let keys: Box<[(Box<str>, u64, Entry)]> =
            map.into_iter().map(|(k, e)| (fast::key_hash(k.as_bytes()), k, e)).map(|(h, k, e)| (k, h, e)).collect();
        for (i, (_, h, _)) in keys.iter().enumerate() {
            let mut s = *h as usize & (slots_len - 1);
            while slots[s] != 0 {
                s = (s + 1) & (slots_len - 1);
            }
            // OK: a table has one key per rule field name split, far below 2^32.
            slots[s] = u32::try_from(i + 1).unwrap_or(u32::MAX);
        }
        KeyTable { slots, keys }
    }

    /// The entry of `key`, whose [`fast::key_hash`] is `hash`.
    #[inline]
    fn get(&self, key: &str, hash: u64) -> Option<Entry> {
        let mask = self.slots.len().wrapping_sub(1);
        let mut s = hash as usize & mask;
        loop {
            let k = *self.slots.get(s)?;
            if k == 0 {
                return None;
            }
            let (name, h, entry) = &self.keys[k as usize - 1];
            if *h == hash && &**name == key {
                return Some(*entry);
            }
            s = (s + 1) & mask;
        }
    }
}

impl Extractor {
    #[cfg(test)]
    pub(crate) fn new(fields: &FieldTable) -> Extractor {
        Extractor::from_names(fields.iter())
    }

    /// A table in which each `(id, name)` pair reads key path `name` into
    /// field `id`. A field listed with several names takes its values from
    /// the first name (in list order) the event has.
    pub(crate) fn from_names<'a>(names: impl IntoIterator<Item = (FieldId, &'a str)>) -> Extractor {
        let mut building = Building { nodes: vec![HashMap::new()] };
        let mut orders: HashMap<FieldId, u32> = HashMap::new();
        let names: Vec<(FieldId, Box<str>)> = names.into_iter().map(|(id, n)| (id, n.into())).collect();
        for (id, name) in &names {
            let (id, name) = (*id, &**name);
            // The lookup order of `event::json::lookup` is a depth-first
            // search that, at each level, tries the whole remaining name and
            // then the splits at each dot, shortest prefix first. Number the
            // paths in that order so that the earliest found wins here too;
            // the numbering continues across the names of one field.
            let order = orders.entry(id).or_insert(0);
            building.add(0, name, id, order);
        }
        Extractor { nodes: building.nodes.into_iter().map(KeyTable::new).collect(), names }
    }

    /// The entry of `key` at node `node` (none for keys no field name reaches).
    #[inline]
    fn entry(&self, node: Option<usize>, key: &str) -> Entry {
        match node {
            Some(n) => self.nodes[n].get(key, fast::key_hash(key.as_bytes())).unwrap_or_default(),
            None => Entry::default(),
        }
    }
}

/// The key table while it is built: one map per object level.
struct Building {
    nodes: Vec<HashMap<Box<str>, Entry>>,
}

impl Building {
    fn add(&mut self, node: usize, rest: &str, id: FieldId, order: &mut u32) {
        let entry = self.nodes[node].entry(rest.into()).or_default();
        if entry.field.is_none() {
            entry.field = Some((id, *order));
        }
        *order += 1;
        for (i, _) in rest.match_indices('.') {
            let child = match self.nodes[node].get(&rest[..i]).and_then(|e| e.child) {
                Some(c) => c,
                None => {
                    self.nodes.push(HashMap::new());
                    let c = self.nodes.len() - 1;
                    self.nodes[node].entry(rest[..i].into()).or_default().child = Some(c);
                    c
                }
            };
            self.add(child, &rest[i + 1..], id, order);
        }
    }
}

impl Extractor {
    /// Fills `record` from a JSON object. `keywords`: also collect every
    /// scalar value.
    ///
    /// The line is read by the fast scanner ([`fast`]); what it does not
    /// take (and every error, so that messages are serde_json's) is read
    /// again by the serde_json visitor below, from a cleared record; a line
    /// with a repeated key that matters (see [`DUPLICATE`]), rare, is read
    /// a third time, as serde_json's `Value` reads it.
    pub(crate) fn fill(&self, record: &mut Record, json: &str, keywords: bool) -> Result<(), JsonError> {
        match self.read(record, json, keywords) {
            Err(e) if e.message() == DUPLICATE => {
                let value: serde_json::Value =
                    serde_json::from_str(json).map_err(|e| JsonError::new(format!("invalid JSON: {e}")))?;
                self.fill_event(record, &value, keywords);
                Ok(())
            }
            other => other,
        }
    }

    /// Fills `record` from any event, looking each name up with
    /// [`Event::field`](crate::Event::field): a field listed with several
    /// names takes the values of the first name the event has.
    pub(crate) fn fill_event(&self, record: &mut Record, event: &dyn crate::event::Event, keywords: bool) {
        record.clear();
        for (id, name) in &self.names {
            if !record.is_present(*id) && event.field(*id, name, &mut |v| record.push(*id, v)) {
                record.set_present(*id);
            }
        }
        if keywords {
            event.values(&mut |v| record.push_keyword(v));
        }
    }

    /// [`fill`](Extractor::fill) but for repeated keys that matter, which
    /// give the error [`DUPLICATE`].
    fn read(&self, record: &mut Record, json: &str, keywords: bool) -> Result<(), JsonError> {
        record.clear();
        record.begin_fill();
        let Scratch { mut best, mut seen, mut marks } = record.take_json_scratch();
        best.clear();
        seen.clear();
        // The fast path leaves keyword values in the text (see
        // `Record::set_keyword_line`); the visitor collects them.
        let mut ctx = Ctx {
            ex: self,
            record,
            keywords: false,
            best: &mut best,
            seen: &mut seen,
            duplicate: false,
            in_element: false,
        };
        let result = match fast::Scan::run(json, &mut ctx, &mut marks) {
            Some(plain) => {
                if keywords {
                    ctx.record.set_keyword_line(json, plain);
                }
                Ok(())
            }
            None => {
                ctx.record.clear();
                ctx.best.clear();
                ctx.seen.clear();
                ctx.keywords = keywords;
                ctx.in_element = false;
                let mut de = serde_json::Deserializer::from_str(json);
                let result = ObjectSeed { ctx: &mut ctx, node: Some(0) }.deserialize(&mut de).and_then(|()| de.end());
                if ctx.duplicate {
                    Err(JsonError { message: DUPLICATE.to_string() })
                } else {
                    result.map_err(|e| JsonError { message: describe(&e) })
                }
            }
        };
        record.put_json_scratch(Scratch { best, seen, marks });
        record.end_fill();
        result
    }
}

/// Keys of one object that are compared with each other as they are read
/// (a linear search: the fastest for the couple of dozen keys of an event).
/// Past these, an object's key hashes are sorted when it ends and checked
/// for neighbours that are equal, so that finding a repeated key costs
/// O(n log n) in the number of keys, n: comparing each key with every
/// earlier one took 6.3 s for one line of 200,000 keys with a keyword rule
/// loaded, and 52 s for 400,000. (A hash set instead of the sort measured
/// 2.3-2.6 times the time at twice the keys, its cache misses growing with
/// it; sorting reads memory in order.)
const LISTED_KEYS: usize = 64;

/// What the JSON reader reuses from line to line; it lives in the record.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scratch {
    /// Per field index: the order of the path its values came from (see `Ctx::best`).
    best: Vec<u32>,
    /// The keys of the objects being read.
    seen: SeenKeys,
    /// The line's quotes and backslashes (see [`fast::mark_specials`]).
    marks: Vec<u64>,
}

/// The keys seen in the objects being read, for finding a key repeated in
/// one object. Both readers use it; it lives in the record's scratch.
#[derive(Clone, Debug, Default)]
pub(crate) struct SeenKeys {
    /// Hashes of the keys of the open objects, a run per object.
    list: Vec<u64>,
}

/// One object's run in [`SeenKeys`], while the object is read.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Keys {
    mark: usize,
}

impl SeenKeys {
    /// Forgets every key, keeping the allocation.
    fn clear(&mut self) {
        self.list.clear();
    }

    /// Starts an object.
    pub(crate) fn open(&self) -> Keys {
        Keys { mark: self.list.len() }
    }

    /// Adds a key of the object `keys`; false if it repeats one of the
    /// object's first [`LISTED_KEYS`] keys (later repeats are found by
    /// [`close`](SeenKeys::close)). Two keys with the same hash are taken
    /// for a repeat: that costs only time, in the caller's slow path.
    pub(crate) fn insert(&mut self, keys: &Keys, hash: u64) -> bool {
        let run = &self.list[keys.mark..];
        if run.len() < LISTED_KEYS && run.contains(&hash) {
            return false;
        }
        self.list.push(hash);
        true
    }

    /// Ends an object (every object opened inside it has ended); false if
    /// it had a key twice.
    pub(crate) fn close(&mut self, keys: Keys) -> bool {
        let run = &mut self.list[keys.mark..];
        let distinct = run.len() <= LISTED_KEYS || {
            run.sort_unstable();
            run.windows(2).all(|w| w[0] != w[1])
        };
        self.list.truncate(keys.mark);
        distinct
    }
}

/// The hash of a key, for finding repeated keys in one object.
fn key_hash(key: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(7).hash_one(key)
}

/// Reads JSON objects into [`Record`]s under any field naming: each field
/// id is filled from the event keys listed for it. This is the hook for
/// field mapping (a Security 4688 event's `NewProcessName` read as the
/// rules' `Image`): renames cost nothing at evaluation time, since the key
/// table is consulted anyway.
///
/// Field ids may come from a clone of the engine's [`FieldTable`](crate::ir::FieldTable) extended
/// with more names; the engine ignores record fields it does not know.
///
/// ```
/// let rule = "title: t\nlogsource: {category: process_creation}\ndetection:\n  sel: {Image|endswith: '\\\\whoami.exe'}\n  condition: sel\n";
/// let (engine, _) = sigmata::Builder::new().add_source("t.yml", rule).build();
/// let image = engine.fields().get("Image").unwrap();
/// let reader = sigmata::JsonReader::new([(image, "NewProcessName")], engine.needs_keywords());
/// let mut record = sigmata::Record::new();
/// reader.fill(&mut record, r#"{"NewProcessName": "C:\\Windows\\whoami.exe"}"#).unwrap();
/// let mut out = sigmata::MatchSet::new();
/// engine.matches_record(&mut engine.create_cache(), &record, &mut out);
/// assert_eq!(out.len(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct JsonReader {
    ex: Extractor,
    keywords: bool,
}

impl JsonReader {
    /// A reader filling field `id` from key path `name` for each pair (a
    /// dotted name reaches nested objects and dotted keys, as rule fields
    /// do). A field listed with several names takes the values of the first
    /// name the event has. `keywords`: also collect every scalar value (pass
    /// [`Engine::needs_keywords`](crate::Engine::needs_keywords)).
    pub fn new<'a>(names: impl IntoIterator<Item = (FieldId, &'a str)>, keywords: bool) -> JsonReader {
        JsonReader { ex: Extractor::from_names(names), keywords }
    }

    /// Fills `record` from the text of one JSON object.
    pub fn fill(&self, record: &mut Record, json: &str) -> Result<(), JsonError> {
        self.ex.fill(record, json, self.keywords)
    }

    /// Fills `record` from any event, looking each name up with
    /// [`Event::field`](crate::Event::field): the same record
    /// [`fill`](JsonReader::fill) builds from the event's JSON text.
    pub fn fill_event(&self, record: &mut Record, event: &dyn crate::event::Event) {
        self.ex.fill_event(record, event, self.keywords)
    }
}

/// A key repeated inside one object where it matters (it leads to nested
/// fields, or keywords are collected). serde_json's `Value` keeps only the
/// last occurrence, subtree and all; [`Extractor::fill`] reads such a line
/// through `Value` to get exactly that.
const DUPLICATE: &str = "duplicate key";

fn describe(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    if let Some(rest) = msg.strip_prefix("invalid type: ")
        && rest.contains(", expected a JSON object")
    {
        let found = match rest.split([' ', ',']).next().unwrap_or("") {
            "sequence" => "an array",
            "string" => "a string",
            "integer" | "floating" => "a number",
            "boolean" => "a boolean",
            _ => "null",
        };
        return format!("not a JSON object (found {found})");
    }
    format!("invalid JSON: {msg}")
}

struct Ctx<'a> {
    ex: &'a Extractor,
    record: &'a mut Record,
    keywords: bool,
    /// Per field index: the order of the path its current values came from
    /// (`u32::MAX` = none yet), so that the lookup's precedence is kept.
    best: &'a mut Vec<u32>,
    /// The keys of the objects being read.
    seen: &'a mut SeenKeys,
    duplicate: bool,
    /// Inside an element of an array that a dotted name crosses: values
    /// found there are one element's, and add to the other elements' values
    /// of the same key path instead of replacing them.
    in_element: bool,
}

impl Ctx<'_> {
    /// May the value found by path number `order` replace what `id` has
    /// (or add to it)? Within one path, a later repeated key replaces an
    /// earlier one, except inside the elements of an array, where each
    /// element adds its values: a key repeated inside one element is found
    /// by the repeated-key check (see `matters`), so two finds of one path
    /// there are two elements.
    #[inline]
    fn claim(&mut self, id: FieldId, order: u32) -> bool {
        let i = id.index();
        if self.best.len() <= i {
            self.best.resize(i + 1, u32::MAX);
        }
        let best = self.best[i];
        if order < best || (order == best && !self.in_element) {
            self.best[i] = order;
            self.record.forget(id);
            true
        } else {
            order == best
        }
    }

    /// Does a repeat of this key change the record? If it leads to nested
    /// fields, if keywords are collected, or if it is a field inside an
    /// array element (where finds add up, see [`Ctx::claim`]). Then the
    /// reader stops at a repeat and the caller reads the line as
    /// serde_json's `Value` (see [`DUPLICATE`]).
    #[inline]
    fn matters(&self, entry: &Entry) -> bool {
        self.keywords || entry.child.is_some() || (self.in_element && entry.field.is_some())
    }
}

/// The top-level object, or a nested object some dotted name reaches.
struct ObjectSeed<'c, 'a> {
    ctx: &'c mut Ctx<'a>,
    node: Option<usize>,
}

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ObjectSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        let ObjectSeed { ctx, node } = self;
        let keys = ctx.seen.open();
        while let Some((entry, hash)) = map.next_key_seed(KeySeed { ex: ctx.ex, node })? {
            // A repeated key changes the result only if it leads somewhere
            // (nested fields) or keywords are collected; then stop and let
            // the caller fall back (see DUPLICATE).
            if ctx.matters(&entry) && !ctx.seen.insert(&keys, hash) {
                ctx.duplicate = true;
                return Err(de::Error::custom(DUPLICATE));
            }
            let target = match entry.field {
                Some((id, order)) if ctx.claim(id, order) => Some(id),
                _ => None,
            };
            if target.is_none() && entry.child.is_none() && !ctx.keywords {
                map.next_value_seed(Skip)?;
                continue;
            }
            map.next_value_seed(ValueSeed { ctx, field: target, child: entry.child })?;
        }
        if !ctx.seen.close(keys) {
            ctx.duplicate = true;
            return Err(de::Error::custom(DUPLICATE));
        }
        Ok(())
    }
}

/// Looks a key up without allocating it.
struct KeySeed<'a> {
    ex: &'a Extractor,
    node: Option<usize>,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = (Entry, u64);

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(Entry, u64), D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed<'_> {
    type Value = (Entry, u64);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<(Entry, u64), E> {
        let entry = self.ex.entry(self.node, key);
        Ok((entry, key_hash(key)))
    }
}

/// A value no rule reads: validated and dropped. Not `IgnoredAny`:
/// serde_json skips that with an iterative loop and no depth limit, so a
/// line with 100,000 `[` in an unread field was an event here and an error
/// ("recursion limit exceeded") for `serde_json::Value`, and the CLI counted
/// it differently under `--engine reference`. Through `deserialize_any`,
/// serde_json applies its recursion limit (128) to skipped values too.
/// Measured with the instruction-count gate (`benches/README.md`): reading
/// and evaluating the generated corpus costs 0.4 % more with the SigmaHQ
/// pack and 5.1 % more with our 10-rule pack, which skips nearly every value.
struct Skip;

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(Skip)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skip)?.is_some() {}
        Ok(())
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        while map.next_key_seed(Skip)?.is_some() {
            map.next_value_seed(Skip)?;
        }
        Ok(())
    }
}

/// A value: stored into `field` (if any), descended into (if a dotted
/// name continues below it) and collected as keywords (if asked).
struct ValueSeed<'c, 'a> {
    ctx: &'c mut Ctx<'a>,
    field: Option<FieldId>,
    child: Option<usize>,
}

impl ValueSeed<'_, '_> {
    fn scalar(self, v: Value<'_>) {
        self.ctx.record.push_shared(self.field, self.ctx.keywords, v);
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.scalar(Value::Bool(v));
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.scalar(Value::Int(v));
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        // serde_json reports non-negative integers as u64; the Event impl
        // reads them as i64 when they fit.
        self.scalar(i64::try_from(v).map_or(Value::UInt(v), Value::Int));
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.scalar(Value::Float(v));
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.scalar(Value::Str(v));
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.scalar(Value::Null);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let ValueSeed { ctx, field, child } = self;
        if let Some(id) = field {
            // An empty array is a present field with no value.
            ctx.record.set_present(id);
        }
        // Elements are values of the same field, and dotted names that
        // continue below the array walk on into each element that is an
        // object (arrays of objects are multi-valued fields).
        let outer = ctx.in_element;
        ctx.in_element |= child.is_some();
        while seq.next_element_seed(ValueSeed { ctx, field, child })?.is_some() {}
        ctx.in_element = outer;
        Ok(())
    }

    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<(), M::Error> {
        let ValueSeed { ctx, field, child } = self;
        if let Some(id) = field {
            ctx.record.push(id, Value::Object);
        }
        ObjectSeed { ctx, node: child }.visit_map(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    /// The record from JSON text equals the one built through the Event impl.
    fn same(names: &[&str], json: &str) {
        same_with(names, json, true);
    }

    fn same_with(names: &[&str], json: &str, keywords: bool) {
        let mut t = FieldTable::new();
        for n in names {
            t.intern(n);
        }
        let ex = Extractor::new(&t);
        let mut fast = Record::new();
        ex.fill(&mut fast, json, keywords).unwrap();
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        for (id, name) in t.iter() {
            let mut want = Vec::new();
            let present = value.field(id, name, &mut |v| want.push(format!("{v:?}")));
            let mut got = Vec::new();
            fast.field(id, name, &mut |v| got.push(format!("{v:?}")));
            assert_eq!((fast.is_present(id), got), (present, want), "field {name} of {json}");
        }
        // Keyword order follows serde_json's map order, which depends on a
        // cargo feature; it never matters for matching.
        if !keywords {
            return;
        }
        let mut want = Vec::new();
        value.values(&mut |v| want.push(format!("{v:?}")));
        let mut got = Vec::new();
        Event::values(&fast, &mut |v| got.push(format!("{v:?}")));
        want.sort();
        got.sort();
        assert_eq!(got, want, "keywords of {json}");
    }

    /// Strings with as many escapes as the fast scanner keeps the
    /// positions of, and more (then it searches for them again).
    #[test]
    fn strings_with_many_escapes_unescape_alike() {
        for n in [1, 2, 63, 64, 65, 66, 200] {
            for escape in [r"\\", r#"\""#, r"\n", r"\u00e9", r"\ud83d\ude00", r"\/"] {
                let value: String = (0..n).map(|i| format!("{}{escape}", "x".repeat(i % 5))).collect();
                same(
                    &["Image", "CommandLine"],
                    &format!(r#"{{"Image":"{value}","CommandLine":"a{value}b","z":"{value}"}}"#),
                );
            }
        }
    }

    #[test]
    fn agrees_with_the_event_impl() {
        same(
            &["Image", "n", "f", "b", "z", "arr", "missing"],
            r#"{"Image":"C:\\x\u0041.exe","n":-3,"f":1.5,"b":true,"z":null,"arr":[1,["a",{"k":2}],[]],"x":{"y":1}}"#,
        );
        same(&["a.b.c", "a.b", "a"], r#"{"a":{"b":{"c":1},"b.c":2},"a.b":{"c":3},"a.b.c":4}"#);
        same(&["a.b.c"], r#"{"a":{"b.c":2},"a.b":{"c":3}}"#);
        same(&["a.b.c"], r#"{"a.b":{"c":3},"a":{"b.c":2}}"#);
        same_with(&["k"], r#"{"k":1,"k":2}"#, false);
        same(&["k"], r#"{"j":{"k":3},"k":[4],"l":{"m":[{"k":1}]}}"#);
        same(&["big"], r#"{"big":18446744073709551615,"neg":-9223372036854775808}"#);
        same(&["e"], r#"{"e":[]}"#);
        // Dotted names cross arrays of objects: every element that has the field adds its values.
        same(
            &["a.b", "a.b.c", "a", "l.m.k", "l.m"],
            r#"{"a":[{"b":1},{"c":2},{"b":[3,{"c":4}]},[{"b":5}],7,null],"l":{"m":[{"k":1},{"k":null},{"j":[]}]}}"#,
        );
        // The first key path that reaches the field in any element wins, as in the lookup.
        same(&["a.b.c"], r#"{"a":[{"b.c":1},{"b":{"c":2}},{"b.c":3}]}"#);
        same(&["a.b.c"], r#"{"a":[{"b":{"c":2}},{"b.c":1}]}"#);
        same(&["a.b.c"], r#"{"a":[{"b":[{"c":1},{"c":[2]}]},{"b":{"c":3}}],"a.b":[{"c":4}]}"#);
        same(&["x.y"], r#"{"x":[{"y":[]}],"z":[{"y":1}]}"#);
    }

    #[test]
    fn a_field_repeated_inside_an_array_element_asks_for_the_slow_path() {
        let mut t = FieldTable::new();
        t.intern("a.b");
        let ex = Extractor::new(&t);
        let mut r = Record::new();
        // `read` asks for the slow path; `fill` takes it (serde_json's `Value`).
        let line = r#"{"a":[{"b":1},{"b":2,"b":3}]}"#;
        assert_eq!(ex.read(&mut r, line, false).unwrap_err().message(), DUPLICATE);
        ex.fill(&mut r, line, false).unwrap();
        let a_b = t.get("a.b").unwrap();
        let values: Vec<Value<'_>> = r.field_values(a_b).collect();
        assert_eq!(values, [Value::Int(1), Value::Int(3)], "the last of the repeated keys, as in `Value`");
        // Outside arrays a repeated plain field keeps its last value on the fast path.
        ex.fill(&mut r, r#"{"a":{"b":1},"c":[{"b":1,"b":2}]}"#, false).unwrap();
    }

    #[test]
    fn repeated_keys_that_matter_ask_for_the_slow_path() {
        let mut t = FieldTable::new();
        t.intern("a.b");
        let ex = Extractor::new(&t);
        let mut r = Record::new();
        let e = ex.read(&mut r, r#"{"a":{"b":1},"a":{"c":2}}"#, false).unwrap_err();
        assert_eq!(e.message(), DUPLICATE);
        // Read again as serde_json's `Value` reads it: the last `a` has no `b`.
        ex.fill(&mut r, r#"{"a":{"b":1},"a":{"c":2}}"#, false).unwrap();
        assert!(!r.is_present(t.get("a.b").unwrap()));
        assert!(ex.read(&mut r, r#"{"x":1,"x":2}"#, false).is_ok());
        // Keyword values left in the line are read by serde_json: the last value only.
        assert!(ex.read(&mut r, r#"{"x":1,"x":2}"#, true).is_ok());
        let mut kws = Vec::new();
        Event::values(&r, &mut |v| kws.push(format!("{v:?}")));
        assert_eq!(kws, ["Int(2)"]);
    }

    /// A record as text, for comparing two of them.
    fn dump(r: &Record, t: &FieldTable) -> String {
        let mut out = String::new();
        for (id, name) in t.iter() {
            let mut vals = Vec::new();
            r.field(id, name, &mut |v| vals.push(format!("{v:?}")));
            out += &format!("{name}:{}{vals:?};", r.is_present(id));
        }
        let mut kws = Vec::new();
        Event::values(r, &mut |v| kws.push(format!("{v:?}")));
        out + &format!("kw{kws:?}")
    }

    /// Runs `json` through [`Extractor::fill`] (the fast scanner, with the
    /// serde_json visitor behind it) and compares the record with the one
    /// the `Event` impl of `serde_json::Value` gives, or checks that both
    /// refuse the text. Returns whether the fast scanner took the line itself.
    fn both(names: &[&str], json: &str, keywords: bool) -> bool {
        let mut t = FieldTable::new();
        for n in names {
            t.intern(n);
        }
        let ex = Extractor::new(&t);
        let mut fast = Record::new();
        let a = ex.read(&mut fast, json, keywords);
        let value = serde_json::from_str::<serde_json::Value>(json).ok().filter(|v| v.is_object());
        match (&a, &value) {
            (Ok(()), Some(v)) => {
                let mut want = Record::new();
                for (id, name) in t.iter() {
                    if v.field(id, name, &mut |x| want.push(id, x)) {
                        want.set_present(id);
                    }
                }
                if keywords {
                    v.values(&mut |x| want.push_keyword(x));
                }
                assert_eq!(dump(&fast, &t), dump(&want, &t), "{json}");
            }
            (Err(e), Some(_)) => assert_eq!(e.message(), DUPLICATE, "{json}"),
            (Err(_), None) => {}
            (Ok(()), None) => panic!("accepted what serde_json refuses: {json}"),
        }
        let (mut best, mut seen) = (Vec::new(), SeenKeys::default());
        let mut r = Record::new();
        let mut ctx = Ctx {
            ex: &ex,
            record: &mut r,
            keywords: false,
            best: &mut best,
            seen: &mut seen,
            duplicate: false,
            in_element: false,
        };
        fast::Scan::run(json, &mut ctx, &mut Vec::new()).is_some()
    }

    #[test]
    fn fast_scanner_agrees_with_the_visitor() {
        let names = ["Image", "CommandLine", "n", "a.b", "a.b.c", "arr", "o", "o.p"];
        let taken = [
            r#"{"Image":"C:\\Windows\\cmd.exe","CommandLine":"cmd /c \"x\"","n":42}"#,
            r#" { "Image" : "a" , "x" : { "y" : [1, 2, {"z": null}] } , "n" : -7 } "#,
            r#"{"a":{"b":{"c":"deep"},"b.c":2},"a.b":{"c":3},"a.b.c":4}"#,
            r#"{"arr":[1,["a",{"k":2}],[],true,false,null],"o":{"p":"q"}}"#,
            r#"{"Image":"\u0041\u00e9\ud83d\ude00\n\t\/\b\f\r","n":0}"#,
            "{\"Image\":\"Microsoft\u{ae} Windows\u{ae}\",\"k\":\"\",\"e\":{},\"f\":[]}",
            r#"{}"#,
            r#"{"a":[{"b":{"c":"x"}},{"b.c":2},{"b":[]}],"o":[{"p":1},[{"p":"two"}],{"q":3},4]}"#,
            r#"{"o":[],"a":[[],[[{"b":null}]]]}"#,
        ];
        for json in taken {
            for keywords in [false, true] {
                assert!(both(&names, json, keywords), "the fast scanner gave up on {json}");
            }
        }
        // Left to serde_json: errors, unusual numbers, escaped keys, repeats that matter.
        let left = [
            r#"{"n":1.5}"#,
            r#"{"n":1e3}"#,
            r#"{"n":-0}"#,
            r#"{"n":01}"#,
            r#"{"n":1234567890123456789}"#,
            r#"{"n":-9999999999999999999}"#,
            r#"{"x":[99999999999999999999999]}"#,
            r#"{"Im\u0061ge":"x"}"#,
            r#"{"a":{"b":1},"a":{"c":2}}"#,
            r#"{"x":"\ud800"}"#,
            r#"{"x":"\udc00x"}"#,
            r#"{"x":"\ud800\u0041"}"#,
            r#"{"x":"\q"}"#,
            r#"{"x":"\u12g4"}"#,
            "{\"x\":\"a\u{1}b\"}",
            r#"{"x":1,}"#,
            r#"{"x":[1,]}"#,
            r#"{"x":[1}"#,
            r#"{"x":{"y":1]}"#,
            r#"{"x" 1}"#,
            r#"{"x":tru}"#,
            r#"{"x":nul}"#,
            r#"[1]"#,
            r#""s""#,
            r#"{"x":1} x"#,
            r#"{"x":1"#,
            r#"{"x":"abc"#,
            r#"{"x":-}"#,
            r#"{"x":+1}"#,
        ];
        for json in left {
            for keywords in [false, true] {
                assert!(!both(&names, json, keywords), "the fast scanner took {json}");
            }
        }
        // A repeated key (keyword values are read from the line with serde_json).
        for keywords in [false, true] {
            assert!(both(&names, r#"{"x":1,"x":2}"#, keywords));
            assert!(both(&names, r#"{"Image":1,"Image":"last"}"#, keywords));
        }
        // Whitespace the grammar allows, and control characters it does not.
        assert!(both(&names, "{\t\"Image\":\r\n\"a\"}", false));
        assert!(!both(&names, "{\"Image\":\"a\tb\"}", false));
        // Deep nesting is left to serde_json; moderate nesting is read.
        let deep = |n: usize| format!("{{\"x\":{}1{}}}", "[".repeat(n), "]".repeat(n));
        assert!(both(&names, &deep(60), false));
        assert!(!both(&names, &deep(100), false));
        assert!(!both(&names, &deep(200), true));
        // Objects with many keys: past `LISTED_KEYS`, repeats are found through a hash set.
        let many: String = (0..100).map(|i| format!("\"k{i}\":{i}")).collect::<Vec<_>>().join(",");
        assert!(both(&names, &format!("{{{many}}}"), true));
        assert!(both(&names, &format!("{{\"a\":{{{many}}},{many}}}"), true));
        assert!(!both(&names, &format!("{{\"a\":{{\"b\":0}},{many},\"a\":{{\"b\":1}}}}"), true));
        let nested: String = (0..100).map(|i| format!("\"a\":{{\"b\":{i}}}")).collect::<Vec<_>>().join(",");
        assert!(!both(&names, &format!("{{{nested}}}"), false));
    }

    /// Issue 13, item 2: objects with more keys that matter than
    /// `LISTED_KEYS` are checked for repeats through a hash set, by both
    /// readers, with the same results as a short object.
    #[test]
    fn many_keys_that_matter_are_checked_in_linear_time() {
        let mut seen = SeenKeys::default();
        let outer = seen.open();
        for h in 0..200u64 {
            assert!(seen.insert(&outer, h));
            if h == 100 {
                // An object inside, after the outer one's list is full.
                let inner = seen.open();
                assert!(seen.insert(&inner, 5) && !seen.insert(&inner, 5));
                assert!(seen.close(inner));
            }
        }
        // Past the list, a repeat is found when the object ends.
        assert!(seen.insert(&outer, 0));
        assert!(!seen.close(outer));
        let sibling = seen.open();
        assert!((0..200).all(|h| seen.insert(&sibling, h)));
        assert!(seen.close(sibling));
        assert!(seen.list.is_empty());

        // 100 dotted names under one key: each key of `o` leads somewhere.
        let names: Vec<String> = (0..100).map(|i| format!("o.k{i}.x")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let keys: String = (0..100).map(|i| format!("\"k{i}\":{{\"x\":{i}}}")).collect::<Vec<_>>().join(",");
        for keywords in [false, true] {
            assert!(both(&names, &format!("{{\"o\":{{{keys}}}}}"), keywords));
            // A repeat past the list, found by the scanner and by the visitor (a fraction sends the line there).
            let repeat = format!("{{\"o\":{{{keys},\"k70\":{{\"x\":\"last\"}}}}}}");
            assert!(!both(&names, &repeat, keywords));
            assert!(!both(&names, &format!("{{\"f\":0.5,\"o\":{{{keys},\"k70\":{{\"x\":1}}}}}}"), keywords));
            let mut t = FieldTable::new();
            for n in &names {
                t.intern(n);
            }
            let mut r = Record::new();
            assert_eq!(Extractor::new(&t).read(&mut r, &repeat, keywords).unwrap_err().message(), DUPLICATE);
        }
    }

    #[test]
    fn errors_name_the_problem() {
        let ex = Extractor::new(&FieldTable::new());
        let mut r = Record::new();
        let mut err = |s: &str| ex.fill(&mut r, s, false).unwrap_err().message().to_string();
        let e = err("[1]");
        assert!(e.starts_with("not a JSON object (found"), "{e}");
        assert!(err("{\"a\": }").starts_with("invalid JSON:"));
        let e = err("{\"a\": 1} x");
        assert!(e.starts_with("invalid JSON: trailing"), "{e}");
        assert!(err("{\"a\": \"\\q\"}").starts_with("invalid JSON:"));
    }
}
