//! Detached Ed25519 signatures of rule bundles: `compile --sign-key KEY.pem`
//! writes `PACK.sig`, and `--bundle PACK --verify-key PUB.pem` loads the
//! bundle only if `PACK.sig` is its signature by that key.
//!
//! The files are those OpenSSL reads and writes, so that a release key can
//! live outside sigmata:
//!
//! ```text
//! openssl genpkey -algorithm ed25519 -out key.pem
//! openssl pkey -in key.pem -pubout -out pub.pem
//! openssl pkeyutl -sign -rawin -inkey key.pem -in pack.sgb -out pack.sgb.sig
//! ```
//!
//! The signature covers every byte of the bundle and is checked before the
//! bundle is read any further. Ed25519 is `ring`'s (already in the build for
//! the NATS client's TLS); PEM is unwrapped here, since the two key formats
//! involved are fixed: a PKCS#8 private key and a 44-byte SubjectPublicKeyInfo.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};

use crate::Failure;

/// The DER of an Ed25519 SubjectPublicKeyInfo up to the key's 32 bytes
/// (RFC 8410: SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING }).
const SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// Where a bundle's signature is: the bundle's path with `.sig` appended.
pub fn sig_path(bundle: &Path) -> PathBuf {
    let mut name = bundle.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

/// The DER inside a PEM file's `label` block; `hint` says which file that is.
fn pem(path: &Path, label: &str, hint: &str) -> Result<Vec<u8>, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
    let (begin, end) = (format!("-----BEGIN {label}-----"), format!("-----END {label}-----"));
    let body = text
        .split_once(&begin)
        .and_then(|(_, rest)| rest.split_once(&end))
        .map(|(body, _)| body.split_whitespace().collect::<String>())
        .ok_or_else(|| Failure::usage(format!("{}: no '{begin}' block: {hint}", path.display())))?;
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| Failure::usage(format!("{}: the {label} block is not base64: {e}", path.display())))
}

/// The Ed25519 private key in `key` (PKCS#8 PEM, as `openssl genpkey
/// -algorithm ed25519` writes it).
fn private_key(key: &Path) -> Result<Ed25519KeyPair, Failure> {
    let der = pem(key, "PRIVATE KEY", "give an Ed25519 private key in PEM (`openssl genpkey -algorithm ed25519`)")?;
    Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
        .map_err(|e| Failure::usage(format!("{}: not an Ed25519 private key: {e}", key.display())))
}

/// Signs `bytes` with the private key in `key`.
pub fn sign(bytes: &[u8], key: &Path) -> Result<Vec<u8>, Failure> {
    Ok(private_key(key)?.sign(bytes).as_ref().to_vec())
}

/// The public key of the private key in `key`, as a PEM SubjectPublicKeyInfo
/// (what `openssl pkey -pubout` writes).
pub fn public_pem(key: &Path) -> Result<String, Failure> {
    let spki = [&SPKI_PREFIX[..], private_key(key)?.public_key().as_ref()].concat();
    let b64 = base64::engine::general_purpose::STANDARD.encode(spki);
    Ok(format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n"))
}

/// Checks that `bundle`'s signature file holds the signature of `bytes` (the
/// bundle's contents) by the Ed25519 public key in `key` (PEM, as
/// `openssl pkey -pubout` writes it).
pub fn verify(bytes: &[u8], bundle: &Path, key: &Path) -> Result<(), Failure> {
    let der = pem(key, "PUBLIC KEY", "give an Ed25519 public key in PEM (`openssl pkey -in KEY -pubout`)")?;
    let public = der
        .strip_prefix(&SPKI_PREFIX[..])
        .filter(|k| k.len() == 32)
        .ok_or_else(|| Failure::usage(format!("{}: not an Ed25519 public key", key.display())))?;
    let sig_file = sig_path(bundle);
    let sig = std::fs::read(&sig_file).map_err(|e| {
        Failure::usage(format!(
            "bundle {}: --verify-key needs its signature, {}: {e}",
            bundle.display(),
            sig_file.display()
        ))
    })?;
    UnparsedPublicKey::new(&ED25519, public).verify(bytes, &sig).map_err(|_| {
        Failure::usage(format!(
            "bundle {}: {} is not its signature by {}: the bundle was changed after it was signed, or signed with another key",
            bundle.display(),
            sig_file.display(),
            key.display()
        ))
    })
}
