//! The literal set of one field, as the planner builds it ([`Literal`],
//! one per distinct folded text) and as the engine and rule bundles keep
//! it ([`Literals`]: a few flat arrays, so that loading a bundle allocates
//! per field rather than per literal, and a scan reads one compact table).

use super::PredId;

/// One literal of a field while planning: its folded text and the
/// predicates it decides, by where it must occur.
#[derive(Clone, Debug, Default)]
pub(crate) struct Literal {
    pub text: String,
    pub exact: Vec<PredId>,
    pub prefix: Vec<PredId>,
    pub suffix: Vec<PredId>,
    pub anywhere: Vec<PredId>,
}

/// The literals of one field, flat: literal `i` is `text(i)`, and decides
/// its `anywhere`, `prefix`, `exact` and `suffix` predicates, which lie in
/// `ids` in that order, after those of literal `i - 1`.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, Default, PartialEq)]
pub(crate) struct Literals {
    /// Every literal's text, one after the other.
    text: String,
    /// Where each literal's text ends in `text`.
    text_ends: Vec<u32>,
    /// Every literal's predicates.
    ids: Vec<PredId>,
    /// Per literal, where its anywhere, prefix, exact and suffix
    /// predicates end in `ids`, after a first entry of zeros (so that
    /// literal `i`'s predicates start where entry `i` ends, without a
    /// branch on the hot path); empty when there is no literal.
    ends: Vec<[u32; 4]>,
}

/// The predicates of one literal, by where it must occur.
pub(crate) struct LiteralIds<'a> {
    pub anywhere: &'a [PredId],
    pub prefix: &'a [PredId],
    pub exact: &'a [PredId],
    pub suffix: &'a [PredId],
}

impl Literals {
    /// The table of the planner's literals, in their order.
    pub(crate) fn new(list: &[Literal]) -> Literals {
        let mut out = Literals::default();
        if !list.is_empty() {
            out.ends.push([0; 4]);
        }
        // OK: rule size limits keep a pack far below 2^32 bytes and ids.
        let at = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        for l in list {
            out.text.push_str(&l.text);
            out.text_ends.push(at(out.text.len()));
            let mut ends = [0; 4];
            for (end, ids) in ends.iter_mut().zip([&l.anywhere, &l.prefix, &l.exact, &l.suffix]) {
                out.ids.extend_from_slice(ids);
                *end = at(out.ids.len());
            }
            out.ends.push(ends);
        }
        out
    }

    /// How many literals there are.
    pub(crate) fn len(&self) -> usize {
        self.text_ends.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.text_ends.is_empty()
    }

    /// The folded text of literal `i`.
    pub(crate) fn text(&self, i: usize) -> &str {
        let start = i.checked_sub(1).map_or(0, |j| self.text_ends[j] as usize);
        &self.text[start..self.text_ends[i] as usize]
    }

    /// Every literal's text, in order.
    pub(crate) fn texts(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.text(i))
    }

    /// Where literal `i`'s anywhere, prefix, exact and suffix predicates
    /// lie in `ids`: `b..a`, `a..p`, `p..x`, `x..s`.
    #[inline]
    fn bounds(&self, i: usize) -> (usize, [usize; 4]) {
        (self.ends[i][3] as usize, self.ends[i + 1].map(|e| e as usize))
    }

    /// The predicates literal `i` decides.
    pub(crate) fn ids(&self, i: usize) -> LiteralIds<'_> {
        let (start, [a, p, x, s]) = self.bounds(i);
        LiteralIds {
            anywhere: &self.ids[start..a],
            prefix: &self.ids[a..p],
            exact: &self.ids[p..x],
            suffix: &self.ids[x..s],
        }
    }

    /// Appends the predicates literal `i` decides when it occurs at
    /// `start..end` of a value `len` bytes long.
    #[inline]
    pub(crate) fn report(&self, i: usize, start: usize, end: usize, len: usize, out: &mut Vec<PredId>) {
        // Only the slices the position calls for (most hits are inside).
        let (b, [a, p, x, s]) = self.bounds(i);
        out.extend_from_slice(&self.ids[b..a]);
        if start == 0 {
            out.extend_from_slice(&self.ids[a..p]);
            if end == len {
                out.extend_from_slice(&self.ids[p..x]);
            }
        }
        if end == len {
            out.extend_from_slice(&self.ids[x..s]);
        }
    }

    /// True when every literal's text and predicates lie inside the table
    /// (so that [`text`](Self::text) and [`ids`](Self::ids) cannot panic),
    /// and every text is non-empty: what a rule bundle's table must be.
    pub(crate) fn is_well_formed(&self) -> bool {
        let sentinel = self.ends.first().is_none_or(|&e| e == [0; 4]);
        if !sentinel || self.ends.len() != self.text_ends.len() + usize::from(!self.ends.is_empty()) {
            return false;
        }
        let mut prev = 0;
        for &e in &self.text_ends {
            if e <= prev || !self.text.is_char_boundary(e as usize) {
                return false;
            }
            prev = e;
        }
        let mut prev = 0;
        for &e in self.ends.iter().flatten() {
            if e < prev {
                return false;
            }
            prev = e;
        }
        prev as usize == self.ids.len() && self.text_ends.last().map_or(0, |&e| e as usize) == self.text.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(text: &str, ids: [&[u32]; 4]) -> Literal {
        let v = |s: &[u32]| s.iter().map(|&i| PredId(i)).collect();
        Literal { text: text.into(), anywhere: v(ids[0]), prefix: v(ids[1]), exact: v(ids[2]), suffix: v(ids[3]) }
    }

    #[test]
    fn the_table_keeps_every_literal_and_its_predicates() {
        let list = [
            lit("cmd.exe", [&[1], &[], &[2, 3], &[4]]),
            lit("é", [&[], &[], &[], &[]]),
            lit("x", [&[5], &[6], &[], &[]]),
        ];
        let t = Literals::new(&list);
        assert!(t.is_well_formed());
        assert_eq!(t.texts().collect::<Vec<_>>(), ["cmd.exe", "é", "x"]);
        for (i, l) in list.iter().enumerate() {
            let ids = t.ids(i);
            assert_eq!(
                (ids.anywhere, ids.prefix, ids.exact, ids.suffix),
                (&l.anywhere[..], &l.prefix[..], &l.exact[..], &l.suffix[..])
            );
        }
        let mut out = Vec::new();
        t.report(0, 0, 7, 7, &mut out);
        assert_eq!(out, [PredId(1), PredId(2), PredId(3), PredId(4)]);
        out.clear();
        t.report(0, 1, 8, 9, &mut out);
        assert_eq!(out, [PredId(1)]);
        assert!(Literals::default().is_well_formed());
    }

    #[test]
    fn a_table_out_of_bounds_is_not_well_formed() {
        let good = Literals::new(&[lit("ab", [&[1], &[], &[], &[]]), lit("é", [&[], &[2], &[], &[]])]);
        let mut bad = Vec::new();
        let mut t = good.clone();
        t.text_ends[0] = 0; // an empty text
        bad.push(t);
        let mut t = good.clone();
        t.text_ends[1] = 3; // inside 'é'
        bad.push(t);
        let mut t = good.clone();
        t.text_ends[1] = 9;
        bad.push(t);
        let mut t = good.clone();
        t.ends[2][3] = 5;
        bad.push(t);
        let mut t = good.clone();
        t.ends[1][1] = 0;
        bad.push(t);
        let mut t = good.clone();
        t.ends.pop();
        bad.push(t);
        let mut t = good.clone();
        t.ends[0] = [0, 0, 0, 1];
        bad.push(t);
        let mut t = good.clone();
        t.ends.remove(0);
        bad.push(t);
        let mut t = good.clone();
        t.text.push('x');
        bad.push(t);
        for t in bad {
            assert!(!t.is_well_formed(), "{t:?}");
        }
    }
}
