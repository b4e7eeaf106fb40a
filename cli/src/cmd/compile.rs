//! `sigmata compile -r RULES -o PACK`: the rules as `scan` loads them,
//! written as a rule bundle (see `sigmata::bundle`).

use sigmata::bundle::Bundle;

use crate::args::CompileArgs;
use crate::rules;
use crate::{Failure, Outcome};

/// Runs `compile`.
pub fn run(a: &CompileArgs) -> Result<Outcome, Failure> {
    rules::refuse_bundle(&a.rules, "compile", "it compiles rule files")?;
    // What scan evaluates, loaded the way scan loads it, so that a scan of
    // the bundle prints exactly what a scan of the rules prints.
    let loaded = rules::load_correlated(&a.rules, rules::Need::Evaluate)?;
    for e in &loaded.report.errors {
        eprintln!("sigmata: refused: {}", super::check::first_line(e));
    }
    loaded.require_rules(&a.rules)?;
    let correlations = loaded.correlations.as_ref().clone();
    let n_corr = correlations.len();
    let bytes = Bundle::new(loaded.engine.clone()).correlations(correlations).label(loaded.digest.clone()).to_bytes();
    // Signed first, so that a bad key leaves no unsigned bundle behind.
    let signature = a.sign_key.as_deref().map(|key| crate::signature::sign(&bytes, key)).transpose()?;
    std::fs::write(&a.output, &bytes).map_err(|e| Failure::io(format!("{}: {e}", a.output.display())))?;
    let signed = match signature {
        Some(signature) => {
            let path = crate::signature::sig_path(&a.output);
            std::fs::write(&path, signature).map_err(|e| Failure::io(format!("{}: {e}", path.display())))?;
            format!("; signed in {}", path.display())
        }
        None => String::new(),
    };
    eprintln!(
        "sigmata: compiled {} rule(s) and {} correlation(s) into {} ({} bytes){signed}; {} refused, {} of other logsources",
        loaded.engine.len(),
        n_corr,
        a.output.display(),
        bytes.len(),
        loaded.report.errors.len(),
        loaded.report.not_applicable.len(),
    );
    Ok(Outcome::Yes)
}
