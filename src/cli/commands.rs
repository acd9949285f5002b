//! One function per command: resolve the input, run the operation, render.

use super::{resolve, Failure};
use etcd_rescue::bolt::walk::PageRole;
use etcd_rescue::ops::open::OpenDb;
use etcd_rescue::ops::render::{self, Format};
use etcd_rescue::ops::write::write_new_file;
use etcd_rescue::ops::{bolt_views, check, exit, map};
use std::io::Write;
use std::path::Path;

pub fn check(path: &Path, fmt: Format, out: &mut dyn Write) -> Result<i32, Failure> {
    let input = resolve(path)?;
    let report = check::check(&input)?;
    match fmt {
        Format::Json => render::json(out, &report)?,
        Format::Text => check::render_text(&report, out)?,
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
    Ok(exit::OK)
}

pub fn diff(a: &Path, b: &Path, fmt: Format, out: &mut dyn Write) -> Result<i32, Failure> {
    let r = etcd_rescue::ops::diff::diff(&resolve(a)?, &resolve(b)?)?;
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
    Ok(if r.identical {
        exit::OK
    } else {
        exit::FINDINGS
    })
}

fn open_db(path: &Path) -> Result<OpenDb, Failure> {
    Ok(OpenDb::open(&resolve(path)?)?)
}

pub fn bolt_pages(path: &Path, fmt: Format, out: &mut dyn Write) -> Result<i32, Failure> {
    let t = bolt_views::page_table(&open_db(path)?)?;
    match fmt {
        Format::Json => render::json(out, &t)?,
        Format::Text => bolt_views::render_page_table(&t, out)?,
    }
    let damaged = t
        .pages
        .iter()
        .any(|p| matches!(p.state, PageRole::Damaged | PageRole::Unreachable));
    Ok(if damaged { exit::FINDINGS } else { exit::OK })
}

pub fn bolt_page(
    path: &Path,
    id: u64,
    hex: Option<usize>,
    fmt: Format,
    out: &mut dyn Write,
) -> Result<i32, Failure> {
    let v = bolt_views::page_view(&open_db(path)?, id, hex)?;
    match fmt {
        Format::Json => render::json(out, &v)?,
        Format::Text => bolt_views::render_page(&v, out)?,
    }
    Ok(
        if v.problems.is_empty() && v.elements.iter().all(|e| e.error.is_none()) {
            exit::OK
        } else {
            exit::FINDINGS
        },
    )
}

pub fn bolt_buckets(path: &Path, fmt: Format, out: &mut dyn Write) -> Result<i32, Failure> {
    let (b, _) = bolt_views::bucket_list(&open_db(path)?)?;
    match fmt {
        Format::Json => render::json(out, &b)?,
        Format::Text => bolt_views::render_buckets(&b, out)?,
    }
    Ok(if b.buckets.iter().any(|s| s.errors > 0) {
        exit::FINDINGS
    } else {
        exit::OK
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
    let rows = bolt_views::bucket_keys(&open_db(path)?, bucket, values, limit)?;
    match fmt {
        Format::Json => render::json(out, &rows)?,
        Format::Text => bolt_views::render_keys(&rows, out)?,
    }
    let damaged = rows
        .iter()
        .any(|r| matches!(r, bolt_views::KeyRow::Damage { .. }));
    Ok(if damaged { exit::FINDINGS } else { exit::OK })
}

pub fn bolt_map(path: &Path, svg: &Path, force: bool, out: &mut dyn Write) -> Result<i32, Failure> {
    let db = open_db(path)?;
    let c = etcd_rescue::ops::check::check_db(&db)?;
    let name = db.name();
    let s = &c.summary;
    let title = map::MapTitle {
        file: &name,
        page_size: s.page_size,
        high_water_mark: s.high_water_mark,
        file_size: s.file_size,
    };
    let picture = map::svg(&c.roles, &title);
    write_new_file(svg, picture.as_bytes(), force)?;
    let errors = c.findings.count(etcd_rescue::findings::Severity::Error);
    writeln!(
        out,
        "wrote {}: {} pages ({} damaged, {} unreachable, {} free); check found {errors} errors",
        svg.display(),
        c.roles.len(),
        s.pages.damaged,
        s.pages.unreachable,
        s.pages.free
    )?;
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
        etcd_rescue::ops::repair::repair(&input, dest, force, opts).map_err(|e| Failure {
            code: exit::UNUSABLE,
            message: e.to_string(),
        })?;
    etcd_rescue::ops::repair::render_text(&report, out)?;
    if let Some(p) = report_path {
        let json = serde_json::to_vec_pretty(&report).map_err(std::io::Error::other)?;
        etcd_rescue::ops::write::write_new_file(p, &json, true)?;
    }
    Ok(if report.complete {
        exit::OK
    } else {
        exit::FINDINGS
    })
}
