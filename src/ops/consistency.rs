//! `check`'s cross-record consistency, beyond each record's shape: the key
//! histories and leases ([`crate::mvcc::coherence`]), Kubernetes values
//! against their keys ([`super::k8s_consistency`]) and the auth records
//! against each other (roles named by users exist). Member ids against the
//! WAL's conf changes are [`super::identity`]'s.

use crate::bolt::BoltFile;
use crate::etcd::validate::EtcdFacts;
use crate::findings::Finding;
use crate::mvcc::coherence::{self, Source};
use crate::mvcc::index::KeyIndex;
use crate::mvcc::stream;
use std::collections::HashSet;

/// Every consistency finding of one db (none when the key index cannot be
/// built: the structural findings say why).
pub fn findings(bolt: &BoltFile<'_>, facts: &EtcdFacts, file: &str) -> Vec<Finding> {
    let mut out = auth_findings(facts, file);
    let leases: HashSet<i64> = facts.leases.iter().map(|l| l.id).collect();
    // One pass in revision order with a small state per key; the full key
    // index only when the leaves are out of order (a damaged tree).
    match stream::pass(bolt) {
        Ok(Some(s)) => out.extend(key_findings(&Source::Stream(&s), &leases, file)),
        Ok(None) => {
            if let Ok(index) = KeyIndex::build(bolt) {
                out.extend(key_findings(&Source::Index(&index), &leases, file));
            }
        }
        Err(_) => {}
    }
    out
}

/// The `key` bucket's findings read from `src`: key histories, suspicious
/// keys, leases of live keys, Kubernetes values against their keys.
pub fn key_findings(src: &Source<'_, '_>, leases: &HashSet<i64>, file: &str) -> Vec<Finding> {
    let mut out = coherence::history_findings(src, file);
    out.extend(coherence::suspicious_keys(src, file));
    out.extend(coherence::lease_findings(src, leases, file));
    out.extend(super::k8s_consistency::findings(src, file));
    out
}

/// Users naming roles that do not exist (`root` is built in).
fn auth_findings(facts: &EtcdFacts, file: &str) -> Vec<Finding> {
    let roles: HashSet<&str> = facts.roles.iter().map(|r| r.name.as_str()).collect();
    let mut out = Vec::new();
    for u in &facts.users {
        for r in u
            .roles
            .iter()
            .filter(|r| *r != "root" && !roles.contains(r.as_str()))
        {
            out.push(Finding::error(
                "etcd.auth.role-missing",
                file,
                format!(
                    "user {:?} has role {r:?}, which is not in the `authRoles` bucket (etcd removes a deleted role from its users)",
                    u.name
                ),
            ));
        }
    }
    out
}
