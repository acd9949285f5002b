//! One function per command: resolve the input, run the operation, render.

use super::{resolve, Failure};
use etcd_rescue::bolt::walk::PageRole;
use etcd_rescue::ops::open::OpenDb;
use etcd_rescue::ops::render::{self, Format};
use etcd_rescue::ops::write::{ensure_room, on_disk, stage_new_file_with};
use etcd_rescue::ops::{bolt_views, check, exit, map};
use std::io::Write;
use std::path::Path;

pub fn check(
    path: &Path,
    version: Option<etcd_rescue::etcd::lines::EtcdVersion>,
    fmt: Format,
    out: &mut dyn Write,
) -> Result<i32, Failure> {
    let input = resolve(path)?;
    let report = check::check_as(&input, version)?;
    match fmt {
        Format::Json => render::json(out, &report)?,
        Format::Text => check::render_text(&report, out)?,
    }
    if !report.ok {
        eprintln!(
            "etcd-rescue: damage: {} has error findings (listed in the report)",
            path.display()
        );
    }
    Ok(if report.ok { exit::OK } else { exit::FINDINGS })
}

pub fn inspect(path: &Path, fmt: Format, out: &mut dyn Write) -> Result<i32, Failure> {
    let input = resolve(path)?;
    let report = etcd_rescue::ops::inspect::inspect(&input)?;
    match fmt {
        Format::Json => render::json(out, &report)?,
        Format::Text => etcd_rescue::ops::inspect::render_text(&report, out)?,
    }
    // The same verdict as `check`: errors found on the way are damage met.
    if report.check.errors > 0 {
        eprintln!(
            "etcd-rescue: damage: check found {} errors; run `etcd-rescue check {}` for each",
            report.check.errors,
            path.display()
        );
        return Ok(exit::FINDINGS);
    }
    Ok(exit::OK)
}

pub fn diff(
    a: &Path,
    b: &Path,
    merge_walk: bool,
    fmt: Format,
    out: &mut dyn Write,
) -> Result<i32, Failure> {
    let opts = etcd_rescue::ops::diff::DiffOptions { merge_walk };
    let r = etcd_rescue::ops::diff::diff_with(&resolve(a)?, &resolve(b)?, opts)?;
    // File-level damage of either copy (metas, length, root, freelist) is
    // said on stderr and makes the answer one met with damage.
    let mut damaged = exit::OK;
    for p in [a, b] {
        let o = super::keyspace_commands::open(p)?;
        let bf = super::keyspace_commands::bolt(&o)?;
        damaged = damaged.max(super::keyspace_commands::file_notes(&o, &bf)?.report());
    }
    match fmt {
        Format::Json => render::json(out, &r)?,
        Format::Text => etcd_rescue::ops::diff::render_text(&r, out)?,
    }
    if !r.damage.is_empty() {
        eprintln!(
            "etcd-rescue: damaged input: {} unreadable parts not compared",
            r.damage.len()
        );
    }
    Ok(if r.identical { damaged } else { exit::FINDINGS })
}

fn open_db(path: &Path) -> Result<OpenDb, Failure> {
    Ok(OpenDb::open(&resolve(path)?)?)
}

/// The file-level damage of a db (metas, length, root tree, freelist),
/// printed on stderr; the exit code it calls for.
fn file_damage(db: &OpenDb) -> Result<i32, Failure> {
    let b = db.bolt()?;
    match etcd_rescue::ops::damage::file_notes(&b, &db.name()) {
        Ok(n) => Ok(n.report()),
        Err(e) => {
            eprintln!("etcd-rescue: damage: {e}");
            Ok(exit::FINDINGS)
        }
    }
}

pub fn bolt_pages(path: &Path, fmt: Format, out: &mut dyn Write) -> Result<i32, Failure> {
    let db = open_db(path)?;
    let t = bolt_views::page_table(&db)?;
    match fmt {
        Format::Json => render::json(out, &t)?,
        Format::Text => bolt_views::render_page_table(&t, out)?,
    }
    let damaged = t
        .pages
        .iter()
        .any(|p| matches!(p.state, PageRole::Damaged | PageRole::Unreachable));
    let file = file_damage(&db)?;
    Ok(if damaged { exit::FINDINGS } else { file })
}

pub fn bolt_page(
    path: &Path,
    id: u64,
    hex: Option<usize>,
    fmt: Format,
    out: &mut dyn Write,
) -> Result<i32, Failure> {
    let db = open_db(path)?;
    let v = bolt_views::page_view(&db, id, hex)?;
    match fmt {
        Format::Json => render::json(out, &v)?,
        Format::Text => bolt_views::render_page(&v, out)?,
    }
    let file = file_damage(&db)?;
    Ok(
        if v.problems.is_empty() && v.elements.iter().all(|e| e.error.is_none()) {
            file
        } else {
            exit::FINDINGS
        },
    )
}

pub fn bolt_buckets(path: &Path, fmt: Format, out: &mut dyn Write) -> Result<i32, Failure> {
    let db = open_db(path)?;
    let (b, _) = bolt_views::bucket_list(&db)?;
    match fmt {
        Format::Json => render::json(out, &b)?,
        Format::Text => bolt_views::render_buckets(&b, out)?,
    }
    let file = file_damage(&db)?;
    Ok(if b.buckets.iter().any(|s| s.errors > 0) {
        exit::FINDINGS
    } else {
        file
    })
}

pub fn bolt_keys(
    path: &Path,
    bucket: &str,
    values: bool,
    limit: Option<usize>,
    fmt: Format,
    out: &mut dyn Write,
) -> Result<i32, Failure> {
    let db = open_db(path)?;
    let rows = bolt_views::bucket_keys(&db, bucket, values, limit)?;
    match fmt {
        Format::Json => render::json(out, &rows)?,
        Format::Text => bolt_views::render_keys(&rows, out)?,
    }
    let damaged = rows
        .iter()
        .any(|r| matches!(r, bolt_views::KeyRow::Damage { .. }));
    let file = file_damage(&db)?;
    Ok(if damaged { exit::FINDINGS } else { file })
}

pub fn bolt_map(
    path: &Path,
    svg: Option<&Path>,
    html: Option<&Path>,
    force: bool,
    out: &mut dyn Write,
) -> Result<i32, Failure> {
    let db = open_db(path)?;
    let c = etcd_rescue::ops::check::check_db_mapped(&db)?;
    let name = db.name();
    let bolt = db.bolt()?;
    let m = map::build(&bolt, &name, &c);
    // Both pictures are written under temp names before either is renamed
    // to its own, each refused up front when its file system has no room.
    let mut staged = Vec::new();
    for (dest, what) in [(svg, "SVG"), (html, "HTML")] {
        let Some(dest) = dest else { continue };
        let picture = if what == "SVG" {
            etcd_rescue::ops::map_svg::svg(&m, true)
        } else {
            etcd_rescue::ops::map_html::html(&bolt, &m)
        };
        let (s, ()) = stage_new_file_with(dest, force, |f| {
            ensure_room(dest, on_disk(picture.len() as u64))?;
            f.write_all(picture.as_bytes())
        })?;
        staged.push((s, dest, what));
    }
    for (s, dest, what) in staged {
        s.commit()?;
        writeln!(
            out,
            "wrote {} ({what}): {} pages ({} damaged, {} cut off, {} missing, {} orphaned, {} unreachable, {} free)",
            dest.display(),
            m.total(),
            m.count(map::State::Damaged),
            m.count(map::State::CutOff),
            m.count(map::State::Missing),
            m.count(map::State::Orphaned),
            m.count(map::State::Unreachable),
            m.count(map::State::Free),
        )?;
    }
    let errors = c.findings.count(etcd_rescue::findings::Severity::Error);
    for line in m.summary() {
        writeln!(out, "damage: {line}")?;
    }
    if errors > 0 {
        eprintln!(
            "etcd-rescue: damage: check found {errors} errors in {name}; the map shows where"
        );
    }
    Ok(if errors > 0 { exit::FINDINGS } else { exit::OK })
}

pub fn repair(
    path: &Path,
    dest: &Path,
    force: bool,
    report_path: Option<&Path>,
    opts: etcd_rescue::ops::repair::RepairOptions,
    out: &mut dyn Write,
) -> Result<i32, Failure> {
    let input = resolve(path)?;
    if report_path.is_some_and(|p| p.exists()) && !force {
        return Err(etcd_rescue::ops::write::WriteError::Exists(
            report_path.unwrap_or(dest).to_path_buf(),
        )
        .into());
    }
    let report =
        etcd_rescue::ops::repair::repair(&input, dest, force, opts, report_path).map_err(|e| {
            Failure {
                code: exit::UNUSABLE,
                message: e.to_string(),
            }
        })?;
    etcd_rescue::ops::repair::render_text(&report, out)?;
    if !report.complete {
        eprintln!(
            "etcd-rescue: damage: not everything could be recovered from {} (the report says what was lost)",
            path.display()
        );
    }
    Ok(if report.complete {
        exit::OK
    } else {
        exit::FINDINGS
    })
}

pub fn status(path: &Path, fmt: super::EtcdFormat, out: &mut dyn Write) -> Result<i32, Failure> {
    use etcd_rescue::ops::endpoint;
    let input = resolve(path)?;
    let report = check::check(&input)?;
    let db = OpenDb::open(&input)?;
    let e = endpoint::status(&input, &db, &report);
    match fmt {
        super::EtcdFormat::Json => {
            serde_json::to_writer(&mut *out, &[&e]).map_err(std::io::Error::other)?;
            writeln!(out)?;
        }
        super::EtcdFormat::Table => {
            let (h, row) = endpoint::table_row(&e);
            render::table_dyn(out, &h, &[row])?;
        }
        super::EtcdFormat::Simple => {
            let (_, row) = endpoint::table_row(&e);
            writeln!(out, "{}", row.join(", "))?;
        }
    }
    let line = endpoint::health_line(&e);
    if e.health.health {
        eprintln!("{line}");
        Ok(exit::OK)
    } else {
        eprintln!("etcd-rescue: {line}");
        Ok(exit::FINDINGS)
    }
}
