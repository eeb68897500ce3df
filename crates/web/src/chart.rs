//! Charts as inline SVG, rendered on the server: no script, no CDN, works
//! offline and under a strict CSP (presentation attributes only, no `style`).

use std::fmt::Write;

/// One point of a series: a bucket start (Unix seconds) and its value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub t: i64,
    pub v: f64,
}

const W: f64 = 640.0;
const H: f64 = 200.0;
const PAD_L: f64 = 56.0;
const PAD_B: f64 = 22.0;
const PAD_T: f64 = 10.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A compact number for axis labels: 1.2k, 3.4M.
pub fn compact(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 10.0 || v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// `YYYY-MM-DD HH:MM` (UTC) for a Unix time.
pub fn utc(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    // Written digit by digit: a list page formats one per row.
    let mut out = String::with_capacity(16);
    if (0..=9999).contains(&y) {
        push_digits(&mut out, y, 4);
    } else {
        let _ = write!(out, "{y:04}");
    }
    out.push('-');
    push_digits(&mut out, m, 2);
    out.push('-');
    push_digits(&mut out, d, 2);
    out.push(' ');
    push_digits(&mut out, secs / 3600, 2);
    out.push(':');
    push_digits(&mut out, (secs % 3600) / 60, 2);
    out
}

/// `v` (0 ≤ v < 10^width) as exactly `width` decimal digits.
fn push_digits(out: &mut String, v: i64, width: u32) {
    for i in (0..width).rev() {
        let digit = (v / 10_i64.pow(i)) % 10;
        out.push(char::from(b'0' + digit as u8));
    }
}

fn frame(out: &mut String, label: &str, max: f64, first: i64, last: i64) {
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{l}"><title>{l}</title>"##,
        l = esc(label)
    );
    let base = H - PAD_B;
    let _ = write!(
        out,
        r##"<line x1="{PAD_L}" y1="{base}" x2="{W}" y2="{base}" stroke="#8895a7" stroke-width="1"/><line x1="{PAD_L}" y1="{PAD_T}" x2="{W}" y2="{PAD_T}" stroke="#e3e8ef" stroke-width="1"/>"##
    );
    let _ = write!(
        out,
        r##"<text x="{x}" y="{y}" text-anchor="end" font-size="11" fill="#5b6778">{m}</text><text x="{x}" y="{base}" text-anchor="end" font-size="11" fill="#5b6778">0</text>"##,
        x = PAD_L - 6.0,
        y = PAD_T + 10.0,
        m = compact(max)
    );
    let _ = write!(
        out,
        r##"<text x="{PAD_L}" y="{H}" font-size="11" fill="#5b6778">{a}</text><text x="{W}" y="{H}" text-anchor="end" font-size="11" fill="#5b6778">{b}</text>"##,
        a = utc(first),
        b = utc(last)
    );
}

fn empty(label: &str) -> String {
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{l}"><title>{l}</title><text x="{x}" y="{y}" text-anchor="middle" font-size="13" fill="#5b6778">no payments in this range</text></svg>"##,
        l = esc(label),
        x = W / 2.0,
        y = H / 2.0
    )
}

/// A bar per point.
pub fn bars(label: &str, points: &[Point]) -> String {
    if points.is_empty() {
        return empty(label);
    }
    let max = points.iter().map(|p| p.v).fold(0.0_f64, f64::max).max(1e-9);
    let mut out = String::with_capacity(256 + points.len() * 160);
    let first = points.first().map_or(0, |p| p.t);
    let last = points.last().map_or(0, |p| p.t);
    frame(&mut out, label, max, first, last);
    let span = (W - PAD_L) / points.len() as f64;
    let bar = (span * 0.8).max(1.0);
    let height = H - PAD_B - PAD_T;
    for (i, p) in points.iter().enumerate() {
        let h = (p.v / max * height).max(if p.v > 0.0 { 1.0 } else { 0.0 });
        let x = PAD_L + i as f64 * span + (span - bar) / 2.0;
        let y = H - PAD_B - h;
        let _ = write!(
            out,
            r##"<rect x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{h:.1}" fill="#3b6fd8"><title>{t}: {v}</title></rect>"##,
            t = utc(p.t),
            v = compact(p.v)
        );
    }
    out.push_str("</svg>");
    out
}

/// A running total as a line with a filled area.
pub fn cumulative(label: &str, points: &[Point]) -> String {
    if points.is_empty() {
        return empty(label);
    }
    let mut total = 0.0;
    let running: Vec<Point> = points
        .iter()
        .map(|p| {
            total += p.v;
            Point { t: p.t, v: total }
        })
        .collect();
    let max = total.max(1e-9);
    let mut out = String::with_capacity(256 + points.len() * 24);
    let first = points.first().map_or(0, |p| p.t);
    let last = points.last().map_or(0, |p| p.t);
    frame(&mut out, label, max, first, last);
    let height = H - PAD_B - PAD_T;
    let n = running.len();
    let xs = |i: usize| {
        if n == 1 {
            PAD_L + (W - PAD_L) / 2.0
        } else {
            PAD_L + i as f64 * (W - PAD_L) / (n - 1) as f64
        }
    };
    let mut line = String::new();
    for (i, p) in running.iter().enumerate() {
        let y = H - PAD_B - p.v / max * height;
        let _ = write!(line, "{:.1},{y:.1} ", xs(i));
    }
    let base = H - PAD_B;
    let _ = write!(
        out,
        r##"<polygon points="{x0:.1},{base} {line}{x1:.1},{base}" fill="#dbe5fb"/><polyline points="{line}" fill="none" stroke="#3b6fd8" stroke-width="2"/>"##,
        x0 = xs(0),
        x1 = xs(n - 1),
        line = line.trim_end()
    );
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00");
        assert_eq!(utc(-1), "1969-12-31 23:59");
        assert_eq!(utc(253_402_300_799), "9999-12-31 23:59");
        assert_eq!(utc(253_402_300_800), "10000-01-01 00:00");
    }

    #[test]
    fn charts_have_one_bar_per_point_and_a_running_total() {
        let pts = [
            Point { t: 0, v: 1.0 },
            Point { t: 3600, v: 3.0 },
            Point { t: 7200, v: 0.0 },
        ];
        let svg = bars("tx", &pts);
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(!svg.contains("style="));
        let svg = cumulative("tx", &pts);
        assert!(svg.contains("<polyline"));
        assert!(svg.contains(">4</text>"), "max label is the total: {svg}");
        assert!(bars("x<y", &[]).contains("no payments"));
        assert!(bars("x<y", &[]).contains("x&lt;y"));
    }

    #[test]
    fn compact_numbers() {
        assert_eq!(compact(0.0), "0");
        assert_eq!(compact(12_345.0), "12.3k");
        assert_eq!(compact(2.5), "2.50");
        assert_eq!(compact(3_400_000.0), "3.4M");
    }
}
