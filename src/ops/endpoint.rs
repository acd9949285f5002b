//! `status`: what `etcdctl endpoint status` and `endpoint health` answer,
//! offline, from a stopped member's files: the header (cluster, member,
//! revision, term), the version evidence, db size and size in use, raft
//! term, last index and applied index, the last known leader, alarms and
//! errors, and a health verdict from the same check and boot prediction as
//! `check`.
#![forbid(unsafe_code)]

use super::check::CheckReport;
use super::header::{header, with_db_term, Header};
use crate::etcd::validate::read_small_buckets;
use crate::findings::Severity;
use crate::input::Input;
use serde::Serialize;

/// `endpoint status` for one member, in etcdctl's JSON field names.
#[derive(Debug, Serialize)]
pub struct Status {
    pub header: Header,
    /// The best evidence of the version: etcd does not store the server's
    /// version, only the cluster version it agreed on (e.g. `3.4.0`).
    pub version: String,
    #[serde(rename = "dbSize")]
    pub db_size: u64,
    /// The vote of the last term the log records: the leader as last known
    /// (certain on a one-member cluster).
    pub leader: u64,
    #[serde(rename = "raftIndex")]
    pub raft_index: u64,
    #[serde(rename = "raftTerm")]
    pub raft_term: u64,
    /// The index the db has applied (its consistent index); etcd replays
    /// the log past it when it starts.
    #[serde(rename = "raftAppliedIndex")]
    pub raft_applied_index: u64,
    #[serde(rename = "errors", skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    #[serde(rename = "dbSizeInUse")]
    pub db_size_in_use: u64,
    #[serde(rename = "isLearner", skip_serializing_if = "std::ops::Not::not")]
    pub is_learner: bool,
}

/// `endpoint health`, predicted.
#[derive(Debug, Serialize)]
pub struct Health {
    pub health: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}

/// One member's status as etcdctl's JSON lists it, with the health verdict.
#[derive(Debug, Serialize)]
pub struct EndpointStatus {
    #[serde(rename = "Endpoint")]
    pub endpoint: String,
    #[serde(rename = "Status")]
    pub status: Status,
    #[serde(rename = "Health")]
    pub health: Health,
}

/// Build the status from a checked input (the check's findings and boot
/// prediction give the errors and the verdict).
pub fn status(input: &Input, db: &super::open::OpenDb, report: &CheckReport) -> EndpointStatus {
    let (facts, alarms) = match db.bolt() {
        Ok(b) => {
            let f = read_small_buckets(&b, &db.name()).0;
            let alarms: Vec<String> = f
                .alarms
                .iter()
                .map(|a| format!("memberID:{} alarm:{}", a.member_id, a.alarm_name()))
                .collect();
            (f, alarms)
        }
        Err(_) => Default::default(),
    };
    let s = &report.summary;
    let rev = s.db.as_ref().map_or(0, |d| d.current_revision);
    let h = with_db_term(header(input, &facts.members, rev), facts.term());
    let wal = s.wal.as_ref();
    let hs = wal.and_then(|w| w.hard_state.as_ref());
    let (db_size, in_use) = s.db.as_ref().map_or((0, 0), |d| {
        let free = d.pages.free + d.pages.unreachable;
        (
            d.file_size,
            d.file_size
                .saturating_sub(free.saturating_mul(u64::from(d.page_size))),
        )
    });
    let mut errors = alarms;
    errors.extend(
        report
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| format!("{}: {}", f.code, f.message)),
    );
    let member_id = h.member_id;
    let is_learner = facts
        .members
        .iter()
        .any(|m| m.id == member_id && m.is_learner);
    let health = match &report.boot {
        Some(b) if b.starts && errors.is_empty() => Health {
            health: true,
            error: String::new(),
        },
        Some(b) if !b.starts => Health {
            health: false,
            error: b.summary.clone(),
        },
        Some(_) => Health {
            health: false,
            error: errors.first().cloned().unwrap_or_default(),
        },
        None => Health {
            health: false,
            error: "no member dir: only a data dir or member dir can be started".into(),
        },
    };
    EndpointStatus {
        endpoint: input.path.display().to_string(),
        status: Status {
            version: facts
                .cluster_version
                .clone()
                .unwrap_or_else(|| "unknown".into()),
            db_size,
            leader: hs.map_or(0, |h| h.vote),
            raft_index: wal.and_then(|w| w.last_index).unwrap_or(0),
            raft_term: hs.map_or(h.raft_term, |h| h.term),
            raft_applied_index: s.db.as_ref().and_then(|d| d.consistent_index).unwrap_or(0),
            errors,
            db_size_in_use: in_use,
            is_learner,
            header: h,
        },
        health,
    }
}

/// etcdctl 3.4's `endpoint status -w table` row.
pub fn table_row(e: &EndpointStatus) -> (Vec<&'static str>, Vec<String>) {
    let s = &e.status;
    (
        vec![
            "ENDPOINT",
            "ID",
            "VERSION",
            "DB SIZE",
            "IS LEADER",
            "IS LEARNER",
            "RAFT TERM",
            "RAFT INDEX",
            "RAFT APPLIED INDEX",
            "ERRORS",
        ],
        vec![
            e.endpoint.clone(),
            format!("{:x}", s.header.member_id),
            s.version.clone(),
            super::status::humanize_bytes(s.db_size),
            (s.leader != 0 && s.leader == s.header.member_id).to_string(),
            s.is_learner.to_string(),
            s.raft_term.to_string(),
            s.raft_index.to_string(),
            s.raft_applied_index.to_string(),
            s.errors.join(", "),
        ],
    )
}

/// etcdctl's `endpoint health` line.
pub fn health_line(e: &EndpointStatus) -> String {
    if e.health.health {
        format!(
            "{} is healthy: etcd is predicted to start on it and serve (predicted from its files, offline)",
            e.endpoint
        )
    } else {
        format!("{} is unhealthy: {}", e.endpoint, e.health.error)
    }
}
