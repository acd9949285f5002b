//! `doctor`: diagnose a control-plane etcd member from its static-pod
//! manifest, certificates, disk, identity and data.
#![forbid(unsafe_code)]

use super::{Failure, OutputArg};
use etcd_rescue::doctor::{self, Options};
use etcd_rescue::ops::exit;
use etcd_rescue::ops::render::{self, Format};
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  etcd-rescue doctor                                   # /etc/kubernetes/manifests/etcd.yaml
  etcd-rescue doctor --manifest /backup/etcd.yaml --pki /etc/kubernetes/pki -o json
  etcd-rescue doctor --root /mnt/node                  # a node's disk mounted elsewhere
  etcd-rescue doctor --data-dir /var/lib/etcd -- --name=cp-1 --cert-file=/etc/etcd/server.crt

Checks the manifest's flags and hostPath volumes, the certificates (dates, CA signature, key
match, key usages, SANs), disk space and quota, the member's identity against its data dir, and
the data (check with its boot prediction). Prints a verdict, then every finding with its fix.
Exit codes: 0 ready, 1 problems found, 2 nothing usable to diagnose.")]
pub struct DoctorArgs {
    /// The static-pod manifest of etcd [default: ROOT/etc/kubernetes/manifests/etcd.yaml].
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// The data dir on the node (overrides the manifest's --data-dir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// kubeadm's pki dir, to check the apiserver's etcd client certificate
    /// [default: ROOT/etc/kubernetes/pki when it has one].
    #[arg(long)]
    pub pki: Option<PathBuf>,
    /// A directory standing for the node's / (inferred when the manifest lies in
    /// DIR/etc/kubernetes/manifests).
    #[arg(long)]
    pub root: Option<PathBuf>,
    #[command(flatten)]
    pub out: OutputArg,
    #[command(flatten)]
    pub version: super::VersionArg,
    /// etcd flags, after --, overriding the manifest's (or instead of one).
    #[arg(last = true)]
    pub etcd_flags: Vec<String>,
}

pub fn doctor(a: DoctorArgs, out: &mut dyn Write) -> Result<i32, Failure> {
    let o = Options {
        manifest: a.manifest,
        data_dir: a.data_dir,
        pki: a.pki,
        root: a.root,
        etcd_args: a.etcd_flags,
        now: None,
        etcd_version: a.version.etcd_version,
    };
    let r = doctor::run(&o).map_err(|message| Failure {
        code: exit::UNUSABLE,
        message,
    })?;
    match a.out.output {
        Format::Json => render::json(out, &r)?,
        Format::Text => doctor::render_text(&r, out)?,
    }
    let code = r.exit_code();
    if code == exit::FINDINGS {
        eprintln!("etcd-rescue: doctor found problems (listed in the report)");
    }
    Ok(code)
}
