//! The one integration test binary (ripgrep's `autotests = false` layout).

// Every conformance case (tests/cases/*.yml) against every engine
// configuration and the reference evaluator.
mod conformance;
// The command line: exit codes, output formats, malformed input accounting.
mod cli;
// The public API: auto traits, lenient loading, error locations.
mod api;
// SigmaHQ rules and real events from ../shared, when present.
mod shared;
