//! The etcdctl-like commands: `get`, `history`, `snapshot status`, `hashkv`,
//! `members`, `leases`, `auth`, `alarms`.

use super::{resolve, EtcdFormat, Failure, GetArgs};
use etcd_rescue::bolt::BoltFile;
use etcd_rescue::etcd::lines::EtcdVersion;
use etcd_rescue::etcd::validate::{read_small_buckets, EtcdFacts};
use etcd_rescue::input::Input;
use etcd_rescue::mvcc::range::{RangeError, RangeRequest, StreamError};
use etcd_rescue::mvcc::KeyIndex;
use etcd_rescue::ops::header::{header, with_db_term, Header};
use etcd_rescue::ops::keyspace::{self, PrintOptions};
use etcd_rescue::ops::open::OpenDb;
use etcd_rescue::ops::render::{self, table_dyn, table_right, Format, TableStyle};
use etcd_rescue::ops::{cluster, damage, exit, status};
use std::io::Write;
use std::path::Path;

pub(super) struct Opened {
    input: Input,
    db: OpenDb,
}

pub(super) fn open(path: &Path) -> Result<Opened, Failure> {
    let input = resolve(path)?;
    let db = OpenDb::open(&input)?;
    Ok(Opened { input, db })
}

pub(super) fn bolt<'a>(o: &'a Opened) -> Result<BoltFile<'a>, Failure> {
    Ok(o.db.bolt()?)
}

pub(super) fn index<'a>(b: &BoltFile<'a>) -> Result<KeyIndex<'a>, Failure> {
    Ok(KeyIndex::build(b)?)
}

/// Tell the user on stderr when the key bucket is damaged; the exit code.
pub(super) fn damage_note(idx: &KeyIndex<'_>) -> i32 {
    if idx.damage.is_empty() {
        return exit::OK;
    }
    let ranges: Vec<String> = idx
        .damage
        .lost_revision_ranges
        .iter()
        .map(|(a, b)| format!("{a}..{b}"))
        .collect();
    eprintln!(
        "etcd-rescue: warning: the key bucket is damaged ({} unreadable subtrees{}, {} undecodable entries): this answer may be incomplete; run `etcd-rescue check`",
        idx.damage.lost_subtrees.len(),
        if ranges.is_empty() { String::new() } else { format!(", revisions {}", ranges.join(", ")) },
        idx.damage.bad_entries
    );
    let affected = idx.keys_with_lost_revisions();
    for (k, what) in affected.iter().take(20) {
        eprintln!("etcd-rescue:   {}: {what}", String::from_utf8_lossy(k));
    }
    if affected.len() > 20 {
        eprintln!("etcd-rescue:   ... and {} more keys", affected.len() - 20);
    }
    exit::FINDINGS
}

/// The damage notes for a view of the named buckets; exit 2 when there is
/// nothing true to print.
fn notes(o: &Opened, b: &BoltFile<'_>, buckets: &[&str]) -> Result<damage::Notes, Failure> {
    damage::bucket_notes(b, &o.db.name(), buckets).map_err(|e| Failure {
        code: exit::UNUSABLE,
        message: e.to_string(),
    })
}

/// The file-level damage notes (metas, length, root tree, freelist).
pub(super) fn file_notes(o: &Opened, b: &BoltFile<'_>) -> Result<damage::Notes, Failure> {
    damage::file_notes(b, &o.db.name()).map_err(|e| Failure {
        code: exit::UNUSABLE,
        message: e.to_string(),
    })
}

fn facts(o: &Opened, b: &BoltFile<'_>) -> EtcdFacts {
    read_small_buckets(b, &o.db.name()).0
}

pub fn get(a: &GetArgs, out: &mut dyn Write) -> Result<i32, Failure> {
    let o = open(&a.path)?;
    let b = bolt(&o)?;
    let n = file_notes(&o, &b)?;
    let idx = index(&b)?;
    let mut req = RangeRequest::from_cli(
        a.key.as_bytes(),
        a.range_end.as_deref().map(str::as_bytes),
        a.prefix,
        a.from_key,
    );
    req.revision = a.rev;
    req.limit = a.limit;
    req.sort_target = a.sort_by;
    req.sort_order = a.order;
    req.keys_only = a.keys_only;
    req.count_only = a.count_only;
    req.include_compacted = a.include_compacted;
    let f = facts(&o, &b);
    let h = with_db_term(header(&o.input, &f.members, idx.current_revision), f.term());
    let opts = PrintOptions {
        print_value_only: a.print_value_only,
        hex: a.hex,
    };
    match keyspace::print_get(&idx, &req, h, a.output, opts, out) {
        Ok(s) => {
            for (k, r) in s.approximated.iter().take(20) {
                eprintln!(
                    "etcd-rescue: note: {} existed at revision {} but its revisions up to it were compacted: shown at its oldest surviving revision {r}",
                    String::from_utf8_lossy(k),
                    s.read_revision
                );
            }
            if s.approximated.len() > 20 {
                eprintln!(
                    "etcd-rescue: note: ... and {} more such keys",
                    s.approximated.len() - 20
                );
            }
            Ok(n.report().max(damage_note(&idx)))
        }
        Err(StreamError::Range(e)) => Err(Failure {
            code: exit::UNUSABLE,
            message: match e {
                RangeError::Compacted { .. } => {
                    format!("{e}; --include-compacted shows what survived")
                }
                _ => e.to_string(),
            },
        }),
        Err(StreamError::Io(e)) => Err(e.into()),
    }
}

pub fn history(
    path: &Path,
    key: &str,
    prefix: bool,
    values: bool,
    fmt: Format,
    out: &mut dyn Write,
) -> Result<i32, Failure> {
    let o = open(path)?;
    let b = bolt(&o)?;
    let n = file_notes(&o, &b)?;
    let idx = index(&b)?;
    let req = RangeRequest::from_cli(key.as_bytes(), None, prefix, false);
    let rows = keyspace::history(&idx, &req, values);
    match fmt {
        Format::Json => render::json(out, &rows)?,
        Format::Text => {
            let mut t: Vec<Vec<String>> = Vec::new();
            for r in &rows {
                let mut row = vec![
                    r.key_text.clone(),
                    r.revision.clone(),
                    r.kind.to_string(),
                    r.create_revision.to_string(),
                    r.mod_revision.to_string(),
                    r.version.to_string(),
                    if r.lease == 0 {
                        String::new()
                    } else {
                        format!("{:x}", r.lease)
                    },
                    r.value_size.to_string(),
                ];
                if values {
                    row.push(r.value.clone().unwrap_or_default());
                }
                t.push(row);
            }
            let mut headers = vec![
                "KEY", "REVISION", "EVENT", "CREATE", "MOD", "VERSION", "LEASE", "SIZE",
            ];
            if values {
                headers.push("VALUE");
            }
            table_dyn(out, &headers, &t)?;
            writeln!(
                out,
                "{} revisions; current revision {}, compacted at {}",
                rows.len(),
                idx.current_revision,
                idx.compacted
            )?;
        }
    }
    Ok(n.report().max(damage_note(&idx)))
}

/// The rules of `version`, else of the line that wrote the files.
fn rules_of(o: &Opened, version: Option<EtcdVersion>) -> etcd_rescue::etcd::lines::LineRules {
    etcd_rescue::ops::lineage::rules_for(version, &etcd_rescue::ops::lineage::lineage(&o.input))
}

fn table_style(rules: &etcd_rescue::etcd::lines::LineRules) -> TableStyle {
    if rules.line() >= etcd_rescue::etcd::lines::Line::V3_7 {
        TableStyle::Boxed
    } else {
        TableStyle::Ascii
    }
}

pub fn snapshot_status(
    path: &Path,
    version: Option<EtcdVersion>,
    fmt: EtcdFormat,
    out: &mut dyn Write,
) -> Result<i32, Failure> {
    let o = open(path)?;
    let rules = rules_of(&o, version);
    let s = status::status(&o.db, &rules).ok_or_else(|| Failure {
        code: exit::UNUSABLE,
        message: format!(
            "{}: no usable meta page: the db cannot be read",
            o.db.name()
        ),
    })?;
    let size = status::humanize_bytes(s.total_size);
    match fmt {
        EtcdFormat::Json => {
            serde_json::to_writer(&mut *out, &s)?;
            writeln!(out)?;
        }
        EtcdFormat::Simple => match &s.version {
            Some(v) => writeln!(
                out,
                "{:x}, {}, {}, {}, {}",
                s.hash, s.revision, s.total_key, size, v
            )?,
            None => writeln!(
                out,
                "{:x}, {}, {}, {}",
                s.hash, s.revision, s.total_key, size
            )?,
        },
        EtcdFormat::Table => {
            let mut headers = vec!["HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE"];
            let style = table_style(&rules);
            let mut row = vec![
                format!("{:x}", s.hash),
                s.revision.to_string(),
                s.total_key.to_string(),
                size,
            ];
            if let Some(v) = &s.version {
                headers.push("VERSION");
                row.push(v.clone());
            }
            table_right(out, style, &headers, &[row])?;
        }
    }
    eprintln!("etcd-rescue: {}", s.sha256.describe());
    if s.unreadable_subtrees > 0 {
        eprintln!(
            "etcd-rescue: warning: {} subtrees could not be read: the figures miss their keys",
            s.unreadable_subtrees
        );
    }
    // What etcdctl would not survive (a freelist that is not one), a db
    // bbolt refuses (no valid meta), a cut file: said, exit 1.
    let b = bolt(&o)?;
    let notes = file_notes(&o, &b)?.report();
    Ok(match s.sha256 {
        status::TrailerVerdict::Mismatch | status::TrailerVerdict::Cut => exit::FINDINGS,
        _ if s.unreadable_subtrees > 0 => exit::FINDINGS,
        _ => notes,
    })
}

pub fn hashkv(
    path: &Path,
    rev: i64,
    backend: bool,
    version: Option<EtcdVersion>,
    etcdutl: bool,
    fmt: EtcdFormat,
    out: &mut dyn Write,
) -> Result<i32, Failure> {
    let o = open(path)?;
    let rules = rules_of(&o, version);
    let b = bolt(&o)?;
    if backend {
        let h = etcd_rescue::mvcc::hash::backend_hash(&b).ok_or_else(|| Failure {
            code: exit::UNUSABLE,
            message: "no usable meta page: the db cannot be read".into(),
        })?;
        match fmt {
            EtcdFormat::Json => writeln!(out, "{}", serde_json::json!({ "hash": h }))?,
            _ => writeln!(out, "{h}")?,
        }
        return Ok(file_notes(&o, &b)?.report());
    }
    let n = file_notes(&o, &b)?;
    let idx = index(&b)?;
    let h = etcd_rescue::mvcc::hash::hash_kv_as(&idx, rev, &rules).map_err(|e| Failure {
        code: exit::UNUSABLE,
        message: e.to_string(),
    })?;
    if etcdutl {
        // `etcdutl hashkv` (3.6+) on the db.
        let u = status::UtlHashKv {
            hash: h.hash,
            hash_revision: h.hash_revision,
            compact_revision: h.compact_revision,
        };
        let row = vec![
            u.hash.to_string(),
            u.hash_revision.to_string(),
            u.compact_revision.to_string(),
        ];
        match fmt {
            EtcdFormat::Json => {
                serde_json::to_writer(&mut *out, &u)?;
                writeln!(out)?;
            }
            EtcdFormat::Simple => writeln!(out, "{}", row.join(", "))?,
            EtcdFormat::Table => table_right(
                out,
                table_style(&rules),
                &["HASH", "HASH REVISION", "COMPACT REVISION"],
                &[row],
            )?,
        }
        return Ok(damage_note(&idx));
    }
    let f = facts(&o, &b);
    let hdr: Header = with_db_term(header(&o.input, &f.members, idx.current_revision), f.term());
    let endpoint = path.display().to_string();
    match fmt {
        EtcdFormat::Json => {
            serde_json::to_writer(&mut *out, &status::hashkv_json(endpoint, hdr, &h, &rules))?;
            writeln!(out)?;
        }
        EtcdFormat::Simple => writeln!(
            out,
            "{endpoint}, {}, {}, {}",
            h.hash, h.hash_revision, h.compact_revision
        )?,
        EtcdFormat::Table => table_dyn(
            out,
            &["ENDPOINT", "HASH", "HASH REVISION", "COMPACT REVISION"],
            &[vec![
                endpoint,
                h.hash.to_string(),
                h.hash_revision.to_string(),
                h.compact_revision.to_string(),
            ]],
        )?,
    }
    Ok(n.report().max(damage_note(&idx)))
}

pub fn members(path: &Path, fmt: EtcdFormat, out: &mut dyn Write) -> Result<i32, Failure> {
    let o = open(path)?;
    let b = bolt(&o)?;
    let n = notes(&o, &b, &["members", "members_removed"])?;
    let f = facts(&o, &b);
    let h = header(&o.input, &f.members, 0);
    let r = cluster::members(&f, h);
    match fmt {
        EtcdFormat::Json => {
            serde_json::to_writer(&mut *out, &r)?;
            writeln!(out)?;
        }
        EtcdFormat::Simple => {
            for l in cluster::member_lines(&r) {
                writeln!(out, "{l}")?;
            }
            for id in &r.removed_members {
                writeln!(out, "{id}, removed")?;
            }
        }
        EtcdFormat::Table => {
            let rows: Vec<Vec<String>> = cluster::member_lines(&r)
                .into_iter()
                .map(|l| l.split(", ").map(str::to_string).collect())
                .collect();
            table_dyn(
                out,
                &[
                    "ID",
                    "STATUS",
                    "NAME",
                    "PEER ADDRS",
                    "CLIENT ADDRS",
                    "IS LEARNER",
                ],
                &rows,
            )?;
        }
    }
    Ok(n.report())
}

pub fn leases(path: &Path, fmt: EtcdFormat, out: &mut dyn Write) -> Result<i32, Failure> {
    let o = open(path)?;
    let b = bolt(&o)?;
    let n = notes(&o, &b, &["lease"])?;
    let f = facts(&o, &b);
    let idx = KeyIndex::build(&b).ok();
    let h = header(
        &o.input,
        &f.members,
        idx.as_ref().map_or(0, |i| i.current_revision),
    );
    let r = cluster::leases(&f, idx.as_ref(), h);
    match fmt {
        EtcdFormat::Json => render::json(out, &r)?,
        EtcdFormat::Simple => {
            writeln!(out, "found {} leases", r.leases.len())?;
            for l in &r.leases {
                writeln!(
                    out,
                    "lease {} granted with TTL({}s), remaining({}), attached keys({:?})",
                    l.id_hex,
                    l.ttl,
                    if l.remaining_ttl < 0 {
                        "not persisted".to_string()
                    } else {
                        format!("{}s", l.remaining_ttl)
                    },
                    l.keys
                )?;
            }
        }
        EtcdFormat::Table => {
            let rows: Vec<Vec<String>> = r
                .leases
                .iter()
                .map(|l| {
                    vec![
                        l.id_hex.clone(),
                        l.ttl.to_string(),
                        if l.remaining_ttl < 0 {
                            "-".into()
                        } else {
                            l.remaining_ttl.to_string()
                        },
                        l.keys.join(", "),
                    ]
                })
                .collect();
            table_dyn(out, &["ID", "TTL", "REMAINING", "KEYS"], &rows)?;
        }
    }
    for k in &r.keys_with_missing_lease {
        eprintln!("etcd-rescue: warning: live key {k} names a lease the db does not have");
    }
    Ok(n.report().max(idx.as_ref().map_or(exit::OK, damage_note)))
}

pub fn auth(
    path: &Path,
    show_secrets: bool,
    fmt: EtcdFormat,
    out: &mut dyn Write,
) -> Result<i32, Failure> {
    let o = open(path)?;
    let b = bolt(&o)?;
    let n = notes(&o, &b, &["auth", "authUsers", "authRoles"])?;
    let r = cluster::auth(&facts(&o, &b), show_secrets);
    match fmt {
        EtcdFormat::Json => render::json(out, &r)?,
        _ => {
            writeln!(
                out,
                "Authentication Status: {}",
                if r.enabled { "true" } else { "false" }
            )?;
            writeln!(out, "AuthRevision: {}", r.revision.unwrap_or(0))?;
            for u in &r.users {
                writeln!(out, "User: {}", u.name)?;
                writeln!(out, "Roles: {}", u.roles.join(" "))?;
                if let Some(p) = &u.password_hash {
                    writeln!(out, "Password hash: {p}")?;
                }
            }
            for role in &r.roles {
                writeln!(out, "Role {}", role.name)?;
                for (t, label) in [("READ", "KV Read:"), ("WRITE", "KV Write:")] {
                    writeln!(out, "{label}")?;
                    for p in &role.permissions {
                        if p.perm_type == t || p.perm_type == "READWRITE" {
                            writeln!(out, "\t{}", p.description)?;
                        }
                    }
                }
            }
        }
    }
    Ok(n.report())
}

pub fn alarms(path: &Path, fmt: EtcdFormat, out: &mut dyn Write) -> Result<i32, Failure> {
    let o = open(path)?;
    let b = bolt(&o)?;
    let n = notes(&o, &b, &["alarm"])?;
    let f = facts(&o, &b);
    let r = cluster::alarms(&f, header(&o.input, &f.members, 0));
    match fmt {
        EtcdFormat::Json => {
            serde_json::to_writer(&mut *out, &r)?;
            writeln!(out)?;
        }
        _ => {
            for a in &r.alarms {
                writeln!(out, "memberID:{} alarm:{} ", a.member_id, a.alarm)?;
            }
        }
    }
    Ok(n.report())
}
