//! The pack's predicates by id. The planner makes every one of them; a
//! loaded rule bundle decodes only the lazy ones, which evaluation
//! computes, and keeps each scanned one as its bytes: the literal sets
//! decide scanned predicates, so only displaying one (a rule's witnesses)
//! needs it, and it is decoded then (11,875 of the SigmaHQ Windows pack's
//! 14,511 predicates, 1.5 ms of its bundle's load).

use super::{At, FieldId, Literals, PlanPred, scanned_literal};
use crate::ir::{Pred, Target};

/// A slot of [`Preds::slots`] with this bit set is an index into
/// [`Preds::kept`].
const KEPT: u32 = 1 << 31;

/// The predicates of a plan (see the module docs).
#[derive(Clone, Debug, Default)]
pub(crate) struct Preds {
    /// By predicate id: its index in `decoded`, or `KEPT` | its index in `kept`.
    slots: Vec<u32>,
    decoded: Vec<PlanPred>,
    /// The literal that decides each kept predicate (set by
    /// [`decide`](Preds::decide) once the literal sets are read); its bytes
    /// are kept by the engine with the rules' (`exec::engine::EncodedRules`).
    kept: Vec<Option<Decider>>,
}

/// The literal that decides a scanned predicate: literal `literal` of
/// field `field`'s set, occurring `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Decider {
    pub field: FieldId,
    pub literal: u32,
    pub at: At,
}

/// One predicate.
pub(crate) enum PredRef<'a> {
    Decoded(&'a PlanPred),
    /// A scanned predicate kept as bytes: its index among the kept ones and
    /// the literal that decides it.
    Kept(usize, Option<Decider>),
}

impl Preds {
    /// The planner's predicates, all decoded.
    pub(crate) fn new(decoded: Vec<PlanPred>) -> Preds {
        // OK: far fewer than 2^31 predicates (rule size limits).
        Preds { slots: (0..decoded.len() as u32).collect(), decoded, kept: Vec::new() }
    }

    /// Adds a decoded predicate (false if there are 2^31 already).
    pub(crate) fn push(&mut self, p: PlanPred) -> bool {
        let i = self.decoded.len() as u32;
        self.decoded.push(p);
        self.add_slot(i)
    }

    /// Adds a scanned predicate kept as bytes, not decided yet (false if
    /// there are 2^31 already).
    pub(crate) fn push_kept(&mut self) -> bool {
        let i = self.kept.len() as u32;
        self.kept.push(None);
        self.add_slot(KEPT | i)
    }

    fn add_slot(&mut self, slot: u32) -> bool {
        let ok = self.slots.len() < KEPT as usize;
        self.slots.push(slot);
        ok
    }

    /// Sets the literal that decides kept predicate `id`: false if `id`
    /// is not kept or was decided already.
    pub(crate) fn decide(&mut self, id: usize, decider: Decider) -> bool {
        match self.get(id) {
            Some(PredRef::Kept(k, None)) => {
                self.kept[k] = Some(decider);
                true
            }
            _ => false,
        }
    }

    /// True when every kept predicate is decided by a literal.
    pub(crate) fn all_decided(&self) -> bool {
        self.kept.iter().all(Option::is_some)
    }

    /// How many predicates there are.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Predicate `id` (`None` if there is none).
    pub(crate) fn get(&self, id: usize) -> Option<PredRef<'_>> {
        let slot = *self.slots.get(id)?;
        if slot & KEPT != 0 {
            let k = (slot & !KEPT) as usize;
            self.kept.get(k).map(|d| PredRef::Kept(k, *d))
        } else {
            self.decoded.get(slot as usize).map(PredRef::Decoded)
        }
    }

    /// Predicate `id` if it is decoded (`None` if it is kept as bytes or
    /// there is none).
    pub(crate) fn decoded_at(&self, id: usize) -> Option<&PlanPred> {
        match self.get(id)? {
            PredRef::Decoded(p) => Some(p),
            PredRef::Kept(..) => None,
        }
    }

    /// Whether predicate `id` is lazy (`None` if there is none).
    pub(crate) fn is_lazy(&self, id: usize) -> Option<bool> {
        self.get(id).map(|p| matches!(p, PredRef::Decoded(p) if p.lazy))
    }

    /// Every decoded predicate (all of them but in a loaded bundle, whose
    /// decoded ones are its lazy ones).
    pub(crate) fn decoded(&self) -> &[PlanPred] {
        &self.decoded
    }
}

impl Decider {
    /// Decodes a kept predicate from its bytes: `None` unless they decode
    /// to exactly a test of a field below `fields` that this literal of
    /// `literals` (by field index) decides, so that what is displayed is
    /// what is evaluated. Only a hand-made bundle has one that fails.
    pub(crate) fn decode(self, bytes: &[u8], literals: &[std::sync::Arc<Literals>], fields: usize) -> Option<Pred> {
        let pred = match postcard::take_from_bytes::<Pred>(bytes) {
            Ok((pred, [])) => pred,
            _ => return None,
        };
        let lits = literals.get(self.field.index())?;
        let text = (self.literal as usize) < lits.len();
        let decides = text
            && pred.fields_within(fields)
            && pred.target == Target::Field(self.field)
            && scanned_literal(&pred).is_some_and(|(_, t, at)| at == self.at && t == lits.text(self.literal as usize));
        decides.then_some(pred)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Literal;
    use std::sync::Arc;

    fn pred(text: &str) -> Pred {
        let rule = format!(
            "title: t\nlogsource: {{category: process_creation}}\ndetection: {{sel: {{CommandLine|contains: '{text}'}}, condition: sel}}\n"
        );
        let (engine, _) = crate::Builder::new().add_source("t.yml", &rule).build();
        let (_, plan, _, _) = engine.bundle_parts();
        match plan.preds.get(0) {
            Some(PredRef::Decoded(p)) => p.pred.clone(),
            _ => panic!("a compiled plan decodes its predicates"),
        }
    }

    #[test]
    fn kept_predicates_are_decided_once_and_decode_only_as_their_literal() {
        let mut preds = Preds::default();
        assert!(preds.push(PlanPred { pred: pred("abc"), lazy: true }));
        assert!(preds.push_kept());
        assert_eq!(
            (preds.len(), preds.is_lazy(0), preds.is_lazy(1), preds.is_lazy(2)),
            (2, Some(true), Some(false), None)
        );
        assert!(!preds.all_decided());
        let field = FieldId::from_index(0);
        let decider = Decider { field, literal: 0, at: At::Anywhere };
        assert!(!preds.decide(0, decider), "a decoded predicate is not kept");
        assert!(preds.decide(1, decider));
        assert!(!preds.decide(1, decider), "decided twice");
        assert!(preds.all_decided());
        assert!(matches!(preds.get(1), Some(PredRef::Kept(0, Some(d))) if d == decider));

        let literals = [Arc::new(Literals::new(&[Literal { text: "http://".into(), ..Literal::default() }]))];
        let bytes = postcard::to_allocvec(&pred("HTTP://")).unwrap();
        assert!(decider.decode(&bytes, &literals, 1).is_some());
        let other = postcard::to_allocvec(&pred("ftp://")).unwrap();
        assert!(decider.decode(&other, &literals, 1).is_none(), "another literal's text");
        assert!(Decider { at: At::Prefix, ..decider }.decode(&bytes, &literals, 1).is_none(), "another position");
        assert!(Decider { literal: 1, ..decider }.decode(&bytes, &literals, 1).is_none(), "no such literal");
        assert!(decider.decode(&bytes, &literals, 0).is_none(), "a field outside the table");
        assert!(decider.decode(&bytes[..bytes.len() - 1], &literals, 1).is_none(), "truncated");
    }
}
