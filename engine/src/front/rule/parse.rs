//! YAML tree → [`Document`]. Errors carry a key-path [`Anchor`] so the loader
//! can point at the line.

use super::*;
use crate::error::{Anchor, Error, ErrorKind, Result};

/// Keys of a rule with a meaning in the specification; everything else is
/// kept in `custom`.
const RULE_KEYS: &[&str] = &[
    "title",
    "id",
    "name",
    "status",
    "description",
    "license",
    "author",
    "references",
    "date",
    "modified",
    "tags",
    "falsepositives",
    "level",
    "fields",
    "related",
    "taxonomy",
    "scope",
    "logsource",
    "detection",
];

pub(super) fn doc_err(message: impl Into<String>, key: &str) -> Error {
    Error::new(ErrorKind::Document, message).at(Anchor::Path(vec![key.to_string()], None))
}

/// Parses one YAML document of a rule file.
pub(crate) fn parse(value: &Yaml, origin: Origin) -> Result<Document> {
    let Yaml::Map(entries) = value else {
        return Err(Error::new(
            ErrorKind::Document,
            format!("a rule document must be a map, found {}", value.type_name()),
        ));
    };
    if value.get("correlation").is_some() {
        return super::correlation::parse(value, entries, origin).map(Document::Correlation);
    }
    if value.get("filter").is_some() && value.get("detection").is_none() {
        return parse_filter(value, entries, origin).map(Document::Filter);
    }
    let title = required_string(value, "title")?;
    let detection_yaml =
        value.get("detection").ok_or_else(|| doc_err("the rule has no 'detection' section", "title"))?;
    let logsource = match value.get("logsource") {
        Some(l) => parse_logsource(l)?,
        None => return Err(doc_err("the rule has no 'logsource' section", "title")),
    };
    let detection = parse_detection(detection_yaml, "detection")?;
    let (level, status) = level_and_status(value)?;
    Ok(Document::Rule(Rule {
        title,
        id: opt_string(value, "id")?,
        name: opt_string(value, "name")?,
        status,
        description: opt_string(value, "description")?,
        license: opt_string(value, "license")?,
        author: opt_string(value, "author")?,
        references: string_list(value, "references")?,
        date: opt_string(value, "date")?,
        modified: opt_string(value, "modified")?,
        tags: string_list(value, "tags")?,
        falsepositives: string_list(value, "falsepositives")?,
        level,
        fields: string_list(value, "fields")?,
        related: parse_related(value)?,
        taxonomy: opt_string(value, "taxonomy")?,
        scope: string_list(value, "scope")?,
        logsource,
        detection,
        custom: entries.iter().filter(|(k, _)| !RULE_KEYS.contains(&k.as_str())).cloned().collect(),
        origin,
    }))
}

fn parse_filter(value: &Yaml, entries: &[(String, Yaml)], origin: Origin) -> Result<Filter> {
    const FILTER_KEYS: &[&str] = &["title", "id", "name", "description", "logsource", "filter"];
    let title = required_string(value, "title")?;
    let logsource = match value.get("logsource") {
        Some(l) => parse_logsource(l)?,
        None => return Err(doc_err("a filter must have a 'logsource'", "filter")),
    };
    let filter = value.get("filter").unwrap_or(&Yaml::Null);
    let Yaml::Map(fentries) = filter else {
        return Err(doc_err(format!("'filter' must be a map, found {}", filter.type_name()), "filter"));
    };
    let targets = match filter.get("rules") {
        None => {
            return Err(doc_err(
                "a filter must have 'rules': a list of rule ids or names, or 'any' for every rule of its logsource",
                "filter",
            ));
        }
        Some(Yaml::Str(s)) if s.eq_ignore_ascii_case("any") || s.eq_ignore_ascii_case("all") => FilterTargets::Any,
        Some(Yaml::Str(s)) => FilterTargets::Rules(vec![s.clone()]),
        Some(Yaml::Seq(items)) if items.is_empty() => FilterTargets::Any,
        Some(Yaml::Seq(items)) => FilterTargets::Rules(
            items
                .iter()
                .map(|i| {
                    scalar_string(i).ok_or_else(|| {
                        doc_err("'filter.rules' entries must be rule ids or names", "filter").then_key("rules")
                    })
                })
                .collect::<Result<_>>()?,
        ),
        Some(other) => {
            return Err(doc_err(
                format!("'filter.rules' must be a list of rule ids or names, or 'any', found {}", other.type_name()),
                "filter",
            ));
        }
    };
    let condition = match filter.get("condition") {
        Some(Yaml::Str(s)) => s.clone(),
        Some(_) => return Err(doc_err("a filter's condition must be one string", "filter")),
        None => return Err(doc_err("a filter must have a 'condition'", "filter")),
    };
    let mut searches = Vec::new();
    for (name, body) in fentries {
        if name == "rules" || name == "condition" {
            continue;
        }
        searches.push(parse_search(name, body).map_err(|e| e.under("filter"))?);
    }
    Ok(Filter {
        title,
        id: opt_string(value, "id")?,
        name: opt_string(value, "name")?,
        description: opt_string(value, "description")?,
        logsource,
        targets,
        detection: Detection { searches, conditions: vec![condition] },
        custom: entries.iter().filter(|(k, _)| !FILTER_KEYS.contains(&k.as_str())).cloned().collect(),
        origin,
    })
}

/// A document's optional `level` and `status`, checked against their values.
pub(super) fn level_and_status(value: &Yaml) -> Result<(Option<Level>, Option<Status>)> {
    let level = match opt_string(value, "level")? {
        None => None,
        Some(l) => Some(parse_level(&l).ok_or_else(|| {
            doc_err(format!("level '{l}' is not one of informational, low, medium, high, critical"), "level")
        })?),
    };
    let status = match opt_string(value, "status")? {
        None => None,
        Some(s) => Some(parse_status(&s).ok_or_else(|| {
            doc_err(format!("status '{s}' is not one of stable, test, experimental, deprecated, unsupported"), "status")
        })?),
    };
    Ok((level, status))
}

pub(super) fn parse_level(s: &str) -> Option<Level> {
    Some(match s.to_ascii_lowercase().as_str() {
        "informational" => Level::Informational,
        "low" => Level::Low,
        "medium" => Level::Medium,
        "high" => Level::High,
        "critical" => Level::Critical,
        _ => return None,
    })
}

pub(super) fn parse_status(s: &str) -> Option<Status> {
    Some(match s.to_ascii_lowercase().as_str() {
        "stable" => Status::Stable,
        "test" => Status::Test,
        "experimental" => Status::Experimental,
        "deprecated" => Status::Deprecated,
        "unsupported" => Status::Unsupported,
        _ => return None,
    })
}

fn scalar_string(v: &Yaml) -> Option<String> {
    match v {
        Yaml::Str(s) => Some(s.clone()),
        Yaml::Int(i) => Some(i.to_string()),
        Yaml::Float(f) => Some(format_float(*f)),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(super) fn required_string(v: &Yaml, key: &str) -> Result<String> {
    match opt_string(v, key)? {
        Some(s) => Ok(s),
        None => Err(Error::new(ErrorKind::Document, format!("the document has no '{key}'"))),
    }
}

pub(super) fn opt_string(v: &Yaml, key: &str) -> Result<Option<String>> {
    match v.get(key) {
        None | Some(Yaml::Null) => Ok(None),
        Some(x) => scalar_string(x)
            .map(Some)
            .ok_or_else(|| doc_err(format!("'{key}' must be a string, found {}", x.type_name()), key)),
    }
}

/// A list of strings; a single string is accepted as a one-element list
/// (several SigmaHQ rules write `falsepositives: Unknown`).
pub(super) fn string_list(v: &Yaml, key: &str) -> Result<Vec<String>> {
    match v.get(key) {
        None | Some(Yaml::Null) => Ok(Vec::new()),
        Some(Yaml::Seq(items)) => items
            .iter()
            .filter(|i| **i != Yaml::Null)
            .map(|i| {
                scalar_string(i)
                    .ok_or_else(|| doc_err(format!("'{key}' entries must be strings, found {}", i.type_name()), key))
            })
            .collect(),
        Some(x) => scalar_string(x)
            .map(|s| vec![s])
            .ok_or_else(|| doc_err(format!("'{key}' must be a list of strings, found {}", x.type_name()), key)),
    }
}

fn parse_related(v: &Yaml) -> Result<Vec<Related>> {
    let Some(r) = v.get("related") else {
        return Ok(Vec::new());
    };
    let Yaml::Seq(items) = r else {
        return Err(doc_err("'related' must be a list of {id, type} maps", "related"));
    };
    items
        .iter()
        .map(|i| {
            let id = i.get("id").and_then(scalar_string);
            let kind = i.get("type").and_then(scalar_string);
            match (id, kind) {
                (Some(id), Some(kind)) => Ok(Related { id, kind }),
                _ => Err(doc_err("each 'related' entry needs an 'id' and a 'type'", "related")),
            }
        })
        .collect()
}

fn parse_logsource(v: &Yaml) -> Result<LogSource> {
    let Yaml::Map(entries) = v else {
        return Err(doc_err(format!("'logsource' must be a map, found {}", v.type_name()), "logsource"));
    };
    let get = |k: &str| -> Result<Option<String>> { opt_string(v, k).map_err(|e| e.under("logsource")) };
    Ok(LogSource {
        category: get("category")?,
        product: get("product")?,
        service: get("service")?,
        definition: get("definition")?,
        custom: entries
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "category" | "product" | "service" | "definition"))
            .cloned()
            .collect(),
    })
}

fn parse_detection(v: &Yaml, key: &str) -> Result<Detection> {
    let Yaml::Map(entries) = v else {
        return Err(doc_err(format!("'{key}' must be a map, found {}", v.type_name()), key));
    };
    let mut detection = Detection::default();
    let mut saw_condition = false;
    for (name, body) in entries {
        match name.as_str() {
            "condition" => {
                saw_condition = true;
                detection.conditions = match body {
                    Yaml::Str(s) => vec![s.clone()],
                    Yaml::Seq(items) => items
                        .iter()
                        .map(|c| match c {
                            Yaml::Str(s) => Ok(s.clone()),
                            other => Err(doc_err(
                                format!("each condition must be a string, found {}", other.type_name()),
                                key,
                            )
                            .then_key("condition")),
                        })
                        .collect::<Result<_>>()?,
                    other => {
                        return Err(doc_err(
                            format!("'condition' must be a string or a list of strings, found {}", other.type_name()),
                            key,
                        )
                        .then_key("condition"));
                    }
                };
                if detection.conditions.is_empty() {
                    return Err(doc_err("'condition' is an empty list", key).then_key("condition"));
                }
            }
            // `timeframe` belonged to the pipe aggregations removed in Sigma
            // 2.0; on its own it changes nothing, and an aggregation in the
            // condition is refused when the condition is parsed.
            "timeframe" => {}
            _ => detection.searches.push(parse_search(name, body).map_err(|e| e.under(key))?),
        }
    }
    if !saw_condition {
        return Err(doc_err(format!("'{key}' has no 'condition'"), key));
    }
    Ok(detection)
}

fn parse_search(name: &str, body: &Yaml) -> Result<Search> {
    let branches = match body {
        Yaml::Map(entries) => {
            if entries.is_empty() {
                return Err(search_err(name, "is an empty map"));
            }
            vec![Branch::Items(parse_items(entries).map_err(|e| e.under(name))?)]
        }
        Yaml::Seq(items) => {
            if items.is_empty() {
                return Err(search_err(name, "is an empty list"));
            }
            items
                .iter()
                .map(|i| match i {
                    Yaml::Map(entries) if entries.is_empty() => Err(search_err(name, "has an empty map in its list")),
                    Yaml::Map(entries) => Ok(Branch::Items(parse_items(entries).map_err(|e| e.under(name))?)),
                    Yaml::Seq(_) => {
                        Err(search_err(name, "has a list inside its list; Sigma allows maps or keywords there"))
                    }
                    Yaml::Null => Err(search_err(name, "has an empty entry in its keyword list")),
                    scalar => Ok(Branch::Keyword(to_scalar(scalar))),
                })
                .collect::<Result<_>>()?
        }
        Yaml::Null => return Err(search_err(name, "is empty")),
        scalar => vec![Branch::Keyword(to_scalar(scalar))],
    };
    Ok(Search { name: name.to_string(), branches })
}

fn search_err(name: &str, what: &str) -> Error {
    Error::new(ErrorKind::Detection, format!("search identifier '{name}' {what}"))
        .at(Anchor::Path(vec![name.to_string()], None))
}

fn to_scalar(v: &Yaml) -> Scalar {
    match v {
        Yaml::Null => Scalar::Null,
        Yaml::Bool(b) => Scalar::Bool(*b),
        Yaml::Int(i) => Scalar::Int(*i),
        Yaml::Float(f) => Scalar::Float(*f),
        Yaml::Str(s) => Scalar::Str(s.clone()),
        // Callers only pass scalars.
        Yaml::Seq(_) | Yaml::Map(_) => Scalar::Null,
    }
}

fn parse_items(entries: &[(String, Yaml)]) -> Result<Vec<Item>> {
    entries.iter().map(|(key, value)| parse_item(key, value).map_err(|e| e.under(key))).collect()
}

fn parse_item(key: &str, value: &Yaml) -> Result<Item> {
    let mut parts = key.split('|');
    // OK: split always yields at least one part.
    let field = parts.next().unwrap_or_default();
    let mut modifiers = Vec::new();
    for name in parts {
        match Modifier::from_name(name) {
            Some(m) => modifiers.push(m),
            None => {
                let hint = match Modifier::suggest(name) {
                    Some(s) => format!(" (did you mean '{s}'?)"),
                    None if name.is_empty() => " (empty modifier: two '|' in a row?)".to_string(),
                    None => String::new(),
                };
                return Err(Error::new(ErrorKind::Modifier, format!("unknown modifier '{name}' in '{key}'{hint}")));
            }
        }
    }
    let (values, is_list) = match value {
        Yaml::Seq(items) => {
            let mut values = Vec::with_capacity(items.len());
            for i in items {
                match i {
                    Yaml::Seq(_) | Yaml::Map(_) => {
                        return Err(Error::new(
                            ErrorKind::Detection,
                            format!("'{key}' has {} inside its value list; values must be scalars", i.type_name()),
                        ));
                    }
                    scalar => values.push(to_scalar(scalar)),
                }
            }
            (values, true)
        }
        Yaml::Map(_) => {
            return Err(Error::new(
                ErrorKind::Detection,
                format!("'{key}' has a map as its value; values must be scalars or a list of scalars"),
            ));
        }
        scalar => (vec![to_scalar(scalar)], false),
    };
    if modifiers.contains(&Modifier::All) && values.len() < 2 {
        return Err(all_needs_a_list(key, values.len(), is_list));
    }
    Ok(Item {
        key: key.to_string(),
        field: if field.is_empty() { None } else { Some(field.to_string()) },
        modifiers,
        values,
        is_list,
    })
}

/// The modifiers appendix: "Single item values are not allowed to have an
/// `all` modifier". A one-element list is refused as well: it is one item
/// too (pySigma reads a scalar as a one-element list, and the SigmaHQ
/// validator `sigmahq_invalid_all_modifier` flags any item with fewer than
/// two values). Expansions (`windash`, `base64offset`, placeholders) do not
/// count: their alternatives are OR-ed even under `all`.
fn all_needs_a_list(key: &str, n: usize, is_list: bool) -> Error {
    let what = match (n, is_list) {
        (0, _) => "an empty list".to_string(),
        (_, false) => "a single value".to_string(),
        _ => "a list of one value".to_string(),
    };
    let fix = if n == 0 {
        "give two or more values"
    } else {
        "drop '|all' (one value needs no AND), or list two or more values"
    };
    Error::new(
        ErrorKind::Modifier,
        format!(
            "'{key}' has {what}, but 'all' ANDs two or more values (the Sigma modifiers appendix does not allow 'all' on a single value); {fix}"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Result<Document> {
        let docs = crate::front::yaml::parse(text)?;
        let origin = Origin { path: "t.yml".into(), document: 0, first_line: 1, last_line: 1 };
        parse(&docs[0].value, origin)
    }

    #[test]
    fn shapes_of_search_identifiers() {
        let text = r#"
title: t
logsource: {category: process_creation}
detection:
    map: {Image|endswith: '\x.exe', CommandLine: [a, b]}
    maps: [{A: 1}, {B: 2}]
    keywords: [foo, 12]
    keymap: {'|all': [x, y]}
    one: bar
    condition: map
custom_key: kept
"#;
        let Document::Rule(r) = doc(text).unwrap() else { panic!() };
        let d = &r.detection;
        assert_eq!(d.searches.len(), 5);
        let Branch::Items(items) = &d.searches[0].branches[0] else { panic!() };
        assert_eq!(items[0].field.as_deref(), Some("Image"));
        assert_eq!(items[0].modifiers, vec![Modifier::EndsWith]);
        assert_eq!(items[1].values.len(), 2);
        assert_eq!(d.searches[1].branches.len(), 2);
        assert!(matches!(d.searches[2].branches[1], Branch::Keyword(Scalar::Int(12))));
        let Branch::Items(items) = &d.searches[3].branches[0] else { panic!() };
        assert_eq!(items[0].field, None);
        assert_eq!(items[0].modifiers, vec![Modifier::All]);
        assert!(matches!(d.searches[4].branches[0], Branch::Keyword(Scalar::Str(_))));
        assert_eq!(r.custom.len(), 1);
    }

    #[test]
    fn unknown_modifier_is_named_with_a_hint() {
        let text =
            "title: t\nlogsource: {}\ndetection:\n    sel:\n        CommandLine|contians: x\n    condition: sel\n";
        let e = doc(text).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Modifier);
        assert!(e.message().contains("did you mean 'contains'"), "{}", e.message());
        match e.anchor() {
            Anchor::Path(p, _) => assert_eq!(p, &["detection", "sel", "CommandLine|contians"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn filters_and_correlations_are_recognised() {
        let f = "title: f\nlogsource: {category: process_creation}\nfilter:\n  rules: [abc]\n  sel: {User: x}\n  condition: not sel\n";
        assert!(matches!(doc(f).unwrap(), Document::Filter(_)));
        let c = "title: c\ncorrelation:\n  type: event_count\n  rules: [a]\n  group-by: [User]\n  timespan: 5m\n  condition: {gte: 3}\n";
        assert!(matches!(doc(c).unwrap(), Document::Correlation(_)));
        let bad = "title: c\ncorrelation:\n  type: event_count\n  rules: [a]\n";
        assert!(doc(bad).unwrap_err().to_string().contains("group-by"));
    }
}
