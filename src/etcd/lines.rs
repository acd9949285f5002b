//! What each etcd release line (3.4, 3.5, 3.6, 3.7) does differently with the
//! same files, as data: one [`LineRules`] per line, refined by patch release
//! where the facts changed inside a line. The boot predictor, the status and
//! hash printers, the WAL readers and the repair writer consult these rules;
//! none of them compares version numbers itself.
//!
//! Sources: etcd's `server/etcdserver/bootstrap.go`, `server/storage/schema`,
//! `server/storage/wal`, `etcdutl/snapshot` and `mvcc/hash.go` at the release
//! tags (see README, "Versions").
#![forbid(unsafe_code)]

use serde::Serialize;
use std::fmt;

/// A release line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Line {
    #[serde(rename = "3.4")]
    V3_4,
    #[serde(rename = "3.5")]
    V3_5,
    #[serde(rename = "3.6")]
    V3_6,
    #[serde(rename = "3.7")]
    V3_7,
}

impl Line {
    pub const ALL: [Line; 4] = [Line::V3_4, Line::V3_5, Line::V3_6, Line::V3_7];

    pub fn minor(self) -> u32 {
        match self {
            Line::V3_4 => 4,
            Line::V3_5 => 5,
            Line::V3_6 => 6,
            Line::V3_7 => 7,
        }
    }

    pub fn from_minor(minor: u32) -> Option<Line> {
        Line::ALL.into_iter().find(|l| l.minor() == minor)
    }

    /// The rules of the line's latest patch release.
    pub fn rules(self) -> LineRules {
        EtcdVersion::line(self).rules()
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "3.{}", self.minor())
    }
}

/// A release: a line and, when known, the patch (`3.5` alone means the
/// line's latest patch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EtcdVersion {
    pub line: Line,
    pub patch: Option<u32>,
}

impl EtcdVersion {
    pub fn line(line: Line) -> EtcdVersion {
        EtcdVersion { line, patch: None }
    }

    /// `3.5`, `3.5.21`, `v3.6.4`, or an image tag such as
    /// `registry.k8s.io/etcd:3.5.21-0` / `quay.io/coreos/etcd:v3.4.23`.
    pub fn parse(s: &str) -> Option<EtcdVersion> {
        let s = s.trim();
        // An image reference: take the tag after the last ':' past the last '/'.
        let tail = s.rsplit('/').next().unwrap_or(s);
        let tag = tail.rsplit_once(':').map_or(tail, |(_, t)| t);
        let tag = tag.split('@').next().unwrap_or(tag);
        let tag = tag.strip_prefix('v').unwrap_or(tag);
        let core = tag.split(['-', '+']).next().unwrap_or(tag);
        let mut parts = core.split('.');
        let major: u32 = parts.next()?.parse().ok()?;
        let minor: u32 = parts.next()?.parse().ok()?;
        let patch = match parts.next() {
            Some(p) => Some(p.parse().ok()?),
            None => None,
        };
        if major != 3 || parts.next().is_some() {
            return None;
        }
        Some(EtcdVersion {
            line: Line::from_minor(minor)?,
            patch,
        })
    }

    /// Whether this release is at least `3.<line>.<patch>` (an unknown
    /// patch counts as the line's latest).
    fn at_least(self, patch: u32) -> bool {
        self.patch.is_none_or(|p| p >= patch)
    }

    /// The rules this release follows.
    pub fn rules(self) -> LineRules {
        let mut r = match self.line {
            Line::V3_4 => V3_4,
            Line::V3_5 => V3_5,
            Line::V3_6 => V3_6,
            Line::V3_7 => V3_7,
        };
        r.version = self;
        match self.line {
            Line::V3_4 => {
                r.hashkv_skips_compact_tombstone = self.at_least(34);
            }
            Line::V3_5 => {
                // 3.5.5 (etcd#14127): a length past the file's end is an
                // unexpected EOF, which wal.Repair cuts.
                if !self.at_least(5) {
                    r.wal_oversize_rule = OversizeRule::Limit10MiB;
                }
                r.hashkv_skips_compact_tombstone = self.at_least(16);
                if !self.at_least(1) {
                    r.errcompacted_rule = ErrCompactedRule::AtOrBelow;
                }
            }
            Line::V3_6 => {
                // 3.6.0-3.6.4 also wanted meta/confState (etcd#20496).
                r.schema_needs_confstate = !self.at_least(5);
            }
            Line::V3_7 => {}
        }
        r
    }
}

impl fmt::Display for EtcdVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.patch {
            Some(p) => write!(f, "{}.{p}", self.line),
            None => write!(f, "{}", self.line),
        }
    }
}

impl std::str::FromStr for EtcdVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<EtcdVersion, String> {
        EtcdVersion::parse(s)
            .ok_or_else(|| format!("{s:?} is not an etcd release this tool knows (3.4, 3.5, 3.6, 3.7, optionally with a patch: 3.5.21)"))
    }
}

/// Where etcd rebuilds membership from at boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MembershipSource {
    /// The v2 store (the `.snap` plus the replayed log): 3.4, 3.5.
    V2Store,
    /// The db's `members`/`members_removed` buckets: 3.6.
    Backend,
    /// The db's buckets, and raft's ConfState rebuilt from them: 3.7.
    BackendWithConfState,
}

/// How the WAL decoder treats a record length over 10 MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OversizeRule {
    /// 3.4, 3.5.0-3.5.4: `ErrMaxWALEntrySizeLimitExceeded`, never repaired.
    Limit10MiB,
    /// 3.5.5+: only a length past the end of the file is refused, as an
    /// unexpected EOF that `wal.Repair` cuts in the last segment.
    PastFileEnd,
}

/// When hashkv at a revision is refused as compacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrCompactedRule {
    /// `rev <= compactRev` (3.4, 3.5.0).
    AtOrBelow,
    /// `rev < compactRev` (3.5.1+, 3.6+).
    Below,
}

/// What `snapshot status` counts as total keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TotalKeyRule {
    /// Every key/value pair of every bucket (3.4, 3.5).
    AllBucketEntries,
    /// Live user keys (3.6+, etcd#19344).
    LiveKeys,
}

/// How the bbolt release a line builds with walks a db when it opens it
/// (etcd opens with no persisted freelist, so bbolt walks every reachable
/// page to find the free ones, and panics on the first thing it rejects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BoltOpenWalk {
    /// bbolt 1.3.6 (etcd 3.4): pages are counted by the id in their own
    /// header (one past the high-water mark or landing on another reached
    /// page panics); the type is read from the branch/leaf bits; key order
    /// is not checked.
    CountsSelfIds,
    /// bbolt 1.3.7+ (etcd 3.5: 1.3.12, 3.6: 1.4.3, 3.7: 1.5.0): every page
    /// read asserts that it carries its own id and exactly one type flag,
    /// and every bucket tree's key order is checked against its parents.
    Strict,
}

/// Which v2 requests in the log etcd applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum V2Apply {
    /// 3.4, 3.5: every v2 request, to the v2 store.
    All,
    /// 3.6: member attributes and the cluster version are converted to v3;
    /// custom v2 writes panic.
    MembershipOnly,
    /// 3.7: the v2 `Request` is gone; an undecodable entry panics.
    None,
}

/// One line's rules.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LineRules {
    pub version: EtcdVersion,
    pub membership_source: MembershipSource,
    /// Boot loads the newest `.snap` matching a WAL snapshot record (3.7
    /// builds the snapshot from the newest WAL snapshot record instead).
    pub reads_v2_snap: bool,
    /// Custom v2 content in the loaded `.snap` is fatal (3.6,
    /// `--v2-deprecation=write-only`).
    pub v2_content_fatal: bool,
    /// `schema.Validate` at boot: a storage version newer than the binary
    /// is refused (3.6+).
    pub schema_check: bool,
    /// 3.6.0-3.6.4: schema detection also wants `meta/confState`.
    pub schema_needs_confstate: bool,
    /// A db whose consistent index is below the loaded snapshot's index
    /// (after any `.snap.db` swap) is refused (3.6+).
    pub db_below_snapshot_fatal: bool,
    pub wal_oversize_rule: OversizeRule,
    /// hashkv skips a tombstone at exactly the compacted revision
    /// (3.4.34+, 3.5.16+, 3.6+).
    pub hashkv_skips_compact_tombstone: bool,
    pub errcompacted_rule: ErrCompactedRule,
    pub snapshot_status_total_key: TotalKeyRule,
    /// `snapshot status` prints the storage version (3.6+).
    pub snapshot_status_version: bool,
    /// The tool that reads a snapshot file offline.
    pub snapshot_tool: &'static str,
    /// `etcdutl hashkv` exists (3.6+); `endpoint hashkv` shows hash_revision.
    pub has_hash_revision: bool,
    /// `--max-learners` (default 1) enforced at boot (3.6+).
    pub max_learners_check: bool,
    /// The cluster version the binary compares with its own is read from
    /// the db's `cluster` bucket (3.6+) rather than the v2 store.
    pub cluster_version_from_db: bool,
    /// A cluster version above the binary is allowed while a downgrade to
    /// it is enabled (3.5+).
    pub downgrade_allows_older: bool,
    pub v2_apply: V2Apply,
    /// The db keeps `meta/term` next to the consistent index (3.5+).
    pub writes_term: bool,
    /// The db keeps `meta/confState` (3.5+).
    pub writes_confstate: bool,
    /// The storage version this line's binary writes (3.6+).
    pub storage_version: Option<&'static str>,
    /// The newest storage version the binary accepts.
    pub max_storage_minor: u32,
    /// WAL snapshot records carry conf_state (3.5+).
    pub wal_snapshot_conf_state: bool,
    /// Entries may omit zero-valued fields (3.7, protobuf-go).
    pub absent_zero_fields: bool,
    /// Clients are served only once the member's attributes are published
    /// through the v3 apply (3.6+), which skips entries at or below the
    /// db's consistent index; 3.4/3.5 publish them as a v2 request, which
    /// is applied whatever that index, so they are ready at once.
    pub serves_after_publish: bool,
    /// A NOSPACE alarm applied at run time caps the bare backend applier
    /// (`newApplierV3Capped(a)` inside `applierV3backend.Alarm`), so auth
    /// checks are skipped until it is cleared (3.4, 3.5); 3.6+ rebuild the
    /// chain from the alarm store, auth kept. An alarm restored from the db
    /// at start always caps the whole chain.
    pub nospace_alarm_skips_auth: bool,
    /// The bbolt release the line builds with (latest patch).
    pub bbolt: &'static str,
    /// What that bbolt rejects when it opens the db.
    pub bolt_open: BoltOpenWalk,
}

pub const V3_4: LineRules = LineRules {
    version: EtcdVersion {
        line: Line::V3_4,
        patch: None,
    },
    membership_source: MembershipSource::V2Store,
    reads_v2_snap: true,
    v2_content_fatal: false,
    schema_check: false,
    schema_needs_confstate: false,
    db_below_snapshot_fatal: false,
    wal_oversize_rule: OversizeRule::Limit10MiB,
    hashkv_skips_compact_tombstone: true,
    errcompacted_rule: ErrCompactedRule::AtOrBelow,
    snapshot_status_total_key: TotalKeyRule::AllBucketEntries,
    snapshot_status_version: false,
    snapshot_tool: "etcdctl",
    has_hash_revision: false,
    max_learners_check: false,
    cluster_version_from_db: false,
    downgrade_allows_older: false,
    v2_apply: V2Apply::All,
    writes_term: false,
    writes_confstate: false,
    storage_version: None,
    max_storage_minor: 5,
    wal_snapshot_conf_state: false,
    absent_zero_fields: false,
    serves_after_publish: false,
    nospace_alarm_skips_auth: true,
    bbolt: "1.3.6",
    bolt_open: BoltOpenWalk::CountsSelfIds,
};

pub const V3_5: LineRules = LineRules {
    version: EtcdVersion {
        line: Line::V3_5,
        patch: None,
    },
    wal_oversize_rule: OversizeRule::PastFileEnd,
    errcompacted_rule: ErrCompactedRule::Below,
    snapshot_tool: "etcdutl",
    downgrade_allows_older: true,
    writes_term: true,
    writes_confstate: true,
    wal_snapshot_conf_state: true,
    bbolt: "1.3.12",
    bolt_open: BoltOpenWalk::Strict,
    ..V3_4
};

pub const V3_6: LineRules = LineRules {
    version: EtcdVersion {
        line: Line::V3_6,
        patch: None,
    },
    membership_source: MembershipSource::Backend,
    v2_content_fatal: true,
    schema_check: true,
    db_below_snapshot_fatal: true,
    snapshot_status_total_key: TotalKeyRule::LiveKeys,
    snapshot_status_version: true,
    has_hash_revision: true,
    max_learners_check: true,
    cluster_version_from_db: true,
    v2_apply: V2Apply::MembershipOnly,
    storage_version: Some("3.6.0"),
    max_storage_minor: 6,
    serves_after_publish: true,
    nospace_alarm_skips_auth: false,
    bbolt: "1.4.3",
    ..V3_5
};

pub const V3_7: LineRules = LineRules {
    version: EtcdVersion {
        line: Line::V3_7,
        patch: None,
    },
    membership_source: MembershipSource::BackendWithConfState,
    reads_v2_snap: false,
    v2_content_fatal: false,
    v2_apply: V2Apply::None,
    storage_version: Some("3.7.0"),
    max_storage_minor: 7,
    absent_zero_fields: true,
    bbolt: "1.5.0",
    ..V3_6
};

impl LineRules {
    pub fn line(&self) -> Line {
        self.version.line
    }

    /// Whether a WAL record of `len` bytes at `offset` in a segment of
    /// `size` bytes is one `wal.Repair` cuts (when in the last segment)
    /// rather than a fatal decoder error.
    pub fn oversize_repairable(&self, len: u64, offset: u64, size: u64) -> bool {
        match self.wal_oversize_rule {
            OversizeRule::Limit10MiB => false,
            OversizeRule::PastFileEnd => len > size.saturating_sub(offset.saturating_add(8)),
        }
    }

    /// hashkv at `rev` is refused when the store is compacted at `compact`.
    pub fn hashkv_compacted(&self, rev: i64, compact: i64) -> bool {
        compact > 0
            && rev > 0
            && match self.errcompacted_rule {
                ErrCompactedRule::AtOrBelow => rev <= compact,
                ErrCompactedRule::Below => rev < compact,
            }
    }

    /// Whether a storage version `major.minor` is refused by the binary's
    /// schema check, with etcd's message.
    pub fn refuses_storage_version(&self, v: &str) -> Option<String> {
        if !self.schema_check {
            return None;
        }
        let mut p = v.split('.');
        let major: u32 = p.next()?.parse().ok()?;
        let minor: u32 = p.next()?.parse().ok()?;
        if major != 3 {
            return Some("changing major storage version is not supported".into());
        }
        (minor > self.max_storage_minor).then(|| format!("version \"3.{minor}\" is not supported"))
    }

    /// Whether the binary refuses to run under cluster version `cv` (it is
    /// newer than the binary), given the downgrade state.
    pub fn refuses_cluster_version(&self, cv: &str, downgrade_target: Option<&str>) -> bool {
        let minor = |s: &str| -> Option<(u32, u32)> {
            let mut p = s.split('.');
            Some((p.next()?.parse().ok()?, p.next()?.parse().ok()?))
        };
        let Some((maj, min)) = minor(cv) else {
            return false;
        };
        if (maj, min) <= (3, self.line().minor()) {
            return false;
        }
        let allowed = self.downgrade_allows_older
            && downgrade_target
                .and_then(minor)
                .is_some_and(|t| t == (3, self.line().minor()));
        !allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> EtcdVersion {
        EtcdVersion::parse(s).unwrap()
    }

    #[test]
    fn versions_and_image_tags_parse() {
        assert_eq!(v("3.5").line, Line::V3_5);
        assert_eq!(
            v("3.5.21"),
            EtcdVersion {
                line: Line::V3_5,
                patch: Some(21)
            }
        );
        assert_eq!(v("v3.6.4").patch, Some(4));
        assert_eq!(
            v("registry.k8s.io/etcd:3.5.21-0"),
            EtcdVersion {
                line: Line::V3_5,
                patch: Some(21)
            }
        );
        assert_eq!(v("quay.io/coreos/etcd:v3.4.23").line, Line::V3_4);
        assert_eq!(v("localhost:5000/etcd:3.7.1").line, Line::V3_7);
        assert!(EtcdVersion::parse("3.3.10").is_none());
        assert!(EtcdVersion::parse("4.0").is_none());
        assert!(EtcdVersion::parse("registry.k8s.io/etcd").is_none());
        assert_eq!(v("3.6.4").to_string(), "3.6.4");
        assert_eq!(v("3.6").to_string(), "3.6");
    }

    #[test]
    fn patch_refinements() {
        assert_eq!(
            v("3.5.4").rules().wal_oversize_rule,
            OversizeRule::Limit10MiB
        );
        assert_eq!(
            v("3.5.5").rules().wal_oversize_rule,
            OversizeRule::PastFileEnd
        );
        assert_eq!(
            v("3.5").rules().wal_oversize_rule,
            OversizeRule::PastFileEnd
        );
        assert!(!v("3.4.33").rules().hashkv_skips_compact_tombstone);
        assert!(v("3.4.34").rules().hashkv_skips_compact_tombstone);
        assert!(!v("3.5.15").rules().hashkv_skips_compact_tombstone);
        assert!(v("3.5.16").rules().hashkv_skips_compact_tombstone);
        assert!(v("3.6.4").rules().schema_needs_confstate);
        assert!(!v("3.6.5").rules().schema_needs_confstate);
        assert_eq!(
            v("3.5.0").rules().errcompacted_rule,
            ErrCompactedRule::AtOrBelow
        );
        assert_eq!(
            v("3.5.1").rules().errcompacted_rule,
            ErrCompactedRule::Below
        );
    }

    #[test]
    fn line_facts() {
        let (a, b, c, d) = (V3_4, V3_5, V3_6, V3_7);
        assert_eq!(a.membership_source, MembershipSource::V2Store);
        assert_eq!(b.membership_source, MembershipSource::V2Store);
        assert_eq!(c.membership_source, MembershipSource::Backend);
        assert_eq!(d.membership_source, MembershipSource::BackendWithConfState);
        assert!(a.reads_v2_snap && b.reads_v2_snap && c.reads_v2_snap && !d.reads_v2_snap);
        assert!(!a.writes_term && b.writes_term && c.writes_term && d.writes_term);
        assert_eq!(
            (b.storage_version, c.storage_version, d.storage_version),
            (None, Some("3.6.0"), Some("3.7.0"))
        );
        assert_eq!(a.snapshot_tool, "etcdctl");
        assert_eq!(b.snapshot_tool, "etcdutl");
        assert!(c.v2_content_fatal && !d.v2_content_fatal);
        assert!(!b.has_hash_revision && c.has_hash_revision);
        assert_eq!(a.bolt_open, BoltOpenWalk::CountsSelfIds);
        assert!([b, c, d]
            .iter()
            .all(|r| r.bolt_open == BoltOpenWalk::Strict));
    }

    #[test]
    fn schema_and_downgrade_rules() {
        assert_eq!(
            V3_6.refuses_storage_version("3.7.0").as_deref(),
            Some("version \"3.7\" is not supported")
        );
        assert!(V3_6.refuses_storage_version("3.6.0").is_none());
        assert!(V3_7.refuses_storage_version("3.6.0").is_none());
        assert!(
            V3_5.refuses_storage_version("3.7.0").is_none(),
            "3.5 has no schema check"
        );
        assert!(V3_5.refuses_cluster_version("3.6.0", None));
        assert!(!V3_5.refuses_cluster_version("3.6.0", Some("3.5.0")));
        assert!(V3_4.refuses_cluster_version("3.5.0", Some("3.4.0")));
        assert!(!V3_6.refuses_cluster_version("3.5.0", None));
    }

    #[test]
    fn oversize_and_compaction_rules() {
        // A 20 MiB length 100 bytes into a 64 MiB segment: readable length.
        assert!(!V3_5.oversize_repairable(20 << 20, 100, 64 << 20));
        assert!(V3_5.oversize_repairable(80 << 20, 100, 64 << 20));
        assert!(!V3_4.oversize_repairable(80 << 20, 100, 64 << 20));
        assert!(V3_4.hashkv_compacted(10, 10));
        assert!(!V3_6.hashkv_compacted(10, 10));
        assert!(V3_6.hashkv_compacted(9, 10));
        assert!(!V3_6.hashkv_compacted(0, 10));
    }
}
