//! Entry points that drive every reader over arbitrary bytes, shared by the
//! fuzz targets (`fuzz/`) and the robustness tests. Each must return for any
//! input without panicking; they return a small figure so the work is not
//! optimised away.
#![doc(hidden)]
#![forbid(unsafe_code)]

use crate::bolt::cursor::{top_level_buckets, BucketCursor};
use crate::bolt::freelist::FreelistIds;
use crate::bolt::{BoltFile, Endian, Meta, NodePage, PageKind};
use crate::etcd::{records, KeyValue, RevisionKey};
use crate::mmap::InputFile;
use crate::ops::open::OpenDb;

/// Parse `data` as one page (branch, leaf, freelist or meta), both byte orders.
pub fn page(data: &[u8]) -> usize {
    let mut n = 0;
    for endian in [Endian::Little, Endian::Big] {
        if let Some(m) = Meta::decode(data, 0, 0, endian) {
            n += usize::from(m.validates()) + m.problems(4096).len();
        }
        let Some(node) = NodePage::new(data, endian) else {
            continue;
        };
        match node.header.kind() {
            PageKind::Freelist => {
                if let Ok(ids) = FreelistIds::parse(&node.header, data, endian) {
                    n += ids.iter().count();
                }
            }
            _ => {
                let _ = node.check_array();
                for i in 0..node.count() {
                    n += node.branch(i).map_or(0, |b| b.key.len());
                    n += node.leaf(i).map_or(0, |l| l.key.len() + l.value.len());
                }
            }
        }
    }
    n
}

/// Run `check` over `data` as a whole db file, then read every bucket.
pub fn db(data: &[u8]) -> usize {
    let db = OpenDb {
        path: "fuzz.db".into(),
        file: InputFile::from_bytes("fuzz.db", data.to_vec()),
        is_snapshot: false,
    };
    let mut n = match crate::ops::check::check_db(&db) {
        Ok(c) => c.findings.items().len(),
        Err(_) => 0,
    };
    if let Ok(f) = BoltFile::new(data) {
        if let Some(meta) = f.best_meta() {
            let (buckets, damage) = top_level_buckets(&f, meta);
            n += damage.len();
            for (_, root) in buckets {
                if let Ok(root) = root {
                    n += BucketCursor::new(&f, root, meta.pgid).count();
                }
            }
        }
        n += crate::etcd::keyspace::count_keys(&f).map_or(0, |k| k.keys as usize);
    }
    n
}

/// Decode `data` as every etcd record type.
pub fn records(data: &[u8]) -> usize {
    let mut n = 0;
    n += KeyValue::decode(data).map_or(0, |kv| kv.key.len());
    n += RevisionKey::parse(data).map_or(0, |r| r.main as usize & 1);
    let (k, v) = data.split_at(data.len() / 2);
    n += records::meta_record(k, v).is_ok() as usize;
    n += records::lease_record(k, v).is_ok() as usize;
    n += records::alarm_record(data).is_ok() as usize;
    n += records::user_record(k, v).is_ok() as usize;
    n += records::role_record(k, v).is_ok() as usize;
    n += records::member_record(k, v).is_ok() as usize;
    n += records::auth_record(k, v).is_ok() as usize;
    n += records::cluster_record(k, v).is_ok() as usize;
    n
}

/// Read `data` as a WAL segment (last and not last) and decode every entry.
pub fn wal(data: &[u8]) -> usize {
    let mut n = 0;
    for last in [false, true] {
        let mut crc = 0;
        let r = crate::wal::segment::read_segment(data, &mut crc, last, &mut |_, p| {
            if let crate::wal::segment::Payload::Entry(e) = p {
                n += crate::wal::entry::decode(e.entry_type, e.data)
                    .filter_names()
                    .len();
            }
        });
        n += r.records as usize;
    }
    n += crate::wal::entry::decode(0, data).filter_names().len();
    n += crate::wal::entry::decode(1, data).filter_names().len();
    n
}

/// Decode `data` as a stored Kubernetes value (every encoding, with a
/// keyring so encrypted prefixes are tried), render it as kubectl would, and
/// read it as a CBOR value, an EncryptionConfiguration and a schema file.
pub fn k8s(data: &[u8]) -> usize {
    use crate::k8s::{cbor, crypt, render, schema};
    use crate::ops::k8s::{decode_stored, served, ShowOptions};
    let ring = crypt::Keyring::from_config(
        "kind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - aescbc: {keys: [{name: k, secret: MDEyMzQ1Njc4OWFiY2RlZg==}]}\n  - aesgcm: {keys: [{name: k, secret: MDEyMzQ1Njc4OWFiY2RlZg==}]}\n  - secretbox: {keys: [{name: k, secret: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=}]}\n  - kms: {apiVersion: v2, name: p}\n",
    )
    .ok();
    let mut show = ShowOptions {
        managed_fields: true,
        secrets: true,
        keyring: ring,
    };
    if let Some(r) = show.keyring.as_mut() {
        r.kms_keys.insert("p".into(), vec![7; 32]);
    }
    let mut n = 0;
    let (label, obj, notes, err) =
        decode_stored(schema::builtin(), &show, b"/registry/secrets/a/b", data);
    n += label.len() + notes.len() + err.map_or(0, |e| e.len());
    if let Some(o) = obj {
        let o = served(o, 7, &show);
        n += render::kubectl_yaml(&o).len() + render::kubectl_json(&o).len();
    }
    n += cbor::to_json(data).map_or(0, |j| j.to_string().len());
    if let Ok(text) = std::str::from_utf8(data) {
        n += crypt::Keyring::from_config(text).map_or(0, |k| k.rules.len());
        n += schema::Schema::from_text(text).map_or(0, |s| s.types.len());
    }
    n
}

/// Run what `repair --salvage --replay-wal` does over `data` as a db, short
/// of writing a file.
pub fn repair(data: &[u8]) -> usize {
    crate::ops::repair::dry_run(data)
}

/// Parse `data` as a static-pod manifest and its lines as URLs, as
/// `doctor` does.
pub fn doctor(data: &[u8]) -> usize {
    let text = String::from_utf8_lossy(data);
    let mut n =
        crate::doctor::manifest::parse(std::path::Path::new("etcd.yaml"), &text).map_or(0, |m| {
            let mut flags = crate::doctor::manifest::Flags::parse(&m.command);
            flags.fill(&m.env_flags);
            flags.list("initial-cluster").len() + m.mounts.len() + 1
        });
    for line in text.lines().take(64) {
        n += usize::from(crate::doctor::manifest::parse_url(line).is_ok());
    }
    n
}
