//! Encryption at rest, offline: the apiserver's EncryptionConfiguration
//! (current `apiserver.config.k8s.io/v1` and the pre-1.13
//! `EncryptionConfig`), and decryption of `k8s:enc:` values as kube-apiserver
//! reads them: transformers chosen by prefix in config order, falling
//! through to the next on failure. aescbc (IV, CBC, PKCS#7), aesgcm (nonce,
//! GCM with the etcd key as additional data), secretbox (XSalsa20-Poly1305),
//! KMS v1 (length-prefixed wrapped DEK, then GCM or, before 1.25, CBC data)
//! and KMS v2 (`EncryptedObject`, with a DEK or an HKDF-expanded seed)
//! decrypt with keys from the config or, for KMS, unwrapped keys the user
//! supplies.
#![forbid(unsafe_code)]

use crate::proto::{self, Value};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use std::collections::BTreeMap;
use yaml_rust2::{Yaml, YamlLoader};

/// One configured key.
#[derive(Debug, Clone)]
pub struct Key {
    pub name: String,
    pub secret: Vec<u8>,
}

/// One provider of a resource rule, in config order.
#[derive(Debug, Clone)]
pub enum Provider {
    AesCbc(Vec<Key>),
    AesGcm(Vec<Key>),
    Secretbox(Vec<Key>),
    Kms { version: String, name: String },
    Identity,
}

/// A `resources:` entry: which resources, and their providers in order.
#[derive(Debug, Clone)]
pub struct Rule {
    pub resources: Vec<String>,
    pub providers: Vec<Provider>,
}

/// A parsed EncryptionConfiguration plus the KMS data keys the user gave.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    pub rules: Vec<Rule>,
    /// KMS plugin name → unwrapped DEK (or KMS v2 seed).
    pub kms_keys: BTreeMap<String, Vec<u8>>,
}

/// A config that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("not YAML: {0}")]
    Yaml(String),
    #[error("{0}")]
    Invalid(String),
}

/// Standard base64 (padding optional), as the config's secrets are written.
pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim().bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn keys_of(p: &Yaml, provider: &str, sizes: &[usize]) -> Result<Vec<Key>, ConfigError> {
    let mut out = Vec::new();
    for k in p["keys"].as_vec().map(Vec::as_slice).unwrap_or_default() {
        let name = k["name"].as_str().unwrap_or_default().to_string();
        let secret = k["secret"].as_str().and_then(b64_decode).ok_or_else(|| {
            ConfigError::Invalid(format!("{provider} key {name:?}: secret is not base64"))
        })?;
        if !sizes.contains(&secret.len()) {
            return Err(ConfigError::Invalid(format!(
                "{provider} key {name:?} is {} bytes; it must be {sizes:?}",
                secret.len()
            )));
        }
        out.push(Key { name, secret });
    }
    Ok(out)
}

impl Keyring {
    /// Parse an EncryptionConfiguration (YAML or JSON).
    pub fn from_config(text: &str) -> Result<Keyring, ConfigError> {
        let docs = YamlLoader::load_from_str(text).map_err(|e| ConfigError::Yaml(e.to_string()))?;
        let doc = docs
            .first()
            .ok_or_else(|| ConfigError::Invalid("empty file".into()))?;
        let kind = doc["kind"].as_str().unwrap_or_default();
        if kind != "EncryptionConfiguration" && kind != "EncryptionConfig" {
            return Err(ConfigError::Invalid(format!(
                "kind is {kind:?}, expected EncryptionConfiguration"
            )));
        }
        let mut rules = Vec::new();
        for r in doc["resources"]
            .as_vec()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let resources: Vec<String> = r["resources"]
                .as_vec()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect();
            let mut providers = Vec::new();
            for p in r["providers"]
                .as_vec()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let Some(h) = p.as_hash() else { continue };
                for (k, v) in h {
                    providers.push(match k.as_str().unwrap_or_default() {
                        "aescbc" => Provider::AesCbc(keys_of(v, "aescbc", &[16, 24, 32])?),
                        "aesgcm" => Provider::AesGcm(keys_of(v, "aesgcm", &[16, 24, 32])?),
                        "secretbox" => Provider::Secretbox(keys_of(v, "secretbox", &[32])?),
                        "kms" => Provider::Kms {
                            version: v["apiVersion"].as_str().unwrap_or("v1").to_string(),
                            name: v["name"].as_str().unwrap_or_default().to_string(),
                        },
                        "identity" => Provider::Identity,
                        other => {
                            return Err(ConfigError::Invalid(format!("unknown provider {other:?}")))
                        }
                    });
                }
            }
            rules.push(Rule {
                resources,
                providers,
            });
        }
        Ok(Keyring {
            rules,
            kms_keys: BTreeMap::new(),
        })
    }

    /// Providers in the order the apiserver tries them for `resource`
    /// (rules naming it first, then wildcard rules), then every other
    /// configured provider (a value copied between resources still
    /// decrypts).
    fn providers_for(&self, resource: &str) -> Vec<&Provider> {
        let matches = |r: &Rule| {
            r.resources.iter().any(|x| {
                x == resource
                    || x == "*.*"
                    || (x.starts_with("*.") && resource.ends_with(&x[1..]))
                    || (x == "*." && !resource.contains('.'))
            })
        };
        let mut out: Vec<&Provider> = Vec::new();
        for r in self.rules.iter().filter(|r| matches(r)) {
            out.extend(r.providers.iter());
        }
        for r in self.rules.iter().filter(|r| !matches(r)) {
            out.extend(r.providers.iter());
        }
        out
    }
}

/// Why a value did not decrypt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    #[error("no key configured for prefix {0:?} (the key was rotated out of the config, or this is another cluster's data)")]
    NoKey(String),
    #[error("{0}")]
    Failed(String),
}

fn gcm_open(key: &[u8], data: &[u8], aad: &[u8]) -> Result<Vec<u8>, String> {
    if data.len() < 12 + 16 {
        return Err(format!(
            "{} bytes is too short for nonce and tag",
            data.len()
        ));
    }
    let (nonce, ct) = data.split_at(12);
    let payload = Payload { msg: ct, aad };
    let nonce = aes_gcm::Nonce::from_slice(nonce);
    let r = match key.len() {
        16 => aes_gcm::Aes128Gcm::new_from_slice(key)
            .map_err(|e| e.to_string())?
            .decrypt(nonce, payload),
        24 => aes_gcm::AesGcm::<aes::Aes192, aes_gcm::aead::consts::U12>::new_from_slice(key)
            .map_err(|e| e.to_string())?
            .decrypt(nonce, payload),
        32 => aes_gcm::Aes256Gcm::new_from_slice(key)
            .map_err(|e| e.to_string())?
            .decrypt(nonce, payload),
        n => return Err(format!("AES key of {n} bytes")),
    };
    r.map_err(|_| {
        "authentication failed: wrong key, wrong etcd key (the additional data), or damaged value"
            .to_string()
    })
}

fn cbc_open(key: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
    use cbc::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
    if data.len() < 32 || data.len() % 16 != 0 {
        return Err(format!(
            "{} bytes is not IV plus whole AES blocks",
            data.len()
        ));
    }
    let (iv, ct) = data.split_at(16);
    let bad = |_| "wrong key or damaged value (bad padding)".to_string();
    match key.len() {
        16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv)
            .map_err(|e| e.to_string())?
            .decrypt_padded_vec_mut::<Pkcs7>(ct)
            .map_err(bad),
        24 => cbc::Decryptor::<aes::Aes192>::new_from_slices(key, iv)
            .map_err(|e| e.to_string())?
            .decrypt_padded_vec_mut::<Pkcs7>(ct)
            .map_err(bad),
        32 => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
            .map_err(|e| e.to_string())?
            .decrypt_padded_vec_mut::<Pkcs7>(ct)
            .map_err(bad),
        n => Err(format!("AES key of {n} bytes")),
    }
}

fn secretbox_open(key: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
    use crypto_secretbox::{Nonce, XSalsa20Poly1305};
    if data.len() < 24 + 16 {
        return Err(format!(
            "{} bytes is too short for nonce and tag",
            data.len()
        ));
    }
    let (nonce, ct) = data.split_at(24);
    XSalsa20Poly1305::new_from_slice(key)
        .map_err(|e| e.to_string())?
        .decrypt(Nonce::from_slice(nonce), ct)
        .map_err(|_| "authentication failed: wrong key or damaged value".to_string())
}

/// HKDF-Expand (no extract step) with SHA-256, as KMS v2 derives a data key
/// from its seed.
fn hkdf_expand(seed: &[u8], info: &[u8]) -> Result<Vec<u8>, String> {
    let hk = hkdf::Hkdf::<sha2::Sha256>::from_prk(seed).map_err(|e| e.to_string())?;
    let mut okm = vec![0u8; 32];
    hk.expand(info, &mut okm).map_err(|e| e.to_string())?;
    Ok(okm)
}

fn kms_v2_open(dek: &[u8], body: &[u8], aad: &[u8]) -> Result<Vec<u8>, String> {
    let mut data: &[u8] = &[];
    let mut source_type = 0u64;
    for f in proto::fields(body) {
        match f.map_err(|e| format!("EncryptedObject does not decode: {e}"))? {
            (1, Value::Bytes(b), _) => data = b,
            (5, Value::Varint(t), _) => source_type = t,
            _ => {}
        }
    }
    match source_type {
        0 => gcm_open(dek, data, aad),
        1 => {
            if data.len() < 32 {
                return Err("seed-derived value shorter than its 32-byte info".into());
            }
            let (info, rest) = data.split_at(32);
            gcm_open(&hkdf_expand(dek, info)?, rest, aad)
        }
        t => Err(format!("unknown encryptedDEKSourceType {t}")),
    }
}

/// The KMS v2 envelope's key id and plugin-visible facts (for reporting).
pub fn kms_v2_key_id(body: &[u8]) -> Option<String> {
    proto::fields(body).find_map(|f| match f.ok()? {
        (2, Value::Bytes(b), _) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    })
}

/// Decrypt `value` stored under `etcd_key`. `resource` is the resource the
/// key belongs to (`secrets`), used to order providers as the apiserver
/// does.
pub fn decrypt(
    ring: &Keyring,
    resource: &str,
    etcd_key: &[u8],
    value: &[u8],
) -> Result<Vec<u8>, DecryptError> {
    let mut tried: Vec<String> = Vec::new();
    let mut matched = false;
    for p in ring.providers_for(resource) {
        let attempts: Vec<(String, Result<Vec<u8>, String>)> = match p {
            Provider::AesCbc(keys) | Provider::AesGcm(keys) | Provider::Secretbox(keys) => {
                let name = match p {
                    Provider::AesCbc(_) => "aescbc",
                    Provider::AesGcm(_) => "aesgcm",
                    _ => "secretbox",
                };
                keys.iter()
                    .filter_map(|k| {
                        let prefix = format!("k8s:enc:{name}:v1:{}:", k.name);
                        let data = value.strip_prefix(prefix.as_bytes())?;
                        Some((
                            format!("{name} key {:?}", k.name),
                            match p {
                                Provider::AesCbc(_) => cbc_open(&k.secret, data),
                                Provider::AesGcm(_) => gcm_open(&k.secret, data, etcd_key),
                                _ => secretbox_open(&k.secret, data),
                            },
                        ))
                    })
                    .collect()
            }
            Provider::Kms { version, name } => {
                let prefix = format!("k8s:enc:kms:{version}:{name}:");
                let Some(data) = value.strip_prefix(prefix.as_bytes()) else {
                    continue;
                };
                let what = format!("kms {version} plugin {name:?}");
                let Some(dek) = ring.kms_keys.get(name) else {
                    matched = true;
                    tried.push(format!(
                        "{what}: the data key is wrapped by the KMS; give the unwrapped key with --kms-dek {name}=BASE64{}",
                        if version == "v2" {
                            kms_v2_key_id(data).map_or(String::new(), |k| format!(" (key id {k:?})"))
                        } else {
                            String::new()
                        }
                    ));
                    continue;
                };
                let r = if version == "v2" {
                    kms_v2_open(dek, data, etcd_key)
                } else {
                    // uint16 length of the wrapped DEK, the DEK, the data.
                    match data {
                        [a, b, rest @ ..] => {
                            let n = usize::from(u16::from_be_bytes([*a, *b]));
                            match rest.get(n..) {
                                Some(sealed) => gcm_open(dek, sealed, etcd_key)
                                    .or_else(|_| cbc_open(dek, sealed)),
                                None => Err("wrapped DEK runs past the value".into()),
                            }
                        }
                        _ => Err("value too short".into()),
                    }
                };
                vec![(what, r)]
            }
            Provider::Identity => continue,
        };
        for (what, r) in attempts {
            matched = true;
            match r {
                Ok(plain) => return Ok(plain),
                Err(e) => tried.push(format!("{what}: {e}")),
            }
        }
    }
    if !matched {
        let end = value
            .iter()
            .enumerate()
            .filter(|(_, c)| **c == b':')
            .nth(4)
            .map_or(value.len().min(40), |(i, _)| i + 1);
        return Err(DecryptError::NoKey(
            String::from_utf8_lossy(&value[..end]).into_owned(),
        ));
    }
    Err(DecryptError::Failed(tried.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::aead::AeadCore;

    const CONFIG: &str = "
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - aesgcm:
          keys:
            - name: g1
              secret: AAECAwQFBgcICQoLDA0ODw==
      - aescbc:
          keys:
            - name: k1
              secret: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=
            - name: k1
              secret: YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODk=
      - identity: {}
";

    #[test]
    fn gcm_uses_the_etcd_key_and_cbc_falls_through_keys_of_one_name() {
        let ring = Keyring::from_config(CONFIG).unwrap();
        // aesgcm: sealed here with RustCrypto, AAD = the etcd key.
        let key: Vec<u8> = (0u8..16).collect();
        let cipher = aes_gcm::Aes128Gcm::new_from_slice(&key).unwrap();
        let nonce = aes_gcm::Aes128Gcm::generate_nonce(&mut aes_gcm::aead::OsRng);
        let etcd_key = b"/registry/secrets/default/s";
        let ct = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: b"plain",
                    aad: etcd_key,
                },
            )
            .unwrap();
        let mut v = b"k8s:enc:aesgcm:v1:g1:".to_vec();
        v.extend_from_slice(&nonce);
        v.extend_from_slice(&ct);
        assert_eq!(decrypt(&ring, "secrets", etcd_key, &v).unwrap(), b"plain");
        // The same value under another key does not authenticate.
        let e = decrypt(&ring, "secrets", b"/registry/secrets/other/s", &v).unwrap_err();
        assert!(matches!(e, DecryptError::Failed(_)), "{e}");
        // aescbc under the second key named k1: the first fails, the second
        // decrypts, as the apiserver falls through.
        use cbc::cipher::{block_padding::Pkcs7, BlockEncryptMut, KeyIvInit};
        let k2 = b"abcdef0123456789abcdef0123456789";
        let iv = [7u8; 16];
        let ct = cbc::Encryptor::<aes::Aes256>::new_from_slices(k2, &iv)
            .unwrap()
            .encrypt_padded_vec_mut::<Pkcs7>(b"hello cbc");
        let mut v = b"k8s:enc:aescbc:v1:k1:".to_vec();
        v.extend_from_slice(&iv);
        v.extend_from_slice(&ct);
        assert_eq!(
            decrypt(&ring, "secrets", etcd_key, &v).unwrap(),
            b"hello cbc"
        );
        // A key name the config does not have.
        let e = decrypt(&ring, "secrets", etcd_key, b"k8s:enc:aescbc:v1:old:xxxx").unwrap_err();
        assert!(matches!(e, DecryptError::NoKey(_)), "{e}");
    }

    #[test]
    fn bad_configs_are_refused() {
        assert!(Keyring::from_config("kind: Pod").is_err());
        let short = CONFIG.replace("AAECAwQFBgcICQoLDA0ODw==", "AAEC");
        assert!(Keyring::from_config(&short).is_err());
        assert_eq!(b64_decode("aGk=").unwrap(), b"hi");
    }
}
