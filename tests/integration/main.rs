//! The one integration test binary (ripgrep's `autotests = false` layout).
//! The command-line tests are a test target of `sigmata-cli` (cli/Cargo.toml):
//! only the package that owns the binary is told where cargo put it.

// Every conformance case (tests/cases/*.yml) against every engine
// configuration and the reference evaluator.
mod conformance;
// The public API: auto traits, lenient loading, error locations.
mod api;
// SigmaHQ rules and real events from ../shared, when present.
mod shared;
// Random rule packs and events: the engine in every configuration against the reference.
mod differential;
// Explanations of matches and misses against the reference evaluator.
mod explain;
// Every Config limit, and hostile rules that must neither crash nor blow up.
mod limits;
// Bad JSONL lines at the engine level: each an event or a named error, exactly.
mod bad_input;
// Hostile regexes and 10 MB lines cost time linear in the input (a ratio, not a clock).
mod linear;
// Correlation rules: data-driven cases and a differential against a naive correlator.
mod correlation;
// Rule bundles: loaded == compiled, and damaged bundles refused.
mod bundle;
