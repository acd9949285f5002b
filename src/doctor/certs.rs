//! Certificates etcd is configured with: PEM that parses, dates (expired,
//! not yet valid, expiring within 30 days), the signature of the configured
//! CA, the private key matching the certificate, the extended key usages
//! etcd's TLS needs, and SANs covering every host it is reached at.
#![forbid(unsafe_code)]

use super::{Area, Problem};
use crate::findings::Severity;
use serde::Serialize;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::public_key::PublicKey;

/// The warning window before expiry.
pub const EXPIRY_WINDOW_DAYS: i64 = 30;

/// What a certificate is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// `--cert-file`: served on the client URLs.
    Server,
    /// `--peer-cert-file`: served to and presented to the other members.
    Peer,
    /// `--trusted-ca-file` / `--peer-trusted-ca-file`.
    Ca,
    /// A client of etcd (kubeadm's healthcheck client, the apiserver's).
    Client,
}

/// One certificate to check.
#[derive(Debug, Clone)]
pub struct Spec {
    pub role: Role,
    /// "server certificate (--cert-file)".
    pub label: String,
    pub cert: PathBuf,
    pub key: Option<PathBuf>,
    /// The CA file that must have signed it.
    pub ca: Option<PathBuf>,
    /// Hosts (names or IPs) clients reach it at; wildcards already removed.
    pub hosts: Vec<(String, String)>,
    /// Whether the client side of TLS checks this certificate's clientAuth
    /// usage (client-cert-auth / peer-client-cert-auth on).
    pub client_auth_checked: bool,
    /// The manifest, for the restart step of fixes.
    pub manifest: Option<PathBuf>,
}

/// What was read from a certificate (for the report).
#[derive(Debug, Clone, Serialize)]
pub struct CertInfo {
    pub role: Role,
    pub label: String,
    pub file: String,
    pub subject: String,
    pub issuer: String,
    pub not_before: String,
    pub not_after: String,
    pub days_left: i64,
    pub sans: Vec<String>,
    pub extended_key_usage: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_matches: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_by_ca: Option<bool>,
}

/// kubeadm's name for a certificate file, for `kubeadm certs renew NAME`.
pub fn kubeadm_name(cert: &Path) -> Option<&'static str> {
    let s = cert.to_string_lossy();
    let name = cert.file_name()?.to_string_lossy().into_owned();
    let in_etcd = s.contains("/etcd/");
    Some(match name.as_str() {
        "server.crt" if in_etcd => "etcd-server",
        "peer.crt" if in_etcd => "etcd-peer",
        "healthcheck-client.crt" if in_etcd => "etcd-healthcheck-client",
        "apiserver-etcd-client.crt" => "apiserver-etcd-client",
        _ => return None,
    })
}

fn restart(manifest: Option<&Path>) -> String {
    match manifest {
        Some(m) => format!(
            "then restart etcd: move {} out of the manifests dir and back (kubelet recreates the pod)",
            m.display()
        ),
        None => "then restart etcd".into(),
    }
}

fn renew_fix(spec: &Spec) -> String {
    match kubeadm_name(&spec.cert) {
        Some(n) => format!(
            "`kubeadm certs renew {n}` (re-signs it with the etcd CA, keeping its key, names and usages), {}; `kubeadm certs check-expiration` shows every certificate's date",
            restart(spec.manifest.as_deref())
        ),
        None if spec.role == Role::Ca => format!(
            "kubeadm does not renew CAs: rotate the etcd CA (new {} and its key), re-issue every etcd certificate from it (`kubeadm certs renew etcd-server etcd-peer etcd-healthcheck-client apiserver-etcd-client`), {}",
            spec.cert.display(),
            restart(spec.manifest.as_deref())
        ),
        None => format!(
            "re-issue {} from the CA with the same key, names and usages (openssl x509 -req / cfssl), {}",
            spec.cert.display(),
            restart(spec.manifest.as_deref())
        ),
    }
}

fn regenerate_fix(spec: &Spec, what: &str) -> String {
    let key = spec
        .key
        .as_ref()
        .map_or(String::new(), |k| format!(" {}", k.display()));
    match kubeadm_name(&spec.cert) {
        Some(n) => format!(
            "`kubeadm certs renew` keeps the old {what}, so make a new certificate: move {}{key} aside, then `kubeadm init phase certs {n} --config kubeadm.yaml` (extra names go under etcd.local.serverCertSANs / peerCertSANs), {}",
            spec.cert.display(),
            restart(spec.manifest.as_deref())
        ),
        None => format!(
            "issue a new {} from the CA with the right {what} (openssl x509 -req with an extfile, or cfssl), {}",
            spec.cert.display(),
            restart(spec.manifest.as_deref())
        ),
    }
}

/// Seconds since 1970 to `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc(ts: i64) -> String {
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The DER certificates of a PEM file, or why there are none.
pub fn read_pem_certs(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    let blocks = pem::parse_many(&bytes).map_err(|e| format!("not valid PEM: {e}"))?;
    let certs: Vec<Vec<u8>> = blocks
        .into_iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(|b| b.into_contents())
        .collect();
    if certs.is_empty() {
        return Err("no PEM CERTIFICATE block in it".into());
    }
    Ok(certs)
}

fn parse_cert(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, c)| c)
        .map_err(|e| format!("the PEM block is not an X.509 certificate: {e}"))
}

/// Check one certificate; problems go to `out`.
pub fn check(spec: &Spec, now: i64, out: &mut Vec<Problem>) -> Option<CertInfo> {
    let file = spec.cert.display().to_string();
    let push = |out: &mut Vec<Problem>, sev, code, msg: String, fix: String| {
        out.push(Problem::new(Area::Certificates, sev, code, &file, msg, fix));
    };
    if !spec.cert.exists() {
        push(
            out,
            Severity::Error,
            "cert.missing",
            format!("the {} does not exist: etcd exits at start (open {file}: no such file or directory)", spec.label),
            match kubeadm_name(&spec.cert) {
                Some(n) => format!("`kubeadm init phase certs {n} --config kubeadm.yaml` creates it from the etcd CA (or restore it from a backup of /etc/kubernetes/pki), {}", restart(spec.manifest.as_deref())),
                None => format!("restore {file} from a backup or issue it again from the CA, {}", restart(spec.manifest.as_deref())),
            },
        );
        return None;
    }
    let ders = match read_pem_certs(&spec.cert) {
        Ok(d) => d,
        Err(e) => {
            push(
                out,
                Severity::Error,
                "cert.unreadable",
                format!(
                    "the {} cannot be used: {e}; etcd exits at start (tls: failed to find any PEM data)",
                    spec.label
                ),
                format!(
                    "restore it from a backup, or {}",
                    regenerate_fix(spec, "certificate")
                ),
            );
            return None;
        }
    };
    let der = ders.first()?;
    let cert = match parse_cert(der) {
        Ok(c) => c,
        Err(e) => {
            push(
                out,
                Severity::Error,
                "cert.unreadable",
                format!("the {} cannot be used: {e}", spec.label),
                format!(
                    "restore it from a backup, or {}",
                    regenerate_fix(spec, "certificate")
                ),
            );
            return None;
        }
    };
    let nb = cert.validity().not_before.timestamp();
    let na = cert.validity().not_after.timestamp();
    let days_left = (na - now).div_euclid(86_400);
    let who = match spec.role {
        Role::Server => "clients (kube-apiserver, etcdctl) refuse the TLS handshake with etcd",
        Role::Peer => "the other members refuse its peer connections (and it theirs): no quorum in a multi-member cluster",
        Role::Ca => "every certificate it signed fails verification: clients and peers refuse etcd, and etcd refuses them",
        Role::Client => "etcd refuses this client's connections",
    };
    if na < now {
        push(
            out,
            Severity::Error,
            "cert.expired",
            format!(
                "the {} expired on {} ({} days ago): {who}",
                spec.label,
                utc(na),
                (now - na) / 86_400
            ),
            renew_fix(spec),
        );
    } else if nb > now {
        push(
            out,
            Severity::Error,
            "cert.not-yet-valid",
            format!(
                "the {} is not valid before {} (the node's clock is behind, or it was issued with a future date): {who}",
                spec.label,
                utc(nb)
            ),
            format!("check the node's clock (`timedatectl`, NTP); if the clock is right, {}", renew_fix(spec)),
        );
    } else if na - now < EXPIRY_WINDOW_DAYS * 86_400 {
        push(
            out,
            Severity::Warning,
            "cert.expiring",
            format!(
                "the {} expires on {} (in {} days, within {EXPIRY_WINDOW_DAYS}): then {who}",
                spec.label,
                utc(na),
                days_left
            ),
            renew_fix(spec),
        );
    }
    let mut info = CertInfo {
        role: spec.role,
        label: spec.label.clone(),
        file: file.clone(),
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: utc(nb),
        not_after: utc(na),
        days_left,
        sans: Vec::new(),
        extended_key_usage: Vec::new(),
        key_matches: None,
        signed_by_ca: None,
    };
    if spec.role == Role::Ca {
        if !cert.is_ca() {
            push(
                out,
                Severity::Error,
                "cert.ca-invalid",
                format!(
                    "the {} is not a CA certificate (basicConstraints CA:TRUE is missing): Go's TLS does not accept it as an issuer, so nothing verifies against it",
                    spec.label
                ),
                format!("point the flag at the etcd CA certificate (kubeadm: /etc/kubernetes/pki/etcd/ca.crt), {}", restart(spec.manifest.as_deref())),
            );
        }
        return Some(info);
    }
    // Extended key usage (absent: any usage, as Go treats it).
    match cert.extended_key_usage() {
        Ok(Some(eku)) => {
            let e = eku.value;
            let mut names = Vec::new();
            if e.any {
                names.push("any".to_string());
            }
            if e.server_auth {
                names.push("serverAuth".into());
            }
            if e.client_auth {
                names.push("clientAuth".into());
            }
            names.extend(e.other.iter().map(|o| o.to_id_string()));
            info.extended_key_usage = names;
            let server_ok = e.any || e.server_auth;
            let client_ok = e.any || e.client_auth;
            let mut missing = Vec::new();
            match spec.role {
                Role::Server | Role::Peer if !server_ok => missing.push((
                    "serverAuth",
                    Severity::Error,
                    "TLS clients refuse a server certificate without it (x509: certificate specifies an incompatible key usage)",
                )),
                _ => {}
            }
            match spec.role {
                Role::Peer if !client_ok => missing.push((
                    "clientAuth",
                    if spec.client_auth_checked { Severity::Error } else { Severity::Warning },
                    "etcd presents the peer certificate as a client when it dials the other members, and with --peer-client-cert-auth they reject it (bad certificate)",
                )),
                Role::Server if !client_ok && spec.client_auth_checked => missing.push((
                    "clientAuth",
                    Severity::Warning,
                    "etcd's gRPC gateway (the HTTP/JSON API on the client port) dials etcd with the server certificate as its client certificate; with --client-cert-auth that handshake fails",
                )),
                Role::Client if !client_ok => missing.push((
                    "clientAuth",
                    Severity::Error,
                    "etcd (--client-cert-auth) rejects client certificates without it",
                )),
                _ => {}
            }
            for (usage, sev, why) in missing {
                push(
                    out,
                    sev,
                    "cert.eku-missing",
                    format!(
                        "the {} has extended key usage [{}] without {usage}: {why}",
                        spec.label,
                        info.extended_key_usage.join(", ")
                    ),
                    regenerate_fix(spec, "key usages"),
                );
            }
        }
        Ok(None) => {}
        Err(e) => push(
            out,
            Severity::Warning,
            "cert.eku-invalid",
            format!(
                "the {}'s extended key usage extension does not parse: {e}",
                spec.label
            ),
            regenerate_fix(spec, "key usages"),
        ),
    }
    // SANs.
    let sans: Vec<GeneralName<'_>> = match cert.subject_alternative_name() {
        Ok(Some(s)) => s.value.general_names.clone(),
        _ => Vec::new(),
    };
    info.sans = sans.iter().map(show_san).collect();
    let mut uncovered: Vec<String> = Vec::new();
    for (host, flag) in &spec.hosts {
        if !covers(&sans, host) {
            let h = format!("{host} ({flag})");
            if !uncovered.contains(&h) {
                uncovered.push(h);
            }
        }
    }
    if !uncovered.is_empty() {
        push(
            out,
            Severity::Error,
            "cert.san-missing",
            format!(
                "the {} does not cover {}: its SANs are [{}]; a client reaching etcd at such an address refuses it (x509: certificate is valid for ..., not ...)",
                spec.label,
                uncovered.join(", "),
                info.sans.join(", ")
            ),
            regenerate_fix(spec, "names (SANs)"),
        );
    }
    // The CA's signature.
    if let Some(ca) = &spec.ca {
        if let Ok(ca_ders) = read_pem_certs(ca) {
            let cas: Vec<X509Certificate<'_>> =
                ca_ders.iter().filter_map(|d| parse_cert(d).ok()).collect();
            let mut unsupported = false;
            let signed = cas
                .iter()
                .any(|c| match cert.verify_signature(Some(c.public_key())) {
                    Ok(()) => true,
                    Err(x509_parser::error::X509Error::SignatureUnsupportedAlgorithm) => {
                        unsupported = true;
                        false
                    }
                    Err(_) => false,
                });
            if !cas.is_empty() && !signed && unsupported {
                push(
                    out,
                    Severity::Info,
                    "cert.signature-unchecked",
                    format!(
                        "the {}'s signature algorithm cannot be verified here; its issuer is {}",
                        spec.label, info.issuer
                    ),
                    String::new(),
                );
            } else if !cas.is_empty() {
                info.signed_by_ca = Some(signed);
                if !signed {
                    let ca_subjects: Vec<String> =
                        cas.iter().map(|c| c.subject().to_string()).collect();
                    push(
                        out,
                        Severity::Error,
                        "cert.wrong-ca",
                        format!(
                            "the {} (issuer {}) is not signed by the CA in {} ({}): {who}",
                            spec.label,
                            info.issuer,
                            ca.display(),
                            ca_subjects.join("; ")
                        ),
                        match kubeadm_name(&spec.cert) {
                            Some(n) => format!("`kubeadm certs renew {n}` signs it again with the CA in {} (check that ca.crt and ca.key are the cluster's etcd CA: the other members' certificates must verify against it too), {}", ca.display(), restart(spec.manifest.as_deref())),
                            None => format!("issue it again from the CA in {}, or point the CA flag at the CA that signed it, {}", ca.display(), restart(spec.manifest.as_deref())),
                        },
                    );
                }
            }
        }
    }
    // The key.
    if let Some(key) = &spec.key {
        match key_public(key) {
            Ok(KeyPublic::Rsa(n)) => {
                let m = match cert.public_key().parsed() {
                    Ok(PublicKey::RSA(r)) => strip_zeros(r.modulus) == strip_zeros(&n),
                    _ => false,
                };
                info.key_matches = Some(m);
            }
            Ok(KeyPublic::Ec(p)) => {
                let m = matches!(cert.public_key().parsed(), Ok(PublicKey::EC(e)) if e.data() == p.as_slice());
                info.key_matches = Some(m);
            }
            Ok(KeyPublic::Unknown(what)) => push(
                out,
                Severity::Info,
                "cert.key-unchecked",
                format!(
                    "the key {} is {what}: whether it matches the certificate is not checked",
                    key.display()
                ),
                String::new(),
            ),
            Err(e) => {
                let missing = !key.exists();
                push(
                    out,
                    Severity::Error,
                    if missing { "cert.key-missing" } else { "cert.key-unreadable" },
                    format!(
                        "the key of the {} ({}) {e}: etcd exits at start (tls: failed to find any PEM data in key input)",
                        spec.label,
                        key.display()
                    ),
                    format!("restore {} from a backup; without it, {}", key.display(), regenerate_fix(spec, "key")),
                );
            }
        }
        if info.key_matches == Some(false) {
            push(
                out,
                Severity::Error,
                "cert.key-mismatch",
                format!(
                    "the key {} does not belong to the {} {file} (their public keys differ): etcd exits at start (tls: private key does not match public key)",
                    key.display(),
                    spec.label
                ),
                match kubeadm_name(&spec.cert) {
                    Some(n) => format!("restore the matching key from a backup, or `kubeadm certs renew {n}`: it issues a new certificate for the key that is there now, {}", restart(spec.manifest.as_deref())),
                    None => format!("restore the matching key, or issue a new certificate for this key, {}", restart(spec.manifest.as_deref())),
                },
            );
        }
    }
    Some(info)
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|x| **x == 0).count();
    b.get(n..).unwrap_or(&[])
}

fn show_san(g: &GeneralName<'_>) -> String {
    match g {
        GeneralName::DNSName(d) => format!("DNS:{d}"),
        GeneralName::IPAddress(b) => match ip_of(b) {
            Some(ip) => format!("IP:{ip}"),
            None => "IP:?".into(),
        },
        GeneralName::URI(u) => format!("URI:{u}"),
        GeneralName::RFC822Name(e) => format!("email:{e}"),
        other => format!("{other:?}"),
    }
}

fn ip_of(b: &[u8]) -> Option<IpAddr> {
    if let Ok(a) = <[u8; 4]>::try_from(b) {
        return Some(IpAddr::from(a));
    }
    <[u8; 16]>::try_from(b).ok().map(IpAddr::from)
}

/// Whether the SANs cover a host as Go's VerifyHostname does (IP hosts need
/// an IP SAN; names a DNS SAN, `*.` matching one label; no CN fallback).
pub fn covers(sans: &[GeneralName<'_>], host: &str) -> bool {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return sans.iter().any(|g| match g {
            GeneralName::IPAddress(b) => ip_of(b).is_some_and(|x| canon(x) == canon(ip)),
            _ => false,
        });
    }
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    sans.iter().any(|g| match g {
        GeneralName::DNSName(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if let Some(suffix) = d.strip_prefix("*.") {
                host.split_once('.').is_some_and(|(_, rest)| rest == suffix)
            } else {
                d == host
            }
        }
        _ => false,
    })
}

fn canon(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The public half of a private key.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyPublic {
    /// RSA modulus.
    Rsa(Vec<u8>),
    /// EC public point (uncompressed or compressed, as stored).
    Ec(Vec<u8>),
    /// A key whose public half is not derived here.
    Unknown(String),
}

/// Read a PEM private key and return its public half.
pub fn key_public(path: &Path) -> Result<KeyPublic, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot be read: {e}"))?;
    let blocks = pem::parse_many(&bytes).map_err(|e| format!("is not valid PEM: {e}"))?;
    let b = blocks
        .iter()
        .find(|b| b.tag().ends_with("PRIVATE KEY"))
        .ok_or("holds no PEM PRIVATE KEY block")?;
    match b.tag() {
        "RSA PRIVATE KEY" => pkcs1_modulus(b.contents()).map(KeyPublic::Rsa),
        "EC PRIVATE KEY" => sec1_point(b.contents()),
        "PRIVATE KEY" => pkcs8(b.contents()),
        "ENCRYPTED PRIVATE KEY" => {
            Err("is encrypted: etcd cannot use a key with a passphrase".into())
        }
        t => Ok(KeyPublic::Unknown(format!("a {t}"))),
    }
}

/// One DER TLV: (tag, content, rest).
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let (&l0, rest) = rest.split_first()?;
    let (len, rest) = if l0 < 0x80 {
        (usize::from(l0), rest)
    } else {
        let n = usize::from(l0 & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let lb = rest.get(..n)?;
        let len = lb.iter().fold(0usize, |a, x| (a << 8) | usize::from(*x));
        (len, rest.get(n..)?)
    };
    Some((tag, rest.get(..len)?, rest.get(len..)?))
}

fn seq(b: &[u8]) -> Option<&[u8]> {
    match tlv(b)? {
        (0x30, c, _) => Some(c),
        _ => None,
    }
}

/// RSAPrivateKey ::= SEQUENCE { version, modulus, publicExponent, ... }
fn pkcs1_modulus(der: &[u8]) -> Result<Vec<u8>, String> {
    let bad = || "is not a valid PKCS#1 RSA key".to_string();
    let body = seq(der).ok_or_else(bad)?;
    let (t, _, rest) = tlv(body).ok_or_else(bad)?;
    if t != 0x02 {
        return Err(bad());
    }
    match tlv(rest) {
        Some((0x02, n, _)) => Ok(strip_zeros(n).to_vec()),
        _ => Err(bad()),
    }
}

/// ECPrivateKey ::= SEQUENCE { version 1, privateKey OCTET STRING,
/// [0] parameters OPTIONAL, [1] publicKey BIT STRING OPTIONAL }
fn sec1_point(der: &[u8]) -> Result<KeyPublic, String> {
    let bad = || "is not a valid SEC1 EC key".to_string();
    let mut body = seq(der).ok_or_else(bad)?;
    while let Some((tag, c, rest)) = tlv(body) {
        if tag == 0xa1 {
            if let Some((0x03, bits, _)) = tlv(c) {
                let point = bits.get(1..).ok_or_else(bad)?;
                return Ok(KeyPublic::Ec(point.to_vec()));
            }
            return Err(bad());
        }
        body = rest;
    }
    Ok(KeyPublic::Unknown(
        "an EC key without its public point".into(),
    ))
}

/// PrivateKeyInfo ::= SEQUENCE { version, AlgorithmIdentifier, privateKey OCTET STRING, ... }
fn pkcs8(der: &[u8]) -> Result<KeyPublic, String> {
    let bad = || "is not a valid PKCS#8 key".to_string();
    let body = seq(der).ok_or_else(bad)?;
    let (_, _, rest) = tlv(body).ok_or_else(bad)?;
    let (t, alg, rest) = tlv(rest).ok_or_else(bad)?;
    if t != 0x30 {
        return Err(bad());
    }
    let oid = match tlv(alg) {
        Some((0x06, o, _)) => o,
        _ => return Err(bad()),
    };
    let key = match tlv(rest) {
        Some((0x04, k, _)) => k,
        _ => return Err(bad()),
    };
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    const EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
    if oid == RSA {
        pkcs1_modulus(key).map(KeyPublic::Rsa)
    } else if oid == EC {
        sec1_point(key)
    } else if oid == ED25519 {
        Ok(KeyPublic::Unknown("an Ed25519 key".into()))
    } else {
        Ok(KeyPublic::Unknown(
            "a key of an algorithm etcd's kubeadm setup does not use".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_735_689_600), "2025-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400 + 3661), "2000-02-29 01:01:01 UTC");
    }

    #[test]
    fn der_reader_refuses_garbage() {
        for b in [
            &[][..],
            &[0x30],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
            &[0x30, 0x05, 1],
        ] {
            assert!(pkcs1_modulus(b).is_err());
            assert!(sec1_point(b).is_err());
            assert!(pkcs8(b).is_err());
        }
    }

    #[test]
    fn san_matching() {
        let sans = vec![
            GeneralName::DNSName("*.example.com"),
            GeneralName::DNSName("localhost"),
            GeneralName::IPAddress(&[127, 0, 0, 1]),
        ];
        assert!(covers(&sans, "a.example.com"));
        assert!(!covers(&sans, "a.b.example.com"));
        assert!(covers(&sans, "LOCALHOST"));
        assert!(covers(&sans, "127.0.0.1"));
        assert!(!covers(&sans, "127.0.0.2"));
        assert!(!covers(&sans, "::1"));
    }
}
