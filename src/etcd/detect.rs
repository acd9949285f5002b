//! Which etcd line wrote a data dir, from what each line leaves on disk: the
//! db's meta keys (`term` and `confState` since 3.5, `storageVersion` since
//! 3.6), the `.snap` v2 store's shape (3.6+ regenerate a membership-only
//! one), the WAL (snapshot records with conf_state since 3.5, 3.5's request
//! types, v2 requests before 3.5, 3.7's absent zero fields), the cluster
//! version and a downgrade in progress. Each signal narrows a range of lines;
//! the result names the range, the most likely line and the evidence.
#![forbid(unsafe_code)]

use super::lines::Line;
use serde::Serialize;

/// What was read, as plain facts (gathered by `ops::lineage`).
#[derive(Debug, Clone, Default)]
pub struct Signals {
    /// Whether a db was read at all.
    pub db: bool,
    pub storage_version: Option<String>,
    pub has_consistent_index: bool,
    pub has_term: bool,
    pub has_confstate: bool,
    pub cluster_version: Option<String>,
    /// `cluster/downgrade` JSON, when present.
    pub downgrade: Option<String>,
    /// The newest readable `.snap`'s v2 store: membership only (3.6+)?
    pub snap_membership_only: Option<bool>,
    /// Whether that store holds custom v2 content.
    pub snap_custom_content: bool,
    /// WAL snapshot records past index 0, and how many carry conf_state.
    pub wal_snapshots: u64,
    pub wal_snapshots_with_conf_state: u64,
    /// v2 `Request` entries (3.4 proposes member attributes that way).
    pub wal_v2_requests: u64,
    /// Entries with 3.5's request fields (auth_status, cluster_version_set,
    /// cluster_member_attr_set, downgrade_info_set).
    pub wal_v35_requests: u64,
    /// Entries without a type field (only protobuf-go writers omit it).
    pub wal_entries_without_type: u64,
    pub wal_entries: u64,
}

/// One piece of evidence and what it implies.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub what: String,
    /// The lines it allows, as `3.5+`, `3.4`, `3.6-3.7`.
    pub implies: String,
}

/// The result: the range of lines that could have written the files, the
/// most likely one and why.
#[derive(Debug, Clone, Serialize)]
pub struct Lineage {
    /// The most likely line (the oldest the evidence allows: newer lines
    /// leave marks that would have shown).
    pub line: Line,
    pub min: Line,
    pub max: Line,
    /// `3.5`, or `3.5-3.6` when the evidence does not decide.
    pub range: String,
    pub evidence: Vec<Evidence>,
    /// Signals that contradict each other (e.g. a member upgraded in place,
    /// or files from two members).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<String>,
}

impl Lineage {
    /// "written by etcd 3.5 (meta `term` without `storageVersion`, ...)".
    pub fn describe(&self) -> String {
        let why: Vec<&str> = self.evidence.iter().map(|e| e.what.as_str()).collect();
        format!(
            "written by etcd {}{}",
            self.range,
            if why.is_empty() {
                String::new()
            } else {
                format!(" ({})", why.join("; "))
            }
        )
    }
}

fn span(min: Line, max: Line) -> String {
    if min == max {
        min.to_string()
    } else if max == Line::V3_7 {
        format!("{min}+")
    } else {
        format!("{min}-{max}")
    }
}

fn minor_of(v: &str) -> Option<Line> {
    let mut p = v.trim().split('.');
    if p.next()? != "3" {
        return None;
    }
    Line::from_minor(p.next()?.parse().ok()?)
}

struct Narrow {
    min: Line,
    max: Line,
    evidence: Vec<Evidence>,
    conflicts: Vec<String>,
}

impl Narrow {
    fn add(&mut self, what: String, min: Line, max: Line) {
        self.evidence.push(Evidence {
            what: what.clone(),
            implies: span(min, max),
        });
        let (nmin, nmax) = (self.min.max(min), self.max.min(max));
        if nmin > nmax {
            // Keep the newer bound: newer lines leave the newer marks.
            self.conflicts.push(format!(
                "{what} (implies {}) contradicts the other evidence ({})",
                span(min, max),
                span(self.min, self.max)
            ));
            self.min = nmin;
            self.max = nmin;
        } else {
            self.min = nmin;
            self.max = nmax;
        }
    }
}

/// Narrow the lines that wrote the files from `s`.
pub fn detect(s: &Signals) -> Lineage {
    let mut n = Narrow {
        min: Line::V3_4,
        max: Line::V3_7,
        evidence: Vec::new(),
        conflicts: Vec::new(),
    };
    use Line::*;
    if let Some(v) = &s.storage_version {
        match minor_of(v) {
            Some(l) => n.add(format!("meta storageVersion {v:?}"), l, V3_7),
            None if v.is_empty() => n.add(
                "meta storageVersion is empty (a 3.5 to 3.6 migration in progress)".into(),
                V3_6,
                V3_7,
            ),
            None => n.add(format!("meta storageVersion {v:?}"), V3_6, V3_7),
        }
    } else if s.db && s.has_term {
        n.add(
            "meta `term` without `storageVersion`".into(),
            V3_5,
            // A 3.6 member sets storageVersion soon after it starts.
            V3_6,
        );
    } else if s.db && s.has_consistent_index {
        n.add("meta `consistent_index` without `term`".into(), V3_4, V3_4);
    }
    if s.db && s.has_confstate && s.storage_version.is_none() && !s.has_term {
        n.add("meta `confState`".into(), V3_5, V3_7);
    }
    if let Some(cv) = &s.cluster_version {
        if let Some(l) = minor_of(cv) {
            // Every member runs at least the cluster version.
            n.add(format!("cluster version {cv}"), l, V3_7);
        }
    }
    if let Some(d) = &s.downgrade {
        let target = serde_json::from_str::<serde_json::Value>(d).ok();
        let enabled = target
            .as_ref()
            .and_then(|t| t.get("enabled"))
            .and_then(|e| e.as_bool())
            .unwrap_or(false);
        let to = target
            .as_ref()
            .and_then(|t| t.get("target-version"))
            .and_then(|e| e.as_str())
            .unwrap_or("")
            .to_string();
        n.evidence.push(Evidence {
            what: if enabled {
                format!("a downgrade to {to} is in progress (cluster/downgrade)")
            } else {
                "cluster/downgrade present, not enabled".into()
            },
            implies: "3.5+".into(),
        });
        if n.min < V3_5 {
            n.add("cluster/downgrade key".into(), V3_5, V3_7);
        }
    }
    // A membership-only store is what 3.6+ write, but also what a 3.4/3.5
    // member that never wrote anything else to v2 saves: no evidence.
    match s.snap_membership_only {
        Some(true) | None => {}
        Some(false) => n.add(
            if s.snap_custom_content {
                "the .snap holds a full v2 store with custom v2 content".into()
            } else {
                "the .snap holds a full v2 store clone".into()
            },
            V3_4,
            V3_5,
        ),
    }
    if s.wal_snapshots > 0 {
        if s.wal_snapshots_with_conf_state == s.wal_snapshots {
            n.add("WAL snapshot records carry conf_state".into(), V3_5, V3_7);
        } else if s.wal_snapshots_with_conf_state == 0 {
            n.add("WAL snapshot records without conf_state".into(), V3_4, V3_4);
        }
    }
    if s.wal_v35_requests > 0 {
        n.add(
            format!(
                "{} WAL entries with 3.5's requests (cluster version, member attributes, downgrade, auth status)",
                s.wal_v35_requests
            ),
            V3_5,
            V3_7,
        );
    }
    if s.wal_v2_requests > 0 && s.wal_v35_requests == 0 {
        // 3.5 and 3.6 also publish their first attributes as v2 requests
        // while the cluster version is undecided; only no 3.5 request at
        // all points to 3.4 (or a log that ends right after bootstrap).
        n.evidence.push(Evidence {
            what: format!(
                "{} v2 requests and none of 3.5's requests in the WAL",
                s.wal_v2_requests
            ),
            implies: "3.4-3.6".into(),
        });
    }
    if s.wal_v2_requests > 0 && s.wal_v35_requests > 0 && n.max == V3_7 && n.min == V3_7 {
        n.conflicts
            .push("v2 requests in a log etcd 3.7 wrote: 3.7 cannot replay them".into());
    }
    if s.wal_entries_without_type > 0 {
        n.add(
            format!(
                "{} WAL entries leave out the zero type field (protobuf-go)",
                s.wal_entries_without_type
            ),
            V3_7,
            V3_7,
        );
    }
    Lineage {
        line: n.min,
        min: n.min,
        max: n.max,
        range: span(n.min, n.max),
        evidence: n.evidence,
        conflicts: n.conflicts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(term: bool, sv: Option<&str>) -> Signals {
        Signals {
            db: true,
            has_consistent_index: true,
            has_term: term,
            has_confstate: term,
            storage_version: sv.map(str::to_string),
            ..Signals::default()
        }
    }

    #[test]
    fn the_db_alone() {
        assert_eq!(detect(&db(false, None)).range, "3.4");
        let d = detect(&db(true, None));
        assert_eq!((d.line, d.range.as_str()), (Line::V3_5, "3.5-3.6"));
        assert_eq!(detect(&db(true, Some("3.6.0"))).range, "3.6+");
        assert_eq!(detect(&db(true, Some("3.7.0"))).range, "3.7");
        let empty = Signals::default();
        assert_eq!(detect(&empty).range, "3.4+");
    }

    #[test]
    fn the_snap_and_the_wal_narrow_it() {
        let mut s = db(true, None);
        s.snap_membership_only = Some(false);
        assert_eq!(detect(&s).range, "3.5");
        let mut s = db(true, Some("3.6.0"));
        s.snap_membership_only = Some(true);
        assert_eq!(
            detect(&s).range,
            "3.6+",
            "a membership-only store decides nothing"
        );
        let mut s = db(true, Some("3.6.0"));
        s.wal_entries_without_type = 5;
        s.wal_entries = 5;
        assert_eq!(detect(&s).range, "3.7");
        let mut s = Signals {
            wal_snapshots: 2,
            wal_snapshots_with_conf_state: 2,
            ..Signals::default()
        };
        assert_eq!(detect(&s).range, "3.5+");
        s.wal_v35_requests = 1;
        s.cluster_version = Some("3.6.0".into());
        let d = detect(&s);
        assert_eq!(d.range, "3.6+");
        assert_eq!(d.evidence.len(), 3);
        assert!(d.describe().contains("cluster version 3.6.0"));
    }

    #[test]
    fn contradictions_are_reported() {
        // A 3.4 db (no term) with 3.5 entries: a member upgraded in place
        // whose db has not committed since.
        let mut s = db(false, None);
        s.wal_v35_requests = 2;
        let d = detect(&s);
        assert_eq!(d.line, Line::V3_5);
        assert_eq!(d.conflicts.len(), 1);
    }
}
