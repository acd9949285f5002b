//! The doctor's report: the verdict first, then the findings by severity
//! (each with its fix), then what was read; text for people, JSON (serde)
//! for automation.
#![forbid(unsafe_code)]

use super::certs::CertInfo;
use super::disk::DiskInfo;
use super::identity::DataDirIdentity;
use super::manifest::{Flags, Manifest, Resolved};
use super::Problem;
use crate::findings::Severity;
use crate::ops::boot::Boot;
use crate::ops::render::human_bytes;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// No error or warning: etcd will start and serve.
    Ready,
    /// At least one error: etcd will not start, or not serve its clients
    /// or peers.
    WillNotStart,
    /// Warnings only: etcd will start, but something will break soon or
    /// is wrong.
    AtRisk,
}

impl Verdict {
    pub fn headline(self) -> &'static str {
        match self {
            Verdict::Ready => "READY: etcd will start on this node and serve",
            Verdict::WillNotStart => {
                "WILL NOT START: etcd will not start on this node, or will not serve its clients or peers"
            }
            Verdict::AtRisk => "WILL START BUT AT RISK: etcd starts, but something below will break it or is wrong",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ManifestInfo {
    pub path: String,
    pub container: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    pub mounts: Vec<super::manifest::Mount>,
}

/// What `doctor -o json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub verdict: Verdict,
    pub summary: String,
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
    /// Most severe first.
    pub findings: Vec<Problem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<ManifestInfo>,
    /// The directory standing for `/`, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// etcd's flags as read (manifest, environment, command line).
    pub flags: BTreeMap<String, String>,
    /// The same command line with paths resolved to the node's.
    pub etcd_command: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<Resolved>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<DataDirIdentity>,
    pub certificates: Vec<CertInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot: Option<Boot>,
}

impl Report {
    /// 0 ready, 1 problems.
    pub fn exit_code(&self) -> i32 {
        match self.verdict {
            Verdict::Ready => crate::ops::exit::OK,
            _ => crate::ops::exit::FINDINGS,
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub fn build(
    mut findings: Vec<Problem>,
    man: Option<Manifest>,
    root: Option<PathBuf>,
    flags: Flags,
    data_dir: Option<Resolved>,
    identity: Option<DataDirIdentity>,
    certificates: Vec<CertInfo>,
    disk: Option<DiskInfo>,
    boot: Option<Boot>,
    etcd_command: Vec<String>,
) -> Report {
    findings.sort_by(|a, b| {
        b.finding
            .severity
            .cmp(&a.finding.severity)
            .then(a.area.cmp(&b.area))
    });
    let count = |s| findings.iter().filter(|p| p.finding.severity == s).count();
    let (errors, warnings, infos) = (
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info),
    );
    let verdict = if errors > 0 {
        Verdict::WillNotStart
    } else if warnings > 0 {
        Verdict::AtRisk
    } else {
        Verdict::Ready
    };
    let summary = format!(
        "{}: {errors} errors, {warnings} warnings, {infos} notes",
        verdict.headline()
    );
    Report {
        verdict,
        summary,
        errors,
        warnings,
        infos,
        findings,
        manifest: man.map(|m| ManifestInfo {
            path: m.path.display().to_string(),
            container: m.container,
            image: m.image,
            mounts: m.mounts,
        }),
        root: root.map(|r| r.display().to_string()),
        flags: flags.values,
        etcd_command,
        data_dir,
        identity,
        certificates,
        disk,
        boot,
    }
}

/// The text form: verdict, findings with fixes, then what was read.
pub fn render_text(r: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "{}", r.summary)?;
    if !r.findings.is_empty() {
        writeln!(out)?;
    }
    for p in &r.findings {
        let f = &p.finding;
        let sev = match f.severity {
            Severity::Error => "ERROR",
            Severity::Warning => "WARN ",
            Severity::Info => "info ",
        };
        writeln!(out, "{sev} {} ({}): {}", f.code, f.file, f.message)?;
        if !p.fix.is_empty() {
            writeln!(out, "      fix: {}", p.fix)?;
        }
    }
    writeln!(out)?;
    if let Some(m) = &r.manifest {
        writeln!(
            out,
            "manifest: {} (container {}{})",
            m.path,
            m.container,
            m.image
                .as_ref()
                .map_or(String::new(), |i| format!(", image {i}"))
        )?;
    }
    if let Some(root) = &r.root {
        writeln!(out, "node root: {root}")?;
    }
    if let Some(d) = &r.data_dir {
        let name = r.flags.get("name").map_or("default", String::as_str);
        let who = r.identity.as_ref().and_then(|i| {
            i.member_id.as_ref().map(|m| {
                format!(
                    ": member {m} of cluster {}, {} member(s) recorded",
                    i.cluster_id.as_deref().unwrap_or("?"),
                    i.members.len()
                )
            })
        });
        writeln!(
            out,
            "member: {name}, data dir {}{}{}",
            d.container,
            if d.host.display().to_string() != d.container {
                format!(" (on the node: {})", d.host.display())
            } else {
                String::new()
            },
            who.unwrap_or_else(|| ": no WAL (a new member)".into())
        )?;
    }
    for c in &r.certificates {
        writeln!(
            out,
            "certificate: {} {}: {}, {}{}",
            c.label,
            c.file,
            c.subject,
            if c.days_left < 0 {
                format!("expired {}", c.not_after)
            } else {
                format!("valid until {} ({} days)", c.not_after, c.days_left)
            },
            if c.sans.is_empty() {
                String::new()
            } else {
                format!(", SANs {}", c.sans.join(" "))
            }
        )?;
    }
    if let Some(d) = &r.disk {
        writeln!(
            out,
            "disk: {} free on the file system of {}; db {} of quota {}{}",
            d.free_bytes.map_or("?".into(), human_bytes),
            d.filesystem_of,
            d.db_size.map_or("-".into(), human_bytes),
            d.quota.map_or("none".into(), human_bytes),
            d.defrag_reclaims
                .filter(|n| *n > 0)
                .map_or(String::new(), |n| format!(
                    ", {} reclaimable by defrag",
                    human_bytes(n)
                ))
        )?;
    }
    if let Some(b) = &r.boot {
        writeln!(out, "boot: {}", b.summary)?;
    }
    Ok(())
}
