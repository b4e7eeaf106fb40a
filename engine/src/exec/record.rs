//! [`Record`]: an event already broken into the fields an engine reads.
//!
//! The engine evaluates records. An [`Event`](crate::Event) is copied into
//! the [`Cache`](crate::Cache)'s own record field by field; a caller that
//! already has field values (an agent's process struct, a JSON reader that
//! extracts only the referenced fields) fills a record directly and skips
//! that copy. Records are reused: [`Record::clear`] keeps every allocation.

use crate::event::Value;
use crate::ir::FieldId;

/// What kind of value a record holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// JSON `null`.
    Null,
    /// A string.
    Str,
    /// A number (its text as written).
    Number,
    /// A boolean (`true`/`false`).
    Bool,
    /// A nested object: present, but not matched by value tests.
    Object,
}

/// One present field: its values are `values[start..end]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    pub field: FieldId,
    start: u32,
    end: u32,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct ValueRef {
    pub kind: Kind,
    pub(crate) start: u32,
    pub(crate) end: u32,
}

/// A pre-parsed event: values by [`FieldId`], plus (when the engine has
/// keyword rules) every scalar value of the event.
///
/// The layout is compact and sparse: a list of the fields present (not an
/// array over every field the pack knows), their values, and one text
/// buffer, so that evaluating a record touches a few sequential cache lines.
///
/// ```
/// use sigmata::{Builder, Record, Value};
/// let rule = "title: t\nlogsource: {category: process_creation}\ndetection:\n  sel: {Image|endswith: '\\whoami.exe'}\n  condition: sel\n";
/// let (engine, _) = Builder::new().add_source("t.yml", rule).build();
/// let image = engine.fields().get("Image").unwrap();
/// let mut record = Record::new();
/// record.push(image, Value::Str(r"C:\Windows\System32\whoami.exe"));
/// let mut cache = engine.create_cache();
/// let mut out = sigmata::MatchSet::new();
/// engine.matches_record(&mut cache, &record, &mut out);
/// assert_eq!(out.len(), 1);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Record {
    entries: Vec<Entry>,
    /// Bit per field id: present in `entries`.
    present: Vec<u64>,
    values: Vec<ValueRef>,
    keywords: Vec<ValueRef>,
    /// True while every keyword value's text directly follows the previous
    /// one's, so that keyword searches can scan them in one pass.
    keywords_contiguous: bool,
    text: String,
    /// The JSON text of the event (a range of `text`), when its keyword
    /// values were left in it rather than collected: see
    /// [`Record::keyword_line`].
    line: Option<KeywordLine>,
    /// Scratch of the JSON reader, kept here so that it is reused.
    #[cfg(feature = "json")]
    json_scratch: crate::exec::json::Scratch,
    /// While the JSON reader fills the record: values that arrived after
    /// another field's (see [`Record::attach`]), grouped by
    /// [`Record::end_fill`].
    loose: Vec<(FieldId, ValueRef)>,
    /// Set between [`Record::begin_fill`] and [`Record::end_fill`].
    deferring: bool,
}

/// Where a record's keyword values are when the JSON reader left them in
/// the event's text (see [`Record::keyword_line`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeywordLine {
    start: u32,
    end: u32,
    /// No string of the text has a `\u` or `\/` escape, so that each
    /// character of a value is written in one way only (see
    /// `Engine::keyword_prefilter`).
    pub plain: bool,
}

impl Record {
    /// An empty record.
    pub fn new() -> Record {
        Record { keywords_contiguous: true, ..Record::default() }
    }

    /// Forgets every value, keeping the allocations.
    pub fn clear(&mut self) {
        for e in &self.entries {
            if let Some(w) = self.present.get_mut(e.field.index() / 64) {
                *w = 0;
            }
        }
        self.entries.clear();
        self.values.clear();
        self.keywords.clear();
        self.keywords_contiguous = true;
        self.text.clear();
        self.line = None;
        self.loose.clear();
        self.deferring = false;
    }

    /// Starts a fill in which the values of different fields may arrive
    /// interleaved (the elements of an array of objects give `a.x`, `a.y`,
    /// `a.x`, `a.y`, …): out-of-place values are set aside and grouped once
    /// by [`end_fill`](Record::end_fill), instead of moving a field's values
    /// every time, which is quadratic in the length of the array.
    pub(crate) fn begin_fill(&mut self) {
        self.deferring = true;
    }

    /// Ends a fill started by [`begin_fill`](Record::begin_fill): each field
    /// with values set aside gets its values, in arrival order, in one run
    /// again. Each such field is moved once, so this is linear.
    pub(crate) fn end_fill(&mut self) {
        self.deferring = false;
        if self.loose.is_empty() {
            return;
        }
        let mut loose = std::mem::take(&mut self.loose);
        // Stable: a field's values keep their arrival order.
        loose.sort_by_key(|(f, _)| f.index());
        let mut i = 0;
        while i < loose.len() {
            let field = loose[i].0;
            let n = loose[i..].iter().take_while(|(f, _)| *f == field).count();
            if let Some(e) = self.entry(field) {
                let Entry { start, end, .. } = self.entries[e];
                let new_start = self.values.len() as u32;
                self.values.extend_from_within(start as usize..end as usize);
                self.values.extend(loose[i..i + n].iter().map(|(_, v)| *v));
                self.entries[e] = Entry { field, start: new_start, end: self.values.len() as u32 };
            }
            i += n;
        }
        loose.clear();
        self.loose = loose;
    }

    /// Keeps the JSON text of the event as the source of its keyword
    /// values instead of collecting them: the engine searches the text
    /// itself for the literals keyword rules need, and reads the values
    /// (through serde_json) only for an event where one occurs. `plain`: no
    /// string of the text has a `\u` or `\/` escape.
    pub(crate) fn set_keyword_line(&mut self, json: &str, plain: bool) {
        let v = self.store_with(Kind::Str, |text| text.push_str(json));
        self.line = Some(KeywordLine { start: v.start, end: v.end, plain });
    }

    /// The JSON text holding the event's keyword values, if they were left
    /// in it (then [`keywords`](Record::keywords) is empty).
    pub(crate) fn keyword_line(&self) -> Option<(&str, KeywordLine)> {
        self.line.map(|l| (&self.text[l.start as usize..l.end as usize], l))
    }

    /// Copies the keyword values of `other` (every value of its event, for
    /// keyword rules) to this record: a field mapping that projects an
    /// event's fields into another record carries them over this way.
    pub fn push_keywords_of(&mut self, other: &Record) {
        match other.keyword_line() {
            Some((json, line)) => self.set_keyword_line(json, line.plain),
            None => other.keywords.iter().for_each(|v| self.push_keyword(other.value(v))),
        }
    }

    /// Appends a value's text. Offsets are `u32` (records stay small), so
    /// an event holds at most 4 GiB of text: a value that would cross that
    /// is stored empty rather than wrap an offset and panic later.
    /// `Engine::fill_json` refuses lines long enough to get there.
    fn store(&mut self, value: Value<'_>) -> ValueRef {
        let kind = match value {
            Value::Null => Kind::Null,
            Value::Object => Kind::Object,
            Value::Str(_) => Kind::Str,
            Value::Bool(_) => Kind::Bool,
            Value::Int(_) | Value::UInt(_) | Value::Float(_) => Kind::Number,
        };
        self.store_with(kind, |text| {
            value.write_text(text);
        })
    }

    /// Appends the text `write` writes, as a value of `kind`.
    fn store_with(&mut self, kind: Kind, write: impl FnOnce(&mut String)) -> ValueRef {
        let start = self.text.len();
        write(&mut self.text);
        if self.text.len() > u32::MAX as usize {
            self.text.truncate(start);
        }
        // OK: the text never grows past u32::MAX bytes (above).
        let (start, end) = (start as u32, self.text.len() as u32);
        ValueRef { kind, start, end }
    }

    fn entry(&self, field: FieldId) -> Option<usize> {
        if !self.is_present(field) {
            return None;
        }
        // Most lookups are for the field pushed last, or one of a couple of
        // dozen: a backwards linear search is the fastest here.
        self.entries.iter().rposition(|e| e.field == field)
    }

    fn mark(&mut self, field: FieldId) {
        let (w, b) = (field.index() / 64, field.index() % 64);
        if w >= self.present.len() {
            self.present.resize(w + 1, 0);
        }
        self.present[w] |= 1 << b;
    }

    /// Marks `field` present. A field that is present with no value (an
    /// empty JSON array) is neither null nor matched by any value test.
    pub fn set_present(&mut self, field: FieldId) {
        if !self.is_present(field) {
            let end = self.values.len() as u32;
            self.entries.push(Entry { field, start: end, end });
            self.mark(field);
        }
    }

    #[cfg(feature = "json")]
    pub(crate) fn take_json_scratch(&mut self) -> crate::exec::json::Scratch {
        std::mem::take(&mut self.json_scratch)
    }

    #[cfg(feature = "json")]
    pub(crate) fn put_json_scratch(&mut self, scratch: crate::exec::json::Scratch) {
        self.json_scratch = scratch;
    }

    /// Removes `field` and its values (their text stays in the buffer, unused).
    pub(crate) fn forget(&mut self, field: FieldId) {
        if let Some(i) = self.entry(field) {
            self.entries.remove(i);
            self.present[field.index() / 64] &= !(1 << (field.index() % 64));
            if !self.loose.is_empty() {
                self.loose.retain(|(f, _)| *f != field);
            }
        }
    }

    /// Adds a value to `field` (a field may have several, like a JSON array).
    pub fn push(&mut self, field: FieldId, value: Value<'_>) {
        let v = self.store(value);
        self.attach(field, v);
    }

    /// Adds a string value whose text `write` appends, to `field` and, if
    /// `keyword`, to the keyword values too: stored once, so that the
    /// keyword values of a record filled in event order stay back to back
    /// (see [`keyword_region`](Record::keyword_region)).
    pub(crate) fn push_str_with(&mut self, field: Option<FieldId>, keyword: bool, write: impl FnOnce(&mut String)) {
        let v = self.store_with(Kind::Str, write);
        if keyword {
            self.attach_keyword(v);
        }
        if let Some(id) = field {
            self.attach(id, v);
        }
    }

    /// Adds a scalar value to `field` and, if `keyword`, to the keyword
    /// values, storing its text once (see [`push_str_with`](Record::push_str_with)).
    pub(crate) fn push_shared(&mut self, field: Option<FieldId>, keyword: bool, value: Value<'_>) {
        let v = self.store(value);
        if keyword {
            self.attach_keyword(v);
        }
        if let Some(id) = field {
            self.attach(id, v);
        }
    }

    fn attach(&mut self, field: FieldId, v: ValueRef) {
        let end = self.values.len() as u32;
        match self.entry(field) {
            None => {
                self.entries.push(Entry { field, start: end, end: end + 1 });
                self.mark(field);
            }
            Some(i) if self.entries[i].end == end => self.entries[i].end += 1,
            Some(_) if self.deferring => {
                self.loose.push((field, v));
                return;
            }
            Some(i) => {
                // Values of one field arrived with another field's in between
                // (rare): move this field's values to the end to keep them together.
                let e = self.entries[i];
                self.values.extend_from_within(e.start as usize..e.end as usize);
                let n = e.end - e.start;
                self.entries[i] = Entry { field, start: end, end: end + n + 1 };
            }
        }
        self.values.push(v);
    }

    /// Adds a scalar value to the event's keyword values (every value of
    /// the event, searched by field-less Sigma keywords).
    pub fn push_keyword(&mut self, value: Value<'_>) {
        let v = self.store(value);
        self.attach_keyword(v);
    }

    fn attach_keyword(&mut self, v: ValueRef) {
        if self.keywords.last().is_some_and(|last| last.end != v.start) {
            self.keywords_contiguous = false;
        }
        self.keywords.push(v);
    }

    /// The text of every keyword value as one slice, with the values'
    /// boundaries, when they are stored back to back (they are when filled
    /// by [`Engine::fill`](crate::Engine::fill)).
    pub(crate) fn keyword_region(&self) -> Option<(&str, &[ValueRef])> {
        let (first, last) = (self.keywords.first()?, self.keywords.last()?);
        self.keywords_contiguous.then(|| (&self.text[first.start as usize..last.end as usize], &self.keywords[..]))
    }

    /// True if the event has the field.
    pub fn is_present(&self, field: FieldId) -> bool {
        self.present.get(field.index() / 64).is_some_and(|w| w & (1 << (field.index() % 64)) != 0)
    }

    /// The values of `field` (none if it is absent, or present with no
    /// value like an empty JSON array).
    pub fn field_values(&self, field: FieldId) -> impl ExactSizeIterator<Item = Value<'_>> + '_ {
        self.values(field).iter().map(|v| self.value(v))
    }

    /// The fields present, in the order they were first added.
    pub fn present_fields(&self) -> impl ExactSizeIterator<Item = FieldId> + '_ {
        self.entries.iter().map(|e| e.field)
    }

    /// The present fields, in the order they were first added.
    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub(crate) fn entry_values(&self, e: &Entry) -> &[ValueRef] {
        &self.values[e.start as usize..e.end as usize]
    }

    pub(crate) fn values(&self, field: FieldId) -> &[ValueRef] {
        match self.entry(field) {
            Some(i) => self.entry_values(&self.entries[i]),
            None => &[],
        }
    }

    pub(crate) fn keywords(&self) -> &[ValueRef] {
        &self.keywords
    }

    pub(crate) fn text(&self, v: &ValueRef) -> &str {
        &self.text[v.start as usize..v.end as usize]
    }

    /// The value as the [`Value`] it was stored from (numbers keep their text).
    pub(crate) fn value(&self, v: &ValueRef) -> Value<'_> {
        let t = self.text(v);
        match v.kind {
            Kind::Null => Value::Null,
            Kind::Object => Value::Object,
            Kind::Bool => Value::Bool(t == "true"),
            Kind::Str => Value::Str(t),
            Kind::Number => match (t.parse::<i64>(), t.parse::<u64>()) {
                (Ok(i), _) => Value::Int(i),
                (_, Ok(u)) => Value::UInt(u),
                _ => Value::Float(t.parse().unwrap_or(f64::NAN)),
            },
        }
    }
}

/// A record is an event too, so the reference evaluator can read it.
impl crate::event::Event for Record {
    fn field(&self, id: FieldId, _name: &str, visit: &mut dyn FnMut(Value<'_>)) -> bool {
        self.values(id).iter().for_each(|v| visit(self.value(v)));
        self.is_present(id)
    }

    fn values(&self, visit: &mut dyn FnMut(Value<'_>)) {
        self.keywords.iter().for_each(|v| visit(self.value(v)));
        #[cfg(feature = "json")]
        if let Some((json, _)) = self.keyword_line() {
            // OK to ignore an error: the line was read as JSON already.
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(json) {
                crate::event::Event::values(&value, visit);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::FieldTable;

    #[test]
    fn values_stay_grouped_by_field() {
        let mut t = FieldTable::new();
        let (a, b) = (t.intern("a"), t.intern("b"));
        let mut r = Record::new();
        r.push(a, Value::Str("1"));
        r.push(b, Value::Int(2));
        r.push(a, Value::Str("3"));
        let texts = |f| r.values(f).iter().map(|v| r.text(v).to_string()).collect::<Vec<_>>();
        assert_eq!(texts(a), ["1", "3"]);
        assert_eq!(texts(b), ["2"]);
        r.clear();
        assert!(!r.is_present(a));
        r.set_present(a);
        assert!(r.is_present(a) && r.values(a).is_empty());
    }

    #[test]
    fn interleaved_values_are_grouped_at_the_end_of_a_fill() {
        let mut t = FieldTable::new();
        let (a, b, c) = (t.intern("a"), t.intern("b"), t.intern("c"));
        let mut r = Record::new();
        r.begin_fill();
        for i in 0..4 {
            r.push(a, Value::Int(i));
            r.push(b, Value::Int(10 + i));
        }
        r.push(c, Value::Int(20));
        r.forget(b);
        r.push(c, Value::Int(21));
        r.push(a, Value::Int(4));
        r.end_fill();
        let texts = |f| r.values(f).iter().map(|v| r.text(v).to_string()).collect::<Vec<_>>();
        assert_eq!(texts(a), ["0", "1", "2", "3", "4"]);
        assert!(!r.is_present(b) && texts(b).is_empty());
        assert_eq!(texts(c), ["20", "21"]);
    }
}
