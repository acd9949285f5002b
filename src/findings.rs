//! Findings: what a check found, as data. Readers return typed errors; the
//! checks turn them into [`Finding`]s, and the CLI renders them.
#![forbid(unsafe_code)]

use serde::Serialize;

/// How bad a finding is. Only `Error` makes a check fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One located observation about an input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// A stable, dotted identifier such as `bolt.page.multiple-references`.
    pub code: &'static str,
    pub message: String,
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u64>,
}

impl Finding {
    pub fn new(severity: Severity, code: &'static str, file: &str, message: String) -> Finding {
        Finding {
            severity,
            code,
            message,
            file: file.to_string(),
            offset: None,
            page: None,
        }
    }

    pub fn error(code: &'static str, file: &str, message: String) -> Finding {
        Finding::new(Severity::Error, code, file, message)
    }

    pub fn warning(code: &'static str, file: &str, message: String) -> Finding {
        Finding::new(Severity::Warning, code, file, message)
    }

    pub fn info(code: &'static str, file: &str, message: String) -> Finding {
        Finding::new(Severity::Info, code, file, message)
    }

    pub fn at_offset(mut self, offset: u64) -> Finding {
        self.offset = Some(offset);
        self
    }

    /// Locate at a page; the offset is the page's file offset.
    pub fn at_page(mut self, page: u64, page_size: usize) -> Finding {
        self.page = Some(page);
        if self.offset.is_none() {
            self.offset = Some(page.saturating_mul(page_size as u64));
        }
        self
    }
}

/// A list of findings with a cap on how many of one code are kept, so that a
/// file damaged everywhere still gives a readable report.
#[derive(Debug, Default, Clone)]
pub struct Findings {
    items: Vec<Finding>,
    suppressed: std::collections::BTreeMap<&'static str, (Severity, u64)>,
    per_code: std::collections::HashMap<&'static str, u64>,
}

/// How many findings of one code are kept before the rest are counted only.
pub const PER_CODE_LIMIT: u64 = 200;

impl Findings {
    pub fn push(&mut self, f: Finding) {
        let n = self.per_code.entry(f.code).or_insert(0);
        *n += 1;
        if *n > PER_CODE_LIMIT {
            let e = self.suppressed.entry(f.code).or_insert((f.severity, 0));
            e.0 = e.0.max(f.severity);
            e.1 += 1;
        } else {
            self.items.push(f);
        }
    }

    pub fn extend(&mut self, it: impl IntoIterator<Item = Finding>) {
        for f in it {
            self.push(f);
        }
    }

    /// The first kept error finding whose code is in `codes`, or a
    /// stand-in naming a code whose findings were all capped.
    pub fn first_error_of(&self, codes: &[&str]) -> Option<Finding> {
        self.items
            .iter()
            .find(|f| f.severity == Severity::Error && codes.contains(&f.code))
            .cloned()
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|f| f.severity == Severity::Error)
            || self.suppressed.values().any(|(s, _)| *s == Severity::Error)
    }

    pub fn count(&self, severity: Severity) -> u64 {
        let kept = self.items.iter().filter(|f| f.severity == severity).count() as u64;
        let more: u64 = self
            .suppressed
            .values()
            .filter(|(s, _)| *s == severity)
            .map(|(_, n)| n)
            .sum();
        kept + more
    }

    /// The kept findings, most severe first, then by page and offset, plus
    /// one summary finding per code whose findings were capped.
    pub fn into_sorted(self, file: &str) -> Vec<Finding> {
        let mut items = self.items;
        for (code, (sev, n)) in self.suppressed {
            items.push(Finding::new(
                sev,
                code,
                file,
                format!("{n} more findings of this kind were not listed (limit {PER_CODE_LIMIT})"),
            ));
        }
        items.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.file.cmp(&b.file))
                .then(a.page.cmp(&b.page))
                .then(a.offset.cmp(&b.offset))
        });
        items
    }

    pub fn items(&self) -> &[Finding] {
        &self.items
    }
}

/// Render bytes for a message: printable ASCII as is, otherwise hex.
pub fn show_bytes(b: &[u8]) -> String {
    const MAX: usize = 64;
    let cut = &b[..b.len().min(MAX)];
    let more = if b.len() > MAX { "…" } else { "" };
    if !cut.is_empty() && cut.iter().all(|c| (0x20..0x7f).contains(c)) {
        format!("{:?}{more}", String::from_utf8_lossy(cut))
    } else {
        let hex: String = cut.iter().map(|c| format!("{c:02x}")).collect();
        format!("0x{hex}{more}")
    }
}

impl Finding {
    /// Attach a page without changing the offset.
    pub fn with_page(mut self, page: u64) -> Finding {
        self.page = Some(page);
        self
    }
}
