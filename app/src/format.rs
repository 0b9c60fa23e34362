//! Every time, duration and size the dashboard prints, in one place, so a
//! figure reads the same on every tab: UTC instants ([`utc`], [`iso`],
//! [`clock_utc`]), durations in words ([`duration_ms`]) or compact
//! ([`uptime_ms`]), ages ([`ago`]) and sizes ([`bytes`]). Pure functions of
//! their arguments (no clock read here), unit-tested below.

/// `2026-12-01 05:22:11 UTC` for Unix ms (proleptic Gregorian, no leap
/// seconds).
pub fn utc(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `2026-12-01T05:20:22.750Z`: what ECharts parses as a UTC instant.
pub fn iso(unix_ms: u64) -> String {
    let day = utc(unix_ms);
    let date = &day[..10];
    let time = &day[11..19];
    format!("{date}T{time}.{:03}Z", unix_ms % 1000)
}

/// `HH:MM:SS` (UTC) of a Unix time in ms.
pub fn clock_utc(unix_ms: u64) -> String {
    let s = (unix_ms / 1000) % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// A duration in words: `12.3 s` under a minute, `4 min 5 s` under an hour,
/// then `2 h 3 min`.
pub fn duration_ms(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{:.1} s", ms as f64 / 1e3),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

/// A compact duration, for uptimes: `4.2 s`, `2m 03s`, `1h 02m 03s`.
pub fn uptime_ms(ms: u64) -> String {
    let s = ms / 1000;
    match (s / 3600, (s / 60) % 60, s % 60) {
        (0, 0, _) => format!("{:.1} s", ms as f64 / 1000.0),
        (0, m, s) => format!("{m}m {s:02}s"),
        (h, m, s) => format!("{h}h {m:02}m {s:02}s"),
    }
}

/// How long ago `then_unix_s` was at `now_unix_ms`: `42 s ago` (under 2 min),
/// `7 min ago` (under 2 h), `5 h ago` (under 2 days), then `3 days ago`;
/// `at an unknown time` when either is missing.
pub fn ago(then_unix_s: Option<u64>, now_unix_ms: Option<u64>) -> String {
    match (then_unix_s, now_unix_ms) {
        (Some(t), Some(now)) => {
            let s = (now / 1000).saturating_sub(t);
            if s < 120 {
                format!("{s} s ago")
            } else if s < 7200 {
                format!("{} min ago", s / 60)
            } else if s < 172_800 {
                format!("{} h ago", s / 3600)
            } else {
                format!("{} days ago", s / 86_400)
            }
        }
        _ => "at an unknown time".into(),
    }
}

/// Bytes with binary units: `512 B`, `1.5 KiB`, `12.3 MiB`.
pub fn bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Milliseconds as seconds (a chart's x value).
pub fn seconds(ms: u64) -> f64 {
    ms as f64 / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_796_102_422_750), "2026-12-01 05:20:22 UTC");
        assert_eq!(iso(1_796_102_422_750), "2026-12-01T05:20:22.750Z");
        assert_eq!(clock_utc(3_723_000), "01:02:03");
    }

    #[test]
    fn durations() {
        assert_eq!(uptime_ms(4_200), "4.2 s");
        assert_eq!(uptime_ms(123_000), "2m 03s");
        assert_eq!(uptime_ms(3_723_000), "1h 02m 03s");
        assert_eq!(duration_ms(12_300), "12.3 s");
        assert_eq!(duration_ms(245_000), "4 min 5 s");
        assert_eq!(duration_ms(7_380_000), "2 h 3 min");
        assert_eq!(ago(Some(100), Some(142_000)), "42 s ago");
        assert_eq!(ago(Some(0), Some(7_200_000)), "2 h ago");
        assert_eq!(ago(None, Some(1)), "at an unknown time");
    }

    #[test]
    fn sizes() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(5 * 1024 * 1024), "5.0 MiB");
    }
}
