//! Stage 1: the Sigma rule document, typed but otherwise as written.
//!
//! `parse` turns one YAML document into a [`Document`]: a detection
//! [`Rule`], a meta [`Filter`] (Sigma 2.0 filters) or a [`Correlation`]
//! (see [`Correlation`]). Nothing is
//! compiled here: values keep their escapes and wildcards, modifiers are only
//! named, the condition is still text. The model keeps every metadata key,
//! including custom ones, so that tools can print rules back faithfully.

mod correlation;
mod parse;

use std::sync::Arc;

use crate::front::modifier::Modifier;
pub use crate::front::yaml::Yaml;

pub(crate) use correlation::parse_timespan;
pub use correlation::{Alias, CmpOp, Correlation, CorrelationKind};
pub(crate) use parse::parse;

/// Where a rule document came from.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The file path (or another label, such as `<stdin>` or an embedded pack path).
    pub path: Arc<str>,
    /// 0-based index of the document inside a multi-document file. A rule
    /// made from a Sigma 1.x collection has the index and lines of its own
    /// document (the one without `action`, or the `repeat`), not the
    /// template's.
    pub document: usize,
    /// First line (1-based) of the document.
    pub first_line: usize,
    /// Last line (1-based, inclusive) of the document.
    pub last_line: usize,
}

/// One YAML document of a rule file.
// Documents are short-lived (parsed, then moved into the engine), so the
// size difference between the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Document {
    /// A detection rule.
    Rule(Rule),
    /// A meta filter whose condition is AND-ed onto other rules.
    Filter(Filter),
    /// A correlation rule over the matches of other rules.
    Correlation(Correlation),
}

/// The `status` of a rule.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(missing_docs)]
pub enum Status {
    Unsupported,
    Deprecated,
    Experimental,
    Test,
    Stable,
}

impl Status {
    /// The status as written in rules.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Stable => "stable",
            Status::Test => "test",
            Status::Experimental => "experimental",
            Status::Deprecated => "deprecated",
            Status::Unsupported => "unsupported",
        }
    }
}

/// The `level` of a rule, ordered from least to most severe.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(missing_docs)]
pub enum Level {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Level {
    /// The level as written in rules.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Informational => "informational",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }
}

/// An entry of `related`.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Related {
    /// The related rule's id.
    pub id: String,
    /// `derived`, `obsolete`, `merged`, `renamed` or `similar`.
    pub kind: String,
}

/// The `logsource` of a rule or filter.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, Default, PartialEq)]
pub struct LogSource {
    /// e.g. `process_creation`.
    pub category: Option<String>,
    /// e.g. `windows`, `linux`, `macos`.
    pub product: Option<String>,
    /// e.g. `security`, `sysmon`.
    pub service: Option<String>,
    /// Free-text description of the source.
    pub definition: Option<String>,
    /// Any other keys, in document order.
    pub custom: Vec<(String, Yaml)>,
}

impl LogSource {
    /// True if this (a filter's) logsource covers `other` (a rule's): every
    /// field set here is set to the same value there, as in pySigma.
    pub fn covers(&self, other: &LogSource) -> bool {
        let same = |a: &Option<String>, b: &Option<String>| match a {
            None => true,
            Some(a) => b.as_deref().is_some_and(|b| b.eq_ignore_ascii_case(a)),
        };
        same(&self.category, &other.category)
            && same(&self.product, &other.product)
            && same(&self.service, &other.service)
    }
}

impl std::fmt::Display for LogSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = [("category", &self.category), ("product", &self.product), ("service", &self.service)]
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .collect();
        if parts.is_empty() { f.write_str("(empty logsource)") } else { f.write_str(&parts.join(",")) }
    }
}

/// A detection rule.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug)]
pub struct Rule {
    /// `title` (required).
    pub title: String,
    /// `id`, normally a UUID.
    pub id: Option<String>,
    /// `name`, a unique name other rules may refer to.
    pub name: Option<String>,
    /// `status`.
    pub status: Option<Status>,
    /// `description`.
    pub description: Option<String>,
    /// `license`.
    pub license: Option<String>,
    /// `author`.
    pub author: Option<String>,
    /// `references`.
    pub references: Vec<String>,
    /// `date` (as written, normally `YYYY-MM-DD`).
    pub date: Option<String>,
    /// `modified`.
    pub modified: Option<String>,
    /// `tags`, e.g. `attack.t1059.001`.
    pub tags: Vec<String>,
    /// `falsepositives`.
    pub falsepositives: Vec<String>,
    /// `level`.
    pub level: Option<Level>,
    /// `fields`.
    pub fields: Vec<String>,
    /// `related`.
    pub related: Vec<Related>,
    /// `taxonomy` (default `sigma`).
    pub taxonomy: Option<String>,
    /// `scope`.
    pub scope: Vec<String>,
    /// `logsource`.
    pub logsource: LogSource,
    /// `detection`.
    pub detection: Detection,
    /// Every other top-level key, in document order (e.g. SigmaHQ's
    /// `regression_tests_path` and `simulation`).
    pub custom: Vec<(String, Yaml)>,
    /// Where the rule came from.
    pub origin: Origin,
}

/// A Sigma 2.0 meta filter: its condition is AND-ed onto the condition of
/// each rule it names (or every rule of its logsource).
#[derive(Clone, Debug)]
pub struct Filter {
    /// `title`.
    pub title: String,
    /// `id`.
    pub id: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// The logsource the filter applies to.
    pub logsource: LogSource,
    /// The rules the filter applies to.
    pub targets: FilterTargets,
    /// The filter's search identifiers and its one condition.
    pub detection: Detection,
    /// Every other top-level key.
    pub custom: Vec<(String, Yaml)>,
    /// Where the filter came from.
    pub origin: Origin,
}

/// Which rules a [`Filter`] applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterTargets {
    /// Every rule whose logsource the filter's logsource covers
    /// (`rules: any`, `rules: all` or an empty list).
    Any,
    /// Rules named by id or `name`.
    Rules(Vec<String>),
}

/// The `detection` section: named searches and the condition over them.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, Default)]
pub struct Detection {
    /// Search identifiers in document order.
    pub searches: Vec<Search>,
    /// The condition(s); a list of conditions means the OR of them.
    pub conditions: Vec<String>,
}

impl Detection {
    /// Looks up a search identifier by name.
    pub fn search(&self, name: &str) -> Option<&Search> {
        self.searches.iter().find(|s| s.name == name)
    }
}

/// One search identifier: the OR of its branches.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug)]
pub struct Search {
    /// The identifier, e.g. `selection_img`.
    pub name: String,
    /// A map is one branch; a list of maps or keywords is several.
    pub branches: Vec<Branch>,
}

/// One alternative of a search identifier.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug)]
pub enum Branch {
    /// A map: the AND of its items.
    Items(Vec<Item>),
    /// A keyword: a value searched for in every value of the event.
    Keyword(Scalar),
}

/// One `field|modifiers: values` entry of a map.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug)]
pub struct Item {
    /// The key as written, e.g. `CommandLine|contains|all`.
    pub key: String,
    /// The field name; `None` for keyword items such as `'|all': […]`.
    pub field: Option<String>,
    /// Modifiers in the order written.
    pub modifiers: Vec<Modifier>,
    /// The values. A single scalar is a one-element list; an empty YAML list
    /// is an empty vector (pySigma reads it as `null`).
    pub values: Vec<Scalar>,
    /// True if the YAML value was a list.
    pub is_list: bool,
}

/// A scalar value from a rule.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub enum Scalar {
    /// `null`, `~` or an empty value.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// Another number.
    Float(f64),
    /// A string, escapes and wildcards still in place.
    Str(String),
}

impl Scalar {
    /// The value's text, as a string comparison sees it (`4688`, `true`).
    pub fn text(&self) -> Option<String> {
        match self {
            Scalar::Null => None,
            Scalar::Bool(b) => Some(b.to_string()),
            Scalar::Int(i) => Some(i.to_string()),
            Scalar::Float(f) => Some(format_float(*f)),
            Scalar::Str(s) => Some(s.clone()),
        }
    }
}

/// Formats a float the way JSON writers do (`1.0`, `2.5`, `1e300`), so that
/// rule numbers and event numbers compare by the same text.
pub(crate) fn format_float(f: f64) -> String {
    format!("{f:?}")
}
