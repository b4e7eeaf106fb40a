//! `sigmata check`: load a rule pack and report what loaded and what did not.

use std::collections::BTreeMap;

use serde_json::json;

use crate::args::{CheckArgs, ReportFormat};
use crate::rules;
use crate::{Failure, Outcome};

/// Runs `check`.
pub fn run(a: &CheckArgs) -> Result<Outcome, Failure> {
    rules::refuse_bundle(&a.rules, "check", "it reports on rule files, which a bundle does not hold")?;
    // A check reports every rule that does not load, whatever its logsource.
    let loaded = rules::load_correlated(&a.rules, rules::Need::All)?;
    let r = &loaded.report;
    let mut lints = lint::lints(&loaded);
    lints.extend(super::check_corr::lints(&loaded));
    match a.format {
        ReportFormat::Text => {
            if a.cost {
                cost::print_text(&loaded.engine);
            }
            for e in &r.errors {
                if a.verbose {
                    println!("{e}\n");
                } else {
                    println!("{}", first_line(e));
                }
            }
            for w in &r.warnings {
                println!("warning: {}", first_line(w));
            }
            for l in &lints {
                println!("warning: {l}");
            }
            if a.verbose {
                for n in &r.not_applicable {
                    println!(
                        "{}:{}: rule '{}' ({}): not applicable to this stream (logsource {})",
                        n.origin.path,
                        n.origin.first_line,
                        n.title,
                        n.id.as_deref().unwrap_or("no id"),
                        n.logsource
                    );
                }
            }
            println!(
                "{} rule files: {} rules loaded, {} refused, {} not applicable to this stream, {} filters{}",
                loaded.files,
                r.rules_loaded,
                r.errors.len(),
                r.not_applicable.len(),
                r.filters_loaded,
                if r.correlations_loaded > 0 {
                    format!(", {} correlations", r.correlations_loaded)
                } else {
                    String::new()
                }
            );
            if !r.not_applicable.is_empty() {
                let top: Vec<String> = by_logsource(r).into_iter().take(8).map(|(l, n)| format!("{l} {n}")).collect();
                println!(
                    "  not applicable by logsource: {}{}",
                    top.join(", "),
                    if by_logsource(r).len() > 8 { ", …" } else { "" }
                );
            }
            if !lints.is_empty() {
                println!("{} lint warnings ({})", lints.len(), lint::summary(&lints));
            }
        }
        ReportFormat::Json => {
            let doc = json!({
                "rule_files": loaded.files,
                "rules_loaded": r.rules_loaded,
                "rules_refused": r.errors.len(),
                "rules_not_applicable": r.not_applicable.len(),
                "filters_loaded": r.filters_loaded,
                "correlations_loaded": r.correlations_loaded,
                "refused": r.errors.iter().map(error_json).collect::<Vec<_>>(),
                "warnings": r.warnings.iter().map(error_json).collect::<Vec<_>>(),
                "lints": lints.iter().map(lint::Lint::to_json).collect::<Vec<_>>(),
                "not_applicable": r.not_applicable.iter().map(|n| json!({
                    "file": &*n.origin.path,
                    "line": n.origin.first_line,
                    "rule_id": n.id,
                    "title": n.title,
                    "logsource": n.logsource.to_string(),
                })).collect::<Vec<_>>(),
            });
            let mut doc = doc;
            if a.cost {
                doc["cost"] = cost::to_json(&loaded.engine);
            }
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
    }
    let warned = !lints.is_empty() || !r.warnings.is_empty();
    Ok(if r.errors.is_empty() && !(a.deny_warnings && warned) { Outcome::Yes } else { Outcome::No })
}

/// The first line of an error (location, rule and reason, without the
/// annotated source).
pub fn first_line(e: &sigmata::Error) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

/// A refused rule as JSON.
pub fn error_json(e: &sigmata::Error) -> serde_json::Value {
    json!({
        "file": e.origin(),
        "line": e.line(),
        "column": e.column(),
        "rule_id": e.rule_id(),
        "title": e.rule_title(),
        "kind": e.kind().as_str(),
        "message": e.message(),
    })
}

fn by_logsource(r: &sigmata::LoadReport) -> Vec<(String, usize)> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for n in &r.not_applicable {
        *counts.entry(n.logsource.to_string()).or_default() += 1;
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// `check --cost`: what each rule costs the pack.
mod cost {
    use std::collections::BTreeMap;

    use serde_json::{Value, json};
    use sigmata::ir::{Target, Test};
    use sigmata::{Engine, RuleId};

    /// Atoms of a witness group listed before "…".
    const LISTED_ATOMS: usize = 4;

    /// Per field: (string literal tests, regexes); and other tests.
    fn tests(engine: &Engine, id: RuleId) -> (BTreeMap<String, (usize, usize)>, usize) {
        let mut per_field: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        let mut other = 0;
        engine.loaded(id).ir.expr.for_each_pred(&mut |p| {
            let field = match p.target {
                Target::Field(f) => engine.fields().name(f).to_string(),
                Target::Keywords => "<keywords>".to_string(),
            };
            match p.test {
                Test::Str { .. } => per_field.entry(field).or_default().0 += 1,
                Test::Regex { .. } => per_field.entry(field).or_default().1 += 1,
                _ => other += 1,
            }
        });
        (per_field, other)
    }

    pub fn print_text(engine: &Engine) {
        let mut always = 0;
        for (id, lr) in engine.rules() {
            let r = &lr.rule;
            println!(
                "{}:{}: '{}' [{}]",
                r.origin.path,
                r.origin.first_line,
                r.title,
                r.id.as_deref().unwrap_or("no id")
            );
            let groups = engine.witness_groups(id);
            if groups.is_empty() {
                always += 1;
                println!("  evaluated for every event (no witness)");
            } else {
                println!("  evaluated only when each witness group has an atom that fired:");
            }
            for (i, g) in groups.iter().enumerate() {
                let listed: Vec<&str> = g.iter().take(LISTED_ATOMS).map(String::as_str).collect();
                let more = if g.len() > LISTED_ATOMS { format!(" | … ({} atoms)", g.len()) } else { String::new() };
                println!("  witness group {}: {}{more}", i + 1, listed.join(" | "));
            }
            let (per_field, other) = tests(engine, id);
            let fields: Vec<String> = per_field
                .iter()
                .map(|(f, (lits, res))| match res {
                    0 => format!("{f} {lits}"),
                    _ => format!("{f} {lits} (+{res} regex)"),
                })
                .collect();
            println!(
                "  literals per field: {}{}",
                if fields.is_empty() { "none".to_string() } else { fields.join(", ") },
                if other > 0 { format!("; {other} other tests") } else { String::new() }
            );
        }
        println!("cost: {} rules, {always} evaluated for every event", engine.len());
    }

    pub fn to_json(engine: &Engine) -> Value {
        let rules: Vec<Value> = engine
            .rules()
            .map(|(id, lr)| {
                let (per_field, other) = tests(engine, id);
                let groups = engine.witness_groups(id);
                json!({
                    "file": &*lr.rule.origin.path,
                    "line": lr.rule.origin.first_line,
                    "rule_id": lr.rule.id,
                    "title": lr.rule.title,
                    "always_evaluated": groups.is_empty(),
                    "witness_groups": groups,
                    "literals": per_field.iter().map(|(f, (l, _))| (f.clone(), json!(l))).collect::<serde_json::Map<_, _>>(),
                    "regexes": per_field.iter().filter(|(_, (_, r))| *r > 0).map(|(f, (_, r))| (f.clone(), json!(r))).collect::<serde_json::Map<_, _>>(),
                    "other_tests": other,
                })
            })
            .collect();
        json!(rules)
    }
}

/// Lints: problems that do not stop a rule from loading but are most likely
/// mistakes, or make the rule expensive. Warnings only.
pub mod lint {
    use std::collections::HashMap;
    use std::fmt;

    use serde_json::{Value, json};
    use sigmata::modifier::Modifier;
    use sigmata::rule::{Branch, Rule, Scalar};
    use sigmata::yaml::PathStep;

    use crate::rules::{self, Loaded};

    /// The fields of the Sigma process_creation taxonomy (the specification's
    /// taxonomy appendix, Sysmon names) plus the additions SigmaHQ's field
    /// allow-list makes for Windows, and the event metadata rules test.
    pub const PROCESS_CREATION_FIELDS: &[&str] = &[
        "UtcTime",
        "ProcessGuid",
        "ProcessId",
        "Image",
        "FileVersion",
        "Description",
        "Product",
        "Company",
        "OriginalFileName",
        "CommandLine",
        "CurrentDirectory",
        "User",
        "LogonGuid",
        "LogonId",
        "TerminalSessionId",
        "IntegrityLevel",
        "Hashes",
        "md5",
        "sha1",
        "sha256",
        "Imphash",
        "imphash",
        "ParentProcessGuid",
        "ParentProcessId",
        "ParentImage",
        "ParentCommandLine",
        "ParentUser",
        "GrandParentImage",
        "GrandparentCommandLine",
        "RuleName",
        "Computer",
        "EventID",
        "Provider_Name",
    ];

    /// One lint warning.
    #[derive(Debug)]
    pub struct Lint {
        /// The rule file.
        pub file: String,
        /// The line the warning is about.
        pub line: usize,
        /// The rule's id.
        pub rule_id: Option<String>,
        /// The rule's title.
        pub title: String,
        /// Which lint: `no-witness`, `duplicate-id`, `no-op-value`, `wildcard-question-mark`, `field-not-in-taxonomy`; for correlations `group-by-field-unknown`, `threshold-over-cap`, `long-timespan` ([`super::super::check_corr`]).
        pub lint: &'static str,
        /// What is wrong.
        pub message: String,
    }

    impl Lint {
        /// As JSON.
        pub fn to_json(&self) -> Value {
            json!({
                "file": self.file, "line": self.line, "rule_id": self.rule_id, "title": self.title,
                "lint": self.lint, "message": self.message,
            })
        }
    }

    impl fmt::Display for Lint {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{}:{}: rule '{}' ", self.file, self.line, self.title)?;
            if let Some(id) = &self.rule_id {
                write!(f, "({id}) ")?;
            }
            write!(f, "[{}]: {}", self.lint, self.message)
        }
    }

    /// Counts by lint, e.g. `no-witness 3, duplicate-id 1`.
    pub fn summary(lints: &[Lint]) -> String {
        let mut counts: Vec<(&str, usize)> = Vec::new();
        for l in lints {
            match counts.iter_mut().find(|(k, _)| *k == l.lint) {
                Some((_, n)) => *n += 1,
                None => counts.push((l.lint, 1)),
            }
        }
        counts.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ")
    }

    struct Ctx<'a> {
        rule: &'a Rule,
        text: Option<String>,
        out: &'a mut Vec<Lint>,
    }

    impl Ctx<'_> {
        fn line(&self, path: &[PathStep<'_>]) -> usize {
            let o = &self.rule.origin;
            self.text
                .as_deref()
                .and_then(|t| sigmata::yaml::locate_path(t, o.first_line, o.last_line, path))
                .unwrap_or(o.first_line)
        }

        fn push(&mut self, line: usize, lint: &'static str, message: String) {
            self.out.push(Lint {
                file: self.rule.origin.path.to_string(),
                line,
                rule_id: self.rule.id.clone(),
                title: self.rule.title.clone(),
                lint,
                message,
            });
        }
    }

    /// True if `s` has a `?` not escaped by a backslash (a one-character wildcard).
    fn has_wildcard_question_mark(s: &str) -> bool {
        let mut escaped = false;
        for c in s.chars() {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '?') => return true,
                _ => {}
            }
        }
        false
    }

    /// A value that reads like a URL or a query string (`?id=`), where a `?`
    /// is almost certainly meant literally.
    fn looks_like_url(s: &str) -> bool {
        let lower = s.to_lowercase();
        if lower.contains("://") || lower.contains("www.") {
            return true;
        }
        // `?name=`: a query string.
        lower.match_indices('?').any(|(i, _)| {
            let rest = &lower[i + 1..];
            let name_len = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').count();
            name_len > 0 && rest[name_len..].starts_with('=')
        })
    }

    /// Every lint of every loaded rule, and duplicate ids across the pack.
    pub fn lints(loaded: &Loaded) -> Vec<Lint> {
        let mut out = Vec::new();
        let engine = &loaded.engine;
        let mut seen: HashMap<String, (String, usize, String)> = HashMap::new();
        for (id, lr) in engine.rules() {
            let rule = &lr.rule;
            let mut cx = Ctx { rule, text: rules::source_text(&rule.origin.path), out: &mut out };
            if engine.witness_groups(id).is_empty() {
                let line = cx.line(&[PathStep::Key("detection")]);
                cx.push(
                    line,
                    "no-witness",
                    "no selective witness literal: the rule is evaluated for every event (test a literal of 3 or \
                     more characters that every match must contain)"
                        .into(),
                );
            }
            if let Some(rid) = &rule.id {
                match seen.get(rid) {
                    Some((file, line, title)) => {
                        let line_here = cx.line(&[PathStep::Key("id")]);
                        cx.push(
                            line_here,
                            "duplicate-id",
                            format!("duplicate rule id {rid}: also the id of '{title}' at {file}:{line}"),
                        );
                    }
                    None => {
                        let line = cx.line(&[PathStep::Key("id")]);
                        seen.insert(rid.clone(), (rule.origin.path.to_string(), line, rule.title.clone()));
                    }
                }
            }
            let taxonomy =
                rule.logsource.category.as_deref().is_some_and(|c| c.eq_ignore_ascii_case("process_creation"));
            for search in &rule.detection.searches {
                for (bi, branch) in search.branches.iter().enumerate() {
                    let Branch::Items(items) = branch else { continue };
                    for item in items {
                        let mut path = vec![PathStep::Key("detection"), PathStep::Key(&search.name)];
                        if search.branches.len() > 1 {
                            path.push(PathStep::Index(bi));
                        }
                        path.push(PathStep::Key(&item.key));
                        let line = cx.line(&path);
                        item_lints(&mut cx, line, item, taxonomy);
                    }
                }
            }
        }
        for n in &loaded.report.not_applicable {
            if let Some(rid) = &n.id
                && let Some((file, line, title)) = seen.get(rid)
            {
                out.push(Lint {
                    file: n.origin.path.to_string(),
                    line: n.origin.first_line,
                    rule_id: Some(rid.clone()),
                    title: n.title.clone(),
                    lint: "duplicate-id",
                    message: format!("duplicate rule id {rid}: also the id of '{title}' at {file}:{line}"),
                });
            }
        }
        out
    }

    fn item_lints(cx: &mut Ctx<'_>, line: usize, item: &sigmata::rule::Item, taxonomy: bool) {
        let m = &item.modifiers;
        let is_re = m.contains(&Modifier::Re);
        let position = m.iter().find(|m| matches!(m, Modifier::Contains | Modifier::StartsWith | Modifier::EndsWith));
        let plain_string = !m.iter().any(|m| {
            matches!(
                m,
                Modifier::Re
                    | Modifier::Cidr
                    | Modifier::Exists
                    | Modifier::FieldRef
                    | Modifier::Lt
                    | Modifier::Lte
                    | Modifier::Gt
                    | Modifier::Gte
                    | Modifier::Base64
                    | Modifier::Base64Offset
            )
        });
        for v in &item.values {
            let Scalar::Str(s) = v else { continue };
            if let Some(p) = position
                && !is_re
                && s.chars().all(|c| c == '*')
            {
                cx.push(
                    line,
                    "no-op-value",
                    format!("'{}': the value '{s}' under '{p}' matches every value: the test is a no-op", item.key),
                );
            }
            if plain_string && has_wildcard_question_mark(s) && looks_like_url(s) {
                cx.push(
                    line,
                    "wildcard-question-mark",
                    format!(
                        "'{}': '?' in '{s}' is a wildcard for any one character; the value looks like a URL, so it \
                         was probably meant literally: write '\\?'",
                        item.key
                    ),
                );
            }
        }
        if taxonomy
            && let Some(field) = &item.field
            && !PROCESS_CREATION_FIELDS.contains(&field.as_str())
        {
            let hint = PROCESS_CREATION_FIELDS
                .iter()
                .find(|f| f.eq_ignore_ascii_case(field))
                .map(|f| format!(" (did you mean '{f}'?)"))
                .unwrap_or_default();
            cx.push(
                line,
                "field-not-in-taxonomy",
                format!("field '{field}' is not in the Sigma process_creation taxonomy{hint}"),
            );
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn question_marks_and_urls() {
            assert!(has_wildcard_question_mark("http://x/a.php?id=1"));
            assert!(!has_wildcard_question_mark(r"http://x/a.php\?id=1"));
            assert!(looks_like_url("http://x/a"));
            assert!(looks_like_url("/index.php?page="));
            assert!(!looks_like_url(r"C:\Windows\?\x"));
            assert!(!looks_like_url("a?b"));
        }
    }
}
