//! `sigmata scan --profile`: where verification time goes, per rule.
//!
//! The engine's `matches_record_profiled` times each rule program it runs
//! (an `Instant` around each candidate's verification); this module adds
//! the times up and reports the costliest rules. Profiling is opt-in and
//! uses a separate engine entry point, so a normal scan pays nothing for it.

use std::fmt::Write;
use std::time::Duration;

use sigmata::{Cache, Engine, MatchSet, Record};

/// How many rules the report lists.
pub const TOP: usize = 20;

/// Accumulated verification times.
#[derive(Debug)]
pub struct Profile {
    /// Per rule index: (nanoseconds verifying, verifications).
    rules: Vec<(u64, u64)>,
    /// Nanoseconds of the shared scan step (literal matchers, witness counting).
    scan_nanos: u64,
}

impl Profile {
    /// An empty profile for an engine of `rules` rules.
    pub fn new(rules: usize) -> Profile {
        Profile { rules: vec![(0, 0); rules], scan_nanos: 0 }
    }

    /// Adds another profile's times (of another thread) to this one.
    pub fn merge(&mut self, other: &Profile) {
        for (mine, theirs) in self.rules.iter_mut().zip(&other.rules) {
            mine.0 += theirs.0;
            mine.1 += theirs.1;
        }
        self.scan_nanos += other.scan_nanos;
    }

    /// Evaluates a record, timing every rule verified on it.
    pub fn add(&mut self, engine: &Engine, cache: &mut Cache, record: &Record, out: &mut MatchSet) {
        self.scan_nanos += engine.matches_record_profiled(cache, record, out, &mut self.rules);
    }

    /// The report: totals, then the [`TOP`] rules by total verification time.
    pub fn report(&self, engine: &Engine, events: u64, elapsed: Duration) -> String {
        let total: u64 = self.rules.iter().map(|r| r.0).sum();
        let verifications: u64 = self.rules.iter().map(|r| r.1).sum();
        let ms = |n: u64| n as f64 / 1e6;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "profile: {events} events in {:.1} ms; shared scanning {:.1} ms; rule verification {:.1} ms ({verifications} verifications)",
            elapsed.as_secs_f64() * 1e3,
            ms(self.scan_nanos),
            ms(total)
        );
        let mut order: Vec<usize> = (0..self.rules.len()).filter(|&i| self.rules[i].1 > 0).collect();
        order.sort_by(|&a, &b| self.rules[b].0.cmp(&self.rules[a].0).then(a.cmp(&b)));
        let _ = writeln!(
            s,
            "top {} rules by verification time:\n{:>10} {:>6} {:>10} {:>8}  {:<8} rule",
            TOP.min(order.len()),
            "total ms",
            "share",
            "verified",
            "ns/verify",
            "witness"
        );
        for (i, lr) in order.iter().take(TOP).map(|&i| (i, engine.rules().nth(i).map(|(_, lr)| lr))) {
            let Some(lr) = lr else { continue };
            let (nanos, runs) = self.rules[i];
            let always = engine.rules().nth(i).is_some_and(|(id, _)| engine.witness_groups(id).is_empty());
            let _ = writeln!(
                s,
                "{:>10.3} {:>5.1}% {:>10} {:>8}  {:<8} {} [{}] {}",
                ms(nanos),
                if total > 0 { 100.0 * nanos as f64 / total as f64 } else { 0.0 },
                runs,
                nanos / runs.max(1),
                if always { "none" } else { "yes" },
                lr.rule.title,
                lr.rule.id.as_deref().unwrap_or("no id"),
                lr.rule.origin.path
            );
        }
        s
    }
}
