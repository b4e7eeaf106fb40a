//! [`Builder`]: rule files in, an [`Engine`] and a [`LoadReport`] out.
//!
//! Loading is lenient: one bad rule never sinks the others, and nothing is
//! dropped silently. Every document of every file ends up in exactly one of
//! three places: loaded into the engine, refused with an [`Error`], or
//! loaded-but-not-applicable (its logsource is not the stream's).

use std::sync::Arc;

use crate::config::Config;
use crate::correlate::Correlations;
use crate::error::{Error, ErrorKind};
use crate::exec::Engine;
use crate::front::collection::Piece;
use crate::front::rule::{self, Document, Filter, FilterTargets, LogSource, Origin, Rule};
use crate::ir::LoadedRule;
use crate::ir::{self, Expr, FieldTable, Placeholders};

/// A rule that loaded but whose logsource is not the one being evaluated.
#[derive(Clone, Debug)]
pub struct NotApplicable {
    /// Where the rule came from.
    pub origin: Origin,
    /// The rule's id.
    pub id: Option<String>,
    /// The rule's title.
    pub title: String,
    /// The rule's `name`.
    pub name: Option<String>,
    /// The rule's logsource.
    pub logsource: LogSource,
}

/// What happened to every document given to a [`Builder`].
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// Documents (or whole files) that were refused, with the reason.
    pub errors: Vec<Error>,
    /// Rules that loaded but do not apply to the configured logsource.
    pub not_applicable: Vec<NotApplicable>,
    /// Problems that did not refuse anything, e.g. a filter naming a rule
    /// that is not loaded, or a file in the Sigma 1.x collection form.
    pub warnings: Vec<Error>,
    /// Number of rules in the engine.
    pub rules_loaded: usize,
    /// Number of filters that loaded (and were applied where they match).
    pub filters_loaded: usize,
    /// Number of correlation rules that loaded ([`Builder::build_correlated`]).
    pub correlations_loaded: usize,
}

impl LoadReport {
    /// Number of refused documents.
    pub fn rules_refused(&self) -> usize {
        self.errors.len()
    }
}

#[derive(Clone, Debug)]
struct Source {
    origin: Arc<str>,
    text: Arc<str>,
    /// Set when the file's bytes were not UTF-8 (then `text` is empty).
    invalid_utf8: Option<std::str::Utf8Error>,
    /// The byte ranges of the text's lines, found when the first error is located.
    lines: std::sync::OnceLock<Vec<(usize, usize)>>,
}

/// Collects rule files and builds an [`Engine`].
///
/// ```
/// let rule = r#"
/// title: Encoded PowerShell
/// id: 6f8e4a1c-0000-4000-8000-000000000001
/// logsource: {category: process_creation, product: windows}
/// detection:
///     selection:
///         Image|endswith: '\powershell.exe'
///         CommandLine|contains|windash: ' -enc '
///     condition: selection
/// level: high
/// "#;
/// let (engine, report) = sigmata::Builder::new().add_source("encoded.yml", rule).build();
/// assert!(report.errors.is_empty());
/// let event = serde_json::json!({
///     "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
///     "CommandLine": "powershell.exe /enc SQBFAFgA",
/// });
/// let matches = engine.matches(&event);
/// assert_eq!(engine.rule(matches.iter().next().unwrap()).title, "Encoded PowerShell");
/// ```
#[derive(Clone, Debug, Default)]
pub struct Builder {
    config: Config,
    placeholders: Placeholders,
    sources: Vec<Source>,
    /// Threads that parse rule files (0 and 1: the calling thread only).
    threads: usize,
    /// Lower the rules the logsource does not cover too (to report their errors).
    check_all: bool,
}

impl NotApplicable {
    fn of(rule: &Rule) -> NotApplicable {
        NotApplicable {
            origin: rule.origin.clone(),
            id: rule.id.clone(),
            title: rule.title.clone(),
            name: rule.name.clone(),
            logsource: rule.logsource.clone(),
        }
    }
}

impl Builder {
    /// A builder with the default [`Config`] and no placeholders.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Sets the configuration.
    pub fn config(&mut self, config: Config) -> &mut Builder {
        self.config = config;
        self
    }

    /// Sets the values of `expand` placeholders.
    pub fn placeholders(&mut self, placeholders: Placeholders) -> &mut Builder {
        self.placeholders = placeholders;
        self
    }

    /// Also lowers the rules that the configured logsource does not cover,
    /// so that their errors are reported (as `sigmata check` does). By
    /// default such a rule is reported as not applicable without being
    /// lowered: nothing evaluates it, and lowering the 2,300 rules of other
    /// logsources was a tenth of loading the whole SigmaHQ repository.
    /// Either way a rule that does not load is never dropped silently.
    pub fn check_all(&mut self, yes: bool) -> &mut Builder {
        self.check_all = yes;
        self
    }

    /// Parses rule files on `n` threads (default 1: the calling thread
    /// only; the library starts no thread unless asked). YAML parsing is
    /// most of the load time of a large pack; the result, including the
    /// order of errors, does not depend on `n`.
    pub fn threads(&mut self, n: usize) -> &mut Builder {
        self.threads = n;
        self
    }

    /// Adds the text of one rule file. `origin` names it in errors and
    /// matches (normally its path).
    pub fn add_source(&mut self, origin: &str, text: &str) -> &mut Builder {
        self.sources.push(Source {
            origin: origin.into(),
            text: text.into(),
            invalid_utf8: None,
            lines: std::sync::OnceLock::new(),
        });
        self
    }

    /// Adds a rule file as raw bytes; a file that is not UTF-8 is refused
    /// (and reported) at build time.
    pub fn add_source_bytes(&mut self, origin: &str, bytes: &[u8]) -> &mut Builder {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.add_source(origin, text),
            Err(e) => {
                self.sources.push(Source {
                    origin: origin.into(),
                    text: "".into(),
                    invalid_utf8: Some(e),
                    lines: std::sync::OnceLock::new(),
                });
                self
            }
        }
    }

    /// Builds the engine. Never fails as a whole: what could not load is in
    /// the report. Correlation rules need a [`Correlator`](crate::correlate::Correlator)
    /// next to the engine, which this form has no room for: each is reported
    /// as refused (kind `unsupported`), naming [`Builder::build_correlated`];
    /// the rules they refer to load and match as usual.
    pub fn build(&self) -> (Engine, LoadReport) {
        let (engine, correlations, mut report) = self.build_correlated();
        for c in correlations.rules() {
            let si = self.sources.iter().position(|s| s.origin == c.doc.origin.path).unwrap_or(0);
            let mut e = Error::new(
                ErrorKind::Unsupported,
                format!(
                    "correlation rule ({}) not evaluated here: this tool matches single events (`sigmata scan` evaluates correlations)",
                    c.doc.kind.as_str()
                ),
            );
            self.finish_error(&mut e, si, &c.doc.origin, c.doc.id.as_deref(), Some(&c.doc.title));
            report.errors.push(e);
        }
        report.correlations_loaded = 0;
        (engine, report)
    }

    /// Builds the engine and resolves the correlation rules against it.
    /// A correlation that does not resolve is refused in the report; the
    /// rules it names load regardless.
    pub fn build_correlated(&self) -> (Engine, Correlations, LoadReport) {
        let mut report = LoadReport::default();
        let mut correlations: Vec<(rule::Correlation, usize)> = Vec::new();
        let mut rules: Vec<(Rule, usize)> = Vec::new();
        let mut filters: Vec<(Filter, usize)> = Vec::new();
        for (si, (docs, errors, warnings)) in self.parse_sources().into_iter().enumerate() {
            report.errors.extend(errors);
            report.warnings.extend(warnings);
            for doc in docs {
                match doc {
                    Document::Rule(r) => rules.push((r, si)),
                    Document::Filter(f) => filters.push((f, si)),
                    Document::Correlation(c) => correlations.push((c, si)),
                }
            }
        }

        let mut fields = FieldTable::new();
        let mut lowered_filters: Vec<(Filter, Expr, usize)> = Vec::new();
        for (f, si) in filters {
            match ir::lower_filter(&f, &mut fields, &self.placeholders, &self.config) {
                Ok(e) => lowered_filters.push((f, e, si)),
                Err(mut e) => {
                    self.finish_error(&mut e, si, &f.origin, f.id.as_deref(), Some(&f.title));
                    report.errors.push(e);
                }
            }
        }
        report.filters_loaded = lowered_filters.len();

        let mut loaded = Vec::new();
        let mut todo = Vec::new();
        for (rule, si) in rules {
            let applicable = self.config.logsource.as_ref().is_none_or(|l| l.covers(&rule.logsource));
            if !applicable && !self.check_all {
                report.not_applicable.push(NotApplicable::of(&rule));
                continue;
            }
            todo.push((rule, si, applicable));
        }
        let applied = |rule: &Rule| -> Vec<&(Filter, Expr, usize)> {
            lowered_filters.iter().filter(|(f, _, _)| filter_applies(f, rule)).collect()
        };
        let lower = |rule: &Rule, fields: &mut FieldTable| {
            let exprs: Vec<Expr> = applied(rule).iter().map(|(_, e, _)| e.clone()).collect();
            ir::lower_rule(rule, &exprs, fields, &self.placeholders, &self.config)
        };
        // Without filters (whose expressions hold the pack's field ids) each
        // rule is lowered on its own field table, on every thread, and its
        // fields are then interned into the pack's table in rule order:
        // the same ids as lowering one rule after the other (a rule that
        // fails keeps the fields it had interned, as it would). The SigmaHQ
        // Windows pack lowers in 11 ms on two threads instead of 16 on one.
        let results: Vec<Result<ir::RuleIr, Error>> = if lowered_filters.is_empty() {
            let each = in_order(&todo, self.threads, |(rule, _, _)| {
                let mut own = FieldTable::new();
                let result = lower(rule, &mut own);
                (result, own)
            });
            each.into_iter()
                .map(|(result, own)| {
                    let ids: Vec<ir::FieldId> = own.iter().map(|(_, name)| fields.intern(name)).collect();
                    result.map(|mut ir| {
                        ir.expr.map_fields(&|f| ids.get(f.index()).copied().unwrap_or(f));
                        ir
                    })
                })
                .collect()
        } else {
            todo.iter().map(|(rule, _, _)| lower(rule, &mut fields)).collect()
        };
        for ((rule, si, applicable), result) in todo.into_iter().zip(results) {
            match result {
                Ok(ir) => {
                    if applicable {
                        let filters = applied(&rule).iter().map(|(f, _, _)| f.title.clone()).collect();
                        loaded.push(LoadedRule { rule, ir, filters });
                    } else {
                        report.not_applicable.push(NotApplicable::of(&rule));
                    }
                }
                Err(mut e) => {
                    self.finish_error(&mut e, si, &rule.origin, rule.id.as_deref(), Some(&rule.title));
                    report.errors.push(e);
                }
            }
        }

        for (f, _, si) in &lowered_filters {
            if let FilterTargets::Rules(names) = &f.targets {
                for name in names {
                    let known = loaded.iter().any(|r| {
                        r.rule.id.as_deref() == Some(name.as_str()) || r.rule.name.as_deref() == Some(name.as_str())
                    }) || report.not_applicable.iter().any(|r| r.id.as_deref() == Some(name.as_str()));
                    if !known {
                        let mut w = Error::new(
                            ErrorKind::Document,
                            format!(
                                "filter names rule '{name}', which is not among the loaded rules; it filters nothing there"
                            ),
                        );
                        self.finish_error(&mut w, *si, &f.origin, f.id.as_deref(), Some(&f.title));
                        report.warnings.push(w);
                    }
                }
            }
        }

        let (engine, compile_errors) = Engine::compile(loaded, fields, &self.config, &self.placeholders, self.threads);
        for (rule, mut e) in compile_errors {
            let si = self.sources.iter().position(|s| s.origin == rule.origin.path).unwrap_or(0);
            self.finish_error(&mut e, si, &rule.origin, rule.id.as_deref(), Some(&rule.title));
            report.errors.push(e);
        }
        report.rules_loaded = engine.len();
        let sources: Vec<usize> = correlations.iter().map(|(_, si)| *si).collect();
        let docs: Vec<rule::Correlation> = correlations.into_iter().map(|(c, _)| c).collect();
        let meta: Vec<(Origin, Option<String>, String)> =
            docs.iter().map(|d| (d.origin.clone(), d.id.clone(), d.title.clone())).collect();
        let mut elsewhere = std::collections::HashMap::new();
        for n in &report.not_applicable {
            let why = format!("its logsource {} is not the stream's", n.logsource);
            for key in [n.id.as_ref(), n.name.as_ref()].into_iter().flatten() {
                elsewhere.insert(key.clone(), why.clone());
            }
        }
        let (correlations, errors) = Correlations::resolve(&engine, docs, &elsewhere);
        for (i, mut e) in errors {
            let (origin, id, title) = &meta[i];
            self.finish_error(&mut e, sources[i], origin, id.as_deref(), Some(title));
            report.errors.push(e);
        }
        // A group-by alias with no entry for some referenced rule reads the
        // alias name itself in that rule's events: legal, but usually a slip.
        for c in correlations.rules() {
            for a in c.doc.aliases.iter().filter(|a| c.doc.group_by.contains(&a.name)) {
                for r in c.doc.rules.iter().filter(|r| !a.fields.iter().any(|(n, _)| n == *r)) {
                    let mut w = Error::new(
                        ErrorKind::Correlation,
                        format!(
                            "alias '{}' has no entry for rule '{r}': its events are grouped by a field named '{}'",
                            a.name, a.name
                        ),
                    )
                    .at(crate::error::Anchor::Path(vec!["correlation".into(), "aliases".into(), a.name.clone()], None));
                    let si = self.sources.iter().position(|s| s.origin == c.doc.origin.path).unwrap_or(0);
                    self.finish_error(&mut w, si, &c.doc.origin, c.doc.id.as_deref(), Some(&c.doc.title));
                    report.warnings.push(w);
                }
            }
        }
        report.correlations_loaded = correlations.len();
        (engine, correlations, report)
    }

    /// Every source parsed, in order: its documents, its errors and its warnings.
    fn parse_sources(&self) -> Vec<(Vec<Document>, Vec<Error>, Vec<Error>)> {
        let parse = |src: &Source| {
            let mut report = LoadReport::default();
            let docs = self.parse_source(src, &mut report);
            (docs, report.errors, report.warnings)
        };
        in_order(&self.sources, self.threads, parse)
    }

    fn parse_source(&self, src: &Source, report: &mut LoadReport) -> Vec<Document> {
        let whole_file = |mut e: Error| {
            e.set_origin(&src.origin);
            if let crate::error::Anchor::Line { line, column } = e.anchor().clone() {
                let snippet = src.text.lines().nth(line.saturating_sub(1)).map(|s| s.trim_end().to_string());
                e.set_position(line, Some(column), 1, snippet);
            }
            e
        };
        if let Some(e) = src.invalid_utf8 {
            report.errors.push(whole_file(Error::new(
                ErrorKind::Yaml,
                format!("the file is not valid UTF-8 (first bad byte at offset {})", e.valid_up_to()),
            )));
            return Vec::new();
        }
        if src.text.len() > self.config.max_rule_bytes {
            report.errors.push(whole_file(Error::limit_exceeded(
                "max_rule_bytes",
                self.config.max_rule_bytes,
                format!("the file has {} bytes, more than the limit of {}", src.text.len(), self.config.max_rule_bytes),
            )));
            return Vec::new();
        }
        let docs = match crate::front::yaml::parse_limited(&src.text, self.config.max_rule_bytes) {
            Ok(d) => d,
            Err(e) => {
                report.errors.push(whole_file(e));
                return Vec::new();
            }
        };
        let mut out = Vec::with_capacity(docs.len());
        let origin_of = |d: &crate::front::yaml::Document| Origin {
            path: src.origin.clone(),
            document: d.index,
            first_line: d.first_line,
            last_line: d.last_line,
        };
        let finish = |mut e: Error, d: &crate::front::yaml::Document| {
            let id = d.value.get("id").and_then(|v| v.as_str()).map(str::to_string);
            let title = d.value.get("title").and_then(|v| v.as_str()).map(str::to_string);
            e.set_origin(&src.origin);
            e.set_rule(id.as_deref(), title.as_deref());
            locate(&mut e, src, &origin_of(d));
            e
        };
        // Sigma 1.x collections become plain documents first (a file
        // without `action` keys passes through as it is).
        for piece in crate::front::collection::expand(docs, self.config.max_rule_bytes) {
            let d = match piece {
                Piece::Document(d) => d,
                Piece::Refused { at, error } => {
                    report.errors.push(finish(error, &at));
                    continue;
                }
                Piece::Warning { at, warning } => {
                    report.warnings.push(finish(warning, &at));
                    continue;
                }
            };
            match rule::parse(&d.value, origin_of(&d)) {
                Ok(doc) => out.push(doc),
                Err(e) => report.errors.push(finish(e, &d)),
            }
        }
        out
    }

    fn finish_error(&self, e: &mut Error, source: usize, origin: &Origin, id: Option<&str>, title: Option<&str>) {
        e.set_origin(&origin.path);
        e.set_rule(id, title);
        if let Some(src) = self.sources.get(source) {
            locate(e, src, origin);
        }
    }
}

fn locate(e: &mut Error, src: &Source, origin: &Origin) {
    // The file's lines are found once, for all of its errors.
    let spans = src.lines.get_or_init(|| crate::front::yaml::Lines::spans(&src.text));
    let lines = crate::front::yaml::Lines::new(&src.text, spans);
    if let Some(p) = crate::front::yaml::locate(&lines, origin.first_line, origin.last_line, e.anchor()) {
        e.set_position(p.line, p.column, p.width, Some(p.snippet));
    }
}

/// `f` of every item, in order, on up to `threads` threads. The items are
/// cut into a few chunks per thread, which the threads take in turn, so
/// that a run of costly items does not leave one thread working alone.
fn in_order<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads.min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let chunks: Vec<&[T]> = items.chunks(items.len().div_ceil(threads * 8)).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (f, chunks, next) = (&f, &chunks, &next);
    let mut done: Vec<(usize, Vec<R>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(part) = chunks.get(i) else { break mine };
                        mine.push((i, part.iter().map(f).collect()));
                    }
                })
            })
            .collect();
        // A worker only panics if `f` does, which would have panicked on
        // this thread too.
        workers.into_iter().flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().flat_map(|(_, r)| r).collect()
}

/// A filter applies to a rule when the filter's logsource covers the rule's
/// and the filter names the rule (by id or name) or names no rule at all.
fn filter_applies(f: &Filter, r: &Rule) -> bool {
    f.logsource.covers(&r.logsource)
        && match &f.targets {
            FilterTargets::Any => true,
            FilterTargets::Rules(names) => {
                names.iter().any(|n| r.id.as_deref() == Some(n.as_str()) || r.name.as_deref() == Some(n.as_str()))
            }
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rule with `items` as its one selection.
    fn rule(i: usize, items: &str) -> String {
        format!(
            "title: r{i}\nid: 00000000-0000-0000-0000-{i:012}\nlogsource:\n  category: process_creation\n  \
             product: windows\ndetection:\n  sel:\n{items}\n  condition: sel\n"
        )
    }

    /// Rules lowered apart, each on its own field table, on any number of
    /// threads, end with the field ids and expressions of rules lowered one
    /// after the other against one table, fields of a rule that fails
    /// (after interning some) included.
    #[test]
    fn rules_lowered_apart_get_the_ids_of_rules_lowered_in_turn() {
        let too_deep = "a.b.c.d.e.f.g.h.i.j";
        let sources: Vec<String> = (0..40)
            .map(|i| match i % 5 {
                0 => rule(i, &format!("    F{i}|contains: x\n    Image|endswith: '\\\\cmd.exe'")),
                1 => rule(i, &format!("    G{i}|fieldref: CommandLine\n    ParentImage: y")),
                2 => rule(i, &format!("    H{i}: z\n    {too_deep}: w")),
                3 => rule(i, &format!("    CommandLine|fieldref|contains: I{i}\n    I{i}|re: 'a.c'")),
                _ => rule(i, "    User: u"),
            })
            .collect();
        let builder = |threads| {
            let mut b = Builder::new();
            b.threads(threads);
            for (i, text) in sources.iter().enumerate() {
                b.add_source(&format!("r{i}.yml"), text);
            }
            b
        };
        // One after the other, against one table.
        let mut fields = FieldTable::new();
        let mut expected = Vec::new();
        for (docs, _, _) in builder(1).parse_sources() {
            for doc in docs {
                if let Document::Rule(r) = doc
                    && let Ok(ir) = ir::lower_rule(&r, &[], &mut fields, &Placeholders::default(), &Config::new())
                {
                    expected.push(ir.expr);
                }
            }
        }
        assert_eq!(expected.len(), 32, "the rules with a name too deep fail");
        for threads in [1, 2, 3] {
            let (engine, report) = builder(threads).build();
            assert_eq!(report.errors.len(), 8, "{threads} threads");
            let names: Vec<&str> = engine.fields().iter().map(|(_, n)| n).collect();
            let want: Vec<&str> = fields.iter().map(|(_, n)| n).collect();
            assert_eq!(names, want, "{threads} threads");
            let got: Vec<&Expr> = engine.rules().map(|(_, r)| &r.ir.expr).collect();
            assert_eq!(got, expected.iter().collect::<Vec<_>>(), "{threads} threads");
        }
    }
}
