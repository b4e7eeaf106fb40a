//! Load errors: one opaque [`Error`] type for everything that can go wrong
//! while turning rule text into an [`Engine`](crate::Engine).
//!
//! Evaluation never fails, so every error here happens at load time and is
//! attributed to the rule file, the document in it, the rule's id and title,
//! and the line and column that caused it. `Display` prints all of that with
//! the offending source line and a caret under the column, the way
//! `regex-syntax` annotates pattern errors.

use std::fmt;

/// The broad category of an [`Error`]. Callers that only report errors can
/// ignore it; callers that want to treat, say, unresolved placeholders
/// differently from syntax errors can match on it.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The text is not valid YAML (or a YAML document is not a map).
    Yaml,
    /// A required key is missing or a metadata key has the wrong type or value.
    Document,
    /// A search identifier (selection) has a shape Sigma does not define.
    Detection,
    /// A field modifier is unknown, or modifiers are chained in a way that
    /// has no meaning (for example `re` after `contains`).
    Modifier,
    /// A value does not suit its modifiers (a wildcard under `base64`, a
    /// non-numeric value under `gt`, an invalid CIDR network…).
    Value,
    /// A regular expression does not compile.
    Regex,
    /// The condition does not parse or refers to identifiers that do not exist.
    Condition,
    /// An `expand` placeholder has no configured values.
    Placeholder,
    /// A configured size or nesting limit was exceeded.
    Limit,
    /// A valid Sigma construct that sigmata does not evaluate (for example
    /// the deprecated pipe aggregations).
    Unsupported,
    /// A correlation rule is malformed or refers to rules that do not exist.
    Correlation,
    /// A rule bundle is damaged, of another format or sigmata version, or
    /// was built with limits above the loader's ([`Engine::from_bundle`](crate::Engine::from_bundle)).
    Bundle,
}

impl ErrorKind {
    /// A short lowercase name for the kind, stable for machine-readable output.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Yaml => "yaml",
            ErrorKind::Document => "document",
            ErrorKind::Detection => "detection",
            ErrorKind::Modifier => "modifier",
            ErrorKind::Value => "value",
            ErrorKind::Regex => "regex",
            ErrorKind::Condition => "condition",
            ErrorKind::Placeholder => "placeholder",
            ErrorKind::Limit => "limit",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Correlation => "correlation",
            ErrorKind::Bundle => "bundle",
        }
    }
}

/// Where in a rule an error was found, before the loader turns it into a
/// line and column. Stages below the loader do not see the source text, so
/// they say *what* was wrong (a key path, a condition column) and the loader
/// finds *where* that is in the file.
#[derive(Clone, Debug, Default)]
pub(crate) enum Anchor {
    /// Nothing more precise than the rule document itself.
    #[default]
    Document,
    /// A path of mapping keys from the document root, for example
    /// `["detection", "selection", "CommandLine|re"]`, optionally followed by
    /// a value's text to find the list entry.
    Path(Vec<String>, Option<String>),
    /// A character column (0-based) inside condition number `index` of the
    /// section `section` (`detection` for rules, `filter` for filters).
    Condition { section: &'static str, index: usize, column: usize, width: usize },
    /// An exact line and column already known (YAML syntax errors).
    Line { line: usize, column: usize },
}

/// A size or nesting limit that a rule exceeded; see [`Error::limit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitExceeded {
    /// The name of the [`Config`](crate::Config) setting, e.g. `"max_condition_depth"`.
    pub name: &'static str,
    /// The configured limit.
    pub limit: usize,
}

/// An error that prevented one rule (or one whole file) from loading.
///
/// The error names the rule file, the rule's id and title when they could be
/// read, and the line and column of the cause. It is cheap to move (one box).
#[derive(Clone)]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Clone, Debug)]
struct Inner {
    kind: ErrorKind,
    message: String,
    anchor: Anchor,
    limit: Option<LimitExceeded>,
    origin: Option<String>,
    rule_id: Option<String>,
    rule_title: Option<String>,
    line: Option<usize>,
    column: Option<usize>,
    width: usize,
    snippet: Option<String>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                anchor: Anchor::Document,
                limit: None,
                origin: None,
                rule_id: None,
                rule_title: None,
                line: None,
                column: None,
                width: 1,
                snippet: None,
            }),
        }
    }

    /// A limit error; the message ends with the name of the `Config` setting,
    /// so that whoever reads it knows what to raise.
    pub(crate) fn limit_exceeded(name: &'static str, limit: usize, message: impl Into<String>) -> Error {
        let mut e = Error::new(ErrorKind::Limit, format!("{} (Config::{name})", message.into()));
        e.inner.limit = Some(LimitExceeded { name, limit });
        e
    }

    /// Attaches an anchor unless a more precise one is already set.
    pub(crate) fn at(mut self, anchor: Anchor) -> Error {
        if matches!(self.inner.anchor, Anchor::Document) {
            self.inner.anchor = anchor;
        }
        self
    }

    /// Prepends a key to a path anchor, so that an error raised deep inside a
    /// selection learns the keys above it as it travels up.
    pub(crate) fn under(mut self, key: &str) -> Error {
        match &mut self.inner.anchor {
            Anchor::Path(path, _) => path.insert(0, key.to_string()),
            Anchor::Document => self.inner.anchor = Anchor::Path(vec![key.to_string()], None),
            _ => {}
        }
        self
    }

    /// Appends a key to a path anchor (the error is about a key below the
    /// one already named).
    pub(crate) fn then_key(mut self, key: &str) -> Error {
        if let Anchor::Path(path, _) = &mut self.inner.anchor {
            path.push(key.to_string());
        }
        self
    }

    /// Points a path anchor at one value of a list.
    pub(crate) fn at_value(mut self, value: &str) -> Error {
        if let Anchor::Path(_, v) = &mut self.inner.anchor {
            *v = Some(value.to_string());
        } else if matches!(self.inner.anchor, Anchor::Document) {
            self.inner.anchor = Anchor::Path(Vec::new(), Some(value.to_string()));
        }
        self
    }

    /// Says which condition of which section a condition error is about.
    pub(crate) fn in_condition(mut self, section: &'static str, which: usize) -> Error {
        if let Anchor::Condition { section: s, index, .. } = &mut self.inner.anchor {
            *s = section;
            *index = which;
        }
        self
    }

    pub(crate) fn anchor(&self) -> &Anchor {
        &self.inner.anchor
    }

    pub(crate) fn set_origin(&mut self, origin: &str) {
        if self.inner.origin.is_none() {
            self.inner.origin = Some(origin.to_string());
        }
    }

    pub(crate) fn set_rule(&mut self, id: Option<&str>, title: Option<&str>) {
        if self.inner.rule_id.is_none() {
            self.inner.rule_id = id.map(str::to_string);
        }
        if self.inner.rule_title.is_none() {
            self.inner.rule_title = title.map(str::to_string);
        }
    }

    pub(crate) fn set_position(&mut self, line: usize, column: Option<usize>, width: usize, snippet: Option<String>) {
        self.inner.line = Some(line);
        self.inner.column = column;
        self.inner.width = width.max(1);
        self.inner.snippet = snippet;
    }

    /// The category of the error.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The reason, without the location (for example
    /// `unknown modifier 'contians' (did you mean 'contains'?)`).
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The rule file (or other label) the rule came from.
    pub fn origin(&self) -> Option<&str> {
        self.inner.origin.as_deref()
    }

    /// The rule's `id`, when the document had one.
    pub fn rule_id(&self) -> Option<&str> {
        self.inner.rule_id.as_deref()
    }

    /// The rule's `title`, when the document had one.
    pub fn rule_title(&self) -> Option<&str> {
        self.inner.rule_title.as_deref()
    }

    /// The 1-based line in the rule file.
    pub fn line(&self) -> Option<usize> {
        self.inner.line
    }

    /// The 1-based column (in characters) on [`line`](Error::line).
    pub fn column(&self) -> Option<usize> {
        self.inner.column
    }

    /// The limit that was exceeded, for [`ErrorKind::Limit`] errors.
    pub fn limit(&self) -> Option<LimitExceeded> {
        self.inner.limit
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Debug prints the same annotated text as Display: these errors are
        // read by people, and `{:?}` shows up in test failures.
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        if let Some(origin) = &i.origin {
            write!(f, "{origin}")?;
            if let Some(line) = i.line {
                write!(f, ":{line}")?;
                if let Some(col) = i.column {
                    write!(f, ":{col}")?;
                }
            }
            write!(f, ": ")?;
        }
        match (&i.rule_title, &i.rule_id) {
            (Some(t), Some(id)) => write!(f, "rule '{t}' ({id}): ")?,
            (Some(t), None) => write!(f, "rule '{t}': ")?,
            (None, Some(id)) => write!(f, "rule {id}: ")?,
            (None, None) => {}
        }
        write!(f, "{}", i.message)?;
        if let (Some(line), Some(snippet)) = (i.line, &i.snippet) {
            let gutter = line.to_string().len();
            write!(f, "\n{:gutter$} |\n{line} | {snippet}", "")?;
            if let Some(col) = i.column {
                let pad: String =
                    snippet.chars().take(col.saturating_sub(1)).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
                write!(f, "\n{:gutter$} | {pad}{}", "", "^".repeat(i.width))?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// Shorthand used throughout the loading stages.
pub(crate) type Result<T> = std::result::Result<T, Error>;
