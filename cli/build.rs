//! Embeds the project's own rule pack (`../rules`) into the binary, so that
//! `sigmata scan` works from any directory without `-r`.

use std::fmt::Write;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, out);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml"))
            && !p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".tests.yml"))
        {
            out.push(p);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let rules = manifest.join("..").join("rules");
    println!("cargo:rerun-if-changed={}", rules.display());
    let mut files = Vec::new();
    collect(&rules, &mut files);
    // Rules under rules/placeholder/ need `expand` values that only a deployment can give
    // (`--placeholders`), so they are not embedded.
    files.retain(|f| !f.starts_with(rules.join("placeholder")));
    let mut code = String::from(
        "/// The project's rule pack, embedded at build time: (path, text).\npub static EMBEDDED_RULES: &[(&str, &str)] = &[\n",
    );
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let rel = f.strip_prefix(manifest.join("..")).unwrap_or(f);
        let _ = writeln!(code, "    ({:?}, include_str!({:?})),", rel.display().to_string(), f.display().to_string());
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("embedded_rules.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
