//! `members`, `leases`, `auth`, `alarms`: the cluster metadata stored in the
//! db, shown the way etcdctl shows it.

use super::header::Header;
use crate::etcd::records::{PermissionRecord, UserRecord};
use crate::etcd::validate::EtcdFacts;
use crate::mvcc::KeyIndex;
use serde::Serialize;

/// `etcdctl member list -w json`'s member.
#[derive(Debug, Serialize)]
pub struct MemberJson {
    #[serde(rename = "ID")]
    pub id: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(rename = "peerURLs", skip_serializing_if = "Vec::is_empty")]
    pub peer_urls: Vec<String>,
    #[serde(rename = "clientURLs", skip_serializing_if = "Vec::is_empty")]
    pub client_urls: Vec<String>,
    #[serde(rename = "isLearner", skip_serializing_if = "std::ops::Not::not")]
    pub is_learner: bool,
}

#[derive(Debug, Serialize)]
pub struct MembersReport {
    pub header: Header,
    pub members: Vec<MemberJson>,
    /// Not in etcdctl's output: members removed from the cluster.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed_members: Vec<String>,
}

pub fn members(f: &EtcdFacts, header: Header) -> MembersReport {
    MembersReport {
        header,
        members: f
            .members
            .iter()
            .map(|m| MemberJson {
                id: m.id,
                name: m.name.clone(),
                peer_urls: m.peer_urls.clone(),
                client_urls: m.client_urls.clone(),
                is_learner: m.is_learner,
            })
            .collect(),
        removed_members: f.removed_members.iter().map(|i| format!("{i:x}")).collect(),
    }
}

/// etcdctl's simple member line: `id, started, name, peers, clients, learner`.
pub fn member_lines(r: &MembersReport) -> Vec<String> {
    r.members
        .iter()
        .map(|m| {
            format!(
                "{:x}, {}, {}, {}, {}, {}",
                m.id,
                if m.name.is_empty() {
                    "unstarted"
                } else {
                    "started"
                },
                m.name,
                m.peer_urls.join(","),
                m.client_urls.join(","),
                m.is_learner
            )
        })
        .collect()
}

/// A lease with the keys attached to it at the latest revision.
#[derive(Debug, Serialize)]
pub struct LeaseInfo {
    pub id: i64,
    pub id_hex: String,
    /// Granted TTL in seconds.
    pub ttl: i64,
    /// Remaining TTL, when etcd persisted it (lease checkpointing); -1 if not.
    pub remaining_ttl: i64,
    pub keys: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct LeasesReport {
    pub header: Header,
    pub leases: Vec<LeaseInfo>,
    /// Live keys that name a lease the `lease` bucket does not have.
    pub keys_with_missing_lease: Vec<String>,
}

pub fn leases(f: &EtcdFacts, index: Option<&KeyIndex<'_>>, header: Header) -> LeasesReport {
    let mut leases: Vec<LeaseInfo> = f
        .leases
        .iter()
        .map(|l| LeaseInfo {
            id: l.id,
            id_hex: format!("{:x}", l.id),
            ttl: l.ttl,
            remaining_ttl: if l.remaining_ttl > 0 {
                l.remaining_ttl
            } else {
                -1
            },
            keys: Vec::new(),
        })
        .collect();
    let mut missing = Vec::new();
    if let Some(idx) = index {
        for h in &idx.keys {
            let Some(e) = h.revs.last() else { continue };
            if e.is_tombstone() {
                continue;
            }
            let Some(kv) = idx.value_of(e) else { continue };
            if kv.lease == 0 {
                continue;
            }
            let name = String::from_utf8_lossy(h.key).into_owned();
            match leases.iter_mut().find(|l| l.id == kv.lease) {
                Some(l) => l.keys.push(name),
                None => missing.push(format!("{name} (lease {:x})", kv.lease)),
            }
        }
    }
    LeasesReport {
        header,
        leases,
        keys_with_missing_lease: missing,
    }
}

#[derive(Debug, Serialize)]
pub struct UserInfo {
    pub name: String,
    pub roles: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    pub no_password: bool,
}

#[derive(Debug, Serialize)]
pub struct RoleInfo {
    pub name: String,
    pub permissions: Vec<PermissionInfo>,
}

#[derive(Debug, Serialize)]
pub struct PermissionInfo {
    pub perm_type: &'static str,
    pub key: String,
    pub range_end: String,
    /// etcdctl's description: a key, a prefix, a range or keys from.
    pub description: String,
}

impl From<&PermissionRecord> for PermissionInfo {
    fn from(p: &PermissionRecord) -> PermissionInfo {
        let key = String::from_utf8_lossy(&p.key).into_owned();
        let end = String::from_utf8_lossy(&p.range_end).into_owned();
        let description = if p.range_end.is_empty() {
            key.clone()
        } else if p.range_end == [0] {
            format!("[{key}, <open ended>")
        } else if crate::mvcc::range::prefix_end(&p.key) == p.range_end {
            format!("[{key}, {end}) (prefix {key})")
        } else {
            format!("[{key}, {end})")
        };
        PermissionInfo {
            perm_type: p.perm_name(),
            key,
            range_end: end,
            description,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct AuthReport {
    pub enabled: bool,
    pub revision: Option<u64>,
    pub users: Vec<UserInfo>,
    pub roles: Vec<RoleInfo>,
}

pub fn auth(f: &EtcdFacts, show_secrets: bool) -> AuthReport {
    AuthReport {
        enabled: f.auth_enabled.unwrap_or(false),
        revision: f.auth_revision,
        users: f
            .users
            .iter()
            .map(|u: &UserRecord| UserInfo {
                name: u.name.clone(),
                roles: u.roles.clone(),
                password_hash: show_secrets.then(|| u.password.clone()),
                no_password: u.no_password,
            })
            .collect(),
        roles: f
            .roles
            .iter()
            .map(|r| RoleInfo {
                name: r.name.clone(),
                permissions: r.permissions.iter().map(PermissionInfo::from).collect(),
            })
            .collect(),
    }
}

#[derive(Debug, Serialize)]
pub struct AlarmJson {
    #[serde(rename = "memberID")]
    pub member_id: u64,
    pub alarm: &'static str,
}

#[derive(Debug, Serialize)]
pub struct AlarmsReport {
    pub header: Header,
    pub alarms: Vec<AlarmJson>,
}

pub fn alarms(f: &EtcdFacts, header: Header) -> AlarmsReport {
    AlarmsReport {
        header,
        alarms: f
            .alarms
            .iter()
            .map(|a| AlarmJson {
                member_id: a.member_id,
                alarm: a.alarm_name(),
            })
            .collect(),
    }
}
