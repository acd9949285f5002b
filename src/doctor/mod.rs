//! `doctor`: why a control-plane etcd member will not come up, from the
//! files on the node: the static-pod manifest (etcd's flags, hostPath
//! volumes), the certificates, the disk and quota, the member's identity
//! against its data dir, and the data itself (`check` with its boot
//! prediction). A verdict, then findings by severity, each with its fix.
#![forbid(unsafe_code)]

pub mod certs;
pub mod disk;
pub mod identity;
pub mod manifest;
pub mod report;

use crate::findings::{Finding, Severity};
use manifest::{Flags, Manifest, Resolved, Resolver};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use report::{render_text, Report, Verdict};

/// The kubelet's manifest of etcd on a kubeadm node.
pub const DEFAULT_MANIFEST: &str = "/etc/kubernetes/manifests/etcd.yaml";
/// kubeadm's pki dir.
pub const DEFAULT_PKI: &str = "/etc/kubernetes/pki";

/// The area a finding belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    Manifest,
    Certificates,
    Disk,
    Identity,
    Data,
}

/// A finding with its area and the step that fixes it.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub area: Area,
    #[serde(flatten)]
    pub finding: Finding,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fix: String,
}

impl Problem {
    pub fn new(
        area: Area,
        severity: Severity,
        code: &'static str,
        file: &str,
        message: String,
        fix: String,
    ) -> Problem {
        Problem {
            area,
            finding: Finding::new(severity, code, file, message),
            fix,
        }
    }
}

/// What to diagnose.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The static-pod manifest (default: ROOT/etc/kubernetes/manifests/etcd.yaml).
    pub manifest: Option<PathBuf>,
    /// The data dir on the node (overrides the manifest's).
    pub data_dir: Option<PathBuf>,
    /// kubeadm's pki dir, for the apiserver's etcd client certificate.
    pub pki: Option<PathBuf>,
    /// A directory standing for `/` (a copy of a node's files).
    pub root: Option<PathBuf>,
    /// etcd flags given on the command line (override the manifest's).
    pub etcd_args: Vec<String>,
    /// The time to judge dates at (seconds since 1970; default now).
    pub now: Option<i64>,
    /// The etcd release to judge the data for (default: the manifest's
    /// image tag, else the line that wrote the data).
    pub etcd_version: Option<crate::etcd::lines::EtcdVersion>,
}

/// Flags whose value is a path etcd opens.
const PATH_FLAGS: &[&str] = &[
    "data-dir",
    "wal-dir",
    "cert-file",
    "key-file",
    "trusted-ca-file",
    "peer-cert-file",
    "peer-key-file",
    "peer-trusted-ca-file",
];

/// Run every check. Err (exit 2) only when there is nothing to diagnose.
pub fn run(o: &Options) -> Result<Report, String> {
    let now = o.now.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    });
    let mut out: Vec<Problem> = Vec::new();
    let root = o
        .root
        .clone()
        .or_else(|| o.manifest.as_deref().and_then(manifest::inferred_root))
        .or_else(|| o.pki.as_deref().and_then(manifest::inferred_root_of_pki));
    let on_node = |p: &str| match &root {
        Some(r) => r.join(p.trim_start_matches('/')),
        None => PathBuf::from(p),
    };
    let manifest_path = o
        .manifest
        .clone()
        .unwrap_or_else(|| on_node(DEFAULT_MANIFEST));
    let mfile = manifest_path.display().to_string();
    let mut man: Option<Manifest> = None;
    match std::fs::read_to_string(&manifest_path) {
        Ok(text) => match manifest::parse(&manifest_path, &text) {
            Ok(m) => man = Some(m),
            Err(e) => out.push(Problem::new(
                Area::Manifest,
                Severity::Error,
                "manifest.invalid",
                &mfile,
                format!("the static-pod manifest cannot be used: {e}; the kubelet does not start etcd from it"),
                "restore the manifest from a backup or another control-plane node (adjusting name and IPs), or regenerate it: `kubeadm init phase etcd local --config kubeadm.yaml`".into(),
            )),
        },
        Err(e) if o.manifest.is_some() => {
            return Err(format!("{mfile}: {e}"));
        }
        Err(e) => {
            if o.data_dir.is_none() && o.etcd_args.is_empty() {
                return Err(format!(
                    "{mfile}: {e}; give --manifest FILE, or --data-dir DIR (and etcd's flags after --)"
                ));
            }
            out.push(Problem::new(
                Area::Manifest,
                Severity::Info,
                "manifest.absent",
                &mfile,
                format!("no manifest ({e}): working from the flags given"),
                String::new(),
            ));
        }
    }
    if let Some(r) = &root {
        if o.root.is_none() {
            out.push(Problem::new(
                Area::Manifest,
                Severity::Info,
                "manifest.root",
                &mfile,
                format!(
                    "node paths are read under {} (the manifest or the pki dir lies in its etc/kubernetes; --root overrides)",
                    r.display()
                ),
                String::new(),
            ));
        }
    }
    let mut flags = Flags::default();
    if let Some(m) = &man {
        flags = Flags::parse(&m.command);
        flags.fill(&m.env_flags);
    }
    flags.merge(&Flags::parse(&o.etcd_args));
    let resolver = Resolver::new(root.clone(), man.as_ref());
    let mut resolved: BTreeMap<&str, Resolved> = BTreeMap::new();
    for f in PATH_FLAGS {
        if let Some(p) = flags.get(f) {
            let r = resolver.resolve(p);
            if r.unmounted {
                out.push(Problem::new(
                    Area::Manifest,
                    Severity::Error,
                    "manifest.unmounted",
                    &mfile,
                    format!("--{f}={p} is not under any hostPath volume of the pod: etcd in the container does not see the node's {}", r.host.display()),
                    format!("add a volumeMount and hostPath volume for {} to the manifest (kubeadm mounts /var/lib/etcd as etcd-data and /etc/kubernetes/pki/etcd as etcd-certs)", Path::new(p).parent().map_or(p.to_string(), |d| d.display().to_string())),
                ));
            }
            resolved.insert(f, r);
        }
    }
    let host = |f: &str| resolved.get(f).map(|r| r.host.clone());
    config_checks(&flags, &mfile, &mut out);

    // Certificates.
    let mut cert_infos = Vec::new();
    let restart_manifest = man.as_ref().map(|m| m.path.clone());
    for spec in cert_specs(&flags, &host, o, &on_node, man.is_some(), restart_manifest) {
        if let Some(i) = certs::check(&spec, now, &mut out) {
            cert_infos.push(i);
        }
    }

    // The data dir.
    let data_dir: Option<Resolved> = match &o.data_dir {
        Some(d) => Some(Resolved {
            container: d.display().to_string(),
            host: d.clone(),
            volume: None,
            unmounted: false,
        }),
        None => resolved.get("data-dir").cloned(),
    };
    let mut ident = None;
    let mut disk_info = None;
    let mut boot = None;
    match &data_dir {
        None => out.push(Problem::new(
            Area::Manifest,
            Severity::Error,
            "config.no-data-dir",
            &mfile,
            "etcd is given no --data-dir: it writes to NAME.etcd in its working directory, inside the container, and loses everything when the pod is recreated".into(),
            "add --data-dir=/var/lib/etcd (and its hostPath volume) to the manifest".into(),
        )),
        Some(dd) => {
            let version = o.etcd_version.or_else(|| {
                man.as_ref()
                    .and_then(|m| m.image.as_deref())
                    .and_then(crate::etcd::lines::EtcdVersion::parse)
            });
            let (i, d, b) = data_dir_checks(&dd.host, &flags, &mfile, version, &mut out);
            ident = Some(i);
            disk_info = Some(d);
            boot = b;
        }
    }
    let mut etcd_command = vec!["etcd".to_string()];
    for (k, v) in &flags.values {
        let v = match resolved.get(k.as_str()) {
            Some(r) => r.host.display().to_string(),
            None => v.clone(),
        };
        etcd_command.push(format!("--{k}={v}"));
    }
    Ok(report::build(
        out,
        man,
        root,
        flags,
        data_dir,
        ident,
        cert_infos,
        disk_info,
        boot,
        etcd_command,
    ))
}

/// URLs and TLS flags etcd validates before it starts.
fn config_checks(flags: &Flags, mfile: &str, out: &mut Vec<Problem>) {
    let mut push = |sev, code, msg: String, fix: &str| {
        out.push(Problem::new(
            Area::Manifest,
            sev,
            code,
            mfile,
            msg,
            fix.to_string(),
        ))
    };
    for (flag, bind) in [
        ("listen-client-urls", true),
        ("listen-peer-urls", true),
        ("listen-metrics-urls", true),
        ("advertise-client-urls", false),
        ("initial-advertise-peer-urls", false),
    ] {
        for u in flags.list(flag) {
            match manifest::parse_url(&u) {
                Err(e) => push(
                    Severity::Error,
                    "config.url-invalid",
                    format!("--{flag}: {e}; etcd exits at start"),
                    "write it as https://IP:PORT",
                ),
                Ok(p) if p.scheme.starts_with("unix") => {}
                Ok(p) if p.port.is_none() => push(
                    Severity::Error,
                    "config.url-invalid",
                    format!("--{flag}: {u} has no port; etcd exits at start (missing port in address)"),
                    "add the port (kubeadm: 2379 for clients, 2380 for peers, 2381 for metrics)",
                ),
                Ok(p) if bind && p.host != "localhost" && p.host.parse::<std::net::IpAddr>().is_err() => push(
                    Severity::Error,
                    "config.url-invalid",
                    format!("--{flag}: {u} names host {} but etcd binds only IPs; it exits at start (expected IP in URL for binding)", p.host),
                    "use the node's IP (or 0.0.0.0) in listen URLs",
                ),
                Ok(_) => {}
            }
        }
    }
    let https = |f: &str| {
        flags
            .list(f)
            .iter()
            .any(|u| u.to_ascii_lowercase().starts_with("https://"))
    };
    if (https("listen-client-urls") || https("advertise-client-urls"))
        && (flags.get("cert-file").is_none() || flags.get("key-file").is_none())
    {
        push(
            Severity::Error,
            "config.tls-missing",
            "client URLs are https but --cert-file or --key-file is missing: etcd exits at start (TLS key/cert must be provided for the client url with HTTPS scheme)".into(),
            "add --cert-file=/etc/kubernetes/pki/etcd/server.crt and --key-file=/etc/kubernetes/pki/etcd/server.key",
        );
    }
    if (https("listen-peer-urls") || https("initial-advertise-peer-urls"))
        && (flags.get("peer-cert-file").is_none() || flags.get("peer-key-file").is_none())
    {
        push(
            Severity::Error,
            "config.tls-missing",
            "peer URLs are https but --peer-cert-file or --peer-key-file is missing: etcd exits at start (TLS key/cert must be provided for the peer url with HTTPS scheme)".into(),
            "add --peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt and --peer-key-file=/etc/kubernetes/pki/etcd/peer.key",
        );
    }
    for (auth, ca) in [
        ("client-cert-auth", "trusted-ca-file"),
        ("peer-client-cert-auth", "peer-trusted-ca-file"),
    ] {
        if flags.bool(auth) && flags.get(ca).is_none() {
            push(
                Severity::Error,
                "config.tls-missing",
                format!("--{auth} is on but --{ca} is missing: etcd verifies client certificates against the system's CAs, so certificates from the etcd CA are refused"),
                "add --trusted-ca-file / --peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt",
            );
        }
    }
    if let Some(q) = flags.get("quota-backend-bytes") {
        match disk::quota(Some(q)) {
            Err(e) => push(
                Severity::Error,
                "config.invalid",
                format!("{e}: etcd exits at start (invalid value for flag)"),
                "give the quota in bytes, e.g. --quota-backend-bytes=8589934592",
            ),
            Ok(Some(n)) if n > disk::MAX_RECOMMENDED_QUOTA => push(
                Severity::Warning,
                "config.quota-large",
                format!("--quota-backend-bytes={q} is above the 8 GiB etcd recommends: large dbs make restarts, snapshots and defrags slow"),
                "keep the quota at 8 GiB or less; compact and defrag instead",
            ),
            _ => {}
        }
    }
}

/// Hosts of the https URLs of `flags`, with the flag naming them; the
/// unspecified addresses (0.0.0.0, ::) need no SAN.
fn tls_hosts(flags: &Flags, names: &[&str]) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for f in names {
        for u in flags.list(f) {
            let Ok(p) = manifest::parse_url(&u) else {
                continue;
            };
            if p.scheme != "https" && p.scheme != "unixs" {
                continue;
            }
            if p.host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_unspecified())
            {
                continue;
            }
            v.push((p.host, format!("--{f}")));
        }
    }
    v
}

fn cert_specs(
    flags: &Flags,
    host: &dyn Fn(&str) -> Option<PathBuf>,
    o: &Options,
    on_node: &dyn Fn(&str) -> PathBuf,
    have_manifest: bool,
    manifest: Option<PathBuf>,
) -> Vec<certs::Spec> {
    use certs::{Role, Spec};
    let mut v = Vec::new();
    let ca = host("trusted-ca-file");
    let peer_ca = host("peer-trusted-ca-file");
    if let Some(c) = host("cert-file") {
        v.push(Spec {
            role: Role::Server,
            label: "server certificate (--cert-file)".into(),
            cert: c,
            key: host("key-file"),
            ca: ca.clone(),
            hosts: tls_hosts(
                flags,
                &[
                    "advertise-client-urls",
                    "listen-client-urls",
                    "listen-metrics-urls",
                ],
            ),
            client_auth_checked: flags.bool("client-cert-auth"),
            manifest: manifest.clone(),
        });
    }
    if let Some(c) = host("peer-cert-file") {
        v.push(Spec {
            role: Role::Peer,
            label: "peer certificate (--peer-cert-file)".into(),
            cert: c,
            key: host("peer-key-file"),
            ca: peer_ca.clone(),
            hosts: tls_hosts(flags, &["initial-advertise-peer-urls", "listen-peer-urls"]),
            client_auth_checked: flags.bool("peer-client-cert-auth"),
            manifest: manifest.clone(),
        });
    }
    let ca_spec = |c: PathBuf, label: &str| Spec {
        role: Role::Ca,
        label: label.into(),
        cert: c,
        key: None,
        ca: None,
        hosts: Vec::new(),
        client_auth_checked: false,
        manifest: manifest.clone(),
    };
    match (&ca, &peer_ca) {
        (Some(a), Some(b)) if a == b => v.push(ca_spec(
            a.clone(),
            "CA certificate (--trusted-ca-file, --peer-trusted-ca-file)",
        )),
        _ => {
            if let Some(a) = &ca {
                v.push(ca_spec(
                    a.clone(),
                    "client CA certificate (--trusted-ca-file)",
                ));
            }
            if let Some(b) = &peer_ca {
                v.push(ca_spec(
                    b.clone(),
                    "peer CA certificate (--peer-trusted-ca-file)",
                ));
            }
        }
    }
    // kubeadm's healthcheck client, beside the CA.
    if let Some(dir) = ca.as_deref().and_then(Path::parent) {
        let c = dir.join("healthcheck-client.crt");
        if c.exists() {
            v.push(Spec {
                role: Role::Client,
                label: "healthcheck client certificate".into(),
                key: Some(dir.join("healthcheck-client.key")),
                cert: c,
                ca: ca.clone(),
                hosts: Vec::new(),
                client_auth_checked: true,
                manifest: manifest.clone(),
            });
        }
    }
    // The apiserver's client certificate: with --pki, or kubeadm's pki dir
    // when the manifest is in use and the file is there.
    let pki = match &o.pki {
        Some(p) => Some(p.clone()),
        None => {
            let p = on_node(DEFAULT_PKI);
            (have_manifest && p.join("apiserver-etcd-client.crt").exists()).then_some(p)
        }
    };
    if let Some(p) = pki {
        v.push(Spec {
            role: Role::Client,
            label: "kube-apiserver's etcd client certificate".into(),
            cert: p.join("apiserver-etcd-client.crt"),
            key: Some(p.join("apiserver-etcd-client.key")),
            ca: ca.clone().or_else(|| Some(p.join("etcd/ca.crt"))),
            hosts: Vec::new(),
            client_auth_checked: true,
            manifest: None,
        });
    }
    v
}

/// Disk, identity and data checks of the data dir at `dd` (a node path).
fn data_dir_checks(
    dd: &Path,
    flags: &Flags,
    mfile: &str,
    version: Option<crate::etcd::lines::EtcdVersion>,
    out: &mut Vec<Problem>,
) -> (
    identity::DataDirIdentity,
    disk::DiskInfo,
    Option<crate::ops::boot::Boot>,
) {
    let dd_name = dd.display().to_string();
    let member = dd.join("member");
    let wal_dir = member.join("wal");
    let has_wal = std::fs::read_dir(&wal_dir).is_ok_and(|it| {
        it.flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".wal"))
    });
    let mut ident = identity::DataDirIdentity {
        has_wal,
        ..Default::default()
    };
    let input = if member.is_dir() {
        crate::input::resolve(dd).ok()
    } else {
        None
    };
    if dd.exists() && !dd.is_dir() {
        out.push(Problem::new(
            Area::Data,
            Severity::Error,
            "data.not-a-dir",
            &dd_name,
            "the data dir is not a directory: etcd exits at start".into(),
            "move the file away and restore the data dir".into(),
        ));
    } else if member.is_dir() && !has_wal {
        out.push(Problem::new(
            Area::Data,
            Severity::Error,
            "data.no-wal",
            &dd_name,
            "member/ exists but holds no WAL segment: etcd takes the member for new and bootstraps it again over whatever db is there".into(),
            format!("restore the member from a backup (`etcdctl snapshot restore`), or `etcd-rescue inspect {dd_name}` to see what is left"),
        ));
    }
    // The db: members, alarms, sizes.
    let mut figures = None;
    if let Some(inp) = input.as_ref().filter(|i| i.db.is_some()) {
        if let Ok(db) = crate::ops::open::OpenDb::open(inp) {
            if let Ok(c) = crate::ops::check::check_db(&db) {
                for m in &c.facts.members {
                    ident.add(m.id, &m.name, &m.peer_urls, "db");
                }
                for r in &c.facts.removed_members {
                    ident.removed.insert(format!("{r:x}"));
                }
                let s = &c.summary;
                let ps = u64::from(s.page_size);
                figures = Some(disk::DbFigures {
                    file: s.file.clone(),
                    file_size: s.file_size,
                    size: s.high_water_mark.saturating_mul(ps),
                    free_bytes: (s.pages.free + s.pages.unreachable).saturating_mul(ps),
                    nospace: c
                        .facts
                        .alarms
                        .iter()
                        .filter(|a| a.alarm == 1)
                        .map(|a| a.member_id)
                        .collect(),
                    corrupt: c
                        .facts
                        .alarms
                        .iter()
                        .filter(|a| a.alarm == 2)
                        .map(|a| a.member_id)
                        .collect(),
                });
            }
        }
    }
    // The snap's v2 store, then the WAL's conf changes and metadata.
    if member.is_dir() {
        let snaps = crate::snap::read_all(&member);
        if let Some(s) = snaps
            .iter()
            .filter(|s| s.problem.is_none())
            .max_by_key(|s| s.index)
        {
            for m in &s.members {
                if let Ok(id) = u64::from_str_radix(&m.id, 16) {
                    ident.add(id, &m.name, &m.peer_urls, "snap");
                }
            }
        }
    }
    if has_wal {
        let mut changes: Vec<Vec<u8>> = Vec::new();
        let read = crate::wal::log::read_log(&wal_dir, &mut |_, _, p| {
            if let crate::wal::segment::Payload::Entry(e) = p {
                if e.entry_type == 1 {
                    changes.push(e.data.to_vec());
                }
            }
        });
        if let Ok(r) = read {
            if let Some(m) = r.metadata {
                ident.member_id = Some(format!("{:x}", m.node_id));
                ident.cluster_id = Some(format!("{:x}", m.cluster_id));
            }
        }
        for c in &changes {
            ident.add_conf_change(c);
        }
    }
    identity::judge(flags, &ident, dd, mfile, out);

    // Disk.
    let (fs_of, space) = disk::space(dd);
    let quota = disk::quota(flags.get("quota-backend-bytes")).unwrap_or(Some(disk::DEFAULT_QUOTA));
    let (free, total) = match &space {
        Ok((f, t)) => (Some(*f), Some(*t)),
        Err(e) => {
            out.push(Problem::new(
                Area::Disk,
                Severity::Warning,
                "disk.unknown",
                &fs_of.display().to_string(),
                format!(
                    "the free space of the data dir's file system is unknown: statvfs failed ({e})"
                ),
                "check it with `df -h`".into(),
            ));
            (None, None)
        }
    };
    let leftovers: Vec<(PathBuf, u64)> = input
        .as_ref()
        .map(|i| {
            i.files
                .iter()
                .filter(|f| f.role == crate::input::FileRole::DefragLeftover)
                .map(|f| (f.path.clone(), f.size))
                .collect()
        })
        .unwrap_or_default();
    disk::judge(&dd_name, free, figures.as_ref(), quota, &leftovers, out);
    let disk_info = disk::DiskInfo {
        filesystem_of: fs_of.display().to_string(),
        free_bytes: free,
        total_bytes: total,
        db_size: figures.as_ref().map(|f| f.size),
        db_file_size: figures.as_ref().map(|f| f.file_size),
        defrag_reclaims: figures.as_ref().map(|f| f.free_bytes),
        quota,
    };

    // Data: the full check and its boot prediction.
    let mut boot = None;
    if let Some(inp) = &input {
        match crate::ops::check::check_as(inp, version) {
            Ok(r) => {
                let starts = r.boot.as_ref().is_none_or(|b| b.starts);
                let v = r
                    .boot
                    .as_ref()
                    .map_or(String::new(), |b| format!(" {}", b.etcd_version));
                for f in r.findings {
                    // The boot verdict is judged below, from the prediction.
                    if f.severity == Severity::Info
                        || f.code == "etcd.alarm.active"
                        || f.code.starts_with("boot.")
                    {
                        continue;
                    }
                    let mut f = f;
                    if starts && f.severity == Severity::Error {
                        f.severity = Severity::Warning;
                        f.message
                            .push_str(&format!(" (etcd{v} still starts on this data)"));
                    }
                    let fix = data_fix(f.code, &dd_name);
                    out.push(Problem {
                        area: Area::Data,
                        finding: f,
                        fix,
                    });
                }
                if let Some(b) = &r.boot {
                    if !b.starts {
                        let advice = b
                            .steps
                            .iter()
                            .find(|s| s.severity == Severity::Error && !s.advice.is_empty())
                            .map(|s| s.advice.clone())
                            .unwrap_or_default();
                        out.push(Problem::new(
                            Area::Data,
                            Severity::Error,
                            "data.will-not-start",
                            &dd_name,
                            format!("etcd {} will not start on this data dir: {}", b.etcd_version, b.summary),
                            format!("{advice}{}first keep a copy of the whole data dir; `etcd-rescue check {dd_name}` shows each step", if advice.is_empty() { "" } else { "; " }),
                        ));
                    }
                    for h in b.hazards.iter().filter(|_| b.starts) {
                        out.push(Problem::new(
                            Area::Data,
                            Severity::Warning,
                            "data.boot-hazard",
                            &dd_name,
                            format!("etcd {} starts, but {h}", b.etcd_version),
                            b.steps
                                .iter()
                                .find(|s| s.what.contains(h.as_str()))
                                .map_or(String::new(), |s| s.advice.clone()),
                        ));
                    }
                    for s in b.steps.iter().filter(|s| {
                        b.starts
                            && s.severity == Severity::Warning
                            && !b.hazards.contains(&s.what)
                    }) {
                        out.push(Problem::new(
                            Area::Data,
                            Severity::Warning,
                            "data.boot-warning",
                            &dd_name,
                            format!("etcd starts, but: {}", s.what),
                            s.advice.clone(),
                        ));
                    }
                }
                boot = r.boot;
            }
            Err(e) => out.push(Problem::new(
                Area::Data,
                Severity::Error,
                "data.unreadable",
                &dd_name,
                format!("the db cannot be read: {e}; etcd will not start on it"),
                format!("keep a copy, then restore from a backup; `etcd-rescue inspect {dd_name}` shows what is left"),
            )),
        }
    }
    (ident, disk_info, boot)
}

fn data_fix(code: &str, dd: &str) -> String {
    if code == "disk.filled-up" {
        format!("free space on the data dir's file system (or copy the whole data dir to one with room), then start etcd: it re-applies the WAL, which holds every acknowledged write; if it still will not start, `etcd-rescue repair {dd} --salvage --replay-wal --out rescued.db` then `etcdctl snapshot restore rescued.db`")
    } else if code.starts_with("wal.") {
        format!("`etcd-rescue wal verify {dd}` locates it; a torn tail etcd repairs itself; otherwise `etcd-rescue wal repair {dd} --out NEW_DIR` (add --allow-data-loss only knowingly), or replace the member from a healthy one")
    } else if code.starts_with("snap.") {
        format!("etcd skips a damaged .snap for an older one (renamed .broken); if none is left, restore from a backup; `etcd-rescue check {dd}` shows which it loads")
    } else if code.starts_with("etcd.identity.") {
        "make the data dir and the member agree: in a multi-member cluster, remove the member and re-add it with an empty data dir (`etcdctl member remove ID`, `etcdctl member add NAME --peer-urls=...`)".into()
    } else if code.starts_with("bolt.")
        || code.starts_with("etcd.")
        || code.starts_with("snapshot.")
    {
        format!("keep a copy of the data dir; then in a multi-member cluster replace this member from the healthy ones (member remove/add), else restore the latest backup or rescue the db: `etcd-rescue repair {dd} --out rescued.db` then `etcdctl snapshot restore rescued.db`")
    } else {
        format!("`etcd-rescue check {dd}` explains it")
    }
}
