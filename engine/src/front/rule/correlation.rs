//! The `correlation` section of a Sigma 2.1 correlation rule, typed and
//! checked on its own (references to other rules are resolved later, when
//! every document of the pack is known).

use super::parse::{doc_err, level_and_status, opt_string, string_list};
use super::{Level, Origin, Status, Yaml};
use crate::error::{Anchor, Error, ErrorKind, Result};

/// The correlation types of Sigma 2.1 (and `value_median`, which pySigma
/// accepts as the 50th percentile).
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CorrelationKind {
    /// Number of events in the window.
    EventCount,
    /// Number of distinct values of `field` in the window.
    ValueCount,
    /// Number of distinct referenced rules that matched in the window.
    Temporal,
    /// Like `Temporal`, the rules matching in the order they are listed.
    TemporalOrdered,
    /// Sum of the numeric `field` over the window.
    ValueSum,
    /// Average of the numeric `field` over the window.
    ValueAvg,
    /// A percentile of the numeric `field` over the window.
    ValuePercentile,
    /// The median (50th percentile) of the numeric `field`.
    ValueMedian,
}

impl CorrelationKind {
    /// Every kind, with its name as written in rules.
    pub const ALL: [(CorrelationKind, &'static str); 8] = [
        (CorrelationKind::EventCount, "event_count"),
        (CorrelationKind::ValueCount, "value_count"),
        (CorrelationKind::Temporal, "temporal"),
        (CorrelationKind::TemporalOrdered, "temporal_ordered"),
        (CorrelationKind::ValueSum, "value_sum"),
        (CorrelationKind::ValueAvg, "value_avg"),
        (CorrelationKind::ValuePercentile, "value_percentile"),
        (CorrelationKind::ValueMedian, "value_median"),
    ];

    /// The type as written in rules.
    pub fn as_str(self) -> &'static str {
        CorrelationKind::ALL.iter().find(|(k, _)| *k == self).map_or("", |(_, n)| n)
    }

    /// True for the types whose condition reads a `field`.
    pub fn needs_field(self) -> bool {
        !matches!(self, CorrelationKind::EventCount | CorrelationKind::Temporal | CorrelationKind::TemporalOrdered)
    }

    /// True for `temporal` and `temporal_ordered`.
    pub fn is_temporal(self) -> bool {
        matches!(self, CorrelationKind::Temporal | CorrelationKind::TemporalOrdered)
    }
}

/// A comparison of the correlation's value with a threshold.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum CmpOp {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
    Neq,
}

impl CmpOp {
    /// The operator as written in rules.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Gt => "gt",
            CmpOp::Gte => "gte",
            CmpOp::Lt => "lt",
            CmpOp::Lte => "lte",
            CmpOp::Eq => "eq",
            CmpOp::Neq => "neq",
        }
    }

    fn parse(s: &str) -> Option<CmpOp> {
        Some(match s {
            "gt" => CmpOp::Gt,
            "gte" => CmpOp::Gte,
            "lt" => CmpOp::Lt,
            "lte" => CmpOp::Lte,
            "eq" => CmpOp::Eq,
            "neq" => CmpOp::Neq,
            _ => return None,
        })
    }

    /// `value op threshold`.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            CmpOp::Gt => value > threshold,
            CmpOp::Gte => value >= threshold,
            CmpOp::Lt => value < threshold,
            CmpOp::Lte => value <= threshold,
            CmpOp::Eq => value == threshold,
            CmpOp::Neq => value != threshold,
        }
    }
}

/// One entry of `aliases`: a name usable in `group-by` that stands for a
/// different field in the events of each referenced rule.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Alias {
    /// The alias, as used in `group-by`.
    pub name: String,
    /// `(referenced rule name, field in its events)`.
    pub fields: Vec<(String, String)>,
}

/// A correlation rule: a condition over the events that other rules (or
/// correlations) matched, per group, within a time span.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug)]
pub struct Correlation {
    /// `title`.
    pub title: String,
    /// `id`.
    pub id: Option<String>,
    /// `name`, by which chains and aliases refer to the correlation.
    pub name: Option<String>,
    /// `status`.
    pub status: Option<Status>,
    /// `description`.
    pub description: Option<String>,
    /// `author`.
    pub author: Option<String>,
    /// `tags`.
    pub tags: Vec<String>,
    /// `falsepositives`.
    pub falsepositives: Vec<String>,
    /// `level` of the correlation's alerts.
    pub level: Option<Level>,
    /// `generate`: whether the referenced rules also alert on their own.
    pub generate: bool,
    /// `correlation.type`.
    pub kind: CorrelationKind,
    /// `correlation.rules`: ids or names, in order.
    pub rules: Vec<String>,
    /// `correlation.aliases`.
    pub aliases: Vec<Alias>,
    /// `correlation.group-by` (possibly empty for temporal types).
    pub group_by: Vec<String>,
    /// `correlation.timespan` in milliseconds.
    pub timespan_ms: i64,
    /// `correlation.timespan` as written.
    pub timespan: String,
    /// The comparisons of `correlation.condition`, AND-ed. Empty only for
    /// temporal types, where it means "every referenced rule".
    pub condition: Vec<(CmpOp, f64)>,
    /// `correlation.condition.field` (several fields: their tuple).
    pub field: Vec<String>,
    /// `correlation.condition.percentile` for `value_percentile` (0–100;
    /// 50 for `value_median` and when not written).
    pub percentile: f64,
    /// Every other top-level key.
    pub custom: Vec<(String, Yaml)>,
    /// Where the correlation came from.
    pub origin: Origin,
}

const KEYS: &[&str] = &[
    "title",
    "id",
    "name",
    "status",
    "description",
    "author",
    "tags",
    "falsepositives",
    "level",
    "generate",
    "correlation",
];

fn corr_err(message: impl Into<String>, path: &[&str]) -> Error {
    Error::new(ErrorKind::Correlation, message).at(Anchor::Path(path.iter().map(|s| s.to_string()).collect(), None))
}

/// Parses a timespan `N` + `s|m|h|d` into milliseconds.
pub(crate) fn parse_timespan(s: &str) -> Option<i64> {
    let s = s.trim();
    let unit = s.chars().last()?;
    let ms = match unit {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        _ => return None,
    };
    let digits = &s[..s.len() - 1];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    if n == 0 {
        return None;
    }
    n.checked_mul(ms)
}

/// Parses a correlation document.
pub(crate) fn parse(value: &Yaml, entries: &[(String, Yaml)], origin: Origin) -> Result<Correlation> {
    let title = opt_string(value, "title")?.ok_or_else(|| doc_err("the correlation has no 'title'", "correlation"))?;
    let c = value.get("correlation").unwrap_or(&Yaml::Null);
    if !matches!(c, Yaml::Map(_)) {
        return Err(corr_err(format!("'correlation' must be a map, found {}", c.type_name()), &["correlation"]));
    }
    let kind_text = match c.get("type") {
        None => return Err(corr_err("the correlation has no 'type'", &["correlation"])),
        Some(t) => t.as_str().unwrap_or(""),
    };
    let kind = CorrelationKind::ALL.iter().find(|(_, n)| *n == kind_text).map(|(k, _)| *k).ok_or_else(|| {
        let names: Vec<&str> = CorrelationKind::ALL.iter().map(|(_, n)| *n).collect();
        corr_err(
            format!("unknown correlation type '{kind_text}'; expected one of {}", names.join(", ")),
            &["correlation", "type"],
        )
    })?;
    let rules = match c.get("rules") {
        None | Some(Yaml::Null) => return Err(corr_err("the correlation has no 'rules'", &["correlation"])),
        Some(Yaml::Str(s)) => vec![s.clone()],
        Some(Yaml::Seq(items)) => {
            let mut out = Vec::new();
            for i in items {
                let Some(s) = i.as_str() else {
                    return Err(corr_err("'rules' entries must be rule ids or names", &["correlation", "rules"]));
                };
                if out.iter().any(|o| o == s) {
                    return Err(corr_err(format!("rule '{s}' is listed twice in 'rules'"), &["correlation", "rules"]));
                }
                out.push(s.to_string());
            }
            out
        }
        Some(x) => {
            return Err(corr_err(
                format!("'rules' must be a list of rule ids or names, found {}", x.type_name()),
                &["correlation", "rules"],
            ));
        }
    };
    if rules.is_empty() {
        return Err(corr_err("'rules' is empty", &["correlation", "rules"]));
    }
    let group_by = match c.get("group-by") {
        None | Some(Yaml::Null) if kind.is_temporal() => Vec::new(),
        None | Some(Yaml::Null) => return Err(corr_err("the correlation has no 'group-by'", &["correlation"])),
        Some(Yaml::Str(s)) => vec![s.clone()],
        Some(Yaml::Seq(items)) => {
            let mut out: Vec<String> = Vec::new();
            for i in items {
                let Some(s) = i.as_str() else {
                    return Err(corr_err("'group-by' entries must be field names", &["correlation", "group-by"]));
                };
                if out.iter().any(|o| o == s) {
                    return Err(corr_err(format!("'{s}' is listed twice in 'group-by'"), &["correlation", "group-by"]));
                }
                out.push(s.to_string());
            }
            out
        }
        Some(x) => {
            return Err(corr_err(
                format!("'group-by' must be a list of field names, found {}", x.type_name()),
                &["correlation", "group-by"],
            ));
        }
    };
    let timespan = match c.get("timespan") {
        None | Some(Yaml::Null) => return Err(corr_err("the correlation has no 'timespan'", &["correlation"])),
        Some(t) => match t {
            Yaml::Str(s) => s.clone(),
            Yaml::Int(i) => i.to_string(),
            other => other.type_name().to_string(),
        },
    };
    let timespan_ms = parse_timespan(&timespan).ok_or_else(|| {
        corr_err(
            format!("bad timespan '{timespan}': write a positive number and s, m, h or d (e.g. 90m)"),
            &["correlation", "timespan"],
        )
    })?;
    let mut condition = Vec::new();
    let mut field = Vec::new();
    let mut percentile = None;
    match c.get("condition") {
        None | Some(Yaml::Null) => {
            if !kind.is_temporal() {
                return Err(corr_err("the correlation has no 'condition'", &["correlation"]));
            }
        }
        Some(Yaml::Map(items)) => {
            for (k, v) in items {
                let path = ["correlation", "condition", k.as_str()];
                if k == "field" {
                    field = match v {
                        Yaml::Str(s) => vec![s.clone()],
                        Yaml::Seq(xs) if !xs.is_empty() && xs.iter().all(|x| x.as_str().is_some()) => {
                            xs.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()
                        }
                        _ => return Err(corr_err("'field' must be a field name or a list of them", &path)),
                    };
                    continue;
                }
                let number = match v {
                    Yaml::Int(i) => *i as f64,
                    Yaml::Float(f) if f.is_finite() => *f,
                    _ => {
                        return Err(corr_err(
                            format!("the value of '{k}' must be a number, found {}", v.type_name()),
                            &path,
                        ));
                    }
                };
                if k == "percentile" {
                    if !(0.0..=100.0).contains(&number) || kind != CorrelationKind::ValuePercentile {
                        return Err(corr_err("'percentile' (0 to 100) is only for value_percentile", &path));
                    }
                    percentile = Some(number);
                    continue;
                }
                let op = CmpOp::parse(k).ok_or_else(|| {
                    corr_err(
                        format!("unknown condition operator '{k}'; expected gt, gte, lt, lte, eq, neq or field"),
                        &path,
                    )
                })?;
                condition.push((op, number));
            }
            if condition.is_empty() && !kind.is_temporal() {
                return Err(corr_err(
                    "the condition has no comparison (gt, gte, lt, lte, eq or neq)",
                    &["correlation", "condition"],
                ));
            }
        }
        Some(x) => {
            return Err(corr_err(
                format!("'condition' must be a map such as {{gte: 10}}, found {}", x.type_name()),
                &["correlation", "condition"],
            ));
        }
    }
    if kind.needs_field() && field.is_empty() {
        return Err(corr_err(
            format!("a {} correlation needs 'field' in its condition", kind.as_str()),
            &["correlation", "condition"],
        ));
    }
    if !kind.needs_field() && !field.is_empty() {
        return Err(corr_err(
            format!("a {} correlation takes no 'field'", kind.as_str()),
            &["correlation", "condition", "field"],
        ));
    }
    if matches!(
        kind,
        CorrelationKind::ValueSum
            | CorrelationKind::ValueAvg
            | CorrelationKind::ValuePercentile
            | CorrelationKind::ValueMedian
    ) && field.len() > 1
    {
        return Err(corr_err(
            format!("a {} correlation reads one numeric field", kind.as_str()),
            &["correlation", "condition", "field"],
        ));
    }
    let mut aliases = Vec::new();
    match c.get("aliases") {
        None | Some(Yaml::Null) => {}
        Some(Yaml::Map(items)) => {
            for (name, v) in items {
                let path = ["correlation", "aliases", name.as_str()];
                let Yaml::Map(per_rule) = v else {
                    return Err(corr_err(format!("alias '{name}' must map rule names to field names"), &path));
                };
                let mut fields = Vec::new();
                for (rule, f) in per_rule {
                    let Some(f) = f.as_str() else {
                        return Err(corr_err(
                            format!("alias '{name}': the field for '{rule}' must be a string"),
                            &path,
                        ));
                    };
                    if !rules.contains(rule) {
                        return Err(corr_err(
                            format!("alias '{name}' names rule '{rule}', which is not in this correlation's 'rules'"),
                            &path,
                        ));
                    }
                    fields.push((rule.clone(), f.to_string()));
                }
                aliases.push(Alias { name: name.clone(), fields });
            }
        }
        Some(x) => {
            return Err(corr_err(
                format!("'aliases' must be a map, found {}", x.type_name()),
                &["correlation", "aliases"],
            ));
        }
    }
    if let Some(Yaml::Map(items)) = Some(c)
        && let Some((k, _)) = items.iter().find(|(k, _)| {
            !["type", "rules", "aliases", "group-by", "timespan", "condition", "generate"].contains(&k.as_str())
        })
    {
        return Err(corr_err(format!("unknown key '{k}' in 'correlation'"), &["correlation", k.as_str()]));
    }
    // `generate` belongs at the top level; pySigma also reads it inside `correlation`.
    let generate = match value.get("generate").or_else(|| c.get("generate")) {
        None | Some(Yaml::Null) => false,
        Some(Yaml::Bool(b)) => *b,
        Some(x) => {
            return Err(doc_err(format!("'generate' must be true or false, found {}", x.type_name()), "generate"));
        }
    };
    let (level, status) = level_and_status(value)?;
    let percentile = match kind {
        CorrelationKind::ValueMedian => 50.0,
        _ => percentile.unwrap_or(50.0),
    };
    Ok(Correlation {
        title,
        id: opt_string(value, "id")?,
        name: opt_string(value, "name")?,
        status,
        description: opt_string(value, "description")?,
        author: opt_string(value, "author")?,
        tags: string_list(value, "tags")?,
        falsepositives: string_list(value, "falsepositives")?,
        level,
        generate,
        kind,
        rules,
        aliases,
        group_by,
        timespan_ms,
        timespan,
        condition,
        field,
        percentile,
        custom: entries.iter().filter(|(k, _)| !KEYS.contains(&k.as_str())).cloned().collect(),
        origin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan("90m"), Some(5_400_000));
        assert_eq!(parse_timespan("1d"), Some(86_400_000));
        assert_eq!(parse_timespan("10s"), Some(10_000));
        assert_eq!(parse_timespan("0s"), None);
        assert_eq!(parse_timespan("1w"), None);
        assert_eq!(parse_timespan("m"), None);
        assert_eq!(parse_timespan("-1h"), None);
        assert_eq!(parse_timespan("1H"), None);
        assert_eq!(parse_timespan("99999999999999999d"), None);
    }
}
