//! Values for `expand` placeholders, read from YAML.

use std::collections::HashMap;

use crate::error::{Anchor, Error, ErrorKind};

/// Values for `expand` placeholders (`%Administrators%` → a list of values).
///
/// Placeholder values are Sigma strings: `*` and `?` are wildcards and a
/// backslash escapes them, as in rule values.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(into = "Vec<(String, Vec<String>)>", from = "Vec<(String, Vec<String>)>")]
pub struct Placeholders {
    values: HashMap<String, Vec<String>>,
}

/// Sorted by name, so that serialized forms (rule bundles) do not depend on
/// hash order.
impl From<Placeholders> for Vec<(String, Vec<String>)> {
    fn from(p: Placeholders) -> Vec<(String, Vec<String>)> {
        let mut v: Vec<_> = p.values.into_iter().collect();
        v.sort();
        v
    }
}

impl From<Vec<(String, Vec<String>)>> for Placeholders {
    fn from(v: Vec<(String, Vec<String>)>) -> Placeholders {
        Placeholders { values: v.into_iter().collect() }
    }
}

impl Placeholders {
    /// No placeholders: rules that use `expand` are refused.
    pub fn new() -> Placeholders {
        Placeholders::default()
    }

    /// Sets the values of a placeholder (name without `%`).
    pub fn insert(&mut self, name: impl Into<String>, values: Vec<String>) {
        self.values.insert(name.into().trim_matches('%').to_string(), values);
    }

    /// The values of a placeholder.
    pub fn get(&self, name: &str) -> Option<&[String]> {
        self.values.get(name).map(Vec::as_slice)
    }

    /// Number of configured placeholders.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True if none are configured.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Reads placeholders from YAML or JSON: a map from names to a value or a
    /// list of values, either at the top level or under `vars:` (the
    /// placeholder section of a pySigma processing pipeline).
    ///
    /// ```
    /// let p = sigmata::Placeholders::from_yaml("Admins: [alice, 'bob*']\n'%Servers%': srv01\n").unwrap();
    /// assert_eq!(p.get("Admins").unwrap().len(), 2);
    /// assert_eq!(p.get("Servers").unwrap(), ["srv01"]);
    /// ```
    pub fn from_yaml(text: &str) -> std::result::Result<Placeholders, Error> {
        use crate::front::yaml::Yaml;
        let docs = crate::front::yaml::parse(text)?;
        let mut out = Placeholders::new();
        for doc in docs {
            let map = doc.value.get("vars").unwrap_or(&doc.value);
            let Yaml::Map(entries) = map else {
                return Err(Error::new(
                    ErrorKind::Document,
                    "placeholders must be a map from names to lists of values",
                ));
            };
            for (name, v) in entries {
                let scalar = |y: &Yaml| match y {
                    Yaml::Str(s) => Some(s.clone()),
                    Yaml::Int(i) => Some(i.to_string()),
                    Yaml::Float(f) => Some(crate::front::rule::format_float(*f)),
                    Yaml::Bool(b) => Some(b.to_string()),
                    _ => None,
                };
                let values = match v {
                    Yaml::Seq(items) => items.iter().map(scalar).collect::<Option<Vec<_>>>(),
                    other => scalar(other).map(|s| vec![s]),
                }
                .ok_or_else(|| {
                    Error::new(ErrorKind::Document, format!("placeholder '{name}' must be a value or a list of values"))
                        .at(Anchor::Path(vec![name.clone()], None))
                })?;
                out.insert(name.clone(), values);
            }
        }
        Ok(out)
    }
}
