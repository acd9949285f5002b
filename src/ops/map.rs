//! `bolt map`: what the picture of a file shows. Each page gets one state
//! from the check's walk, refined so that damage is never drawn like health:
//! pages below the high-water mark that the file no longer holds are
//! *missing*; intact pages nothing reaches are *cut off* when their keys lie
//! in the range of a subtree the walk could not enter (what the damage took
//! off the tree), *orphaned* when they are not on a persisted freelist, and
//! free otherwise. The damaged places (each unreadable subtree, each damaged
//! page, the missing tail) are listed for the legend and the HTML page.
//! Rendering is in `map_svg` and `map_html`.

use crate::bolt::walk::{show_name, PageRole, NO_BUCKET};
use crate::bolt::BoltFile;
use crate::etcd::revision::RevisionKey;
use crate::ops::check::DbCheck;

/// More cells than this and pages are grouped, the worst state shown.
pub const MAX_CELLS: u64 = 1 << 18;

/// What a page is, as drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Meta,
    Branch,
    Leaf,
    Overflow,
    Freelist,
    Free,
    Orphaned,
    CutOff,
    Unreachable,
    Damaged,
    Missing,
    BeyondHwm,
    Unknown,
}

/// Legend order.
pub const STATES: [State; 13] = [
    State::Meta,
    State::Branch,
    State::Leaf,
    State::Overflow,
    State::Freelist,
    State::Free,
    State::Orphaned,
    State::CutOff,
    State::Unreachable,
    State::Damaged,
    State::Missing,
    State::BeyondHwm,
    State::Unknown,
];

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Meta => "meta",
            State::Branch => "branch",
            State::Leaf => "leaf",
            State::Overflow => "overflow",
            State::Freelist => "freelist",
            State::Free => "free",
            State::Orphaned => "orphaned",
            State::CutOff => "cut-off",
            State::Unreachable => "unreachable",
            State::Damaged => "damaged",
            State::Missing => "missing",
            State::BeyondHwm => "beyond-hwm",
            State::Unknown => "unknown",
        }
    }

    pub fn colour(self) -> &'static str {
        match self {
            State::Meta => "#8e44ad",
            State::Branch => "#2c6fbb",
            State::Leaf => "#2e9e4f",
            State::Overflow => "#a8dcb0",
            State::Freelist => "#f1c40f",
            State::Free => "#d9d9d9",
            State::Orphaned => "#9fa8da",
            State::CutOff => "#ff4fa3",
            State::Unreachable => "#f39c12",
            State::Damaged => "#e3000f",
            State::Missing => "#1b1b1b",
            State::BeyondHwm => "#ffffff",
            State::Unknown => "#707070",
        }
    }

    pub fn meaning(self) -> &'static str {
        match self {
            State::Meta => "meta page",
            State::Branch => "branch page (reachable)",
            State::Leaf => "leaf page (reachable)",
            State::Overflow => "overflow continuation of a reachable page",
            State::Freelist => "freelist page",
            State::Free => "free (on the freelist, or unreachable without one)",
            State::Orphaned => "intact page nothing reaches, not on the freelist",
            State::CutOff => "intact page whose keys lie in a damaged subtree's range: cut off by the damage (or an older copy)",
            State::Unreachable => "unreachable, not on the freelist, not an intact page",
            State::Damaged => "reachable but damaged (unreadable, or errors in it)",
            State::Missing => "below the high-water mark but past the end of the file: lost",
            State::BeyondHwm => "past the high-water mark (unused)",
            State::Unknown => "not classified",
        }
    }

    /// Damage: what the halo and the band mark.
    pub fn is_damage(self) -> bool {
        matches!(self, State::Damaged | State::Missing | State::CutOff)
    }

    /// Which state a grouped cell shows: the most alarming one.
    pub fn rank(self) -> u8 {
        match self {
            State::Damaged => 12,
            State::Missing => 11,
            State::CutOff => 10,
            State::Unreachable => 9,
            State::Orphaned => 8,
            State::Meta => 7,
            State::Freelist => 6,
            State::Branch => 5,
            State::Leaf => 4,
            State::Overflow => 3,
            State::Free => 2,
            State::BeyondHwm => 1,
            State::Unknown => 0,
        }
    }

    /// One letter per state, for the HTML page's cell string.
    pub fn letter(self) -> char {
        match STATES.iter().position(|s| *s == self) {
            Some(i) => (b'a' + i as u8) as char,
            None => 'z',
        }
    }
}

/// A place the damage is: an unreadable subtree, a damaged page, the
/// missing tail of the file.
#[derive(Debug, Clone)]
pub struct Place {
    /// The first page of the place (for links into the map).
    pub page: u64,
    pub pages: u64,
    pub state: State,
    pub bucket: String,
    /// What was found there.
    pub what: String,
    /// Intact pages cut off beneath it.
    pub cut_off: u64,
}

/// Keys of an intact node page: first, last, count.
#[derive(Debug, Clone)]
pub struct PageKeys {
    pub first: String,
    pub last: String,
    pub count: u16,
}

/// Everything the renderers draw.
pub struct PageMap {
    pub file: String,
    pub page_size: u32,
    pub high_water_mark: u64,
    pub file_size: u64,
    /// One state per page in the file.
    pub states: Vec<State>,
    /// Pages below the high-water mark past the end of the file.
    pub missing: u64,
    pub places: Vec<Place>,
    pub bucket_names: Vec<String>,
    pub page_bucket: Option<Vec<u16>>,
}

impl PageMap {
    /// Pages drawn: the file's, then the missing ones.
    pub fn total(&self) -> u64 {
        self.states.len() as u64 + self.missing
    }

    pub fn state(&self, page: u64) -> State {
        match self.states.get(page as usize) {
            Some(s) => *s,
            None if page < self.total() => State::Missing,
            None => State::Unknown,
        }
    }

    pub fn count(&self, s: State) -> u64 {
        let n = self.states.iter().filter(|x| **x == s).count() as u64;
        if s == State::Missing {
            n + self.missing
        } else {
            n
        }
    }

    /// Pages per cell.
    pub fn per_cell(&self) -> u64 {
        self.total().div_ceil(MAX_CELLS).max(1)
    }

    /// Cells of `per_cell` pages, each the worst state among its pages.
    pub fn cells(&self) -> Vec<State> {
        let per = self.per_cell();
        let n = self.total().div_ceil(per);
        (0..n)
            .map(|c| {
                let (a, b) = (c * per, ((c + 1) * per).min(self.total()));
                if a >= self.states.len() as u64 {
                    return State::Missing;
                }
                let mut worst = State::Unknown;
                for p in a..b {
                    let s = self.state(p);
                    if s.rank() > worst.rank() {
                        worst = s;
                    }
                }
                worst
            })
            .collect()
    }

    pub fn bucket_of(&self, page: u64) -> Option<&str> {
        let b = *self.page_bucket.as_ref()?.get(page as usize)?;
        if b == NO_BUCKET {
            return None;
        }
        self.bucket_names.get(b as usize).map(String::as_str)
    }

    /// The damage in one short line, None when there is none.
    pub fn headline(&self) -> Option<String> {
        let mut v = Vec::new();
        for (s, what) in [
            (State::Damaged, "damaged"),
            (State::CutOff, "cut off beneath the damage"),
            (State::Missing, "missing past the end of the file"),
            (State::Orphaned, "orphaned"),
            (State::Unreachable, "unreachable"),
        ] {
            let n = self.count(s);
            if n > 0 {
                let pct = 100.0 * n as f64 / self.total().max(1) as f64;
                let pct = if pct < 0.1 {
                    "< 0.1 %".to_string()
                } else {
                    format!("{pct:.1} %")
                };
                v.push(format!("{n} {what} ({pct})"));
            }
        }
        (!v.is_empty()).then(|| format!("DAMAGE: pages {}", v.join(", ")))
    }

    /// The damage summary: one line per kind of damage, empty when none.
    pub fn summary(&self) -> Vec<String> {
        let mut v = Vec::new();
        let damaged = self.count(State::Damaged);
        let cut = self.count(State::CutOff);
        if damaged > 0 {
            v.push(format!(
                "{damaged} damaged page(s) in {} place(s)",
                self.places
                    .iter()
                    .filter(|p| p.state == State::Damaged)
                    .count()
            ));
        }
        if cut > 0 {
            v.push(format!(
                "{cut} intact page(s) cut off beneath the damage (unreachable; `repair --salvage` reads them)"
            ));
        }
        if self.missing > 0 {
            v.push(format!(
                "{} page(s) missing: the file ends at byte {} but the high-water mark needs {} ({:.1} % of the pages)",
                self.missing,
                self.file_size,
                self.high_water_mark.saturating_mul(u64::from(self.page_size)),
                100.0 * self.missing as f64 / self.total().max(1) as f64
            ));
        }
        let unreachable = self.count(State::Unreachable) + self.count(State::Orphaned);
        if unreachable > 0 {
            v.push(format!(
                "{unreachable} page(s) neither reachable nor on the freelist"
            ));
        }
        v
    }
}

fn label(bucket: &str, key: &[u8]) -> String {
    let mut s = match RevisionKey::parse(key) {
        Ok(r) if bucket == "key" || bucket.is_empty() => format!("revision {r}"),
        _ => show_name(key),
    };
    if s.len() > 64 {
        let mut cut = 61;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// First and last key of an intact branch or leaf page.
fn node_keys<'a>(file: &BoltFile<'a>, id: u64, hwm: u64) -> Option<(&'a [u8], &'a [u8], u16)> {
    let h = file.header(id)?;
    if h.id != id || h.is_zero() {
        return None;
    }
    let node = file.node(id, hwm.max(file.file_pages())).ok()?;
    node.check_array().ok()?;
    let n = node.count();
    let key = |i: u16| match node.header.kind() {
        crate::bolt::page::PageKind::Branch => node.branch(i).ok().map(|b| b.key),
        crate::bolt::page::PageKind::Leaf => node.leaf(i).ok().map(|l| l.key),
        _ => None,
    };
    let first = key(0)?;
    let last = key(n.checked_sub(1)?)?;
    Some((first, last, n))
}

/// A lost range, for matching orphaned pages to it.
struct Range<'c> {
    place: usize,
    revision_keys: bool,
    lower: Option<&'c [u8]>,
    upper: Option<&'c [u8]>,
}

impl Range<'_> {
    fn holds(&self, first: &[u8], last: &[u8]) -> bool {
        if self.revision_keys
            && (RevisionKey::parse(first).is_err() || RevisionKey::parse(last).is_err())
        {
            return false;
        }
        self.lower.is_none_or(|l| first >= l) && self.upper.is_none_or(|u| last < u)
    }
}

/// The map of a checked file.
pub fn build(file: &BoltFile<'_>, name: &str, c: &DbCheck) -> PageMap {
    let hwm = c.summary.high_water_mark;
    let file_pages = c.roles.len() as u64;
    let missing = hwm.saturating_sub(file_pages).min(1 << 40);
    let ps = u64::from(c.summary.page_size).max(1);
    let io_error = |page: u64| {
        c.unreadable
            .iter()
            .find(|&&(a, b)| page * ps < b && (page + 1) * ps > a)
            .copied()
    };
    let mut states: Vec<State> = c
        .roles
        .iter()
        .map(|r| match r {
            PageRole::Meta => State::Meta,
            PageRole::Branch => State::Branch,
            PageRole::Leaf => State::Leaf,
            PageRole::Overflow => State::Overflow,
            PageRole::Freelist => State::Freelist,
            PageRole::Free => State::Free,
            PageRole::Unreachable => State::Unreachable,
            PageRole::Damaged => State::Damaged,
            PageRole::BeyondHwm => State::BeyondHwm,
            PageRole::Unknown => State::Unknown,
        })
        .collect();
    let message = |page: u64| {
        c.findings
            .items()
            .iter()
            .find(|f| f.page == Some(page) && f.severity == crate::findings::Severity::Error)
            .map(|f| f.message.clone())
    };
    let mut places = Vec::new();
    let mut ranges = Vec::new();
    for l in &c.lost {
        let bucket = c.bucket_names.get(l.bucket).cloned().unwrap_or_default();
        let state = if l.page >= file_pages && l.page < hwm {
            State::Missing
        } else {
            State::Damaged
        };
        let at = if l.page < file_pages {
            l.page
        } else {
            l.parent.unwrap_or(l.page)
        };
        let what = match io_error(l.page) {
            Some((a, b)) => format!(
                "page {} cannot be read (I/O error on bytes {a}..{b}): its subtree is lost here",
                l.page
            ),
            None => message(l.page)
                .or_else(|| l.parent.and_then(message))
                .unwrap_or_else(|| format!("page {} cannot be read", l.page)),
        };
        ranges.push(Range {
            place: places.len(),
            revision_keys: bucket == "key",
            lower: l.lower.as_deref(),
            upper: l.upper.as_deref(),
        });
        places.push(Place {
            page: at,
            pages: 1,
            state,
            bucket,
            what,
            cut_off: 0,
        });
    }
    // Damaged pages that are not the root of a lost subtree (errors in
    // their elements).
    for (i, s) in states.iter().enumerate() {
        let id = i as u64;
        if *s == State::Damaged && io_error(id).is_none() && !c.lost.iter().any(|l| l.page == id) {
            places.push(Place {
                page: id,
                pages: 1,
                state: State::Damaged,
                bucket: c_bucket(c, id),
                what: message(id).unwrap_or_else(|| "damaged".into()),
                cut_off: 0,
            });
        }
    }
    // Pages that could not be read (I/O errors) are damaged whatever they
    // were meant to be, and each range is a place.
    for &(a, b) in &c.unreadable {
        let (first, end) = (a / ps, b.div_ceil(ps).min(file_pages));
        for p in first..end {
            if let Some(s) = states.get_mut(p as usize) {
                *s = State::Damaged;
            }
        }
        if first < end && !c.lost.iter().any(|l| l.page >= first && l.page < end) {
            places.push(Place {
                page: first,
                pages: end - first,
                state: State::Damaged,
                bucket: c_bucket(c, first),
                what: format!(
                    "bytes {a}..{b} cannot be read (I/O error): read as zeros; copy the file off this disk first"
                ),
                cut_off: 0,
            });
        }
    }
    // The pages of a damaged page's overflow that the file still holds are
    // part of it.
    for l in &c.lost {
        if l.page >= file_pages {
            continue;
        }
        let ov = file.header(l.page).map_or(0, |h| u64::from(h.overflow));
        let end = l.page.saturating_add(ov).min(file_pages - 1);
        for p in l.page + 1..=end {
            if matches!(states[p as usize], State::Free | State::Unreachable) {
                states[p as usize] = State::Damaged;
            }
        }
    }
    // Intact pages nothing reaches: cut off by a lost subtree, orphaned, or free.
    if !ranges.is_empty() || states.contains(&State::Unreachable) {
        for id in 2..file_pages.min(hwm) {
            let s = states[id as usize];
            if !matches!(s, State::Free | State::Unreachable) {
                continue;
            }
            let Some((first, last, _)) = node_keys(file, id, hwm) else {
                continue;
            };
            let hit = ranges.iter().find(|r| r.holds(first, last));
            let new = match hit {
                Some(_) => State::CutOff,
                None if s == State::Unreachable => State::Orphaned,
                None => continue,
            };
            let ov = file.header(id).map_or(0, |h| u64::from(h.overflow));
            for p in id..=(id + ov).min(file_pages - 1) {
                if matches!(states[p as usize], State::Free | State::Unreachable) {
                    states[p as usize] = new;
                    if let Some(r) = hit {
                        if let Some(pl) = places.get_mut(r.place) {
                            pl.cut_off += 1;
                        }
                    }
                }
            }
        }
    }
    if missing > 0 {
        places.push(Place {
            page: file_pages,
            pages: missing,
            state: State::Missing,
            bucket: String::new(),
            what: format!(
                "pages {file_pages}..{} are missing: the file ends at byte {} (a full disk or a cut copy)",
                hwm - 1,
                c.summary.file_size
            ),
            cut_off: 0,
        });
    }
    PageMap {
        file: name.to_string(),
        page_size: c.summary.page_size,
        high_water_mark: hwm,
        file_size: c.summary.file_size,
        states,
        missing,
        places,
        bucket_names: c.bucket_names.clone(),
        page_bucket: c.page_bucket.clone(),
    }
}

fn c_bucket(c: &DbCheck, page: u64) -> String {
    c.page_bucket
        .as_ref()
        .and_then(|pb| pb.get(page as usize))
        .filter(|b| **b != NO_BUCKET)
        .and_then(|b| c.bucket_names.get(*b as usize))
        .cloned()
        .unwrap_or_default()
}

/// Keys of page `id` for hover text (intact node pages only).
pub fn page_keys(file: &BoltFile<'_>, m: &PageMap, id: u64) -> Option<PageKeys> {
    let (first, last, count) = node_keys(file, id, m.high_water_mark)?;
    let b = m.bucket_of(id).unwrap_or("");
    Some(PageKeys {
        first: label(b, first),
        last: label(b, last),
        count,
    })
}

/// A map of `states` and `missing` pages, for unit tests.
#[cfg(test)]
pub(crate) fn test_map(file: &str, states: Vec<State>, missing: u64) -> PageMap {
    PageMap {
        file: file.into(),
        page_size: 4096,
        high_water_mark: states.len() as u64 + missing,
        file_size: states.len() as u64 * 4096,
        states,
        missing,
        places: Vec::new(),
        bucket_names: Vec::new(),
        page_bucket: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(states: Vec<State>, missing: u64) -> PageMap {
        test_map("t.db", states, missing)
    }

    #[test]
    fn missing_pages_are_drawn_after_the_file() {
        let m = map(vec![State::Meta, State::Meta, State::Leaf], 3);
        assert_eq!(m.total(), 6);
        assert_eq!(m.cells()[3..], [State::Missing; 3]);
        assert_eq!(m.count(State::Missing), 3);
        assert!(m.summary()[0].contains("3 page(s) missing"));
    }

    #[test]
    fn grouping_keeps_the_worst_state() {
        let mut s = vec![State::Leaf; (MAX_CELLS * 2) as usize];
        s[5] = State::Damaged;
        let m = map(s, 0);
        let cells = m.cells();
        assert_eq!(cells.len() as u64, MAX_CELLS);
        assert_eq!(cells[2], State::Damaged);
        assert_eq!(cells[3], State::Leaf);
    }

    #[test]
    fn letters_are_distinct() {
        let mut l: Vec<char> = STATES.iter().map(|s| s.letter()).collect();
        l.dedup();
        assert_eq!(l.len(), STATES.len());
    }
}
