//! Stages 5 and 6, execution: the compiled [`Engine`] and what it reads.
//!
//! [`engine`] builds the per-field matchers and lazy tests from a
//! [`Plan`](crate::plan) and evaluates records; [`matcher`] holds the literal
//! automata and per-thread caches, [`lazy`] the tests computed on demand,
//! [`record`] the pre-parsed event, and `json` fills records straight from
//! JSON text. Nothing here parses rules, and nothing here does I/O.

pub(crate) mod daac;
pub(crate) mod engine;
#[cfg(feature = "json")]
pub(crate) mod json;
pub(crate) mod keywords;
pub(crate) mod lazy;
pub(crate) mod matcher;
pub(crate) mod record;
pub(crate) mod trim;

pub use engine::{Cache, Engine, EvalCounters, MatchSet, PlanStats, RuleId};
