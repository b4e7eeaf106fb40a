//! The fast path of [`Extractor::fill`](super::Extractor): a validating
//! JSON scanner over the bytes of one line.
//!
//! It reads the common shape of an event line (an object of string,
//! integer, boolean and null values, nested objects and arrays, escaped
//! backslashes and quotes) straight from the bytes: one SIMD pass marks the
//! line's quotes and backslashes, a string no rule reads is skipped by
//! jumping from mark to mark, and a string a
//! rule reads is decoded once, into the record's own buffer. Anything else
//! (a key with an escape, a number with a fraction or an exponent or more
//! than 18 digits, a repeated key that matters, nesting past
//! [`MAX_DEPTH`], and every error) makes it give up, and the serde_json visitor reads the line
//! instead: that visitor decides every error message and every unusual
//! case, so the fast path only has to be right about what it accepts.
//!
//! What it accepts it must accept exactly as serde_json does: strings are
//! checked for raw control characters and for valid escapes (`\u` with four
//! hex digits and paired surrogates), numbers for JSON's grammar, and the
//! object's structure for every comma, colon and bracket. The fuzz target
//! `json_event` compares the records of both paths with `serde_json::Value`.

use super::{Ctx, Entry};
use crate::event::Value;
use crate::ir::FieldId;

/// Deeper nesting is left to serde_json (which allows 128 levels).
const MAX_DEPTH: usize = 64;

/// `None`: the fast path gives up; read the line with serde_json.
type Fast<T> = Option<T>;

pub(super) struct Scan<'a, 'c, 'r> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    /// The line has bytes below 0x20, which strings may not contain.
    controls: bool,
    /// No string so far had a `\u` or `\/` escape.
    plain: bool,
    /// Where the escapes of the last string `string_end` read start (their
    /// backslashes), and how many there are (more than [`ESCAPES`]: not
    /// all were kept): [`unescape`] jumps from one to the next instead of
    /// searching for them again.
    escapes: [u32; ESCAPES],
    escape_count: usize,
    /// The quotes and backslashes of the line (see [`mark_specials`]).
    marks: &'c [u64],
    ctx: &'c mut Ctx<'r>,
}

/// How many escape positions of one string [`Scan`] keeps (Windows paths
/// have one per directory; a string with more is unescaped by searching).
const ESCAPES: usize = 64;

impl<'a, 'c, 'r> Scan<'a, 'c, 'r> {
    /// Reads the top-level object of `s` into the context's record, and
    /// says whether the text is *plain*: no string has a `\u` or `\/`
    /// escape (see [`KeywordLine`](crate::exec::record::KeywordLine)).
    /// `marks` is scratch space for [`mark_specials`].
    pub(super) fn run(s: &'a str, ctx: &'c mut Ctx<'r>, marks: &'c mut Vec<u64>) -> Fast<bool> {
        let b = s.as_bytes();
        let controls = mark_specials(b, marks);
        let mut scan = Scan { s, b, i: 0, controls, plain: true, escapes: [0; ESCAPES], escape_count: 0, marks, ctx };
        scan.ws();
        scan.eat(b'{')?;
        scan.object(Some(0), 1)?;
        scan.ws();
        (scan.i == b.len()).then_some(scan.plain)
    }

    #[inline]
    fn ws(&mut self) {
        // Compact lines have no whitespace: one comparison says so.
        if self.b.get(self.i).is_some_and(|&c| c > b' ') {
            return;
        }
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Fast<()> {
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }

    /// Reads the members of an object (after its `{`) at key-table node
    /// `node` (`None`: no dotted name reaches it).
    fn object(&mut self, node: Option<usize>, depth: usize) -> Fast<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        let keys = self.ctx.seen.open();
        self.ws();
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Some(());
        }
        loop {
            self.eat(b'"')?;
            let start = self.i;
            let (end, escaped) = self.string_end()?;
            if escaped {
                return None;
            }
            let key = &self.s[start..end];
            self.i = end + 1;
            self.ws();
            self.eat(b':')?;
            self.ws();
            let hash = key_hash(key.as_bytes());
            let entry: Entry = node.and_then(|n| self.ctx.ex.nodes[n].get(key, hash)).unwrap_or_default();
            if self.ctx.matters(&entry) {
                // A repeated key that matters: serde_json's `Value` keeps only
                // the last; the visitor's caller handles that. (Two keys with
                // the same hash are taken for a repeat: that costs only time.)
                if !self.ctx.seen.insert(&keys, hash) {
                    return None;
                }
            }
            let field = match entry.field {
                Some((id, order)) if self.ctx.claim(id, order) => Some(id),
                _ => None,
            };
            self.value(field, entry.child, depth)?;
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                }
                Some(b'}') => {
                    self.i += 1;
                    // A repeat among many keys is found here.
                    return self.ctx.seen.close(keys).then_some(());
                }
                _ => return None,
            }
        }
    }

    /// Reads one value: stored into `field`, descended into at `child`,
    /// and collected as a keyword value if the context collects them.
    fn value(&mut self, field: Option<FieldId>, child: Option<usize>, depth: usize) -> Fast<()> {
        let keywords = self.ctx.keywords;
        match *self.b.get(self.i)? {
            b'"' => {
                self.i += 1;
                let start = self.i;
                let (end, escaped) = self.string_end()?;
                self.i = end + 1;
                if field.is_some() || keywords {
                    let raw = &self.s[start..end];
                    if escaped {
                        // Positions relative to `raw`, if all were kept.
                        let at = self.escapes.get(..self.escape_count);
                        let at = at.map(|at| at.iter().map(move |&k| k as usize - start));
                        self.ctx.record.push_str_with(field, keywords, |buf| unescape(raw, at, buf));
                    } else {
                        self.ctx.record.push_str_with(field, keywords, |buf| buf.push_str(raw));
                    }
                }
                Some(())
            }
            b'{' => {
                self.i += 1;
                if let Some(id) = field {
                    self.ctx.record.push(id, Value::Object);
                }
                if child.is_none() && !keywords {
                    return self.skip_container(depth + 1);
                }
                self.object(child, depth + 1)
            }
            b'[' => {
                self.i += 1;
                if let Some(id) = field {
                    // An empty array is a present field with no value.
                    self.ctx.record.set_present(id);
                } else if child.is_none() && !keywords {
                    return self.skip_container(depth + 1);
                }
                self.array(field, child, depth + 1)
            }
            b't' => self.literal(b"true", field, Value::Bool(true)),
            b'f' => self.literal(b"false", field, Value::Bool(false)),
            b'n' => self.literal(b"null", field, Value::Null),
            b'-' | b'0'..=b'9' => {
                let n = self.integer()?;
                self.scalar(field, n);
                Some(())
            }
            _ => None,
        }
    }

    /// The elements of an array (after its `[`): values of the same field,
    /// flattened; a dotted name that continues below the array (`child`)
    /// walks on into each element that is an object.
    fn array(&mut self, field: Option<FieldId>, child: Option<usize>, depth: usize) -> Fast<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        if self.b.get(self.i) == Some(&b']') {
            self.i += 1;
            return Some(());
        }
        let outer = self.ctx.in_element;
        self.ctx.in_element |= child.is_some();
        let read = self.elements(field, child, depth);
        self.ctx.in_element = outer;
        read
    }

    /// The elements of a non-empty array, up to and including its `]`.
    fn elements(&mut self, field: Option<FieldId>, child: Option<usize>, depth: usize) -> Fast<()> {
        loop {
            self.value(field, child, depth)?;
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                }
                Some(b']') => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn scalar(&mut self, field: Option<FieldId>, v: Value<'_>) {
        self.ctx.record.push_shared(field, self.ctx.keywords, v);
    }

    fn literal(&mut self, word: &[u8], field: Option<FieldId>, v: Value<'_>) -> Fast<()> {
        if !self.b[self.i..].starts_with(word) {
            return None;
        }
        self.i += word.len();
        self.scalar(field, v);
        Some(())
    }

    /// An integer of at most 18 digits (so that it fits an `i64` and is
    /// what serde_json reads); anything else is left to serde_json.
    fn integer(&mut self) -> Fast<Value<'static>> {
        let negative = self.b[self.i] == b'-';
        let start = self.i + usize::from(negative);
        let mut j = start;
        let mut n: i64 = 0;
        while let Some(&d @ b'0'..=b'9') = self.b.get(j) {
            if j - start == 18 {
                return None;
            }
            n = n * 10 + i64::from(d - b'0');
            j += 1;
        }
        let digits = j - start;
        // No digits, a leading zero, -0 (a float to serde_json), a fraction or an exponent.
        if digits == 0 || (self.b[start] == b'0' && (digits > 1 || negative)) {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = self.b.get(j) {
            return None;
        }
        self.i = j;
        Some(Value::Int(if negative { -n } else { n }))
    }

    /// The index of the closing quote of the string starting at `self.i`,
    /// with every escape and character checked, and whether it has escapes.
    #[inline]
    fn string_end(&mut self) -> Fast<(usize, bool)> {
        let b = self.b;
        let mut i = self.i;
        let mut escaped = false;
        self.escape_count = 0;
        loop {
            let at = next_special(self.marks, i)?;
            if self.controls && b[i..at].iter().any(|&c| c < 0x20) {
                return None;
            }
            if b[at] == b'"' {
                return Some((at, escaped));
            }
            escaped = true;
            match (self.escapes.get_mut(self.escape_count), u32::try_from(at)) {
                (Some(slot), Ok(at)) => *slot = at,
                // Not kept (past the first ESCAPES, or 4 GiB into the line):
                // `unescape` searches for all of them.
                _ => self.escape_count = ESCAPES,
            }
            self.escape_count += 1;
            i = at + 2;
            match *b.get(at + 1)? {
                b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                b'/' => self.plain = false,
                b'u' => {
                    self.plain = false;
                    let unit = hex4(b, at + 2)?;
                    i = at + 6;
                    if (0xDC00..0xE000).contains(&unit) {
                        return None;
                    }
                    if (0xD800..0xDC00).contains(&unit) {
                        if b.get(i) != Some(&b'\\') || b.get(i + 1) != Some(&b'u') {
                            return None;
                        }
                        let low = hex4(b, i + 2)?;
                        if !(0xDC00..0xE000).contains(&low) {
                            return None;
                        }
                        i += 6;
                    }
                }
                _ => return None,
            }
        }
    }

    /// Skips the rest of an object or array (after its opening bracket)
    /// that no rule reads, checking its syntax as serde_json would.
    fn skip_container(&mut self, depth: usize) -> Fast<()> {
        // A stack of open containers as bits (1 = object), at most MAX_DEPTH deep.
        let mut stack: u128 = u128::from(self.b[self.i - 1] == b'{');
        let mut open = 1usize;
        if depth > MAX_DEPTH {
            return None;
        }
        // `expect_value`: after `[`, `,` in an array, or `:`.
        self.ws();
        let closes = |c: u8| if c == b'}' { 1 } else { 0 };
        // First token of the container may close it.
        if let Some(&c @ (b'}' | b']')) = self.b.get(self.i) {
            if closes(c) != stack & 1 {
                return None;
            }
            self.i += 1;
            return Some(());
        }
        loop {
            let in_object = stack & 1 == 1;
            if in_object {
                // A key and its colon.
                self.eat(b'"')?;
                let (end, _) = self.string_end()?;
                self.i = end + 1;
                self.ws();
                self.eat(b':')?;
                self.ws();
            }
            // A value.
            match *self.b.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    let (end, _) = self.string_end()?;
                    self.i = end + 1;
                }
                c @ (b'{' | b'[') => {
                    self.i += 1;
                    open += 1;
                    if depth + open - 1 > MAX_DEPTH {
                        return None;
                    }
                    stack = (stack << 1) | u128::from(c == b'{');
                    self.ws();
                    if let Some(&c @ (b'}' | b']')) = self.b.get(self.i) {
                        if closes(c) != stack & 1 {
                            return None;
                        }
                        self.i += 1;
                        open -= 1;
                        stack >>= 1;
                    } else {
                        continue;
                    }
                }
                b't' => self.word(b"true")?,
                b'f' => self.word(b"false")?,
                b'n' => self.word(b"null")?,
                b'-' | b'0'..=b'9' => {
                    self.integer()?;
                }
                _ => return None,
            }
            // After a value: `,` or the closing bracket(s).
            loop {
                self.ws();
                match *self.b.get(self.i)? {
                    b',' => {
                        self.i += 1;
                        self.ws();
                        break;
                    }
                    c @ (b'}' | b']') => {
                        if closes(c) != stack & 1 {
                            return None;
                        }
                        self.i += 1;
                        open -= 1;
                        stack >>= 1;
                        if open == 0 {
                            return Some(());
                        }
                    }
                    _ => return None,
                }
            }
        }
    }

    fn word(&mut self, word: &[u8]) -> Fast<()> {
        if !self.b[self.i..].starts_with(word) {
            return None;
        }
        self.i += word.len();
        Some(())
    }
}

/// The four hex digits at `at` as a UTF-16 code unit.
fn hex4(b: &[u8], at: usize) -> Fast<u32> {
    let digits = b.get(at..at + 4)?;
    let mut n = 0;
    for &d in digits {
        n = n * 16 + char::from(d).to_digit(16)?;
    }
    Some(n)
}

/// Appends the text of a JSON string's contents (between its quotes, already
/// checked by `string_end`) to `out`, jumping from escape to escape: to the
/// positions `string_end` found (`at`), or else from backslash to backslash
/// with memchr (a byte loop cost twice the instructions on Windows paths).
fn unescape(raw: &str, mut at: Option<impl Iterator<Item = usize>>, out: &mut String) {
    let b = raw.as_bytes();
    let (mut i, mut run) = (0, 0);
    while i < b.len() {
        let next = match &mut at {
            Some(at) => at.next(),
            None => memchr::memchr(b'\\', &b[i..]).map(|k| i + k),
        };
        let Some(next) = next else { break };
        i = next;
        out.push_str(&raw[run..i]);
        let (c, len) = match b[i + 1] {
            // The escaped byte stands for itself: it starts the next run
            // (one copy per escaped Windows path separator, not two).
            b'"' | b'\\' | b'/' => {
                run = i + 1;
                i += 2;
                continue;
            }
            b'b' => ('\u{8}', 2),
            b'f' => ('\u{c}', 2),
            b'n' => ('\n', 2),
            b'r' => ('\r', 2),
            b't' => ('\t', 2),
            _ => {
                // `string_end` checked the digits and the surrogate pairing.
                let unit = hex4(b, i + 2).unwrap_or(0xFFFD);
                if (0xD800..0xDC00).contains(&unit) {
                    let low = hex4(b, i + 8).unwrap_or(0xDC00);
                    let c = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                    (char::from_u32(c).unwrap_or('\u{FFFD}'), 12)
                } else {
                    (char::from_u32(unit).unwrap_or('\u{FFFD}'), 6)
                }
            }
        };
        out.push(c);
        i += len;
        run = i;
    }
    out.push_str(&raw[run..]);
}

/// A hash of a key for [`KeyTable`](super::KeyTable) and for finding
/// repeated keys: its length and its first and last eight bytes (all of a
/// key of up to sixteen bytes), mixed. Keys are short, so this is cheaper
/// than hashing every byte; longer keys that agree on those bytes only
/// collide, and are still compared in full.
#[inline]
pub(super) fn key_hash(k: &[u8]) -> u64 {
    let n = k.len();
    let word = |s: &[u8]| -> u64 {
        let mut w = [0u8; 8];
        w[..s.len()].copy_from_slice(s);
        u64::from_le_bytes(w)
    };
    let (a, b) = if n >= 8 { (word(&k[..8]), word(&k[n - 8..])) } else { (word(k), 0) };
    let mut h = (a ^ 0x9E37_79B9_7F4A_7C15).wrapping_mul(0xBF58_476D_1CE4_E5B9)
        ^ b.rotate_left(31).wrapping_mul(0x94D0_49BB_1331_11EB)
        ^ n as u64;
    h ^= h >> 31;
    h = h.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    h ^ (h >> 32)
}

/// Stage one of the scan: a bit for every quote and backslash of `b`, 64
/// bytes to a word (the last word padded with spaces, which are
/// neither), and whether `b` has a byte below 0x20, which strings may not
/// contain. One pass over the line costs less than searching from each
/// string's start: an event has about 50 strings and 40 escapes, most of
/// them a few bytes apart.
pub(super) fn mark_specials(b: &[u8], marks: &mut Vec<u64>) -> bool {
    marks.clear();
    marks.reserve(b.len() / 64 + 1);
    let mut controls = false;
    let mut blocks = b.chunks_exact(64);
    for block in &mut blocks {
        let (bits, c) = specials(block.try_into().expect("64 bytes"));
        marks.push(bits);
        controls |= c;
    }
    let rest = blocks.remainder();
    if !rest.is_empty() {
        let mut block = [b' '; 64];
        block[..rest.len()].copy_from_slice(rest);
        let (bits, c) = specials(&block);
        marks.push(bits);
        controls |= c;
    }
    controls
}

/// The quotes and backslashes of 64 bytes, one bit each, and whether one
/// of the bytes is below 0x20.
#[inline]
fn specials(block: &[u8; 64]) -> (u64, bool) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: SSE2 is part of every x86_64 CPU (the target's baseline).
        unsafe { specials_sse2(block) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        specials_swar(block)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn specials_sse2(block: &[u8; 64]) -> (u64, bool) {
    use std::arch::x86_64::*;
    let (quote, backslash, below) = (_mm_set1_epi8(b'"' as i8), _mm_set1_epi8(b'\\' as i8), _mm_set1_epi8(0x1F));
    let (mut bits, mut controls) = (0u64, _mm_setzero_si128());
    for k in 0..4 {
        // SAFETY: bytes 16k..16k+16 are inside the 64-byte block; the load
        // needs no alignment.
        let v = unsafe { _mm_loadu_si128(block.as_ptr().add(16 * k).cast()) };
        let hit = _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash));
        bits |= u64::from(_mm_movemask_epi8(hit) as u16) << (16 * k);
        // min(v, 0x1F) == v: v is at most 0x1F, unsigned.
        controls = _mm_or_si128(controls, _mm_cmpeq_epi8(_mm_min_epu8(v, below), v));
    }
    (bits, _mm_movemask_epi8(controls) != 0)
}

/// [`specials_sse2`] in plain registers, 8 bytes at a time.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn specials_swar(block: &[u8; 64]) -> (u64, bool) {
    let mut bits = 0u64;
    for (k, c) in block.chunks_exact(8).enumerate() {
        let word = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        let found =
            zero_bytes(word ^ (LOW_BYTES * u64::from(b'"'))) | zero_bytes(word ^ (LOW_BYTES * u64::from(b'\\')));
        // The high bit of each byte, gathered into the top byte.
        let gathered = ((found >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56;
        bits |= gathered << (8 * k);
    }
    (bits, block.iter().any(|&c| c < 0x20))
}

/// The first quote or backslash at or after `i`, from the bits of
/// [`mark_specials`].
#[inline]
fn next_special(marks: &[u64], i: usize) -> Option<usize> {
    let mut w = i / 64;
    let mut m = marks.get(w)? & (!0u64 << (i % 64));
    while m == 0 {
        w += 1;
        m = *marks.get(w)?;
    }
    Some(64 * w + m.trailing_zeros() as usize)
}

const LOW_BYTES: u64 = 0x0101_0101_0101_0101;

/// The high bit of each byte of `x` that is zero, and no other bit (exact:
/// no carry crosses a byte).
#[inline]
fn zero_bytes(x: u64) -> u64 {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    !(((x & LOW7) + LOW7) | x) & !LOW7
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The marks find what a byte loop finds, from every position, at
    /// every length, next to bytes that differ from a quote or a backslash
    /// only in their high bit; and both ways of marking agree.
    #[test]
    fn marks_find_the_next_quote_or_backslash() {
        let byte_loop = |hay: &[u8], i: usize| hay[i..].iter().position(|&c| c == b'"' || c == b'\\').map(|k| i + k);
        let mut marks = Vec::new();
        for len in 0..140 {
            for filler in [b'a', 0xA2, 0xDC, 0x02, 0x21, 0x5D] {
                let mut hay = vec![filler; len];
                for at in (0..len).step_by(7).chain(len.checked_sub(1)) {
                    for c in [b'"', b'\\'] {
                        hay[at] = c;
                        if at + 9 < len {
                            hay[at + 9] = b'"';
                        }
                        let controls = mark_specials(&hay, &mut marks);
                        assert_eq!(controls, hay.iter().any(|&c| c < 0x20), "{len} {filler:#x} {at}");
                        for i in 0..=len {
                            assert_eq!(next_special(&marks, i), byte_loop(&hay, i), "{len} {filler:#x} {at} {i}");
                        }
                        for block in hay.chunks(64) {
                            let mut padded = [b' '; 64];
                            padded[..block.len()].copy_from_slice(block);
                            assert_eq!(specials(&padded), specials_swar(&padded), "{len} {filler:#x} {at}");
                        }
                        hay.fill(filler);
                    }
                }
            }
        }
    }
}
