//! Kubernetes' time formats: `metav1.Time` (RFC 3339 in UTC, whole
//! seconds), `metav1.MicroTime` (six fractional digits, cut not rounded) and
//! Go's `time.Duration` text, computed from Unix seconds without a calendar
//! crate (days to civil date as in the proleptic Gregorian calendar).
#![forbid(unsafe_code)]

/// (year, month, day) of a day number counted from 1970-01-01.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn date_time(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// `metav1.Time`: `2008-01-01T01:01:01Z`.
pub fn rfc3339(secs: i64) -> String {
    format!("{}Z", date_time(secs))
}

/// `metav1.MicroTime`: `2002-01-01T01:01:01.000002Z`.
pub fn rfc3339_micro(secs: i64, nanos: i64) -> String {
    let (secs, nanos) = (
        secs + nanos.div_euclid(1_000_000_000),
        nanos.rem_euclid(1_000_000_000),
    );
    format!("{}.{:06}Z", date_time(secs), nanos / 1000)
}

/// Go's `time.Duration.String()` of a nanosecond count: `1h0m0s`,
/// `1.5s`, `2ms`, `0s`.
pub fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let sign = if neg { "-" } else { "" };
    if u < 1_000_000_000 {
        // Below a second: the largest unit that keeps an integer part.
        let (unit, div) = if u < 1_000 {
            ("ns", 1)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{sign}{}{unit}", frac(u, div));
    }
    let total_s = u / 1_000_000_000;
    let h = total_s / 3600;
    let m = (total_s / 60) % 60;
    let s = frac(u % 60_000_000_000, 1_000_000_000);
    if h > 0 {
        format!("{sign}{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{sign}{m}m{s}s")
    } else {
        format!("{sign}{s}s")
    }
}

/// `v / div` with the fraction's trailing zeros dropped.
fn frac(v: u64, div: u64) -> String {
    let int = v / div;
    let rest = v % div;
    if rest == 0 {
        return int.to_string();
    }
    let width = div.ilog10() as usize;
    let f = format!("{rest:0width$}");
    format!("{int}.{}", f.trim_end_matches('0'))
}

/// Unix seconds of an RFC 3339 UTC time (`2008-01-01T01:01:01Z`, with or
/// without fraction).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    if b.len() < 20 || b.get(4) != Some(&b'-') || b.get(10) != Some(&b'T') {
        return None;
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Days from civil (inverse of `civil`).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// A duration as `kubectl get` prints ages (apimachinery's HumanDuration):
/// two units while the larger is small (`5m20s`, `3h5m`, `2d5h`, `3y12d`),
/// one unit otherwise.
pub fn kubectl_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    let s = secs.max(0);
    if s < 120 {
        return format!("{s}s");
    }
    let (m, h) = (s / 60, s / 3600);
    let two = |a: i64, ua: &str, b: i64, ub: &str| {
        if b == 0 {
            format!("{a}{ua}")
        } else {
            format!("{a}{ua}{b}{ub}")
        }
    };
    if m < 10 {
        two(m, "m", s % 60, "s")
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        two(h, "h", m % 60, "m")
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        two(h / 24, "d", h % 24, "h")
    } else if h < 24 * 365 * 2 {
        format!("{}d", h / 24)
    } else if h < 24 * 365 * 8 {
        two(h / 24 / 365, "y", (h / 24) % 365, "d")
    } else {
        format!("{}y", h / 24 / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_ages() {
        let cases = [
            (59, "59s"),
            (119, "119s"),
            (120, "2m"),
            (320, "5m20s"),
            (600, "10m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 300, "3h5m"),
            (30 * 3600, "30h"),
            (2 * 86_400 + 5 * 3600, "2d5h"),
            (40 * 86_400, "40d"),
            (3 * 365 * 86_400 + 12 * 86_400, "3y12d"),
            (18 * 365 * 86_400 + 40 * 86_400, "18y"),
        ];
        for (s, want) in cases {
            assert_eq!(kubectl_duration(s), want, "{s}");
        }
    }

    #[test]
    fn times_and_durations() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_199_149_261), "2008-01-01T01:01:01Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(
            rfc3339_micro(1_009_846_861, 2_500),
            "2002-01-01T01:01:01.000002Z"
        );
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(2_000_000), "2ms");
        assert_eq!(go_duration(1_500), "1.5µs");
        assert_eq!(go_duration(-90_000_000_000), "-1m30s");
        assert_eq!(parse_rfc3339("2008-01-01T01:01:01Z"), Some(1_199_149_261));
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00.5Z"), Some(951_782_400));
        assert_eq!(kubectl_duration(3 * 86_400), "3d");
    }
}
