//! Finding rule files and building an engine from them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sigmata::correlate::Correlations;

use sigmata::rule::LogSource;
use sigmata::{Builder, Config, Engine, LoadReport, Placeholders};

use crate::Failure;
use crate::args::RuleArgs;

include!(concat!(env!("OUT_DIR"), "/embedded_rules.rs"));

/// The loaded engine, its report, and how many rule files were read.
#[derive(Debug)]
pub struct Loaded {
    /// The engine.
    pub engine: Engine,
    /// What loaded and what did not.
    pub report: LoadReport,
    /// Number of rule files read.
    pub files: usize,
    /// The configuration the engine was built with (for one-rule engines
    /// built later with other placeholders, as `test` does).
    pub config: Config,
    /// SHA-256 (hex) of what the pack was built from: the logsource, the
    /// placeholder values, and every rule file's path and bytes, in load
    /// order. Two processes with the same digest run the same pack.
    pub digest: String,
    /// Rule files not parsed because they cannot hold a rule for the
    /// logsource ([`Need::Evaluate`] only; see [`may_apply`]).
    pub files_not_parsed: usize,
    /// The correlation rules ([`load_correlated`]; empty otherwise).
    pub correlations: Arc<Correlations>,
}

/// How much of a pack a command needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Every file parsed and every rule lowered, whatever its logsource, so
    /// that every error is reported (`check`, `test`, `explain`).
    All,
    /// Only what can be evaluated (`scan`, `serve`): a file that cannot hold
    /// a rule for the logsource is not even parsed (YAML parsing is most of
    /// the load time, and 60 % of SigmaHQ's bytes are rules of other
    /// logsources), and rules of other logsources are reported as not
    /// applicable without being lowered. Such files are counted, not listed.
    Evaluate,
}

/// A YAML tree (a sidecar's event) as JSON.
pub fn yaml_to_json(y: &sigmata::yaml::Yaml) -> serde_json::Value {
    use serde_json::Value;
    use sigmata::yaml::Yaml;
    match y {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(*b),
        Yaml::Int(i) => Value::from(*i),
        Yaml::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Yaml::Str(s) => Value::String(s.clone()),
        Yaml::Seq(items) => Value::Array(items.iter().map(yaml_to_json).collect()),
        Yaml::Map(entries) => Value::Object(entries.iter().map(|(k, v)| (k.clone(), yaml_to_json(v))).collect()),
    }
}

/// True for a rule test sidecar (`<rule-stem>.tests.yml`), which is never
/// loaded as a rule.
pub fn is_sidecar(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".tests.yml"))
}

/// Rule test sidecars (`*.tests.yml`) under `path`, in sorted order.
pub fn sidecar_files(path: &Path) -> Result<Vec<PathBuf>, Failure> {
    if path.is_file() {
        // A rule file given alone brings its sidecar along.
        if is_sidecar(path) {
            return Ok(vec![path.to_path_buf()]);
        }
        let stem = path.to_str().and_then(|p| p.strip_suffix(".yml").or_else(|| p.strip_suffix(".yaml")));
        return Ok(stem.map(|s| PathBuf::from(format!("{s}.tests.yml"))).filter(|s| s.is_file()).into_iter().collect());
    }
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
        let entry = entry.map_err(|e| Failure::io(format!("reading {}: {e}", path.display())))?;
        if entry.file_type().is_file() && is_sidecar(entry.path()) {
            files.push(entry.path().to_path_buf());
        }
    }
    Ok(files)
}

/// The text of a rule file by the path it was loaded under (the embedded
/// pack first, then the file system).
pub fn source_text(path: &str) -> Option<String> {
    if let Some((_, text)) = EMBEDDED_RULES.iter().find(|(p, _)| *p == path) {
        return Some(text.to_string());
    }
    std::fs::read_to_string(path).ok()
}

/// Rule files under `path` (the file itself, or every `.yml`/`.yaml` file
/// below a folder, in sorted order so that rule ids are stable).
pub fn rule_files(path: &Path) -> Result<Vec<PathBuf>, Failure> {
    if path.is_file() {
        return Ok(if is_sidecar(path) { Vec::new() } else { vec![path.to_path_buf()] });
    }
    if !path.is_dir() {
        return Err(Failure::usage(format!("rule path {} does not exist", path.display())));
    }
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
        let entry = entry.map_err(|e| Failure::io(format!("reading {}: {e}", path.display())))?;
        let p = entry.path();
        let is_yaml = matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml"));
        if entry.file_type().is_file() && is_yaml && !is_sidecar(p) {
            files.push(p.to_path_buf());
        }
    }
    Ok(files)
}

impl Loaded {
    /// Fails when the pack has nothing to evaluate, saying what became of its rules.
    pub fn require_rules(&self, args: &RuleArgs) -> Result<(), Failure> {
        if !self.engine.is_empty() {
            return Ok(());
        }
        let r = &self.report;
        Err(Failure::usage(format!(
            "no rule to evaluate ({} loaded, {} refused, {} not applicable to the logsource {})",
            r.rules_loaded,
            r.errors.len(),
            r.not_applicable.len(),
            args.logsource
        )))
    }
}

/// True when events that say they are not process creation are skipped:
/// only when every rule is a process_creation rule (for a bundle: when it
/// was compiled for a process_creation logsource).
pub fn routing(args: &RuleArgs, loaded: &Loaded) -> Result<bool, Failure> {
    if args.bundle.is_some() {
        let logsource = loaded.engine.config().get_logsource();
        return Ok(logsource.and_then(|l| l.category.as_deref()) == Some("process_creation"));
    }
    Ok(!args.all_logsources && parse_logsource(&args.logsource)?.category.as_deref() == Some("process_creation"))
}

/// Refuses `--bundle` for a command that needs the rule files themselves.
pub fn refuse_bundle(args: &RuleArgs, command: &str, why: &str) -> Result<(), Failure> {
    match &args.bundle {
        Some(_) => Err(Failure::usage(format!("{command} does not take --bundle: {why}; give the rules with -r"))),
        None => Ok(()),
    }
}

/// Reads a rule bundle (`sigmata compile`): the engine and correlations it
/// holds, checked as [`sigmata::bundle::Bundle::from_bytes`] checks them
/// against the default limits.
fn load_bundle(path: &Path, verify_key: Option<&Path>) -> Result<Loaded, Failure> {
    let fail = |reason: String| Failure::usage(format!("bundle {}: {reason}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    if let Some(key) = verify_key {
        crate::signature::verify(&bytes, path, key)?;
    }
    // The engine keeps the bytes and decodes each rule from them on first use.
    let bundle = sigmata::bundle::Bundle::from_vec(bytes, &Config::new()).map_err(|e| fail(e.to_string()))?;
    let (engine, correlations, label) = bundle.into_parts();
    // The digest of the rule files the bundle was compiled from (what
    // `compile` stores as the label), so that `--stats` and `serve` name
    // the same pack as `-r` would; a bundle written by another program
    // is named by its own bytes (read again: the engine has them).
    let digest = if label.len() == 64 && label.bytes().all(|b| b.is_ascii_hexdigit()) {
        label
    } else {
        use sha2::Digest as _;
        let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
    };
    let report =
        LoadReport { rules_loaded: engine.len(), correlations_loaded: correlations.len(), ..LoadReport::default() };
    Ok(Loaded {
        config: engine.config().clone(),
        engine,
        report,
        files: 0,
        digest,
        files_not_parsed: 0,
        correlations: Arc::new(correlations),
    })
}

/// Parses `category=process_creation,product=windows`.
pub fn parse_logsource(text: &str) -> Result<LogSource, Failure> {
    let mut l = LogSource::default();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) =
            pair.split_once('=').ok_or_else(|| Failure::usage(format!("--logsource: '{pair}' is not key=value")))?;
        let slot = match k.trim() {
            "category" => &mut l.category,
            "product" => &mut l.product,
            "service" => &mut l.service,
            other => {
                return Err(Failure::usage(format!(
                    "--logsource: unknown key '{other}' (use category, product or service)"
                )));
            }
        };
        *slot = Some(v.trim().to_string());
    }
    Ok(l)
}

/// Builds an engine from the rule options.
pub fn load(args: &RuleArgs) -> Result<Loaded, Failure> {
    load_with(args, Need::All)
}

/// Whether a rule file's text can hold a document that applies to
/// `logsource`: a rule applies only if its logsource has each of the
/// `category`, `product` and `service` that `logsource` sets, with the same
/// value (ASCII case aside), so the text must contain each value. Files that
/// mention a correlation or a filter (which may have no logsource, or a
/// wider one, and refer to rules by name) are always read. A value could
/// only be missed if written with YAML escapes (`"process\x5fcreation"`),
/// which no rule pack does.
pub fn may_apply(text: &[u8], logsource: &LogSource) -> bool {
    let lower = text.to_ascii_lowercase();
    let has = |needle: &str| memchr::memmem::find(&lower, needle.to_ascii_lowercase().as_bytes()).is_some();
    [&logsource.category, &logsource.product, &logsource.service].into_iter().flatten().all(|v| has(v))
        || has("correlation")
        || has("filter:")
}

/// Builds an engine from the rule options, reading as much of the pack as
/// `need` says; correlation rules are refused.
pub fn load_with(args: &RuleArgs, need: Need) -> Result<Loaded, Failure> {
    load_inner(args, need, false)
}

/// Like [`load_with`], with correlation rules resolved into
/// [`Loaded::correlations`] instead of being refused (`scan`, `check`, `serve`).
pub fn load_correlated(args: &RuleArgs, need: Need) -> Result<Loaded, Failure> {
    load_inner(args, need, true)
}

/// A rule file read: its path, bytes, SHA-256 and whether the logsource
/// filter skips it.
type RuleFile = (PathBuf, Vec<u8>, [u8; 32], bool);

fn load_inner(args: &RuleArgs, need: Need, correlated: bool) -> Result<Loaded, Failure> {
    if let Some(path) = &args.bundle {
        let loaded = load_bundle(path, args.verify_key.as_deref())?;
        if !correlated && !loaded.correlations.is_empty() {
            return Err(Failure::usage(format!(
                "bundle {}: holds correlation rules, which this command does not evaluate",
                path.display()
            )));
        }
        return Ok(loaded);
    }
    use sha2::Digest as _;
    let mut digest = sha2::Sha256::new();
    // Each part is length-prefixed so that no two packs hash alike by
    // shifting bytes from one part to the next.
    let mut hash = |part: &[u8]| {
        digest.update((part.len() as u64).to_le_bytes());
        digest.update(part);
    };
    let mut builder = Builder::new();
    hash(if args.all_logsources { b"*" } else { args.logsource.as_bytes() });
    let logsource = if args.all_logsources { None } else { Some(parse_logsource(&args.logsource)?) };
    let config = Config::new().logsource(logsource.clone());
    builder.config(config.clone());
    // Rule files are parsed on every core: YAML is most of the load time.
    builder.threads(std::thread::available_parallelism().map_or(1, |n| n.get()));
    builder.check_all(need == Need::All);
    let skip = |text: &[u8]| need == Need::Evaluate && logsource.as_ref().is_some_and(|l| !may_apply(text, l));
    let mut files_not_parsed = 0;
    if let Some(p) = &args.placeholders {
        let text = std::fs::read_to_string(p).map_err(|e| Failure::usage(format!("{}: {e}", p.display())))?;
        hash(text.as_bytes());
        let placeholders =
            Placeholders::from_yaml(&text).map_err(|e| Failure::usage(format!("{}: {e}", p.display())))?;
        builder.placeholders(placeholders);
    }
    let mut files = 0;
    if args.rules.is_empty() {
        for (path, text) in EMBEDDED_RULES {
            hash(path.as_bytes());
            hash(text.as_bytes());
            files += 1;
            if skip(text.as_bytes()) {
                files_not_parsed += 1;
                continue;
            }
            builder.add_source(path, text);
        }
    }
    for root in &args.rules {
        // Reading, hashing and filtering the files on every core: one after
        // the other they took a sixth of the SigmaHQ pack's load time.
        use rayon::prelude::*;
        let read: Vec<Result<RuleFile, Failure>> = rule_files(root)?
            .into_par_iter()
            .map(|f| {
                let bytes = std::fs::read(&f).map_err(|e| Failure::io(format!("{}: {e}", f.display())))?;
                let file_digest = sha2::Sha256::digest(&bytes).into();
                let skipped = skip(&bytes);
                Ok((f, bytes, file_digest, skipped))
            })
            .collect();
        for r in read {
            let (f, bytes, file_digest, skipped) = r?;
            let path = f.display().to_string();
            hash(path.as_bytes());
            hash(&file_digest);
            files += 1;
            if skipped {
                files_not_parsed += 1;
                continue;
            }
            builder.add_source_bytes(&path, &bytes);
        }
    }
    let (engine, correlations, report) = if correlated {
        builder.build_correlated()
    } else {
        let (engine, report) = builder.build();
        (engine, Correlations::default(), report)
    };
    let digest = digest.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(Loaded { engine, report, files, config, digest, files_not_parsed, correlations: Arc::new(correlations) })
}
