//! Output formats and the text rendering of findings. `-o` and `-w` name the
//! format everywhere (kubectl users type `-o`, etcdctl users `-w`).

use crate::findings::{Finding, Severity};
use serde::Serialize;
use std::io::Write;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For programs.
    Json,
}

/// Print a serializable report as pretty JSON.
pub fn json<T: Serialize>(out: &mut dyn Write, v: &T) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, v).map_err(std::io::Error::other)?;
    writeln!(out)
}

/// One finding as a text line.
pub fn finding_line(f: &Finding) -> String {
    let mut loc = Vec::new();
    if let Some(p) = f.page {
        loc.push(format!("page {p}"));
    }
    if let Some(o) = f.offset {
        loc.push(format!("offset {o}"));
    }
    let loc = if loc.is_empty() {
        String::new()
    } else {
        format!(" [{}]", loc.join(", "))
    };
    let sev = match f.severity {
        Severity::Error => "ERROR",
        Severity::Warning => "WARN ",
        Severity::Info => "info ",
    };
    format!("{sev} {}{loc}: {}", f.code, f.message)
}

/// Human-readable byte counts (etcdctl's style: kB, MB, GB with 1000s).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A boxed table in the style etcdctl's table printer uses.
pub fn table(out: &mut dyn Write, headers: &[&str], rows: &[[String; 6]]) -> std::io::Result<()> {
    table_dyn(
        out,
        headers,
        &rows.iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
    )
}

/// The width of each column: its widest cell or header, in characters.
fn column_widths(headers: &[&str], rows: &[Vec<String>]) -> Vec<usize> {
    let mut w: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(x) = w.get_mut(i) {
                *x = (*x).max(c.chars().count());
            }
        }
    }
    w
}

/// A boxed table with any number of columns.
pub fn table_dyn(
    out: &mut dyn Write,
    headers: &[&str],
    rows: &[Vec<String>],
) -> std::io::Result<()> {
    let w = column_widths(headers, rows);
    let line = w
        .iter()
        .map(|n| "-".repeat(n + 2))
        .collect::<Vec<_>>()
        .join("+");
    writeln!(out, "+{line}+")?;
    let cells: Vec<String> = headers
        .iter()
        .zip(&w)
        .map(|(h, n)| {
            let pad = n - h.chars().count();
            format!(
                " {}{}{} ",
                " ".repeat(pad / 2),
                h,
                " ".repeat(pad - pad / 2)
            )
        })
        .collect();
    writeln!(out, "|{}|", cells.join("|"))?;
    writeln!(out, "+{line}+")?;
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&w)
            .map(|(c, n)| format!(" {}{} ", c, " ".repeat(n - c.chars().count())))
            .collect();
        writeln!(out, "|{}|", cells.join("|"))?;
    }
    writeln!(out, "+{line}+")
}

/// The tablewriter styles etcd's tools print with: 3.4-3.6 (tablewriter
/// 0.0.5, ASCII borders) and 3.7 (tablewriter 1.x, box-drawing borders).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableStyle {
    Ascii,
    Boxed,
}

/// A table with centred headers and right-aligned cells (etcdutl's
/// `snapshot status` and `hashkv` tables).
pub fn table_right(
    out: &mut dyn Write,
    style: TableStyle,
    headers: &[&str],
    rows: &[Vec<String>],
) -> std::io::Result<()> {
    let w = column_widths(headers, rows);
    let (h, v) = match style {
        TableStyle::Ascii => ("-", "|"),
        TableStyle::Boxed => ("─", "│"),
    };
    let rule = |l: &str, m: &str, r: &str| -> String {
        let seg: Vec<String> = w.iter().map(|n| h.repeat(n + 2)).collect();
        format!("{l}{}{r}", seg.join(m))
    };
    let (top, mid, bottom) = match style {
        TableStyle::Ascii => (
            rule("+", "+", "+"),
            rule("+", "+", "+"),
            rule("+", "+", "+"),
        ),
        TableStyle::Boxed => (
            rule("┌", "┬", "┐"),
            rule("├", "┼", "┤"),
            rule("└", "┴", "┘"),
        ),
    };
    writeln!(out, "{top}")?;
    let cells: Vec<String> = headers
        .iter()
        .zip(&w)
        .map(|(t, n)| {
            let pad = n - t.chars().count();
            format!(" {}{t}{} ", " ".repeat(pad / 2), " ".repeat(pad - pad / 2))
        })
        .collect();
    writeln!(out, "{v}{}{v}", cells.join(v))?;
    writeln!(out, "{mid}")?;
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&w)
            .map(|(c, n)| format!(" {}{c} ", " ".repeat(n - c.chars().count())))
            .collect();
        writeln!(out, "{v}{}{v}", cells.join(v))?;
    }
    writeln!(out, "{bottom}")
}
