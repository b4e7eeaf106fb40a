//! `sigmata debug ast|ir RULE`: print a rule after each compiler stage.

use sigmata::{Builder, Config};

use crate::args::{DebugArgs, Stage};
use crate::{Failure, Outcome};

/// Runs `debug`.
pub fn run(a: &DebugArgs) -> Result<Outcome, Failure> {
    let bytes =
        std::fs::read(&a.rule).map_err(|e| Failure::usage(format!("{}: {e}", a.rule.display())))?;
    let mut b = Builder::new();
    b.config(Config::new().logsource(None))
        .add_source_bytes(&a.rule.display().to_string(), &bytes);
    let (engine, report) = b.build();
    for e in &report.errors {
        eprintln!("{e}\n");
    }
    for (_, lr) in engine.rules() {
        println!(
            "# {} ({})",
            lr.rule.title,
            lr.rule.id.as_deref().unwrap_or("no id")
        );
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
        }
    }
    Ok(if report.errors.is_empty() {
        Outcome::Yes
    } else {
        Outcome::No
    })
}
