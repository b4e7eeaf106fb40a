//! `sigmata debug ast|ir|plan RULES...`: print rules after a compiler stage.

use sigmata::{Builder, Config};

use crate::args::{DebugArgs, Stage};
use crate::rules;
use crate::{Failure, Outcome};

/// Runs `debug`.
pub fn run(a: &DebugArgs) -> Result<Outcome, Failure> {
    let mut b = Builder::new();
    let logsource = if a.stage == Stage::Plan { Some(rules::parse_logsource(&a.logsource)?) } else { None };
    b.config(Config::new().logsource(logsource));
    for root in &a.rules {
        for f in rules::rule_files(root)? {
            let bytes = std::fs::read(&f).map_err(|e| Failure::io(format!("{}: {e}", f.display())))?;
            b.add_source_bytes(&f.display().to_string(), &bytes);
        }
    }
    let (engine, report) = b.build();
    for e in &report.errors {
        eprintln!("{e}\n");
    }
    if a.stage == Stage::Plan {
        print_plan(&engine);
    }
    for (id, lr) in engine.rules() {
        if a.stage == Stage::Plan {
            let w = engine.witnesses(id);
            println!("{} [{}]", lr.rule.title, lr.rule.origin.path);
            if w.is_empty() {
                println!("  evaluated for every event (no witness)");
            }
            for (i, g) in w.iter().enumerate() {
                println!("  group {}: {g}", i + 1);
            }
            continue;
        }
        println!("# {} ({})", lr.rule.title, lr.rule.id.as_deref().unwrap_or("no id"));
        match a.stage {
            Stage::Ast => {
                for c in &lr.rule.detection.conditions {
                    println!("condition: {c}");
                    match sigmata::condition::parse(c, Config::new().get_max_condition_depth()) {
                        Ok(ast) => println!("{ast:#?}"),
                        Err(e) => println!("error: {}", e.message()),
                    }
                }
            }
            Stage::Ir => {
                if !lr.filters.is_empty() {
                    println!("filters applied: {}", lr.filters.join(", "));
                }
                print!("{}", lr.ir.expr.display(engine.fields()));
            }
            Stage::Plan => {}
        }
    }
    Ok(if report.errors.is_empty() { Outcome::Yes } else { Outcome::No })
}

fn print_plan(engine: &sigmata::Engine) {
    let s = engine.plan_stats();
    println!(
        "{} rules, {} distinct predicates ({} decided by scanning, {} lazy), {} rules evaluated for every event",
        s.rules,
        s.predicates,
        s.scanned,
        s.predicates - s.scanned,
        s.always_evaluated
    );
    for (field, literals, matcher) in &s.fields {
        println!("  field {field}: {literals} literals, {matcher}");
    }
    println!();
}
