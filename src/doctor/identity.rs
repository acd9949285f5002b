//! Identity: the member the manifest describes (`--name`,
//! `--initial-advertise-peer-urls`, `--initial-cluster`,
//! `--initial-cluster-state`) against the member the data dir records (the
//! WAL's member and cluster id; names and peer URLs from the db's members
//! bucket, the snap's v2 store and the WAL's conf changes).
#![forbid(unsafe_code)]

use super::manifest::Flags;
use super::{Area, Problem};
use crate::findings::Severity;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A member as the data dir records it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Recorded {
    pub id: String,
    pub name: String,
    pub peer_urls: Vec<String>,
    /// Where it was read: db, snap, wal.
    pub source: String,
}

/// What the data dir says about membership.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DataDirIdentity {
    /// The data dir has WAL segments: etcd restarts from it and ignores the
    /// bootstrap flags.
    pub has_wal: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// Members by id (hex), current ones only.
    pub members: BTreeMap<String, Recorded>,
    pub removed: BTreeSet<String>,
}

impl DataDirIdentity {
    /// Record a member; earlier sources win for names and URLs.
    pub fn add(&mut self, id: u64, name: &str, peer_urls: &[String], source: &str) {
        let key = format!("{id:x}");
        let e = self.members.entry(key.clone()).or_insert_with(|| Recorded {
            id: key,
            source: source.to_string(),
            ..Default::default()
        });
        if e.name.is_empty() && !name.is_empty() {
            e.name = name.to_string();
        }
        if e.peer_urls.is_empty() && !peer_urls.is_empty() {
            e.peer_urls = peer_urls.to_vec();
        }
    }

    /// Read conf change entries' member JSON (`raftpb.ConfChange.context`).
    pub fn add_conf_change(&mut self, data: &[u8]) {
        let mut change = 0;
        let mut node_id = 0;
        let mut context: &[u8] = &[];
        for f in crate::proto::fields(data) {
            match f {
                Ok((2, crate::proto::Value::Varint(v), _)) => change = v,
                Ok((3, crate::proto::Value::Varint(v), _)) => node_id = v,
                Ok((4, crate::proto::Value::Bytes(b), _)) => context = b,
                Ok(_) => {}
                Err(_) => return,
            }
        }
        match change {
            0 | 2 | 3 => {
                let v: serde_json::Value = serde_json::from_slice(context).unwrap_or_default();
                let name = v["name"].as_str().unwrap_or("");
                let urls: Vec<String> = v["peerURLs"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|u| u.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                self.add(node_id, name, &urls, "wal");
            }
            1 => {
                let k = format!("{node_id:x}");
                self.members.remove(&k);
                self.removed.insert(k);
            }
            _ => {}
        }
    }
}

fn norm_urls(v: &[String]) -> BTreeSet<String> {
    v.iter()
        .map(|u| u.trim().trim_end_matches('/').to_ascii_lowercase())
        .collect()
}

/// `--initial-cluster` as name → peer URLs.
pub fn initial_cluster(flags: &Flags) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let list = if flags.get("initial-cluster").is_some() {
        flags.list("initial-cluster")
    } else {
        vec!["default=http://localhost:2380".to_string()]
    };
    for item in list {
        if let Some((n, u)) = item.split_once('=') {
            m.entry(n.trim().to_string())
                .or_default()
                .push(u.trim().to_string());
        }
    }
    m
}

/// Compare; `data_dir` names the data dir in findings, `manifest` the file
/// holding the flags.
pub fn judge(
    flags: &Flags,
    dd: &DataDirIdentity,
    data_dir: &Path,
    manifest: &str,
    out: &mut Vec<Problem>,
) {
    let dd_name = data_dir.display().to_string();
    let push = |out: &mut Vec<Problem>, sev, code, file: &str, msg: String, fix: String| {
        out.push(Problem::new(Area::Identity, sev, code, file, msg, fix));
    };
    let state = flags.get("initial-cluster-state").unwrap_or("new");
    let name = flags.get("name").unwrap_or("default");
    let apurls = if flags.get("initial-advertise-peer-urls").is_some() {
        flags.list("initial-advertise-peer-urls")
    } else {
        vec!["http://localhost:2380".to_string()]
    };
    let ic = initial_cluster(flags);
    if state != "new" && state != "existing" {
        push(
            out,
            Severity::Error,
            "config.invalid",
            manifest,
            format!("--initial-cluster-state={state}: etcd accepts only new or existing and exits"),
            "set --initial-cluster-state=existing (a member joining or re-joining a running cluster) or remove it (new)".into(),
        );
    }
    let ic_text = flags
        .get("initial-cluster")
        .unwrap_or("default=http://localhost:2380");
    if !dd.has_wal {
        // etcd bootstraps: the flags decide everything.
        match ic.get(name) {
            None => push(
                out,
                Severity::Error,
                "identity.not-in-initial-cluster",
                manifest,
                format!("--name={name} is not in --initial-cluster={ic_text}: with no WAL in the data dir etcd bootstraps and exits (couldn't find local name {name:?} in the initial cluster configuration)"),
                format!("add {name}={} to --initial-cluster (or fix --name)", apurls.join(",")),
            ),
            Some(urls) if norm_urls(urls) != norm_urls(&apurls) => push(
                out,
                Severity::Error,
                "identity.initial-cluster-url-mismatch",
                manifest,
                format!("--initial-cluster gives {name}={} but --initial-advertise-peer-urls is {}: with no WAL in the data dir etcd bootstraps and exits (--initial-cluster has {name}={} but missing from --initial-advertise-peer-urls)", urls.join(","), apurls.join(","), urls.join(",")),
                "make the two agree (kubeadm: the node's IP and port 2380)".into(),
            ),
            _ => {}
        }
        let others: Vec<&String> = ic.keys().filter(|n| *n != name).collect();
        if state == "existing" {
            if others.is_empty() {
                push(
                    out,
                    Severity::Error,
                    "identity.existing-empty",
                    &dd_name,
                    format!("the data dir has no WAL and --initial-cluster-state=existing, so etcd tries to join a running cluster, but --initial-cluster lists no member but {name}: there is nobody to join (etcd exits: could not retrieve cluster information from the given URLs)"),
                    format!("if {dd_name} held this member's data, restore it from a backup (`etcdctl snapshot restore BACKUP --name {name} --initial-cluster {ic_text} --initial-advertise-peer-urls {} --data-dir {dd_name}`) and set --initial-cluster-state=new; a new single-member cluster needs --initial-cluster-state=new", apurls.join(",")),
                );
            } else {
                push(
                    out,
                    Severity::Warning,
                    "identity.existing-empty",
                    &dd_name,
                    format!("the data dir has no WAL and --initial-cluster-state=existing: etcd joins the running cluster of {} as a new member. That works only if {name} was just added (`etcdctl member add`); if it is an old member whose data dir was lost, the leader sends entries its empty log cannot take and etcd panics (tocommit(N) is out of range [lastIndex(0)])", others.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")),
                    format!("on a healthy member: `etcdctl member list`; if {name} is listed as started, `etcdctl member remove ID` then `etcdctl member add {name} --peer-urls={}`; then start etcd on the empty data dir", apurls.join(",")),
                );
            }
        } else {
            push(
                out,
                Severity::Warning,
                "identity.new-empty",
                &dd_name,
                if others.is_empty() {
                    "the data dir has no WAL and --initial-cluster-state=new: etcd creates a new, EMPTY cluster; everything the Kubernetes cluster stored is gone unless this is a brand-new control plane".to_string()
                } else {
                    format!("the data dir has no WAL and --initial-cluster-state=new: etcd bootstraps a new cluster with {}; if they already run a cluster, this member comes up with an empty log under an id they know and panics or splits off", others.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))
                },
                format!("if this member had data, restore it: `etcdctl snapshot restore BACKUP --name {name} --initial-cluster {ic_text} --initial-advertise-peer-urls {} --data-dir {dd_name}`; to re-join a running cluster instead, `etcdctl member remove`/`member add` it and set --initial-cluster-state=existing", apurls.join(",")),
            );
        }
        return;
    }
    // A restart: etcd takes its identity from the WAL and ignores
    // --initial-cluster and --initial-cluster-state.
    let Some(me) = &dd.member_id else { return };
    let rec = dd.members.get(me);
    let rname = rec.map_or("", |r| r.name.as_str());
    let rurls = rec.map(|r| r.peer_urls.clone()).unwrap_or_default();
    let who = if rname.is_empty() {
        format!("member {me}")
    } else {
        format!("member {rname} ({me})")
    };
    let want = norm_urls(&apurls);
    let other_recorded = dd.members.values().find(|m| {
        &m.id != me
            && ((!m.name.is_empty() && m.name == name)
                || !norm_urls(&m.peer_urls).is_disjoint(&want))
    });
    let other_in_ic = ic.iter().find(|(n, urls)| {
        *n != name
            && ((!rname.is_empty() && *n == rname)
                || (!rurls.is_empty() && norm_urls(urls) == norm_urls(&rurls)))
    });
    if let Some(o) = other_recorded {
        push(
            out,
            Severity::Error,
            "identity.other-member",
            &dd_name,
            format!(
                "the manifest describes {name} ({}), which the data dir records as another member ({} {}), but the data dir belongs to {who}: etcd would run as {who}, not as {name}; if {who} also runs elsewhere, two processes share one member id and the cluster's log diverges",
                apurls.join(","), o.name, o.id
            ),
            format!("point --data-dir at {name}'s own data dir; if it is lost, remove {name} (`etcdctl member remove {}`), re-add it (`etcdctl member add {name} --peer-urls={}`) and start it on an empty data dir with --initial-cluster-state=existing", o.id, apurls.join(",")),
        );
        return;
    }
    if let Some((n, urls)) = other_in_ic {
        push(
            out,
            Severity::Error,
            "identity.other-member",
            &dd_name,
            format!(
                "the data dir belongs to {who}, which this manifest's --initial-cluster lists as another member ({n}={}); the manifest is for {name} ({}, --initial-cluster-state={state}): etcd ignores those flags when a WAL exists and would start as {who}, not as {name}",
                urls.join(","),
                apurls.join(",")
            ),
            format!("give {name} an empty data dir of its own (after `etcdctl member add {name} --peer-urls={}` on a healthy member), and leave this data dir to {who}", apurls.join(",")),
        );
        return;
    }
    if !rname.is_empty() && rname != name {
        push(
            out,
            Severity::Warning,
            "identity.name-mismatch",
            &dd_name,
            format!("--name={name}, but the data dir belongs to member {rname} ({me}): etcd starts as {me} and renames it to {name}; if this data dir was copied from node {rname}, this node now impersonates it"),
            format!("if the node was renamed, this is harmless once `etcdctl member list` shows {name}; otherwise point --data-dir at {name}'s own data dir or set --name={rname}"),
        );
    }
    if !rurls.is_empty() && norm_urls(&rurls) != want {
        let multi = dd.members.len() > 1;
        push(
            out,
            if multi { Severity::Error } else { Severity::Warning },
            "identity.peer-url-mismatch",
            &dd_name,
            format!(
                "--initial-advertise-peer-urls={} but the cluster records {who}'s peer URLs as {}: etcd keeps the recorded ones on a restart, so {}",
                apurls.join(","),
                rurls.join(","),
                if multi {
                    "the other members keep dialling the recorded address and this member cannot rejoin them"
                } else {
                    "a single member still starts, but any member added later dials the recorded address"
                }
            ),
            format!("if the node's address changed, update the member from a running member: `etcdctl member update {me} --peer-urls={}` (certificates must cover the new address); otherwise fix the manifest's peer URLs to {}", apurls.join(","), rurls.join(",")),
        );
    }
    if state == "new" {
        // Members a bootstrap from these flags would have that the data
        // dir's cluster never had: those members form another cluster.
        let unknown: Vec<String> = ic
            .iter()
            .filter(|(n, urls)| {
                *n != name
                    && !dd.members.values().any(|m| {
                        (!m.name.is_empty() && &m.name == *n)
                            || (!m.peer_urls.is_empty()
                                && norm_urls(&m.peer_urls) == norm_urls(urls))
                    })
            })
            .map(|(n, urls)| format!("{n}={}", urls.join(",")))
            .collect();
        if !unknown.is_empty() {
            push(
                out,
                Severity::Warning,
                "identity.initial-cluster-mismatch",
                manifest,
                format!(
                    "--initial-cluster-state=new with --initial-cluster listing {} that the data dir's cluster ({} of {} member(s)) never had: etcd ignores the flags on a restart and runs the data dir's cluster, while members bootstrapped from this --initial-cluster form another cluster (another cluster id); the two refuse each other (request cluster ID mismatch)",
                    unknown.join(", "),
                    dd.cluster_id.as_deref().unwrap_or("?"),
                    dd.members.len()
                ),
                "add the missing members to the running cluster with `etcdctl member add NAME --peer-urls=URL` and start them with --initial-cluster-state=existing on empty data dirs; make the manifest's --initial-cluster list what `etcdctl member list` shows".into(),
            );
        }
    }
    if !ic.contains_key(name) {
        push(
            out,
            Severity::Info,
            "identity.initial-cluster-stale",
            manifest,
            format!("--initial-cluster={ic_text} does not list --name={name}: ignored while the data dir has a WAL, but if the data dir is ever restored or re-created from this manifest etcd will refuse to bootstrap"),
            format!("add {name}={} to --initial-cluster", apurls.join(",")),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &[&str]) -> Flags {
        Flags::parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn codes(f: &Flags, dd: &DataDirIdentity) -> Vec<&'static str> {
        let mut out = Vec::new();
        judge(f, dd, Path::new("/d"), "m", &mut out);
        out.iter().map(|p| p.finding.code).collect()
    }

    fn recorded() -> DataDirIdentity {
        let mut dd = DataDirIdentity {
            has_wal: true,
            member_id: Some("a".into()),
            ..Default::default()
        };
        dd.add(0xa, "n1", &["https://10.0.0.1:2380".into()], "db");
        dd
    }

    #[test]
    fn restart_cases() {
        let ok = flags(&[
            "--name=n1",
            "--initial-advertise-peer-urls=https://10.0.0.1:2380",
            "--initial-cluster=n1=https://10.0.0.1:2380",
        ]);
        assert!(codes(&ok, &recorded()).is_empty());
        let renamed = flags(&[
            "--name=n2",
            "--initial-advertise-peer-urls=https://10.0.0.1:2380",
            "--initial-cluster=n2=https://10.0.0.1:2380",
        ]);
        assert_eq!(codes(&renamed, &recorded()), ["identity.name-mismatch"]);
        let moved = flags(&[
            "--name=n1",
            "--initial-advertise-peer-urls=https://10.0.0.9:2380",
            "--initial-cluster=n1=https://10.0.0.9:2380",
        ]);
        assert_eq!(codes(&moved, &recorded()), ["identity.peer-url-mismatch"]);
        let joiner = flags(&[
            "--name=n2",
            "--initial-advertise-peer-urls=https://10.0.0.2:2380",
            "--initial-cluster=n1=https://10.0.0.1:2380,n2=https://10.0.0.2:2380",
            "--initial-cluster-state=existing",
        ]);
        assert_eq!(codes(&joiner, &recorded()), ["identity.other-member"]);
        let grown = flags(&[
            "--name=n1",
            "--initial-advertise-peer-urls=https://10.0.0.1:2380",
            "--initial-cluster=n1=https://10.0.0.1:2380,n2=https://10.0.0.2:2380",
        ]);
        assert_eq!(
            codes(&grown, &recorded()),
            ["identity.initial-cluster-mismatch"]
        );
        // kubeadm's first node: --initial-cluster lists itself while the
        // data dir has members that joined later.
        let mut three = recorded();
        three.add(0xb, "n2", &["https://10.0.0.2:2380".into()], "db");
        assert!(codes(&ok, &three).is_empty());
    }

    #[test]
    fn bootstrap_cases() {
        let dd = DataDirIdentity::default();
        let f = flags(&[
            "--name=n1",
            "--initial-advertise-peer-urls=https://10.0.0.1:2380",
            "--initial-cluster=n1=https://10.0.0.1:2380",
            "--initial-cluster-state=existing",
        ]);
        assert_eq!(codes(&f, &dd), ["identity.existing-empty"]);
        let f = flags(&[
            "--name=n1",
            "--initial-advertise-peer-urls=https://10.0.0.1:2380",
            "--initial-cluster=n2=https://10.0.0.1:2380",
        ]);
        assert_eq!(
            codes(&f, &dd),
            ["identity.not-in-initial-cluster", "identity.new-empty"]
        );
    }
}
