//! `sigmata compile` and `--bundle`: a scan of the bundle prints exactly
//! what a scan of the rules prints (matches and correlation alerts), and a
//! damaged or misused bundle is a usage error (exit 2) naming the file.

use std::path::{Path, PathBuf};

use super::{sigmata, write};

/// `scan ARGS...` once with the rule options and once with a bundle
/// compiled from them: stdout and the exit code must be identical.
fn same_scan(rule_args: &[&str], inputs: &[&Path], scan_args: &[&str]) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let pack = dir.path().join("pack.sgb");
    let out = sigmata().arg("compile").args(rule_args).arg("-o").arg(&pack).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("compiled"));
    let scan = |rules: &[&str]| {
        sigmata()
            .args(["scan", "--format", "jsonl", "-j", "2"])
            .args(scan_args)
            .args(rules)
            .args(inputs)
            .output()
            .unwrap()
    };
    let from_rules = scan(rule_args);
    let from_bundle = scan(&["--bundle", pack.to_str().unwrap()]);
    assert_eq!(from_rules.status.code(), from_bundle.status.code(), "{}", String::from_utf8_lossy(&from_bundle.stderr));
    assert!(from_rules.stdout == from_bundle.stdout, "scan --bundle printed other matches than scan -r");
    String::from_utf8_lossy(&from_rules.stdout).lines().count()
}

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpora/sample.jsonl")
}

#[test]
fn scan_of_the_builtin_pack_bundle_prints_what_scan_of_the_rules_prints() {
    let lines = same_scan(&[], &[&sample()], &[]);
    assert!(lines > 10, "{lines} matches");
    // All logsources; and the --stats counts are the same.
    same_scan(&["--all-logsources"], &[&sample()], &[]);
    let dir = tempfile::tempdir().unwrap();
    let pack = dir.path().join("p.sgb");
    sigmata().arg("compile").arg("-o").arg(&pack).assert().code(0);
    let stats = |args: &[&str]| {
        let out = sigmata().args(["scan", "--format", "none", "--stats"]).args(args).arg(sample()).output().unwrap();
        let text = String::from_utf8_lossy(&out.stderr).to_string();
        let line = text.lines().last().unwrap_or_default().to_string();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
        (v["matches"].clone(), v["rules_loaded"].clone(), v["events"].clone())
    };
    assert_eq!(stats(&[]), stats(&["--bundle", pack.to_str().unwrap()]));
}

#[test]
fn scan_of_a_bundle_prints_the_same_correlation_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(dir.path(), "pack.yml", super::correlation::PACK);
    let input = write(dir.path(), "e.jsonl", &super::correlation::events(300));
    let lines = same_scan(&["-r", rules.to_str().unwrap()], &[&input], &[]);
    let out = sigmata().args(["scan", "--format", "jsonl", "-r"]).arg(&rules).arg(&input).output().unwrap();
    let alerts = String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.contains("\"correlation\"")).count();
    assert!(alerts > 0 && lines > alerts, "{alerts} alerts in {lines} lines");
}

#[test]
fn scan_of_the_sigmahq_windows_bundle_prints_what_scan_of_the_rules_prints() {
    let Some(shared) = super::streams::shared() else { return };
    let sigma = shared.join("sigma");
    let rules: Vec<String> = ["rules", "rules-emerging-threats", "rules-threat-hunting"]
        .iter()
        .flat_map(|d| ["-r".to_string(), sigma.join(d).display().to_string()])
        .chain(["--logsource".to_string(), "category=process_creation,product=windows".to_string()])
        .collect();
    let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
    let sysmon = shared.join("corpora/sysmon_1.jsonl");
    let lines = same_scan(&rules, &[&sample(), &sysmon], &[]);
    assert!(lines > 1_000, "{lines} matches");
}

#[test]
fn a_bad_bundle_is_a_usage_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let pack = dir.path().join("p.sgb");
    sigmata().arg("compile").arg("-o").arg(&pack).assert().code(0);
    let bytes = std::fs::read(&pack).unwrap();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (bytes[..bytes.len() / 2].to_vec(), "truncated"),
        (
            {
                let mut b = bytes.clone();
                b[bytes.len() / 3] ^= 4;
                b
            },
            "checksum mismatch",
        ),
        (b"{\"Image\": \"x\"}\n".to_vec(), "not a sigmata rule bundle"),
    ];
    for (content, why) in cases {
        let bad = dir.path().join("bad.sgb");
        std::fs::write(&bad, content).unwrap();
        let out = sigmata().args(["scan", "--bundle"]).arg(&bad).arg(sample()).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("bundle {}: ", bad.display())) && err.contains(why), "{err}");
        assert!(out.stdout.is_empty());
    }
    let out = sigmata().args(["scan", "--bundle", "/no/such.sgb"]).arg(sample()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bundle /no/such.sgb: "));
}

#[test]
fn bundle_is_refused_where_it_makes_no_sense() {
    let dir = tempfile::tempdir().unwrap();
    let pack = dir.path().join("p.sgb");
    sigmata().arg("compile").arg("-o").arg(&pack).assert().code(0);
    let p = pack.to_str().unwrap();
    for args in [
        vec!["scan", "--bundle", p, "-r", "rules"],
        vec!["scan", "--bundle", p, "--logsource", "category=x"],
        vec!["scan", "--bundle", p, "--placeholders", "x.yml"],
        vec!["check", "--bundle", p],
        vec!["test", "--bundle", p],
        vec!["compile", "--bundle", p, "-o", "x.sgb"],
    ] {
        let out = sigmata().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--bundle"), "{args:?}: {err}");
    }
    // explain reads the rules from the bundle.
    let out = sigmata()
        .args(["explain", "--bundle", p, "-"])
        .write_stdin("{\"Image\": \"C:\\\\w\\\\whoami.exe\"}\n")
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!out.stdout.is_empty());
}

/// A new Ed25519 key pair in `dir`, as OpenSSL writes them: `key.pem`
/// (PKCS#8) and `pub.pem` (SubjectPublicKeyInfo).
pub fn key_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    use base64::Engine as _;
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref());
    let key = dir.join(format!("{name}.pem"));
    std::fs::write(&key, format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n")).unwrap();
    let public = dir.join(format!("{name}.pub.pem"));
    std::fs::write(&public, sigmata_cli::signature::public_pem(&key).unwrap()).unwrap();
    (key, public)
}

/// `compile --sign-key` writes PACK.sig; `--verify-key` loads the bundle
/// only with that signature by that key: a changed byte, another key's
/// signature, no signature, or a key of the wrong kind is exit 2 naming
/// the files.
#[test]
fn a_signed_bundle_loads_only_with_its_signature() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = key_pair(dir.path(), "release");
    let (other_key, other_public) = key_pair(dir.path(), "other");
    let pack = dir.path().join("p.sgb");
    let out = sigmata().arg("compile").arg("-o").arg(&pack).arg("--sign-key").arg(&key).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("signed in"));
    let sig = sigmata_cli::signature::sig_path(&pack);
    assert_eq!(std::fs::read(&sig).unwrap().len(), 64);
    let scan = |bundle: &Path, key: &Path| {
        sigmata()
            .args(["scan", "--format", "jsonl", "--bundle"])
            .arg(bundle)
            .arg("--verify-key")
            .arg(key)
            .arg(sample())
            .output()
            .unwrap()
    };
    let unsigned = sigmata().args(["scan", "--format", "jsonl", "--bundle"]).arg(&pack).arg(sample()).output().unwrap();
    let verified = scan(&pack, &public);
    assert_eq!(verified.status.code(), Some(0), "{}", String::from_utf8_lossy(&verified.stderr));
    assert!(verified.stdout == unsigned.stdout && !verified.stdout.is_empty());

    let refused = |out: std::process::Output, why: &[&str]| {
        assert_eq!(out.status.code(), Some(2));
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(why.iter().all(|w| err.contains(w)), "{why:?}: {err}");
    };
    let not_its = "is not its signature by";
    // Another key's public key.
    refused(scan(&pack, &other_public), &[not_its, &other_public.display().to_string()]);
    // One byte of the bundle changed (its checksum is not even looked at).
    let changed = dir.path().join("changed.sgb");
    let mut bytes = std::fs::read(&pack).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(&changed, &bytes).unwrap();
    std::fs::copy(&sig, sigmata_cli::signature::sig_path(&changed)).unwrap();
    refused(scan(&changed, &public), &[not_its, &changed.display().to_string()]);
    // The signature of another key.
    let other = dir.path().join("other.sgb");
    let out = sigmata().arg("compile").arg("-o").arg(&other).arg("--sign-key").arg(&other_key).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    std::fs::copy(sigmata_cli::signature::sig_path(&other), &sig).unwrap();
    refused(scan(&pack, &public), &[not_its]);
    // No signature.
    std::fs::remove_file(&sig).unwrap();
    refused(scan(&pack, &public), &["needs its signature", &sig.display().to_string()]);
    // A private key given as the public one, and the other way round.
    refused(scan(&pack, &key), &["BEGIN PUBLIC KEY", "openssl pkey"]);
    let unwritten = dir.path().join("never.sgb");
    let out = sigmata().arg("compile").arg("-o").arg(&unwritten).arg("--sign-key").arg(&public).output().unwrap();
    refused(out, &["BEGIN PRIVATE KEY"]);
    assert!(!unwritten.exists(), "a bundle was written without its signature");
    // --verify-key is for bundles.
    let out = sigmata().args(["scan", "--verify-key"]).arg(&public).arg(sample()).output().unwrap();
    refused(out, &["--bundle"]);
}
