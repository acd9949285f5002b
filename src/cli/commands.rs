//! One function per command: resolve the input, run the operation, render.

use super::{resolve, Failure};
use etcd_rescue::ops::render::{self, Format};
use etcd_rescue::ops::{check, exit};
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

pub fn bolt_pages(_path: &Path, _fmt: Format, _out: &mut dyn Write) -> Result<i32, Failure> {
    Err(Failure {
        code: 2,
        message: "not yet".into(),
    })
}

pub fn bolt_page(
    _path: &Path,
    _id: u64,
    _hex: Option<usize>,
    _fmt: Format,
    _out: &mut dyn Write,
) -> Result<i32, Failure> {
    Err(Failure {
        code: 2,
        message: "not yet".into(),
    })
}

pub fn bolt_buckets(_path: &Path, _fmt: Format, _out: &mut dyn Write) -> Result<i32, Failure> {
    Err(Failure {
        code: 2,
        message: "not yet".into(),
    })
}

pub fn bolt_keys(
    _path: &Path,
    _b: &str,
    _v: bool,
    _l: Option<usize>,
    _fmt: Format,
    _out: &mut dyn Write,
) -> Result<i32, Failure> {
    Err(Failure {
        code: 2,
        message: "not yet".into(),
    })
}

pub fn bolt_map(
    _path: &Path,
    _svg: &Path,
    _force: bool,
    _out: &mut dyn Write,
) -> Result<i32, Failure> {
    Err(Failure {
        code: 2,
        message: "not yet".into(),
    })
}
