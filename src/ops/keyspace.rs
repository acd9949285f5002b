//! `get` and `history`: the keyspace read offline, printed the way etcdctl
//! prints it (`-w simple|json|fields|protobuf|table`), streaming where the
//! request allows.

use super::header::Header;
use crate::etcd::kv::KeyValue;
use crate::etcd::records::b64;
use crate::mvcc::range::{range_stream, read_revision, RangeRequest, RangeSummary, StreamError};
use crate::mvcc::KeyIndex;
use serde::Serialize;
use std::io::Write;

/// etcdctl's output formats for `get`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GetFormat {
    Simple,
    Json,
    Fields,
    Protobuf,
    Table,
}

/// Options of the printers.
#[derive(Debug, Clone, Copy, Default)]
pub struct PrintOptions {
    pub print_value_only: bool,
    pub hex: bool,
}

/// Go's `%q` for a byte string (strconv.Quote): printable runes as they
/// are, the usual escapes, `\xNN` for bytes that are not UTF-8.
pub fn go_quote(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() + 2);
    s.push('"');
    let mut rest = b;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(text) => {
                push_escaped(&mut s, text);
                break;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                push_escaped(&mut s, std::str::from_utf8(good).unwrap_or_default());
                let n = e.error_len().unwrap_or(bad.len()).max(1);
                for c in &bad[..n] {
                    s.push_str(&format!("\\x{c:02x}"));
                }
                rest = &bad[n..];
            }
        }
    }
    s.push('"');
    s
}

fn push_escaped(s: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\u{7}' => s.push_str("\\a"),
            '\u{8}' => s.push_str("\\b"),
            '\u{c}' => s.push_str("\\f"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            '\u{b}' => s.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                s.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => {
                if (c as u32) < 0x10000 {
                    s.push_str(&format!("\\u{:04x}", c as u32))
                } else {
                    s.push_str(&format!("\\U{:08x}", c as u32))
                }
            }
            c => s.push(c),
        }
    }
}

/// A key value as etcdctl's JSON shows it (Go `omitempty` on every field).
#[derive(Serialize)]
struct JsonKv {
    #[serde(skip_serializing_if = "String::is_empty")]
    key: String,
    #[serde(skip_serializing_if = "super::header::is_zero_i64")]
    create_revision: i64,
    #[serde(skip_serializing_if = "super::header::is_zero_i64")]
    mod_revision: i64,
    #[serde(skip_serializing_if = "super::header::is_zero_i64")]
    version: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    value: String,
    #[serde(skip_serializing_if = "super::header::is_zero_i64")]
    lease: i64,
}

impl From<&KeyValue<'_>> for JsonKv {
    fn from(kv: &KeyValue<'_>) -> JsonKv {
        JsonKv {
            key: b64::encode(kv.key),
            create_revision: kv.create_revision,
            mod_revision: kv.mod_revision,
            version: kv.version,
            value: b64::encode(kv.value),
            lease: kv.lease,
        }
    }
}

fn show(b: &[u8], hex: bool) -> String {
    if hex {
        b.iter().map(|c| format!("\\x{c:02x}")).collect()
    } else {
        String::from_utf8_lossy(b).into_owned()
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_len(out: &mut Vec<u8>, field: u64, b: &[u8]) {
    put_varint(out, (field << 3) | 2);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_num(out: &mut Vec<u8>, field: u64, v: u64) {
    if v != 0 {
        put_varint(out, field << 3);
        put_varint(out, v);
    }
}

fn header_proto(h: &Header) -> Vec<u8> {
    let mut b = Vec::new();
    put_num(&mut b, 1, h.cluster_id);
    put_num(&mut b, 2, h.member_id);
    put_num(&mut b, 3, h.revision as u64);
    put_num(&mut b, 4, h.raft_term);
    b
}

/// Run `req` and print it in `format`. Returns the range figures. A request
/// etcd would refuse prints nothing (as etcdctl prints nothing on stdout).
pub fn print_get(
    index: &KeyIndex<'_>,
    req: &RangeRequest,
    header: Header,
    format: GetFormat,
    opts: PrintOptions,
    out: &mut dyn Write,
) -> Result<RangeSummary, StreamError> {
    read_revision(index, req)?;
    match format {
        GetFormat::Simple => {
            // etcdctl prints keys and values as raw bytes (binary values
            // included), each followed by a newline.
            let raw = |b: &[u8], out: &mut dyn Write| -> std::io::Result<()> {
                if opts.hex {
                    writeln!(out, "{}", show(b, true))
                } else {
                    out.write_all(b)?;
                    out.write_all(b"\n")
                }
            };
            let s = range_stream(index, req, &mut |kv| {
                if !opts.print_value_only {
                    raw(kv.key, out)?;
                }
                raw(kv.value, out)
            })?;
            if req.count_only {
                writeln!(out, "{}", s.count)?;
            }
            Ok(s)
        }
        GetFormat::Json => {
            write!(
                out,
                "{{\"header\":{}",
                serde_json::to_string(&header).map_err(std::io::Error::other)?
            )?;
            let mut first = true;
            let s = range_stream(index, req, &mut |kv| {
                out.write_all(if first { b",\"kvs\":[" } else { b"," })?;
                first = false;
                serde_json::to_writer(&mut *out, &JsonKv::from(&kv)).map_err(std::io::Error::other)
            })?;
            if !first {
                out.write_all(b"]")?;
            }
            if s.more {
                out.write_all(b",\"more\":true")?;
            }
            if s.count != 0 {
                write!(out, ",\"count\":{}", s.count)?;
            }
            writeln!(out, "}}")?;
            Ok(s)
        }
        GetFormat::Fields => {
            writeln!(out, "\"ClusterID\" : {}", header.cluster_id)?;
            writeln!(out, "\"MemberID\" : {}", header.member_id)?;
            writeln!(out, "\"Revision\" : {}", header.revision)?;
            writeln!(out, "\"RaftTerm\" : {}", header.raft_term)?;
            let s = range_stream(index, req, &mut |kv| {
                writeln!(out, "\"Key\" : {}", go_quote(kv.key))?;
                writeln!(out, "\"CreateRevision\" : {}", kv.create_revision)?;
                writeln!(out, "\"ModRevision\" : {}", kv.mod_revision)?;
                writeln!(out, "\"Version\" : {}", kv.version)?;
                writeln!(out, "\"Value\" : {}", go_quote(kv.value))?;
                writeln!(out, "\"Lease\" : {}", kv.lease)
            })?;
            writeln!(out, "\"More\" : {}", s.more)?;
            writeln!(out, "\"Count\" : {}", s.count)?;
            Ok(s)
        }
        GetFormat::Protobuf => {
            let mut b = Vec::new();
            put_len(&mut b, 1, &header_proto(&header));
            out.write_all(&b)?;
            let s = range_stream(index, req, &mut |kv| {
                let mut m = Vec::new();
                put_len(&mut m, 2, &kv.encode());
                out.write_all(&m)
            })?;
            let mut t = Vec::new();
            if s.more {
                put_num(&mut t, 3, 1);
            }
            put_num(&mut t, 4, s.count as u64);
            out.write_all(&t)?;
            Ok(s)
        }
        GetFormat::Table => {
            let mut rows: Vec<[String; 6]> = Vec::new();
            let s = range_stream(index, req, &mut |kv| {
                rows.push([
                    show(kv.key, opts.hex),
                    kv.create_revision.to_string(),
                    kv.mod_revision.to_string(),
                    kv.version.to_string(),
                    if kv.lease == 0 {
                        String::new()
                    } else {
                        format!("{:x}", kv.lease)
                    },
                    show(kv.value, opts.hex),
                ]);
                Ok(())
            })?;
            super::render::table(
                out,
                &[
                    "KEY",
                    "CREATE REVISION",
                    "MOD REVISION",
                    "VERSION",
                    "LEASE",
                    "VALUE",
                ],
                &rows,
            )?;
            // The figures go to stderr: stdout is the table alone.
            eprintln!(
                "{} keys at revision {}{}",
                s.count,
                s.read_revision,
                if s.more { " (more)" } else { "" }
            );
            Ok(s)
        }
    }
}

/// One stored revision of a key, for `history`.
#[derive(Debug, Serialize)]
pub struct HistoryRow {
    #[serde(with = "b64_ser")]
    pub key: Vec<u8>,
    pub key_text: String,
    pub revision: String,
    pub main: i64,
    pub sub: i64,
    pub kind: &'static str,
    pub create_revision: i64,
    pub mod_revision: i64,
    pub version: i64,
    pub lease: i64,
    pub value_size: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

mod b64_ser {
    pub fn serialize<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        crate::etcd::records::b64::serialize(b, s)
    }
}

/// Every stored revision of the keys `req` selects, tombstones included.
pub fn history(index: &KeyIndex<'_>, req: &RangeRequest, values: bool) -> Vec<HistoryRow> {
    let start = index.lower_bound(&req.key);
    let mut rows = Vec::new();
    for h in &index.keys[start..] {
        let inside = if req.range_end.is_empty() {
            h.key == req.key.as_slice()
        } else {
            req.range_end == [0] || h.key < req.range_end.as_slice()
        };
        if !inside {
            break;
        }
        for e in &h.revs {
            let kv = index.value_of(e).unwrap_or_default();
            rows.push(HistoryRow {
                key: h.key.to_vec(),
                key_text: String::from_utf8_lossy(h.key).into_owned(),
                revision: e.revision().to_string(),
                main: e.main,
                sub: e.sub(),
                kind: if e.is_tombstone() { "delete" } else { "put" },
                create_revision: kv.create_revision,
                mod_revision: if e.is_tombstone() {
                    e.main
                } else {
                    kv.mod_revision
                },
                version: kv.version,
                lease: kv.lease,
                value_size: kv.value.len(),
                value: (values && !e.is_tombstone())
                    .then(|| String::from_utf8_lossy(kv.value).into_owned()),
            });
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::go_quote;

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote(b"foo"), "\"foo\"");
        assert_eq!(go_quote(b"a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(go_quote("ünï".as_bytes()), "\"ünï\"");
        assert_eq!(go_quote(&[0xff, b'a', 0]), "\"\\xffa\\x00\"");
    }
}
