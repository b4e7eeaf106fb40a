//! "Evaluation never allocates when warm" (ARCHITECTURE.md), kept true by
//! counting: a global allocator that counts the allocations of the
//! evaluating thread while a warm pass evaluates every event of every
//! conformance case, filled from its JSON text (both renderings: as written
//! and with `\u` escapes) and from its `serde_json::Value`.
//!
//! Two exceptions, documented in ARCHITECTURE.md: a keyword predicate whose
//! prefilter fires on a line the fast JSON reader left in the record's text
//! reads that line once per event as a `serde_json::Value` (records filled
//! from a `serde_json::Value` collect their keyword values and must not
//! allocate); and a time-part modifier (`|hour`) on a value that starts
//! like a date but is not one (`2025-13-22`), whose parse error (jiff's)
//! allocates. Text that does not start like a date is refused first.
//!
//! A binary of its own (issue 13, item 10): a `#[global_allocator]` applies
//! to every test of the binary it is in, and the integration tests run on
//! several threads.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use sigmata::{MatchSet, Record};
use sigmata_tests::{build, configs, json_texts, load_cases};

struct Counting;

thread_local! {
    /// Allocations of this thread while `COUNTING` is set.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    // `try_with`: a thread being torn down has no locals left.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every call is passed to the system allocator unchanged; the
// counting touches only `const`-initialised thread locals, which neither
// allocate nor register destructors.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: the caller's contract is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The allocations `f` makes on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    f();
    COUNTING.with(|on| on.set(false));
    ALLOCATIONS.with(Cell::get)
}

/// True if some string of `event` starts with a year (four digits) but is
/// not a timestamp.
fn has_malformed_date(event: &serde_json::Value) -> bool {
    match event {
        serde_json::Value::String(s) => {
            s.trim().get(..4).is_some_and(|y| y.bytes().all(|b| b.is_ascii_digit()))
                && sigmata::Value::Str(s).time_part(sigmata::ir::TimePart::Year).is_none()
        }
        serde_json::Value::Array(a) => a.iter().any(has_malformed_date),
        serde_json::Value::Object(o) => o.values().any(has_malformed_date),
        _ => false,
    }
}

#[test]
fn a_warm_evaluation_does_not_allocate() {
    // The counter counts: one allocation is seen.
    assert_eq!(allocations(|| drop(std::hint::black_box(vec![1u8]))), 1);
    let mut evaluated = 0;
    let mut failures = Vec::new();
    for case in load_cases().iter().filter(|c| c.error.is_none()) {
        for (config_name, config) in configs() {
            let (engine, report) = build(case, config);
            if !report.errors.is_empty() {
                continue;
            }
            let events: Vec<&serde_json::Value> = case.matches.iter().chain(&case.no_matches).collect();
            // One record per event and rendering, filled once: the
            // evaluation alone is counted. Records read from JSON text whose
            // keyword values stay in the line are the exception above.
            let mut records: Vec<(Record, &str)> = Vec::new();
            for event in &events {
                let date = if has_malformed_date(event) { "malformed date" } else { "" };
                let exempt = if engine.needs_keywords() { "keyword line" } else { date };
                for text in json_texts(event) {
                    let mut r = Record::new();
                    engine.fill_json(&mut r, &text).expect("case events are JSON objects");
                    records.push((r, exempt));
                }
                let mut r = Record::new();
                engine.fill(&mut r, *event);
                records.push((r, date));
            }
            let (mut cache, mut out) = (engine.create_cache(), MatchSet::new());
            for (r, _) in &records {
                engine.matches_record(&mut cache, r, &mut out);
            }
            for (r, exempt) in &records {
                let n = allocations(|| engine.matches_record(&mut cache, r, &mut out));
                evaluated += 1;
                if n > 0 && exempt.is_empty() {
                    failures.push(format!("{} ({config_name}): {n} allocation(s) in a warm evaluation", case.name));
                }
            }
        }
    }
    assert!(evaluated >= 500, "only {evaluated} evaluations");
    assert!(failures.is_empty(), "{} case(s) allocate:\n{}", failures.len(), failures.join("\n"));
}
