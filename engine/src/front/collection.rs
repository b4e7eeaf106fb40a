//! Sigma 1.x rule collections: the documents of one file joined by
//! `action: global`, `action: reset` and `action: repeat`, turned into the
//! plain documents they stand for, as pySigma's `SigmaCollection.from_dicts`
//! reads them.
//!
//! Sigma 2.0 removed collections, but pySigma still reads them and older
//! private rule packs use them. This stage runs between [`yaml`](super::yaml)
//! (which it does not call: it works on parsed trees) and
//! [`rule::parse`](super::rule), only for files in which some document has
//! an `action` key; other files pass through untouched.
//!
//! pySigma's reading, which is followed here:
//! - `action: global`: the document (without `action`) becomes the template
//!   merged into every following document that has no `action`, until the
//!   next `global` (which replaces it, not merges with it) or a `reset`.
//!   The merge is pySigma's `deep_dict_update(document, global)`: maps are
//!   merged key by key at every depth, and where both set the same key to a
//!   scalar or a list, **the global value wins**. sigmata warns when that
//!   happens, since the document's own value is then lost.
//! - `action: reset`: forgets the template.
//! - `action: repeat`: the previous document (as merged), with this
//!   document's keys merged over it (here this document's values win), is
//!   one more rule, and the one the next `repeat` starts from. A `repeat`
//!   straight after a `global` repeats the template itself and, as pySigma
//!   updates the template in place there, changes it for the documents that
//!   follow.
//!
//! Where pySigma would fail or silently drop something, sigmata refuses the
//! document with a located error instead: an unknown `action`, a `repeat`
//! with nothing before it, a `global` that no rule document follows (pySigma
//! makes no rule of it). Each resulting document keeps the index and lines
//! of the document that produced it, so a rule made from a collection is
//! reported at its own document's line.

use crate::error::{Anchor, Error, ErrorKind};
use crate::front::yaml::{Document, Yaml};

/// One piece of the expanded file, in document order.
#[derive(Debug)]
pub(crate) enum Piece {
    /// A document to parse as a rule, filter or correlation.
    Document(Document),
    /// A document refused while expanding the collection; `at` is that
    /// document (its `value` as written).
    Refused { at: Document, error: Error },
    /// A problem that refused nothing, located in document `at`.
    Warning { at: Document, warning: Error },
}

/// True if some document has an `action` key, i.e. the file is a 1.x collection.
pub(crate) fn is_collection(docs: &[Document]) -> bool {
    docs.iter().any(|d| d.value.get("action").is_some())
}

type Entries = Vec<(String, Yaml)>;

/// The document that [`Prev`] refers to for the next `repeat`.
enum Prev {
    None,
    /// The current template (pySigma aliases it: a repeat updates it).
    Global,
    Document(Entries),
}

/// The template and whether any rule document used it.
struct Global {
    entries: Entries,
    at: Document,
    used: bool,
}

/// Expands the documents of one file. `budget` bounds the total size of the
/// documents made by merging (counted as the YAML reader counts nodes), so
/// that a large template merged into many documents cannot exhaust memory.
pub(crate) fn expand(docs: Vec<Document>, budget: usize) -> Vec<Piece> {
    if !is_collection(&docs) {
        return docs.into_iter().map(Piece::Document).collect();
    }
    let mut out = Vec::with_capacity(docs.len() + 1);
    if let Some(first) = docs.iter().find(|d| d.value.get("action").is_some()) {
        let action = first.value.get("action").and_then(Yaml::as_str).unwrap_or("?");
        let warning = Error::new(
            ErrorKind::Unsupported,
            format!(
                "the file is a Sigma 1.x rule collection ('action: {action}'), a form Sigma 2.0 removed; \
                 it is read as pySigma reads it (each 'global' merged into the documents after it, \
                 'repeat' reusing the previous one): split it into separate rules"
            ),
        )
        .at(Anchor::Path(vec!["action".into()], None));
        out.push(Piece::Warning { at: first.clone(), warning });
    }
    let mut global: Option<Global> = None;
    let mut prev = Prev::None;
    let mut spent = 0usize;
    for doc in docs {
        let Yaml::Map(entries) = &doc.value else {
            // Not a map: rule::parse says so.
            out.push(Piece::Document(doc));
            continue;
        };
        let action = match doc.value.get("action") {
            None => None,
            Some(Yaml::Str(a)) if matches!(a.as_str(), "global" | "reset" | "repeat") => Some(a.clone()),
            Some(other) => {
                let shown = match other {
                    Yaml::Str(s) => format!("'{s}'"),
                    other => other.type_name().to_string(),
                };
                let error = Error::new(
                    ErrorKind::Document,
                    format!(
                        "unknown collection action {shown}: Sigma 1.x collections know 'global', 'reset' and 'repeat'"
                    ),
                )
                .at(Anchor::Path(vec!["action".into()], None));
                out.push(Piece::Refused { at: doc, error });
                continue;
            }
        };
        let own: Entries = entries.iter().filter(|(k, _)| k != "action").cloned().collect();
        match action.as_deref() {
            None => {
                let mut merged = own;
                if let Some(g) = &mut global {
                    g.used = true;
                    let mut conflicts = Vec::new();
                    merge(&mut merged, &g.entries, &mut Vec::new(), &mut conflicts);
                    // Warnings name the merged rule (its title may come from the template).
                    let rule = match conflicts.is_empty() {
                        true => doc.clone(),
                        false => Document { value: Yaml::Map(merged.clone()), ..doc.clone() },
                    };
                    for key in conflicts {
                        let warning = Error::new(
                            ErrorKind::Document,
                            format!(
                                "'{}' is set both here and in the 'action: global' document on line {}; \
                                 as in pySigma, the global value is used",
                                key.join("."),
                                g.at.first_line
                            ),
                        )
                        .at(Anchor::Path(key, None));
                        out.push(Piece::Warning { at: rule.clone(), warning });
                    }
                }
                if let Some(piece) = emit(&merged, &doc, &mut spent, budget) {
                    out.push(piece);
                }
                prev = Prev::Document(merged);
            }
            Some("global") => {
                finish(global.take(), &mut out);
                global = Some(Global { entries: own, at: doc, used: false });
                prev = Prev::Global;
            }
            Some("reset") => {
                if !own.is_empty() {
                    let keys: Vec<&str> = own.iter().map(|(k, _)| k.as_str()).collect();
                    let warning = Error::new(
                        ErrorKind::Document,
                        format!(
                            "an 'action: reset' document only resets; its other keys are ignored: {}",
                            keys.join(", ")
                        ),
                    )
                    .at(Anchor::Path(vec![own[0].0.clone()], None));
                    out.push(Piece::Warning { at: doc.clone(), warning });
                }
                if let (Prev::Global, Some(g)) = (&prev, &global) {
                    // The template is gone; a later repeat starts from it as it was.
                    prev = Prev::Document(g.entries.clone());
                }
                finish(global.take(), &mut out);
            }
            _ => {
                let mut base = match &prev {
                    Prev::None => {
                        let error = Error::new(
                            ErrorKind::Document,
                            "'action: repeat' has no previous document to repeat: it must follow a rule or an 'action: global' document",
                        )
                        .at(Anchor::Path(vec!["action".into()], None));
                        out.push(Piece::Refused { at: doc, error });
                        continue;
                    }
                    Prev::Global => global.as_ref().map(|g| g.entries.clone()).unwrap_or_default(),
                    Prev::Document(d) => d.clone(),
                };
                merge(&mut base, &own, &mut Vec::new(), &mut Vec::new());
                if let Some(piece) = emit(&base, &doc, &mut spent, budget) {
                    out.push(piece);
                }
                match (&prev, &mut global) {
                    (Prev::Global, Some(g)) => {
                        g.entries = base;
                        g.used = true;
                    }
                    _ => prev = Prev::Document(base),
                }
            }
        }
    }
    finish(global, &mut out);
    out
}

/// A merged document, in the place (index and lines) of `doc`, or a limit
/// error once the merged documents of the file exceed `budget`.
fn emit(entries: &Entries, doc: &Document, spent: &mut usize, budget: usize) -> Option<Piece> {
    *spent = spent.saturating_add(size(entries));
    if *spent > budget {
        let error = Error::limit_exceeded(
            "max_rule_bytes",
            budget,
            format!("the documents this rule collection expands to exceed the limit of {budget} bytes"),
        );
        return Some(Piece::Refused { at: doc.clone(), error });
    }
    Some(Piece::Document(Document { value: Yaml::Map(entries.clone()), ..doc.clone() }))
}

/// Refuses a template that no rule document used: pySigma makes no rule of
/// it, and sigmata drops nothing silently.
fn finish(global: Option<Global>, out: &mut Vec<Piece>) {
    if let Some(g) = global
        && !g.used
    {
        let error = Error::new(
            ErrorKind::Document,
            "this 'action: global' document is merged into no rule: no document without 'action' \
             follows it before the next 'global', a 'reset' or the end of the file",
        )
        .at(Anchor::Path(vec!["action".into()], None));
        out.push(Piece::Refused { at: g.at, error });
    }
}

/// pySigma's `deep_dict_update(dest, src)`: every key of `src` is set in
/// `dest` (maps merged recursively, a new key appended after `dest`'s own),
/// and the keys where a `dest` value was replaced by a different one are
/// collected in `conflicts` as key paths.
fn merge(dest: &mut Entries, src: &[(String, Yaml)], path: &mut Vec<String>, conflicts: &mut Vec<Vec<String>>) {
    for (k, v) in src {
        let (i, new) = match dest.iter().position(|(dk, _)| dk == k) {
            Some(i) => (i, false),
            None => {
                dest.push((k.clone(), Yaml::Null));
                (dest.len() - 1, true)
            }
        };
        path.push(k.clone());
        match v {
            Yaml::Map(inner) => {
                if !matches!(dest[i].1, Yaml::Map(_)) {
                    if !new {
                        conflicts.push(path.clone());
                    }
                    dest[i].1 = Yaml::Map(Vec::new());
                }
                if let Yaml::Map(d) = &mut dest[i].1 {
                    merge(d, inner, path, conflicts);
                }
            }
            other => {
                if !new && dest[i].1 != *other {
                    conflicts.push(path.clone());
                }
                dest[i].1 = other.clone();
            }
        }
        path.pop();
    }
}

/// The size of a tree as the YAML reader charges it: a scalar by its
/// length (at least 1), a list or map as 1 plus its contents. Depth is
/// bounded by the YAML reader's nesting limit.
fn size(entries: &[(String, Yaml)]) -> usize {
    fn of(y: &Yaml) -> usize {
        match y {
            Yaml::Str(s) => s.len().max(1),
            Yaml::Seq(items) => items.iter().map(of).fold(1, usize::saturating_add),
            Yaml::Map(entries) => size(entries),
            _ => 1,
        }
    }
    entries.iter().map(|(k, v)| k.len().max(1).saturating_add(of(v))).fold(1, usize::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(text: &str) -> Vec<Piece> {
        expand(crate::front::yaml::parse(text).unwrap(), 1 << 20)
    }

    fn rules(pieces: &[Piece]) -> Vec<(&Yaml, usize)> {
        pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Document(d) => Some((&d.value, d.first_line)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn files_without_actions_pass_through() {
        let pieces = docs("a: 1\n---\nb: 2\n");
        assert_eq!(rules(&pieces).len(), 2);
        assert!(pieces.iter().all(|p| matches!(p, Piece::Document(_))));
    }

    #[test]
    fn global_merges_with_global_values_winning_and_a_warning() {
        let text =
            "action: global\nlevel: high\nd: {x: 1, y: {z: 2}}\n---\ntitle: a\nlevel: low\nd: {w: 0, y: {v: 3}}\n";
        let pieces = docs(text);
        let r = rules(&pieces);
        assert_eq!(r.len(), 1);
        let (v, line) = r[0];
        assert_eq!(line, 5);
        assert_eq!(v.get("level"), Some(&Yaml::Str("high".into())));
        let d = v.get("d").unwrap();
        let Yaml::Map(keys) = d else { panic!() };
        let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["w", "y", "x"]);
        assert_eq!(d.get("y").unwrap().get("v"), Some(&Yaml::Int(3)));
        assert_eq!(d.get("y").unwrap().get("z"), Some(&Yaml::Int(2)));
        assert!(v.get("action").is_none());
        let warnings: Vec<String> = pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Warning { warning, .. } => Some(warning.message().to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("Sigma 1.x rule collection"));
        assert!(warnings[1].contains("'level' is set both here"), "{}", warnings[1]);
    }

    #[test]
    fn repeat_reset_and_refusals() {
        let text = "\
action: repeat
title: nothing before
---
action: global
a: 1
---
title: r1
b: 1
---
action: repeat
title: r2
b: 2
---
action: reset
---
title: r3
---
action: global
unused: true
---
action: merge
";
        let pieces = docs(text);
        let r = rules(&pieces);
        let titles: Vec<_> = r.iter().map(|(v, _)| v.get("title").and_then(Yaml::as_str).unwrap()).collect();
        assert_eq!(titles, ["r1", "r2", "r3"]);
        assert_eq!(r[1].0.get("a"), Some(&Yaml::Int(1)));
        assert_eq!(r[1].0.get("b"), Some(&Yaml::Int(2)));
        assert_eq!(r[2].0.get("a"), None);
        let refused: Vec<(String, usize)> = pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Refused { at, error } => Some((error.message().to_string(), at.first_line)),
                _ => None,
            })
            .collect();
        assert_eq!(refused.len(), 3, "{refused:?}");
        assert!(refused[0].0.contains("no previous document") && refused[0].1 == 1);
        assert!(refused[1].0.contains("unknown collection action 'merge'"), "{refused:?}");
        assert!(refused[2].0.contains("merged into no rule") && refused[2].1 == 18, "{refused:?}");
    }

    #[test]
    fn repeat_after_global_updates_the_template_as_pysigma_does() {
        let text = "action: global\na: 1\n---\naction: repeat\ntitle: t\n---\ntitle: u\n";
        let r: Vec<Yaml> = rules(&docs(text)).into_iter().map(|(v, _)| v.clone()).collect();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].get("a"), Some(&Yaml::Int(1)));
        // The template now holds `title: t`, and wins over the document's own title.
        assert_eq!(r[1].get("title"), Some(&Yaml::Str("t".into())));
    }

    #[test]
    fn the_merged_size_is_bounded() {
        let big = "x".repeat(1000);
        let mut text = format!("action: global\nbig: {big}\n");
        for i in 0..50 {
            text.push_str(&format!("---\ntitle: r{i}\n"));
        }
        let pieces = expand(crate::front::yaml::parse(&text).unwrap(), 10_000);
        let refused = pieces.iter().filter(|p| matches!(p, Piece::Refused { .. })).count();
        assert!(refused > 30, "{refused}");
        assert!(rules(&pieces).len() < 20);
    }
}
